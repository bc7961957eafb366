/**
 * Facebook Lead Ads on the local stack, against the local Graph stand-in: the webhook queues leadgen ids,
 * the fetch Lambda reads each lead from "Graph" and stores one scored form_submitted event. Redeliveries,
 * the dashboard test lead, every Graph failure the README lists (rate limits, 190, 100/33, 5xx, dropped
 * connections, an outage over several receives) and bad input, each checked for what was stored and queued.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphLead } from '../../../lib/apis/facebook-graph.ts';
import type { GraphFailureKind, GraphStandIn } from '../../../lib/local/stand-ins/graph.ts';
import { startGraphStandIn } from '../../../lib/local/stand-ins/graph.ts';
import { facebookSignature } from '../../../lib/sources/facebook.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { SeenStore } from '../../../lib/store/markers.ts';
import { countItems, post } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { demoFormId, demoFormModel, getLead, startTestStack } from '../../setup/stack.ts';

const webhookFixture = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_leadgen_webhook.json', import.meta.url), 'utf8')) as Record<string, any>;
const graphFixture = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_graph_lead_responses.json', import.meta.url), 'utf8')) as Record<
  string,
  any
>;
const appSecret: string = webhookFixture.appSecret;
const verifyToken: string = webhookFixture.verifyToken;
const accessToken: string = graphFixture.request.appsecret_proof.access_token;
const maxReceiveCount = 4;

let stack: LocalStack;
let graph: GraphStandIn;
let store: LeadStore;
let seen: SeenStore;
let model: ReturnType<typeof demoFormModel> | undefined;

/** A fresh 16-digit leadgen id per lead, so the tests of one stack never share a lead. */
const newLeadgenId = () => `10394${String(randomInt(10 ** 10, 10 ** 11 - 1))}`;
/** Graph's time format, a few seconds ago (a demo request fast-tracks only when recent). */
const graphTime = (date = new Date()) => `${date.toISOString().slice(0, 19)}+0000`;

function delivery(rawBody: string, headers: Record<string, string> = {}): { body: string; headers: Record<string, string> } {
  return {
    body: rawBody,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${facebookSignature(appSecret, rawBody)}`, ...headers },
  };
}

/** A signed leadgen notification for these ids, as Meta batches them (several changes in one entry). */
function notification(leadgenIds: string[], formId = '1192837465019283'): { body: string; headers: Record<string, string> } {
  const createdTime = Math.floor(Date.now() / 1000) - 5;
  const changes = leadgenIds.map((leadgenId) => ({
    field: 'leadgen',
    value: {
      ad_id: '120208765432109876',
      form_id: formId,
      leadgen_id: leadgenId,
      created_time: createdTime,
      page_id: '108273958312345',
      adgroup_id: '120208765432109876',
    },
  }));
  return delivery(JSON.stringify({ entry: [{ id: '108273958312345', time: createdTime + 1, changes }], object: 'page' }));
}

function graphLead(leadgenId: string, email: string | undefined, extra: Partial<GraphLead> = {}): GraphLead {
  return {
    id: leadgenId,
    created_time: graphTime(new Date(Date.now() - 5000)),
    ad_id: '120208765432109876',
    campaign_id: '120208765432000002',
    form_id: '1192837465019283',
    is_organic: false,
    platform: 'fb',
    field_data: [
      ...(email ? [{ name: 'email', values: [email] }] : []),
      { name: 'full_name', values: ['Dana Whitfield'] },
      { name: 'job_title', values: ['Director of IT'] },
    ],
    ...extra,
  };
}

const someone = () => `fb.${randomInt(10 ** 9)}@acme-logistics.example.com`;

async function depth(url: string): Promise<number> {
  const { Attributes } = await stack.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/** What `mql redrive` does: every message of the DLQ back onto its queue. */
async function redrive(): Promise<number> {
  let moved = 0;
  for (;;) {
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls['facebook-leads'], MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    if (Messages.length === 0) return moved;
    for (const message of Messages) {
      await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls['facebook-leads'], MessageBody: message.Body! }));
      await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.dlqUrls['facebook-leads'], ReceiptHandle: message.ReceiptHandle! }));
      moved += 1;
    }
  }
}

async function waitForDlq(count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await depth(stack.dlqUrls['facebook-leads'])) < count) {
    if (Date.now() > deadline) throw new Error(`the facebook-leads DLQ did not reach ${count} message(s)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  graph = await startGraphStandIn({ appSecret, accessToken });
  model = demoFormModel();
  stack = await startTestStack({
    env: {
      FACEBOOK_APP_SECRET: appSecret,
      FACEBOOK_VERIFY_TOKEN: verifyToken,
      FACEBOOK_ACCESS_TOKEN: accessToken,
      FACEBOOK_GRAPH_URL: graph.url,
      FACEBOOK_RETRY_BASE_SECONDS: '1',
      FACEBOOK_RETRY_MAX_SECONDS: '2',
      MQL_MODEL_PATH: model.path,
      CRM_ADAPTER: 'none',
      LOG_LEVEL: 'SILENT',
    },
    // A visibility far above the retry delays: a retry that comes back within the test's time did so
    // because the fetch shortened it (ChangeMessageVisibility), not because the queue let it go.
    queues: { 'facebook-leads': { visibilityTimeoutSeconds: 30, maxReceiveCount } },
  });
  const client = DynamoDBDocumentClient.from(stack.dynamodb);
  store = new LeadStore({ client, tableName: stack.tableName });
  seen = new SeenStore({ client, tableName: stack.tableName });
});

afterAll(async () => {
  await stack?.stop();
  await graph?.stop();
  model?.remove();
});

describe('the subscription handshake', () => {
  it('echoes hub.challenge as text/plain when the verify token matches', async () => {
    const response = await fetch(`${stack.urls['GET /webhooks/facebook']}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${verifyToken}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(await response.text()).toBe('1158201444');
  });
});

describe('a lead from webhook to score', () => {
  it('the README delivery is queued, fetched from Graph with appsecret_proof, stored as one form_submitted event and scored', async () => {
    const lead = graphFixture.success_200 as GraphLead;
    graph.addLead(lead);
    const { rawBody, headers } = webhookFixture.deliveries.single_lead_string_ids;

    const answer = await post(stack.urls['POST /webhooks/facebook']!, { body: rawBody, headers });
    await stack.drain();

    expect(answer).toEqual({ status: 200, body: { received: 1, stored: 0, queued: 1, duplicates: 0, ignored: 0 } });
    expect(graph.callsFor(lead.id).map((call) => call.answered)).toEqual([200]);
    const { status, body } = await getLead(stack, 'dana.whitfield@example.com');
    expect(status).toBe(200);
    // The README lead was submitted in May 2024: its 10 points have decayed to nothing by now (half-life
    // 90 days), so it is scored from its own time, not from when it was fetched.
    expect(body).toMatchObject({
      status: 'new',
      lead: {
        email: 'dana.whitfield@example.com',
        firstName: 'Dana',
        lastName: 'Whitfield',
        jobTitle: 'Director of IT',
        company: 'Acme Logistics',
        companySize: '201-500',
      },
      score: { fit: 10, behavior: 0, total: 10 },
      eventCount: 1,
      firstSeenAt: '2024-05-14T09:21:06.000Z',
    });
    expect(body.reasons).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'director_or_head', kind: 'fit', pointsNow: 10 }),
        expect.objectContaining({ rule: 'lead_form', kind: 'behavior', rawPoints: 10, count: 1, lastSeen: '2024-05-14T09:21:06.000Z' }),
      ]),
    );
    expect(body.recentEvents).toEqual([
      {
        type: 'form_submitted',
        occurredAt: '2024-05-14T09:21:06.000Z',
        source: 'facebook',
        properties: expect.objectContaining({
          formId: '1192837465019283',
          adId: '120208765432109876',
          campaignId: '120208765432000002',
          platform: 'fb',
          isOrganic: false,
          pageId: '108273958312345',
        }),
      },
    ]);
    expect(await seen.get('facebook', lead.id)).toMatchObject({ fetchedAt: expect.any(String), leadId: 'dana.whitfield@example.com' });
  });

  it('a batch of several leads in one delivery: every lead fetched and stored', async () => {
    const leads = [newLeadgenId(), newLeadgenId(), newLeadgenId()].map((id) => graphLead(id, someone()));
    for (const lead of leads) graph.addLead(lead);

    const answer = await post(stack.urls['POST /webhooks/facebook']!, notification(leads.map((lead) => lead.id)));
    await stack.drain();

    expect(answer.body).toMatchObject({ received: 3, queued: 3 });
    for (const lead of leads) {
      const email = lead.field_data[0]!.values[0]!;
      expect((await getLead(stack, email)).body).toMatchObject({ eventCount: 1, status: 'engaged' });
    }
  });

  it('keeps ids beyond 2^53 exact from the webhook to Graph and to the stored event (numeric ids)', async () => {
    const leadgenId = (2n ** 53n + BigInt(randomInt(1, 10 ** 6))).toString();
    const email = someone();
    graph.addLead(graphLead(leadgenId, email));
    const createdTime = Math.floor(Date.now() / 1000);
    const rawBody = `{"entry":[{"id":108273958312345,"time":${createdTime},"changes":[{"value":{"ad_id":120208765432109876,"form_id":1192837465019283,"leadgen_id":${leadgenId},"created_time":${createdTime},"page_id":108273958312345,"adgroup_id":120208765432109876},"field":"leadgen"}]}],"object":"page"}`;

    expect((await post(stack.urls['POST /webhooks/facebook']!, delivery(rawBody))).body).toMatchObject({ queued: 1 });
    await stack.drain();

    expect(graph.callsFor(leadgenId)).toHaveLength(1);
    const [event] = await store.listEvents(email);
    expect(event).toMatchObject({ sourceEventId: leadgenId, properties: expect.objectContaining({ adId: '120208765432109876', formId: '1192837465019283' }) });
  });

  it('a demo-request form (mapped in the model) makes an MQL at once', async () => {
    const leadgenId = newLeadgenId();
    const email = someone();
    graph.addLead(graphLead(leadgenId, email, { form_id: demoFormId }));

    await post(stack.urls['POST /webhooks/facebook']!, notification([leadgenId], demoFormId));
    await stack.drain();

    const { body } = await getLead(stack, email);
    expect(body).toMatchObject({ status: 'mql', score: { behavior: 40 } });
    expect(body.reasons.map((reason: { rule: string }) => reason.rule)).toContain('demo_requested');
    expect(body.recentEvents[0]).toMatchObject({ type: 'form_submitted', properties: { formId: demoFormId } });
  });

  it('a phone-only lead is stored under its phone number and visible at /leads/phone:<number>', async () => {
    const leadgenId = newLeadgenId();
    const phone = `+1415555${String(randomInt(1000, 9999))}`;
    graph.addLead({
      id: leadgenId,
      created_time: graphTime(),
      field_data: [
        { name: 'full_name', values: ['Ana Lima'] },
        { name: 'phone_number', values: [phone] },
      ],
    });

    await post(stack.urls['POST /webhooks/facebook']!, notification([leadgenId]));
    await stack.drain();

    const { status, body } = await getLead(stack, `phone:${phone}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: 'engaged', eventCount: 1, lead: { firstName: 'Ana', lastName: 'Lima', phone } });
    expect(await store.listEvents(`phone:${phone}`)).toEqual([expect.objectContaining({ type: 'form_submitted', sourceEventId: leadgenId })]);
  });
});

describe('whatever a lead form holds', () => {
  it('unicode, very long answers and prototype-named questions are stored cleanly, never a crash', async () => {
    const leadgenId = newLeadgenId();
    const email = someone();
    graph.addLead(
      graphLead(leadgenId, email, {
        field_data: [
          { name: 'email', values: [email] },
          { name: 'full_name', values: ['Zoë Ångström-Nakamura 中村 🚀'] },
          { name: 'job_title', values: ['Directora de Tecnología'] },
          { name: 'what_are_your_goals?', values: ['x'.repeat(50_000)] },
          { name: '__proto__', values: ['polluted'] },
          { name: 'constructor', values: ['polluted'] },
          { name: 'favourite_colours', values: ['rot', 'grün', 'blau'] },
        ],
      }),
    );

    const answer = await post(stack.urls['POST /webhooks/facebook']!, notification([leadgenId]));
    await stack.drain();

    expect(answer.status).toBe(200);
    const { status, body } = await getLead(stack, email);
    expect(status).toBe(200);
    expect(body.lead).toMatchObject({ firstName: 'Zoë', lastName: 'Ångström-Nakamura 中村 🚀', jobTitle: 'Directora de Tecnología' });
    expect(body.lead.custom.favourite_colours).toBe('rot, grün, blau');
    expect(String(body.lead.custom['what_are_your_goals?']).length).toBeLessThanOrEqual(2000);
    expect(Object.hasOwn(body.lead.custom, '__proto__')).toBe(false);
    expect(Object.hasOwn(body.lead.custom, 'constructor')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await store.listEvents(email)).toHaveLength(1);
  });
});

describe('at least once, counted once', () => {
  it('the same delivery three times: one queued, two duplicates, one Graph call, one event', async () => {
    const leadgenId = newLeadgenId();
    const email = someone();
    graph.addLead(graphLead(leadgenId, email));
    const same = notification([leadgenId]);

    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await post(stack.urls['POST /webhooks/facebook']!, same)).body);
    await stack.drain();

    expect(answers).toEqual([
      { received: 1, stored: 0, queued: 1, duplicates: 0, ignored: 0 },
      { received: 1, stored: 0, queued: 0, duplicates: 1, ignored: 0 },
      { received: 1, stored: 0, queued: 0, duplicates: 1, ignored: 0 },
    ]);
    expect(graph.callsFor(leadgenId)).toHaveLength(1);
    expect(await store.listEvents(email)).toHaveLength(1);
  });

  it('a message SQS delivers twice costs one Graph call: the second finds the lead already fetched', async () => {
    const leadgenId = newLeadgenId();
    const email = someone();
    graph.addLead(graphLead(leadgenId, email));
    await post(stack.urls['POST /webhooks/facebook']!, notification([leadgenId]));
    await stack.drain();

    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls['facebook-leads'], MessageBody: JSON.stringify({ leadgenId }) }));
    await stack.drain();

    expect(graph.callsFor(leadgenId)).toHaveLength(1);
    expect((await getLead(stack, email)).body.eventCount).toBe(1);
  });

  it('a lead queued twice and fetched twice (the SEEN write lost in a crash) is still one event', async () => {
    const leadgenId = newLeadgenId();
    const email = someone();
    graph.addLead(graphLead(leadgenId, email));
    const body = JSON.stringify({ leadgenId, createdTime: new Date().toISOString() });

    // Two copies in flight at once, before anything is marked: both may reach Graph.
    await Promise.all([0, 1].map(() => stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls['facebook-leads'], MessageBody: body }))));
    await stack.drain();

    expect(graph.callsFor(leadgenId).length).toBeGreaterThanOrEqual(1);
    expect(await store.listEvents(email)).toHaveLength(1);
    expect((await getLead(stack, email)).body).toMatchObject({ eventCount: 1, score: { behavior: 10 } });
  });

  it('acknowledges the dashboard test lead and skips it: nothing stored, nothing queued, no Graph call', async () => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const calls = graph.calls.length;
    const rawBody = JSON.stringify({
      object: 'page',
      entry: [
        {
          id: '0',
          time: 1715678467,
          changes: [
            {
              field: 'leadgen',
              value: { leadgen_id: '444444444444', form_id: '444444444444', page_id: '444444444444', ad_id: '444444444444', created_time: 1715678466 },
            },
          ],
        },
      ],
    });

    const answer = await post(stack.urls['POST /webhooks/facebook']!, delivery(rawBody));
    await stack.drain();

    expect(answer).toEqual({ status: 200, body: { received: 1, stored: 0, queued: 0, duplicates: 0, ignored: 1, ignoredReasons: { test_lead: 1 } } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(graph.calls.length).toBe(calls);
  });
});

describe('Graph failures', () => {
  it.each<GraphFailureKind>(['app_rate_limit', 'user_rate_limit', 'page_rate_limit', 'custom_rate_limit', 'business_rate_limit'])(
    'a %s is retried after a delay, then the lead is stored once',
    async (kind) => {
      const leadgenId = newLeadgenId();
      const email = someone();
      graph.addLead(graphLead(leadgenId, email));
      graph.failNext(kind, 1);

      await post(stack.urls['POST /webhooks/facebook']!, notification([leadgenId]));
      await stack.drain();

      const calls = graph.callsFor(leadgenId);
      expect(calls.map((call) => call.answered)).toEqual([400, 200]);
      expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(900);
      expect(await store.listEvents(email)).toHaveLength(1);
    },
  );

  it('the delay grows with each receive (1 s, then 2 s)', async () => {
    const leadgenId = newLeadgenId();
    const email = someone();
    graph.addLead(graphLead(leadgenId, email));
    graph.failNext('app_rate_limit', 2);

    await post(stack.urls['POST /webhooks/facebook']!, notification([leadgenId]));
    await stack.drain();

    const calls = graph.callsFor(leadgenId);
    expect(calls.map((call) => call.answered)).toEqual([400, 400, 200]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(900);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(1900);
    expect(await store.listEvents(email)).toHaveLength(1);
  });

  it.each<GraphFailureKind>(['server_error', 'unavailable', 'connection_reset'])('a %s is retried, then the lead is stored once', async (kind) => {
    const leadgenId = newLeadgenId();
    const email = someone();
    graph.addLead(graphLead(leadgenId, email));
    graph.failNext(kind, 2);

    await post(stack.urls['POST /webhooks/facebook']!, notification([leadgenId]));
    await stack.drain();

    expect(graph.callsFor(leadgenId).map((call) => call.answered)).toEqual([
      ...(kind === 'connection_reset' ? ['reset', 'reset'] : kind === 'unavailable' ? [503, 503] : [500, 500]),
      200,
    ]);
    expect(await store.listEvents(email)).toHaveLength(1);
  });

  it.each<[GraphFailureKind, string]>([
    ['invalid_token', 'invalid_token 190/460'],
    ['expired_token', 'invalid_token 190/463'],
    ['not_found', 'not_found 100/33'],
  ])('a %s goes to the DLQ at once with nothing stored, and a redrive after the fix stores the lead', async (kind, reason) => {
    const leadgenId = newLeadgenId();
    const email = someone();
    graph.addLead(graphLead(leadgenId, email));
    const dlqBefore = await depth(stack.dlqUrls['facebook-leads']);
    graph.failNext(kind, 1);

    await post(stack.urls['POST /webhooks/facebook']!, notification([leadgenId]));
    await stack.drain();
    await waitForDlq(dlqBefore + 1);

    expect(graph.callsFor(leadgenId)).toHaveLength(1);
    expect((await getLead(stack, email)).status).toBe(404);
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls['facebook-leads'], MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], VisibilityTimeout: 0 }),
    );
    const dead = Messages.find((message) => JSON.parse(message.Body!).leadgenId === leadgenId);
    expect(dead?.MessageAttributes?.error?.StringValue).toContain(reason);

    // The operator fixes the token (the stand-in answers again) and redrives: the lead is not lost.
    expect(await redrive()).toBeGreaterThanOrEqual(1);
    await stack.drain();
    expect(graph.callsFor(leadgenId).map((call) => call.answered)).toEqual([400, 200]);
    expect(await store.listEvents(email)).toHaveLength(1);
  });

  it('a Graph outage over several receives, then recovery: every lead stored exactly once', async () => {
    const leads = Array.from({ length: 5 }, () => graphLead(newLeadgenId(), someone()));
    for (const lead of leads) graph.addLead(lead);
    graph.failFor('server_error', 2500);

    const answer = await post(stack.urls['POST /webhooks/facebook']!, notification(leads.map((lead) => lead.id)));
    await stack.drain();

    expect(answer.body).toMatchObject({ queued: 5 });
    for (const lead of leads) {
      const calls = graph.callsFor(lead.id);
      expect(calls.length).toBeGreaterThanOrEqual(2);
      expect(calls.at(-1)!.answered).toBe(200);
      expect(calls.filter((call) => call.answered === 200)).toHaveLength(1);
      expect(await store.listEvents(lead.field_data[0]!.values[0]!)).toHaveLength(1);
    }
    expect(await depth(stack.dlqUrls['facebook-leads'])).toBe(0);
  });

  it('a message that is not a leadgen notification goes to the DLQ at once, without a Graph call', async () => {
    const dlqBefore = await depth(stack.dlqUrls['facebook-leads']);
    const calls = graph.calls.length;

    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls['facebook-leads'], MessageBody: '{"leadgenId":"not a number"}' }));
    await stack.drain();
    await waitForDlq(dlqBefore + 1);

    expect(graph.calls.length).toBe(calls);
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls['facebook-leads'], MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
    );
    for (const message of Messages)
      await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.dlqUrls['facebook-leads'], ReceiptHandle: message.ReceiptHandle! }));
    expect(Messages.map((message) => message.MessageAttributes?.error?.StringValue)).toContain('unreadable: the message is not a leadgen notification');
  });

  it('a rate-limit window over a batch: the batch waits, every lead stored exactly once', async () => {
    const leads = Array.from({ length: 4 }, () => graphLead(newLeadgenId(), someone()));
    for (const lead of leads) graph.addLead(lead);
    graph.failFor('page_rate_limit', 1500);

    await post(stack.urls['POST /webhooks/facebook']!, notification(leads.map((lead) => lead.id)));
    await stack.drain();

    for (const lead of leads) {
      expect(graph.callsFor(lead.id).filter((call) => call.answered === 200)).toHaveLength(1);
      expect(await store.listEvents(lead.field_data[0]!.values[0]!)).toHaveLength(1);
    }
  });
});

describe('bad input stores nothing and queues nothing', () => {
  const url = () => stack.urls['POST /webhooks/facebook']!;
  const { rawBody, headers } = webhookFixture.deliveries.single_lead_string_ids;

  const cases: [string, number, () => { body: string | Buffer; headers: Record<string, string> }][] = [
    [
      'a bad signature (the README vector)',
      401,
      () => ({ body: webhookFixture.deliveries.bad_signature.rawBody, headers: webhookFixture.deliveries.bad_signature.headers }),
    ],
    ['no signature', 401, () => ({ body: rawBody, headers: { 'content-type': 'application/json' } })],
    [
      'only the legacy sha1 signature',
      401,
      () => ({ body: rawBody, headers: { 'content-type': 'application/json', 'x-hub-signature': headers['X-Hub-Signature'] } }),
    ],
    [
      'a signature under another app secret',
      401,
      () => ({
        body: rawBody,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${facebookSignature('another-secret', rawBody)}` },
      }),
    ],
    ['a wrong content type', 400, () => delivery(rawBody, { 'content-type': 'text/plain' })],
    ['malformed JSON', 400, () => delivery('{"object":"page","entry":[{')],
    ["a body not in Meta's shape", 400, () => delivery(JSON.stringify({ type: 'track', event: 'Lead' }))],
    [
      'a leadgen change without a leadgen id',
      400,
      () => delivery(JSON.stringify({ object: 'page', entry: [{ id: '1', changes: [{ field: 'leadgen', value: { form_id: '1' } }] }] })),
    ],
    ['a body over 1 MiB', 413, () => delivery(JSON.stringify({ object: 'page', entry: [{ id: '1', changes: [], pad: 'x'.repeat(1024 * 1024) }] }))],
  ];

  it.each(cases)('%s: %i', async (_name, status, make) => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const calls = graph.calls.length;

    const answer = await post(url(), make());
    await stack.drain();

    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ error: expect.any(String), detail: expect.any(String) });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(graph.calls.length).toBe(calls);
    expect(await depth(stack.queueUrls['facebook-leads'])).toBe(0);
  });

  it.each([
    ['a wrong verify token', `hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong`],
    ['no verify token', `hub.mode=subscribe&hub.challenge=1158201444`],
    ['another mode', `hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=${verifyToken}`],
  ])('GET with %s: 403', async (_name, query) => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const response = await fetch(`${stack.urls['GET /webhooks/facebook']}?${query}`);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'forbidden' });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
  });
});

describe('the route without its secrets', () => {
  beforeAll(async () => {
    await stack.stop();
    stack = await startTestStack({
      env: {
        FACEBOOK_APP_SECRET: appSecret,
        FACEBOOK_VERIFY_TOKEN: undefined,
        FACEBOOK_ACCESS_TOKEN: accessToken,
        FACEBOOK_GRAPH_URL: graph.url,
        LOG_LEVEL: 'SILENT',
      },
    });
  });

  it('answers 404 to a correctly signed delivery and to the handshake, and stores and queues nothing', async () => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const calls = graph.calls.length;
    const { rawBody, headers } = webhookFixture.deliveries.single_lead_string_ids;

    const answer = await post(stack.urls['POST /webhooks/facebook']!, { body: rawBody, headers });
    const handshake = await fetch(`${stack.urls['GET /webhooks/facebook']}?hub.mode=subscribe&hub.challenge=1&hub.verify_token=${verifyToken}`);
    await stack.drain();

    expect(answer).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(handshake.status).toBe(404);
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(graph.calls.length).toBe(calls);
    expect(await depth(stack.queueUrls['facebook-leads'])).toBe(0);
  });
});
