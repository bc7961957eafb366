import type { DecayAccounts } from '../accounts/due.ts';
import type { Pipeline } from '../ingest/pipeline.ts';
import { flushOutboxes } from '../ingest/pipeline.ts';
import { logger } from '../runtime/logger.ts';
import { leadRef } from '../runtime/pseudonym.ts';

/** What one decay run did. */
export interface DecaySummary {
  /** Due leads taken from the due index. */
  due: number;
  /** Due leads re-evaluated (fewer than `due` only when the run stopped early). */
  processed: number;
  /** Leads whose status the run changed, by their new status. */
  changed: Record<string, number>;
  /** Handoffs put on the queue (transitions of this run, and any left in an outbox before). */
  handoffs: number;
  /** Leads whose re-evaluation failed (logged): still due, so the next run tries again. */
  failed: number;
  /** Whether the run stopped early for lack of time, leaving due leads to the next run. */
  resumable: boolean;
  /** Accounts due (an MQA whose members' points decay, an outbox waiting), asked of the roll-up (docs/accounts.md). */
  accountsDue: number;
}

export interface DecayOptions {
  /** Milliseconds the run has left (the Lambda's `context.getRemainingTimeInMillis`); unlimited without it. */
  remainingMs?: () => number;
  /** No new lead is taken once fewer than this many milliseconds remain, so the ones under way finish. */
  marginMs?: number;
  /** Leads re-evaluated at once. */
  concurrency?: number;
  /** Leads read from the due index at a time. */
  pageSize?: number;
  /** Due accounts go to their roll-up (absent: leads only). */
  accounts?: DecayAccounts;
}

/**
 * The decay job: re-evaluates the leads the due index lists up to `now`, reading them page by page as it
 * goes (never the whole list), at most `concurrency` at once, and moves each one's handoffs to the queue
 * as soon as it is written. When time runs short it stops taking leads and says so (`resumable`). No
 * cursor is kept between runs: a lead leaves the due index (or moves to its next due time) only when it
 * is re-evaluated, so whatever this run left is still due, and the next run's query finds it again.
 */
export async function runDecay(pipeline: Pipeline, now: Date, options: DecayOptions = {}): Promise<DecaySummary> {
  const { remainingMs, marginMs = 30_000, concurrency = 16, pageSize = 100 } = options;
  const summary: DecaySummary = { due: 0, processed: 0, changed: {}, handoffs: 0, failed: 0, resumable: false, accountsDue: 0 };
  let stopped = false;
  // Page by page, each finished (handoffs confirmed) before the next is read: a lead this run wrote with a
  // handoff waiting is due `now` until the handoff is confirmed, and a later page of its shard would list
  // it again.
  for await (const page of pipeline.store.duePages(now, pageSize)) {
    let next = 0;
    const worker = async () => {
      while (!stopped && next < page.length) {
        const lead = page[next++]!;
        summary.due += 1;
        if (remainingMs && remainingMs() < marginMs) {
          stopped = true;
          summary.resumable = true;
          return;
        }
        try {
          const outcome = await pipeline.store.reevaluate(lead.leadId, pipeline.model, now, lead);
          summary.processed += 1;
          if (outcome.status && outcome.status !== lead.status) summary.changed[outcome.status] = (summary.changed[outcome.status] ?? 0) + 1;
          // Awaited first: `summary.handoffs += await ...` would read the sum before other workers add to it.
          const sent = await flushOutboxes([outcome], pipeline);
          summary.handoffs += sent;
        } catch (error) {
          summary.failed += 1;
          logger.error('decay: lead not re-evaluated; still due for the next run', { lead: leadRef(lead.leadId), error: error as Error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, page.length) }, worker));
    if (stopped) break;
  }
  // After the leads: an account's roll-up reads its members as this run left them. The roll-up evaluates each at `now`
  // (its `at`), one account at a time by its FIFO group; the request's deduplication id is the run's instant, so a
  // run repeated within SQS's five-minute window asks once.
  if (options.accounts && !stopped) {
    for await (const keys of options.accounts.dueAccounts(now)) {
      const at = now.toISOString();
      await options.accounts.rollUps.send(keys.map((accountKey) => ({ request: { accountKey, at, due: true as const }, cause: `due#${at}` })));
      summary.accountsDue += keys.length;
    }
  }
  return summary;
}
