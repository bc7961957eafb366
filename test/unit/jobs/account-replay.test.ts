import { describe, expect, it } from 'vitest';
import accountSection from '../../../examples/account-section.json' with { type: 'json' };
import { memberAccountOf } from '../../../lib/accounts/members.ts';
import { accountOf } from '../../../lib/core/account.ts';
import type { AccountQualification, MemberHistory } from '../../../lib/core/account-replay.ts';
import { accountBacktest, accountQualificationOf } from '../../../lib/core/account-replay.ts';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import type { Lead, NormalizedEvent, ScoringModel } from '../../../lib/core/index.ts';
import { AccountHistories } from '../../../lib/jobs/account-histories.ts';
import { computeAccountFigures } from '../../../lib/jobs/report/account-figures.ts';
import { event } from '../../setup/events.ts';
import { parseModel } from '../../setup/model.ts';

// The default model with the account section of examples/account-section.json (the default model has none).
const model = parseModel(structuredClone({ ...defaultModelJson, ...accountSection }));
/** A model that scores no account: the default model without its `account` section. */
const { account: _account, ...withoutAccounts } = structuredClone(defaultModelJson);
const noAccountModel = parseModel(withoutAccounts);
const day = 86_400_000;
const t0 = new Date('2026-03-02T09:00:00.000Z');
const at = (days: number) => new Date(t0.getTime() + days * day);

/** A member's history: its title, then one behavior event `days` after t0 (and any more events). */
function member(
  email: string,
  jobTitle: string,
  type: string,
  days: number,
  more: NormalizedEvent[] = [],
  properties: NormalizedEvent['properties'] = {},
): MemberHistory {
  return {
    leadId: email,
    events: [
      event(email, 'profile_updated', at(days), { profile: { jobTitle, industry: 'Software', companySize: 1200 } }),
      event(email, type, at(days), { properties }),
      ...more,
    ],
  };
}

/** Acme's buying group: a VP on day 0, a director on day 1, a manager on day 2 (105 points on day 2). */
const acme = (): MemberHistory[] => [
  member('vp@acme-robotics.com', 'VP Operations', 'content_downloaded', 0, [], { contentType: 'case_study' }),
  member('director@acme-robotics.com', 'Director of IT', 'webinar_attended', 1),
  member('manager@acme-robotics.com', 'IT Manager', 'webinar_attended', 2),
];
const acmeAccount = accountOf({ email: 'vp@acme-robotics.com' }, model)!;
const belongsTo = (key: string, scoring: ScoringModel) => (lead: Lead) => memberAccountOf(lead, scoring)?.key === key;

describe("an account's history replayed", () => {
  it('qualifies at the instant the third member engages, not before, and stays an MQA while the total holds', () => {
    const seen = accountQualificationOf(acmeAccount, acme(), model, at(3), belongsTo('acme-robotics.com', model))!;
    expect(seen).toMatchObject({ qualified: true, qualifiedAt: at(2).toISOString(), statusNow: 'mqa' });
    expect(seen.totalAtMqa).toBeGreaterThanOrEqual(100);
    // Two members alone never qualify it.
    const two = accountQualificationOf(acmeAccount, acme().slice(0, 2), model, at(3), belongsTo('acme-robotics.com', model))!;
    expect(two).toMatchObject({ qualified: false, statusNow: 'engaged' });
  });

  it('recycles an MQA whose members stopped engaging, once decay takes it below recycleBelow', () => {
    const late = accountQualificationOf(acmeAccount, acme(), model, at(400), belongsTo('acme-robotics.com', model))!;
    expect(late).toMatchObject({ qualified: true, qualifiedAt: at(2).toISOString(), statusNow: 'recycled' });
    expect(late.totalNow).toBeLessThan(70);
  });

  it('counts a member only from the instant it is in the account (a group call), and leaves outcomes out', () => {
    const groupId = 'acct_42';
    const group = { key: `group:${groupId}`, kind: 'group' as const, groupId };
    const joinsLate = (email: string, title: string, days: number): MemberHistory => ({
      leadId: email,
      events: [
        event(email, 'profile_updated', at(0), { profile: { jobTitle: title, industry: 'Software', companySize: 1200 } }),
        event(email, 'webinar_attended', at(0)),
        event(email, 'profile_updated', at(days), { profile: { groupId } }),
        event(email, 'sql', at(days), { source: 'crm' }),
      ],
    });
    const members = [joinsLate('a@gmail.com', 'VP Sales', 5), joinsLate('b@gmail.com', 'Director of IT', 5), joinsLate('c@gmail.com', 'IT Manager', 6)];
    const seen = accountQualificationOf(group, members, model, at(7), belongsTo(group.key, model))!;
    // Their webinars were on day 0, before any of them was in the account: the account qualifies on day 6.
    expect(seen).toMatchObject({ qualified: true, qualifiedAt: at(6).toISOString() });
  });

  it('scores nothing under a model without an account section', () => {
    expect(accountQualificationOf(acmeAccount, acme(), noAccountModel, at(3), () => true)).toBeUndefined();
  });
});

describe('accounts of a walk (mql backtest, mql report)', () => {
  it('groups leads by the account they are in at now, leaving out free mail, and replays each account', () => {
    const histories = new AccountHistories(model, at(3));
    for (const one of acme()) histories.add(one.leadId, one.events);
    histories.add('pat@gmail.com', [event('pat@gmail.com', 'webinar_attended', at(1))]);
    histories.add('solo@globex.com', [event('solo@globex.com', 'webinar_attended', at(1))]);
    const replayed = histories.replayed();
    expect(replayed.map((one) => [one.account.key, one.members.length, one.qualification.qualified])).toEqual([
      ['acme-robotics.com', 3, true],
      ['globex.com', 1, false],
    ]);
    expect(new AccountHistories(noAccountModel, at(3)).scoresAccounts).toBe(false);
  });

  it('makes an MQA an opportunity by a member outcome at or after it only', () => {
    const before = acme().map((one, index) => (index === 0 ? { ...one, events: [...one.events, event(one.leadId, 'won', at(1), { source: 'crm' })] } : one));
    const after = acme().map((one) => ({
      ...one,
      leadId: one.leadId.replace('acme-robotics', 'initech'),
      events: one.events.map((e) => ({ ...e, leadKey: e.leadKey.replace('acme-robotics', 'initech') })),
    }));
    after[2] = { ...after[2]!, events: [...after[2]!.events, event('manager@initech.com', 'sql', at(2), { source: 'crm' })] };
    const histories = new AccountHistories(model, at(3));
    for (const one of [...before, ...after]) histories.add(one.leadId, one.events);
    const figures = computeAccountFigures(histories.replayed());
    expect(figures).toMatchObject({ accounts: 2, mqas: 2, mqaNow: 2, opportunities: 1, rate: 0.5 });
    expect(figures.list.find((mqa) => mqa.key === 'initech.com')!.opportunity).toEqual({ type: 'sql', at: at(2).toISOString() });
    expect(figures.list.find((mqa) => mqa.key === 'acme-robotics.com')!.opportunity).toBeUndefined();
  });
});

describe('accounts in a backtest, side by side', () => {
  const q = (qualified: boolean, statusNow: AccountQualification['statusNow'], totalNow: number): AccountQualification => ({ qualified, statusNow, totalNow });
  it('lists the accounts newly and no longer qualifying, and those whose status or total changes', () => {
    const report = accountBacktest(
      {
        version: 'cur',
        scoresAccounts: true,
        accounts: new Map([
          ['a.com', q(true, 'mqa', 105)],
          ['b.com', q(false, 'engaged', 80)],
          ['c.com', q(false, 'engaged', 40)],
        ]),
      },
      {
        version: 'cand',
        scoresAccounts: true,
        accounts: new Map([
          ['a.com', q(false, 'engaged', 105)],
          ['b.com', q(true, 'mqa', 90)],
          ['c.com', q(false, 'engaged', 40)],
        ]),
      },
    );
    expect(report.current).toEqual({ version: 'cur', scoresAccounts: true, accounts: 3, mqas: 1, mqaNow: 1 });
    expect(report.candidate).toEqual({ version: 'cand', scoresAccounts: true, accounts: 3, mqas: 1, mqaNow: 1 });
    expect(report.newlyQualifying).toEqual({ count: 1, sample: ['b.com'] });
    expect(report.noLongerQualifying).toEqual({ count: 1, sample: ['a.com'] });
    expect(report.changed.sample).toEqual([
      { key: 'a.com', current: { status: 'mqa', total: 105, qualified: true }, candidate: { status: 'engaged', total: 105, qualified: false } },
      { key: 'b.com', current: { status: 'engaged', total: 80, qualified: false }, candidate: { status: 'mqa', total: 90, qualified: true } },
    ]);
  });

  it('says which side scores no account', () => {
    const report = accountBacktest(
      { version: 'cur', scoresAccounts: true, accounts: new Map([['a.com', q(true, 'mqa', 105)]]) },
      { version: 'cand', scoresAccounts: false, accounts: new Map() },
    );
    expect(report.candidate).toEqual({ version: 'cand', scoresAccounts: false, accounts: 0, mqas: 0, mqaNow: 0 });
    expect(report.changed.sample).toEqual([{ key: 'a.com', current: { status: 'mqa', total: 105, qualified: true } }]);
  });
});
