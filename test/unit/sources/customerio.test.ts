import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import {
  bounceOf,
  customerio,
  customerioSignatureMaxAgeSeconds,
  customerioSignatureMaxFutureSeconds,
  signCustomerio,
} from '../../../lib/sources/customerio.ts';
import { maxStoredStringLength } from '../../../lib/sources/fields.ts';
import type { WebhookRequest } from '../../../lib/sources/source.ts';
import { refusal, webhookRequest as request } from '../../setup/webhook-request.ts';

interface FixtureDelivery {
  headers: Record<string, string>;
  rawBody: string;
  body: { event_id: string; metric: string; object_type: string; timestamp: number; data: Record<string, unknown> };
  idempotencyKey: string;
}
interface Fixture {
  webhookSigningKey: string;
  deliveries: Record<string, FixtureDelivery>;
}

/** test/fixtures/customerio/customerio_reporting_webhooks.json: seven deliveries signed with a fake key. */
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/customerio/customerio_reporting_webhooks.json', import.meta.url), 'utf8')) as Fixture;
const key = fixture.webhookSigningKey;
const secrets = { CUSTOMERIO_WEBHOOK_SIGNING_KEY: key };
const delivery = (name: string): FixtureDelivery => fixture.deliveries[name]!;

/** A delivery signed with the fixture's key at `timestamp` (unix seconds). */
function signed(body: string, timestamp: number | string, signingKey = key): WebhookRequest {
  return request(body, {
    'Content-Type': 'application/json',
    'X-CIO-Timestamp': String(timestamp),
    'X-CIO-Signature': signCustomerio({ key: signingKey, timestamp, body }),
  });
}

/** An email event in Customer.io's shape, with `data` overrides (undefined removes a field). */
function event(overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: '01HXZ4A1B2C3D4E5F6G7H8J9ZZ',
    object_type: 'email',
    metric: 'opened',
    timestamp: 1715679102,
    data: {
      campaign_id: 12,
      action_id: 36,
      delivery_id: 'RPILAgUBcRhIBqSbvEZotk16z5A=',
      customer_id: 'lead_1',
      identifiers: { cio_id: 'd9c106000001', email: 'dana.whitfield@example.com', id: 'lead_1' },
      recipient: 'dana.whitfield@example.com',
      subject: 'Your Q2 logistics whitepaper',
      ...data,
    },
    ...overrides,
  };
}

function normalize(body: unknown) {
  return customerio.normalize(request(typeof body === 'string' ? body : JSON.stringify(body)));
}

/** The one event a delivery yields, failing when it yields anything else. */
function onlyEvent(body: unknown): NormalizedEvent {
  const { events, ignored } = normalize(body);
  expect(ignored).toEqual([]);
  expect(events).toHaveLength(1);
  return events[0]!;
}

function ignoredReason(body: unknown): string {
  const { events, ignored } = normalize(body);
  expect(events).toEqual([]);
  expect(ignored).toHaveLength(1);
  return ignored[0]!.reason;
}

describe('customerio source: verification', () => {
  const atSigning = (d: FixtureDelivery) => new Date(Number(d.headers['X-CIO-Timestamp']) * 1000);

  it.each(Object.keys(fixture.deliveries))('accepts the README example %s, signed with the README key', (name) => {
    const d = delivery(name);
    expect(() => customerio.verify(request(d.rawBody, d.headers), secrets, atSigning(d))).not.toThrow();
  });

  it('signs exactly as the README examples were signed', () => {
    for (const d of Object.values(fixture.deliveries)) {
      expect(signCustomerio({ key, timestamp: d.headers['X-CIO-Timestamp']!, body: d.rawBody })).toBe(d.headers['X-CIO-Signature']);
    }
  });

  it('reads the headers whatever their case, and an upper-case hex signature', () => {
    const d = delivery('email_clicked');
    const headers = {
      'content-type': 'application/json',
      'x-cio-timestamp': d.headers['X-CIO-Timestamp']!,
      'x-cio-signature': d.headers['X-CIO-Signature']!.toUpperCase(),
    };
    expect(() => customerio.verify(request(d.rawBody, headers), secrets, atSigning(d))).not.toThrow();
  });

  it('uses the key as its text, not hex-decoded', () => {
    const d = delivery('email_sent');
    const hexKey = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
    const now = atSigning(d);
    expect(() => customerio.verify(signed(d.rawBody, d.headers['X-CIO-Timestamp']!, hexKey), { CUSTOMERIO_WEBHOOK_SIGNING_KEY: hexKey }, now)).not.toThrow();
    expect(
      refusal(() => customerio.verify(signed(d.rawBody, d.headers['X-CIO-Timestamp']!, hexKey), { CUSTOMERIO_WEBHOOK_SIGNING_KEY: hexKey.toUpperCase() }, now))
        .status,
    ).toBe(401);
  });

  describe('refuses with 401', () => {
    const d = delivery('email_bounced');
    const now = atSigning(d);
    const cases: [string, () => WebhookRequest][] = [
      ['a delivery signed with another key', () => signed(d.rawBody, d.headers['X-CIO-Timestamp']!, 'some-other-signing-key')],
      ['a body changed after signing (bounced -> delivered)', () => request(d.rawBody.replace('"bounced"', '"delivered"'), d.headers)],
      ['a body with one byte appended', () => request(`${d.rawBody}\n`, d.headers)],
      ['a timestamp changed after signing', () => request(d.rawBody, { ...d.headers, 'X-CIO-Timestamp': String(Number(d.headers['X-CIO-Timestamp']) + 1) })],
      ['the same timestamp written with a leading zero', () => request(d.rawBody, { ...d.headers, 'X-CIO-Timestamp': `0${d.headers['X-CIO-Timestamp']}` })],
      ['no X-CIO-Signature', () => request(d.rawBody, { 'Content-Type': 'application/json', 'X-CIO-Timestamp': d.headers['X-CIO-Timestamp']! })],
      ['no X-CIO-Timestamp', () => request(d.rawBody, { 'Content-Type': 'application/json', 'X-CIO-Signature': d.headers['X-CIO-Signature']! })],
      ['an empty X-CIO-Signature', () => request(d.rawBody, { ...d.headers, 'X-CIO-Signature': '' })],
      ['a truncated signature', () => request(d.rawBody, { ...d.headers, 'X-CIO-Signature': d.headers['X-CIO-Signature']!.slice(0, 62) })],
      ['a signature with trailing garbage', () => request(d.rawBody, { ...d.headers, 'X-CIO-Signature': `${d.headers['X-CIO-Signature']}zz` })],
      [
        'a base64 signature',
        () => request(d.rawBody, { ...d.headers, 'X-CIO-Signature': Buffer.from(d.headers['X-CIO-Signature']!, 'hex').toString('base64') }),
      ],
      ['a sha256= prefixed signature', () => request(d.rawBody, { ...d.headers, 'X-CIO-Signature': `sha256=${d.headers['X-CIO-Signature']}` })],
      ['a timestamp in exponent notation', () => request(d.rawBody, { ...d.headers, 'X-CIO-Timestamp': '1.715701004e9' })],
      ['a negative timestamp', () => signed(d.rawBody, '-1')],
    ];
    for (const [name, make] of cases) {
      it(name, () => {
        const error = refusal(() => customerio.verify(make(), secrets, now));
        expect(error.status).toBe(401);
        expect(error.code).toBe('unauthorized');
      });
    }
  });

  it('accepts a signature two weeks old (a backlogged event retried with its first signature) and refuses one past the window', () => {
    const body = delivery('email_opened').rawBody;
    const now = new Date('2024-06-01T00:00:00Z');
    const nowSeconds = now.getTime() / 1000;
    expect(customerioSignatureMaxAgeSeconds).toBeGreaterThanOrEqual(14 * 24 * 3600);
    expect(() => customerio.verify(signed(body, nowSeconds - 14 * 24 * 3600), secrets, now)).not.toThrow();
    expect(() => customerio.verify(signed(body, nowSeconds - customerioSignatureMaxAgeSeconds), secrets, now)).not.toThrow();
    const stale = refusal(() => customerio.verify(signed(body, nowSeconds - customerioSignatureMaxAgeSeconds - 1), secrets, now));
    expect(stale.status).toBe(401);
    expect(stale.detail).toMatch(/old/);
  });

  it('accepts a timestamp a little ahead of our clock and refuses one far ahead', () => {
    const body = delivery('email_opened').rawBody;
    const now = new Date('2024-06-01T00:00:00Z');
    const nowSeconds = now.getTime() / 1000;
    expect(() => customerio.verify(signed(body, nowSeconds + customerioSignatureMaxFutureSeconds), secrets, now)).not.toThrow();
    const ahead = refusal(() => customerio.verify(signed(body, nowSeconds + customerioSignatureMaxFutureSeconds + 1), secrets, now));
    expect(ahead.status).toBe(401);
    expect(ahead.detail).toMatch(/future/);
  });

  it('answers 404 when the signing key is not configured', () => {
    const d = delivery('email_sent');
    expect(refusal(() => customerio.verify(request(d.rawBody, d.headers), {}, atSigning(d))).status).toBe(404);
  });

  it('declares its route secret', () => {
    expect(customerio.name).toBe('customerio');
    expect(customerio.requiredSecrets).toEqual(['CUSTOMERIO_WEBHOOK_SIGNING_KEY']);
  });
});

describe('customerio source: the README examples', () => {
  const expected: Record<string, { type: string; leadKey: string }> = {
    email_sent: { type: 'email_sent', leadKey: 'dana.whitfield@example.com' },
    email_delivered: { type: 'email_delivered', leadKey: 'dana.whitfield@example.com' },
    email_opened: { type: 'email_opened', leadKey: 'dana.whitfield@example.com' },
    email_clicked: { type: 'email_clicked', leadKey: 'dana.whitfield@example.com' },
    email_bounced: { type: 'email_bounced', leadKey: 'bounce.me@example.net' },
    email_unsubscribed: { type: 'email_unsubscribed', leadKey: 'dana.whitfield@example.com' },
    customer_subscribed: { type: 'profile_updated', leadKey: 'dana.whitfield@example.com' },
  };

  it.each(Object.keys(expected))('maps %s, keyed by event_id at the event own time', (name) => {
    const d = delivery(name);
    const result = onlyEvent(d.rawBody);
    expect(result).toMatchObject({
      ...expected[name],
      source: 'customerio',
      sourceEventId: d.idempotencyKey,
      occurredAt: new Date(d.body.timestamp * 1000).toISOString(),
    });
    // The event's time is its own, not the signing time (the examples were signed hours later).
    expect(result.occurredAt).not.toBe(new Date(Number(d.headers['X-CIO-Timestamp']) * 1000).toISOString());
    expect(result.raw).toEqual(JSON.parse(d.rawBody));
  });

  it('keeps the message ids, the subject and the person ids as properties', () => {
    const result = onlyEvent(delivery('email_opened').rawBody);
    expect(result.occurredAt).toBe('2024-05-14T09:31:42.000Z');
    expect(result.properties).toEqual({
      action_id: 36,
      campaign_id: 12,
      customer_id: 'lead_01HXZ3K9Q4W8T2M6B7C5D1E0FA',
      delivery_id: 'RPILAgUBcRhIBqSbvEZotk16z5A=',
      recipient: 'dana.whitfield@example.com',
      subject: 'Your Q2 logistics whitepaper',
      cio_id: 'd9c106000001',
      objectType: 'email',
      metric: 'opened',
    });
    expect(result.profile).toBeUndefined();
  });

  it('gives a click its url (the pricing page the model scores) and its link id', () => {
    const result = onlyEvent(delivery('email_clicked').rawBody);
    expect(result.properties).toMatchObject({ url: 'https://www.example.com/pricing', href: 'https://www.example.com/pricing', link_id: 7 });
  });

  it('makes the 550 5.1.1 bounce a hard bounce with its reason and codes', () => {
    const result = onlyEvent(delivery('email_bounced').rawBody);
    expect(result.properties).toMatchObject({
      bounce: 'hard',
      smtpCode: 550,
      smtpStatus: '5.1.1',
      bounceReason: '550 5.1.1 The email account that you tried to reach does not exist.',
      failure_message: '550 5.1.1 The email account that you tried to reach does not exist.',
    });
  });

  it('makes a customer subscribed event a profile update that names the person', () => {
    const result = onlyEvent(delivery('customer_subscribed').rawBody);
    expect(result.profile).toEqual({ email: 'dana.whitfield@example.com' });
    expect(result.properties).toMatchObject({ subscribed: true, objectType: 'customer', metric: 'subscribed', customer_id: 'lead_01HXZ3K9Q4W8T2M6B7C5D1E0FA' });
  });
});

describe('customerio source: every metric', () => {
  it.each([
    ['sent', 'email_sent'],
    ['delivered', 'email_delivered'],
    ['opened', 'email_opened'],
    ['clicked', 'email_clicked'],
    ['converted', 'email_converted'],
    ['bounced', 'email_bounced'],
    ['spammed', 'email_spam_reported'],
    ['unsubscribed', 'email_unsubscribed'],
    ['dropped', 'email_dropped'],
    ['failed', 'email_failed'],
    ['undeliverable', 'email_undeliverable'],
    ['attempted', 'email_attempted'],
    ['drafted', 'email_drafted'],
  ])('email %s -> %s', (metric, type) => {
    expect(onlyEvent(event({ metric })).type).toBe(type);
  });

  it('never calls dropped, failed or undeliverable a bounce (none is the receiving server on this address)', () => {
    for (const metric of ['dropped', 'failed', 'undeliverable', 'attempted']) {
      const result = onlyEvent(event({ metric }, { failure_message: '550 5.1.1 no such user' }));
      expect(result.type).not.toBe('email_bounced');
      expect(result.properties.bounce).toBeUndefined();
    }
  });

  it('customer unsubscribed -> email_unsubscribed, from the e-mail the customer event carries', () => {
    const result = onlyEvent(
      event({
        object_type: 'customer',
        metric: 'unsubscribed',
        data: { customer_id: 'lead_9', email_address: 'Lee@Example.com', identifiers: { id: 'lead_9', email: 'lee@example.com', cio_id: 'c9' } },
      }),
    );
    expect(result).toMatchObject({ type: 'email_unsubscribed', leadKey: 'lee@example.com', profile: { email: 'lee@example.com' } });
    expect(result.properties).toMatchObject({ subscribed: false, customer_id: 'lead_9', cio_id: 'c9' });
  });

  it('takes the click url from link when there is no href', () => {
    expect(onlyEvent(event({ metric: 'clicked' }, { link: 'https://www.example.com/demo' })).properties.url).toBe('https://www.example.com/demo');
  });

  it.each(['push', 'sms', 'in_app', 'slack', 'webhook'])('ignores %s events: another channel', (objectType) => {
    expect(ignoredReason(event({ object_type: objectType, metric: 'clicked' }))).toBe(`unsupported_object_type:${objectType}`);
  });

  it('ignores an object type it does not know, and a metric it does not know, with the pair as reason', () => {
    expect(ignoredReason(event({ object_type: 'carrier_pigeon' }))).toBe('unknown_object_type:carrier_pigeon');
    expect(ignoredReason(event({ metric: 'teleported' }))).toBe('unknown_metric:email:teleported');
    expect(ignoredReason(event({ object_type: 'customer', metric: 'opened' }))).toBe('unknown_metric:customer:opened');
  });

  it('does not find a metric through the prototype (constructor, __proto__, toString)', () => {
    for (const metric of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(ignoredReason(event({ metric }))).toBe(`unknown_metric:email:${metric}`);
    }
  });

  it('cuts a very long object type or metric in the reason it answers with', () => {
    expect(ignoredReason(event({ metric: 'x'.repeat(10_000) }))).toBe(`unknown_metric:email:${'x'.repeat(64)}`);
  });

  it('ignores an event with no e-mail anywhere, keeping its id', () => {
    const { ignored } = normalize(event({}, { recipient: undefined, identifiers: { id: 'lead_1' } }));
    expect(ignored).toEqual([{ sourceEventId: '01HXZ4A1B2C3D4E5F6G7H8J9ZZ', reason: 'no_email' }]);
    expect(ignoredReason(event({ data: undefined }))).toBe('no_email');
    expect(ignoredReason(event({ data: null }))).toBe('no_email');
  });
});

describe('customerio source: hard and soft bounces', () => {
  it.each([
    ['550 5.1.1 The email account that you tried to reach does not exist.', 'hard', 550, '5.1.1'],
    ['552-5.2.2 The email account that you tried to reach is over quota.', 'hard', 552, '5.2.2'],
    ['421 4.7.0 Try again later, closing connection.', 'soft', 421, '4.7.0'],
    ['450 4.2.1 The user you are trying to contact is receiving mail too quickly.', 'soft', 450, '4.2.1'],
    ['smtp; 4.4.7 Message expired', 'soft', undefined, '4.4.7'],
    ['smtp; 5.4.1 Recipient address rejected: Access denied', 'hard', undefined, '5.4.1'],
    ['Mailbox unavailable', 'hard', undefined, undefined],
    [undefined, 'hard', undefined, undefined],
  ] as const)('%s -> %s', (message, bounce, smtpCode, smtpStatus) => {
    expect(bounceOf(message)).toEqual({ bounce, ...(smtpCode ? { smtpCode } : {}), ...(smtpStatus ? { smtpStatus } : {}) });
  });

  it('does not read a version number or a port as an SMTP code', () => {
    expect(bounceOf('Relay 10.4.1.2 refused: 5.7.1 blocked').bounce).toBe('hard');
    expect(bounceOf('4500 messages queued; 5.1.1 unknown user')).toEqual({ bounce: 'hard', smtpStatus: '5.1.1' });
  });

  it('a bounced event with a transient reply is stored as a soft bounce', () => {
    expect(onlyEvent(event({ metric: 'bounced' }, { failure_message: '421 4.7.0 Try again later' })).properties).toMatchObject({
      bounce: 'soft',
      smtpCode: 421,
    });
  });

  it('a bounced event without a failure message is a hard bounce', () => {
    expect(onlyEvent(event({ metric: 'bounced' })).properties).toMatchObject({ bounce: 'hard' });
  });
});

describe("customerio source: the lead's e-mail", () => {
  it('is the recipient before the person attribute (the address the message went to)', () => {
    expect(onlyEvent(event({}, { recipient: 'Old.Address@Example.com', identifiers: { email: 'new@example.com' } })).leadKey).toBe('old.address@example.com');
  });

  it('is the recipient before email_address', () => {
    expect(onlyEvent(event({}, { recipient: 'sent-to@example.com', email_address: 'profile@example.com' })).leadKey).toBe('sent-to@example.com');
  });

  it('is email_address when there is no recipient, then identifiers.email', () => {
    expect(onlyEvent(event({}, { recipient: undefined, email_address: 'ea@example.com', identifiers: { email: 'id@example.com' } })).leadKey).toBe(
      'ea@example.com',
    );
    expect(onlyEvent(event({}, { recipient: undefined, identifiers: { email: 'id@example.com' } })).leadKey).toBe('id@example.com');
  });

  it('skips a recipient that is not an address', () => {
    expect(onlyEvent(event({}, { recipient: '+15550100', identifiers: { email: 'id@example.com' } })).leadKey).toBe('id@example.com');
  });

  // Own vector: the README shows a bare address; a "To" with a display name is how mail tools write one.
  it('reads the address out of a display form', () => {
    expect(onlyEvent(event({}, { recipient: 'Dana Whitfield <Dana.Whitfield@Example.com>' })).leadKey).toBe('dana.whitfield@example.com');
  });
});

describe('customerio source: timestamps', () => {
  it.each([
    [1715678400, '2024-05-14T09:20:00.000Z'],
    ['1715678400', '2024-05-14T09:20:00.000Z'],
    [1715678400.25, '2024-05-14T09:20:00.250Z'],
    [0, '1970-01-01T00:00:00.000Z'],
    [253402300799, '9999-12-31T23:59:59.000Z'],
  ])('%s -> %s', (timestamp, iso) => {
    expect(onlyEvent(event({ timestamp })).occurredAt).toBe(iso);
  });

  it.each([
    ['negative', -1],
    ['milliseconds by mistake (year 56000)', 1715678400000],
    ['an ISO string', '2024-05-14T09:20:00Z'],
    ['a non-numeric string', 'yesterday'],
    ['null', null],
    ['a boolean', true],
    ['missing', undefined],
  ])('refuses a timestamp that is %s with 400', (_name, timestamp) => {
    const error = refusal(() => normalize(event({ timestamp })));
    expect(error.status).toBe(400);
    expect(error.detail).toMatch(/^timestamp: /);
  });
});

describe('customerio source: refuses what is not its envelope with 400', () => {
  it.each([
    ['malformed JSON', '{"event_id": "01HX", '],
    ['an empty body', ''],
    ['a JSON array (Customer.io sends one event per request)', JSON.stringify([event()])],
    ['a JSON string', '"hello"'],
    ['JSON null', 'null'],
    ['an object that is not an event', JSON.stringify({ hello: 'world' })],
    ['no event_id', JSON.stringify(event({ event_id: undefined }))],
    ['an empty event_id', JSON.stringify(event({ event_id: '' }))],
    ['a numeric event_id', JSON.stringify(event({ event_id: 42 }))],
    ['an event_id too long to be a key', JSON.stringify(event({ event_id: 'e'.repeat(201) }))],
    ['no metric', JSON.stringify(event({ metric: undefined }))],
    ['no object_type', JSON.stringify(event({ object_type: undefined }))],
    ['data that is not an object', JSON.stringify(event({ data: 'dana@example.com' }))],
  ])('%s', (_name, body) => {
    const error = refusal(() => normalize(body));
    expect(error.status).toBe(400);
    expect(error.code).toBe('bad_request');
  });

  it('names the field that is wrong', () => {
    expect(refusal(() => normalize(event({ event_id: undefined }))).detail).toMatch(/^event_id: is required/);
  });

  it('refuses another content type with 400, accepts a charset parameter', () => {
    const body = JSON.stringify(event());
    expect(refusal(() => customerio.normalize(request(body, { 'content-type': 'text/plain' }))).code).toBe('unsupported_media_type');
    expect(refusal(() => customerio.normalize(request(body, {}))).status).toBe(400);
    expect(customerio.normalize(request(body, { 'content-type': 'Application/JSON; charset=utf-8' })).events).toHaveLength(1);
  });
});

describe('customerio source: big and odd input', () => {
  it('keeps unicode as sent', () => {
    const result = onlyEvent(event({}, { subject: 'Ihr Angebot für Q2 — 日本語 🚀', recipient: 'zoë@exämple.com' }));
    expect(result.properties.subject).toBe('Ihr Angebot für Q2 — 日本語 🚀');
    expect(result.leadKey).toBe('zoë@exämple.com');
  });

  it('cuts very long strings, leaves message body content out of properties but in raw', () => {
    const content = `<html>${'x'.repeat(300_000)}</html>`;
    const result = onlyEvent(event({ metric: 'sent' }, { subject: 's'.repeat(50_000), content }));
    expect(result.properties.subject).toHaveLength(maxStoredStringLength);
    expect(result.properties.content).toBeUndefined();
    expect((result.raw as { data: { content: string } }).data.content).toBe(content);
  });

  it('copies no __proto__ or constructor key and pollutes nothing', () => {
    const body = `{"event_id":"01HXPROTO","object_type":"email","metric":"clicked","timestamp":1715679155,"data":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"prototype":"x","recipient":"dana@example.com","href":"https://www.example.com/pricing"}}`;
    const result = onlyEvent(body);
    expect(Object.hasOwn(result.properties, '__proto__')).toBe(false);
    expect(Object.hasOwn(result.properties, 'constructor')).toBe(false);
    expect(Object.hasOwn(result.properties, 'prototype')).toBe(false);
    expect(Object.getPrototypeOf(result.properties)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(result.properties.url).toBe('https://www.example.com/pricing');
  });

  it('ignores an e-mail hidden behind the prototype (identifiers.__proto__.email)', () => {
    const body = `{"event_id":"01HXPROTO2","object_type":"email","metric":"opened","timestamp":1715679155,"data":{"identifiers":{"__proto__":{"email":"x@example.com"}}}}`;
    expect(ignoredReason(body)).toBe('no_email');
  });

  it('keeps scalar values of unknown data fields and nested ones as JSON text', () => {
    const result = onlyEvent(event({}, { journey_id: 'j_1', trigger_event_id: null, tags: ['q2', 'logistics'], is_test: false }));
    expect(result.properties).toMatchObject({ journey_id: 'j_1', trigger_event_id: null, tags: '["q2","logistics"]', is_test: false });
  });
});
