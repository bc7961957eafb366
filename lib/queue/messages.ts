/**
 * What a queue consumer does with a received message besides acknowledging it, on SQS: hold it back,
 * send its body again with a delay, or move it to the queue's dead-letter queue with why. The
 * `facebook-leads` and `handoff` consumers both use it (each through its own narrower interface).
 */

import type { SQSClient } from '@aws-sdk/client-sqs';
import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { mapWithConcurrency } from '../runtime/concurrency.ts';

import { maxDelaySeconds, maxVisibilitySeconds } from './settlement.ts';

export interface QueueMessages {
  /** Holds a received message back: SQS delivers it again in `seconds` (its receive count grows). */
  delay(message: SQSRecord, seconds: number): Promise<void>;
  /** Sends the message's body again with DelaySeconds (at most 900); the caller then acknowledges the original. */
  requeue(message: SQSRecord, seconds: number): Promise<void>;
  /** Puts the message on the queue's dead-letter queue, with why; the caller then acknowledges it. */
  deadLetter(message: SQSRecord, reason: string): Promise<void>;
}

/** Whole seconds within [0, max]: SQS refuses fractions and anything beyond its limits. */
function clampSeconds(seconds: number, max: number): number {
  return Math.min(max, Math.max(0, Math.round(seconds)));
}

/**
 * What a message of a FIFO queue must be sent with again (its group; a deduplication id of its own): SQS refuses a
 * message to a FIFO queue without them. Nothing for a standard queue's message.
 */
function fifoOf(message: SQSRecord): { MessageGroupId?: string; MessageDeduplicationId?: string } {
  const groupId = (message.attributes as unknown as Record<string, string | undefined>).MessageGroupId;
  return groupId ? { MessageGroupId: groupId, MessageDeduplicationId: message.messageId } : {};
}

/**
 * A consumer's queue on SQS. A dead letter keeps the body as received (so `mql redrive` replays it
 * unchanged) with the reason (first 1,000 characters) and the original message id as attributes.
 */
export function sqsQueueMessages(client: SQSClient, queueUrl: string, dlqUrl: string): QueueMessages {
  return {
    async delay(message, seconds) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: message.receiptHandle,
          VisibilityTimeout: clampSeconds(seconds, maxVisibilitySeconds),
        }),
      );
    },
    async requeue(message, seconds) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: message.body,
          // A FIFO queue takes no per-message delay: the message is sent again at once (settlement never re-queues on one).
          ...(fifoOf(message).MessageGroupId ? fifoOf(message) : { DelaySeconds: clampSeconds(seconds, maxDelaySeconds) }),
          MessageAttributes: { requeuedFrom: { DataType: 'String', StringValue: message.messageId } },
        }),
      );
    },
    async deadLetter(message, reason) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: dlqUrl,
          MessageBody: message.body,
          ...fifoOf(message),
          MessageAttributes: {
            error: { DataType: 'String', StringValue: reason.slice(0, 1000) },
            sourceMessageId: { DataType: 'String', StringValue: message.messageId },
          },
        }),
      );
    },
  };
}

/** A message to send: `id` names it in the answer (a record's or a notification's own id). */
export interface OutgoingMessage {
  readonly id: string;
  readonly body: string;
  readonly attributes?: Readonly<Record<string, string>>;
  /** A FIFO queue's message group (messages of one group are consumed one at a time, in order) and deduplication id. */
  readonly fifo?: { readonly groupId: string; readonly deduplicationId: string };
}

/**
 * Sends messages ten to a SendMessageBatch (SQS's limit), a few batches at once, and reports which ids are
 * on the queue and which are not (a batch that failed as a whole fails each of its messages).
 */
export async function sendMessages(
  client: SQSClient,
  queueUrl: string,
  messages: readonly OutgoingMessage[],
): Promise<{ sent: string[]; failed: { id: string; error: string }[] }> {
  const chunks: OutgoingMessage[][] = [];
  for (let start = 0; start < messages.length; start += 10) chunks.push(messages.slice(start, start + 10));
  const results = await mapWithConcurrency(chunks, 4, async (chunk) => {
    try {
      const answer = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((message, index) => ({
            Id: String(index),
            MessageBody: message.body,
            ...(message.fifo ? { MessageGroupId: message.fifo.groupId, MessageDeduplicationId: message.fifo.deduplicationId } : {}),
            ...(message.attributes
              ? {
                  MessageAttributes: Object.fromEntries(
                    Object.entries(message.attributes).map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
                  ),
                }
              : {}),
          })),
        }),
      );
      const failed = (answer.Failed ?? []).map((failure) => ({
        id: chunk[Number(failure.Id)]?.id ?? '?',
        error: failure.Message ?? failure.Code ?? 'refused',
      }));
      const failedIds = new Set(failed.map((failure) => failure.id));
      return { sent: chunk.map((message) => message.id).filter((id) => !failedIds.has(id)), failed };
    } catch (error) {
      return { sent: [], failed: chunk.map((message) => ({ id: message.id, error: (error as Error).message })) };
    }
  });
  return { sent: results.flatMap((result) => result.sent), failed: results.flatMap((result) => result.failed) };
}
