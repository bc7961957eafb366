import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * SDK clients, created on first use so their configuration (region, and locally the endpoints
 * through AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS) is read from the environment at that time.
 */
let documentClient: DynamoDBDocumentClient | undefined;
let sqsClient: SQSClient | undefined;

export function dynamo(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 5 }), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return documentClient;
}

export function sqs(): SQSClient {
  sqsClient ??= new SQSClient({ maxAttempts: 5 });
  return sqsClient;
}

/** Drops cached clients (tests that start a new local stack in the same process). */
export function resetClients(): void {
  documentClient?.destroy();
  sqsClient?.destroy();
  documentClient = undefined;
  sqsClient = undefined;
}
