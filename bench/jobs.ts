/**
 * `npm run bench:jobs`: the operator jobs at scale on their own DynamoDB Local (phases/jobs-scale.ts),
 * 100,000 leads unless BENCH_JOBS_LEADS says otherwise; the figures replace the `jobs` entry of
 * bench/results.json, its other entries kept.
 */
import './support/log-level.ts';
import { startDynamoDbLocal } from '../lib/local/dynamodb.ts';
import { jobsBench, jobsErrors, jobsLines, jobsParams } from './phases/jobs-scale.ts';
import { errorLines, readJson, resultsPath, writeJson } from './support/report.ts';

const params = jobsParams(process.env, 100_000);
const dynamodb = await startDynamoDbLocal();
try {
  const result = await jobsBench(dynamodb.endpoint, params, (line) => console.log(line));
  const errors = jobsErrors(result);
  writeJson(resultsPath, { ...readJson(resultsPath), jobs: { ...result, errors } });
  console.log(['', ...jobsLines(result), errorLines(errors)].join('\n'));
  process.exitCode = errors.length === 0 ? 0 : 1;
} finally {
  await dynamodb.stop();
}
