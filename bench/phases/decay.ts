/**
 * Decay without scans, measured: a table of `leads` leads of which `due` are due, on DynamoDB Local; the
 * decay job's items read, wall time and items read per due lead (goal <= 1.2), next to a full Scan.
 *
 * Part of `npm run bench` when BENCH_DECAY_LEADS is set (seeding 100,000 leads takes a while), or on its
 * own: `npm run bench:decay` (bench/decay.ts: its own DynamoDB Local; the figures go into bench/results.json
 * as `decay`).
 *
 * The leads are built with the real core (`applyEvents`, `dueAt`) and written as the store writes them,
 * PROFILE items only (their events and raw payloads would make the Scan read more still, the decay run
 * nothing more), 25 to a BatchWriteItem, 16 calls at a time:
 *   - `due` MQLs whose events are 115 to 125 days old: their total fell below recycleBelow before `now`;
 *   - 9 × `due` MQLs of the last 100 days: in the due index, not due yet;
 *   - the rest engaged (page views, e-mail opens, a download) or known by fit alone: not in the index.
 * Handoffs go to a queue that counts them (the CRM path is measured by the handoff phase of the bench).
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { NormalizedEvent } from '../../lib/core/index.ts';
import { applyEvents, dueAt } from '../../lib/core/index.ts';

import type { HandoffQueue } from '../../lib/ingest/pipeline.ts';
import type { DecaySummary } from '../../lib/jobs/decay.ts';
import { runDecay } from '../../lib/jobs/decay.ts';
import { createTable, dynamoClient } from '../../lib/local/dynamodb.ts';
import { defaultModel } from '../../lib/runtime/default-model.ts';
import { dueShardOf, leadPk, profileSk } from '../../lib/store/keys.ts';
import { LeadStore } from '../../lib/store/lead-store.ts';
import { countReads } from '../../test/setup/read-counter.ts';
import type { BenchContext } from '../context.ts';
import { batchWrite } from '../support/batch-write.ts';
import { envInt } from '../support/env.ts';
import { fmt, loadAverage, readJson, resultsPath } from '../support/report.ts';
import { pool, prng, round } from '../support/stats.ts';

const day = 24 * 60 * 60 * 1000;

export interface DecayBenchParams {
  leads: number;
  due: number;
  /** BatchWriteItem calls in flight while seeding. */
  seedConcurrency: number;
  seed: number;
  /** Whether to Scan the table for comparison (DynamoDB Local pages a Scan slowly: 100,000 leads took 11 minutes). */
  scan: boolean;
}

export interface DecayBenchResult {
  date: string;
  shape: string;
  parameters: DecayBenchParams;
  now: string;
  seeding: { items: number; seconds: number; itemsPerSecond: number; batchWrites: number };
  /** Leads with a due time (in the sparse index), and those due by `now`. */
  indexed: number;
  dueByNow: number;
  /** The run's own summary, with what the bench measured around it. */
  run: DecaySummary & {
    seconds: number;
    itemsRead: number;
    readRequests: number;
    itemsReadPerDueLead: number;
    leadsPerSecond: number;
  };
  secondRun: { seconds: number; itemsRead: number; due: number };
  scan: { seconds: number; itemsRead: number; requests: number; itemsPerDueLead: number } | null;
  /** The decay run's items read ÷ the Scan's. */
  readShareOfScan: number | null;
  /** Other work on the machine skews the times (not the items read). */
  machine: { cpus: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
}

type Kind = 'due' | 'later' | 'engaged' | 'fit';

const titles = ['CEO', 'VP Engineering', 'Chief Marketing Officer', 'Head of Sales', 'Software Engineer', 'Marketing Manager'];
const industries = ['Software', 'Financial Services', 'Retail', 'Information Technology', 'Manufacturing'];

function kindOf(index: number, params: DecayBenchParams): Kind {
  if (index < params.due) return 'due';
  if (index < params.due * 10) return 'later';
  return index % 5 === 0 ? 'fit' : 'engaged';
}

/** The lead item the store would hold after this lead's events, its handoff confirmed (outbox empty). */
export function leadItem(index: number, params: DecayBenchParams, now: Date): Record<string, unknown> {
  const random = prng(params.seed + index);
  const kind = kindOf(index, params);
  const leadId = `decay-${index}@company${index % 997}.com`;
  let serial = 0;
  const event = (type: string, at: number, properties: NormalizedEvent['properties'] = {}, profile?: NormalizedEvent['profile']): NormalizedEvent => ({
    leadKey: leadId,
    type,
    occurredAt: new Date(at).toISOString(),
    source: 'bench',
    sourceEventId: `${index}-${++serial}`,
    properties,
    ...(profile ? { profile } : {}),
  });
  const profile = {
    jobTitle: titles[index % titles.length]!,
    industry: industries[index % industries.length]!,
    company: `Company ${index % 997}`,
    companySize: 50 + (index % 900),
  };
  let start: number;
  let events: NormalizedEvent[];
  if (kind === 'due' || kind === 'later') {
    start = now.getTime() - (kind === 'due' ? 115 + random() * 10 : random() * 100) * day;
    // The seeds' worked example: C-level in a target industry (25), a case study (15), a webinar (20).
    events = [
      event('profile_updated', start, {}, { ...profile, jobTitle: 'CEO', industry: 'Software', companySize: 120 }),
      event('content_downloaded', start + 60_000, { contentType: 'case_study' }),
      event('webinar_attended', start + 120_000),
    ];
  } else if (kind === 'engaged') {
    start = now.getTime() - random() * 300 * day;
    events = [
      event('profile_updated', start, {}, profile),
      event('email_opened', start + 3_600_000),
      event('page_viewed', start + 7_200_000, { url: 'https://example.com/blog/decay' }),
      ...(random() < 0.3 ? [event('content_downloaded', start + 10_800_000, { contentType: 'guide' })] : []),
    ];
  } else {
    start = now.getTime() - random() * 300 * day;
    events = [event('profile_updated', start, {}, profile)];
  }
  const writtenAt = new Date(Date.parse(events.at(-1)!.occurredAt) + 1000);
  const { lead, score } = applyEvents(undefined, events, defaultModel, writtenAt);
  lead.outbox = {};
  const due = dueAt(lead, defaultModel, writtenAt);
  return {
    pk: leadPk(leadId),
    sk: profileSk,
    kind: 'lead',
    ...lead,
    version: 2,
    score: { fit: score.fit, behavior: score.behavior, total: score.total, at: writtenAt.toISOString() },
    ...(due ? { dueAt: due, dueShard: dueShardOf(leadId), recycleAt: due } : {}),
  };
}

/** Seeds a fresh table on `endpoint`, runs the decay job over it twice, then Scans it. */
export async function decayBench(endpoint: string, params: DecayBenchParams): Promise<DecayBenchResult> {
  const now = new Date('2026-11-01T06:00:00.000Z');
  const client = dynamoClient(endpoint);
  const tableName = `bench-decay-${params.seed}-${Date.now()}`;
  await createTable(client, tableName);
  const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });

  const nowIso = now.toISOString();
  const loadAverageAtStart = loadAverage();
  let indexed = 0;
  let dueByNow = 0;
  let batchWrites = 0;
  const seedStarted = performance.now();
  await pool(Math.ceil(params.leads / 25), params.seedConcurrency, async (batch) => {
    const items: Record<string, unknown>[] = [];
    for (let index = batch * 25; index < Math.min(params.leads, (batch + 1) * 25); index++) {
      const item = leadItem(index, params, now);
      if (item.dueAt !== undefined) {
        indexed += 1;
        if ((item.dueAt as string) <= nowIso) dueByNow += 1;
      }
      items.push(item);
    }
    // Awaited first: `batchWrites += await ...` would read the count before other calls add to it.
    const calls = await batchWrite(documents, tableName, items);
    batchWrites += calls;
  });
  const seedSeconds = (performance.now() - seedStarted) / 1000;

  // The run's own client, its reads counted; the handoffs counted, not sent.
  const runClient = DynamoDBDocumentClient.from(dynamoClient(endpoint), { marshallOptions: { removeUndefinedValues: true } });
  const reads = countReads(runClient);
  let handedOff = 0;
  const handoffQueue: HandoffQueue = {
    async send(records) {
      handedOff += records.length;
    },
  };
  const pipeline = { store: new LeadStore({ client: runClient, tableName }), handoffQueue, model: defaultModel };
  const runStarted = performance.now();
  const summary = await runDecay(pipeline, now);
  const runSeconds = (performance.now() - runStarted) / 1000;
  const run = { itemsRead: reads.items, requests: reads.requests };
  if (handedOff !== summary.handoffs) throw new Error(`the queue got ${handedOff} handoffs, the run reports ${summary.handoffs}`);

  reads.reset();
  const againStarted = performance.now();
  const again = await runDecay(pipeline, now);
  const secondRun = { seconds: round((performance.now() - againStarted) / 1000, 3), itemsRead: reads.items, due: again.due };

  let scanned = 0;
  let scanRequests = 0;
  let cursor: Record<string, unknown> | undefined;
  const scanStarted = performance.now();
  do {
    if (!params.scan) break;
    const page = await documents.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: cursor }));
    scanned += page.ScannedCount ?? 0;
    scanRequests += 1;
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  const scanSeconds = (performance.now() - scanStarted) / 1000;
  runClient.destroy();
  client.destroy();

  return {
    date: new Date().toISOString(),
    shape:
      'PROFILE items built with applyEvents and dueAt, BatchWriteItem 25 per call; the decay run (runDecay, concurrency 16) as of `now`, reads counted on its client; then a full Scan (all attributes)',
    parameters: params,
    now: nowIso,
    seeding: { items: params.leads, seconds: round(seedSeconds, 2), itemsPerSecond: round(params.leads / seedSeconds, 0), batchWrites },
    indexed,
    dueByNow,
    run: {
      seconds: round(runSeconds, 3),
      itemsRead: run.itemsRead,
      readRequests: run.requests,
      itemsReadPerDueLead: round(run.itemsRead / Math.max(1, dueByNow), 3),
      due: summary.due,
      processed: summary.processed,
      accountsDue: summary.accountsDue,
      changed: summary.changed,
      handoffs: summary.handoffs,
      failed: summary.failed,
      resumable: summary.resumable,
      leadsPerSecond: round(summary.processed / runSeconds, 1),
    },
    secondRun,
    scan: params.scan
      ? { seconds: round(scanSeconds, 3), itemsRead: scanned, requests: scanRequests, itemsPerDueLead: round(scanned / Math.max(1, dueByNow), 1) }
      : null,
    readShareOfScan: params.scan ? round(run.itemsRead / Math.max(1, scanned), 5) : null,
    machine: { cpus: cpus().length, loadAverageAtStart, loadAverageAtEnd: loadAverage() },
  };
}

/** Problems the figures show: a run that read more than it should, or did not do the work. */
export function decayErrors(result: DecayBenchResult): string[] {
  const errors: string[] = [];
  if (result.run.itemsReadPerDueLead > 1.2) errors.push(`decay: ${result.run.itemsReadPerDueLead} items read per due lead (goal <= 1.2)`);
  if (result.run.processed !== result.dueByNow) errors.push(`decay: re-evaluated ${result.run.processed} of ${result.dueByNow} due leads`);
  if ((result.run.changed.recycled ?? 0) !== result.dueByNow) errors.push(`decay: recycled ${result.run.changed.recycled ?? 0} of ${result.dueByNow} due MQLs`);
  if (result.secondRun.itemsRead !== 0) errors.push(`decay: a second run read ${result.secondRun.itemsRead} items (nothing is due any more)`);
  return errors;
}

/** The bench's printout of the phase. */
export function decayLines(result: DecayBenchResult): string[] {
  const { run, scan, seeding } = result;
  return [
    `9. decay without scans: ${result.parameters.leads} leads, ${result.indexed} in the due index, ${result.dueByNow} due (DynamoDB Local)`,
    `  decay run     ${run.itemsRead} items read in ${run.readRequests} requests, ${fmt(run.seconds, 2)} s (${fmt(run.leadsPerSecond)} leads/s); items read ÷ leads due ${fmt(run.itemsReadPerDueLead, 3)} (goal <= 1.2); now ${
      Object.entries(run.changed)
        .map(([status, count]) => `${count} ${status}`)
        .join(', ') || 'none'
    }; ${run.handoffs} handoffs; ${run.resumable ? 'stopped early' : 'complete'}`,
    `  second run    ${result.secondRun.itemsRead} items read, ${result.secondRun.due} due, ${fmt(result.secondRun.seconds, 3)} s`,
    scan
      ? `  full Scan     ${scan.itemsRead} items read in ${scan.requests} requests, ${fmt(scan.seconds, 2)} s: ${fmt(scan.itemsRead / Math.max(1, run.itemsRead), 0)}× the decay run's reads`
      : `  full Scan     skipped (BENCH_DECAY_SCAN=0); it reads every item: ${result.parameters.leads} here`,
    `  seeded        ${seeding.items} lead items in ${fmt(seeding.seconds, 1)} s (${fmt(seeding.itemsPerSecond, 0)}/s, ${seeding.batchWrites} BatchWriteItem calls, ${result.parameters.seedConcurrency} at a time)`,
    `  load average  ${result.machine.loadAverageAtStart.join('/')} at start, ${result.machine.loadAverageAtEnd.join('/')} at end on ${result.machine.cpus} cores (times are skewed by other work; items read are not)`,
  ];
}

export function decayParams(env: NodeJS.ProcessEnv, fallbackLeads: number): DecayBenchParams {
  const int = (name: string, fallback: number) => envInt(name, fallback, env);
  const leads = int('BENCH_DECAY_LEADS', fallbackLeads);
  const params = {
    leads,
    due: int('BENCH_DECAY_DUE', Math.max(1, Math.round(leads / 100))),
    seedConcurrency: int('BENCH_DECAY_SEED_CONCURRENCY', 16),
    seed: int('BENCH_SEED', 20240514),
    scan: env.BENCH_DECAY_SCAN !== '0',
  };
  if (params.due * 10 > params.leads) throw new Error('BENCH_DECAY_DUE may be at most a tenth of BENCH_DECAY_LEADS');
  return params;
}

/** A last resort of the phase: about 10 ms per lead seeded and scanned, plus two minutes. */
export const decayTimeoutSeconds = (params: DecayBenchParams): number => 120 + params.leads / 100;

/**
 * The phase in `npm run bench`: on the bench's DynamoDB Local when BENCH_DECAY_LEADS is set, outside the
 * time budget (its own watchdog); otherwise, or when it fails, the `decay` figures of the previous
 * bench/results.json are kept.
 */
export async function decayInRun(ctx: BenchContext, env: NodeJS.ProcessEnv = process.env): Promise<{ decay: unknown; lines: string[] }> {
  const previous = readJson(resultsPath)?.decay;
  if ((env.BENCH_DECAY_LEADS ?? '') === '') return { decay: previous, lines: [] };
  try {
    const params = decayParams(env, 100_000);
    ctx.watchdog.arm(decayTimeoutSeconds(params), 'the decay phase is still running');
    const result = await decayBench(ctx.stack.dynamoEndpoint, params);
    ctx.errors.push(...decayErrors(result));
    return { decay: result, lines: decayLines(result) };
  } catch (error) {
    ctx.errors.push(`decay: ${(error as Error).message}`);
    return { decay: previous, lines: [] };
  }
}
