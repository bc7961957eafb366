/**
 * Markers that make senders' deliveries idempotent where no event key can: one-time replay tokens bound
 * to the body they came with (Mailgun), and the ids a "notify, then fetch" source has queued and fetched
 * (`SEEN#<source>#<id>`).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchGetCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { table as tableLayout } from '../topology.ts';
import { replayPk, replaySk, seenPk, seenSk } from './keys.ts';
import type { StoreTable } from './table.ts';

/**
 * Binds a sender's one-time token to the fingerprint of the body it came with: `first` the first
 * time, `same` for a retry of the same body, `replayed` when the token comes back with another body.
 * The item expires (TTL) once the token is too old to be accepted anyway.
 */
export async function claimReplayToken(
  table: StoreTable,
  source: string,
  token: string,
  fingerprint: string,
  expiresAt: Date,
): Promise<'first' | 'same' | 'replayed'> {
  try {
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { pk: replayPk(source, token), sk: replaySk, fingerprint, [tableLayout.ttlAttribute]: Math.ceil(expiresAt.getTime() / 1000) },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    table.stats.writeCapacityUnits += 1;
    return 'first';
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
  const seen = await table.client.send(
    new GetCommand({ TableName: table.tableName, Key: { pk: replayPk(source, token), sk: replaySk }, ConsistentRead: true }),
  );
  return seen.Item?.fingerprint === fingerprint ? 'same' : 'replayed';
}

/**
 * Deduplication of provider events whose lead is not known at receipt (docs/architecture.md, data model:
 * `SEEN#<source>#<eventId>`): a Facebook leadgen id before its Graph fetch tells the e-mail.
 *
 * The item is written only AFTER the event is durably on its queue (see lib/ingest/webhook.ts), so
 * a crash in between makes the sender's retry queue it again (a second fetch, harmless) and never
 * drops it. The fetch records on the same item that the lead is stored, so a message SQS delivers
 * twice costs one Graph call, not two.
 */
export interface SeenItem {
  source: string;
  eventId: string;
  queuedAt: string;
  /** When the consumer stored the event, and under which lead. */
  fetchedAt?: string;
  leadId?: string;
}

export interface SeenStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /**
   * How long an id is remembered (DynamoDB TTL). Meta retries a delivery for 36 h, so at least 48 h
   * (docs/providers/facebook.md); 72 h leaves a day of margin for TTL deletion being late, never early.
   */
  retentionHours?: number;
}

export const defaultSeenRetentionHours = 72;

export class SeenStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly retentionHours: number;

  constructor(options: SeenStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.retentionHours = options.retentionHours ?? defaultSeenRetentionHours;
    if (this.retentionHours < 48) throw new Error('SEEN items must outlive the sender retry window: at least 48 h');
  }

  /** The ids of `source` already recorded, with what is known of each (consistent reads). */
  async seen(source: string, eventIds: readonly string[]): Promise<Map<string, SeenItem>> {
    const found = new Map<string, SeenItem>();
    const unique = [...new Set(eventIds)];
    const chunks: string[][] = [];
    for (let start = 0; start < unique.length; start += 100) chunks.push(unique.slice(start, start + 100));
    await mapWithConcurrency(chunks, 4, async (chunk) => {
      let keys: Record<string, unknown>[] = chunk.map((id) => ({ pk: seenPk(source, id), sk: seenSk }));
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt));
        if (attempt > 8) throw new Error(`SEEN lookup: ${keys.length} key(s) still unprocessed after ${attempt} attempts`);
        const answer = await this.client.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }));
        for (const item of answer.Responses?.[this.tableName] ?? []) found.set(item.eventId as string, toSeenItem(item));
        keys = (answer.UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
      }
    });
    return found;
  }

  async get(source: string, eventId: string): Promise<SeenItem | undefined> {
    const answer = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: seenPk(source, eventId), sk: seenSk }, ConsistentRead: true }),
    );
    return answer.Item ? toSeenItem(answer.Item) : undefined;
  }

  /**
   * Records ids as queued. An id recorded meanwhile (a concurrent delivery, or already fetched) is left
   * as it is: the conditional put never overwrites what the consumer recorded.
   */
  async recordQueued(source: string, eventIds: readonly string[], now: Date): Promise<void> {
    const expiresAt = this.expiresAt(now);
    await mapWithConcurrency([...new Set(eventIds)], 16, async (eventId) => {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk: seenPk(source, eventId),
              sk: seenSk,
              kind: 'seen',
              source,
              eventId,
              queuedAt: now.toISOString(),
              [tableLayout.ttlAttribute]: expiresAt,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    });
  }

  /** Records that the event is stored under `leadId`; creates the item if it expired or was never written. */
  async recordFetched(source: string, eventId: string, leadId: string, now: Date): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: seenPk(source, eventId), sk: seenSk },
        UpdateExpression:
          'SET kind = :kind, #source = :source, eventId = :eventId, queuedAt = if_not_exists(queuedAt, :now), fetchedAt = :now, leadId = :leadId, #ttl = :ttl',
        ExpressionAttributeNames: { '#source': 'source', '#ttl': tableLayout.ttlAttribute },
        ExpressionAttributeValues: {
          ':kind': 'seen',
          ':source': source,
          ':eventId': eventId,
          ':now': now.toISOString(),
          ':leadId': leadId,
          ':ttl': this.expiresAt(now),
        },
      }),
    );
  }

  private expiresAt(now: Date): number {
    return Math.floor(now.getTime() / 1000) + this.retentionHours * 3600;
  }
}

function toSeenItem(item: Record<string, unknown>): SeenItem {
  return {
    source: item.source as string,
    eventId: item.eventId as string,
    queuedAt: item.queuedAt as string,
    ...(typeof item.fetchedAt === 'string' ? { fetchedAt: item.fetchedAt } : {}),
    ...(typeof item.leadId === 'string' ? { leadId: item.leadId } : {}),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
