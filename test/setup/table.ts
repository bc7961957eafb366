/**
 * A table of its own on the run's DynamoDB Local, for tests of the store without the local stack:
 *
 *   let table: TestTable;
 *   beforeAll(async () => { table = await freshTable('store'); });
 *   await table.store.apply(events, defaultModel, now);
 *   expect(await table.countItems(email, 'EVT#')).toBe(3);
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { createTable, dynamoClient } from '../../lib/local/dynamodb.ts';
import { LeadStore } from '../../lib/store/lead-store.ts';

export interface TestTable {
  readonly tableName: string;
  /** A document client on the run's DynamoDB Local, to look at items directly. */
  readonly documents: DynamoDBDocumentClient;
  /** A LeadStore on the table. */
  readonly store: LeadStore;
  /** How many items of the lead's partition have a sort key starting with `prefix` (`EVT#`, `RAW#`, ...), read consistently. */
  countItems(leadId: string, prefix: string): Promise<number>;
}

/** A new document client on the run's DynamoDB Local, as the handlers build theirs. */
export function documentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(dynamoClient(inject('dynamoEndpoint')), { marshallOptions: { removeUndefinedValues: true } });
}

/** Creates a table named `<prefix>-<uuid>` on the run's DynamoDB Local. */
export async function freshTable(prefix: string): Promise<TestTable> {
  const tableName = `${prefix}-${randomUUID()}`;
  await createTable(dynamoClient(inject('dynamoEndpoint')), tableName);
  const documents = documentClient();
  return {
    tableName,
    documents,
    // A short write window: every erasure waits 1.5 times as long before its last look (lib/store/erase.ts).
    store: new LeadStore({ client: documents, tableName, writeWindowMs: 200 }),
    async countItems(leadId, prefix) {
      const answer = await documents.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': `LEAD#${leadId}`, ':prefix': prefix },
          ConsistentRead: true,
        }),
      );
      return answer.Count ?? 0;
    },
  };
}
