import { describe, expect, it } from 'vitest';
import type { Lead } from '../../../lib/core/index.ts';
import { applyEvents, explainedReasons, scoreLead, verdict, wholeShares } from '../../../lib/core/index.ts';

import { event } from '../../setup/events.ts';
import { defaultModel } from '../../setup/model.ts';

const day = 24 * 60 * 60 * 1000;
const t0 = new Date('2026-03-02T10:00:00.000Z');
const at = (offsetMs: number) => new Date(t0.getTime() + offsetMs);

const sumOfPoints = (lead: Lead, now: Date) => {
  const score = scoreLead(lead, defaultModel, now);
  return { score, sum: score.reasons.reduce((sum, reason) => sum + reason.points!, 0) };
};

/** Leads of every shape: capped, decayed at odd ages, negative, fit group-capped, disqualified. */
function leads(): Lead[] {
  const cappedOpener = 'opener@acme.com';
  const opener = applyEvents(
    undefined,
    [
      event(cappedOpener, 'profile_updated', t0, { profile: { jobTitle: 'CEO and founder, director of everything', companySize: '501-1000' } }),
      ...Array.from({ length: 9 }, (_, index) => event(cappedOpener, 'email_opened', at(index * 3 * day))),
      ...Array.from({ length: 5 }, (_, index) =>
        event(cappedOpener, 'page_viewed', at(index * 7 * day + 3_600_000), { properties: { url: 'https://acme.com/pricing' } }),
      ),
      event(cappedOpener, 'webinar_attended', at(11 * day)),
      event(cappedOpener, 'email_clicked', at(17 * day)),
    ],
    defaultModel,
    at(30 * day),
  ).lead;
  const personal = 'sam@gmail.com';
  const nurtured = applyEvents(
    undefined,
    [
      event(personal, 'profile_updated', t0, { profile: { jobTitle: 'Marketing Manager', industry: 'SaaS' } }),
      event(personal, 'content_downloaded', at(day), { properties: { contentType: 'guide' } }),
      event(personal, 'email_unsubscribed', at(2 * day)),
      event(personal, 'trial_started', at(40 * day)),
      event(personal, 'email_replied', at(41 * day)),
    ],
    defaultModel,
    at(41 * day),
  ).lead;
  const bounced = 'gone@acme.com';
  const disqualified = applyEvents(
    undefined,
    [event(bounced, 'webinar_attended', t0), event(bounced, 'email_bounced', at(day), { properties: { bounce: 'hard' } })],
    defaultModel,
    at(day),
  ).lead;
  return [opener, nurtured, disqualified];
}

describe('explanations add up to the score exactly', () => {
  it('the whole points of the reasons sum to the total, at many instants, for capped, decayed and negative leads', () => {
    let checked = 0;
    for (const lead of leads()) {
      for (const days of [0, 0.37, 1, 13.3, 30, 45.5, 89.9, 90, 91.7, 200, 365.25, 1000]) {
        const now = at(45 * day + days * day);
        const { score, sum } = sumOfPoints(lead, now);
        expect(sum, `${lead.leadId} at +${days} d`).toBe(score.total);
        for (const reason of score.reasons) expect(Math.abs(reason.points! - reason.pointsNow)).toBeLessThan(1);
        expect(score.reasons.filter((reason) => reason.kind === 'fit').reduce((sum, reason) => sum + reason.points!, 0)).toBe(score.fit);
        checked += 1;
      }
    }
    expect(checked).toBe(36);
  });

  it('whole shares: the rounding goes to the largest fractions, every share within a point of its exact value', () => {
    expect(wholeShares([4.4, 4.4, 4.4])).toEqual([5, 4, 4]);
    expect(wholeShares([0.5, 0.5])).toEqual([1, 0]);
    expect(wholeShares([-10, 3.6, 2.7])).toEqual([-10, 3, 3]);
    expect(wholeShares([])).toEqual([]);
  });

  it('a rule cap and a fit group cap say how much they cut', () => {
    const opener = leads()[0]!;
    const score = scoreLead(opener, defaultModel, at(30 * day));
    const opened = score.reasons.find((reason) => reason.rule === 'email_opened')!;
    expect(opened).toMatchObject({ count: 9, rawPoints: 9, pointsNow: 5, halfLifeDays: 90, caps: [{ by: 'rule', name: 'email_opened', limit: 5 }] });
    expect(opened.decayedPoints).toBeGreaterThan(5);
    expect(opened.caps![0]!.cut).toBeCloseTo(opened.decayedPoints! - 5, 2);
    const director = score.reasons.find((reason) => reason.rule === 'director_or_head')!;
    expect(director).toMatchObject({
      kind: 'fit',
      rawPoints: 10,
      pointsNow: 0,
      points: 0,
      group: 'seniority',
      caps: [{ by: 'group', name: 'seniority', limit: 15, cut: 10 }],
    });
  });

  it('a rule that never decays says so, and keeps its full negative points', () => {
    const nurtured = leads()[1]!;
    const unsubscribed = scoreLead(nurtured, defaultModel, at(400 * day)).reasons.find((reason) => reason.rule === 'email_unsubscribed')!;
    expect(unsubscribed).toMatchObject({ halfLifeDays: null, pointsNow: -10, decayedPoints: -10, points: -10 });
  });
});

describe('what the score means, in words', () => {
  it('a lead short of the threshold is told how many behavior points it needs', () => {
    const nurtured = leads()[1]!;
    const score = scoreLead(nurtured, defaultModel, at(41 * day));
    const { summary, meetsThresholds, thresholds } = verdict(nurtured, score, defaultModel);
    expect(meetsThresholds).toBe(false);
    expect(thresholds).toEqual({ mql: 60, minFit: 0, minBehavior: 10, recycleBelow: 40 });
    expect(summary[0]).toBe(`needs ${60 - score.total} more behavior points to qualify (total ${score.total} of 60)`);
  });

  it('fit below minFit is named, and a disqualified lead says by what and when', () => {
    const strict = { ...defaultModel, thresholds: { ...defaultModel.thresholds, minFit: 10 } };
    const fit5 = verdict({ status: 'engaged' }, { fit: 5, behavior: 3, total: 8 }, strict);
    expect(fit5.summary).toContain('fit 5 is below minFit 10: no amount of behavior qualifies it (nor a fast track) until its profile does');
    expect(fit5.summary).toContain('needs 52 more behavior points to qualify (total 8 of 60; behavior 3 of minBehavior 10)');
    const disqualified = leads()[2]!;
    const words = verdict(disqualified, scoreLead(disqualified, defaultModel, at(day)), defaultModel);
    expect(words.summary).toEqual([`disqualified by hard_bounce (E-mail hard-bounced) on ${at(day).toISOString()}: never an MQL`]);
  });

  it('an MQL is told its margin and when decay alone recycles it', () => {
    const words = verdict({ status: 'mql' }, { fit: 25, behavior: 30, total: 55 }, defaultModel, '2026-09-01T00:00:00.000Z');
    expect(words.summary).toEqual([
      'an MQL (total 55): recycled when the total falls below recycleBelow 40, i.e. after losing 16 points',
      'decay alone recycles it at 2026-09-01T00:00:00.000Z, unless it engages again',
    ]);
  });
});

describe('the reasons sales receives carry the same data, plus the events behind each behavior rule', () => {
  it('each behavior reason lists its latest events (at most 3, newest first) with the properties its rule reads', () => {
    const opener = leads()[0]!;
    const reasons = explainedReasons(opener, scoreLead(opener, defaultModel, at(30 * day)), defaultModel);
    const pricing = reasons.find((reason) => reason.rule === 'pricing_page_viewed')!;
    expect(pricing.events).toHaveLength(3);
    expect(pricing.events![0]).toEqual({
      type: 'page_viewed',
      occurredAt: at(28 * day + 3_600_000).toISOString(),
      source: 'test',
      properties: { url: 'https://acme.com/pricing' },
    });
    expect(pricing.events!.map((one) => one.occurredAt)).toEqual([...pricing.events!.map((one) => one.occurredAt)].sort().reverse());
    expect(reasons.find((reason) => reason.kind === 'fit')!.events).toBeUndefined();
  });

  it('the MQL handoff record carries whole points that add up to its score', () => {
    const email = 'dana@acme.com';
    const { handoffs } = applyEvents(
      undefined,
      [
        event(email, 'profile_updated', t0, { profile: { jobTitle: 'VP Sales', industry: 'Software' } }),
        event(email, 'content_downloaded', at(5_000), { properties: { contentType: 'case_study' } }),
        event(email, 'webinar_attended', at(10_000)),
      ],
      defaultModel,
      at(10_000),
    );
    const record = handoffs[0]!;
    expect(record.reasons.reduce((sum, reason) => sum + reason.points!, 0)).toBe(record.score.total);
    expect(record.reasons.find((reason) => reason.rule === 'webinar_attended')).toMatchObject({
      rule: 'webinar_attended',
      kind: 'behavior',
      pointsNow: 20,
      rawPoints: 20,
      count: 1,
      points: 20,
      events: [{ type: 'webinar_attended' }],
    });
  });
});
