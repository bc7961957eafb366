import { createHash } from 'node:crypto';
import { valueMatches } from './conditions.ts';
import type { RuleState } from './decay.ts';
import { addPoints, msPerDay } from './decay.ts';
import type { NormalizedEvent, Profile, PropertyValue } from './events.ts';
import { withReasonEvents } from './explain.ts';
import { fitSubject, profileMatches } from './fit.ts';
import type { HandoffRecord, HandoffType, Reason, RecentEvent } from './handoff.ts';
import { isEmailLeadId, isTestLeadId, isVisitorLeadId } from './identity.ts';
import { mergeProfile, recentEvent } from './lead-summary.ts';
import type { BehaviorRule, PropertyCondition, ScoringModel } from './model.ts';
import type { Breakdown } from './score.ts';
import { halfLifeOf, scoreBreakdown } from './score.ts';

/**
 * A lead's lifecycle and scoring state, and the pure functions that move it forward:
 * `applyEvents` at ingest, `evaluateLead` in the decay job. Time is always a parameter.
 */

export const leadStatuses = ['new', 'engaged', 'mql', 'recycled', 'disqualified', 'sql', 'won', 'lost'] as const;
export type LeadStatus = (typeof leadStatuses)[number];

/** Sales outcomes that take the lead out of marketing's hands (issue 5 deepens the feedback loop). */
const outcomeStatus: Record<string, LeadStatus> = {
  mql_accepted: 'sql',
  sql: 'sql',
  won: 'won',
  lost: 'lost',
  mql_rejected: 'recycled',
};

/** How many recent events a lead keeps for the handoff record. */
export const recentEventLimit = 20;

export interface Lead {
  leadId: string;
  /** When this lead record was created; with the transition count it makes handoff ids unique to this record. */
  createdAt: string;
  profile: Profile;
  /** When each profile field was last set (ISO, from the event), so a late, older event never overwrites a newer value. */
  profileAsOf: Record<string, string>;
  status: LeadStatus;
  /** Behavior points per rule id. */
  behavior: Record<string, RuleState>;
  disqualifiedBy?: { rule: string; at: string };
  /**
   * The latest sales outcome, which decides the status while present: its type, when, a rejection's
   * reason (what fit rules read as `salesRejection`), a won deal's amount and currency, and where it came from.
   */
  outcome?: LeadOutcomeState;
  firstSeenAt: string;
  lastEventAt: string;
  eventCount: number;
  statusChangedAt: string;
  mqlAt?: string;
  /** Ever been an MQL: then a disqualification is news for sales. */
  wasMql: boolean;
  /** Transitions so far: numbers each transition so its id is stable across retries. */
  transitionCount: number;
  recentEvents: RecentEvent[];
  modelVersion: string;
  /** Handoffs decided but not yet confirmed on the handoff queue, by id (the transactional outbox). */
  outbox: Record<string, HandoffRecord>;
  /**
   * Provider-key leads (`phone:...`, a visitor's `anon:...`, `user:...`) whose events this lead absorbed once its e-mail was known.
   * Set by the store when it merges; the core only carries it into the handoff record.
   */
  mergedFrom?: string[];
}

export type { Breakdown } from './score.ts';

/** What {@link Lead.outcome} keeps of a sales outcome event. */
export interface LeadOutcomeState {
  type: string;
  at: string;
  reason?: string;
  amount?: number;
  currency?: string;
  /** The source that reported it: `crm` (POST /webhooks/crm) or `hubspot` (HubSpot's own webhook). */
  source?: string;
}

/** The outcome state of an outcome event: the properties that matter to fit rules and to operators. */
function outcomeOf(type: string, event: Pick<NormalizedEvent, 'occurredAt' | 'properties' | 'source'>): LeadOutcomeState {
  const { reason, amount, currency } = event.properties;
  return {
    type,
    at: event.occurredAt,
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof amount === 'number' ? { amount } : {}),
    ...(typeof currency === 'string' ? { currency } : {}),
    source: event.source,
  };
}

function propertyMatches(properties: Record<string, PropertyValue>, condition: PropertyCondition): boolean {
  return valueMatches(Object.hasOwn(properties, condition.property) ? properties[condition.property] : undefined, condition);
}

/** Whether an event is of the rule's type(s) and satisfies every `where` condition. */
export function eventMatches(event: Pick<NormalizedEvent, 'type' | 'properties'>, rule: { type: string | string[]; where: PropertyCondition[] }): boolean {
  const types = Array.isArray(rule.type) ? rule.type : [rule.type];
  return types.includes(event.type) && rule.where.every((condition) => propertyMatches(event.properties, condition));
}

/**
 * The type an event is scored as: a `form_submitted` event of a form the model maps (`forms`) counts as
 * the mapped type; every other event as its own. Applied when scoring, never at ingest.
 */
export function scoredType(event: Pick<NormalizedEvent, 'type' | 'properties'>, model: Pick<ScoringModel, 'forms'>): string {
  if (event.type !== 'form_submitted' || !model.forms) return event.type;
  const formId = Object.hasOwn(event.properties, 'formId') ? event.properties.formId : undefined;
  if (formId === undefined || formId === null) return event.type;
  const key = String(formId);
  return Object.hasOwn(model.forms, key) ? model.forms[key]!.type : event.type;
}

/** The behavior rule an event scores under: the first that matches. */
export function behaviorRuleFor(event: Pick<NormalizedEvent, 'type' | 'properties'>, model: ScoringModel): BehaviorRule | undefined {
  return model.behavior.rules.find((rule) => eventMatches(event, rule));
}

/** The score of a lead at `now`: fit from the profile, behavior decayed to `now` and capped (lib/core/score.ts). */
export function scoreLead(lead: Pick<Lead, 'profile' | 'behavior' | 'disqualifiedBy' | 'outcome'>, model: ScoringModel, now: Date): Breakdown {
  return scoreBreakdown(lead, model, now);
}

function qualifies(score: Breakdown, model: ScoringModel): boolean {
  const { mql, minFit, minBehavior } = model.thresholds;
  return score.total >= mql && score.fit >= minFit && score.behavior >= minBehavior;
}

/** The status a lead should have now, given the one it has. Pure hysteresis: MQL at `mql`, back only below `recycleBelow`. */
function nextStatus(lead: Lead, score: Breakdown, model: ScoringModel, fastTracked: boolean): LeadStatus {
  if (lead.disqualifiedBy) return 'disqualified';
  if (lead.outcome) {
    const decided = outcomeStatus[lead.outcome.type];
    if (decided && decided !== 'recycled') return decided;
    if (decided === 'recycled') {
      if (lead.status === 'mql') return 'recycled';
      // A rejected MQL is nurtured again and may re-qualify, but only on engagement after the rejection:
      // the score sales has just turned down must not come straight back to it.
      if (!engagedSince(lead, model, lead.outcome.at)) return lead.status;
    }
  }
  if (lead.status === 'mql') return score.total < model.thresholds.recycleBelow ? 'recycled' : 'mql';
  if (qualifies(score, model) || (fastTracked && score.fit >= model.thresholds.minFit)) return 'mql';
  if (lead.status === 'new' && score.behavior > 0) return 'engaged';
  return lead.status;
}

/** Whether a rule that adds points saw an event after `at` (ISO times compare as strings). */
function engagedSince(lead: Lead, model: ScoringModel, at: string): boolean {
  return model.behavior.rules.some((rule) => rule.points > 0 && (lead.behavior[rule.id]?.lastSeen ?? '') > at);
}

/**
 * Whether sales hears of a change of status: every MQL, an MQL's recycling by decay, a disqualification
 * of a former MQL. A recycling that sales caused (it rejected the MQL) is not sent back to it.
 */
function handoffTypeFor(from: LeadStatus, to: LeadStatus, lead: Lead): HandoffType | undefined {
  if (from === to) return undefined;
  if (to === 'mql') return 'lead.mql';
  if (to === 'recycled' && from === 'mql' && lead.outcome?.type !== 'mql_rejected') return 'lead.recycled';
  if (to === 'disqualified' && lead.wasMql) return 'lead.disqualified';
  return undefined;
}

/**
 * Id of the n-th transition of a lead record: decided once, kept in the outbox, so it is the same on every
 * retry of its delivery; never reused by another record of the same e-mail (it includes the creation time).
 */
export function transitionId(lead: Pick<Lead, 'leadId' | 'createdAt'>, sequence: number): string {
  return `msg_${createHash('sha256').update(`${lead.leadId}#${lead.createdAt}#${sequence}`).digest('base64url').slice(0, 27)}`;
}

export function newLead(leadId: string, now: Date, model: ScoringModel): Lead {
  const at = now.toISOString();
  return {
    leadId,
    createdAt: at,
    // A lead known by a provider key (`phone:+1415...`, a phone-only form) has no e-mail yet: its key is
    // not an address, and fit rules on the e-mail domain must not read it as one.
    profile: isEmailLeadId(leadId) ? { email: leadId } : {},
    profileAsOf: {},
    status: 'new',
    behavior: {},
    firstSeenAt: at,
    lastEventAt: at,
    eventCount: 0,
    statusChangedAt: at,
    wasMql: false,
    transitionCount: 0,
    recentEvents: [],
    modelVersion: model.version,
    outbox: {},
  };
}

function byTimeThenId(a: { occurredAt: string; source: string; sourceEventId?: string }, b: typeof a): number {
  return a.occurredAt.localeCompare(b.occurredAt) || a.source.localeCompare(b.source) || (a.sourceEventId ?? '').localeCompare(b.sourceEventId ?? '');
}

export interface Evaluation {
  lead: Lead;
  score: Breakdown;
  /** Handoffs this change decided (already in `lead.outbox`). */
  handoffs: HandoffRecord[];
}

/**
 * Applies new events (none already applied: the store filters redeliveries) and re-evaluates at `now`.
 * The result is the same whatever order the events arrive in, across calls as within one.
 * `fastTrackAfter`: only events after this instant may fast-track (a replay, lib/core/replay.ts).
 */
export function applyEvents(
  previous: Lead | undefined,
  events: readonly NormalizedEvent[],
  model: ScoringModel,
  now: Date,
  options: { fastTrackAfter?: string } = {},
): Evaluation {
  const first = events[0];
  if (!previous && !first) throw new Error('applyEvents needs a lead or at least one event');
  const lead: Lead = structuredClone(previous ?? newLead(first!.leadKey, now, model));
  let fastTracked = false;
  const nowMs = now.getTime();
  for (const event of [...events].sort(byTimeThenId)) {
    if (event.leadKey !== lead.leadId) throw new Error(`event ${event.sourceEventId} belongs to ${event.leadKey}, not ${lead.leadId}`);
    if (event.profile) mergeProfile(lead, event.profile, event.occurredAt);
    const scored = { type: scoredType(event, model), properties: event.properties };
    const rule = behaviorRuleFor(scored, model);
    if (rule) lead.behavior[rule.id] = addPoints(lead.behavior[rule.id], rule.points, event.occurredAt, halfLifeOf(rule, model));
    const disqualifier = model.disqualify.find((candidate) => 'type' in candidate && eventMatches(scored, candidate));
    if (disqualifier && !lead.disqualifiedBy) lead.disqualifiedBy = { rule: disqualifier.id, at: event.occurredAt };
    const fastTrack = model.fastTrack.find((candidate) => eventMatches(scored, candidate));
    const fresh = options.fastTrackAfter === undefined || event.occurredAt > options.fastTrackAfter;
    if (fastTrack && fresh && nowMs - Date.parse(event.occurredAt) <= fastTrack.withinDays * msPerDay) fastTracked = true;
    if (scored.type in outcomeStatus && (!lead.outcome || lead.outcome.at <= event.occurredAt)) {
      lead.outcome = outcomeOf(scored.type, event);
    }
    if (event.occurredAt < lead.firstSeenAt || lead.eventCount === 0) lead.firstSeenAt = event.occurredAt;
    if (event.occurredAt > lead.lastEventAt || lead.eventCount === 0) lead.lastEventAt = event.occurredAt;
    lead.eventCount += 1;
  }
  lead.recentEvents = [...lead.recentEvents, ...events.map(recentEvent)].sort((a, b) => byTimeThenId(b, a)).slice(0, recentEventLimit);
  return settle(lead, model, now, fastTracked);
}

/** Re-evaluates a lead at `now` with no new events: the decay job's step. */
export function evaluateLead(previous: Lead, model: ScoringModel, now: Date): Evaluation {
  return settle(structuredClone(previous), model, now, false);
}

function settle(lead: Lead, model: ScoringModel, now: Date, fastTracked: boolean): Evaluation {
  if (!lead.disqualifiedBy) {
    const profileDisqualifier = model.disqualify.find((rule) => 'when' in rule && profileMatches(fitSubject(lead), rule.when, model.domains));
    if (profileDisqualifier) lead.disqualifiedBy = { rule: profileDisqualifier.id, at: now.toISOString() };
  }
  const score = scoreLead(lead, model, now);
  const from = lead.status;
  // A visitor is not scored as anyone (lib/core/identity.ts): its status stays as it was created.
  const to = isVisitorLeadId(lead.leadId) ? from : nextStatus(lead, score, model, fastTracked);
  const handoffs: HandoffRecord[] = [];
  lead.modelVersion = model.version;
  if (to !== from) {
    const at = now.toISOString();
    // A sender's test data (lib/core/identity.ts `isTestLeadId`) changes status like any lead, so the operator
    // sees what a real lead would do; it never puts a record in the outbox, so sales never receives it.
    const type = isTestLeadId(lead.leadId) ? undefined : handoffTypeFor(from, to, lead);
    lead.status = to;
    lead.statusChangedAt = at;
    if (to === 'mql') {
      lead.mqlAt = at;
      lead.wasMql = true;
    }
    if (type) {
      lead.transitionCount += 1;
      const record = handoffRecord(lead, score, model, type, transitionId(lead, lead.transitionCount), at);
      lead.outbox[record.id] = record;
      handoffs.push(record);
    }
  }
  return { lead, score, handoffs };
}

/**
 * The profile as sales receives it: `email` is the lead's id when that is an e-mail, and absent for a
 * lead known by a provider key (a phone-only lead's `phone:+1...` is no address for a CRM to write to).
 */
export function recordProfile(lead: Pick<Lead, 'leadId' | 'profile'>): Profile {
  const { email: _email, ...profile } = lead.profile;
  return isEmailLeadId(lead.leadId) ? { ...profile, email: lead.leadId } : profile;
}

/** The score's reasons with the latest events behind each behavior rule (from the lead's recent events). */
export function explainedReasons(lead: Pick<Lead, 'recentEvents'>, score: Breakdown, model: ScoringModel): Reason[] {
  return withReasonEvents(
    score.reasons,
    lead.recentEvents,
    model,
    (event) => behaviorRuleFor({ type: scoredType(event, model), properties: event.properties }, model)?.id,
  );
}

/**
 * The keys earlier records of the lead were sent under: a visitor or user key never had one (a visitor never
 * hands off), and its anonymous id is nothing for a CRM to hold.
 */
function recordMergedFrom(lead: Pick<Lead, 'mergedFrom'>): { mergedFrom?: string[] } {
  const keys = (lead.mergedFrom ?? []).filter((key) => !isVisitorLeadId(key));
  return keys.length > 0 ? { mergedFrom: keys } : {};
}

/** The record sales receives (docs/operator-contract.md, "The outbound record"). */
export function handoffRecord(lead: Lead, score: Breakdown, model: ScoringModel, type: HandoffType, id: string, occurredAt: string): HandoffRecord {
  return {
    type,
    id,
    occurredAt,
    leadId: lead.leadId,
    ...recordMergedFrom(lead),
    lead: recordProfile(lead),
    score: { total: score.total, fit: score.fit, behavior: score.behavior, threshold: model.thresholds.mql, modelVersion: model.version },
    reasons: explainedReasons(lead, score, model),
    recentEvents: lead.recentEvents.slice(0, 10),
  };
}

/**
 * The status time alone gives the lead at `at`: the decay job's evaluation without its side effects.
 * Only the score moves with time, so this is `nextStatus` at the score of that instant.
 */
export function statusAt(lead: Lead, model: ScoringModel, at: Date): LeadStatus {
  // A visitor keeps its status (see settle): it is never due for a change either.
  if (isVisitorLeadId(lead.leadId)) return lead.status;
  return nextStatus(lead, scoreLead(lead, model, at), model, false);
}

/**
 * Below this many points a rule's decaying value counts as gone: "behavior reaches zero for practical
 * purposes". A hundredth of a point cannot move a score kept in whole points unless it sits on a half.
 */
const negligiblePoints = 0.01;

/** The furthest a due time is looked for: past it, a lead is re-read only when it changes. */
const horizonMs = 20 * 365 * msPerDay;

/**
 * When every decaying behavior rule of the lead is worth less than `negligiblePoints` (bounded by the
 * horizon): past it the score no longer moves. Undefined when nothing of the lead decays.
 */
function settledAt(lead: Pick<Lead, 'behavior'>, model: ScoringModel, from: number): { at: number; mixedSigns: boolean } | undefined {
  let latest: number | undefined;
  let positive = false;
  let negative = false;
  for (const rule of model.behavior.rules) {
    const state = lead.behavior[rule.id];
    const halfLife = halfLifeOf(rule, model);
    if (!state || halfLife === null || Math.abs(state.sum) < negligiblePoints) continue;
    if (state.sum > 0) positive = true;
    else negative = true;
    const gone = Date.parse(state.asOf) + halfLife * msPerDay * Math.log2(Math.abs(state.sum) / negligiblePoints);
    latest = Math.max(latest ?? gone, gone);
  }
  if (latest === undefined || latest <= from) return undefined;
  return { at: Math.min(latest, from + horizonMs), mixedSigns: positive && negative };
}

/**
 * When time alone first changes the lead's status, to the whole second; undefined when it never will.
 * Derived from the lifecycle itself (`statusAt`), so whatever transition the score's decay can cause is
 * found: with the default model, an MQL recycled when its total falls below `recycleBelow` (a new or
 * engaged lead only loses points with time, and no status of theirs changes for that, so it is never
 * due, even when its behavior decays to nothing). A model with negative decaying points can also lift a
 * lead into MQL by time alone; that is found too.
 *
 * When the decaying points all have one sign the score moves one way, the status changes at most once,
 * and the moment is exact. With points of both signs the score can rise and fall again: it is sampled
 * at doubling steps from an hour on, so a change shorter than its step may be missed (the lead's next
 * event re-evaluates it), never reported early.
 */
export function statusChangeAt(lead: Lead, model: ScoringModel, now: Date): string | undefined {
  const from = lead.status;
  const changes = (at: number) => statusAt(lead, model, new Date(at)) !== from;
  const start = now.getTime();
  if (changes(start)) return now.toISOString();
  const settled = settledAt(lead, model, start);
  if (!settled) return undefined;
  // One way only: unchanged once settled means unchanged all along (one evaluation for most leads).
  if (!settled.mixedSigns && !changes(settled.at)) return undefined;
  let step = 60 * 60 * 1000;
  let low = start;
  let high = Math.min(settled.at, start + step);
  while (!changes(high)) {
    if (high >= settled.at) return undefined;
    low = high;
    step *= 2;
    high = Math.min(settled.at, high + step);
  }
  // To the millisecond, then up to the whole second: evaluations at different instants agree on it,
  // so a re-evaluation that changes nothing writes nothing.
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (changes(middle)) high = middle;
    else low = middle;
  }
  return new Date(Math.ceil(high / 1000) * 1000).toISOString();
}

/** When time alone will recycle an MQL (see `statusChangeAt`); undefined for other statuses. */
export function recycleAt(lead: Lead, model: ScoringModel, now: Date): string | undefined {
  return lead.status === 'mql' ? statusChangeAt(lead, model, now) : undefined;
}

/**
 * When the decay job should next look at the lead: now while handoffs wait in its outbox (so a failed
 * enqueue is retried), else when time alone changes its status. Undefined when nothing will happen by
 * time alone: the lead is then kept out of the due index.
 */
export function dueAt(lead: Lead, model: ScoringModel, now: Date): string | undefined {
  if (Object.keys(lead.outbox).length > 0) return now.toISOString();
  return statusChangeAt(lead, model, now);
}
