import type { AccountBacktestReport, AccountChange, ReplayedAccounts } from '../core/account-replay.ts';
import { accountBacktest } from '../core/account-replay.ts';
import type { ScoringModel } from '../core/model.ts';
import type { BacktestReport } from '../core/replay.ts';
import { BacktestTally, outcomesOf, qualificationOf } from '../core/replay.ts';
import { type HistoryScan, type HistoryWalkOptions, scanLeadHistories } from '../store/lead-histories.ts';
import { AccountHistories } from './account-histories.ts';
import { textTable } from './text-table.ts';

/** A backtest's report: the leads, and the accounts when either model scores them (an `account` section). */
export interface BacktestWithAccounts extends BacktestReport {
  accounts?: AccountBacktestReport;
}

/**
 * `mql backtest`: every lead's stored events replayed under the current and a candidate model, side by
 * side, as of `now`. Reads only (one pass of a parallel Scan, lib/store/lead-histories.ts); writes nothing.
 *
 * `since` selects LEADS, not events: the leads first seen at or after it, each with its whole history
 * (a lead's profile, and so its fit, comes from its events: replaying only recent events would score
 * an old lead as a stranger). With `since`, an account has the members first seen since then.
 *
 * When either model has an `account` section, the accounts are compared too (lib/jobs/account-histories.ts):
 * their MQAs under each model and the accounts whose qualification or status changes.
 */
export async function runBacktest(
  store: HistoryScan,
  options: { current: ScoringModel; candidate: ScoringModel; now: Date } & HistoryWalkOptions,
): Promise<BacktestWithAccounts> {
  const tally = new BacktestTally();
  // Accounts: each model groups the leads into accounts by its own rules, and scores them with its own section.
  const accounts = { current: new AccountHistories(options.current, options.now), candidate: new AccountHistories(options.candidate, options.now) };
  for await (const page of scanLeadHistories(store, options)) {
    for (const { leadId, events } of page) {
      tally.add({
        leadId,
        current: qualificationOf(leadId, events, options.current, options.now),
        candidate: qualificationOf(leadId, events, options.candidate, options.now),
        outcomes: outcomesOf(events),
      });
      accounts.current.add(leadId, events);
      accounts.candidate.add(leadId, events);
    }
  }
  const report: BacktestWithAccounts = tally.report(options.current, options.candidate, options.now, options.since);
  if (!accounts.current.scoresAccounts && !accounts.candidate.scoresAccounts) return report;
  const side = (histories: AccountHistories, model: ScoringModel): ReplayedAccounts => ({
    version: model.version,
    scoresAccounts: histories.scoresAccounts,
    accounts: new Map(histories.replayed().map((one) => [one.account.key, one.qualification])),
  });
  return { ...report, accounts: accountBacktest(side(accounts.current, options.current), side(accounts.candidate, options.candidate)) };
}

const percent = (rate: number | null) => (rate === null ? 'n/a' : `${(rate * 100).toFixed(1)}%`);

/** The report as a table, with the definitions of its figures under it. */
export function formatBacktest(report: BacktestWithAccounts): string {
  const { current, candidate } = report;
  const rows: [string, string, string][] = [
    ['model version', current.version, candidate.version],
    ['MQLs (ever, up to now)', String(current.mqls), String(candidate.mqls)],
    ['MQL now', String(current.mqlNow), String(candidate.mqlNow)],
    [
      'MQL -> SQL',
      `${percent(current.mqlToSqlRate)} (${current.mqlWithSql}/${current.mqls})`,
      `${percent(candidate.mqlToSqlRate)} (${candidate.mqlWithSql}/${candidate.mqls})`,
    ],
    [
      'MQL -> won',
      `${percent(current.mqlToWonRate)} (${current.mqlWithWon}/${current.mqls})`,
      `${percent(candidate.mqlToWonRate)} (${candidate.mqlWithWon}/${candidate.mqls})`,
    ],
    [
      'MQL -> SQL, judged only',
      `${percent(current.judgedSqlRate)} (${current.mqlWithSql}/${current.mqlJudged})`,
      `${percent(candidate.judgedSqlRate)} (${candidate.mqlWithSql}/${candidate.mqlJudged})`,
    ],
    [
      'SQLs it qualifies',
      `${percent(current.sqlRecall)} (${current.mqlWithSql}/${report.leadsReachedSql})`,
      `${percent(candidate.sqlRecall)} (${candidate.mqlWithSql}/${report.leadsReachedSql})`,
    ],
  ];
  const header: [string, string, string] = ['', 'current', 'candidate'];
  const widths = [0, 1, 2].map((column) => Math.max(...[header, ...rows].map((row) => row[column]!.length)));
  const render = (row: string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  const lines = [
    `backtest as of ${report.now}${report.since ? `, leads first seen since ${report.since}` : ''}: ${report.leads} lead(s), ${report.leadsWithOutcomes} with sales outcomes`,
    '',
    render(header),
    render(widths.map((width) => '-'.repeat(width))),
    ...rows.map(render),
    '',
  ];
  const list = (title: string, part: { count: number; sample: string[] }) => {
    lines.push(`${title}: ${part.count}${part.count > part.sample.length ? ` (first ${part.sample.length})` : ''}`);
    for (const leadId of part.sample) lines.push(`  ${leadId}`);
  };
  list('newly qualifying under the candidate', report.newlyQualifying);
  list('no longer qualifying under the candidate', report.noLongerQualifying);
  if (report.leadsWithOutcomes === 0) lines.push('', 'no sales outcomes stored yet: MQL -> SQL and MQL -> won are n/a');
  if (report.accounts) lines.push('', ...formatAccountBacktest(report.accounts));
  const definitions = { ...report.definitions, ...(report.accounts ? prefixed(report.accounts.definitions) : {}) };
  lines.push('', 'definitions:', ...Object.entries(definitions).map(([name, text]) => `  ${name}: ${text}`));
  return lines.join('\n');
}

const prefixed = (definitions: Record<string, string>) => Object.fromEntries(Object.entries(definitions).map(([name, text]) => [`account ${name}`, text]));

/** The accounts' part of a backtest: MQA counts under each model, then the accounts that change. */
function formatAccountBacktest(accounts: AccountBacktestReport): string[] {
  const { current, candidate } = accounts;
  const cell = (side: AccountBacktestReport['current'], value: number) => (side.scoresAccounts ? String(value) : 'n/a (no account section)');
  const rows = [
    ['accounts with members', cell(current, current.accounts), cell(candidate, candidate.accounts)],
    ['MQAs (ever, up to now)', cell(current, current.mqas), cell(candidate, candidate.mqas)],
    ['MQA now', cell(current, current.mqaNow), cell(candidate, candidate.mqaNow)],
  ];
  const table = textTable(['', 'current', 'candidate'], rows, new Set());
  const lines = ['Accounts', ...table.lines];
  const list = (title: string, part: { count: number; sample: string[] }) => {
    lines.push(`${title}: ${part.count}${part.count > part.sample.length ? ` (first ${part.sample.length})` : ''}`);
    for (const key of part.sample) lines.push(`  ${key}`);
  };
  lines.push('');
  list('accounts newly qualifying under the candidate', accounts.newlyQualifying);
  list('accounts no longer qualifying under the candidate', accounts.noLongerQualifying);
  const { changed } = accounts;
  lines.push(`accounts whose status or total now changes: ${changed.count}${changed.count > changed.sample.length ? ` (first ${changed.sample.length})` : ''}`);
  const side = (seen: AccountChange['current']) => (seen ? `${seen.status} ${seen.total}` : 'not an account');
  for (const change of changed.sample) lines.push(`  ${change.key}  ${side(change.current)} -> ${side(change.candidate)}`);
  return lines;
}
