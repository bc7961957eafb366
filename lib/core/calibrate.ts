import type { NormalizedEvent } from './events.ts';
import { applyEvents } from './lead.ts';
import type { LambdaScore, LogisticFit, ThresholdQuality } from './logistic.ts';
import { chooseLambda, fitLogistic, precisionRecall } from './logistic.ts';
import type { ScoringModel, ScoringModelInput } from './model.ts';
import { modelContent, parseModel } from './model.ts';
import { outcomeTypes } from './replay.ts';

/**
 * `mql calibrate`: how well each rule of the model predicts what sales made of the leads it was shown,
 * and a model whose points follow that evidence. Pure: the leads' stored events are the input.
 *
 * Each lead with a sales outcome is one sample. Its features are the points every rule contributed at
 * the moment sales first judged it (its events up to the first outcome replayed under the model, scored
 * at that instant: fit rules' points after group bounds, behavior rules' decayed and capped points). Its
 * label is whether it reached SQL (below). A logistic regression of the label on the contributions gives
 * each rule's log-odds per point: if the model's points were right, every rule would earn about the same
 * per point. The proposed model scales each rule's points by its coefficient relative to the rules' mean.
 *
 * The judged leads are mostly those the model made MQLs: the regression learns what separates the MQLs
 * sales took from those it did not, not what separates MQLs from the rest. Among MQLs, a rule that brought
 * weak-fit leads over the threshold can look negative (a selection effect), so a rule whose evidence runs
 * against its points is switched off (0 points), never reversed; `mql backtest` shows what that does.
 */

/** Outcomes that mean the lead reached SQL: accepted by sales (the lead's status becomes `sql`), `sql`, `won`. */
export const reachedSqlTypes = ['mql_accepted', 'sql', 'won'] as const;

/** Below these, `calibrate` refuses: the coefficients of two dozen rules would be noise. */
export const calibrationMinimums = {
  /** Leads with a sales outcome (and events before it). */
  leads: 30,
  /** Of them, at least this many that reached SQL and this many that did not. */
  perClass: 10,
  /** A rule keeps its points unless it fired for at least this many of the judged leads. */
  firedForChange: 5,
} as const;

/** The largest factor a rule's points are scaled by: one sample cannot make a rule dominate. */
export const maxMultiplier = 3;

/** A standardised coefficient this close to 0 is no evidence either way. */
const negligibleStandardized = 1e-6;

const isOutcome = (event: Pick<NormalizedEvent, 'type'>) => (outcomeTypes as readonly string[]).includes(event.type);
const timeOf = (event: Pick<NormalizedEvent, 'occurredAt'>) => Date.parse(event.occurredAt);

/** One lead as sales judged it. */
export interface JudgedLead {
  leadId: string;
  /** The first outcome's time: what the lead looked like then is what sales judged. */
  judgedAt: string;
  /** Every outcome type the lead has, in time order. */
  outcomes: string[];
  /** Whether any outcome is `mql_accepted`, `sql` or `won` (so a `lost` after an `sql` counts; a `lost` alone does not). */
  reachedSql: boolean;
  /** The model's whole-point score at `judgedAt`. */
  total: number;
  /** Points each rule that fired contributed at `judgedAt`, by rule id (exact, to 2 decimals). */
  contributions: Record<string, number>;
}

/**
 * The lead as the model scored it when sales first judged it; undefined when it has no outcome, or no
 * scored event before its first outcome (nothing the model could have shown sales).
 */
export function judgeLead(leadId: string, events: readonly NormalizedEvent[], model: ScoringModel): JudgedLead | undefined {
  const outcomes = events.filter(isOutcome).sort((a, b) => timeOf(a) - timeOf(b));
  const first = outcomes[0];
  if (!first) return undefined;
  const judgedAt = timeOf(first);
  const before = events
    .filter((event) => !isOutcome(event) && timeOf(event) <= judgedAt)
    .map((event) => (event.leadKey === leadId ? event : { ...event, leadKey: leadId }));
  if (before.length === 0) return undefined;
  const { score } = applyEvents(undefined, before, model, new Date(judgedAt));
  const types = outcomes.map((event) => event.type);
  return {
    leadId,
    judgedAt: new Date(judgedAt).toISOString(),
    outcomes: types,
    reachedSql: types.some((type) => (reachedSqlTypes as readonly string[]).includes(type)),
    total: score.total,
    contributions: Object.fromEntries(score.reasons.filter((reason) => reason.kind !== 'disqualify').map((reason) => [reason.rule, reason.pointsNow])),
  };
}

/** One rule's evidence and what the proposed model makes of it. */
export interface RuleCalibration {
  rule: string;
  kind: 'fit' | 'behavior';
  description: string;
  points: number;
  /** Judged leads the rule fired for (it matched, or had events, by the time sales judged them). */
  fired: number;
  /** Of those, how many reached SQL. */
  firedReachedSql: number;
  /** Log-odds of reaching SQL per point the rule contributes; null when it cannot be estimated. */
  coefficient: number | null;
  /** Log-odds per standard deviation of its contribution: comparable across rules. */
  standardized: number | null;
  /** `coefficient / scale`, clamped to [0, maxMultiplier]: what the rule's points are multiplied by; null: kept. */
  multiplier: number | null;
  proposedPoints: number;
  /** Why the points were kept, or that the multiplier was clamped. */
  note?: string;
}

export interface CalibrationReport {
  model: { name: string; version: string };
  since?: string;
  /** Leads judged (with an outcome and events before it), after `since`. */
  leads: number;
  reachedSql: number;
  /** Leads with outcomes left out: no scored event before the first outcome. */
  skipped: number;
  judgedFrom?: string;
  judgedTo?: string;
  /** The penalty used: given, or chosen by 5-fold cross-validation (`lambdaScores`). */
  lambda: number;
  lambdaScores?: LambdaScore[];
  fit: Pick<LogisticFit, 'intercept' | 'iterations' | 'converged'>;
  /**
   * Log-odds per proposed point: the contribution-weighted mean of the positive coefficients of the rules
   * with enough evidence (0 for a negative one), so the proposed points contribute as many points in all
   * as the current ones did to these leads, moved to the rules that predict SQL.
   */
  scale: number | null;
  rules: RuleCalibration[];
  mqlThreshold: number;
  /** Precision and recall of "score >= threshold" for reaching SQL, at the judged moment. */
  current: ThresholdQuality[];
  /**
   * The same for the proposal, cross-validated: each lead scored by the model proposed from the other four
   * fifths of the leads (lead i in fold i % 5), so it measures the proposal on leads it was not fitted to.
   * Absent when some fold's leads give no proposal.
   */
  proposed?: ThresholdQuality[];
  /** The proposed model file's content; absent when no proposal can be made (`refused` says why). */
  proposedModel?: ScoringModelInput & { version: string };
  refused?: string;
  definitions: Record<string, string>;
}

/** Too few sales outcomes to calibrate: the message says how many are needed. */
export class NotEnoughOutcomes extends Error {
  readonly leads: number;
  readonly reachedSql: number;
  constructor(leads: number, reachedSql: number, since?: Date) {
    const { leads: needed, perClass } = calibrationMinimums;
    super(
      `calibrate needs at least ${needed} leads with a sales outcome${since ? ` judged since ${since.toISOString()}` : ''}, at least ${perClass} that reached SQL ` +
        `(mql_accepted, sql or won) and ${perClass} that did not; found ${leads} (${reachedSql} reached SQL, ${leads - reachedSql} did not). ` +
        'Sales outcomes come in through POST /webhooks/crm (locally: npx mql demo --with-outcomes).',
    );
    this.name = 'NotEnoughOutcomes';
    this.leads = leads;
    this.reachedSql = reachedSql;
  }
}

/** Thresholds the precision / recall table shows: the model's MQL threshold and steps of 10 around it. */
export function reportThresholds(model: Pick<ScoringModel, 'thresholds'>): number[] {
  const { mql } = model.thresholds;
  return [-30, -20, -10, 0, 10, 20, 30, 40].map((offset) => mql + offset).filter((threshold) => threshold >= 0);
}

/**
 * Fits the regression on the leads' histories and proposes a model. Throws {@link NotEnoughOutcomes}
 * when the judged leads are too few. `since`: only leads first judged at or after it. `lambda`: the
 * penalty; by default the one of `lambdaGrid` that predicts held-out leads best (5-fold cross-validation),
 * so a hundred outcomes move the points less than ten thousand do.
 */
export function calibrate(
  histories: Iterable<{ leadId: string; events: readonly NormalizedEvent[] }>,
  model: ScoringModel,
  options: { since?: Date; lambda?: number } = {},
): CalibrationReport {
  const kept: { events: readonly NormalizedEvent[]; judged: JudgedLead }[] = [];
  let skipped = 0;
  for (const history of histories) {
    const judged = judgeLead(history.leadId, history.events, model);
    if (!judged) {
      if (history.events.some(isOutcome)) skipped += 1;
      continue;
    }
    if (options.since && Date.parse(judged.judgedAt) < options.since.getTime()) continue;
    kept.push({ events: history.events, judged });
  }
  // By code point, not locale: the folds of the cross-validation, and so the result, are the same on every machine.
  kept.sort((a, b) => (a.judged.leadId < b.judged.leadId ? -1 : a.judged.leadId > b.judged.leadId ? 1 : 0));
  const judged = kept.map((entry) => entry.judged);
  const positives = judged.filter((lead) => lead.reachedSql).length;
  const { leads: minLeads, perClass } = calibrationMinimums;
  if (judged.length < minLeads || positives < perClass || judged.length - positives < perClass)
    throw new NotEnoughOutcomes(judged.length, positives, options.since);

  const rules = [
    ...model.fit.rules.map((rule) => ({ rule, kind: 'fit' as const })),
    ...model.behavior.rules.map((rule) => ({ rule, kind: 'behavior' as const })),
  ];
  const rows = judged.map((lead) => rules.map(({ rule }) => lead.contributions[rule.id] ?? 0));
  const labels = judged.map((lead) => lead.reachedSql);
  const chosen = options.lambda === undefined ? chooseLambda(rows, labels) : undefined;
  const lambda = options.lambda ?? chosen!.lambda;
  const fit = fitLogistic(rows, labels, { lambda });

  const { calibrations, scale, refused } = calibrateRules(rules, rows, judged, fit);

  const thresholds = reportThresholds(model);
  const report: CalibrationReport = {
    model: { name: model.name, version: model.version },
    ...(options.since ? { since: options.since.toISOString() } : {}),
    leads: judged.length,
    reachedSql: positives,
    skipped,
    judgedFrom: judged.map((lead) => lead.judgedAt).sort()[0]!,
    judgedTo: judged
      .map((lead) => lead.judgedAt)
      .sort()
      .at(-1)!,
    lambda,
    ...(chosen ? { lambdaScores: chosen.scores } : {}),
    fit: { intercept: fit.intercept, iterations: fit.iterations, converged: fit.converged },
    scale,
    rules: calibrations,
    mqlThreshold: model.thresholds.mql,
    current: precisionRecall(
      judged.map((lead) => ({ score: lead.total, positive: lead.reachedSql })),
      thresholds,
    ),
    definitions: calibrationDefinitions,
  };
  if (refused) return { ...report, refused };
  const proposedModel = proposeModel(model, calibrations, `${model.name} (calibrated on ${judged.length} sales outcomes to ${report.judgedTo!.slice(0, 10)})`);
  const proposed = parseModel(proposedModel, model.domains.maintained, 'proposed model');
  const heldOut = crossValidated(kept, rows, rules, model, lambda);
  return { ...report, ...(heldOut ? { proposed: precisionRecall(heldOut, thresholds) } : {}), proposedModel: { ...proposedModel, version: proposed.version } };
}

type CalibratedRules = readonly { rule: ScoringModel['fit']['rules'][number] | ScoringModel['behavior']['rules'][number]; kind: 'fit' | 'behavior' }[];

/** Each rule's evidence under a fit, its multiplier and proposed points (see `calibrationDefinitions.proposed`). */
function calibrateRules(
  rules: CalibratedRules,
  rows: readonly (readonly number[])[],
  judged: readonly JudgedLead[],
  fit: LogisticFit,
): { calibrations: RuleCalibration[]; scale: number | null; refused?: string } {
  const { firedForChange } = calibrationMinimums;
  const fired = rules.map(({ rule }) => judged.filter((lead) => Object.hasOwn(lead.contributions, rule.id)));
  const evidence = rules.map((_, j) => fit.coefficients[j] !== null && fired[j]!.length >= firedForChange);
  // Only evidence for a rule counts towards a point's worth; a rule with evidence against it gets 0.
  const supporting = (j: number) => (Math.abs(fit.standardized[j]!) > negligibleStandardized ? Math.max(0, fit.coefficients[j]!) : 0);
  let weighted = 0;
  let weights = 0;
  rules.forEach((_, j) => {
    if (!evidence[j]) return;
    const weight = rows.reduce((sum, row) => sum + Math.abs(row[j]!), 0);
    weighted += weight * supporting(j);
    weights += weight;
  });
  const scale = weights > 0 ? weighted / weights : null;
  const refused =
    scale === null
      ? `no rule fired for ${firedForChange} or more judged leads with a spread of points: nothing to rescale`
      : scale <= 0
        ? "no rule's points are borne out by these outcomes (no rule with enough evidence has a positive coefficient): a rescaled model would score nothing; look at the outcomes and the rules first"
        : undefined;

  const calibrations: RuleCalibration[] = rules.map(({ rule, kind }, j) => {
    const base = {
      rule: rule.id,
      kind,
      description: rule.description,
      points: rule.points,
      fired: fired[j]!.length,
      firedReachedSql: fired[j]!.filter((lead) => lead.reachedSql).length,
      coefficient: fit.coefficients[j] ?? null,
      standardized: fit.standardized[j] ?? null,
    };
    if (refused) return { ...base, multiplier: null, proposedPoints: rule.points };
    if (fit.coefficients[j] === null) {
      return { ...base, multiplier: null, proposedPoints: rule.points, note: fired[j]!.length === 0 ? 'never fired: kept' : 'no spread in its points: kept' };
    }
    if (!evidence[j]) return { ...base, multiplier: null, proposedPoints: rule.points, note: `fired for fewer than ${firedForChange} judged leads: kept` };
    const raw = supporting(j) / scale!;
    const multiplier = Math.min(maxMultiplier, raw);
    const note =
      fit.standardized[j]! < -negligibleStandardized
        ? 'evidence against its points: switched off, not reversed'
        : supporting(j) === 0
          ? 'no evidence for its points: switched off'
          : multiplier !== raw
            ? `x${raw.toFixed(1)} capped at x${maxMultiplier}`
            : undefined;
    // `+ 0` turns the -0 of a negative rule switched off into 0.
    return { ...base, multiplier, proposedPoints: Math.round(rule.points * multiplier) + 0, ...(note ? { note } : {}) };
  });

  return { calibrations, scale, ...(refused ? { refused } : {}) };
}

/** Held-out scores of the proposal (see `CalibrationReport.proposed`); undefined when a fold proposes nothing. */
function crossValidated(
  kept: readonly { events: readonly NormalizedEvent[]; judged: JudgedLead }[],
  rows: readonly (readonly number[])[],
  rules: CalibratedRules,
  model: ScoringModel,
  lambda: number,
  folds = 5,
): { score: number; positive: boolean }[] | undefined {
  const scored: { score: number; positive: boolean }[] = [];
  for (let fold = 0; fold < folds; fold += 1) {
    const inTraining = (index: number) => index % folds !== fold;
    const trainRows = rows.filter((_, index) => inTraining(index));
    const trainJudged = kept.flatMap((entry, index) => (inTraining(index) ? [entry.judged] : []));
    const fit = fitLogistic(
      trainRows,
      trainJudged.map((lead) => lead.reachedSql),
      { lambda },
    );
    const { calibrations, refused } = calibrateRules(rules, trainRows, trainJudged, fit);
    if (refused) return undefined;
    const foldModel = parseModel(proposeModel(model, calibrations, model.name), model.domains.maintained, `proposed model (fold ${fold + 1} of ${folds})`);
    kept.forEach(({ events, judged }, index) => {
      if (!inTraining(index)) scored.push({ score: judgeLead(judged.leadId, events, foldModel)?.total ?? 0, positive: judged.reachedSql });
    });
  }
  return scored;
}

/**
 * The model with each rule's points replaced by its proposed points. A behavior rule's `cap` scales with
 * its points (a cap of 3 opens at 1 point a time stays 3 opens). A group's bounds scale by how its
 * largest rule moved (the seniority group's max of 15 is the C-level rule's 15). Thresholds stay: the
 * scale is the rules' mean, so the score keeps its size on average and 60 still means what it meant.
 */
export function proposeModel(model: ScoringModel, calibrations: readonly RuleCalibration[], name: string): ScoringModelInput {
  const content = modelContent(model);
  const byRule = new Map(calibrations.map((calibration) => [calibration.rule, calibration]));
  const pointsOf = (rule: { id: string; points: number }) => byRule.get(rule.id)?.proposedPoints ?? rule.points;
  const groupFactor = (rules: readonly { id: string; points: number; group?: string | undefined }[], group: string) => {
    const members = rules.filter((rule) => rule.group === group);
    const before = Math.max(0, ...members.map((rule) => Math.abs(rule.points)));
    const after = Math.max(0, ...members.map((rule) => Math.abs(pointsOf(rule))));
    return before > 0 ? after / before : 1;
  };
  const scaleBounds = (bounds: { min?: number | undefined; max?: number | undefined }, factor: number) => ({
    ...(bounds.min !== undefined ? { min: Math.round(bounds.min * factor) } : {}),
    ...(bounds.max !== undefined ? { max: Math.round(bounds.max * factor) } : {}),
  });
  const fitGroups = Object.fromEntries(
    Object.entries(model.fit.groups).map(([group, bounds]) => [group, scaleBounds(bounds, groupFactor(model.fit.rules, group))]),
  );
  const behaviorGroups = model.behavior.groups
    ? Object.fromEntries(Object.entries(model.behavior.groups).map(([group, bounds]) => [group, scaleBounds(bounds, groupFactor(model.behavior.rules, group))]))
    : undefined;
  return {
    ...content,
    name,
    fit: { ...model.fit, groups: fitGroups, rules: model.fit.rules.map((rule) => ({ ...rule, points: pointsOf(rule) })) },
    behavior: {
      ...model.behavior,
      ...(behaviorGroups ? { groups: behaviorGroups } : {}),
      rules: model.behavior.rules.map((rule) => {
        const multiplier = byRule.get(rule.id)?.multiplier;
        const cap = rule.cap !== undefined && multiplier ? Math.max(1, Math.round(rule.cap * Math.abs(multiplier))) : rule.cap;
        return { ...rule, points: pointsOf(rule), ...(cap !== undefined ? { cap } : {}) };
      }),
    },
  };
}

export const calibrationDefinitions: Record<string, string> = {
  leads: 'leads with a sales outcome and at least one scored event before it (with --since: first judged on or after that time)',
  judged: 'a lead is scored as it stood at its first sales outcome: its events up to then replayed under the current model',
  reachedSql: 'the lead has an mql_accepted, sql or won outcome at any time (a lost after an sql counts through the sql; a lost alone does not)',
  fired: 'judged leads for which the rule had matched (fit) or had events (behavior) by the moment they were judged',
  coefficient: "L2-regularised logistic regression of reachedSql on every rule's contribution in points: log-odds per point",
  standardized: "the same per standard deviation of the rule's contribution, comparable across rules",
  proposed:
    'points * coefficient / scale in whole points, scale being the contribution-weighted mean of the positive coefficients (so the points in all stay as many); at most 3x; 0 for a rule whose coefficient is negative (switched off, never reversed); kept when the rule fired for fewer than 5 leads',
  precision: 'of the judged leads scoring at or above the threshold, the share that reached SQL',
  recall: 'of the judged leads that reached SQL, the share scoring at or above the threshold',
};
