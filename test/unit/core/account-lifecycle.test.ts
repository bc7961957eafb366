import { describe, expect, it } from 'vitest';
import type { Account } from '../../../lib/core/account.ts';
import { accountDueAt, evaluateAccount, groupTraitsOf, settleDueAccount } from '../../../lib/core/account-lifecycle.ts';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import type { Lead, NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents } from '../../../lib/core/index.ts';
import { event } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

/** The default model, which scores accounts; and the same without its account section. */
const model = defaultModel;
const { account: _account, ...withoutAccounts } = structuredClone(defaultModelJson);
const bare = parseModel(withoutAccounts);
const day = 24 * 60 * 60 * 1000;
const t0 = new Date('2026-03-02T09:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const acme: Account = { key: 'acme-robotics.com', kind: 'domain', domain: 'acme-robotics.com', domainKind: 'work' };

function member(email: string, jobTitle: string, ...activity: [string, NormalizedEvent['properties']?][]): Lead {
  const events = [
    event(email, 'profile_updated', t0, { profile: { jobTitle, industry: 'Software', companySize: 1200 } }),
    ...activity.map(([type, properties], index) => event(email, type, at((index + 1) * 1000), { properties: properties ?? {} })),
  ];
  return applyEvents(undefined, events, model, at(60_000)).lead;
}

/** A VP (case study 15), a director (webinar 20), a manager (webinar 20): 30 fit + 55 + 20 breadth = 105. */
const group = () => [
  member('vp@acme-robotics.com', 'VP Engineering', ['content_downloaded', { contentType: 'case_study' }]),
  member('director@acme-robotics.com', 'Director of IT', ['webinar_attended']),
  member('manager@acme-robotics.com', 'IT Manager', ['webinar_attended']),
];

describe('evaluateAccount', () => {
  it('stores nothing for a model without an account section', () => {
    expect(evaluateAccount(acme, group(), undefined, bare, at(day))).toEqual({ breakdown: undefined, state: undefined, write: false });
  });

  it('decides the MQA once, with one account.mqa in the outbox and a due time', () => {
    const now = at(120_000);
    const first = evaluateAccount(acme, group(), undefined, model, now);
    expect(first.breakdown).toMatchObject({ total: 105, status: 'mqa' });
    expect(first.write).toBe(true);
    expect(first.handoff).toMatchObject({ type: 'account.mqa', accountKey: 'acme-robotics.com', score: { total: 105, threshold: 100, recycleBelow: 70 } });
    expect(first.handoff!.members.map((one) => one.role).sort()).toEqual(['director', 'executive', 'manager']);
    expect(first.state).toMatchObject({ status: 'mqa', transitionCount: 1, mqaAt: now.toISOString() });
    expect(Object.keys(first.state!.outbox)).toEqual([first.handoff!.id]);
    // While the outbox holds a record the account is due now (a failed send is retried by the decay job).
    expect(first.state!.dueAt).toBe(now.toISOString());

    // Sent: with the outbox empty, the same members a minute later change nothing stored.
    const sent = { ...first.state!, outbox: {}, dueAt: accountDueAt({ status: 'mqa', outbox: {} }, group(), undefined, model, now) };
    const again = evaluateAccount(acme, group(), sent, model, at(180_000));
    expect(again).toMatchObject({ write: false, state: undefined });
    expect(again.handoff).toBeUndefined();
  });

  it('keeps an early due time when members push the recycle moment later, and moves it when the account is looked at then', () => {
    const now = at(120_000);
    const members = group();
    const due = accountDueAt({ status: 'mqa', outbox: {} }, members, undefined, model, now)!;
    const state = { ...evaluateAccount(acme, members, undefined, model, now).state!, outbox: {}, dueAt: due };
    // A CTO's webinar and case study: the executive role stays engaged longer, the moment moves on; the stored
    // (early) one is kept, nothing written.
    const more = [...members, member('cto@acme-robotics.com', 'CTO', ['webinar_attended'], ['content_downloaded', { contentType: 'case_study' }])];
    const later = accountDueAt({ status: 'mqa', outbox: {} }, more, undefined, model, at(130_000))!;
    expect(Date.parse(later)).toBeGreaterThan(Date.parse(due));
    expect(evaluateAccount(acme, more, state, model, at(130_000)).write).toBe(false);
    // At the stored time the decay job finds it still an MQA and stores the moment solved now.
    const looked = settleDueAccount(acme, more, state, model, new Date(due));
    expect(looked.write).toBe(true);
    expect(looked.state).toMatchObject({ status: 'mqa', transitionCount: 1, dueAt: later });
  });

  it('solves the recycle moment to the second: below recycleBelow at it, not a second before', () => {
    const members = group();
    const now = at(120_000);
    const due = Date.parse(accountDueAt({ status: 'mqa', outbox: {} }, members, undefined, model, now)!);
    const state = { ...evaluateAccount(acme, members, undefined, model, now).state!, outbox: {} };
    const totalAt = (ms: number) => evaluateAccount(acme, members, state, model, new Date(ms)).breakdown!.total;
    expect(totalAt(due)).toBeLessThan(70);
    expect(totalAt(due - 1000)).toBeGreaterThanOrEqual(70);
    const recycled = evaluateAccount(acme, members, state, model, new Date(due));
    expect(recycled.handoff?.type).toBe('account.recycled');
    expect(recycled.state).toMatchObject({ status: 'recycled', transitionCount: 2 });
    expect(recycled.state!.dueAt).toBe(new Date(due).toISOString());
  });

  it('an account whose members are all gone falls back: an MQA with no members is recycled', () => {
    const now = at(120_000);
    const state = { ...evaluateAccount(acme, group(), undefined, model, now).state!, outbox: {} };
    const empty = evaluateAccount(acme, [], state, model, at(130_000));
    expect(empty.breakdown).toMatchObject({ total: 0, status: 'recycled' });
    expect(empty.handoff).toMatchObject({ type: 'account.recycled', members: [] });
  });
});

describe('groupTraitsOf', () => {
  it("takes the traits the newest group call set, not a member's own later profile values", () => {
    const older = applyEvents(
      undefined,
      [event('a@x.com', 'group', t0, { profile: { groupId: 'g1', industry: 'Retail', companySize: 50 } })],
      model,
      at(1000),
    ).lead;
    const newer = applyEvents(
      undefined,
      [
        event('b@y.com', 'group', at(5000), { profile: { groupId: 'g1', industry: 'Software', companySize: 800 } }),
        event('b@y.com', 'profile_updated', at(9000), { profile: { country: 'DE' } }),
      ],
      model,
      at(10_000),
    ).lead;
    expect(groupTraitsOf([older, newer], { kind: 'group', groupId: 'g1' })).toEqual({ industry: 'Software', companySize: 800 });
    expect(groupTraitsOf([older, newer], { kind: 'domain' })).toBeUndefined();
  });
});
