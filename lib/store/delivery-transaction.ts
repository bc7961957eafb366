/**
 * A delivery of several leads written as ONE TransactWriteItems when it fits DynamoDB's limits (100
 * items, 4 MB), so a failure stores nothing of it and the sender's retry finds nothing half done: the
 * "a 5xx means nothing was stored" rule of docs/operator-contract.md. What does not fit, is a
 * redelivery, needs a merge (phone numbers, lib/store/merge.ts) or names an erased person (lib/store/tombstones.ts)
 * goes lead by lead (lib/store/lead-writes.ts).
 */
import { utf8Bytes } from '../core/budget.ts';
import type { NormalizedEvent } from '../core/events.ts';
import { isEmailLeadId, linkedKeysOf } from '../core/identity.ts';
import { applyEvents, newLead } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import { eventSk } from './keys.ts';
import { pendingEventsOf } from './lead-first.ts';
import { maxItemsPerTransaction, maxTransactionJsonBytes, nextChunk, outcomeOf, toStored, transactionItems } from './lead-transaction.ts';
import type { LeadOutcome, StoredLead } from './repository.ts';
import type { StoreTable, TransactItems } from './table.ts';

/** Whether a lead's events can go in a shared transaction: no merge to plan, no merge under way. */
function writesAlone(leadId: string, current: StoredLead | undefined, events: readonly NormalizedEvent[]): boolean {
  if (current?.mergedInto || current?.mergingFrom) return false;
  if (!isEmailLeadId(leadId)) return false;
  // An event pending on the lead is counted, its item perhaps not written (./lead-first.ts): the lead's own write sorts it out.
  const pending = new Set(pendingEventsOf(current).map((event) => eventSk(event)));
  if (events.some((event) => pending.has(eventSk(event)))) return false;
  const held = new Set(current?.aliases ?? []);
  return events.every((event) => linkedKeysOf(event).every((key) => held.has(key)));
}

/**
 * The items of every lead's write in one transaction, with each lead's outcome once it commits; undefined
 * when the delivery must go lead by lead.
 */
export function deliveryTransaction(
  table: StoreTable,
  groups: readonly (readonly [string, NormalizedEvent[]])[],
  readOf: (leadId: string) => StoredLead | undefined,
  model: ScoringModel,
  now: Date,
  creation: (leadId: string) => { guard?: TransactItems[number] } | undefined,
): { items: TransactItems; outcomes: LeadOutcome[] } | undefined {
  const items: TransactItems = [];
  const outcomes: LeadOutcome[] = [];
  for (const [leadId, events] of groups) {
    const current = readOf(leadId);
    if (!writesAlone(leadId, current, events)) return undefined;
    if (nextChunk(events, new Set(), 0).length < events.length) return undefined;
    // A lead created here carries the check that its person was not erased meanwhile (./tombstones.ts).
    const created = current ? {} : creation(leadId);
    if (!created) return undefined;
    const evaluation = applyEvents(current ?? newLead(leadId, now, model), events, model, now);
    const next = toStored(evaluation.lead, evaluation.score, current?.version ?? 0, model, now);
    items.push(...transactionItems(table, events, new Set(), undefined, next, current?.version, now, undefined).items);
    if (created.guard) items.push(created.guard);
    if (items.length > maxItemsPerTransaction) return undefined;
    outcomes.push(outcomeOf(next, events.length, 0, 0));
  }
  if (utf8Bytes(JSON.stringify(items)) > maxTransactionJsonBytes) return undefined;
  return { items, outcomes };
}
