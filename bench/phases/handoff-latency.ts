/**
 * Handoff latency: fresh leads each post the seeds' worked example (identify as CEO in Software, a case
 * study, a webinar: the third delivery makes the MQL), one lead at a time and then `burst` at a time;
 * from the moment the qualifying request is sent to the CRM receiver's arrival of lead.mql, with where
 * the time goes (enqueued, the local poller's receive, the consumer's work). From the request's start,
 * not its response: the handoff is queued before the response is written and can reach the CRM before
 * the sender has read it (measured from the response, the minimum was negative).
 */
import type { BenchContext } from '../context.ts';
import type { EventsSender, HttpAnswer } from '../support/http.ts';
import type { CommandFigures } from '../support/instrument.ts';
import { workedExample } from '../support/messages.ts';
import type { CpuUse } from '../support/processes.ts';
import { fmt, tableRow } from '../support/report.ts';
import { pool, type Summary, summarize } from '../support/stats.ts';

export interface Qualified {
  /** The qualifying (third) delivery's answer, performance.now() time base (`sentAt`: the request's start). */
  answer: HttpAnswer;
  /** Date.now() when the qualifying request was sent, for clocks outside this process's (a stand-in's history). */
  epochMs: number;
}

/** Milliseconds from the qualifying request's start to `arrivedAtEpochMs` (a CRM's clock, Date.now() base). */
export const latencyFromRequestStart = (qualified: Qualified, arrivedAtEpochMs: number): number => arrivedAtEpochMs - qualified.epochMs;

/**
 * Posts the worked example for each of `emails`, `concurrency` leads at a time (`gapMs` after each
 * lead); a delivery that is not answered 200 with one event stored is an error and ends that lead.
 * Returns the leads that qualified, and the times of all deliveries.
 */
export async function qualifyLeads(
  events: EventsSender,
  emails: readonly string[],
  options: { concurrency: number; gapMs?: number; errors: string[]; label: string; stop?: () => boolean },
): Promise<{ qualified: Map<string, Qualified>; deliveryMs: number[] }> {
  const qualified = new Map<string, Qualified>();
  const deliveryMs: number[] = [];
  await pool(
    emails.length,
    options.concurrency,
    async (index) => {
      const email = emails[index]!;
      for (const [step, message] of workedExample(email).entries()) {
        const answer = await events.deliver(message);
        deliveryMs.push(answer.ms);
        const body = answer.status === 200 ? (JSON.parse(answer.text) as { stored?: number }) : undefined;
        if (answer.status !== 200 || body?.stored !== 1) {
          options.errors.push(`${options.label}: delivery ${step + 1} for ${email} answered ${answer.status} ${answer.text.slice(0, 200)}`);
          return;
        }
        if (step === 2) qualified.set(email, { answer, epochMs: answer.sentEpochMs });
      }
      if (options.gapMs) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
    },
    options.stop,
  );
  return { qualified, deliveryMs };
}

export interface HandoffPhase {
  leads: number;
  concurrency: number;
  /** From the qualifying request's start to the CRM's arrival. */
  latencyMs: Summary;
  /** Relative to the qualifying request's start, like every time below. */
  enqueuedMs: Summary;
  pollerReceivedMs: Summary;
  /** From the poller's receive to the CRM's arrival: the handoff function's work (getHandoff, the POST). */
  consumerMs: Summary;
  pollerBatchSize: Summary;
  /** Gap between consecutive CRM arrivals from one poller batch: what each record costs the sequential consumer. */
  perRecordInBatchMs: Summary;
  deliveryMs: Summary;
  sdkCalls: Record<string, CommandFigures>;
  missing: string[];
  cpu: CpuUse;
}

/** The leads of a handoff phase: the verification phase expects a lead.mql for each, and nothing else. */
export const handoffEmails = (ctx: BenchContext, name: 'seq' | 'burst'): string[] =>
  Array.from({ length: ctx.params.handoffLeads }, (_, index) => ctx.leadEmail(`mql-${name}`, index));

async function handoffPhase(ctx: BenchContext, name: 'seq' | 'burst', concurrency: number): Promise<HandoffPhase> {
  const { probes, crm } = ctx;
  const emails = handoffEmails(ctx, name);
  probes.storeTimer.reset();
  const mark = ctx.cpu.mark();
  const { qualified, deliveryMs } = await qualifyLeads(ctx.events, emails, { concurrency, errors: ctx.errors, label: `handoff ${name}`, stop: ctx.overBudget });
  await crm.waitForMql(emails, ctx.params.handoffTimeoutSeconds * 1000);
  const cpu = ctx.cpu.since(mark);
  const latency: number[] = [];
  const enqueued: number[] = [];
  const received: number[] = [];
  const consumer: number[] = [];
  const batch: number[] = [];
  const byBatch = new Map<number, number[]>();
  const missing: string[] = [];
  for (const email of emails) {
    const at = qualified.get(email)?.answer.sentAt;
    const arrival = crm.received.find((candidate) => candidate.leadId === email && candidate.record.type === 'lead.mql');
    if (at === undefined || !arrival) {
      missing.push(email);
      continue;
    }
    latency.push(arrival.arrivedAt - at);
    const queuedAt = probes.enqueueClock.enqueuedAt.get(email);
    if (queuedAt !== undefined) enqueued.push(queuedAt - at);
    const poll = probes.receiveClock.receivedAt.get(email);
    if (poll) {
      received.push(poll.at - at);
      consumer.push(arrival.arrivedAt - poll.at);
      batch.push(poll.batch);
      byBatch.set(poll.at, [...(byBatch.get(poll.at) ?? []), arrival.arrivedAt]);
    }
  }
  return {
    leads: emails.length,
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
    sdkCalls: probes.storeTimer.summary(emails.length),
    missing,
    cpu,
  };
}

export async function handoffLatency(ctx: BenchContext): Promise<{ sequential: HandoffPhase; burst: HandoffPhase }> {
  const sequential = await handoffPhase(ctx, 'seq', 1);
  const burst = await handoffPhase(ctx, 'burst', ctx.params.handoffBurstConcurrency);
  return { sequential, burst };
}

export function handoffRows(handoff: { sequential: HandoffPhase; burst: HandoffPhase }): string[] {
  const { sequential, burst } = handoff;
  return [
    tableRow('7. handoff: 3rd request sent -> CRM lead.mql', sequential.latencyMs.count, undefined, undefined, sequential.latencyMs),
    tableRow(`   same, ${burst.concurrency} leads at a time`, burst.latencyMs.count, undefined, undefined, burst.latencyMs),
  ];
}

export function handoffLines(handoff: { sequential: HandoffPhase; burst: HandoffPhase }): string[] {
  const { sequential, burst } = handoff;
  const where = (label: string, p: HandoffPhase) =>
    `  ${label.padEnd(20)} enqueued ${fmt(p.enqueuedMs.p50)} [${fmt(p.enqueuedMs.p95)}], poller got it ${fmt(p.pollerReceivedMs.p50)} [${fmt(p.pollerReceivedMs.p95)}], consumer to CRM ${fmt(p.consumerMs.p50)} [${fmt(p.consumerMs.p95)}]; poller batch ${fmt(p.pollerBatchSize.p50, 0)} [max ${fmt(p.pollerBatchSize.max, 0)}], ${fmt(p.perRecordInBatchMs.p50)} ms per record in a batch; deliveries p50 ${fmt(p.deliveryMs.p50)} ms`;
  return [
    ...handoffRows(handoff),
    "  where the handoff time goes (ms from the qualifying request's start; median [p95])",
    where('one lead at a time', sequential),
    where(`${burst.concurrency} leads at a time`, burst),
    `  store calls per lead ${Object.entries(burst.sdkCalls)
      .map(([command, t]) => `${command} ${fmt(t.perEvent, 1)} × ${fmt(t.meanMs, 1)} ms`)
      .join(', ')} (3 deliveries + handoff, ${burst.concurrency} at a time)`,
  ];
}
