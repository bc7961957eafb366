/**
 * The account roll-up (docs/accounts.md, "The roll-up"): recomputes one account from its members' lead items and
 * stores what changed (its status, its due time, a handoff in its outbox), then moves the handoff to the handoff
 * queue. Requests come from the account-roll-up FIFO queue, one account's one at a time (its message group), so two
 * roll-ups of one account never decide on different views of it; the write is still conditioned on the version read.
 *
 * Exact by construction: the score is a from-scratch recomputation over the members every time; what is stored
 * (status, due time) is decided from it. Idempotent: a request repeated finds the state it left and writes nothing.
 */
import type { Account } from '../core/account.ts';
import type { AccountEvaluation, AccountHandoffRecord } from '../core/account-lifecycle.ts';
import { accountDueAt, evaluateAccount, groupTraitsOf, settleDueAccount } from '../core/account-lifecycle.ts';
import type { AccountMember } from '../core/account-score.ts';
import type { ScoringModel } from '../core/model.ts';
import { logger } from '../runtime/logger.ts';
import { leadRef } from '../runtime/pseudonym.ts';
import type { AccountStore, StoredAccount } from '../store/accounts.ts';
import type { StoredLead } from '../store/repository.ts';
import { memberAccountOf } from './members.ts';

/** Where account handoffs go: the one handoff queue. */
export interface AccountHandoffQueue {
  send(records: readonly AccountHandoffRecord[]): Promise<void>;
}

export interface RollUpDeps {
  accounts: AccountStore;
  model: ScoringModel;
  handoffQueue: AccountHandoffQueue;
}

export interface RollUpResult {
  accountKey: string;
  members: number;
  status: string | undefined;
  /** The state was written (a status change, a due time, a first state, or the state removed). */
  wrote: boolean;
  /** Handoffs put on the handoff queue. */
  handoffs: number;
  /** Conditional writes lost to another roll-up and decided again. */
  conflicts: number;
}

/** Attempts before a roll-up gives up (its message is retried by the queue). */
const maxAttempts = 10;

/** The account as its members name it: the domain's, or the group's with the website a member's group call gave. */
export function accountFrom(accountKey: string, members: readonly StoredLead[], model: ScoringModel): Account {
  for (const member of members) {
    const account = memberAccountOf(member, model);
    if (account?.key === accountKey && (account.kind === 'domain' || account.domain)) return account;
  }
  if (accountKey.startsWith('group:')) return { key: accountKey, kind: 'group', groupId: accountKey.slice('group:'.length) };
  return { key: accountKey, kind: 'domain', domain: accountKey };
}

/** The members that belong to the account now, and the member items that no longer name one of them. */
export function currentMembers(accountKey: string, memberIds: readonly string[], leads: readonly StoredLead[], model: ScoringModel) {
  const byId = new Map(leads.map((lead) => [lead.leadId, lead]));
  const members: StoredLead[] = [];
  const stale: string[] = [];
  for (const leadId of memberIds) {
    const lead = byId.get(leadId);
    if (lead && memberAccountOf(lead, model)?.key === accountKey) members.push(lead);
    else stale.push(leadId);
  }
  return { members, stale };
}

/** Recomputes the account at `now` and stores what changed; `due`: the decay job found it due. */
export async function rollUpAccount(accountKey: string, deps: RollUpDeps, now: Date, options: { due?: boolean } = {}): Promise<RollUpResult> {
  const { accounts, model } = deps;
  let conflicts = 0;
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    const read = await accounts.read(accountKey);
    const { members, stale } = currentMembers(accountKey, read.memberIds, read.leads, model);
    // A member item whose lead is gone or elsewhere: the stream's leave may still be on its way; it changes nothing.
    for (const leadId of stale) await accounts.leave(accountKey, leadId);
    const state = read.state;
    if (members.length === 0 && !state) return { accountKey, members: 0, status: undefined, wrote: false, handoffs: 0, conflicts };
    const account = accountFrom(accountKey, members, model);
    const evaluation: AccountEvaluation =
      options.due && state ? settleDueAccount(account, members, state, model, now) : evaluateAccount(account, members, state, model, now);
    if (!evaluation.breakdown) return { accountKey, members: members.length, status: state?.status, wrote: false, handoffs: 0, conflicts };
    let current: StoredAccount | undefined = state;
    if (evaluation.write && evaluation.state) {
      if (!(await accounts.write(evaluation.state, state?.version))) {
        conflicts += 1;
        continue;
      }
      current = { ...evaluation.state, version: (state?.version ?? 0) + 1 };
    }
    const handoffs = current ? await flushAccountOutbox(current, members, deps, now) : 0;
    // An account without members is gone once sales has heard what it needs to (an account.recycled of an MQA).
    let removed = false;
    if (members.length === 0 && current && Object.keys(current.outbox).length === 0) {
      const latest = await accounts.state(accountKey);
      if (latest && Object.keys(latest.outbox).length === 0 && latest.status !== 'mqa') removed = await accounts.remove(accountKey, latest.version);
    }
    return {
      accountKey,
      members: members.length,
      status: evaluation.breakdown.status,
      wrote: evaluation.write || removed,
      handoffs,
      conflicts,
    };
  }
  throw new Error(`account roll-up lost ${conflicts} conditional writes in a row; the queue retries it`);
}

/**
 * Enqueues the account's outbox, then takes it off the account with its due time as it stands without the outbox.
 * A failed send leaves the records in the outbox, where the due index finds them (the account is due now).
 */
async function flushAccountOutbox(state: StoredAccount, members: readonly AccountMember[], deps: RollUpDeps, now: Date): Promise<number> {
  const records = Object.values(state.outbox);
  if (records.length === 0) return 0;
  try {
    await deps.handoffQueue.send(records);
  } catch (error) {
    logger.warn('account handoff left in the outbox for the next run', { account: accountRef(state.key), error: error as Error });
    return 0;
  }
  const due = accountDueAt({ status: state.status, outbox: {} }, members, groupTraitsOf(members, state), deps.model, now);
  await deps.accounts.confirmQueued(
    state.key,
    records.map((record) => record.id),
    due,
  );
  return records.length;
}

/**
 * How logs name an account: a domain is a company's, no person's, and logged as is; a group id is the sender's own
 * key, which may be anything (an e-mail address, even), so it is logged as its keyed digest (lib/runtime/pseudonym.ts).
 */
export function accountRef(accountKey: string): string {
  return accountKey.startsWith('group:') ? `group:${leadRef(accountKey)}` : accountKey;
}
