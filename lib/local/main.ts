/**
 * `npm start`: the whole pipeline on this machine (lib/local/README.md).
 *
 * Reads `.env` from the repository root (variables already set in the environment win), keeps
 * its state under MQL_DATA_DIR (default `.mql/`), serves on PORT (default 3000), runs the
 * schedules every topology period or every MQL_SCHEDULE_EVERY_SECONDS. Ctrl-C or SIGTERM stops
 * everything, DynamoDB Local's Java process included, and exits 0.
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ModelError } from '../core/model.ts';
import { stackBanner } from './banner.ts';
import { LocalStackError } from './errors.ts';
import { repoRoot } from './runtime.ts';
import { type LocalStack, startLocalStack } from './stack.ts';

const envFile = join(repoRoot, '.env');
if (existsSync(envFile) && typeof process.loadEnvFile === 'function') process.loadEnvFile(envFile);

const dataDir = resolve(process.env.MQL_DATA_DIR || join(repoRoot, '.mql'));
const port = process.env.PORT ? Number(process.env.PORT) : 3000;
const everySeconds = process.env.MQL_SCHEDULE_EVERY_SECONDS ? Number(process.env.MQL_SCHEDULE_EVERY_SECONDS) : undefined;

function fail(error: unknown): never {
  if (error instanceof LocalStackError || error instanceof ModelError) console.error(`mql: ${error.message}`);
  else console.error('mql: the local stack failed to start:', error);
  process.exit(1);
}

if (!Number.isInteger(port) || port < 0 || port > 65_535) fail(new LocalStackError(`PORT=${process.env.PORT} is not a port number`));
if (everySeconds !== undefined && !(everySeconds > 0)) {
  fail(new LocalStackError(`MQL_SCHEDULE_EVERY_SECONDS=${process.env.MQL_SCHEDULE_EVERY_SECONDS} is not a positive number`));
}

// The model first: a broken MQL_MODEL_PATH is named with every problem before anything starts.
try {
  const { loadModel } = await import('../runtime/model-config.ts');
  loadModel();
} catch (error) {
  fail(error);
}

console.log('mql-engine: starting the local stack (DynamoDB Local takes a few seconds)...');
let stack: LocalStack;
try {
  stack = await startLocalStack({
    port,
    dataDir,
    schedules: true,
    ...(everySeconds === undefined ? {} : { scheduleEverySeconds: everySeconds }),
  });
} catch (error) {
  fail(error);
}

const relativeDir = relative(process.cwd(), dataDir);
console.log(
  await stackBanner({
    baseUrl: stack.baseUrl,
    dataDir: relativeDir === '' ? './' : relativeDir.startsWith('..') ? `${dataDir}/` : `${relativeDir}/`,
    dynamoEndpoint: stack.dynamoEndpoint,
    tableName: stack.tableName,
    sqsEndpoint: stack.sqsEndpoint,
    envFile: relative(process.cwd(), envFile) || '.env',
    ...(everySeconds === undefined ? {} : { everySeconds }),
    env: process.env,
  }),
);

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    console.error(`mql: ${signal} again, exiting now`);
    process.exit(130);
  }
  stopping = true;
  console.log(`\nmql-engine: ${signal}, stopping the local stack...`);
  try {
    await stack.stop();
    console.log('mql-engine: stopped.');
    process.exit(0);
  } catch (error) {
    console.error('mql: error while stopping:', error);
    process.exit(1);
  }
}
process.on('SIGINT', (signal) => void shutdown(signal));
process.on('SIGTERM', (signal) => void shutdown(signal));
