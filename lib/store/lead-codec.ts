/**
 * The lead item as stored: the attributes DynamoDB reads in keys, conditions, filters and updates
 * (version, due index, outbox, merge links, firstSeenAt, ...) stay plain; everything else (profile,
 * behavior state per rule, recent events, profile dates, score, ...) is deflated into one binary
 * attribute, `state`. A transaction bills the lead 2 WCU per KB, every event writes it, and its JSON
 * shrinks about threefold (docs/benchmarks.md). Items written before keep their plain attributes and
 * read as before. Nothing outside lib/store sees an item: LeadStore hands out StoredLead.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { NormalizedEvent } from '../core/events.ts';
import { table as tableLayout } from '../topology.ts';
import { eventSk } from './keys.ts';
import type { StoredLead } from './repository.ts';

/** Attributes a key, condition, filter, projection or update names (lib/store/*.ts): never packed. */
const plainAttributes = new Set([
  'pk',
  'sk',
  'kind',
  'leadId',
  'version',
  'dueAt',
  'dueShard',
  'outbox',
  'mergedInto',
  'mergedAt',
  'mergingFrom',
  'aliases',
  'mergedFrom',
  'firstSeenAt',
  'status',
  'expiresAt',
]);

/** The item attributes of a lead (besides its key): plain ones as they are, the rest packed into `state`. */
export function leadAttributes(lead: Record<string, unknown>): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  const packed: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(lead)) {
    if (value === undefined) continue;
    if (plainAttributes.has(name)) plain[name] = value;
    else packed[name] = value;
  }
  return Object.keys(packed).length > 0 ? { ...plain, state: deflateRawSync(Buffer.from(JSON.stringify(packed), 'utf8')) } : plain;
}

/** The lead of a stored item (either encoding), without the item's own key attributes. */
export function leadOfItem(item: Record<string, unknown>): StoredLead {
  const { pk: _pk, sk: _sk, kind: _kind, dueShard: _shard, state, ...rest } = item;
  if (!(state instanceof Uint8Array)) return rest as unknown as StoredLead;
  return { ...(JSON.parse(inflateRawSync(state).toString('utf8')) as Record<string, unknown>), ...rest } as unknown as StoredLead;
}

/** The event an event item (or a lead's pending event) holds, without the store's own attributes. */
export function eventOfItem(item: Record<string, unknown>): NormalizedEvent {
  // The expiry is the item's, not the event's: a copy under another lead takes that lead's (./lead-transaction.ts eventItem).
  const {
    pk: _pk,
    sk: _sk,
    kind: _kind,
    appliedAt: _appliedAt,
    modelVersion: _modelVersion,
    mergedFrom: _mergedFrom,
    [tableLayout.ttlAttribute]: _expiresAt,
    ...event
  } = item;
  return event as unknown as NormalizedEvent;
}

/**
 * A lead's stored events with those still pending on it (lib/store/lead-first.ts: counted, their items
 * perhaps not written yet), in sort-key order as a Query returns them, each once.
 */
export function withPendingEvents(events: NormalizedEvent[], lead: StoredLead | undefined): NormalizedEvent[] {
  const pending = lead?.pendingEvents ?? [];
  if (pending.length === 0) return events;
  const stored = new Set(events.map((event) => eventSk(event)));
  const missing = pending.filter((event) => !stored.has(eventSk(event)));
  if (missing.length === 0) return events;
  const all = [...events, ...missing.map((event) => eventOfItem(event))];
  return all.sort((a, b) => {
    const [x, y] = [eventSk(a), eventSk(b)];
    return x === y ? 0 : x < y ? -1 : 1;
  });
}
