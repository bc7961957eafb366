/**
 * The accounts of a walk of lead histories (`mql backtest`, `mql report`; docs/accounts.md, "Accounts in backtests
 * and reports"): each lead is replayed under a model to find the account it is in at `now`
 * (lib/accounts/members.ts `memberAccountOf`, which leaves out visitors, test data and merged leads), its events kept
 * with that account's other members, and each account replayed from them (lib/core/account-replay.ts).
 *
 * Memory holds the events of the leads that are in an account (the walk itself holds a page at a time): an account
 * is only known whole once every lead was read.
 */
import { memberAccountOf } from '../accounts/members.ts';
import type { Account } from '../core/account.ts';
import type { AccountQualification, MemberHistory } from '../core/account-replay.ts';
import { accountQualificationOf } from '../core/account-replay.ts';
import type { NormalizedEvent } from '../core/events.ts';
import { applyEvents } from '../core/lead.ts';
import type { ScoringModel } from '../core/model.ts';
import { outcomeTypes } from '../core/replay.ts';

/** An account as a model sees it after the walk: its members' histories and its replayed qualification. */
export interface ReplayedAccount {
  account: Account;
  members: MemberHistory[];
  qualification: AccountQualification;
}

const isOutcome = (event: Pick<NormalizedEvent, 'type'>) => (outcomeTypes as readonly string[]).includes(event.type);

export class AccountHistories {
  private readonly accounts = new Map<string, { account: Account; members: MemberHistory[] }>();
  private readonly model: ScoringModel;
  private readonly now: Date;

  constructor(model: ScoringModel, now: Date) {
    this.model = model;
    this.now = now;
  }

  /** Whether the model scores accounts at all (an `account` section). */
  get scoresAccounts(): boolean {
    return this.model.account !== undefined;
  }

  /** A lead of the walk, with all its stored events: kept with its account's members when it is in one at `now`. */
  add(leadId: string, events: readonly NormalizedEvent[]): void {
    if (!this.model.account) return;
    const nowMs = this.now.getTime();
    const scored = events
      .filter((event) => !isOutcome(event) && Date.parse(event.occurredAt) <= nowMs)
      .map((event) => (event.leadKey === leadId ? event : { ...event, leadKey: leadId }));
    if (scored.length === 0) return;
    const account = memberAccountOf(applyEvents(undefined, scored, this.model, this.now).lead, this.model);
    if (!account) return;
    const known = this.accounts.get(account.key);
    if (known) {
      known.members.push({ leadId, events });
      // A group's account names its domain when one member's group call gave its website.
      if (!known.account.domain && account.domain) known.account = account;
    } else this.accounts.set(account.key, { account, members: [{ leadId, events }] });
  }

  /** Every account with a member, replayed, in key order. */
  replayed(): ReplayedAccount[] {
    const model = this.model;
    return [...this.accounts.values()]
      .sort((a, b) => a.account.key.localeCompare(b.account.key))
      .flatMap(({ account, members }) => {
        const belongs = (lead: Parameters<typeof memberAccountOf>[0]) => memberAccountOf(lead, model)?.key === account.key;
        const qualification = accountQualificationOf(account, members, model, this.now, belongs);
        return qualification ? [{ account, members, qualification }] : [];
      });
  }
}
