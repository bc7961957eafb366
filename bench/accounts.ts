/**
 * `npm run bench:accounts`: the account roll-up alone (phases/accounts.ts): write units per event and event ->
 * account.mqa latency. `npm run bench` runs the same phase; this writes its figures into bench/results.json as
 * `accounts` too.
 */
import './support/log-level.ts';
import { accountsBench } from './phases/accounts.ts';
import { errorLines, readJson, resultsPath, writeJson } from './support/report.ts';

const { figures, lines, errors } = await accountsBench();
console.log(lines.join('\n'));
if (figures) writeJson(resultsPath, { ...readJson(resultsPath), accounts: figures });
if (errors.length > 0) {
  console.error(errorLines(errors));
  process.exitCode = 1;
}
