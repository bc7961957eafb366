/**
 * Group calls carry the account (issue 13, part 5): a Segment `group` call, mapped by the one mapping every
 * Segment-shaped route shares (lib/sources/segment.ts), puts the account's industry, employees, plan and id on
 * the person's lead, and the model's fit rules read them like any profile field. Pure: no store, time given.
 */
import { describe, expect, it } from 'vitest';
import { boundEvent, eventBudget, namesTheModelReads } from '../../../lib/core/budget.ts';
import type { Lead, NormalizedEvent, ScoringModel } from '../../../lib/core/index.ts';
import { applyEvents, ModelError, scoreLead } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import { normalizeSegmentMessages } from '../../../lib/sources/segment.ts';
import { event } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

const email = 'dana.whitfield@acme-logistics.com';
const t0 = Date.parse('2026-03-02T10:00:00.000Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000);

let counter = 0;
/** A group call for the person, mapped as POST /webhooks/events maps it. */
function groupCall(traits: Record<string, unknown>, minutes: number, groupId = 'acct_42'): NormalizedEvent {
  counter += 1;
  const message = {
    type: 'group',
    messageId: `grp-${counter}`,
    userId: 'u_dana',
    groupId,
    traits,
    context: { traits: { email } },
    timestamp: at(minutes).toISOString(),
  };
  const { events, ignored } = normalizeSegmentMessages([message], false, { source: 'segment', dropInvalid: false });
  expect(ignored).toEqual([]);
  return events[0]!;
}

const replay = (events: NormalizedEvent[], model: ScoringModel = defaultModel): Lead =>
  applyEvents(undefined, events, model, new Date(Date.parse(events.at(-1)!.occurredAt) + 1000)).lead;
const fitRules = (lead: Lead, model: ScoringModel = defaultModel) =>
  scoreLead(lead, model, at(60))
    .reasons.filter((reason) => reason.kind === 'fit')
    .map((reason) => [reason.rule, reason.pointsNow]);

function withFitRules(rules: unknown[]): ScoringModel {
  const content = structuredClone(modelContent(defaultModel));
  return parseModel({ ...content, fit: { ...content.fit, rules: [...content.fit.rules, ...rules] } });
}

describe("a group call's traits in the default model's fit rules", () => {
  it("scores the group's industry (target_industry, 10) and employees (company_over_500, 15)", () => {
    const identified = event(email, 'profile_updated', at(0), { profile: { email, jobTitle: 'Operations analyst' } });
    const before = replay([identified]);
    expect(scoreLead(before, defaultModel, at(60)).fit).toBe(0);

    const lead = replay([identified, groupCall({ name: 'Acme Logistics', industry: 'Software', employees: 1200, plan: 'trial' }, 1)]);
    expect(lead.profile).toMatchObject({ groupId: 'acct_42', company: 'Acme Logistics', industry: 'Software', companySize: 1200, companyPlan: 'trial' });
    expect(fitRules(lead)).toEqual([
      ['company_over_500', 15],
      ['target_industry', 10],
    ]);
    expect(scoreLead(lead, defaultModel, at(60)).fit).toBe(25);
  });

  it("reads a band of employees as Segment's string trait gives it: every number in it must pass", () => {
    expect(fitRules(replay([groupCall({ industry: 'Logistics', employees: '1001-5000' }, 0)]))).toEqual([['company_over_500', 15]]);
    expect(fitRules(replay([groupCall({ industry: 'Logistics', employees: '201-1000' }, 0)]))).toEqual([]);
  });

  it('keeps the latest group call when the person moves to another account, and a late older one changes nothing', () => {
    const software = groupCall({ industry: 'Software', employees: 900 }, 0, 'acct_old');
    const retail = groupCall({ industry: 'Retail', employees: 40 }, 10, 'acct_new');
    for (const order of [
      [software, retail],
      [retail, software],
    ]) {
      const lead = replay(order);
      expect(lead.profile).toMatchObject({ groupId: 'acct_new', industry: 'Retail', companySize: 40 });
      expect(fitRules(lead)).toEqual([]);
    }
  });
});

describe('fit rules on the new profile fields', () => {
  const model = withFitRules([
    { id: 'paying_account', description: 'The account is on a paid plan', points: 10, when: { field: 'companyPlan', oneOf: ['pro', 'enterprise'] } },
    { id: 'named_account', description: 'A target account', points: 20, when: { field: 'groupId', oneOf: ['acct_42'] } },
    { id: 'has_website', description: 'The account has a website', points: 1, when: { field: 'companyWebsite', exists: true } },
  ]);

  it('reads groupId, companyPlan and companyWebsite', () => {
    const lead = replay([groupCall({ plan: 'Enterprise', website: 'https://acme-logistics.com' }, 0)], model);
    expect(fitRules(lead, model)).toEqual([
      ['named_account', 20],
      ['paying_account', 10],
      ['has_website', 1],
    ]);
    expect(fitRules(replay([groupCall({ plan: 'free' }, 0, 'acct_7')], model), model)).toEqual([]);
  });

  it('names the new fields when a rule names a field that does not exist', () => {
    const refused = () => withFitRules([{ id: 'plan', description: 'x', points: 1, when: { field: 'plan', equals: 'pro' } }]);
    expect(refused).toThrow(ModelError);
    expect(refused).toThrow(/"groupId", "companyWebsite", "companyPlan"/);
  });
});

describe("the byte budget keeps a group call's id", () => {
  it('keeps groupId on the profile and in the properties before anything the model does not read', () => {
    const reads = namesTheModelReads(defaultModel);
    expect(reads.fields.has('groupId')).toBe(true);
    expect(reads.properties.has('groupId')).toBe(true);
    const padding = Object.fromEntries(Array.from({ length: 40 }, (_, index) => [`trait_${index}`, 'x'.repeat(1500)]));
    const group = groupCall({ ...padding, industry: 'Software' }, 0);
    const bounded = boundEvent(group, reads);
    if (!('event' in bounded)) throw new Error('refused');
    expect(bounded.trimmed).toBeGreaterThan(0);
    expect(JSON.stringify(bounded.event.properties).length).toBeLessThanOrEqual(eventBudget.propertiesBytes);
    expect(bounded.event.properties.groupId).toBe('acct_42');
    expect(bounded.event.profile).toMatchObject({ groupId: 'acct_42', industry: 'Software' });
  });
});
