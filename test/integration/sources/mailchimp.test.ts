/**
 * Mailchimp audience webhooks on the embedded local stack: the URL validation GET, every example
 * delivery of test/fixtures/mailchimp/ stored and scored, redelivery
 * counted once, and bad input refused without storing anything.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countItems, post } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, startTestStack } from '../../setup/stack.ts';

const fixtures = JSON.parse(readFileSync(new URL('../../fixtures/mailchimp/mailchimp_webhooks.json', import.meta.url), 'utf8'));
/** The fake secret of the fixture file. */
const secret = new URL(fixtures.url_validation_get.url, 'https://x.example').searchParams.get('secret')!;
const form = 'application/x-www-form-urlencoded';
const route = 'POST /webhooks/mailchimp/{secret}';

const rawBody = (type: string) => readFileSync(new URL(`../../fixtures/mailchimp/mailchimp_${type}.txt`, import.meta.url), 'utf8');
const decoded = (type: string): Record<string, string> => fixtures.deliveries[type].decoded;
const encode = (pairs: Record<string, string>) => new URLSearchParams(pairs).toString();

let stack: LocalStack;

/** The webhook URL as an operator pastes it into Mailchimp: the secret is the last path segment. */
const hookUrl = (pathSecret = encodeURIComponent(secret), on = stack) => on.urls[route]!.replace('{secret}', pathSecret);
const deliver = (body: string | Buffer, options: { contentType?: string; pathSecret?: string } = {}) =>
  post(hookUrl(options.pathSecret), { body, headers: { 'content-type': options.contentType ?? form } });

const items = () => countItems(stack.dynamodb, stack.tableName);
const someone = () => `mc.${randomUUID().slice(0, 8)}@acme-logistics.com`;
const profileOf = (email: string, extra: Record<string, string> = {}) =>
  encode({ type: 'profile', fired_at: '2024-05-20 10:00:00', 'data[list_id]': 'a6b5da1054', 'data[email]': email, ...extra });

beforeAll(async () => {
  stack = await startTestStack({ env: { MAILCHIMP_WEBHOOK_SECRET: secret, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('Mailchimp webhook: URL validation', () => {
  it('answers the GET Mailchimp sends when the webhook is saved with 200 text/plain', async () => {
    const response = await fetch(hookUrl());
    expect(response.status).toBe(fixtures.url_validation_get.expected_response.status);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  });

  it('refuses the GET with a wrong secret with 401', async () => {
    const response = await fetch(hookUrl('mc_not-the-secret'));
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'unauthorized', detail: expect.any(String) });
  });
});

describe('Mailchimp webhook: the example deliveries', () => {
  const dana = 'dana.whitfield@example.com';

  it.each([
    ['subscribe', { stored: 1, ignored: 0 }],
    ['profile', { stored: 1, ignored: 0 }],
    ['upemail', { stored: 1, ignored: 0 }],
    ['cleaned', { stored: 1, ignored: 0 }],
    ['unsubscribe', { stored: 1, ignored: 0 }],
    ['campaign', { stored: 0, ignored: 1 }],
  ])('accepts the %s example with 200', async (type, counts) => {
    const answer = await deliver(rawBody(type));
    expect(answer).toMatchObject({ status: 200, body: { received: 1, duplicates: 0, ...counts } });
    if (type === 'campaign') expect(answer.body.ignoredReasons).toEqual({ 'no_person:campaign': 1 });
  });

  it('keeps the subscriber as one lead with the profile from the merge fields, scored down for the unsubscribe', async () => {
    await stack.drain();
    const view = await leadView(stack, dana);
    expect(view).toMatchObject({
      lead: { email: dana, firstName: 'Dana', lastName: 'Whitfield', company: 'Acme Logistics Inc.', phone: '+1 415 555 0123' },
      eventCount: 3,
      score: { behavior: -10 },
      firstSeenAt: '2024-05-14T09:21:07.000Z',
      lastEventAt: '2024-05-16T14:02:33.000Z',
    });
    expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'email_unsubscribed', pointsNow: -10 })]));
    expect(view.recentEvents.map((event: any) => event.type).sort()).toEqual(['email_unsubscribed', 'profile_updated', 'profile_updated']);
  });

  it('records the address change on the new address, with the old one kept', async () => {
    const view = await leadView(stack, 'dana@acme-logistics.example.com');
    expect(view).toMatchObject({ eventCount: 1, status: 'new' });
    expect(view.recentEvents[0]).toMatchObject({ type: 'profile_updated', properties: expect.objectContaining({ oldEmail: dana }) });
  });

  it('disqualifies the hard-bounced address', async () => {
    const view = await leadView(stack, 'bounce.me@example.net');
    expect(view.status).toBe('disqualified');
    expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'hard_bounce', kind: 'disqualify' })]));
  });

  it('counts a redelivery once, in either bracket spelling and any pair order, and changes no score', async () => {
    const before = await items();
    const scoreBefore = (await leadView(stack, dana)).score;
    const spellings = [
      rawBody('subscribe'),
      Object.entries(decoded('subscribe'))
        .reverse()
        .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
        .join('&'),
    ];
    for (const body of spellings) {
      const answer = await deliver(body);
      expect(answer).toMatchObject({ status: 200, body: { received: 1, stored: 0, duplicates: 1, ignored: 0 } });
    }
    await stack.drain();
    expect(await items()).toBe(before);
    const view = await leadView(stack, dana);
    expect(view.eventCount).toBe(3);
    expect(view.score).toEqual(scoreBefore);
  });

  it('accepts the secret percent-encoded in the URL', async () => {
    const encoded = Array.from(secret, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`).join('');
    const answer = await deliver(profileOf(someone()), { pathSecret: encoded });
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
  });
});

describe('Mailchimp webhook: complaints disqualify', () => {
  it('a cleaned address for abuse disqualifies the lead as a spam complaint', async () => {
    const email = someone();
    const answer = await deliver(encode({ ...decoded('cleaned'), 'data[email]': email, 'data[reason]': 'abuse' }));
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view.status).toBe('disqualified');
    expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'spam_complaint' })]));
  });

  it('an unsubscribe for abuse stores the unsubscribe and the complaint, and disqualifies', async () => {
    const email = someone();
    const answer = await deliver(encode({ ...decoded('unsubscribe'), 'data[email]': email, 'data[reason]': 'abuse' }));
    expect(answer).toMatchObject({ status: 200, body: { received: 2, stored: 2 } });
    const view = await leadView(stack, email);
    expect(view).toMatchObject({ status: 'disqualified', eventCount: 2 });
  });
});

describe('Mailchimp webhook: odd but authentic input', () => {
  it('stores unicode and very long values, cut to size', async () => {
    const email = `zoë.${randomUUID().slice(0, 6)}@exämple.com`;
    const answer = await deliver(
      profileOf(email, { 'data[merges][FNAME]': 'Zoë 🚀', 'data[merges][LNAME]': 'Ø'.repeat(50_000), 'data[merges][NOTES]': '日本語' }),
    );
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view.lead.firstName).toBe('Zoë 🚀');
    expect(view.lead.lastName.length).toBeGreaterThan(0);
    expect(view.lead.lastName.length).toBeLessThanOrEqual(2000);
    expect(view.lead.custom).toMatchObject({ NOTES: '日本語' });
  });

  it('keeps __proto__ and constructor keys away from any prototype and stores the rest', async () => {
    const email = someone();
    const body = `${profileOf(email, { 'data[merges][FNAME]': 'Lee' })}&data[__proto__][polluted]=yes&data%5Bconstructor%5D%5Bprototype%5D%5Bpolluted%5D=yes&__proto__[polluted]=yes&data[merges][__proto__]=x`;
    const answer = await deliver(body);
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const view = await leadView(stack, email);
    expect(view.lead).toMatchObject({ email, firstName: 'Lee' });
    expect(Object.keys(view.lead.custom ?? {})).not.toContain('__proto__');
  });

  it.each([
    [
      'an unknown type',
      encode({ type: 'member_tagged', fired_at: '2024-05-20 10:00:00', 'data[email]': 'x@example.com' }),
      { 'unknown_type:member_tagged': 1 },
    ],
    ['a subscribe without an e-mail', encode({ type: 'subscribe', fired_at: '2024-05-20 10:00:00', 'data[list_id]': 'a6b5da1054' }), { no_email: 1 }],
    ['an unsubscribe with something that is not an address', encode({ ...decoded('unsubscribe'), 'data[email]': 'not-an-address' }), { invalid_email: 1 }],
  ])('acknowledges %s with 200, ignored with a reason, storing nothing', async (_name, body, reasons) => {
    const before = await items();
    const answer = await deliver(body);
    expect(answer).toMatchObject({ status: 200, body: { received: 1, stored: 0, ignored: 1, ignoredReasons: reasons } });
    expect(await items()).toBe(before);
  });
});

describe('Mailchimp webhook: bad input stores nothing', () => {
  const valid = () => profileOf(someone());
  const cases: [string, () => { body: string | Buffer; contentType?: string; pathSecret?: string }, number, string][] = [
    ['a wrong secret in the URL', () => ({ body: valid(), pathSecret: 'mc_wrong0000000000' }), 401, 'unauthorized'],
    ['a prefix of the secret', () => ({ body: valid(), pathSecret: secret.slice(0, 6) }), 401, 'unauthorized'],
    ['the secret with a character appended', () => ({ body: valid(), pathSecret: `${secret}x` }), 401, 'unauthorized'],
    [
      'JSON instead of a form',
      () => ({ body: JSON.stringify({ type: 'profile', data: { email: someone() } }), contentType: 'application/json' }),
      400,
      'unsupported_media_type',
    ],
    ['a form in text/plain', () => ({ body: valid(), contentType: 'text/plain' }), 400, 'unsupported_media_type'],
    ['a malformed body', () => ({ body: '%%%&&==&%ZZ' }), 400, 'bad_request'],
    [
      'a JSON body labelled as a form',
      () => ({ body: JSON.stringify({ type: 'profile', fired_at: '2024-05-20 10:00:00', data: { email: someone() } }) }),
      400,
      'bad_request',
    ],
    ['a form without type', () => ({ body: encode({ fired_at: '2024-05-20 10:00:00', 'data[email]': someone() }) }), 400, 'bad_request'],
    ['a delivery without fired_at', () => ({ body: encode({ type: 'profile', 'data[email]': someone() }) }), 400, 'bad_request'],
    ['a fired_at that is not a time', () => ({ body: profileOf(someone()).replace('2024-05-20', '2024-13-45') }), 400, 'bad_request'],
    ['a body over 1 MiB', () => ({ body: profileOf(someone(), { 'data[merges][NOTES]': 'x'.repeat(1024 * 1024) }) }), 413, 'payload_too_large'],
  ];

  for (const [name, make, status, error] of cases) {
    it(`${name}: ${status}`, async () => {
      const before = await items();
      const { body, contentType, pathSecret } = make();
      const answer = await deliver(body, { ...(contentType ? { contentType } : {}), ...(pathSecret ? { pathSecret } : {}) });
      expect(answer.status).toBe(status);
      expect(answer.body).toMatchObject({ error, detail: expect.any(String) });
      expect(await items()).toBe(before);
    });
  }

  it('a URL without the secret segment is no route at all: 404', async () => {
    const before = await items();
    const answer = await post(hookUrl('').replace(/\/$/, ''), { body: valid(), headers: { 'content-type': form } });
    expect(answer.status).toBe(404);
    expect(await items()).toBe(before);
  });
});

describe('Mailchimp webhook: not configured', () => {
  it('answers 404 to the GET and the POST while MAILCHIMP_WEBHOOK_SECRET is unset, storing nothing', async () => {
    const bare = await startTestStack({ env: { MAILCHIMP_WEBHOOK_SECRET: undefined, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });
    try {
      const url = hookUrl(encodeURIComponent(secret), bare);
      expect((await fetch(url)).status).toBe(404);
      const answer = await post(url, { body: rawBody('subscribe'), headers: { 'content-type': form } });
      expect(answer).toMatchObject({ status: 404, body: { error: 'not_found' } });
      expect(await countItems(bare.dynamodb, bare.tableName)).toBe(0);
    } finally {
      await bare.stop();
    }
  });
});
