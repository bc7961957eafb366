import type { PropertyValue } from './events.ts';
import type { Reason, ReasonEvent, RecentEvent } from './handoff.ts';
import type { ScoringModel } from './model.ts';
import type { Breakdown } from './score.ts';

/**
 * What a score means against the model's thresholds, in words, and the events behind each behavior
 * reason: the part of `mql explain` (and of GET /leads) beyond the numbers. Pure.
 */

/** Events shown per behavior reason. */
export const eventsPerReason = 3;
const keyPropertyNames = ['url', 'contentType', 'formId', 'bounce', 'reason', 'campaign', 'subject', 'webinar', 'plan'];
const maxKeyProperties = 4;
const maxKeyText = 120;

function keyProperties(properties: Record<string, PropertyValue>, ruleReads: readonly string[]): Record<string, PropertyValue> {
  const names = [...new Set([...ruleReads, ...keyPropertyNames])].filter((name) => Object.hasOwn(properties, name)).slice(0, maxKeyProperties);
  return Object.fromEntries(
    names.map((name) => {
      const value = properties[name]!;
      return [name, typeof value === 'string' && value.length > maxKeyText ? `${value.slice(0, maxKeyText - 3)}...` : value];
    }),
  );
}

/**
 * Reasons with the latest few events behind each behavior rule, taken from the lead's recent events
 * (`ruleOf` says which rule an event scored under: the same first-match the scoring uses).
 * A rule whose events are older than the recent ones gets none: its `count` and `lastSeen` still tell.
 */
export function withReasonEvents(
  reasons: readonly Reason[],
  recentEvents: readonly RecentEvent[],
  model: ScoringModel,
  ruleOf: (event: RecentEvent) => string | undefined,
): Reason[] {
  const byRule = new Map<string, ReasonEvent[]>();
  const newestFirst = [...recentEvents].sort((a, b) => b.occurredAt.localeCompare(a.occurredAt));
  for (const event of newestFirst) {
    const rule = ruleOf(event);
    if (!rule) continue;
    const list = byRule.get(rule) ?? [];
    if (list.length >= eventsPerReason) continue;
    const reads = model.behavior.rules.find((candidate) => candidate.id === rule)?.where.map((condition) => condition.property) ?? [];
    list.push({
      type: event.type,
      occurredAt: event.occurredAt,
      source: event.source,
      properties: keyProperties(event.properties, reads),
      ...(event.anonymous ? { anonymous: true as const } : {}),
    });
    byRule.set(rule, list);
  }
  return reasons.map((reason) => {
    const events = reason.kind === 'behavior' ? byRule.get(reason.rule) : undefined;
    return events ? { ...reason, events } : { ...reason };
  });
}

/** The model's thresholds as the explanation shows them. */
export interface Thresholds {
  mql: number;
  minFit: number;
  minBehavior: number;
  recycleBelow: number;
}

export interface Verdict {
  thresholds: Thresholds;
  /** Whether the score alone meets every threshold (an MQL may also have come by the fast track). */
  meetsThresholds: boolean;
  /** What the score means, in words: what is missing to qualify, or the margin before recycling. */
  summary: string[];
}

/** "1 point", "3 points". */
export const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

/**
 * The score against the thresholds, in words: "needs 12 more behavior points", "fit 5 is below minFit 10",
 * "disqualified by hard_bounce on 2026-...", or for an MQL the margin above `recycleBelow` and when decay
 * alone recycles it.
 */
export function verdict(
  lead: { status: string; disqualifiedBy?: { rule: string; at: string }; outcome?: { type: string; at: string; reason?: string } },
  score: Pick<Breakdown, 'fit' | 'behavior' | 'total'>,
  model: ScoringModel,
  recyclesAt?: string,
): Verdict {
  const { mql, minFit, minBehavior, recycleBelow } = model.thresholds;
  const thresholds = { mql, minFit, minBehavior, recycleBelow };
  const meetsThresholds = score.total >= mql && score.fit >= minFit && score.behavior >= minBehavior;
  const summary: string[] = [];
  if (lead.disqualifiedBy) {
    const rule = model.disqualify.find((candidate) => candidate.id === lead.disqualifiedBy!.rule);
    summary.push(`disqualified by ${lead.disqualifiedBy.rule}${rule ? ` (${rule.description})` : ''} on ${lead.disqualifiedBy.at}: never an MQL`);
    return { thresholds, meetsThresholds, summary };
  }
  if (lead.status === 'sql' || lead.status === 'won' || lead.status === 'lost') {
    summary.push(
      `with sales: ${lead.status}${lead.outcome ? ` (${lead.outcome.type} on ${lead.outcome.at}${lead.outcome.reason ? `: ${lead.outcome.reason}` : ''})` : ''}; the score no longer decides its status`,
    );
    return { thresholds, meetsThresholds, summary };
  }
  if (lead.status === 'mql') {
    const margin = score.total - recycleBelow;
    summary.push(
      `an MQL (total ${score.total}): recycled when the total falls below recycleBelow ${recycleBelow}, i.e. after losing ${plural(margin + 1, 'point')}`,
    );
    summary.push(recyclesAt ? `decay alone recycles it at ${recyclesAt}, unless it engages again` : 'decay alone never recycles it');
    return { thresholds, meetsThresholds, summary };
  }
  if (meetsThresholds) {
    summary.push(
      `meets every threshold (total ${score.total} >= ${mql}, fit ${score.fit} >= ${minFit}, behavior ${score.behavior} >= ${minBehavior}): becomes an MQL at its next evaluation`,
    );
    return { thresholds, meetsThresholds, summary };
  }
  if (score.fit < minFit)
    summary.push(`fit ${score.fit} is below minFit ${minFit}: no amount of behavior qualifies it (nor a fast track) until its profile does`);
  // Fit is the profile's: what is missing has to come from behavior (or a better profile).
  const needed = Math.max(mql - score.total, minBehavior - score.behavior, 0);
  if (needed > 0) {
    const why = [
      ...(score.total < mql ? [`total ${score.total} of ${mql}`] : []),
      ...(score.behavior < minBehavior ? [`behavior ${score.behavior} of minBehavior ${minBehavior}`] : []),
    ];
    summary.push(`needs ${plural(needed, 'more behavior point')} to qualify (${why.join('; ')})`);
  }
  const fastTrack = model.fastTrack.map((rule) => (Array.isArray(rule.type) ? rule.type.join(' or ') : rule.type));
  if (fastTrack.length > 0 && score.fit >= minFit) summary.push(`or at once by a fast track: ${fastTrack.join(', ')} within its window`);
  if (lead.status === 'recycled') summary.push(`recycled: it qualifies again at total ${mql}`);
  return { thresholds, meetsThresholds, summary };
}
