/**
 * Segment's "Webhooks (Actions)" destination and Customer.io's webhook destination on the embedded local
 * stack: deliveries built as Segment's action-destinations code builds them (JSON, `User-Agent: Segment
 * (Actions)`, X-Signature = hex HMAC-SHA1 of the body, or of `JSON.stringify(body[0])` for a batch, which is
 * a bare array), stored and scored; a redelivery counted once; a batch's bad message dropped alone; bad
 * input refused with nothing stored; the route answering 404 while SEGMENT_WEBHOOK_SECRET is unset.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postCounting, workedExampleMessages } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, restartedStack, startTestStack } from '../../setup/stack.ts';

/** A fake, test-only shared secret. */
const secret = 'test-only-segment-webhook-shared-secret-01';
const sign = (text: string, key = secret) => createHmac('sha1', key).update(text, 'utf8').digest('hex');
const someone = (name: string) => `${name}.${randomUUID().slice(0, 8)}@acme-logistics.com`;

/** A message as Segment forwards it: enriched with receivedAt and its corrected timestamp (the default mapping `$.`). */
function forwarded(message: object): Record<string, unknown> {
  const timestamp = (message as { timestamp: string }).timestamp;
  return { ...message, originalTimestamp: timestamp, sentAt: timestamp, receivedAt: timestamp, timestamp, integrations: {}, anonymousId: randomUUID() };
}

/** A delivery as actions-core sends it: `json: payload` (JSON.stringify), signed as the webhook destination signs. */
function delivery(payload: unknown, options: { signature?: string | null; contentType?: string; body?: string } = {}) {
  const body = options.body ?? JSON.stringify(payload);
  const signed = Array.isArray(payload) ? JSON.stringify(payload[0]) : body;
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json', 'user-agent': 'Segment (Actions)' };
  const signature = options.signature === undefined ? sign(signed) : options.signature;
  if (signature !== null) headers['x-signature'] = signature;
  return { body, headers };
}

let stack: LocalStack;
const url = () => `${stack.baseUrl}/webhooks/segment`;

beforeAll(async () => {
  stack = await startTestStack({ env: { SEGMENT_WEBHOOK_SECRET: secret, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('Segment webhook deliveries to scored leads', () => {
  // A test's MQLs write their handoffs after its answer: done before the next test counts the table.
  afterEach(() => stack.drain());
  it('one message per request: the worked example becomes an MQL; a redelivery is counted once', async () => {
    const email = someone('single');
    for (const message of workedExampleMessages(email)) {
      expect(await postCounting(stack, url(), delivery(forwarded(message)))).toMatchObject({ status: 200, body: { received: 1, stored: 1 } });
    }
    const view = await leadView(stack, email);
    expect([view.eventCount, view.status]).toEqual([3, 'mql']);
    expect(view.recentEvents.map((event: { source: string }) => event.source)).toEqual(['segment-webhook', 'segment-webhook', 'segment-webhook']);

    // The MQL's handoff writes its items: done before the redelivery counts the table.
    await stack.drain();
    const again = forwarded(workedExampleMessages(email)[0]!);
    const first = await postCounting(stack, url(), delivery(again));
    expect(first).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(await postCounting(stack, url(), delivery(again))).toMatchObject({ status: 200, added: 0, body: { stored: 0, duplicates: 1 } });
  });

  it('a batch (a bare array) signed over its first message: the worked example becomes an MQL', async () => {
    const email = someone('batch');
    const batch = workedExampleMessages(email).map(forwarded);
    expect(await postCounting(stack, url(), delivery(batch))).toMatchObject({ status: 200, body: { received: 3, stored: 3, duplicates: 0 } });
    expect((await leadView(stack, email)).status).toBe('mql');
    await stack.drain();
    expect(await postCounting(stack, url(), delivery(batch))).toMatchObject({ status: 200, added: 0, body: { stored: 0, duplicates: 3 } });
  });

  it("a batch's bad message is dropped alone and counted; the others are stored", async () => {
    const email = someone('partial');
    const [identify, download, webinar] = workedExampleMessages(email).map(forwarded);
    const answer = await postCounting(stack, url(), delivery([identify, { ...download, messageId: undefined }, { ...webinar, timestamp: 'soon' }]));
    expect(answer).toMatchObject({ status: 200, body: { received: 3, stored: 1, ignored: 2, ignoredReasons: { no_messageId: 1, invalid_timestamp: 1 } } });
    expect((await leadView(stack, email)).eventCount).toBe(1);
  });

  it("a group call carries the account onto the person's lead; one without groupId is dropped alone as no_groupId", async () => {
    const email = someone('group');
    const [, download] = workedExampleMessages(email).map(forwarded);
    const group = { ...download, type: 'group', event: undefined, properties: undefined, groupId: 'acct_42', traits: { industry: 'Software', employees: 750 } };
    const answer = await postCounting(stack, url(), delivery([group, { ...group, messageId: randomUUID(), groupId: undefined }]));
    expect(answer).toMatchObject({ status: 200, body: { received: 2, stored: 1, ignored: 1, ignoredReasons: { no_groupId: 1 } } });
    const view = await leadView(stack, email);
    expect(view.lead).toMatchObject({ groupId: 'acct_42', industry: 'Software', companySize: 750 });
    expect(view.score.fit).toBe(25);
  });
});

describe('bad input stores nothing', () => {
  const message = () => forwarded(workedExampleMessages(someone('bad'))[1]!);
  const cases: [string, () => { body: string; headers: Record<string, string> }, number, string][] = [
    ['no X-Signature', () => delivery(message(), { signature: null }), 401, 'unauthorized'],
    ['a signature made with another secret', () => delivery(message(), { signature: sign(JSON.stringify(message()), 'another-secret') }), 401, 'unauthorized'],
    ['a signature of another body', () => delivery(message(), { signature: sign('{}') }), 401, 'unauthorized'],
    [
      'a batch whose first message is not the one signed',
      () => {
        const batch = [message(), message()];
        return { ...delivery(batch), headers: { ...delivery(batch).headers, 'x-signature': sign(JSON.stringify(batch[1])) } };
      },
      401,
      'unauthorized',
    ],
    ['the wrong content type', () => delivery(message(), { contentType: 'text/plain' }), 400, 'unsupported_media_type'],
    ['malformed JSON', () => delivery(undefined, { body: '{"type": "track",', signature: sign('{"type": "track",') }), 400, 'bad_request'],
    ['one group call without groupId', () => delivery({ ...message(), type: 'group', event: undefined, traits: { industry: 'Software' } }), 400, 'bad_request'],
    ['an empty batch', () => delivery(undefined, { body: '[]', signature: sign('[]') }), 400, 'bad_request'],
    ['one message without messageId', () => delivery({ ...message(), messageId: undefined }), 400, 'bad_request'],
    ['one message without a time', () => delivery({ ...message(), timestamp: undefined, originalTimestamp: undefined, sentAt: undefined }), 400, 'bad_request'],
    ['one message of a type Segment does not have', () => delivery({ ...message(), type: 'purchase' }), 400, 'bad_request'],
    ['a body over 1 MiB', () => delivery({ ...message(), properties: { padding: 'x'.repeat(1024 * 1024) } }), 413, 'payload_too_large'],
  ];

  for (const [name, make, status, error] of cases) {
    it(`${name}: ${status}`, async () => {
      expect(await postCounting(stack, url(), make())).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
    });
  }
});

describe('with SEGMENT_WEBHOOK_SECRET unset', () => {
  const bare = restartedStack(() => stack, { env: { SEGMENT_WEBHOOK_SECRET: undefined, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });

  it('the route answers 404 to a correctly signed delivery and stores nothing', async () => {
    const answer = await postCounting(bare(), `${bare().baseUrl}/webhooks/segment`, delivery(forwarded(workedExampleMessages(someone('unset'))[1]!)));
    expect(answer).toMatchObject({ status: 404, body: { error: 'not_found' }, added: 0 });
  });
});
