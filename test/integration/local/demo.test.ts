/**
 * `mql demo` from a fresh clone: the .env.example settings, a local stack, and the demo's own Graph
 * stand-in and CRM receiver. The story must end with the lead an MQL and the CRM holding lead.mql.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DemoError, runDemo } from '../../../lib/local/demo.ts';
import { runGoogleDemo } from '../../../lib/local/demo-google.ts';
import { freePort } from '../../../lib/local/dynamodb.ts';
import { exampleEnv, type LocalStack, startTestStack } from '../../setup/stack.ts';

describe('mql demo', () => {
  let stack: LocalStack;
  let env: Record<string, string>;

  beforeAll(async () => {
    env = {
      ...exampleEnv(),
      FACEBOOK_GRAPH_URL: `http://127.0.0.1:${await freePort()}/v26.0`,
      CRM_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/crm/leads`,
    };
    stack = await startTestStack({ env });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('plays a Facebook lead and a SendGrid batch into an MQL the CRM receives, with its reasons', async () => {
    const lines: string[] = [];
    const result = await runDemo({ baseUrl: stack.baseUrl, env, print: (line) => lines.push(line) });

    expect(result.lead.status).toBe('mql');
    expect(result.lead.score.total).toBeGreaterThanOrEqual(result.lead.score.threshold);
    const rules = result.lead.reasons.map((reason) => reason.rule);
    expect(rules).toEqual(expect.arrayContaining(['lead_form', 'email_clicked', 'email_opened', 'c_level_or_vp', 'company_over_500', 'target_industry']));
    // The fit came from the Facebook form's answers.
    expect(result.lead.lead).toMatchObject({ firstName: 'Avery', lastName: 'Chen', company: 'Northwind Analytics', jobTitle: 'VP of Revenue Operations' });

    expect(result.record?.type).toBe('lead.mql');
    expect(result.record?.lead.email).toBe(result.email);
    expect(result.record?.score.total).toBe(result.lead.score.total);
    expect(result.record?.reasons.map((reason) => reason.rule)).toEqual(expect.arrayContaining(['lead_form', 'email_clicked']));
    expect(lines.join('\n')).toContain('POST /webhooks/facebook -> 200');
    expect(lines.join('\n')).toContain('POST /webhooks/sendgrid -> 200');
    expect(lines.join('\n')).toContain('received lead.mql');
  });

  it('can run again on the same stack: a new lead each time', async () => {
    const first = await runDemo({ baseUrl: stack.baseUrl, env, print: () => {} });
    const second = await runDemo({ baseUrl: stack.baseUrl, env, print: () => {} });
    expect(second.email).not.toBe(first.email);
    expect(second.lead.status).toBe('mql');
  });

  it('--source google: a Google Ads lead scored from its columns, its redelivery counted once, the test data kept apart and not handed off', async () => {
    const lines: string[] = [];
    const result = await runGoogleDemo({ baseUrl: stack.baseUrl, env, print: (line) => lines.push(line) });

    expect(result.lead.lead).toMatchObject({ firstName: 'Jordan', lastName: 'Reyes', company: 'Contoso Logistics', jobTitle: 'Chief Revenue Officer' });
    expect(result.lead.reasons.map((reason) => reason.rule)).toEqual(
      expect.arrayContaining(['lead_form', 'c_level_or_vp', 'company_over_500', 'target_industry']),
    );
    expect(result.lead.score).toMatchObject({ fit: 40, behavior: 10 });
    expect(result.lead.eventCount).toBe(1);
    expect(result.redelivery).toEqual({ stored: 0, duplicates: 1 });
    expect(result.lead.recentEvents[0]?.properties).toMatchObject({ formId: '9007199254740993', what_is_your_budget: '$50k+' });
    expect(result.testLeadKey).toMatch(/^google-ads-test:/);
    expect(result.testLead.handoffs ?? []).toEqual([]);
    expect(lines.join('\n')).toContain('POST /webhooks/google-ads -> 200');
  });

  it('says what is missing rather than failing obscurely', async () => {
    await expect(runGoogleDemo({ baseUrl: stack.baseUrl, env: { ...env, GOOGLE_ADS_WEBHOOK_KEY: '' }, print: () => {} })).rejects.toThrow(DemoError);
    await expect(runDemo({ baseUrl: stack.baseUrl, env: { ...env, FACEBOOK_APP_SECRET: '' }, print: () => {} })).rejects.toThrow(DemoError);
    await expect(
      runDemo({ baseUrl: stack.baseUrl, env: { ...env, SENDGRID_WEBHOOK_PUBLIC_KEY: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfake' }, print: () => {} }),
    ).rejects.toThrow();
    await expect(runDemo({ baseUrl: 'http://127.0.0.1:1', env, print: () => {} })).rejects.toThrow(/no local stack answers/);
  });
});
