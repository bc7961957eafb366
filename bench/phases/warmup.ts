/**
 * Warm-up through HTTP: loads the handlers, warms both JITs, and leaves leads whose items are the
 * templates of the raw ceiling (a lead with warmupEvents / warmupLeads events, like the mean lead of
 * the events phase).
 */
import type { BenchContext } from '../context.ts';
import { pageViewTrack } from '../support/messages.ts';
import type { CpuUse } from '../support/processes.ts';
import { cores } from '../support/report.ts';
import { pool } from '../support/stats.ts';

/** The lead the ceiling copies its items from. */
export const templateLead = (ctx: BenchContext): string => ctx.leadEmail('warm', 0);

export async function warmUp(ctx: BenchContext): Promise<CpuUse> {
  const { params } = ctx;
  const mark = ctx.cpu.mark();
  await pool(params.warmupEvents, params.concurrency, async (index) => {
    const answer = await ctx.events.deliver(pageViewTrack(ctx.leadEmail('warm', index % params.warmupLeads), index));
    if (answer.status !== 200) ctx.errors.push(`warm-up delivery answered ${answer.status}: ${answer.text.slice(0, 200)}`);
  });
  return ctx.cpu.since(mark);
}

export const warmupLines = (ctx: BenchContext, use: CpuUse): string[] => [
  `2. warm-up: ${ctx.params.warmupEvents} events over ${ctx.params.warmupLeads} leads in ${use.seconds} s; ${cores(use)}`,
];
