import { valueMatches } from './conditions.ts';
import { plural } from './explain.ts';
import { fitSubject, profileMatches } from './fit.ts';
import type { Lead, LeadStatus } from './lead.ts';
import { scoreLead } from './lead.ts';
import type { AccountSection, AccountTraitField, ScoringModel } from './model.ts';
import { accountTraitFields } from './model.ts';
import { round2, wholeShares } from './score.ts';

/**
 * An account's score at one instant (docs/accounts.md, "The account score"): fit on the account's traits,
 * engagement from its members' decayed behavior points (the top K, each capped, so one very active person
 * cannot qualify an account alone), and the breadth of its buying group (distinct roles among its engaged
 * members). Pure: the members are lead states, scored at `now` by the lead's own scoring (lib/core/score.ts),
 * so decay is the lead's. The explanation keeps the lead's guarantees: whole points that add up to the total,
 * each member's contribution, and what is missing.
 */

export const accountStatuses = ['new', 'engaged', 'mqa', 'recycled'] as const;
export type AccountStatus = (typeof accountStatuses)[number];

/** An account's traits as a group call gives them (lib/sources/segment.ts `profileFromGroup`). */
export type AccountTraits = Partial<Record<AccountTraitField, string | number>>;

/** A trait the account's fit rules read, and where it came from. */
export interface AccountTrait {
  value: string | number;
  /** `group`: the group call's traits; `members`: the value most members' profiles give. */
  from: 'group' | 'members';
  /** From members: how many give this value. */
  members?: number;
}

/** One line of an account score's explanation. */
export interface AccountReason {
  kind: 'fit' | 'engagement' | 'breadth';
  /** The account fit rule's id, `member` for a member's engagement, or the role's id. */
  rule: string;
  description: string;
  /** Engagement: the member (its lead id). */
  member?: string;
  /** Breadth: the engaged members holding the role. */
  members?: string[];
  /** What the line contributes, exactly (2 decimals). */
  pointsNow: number;
  /** Whole points: the reasons' `points` add up to the total exactly (lib/core/score.ts `wholeShares`). */
  points: number;
}

/** What one member brings the account. */
export interface MemberContribution {
  leadId: string;
  status: LeadStatus;
  /** The member's behavior points at `now`, in whole points, as its own lead score shows them. */
  behavior: number;
  /** Whole engagement points it gives the account (0 beyond the top members, or disqualified). */
  engagement: number;
  /** Among the top `engagement.topMembers`. */
  counted: boolean;
  /** Behavior points the member cap took off (0 when under the cap). */
  cut: number;
  /** At or above `breadth.memberFloor`: counts towards breadth and `minMembers`. */
  engaged: boolean;
  /** Its role (the first of `breadth.roles` its profile matches). */
  role?: string;
  /** A disqualified lead brings its account nothing. */
  disqualified?: true;
}

export interface AccountBreakdown {
  total: number;
  fit: number;
  engagement: number;
  breadth: number;
  /** Members at or above `breadth.memberFloor`. */
  engagedMembers: number;
  status: AccountStatus;
  /** Whether the score alone meets `mqa` and `minMembers` (an MQA stays one down to `recycleBelow`). */
  meetsThresholds: boolean;
  thresholds: AccountSection['thresholds'];
  traits: Partial<Record<AccountTraitField, AccountTrait>>;
  reasons: AccountReason[];
  /** Every member, most engagement first. */
  members: MemberContribution[];
  /** What the score means against the thresholds, in words: what is missing, or the margin before recycling. */
  missing: string[];
}

export type AccountMember = Pick<Lead, 'leadId' | 'status' | 'profile' | 'profileAsOf' | 'behavior' | 'disqualifiedBy' | 'outcome'>;

/**
 * The account's traits: each from the group call when it gives one, else the value most members' profiles give
 * (compared without regard to case or surrounding spaces), ties to the value set most recently, then to the
 * first lead id.
 */
export function accountTraits(members: readonly AccountMember[], group: AccountTraits | undefined): Partial<Record<AccountTraitField, AccountTrait>> {
  const traits: Partial<Record<AccountTraitField, AccountTrait>> = {};
  for (const field of accountTraitFields) {
    const given = group?.[field];
    if (given !== undefined && String(given).trim() !== '') {
      traits[field] = { value: given, from: 'group' };
      continue;
    }
    const votes = new Map<string, { value: string | number; members: number; latest: string }>();
    for (const member of [...members].sort((a, b) => a.leadId.localeCompare(b.leadId))) {
      const value = member.profile[field];
      if (value === undefined || String(value).trim() === '') continue;
      const key = String(value).trim().toLowerCase();
      const vote = votes.get(key) ?? { value, members: 0, latest: '' };
      vote.members += 1;
      const asOf = member.profileAsOf[field] ?? '';
      if (asOf > vote.latest) vote.latest = asOf;
      votes.set(key, vote);
    }
    const best = [...votes.values()].sort((a, b) => b.members - a.members || b.latest.localeCompare(a.latest))[0];
    if (best) traits[field] = { value: best.value, from: 'members', members: best.members };
  }
  return traits;
}

/** A member's role: the first role its profile matches. */
function roleOf(member: AccountMember, account: AccountSection, model: ScoringModel): string | undefined {
  return account.breadth.roles.find((role) => profileMatches(fitSubject(member), role.when, model.domains))?.id;
}

/**
 * The account's score at `now` and the status it should have, given the one it had (`previous`; undefined for
 * an account never scored). Undefined when the model has no `account` section: such a model scores no account.
 */
export function scoreAccount(
  members: readonly AccountMember[],
  traitsGiven: AccountTraits | undefined,
  previous: AccountStatus | undefined,
  model: ScoringModel,
  now: Date,
): AccountBreakdown | undefined {
  const account = model.account;
  if (!account) return undefined;

  const traits = accountTraits(members, traitsGiven);
  const fitReasons: AccountReason[] = [];
  const fitExact: number[] = [];
  for (const rule of account.fit.rules) {
    const trait = traits[rule.when.field];
    if (!valueMatches(trait?.value, rule.when)) continue;
    fitExact.push(rule.points);
    fitReasons.push({ kind: 'fit', rule: rule.id, description: rule.description, pointsNow: round2(rule.points), points: 0 });
  }

  // Each member at its own lead score (decay and caps of lib/core/score.ts), then capped for the account.
  const scored = members.map((member) => {
    const behavior = scoreLead(member, model, now).behavior;
    const disqualified = member.status === 'disqualified' || member.disqualifiedBy !== undefined;
    const value = disqualified ? 0 : Math.min(account.engagement.memberCap, Math.max(0, behavior));
    return { member, behavior, disqualified, value };
  });
  const ranked = [...scored].sort((a, b) => b.value - a.value || a.member.leadId.localeCompare(b.member.leadId));
  const counted = ranked.slice(0, account.engagement.topMembers).filter((entry) => entry.value > 0);
  const engagementExact = counted.map((entry) => entry.value);
  const engagementReasons: AccountReason[] = counted.map((entry) => ({
    kind: 'engagement',
    rule: 'member',
    description: 'Behavior points of one of the most engaged members (at most engagement.memberCap)',
    member: entry.member.leadId,
    pointsNow: round2(entry.value),
    points: 0,
  }));

  // Breadth: distinct roles among the engaged members, in the order of the model's roles, within maxPoints.
  const engaged = ranked.filter((entry) => !entry.disqualified && entry.behavior >= account.breadth.memberFloor);
  const roles = new Map(engaged.map((entry) => [entry.member.leadId, roleOf(entry.member, account, model)]));
  const breadthReasons: AccountReason[] = [];
  const breadthExact: number[] = [];
  let breadthSoFar = 0;
  for (const role of account.breadth.roles) {
    const holders = engaged.filter((entry) => roles.get(entry.member.leadId) === role.id).map((entry) => entry.member.leadId);
    if (holders.length === 0) continue;
    const after = Math.min(account.breadth.maxPoints ?? Infinity, breadthSoFar + account.breadth.pointsPerRole);
    const value = after - breadthSoFar;
    breadthSoFar = after;
    breadthExact.push(value);
    breadthReasons.push({ kind: 'breadth', rule: role.id, description: role.description, members: holders, pointsNow: round2(value), points: 0 });
  }

  for (const [reasons, exact] of [
    [fitReasons, fitExact],
    [engagementReasons, engagementExact],
    [breadthReasons, breadthExact],
  ] as const) {
    for (const [index, points] of wholeShares(exact).entries()) reasons[index]!.points = points;
  }
  const sum = (values: readonly number[]) => Math.round(values.reduce((total, value) => total + value, 0));
  const fit = sum(fitExact);
  const engagement = sum(engagementExact);
  const breadth = sum(breadthExact);
  const total = fit + engagement + breadth;
  const { mqa, minMembers } = account.thresholds;
  const meetsThresholds = total >= mqa && engaged.length >= minMembers;
  const status = nextAccountStatus(previous ?? 'new', { total, engagement, meetsThresholds }, account);

  const engagementOf = new Map(engagementReasons.map((reason) => [reason.member!, reason.points]));
  const contributions: MemberContribution[] = ranked.map((entry) => {
    const role = roles.get(entry.member.leadId);
    return {
      leadId: entry.member.leadId,
      status: entry.member.status,
      behavior: entry.behavior,
      engagement: engagementOf.get(entry.member.leadId) ?? 0,
      counted: engagementOf.has(entry.member.leadId),
      cut: entry.disqualified ? 0 : round2(Math.max(0, entry.behavior - account.engagement.memberCap)),
      engaged: roles.has(entry.member.leadId),
      ...(role ? { role } : {}),
      ...(entry.disqualified ? { disqualified: true as const } : {}),
    };
  });

  const reasons = [...fitReasons, ...engagementReasons, ...breadthReasons];
  return {
    total,
    fit,
    engagement,
    breadth,
    engagedMembers: engaged.length,
    status,
    meetsThresholds,
    thresholds: account.thresholds,
    traits,
    reasons,
    members: contributions,
    missing: missingFor(status, { total, engagedMembers: engaged.length, meetsThresholds }, account, ranked.length),
  };
}

/**
 * The status an account should have now, given the one it has: the lead's hysteresis (lib/core/lead.ts
 * `nextStatus`). An MQA at `mqa` (with `minMembers` engaged members), back to `recycled` only below
 * `recycleBelow`; between the two the status stays whatever it was.
 */
function nextAccountStatus(
  previous: AccountStatus,
  score: { total: number; engagement: number; meetsThresholds: boolean },
  account: AccountSection,
): AccountStatus {
  if (previous === 'mqa') return score.total < account.thresholds.recycleBelow ? 'recycled' : 'mqa';
  if (score.meetsThresholds) return 'mqa';
  if (previous === 'new' && score.engagement > 0) return 'engaged';
  return previous;
}

/** What the score means, in words (as lib/core/explain.ts `verdict` says it for a lead). */
function missingFor(
  status: AccountStatus,
  score: { total: number; engagedMembers: number; meetsThresholds: boolean },
  account: AccountSection,
  memberCount: number,
): string[] {
  const { mqa, minMembers, recycleBelow } = account.thresholds;
  if (status === 'mqa') {
    const margin = score.total - recycleBelow;
    return [
      `an MQA (total ${score.total}): recycled when the total falls below recycleBelow ${recycleBelow}, i.e. after losing ${plural(margin + 1, 'point')}`,
    ];
  }
  const missing: string[] = [];
  if (score.total < mqa) missing.push(`needs ${plural(mqa - score.total, 'more point')} to qualify (total ${score.total} of mqa ${mqa})`);
  if (score.engagedMembers < minMembers) {
    missing.push(
      `needs ${plural(minMembers - score.engagedMembers, 'more engaged member')} (${score.engagedMembers} of minMembers ${minMembers} with at least ${account.breadth.memberFloor} behavior points)`,
    );
  }
  const { topMembers, memberCap } = account.engagement;
  if (!score.meetsThresholds)
    missing.push(
      `engagement counts the ${plural(topMembers, 'most engaged member')} at most ${memberCap} points each (${plural(memberCount, 'member')} known)`,
    );
  if (status === 'recycled') missing.push(`recycled: it qualifies again at total ${mqa}`);
  return missing;
}
