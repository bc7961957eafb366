/**
 * The whole path on the embedded local stack, as a newcomer would run it: signed website events in,
 * an explained MQL at the CRM webhook, the lead readable over HTTP, recycled by the decay job a year later.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { countItems, crmSecret, eventsSecret, post, postCounting, signedDelivery, workedExampleMessages } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';

let stack: LocalStack;
let crm: CrmReceiver;
let eventsUrl: string;
const leadUrl = (email: string) => `${stack.baseUrl}/leads/${encodeURIComponent(email)}`;

beforeAll(async () => {
  crm = await startCrmReceiver(crmSecret);
  stack = await startTestStack({
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: crm.url, CRM_WEBHOOK_SECRET: crmSecret, LOG_LEVEL: 'SILENT' },
  });
  eventsUrl = stack.urls['POST /webhooks/events']!;
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
});

describe('website events to the CRM', () => {
  it('GET /health answers 200', async () => {
    const response = await fetch(`${stack.baseUrl}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok' });
  });

  const email = `dana.${randomUUID().slice(0, 8)}@acme-logistics.com`;
  const messages = workedExampleMessages(email);

  it('a lead following the seeds worked example reaches the CRM as lead.mql, with its reasons', async () => {
    for (const message of messages) {
      const answer = await post(eventsUrl, signedDelivery(message));
      expect(answer).toMatchObject({ status: 200, body: { stored: 1, duplicates: 0, ignored: 0 } });
    }
    const [delivered] = await crm.waitFor(1);

    expect(delivered!.record).toMatchObject({
      type: 'lead.mql',
      lead: { email, firstName: 'Dana', lastName: 'Whitfield', jobTitle: 'CEO', industry: 'Software', company: 'Acme Logistics' },
      score: { total: 60, fit: 25, behavior: 35, threshold: 60 },
    });
    expect(delivered!.webhookId).toBe(delivered!.record.id);
    expect(delivered!.record.reasons.map((reason) => `${reason.rule}:${Math.round(reason.pointsNow)}`)).toEqual([
      'webinar_attended:20',
      'c_level_or_vp:15',
      'case_study_downloaded:15',
      'target_industry:10',
    ]);
    expect(delivered!.record.recentEvents.map((event) => event.type)).toEqual(['webinar_attended', 'content_downloaded', 'profile_updated']);
  });

  it('GET /leads/{email} shows the lead, its score, reasons and the delivered handoff', async () => {
    await stack.drain();
    const response = await fetch(leadUrl(email.toUpperCase()));
    expect(response.status).toBe(200);
    const view = (await response.json()) as any;
    expect(view).toMatchObject({ status: 'mql', lead: { email }, score: { total: 60 }, eventCount: 3 });
    expect(view.handoffs).toEqual([expect.objectContaining({ type: 'lead.mql', status: 'delivered', attempts: 1, crmStatus: 200 })]);
    expect(Date.parse(view.recyclesAt) - Date.now()).toBeGreaterThan(100 * 24 * 3600 * 1000);
  });

  it('a redelivery of the qualifying event (same webhook-id, new timestamp) changes nothing and sends nothing', async () => {
    const retry = signedDelivery(messages[2], { id: 'msg_retry-of-webinar' });
    const first = await post(eventsUrl, retry);
    const again = await post(eventsUrl, signedDelivery(messages[2], { id: 'msg_retry-of-webinar' }));
    await stack.drain();
    expect(first.body).toMatchObject({ stored: 0, duplicates: 1 });
    expect(again.body).toMatchObject({ stored: 0, duplicates: 1 });
    expect(crm.received).toHaveLength(1);
    const view = (await (await fetch(leadUrl(email))).json()) as any;
    expect(view.eventCount).toBe(3);
  });

  it('a year later the decay job recycles the lead and tells the CRM once', async () => {
    const aYearLater = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();
    const summary = (await stack.runSchedule('decay', { now: aYearLater })) as any;
    expect(summary).toMatchObject({ handoffs: 1, changed: { recycled: 1 } });
    const [, recycled] = await crm.waitFor(2);
    expect(recycled!.record).toMatchObject({ type: 'lead.recycled', lead: { email } });
    expect(recycled!.record.score.total).toBeLessThan(40);
    expect(recycled!.record.id).not.toBe(crm.received[0]!.record.id);

    const second = (await stack.runSchedule('decay', { now: aYearLater })) as any;
    await stack.drain();
    expect(second.handoffs).toBe(0);
    expect(crm.received).toHaveLength(2);
  });

  it('GET /leads/{email} is 404 for an unknown lead and 400 for something that is not an address', async () => {
    expect((await fetch(leadUrl('nobody@example.com'))).status).toBe(404);
    const bad = await fetch(leadUrl('not-an-email'));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'bad_request' });
  });
});

describe('bad input on POST /webhooks/events stores nothing', () => {
  const someone = () => `x.${randomUUID().slice(0, 8)}@acme.com`;
  const track = () => ({
    type: 'track',
    event: 'Webinar Attended',
    messageId: randomUUID(),
    timestamp: new Date().toISOString(),
    context: { traits: { email: someone() } },
  });

  const cases: [string, () => { body: string | Buffer; headers: Record<string, string> }, number, string][] = [
    ['no signature headers', () => ({ body: JSON.stringify(track()), headers: { 'content-type': 'application/json' } }), 401, 'unauthorized'],
    [
      'a signature made with another secret',
      () => signedDelivery(track(), { secret: 'whsec_c29tZS1vdGhlci1zZWNyZXQtdGhhdC1pcy13cm9uZw==' }),
      401,
      'unauthorized',
    ],
    [
      'a body changed after signing',
      () => {
        const delivery = signedDelivery(track());
        return { ...delivery, body: delivery.body.replace('Webinar', 'Webinaz') };
      },
      401,
      'unauthorized',
    ],
    ['a timestamp ten minutes old (replay)', () => signedDelivery(track(), { timestamp: Math.floor(Date.now() / 1000) - 600 }), 401, 'unauthorized'],
    ['malformed JSON', () => signedDelivery('{"type": "track", '), 400, 'bad_request'],
    ['JSON that is not a Segment message', () => signedDelivery({ hello: 'world' }), 400, 'bad_request'],
    ['a message without messageId', () => signedDelivery({ ...track(), messageId: undefined }), 400, 'bad_request'],
    ['a message without any timestamp', () => signedDelivery({ ...track(), timestamp: undefined }), 400, 'bad_request'],
    [
      'a group call without groupId',
      () => signedDelivery({ ...track(), type: 'group', event: undefined, traits: { industry: 'Software' } }),
      400,
      'bad_request',
    ],
    [
      'a batch holding a group call without groupId (all or nothing)',
      () => signedDelivery({ batch: [track(), { ...track(), type: 'group', event: undefined, traits: { industry: 'Software' } }] }),
      400,
      'bad_request',
    ],
    ['the wrong content type', () => signedDelivery(track(), { contentType: 'text/plain' }), 400, 'unsupported_media_type'],
    ['a body over 1 MiB', () => signedDelivery({ ...track(), properties: { padding: 'x'.repeat(1024 * 1024) } }), 413, 'payload_too_large'],
  ];

  for (const [name, make, status, error] of cases) {
    it(`${name}: ${status}`, async () => {
      expect(await postCounting(stack, eventsUrl, make())).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
    });
  }

  it('an event without an e-mail, a user id or a visitor id is ignored and counted, and the rest of the delivery is stored', async () => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const anonymous = {
      type: 'page',
      messageId: randomUUID(),
      timestamp: new Date().toISOString(),
      properties: { url: 'https://example.com/pricing' },
    };
    const alone = await post(eventsUrl, signedDelivery(anonymous));
    expect(alone).toMatchObject({ status: 200, body: { stored: 0, ignored: 1, ignoredReasons: { no_email: 1 } } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    // Ids that are no ids (an object, an empty string) name nobody either: no visitor is made of them.
    const noIds = { ...anonymous, messageId: randomUUID(), anonymousId: { id: 'anon-1' }, userId: '  ' };
    expect(await post(eventsUrl, signedDelivery(noIds))).toMatchObject({ status: 200, body: { stored: 0, ignored: 1, ignoredReasons: { no_email: 1 } } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);

    const mixed = await post(eventsUrl, signedDelivery({ batch: [{ ...anonymous, messageId: randomUUID() }, track()] }));
    expect(mixed).toMatchObject({ status: 200, body: { received: 2, stored: 1, ignored: 1 } });
  });
});
