/**
 * Sales feedback on the embedded local stack: a lead made an MQL by the worked example, then what sales
 * decided (accepted as SQL, won with an amount, rejected for timing) moves its status; the same outcome
 * delivered twice counts once; bad input is refused with nothing stored.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countItems, eventsSecret, post, postCounting, postWorkedExample, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, restartedStack, startTestStack } from '../../setup/stack.ts';

const feedbackSecret = 'whsec_dGVzdC1vbmx5LWNybS1mZWVkYmFjay1zZWNyZXQtMDAwMDE=';

let stack: LocalStack;
let feedbackUrl: string;
const feedback = (payload: unknown, options: { id?: string; secret?: string; contentType?: string } = {}) =>
  signedDelivery(payload, { secret: feedbackSecret, ...options });

/** A fresh lead made an MQL through POST /webhooks/events with the seeds' worked example. */
async function seedMql(): Promise<string> {
  const email = `dana.${randomUUID().slice(0, 8)}@acme-logistics.com`;
  await postWorkedExample(stack.urls['POST /webhooks/events']!, email, new Date(Date.now() - 60_000));
  await stack.drain();
  expect((await leadView(stack, email)).status).toBe('mql');
  return email;
}

const outcome = (email: string, type: string, extra: Record<string, unknown> = {}) => ({
  id: `crm-${randomUUID()}`,
  email,
  outcome: type,
  occurredAt: new Date().toISOString(),
  ...extra,
});

beforeAll(async () => {
  stack = await startTestStack({ env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_FEEDBACK_SECRET: feedbackSecret, LOG_LEVEL: 'SILENT' } });
  feedbackUrl = stack.urls['POST /webhooks/crm']!;
});

afterAll(async () => {
  await stack?.stop();
});

describe('POST /webhooks/crm: outcomes move the lead', () => {
  it('an MQL accepted as sql becomes sql, then won with an amount becomes won', async () => {
    const email = await seedMql();
    const sql = await post(feedbackUrl, feedback(outcome(email, 'sql', { crmId: '00Q5e00000AbCdE' })));
    expect(sql).toMatchObject({ status: 200, body: { received: 1, stored: 1, duplicates: 0, ignored: 0 } });
    expect(await leadView(stack, email)).toMatchObject({ status: 'sql', eventCount: 4 });

    const won = await post(feedbackUrl, feedback(outcome(email, 'won', { amount: 24000, currency: 'usd' })));
    expect(won).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view).toMatchObject({ status: 'won', eventCount: 5 });
    expect(JSON.stringify(view)).toContain('"amount":24000');
  });

  it('an MQL rejected for wrong timing is recycled (the core sends nothing back to sales for it)', async () => {
    const email = await seedMql();
    const answer = await post(feedbackUrl, feedback(outcome(email, 'mql_rejected', { reason: 'wrong_timing' })));
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    await stack.drain();
    const view = await leadView(stack, email);
    expect(view.status).toBe('recycled');
    expect(view.handoffs.map((handoff: { type: string }) => handoff.type)).toEqual(['lead.mql']);
  });

  it('the same outcome delivered twice (two deliveries, each its own webhook-id) counts once', async () => {
    const email = await seedMql();
    const sql = outcome(email, 'sql');
    expect(await post(feedbackUrl, feedback(sql))).toMatchObject({ status: 200, body: { stored: 1, duplicates: 0 } });
    const before = await countItems(stack.dynamodb, stack.tableName);
    expect(await post(feedbackUrl, feedback({ outcomes: [sql] }))).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(await leadView(stack, email)).toMatchObject({ status: 'sql', eventCount: 4 });
  });

  it('one delivery carries several outcomes for several leads', async () => {
    const first = await seedMql();
    const second = await seedMql();
    const answer = await post(
      feedbackUrl,
      feedback({ outcomes: [outcome(first, 'mql_accepted'), outcome(second, 'lost', { note: 'went with a competitor' })] }),
    );
    expect(answer).toMatchObject({ status: 200, body: { received: 2, stored: 2 } });
    expect((await leadView(stack, first)).status).toBe('sql');
    expect((await leadView(stack, second)).status).toBe('lost');
  });
});

describe('POST /webhooks/crm: bad input stores nothing', () => {
  const someone = () => `x.${randomUUID().slice(0, 8)}@acme.com`;

  const cases: [string, () => { body: string | Buffer; headers: Record<string, string> }, number, string][] = [
    ['no signature headers', () => ({ body: JSON.stringify(outcome(someone(), 'sql')), headers: { 'content-type': 'application/json' } }), 401, 'unauthorized'],
    ['a signature made with the events secret', () => signedDelivery(outcome(someone(), 'sql'), { secret: eventsSecret }), 401, 'unauthorized'],
    [
      'a body changed after signing',
      () => {
        const delivery = feedback(outcome(someone(), 'lost'));
        return { ...delivery, body: delivery.body.replace('lost', 'won') };
      },
      401,
      'unauthorized',
    ],
    ['the wrong content type', () => feedback(outcome(someone(), 'sql'), { contentType: 'text/plain' }), 400, 'unsupported_media_type'],
    ['malformed JSON', () => feedback('{"id": "x", '), 400, 'bad_request'],
    ['JSON that is not an outcome', () => feedback({ hello: 'world' }), 400, 'bad_request'],
    ['an unknown outcome type', () => feedback(outcome(someone(), 'meeting_booked')), 400, 'bad_request'],
    ['an unknown rejection reason', () => feedback(outcome(someone(), 'mql_rejected', { reason: 'too_small' })), 400, 'bad_request'],
    [
      'one bad outcome among good ones',
      () => feedback({ outcomes: [outcome(someone(), 'sql'), outcome(someone(), 'won', { amount: -5 })] }),
      400,
      'bad_request',
    ],
    ['a body over 1 MiB', () => feedback(outcome(someone(), 'lost', { note: 'x'.repeat(1024 * 1024) })), 413, 'payload_too_large'],
  ];

  for (const [name, make, status, error] of cases) {
    it(`${name}: ${status}`, async () => {
      expect(await postCounting(stack, feedbackUrl, make())).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
    });
  }

  it('an unknown reason is answered with the allowed list', async () => {
    const answer = await post(feedbackUrl, feedback(outcome(someone(), 'mql_rejected', { reason: 'too_small' })));
    expect(answer.body.detail).toContain('outside_icp, wrong_timing, existing_customer, bad_data, other');
  });
});

describe('POST /webhooks/crm: not configured', () => {
  const bare = restartedStack(() => stack, { env: { CRM_FEEDBACK_SECRET: undefined, LOG_LEVEL: 'SILENT' } });

  it('answers 404 to a correctly signed delivery and stores nothing', async () => {
    expect(await postCounting(bare(), bare().urls['POST /webhooks/crm']!, feedback(outcome(someoneElse(), 'sql')))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
      added: 0,
    });
  });
});

function someoneElse(): string {
  return `y.${randomUUID().slice(0, 8)}@acme.com`;
}
