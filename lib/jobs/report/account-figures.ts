import type { ReplayedAccount } from '../account-histories.ts';

/**
 * The accounts' figures of `mql report` (docs/accounts.md, "Accounts in backtests and reports"), from the accounts
 * replayed under the stack's model (lib/jobs/account-histories.ts). Pure. Replayed, like the leads' figures
 * (lib/jobs/report/lead-facts.ts says why): the stored `mqaAt` is when the roll-up saw it, which for a backfill or
 * `mql demo --with-outcomes` is the import, not when the buying group engaged.
 */

/** Outcomes that make a marketing-qualified account an opportunity. */
export const opportunityOutcomes: readonly string[] = ['sql', 'won'];

export interface AccountMqa {
  key: string;
  /** The first instant the account was an MQA. */
  qualifiedAt: string;
  /** Its total at that instant. */
  totalAtMqa: number;
  members: number;
  /** The first member outcome that made it an opportunity (at or after `qualifiedAt`). */
  opportunity?: { type: string; at: string };
}

export interface AccountFigures {
  /** Accounts with at least one member. */
  accounts: number;
  /** Accounts that became an MQA at some instant. */
  mqas: number;
  /** Accounts that are an MQA now. */
  mqaNow: number;
  /** MQAs with an opportunity. */
  opportunities: number;
  /** `opportunities / mqas`; null without MQAs. */
  rate: number | null;
  /** Every MQA, the latest first. */
  list: AccountMqa[];
}

/** The accounts' figures; every member's `sql` and `won` outcome events are read for the opportunities. */
export function computeAccountFigures(accounts: readonly ReplayedAccount[]): AccountFigures {
  const list: AccountMqa[] = [];
  for (const { account, members, qualification } of accounts) {
    if (!qualification.qualified) continue;
    const qualifiedAt = qualification.qualifiedAt!;
    const opportunity = members
      .flatMap((member) => member.events.filter((event) => opportunityOutcomes.includes(event.type) && event.occurredAt >= qualifiedAt))
      .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt))[0];
    list.push({
      key: account.key,
      qualifiedAt,
      totalAtMqa: qualification.totalAtMqa!,
      members: members.length,
      ...(opportunity ? { opportunity: { type: opportunity.type, at: opportunity.occurredAt } } : {}),
    });
  }
  list.sort((a, b) => b.qualifiedAt.localeCompare(a.qualifiedAt) || a.key.localeCompare(b.key));
  const opportunities = list.filter((mqa) => mqa.opportunity).length;
  return {
    accounts: accounts.length,
    mqas: list.length,
    mqaNow: accounts.filter((one) => one.qualification.statusNow === 'mqa').length,
    opportunities,
    rate: list.length > 0 ? opportunities / list.length : null,
    list,
  };
}

export const accountReportDefinitions: Record<string, string> = {
  account:
    'an account with at least one member: the leads (not visitors, test data or merged leads) the account rules place in it now; with --since, its members first seen since then',
  MQA: "an account the model makes a marketing-qualified account at some moment, replaying its members' events in time order (outcomes left out), as mql backtest does",
  'MQA -> opportunity':
    "an MQA one of whose members has an sql or won outcome at or after the moment the account first became an MQA (an outcome before it is the lead's, not the account's)",
};
