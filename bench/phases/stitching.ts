/**
 * The cost of stitching (issue 13, "Measured"): a visitor with 50 anonymous page views, sent through POST
 * /v1/batch by @segment/analytics-node, then identifies (an `identify` with the e-mail, the visitor's
 * anonymousId and a new userId). What the identify's request costs the store: the calls by command, the
 * items read and written, and the write units by AWS's rule (items sized as marshalled, support/instrument.ts).
 * Checked: the lead holds the 51 events, 50 of them marked as its anonymous history.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Analytics } from '@segment/analytics-node';
import type { BenchContext } from '../context.ts';
import type { CommandFigures } from '../support/instrument.ts';
import { fmt } from '../support/report.ts';
import { round, sum } from '../support/stats.ts';

export interface StitchingFigures {
  anonymousEvents: number;
  /** What the identify's request did to the store, by command. */
  calls: Record<string, CommandFigures>;
  itemsRead: number;
  itemsWritten: number;
  /** By AWS's rule: 2 per KB of a transaction's items, 1 per KB of a lone put. */
  estimatedWcu: number;
  /** The identify's request, sent to answered. */
  identifyMs: number;
  /** GET /leads/{email} after it: events, and those marked as the anonymous history. */
  leadEvents: number;
  /** Of the lead's recent events (the view keeps the latest few), those from the anonymous history. */
  recentEvents: number;
  anonymousOnLead: number;
}

/** Sends the visitor's page views, then measures its identify. Problems go to ctx.errors. */
export async function stitchingCost(ctx: BenchContext, writeKey: string, anonymousEvents = 50): Promise<StitchingFigures> {
  const { probes } = ctx;
  const email = ctx.leadEmail('stitched', 0);
  const anonymousId = randomUUID();
  let identifyMs = 0;
  const timedFetch = async (url: string, init: RequestInit) => {
    const started = performance.now();
    const response = await fetch(url, init);
    identifyMs = performance.now() - started;
    const text = await response.text();
    if (response.status !== 200) ctx.errors.push(`stitching: POST ${new URL(url).pathname} answered ${response.status}: ${text.slice(0, 200)}`);
    return new Response(text, { status: response.status, headers: response.headers });
  };
  const analytics = new Analytics({
    writeKey,
    host: ctx.stack.baseUrl,
    flushAt: anonymousEvents,
    flushInterval: 600_000,
    maxRetries: 0,
    httpClient: timedFetch as never,
  });
  analytics.on('error', (error) => ctx.errors.push(`stitching: analytics-node: ${String((error as { reason?: unknown }).reason ?? error)}`.slice(0, 300)));
  const start = Date.now() - 7 * 24 * 3600_000;
  for (let index = 0; index < anonymousEvents; index++)
    analytics.page({
      anonymousId,
      name: 'Pricing',
      properties: { url: `https://acme-bench.example.com/pricing?visit=${index}` },
      timestamp: new Date(start + index * 60_000),
    });
  await analytics.flush();

  const before = structuredClone(probes.sizer.stats);
  probes.storeTimer.reset();
  analytics.identify({ anonymousId, userId: `user-${randomUUID()}`, traits: { email, title: 'VP Marketing' } });
  await analytics.closeAndFlush();
  const calls = probes.storeTimer.summary(1);

  const answer = await fetch(`${ctx.stack.baseUrl}/leads/${encodeURIComponent(email)}`);
  const lead = answer.ok ? ((await answer.json()) as { eventCount: number; recentEvents: { anonymous?: true }[] }) : undefined;
  if (!lead) ctx.errors.push(`stitching: GET /leads answered ${answer.status}`);
  const figures: StitchingFigures = {
    anonymousEvents,
    calls,
    itemsRead: sum(Object.values(calls).map((call) => call.itemsRead)),
    itemsWritten: sum(Object.values(calls).map((call) => call.itemsWritten)),
    estimatedWcu: round(probes.sizer.stats.estimatedWcu - before.estimatedWcu, 1),
    identifyMs: round(identifyMs, 1),
    leadEvents: lead?.eventCount ?? 0,
    recentEvents: lead?.recentEvents.length ?? 0,
    anonymousOnLead: lead?.recentEvents.filter((event) => event.anonymous).length ?? 0,
  };
  if (figures.leadEvents !== anonymousEvents + 1) ctx.errors.push(`stitching: the lead counts ${figures.leadEvents} events, not ${anonymousEvents + 1}`);
  return figures;
}

export function stitchingLines(figures: StitchingFigures): string[] {
  const byCommand = Object.entries(figures.calls)
    .map(([command, call]) => `${call.calls} ${command}`)
    .join(', ');
  return [
    `  stitching a visitor with ${figures.anonymousEvents} anonymous events (its identify through /v1/batch): ${figures.itemsRead} items read, ${figures.itemsWritten} written (${byCommand}); ${fmt(figures.estimatedWcu, 1)} WCU by AWS's rule; answered in ${fmt(figures.identifyMs, 0)} ms; the lead: ${figures.leadEvents} events, ${figures.anonymousOnLead} of its ${figures.recentEvents} recent ones marked anonymous`,
  ];
}
