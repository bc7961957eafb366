/**
 * Google Ads lead forms on the embedded local stack (DynamoDB Local, fauxqs, the real handlers): a lead as
 * Google posts it (one per request, `google_key` in the body) stored, scored and shown at GET /leads; a
 * redelivery, sequential or concurrent, counted once; test data ("Send test data") visible under its own key
 * and never handed off, even across the threshold; bad input refused with nothing stored; the route 404 while
 * GOOGLE_ADS_WEBHOOK_KEY is unset.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatExplanation } from '../../../bin/commands/explain.ts';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { findLeadView } from '../../../lib/views/lead-view.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { countItems, crmSecret, post, postCounting } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { demoFormId, demoFormModel, leadStoreOf, leadView, restartedStack, startTestStack } from '../../setup/stack.ts';

/** The fixtures' fake, test-only key. */
const key = 'test-only-google-ads-webhook-key';
const fixture = (name: string) => readFileSync(new URL(`../../fixtures/google-ads/${name}`, import.meta.url), 'utf8');
const rawJson = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** The fixture with fields replaced; numbers re-emitted as their source text (bare int64 ids, as Google sends them). */
function lead(name: string, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const body = JSON.parse(fixture(name), (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && context?.source !== undefined ? rawJson(context.source) : value,
  ) as Record<string, unknown>;
  for (const [field, value] of Object.entries(changes)) {
    if (value === undefined) delete body[field];
    else body[field] = value;
  }
  return body;
}

/** A new real lead (its own lead_id and e-mail) with every column of the fixture. */
function realLead(changes: Record<string, unknown> = {}): { body: Record<string, unknown>; email: string; leadId: string } {
  const email = `dana.${randomUUID().slice(0, 8)}@northwind-analytics.com`;
  const leadId = `TeSter-${randomUUID()}`;
  const columns = (lead('lead-all-columns.json').user_column_data as { column_id: string }[]).map((column) =>
    column.column_id === 'EMAIL' ? { ...column, string_value: email } : column,
  );
  return { body: lead('lead-all-columns.json', { lead_id: leadId, user_column_data: columns, ...changes }), email, leadId };
}

/** A delivery as Google posts it: the JSON body, `Content-Type: application/json`. */
function delivery(body: unknown, options: { contentType?: string; text?: string } = {}) {
  return { body: options.text ?? JSON.stringify(body), headers: { 'content-type': options.contentType ?? 'application/json' } };
}

let stack: LocalStack;
let crm: CrmReceiver;
let model: ReturnType<typeof demoFormModel> | undefined;
const url = () => `${stack.baseUrl}/webhooks/google-ads`;

beforeAll(async () => {
  crm = await startCrmReceiver(crmSecret);
  // The default model with form demoFormId mapped to a demo request (fast track): a lead of that form is an MQL at once.
  model = demoFormModel();
  stack = await startTestStack({
    env: {
      GOOGLE_ADS_WEBHOOK_KEY: key,
      CRM_ADAPTER: 'webhook',
      CRM_WEBHOOK_URL: crm.url,
      CRM_WEBHOOK_SECRET: crmSecret,
      MQL_MODEL_PATH: model.path,
      LOG_LEVEL: 'SILENT',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
  model?.remove();
});

describe('a Google Ads lead', () => {
  afterEach(() => stack.drain());

  it('is stored and scored: GET /leads shows the profile from its columns and 10 points for the form', async () => {
    const { body, email, leadId } = realLead();
    const answer = await post(url(), delivery(body));
    expect(answer).toMatchObject({ status: 200, body: { received: 1, stored: 1, duplicates: 0, ignored: 0 } });

    const view = await leadView(stack, email);
    expect(view.lead).toMatchObject({
      email,
      firstName: 'Dana',
      lastName: 'Whitfield',
      phone: '+1 415 555 0123',
      company: 'Northwind Analytics',
      jobTitle: 'Chief Operating Officer',
      country: 'US',
      companySize: '1001-5000',
      industry: 'Software',
      custom: { city: 'San Francisco', postalCode: '94105', what_is_your_budget: '$50k+' },
    });
    expect(view.reasons).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'lead_form', kind: 'behavior', rawPoints: 10, count: 1, lastSeen: '2026-05-14T09:21:06.000Z' }),
        expect.objectContaining({ rule: 'c_level_or_vp', kind: 'fit' }),
        expect.objectContaining({ rule: 'company_over_500', kind: 'fit' }),
        expect.objectContaining({ rule: 'target_industry', kind: 'fit' }),
      ]),
    );
    expect(view.score).toMatchObject({ fit: 40, behavior: expect.any(Number) });
    // The event keeps Google's ids to the digit and the lead's id as its own.
    expect(view.recentEvents[0]).toMatchObject({
      type: 'form_submitted',
      source: 'google-ads',
      properties: { formId: '9223372036854775807', campaignId: '23456789012345678', assetGroupId: '6543210987654321099' },
    });
    const events = await leadStoreOf(stack).listEvents(email, { consistent: true });
    expect(events.map((event) => [event.source, event.sourceEventId])).toEqual([['google-ads', leadId]]);
  });

  it('redelivered, it is counted once', async () => {
    const { body, email } = realLead();
    expect(await postCounting(stack, url(), delivery(body))).toMatchObject({ status: 200, body: { stored: 1 } });
    await stack.drain();
    expect(await postCounting(stack, url(), delivery(body))).toMatchObject({ status: 200, added: 0, body: { stored: 0, duplicates: 1 } });
    expect((await leadView(stack, email)).eventCount).toBe(1);
  });

  it('redelivered five times at once, it is counted once', async () => {
    const { body, email } = realLead();
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(url(), delivery(body))));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers.reduce((sum, answer) => sum + answer.body.stored, 0)).toBe(1);
    expect(answers.reduce((sum, answer) => sum + answer.body.duplicates, 0)).toBe(4);
    const view = await leadView(stack, email);
    expect(view.eventCount).toBe(1);
    expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'lead_form', count: 1, rawPoints: 10 })]));
  });

  it('of the demo form is an MQL the CRM receives, with its reasons', async () => {
    // Submitted just now: the fast track takes demo requests of the last 30 days.
    const { body, email } = realLead({ form_id: rawJson(demoFormId), lead_submit_time: new Date().toISOString() });
    crm.reset();
    expect((await post(url(), delivery(body))).status).toBe(200);
    const [received] = await crm.waitFor(1);
    expect(received!.record).toMatchObject({ type: 'lead.mql', leadId: email, lead: { email, jobTitle: 'Chief Operating Officer' } });
  });
});

describe('test data ("Send test data")', () => {
  it('is acknowledged, visible at GET /leads/{its e-mail} and with mql explain as the test lead google-ads-test:<e-mail>, and never handed off', async () => {
    // Google's own sample with the form mapped to a demo request: it crosses the threshold at once.
    const testLeadId = `Cj0K-test-${randomUUID()}`;
    const sample = lead('test-data.json', { lead_id: testLeadId, form_id: rawJson(demoFormId) });
    crm.reset();
    const answer = await post(url(), delivery(sample));
    expect(answer).toMatchObject({ status: 200, body: { received: 1, stored: 1 } });

    // Google's sample carries test@example.com: the test lead is keyed by it, and GET /leads of the address shows it.
    const testKey = 'google-ads-test:test@example.com';
    const view = await leadView(stack, 'test@example.com');
    expect(view.leadId).toBe(testKey);
    // Fast-tracked by the demo form (its time is the receipt's: Google's sample has no lead_submit_time).
    expect(view.status).toBe('mql');
    expect(view.lead).toMatchObject({ firstName: 'FirstName', lastName: 'LastName', phone: '1-650-555-0123' });
    expect(view.recentEvents[0].properties).toMatchObject({ isTest: true, submitTimeFromReceipt: true });
    const explained = await findLeadView(leadStoreOf(stack), defaultModel, 'test@example.com', new Date());
    expect(formatExplanation(explained!)).toContain('test data');

    // A real lead of the same form after it: once the CRM has that one and every queue is empty, the
    // test lead has had every chance to be handed off.
    const real = realLead({ form_id: rawJson(demoFormId), lead_submit_time: new Date().toISOString() });
    expect((await post(url(), delivery(real.body))).status).toBe(200);
    await crm.waitFor(1);
    await stack.drain();
    expect(crm.received.map((one) => one.leadId)).toEqual([real.email]);
    expect((await leadView(stack, testKey)).handoffs).toEqual([]);
    // Nor is there a real lead of the sample's address: only the test lead holds it.
    expect(await leadStoreOf(stack).getLead('test@example.com')).toBeUndefined();
  });
});

describe('bad input stores nothing', () => {
  const huge = 'x'.repeat(1024 * 1024);
  const cases: [string, () => { body: string; headers: Record<string, string> }, number, string][] = [
    ['no google_key', () => delivery(realLead({ google_key: undefined }).body), 401, 'unauthorized'],
    ['another google_key', () => delivery(realLead({ google_key: 'another-key-of-another-form' }).body), 401, 'unauthorized'],
    ['an empty google_key', () => delivery(realLead({ google_key: '' }).body), 401, 'unauthorized'],
    ['google_key as a number', () => delivery(realLead({ google_key: 12345 }).body), 401, 'unauthorized'],
    ['the wrong content type', () => delivery(realLead().body, { contentType: 'application/x-www-form-urlencoded' }), 400, 'unsupported_media_type'],
    ['malformed JSON', () => delivery(undefined, { text: `{"google_key": "${key}", "lead_id": ` }), 400, 'bad_request'],
    [
      'a body nested 100,000 levels deep',
      () => delivery(undefined, { text: `{"google_key": "${key}", "x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}` }),
      400,
      'bad_request',
    ],
    ['a JSON array', () => delivery([realLead().body]), 400, 'bad_request'],
    ['no lead_id', () => delivery(realLead({ lead_id: undefined }).body), 400, 'bad_request'],
    ['no user_column_data', () => delivery(realLead({ user_column_data: undefined }).body), 400, 'bad_request'],
    ['a form_id that is not an id', () => delivery(realLead({ form_id: 'form-7' }).body), 400, 'bad_request'],
    ['a lead_submit_time that is not a time', () => delivery(realLead({ lead_submit_time: '14/05/2026' }).body), 400, 'bad_request'],
    ['a body over 1 MiB', () => delivery(realLead({ padding: huge }).body), 413, 'payload_too_large'],
  ];

  for (const [name, make, status, error] of cases) {
    it(`${name}: ${status}`, async () => {
      expect(await postCounting(stack, url(), make())).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
    });
  }
});

describe('valid but huge content within the limit', () => {
  afterEach(() => stack.drain());

  /** Items one ordinary lead leaves in the table (its lead, event, raw payload, ...). */
  async function itemsOfOneLead(): Promise<number> {
    const { added } = await postCounting(stack, url(), delivery(realLead().body));
    await stack.drain();
    return added;
  }

  it('10,000 columns: stored as one lead with its questions cut to the bound, as many items as any lead', async () => {
    const ordinary = await itemsOfOneLead();
    const { body, email } = realLead();
    const many = Array.from({ length: 10_000 }, (_, index) => ({ column_id: `question_${index}`, column_name: `Question ${index}`, string_value: 'yes' }));
    const columns = [...(body.user_column_data as unknown[]), ...many];
    const text = JSON.stringify({ ...body, user_column_data: columns });
    expect(text.length).toBeLessThan(1024 * 1024);
    const answer = await postCounting(stack, url(), delivery(undefined, { text }));
    expect(answer).toMatchObject({ status: 200, body: { received: 1, stored: 1 }, added: ordinary });
    const view = await leadView(stack, email);
    expect(view.eventCount).toBe(1);
    expect(Object.keys(view.recentEvents[0].properties).length).toBeLessThanOrEqual(100);
  });

  it('a 1 MB answer: stored as one lead, the answer cut, as many items as any lead', async () => {
    const ordinary = await itemsOfOneLead();
    const { body, email } = realLead();
    const columns = [...(body.user_column_data as unknown[]), { column_id: 'what_else', string_value: 'z'.repeat(1_000_000) }];
    const text = JSON.stringify({ ...body, user_column_data: columns });
    expect(text.length).toBeLessThan(1024 * 1024);
    const answer = await postCounting(stack, url(), delivery(undefined, { text }));
    expect(answer).toMatchObject({ status: 200, body: { received: 1, stored: 1 }, added: ordinary });
    expect(String((await leadView(stack, email)).lead.custom.what_else).length).toBeLessThanOrEqual(2000);
  });
});

describe('with GOOGLE_ADS_WEBHOOK_KEY unset', () => {
  const bare = restartedStack(() => stack, { env: { GOOGLE_ADS_WEBHOOK_KEY: undefined, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });

  it('the route answers 404 to a delivery with the right key and stores nothing', async () => {
    const before = await countItems(bare().dynamodb, bare().tableName);
    const answer = await post(`${bare().baseUrl}/webhooks/google-ads`, delivery(realLead().body));
    expect(answer).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await countItems(bare().dynamodb, bare().tableName)).toBe(before);
  });
});
