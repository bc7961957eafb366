/**
 * Writing leads: a delivery of several leads in one TransactWriteItems when it fits (lib/store/delivery-transaction.ts),
 * else events applied and scored in ONE TransactWriteItems per lead per call (per ~49 events),
 * a conditional put per event (`attribute_not_exists`, so a redelivery is a no-op) and the lead guarded
 * by its `version`; re-evaluation by the decay job and rebuilding by a rescore through the same path.
 */
import { performance } from 'node:perf_hooks';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { NormalizedEvent } from '../core/events.ts';
import { canonicalLeadId } from '../core/identity.ts';
import type { Lead } from '../core/lead.ts';
import { applyEvents, evaluateLead, newLead } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import { replayLead } from '../core/replay.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { deliveryTransaction } from './delivery-transaction.ts';
import { freshLeadsWithClaims, writeFreshLeadsTogether } from './fresh-leads.ts';
import { eventSk, leadPk } from './keys.ts';
import { pendingEventsOf, writeLeadFirst } from './lead-first.ts';
import type { ScannedLead } from './lead-histories.ts';
import { changed, minEventsToLookUp, nextChunk, outcomeOf, replacesState, storedEventKey, toStored, transactionItems } from './lead-transaction.ts';
import type { LinkedReads, MergePlan } from './merge.ts';
import { mayAbsorbMore, planMerge, readLinkedKeys, resolveMerged, retireMerged, union } from './merge.ts';
import type { ApplyResult, LeadOutcome, StoredLead } from './repository.ts';
import type { StoreTable, TransactItems } from './table.ts';
import { backoffMs, sleep } from './table.ts';
import type { ErasureContext } from './tombstones.ts';
import { creationGuard, erasureGate, readTombstones } from './tombstones.ts';

export class LeadWriter {
  private readonly table: StoreTable;

  constructor(table: StoreTable) {
    this.table = table;
  }

  /**
   * Stores and scores events: grouped by lead, one transaction per lead, leads in parallel (bounded).
   * Events for a provider-key lead that was merged into an e-mail lead (`mergedInto`) are resolved to
   * that lead first, so they group with its other events; the read this takes is the one the write of
   * the provider-key lead would make anyway, and is handed to it.
   */
  async apply(given: readonly NormalizedEvent[], model: ScoringModel, now: Date): Promise<ApplyResult> {
    // Before anything is read: how long a lead-first write took counts from here (./lead-first.ts).
    const startedAt = performance.now();
    // The model may fold addresses (plus tags, Gmail dots): every event is filed under the lead it names.
    const events = model.identity ? given.map((event) => ({ ...event, leadKey: canonicalLeadId(event.leadKey, model) })) : given;
    const resolved = await resolveMerged(this.table, events);
    const byLead = new Map<string, NormalizedEvent[]>();
    for (const original of events) {
      const target = resolved.into.get(original.leadKey);
      const event = target ? { ...original, leadKey: target } : original;
      const list = byLead.get(event.leadKey) ?? [];
      // The same event twice in one delivery counts once.
      if (!list.some((other) => other.source === event.source && other.sourceEventId === event.sourceEventId)) list.push(event);
      byLead.set(event.leadKey, list);
    }
    const duplicatesWithinDelivery = events.length - [...byLead.values()].reduce((sum, list) => sum + list.length, 0);
    // A delivery of several leads reads them in batches of 100 rather than one GetItem each; a delivery of
    // many events that turns out to be a redelivery (SendGrid resends a whole batch after a 5xx) has its
    // events looked up first, so it costs reads, not a cancelled transaction per lead. What was read may be
    // stale by the time of the write: the version condition and the events' own conditions still decide.
    const readAhead =
      byLead.size > 1 ? await this.table.readLeads([...byLead.keys()].filter((leadId) => !resolved.read.has(leadId))) : new Map<string, StoredLead>();
    const stored = events.length >= minEventsToLookUp ? await this.storedEventKeysOfRedelivery([...byLead.values()].flat()) : new Set<string>();
    const readOf = (leadId: string) => (resolved.read.has(leadId) ? resolved.read.get(leadId) : readAhead.get(leadId));
    // [erasure] The leads of a delivery not stored yet have their tombstones read in batches too (see writeLead);
    // beside them, the keys the events link that their leads do not hold yet (a fresh visitor's `user:` key),
    // which each lead's write would otherwise read on its own (./merge.ts planMerge).
    const [tombstones, linked] =
      byLead.size > 1
        ? await Promise.all([
            readTombstones(
              this.table,
              [...byLead.keys()].filter((leadId) => !readOf(leadId)),
            ),
            readLinkedKeys(this.table, byLead, readOf),
          ])
        : [undefined, undefined];
    const erasure: ErasureContext = { refused: [], ...(tombstones ? { tombstones } : {}) };
    // Several leads, none of it stored yet: all in one transaction when it fits, so a failure stores nothing.
    if (byLead.size > 1 && stored.size === 0) {
      const together = deliveryTransaction(this.table, [...byLead], readOf, model, now, (leadId) => creationGuard(this.table, leadId, erasure));
      if (together && (await this.sendTogether(together.items))) {
        return {
          failed: [],
          applied: together.outcomes.reduce((sum, lead) => sum + lead.applied, 0),
          duplicates: duplicatesWithinDelivery,
          leads: together.outcomes,
          erased: [],
        };
      }
    }
    // New leads taking keys no lead has (a tracking batch's new users): committed together (./fresh-leads.ts);
    // the others, and any handed back, one at a time below.
    const fresh = stored.size === 0 && linked ? freshLeadsWithClaims(byLead, readOf, linked, erasure) : [];
    const together = fresh.length > 1 ? await writeFreshLeadsTogether(this.table, fresh, model, now, startedAt) : { done: [], rest: [] };
    const written = new Set(together.done.map((outcome) => outcome.leadId));
    // One lead's failure must not cost the others: every lead is attempted, failures are reported.
    const settled = await mapWithConcurrency(
      [...byLead].filter(([leadId]) => !written.has(leadId)),
      this.table.concurrency,
      ([leadId, leadEvents]) => {
        const prefetched = resolved.read.has(leadId) || byLead.size > 1 ? { lead: readOf(leadId), linked } : undefined;
        const fresh = leadEvents.filter((event) => !stored.has(storedEventKey(event)));
        const current = prefetched?.lead;
        let write: Promise<LeadOutcome>;
        if (fresh.length > 0) {
          const known = leadEvents.length - fresh.length;
          write = this.writeLead(leadId, fresh, model, now, prefetched, 0, erasure, startedAt).then((outcome) => ({
            ...outcome,
            duplicates: outcome.duplicates + known,
          }));
        } else if (current && !current.mergedInto && !current.mergingFrom) {
          // Every event already stored: nothing to write; hand back what is still in the outbox.
          write = Promise.resolve(outcomeOf(current, 0, leadEvents.length, 0));
        } else {
          write = this.writeLead(leadId, leadEvents, model, now, prefetched, 0, erasure, startedAt);
        }
        return write.then(
          (outcome) => ({ ok: true as const, outcome }),
          (error: unknown) => ({ ok: false as const, leadId, error }),
        );
      },
    );
    const leads = [...together.done, ...settled.flatMap((result) => (result.ok ? [result.outcome] : []))];
    const failed = settled.flatMap((result) => (result.ok ? [] : [{ leadId: result.leadId, error: result.error }]));
    return {
      failed,
      applied: leads.reduce((sum, lead) => sum + lead.applied, 0),
      duplicates: leads.reduce((sum, lead) => sum + lead.duplicates, 0) + duplicatesWithinDelivery,
      leads,
      erased: erasure.refused.map((event) => event.sourceEventId),
    };
  }

  /**
   * Sends a whole delivery's transaction: true when it committed; false when DynamoDB cancelled it (an
   * event already stored, a lead written meanwhile), and the delivery goes lead by lead, which sorts
   * those out. Any other failure is thrown: nothing was stored.
   */
  private async sendTogether(items: TransactItems): Promise<boolean> {
    try {
      await this.table.send(items);
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      this.table.stats.conflicts += 1;
      return false;
    }
  }

  /**
   * For a delivery that looks like a redelivery (its first event is already stored), which of its events
   * are stored; for a first delivery one GetItem says so and nothing more is read.
   */
  private async storedEventKeysOfRedelivery(events: readonly NormalizedEvent[]): Promise<Set<string>> {
    const first = events[0];
    if (!first) return new Set();
    const probe = await this.table.client.send(
      new GetCommand({
        TableName: this.table.tableName,
        Key: { pk: leadPk(first.leadKey), sk: eventSk(first) },
        ProjectionExpression: 'pk',
        ConsistentRead: true,
      }),
    );
    return probe.Item ? this.storedEventKeys(events) : new Set();
  }

  /** Which of these events are already stored, as {@link storedEventKey}s. */
  private async storedEventKeys(events: readonly NormalizedEvent[]): Promise<Set<string>> {
    const items = await this.table.batchGet(
      events.map((event) => ({ pk: leadPk(event.leadKey), sk: eventSk(event) })),
      'pk, sk',
    );
    return new Set(items.map((item) => `${item.pk as string}|${item.sk as string}`));
  }

  /**
   * Re-evaluates a lead at `now` with no new events (the decay job). `read` is the lead as the due index
   * gave it, to spare a second read: the write is conditioned on its version, so a stale copy only costs
   * a retry from a consistent read.
   */
  async reevaluate(leadId: string, model: ScoringModel, now: Date, read?: StoredLead): Promise<LeadOutcome> {
    return this.writeLead(leadId, [], model, now, read ? { lead: read } : undefined);
  }

  /**
   * Writes a lead's events, chunk by chunk, each chunk one transaction with the lead's new state.
   *
   * Merging. When an e-mail lead E receives an event whose profile carries a phone P (normalized) that E
   * does not hold yet (`aliases`), E takes the key `phone:P`:
   * - No lead has it: E writes an alias item there (`mergedInto: E`, conditioned on the key being free)
   *   in the same transaction, so a phone-only lead of that number arriving later goes to E. Whichever
   *   order the e-mail and the phone-only form come in, the events end on E.
   * - The lead `phone:P` exists and is not merged: E absorbs it. Its stored events are copied under E's
   *   partition with their own keys (`EVT#<occurredAt>#<source>#<sourceEventId>`, `attribute_not_exists`,
   *   so a copy is never stored twice) and applied to E's state with E's own events. The first
   *   transaction with copies also claims P (`mergedInto: E`, conditioned on the version whose events
   *   were read and on P not being merged): two writers cannot both absorb P, and once claimed P takes no
   *   events of its own (every write to it is redirected to E). When the copies need more than one
   *   transaction, E carries `mergingFrom: P` until the last one and is due now meanwhile: a crash
   *   half-way is completed by E's next write or by the decay job, copies already stored being skipped.
   * - Another e-mail lead holds it (a shared number): the first one keeps it, nothing is merged.
   * P's own EVT and RAW items stay where they were received (audit; raw payloads expire by TTL as every
   * raw does). P is never scored again, so they are never counted twice.
   * The same for every provider key an event names (lib/core/identity.ts `linkedKeysOf`): a Segment visitor
   * `anon:<anonymousId>` and `user:<userId>` (the event's `links`) are taken exactly as a phone is, so a
   * visitor's events become E's once each, at their own times, and later events of the key go to E.
   *
   * Erased people: a write that would create the lead first reads its tombstone (`erasure` collects the
   * events it refuses) and conditions the creating transaction on it (./tombstones.ts).
   */
  private async writeLead(
    leadId: string,
    events: NormalizedEvent[],
    model: ScoringModel,
    now: Date,
    /** What the delivery read already: the lead, and perhaps the keys its events link (./merge.ts readLinkedKeys). */
    prefetched?: { lead: StoredLead | undefined; linked?: LinkedReads | undefined },
    depth = 0,
    erasure: ErasureContext = { refused: [] },
    /** When the call began reading the lead and its tombstone (performance.now()). */
    startedAt = performance.now(),
  ): Promise<LeadOutcome> {
    let pending = events;
    let applied = 0;
    let duplicates = 0;
    let merged = 0;
    let attempt = 0;
    let merge: MergePlan | undefined;
    let planned = false;
    let firstRead = prefetched;
    /** The linked keys as the delivery read them: for the first plan only; a plan made again reads afresh. */
    let linkedRead = prefetched?.linked;
    /** Phone keys this call found held by another e-mail lead: not read again on a retry. */
    const heldElsewhere = new Set<string>();
    /**
     * Copies this call took from absorbed leads: the keys they name are taken in turn, so a `user:` lead whose
     * events named a visitor brings that visitor along (lib/core/identity.ts `linkedKeysOf`).
     */
    const absorbed: NormalizedEvent[] = [];
    /** Set once the lead-first way handed back (a merge under way, an erasure): the rest goes by transaction. */
    let transactional = false;
    for (;;) {
      const current = firstRead ? firstRead.lead : await this.table.getLead(leadId);
      firstRead = undefined;
      // [erasure] A lead about to be created may be a person erased: the events from before the erasure are
      // refused, and the creating transaction checks the tombstone is still as read (lib/store/tombstones.ts).
      let erasureGuard: TransactItems[number] | undefined;
      let erasedBefore = false;
      if (!current) {
        const gate = await erasureGate(this.table, leadId, pending, erasure);
        erasureGuard = gate.guard;
        erasedBefore = gate.tombstone !== undefined;
        if (gate.refused.length > 0) {
          erasure.refused.push(...gate.refused);
          pending = gate.accepted;
          events = events.filter((event) => !gate.refused.includes(event));
        }
      }
      if (current?.mergedInto) {
        // Absorbed since it was resolved (or the decay job found it): its events belong to the other lead.
        if (pending.length === 0) return retireMerged(this.table, current, applied, duplicates, merged);
        if (depth > 0) throw new Error(`lead ${leadId} is merged into ${current.mergedInto}, itself merged: a chain of merges`);
        const target = current.mergedInto;
        const outcome = await this.writeLead(
          target,
          pending.map((event) => ({ ...event, leadKey: target })),
          model,
          now,
          undefined,
          depth + 1,
          erasure,
          startedAt,
        );
        return { ...outcome, applied: outcome.applied + applied, duplicates: outcome.duplicates + duplicates, merged: outcome.merged + merged };
      }
      if (!planned) {
        merge = await planMerge(this.table, leadId, current, [...events, ...absorbed], heldElsewhere, linkedRead);
        linkedRead = undefined;
        planned = true;
        if (merge) {
          // A redelivery of the absorbed lead's event (resolved here) is the copy itself: stored once, as the
          // copy (one transaction may not name the same item twice).
          const copyKeys = new Set(merge.copies.map((copy) => eventSk(copy)));
          const same = pending.filter((event) => copyKeys.has(eventSk(event)));
          duplicates += same.length;
          pending = pending.filter((event) => !same.includes(event));
        }
      }
      // The common case, without a transaction: events only, no merge beyond keys no lead has, the person not
      // erased before (./lead-first.ts; its commit takes such keys).
      const claimsOnly = merge?.claim?.kind === 'alias' && !merge.absorbs ? [merge.from, ...merge.alsoAliases] : undefined;
      if (!transactional && (!merge || claimsOnly) && pending.length > 0 && !current?.mergingFrom && !(current === undefined && erasedBefore)) {
        const written = await writeLeadFirst(this.table, leadId, pending, model, now, current, startedAt, claimsOnly);
        if ('done' in written) {
          const outcome = written.done;
          return { ...outcome, applied: outcome.applied + applied, duplicates: outcome.duplicates + duplicates, merged: outcome.merged + merged };
        }
        applied += written.applied;
        duplicates += written.duplicates;
        pending = written.rest;
        transactional = true;
        planned = false;
        firstRead = written.lead ? { lead: written.lead } : undefined;
        continue;
      }
      // Events pending on the lead (its last lead-first write) are counted, their items perhaps not stored:
      // redeliveries, which a transaction's conditional put would not see.
      const counted = new Set(pendingEventsOf(current).map((event) => eventSk(event)));
      if (counted.size > 0) {
        const before = pending.length;
        pending = pending.filter((event) => !counted.has(eventSk(event)));
        duplicates += before - pending.length;
        // A copy from the lead being absorbed that this lead already counts (the same provider event) is not copied.
        if (merge) merge = { ...merge, copies: merge.copies.filter((copy) => !counted.has(eventSk(copy))) };
      }
      const copies = new Set(merge?.copies ?? []);
      const taking = merge?.claim ? merge : undefined;
      // Beside the lead: a merge's claims and the erasure check each take an item of the transaction.
      const chunk = nextChunk([...copies, ...pending], copies, (taking ? 1 + taking.alsoAliases.length : 0) + (erasureGuard ? 1 : 0));
      if (!current && chunk.length === 0) return { leadId, applied, duplicates, merged, status: undefined, outbox: [] };
      if (current && chunk.length === 0 && events.length > 0 && !merge) {
        // Everything was a redelivery: nothing to write, but hand back what is still in the outbox.
        return outcomeOf(current, applied, duplicates, merged);
      }
      // The key is held from the transaction that takes it on, so a handoff decided there already names it.
      const base: Lead & Partial<StoredLead> = current ?? newLead(leadId, now, model);
      const holding = taking
        ? {
            ...base,
            aliases: [taking.from, ...taking.alsoAliases].reduce<string[] | undefined>(union, base.aliases),
            ...(taking.absorbs ? { mergedFrom: union(base.mergedFrom, taking.from) } : {}),
          }
        : base;
      const evaluation = chunk.length > 0 ? applyEvents(holding, chunk, model, now) : evaluateLead(holding, model, now);
      const completesMerge = merge !== undefined && [...copies].every((copy) => chunk.includes(copy));
      const next = toStored(
        evaluation.lead,
        evaluation.score,
        current?.version ?? 0,
        model,
        now,
        merge && !completesMerge ? merge.from : merge ? undefined : current?.mergingFrom,
      );
      if (current && chunk.length === 0 && !merge && !changed(current, next)) return outcomeOf(current, applied, duplicates, merged);
      const transaction = transactionItems(this.table, chunk, copies, merge?.from, next, current?.version, now, taking);
      if (erasureGuard) transaction.items.push(erasureGuard); // [erasure] last, so the other items' indexes stay
      try {
        await this.table.send(transaction.items);
        const written = chunk.filter((event) => !copies.has(event));
        applied += written.length;
        merged += chunk.length - written.length;
        absorbed.push(...chunk.filter((event) => copies.has(event)));
        pending = pending.filter((event) => !chunk.includes(event));
        if (merge) {
          merge = completesMerge ? undefined : { ...merge, claim: undefined, alsoAliases: [], copies: merge.copies.filter((copy) => !chunk.includes(copy)) };
          // Another phone of the same delivery may name another lead to absorb.
          if (completesMerge) planned = false;
        }
        if (pending.length === 0 && !merge && (planned || !mayAbsorbMore(next, [...events, ...absorbed], heldElsewhere)))
          return outcomeOf(next, applied, duplicates, merged);
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = error.CancellationReasons ?? [];
        // An event whose put failed is already stored: a redelivery, or a copy another writer made.
        const stored = new Set<NormalizedEvent>();
        chunk.forEach((event, index) => {
          if (reasons[transaction.eventIndex[index]!]?.Code === 'ConditionalCheckFailed') stored.add(event);
        });
        duplicates += [...stored].filter((event) => !copies.has(event)).length;
        pending = pending.filter((event) => !stored.has(event));
        if (merge) merge = { ...merge, copies: merge.copies.filter((copy) => !stored.has(copy)) };
        const claimLost = transaction.claimIndexes.some((index) => reasons[index]?.Code === 'ConditionalCheckFailed');
        const leadConflict =
          reasons[transaction.leadIndex]?.Code === 'ConditionalCheckFailed' || reasons.some((reason) => reason.Code === 'TransactionConflict');
        if (!leadConflict && !claimLost && stored.size > 0) continue;
        // Someone else wrote the lead, or the lead to absorb changed or was absorbed: decide again from what is stored now.
        planned = false;
        this.table.stats.conflicts += 1;
        attempt += 1;
        if (attempt >= this.table.maxAttempts) throw new Error(`lead ${leadId}: gave up after ${attempt} conflicting writes`, { cause: error });
        await sleep(backoffMs(attempt));
      }
    }
  }

  /**
   * Rebuilds a lead from its stored events under `model` at `now` (rescore) and writes it only when its
   * state changes (status, score, recycle time, outbox: see replacesState), through the same version-guarded
   * transaction as every write, retried on conflict. A transition it causes is in the returned outbox, for
   * the caller to enqueue like any other; so is a handoff still waiting there from before.
   * A merged or unknown lead is skipped; a merge left half-done is completed first.
   *
   * `scanned` is the lead as the rescore's Scan read it (lib/store/lead-histories.ts): it stands for the
   * first read when it is whole (as many events as the lead counted), has no handoff waiting and no merge
   * under way; otherwise, and after any conflict, the lead and its events are read again, consistently.
   * A stale copy cannot be written over a newer lead: the write expects the version the Scan saw, so a lead
   * written since fails it and is rebuilt from the consistent read. A stale copy found unchanged is left as
   * it is, as the consistent read would have left it had the newer write come just after it.
   */
  async replaceState(
    leadId: string,
    model: ScoringModel,
    now: Date,
    scanned?: ScannedLead,
  ): Promise<{ before?: Lead['status']; after?: Lead['status']; written: boolean; incomplete?: true; outcome?: LeadOutcome }> {
    let read = scanned && trustsScan(scanned) ? scanned : undefined;
    for (let attempt = 1; ; attempt += 1) {
      const current = read ? read.lead : await this.table.getLead(leadId);
      if (!current || current.mergedInto) return { written: false };
      if (current.mergingFrom) {
        await this.writeLead(leadId, [], model, now);
        continue;
      }
      const events = read ? read.events : await this.table.listEvents(leadId, { consistent: true, lead: current });
      read = undefined;
      // [retention] Fewer events stored than the lead counted: some expired (EVENT_RETENTION_DAYS). A rebuild
      // from what is left would forget what they brought; the lead keeps the state it holds.
      if (events.length < current.eventCount)
        return { before: current.status, after: current.status, written: false, incomplete: true, outcome: outcomeOf(current, 0, 0, 0) };
      const evaluation = replayLead(current, events, model, now);
      const next = toStored(evaluation.lead, evaluation.score, current.version, model, now);
      if (!replacesState(current, next, model, now))
        return { before: current.status, after: current.status, written: false, outcome: outcomeOf(current, 0, 0, 0) };
      try {
        await this.table.send(transactionItems(this.table, [], new Set(), undefined, next, current.version, now, undefined).items);
        return { before: current.status, after: next.status, written: true, outcome: outcomeOf(next, 0, 0, 0) };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        this.table.stats.conflicts += 1;
        if (attempt >= this.table.maxAttempts) throw new Error(`lead ${leadId}: gave up after ${attempt} conflicting writes`, { cause: error });
        await sleep(backoffMs(attempt));
      }
    }
  }
}

/**
 * Whether a lead as the Scan read it can stand for a consistent read: its events are all there (fewer would
 * look like events expired, more like a write between the two reads), no handoff waits in its outbox (a
 * stale copy could hand off again what was already queued) and no merge is under way or done.
 */
function trustsScan({ lead, events }: ScannedLead): boolean {
  return events.length === lead.eventCount && Object.keys(lead.outbox ?? {}).length === 0 && !lead.mergingFrom && !lead.mergedInto;
}
