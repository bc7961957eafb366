/**
 * Segment's HTTP tracking API (issue 13): events through POST /v1/batch as the real `@segment/analytics-node`
 * sends them, pointed at the local stack by its host alone, 100 messages a batch (`flushAt: 100`). Each batch
 * holds fresh leads' page views and webinar sign-ups (none reaches an MQL, so no handoff runs beside it); the
 * batches go one at a time (the library's `flush()` awaited after each), as the SendGrid phase sends its own,
 * so the two batch paths compare. The library's requests are timed by the fetch it is given: the requests and
 * their bodies are the library's own.
 */
import { performance } from 'node:perf_hooks';
import { Analytics } from '@segment/analytics-node';
import type { StoreStats } from '../../lib/store/repository.ts';
import type { BenchContext } from '../context.ts';
import type { CommandFigures } from '../support/instrument.ts';
import type { CpuUse } from '../support/processes.ts';
import { cores, fmt, tableRow } from '../support/report.ts';
import { round, type Summary, storeStatsSince, sum, summarize, tally } from '../support/stats.ts';
import type { CeilingFigures } from './ceiling.ts';

/** What one run of batches sends: `batches` of `batchEvents` messages each over `batchLeads` fresh leads, after `warmupBatches`. */
export interface TrackingShape {
  batches: number;
  batchEvents: number;
  batchLeads: number;
  warmupBatches: number;
}

/** What analytics-node's batches did, as seen on the wire and in the answers. */
export interface TrackingRun {
  batches: number;
  events: number;
  stored: number;
  duplicates: number;
  ignored: number;
  statuses: Record<string, number>;
  /** Each request of the library: sent to answered. */
  requestMs: Summary;
  bodyBytes: Summary;
  /** From the first call of the first batch to the last batch's flush resolved. */
  wallSeconds: number;
  /** Stored events over the wall time: what a sender through the library sees. */
  eventsPerSecond: number;
  /** Stored events over the summed request times (the SendGrid phase's measure). */
  eventsPerRequestSecond: number;
  library: string;
}

interface Request {
  ms: number;
  status: number;
  bytes: number;
  answer: { stored?: number; duplicates?: number; ignored?: number; received?: number };
}

/** The n-th message of a batch: a page view (the pricing page every fourth), or a webinar sign-up; the leads take turns. */
function call(analytics: Analytics, email: string, index: number): void {
  const userId = `user-${email}`;
  const context = { traits: { email } };
  switch (index % 4) {
    case 0:
      analytics.page({ userId, name: 'Pricing', properties: { url: 'https://acme-bench.example.com/pricing', path: '/pricing' }, context });
      return;
    case 1:
      analytics.page({ userId, name: 'Blog', properties: { url: `https://acme-bench.example.com/blog/post-${index}`, path: `/blog/post-${index}` }, context });
      return;
    case 2:
      analytics.track({ userId, event: 'Webinar Registered', properties: { webinar: 'Scoring that explains itself' }, context });
      return;
    default:
      analytics.page({ userId, name: 'Docs', properties: { url: 'https://acme-bench.example.com/docs', path: '/docs' }, context });
  }
}

/**
 * Sends the batches through analytics-node to `baseUrl` (the stack's API Gateway) and checks every answer:
 * a 200 that stored the whole batch. Problems go to `errors`.
 */
export async function sendThroughAnalyticsNode(options: {
  baseUrl: string;
  writeKey: string;
  shape: TrackingShape;
  leadEmail: (batch: string, index: number) => string;
  errors: string[];
  overBudget?: () => boolean;
  /** Called after the warm-up, as the measured batches start. */
  onMeasureStart?: () => void;
}): Promise<TrackingRun> {
  const { baseUrl, writeKey, shape, errors } = options;
  const target = new URL(baseUrl);
  if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') throw new Error(`refusing to benchmark a non-local URL: ${baseUrl}`);
  let requests: Request[] = [];
  // The library's own requests, timed: its fetch is Node's, wrapped.
  const timedFetch = async (url: string, init: { headers: Record<string, string>; body: string; method: 'POST'; signal: unknown }) => {
    const started = performance.now();
    const response = await fetch(url, init as RequestInit);
    const text = await response.text();
    let answer: Request['answer'] = {};
    try {
      answer = JSON.parse(text) as Request['answer'];
    } catch {
      // An answer that is not JSON is reported by its status below.
    }
    requests.push({ ms: performance.now() - started, status: response.status, bytes: Buffer.byteLength(init.body), answer });
    if (response.status !== 200) errors.push(`tracking: POST ${new URL(url).pathname} answered ${response.status}: ${text.slice(0, 200)}`);
    return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  const analytics = new Analytics({
    writeKey,
    host: baseUrl,
    flushAt: shape.batchEvents,
    // Nothing flushes on a timer: each batch is full, or flushed by hand.
    flushInterval: 600_000,
    maxRetries: 0,
    httpClient: timedFetch as never,
  });
  analytics.on('error', (error) => errors.push(`tracking: analytics-node: ${String((error as { reason?: unknown }).reason ?? error)}`.slice(0, 300)));

  const sendBatch = async (label: string): Promise<void> => {
    for (let index = 0; index < shape.batchEvents; index++) call(analytics, options.leadEmail(label, index % shape.batchLeads), index);
    await analytics.flush();
  };
  try {
    for (let index = 0; index < shape.warmupBatches; index++) await sendBatch(`trw${index}`);
    requests = [];
    options.onMeasureStart?.();
    const started = performance.now();
    let sent = 0;
    for (let index = 0; index < shape.batches; index++) {
      if (options.overBudget?.()) break;
      await sendBatch(`trb${index}`);
      sent += 1;
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const statuses: Record<string, number> = {};
    for (const request of requests) tally(statuses, request.status);
    const stored = sum(requests.map((request) => request.answer.stored ?? 0));
    const events = sum(requests.map((request) => request.answer.received ?? 0));
    if (requests.length !== sent) errors.push(`tracking: analytics-node made ${requests.length} requests for ${sent} batches of ${shape.batchEvents}`);
    for (const [index, request] of requests.entries())
      if (request.status === 200 && request.answer.stored !== shape.batchEvents)
        errors.push(
          `tracking: batch ${index + 1} stored ${request.answer.stored} of ${shape.batchEvents} (${request.answer.duplicates} duplicates, ${request.answer.ignored} ignored)`,
        );
    return {
      batches: sent,
      events,
      stored,
      duplicates: sum(requests.map((request) => request.answer.duplicates ?? 0)),
      ignored: sum(requests.map((request) => request.answer.ignored ?? 0)),
      statuses,
      requestMs: summarize(requests.map((request) => request.ms)),
      bodyBytes: summarize(requests.map((request) => request.bytes)),
      wallSeconds: round(wallSeconds, 3),
      eventsPerSecond: round(stored / wallSeconds, 1),
      eventsPerRequestSecond: round(stored / (sum(requests.map((request) => request.ms)) / 1000), 1),
      library: '@segment/analytics-node',
    };
  } finally {
    await analytics.closeAndFlush({ timeout: 10_000 });
  }
}

export interface TrackingFigures extends TrackingRun {
  shape: string;
  eventsPerBatch: number;
  leadsPerBatch: number;
  /** Stored events/s through the library over the same run's raw TransactWriteItems/s (goal: at least 2, issue 13). */
  ratioToRawTransactions: number;
  storeStats: StoreStats;
  /** Write units per stored event as DynamoDB Local reports them. */
  reportedWcuPerEvent: number;
  /** The store's calls during the measured batches, by command: calls per event, items read and written. */
  sdkCalls: Record<string, CommandFigures>;
  cpu: CpuUse;
}

/** The phase in `npm run bench`: BENCH_TRACKING_BATCHES batches of BENCH_TRACKING_BATCH_EVENTS over BENCH_TRACKING_BATCH_LEADS leads each. */
export async function trackingBatches(ctx: BenchContext, ceiling: CeilingFigures, writeKey: string): Promise<TrackingFigures> {
  const { params, pipeline, probes } = ctx;
  const shape: TrackingShape = {
    batches: params.trackingBatches,
    batchEvents: params.trackingBatchEvents,
    batchLeads: params.trackingBatchLeads,
    warmupBatches: params.trackingWarmupBatches,
  };
  const enqueuedBefore = probes.enqueueClock.enqueuedAt.size;
  let statsBefore = { ...pipeline.store.stats };
  let mark = ctx.cpu.mark();
  const run = await sendThroughAnalyticsNode({
    baseUrl: ctx.stack.baseUrl,
    writeKey,
    shape,
    leadEmail: ctx.leadEmail,
    errors: ctx.errors,
    overBudget: ctx.overBudget,
    onMeasureStart() {
      statsBefore = { ...pipeline.store.stats };
      mark = ctx.cpu.mark();
      probes.storeTimer.reset();
    },
  });
  const cpu = ctx.cpu.since(mark);
  const sdkCalls = probes.storeTimer.summary(Math.max(1, run.stored));
  const storeStats = storeStatsSince(statsBefore, pipeline.store.stats);
  if (run.batches < shape.batches) ctx.errors.push(`tracking: ${run.batches} of ${shape.batches} batches sent`);
  if (probes.enqueueClock.enqueuedAt.size !== enqueuedBefore) ctx.errors.push('tracking: page views and webinar sign-ups alone enqueued a handoff');
  return {
    shape: `${shape.batchEvents} messages (page views, the pricing page, webinar sign-ups) over ${shape.batchLeads} fresh leads per POST /v1/batch, sent by @segment/analytics-node (flushAt ${shape.batchEvents}) one batch at a time after ${shape.warmupBatches} warm-up batch(es)`,
    ...run,
    eventsPerBatch: shape.batchEvents,
    leadsPerBatch: shape.batchLeads,
    ratioToRawTransactions: round(run.eventsPerSecond / ceiling.transactWriteItems.perSecond, 3),
    storeStats,
    reportedWcuPerEvent: round(storeStats.writeCapacityUnits / Math.max(1, run.stored), 2),
    sdkCalls,
    cpu,
  };
}

export function trackingRows(tracking: TrackingFigures): string[] {
  return [
    tableRow(
      `6b. /v1/batch via analytics-node, ${tracking.eventsPerBatch} events`,
      tracking.batches,
      tracking.wallSeconds,
      tracking.eventsPerSecond,
      tracking.requestMs,
    ),
  ];
}

export function trackingLines(tracking: TrackingFigures, ceiling: CeilingFigures): string[] {
  return [
    ...trackingRows(tracking),
    `  tracking batch events/s ÷ raw TransactWriteItems/s  ${fmt(tracking.ratioToRawTransactions, 3)} (goal 2; ${fmt(tracking.eventsPerSecond)} events/s through the library, ${fmt(tracking.eventsPerRequestSecond)} by request time; raw ${fmt(ceiling.transactWriteItems.perSecond)} TransactWriteItems/s)`,
    `  tracking batches: ${tracking.eventsPerBatch} messages over ${tracking.leadsPerBatch} leads, ${fmt(tracking.bodyBytes.p50 / 1024, 0)} KiB; answered p50 ${fmt(tracking.requestMs.p50, 0)} ms, p95 ${fmt(tracking.requestMs.p95, 0)} ms; ${tracking.stored} stored, ${tracking.duplicates} duplicates, ${tracking.ignored} ignored; ${tracking.storeStats.conflicts} lock conflicts; ${fmt(tracking.reportedWcuPerEvent, 2)} WCU per event as DynamoDB Local reports them`,
    `  tracking  ${cores(tracking.cpu)}`,
  ];
}
