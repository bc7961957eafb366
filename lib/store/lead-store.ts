import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { NormalizedEvent } from '../core/events.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import type { Breakdown, Lead } from '../core/lead.ts';
import { applyEvents, evaluateLead, recycleAt } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import { table } from '../topology.ts';
import { allDueShards, dueShardOf, eventSk, handoffSk, leadPk, profileSk, rawSk, replayPk, replaySk } from './keys.ts';

/** A lead as stored: the core's state plus what the store owns. */
export interface StoredLead extends Lead {
  /** Optimistic-locking counter: every write of the lead expects the version it read. */
  version: number;
  /** The score when the lead was last written. */
  score: Omit<Breakdown, 'reasons'> & { at: string };
  /** When the decay job next looks at the lead (the sparse due index). */
  dueAt?: string;
  /** When decay alone will recycle the lead: its due time once the outbox is empty. */
  recycleAt?: string;
}

/** What the CRM side recorded of one handoff. */
export interface HandoffAttempt {
  id: string;
  type: string;
  occurredAt: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastAttemptAt?: string;
  lastError?: string;
  crmStatus?: number;
  deliveredAt?: string;
  adapter?: string;
}

export interface LeadOutcome {
  leadId: string;
  /** Events stored and scored by this call. */
  applied: number;
  /** Events already stored before (redeliveries), left untouched. */
  duplicates: number;
  status: Lead['status'] | undefined;
  /** Handoffs decided and not yet confirmed on the queue: the caller enqueues them, then confirms. */
  outbox: HandoffRecord[];
  /** The lead's due time once its outbox is confirmed. */
  recycleAt?: string;
}

export interface ApplyResult {
  applied: number;
  duplicates: number;
  leads: LeadOutcome[];
  /** Leads whose write failed (after retries): nothing of theirs was stored by the failed transaction. */
  failed: { leadId: string; error: unknown }[];
}

export interface LeadStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** How long raw provider payloads are kept (DynamoDB TTL). */
  rawRetentionDays?: number;
  /** Leads written at once by `apply`. */
  concurrency?: number;
  /** Attempts per lead before giving up on contention (the caller answers 5xx; the sender retries). */
  maxAttempts?: number;
}

/** At most 100 items per transaction: 49 events with their raw payloads, plus the lead. */
const eventsPerTransaction = 49;

/**
 * Raw payloads above this many characters are kept cut (and marked): one item may not exceed 400 KB,
 * and a transaction 4 MB, while a single authentic delivery may be up to 1 MiB.
 */
const maxRawChars = 64 * 1024;

function rawText(raw: unknown): { raw: string; rawTruncated?: true } {
  const text = JSON.stringify(raw ?? null) ?? 'null';
  return text.length <= maxRawChars ? { raw: text } : { raw: text.slice(0, maxRawChars), rawTruncated: true };
}

/** Write capacity consumed, summed, for the benchmark's units-per-event figure. */
export interface StoreStats {
  transactions: number;
  conflicts: number;
  writeCapacityUnits: number;
}

/**
 * The DynamoDB single-table repository: the only place that knows keys and expressions.
 * Each lead is written in ONE TransactWriteItems per call (per 49 events): a conditional put per event
 * (`attribute_not_exists`, so a redelivery is a no-op) and the lead guarded by its `version`.
 */
export class LeadStore {
  readonly stats: StoreStats = { transactions: 0, conflicts: 0, writeCapacityUnits: 0 };
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly rawRetentionDays: number;
  private readonly concurrency: number;
  private readonly maxAttempts: number;

  constructor(options: LeadStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.rawRetentionDays = options.rawRetentionDays ?? 30;
    this.concurrency = options.concurrency ?? 16;
    this.maxAttempts = options.maxAttempts ?? 40;
  }

  /** Stores and scores events: grouped by lead, one transaction per lead, leads in parallel (bounded). */
  async apply(events: readonly NormalizedEvent[], model: ScoringModel, now: Date): Promise<ApplyResult> {
    const byLead = new Map<string, NormalizedEvent[]>();
    for (const event of events) {
      const list = byLead.get(event.leadKey) ?? [];
      // The same event twice in one delivery counts once.
      if (!list.some((other) => other.source === event.source && other.sourceEventId === event.sourceEventId)) list.push(event);
      byLead.set(event.leadKey, list);
    }
    // One lead's failure must not cost the others: every lead is attempted, failures are reported.
    const settled = await mapWithConcurrency([...byLead], this.concurrency, ([leadId, leadEvents]) =>
      this.writeLead(leadId, leadEvents, model, now).then(
        (outcome) => ({ ok: true as const, outcome }),
        (error: unknown) => ({ ok: false as const, leadId, error }),
      ),
    );
    const leads = settled.flatMap((result) => (result.ok ? [result.outcome] : []));
    const failed = settled.flatMap((result) => (result.ok ? [] : [{ leadId: result.leadId, error: result.error }]));
    const duplicatesWithinDelivery = events.length - [...byLead.values()].reduce((sum, list) => sum + list.length, 0);
    return {
      failed,
      applied: leads.reduce((sum, lead) => sum + lead.applied, 0),
      duplicates: leads.reduce((sum, lead) => sum + lead.duplicates, 0) + duplicatesWithinDelivery,
      leads,
    };
  }

  /** Re-evaluates a stored lead at `now` (decay job): same transaction path, no events. */
  async reevaluate(leadId: string, model: ScoringModel, now: Date): Promise<LeadOutcome> {
    return this.writeLead(leadId, [], model, now);
  }

  private async writeLead(leadId: string, events: NormalizedEvent[], model: ScoringModel, now: Date): Promise<LeadOutcome> {
    let pending = events;
    let applied = 0;
    let duplicates = 0;
    let attempt = 0;
    for (;;) {
      const current = await this.getLead(leadId);
      const chunk = nextChunk(pending);
      if (!current && chunk.length === 0) return { leadId, applied, duplicates, status: undefined, outbox: [] };
      if (current && chunk.length === 0 && events.length > 0) {
        // Everything was a redelivery: nothing to write, but hand back what is still in the outbox.
        return outcomeOf(current, applied, duplicates);
      }
      const evaluation = chunk.length > 0 ? applyEvents(current, chunk, model, now) : evaluateLead(current!, model, now);
      const next = this.toStored(evaluation.lead, evaluation.score, current?.version ?? 0, model, now);
      if (current && chunk.length === 0 && !changed(current, next)) return outcomeOf(current, applied, duplicates);
      try {
        await this.transact(chunk, next, current?.version, now);
        applied += chunk.length;
        pending = pending.slice(chunk.length);
        if (pending.length === 0) return outcomeOf(next, applied, duplicates);
        continue;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = error.CancellationReasons ?? [];
        // Items are [event, raw] per event, then the lead: an event whose put failed is already stored.
        const stored = new Set<NormalizedEvent>();
        chunk.forEach((event, index) => {
          if (reasons[index * 2]?.Code === 'ConditionalCheckFailed') stored.add(event);
        });
        duplicates += stored.size;
        pending = pending.filter((event) => !stored.has(event));
        const leadConflict = reasons[chunk.length * 2]?.Code === 'ConditionalCheckFailed' || reasons.some((reason) => reason.Code === 'TransactionConflict');
        if (!leadConflict && stored.size > 0) continue;
        this.stats.conflicts += 1;
        attempt += 1;
        if (attempt >= this.maxAttempts) throw new Error(`lead ${leadId}: gave up after ${attempt} conflicting writes`, { cause: error });
        await sleep(backoffMs(attempt));
      }
    }
  }

  private toStored(lead: Lead, score: Breakdown, previousVersion: number, model: ScoringModel, now: Date): StoredLead {
    const recycle = recycleAt(lead, model, now);
    // While handoffs wait in the outbox the lead is due now, so a failed enqueue is retried by the next decay run.
    const due = Object.keys(lead.outbox).length > 0 ? now.toISOString() : recycle;
    // The core clones the stored lead it was given: what the store derives is derived again here, never
    // carried over (a due time kept from before would leave the lead in the due index for good).
    const { version: _version, score: _score, dueAt: _dueAt, recycleAt: _recycleAt, ...state } = lead as Partial<StoredLead> & Lead;
    return {
      ...state,
      version: previousVersion + 1,
      score: { fit: score.fit, behavior: score.behavior, total: score.total, at: now.toISOString() },
      ...(due ? { dueAt: due } : {}),
      ...(recycle ? { recycleAt: recycle } : {}),
    };
  }

  private async transact(events: NormalizedEvent[], lead: StoredLead, expectedVersion: number | undefined, now: Date): Promise<void> {
    const appliedAt = now.toISOString();
    const expiresAt = Math.floor(now.getTime() / 1000) + this.rawRetentionDays * 24 * 60 * 60;
    const pk = leadPk(lead.leadId);
    const items: NonNullable<TransactWriteCommandInput['TransactItems']> = events.flatMap((event) => {
      const { raw, ...normalized } = event;
      return [
        {
          Put: {
            TableName: this.tableName,
            Item: { pk, sk: eventSk(event), kind: 'event', ...normalized, appliedAt, modelVersion: lead.modelVersion },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        },
        {
          Put: {
            TableName: this.tableName,
            Item: { pk, sk: rawSk(event), kind: 'raw', source: event.source, sourceEventId: event.sourceEventId, ...rawText(raw), [table.ttlAttribute]: expiresAt },
          },
        },
      ];
    });
    const { dueAt: due, ...rest } = lead;
    const leadItem = {
      pk,
      sk: profileSk,
      kind: 'lead',
      ...rest,
      ...(due ? { dueAt: due, dueShard: dueShardOf(lead.leadId) } : {}),
    };
    items.push({
      Put: {
        TableName: this.tableName,
        Item: leadItem,
        ...(expectedVersion === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'version = :expected', ExpressionAttributeValues: { ':expected': expectedVersion } }),
      },
    });
    const answer = await this.client.send(new TransactWriteCommand({ TransactItems: items, ReturnConsumedCapacity: 'TOTAL' }));
    this.stats.transactions += 1;
    for (const consumed of answer.ConsumedCapacity ?? []) this.stats.writeCapacityUnits += consumed.WriteCapacityUnits ?? consumed.CapacityUnits ?? 0;
  }

  async getLead(leadId: string): Promise<StoredLead | undefined> {
    const answer = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: leadPk(leadId), sk: profileSk }, ConsistentRead: true }));
    if (!answer.Item) return undefined;
    const { pk: _pk, sk: _sk, kind: _kind, dueShard: _shard, ...lead } = answer.Item;
    return lead as StoredLead;
  }

  /** The lead's stored events, oldest first (what a rescore or backtest replays). */
  async listEvents(leadId: string): Promise<NormalizedEvent[]> {
    const events: NormalizedEvent[] = [];
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :evt)',
          ExpressionAttributeValues: { ':pk': leadPk(leadId), ':evt': 'EVT#' },
          ExclusiveStartKey: cursor,
        }),
      );
      for (const item of page.Items ?? []) {
        const { pk: _pk, sk: _sk, kind: _kind, appliedAt: _appliedAt, modelVersion: _modelVersion, ...event } = item;
        events.push(event as NormalizedEvent);
      }
      cursor = page.LastEvaluatedKey;
    } while (cursor);
    return events;
  }

  /**
   * Takes handoffs off the lead's outbox once they are safely on the queue, bumping the version so no
   * stale writer resurrects them. When that empties the outbox, the lead's due time becomes its recycle
   * time (or it leaves the due index); if other handoffs arrived meanwhile, it stays due now.
   */
  async confirmQueued(leadId: string, handoffIds: readonly string[], recycleAt?: string): Promise<void> {
    if (handoffIds.length === 0) return;
    const names = Object.fromEntries(handoffIds.map((id, index) => [`#h${index}`, id]));
    const removeOutbox = handoffIds.map((_, index) => `outbox.#h${index}`).join(', ');
    const key = { pk: leadPk(leadId), sk: profileSk };
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
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
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: `REMOVE ${removeOutbox} SET version = version + :one`,
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
    }
  }

  /**
   * Binds a sender's one-time token to the fingerprint of the body it came with: `first` the first
   * time, `same` for a retry of the same body, `replayed` when the token comes back with another body.
   * The item expires (TTL) once the token is too old to be accepted anyway.
   */
  async claimReplayToken(source: string, token: string, fingerprint: string, expiresAt: Date): Promise<'first' | 'same' | 'replayed'> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: replayPk(source, token), sk: replaySk, fingerprint, [table.ttlAttribute]: Math.ceil(expiresAt.getTime() / 1000) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      this.stats.writeCapacityUnits += 1;
      return 'first';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const seen = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: replayPk(source, token), sk: replaySk }, ConsistentRead: true }));
    return seen.Item?.fingerprint === fingerprint ? 'same' : 'replayed';
  }

  /** Leads whose state changes by time alone by `until`, from the sparse due index, shard by shard. */
  async *dueLeads(until: Date): AsyncGenerator<string> {
    for (const shard of allDueShards()) {
      let cursor: Record<string, unknown> | undefined;
      do {
        const page = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: table.dueIndex.name,
            KeyConditionExpression: 'dueShard = :shard AND dueAt <= :until',
            ExpressionAttributeValues: { ':shard': shard, ':until': until.toISOString() },
            ProjectionExpression: 'leadId',
            ExclusiveStartKey: cursor,
          }),
        );
        for (const item of page.Items ?? []) yield item.leadId as string;
        cursor = page.LastEvaluatedKey;
      } while (cursor);
    }
  }

  /** Records one delivery attempt of a handoff on the lead's partition. */
  async recordHandoffAttempt(
    record: HandoffRecord,
    attempt: { at: Date; adapter: string; outcome: 'delivered' | 'failed'; crmStatus?: number; error?: string },
  ): Promise<void> {
    const at = attempt.at.toISOString();
    const delivered = attempt.outcome === 'delivered';
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: leadPk(record.lead.email), sk: handoffSk(record.occurredAt, record.id) },
        UpdateExpression: [
          'SET kind = :kind, id = :id, #type = :type, occurredAt = :occurredAt, adapter = :adapter, lastAttemptAt = :at',
          // A late failure report of a duplicate delivery never overwrites "delivered".
          delivered ? ', #status = :status, deliveredAt = :at' : ', #status = if_not_exists(#status, :status)',
          attempt.crmStatus === undefined ? '' : ', crmStatus = :crmStatus',
          attempt.error === undefined ? '' : ', lastError = :error',
          ' ADD attempts :one',
        ].join(''),
        ExpressionAttributeNames: { '#type': 'type', '#status': 'status' },
        ExpressionAttributeValues: {
          ':kind': 'handoff',
          ':id': record.id,
          ':type': record.type,
          ':occurredAt': record.occurredAt,
          ':adapter': attempt.adapter,
          ':at': at,
          ':status': delivered ? 'delivered' : 'failed',
          ':one': 1,
          ...(attempt.crmStatus === undefined ? {} : { ':crmStatus': attempt.crmStatus }),
          ...(attempt.error === undefined ? {} : { ':error': attempt.error.slice(0, 1000) }),
        },
      }),
    );
  }

  async getHandoff(record: Pick<HandoffRecord, 'id' | 'occurredAt' | 'lead'>): Promise<HandoffAttempt | undefined> {
    const answer = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: leadPk(record.lead.email), sk: handoffSk(record.occurredAt, record.id) }, ConsistentRead: true }),
    );
    return answer.Item as HandoffAttempt | undefined;
  }

  async listHandoffs(leadId: string): Promise<HandoffAttempt[]> {
    const answer = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :handoff)',
        ExpressionAttributeValues: { ':pk': leadPk(leadId), ':handoff': 'HANDOFF#' },
      }),
    );
    return (answer.Items ?? []).map(({ pk: _pk, sk: _sk, kind: _kind, ...attempt }) => attempt as HandoffAttempt);
  }
}

/** Transaction budget for event and raw items, under DynamoDB's 4 MB per transaction with room for the lead. */
const maxTransactionChars = 3 * 1024 * 1024;

/** The next events to write in one transaction: at most 49, and at most ~3 MB of them. */
function nextChunk(pending: readonly NormalizedEvent[]): NormalizedEvent[] {
  const chunk: NormalizedEvent[] = [];
  let size = 0;
  for (const event of pending) {
    if (chunk.length === eventsPerTransaction) break;
    const { raw, ...normalized } = event;
    const eventSize = JSON.stringify(normalized).length + Math.min(maxRawChars, JSON.stringify(raw ?? null)?.length ?? 0);
    if (chunk.length > 0 && size + eventSize > maxTransactionChars) break;
    chunk.push(event);
    size += eventSize;
  }
  return chunk;
}

function outcomeOf(lead: StoredLead, applied: number, duplicates: number): LeadOutcome {
  return {
    leadId: lead.leadId,
    applied,
    duplicates,
    status: lead.status,
    outbox: Object.values(lead.outbox),
    ...(lead.recycleAt ? { recycleAt: lead.recycleAt } : {}),
  };
}

/** Whether a re-evaluation changed anything worth a write (status, outbox, due time, shown score). */
function changed(before: StoredLead, after: StoredLead): boolean {
  return (
    before.status !== after.status ||
    before.dueAt !== after.dueAt ||
    before.modelVersion !== after.modelVersion ||
    Object.keys(before.outbox).length !== Object.keys(after.outbox).length ||
    before.score.total !== after.score.total
  );
}

/** Full-jitter exponential backoff, capped: contending writers spread out instead of colliding again. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(250, 5 * 2 ** attempt);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` over `items`, at most `limit` at once, keeping the input order in the results. */
export async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  });
  await Promise.all(workers);
  return results;
}
