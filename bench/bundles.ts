/**
 * `npm run bench:bundles`: the cold-start phase on its own (phases/bundles.ts): each Lambda function's bundle
 * as `npm run synth` builds it, its size and module-init time over an empty handler's. Its figures replace
 * the `bundles` entry of bench/results.json; the other entries stay.
 */
import { bundleErrors, bundleLines, bundleParams, bundlesBench } from './phases/bundles.ts';
import { errorLines, readJson, resultsPath, writeJson } from './support/report.ts';

const result = await bundlesBench(bundleParams());
const errors = bundleErrors(result);
writeJson(resultsPath, { ...readJson(resultsPath), bundles: { ...result, errors } });
console.log([...bundleLines(result), errorLines(errors)].join('\n'));
process.exitCode = errors.length === 0 ? 0 : 1;
