import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import { maxFieldsPerEvent, maxStoredStringLength } from '../../../lib/sources/fields.ts';
import { mailchimp, parseForm } from '../../../lib/sources/mailchimp.ts';
import type { WebhookRequest } from '../../../lib/sources/source.ts';
import { refusal } from '../../setup/webhook-request.ts';

/** The fake secret of test/fixtures/mailchimp/mailchimp_webhooks.json. */
const fixtures = JSON.parse(readFileSync(new URL('../../fixtures/mailchimp/mailchimp_webhooks.json', import.meta.url), 'utf8'));
const secret = new URL(fixtures.url_validation_get.url, 'https://x.example').searchParams.get('secret')!;
const secrets = { MAILCHIMP_WEBHOOK_SECRET: secret };
const now = new Date('2024-05-16T15:00:00Z');
const form = 'application/x-www-form-urlencoded';
const types = ['subscribe', 'unsubscribe', 'profile', 'upemail', 'cleaned', 'campaign'] as const;

function rawBody(type: (typeof types)[number]): string {
  return readFileSync(new URL(`../../fixtures/mailchimp/mailchimp_${type}.txt`, import.meta.url), 'utf8');
}

function request(body: string | Buffer, options: { contentType?: string | null; secret?: string | null; method?: string } = {}): WebhookRequest {
  const contentType = options.contentType === undefined ? form : options.contentType;
  const pathSecret = options.secret === undefined ? secret : options.secret;
  return {
    method: options.method ?? 'POST',
    body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    header: (name) => (name.toLowerCase() === 'content-type' && contentType !== null ? contentType : undefined),
    query: {},
    pathParameters: pathSecret === null ? {} : { secret: pathSecret },
  };
}

/** A form body from pairs, keys and values percent-encoded the way Mailchimp sends them. */
function encode(pairs: Record<string, string>): string {
  return new URLSearchParams(pairs).toString();
}

/** Pairs with raw (unencoded) brackets in the keys, as some tools show and send them. */
function encodeRawBrackets(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .map(([key, value]) => `${key}=${encodeURIComponent(value).replace(/%20/g, '+')}`)
    .join('&');
}

function decodedOf(type: (typeof types)[number]): Record<string, string> {
  return fixtures.deliveries[type].decoded;
}

function onlyEvent(body: string): NormalizedEvent {
  const { events, ignored } = mailchimp.normalize(request(body), now);
  expect(ignored).toEqual([]);
  expect(events).toHaveLength(1);
  return events[0]!;
}

const person = (overrides: Record<string, string> = {}) => ({
  type: 'profile',
  fired_at: '2024-05-15 08:11:52',
  'data[list_id]': 'a6b5da1054',
  'data[id]': '8a25ff1d98',
  'data[email]': 'lee@example.com',
  ...overrides,
});

describe('mailchimp source: the secret in the URL', () => {
  it('accepts the configured secret and needs nothing else (no body, no header)', () => {
    expect(() => mailchimp.verify(request(''), secrets, now)).not.toThrow();
  });

  it('accepts the secret percent-encoded (as API Gateway may pass the path parameter) and decoded (as the local stack does)', () => {
    const awkward = { MAILCHIMP_WEBHOOK_SECRET: 'mc+te/st=ü 9' };
    expect(() => mailchimp.verify(request('', { secret: encodeURIComponent('mc+te/st=ü 9') }), awkward, now)).not.toThrow();
    expect(() => mailchimp.verify(request('', { secret: 'mc+te/st=ü 9' }), awkward, now)).not.toThrow();
  });

  it.each([
    ['another secret', 'mc_wrong0000000000'],
    ['the secret with one character changed', `${secret.slice(0, -1)}X`],
    ['a prefix of the secret', secret.slice(0, 5)],
    ['the secret with something appended', `${secret}0`],
    ['the secret in another case', secret.toUpperCase()],
    ['a malformed percent-encoding', '%E0%A4%A'],
    ['an empty path segment', ''],
  ])('refuses %s with 401', (_name, given) => {
    const error = refusal(() => mailchimp.verify(request(rawBody('subscribe'), { secret: given }), secrets, now));
    expect(error).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('refuses a request without the path parameter with 401', () => {
    expect(refusal(() => mailchimp.verify(request(rawBody('subscribe'), { secret: null }), secrets, now)).status).toBe(401);
  });

  it('answers 404 while MAILCHIMP_WEBHOOK_SECRET is unset, never accepting unauthenticated', () => {
    expect(mailchimp.requiredSecrets).toEqual(['MAILCHIMP_WEBHOOK_SECRET']);
    expect(refusal(() => mailchimp.verify(request(rawBody('subscribe')), {}, now)).status).toBe(404);
    expect(refusal(() => mailchimp.handshake!(request('', { method: 'GET' }), {})).status).toBe(404);
  });

  it("answers Mailchimp's URL validation GET with 200 text/plain when the secret matches", () => {
    expect(fixtures.url_validation_get.expected_response.status).toBe(200);
    const answer = mailchimp.handshake!(request('', { method: 'GET', contentType: null }), secrets);
    expect(answer).toMatchObject({ status: 200, contentType: expect.stringMatching(/^text\/plain/) });
  });

  it('refuses the validation GET with a wrong secret with 401', () => {
    const error = refusal(() => mailchimp.handshake!(request('', { method: 'GET', secret: 'mc_guess' }), secrets));
    expect(error.status).toBe(401);
  });
});

describe('mailchimp source: form decoding', () => {
  it.each(types)('decodes the %s fixture to exactly the pairs its fixture lists', (type) => {
    const { pairs } = parseForm(rawBody(type));
    expect(Object.fromEntries(pairs)).toEqual(decodedOf(type));
  });

  it('nests bracket keys and reads percent-encoded and raw brackets the same', () => {
    const decoded = decodedOf('subscribe');
    const encoded = parseForm(encode(decoded)).fields;
    const raw = parseForm(encodeRawBrackets(decoded)).fields;
    expect(raw).toEqual(encoded);
    expect(encoded).toEqual({
      type: 'subscribe',
      fired_at: '2024-05-14 09:21:07',
      data: {
        id: '8a25ff1d98',
        list_id: 'a6b5da1054',
        email: 'dana.whitfield@example.com',
        email_type: 'html',
        ip_opt: '203.0.113.42',
        ip_signup: '203.0.113.42',
        web_id: '123456789',
        merges: {
          EMAIL: 'dana.whitfield@example.com',
          FNAME: 'Dana',
          LNAME: 'Whitfield',
          COMPANY: 'Acme Logistics',
          PHONE: '+1 415 555 0123',
          INTERESTS: 'Logistics, Pricing updates',
        },
      },
    });
  });

  it('reads keys as PHP does: the last repeat wins, [] appends, unbalanced brackets stay a literal name', () => {
    const { fields } = parseForm('a=1&a=2&list[]=x&list[]=y&odd[key=3&b[c]=4&b=5&d=6&d[e]=7&f[g][0][h]=8');
    expect(fields).toEqual({ a: '2', list: { '0': 'x', '1': 'y' }, 'odd[key': '3', b: '5', d: { e: '7' }, f: { g: { '0': { h: '8' } } } });
  });

  it('drops keys nested deeper than 16 levels and keeps the rest', () => {
    const deep = `k${'[x]'.repeat(16)}=deep&k[ok]=1`;
    expect(parseForm(deep).fields).toEqual({ k: { ok: '1' } });
  });

  it('never lets __proto__, constructor or prototype keys reach a prototype', () => {
    const body = [
      '__proto__[polluted]=yes',
      'data[__proto__][polluted]=yes',
      'data%5B__proto__%5D%5Bpolluted%5D=yes',
      'data[constructor][prototype][polluted]=yes',
      'data[merges][__proto__]=x',
      'data[merges][constructor]=x',
      'constructor[prototype][polluted]=yes',
      'type=profile',
      'fired_at=2024-05-15+08:11:52',
      'data[email]=lee@example.com',
      'data[merges][FNAME]=Lee',
    ].join('&');
    const { fields } = parseForm(body);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect(Object.keys(fields)).toEqual(['type', 'fired_at', 'data']);
    const data = fields.data as Record<string, unknown>;
    expect(Object.getPrototypeOf(data)).toBeNull();
    expect(Object.keys(data)).toEqual(['email', 'merges']);
    expect(Object.keys(data.merges as object)).toEqual(['FNAME']);

    const event = onlyEvent(body);
    expect(event.profile).toEqual({ email: 'lee@example.com', firstName: 'Lee' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decodes + as a space, percent-encoded UTF-8 and raw UTF-8 bytes alike', () => {
    const body = `type=profile&fired_at=2024-05-15+08%3A11%3A52&data[email]=zo%C3%AB%40example.com&data[merges][FNAME]=Zo%C3%AB+%F0%9F%9A%80&data[merges][LNAME]=Ørsted`;
    const event = onlyEvent(body);
    expect(event.leadKey).toBe('zoë@example.com');
    expect(event.profile).toMatchObject({ firstName: 'Zoë 🚀', lastName: 'Ørsted' });
  });
});

describe('mailchimp source: mapping', () => {
  it('a subscribe updates the profile from the merge fields and says the person subscribed', () => {
    const event = onlyEvent(rawBody('subscribe'));
    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@example.com',
      type: 'profile_updated',
      occurredAt: '2024-05-14T09:21:07.000Z',
      source: 'mailchimp',
      sourceEventId: expect.stringMatching(/^subscribe:[0-9a-f]{32}$/),
      properties: { mailchimpType: 'subscribe', subscribed: true, listId: 'a6b5da1054', subscriberId: '8a25ff1d98', webId: '123456789', emailType: 'html' },
    });
    expect(event.profile).toEqual({
      email: 'dana.whitfield@example.com',
      firstName: 'Dana',
      lastName: 'Whitfield',
      company: 'Acme Logistics',
      phone: '+1 415 555 0123',
      custom: { INTERESTS: 'Logistics, Pricing updates' },
    });
    expect(event.raw).toEqual(parseForm(rawBody('subscribe')).fields);
    // IP addresses stay in raw only (retained with a TTL), not in the stored properties.
    expect(JSON.stringify(event.properties)).not.toContain('203.0.113.42');
  });

  it('a profile change updates the profile', () => {
    const event = onlyEvent(rawBody('profile'));
    expect(event).toMatchObject({ type: 'profile_updated', occurredAt: '2024-05-15T08:11:52.000Z', properties: { mailchimpType: 'profile' } });
    expect(event.properties).not.toHaveProperty('subscribed');
    expect(event.profile).toMatchObject({ company: 'Acme Logistics Inc.', custom: { INTERESTS: 'Logistics, Pricing updates, Webinars' } });
  });

  it('an unsubscribe is email_unsubscribed with its action, reason and campaign', () => {
    const event = onlyEvent(rawBody('unsubscribe'));
    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@example.com',
      type: 'email_unsubscribed',
      occurredAt: '2024-05-16T14:02:33.000Z',
      properties: { action: 'unsub', reason: 'manual', campaignId: 'cb398d21d2', listId: 'a6b5da1054' },
    });
  });

  it('an unsubscribe by deletion keeps action "delete"', () => {
    const event = onlyEvent(encode({ ...decodedOf('unsubscribe'), 'data[action]': 'delete' }));
    expect(event).toMatchObject({ type: 'email_unsubscribed', properties: { action: 'delete' } });
  });

  it('an unsubscribe for abuse (a spam complaint) is also email_spam_reported, under its own key', () => {
    // Own vector: the README lists reason "abuse" for unsubscribe without an example file.
    const { events, ignored } = mailchimp.normalize(request(encode({ ...decodedOf('unsubscribe'), 'data[reason]': 'abuse' })), now);
    expect(ignored).toEqual([]);
    expect(events.map((event) => event.type)).toEqual(['email_unsubscribed', 'email_spam_reported']);
    expect(events[1]!.sourceEventId).toBe(`${events[0]!.sourceEventId}:spam`);
    expect(events[1]!.properties).toMatchObject({ reason: 'abuse' });
  });

  it('an address change is recorded on the new address, keeping the old one', () => {
    const event = onlyEvent(rawBody('upemail'));
    expect(event).toMatchObject({
      leadKey: 'dana@acme-logistics.example.com',
      type: 'profile_updated',
      occurredAt: '2024-05-15T08:12:10.000Z',
      sourceEventId: expect.stringMatching(/^upemail:/),
      properties: { oldEmail: 'dana.whitfield@example.com', newEmail: 'dana@acme-logistics.example.com', newSubscriberId: '51da8c3259', listId: 'a6b5da1054' },
    });
    expect(event.profile).toEqual({ email: 'dana@acme-logistics.example.com' });
  });

  it('a cleaned address for a hard bounce is email_bounced with bounce "hard"', () => {
    const event = onlyEvent(rawBody('cleaned'));
    expect(event).toMatchObject({
      leadKey: 'bounce.me@example.net',
      type: 'email_bounced',
      occurredAt: '2024-05-14T09:30:00.000Z',
      properties: { bounce: 'hard', reason: 'hard', campaignId: '4fjk2ma9xd', listId: 'a6b5da1054' },
    });
    expect(event.profile).toBeUndefined();
  });

  it('a cleaned address for abuse is email_spam_reported', () => {
    const event = onlyEvent(encode({ ...decodedOf('cleaned'), 'data[reason]': 'abuse' }));
    expect(event).toMatchObject({ type: 'email_spam_reported', properties: { reason: 'abuse' } });
    expect(event.properties).not.toHaveProperty('bounce');
  });

  it('a cleaned address for another reason is stored as email_cleaned, neither a bounce nor a complaint', () => {
    const event = onlyEvent(encode({ ...decodedOf('cleaned'), 'data[reason]': 'manual_clean' }));
    expect(event).toMatchObject({ type: 'email_cleaned', properties: { reason: 'manual_clean' } });
    const withoutReason = { ...decodedOf('cleaned') };
    delete withoutReason['data[reason]'];
    expect(onlyEvent(encode(withoutReason)).type).toBe('email_cleaned');
  });

  it('a campaign event names no person and is ignored with a reason', () => {
    const { events, ignored } = mailchimp.normalize(request(rawBody('campaign')), now);
    expect(events).toEqual([]);
    expect(ignored).toEqual([{ sourceEventId: expect.stringMatching(/^campaign:[0-9a-f]{32}$/), reason: 'no_person:campaign' }]);
  });

  it('an unknown type is ignored with a bounded reason', () => {
    const { events, ignored } = mailchimp.normalize(request(encode(person({ type: 'Member Tagged #1' }))), now);
    expect(events).toEqual([]);
    expect(ignored).toEqual([{ sourceEventId: expect.stringMatching(/^unknown:/), reason: 'unknown_type:member_tagged_1' }]);
    const long = mailchimp.normalize(request(encode(person({ type: 'x'.repeat(100_000) }))), now);
    expect(long.ignored[0]!.reason.length).toBeLessThanOrEqual(60);
  });

  it('a type in capitals is read as the same type', () => {
    expect(onlyEvent(encode(person({ type: 'SUBSCRIBE' }))).properties).toMatchObject({ mailchimpType: 'subscribe', subscribed: true });
  });

  it.each([
    ['subscribe', {}, 'no_email'],
    ['profile', { 'data[email]': '  ' }, 'no_email'],
    ['unsubscribe', { 'data[email]': 'not-an-address' }, 'invalid_email'],
    ['cleaned', { 'data[email]': 'a@b' }, 'invalid_email'],
    ['upemail', { 'data[old_email]': 'lee@example.com' }, 'no_email'],
  ])('a %s without a usable e-mail is ignored (%j): %s', (type, data, reason) => {
    const body: Record<string, string> = { type, fired_at: '2024-05-15 08:11:52', 'data[list_id]': 'a6b5da1054', ...data };
    const { events, ignored } = mailchimp.normalize(request(encode(body)), now);
    expect(events).toEqual([]);
    expect(ignored).toEqual([{ sourceEventId: expect.stringMatching(new RegExp(`^${type}:`)), reason }]);
  });

  it('normalizes the e-mail (trimmed, lower-cased)', () => {
    expect(onlyEvent(encode(person({ 'data[email]': '  Lee.Smith@Example.COM ' }))).leadKey).toBe('lee.smith@example.com');
  });

  it('maps the common B2B merge fields, nested addresses and sizes onto the profile', () => {
    const event = onlyEvent(
      encode(
        person({
          'data[merges][FNAME]': 'Lee',
          'data[merges][LNAME]': 'Smith',
          'data[merges][TITLE]': 'VP Sales',
          'data[merges][INDUSTRY]': 'Software',
          'data[merges][EMPLOYEES]': '750',
          'data[merges][REVENUE]': '50M-100M',
          'data[merges][ADDRESS][addr1]': '1 Main St',
          'data[merges][ADDRESS][city]': 'Springfield',
          'data[merges][ADDRESS][state]': 'IL',
          'data[merges][ADDRESS][zip]': '62701',
          'data[merges][ADDRESS][country]': 'US',
          'data[merges][GROUPINGS][0][name]': 'Topics',
          'data[merges][GROUPINGS][0][groups]': 'Pricing',
          'data[merges][BIRTHDAY]': '05/14',
          'data[merges][MMERGE9]': '',
        }),
      ),
    );
    expect(event.profile).toEqual({
      email: 'lee@example.com',
      firstName: 'Lee',
      lastName: 'Smith',
      jobTitle: 'VP Sales',
      industry: 'Software',
      companySize: 750,
      annualRevenue: '50M-100M',
      country: 'US',
      custom: { ADDRESS: '1 Main St, Springfield, IL, 62701, US', BIRTHDAY: '05/14' },
    });
  });

  it('keeps an address sent as one string whole under custom', () => {
    const event = onlyEvent(encode(person({ 'data[merges][ADDRESS]': '1 Main St  Springfield  IL  62701  US' })));
    expect(event.profile?.custom).toEqual({ ADDRESS: '1 Main St  Springfield  IL  62701  US' });
  });

  it('cuts very long values and bounds the number of custom fields', () => {
    const merges: Record<string, string> = { 'data[merges][FNAME]': 'L'.repeat(50_000) };
    for (let index = 0; index < 300; index += 1) merges[`data[merges][MMERGE${index}]`] = `v${index}`;
    const event = onlyEvent(encode(person({ ...merges, 'data[list_id]': 'l'.repeat(10_000) })));
    expect(event.profile!.firstName).toHaveLength(maxStoredStringLength);
    expect(Object.keys(event.profile!.custom!)).toHaveLength(maxFieldsPerEvent);
    expect(event.properties.listId).toHaveLength(maxStoredStringLength);
  });

  it('handles a body of a hundred thousand pairs', () => {
    const pairs: Record<string, string> = {};
    for (let index = 0; index < 100_000; index += 1) pairs[`data[merges][F${index}]`] = 'x';
    const body = encode(person(pairs));
    expect(body.length).toBeLessThan(1024 * 1024 * 4);
    const event = onlyEvent(body);
    expect(Object.keys(event.profile!.custom!)).toHaveLength(maxFieldsPerEvent);
  });
});

describe('mailchimp source: event time', () => {
  it.each([
    ['2024-05-14 09:21:07', '2024-05-14T09:21:07.000Z'],
    ['2024-12-31 23:59:59', '2024-12-31T23:59:59.000Z'],
    [' 2024-05-14T09:21:07 ', '2024-05-14T09:21:07.000Z'],
    ['2024-05-14 09:21:07+02:00', '2024-05-14T07:21:07.000Z'],
  ])('reads fired_at %j as UTC unless it names a zone: %s', (firedAt, iso) => {
    expect(onlyEvent(encode(person({ fired_at: firedAt }))).occurredAt).toBe(iso);
  });

  it('never uses the receipt time', () => {
    const { events } = mailchimp.normalize(request(rawBody('profile')), new Date('2030-01-01T00:00:00Z'));
    expect(events[0]!.occurredAt).toBe('2024-05-15T08:11:52.000Z');
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['a date without a time', '2024-05-14'],
    ['unix seconds', '1715678467'],
    ['a day that does not exist', '2024-02-30 10:00:00'],
    ['minute 60', '2024-05-14 10:60:00'],
    ['free text', 'yesterday'],
  ])('refuses a fired_at that is %s with 400', (_name, firedAt) => {
    const body = person();
    if (firedAt === undefined) delete (body as Record<string, string>).fired_at;
    else body.fired_at = firedAt;
    const error = refusal(() => mailchimp.normalize(request(encode(body)), now));
    expect(error).toMatchObject({ status: 400, code: 'bad_request', detail: expect.stringContaining('fired_at') });
  });
});

describe('mailchimp source: the composite deduplication key', () => {
  const idOf = (body: string) => onlyEvent(body).sourceEventId;

  it('is the same for a retry, in any pair order and either bracket spelling', () => {
    const decoded = decodedOf('subscribe');
    const reversed = Object.fromEntries(Object.entries(decoded).reverse());
    const id = idOf(rawBody('subscribe'));
    expect(idOf(rawBody('subscribe'))).toBe(id);
    expect(idOf(encode(decoded))).toBe(id);
    expect(idOf(encode(reversed))).toBe(id);
    expect(idOf(encodeRawBrackets(decoded))).toBe(id);
  });

  it('differs when any field differs, so two events of the same second do not collide', () => {
    const base = decodedOf('profile');
    const id = idOf(encode(base));
    const variants = [
      { ...base, 'data[merges][COMPANY]': 'Acme Logistics GmbH' },
      { ...base, 'data[email]': 'other@example.com' },
      { ...base, 'data[list_id]': 'b7c6eb2165' },
      { ...base, 'data[merges][NEW]': '' },
    ];
    const ids = variants.map((variant) => idOf(encode(variant)));
    expect(new Set([id, ...ids]).size).toBe(variants.length + 1);
    // Another second is another sort key even with the same id part.
    expect(onlyEvent(encode({ ...base, fired_at: '2024-05-15 08:11:53' })).occurredAt).not.toBe(onlyEvent(encode(base)).occurredAt);
  });

  it('does not confuse a key=value split differently across pairs', () => {
    expect(idOf(encode(person({ 'data[merges][A]': 'x', 'data[merges][B]': 'y' })))).not.toBe(
      idOf(encode(person({ 'data[merges][A]': 'xy', 'data[merges][B]': '' }))),
    );
  });
});

describe('mailchimp source: bodies that are not Mailchimp deliveries', () => {
  it.each([
    ['JSON', 'application/json'],
    ['text', 'text/plain'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['no content type', null],
  ])('refuses a %s content type with 400', (_name, contentType) => {
    const error = refusal(() => mailchimp.normalize(request(rawBody('subscribe'), { contentType }), now));
    expect(error).toMatchObject({ status: 400, code: 'unsupported_media_type' });
  });

  it('accepts the form content type with a charset and in any case', () => {
    const { events } = mailchimp.normalize(request(rawBody('subscribe'), { contentType: 'Application/X-WWW-Form-Urlencoded; charset=UTF-8' }), now);
    expect(events).toHaveLength(1);
  });

  it.each([
    ['an empty body', ''],
    ['a JSON body labelled as a form', JSON.stringify({ type: 'subscribe', fired_at: '2024-05-14 09:21:07', data: { email: 'lee@example.com' } })],
    ['a form without type', encode({ fired_at: '2024-05-14 09:21:07', 'data[email]': 'lee@example.com' })],
    ['an empty type', encode(person({ type: ' ' }))],
    ['a type that is a nested field', 'type[x]=subscribe&fired_at=2024-05-14+09:21:07&data[email]=lee@example.com'],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x3d, 0x26, 0x80])],
  ])('refuses %s with 400', (_name, body) => {
    const error = refusal(() => mailchimp.normalize(request(body), now));
    expect(error).toMatchObject({ status: 400, code: 'bad_request', detail: expect.stringContaining('type') });
  });
});
