import type { RateRow, ReportFigures } from './figures.ts';
import { money, percentText } from './text.ts';

/**
 * The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no external
 * URL (it opens from a file, offline, in any browser, and can be mailed as is). Every chart has its
 * numbers in a table beside it, so the page reads without the pictures too.
 */

export const reportColors = { mql: '#2563eb', sql: '#16a34a', rejected: '#f97316', muted: '#cbd5e1' } as const;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

interface HBar {
  label: string;
  value: number;
  text: string;
  color: string;
}

/** Horizontal bars, one per row, scaled to `max`. */
function hbars(rows: readonly HBar[], max: number, title: string): string {
  const rowHeight = 28;
  const labelWidth = 170;
  const barWidth = 420;
  const height = rows.length * rowHeight + 8;
  const body = rows
    .map((row, index) => {
      const y = index * rowHeight + 4;
      const width = max > 0 ? Math.max(row.value > 0 ? 2 : 0, (row.value / max) * barWidth) : 0;
      return [
        `<text x="${labelWidth - 8}" y="${y + 18}" text-anchor="end">${escapeHtml(row.label)}</text>`,
        `<rect x="${labelWidth}" y="${y + 4}" width="${width.toFixed(1)}" height="${rowHeight - 8}" fill="${row.color}"><title>${escapeHtml(`${row.label}: ${row.text}`)}</title></rect>`,
        `<text x="${(labelWidth + width + 6).toFixed(1)}" y="${y + 18}">${escapeHtml(row.text)}</text>`,
      ].join('');
    })
    .join('\n');
  return `<svg role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${labelWidth + barWidth + 140} ${height}" width="${labelWidth + barWidth + 140}" height="${height}">${body}</svg>`;
}

interface VGroup {
  label: string;
  bars: { value: number; color: string; name: string }[];
  note?: string;
}

/** The legend of the charts that split MQLs by what sales made of them. */
const outcomeLegend = [
  { name: 'MQLs', color: reportColors.mql },
  { name: 'reached SQL', color: reportColors.sql },
  { name: 'rejected', color: reportColors.rejected },
];

/** Vertical bars grouped per category (several series side by side), scaled to the largest value. */
function vbars(groups: readonly VGroup[], title: string, legend: { name: string; color: string }[]): string {
  const chartHeight = 180;
  const top = 22;
  const bottom = 40;
  const barWidth = 16;
  // Wide enough for its bars and for its label (about 6.5 px a character at 11 px), so labels never overlap.
  const perGroup = Math.max(
    Math.max(1, ...groups.map((group) => group.bars.length)) * (barWidth + 2) + 18,
    Math.max(0, ...groups.map((group) => group.label.length)) * 6.5 + 12,
  );
  const left = 36;
  const width = left + Math.max(1, groups.length) * perGroup + 10;
  const max = Math.max(1, ...groups.flatMap((group) => group.bars.map((one) => one.value)));
  const axis = `<line x1="${left}" y1="${top + chartHeight}" x2="${width - 4}" y2="${top + chartHeight}" stroke="#64748b"/><text x="${left - 6}" y="${top + 4}" text-anchor="end" class="small">${max}</text><text x="${left - 6}" y="${top + chartHeight}" text-anchor="end" class="small">0</text>`;
  const body = groups
    .map((group, index) => {
      const x0 = left + index * perGroup + (perGroup - group.bars.length * (barWidth + 2)) / 2;
      const bars = group.bars
        .map((one, slot) => {
          const height = (one.value / max) * chartHeight;
          const x = x0 + slot * (barWidth + 2);
          return `<rect x="${x}" y="${(top + chartHeight - height).toFixed(1)}" width="${barWidth}" height="${height.toFixed(1)}" fill="${one.color}"><title>${escapeHtml(`${group.label} ${one.name}: ${one.value}`)}</title></rect>`;
        })
        .join('');
      const middle = x0 + (group.bars.length * (barWidth + 2)) / 2;
      const note = group.note ? `<text x="${middle}" y="${top - 8}" text-anchor="middle" class="small">${escapeHtml(group.note)}</text>` : '';
      return `${bars}${note}<text x="${middle}" y="${top + chartHeight + 16}" text-anchor="middle" class="small">${escapeHtml(group.label)}</text>`;
    })
    .join('\n');
  const keys = legend
    .map(
      (item, index) =>
        `<rect x="${left + index * 130}" y="${top + chartHeight + 26}" width="10" height="10" fill="${item.color}"/><text x="${left + index * 130 + 14}" y="${top + chartHeight + 35}" class="small">${escapeHtml(item.name)}</text>`,
    )
    .join('');
  const height = top + chartHeight + bottom;
  return `<svg role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${Math.max(width, 300)} ${height}" width="${Math.max(width, 300)}" height="${height}">${axis}${body}${keys}</svg>`;
}

function htmlTable(header: string[], rows: string[][], figure: string): string {
  const head = header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((cell, index) => `<td${index > 0 ? ' class="num"' : ''}>${escapeHtml(cell)}</td>`).join('')}</tr>`).join('\n');
  return `<table data-figure="${figure}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function rateSection(rows: readonly RateRow[], what: string, withLeads: boolean, figure: string): string {
  if (rows.length === 0) return '<p class="empty">No MQLs.</p>';
  const chart = hbars(
    rows.map((row) => ({ label: row.key, value: row.rate ?? 0, text: `${percentText(row.rate)} (${row.sqls}/${row.mqls})`, color: reportColors.sql })),
    1,
    `MQL to SQL rate by ${what}`,
  );
  const table = htmlTable(
    [what, ...(withLeads ? ['leads'] : []), 'MQLs', 'SQLs', 'rejected', 'MQL→SQL'],
    rows.map((row) => [row.key, ...(withLeads ? [String(row.leads)] : []), String(row.mqls), String(row.sqls), String(row.rejected), percentText(row.rate)]),
    figure,
  );
  return `${chart}${table}`;
}

const style = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#0f172a;background:#fff;margin:0;padding:24px 32px;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.meta{color:#475569;margin:0 0 16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:24px}.card span{color:#475569}
svg{display:block;max-width:100%;height:auto;margin:8px 0;font-size:12px;fill:#0f172a}svg .small{font-size:11px;fill:#334155}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 10px;border-bottom:1px solid #e2e8f0;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#64748b}dl{color:#475569;font-size:12px}dt{font-weight:600}dd{margin:0 0 6px 16px}
`;

export function renderReportHtml(figures: ReportFigures): string {
  const { funnel, scores, timeToMql } = figures;
  const amounts = funnel.wonAmounts.map((one) => money(one.amount, one.currency)).join(', ') || 'none';
  const cards = [
    ['leads', funnel.leads, 'leads'],
    ['MQLs', funnel.mqls, 'mqls'],
    ['SQLs', funnel.sqls, 'sqls'],
    ['won', funnel.won, 'won'],
  ]
    .map(([label, value, key]) => `<div class="card"><b data-figure="${key}">${value}</b><span>${label}</span></div>`)
    .join('');
  const funnelChart = hbars(
    [
      { label: 'leads', value: funnel.leads, text: String(funnel.leads), color: reportColors.muted },
      {
        label: 'MQL',
        value: funnel.mqls,
        text: `${funnel.mqls} (${percentText(funnel.leads ? funnel.mqls / funnel.leads : null)} of leads)`,
        color: reportColors.mql,
      },
      {
        label: 'SQL',
        value: funnel.sqls,
        text: `${funnel.sqls} (${percentText(funnel.mqls ? funnel.sqls / funnel.mqls : null)} of MQLs)`,
        color: reportColors.sql,
      },
      { label: 'won', value: funnel.won, text: `${funnel.won} (${percentText(funnel.sqls ? funnel.won / funnel.sqls : null)} of SQLs)`, color: '#15803d' },
    ],
    Math.max(1, funnel.leads),
    'Funnel: leads, MQL, SQL, won',
  );
  const monthChart =
    figures.byMonth.length === 0
      ? '<p class="empty">No MQLs.</p>'
      : vbars(
          figures.byMonth.map((row) => ({
            label: row.key,
            note: percentText(row.rate),
            bars: [
              { value: row.mqls, color: reportColors.mql, name: 'MQLs' },
              { value: row.sqls, color: reportColors.sql, name: 'SQLs' },
              { value: row.rejected, color: reportColors.rejected, name: 'rejected' },
            ],
          })),
          'MQLs, SQLs and rejections by month of MQL',
          outcomeLegend,
        ) +
        htmlTable(
          ['month', 'MQLs', 'SQLs', 'rejected', 'MQL→SQL'],
          figures.byMonth.map((row) => [row.key, String(row.mqls), String(row.sqls), String(row.rejected), percentText(row.rate)]),
          'by-month',
        );
  const scoreChart =
    scores.bins.length === 0
      ? '<p class="empty">No MQLs.</p>'
      : vbars(
          scores.bins.map((bin) => ({
            label: `${bin.from}-${bin.to - 1}`,
            bars: [
              { value: bin.mqls, color: reportColors.mql, name: 'MQLs' },
              { value: bin.sqls, color: reportColors.sql, name: 'reached SQL' },
              { value: bin.rejected, color: reportColors.rejected, name: 'rejected' },
            ],
          })),
          'Score at MQL: all MQLs, those that reached SQL, those rejected',
          outcomeLegend,
        ) +
        htmlTable(
          ['score', 'MQLs', 'reached SQL', 'rejected'],
          scores.bins.map((bin) => [`${bin.from}-${bin.to - 1}`, String(bin.mqls), String(bin.sqls), String(bin.rejected)]),
          'scores',
        );
  const most = Math.max(0, ...figures.rejectionReasons.map((one) => one.count));
  const reasons =
    figures.rejectionReasons.length === 0
      ? '<p class="empty">No rejections.</p>'
      : hbars(
          figures.rejectionReasons.map((one) => ({
            label: one.reason,
            value: one.count,
            text: `${one.count} (${percentText(one.share)})`,
            color: reportColors.rejected,
          })),
          most,
          'Rejection reasons',
        ) +
        htmlTable(
          ['reason', 'count', 'share'],
          figures.rejectionReasons.map((one) => [one.reason, String(one.count), percentText(one.share)]),
          'rejection-reasons',
        );
  const time = vbars(
    timeToMql.bins.map((bin) => ({ label: bin.label.replace(/ \(.*\)$/, ''), bars: [{ value: bin.count, color: reportColors.mql, name: 'MQLs' }] })),
    'Time from first event to MQL',
    [{ name: 'MQLs', color: reportColors.mql }],
  );
  const definitions = Object.entries(figures.definitions)
    .map(([name, text]) => `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(text)}</dd>`)
    .join('');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mql report ${escapeHtml(figures.now.slice(0, 10))}</title>
<style>${style}</style>
</head>
<body>
<h1>MQL report</h1>
<p class="meta">As of ${escapeHtml(figures.now)}${figures.since ? `, leads first seen since ${escapeHtml(figures.since)}` : ''}. Model <code>${escapeHtml(figures.modelVersion)}</code>, MQL at ${figures.threshold} points.</p>
<div class="cards">${cards}</div>
<h2>Funnel</h2>
${funnelChart}
<p>MQLs judged by sales: <span data-figure="judged">${funnel.judged}</span>; rejected <span data-figure="rejected">${funnel.rejected}</span>; lost <span data-figure="lost">${funnel.lost}</span>; won amount <span data-figure="won-amount">${escapeHtml(amounts)}</span>.${funnel.outcomesWithoutMql > 0 ? ` ${funnel.outcomesWithoutMql} lead(s) have sales outcomes though the model never made them an MQL.` : ''}</p>
<h2>MQL → SQL by source</h2>
${rateSection(figures.bySource, 'source', true, 'by-source')}
<h2>MQL → SQL by month of MQL</h2>
${monthChart}
<h2>Score at MQL: MQLs vs rejected</h2>
<p>Median score at MQL: all <span data-figure="median-mql">${scores.median.mqls ?? 'n/a'}</span>, reached SQL <span data-figure="median-sql">${scores.median.sqls ?? 'n/a'}</span>, rejected <span data-figure="median-rejected">${scores.median.rejected ?? 'n/a'}</span>.</p>
${scoreChart}
<h2>Rejection reasons</h2>
${reasons}
<h2>Time to MQL</h2>
<p>From the first event to MQL: median <span data-figure="time-median">${timeToMql.medianDays ?? 'n/a'}</span> days, p90 <span data-figure="time-p90">${timeToMql.p90Days ?? 'n/a'}</span> days over ${timeToMql.count} MQLs.</p>
${time}
${htmlTable(
  ['time', 'MQLs'],
  timeToMql.bins.map((bin) => [bin.label, String(bin.count)]),
  'time-to-mql',
)}
${figures.accounts ? accountSection(figures.accounts) : ''}
<h2>Definitions</h2>
<dl>${definitions}</dl>
</body>
</html>
`;
}

/** How many MQAs the page lists. */
const mqaListed = 50;

/** Accounts next to leads: the accounts' funnel (accounts, MQA, opportunity) and the latest MQAs. */
function accountSection(accounts: NonNullable<ReportFigures['accounts']>): string {
  const cards = [
    ['accounts', accounts.accounts, 'accounts'],
    ['MQAs', accounts.mqas, 'mqas'],
    ['opportunities', accounts.opportunities, 'account-opportunities'],
    ['MQA now', accounts.mqaNow, 'mqa-now'],
  ]
    .map(([label, value, key]) => `<div class="card"><b data-figure="${key}">${value}</b><span>${label}</span></div>`)
    .join('');
  const chart = hbars(
    [
      { label: 'accounts', value: accounts.accounts, text: String(accounts.accounts), color: reportColors.muted },
      {
        label: 'MQA',
        value: accounts.mqas,
        text: `${accounts.mqas} (${percentText(accounts.accounts ? accounts.mqas / accounts.accounts : null)} of accounts)`,
        color: reportColors.mql,
      },
      {
        label: 'opportunity',
        value: accounts.opportunities,
        text: `${accounts.opportunities} (${percentText(accounts.rate)} of MQAs)`,
        color: reportColors.sql,
      },
    ],
    Math.max(1, accounts.accounts),
    'Accounts: accounts, MQA, opportunity',
  );
  const shown = accounts.list.slice(0, mqaListed);
  const table =
    shown.length === 0
      ? '<p class="empty">No MQAs.</p>'
      : htmlTable(
          ['account', 'MQA at', 'total', 'members', 'opportunity'],
          shown.map((mqa) => [
            mqa.key,
            mqa.qualifiedAt,
            String(mqa.totalAtMqa),
            String(mqa.members),
            mqa.opportunity ? `${mqa.opportunity.type} at ${mqa.opportunity.at}` : '',
          ]),
          'mqas',
        );
  return `<h2>Accounts: MQA → opportunity</h2>
<p>Marketing-qualified accounts (MQA at ${accounts.threshold} points): MQA → opportunity <span data-figure="mqa-opportunity-rate">${escapeHtml(percentText(accounts.rate))}</span>.</p>
<div class="cards">${cards}</div>
${chart}
${shown.length < accounts.list.length ? `<p>The latest ${shown.length} of ${accounts.list.length} MQAs:</p>` : ''}${table}`;
}
