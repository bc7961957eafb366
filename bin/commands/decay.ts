/** `mql decay`: the scheduled decay job, run once now, at `--now`, or `--in` a duration from now. */
import type { DecaySummary } from '../../lib/jobs/decay.ts';
import { checkModelInForce, defineCommand, durationMs, fail, parseNow } from '../cli.ts';

export const decay = defineCommand({
  name: 'decay',
  group: 'jobs',
  usage: [
    'decay [--now ISO | --in DURATION]',
    '                      run the decay job once (recycles MQLs whose score fell below recycleBelow) as of --now, or as of',
    '                      --in DURATION from now (e.g. 365d; units m, h, d, w): "let a year pass" is --in 365d',
  ],
  options: { now: { type: 'string' }, in: { type: 'string' } },
  stack: 'any',
  async run({ values }) {
    const at = decayTime(values.now, values.in);
    await checkModelInForce();
    const { handler } = await import('../../lambdas/decay.ts');
    const summary = await handler({ now: at.toISOString() });
    process.stdout.write(`${formatDecaySummary(summary)}\n`);
  },
});

/** The moment the run evaluates: `--now`, or the clock plus `--in`, or the clock. */
export function decayTime(now: string | undefined, inDuration: string | undefined, clock: () => number = Date.now): Date {
  if (inDuration === undefined) return parseNow(now);
  if (now !== undefined) fail('decay takes --now ISO or --in DURATION, not both');
  const ms = durationMs(inDuration);
  if (ms === undefined) fail(`--in must be a duration such as 365d, 12h, 90m or 2w (got ${inDuration})`);
  return new Date(clock() + ms);
}

/** The run on one line: due, re-evaluated, what changed, handoffs, and whether it finished. */
export function formatDecaySummary(summary: DecaySummary & { now: string }): string {
  const changed =
    Object.entries(summary.changed)
      .map(([status, count]) => `${count} ${status}`)
      .join(', ') || 'none';
  const failed = summary.failed > 0 ? `; ${summary.failed} failed (still due)` : '';
  const end = summary.resumable ? `stopped early, ${summary.due - summary.processed} left due for the next run` : 'complete';
  const accounts = summary.accountsDue > 0 ? `; ${summary.accountsDue} account(s) due, sent to the account roll-up` : '';
  return `decay as of ${summary.now}: ${summary.due} lead(s) due, ${summary.processed} re-evaluated; now ${changed}; ${summary.handoffs} handoff(s) queued${failed}${accounts}; ${end}`;
}
