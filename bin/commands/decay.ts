/** `mql decay`: the scheduled decay job, run once now or at `--now`. */
import type { DecaySummary } from '../../lib/jobs/decay.ts';
import { checkModelInForce, defineCommand, parseNow } from '../cli.ts';

export const decay = defineCommand({
  name: 'decay',
  group: 'jobs',
  usage: ['decay [--now ISO]     run the decay job once (recycles MQLs whose score fell below recycleBelow)'],
  options: { now: { type: 'string' } },
  stack: 'any',
  async run({ values }) {
    const at = parseNow(values.now);
    await checkModelInForce();
    const { handler } = await import('../../lambdas/decay.ts');
    const summary = await handler({ now: at.toISOString() });
    process.stdout.write(`${formatDecaySummary(summary)}\n`);
  },
});

/** The run on one line: due, re-evaluated, what changed, handoffs, and whether it finished. */
export function formatDecaySummary(summary: DecaySummary & { now: string }): string {
  const changed =
    Object.entries(summary.changed)
      .map(([status, count]) => `${count} ${status}`)
      .join(', ') || 'none';
  const failed = summary.failed > 0 ? `; ${summary.failed} failed (still due)` : '';
  const end = summary.resumable ? `stopped early, ${summary.due - summary.processed} left due for the next run` : 'complete';
  return `decay as of ${summary.now}: ${summary.due} lead(s) due, ${summary.processed} re-evaluated; now ${changed}; ${summary.handoffs} handoff(s) queued${failed}; ${end}`;
}
