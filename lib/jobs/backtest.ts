import type { ScoringModel } from '../core/model.ts';
import type { BacktestReport } from '../core/replay.ts';
import { BacktestTally, outcomesOf, qualificationOf } from '../core/replay.ts';
import { type HistoryScan, type HistoryWalkOptions, scanLeadHistories } from '../store/lead-histories.ts';

/**
 * `mql backtest`: every lead's stored events replayed under the current and a candidate model, side by
 * side, as of `now`. Reads only (one pass of a parallel Scan, lib/store/lead-histories.ts); writes nothing.
 *
 * `since` selects LEADS, not events: the leads first seen at or after it, each with its whole history
 * (a lead's profile, and so its fit, comes from its events: replaying only recent events would score
 * an old lead as a stranger).
 */
export async function runBacktest(
  store: HistoryScan,
  options: { current: ScoringModel; candidate: ScoringModel; now: Date } & HistoryWalkOptions,
): Promise<BacktestReport> {
  const tally = new BacktestTally();
  for await (const page of scanLeadHistories(store, options)) {
    for (const { leadId, events } of page) {
      tally.add({
        leadId,
        current: qualificationOf(leadId, events, options.current, options.now),
        candidate: qualificationOf(leadId, events, options.candidate, options.now),
        outcomes: outcomesOf(events),
      });
    }
  }
  return tally.report(options.current, options.candidate, options.now, options.since);
}

const percent = (rate: number | null) => (rate === null ? 'n/a' : `${(rate * 100).toFixed(1)}%`);

/** The report as a table, with the definitions of its figures under it. */
export function formatBacktest(report: BacktestReport): string {
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
  lines.push('', 'definitions:', ...Object.entries(report.definitions).map(([name, text]) => `  ${name}: ${text}`));
  return lines.join('\n');
}
