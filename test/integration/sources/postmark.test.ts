/**
 * Postmark webhooks on the embedded local stack: the README's records accepted with their Basic auth,
 * stored and scored; a redelivery counted once; hard bounces, spam complaints and bounce suppressions
 * disqualifying the lead; bad input refused with nothing stored; authentic records we do not score
 * acknowledged; the route answering 404 while a credential is missing.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countItems, post, postCounting } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, startTestStack } from '../../setup/stack.ts';

/** test/fixtures/postmark/postmark_webhooks.json: fake Basic credentials and one record of each type. */
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/postmark/postmark_webhooks.json', import.meta.url), 'utf8')) as {
  basicAuth: { username: string; password: string };
  deliveries: Record<string, { headers: Record<string, string>; body: Record<string, unknown> }>;
};
const { username, password } = fixture.basicAuth;
const credentials = { POSTMARK_WEBHOOK_USER: username, POSTMARK_WEBHOOK_PASSWORD: password };
const basic = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`, 'utf8').toString('base64')}`;

/** A delivery as Postmark sends it: JSON, Basic auth with the configured credentials unless told otherwise. */
function delivery(payload: string | object, options: { authorization?: string | null; contentType?: string } = {}) {
  const headers: Record<string, string> = { 'Content-Type': options.contentType ?? 'application/json' };
  const authorization = options.authorization === undefined ? basic(username, password) : options.authorization;
  if (authorization !== null) headers.Authorization = authorization;
  return { body: typeof payload === 'string' ? payload : JSON.stringify(payload), headers };
}

/** A time as Postmark writes it (7 fraction digits). */
const postmarkTime = (at: Date) => at.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');

/** A README record for a fresh lead, happening now (scores are read now, so old records would have decayed). */
function fresh(name: string, overrides: Record<string, unknown> = {}, email = `lead.${randomUUID().slice(0, 8)}@acme-logistics.com`) {
  const record: Record<string, unknown> = { ...structuredClone(fixture.deliveries[name]!.body), MessageID: randomUUID() };
  const timeField = { Delivery: 'DeliveredAt', Open: 'ReceivedAt', Click: 'ReceivedAt', Bounce: 'BouncedAt', SpamComplaint: 'BouncedAt' }[name] ?? 'ChangedAt';
  record[timeField] = postmarkTime(new Date());
  record[name === 'Bounce' || name === 'SpamComplaint' ? 'Email' : 'Recipient'] = email;
  if ('ID' in record) record.ID = Math.floor(Math.random() * 1e12);
  return { email, record: { ...record, ...overrides } };
}

let stack: LocalStack;
let url: string;

const reasonCounts = (view: any) => Object.fromEntries(view.reasons.map((reason: any) => [reason.rule, reason.count]));

describe('with the route configured', () => {
  beforeAll(async () => {
    stack = await startTestStack({ env: { ...credentials, LOG_LEVEL: 'SILENT' } });
    url = stack.urls['POST /webhooks/postmark']!;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  describe('Postmark records to scored leads', () => {
    it('every README record is accepted with its own headers, stored once and scored', async () => {
      for (const [name, example] of Object.entries(fixture.deliveries)) {
        const answer = await post(url, { body: JSON.stringify(example.body), headers: example.headers });
        expect({ name, ...answer }).toMatchObject({ name, status: 200, body: { received: 1, stored: 1, duplicates: 0, ignored: 0 } });
      }
      await stack.drain();

      const dana = await leadView(stack, 'dana.whitfield@example.com');
      expect(dana.eventCount).toBe(5);
      expect(dana.recentEvents.map((event: any) => event.type).sort()).toEqual(
        ['email_clicked', 'email_delivered', 'email_opened', 'email_resubscribed', 'email_unsubscribed'].sort(),
      );
      expect(reasonCounts(dana)).toMatchObject({ email_clicked: 1, email_opened: 1, email_unsubscribed: 1 });
      expect(dana.status).not.toBe('disqualified');

      expect((await leadView(stack, 'bounce.me@example.net')).status).toBe('disqualified');
      expect((await leadView(stack, 'angry.reader@example.com')).status).toBe('disqualified');
    });

    it('a redelivery, byte for byte or laid out anew, is counted once and changes nothing', async () => {
      const { email, record } = fresh('Click');
      expect(await post(url, delivery(record))).toMatchObject({ status: 200, body: { stored: 1, duplicates: 0 } });
      const before = await leadView(stack, email);
      const items = await countItems(stack.dynamodb, stack.tableName);

      expect(await post(url, delivery(record))).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
      const reordered = JSON.stringify(Object.fromEntries(Object.entries(record).reverse()), null, 2);
      expect(await post(url, delivery(reordered))).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });

      const after = await leadView(stack, email);
      expect(after.eventCount).toBe(1);
      expect(reasonCounts(after)).toEqual(reasonCounts(before));
      expect(after.score.total).toBeCloseTo(before.score.total, 6);
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(items);
    });

    it('two opens of one message at different times are two events', async () => {
      const first = fresh('Open');
      const second = { ...first.record, ReceivedAt: postmarkTime(new Date(Date.now() + 60_000)), FirstOpen: false };
      expect(await post(url, delivery(first.record))).toMatchObject({ status: 200, body: { stored: 1 } });
      expect(await post(url, delivery(second))).toMatchObject({ status: 200, body: { stored: 1, duplicates: 0 } });
      const view = await leadView(stack, first.email);
      expect(view.eventCount).toBe(2);
      expect(reasonCounts(view)).toMatchObject({ email_opened: 2 });
    });

    it('a soft bounce keeps the lead; a hard bounce then disqualifies it', async () => {
      const click = fresh('Click');
      await post(url, delivery(click.record));
      const soft = fresh('Bounce', { Type: 'Transient', TypeCode: 2, Name: 'Message delayed', Inactive: false }, click.email);
      expect(await post(url, delivery(soft.record))).toMatchObject({ status: 200, body: { stored: 1 } });
      await stack.drain();
      expect((await leadView(stack, click.email)).status).not.toBe('disqualified');

      const hard = fresh('Bounce', {}, click.email);
      expect(await post(url, delivery(hard.record))).toMatchObject({ status: 200, body: { stored: 1 } });
      await stack.drain();
      expect((await leadView(stack, click.email)).status).toBe('disqualified');
    });

    it('a spam complaint disqualifies the lead', async () => {
      const { email, record } = fresh('SpamComplaint');
      expect(await post(url, delivery(record))).toMatchObject({ status: 200, body: { stored: 1 } });
      await stack.drain();
      expect((await leadView(stack, email)).status).toBe('disqualified');
    });

    it('a suppression after a hard bounce disqualifies the lead even when no Bounce record arrives', async () => {
      const { email, record } = fresh('SubscriptionChange_unsubscribe', { SuppressionReason: 'HardBounce' });
      expect(await post(url, delivery(record))).toMatchObject({ status: 200, body: { stored: 1 } });
      await stack.drain();
      const view = await leadView(stack, email);
      expect(view.status).toBe('disqualified');
      expect(view.recentEvents.map((event: any) => event.type)).toEqual(['email_bounced']);
    });
  });

  describe('odd but authentic records are stored or acknowledged, never a 5xx', () => {
    it('unicode recipients, tags and metadata', async () => {
      const { record } = fresh('Open', { Tag: 'Frühjahr-🚀', Metadata: { kampagne: 'Grüße 東京' } }, `zoë.${randomUUID().slice(0, 6)}@exämple.com`);
      expect(await post(url, delivery(record))).toMatchObject({ status: 200, body: { stored: 1 } });
    });

    it('very long strings are cut, not refused', async () => {
      const { email, record } = fresh('Click', { OriginalLink: `https://www.example.com/pricing/${'p'.repeat(200_000)}`, Tag: 't'.repeat(100_000) });
      expect(await post(url, delivery(record))).toMatchObject({ status: 200, body: { stored: 1 } });
      const view = await leadView(stack, email);
      expect(reasonCounts(view)).toMatchObject({ email_clicked: 1 });
    });

    it('__proto__ and constructor keys are dropped without polluting anything', async () => {
      const { email, record } = fresh('Open');
      const body = JSON.stringify(record)
        .replace('"Metadata":{', '"Metadata":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},')
        .replace(/^\{/, '{"__proto__":{"RecordType":"Click","isAdmin":true},"constructor":"x",');
      expect(await post(url, delivery(body))).toMatchObject({ status: 200, body: { stored: 1 } });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const view = await leadView(stack, email);
      expect(view.recentEvents.map((event: any) => event.type)).toEqual(['email_opened']);
    });

    it('an unknown record type, an inbound e-mail and a record without a recipient are acknowledged and ignored', async () => {
      const before = await countItems(stack.dynamodb, stack.tableName);
      const unknown = await post(url, delivery({ ...fresh('Delivery').record, RecordType: 'LinkPreview' }));
      expect(unknown).toMatchObject({ status: 200, body: { received: 1, stored: 0, ignored: 1, ignoredReasons: { 'unknown_record_type:LinkPreview': 1 } } });
      // Our own vector: Postmark's inbound webhook shape (no RecordType).
      const inbound = await post(
        url,
        delivery({ From: 'dana.whitfield@example.com', FromFull: { Email: 'dana.whitfield@example.com' }, Subject: 'Re: hi', StrippedTextReply: 'yes' }),
      );
      expect(inbound).toMatchObject({ status: 200, body: { ignored: 1, ignoredReasons: { 'unsupported_record_type:Inbound': 1 } } });
      const anonymous = await post(url, delivery(fresh('Open', { Recipient: null }).record));
      expect(anonymous).toMatchObject({ status: 200, body: { ignored: 1, ignoredReasons: { no_email: 1 } } });
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    });
  });

  describe('bad input stores nothing', () => {
    const open = () => fresh('Open').record;
    const cases: [string, () => { body: string; headers: Record<string, string> }, number, string][] = [
      ['no Authorization header', () => delivery(open(), { authorization: null }), 401, 'unauthorized'],
      ['a wrong password', () => delivery(open(), { authorization: basic(username, `${password}x`) }), 401, 'unauthorized'],
      ['a wrong user', () => delivery(open(), { authorization: basic('someone', password) }), 401, 'unauthorized'],
      ['another scheme', () => delivery(open(), { authorization: `Bearer ${password}` }), 401, 'unauthorized'],
      ['credentials that are not base64', () => delivery(open(), { authorization: 'Basic %%%' }), 401, 'unauthorized'],
      [
        'credentials without a colon',
        () => delivery(open(), { authorization: `Basic ${Buffer.from(username + password).toString('base64')}` }),
        401,
        'unauthorized',
      ],
      ['the wrong content type', () => delivery(open(), { contentType: 'text/plain' }), 400, 'unsupported_media_type'],
      ['malformed JSON', () => delivery('{"RecordType": "Open", '), 400, 'bad_request'],
      ['an array of records', () => delivery([open()]), 400, 'bad_request'],
      ['JSON that is not a Postmark record', () => delivery({ hello: 'world' }), 400, 'bad_request'],
      ['a record without its time', () => delivery({ ...open(), ReceivedAt: undefined }), 400, 'bad_request'],
      ['a time that is not ISO 8601', () => delivery({ ...open(), ReceivedAt: 'Tue, 14 May 2024 09:31:42 +0000' }), 400, 'bad_request'],
      [
        'a subscription change without SuppressSending',
        () => delivery({ ...fresh('SubscriptionChange_unsubscribe').record, SuppressSending: undefined }),
        400,
        'bad_request',
      ],
      ['a body over 1 MiB', () => delivery({ ...open(), Metadata: { padding: 'x'.repeat(1024 * 1024) } }), 413, 'payload_too_large'],
      [
        'a body over 1 MiB without credentials',
        () => delivery({ ...open(), Metadata: { padding: 'x'.repeat(1024 * 1024) } }, { authorization: null }),
        413,
        'payload_too_large',
      ],
    ];

    for (const [name, make, status, error] of cases) {
      it(`${name}: ${status}`, async () => {
        expect(await postCounting(stack, url, make())).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
      });
    }
  });
});

describe('with a credential missing', () => {
  beforeAll(async () => {
    stack = await startTestStack({ env: { POSTMARK_WEBHOOK_USER: username, POSTMARK_WEBHOOK_PASSWORD: undefined, LOG_LEVEL: 'SILENT' } });
    url = stack.urls['POST /webhooks/postmark']!;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('the route answers 404 to a correctly authenticated record and stores nothing', async () => {
    expect(await postCounting(stack, url, delivery(fresh('Delivery').record))).toMatchObject({ status: 404, body: { error: 'not_found' }, added: 0 });
  });
});
