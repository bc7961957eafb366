import type { AccountHandoffRecord } from '../core/account-lifecycle.ts';
import type { HandoffRecord } from '../core/handoff.ts';

export type { AccountHandoffRecord, AccountHandoffType, AccountRecordMember } from '../core/account-lifecycle.ts';
export type { HandoffRecord, HandoffType, Reason, RecentEvent } from '../core/handoff.ts';

/**
 * What the handoff queue carries to a CRM: a lead's transition (`lead.*`) or an account's (`account.mqa`,
 * `account.recycled`; docs/operator-contract.md, "The outbound record").
 */
export type OutboundRecord = HandoffRecord | AccountHandoffRecord;

/** Whether a record is an account's transition. */
export function isAccountRecord(record: { type: string }): record is AccountHandoffRecord {
  return record.type === 'account.mqa' || record.type === 'account.recycled';
}

/**
 * What the handoff knows beside an account record: the CRM ids of its members that were already delivered
 * to this adapter (lead id -> the CRM's id from that delivery's receipt, lib/store/handoff-ledger.ts), so the
 * adapter can link them to the account (HubSpot: company <-> contact associations).
 */
export interface DeliveryContext {
  memberCrmIds?: ReadonlyMap<string, string>;
}

/** What the CRM answered, recorded on the lead's handoff item. */
export interface DeliveryReceipt {
  status: number;
  /** The CRM's id for the record (HubSpot contact or company id, Salesforce Lead or Account id), when it returns one. */
  externalId?: string;
  /** Whether the CRM created the record (true) or updated one it had (false), when it says. */
  created?: boolean;
  /** What the adapter chose not to write, in words (e.g. "lifecyclestage kept at customer: never moved back"). */
  note?: string;
  /** HTTP calls this delivery cost, its share of a batch call included (for the calls-per-MQL figure). */
  calls?: number;
}

/** The outcome of one record of a batch call: a receipt, or why it failed. */
export type DeliveryResult = { ok: true; receipt: DeliveryReceipt } | { ok: false; error: CrmDeliveryError };

/**
 * Sends handoffs to a CRM. Must be idempotent on `record.id` where the CRM allows it (an upsert by
 * the lead's key is). `deliver` throws {@link CrmDeliveryError} on failure so the queue retries (and
 * finally dead-letters) the message.
 */
export interface CrmAdapter {
  readonly name: string;
  deliver(record: OutboundRecord, now: Date, context?: DeliveryContext): Promise<DeliveryReceipt>;
  /**
   * The adapter links an account's members (see {@link DeliveryContext}): the handoff looks up their CRM ids
   * before it sends an account record.
   */
  readonly linksMembers?: boolean;
  /**
   * Most records one {@link deliverBatch} call takes (HubSpot: 100). Absent: records go one by one
   * through {@link deliver}.
   */
  readonly maxBatch?: number;
  /**
   * Sends several records in as few CRM calls as the CRM allows. The caller passes at most
   * {@link maxBatch} records, never two of the same lead. Returns one result per record, in order,
   * so a partial failure (HubSpot 207) retries only the rows that failed. Throws
   * {@link CrmDeliveryError} when the whole call failed (429, 5xx, network, 401): that applies to
   * every record.
   */
  deliverBatch?(records: readonly OutboundRecord[], now: Date, contexts?: readonly (DeliveryContext | undefined)[]): Promise<DeliveryResult[]>;
}

/**
 * Why a delivery failed, for the retry policy, logs and alarms:
 * - `rate_limited`: the CRM's short-window limit (HubSpot TEN_SECONDLY_ROLLING 429); wait `retryAfterSeconds` and retry, never dead-letter.
 * - `quota_exhausted`: a long window is used up (HubSpot DAILY, Salesforce REQUEST_LIMIT_EXCEEDED); retry after hours, alarm.
 * - `unavailable`: 5xx, timeout, network, a locked row; retry with back-off.
 * - `auth`: the credentials are wrong or lack a scope (401/403 after any refresh); to the DLQ at once, alarm.
 * - `rejected`: the CRM refused this record's content (400, 404, 300 multiple matches); to the DLQ at once.
 */
export type DeliveryFailureKind = 'rate_limited' | 'quota_exhausted' | 'unavailable' | 'auth' | 'rejected';

export class CrmDeliveryError extends Error {
  readonly status: number | undefined;
  /** Seconds the CRM asked us to wait (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;
  /** False when retrying cannot help (e.g. 400, 401, 410): the message goes to the DLQ at once. */
  readonly retryable: boolean;
  /** Why, when the adapter knows (see {@link DeliveryFailureKind}); else derived from `retryable`. */
  readonly kind: DeliveryFailureKind;

  constructor(message: string, options: { status?: number; retryAfterSeconds?: number; retryable: boolean; kind?: DeliveryFailureKind; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'CrmDeliveryError';
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.retryable = options.retryable;
    this.kind =
      options.kind ??
      (options.retryable ? (options.status === 429 ? 'rate_limited' : 'unavailable') : options.status === 401 || options.status === 403 ? 'auth' : 'rejected');
  }
}
