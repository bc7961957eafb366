/**
 * The due moment: when time alone changes what is stored of a lead, computed by the pure core, so the
 * decay job reads only the leads that are due instead of scanning the table.
 */
import { describe, expect, it } from 'vitest';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import type { Lead } from '../../../lib/core/index.ts';
import { applyEvents, dueAt, evaluateLead, scoreLead, statusAt, statusChangeAt } from '../../../lib/core/index.ts';

import { event, workedExample, workedExampleProfile } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

const second = 1000;
const day = 24 * 60 * 60 * second;
const t0 = new Date('2026-03-02T10:00:00.000Z');
const at = (offsetMs: number) => new Date(t0.getTime() + offsetMs);

/** The seeds' worked example, all at `when`: fit 25, case study 15, webinar 20: an MQL at 60. */
function qualifiedLead(email: string, when: Date): Lead {
  const { lead } = applyEvents(undefined, workedExample(email, when, { spacingMs: 0 }), defaultModel, when);
  expect(lead.status).toBe('mql');
  // Its handoff confirmed on the queue: nothing waits in the outbox.
  return { ...lead, outbox: {} };
}

describe('the due moment', () => {
  it('an MQL whose events are 100 days old is due at the moment its total falls below 40, to the second', () => {
    const lead = qualifiedLead('old@acme.com', t0);
    const now = at(100 * day);
    expect(scoreLead(lead, defaultModel, now).total).toBeGreaterThanOrEqual(40);

    const due = dueAt(lead, defaultModel, now);

    expect(due).toMatch(/\.000Z$/);
    const dueMs = Date.parse(due!);
    expect(scoreLead(lead, defaultModel, new Date(dueMs)).total).toBeLessThan(40);
    expect(scoreLead(lead, defaultModel, new Date(dueMs - second)).total).toBeGreaterThanOrEqual(40);
    // 25 + round(35 * 2^(-t / 90 days)) < 40 once behavior < 14.5: t > 90 * log2(35 / 14.5) days.
    expect((dueMs - t0.getTime()) / day).toBeCloseTo(90 * Math.log2(35 / 14.5), 4);
  });

  it('at its due moment the decay job recycles the MQL, and then it is due no more', () => {
    const lead = qualifiedLead('recycled@acme.com', t0);
    const due = new Date(dueAt(lead, defaultModel, t0)!);

    const justBefore = evaluateLead(lead, defaultModel, new Date(due.getTime() - second));
    const atDue = evaluateLead(lead, defaultModel, due);

    expect(justBefore.lead.status).toBe('mql');
    expect(atDue.lead.status).toBe('recycled');
    expect(atDue.handoffs.map((handoff) => handoff.type)).toEqual(['lead.recycled']);
    expect(dueAt({ ...atDue.lead, outbox: {} }, defaultModel, due)).toBeUndefined();
  });

  it('the due moment is the same whenever it is computed, so re-evaluating an unchanged lead writes nothing', () => {
    const lead = qualifiedLead('stable@acme.com', t0);

    const moments = [at(0), at(3 * day + 17 * second), at(60 * day), at(114 * day)].map((now) => dueAt(lead, defaultModel, now));

    expect(new Set(moments).size).toBe(1);
  });

  it('an MQL already below recycleBelow when it is looked at is due at once', () => {
    const lead = qualifiedLead('late@acme.com', t0);
    const now = at(400 * day);

    expect(dueAt(lead, defaultModel, now)).toBe(now.toISOString());
  });

  it('a lead whose handoff still waits in the outbox is due now, so a failed enqueue is retried', () => {
    const lead = qualifiedLead('waiting@acme.com', t0);
    const { lead: withHandoff } = applyEvents(undefined, [event('waiting2@acme.com', 'demo_requested', t0)], defaultModel, t0);

    expect(Object.keys(withHandoff.outbox)).toHaveLength(1);
    expect(dueAt(withHandoff, defaultModel, at(5 * second))).toBe(at(5 * second).toISOString());
    expect(dueAt(lead, defaultModel, at(5 * second))).not.toBe(at(5 * second).toISOString());
  });

  it('an engaged lead is not due, even when its behavior decays to nothing: no status changes by time alone', () => {
    const { lead } = applyEvents(undefined, [event('reader@acme.com', 'content_downloaded', t0, { properties: { contentType: 'guide' } })], defaultModel, t0);
    expect(lead.status).toBe('engaged');
    const cold = at(5 * 365 * day);
    expect(scoreLead(lead, defaultModel, cold).behavior).toBe(0);

    expect(statusAt(lead, defaultModel, cold)).toBe('engaged');
    expect(dueAt(lead, defaultModel, t0)).toBeUndefined();
  });

  it('a lead with fit alone, a disqualified lead and a lead sales accepted are never due', () => {
    const { lead: fitOnly } = applyEvents(undefined, [event('fit@acme.com', 'profile_updated', t0, { profile: workedExampleProfile })], defaultModel, t0);
    const bounced = applyEvents(
      qualifiedLead('bounced@acme.com', t0),
      [event('bounced@acme.com', 'email_bounced', at(day), { properties: { bounce: 'hard' } })],
      defaultModel,
      at(day),
    ).lead;
    const accepted = applyEvents(qualifiedLead('accepted@acme.com', t0), [event('accepted@acme.com', 'mql_accepted', at(day))], defaultModel, at(day)).lead;

    expect([fitOnly.status, bounced.status, accepted.status]).toEqual(['new', 'disqualified', 'sql']);
    expect(dueAt(fitOnly, defaultModel, t0)).toBeUndefined();
    expect(dueAt({ ...bounced, outbox: {} }, defaultModel, at(day))).toBeUndefined();
    expect(dueAt({ ...accepted, outbox: {} }, defaultModel, at(day))).toBeUndefined();
  });

  it('with a penalty that fades (negative points with a half-life), an engaged lead is due when the fading lifts it to MQL', () => {
    const json = structuredClone(defaultModelJson) as { behavior: { rules: object[] } };
    json.behavior.rules = [
      { id: 'webinar_attended', description: 'Attended a webinar', type: 'webinar_attended', points: 20, halfLifeDays: null },
      { id: 'case_study_downloaded', description: 'Downloaded a case study', type: 'content_downloaded', points: 15, halfLifeDays: null },
      { id: 'support_complaint', description: 'Complained to support', type: 'support_complaint', points: -10, halfLifeDays: 7 },
    ];
    const model = parseModel(json);
    const email = 'fading@acme.com';
    const events = [
      event(email, 'profile_updated', t0, { profile: workedExampleProfile }),
      event(email, 'content_downloaded', t0),
      event(email, 'webinar_attended', t0),
      event(email, 'support_complaint', t0),
    ];
    const { lead, score } = applyEvents(undefined, events, model, t0);
    expect([lead.status, score.total]).toEqual(['engaged', 50]);

    const due = statusChangeAt(lead, model, t0);

    expect(due).toBeDefined();
    const dueMs = Date.parse(due!);
    expect(evaluateLead(lead, model, new Date(dueMs)).lead.status).toBe('mql');
    expect(evaluateLead(lead, model, new Date(dueMs - second)).lead.status).toBe('engaged');
    // The penalty rounds away once 10 * 2^(-t / 7 days) <= 0.5: t = 7 * log2(20) days.
    expect((dueMs - t0.getTime()) / day).toBeCloseTo(7 * Math.log2(20), 4);
  });
});
