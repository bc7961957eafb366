/**
 * A sender's test data (Google Ads' "Send test data") is a lead of its own (lib/core/identity.ts `testLeadId`):
 * scored and shown like any lead, never handed off. And a lead form's own questions are properties a behavior
 * rule matches (docs/scoring-model.md, "A lead form's own questions").
 */
import { describe, expect, it } from 'vitest';
import { isTestLeadId, testLeadId } from '../../../lib/core/identity.ts';
import type { NormalizedEvent, ScoringModel } from '../../../lib/core/index.ts';
import { applyEvents, evaluateLead } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

const t0 = new Date('2026-05-14T09:21:06.000Z');

function googleForm(leadKey: string, properties: NormalizedEvent['properties'] = {}): NormalizedEvent {
  return {
    leadKey,
    type: 'form_submitted',
    occurredAt: t0.toISOString(),
    source: 'google-ads',
    sourceEventId: 'lead-1',
    properties: { formId: '123456789', ...properties },
    profile: { email: 'test@example.com', jobTitle: 'Chief Operating Officer', industry: 'Software', companySize: 5000 },
  };
}

/** The default model with the example rule of docs/scoring-model.md: a budget answer worth 30, before `lead_form`. */
function withBudgetRule(points = 30): ScoringModel {
  const content = structuredClone(modelContent(defaultModel));
  const rules = content.behavior.rules.filter((rule) => rule.id !== 'lead_form');
  return parseModel({
    ...content,
    behavior: {
      ...content.behavior,
      rules: [
        ...rules,
        {
          id: 'lead_form_big_budget',
          description: 'Lead form: budget of $50k or more',
          type: 'form_submitted',
          where: [{ property: 'what_is_your_budget', oneOf: ['$50k+', '$100k+'] }],
          points,
        },
        { id: 'lead_form', description: 'Submitted a lead form', type: 'form_submitted', points: 10 },
      ],
    },
  });
}

describe('test leads', () => {
  const testKey = testLeadId('google-ads', 'Cj0KCQjwit_8BRCoARIsAIx3Rj7g')!;

  it('are named apart from any real lead', () => {
    expect(testKey).toBe('google-ads-test:Cj0KCQjwit_8BRCoARIsAIx3Rj7g');
    expect(isTestLeadId(testKey)).toBe(true);
    for (const real of ['test@example.com', 'phone:+16505550123', 'google-ads:abc', 'facebook:444444444444', 'anon:test-1']) {
      expect(isTestLeadId(real)).toBe(false);
    }
  });

  it('cross the threshold and become MQL like a real lead, but no record goes to the outbox', () => {
    const model = withBudgetRule();
    const events = [googleForm(testKey, { what_is_your_budget: '$50k+' })];

    const test = applyEvents(undefined, events, model, t0);
    const real = applyEvents(
      undefined,
      events.map((event) => ({ ...event, leadKey: 'dana@northwind-analytics.com' })),
      model,
      t0,
    );

    // Fit 40 (C-level 15, over 500 employees 15, target industry 10) + the budget answer 30.
    expect(real.score.total).toBe(70);
    expect(real.handoffs.map((handoff) => handoff.type)).toEqual(['lead.mql']);
    expect(test.score.total).toBe(70);
    expect(test.lead.status).toBe('mql');
    expect(test.handoffs).toEqual([]);
    expect(test.lead.outbox).toEqual({});
  });

  it('are not handed off when decay recycles them either', () => {
    // No fit at all: the budget answer alone (70) qualifies it, and its decay alone recycles it.
    const model = withBudgetRule(70);
    const event = { ...googleForm(testKey, { what_is_your_budget: '$50k+' }), profile: { email: 'test@example.com' } };
    const { lead, handoffs } = applyEvents(undefined, [event], model, t0);
    expect(lead.status).toBe('mql');
    expect(handoffs).toEqual([]);
    const yearLater = new Date(t0.getTime() + 365 * 24 * 3_600_000);

    const later = evaluateLead(lead, model, yearLater);

    expect(later.lead.status).toBe('recycled');
    expect(later.handoffs).toEqual([]);
    expect(later.lead.outbox).toEqual({});
  });
});

describe("a lead form's own questions", () => {
  it('a rule on the budget answer scores the lead instead of the plain lead-form rule', () => {
    const { score } = applyEvents(undefined, [googleForm('dana@northwind-analytics.com', { what_is_your_budget: '$50k+' })], withBudgetRule(), t0);
    expect(score.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'lead_form_big_budget', pointsNow: 30, count: 1 })]));
    expect(score.reasons.map((reason) => reason.rule)).not.toContain('lead_form');
  });

  it('another answer, or none, scores as a lead form (10)', () => {
    for (const properties of [{ what_is_your_budget: 'under $5k' }, {}] as Record<string, string>[]) {
      const { score } = applyEvents(undefined, [googleForm('lee@northwind-analytics.com', properties)], withBudgetRule(), t0);
      expect(score.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'lead_form', pointsNow: 10 })]));
      expect(score.reasons.map((reason) => reason.rule)).not.toContain('lead_form_big_budget');
    }
  });
});
