import { writeFileSync } from 'node:fs';
import type { CalibrationReport } from '../core/calibrate.ts';
import { calibrate } from '../core/calibrate.ts';
import type { ScoringModel } from '../core/model.ts';
import { outcomeTypes } from '../core/replay.ts';
import type { LeadHistory } from '../store/lead-histories.ts';
import { type HistoryScan, type HistoryWalkOptions, scanLeadHistories } from '../store/lead-histories.ts';
import { textTable } from './text-table.ts';

/**
 * `mql calibrate`: reads every lead with its events (one pass of a parallel Scan), keeps the histories of the
 * leads with a sales outcome, and hands them to the pure calibration (lib/core/calibrate.ts). Reads only.
 * Memory holds the events of the judged leads alone: those sales has seen, a small share of the table.
 */
export async function runCalibration(store: HistoryScan, options: { model: ScoringModel; lambda?: number } & HistoryWalkOptions): Promise<CalibrationReport> {
  const histories: LeadHistory[] = [];
  // Not `since`: the calibration itself selects by the time of the outcome.
  const { since: _since, ...walk } = options;
  for await (const page of scanLeadHistories(store, walk)) {
    for (const history of page) {
      if (history.events.some((event) => (outcomeTypes as readonly string[]).includes(event.type))) histories.push(history);
    }
  }
  return calibrate(histories, options.model, {
    ...(options.since ? { since: options.since } : {}),
    ...(options.lambda !== undefined ? { lambda: options.lambda } : {}),
  });
}

/** Writes the proposed model as a model file (`mql backtest --model`, MQL_MODEL_PATH); its version is derived, not stored. */
export function writeProposedModel(report: CalibrationReport, path: string): void {
  if (!report.proposedModel) throw new Error(report.refused ?? 'no proposed model');
  const { version: _version, ...content } = report.proposedModel;
  writeFileSync(path, `${JSON.stringify(content, null, 2)}\n`);
}

const percent = (rate: number | null) => (rate === null ? 'n/a' : `${(rate * 100).toFixed(1)}%`);
const signed = (value: number | null, digits: number) => (value === null ? 'n/a' : `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`);

/** The report as text: the rules' coefficients next to their points, then precision and recall at thresholds. */
export function formatCalibration(report: CalibrationReport, outFile?: string): string {
  const lines = [
    `calibrate: ${report.leads} lead(s) judged by sales${report.since ? ` since ${report.since}` : ''} (${report.judgedFrom?.slice(0, 10)} .. ${report.judgedTo?.slice(0, 10)}), ` +
      `${report.reachedSql} reached SQL (${percent(report.reachedSql / report.leads)})${report.skipped ? `; ${report.skipped} skipped (no scored event before their outcome)` : ''}`,
    `model ${report.model.version} "${report.model.name}"; L2 logistic regression on standardised contributions, lambda ${report.lambda}${report.lambdaScores ? ' (5-fold cross-validation)' : ''}, ` +
      `${report.fit.iterations} Newton step(s)${report.fit.converged ? '' : ' (NOT converged)'}; a proposed point is worth ${report.scale === null ? 'n/a' : report.scale.toFixed(4)} log-odds`,
    '',
  ];
  const rows = [...report.rules]
    // Estimated rules first, strongest first; then the rules kept for want of evidence, most fired first.
    .sort(
      (a, b) =>
        Number(a.standardized === null) - Number(b.standardized === null) ||
        Math.abs(b.standardized ?? 0) - Math.abs(a.standardized ?? 0) ||
        b.fired - a.fired ||
        a.rule.localeCompare(b.rule),
    )
    .map((rule) => [
      rule.rule,
      rule.kind,
      String(rule.points),
      String(rule.fired),
      rule.fired > 0 ? percent(rule.firedReachedSql / rule.fired) : '',
      signed(rule.coefficient, 4),
      signed(rule.standardized, 2),
      String(rule.proposedPoints),
      rule.note ?? '',
    ]);
  lines.push(
    ...textTable(['rule', 'kind', 'points', 'fired', 'SQL if fired', 'coef/point', 'coef/sd', 'proposed', 'notes'], rows, new Set([2, 3, 4, 5, 6, 7])).lines,
  );
  lines.push('', `precision and recall of "score >= threshold" for reaching SQL, scored as sales judged them (MQL threshold ${report.mqlThreshold}):`);
  const quality = report.current.map((current, index) => {
    const proposed = report.proposed?.[index];
    return [
      `${current.threshold}${current.threshold === report.mqlThreshold ? ' (mql)' : ''}`,
      String(current.selected),
      percent(current.precision),
      percent(current.recall),
      ...(proposed ? [String(proposed.selected), percent(proposed.precision), percent(proposed.recall)] : []),
    ];
  });
  const header = [
    'threshold',
    'at or above',
    'precision',
    'recall',
    ...(report.proposed ? ['proposed (cross-validated): at or above', 'precision', 'recall'] : []),
  ];
  lines.push(...textTable(header, quality, new Set([0, 1, 2, 3, 4, 5, 6])).lines);
  if (report.proposed)
    lines.push('(proposed, cross-validated: each lead scored by the model proposed from the other four fifths of the leads, as a new lead would be)');
  lines.push('');
  if (report.refused) lines.push(`no model proposed: ${report.refused}`);
  else if (report.proposedModel) {
    lines.push(
      `proposed model ${report.proposedModel.version}${outFile ? ` written to ${outFile}` : ''}: compare it on the whole history with` +
        ` \`npx mql backtest --model ${outFile ?? 'FILE'}\`, then use it with MQL_MODEL_PATH (or rescore with \`npx mql rescore --model ${outFile ?? 'FILE'}\`)`,
    );
  }
  lines.push('', 'definitions:', ...Object.entries(report.definitions).map(([name, text]) => `  ${name}: ${text}`));
  return lines.join('\n');
}
