import type { NormalizedEvent } from '../core/events.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import type { LeadReads } from './repository.ts';

/** A lead and its stored events, oldest first. */
export interface LeadHistory {
  leadId: string;
  events: NormalizedEvent[];
}

/**
 * Every lead of the table with its events, a Scan page at a time (a Query of each lead's events,
 * `concurrency` at once): what `mql backtest`, `mql report` and `mql calibrate` read. Reads only; an
 * operator batch job, never on a request path (a Scan reads the whole table). Memory holds one page's
 * events at a time, so the caller decides what it keeps.
 *
 * `since` selects LEADS, not events: the leads first seen at or after it, each with its whole history.
 */
export async function* scanLeadHistories(
  store: Pick<LeadReads, 'scanLeads' | 'listEvents'>,
  options: { since?: Date; concurrency?: number; pageSize?: number } = {},
): AsyncGenerator<LeadHistory[]> {
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await store.scanLeads({
      ...(cursor ? { cursor } : {}),
      ...(options.since ? { firstSeenSince: options.since } : {}),
      ...(options.pageSize ? { limit: options.pageSize } : {}),
    });
    yield await mapWithConcurrency(page.leadIds, options.concurrency ?? 8, async (leadId) => ({ leadId, events: await store.listEvents(leadId) }));
    cursor = page.cursor;
  } while (cursor);
}
