/**
 * The embedded local stack (lib/local/README.md): DynamoDB Local, fauxqs, the local API Gateway, the SQS
 * event-source pollers and the schedule timers, all built from lib/topology.ts and running the
 * same handler code as Lambda.
 *
 * Handlers are configured only through process.env, with the names they have in Lambda:
 * TABLE_NAME, <QUEUE>_QUEUE_URL, AWS_REGION, fake credentials, and the endpoints through the
 * SDK's service-specific AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS. process.env is global,
 * so one process runs one stack at a time (the stack re-applies its environment before every
 * invocation, and restores the previous values on stop).
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, SQSEvent } from 'aws-lambda';
import { allowHttpUrlsEnv } from '../http/outbound.ts';
import { pseudonymized, usePseudonymKey } from '../runtime/pseudonym.ts';
import type { HandlerName, QueueName, RouteSpec } from '../topology.ts';
import { dlqUrlEnv, queueUrlEnv, secretArnsEnv, tableNameEnv, tableStream, routes as topologyRoutes, schedules as topologySchedules } from '../topology.ts';
import { createTable, type DynamoDbLocal, dynamoClient, localCredentials, startDynamoDbLocal } from './dynamodb.ts';
import { LocalStackError } from './errors.ts';
import { type LocalHttpServer, startHttpServer } from './http.ts';
import { localPseudonymKey } from './pseudonym-key.ts';
import { type Poller, type QueueTuning, queueDataDir, sqsClient, startPoller, startQueues } from './queues.ts';
import { createInvoker, type HandlerLoader } from './runtime.ts';
import { enableStream, type StreamPoller, startStreamPoller } from './streams.ts';

export type { QueueTuning } from './queues.ts';
export type { HandlerLoader, LambdaHandler } from './runtime.ts';
export { InvocationError } from './runtime.ts';

export interface LocalStackOptions {
  /** HTTP port; 0 picks a free one. Default: PORT, else 3000. */
  readonly port?: number;
  /** Interface to listen on (default 127.0.0.1: the local API has no authentication). */
  readonly host?: string;
  /** Persistent state (DynamoDB, queued messages, stack.json) under this directory; undefined: all in memory. */
  readonly dataDir?: string;
  /** Use this running DynamoDB Local instead of spawning one (tests share one per run). */
  readonly dynamoEndpoint?: string;
  /** Table name (default 'mql'); tests use a unique one per stack on the shared DynamoDB Local. */
  readonly tableName?: string;
  /** Run topology schedules on timers (default true; tests pass false and call runSchedule). */
  readonly schedules?: boolean;
  /** Override every schedule's period (npm start: MQL_SCHEDULE_EVERY_SECONDS). */
  readonly scheduleEverySeconds?: number;
  /** Extra environment for the handlers (secrets, CRM_ADAPTER, ...); undefined removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Replace handlers (tests); returning undefined keeps the default `lambdas/<entry>.ts`. */
  readonly loadHandler?: HandlerLoader;
  /** Shorter queue settings for tests, e.g. { handoff: { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 } }. */
  readonly queues?: Partial<Record<QueueName, QueueTuning>>;
  /** Region for ARNs, queue URLs and AWS_REGION (default us-east-1). */
  readonly region?: string;
  /** Fail invocations that exceed the function's topology timeout (default true). */
  readonly enforceTimeouts?: boolean;
  /** Where the stack's own messages go (default stderr). Handlers log on their own. */
  readonly log?: (message: string) => void;
}

export interface DrainOptions {
  /** Reject when the queues are not empty by then (default 60 s). */
  readonly timeoutMs?: number;
}

export interface LocalStack {
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** Each route's full URL by route key, e.g. urls['POST /webhooks/events']; path parameters stay as `{email}`. */
  readonly urls: Readonly<Record<string, string>>;
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  readonly tableName: string;
  readonly region: string;
  readonly queueUrls: Readonly<Record<QueueName, string>>;
  readonly dlqUrls: Readonly<Record<QueueName, string>>;
  /** Whether state survives a restart (a dataDir was given). */
  readonly persistent: boolean;
  readonly dataDir: string | undefined;
  /** The environment the handlers run with. */
  readonly env: Readonly<Record<string, string>>;
  /** SDK clients on the stack's endpoints, for tests and tools. */
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  /** Runs a handler with the stack's environment, like a Lambda invoke; rejects with InvocationError on failure. */
  invoke(handler: HandlerName, event: unknown): Promise<unknown>;
  /** Runs a topology schedule now, with the event EventBridge Scheduler sends: { schedule: name, ...input }. */
  runSchedule(name: string, input?: Record<string, unknown>): Promise<unknown>;
  /** Resolves when every queue is empty (ready, delayed, in flight) and no consumer or schedule run is in flight. */
  drain(options?: DrainOptions): Promise<void>;
  stop(): Promise<void>;
}

/** What `<dataDir>/stack.json` holds while a persistent stack runs; the `mql` CLI reads it. */
export interface StackFile {
  readonly baseUrl: string;
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  readonly tableName: string;
  readonly region: string;
  readonly queueUrls: Record<string, string>;
  readonly dlqUrls: Record<string, string>;
  readonly pid: number;
  /** The DynamoDB Local Java process, so a later start can clean up after a killed stack. */
  readonly javaPid?: number;
  readonly startedAt: string;
}

export function stackFilePath(dataDir: string): string {
  return join(resolve(dataDir), 'stack.json');
}

/** The running stack recorded under dataDir, or undefined when none runs. */
export function readStackFile(dataDir: string): StackFile | undefined {
  const file = stackFilePath(dataDir);
  if (!existsSync(file)) return undefined;
  try {
    const stack = JSON.parse(readFileSync(file, 'utf8')) as StackFile;
    return isAlive(stack.pid) ? stack : undefined;
  } catch {
    return undefined;
  }
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  // The local stack's own lines (a request's path may hold an address) go out pseudonymized, as the functions' do.
  const print = options.log ?? ((message: string) => console.error(message));
  const log = (message: string) => print(pseudonymized(message));
  const region = options.region ?? 'us-east-1';
  const tableName = options.tableName ?? 'mql';
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  const port = options.port ?? (process.env.PORT ? Number(process.env.PORT) : 3000);
  const host = options.host ?? '127.0.0.1';

  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    await claimDataDir(dataDir, log);
  }

  // Everything started so far, stopped in reverse order if a later step fails.
  const cleanups: Array<() => Promise<void> | void> = [];
  const unwind = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log(`[local] while stopping: ${(error as Error).message}`);
      }
    }
  };

  try {
    const [dynamo, sqsServer] = await Promise.all([
      options.dynamoEndpoint
        ? Promise.resolve<DynamoDbLocal | undefined>(undefined)
        : startDynamoDbLocal(dataDir ? { dataDir: join(dataDir, 'dynamodb') } : {}).then((started) => {
            cleanups.push(() => started.stop());
            return started;
          }),
      startQueues({ region, ...(dataDir ? { dataDir: queueDataDir(dataDir) } : {}), ...(options.queues ? { tuning: options.queues } : {}) }).then((started) => {
        cleanups.push(() => started.stop());
        return started;
      }),
    ]);
    const dynamoEndpoint = options.dynamoEndpoint ?? (dynamo as DynamoDbLocal).endpoint;

    const dynamodb = dynamoClient(dynamoEndpoint, region);
    cleanups.push(() => dynamodb.destroy());
    await createTable(dynamodb, tableName);
    const streamArn = await enableStream(dynamodb, tableName, tableStream);
    const sqs = sqsClient(sqsServer.endpoint, region);
    cleanups.push(() => sqs.destroy());

    // The handlers' environment, the names they have in Lambda.
    const env: Record<string, string> = {
      [tableNameEnv]: tableName,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: localCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: localCredentials.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
      AWS_ENDPOINT_URL_SQS: sqsServer.endpoint,
    };
    for (const queue of sqsServer.queues) {
      env[queueUrlEnv(queue.name)] = queue.url;
      env[dlqUrlEnv(queue.name)] = queue.dlqUrl;
    }
    // The stand-ins listen on http://127.0.0.1: plain http is allowed here, and only here (lib/http/outbound.ts).
    env[allowHttpUrlsEnv] = '1';
    // Lead references in the logs and erasure tombstones are keyed (lib/local/pseudonym-key.ts).
    const pseudonymKey = localPseudonymKey(dataDir);
    if (pseudonymKey) env.PSEUDONYM_KEY = pseudonymKey;
    // Never real AWS from a local stack: no session token of the operator's, endpoints always honoured,
    // and secrets from the environment (.env), not from Secrets Manager.
    const unset = new Set(['AWS_SESSION_TOKEN', 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', secretArnsEnv, 'AWS_PROFILE']);
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) {
        delete env[key];
        unset.add(key);
      } else {
        env[key] = value;
        unset.delete(key);
      }
    }
    const saved = new Map<string, string | undefined>();
    for (const key of [...Object.keys(env), ...unset]) saved.set(key, process.env[key]);
    const applyEnv = () => {
      for (const [key, value] of Object.entries(env)) process.env[key] = value;
      for (const key of unset) delete process.env[key];
    };
    applyEnv();
    usePseudonymKey(process.env.PSEUDONYM_KEY);
    cleanups.push(() => {
      for (const [key, value] of saved) {
        // Leave alone what someone else changed since.
        if (process.env[key] !== (env[key] ?? undefined)) continue;
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    });

    const runtime = createInvoker({
      region,
      beforeInvoke: applyEnv,
      log,
      ...(options.loadHandler ? { loadHandler: options.loadHandler } : {}),
      ...(options.enforceTimeouts === undefined ? {} : { enforceTimeouts: options.enforceTimeouts }),
    });

    const http: LocalHttpServer = await startHttpServer({
      routes: topologyRoutes as readonly RouteSpec[],
      port,
      host,
      region,
      log,
      invoke: (handler: HandlerName, event: APIGatewayProxyEventV2) => runtime.invoke(handler, event),
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') throw new LocalStackError(`port ${port} is already in use on ${host}: stop what runs there or set PORT`);
      throw error;
    });
    cleanups.push(() => http.stop());

    const pollers: Poller[] = sqsServer.queues.map((queue) =>
      startPoller({
        sqs,
        queue,
        region,
        log,
        invoke: (event: SQSEvent) => runtime.invoke(queue.spec.consumer, event),
      }),
    );
    cleanups.push(async () => {
      await Promise.all(pollers.map((poller) => poller.stop()));
    });
    // The table's change stream, as Lambda's DynamoDB event-source mapping reads it.
    const streamPoller: StreamPoller = startStreamPoller({
      endpoint: dynamoEndpoint,
      region,
      streamArn,
      spec: tableStream,
      log,
      invoke: (event) => runtime.invoke(tableStream.consumer, event),
    });
    cleanups.push(() => streamPoller.stop());

    let schedulesRunning = 0;
    const runSchedule = async (name: string, input: Record<string, unknown> = {}): Promise<unknown> => {
      const schedule = topologySchedules.find((candidate) => candidate.name === name);
      if (!schedule) throw new Error(`no schedule named ${name}; the topology has ${topologySchedules.map((s) => s.name).join(', ')}`);
      schedulesRunning++;
      try {
        return await runtime.invoke(schedule.handler, { schedule: name, ...input });
      } finally {
        schedulesRunning--;
      }
    };

    if (options.schedules ?? true) {
      for (const schedule of topologySchedules) {
        const everyMs = (options.scheduleEverySeconds ?? schedule.everyMinutes * 60) * 1000;
        let running = false;
        const timer = setInterval(() => {
          if (running) return; // like a Lambda still busy: the next tick will catch up
          running = true;
          runSchedule(schedule.name)
            .catch(() => {}) // the runtime has logged it
            .finally(() => {
              running = false;
            });
        }, everyMs);
        timer.unref();
        cleanups.push(() => clearInterval(timer));
      }
    }

    const queueUrls = Object.fromEntries(sqsServer.queues.map((queue) => [queue.name, queue.url])) as Record<QueueName, string>;
    const dlqUrls = Object.fromEntries(sqsServer.queues.map((queue) => [queue.name, queue.dlqUrl])) as Record<QueueName, string>;
    const urls = Object.fromEntries(topologyRoutes.map((route) => [`${route.method} ${route.path}`, `${http.baseUrl}${route.path}`]));

    if (dataDir) {
      const file: StackFile = {
        baseUrl: http.baseUrl,
        dynamoEndpoint,
        sqsEndpoint: sqsServer.endpoint,
        tableName,
        region,
        queueUrls,
        dlqUrls,
        pid: process.pid,
        ...(dynamo?.pid ? { javaPid: dynamo.pid } : {}),
        startedAt: new Date().toISOString(),
      };
      writeFileSync(stackFilePath(dataDir), `${JSON.stringify(file, null, 2)}\n`);
      cleanups.push(() => rmSync(stackFilePath(dataDir), { force: true }));
    }

    const drain = async (drainOptions: DrainOptions = {}): Promise<void> => {
      const timeoutMs = drainOptions.timeoutMs ?? 60_000;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // What the stream holds now reaches its function first (it may put roll-ups on a queue).
        const streamed = await streamPoller.catchUp();
        const depths = sqsServer.queues.map((queue) => ({ name: queue.name, ...sqsServer.depth(queue.sqsName) }));
        const idle =
          streamed === 0 &&
          !streamPoller.busy &&
          schedulesRunning === 0 &&
          pollers.every((poller) => !poller.busy) &&
          depths.every((depth) => depth.ready + depth.delayed + depth.inflight === 0);
        if (idle) return;
        if (Date.now() > deadline) {
          const state = depths.map((depth) => `${depth.name}: ${depth.ready} ready, ${depth.inflight} in flight, ${depth.delayed} delayed`).join('; ');
          throw new Error(`drain: queues not empty after ${timeoutMs} ms (${state}); a failing consumer's messages come back after the visibility timeout`);
        }
        await sleep(20);
      }
    };

    let stopping: Promise<void> | undefined;
    return {
      baseUrl: http.baseUrl,
      urls,
      dynamoEndpoint,
      sqsEndpoint: sqsServer.endpoint,
      tableName,
      region,
      queueUrls,
      dlqUrls,
      persistent: dataDir !== undefined,
      dataDir,
      env: { ...env },
      dynamodb,
      sqs,
      invoke: (handler, event) => runtime.invoke(handler, event),
      runSchedule,
      drain,
      stop() {
        stopping ??= unwind();
        return stopping;
      },
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One stack per data directory (DynamoDB Local's database file is not shared). A stack.json
 * whose process is gone is stale: it is removed, and its DynamoDB Local, if it survived a
 * `kill -9` of its Node process, is stopped.
 */
async function claimDataDir(dataDir: string, log: (message: string) => void): Promise<void> {
  const file = stackFilePath(dataDir);
  if (!existsSync(file)) return;
  let previous: Partial<StackFile> = {};
  try {
    previous = JSON.parse(readFileSync(file, 'utf8')) as Partial<StackFile>;
  } catch {
    // unreadable: treat as stale
  }
  if (previous.pid !== undefined && previous.pid !== process.pid && isAlive(previous.pid)) {
    throw new LocalStackError(
      `another local stack (pid ${previous.pid}) is running on ${dataDir} at ${previous.baseUrl ?? 'an unknown URL'}: stop it first, or set MQL_DATA_DIR to another directory`,
    );
  }
  if (previous.javaPid !== undefined && isAlive(previous.javaPid) && isDynamoDbLocal(previous.javaPid)) {
    log(`[local] stopping DynamoDB Local (pid ${previous.javaPid}) left behind by a stack that was killed`);
    try {
      process.kill(previous.javaPid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    for (let i = 0; i < 100 && isAlive(previous.javaPid); i++) await sleep(50);
  }
  rmSync(file, { force: true });
}

function isDynamoDbLocal(pid: number): boolean {
  try {
    if (existsSync(`/proc/${pid}/cmdline`)) return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('DynamoDBLocal');
    return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).includes('DynamoDBLocal');
  } catch {
    return false;
  }
}
