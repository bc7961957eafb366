/**
 * `npm run bench:jobs`: the operator jobs at scale on their own DynamoDB Local (phases/jobs-scale.ts),
 * 100,000 leads unless BENCH_JOBS_LEADS says otherwise. The figures go into bench/results.json under
 * `jobsByLeads[<leads>]`, and replace its `jobs` entry when the run measured the whole matrix (1, 2 and 4
 * segments and the old way); its other entries are kept.
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
  const previous = readJson(resultsPath) ?? {};
  const entry = { ...result, errors };
  const whole = params.segments.join() === '1,2,4' && params.oldSegments > 0;
  writeJson(resultsPath, {
    ...previous,
    ...(whole ? { jobs: entry } : {}),
    jobsByLeads: { ...((previous.jobsByLeads as Record<string, unknown> | undefined) ?? {}), [String(params.leads)]: entry },
  });
  console.log(['', ...jobsLines(result), errorLines(errors)].join('\n'));
  process.exitCode = errors.length === 0 ? 0 : 1;
} finally {
  await dynamodb.stop();
}
