import type { NormalizedEvent } from './events.ts';
import type { Evaluation, Lead, LeadStatus } from './lead.ts';
import { applyEvents, evaluateLead, newLead } from './lead.ts';
import type { ScoringModel } from './model.ts';

/**
 * Replaying a lead's stored events under a model: what `mql rescore` writes and what `mql backtest`
 * compares. Pure: the events and `now` are parameters.
 */

/** Sales outcomes: the yardstick a backtest measures a model against, never an input to its replay. */
export const outcomeTypes = ['mql_accepted', 'mql_rejected', 'sql', 'won', 'lost'] as const;
const isOutcome = (event: Pick<NormalizedEvent, 'type'>) => (outcomeTypes as readonly string[]).includes(event.type);

/**
 * The lead rebuilt from ALL its stored events under `model`, as of `now`, keeping its lifecycle: status
 * (so an MQL keeps the hysteresis of `recycleBelow`), transition count and creation time (so a transition
 * this causes gets a new, stable handoff id), `wasMql`, `mqlAt`, the outbox and merge bookkeeping.
 * Everything scored is derived afresh: profile, behavior per rule, disqualification, outcome, counts.
 * A lead disqualified before that the model no longer disqualifies starts over as `new`.
 */
export function replayLead(previous: Lead, events: readonly NormalizedEvent[], model: ScoringModel, now: Date): Evaluation {
  const fresh = newLead(previous.leadId, new Date(previous.createdAt), model);
  const { disqualifiedBy: _disqualifiedBy, outcome: _outcome, ...lifecycle } = previous;
  const base: Lead = {
    ...lifecycle,
    status: previous.status === 'disqualified' ? 'new' : previous.status,
    profile: fresh.profile,
    profileAsOf: {},
    behavior: {},
    eventCount: 0,
    recentEvents: [],
  };
  const own = events.map((event) => (event.leadKey === previous.leadId ? event : { ...event, leadKey: previous.leadId }));
  // A fast track counts once: an MQL recycled since is not qualified again by the events that fast-tracked it
  // (ingest would not: it fast-tracks on the events of the write at hand), only by one after its recycling.
  const options = previous.status === 'recycled' ? { fastTrackAfter: previous.statusChangedAt } : {};
  return own.length > 0 ? applyEvents(base, own, model, now, options) : evaluateLead(base, model, now);
}

/** How one model sees one lead in a backtest. */
export interface Qualification {
  /** Whether the lead became an MQL at any point of its history up to `now`. */
  qualified: boolean;
  /** When it first did. */
  qualifiedAt?: string;
  /** Its status at `now` by the model alone (outcomes left out). */
  statusNow: LeadStatus;
}

/**
 * Replays a lead's events under `model` in time order, evaluating after each instant that has events and
 * at `now`, outcome events left out. Behavior only decays between events (positive points), so checking
 * right after each event finds every moment the lead could have qualified; a fast track counts at the
 * moment of its event, as it would have at ingest.
 */
export function qualificationOf(leadId: string, events: readonly NormalizedEvent[], model: ScoringModel, now: Date): Qualification {
  const scored = events
    .filter((event) => !isOutcome(event) && Date.parse(event.occurredAt) <= now.getTime())
    .map((event) => (event.leadKey === leadId ? event : { ...event, leadKey: leadId }))
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
  if (scored.length === 0) return { qualified: false, statusNow: 'new' };
  let lead: Lead | undefined;
  let qualifiedAt: string | undefined;
  for (let index = 0; index < scored.length; ) {
    const at = scored[index]!.occurredAt;
    let end = index;
    while (end < scored.length && scored[end]!.occurredAt === at) end += 1;
    lead = applyEvents(lead, scored.slice(index, end), model, new Date(at)).lead;
    if (!qualifiedAt && lead.status === 'mql') qualifiedAt = at;
    index = end;
  }
  const last = evaluateLead(lead!, model, now).lead;
  if (!qualifiedAt && last.status === 'mql') qualifiedAt = now.toISOString();
  return { qualified: qualifiedAt !== undefined, ...(qualifiedAt ? { qualifiedAt } : {}), statusNow: last.status };
}

/** The sales outcomes a lead has, by type. */
export function outcomesOf(events: readonly Pick<NormalizedEvent, 'type'>[]): Set<string> {
  return new Set(events.filter(isOutcome).map((event) => event.type));
}

/** One lead as both models see it. */
export interface BacktestRow {
  leadId: string;
  current: Qualification;
  candidate: Qualification;
  outcomes: ReadonlySet<string>;
}

export interface ModelSummary {
  version: string;
  /** Leads that became an MQL at some point up to `now`. */
  mqls: number;
  /** Leads whose status at `now` is `mql`. */
  mqlNow: number;
  /** Of `mqls`, how many have an `sql`, `mql_accepted` or `won` outcome. */
  mqlWithSql: number;
  /** Of `mqls`, how many have a `won` outcome. */
  mqlWithWon: number;
  /** `mqlWithSql / mqls`; null when no lead of the set has any outcome, or the model makes no MQL. */
  mqlToSqlRate: number | null;
  /** `mqlWithWon / mqls`; null likewise. */
  mqlToWonRate: number | null;
  /** Of `mqls`, how many sales judged (any outcome): the leads whose MQL -> SQL is known, not assumed. */
  mqlJudged: number;
  /**
   * `mqlWithSql / mqlJudged`: MQL -> SQL over the MQLs sales judged only. A candidate that qualifies leads
   * sales never saw is not marked down for them (`mqlToSqlRate` counts them as not SQL). Null with none judged.
   */
  judgedSqlRate: number | null;
  /** `mqlWithSql / leadsReachedSql`: of every lead sales took to SQL, the share the model makes an MQL. Null with none. */
  sqlRecall: number | null;
}

export interface BacktestReport {
  now: string;
  since?: string;
  leads: number;
  /** Leads with at least one sales outcome event. */
  leadsWithOutcomes: number;
  /** Leads with an `sql`, `mql_accepted` or `won` outcome, whichever model made them MQLs. */
  leadsReachedSql: number;
  current: ModelSummary;
  candidate: ModelSummary;
  newlyQualifying: { count: number; sample: string[] };
  noLongerQualifying: { count: number; sample: string[] };
  definitions: Record<string, string>;
}

/** How many lead ids each list of the report shows. */
export const backtestSampleSize = 10;

/** Sums backtest rows into the report; pure, so the walk over the table stays a loop. */
export class BacktestTally {
  private leads = 0;
  private leadsWithOutcomes = 0;
  private leadsReachedSql = 0;
  private readonly models = {
    current: { mqls: 0, mqlNow: 0, mqlWithSql: 0, mqlWithWon: 0, mqlJudged: 0 },
    candidate: { mqls: 0, mqlNow: 0, mqlWithSql: 0, mqlWithWon: 0, mqlJudged: 0 },
  };
  private readonly newly: string[] = [];
  private readonly noLonger: string[] = [];

  add(row: BacktestRow): void {
    this.leads += 1;
    if (row.outcomes.size > 0) this.leadsWithOutcomes += 1;
    const reachedSql = row.outcomes.has('sql') || row.outcomes.has('mql_accepted') || row.outcomes.has('won');
    if (reachedSql) this.leadsReachedSql += 1;
    for (const side of ['current', 'candidate'] as const) {
      const seen = row[side];
      const counts = this.models[side];
      if (seen.statusNow === 'mql') counts.mqlNow += 1;
      if (!seen.qualified) continue;
      counts.mqls += 1;
      if (row.outcomes.size > 0) counts.mqlJudged += 1;
      if (reachedSql) counts.mqlWithSql += 1;
      if (row.outcomes.has('won')) counts.mqlWithWon += 1;
    }
    if (row.candidate.qualified && !row.current.qualified) this.newly.push(row.leadId);
    if (row.current.qualified && !row.candidate.qualified) this.noLonger.push(row.leadId);
  }

  report(current: Pick<ScoringModel, 'version'>, candidate: Pick<ScoringModel, 'version'>, now: Date, since?: Date): BacktestReport {
    const summary = (side: 'current' | 'candidate', version: string): ModelSummary => {
      const counts = this.models[side];
      const rate = (part: number) => (this.leadsWithOutcomes > 0 && counts.mqls > 0 ? part / counts.mqls : null);
      return {
        version,
        ...counts,
        mqlToSqlRate: rate(counts.mqlWithSql),
        mqlToWonRate: rate(counts.mqlWithWon),
        judgedSqlRate: counts.mqlJudged > 0 ? counts.mqlWithSql / counts.mqlJudged : null,
        sqlRecall: this.leadsReachedSql > 0 ? counts.mqlWithSql / this.leadsReachedSql : null,
      };
    };
    const sample = (ids: string[]) => ({ count: ids.length, sample: [...ids].sort().slice(0, backtestSampleSize) });
    return {
      now: now.toISOString(),
      ...(since ? { since: since.toISOString() } : {}),
      leads: this.leads,
      leadsWithOutcomes: this.leadsWithOutcomes,
      leadsReachedSql: this.leadsReachedSql,
      current: summary('current', current.version),
      candidate: summary('candidate', candidate.version),
      newlyQualifying: sample(this.newly),
      noLongerQualifying: sample(this.noLonger),
      definitions: backtestDefinitions,
    };
  }
}

export const backtestDefinitions: Record<string, string> = {
  leads: 'leads replayed (e-mail and unmerged provider-key leads; with --since, those first seen on or after that time, with their whole history)',
  mqls: 'leads the model makes an MQL at some moment of their stored history up to now (outcome events left out of the replay)',
  mqlNow: 'leads whose status under the model is mql now',
  mqlToSqlRate: 'of the leads the model makes an MQL, the share with an sql, mql_accepted or won outcome event',
  mqlToWonRate: 'of the leads the model makes an MQL, the share with a won outcome event',
  judgedSqlRate: 'MQL -> SQL over the MQLs sales judged only (any outcome): a candidate is not marked down for MQLs sales never saw',
  sqlRecall: 'of all leads with an sql, mql_accepted or won outcome, the share the model makes an MQL',
};
