/** Handoff records as the handoff queue carries them, and the order of a lead's (or an account's) handoffs. */
import type { AccountHandoffRecord } from '../core/account-lifecycle.ts';
import type { HandoffRecord } from '../core/handoff.ts';
import { handoffLeadId } from '../core/handoff.ts';
import type { HandoffAttempt } from '../store/repository.ts';

/**
 * What a handoff message carries: the record sales receives, and whose it is: a lead's (`leadId`) or an
 * account's (`accountKey`; lib/core/account-lifecycle.ts). The two share the queue and the consumer; a
 * lead's and an account's handoffs are ordered, deduplicated and superseded each in their own ledger.
 */
export type HandoffMessage = LeadHandoffMessage | AccountHandoffMessage;

export interface LeadHandoffMessage {
  readonly record: HandoffRecord;
  readonly leadId: string;
  readonly accountKey?: undefined;
}

export interface AccountHandoffMessage {
  readonly record: AccountHandoffRecord;
  readonly accountKey: string;
  readonly leadId?: undefined;
}

const handoffTypes: readonly string[] = ['lead.mql', 'lead.recycled', 'lead.disqualified'];
const accountHandoffTypes: readonly string[] = ['account.mqa', 'account.recycled'];

/** The ledger a message's record belongs to: `lead#<leadId>` or `account#<accountKey>` (the consumer groups by it). */
export function ownerOf(message: HandoffMessage): string {
  return message.accountKey === undefined ? `lead#${message.leadId}` : `account#${message.accountKey}`;
}

/** An account record, checked as far as the consumer and the adapters rely on it; undefined when it is not one. */
function readAccountRecord(parsed: Record<string, unknown>): AccountHandoffMessage | undefined {
  const record = parsed as unknown as AccountHandoffRecord;
  if (typeof record.id !== 'string' || record.id === '' || typeof record.occurredAt !== 'string' || Number.isNaN(Date.parse(record.occurredAt)))
    return undefined;
  if (typeof record.accountKey !== 'string' || record.accountKey.trim() === '' || record.accountKey.length > 512) return undefined;
  if (typeof record.account !== 'object' || record.account === null || Array.isArray(record.account)) return undefined;
  const score = record.score as unknown;
  if (typeof score !== 'object' || score === null || typeof record.score.total !== 'number') return undefined;
  if (!Array.isArray(record.members) || !Array.isArray(record.reasons)) return undefined;
  if (record.members.some((member) => typeof member !== 'object' || member === null || typeof member.leadId !== 'string' || member.leadId === ''))
    return undefined;
  return { record, accountKey: record.accountKey };
}

/** The handoff record a message carries; undefined when it is not one (it never will be). */
export function readHandoffMessage(body: string): HandoffMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  if (accountHandoffTypes.includes((parsed as { type?: unknown }).type as string)) return readAccountRecord(parsed as Record<string, unknown>);
  const record = parsed as HandoffRecord;
  const leadId = handoffLeadId(record);
  if (!leadId || typeof record.id !== 'string' || record.id === '' || !handoffTypes.includes(record.type) || typeof record.occurredAt !== 'string') {
    return undefined;
  }
  // The time orders a lead's handoffs (an older one than a delivered one is superseded): it must be one.
  if (Number.isNaN(Date.parse(record.occurredAt))) return undefined;
  if (typeof record.lead !== 'object' || record.lead === null) return undefined;
  return { record, leadId };
}

/** An ISO time as milliseconds (a record's time is checked by {@link readHandoffMessage}; a stored one is the record's). */
export function timeOf(iso: string): number {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

/** The lead's (or account's) newest delivered handoff, if any. */
export function latestDelivered(handoffs: readonly HandoffAttempt[]): HandoffAttempt | undefined {
  let newest: HandoffAttempt | undefined;
  for (const handoff of handoffs) {
    if (handoff.status === 'delivered' && (!newest || timeOf(handoff.occurredAt) > timeOf(newest.occurredAt))) newest = handoff;
  }
  return newest;
}
