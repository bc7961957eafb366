import type { ScoringModel } from '../core/model.ts';
import type { LeadStore } from '../store/lead-store.ts';
import { mapWithConcurrency } from '../store/lead-store.ts';
import type { ReportFigures } from './figures.ts';
import { computeFigures } from './figures.ts';
import type { ReportLead } from './lead-facts.ts';
import { reportLeadOf } from './lead-facts.ts';

/**
 * Reads every lead of the table (a Scan of the lead items, then a Query of each lead's events, as
 * `mql backtest` does) and computes the report's figures. Reads only. An operator batch job: a Scan
 * reads the whole table, so it is never on a request path.
 */
export async function loadReportLeads(
  store: Pick<LeadStore, 'scanLeads' | 'listEvents'>,
  options: { model: ScoringModel; now: Date; since?: Date; concurrency?: number; pageSize?: number },
): Promise<ReportLead[]> {
  const leads: ReportLead[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await store.scanLeads({
      ...(cursor ? { cursor } : {}),
      ...(options.since ? { firstSeenSince: options.since } : {}),
      ...(options.pageSize ? { limit: options.pageSize } : {}),
    });
    leads.push(...(await mapWithConcurrency(page.leadIds, options.concurrency ?? 8, async (leadId) => reportLeadOf(leadId, await store.listEvents(leadId), options.model, options.now))));
    cursor = page.cursor;
  } while (cursor);
  return leads.sort((a, b) => a.leadId.localeCompare(b.leadId));
}

export async function buildReport(
  store: Pick<LeadStore, 'scanLeads' | 'listEvents'>,
  options: { model: ScoringModel; now: Date; since?: Date; concurrency?: number },
): Promise<ReportFigures> {
  const leads = await loadReportLeads(store, options);
  return computeFigures(leads, { now: options.now, modelVersion: options.model.version, threshold: options.model.thresholds.mql, ...(options.since ? { since: options.since } : {}) });
}
