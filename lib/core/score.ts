import type { RuleState } from './decay.ts';
import { applyCap, valueAt } from './decay.ts';
import type { Profile } from './events.ts';
import { fitSubject, scoreFit } from './fit.ts';
import type { CapApplied, Reason } from './handoff.ts';
import type { BehaviorRule, ScoringModel } from './model.ts';

/**
 * A lead's score at one instant and every reason behind it: fit from the profile, behavior decayed to
 * `now`, then capped per rule and per group. Whole points are what thresholds compare; the reasons'
 * whole `points` add up to the total exactly.
 */

/** A score at one instant, in whole points, with its reasons. */
export interface Breakdown {
  fit: number;
  behavior: number;
  total: number;
  reasons: Reason[];
}

/** A value at 2 decimals, as reasons show it. */
export const round2 = (value: number) => Math.round(value * 100) / 100;

export function halfLifeOf(rule: Pick<BehaviorRule, 'halfLifeDays'>, model: Pick<ScoringModel, 'behavior'>): number | null {
  return rule.halfLifeDays === undefined ? model.behavior.halfLifeDays : rule.halfLifeDays;
}

/**
 * Whole-point shares of exact values that add up to `Math.round(sum)`: each value's floor, plus one
 * for the values with the largest fractional parts (ties by position) until the sum is reached.
 * Every share is within one point of its exact value.
 */
export function wholeShares(values: readonly number[]): number[] {
  const target = Math.round(values.reduce((sum, value) => sum + value, 0));
  // Exact values such as 14.999999999 from decay arithmetic are taken at 2 decimals, as shown.
  const shown = values.map(round2);
  const shares = shown.map(Math.floor);
  let missing = target - shares.reduce((sum, value) => sum + value, 0);
  const order = shown.map((value, index) => ({ index, fraction: value - Math.floor(value) })).sort((a, b) => b.fraction - a.fraction || a.index - b.index);
  for (const { index } of order) {
    if (missing <= 0) break;
    shares[index]! += 1;
    missing -= 1;
  }
  // Only when rounding to 2 decimals moved the sum across a half: take the surplus off the smallest fractions.
  for (const { index } of [...order].reverse()) {
    if (missing >= 0) break;
    shares[index]! -= 1;
    missing += 1;
  }
  return shares;
}

interface Lead {
  profile: Profile;
  behavior: Record<string, RuleState>;
  disqualifiedBy?: { rule: string; at: string };
  /** The latest sales outcome: a rejection's reason is what fit rules read as `salesRejection`. */
  outcome?: { type: string; reason?: string };
}

/** The score of a lead at `now`: fit from the profile, behavior decayed to `now` and capped. */
export function scoreBreakdown(lead: Lead, model: ScoringModel, now: Date): Breakdown {
  const at = now.getTime();
  const fitReasons: Reason[] = [];
  const fitExact: number[] = [];
  for (const match of scoreFit(fitSubject(lead), model)) {
    fitExact.push(match.points);
    fitReasons.push({
      rule: match.rule,
      kind: 'fit',
      description: match.description,
      pointsNow: round2(match.points),
      rawPoints: round2(match.rulePoints),
      count: 1,
      ...(match.group ? { group: match.group } : {}),
      ...(match.groupLimit !== undefined
        ? { caps: [{ by: 'group', name: match.group!, limit: match.groupLimit, cut: round2(match.rulePoints - match.points) }] }
        : {}),
    });
  }
  const behaviorReasons: Reason[] = [];
  const behaviorExact: number[] = [];
  const groupTotals = new Map<string, number>();
  for (const rule of model.behavior.rules) {
    const state = lead.behavior[rule.id];
    if (!state) continue;
    const halfLife = halfLifeOf(rule, model);
    const decayed = valueAt(state, halfLife, at);
    let value = applyCap(decayed, rule.cap);
    const caps: CapApplied[] = [];
    if (value !== decayed) caps.push({ by: 'rule', name: rule.id, limit: value < 0 ? -rule.cap! : rule.cap!, cut: round2(decayed - value) });
    const bounds = rule.group ? model.behavior.groups?.[rule.group] : undefined;
    if (rule.group && bounds) {
      const before = groupTotals.get(rule.group) ?? 0;
      const after = Math.min(bounds.max ?? Infinity, Math.max(bounds.min ?? -Infinity, before + value));
      if (after !== before + value)
        caps.push({ by: 'group', name: rule.group, limit: after === bounds.max ? bounds.max : bounds.min!, cut: round2(before + value - after) });
      value = after - before;
      groupTotals.set(rule.group, after);
    }
    behaviorExact.push(value);
    behaviorReasons.push({
      rule: rule.id,
      kind: 'behavior',
      description: rule.description,
      pointsNow: round2(value),
      rawPoints: round2(state.rawPoints),
      count: state.count,
      lastSeen: state.lastSeen,
      decayedPoints: round2(decayed),
      halfLifeDays: halfLife,
      ...(rule.group ? { group: rule.group } : {}),
      ...(caps.length > 0 ? { caps } : {}),
    });
  }
  for (const [index, points] of wholeShares(fitExact).entries()) fitReasons[index]!.points = points;
  for (const [index, points] of wholeShares(behaviorExact).entries()) behaviorReasons[index]!.points = points;
  const reasons = [...fitReasons, ...behaviorReasons];
  if (lead.disqualifiedBy) {
    const rule = model.disqualify.find((candidate) => candidate.id === lead.disqualifiedBy?.rule);
    reasons.push({
      rule: lead.disqualifiedBy.rule,
      kind: 'disqualify',
      description: rule?.description ?? lead.disqualifiedBy.rule,
      pointsNow: 0,
      rawPoints: 0,
      count: 1,
      lastSeen: lead.disqualifiedBy.at,
      points: 0,
    });
  }
  reasons.sort((a, b) => Math.abs(b.pointsNow) - Math.abs(a.pointsNow) || a.rule.localeCompare(b.rule));
  // Whole points: events seconds apart must not miss a threshold by a hair's breadth of decay.
  const fit = Math.round(fitExact.reduce((sum, value) => sum + value, 0));
  const behavior = Math.round(behaviorExact.reduce((sum, value) => sum + value, 0));
  return { fit, behavior, total: fit + behavior, reasons };
}
