/**
 * The consumer of the `handoff` queue: delivers lifecycle transitions (MQL, recycled, disqualified; and an
 * account's MQA and recycle, `account.*`) to the CRM within its rate limits, and never loses or doubles one. The queue skeleton (lib/queue/consumer.ts)
 * reads the batch and settles each message; this module decides what to send and how each ends.
 *
 * - A batch's records are grouped per lead, oldest first (by occurredAt: SQS keeps no order), and sent
 *   in rounds: each round holds at most one record per lead (so one lead's MQL always reaches the CRM
 *   before its recycle), through `deliverBatch` in chunks of the adapter's `maxBatch` when it has one
 *   (HubSpot: 100 per call), else one `deliver` per record with bounded concurrency. A lead whose record
 *   failed keeps its later records back with it.
 * - A handoff already delivered is acknowledged without a call (SQS delivers at least once; a
 *   re-queued copy is harmless).
 * - A handoff older than one of the same lead already delivered (an MQL held back by an outage or the
 *   DLQ, arriving after its recycle) is acknowledged without a call too: sending it would put the CRM
 *   back to a stale state. Its summary item says `superseded` with the newer handoff's id
 *   (`mql deliveries` shows it) and a log line says so. Each lead's handoffs are read once per batch.
 * - Failures, by kind ({@link DeliveryFailureKind}), settled by the queue's policy (lib/topology.ts):
 *   - `rate_limited`: a short wait (Retry-After within {@link HandoffPolicy.maxInProcessWaitSeconds}
 *     and time left in the invocation) is waited out here and the failed rows are sent again; a longer
 *     one re-queues the body with DelaySeconds and acknowledges the original, so the receive count is not
 *     consumed and a 429 storm never reaches the DLQ;
 *   - `unavailable` (5xx, network, a locked row): held back for a delay growing with the receive count;
 *     after the queue's maxReceiveCount receives SQS dead-letters it;
 *   - `quota_exhausted` (a daily limit): held back for the time the CRM announced, with an error log line
 *     for the alarm;
 *   - `auth`, `rejected`: retrying cannot help: to the DLQ at once with the error as a message
 *     attribute, and an error log line names the fix; `mql redrive` replays it once fixed.
 * Every attempt is recorded on the lead (the handoff ledger, lib/store/handoff-ledger.ts).
 *
 * Account records (lib/core/account-lifecycle.ts) go the same way with the account in the lead's place: grouped,
 * ordered, deduplicated and superseded per account, their attempts recorded on the account's partition. Before
 * one is sent, its members erased since it was decided are blanked out of it (`leadId` "erased", no job title,
 * in the reasons too: the points still add up), and, for an adapter that links members (HubSpot), each
 * remaining member's CRM id is read from its own delivered handoffs (the receipts' `externalId`).
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { CrmAdapter, DeliveryContext, DeliveryFailureKind, DeliveryReceipt, DeliveryResult } from '../crm/adapter.ts';
import { CrmDeliveryError } from '../crm/adapter.ts';
import type { Batch, QueueConsumer, Received } from '../queue/consumer.ts';
import { consumeQueue, notStarted } from '../queue/consumer.ts';
import type { QueueMessages } from '../queue/messages.ts';
import type { Failure, RetryPolicy } from '../queue/settlement.ts';
import { retryPolicyFromEnv } from '../queue/settlement.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { nonNegativeNumberFromEnv } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import { leadRef } from '../runtime/pseudonym.ts';
import type { HandoffAttempt, HandoffLedger } from '../store/repository.ts';
import { queueSpec } from '../topology.ts';
import { erasedMembersOf, memberCrmIdsOf, withoutMembers } from './account-members.ts';
import type { AccountHandoffMessage, HandoffMessage } from './records.ts';
import { latestDelivered, ownerOf, readHandoffMessage, timeOf } from './records.ts';

export interface HandoffPolicy {
  /** The handoff queue's retry policy. */
  retry: RetryPolicy;
  /** `rate_limited`: waits up to this long are waited out in the invocation (HubSpot's window is 10 s). */
  maxInProcessWaitSeconds: number;
}

export const defaultHandoffPolicy: HandoffPolicy = { retry: queueSpec('handoff').retry, maxInProcessWaitSeconds: 10 };

/** The policy with HANDOFF_RETRY_BASE_SECONDS, _RETRY_MAX_SECONDS, _RATE_LIMIT_SECONDS, _QUOTA_DELAY_SECONDS, _MAX_WAIT_SECONDS (tests shorten them). */
export function handoffPolicyFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): HandoffPolicy {
  return {
    retry: retryPolicyFromEnv(queueSpec('handoff').retryEnvPrefix, defaultHandoffPolicy.retry, env),
    maxInProcessWaitSeconds: nonNegativeNumberFromEnv(env, 'HANDOFF_MAX_WAIT_SECONDS', defaultHandoffPolicy.maxInProcessWaitSeconds),
  };
}

export interface HandoffDeps {
  store: Pick<HandoffLedger, 'listHandoffs' | 'listAccountHandoffs' | 'recordHandoffAttempt' | 'recordHandoffSuperseded' | 'erasedAt'>;
  adapter: () => Promise<CrmAdapter>;
  /** The queue; without it a failure is only reported as a batch item failure (SQS retries it after its visibility timeout). */
  messages?: QueueMessages;
  policy?: HandoffPolicy;
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

type Item = Received<HandoffMessage>;

/** How the queue treats each kind of delivery failure. */
const dispositions: Record<DeliveryFailureKind, Failure['disposition']> = {
  rate_limited: 'throttled',
  quota_exhausted: 'held',
  unavailable: 'retry',
  auth: 'permanent',
  rejected: 'permanent',
};

function failureOf(error: CrmDeliveryError, adapter: string | undefined): Failure {
  return {
    disposition: dispositions[error.kind],
    kind: error.kind,
    message: error.message,
    ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    ...(error.status === undefined ? {} : { code: error.status }),
    fields: { adapter, status: error.status },
  };
}

function asDeliveryError(error: unknown): CrmDeliveryError {
  if (error instanceof CrmDeliveryError) return error;
  return new CrmDeliveryError(`delivery failed: ${error instanceof Error ? error.message : String(error)}`, {
    retryable: true,
    kind: 'unavailable',
    cause: error,
  });
}

/** What the operator does about a failure that goes to the DLQ, or a spent quota. */
function fixFor(kind: string, adapter: unknown): string {
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
  if (kind === 'quota_exhausted') return 'raise the CRM API limit or lower the handoff volume';
  if (kind === 'unreadable') return 'the message is not a handoff record; inspect it in the DLQ';
  return 'the CRM refused the record: fix the cause named in the error (CRM settings, fields, the lead), then `mql redrive --queue handoff`';
}

const handoffQueue: QueueConsumer<HandoffMessage> = {
  noun: 'handoff',
  read: readHandoffMessage,
  unreadable: 'the message is not a handoff record',
  describe: ({ body }) => ({ id: body.record.id, type: body.record.type }),
  fix: (failure) => fixFor(failure.kind, failure.fields?.adapter),
  // The alarms' metric filters (cdk/) and the tests match these.
  logMessages: {
    retried: 'handoff delivery failed; will retry',
    requeued: 'handoff re-queued after a CRM rate limit',
    held: 'CRM quota exhausted: handoffs wait for it to reset',
  },
};

/** Delivers a batch of handoff messages; only the messages SQS should deliver again are returned as failures. */
export async function deliverHandoffs(event: SQSEvent, deps: HandoffDeps): Promise<SQSBatchResponse> {
  const policy = deps.policy ?? defaultHandoffPolicy;
  const options = {
    policy: policy.retry,
    reserveMs,
    ...(deps.messages ? { messages: deps.messages } : {}),
    ...(deps.remainingMs ? { remainingMs: deps.remainingMs } : {}),
  };
  return consumeQueue(event, handoffQueue, options, async (items, batch) => {
    const byLead = groupByOwner(items, batch);
    if (byLead.length === 0) return;
    let adapter: CrmAdapter;
    try {
      adapter = await deps.adapter();
    } catch (error) {
      // A configuration the operator must fix (CrmConfigurationError) or a secret not readable now: retry later.
      const failure = asDeliveryError(error);
      logger.error('handoff adapter unavailable', { error: failure.message });
      for (const queue of byLead) for (const item of queue) await batch.settle(item, failureOf(failure, undefined));
      return;
    }
    const delivery = new Delivery(deps, policy, adapter, batch);
    await delivery.setAsideDeliveredAndSuperseded(byLead);
    await delivery.deliverInRounds(byLead);
  });
}

/** The batch's records per lead (or account); a copy of a record already in the batch is acknowledged. */
function groupByOwner(items: readonly Item[], batch: Batch<HandoffMessage>): Item[][] {
  const byLead = new Map<string, Item[]>();
  const ids = new Set<string>();
  for (const item of items) {
    if (ids.has(item.body.record.id)) {
      void batch.settle(item);
      continue;
    }
    ids.add(item.body.record.id);
    const owner = ownerOf(item.body);
    byLead.set(owner, [...(byLead.get(owner) ?? []), item]);
  }
  return [...byLead.values()];
}

/** One invocation's delivery of a batch through one adapter. */
class Delivery {
  private readonly deps: HandoffDeps;
  private readonly policy: HandoffPolicy;
  private readonly adapter: CrmAdapter;
  private readonly batch: Batch<HandoffMessage>;
  private readonly clock: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  private waits = 0;
  /** What each account record is sent with (its members' CRM ids), by record id. */
  private readonly contexts = new Map<string, DeliveryContext>();
  /** Once set, no further record is sent in this invocation: each is settled with this failure. */
  private stopAll: Failure | undefined;

  constructor(deps: HandoffDeps, policy: HandoffPolicy, adapter: CrmAdapter, batch: Batch<HandoffMessage>) {
    this.deps = deps;
    this.policy = policy;
    this.adapter = adapter;
    this.batch = batch;
    this.clock = deps.clock ?? (() => new Date());
    this.sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * One read of each lead's handoffs: acknowledges what is already delivered, and sets aside (unsent) what
   * is older than a handoff of the lead already delivered: SQS keeps no order, and sending it now would put
   * the CRM back to a stale state (an MQL held back by an outage arriving after its recycle). Sorts each
   * lead's records in the order they happened, whatever order SQS handed them in.
   */
  async setAsideDeliveredAndSuperseded(byLead: Item[][]): Promise<void> {
    await mapWithConcurrency(byLead, 16, async (items) => {
      items.sort((a, b) => timeOf(a.body.record.occurredAt) - timeOf(b.body.record.occurredAt));
      const first = items[0]!.body;
      const [known, erasedAt] = await (first.leadId !== undefined ? this.leadLedger(first.leadId) : this.accountLedger(first.accountKey));
      const delivered = new Set(known.filter((handoff) => handoff.status === 'delivered').map((handoff) => handoff.id));
      const newest = latestDelivered(known);
      const kept: Item[] = [];
      for (const item of items) {
        const { record } = item.body;
        if (erasedAt !== undefined && timeOf(record.occurredAt) <= timeOf(erasedAt)) {
          logger.info('handoff of a person erased since: not sent', { id: record.id, type: record.type, occurredAt: record.occurredAt, erasedAt });
        } else if (delivered.has(record.id)) {
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
          await this.deps.store
            .recordHandoffSuperseded(record, { at: this.clock(), supersededBy: newest.id, adapter: this.adapter.name })
            .catch((error: unknown) => logger.error('could not record the superseded handoff', { id: record.id, error: error as Error }));
        } else {
          if (item.body.accountKey !== undefined) await this.prepareAccount(item as Received<AccountHandoffMessage>);
          kept.push(item);
          continue;
        }
        await this.batch.settle(item);
      }
      items.splice(0, items.length, ...kept);
    });
  }

  /** A lead's handoffs as recorded, and when its person was erased (if they were). */
  private leadLedger(leadId: string): Promise<[HandoffAttempt[], string | undefined]> {
    return Promise.all([
      this.deps.store.listHandoffs(leadId).catch((error: unknown) => {
        logger.warn("could not read the lead's handoffs; sending without the duplicate check", { lead: leadRef(leadId), error: error as Error });
        return [];
      }),
      // [erasure] A record decided before its person was erased is not sent (docs/data-protection.md). Unreadable: retried.
      this.deps.store.erasedAt(leadId),
    ]);
  }

  /** An account's handoffs as recorded (an account is never erased: its members are, see {@link prepareAccount}). */
  private async accountLedger(accountKey: string): Promise<[HandoffAttempt[], undefined]> {
    const known = await this.deps.store.listAccountHandoffs(accountKey).catch((error: unknown) => {
      logger.warn("could not read the account's handoffs; sending without the duplicate check", { account: accountKey, error: error as Error });
      return [];
    });
    return [known, undefined];
  }

  /**
   * An account record as it may be sent: [erasure] each member erased at or after the record was decided is
   * blanked out (docs/data-protection.md, "Accounts"); with an adapter that links members, the CRM id of each
   * remaining member delivered to it before. Tombstones unreadable: thrown, so the record is retried.
   */
  private async prepareAccount(item: Received<AccountHandoffMessage>): Promise<void> {
    const { record } = item.body;
    const erased = await erasedMembersOf(record, (leadId) => this.deps.store.erasedAt(leadId));
    const sendable = erased.size === 0 ? record : withoutMembers(record, erased);
    if (erased.size > 0) {
      logger.info('account handoff: members erased since it was decided are left out', { id: record.id, type: record.type, erased: erased.size });
      (item as { body: AccountHandoffMessage }).body = { record: sendable, accountKey: item.body.accountKey };
    }
    if (this.adapter.linksMembers)
      this.contexts.set(record.id, {
        memberCrmIds: await memberCrmIdsOf(sendable.members, this.adapter.name, (leadId) => this.deps.store.listHandoffs(leadId)),
      });
  }

  /** Rounds: the next record of every lead whose earlier records are settled, until none is left. */
  async deliverInRounds(byLead: Item[][]): Promise<void> {
    for (;;) {
      const round = byLead.filter((items) => items.length > 0).map((items) => items[0]!);
      if (round.length === 0) return;
      if (this.stopAll === undefined && !this.batch.hasTime()) this.stopAll = notStarted;
      const stop = this.stopAll;
      const outcomes = stop ? new Map(round.map((item) => [item, stop] as const)) : await this.deliverRound(round);
      for (const items of byLead) {
        const head = items[0];
        if (!head || !outcomes.has(head)) continue;
        const failure = outcomes.get(head);
        items.shift();
        await this.batch.settle(head, failure);
        if (failure && failure.disposition !== 'permanent') {
          // The lead's later records wait for this one: they go back the same way, in order.
          for (const later of items.splice(0)) await this.batch.settle(later, failure);
        }
      }
    }
  }

  /** Sends one round (one record per lead), waiting out short rate limits; per item its failure, or undefined once delivered. */
  private async deliverRound(round: Item[]): Promise<Map<Item, Failure | undefined>> {
    const outcomes = new Map<Item, Failure | undefined>();
    let pending = round;
    for (;;) {
      const results = await this.send(pending);
      const at = this.clock();
      // Every attempt recorded, many at once (a batch of 100 would otherwise wait on 100 round trips).
      await mapWithConcurrency(
        pending.map((item, index) => ({ item, result: results[index]! })),
        recordConcurrency,
        ({ item, result }) => this.record(item, at, result),
      );
      const again: Item[] = [];
      let waitSeconds = 0;
      for (const [index, item] of pending.entries()) {
        const result = results[index]!;
        if (result.ok) {
          const { record } = item.body;
          const { receipt } = result;
          logger.info('handoff delivered', {
            id: record.id,
            type: record.type,
            adapter: this.adapter.name,
            crmStatus: receipt.status,
            externalId: receipt.externalId,
            note: receipt.note,
          });
          outcomes.set(item, undefined);
          continue;
        }
        const { error } = result;
        const failure = failureOf(error, this.adapter.name);
        if (error.kind === 'rate_limited') {
          const seconds = error.retryAfterSeconds ?? this.policy.retry.throttledSeconds ?? 0;
          if (seconds <= this.policy.maxInProcessWaitSeconds && this.waits < maxInProcessWaits && this.batch.hasTime(seconds * 1000)) {
            again.push(item);
            waitSeconds = Math.max(waitSeconds, seconds);
            continue;
          }
          // No time to wait: the rest of the batch would only deepen the throttle.
          this.stopAll ??= failure;
        }
        outcomes.set(item, failure);
      }
      if (again.length === 0) return outcomes;
      this.waits++;
      logger.warn('CRM rate limit: waiting before sending the throttled records again', { adapter: this.adapter.name, records: again.length, waitSeconds });
      await this.sleep(Math.max(0, waitSeconds) * 1000);
      pending = again;
    }
  }

  /** One result per item, in order: batch calls of at most maxBatch, or single deliveries. */
  private async send(items: Item[]): Promise<DeliveryResult[]> {
    const now = this.clock();
    const { adapter } = this;
    if (adapter.deliverBatch && adapter.maxBatch && adapter.maxBatch > 1) {
      const deliverBatch = adapter.deliverBatch.bind(adapter);
      const size = adapter.maxBatch;
      const chunks: Item[][] = [];
      for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
      const results = await mapWithConcurrency(chunks, 2, async (chunk): Promise<DeliveryResult[]> => {
        try {
          const answer = await deliverBatch(
            chunk.map((item) => item.body.record),
            now,
            chunk.map((item) => this.contexts.get(item.body.record.id)),
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
        return { ok: true, receipt: await adapter.deliver(item.body.record, now, this.contexts.get(item.body.record.id)) };
      } catch (error) {
        return { ok: false, error: asDeliveryError(error) };
      }
    });
  }

  /** Records one attempt on the lead (`mql deliveries` shows it); a failure to record is logged, never fatal. */
  private async record(item: Item, at: Date, result: DeliveryResult): Promise<void> {
    const receipt: DeliveryReceipt | undefined = result.ok ? result.receipt : undefined;
    const error = result.ok ? undefined : result.error;
    const crmStatus = receipt?.status ?? error?.status;
    try {
      await this.deps.store.recordHandoffAttempt(item.body.record, {
        at,
        adapter: this.adapter.name,
        outcome: result.ok ? 'delivered' : 'failed',
        ...(crmStatus === undefined ? {} : { crmStatus }),
        ...(error ? { error: error.message, kind: error.kind } : {}),
        ...(receipt?.externalId ? { externalId: receipt.externalId } : {}),
        ...(receipt?.note ? { note: receipt.note } : {}),
        ...(receipt?.calls === undefined ? {} : { calls: receipt.calls }),
      });
    } catch (recordError) {
      // Delivered but not recorded: a redelivery sends it again, an upsert the CRM absorbs.
      logger.error('could not record the handoff attempt', {
        id: item.body.record.id,
        outcome: result.ok ? 'delivered' : 'failed',
        error: recordError as Error,
      });
    }
  }
}
