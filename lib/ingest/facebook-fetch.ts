/**
 * The consumer of the `facebook-leads` queue: fetches each lead from the Graph API and stores it as one
 * `form_submitted` event through the pipeline (scored, handoffs flushed).
 *
 * No lead is ever lost, and none is counted twice:
 * - a lead stored is acknowledged (and recorded on its SEEN item, so a duplicate message costs no Graph call);
 * - a failure a retry can fix (rate limit, 5xx, network, our own store) holds the message back for a
 *   growing delay (ChangeMessageVisibility by receive count) and reports it as a batch item failure; after
 *   `maxReceiveCount` receives SQS moves it to the dead-letter queue;
 * - a failure no retry can fix (invalid token, a lead that does not exist) moves the message to the DLQ at
 *   once with an error log line, then acknowledges it: the DLQ alarm fires, retries are not burned, and
 *   `mql redrive` replays it once the token is fixed;
 * - the event's write is conditional on its key (leadgen id and the lead's own time), so a second fetch of
 *   the same lead changes nothing.
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { fetchGraphLead, GraphError } from '../apis/facebook-graph.ts';
import type { QueueMessages } from '../queue/messages.ts';
import { maxVisibilitySeconds, sqsQueueMessages } from '../queue/messages.ts';
import { dynamo, sqs } from '../runtime/aws.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { getSecrets, nonNegativeNumberFromEnv, requireEnv } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import type { GraphLead, LeadgenNotification } from '../sources/facebook.ts';
import { defaultFacebookGraphUrl, facebookSourceName, normalizeGraphLead } from '../sources/facebook.ts';
import { isObject, own } from '../sources/fields.ts';
import { SeenStore } from '../store/seen-store.ts';
import { dlqUrlEnv, queueUrlEnv, tableNameEnv } from '../topology.ts';
import { pipelineFromEnv } from './from-env.ts';
import type { Pipeline } from './pipeline.ts';
import { ingest } from './pipeline.ts';

/** What the consumer does to its own queue's messages besides acknowledging them: hold back, dead-letter (on SQS: {@link sqsQueueMessages}). */
export type LeadgenMessages = Pick<QueueMessages, 'delay' | 'deadLetter'>;

/** Retry delays grow with the receive count: base, 2 x base, 4 x base, ... up to max. */
export interface RetryPolicy {
  baseSeconds: number;
  maxSeconds: number;
}

/**
 * With the topology's 8 receives: 1, 2, 4, 8, 16, 32, then 60 minutes, about 2 hours in all before the
 * DLQ; Graph's app and page limits clear within the hour.
 */
export const defaultRetryPolicy: RetryPolicy = { baseSeconds: 60, maxSeconds: 3600 };

export interface FetchDeps {
  pipeline: Pipeline;
  seen: SeenStore;
  /** Fetches a lead; throws a {@link GraphError} saying whether a retry can help. */
  graph: (leadgenId: string) => Promise<GraphLead>;
  messages: LeadgenMessages;
  retry: RetryPolicy;
  clock?: () => Date;
  /** Time left in this invocation; messages not started with less than {@link reserveMs} left are retried later. */
  remainingMs?: () => number;
}

/** Messages of one batch fetched at once (Graph calls in flight). */
const concurrency = 4;
/** A message is not started with less than this left: a Graph call (8 s at most) and the store must fit. */
const reserveMs = 12_000;

/** The delay before the n-th retry (n = the message's receive count so far), at least what Meta announced. */
export function retryDelaySeconds(receiveCount: number, policy: RetryPolicy, announcedSeconds?: number): number {
  const exponent = Math.max(0, Math.min(30, receiveCount - 1));
  const grown = policy.baseSeconds * 2 ** exponent;
  return Math.ceil(Math.min(maxVisibilitySeconds, Math.min(policy.maxSeconds, Math.max(grown, announcedSeconds ?? 0))));
}

/** The notification a message carries; undefined when it is not one (it will never become readable). */
export function readLeadgenMessage(body: string): LeadgenNotification | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isObject(parsed)) return undefined;
  const leadgenId = own(parsed, 'leadgenId');
  if (typeof leadgenId !== 'string' || !/^\d{1,30}$/.test(leadgenId)) return undefined;
  const optional = (key: string) => (typeof own(parsed, key) === 'string' ? (own(parsed, key) as string) : undefined);
  const notification: { -readonly [K in keyof LeadgenNotification]: LeadgenNotification[K] } = { leadgenId };
  for (const key of ['pageId', 'formId', 'adId', 'createdTime'] as const) {
    const value = optional(key);
    if (value !== undefined) notification[key] = value;
  }
  return notification;
}

/** Fetches and stores a batch of leads; the messages to retry are returned as batch item failures. */
export async function fetchFacebookLeads(event: SQSEvent, deps: FetchDeps): Promise<SQSBatchResponse> {
  const clock = deps.clock ?? (() => new Date());
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  // After one rate limit the rest of the batch waits too: every further call would only deepen the throttle.
  let throttled: GraphError | undefined;
  await mapWithConcurrency(event.Records, concurrency, async (message) => {
    const done = await settle(message);
    if (!done) batchItemFailures.push({ itemIdentifier: message.messageId });
  });
  return { batchItemFailures };

  /** True when the message is finished with (stored, already stored, or on the DLQ); false to retry it. */
  async function settle(message: SQSRecord): Promise<boolean> {
    const receiveCount = Number(message.attributes?.ApproximateReceiveCount ?? 1) || 1;
    const notification = readLeadgenMessage(message.body);
    if (!notification) return deadLetter(message, undefined, 'unreadable', 'the message is not a leadgen notification');
    const { leadgenId } = notification;
    if (throttled) return retryLater(message, notification, receiveCount, throttled);
    if (deps.remainingMs && deps.remainingMs() < reserveMs) {
      return retryLater(message, notification, 1, new GraphError('transient', 'not started: the invocation is about to time out'));
    }

    let graphLead: GraphLead;
    try {
      const seen = await deps.seen.get(facebookSourceName, leadgenId);
      if (seen?.fetchedAt) {
        logger.info('facebook lead already stored', { leadgenId, leadId: seen.leadId, fetchedAt: seen.fetchedAt });
        return true;
      }
      graphLead = await deps.graph(leadgenId);
    } catch (error) {
      const failure = error instanceof GraphError ? error : new GraphError('transient', (error as Error).message, { cause: error });
      if (failure.retryable) {
        if (failure.kind === 'rate_limited') throttled ??= failure;
        return retryLater(message, notification, receiveCount, failure);
      }
      return deadLetter(message, notification, failure.kind, failure.message, failure);
    }

    const normalized = normalizeGraphLead(graphLead, notification);
    if (!normalized) return deadLetter(message, notification, 'permanent', 'the Graph lead and the webhook carry no created_time');
    const now = clock();
    try {
      const result = await ingest([normalized], deps.pipeline, now);
      logger.info('facebook lead stored', {
        leadgenId,
        leadId: normalized.leadKey,
        applied: result.applied,
        duplicates: result.duplicates,
        handoffs: result.handoffs,
      });
    } catch (error) {
      return retryLater(
        message,
        notification,
        receiveCount,
        new GraphError('transient', `the lead was not stored: ${(error as Error).message}`, { cause: error }),
      );
    }
    try {
      await deps.seen.recordFetched(facebookSourceName, leadgenId, normalized.leadKey, now);
    } catch (error) {
      // The event is stored; without the mark a duplicate message costs one more Graph call, nothing else.
      logger.warn('could not mark the facebook lead as fetched', { leadgenId, error: error as Error });
    }
    return true;
  }

  async function retryLater(message: SQSRecord, notification: LeadgenNotification, receiveCount: number, failure: GraphError): Promise<boolean> {
    const seconds = retryDelaySeconds(receiveCount, deps.retry, failure.retryAfterSeconds);
    logger.warn('facebook lead fetch will be retried', {
      leadgenId: notification.leadgenId,
      kind: failure.kind,
      code: failure.code,
      subcode: failure.subcode,
      httpStatus: failure.httpStatus,
      fbtraceId: failure.fbtraceId,
      receiveCount,
      retryInSeconds: seconds,
      error: failure.message,
    });
    try {
      await deps.messages.delay(message, seconds);
    } catch (error) {
      // The message still comes back, after the queue's own visibility timeout.
      logger.warn('could not delay the facebook lead message', { leadgenId: notification.leadgenId, error: error as Error });
    }
    return false;
  }

  async function deadLetter(
    message: SQSRecord,
    notification: LeadgenNotification | undefined,
    kind: string,
    reason: string,
    failure?: GraphError,
  ): Promise<boolean> {
    const action =
      kind === 'invalid_token'
        ? 'replace FACEBOOK_ACCESS_TOKEN (a long-lived Page or system-user token), then redrive the DLQ'
        : kind === 'not_found'
          ? 'the lead does not exist or the token cannot read it (Page role, leads_retrieval); fix access, then redrive the DLQ'
          : 'inspect the message in the DLQ, fix the cause, then redrive';
    logger.error('facebook lead moved to the dead-letter queue', {
      leadgenId: notification?.leadgenId,
      messageId: message.messageId,
      kind,
      code: failure?.code,
      subcode: failure?.subcode,
      httpStatus: failure?.httpStatus,
      fbtraceId: failure?.fbtraceId,
      error: reason,
      action,
    });
    try {
      await deps.messages.deadLetter(
        message,
        `${kind}${failure?.code === undefined ? '' : ` ${failure.code}${failure.subcode === undefined ? '' : `/${failure.subcode}`}`}: ${reason}`,
      );
      return true;
    } catch (error) {
      // Not on the DLQ: keep it on the queue (its redrive policy still ends in the DLQ).
      logger.error('could not move the facebook lead message to the dead-letter queue', { leadgenId: notification?.leadgenId, error: error as Error });
      return false;
    }
  }
}

/** A retry policy from FACEBOOK_RETRY_BASE_SECONDS / FACEBOOK_RETRY_MAX_SECONDS (tests shorten it), else the default. */
export function retryPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RetryPolicy {
  const read = (name: string, fallback: number) => nonNegativeNumberFromEnv(env, name, fallback);
  return {
    baseSeconds: read('FACEBOOK_RETRY_BASE_SECONDS', defaultRetryPolicy.baseSeconds),
    maxSeconds: read('FACEBOOK_RETRY_MAX_SECONDS', defaultRetryPolicy.maxSeconds),
  };
}

/**
 * The consumer's dependencies from the Lambda environment. Secrets are read on every batch (cached
 * 5 minutes in AWS), so a replaced token is used without a redeploy; while FACEBOOK_ACCESS_TOKEN or
 * FACEBOOK_APP_SECRET is unset every fetch fails as `invalid_token` (to the DLQ, with the error line).
 */
export async function facebookFetchFromEnv(): Promise<FetchDeps> {
  const secrets = await getSecrets();
  const tableName = requireEnv(tableNameEnv);
  const graphUrl = process.env.FACEBOOK_GRAPH_URL || defaultFacebookGraphUrl;
  const { FACEBOOK_ACCESS_TOKEN: accessToken, FACEBOOK_APP_SECRET: appSecret } = secrets;
  return {
    pipeline: pipelineFromEnv(),
    seen: new SeenStore({ client: dynamo(), tableName }),
    graph: async (leadgenId) => {
      if (!accessToken || !appSecret) throw new GraphError('invalid_token', `${accessToken ? 'FACEBOOK_APP_SECRET' : 'FACEBOOK_ACCESS_TOKEN'} is not set`);
      return fetchGraphLead(leadgenId, { graphUrl, accessToken, appSecret });
    },
    messages: sqsQueueMessages(sqs(), requireEnv(queueUrlEnv('facebook-leads')), requireEnv(dlqUrlEnv('facebook-leads'))),
    retry: retryPolicyFromEnv(),
  };
}
