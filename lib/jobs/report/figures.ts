import type { AccountFigures } from './account-figures.ts';
import type { ReportLead } from './lead-facts.ts';

/**
 * The figures of `mql report`, computed from the leads' report facts (lib/report/lead-facts.ts). Pure:
 * the same leads give the same figures, whatever renders them (terminal text, HTML).
 */

/** Outcomes that mean sales took the lead as a sales-qualified opportunity (as `mql backtest` counts). */
export const sqlOutcomes: readonly string[] = ['mql_accepted', 'sql', 'won'];

export interface RateRow {
  /** The group: a channel, or a month `YYYY-MM`. */
  key: string;
  /** Leads of the group (by source: first seen through it; by month: not counted, 0). */
  leads: number;
  mqls: number;
  /** Of `mqls`, those that reached SQL. */
  sqls: number;
  /** Of `mqls`, those rejected by sales and never taken as SQL. */
  rejected: number;
  /** `sqls / mqls`, null without MQLs. */
  rate: number | null;
}

export interface ScoreBin {
  /** Inclusive lower bound, exclusive upper bound, in points. */
  from: number;
  to: number;
  mqls: number;
  sqls: number;
  rejected: number;
}

export interface ReportFigures {
  now: string;
  since?: string;
  modelVersion: string;
  threshold: number;
  funnel: {
    leads: number;
    mqls: number;
    sqls: number;
    won: number;
    /** MQLs with any sales outcome (a decision was made). */
    judged: number;
    rejected: number;
    lost: number;
    /** Won amounts summed per currency (`?` when none was given). */
    wonAmounts: { currency: string; amount: number }[];
    /** Leads with a sales outcome that the model never made an MQL (sales worked them anyway). */
    outcomesWithoutMql: number;
  };
  bySource: RateRow[];
  byMonth: RateRow[];
  scores: { bins: ScoreBin[]; median: { mqls: number | null; sqls: number | null; rejected: number | null } };
  rejectionReasons: { reason: string; count: number; share: number }[];
  timeToMql: { count: number; medianDays: number | null; p90Days: number | null; bins: { label: string; count: number }[] };
  /** Accounts next to leads: present when the model has an `account` section (lib/jobs/report/account-figures.ts). */
  accounts?: AccountFigures & { threshold: number };
  definitions: Record<string, string>;
}

const msPerDay = 86_400_000;

/** Nearest-rank percentile of sorted numbers; null for none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function median(values: readonly number[]): number | null {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

const reachedSql = (lead: ReportLead) => lead.outcomes.some((outcome) => sqlOutcomes.includes(outcome.type));
const wasRejected = (lead: ReportLead) => !reachedSql(lead) && lead.outcomes.some((outcome) => outcome.type === 'mql_rejected');

/** Time-to-MQL bins, in days: [upper bound (exclusive), label]. */
const timeBins: [number, string][] = [
  [1, 'same day (< 1 d)'],
  [7, '1-7 days'],
  [30, '7-30 days'],
  [90, '30-90 days'],
  [Number.POSITIVE_INFINITY, '90+ days'],
];

const scoreBinWidth = 10;

function rateRows(groups: Map<string, ReportLead[]>, countLeads: boolean): RateRow[] {
  return [...groups].map(([key, leads]) => {
    const mqls = leads.filter((lead) => lead.qualifiedAt !== undefined);
    const sqls = mqls.filter(reachedSql).length;
    return {
      key,
      leads: countLeads ? leads.length : 0,
      mqls: mqls.length,
      sqls,
      rejected: mqls.filter(wasRejected).length,
      rate: mqls.length > 0 ? sqls / mqls.length : null,
    };
  });
}

function groupBy(leads: readonly ReportLead[], key: (lead: ReportLead) => string): Map<string, ReportLead[]> {
  const groups = new Map<string, ReportLead[]>();
  for (const lead of leads) {
    const name = key(lead);
    groups.set(name, [...(groups.get(name) ?? []), lead]);
  }
  return groups;
}

export function computeFigures(leads: readonly ReportLead[], options: { now: Date; since?: Date; modelVersion: string; threshold: number }): ReportFigures {
  const mqls = leads.filter((lead) => lead.qualifiedAt !== undefined);
  const sqls = mqls.filter(reachedSql);
  const won = mqls.filter((lead) => lead.outcomes.some((outcome) => outcome.type === 'won'));
  const amounts = new Map<string, number>();
  for (const lead of won) {
    for (const outcome of lead.outcomes) {
      if (outcome.type !== 'won' || outcome.amount === undefined) continue;
      const currency = outcome.currency ?? '?';
      amounts.set(currency, (amounts.get(currency) ?? 0) + outcome.amount);
    }
  }

  const bySource = rateRows(
    groupBy(leads, (lead) => lead.source),
    true,
  ).sort((a, b) => b.leads - a.leads || a.key.localeCompare(b.key));
  const byMonth = rateRows(
    groupBy(mqls, (lead) => lead.qualifiedAt!.slice(0, 7)),
    false,
  ).sort((a, b) => a.key.localeCompare(b.key));

  const scored = mqls.filter((lead) => lead.scoreAtMql !== undefined);
  const bins: ScoreBin[] = [];
  if (scored.length > 0) {
    const low = Math.floor(Math.min(...scored.map((lead) => lead.scoreAtMql!)) / scoreBinWidth) * scoreBinWidth;
    const high = Math.floor(Math.max(...scored.map((lead) => lead.scoreAtMql!)) / scoreBinWidth) * scoreBinWidth;
    for (let from = low; from <= high; from += scoreBinWidth) bins.push({ from, to: from + scoreBinWidth, mqls: 0, sqls: 0, rejected: 0 });
    for (const lead of scored) {
      const bin = bins[Math.floor((lead.scoreAtMql! - low) / scoreBinWidth)]!;
      bin.mqls += 1;
      if (reachedSql(lead)) bin.sqls += 1;
      if (wasRejected(lead)) bin.rejected += 1;
    }
  }

  const reasons = new Map<string, number>();
  for (const lead of leads) {
    for (const outcome of lead.outcomes) {
      if (outcome.type === 'mql_rejected') reasons.set(outcome.reason ?? 'unspecified', (reasons.get(outcome.reason ?? 'unspecified') ?? 0) + 1);
    }
  }
  const rejections = [...reasons.values()].reduce((sum, count) => sum + count, 0);

  const days = mqls.map((lead) => (Date.parse(lead.qualifiedAt!) - Date.parse(lead.firstSeenAt)) / msPerDay).sort((a, b) => a - b);
  const round1 = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);

  return {
    now: options.now.toISOString(),
    ...(options.since ? { since: options.since.toISOString() } : {}),
    modelVersion: options.modelVersion,
    threshold: options.threshold,
    funnel: {
      leads: leads.length,
      mqls: mqls.length,
      sqls: sqls.length,
      won: won.length,
      judged: mqls.filter((lead) => lead.outcomes.length > 0).length,
      rejected: mqls.filter(wasRejected).length,
      lost: mqls.filter((lead) => lead.outcomes.some((outcome) => outcome.type === 'lost')).length,
      wonAmounts: [...amounts].map(([currency, amount]) => ({ currency, amount })).sort((a, b) => b.amount - a.amount),
      outcomesWithoutMql: leads.filter((lead) => lead.qualifiedAt === undefined && lead.outcomes.length > 0).length,
    },
    bySource,
    byMonth,
    scores: {
      bins,
      median: {
        mqls: median(scored.map((lead) => lead.scoreAtMql!)),
        sqls: median(scored.filter(reachedSql).map((lead) => lead.scoreAtMql!)),
        rejected: median(scored.filter(wasRejected).map((lead) => lead.scoreAtMql!)),
      },
    },
    rejectionReasons: [...reasons]
      .map(([reason, count]) => ({ reason, count, share: count / rejections }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
    timeToMql: {
      count: days.length,
      medianDays: round1(percentile(days, 50)),
      p90Days: round1(percentile(days, 90)),
      bins: timeBins.map(([upper, label], index) => ({
        label,
        count: days.filter((day) => day < upper && day >= (index === 0 ? Number.NEGATIVE_INFINITY : timeBins[index - 1]![0])).length,
      })),
    },
    definitions: reportDefinitions,
  };
}

export const reportDefinitions: Record<string, string> = {
  lead: 'a lead in the table (merged phone-only leads counted once, under their e-mail); with --since, first seen on or after that date',
  MQL: "the model (the stack's current one) makes it an MQL at some moment of its history, replaying its stored events in time order (outcomes left out), as mql backtest does",
  SQL: 'an MQL with an mql_accepted, sql or won outcome',
  won: 'an MQL with a won outcome; amounts summed per currency',
  rejected: 'an MQL with an mql_rejected outcome that never reached SQL',
  source: 'the leadSource (or lead_source) profile trait, else the utm_source property, else the provider of its first event',
  month: 'the UTC month the lead first became an MQL',
  'score at MQL': 'the total score right after the event that made it an MQL',
  'time to MQL': 'from the first event of the lead to the moment it first became an MQL',
};
