/**
 * What the rest of the code asks of the store, in the domain's verbs: apply events to leads, walk the due
 * index, keep the handoff ledger, claim replay tokens. The pipeline, the handoff and the jobs depend on
 * these interfaces; ./lead-store.ts is their DynamoDB implementation (the only place that knows keys and
 * expressions, with ./keys.ts).
 */

import type { AccountHandoffRecord } from '../core/account-lifecycle.ts';
import type { NormalizedEvent } from '../core/events.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import type { Breakdown, Lead } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import type { ErasureResult } from './erase.ts';
import type { HistoryScan, ScannedLead } from './lead-histories.ts';
import type { Item, Person } from './personal-data.ts';
import type { ScanSegment } from './table-scan.ts';
import type { ErasedPeopleReturn } from './tombstones.ts';

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
  /**
   * The events of the lead's last lead-first write, counted in its state, kept until a later write knows
   * their items are stored (lib/store/lead-first.ts). Carried unchanged by every other write.
   */
  pendingEvents?: PendingEvent[];
}

/**
 * An event as a lead keeps it until its item is known to be stored: the normalized event without its raw
 * payload, when it was applied and under which model (the item is built from it alone).
 */
export type PendingEvent = Omit<NormalizedEvent, 'raw'> & { appliedAt: string; modelVersion: string };

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
  /** Provider ids of events refused because their person was erased (lib/store/tombstones.ts): nothing of them is stored. */
  erased: string[];
}

/** Write capacity consumed, summed, for the benchmark's units-per-event figure. */
export interface StoreStats {
  transactions: number;
  /** Writes committed: transactions (one for a whole delivery written together), and lead-first writes of a lead (lib/store/lead-first.ts). */
  commits: number;
  conflicts: number;
  writeCapacityUnits: number;
}

/** Events in, leads scored and written: the ingest pipeline's and the decay job's side. */
export interface LeadWrites {
  /** Stores and scores events, one transaction per lead; every lead is attempted, failures reported. */
  apply(events: readonly NormalizedEvent[], model: ScoringModel, now: Date): Promise<ApplyResult>;
  /** Re-evaluates a lead at `now` with no new events (the decay job); `read` spares a read. */
  reevaluate(leadId: string, model: ScoringModel, now: Date, read?: StoredLead): Promise<LeadOutcome>;
  /**
   * Rebuilds a lead from its stored events under `model` (rescore), written only when its state changes;
   * `incomplete` (not written) when some of its events expired (EVENT_RETENTION_DAYS). `scanned`, the lead
   * as a Scan read it, spares the reads when it can be trusted (lib/store/lead-writes.ts).
   */
  replaceState(
    leadId: string,
    model: ScoringModel,
    now: Date,
    scanned?: ScannedLead,
  ): Promise<{ before?: Lead['status']; after?: Lead['status']; written: boolean; incomplete?: true; outcome?: LeadOutcome }>;
  /** Takes handoffs off the lead's outbox once they are safely on the queue. */
  confirmQueued(leadId: string, handoffIds: readonly string[], recycleAt?: string): Promise<void>;
}

/** Reading leads and their events; operator jobs walk every lead's history (lib/store/lead-histories.ts). */
export interface LeadReads extends HistoryScan {
  getLead(leadId: string): Promise<StoredLead | undefined>;
  /**
   * The lead's stored events, oldest first, with those pending on it (lib/store/lead-first.ts); `consistent`
   * reads every event of the last write; `lead`: the lead as already read (null: leave pending events out).
   */
  listEvents(leadId: string, options?: { consistent?: boolean; lead?: StoredLead | null }): Promise<NormalizedEvent[]>;
  /** One page of a scan of the leads (operator jobs only, never a request path). */
  scanLeads(options?: {
    cursor?: Record<string, unknown>;
    limit?: number;
    firstSeenSince?: Date;
    /** One segment of a parallel Scan. */
    segment?: ScanSegment;
  }): Promise<{ leadIds: string[]; cursor?: Record<string, unknown>; scanned: number }>;
}

/** The sparse index of leads whose state changes by time alone. */
export interface DueIndex {
  /** The leads due by `until`, page by page. */
  duePages(until: Date, pageSize?: number): AsyncGenerator<StoredLead[]>;
  dueLeads(until: Date): AsyncGenerator<string>;
}

/** What the CRM side recorded: every handoff, every attempt, the CRM records' links to leads. */
export interface HandoffLedger {
  /** Records an attempt on the lead's partition, or on the account's for an account record (lib/store/handoff-ledger.ts). */
  recordHandoffAttempt(record: HandoffRecord | AccountHandoffRecord, attempt: HandoffAttemptInput): Promise<void>;
  recordHandoffSuperseded(record: HandoffRecord | AccountHandoffRecord, superseded: { at: Date; supersededBy: string; adapter: string }): Promise<boolean>;
  getHandoff(record: Pick<HandoffRecord, 'id' | 'occurredAt' | 'lead'> & { leadId?: string }): Promise<HandoffAttempt | undefined>;
  /** The lead's handoffs, oldest first (strongly consistent). */
  listHandoffs(leadId: string): Promise<HandoffAttempt[]>;
  listHandoffAttempts(leadId: string): Promise<HandoffAttemptRecord[]>;
  /** The account's handoffs (`account.mqa`, `account.recycled`), oldest first (strongly consistent). */
  listAccountHandoffs(accountKey: string): Promise<HandoffAttempt[]>;
  leadIdForCrmRecord(adapter: string, externalId: string): Promise<string | undefined>;
  /** When the lead's person was erased, if they were (its tombstone; docs/data-protection.md). */
  erasedAt(leadId: string): Promise<string | undefined>;
}

/** A person's data as a whole (GDPR articles 15, 17 and 20; docs/data-protection.md). */
export interface PersonalData {
  /** The person a key names: the lead it leads to and every identity merged into it. */
  findPerson(asked: string): Promise<Person>;
  /** Everything the table holds about the person, by kind (lib/store/personal-data.ts). */
  personalItems(person: Person): Promise<Map<string, Item[]>>;
  /** Erases the person and every identity merged into it, leaving a tombstone per identity. */
  erasePerson(asked: string, options: { now: Date; returns: ErasedPeopleReturn }): Promise<ErasureResult>;
}

/** Senders' one-time tokens bound to the body they came with (Mailgun). */
export interface ReplayTokens {
  claimReplayToken(source: string, token: string, fingerprint: string, expiresAt: Date): Promise<'first' | 'same' | 'replayed'>;
}

/** The whole store, as the pipeline sees it. */
export interface LeadRepository extends LeadWrites, LeadReads, DueIndex, HandoffLedger, ReplayTokens, PersonalData {
  readonly stats: StoreStats;
}
