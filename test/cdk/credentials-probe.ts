/**
 * Bundled by test/cdk/lambda-credentials.test.ts with the functions' own construct (cdk/constructs/mql-function.ts):
 * which credentials the SDK clients find inside a Lambda bundle, and what the event-stream module is there.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { dynamo, sqs } from '../../lib/runtime/aws.ts';

export async function handler(): Promise<Record<string, string>> {
  const clients = { dynamodb: dynamo(), sqs: sqs(), secretsManager: new SecretsManagerClient({}) };
  const found: Record<string, string> = {};
  for (const [name, client] of Object.entries(clients)) {
    try {
      const credentials = await client.config.credentials();
      found[name] = credentials.accessKeyId;
    } catch (error) {
      found[name] = `refused: ${(error as Error).message}`;
    }
  }
  const { EventStreamSerde } = await import('@smithy/core/event-streams');
  try {
    new (EventStreamSerde as unknown as new () => unknown)();
    found.eventStreams = 'constructed';
  } catch (error) {
    found.eventStreams = `refused: ${(error as Error).message}`;
  }
  return found;
}
