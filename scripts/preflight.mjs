#!/usr/bin/env node
// Checks what `npm start` and `npm test` need before anything else runs: Node.js 24 (the TypeScript
// runs directly through Node's type stripping; scripts/node-version.mjs, which `npx mql` checks too
// through bin/mql.mjs) and Java 17+ (DynamoDB Local); with `--test`, also Debian's Chromium at
// /usr/bin/chromium, which the integration tests open the HTML report and the browser example in.
// Plain JavaScript, so it gives its one-line message even on an older Node.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { nodeVersionProblem } from './node-version.mjs';

const problems = [];

const nodeProblem = nodeVersionProblem();
if (nodeProblem) problems.push(nodeProblem);

const javaInstall = 'apt-get install -y openjdk-17-jre-headless (macOS: brew install openjdk@17)';
const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
if (java.error || java.status !== 0) {
  problems.push(`Java 17+ is required to run DynamoDB Local, and \`java\` is not on PATH: ${javaInstall}`);
} else {
  const output = String(java.stderr || '') + String(java.stdout || '');
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (match) {
    const major = Number(match[1]) === 1 ? Number(match[2]) : Number(match[1]);
    if (major < 17) problems.push(`Java 17+ is required to run DynamoDB Local; \`java\` on PATH is version ${major}: ${javaInstall}`);
  }
}

if (process.argv.includes('--test') && !existsSync('/usr/bin/chromium')) {
  problems.push(
    'Chromium is required by the tests (the HTML report and the browser example are opened headless), and /usr/bin/chromium is missing: apt-get install -y chromium',
  );
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`preflight: ${problem}`);
  process.exit(1);
}
