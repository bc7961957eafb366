import { textTable } from '../text-table.ts';
import type { RateRow, ReportFigures } from './figures.ts';

/** The report's figures as terminal text: the same numbers as the HTML page, as tables with bars. */

export const percentText = (rate: number | null) => (rate === null ? 'n/a' : `${(rate * 100).toFixed(1)}%`);

const share = (part: number, whole: number) => (whole > 0 ? percentText(part / whole) : 'n/a');

function bar(value: number, max: number, width = 30): string {
  return max > 0 ? '█'.repeat(Math.round((value / max) * width)) : '';
}

export const money = (amount: number, currency: string) => `${amount.toLocaleString('en-US', { maximumFractionDigits: 2 })} ${currency}`;

function rateTable(title: string, rows: readonly RateRow[], withLeads: boolean): string[] {
  if (rows.length === 0) return [title, '  (no MQLs)'];
  const header = [title, ...(withLeads ? ['leads'] : []), 'MQLs', 'SQLs', 'rejected', 'MQL->SQL', ''];
  const numeric = new Set(withLeads ? [1, 2, 3, 4, 5] : [1, 2, 3, 4]);
  const body = rows.map((row) => [
    row.key,
    ...(withLeads ? [String(row.leads)] : []),
    String(row.mqls),
    String(row.sqls),
    String(row.rejected),
    percentText(row.rate),
    bar(row.rate ?? 0, 1, 20),
  ]);
  return textTable(header, body, numeric).lines;
}

export function formatReport(figures: ReportFigures): string {
  const { funnel } = figures;
  const lines = [
    `mql report as of ${figures.now}${figures.since ? `, leads first seen since ${figures.since}` : ''}  (model ${figures.modelVersion}, MQL at ${figures.threshold})`,
    '',
    'Funnel',
  ];
  const steps: [string, number, string][] = [
    ['leads', funnel.leads, ''],
    ['MQL', funnel.mqls, share(funnel.mqls, funnel.leads)],
    ['SQL', funnel.sqls, share(funnel.sqls, funnel.mqls)],
    ['won', funnel.won, share(funnel.won, funnel.sqls)],
  ];
  const biggest = Math.max(1, funnel.leads);
  lines.push(
    ...textTable(
      ['stage', 'count', 'of previous', ''],
      steps.map(([stage, count, rate]) => [stage, String(count), rate, bar(count, biggest)]),
      new Set([1, 2]),
    ).lines.map((line) => `  ${line}`),
  );
  const amounts = funnel.wonAmounts.map((one) => money(one.amount, one.currency)).join(', ');
  lines.push(
    `  MQLs judged by sales: ${funnel.judged} (${share(funnel.judged, funnel.mqls)}); rejected ${funnel.rejected}; lost ${funnel.lost}${amounts ? `; won ${amounts}` : ''}`,
  );
  if (funnel.outcomesWithoutMql > 0)
    lines.push(`  ${funnel.outcomesWithoutMql} lead(s) have sales outcomes though the model never made them an MQL (not in the funnel)`);

  if (figures.accounts) lines.push('', ...accountLines(figures.accounts));

  lines.push('', 'MQL -> SQL by source');
  lines.push(...rateTable('source', figures.bySource, true).map((line) => `  ${line}`));
  lines.push('', 'MQL -> SQL by month of MQL');
  lines.push(...rateTable('month', figures.byMonth, false).map((line) => `  ${line}`));

  const { scores } = figures;
  lines.push(
    '',
    `Score at MQL: MQLs vs rejected (median ${scores.median.mqls ?? 'n/a'} vs ${scores.median.rejected ?? 'n/a'}; reached SQL ${scores.median.sqls ?? 'n/a'})`,
  );
  if (scores.bins.length === 0) lines.push('  (no MQLs)');
  else {
    const most = Math.max(...scores.bins.map((bin) => bin.mqls));
    const rows = scores.bins.map((bin) => [
      `${bin.from}-${bin.to - 1}`,
      String(bin.mqls),
      String(bin.sqls),
      String(bin.rejected),
      `${bar(bin.mqls - bin.rejected, most, 24)}${'░'.repeat(Math.round((bin.rejected / Math.max(1, most)) * 24))}`,
    ]);
    lines.push(...textTable(['score', 'MQLs', 'SQL', 'rejected', '█ not rejected  ░ rejected'], rows, new Set([1, 2, 3])).lines.map((line) => `  ${line}`));
  }

  lines.push('', 'Rejection reasons');
  if (figures.rejectionReasons.length === 0) lines.push('  (no rejections)');
  else {
    const most = Math.max(...figures.rejectionReasons.map((one) => one.count));
    lines.push(
      ...textTable(
        ['reason', 'count', 'share', ''],
        figures.rejectionReasons.map((one) => [one.reason, String(one.count), percentText(one.share), bar(one.count, most, 20)]),
        new Set([1, 2]),
      ).lines.map((line) => `  ${line}`),
    );
  }

  const time = figures.timeToMql;
  lines.push('', `Time to MQL (first event -> MQL): median ${time.medianDays ?? 'n/a'} d, p90 ${time.p90Days ?? 'n/a'} d over ${time.count} MQLs`);
  const most = Math.max(0, ...time.bins.map((bin) => bin.count));
  lines.push(
    ...textTable(
      ['time', 'MQLs', ''],
      time.bins.map((bin) => [bin.label, String(bin.count), bar(bin.count, most, 24)]),
      new Set([1]),
    ).lines.map((line) => `  ${line}`),
  );

  lines.push('', 'definitions:', ...Object.entries(figures.definitions).map(([name, text]) => `  ${name}: ${text}`));
  return lines.join('\n');
}

/** How many MQAs the text lists (the HTML page lists more). */
const mqaListed = 10;

/** The accounts next to the leads: accounts, MQAs, MQA -> opportunity, and the latest MQAs. */
function accountLines(accounts: NonNullable<ReportFigures['accounts']>): string[] {
  const lines = [`Accounts (MQA at ${accounts.threshold})`];
  const steps: [string, number, string][] = [
    ['accounts', accounts.accounts, ''],
    ['MQA', accounts.mqas, share(accounts.mqas, accounts.accounts)],
    ['opportunity', accounts.opportunities, share(accounts.opportunities, accounts.mqas)],
  ];
  const biggest = Math.max(1, accounts.accounts);
  lines.push(
    ...textTable(
      ['stage', 'count', 'of previous', ''],
      steps.map(([stage, count, rate]) => [stage, String(count), rate, bar(count, biggest)]),
      new Set([1, 2]),
    ).lines.map((line) => `  ${line}`),
  );
  lines.push(`  MQA -> opportunity ${percentText(accounts.rate)} (${accounts.opportunities}/${accounts.mqas}); MQA now ${accounts.mqaNow}`);
  if (accounts.list.length === 0) return [...lines, '  (no MQAs)'];
  const shown = accounts.list.slice(0, mqaListed);
  lines.push(`  latest MQAs${accounts.list.length > shown.length ? ` (${shown.length} of ${accounts.list.length})` : ''}:`);
  lines.push(
    ...textTable(
      ['account', 'MQA at', 'total', 'members', 'opportunity'],
      shown.map((mqa) => [
        mqa.key,
        mqa.qualifiedAt,
        String(mqa.totalAtMqa),
        String(mqa.members),
        mqa.opportunity ? `${mqa.opportunity.type} at ${mqa.opportunity.at}` : '',
      ]),
      new Set([2, 3]),
    ).lines.map((line) => `    ${line}`),
  );
  return lines;
}
