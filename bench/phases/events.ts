/**
 * Events/s through POST /webhooks/events: one signed Segment `track` per delivery, `concurrency` in
 * flight, over `leads` leads picked by a seeded random (some optimistic-lock contention), next to the
 * raw ceiling of the same DynamoDB Local. The store's stats and the SDK instruments are read around it
 * for the capacity phase.
 */

import type { StoreStats } from '../../lib/store/repository.ts';
import type { BenchContext } from '../context.ts';
import type { CommandFigures, TransactionSizes } from '../support/instrument.ts';
import { pageViewTrack } from '../support/messages.ts';
import type { CpuUse } from '../support/processes.ts';
import { cores, fmt, tableRow } from '../support/report.ts';
import { pool, prng, round, type Summary, storeStatsSince, summarize, tally } from '../support/stats.ts';
import type { CeilingFigures } from './ceiling.ts';

export interface IngestFigures {
  deliveries: number;
  ok: number;
  statuses: Record<string, number>;
  stored: number;
  duplicates: number;
  seconds: number;
  eventsPerSecond: number;
  latencyMs: Summary;
  ratioToRawTransactions: number;
  ratioToGetPlusTransact: number;
  cpu: CpuUse;
  sdkCalls: { store: Record<string, CommandFigures>; queue: Record<string, CommandFigures> };
}

/** What the store and the SDK saw during the phase: the capacity phase's input. */
export interface IngestTrace {
  storeStats: StoreStats;
  sizes: TransactionSizes;
}

export async function eventsThroughHttp(ctx: BenchContext, ceiling: CeilingFigures): Promise<{ ingest: IngestFigures; trace: IngestTrace }> {
  const { params, probes, pipeline } = ctx;
  const random = prng(params.seed);
  const leadOf = Array.from({ length: params.events }, () => Math.floor(random() * params.leads));
  const statsBefore = { ...pipeline.store.stats };
  probes.sizer.reset();
  probes.storeTimer.reset();
  probes.queueTimer.reset();
  const enqueuedBefore = probes.enqueueClock.enqueuedAt.size;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let stored = 0;
  let duplicates = 0;
  const mark = ctx.cpu.mark();
  await pool(
    params.events,
    params.concurrency,
    async (index) => {
      try {
        const answer = await ctx.events.deliver(pageViewTrack(ctx.leadEmail('lead', leadOf[index]!), index));
        const times = tally(statuses, answer.status);
        if (answer.status === 200) {
          latencies.push(answer.ms);
          const body = JSON.parse(answer.text) as { stored?: number; duplicates?: number };
          stored += body.stored ?? 0;
          duplicates += body.duplicates ?? 0;
        } else if (times <= 3) {
          ctx.errors.push(`delivery answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        }
      } catch (error) {
        if (tally(statuses, 'network') <= 3) ctx.errors.push(`delivery failed: ${(error as Error).message}`);
      }
    },
    ctx.overBudget,
  );
  const cpu = ctx.cpu.since(mark);
  const statsAfter = { ...pipeline.store.stats };
  const ok = latencies.length;
  const eventsPerSecond = ok / cpu.seconds;
  const non200 = Object.entries(statuses).filter(([status]) => status !== '200');
  if (non200.length > 0) ctx.errors.push(`events: ${non200.map(([status, count]) => `${count} × ${status}`).join(', ')} of ${params.events} deliveries`);
  if (stored !== ok) ctx.errors.push(`events: ${ok} deliveries answered 200 but ${stored} events were stored (${duplicates} duplicates)`);
  if (probes.enqueueClock.enqueuedAt.size !== enqueuedBefore) ctx.errors.push('events: page views alone enqueued a handoff');
  return {
    ingest: {
      deliveries: params.events,
      ok,
      statuses,
      stored,
      duplicates,
      seconds: cpu.seconds,
      eventsPerSecond: round(eventsPerSecond, 1),
      latencyMs: summarize(latencies),
      ratioToRawTransactions: round(eventsPerSecond / ceiling.transactWriteItems.perSecond, 3),
      ratioToGetPlusTransact: round(eventsPerSecond / ceiling.getItemThenTransactWriteItems.perSecond, 3),
      cpu,
      sdkCalls: { store: probes.storeTimer.summary(Math.max(1, stored)), queue: probes.queueTimer.summary(Math.max(1, stored)) },
    },
    trace: {
      storeStats: storeStatsSince(statsBefore, statsAfter),
      sizes: structuredClone(probes.sizer.stats),
    },
  };
}

export const ingestRow = (ingest: IngestFigures): string =>
  tableRow('4. POST /webhooks/events, 1 event each', ingest.ok, ingest.seconds, ingest.eventsPerSecond, ingest.latencyMs);

export function ingestLines(ingest: IngestFigures): string[] {
  return [
    ingestRow(ingest),
    `  events/s ÷ raw TransactWriteItems/s            ${fmt(ingest.ratioToRawTransactions, 3)}`,
    `  events/s ÷ raw GetItem+TransactWriteItems/s    ${fmt(ingest.ratioToGetPlusTransact, 3)}`,
    `  deliveries: ${Object.entries(ingest.statuses)
      .map(([status, count]) => `${count} × ${status}`)
      .join(', ')}; stored ${ingest.stored}, duplicates ${ingest.duplicates}`,
    `  ingest    ${cores(ingest.cpu)}`,
  ];
}
