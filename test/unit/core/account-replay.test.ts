import { describe, expect, it } from 'vitest';
import { accountQualificationOf } from '../../../lib/core/account-replay.ts';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import { event } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

/** The default model, whose account section is examples/account-section.json's. */
const model = defaultModel;
const { account: _account, ...withoutAccounts } = structuredClone(defaultModelJson);
const day = 86_400_000;
const t0 = Date.parse('2026-03-02T09:00:00.000Z');
const at = (days: number) => new Date(t0 + days * day);
const domain = { key: 'acme-robotics.com', kind: 'domain' as const, domain: 'acme-robotics.com' };
const industry = { industry: 'Software', companySize: 1200 };

/** Bigco's buying group: a VP (case study), a director (webinar) and a manager (webinar), a day apart; none an MQL. */
const members = [
  {
    leadId: 'vp@bigco.com',
    events: [
      event('vp@bigco.com', 'profile_updated', at(0), { profile: { jobTitle: 'VP Engineering', ...industry } }),
      event('vp@bigco.com', 'content_downloaded', at(0), { properties: { contentType: 'case_study' } }),
    ],
  },
  {
    leadId: 'director@bigco.com',
    events: [
      event('director@bigco.com', 'profile_updated', at(1), { profile: { jobTitle: 'Director of IT', ...industry } }),
      event('director@bigco.com', 'webinar_attended', at(1)),
    ],
  },
  {
    leadId: 'manager@bigco.com',
    events: [
      event('manager@bigco.com', 'profile_updated', at(2), { profile: { jobTitle: 'IT Manager', ...industry } }),
      event('manager@bigco.com', 'webinar_attended', at(2)),
      // A sales outcome is the yardstick, never an input: it qualifies nothing.
      event('manager@bigco.com', 'won', at(3), { properties: { amount: 1000 } }),
    ],
  },
];

describe('when an account became an MQA, replayed from its members', () => {
  it('qualifies at the event of the member who completes the buying group', () => {
    const replay = accountQualificationOf(domain, members, model, at(3), () => true);
    expect(replay).toMatchObject({ qualifiedAt: at(2).toISOString(), statusNow: 'mqa' });
    // 30 fit + (15 + 20 + 20, a little decayed) + 20 breadth
    expect(replay!.totalAtMqa).toBe(105);
  });

  it('two of them never qualify it: 30 fit + 35 engagement + 20 breadth, below mqa 100', () => {
    expect(accountQualificationOf(domain, members.slice(0, 2), model, at(3), () => true)).toEqual({ qualified: false, statusNow: 'engaged', totalNow: 85 });
  });

  it('keeps an MQA one while its decayed total stays above recycleBelow, and recycles it below', () => {
    // 91 days later the members' points have halved (half-life 90 days): below mqa 100, above recycleBelow 70.
    expect(accountQualificationOf(domain, members, model, at(94), () => true)).toMatchObject({ qualifiedAt: at(2).toISOString(), statusNow: 'mqa' });
    expect(accountQualificationOf(domain, members, model, at(400), () => true)).toMatchObject({ qualifiedAt: at(2).toISOString(), statusNow: 'recycled' });
  });

  it('leaves out events after now, and scores nothing under a model without an account section', () => {
    expect(accountQualificationOf(domain, members, model, at(1.5), () => true)?.qualifiedAt).toBeUndefined();
    expect(accountQualificationOf(domain, members, parseModel(withoutAccounts), at(3), () => true)).toBeUndefined();
  });
});
