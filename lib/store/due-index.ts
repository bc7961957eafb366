/**
 * The sparse `due` index: leads whose state changes by time alone (a recycle, a handoff waiting in the
 * outbox, a merge left half-done), read shard by shard and page by page by the decay job; and the
 * confirmation that moves a lead's due time on once its handoffs are on the queue.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { table as tableLayout } from '../topology.ts';
import { allDueShards, dueShardOf, leadPk, profileSk } from './keys.ts';
import { leadOfItem } from './lead-codec.ts';
import type { StoredLead } from './repository.ts';
import type { StoreTable } from './table.ts';

/** The ids of the leads whose state changes by time alone by `until` (see {@link duePages}). */
export async function* dueLeads(table: StoreTable, until: Date): AsyncGenerator<string> {
  for await (const page of duePages(table, until)) for (const lead of page) yield lead.leadId;
}

/**
 * Leads due by `until`, whole, page by page from the sparse due index (projection ALL), shard by shard:
 * the decay job holds one page at a time and reads nothing that is not due.
 */
export async function* duePages(table: StoreTable, until: Date, pageSize = 100): AsyncGenerator<StoredLead[]> {
  for (const shard of allDueShards()) {
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await table.client.send(
        new QueryCommand({
          TableName: table.tableName,
          IndexName: tableLayout.dueIndex.name,
          KeyConditionExpression: 'dueShard = :shard AND dueAt <= :until',
          ExpressionAttributeValues: { ':shard': shard, ':until': until.toISOString() },
          Limit: pageSize,
          ExclusiveStartKey: cursor,
        }),
      );
      const leads = (page.Items ?? []).map(leadOfItem);
      if (leads.length > 0) yield leads;
      cursor = page.LastEvaluatedKey;
    } while (cursor);
  }
}

/**
 * Takes handoffs off the lead's outbox once they are safely on the queue, bumping the version so no
 * stale writer resurrects them. When that empties the outbox, the lead's due time becomes its recycle
 * time (or it leaves the due index); if other handoffs arrived meanwhile, it stays due now.
 */
export async function confirmQueued(table: StoreTable, leadId: string, handoffIds: readonly string[], recycleAt?: string): Promise<void> {
  if (handoffIds.length === 0) return;
  const names = Object.fromEntries(handoffIds.map((id, index) => [`#h${index}`, id]));
  const removeOutbox = handoffIds.map((_, index) => `outbox.#h${index}`).join(', ');
  const key = { pk: leadPk(leadId), sk: profileSk };
  try {
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: key,
        UpdateExpression: recycleAt
          ? `REMOVE ${removeOutbox} SET version = version + :one, dueAt = :due, dueShard = :shard`
          : `REMOVE ${removeOutbox}, dueAt, dueShard SET version = version + :one`,
        ConditionExpression: 'attribute_exists(pk) AND size(outbox) = :count',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':one': 1, ':count': handoffIds.length, ...(recycleAt ? { ':due': recycleAt, ':shard': dueShardOf(leadId) } : {}) },
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    await table.client.send(
      new UpdateCommand({
        TableName: table.tableName,
        Key: key,
        UpdateExpression: `REMOVE ${removeOutbox} SET version = version + :one`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }
}
