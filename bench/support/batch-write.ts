/** Seeding a benchmark's table: items put by BatchWriteItem (25 at most a call), unprocessed ones sent again after a back-off. */
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Puts `items` (at most 25) and returns the BatchWriteItem calls it took. */
export async function batchWrite(documents: DynamoDBDocumentClient, tableName: string, items: Record<string, unknown>[]): Promise<number> {
  let requests = items.map((Item) => ({ PutRequest: { Item } }));
  let calls = 0;
  for (let attempt = 0; requests.length > 0; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** attempt)));
    const answer = await documents.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
    calls += 1;
    requests = (answer.UnprocessedItems?.[tableName] ?? []) as typeof requests;
  }
  return calls;
}
