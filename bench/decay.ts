/**
 * `npm run bench:decay`: the decay phase on its own DynamoDB Local (phases/decay.ts), 100,000 leads
 * unless BENCH_DECAY_LEADS says otherwise; its figures replace the `decay` entry of bench/results.json.
 */
import './support/log-level.ts';
import { startDynamoDbLocal } from '../lib/local/dynamodb.ts';
import { decayBench, decayErrors, decayLines, decayParams } from './phases/decay.ts';
import { errorLines, readJson, resultsPath, writeJson } from './support/report.ts';

const params = decayParams(process.env, 100_000);
const dynamodb = await startDynamoDbLocal();
try {
  const result = await decayBench(dynamodb.endpoint, params);
  const errors = decayErrors(result);
  writeJson(resultsPath, { ...readJson(resultsPath), decay: { ...result, errors } });
  console.log([...decayLines(result), errorLines(errors)].join('\n'));
  process.exitCode = errors.length === 0 ? 0 : 1;
} finally {
  await dynamodb.stop();
}
