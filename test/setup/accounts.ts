/**
 * Account handoff records for the handoff's tests, built as the roll-up builds them: members scored by the
 * lead's own scoring under the default model (which has an account section), the account scored by
 * lib/core/account-score.ts and the record made by lib/core/account-lifecycle.ts `accountHandoffRecord`.
 */
import { randomUUID } from 'node:crypto';
import type { Account } from '../../lib/core/account.ts';
import type { AccountHandoffRecord, AccountHandoffType } from '../../lib/core/account-lifecycle.ts';
import { accountHandoffRecord } from '../../lib/core/account-lifecycle.ts';
import type { AccountTraits } from '../../lib/core/account-score.ts';
import { scoreAccount } from '../../lib/core/account-score.ts';
import type { Lead, NormalizedEvent } from '../../lib/core/index.ts';
import { applyEvents } from '../../lib/core/index.ts';
import { event } from './events.ts';
import { defaultModel } from './installed-model.ts';

/** The model the members and the account are scored by: the default model, which scores accounts. */
export const accountModel = defaultModel;

const pricing: [string, NormalizedEvent['properties']] = ['page_viewed', { url: 'https://example.com/pricing' }];
const caseStudy: [string, NormalizedEvent['properties']] = ['content_downloaded', { contentType: 'case_study' }];

/** A member scored at `at` from its events, the first of them a minute before. */
function member(email: string, jobTitle: string, at: Date, activity: [type: string, properties?: NormalizedEvent['properties']][]): Lead {
  const start = at.getTime() - 60_000;
  const events = [
    event(email, 'profile_updated', new Date(start), { profile: { jobTitle } }),
    ...activity.map(([type, properties], index) => event(email, type, new Date(start + (index + 1) * 1000), { properties: properties ?? {} })),
  ];
  return applyEvents(undefined, events, accountModel, at).lead;
}

/** The three people of a buying group at `domain` (none an MQL alone, together an MQA), by their addresses. */
export function buyingGroupOf(domain: string, at: Date): Lead[] {
  return [
    member(`vp@${domain}`, 'VP Operations', at, [pricing, pricing, pricing, caseStudy]),
    member(`director@${domain}`, 'Director of IT', at, [['webinar_attended'], ['content_downloaded']]),
    member(`manager@${domain}`, 'IT Manager', at, [['webinar_attended']]),
  ];
}

/** What a group call said of a company: software, over 1,000 people. */
const traits = (name: string): AccountTraits => ({ industry: 'Software', companySize: '1001-5000', company: name });

export interface AccountRecordOptions {
  type?: AccountHandoffType;
  /** When the transition happened (default now). */
  at?: Date;
  /** A group account (`group:<groupId>`) without a known domain, instead of a domain account. */
  groupId?: string;
  /** The company's name (default: the domain's first label). */
  name?: string;
  members?: Lead[];
}

/**
 * An account record for `domain`'s buying group, as the roll-up sends it: `account.mqa` by default; an
 * `account.recycled` is the same account's record of a later time (its type alone differs here).
 */
export function accountRecord(domain: string, options: AccountRecordOptions = {}): AccountHandoffRecord {
  const at = options.at ?? new Date();
  const members = options.members ?? buyingGroupOf(domain, at);
  const account: Account = options.groupId
    ? { key: `group:${options.groupId}`, kind: 'group', groupId: options.groupId }
    : { key: domain, kind: 'domain', domain };
  const breakdown = scoreAccount(members, traits(options.name ?? domain.split('.')[0]!), 'new', accountModel, at);
  if (!breakdown) throw new Error('the account model scored no account');
  return accountHandoffRecord(account, breakdown, members, accountModel, options.type ?? 'account.mqa', `acc_${randomUUID()}`, at.toISOString(), at);
}

/** A later transition of the same account: its own id and time. */
export function laterAccountRecord(record: AccountHandoffRecord, type: AccountHandoffType, afterMs: number): AccountHandoffRecord {
  return { ...record, type, id: `acc_${randomUUID()}`, occurredAt: new Date(Date.parse(record.occurredAt) + afterMs).toISOString() };
}

/** A tracked event of {@link personMessages}: a Segment `track` name and its properties. */
export interface TrackedEvent {
  event: string;
  properties?: object;
}

/**
 * One person of a company as a website sends them (Segment messages): identified with a title at a software company
 * of 1,200 people, then `events` a second apart from `start`; `extra` messages go between the two.
 */
export function personMessages(
  email: string,
  title: string,
  events: readonly TrackedEvent[],
  options: { start?: number; extra?: readonly object[] } = {},
): object[] {
  const start = options.start ?? Date.now();
  const at = (seconds: number) => new Date(start + seconds * 1000).toISOString();
  return [
    {
      type: 'identify',
      messageId: `identify-${randomUUID()}`,
      timestamp: at(0),
      userId: `user-${email}`,
      traits: { email, title, industry: 'Software', company: { name: 'Bigco', employee_count: 1200 } },
    },
    ...(options.extra ?? []),
    ...events.map((one, index) => ({
      type: 'track',
      event: one.event,
      messageId: `${one.event}-${randomUUID()}`,
      timestamp: at(index + 1),
      userId: `user-${email}`,
      context: { traits: { email } },
      properties: one.properties ?? {},
    })),
  ];
}
