import type { ScoringModel } from '../../core/model.ts';
import { type HistoryScan, type HistoryWalkOptions, scanLeadHistories } from '../../store/lead-histories.ts';
import { AccountHistories } from '../account-histories.ts';
import { accountReportDefinitions, computeAccountFigures } from './account-figures.ts';
import type { ReportFigures } from './figures.ts';
import { computeFigures } from './figures.ts';
import type { ReportLead } from './lead-facts.ts';
import { reportLeadOf } from './lead-facts.ts';

/**
 * Reads every lead of the table with its events ({@link scanLeadHistories}, as `mql backtest` does)
 * and computes the report's figures (with `accounts`, the accounts' members are gathered in the same pass). Reads only. An operator batch job: a Scan reads the whole table,
 * so it is never on a request path.
 */
export async function loadReportLeads(
  store: HistoryScan,
  options: { model: ScoringModel; now: Date; accounts?: AccountHistories } & HistoryWalkOptions,
): Promise<ReportLead[]> {
  const { accounts, ...walk } = options;
  const leads: ReportLead[] = [];
  for await (const page of scanLeadHistories(store, walk)) {
    for (const { leadId, events } of page) {
      leads.push(reportLeadOf(leadId, events, options.model, options.now));
      accounts?.add(leadId, events);
    }
  }
  return leads.sort((a, b) => a.leadId.localeCompare(b.leadId));
}

/** The report's figures; with an `account` section in the model, the accounts' too (lib/jobs/report/account-figures.ts). */
export async function buildReport(store: HistoryScan, options: { model: ScoringModel; now: Date } & HistoryWalkOptions): Promise<ReportFigures> {
  const accounts = new AccountHistories(options.model, options.now);
  const leads = await loadReportLeads(store, { ...options, accounts });
  const figures = computeFigures(leads, {
    now: options.now,
    modelVersion: options.model.version,
    threshold: options.model.thresholds.mql,
    ...(options.since ? { since: options.since } : {}),
  });
  if (!accounts.scoresAccounts) return figures;
  return {
    ...figures,
    accounts: { ...computeAccountFigures(accounts.replayed()), threshold: options.model.account!.thresholds.mqa },
    definitions: { ...figures.definitions, ...accountReportDefinitions },
  };
}
