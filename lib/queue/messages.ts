/**
 * What a queue consumer does with a received message besides acknowledging it, on SQS: hold it back,
 * send its body again with a delay, or move it to the queue's dead-letter queue with why. The
 * `facebook-leads` and `handoff` consumers both use it (each through its own narrower interface).
 */

import type { SQSClient } from '@aws-sdk/client-sqs';
import { ChangeMessageVisibilityCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

/** SQS's longest DelaySeconds. */
export const maxDelaySeconds = 900;
/** SQS refuses a visibility timeout above 12 hours. */
export const maxVisibilitySeconds = 43_200;

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
          DelaySeconds: clampSeconds(seconds, maxDelaySeconds),
          MessageAttributes: { requeuedFrom: { DataType: 'String', StringValue: message.messageId } },
        }),
      );
    },
    async deadLetter(message, reason) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: dlqUrl,
          MessageBody: message.body,
          MessageAttributes: {
            error: { DataType: 'String', StringValue: reason.slice(0, 1000) },
            sourceMessageId: { DataType: 'String', StringValue: message.messageId },
          },
        }),
      );
    },
  };
}
