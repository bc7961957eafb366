/**
 * Provider-key leads merged into e-mail leads (a phone-only lead; a visitor `anon:<anonymousId>` and a
 * `user:<userId>`, lib/core/identity.ts `linkedKeysOf`): what a write of an e-mail lead takes over (a phone lead to
 * absorb, or the bare phone key as an alias), the redirection of events of a merged lead, and the
 * retirement of a merged lead met by the decay job. ./lead-writes.ts carries the plan out in its
 * transactions.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { NormalizedEvent } from '../core/events.ts';
import { isEmailLeadId, isVisitorLeadId, linkedKeysOf } from '../core/identity.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { leadPk, profileSk } from './keys.ts';
import type { LeadOutcome, StoredLead } from './repository.ts';
import type { StoreTable } from './table.ts';

/** A provider key the lead written takes (see `writeLead`). */
export interface MergePlan {
  /** The key, e.g. `phone:+14155550123`. */
  from: string;
  /**
   * How the key is taken, in the first transaction: `absorb` the lead of that key, conditioned on the
   * version whose events were read (`idle`: its outbox was empty, so it also leaves the due index);
   * `alias` a key no lead holds yet. Undefined once taken (a merge being completed).
   */
  claim: { kind: 'absorb'; version: number; idle: boolean } | { kind: 'alias' } | undefined;
  /**
   * Other keys the events name that no lead has yet, taken as aliases in the same transaction as the claim
   * (a visitor's `anon:` and `user:` keys on the same identify): one write for all, not one each.
   */
  alsoAliases: string[];
  /** Whether the key had a lead with events of its own: it is then listed in `mergedFrom`. */
  absorbs: boolean;
  /** Its events, re-keyed to the absorbing lead, not yet written there. */
  copies: NormalizedEvent[];
}

/**
 * Reads every provider-key lead the events name (never an e-mail lead: those are never merged away):
 * `into` maps the merged ones to their e-mail lead, `read` keeps the others as read.
 */
export async function resolveMerged(
  table: StoreTable,
  events: readonly NormalizedEvent[],
): Promise<{ into: Map<string, string>; read: Map<string, StoredLead | undefined> }> {
  const into = new Map<string, string>();
  const read = new Map<string, StoredLead | undefined>();
  const providerKeys = [...new Set(events.map((event) => event.leadKey).filter((leadKey) => !isEmailLeadId(leadKey)))];
  if (providerKeys.length === 0) return { into, read };
  await mapWithConcurrency(providerKeys, table.concurrency, async (leadKey) => {
    const lead = await table.getLead(leadKey);
    if (lead?.mergedInto) into.set(leadKey, lead.mergedInto);
    else read.set(leadKey, lead);
  });
  return { into, read };
}

/** What a delivery read of the keys its events link, in one batch: the item at each key, or undefined for a free key. */
export type LinkedReads = ReadonlyMap<string, StoredLead | undefined>;

/**
 * The keys the events link that an e-mail lead does not hold yet, read consistently in one BatchGetItem
 * (100 keys a request) for every lead of a delivery at once, rather than a GetItem per key per lead.
 */
export async function readLinkedKeys(
  table: StoreTable,
  groups: Iterable<readonly [string, readonly NormalizedEvent[]]>,
  readOf: (leadId: string) => StoredLead | undefined,
): Promise<Map<string, StoredLead | undefined>> {
  const wanted = new Set<string>();
  for (const [leadId, events] of groups) {
    if (!isEmailLeadId(leadId)) continue;
    const held = new Set(readOf(leadId)?.aliases ?? []);
    for (const key of events.flatMap((event) => linkedKeysOf(event))) if (!held.has(key)) wanted.add(key);
  }
  if (wanted.size === 0) return new Map();
  const found = await table.readLeads([...wanted]);
  return new Map([...wanted].map((key) => [key, found.get(key)]));
}

/**
 * What, if anything, this write takes: a merge E left half-done (`mergingFrom`), else the provider keys the
 * call's events name (phone, visitor, user id: `linkedKeysOf`) that E does not hold yet, read in one
 * consistent BatchGetItem (or taken from `known`, what the delivery read ahead): the first key whose lead
 * exists and is free is absorbed; every key no lead has is taken as an alias in the same transaction (a
 * phone-only lead of that number, a visitor's later page view, arriving later goes straight to E). Costs
 * nothing for events without such keys, or with keys E already holds; a Query of a lead's events only when
 * one is absorbed. A key another e-mail lead holds is left to it (a shared phone, a shared computer).
 */
export async function planMerge(
  table: StoreTable,
  leadId: string,
  current: StoredLead | undefined,
  events: readonly NormalizedEvent[],
  heldElsewhere: Set<string>,
  known?: LinkedReads,
): Promise<MergePlan | undefined> {
  if (!isEmailLeadId(leadId)) return undefined;
  // A visitor's events are marked as its anonymous history (shown so by mql explain and GET /leads).
  const rekeyFrom = (from: string) => (event: NormalizedEvent) => ({
    ...event,
    leadKey: leadId,
    ...(isVisitorLeadId(from) ? { anonymous: true as const } : {}),
  });
  if (current?.mergingFrom) {
    // Already claimed by this lead: copy again; what is stored already is skipped as a duplicate.
    return {
      from: current.mergingFrom,
      claim: undefined,
      alsoAliases: [],
      absorbs: true,
      copies: (await table.listEvents(current.mergingFrom, { consistent: true })).map(rekeyFrom(current.mergingFrom)),
    };
  }
  const held = new Set(current?.aliases ?? []);
  const keys = [...new Set(events.flatMap((event) => linkedKeysOf(event)))].filter((key) => !held.has(key) && !heldElsewhere.has(key));
  if (keys.length === 0) return undefined;
  const unread = keys.filter((key) => !known?.has(key));
  // One key (the common case: a phone, a user id) is a GetItem; several, one BatchGetItem.
  const read =
    unread.length === 1
      ? new Map(await table.getLead(unread[0]!).then((lead) => (lead ? [[lead.leadId, lead] as const] : [])))
      : unread.length > 1
        ? await table.readLeads(unread)
        : new Map<string, StoredLead>();
  const itemAt = (key: string) => (known?.has(key) ? known.get(key) : read.get(key));
  const free = keys.filter((key) => itemAt(key) === undefined);
  for (const key of keys) {
    const candidate = itemAt(key);
    if (!candidate) continue;
    if (candidate.mergedInto) {
      // Another e-mail lead holds the key (a shared phone, a visitor on a shared computer): the first one keeps it.
      heldElsewhere.add(key);
      continue;
    }
    // Read after the lead, consistently: every event of the version read is in the answer, those pending
    // on it included (more only if the lead moved on, and then the claim, conditioned on that version,
    // fails and this runs again).
    const copies = (await table.listEvents(key, { consistent: true, lead: candidate })).map(rekeyFrom(key));
    return {
      from: key,
      claim: { kind: 'absorb', version: candidate.version, idle: Object.keys(candidate.outbox ?? {}).length === 0 },
      alsoAliases: free,
      absorbs: true,
      copies,
    };
  }
  const [first, ...rest] = free;
  return first === undefined ? undefined : { from: first, claim: { kind: 'alias' }, alsoAliases: rest, absorbs: false, copies: [] };
}

/**
 * A merged lead met by the decay job: nothing of its own to score. Hands back handoffs still in its
 * outbox (decided before the merge) so they are sent; with none left, takes it out of the due index.
 */
export async function retireMerged(table: StoreTable, lead: StoredLead, applied: number, duplicates: number, merged: number): Promise<LeadOutcome> {
  const outbox = Object.values(lead.outbox ?? {});
  if (outbox.length === 0 && lead.dueAt !== undefined) {
    await table.client
      .send(
        new UpdateCommand({
          TableName: table.tableName,
          Key: { pk: leadPk(lead.leadId), sk: profileSk },
          UpdateExpression: 'REMOVE dueAt, dueShard SET version = version + :one',
          ConditionExpression: 'version = :version',
          ExpressionAttributeValues: { ':one': 1, ':version': lead.version },
        }),
      )
      .catch((error: unknown) => {
        // Changed meanwhile (its outbox confirmed): the next decay run looks again.
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }
  return { leadId: lead.leadId, applied, duplicates, merged, status: lead.status, outbox };
}

/** Whether the call's events name a provider key (phone, visitor, user id) the lead does not hold yet, nor another lead (several in one delivery). */
export function mayAbsorbMore(lead: StoredLead, events: readonly NormalizedEvent[], heldElsewhere: ReadonlySet<string>): boolean {
  if (!isEmailLeadId(lead.leadId)) return false;
  const held = new Set(lead.aliases ?? []);
  return events.some((event) => linkedKeysOf(event).some((key) => !held.has(key) && !heldElsewhere.has(key)));
}

/** A list of keys with one more, each once. */
export function union(list: readonly string[] | undefined, key: string): string[] {
  return [...new Set([...(list ?? []), key])];
}
