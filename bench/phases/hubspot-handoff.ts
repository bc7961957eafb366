/**
 * CRM delivery through HubSpot: the local stack (its own DynamoDB Local) with CRM_ADAPTER=hubspot
 * against the HubSpot stand-in, properties created by `setupHubSpot` first (bench/handoff.ts runs it).
 *
 * - burst: BENCH_HANDOFF_MQLS (default 200) leads each post the worked example (identify, case study,
 *   webinar: the third event makes the MQL), 16 leads at a time;
 * - lone: BENCH_HANDOFF_LONE (default 20) leads one after the other, BENCH_HANDOFF_LONE_GAP_MS (default
 *   2,000) apart: longer than the handoff queue's batch window, so each MQL is alone in its batch and
 *   waits the whole window (a quiet afternoon).
 *
 * Latency of an MQL: from the moment its qualifying request (POST /webhooks/events) is sent to the moment
 * the stand-in set the contact's lifecyclestage to marketingqualifiedlead (its property history). Not from
 * the response: the handoff is queued before the response is written and can beat it.
 * Calls per MQL: HTTP requests the stand-in answered during the phase (batch read + batch upsert, 429s
 * included) over the MQLs delivered.
 */
import { performance } from 'node:perf_hooks';
import type { LocalStack } from '../../lib/local/stack.ts';
import type { startHubSpotStandIn } from '../../lib/local/stand-ins/hubspot.ts';
import { benchSecrets } from '../context.ts';
import { eventsSender } from '../support/http.ts';
import { round, type Summary, summarize, tally, waitUntil } from '../support/stats.ts';
import { latencyFromRequestStart, qualifyLeads } from './handoff-latency.ts';

type HubSpotStandIn = Awaited<ReturnType<typeof startHubSpotStandIn>>;

export interface HandoffPhaseResult {
  mqls: number;
  delivered: number;
  /** Milliseconds from the qualifying request's start to the contact's MQL stage in HubSpot. */
  latencyMs: Summary;
  calls: number;
  callsPerMql: number;
  callsByStatus: Record<string, number>;
  /** Upsert calls and the contacts each carried on average. */
  upsertCalls: number;
  contactsPerUpsert: number;
  seconds: number;
}

/** `count` leads qualified `concurrency` at a time (`gapMs` after each), until each is an MQL contact in the stand-in; problems go to `errors`. */
export async function hubspotHandoff(
  stack: LocalStack,
  hubspot: HubSpotStandIn,
  phase: { name: string; count: number; concurrency: number; gapMs: number },
  errors: string[],
): Promise<HandoffPhaseResult> {
  const events = eventsSender(stack.urls, benchSecrets.events, phase.concurrency);
  const firstCall = hubspot.calls.length;
  const started = performance.now();
  const run = `${phase.name}-${Date.now().toString(36)}`;
  try {
    const emails = Array.from({ length: phase.count }, (_, index) => `${run}-${index}@bench.example.com`);
    const { qualified } = await qualifyLeads(events, emails, { concurrency: phase.concurrency, gapMs: phase.gapMs, errors, label: `hubspot ${phase.name}` });
    const inHubSpot = (email: string) =>
      hubspot
        .contacts()
        .get(email)
        ?.history.find((change) => change.property === 'lifecyclestage' && change.to === 'marketingqualifiedlead')?.at;
    await waitUntil(() => [...qualified.keys()].every((email) => inHubSpot(email) !== undefined), 300_000, 50);
    await stack.drain({ timeoutMs: 120_000 });
    const latencies = [...qualified].flatMap(([email, lead]) => {
      const arrived = inHubSpot(email);
      return arrived === undefined ? [] : [latencyFromRequestStart(lead, arrived)];
    });
    const calls = hubspot.calls.slice(firstCall);
    const callsByStatus: Record<string, number> = {};
    for (const call of calls) tally(callsByStatus, call.status);
    const upserts = calls.filter((call) => call.path.endsWith('/batch/upsert') && call.status < 300).length;
    return {
      mqls: phase.count,
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
    events.close();
  }
}

export function hubspotLines(name: string, result: HandoffPhaseResult): string[] {
  const { latencyMs: l } = result;
  return [
    `${name}: ${result.delivered}/${result.mqls} MQLs in HubSpot in ${result.seconds} s`,
    `  latency qualifying request sent -> HubSpot contact: p50 ${l.p50} ms, p95 ${l.p95} ms, max ${l.max} ms (min ${l.min} ms)`,
    `  HubSpot calls: ${result.calls} (${Object.entries(result.callsByStatus)
      .map(([status, n]) => `${n} x ${status}`)
      .join(', ')}), ${result.callsPerMql} per MQL; ${result.upsertCalls} upserts of ${result.contactsPerUpsert} contacts on average`,
  ];
}
