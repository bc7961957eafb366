/**
 * The Facebook source as pure functions: the signature (the signed deliveries of test/fixtures/facebook/),
 * the subscription handshake, lossless ids, the dashboard test lead, Meta's shape, and the mapping of Graph
 * leads onto one form_submitted event. Vectors: test/fixtures/facebook/ (fake deliveries and Graph answers
 * shaped as Meta documents them); the numeric-id, escaped-unicode and dashboard-test deliveries are built
 * here, and say so.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { GraphLead } from '../../../lib/apis/facebook-graph.ts';
import { isGraphLead, parseMetaJson } from '../../../lib/apis/facebook-graph.ts';
import type { LeadgenNotification } from '../../../lib/sources/facebook.ts';
import {
  dashboardTestLeadgenId,
  facebookHandshake,
  facebookSignature,
  facebook as facebookWebhook,
  normalizePhone,
  parseLeadgenDelivery,
  verifyFacebookSignature,
} from '../../../lib/sources/facebook.ts';
import { facebookLeadKey, normalizeGraphLead, profileFromFieldData } from '../../../lib/sources/facebook-lead.ts';
import { maxFieldsPerEvent } from '../../../lib/sources/fields.ts';
import type { WebhookRequest } from '../../../lib/sources/source.ts';
import { refusal } from '../../setup/webhook-request.ts';

interface WebhookFixture {
  appSecret: string;
  verifyToken: string;
  verification_get: { query: Record<string, string>; expected_response: { status: number; headers: Record<string, string>; body: string } };
  deliveries: Record<string, { headers: Record<string, string>; rawBody: string; idempotencyKeys?: string[] }>;
}
const webhook = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_leadgen_webhook.json', import.meta.url), 'utf8')) as WebhookFixture;
const graph = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_graph_lead_responses.json', import.meta.url), 'utf8')) as Record<string, any>;
const { appSecret, verifyToken } = webhook;
const secrets = { FACEBOOK_APP_SECRET: appSecret, FACEBOOK_VERIFY_TOKEN: verifyToken };

function request(rawBody: string | Buffer, headers: Record<string, string> = {}, method = 'POST', query: Record<string, string> = {}): WebhookRequest {
  const lowerCased = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return {
    method,
    body: Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody, 'utf8'),
    header: (name) => lowerCased.get(name.toLowerCase()),
    query,
    pathParameters: {},
  };
}

/** A delivery signed the way Meta signs it: over the exact bytes. */
function signed(rawBody: string, headers: Record<string, string> = {}): WebhookRequest {
  return request(rawBody, { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${facebookSignature(appSecret, rawBody)}`, ...headers });
}

function leadgenBody(changes: object[], options: { object?: string; entryId?: string } = {}): string {
  return JSON.stringify({ object: options.object ?? 'page', entry: [{ id: options.entryId ?? '108273958312345', time: 1715678467, changes }] });
}

const leadgenChange = (leadgenId: string, extra: Record<string, unknown> = {}) => ({
  field: 'leadgen',
  value: {
    leadgen_id: leadgenId,
    form_id: '1192837465019283',
    page_id: '108273958312345',
    ad_id: '120208765432109876',
    adgroup_id: '120208765432109876',
    created_time: 1715678466,
    ...extra,
  },
});

describe('X-Hub-Signature-256', () => {
  it.each(['single_lead_string_ids', 'batched_two_leads'])('accepts the README signed delivery %s', (name) => {
    const delivery = webhook.deliveries[name]!;
    expect(() => verifyFacebookSignature(request(delivery.rawBody, delivery.headers), appSecret)).not.toThrow();
    expect(() => facebookWebhook.verify(request(delivery.rawBody, delivery.headers), secrets, new Date())).not.toThrow();
  });

  it('refuses the README bad-signature delivery with 401', () => {
    const delivery = webhook.deliveries.bad_signature!;
    expect(refusal(() => verifyFacebookSignature(request(delivery.rawBody, delivery.headers), appSecret)).status).toBe(401);
  });

  it('refuses a missing signature, the legacy sha1 header alone, and a malformed one, each with 401', () => {
    const { rawBody, headers } = webhook.deliveries.single_lead_string_ids!;
    expect(refusal(() => verifyFacebookSignature(request(rawBody, { 'content-type': 'application/json' }), appSecret)).detail).toMatch(/missing/);
    expect(refusal(() => verifyFacebookSignature(request(rawBody, { 'x-hub-signature': headers['X-Hub-Signature']! }), appSecret)).status).toBe(401);
    for (const value of ['sha1=d6a86a51703fe0eea6d4a9127855b0f0f69b3406', 'sha256=abc', `sha256=${'z'.repeat(64)}`, headers['X-Hub-Signature-256']!.slice(7)]) {
      expect(refusal(() => verifyFacebookSignature(request(rawBody, { 'x-hub-signature-256': value }), appSecret)).status).toBe(401);
    }
  });

  it('accepts the signature in upper-case hex too, and refuses it under another app secret', () => {
    const { rawBody, headers } = webhook.deliveries.single_lead_string_ids!;
    const upper = `sha256=${headers['X-Hub-Signature-256']!.slice(7).toUpperCase()}`;
    expect(() => verifyFacebookSignature(request(rawBody, { 'x-hub-signature-256': upper }), appSecret)).not.toThrow();
    expect(refusal(() => verifyFacebookSignature(request(rawBody, headers), 'another-app-secret')).status).toBe(401);
  });

  it('is computed over the raw bytes: escaped unicode as Meta sends it verifies, its re-serialized form does not (own vector)', () => {
    // Meta escapes non-ASCII (docs/providers/facebook.md): the body holds \u00e9 and \/ literally.
    const rawBody =
      '{"object":"page","entry":[{"id":"108273958312345","time":1715678467,"changes":[{"field":"leadgen","value":{"leadgen_id":"1039488223947380","form_id":"1192837465019283","created_time":1715678466,"page_id":"108273958312345","note":"Ren\\u00e9e \\/ M\\u00fcller"}}]}]}';
    const signature = `sha256=${facebookSignature(appSecret, rawBody)}`;
    expect(() => verifyFacebookSignature(request(rawBody, { 'x-hub-signature-256': signature }), appSecret)).not.toThrow();
    const reserialized = JSON.stringify(JSON.parse(rawBody));
    expect(reserialized).not.toBe(rawBody);
    expect(refusal(() => verifyFacebookSignature(request(reserialized, { 'x-hub-signature-256': signature }), appSecret)).status).toBe(401);
  });

  it('one changed byte fails the check', () => {
    const { rawBody, headers } = webhook.deliveries.single_lead_string_ids!;
    const tampered = rawBody.replace('1039488223947372', '1039488223947373');
    expect(refusal(() => verifyFacebookSignature(request(tampered, headers), appSecret)).status).toBe(401);
  });
});

describe('the subscription handshake (GET)', () => {
  it('echoes hub.challenge as text/plain for the README verification request', () => {
    const { query, expected_response: expected } = webhook.verification_get;
    const answer = facebookHandshake(request('', {}, 'GET', query), verifyToken);
    expect(answer).toEqual({ status: expected.status, contentType: expected.headers['Content-Type'], body: expected.body });
    expect(facebookWebhook.handshake!(request('', {}, 'GET', query), secrets)).toEqual(answer);
  });

  it.each([
    ['a wrong token', { 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': 'vt_wrong' }],
    ['a token that only starts right', { 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': `${verifyToken}x` }],
    ['no token', { 'hub.mode': 'subscribe', 'hub.challenge': '1158201444' }],
    ['another mode', { 'hub.mode': 'unsubscribe', 'hub.challenge': '1158201444', 'hub.verify_token': verifyToken }],
    ["PHP's underscored keys", { hub_mode: 'subscribe', hub_challenge: '1158201444', hub_verify_token: verifyToken }],
  ])('answers 403 to %s', (_name, query) => {
    expect(refusal(() => facebookHandshake(request('', {}, 'GET', query), verifyToken)).status).toBe(403);
  });

  it('never echoes markup: a challenge that is not a short token is a 400', () => {
    const query = { 'hub.mode': 'subscribe', 'hub.challenge': '<script>alert(1)</script>', 'hub.verify_token': verifyToken };
    expect(refusal(() => facebookHandshake(request('', {}, 'GET', query), verifyToken)).status).toBe(400);
    expect(refusal(() => facebookHandshake(request('', {}, 'GET', { ...query, 'hub.challenge': '' }), verifyToken)).status).toBe(400);
  });
});

describe('lossless ids', () => {
  it('keeps the exact digits of numeric ids beyond 2^53 (own vector: 2^53 + 1 and 18-digit ad ids)', () => {
    const beyond = (2n ** 53n + 1n).toString(); // 9007199254740993: a double would read 9007199254740992
    const text = `{"leadgen_id":${beyond},"ad_id":120208765432109876,"form_id":1192837465019283,"page_id":108273958312345,"id":0,"time":1715678467,"created_time":1715678466}`;
    // What plain JSON.parse would store:
    expect(String(JSON.parse(text).leadgen_id)).toBe('9007199254740992');
    expect(parseMetaJson(text)).toEqual({
      leadgen_id: beyond,
      ad_id: '120208765432109876',
      form_id: '1192837465019283',
      page_id: '108273958312345',
      id: '0',
      time: 1715678467,
      created_time: 1715678466,
    });
  });

  it('queues numeric-id deliveries with every digit (own vector: the README delivery with numbers)', () => {
    const rawBody =
      '{"entry":[{"id":108273958312345,"time":1715678467,"changes":[{"value":{"ad_id":120208765432109876,"form_id":1192837465019283,"leadgen_id":9007199254740993,"created_time":1715678466,"page_id":108273958312345,"adgroup_id":120208765432109876},"field":"leadgen"}]}],"object":"page"}';
    const { leads } = parseLeadgenDelivery(signed(rawBody));
    expect(leads).toEqual([
      {
        leadgenId: '9007199254740993',
        pageId: '108273958312345',
        formId: '1192837465019283',
        adId: '120208765432109876',
        createdTime: '2024-05-14T09:21:06.000Z',
      },
    ]);
  });

  it('refuses an id that is not a whole decimal number', () => {
    for (const id of ['1.5e17', '-12', '"abc"', '"12 34"', 'true', '{}']) {
      const rawBody = `{"object":"page","entry":[{"id":"1","time":1,"changes":[{"field":"leadgen","value":{"leadgen_id":${id},"created_time":1715678466}}]}]}`;
      expect(refusal(() => parseLeadgenDelivery(signed(rawBody))).detail).toContain('leadgen_id');
    }
  });
});

describe('leadgen deliveries', () => {
  it('the README single delivery: one lead, its ids and the submit time', () => {
    const delivery = webhook.deliveries.single_lead_string_ids!;
    const parsed = parseLeadgenDelivery(request(delivery.rawBody, delivery.headers));
    expect(parsed).toEqual({
      received: 1,
      ignored: [],
      leads: [
        {
          leadgenId: '1039488223947372',
          pageId: '108273958312345',
          formId: '1192837465019283',
          adId: '120208765432109876',
          createdTime: '2024-05-14T09:21:06.000Z',
        },
      ],
    });
  });

  it('the README batched delivery: both leads, in order', () => {
    const delivery = webhook.deliveries.batched_two_leads!;
    const parsed = parseLeadgenDelivery(request(delivery.rawBody, delivery.headers));
    expect(parsed.leads.map((lead) => lead.leadgenId)).toEqual(delivery.idempotencyKeys);
  });

  it('several entries and changes: every leadgen change, other fields ignored with a reason, a repeat queued once', () => {
    const rawBody = JSON.stringify({
      object: 'page',
      entry: [
        { id: '108273958312345', time: 1715678467, changes: [leadgenChange('1001'), { field: 'feed', value: { item: 'post' } }] },
        { id: '208273958312345', time: 1715678468, changes: [leadgenChange('1002', { page_id: '208273958312345' }), leadgenChange('1001')] },
        { id: '208273958312345', time: 1715678469, messaging: [{ message: { text: 'hi' } }] },
      ],
    });
    const parsed = parseLeadgenDelivery(signed(rawBody));
    expect(parsed.received).toBe(5);
    expect(parsed.leads.map((lead) => [lead.leadgenId, lead.pageId])).toEqual([
      ['1001', '108273958312345'],
      ['1002', '208273958312345'],
    ]);
    expect(parsed.ignored).toEqual([
      { reason: 'unsupported_field:feed' },
      { sourceEventId: '1001', reason: 'duplicate_in_delivery' },
      { reason: 'no_changes' },
    ]);
  });

  it('acknowledges and skips the dashboard test lead (own vector: string ids, entry id "0")', () => {
    const rawBody = leadgenBody(
      [leadgenChange(dashboardTestLeadgenId, { form_id: '444444444444', page_id: '444444444444', ad_id: '444444444444', adgroup_id: '444444444444' })],
      { entryId: '0' },
    );
    expect(parseLeadgenDelivery(signed(rawBody))).toEqual({ received: 1, leads: [], ignored: [{ sourceEventId: '444444444444', reason: 'test_lead' }] });
  });

  it('ignores other objects with a reason', () => {
    const rawBody = JSON.stringify({ object: 'user', entry: [{ id: '1', time: 1, changes: [{ field: 'email', value: {} }] }] });
    expect(parseLeadgenDelivery(signed(rawBody))).toEqual({ received: 1, leads: [], ignored: [{ reason: 'unsupported_object:user' }] });
  });

  it('an organic lead (ad id 0 or absent) has no ad id; the page falls back to the entry id', () => {
    const parsed = parseLeadgenDelivery(signed(leadgenBody([leadgenChange('1003', { ad_id: '0', adgroup_id: 0, page_id: undefined })])));
    expect(parsed.leads).toEqual([{ leadgenId: '1003', pageId: '108273958312345', formId: '1192837465019283', createdTime: '2024-05-14T09:21:06.000Z' }]);
  });

  it.each([
    ['malformed JSON', '{"object":"page","entry":[', 'not valid JSON'],
    ['an array', '[]', 'JSON object'],
    ['no object', '{"entry":[]}', 'object'],
    ['no entry', '{"object":"page"}', 'entry'],
    ['an empty entry list', '{"object":"page","entry":[]}', 'no entries'],
    ['changes not a list', '{"object":"page","entry":[{"id":"1","changes":{}}]}', 'changes'],
    ['a change without field', '{"object":"page","entry":[{"id":"1","changes":[{"value":{}}]}]}', 'field'],
    ['a leadgen change without leadgen_id', leadgenBody([{ field: 'leadgen', value: { form_id: '1' } }]), 'leadgen_id'],
    ['a leadgen change without value', leadgenBody([{ field: 'leadgen' }]), 'value'],
    ['a created_time that is not unix seconds', leadgenBody([leadgenChange('1004', { created_time: '2024-05-14' })]), 'created_time'],
  ])('refuses %s with 400, whole', (_name, rawBody, detail) => {
    const error = refusal(() => parseLeadgenDelivery(signed(rawBody)));
    expect(error.status).toBe(400);
    expect(error.detail).toContain(detail);
  });

  it('refuses a content type other than application/json with 400', () => {
    const { rawBody } = webhook.deliveries.single_lead_string_ids!;
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded']) {
      expect(refusal(() => parseLeadgenDelivery(signed(rawBody, { 'content-type': contentType }))).status).toBe(400);
    }
    expect(refusal(() => parseLeadgenDelivery(request(rawBody))).status).toBe(400);
    expect(() => parseLeadgenDelivery(signed(rawBody, { 'content-type': 'application/json; charset=utf-8' }))).not.toThrow();
  });

  it('refuses a body nested thousands deep with 400, not a crash', () => {
    const rawBody = `{"object":"page","entry":[{"id":"1","changes":[{"field":"leadgen","value":{"leadgen_id":"1","x":${'['.repeat(200_000)}${']'.repeat(200_000)}}}]}]}`;
    expect(refusal(() => parseLeadgenDelivery(signed(rawBody))).detail).toMatch(/too deeply/);
  });

  it('keeps __proto__ and constructor keys inert', () => {
    const rawBody =
      '{"object":"page","__proto__":{"polluted":1},"entry":[{"id":"1","constructor":{"x":1},"changes":[{"field":"leadgen","value":{"leadgen_id":"1005","__proto__":{"leadgen_id":"666"},"created_time":1715678466}}]}]}';
    const parsed = parseLeadgenDelivery(signed(rawBody));
    expect(parsed.leads.map((lead) => lead.leadgenId)).toEqual(['1005']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('Graph leads to one form_submitted event', () => {
  const notification = (leadgenId: string): LeadgenNotification => ({
    leadgenId,
    pageId: '108273958312345',
    formId: '1192837465019283',
    adId: '120208765432109876',
    createdTime: '2024-05-14T09:21:06.000Z',
  });

  it('maps the README lead: every field_data example, the consent checkboxes, the ad and campaign', () => {
    const lead = graph.success_200 as GraphLead;
    expect(isGraphLead(lead)).toBe(true);

    const event = normalizeGraphLead(lead, notification('1039488223947372'));

    expect(event).toEqual({
      leadKey: 'dana.whitfield@example.com',
      type: 'form_submitted',
      occurredAt: '2024-05-14T09:21:06.000Z',
      source: 'facebook',
      sourceEventId: '1039488223947372',
      properties: {
        formId: '1192837465019283',
        adId: '120208765432109876',
        adName: 'Q2 Whitepaper - Video A',
        adsetId: '120208765432100001',
        adsetName: 'US - IT Directors - LAL 1%',
        campaignId: '120208765432000002',
        campaignName: 'Q2 Whitepaper Lead Gen',
        platform: 'fb',
        isOrganic: false,
        pageId: '108273958312345',
      },
      profile: {
        email: 'dana.whitfield@example.com',
        firstName: 'Dana',
        lastName: 'Whitfield',
        phone: '+14155550123',
        company: 'Acme Logistics',
        jobTitle: 'Director of IT',
        country: 'US',
        companySize: '201-500',
        custom: {
          city: 'Austin',
          'what_is_your_purchase_timeline?': 'within_3_months',
          'disclaimer.marketing_consent': true,
          'disclaimer.optional_2': false,
          work_email: 'dana@acme-logistics.example.com',
        },
      },
      raw: lead,
    });
  });

  it('maps the README Instagram lead with first and last name', () => {
    const event = normalizeGraphLead(graph.success_200_instagram_first_last as GraphLead, notification('1039488223947377'));
    expect(event).toMatchObject({
      leadKey: 'luis.ortega@example.com',
      occurredAt: '2024-05-14T10:02:11.000Z',
      properties: { platform: 'ig', adId: '120208765432109999', isOrganic: false },
      profile: { email: 'luis.ortega@example.com', firstName: 'Luis', lastName: 'Ortega', phone: '+525512345678', jobTitle: 'Head of Procurement' },
    });
    expect(event?.profile?.custom).toBeUndefined();
  });

  it('maps the README default-fields answer, taking form and ad from the webhook', () => {
    const event = normalizeGraphLead(graph.success_200_default_fields_only as GraphLead, notification('1039488223947372'));
    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@example.com',
      properties: { formId: '1192837465019283', adId: '120208765432109876', pageId: '108273958312345' },
    });
  });

  it("the time is the lead's own created_time, the same on every fetch; the webhook's when Graph has none", () => {
    const lead = { id: '1', field_data: [{ name: 'email', values: ['a@example.com'] }] } as GraphLead;
    expect(normalizeGraphLead(lead, notification('1'))?.occurredAt).toBe('2024-05-14T09:21:06.000Z');
    expect(normalizeGraphLead({ ...lead, created_time: '2024-06-01T00:00:00+0000' }, notification('1'))?.occurredAt).toBe('2024-06-01T00:00:00.000Z');
    expect(normalizeGraphLead(lead, { leadgenId: '1' })).toBeUndefined();
  });

  it('matches question names without regard to case or punctuation; company size and industry where the form asks', () => {
    const profile = profileFromFieldData([
      { name: 'Email', values: [' Kim@Example.COM '] },
      { name: 'Company Size', values: ['1000+'] },
      { name: 'industry', values: ['Financial Services'] },
      { name: 'Job_Title', values: ['VP Sales'] },
      { name: 'which_products_interest_you?', values: ['Scoring', 'Decay'] },
    ]);
    expect(profile).toEqual({
      email: 'kim@example.com',
      jobTitle: 'VP Sales',
      companySize: '1000+',
      industry: 'Financial Services',
      custom: { 'which_products_interest_you?': 'Scoring, Decay' },
    });
    expect(profileFromFieldData([{ name: 'how_many_employees_does_your_company_have?', values: ['750'] }])).toEqual({ companySize: 750 });
  });

  it('takes the work e-mail when the form asks no other, and a single full name as the first name', () => {
    expect(
      profileFromFieldData([
        { name: 'work_email', values: ['Lee@Acme.com'] },
        { name: 'full_name', values: ['Cher'] },
      ]),
    ).toEqual({ email: 'lee@acme.com', firstName: 'Cher' });
  });

  it('keeps unknown questions under custom with their own keys, bounded, never a prototype key', () => {
    const many = Array.from({ length: maxFieldsPerEvent + 20 }, (_, index) => ({ name: `q_${index}`, values: ['x'] }));
    const profile = profileFromFieldData([{ name: '__proto__', values: ['x'] }, { name: 'constructor', values: ['y'] }, ...many]);
    expect(Object.keys(profile.custom ?? {})).toHaveLength(maxFieldsPerEvent);
    expect(Object.hasOwn(profile.custom ?? {}, '__proto__')).toBe(false);
    expect(Object.hasOwn(profile.custom ?? {}, 'constructor')).toBe(false);
  });

  it('a lead without an e-mail is kept under its phone number, or its leadgen id', () => {
    const phoneOnly = {
      id: '2001',
      created_time: '2024-05-14T09:21:06+0000',
      field_data: [
        { name: 'full_name', values: ['Ana Lima'] },
        { name: 'phone_number', values: ['+55 11 91234-5678'] },
      ],
    } as GraphLead;
    expect(normalizeGraphLead(phoneOnly, notification('2001'))).toMatchObject({
      leadKey: 'phone:+5511912345678',
      profile: { firstName: 'Ana', lastName: 'Lima', phone: '+55 11 91234-5678' },
    });
    const nameOnly = { ...phoneOnly, id: '2002', field_data: [{ name: 'full_name', values: ['Ana Lima'] }] };
    expect(normalizeGraphLead(nameOnly, notification('2002'))?.leadKey).toBe('facebook:2002');
    expect(facebookLeadKey({ email: 'a@example.com', phone: '+1 415 555 0123' }, '1')).toBe('a@example.com');
  });

  it('normalizes phone numbers to digits, keeping the international +', () => {
    expect(normalizePhone('+1 (415) 555-0123')).toBe('+14155550123');
    expect(normalizePhone('0044 20 7946 0958')).toBe('+442079460958');
    expect(normalizePhone('415.555.0123')).toBe('4155550123');
    expect(normalizePhone('12345')).toBeUndefined();
    expect(normalizePhone('call me')).toBeUndefined();
  });

  it('is not a lead without an id or field_data', () => {
    expect(isGraphLead({ id: '1' })).toBe(false);
    expect(isGraphLead({ field_data: [] })).toBe(false);
    expect(isGraphLead({ id: '1', field_data: [{ name: 'email' }] })).toBe(false);
    expect(isGraphLead(graph.errors[0].body)).toBe(false);
  });
});
