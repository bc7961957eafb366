/**
 * What a Lambda bundle holds in place of `@smithy/core/event-streams`: cdk/constructs/mql-function.ts aliases
 * that module to this file when esbuild bundles a function.
 *
 * The SDK's HTTP protocols load the event-stream codec with a dynamic `import()` when an operation streams
 * events (Kinesis SubscribeToShard, Bedrock's streaming responses, S3 SelectObjectContent, ...). esbuild writes
 * a function into one file, so that `import()` put the whole codec (about 20 KB minified) into every bundle, and
 * none of the operations the functions call (DynamoDB, SQS, Secrets Manager) streams events. Should one ever,
 * it fails here with a message that says why, instead of decoding a stream wrongly.
 */
function notBundled(): never {
  throw new Error(
    'AWS SDK event streams are not bundled into mql-engine functions (lib/runtime/lambda-event-streams.ts): remove the alias in cdk/constructs/mql-function.ts to call an operation that streams events',
  );
}

/** What `HttpProtocol.loadEventStreamCapability` of @smithy/core takes from the module. */
export class EventStreamSerde {
  constructor() {
    notBundled();
  }
}

export const eventStreamSerdeProvider = (): never => notBundled();
