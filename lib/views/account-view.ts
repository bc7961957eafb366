import { accountFrom, currentMembers } from '../accounts/roll-up.ts';
import { registrableDomain } from '../core/account.ts';
import type { AccountHandoffRecord, AccountRecordMember } from '../core/account-lifecycle.ts';
import { accountDueAt, accountRecordMembers, groupTraitsOf } from '../core/account-lifecycle.ts';
import type { AccountBreakdown, AccountReason, AccountStatus, AccountTrait } from '../core/account-score.ts';
import { scoreAccount } from '../core/account-score.ts';
import { classifyEmailDomain } from '../core/fit.ts';
import type { ScoringModel } from '../core/model.ts';
import type { AccountRead } from '../store/accounts.ts';

/**
 * An account as operators read it (GET /accounts/{domain}, `mql explain --account`; docs/accounts.md, "Reading an
 * account"): scored NOW from its members' lead items, with the stored status as the one it had (the roll-up stores
 * no score, so this is the from-scratch recomputation the roll-up itself makes), plus the stored timing.
 */
export interface AccountView {
  /** Its registrable domain (`acme.co.uk`) or `group:<groupId>`. */
  key: string;
  kind: 'domain' | 'group';
  domain?: string;
  groupId?: string;
  /** The status the score gives now, from the stored one (the lead's hysteresis). */
  status: AccountStatus;
  /**
   * The stored status, only when it differs from `status`: the roll-up (or, for a decayed MQA, the decay job) has
   * not stored the change yet; it will, with its handoff.
   */
  storedStatus?: AccountStatus;
  /** The account record's score (lib/core/account-lifecycle.ts), and the engaged members an MQA needs. */
  score: AccountHandoffRecord['score'] & { minMembers: number };
  /** Whether the score alone meets `mqa` and `minMembers`. */
  meetsThresholds: boolean;
  /** The traits the account's fit rules read, each with where it came from. */
  traits: AccountBreakdown['traits'];
  /** Whole points that add up to the total. */
  reasons: AccountReason[];
  /** Every member, most engagement first: its own score, what it gives the account, its role. */
  members: AccountViewMember[];
  /** What is missing to qualify, or the margin before recycling, in words. */
  missing: string[];
  scoredAt: string;
  /** Stored timing (absent for an account never more than `new`). */
  createdAt?: string;
  statusChangedAt?: string;
  mqaAt?: string;
  /** An MQA: when decay alone recycles it unless its members engage again (to the second). */
  recyclesAt?: string;
  /** Account handoffs decided but not yet on the handoff queue. */
  handoffsWaiting?: number;
}

export interface AccountViewMember extends AccountRecordMember {
  /** Behavior points the member cap took off. */
  cut: number;
  disqualified?: true;
}

/** The longest group id a Segment group call keeps (lib/sources/segment.ts `groupIdOf`: 200 bytes). */
const maxGroupIdBytes = 200;
/** A DNS name is at most 253 characters. */
const maxDomainLength = 253;

/** What a caller's account name resolves to: the account's key, or why it names none. */
export type AccountAsk =
  | { key: string }
  /** Not an account's name at all (a client's mistake: 400). */
  | { invalid: string }
  /** A well-formed name that can never be an account (a free-mail domain: 404). */
  | { noAccount: string };

/**
 * The account a caller names (the path of GET /accounts/{domain}, `mql explain --account`): a domain, any host
 * under it (`mail.acme.co.uk` is the account `acme.co.uk`, as for a member's address; `büro.müller.de` is
 * `xn--mller-kva.de`), or `group:<groupId>`. A domain names the DOMAIN account only: an account a group call formed
 * is addressed by its group id, even when its website gives it a domain (docs/accounts.md, "Reading an account").
 */
export function accountAskOf(value: unknown, model: Pick<ScoringModel, 'domains'>): AccountAsk {
  if (typeof value !== 'string' || value.trim() === '') return { invalid: 'the path must end with an account: a domain (acme.com) or group:<groupId>' };
  const asked = value.trim();
  if (asked.startsWith('group:')) {
    const groupId = asked.slice('group:'.length).trim();
    if (groupId === '') return { invalid: 'group: needs the group id a Segment group call gave, e.g. /accounts/group%3A4242' };
    if (Buffer.byteLength(groupId, 'utf8') > maxGroupIdBytes) return { invalid: `a group id is at most ${maxGroupIdBytes} bytes` };
    return { key: `group:${groupId}` };
  }
  if (asked.length > maxDomainLength) return { invalid: `a domain is at most ${maxDomainLength} characters` };
  if (asked.includes('@')) return { invalid: "the path names an account by its domain (acme.com), not a person's address" };
  const domain = registrableDomain(asked);
  if (!domain) return { invalid: 'not a domain of the public internet (acme.com), nor group:<groupId>' };
  const kind = classifyEmailDomain(`account@${domain}`, model.domains);
  if (kind === 'personal' || kind === 'disposable')
    return { noAccount: `${domain} is a ${kind} e-mail domain: it forms no account (docs/accounts.md, "Which account a lead belongs to")` };
  return { key: domain };
}

/**
 * The account's view at `now` from what the store read; undefined when nothing of it is known (no member, no
 * stored state), or when the model scores no account (no `account` section).
 */
export function accountView(accountKey: string, read: AccountRead, model: ScoringModel, now: Date): AccountView | undefined {
  const { members } = currentMembers(accountKey, read.memberIds, read.leads, model);
  const state = read.state;
  if (members.length === 0 && !state) return undefined;
  const account = accountFrom(accountKey, members, model);
  const traits = groupTraitsOf(members, account);
  const stored = state?.status ?? 'new';
  const breakdown = scoreAccount(members, traits, stored, model, now);
  if (!breakdown) return undefined;
  const recyclesAt = breakdown.status === 'mqa' ? accountDueAt({ status: 'mqa', outbox: {} }, members, traits, model, now) : undefined;
  const contributions = new Map(breakdown.members.map((member) => [member.leadId, member]));
  const waiting = Object.keys(state?.outbox ?? {}).length;
  return {
    key: account.key,
    kind: account.kind,
    ...((account.domain ?? state?.domain) ? { domain: account.domain ?? state?.domain } : {}),
    ...(account.groupId ? { groupId: account.groupId } : {}),
    status: breakdown.status,
    ...(breakdown.status !== stored ? { storedStatus: stored } : {}),
    score: {
      total: breakdown.total,
      fit: breakdown.fit,
      engagement: breakdown.engagement,
      breadth: breakdown.breadth,
      engagedMembers: breakdown.engagedMembers,
      threshold: breakdown.thresholds.mqa,
      recycleBelow: breakdown.thresholds.recycleBelow,
      minMembers: breakdown.thresholds.minMembers,
      modelVersion: model.version,
    },
    meetsThresholds: breakdown.meetsThresholds,
    traits: breakdown.traits,
    reasons: breakdown.reasons,
    members: accountRecordMembers(breakdown, members, model, now).map((member) => {
      const contribution = contributions.get(member.leadId);
      return { ...member, cut: contribution?.cut ?? 0, ...(contribution?.disqualified ? { disqualified: true as const } : {}) };
    }),
    missing: breakdown.missing,
    scoredAt: now.toISOString(),
    ...(state ? { createdAt: state.createdAt, statusChangedAt: state.statusChangedAt } : {}),
    ...(state?.mqaAt ? { mqaAt: state.mqaAt } : {}),
    ...(recyclesAt ? { recyclesAt } : {}),
    ...(waiting > 0 ? { handoffsWaiting: waiting } : {}),
  };
}

/** What reading an account needs of the store (lib/store/accounts.ts `AccountStore`). */
export interface AccountReads {
  read(accountKey: string): Promise<AccountRead>;
}

/** The view of the account `accountKey` names, now; undefined when none is known. */
export async function findAccountView(accounts: AccountReads, model: ScoringModel, accountKey: string, now: Date): Promise<AccountView | undefined> {
  if (!model.account) return undefined;
  return accountView(accountKey, await accounts.read(accountKey), model, now);
}

/** Why an account's trait has its value, in a few words: "group call", "3 members". */
export function traitSource(trait: AccountTrait): string {
  return trait.from === 'group' ? 'group call' : `${trait.members ?? 0} member${trait.members === 1 ? '' : 's'}`;
}

/** How a model without an `account` section is refused: it scores no account. */
export const noAccountSection = 'the scoring model has no `account` section, so it scores no account (docs/scoring-model.md, "Accounts: `account`")';

/**
 * Why an account is not found, in words: never the group id itself (a sender's key, possibly an e-mail address;
 * refusals are logged with their detail, lib/http/handler.ts), and for a domain the hint that an account a group
 * call formed is addressed by its group id.
 */
export function notFoundDetail(accountKey: string): string {
  if (accountKey.startsWith('group:')) return 'no account with that group id (no member has been in it)';
  return `no account ${accountKey}: no lead with a business address at it; an account a Segment group call formed is addressed by its group id, /accounts/group%3A<groupId>, even when its website is at ${accountKey}`;
}
