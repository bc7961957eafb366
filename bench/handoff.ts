/**
 * CRM delivery measured: `npm run bench:handoff`. The in-memory local stack (its own DynamoDB Local)
 * with CRM_ADAPTER=hubspot against the HubSpot stand-in, properties created by `setupHubSpot` first.
 *
 * - burst: BENCH_HANDOFF_MQLS (default 200) leads each post the worked example (identify, case study,
 *   webinar: the third event makes the MQL), 16 leads at a time;
 * - trickle: BENCH_HANDOFF_TRICKLE (default 20) leads one after the other, 500 ms apart (a quiet
 *   afternoon: the batch window is most of the latency).
 *
 * Latency of an MQL: from the response to its qualifying event (POST /webhooks/events answered) to the
 * moment the stand-in set the contact's lifecyclestage to marketingqualifiedlead (its property history).
 * Calls per MQL: HTTP requests the stand-in answered during the phase (batch read + batch upsert, 429s
 * included) over the MQLs delivered. The figures go into bench/handoff-results.json.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setupHubSpot } from '../lib/crm/hubspot-setup.ts';
import { startLocalStack } from '../lib/local/stack.ts';
import { startHubSpotStandIn } from '../lib/local/stand-ins/hubspot.ts';
import { queues } from '../lib/topology.ts';
import { eventsSecret } from '../test/setup/signed.ts';
import { httpPoster, pool, round, type Summary, signed, summarize, workedExample } from './support.ts';

const token = 'pat-na1-00000000-bench-only-0000-000000000000';

export interface HandoffPhaseResult {
  mqls: number;
  delivered: number;
  /** Milliseconds from the qualifying event's response to the contact's MQL stage in HubSpot. */
  latencyMs: Summary;
  calls: number;
  callsPerMql: number;
  callsByStatus: Record<string, number>;
  /** Upsert calls and the contacts each carried on average. */
  upsertCalls: number;
  contactsPerUpsert: number;
  seconds: number;
}

async function phase(
  stack: Awaited<ReturnType<typeof startLocalStack>>,
  hubspot: Awaited<ReturnType<typeof startHubSpotStandIn>>,
  name: string,
  count: number,
  concurrency: number,
  gapMs: number,
): Promise<HandoffPhaseResult> {
  const poster = httpPoster(stack.urls['POST /webhooks/events']!, concurrency);
  const firstCall = hubspot.calls.length;
  const started = performance.now();
  const qualifiedAt = new Map<string, number>();
  const run = `${name}-${Date.now().toString(36)}`;
  try {
    await pool(count, concurrency, async (index) => {
      const email = `${run}-${index}@bench.example.com`;
      let answeredAt = 0;
      for (const message of workedExample(email)) {
        const { body, headers } = signed(message, eventsSecret);
        const answer = await poster.post(body, headers);
        if (answer.status !== 200) throw new Error(`POST /webhooks/events answered ${answer.status}: ${answer.text}`);
        answeredAt = Date.now();
      }
      qualifiedAt.set(email, answeredAt);
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    });
    const deadline = Date.now() + 300_000;
    const inHubSpot = (email: string) =>
      hubspot
        .contacts()
        .get(email)
        ?.history.find((change) => change.property === 'lifecyclestage' && change.to === 'marketingqualifiedlead')?.at;
    while ([...qualifiedAt.keys()].some((email) => inHubSpot(email) === undefined) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await stack.drain({ timeoutMs: 120_000 });
    const latencies = [...qualifiedAt].flatMap(([email, at]) => {
      const arrived = inHubSpot(email);
      return arrived === undefined ? [] : [arrived - at];
    });
    const calls = hubspot.calls.slice(firstCall);
    const callsByStatus: Record<string, number> = {};
    for (const call of calls) callsByStatus[call.status] = (callsByStatus[call.status] ?? 0) + 1;
    const upserts = calls.filter((call) => call.path.endsWith('/batch/upsert') && call.status < 300).length;
    return {
      mqls: count,
      delivered: latencies.length,
      latencyMs: summarize(latencies),
      calls: calls.length,
      callsPerMql: round(calls.length / Math.max(1, latencies.length), 3),
      callsByStatus,
      upsertCalls: upserts,
      contactsPerUpsert: round(latencies.length / Math.max(1, upserts), 1),
      seconds: round((performance.now() - started) / 1000, 1),
    };
  } finally {
    poster.close();
  }
}

function lines(name: string, result: HandoffPhaseResult): string[] {
  const { latencyMs: l } = result;
  return [
    `${name}: ${result.delivered}/${result.mqls} MQLs in HubSpot in ${result.seconds} s`,
    `  latency event response -> HubSpot contact: p50 ${l.p50} ms, p95 ${l.p95} ms, max ${l.max} ms`,
    `  HubSpot calls: ${result.calls} (${Object.entries(result.callsByStatus)
      .map(([status, n]) => `${n} x ${status}`)
      .join(', ')}), ${result.callsPerMql} per MQL; ${result.upsertCalls} upserts of ${result.contactsPerUpsert} contacts on average`,
  ];
}

if (import.meta.main) {
  const mqls = Number(process.env.BENCH_HANDOFF_MQLS ?? 200);
  const trickle = Number(process.env.BENCH_HANDOFF_TRICKLE ?? 20);
  const hubspot = await startHubSpotStandIn({ token });
  await setupHubSpot({ token, baseUrl: hubspot.url });
  const stack = await startLocalStack({
    port: 0,
    schedules: false,
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'hubspot', HUBSPOT_BASE_URL: hubspot.url, HUBSPOT_ACCESS_TOKEN: token, LOG_LEVEL: 'ERROR' },
    log: () => {},
  });
  try {
    // One lead through first: cold handler modules and connections are not part of the figures.
    await phase(stack, hubspot, 'warmup', 1, 1, 0);
    const burst = await phase(stack, hubspot, 'burst', mqls, 16, 0);
    const slow = await phase(stack, hubspot, 'trickle', trickle, 1, 500);
    const handoffQueue = queues.find((queue) => queue.name === 'handoff')!;
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map((value) => round(value, 2)) },
      settings: { batchSize: handoffQueue.batchSize, batchWindowSeconds: handoffQueue.batchWindowSeconds, adapter: 'hubspot (stand-in)' },
      burst,
      trickle: slow,
    };
    writeFileSync(join(dirname(fileURLToPath(import.meta.url)), 'handoff-results.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      [
        `CRM handoff bench, ${result.date} (batch ${handoffQueue.batchSize}, window ${handoffQueue.batchWindowSeconds} s)`,
        ...lines(`burst of ${mqls}`, burst),
        ...lines(`trickle of ${trickle}`, slow),
      ].join('\n'),
    );
    const failures = [burst, slow].filter((r) => r.delivered !== r.mqls);
    process.exitCode = failures.length === 0 ? 0 : 1;
  } finally {
    await stack.stop();
    await hubspot.close();
  }
}
