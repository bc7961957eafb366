/**
 * The single table as every part of the store uses it: the client, the settings, the counters, and the
 * reads and writes they share (a transaction, batched and paged reads, a lead's PROFILE item).
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient, PutCommandInput, QueryCommandOutput, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { BatchGetCommand, BatchWriteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { NormalizedEvent } from '../core/events.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { leadPk, profileSk } from './keys.ts';
import { eventOfItem, leadOfItem, withPendingEvents } from './lead-codec.ts';
import type { StoredLead, StoreStats } from './repository.ts';
import type { ScanSegment } from './table-scan.ts';

export interface LeadStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** How long raw provider payloads are kept (DynamoDB TTL). */
  rawRetentionDays?: number;
  /** How long event items are kept after the event occurred (DynamoDB TTL); undefined: for good (`EVENT_RETENTION_DAYS`). */
  eventRetentionDays?: number;
  /** How long a handoff's summary item and its CRM link are kept after its last attempt; undefined: for good (`HANDOFF_RETENTION_DAYS`). */
  handoffRetentionDays?: number;
  /**
   * How long a visitor's history is kept (`ANONYMOUS_RETENTION_DAYS`, default 90): its event items after
   * each event occurred, its lead item after its last event (DynamoDB TTL). Events an e-mail lead takes
   * over are copies under that lead, with its retention (./lead-transaction.ts).
   */
  anonymousRetentionDays?: number;
  /** Leads written at once by `apply`. */
  concurrency?: number;
  /** Attempts per lead before giving up on contention (the caller answers 5xx; the sender retries). */
  maxAttempts?: number;
  /**
   * Milliseconds a lead-first write may take before it checks, after storing its items, that the person
   * was not erased meanwhile; an erasure waits 1.5 times as long before its last look (./lead-first.ts,
   * ./erase.ts). Default 2,000: a write of a whole 1,000-event batch takes about that locally.
   */
  writeWindowMs?: number;
}

/** `ANONYMOUS_RETENTION_DAYS` unless set (the operator contract's default). */
export const defaultAnonymousRetentionDays = 90;

export type TransactItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** Full-jitter exponential backoff, capped: contending writers spread out instead of colliding again. */
export function backoffMs(attempt: number): number {
  return Math.random() * Math.min(250, 5 * 2 ** attempt);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class StoreTable {
  readonly stats: StoreStats = { transactions: 0, commits: 0, conflicts: 0, writeCapacityUnits: 0 };
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly rawRetentionDays: number;
  readonly eventRetentionDays: number | undefined;
  readonly handoffRetentionDays: number | undefined;
  readonly anonymousRetentionDays: number;
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly writeWindowMs: number;

  constructor(options: LeadStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.rawRetentionDays = options.rawRetentionDays ?? 30;
    this.eventRetentionDays = options.eventRetentionDays;
    this.handoffRetentionDays = options.handoffRetentionDays;
    this.anonymousRetentionDays = options.anonymousRetentionDays ?? defaultAnonymousRetentionDays;
    this.concurrency = options.concurrency ?? 16;
    this.maxAttempts = options.maxAttempts ?? 40;
    this.writeWindowMs = options.writeWindowMs ?? 2_000;
  }

  async batchGet(keys: readonly Record<string, string>[], projection?: string): Promise<Record<string, unknown>[]> {
    const unique = [...new Map(keys.map((key) => [`${key.pk}|${key.sk}`, key])).values()];
    const chunks = Array.from({ length: Math.ceil(unique.length / 100) }, (_, index) => unique.slice(index * 100, index * 100 + 100));
    const pages = await mapWithConcurrency(chunks, 4, async (chunk) => {
      const found: Record<string, unknown>[] = [];
      let pending: Record<string, unknown>[] = chunk;
      for (let attempt = 1; pending.length > 0; attempt += 1) {
        const answer = await this.client.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true, ...(projection ? { ProjectionExpression: projection } : {}) } },
          }),
        );
        found.push(...(answer.Responses?.[this.tableName] ?? []));
        pending = answer.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        if (pending.length > 0) {
          if (attempt >= this.maxAttempts) throw new Error(`BatchGetItem left ${pending.length} key(s) unprocessed after ${attempt} attempts`);
          await sleep(backoffMs(attempt));
        }
      }
      return found;
    });
    return pages.flat();
  }

  /** The leads' PROFILE items, 100 keys a BatchGetItem (strongly consistent), unprocessed keys retried. */
  async readLeads(leadIds: readonly string[]): Promise<Map<string, StoredLead>> {
    const leads = new Map<string, StoredLead>();
    for (const item of await this.batchGet(leadIds.map((leadId) => ({ pk: leadPk(leadId), sk: profileSk })))) {
      const lead = leadOfItem(item);
      leads.set(lead.leadId, lead);
    }
    return leads;
  }

  /**
   * Writes `items` all or nothing. A lone Put (a lead re-evaluated or rebuilt, with no event) goes as a
   * conditional PutItem, which DynamoDB bills half of what the same item costs in a transaction; its failed
   * condition is thrown as the transaction's would be, so callers read one kind of refusal.
   */
  async send(items: TransactItems): Promise<void> {
    const lone = items.length === 1 ? items[0]!.Put : undefined;
    if (lone) {
      const { TableName: _table, ...input } = lone;
      try {
        await this.put(input);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        throw new TransactionCanceledException({
          message: error.message,
          $metadata: error.$metadata,
          CancellationReasons: [{ Code: 'ConditionalCheckFailed', Message: error.message }],
        });
      }
      this.stats.commits += 1;
      return;
    }
    const answer = await this.client.send(new TransactWriteCommand({ TransactItems: items, ReturnConsumedCapacity: 'TOTAL' }));
    this.stats.transactions += 1;
    this.stats.commits += 1;
    for (const consumed of answer.ConsumedCapacity ?? []) this.stats.writeCapacityUnits += consumed.WriteCapacityUnits ?? consumed.CapacityUnits ?? 0;
  }

  /** One PutItem (conditional when `input` says so), its consumed capacity counted. */
  async put(input: Omit<PutCommandInput, 'TableName' | 'ReturnConsumedCapacity'>): Promise<void> {
    const answer = await this.client.send(new PutCommand({ TableName: this.tableName, ...input, ReturnConsumedCapacity: 'TOTAL' }));
    const consumed = answer.ConsumedCapacity;
    this.stats.writeCapacityUnits += consumed?.WriteCapacityUnits ?? consumed?.CapacityUnits ?? 0;
  }

  /**
   * Puts `items` unconditionally, 25 to a BatchWriteItem (a few at once), unprocessed ones sent again after a
   * back-off: for items whose content is settled before they are written (./fresh-leads.ts), where a put per
   * item would cost a round trip each. The write units are those of as many PutItems.
   */
  async putAll(items: readonly Record<string, unknown>[]): Promise<void> {
    const chunks = Array.from({ length: Math.ceil(items.length / 25) }, (_, index) => items.slice(index * 25, index * 25 + 25));
    await mapWithConcurrency(chunks, 4, async (chunk) => {
      let pending = chunk.map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 1; pending.length > 0; attempt += 1) {
        const answer = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending }, ReturnConsumedCapacity: 'TOTAL' }));
        for (const consumed of answer.ConsumedCapacity ?? []) this.stats.writeCapacityUnits += consumed.WriteCapacityUnits ?? consumed.CapacityUnits ?? 0;
        pending = (answer.UnprocessedItems?.[this.tableName] ?? []) as typeof pending;
        if (pending.length > 0) {
          if (attempt >= this.maxAttempts) throw new Error(`BatchWriteItem left ${pending.length} item(s) unprocessed after ${attempt} attempts`);
          await sleep(backoffMs(attempt));
        }
      }
    });
  }

  async getLead(leadId: string): Promise<StoredLead | undefined> {
    const answer = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: leadPk(leadId), sk: profileSk }, ConsistentRead: true }));
    return answer.Item ? leadOfItem(answer.Item) : undefined;
  }

  /**
   * One page of a Scan of the table's leads (PROFILE items of kind `lead`; merged provider-key leads and
   * aliases left out: their events live on the e-mail lead too), from `cursor` (the previous page's
   * LastEvaluatedKey). A Scan reads every item: for operator batch jobs (rescore, backtest), never a request
   * path. `limit` bounds the items a page evaluates (DynamoDB's Limit), not the leads it returns.
   * `firstSeenSince` keeps only leads first seen at or after that instant.
   */
  async scanLeads(
    options: { cursor?: Record<string, unknown>; limit?: number; firstSeenSince?: Date; segment?: ScanSegment } = {},
  ): Promise<{ leadIds: string[]; cursor?: Record<string, unknown>; scanned: number }> {
    const since = options.firstSeenSince?.toISOString();
    const page = await this.client.send(
      new ScanCommand({
        TableName: this.tableName,
        FilterExpression: `sk = :profile AND #kind = :lead AND attribute_not_exists(mergedInto)${since ? ' AND firstSeenAt >= :since' : ''}`,
        ExpressionAttributeNames: { '#kind': 'kind' },
        ExpressionAttributeValues: { ':profile': profileSk, ':lead': 'lead', ...(since ? { ':since': since } : {}) },
        ProjectionExpression: 'leadId',
        ...(options.cursor ? { ExclusiveStartKey: options.cursor } : {}),
        ...(options.limit ? { Limit: options.limit } : {}),
        ...(options.segment && options.segment.total > 1 ? { Segment: options.segment.index, TotalSegments: options.segment.total } : {}),
      }),
    );
    return {
      leadIds: (page.Items ?? []).map((item) => item.leadId as string),
      ...(page.LastEvaluatedKey ? { cursor: page.LastEvaluatedKey } : {}),
      scanned: page.ScannedCount ?? 0,
    };
  }

  /**
   * The lead's stored events, oldest first (what a rescore or backtest replays), including those copied
   * from leads it absorbed and those pending on the lead (`lead`: as read, else read here). `consistent`
   * reads every event of the last write (the merge needs it).
   */
  async listEvents(leadId: string, options: { consistent?: boolean; lead?: StoredLead | null } = {}): Promise<NormalizedEvent[]> {
    const [items, lead] = await Promise.all([
      this.queryPartition(leadId, 'EVT#', options.consistent ?? false),
      options.lead !== undefined ? options.lead : this.getLead(leadId),
    ]);
    // With the events still pending on the lead (./lead-first.ts): counted, their items perhaps not written yet.
    return withPendingEvents(
      items.map((item) => eventOfItem(item)),
      lead ?? undefined,
    );
  }

  /** Every item of the lead's partition whose sort key starts with `prefix`, in sort-key order (all pages of one Query). */
  async queryPartition(leadId: string, prefix: string, consistent: boolean): Promise<NonNullable<QueryCommandOutput['Items']>> {
    const items: NonNullable<QueryCommandOutput['Items']> = [];
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': leadPk(leadId), ':prefix': prefix },
          ExclusiveStartKey: cursor,
          ...(consistent ? { ConsistentRead: true } : {}),
        }),
      );
      items.push(...(page.Items ?? []));
      cursor = page.LastEvaluatedKey;
    } while (cursor);
    return items;
  }
}

/** A lead's PROFILE item as the stored lead: without its keys, its kind and its due-index shard, its state unpacked (./lead-codec.ts). */
export function storedLeadOf(item: Record<string, unknown>): StoredLead {
  return leadOfItem(item);
}
