/**
 * SQS locally: fauxqs in process, with every topology queue and its dead-letter queue
 * (`<name>-dlq`) created with the CDK stack's visibility timeout and redrive policy; and pollers
 * that behave like Lambda's SQS event-source mapping with `ReportBatchItemFailures`.
 *
 * Dead-lettering is fauxqs's own: like SQS, it moves a message to the DLQ on the receive that
 * would exceed `maxReceiveCount` (the test suite checks it), so the poller does not reimplement it.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSMessageAttributes, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import type { QueueName, QueueSpec } from '../topology.ts';
import { sqsDeadLetterQueueName, sqsQueueName, queues as topologyQueues } from '../topology.ts';
import { localCredentials } from './dynamodb.ts';

/** The parts of a queue's spec a test may shorten (a visibility timeout of 1 s instead of 180 s). */
export type QueueTuning = Partial<Pick<QueueSpec, 'batchSize' | 'batchWindowSeconds' | 'maxReceiveCount' | 'visibilityTimeoutSeconds'>>;

export interface LocalQueue {
  readonly name: QueueName;
  /** Its name on SQS (a FIFO queue's ends in `.fifo`). */
  readonly sqsName: string;
  readonly spec: QueueSpec;
  readonly url: string;
  readonly arn: string;
  readonly dlqName: string;
  readonly dlqUrl: string;
  readonly dlqArn: string;
}

export interface LocalQueues {
  /** `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_SQS`. */
  readonly endpoint: string;
  readonly server: FauxqsServer;
  readonly queues: readonly LocalQueue[];
  /** Messages in a queue: ready, delayed and in flight (received, not yet deleted). */
  depth(queueName: string): { ready: number; delayed: number; inflight: number };
  stop(): Promise<void>;
}

export interface LocalQueuesOptions {
  readonly region: string;
  /** Persist queues and messages (fauxqs's SQLite) under this directory; undefined keeps them in memory. */
  readonly dataDir?: string;
  readonly tuning?: Partial<Record<QueueName, QueueTuning>>;
}

const accountId = '000000000000';

export function sqsClient(endpoint: string, region: string): SQSClient {
  return new SQSClient({ endpoint, region, credentials: localCredentials });
}

export async function startQueues(options: LocalQueuesOptions): Promise<LocalQueues> {
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const server = await startFauxqs({
    port: 0,
    logger: false,
    defaultRegion: options.region,
    ...(dataDir ? { dataDir } : {}),
  });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const sqs = sqsClient(endpoint, options.region);
  try {
    const created: LocalQueue[] = [];
    for (const base of topologyQueues) {
      const spec: QueueSpec = { ...base, ...options.tuning?.[base.name] };
      const dlqName = sqsDeadLetterQueueName(spec);
      const sqsName = sqsQueueName(spec);
      // A FIFO queue is one from its creation on (and its dead-letter queue must be one too).
      const fifo = spec.fifo ? { FifoQueue: 'true' } : undefined;
      const dlq = await ensureQueue(
        sqs,
        endpoint,
        dlqName,
        {
          MessageRetentionPeriod: String(Math.min(spec.dlqRetentionDays * 86_400, 1_209_600)),
        },
        fifo,
      );
      const queue = await ensureQueue(
        sqs,
        endpoint,
        sqsName,
        {
          VisibilityTimeout: String(spec.visibilityTimeoutSeconds),
          ...(spec.deliveryDelaySeconds ? { DelaySeconds: String(spec.deliveryDelaySeconds) } : {}),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: spec.maxReceiveCount }),
        },
        fifo,
      );
      created.push({ name: spec.name, sqsName, spec, url: queue.url, arn: queue.arn, dlqName, dlqUrl: dlq.url, dlqArn: dlq.arn });
    }
    return {
      endpoint,
      server,
      queues: created,
      depth(queueName) {
        const inspected = server.inspectQueue(queueName);
        if (!inspected) return { ready: 0, delayed: 0, inflight: 0 };
        const { ready, delayed, inflight } = inspected.messages;
        return { ready: ready.length, delayed: delayed.length, inflight: inflight.length };
      },
      async stop() {
        sqs.destroy();
        await server.stop();
      },
    };
  } catch (error) {
    sqs.destroy();
    await server.stop();
    throw error;
  }
}

/**
 * CreateQueue then SetQueueAttributes, so a queue restored from the data directory gets the
 * current settings. The URL is built on the current endpoint (fauxqs finds queues by name, and a
 * restored queue's stored URL names the previous run's port).
 */
async function ensureQueue(
  sqs: SQSClient,
  endpoint: string,
  name: string,
  attributes: Record<string, string>,
  createAttributes?: Record<string, string>,
): Promise<{ url: string; arn: string }> {
  await sqs.send(new CreateQueueCommand({ QueueName: name, ...(createAttributes ? { Attributes: createAttributes } : {}) }));
  const url = `${endpoint}/${accountId}/${name}`;
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = Attributes?.QueueArn;
  if (!arn) throw new Error(`fauxqs returned no ARN for queue ${name}`);
  return { url, arn };
}

export function queueDataDir(stackDataDir: string): string {
  return join(stackDataDir, 'sqs');
}

// --- the event-source mapping ----------------------------------------------------------------

export interface PollerOptions {
  readonly sqs: SQSClient;
  readonly queue: LocalQueue;
  readonly region: string;
  /** Runs the consumer; resolves with its result, rejects on a function error or timeout. */
  readonly invoke: (event: SQSEvent) => Promise<unknown>;
  /** Long-poll wait of each ReceiveMessage; bounds how long stop() takes. */
  readonly waitTimeSeconds?: number;
  readonly log?: (message: string) => void;
}

export interface Poller {
  /** A batch has been received and is not yet settled (invoked and deleted). */
  readonly busy: boolean;
  /** Lets the batch in hand finish, then stops polling. */
  stop(): Promise<void>;
}

/**
 * Lambda's SQS event-source mapping: receive up to `batchSize` messages, invoke the consumer
 * with an SQSEvent, then delete every message except the ones it reports in
 * `batchItemFailures`. A function error (throw, timeout) or an invalid response deletes nothing:
 * the messages reappear after the visibility timeout, and the queue's redrive policy moves them
 * to the DLQ after `maxReceiveCount` receives.
 */
export function startPoller(options: PollerOptions): Poller {
  const { sqs, queue, region } = options;
  const log = options.log ?? ((message: string) => console.error(message));
  const batchSize = queue.spec.batchSize;
  let stopping = false;
  let busy = false;

  async function receive(max: number, wait: number): Promise<Message[]> {
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: wait,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    return answer.Messages ?? [];
  }

  async function settle(messages: Message[]): Promise<void> {
    const event: SQSEvent = { Records: messages.map((message) => toRecord(message, queue.arn, region)) };
    let failed: Set<string> | 'all';
    try {
      failed = failedMessageIds(await options.invoke(event), event.Records);
      if (failed === 'all') log(`[local] ${queue.spec.consumer}: invalid batchItemFailures; the whole batch of ${messages.length} will be retried`);
    } catch {
      failed = 'all'; // the runtime has logged the error
    }
    if (failed === 'all') return;
    const done = event.Records.filter((record) => !failed.has(record.messageId));
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      const answer = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
        }),
      );
      for (const failure of answer.Failed ?? []) {
        log(`[local] could not delete a ${queue.name} message (${failure.Code}: ${failure.Message}); it will be delivered again`);
      }
    }
  }

  const loop = (async () => {
    while (!stopping) {
      try {
        busy = false;
        const first = await receive(batchSize, options.waitTimeSeconds ?? 1);
        if (first.length === 0) continue;
        busy = true;
        const batch = [...first];
        // Batch sizes above 10 take several receives, as Lambda's poller does; with a batch window it
        // keeps gathering until the batch is full or the window (from the first message) has passed.
        // (Capped at half the visibility timeout: a test's 1-second visibility would otherwise let the first
        // messages reappear while the window still gathers.)
        const windowEnds = Date.now() + Math.min(queue.spec.batchWindowSeconds ?? 0, queue.spec.visibilityTimeoutSeconds / 2) * 1000;
        while (batch.length < batchSize && !stopping) {
          const more = await receive(batchSize - batch.length, 0);
          batch.push(...more);
          if (more.length > 0) continue;
          const left = windowEnds - Date.now();
          if (left <= 0) break;
          await sleep(Math.min(50, left));
        }
        await settle(batch);
      } catch (error) {
        if (stopping) break;
        log(`[local] polling ${queue.name} failed: ${(error as Error).message}`);
        await sleep(500);
      } finally {
        busy = false;
      }
    }
  })();

  return {
    get busy() {
      return busy;
    },
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

/**
 * The ids to keep, per Lambda's rules for `ReportBatchItemFailures`: no response, no list or an
 * empty list is complete success; a malformed response or an `itemIdentifier` that is empty or
 * names no message of the batch fails the whole batch.
 */
export function failedMessageIds(result: unknown, records: readonly SQSRecord[]): Set<string> | 'all' {
  if (result === null || result === undefined) return new Set();
  if (typeof result !== 'object' || Array.isArray(result)) return 'all';
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === null || failures === undefined) return new Set();
  if (!Array.isArray(failures)) return 'all';
  const ids = new Set(records.map((record) => record.messageId));
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !ids.has(id)) return 'all';
    failed.add(id);
  }
  return failed;
}

/** A received message as Lambda's SQS event record. */
export function toRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(message.Attributes ?? {})) {
    if (value !== undefined) attributes[key] = value;
  }
  const record: SQSRecord = {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: attributes as unknown as SQSRecordAttributes,
    messageAttributes: toRecordAttributes(message.MessageAttributes ?? {}),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
  if (message.MD5OfMessageAttributes) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

function toRecordAttributes(attributes: Record<string, MessageAttributeValue>): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    out[name] = {
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') } : {}),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((item) => Buffer.from(item).toString('base64')),
      dataType: value.DataType ?? 'String',
    };
  }
  return out;
}
