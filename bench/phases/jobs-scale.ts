/**
 * Operator jobs at scale, measured: a table of `leads` leads with realistic histories (phases/jobs-seed.ts:
 * a few deliveries of events each, their raw payloads while kept, handoffs and their ledger), then for 1, 2
 * and 4 parallel Scan segments the backtest walk (`runBacktest`: one pass, lib/store/lead-histories.ts) and a
 * rescore (`runRescore`), each on a client metered per command (support/dynamo-meter.ts): items read per
 * lead (a Scan's ScannedCount, a Query's, a GetItem's item), requests and read units per lead, leads/s,
 * seconds. Next to them the old way, reproduced here only: a Scan for lead ids and then a Query of each
 * lead's events (backtest before commit 8ddb0df), or a consistent GetItem and Query of each lead (rescore
 * before one-pass rescore).
 *
 * The rescores take turns between the default model and one that recycles MQLs below 39 instead of 40:
 * each run moves the recycle time of the same MQLs (and changes no status), so every run rewrites the same
 * leads and does the same work.
 *
 * `npm run bench:jobs` (bench/jobs.ts: its own DynamoDB Local; the figures go into bench/results.json as
 * `jobs`), or part of `npm run bench` when BENCH_JOBS_LEADS is set.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ScoringModel } from '../../lib/core/index.ts';
import { modelContent, parseModel } from '../../lib/core/model.ts';
import type { BacktestReport } from '../../lib/core/replay.ts';
import type { HandoffQueue, Pipeline } from '../../lib/ingest/pipeline.ts';
import { runBacktest } from '../../lib/jobs/backtest.ts';
import { runRescore } from '../../lib/jobs/rescore.ts';
import { createTable, dynamoClient } from '../../lib/local/dynamodb.ts';
import { defaultModel } from '../../lib/runtime/default-model.ts';
import { installedEmailDomainLists } from '../../lib/runtime/email-domain-lists.ts';
import { LeadStore } from '../../lib/store/lead-store.ts';
import type { BenchContext } from '../context.ts';
import type { CommandMeter } from '../support/dynamo-meter.ts';
import { DynamoMeter } from '../support/dynamo-meter.ts';
import { envInt } from '../support/env.ts';
import { fmt, loadAverage, readJson, resultsPath } from '../support/report.ts';
import { round } from '../support/stats.ts';
import { oldBacktest, oldRescore } from './jobs-old-way.ts';
import { type SeededTable, seedJobsTable } from './jobs-seed.ts';

export interface JobsBenchParams {
  leads: number;
  /** Segment counts measured, in this order. */
  segments: number[];
  /** Segments of the old way's Scan; 0 skips the old way. */
  oldSegments: number;
  seedConcurrency: number;
  seed: number;
}

/** One run of a job: what it read, how fast. */
export interface JobRun {
  way: 'one pass' | 'old';
  segments: number;
  leads: number;
  seconds: number;
  leadsPerSecond: number;
  reads: CommandMeter;
  writes: CommandMeter;
  /** Reads by command (Scan, Query, GetItem, ...). */
  commands: Record<string, CommandMeter>;
  itemsReadPerLead: number;
  readRequestsPerLead: number;
  /** Read capacity units per lead, as DynamoDB Local reports them (AWS's rule: 0.5 per 4 KB read eventually, 1 consistently). */
  rcuPerLead: number;
  /** The machine's 1-minute load average as the run started (2 cores shared with other work skew its time). */
  loadAtStart: number;
}

export interface RescoreRun extends JobRun {
  model: string;
  changed: number;
  unchanged: number;
  handoffs: number;
  conflicts: number;
}

export interface JobsBenchResult {
  date: string;
  shape: string;
  parameters: JobsBenchParams;
  now: string;
  table: Omit<SeededTable, 'seconds' | 'itemsPerSecond' | 'batchWrites' | 'ledgerSeconds'> & { itemsPerLead: number };
  seeding: { seconds: number; itemsPerSecond: number; batchWrites: number; ledgerSeconds: number };
  backtest: { mqls: { current: number; candidate: number }; runs: JobRun[]; old: JobRun | null };
  rescore: { runs: RescoreRun[]; old: RescoreRun | null };
  ratios: {
    /** Leads/s at N segments ÷ at the first count measured (1). */
    backtestSpeedup: Record<string, number>;
    rescoreSpeedup: Record<string, number>;
    /** One pass ÷ old, at the old way's segment count. */
    backtestItemsReadPerLead: number | null;
    rescoreItemsReadPerLead: number | null;
    backtestRcuPerLead: number | null;
    rescoreRcuPerLead: number | null;
  };
  machine: { cpus: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
}

const defaultInput = modelContent(defaultModel);
/** The backtest's candidate: MQL at 50. */
const lowerThreshold = parseModel({ ...defaultInput, thresholds: { ...defaultModel.thresholds, mql: 50 } }, installedEmailDomainLists);
/** MQLs recycled below 39 (the default: 40): an MQL's recycle time moves, never its status (no MQL is below 40 after the seeding's decay run). */
const recycleBelow39 = parseModel({ ...defaultInput, thresholds: { ...defaultModel.thresholds, recycleBelow: 39 } }, installedEmailDomainLists);

function jobRun(way: JobRun['way'], segments: number, leads: number, seconds: number, meter: DynamoMeter, loadAtStart: number): JobRun {
  const reads = meter.reads();
  const commands = meter.commands();
  return {
    way,
    segments,
    leads,
    seconds: round(seconds, 2),
    leadsPerSecond: round(leads / seconds, 1),
    reads,
    writes: meter.writes(),
    commands,
    itemsReadPerLead: round(reads.itemsRead / Math.max(1, leads), 3),
    readRequestsPerLead: round(reads.requests / Math.max(1, leads), 4),
    rcuPerLead: round(reads.capacityUnits / Math.max(1, leads), 3),
    loadAtStart,
  };
}

/** What two backtests must agree on: the counts (the sample lists follow the Scan's order). */
const backtestCounts = (report: BacktestReport) => ({
  leads: report.leads,
  leadsWithOutcomes: report.leadsWithOutcomes,
  current: report.current.mqls,
  candidate: report.candidate.mqls,
  newly: report.newlyQualifying.count,
  noLonger: report.noLongerQualifying.count,
});

/** Seeds a fresh table on `endpoint`, then measures backtest and rescore at each segment count, and the old way. */
export async function jobsBench(endpoint: string, params: JobsBenchParams, log: (line: string) => void = () => {}): Promise<JobsBenchResult> {
  const now = new Date(Math.floor(Date.now() / 60_000) * 60_000);
  const loadAverageAtStart = loadAverage();
  const client = dynamoClient(endpoint);
  const tableName = `bench-jobs-${params.seed}-${Date.now()}`;
  await createTable(client, tableName);
  const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const seeded = await seedJobsTable(documents, new LeadStore({ client: documents, tableName }), tableName, {
    leads: params.leads,
    seed: params.seed,
    concurrency: params.seedConcurrency,
    model: defaultModel,
    now,
    log,
  });
  log(`  seeded ${seeded.items} items (${seeded.leads} leads, ${seeded.handoffs} handoffs) in ${fmt(seeded.seconds + seeded.ledgerSeconds, 1)} s`);

  // The jobs' own client, metered. No handoff is expected (the models change no status): a run's own count says if one was queued.
  const runClient = dynamoClient(endpoint);
  const meter = new DynamoMeter(runClient);
  const store = new LeadStore({ client: DynamoDBDocumentClient.from(runClient, { marshallOptions: { removeUndefinedValues: true } }), tableName });
  const handoffQueue: HandoffQueue = { async send() {} };
  const pipeline: Pipeline & { store: LeadStore } = { store, model: defaultModel, handoffQueue };

  // A line a minute while a walk runs: the 1-segment walks of 100,000 leads take long on DynamoDB Local.
  const every = (label: string) => {
    const started = performance.now();
    let last = started;
    return (leads: number, scanned: number) => {
      const at = performance.now();
      if (at - last < 60_000) return;
      last = at;
      log(`    ${label}: ${leads} leads, ${scanned} items read, ${fmt((at - started) / 1000, 0)} s`);
    };
  };

  const backtests: JobRun[] = [];
  let reference: BacktestReport | undefined;
  const backtestMismatches: string[] = [];
  for (const segments of params.segments) {
    meter.reset();
    const load = loadAverage()[0]!;
    const started = performance.now();
    const tick = every(`backtest, ${segments} segment(s)`);
    const onProgress = ({ leads, scanned }: { leads: number; scanned: number }) => tick(leads, scanned);
    const report = await runBacktest(store, { current: defaultModel, candidate: lowerThreshold, now, segments, onProgress });
    backtests.push(jobRun('one pass', segments, report.leads, (performance.now() - started) / 1000, meter, load));
    reference ??= report;
    if (JSON.stringify(backtestCounts(report)) !== JSON.stringify(backtestCounts(reference)))
      backtestMismatches.push(`${segments} segments: ${JSON.stringify(backtestCounts(report))}`);
    log(`  backtest, ${segments} segment(s): ${fmt(backtests.at(-1)!.seconds, 1)} s`);
  }

  // recycleBelow39 and the default by turns: each run moves the same MQLs' recycle times.
  let turn = 0;
  const nextModel = (): ScoringModel => (turn++ % 2 === 0 ? recycleBelow39 : defaultModel);
  const rescores: RescoreRun[] = [];
  for (const segments of params.segments) {
    const model = nextModel();
    meter.reset();
    const load = loadAverage()[0]!;
    const conflicts = store.stats.conflicts;
    const tick = every(`rescore, ${segments} segment(s)`);
    const result = await runRescore(pipeline, { model, now, segments, onProgress: ({ read, scanned }) => tick(read, scanned) });
    rescores.push({
      ...jobRun('one pass', segments, result.read, result.seconds, meter, load),
      model: model.version,
      changed: result.changed,
      unchanged: result.unchanged,
      handoffs: result.handoffs,
      conflicts: store.stats.conflicts - conflicts,
    });
    log(`  rescore, ${segments} segment(s): ${fmt(result.seconds, 1)} s`);
  }

  let backtestOld: JobRun | null = null;
  let rescoreOld: RescoreRun | null = null;
  if (params.oldSegments > 0) {
    meter.reset();
    let load = loadAverage()[0]!;
    const started = performance.now();
    const report = await oldBacktest(store, { current: defaultModel, candidate: lowerThreshold, now, segments: params.oldSegments });
    backtestOld = jobRun('old', params.oldSegments, report.leads, (performance.now() - started) / 1000, meter, load);
    if (reference && JSON.stringify(backtestCounts(report)) !== JSON.stringify(backtestCounts(reference)))
      backtestMismatches.push(`the old way: ${JSON.stringify(backtestCounts(report))}`);
    log(`  backtest, the old way: ${fmt(backtestOld.seconds, 1)} s`);

    const model = nextModel();
    meter.reset();
    load = loadAverage()[0]!;
    const conflicts = store.stats.conflicts;
    const result = await oldRescore(pipeline, { model, now, segments: params.oldSegments });
    rescoreOld = {
      ...jobRun('old', params.oldSegments, result.read, result.seconds, meter, load),
      model: model.version,
      changed: result.changed,
      unchanged: result.unchanged,
      handoffs: result.handoffs,
      conflicts: store.stats.conflicts - conflicts,
    };
    log(`  rescore, the old way: ${fmt(result.seconds, 1)} s`);
  }
  runClient.destroy();
  client.destroy();
  if (backtestMismatches.length > 0)
    throw new Error(`the backtests disagree with the first one (${JSON.stringify(backtestCounts(reference!))}): ${backtestMismatches.join('; ')}`);

  const speedup = (runs: JobRun[]) => Object.fromEntries(runs.map((run) => [String(run.segments), round(run.leadsPerSecond / runs[0]!.leadsPerSecond, 2)]));
  const sameSegments = (runs: JobRun[], old: JobRun | null) => (old ? runs.find((run) => run.segments === old.segments) : undefined);
  const share = (runs: JobRun[], old: JobRun | null, figure: 'itemsReadPerLead' | 'rcuPerLead') => {
    const run = sameSegments(runs, old) ?? runs[0];
    return old && run ? round(run[figure] / old[figure], 3) : null;
  };
  const { seconds, itemsPerSecond, batchWrites, ledgerSeconds, ...table } = seeded;
  return {
    date: new Date().toISOString(),
    shape:
      'leads built with the core and the store (applyEvents, toStored, transactionItems), BatchWriteItem 25 per call, handoffs through recordHandoffAttempt, one decay run at now; then per segment count a backtest (runBacktest) and a rescore (runRescore, recycleBelow 39 and the default by turns), reads metered per command on their client; then the old way at oldSegments',
    parameters: params,
    now: now.toISOString(),
    table: { ...table, itemsPerLead: round(table.items / table.leads, 3) },
    seeding: { seconds: round(seconds, 1), itemsPerSecond: round(itemsPerSecond, 0), batchWrites, ledgerSeconds: round(ledgerSeconds, 1) },
    backtest: { mqls: { current: reference?.current.mqls ?? 0, candidate: reference?.candidate.mqls ?? 0 }, runs: backtests, old: backtestOld },
    rescore: { runs: rescores, old: rescoreOld },
    ratios: {
      backtestSpeedup: speedup(backtests),
      rescoreSpeedup: speedup(rescores),
      backtestItemsReadPerLead: share(backtests, backtestOld, 'itemsReadPerLead'),
      rescoreItemsReadPerLead: share(rescores, rescoreOld, 'itemsReadPerLead'),
      backtestRcuPerLead: share(backtests, backtestOld, 'rcuPerLead'),
      rescoreRcuPerLead: share(rescores, rescoreOld, 'rcuPerLead'),
    },
    machine: { cpus: cpus().length, loadAverageAtStart, loadAverageAtEnd: loadAverage() },
  };
}

/** Problems the figures show: a walk that read more than the table, or a rescore that did other work than the others. */
export function jobsErrors(result: JobsBenchResult): string[] {
  const errors: string[] = [];
  const { table } = result;
  for (const run of [...result.backtest.runs, ...result.rescore.runs]) {
    if (run.leads !== table.leads) errors.push(`jobs: a ${run.way} run at ${run.segments} segment(s) covered ${run.leads} of ${table.leads} leads`);
  }
  for (const run of result.backtest.runs) {
    if (run.reads.itemsRead !== table.items)
      errors.push(`jobs: the one-pass backtest at ${run.segments} segment(s) read ${run.reads.itemsRead} items; the table holds ${table.items}`);
  }
  const rescores = [...result.rescore.runs, ...(result.rescore.old ? [result.rescore.old] : [])];
  for (const run of rescores) {
    if (run.changed !== rescores[0]!.changed || run.changed === 0)
      errors.push(
        `jobs: the ${run.way} rescore at ${run.segments} segment(s) rewrote ${run.changed} leads; each run should rewrite the same MQLs (${rescores[0]!.changed} in the first)`,
      );
    if (run.handoffs !== 0)
      errors.push(`jobs: the ${run.way} rescore at ${run.segments} segment(s) handed off ${run.handoffs} leads; the bench's models change no status`);
  }
  for (const run of result.rescore.runs) {
    // One pass: the table once, plus a consistent re-read of a lead only where a write conflicted.
    if (run.reads.itemsRead > table.items + run.conflicts * 20)
      errors.push(`jobs: the one-pass rescore at ${run.segments} segment(s) read ${run.reads.itemsRead} items; the table holds ${table.items}`);
  }
  return errors;
}

const row = (job: string, run: JobRun) =>
  `  ${job.padEnd(9)}${run.way.padEnd(10)}${String(run.segments).padStart(8)}${fmt(run.seconds, 1).padStart(9)}${fmt(run.leadsPerSecond, 0).padStart(9)}${fmt(run.itemsReadPerLead, 2).padStart(12)}${fmt(run.readRequestsPerLead, 4).padStart(11)}${fmt(run.rcuPerLead, 2).padStart(10)}${fmt(run.loadAtStart, 1).padStart(7)}`;

/** The bench's printout of the phase. */
export function jobsLines(result: JobsBenchResult): string[] {
  const { table, ratios } = result;
  const perLead = (kind: string) => fmt((table.itemsByKind[kind] ?? 0) / table.leads, 2);
  const chain = (speedup: Record<string, number>) =>
    Object.entries(speedup)
      .map(([segments, ratio]) => `${segments}: ${fmt(ratio, 2)}×`)
      .join(' → ');
  const lines = [
    `10. operator jobs at scale: ${table.leads} leads, ${table.items} items (${fmt(table.itemsPerLead, 2)} a lead: ${perLead('event')} events, ${perLead('raw')} raw, ${perLead('lead')} profile, ${perLead('handoff')} handoff + ${perLead('handoff-attempt')} attempt, ${perLead('crm-link')} CRM link) on DynamoDB Local`,
    `  ${'job'.padEnd(9)}${'way'.padEnd(10)}${'segments'.padStart(8)}${'seconds'.padStart(9)}${'leads/s'.padStart(9)}${'items/lead'.padStart(12)}${'reqs/lead'.padStart(11)}${'RCU/lead'.padStart(10)}${'load'.padStart(7)}`,
    ...result.backtest.runs.map((run) => row('backtest', run)),
    ...(result.backtest.old ? [row('backtest', result.backtest.old)] : []),
    ...result.rescore.runs.map((run) => row('rescore', run)),
    ...(result.rescore.old ? [row('rescore', result.rescore.old)] : []),
    `  speed-up by segments (leads/s ÷ at ${result.parameters.segments[0]}): backtest ${chain(ratios.backtestSpeedup)}; rescore ${chain(ratios.rescoreSpeedup)}`,
  ];
  if (ratios.backtestItemsReadPerLead !== null && ratios.rescoreItemsReadPerLead !== null) {
    lines.push(
      `  one pass ÷ old way (${result.parameters.oldSegments} segments): items read per lead backtest ${fmt(ratios.backtestItemsReadPerLead, 2)}, rescore ${fmt(ratios.rescoreItemsReadPerLead, 2)}; RCU per lead backtest ${fmt(ratios.backtestRcuPerLead ?? Number.NaN, 2)}, rescore ${fmt(ratios.rescoreRcuPerLead ?? Number.NaN, 2)}`,
    );
  }
  lines.push(
    `  each rescore rewrote ${[...result.rescore.runs, ...(result.rescore.old ? [result.rescore.old] : [])].map((run) => run.changed).join('/')} of the ${table.mqlsNow} MQLs (recycle time moved; recycleBelow 39 and 40 by turns), ${result.rescore.runs.map((run) => run.conflicts).join('/')} conflicts; backtest MQLs ${result.backtest.mqls.current} -> ${result.backtest.mqls.candidate} (MQL at 50)`,
    `  seeded        ${table.items} items in ${fmt(result.seeding.seconds, 1)} s (${result.seeding.itemsPerSecond}/s, ${result.seeding.batchWrites} BatchWriteItem calls), ${table.handoffs} handoffs recorded in ${fmt(result.seeding.ledgerSeconds, 1)} s; ${table.rawExpired} raw items past their TTL left out`,
    `  load average  ${result.machine.loadAverageAtStart.join('/')} at start, ${result.machine.loadAverageAtEnd.join('/')} at end on ${result.machine.cpus} cores (times are skewed by other work; items read are not)`,
  );
  return lines;
}

export function jobsParams(env: NodeJS.ProcessEnv, fallbackLeads: number): JobsBenchParams {
  const int = (name: string, fallback: number) => envInt(name, fallback, env);
  const old = env.BENCH_JOBS_OLD_SEGMENTS;
  return {
    leads: int('BENCH_JOBS_LEADS', fallbackLeads),
    // BENCH_JOBS_SEGMENTS (e.g. "4"): fewer walks, for a table where each takes long on DynamoDB Local.
    segments: segmentCounts(env.BENCH_JOBS_SEGMENTS),
    // 0 skips the old way (envInt takes positive numbers only).
    oldSegments: old === '0' ? 0 : int('BENCH_JOBS_OLD_SEGMENTS', 4),
    seedConcurrency: int('BENCH_JOBS_SEED_CONCURRENCY', 16),
    seed: int('BENCH_SEED', 20240514),
  };
}

/** The segment counts measured: `BENCH_JOBS_SEGMENTS`, comma-separated positive integers, else 1, 2 and 4. */
export function segmentCounts(value: string | undefined): number[] {
  if (!value) return [1, 2, 4];
  const counts = value.split(',').map((part) => Number(part.trim()));
  if (counts.length === 0 || counts.some((count) => !Number.isInteger(count) || count < 1))
    throw new Error(`BENCH_JOBS_SEGMENTS must be positive integers separated by commas, got ${JSON.stringify(value)}`);
  return counts;
}

/** A last resort of the phase: DynamoDB Local's Scan slows with about the table's size squared (docs/benchmarks.md). */
export const jobsTimeoutSeconds = (params: JobsBenchParams): number => 600 + 150 * (params.leads / 10_000) ** 2;

/**
 * The phase in `npm run bench`: on the bench's DynamoDB Local when BENCH_JOBS_LEADS is set, outside the
 * time budget (its own watchdog); otherwise, or when it fails, the `jobs` figures of the previous
 * bench/results.json are kept.
 */
export async function jobsInRun(ctx: BenchContext, env: NodeJS.ProcessEnv = process.env): Promise<{ jobs: unknown; lines: string[] }> {
  const previous = readJson(resultsPath)?.jobs;
  if ((env.BENCH_JOBS_LEADS ?? '') === '') return { jobs: previous, lines: [] };
  try {
    const params = jobsParams(env, 100_000);
    ctx.watchdog.arm(jobsTimeoutSeconds(params), 'the operator-jobs phase is still running');
    const result = await jobsBench(ctx.stack.dynamoEndpoint, params);
    ctx.errors.push(...jobsErrors(result));
    return { jobs: result, lines: jobsLines(result) };
  } catch (error) {
    ctx.errors.push(`jobs: ${(error as Error).message}`);
    return { jobs: previous, lines: [] };
  }
}
