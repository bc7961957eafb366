/** `mql calibrate`: each rule's fitted weight next to its points, from what sales decided, and a proposed model. */
import { defaultOutput, defineCommand, ensureParent, fail, parseSince, pipeline, tableWalk, walkOptions, walkUsage } from '../cli.ts';

export const proposedModelFile = 'proposed-model.json';

export const calibrate = defineCommand({
  name: 'calibrate',
  group: 'the model and the figures',
  usage: [
    'calibrate [--out FILE] [--since DATE] [--json] [--segments N] [--quiet]',
    "                      fit a logistic regression of reaching SQL on each rule's points as sales judged the leads: each",
    "                      rule's coefficient next to its points, precision / recall at thresholds, and a proposed model with",
    `                      points rescaled from the coefficients written to FILE (default <data dir>/${proposedModelFile}) for`,
    '                      backtest; --since: outcomes judged since DATE. Needs 30 judged leads, 10 reaching SQL and 10 not',
    walkUsage,
  ],
  options: { out: { type: 'string' }, since: { type: 'string' }, json: { type: 'boolean' }, ...walkOptions },
  stack: 'any',
  async run({ values, dataDir }) {
    const { formatCalibration, runCalibration, writeProposedModel } = await import('../../lib/jobs/calibrate.ts');
    const { NotEnoughOutcomes } = await import('../../lib/core/calibrate.ts');
    const since = parseSince(values.since);
    const { store, model } = await pipeline();
    const walk = await tableWalk(values, store, 'calibrate');
    const report = await runCalibration(store, {
      model,
      segments: walk.segments,
      ...(since ? { since } : {}),
      ...(walk.progress ? { onProgress: (at: { leads: number; scanned: number }) => walk.progress?.(at.leads, at.scanned) } : {}),
    }).catch((error: unknown) => {
      if (error instanceof NotEnoughOutcomes) fail(error.message);
      throw error;
    });
    const out = values.out ?? defaultOutput(dataDir, proposedModelFile);
    if (report.proposedModel) {
      ensureParent(out);
      writeProposedModel(report, out);
    }
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCalibration(report, report.proposedModel ? out : undefined)}\n`);
    if (report.refused) fail(`no model written to ${out}: ${report.refused}`);
  },
});
