/**
 * Google Ads lead forms as pure functions (lib/sources/google-ads.ts): the key inside the body checked before
 * anything else is read, every predefined column on the profile, the advertiser's questions as properties,
 * int64 ids kept to the digit, test data kept apart from real leads.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyEvents } from '../../../lib/core/lead.ts';
import { googleAds } from '../../../lib/sources/google-ads.ts';
import { defaultModel } from '../../setup/model.ts';
import { refusal, webhookRequest } from '../../setup/webhook-request.ts';

const key = 'test-only-google-ads-webhook-key';
const secrets = { GOOGLE_ADS_WEBHOOK_KEY: key };
const now = new Date('2026-05-14T09:21:30Z');
const fixture = (name: string) => readFileSync(new URL(`../../fixtures/google-ads/${name}`, import.meta.url), 'utf8');
const allColumns = fixture('lead-all-columns.json');
const testData = fixture('test-data.json');

/** The delivery with some top-level fields replaced (JSON text edited, so bare big numbers stay as sent). */
function edited(text: string, changes: Record<string, unknown>): string {
  // Numbers re-emitted as their source text (JSON.rawJSON), as Google sent them.
  const rawJson = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;
  const body = JSON.parse(text, (_key, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && context?.source !== undefined ? rawJson(context.source) : value,
  ) as Record<string, unknown>;
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete body[name];
    else body[name] = value;
  }
  return JSON.stringify(body);
}

function normalized(body: string) {
  const request = webhookRequest(body);
  googleAds.verify(request, secrets, now);
  return googleAds.normalize(request, now);
}

function onlyEvent(body: string) {
  const { events, ignored } = normalized(body);
  expect(ignored).toEqual([]);
  expect(events).toHaveLength(1);
  return events[0]!;
}

describe('the key inside the body', () => {
  it('accepts the key the lead form was given', () => {
    expect(() => googleAds.verify(webhookRequest(allColumns), secrets, now)).not.toThrow();
  });

  it('refuses another key, a key of another length, an empty one and none, with 401', () => {
    for (const google_key of ['test-only-google-ads-webhook-kez', 'short', '', undefined, 12345]) {
      const error = refusal(() => googleAds.verify(webhookRequest(edited(allColumns, { google_key })), secrets, now));
      expect(error.status).toBe(401);
    }
  });

  it('refuses what is not JSON before it reads a key: wrong content type, malformed, nested 100,000 deep, not an object', () => {
    expect(refusal(() => googleAds.verify(webhookRequest(allColumns, { 'content-type': 'text/plain' }), secrets, now)).code).toBe('unsupported_media_type');
    expect(refusal(() => googleAds.verify(webhookRequest('{"google_key": "x",'), secrets, now)).status).toBe(400);
    expect(refusal(() => googleAds.verify(webhookRequest(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), secrets, now)).status).toBe(400);
    expect(refusal(() => googleAds.verify(webhookRequest(`{"google_key": "${key}", "x": ${'['.repeat(70)}${']'.repeat(70)}}`), secrets, now)).status).toBe(400);
    expect(refusal(() => googleAds.verify(webhookRequest(`["${key}"]`), secrets, now)).status).toBe(400);
  });

  it('answers 404 when no key is configured, whatever the body says', () => {
    expect(refusal(() => googleAds.verify(webhookRequest(allColumns), {}, now)).status).toBe(404);
  });
});

describe('a lead with every predefined column', () => {
  it('is one form_submitted event keyed by its e-mail, its id the lead_id, its time lead_submit_time', () => {
    const event = onlyEvent(allColumns);
    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@northwind-analytics.com',
      type: 'form_submitted',
      occurredAt: '2026-05-14T09:21:06.000Z',
      source: 'google-ads',
      sourceEventId: 'TeSter-lead-0001-AbCdEfGhIjKlMnOpQrStUvWxYz-0123456789',
    });
  });

  it('maps the columns onto the profile fit rules read, and the address columns under custom', () => {
    expect(onlyEvent(allColumns).profile).toEqual({
      email: 'dana.whitfield@northwind-analytics.com',
      firstName: 'Dana',
      lastName: 'Whitfield',
      phone: '+1 415 555 0123',
      company: 'Northwind Analytics',
      jobTitle: 'Chief Operating Officer',
      country: 'US',
      companySize: '1001-5000',
      industry: 'Software',
      custom: {
        city: 'San Francisco',
        postalCode: '94105',
        region: 'CA',
        streetAddress: '1 Market St',
        work_phone: '+1 415 555 0199',
        what_is_your_budget: '$50k+',
        when_do_you_plan_to_buy: 'This quarter',
        workEmail: 'dana@northwind.example',
      },
    });
  });

  it('keeps int64 ids beyond 2^53 to the last digit, sent as bare JSON numbers', () => {
    expect(onlyEvent(allColumns).properties).toMatchObject({
      formId: '9223372036854775807',
      campaignId: '23456789012345678',
      adgroupId: '160000000000000001',
      creativeId: '700000000000000003',
      assetGroupId: '6543210987654321099',
      gclId: 'EAIaIQobChMI-test-gclid',
      leadStage: 'NEW',
    });
  });

  it("makes the advertiser's own questions properties a behavior rule can match", () => {
    expect(onlyEvent(allColumns).properties).toMatchObject({ what_is_your_budget: '$50k+', when_do_you_plan_to_buy: 'This quarter' });
  });

  it('keeps the key out of the raw payload stored for audit', () => {
    const raw = onlyEvent(allColumns).raw as Record<string, unknown>;
    expect(raw).not.toHaveProperty('google_key');
    expect(raw.lead_id).toBe('TeSter-lead-0001-AbCdEfGhIjKlMnOpQrStUvWxYz-0123456789');
  });

  it('maps the same delivery to the same event every time', () => {
    const later = new Date(now.getTime() + 3_600_000);
    const request = webhookRequest(allColumns);
    expect(googleAds.normalize(request, later).events[0]).toEqual(onlyEvent(allColumns));
  });

  it('scores like a Facebook form under the default model: fit from the columns, 10 for the form', () => {
    const { score } = applyEvents(undefined, [onlyEvent(allColumns)], defaultModel, now);
    expect(score.reasons.map((reason) => reason.rule)).toEqual(expect.arrayContaining(['lead_form', 'c_level_or_vp', 'company_over_500', 'target_industry']));
    expect(score.reasons.find((reason) => reason.rule === 'lead_form')?.pointsNow).toBe(10);
  });
});

describe('leads without an e-mail, and thin ones', () => {
  it('keys a phone-only lead by its phone, and one with neither by google-ads:<lead_id>', () => {
    const columns = (data: unknown[]) => edited(allColumns, { user_column_data: data });
    expect(onlyEvent(columns([{ column_id: 'PHONE_NUMBER', string_value: '+1 415 555 0123' }])).leadKey).toBe('phone:+14155550123');
    const nameOnly = onlyEvent(columns([{ column_id: 'FULL_NAME', string_value: 'Sam' }]));
    expect(nameOnly.leadKey).toBe('google-ads:TeSter-lead-0001-AbCdEfGhIjKlMnOpQrStUvWxYz-0123456789');
    expect(nameOnly.profile).toEqual({ firstName: 'Sam' });
  });

  it('takes the work e-mail when there is no other', () => {
    const body = edited(allColumns, { user_column_data: [{ column_id: 'WORK_EMAIL', string_value: 'Lee@Acme.example' }] });
    expect(onlyEvent(body).leadKey).toBe('lee@acme.example');
  });

  it('reads a column by its name when it has no id, and skips a column without a string value', () => {
    const body = edited(allColumns, {
      user_column_data: [
        { column_name: 'Email', string_value: 'kim@acme.example' },
        { column_id: 'JOB_TITLE', string_value: '' },
        { column_id: 'COMPANY_NAME', bool_value: true },
      ],
    });
    expect(onlyEvent(body).profile).toEqual({ email: 'kim@acme.example' });
  });

  it('keeps at most 90 questions of a lead with 10,000 columns, the lead itself whole', () => {
    const many = Array.from({ length: 10_000 }, (_, index) => ({ column_id: `question_${index}`, string_value: 'x' }));
    const event = onlyEvent(edited(allColumns, { user_column_data: [{ column_id: 'EMAIL', string_value: 'big@acme.example' }, ...many] }));
    expect(event.leadKey).toBe('big@acme.example');
    expect(Object.keys(event.properties).filter((name) => name.startsWith('question_'))).toHaveLength(90);
    expect(event.properties.formId).toBe('9223372036854775807');
  });

  it('cuts a 1 MB answer to the stored length rather than refusing the lead', () => {
    const event = onlyEvent(
      edited(allColumns, {
        user_column_data: [
          { column_id: 'EMAIL', string_value: 'long@acme.example' },
          { column_id: 'what_is_your_budget', string_value: 'y'.repeat(1_000_000) },
        ],
      }),
    );
    expect(String(event.properties.what_is_your_budget).length).toBe(2000);
  });

  it('stores a lead without lead_submit_time at its receipt time, and says so', () => {
    const event = onlyEvent(edited(allColumns, { lead_submit_time: undefined }));
    expect(event.occurredAt).toBe(now.toISOString());
    expect(event.properties.submitTimeFromReceipt).toBe(true);
  });
});

describe("what is not Google's shape is refused with 400", () => {
  const cases: [string, Record<string, unknown>][] = [
    ['no lead_id', { lead_id: undefined }],
    ['an empty lead_id', { lead_id: '  ' }],
    ['a lead_id that is not a string', { lead_id: { id: 1 } }],
    ['a lead_id longer than 200 characters', { lead_id: 'x'.repeat(201) }],
    ['no user_column_data', { user_column_data: undefined }],
    ['user_column_data that is not an array', { user_column_data: { column_id: 'EMAIL' } }],
    ['a column that is not an object', { user_column_data: ['EMAIL'] }],
    ['a form_id that is not an integer', { form_id: 'form-7' }],
    ['a campaign_id with a fraction', { campaign_id: 1.5 }],
    ['a lead_submit_time that is not a time', { lead_submit_time: 'yesterday' }],
  ];
  for (const [what, changes] of cases) {
    it(what, () => {
      const request = webhookRequest(edited(allColumns, changes));
      googleAds.verify(request, secrets, now);
      expect(refusal(() => googleAds.normalize(request, now)).status).toBe(400);
    });
  }
});

describe('test data ("Send test data")', () => {
  it('is kept apart from the real lead of its address: google-ads-test:<e-mail> (else <lead_id>), marked isTest', () => {
    const event = onlyEvent(testData);
    expect(event.leadKey).toBe('google-ads-test:test@example.com');
    const withoutEmail = onlyEvent(
      edited(testData, { user_column_data: [{ column_name: 'Full Name', string_value: 'FirstName LastName', column_id: 'FULL_NAME' }] }),
    );
    expect(withoutEmail.leadKey).toBe('google-ads-test:Cj0KCQjwit_8BRCoARIsAIx3Rj7g-AeL6z35IWb6VYiZUygtTfwD3hDlgSGmY-XTTlK3lfV1wcuIwIAaAmMxEALw_wcB');
    expect(event.profile).toMatchObject({ email: 'test@example.com', firstName: 'FirstName', lastName: 'LastName', phone: '1-650-555-0123' });
    expect(event.properties).toMatchObject({ isTest: true, formId: '123456789', campaignId: '123456', submitTimeFromReceipt: true });
    // Ad group and creative 0: none.
    expect(event.properties).not.toHaveProperty('adgroupId');
    expect(event.properties).not.toHaveProperty('creativeId');
  });
});
