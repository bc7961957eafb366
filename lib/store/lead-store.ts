/**
 * The DynamoDB single-table store: {@link LeadRepository} over one table, each job in a module of its own
 * (lead writes, merging, the due index, the handoff ledger, replay markers) around the shared
 * {@link StoreTable}. The key layout is in ./keys.ts; nothing outside lib/store builds a key.
 */

import type { AccountHandoffRecord } from '../core/account-lifecycle.ts';
import type { NormalizedEvent } from '../core/events.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import type { Lead } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import * as due from './due-index.ts';
import type { ErasureResult } from './erase.ts';
import { erasePerson } from './erase.ts';
import * as ledger from './handoff-ledger.ts';
import type { ScannedLead } from './lead-histories.ts';
import { LeadWriter } from './lead-writes.ts';
import { claimReplayToken } from './markers.ts';
import type { Item, Person } from './personal-data.ts';
import { findPersonalItems, resolvePerson } from './personal-data.ts';
import type {
  ApplyResult,
  HandoffAttempt,
  HandoffAttemptInput,
  HandoffAttemptRecord,
  LeadOutcome,
  LeadRepository,
  StoredLead,
  StoreStats,
} from './repository.ts';
import type { LeadStoreOptions } from './table.ts';
import { StoreTable } from './table.ts';
import { type ScanPage, type ScanSegment, scanHistoryPage, tableEstimate } from './table-scan.ts';
import type { ErasedPeopleReturn } from './tombstones.ts';
import { erasedAt } from './tombstones.ts';

export class LeadStore implements LeadRepository {
  private readonly table: StoreTable;
  private readonly writer: LeadWriter;

  constructor(options: LeadStoreOptions) {
    this.table = new StoreTable(options);
    this.writer = new LeadWriter(this.table);
  }

  /** Write capacity consumed, transactions and conflicts, summed (the benchmark's units per event). */
  get stats(): StoreStats {
    return this.table.stats;
  }

  apply(events: readonly NormalizedEvent[], model: ScoringModel, now: Date): Promise<ApplyResult> {
    return this.writer.apply(events, model, now);
  }

  reevaluate(leadId: string, model: ScoringModel, now: Date, read?: StoredLead): Promise<LeadOutcome> {
    return this.writer.reevaluate(leadId, model, now, read);
  }

  replaceState(
    leadId: string,
    model: ScoringModel,
    now: Date,
    scanned?: ScannedLead,
  ): Promise<{ before?: Lead['status']; after?: Lead['status']; written: boolean; incomplete?: true; outcome?: LeadOutcome }> {
    return this.writer.replaceState(leadId, model, now, scanned);
  }

  confirmQueued(leadId: string, handoffIds: readonly string[], recycleAt?: string): Promise<void> {
    return due.confirmQueued(this.table, leadId, handoffIds, recycleAt);
  }

  getLead(leadId: string): Promise<StoredLead | undefined> {
    return this.table.getLead(leadId);
  }

  listEvents(leadId: string, options: { consistent?: boolean; lead?: StoredLead | null } = {}): Promise<NormalizedEvent[]> {
    return this.table.listEvents(leadId, options);
  }

  scanLeads(options: { cursor?: Record<string, unknown>; limit?: number; firstSeenSince?: Date; segment?: ScanSegment } = {}) {
    return this.table.scanLeads(options);
  }

  /** A page of a segment's Scan of lead profiles and events (operator jobs, lib/store/lead-histories.ts). */
  scanHistoryPage(options: { segment: ScanSegment; cursor?: Record<string, unknown>; limit?: number }): Promise<ScanPage> {
    return scanHistoryPage(this.table, options);
  }

  /** DynamoDB's estimate of the table's items and bytes; undefined when it cannot be read. */
  tableEstimate(): Promise<{ items: number; bytes: number } | undefined> {
    return tableEstimate(this.table);
  }

  duePages(until: Date, pageSize?: number): AsyncGenerator<StoredLead[]> {
    return due.duePages(this.table, until, pageSize);
  }

  dueLeads(until: Date): AsyncGenerator<string> {
    return due.dueLeads(this.table, until);
  }

  recordHandoffAttempt(record: HandoffRecord | AccountHandoffRecord, attempt: HandoffAttemptInput): Promise<void> {
    return ledger.recordHandoffAttempt(this.table, record, attempt);
  }

  recordHandoffSuperseded(record: HandoffRecord | AccountHandoffRecord, superseded: { at: Date; supersededBy: string; adapter: string }): Promise<boolean> {
    return ledger.recordHandoffSuperseded(this.table, record, superseded);
  }

  getHandoff(record: Pick<HandoffRecord, 'id' | 'occurredAt' | 'lead'> & { leadId?: string }): Promise<HandoffAttempt | undefined> {
    return ledger.getHandoff(this.table, record);
  }

  listHandoffs(leadId: string): Promise<HandoffAttempt[]> {
    return ledger.listHandoffs(this.table, leadId);
  }

  listHandoffAttempts(leadId: string): Promise<HandoffAttemptRecord[]> {
    return ledger.listHandoffAttempts(this.table, leadId);
  }

  listAccountHandoffs(accountKey: string): Promise<HandoffAttempt[]> {
    return ledger.listAccountHandoffs(this.table, accountKey);
  }

  leadIdForCrmRecord(adapter: string, externalId: string): Promise<string | undefined> {
    return ledger.leadIdForCrmRecord(this.table, adapter, externalId);
  }

  claimReplayToken(source: string, token: string, fingerprint: string, expiresAt: Date): Promise<'first' | 'same' | 'replayed'> {
    return claimReplayToken(this.table, source, token, fingerprint, expiresAt);
  }

  erasedAt(leadId: string): Promise<string | undefined> {
    return erasedAt(this.table, leadId);
  }

  findPerson(asked: string): Promise<Person> {
    return resolvePerson(this.table, asked);
  }

  personalItems(person: Person): Promise<Map<string, Item[]>> {
    return findPersonalItems(this.table, person);
  }

  erasePerson(asked: string, options: { now: Date; returns: ErasedPeopleReturn }): Promise<ErasureResult> {
    return erasePerson(this.table, asked, options);
  }
}
