/**
 * The bench's cost meter (bench/support/cost-meter.ts) on a real DynamoDB Local: the request units it
 * counts for a handler's calls follow DynamoDB's published rules (2 WRU per started KB of each item of a
 * transaction, the larger of before and after; reads per started 4 KB, half when eventually consistent, the
 * minimum for an item that is not there), the bytes the handler added, and nothing for calls made outside
 * an invocation.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import { CostMeter } from '../../../bench/support/cost-meter.ts';
import { createTable, dynamoClient } from '../../../lib/local/dynamodb.ts';

describe('the bench cost meter', () => {
  it('counts request units by the published rules, per invocation', async () => {
    const raw = dynamoClient(inject('dynamoEndpoint'));
    const TableName = `cost-meter-${randomUUID().slice(0, 8)}`;
    await createTable(raw, TableName);
    const client = DynamoDBDocumentClient.from(raw);
    const meter = new CostMeter();
    meter.attachDynamo(client);
    const pk = `lead#${randomUUID()}`;
    // Outside any invocation: written (so its size is known) but not counted.
    await client.send(new PutCommand({ TableName, Item: { pk, sk: 'profile', kind: 'lead', notes: 'x'.repeat(2500) } }));

    const handler = meter.wrap('ingest-events', async () => {
      await client.send(
        new TransactWriteCommand({
          TransactItems: [
            // An event of about 600 B: 2 WRU; a raw payload of about 1,300 B: 4 WRU.
            { Put: { TableName, Item: { pk, sk: 'event#1', kind: 'event', body: 'e'.repeat(600) } } },
            { Put: { TableName, Item: { pk, sk: 'raw#1', kind: 'raw', body: 'r'.repeat(1300) } } },
            // The lead shrinks from about 2.5 KB to 0.1 KB: charged on the larger, 6 WRU.
            { Put: { TableName, Item: { pk, sk: 'profile', kind: 'lead', notes: 'short' } } },
          ],
        }),
      );
      // Strongly consistent, 2.5 KB before: now small, 1 RRU; a missing item: the minimum, 0.5 eventually consistent.
      await client.send(new GetCommand({ TableName, Key: { pk, sk: 'profile' }, ConsistentRead: true }));
      await client.send(new GetCommand({ TableName, Key: { pk, sk: 'nothing' } }));
      return { statusCode: 200, body: '{"stored":1}' };
    });
    await handler({}, {} as never);

    expect(meter.invocations).toHaveLength(1);
    const use = meter.invocations[0]!;
    expect(use.fn).toBe('ingest-events');
    expect(use.memoryMb).toBe(1024);
    expect(use.writeUnits).toEqual({ TransactWriteItems: 2 + 4 + 6 });
    expect(use.readUnits).toEqual({ GetItem: 1 + 0.5 });
    expect(use.newItems).toEqual({ event: 1, raw: 1 });
    expect(use.addedBytes.lead).toBeLessThan(-2400);
    expect(use.addedBytes.raw).toBeGreaterThan(1300);
    expect(use.cancelledWriteUnits).toBe(0);
    expect(use.ms).toBeGreaterThan(0);
    raw.destroy();
  });
});
