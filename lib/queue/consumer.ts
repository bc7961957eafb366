/**
 * The one skeleton of every queue consumer: reads a batch (receive counts, unreadable messages to the
 * dead-letter queue), keeps the invocation's time budget, lets the consumer's own work settle each message
 * as done or failed, and carries each settlement out on SQS ({@link settlement} decides: acknowledge, hold
 * back, re-queue, dead-letter) as a partial batch response. A message the work leaves unsettled is
 * retried, never lost.
 */
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger } from '../runtime/logger.ts';
import { pseudonymKeyReady } from '../runtime/pseudonym.ts';
import type { QueueMessages } from './messages.ts';
import type { Failure, RetryPolicy } from './settlement.ts';
import { settlement } from './settlement.ts';

/** A message of the batch with what it carries. */
export interface Received<M> {
  readonly message: SQSRecord;
  readonly body: M;
  /** SQS's ApproximateReceiveCount: 1 on the first delivery. */
  readonly receiveCount: number;
}

/** What a consumer tells the skeleton about its messages. */
export interface QueueConsumer<M> {
  /** What the log lines call one message: `handoff`, `facebook lead`. */
  readonly noun: string;
  /** What a message carries; undefined when it never will be readable (it goes to the DLQ at once). */
  read(body: string): M | undefined;
  /** Why an unreadable message went to the DLQ: `the message is not a handoff record`. */
  readonly unreadable: string;
  /** Log fields that name a message (ids and types; never personal data). */
  describe(item: Received<M>): Record<string, unknown>;
  /** What the operator does about a message that goes to the DLQ. */
  fix(failure: Failure): string;
  /** Log messages where alarms or tests match them (defaults name the noun). */
  readonly logMessages?: { readonly retried?: string; readonly requeued?: string; readonly held?: string };
}

export interface ConsumeOptions {
  policy: RetryPolicy;
  /** The queue's messages on SQS; without it a failure is only reported as a batch item failure. */
  messages?: QueueMessages;
  /** Time left in the invocation (Lambda's `getRemainingTimeInMillis`); unlimited without it. */
  remainingMs?: () => number;
  /** No message is started with less than this left: its work must fit. */
  reserveMs: number;
}

/** The batch as the consumer's work sees it. */
export interface Batch<M> {
  /** Whether there is time to start more work (more than the reserve, after `plannedMs`). */
  hasTime(plannedMs?: number): boolean;
  /** Settles a message: done when `failure` is undefined. A message is settled once; a second call is ignored. */
  settle(item: Received<M>, failure?: Failure): Promise<void>;
}

/** The failure of a message not started because the invocation is about to end: sent again in a second. */
export const notStarted: Failure = {
  disposition: 'throttled',
  kind: 'not_started',
  message: 'not started: the invocation is about to time out',
  retryAfterSeconds: 1,
};

/** The reason a dead letter carries (its `error` attribute): kind, code, message. */
export function deadLetterReason(failure: Failure): string {
  return `${failure.kind}${failure.code === undefined ? '' : ` ${failure.code}`}: ${failure.message}`;
}

/** Runs `work` over the readable messages of an SQS batch and settles every message; returns SQS's partial batch response. */
export async function consumeQueue<M>(
  event: SQSEvent,
  consumer: QueueConsumer<M>,
  options: ConsumeOptions,
  work: (items: Received<M>[], batch: Batch<M>) => Promise<void>,
): Promise<SQSBatchResponse> {
  // The logs' lead references are keyed from the first line on (lib/runtime/pseudonym.ts).
  await pseudonymKeyReady();
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  const settled = new Set<SQSRecord>();
  const remainingMs = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const messages = options.messages;

  const apply = async (item: Received<M>, failure: Failure | undefined, readable = true): Promise<void> => {
    if (settled.has(item.message)) return;
    settled.add(item.message);
    const decision = settlement(failure, item.receiveCount, options.policy);
    if (decision.action === 'ack' || !failure) return;
    const names = readable ? consumer.describe(item) : { messageId: item.message.messageId };
    const context = { ...names, ...failure.fields, kind: failure.kind, receiveCount: item.receiveCount, error: failure.message };
    const fail = () => batchItemFailures.push({ itemIdentifier: item.message.messageId });
    switch (decision.action) {
      case 'dead-letter': {
        logger.error(`${consumer.noun} moved to the dead-letter queue`, { ...context, messageId: item.message.messageId, action: consumer.fix(failure) });
        if (!messages) return void fail();
        try {
          await messages.deadLetter(item.message, deadLetterReason(failure));
        } catch (error) {
          // Not on the DLQ: kept on the queue (its redrive policy still ends in the DLQ).
          logger.error(`could not move the ${consumer.noun} message to the dead-letter queue`, { messageId: item.message.messageId, error: error as Error });
          fail();
        }
        return;
      }
      case 'requeue': {
        logger.warn(consumer.logMessages?.requeued ?? `${consumer.noun} re-queued after a rate limit`, { ...context, retryInSeconds: decision.afterSeconds });
        if (messages) {
          try {
            await messages.requeue(item.message, decision.afterSeconds);
            return;
          } catch (error) {
            logger.warn(`could not re-queue the ${consumer.noun}; SQS retries it after its visibility timeout`, {
              ...consumer.describe(item),
              error: error as Error,
            });
          }
        }
        return void fail();
      }
      case 'retry': {
        if (failure.disposition === 'held') {
          logger.error(consumer.logMessages?.held ?? `${consumer.noun} held back until the quota resets`, {
            ...context,
            retryInSeconds: decision.afterSeconds,
            action: consumer.fix(failure),
          });
        } else {
          logger.warn(consumer.logMessages?.retried ?? `${consumer.noun} will be retried`, { ...context, retryInSeconds: decision.afterSeconds });
        }
        if (messages) {
          await messages
            .delay(item.message, decision.afterSeconds)
            // The message still comes back, after the queue's own visibility timeout.
            .catch((error: unknown) => logger.warn(`could not delay the ${consumer.noun} message`, { ...names, error: error as Error }));
        }
        return void fail();
      }
    }
  };

  const items: Received<M>[] = [];
  for (const message of event.Records) {
    const receiveCount = Number(message.attributes?.ApproximateReceiveCount ?? 1) || 1;
    const body = consumer.read(message.body);
    if (body === undefined) {
      const unreadable = { message, body: undefined as M, receiveCount };
      await apply(unreadable, { disposition: 'permanent', kind: 'unreadable', message: consumer.unreadable }, false);
    } else {
      items.push({ message, body, receiveCount });
    }
  }
  const batch: Batch<M> = {
    hasTime: (plannedMs = 0) => remainingMs() - plannedMs > options.reserveMs,
    settle: (item, failure) => apply(item, failure),
  };
  try {
    if (items.length > 0) await work(items, batch);
  } catch (error) {
    logger.error(`${consumer.noun} batch failed; its unsettled messages are retried`, { error: error as Error });
  }
  // Whatever the work left unsettled (it threw, or missed one) comes back after its visibility timeout:
  // never acknowledged unsent.
  for (const item of items) {
    if (settled.has(item.message)) continue;
    settled.add(item.message);
    batchItemFailures.push({ itemIdentifier: item.message.messageId });
  }
  return { batchItemFailures };
}
