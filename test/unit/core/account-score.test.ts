import { describe, expect, it } from 'vitest';
import accountSection from '../../../examples/account-section.json' with { type: 'json' };
import type { AccountMember, AccountStatus, AccountTraits } from '../../../lib/core/account-score.ts';
import { scoreAccount } from '../../../lib/core/account-score.ts';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import type { Lead, NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents, ModelError } from '../../../lib/core/index.ts';

import { event } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

// A model file as an operator edits it: any shape, checked only by parseModel. The default model, whose
// account section is the one of examples/account-section.json (docs/accounts.md, "The account score").
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const copy = (): any => structuredClone(defaultModelJson);
/** The model the members are scored and the accounts qualified by: the default model. */
const accountModel = defaultModel;
const day = 24 * 60 * 60 * 1000;
const t0 = new Date('2026-03-02T09:00:00.000Z');
const sinceT0 = (ms: number) => new Date(t0.getTime() + ms);

/** A member as the pipeline keeps it: its events applied by the lead's own scoring, evaluated just after them. */
function member(email: string, jobTitle: string | undefined, ...activity: [type: string, properties?: NormalizedEvent['properties']][]): Lead {
  const events = [
    ...(jobTitle ? [event(email, 'profile_updated', t0, { profile: { jobTitle } })] : []),
    ...activity.map(([type, properties], index) => event(email, type, sinceT0(index * 1000), { properties: properties ?? {} })),
  ];
  return applyEvents(undefined, events, accountModel, sinceT0(60_000)).lead;
}

const pricing: [string, NormalizedEvent['properties']] = ['page_viewed', { url: 'https://acme-robotics.com/pricing' }];
const caseStudy: [string, NormalizedEvent['properties']] = ['content_downloaded', { contentType: 'case_study' }];
/** What Acme's group call said of it: a software company of over 1,000 people (fit 15 + 15). */
const acme: AccountTraits = { industry: 'Software', companySize: '1001-5000', company: 'Acme Robotics' };

/** Acme's buying group: a VP (behavior 30), a director (30) and a manager (20); none an MQL alone. */
function buyingGroup(): Lead[] {
  return [
    member('vp@acme-robotics.com', 'VP Operations', pricing, pricing, pricing, caseStudy),
    member('director@acme-robotics.com', 'Director of IT', ['webinar_attended'], ['content_downloaded']),
    member('manager@acme-robotics.com', 'IT Manager', ['webinar_attended']),
  ];
}

function score(members: readonly AccountMember[], traits: AccountTraits | undefined, previous: AccountStatus | undefined, at: Date, model = accountModel) {
  const breakdown = scoreAccount(members, traits, previous, model, at);
  if (!breakdown) throw new Error('expected an account score');
  return breakdown;
}

const problemsOf = (run: () => unknown): string[] => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelError);
    return [...(error as ModelError).problems];
  }
  throw new Error('expected a ModelError');
};

describe('a buying group qualifies together', () => {
  it('three people of one company, none an MQL, together an MQA', () => {
    const members = buyingGroup();
    expect(members.map((lead) => [lead.status, applyEvents(lead, [], accountModel, sinceT0(60_000)).score.total])).toEqual([
      ['engaged', 45],
      ['engaged', 40],
      ['engaged', 25],
    ]);

    const account = score(members, acme, undefined, sinceT0(60_000));

    expect(account).toMatchObject({ fit: 30, engagement: 80, breadth: 20, total: 130, engagedMembers: 3, status: 'mqa', meetsThresholds: true });
    expect(account.traits.industry).toEqual({ value: 'Software', from: 'group' });
    expect(account.members.map(({ leadId, behavior, engagement, counted, role }) => ({ leadId, behavior, engagement, counted, role }))).toEqual([
      { leadId: 'director@acme-robotics.com', behavior: 30, engagement: 30, counted: true, role: 'director' },
      { leadId: 'vp@acme-robotics.com', behavior: 30, engagement: 30, counted: true, role: 'executive' },
      { leadId: 'manager@acme-robotics.com', behavior: 20, engagement: 20, counted: true, role: 'manager' },
    ]);
    expect(account.reasons.map(({ kind, rule, member: lead, points }) => [kind, rule, lead ?? '', points])).toEqual([
      ['fit', 'account_target_industry', '', 15],
      ['fit', 'account_over_500', '', 15],
      ['engagement', 'member', 'director@acme-robotics.com', 30],
      ['engagement', 'member', 'vp@acme-robotics.com', 30],
      ['engagement', 'member', 'manager@acme-robotics.com', 20],
      ['breadth', 'executive', '', 10],
      ['breadth', 'director', '', 10],
      // The third role is reached, but breadth.maxPoints (20) is.
      ['breadth', 'manager', '', 0],
    ]);
    // The member is named by its lead id in `member` only: a description is the same text for every member.
    expect(account.reasons.filter((reason) => reason.description.includes('@'))).toEqual([]);
    expect(account.missing).toEqual(['an MQA (total 130): recycled when the total falls below recycleBelow 70, i.e. after losing 61 points']);
  });

  it('one very active person alone does not qualify an account: the member cap, not only minMembers', () => {
    const champion = member('cto@acme-robotics.com', 'CTO', ['demo_requested'], ['trial_started'], ['webinar_attended'], caseStudy);
    expect(champion.status).toBe('mql');

    const account = score([champion], acme, 'new', sinceT0(60_000));
    expect(account).toMatchObject({ fit: 30, engagement: 40, breadth: 10, total: 80, engagedMembers: 1, status: 'engaged' });
    expect(account.members).toEqual([
      { leadId: 'cto@acme-robotics.com', status: 'mql', behavior: 105, engagement: 40, counted: true, cut: 65, engaged: true, role: 'executive' },
    ]);
    expect(account.missing).toEqual([
      'needs 20 more points to qualify (total 80 of mqa 100)',
      'needs 1 more engaged member (1 of minMembers 2 with at least 10 behavior points)',
      'engagement counts the 3 most engaged members at most 40 points each (1 member known)',
    ]);

    // Without minMembers the cap still holds it back; without the cap, the same person would qualify it.
    const oneMemberEnough = copy();
    oneMemberEnough.account.thresholds.minMembers = 1;
    expect(score([champion], acme, 'new', sinceT0(60_000), parseModel(oneMemberEnough)).status).toBe('engaged');
    oneMemberEnough.account.engagement.memberCap = 1000;
    expect(score([champion], acme, 'new', sinceT0(60_000), parseModel(oneMemberEnough))).toMatchObject({ total: 145, status: 'mqa' });
  });

  it('only the top K members count: a fourth adds nothing until it outranks one', () => {
    const members = [...buyingGroup(), member('analyst@acme-robotics.com', 'Analyst', ['email_clicked'])];
    const account = score(members, acme, undefined, sinceT0(60_000));
    expect(account.engagement).toBe(80);
    expect(account.members.at(-1)).toMatchObject({ leadId: 'analyst@acme-robotics.com', behavior: 3, engagement: 0, counted: false, engaged: false });
  });

  it('a disqualified member brings its account nothing', () => {
    const [vp, director] = buyingGroup();
    const bounced = applyEvents(
      director,
      [event(director!.leadId, 'email_bounced', sinceT0(2 * day), { properties: { bounce: 'hard' } })],
      accountModel,
      sinceT0(2 * day),
    );
    expect(bounced.lead.status).toBe('disqualified');
    const account = score([vp!, bounced.lead], acme, undefined, sinceT0(2 * day));
    expect(account.members.find((entry) => entry.leadId === director!.leadId)).toMatchObject({ engagement: 0, engaged: false, disqualified: true });
    expect(account.engagement).toBe(30);
  });
});

describe('breadth of the buying group', () => {
  it('counts distinct seniority groups among members at or above the behavior floor', () => {
    const managers = ['a', 'b', 'c'].map((name) => member(`${name}@acme-robotics.com`, 'Product Manager', ['webinar_attended']));
    const three = score(managers, acme, undefined, sinceT0(60_000));
    expect(three).toMatchObject({ breadth: 10, engagedMembers: 3 });
    expect(three.reasons.filter((reason) => reason.kind === 'breadth')).toEqual([
      {
        kind: 'breadth',
        rule: 'manager',
        description: 'A manager',
        members: ['a@acme-robotics.com', 'b@acme-robotics.com', 'c@acme-robotics.com'],
        pointsNow: 10,
        points: 10,
      },
    ]);

    const withDirector = score([...managers, member('d@acme-robotics.com', 'Head of Sales', ['webinar_attended'])], acme, undefined, sinceT0(60_000));
    expect(withDirector.breadth).toBe(20);

    // Below the floor (5 < 10): the VP is a member, but no part of the engaged buying group.
    const idleVp = member('vp@acme-robotics.com', 'SVP Finance', pricing);
    const withIdleVp = score([...managers, idleVp], acme, undefined, sinceT0(60_000));
    expect(withIdleVp).toMatchObject({ breadth: 10, engagedMembers: 3 });
    expect(withIdleVp.members.find((entry) => entry.leadId === idleVp.leadId)).toMatchObject({ behavior: 5, engaged: false });

    // Engaged without a role: counts for minMembers, adds no breadth.
    const noRole = score([managers[0]!, member('e@acme-robotics.com', 'Analyst', ['webinar_attended'])], acme, undefined, sinceT0(60_000));
    expect(noRole).toMatchObject({ breadth: 10, engagedMembers: 2 });
    expect(noRole.members.find((entry) => entry.leadId === 'e@acme-robotics.com')).not.toHaveProperty('role');
  });
});

describe('account traits', () => {
  it('come from the group call, else from what most members say', () => {
    const members = [
      applyEvents(
        undefined,
        [event('a@acme-robotics.com', 'webinar_attended', t0, { profile: { industry: 'Software', annualRevenue: '$60M' } })],
        accountModel,
        t0,
      ).lead,
      applyEvents(undefined, [event('b@acme-robotics.com', 'webinar_attended', t0, { profile: { industry: 'software ' } })], accountModel, t0).lead,
      applyEvents(undefined, [event('c@acme-robotics.com', 'webinar_attended', t0, { profile: { industry: 'Retail', country: 'DE' } })], accountModel, t0).lead,
    ];
    const account = score(members, undefined, undefined, t0);
    expect(account.traits).toEqual({
      industry: { value: 'Software', from: 'members', members: 2 },
      annualRevenue: { value: '$60M', from: 'members', members: 1 },
      country: { value: 'DE', from: 'members', members: 1 },
    });
    expect(account.reasons.filter((reason) => reason.kind === 'fit').map((reason) => reason.rule)).toEqual([
      'account_target_industry',
      'account_revenue_over_50m',
    ]);
    // The group call's word wins over the members'.
    expect(score(members, { industry: 'Retail' }, undefined, t0).traits.industry).toEqual({ value: 'Retail', from: 'group' });
  });

  it('a fit rule on the country reads the account trait', () => {
    const model = copy();
    model.account.fit.rules.push({ id: 'account_dach', description: 'In DACH', points: 7, when: { field: 'country', oneOf: ['DE', 'AT', 'CH'] } });
    const parsed = parseModel(model);
    expect(score(buyingGroup(), { ...acme, country: 'de' }, undefined, sinceT0(60_000), parsed).fit).toBe(37);
    expect(score(buyingGroup(), { ...acme, country: 'FR' }, undefined, sinceT0(60_000), parsed).fit).toBe(30);
  });
});

describe('explanations: whole points that add up', () => {
  it('the reasons add up to the total and each is within a point of its exact value, at any instant, with fractional rules', () => {
    const model = copy();
    model.account.fit.rules[0].points = 7.5;
    model.account.fit.rules[1].points = 7.5;
    model.account.fit.rules[2].points = 2.4;
    model.account.engagement.memberCap = 12.5;
    model.account.breadth.pointsPerRole = 3.3;
    model.account.breadth.maxPoints = 8;
    const parsed = parseModel(model);
    const members = buyingGroup();
    const traits = { ...acme, annualRevenue: 75_000_000 };
    for (const at of [sinceT0(60_000), sinceT0(17 * day + 3_333), sinceT0(95 * day), sinceT0(240 * day)]) {
      for (const model of [parsed, accountModel]) {
        const account = score(members, traits, undefined, at, model);
        const sum = (kind: string) => account.reasons.filter((reason) => reason.kind === kind).reduce((total, reason) => total + reason.points, 0);
        expect(account.reasons.reduce((total, reason) => total + reason.points, 0)).toBe(account.total);
        expect([sum('fit'), sum('engagement'), sum('breadth')]).toEqual([account.fit, account.engagement, account.breadth]);
        for (const reason of account.reasons) expect(Math.abs(reason.points - reason.pointsNow)).toBeLessThan(1);
        expect(account.members.reduce((total, entry) => total + entry.engagement, 0)).toBe(account.engagement);
      }
    }
    // 7.5 + 7.5 + 2.4 = 17.4: fit 17, the rounding handed to the largest remainders.
    // Engagement 3 x 12.5 = 37.5: 38. Breadth 3.3 + 3.3 + 1.4 (maxPoints 8): 8.
    expect(score(members, traits, undefined, sinceT0(60_000), parsed)).toMatchObject({ fit: 17, engagement: 38, breadth: 8 });
  });
});

describe('decay and recycling, with hysteresis', () => {
  it('decay lowers engagement; between recycleBelow and mqa the status stays; below recycleBelow an MQA is recycled', () => {
    const members = buyingGroup();
    const start = score(members, acme, undefined, sinceT0(60_000));
    expect(start).toMatchObject({ total: 130, status: 'mqa' });

    // 91 days on: each member's behavior about halved (30 -> 15, 20 -> 10), the three still at the floor.
    const later = score(members, acme, 'mqa', sinceT0(91 * day));
    expect(later).toMatchObject({ engagement: 40, breadth: 20, total: 90, status: 'mqa', meetsThresholds: false });
    expect(later.missing).toEqual(['an MQA (total 90): recycled when the total falls below recycleBelow 70, i.e. after losing 21 points']);
    // The same score does not make an account that was not an MQA one.
    expect(score(members, acme, 'engaged', sinceT0(91 * day)).status).toBe('engaged');

    const engagements = [30, 60, 91, 150, 200].map((days) => score(members, acme, 'mqa', sinceT0(days * day)).engagement);
    expect(engagements).toEqual([...engagements].sort((a, b) => b - a));
    expect(new Set(engagements).size).toBe(engagements.length);

    // 200 days on: 6 + 6 + 4 behavior points, nobody at the floor: 46 < 70.
    const recycled = score(members, acme, 'mqa', sinceT0(200 * day));
    expect(recycled).toMatchObject({ engagement: 16, breadth: 0, total: 46, engagedMembers: 0, status: 'recycled' });
    expect(score(members, acme, 'recycled', sinceT0(200 * day)).missing).toContain('recycled: it qualifies again at total 100');
    // Once recycled, it re-qualifies only at mqa again, not at recycleBelow.
    expect(score(members, acme, 'recycled', sinceT0(91 * day)).status).toBe('recycled');
  });
});

describe('the account section of the model', () => {
  it('is optional: a model without it is valid, scores no account, and keeps its version', () => {
    const { account: _account, ...withoutSection } = copy();
    const model = parseModel(withoutSection);
    expect(model.account).toBeUndefined();
    expect(scoreAccount(buyingGroup(), acme, undefined, model, sinceT0(60_000))).toBeUndefined();
    // The default model before it scored accounts (docs/scoring-model.md, "The default model").
    expect(model.version).toBe('a71b7b283010');
  });

  it('the default model scores accounts with the section of examples/account-section.json, part of its version', () => {
    expect(defaultModelJson.account).toEqual(accountSection.account);
    expect(defaultModel.account).toBeDefined();
    expect(scoreAccount(buyingGroup(), acme, undefined, defaultModel, sinceT0(60_000))).toBeDefined();
    // The section is part of the version, as every part of a model is: a71b7b283010 without it.
    expect(defaultModel.version).toBe('be5ac4fbb9e1');
  });

  it('names every problem by path, as the rest of the model language does', () => {
    const model = copy();
    model.account.engagement.topMembers = 2.5;
    model.account.engagement.memberCap = 0;
    model.account.fit.rules[0].when = { field: 'jobTitle', matches: 'x' };
    model.account.breadth.roles[1].when = { field: 'jobTitle', matchez: 'x' };
    model.account.thresholds.mqaa = 1;
    const problems = problemsOf(() => parseModel(model, 'm.json'));
    expect(problems).toContain('m.json: account.engagement.topMembers: expected a whole number, got 2.5');
    expect(problems).toContain('m.json: account.engagement.memberCap: expected a number > 0, got 0');
    expect(problems).toContainEqual(
      expect.stringMatching(/^m\.json: account\.fit\.rules\[0\]\.when\.field: expected one of "industry", .*"country".*, got "jobTitle"$/),
    );
    expect(problems).toContainEqual(expect.stringMatching(/^m\.json: account\.breadth\.roles\[1\]\.when\.matchez: unknown key/));
    expect(problems).toContainEqual(expect.stringMatching(/^m\.json: account\.thresholds\.mqaa: unknown key/));

    const crossed = copy();
    crossed.account.thresholds.recycleBelow = 120;
    crossed.account.breadth.roles[2].id = 'account_over_500';
    expect(problemsOf(() => parseModel(crossed, 'm.json'))).toEqual([
      'm.json: account.thresholds.recycleBelow: expected at most account.thresholds.mqa (100), got 120',
      'm.json: account: id "account_over_500" is used twice (ids are unique across account.fit.rules and account.breadth.roles)',
    ]);

    const missing = copy();
    delete missing.account.thresholds.mqa;
    expect(problemsOf(() => parseModel(missing, 'm.json'))).toEqual(['m.json: account.thresholds.mqa: missing: expected a number']);
  });
});
