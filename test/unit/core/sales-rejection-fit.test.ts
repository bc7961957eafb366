/**
 * Rejection reasons feed fit rules: a fit condition on `salesRejection` reads the reason sales gave when
 * it last rejected the lead, so the model can keep an existing customer from coming back as an MQL.
 */
import { describe, expect, it } from 'vitest';
import type { Lead, NormalizedEvent, ScoringModel } from '../../../lib/core/index.ts';
import { applyEvents, fitSubject, ModelError, modelVersion, scoreLead } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import { event } from '../../setup/events.ts';
import { defaultModel, parseModel, testEmailDomainLists } from '../../setup/model.ts';

const email = 'dana.whitfield@acme-logistics.com';
const t0 = Date.parse('2026-03-02T10:00:00.000Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000);

/** A VP at a 1,000-person company who asks for a demo: fit 30, behavior 40, an MQL at once. */
const qualifyingEvents = () => [
  event(email, 'identify', at(0), { profile: { email, jobTitle: 'VP of Operations', companySize: '1001-5000', company: 'Acme Logistics' } }),
  event(email, 'demo_requested', at(1)),
];
/** The rejected lead engages again: a webinar and a trial, enough for an MQL. */
const engagesAgain = () => [event(email, 'webinar_attended', at(20)), event(email, 'trial_started', at(21))];
const rejected = (reason: string | undefined, minutes = 10) =>
  event(email, 'mql_rejected', at(minutes), { properties: reason === undefined ? {} : { reason }, source: 'crm' });

function withRules(extra: { fit?: unknown[]; disqualify?: unknown[] }): ScoringModel {
  const content = structuredClone(modelContent(defaultModel));
  return parseModel({
    ...content,
    fit: { ...content.fit, rules: [...content.fit.rules, ...(extra.fit ?? [])] },
    disqualify: [...content.disqualify, ...(extra.disqualify ?? [])],
  });
}

const existingCustomerRule = {
  id: 'rejected_existing_customer',
  description: 'Sales rejected it: already a customer',
  points: -100,
  when: { field: 'salesRejection', oneOf: ['existing_customer'] },
};
const model = withRules({ fit: [existingCustomerRule] });

/** Applies events one call at a time, as deliveries arrive, each at its own time. */
function replayed(steps: NormalizedEvent[][], scoring: ScoringModel): Lead {
  let lead: Lead | undefined;
  for (const events of steps) lead = applyEvents(lead, events, scoring, new Date(Date.parse(events.at(-1)!.occurredAt) + 1000)).lead;
  return lead!;
}

describe('a fit rule on the latest sales rejection reason', () => {
  it('an MQL rejected as an existing customer who engages again does not re-qualify, and the rule is the reason', () => {
    const lead = replayed([qualifyingEvents(), [rejected('existing_customer')], engagesAgain()], model);

    expect(lead.status).toBe('recycled');
    const score = scoreLead(lead, model, at(22));
    expect(score.reasons).toContainEqual(expect.objectContaining({ rule: 'rejected_existing_customer', kind: 'fit', points: -100 }));
    expect(score.fit).toBe(30 - 100);
  });

  it('the same engagement after a rejection for wrong timing re-qualifies the lead: the rule reads the reason, not the rejection', () => {
    const lead = replayed([qualifyingEvents(), [rejected('wrong_timing')], engagesAgain()], model);

    expect(lead.status).toBe('mql');
    expect(scoreLead(lead, model, at(22)).reasons.map((reason) => reason.rule)).not.toContain('rejected_existing_customer');
  });

  it('the default model (no such rule) re-qualifies the existing customer on the same events', () => {
    const lead = replayed([qualifyingEvents(), [rejected('existing_customer')], engagesAgain()], defaultModel);

    expect(lead.status).toBe('mql');
  });

  it('a later outcome (sales accepted the lead after all) replaces the rejection: the rule stops firing', () => {
    const lead = replayed([qualifyingEvents(), [rejected('existing_customer')], [event(email, 'sql', at(30), { source: 'crm' })]], model);

    expect(lead.status).toBe('sql');
    expect(fitSubject(lead)).not.toHaveProperty('salesRejection');
    expect(scoreLead(lead, model, at(31)).fit).toBe(30);
  });

  it('a rejection without a reason reads as "other", so { exists: true } means "sales rejected it"', () => {
    const anyRejection = withRules({
      fit: [{ id: 'rejected_once', description: 'Sales rejected it', points: -5, when: { field: 'salesRejection', exists: true } }],
    });
    const lead = replayed([qualifyingEvents(), [rejected(undefined)]], anyRejection);

    expect(fitSubject(lead)).toMatchObject({ salesRejection: 'other' });
    expect(scoreLead(lead, anyRejection, at(11)).reasons).toContainEqual(expect.objectContaining({ rule: 'rejected_once', points: -5 }));
  });

  it('a profile disqualifier can read it too: a lead rejected for bad data is disqualified', () => {
    const disqualifying = withRules({
      disqualify: [{ id: 'bad_data', description: 'Sales says the data is fake', when: { field: 'salesRejection', equals: 'bad_data' } }],
    });
    const lead = replayed([qualifyingEvents(), [rejected('bad_data')]], disqualifying);

    expect(lead.status).toBe('disqualified');
    expect(lead.disqualifiedBy).toMatchObject({ rule: 'bad_data' });
  });

  it('the lead keeps the outcome it read: type, time, reason and source', () => {
    const lead = replayed([qualifyingEvents(), [rejected('existing_customer')]], model);

    expect(lead.outcome).toEqual({ type: 'mql_rejected', at: at(10).toISOString(), reason: 'existing_customer', source: 'crm' });
  });

  it('a won outcome keeps its amount and currency on the lead', () => {
    const lead = replayed([qualifyingEvents(), [event(email, 'won', at(40), { properties: { amount: 24000, currency: 'USD' }, source: 'crm' })]], model);

    expect(lead.outcome).toEqual({ type: 'won', at: at(40).toISOString(), amount: 24000, currency: 'USD', source: 'crm' });
  });
});

describe('the model language for it', () => {
  it('the default model is unchanged by the new field: its version is its content and lists', () => {
    const { version } = defaultModel;
    const content = modelContent(defaultModel);
    // 504a1c85b2af until `facebook_lead_form` became `lead_form` (8dc0eec471db), then the maintained domain lists
    // (a71b7b283010), then the account section (be5ac4fbb9e1); the new field changed nothing.
    expect(version).toBe('be5ac4fbb9e1');
    expect(modelVersion(content, testEmailDomainLists.version)).toBe(version);
  });

  it('a misspelt field is refused with the list of what a fit condition can read, salesRejection included', () => {
    const bad = { ...existingCustomerRule, when: { field: 'salesRejected', oneOf: ['existing_customer'] } };
    let error: unknown;
    try {
      withRules({ fit: [bad] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ModelError);
    expect((error as Error).message).toContain('salesRejection');
  });

  it('a salesRejection condition without an operator is refused', () => {
    expect(() => withRules({ fit: [{ ...existingCustomerRule, when: { field: 'salesRejection' } }] })).toThrow(ModelError);
  });
});
