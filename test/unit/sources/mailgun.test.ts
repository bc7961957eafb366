import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import { maxJsonDepth } from '../../../lib/http/request.ts';
import { maxStoredStringLength } from '../../../lib/sources/fields.ts';
import {
  mailgun,
  mailgunEventTime,
  mailgunFutureToleranceSeconds,
  mailgunTimestampToleranceSeconds,
  maxUserVariables,
  signMailgun,
} from '../../../lib/sources/mailgun.ts';
import type { IgnoredEvent, WebhookRequest } from '../../../lib/sources/source.ts';
import { refusal } from '../../setup/webhook-request.ts';

interface FixtureDelivery {
  rawBody: string;
  body: { signature: { token: string; timestamp: string; signature: string }; 'event-data': Record<string, any> };
  idempotencyKey: string;
}
// test/fixtures/mailgun/webhooks.json: a fake key, and deliveries signed with it.
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/mailgun/webhooks.json', import.meta.url), 'utf8')) as {
  webhookSigningKey: string;
  deliveries: Record<string, FixtureDelivery>;
};
const key = fixture.webhookSigningKey;
const secrets = { MAILGUN_WEBHOOK_SIGNING_KEY: key };
const deliveries = fixture.deliveries;

/** A request as the handler builds it; `contentType` null sends no content-type header. */
function request(body: string | Buffer, contentType: string | null = 'application/json'): WebhookRequest {
  return {
    method: 'POST',
    body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    header: (name) => (name.toLowerCase() === 'content-type' ? (contentType ?? undefined) : undefined),
    query: {},
    pathParameters: {},
  };
}

/** The fixture delivery's receipt time: one second after Mailgun signed it. */
function receivedAt(delivery: FixtureDelivery, offsetSeconds = 1): Date {
  return new Date((Number(delivery.body.signature.timestamp) + offsetSeconds) * 1000);
}

/** A delivery of our own, signed with `signingKey` at `timestamp` (our vectors: the README has no example of these cases). */
function signed(eventData: unknown, options: { timestamp?: number; token?: string; signingKey?: string; extra?: Record<string, unknown> } = {}): string {
  const timestamp = String(options.timestamp ?? 1715678466);
  const token = options.token ?? 'f'.repeat(50);
  const signature = signMailgun({ key: options.signingKey ?? key, timestamp, token });
  return JSON.stringify({ signature: { token, timestamp, signature, ...options.extra }, 'event-data': eventData });
}

function onlyEvent(body: string): NormalizedEvent {
  const { events, ignored } = mailgun.normalize(request(body));
  expect(ignored).toEqual([]);
  expect(events).toHaveLength(1);
  return events[0]!;
}

function onlyIgnored(body: string): IgnoredEvent {
  const { events, ignored } = mailgun.normalize(request(body));
  expect(events).toEqual([]);
  expect(ignored).toHaveLength(1);
  return ignored[0]!;
}

/** An event-data object as Mailgun sends it, with `overrides` on top. */
function eventData(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { event: 'delivered', id: 'evt-1', timestamp: 1715678465.912345, recipient: 'lee@example.com', ...overrides };
}

describe('mailgun source: verification', () => {
  for (const [name, delivery] of Object.entries(deliveries)) {
    it(`accepts the README's signed ${name} delivery (the official HMAC vector)`, () => {
      expect(() => mailgun.verify(request(delivery.rawBody), secrets, receivedAt(delivery))).not.toThrow();
    });
  }

  const delivered = deliveries.delivered!;
  const at = receivedAt(delivered);

  it('refuses a signature made with another key: 406, which stops Mailgun retrying', () => {
    const body = signed(delivered.body['event-data'], { signingKey: 'another-key-0000000000000000000000' });
    expect(refusal(() => mailgun.verify(request(body), secrets, at))).toMatchObject({ status: 406, code: 'not_acceptable' });
  });

  it('refuses a delivery whose token or timestamp was changed after signing', () => {
    const changedToken = delivered.rawBody.replace(delivered.body.signature.token, 'a'.repeat(50));
    const changedTime = delivered.rawBody.replace('"timestamp":"1715678466"', '"timestamp":"1715678467"');
    expect(refusal(() => mailgun.verify(request(changedToken), secrets, at)).status).toBe(406);
    expect(refusal(() => mailgun.verify(request(changedTime), secrets, at)).status).toBe(406);
  });

  it('refuses a missing signature object or field with 406', () => {
    const data = delivered.body['event-data'];
    const { signature } = delivered.body;
    const bodies = [
      JSON.stringify({ 'event-data': data }),
      JSON.stringify({ signature: 'e51e8b02', 'event-data': data }),
      JSON.stringify({ signature: { ...signature, token: undefined }, 'event-data': data }),
      JSON.stringify({ signature: { ...signature, timestamp: undefined }, 'event-data': data }),
      JSON.stringify({ signature: { ...signature, signature: undefined }, 'event-data': data }),
      JSON.stringify({ signature: { ...signature, signature: 12345 }, 'event-data': data }),
      JSON.stringify({ signature: { ...signature, token: '' }, 'event-data': data }),
      // Correctly signed, yet refused: printable ASCII only, bounded, as the token becomes part of a DynamoDB key.
      signed(data, { token: 'ü'.repeat(50) }),
      signed(data, { token: 'a'.repeat(257) }),
    ];
    for (const body of bodies) {
      expect(
        refusal(() => mailgun.verify(request(body), secrets, at)),
        body.slice(0, 80),
      ).toMatchObject({ status: 406 });
    }
  });

  it('refuses signatures of the wrong length or alphabet without throwing anything but a 406', () => {
    const { signature } = delivered.body;
    for (const bad of [signature.signature.slice(0, 63), `${signature.signature}00`, `${signature.signature.slice(0, 62)}zz`, '', 'ä'.repeat(64)]) {
      const body = JSON.stringify({ signature: { ...signature, signature: bad }, 'event-data': {} });
      expect(refusal(() => mailgun.verify(request(body), secrets, at)).status).toBe(406);
    }
  });

  it('accepts the hex signature in upper case and the timestamp as a JSON number', () => {
    const { signature, 'event-data': data } = delivered.body;
    const upper = JSON.stringify({ signature: { ...signature, signature: signature.signature.toUpperCase() }, 'event-data': data });
    const numeric = JSON.stringify({ signature: { ...signature, timestamp: 1715678466 }, 'event-data': data });
    expect(() => mailgun.verify(request(upper), secrets, at)).not.toThrow();
    expect(() => mailgun.verify(request(numeric), secrets, at)).not.toThrow();
  });

  it('refuses a timestamp that is not plain digits (they are part of what was signed)', () => {
    for (const timestamp of ['1715678466.0', ' 1715678466', '-1715678466', '1.7e9', 1715678466.5, true]) {
      const body = signed({}, { extra: { timestamp } });
      expect(refusal(() => mailgun.verify(request(body), secrets, at)).status).toBe(406);
    }
  });

  it(`accepts a retry that reuses a signature up to ${mailgunTimestampToleranceSeconds / 3600} h old, past Mailgun's 8 h schedule`, () => {
    const signedAt = Number(delivered.body.signature.timestamp);
    const eightHoursFifteen = new Date((signedAt + 8.25 * 3600) * 1000);
    const edge = new Date((signedAt + mailgunTimestampToleranceSeconds) * 1000);
    expect(() => mailgun.verify(request(delivered.rawBody), secrets, eightHoursFifteen)).not.toThrow();
    expect(() => mailgun.verify(request(delivered.rawBody), secrets, edge)).not.toThrow();
  });

  it('refuses a signature older than the tolerance, or too far in the future, with 406', () => {
    const signedAt = Number(delivered.body.signature.timestamp);
    const tooLate = new Date((signedAt + mailgunTimestampToleranceSeconds + 1) * 1000);
    const tooEarly = new Date((signedAt - mailgunFutureToleranceSeconds - 1) * 1000);
    const slightlyEarly = new Date((signedAt - mailgunFutureToleranceSeconds) * 1000);
    expect(refusal(() => mailgun.verify(request(delivered.rawBody), secrets, tooLate))).toMatchObject({ status: 406, detail: expect.stringContaining('old') });
    expect(refusal(() => mailgun.verify(request(delivered.rawBody), secrets, tooEarly))).toMatchObject({
      status: 406,
      detail: expect.stringContaining('future'),
    });
    expect(() => mailgun.verify(request(delivered.rawBody), secrets, slightlyEarly)).not.toThrow();
  });

  it('subaccounts: accepts a delivery whose parent-signature matches our key though signature does not (our vector)', () => {
    const timestamp = '1715678466';
    const token = 'c'.repeat(50);
    const body = JSON.stringify({
      signature: {
        token,
        timestamp,
        signature: signMailgun({ key: 'subaccount-key-we-do-not-hold-000', timestamp, token }),
        'parent-signature': signMailgun({ key, timestamp, token }),
      },
      'event-data': eventData(),
    });
    expect(() => mailgun.verify(request(body), secrets, at)).not.toThrow();
  });

  it('subaccounts: accepts the subaccount signature when the parent key is one we do not hold', () => {
    const body = signed(eventData(), {
      extra: { 'parent-signature': signMailgun({ key: 'primary-key-we-do-not-hold-00000', timestamp: '1715678466', token: 'f'.repeat(50) }) },
    });
    expect(() => mailgun.verify(request(body), secrets, at)).not.toThrow();
  });

  it('subaccounts: refuses when neither signature nor parent-signature matches our key', () => {
    const timestamp = '1715678466';
    const token = 'c'.repeat(50);
    const body = JSON.stringify({
      signature: {
        token,
        timestamp,
        signature: signMailgun({ key: 'subaccount-key-we-do-not-hold-000', timestamp, token }),
        'parent-signature': signMailgun({ key: 'primary-key-we-do-not-hold-00000', timestamp, token }),
      },
      'event-data': eventData(),
    });
    expect(refusal(() => mailgun.verify(request(body), secrets, at)).status).toBe(406);
  });

  it('answers 400 for what cannot be a Mailgun JSON delivery at all: content type, syntax, shape, absurd nesting', () => {
    expect(refusal(() => mailgun.verify(request(delivered.rawBody, 'multipart/form-data; boundary=x'), secrets, at))).toMatchObject({ status: 400 });
    expect(refusal(() => mailgun.verify(request(delivered.rawBody, null), secrets, at))).toMatchObject({ status: 400 });
    expect(refusal(() => mailgun.verify(request('{"signature": {'), secrets, at))).toMatchObject({ status: 400, code: 'bad_request' });
    expect(refusal(() => mailgun.verify(request('[1, 2]'), secrets, at))).toMatchObject({ status: 400 });
    expect(refusal(() => mailgun.verify(request('"text"'), secrets, at))).toMatchObject({ status: 400 });
    const deep = `{"signature": {}, "event-data": {"user-variables": {"x": ${'['.repeat(200_000)}${']'.repeat(200_000)}}}}`;
    expect(refusal(() => mailgun.verify(request(deep), secrets, at))).toMatchObject({ status: 400, detail: expect.stringContaining(`${maxJsonDepth}`) });
  });

  it('accepts application/json with a charset parameter', () => {
    expect(() => mailgun.verify(request(delivered.rawBody, 'application/json; charset=utf-8'), secrets, at)).not.toThrow();
  });

  it('answers 404 while MAILGUN_WEBHOOK_SIGNING_KEY is unset', () => {
    expect(refusal(() => mailgun.verify(request(delivered.rawBody), {}, at)).status).toBe(404);
  });
});

describe('mailgun source: replay guard', () => {
  const delivered = deliveries.delivered!;

  it("binds the signature's token to the body's fingerprint until the signature is no longer accepted", () => {
    const guard = mailgun.replayGuard!(request(delivered.rawBody), receivedAt(delivered))!;
    expect(guard.token).toBe(delivered.body.signature.token);
    expect(guard.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const signedAt = Number(delivered.body.signature.timestamp) * 1000;
    expect(guard.expiresAt.getTime()).toBeGreaterThan(signedAt + mailgunTimestampToleranceSeconds * 1000);
    expect(guard.expiresAt.getTime()).toBeLessThanOrEqual(signedAt + (mailgunTimestampToleranceSeconds + 2 * 3600) * 1000);
    expect(guard.refusal()).toMatchObject({ status: 406, code: 'not_acceptable' });
  });

  it('gives a byte-for-byte retry and a re-serialized retry of the same content the same fingerprint', () => {
    const first = mailgun.replayGuard!(request(delivered.rawBody), new Date())!;
    const again = mailgun.replayGuard!(request(Buffer.from(delivered.rawBody)), new Date())!;
    // Same content, other key order and whitespace: what a sender re-rendering its JSON would send.
    const { signature, 'event-data': data } = delivered.body;
    const reordered = JSON.stringify({ 'event-data': Object.fromEntries(Object.entries(data).reverse()), signature }, null, 2);
    const rerendered = mailgun.replayGuard!(request(reordered), new Date())!;
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(rerendered.fingerprint).toBe(first.fingerprint);
  });

  it('gives the same signature over another event-data another fingerprint (the forgery the guard refuses)', () => {
    const original = mailgun.replayGuard!(request(delivered.rawBody), new Date())!;
    const { signature, 'event-data': data } = delivered.body;
    const forged = JSON.stringify({ signature, 'event-data': { ...data, id: 'forged-event', recipient: 'someone.else@example.com' } });
    const guard = mailgun.replayGuard!(request(forged), new Date())!;
    expect(guard.token).toBe(original.token);
    expect(guard.fingerprint).not.toBe(original.fingerprint);
  });
});

describe('mailgun source: the README deliveries', () => {
  const normalized = (name: string) => onlyEvent(deliveries[name]!.rawBody);

  it('delivered: email_delivered for the recipient, keyed by event-data.id, at the event time in ms', () => {
    const event = normalized('delivered');
    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@example.com',
      type: 'email_delivered',
      occurredAt: '2024-05-14T09:21:05.912Z',
      source: 'mailgun',
      sourceEventId: 'W3X5nXWQRk2d7c5yvP1fQg',
    });
    expect(event.properties).toEqual({
      messageId: '20240514092100.3f1b7c0d2e3a4b5c@mg.example.com',
      domain: 'mg.example.com',
      tags: '["mql-nurture"]',
      'v:lead_id': 'lead_01HXZ3K9Q4W8T2M6B7C5D1E0FA',
      'v:tenant_id': 'acme',
    });
    expect(event.raw).toEqual(deliveries.delivered!.body['event-data']);
    expect(event.profile).toBeUndefined();
  });

  it('opened: email_opened with the client details', () => {
    expect(normalized('opened')).toMatchObject({
      type: 'email_opened',
      occurredAt: '2024-05-14T09:31:42.554Z',
      sourceEventId: 'q7DMpbLFRKW1QuiLC9XV4Q',
      properties: { deviceType: 'desktop', clientType: 'browser' },
    });
    expect(normalized('opened').properties).not.toHaveProperty('bot');
  });

  it('clicked: email_clicked with the url the pricing rule reads', () => {
    expect(normalized('clicked')).toMatchObject({
      type: 'email_clicked',
      occurredAt: '2024-05-14T09:32:35.664Z',
      properties: { url: 'https://www.example.com/pricing?utm_source=mailgun' },
    });
  });

  it('failed, permanent, reason bounce: a hard bounce with its SMTP details', () => {
    expect(normalized('failed_permanent')).toMatchObject({
      leadKey: 'bounce.me@example.net',
      type: 'email_bounced',
      sourceEventId: '2kFItcrLQuKTdp-Ia2Xr7w',
      properties: {
        bounce: 'hard',
        severity: 'permanent',
        reason: 'bounce',
        smtpCode: 550,
        enhancedCode: '5.1.1',
        bounceType: 'hard',
        bounceReason: '5.1.1 The email account that you tried to reach does not exist.',
      },
    });
  });

  it('failed, temporary: a soft bounce', () => {
    expect(normalized('failed_temporary')).toMatchObject({
      leadKey: 'slow.mx@example.org',
      type: 'email_bounced',
      properties: { bounce: 'soft', severity: 'temporary', reason: 'generic', smtpCode: 421, bounceReason: '4.7.0 Try again later' },
    });
  });

  it('unsubscribed: email_unsubscribed', () => {
    expect(normalized('unsubscribed')).toMatchObject({
      type: 'email_unsubscribed',
      occurredAt: '2024-05-14T15:20:00.465Z',
      sourceEventId: '89QcW8YuSv6lhSeN3n4qnA',
    });
  });

  it('complained: email_spam_reported', () => {
    expect(normalized('complained')).toMatchObject({
      leadKey: 'angry.reader@example.com',
      type: 'email_spam_reported',
      sourceEventId: 'rIVDlyk8SY-mJauQoYmNFA',
    });
  });

  it('each delivery maps to the same key every time (a redelivery is the same event)', () => {
    for (const [name, delivery] of Object.entries(deliveries)) {
      const first = onlyEvent(delivery.rawBody);
      const again = onlyEvent(delivery.rawBody);
      expect([again.occurredAt, again.sourceEventId], name).toEqual([first.occurredAt, first.sourceEventId]);
      expect(first.sourceEventId).toBe(delivery.idempotencyKey);
    }
  });
});

describe('mailgun source: event mapping beyond the README examples (our vectors)', () => {
  const failed = (overrides: Record<string, unknown>) => onlyEvent(signed(eventData({ event: 'failed', ...overrides })));

  it('accepted and rejected are stored as email_accepted and email_rejected (scored 0 by default)', () => {
    expect(onlyEvent(signed(eventData({ event: 'accepted', flags: { 'is-authenticated': true } }))).type).toBe('email_accepted');
    expect(
      onlyEvent(signed(eventData({ event: 'rejected', reject: { reason: 'Sandbox subdomains are for test purposes only', description: '' } }))),
    ).toMatchObject({
      type: 'email_rejected',
      properties: { rejectReason: 'Sandbox subdomains are for test purposes only' },
    });
  });

  it('suppress-bounce (not attempted: the address bounced before) is a hard bounce', () => {
    expect(
      failed({ severity: 'permanent', reason: 'suppress-bounce', 'delivery-status': { code: 605, message: 'Not delivering to previously bounced address' } })
        .properties,
    ).toMatchObject({
      bounce: 'hard',
      reason: 'suppress-bounce',
      smtpCode: 605,
    });
  });

  it('a permanent failure with an addressing status (5.1.x) is hard whatever the reason', () => {
    expect(failed({ severity: 'permanent', reason: 'generic', 'delivery-status': { code: 550, 'enhanced-code': '5.1.1' } }).properties.bounce).toBe('hard');
  });

  it('a permanent failure that says nothing about the address (retries exhausted, ESP block) is soft', () => {
    for (const reason of ['old', 'espblock', 'generic', 'blacklisted', undefined]) {
      const event = failed({ severity: 'permanent', reason, 'delivery-status': { code: 554, 'enhanced-code': '5.7.1', message: 'blocked' } });
      expect([event.type, event.properties.bounce], String(reason)).toEqual(['email_bounced', 'soft']);
    }
  });

  it('a drop because the person unsubscribed or complained before is email_failed, not a bounce', () => {
    for (const reason of ['suppress-unsubscribe', 'suppress-complaint']) {
      const event = failed({ severity: 'permanent', reason });
      expect(event.type).toBe('email_failed');
      expect(event.properties).not.toHaveProperty('bounce');
      expect(event.properties.reason).toBe(reason);
    }
  });

  it('a failure without a known severity is email_failed with its details', () => {
    expect(failed({ severity: 'internal', reason: 'generic' })).toMatchObject({ type: 'email_failed', properties: { severity: 'internal' } });
    expect(failed({})).toMatchObject({ type: 'email_failed' });
  });

  it('a temporary failure is soft even when Mailgun calls the bounce type hard', () => {
    expect(failed({ severity: 'temporary', 'delivery-status': { 'bounce-type': 'hard' } }).properties.bounce).toBe('soft');
  });

  it('a list member upload is a profile update for the member', () => {
    const event = onlyEvent(
      signed({
        event: 'list_member_uploaded',
        id: 'evt-list',
        timestamp: 1715678465,
        'mailing-list': { address: 'news@mg.example.com' },
        member: { address: 'New.Member@Example.com', name: 'New Member', subscribed: true },
      }),
    );
    expect(event).toMatchObject({
      leadKey: 'new.member@example.com',
      type: 'profile_updated',
      profile: { email: 'new.member@example.com' },
      properties: { memberName: 'New Member', subscribed: true, mailingList: 'news@mg.example.com' },
    });
  });

  it('events that concern no lead are ignored with a reason: stored, routed or inbound mail, list tasks, test mode', () => {
    expect(onlyIgnored(signed(eventData({ event: 'stored', storage: { url: 'https://storage.mailgun.net/x', key: 'k' } })))).toEqual({
      sourceEventId: 'evt-1',
      reason: 'inbound_message',
    });
    expect(onlyIgnored(signed(eventData({ flags: { 'is-routed': true } }))).reason).toBe('inbound_message');
    expect(onlyIgnored(signed(eventData({ event: 'accepted', flags: { 'is-authenticated': false } }))).reason).toBe('inbound_message');
    expect(onlyIgnored(signed(eventData({ event: 'list_uploaded' }))).reason).toBe('list_event');
    expect(onlyIgnored(signed(eventData({ event: 'list_member_upload_error' }))).reason).toBe('list_event');
    expect(onlyIgnored(signed(eventData({ flags: { 'is-test-mode': true } }))).reason).toBe('test_mode');
  });

  it('an unknown event name is ignored, named in the reason only when it is short and plain', () => {
    expect(onlyIgnored(signed(eventData({ event: 'delivery_delayed' }))).reason).toBe('unknown_event:delivery_delayed');
    expect(onlyIgnored(signed(eventData({ event: `x${'y'.repeat(10_000)}` }))).reason).toBe('unknown_event');
    expect(onlyIgnored(signed(eventData({ event: 'ünïcode 🎉' }))).reason).toBe('unknown_event');
    expect(onlyIgnored(signed(eventData({ event: '__proto__' }))).reason).toBe('unknown_event');
    expect(onlyIgnored(signed(eventData({ event: 'constructor' }))).reason).toBe('unknown_event:constructor');
    expect(onlyIgnored(signed(eventData({ event: 'toString' }))).reason).toBe('unknown_event:tostring');
  });

  it('event names are matched without regard to case', () => {
    expect(onlyEvent(signed(eventData({ event: 'Opened' }))).type).toBe('email_opened');
  });

  it('an event without a usable recipient address is ignored as no_email', () => {
    expect(onlyIgnored(signed(eventData({ recipient: undefined }))).reason).toBe('no_email');
    expect(onlyIgnored(signed(eventData({ recipient: 'not an address' }))).reason).toBe('no_email');
    expect(onlyIgnored(signed(eventData({ recipient: ['lee@example.com'] }))).reason).toBe('no_email');
  });

  it('the recipient is normalized into the lead key', () => {
    expect(onlyEvent(signed(eventData({ recipient: '  Lee.Smith@Example.COM ' }))).leadKey).toBe('lee.smith@example.com');
  });

  it('a bot open or click is kept with the bot Mailgun names', () => {
    expect(
      onlyEvent(signed(eventData({ event: 'clicked', url: 'https://x.example.com/', 'client-info': { bot: 'apple', 'device-type': 'desktop' } }))).properties,
    ).toMatchObject({
      bot: 'apple',
      url: 'https://x.example.com/',
    });
  });

  it('keeps campaigns, and only the string tags', () => {
    const event = onlyEvent(signed(eventData({ tags: ['a,b', 7, '', 'c', null, { x: 1 }], campaigns: [{ id: 'c1', name: 'Spring' }, 'junk', { other: 1 }] })));
    expect(JSON.parse(event.properties.tags as string)).toEqual(['a,b', 'c']);
    expect(JSON.parse(event.properties.campaigns as string)).toEqual([{ id: 'c1', name: 'Spring' }]);
  });
});

describe('mailgun source: timestamps', () => {
  it('cuts float seconds to milliseconds from their decimal digits, never rounding up across a second', () => {
    expect(mailgunEventTime(1715678465.912345)).toBe('2024-05-14T09:21:05.912Z');
    expect(mailgunEventTime(1715678465.9999)).toBe('2024-05-14T09:21:05.999Z');
    expect(mailgunEventTime(1715678465.913)).toBe('2024-05-14T09:21:05.913Z');
    expect(mailgunEventTime(1715678465.1)).toBe('2024-05-14T09:21:05.100Z');
    expect(mailgunEventTime(1715678465)).toBe('2024-05-14T09:21:05.000Z');
    expect(mailgunEventTime('1715678465.912345')).toBe('2024-05-14T09:21:05.912Z');
  });

  it('refuses what is not unix seconds', () => {
    for (const value of [undefined, null, -1, 0, Number.NaN, Number.POSITIVE_INFINITY, 1e21, 17156784650000, '2024-05-14T09:21:05Z', '1.7e9', '', true, {}]) {
      expect(mailgunEventTime(value), String(value)).toBeUndefined();
    }
  });

  it('answers 400 for an event whose timestamp, id or name is missing or malformed (Mailgun retries: a format change can be fixed in time)', () => {
    const cases: Record<string, unknown>[] = [
      { timestamp: undefined },
      { timestamp: 'yesterday' },
      { timestamp: -5 },
      { id: undefined },
      { id: 42 },
      { id: '' },
      { id: 'x'.repeat(201) },
      { event: undefined },
      { event: 7 },
      { event: '  ' },
    ];
    for (const overrides of cases) {
      expect(
        refusal(() => mailgun.normalize(request(signed(eventData(overrides))))),
        JSON.stringify(overrides),
      ).toMatchObject({ status: 400, code: 'bad_request' });
      // verify says so too, before the handler claims the replay token: a refused delivery leaves nothing.
      expect(refusal(() => mailgun.verify(request(signed(eventData(overrides))), secrets, new Date(1715678466_000))).status).toBe(400);
    }
  });

  it('answers 400 for a delivery without an event-data object', () => {
    for (const body of [
      JSON.stringify({ signature: {} }),
      JSON.stringify({ signature: {}, 'event-data': [eventData()] }),
      JSON.stringify({ signature: {}, 'event-data': 'x' }),
    ]) {
      expect(refusal(() => mailgun.normalize(request(body))).status).toBe(400);
    }
  });
});

describe('mailgun source: odd and hostile input', () => {
  it('fields Mailgun adds over time do not fail the delivery', () => {
    const event = onlyEvent(
      signed(eventData({ 'brand-new-field': { nested: [1, 2, { deeper: true }] }, 'api-key-id': 'k-1', method: 'HTTP', 'primary-dkim': 'mg.example.com' })),
    );
    expect(event.type).toBe('email_delivered');
    expect((event.raw as Record<string, unknown>)['brand-new-field']).toEqual({ nested: [1, 2, { deeper: true }] });
  });

  it('user variables become v: properties, bounded, without prototype keys, never posing as model properties', () => {
    const variables: Record<string, unknown> = { bounce: 'hard', url: 'https://evil.example.com/pricing', nested: { a: 1 } };
    for (let index = 0; index < maxUserVariables + 20; index += 1) variables[`var${index}`] = index;
    // Raw JSON text: JSON.parse makes __proto__ and constructor own keys, as a hostile sender would.
    const body = signed(eventData({ 'user-variables': variables })).replace(
      '"user-variables":{',
      '"user-variables":{"__proto__":{"polluted":true},"constructor":"x","prototype":"y",',
    );
    const event = onlyEvent(body);
    const keys = Object.keys(event.properties).filter((key) => key.startsWith('v:'));
    expect(keys).toHaveLength(maxUserVariables);
    expect(event.properties).toMatchObject({ 'v:bounce': 'hard', 'v:url': 'https://evil.example.com/pricing', 'v:nested': '{"a":1}' });
    expect(event.properties).not.toHaveProperty('bounce');
    expect(event.properties).not.toHaveProperty('url');
    expect(keys.some((key) => /__proto__|constructor|prototype/.test(key))).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps unicode as sent and cuts very long strings to the stored limit', () => {
    const event = onlyEvent(
      signed(
        eventData({
          event: 'clicked',
          recipient: 'zoë.ünïcode@example.com',
          url: `https://example.com/${'é'.repeat(5000)}`,
          'user-variables': { note: '日本語 🎉 ✓' },
        }),
      ),
    );
    expect(event.leadKey).toBe('zoë.ünïcode@example.com');
    expect(event.properties['v:note']).toBe('日本語 🎉 ✓');
    expect((event.properties.url as string).length).toBe(maxStoredStringLength);
  });

  it('a signature block with prototype keys is refused cleanly', () => {
    const body = '{"signature":{"__proto__":{"token":"t","timestamp":"1715678466","signature":"00"}},"event-data":{}}';
    expect(refusal(() => mailgun.verify(request(body), secrets, new Date(1715678466_000))).status).toBe(406);
  });
});
