/** `mql backtest --model FILE`: the stored history replayed under a candidate model next to the current one. */
import { defineCommand, fail, modelFile, parseNow, parseSince, pipeline, tableWalk, walkOptions, walkUsage } from '../cli.ts';

export const backtest = defineCommand({
  name: 'backtest',
  group: 'the model and the figures',
  usage: [
    'backtest --model FILE [--since DATE] [--json] [--now ISO] [--segments N] [--quiet]',
    '                      replay the stored events under FILE and the current model without writing anything: MQLs,',
    '                      leads newly / no longer qualifying, MQL -> SQL and MQL -> won rates; with an account section, MQAs',
    '                      and the accounts that change; --since: leads first seen since DATE',
    walkUsage,
  ],
  options: { model: { type: 'string' }, since: { type: 'string' }, json: { type: 'boolean' }, now: { type: 'string' }, ...walkOptions },
  stack: 'any',
  async run({ values }) {
    if (!values.model) fail('backtest needs --model FILE, the candidate model to compare with the current one');
    const { formatBacktest, runBacktest } = await import('../../lib/jobs/backtest.ts');
    const { store, model: current } = await pipeline();
    const candidate = await modelFile(values.model);
    const since = parseSince(values.since);
    const walk = await tableWalk(values, store, 'backtest');
    const report = await runBacktest(store, {
      current,
      candidate,
      now: parseNow(values.now),
      segments: walk.segments,
      ...(since ? { since } : {}),
      ...(walk.progress ? { onProgress: (at: { leads: number; scanned: number }) => walk.progress?.(at.leads, at.scanned) } : {}),
    });
    walk.finish();
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBacktest(report)}\n`);
  },
});
