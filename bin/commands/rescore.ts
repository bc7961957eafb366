/** `mql rescore`: every lead rebuilt from its stored events under the model, resumable after Ctrl-C. */
import { resolve } from 'node:path';
import { defineCommand, modelFile, parseNow, pipeline, tableWalk, walkOptions, walkUsage } from '../cli.ts';

export const rescore = defineCommand({
  name: 'rescore',
  group: 'jobs',
  usage: [
    'rescore [--model FILE] [--resume] [--now ISO] [--segments N] [--quiet]',
    '                      rebuild every lead from its stored events under the model (default: MQL_MODEL_PATH or the default',
    '                      model), write only leads whose state changes, hand off the transitions; the cursor is kept in',
    '                      <data dir>/rescore-cursor.json after every page: --resume continues an interrupted run (with its segments)',
    walkUsage,
  ],
  options: { model: { type: 'string' }, resume: { type: 'boolean' }, now: { type: 'string' }, ...walkOptions },
  stack: 'any',
  async run({ values, dataDir }) {
    const { formatRescoreSummary, runRescore } = await import('../../lib/jobs/rescore.ts');
    const current = await pipeline();
    const model = values.model ? await modelFile(values.model) : current.model;
    if (model.version !== current.model.version) {
      // The leads written now carry this model's due times and scores; the stack keeps scoring with its own.
      process.stderr.write(
        `mql: note: rescoring under ${values.model} (model ${model.version}) while the stack scores with model ${current.model.version}; set MQL_MODEL_PATH to it (locally) or deploy it, or the next events and decay runs score with the old model again\n`,
      );
    }
    const cursorFile = resolve(dataDir, 'rescore-cursor.json');
    const walk = await tableWalk(values, current.store, 'rescore');
    const controller = new AbortController();
    // Ctrl-C stops after the page in hand, the cursor saved, instead of half-way through it.
    process.once('SIGINT', () => controller.abort());
    const result = await runRescore(current, {
      model,
      now: parseNow(values.now),
      cursorFile,
      resume: values.resume,
      signal: controller.signal,
      segments: walk.segments,
      ...(walk.progress ? { onProgress: (progress) => walk.progress?.(progress.read, progress.scanned) } : {}),
    });
    walk.finish();
    process.stderr.write(`${formatRescoreSummary(result)}${result.complete ? '' : ` (cursor in ${cursorFile})`}\n`);
    // Interrupted: not a success for a script that runs it (130, as for Ctrl-C).
    if (!result.complete) process.exit(130);
  },
});
