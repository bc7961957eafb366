/**
 * `mql demo --source linkedin` from a fresh clone: the .env.example settings, a local stack, and the demo's own
 * LinkedIn API stand-in. The story must pass LinkedIn's validation and end with the lead at GET /leads, its
 * profile mapped from the form's predefined fields and scored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoError } from '../../../lib/local/demo.ts';
import { runLinkedinDemo } from '../../../lib/local/demo-linkedin.ts';
import { freePort } from '../../../lib/local/dynamodb.ts';
import { exampleEnv, getLead, type LocalStack, startTestStack } from '../../setup/stack.ts';

describe('mql demo --source linkedin', () => {
  let stack: LocalStack;
  let env: Record<string, string>;

  beforeAll(async () => {
    env = { ...exampleEnv(), LINKEDIN_API_URL: `http://127.0.0.1:${await freePort()}/rest`, CRM_ADAPTER: 'none' };
    stack = await startTestStack({ env });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('plays the validation and a LinkedIn lead into a scored lead with its profile mapped', async () => {
    const lines: string[] = [];
    const result = await runLinkedinDemo({ baseUrl: stack.baseUrl, env, print: (line) => lines.push(line) });

    expect(result.lead.lead).toMatchObject({
      email: result.email,
      firstName: 'Jordan',
      lastName: 'Blake',
      jobTitle: 'Chief Operating Officer',
      company: 'Tailspin Systems',
      industry: 'Software Development',
      country: 'GB',
      custom: { seniority: 'CXO', 'When do you plan to buy?': 'This quarter' },
    });
    expect(result.lead.reasons.map((reason) => reason.rule)).toEqual(expect.arrayContaining(['c_level_or_vp', 'company_over_500', 'target_industry']));
    const { body } = await getLead(stack, result.email);
    expect(body.recentEvents).toEqual([expect.objectContaining({ type: 'form_submitted', source: 'linkedin' })]);
    expect(lines.join('\n')).toContain('POST /webhooks/linkedin -> 200');
    expect(lines.join('\n')).toMatch(/GET \/webhooks\/linkedin\?challengeCode=[0-9a-f-]+\n {3}-> 200 challengeResponse [0-9a-f]{64}/);
  });

  it('can run again on the same stack: a new lead each time', async () => {
    const first = await runLinkedinDemo({ baseUrl: stack.baseUrl, env, print: () => {} });
    const second = await runLinkedinDemo({ baseUrl: stack.baseUrl, env, print: () => {} });
    expect(second.email).not.toBe(first.email);
    expect(second.lead.eventCount).toBe(1);
  });

  it('says what is missing rather than failing obscurely', async () => {
    await expect(runLinkedinDemo({ baseUrl: stack.baseUrl, env: { ...env, LINKEDIN_CLIENT_SECRET: '' }, print: () => {} })).rejects.toThrow(DemoError);
    await expect(runLinkedinDemo({ baseUrl: stack.baseUrl, env: { ...env, LINKEDIN_CLIENT_SECRET: 'not-the-stack-secret' }, print: () => {} })).rejects.toThrow(
      /validation answer/,
    );
    await expect(runLinkedinDemo({ baseUrl: 'http://127.0.0.1:1', env, print: () => {} })).rejects.toThrow(/no local stack answers/);
  });
});
