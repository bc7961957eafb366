/**
 * How one write of a lead becomes one TransactWriteItems, as pure functions: which events fit one
 * transaction, the lead's stored state after scoring, the items (conditional event puts, grouped raw
 * payloads, the version-guarded lead, a merge's claim), and whether a re-evaluation changed anything.
 */
import { cutToBytes, utf8Bytes } from '../core/budget.ts';
import type { NormalizedEvent } from '../core/events.ts';
import { isEmailLeadId, isVisitorLeadId } from '../core/identity.ts';
import type { Breakdown, Lead } from '../core/lead.ts';
import { scoreLead, statusChangeAt } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import { table as tableLayout } from '../topology.ts';
import { dueShardOf, eventSk, leadPk, profileSk, rawSk } from './keys.ts';
import { leadAttributes } from './lead-codec.ts';
import type { MergePlan } from './merge.ts';
import { encodeRawPayloads } from './raw-payloads.ts';
import type { LeadOutcome, PendingEvent, StoredLead } from './repository.ts';
import type { TransactItems } from './table.ts';

/** DynamoDB's limit of items per transaction: e.g. 49 events with their raw payloads, plus the lead. */
export const maxItemsPerTransaction = 100;
/** Bytes of a whole transaction's items as JSON (several leads' writes), under DynamoDB's 4 MB with room for attribute overhead. */
export const maxTransactionJsonBytes = 3.5 * 1024 * 1024;

/**
 * Raw payloads above this many UTF-8 bytes (before compression) are kept cut (and marked): one item may not exceed 400 KB,
 * and a transaction 4 MB, while a single authentic delivery may be up to 1 MiB.
 */
const maxRawBytes = 64 * 1024;

/** An event's raw payload as stored, computed once per event (chunking, grouping and the items all need it). */
const rawTexts = new WeakMap<NormalizedEvent, { raw: string; rawTruncated?: true; bytes: number }>();

function rawText(event: NormalizedEvent): { raw: string; rawTruncated?: true; bytes: number } {
  let known = rawTexts.get(event);
  if (!known) {
    const text = JSON.stringify(event.raw ?? null) ?? 'null';
    const cut = cutToBytes(text, maxRawBytes);
    known = cut === text ? { raw: text, bytes: utf8Bytes(text) } : { raw: cut, rawTruncated: true, bytes: utf8Bytes(cut) };
    rawTexts.set(event, known);
  }
  return known;
}

/** Most bytes of raw payload text in one raw item (DynamoDB's item limit is 400 KB). */
const maxRawGroupBytes = 300 * 1024;

/** Events in order, cut into groups whose raw payloads fit one item. */
function rawGroups(events: readonly NormalizedEvent[]): NormalizedEvent[][] {
  const groups: NormalizedEvent[][] = [];
  let size = 0;
  for (const event of events) {
    const bytes = rawText(event).bytes + 256;
    const current = groups.at(-1);
    if (current && size + bytes <= maxRawGroupBytes) {
      current.push(event);
      size += bytes;
    } else {
      groups.push([event]);
      size = bytes;
    }
  }
  return groups;
}

/** Transaction budget for event and raw items, in UTF-8 bytes, under DynamoDB's 4 MB per transaction with room for the lead. */
const maxTransactionBytes = 3 * 1024 * 1024;

/**
 * The next events to write in one transaction: as many as DynamoDB's 100 items allow (a new event
 * takes two at most, its EVT item and (counted as if alone) a raw item; a copy from an absorbed lead one; the lead one; `extraItems` the
 * rest), and at most ~3 MB (UTF-8) of them.
 */
export function nextChunk(queue: readonly NormalizedEvent[], copies: ReadonlySet<NormalizedEvent>, extraItems: number): NormalizedEvent[] {
  const chunk: NormalizedEvent[] = [];
  let size = 0;
  let items = 1 + extraItems;
  for (const event of queue) {
    const eventItems = copies.has(event) ? 1 : 2;
    if (items + eventItems > maxItemsPerTransaction) break;
    const { raw: _raw, ...normalized } = event;
    const eventSize = utf8Bytes(JSON.stringify(normalized)) + (copies.has(event) ? 0 : rawText(event).bytes);
    if (chunk.length > 0 && size + eventSize > maxTransactionBytes) break;
    chunk.push(event);
    size += eventSize;
    items += eventItems;
  }
  return chunk;
}

export function toStored(lead: Lead, score: Breakdown, previousVersion: number, model: ScoringModel, now: Date, mergingFrom?: string): StoredLead {
  // The core clones the stored lead it was given: what the store derives is derived again here, never
  // carried over (a due time kept from before would leave the lead in the due index for good).
  const { version: _version, score: _score, dueAt: _dueAt, recycleAt: _recycleAt, mergingFrom: _mergingFrom, ...state } = lead as Partial<StoredLead> & Lead;
  const recycle = statusChangeAt(lead, model, now);
  // While handoffs wait in the outbox the lead is due now, so a failed enqueue is retried by the next decay
  // run; so is a merge left half-done, so the decay job completes it.
  const due = Object.keys(lead.outbox).length > 0 || mergingFrom ? now.toISOString() : recycle;
  return {
    ...state,
    ...(mergingFrom ? { mergingFrom } : {}),
    version: previousVersion + 1,
    score: { fit: score.fit, behavior: score.behavior, total: score.total, at: now.toISOString() },
    ...(due ? { dueAt: due } : {}),
    ...(recycle ? { recycleAt: recycle } : {}),
  };
}

/** A raw item as written: the raw payloads of a write's events, compressed (./raw-payloads.ts). */
export type RawItem = Record<string, unknown>;

/**
 * The raw payloads of the events a write stores (copies keep theirs where they were received), a few
 * hundred KB of text to an item keyed by its first event, deflated (./raw-payloads.ts): DynamoDB bills a
 * transaction's items 2 WCU per KB, and a provider's JSON shrinks several times. They stay IN the lead's
 * transaction, so a failed write leaves no payload behind (a 5xx stores nothing) and every stored event
 * has its raw. One raw item for a lead's share of a batch instead of one per event also took a third
 * more transactions per second on DynamoDB Local (issue 3's 1,000-event SendGrid batch).
 */
export function rawItems(table: { tableName: string }, events: readonly NormalizedEvent[], pk: string, expiresAt: number): RawItem[] {
  return rawGroups(events).map((group) => {
    const first = group[0]!;
    return {
      pk,
      sk: rawSk(first),
      kind: 'raw',
      source: first.source,
      ...encodeRawPayloads(
        group.map((event) => {
          const { raw, rawTruncated } = rawText(event);
          return { source: event.source, sourceEventId: event.sourceEventId, raw, ...(rawTruncated ? { rawTruncated } : {}) };
        }),
      ),
      [tableLayout.ttlAttribute]: expiresAt,
    };
  });
}

export function pendingEventOf(event: NormalizedEvent, appliedAt: string, modelVersion: string): PendingEvent {
  const { raw: _raw, links, ...normalized } = event;
  // An e-mail lead takes the keys an event links at the write (./merge.ts) and holds them (`aliases`): its
  // stored events need not repeat them, and an item over 1 KB costs twice. A visitor's events keep theirs,
  // for the lead that takes the visitor later to take them too.
  return { ...normalized, ...(links?.length && !isEmailLeadId(event.leadKey) ? { links } : {}), appliedAt, modelVersion };
}

/** How long a store keeps what it writes, in days (./table.ts `LeadStoreOptions`). */
export interface Retention {
  eventRetentionDays?: number | undefined;
  anonymousRetentionDays?: number | undefined;
}

/**
 * An event's item (`EVT#...` in its lead's partition); a copy from an absorbed lead names that lead (`mergedFrom`).
 * A visitor's event (its lead `anon:`/`user:`) expires after `ANONYMOUS_RETENTION_DAYS`, or sooner under
 * `EVENT_RETENTION_DAYS`; a copy under an e-mail lead takes that lead's retention.
 */
export function eventItem(table: Retention, pk: string, event: PendingEvent, copiedFrom?: string): Record<string, unknown> {
  const days = isVisitorLeadId(event.leadKey) ? shortest(table.eventRetentionDays, table.anonymousRetentionDays) : table.eventRetentionDays;
  return {
    pk,
    sk: eventSk(event),
    kind: 'event',
    ...event,
    ...(copiedFrom ? { mergedFrom: copiedFrom } : {}),
    ...eventExpiry(event.occurredAt, days),
  };
}

function shortest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/**
 * The lead's PROFILE item and the condition of its write: the version it was read at, or that it does not
 * exist yet. The same in a transaction (below) and as a lone conditional PutItem (./lead-first.ts).
 */
export function leadPut(
  lead: StoredLead,
  expectedVersion: number | undefined,
  retention: Retention = {},
): { Item: Record<string, unknown>; ConditionExpression: string; ExpressionAttributeValues?: Record<string, unknown> } {
  const { dueAt: due, ...rest } = lead;
  // A visitor's lead item goes with its history: ANONYMOUS_RETENTION_DAYS after its last event. Taken by an
  // e-mail lead, the claim removes the expiry (transactionItems): the link outlives the visitor's own items.
  const expiry = isVisitorLeadId(lead.leadId) ? eventExpiry(lead.lastEventAt, retention.anonymousRetentionDays) : {};
  return {
    Item: {
      pk: leadPk(lead.leadId),
      sk: profileSk,
      kind: 'lead',
      ...leadAttributes(rest),
      ...(due ? { dueAt: due, dueShard: dueShardOf(lead.leadId) } : {}),
      ...expiry,
    },
    ...(expectedVersion === undefined
      ? { ConditionExpression: 'attribute_not_exists(pk)' }
      : { ConditionExpression: 'version = :expected', ExpressionAttributeValues: { ':expected': expectedVersion } }),
  };
}

/**
 * A key no lead has, taken by e-mail lead `into` as an alias (./merge.ts): conditioned on the key being free,
 * so a lead of that key created meanwhile, or another lead's claim, makes the write fail and the merge is
 * planned again.
 */
export function aliasPut(tableName: string, key: string, into: string, appliedAt: string): TransactItems[number] {
  return {
    Put: {
      TableName: tableName,
      Item: { pk: leadPk(key), sk: profileSk, kind: 'alias', leadId: key, mergedInto: into, mergedAt: appliedAt, version: 1 },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

/**
 * The items of one lead transaction: per new event its EVT put (conditional) and its RAW put; per copy
 * of an absorbed lead's event its EVT put only (its raw payload stays with the lead it came to); the
 * lead (guarded by its version); and the claims: on the lead being absorbed, on free keys as aliases. With each event's index,
 * to read DynamoDB's CancellationReasons.
 */
export function transactionItems(
  table: { tableName: string; rawRetentionDays: number } & Retention,
  events: readonly NormalizedEvent[],
  copies: ReadonlySet<NormalizedEvent>,
  copiedFrom: string | undefined,
  lead: StoredLead,
  expectedVersion: number | undefined,
  now: Date,
  taking: MergePlan | undefined,
): { items: TransactItems; eventIndex: number[]; leadIndex: number; claimIndexes: number[] } {
  const appliedAt = now.toISOString();
  const expiresAt = Math.floor(now.getTime() / 1000) + table.rawRetentionDays * 24 * 60 * 60;
  const pk = leadPk(lead.leadId);
  const items: TransactItems = [];
  const eventIndex: number[] = [];
  for (const event of events) {
    const copied = copies.has(event);
    eventIndex.push(items.length);
    items.push({
      Put: {
        TableName: table.tableName,
        Item: eventItem(table, pk, pendingEventOf(event, appliedAt, lead.modelVersion), copied ? copiedFrom : undefined),
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    });
  }
  // The raw payloads of the events this transaction stores, in it (rawItems): see there.
  for (const Item of rawItems(
    table,
    events.filter((event) => !copies.has(event)),
    pk,
    expiresAt,
  )) {
    items.push({ Put: { TableName: table.tableName, Item } });
  }
  const leadIndex = items.length;
  items.push({ Put: { TableName: table.tableName, ...leadPut(lead, expectedVersion, table) } });
  const claim = taking?.claim;
  if (!taking || !claim) return { items, eventIndex, leadIndex, claimIndexes: [] };
  const claimIndexes: number[] = [];
  claimIndexes.push(items.length);
  if (claim.kind === 'alias') {
    items.push(aliasPut(table.tableName, taking.from, lead.leadId, appliedAt));
  } else {
    items.push({
      Update: {
        TableName: table.tableName,
        Key: { pk: leadPk(taking.from), sk: profileSk },
        // An absorbed lead with handoffs still in its outbox stays due, so the decay job sends them.
        // A visitor's lead item loses its expiry (ANONYMOUS_RETENTION_DAYS): as the link to E it stays.
        UpdateExpression: `SET mergedInto = :into, mergedAt = :at, version = version + :one REMOVE ${claim.idle ? 'dueAt, dueShard, ' : ''}#expires`,
        ExpressionAttributeNames: { '#expires': tableLayout.ttlAttribute },
        ConditionExpression: 'version = :version AND attribute_not_exists(mergedInto)',
        ExpressionAttributeValues: { ':into': lead.leadId, ':at': appliedAt, ':one': 1, ':version': claim.version },
      },
    });
  }
  for (const from of taking.alsoAliases) {
    claimIndexes.push(items.length);
    items.push(aliasPut(table.tableName, from, lead.leadId, appliedAt));
  }
  return { items, eventIndex, leadIndex, claimIndexes };
}

/**
 * `EVENT_RETENTION_DAYS`: the event item expires that many days after the event occurred (DynamoDB TTL).
 * Nothing the lead item holds depends on it (its state is kept on the lead); a rescore does not rebuild a
 * lead whose history is no longer whole (docs/data-protection.md, "Retention").
 */
export function eventExpiry(occurredAt: string, days: number | undefined): Record<string, number> {
  if (days === undefined) return {};
  const at = Date.parse(occurredAt);
  if (Number.isNaN(at)) return {};
  return { [tableLayout.ttlAttribute]: Math.floor(at / 1000) + days * 86_400 };
}

export function outcomeOf(lead: StoredLead, applied: number, duplicates: number, merged: number): LeadOutcome {
  return {
    leadId: lead.leadId,
    applied,
    duplicates,
    merged,
    status: lead.status,
    outbox: Object.values(lead.outbox),
    ...(lead.recycleAt ? { recycleAt: lead.recycleAt } : {}),
  };
}

/** Whether a re-evaluation changed anything worth a write (status, outbox, due time, shown score). */
export function changed(before: StoredLead, after: StoredLead): boolean {
  return (
    before.status !== after.status ||
    before.dueAt !== after.dueAt ||
    before.modelVersion !== after.modelVersion ||
    Object.keys(before.outbox).length !== Object.keys(after.outbox).length ||
    before.score.total !== after.score.total
  );
}

/**
 * Whether a rebuilt lead differs from the stored one in what a rescore writes for: status, outbox, recycle
 * time, the facts replayed (events counted, disqualifier, outcome), or the score, both taken at `now` under
 * the rescoring model (the stored snapshot is from its last write: decay since then alone is no change).
 * A new model version alone is not: a model change that moves no lead costs reads, not a write per lead;
 * a lead written carries the version that wrote it.
 */
export function replacesState(before: StoredLead, after: StoredLead, model: ScoringModel, now: Date): boolean {
  const stored = scoreLead(before, model, now);
  return (
    before.status !== after.status ||
    before.recycleAt !== after.recycleAt ||
    Object.keys(before.outbox).sort().join() !== Object.keys(after.outbox).sort().join() ||
    before.eventCount !== after.eventCount ||
    before.disqualifiedBy?.rule !== after.disqualifiedBy?.rule ||
    before.outcome?.type !== after.outcome?.type ||
    stored.total !== after.score.total ||
    stored.fit !== after.score.fit ||
    stored.behavior !== after.score.behavior
  );
}

/** Deliveries with at least this many events are checked for being redeliveries before writing (see apply). */
export const minEventsToLookUp = 10;

/** An event's table key as one string: the partition of its lead and its sort key. */
export function storedEventKey(event: NormalizedEvent): string {
  return `${leadPk(event.leadKey)}|${eventSk(event)}`;
}
