/** `mql report`: the funnel and conversion figures as text (or JSON), and with --out as an HTML page with charts. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineCommand, parseNow, parseSince, pipeline } from '../cli.ts';

export const report = defineCommand({
  name: 'report',
  group: 'the model and the figures',
  usage: [
    'report [--out FILE] [--since DATE] [--json] [--now ISO]',
    '                      funnel, MQL -> SQL by source and month, score at MQL vs rejected, rejection reasons, time to MQL,',
    '                      as text; --out also writes them as a self-contained HTML page with charts',
  ],
  options: { out: { type: 'string' }, since: { type: 'string' }, json: { type: 'boolean' }, now: { type: 'string' } },
  stack: 'any',
  async run({ values }) {
    const { buildReport } = await import('../../lib/jobs/report/load.ts');
    const { formatReport } = await import('../../lib/jobs/report/text.ts');
    const since = parseSince(values.since);
    const now = parseNow(values.now);
    const { store, model } = await pipeline();
    const figures = await buildReport(store, { model, now, ...(since ? { since } : {}) });
    process.stdout.write(values.json ? `${JSON.stringify(figures, null, 2)}\n` : `${formatReport(figures)}\n`);
    if (values.out) {
      const { renderReportHtml } = await import('../../lib/jobs/report/html.ts');
      writeFileSync(values.out, renderReportHtml(figures));
      process.stderr.write(`mql: wrote ${resolve(values.out)}\n`);
    }
  },
});
