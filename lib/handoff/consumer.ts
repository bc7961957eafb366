/**
 * The consumer of the `handoff` queue: delivers lifecycle transitions (MQL, recycled, disqualified) to
 * the CRM within its rate limits, and never loses or doubles one.
 *
 * - A batch's records are grouped per lead, oldest first (by occurredAt: SQS keeps no order), and sent
 *   in rounds: each round holds at most one record per lead (so one lead's MQL always reaches the CRM
 *   before its recycle), through
 *   `deliverBatch` in chunks of the adapter's `maxBatch` when it has one (HubSpot: 100 per call), else
 *   one `deliver` per record with bounded concurrency. A lead whose record failed keeps its later records
 *   back with it.
 * - A handoff already delivered is acknowledged without a call (SQS delivers at least once; a
 *   re-queued copy is harmless).
 * - A handoff older than one of the same lead already delivered (an MQL held back by an outage or the
 *   DLQ, arriving after its recycle) is acknowledged without a call too: sending it would put the CRM
 *   back to a stale state. Its summary item says `superseded` with the newer handoff's id
 *   (`mql deliveries` shows it) and a log line says so. Each lead's handoffs are read once per batch.
 * - Failures, by kind ({@link DeliveryFailureKind}):
 *   - `rate_limited`: a short wait (Retry-After within {@link HandoffRetryPolicy.maxInProcessWaitSeconds}
 *     and time left in the invocation) is waited out here and the failed rows are sent again; a longer
 *     one re-sends the body with DelaySeconds and acknowledges the original, so the receive count is not
 *     consumed and a 429 storm never reaches the DLQ;
 *   - `unavailable` (5xx, network, a locked row): the message is held back by ChangeMessageVisibility
 *     for a delay growing with its receive count and reported as a batch item failure; after the
 *     queue's maxReceiveCount receives SQS dead-letters it;
 *   - `quota_exhausted` (a daily limit): held back for the time the CRM announced (else
 *     {@link HandoffRetryPolicy.quotaDelaySeconds}), with an error log line for the alarm;
 *   - `auth`, `rejected`: retrying cannot help: the message goes to the DLQ at once with the error as a
 *     message attribute, and an error log line names the fix; `mql redrive` replays it once fixed.
 * Every attempt is recorded on the lead (see `LeadStore.recordHandoffAttempt`).
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { HandoffRecord } from '../core/handoff.ts';
import { handoffLeadId } from '../core/handoff.ts';
import type { CrmAdapter, DeliveryFailureKind, DeliveryReceipt, DeliveryResult } from '../crm/adapter.ts';
import { CrmDeliveryError } from '../crm/adapter.ts';
import type { QueueMessages } from '../queue/messages.ts';
import { maxDelaySeconds, maxVisibilitySeconds } from '../queue/messages.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { nonNegativeNumberFromEnv } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import type { HandoffAttempt, LeadStore } from '../store/lead-store.ts';

/** What the consumer does to its queue's messages besides acknowledging them (on SQS: `sqsQueueMessages`). */
export type HandoffMessages = QueueMessages;

export interface HandoffRetryPolicy {
  /** `unavailable`: the first retry's delay; it doubles with each receive. */
  baseSeconds: number;
  /** `unavailable`: the longest delay between two receives. */
  maxSeconds: number;
  /** `rate_limited`: waits up to this long are waited out in the invocation (HubSpot's window is 10 s). */
  maxInProcessWaitSeconds: number;
  /** `rate_limited` with no Retry-After: the re-queue delay. */
  rateLimitedSeconds: number;
  /** `quota_exhausted` with no announced reset: the delay before trying again. */
  quotaDelaySeconds: number;
}

/**
 * With the topology's 24 receives: 30 s, 1, 2, 4, 8 minutes, then every 15 minutes: an outage of about
 * 5 hours (930 s + 19 x 900 s) is ridden out before the DLQ.
 */
export const defaultHandoffRetryPolicy: HandoffRetryPolicy = {
  baseSeconds: 30,
  maxSeconds: 900,
  maxInProcessWaitSeconds: 10,
  rateLimitedSeconds: 10,
  quotaDelaySeconds: 3600,
};

export interface HandoffDeps {
  store: LeadStore;
  adapter: () => Promise<CrmAdapter>;
  /** The queue; without it a failure is only reported as a batch item failure (SQS retries it after its visibility timeout). */
  messages?: HandoffMessages;
  retry?: HandoffRetryPolicy;
  clock?: () => Date;
  /** Time left in the invocation (Lambda's `getRemainingTimeInMillis`). */
  remainingMs?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** `deliver` calls in flight at once for an adapter without batch delivery. */
const deliverConcurrency = 10;
/** Attempt records written at once. */
const recordConcurrency = 16;
/** A round is not started, nor a wait begun, with less than this left: a CRM call and the store must fit. */
const reserveMs = 15_000;
/** In-process waits for a rate limit per invocation; more means the limit is not short-lived. */
const maxInProcessWaits = 3;

/** One message of the batch and the record it carries. */
interface Item {
  message: SQSRecord;
  record: HandoffRecord;
  leadId: string;
  receiveCount: number;
}

/** How a message ends in this invocation. */
type Settlement = { kind: 'done' } | { kind: 'retry'; error: CrmDeliveryError } | { kind: 'dead'; error: CrmDeliveryError };

/** The delay before the n-th retry of an unavailable CRM: base x 2^(n-1), capped, at least what the CRM announced. */
export function handoffRetryDelaySeconds(receiveCount: number, policy: HandoffRetryPolicy, announcedSeconds?: number): number {
  const grown = policy.baseSeconds * 2 ** Math.max(0, Math.min(30, receiveCount - 1));
  return Math.ceil(Math.min(maxVisibilitySeconds, Math.max(Math.min(policy.maxSeconds, grown), announcedSeconds ?? 0)));
}

/** The handoff record a message carries; undefined when it is not one (it never will be). */
export function readHandoffMessage(body: string): { record: HandoffRecord; leadId: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as HandoffRecord;
  const leadId = handoffLeadId(record);
  const types = ['lead.mql', 'lead.recycled', 'lead.disqualified'];
  if (!leadId || typeof record.id !== 'string' || record.id === '' || !types.includes(record.type) || typeof record.occurredAt !== 'string') return undefined;
  // The time orders a lead's handoffs (an older one than a delivered one is superseded): it must be one.
  if (Number.isNaN(Date.parse(record.occurredAt))) return undefined;
  if (typeof record.lead !== 'object' || record.lead === null) return undefined;
  return { record, leadId };
}

/** An ISO time as milliseconds (a record's time is checked by {@link readHandoffMessage}; a stored one is the record's). */
function timeOf(iso: string): number {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

/** The lead's newest delivered handoff, if any. */
function latestDelivered(handoffs: readonly HandoffAttempt[]): HandoffAttempt | undefined {
  let newest: HandoffAttempt | undefined;
  for (const handoff of handoffs) {
    if (handoff.status === 'delivered' && (!newest || timeOf(handoff.occurredAt) > timeOf(newest.occurredAt))) newest = handoff;
  }
  return newest;
}

function asDeliveryError(error: unknown): CrmDeliveryError {
  if (error instanceof CrmDeliveryError) return error;
  return new CrmDeliveryError(`delivery failed: ${error instanceof Error ? error.message : String(error)}`, {
    retryable: true,
    kind: 'unavailable',
    cause: error,
  });
}

/** What the operator does about a failure that goes to the DLQ. */
function fixFor(kind: DeliveryFailureKind | 'unreadable', adapter: string | undefined): string {
  if (kind === 'auth') {
    const credential =
      adapter === 'hubspot'
        ? 'HUBSPOT_ACCESS_TOKEN (a private app token with crm.objects.contacts.write and crm.schemas.contacts.write)'
        : adapter === 'salesforce'
          ? 'SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET (the connected app and its run-as user)'
          : adapter === 'webhook'
            ? 'CRM_WEBHOOK_SECRET (the same on both sides)'
            : "the CRM adapter's credentials";
    return `fix ${credential}, then \`mql redrive --queue handoff\``;
  }
  if (kind === 'unreadable') return 'the message is not a handoff record; inspect it in the DLQ';
  return 'the CRM refused the record: fix the cause named in the error (CRM settings, fields, the lead), then `mql redrive --queue handoff`';
}

/** Delivers a batch of handoff messages; only the messages SQS should deliver again are returned as failures. */
export async function deliverHandoffs(event: SQSEvent, deps: HandoffDeps): Promise<SQSBatchResponse> {
  const clock = deps.clock ?? (() => new Date());
  const retry = deps.retry ?? defaultHandoffRetryPolicy;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const remainingMs = deps.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  const fail = (message: SQSRecord) => batchItemFailures.push({ itemIdentifier: message.messageId });

  // 1. Read and group per lead, in order; a copy of a record already in this batch is acknowledged.
  const byLead = new Map<string, Item[]>();
  const ids = new Set<string>();
  const unreadable: SQSRecord[] = [];
  for (const message of event.Records) {
    const read = readHandoffMessage(message.body);
    if (!read) {
      unreadable.push(message);
      continue;
    }
    if (ids.has(read.record.id)) continue;
    ids.add(read.record.id);
    const item: Item = { message, ...read, receiveCount: Number(message.attributes?.ApproximateReceiveCount ?? 1) || 1 };
    byLead.set(read.leadId, [...(byLead.get(read.leadId) ?? []), item]);
  }
  for (const message of unreadable) {
    logger.error('unreadable handoff message moved to the dead-letter queue', { messageId: message.messageId, action: fixFor('unreadable', undefined) });
    if (!(await deadLetter(message, 'unreadable: the message is not a handoff record'))) fail(message);
  }
  if (byLead.size === 0) return { batchItemFailures };

  let adapter: CrmAdapter;
  try {
    adapter = await deps.adapter();
  } catch (error) {
    // A configuration the operator must fix (CrmConfigurationError) or a secret not readable now: retry later.
    const failure = asDeliveryError(error);
    logger.error('handoff adapter unavailable', { error: failure.message });
    for (const items of byLead.values()) for (const item of items) await settle(item, { kind: 'retry', error: failure }, undefined);
    return { batchItemFailures };
  }

  // 2. One read of each lead's handoffs: skip what is already delivered, and set aside (unsent) what is
  //    older than a handoff of the lead already delivered: SQS keeps no order, and sending it now would
  //    put the CRM back to a stale state (an MQL held back by an outage arriving after its recycle).
  const queues = [...byLead.values()];
  await mapWithConcurrency(queues, 16, async (items) => {
    // A batch's records of one lead go in the order they happened, whatever order SQS handed them in.
    items.sort((a, b) => timeOf(a.record.occurredAt) - timeOf(b.record.occurredAt));
    const leadId = items[0]!.leadId;
    const known = await deps.store.listHandoffs(leadId).catch((error: unknown) => {
      logger.warn("could not read the lead's handoffs; sending without the duplicate check", { leadId, error: error as Error });
      return [];
    });
    const delivered = new Set(known.filter((handoff) => handoff.status === 'delivered').map((handoff) => handoff.id));
    const newest = latestDelivered(known);
    const kept: Item[] = [];
    for (const item of items) {
      const { record } = item;
      if (delivered.has(record.id)) {
        logger.info('handoff already delivered', { id: record.id, type: record.type });
      } else if (newest && timeOf(record.occurredAt) < timeOf(newest.occurredAt)) {
        logger.info('handoff superseded: a newer handoff of the lead was delivered first; not sent', {
          id: record.id,
          type: record.type,
          occurredAt: record.occurredAt,
          supersededBy: newest.id,
          supersededByType: newest.type,
          supersededByOccurredAt: newest.occurredAt,
        });
        await deps.store
          .recordHandoffSuperseded(record, { at: clock(), supersededBy: newest.id, adapter: adapter.name })
          .catch((error: unknown) => logger.error('could not record the superseded handoff', { id: record.id, error: error as Error }));
      } else {
        kept.push(item);
      }
    }
    items.splice(0, items.length, ...kept);
  });

  // 3. Rounds: the next record of every lead whose earlier records are settled.
  let waits = 0;
  let stopAll: CrmDeliveryError | undefined;
  for (;;) {
    const round = queues.filter((items) => items.length > 0).map((items) => items[0]!);
    if (round.length === 0) break;
    if (stopAll === undefined && remainingMs() < reserveMs) {
      stopAll = new CrmDeliveryError('not started: the invocation is about to time out', { retryable: true, kind: 'rate_limited', retryAfterSeconds: 1 });
    }
    let outcomes: Map<Item, Settlement>;
    if (stopAll) outcomes = new Map(round.map((item) => [item, { kind: 'retry', error: stopAll! } as Settlement]));
    else outcomes = await deliverRound(round);
    for (const items of queues) {
      const head = items[0];
      if (!head || !outcomes.has(head)) continue;
      const outcome = outcomes.get(head)!;
      items.shift();
      await settle(head, outcome, adapter.name);
      if (outcome.kind === 'retry') {
        // The lead's later records wait for this one: they go back the same way, in order.
        for (const later of items.splice(0)) await settle(later, outcome, adapter.name);
      }
    }
  }
  return { batchItemFailures };

  /** Sends one round (one record per lead), waiting out short rate limits; a settlement per item. */
  async function deliverRound(round: Item[]): Promise<Map<Item, Settlement>> {
    const outcomes = new Map<Item, Settlement>();
    let pending = round;
    for (;;) {
      const results = await send(pending);
      const at = clock();
      // Every attempt recorded, many at once (a batch of 100 would otherwise wait on 100 round trips).
      await mapWithConcurrency(
        pending.map((item, index) => ({ item, result: results[index]! })),
        recordConcurrency,
        async ({ item, result }) => {
          if (result.ok) await record(item, { at, adapter: adapter.name, outcome: 'delivered', receipt: result.receipt });
          else await record(item, { at, adapter: adapter.name, outcome: 'failed', error: result.error });
        },
      );
      const again: Item[] = [];
      let waitSeconds = 0;
      for (const [index, item] of pending.entries()) {
        const result = results[index]!;
        if (result.ok) {
          logger.info('handoff delivered', {
            id: item.record.id,
            type: item.record.type,
            adapter: adapter.name,
            crmStatus: result.receipt.status,
            externalId: result.receipt.externalId,
            note: result.receipt.note,
          });
          outcomes.set(item, { kind: 'done' });
          continue;
        }
        const error = result.error;
        if (error.kind === 'rate_limited') {
          const seconds = error.retryAfterSeconds ?? retry.rateLimitedSeconds;
          if (seconds <= retry.maxInProcessWaitSeconds && waits < maxInProcessWaits && remainingMs() - seconds * 1000 > reserveMs) {
            again.push(item);
            waitSeconds = Math.max(waitSeconds, seconds);
            continue;
          }
          // No time to wait: the rest of the batch would only deepen the throttle.
          stopAll ??= error;
          outcomes.set(item, { kind: 'retry', error });
        } else if (error.kind === 'auth' || error.kind === 'rejected') {
          outcomes.set(item, { kind: 'dead', error });
        } else {
          outcomes.set(item, { kind: 'retry', error });
        }
      }
      if (again.length === 0) return outcomes;
      waits++;
      logger.warn('CRM rate limit: waiting before sending the throttled records again', { adapter: adapter.name, records: again.length, waitSeconds });
      await sleep(Math.max(0, waitSeconds) * 1000);
      pending = again;
    }
  }

  /** One result per item, in order: batch calls of at most maxBatch, or single deliveries. */
  async function send(items: Item[]): Promise<DeliveryResult[]> {
    const now = clock();
    if (adapter.deliverBatch && adapter.maxBatch && adapter.maxBatch > 1) {
      const size = adapter.maxBatch;
      const chunks: Item[][] = [];
      for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
      const results = await mapWithConcurrency(chunks, 2, async (chunk): Promise<DeliveryResult[]> => {
        try {
          const answer = await adapter.deliverBatch!(
            chunk.map((item) => item.record),
            now,
          );
          if (answer.length !== chunk.length) throw new Error(`the ${adapter.name} adapter answered ${answer.length} results for ${chunk.length} records`);
          return answer;
        } catch (error) {
          const failure = asDeliveryError(error);
          return chunk.map(() => ({ ok: false, error: failure }) as DeliveryResult);
        }
      });
      return results.flat();
    }
    return mapWithConcurrency(items, deliverConcurrency, async (item): Promise<DeliveryResult> => {
      try {
        return { ok: true, receipt: await adapter.deliver(item.record, now) };
      } catch (error) {
        return { ok: false, error: asDeliveryError(error) };
      }
    });
  }

  async function record(
    item: Item,
    attempt: { at: Date; adapter: string; outcome: 'delivered' | 'failed'; receipt?: DeliveryReceipt; error?: CrmDeliveryError },
  ): Promise<void> {
    const { receipt, error } = attempt;
    const crmStatus = receipt?.status ?? error?.status;
    try {
      await deps.store.recordHandoffAttempt(item.record, {
        at: attempt.at,
        adapter: attempt.adapter,
        outcome: attempt.outcome,
        ...(crmStatus === undefined ? {} : { crmStatus }),
        ...(error ? { error: error.message, kind: error.kind } : {}),
        ...(receipt?.externalId ? { externalId: receipt.externalId } : {}),
        ...(receipt?.note ? { note: receipt.note } : {}),
        ...(receipt?.calls === undefined ? {} : { calls: receipt.calls }),
      });
    } catch (recordError) {
      // Delivered but not recorded: a redelivery sends it again, an upsert the CRM absorbs.
      logger.error('could not record the handoff attempt', { id: item.record.id, outcome: attempt.outcome, error: recordError as Error });
    }
  }

  /** Acknowledges, holds back, re-queues or dead-letters one message. */
  async function settle(item: Item, outcome: Settlement, adapterName: string | undefined): Promise<void> {
    const { message, record: handoff } = item;
    if (outcome.kind === 'done') return;
    const { error } = outcome;
    const context = {
      id: handoff.id,
      type: handoff.type,
      adapter: adapterName,
      kind: error.kind,
      status: error.status,
      receiveCount: item.receiveCount,
      error: error.message,
    };
    if (outcome.kind === 'dead') {
      logger.error('handoff moved to the dead-letter queue', { ...context, action: fixFor(error.kind, adapterName) });
      if (!(await deadLetter(message, `${error.kind}${error.status === undefined ? '' : ` ${error.status}`}: ${error.message}`))) fail(message);
      return;
    }
    if (error.kind === 'rate_limited') {
      const seconds = Math.min(maxDelaySeconds, Math.max(1, Math.ceil(error.retryAfterSeconds ?? retry.rateLimitedSeconds)));
      logger.warn('handoff re-queued after a CRM rate limit', { ...context, retryInSeconds: seconds });
      if (deps.messages) {
        try {
          await deps.messages.requeue(message, seconds);
          return;
        } catch (requeueError) {
          logger.warn('could not re-queue the handoff; SQS retries it after its visibility timeout', { id: handoff.id, error: requeueError as Error });
        }
      }
      fail(message);
      return;
    }
    const seconds =
      error.kind === 'quota_exhausted'
        ? Math.min(maxVisibilitySeconds, Math.ceil(error.retryAfterSeconds ?? retry.quotaDelaySeconds))
        : handoffRetryDelaySeconds(item.receiveCount, retry, error.retryAfterSeconds);
    if (error.kind === 'quota_exhausted')
      logger.error('CRM quota exhausted: handoffs wait for it to reset', {
        ...context,
        retryInSeconds: seconds,
        action: 'raise the CRM API limit or lower the handoff volume',
      });
    else logger.warn('handoff delivery failed; will retry', { ...context, retryInSeconds: seconds });
    if (deps.messages) {
      await deps.messages
        .delay(message, seconds)
        .catch((delayError: unknown) => logger.warn('could not delay the handoff message', { id: handoff.id, error: delayError as Error }));
    }
    fail(message);
  }

  async function deadLetter(message: SQSRecord, reason: string): Promise<boolean> {
    if (!deps.messages) return false;
    try {
      await deps.messages.deadLetter(message, reason);
      return true;
    } catch (error) {
      // Not on the DLQ: keep it on the queue (its redrive policy still ends in the DLQ).
      logger.error('could not move the handoff message to the dead-letter queue', { messageId: message.messageId, error: error as Error });
      return false;
    }
  }
}

/** HANDOFF_RETRY_BASE_SECONDS, HANDOFF_RETRY_MAX_SECONDS, HANDOFF_MAX_WAIT_SECONDS, HANDOFF_RATE_LIMIT_SECONDS, HANDOFF_QUOTA_DELAY_SECONDS (tests shorten them). */
export function handoffRetryPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): HandoffRetryPolicy {
  const read = (name: string, fallback: number) => nonNegativeNumberFromEnv(env, name, fallback);
  const d = defaultHandoffRetryPolicy;
  return {
    baseSeconds: read('HANDOFF_RETRY_BASE_SECONDS', d.baseSeconds),
    maxSeconds: read('HANDOFF_RETRY_MAX_SECONDS', d.maxSeconds),
    maxInProcessWaitSeconds: read('HANDOFF_MAX_WAIT_SECONDS', d.maxInProcessWaitSeconds),
    rateLimitedSeconds: read('HANDOFF_RATE_LIMIT_SECONDS', d.rateLimitedSeconds),
    quotaDelaySeconds: read('HANDOFF_QUOTA_DELAY_SECONDS', d.quotaDelaySeconds),
  };
}
