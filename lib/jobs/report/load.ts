import type { ScoringModel } from '../../core/model.ts';
import { type HistoryScan, type HistoryWalkOptions, scanLeadHistories } from '../../store/lead-histories.ts';
import type { ReportFigures } from './figures.ts';
import { computeFigures } from './figures.ts';
import type { ReportLead } from './lead-facts.ts';
import { reportLeadOf } from './lead-facts.ts';

/**
 * Reads every lead of the table with its events ({@link scanLeadHistories}, as `mql backtest` does)
 * and computes the report's figures. Reads only. An operator batch job: a Scan reads the whole table,
 * so it is never on a request path.
 */
export async function loadReportLeads(store: HistoryScan, options: { model: ScoringModel; now: Date } & HistoryWalkOptions): Promise<ReportLead[]> {
  const leads: ReportLead[] = [];
  for await (const page of scanLeadHistories(store, options)) {
    for (const { leadId, events } of page) leads.push(reportLeadOf(leadId, events, options.model, options.now));
  }
  return leads.sort((a, b) => a.leadId.localeCompare(b.leadId));
}

export async function buildReport(store: HistoryScan, options: { model: ScoringModel; now: Date } & HistoryWalkOptions): Promise<ReportFigures> {
  const leads = await loadReportLeads(store, options);
  return computeFigures(leads, {
    now: options.now,
    modelVersion: options.model.version,
    threshold: options.model.thresholds.mql,
    ...(options.since ? { since: options.since } : {}),
  });
}
