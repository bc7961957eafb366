/**
 * Writing a lead's events without a transaction: the lead first, its event items after (docs/architecture.md,
 * "Lead first"). A transaction bills 2 write units per KB of each of its items and every item at least one
 * KB; a lone PutItem bills 1 per KB. The events of a delivery cost half as much written as plain
 * conditional puts after the lead, and the guarantees of the transaction are kept by the order of the writes:
 *
 * 1. The lead is read (consistently), then the items of the new events and of the lead's `pendingEvents`
 *    (the events of its last lead-first write, kept on the lead until a later write knows their items are
 *    stored). An event already stored, or pending on the lead, is a redelivery.
 * 2. The raw payloads of the new events are put (./raw-payloads.ts); so are the items of the pending
 *    events not stored yet (a writer that stopped after its lead write): the lead written next no longer
 *    names them, so they are stored before it is.
 * 3. The lead is put with its events applied and them as its `pendingEvents`, conditioned on the version
 *    read (or on not existing). This is the commit: the events count from here, exactly once, because no
 *    other writer can count an event that is pending on the lead or stored, and the version condition makes
 *    every writer decide on the lead as it stands.
 * 4. The events' items are put (`attribute_not_exists`), then the sender hears 200. A writer stopped
 *    between 3 and 4 leaves its events pending on the lead: the sender's retry finds them there and stores
 *    their items, and so does the lead's next write in any case. No event item is ever stored that its lead
 *    does not count, so a lead that does not exist has no events to look up.
 *
 * Erasure (./erase.ts) writes its tombstones first and, once it has removed everything, waits a while
 * and looks again (`settleMs`): a write that read no tombstone before it, and so creates or writes the lead
 * again, has landed by then, because a lead-first write that took longer than the table's `writeWindowMs`
 * reads the tombstone after its items and takes back what it wrote when the person was erased meanwhile.
 * A lead whose person was erased before, and a merge of leads, take the transactional way
 * (./lead-writes.ts): both are rare, and their conditions span several items.
 */
import { performance } from 'node:perf_hooks';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { utf8Bytes } from '../core/budget.ts';
import type { NormalizedEvent } from '../core/events.ts';
import type { Lead } from '../core/lead.ts';
import { applyEvents, newLead } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { table as tableLayout } from '../topology.ts';
import { eventSk, leadPk, profileSk } from './keys.ts';
import { aliasPut, eventItem, leadPut, outcomeOf, pendingEventOf, rawItems, toStored } from './lead-transaction.ts';
import type { LeadOutcome, PendingEvent, StoredLead } from './repository.ts';
import type { StoreTable } from './table.ts';
import { backoffMs, sleep } from './table.ts';
import { readTombstone, refusedByTombstone, tombstoneKey } from './tombstones.ts';

/** Events one lead-first write applies at most: they are carried on the lead item until the next write (400 KB an item). */
const maxEventsPerWrite = 100;
/** UTF-8 bytes of normalized events one write carries as pending at most, before the lead's state is deflated. */
const maxPendingBytes = 96 * 1024;

/** The events of the lead's last lead-first write, as its item carries them. */
export function pendingEventsOf(lead: StoredLead | undefined): PendingEvent[] {
  return lead?.pendingEvents ?? [];
}

/** The next events one write applies: at most {@link maxEventsPerWrite}, and {@link maxPendingBytes} of them. */
export function nextWrite(events: readonly NormalizedEvent[]): NormalizedEvent[] {
  const chunk: NormalizedEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const { raw: _raw, ...normalized } = event;
    const size = utf8Bytes(JSON.stringify(normalized));
    if (chunk.length > 0 && (chunk.length >= maxEventsPerWrite || bytes + size > maxPendingBytes)) break;
    chunk.push(event);
    bytes += size;
  }
  return chunk;
}

/** What a lead-first write did: the lead's outcome, or what is left for the transactional way and why. */
export type LeadFirstResult =
  | { done: LeadOutcome }
  | { fallback: 'merging' | 'erased' | 'claimed'; applied: number; duplicates: number; rest: NormalizedEvent[]; lead: StoredLead | undefined };

/**
 * Writes `events` (none of them a copy from a merge) to lead `leadId` the lead-first way; `read` is the
 * lead as read (consistently, or by the version-conditioned write's retry). Hands back to the caller when the
 * lead turns out to be merging or merged, or its person was erased meanwhile.
 *
 * `claims`: keys the events link that no lead had when read (a new visitor's `user:` key, ./merge.ts), taken
 * as aliases by the commit itself: the lead's put and the aliases' puts (`attribute_not_exists`) in one
 * small transaction, so the lead holds a key exactly when the key leads to it. A key taken meanwhile (a
 * visitor's own lead created, another person's claim) cancels it, and the caller plans the merge again
 * (`fallback: 'claimed'`).
 */
export async function writeLeadFirst(
  table: StoreTable,
  leadId: string,
  events: readonly NormalizedEvent[],
  model: ScoringModel,
  now: Date,
  read: StoredLead | undefined,
  /** When the lead (and, to create it, its tombstone) was read: performance.now(). */
  readAt: number,
  claims: readonly string[] = [],
): Promise<LeadFirstResult> {
  const pk = leadPk(leadId);
  const creates = read === undefined;
  const appliedAt = now.toISOString();
  let lead = read;
  let todo = [...events];
  let applied = 0;
  let duplicates = 0;
  /** Event sort keys whose items are known stored (found, or put by this call). */
  const stored = new Set<string>();
  /** What this call put, to take back if an erasure took the lead meanwhile. */
  const putKeys: { pk: string; sk: string }[] = [];
  const appliedEvents: NormalizedEvent[] = [];
  /** Keys still to take with the next commit: those the lead does not hold yet. */
  let taking = [...claims];
  /**
   * The lead was erased while this call wrote: what it put goes, and every event of the call is decided
   * again against the tombstone (refused when it occurred before the erasure).
   */
  const undo = async (created?: StoredLead): Promise<LeadFirstResult> => {
    await deleteItems(table, putKeys);
    if (created) await deleteLead(table, created);
    return { fallback: 'erased', applied: 0, duplicates, rest: [...appliedEvents, ...todo.filter((event) => !appliedEvents.includes(event))], lead: undefined };
  };
  for (let attempt = 0; ; ) {
    if (lead?.mergedInto || lead?.mergingFrom) return { fallback: 'merging', applied, duplicates, rest: todo, lead };
    const pendingBefore = pendingEventsOf(lead);
    const counted = new Set(pendingBefore.map((event) => eventSk(event)));
    // A lead not written yet has no event items: every item is put after its lead counts it (step 4).
    if (lead) {
      const unknown = new Set([
        ...todo.map((event) => eventSk(event)).filter((sk) => !counted.has(sk) && !stored.has(sk)),
        ...[...counted].filter((sk) => !stored.has(sk)),
      ]);
      if (unknown.size > 0) {
        for (const item of await table.batchGet(
          [...unknown].map((sk) => ({ pk, sk })),
          'sk',
        ))
          stored.add(item.sk as string);
      }
    }
    const fresh = todo.filter((event) => !counted.has(eventSk(event)) && !stored.has(eventSk(event)));
    const unstored = pendingBefore.filter((event) => !stored.has(eventSk(event)));
    if (fresh.length === 0) {
      // Every event is a redelivery: its item is stored before the sender hears so.
      await putEventItems(table, now, pk, unstored, stored, putKeys);
      return { done: outcomeOf(lead!, applied, duplicates + todo.length, 0) };
    }
    const chunk = nextWrite(fresh);
    const raws = rawItems(table, chunk, pk, Math.floor(now.getTime() / 1000) + table.rawRetentionDays * 86_400);
    await Promise.all([putItems(table, raws, putKeys), putEventItems(table, now, pk, unstored, stored, putKeys)]);
    // The keys taken are held from this commit on, so a handoff decided in it already names them.
    const base: Lead & Partial<StoredLead> = lead ?? newLead(leadId, now, model);
    taking = taking.filter((key) => !base.aliases?.includes(key));
    const holding = taking.length > 0 ? { ...base, aliases: [...(base.aliases ?? []), ...taking] } : base;
    const evaluation = applyEvents(holding, chunk, model, now);
    const next: StoredLead = {
      ...toStored(evaluation.lead, evaluation.score, lead?.version ?? 0, model, now),
      pendingEvents: chunk.map((event) => pendingEventOf(event, appliedAt, evaluation.lead.modelVersion)),
    };
    try {
      // A lone put is a conditional PutItem; with claims, one transaction (./table.ts send).
      await table.send([
        { Put: { TableName: table.tableName, ...leadPut(next, lead?.version, table) } },
        ...taking.map((key) => aliasPut(table.tableName, key, leadId, appliedAt)),
      ]);
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) {
        // Nothing counts these events: their raw payloads go too, so a 5xx leaves nothing stored.
        await deleteItems(
          table,
          raws.map((item) => ({ pk: item.pk as string, sk: item.sk as string })),
        ).catch(() => {});
        throw error;
      }
      const reasons = error.CancellationReasons ?? [];
      if (reasons.slice(1).some((reason) => reason.Code === 'ConditionalCheckFailed')) {
        // A key was taken meanwhile: the transactional way plans the merge again (its write puts the raw payloads again).
        await deleteItems(
          table,
          raws.map((item) => ({ pk: item.pk as string, sk: item.sk as string })),
        );
        return { fallback: 'claimed', applied, duplicates, rest: todo, lead };
      }
      // Written meanwhile (or created, or erased): decide again on the lead as it now stands.
      table.stats.conflicts += 1;
      attempt += 1;
      if (attempt >= table.maxAttempts) throw new Error(`lead ${leadId}: gave up after ${attempt} conflicting writes`, { cause: error });
      await sleep(backoffMs(attempt));
      const again = await table.getLead(leadId);
      // Gone (or, never read, still not there): an erasure took it; the transactional way reads its tombstone.
      if (!again) return undo();
      lead = again;
      continue;
    }
    putKeys.push(...taking.map((key) => ({ pk: leadPk(key), sk: profileSk })));
    taking = [];
    await putEventItems(table, now, pk, next.pendingEvents!, stored, putKeys);
    appliedEvents.push(...chunk);
    // A write slower than the erasure's wait: it may have landed after the erasure's last look.
    if (performance.now() - readAt > table.writeWindowMs && (await erasedMeanwhile(table, leadId, creates))) return undo(creates ? next : undefined);

    applied += chunk.length;
    duplicates += todo.length - fresh.length;
    todo = fresh.filter((event) => !chunk.includes(event));
    if (todo.length === 0) return { done: outcomeOf(next, applied, duplicates, 0) };
    lead = next;
  }
}

/**
 * Whether the person was erased while this write went on: a tombstone is there and the write created the
 * lead (its creation read none), or the lead is gone, or it holds events from before the erasure (a lead
 * whose person came back holds only later ones: ./tombstones.ts).
 */
export async function erasedMeanwhile(table: StoreTable, leadId: string, created: boolean): Promise<boolean> {
  if (!tombstoneKey(leadId)) return false;
  const tombstone = await readTombstone(table, leadId);
  if (!tombstone) return false;
  if (created) return true;
  const lead = await table.getLead(leadId);
  return !lead || refusedByTombstone([{ occurredAt: lead.firstSeenAt }], tombstone).refused.length > 0;
}

/** Removes a lead this write created, unless written since (then the erasure's own look removes it). */
export async function deleteLead(table: StoreTable, lead: StoredLead): Promise<void> {
  try {
    await table.client.send(
      new DeleteCommand({
        TableName: table.tableName,
        Key: { pk: leadPk(lead.leadId), sk: profileSk },
        ConditionExpression: 'version = :version',
        ExpressionAttributeValues: { ':version': lead.version },
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
  }
}

/** Puts the items of events known counted, unless already stored (a conditional put failing says so). */
async function putEventItems(
  table: StoreTable,
  now: Date,
  pk: string,
  events: readonly PendingEvent[],
  stored: Set<string>,
  putKeys: { pk: string; sk: string }[],
): Promise<void> {
  await mapWithConcurrency(events, table.concurrency, async (event) => {
    const item = eventItem(table, pk, event);
    // Expired already (EVENT_RETENTION_DAYS, an old event pending on a lead not written since): not stored again.
    const expiresAt = item[tableLayout.ttlAttribute];
    if (typeof expiresAt === 'number' && expiresAt * 1000 <= now.getTime()) {
      stored.add(item.sk as string);
      return;
    }
    try {
      await table.put({ Item: item, ConditionExpression: 'attribute_not_exists(pk)' });
      putKeys.push({ pk, sk: item.sk as string });
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    stored.add(item.sk as string);
  });
}

async function putItems(table: StoreTable, items: readonly Record<string, unknown>[], putKeys: { pk: string; sk: string }[]): Promise<void> {
  await mapWithConcurrency(items, table.concurrency, async (Item) => {
    await table.put({ Item });
    putKeys.push({ pk: Item.pk as string, sk: Item.sk as string });
  });
}

export async function deleteItems(table: StoreTable, keys: readonly { pk: string; sk: string }[]): Promise<void> {
  await mapWithConcurrency(keys, table.concurrency, (Key) => table.client.send(new DeleteCommand({ TableName: table.tableName, Key })));
}
