/**
 * The Postmark source as pure functions: Basic auth, every record type's mapping, times, dedup keys,
 * and odd or hostile input. Vectors: test/fixtures/postmark/postmark_webhooks.json (fake deliveries
 * shaped as Postmark documents them); the variants below are built from those records and say so.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import { maxFieldsPerEvent, maxStoredStringLength } from '../../../lib/sources/fields.ts';
import { bounceTypes, postmark } from '../../../lib/sources/postmark.ts';
import type { Normalized, WebhookRequest } from '../../../lib/sources/source.ts';
import { refusal } from '../../setup/webhook-request.ts';

interface Fixture {
  basicAuth: { username: string; password: string };
  deliveries: Record<string, { headers: Record<string, string>; body: Record<string, unknown> }>;
}

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/postmark/postmark_webhooks.json', import.meta.url), 'utf8')) as Fixture;
const records = Object.fromEntries(Object.entries(fixture.deliveries).map(([name, delivery]) => [name, delivery.body]));
const secrets = { POSTMARK_WEBHOOK_USER: fixture.basicAuth.username, POSTMARK_WEBHOOK_PASSWORD: fixture.basicAuth.password };
const now = new Date('2024-05-14T12:00:00Z');

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

function request(body: unknown, headers: Record<string, string> = {}): WebhookRequest {
  const lowerCased = new Map(Object.entries({ 'content-type': 'application/json', ...headers }).map(([name, value]) => [name.toLowerCase(), value]));
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return { method: 'POST', body: Buffer.from(raw, 'utf8'), header: (name) => lowerCased.get(name.toLowerCase()), query: {}, pathParameters: {} };
}

const normalize = (body: unknown, headers?: Record<string, string>): Normalized => postmark.normalize(request(body, headers), now);

/** The single event a record yields, failing when it yields anything else. */
function onlyEvent(body: unknown): NormalizedEvent {
  const { events, ignored } = normalize(body);
  expect(ignored).toEqual([]);
  expect(events).toHaveLength(1);
  return events[0]!;
}

const record = (name: string, overrides: Record<string, unknown> = {}) => ({ ...structuredClone(records[name]!), ...overrides });

describe('postmark source: Basic auth', () => {
  const verify = (authorization: string | undefined, configured: Record<string, string> = secrets) =>
    postmark.verify(request(records.Delivery, authorization === undefined ? {} : { Authorization: authorization }), configured, now);

  it('declares both credentials as the route secrets', () => {
    expect(postmark.name).toBe('postmark');
    expect(postmark.requiredSecrets).toEqual(['POSTMARK_WEBHOOK_USER', 'POSTMARK_WEBHOOK_PASSWORD']);
  });

  it('accepts the README example header, which is base64 of user:password', () => {
    const header = fixture.deliveries.Delivery!.headers.Authorization!;
    expect(header).toBe(basic('pm_hook', 's3cr3t-Pa55'));
    expect(() => verify(header)).not.toThrow();
  });

  it('accepts the scheme in any case and the token without padding or with surrounding spaces', () => {
    const token = Buffer.from('pm_hook:s3cr3t-Pa55').toString('base64');
    expect(token.endsWith('=')).toBe(true);
    expect(() => verify(`basic ${token}`)).not.toThrow();
    expect(() => verify(`BASIC ${token.replace(/=+$/, '')}`)).not.toThrow();
    expect(() => verify(`  Basic   ${token}  `)).not.toThrow();
  });

  it('splits at the first colon, so a password may contain colons', () => {
    const configured = { POSTMARK_WEBHOOK_USER: 'pm_hook', POSTMARK_WEBHOOK_PASSWORD: 'a:b::c:' };
    expect(() => verify(basic('pm_hook', 'a:b::c:'), configured)).not.toThrow();
    expect(refusal(() => verify(basic('pm_hook', 'a'), configured)).status).toBe(401);
    expect(refusal(() => verify(basic('pm_hook', 'a:b::c'), configured)).status).toBe(401);
  });

  it('compares UTF-8 credentials byte for byte', () => {
    const configured = { POSTMARK_WEBHOOK_USER: 'håkon', POSTMARK_WEBHOOK_PASSWORD: 'pässwörd-🔑' };
    expect(() => verify(basic('håkon', 'pässwörd-🔑'), configured)).not.toThrow();
    expect(refusal(() => verify(basic('hakon', 'pässwörd-🔑'), configured)).status).toBe(401);
    expect(refusal(() => verify(`Basic ${Buffer.from('håkon:pässwörd-🔑', 'latin1').toString('base64')}`, configured)).status).toBe(401);
  });

  const wrong = 'wrong user or password';
  const notBase64 = 'not base64';
  const refused: [string, string | undefined, string][] = [
    ['no Authorization header', undefined, 'no Authorization header'],
    ['an empty Authorization header', '', 'no Authorization header'],
    ['a wrong password', basic('pm_hook', 's3cr3t-Pa56'), wrong],
    ['a wrong user', basic('pm_hoo', 's3cr3t-Pa55'), wrong],
    ['the user in another case', basic('PM_HOOK', 's3cr3t-Pa55'), wrong],
    ['a prefix of the password', basic('pm_hook', 's3cr3t'), wrong],
    ['the password followed by more', basic('pm_hook', 's3cr3t-Pa55x'), wrong],
    ['user and password swapped', basic('s3cr3t-Pa55', 'pm_hook'), wrong],
    ['both empty', basic('', ''), wrong],
    ['the Bearer scheme', 'Bearer cG1faG9vazpzM2NyM3QtUGE1NQ==', 'Basic scheme'],
    ['the token alone', 'cG1faG9vazpzM2NyM3QtUGE1NQ==', 'Basic scheme'],
    ['the scheme alone', 'Basic', notBase64],
    ['characters that are not base64', 'Basic !!!!', notBase64],
    ['base64url characters', `Basic ${Buffer.from('pm_hook:s3cr3t-Pa55?>?').toString('base64url')}`, notBase64],
    ['non-canonical base64 (bits set in the padding)', 'Basic cG1faG9vazpzM2NyM3QtUGE1NR==', notBase64],
    ['two tokens', `${basic('pm_hook', 's3cr3t-Pa55')} extra`, notBase64],
    ['credentials without a colon', `Basic ${Buffer.from('pm_hooks3cr3t-Pa55').toString('base64')}`, 'no ":"'],
    ['a token of 100 KB', `Basic ${'A'.repeat(100 * 1024)}`, 'no ":"'],
  ];
  it.each(refused)('refuses %s with 401', (_name, authorization, why) => {
    const error = refusal(() => verify(authorization));
    expect(error.status).toBe(401);
    expect(error.code).toBe('unauthorized');
    expect(error.detail).toContain(why);
    expect(error.detail).not.toContain('s3cr3t');
  });

  it('does not say which of user and password was wrong', () => {
    expect(refusal(() => verify(basic('pm_hook', 'wrong'))).detail).toBe(refusal(() => verify(basic('wrong', 's3cr3t-Pa55'))).detail);
  });

  it('answers 404 when either credential is not configured', () => {
    const header = basic('pm_hook', 's3cr3t-Pa55');
    expect(refusal(() => verify(header, { POSTMARK_WEBHOOK_USER: 'pm_hook' })).status).toBe(404);
    expect(refusal(() => verify(header, { POSTMARK_WEBHOOK_PASSWORD: 's3cr3t-Pa55' })).status).toBe(404);
  });
});

describe('postmark source: mapping each record type', () => {
  it('Delivery -> email_delivered at DeliveredAt, with message, stream, tag, SMTP answer and metadata', () => {
    const event = onlyEvent(records.Delivery);
    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@example.com',
      type: 'email_delivered',
      occurredAt: '2024-05-14T09:21:05.123Z',
      source: 'postmark',
      properties: {
        recordType: 'Delivery',
        messageId: '7b2f9c1e-5d4a-4e3b-9a8c-1f2e3d4c5b6a',
        messageStream: 'outbound',
        tag: 'mql-nurture',
        serverId: 23,
        smtpCode: 250,
        details: '250 2.0.0 OK  1715678465 d9443c01a7336-1f2f - gsmtp',
        'metadata.lead_id': 'lead_01HXZ3K9Q4W8T2M6B7C5D1E0FA',
        'metadata.tenant_id': 'acme',
      },
    });
    expect(event.raw).toEqual(records.Delivery);
  });

  it('Open -> email_opened at ReceivedAt, FirstOpen kept, no IP or coordinates stored', () => {
    const event = onlyEvent(records.Open);
    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@example.com',
      type: 'email_opened',
      occurredAt: '2024-05-14T09:31:42.554Z',
      properties: {
        firstOpen: true,
        readSeconds: 12,
        platform: 'WebMail',
        client: 'Chrome 124.0.0.0',
        os: 'macOS 14 Sonoma',
        geoCountryCode: 'US',
        geoCity: 'Austin',
      },
    });
    expect(JSON.stringify(event.properties)).not.toMatch(/203\.0\.113\.42|30\.2672|78701/);
    expect(onlyEvent(record('Open', { FirstOpen: false })).properties.firstOpen).toBe(false);
  });

  it('Click -> email_clicked with url from OriginalLink', () => {
    const event = onlyEvent(records.Click);
    expect(event).toMatchObject({
      type: 'email_clicked',
      occurredAt: '2024-05-14T09:32:15.664Z',
      properties: { url: 'https://www.example.com/pricing?utm_source=postmark', clickLocation: 'HTML', platform: 'Desktop' },
    });
  });

  it('Bounce (HardBounce) -> email_bounced hard, the recipient read from Email, keyed by the bounce ID', () => {
    const event = onlyEvent(records.Bounce);
    expect(event).toMatchObject({
      leadKey: 'bounce.me@example.net',
      type: 'email_bounced',
      occurredAt: '2024-05-14T09:21:11.000Z',
      sourceEventId: 'bounce-id:4323372036',
      properties: {
        bounce: 'hard',
        bounceType: 'HardBounce',
        bounceTypeCode: 1,
        bounceId: '4323372036',
        smtpCode: 550,
        bounceReason: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
        inactive: true,
        canActivate: true,
        subject: 'Your Q2 logistics whitepaper',
      },
    });
  });

  it('SpamComplaint -> email_spam_reported, keyed by its bounce ID, without a bounce kind', () => {
    const event = onlyEvent(records.SpamComplaint);
    expect(event).toMatchObject({
      leadKey: 'angry.reader@example.com',
      type: 'email_spam_reported',
      sourceEventId: 'bounce-id:4323372037',
      occurredAt: '2024-05-14T12:46:40.000Z',
    });
    expect(event.properties).not.toHaveProperty('bounce');
  });

  it('SubscriptionChange suppressing a recipient by hand -> email_unsubscribed, origin and reason kept', () => {
    const event = onlyEvent(records.SubscriptionChange_unsubscribe);
    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@example.com',
      type: 'email_unsubscribed',
      occurredAt: '2024-05-14T16:40:00.000Z',
      properties: { suppressSending: true, suppressionReason: 'ManualSuppression', origin: 'Recipient', messageStream: 'broadcast' },
    });
  });

  it('SubscriptionChange reactivating a recipient -> email_resubscribed (MessageID, Tag and reason null)', () => {
    const event = onlyEvent(records.SubscriptionChange_reactivated);
    expect(event).toMatchObject({
      type: 'email_resubscribed',
      occurredAt: '2024-05-20T10:00:00.000Z',
      properties: { suppressSending: false, origin: 'Customer' },
    });
    expect(event.properties).not.toHaveProperty('messageId');
    expect(event.properties).not.toHaveProperty('tag');
    expect(event.properties).not.toHaveProperty('suppressionReason');
  });

  // Variants of the README's unsubscribe record: Postmark suppresses after a hard bounce or a complaint too.
  it('a suppression caused by a hard bounce or a spam complaint is recorded as that cause', () => {
    const hard = onlyEvent(record('SubscriptionChange_unsubscribe', { SuppressionReason: 'HardBounce', Origin: 'Recipient' }));
    expect(hard).toMatchObject({ type: 'email_bounced', properties: { bounce: 'hard', suppressionReason: 'HardBounce', recordType: 'SubscriptionChange' } });
    const spam = onlyEvent(record('SubscriptionChange_unsubscribe', { SuppressionReason: 'SpamComplaint' }));
    expect(spam.type).toBe('email_spam_reported');
    const reactivated = onlyEvent(record('SubscriptionChange_unsubscribe', { SuppressionReason: 'HardBounce', SuppressSending: false }));
    expect(reactivated.type).toBe('email_resubscribed');
  });

  it('a SubscriptionChange without SuppressSending is refused: it cannot say which way it went', () => {
    const { SuppressSending: _dropped, ...rest } = records.SubscriptionChange_unsubscribe!;
    expect(refusal(() => normalize(rest)).detail).toContain('SuppressSending');
    expect(refusal(() => normalize(record('SubscriptionChange_unsubscribe', { SuppressSending: 'true' }))).status).toBe(400);
  });
});

describe('postmark source: bounce types', () => {
  const bounceOf = (overrides: Record<string, unknown>) => onlyEvent(record('Bounce', overrides));

  it('lists every type Postmark documents, each with its TypeCode', () => {
    expect(Object.keys(bounceTypes)).toHaveLength(22);
    expect(bounceTypes.HardBounce).toEqual({ code: 1, becomes: 'hard' });
    expect(bounceTypes.DMARCPolicy!.code).toBe(100009);
  });

  const hard = ['HardBounce', 'BadEmailAddress'];
  const soft = Object.keys(bounceTypes).filter((type) => bounceTypes[type]!.becomes === 'soft');

  it.each(hard)('%s is a hard bounce (disqualifies under the default model)', (type) => {
    expect(bounceOf({ Type: type, TypeCode: bounceTypes[type]!.code })).toMatchObject({
      type: 'email_bounced',
      properties: { bounce: 'hard', bounceType: type },
    });
  });

  it.each(soft)('%s is a soft bounce', (type) => {
    expect(bounceOf({ Type: type, TypeCode: bounceTypes[type]!.code })).toMatchObject({
      type: 'email_bounced',
      properties: { bounce: 'soft', bounceType: type },
    });
  });

  it('names the decisions that matter most: Transient, SoftBounce, SpamNotification and ManuallyDeactivated are soft', () => {
    expect(soft).toEqual(expect.arrayContaining(['Transient', 'SoftBounce', 'SpamNotification', 'ManuallyDeactivated', 'DnsError', 'Blocked']));
  });

  it('a Bounce record of type SpamComplaint is a spam report, of type Unsubscribe an unsubscribe', () => {
    expect(bounceOf({ Type: 'SpamComplaint', TypeCode: 100001 }).type).toBe('email_spam_reported');
    const unsubscribe = bounceOf({ Type: 'Unsubscribe', TypeCode: 16 });
    expect(unsubscribe).toMatchObject({ type: 'email_unsubscribed', properties: { bounceType: 'Unsubscribe' } });
    expect(unsubscribe.properties).not.toHaveProperty('bounce');
  });

  it('falls back on TypeCode when Type is missing, and treats a type it does not know as soft', () => {
    expect(bounceOf({ Type: undefined, TypeCode: 1 }).properties).toMatchObject({ bounce: 'hard', bounceType: 'HardBounce' });
    expect(bounceOf({ Type: null, TypeCode: 100000 }).properties).toMatchObject({ bounce: 'hard', bounceType: 'BadEmailAddress' });
    expect(bounceOf({ Type: 'SomethingNew', TypeCode: 777 }).properties).toMatchObject({ bounce: 'soft', bounceType: 'SomethingNew' });
    expect(bounceOf({ Type: undefined, TypeCode: undefined }).properties).toMatchObject({ bounce: 'soft' });
    // A name of Object.prototype is not a bounce type.
    expect(bounceOf({ Type: 'constructor' }).properties).toMatchObject({ bounce: 'soft', bounceType: 'constructor' });
  });
});

describe('postmark source: times', () => {
  const openAt = (ReceivedAt: unknown) => normalize(record('Open', { ReceivedAt }));

  it('reads offsets and cuts the 7 fraction digits to milliseconds', () => {
    expect(openAt('2014-01-15T16:09:19.6421112-05:00').events[0]!.occurredAt).toBe('2014-01-15T21:09:19.642Z');
    expect(openAt('2024-05-14T09:31:42.9999999+02:00').events[0]!.occurredAt).toBe('2024-05-14T07:31:42.999Z');
    expect(openAt('2024-05-14T09:31:42Z').events[0]!.occurredAt).toBe('2024-05-14T09:31:42.000Z');
  });

  it.each([
    ['not a date', 'yesterday'],
    ['a day that does not exist', '2024-02-30T10:00:00Z'],
    ['a bare number', '1715678465'],
    ['an RFC 2822 date', 'Tue, 14 May 2024 09:31:42 +0000'],
    ['a number instead of a string', 1715678465],
    ['null', null],
    ['an empty string', ''],
  ])('refuses %s with 400', (_name, value) => {
    expect(refusal(() => openAt(value)).status).toBe(400);
  });

  it('refuses a record without its own time (never the receipt time)', () => {
    const { DeliveredAt: _dropped, ...rest } = records.Delivery!;
    expect(refusal(() => normalize(rest)).detail).toContain('DeliveredAt');
    const { BouncedAt: _bounced, ...bounce } = records.Bounce!;
    expect(refusal(() => normalize(bounce)).detail).toContain('BouncedAt');
    const { ChangedAt: _changed, ...change } = records.SubscriptionChange_reactivated!;
    expect(refusal(() => normalize(change)).detail).toContain('ChangedAt');
  });
});

describe('postmark source: deduplication keys', () => {
  const keyOf = (body: unknown) => onlyEvent(body).sourceEventId;

  it('a retry maps to the same key, however the JSON is laid out', () => {
    for (const name of Object.keys(records)) {
      const body = records[name]!;
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      expect(keyOf(JSON.stringify(reordered, null, 2))).toBe(keyOf(body));
    }
  });

  it('every README record has its own key', () => {
    const keys = Object.values(records).map(keyOf);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('two opens of the same message at different times are two events', () => {
    expect(keyOf(record('Open', { ReceivedAt: '2024-05-14T09:31:42.5549328Z' }))).not.toBe(
      keyOf(record('Open', { ReceivedAt: '2024-05-15T08:00:00.0000000Z' })),
    );
  });

  it('two clicks at the same moment on different links are two events, even when the links share 2000 characters', () => {
    const long = `https://www.example.com/${'a'.repeat(maxStoredStringLength)}`;
    expect(keyOf(record('Click', { OriginalLink: 'https://www.example.com/pricing' }))).not.toBe(
      keyOf(record('Click', { OriginalLink: 'https://www.example.com/demo' })),
    );
    expect(keyOf(record('Click', { OriginalLink: `${long}/one` }))).not.toBe(keyOf(record('Click', { OriginalLink: `${long}/two` })));
  });

  it('one message delivered to two recipients is two deliveries', () => {
    expect(keyOf(record('Delivery', { Recipient: 'one@example.com' }))).not.toBe(keyOf(record('Delivery', { Recipient: 'two@example.com' })));
  });

  it('the same instant written with another offset, or the recipient in another case, is the same record', () => {
    expect(keyOf(record('Open', { ReceivedAt: '2024-05-14T11:31:42.5540000+02:00' }))).toBe(keyOf(record('Open', { ReceivedAt: '2024-05-14T09:31:42.554Z' })));
    expect(keyOf(record('Open', { Recipient: 'Dana.Whitfield@Example.com' }))).toBe(keyOf(records.Open));
  });

  it('record types do not share keys: a delivery and an open of one message at one time differ', () => {
    const at = '2024-05-14T09:31:42.554Z';
    expect(keyOf(record('Delivery', { DeliveredAt: at }))).not.toBe(keyOf(record('Open', { ReceivedAt: at })));
  });

  it('uses the bounce ID when it is a safe integer or digits, else a composite of the bounce', () => {
    expect(keyOf(record('Bounce', { ID: '4323372036' }))).toBe('bounce-id:4323372036');
    const unsafe = keyOf(`${JSON.stringify(record('Bounce', { ID: 0 })).replace('"ID":0', '"ID":12345678901234567890')}`);
    expect(unsafe).toMatch(/^bounce:[0-9a-f]{32}$/);
    const { ID: _id, ...withoutId } = records.Bounce!;
    expect(keyOf(withoutId)).toMatch(/^bounce:[0-9a-f]{32}$/);
    expect(keyOf(withoutId)).toBe(keyOf(JSON.stringify(withoutId, null, 1)));
    expect(keyOf({ ...withoutId, BouncedAt: '2024-05-15T09:21:11Z' })).not.toBe(keyOf(withoutId));
    expect(refusal(() => normalize(record('Bounce', { ID: { nested: 1 } }))).status).toBe(400);
  });

  it('subscription changes at one time differ by stream and by direction', () => {
    const base = records.SubscriptionChange_unsubscribe!;
    expect(keyOf({ ...base, MessageStream: 'outbound' })).not.toBe(keyOf(base));
    expect(keyOf({ ...base, SuppressSending: false })).not.toBe(keyOf(base));
  });

  it('keys stay short whatever the record holds', () => {
    const long = 'x'.repeat(50_000);
    const key = keyOf(record('Click', { OriginalLink: `https://example.com/${long}`, Tag: long }));
    expect(key.length).toBeLessThan(64);
  });
});

describe('postmark source: recipients', () => {
  it('normalizes the address (trimmed, lower-cased)', () => {
    expect(onlyEvent(record('Delivery', { Recipient: '  Dana.Whitfield@EXAMPLE.com ' })).leadKey).toBe('dana.whitfield@example.com');
  });

  it('reads Email on bounces and Recipient elsewhere, as Postmark names them', () => {
    const { Email: _email, ...bounce } = records.Bounce!;
    expect(normalize({ ...bounce, Recipient: 'someone@example.com' }).ignored).toEqual([{ sourceEventId: 'bounce-id:4323372036', reason: 'no_email' }]);
    const { Recipient: _recipient, ...delivery } = records.Delivery!;
    expect(normalize({ ...delivery, Email: 'someone@example.com' }).ignored).toEqual([expect.objectContaining({ reason: 'no_email' })]);
  });

  it('ignores a record whose recipient is missing or not an address, and says which', () => {
    expect(normalize(record('Open', { Recipient: 'not an address' }))).toEqual({ events: [], ignored: [expect.objectContaining({ reason: 'invalid_email' })] });
    expect(normalize(record('Open', { Recipient: null }))).toEqual({ events: [], ignored: [expect.objectContaining({ reason: 'no_email' })] });
    expect(normalize(record('Open', { Recipient: 42 }))).toEqual({ events: [], ignored: [expect.objectContaining({ reason: 'no_email' })] });
  });

  it('keeps a unicode address and unicode tags as given', () => {
    const event = onlyEvent(record('Click', { Recipient: 'Zoë.Ångström@exämple.com', Tag: 'Frühjahr-🚀', Metadata: { kampagne: 'Grüße 東京' } }));
    expect(event.leadKey).toBe('zoë.ångström@exämple.com');
    expect(event.properties).toMatchObject({ tag: 'Frühjahr-🚀', 'metadata.kampagne': 'Grüße 東京' });
  });
});

describe('postmark source: metadata and big or hostile input', () => {
  it('drops __proto__, constructor and prototype keys and pollutes nothing', () => {
    const body = JSON.stringify(record('Open')).replace(
      '"Metadata":{',
      '"Metadata":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"prototype":"x","safe":"kept",',
    );
    const event = onlyEvent(body);
    expect(event.properties['metadata.safe']).toBe('kept');
    expect(Object.keys(event.properties).filter((key) => /__proto__|constructor|prototype/.test(key))).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(event.properties)).toBe(Object.prototype);
  });

  it('ignores prototype keys at the top of the record and in Client, OS and Geo', () => {
    const body = JSON.stringify(record('Open'))
      .replace('"Client":{', '"Client":{"__proto__":{"Name":"evil"},')
      .replace('{"RecordType"', '{"__proto__":{"RecordType":"Click"},"RecordType"');
    const event = onlyEvent(body);
    expect(event.type).toBe('email_opened');
    expect(event.properties.client).toBe('Chrome 124.0.0.0');
  });

  it('keeps at most the event property limit, however much metadata arrives', () => {
    const metadata = Object.fromEntries(Array.from({ length: 500 }, (_, index) => [`key${index}`, `value${index}`]));
    const event = onlyEvent(record('Open', { Metadata: metadata }));
    expect(Object.keys(event.properties).length).toBe(maxFieldsPerEvent);
    expect(event.properties.recordType).toBe('Open');
  });

  it('cuts long values, keeps nested metadata as JSON text, and drops over-long keys', () => {
    const event = onlyEvent(
      record('Click', {
        OriginalLink: `https://example.com/${'p'.repeat(100_000)}`,
        Metadata: { long: '🚀'.repeat(5000), nested: { a: [1, 2] }, ['k'.repeat(300)]: 'x' },
      }),
    );
    expect((event.properties.url as string).length).toBe(maxStoredStringLength);
    expect((event.properties['metadata.long'] as string).length).toBeLessThanOrEqual(maxStoredStringLength);
    expect(event.properties['metadata.long']).toMatch(/^(🚀)+$/u);
    expect(event.properties['metadata.nested']).toBe('{"a":[1,2]}');
    expect(Object.keys(event.properties).some((key) => key.length > 250)).toBe(false);
  });

  it('refuses a MessageID longer than a key may be, and fields of the wrong type', () => {
    expect(refusal(() => normalize(record('Delivery', { MessageID: 'm'.repeat(201) }))).detail).toContain('MessageID');
    expect(refusal(() => normalize(record('Delivery', { Metadata: ['not', 'an', 'object'] }))).detail).toContain('Metadata');
    expect(refusal(() => normalize(record('Open', { FirstOpen: 'yes' }))).detail).toContain('FirstOpen');
    expect(refusal(() => normalize(record('Click', { OriginalLink: 42 }))).detail).toContain('OriginalLink');
  });
});

describe('postmark source: deliveries that are not one Postmark record', () => {
  it('ignores a record type Postmark may add later, naming it when it is a plain word', () => {
    expect(normalize({ ...records.Delivery, RecordType: 'LinkPreview' })).toEqual({ events: [], ignored: [{ reason: 'unknown_record_type:LinkPreview' }] });
    expect(normalize({ ...records.Delivery, RecordType: `x${'y'.repeat(500)}` }).ignored).toEqual([{ reason: 'unknown_record_type' }]);
    expect(normalize({ ...records.Delivery, RecordType: 'Öffnung 🚀' }).ignored).toEqual([{ reason: 'unknown_record_type' }]);
    expect(normalize({ ...records.Delivery, RecordType: 'toString' }).ignored).toEqual([{ reason: 'unknown_record_type:toString' }]);
  });

  // Our own vector: the shape of Postmark's inbound webhook (no RecordType), which the README does not include.
  it('acknowledges and ignores an inbound e-mail pointed at this route', () => {
    const inbound = {
      From: 'dana.whitfield@example.com',
      FromFull: { Email: 'dana.whitfield@example.com', Name: 'Dana Whitfield', MailboxHash: '' },
      To: 'reply+abc@inbound.example.com',
      Subject: 'Re: Your Q2 logistics whitepaper',
      MessageID: '22c74902-a0c1-4511-804f-341342852c90',
      Date: 'Tue, 14 May 2024 11:59:01 +0200',
      StrippedTextReply: 'Can we talk pricing?',
      MessageStream: 'inbound',
    };
    expect(normalize(inbound)).toEqual({ events: [], ignored: [{ reason: 'unsupported_record_type:Inbound' }] });
    expect(normalize({ RecordType: 'Inbound', ...inbound }).ignored).toEqual([{ reason: 'unsupported_record_type:Inbound' }]);
  });

  it.each([
    ['an array of records', [records.Delivery]],
    ['null', null],
    ['a string', 'Delivery'],
    ['an object without RecordType', { hello: 'world' }],
    ['a RecordType that is not a string', { ...records.Delivery, RecordType: 7 }],
  ])('refuses %s with 400', (_name, body) => {
    expect(refusal(() => normalize(JSON.stringify(body))).status).toBe(400);
  });

  it('refuses malformed JSON and a content type other than JSON', () => {
    expect(refusal(() => normalize('{"RecordType": "Delivery", ')).code).toBe('bad_request');
    expect(refusal(() => normalize(records.Delivery, { 'content-type': 'application/x-www-form-urlencoded' })).code).toBe('unsupported_media_type');
    expect(refusal(() => normalize(records.Delivery, { 'content-type': '' })).status).toBe(400);
    expect(normalize(records.Delivery, { 'content-type': 'application/json; charset=utf-8' }).events).toHaveLength(1);
  });
});
