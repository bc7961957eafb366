/**
 * What the phases of `npm run bench` share: the parameters (BENCH_* variables), the run's errors and
 * time budget, the stack with its CRM receiver, the SDK instruments and the signed senders. The stack
 * phase (phases/stack.ts) builds it; the other entry points (decay.ts, rescore.ts, handoff.ts) take
 * the parts they need.
 */
import { type KeyObject, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../lib/local/stack.ts';
import type { CrmReceiver } from '../lib/local/stand-ins/crm-receiver.ts';
import type { StoreStats } from '../lib/store/repository.ts';
import type { CostMeter } from './support/cost-meter.ts';
import { envInt } from './support/env.ts';
import type { EventsSender } from './support/http.ts';
import type { CommandTimer, EnqueueClock, ReceiveClock, TransactionSizer } from './support/instrument.ts';
import type { cpuMeter } from './support/processes.ts';

export function benchParams(env: NodeJS.ProcessEnv = process.env) {
  const int = (name: string, fallback: number) => envInt(name, fallback, env);
  return {
    /** Measured single-event deliveries (events phase), after `warmupEvents`. */
    events: int('BENCH_EVENTS', 2000),
    warmupEvents: int('BENCH_WARMUP_EVENTS', 200),
    warmupLeads: int('BENCH_WARMUP_LEADS', 40),
    /** Requests (events phase) and transactions (ceiling phase) in flight. */
    concurrency: int('BENCH_CONCURRENCY', 16),
    /** Leads the measured events are spread over, at random (some contention). */
    leads: int('BENCH_LEADS', 200),
    ceilingTransactions: int('BENCH_CEILING_TRANSACTIONS', 2000),
    ceilingWarmup: int('BENCH_CEILING_WARMUP', 300),
    ceilingSerialTransactions: int('BENCH_CEILING_SERIAL_TRANSACTIONS', 400),
    /** Fresh leads sent through the worked example one at a time (handoff phase), then as many at `handoffBurstConcurrency`. */
    handoffLeads: int('BENCH_HANDOFF_LEADS', 40),
    handoffBurstConcurrency: int('BENCH_HANDOFF_BURST_CONCURRENCY', 8),
    handoffTimeoutSeconds: int('BENCH_HANDOFF_TIMEOUT_SECONDS', 30),
    /** SendGrid batches, each of fresh leads, after `sendgridWarmupBatches`; the first `sendgridRedeliveries` are then delivered again. */
    sendgridBatches: int('BENCH_SENDGRID_BATCHES', 5),
    sendgridRedeliveries: int('BENCH_SENDGRID_REDELIVERIES', 2),
    sendgridWarmupBatches: int('BENCH_SENDGRID_WARMUP_BATCHES', 1),
    sendgridBatchEvents: int('BENCH_SENDGRID_BATCH_EVENTS', 1000),
    sendgridBatchLeads: int('BENCH_SENDGRID_BATCH_LEADS', 300),
    /** POST /v1/batch through @segment/analytics-node: batches of `trackingBatchEvents` (its flushAt) over `trackingBatchLeads` fresh leads, one at a time, after `trackingWarmupBatches`. */
    trackingBatches: int('BENCH_TRACKING_BATCHES', 20),
    trackingBatchEvents: int('BENCH_TRACKING_BATCH_EVENTS', 100),
    trackingBatchLeads: int('BENCH_TRACKING_BATCH_LEADS', 30),
    trackingWarmupBatches: int('BENCH_TRACKING_WARMUP_BATCHES', 1),
    seed: int('BENCH_SEED', 20240514),
    /** Phases stop taking work after this; the run is then reported as failed (about 2.5× a run on an idle 2-core machine). */
    timeBudgetSeconds: int('BENCH_TIME_BUDGET_SECONDS', 240),
    /** Set as LOG_LEVEL by support/log-level.ts, before the handlers' logger loads. */
    logLevel: env.BENCH_LOG_LEVEL ?? 'ERROR',
  };
}
export type BenchParams = ReturnType<typeof benchParams>;

/** Fake secrets, for this process only. */
export const benchSecrets = {
  events: `whsec_${Buffer.from('mql-bench-events-webhook-secret-0001').toString('base64')}`,
  crm: `whsec_${Buffer.from('mql-bench-crm-webhook-secret-00000001').toString('base64')}`,
  /** TRACKING_WRITE_KEY: the write key analytics-node sends (bench/phases/tracking.ts). */
  trackingWriteKey: 'wk_bench_only_tracking_write_key_0001',
};

/** The local stack as the benchmarks run it: in memory, any free port, no schedule timers. */
export function benchStack(
  env: Readonly<Record<string, string>>,
  log: (message: string) => void = () => {},
  options: Pick<LocalStackOptions, 'loadHandler' | 'queues'> = {},
): Promise<LocalStack> {
  return startLocalStack({ port: 0, schedules: false, env, log, ...options });
}

/**
 * A last resort: a wedged run must not hang CI (the exit hook of lib/local/dynamodb.ts kills Java).
 * `arm` replaces the previous deadline.
 */
export function watchdog(): { arm(seconds: number, message: string): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    arm(seconds, message) {
      clearTimeout(timer);
      timer = setTimeout(() => {
        console.error(`bench: ${message}; giving up`);
        process.exit(2);
      }, seconds * 1000);
      timer.unref();
    },
  };
}

/** A run of the bench before its stack: parameters, errors, the time budget. */
export interface BenchRun {
  params: BenchParams;
  /** Part of every lead's e-mail: runs never share leads. */
  runId: string;
  /** Problems found; any one makes the run fail (exit code 1). */
  errors: string[];
  /** performance.now() at the start of the run. */
  startedAt: number;
  /** Whether the time budget is spent: phases stop taking work. */
  overBudget(): boolean;
  watchdog: ReturnType<typeof watchdog>;
}

export function beginRun(params: BenchParams): BenchRun {
  const startedAt = performance.now();
  const dog = watchdog();
  dog.arm(params.timeBudgetSeconds + 60, `still running after ${params.timeBudgetSeconds + 60} s`);
  return {
    params,
    runId: randomUUID().slice(0, 8),
    errors: [],
    startedAt,
    overBudget: () => (performance.now() - startedAt) / 1000 > params.timeBudgetSeconds,
    watchdog: dog,
  };
}

/** What every phase after the stack's works with. */
export interface BenchContext extends BenchRun {
  stack: LocalStack;
  /** The CRM end of CRM_ADAPTER=webhook: verifies each signature, notes when each handoff arrived. */
  crm: CrmReceiver;
  /** The pipeline the handlers build from the environment, in this process: what the bench reads of it, its store's counters. */
  pipeline: { store: { readonly stats: StoreStats } };
  /** Signs SendGrid deliveries; the stack has its public key. */
  sendgridKey: KeyObject;
  /** Signed POST /webhooks/events. */
  events: EventsSender;
  /** Read-only middleware on the handlers' SDK clients (support/instrument.ts). */
  probes: {
    sizer: TransactionSizer;
    storeTimer: CommandTimer;
    queueTimer: CommandTimer;
    enqueueClock: EnqueueClock;
    receiveClock: ReceiveClock;
    /** What each invocation uses, for the cost model (phases/cost.ts). */
    meter: CostMeter;
  };
  /** CPU of a phase: this process and DynamoDB Local's Java. */
  cpu: ReturnType<typeof cpuMeter>;
  leadEmail(kind: string, index: number): string;
}
