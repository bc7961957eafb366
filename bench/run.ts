/**
 * `npm run bench`: one bounded run on the embedded local stack (DynamoDB Local in memory, fauxqs,
 * the local API Gateway and the real handlers, all in this process but Java), printing a table and
 * writing bench/results.json.
 *
 *   1. the stack, and a CRM receiver (node:http, 127.0.0.1) for CRM_ADAPTER=webhook
 *   2. the raw ceiling: TransactWriteItems/s of a single-event delivery's shape on the same DynamoDB Local
 *   3. events/s through POST /webhooks/events, one signed Segment `track` per delivery
 *   4. write capacity units and optimistic-lock conflicts per event (store stats)
 *  3b. a SendGrid Event Webhook batch (1,000 events over hundreds of fresh leads, one signed POST
 *      /webhooks/sendgrid): time to accept it, events/s, and a batch delivered again
 *   5. handoff latency: the qualifying delivery's response to the CRM's lead.mql, exactly once per lead
 *   6. the table, the ratios, a clean stop (no Java left)
 *   7. with BENCH_DECAY_LEADS set: decay without scans over that many leads, 1% due (bench/decay.ts; on its
 *      own: `node bench/decay.ts`); a run without it keeps the previous `decay` figures of bench/results.json
 *
 * Parameters can be changed through BENCH_* variables (see `params`). Exit code 1 on any error
 * (a lost, duplicated or unexpected handoff, a failed delivery, Java left behind, the time budget).
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type AttributeValue, GetItemCommand, QueryCommand, type TransactWriteItem, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { createTable, defaultJavaToolOptions, dynamoClient } from '../lib/local/dynamodb.ts';
import { type LocalStack, startLocalStack } from '../lib/local/stack.ts';
import { startCrmReceiver } from '../lib/local/stand-ins/crm-receiver.ts';
import { leadPk, profileSk } from '../lib/store/keys.ts';
import { decayBench, decayErrors, decayLines, decayParams, previousDecayResult } from './decay.ts';
import { CommandTimer, EnqueueClock, ReceiveClock, TransactionSizer } from './instrument.ts';
import {
  dynamoDbLocalChildren,
  httpPoster,
  isAlive,
  itemSize,
  javaVersion,
  otherDynamoDbLocals,
  pageViewTrack,
  pool,
  prng,
  processCpuSeconds,
  round,
  type Summary,
  sendgridBatch,
  signed,
  summarize,
  transactionalWcu,
  workedExample,
} from './support.ts';

const benchDir = dirname(fileURLToPath(import.meta.url));
const runStarted = performance.now();

function envInt(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return parsed;
}

const params = {
  /** Measured single-event deliveries (step 3), after `warmupEvents`. */
  events: envInt('BENCH_EVENTS', 2000),
  warmupEvents: envInt('BENCH_WARMUP_EVENTS', 200),
  warmupLeads: envInt('BENCH_WARMUP_LEADS', 40),
  /** Requests (step 3) and transactions (step 2) in flight. */
  concurrency: envInt('BENCH_CONCURRENCY', 16),
  /** Leads the measured events are spread over, at random (some contention). */
  leads: envInt('BENCH_LEADS', 200),
  ceilingTransactions: envInt('BENCH_CEILING_TRANSACTIONS', 2000),
  ceilingWarmup: envInt('BENCH_CEILING_WARMUP', 300),
  ceilingSerialTransactions: envInt('BENCH_CEILING_SERIAL_TRANSACTIONS', 400),
  /** Fresh leads sent through the worked example one at a time (step 5), then as many at `handoffBurstConcurrency`. */
  handoffLeads: envInt('BENCH_HANDOFF_LEADS', 40),
  handoffBurstConcurrency: envInt('BENCH_HANDOFF_BURST_CONCURRENCY', 8),
  handoffTimeoutSeconds: envInt('BENCH_HANDOFF_TIMEOUT_SECONDS', 30),
  /** SendGrid batches (step 3b), each of fresh leads, after `sendgridWarmupBatches`; the first `sendgridRedeliveries` are then delivered again. */
  sendgridBatches: envInt('BENCH_SENDGRID_BATCHES', 5),
  sendgridRedeliveries: envInt('BENCH_SENDGRID_REDELIVERIES', 2),
  sendgridWarmupBatches: envInt('BENCH_SENDGRID_WARMUP_BATCHES', 1),
  sendgridBatchEvents: envInt('BENCH_SENDGRID_BATCH_EVENTS', 1000),
  sendgridBatchLeads: envInt('BENCH_SENDGRID_BATCH_LEADS', 300),
  seed: envInt('BENCH_SEED', 20240514),
  /** Phases stop taking work after this; the run is then reported as failed (about 2.5× a run on an idle 2-core machine). */
  timeBudgetSeconds: envInt('BENCH_TIME_BUDGET_SECONDS', 240),
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'ERROR',
};

// Fake secrets, for this process only.
const eventsSecret = `whsec_${Buffer.from('mql-bench-events-webhook-secret-0001').toString('base64')}`;
const crmSecret = `whsec_${Buffer.from('mql-bench-crm-webhook-secret-00000001').toString('base64')}`;
const sendgridKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const runId = randomUUID().slice(0, 8);
const errors: string[] = [];
const overBudget = () => (performance.now() - runStarted) / 1000 > params.timeBudgetSeconds;

// A last resort: a wedged run must not hang CI. The exit hook of lib/local/dynamodb.ts kills Java.
const watchdog = setTimeout(
  () => {
    console.error(`bench: still running after ${params.timeBudgetSeconds + 60} s; giving up`);
    process.exit(2);
  },
  (params.timeBudgetSeconds + 60) * 1000,
);
watchdog.unref();

// --- CPU of each phase -------------------------------------------------------------------------------

interface CpuMark {
  wall: number;
  node: NodeJS.CpuUsage;
  java: number | undefined;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
}
interface CpuUse {
  seconds: number;
  nodeCores: number;
  javaCores: number | null;
  eventLoopUtilization: number;
}
let javaPid: number | undefined;
const cpuMark = (): CpuMark => ({
  wall: performance.now(),
  node: process.cpuUsage(),
  java: javaPid === undefined ? undefined : processCpuSeconds(javaPid),
  elu: performance.eventLoopUtilization(),
});
function cpuSince(mark: CpuMark): CpuUse {
  const seconds = (performance.now() - mark.wall) / 1000;
  const node = process.cpuUsage(mark.node);
  const javaNow = javaPid === undefined ? undefined : processCpuSeconds(javaPid);
  return {
    seconds: round(seconds, 3),
    nodeCores: round((node.user + node.system) / 1e6 / seconds, 2),
    javaCores: javaNow === undefined || mark.java === undefined ? null : round((javaNow - mark.java) / seconds, 2),
    eventLoopUtilization: round(performance.eventLoopUtilization(mark.elu).utilization, 3),
  };
}

function timerSummary(
  timer: CommandTimer,
  perEvent: number,
): Record<string, { calls: number; perEvent: number; meanMs: number; p95Ms: number; failures: number }> {
  const out: Record<string, { calls: number; perEvent: number; meanMs: number; p95Ms: number; failures: number }> = {};
  for (const [command, durations] of timer.durations) {
    const summary = summarize(durations);
    out[command] = {
      calls: durations.length,
      perEvent: round(durations.length / perEvent, 3),
      meanMs: summary.mean,
      p95Ms: summary.p95,
      failures: timer.failures.get(command) ?? 0,
    };
  }
  return out;
}

// --- 1. the stack ------------------------------------------------------------------------------------

process.env.LOG_LEVEL = params.logLevel;
/** Other work on the machine skews every figure: recorded, and warned about. */
const machineLoad = {
  loadAverageAtStart: loadavg().map((value) => round(value, 2)),
  otherDynamoDbLocalAtStart: otherDynamoDbLocals(),
  loadAverageAtEnd: [] as number[],
  otherDynamoDbLocalAtEnd: [] as number[],
};
const stackMessages: string[] = [];
const crm = await startCrmReceiver(crmSecret);
const startMark = performance.now();
let stack: LocalStack;
try {
  stack = await startLocalStack({
    port: 0,
    schedules: false,
    env: {
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      SENDGRID_WEBHOOK_PUBLIC_KEY: sendgridKeys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
      CRM_ADAPTER: 'webhook',
      CRM_WEBHOOK_URL: crm.url,
      CRM_WEBHOOK_SECRET: crmSecret,
      LOG_LEVEL: params.logLevel,
    },
    log: (message) => {
      stackMessages.push(message);
      if (stackMessages.length <= 5) console.error(message);
    },
  });
} catch (error) {
  await crm.close();
  throw error;
}
const startupSeconds = (performance.now() - startMark) / 1000;
javaPid = dynamoDbLocalChildren()[0];

// The handlers run in this process: the pipeline they build from the environment is this one.
const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
const { dynamo, sqs, resetClients } = await import('../lib/runtime/aws.ts');
// Imported here, not at the top: it loads the shared logger, which must see LOG_LEVEL set above.
const { sendgridBody, sendgridSignatureHeader, sendgridTimestampHeader, signSendgridDelivery } = await import('../lib/sources/sendgrid.ts');
const pipeline = pipelineFromEnv();
if ((pipeline.store as unknown as { client: unknown }).client !== dynamo()) {
  errors.push('the store does not use lib/aws.ts dynamo(): the capacity sizes below do not cover it');
}
const sizer = new TransactionSizer(dynamo());
const storeTimer = new CommandTimer(dynamo(), 'benchStoreTimer');
const queueTimer = new CommandTimer(sqs(), 'benchQueueTimer');
const enqueueClock = new EnqueueClock(sqs());
const receiveClock = new ReceiveClock(stack.sqs);

const eventsUrl = stack.urls['POST /webhooks/events'];
if (!eventsUrl) throw new Error('the topology has no POST /webhooks/events route');
const poster = httpPoster(eventsUrl, Math.max(params.concurrency, params.handoffBurstConcurrency));
const deliver = (payload: unknown) => {
  const delivery = signed(payload, eventsSecret);
  return poster.post(delivery.body, delivery.headers);
};
const leadEmail = (kind: string, index: number) => `${kind}-${index}-${runId}@acme-bench.example.com`;

// Warm-up through HTTP: loads the handlers, warms both JITs, and leaves leads whose items are the
// templates of the raw ceiling (a lead with warmupEvents / warmupLeads events, like the mean lead of step 3).
const warmMark = cpuMark();
await pool(params.warmupEvents, params.concurrency, async (index) => {
  const answer = await deliver(pageViewTrack(leadEmail('warm', index % params.warmupLeads), index));
  if (answer.status !== 200) errors.push(`warm-up delivery answered ${answer.status}: ${answer.text.slice(0, 200)}`);
});
const warmup = cpuSince(warmMark);

// --- 2. the raw DynamoDB Local ceiling --------------------------------------------------------------------

const templateLead = leadEmail('warm', 0);
const templateItems = await stack.dynamodb.send(
  new QueryCommand({
    TableName: stack.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': { S: leadPk(templateLead) } },
    ConsistentRead: true,
  }),
);
const pick = (kind: string) => {
  const item = (templateItems.Items ?? []).find((candidate) => candidate.kind?.S === kind);
  if (!item) throw new Error(`no ${kind} item stored for ${templateLead}: the warm-up did not store events`);
  return item;
};
const template = { event: pick('event'), raw: pick('raw'), lead: pick('lead') };
const templateBytes = { event: itemSize(template.event), raw: itemSize(template.raw), lead: itemSize(template.lead) };

const ceilingTable = 'bench-ceiling';
const ceilingClient = dynamoClient(stack.dynamoEndpoint, stack.region);
await createTable(ceilingClient, ceilingTable);
let ceilingConsumed: { responses: number; units: number; sample: unknown } = { responses: 0, units: 0, sample: undefined };

/** One delivery's transaction on the ceiling table: event (attribute_not_exists), raw, lead (a condition that holds). */
async function ceilingTransaction(index: number, withGet: boolean): Promise<{ ms: number; conflicts: number }> {
  const started = performance.now();
  const pk: AttributeValue = { S: leadPk(`ceiling-${index % params.leads}@acme-bench.example.com`) };
  const id = randomUUID();
  const items: TransactWriteItem[] = [
    {
      Put: {
        TableName: ceilingTable,
        Item: { ...template.event, pk, sk: { S: `EVT#${new Date().toISOString()}#segment#${id}` } },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    { Put: { TableName: ceilingTable, Item: { ...template.raw, pk, sk: { S: `RAW#segment#${id}` } } } },
    { Put: { TableName: ceilingTable, Item: { ...template.lead, pk }, ConditionExpression: 'attribute_not_exists(pk) OR attribute_exists(version)' } },
  ];
  let conflicts = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      if (withGet) await ceilingClient.send(new GetItemCommand({ TableName: ceilingTable, Key: { pk, sk: { S: profileSk } }, ConsistentRead: true }));
      const answer = await ceilingClient.send(new TransactWriteItemsCommand({ TransactItems: items, ReturnConsumedCapacity: 'TOTAL' }));
      if (answer.ConsumedCapacity && answer.ConsumedCapacity.length > 0) {
        ceilingConsumed.responses += 1;
        for (const entry of answer.ConsumedCapacity) ceilingConsumed.units += entry.WriteCapacityUnits ?? entry.CapacityUnits ?? 0;
        ceilingConsumed.sample ??= answer.ConsumedCapacity;
      }
      return { ms: performance.now() - started, conflicts };
    } catch (error) {
      if ((error as Error).name !== 'TransactionCanceledException' || attempt >= 20) throw error;
      conflicts += 1;
      await sleep(Math.random() * Math.min(100, 5 * 2 ** attempt));
    }
  }
}

async function ceilingRun(count: number, withGet: boolean, concurrency = params.concurrency) {
  const latencies: number[] = [];
  let conflicts = 0;
  let failures = 0;
  const mark = cpuMark();
  await pool(
    count,
    concurrency,
    async (index) => {
      try {
        const result = await ceilingTransaction(index, withGet);
        latencies.push(result.ms);
        conflicts += result.conflicts;
      } catch (error) {
        failures += 1;
        if (failures <= 3) errors.push(`ceiling transaction failed: ${(error as Error).name}: ${(error as Error).message}`);
      }
    },
    overBudget,
  );
  const cpu = cpuSince(mark);
  return {
    transactions: latencies.length,
    failures,
    conflicts,
    seconds: cpu.seconds,
    perSecond: round(latencies.length / cpu.seconds, 1),
    latencyMs: summarize(latencies),
    cpu,
  };
}

await ceilingRun(params.ceilingWarmup, false);
ceilingConsumed = { responses: 0, units: 0, sample: undefined };
const ceiling = await ceilingRun(params.ceilingTransactions, false);
const ceilingReportedCapacity = { ...ceilingConsumed };
const ceilingWithGet = await ceilingRun(params.ceilingTransactions, true);
// One at a time: how much of the ceiling concurrency buys (DynamoDB Local applies transactions one by one).
const ceilingSerial = await ceilingRun(params.ceilingSerialTransactions, false, 1);

/**
 * Does DynamoDB Local's ConsumedCapacity follow the published rule? One put of 3 KB alone, then three
 * such puts in one transaction: the rule says 6 and 18 WCU.
 */
async function capacityProbe() {
  const probeItem = (index: number): Record<string, AttributeValue> => ({
    pk: { S: 'PROBE' },
    sk: { S: `probe-${runId}-${index}` },
    pad: { S: 'x'.repeat(3000) },
  });
  const bytes = itemSize(probeItem(0));
  const reportedFor = async (indexes: number[]) => {
    const answer = await ceilingClient.send(
      new TransactWriteItemsCommand({
        TransactItems: indexes.map((index) => ({ Put: { TableName: ceilingTable, Item: probeItem(index) } })),
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    return (answer.ConsumedCapacity ?? []).reduce((sum, entry) => sum + (entry.WriteCapacityUnits ?? entry.CapacityUnits ?? 0), 0);
  };
  const single = { items: 1, itemBytes: bytes, reported: await reportedFor([0]), rule: transactionalWcu(bytes) };
  const triple = { items: 3, itemBytes: bytes, reported: await reportedFor([1, 2, 3]), rule: 3 * transactionalWcu(bytes) };
  return { single, triple, undercountsMultiItemTransactions: triple.reported < triple.rule };
}
const consumedCapacityProbe = await capacityProbe();

// --- 3. events/s through HTTP --------------------------------------------------------------------------

const random = prng(params.seed);
const leadOf = Array.from({ length: params.events }, () => Math.floor(random() * params.leads));
const statsBefore = { ...pipeline.store.stats };
sizer.reset();
storeTimer.reset();
queueTimer.reset();
const enqueuedBefore = enqueueClock.enqueuedAt.size;
const latencies: number[] = [];
const statuses: Record<string, number> = {};
let stored = 0;
let duplicates = 0;
const ingestMark = cpuMark();
await pool(
  params.events,
  params.concurrency,
  async (index) => {
    try {
      const answer = await deliver(pageViewTrack(leadEmail('lead', leadOf[index]!), index));
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (answer.status === 200) {
        latencies.push(answer.ms);
        const body = JSON.parse(answer.text) as { stored?: number; duplicates?: number };
        stored += body.stored ?? 0;
        duplicates += body.duplicates ?? 0;
      } else if ((statuses[answer.status] ?? 0) <= 3) {
        errors.push(`delivery answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      }
    } catch (error) {
      statuses.network = (statuses.network ?? 0) + 1;
      if (statuses.network <= 3) errors.push(`delivery failed: ${(error as Error).message}`);
    }
  },
  overBudget,
);
const ingestCpu = cpuSince(ingestMark);
const statsAfter = { ...pipeline.store.stats };
const ingestTimings = { store: timerSummary(storeTimer, Math.max(1, stored)), queue: timerSummary(queueTimer, Math.max(1, stored)) };
const sizes = structuredClone(sizer.stats);
const ok = latencies.length;
const eventsPerSecond = ok / ingestCpu.seconds;
const non200 = Object.entries(statuses).filter(([status]) => status !== '200');
if (non200.length > 0) errors.push(`step 3: ${non200.map(([status, count]) => `${count} × ${status}`).join(', ')} of ${params.events} deliveries`);
if (stored !== ok) errors.push(`step 3: ${ok} deliveries answered 200 but ${stored} events were stored (${duplicates} duplicates)`);
if (enqueueClock.enqueuedAt.size !== enqueuedBefore) errors.push('step 3: page views alone enqueued a handoff');

// --- 4. write capacity per event ---------------------------------------------------------------------

const delta = {
  transactions: statsAfter.transactions - statsBefore.transactions,
  conflicts: statsAfter.conflicts - statsBefore.conflicts,
  writeCapacityUnits: statsAfter.writeCapacityUnits - statsBefore.writeCapacityUnits,
};
const reported = delta.writeCapacityUnits > 0;
const perEvent = (value: number) => (stored > 0 ? value / stored : Number.NaN);
const capacity = {
  source: reported
    ? 'reported by DynamoDB Local (ReturnConsumedCapacity)'
    : 'estimated (DynamoDB Local reported no ConsumedCapacity): 2 WCU per KB of each transactional write',
  dynamoDbLocalReportsConsumedCapacity: reported || sizes.consumedCapacityResponses > 0,
  /** DynamoDB Local checked against the published rule (see capacityProbe). */
  consumedCapacityProbe,
  estimatedNote:
    '2 WCU per KB (rounded up) of each item of a committed transaction, sizes from the marshalled items; GSI writes at 1 WCU per KB; cancelled attempts not included; the store stats cover TransactWriteItems only (not the UpdateItem of confirmQueued or of the handoff record)',
  storeStats: delta,
  wcuPerEvent: round(perEvent(reported ? delta.writeCapacityUnits : sizes.estimatedWcu), 2),
  reportedWcuPerEvent: reported ? round(perEvent(delta.writeCapacityUnits), 2) : null,
  estimatedWcuPerEvent: round(perEvent(sizes.estimatedWcu), 2),
  estimatedGsiWcuPerEvent: round(perEvent(sizes.gsiEstimatedWcu), 3),
  cancelledAttemptsWcuPerEvent: round(perEvent(sizes.cancelledWcu), 2),
  conflictsPerEvent: round(perEvent(delta.conflicts), 4),
  transactionsPerEvent: round(perEvent(delta.transactions), 3),
  meanItemBytes: {
    event: round(sizes.bytes.event / Math.max(1, sizes.items.event), 0),
    raw: round(sizes.bytes.raw / Math.max(1, sizes.items.raw), 0),
    lead: round(sizes.bytes.lead / Math.max(1, sizes.items.lead), 0),
  },
  sizer: sizes,
};
if (sizes.committed !== delta.transactions)
  errors.push(`step 4: the store counted ${delta.transactions} transactions, the SDK sent ${sizes.committed} committed ones`);

// --- 3b. SendGrid batches through HTTP --------------------------------------------------------------------

/**
 * SendGrid posts up to 768 KB of events at once: one delivery, one Lambda, events grouped by lead into
 * one transaction each (16 leads at a time). One batch at a time, so the figure is the time a single
 * delivery takes to be answered; the first ones are then delivered again (what SendGrid does after any
 * non-2xx), which costs the store a read and a cancelled transaction per lead.
 */
const sendgridUrl = stack.urls['POST /webhooks/sendgrid'];
if (!sendgridUrl) throw new Error('the topology has no POST /webhooks/sendgrid route');
const sendgridPoster = httpPoster(sendgridUrl, 1);

interface BatchRun {
  ms: number[];
  events: number;
  stored: number;
  duplicates: number;
  statuses: Record<string, number>;
  bodyBytes: number[];
}
const emptyRun = (): BatchRun => ({ ms: [], events: 0, stored: 0, duplicates: 0, statuses: {}, bodyBytes: [] });

/** A delivery as SendGrid posts it, signed now with the benchmark's key. */
function sendgridSigned(events: readonly object[]): { body: string; headers: Record<string, string> } {
  const body = sendgridBody(events);
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'SendGrid Event API',
      [sendgridTimestampHeader]: timestamp,
      [sendgridSignatureHeader]: signSendgridDelivery({ privateKey: sendgridKeys.privateKey, timestamp, body }),
    },
  };
}

async function postSendgrid(run: BatchRun, events: readonly object[], expectStored: number, label: string): Promise<void> {
  const delivery = sendgridSigned(events);
  run.bodyBytes.push(Buffer.byteLength(delivery.body));
  try {
    const answer = await sendgridPoster.post(delivery.body, delivery.headers);
    run.statuses[answer.status] = (run.statuses[answer.status] ?? 0) + 1;
    if (answer.status !== 200) {
      errors.push(`step 3b: ${label} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      return;
    }
    const body = JSON.parse(answer.text) as { stored?: number; duplicates?: number };
    run.ms.push(answer.ms);
    run.events += events.length;
    run.stored += body.stored ?? 0;
    run.duplicates += body.duplicates ?? 0;
    if (body.stored !== expectStored)
      errors.push(`step 3b: ${label} stored ${body.stored} of ${events.length} events (expected ${expectStored}), ${body.duplicates} duplicates`);
  } catch (error) {
    run.statuses.network = (run.statuses.network ?? 0) + 1;
    errors.push(`step 3b: ${label} failed: ${(error as Error).message}`);
  }
}

const sendgridLeadEmails = (batch: string) => Array.from({ length: params.sendgridBatchLeads }, (_, index) => leadEmail(`sg-${batch}`, index));
for (let index = 0; index < params.sendgridWarmupBatches && !overBudget(); index++) {
  await postSendgrid(
    emptyRun(),
    sendgridBatch(sendgridLeadEmails(`warm${index}`), params.sendgridBatchEvents),
    params.sendgridBatchEvents,
    `warm-up batch ${index + 1}`,
  );
}
const sendgridFresh = emptyRun();
const sendgridAgain = emptyRun();
const sendgridStatsBefore = { ...pipeline.store.stats };
const sendgridEnqueuedBefore = enqueueClock.enqueuedAt.size;
storeTimer.reset();
let sendgridFreshCpu: CpuUse | undefined;
let sendgridAgainCpu: CpuUse | undefined;
{
  const batches = Array.from({ length: params.sendgridBatches }, (_, index) => sendgridBatch(sendgridLeadEmails(`b${index}`), params.sendgridBatchEvents));
  let mark = cpuMark();
  for (const [index, events] of batches.entries()) {
    if (overBudget()) break;
    await postSendgrid(sendgridFresh, events, events.length, `batch ${index + 1}`);
  }
  sendgridFreshCpu = cpuSince(mark);
  mark = cpuMark();
  for (const [index, events] of batches.slice(0, params.sendgridRedeliveries).entries()) {
    if (overBudget()) break;
    await postSendgrid(sendgridAgain, events, 0, `redelivery of batch ${index + 1}`);
  }
  sendgridAgainCpu = cpuSince(mark);
}
sendgridPoster.close();
const sendgridStats = {
  transactions: pipeline.store.stats.transactions - sendgridStatsBefore.transactions,
  conflicts: pipeline.store.stats.conflicts - sendgridStatsBefore.conflicts,
};
const sendgridCalls = timerSummary(storeTimer, Math.max(1, sendgridFresh.events + sendgridAgain.events));
/** Events per second of accepting batches one after another: events over the summed response times. */
const batchRate = (run: BatchRun) => run.events / (run.ms.reduce((sum, ms) => sum + ms, 0) / 1000);
const sendgridEventsPerSecond = batchRate(sendgridFresh);
if (sendgridFresh.ms.length < params.sendgridBatches) errors.push(`step 3b: ${sendgridFresh.ms.length} of ${params.sendgridBatches} batches accepted`);
if (enqueueClock.enqueuedAt.size !== sendgridEnqueuedBefore) errors.push('step 3b: SendGrid opens and clicks alone enqueued a handoff');

// --- 5. handoff latency ------------------------------------------------------------------------------

interface HandoffPhase {
  leads: number;
  concurrency: number;
  latencyMs: Summary;
  /** Relative to the qualifying response (negative: before it arrived). */
  enqueuedMs: Summary;
  pollerReceivedMs: Summary;
  /** From the poller's receive to the CRM's arrival: the handoff function's work (getHandoff, the POST). */
  consumerMs: Summary;
  pollerBatchSize: Summary;
  /** Gap between consecutive CRM arrivals from one poller batch: what each record costs the sequential consumer. */
  perRecordInBatchMs: Summary;
  deliveryMs: Summary;
  sdkCalls: ReturnType<typeof timerSummary>;
  missing: string[];
  cpu: CpuUse;
}

async function handoffPhase(name: string, count: number, concurrency: number): Promise<HandoffPhase> {
  const emails = Array.from({ length: count }, (_, index) => leadEmail(`mql-${name}`, index));
  const qualifiedAt = new Map<string, number>();
  const deliveryMs: number[] = [];
  storeTimer.reset();
  const mark = cpuMark();
  await pool(
    count,
    concurrency,
    async (index) => {
      const email = emails[index]!;
      const messages = workedExample(email);
      for (const [step, message] of messages.entries()) {
        const answer = await deliver(message);
        deliveryMs.push(answer.ms);
        const body = answer.status === 200 ? (JSON.parse(answer.text) as { stored?: number }) : undefined;
        if (answer.status !== 200 || body?.stored !== 1) {
          errors.push(`handoff ${name}: delivery ${step + 1} for ${email} answered ${answer.status} ${answer.text.slice(0, 200)}`);
          return;
        }
        if (step === 2) qualifiedAt.set(email, answer.at);
      }
    },
    overBudget,
  );
  await crm.waitForMql(emails, params.handoffTimeoutSeconds * 1000);
  const cpu = cpuSince(mark);
  const latency: number[] = [];
  const enqueued: number[] = [];
  const received: number[] = [];
  const consumer: number[] = [];
  const batch: number[] = [];
  const byBatch = new Map<number, number[]>();
  const missing: string[] = [];
  for (const email of emails) {
    const at = qualifiedAt.get(email);
    const arrival = crm.received.find((candidate) => candidate.leadId === email && candidate.record.type === 'lead.mql');
    if (at === undefined || !arrival) {
      missing.push(email);
      continue;
    }
    latency.push(arrival.arrivedAt - at);
    const queuedAt = enqueueClock.enqueuedAt.get(email);
    if (queuedAt !== undefined) enqueued.push(queuedAt - at);
    const poll = receiveClock.receivedAt.get(email);
    if (poll) {
      received.push(poll.at - at);
      consumer.push(arrival.arrivedAt - poll.at);
      batch.push(poll.batch);
      byBatch.set(poll.at, [...(byBatch.get(poll.at) ?? []), arrival.arrivedAt]);
    }
  }
  return {
    leads: count,
    concurrency,
    latencyMs: summarize(latency),
    enqueuedMs: summarize(enqueued),
    pollerReceivedMs: summarize(received),
    consumerMs: summarize(consumer),
    pollerBatchSize: summarize(batch),
    perRecordInBatchMs: summarize(
      [...byBatch.values()].flatMap((arrivals) => {
        const sorted = arrivals.sort((a, b) => a - b);
        return sorted.slice(1).map((at, index) => at - sorted[index]!);
      }),
    ),
    deliveryMs: summarize(deliveryMs),
    sdkCalls: timerSummary(storeTimer, count),
    missing,
    cpu,
  };
}

const handoffSequential = await handoffPhase('seq', params.handoffLeads, 1);
const handoffBurst = await handoffPhase('burst', params.handoffLeads, params.handoffBurstConcurrency);

// Exactly once: let everything settle (queues empty, a poll cycle more), then count.
try {
  await stack.drain({ timeoutMs: params.handoffTimeoutSeconds * 1000 });
} catch (error) {
  errors.push(`drain: ${(error as Error).message}`);
}
await sleep(1500);
const expected = new Set([
  ...Array.from({ length: params.handoffLeads }, (_, i) => leadEmail('mql-seq', i)),
  ...Array.from({ length: params.handoffLeads }, (_, i) => leadEmail('mql-burst', i)),
]);
const mqlCount = new Map<string, number>();
for (const arrival of crm.received) if (arrival.record.type === 'lead.mql') mqlCount.set(arrival.leadId, (mqlCount.get(arrival.leadId) ?? 0) + 1);
const webhookIds = new Map<string, number>();
for (const arrival of crm.received) webhookIds.set(arrival.webhookId, (webhookIds.get(arrival.webhookId) ?? 0) + 1);
const verification = {
  expected: expected.size,
  receivedLeadMql: [...mqlCount.entries()].filter(([email]) => expected.has(email)).length,
  duplicates: [...mqlCount.entries()].filter(([email, count]) => expected.has(email) && count > 1).map(([email, count]) => ({ email, count })),
  duplicateWebhookIds: [...webhookIds.entries()].filter(([, count]) => count > 1).length,
  misses: [...expected].filter((email) => !mqlCount.has(email)),
  unexpected: crm.received
    .filter((arrival) => !expected.has(arrival.leadId) || arrival.record.type !== 'lead.mql')
    .map((arrival) => `${arrival.record.type} ${arrival.leadId}`),
  scoresBelowThreshold: crm.received.filter((arrival) => arrival.record.type === 'lead.mql' && arrival.record.score.total < 60).length,
  /** Requests the receiver did not accept (a signature that does not verify, a body that is not a handoff record). */
  rejectedByReceiver: crm.attempts.filter((attempt) => attempt.status >= 300),
  queues: {} as Record<string, string | undefined>,
};
for (const [name, url] of [
  ['handoff', stack.queueUrls.handoff],
  ['handoff-dlq', stack.dlqUrls.handoff],
] as const) {
  const attributes = await stack.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  verification.queues[name] =
    `${attributes.Attributes?.ApproximateNumberOfMessages ?? '?'} visible, ${attributes.Attributes?.ApproximateNumberOfMessagesNotVisible ?? '?'} in flight`;
  if (name === 'handoff-dlq' && attributes.Attributes?.ApproximateNumberOfMessages !== '0')
    errors.push(`the handoff DLQ holds ${attributes.Attributes?.ApproximateNumberOfMessages} message(s)`);
}
if (verification.duplicates.length > 0)
  errors.push(
    `duplicate lead.mql for ${verification.duplicates.length} lead(s): ${verification.duplicates
      .slice(0, 3)
      .map((d) => `${d.email} × ${d.count}`)
      .join(', ')}`,
  );
if (verification.duplicateWebhookIds > 0) errors.push(`${verification.duplicateWebhookIds} webhook-id(s) delivered more than once`);
if (verification.misses.length > 0) errors.push(`no lead.mql for ${verification.misses.length} lead(s), e.g. ${verification.misses[0]}`);
if (verification.unexpected.length > 0) errors.push(`${verification.unexpected.length} unexpected handoff(s), e.g. ${verification.unexpected[0]}`);
if (verification.scoresBelowThreshold > 0) errors.push(`${verification.scoresBelowThreshold} lead.mql record(s) under the 60-point threshold`);
if (verification.rejectedByReceiver.length > 0)
  errors.push(`the CRM receiver refused ${verification.rejectedByReceiver.length} request(s): ${verification.rejectedByReceiver[0]?.reason}`);
if (overBudget()) errors.push(`the run exceeded its ${params.timeBudgetSeconds} s budget: some phases were cut short`);

// --- 7. decay without scans (optional: seeding 100,000 leads takes minutes; outside the time budget) ---

const decayEnabled = (process.env.BENCH_DECAY_LEADS ?? '') !== '';
let decay: unknown = previousDecayResult(join(benchDir, 'results.json'));
let decayPrintout: string[] = [];
if (decayEnabled) {
  const decayParameters = decayParams(process.env, 100_000);
  clearTimeout(watchdog);
  // Its own last resort: about 10 ms per lead seeded and scanned, plus two minutes.
  setTimeout(
    () => {
      console.error('bench: the decay phase is still running; giving up');
      process.exit(2);
    },
    120_000 + decayParameters.leads * 10,
  ).unref();
  try {
    const result = await decayBench(stack.dynamoEndpoint, decayParameters);
    errors.push(...decayErrors(result));
    decay = result;
    decayPrintout = ['', ...decayLines(result)];
  } catch (error) {
    errors.push(`decay: ${(error as Error).message}`);
  }
}

// --- 6. stop, report ---------------------------------------------------------------------------------

machineLoad.loadAverageAtEnd = loadavg().map((value) => round(value, 2));
machineLoad.otherDynamoDbLocalAtEnd = otherDynamoDbLocals();
const javaBefore = dynamoDbLocalChildren();
const stopStarted = performance.now();
poster.close();
await stack.stop();
resetClients();
ceilingClient.destroy();
await crm.close();
const stopSeconds = (performance.now() - stopStarted) / 1000;
for (let i = 0; i < 50 && javaBefore.some(isAlive); i++) await sleep(100);
const javaLeft = [...new Set([...javaBefore.filter(isAlive), ...dynamoDbLocalChildren()])];
if (javaBefore.length === 0) errors.push('could not find the DynamoDB Local process to check it is gone');
if (javaLeft.length > 0) errors.push(`DynamoDB Local still running after stop: pid ${javaLeft.join(', ')}`);

const ratio = round(eventsPerSecond / ceiling.perSecond, 3);
const ratioWithGet = round(eventsPerSecond / ceilingWithGet.perSecond, 3);
const sendgridRatio = round(sendgridEventsPerSecond / ceiling.perSecond, 3);
const cpuInfo = cpus();
const results = {
  date: new Date().toISOString(),
  node: process.version,
  java: javaVersion(),
  javaToolOptions: process.env.JAVA_TOOL_OPTIONS ?? `${defaultJavaToolOptions} (lib/local/dynamodb.ts default)`,
  machine: {
    platform: platform(),
    release: release(),
    arch: arch(),
    cpus: cpuInfo.length,
    cpuModel: cpuInfo[0]?.model?.trim() ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
  },
  machineLoad,
  parameters: params,
  startupSeconds: round(startupSeconds, 2),
  warmup,
  ceiling: {
    shape:
      'TransactWriteItems of 3 puts: event (attribute_not_exists(pk)), raw payload, lead (a condition that holds), items copied from a stored warm-up lead',
    templateItemBytes: templateBytes,
    templateEstimatedWcu: transactionalWcu(templateBytes.event) + transactionalWcu(templateBytes.raw) + transactionalWcu(templateBytes.lead),
    consumedCapacity: ceilingReportedCapacity,
    transactWriteItems: ceiling,
    getItemThenTransactWriteItems: ceilingWithGet,
    transactWriteItemsOneAtATime: ceilingSerial,
  },
  ingest: {
    deliveries: params.events,
    ok,
    statuses,
    stored,
    duplicates,
    seconds: ingestCpu.seconds,
    eventsPerSecond: round(eventsPerSecond, 1),
    latencyMs: summarize(latencies),
    ratioToRawTransactions: ratio,
    ratioToGetPlusTransact: ratioWithGet,
    cpu: ingestCpu,
    sdkCalls: ingestTimings,
  },
  capacity,
  sendgrid: {
    shape: `${params.sendgridBatchEvents} SendGrid events (processed, delivered, open, click) over ${params.sendgridBatchLeads} fresh leads in one signed POST /webhooks/sendgrid, batches one at a time; then the first ${params.sendgridRedeliveries} delivered again`,
    batches: sendgridFresh.ms.length,
    eventsPerBatch: params.sendgridBatchEvents,
    leadsPerBatch: params.sendgridBatchLeads,
    bodyBytes: summarize(sendgridFresh.bodyBytes),
    statuses: sendgridFresh.statuses,
    stored: sendgridFresh.stored,
    acceptMs: summarize(sendgridFresh.ms),
    eventsPerSecond: round(sendgridEventsPerSecond, 1),
    ratioToRawTransactions: sendgridRatio,
    transactionsPerSecond: round(sendgridStats.transactions / (sendgridFresh.ms.reduce((sum, ms) => sum + ms, 0) / 1000), 1),
    storeStats: sendgridStats,
    cpu: sendgridFreshCpu,
    redelivery: {
      batches: sendgridAgain.ms.length,
      statuses: sendgridAgain.statuses,
      stored: sendgridAgain.stored,
      duplicates: sendgridAgain.duplicates,
      acceptMs: summarize(sendgridAgain.ms),
      eventsPerSecond: round(batchRate(sendgridAgain), 1),
      cpu: sendgridAgainCpu,
    },
    sdkCallsBothPasses: sendgridCalls,
  },
  handoff: { sequential: handoffSequential, burst: handoffBurst },
  verification,
  decay: decay ?? null,
  shutdown: { seconds: round(stopSeconds, 2), javaPidsBefore: javaBefore, javaLeft },
  stackMessages: { count: stackMessages.length, first: stackMessages.slice(0, 5) },
  errors,
  totalSeconds: round((performance.now() - runStarted) / 1000, 1),
};
writeFileSync(join(benchDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

// --- the printout ------------------------------------------------------------------------------------

const pad = (value: unknown, width: number) => String(value).padStart(width);
const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');
const row = (label: string, count: number, seconds: number | undefined, rate: number | undefined, s: Summary) =>
  `${label.padEnd(44)}${pad(count, 6)}${pad(seconds === undefined ? '' : fmt(seconds, 2), 9)}${pad(rate === undefined ? '' : fmt(rate), 9)}${pad(fmt(s.p50), 9)}${pad(fmt(s.p95), 9)}${pad(fmt(s.p99), 9)}${pad(fmt(s.max), 9)}`;
const cores = (use: CpuUse) =>
  `node ${fmt(use.nodeCores, 2)} cores (event loop ${fmt(use.eventLoopUtilization * 100, 0)}% busy), java ${use.javaCores === null ? '?' : fmt(use.javaCores, 2)} cores`;
const ingestCalls = Object.entries(ingestTimings.store)
  .map(([command, t]) => `${command} ${fmt(t.perEvent, 2)}/event ${fmt(t.meanMs, 1)} ms`)
  .join(', ');

const lines = [
  `mql-engine bench ${results.date}  node ${results.node}  ${results.machine.cpus} × ${results.machine.cpuModel}  ${results.java}`,
  `parameters: ${params.events} events (+${params.warmupEvents} warm-up) over ${params.leads} leads at concurrency ${params.concurrency}; ceiling ${params.ceilingTransactions} txns (+${params.ceilingWarmup} warm-up, +${params.ceilingSerialTransactions} one at a time); handoff ${params.handoffLeads} leads one at a time + ${params.handoffLeads} at ${params.handoffBurstConcurrency}; seed ${params.seed}`,
  `stack started in ${fmt(startupSeconds, 2)} s (DynamoDB Local in memory, JAVA_TOOL_OPTIONS ${results.javaToolOptions})`,
  '',
  `${'phase'.padEnd(44)}${pad('count', 6)}${pad('seconds', 9)}${pad('per s', 9)}${pad('p50 ms', 9)}${pad('p95 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}`,
  row('2. DynamoDB Local TransactWriteItems (raw)', ceiling.transactions, ceiling.seconds, ceiling.perSecond, ceiling.latencyMs),
  row('   GetItem + TransactWriteItems (raw)', ceilingWithGet.transactions, ceilingWithGet.seconds, ceilingWithGet.perSecond, ceilingWithGet.latencyMs),
  row('   TransactWriteItems one at a time (raw)', ceilingSerial.transactions, ceilingSerial.seconds, ceilingSerial.perSecond, ceilingSerial.latencyMs),
  row('3. POST /webhooks/events, 1 event each', ok, ingestCpu.seconds, eventsPerSecond, results.ingest.latencyMs),
  row(
    `3b. POST /webhooks/sendgrid, ${params.sendgridBatchEvents} events`,
    sendgridFresh.ms.length,
    sendgridFreshCpu?.seconds,
    sendgridEventsPerSecond,
    results.sendgrid.acceptMs,
  ),
  row('    the same batch delivered again', sendgridAgain.ms.length, sendgridAgainCpu?.seconds, batchRate(sendgridAgain), results.sendgrid.redelivery.acceptMs),
  row('5. handoff: 3rd response -> CRM lead.mql', handoffSequential.latencyMs.count, undefined, undefined, handoffSequential.latencyMs),
  row(`   same, ${params.handoffBurstConcurrency} leads at a time`, handoffBurst.latencyMs.count, undefined, undefined, handoffBurst.latencyMs),
  '',
  'ratios',
  `  events/s ÷ raw TransactWriteItems/s            ${fmt(ratio, 3)}`,
  `  events/s ÷ raw GetItem+TransactWriteItems/s    ${fmt(ratioWithGet, 3)}`,
  `  SendGrid batch events/s ÷ raw TransactWriteItems/s  ${fmt(sendgridRatio, 3)} (${fmt(sendgridEventsPerSecond)} events/s in ${fmt(results.sendgrid.transactionsPerSecond)} lead transactions/s, ${fmt(params.sendgridBatchEvents / params.sendgridBatchLeads, 2)} events per lead; raw ${fmt(ceiling.perSecond)} TransactWriteItems/s)`,
  `  SendGrid batches: ${params.sendgridBatchEvents} events over ${params.sendgridBatchLeads} leads, ${fmt(results.sendgrid.bodyBytes.p50 / 1024, 0)} KiB; accepted p50 ${fmt(results.sendgrid.acceptMs.p50, 0)} ms, p95 ${fmt(results.sendgrid.acceptMs.p95, 0)} ms; redelivered p50 ${fmt(results.sendgrid.redelivery.acceptMs.p50, 0)} ms (${sendgridAgain.duplicates} duplicates, ${sendgridAgain.stored} stored); ${sendgridStats.conflicts} lock conflicts`,
  `  deliveries: ${Object.entries(statuses)
    .map(([status, count]) => `${count} × ${status}`)
    .join(', ')}; stored ${stored}, duplicates ${duplicates}`,
  '',
  '4. capacity and contention per event',
  `  WCU per event        ${fmt(capacity.wcuPerEvent, 2)}  ${capacity.source}`,
  `                       ${fmt(capacity.estimatedWcuPerEvent, 2)}  estimated by the published rule (2 WCU per KB of each transactional item)${capacity.dynamoDbLocalReportsConsumedCapacity && consumedCapacityProbe.undercountsMultiItemTransactions ? ': the figure for AWS' : ''}`,
  `  DynamoDB Local ConsumedCapacity: ${capacity.dynamoDbLocalReportsConsumedCapacity ? 'reported' : 'NOT reported'}; probe: 1 put of ${consumedCapacityProbe.single.itemBytes} B -> ${consumedCapacityProbe.single.reported} WCU (rule ${consumedCapacityProbe.single.rule}), 3 in one transaction -> ${consumedCapacityProbe.triple.reported} WCU (rule ${consumedCapacityProbe.triple.rule})${consumedCapacityProbe.undercountsMultiItemTransactions ? ': it UNDERCOUNTS multi-item transactions' : ''}`,
  `  mean item bytes      event ${capacity.meanItemBytes.event}, raw ${capacity.meanItemBytes.raw}, lead ${capacity.meanItemBytes.lead} (ceiling template: ${templateBytes.event}/${templateBytes.raw}/${templateBytes.lead})`,
  `  conflicts per event  ${fmt(capacity.conflictsPerEvent, 4)} (${delta.conflicts} optimistic-lock retries, ${delta.transactions} committed transactions for ${stored} events; cancelled attempts would add ${fmt(capacity.cancelledAttemptsWcuPerEvent, 2)} WCU/event)`,
  `  SDK calls per event  ${ingestCalls}`,
  '',
  '5. where the handoff time goes (ms from the qualifying response; median [p95])',
  ...[
    ['one lead at a time', handoffSequential],
    [`${params.handoffBurstConcurrency} leads at a time`, handoffBurst],
  ].map(([label, phase]) => {
    const p = phase as HandoffPhase;
    return `  ${String(label).padEnd(20)} enqueued ${fmt(p.enqueuedMs.p50)} [${fmt(p.enqueuedMs.p95)}], poller got it ${fmt(p.pollerReceivedMs.p50)} [${fmt(p.pollerReceivedMs.p95)}], consumer to CRM ${fmt(p.consumerMs.p50)} [${fmt(p.consumerMs.p95)}]; poller batch ${fmt(p.pollerBatchSize.p50, 0)} [max ${fmt(p.pollerBatchSize.max, 0)}], ${fmt(p.perRecordInBatchMs.p50)} ms per record in a batch; deliveries p50 ${fmt(p.deliveryMs.p50)} ms`;
  }),
  `  store calls per lead ${Object.entries(handoffBurst.sdkCalls)
    .map(([command, t]) => `${command} ${fmt(t.perEvent, 1)} × ${fmt(t.meanMs, 1)} ms`)
    .join(', ')} (3 deliveries + handoff, ${params.handoffBurstConcurrency} at a time)`,
  '',
  `cpu (${cpuInfo.length} cores shared by node and java)`,
  `  ceiling   ${cores(ceiling.cpu)}; concurrency ${params.concurrency} gives ${fmt(ceiling.perSecond / ceilingSerial.perSecond, 2)}× the one-at-a-time rate`,
  `  ingest    ${cores(ingestCpu)}`,
  ...(sendgridFreshCpu ? [`  sendgrid  ${cores(sendgridFreshCpu)}`] : []),
  ...decayPrintout,
  '',
  `verification: ${verification.receivedLeadMql}/${verification.expected} leads got lead.mql; duplicates ${verification.duplicates.length}, misses ${verification.misses.length}, unexpected ${verification.unexpected.length}, refused ${verification.rejectedByReceiver.length}; queues ${Object.entries(
    verification.queues,
  )
    .map(([q, s]) => `${q}: ${s}`)
    .join('; ')}`,
  `stopped in ${fmt(stopSeconds, 2)} s; DynamoDB Local pid ${javaBefore.join(', ') || '?'} ${javaLeft.length === 0 ? 'gone' : `STILL RUNNING (${javaLeft.join(', ')})`}; ${stackMessages.length} stack log line(s)`,
  `machine load average ${machineLoad.loadAverageAtStart.join('/')} at start, ${machineLoad.loadAverageAtEnd.join('/')} at end${machineLoad.otherDynamoDbLocalAtStart.length + machineLoad.otherDynamoDbLocalAtEnd.length > 0 ? `; WARNING: another DynamoDB Local was running (pid ${[...new Set([...machineLoad.otherDynamoDbLocalAtStart, ...machineLoad.otherDynamoDbLocalAtEnd])].join(', ')}): figures are skewed` : ''}`,
  `total ${fmt(results.totalSeconds, 1)} s; results in bench/results.json`,
  errors.length === 0 ? 'errors: none' : `ERRORS (${errors.length}):\n${errors.map((error) => `  - ${error}`).join('\n')}`,
];
console.log(lines.join('\n'));
process.exitCode = errors.length === 0 ? 0 : 1;
