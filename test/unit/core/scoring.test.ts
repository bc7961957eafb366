import { describe, expect, it } from 'vitest';
import type { Lead } from '../../../lib/core/index.ts';
import { applyEvents, classifyEmailDomain, dueAt, evaluateLead, parseQuantity, scoreLead, statusChangeAt } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import { event, workedExample } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

const day = 24 * 60 * 60 * 1000;
const t0 = new Date('2026-03-02T10:00:00.000Z');
const at = (offsetMs: number) => new Date(t0.getTime() + offsetMs);

describe('the seeds scenarios with the default model', () => {
  it('a C-level lead from a target industry who downloads a case study and attends a webinar becomes an MQL at 60', () => {
    const events = workedExample('dana@acme-logistics.com', t0);

    const { lead, score, handoffs } = applyEvents(undefined, events, defaultModel, at(10_000));

    expect(score).toMatchObject({ fit: 25, behavior: 35, total: 60 });
    expect(lead.status).toBe('mql');
    expect(handoffs).toHaveLength(1);
    expect(handoffs[0]).toMatchObject({ type: 'lead.mql', score: { total: 60, fit: 25, behavior: 35, threshold: 60, modelVersion: defaultModel.version } });
    expect(handoffs[0]!.reasons.map((reason) => [reason.rule, reason.pointsNow])).toEqual([
      ['webinar_attended', 20],
      ['c_level_or_vp', 15],
      ['case_study_downloaded', 15],
      ['target_industry', 10],
    ]);
  });

  it('the same events arriving one at a time, seconds apart, still qualify (no hair-breadth miss from decay)', () => {
    const events = workedExample('dana@acme-logistics.com', t0);
    let lead: Lead | undefined;
    const statuses: string[] = [];
    events.forEach((one, index) => {
      lead = applyEvents(lead, [one], defaultModel, at(index * 5_000 + 1_000)).lead;
      statuses.push(lead.status);
    });
    expect(statuses).toEqual(['new', 'engaged', 'mql']);
  });

  it('the same events 400 days old do not qualify', () => {
    const events = workedExample('dana@acme-logistics.com', t0);

    const { lead, score } = applyEvents(undefined, events, defaultModel, at(400 * day));

    expect(score.fit).toBe(25);
    expect(score.behavior).toBe(2); // 35 points after 400/90 half-lives
    expect(lead.status).toBe('engaged');
  });

  it('a student with a personal address never qualifies, however much they engage', () => {
    const email = 'sam.student@gmail.com';
    const events = [
      event(email, 'profile_updated', t0, { profile: { jobTitle: 'Student', industry: 'Software' } }),
      event(email, 'demo_requested', at(1_000)),
      event(email, 'trial_started', at(2_000)),
      event(email, 'webinar_attended', at(3_000)),
      event(email, 'content_downloaded', at(4_000), { properties: { contentType: 'case_study' } }),
    ];

    const { lead, score } = applyEvents(undefined, events, defaultModel, at(5_000));

    expect(score.fit).toBe(-20); // student -20, personal -10, target industry +10
    expect(score.behavior).toBeGreaterThanOrEqual(100);
    expect(lead.status).toBe('engaged');
  });

  it('a hard bounce disqualifies for good: later engagement never brings the lead back', () => {
    const email = 'gone@acme.com';
    const bounced = applyEvents(undefined, [event(email, 'email_bounced', t0, { properties: { bounce: 'hard' } })], defaultModel, at(1_000)).lead;
    expect(bounced.status).toBe('disqualified');

    const after = applyEvents(bounced, workedExample(email, at(day)), defaultModel, at(day + 20_000));

    expect(after.lead.status).toBe('disqualified');
    expect(after.handoffs).toEqual([]);
    expect(after.score.reasons.find((reason) => reason.kind === 'disqualify')).toMatchObject({ rule: 'hard_bounce' });
  });

  it('a soft bounce does not disqualify', () => {
    const { lead } = applyEvents(undefined, [event('x@acme.com', 'email_bounced', t0, { properties: { bounce: 'soft' } })], defaultModel, at(1));
    expect(lead.status).toBe('new');
  });

  it('a spam complaint after qualifying disqualifies and tells sales', () => {
    const email = 'dana@acme.com';
    const mql = applyEvents(undefined, workedExample(email, t0), defaultModel, at(10_000)).lead;

    const { lead, handoffs } = applyEvents(mql, [event(email, 'email_spam_reported', at(day))], defaultModel, at(day));

    expect(lead.status).toBe('disqualified');
    expect(handoffs.map((handoff) => handoff.type)).toEqual(['lead.disqualified']);
  });

  it('a demo request fast-tracks a lead with acceptable fit below the threshold', () => {
    const email = 'ops@acme.com';
    const { lead, score, handoffs } = applyEvents(undefined, [event(email, 'demo_requested', t0)], defaultModel, at(1_000));
    expect(score.total).toBe(40);
    expect(lead.status).toBe('mql');
    expect(handoffs[0]?.type).toBe('lead.mql');
  });

  it('an old demo request replayed months later does not fast-track', () => {
    const { lead } = applyEvents(undefined, [event('ops@acme.com', 'demo_requested', t0)], defaultModel, at(120 * day));
    expect(lead.status).toBe('engaged');
  });

  it('a lead with perfect fit and no engagement is not an MQL (minimum behavior)', () => {
    const profile = { jobTitle: 'VP Engineering', industry: 'SaaS', companySize: '1001-5000', annualRevenue: '$100M-$500M' };
    const { lead, score } = applyEvents(undefined, [event('vp@bigco.com', 'profile_updated', t0, { profile })], defaultModel, at(1));
    expect(score.fit).toBe(50);
    expect(lead.status).toBe('new');
  });

  it('capped rules stop adding: twenty e-mail opens give 5 points, not 20', () => {
    const events = Array.from({ length: 20 }, (_, index) => event('o@acme.com', 'email_opened', at(index * 1_000)));
    const { score } = applyEvents(undefined, events, defaultModel, at(30_000));
    expect(score.behavior).toBe(5);
    expect(score.reasons.find((reason) => reason.rule === 'email_opened')).toMatchObject({ count: 20, rawPoints: 20, pointsNow: 5 });
  });

  it('pricing page visits score 5 each up to 15; other pages 1 each', () => {
    const email = 'p@acme.com';
    const events = [
      ...Array.from({ length: 4 }, (_, index) => event(email, 'page_viewed', at(index), { properties: { url: 'https://example.com/pricing?plan=pro' } })),
      event(email, 'page_viewed', at(10), { properties: { url: 'https://example.com/blog' } }),
    ];
    const { score } = applyEvents(undefined, events, defaultModel, at(100));
    expect(score.reasons.filter((reason) => reason.kind === 'behavior').map((reason) => [reason.rule, reason.pointsNow])).toEqual([
      ['pricing_page_viewed', 15],
      ['page_viewed', 1],
    ]);
  });

  it('an unsubscribe costs 10 points that do not decay', () => {
    const { score } = applyEvents(undefined, [event('u@acme.com', 'email_unsubscribed', t0)], defaultModel, at(1000 * day));
    expect(score.behavior).toBe(-10);
  });
});

describe('decay and recycling', () => {
  it('behavior halves every half-life; fit does not decay', () => {
    const { lead } = applyEvents(undefined, workedExample('d@acme.com', t0), defaultModel, at(10_000));
    const later = scoreLead(lead, defaultModel, at(180 * day + 10_000));
    expect(later.fit).toBe(25);
    expect(later.behavior).toBe(9); // 35 / 4 = 8.75, in whole points
  });

  it('an MQL is recycled only when its score falls below recycleBelow, once, at the computed due time', () => {
    const qualified = applyEvents(undefined, workedExample('d@acme.com', t0), defaultModel, at(10_000)).lead;
    expect(dueAt(qualified, defaultModel, at(10_000))).toBe(at(10_000).toISOString()); // its handoff is still in the outbox
    const lead = { ...qualified, outbox: {} };
    const due = dueAt(lead, defaultModel, at(10_000));
    expect(due).toBeDefined();
    const dueMs = Date.parse(due!);
    // total = 25 + round(35 * 2^(-t/90d)) falls below 40 when behavior < 14.5: t > 90 * log2(35/14.5) = 114.4 days
    expect((dueMs - t0.getTime()) / day).toBeCloseTo(114.4, 1);

    const justBefore = evaluateLead(lead, defaultModel, new Date(dueMs - 2 * 60_000));
    expect(justBefore.lead.status).toBe('mql');
    expect(justBefore.handoffs).toEqual([]);

    const atDue = evaluateLead(lead, defaultModel, new Date(dueMs));
    expect(atDue.lead.status).toBe('recycled');
    expect(atDue.handoffs.map((handoff) => handoff.type)).toEqual(['lead.recycled']);
    expect(dueAt({ ...atDue.lead, outbox: {} }, defaultModel, new Date(dueMs))).toBeUndefined();

    const again = evaluateLead({ ...atDue.lead, outbox: {} }, defaultModel, new Date(dueMs + day));
    expect(again.handoffs).toEqual([]);
  });

  it('hysteresis: an MQL at 55 stays an MQL (it entered at 60 and recycles below 40)', () => {
    const { lead } = applyEvents(undefined, workedExample('d@acme.com', t0), defaultModel, at(10_000));
    const { lead: later, score } = evaluateLead(lead, defaultModel, at(20 * day));
    expect(score.total).toBeLessThan(60);
    expect(later.status).toBe('mql');
  });

  it('a recycled lead that engages again re-qualifies with a new transition id', () => {
    const email = 'd@acme.com';
    const first = applyEvents(undefined, workedExample(email, t0), defaultModel, at(10_000));
    const recycled = evaluateLead({ ...first.lead, outbox: {} }, defaultModel, at(200 * day));
    expect(recycled.lead.status).toBe('recycled');

    const back = applyEvents(
      { ...recycled.lead, outbox: {} },
      [event(email, 'trial_started', at(201 * day)), event(email, 'webinar_attended', at(201 * day))],
      defaultModel,
      at(201 * day),
    );

    expect(back.lead.status).toBe('mql');
    const ids = [first.handoffs[0]!.id, recycled.handoffs[0]!.id, back.handoffs[0]!.id];
    expect(new Set(ids).size).toBe(3);
  });
});

describe('order independence', () => {
  it('the same events in any order give the same state, within float rounding', () => {
    const email = 'o@acme.com';
    const events = [
      ...workedExample(email, t0),
      event(email, 'email_opened', at(3 * day)),
      event(email, 'email_clicked', at(2 * day), { properties: { url: 'https://x/pricing' } }),
      event(email, 'page_viewed', at(day), { properties: { url: 'https://x/pricing' } }),
      event(email, 'profile_updated', at(4 * day), { profile: { jobTitle: 'VP Sales' } }),
    ];
    const now = at(10 * day);
    const forward = applyEvents(undefined, events, defaultModel, now);
    let shuffled: Lead | undefined;
    for (const one of [...events].reverse()) shuffled = applyEvents(shuffled, [one], defaultModel, now).lead;

    expect(shuffled!.profile.jobTitle).toBe('VP Sales');
    expect(scoreLead(shuffled!, defaultModel, now)).toEqual(forward.score);
    expect(shuffled!.recentEvents).toEqual(forward.lead.recentEvents);
    for (const [rule, state] of Object.entries(forward.lead.behavior)) {
      expect(shuffled!.behavior[rule]!.sum).toBeCloseTo(state.sum, 9);
      expect(shuffled!.behavior[rule]!.count).toBe(state.count);
    }
  });
});

describe('the scoring model', () => {
  it('the default model validates and has a stable content version', () => {
    expect(defaultModel.version).toMatch(/^[0-9a-f]{12}$/);
    const content = modelContent(defaultModel);
    expect(parseModel(JSON.parse(JSON.stringify(content))).version).toBe(defaultModel.version);
  });

  it('a change of a single point changes the version', () => {
    const content = modelContent(defaultModel);
    const changed = structuredClone(content);
    changed.thresholds.mql = 61;
    expect(parseModel(changed).version).not.toBe(defaultModel.version);
  });

  it('an invalid model is refused with every problem named', () => {
    const content = modelContent(defaultModel);
    const broken = structuredClone(content) as Record<string, any>;
    broken.thresholds.recycleBelow = 70;
    broken.behavior.rules.push({ id: 'webinar_attended', description: 'dup', type: 'x', points: 1 });
    broken.fit.rules.push({ id: 'bad_regex', description: 'x', points: 1, when: { field: 'jobTitle', matches: '(' } });
    expect(() => parseModel(broken)).toThrow(/recycleBelow[\s\S]*used twice|used twice[\s\S]*recycleBelow/);
    expect(() => parseModel(broken)).toThrow(/regular expression/);
  });

  it('company sizes and revenues are read from numbers and ranges', () => {
    expect(parseQuantity('501-1000')).toBe(501);
    expect(parseQuantity('10,001+')).toBe(10001);
    expect(parseQuantity('$50M-$100M')).toBe(50_000_000);
    expect(parseQuantity('1.2B')).toBe(1_200_000_000);
    expect(parseQuantity(750)).toBe(750);
    expect(parseQuantity('unknown')).toBeUndefined();
  });

  it('e-mail domains are classified as competitor, education, personal or work', () => {
    const domains = { ...defaultModel.domains, competitors: ['rival.io'] };
    expect(classifyEmailDomain('a@eu.rival.io', domains)).toBe('competitor');
    expect(classifyEmailDomain('a@cs.stanford.edu', domains)).toBe('education');
    expect(classifyEmailDomain('a@ox.ac.uk', domains)).toBe('education');
    expect(classifyEmailDomain('a@gmail.com', domains)).toBe('personal');
    expect(classifyEmailDomain('a@acme.com', domains)).toBe('work');
  });

  it('a competitor domain disqualifies on the profile alone', () => {
    const model = parseModel({ ...structuredClone(modelContent(defaultModel)), domains: { ...modelContent(defaultModel).domains, competitors: ['rival.io'] } });
    const { lead } = applyEvents(undefined, workedExample('spy@rival.io', t0), model, at(10_000));
    expect(lead.status).toBe('disqualified');
  });
});

describe('sales rejects an MQL', () => {
  it('the rejected lead stays recycled until it engages again; then it qualifies once more and sales hears of it', () => {
    const email = 'rejected@acme-logistics.com';
    const qualified = applyEvents(undefined, workedExample(email, t0), defaultModel, at(10_000));
    expect(qualified.lead.status).toBe('mql');

    const rejected = applyEvents(
      qualified.lead,
      [event(email, 'mql_rejected', at(60_000), { properties: { reason: 'wrong_timing' } })],
      defaultModel,
      at(60_000),
    );
    expect(rejected.lead.status).toBe('recycled');
    expect(rejected.handoffs).toEqual([]);

    // A minute later, and a week later, the same score does not send it back to sales.
    for (const later of [at(120_000), at(7 * day)]) {
      const evaluated = evaluateLead(rejected.lead, defaultModel, later);
      expect(evaluated.lead.status).toBe('recycled');
      expect(evaluated.handoffs).toEqual([]);
    }
    // Time alone changes nothing for it (its outbox aside, which still holds the first lead.mql).
    expect(statusChangeAt(rejected.lead, defaultModel, at(60_000))).toBeUndefined();

    // New engagement after the rejection: it qualifies again, one lead.mql.
    const engaged = applyEvents(rejected.lead, [event(email, 'webinar_attended', at(8 * day))], defaultModel, at(8 * day));
    expect(engaged.lead.status).toBe('mql');
    expect(engaged.handoffs.map((handoff) => handoff.type)).toEqual(['lead.mql']);
  });
});
