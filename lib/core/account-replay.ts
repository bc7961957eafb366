import type { Account } from './account.ts';
import { groupTraitsOf } from './account-lifecycle.ts';
import type { AccountStatus } from './account-score.ts';
import { scoreAccount } from './account-score.ts';
import type { NormalizedEvent } from './events.ts';
import type { Lead } from './lead.ts';
import { applyEvents } from './lead.ts';
import type { ScoringModel } from './model.ts';
import { outcomeTypes } from './replay.ts';

/**
 * When an account became a marketing-qualified account, replayed from its members' stored events: the account's
 * counterpart of lib/core/replay.ts `qualificationOf`. The stored account (lib/store/accounts.ts) says when the
 * roll-up saw it qualify, which for events stored long after they happened (a backfill, `mql demo --with-outcomes`)
 * is the time of storing; this says when it happened. Pure: the events and `now` are parameters.
 */

/** One member of the account and its stored events (any `leadKey`: they are the member's). */
export interface MemberHistory {
  readonly leadId: string;
  readonly events: readonly NormalizedEvent[];
}

export interface AccountQualification {
  /** When the account first became an MQA (total at `mqa` with `minMembers` engaged members), if it did. */
  qualifiedAt?: string;
  /** Its total at that moment. */
  scoreAtMqa?: number;
  /** Its status and total at `now`, with the hysteresis of its history (an MQA stays one down to `recycleBelow`). */
  statusNow: AccountStatus;
  totalNow: number;
}

const isOutcome = (event: Pick<NormalizedEvent, 'type'>) => (outcomeTypes as readonly string[]).includes(event.type);

/**
 * Replays the members' events in time order, scoring the account right after each instant that has events and at
 * `now`, outcome events left out (as for a lead). The account's total only rises at a member's event (between
 * events its members' points decay), so these instants find the first moment it could qualify. The members are
 * the account's as they are now; undefined when the model scores no account (no `account` section).
 */
export function accountQualificationOf(
  account: Pick<Account, 'kind' | 'groupId'>,
  members: readonly MemberHistory[],
  model: ScoringModel,
  now: Date,
): AccountQualification | undefined {
  if (!model.account) return undefined;
  const nowMs = now.getTime();
  const timeline = members
    .flatMap((member) =>
      member.events
        .filter((event) => !isOutcome(event) && Date.parse(event.occurredAt) <= nowMs)
        .map((event) => ({ leadId: member.leadId, event: event.leadKey === member.leadId ? event : { ...event, leadKey: member.leadId } })),
    )
    .sort((a, b) => a.event.occurredAt.localeCompare(b.event.occurredAt));
  const leads = new Map<string, Lead>();
  let status: AccountStatus = 'new';
  let qualifiedAt: string | undefined;
  let scoreAtMqa: number | undefined;
  const score = (at: Date) => {
    const current = [...leads.values()];
    return scoreAccount(current, groupTraitsOf(current, account), status, model, at)!;
  };
  for (let index = 0; index < timeline.length; ) {
    const at = timeline[index]!.event.occurredAt;
    let end = index;
    while (end < timeline.length && timeline[end]!.event.occurredAt === at) end += 1;
    const byMember = new Map<string, NormalizedEvent[]>();
    for (const { leadId, event } of timeline.slice(index, end)) byMember.set(leadId, [...(byMember.get(leadId) ?? []), event]);
    for (const [leadId, events] of byMember) leads.set(leadId, applyEvents(leads.get(leadId), events, model, new Date(at)).lead);
    const breakdown = score(new Date(at));
    status = breakdown.status;
    if (status === 'mqa' && qualifiedAt === undefined) {
      qualifiedAt = at;
      scoreAtMqa = breakdown.total;
    }
    index = end;
  }
  const last = score(now);
  if (last.status === 'mqa' && qualifiedAt === undefined) {
    qualifiedAt = now.toISOString();
    scoreAtMqa = last.total;
  }
  return { ...(qualifiedAt ? { qualifiedAt, scoreAtMqa } : {}), statusNow: last.status, totalNow: last.total };
}
