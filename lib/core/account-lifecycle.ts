import { createHash } from 'node:crypto';
import type { Account } from './account.ts';
import type { AccountBreakdown, AccountMember, AccountReason, AccountStatus, AccountTraits } from './account-score.ts';
import { scoreAccount } from './account-score.ts';
import type { LeadStatus } from './lead.ts';
import { scoreLead as scoreLeadOf } from './lead.ts';
import type { ScoringModel } from './model.ts';
import { accountTraitFields } from './model.ts';

/**
 * An account's lifecycle (docs/accounts.md, "The roll-up"): what is stored of an account, when it changes,
 * and the record sales receives when it becomes a marketing-qualified account or falls back.
 *
 * The account's score is never stored as a running sum: it is recomputed from its members' lead states
 * (lib/core/account-score.ts) every time one of them changes, and on every read, so it equals a from-scratch
 * recomputation by construction. What is stored is what depends on history and time: the status (an MQA stays
 * one down to `recycleBelow`), when it changed, the transitions' count (for stable handoff ids) and when time
 * alone will next change the status (the due index, as for leads).
 */

export type AccountHandoffType = 'account.mqa' | 'account.recycled';

/** A member as sales receives it in an account record. */
export interface AccountRecordMember {
  /** The member's lead id: its normalized e-mail (the CRM's key for the person), or a provider key. */
  leadId: string;
  status: LeadStatus;
  /** The member's own score now, in whole points. */
  score: { total: number; fit: number; behavior: number };
  /** Whole engagement points it gives the account. */
  engagement: number;
  /** Counted among the account's most engaged members. */
  counted: boolean;
  /** At or above the breadth floor: counts towards breadth and `minMembers`. */
  engaged: boolean;
  /** Its role in the buying group (the model's `account.breadth.roles`), when it has one. */
  role?: string;
  jobTitle?: string;
}

/**
 * What the CRM receives for an account's transition (docs/operator-contract.md, "The outbound record"). `id` is
 * stable across retries of the same transition: the Standard Webhooks `webhook-id` and the CRM's idempotency key.
 */
export interface AccountHandoffRecord {
  type: AccountHandoffType;
  id: string;
  occurredAt: string;
  /** The account's key: its registrable domain (`acme.co.uk`) or `group:<groupId>`. */
  accountKey: string;
  account: {
    kind: Account['kind'];
    domain?: string;
    groupId?: string;
    /** The company's name, from the group call or the members' profiles. */
    name?: string;
    /** The traits the account's fit rules read, with their values. */
    traits: Record<string, string | number>;
  };
  score: {
    total: number;
    fit: number;
    engagement: number;
    breadth: number;
    engagedMembers: number;
    /** `account.thresholds.mqa`. */
    threshold: number;
    recycleBelow: number;
    modelVersion: string;
  };
  reasons: AccountReason[];
  /**
   * The members, most engagement first: at most {@link maxRecordMembers} (a company of thousands must fit an SQS
   * message and the account's item); `memberCount` says how many there are in all.
   */
  members: AccountRecordMember[];
  memberCount: number;
  missing: string[];
}

/** Members an account record names, the most engaged first; the rest are counted in `memberCount`. */
export const maxRecordMembers = 50;

/** What is stored of an account (lib/store/accounts.ts): its identity, status and timing, never a running score. */
export interface AccountState {
  key: string;
  kind: Account['kind'];
  domain?: string;
  groupId?: string;
  status: AccountStatus;
  createdAt: string;
  statusChangedAt: string;
  mqaAt?: string;
  /** Transitions so far: numbers each transition so its id is stable across retries. */
  transitionCount: number;
  /** The model version of the last evaluation that changed the state. */
  modelVersion: string;
  /** The score the last state change was decided at (for reports; a read recomputes it). */
  decidedAt?: { total: number; at: string };
  /** Account handoffs decided but not yet on the handoff queue, by id (the outbox, as a lead's). */
  outbox: Record<string, AccountHandoffRecord>;
  /**
   * When the roll-up should look at the account again although no member changed: when time alone changes its
   * status (an MQA's members' points decay below `recycleBelow`), or now while its outbox holds a record. The
   * stored time may be earlier than the true one, never later (see {@link evaluateAccount}).
   */
  dueAt?: string;
}

/** The traits the group call gave: the member whose group call is the newest, the fields that call set. */
export function groupTraitsOf(members: readonly AccountMember[], account: Pick<Account, 'kind' | 'groupId'>): AccountTraits | undefined {
  if (account.kind !== 'group') return undefined;
  let newest: AccountMember | undefined;
  for (const member of members) {
    if (member.profile.groupId !== account.groupId) continue;
    const at = member.profileAsOf.groupId ?? '';
    if (!newest || at > (newest.profileAsOf.groupId ?? '')) newest = member;
  }
  if (!newest) return undefined;
  const at = newest.profileAsOf.groupId;
  const traits: AccountTraits = {};
  for (const field of accountTraitFields) {
    const value = newest.profile[field];
    if (value !== undefined && newest.profileAsOf[field] === at) traits[field] = value as string | number;
  }
  return traits;
}

/** Id of the n-th transition of an account: the same on every retry, never reused (it includes the creation time). */
export function accountTransitionId(state: Pick<AccountState, 'key' | 'createdAt'>, sequence: number): string {
  return `acc_${createHash('sha256').update(`account#${state.key}#${state.createdAt}#${sequence}`).digest('base64url').slice(0, 27)}`;
}

/** The record sales receives for an account's transition. */
export function accountHandoffRecord(
  account: Account,
  breakdown: AccountBreakdown,
  members: readonly AccountMember[],
  model: ScoringModel,
  type: AccountHandoffType,
  id: string,
  occurredAt: string,
  now: Date,
): AccountHandoffRecord {
  const traits: Record<string, string | number> = {};
  for (const [field, trait] of Object.entries(breakdown.traits)) if (trait) traits[field] = trait.value;
  const name = breakdown.traits.company?.value;
  return {
    type,
    id,
    occurredAt,
    accountKey: account.key,
    account: {
      kind: account.kind,
      ...(account.domain ? { domain: account.domain } : {}),
      ...(account.groupId ? { groupId: account.groupId } : {}),
      ...(name !== undefined ? { name: String(name) } : {}),
      traits,
    },
    score: {
      total: breakdown.total,
      fit: breakdown.fit,
      engagement: breakdown.engagement,
      breadth: breakdown.breadth,
      engagedMembers: breakdown.engagedMembers,
      threshold: breakdown.thresholds.mqa,
      recycleBelow: breakdown.thresholds.recycleBelow,
      modelVersion: model.version,
    },
    reasons: breakdown.reasons,
    memberCount: breakdown.members.length,
    members: accountRecordMembers({ members: breakdown.members.slice(0, maxRecordMembers) }, members, model, now),
    missing: breakdown.missing,
  };
}

/**
 * Every member as sales and operators see it (the record's `members`, GET /accounts/{domain}'s): its own score
 * now, what it gives the account and its role; most engagement first.
 */
export function accountRecordMembers(
  breakdown: Pick<AccountBreakdown, 'members'>,
  members: readonly AccountMember[],
  model: ScoringModel,
  now: Date,
): AccountRecordMember[] {
  const byId = new Map(members.map((member) => [member.leadId, member]));
  return breakdown.members.map((contribution) => {
    const member = byId.get(contribution.leadId);
    const title = member?.profile.jobTitle;
    const score = memberScore(member, model, now);
    return {
      leadId: contribution.leadId,
      status: contribution.status,
      score,
      engagement: contribution.engagement,
      counted: contribution.counted,
      engaged: contribution.engaged,
      ...(contribution.role ? { role: contribution.role } : {}),
      ...(typeof title === 'string' ? { jobTitle: title } : {}),
    };
  });
}

/** A member's own score in whole points (its lead score). */
function memberScore(member: AccountMember | undefined, model: ScoringModel, now: Date): AccountRecordMember['score'] {
  if (!member) return { total: 0, fit: 0, behavior: 0 };
  const breakdown = scoreLeadOf(member, model, now);
  return { total: breakdown.total, fit: breakdown.fit, behavior: breakdown.behavior };
}

/** The handoff a status change sends, if any: into MQA, and out of it. */
function handoffTypeFor(from: AccountStatus, to: AccountStatus): AccountHandoffType | undefined {
  if (to === 'mqa' && from !== 'mqa') return 'account.mqa';
  if (from === 'mqa' && to !== 'mqa') return 'account.recycled';
  return undefined;
}

export interface AccountEvaluation {
  /** Undefined when the model scores no account (no `account` section). */
  breakdown: AccountBreakdown | undefined;
  /** The state to store; undefined when nothing needs storing (see `write`). */
  state: AccountState | undefined;
  /**
   * Whether the stored state must be written: the status changed, a handoff was decided, the due time moved
   * earlier (or appeared), or the state is a first one. A later due time is not written: the account is looked at
   * early, found unchanged, and its due time then moved (one write per look, not per member event).
   */
  write: boolean;
  /** The handoff the change decided, also in the state's outbox. */
  handoff?: AccountHandoffRecord;
}

/**
 * The account's state at `now` from its members (their lead states as stored) and what it had (`previous`;
 * undefined for an account never stored). Pure; the roll-up (lib/accounts/roll-up.ts) stores the result.
 */
export function evaluateAccount(
  account: Account,
  members: readonly AccountMember[],
  previous: AccountState | undefined,
  model: ScoringModel,
  now: Date,
): AccountEvaluation {
  const traits = groupTraitsOf(members, account);
  const previousStatus = previous?.status ?? 'new';
  const breakdown = scoreAccount(members, traits, previousStatus, model, now);
  if (!breakdown) return { breakdown, state: undefined, write: false };
  const at = now.toISOString();
  const base: AccountState = previous ?? {
    key: account.key,
    kind: account.kind,
    ...(account.domain ? { domain: account.domain } : {}),
    ...(account.groupId ? { groupId: account.groupId } : {}),
    status: 'new',
    createdAt: at,
    statusChangedAt: at,
    transitionCount: 0,
    modelVersion: model.version,
    outbox: {},
  };
  const state: AccountState = { ...base, outbox: { ...base.outbox } };
  // The account's identity as its members give it now (a group's website may have been learned since).
  if (account.domain) state.domain = account.domain;
  let handoff: AccountHandoffRecord | undefined;
  const changed = breakdown.status !== previousStatus;
  if (changed) {
    const type = handoffTypeFor(previousStatus, breakdown.status);
    state.status = breakdown.status;
    state.statusChangedAt = at;
    state.modelVersion = model.version;
    state.decidedAt = { total: breakdown.total, at };
    if (breakdown.status === 'mqa') state.mqaAt = at;
    if (type) {
      state.transitionCount += 1;
      handoff = accountHandoffRecord(account, breakdown, members, model, type, accountTransitionId(state, state.transitionCount), at, now);
      state.outbox[handoff.id] = handoff;
    }
  }
  // The stored due time still holds when the status it was stored for is unchanged, nothing waits in the outbox, and
  // at that time the status has not changed yet: the true moment is then later, and the early one is kept (one
  // evaluation instead of solving for the moment on every roll-up of a large account).
  const stillEarly =
    !changed &&
    previous?.dueAt !== undefined &&
    Object.keys(state.outbox).length === 0 &&
    previous.dueAt > now.toISOString() &&
    statusAt(members, traits, state.status, model, new Date(previous.dueAt)) === state.status;
  const due = stillEarly ? previous.dueAt : accountDueAt(state, members, traits, model, now);
  const dueMovedEarlier = due !== undefined && (previous?.dueAt === undefined || due < previous.dueAt);
  const dueGone = due === undefined && previous?.dueAt !== undefined;
  // A state is stored once the account is more than `new`: a new account is its members alone.
  const first = previous === undefined && state.status !== 'new';
  if (due === undefined) delete state.dueAt;
  else if (previous?.dueAt === undefined || due < previous.dueAt || changed) state.dueAt = due;
  const write = changed || first || dueMovedEarlier || dueGone;
  return { breakdown, state: write ? state : undefined, write, ...(handoff ? { handoff } : {}) };
}

/**
 * The due time of an account that was looked at because it was due (the decay job): its true next change, which
 * may be later than the stored one. Written whenever it differs, so a due account is looked at once per change.
 */
export function settleDueAccount(
  account: Account,
  members: readonly AccountMember[],
  previous: AccountState,
  model: ScoringModel,
  now: Date,
): AccountEvaluation {
  const evaluation = evaluateAccount(account, members, previous, model, now);
  if (evaluation.write || !evaluation.breakdown) return evaluation;
  const due = accountDueAt(previous, members, groupTraitsOf(members, account), model, now);
  if (due === previous.dueAt) return evaluation;
  const state: AccountState = { ...previous, outbox: { ...previous.outbox } };
  if (due === undefined) delete state.dueAt;
  else state.dueAt = due;
  return { ...evaluation, state, write: true };
}

/** The status time alone gives the account at `at`. */
function statusAt(members: readonly AccountMember[], traits: AccountTraits | undefined, status: AccountStatus, model: ScoringModel, at: Date): AccountStatus {
  return scoreAccount(members, traits, status, model, at)?.status ?? status;
}

/** The furthest a due time is looked for: past it, an account is looked at only when a member changes. */
const horizonMs = 20 * 365 * 24 * 60 * 60 * 1000;

/**
 * When time alone first changes the account's status, to the whole second; now while its outbox holds a record;
 * undefined when nothing will happen by time alone. Only an MQA changes by time (its members' behavior points
 * decay, so the total only falls: fit is fixed, each member's capped points fall, the top K's sum falls, and fewer
 * members stay above the breadth floor): the moment is found by bisection of that falling total, exactly, as the
 * lead's is (lib/core/lead.ts `statusChangeAt`). A model with negative decaying behavior points can make a
 * member's points rise with time; the account is then also looked at on that member's own due time.
 */
export function accountDueAt(
  state: Pick<AccountState, 'status' | 'outbox'>,
  members: readonly AccountMember[],
  traits: AccountTraits | undefined,
  model: ScoringModel,
  now: Date,
): string | undefined {
  if (Object.keys(state.outbox).length > 0) return now.toISOString();
  if (state.status !== 'mqa') return undefined;
  const from = state.status;
  const changes = (at: number) => statusAt(members, traits, from, model, new Date(at)) !== from;
  const start = now.getTime();
  if (changes(start)) return now.toISOString();
  let step = 60 * 60 * 1000;
  let low = start;
  let high = start + step;
  while (!changes(high)) {
    if (high - start >= horizonMs) return undefined;
    low = high;
    step *= 2;
    high = Math.min(start + horizonMs, high + step);
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (changes(middle)) high = middle;
    else low = middle;
  }
  return new Date(Math.ceil(high / 1000) * 1000).toISOString();
}
