/**
 * The consumer of a "notify, then fetch" source's queue (Facebook's `facebook-leads`): fetches each
 * record the source's webhook announced and stores it as an event through the pipeline (scored, handoffs
 * flushed). The queue skeleton (lib/queue/consumer.ts) settles each message.
 *
 * No record is ever lost, and none is counted twice:
 * - a record stored is acknowledged, and recorded on its queued marker, so a duplicate message costs no
 *   second fetch;
 * - a failure a retry can fix (rate limit, 5xx, network, our own store) holds the message back for a
 *   growing delay, never shorter than the platform announced; after the queue's maxReceiveCount receives
 *   SQS moves it to the dead-letter queue;
 * - a failure no retry can fix (invalid token, a record that does not exist) moves the message to the DLQ
 *   at once with an error log line: the DLQ alarm fires, retries are not burned, and `mql redrive` replays
 *   it once the cause is fixed;
 * - the event's write is conditional on its key (the platform's id and the record's own time), so a
 *   second fetch of the same record changes nothing.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { QueueConsumer, Received } from '../queue/consumer.ts';
import { consumeQueue, notStarted } from '../queue/consumer.ts';
import type { QueueMessages } from '../queue/messages.ts';
import type { Failure, RetryPolicy } from '../queue/settlement.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import type { Secrets } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import type { Env, FetchStep, WebhookSource } from '../sources/source.ts';
import type { SeenItem } from '../store/markers.ts';
import type { Pipeline } from './pipeline.ts';
import { ingest } from './pipeline.ts';

export interface FetchDeps {
  pipeline: Pipeline;
  /** The queued markers: whether an id was already fetched, and recording that it was. */
  markers: {
    get(source: string, id: string): Promise<SeenItem | undefined>;
    recordFetched(source: string, id: string, leadId: string, now: Date): Promise<void>;
  };
  secrets: Secrets;
  env: Env;
  messages?: QueueMessages;
  policy: RetryPolicy;
  clock?: () => Date;
  /** Time left in this invocation; messages not started with less than the reserve left are retried later. */
  remainingMs?: () => number;
}

/** Messages of one batch fetched at once (calls in flight to the platform). */
const concurrency = 4;
/** A message is not started with less than this left: a platform call (8 s at most) and the store must fit. */
const reserveMs = 12_000;

/** Fetches and stores a batch of a source's records; the messages to retry are returned as batch item failures. */
export async function fetchRecords<Pending>(event: SQSEvent, source: WebhookSource<Pending>, deps: FetchDeps): Promise<SQSBatchResponse> {
  const step = source.fetch;
  if (!step) throw new Error(`the ${source.name} source has no fetch step`);
  const clock = deps.clock ?? (() => new Date());
  const consumer: QueueConsumer<Pending> = {
    noun: step.noun,
    read: (body) => step.read(body),
    unreadable: step.unreadable,
    describe: ({ body }) => ({ source: source.name, id: step.idOf(body) }),
    fix: (failure) => step.fix(failure),
    logMessages: { retried: `${step.noun} fetch will be retried` },
  };
  const options = {
    policy: deps.policy,
    reserveMs,
    ...(deps.messages ? { messages: deps.messages } : {}),
    ...(deps.remainingMs ? { remainingMs: deps.remainingMs } : {}),
  };
  return consumeQueue(event, consumer, options, async (items, batch) => {
    // After one rate limit the rest of the batch waits too: every further call would only deepen the throttle.
    let throttled: Failure | undefined;
    await mapWithConcurrency(items, concurrency, async (item) => {
      if (throttled) return batch.settle(item, throttled);
      if (!batch.hasTime()) return batch.settle(item, notStarted);
      const failure = await fetchOne(item);
      if (failure?.kind === 'rate_limited') throttled ??= failure;
      await batch.settle(item, failure);
    });
  });

  /** Fetches and stores one record: undefined once it is stored (now or before), else why not. */
  async function fetchOne(item: Received<Pending>): Promise<Failure | undefined> {
    const id = step!.idOf(item.body);
    let event: Awaited<ReturnType<FetchStep<Pending>['event']>>;
    try {
      const marker = await deps.markers.get(source.name, id);
      if (marker?.fetchedAt) {
        logger.info(`${step!.noun} already stored`, { id, fetchedAt: marker.fetchedAt });
        return undefined;
      }
      event = await step!.event(item.body, { secrets: deps.secrets, env: deps.env, model: deps.pipeline.model, now: clock() });
    } catch (error) {
      return step!.failureOf(error);
    }
    const now = clock();
    try {
      const result = await ingest([event], deps.pipeline, now);
      if (result.ignored.length > 0) {
        // Refused by the store's budget, or the person was erased: nothing stored, and no marker names the lead.
        logger.warn(`${step!.noun} not stored`, { id, reasons: result.ignored.map((one) => one.reason) });
        return undefined;
      }
      logger.info(`${step!.noun} stored`, { id, applied: result.applied, duplicates: result.duplicates, handoffs: result.handoffs, trimmed: result.trimmed });
    } catch (error) {
      return { disposition: 'retry', kind: 'transient', message: `the record was not stored: ${(error as Error).message}` };
    }
    try {
      await deps.markers.recordFetched(source.name, id, event.leadKey, now);
    } catch (error) {
      // The event is stored; without the mark a duplicate message costs one more fetch, nothing else.
      logger.warn(`could not mark the ${step!.noun} as fetched`, { id, error: error as Error });
    }
    return undefined;
  }
}
