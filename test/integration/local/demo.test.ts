/**
 * `mql demo` from a fresh clone: the .env.example settings, a local stack, and the demo's own Graph
 * stand-in and CRM receiver. The story must end with the lead an MQL and the CRM holding lead.mql once,
 * decided at the website sign-up with the anonymous visits from before it in its reasons.
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

  it('plays a website visitor who signs up, a Facebook lead form and a SendGrid batch into one MQL the CRM receives, with its reasons', async () => {
    const lines: string[] = [];
    const result = await runDemo({ baseUrl: stack.baseUrl, env, print: (line) => lines.push(line) });
    const printed = lines.join('\n');

    expect(result.lead.status).toBe('mql');
    // One lead for the three senders: 4 visits, the sign-up, the Facebook form and the 7 e-mail events of the lead.
    expect(result.lead.eventCount).toBe(13);
    const rules = result.lead.reasons.map((reason) => reason.rule);
    expect(rules).toEqual(
      expect.arrayContaining([
        'pricing_page_viewed',
        'case_study_downloaded',
        'lead_form',
        'email_clicked',
        'email_opened',
        'c_level_or_vp',
        'company_over_500',
        'target_industry',
      ]),
    );
    // The fit came from the sign-up's traits and the Facebook form's answers.
    expect(result.lead.lead).toMatchObject({ firstName: 'Avery', lastName: 'Chen', company: 'Northwind Analytics', jobTitle: 'VP of Revenue Operations' });
    // The visitor's key answers with the person's lead.
    const byVisitor = (await (await fetch(`${stack.baseUrl}/leads/anon:${result.anonymousId}`)).json()) as { lead: { email: string } };
    expect(byVisitor.lead.email).toBe(result.email);

    // The MQL was decided at the sign-up, with the visits from before it in its reasons, marked anonymous.
    expect(result.record?.type).toBe('lead.mql');
    expect(result.record?.lead.email).toBe(result.email);
    expect(result.record?.score.total).toBeGreaterThanOrEqual(result.record!.score.threshold);
    const pricing = result.record?.reasons.find((reason) => reason.rule === 'pricing_page_viewed');
    expect(pricing?.events?.map((event) => event.anonymous)).toEqual([true, true]);
    expect(result.record?.reasons.find((reason) => reason.rule === 'case_study_downloaded')?.events?.[0]?.anonymous).toBe(true);
    expect(printed).toContain('POST /v1/i -> 200');
    expect(printed).toContain('an MQL at the sign-up');
    expect(printed).toContain('POST /webhooks/facebook -> 200');
    expect(printed).toContain('the same lead, 6 events');
    expect(printed).toContain('POST /webhooks/sendgrid -> 200');
    expect(printed).toContain('received lead.mql once');
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
    await expect(runDemo({ baseUrl: stack.baseUrl, env: { ...env, TRACKING_WRITE_KEY: '' }, print: () => {} })).rejects.toThrow(
      /TRACKING_WRITE_KEY is not set/,
    );
    await expect(
      runDemo({ baseUrl: stack.baseUrl, env: { ...env, SENDGRID_WEBHOOK_PUBLIC_KEY: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfake' }, print: () => {} }),
    ).rejects.toThrow();
    await expect(runDemo({ baseUrl: 'http://127.0.0.1:1', env, print: () => {} })).rejects.toThrow(/no local stack answers/);
  });
});
