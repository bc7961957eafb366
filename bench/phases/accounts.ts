/**
 * The account roll-up, measured (issue 15, "Measured"), on a stack of its own with the default model (which scores
 * accounts) and CRM_ADAPTER=webhook:
 *
 * 1. Write units per event: a stream of signed website events from `accounts` companies whose sizes run from 1 to
 *    50 people (3 to 6 events each, interleaved, `concurrency` at a time). The write and read request units of
 *    every call the two account functions make (account-members: member items and roll-up requests;
 *    account-rollup: account states, outboxes, member items left over), by AWS's rules (support/request-units.ts,
 *    what the cost meter counts per invocation), divided by the events stored; next to the ingest's own units per
 *    event. Goal: at most 0.5 WCU per event.
 * 2. Event -> account.mqa at the CRM: `latencyAccounts` companies each brought to one event short of qualifying
 *    (two engaged members), then one qualifying event each, one at a time; from the start of that event's request
 *    to the signed account.mqa's arrival at the CRM's webhook. Goal: p95 under 5 s.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { LocalStack } from '../../lib/local/stack.ts';
import type { CrmReceiver } from '../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../lib/local/stand-ins/crm-receiver.ts';
import { dynamo, resetClients, sqs } from '../../lib/runtime/aws.ts';
import type { HandlerName } from '../../lib/topology.ts';
import { signedDelivery } from '../../test/setup/signed.ts';
import { benchSecrets, benchStack } from '../context.ts';
import { CostMeter } from '../support/cost-meter.ts';
import { envInt } from '../support/env.ts';
import { fmt, loadAverage } from '../support/report.ts';
import { pool, prng, round, sum, summarize } from '../support/stats.ts';

export interface AccountsBenchFigures {
  date: string;
  loadAverageAtStart: number[];
  accounts: number;
  /** Members per account, smallest to largest. */
  sizes: number[];
  people: number;
  events: number;
  /** Write request units of the account functions, per event stored (goal <= 0.5). */
  rollUpWcuPerEvent: number;
  rollUpRcuPerEvent: number;
  /** The ingest functions' own write units per event, for scale. */
  ingestWcuPerEvent: number;
  /** Invocations of each account function, and roll-ups of an account per event. */
  invocations: Record<string, number>;
  accountsQualified: number;
  latency: { accounts: number; p50Ms: number; p95Ms: number; maxMs: number };
  goals: { wcuPerEvent: number; p95Ms: number };
  seconds: number;
}

const accountFunctions: HandlerName[] = ['account-members', 'account-rollup'];
const titles = ['VP Engineering', 'Director of IT', 'IT Manager', 'Engineer', 'Analyst', 'Head of Data', 'CFO'];
const eventKinds = [
  { event: 'Page Viewed', properties: { url: 'https://vendor.example/pricing' } },
  { event: 'Email Opened', properties: {} },
  { event: 'Content Downloaded', properties: { contentType: 'guide' } },
  { event: 'Content Downloaded', properties: { contentType: 'case_study' } },
  { event: 'Webinar Attended', properties: {} },
];

/** Segment messages of one person: an identify with a title and the company, then `events`. */
function personMessages(email: string, title: string, events: typeof eventKinds, start: number): object[] {
  const at = (seconds: number) => new Date(start + seconds * 1000).toISOString();
  return [
    {
      type: 'identify',
      messageId: `identify-${randomUUID()}`,
      timestamp: at(0),
      userId: `user-${email}`,
      traits: { email, title, industry: 'Software', company: { name: 'Bench Co', employee_count: 800 } },
    },
    ...events.map((one, index) => ({
      type: 'track',
      event: one.event,
      messageId: `event-${randomUUID()}`,
      timestamp: at(index + 1),
      userId: `user-${email}`,
      context: { traits: { email } },
      properties: one.properties,
    })),
  ];
}

export async function accountsBench(env: NodeJS.ProcessEnv = process.env): Promise<{ figures?: AccountsBenchFigures; lines: string[]; errors: string[] }> {
  const errors: string[] = [];
  const accounts = envInt('BENCH_ACCOUNTS', 8, env);
  const latencyAccounts = envInt('BENCH_ACCOUNT_LATENCY', 12, env);
  const concurrency = envInt('BENCH_ACCOUNT_CONCURRENCY', 8, env);
  const random = prng(envInt('BENCH_SEED', 42, env));
  const started = performance.now();
  const loadAverageAtStart = loadAverage();
  const meter = new CostMeter();
  let crm: CrmReceiver | undefined;
  let stack: LocalStack | undefined;
  try {
    crm = await startCrmReceiver(benchSecrets.crm);
    resetClients();
    stack = await benchStack(
      {
        EVENTS_WEBHOOK_SECRET: benchSecrets.events,
        CRM_ADAPTER: 'webhook',
        CRM_WEBHOOK_URL: crm.url,
        CRM_WEBHOOK_SECRET: benchSecrets.crm,
        LOG_LEVEL: 'ERROR',
      },
      (message) => errors.push(`accounts: stack: ${message}`.slice(0, 300)),
      { loadHandler: meter.loadHandler },
    );
    meter.attachDynamo(dynamo());
    meter.attachSqs(sqs(), 'functions');
    const eventsUrl = stack.urls['POST /webhooks/events']!;
    const run = randomUUID().slice(0, 8);
    const post = async (messages: object[]): Promise<number> => {
      const id = `msg_${randomUUID()}`;
      for (let attempt = 1; ; attempt += 1) {
        const { body: payload, headers } = signedDelivery({ batch: messages }, { secret: benchSecrets.events, id });
        const answer = await fetch(eventsUrl, { method: 'POST', body: payload, headers: { ...headers, 'user-agent': 'mql-bench/1' } });
        const body = (await answer.json()) as { stored?: number; duplicates?: number };
        // A retry of a delivery the first attempt stored counts it as a duplicate: accepted once either way.
        if (answer.status === 200) return (body.stored ?? 0) + (body.duplicates ?? 0);
        if (attempt >= 5) {
          errors.push(`accounts: POST /webhooks/events answered ${answer.status}`);
          return 0;
        }
      }
    };

    // 1. The stream: companies of 1 to 50 people, each person's events in their own deliveries, interleaved.
    const sizes = Array.from({ length: accounts }, (_, index) => (index === 0 ? 1 : index === accounts - 1 ? 50 : 1 + Math.floor(random() * 50))).sort(
      (a, b) => a - b,
    );
    const deliveries: object[][] = [];
    let people = 0;
    const start = Date.now() - 3_600_000;
    sizes.forEach((size, company) => {
      for (let person = 0; person < size; person += 1) {
        people += 1;
        const email = `p${person}@bench-${run}-co${company}.com`;
        const count = 3 + Math.floor(random() * 4);
        const events = Array.from({ length: count }, () => eventKinds[Math.floor(random() * eventKinds.length)]!);
        const messages = personMessages(email, titles[person % titles.length]!, events, start + people * 1000);
        // The identify first, then each event alone: a website's events arrive one by one.
        deliveries.push([messages[0]!]);
        for (const message of messages.slice(1)) deliveries.push([message]);
      }
    });
    // Interleaved: every identify first (a person is known before their events), then the events shuffled.
    const order = deliveries.map((_, index) => index);
    for (let index = order.length - 1; index > 0; index -= 1) {
      const other = Math.floor(random() * (index + 1));
      [order[index], order[other]] = [order[other]!, order[index]!];
    }
    const firsts = new Set<number>();
    let stored = 0;
    const identifies = deliveries.map((delivery, index) => ((delivery[0] as { type: string }).type === 'identify' ? index : -1)).filter((index) => index >= 0);
    await pool(identifies.length, concurrency, async (index) => {
      stored += await post(deliveries[identifies[index]!]!);
      firsts.add(identifies[index]!);
    });
    const rest = order.filter((index) => !firsts.has(index));
    await pool(rest.length, concurrency, async (index) => {
      stored += await post(deliveries[rest[index]!]!);
    });
    await stack.drain({ timeoutMs: 300_000 });

    const uses = meter.invocations;
    const units = (names: readonly HandlerName[], kind: 'writeUnits' | 'readUnits') =>
      sum(uses.filter((use) => names.includes(use.fn)).map((use) => sum(Object.values(use[kind]))));
    const ingestNames = uses.filter((use) => use.fn.startsWith('ingest-')).map((use) => use.fn);
    const invocations: Record<string, number> = {};
    for (const use of uses) if (accountFunctions.includes(use.fn)) invocations[use.fn] = (invocations[use.fn] ?? 0) + 1;
    const qualified = crm.receivedAccounts.filter((handoff) => handoff.record.type === 'account.mqa').length;

    // 2. Latency: companies one event short of an MQA, then the qualifying event of each, one at a time.
    const latencies: number[] = [];
    for (let company = 0; company < latencyAccounts; company += 1) {
      const domain = `latency-${run}-${company}.com`;
      await post(personMessages(`vp@${domain}`, 'VP Engineering', [eventKinds[3]!], start));
      await post(personMessages(`director@${domain}`, 'Director of IT', [eventKinds[4]!], start + 1000));
    }
    await stack.drain({ timeoutMs: 120_000 });
    for (let company = 0; company < latencyAccounts; company += 1) {
      const domain = `latency-${run}-${company}.com`;
      const before = crm.receivedAccounts.length;
      const sent = performance.now();
      await post(personMessages(`manager@${domain}`, 'IT Manager', [eventKinds[4]!], Date.now() - 5000));
      const deadline = sent + 30_000;
      let arrived: number | undefined;
      while (performance.now() < deadline) {
        const found = crm.receivedAccounts.slice(before).find((handoff) => handoff.record.type === 'account.mqa' && handoff.accountKey === domain);
        if (found) {
          // The receiver's performance.now() when the body arrived: the same clock as `sent`.
          arrived = found.arrivedAt;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      if (arrived === undefined) errors.push(`accounts: no account.mqa for ${domain} within 30 s`);
      else latencies.push(arrived - sent);
    }
    const summary = summarize(latencies);
    const figures: AccountsBenchFigures = {
      date: new Date().toISOString(),
      loadAverageAtStart,
      accounts,
      sizes,
      people,
      events: stored,
      rollUpWcuPerEvent: round(units(accountFunctions, 'writeUnits') / Math.max(1, stored), 3),
      rollUpRcuPerEvent: round(units(accountFunctions, 'readUnits') / Math.max(1, stored), 3),
      ingestWcuPerEvent: round(units(ingestNames, 'writeUnits') / Math.max(1, stored), 3),
      invocations,
      accountsQualified: qualified,
      latency: { accounts: latencies.length, p50Ms: round(summary.p50, 0), p95Ms: round(summary.p95, 0), maxMs: round(summary.max, 0) },
      goals: { wcuPerEvent: 0.5, p95Ms: 5000 },
      seconds: round((performance.now() - started) / 1000, 1),
    };
    return { figures, lines: accountsLines(figures), errors };
  } catch (error) {
    errors.push(`accounts: ${(error as Error).message}`);
    return { lines: [], errors };
  } finally {
    await stack?.stop();
    await crm?.close();
  }
}

export function accountsLines(figures: AccountsBenchFigures): string[] {
  const { latency } = figures;
  return [
    `accounts: ${figures.accounts} companies of ${figures.sizes[0]}-${figures.sizes.at(-1)} people (${figures.people} people, ${figures.events} events): the roll-up wrote ${fmt(figures.rollUpWcuPerEvent, 3)} WCU per event (goal <= ${figures.goals.wcuPerEvent}; ${fmt(figures.rollUpWcuPerEvent / figures.goals.wcuPerEvent, 2)}x of it), read ${fmt(figures.rollUpRcuPerEvent, 2)} RCU per event; the ingest itself ${fmt(figures.ingestWcuPerEvent, 2)} WCU per event; ${figures.accountsQualified} account(s) qualified`,
    `  ${Object.entries(figures.invocations)
      .map(([fn, count]) => `${count} ${fn} invocations`)
      .join(', ')}`,
    `event -> account.mqa at the CRM (${latency.accounts} accounts, one at a time): p50 ${latency.p50Ms} ms, p95 ${latency.p95Ms} ms, max ${latency.maxMs} ms (goal p95 < ${figures.goals.p95Ms} ms; ${fmt(latency.p95Ms / figures.goals.p95Ms, 2)}x of it)`,
  ];
}
