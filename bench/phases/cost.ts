/**
 * Dollars per million events (issue 12): what the handlers of this run used, measured invocation by
 * invocation (support/cost-meter.ts), priced with bench/prices.json (support/cost-model.ts).
 *
 * - single: BENCH_COST_EVENTS (default 200) signed Segment page views through POST /webhooks/events, one
 *   at a time (one request per Lambda instance, as in AWS), to the leads of the events phase;
 * - batched: BENCH_COST_SENDGRID_BATCHES (default 2) SendGrid deliveries of the sendgrid phase's shape
 *   (1,000 events over 300 fresh leads), one at a time;
 * - a handoff's share: everything the handoff phase's MQLs cost on top of their events (the handoff
 *   function, its ledger writes, the handoff queue's requests, the lead's confirmQueued), per MQL, times
 *   BENCH_COST_MQLS_PER_1000_EVENTS (default 10: one MQL per 100 events, more than a real funnel).
 *
 * Both runs log at INFO, the stack's production level (cdk/config.ts), into a counter instead of the
 * terminal. Handler times include DynamoDB Local's latency, which is higher than DynamoDB's.
 */
import { performance } from 'node:perf_hooks';
import { logger } from '../../lib/runtime/logger.ts';
import { defaultRawRetentionDays } from '../../lib/store/retention.ts';
import type { BenchContext } from '../context.ts';
import type { InvocationUse, PollerCall } from '../support/cost-meter.ts';
import {
  addShare,
  type Cost,
  costPerMillion,
  gbSeconds,
  loadPrices,
  meteredApiRequests,
  type Prices,
  type Service,
  services,
  type Usage,
} from '../support/cost-model.ts';
import { envInt } from '../support/env.ts';
import { httpPoster } from '../support/http.ts';
import { accessLogFormat, loggedBytes } from '../support/log-lines.ts';
import { pageViewTrack, sendgridBatch, sendgridSigned } from '../support/messages.ts';
import { fmt } from '../support/report.ts';
import { prng, round, type Summary, summarize } from '../support/stats.ts';

/** Goals of issue 12, dollars per million events. */
export const costGoals = { single: 3, batched: 1.5 } as const;

/** Days in a billing month, for GB-months. */
const daysPerMonth = 30.44;

/** Where the meter stood: the invocations and poller calls after it belong to a window. */
export interface MeterMark {
  invocations: number;
  poller: number;
  at: number;
}
export const meterMark = (ctx: BenchContext): MeterMark => ({
  invocations: ctx.probes.meter.invocations.length,
  poller: ctx.probes.meter.poller.length,
  at: performance.now(),
});
const since = (ctx: BenchContext, mark: MeterMark) => ({
  invocations: ctx.probes.meter.invocations.slice(mark.invocations),
  poller: ctx.probes.meter.poller.slice(mark.poller),
});

const sum = <T>(items: readonly T[], value: (item: T) => number) => items.reduce((total, item) => total + value(item), 0);
const total = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0);

/** How many months the table keeps what an item kind adds: raw payloads until their TTL, the rest past the first month. */
function monthsKept(kind: string, rawRetentionDays: number): number {
  return kind === 'raw' ? Math.min(1, rawRetentionDays / daysPerMonth) : 1;
}

/** Bytes an invocation added to the table, with DynamoDB's per-item overhead, by kind. */
function addedBytes(use: InvocationUse, prices: Prices): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kind of new Set([...Object.keys(use.addedBytes), ...Object.keys(use.newItems)]))
    out[kind] = (use.addedBytes[kind] ?? 0) + (use.newItems[kind] ?? 0) * prices.dynamodb.itemOverheadBytes;
  return out;
}

/** The usage of a set of invocations and poller calls, for `events` events. */
export function usageOf(
  invocations: readonly InvocationUse[],
  poller: readonly PollerCall[],
  events: number,
  prices: Prices,
  extra: { writeUnits?: number; sqsRequests?: number } = {},
): Usage & { storedBytesByKind: Record<string, number>; recurringBytes: number } {
  const format = accessLogFormat();
  const rawDays = Number(process.env.RAW_RETENTION_DAYS) || defaultRawRetentionDays;
  const storedBytesByKind: Record<string, number> = {};
  for (const use of invocations)
    for (const [kind, bytes] of Object.entries(addedBytes(use, prices))) storedBytesByKind[kind] = (storedBytesByKind[kind] ?? 0) + bytes;
  return {
    events,
    lambda: { invocations: invocations.length, gbSeconds: sum(invocations, (use) => gbSeconds(use.ms, use.memoryMb)) },
    apiRequests: sum(invocations, (use) =>
      use.http ? meteredApiRequests(use.http.requestBytes + use.http.responseBytes, prices.apiGatewayHttp.meteringUnitBytes) : 0,
    ),
    dynamodb: {
      writeUnits: sum(invocations, (use) => total(use.writeUnits) + use.cancelledWriteUnits) + (extra.writeUnits ?? 0),
      readUnits: sum(invocations, (use) => total(use.readUnits)),
    },
    sqsRequests: sum(invocations, (use) => use.sqsRequests) + sum(poller, (call) => call.requests) + (extra.sqsRequests ?? 0),
    logBytes: sum(invocations, (use) => loggedBytes(use, format)),
    tracedInvocations: invocations.length,
    storedByteMonths: Object.entries(storedBytesByKind).reduce((months, [kind, bytes]) => months + Math.max(0, bytes) * monthsKept(kind, rawDays), 0),
    storedBytesByKind,
    recurringBytes: Object.entries(storedBytesByKind).reduce((kept, [kind, bytes]) => kept + (kind === 'raw' ? 0 : Math.max(0, bytes)), 0),
  };
}

export interface CostCase {
  shape: string;
  events: number;
  invocations: number;
  handlerMs: Summary;
  memoryMb: number;
  perEvent: {
    invocations: number;
    gbSeconds: number;
    apiRequests: number;
    writeUnits: number;
    readUnits: number;
    sqsRequests: number;
    logBytes: number;
    storedBytes: Record<string, number>;
    /** Request units by DynamoDB command; cancelled transactions; writes of items of unknown size (counted at 1 KB). */
    writeUnitsByCommand: Record<string, number>;
    readUnitsByCommand: Record<string, number>;
    cancelledWriteUnits: number;
    unknownSizeWrites: number;
  };
  /** The events' own cost, per million. */
  own: Cost;
  /** With the handoff share: the figure compared with the goal. */
  withHandoffs: Cost;
  goal: number;
  ratioToGoal: number;
  /** Dollars each further month per million events, while event items are kept (EVENT_RETENTION_DAYS). */
  storageEachFurtherMonth: number;
}

function costCase(shape: string, invocations: readonly InvocationUse[], prices: Prices, handoffShare: Cost, share: number, goal: number): CostCase {
  const events = sum(invocations, (use) => use.http?.stored ?? 0);
  const usage = usageOf(invocations, [], events, prices);
  const own = costPerMillion(usage, prices);
  // The handoff share is per million MQLs: `share` MQLs per event.
  const withHandoffs = addShare(own, share, handoffShare);
  const per = (value: number) => (events > 0 ? value / events : Number.NaN);
  return {
    shape,
    events,
    invocations: invocations.length,
    handlerMs: summarize(invocations.map((use) => use.ms)),
    memoryMb: invocations[0]?.memoryMb ?? 0,
    perEvent: {
      invocations: round(per(usage.lambda.invocations), 4),
      gbSeconds: round(per(usage.lambda.gbSeconds), 6),
      apiRequests: round(per(usage.apiRequests), 4),
      writeUnits: round(per(usage.dynamodb.writeUnits), 2),
      readUnits: round(per(usage.dynamodb.readUnits), 2),
      sqsRequests: round(per(usage.sqsRequests), 4),
      logBytes: round(per(usage.logBytes), 1),
      storedBytes: Object.fromEntries(Object.entries(usage.storedBytesByKind).map(([kind, bytes]) => [kind, round(per(bytes), 0)])),
      writeUnitsByCommand: perCommand(invocations, 'writeUnits', per),
      readUnitsByCommand: perCommand(invocations, 'readUnits', per),
      cancelledWriteUnits: round(per(sum(invocations, (use) => use.cancelledWriteUnits)), 3),
      unknownSizeWrites: round(per(sum(invocations, (use) => use.unknownSizeWrites)), 3),
    },
    own: rounded(own),
    withHandoffs: rounded(withHandoffs),
    goal,
    ratioToGoal: round(withHandoffs.perMillion / goal, 3),
    storageEachFurtherMonth: round(
      ((usage.recurringBytes / 1024 ** 3) * (prices.dynamodb.storagePerGbMonth + prices.dynamodb.pitrPerGbMonth) * 1e6) / Math.max(1, events),
      4,
    ),
  };
}

function perCommand(invocations: readonly InvocationUse[], field: 'writeUnits' | 'readUnits', per: (value: number) => number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const use of invocations) for (const [command, units] of Object.entries(use[field])) out[command] = (out[command] ?? 0) + units;
  return Object.fromEntries(Object.entries(out).map(([command, units]) => [command, round(per(units), 3)]));
}

const rounded = (cost: Cost): Cost => ({
  perMillion: round(cost.perMillion, 4),
  byService: Object.fromEntries(services.map((service) => [service, round(cost.byService[service], 4)])) as Record<Service, number>,
});

/** What the handoff phase's MQLs cost on top of their events, per MQL: its window of the meter. */
export function handoffUsage(ctx: BenchContext, mark: MeterMark, mqls: number, prices: Prices) {
  const { invocations, poller } = since(ctx, mark);
  const handoffs = invocations.filter((use) => use.fn === 'handoff');
  // The qualifying deliveries: the queue's send, and the writes after the delivery's own (its transaction
  // or its lead-first puts: lib/store/lead-first.ts), which is confirmQueued's UpdateItem.
  const qualifying = invocations.filter((use) => use.fn !== 'handoff' && use.handoffSqsRequests > 0);
  const extra = {
    sqsRequests: sum(qualifying, (use) => use.handoffSqsRequests),
    writeUnits: sum(qualifying, (use) => total(use.writeUnits) - (use.writeUnits.TransactWriteItems ?? 0) - (use.writeUnits.PutItem ?? 0)),
  };
  const usage = usageOf(
    handoffs,
    poller.filter((call) => call.queue === 'handoff' && (call.command !== 'ReceiveMessage' || call.messages > 0)),
    mqls,
    prices,
    extra,
  );
  return {
    mqls,
    handoffInvocations: handoffs.length,
    qualifyingDeliveries: qualifying.length,
    emptyReceivesLeftOut: poller.filter((call) => call.queue === 'handoff' && call.command === 'ReceiveMessage' && call.messages === 0).length,
    perMql: {
      invocations: round(usage.lambda.invocations / Math.max(1, mqls), 3),
      gbSeconds: round(usage.lambda.gbSeconds / Math.max(1, mqls), 5),
      writeUnits: round(usage.dynamodb.writeUnits / Math.max(1, mqls), 2),
      readUnits: round(usage.dynamodb.readUnits / Math.max(1, mqls), 2),
      sqsRequests: round(usage.sqsRequests / Math.max(1, mqls), 2),
      logBytes: round(usage.logBytes / Math.max(1, mqls), 0),
    },
    /** Dollars per million MQLs. */
    cost: rounded(costPerMillion(usage, prices)),
  };
}
export type HandoffCost = ReturnType<typeof handoffUsage>;

export interface CostFigures {
  prices: { region: string; readOn: string; file: string };
  mqlsPerEvent: number;
  single: CostCase;
  batched: CostCase;
  handoff: HandoffCost;
  /** The rule-based WCU per single event of the capacity phase (TransactWriteItems only), for comparison. */
  capacityPhaseEstimatedWcuPerEvent: number;
  notes: string[];
}

/** Runs the single and batched deliveries with the meter on, and prices them with the handoff phase's share. */
export async function costPerMillionEvents(ctx: BenchContext, handoffMark: MeterMark, mqls: number, capacityWcuPerEvent: number): Promise<CostFigures> {
  const { params } = ctx;
  const prices = loadPrices();
  const singles = envInt('BENCH_COST_EVENTS', 200);
  const batches = envInt('BENCH_COST_SENDGRID_BATCHES', 2);
  const mqlsPerEvent = envInt('BENCH_COST_MQLS_PER_1000_EVENTS', 10) / 1000;
  const handoff = handoffUsage(ctx, handoffMark, mqls, prices);

  const random = prng(params.seed + 12);
  logger.setLogLevel('INFO');
  const release = ctx.probes.meter.captureLogs();
  const singleMark = meterMark(ctx);
  let batchMark = singleMark;
  const poster = httpPoster(ctx.stack.urls['POST /webhooks/sendgrid']!, 1);
  try {
    for (let index = 0; index < singles && !ctx.overBudget(); index++) {
      const answer = await ctx.events.deliver(pageViewTrack(ctx.leadEmail('lead', Math.floor(random() * params.leads)), index));
      if (answer.status !== 200) ctx.errors.push(`cost: a single delivery answered ${answer.status}: ${answer.text.slice(0, 200)}`);
    }
    batchMark = meterMark(ctx);
    for (let index = 0; index < batches && !ctx.overBudget(); index++) {
      const leads = Array.from({ length: params.sendgridBatchLeads }, (_, lead) => ctx.leadEmail(`sg-cost${index}`, lead));
      const delivery = sendgridSigned(sendgridBatch(leads, params.sendgridBatchEvents), ctx.sendgridKey);
      const answer = await poster.post(delivery.body, delivery.headers);
      if (answer.status !== 200) ctx.errors.push(`cost: a SendGrid batch answered ${answer.status}: ${answer.text.slice(0, 200)}`);
    }
  } finally {
    poster.close();
    release();
    logger.setLogLevel(params.logLevel as 'ERROR');
  }
  const singleInvocations = ctx.probes.meter.invocations.slice(singleMark.invocations, batchMark.invocations).filter((use) => use.fn === 'ingest-events');
  const batchInvocations = ctx.probes.meter.invocations.slice(batchMark.invocations).filter((use) => use.fn === 'ingest-sendgrid');
  const single = costCase(
    'one signed Segment page view per POST /webhooks/events, one at a time, over the events phase leads',
    singleInvocations,
    prices,
    handoff.cost,
    mqlsPerEvent,
    costGoals.single,
  );
  const batched = costCase(
    `${params.sendgridBatchEvents} SendGrid events over ${params.sendgridBatchLeads} fresh leads per POST /webhooks/sendgrid, one at a time`,
    batchInvocations,
    prices,
    handoff.cost,
    mqlsPerEvent,
    costGoals.batched,
  );
  if (single.events < singles) ctx.errors.push(`cost: ${single.events} of ${singles} single events stored`);
  if (batched.events < batches * params.sendgridBatchEvents)
    ctx.errors.push(`cost: ${batched.events} of ${batches * params.sendgridBatchEvents} batched events stored`);
  return {
    prices: { region: prices.region, readOn: prices.readOn, file: 'bench/prices.json' },
    mqlsPerEvent,
    single,
    batched,
    handoff,
    capacityPhaseEstimatedWcuPerEvent: capacityWcuPerEvent,
    notes: [
      'Handler times are measured on the local stack: DynamoDB Local answers slower than DynamoDB, so the Lambda line is an upper bound; cold starts (INIT, billed) are not in it.',
      'Write units by the published rules: 2 WRU per started KB of each item of a transaction (condition checks included, at the item size or 1 KB), 1 per KB of a plain write, the due index 1 per KB; cancelled transactions counted as billed.',
      'Storage is the first month of what the events add (item bytes + 100 B per new item, PITR on top); event items are kept until EVENT_RETENTION_DAYS (default: kept), so they cost storageEachFurtherMonth every later month.',
      'Fixed monthly costs are left out: the event-source mapping polling an idle queue, the X-Ray reservoir (one trace a second), secrets, alarms, the dashboard.',
    ],
  };
}

export function costLines(cost: CostFigures): string[] {
  const money = (value: number) => `$${fmt(value, 3)}`;
  const breakdown = (c: Cost) =>
    services
      .filter((service) => c.byService[service] >= 0.0005)
      .map((service) => `${service} ${money(c.byService[service])}`)
      .join(', ');
  const row = (name: string, c: CostCase) => [
    `  ${name.padEnd(8)} ${money(c.withHandoffs.perMillion)} per million events (goal ${money(c.goal)}: ${fmt(c.ratioToGoal, 2)}× the goal); own ${money(c.own.perMillion)} + handoffs`,
    `           ${breakdown(c.withHandoffs)}`,
    `           per event: ${fmt(c.perEvent.invocations, 3)} invocations of ${c.memoryMb} MB, handler p50 ${fmt(c.handlerMs.p50, 1)} ms mean ${fmt(c.handlerMs.mean, 1)} ms (${fmt(c.perEvent.gbSeconds * 1e6, 1)} GB-µs), ${fmt(c.perEvent.apiRequests, 3)} API requests, ${fmt(c.perEvent.writeUnits, 2)} WRU, ${fmt(c.perEvent.readUnits, 2)} RRU, ${fmt(c.perEvent.sqsRequests, 3)} SQS requests, ${fmt(c.perEvent.logBytes, 0)} B logged; stored ${Object.entries(
      c.perEvent.storedBytes,
    )
      .map(([kind, bytes]) => `${kind} ${bytes} B`)
      .join(', ')}; ${money(c.storageEachFurtherMonth)} each further month`,
  ];
  const h = cost.handoff;
  return [
    `cost per million events (prices of ${cost.prices.readOn}, ${cost.prices.region}, ${cost.prices.file})`,
    ...row('single', cost.single),
    ...row('batched', cost.batched),
    `  a handoff: ${money(h.cost.perMillion)} per million MQLs (${h.mqls} MQLs: ${fmt(h.perMql.invocations, 2)} handoff invocations, ${fmt(h.perMql.writeUnits, 1)} WRU, ${fmt(h.perMql.readUnits, 1)} RRU, ${fmt(h.perMql.sqsRequests, 1)} SQS requests each), counted at ${fmt(cost.mqlsPerEvent * 1000, 0)} MQLs per 1,000 events`,
    `  WRU per single event here ${fmt(cost.single.perEvent.writeUnits, 2)} (all writes, the rule); the capacity phase's rule estimate ${fmt(cost.capacityPhaseEstimatedWcuPerEvent, 2)} (its lead writes: transactions and lead-first puts)`,
  ];
}
