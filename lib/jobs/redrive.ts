/**
 * `mql redrive`: moves the messages of a dead-letter queue back to its source queue (receive, send,
 * delete), so handoffs that failed on an invalid token or a refused record are delivered once the
 * cause is fixed. The body is sent unchanged; the attributes the consumer added on the way to the
 * DLQ (`error`, `sourceMessageId`, `requeuedFrom`) are left behind. A message is deleted from the DLQ
 * only after its copy is on the source queue, so a crash half-way leaves at most a duplicate, which
 * both consumers absorb (a delivered handoff or a fetched lead is skipped).
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface RedriveOptions {
  sqs: SQSClient;
  /** The dead-letter queue's URL. */
  from: string;
  /** The source queue's URL. */
  to: string;
  /** Called after each batch moved: messages moved so far, and the count taken at the start. */
  onProgress?: (moved: number, total: number) => void;
}

export interface RedriveResult {
  /** Messages the DLQ held at the start (ApproximateNumberOfMessages). */
  total: number;
  moved: number;
  /** Messages that could not be sent back (they stay on the DLQ), with why. */
  failed: { messageId: string; reason: string }[];
}

/** Attributes the consumers add on the way to the DLQ or on a re-queue; not carried back. */
const droppedAttributes = new Set(['error', 'sourceMessageId', 'requeuedFrom']);

/**
 * Messages on a queue, SQS's approximate count: the visible ones and the ones someone received and has
 * not deleted (on a DLQ, nothing consumes: those are being looked at, e.g. in the console, and come back).
 */
export async function queueDepth(sqs: SQSClient, url: string): Promise<number> {
  const answer = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return Number(answer.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(answer.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/** Up to ten messages of the DLQ and the error each carries, without moving them (for `--dry-run`). */
export async function peekDeadLetters(sqs: SQSClient, url: string): Promise<{ messageId: string; error: string | undefined; body: string }[]> {
  const answer = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }),
  );
  return (answer.Messages ?? []).map((message) => ({
    messageId: message.MessageId ?? '',
    error: message.MessageAttributes?.error?.StringValue,
    body: message.Body ?? '',
  }));
}

function carried(message: Message): Record<string, MessageAttributeValue> | undefined {
  const kept = Object.entries(message.MessageAttributes ?? {}).filter(([name]) => !droppedAttributes.has(name));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

/**
 * Moves the messages the DLQ holds now back to the source queue. Stops once as many as it counted at
 * the start are moved or the DLQ answers empty, so messages that fail again meanwhile are not cycled.
 */
export async function redrive(options: RedriveOptions): Promise<RedriveResult> {
  const { sqs, from, to } = options;
  const total = await queueDepth(sqs, from);
  const result: RedriveResult = { total, moved: 0, failed: [] };
  const failedIds = new Set<string>();
  let empty = 0;
  while (result.moved + result.failed.length < total) {
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: from,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 60,
        WaitTimeSeconds: empty === 0 ? 0 : 1,
        MessageAttributeNames: ['All'],
        // A FIFO queue's message goes back in its own group (the account roll-up's: its account).
        MessageSystemAttributeNames: ['MessageGroupId'],
      }),
    );
    const messages = (answer.Messages ?? []).filter((message) => !failedIds.has(message.MessageId ?? ''));
    if (messages.length === 0) {
      // Empty twice (the second with a 1-second long poll, SQS samples its servers): done.
      if (++empty >= 2) break;
      continue;
    }
    empty = 0;
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: to,
        Entries: messages.map((message, index) => {
          const attributes = carried(message);
          const group = message.Attributes?.MessageGroupId;
          return {
            Id: String(index),
            MessageBody: message.Body ?? '',
            ...(attributes ? { MessageAttributes: attributes } : {}),
            ...(group ? { MessageGroupId: group, MessageDeduplicationId: message.MessageId ?? String(index) } : {}),
          };
        }),
      }),
    );
    for (const failure of sent.Failed ?? []) {
      const message = messages[Number(failure.Id)]!;
      failedIds.add(message.MessageId ?? '');
      result.failed.push({ messageId: message.MessageId ?? '', reason: `${failure.Code}: ${failure.Message ?? ''}` });
    }
    const done = (sent.Successful ?? []).map((entry) => messages[Number(entry.Id)]!);
    if (done.length > 0) {
      const deleted = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: from,
          Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? '' })),
        }),
      );
      // Sent but not deleted: it is on both queues; the copy on the DLQ is a harmless duplicate.
      result.moved += done.length - (deleted.Failed?.length ?? 0);
    }
    options.onProgress?.(result.moved, total);
  }
  return result;
}

/** `[#########-----------]  45/100` for a terminal. */
export function progressBar(done: number, total: number, width = 30): string {
  const share = total <= 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(share * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(done).padStart(String(total).length)}/${total}`;
}
