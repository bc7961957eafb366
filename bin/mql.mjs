#!/usr/bin/env node
// `npx mql`: checks the Node.js version first, in plain JavaScript any Node can load, so an older Node
// prints one line instead of failing on the .ts extension with a stack trace; then runs bin/mql.ts.
import { nodeVersionProblem } from '../scripts/node-version.mjs';

const problem = nodeVersionProblem();
if (problem) {
  process.stderr.write(`preflight: ${problem}\n`);
  process.exit(1);
}
const { runCli } = await import('./mql.ts');
await runCli(process.argv.slice(2));
