/** `mql report`: the funnel and conversion figures as text (or JSON), and as an HTML page with charts. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultOutput, defineCommand, ensureParent, parseNow, parseSince, pipeline, tableWalk, walkOptions, walkUsage } from '../cli.ts';

export const reportFile = 'report.html';

export const report = defineCommand({
  name: 'report',
  group: 'the model and the figures',
  usage: [
    'report [--out FILE] [--since DATE] [--json] [--now ISO] [--segments N] [--quiet]',
    '                      funnel, MQL -> SQL by source and month, score at MQL vs rejected, rejection reasons, time to MQL,',
    '                      accounts (with an account section: MQAs, MQA -> opportunity),',
    `                      as text (--json: as JSON), and as a self-contained HTML page with charts written to FILE (default`,
    `                      <data dir>/${reportFile}; the path is printed); --since: leads first seen since DATE`,
    walkUsage,
  ],
  options: { out: { type: 'string' }, since: { type: 'string' }, json: { type: 'boolean' }, now: { type: 'string' }, ...walkOptions },
  stack: 'any',
  async run({ values, dataDir }) {
    const { buildReport } = await import('../../lib/jobs/report/load.ts');
    const { formatReport } = await import('../../lib/jobs/report/text.ts');
    const { renderReportHtml } = await import('../../lib/jobs/report/html.ts');
    const since = parseSince(values.since);
    const now = parseNow(values.now);
    const { store, model } = await pipeline();
    const walk = await tableWalk(values, store, 'report');
    const figures = await buildReport(store, {
      model,
      now,
      segments: walk.segments,
      ...(since ? { since } : {}),
      ...(walk.progress ? { onProgress: (at: { leads: number; scanned: number }) => walk.progress?.(at.leads, at.scanned) } : {}),
    });
    walk.finish();
    process.stdout.write(values.json ? `${JSON.stringify(figures, null, 2)}\n` : `${formatReport(figures)}\n`);
    const out = values.out ?? defaultOutput(dataDir, reportFile);
    ensureParent(out);
    writeFileSync(out, renderReportHtml(figures));
    process.stderr.write(`mql: wrote ${resolve(out)}\n`);
  },
});
