/** Handoff records as the handoff queue carries them, and the order of a lead's handoffs. */
import type { HandoffRecord } from '../core/handoff.ts';
import { handoffLeadId } from '../core/handoff.ts';
import type { HandoffAttempt } from '../store/repository.ts';

/** What a handoff message carries: the record sales receives, and the lead it belongs to. */
export interface HandoffMessage {
  readonly record: HandoffRecord;
  readonly leadId: string;
}

const handoffTypes: readonly string[] = ['lead.mql', 'lead.recycled', 'lead.disqualified'];

/** The handoff record a message carries; undefined when it is not one (it never will be). */
export function readHandoffMessage(body: string): HandoffMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
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

/** The lead's newest delivered handoff, if any. */
export function latestDelivered(handoffs: readonly HandoffAttempt[]): HandoffAttempt | undefined {
  let newest: HandoffAttempt | undefined;
  for (const handoff of handoffs) {
    if (handoff.status === 'delivered' && (!newest || timeOf(handoff.occurredAt) > timeOf(newest.occurredAt))) newest = handoff;
  }
  return newest;
}
