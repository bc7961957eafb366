/**
 * How a queue consumer settles a message it could not finish: a pure decision from the failure, the
 * message's receive count and the queue's retry policy. Every queue consumer decides through
 * {@link settlement}; {@link consumeQueue} (./consumer.ts) carries the decision out on SQS.
 */

import { nonNegativeNumberFromEnv } from '../runtime/config.ts';
import type { RetryPolicy } from '../topology.ts';

export type { RetryPolicy } from '../topology.ts';

/** SQS's longest DelaySeconds. */
export const maxDelaySeconds = 900;
/** SQS refuses a visibility timeout above 12 hours. */
export const maxVisibilitySeconds = 43_200;

/** What a consumer knows of a failure: how the queue should treat it, and what to log. */
export interface Failure {
  /**
   * - `retry`: may pass by itself (5xx, network, our own store): held back for a delay growing with the
   *   receive count; after the queue's maxReceiveCount SQS dead-letters it.
   * - `throttled`: a rate limit, or not started for lack of time: sent again with a delay and the original
   *   acknowledged, so the receive count is not used up (a 429 storm never reaches the DLQ).
   * - `held`: a quota spent until a known reset: held back until then.
   * - `permanent`: no retry can help (an invalid token, a refused record, an unreadable message): to the
   *   dead-letter queue at once.
   */
  readonly disposition: 'retry' | 'throttled' | 'held' | 'permanent';
  /** The domain's own name for it (auth, rate_limited, invalid_token, unreadable, ...): logged and put on the dead letter. */
  readonly kind: string;
  readonly message: string;
  /** The wait the other side announced (Retry-After, a quota's reset), in seconds. */
  readonly retryAfterSeconds?: number;
  /** The other side's own code (an HTTP status, Graph's `code/subcode`), put on the dead letter after the kind. */
  readonly code?: string | number;
  /** More log fields about the failure (never personal data). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

export type Settlement =
  | { readonly action: 'ack' }
  /** Held back by its visibility timeout and reported as a batch item failure: SQS delivers it again after `afterSeconds`. */
  | { readonly action: 'retry'; readonly afterSeconds: number }
  /** Its body sent again with DelaySeconds, the original acknowledged. */
  | { readonly action: 'requeue'; readonly afterSeconds: number }
  /** Put on the dead-letter queue with why, then acknowledged. */
  | { readonly action: 'dead-letter' };

/**
 * The delay before the n-th retry (n = the message's receive count so far): base x 2^(n-1), never
 * shorter than what the other side announced, never longer than the policy's maximum (the operator's
 * bound holds even against an announced wait: a long announced reset is a `held` failure, not a retry)
 * nor than SQS allows.
 */
export function backoffSeconds(receiveCount: number, policy: Pick<RetryPolicy, 'baseSeconds' | 'maxSeconds'>, announcedSeconds?: number): number {
  const grown = policy.baseSeconds * 2 ** Math.max(0, Math.min(30, receiveCount - 1));
  return Math.ceil(Math.min(maxVisibilitySeconds, policy.maxSeconds, Math.max(grown, announcedSeconds ?? 0)));
}

/** What to do with a message: `failure` undefined means it is done with. */
export function settlement(failure: Failure | undefined, receiveCount: number, policy: RetryPolicy): Settlement {
  if (!failure) return { action: 'ack' };
  switch (failure.disposition) {
    case 'permanent':
      return { action: 'dead-letter' };
    case 'throttled':
      if (policy.throttledSeconds !== undefined) {
        return { action: 'requeue', afterSeconds: Math.min(maxDelaySeconds, Math.max(1, Math.ceil(failure.retryAfterSeconds ?? policy.throttledSeconds))) };
      }
      return { action: 'retry', afterSeconds: backoffSeconds(receiveCount, policy, failure.retryAfterSeconds) };
    case 'held':
      return { action: 'retry', afterSeconds: Math.min(maxVisibilitySeconds, Math.ceil(failure.retryAfterSeconds ?? policy.heldSeconds)) };
    case 'retry':
      return { action: 'retry', afterSeconds: backoffSeconds(receiveCount, policy, failure.retryAfterSeconds) };
  }
}

/**
 * A policy from the environment: `<PREFIX>_RETRY_BASE_SECONDS`, `_RETRY_MAX_SECONDS`, `_RATE_LIMIT_SECONDS`
 * and `_QUOTA_DELAY_SECONDS` (e.g. HANDOFF_RETRY_BASE_SECONDS); a value that is not a number of at least 0
 * keeps the default. Tests shorten the delays this way.
 */
export function retryPolicyFromEnv(prefix: string, defaults: RetryPolicy, env: Readonly<Record<string, string | undefined>> = process.env): RetryPolicy {
  const read = (name: string, fallback: number) => nonNegativeNumberFromEnv(env, `${prefix}_${name}`, fallback);
  return {
    baseSeconds: read('RETRY_BASE_SECONDS', defaults.baseSeconds),
    maxSeconds: read('RETRY_MAX_SECONDS', defaults.maxSeconds),
    ...(defaults.throttledSeconds === undefined ? {} : { throttledSeconds: read('RATE_LIMIT_SECONDS', defaults.throttledSeconds) }),
    heldSeconds: read('QUOTA_DELAY_SECONDS', defaults.heldSeconds),
  };
}
