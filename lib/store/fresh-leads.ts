/**
 * New leads of one delivery written lead first (./lead-first.ts) with their commits together: a tracking
 * batch's new users, each of whose first events links keys no lead has yet (its `user:` and `anon:` keys,
 * ./merge.ts). Alone, each lead's commit is a small transaction of its put and its aliases' puts; DynamoDB
 * Local runs transactions one at a time, so thirty of them made /v1/batch half as fast as before visitors.
 * Here the same commits go in as few transactions as fit (100 items, 3.5 MB), each lead's put still with its
 * own aliases, so a lead holds a key exactly when the key leads to it:
 *
 * 1. every lead's state is computed from its events (none of them is stored: the leads do not exist);
 * 2. the raw payloads are put, 25 to a BatchWriteItem;
 * 3. the commits, a transaction per group of leads: each lead's put (`attribute_not_exists`) and its alias puts
 *    (the key still free). A group cancelled (a lead or a key taken since it was read) is handed back whole:
 *    its leads go the one-lead way, which reads them again (the raw payloads already put are put again, the same);
 * 4. the committed leads' event items are put, 25 to a BatchWriteItem and without a condition: their leads
 *    count them, and no writer could before (the leads did not exist); a write slower than the table's write window looks for an
 *    erasure meanwhile and takes back what it wrote, as ./lead-first.ts does, and hands the lead back too.
 *
 * The same write units as one lead at a time (a transaction bills its items, however many leads they belong to).
 */
import { performance } from 'node:perf_hooks';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { utf8Bytes } from '../core/budget.ts';
import type { NormalizedEvent } from '../core/events.ts';
import { isEmailLeadId, linkedKeysOf } from '../core/identity.ts';
import type { Lead } from '../core/lead.ts';
import { applyEvents, newLead } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import { hasPseudonymKey } from '../runtime/pseudonym.ts';
import { table as tableLayout } from '../topology.ts';
import { leadPk, profileSk } from './keys.ts';
import { deleteItems, deleteLead, erasedMeanwhile, nextWrite } from './lead-first.ts';
import {
  aliasPut,
  eventItem,
  leadPut,
  maxItemsPerTransaction,
  maxTransactionJsonBytes,
  outcomeOf,
  pendingEventOf,
  rawItems,
  toStored,
} from './lead-transaction.ts';
import type { LinkedReads } from './merge.ts';
import type { LeadOutcome, StoredLead } from './repository.ts';
import type { StoreTable, TransactItems } from './table.ts';
import type { ErasureContext } from './tombstones.ts';

/** A lead not stored yet, its events (one lead-first write's worth) and the free keys it takes. */
export interface FreshLead {
  readonly leadId: string;
  readonly events: readonly NormalizedEvent[];
  readonly claims: readonly string[];
}

interface Prepared extends FreshLead {
  readonly next: StoredLead;
  readonly commit: TransactItems;
  readonly raws: Record<string, unknown>[];
  readonly putKeys: { pk: string; sk: string }[];
}

/** Groups of commits, each within one transaction's limits, in the given order. */
function commitGroups(prepared: readonly Prepared[]): Prepared[][] {
  const groups: Prepared[][] = [];
  let group: Prepared[] = [];
  let items = 0;
  let bytes = 0;
  for (const lead of prepared) {
    const size = utf8Bytes(JSON.stringify(lead.commit));
    if (group.length > 0 && (items + lead.commit.length > maxItemsPerTransaction || bytes + size > maxTransactionJsonBytes)) {
      groups.push(group);
      group = [];
      items = 0;
      bytes = 0;
    }
    group.push(lead);
    items += lead.commit.length;
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * Writes `leads` (none stored, none erased before: the caller read so) the lead-first way with their commits
 * together. `done`: the outcomes of the leads written; `rest`: the leads to write one at a time.
 */
export async function writeFreshLeadsTogether(
  table: StoreTable,
  leads: readonly FreshLead[],
  model: ScoringModel,
  now: Date,
  /** When the delivery began reading its leads and tombstones: performance.now(). */
  readAt: number,
): Promise<{ done: LeadOutcome[]; rest: string[] }> {
  const appliedAt = now.toISOString();
  const rawExpiresAt = Math.floor(now.getTime() / 1000) + table.rawRetentionDays * 86_400;
  const prepared: Prepared[] = leads.map((lead) => {
    const pk = leadPk(lead.leadId);
    // The keys are held from this commit on, so a handoff decided in it already names them.
    const holding: Lead & Partial<StoredLead> = { ...newLead(lead.leadId, now, model), aliases: [...lead.claims] };
    const evaluation = applyEvents(holding, [...lead.events], model, now);
    const next: StoredLead = {
      ...toStored(evaluation.lead, evaluation.score, 0, model, now),
      pendingEvents: lead.events.map((event) => pendingEventOf(event, appliedAt, evaluation.lead.modelVersion)),
    };
    const commit: TransactItems = [
      { Put: { TableName: table.tableName, ...leadPut(next, undefined, table) } },
      ...lead.claims.map((key) => aliasPut(table.tableName, key, lead.leadId, appliedAt)),
    ];
    return { ...lead, next, commit, raws: rawItems(table, lead.events, pk, rawExpiresAt), putKeys: [] };
  });

  // Raw payloads and event items are settled before they are written: put 25 to a request, not one each.
  await table.putAll(prepared.flatMap((lead) => lead.raws));
  for (const lead of prepared) lead.putKeys.push(...lead.raws.map((item) => ({ pk: item.pk as string, sk: item.sk as string })));
  const committed: Prepared[] = [];
  const rest: string[] = [];
  for (const group of commitGroups(prepared)) {
    try {
      await table.send(group.flatMap((lead) => lead.commit));
      committed.push(...group);
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) {
        // Nothing counts the events of the groups not committed: their raw payloads go, so a 5xx leaves
        // nothing of them (the committed ones are completed by the sender's retry, ./lead-first.ts).
        const uncommitted = prepared.filter((lead) => !committed.includes(lead));
        await deleteItems(
          table,
          uncommitted.flatMap((lead) => lead.putKeys),
        ).catch(() => {});
        throw error;
      }
      // A lead created or a key taken since they were read: those leads are decided again one at a time.
      table.stats.conflicts += 1;
      rest.push(...group.map((lead) => lead.leadId));
    }
  }

  // Counted by their committed leads, and no other writer could count them first (the leads did not exist):
  // put without a condition. One already expired (an old visit past EVENT_RETENTION_DAYS) is not stored.
  const nowSeconds = now.getTime() / 1000;
  const eventItems = committed.flatMap((lead) =>
    lead.next.pendingEvents!.map((event) => {
      const item = eventItem(table, leadPk(lead.leadId), event);
      lead.putKeys.push({ pk: item.pk as string, sk: item.sk as string });
      return item;
    }),
  );
  await table.putAll(
    eventItems.filter((item) => {
      const expiresAt = item[tableLayout.ttlAttribute];
      return typeof expiresAt !== 'number' || expiresAt > nowSeconds;
    }),
  );
  const done: LeadOutcome[] = [];
  const slow = performance.now() - readAt > table.writeWindowMs;
  for (const lead of committed) {
    // A write slower than the erasure's wait: the person may have been erased meanwhile (./lead-first.ts).
    if (slow && (await erasedMeanwhile(table, lead.leadId, true))) {
      await deleteItems(table, [...lead.putKeys, ...lead.claims.map((key) => ({ pk: leadPk(key), sk: profileSk }))]);
      await deleteLead(table, lead.next);
      rest.push(lead.leadId);
      continue;
    }
    done.push(outcomeOf(lead.next, lead.events.length, 0, 0));
  }
  return { done, rest };
}

/**
 * The leads of a delivery that ./fresh-leads.ts can write together: an e-mail lead not stored (as read ahead),
 * whose person has no tombstone (read ahead too; each read is used once), whose events fit one lead-first write
 * and link keys that no item had when read; without such a key a lead's commit is a lone PutItem, cheaper alone.
 */
export function freshLeadsWithClaims(
  byLead: ReadonlyMap<string, NormalizedEvent[]>,
  readOf: (leadId: string) => StoredLead | undefined,
  linked: LinkedReads,
  erasure: ErasureContext,
): FreshLead[] {
  const fresh: FreshLead[] = [];
  for (const [leadId, events] of byLead) {
    if (!isEmailLeadId(leadId) || readOf(leadId) !== undefined) continue;
    const claims = [...new Set(events.flatMap((event) => linkedKeysOf(event)))];
    if (claims.length === 0 || claims.some((key) => !linked.has(key) || linked.get(key) !== undefined)) continue;
    if (nextWrite(events).length < events.length) continue;
    // [erasure] Erasures on (a pseudonym key): the tombstone read ahead must say none, and is used up here.
    if (hasPseudonymKey()) {
      if (!erasure.tombstones?.has(leadId) || erasure.tombstones.get(leadId) !== undefined) continue;
      erasure.tombstones.delete(leadId);
    }
    fresh.push({ leadId, events, claims });
  }
  // A key two new leads both name (a shared browser in one batch): neither goes together; one at a time decides.
  const counts = new Map<string, number>();
  for (const lead of fresh) for (const key of lead.claims) counts.set(key, (counts.get(key) ?? 0) + 1);
  return fresh.filter((lead) => lead.claims.every((key) => counts.get(key) === 1));
}
