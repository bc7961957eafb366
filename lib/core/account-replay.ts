import type { Account } from './account.ts';
import { groupTraitsOf } from './account-lifecycle.ts';
import type { AccountBreakdown, AccountStatus } from './account-score.ts';
import { scoreAccount } from './account-score.ts';
import type { NormalizedEvent } from './events.ts';
import type { Lead } from './lead.ts';
import { applyEvents } from './lead.ts';
import type { ScoringModel } from './model.ts';
import { outcomeTypes } from './replay.ts';

/**
 * An account's history replayed under a model (docs/accounts.md, "Accounts in backtests and reports"): what
 * `mql backtest` compares and `mql report` counts. Pure: the members' events, the model and `now` are parameters.
 *
 * As a lead's backtest does (lib/core/replay.ts `qualificationOf`), the members' events are applied in time order,
 * outcome events left out, and the account is scored right after each instant that has events, with its status
 * carried from one instant to the next (the hysteresis of `recycleBelow`). An account's total only falls between
 * events (its members' points decay), so this finds the first moment it became an MQA exactly.
 */

/** How one model sees one account. */
export interface AccountQualification {
  /** Whether the account became an MQA at some instant of its members' history up to `now`. */
  qualified: boolean;
  /** The first such instant. */
  qualifiedAt?: string;
  /** Its total at that instant. */
  totalAtMqa?: number;
  /** Its status and total at `now`, by the model alone. */
  statusNow: AccountStatus;
  totalNow: number;
}

/** A member's stored history: its lead id and events (as lib/store/lead-histories.ts reads them). */
export interface MemberHistory {
  leadId: string;
  events: readonly NormalizedEvent[];
}

const isOutcome = (event: Pick<NormalizedEvent, 'type'>) => (outcomeTypes as readonly string[]).includes(event.type);

/**
 * The account's qualification under `model`, replaying its members' events. `belongs` says whether a member, as
 * replayed so far, is in the account at that instant (a lead joins a group's account with its group call, not
 * before): lib/accounts/members.ts `memberAccountOf`, which lib/core cannot import. Undefined when the model
 * scores no account.
 */
export function accountQualificationOf(
  account: Account,
  members: readonly MemberHistory[],
  model: ScoringModel,
  now: Date,
  belongs: (lead: Lead) => boolean,
): AccountQualification | undefined {
  if (!model.account) return undefined;
  const nowMs = now.getTime();
  const scored = members
    .flatMap(({ leadId, events }) =>
      events
        .filter((event) => !isOutcome(event) && Date.parse(event.occurredAt) <= nowMs)
        .map((event) => (event.leadKey === leadId ? event : { ...event, leadKey: leadId })),
    )
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.leadKey.localeCompare(b.leadKey));
  const leads = new Map<string, Lead>();
  // Whether each lead is in the account as replayed so far: decided again only when its events change it.
  const member = new Map<string, boolean>();
  const inAccount = () => [...leads.values()].filter((lead) => member.get(lead.leadId));
  let status: AccountStatus = 'new';
  let qualifiedAt: string | undefined;
  let totalAtMqa: number | undefined;
  for (let index = 0; index < scored.length; ) {
    const at = scored[index]!.occurredAt;
    let end = index;
    while (end < scored.length && scored[end]!.occurredAt === at) end += 1;
    const byLead = new Map<string, NormalizedEvent[]>();
    for (const event of scored.slice(index, end)) byLead.set(event.leadKey, [...(byLead.get(event.leadKey) ?? []), event]);
    for (const [leadId, events] of byLead) {
      const lead = applyEvents(leads.get(leadId), events, model, new Date(at)).lead;
      leads.set(leadId, lead);
      member.set(leadId, belongs(lead));
    }
    const current = inAccount();
    const breakdown: AccountBreakdown = scoreAccount(current, groupTraitsOf(current, account), status, model, new Date(at))!;
    status = breakdown.status;
    if (status === 'mqa' && qualifiedAt === undefined) {
      qualifiedAt = at;
      totalAtMqa = breakdown.total;
    }
    index = end;
  }
  const current = inAccount();
  const last: AccountBreakdown = scoreAccount(current, groupTraitsOf(current, account), status, model, now)!;
  if (last.status === 'mqa' && qualifiedAt === undefined) {
    qualifiedAt = now.toISOString();
    totalAtMqa = last.total;
  }
  return {
    qualified: qualifiedAt !== undefined,
    ...(qualifiedAt !== undefined ? { qualifiedAt, totalAtMqa: totalAtMqa! } : {}),
    statusNow: last.status,
    totalNow: last.total,
  };
}

/** One model's accounts after a replay: each account's key and qualification. */
export interface ReplayedAccounts {
  version: string;
  /** False when the model has no `account` section: it scores no account. */
  scoresAccounts: boolean;
  accounts: ReadonlyMap<string, AccountQualification>;
}

export interface AccountModelSummary {
  version: string;
  scoresAccounts: boolean;
  /** Accounts with at least one member under the model. */
  accounts: number;
  /** Accounts the model makes an MQA at some instant up to now. */
  mqas: number;
  /** Accounts whose status under the model is `mqa` now. */
  mqaNow: number;
}

/** An account both models see differently: its status now and total under each (absent: not an account there). */
export interface AccountChange {
  key: string;
  current?: { status: AccountStatus; total: number; qualified: boolean };
  candidate?: { status: AccountStatus; total: number; qualified: boolean };
}

export interface AccountBacktestReport {
  current: AccountModelSummary;
  candidate: AccountModelSummary;
  newlyQualifying: { count: number; sample: string[] };
  noLongerQualifying: { count: number; sample: string[] };
  /** Accounts whose status now or total now differs between the models. */
  changed: { count: number; sample: AccountChange[] };
  definitions: Record<string, string>;
}

/** How many accounts each list of the report shows. */
export const accountBacktestSampleSize = 10;

/** The accounts of a backtest side by side. Pure. */
export function accountBacktest(current: ReplayedAccounts, candidate: ReplayedAccounts): AccountBacktestReport {
  const summary = (side: ReplayedAccounts): AccountModelSummary => {
    const all = [...side.accounts.values()];
    return {
      version: side.version,
      scoresAccounts: side.scoresAccounts,
      accounts: all.length,
      mqas: all.filter((one) => one.qualified).length,
      mqaNow: all.filter((one) => one.statusNow === 'mqa').length,
    };
  };
  const keys = [...new Set([...current.accounts.keys(), ...candidate.accounts.keys()])].sort();
  const newly: string[] = [];
  const noLonger: string[] = [];
  const changed: AccountChange[] = [];
  const seen = (one: AccountQualification | undefined) => (one ? { status: one.statusNow, total: one.totalNow, qualified: one.qualified } : undefined);
  for (const key of keys) {
    const before = current.accounts.get(key);
    const after = candidate.accounts.get(key);
    if (after?.qualified && !before?.qualified) newly.push(key);
    if (before?.qualified && !after?.qualified) noLonger.push(key);
    if (before?.statusNow !== after?.statusNow || before?.totalNow !== after?.totalNow) {
      const was = seen(before);
      const will = seen(after);
      changed.push({ key, ...(was ? { current: was } : {}), ...(will ? { candidate: will } : {}) });
    }
  }
  const sample = <T>(items: T[]) => ({ count: items.length, sample: items.slice(0, accountBacktestSampleSize) });
  return {
    current: summary(current),
    candidate: summary(candidate),
    newlyQualifying: sample(newly),
    noLongerQualifying: sample(noLonger),
    changed: sample(changed),
    definitions: accountBacktestDefinitions,
  };
}

export const accountBacktestDefinitions: Record<string, string> = {
  accounts:
    'accounts with at least one member under the model: the leads (not visitors, test data or merged leads) its account rules place there at now, replayed from their events',
  MQAs: "accounts the model makes an MQA at some instant of their members' history up to now (members' events in time order, outcome events left out; a member counts from the instant it is in the account)",
  'MQA now': 'accounts whose status under the model is mqa now',
  changed: 'accounts whose status now or total now differs between the two models',
};
