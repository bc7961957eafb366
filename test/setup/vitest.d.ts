import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://127.0.0.1:<port>` of the run's in-memory DynamoDB Local (test/setup/dynamodb.ts). */
    dynamoEndpoint: string;
  }
}
