/** `mql backtest --model FILE`: the stored history replayed under a candidate model next to the current one. */
import { defineCommand, fail, modelFile, parseNow, parseSince, pipeline } from '../cli.ts';

export const backtest = defineCommand({
  name: 'backtest',
  group: 'the model and the figures',
  usage: [
    'backtest --model FILE [--since DATE] [--json] [--now ISO]',
    '                      replay the stored events under FILE and the current model without writing anything: MQLs,',
    '                      leads newly / no longer qualifying, MQL -> SQL and MQL -> won rates; --since: leads first seen since DATE',
  ],
  options: { model: { type: 'string' }, since: { type: 'string' }, json: { type: 'boolean' }, now: { type: 'string' } },
  stack: 'any',
  async run({ values }) {
    if (!values.model) fail('backtest needs --model FILE, the candidate model to compare with the current one');
    const { formatBacktest, runBacktest } = await import('../../lib/jobs/backtest.ts');
    const { store, model: current } = await pipeline();
    const candidate = await modelFile(values.model);
    const since = parseSince(values.since);
    const report = await runBacktest(store, { current, candidate, now: parseNow(values.now), ...(since ? { since } : {}) });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatBacktest(report)}\n`);
  },
});
