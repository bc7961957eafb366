/**
 * The operator jobs' old way of reading, reproduced for the bench's comparison only (phases/jobs-scale.ts):
 * a Scan of the lead profiles for their ids (the store's `scanLeads`), then per lead
 *   - backtest (as lib/store/lead-histories.ts did before commit 8ddb0df): a Query of its events;
 *   - rescore (as lib/jobs/rescore.ts did before one-pass rescore): `replaceState` without the Scan's copy,
 *     so a consistent GetItem of the lead and a consistent Query of its events.
 * 8 leads at a time, as both did; the Scan's segments a round at a time, as rescore did after 8ddb0df.
 */
import { performance } from 'node:perf_hooks';
import type { ScoringModel } from '../../lib/core/index.ts';
import { type BacktestReport, BacktestTally, outcomesOf, qualificationOf } from '../../lib/core/replay.ts';
import { flushOutboxes, type Pipeline } from '../../lib/ingest/pipeline.ts';
import { mapWithConcurrency } from '../../lib/runtime/concurrency.ts';
import type { LeadStore } from '../../lib/store/lead-store.ts';
import type { LeadOutcome } from '../../lib/store/repository.ts';

/** Each round of the lead-id Scan (the next page of every unfinished segment) handed to `work`. */
async function eachRound(store: Pick<LeadStore, 'scanLeads'>, segments: number, work: (leadIds: string[]) => Promise<void>): Promise<void> {
  const cursors: (Record<string, unknown> | null | undefined)[] = Array.from({ length: segments }, () => undefined);
  while (cursors.some((cursor) => cursor !== null)) {
    const open = cursors.flatMap((cursor, index) => (cursor === null ? [] : [index]));
    const pages = await Promise.all(
      open.map((index) => store.scanLeads({ ...(cursors[index] ? { cursor: cursors[index] } : {}), segment: { index, total: segments } })),
    );
    await work(pages.flatMap((page) => page.leadIds));
    open.forEach((segment, index) => {
      cursors[segment] = pages[index]!.cursor ?? null;
    });
  }
}

export async function oldBacktest(
  store: LeadStore,
  options: { current: ScoringModel; candidate: ScoringModel; now: Date; segments: number },
): Promise<BacktestReport> {
  const tally = new BacktestTally();
  await eachRound(store, options.segments, async (leadIds) => {
    // A Query per lead, as then: no read of the lead (the seeded leads carry no pending events).
    const histories = await mapWithConcurrency(leadIds, 8, async (leadId) => ({ leadId, events: await store.listEvents(leadId, { lead: null }) }));
    for (const { leadId, events } of histories) {
      tally.add({
        leadId,
        current: qualificationOf(leadId, events, options.current, options.now),
        candidate: qualificationOf(leadId, events, options.candidate, options.now),
        outcomes: outcomesOf(events),
      });
    }
  });
  return tally.report(options.current, options.candidate, options.now);
}

export async function oldRescore(
  pipeline: Pipeline & { store: LeadStore },
  options: { model: ScoringModel; now: Date; segments: number },
): Promise<{ read: number; changed: number; unchanged: number; handoffs: number; seconds: number }> {
  const totals = { read: 0, changed: 0, unchanged: 0, handoffs: 0 };
  const started = performance.now();
  await eachRound(pipeline.store, options.segments, async (leadIds) => {
    const results = await mapWithConcurrency(leadIds, 8, (leadId) => pipeline.store.replaceState(leadId, options.model, options.now));
    const outcomes: LeadOutcome[] = [];
    for (const result of results) {
      if (!result.outcome) continue;
      totals.read += 1;
      outcomes.push(result.outcome);
      if (result.written) totals.changed += 1;
      else totals.unchanged += 1;
    }
    totals.handoffs += await flushOutboxes(outcomes, pipeline);
  });
  return { ...totals, seconds: (performance.now() - started) / 1000 };
}
