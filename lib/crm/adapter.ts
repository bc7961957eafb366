import type { HandoffRecord } from '../core/handoff.ts';

export type { HandoffRecord, HandoffType, Reason, RecentEvent } from '../core/handoff.ts';

/** What the CRM answered, recorded on the lead's handoff item. */
export interface DeliveryReceipt {
  status: number;
  /** The CRM's id for the record, when it returns one. */
  externalId?: string;
}

/**
 * Sends a handoff to a CRM. Must be idempotent on `record.id` where the CRM allows it; throws
 * {@link CrmDeliveryError} on failure so the queue retries (and finally dead-letters) the message.
 */
export interface CrmAdapter {
  readonly name: string;
  deliver(record: HandoffRecord, now: Date): Promise<DeliveryReceipt>;
}

export class CrmDeliveryError extends Error {
  readonly status: number | undefined;
  /** Seconds the CRM asked us to wait (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;
  /** False when retrying cannot help (e.g. 400, 401, 410): the message goes to the DLQ at once. */
  readonly retryable: boolean;

  constructor(message: string, options: { status?: number; retryAfterSeconds?: number; retryable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'CrmDeliveryError';
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.retryable = options.retryable;
  }
}
