import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient, QueryCommandOutput, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { NormalizedEvent } from '../core/events.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import { handoffLeadId } from '../core/handoff.ts';
import { canonicalLeadId, isEmailLeadId, phoneLeadId } from '../core/identity.ts';
import type { Breakdown, Lead } from '../core/lead.ts';
import { applyEvents, evaluateLead, newLead, scoreLead, statusChangeAt } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import { replayLead } from '../core/replay.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { table } from '../topology.ts';
import { allDueShards, attemptSk, crmLinkPk, crmLinkSk, dueShardOf, eventSk, handoffSk, leadPk, profileSk, rawSk, replayPk, replaySk } from './keys.ts';

/** A lead as stored: the core's state plus what the store owns. */
export interface StoredLead extends Lead {
  /** Optimistic-locking counter: every write of the lead expects the version it read. */
  version: number;
  /** The score when the lead was last written. */
  score: Omit<Breakdown, 'reasons'> & { at: string };
  /** When the decay job next looks at the lead (the sparse due index). */
  dueAt?: string;
  /**
   * When time alone next changes the lead's status (for an MQL: its recycling): its due time once the
   * outbox is empty. Absent when nothing changes by time alone.
   */
  recycleAt?: string;
  /**
   * On a provider-key lead (`phone:...`): the e-mail lead that absorbed it, set for good by the merge's
   * claim. Such a lead is never scored again; its events go to that lead. Also on an alias item, the
   * key an e-mail lead took before any lead of that key existed.
   */
  mergedInto?: string;
  mergedAt?: string;
  /** On an e-mail lead: every provider key that leads to it (absorbed leads and aliases it took). */
  aliases?: string[];
  /** On an e-mail lead: the lead it is absorbing while the copies of its events take more than one transaction. */
  mergingFrom?: string;
}

/** What the CRM side recorded of one handoff. */
export interface HandoffAttempt {
  id: string;
  type: string;
  occurredAt: string;
  /** `superseded`: never sent, because a newer handoff of the lead had been delivered first (SQS keeps no order). */
  status: 'pending' | 'delivered' | 'failed' | 'superseded';
  attempts: number;
  lastAttemptAt?: string;
  lastError?: string;
  crmStatus?: number;
  deliveredAt?: string;
  adapter?: string;
  /** The failure kind of the last failed attempt (rate_limited, quota_exhausted, unavailable, auth, rejected). */
  lastKind?: string;
  /** The CRM's id for the record (HubSpot contact id, Salesforce Lead id), once a delivery returned one. */
  externalId?: string;
  /** Status `superseded`: the id of the newer handoff already delivered, and when this one was set aside. */
  supersededBy?: string;
  supersededAt?: string;
}

/** One delivery attempt of a handoff, as recorded (kept {@link attemptRetentionDays} days). */
export interface HandoffAttemptRecord {
  handoffId: string;
  type: string;
  occurredAt: string;
  at: string;
  adapter: string;
  outcome: 'delivered' | 'failed';
  crmStatus?: number;
  kind?: string;
  error?: string;
  externalId?: string;
  note?: string;
  /** HTTP calls the attempt cost (its share of a batch call). */
  calls?: number;
}

/** What the handoff reports of one attempt to {@link LeadStore.recordHandoffAttempt}. */
export interface HandoffAttemptInput {
  at: Date;
  adapter: string;
  outcome: 'delivered' | 'failed';
  crmStatus?: number;
  error?: string;
  kind?: string;
  externalId?: string;
  note?: string;
  calls?: number;
}

/** Attempt items expire (DynamoDB TTL) this many days after the attempt; the handoff's summary item stays. */
export const attemptRetentionDays = 90;

export interface LeadOutcome {
  leadId: string;
  /** Events stored and scored by this call. */
  applied: number;
  /** Events already stored before (redeliveries), left untouched. */
  duplicates: number;
  /** Events copied from a lead this one absorbed (not counted in `applied`: they were stored before). */
  merged: number;
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

/** DynamoDB's limit of items per transaction: e.g. 49 events with their raw payloads, plus the lead. */
const maxItemsPerTransaction = 100;

type TransactItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** A provider key the lead written takes (see `writeLead`). */
interface MergePlan {
  /** The key, e.g. `phone:+14155550123`. */
  from: string;
  /**
   * How the key is taken, in the first transaction: `absorb` the lead of that key, conditioned on the
   * version whose events were read (`idle`: its outbox was empty, so it also leaves the due index);
   * `alias` a key no lead holds yet. Undefined once taken (a merge being completed).
   */
  claim: { kind: 'absorb'; version: number; idle: boolean } | { kind: 'alias' } | undefined;
  /** Whether the key had a lead with events of its own: it is then listed in `mergedFrom`. */
  absorbs: boolean;
  /** Its events, re-keyed to the absorbing lead, not yet written there. */
  copies: NormalizedEvent[];
}

/**
 * Raw payloads above this many characters are kept cut (and marked): one item may not exceed 400 KB,
 * and a transaction 4 MB, while a single authentic delivery may be up to 1 MiB.
 */
const maxRawChars = 64 * 1024;

function rawText(raw: unknown): { raw: string; rawTruncated?: true } {
  const text = JSON.stringify(raw ?? null) ?? 'null';
  return text.length <= maxRawChars ? { raw: text } : { raw: text.slice(0, maxRawChars), rawTruncated: true };
}

/** Most bytes of raw payload text in one raw item (DynamoDB's item limit is 400 KB). */
const maxRawGroupBytes = 300 * 1024;

/** Events in order, cut into groups whose raw payloads fit one item. */
function rawGroups(events: readonly NormalizedEvent[]): NormalizedEvent[][] {
  const groups: NormalizedEvent[][] = [];
  let size = 0;
  for (const event of events) {
    const bytes = Buffer.byteLength(rawText(event.raw).raw, 'utf8') + 256;
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

  /**
   * Stores and scores events: grouped by lead, one transaction per lead, leads in parallel (bounded).
   * Events for a provider-key lead that was merged into an e-mail lead (`mergedInto`) are resolved to
   * that lead first, so they group with its other events; the read this takes is the one the write of
   * the provider-key lead would make anyway, and is handed to it.
   */
  async apply(given: readonly NormalizedEvent[], model: ScoringModel, now: Date): Promise<ApplyResult> {
    // The model may fold addresses (plus tags, Gmail dots): every event is filed under the lead it names.
    const events = model.identity ? given.map((event) => ({ ...event, leadKey: canonicalLeadId(event.leadKey, model) })) : given;
    const resolved = await this.resolveMerged(events);
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
    const readAhead = byLead.size > 1 ? await this.readLeads([...byLead.keys()].filter((leadId) => !resolved.read.has(leadId))) : new Map<string, StoredLead>();
    const stored = events.length >= minEventsToLookUp ? await this.storedEventKeysOfRedelivery([...byLead.values()].flat()) : new Set<string>();
    // One lead's failure must not cost the others: every lead is attempted, failures are reported.
    const settled = await mapWithConcurrency([...byLead], this.concurrency, ([leadId, leadEvents]) => {
      const prefetched = resolved.read.has(leadId) ? { lead: resolved.read.get(leadId) } : byLead.size > 1 ? { lead: readAhead.get(leadId) } : undefined;
      const fresh = leadEvents.filter((event) => !stored.has(storedEventKey(event)));
      const current = prefetched?.lead;
      let write: Promise<LeadOutcome>;
      if (fresh.length > 0) {
        const known = leadEvents.length - fresh.length;
        write = this.writeLead(leadId, fresh, model, now, prefetched).then((outcome) => ({ ...outcome, duplicates: outcome.duplicates + known }));
      } else if (current && !current.mergedInto && !current.mergingFrom) {
        // Every event already stored: nothing to write; hand back what is still in the outbox.
        write = Promise.resolve(outcomeOf(current, 0, leadEvents.length, 0));
      } else {
        write = this.writeLead(leadId, leadEvents, model, now, prefetched);
      }
      return write.then(
        (outcome) => ({ ok: true as const, outcome }),
        (error: unknown) => ({ ok: false as const, leadId, error }),
      );
    });
    const leads = settled.flatMap((result) => (result.ok ? [result.outcome] : []));
    const failed = settled.flatMap((result) => (result.ok ? [] : [{ leadId: result.leadId, error: result.error }]));
    return {
      failed,
      applied: leads.reduce((sum, lead) => sum + lead.applied, 0),
      duplicates: leads.reduce((sum, lead) => sum + lead.duplicates, 0) + duplicatesWithinDelivery,
      leads,
    };
  }

  /** The leads' PROFILE items, 100 keys a BatchGetItem (strongly consistent), unprocessed keys retried. */
  private async readLeads(leadIds: readonly string[]): Promise<Map<string, StoredLead>> {
    const leads = new Map<string, StoredLead>();
    for (const item of await this.batchGet(leadIds.map((leadId) => ({ pk: leadPk(leadId), sk: profileSk })))) {
      const { pk: _pk, sk: _sk, kind: _kind, dueShard: _shard, ...rest } = item;
      const lead = rest as unknown as StoredLead;
      leads.set(lead.leadId, lead);
    }
    return leads;
  }

  /**
   * For a delivery that looks like a redelivery (its first event is already stored), which of its events
   * are stored; for a first delivery one GetItem says so and nothing more is read.
   */
  private async storedEventKeysOfRedelivery(events: readonly NormalizedEvent[]): Promise<Set<string>> {
    const first = events[0];
    if (!first) return new Set();
    const probe = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: leadPk(first.leadKey), sk: eventSk(first) }, ProjectionExpression: 'pk', ConsistentRead: true }),
    );
    return probe.Item ? this.storedEventKeys(events) : new Set();
  }

  /** Which of these events are already stored, as {@link storedEventKey}s. */
  private async storedEventKeys(events: readonly NormalizedEvent[]): Promise<Set<string>> {
    const items = await this.batchGet(
      events.map((event) => ({ pk: leadPk(event.leadKey), sk: eventSk(event) })),
      'pk, sk',
    );
    return new Set(items.map((item) => `${item.pk as string}|${item.sk as string}`));
  }

  private async batchGet(keys: readonly Record<string, string>[], projection?: string): Promise<Record<string, unknown>[]> {
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

  /**
   * Reads every provider-key lead the events name (never an e-mail lead: those are never merged away):
   * `into` maps the merged ones to their e-mail lead, `read` keeps the others as read.
   */
  private async resolveMerged(events: readonly NormalizedEvent[]): Promise<{ into: Map<string, string>; read: Map<string, StoredLead | undefined> }> {
    const into = new Map<string, string>();
    const read = new Map<string, StoredLead | undefined>();
    const providerKeys = [...new Set(events.map((event) => event.leadKey).filter((leadKey) => !isEmailLeadId(leadKey)))];
    if (providerKeys.length === 0) return { into, read };
    await mapWithConcurrency(providerKeys, this.concurrency, async (leadKey) => {
      const lead = await this.getLead(leadKey);
      if (lead?.mergedInto) into.set(leadKey, lead.mergedInto);
      else read.set(leadKey, lead);
    });
    return { into, read };
  }

  /** Re-evaluates a stored lead at `now` (decay job): same transaction path, no events. */
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
   */
  private async writeLead(
    leadId: string,
    events: NormalizedEvent[],
    model: ScoringModel,
    now: Date,
    prefetched?: { lead: StoredLead | undefined },
    depth = 0,
  ): Promise<LeadOutcome> {
    let pending = events;
    let applied = 0;
    let duplicates = 0;
    let merged = 0;
    let attempt = 0;
    let merge: MergePlan | undefined;
    let planned = false;
    let firstRead = prefetched;
    /** Phone keys this call found held by another e-mail lead: not read again on a retry. */
    const heldElsewhere = new Set<string>();
    for (;;) {
      const current = firstRead ? firstRead.lead : await this.getLead(leadId);
      firstRead = undefined;
      if (current?.mergedInto) {
        // Absorbed since it was resolved (or the decay job found it): its events belong to the other lead.
        if (pending.length === 0) return this.retireMerged(current, applied, duplicates, merged);
        if (depth > 0) throw new Error(`lead ${leadId} is merged into ${current.mergedInto}, itself merged: a chain of merges`);
        const target = current.mergedInto;
        const outcome = await this.writeLead(
          target,
          pending.map((event) => ({ ...event, leadKey: target })),
          model,
          now,
          undefined,
          depth + 1,
        );
        return { ...outcome, applied: outcome.applied + applied, duplicates: outcome.duplicates + duplicates, merged: outcome.merged + merged };
      }
      if (!planned) {
        merge = await this.planMerge(leadId, current, events, heldElsewhere);
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
      const copies = new Set(merge?.copies ?? []);
      const taking = merge?.claim ? merge : undefined;
      const chunk = nextChunk([...copies, ...pending], copies, taking ? 1 : 0);
      if (!current && chunk.length === 0) return { leadId, applied, duplicates, merged, status: undefined, outbox: [] };
      if (current && chunk.length === 0 && events.length > 0 && !merge) {
        // Everything was a redelivery: nothing to write, but hand back what is still in the outbox.
        return outcomeOf(current, applied, duplicates, merged);
      }
      // The key is held from the transaction that takes it on, so a handoff decided there already names it.
      const base: Lead & Partial<StoredLead> = current ?? newLead(leadId, now, model);
      const holding = taking
        ? { ...base, aliases: union(base.aliases, taking.from), ...(taking.absorbs ? { mergedFrom: union(base.mergedFrom, taking.from) } : {}) }
        : base;
      const evaluation = chunk.length > 0 ? applyEvents(holding, chunk, model, now) : evaluateLead(holding, model, now);
      const completesMerge = merge !== undefined && [...copies].every((copy) => chunk.includes(copy));
      const next = this.toStored(
        evaluation.lead,
        evaluation.score,
        current?.version ?? 0,
        model,
        now,
        merge && !completesMerge ? merge.from : merge ? undefined : current?.mergingFrom,
      );
      if (current && chunk.length === 0 && !merge && !changed(current, next)) return outcomeOf(current, applied, duplicates, merged);
      const transaction = this.transactionItems(chunk, copies, merge?.from, next, current?.version, now, taking);
      try {
        await this.send(transaction.items);
        const written = chunk.filter((event) => !copies.has(event));
        applied += written.length;
        merged += chunk.length - written.length;
        pending = pending.filter((event) => !chunk.includes(event));
        if (merge) {
          merge = completesMerge ? undefined : { ...merge, claim: undefined, copies: merge.copies.filter((copy) => !chunk.includes(copy)) };
          // Another phone of the same delivery may name another lead to absorb.
          if (completesMerge) planned = false;
        }
        if (pending.length === 0 && !merge && (planned || !mayAbsorbMore(next, events, heldElsewhere))) return outcomeOf(next, applied, duplicates, merged);
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
        const claimLost = transaction.claimIndex !== undefined && reasons[transaction.claimIndex]?.Code === 'ConditionalCheckFailed';
        const leadConflict =
          reasons[transaction.leadIndex]?.Code === 'ConditionalCheckFailed' || reasons.some((reason) => reason.Code === 'TransactionConflict');
        if (!leadConflict && !claimLost && stored.size > 0) continue;
        // Someone else wrote the lead, or the lead to absorb changed or was absorbed: decide again from what is stored now.
        planned = false;
        this.stats.conflicts += 1;
        attempt += 1;
        if (attempt >= this.maxAttempts) throw new Error(`lead ${leadId}: gave up after ${attempt} conflicting writes`, { cause: error });
        await sleep(backoffMs(attempt));
      }
    }
  }

  /**
   * What, if anything, this write takes: a merge E left half-done (`mergingFrom`), else the first phone
   * of the call's events whose key E does not hold yet: the lead of that key if it exists and is free
   * (absorbed), the bare key if no lead has it (an alias: a phone-only lead of that number arriving later
   * goes straight to E). Costs nothing for events without a phone, or with a phone E already holds; one
   * consistent GetItem once per new phone; a Query of the phone lead's events only when there is one.
   */
  private async planMerge(
    leadId: string,
    current: StoredLead | undefined,
    events: readonly NormalizedEvent[],
    heldElsewhere: Set<string>,
  ): Promise<MergePlan | undefined> {
    if (!isEmailLeadId(leadId)) return undefined;
    const rekey = (event: NormalizedEvent) => ({ ...event, leadKey: leadId });
    if (current?.mergingFrom) {
      // Already claimed by this lead: copy again; what is stored already is skipped as a duplicate.
      return {
        from: current.mergingFrom,
        claim: undefined,
        absorbs: true,
        copies: (await this.listEvents(current.mergingFrom, { consistent: true })).map(rekey),
      };
    }
    const held = new Set(current?.aliases ?? []);
    for (const event of events) {
      const phoneLead = phoneLeadId(event.profile?.phone);
      if (!phoneLead || held.has(phoneLead) || heldElsewhere.has(phoneLead)) continue;
      const candidate = await this.getLead(phoneLead);
      if (!candidate) return { from: phoneLead, claim: { kind: 'alias' }, absorbs: false, copies: [] };
      if (candidate.mergedInto) {
        // Another e-mail lead holds the number (a shared phone): the first one keeps it.
        heldElsewhere.add(phoneLead);
        continue;
      }
      // Read after the lead, consistently: every event of the version read is in the answer (more only
      // if the lead moved on, and then the claim, conditioned on that version, fails and this runs again).
      const copies = (await this.listEvents(phoneLead, { consistent: true })).map(rekey);
      return {
        from: phoneLead,
        claim: { kind: 'absorb', version: candidate.version, idle: Object.keys(candidate.outbox ?? {}).length === 0 },
        absorbs: true,
        copies,
      };
    }
    return undefined;
  }

  /**
   * A merged lead met by the decay job: nothing of its own to score. Hands back handoffs still in its
   * outbox (decided before the merge) so they are sent; with none left, takes it out of the due index.
   */
  private async retireMerged(lead: StoredLead, applied: number, duplicates: number, merged: number): Promise<LeadOutcome> {
    const outbox = Object.values(lead.outbox ?? {});
    if (outbox.length === 0 && lead.dueAt !== undefined) {
      await this.client
        .send(
          new UpdateCommand({
            TableName: this.tableName,
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

  private toStored(lead: Lead, score: Breakdown, previousVersion: number, model: ScoringModel, now: Date, mergingFrom?: string): StoredLead {
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

  /**
   * The items of one lead transaction: per new event its EVT put (conditional) and its RAW put; per copy
   * of an absorbed lead's event its EVT put only (its raw payload stays with the lead it came to); the
   * lead (guarded by its version); and the claim on the lead being absorbed. With each event's index,
   * to read DynamoDB's CancellationReasons.
   */
  private transactionItems(
    events: readonly NormalizedEvent[],
    copies: ReadonlySet<NormalizedEvent>,
    copiedFrom: string | undefined,
    lead: StoredLead,
    expectedVersion: number | undefined,
    now: Date,
    taking: MergePlan | undefined,
  ): { items: TransactItems; eventIndex: number[]; leadIndex: number; claimIndex?: number } {
    const appliedAt = now.toISOString();
    const expiresAt = Math.floor(now.getTime() / 1000) + this.rawRetentionDays * 24 * 60 * 60;
    const pk = leadPk(lead.leadId);
    const items: TransactItems = [];
    const eventIndex: number[] = [];
    for (const event of events) {
      const { raw: _raw, ...normalized } = event;
      const copied = copies.has(event);
      eventIndex.push(items.length);
      items.push({
        Put: {
          TableName: this.tableName,
          Item: {
            pk,
            sk: eventSk(event),
            kind: 'event',
            ...normalized,
            appliedAt,
            modelVersion: lead.modelVersion,
            ...(copied && copiedFrom ? { mergedFrom: copiedFrom } : {}),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
    }
    // The raw payloads of the events this transaction stores (copies keep theirs where they were received),
    // a few hundred KB to an item keyed by its first event: DynamoDB Local writes a transaction's items one
    // by one, and one raw item for a lead's share of a batch instead of one per event took a third more
    // transactions per second (issue 3's 1,000-event SendGrid batch).
    for (const group of rawGroups(events.filter((event) => !copies.has(event)))) {
      const first = group[0]!;
      items.push({
        Put: {
          TableName: this.tableName,
          Item: {
            pk,
            sk: rawSk(first),
            kind: 'raw',
            source: first.source,
            events: group.map((event) => ({ source: event.source, sourceEventId: event.sourceEventId, ...rawText(event.raw) })),
            [table.ttlAttribute]: expiresAt,
          },
        },
      });
    }
    const { dueAt: due, ...rest } = lead;
    const leadIndex = items.length;
    items.push({
      Put: {
        TableName: this.tableName,
        Item: { pk, sk: profileSk, kind: 'lead', ...rest, ...(due ? { dueAt: due, dueShard: dueShardOf(lead.leadId) } : {}) },
        ...(expectedVersion === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'version = :expected', ExpressionAttributeValues: { ':expected': expectedVersion } }),
      },
    });
    const claim = taking?.claim;
    if (!taking || !claim) return { items, eventIndex, leadIndex };
    const claimIndex = items.length;
    const key = { pk: leadPk(taking.from), sk: profileSk };
    if (claim.kind === 'alias') {
      // Taken before anyone: a lead of this key created meanwhile makes this fail, and the merge is planned again.
      items.push({
        Put: {
          TableName: this.tableName,
          Item: { ...key, kind: 'alias', leadId: taking.from, mergedInto: lead.leadId, mergedAt: appliedAt, version: 1 },
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
      return { items, eventIndex, leadIndex, claimIndex };
    }
    items.push({
      Update: {
        TableName: this.tableName,
        Key: key,
        // An absorbed lead with handoffs still in its outbox stays due, so the decay job sends them.
        UpdateExpression: `SET mergedInto = :into, mergedAt = :at, version = version + :one${claim.idle ? ' REMOVE dueAt, dueShard' : ''}`,
        ConditionExpression: 'version = :version AND attribute_not_exists(mergedInto)',
        ExpressionAttributeValues: { ':into': lead.leadId, ':at': appliedAt, ':one': 1, ':version': claim.version },
      },
    });
    return { items, eventIndex, leadIndex, claimIndex };
  }

  private async send(items: TransactItems): Promise<void> {
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

  /**
   * One page of a Scan of the table's leads (PROFILE items of kind `lead`; merged provider-key leads and
   * aliases left out: their events live on the e-mail lead too), from `cursor` (the previous page's
   * LastEvaluatedKey). A Scan reads every item: for operator batch jobs (rescore, backtest), never a request
   * path. `limit` bounds the items a page evaluates (DynamoDB's Limit), not the leads it returns.
   * `firstSeenSince` keeps only leads first seen at or after that instant.
   */
  async scanLeads(
    options: { cursor?: Record<string, unknown>; limit?: number; firstSeenSince?: Date } = {},
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
      }),
    );
    return {
      leadIds: (page.Items ?? []).map((item) => item.leadId as string),
      ...(page.LastEvaluatedKey ? { cursor: page.LastEvaluatedKey } : {}),
      scanned: page.ScannedCount ?? 0,
    };
  }

  /**
   * Rebuilds a lead from its stored events under `model` at `now` (rescore) and writes it only when its
   * state changes (status, score, recycle time, outbox: see replacesState), through the same version-guarded
   * transaction as every write, retried on conflict. A transition it causes is in the returned outbox, for
   * the caller to enqueue like any other; so is a handoff still waiting there from before.
   * A merged or unknown lead is skipped; a merge left half-done is completed first.
   */
  async replaceState(
    leadId: string,
    model: ScoringModel,
    now: Date,
  ): Promise<{ before?: Lead['status']; after?: Lead['status']; written: boolean; outcome?: LeadOutcome }> {
    for (let attempt = 1; ; attempt += 1) {
      const current = await this.getLead(leadId);
      if (!current || current.mergedInto) return { written: false };
      if (current.mergingFrom) {
        await this.writeLead(leadId, [], model, now);
        continue;
      }
      const events = await this.listEvents(leadId, { consistent: true });
      const evaluation = replayLead(current, events, model, now);
      const next = this.toStored(evaluation.lead, evaluation.score, current.version, model, now);
      if (!replacesState(current, next, model, now))
        return { before: current.status, after: current.status, written: false, outcome: outcomeOf(current, 0, 0, 0) };
      try {
        await this.send(this.transactionItems([], new Set(), undefined, next, current.version, now, undefined).items);
        return { before: current.status, after: next.status, written: true, outcome: outcomeOf(next, 0, 0, 0) };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        this.stats.conflicts += 1;
        if (attempt >= this.maxAttempts) throw new Error(`lead ${leadId}: gave up after ${attempt} conflicting writes`, { cause: error });
        await sleep(backoffMs(attempt));
      }
    }
  }

  /**
   * The lead's stored events, oldest first (what a rescore or backtest replays), including those copied
   * from leads it absorbed. `consistent` reads every event of the last write (the merge needs it).
   */
  async listEvents(leadId: string, options: { consistent?: boolean } = {}): Promise<NormalizedEvent[]> {
    const items = await this.queryPartition(leadId, 'EVT#', options.consistent ?? false);
    return items.map(
      ({ pk: _pk, sk: _sk, kind: _kind, appliedAt: _appliedAt, modelVersion: _modelVersion, mergedFrom: _mergedFrom, ...event }) => event as NormalizedEvent,
    );
  }

  /** Every item of the lead's partition whose sort key starts with `prefix`, in sort-key order (all pages of one Query). */
  private async queryPartition(leadId: string, prefix: string, consistent: boolean): Promise<NonNullable<QueryCommandOutput['Items']>> {
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
    const seen = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: replayPk(source, token), sk: replaySk }, ConsistentRead: true }),
    );
    return seen.Item?.fingerprint === fingerprint ? 'same' : 'replayed';
  }

  /** The ids of the leads whose state changes by time alone by `until` (see {@link duePages}). */
  async *dueLeads(until: Date): AsyncGenerator<string> {
    for await (const page of this.duePages(until)) for (const lead of page) yield lead.leadId;
  }

  /**
   * Leads due by `until`, whole, page by page from the sparse due index (projection ALL), shard by shard:
   * the decay job holds one page at a time and reads nothing that is not due.
   */
  async *duePages(until: Date, pageSize = 100): AsyncGenerator<StoredLead[]> {
    for (const shard of allDueShards()) {
      let cursor: Record<string, unknown> | undefined;
      do {
        const page = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: table.dueIndex.name,
            KeyConditionExpression: 'dueShard = :shard AND dueAt <= :until',
            ExpressionAttributeValues: { ':shard': shard, ':until': until.toISOString() },
            Limit: pageSize,
            ExclusiveStartKey: cursor,
          }),
        );
        const leads = (page.Items ?? []).map(({ pk: _pk, sk: _sk, kind: _kind, dueShard: _shard, ...lead }) => lead as StoredLead);
        if (leads.length > 0) yield leads;
        cursor = page.LastEvaluatedKey;
      } while (cursor);
    }
  }

  /**
   * Records one delivery attempt of a handoff: the handoff's summary item on the lead's partition
   * (status, attempts, last error), a small item per attempt (TTL {@link attemptRetentionDays} days),
   * and, when the CRM named its record, the CRM link item `CRM#<adapter>#<externalId>` / `LINK` -> leadId.
   */
  async recordHandoffAttempt(record: HandoffRecord, attempt: HandoffAttemptInput): Promise<void> {
    const at = attempt.at.toISOString();
    const delivered = attempt.outcome === 'delivered';
    const leadId = recordLeadId(record);
    const error = attempt.error?.slice(0, 1000);
    const attemptItem: Record<string, unknown> = {
      pk: leadPk(leadId),
      sk: attemptSk(record.occurredAt, record.id, at),
      kind: 'handoff-attempt',
      handoffId: record.id,
      type: record.type,
      occurredAt: record.occurredAt,
      at,
      adapter: attempt.adapter,
      outcome: attempt.outcome,
      expiresAt: Math.floor(attempt.at.getTime() / 1000) + attemptRetentionDays * 86_400,
    };
    for (const key of ['crmStatus', 'kind', 'externalId', 'note', 'calls'] as const) {
      if (attempt[key] !== undefined) attemptItem[key === 'kind' ? 'failureKind' : key] = attempt[key];
    }
    if (error !== undefined) attemptItem.error = error;
    const writes: Promise<unknown>[] = [this.client.send(new PutCommand({ TableName: this.tableName, Item: attemptItem }))];
    if (delivered && attempt.externalId) {
      writes.push(
        this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              pk: crmLinkPk(attempt.adapter, attempt.externalId),
              sk: crmLinkSk,
              kind: 'crm-link',
              adapter: attempt.adapter,
              externalId: attempt.externalId,
              leadId,
              linkedAt: at,
            },
          }),
        ),
      );
    }
    await Promise.all(writes);
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: leadPk(recordLeadId(record)), sk: handoffSk(record.occurredAt, record.id) },
        UpdateExpression: [
          'SET kind = :kind, id = :id, #type = :type, occurredAt = :occurredAt, adapter = :adapter, lastAttemptAt = :at',
          // A late failure report of a duplicate delivery never overwrites "delivered".
          delivered ? ', #status = :status, deliveredAt = :at' : ', #status = if_not_exists(#status, :status)',
          attempt.crmStatus === undefined ? '' : ', crmStatus = :crmStatus',
          attempt.error === undefined ? '' : ', lastError = :error',
          !delivered && attempt.kind !== undefined ? ', lastKind = :failureKind' : '',
          delivered && attempt.externalId ? ', externalId = :externalId' : '',
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
          ...(error === undefined ? {} : { ':error': error }),
          ...(!delivered && attempt.kind !== undefined ? { ':failureKind': attempt.kind } : {}),
          ...(delivered && attempt.externalId ? { ':externalId': attempt.externalId } : {}),
        },
      }),
    );
  }

  async getHandoff(record: Pick<HandoffRecord, 'id' | 'occurredAt' | 'lead'> & { leadId?: string }): Promise<HandoffAttempt | undefined> {
    const answer = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: leadPk(recordLeadId(record)), sk: handoffSk(record.occurredAt, record.id) },
        ConsistentRead: true,
      }),
    );
    return answer.Item as HandoffAttempt | undefined;
  }

  /** The lead's handoffs, oldest first (one Query; strongly consistent, as the handoff decides on it). */
  async listHandoffs(leadId: string): Promise<HandoffAttempt[]> {
    const items = await this.queryPartition(leadId, 'HANDOFF#', true);
    return items.map(({ pk: _pk, sk: _sk, kind: _kind, ...attempt }) => attempt as HandoffAttempt);
  }

  /**
   * Sets a handoff aside unsent because `supersededBy`, a newer handoff of the same lead, was delivered
   * first: status `superseded` on its summary item (created if it had no attempt yet). A handoff already
   * delivered stays delivered; answers whether it was set aside.
   */
  async recordHandoffSuperseded(record: HandoffRecord, superseded: { at: Date; supersededBy: string; adapter: string }): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: leadPk(recordLeadId(record)), sk: handoffSk(record.occurredAt, record.id) },
          UpdateExpression:
            'SET kind = :kind, id = :id, #type = :type, occurredAt = :occurredAt, adapter = :adapter, #status = :superseded, supersededBy = :by, supersededAt = :at, attempts = if_not_exists(attempts, :zero)',
          ConditionExpression: 'attribute_not_exists(#status) OR #status <> :delivered',
          ExpressionAttributeNames: { '#type': 'type', '#status': 'status' },
          ExpressionAttributeValues: {
            ':kind': 'handoff',
            ':id': record.id,
            ':type': record.type,
            ':occurredAt': record.occurredAt,
            ':adapter': superseded.adapter,
            ':superseded': 'superseded',
            ':by': superseded.supersededBy,
            ':at': superseded.at.toISOString(),
            ':zero': 0,
            ':delivered': 'delivered',
          },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  /** Every delivery attempt of the lead's handoffs still kept, oldest handoff first, each handoff's attempts in order. */
  async listHandoffAttempts(leadId: string): Promise<HandoffAttemptRecord[]> {
    const items = await this.queryPartition(leadId, 'ATTEMPT#', false);
    return items.map(({ pk: _pk, sk: _sk, kind: _kind, expiresAt: _expiresAt, failureKind, ...attempt }) => ({
      ...(attempt as Omit<HandoffAttemptRecord, 'kind'>),
      ...(failureKind === undefined ? {} : { kind: failureKind as string }),
    }));
  }

  /** The lead a CRM record belongs to, from the link the handoff wrote when it was delivered there. */
  async leadIdForCrmRecord(adapter: string, externalId: string): Promise<string | undefined> {
    const answer = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: crmLinkPk(adapter, externalId), sk: crmLinkSk } }));
    const leadId = answer.Item?.leadId;
    return typeof leadId === 'string' ? leadId : undefined;
  }
}

/** Transaction budget for event and raw items, under DynamoDB's 4 MB per transaction with room for the lead. */
const maxTransactionChars = 3 * 1024 * 1024;

/**
 * The next events to write in one transaction: as many as DynamoDB's 100 items allow (a new event
 * takes two at most, its EVT item and (counted as if alone) a raw item; a copy from an absorbed lead one; the lead one; `extraItems` the
 * rest), and at most ~3 MB of them.
 */
function nextChunk(queue: readonly NormalizedEvent[], copies: ReadonlySet<NormalizedEvent>, extraItems: number): NormalizedEvent[] {
  const chunk: NormalizedEvent[] = [];
  let size = 0;
  let items = 1 + extraItems;
  for (const event of queue) {
    const eventItems = copies.has(event) ? 1 : 2;
    if (items + eventItems > maxItemsPerTransaction) break;
    const { raw, ...normalized } = event;
    const eventSize = JSON.stringify(normalized).length + (copies.has(event) ? 0 : Math.min(maxRawChars, JSON.stringify(raw ?? null)?.length ?? 0));
    if (chunk.length > 0 && size + eventSize > maxTransactionChars) break;
    chunk.push(event);
    size += eventSize;
    items += eventItems;
  }
  return chunk;
}

/** Whether the call's events name a phone key the lead does not hold yet, nor another lead (several phones in one delivery). */
function mayAbsorbMore(lead: StoredLead, events: readonly NormalizedEvent[], heldElsewhere: ReadonlySet<string>): boolean {
  if (!isEmailLeadId(lead.leadId)) return false;
  const held = new Set(lead.aliases ?? []);
  return events.some((event) => {
    const phoneLead = phoneLeadId(event.profile?.phone);
    return phoneLead !== undefined && !held.has(phoneLead) && !heldElsewhere.has(phoneLead);
  });
}

/** A list of keys with one more, each once. */
function union(list: readonly string[] | undefined, key: string): string[] {
  return [...new Set([...(list ?? []), key])];
}

function outcomeOf(lead: StoredLead, applied: number, duplicates: number, merged: number): LeadOutcome {
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
function changed(before: StoredLead, after: StoredLead): boolean {
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
function replacesState(before: StoredLead, after: StoredLead, model: ScoringModel, now: Date): boolean {
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

/** The partition a handoff record's attempts are kept in. */
function recordLeadId(record: { leadId?: string; lead?: { email?: string } }): string {
  const leadId = handoffLeadId(record);
  if (!leadId) throw new Error('a handoff record names no lead (neither leadId nor lead.email)');
  return leadId;
}

/** Full-jitter exponential backoff, capped: contending writers spread out instead of colliding again. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(250, 5 * 2 ** attempt);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Deliveries with at least this many events are checked for being redeliveries before writing (see apply). */
const minEventsToLookUp = 10;

/** An event's table key as one string: the partition of its lead and its sort key. */
function storedEventKey(event: NormalizedEvent): string {
  return `${leadPk(event.leadKey)}|${eventSk(event)}`;
}
