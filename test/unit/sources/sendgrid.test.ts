import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import { maxFieldsPerEvent, maxStoredStringLength } from '../../../lib/sources/fields.ts';
import {
  sendgrid,
  sendgridBody,
  sendgridMaxAgeSeconds,
  sendgridMaxFutureSeconds,
  sendgridSignatureHeader,
  sendgridTimestampHeader,
  signSendgridDelivery,
} from '../../../lib/sources/sendgrid.ts';
import type { WebhookRequest } from '../../../lib/sources/source.ts';
import { refusal, webhookRequest as request } from '../../setup/webhook-request.ts';

function fixture(name: string): any {
  return JSON.parse(readFileSync(new URL(`../../fixtures/sendgrid/${name}.json`, import.meta.url), 'utf8'));
}

const webhook = fixture('event_webhook');
const official = webhook.official_vectors_from_sendgrid_nodejs.single;
const officialMore = fixture('official_vectors');
const examples: Record<string, unknown>[] = fixture('every_event_type').events;
const testKey = { publicKey: webhook.test_keypair.publicKeyBase64Der as string, privateKey: createPrivateKey(webhook.test_keypair.privateKeyPkcs8Pem) };

/** A delivery as SendGrid sends it: headers spelled as SendGrid spells them. */
function delivery(body: string, timestamp: string, signature: string, contentType = 'application/json'): WebhookRequest {
  return request(body, { 'Content-Type': contentType, [sendgridSignatureHeader]: signature, [sendgridTimestampHeader]: timestamp });
}

/** Signed with the fixture's test key pair. */
function signed(body: string, timestamp: number | string): WebhookRequest {
  return delivery(body, String(timestamp), signSendgridDelivery({ privateKey: testKey.privateKey, timestamp, body }));
}

const atSeconds = (seconds: number | string) => new Date(Number(seconds) * 1000);

const verifyWith = (key: string, req: WebhookRequest, now: Date) => sendgrid.verify(req, { SENDGRID_WEBHOOK_PUBLIC_KEY: key }, now);

function normalize(events: unknown[]) {
  return sendgrid.normalize(request(sendgridBody(events)));
}

function onlyEvent(event: Record<string, unknown>): NormalizedEvent {
  const { events, ignored } = normalize([event]);
  expect(ignored).toEqual([]);
  expect(events).toHaveLength(1);
  return events[0]!;
}

const example = (id: string) => examples.find((event) => event.sg_event_id === id)!;
const base = { email: 'lee@example.com', timestamp: 1715680800, event: 'delivered', sg_event_id: 'ZXZ0LTE', sg_message_id: 'msg.1' };

describe('sendgrid source: the official sendgrid-nodejs vectors', () => {
  it('accepts the single-event vector, received at its own time', () => {
    expect(() =>
      verifyWith(official.publicKeyBase64Der, delivery(official.rawBody, official.timestamp, official.signature), atSeconds(official.timestamp)),
    ).not.toThrow();
  });

  it('refuses the single-event vector without its trailing \\r\\n: the signature covers the bytes exactly', () => {
    const trimmed = official.rawBody.replace(/\r\n$/, '');
    const error = refusal(() =>
      verifyWith(official.publicKeyBase64Der, delivery(trimmed, official.timestamp, official.signature), atSeconds(official.timestamp)),
    );
    expect(error.status).toBe(401);
  });

  it('accepts the multi-event vector (\\r\\n after each event)', () => {
    const vector = officialMore.multiple;
    expect(() =>
      verifyWith(vector.publicKeyBase64Der, delivery(vector.rawBody, vector.timestamp, vector.signature), atSeconds(vector.timestamp)),
    ).not.toThrow();
  });

  it('accepts the first spec version (an object body), which normalize then refuses as not an array', () => {
    const vector = officialMore.legacyObject;
    const req = delivery(vector.rawBody, vector.timestamp, vector.signature);
    expect(() => verifyWith(vector.publicKeyBase64Der, req, atSeconds(vector.timestamp))).not.toThrow();
    expect(refusal(() => sendgrid.normalize(req))).toMatchObject({ status: 400, detail: 'body must be a JSON array of SendGrid events' });
  });

  it('refuses, with 401, the spec cases: another key, another payload, a changed signature, a timestamp that is not one', () => {
    const vector = officialMore.legacyObject;
    const now = atSeconds(vector.timestamp);
    const changedSignature = `${vector.signature.slice(0, -7)}3j/0=`;
    expect(changedSignature).not.toBe(vector.signature);
    const cases = [
      () => verifyWith(vector.otherPublicKeyBase64Der, delivery(vector.rawBody, vector.timestamp, vector.signature), now),
      () => verifyWith(vector.publicKeyBase64Der, delivery('payload', vector.timestamp, vector.signature), now),
      () => verifyWith(vector.publicKeyBase64Der, delivery(vector.rawBody, vector.timestamp, changedSignature), now),
      () => verifyWith(vector.publicKeyBase64Der, delivery(vector.rawBody, 'timestamp', vector.signature), now),
    ];
    for (const act of cases) expect(refusal(act).status).toBe(401);
  });

  it('normalizes the single-event vector: a dropped event of hello@world.com at its own time', () => {
    const { events, ignored } = sendgrid.normalize(delivery(official.rawBody, official.timestamp, official.signature));
    expect(ignored).toEqual([]);
    expect(events).toEqual([
      {
        leadKey: 'hello@world.com',
        type: 'email_dropped',
        occurredAt: '2020-09-14T19:41:32.000Z',
        source: 'sendgrid',
        sourceEventId: 'ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA',
        properties: {
          messageId: 'LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0',
          smtpId: '<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>',
          reason: 'Bounced Address',
        },
        raw: JSON.parse(official.rawBody)[0],
      },
    ]);
  });

  it('normalizes the multi-event vector: a blocked bounce is soft, with its SMTP code and status', () => {
    const vector = officialMore.multiple;
    const { events } = sendgrid.normalize(delivery(vector.rawBody, vector.timestamp, vector.signature));
    expect(events.map((event) => event.type)).toEqual(['email_processed', 'email_bounced']);
    expect(events[0]!.properties).toMatchObject({ sendAt: 0 });
    expect(events[1]!.properties).toMatchObject({ bounce: 'soft', bounceType: 'blocked', status: '5.2.2', smtpCode: 552, ip: '167.89.101.76', tls: 1 });
    expect(events[1]!.occurredAt).toBe('2021-04-28T23:05:47.000Z');
  });
});

describe('sendgrid source: verification', () => {
  const body = sendgridBody([base]);
  const timestamp = 1_715_680_900;
  const now = atSeconds(timestamp);

  it('declares its route secret', () => {
    expect(sendgrid.name).toBe('sendgrid');
    expect(sendgrid.requiredSecrets).toEqual(['SENDGRID_WEBHOOK_PUBLIC_KEY']);
  });

  it('accepts a delivery signed with the configured key, headers in any case', () => {
    expect(() => verifyWith(testKey.publicKey, signed(body, timestamp), now)).not.toThrow();
    const signature = signSendgridDelivery({ privateKey: testKey.privateKey, timestamp, body });
    const lowerCased = request(body, { 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': String(timestamp) });
    expect(() => verifyWith(testKey.publicKey, lowerCased, now)).not.toThrow();
  });

  it('refuses a missing signature or timestamp header with 401, naming it', () => {
    const signature = signSendgridDelivery({ privateKey: testKey.privateKey, timestamp, body });
    expect(refusal(() => verifyWith(testKey.publicKey, request(body, { [sendgridTimestampHeader]: String(timestamp) }), now))).toMatchObject({
      status: 401,
      detail: expect.stringContaining(sendgridSignatureHeader),
    });
    expect(refusal(() => verifyWith(testKey.publicKey, request(body, { [sendgridSignatureHeader]: signature }), now))).toMatchObject({
      status: 401,
      detail: expect.stringContaining(sendgridTimestampHeader),
    });
  });

  it('refuses a signature over another timestamp, a body changed by one byte, and the same bytes signed by another key', () => {
    const good = signSendgridDelivery({ privateKey: testKey.privateKey, timestamp, body });
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const cases = [
      delivery(body, String(timestamp + 1), good),
      delivery(body.replace('delivered', 'delivereD'), String(timestamp), good),
      delivery(body, String(timestamp), signSendgridDelivery({ privateKey: other.privateKey, timestamp, body })),
    ];
    for (const req of cases) expect(refusal(() => verifyWith(testKey.publicKey, req, now)).status).toBe(401);
  });

  it('refuses signatures that are not base64 DER ECDSA with 401, never a crash', () => {
    for (const signature of ['not base64!', 'AAAA', 'A'.repeat(500), Buffer.from('x'.repeat(70)).toString('base64'), '====']) {
      expect(refusal(() => verifyWith(testKey.publicKey, delivery(body, String(timestamp), signature), now)).status).toBe(401);
    }
  });

  it('refuses timestamps that are not plain unix seconds', () => {
    for (const bad of ['1.7e9', '-1715680900', ' 1715680900', '0x663', '1715680900000000000']) {
      expect(refusal(() => verifyWith(testKey.publicKey, signed(body, bad), now)).status).toBe(401);
    }
  });

  it(`accepts a signature up to ${sendgridMaxAgeSeconds / 3600} h old (a SendGrid retry keeps retrying for 24 h) and refuses an older one`, () => {
    expect(() => verifyWith(testKey.publicKey, signed(body, timestamp - sendgridMaxAgeSeconds), now)).not.toThrow();
    expect(refusal(() => verifyWith(testKey.publicKey, signed(body, timestamp - sendgridMaxAgeSeconds - 1), now))).toMatchObject({
      status: 401,
      detail: expect.stringMatching(/old/),
    });
  });

  it(`accepts a timestamp up to ${sendgridMaxFutureSeconds} s ahead of our clock and refuses one further ahead`, () => {
    expect(() => verifyWith(testKey.publicKey, signed(body, timestamp + sendgridMaxFutureSeconds), now)).not.toThrow();
    expect(refusal(() => verifyWith(testKey.publicKey, signed(body, timestamp + sendgridMaxFutureSeconds + 1), now))).toMatchObject({
      status: 401,
      detail: expect.stringMatching(/future/),
    });
  });

  it('answers 404 while the key is not configured', () => {
    expect(refusal(() => sendgrid.verify(signed(body, timestamp), {}, now)).status).toBe(404);
  });

  it('accepts the key with PEM armor and line breaks, as pasted from a file', () => {
    const wrapped = testKey.publicKey.match(/.{1,64}/g)!.join('\n');
    expect(() => verifyWith(`-----BEGIN PUBLIC KEY-----\n${wrapped}\n-----END PUBLIC KEY-----\n`, signed(body, timestamp), now)).not.toThrow();
  });

  it('treats an unusable configured key as an unconfigured route: 404 for every delivery, a valid one included', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const ed25519 = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const truncated = testKey.publicKey.slice(0, 40);
    for (const key of ['not a key at all', 'AAAA', truncated, rsa, p384, ed25519, webhook.test_keypair.privateKeyPkcs8Pem]) {
      const error = refusal(() => verifyWith(key, signed(body, timestamp), now));
      expect(error).toMatchObject({ status: 404, code: 'not_found' });
      // The key never reaches the sender's answer.
      expect(error.detail).not.toContain(key.slice(0, 20));
    }
  });

  it('signs and verifies a body it built itself: the signing helper and the verifier agree byte for byte', () => {
    const batch = sendgridBody(examples);
    expect(batch.endsWith('}]\r\n')).toBe(true);
    expect(batch.split('},\r\n{')).toHaveLength(examples.length);
    expect(() => verifyWith(testKey.publicKey, signed(batch, timestamp), now)).not.toThrow();
  });
});

describe('sendgrid source: mapping every event type', () => {
  const { events, ignored } = normalize(examples);
  const byId = (id: string) => events.find((event) => event.sourceEventId === id)!;

  it('stores every example event, none ignored, in order, each under its sg_event_id', () => {
    expect(ignored).toEqual([]);
    expect(events.map((event) => event.sourceEventId)).toEqual(examples.map((event) => event.sg_event_id));
    expect(events.every((event) => event.source === 'sendgrid')).toBe(true);
  });

  it('maps each SendGrid event name to its type', () => {
    expect(Object.fromEntries(examples.map((raw) => [`${String(raw.event)}:${String(raw.sg_event_id)}`, byId(String(raw.sg_event_id)).type]))).toEqual({
      'processed:cHJvY2Vzc2VkLWxlZS0wMDAx': 'email_processed',
      'delivered:ZGVsaXZlcmVkLWxlZS0wMDAy': 'email_delivered',
      'open:b3Blbi1sZWUtMDAwMw': 'email_opened',
      'open:b3Blbi1sZWUtbWFjaGluZS0wMDA0': 'email_opened',
      'click:Y2xpY2stbGVlLTAwMDU': 'email_clicked',
      'processed:cHJvY2Vzc2VkLWhhcmQtMDAwNg': 'email_processed',
      'bounce:Ym91bmNlLWhhcmQtMDAwNw': 'email_bounced',
      'bounce:YmxvY2tlZC0wMDA4': 'email_bounced',
      'deferred:ZGVmZXJyZWQtMDAwOQ': 'email_deferred',
      'dropped:ZHJvcHBlZC0wMDEw': 'email_dropped',
      'spamreport:c3BhbXJlcG9ydC0wMDEx': 'email_spam_reported',
      'unsubscribe:dW5zdWJzY3JpYmUtMDAxMg': 'email_unsubscribed',
      'group_unsubscribe:Z3JvdXBfdW5zdWJzY3JpYmUtMDAxMw': 'email_unsubscribed',
      'group_resubscribe:Z3JvdXBfcmVzdWJzY3JpYmUtMDAxNA': 'email_group_resubscribe',
    });
  });

  it('takes occurredAt from the event timestamp (unix seconds), never from receipt', () => {
    expect(byId('cHJvY2Vzc2VkLWxlZS0wMDAx').occurredAt).toBe('2024-05-14T10:00:00.000Z');
    expect(byId('Y2xpY2stbGVlLTAwMDU').occurredAt).toBe('2024-05-14T10:06:00.000Z');
  });

  it('a bounce of type "bounce" is hard, with its reason, status, SMTP code and classification', () => {
    expect(byId('Ym91bmNlLWhhcmQtMDAwNw').properties).toEqual({
      messageId: '14c5d75ce94.dfd.64b469.filter0001.16648.5515E0B88.0',
      smtpId: '<14c5d75ce94.dfd.64b469@ismtpd-555>',
      category: 'cat facts',
      ip: '168.1.1.1',
      tls: 1,
      reason: '550 5.1.1 The email account that you tried to reach does not exist.',
      status: '5.1.1',
      smtpCode: 550,
      bounce: 'hard',
      bounceType: 'bounce',
      bounceClassification: 'Invalid Address',
    });
  });

  it('a bounce of type "blocked" is soft', () => {
    expect(byId('YmxvY2tlZC0wMDA4').properties).toMatchObject({
      bounce: 'soft',
      bounceType: 'blocked',
      bounceClassification: 'Reputation',
      smtpCode: 421,
      status: '4.7.0',
    });
  });

  it('a deferral is not a bounce: email_deferred with its response, SMTP code and attempt as a number', () => {
    const deferred = byId('ZGVmZXJyZWQtMDAwOQ');
    expect(deferred.properties).toMatchObject({ response: '400 try again later', smtpCode: 400, attempt: 5 });
    expect(deferred.properties).not.toHaveProperty('bounce');
  });

  it("a bounce without a type is SendGrid's permanent bounce (hard); a type it does not document is soft", () => {
    expect(onlyEvent({ ...base, event: 'bounce', reason: '550 no such user' }).properties.bounce).toBe('hard');
    expect(onlyEvent({ ...base, event: 'bounce', type: 'expired' }).properties).toMatchObject({ bounce: 'soft', bounceType: 'expired' });
  });

  it('a click keeps its url and link position; opens say whether the open was a machine (Apple MPP)', () => {
    expect(byId('Y2xpY2stbGVlLTAwMDU').properties).toMatchObject({ url: 'https://www.example.com/pricing?utm_source=sendgrid', urlIndex: 1, urlType: 'html' });
    expect(byId('b3Blbi1sZWUtMDAwMw').properties).toMatchObject({ machineOpen: false, userAgent: expect.stringContaining('MSIE') });
    expect(byId('b3Blbi1sZWUtbWFjaGluZS0wMDA0').properties).toMatchObject({ machineOpen: true });
  });

  it('an unsubscribe is global; a group unsubscribe and resubscribe name their suppression group', () => {
    expect(byId('dW5zdWJzY3JpYmUtMDAxMg').properties).toMatchObject({ scope: 'global' });
    expect(byId('Z3JvdXBfdW5zdWJzY3JpYmUtMDAxMw').properties).toMatchObject({ scope: 'group', asmGroupId: 10, url: 'http://www.sendgrid.com/' });
    expect(byId('Z3JvdXBfcmVzdWJzY3JpYmUtMDAxNA').properties).toMatchObject({ scope: 'group', asmGroupId: 10 });
  });

  it('keeps custom args (unknown top-level keys) as given, and categories as one string', () => {
    expect(byId('cHJvY2Vzc2VkLWxlZS0wMDAx').properties).toEqual({
      messageId: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0',
      smtpId: '<14c5d75ce93.dfd.64b469@ismtpd-555>',
      category: 'cat facts, q2-nurture',
      sendAt: 0,
      lead_id: 'crm-4711',
      campaign: 'spring-launch',
    });
  });

  it('keeps each raw event as received', () => {
    expect(byId('Y2xpY2stbGVlLTAwMDU').raw).toEqual(example('Y2xpY2stbGVlLTAwMDU'));
  });

  it('maps the same delivery to the same events every time (a redelivery hits the same keys)', () => {
    expect(normalize(examples).events).toEqual(events);
  });
});

describe('sendgrid source: odd events', () => {
  it('ignores an event without sg_event_id (it could not be deduplicated) and stores the rest', () => {
    const { sg_event_id: _id, ...withoutId } = base;
    const { events, ignored } = normalize([withoutId, { ...base, sg_event_id: '' }, { ...base, sg_event_id: 42 }, base]);
    expect(events.map((event) => event.sourceEventId)).toEqual(['ZXZ0LTE']);
    expect(ignored).toEqual([{ reason: 'no_sg_event_id' }, { reason: 'no_sg_event_id' }, { reason: 'no_sg_event_id' }]);
  });

  it('ignores an sg_event_id too long to be a key', () => {
    expect(normalize([{ ...base, sg_event_id: 'x'.repeat(201) }]).ignored).toEqual([{ reason: 'bad_sg_event_id' }]);
  });

  it('ignores unknown event types by name, without echoing names that are not plain identifiers', () => {
    const { events, ignored } = normalize([
      { ...base, event: 'account_status_change', sg_event_id: 'a' },
      { ...base, event: '__proto__', sg_event_id: 'b' },
      { ...base, event: 'Open', sg_event_id: 'c' },
      { ...base, event: 7, sg_event_id: 'd' },
      { ...base, event: undefined, sg_event_id: 'e' },
    ]);
    expect(events).toEqual([]);
    expect(ignored).toEqual([
      { sourceEventId: 'a', reason: 'unknown_event:account_status_change' },
      { sourceEventId: 'b', reason: 'unknown_event:other' },
      { sourceEventId: 'c', reason: 'unknown_event:other' },
      { sourceEventId: 'd', reason: 'no_event_type' },
      { sourceEventId: 'e', reason: 'no_event_type' },
    ]);
  });

  it('ignores an event without a usable e-mail, and lower-cases the one it uses', () => {
    const { events, ignored } = normalize([
      { ...base, email: undefined, sg_event_id: 'a' },
      { ...base, email: 'not-an-address', sg_event_id: 'b' },
      { ...base, email: ['lee@example.com'], sg_event_id: 'c' },
      { ...base, email: '  Lee.Smith@Example.COM ', sg_event_id: 'd' },
    ]);
    expect(ignored.map((one) => one.reason)).toEqual(['no_email', 'no_email', 'no_email']);
    expect(events.map((event) => event.leadKey)).toEqual(['lee.smith@example.com']);
  });

  it('ignores an event whose timestamp is missing or not a plausible unix time; digits as a string are read', () => {
    const { events, ignored } = normalize([
      { ...base, timestamp: undefined, sg_event_id: 'a' },
      { ...base, timestamp: '2024-05-14T10:00:00Z', sg_event_id: 'b' },
      { ...base, timestamp: -5, sg_event_id: 'c' },
      { ...base, timestamp: 1e15, sg_event_id: 'd' },
      { ...base, timestamp: null, sg_event_id: 'e' },
      { ...base, timestamp: '1715680800', sg_event_id: 'f' },
      { ...base, timestamp: 1715680800.25, sg_event_id: 'g' },
    ]);
    expect(ignored).toEqual(['a', 'b', 'c', 'd', 'e'].map((id) => ({ sourceEventId: id, reason: 'bad_timestamp' })));
    expect(events.map((event) => event.occurredAt)).toEqual(['2024-05-14T10:00:00.000Z', '2024-05-14T10:00:00.250Z']);
  });

  it('counts an event repeated within one batch once', () => {
    const { events, ignored } = normalize([base, { ...base }, { ...base, sg_event_id: 'other' }]);
    expect(events.map((event) => event.sourceEventId)).toEqual(['ZXZ0LTE', 'other']);
    expect(ignored).toEqual([{ sourceEventId: 'ZXZ0LTE', reason: 'duplicate_in_delivery' }]);
  });

  it('copies no __proto__, constructor or prototype custom arg, and custom args never override SendGrid fields', () => {
    const body = `[{"email":"lee@example.com","timestamp":1715680800,"event":"bounce","type":"blocked","sg_event_id":"p1","__proto__":{"polluted":true},"constructor":"x","prototype":"y","bounce":"hard","messageId":"forged","plan":"pro"}]\r\n`;
    const { events } = sendgrid.normalize(request(body));
    const properties = events[0]!.properties;
    expect(Object.keys(properties).sort()).toEqual(['bounce', 'bounceType', 'plan'].sort());
    expect(properties).toEqual({ bounce: 'soft', bounceType: 'blocked', plan: 'pro' });
    expect(Object.getPrototypeOf(properties)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Nor on an event where SendGrid did not set the field: a custom arg cannot pose as a hard bounce.
    expect(onlyEvent({ ...base, bounce: 'hard' }).properties).not.toHaveProperty('bounce');
  });

  it(`keeps at most ${maxFieldsPerEvent} properties, SendGrid's own first, and drops keys too long to be a rule's`, () => {
    const custom = Object.fromEntries(Array.from({ length: 300 }, (_, index) => [`arg_${index}`, index]));
    const properties = onlyEvent({ ...base, ...custom, ['k'.repeat(201)]: 'long key' }).properties;
    expect(Object.keys(properties)).toHaveLength(maxFieldsPerEvent);
    expect(properties.messageId).toBe('msg.1');
    expect(Object.keys(properties).some((key) => key.length > 200)).toBe(false);
  });

  it('flattens nested custom args to JSON text and keeps unicode as given', () => {
    const properties = onlyEvent({
      ...base,
      email: 'zoë.ñúñez@example.com',
      campaign: 'Frühjahr 春 🚀',
      meta: { a: [1, 2] },
      flag: true,
      nothing: null,
    }).properties;
    expect(properties).toMatchObject({ campaign: 'Frühjahr 春 🚀', meta: '{"a":[1,2]}', flag: true, nothing: null });
  });

  it(`cuts strings longer than ${maxStoredStringLength} characters without splitting a character, keeping raw whole`, () => {
    const long = `${'a'.repeat(maxStoredStringLength - 1)}😀tail`;
    const event = onlyEvent({ ...base, event: 'bounce', reason: long, note: long, category: ['x'.repeat(5000), 'y'] });
    expect(event.properties.reason).toBe('a'.repeat(maxStoredStringLength - 1));
    expect(event.properties.note).toBe('a'.repeat(maxStoredStringLength - 1));
    expect(String(event.properties.category).length).toBeLessThanOrEqual(maxStoredStringLength);
    expect((event.raw as Record<string, unknown>).reason).toBe(long);
  });

  it('reads a category given as a string, an array of one, or an array with junk in it', () => {
    expect(onlyEvent({ ...base, category: 'newsletter' }).properties.category).toBe('newsletter');
    expect(onlyEvent({ ...base, category: ['newsletter'] }).properties.category).toBe('newsletter');
    expect(onlyEvent({ ...base, category: [1, 'a', null, ' b '] }).properties.category).toBe('a, b');
    expect(onlyEvent({ ...base, category: [] }).properties).not.toHaveProperty('category');
  });
});

describe('sendgrid source: deliveries', () => {
  it('accepts an empty array as an empty delivery (nothing to store, nothing for SendGrid to retry)', () => {
    expect(sendgrid.normalize(request('[]\r\n'))).toEqual({ events: [], ignored: [] });
  });

  it('refuses a body that is not JSON, not an array, or holds something other than event objects, with 400', () => {
    for (const [body, detail] of [
      ['[{"email":', /not valid JSON/],
      ['', /not valid JSON/],
      ['{"email":"lee@example.com","event":"open"}', /JSON array/],
      ['"events"', /JSON array/],
      [`[${JSON.stringify(base)}, 5]`, /^\[1\]: must be a JSON object/],
      ['[null]', /^\[0\]: must be a JSON object/],
      ['[[]]', /^\[0\]: must be a JSON object/],
    ] as const) {
      expect(refusal(() => sendgrid.normalize(request(body)))).toMatchObject({ status: 400, detail: expect.stringMatching(detail) });
    }
  });

  it('refuses another content type with 400 and accepts application/json with a charset', () => {
    const body = sendgridBody([base]);
    expect(refusal(() => sendgrid.normalize(request(body, { 'content-type': 'text/plain' })))).toMatchObject({ status: 400, code: 'unsupported_media_type' });
    expect(refusal(() => sendgrid.normalize(request(body, {})))).toMatchObject({ status: 400, code: 'unsupported_media_type' });
    expect(sendgrid.normalize(request(body, { 'content-type': 'application/json; charset=utf-8' })).events).toHaveLength(1);
  });

  it('normalizes a 1,000-event batch over 300 leads, every event kept', () => {
    const batch = Array.from({ length: 1000 }, (_, index) => ({
      ...base,
      email: `lead-${index % 300}@example.com`,
      sg_event_id: `evt-${index}`,
      timestamp: base.timestamp + index,
    }));
    const { events, ignored } = normalize(batch);
    expect(ignored).toEqual([]);
    expect(events).toHaveLength(1000);
    expect(new Set(events.map((event) => event.leadKey)).size).toBe(300);
  });
});
