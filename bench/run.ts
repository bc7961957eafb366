/**
 * `npm run bench`: one bounded run on the embedded local stack, its phases (bench/phases/) in this order,
 * each printed as it ends, then a summary and bench/results.json:
 *
 *   1. the stack (DynamoDB Local in memory, fauxqs, the local API Gateway and the real handlers, all in
 *      this process but Java), and a CRM receiver (127.0.0.1) for CRM_ADAPTER=webhook
 *   2. warm-up through HTTP, which also stores the items the ceiling copies
 *   3. the raw ceiling: TransactWriteItems/s of a single-event delivery's shape on the same DynamoDB Local
 *   4. events/s through POST /webhooks/events, one signed Segment `track` per delivery; ratios to 3
 *   5. write capacity units and optimistic-lock conflicts per event of 4
 *   6. SendGrid Event Webhook batches (1,000 events over hundreds of fresh leads, one signed POST
 *      /webhooks/sendgrid): time to accept one, events/s, and a batch delivered again
 *   6b. Segment's tracking API: POST /v1/batch as @segment/analytics-node sends it (flushAt 100, 30 fresh
 *      leads a batch), one batch at a time: events/s and its ratio to 3 (issue 13's goal: at least 2)
 *   6c. the cost of stitching: a visitor with 50 anonymous page views identifies; the items its request reads and writes
 *   7. handoff latency: the qualifying request's start to the CRM's lead.mql
 *   8. verification: exactly one lead.mql per qualified lead
 *   8b. cost: dollars per million events, single and batched, from what the handlers used (phases/cost.ts)
 *   9. with BENCH_DECAY_LEADS set: decay without scans over that many leads, 1% due (on its own:
 *      `npm run bench:decay`); a run without it keeps the previous `decay` figures of bench/results.json
 *  10. with BENCH_JOBS_LEADS set: operator jobs (backtest, rescore) over that many leads at 1, 2 and 4
 *      Scan segments, and the old way (on its own: `npm run bench:jobs`); a run without it keeps the
 *      previous `jobs` figures
 *  11. a clean stop (no Java left)
 *  12. cold start: each Lambda bundle as `npm run synth` builds it, size and module-init time over an empty
 *      handler (on its own: `npm run bench:bundles`); BENCH_BUNDLES=0 keeps the previous `bundles` figures
 *  13. accounts: the roll-up's write units per event over companies of 1-50 people, and event -> account.mqa at
 *      the CRM, on a stack of its own (on its own: `npm run bench:accounts`; phases/accounts.ts)
 *
 * Parameters can be changed through BENCH_* variables (context.ts, `benchParams`). Exit code 1 on any
 * error (a lost, duplicated or unexpected handoff, a failed delivery, Java left behind, the time budget).
 */
import './support/log-level.ts';
import { performance } from 'node:perf_hooks';
import { defaultJavaToolOptions } from '../lib/local/dynamodb.ts';
import { beginRun, benchParams, benchSecrets } from './context.ts';
import { accountsBench } from './phases/accounts.ts';
import { bundlesInRun } from './phases/bundles.ts';
import { capacityLines, capacityPerEvent } from './phases/capacity.ts';
import { ceilingCpuLine, ceilingLines, ceilingRows, rawCeiling } from './phases/ceiling.ts';
import { costLines, costPerMillionEvents, meterMark } from './phases/cost.ts';
import { decayInRun } from './phases/decay.ts';
import { eventsThroughHttp, ingestLines, ingestRow } from './phases/events.ts';
import { handoffLatency, handoffLines, handoffRows } from './phases/handoff-latency.ts';
import { jobsInRun } from './phases/jobs-scale.ts';
import { sendgridBatches, sendgridLines, sendgridRows } from './phases/sendgrid.ts';
import { stackLines, startStack, stopLines, stopStack } from './phases/stack.ts';
import { stitchingCost, stitchingLines } from './phases/stitching.ts';
import { trackingBatches, trackingLines, trackingRows } from './phases/tracking.ts';
import { verificationLines, verifyExactlyOnce } from './phases/verification.ts';
import { warmUp, warmupLines } from './phases/warmup.ts';
import { javaVersion, machineFacts } from './support/processes.ts';
import { cores, errorLines, fmt, readJson, resultsPath, tableHead, writeJson } from './support/report.ts';
import { round } from './support/stats.ts';

const print = (lines: readonly string[]) => console.log(lines.join('\n'));

const run = beginRun(benchParams());
const { params } = run;
const javaToolOptions = process.env.JAVA_TOOL_OPTIONS ?? `${defaultJavaToolOptions} (lib/local/dynamodb.ts default)`;
const machine = machineFacts();
const java = javaVersion();
print([
  `mql-engine bench ${new Date().toISOString()}  node ${process.version}  ${machine.cpus} × ${machine.cpuModel}  ${java}`,
  `parameters: ${params.events} events (+${params.warmupEvents} warm-up) over ${params.leads} leads at concurrency ${params.concurrency}; ceiling ${params.ceilingTransactions} txns (+${params.ceilingWarmup} warm-up, +${params.ceilingSerialTransactions} one at a time); handoff ${params.handoffLeads} leads one at a time + ${params.handoffLeads} at ${params.handoffBurstConcurrency}; seed ${params.seed}`,
]);

const { ctx, figures: stack } = await startStack(run);
print(stackLines(stack, javaToolOptions));

const warmup = await warmUp(ctx);
print(warmupLines(ctx, warmup));

const { ceiling, probe } = await rawCeiling(ctx);
print(['', tableHead, ...ceilingLines(ceiling, params.concurrency)]);

const { ingest, trace } = await eventsThroughHttp(ctx, ceiling);
print(['', tableHead, ...ingestLines(ingest)]);

const capacity = capacityPerEvent(ctx, ingest.stored, trace, probe);
print(['', ...capacityLines(capacity, ingest, ceiling)]);

const sendgrid = await sendgridBatches(ctx, ceiling);
print(['', tableHead, ...sendgridLines(sendgrid, ceiling)]);

const tracking = await trackingBatches(ctx, ceiling, benchSecrets.trackingWriteKey);
print(['', tableHead, ...trackingLines(tracking, ceiling)]);

const stitching = await stitchingCost(ctx, benchSecrets.trackingWriteKey);
print(stitchingLines(stitching));

const handoffMark = meterMark(ctx);
const handoff = await handoffLatency(ctx);
print(['', tableHead, ...handoffLines(handoff)]);

const verification = await verifyExactlyOnce(ctx);
print(['', ...verificationLines(verification)]);

const cost = await costPerMillionEvents(ctx, handoffMark, verification.receivedLeadMql, capacity.estimatedWcuPerEvent);
print(['', ...costLines(cost)]);
if (ctx.overBudget()) ctx.errors.push(`the run exceeded its ${params.timeBudgetSeconds} s budget: some phases were cut short`);

const decay = await decayInRun(ctx);
if (decay.lines.length > 0) print(['', ...decay.lines]);

const jobs = await jobsInRun(ctx);
if (jobs.lines.length > 0) print(['', ...jobs.lines]);

const shutdown = await stopStack(ctx, stack.machineLoad);

const bundles = await bundlesInRun(ctx);
if (bundles.lines.length > 0) print(['', ...bundles.lines]);

// The account roll-up, on a stack of its own (phases/accounts.ts): write units per event, event -> account.mqa.
const accounts = await accountsBench();
if (accounts.lines.length > 0) print(['', ...accounts.lines]);
ctx.errors.push(...accounts.errors);

const results = {
  date: new Date().toISOString(),
  node: process.version,
  java,
  javaToolOptions,
  machine,
  machineLoad: stack.machineLoad,
  parameters: params,
  startupSeconds: round(stack.startupSeconds, 2),
  warmup,
  ceiling,
  ingest,
  capacity,
  sendgrid,
  tracking,
  stitching,
  handoff,
  verification,
  cost,
  decay: decay.decay ?? null,
  bundles: bundles.bundles,
  accounts: accounts.figures ?? null,
  jobs: jobs.jobs ?? null,
  shutdown,
  stackMessages: { count: stack.stackMessages.length, first: stack.stackMessages.slice(0, 5) },
  errors: ctx.errors,
  totalSeconds: round((performance.now() - run.startedAt) / 1000, 1),
};
// Merged: figures other commands keep in the same file (their own keys) stay.
writeJson(resultsPath, { ...readJson(resultsPath), ...results });

print([
  '',
  `summary (${results.date})`,
  tableHead,
  ...ceilingRows(ceiling),
  ingestRow(ingest),
  ...sendgridRows(sendgrid),
  ...trackingRows(tracking),
  ...handoffRows(handoff),
  '',
  'ratios',
  `  events/s ÷ raw TransactWriteItems/s            ${fmt(ingest.ratioToRawTransactions, 3)}`,
  `  events/s ÷ raw GetItem+TransactWriteItems/s    ${fmt(ingest.ratioToGetPlusTransact, 3)}`,
  `  SendGrid batch events/s ÷ raw TransactWriteItems/s  ${fmt(sendgrid.ratioToRawTransactions, 3)}`,
  `  /v1/batch (analytics-node) events/s ÷ raw TransactWriteItems/s  ${fmt(tracking.ratioToRawTransactions, 3)} (goal 2)`,
  `  stitching a visitor with ${stitching.anonymousEvents} anonymous events: ${stitching.itemsRead} items read, ${stitching.itemsWritten} written, ${fmt(stitching.estimatedWcu, 1)} WCU`,
  `  WCU per event ${fmt(capacity.wcuPerEvent, 2)} (${capacity.source}), ${fmt(capacity.estimatedWcuPerEvent, 2)} by the published rule`,
  `  $ per million single events ÷ goal ${fmt(cost.single.ratioToGoal, 2)} ($${fmt(cost.single.withHandoffs.perMillion, 2)} ÷ $${cost.single.goal}); batched ${fmt(cost.batched.ratioToGoal, 2)} ($${fmt(cost.batched.withHandoffs.perMillion, 2)} ÷ $${cost.batched.goal})`,
  '',
  `cpu (${machine.cpus} cores shared by node and java)`,
  ceilingCpuLine(ceiling, params.concurrency),
  `  ingest    ${cores(ingest.cpu)}`,
  `  sendgrid  ${cores(sendgrid.cpu)}`,
  `  tracking  ${cores(tracking.cpu)}`,
  '',
  ...verificationLines(verification),
  ...stopLines(shutdown, stack),
  `total ${fmt(results.totalSeconds, 1)} s; results in bench/results.json`,
  errorLines(ctx.errors),
]);
process.exitCode = ctx.errors.length === 0 ? 0 : 1;
