/**
 * Mailgun webhooks on the embedded local stack: the README's deliveries stored and scored, a retry
 * of the exact delivery counted once, a forged delivery reusing a captured signature refused (406)
 * with nothing stored, a hard bounce or a spam complaint disqualifying the lead, and bad input
 * refused cleanly with nothing stored.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailgunTimestampToleranceSeconds, signMailgun } from '../../../lib/sources/mailgun.ts';
import { countItems, post, postCounting } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, restartedStack, startTestStack } from '../../setup/stack.ts';

interface FixtureDelivery {
  rawBody: string;
  body: { signature: { token: string; timestamp: string; signature: string }; 'event-data': Record<string, any> };
}

/** test/fixtures/mailgun/webhooks.json: seven deliveries signed with a fake key. */
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/mailgun/webhooks.json', import.meta.url), 'utf8')) as {
  webhookSigningKey: string;
  deliveries: Record<string, FixtureDelivery>;
};
const key = fixture.webhookSigningKey;
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface Delivery {
  body: string;
  headers: Record<string, string>;
  signature: { token: string; timestamp: string; signature: string };
}

/**
 * A delivery as Mailgun sends it: a fresh 50-character token, signed at `timestamp` (now by default).
 * The README's deliveries were signed in 2024, outside the tolerance, so their event-data is signed again.
 */
function delivery(eventData: unknown, options: { timestamp?: number; key?: string; contentType?: string; token?: string } = {}): Delivery {
  const token = options.token ?? randomUUID().replace(/-/g, '').concat(randomUUID().replace(/-/g, '')).slice(0, 50);
  const timestamp = String(options.timestamp ?? nowSeconds());
  const signature = { token, timestamp, signature: signMailgun({ key: options.key ?? key, timestamp, token }) };
  return { body: JSON.stringify({ signature, 'event-data': eventData }), headers: { 'Content-Type': options.contentType ?? 'application/json' }, signature };
}

/** An event of our own for a fresh lead, happening now. */
function mailgunEvent(event: string, overrides: Record<string, unknown> = {}): { email: string; eventData: Record<string, unknown> } {
  const email = `lead.${randomUUID().slice(0, 8)}@acme-logistics.com`;
  return {
    email,
    eventData: {
      event,
      id: randomUUID().replace(/-/g, '').slice(0, 22),
      timestamp: Date.now() / 1000,
      'log-level': 'info',
      recipient: email,
      message: { headers: { 'message-id': `${randomUUID()}@mg.example.com` } },
      tags: ['mql-nurture'],
      'user-variables': { lead_id: 'lead-1' },
      ...overrides,
    },
  };
}

let stack: LocalStack;
let url: string;

async function itemCount(): Promise<number> {
  return countItems(stack.dynamodb, stack.tableName);
}

beforeAll(async () => {
  stack = await startTestStack({ env: { MAILGUN_WEBHOOK_SIGNING_KEY: key, LOG_LEVEL: 'SILENT' } });
  url = stack.urls['POST /webhooks/mailgun']!;
});

afterAll(async () => {
  await stack?.stop();
});

describe('Mailgun examples to scored leads', () => {
  it('accepts every README delivery (200) and stores each event once', async () => {
    for (const [name, example] of Object.entries(fixture.deliveries)) {
      const answer = await post(url, delivery(example.body['event-data']));
      expect(answer, name).toMatchObject({ status: 200, body: { received: 1, stored: 1, duplicates: 0, ignored: 0 } });
    }
    await stack.drain();
    const dana = await leadView(stack, 'dana.whitfield@example.com');
    expect(dana.eventCount).toBe(4);
    // The unsubscribe never decays; the 2024 opens and clicks have decayed to almost nothing.
    expect(dana.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'email_unsubscribed', pointsNow: -10 })]));
  });

  it('a permanent bounce disqualifies the lead; a temporary one does not', async () => {
    expect(await leadView(stack, 'bounce.me@example.net')).toMatchObject({ status: 'disqualified', eventCount: 1 });
    expect((await leadView(stack, 'slow.mx@example.org')).status).not.toBe('disqualified');
  });

  it('a spam complaint disqualifies the lead', async () => {
    expect(await leadView(stack, 'angry.reader@example.com')).toMatchObject({ status: 'disqualified', eventCount: 1 });
  });

  it('opens and clicks of today score for their recipient, the pricing click included', async () => {
    const opened = mailgunEvent('opened');
    const clicked = mailgunEvent('clicked', { recipient: opened.email.toUpperCase(), url: 'https://www.example.com/pricing' });
    expect((await post(url, delivery(opened.eventData))).body).toMatchObject({ stored: 1 });
    expect((await post(url, delivery(clicked.eventData))).body).toMatchObject({ stored: 1 });
    const lead = await leadView(stack, opened.email);
    expect(lead).toMatchObject({ eventCount: 2, score: { behavior: 4 } });
    expect(lead.recentEvents.map((event: any) => event.type).sort()).toEqual(['email_clicked', 'email_opened']);
  });
});

describe('redelivery and replay', () => {
  const example = fixture.deliveries.clicked!;
  const original = delivery({ ...example.body['event-data'], id: 'replay-test-event', recipient: 'replay.test@example.com' });

  it('the first delivery is stored', async () => {
    expect(await post(url, original)).toMatchObject({ status: 200, body: { stored: 1, duplicates: 0 } });
  });

  it('a retry of the exact delivery (same token, same bytes) is 200, counted as a duplicate, nothing new stored', async () => {
    const before = await itemCount();
    const scoreBefore = (await leadView(stack, 'replay.test@example.com')).score;
    const retry = await post(url, original);
    expect(retry).toMatchObject({ status: 200, body: { received: 1, stored: 0, duplicates: 1 } });
    expect(await itemCount()).toBe(before);
    expect((await leadView(stack, 'replay.test@example.com')).score.total).toBe(scoreBefore.total);
  });

  it('a retry with the same token and content, serialized differently, is a duplicate too', async () => {
    const before = await itemCount();
    const parsed = JSON.parse(original.body);
    const rerendered = { ...original, body: JSON.stringify({ 'event-data': parsed['event-data'], signature: parsed.signature }, null, 2) };
    expect(await post(url, rerendered)).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
    expect(await itemCount()).toBe(before);
  });

  it('a retry signed again (new token) is a duplicate: the event key does not depend on the signature', async () => {
    const again = delivery(JSON.parse(original.body)['event-data']);
    expect(await post(url, again)).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
    expect((await leadView(stack, 'replay.test@example.com')).eventCount).toBe(1);
  });

  it('a forged delivery reusing the valid signature object with another event-data is refused 406, nothing stored', async () => {
    const before = await itemCount();
    const forgedEvents = [
      { ...JSON.parse(original.body)['event-data'], id: 'forged-event', recipient: 'victim@example.com', event: 'complained' },
      { ...JSON.parse(original.body)['event-data'], url: 'https://www.example.com/pricing?forged=1' },
    ];
    for (const eventData of forgedEvents) {
      const forged = { ...original, body: JSON.stringify({ signature: original.signature, 'event-data': eventData }) };
      const answer = await post(url, forged);
      expect(answer).toMatchObject({ status: 406, body: { error: 'not_acceptable', detail: expect.stringContaining('replay') } });
    }
    expect(await itemCount()).toBe(before);
    expect((await fetch(`${stack.baseUrl}/leads/victim%40example.com`)).status).toBe(404);
  });
});

describe('bad input on POST /webhooks/mailgun stores nothing', () => {
  const valid = () => delivery(mailgunEvent('opened').eventData);
  const withBody = (body: string, contentType = 'application/json') => ({ body, headers: { 'Content-Type': contentType } });

  const cases: [string, () => { body: string | Buffer; headers: Record<string, string> }, number, string][] = [
    [
      'a signature made with another key',
      () => delivery(mailgunEvent('opened').eventData, { key: 'another-key-that-is-not-ours-0000' }),
      406,
      'not_acceptable',
    ],
    [
      'a tampered signature',
      () => {
        const { signature, body } = valid();
        return withBody(body.replace(signature.signature, `${signature.signature.slice(0, 63)}${signature.signature.endsWith('0') ? '1' : '0'}`));
      },
      406,
      'not_acceptable',
    ],
    ['no signature object', () => withBody(JSON.stringify({ 'event-data': mailgunEvent('opened').eventData })), 406, 'not_acceptable'],
    [
      'a signature without its token',
      () => {
        const parsed = JSON.parse(valid().body);
        delete parsed.signature.token;
        return withBody(JSON.stringify(parsed));
      },
      406,
      'not_acceptable',
    ],
    [
      `a signature older than ${mailgunTimestampToleranceSeconds / 3600} h`,
      () => delivery(mailgunEvent('opened').eventData, { timestamp: nowSeconds() - mailgunTimestampToleranceSeconds - 60 }),
      406,
      'not_acceptable',
    ],
    [
      'the wrong content type (a legacy form-encoded webhook)',
      () => delivery(mailgunEvent('opened').eventData, { contentType: 'application/x-www-form-urlencoded' }),
      400,
      'unsupported_media_type',
    ],
    ['malformed JSON', () => withBody('{"signature": {"token": '), 400, 'bad_request'],
    ['JSON that is not a delivery object', () => withBody('[{"event": "opened"}]'), 400, 'bad_request'],
    ['a signed delivery without event-data', () => delivery(undefined), 400, 'bad_request'],
    ['a signed event without an id', () => delivery({ ...mailgunEvent('opened').eventData, id: undefined }), 400, 'bad_request'],
    [
      'a signed event whose timestamp is not unix seconds',
      () => delivery({ ...mailgunEvent('opened').eventData, timestamp: '2024-05-14T09:21:05Z' }),
      400,
      'bad_request',
    ],
    [
      'a signed body nested 100,000 levels deep (JSON.stringify would overflow the stack)',
      () => {
        const { body } = delivery(mailgunEvent('opened').eventData);
        return withBody(body.replace('"user-variables":{', `"user-variables":{"deep":${'['.repeat(100_000)}${']'.repeat(100_000)},`));
      },
      400,
      'bad_request',
    ],
    [
      'a body over 1 MiB',
      () => delivery({ ...mailgunEvent('opened').eventData, 'user-variables': { padding: 'x'.repeat(1024 * 1024) } }),
      413,
      'payload_too_large',
    ],
  ];

  for (const [name, make, status, error] of cases) {
    it(`${name}: ${status}`, async () => {
      const before = await itemCount();
      const answer = await post(url, make());
      expect(answer.status).toBe(status);
      expect(answer.body).toMatchObject({ error, detail: expect.any(String) });
      expect(await itemCount()).toBe(before);
    });
  }
});

describe('odd but authentic deliveries are accepted or ignored cleanly, never a 5xx', () => {
  it('unicode and very long strings are stored, long ones cut', async () => {
    const { email, eventData } = mailgunEvent('clicked', {
      url: `https://www.example.com/pricing/${'é'.repeat(10_000)}`,
      'user-variables': { note: '日本語 🎉 ✓', long: 'y'.repeat(100_000) },
      'client-info': { 'user-agent': 'ü'.repeat(50_000) },
    });
    const unicodeEmail = `zoë.${randomUUID().slice(0, 6)}@exämple.com`;
    expect(await post(url, delivery({ ...eventData, recipient: unicodeEmail }))).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(await post(url, delivery(eventData))).toMatchObject({ status: 200, body: { stored: 1 } });
    expect((await leadView(stack, unicodeEmail)).eventCount).toBe(1);
    expect((await leadView(stack, email)).score.behavior).toBe(3);
  });

  it('an unknown event type is acknowledged and ignored, no lead created', async () => {
    const { email, eventData } = mailgunEvent('delivery_delayed');
    expect(await post(url, delivery(eventData))).toMatchObject({
      status: 200,
      body: { received: 1, stored: 0, ignored: 1, ignoredReasons: { 'unknown_event:delivery_delayed': 1 } },
    });
    expect((await fetch(`${stack.baseUrl}/leads/${encodeURIComponent(email)}`)).status).toBe(404);
  });

  it('an event without a recipient, and an inbound stored message, are ignored with their reasons', async () => {
    const noRecipient = mailgunEvent('opened', { recipient: undefined });
    const stored = mailgunEvent('stored', { storage: { url: 'https://storage.mailgun.net/v3/x', key: 'k' } });
    expect(await post(url, delivery(noRecipient.eventData))).toMatchObject({ status: 200, body: { ignored: 1, ignoredReasons: { no_email: 1 } } });
    expect(await post(url, delivery(stored.eventData))).toMatchObject({ status: 200, body: { ignored: 1, ignoredReasons: { inbound_message: 1 } } });
  });

  it('__proto__ and constructor keys anywhere are accepted without reaching a prototype', async () => {
    const { email, eventData } = mailgunEvent('opened');
    const body = delivery(eventData).body;
    const hostile = body
      .replace('"user-variables":{', '"user-variables":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},')
      .replace('"event-data":{', '"event-data":{"__proto__":{"event":"complained"},"constructor":1,');
    const answer = await post(url, { body: hostile, headers: { 'Content-Type': 'application/json' } });
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    const lead = await leadView(stack, email);
    expect(lead.status).not.toBe('disqualified');
    expect(lead.recentEvents.map((event: any) => event.type)).toEqual(['email_opened']);
    expect(({} as any).polluted).toBeUndefined();
  });

  it('a hostile event name is ignored', async () => {
    for (const name of ['__proto__', 'constructor', 'toString']) {
      const answer = await post(url, delivery(mailgunEvent(name).eventData));
      expect(answer.status, name).toBe(200);
      expect(answer.body.ignored, name).toBe(1);
    }
  });
});

describe('the route without its signing key', () => {
  const bare = restartedStack(() => stack, { env: { MAILGUN_WEBHOOK_SIGNING_KEY: undefined, LOG_LEVEL: 'SILENT' } });

  it('answers 404 to a correctly signed delivery and stores nothing', async () => {
    expect(await postCounting(bare(), bare().urls['POST /webhooks/mailgun']!, delivery(mailgunEvent('opened').eventData))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
      added: 0,
    });
  });
});
