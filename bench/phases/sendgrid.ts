/**
 * SendGrid Event Webhook batches through POST /webhooks/sendgrid. SendGrid posts up to 768 KB of events
 * at once: one delivery, one Lambda, events grouped by lead into one transaction each (16 leads at a
 * time). One batch at a time, so the figure is the time a single delivery takes to be answered; the
 * first ones are then delivered again (what SendGrid does after any non-2xx), which costs the store a
 * read and a cancelled transaction per lead.
 */

import type { StoreStats } from '../../lib/store/repository.ts';
import type { BenchContext } from '../context.ts';
import { httpPoster } from '../support/http.ts';
import type { CommandFigures } from '../support/instrument.ts';
import { sendgridBatch, sendgridSigned } from '../support/messages.ts';
import type { CpuUse } from '../support/processes.ts';
import { cores, fmt, tableRow } from '../support/report.ts';
import { round, type Summary, storeStatsSince, sum, summarize, tally } from '../support/stats.ts';
import type { CeilingFigures } from './ceiling.ts';

interface BatchRun {
  ms: number[];
  events: number;
  stored: number;
  duplicates: number;
  statuses: Record<string, number>;
  bodyBytes: number[];
}
const emptyRun = (): BatchRun => ({ ms: [], events: 0, stored: 0, duplicates: 0, statuses: {}, bodyBytes: [] });

/** Events per second of accepting batches one after another: events over the summed response times. */
const batchRate = (run: BatchRun) => run.events / (sum(run.ms) / 1000);

export interface SendgridFigures {
  shape: string;
  batches: number;
  eventsPerBatch: number;
  leadsPerBatch: number;
  bodyBytes: Summary;
  statuses: Record<string, number>;
  stored: number;
  acceptMs: Summary;
  eventsPerSecond: number;
  ratioToRawTransactions: number;
  transactionsPerSecond: number;
  storeStats: StoreStats;
  /** Write units per stored event as DynamoDB Local reports them (ReturnConsumedCapacity on each write). */
  reportedWcuPerEvent: number;
  cpu: CpuUse;
  redelivery: {
    batches: number;
    statuses: Record<string, number>;
    stored: number;
    duplicates: number;
    acceptMs: Summary;
    eventsPerSecond: number;
    cpu: CpuUse;
  };
  sdkCallsBothPasses: Record<string, CommandFigures>;
}

export async function sendgridBatches(ctx: BenchContext, ceiling: CeilingFigures): Promise<SendgridFigures> {
  const { params, pipeline, probes } = ctx;
  const url = ctx.stack.urls['POST /webhooks/sendgrid'];
  if (!url) throw new Error('the topology has no POST /webhooks/sendgrid route');
  const poster = httpPoster(url, 1);

  async function post(run: BatchRun, events: readonly object[], expectStored: number, label: string): Promise<void> {
    const delivery = sendgridSigned(events, ctx.sendgridKey);
    run.bodyBytes.push(Buffer.byteLength(delivery.body));
    try {
      const answer = await poster.post(delivery.body, delivery.headers);
      tally(run.statuses, answer.status);
      if (answer.status !== 200) {
        ctx.errors.push(`sendgrid: ${label} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
        return;
      }
      const body = JSON.parse(answer.text) as { stored?: number; duplicates?: number };
      run.ms.push(answer.ms);
      run.events += events.length;
      run.stored += body.stored ?? 0;
      run.duplicates += body.duplicates ?? 0;
      if (body.stored !== expectStored)
        ctx.errors.push(`sendgrid: ${label} stored ${body.stored} of ${events.length} events (expected ${expectStored}), ${body.duplicates} duplicates`);
    } catch (error) {
      tally(run.statuses, 'network');
      ctx.errors.push(`sendgrid: ${label} failed: ${(error as Error).message}`);
    }
  }

  const leadEmails = (batch: string) => Array.from({ length: params.sendgridBatchLeads }, (_, index) => ctx.leadEmail(`sg-${batch}`, index));
  try {
    for (let index = 0; index < params.sendgridWarmupBatches && !ctx.overBudget(); index++) {
      await post(emptyRun(), sendgridBatch(leadEmails(`warm${index}`), params.sendgridBatchEvents), params.sendgridBatchEvents, `warm-up batch ${index + 1}`);
    }
    const fresh = emptyRun();
    const again = emptyRun();
    const statsBefore = { ...pipeline.store.stats };
    const enqueuedBefore = probes.enqueueClock.enqueuedAt.size;
    probes.storeTimer.reset();
    const batches = Array.from({ length: params.sendgridBatches }, (_, index) => sendgridBatch(leadEmails(`b${index}`), params.sendgridBatchEvents));
    let mark = ctx.cpu.mark();
    for (const [index, events] of batches.entries()) {
      if (ctx.overBudget()) break;
      await post(fresh, events, events.length, `batch ${index + 1}`);
    }
    const freshCpu = ctx.cpu.since(mark);
    mark = ctx.cpu.mark();
    for (const [index, events] of batches.slice(0, params.sendgridRedeliveries).entries()) {
      if (ctx.overBudget()) break;
      await post(again, events, 0, `redelivery of batch ${index + 1}`);
    }
    const againCpu = ctx.cpu.since(mark);
    const storeStats = storeStatsSince(statsBefore, pipeline.store.stats);
    const eventsPerSecond = batchRate(fresh);
    if (fresh.ms.length < params.sendgridBatches) ctx.errors.push(`sendgrid: ${fresh.ms.length} of ${params.sendgridBatches} batches accepted`);
    if (probes.enqueueClock.enqueuedAt.size !== enqueuedBefore) ctx.errors.push('sendgrid: SendGrid opens and clicks alone enqueued a handoff');
    return {
      shape: `${params.sendgridBatchEvents} SendGrid events (processed, delivered, open, click) over ${params.sendgridBatchLeads} fresh leads in one signed POST /webhooks/sendgrid, batches one at a time; then the first ${params.sendgridRedeliveries} delivered again`,
      batches: fresh.ms.length,
      eventsPerBatch: params.sendgridBatchEvents,
      leadsPerBatch: params.sendgridBatchLeads,
      bodyBytes: summarize(fresh.bodyBytes),
      statuses: fresh.statuses,
      stored: fresh.stored,
      acceptMs: summarize(fresh.ms),
      eventsPerSecond: round(eventsPerSecond, 1),
      ratioToRawTransactions: round(eventsPerSecond / ceiling.transactWriteItems.perSecond, 3),
      transactionsPerSecond: round(storeStats.transactions / (sum(fresh.ms) / 1000), 1),
      storeStats,
      reportedWcuPerEvent: round(storeStats.writeCapacityUnits / Math.max(1, fresh.stored), 2),
      cpu: freshCpu,
      redelivery: {
        batches: again.ms.length,
        statuses: again.statuses,
        stored: again.stored,
        duplicates: again.duplicates,
        acceptMs: summarize(again.ms),
        eventsPerSecond: round(batchRate(again), 1),
        cpu: againCpu,
      },
      sdkCallsBothPasses: probes.storeTimer.summary(Math.max(1, fresh.events + again.events)),
    };
  } finally {
    poster.close();
  }
}

export function sendgridRows(sendgrid: SendgridFigures): string[] {
  const { redelivery } = sendgrid;
  return [
    tableRow(
      `6. POST /webhooks/sendgrid, ${sendgrid.eventsPerBatch} events`,
      sendgrid.batches,
      sendgrid.cpu.seconds,
      sendgrid.eventsPerSecond,
      sendgrid.acceptMs,
    ),
    tableRow('    the same batch delivered again', redelivery.batches, redelivery.cpu.seconds, redelivery.eventsPerSecond, redelivery.acceptMs),
  ];
}

export function sendgridLines(sendgrid: SendgridFigures, ceiling: CeilingFigures): string[] {
  const { redelivery } = sendgrid;
  return [
    ...sendgridRows(sendgrid),
    `  SendGrid batch events/s ÷ raw TransactWriteItems/s  ${fmt(sendgrid.ratioToRawTransactions, 3)} (${fmt(sendgrid.eventsPerSecond)} events/s in ${fmt(sendgrid.storeStats.commits / Math.max(1, sendgrid.batches))} lead writes a batch, ${fmt(sendgrid.eventsPerBatch / sendgrid.leadsPerBatch, 2)} events per lead; raw ${fmt(ceiling.transactWriteItems.perSecond)} TransactWriteItems/s)`,
    `  SendGrid batches: ${sendgrid.eventsPerBatch} events over ${sendgrid.leadsPerBatch} leads, ${fmt(sendgrid.bodyBytes.p50 / 1024, 0)} KiB; accepted p50 ${fmt(sendgrid.acceptMs.p50, 0)} ms, p95 ${fmt(sendgrid.acceptMs.p95, 0)} ms; redelivered p50 ${fmt(redelivery.acceptMs.p50, 0)} ms (${redelivery.duplicates} duplicates, ${redelivery.stored} stored); ${sendgrid.storeStats.conflicts} lock conflicts; ${fmt(sendgrid.reportedWcuPerEvent, 2)} WCU per event as DynamoDB Local reports them`,
    `  sendgrid  ${cores(sendgrid.cpu)}`,
  ];
}
