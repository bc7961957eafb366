/**
 * The first and last phases: the embedded local stack (DynamoDB Local in memory, fauxqs, the local API
 * Gateway and the real handlers, all in this process but Java) with a verifying CRM receiver for
 * CRM_ADAPTER=webhook and the SDK instruments; then a clean stop, no Java left.
 */
import { generateKeyPairSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCrmReceiver } from '../../lib/local/stand-ins/crm-receiver.ts';
import { dynamo, resetClients, sqs } from '../../lib/runtime/aws.ts';
import { type BenchContext, type BenchRun, benchSecrets, benchStack } from '../context.ts';
import { CostMeter } from '../support/cost-meter.ts';
import { eventsSender } from '../support/http.ts';
import { CommandTimer, EnqueueClock, ReceiveClock, TransactionSizer } from '../support/instrument.ts';
import { cpuMeter, dynamoDbLocalChildren, isAlive, otherDynamoDbLocals } from '../support/processes.ts';
import { fmt, loadAverage } from '../support/report.ts';
import { round } from '../support/stats.ts';

/** Other work on the machine skews every figure: recorded, and warned about. */
export interface MachineLoad {
  loadAverageAtStart: number[];
  otherDynamoDbLocalAtStart: number[];
  loadAverageAtEnd: number[];
  otherDynamoDbLocalAtEnd: number[];
}

export interface StackFigures {
  startupSeconds: number;
  machineLoad: MachineLoad;
  /** The stack's own messages (the first 5 also go to stderr). */
  stackMessages: string[];
}

export async function startStack(run: BenchRun): Promise<{ ctx: BenchContext; figures: StackFigures }> {
  const { params } = run;
  const machineLoad: MachineLoad = {
    loadAverageAtStart: loadAverage(),
    otherDynamoDbLocalAtStart: otherDynamoDbLocals(),
    loadAverageAtEnd: [],
    otherDynamoDbLocalAtEnd: [],
  };
  const stackMessages: string[] = [];
  const sendgridKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const crm = await startCrmReceiver(benchSecrets.crm);
  const started = performance.now();
  // Every handler runs wrapped by the cost meter: its duration, and whose SDK calls are whose.
  const meter = new CostMeter();
  let stack: BenchContext['stack'];
  try {
    stack = await benchStack(
      {
        EVENTS_WEBHOOK_SECRET: benchSecrets.events,
        TRACKING_WRITE_KEY: benchSecrets.trackingWriteKey,
        SENDGRID_WEBHOOK_PUBLIC_KEY: sendgridKeys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
        CRM_ADAPTER: 'webhook',
        CRM_WEBHOOK_URL: crm.url,
        CRM_WEBHOOK_SECRET: benchSecrets.crm,
        LOG_LEVEL: params.logLevel,
      },
      (message) => {
        stackMessages.push(message);
        if (stackMessages.length <= 5) console.error(message);
      },
      { loadHandler: meter.loadHandler },
    );
  } catch (error) {
    await crm.close();
    throw error;
  }
  const startupSeconds = (performance.now() - started) / 1000;
  const javaPid = dynamoDbLocalChildren()[0];

  // The handlers run in this process: the pipeline they build from the environment (set by the stack
  // now; the module loads the model when imported) is this one, on the clients of lib/runtime/aws.ts.
  const { pipelineFromEnv } = await import('../../lib/ingest/from-env.ts');
  const ctx: BenchContext = {
    ...run,
    stack,
    crm,
    pipeline: pipelineFromEnv(),
    sendgridKey: sendgridKeys.privateKey,
    events: eventsSender(stack.urls, benchSecrets.events, Math.max(params.concurrency, params.handoffBurstConcurrency)),
    probes: {
      sizer: new TransactionSizer(dynamo()),
      storeTimer: new CommandTimer(dynamo(), 'benchStoreTimer'),
      queueTimer: new CommandTimer(sqs(), 'benchQueueTimer'),
      enqueueClock: new EnqueueClock(sqs()),
      receiveClock: new ReceiveClock(stack.sqs),
      meter,
    },
    cpu: cpuMeter(javaPid),
    leadEmail: (kind, index) => `${kind}-${index}-${run.runId}@acme-bench.example.com`,
  };
  meter.attachDynamo(dynamo());
  meter.attachSqs(sqs(), 'functions');
  meter.attachSqs(stack.sqs, 'poller');
  return { ctx, figures: { startupSeconds, machineLoad, stackMessages } };
}

export interface ShutdownFigures {
  seconds: number;
  javaPidsBefore: number[];
  javaLeft: number[];
}

/** Stops the stack and the receiver; DynamoDB Local's Java must be gone after it. Notes the load at the end first. */
export async function stopStack(ctx: BenchContext, machineLoad: MachineLoad): Promise<ShutdownFigures> {
  machineLoad.loadAverageAtEnd = loadAverage();
  machineLoad.otherDynamoDbLocalAtEnd = otherDynamoDbLocals();
  const javaBefore = dynamoDbLocalChildren();
  const started = performance.now();
  ctx.events.close();
  await ctx.stack.stop();
  resetClients();
  await ctx.crm.close();
  const seconds = (performance.now() - started) / 1000;
  for (let i = 0; i < 50 && javaBefore.some(isAlive); i++) await sleep(100);
  const javaLeft = [...new Set([...javaBefore.filter(isAlive), ...dynamoDbLocalChildren()])];
  if (javaBefore.length === 0) ctx.errors.push('could not find the DynamoDB Local process to check it is gone');
  if (javaLeft.length > 0) ctx.errors.push(`DynamoDB Local still running after stop: pid ${javaLeft.join(', ')}`);
  return { seconds: round(seconds, 2), javaPidsBefore: javaBefore, javaLeft };
}

export const stackLines = (figures: StackFigures, javaToolOptions: string): string[] => [
  `1. stack started in ${fmt(figures.startupSeconds, 2)} s (DynamoDB Local in memory, JAVA_TOOL_OPTIONS ${javaToolOptions})`,
];

export function stopLines(shutdown: ShutdownFigures, figures: StackFigures): string[] {
  const { machineLoad } = figures;
  const others = [...new Set([...machineLoad.otherDynamoDbLocalAtStart, ...machineLoad.otherDynamoDbLocalAtEnd])];
  return [
    `stopped in ${fmt(shutdown.seconds, 2)} s; DynamoDB Local pid ${shutdown.javaPidsBefore.join(', ') || '?'} ${shutdown.javaLeft.length === 0 ? 'gone' : `STILL RUNNING (${shutdown.javaLeft.join(', ')})`}; ${figures.stackMessages.length} stack log line(s)`,
    `machine load average ${machineLoad.loadAverageAtStart.join('/')} at start, ${machineLoad.loadAverageAtEnd.join('/')} at end${others.length > 0 ? `; WARNING: another DynamoDB Local was running (pid ${others.join(', ')}): figures are skewed` : ''}`,
  ];
}
