import { describe, expect, it } from 'vitest';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import type { NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents, ModelError, parseBand, parseModelText, profileMatches, scoreLead, valueMatches } from '../../../lib/core/index.ts';

import { event } from '../../setup/events.ts';
import { defaultModel, parseModel, testEmailDomainLists } from '../../setup/model.ts';

// A model file as an operator edits it: any shape, checked only by parseModel.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const copy = (): any => structuredClone(defaultModelJson);
const problemsOf = (run: () => unknown): string[] => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ModelError);
    return [...(error as ModelError).problems];
  }
  throw new Error('expected a ModelError');
};

describe('a model file that cannot be used is refused with every problem, by path', () => {
  it('names the file, the field path and what was expected, for each problem at once', () => {
    const model = copy();
    model.behavior.rules[3].points = 'ten';
    model.behavior.rules[5].where = [{ property: 'url', containz: '/x' }];
    model.fit.rules[0].when = { field: 'jobtitle', matches: '(' };
    model.disqualify[0].typo = true;

    const problems = problemsOf(() => parseModel(model, 'my-model.json'));

    expect(problems).toContain('my-model.json: behavior.rules[3].points: expected a number, got "ten"');
    expect(problems).toContainEqual(expect.stringMatching(/^my-model\.json: behavior\.rules\[5\]\.where\[0\]\.containz: unknown key/));
    expect(problems).toContainEqual(expect.stringMatching(/^my-model\.json: fit\.rules\[0\]\.when\.field: expected one of .*"jobTitle".*, got "jobtitle"$/));
    expect(problems).toContain('my-model.json: fit.rules[0].when.matches: expected a valid regular expression, got "("');
    expect(problems).toContainEqual(expect.stringMatching(/^my-model\.json: disqualify\[0\]\.typo: unknown key/));
    expect(problems).toHaveLength(6);
  });

  it('says a required field is missing, and names cross-field problems once the shape is right', () => {
    const model = copy();
    delete model.thresholds.mql;
    expect(problemsOf(() => parseModel(model, 'm.json'))).toEqual(['m.json: thresholds.mql: missing: expected a number']);

    const crossed = copy();
    crossed.thresholds.recycleBelow = 70;
    crossed.fit.rules[1].group = 'nope';
    crossed.behavior.rules[1].id = crossed.behavior.rules[0].id;
    expect(problemsOf(() => parseModel(crossed, 'm.json'))).toEqual([
      'm.json: thresholds.recycleBelow: expected at most thresholds.mql (60), got 70',
      'm.json: (top level): rule id "demo_requested" is used twice (ids are unique across fit, behavior, disqualify and fastTrack)',
      'm.json: fit.rules[1].group: expected a group of fit.groups (seniority, student), got "nope"',
    ]);
  });

  it('a condition without an operator, or a disqualifier with both type and when, is named', () => {
    const model = copy();
    model.behavior.rules[0].where = [{ property: 'url' }];
    model.disqualify[2] = { id: 'competitor', description: 'x', type: 'email_bounced', when: { emailDomain: 'competitor' } };
    const problems = problemsOf(() => parseModel(model, 'm.json'));
    expect(problems).toEqual([
      expect.stringMatching(/^m\.json: behavior\.rules\[0\]\.where\[0\]: expected an operator on the property/),
      expect.stringMatching(/^m\.json: disqualify\[2\]: expected either "type" .* or "when" .*exactly one$/),
    ]);
  });

  it('a JSON syntax error is named with its line and column', () => {
    const problems = problemsOf(() => parseModelText('{\n  "name": "x",\n  "fit" {}\n}', testEmailDomainLists, 'my-model.json'));
    expect(problems).toEqual(["my-model.json: line 3 column 9: not valid JSON: Expected ':' after property name"]);
  });

  it('the error message is one block with every problem and carries no stack frames', () => {
    const model = copy();
    model.behavior.halfLifeDays = 0;
    try {
      parseModel(model, 'm.json');
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toBe('invalid scoring model m.json (1 problem):\n  m.json: behavior.halfLifeDays: expected a number > 0, got 0');
      expect((error as Error).stack).not.toMatch(/\n\s+at /);
    }
  });

  it("the default model parses to its version, a hash of its content and of the e-mail domain lists' versions", () => {
    // 504a1c85b2af with the hand list of personal domains; 8dc0eec471db once `facebook_lead_form` became `lead_form`;
    // a71b7b283010 with the maintained domain lists (docs/accounts.md); be5ac4fbb9e1 with its account section.
    expect(defaultModel.version).toBe('be5ac4fbb9e1');
  });
});

describe('the rule language: one set of operators for event properties and profile fields', () => {
  it('equals, notEquals, contains, notContains, matches, notMatches, oneOf, notOneOf compare text without case', () => {
    expect(valueMatches('Case_Study', { equals: 'case_study' })).toBe(true);
    expect(valueMatches('guide', { notEquals: 'case_study' })).toBe(true);
    expect(valueMatches('https://x.io/Pricing?a', { contains: '/pricing' })).toBe(true);
    expect(valueMatches('https://x.io/blog', { notContains: '/pricing' })).toBe(true);
    expect(valueMatches('https://x.io/pricing/enterprise', { matches: '^https://x\\.io/pricing(/|$)' })).toBe(true);
    expect(valueMatches('https://x.io/pricing-old', { matches: '^https://x\\.io/pricing(/|$)' })).toBe(false);
    expect(valueMatches('US', { oneOf: ['us', 'ca'] })).toBe(true);
    expect(valueMatches('DE', { notOneOf: ['us', 'ca'] })).toBe(true);
    expect(valueMatches('US', { notOneOf: ['us', 'ca'] })).toBe(false);
  });

  it('a missing value fails positive operators and satisfies negative ones (machineOpen "not true" holds when absent)', () => {
    expect(valueMatches(undefined, { notEquals: true })).toBe(true);
    expect(valueMatches(true, { notEquals: true })).toBe(false);
    expect(valueMatches('true', { notEquals: true })).toBe(false);
    expect(valueMatches(undefined, { equals: 'x' })).toBe(false);
    expect(valueMatches(null, { exists: true })).toBe(false);
    expect(valueMatches(null, { exists: false })).toBe(true);
    expect(valueMatches('', { atLeast: 0 })).toBe(false);
  });

  it('bands compare by every number in them: "501-1000" is atLeast 501 and atMost 1000, not atLeast 750; "1000+" is above 999', () => {
    expect(parseBand('501-1000')).toEqual({ low: 501, high: 1000 });
    expect(parseBand('10,001+')).toEqual({ low: 10001, high: Infinity });
    expect(parseBand('$50M-$100M')).toEqual({ low: 50e6, high: 100e6 });
    expect(parseBand('$50-100M')).toEqual({ low: 50e6, high: 100e6 });
    expect(parseBand('501 to 1,000 employees')).toEqual({ low: 501, high: 1000 });
    expect(parseBand('unknown')).toBeUndefined();
    expect(valueMatches('501-1000', { atLeast: 501 })).toBe(true);
    expect(valueMatches('501-1000', { atMost: 1000 })).toBe(true);
    expect(valueMatches('501-1000', { atLeast: 750 })).toBe(false);
    expect(valueMatches('201-500', { atLeast: 501 })).toBe(false);
    expect(valueMatches('1000+', { above: 999 })).toBe(true);
    expect(valueMatches('1000+', { below: 5000 })).toBe(false);
    expect(valueMatches('51-200', { atLeast: 51, below: 201 })).toBe(true);
    expect(valueMatches(750, { above: 500, atMost: 1000 })).toBe(true);
  });

  it('fit conditions read profile fields: industry and country lists, size bands, e-mail domain kinds', () => {
    const profile = { email: 'kim@uni.edu', industry: 'Financial Services', country: 'GB', companySize: '1001-5000', annualRevenue: '$1B+' };
    const domains = { ...defaultModel.domains, competitors: ['rival.io'] };
    expect(profileMatches(profile, { field: 'industry', oneOf: ['software', 'financial services'] }, domains)).toBe(true);
    expect(profileMatches(profile, { field: 'country', notOneOf: ['us', 'ca'] }, domains)).toBe(true);
    expect(profileMatches(profile, { field: 'companySize', atLeast: 1000 }, domains)).toBe(true);
    expect(profileMatches(profile, { field: 'annualRevenue', atLeast: 50_000_001 }, domains)).toBe(true);
    expect(profileMatches(profile, { emailDomain: 'education' }, domains)).toBe(true);
    expect(profileMatches({ email: 'a@rival.io' }, { emailDomain: 'competitor' }, domains)).toBe(true);
    expect(profileMatches({ email: 'a@gmail.com' }, { emailDomain: 'personal' }, domains)).toBe(true);
    expect(profileMatches({ email: 'a@acme.com' }, { emailDomain: 'work' }, domains)).toBe(true);
  });

  it('a model can score opens only when not machine opens, without changing the default model', () => {
    const content = copy();
    const opened = content.behavior.rules.find((rule: { id: string }) => rule.id === 'email_opened');
    opened.where = [{ property: 'machineOpen', notEquals: true }];
    const model = parseModel(content);
    const at = new Date('2026-03-02T10:00:00Z');
    const open = (properties: NormalizedEvent['properties']) => event('kim@acme.com', 'email_opened', at, { properties });
    const { lead } = applyEvents(undefined, [open({ machineOpen: true }), open({}), open({ machineOpen: false })], model, at);
    expect(lead.behavior.email_opened?.count).toBe(2);
    expect(applyEvents(undefined, [open({ machineOpen: true })], defaultModel, at).lead.behavior.email_opened?.count).toBe(1);
  });

  it('behavior groups bound the rules that name them, after each rule cap', () => {
    const content = copy();
    content.behavior.groups = { email: { max: 12 } };
    for (const rule of content.behavior.rules) if (['email_clicked', 'email_opened'].includes(rule.id)) rule.group = 'email';
    const model = parseModel(content);
    const at = new Date('2026-03-02T10:00:00Z');
    const events = Array.from({ length: 8 }, (_, index) => event('kim@acme.com', index % 2 ? 'email_opened' : 'email_clicked', at));
    const score = scoreLead(applyEvents(undefined, events, model, at).lead, model, at);
    // clicks 4 x 3 = 12, opens 4 x 1 = 4: the group keeps 12 of 16.
    expect(score.behavior).toBe(12);
    const opened = score.reasons.find((reason) => reason.rule === 'email_opened');
    expect(opened).toMatchObject({ pointsNow: 0, caps: [{ by: 'group', name: 'email', limit: 12, cut: 4 }] });
  });

  it('an unknown behavior group is refused', () => {
    const content = copy();
    content.behavior.rules[0].group = 'email';
    expect(problemsOf(() => parseModel(content, 'm.json'))).toEqual([
      'm.json: behavior.rules[0].group: expected a group of behavior.groups (none defined), got "email"',
    ]);
  });
});
