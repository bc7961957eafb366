/**
 * Customer.io reporting webhooks on the embedded local stack: the README's signed examples stored and
 * scored, redeliveries counted once, a hard bounce or a spam complaint disqualifying the lead, and bad
 * input refused cleanly with nothing stored, while an authentic event we cannot score is acknowledged.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerioSignatureMaxAgeSeconds, signCustomerio } from '../../../lib/sources/customerio.ts';
import { countItems, post, postCounting } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, restartedStack, startTestStack } from '../../setup/stack.ts';

interface FixtureDelivery {
  headers: Record<string, string>;
  rawBody: string;
  body: { event_id: string; timestamp: number };
}

/** test/fixtures/customerio/customerio_reporting_webhooks.json: seven deliveries signed with a fake key. */
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/customerio/customerio_reporting_webhooks.json', import.meta.url), 'utf8')) as {
  webhookSigningKey: string;
  deliveries: Record<string, FixtureDelivery>;
};
const key = fixture.webhookSigningKey;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * A delivery as Customer.io sends it, signed at `timestamp` (now by default). The README examples were
 * signed in 2024, outside any replay window, so they are signed again over their exact raw bodies.
 */
function delivery(payload: string | object, options: { timestamp?: number; key?: string; contentType?: string } = {}) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const timestamp = String(options.timestamp ?? nowSeconds());
  return {
    body,
    headers: {
      'Content-Type': options.contentType ?? 'application/json',
      'X-CIO-Timestamp': timestamp,
      'X-CIO-Signature': signCustomerio({ key: options.key ?? key, timestamp, body }),
    },
  };
}

/** An email event of our own for a fresh lead, happening now. */
function emailEvent(metric: string, data: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}) {
  const email = `lead.${randomUUID().slice(0, 8)}@acme-logistics.com`;
  return {
    email,
    payload: {
      event_id: `01HX${randomUUID().replace(/-/g, '').slice(0, 22).toUpperCase()}`,
      object_type: 'email',
      metric,
      timestamp: nowSeconds(),
      data: {
        customer_id: `cust_${email}`,
        campaign_id: 12,
        delivery_id: `dlv_${randomUUID()}`,
        identifiers: { email, id: `cust_${email}` },
        recipient: email,
        ...data,
      },
      ...overrides,
    },
  };
}

let stack: LocalStack;
let url: string;

beforeAll(async () => {
  stack = await startTestStack({ env: { CUSTOMERIO_WEBHOOK_SIGNING_KEY: key, LOG_LEVEL: 'SILENT' } });
  url = stack.urls['POST /webhooks/customerio']!;
});

afterAll(async () => {
  await stack?.stop();
});

describe('Customer.io examples to scored leads', () => {
  it('accepts every README example and stores each event once', async () => {
    for (const [name, example] of Object.entries(fixture.deliveries)) {
      const answer = await post(url, delivery(example.rawBody));
      expect({ name, ...answer }).toMatchObject({ name, status: 200, body: { received: 1, stored: 1, duplicates: 0, ignored: 0 } });
    }
  });

  it("scores Dana's e-mail engagement with the README events' own times", async () => {
    const view = await leadView(stack, 'dana.whitfield@example.com');
    expect(view.eventCount).toBe(6);
    expect(view.firstSeenAt).toBe('2024-05-14T09:20:00.000Z');
    expect(view.lastEventAt).toBe('2024-05-14T15:36:39.000Z');
    const reasons = Object.fromEntries(view.reasons.map((reason: any) => [reason.rule, reason]));
    expect(reasons.email_clicked).toMatchObject({ kind: 'behavior', rawPoints: 3, count: 1, lastSeen: '2024-05-14T09:32:35.000Z' });
    expect(reasons.email_opened).toMatchObject({ kind: 'behavior', rawPoints: 1, count: 1 });
    // An unsubscribe does not decay (halfLifeDays null in the default model).
    expect(reasons.email_unsubscribed).toMatchObject({ pointsNow: -10, count: 1 });
    expect(view.status).not.toBe('disqualified');
    expect(view.recentEvents.map((event: any) => event.type)).toEqual(
      expect.arrayContaining(['email_sent', 'email_delivered', 'email_opened', 'email_clicked', 'email_unsubscribed', 'profile_updated']),
    );
    const click = view.recentEvents.find((event: any) => event.type === 'email_clicked');
    expect(click).toMatchObject({ source: 'customerio', properties: { url: 'https://www.example.com/pricing', campaign_id: 12 } });
  });

  it('disqualifies the lead whose address hard-bounced (550 5.1.1)', async () => {
    const view = await leadView(stack, 'bounce.me@example.net');
    expect(view.status).toBe('disqualified');
    expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'hard_bounce', kind: 'disqualify' })]));
    expect(view.recentEvents[0]).toMatchObject({ type: 'email_bounced', properties: { bounce: 'hard', smtpCode: 550 } });
  });

  it('scores a click that happens now at full points', async () => {
    const { email, payload } = emailEvent('clicked', { href: 'https://www.example.com/pricing', link_id: 3 });
    expect(await post(url, delivery(payload))).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view.reasons).toEqual([expect.objectContaining({ rule: 'email_clicked', pointsNow: 3, count: 1 })]);
    expect(view.score.behavior).toBe(3);
  });

  it('disqualifies a lead who reports the e-mail as spam', async () => {
    const { email: spamEmail, payload } = emailEvent('spammed');
    expect(await post(url, delivery(payload))).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, spamEmail);
    expect(view.status).toBe('disqualified');
    expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'spam_complaint', kind: 'disqualify' })]));
  });

  it('does not disqualify on a bounce whose SMTP reply is transient (soft)', async () => {
    const { email, payload } = emailEvent('bounced', { failure_message: '421 4.7.0 Try again later, closing connection.' });
    expect(await post(url, delivery(payload))).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view.status).not.toBe('disqualified');
    expect(view.recentEvents[0]).toMatchObject({ type: 'email_bounced', properties: { bounce: 'soft', smtpCode: 421 } });
  });

  it('counts a subscribed customer event as a profile update that names the lead', async () => {
    const email = `sub.${randomUUID().slice(0, 8)}@acme-logistics.com`;
    const payload = {
      event_id: `01HXSUB${randomUUID().slice(0, 8)}`,
      object_type: 'customer',
      metric: 'subscribed',
      timestamp: nowSeconds(),
      data: { customer_id: 'c1', email_address: email, identifiers: { id: 'c1', email, cio_id: 'cio1' } },
    };
    expect(await post(url, delivery(payload))).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view.lead).toMatchObject({ email });
    expect(view.recentEvents).toEqual([expect.objectContaining({ type: 'profile_updated', properties: expect.objectContaining({ subscribed: true }) })]);
  });
});

describe('Customer.io redeliveries', () => {
  it('a redelivery (Customer.io retrying after a timeout, signed again) is a duplicate: nothing stored, score unchanged', async () => {
    const { email, payload } = emailEvent('clicked', { href: 'https://www.example.com/case-studies' });
    expect(await post(url, delivery(payload))).toMatchObject({ status: 200, body: { stored: 1, duplicates: 0 } });
    await stack.drain();
    const before = await leadView(stack, email);
    const items = await countItems(stack.dynamodb, stack.tableName);

    const again = await post(url, delivery(payload, { timestamp: nowSeconds() + 1 }));
    expect(again).toMatchObject({ status: 200, body: { received: 1, stored: 0, duplicates: 1, ignored: 0 } });
    await stack.drain();
    const after = await leadView(stack, email);
    expect(after.eventCount).toBe(before.eventCount);
    expect(after.score.total).toBe(before.score.total);
    expect(after.reasons).toEqual(before.reasons.map((reason: any) => ({ ...reason, pointsNow: expect.any(Number) })));
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(items);
  });

  it('a README example redelivered is a duplicate too', async () => {
    const answer = await post(url, delivery(fixture.deliveries.email_bounced!.rawBody));
    expect(answer).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
  });

  it('a retry still carrying its first signature from ten days ago is accepted (and is a duplicate)', async () => {
    const { payload } = emailEvent('opened');
    const firstAttempt = delivery(payload, { timestamp: nowSeconds() - 10 * 24 * 3600 });
    expect(await post(url, firstAttempt)).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(await post(url, firstAttempt)).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
  });
});

describe('authentic events we cannot score are acknowledged, not refused (a 4xx stalls Customer.io for an hour)', () => {
  const cases: [string, () => object, string][] = [
    ['a push event', () => emailEvent('opened', {}, { object_type: 'push' }).payload, 'unsupported_object_type:push'],
    ['an SMS event', () => emailEvent('delivered', {}, { object_type: 'sms' }).payload, 'unsupported_object_type:sms'],
    ['an in-app event', () => emailEvent('clicked', {}, { object_type: 'in_app' }).payload, 'unsupported_object_type:in_app'],
    ['an unknown object type', () => emailEvent('opened', {}, { object_type: 'carrier_pigeon' }).payload, 'unknown_object_type:carrier_pigeon'],
    ['an unknown email metric', () => emailEvent('teleported').payload, 'unknown_metric:email:teleported'],
    ['a metric named like a prototype property', () => emailEvent('__proto__').payload, 'unknown_metric:email:__proto__'],
    ['an event with no e-mail', () => emailEvent('opened', { recipient: undefined, identifiers: { id: 'x' } }).payload, 'no_email'],
  ];
  for (const [name, make, reason] of cases) {
    it(`${name}: 200, ignored (${reason}), nothing stored`, async () => {
      expect(await postCounting(stack, url, delivery(make()))).toMatchObject({
        status: 200,
        body: { received: 1, stored: 0, ignored: 1, ignoredReasons: { [reason]: 1 } },
        added: 0,
      });
    });
  }
});

describe('odd but valid input is stored cleanly', () => {
  it('unicode in the subject and the address', async () => {
    const email = `zoë.${randomUUID().slice(0, 6)}@exämple.com`;
    const { payload } = emailEvent('opened', { recipient: email, subject: 'Ihr Angebot für Q2 — 日本語 🚀', identifiers: { email } });
    expect(await post(url, delivery(payload))).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view.recentEvents[0].properties.subject).toBe('Ihr Angebot für Q2 — 日本語 🚀');
  });

  it('very long strings (the body still under 1 MiB) are cut, not refused', async () => {
    const { email, payload } = emailEvent('sent', { subject: 's'.repeat(200_000), content: `<p>${'x'.repeat(600_000)}</p>` });
    const answer = await post(url, delivery(payload));
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view.recentEvents[0].properties.subject.length).toBeLessThanOrEqual(2000);
  });

  it('__proto__ and constructor keys in data are stored as nothing special', async () => {
    const email = `proto.${randomUUID().slice(0, 8)}@acme-logistics.com`;
    const body = `{"event_id":"01HXPROTO${randomUUID().slice(0, 8)}","object_type":"email","metric":"clicked","timestamp":${nowSeconds()},"data":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"recipient":"${email}","href":"https://www.example.com/pricing"}}`;
    expect(await post(url, delivery(body))).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const view = await leadView(stack, email);
    expect(Object.hasOwn(view.recentEvents[0].properties, 'constructor')).toBe(false);
    expect(Object.hasOwn(view.recentEvents[0].properties, '__proto__')).toBe(false);
    expect(view.reasons).toEqual([expect.objectContaining({ rule: 'email_clicked' })]);
  });

  it('an event_id with separators and unicode is still one event', async () => {
    const { email, payload } = emailEvent('opened', {}, { event_id: 'evt#1/ü:2' });
    expect(await post(url, delivery(payload))).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(await post(url, delivery(payload))).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
    expect((await leadView(stack, email)).eventCount).toBe(1);
  });
});

describe('bad input on POST /webhooks/customerio stores nothing', () => {
  const valid = () => emailEvent('opened').payload;
  const cases: [string, () => { body: string; headers: Record<string, string> }, number, string][] = [
    ['a signature made with another key', () => delivery(valid(), { key: 'some-other-signing-key' }), 401, 'unauthorized'],
    [
      'a body changed after signing',
      () => {
        const signed = delivery(valid());
        return { ...signed, body: signed.body.replace('"opened"', '"clicked"') };
      },
      401,
      'unauthorized',
    ],
    [
      'no X-CIO-Signature',
      () => {
        const { 'X-CIO-Signature': _dropped, ...headers } = delivery(valid()).headers;
        return { body: JSON.stringify(valid()), headers };
      },
      401,
      'unauthorized',
    ],
    [
      'no X-CIO-Timestamp',
      () => {
        const signed = delivery(valid());
        const { 'X-CIO-Timestamp': _dropped, ...headers } = signed.headers;
        return { body: signed.body, headers };
      },
      401,
      'unauthorized',
    ],
    [
      'a signature older than the window (a captured request replayed)',
      () => delivery(valid(), { timestamp: nowSeconds() - customerioSignatureMaxAgeSeconds - 60 }),
      401,
      'unauthorized',
    ],
    ['the wrong content type', () => delivery(valid(), { contentType: 'text/plain' }), 400, 'unsupported_media_type'],
    ['malformed JSON', () => delivery('{"event_id": "01HX", '), 400, 'bad_request'],
    ['JSON that is not a Customer.io event', () => delivery({ hello: 'world' }), 400, 'bad_request'],
    ['an array of events (Customer.io sends one per request)', () => delivery([valid(), valid()]), 400, 'bad_request'],
    ['an event without event_id', () => delivery({ ...valid(), event_id: undefined }), 400, 'bad_request'],
    ['an event whose timestamp is not unix seconds', () => delivery({ ...valid(), timestamp: '2024-05-14T09:20:00Z' }), 400, 'bad_request'],
    ['a body over 1 MiB', () => delivery(emailEvent('sent', { content: 'x'.repeat(1024 * 1024) }).payload), 413, 'payload_too_large'],
  ];

  for (const [name, make, status, error] of cases) {
    it(`${name}: ${status}`, async () => {
      expect(await postCounting(stack, url, make())).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
    });
  }
});

describe('the route without its signing key', () => {
  const bare = restartedStack(() => stack, { env: { CUSTOMERIO_WEBHOOK_SIGNING_KEY: undefined, LOG_LEVEL: 'SILENT' } });

  it('answers 404 to a correctly signed delivery and stores nothing', async () => {
    expect(await postCounting(bare(), bare().urls['POST /webhooks/customerio']!, delivery(emailEvent('opened').payload))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
      added: 0,
    });
  });
});
