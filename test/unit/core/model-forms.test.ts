import { describe, expect, it } from 'vitest';
import type { NormalizedEvent, ScoringModel } from '../../../lib/core/index.ts';
import { applyEvents, leadIdOf, modelVersion, scoredType, scoreLead } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import { defaultModel, parseModel, testEmailDomainLists } from '../../setup/model.ts';

const t0 = new Date('2026-03-02T10:00:00.000Z');
const demoFormId = '1192837465019283';

function formSubmitted(leadKey: string, formId: string, sourceEventId: string, profile: NormalizedEvent['profile'] = {}): NormalizedEvent {
  return { leadKey, type: 'form_submitted', occurredAt: t0.toISOString(), source: 'facebook', sourceEventId, properties: { formId, platform: 'fb' }, profile };
}

function withForms(forms: Record<string, { type: string; description?: string }>): ScoringModel {
  const content = modelContent(defaultModel);
  return parseModel({ ...structuredClone(content), forms });
}

describe('form mappings in the scoring model', () => {
  it('the default model has no form mappings, so the optional field leaves its version as it was', () => {
    expect(Object.hasOwn(defaultModel, 'forms')).toBe(false);
    const { version } = defaultModel;
    const content = modelContent(defaultModel);
    expect(modelVersion(content, testEmailDomainLists.version)).toBe(version);
  });

  it('a demo-request form counts as a demo request: 40 points and the fast track to MQL', () => {
    const model = withForms({ [demoFormId]: { type: 'demo_requested', description: 'Q2 demo request form' } });

    const { lead, score, handoffs } = applyEvents(undefined, [formSubmitted('dana@acme-logistics.com', demoFormId, 'lead-1')], model, t0);

    expect(score.reasons).toEqual([expect.objectContaining({ rule: 'demo_requested', kind: 'behavior', pointsNow: 40, count: 1 })]);
    expect(lead.status).toBe('mql');
    expect(handoffs.map((handoff) => handoff.type)).toEqual(['lead.mql']);
    // The event keeps its own type: what is stored is what Facebook said.
    expect(lead.recentEvents[0]).toMatchObject({ type: 'form_submitted', properties: { formId: demoFormId } });
  });

  it('another form of the same model still scores as a lead form (10 points)', () => {
    const model = withForms({ [demoFormId]: { type: 'demo_requested' } });

    const { lead, score } = applyEvents(undefined, [formSubmitted('lee@acme-logistics.com', '999', 'lead-2')], model, t0);

    expect(score.reasons).toEqual([expect.objectContaining({ rule: 'lead_form', pointsNow: 10 })]);
    expect(lead.status).toBe('engaged');
  });

  it('is applied when scoring: the same stored events rescored under the default model are a plain lead form again', () => {
    const events = [formSubmitted('sam@acme-logistics.com', demoFormId, 'lead-3')];
    const mapped = applyEvents(undefined, events, withForms({ [demoFormId]: { type: 'demo_requested' } }), t0);
    const plain = applyEvents(undefined, events, defaultModel, t0);

    expect(mapped.score.behavior).toBe(40);
    expect(plain.score.behavior).toBe(10);
    expect(scoreLead(plain.lead, defaultModel, t0).reasons.map((reason) => reason.rule)).toEqual(['lead_form']);
  });

  it('maps only form_submitted events, by their formId property, compared as text', () => {
    const model = withForms({ '42': { type: 'demo_requested' } });
    expect(scoredType({ type: 'form_submitted', properties: { formId: 42 } }, model)).toBe('demo_requested');
    expect(scoredType({ type: 'form_submitted', properties: { formId: '42' } }, model)).toBe('demo_requested');
    expect(scoredType({ type: 'page_viewed', properties: { formId: '42' } }, model)).toBe('page_viewed');
    expect(scoredType({ type: 'form_submitted', properties: {} }, model)).toBe('form_submitted');
    expect(scoredType({ type: 'form_submitted', properties: { formId: 'constructor' } }, model)).toBe('form_submitted');
    expect(scoredType({ type: 'form_submitted', properties: { formId: '42' } }, defaultModel)).toBe('form_submitted');
  });

  it('adding a mapping changes the model version', () => {
    expect(withForms({ [demoFormId]: { type: 'demo_requested' } }).version).not.toBe(defaultModel.version);
  });

  it('refuses a mapping that is not a snake_case event type, or has unknown keys', () => {
    expect(() => withForms({ [demoFormId]: { type: 'Demo Requested' } })).toThrow(/snake_case/);
    expect(() => withForms({ [demoFormId]: { type: 'demo_requested', points: 40 } as never })).toThrow(/invalid scoring model/);
  });
});

describe('leads known by a provider key', () => {
  it('a phone-only lead has no e-mail in its profile, so e-mail domain rules do not read its key as an address', () => {
    const content = modelContent(defaultModel);
    const model = parseModel({
      ...structuredClone(content),
      fit: { ...content.fit, rules: [...content.fit.rules, { id: 'work_email', description: 'Work e-mail', points: 5, when: { emailDomain: 'work' } }] },
    });
    const event = formSubmitted('phone:+14155550123', '1', 'lead-4', { phone: '+14155550123', firstName: 'Dana' });

    const { lead, score } = applyEvents(undefined, [event], model, t0);

    expect(lead.leadId).toBe('phone:+14155550123');
    expect(lead.profile).toEqual({ phone: '+14155550123', firstName: 'Dana' });
    expect(score.reasons.map((reason) => reason.rule)).toEqual(['lead_form']);
  });

  it('a lead id is a normalized e-mail or a provider key, never anything else', () => {
    expect(leadIdOf(' Dana@Example.com ')).toBe('dana@example.com');
    expect(leadIdOf('phone:+14155550123')).toBe('phone:+14155550123');
    expect(leadIdOf('facebook:1039488223947372')).toBe('facebook:1039488223947372');
    expect(leadIdOf('not-an-email')).toBeUndefined();
    expect(leadIdOf('phone:')).toBeUndefined();
    expect(leadIdOf('phone:+1 415')).toBeUndefined();
    expect(leadIdOf(42)).toBeUndefined();
  });
});
