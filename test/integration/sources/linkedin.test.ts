/**
 * LinkedIn Lead Sync on the local stack (DynamoDB Local, fauxqs), against the local LinkedIn API stand-in:
 * the endpoint validation, a signed lead notification queued, the lead form response fetched with its form
 * and stored as one scored form_submitted event; redeliveries counted once; a 429 and an outage ridden out
 * through the queue; a bad token and a missing response to the DLQ (and stored after a redrive); bad input,
 * each case checked for its status and that nothing was stored or queued.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinkedinForm, LinkedinLeadResponse } from '../../../lib/apis/linkedin-leads.ts';
import type { LinkedinFailureKind, LinkedinStandIn } from '../../../lib/local/stand-ins/linkedin.ts';
import { startLinkedinStandIn } from '../../../lib/local/stand-ins/linkedin.ts';
import { linkedinSignature } from '../../../lib/sources/linkedin.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { SeenStore } from '../../../lib/store/markers.ts';
import { countItems, post } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { getLead, leadStoreOf, startTestStack } from '../../setup/stack.ts';

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/linkedin/lead_sync.json', import.meta.url), 'utf8')) as {
  clientSecret: string;
  accessToken: string;
  challenge: { challengeCode: string };
  notification: Record<string, unknown>;
  response: LinkedinLeadResponse;
  form: LinkedinForm;
};
const { clientSecret, accessToken } = fixture;
const queue = 'linkedin-leads';

let stack: LocalStack;
let api: LinkedinStandIn;
let store: LeadStore;
let seen: SeenStore;

/** A lead form response id as LinkedIn makes them: a UUID and a suffix. */
const newResponseId = () => `${randomUUID()}-4`;
const someone = () => `li.${randomUUID().slice(0, 8)}@contoso-data.example.com`;

/** A response with its own id and e-mail, a few seconds old, on the fixture's form. */
function leadResponse(responseId: string, email: string | undefined): LinkedinLeadResponse {
  const answers = fixture.response.formResponse.answers.filter((answer) => answer.questionId !== 307234246 && answer.questionId !== 607234246);
  return {
    ...structuredClone(fixture.response),
    id: responseId,
    submittedAt: Date.now() - 5000,
    formResponse: {
      ...fixture.response.formResponse,
      answers: [...(email ? [{ questionId: 307234246, answerDetails: { textQuestionAnswer: { answer: email } } }] : []), ...answers],
    },
  };
}

function delivery(rawBody: string, headers: Record<string, string> = {}): { body: string; headers: Record<string, string> } {
  return { body: rawBody, headers: { 'content-type': 'application/json', 'x-li-signature': linkedinSignature(clientSecret, rawBody), ...headers } };
}

/** A signed lead notification naming this response. */
const notification = (responseId: string) =>
  delivery(JSON.stringify({ ...fixture.notification, leadGenFormResponse: `urn:li:leadGenFormResponse:${responseId}`, occurredAt: Date.now() - 4000 }));

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

/** What `mql redrive --queue linkedin-leads` does: every dead letter back onto the queue. */
async function redrive(): Promise<number> {
  let moved = 0;
  for (;;) {
    const { Messages = [] } = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls[queue], MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (Messages.length === 0) return moved;
    for (const message of Messages) {
      await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls[queue], MessageBody: message.Body! }));
      await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.dlqUrls[queue], ReceiptHandle: message.ReceiptHandle! }));
      moved += 1;
    }
  }
}

async function waitForDlq(count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await depth(stack.dlqUrls[queue])) < count) {
    if (Date.now() > deadline) throw new Error(`the ${queue} DLQ did not reach ${count} message(s)`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  api = await startLinkedinStandIn({ accessToken });
  stack = await startTestStack({
    env: {
      LINKEDIN_CLIENT_SECRET: clientSecret,
      LINKEDIN_ACCESS_TOKEN: accessToken,
      LINKEDIN_API_URL: api.url,
      LINKEDIN_RETRY_BASE_SECONDS: '1',
      LINKEDIN_RETRY_MAX_SECONDS: '2',
      CRM_ADAPTER: 'none',
      LOG_LEVEL: 'SILENT',
    },
    // A visibility far above the retry delays: a retry that comes back within the test did so because the
    // fetch shortened it (ChangeMessageVisibility), not because the queue let it go.
    queues: { [queue]: { visibilityTimeoutSeconds: 30, maxReceiveCount: 4 } },
  });
  store = leadStoreOf(stack);
  seen = new SeenStore({ client: DynamoDBDocumentClient.from(stack.dynamodb), tableName: stack.tableName });
});

afterAll(async () => {
  await stack?.stop();
  await api?.stop();
});

describe('the endpoint validation', () => {
  it('answers challengeCode and its HMAC-SHA256 under the client secret, as JSON', async () => {
    const { challengeCode } = fixture.challenge;
    const response = await fetch(`${stack.urls['GET /webhooks/linkedin']}?challengeCode=${challengeCode}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ challengeCode, challengeResponse: createHmac('sha256', clientSecret).update(challengeCode).digest('hex') });
  });

  it('answers each new code LinkedIn sends on re-validation', async () => {
    const code = randomUUID();
    const body = (await (await fetch(`${stack.urls['GET /webhooks/linkedin']}?challengeCode=${code}`)).json()) as { challengeResponse: string };
    expect(body.challengeResponse).toBe(createHmac('sha256', clientSecret).update(code).digest('hex'));
  });

  it('a GET without a challenge code is a 400 and stores nothing', async () => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const response = await fetch(stack.urls['GET /webhooks/linkedin']!);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'bad_request' });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
  });
});

describe('a lead from notification to score', () => {
  it('the fixture lead is queued, fetched with its form, mapped onto the profile and stored as one form_submitted event', async () => {
    api.addLead(fixture.response, fixture.form);
    const rawBody = JSON.stringify(fixture.notification);

    const answer = await post(stack.urls['POST /webhooks/linkedin']!, delivery(rawBody));
    await stack.drain();

    expect(answer).toEqual({ status: 200, body: { received: 1, stored: 0, queued: 1, duplicates: 0, ignored: 0 } });
    expect(api.callsFor(fixture.response.id).map((call) => call.answered)).toEqual([200]);
    const email = 'priya.raman@fabrikam-cloud.example.com';
    const { status, body } = await getLead(stack, email);
    expect(status).toBe(200);
    expect(body.lead).toMatchObject({
      email,
      firstName: 'Priya',
      lastName: 'Raman',
      jobTitle: 'Chief Revenue Officer',
      company: 'Fabrikam Cloud',
      industry: 'Software Development',
      companySize: '1001-5000',
      country: 'DE',
      custom: { seniority: 'CXO', jobFunction: 'Sales', 'Which CRM do you use?': 'HubSpot', 'When do you plan to buy?': 'Q1 2027' },
    });
    expect(body).toMatchObject({ eventCount: 1, firstSeenAt: new Date(fixture.response.submittedAt!).toISOString() });
    // The fit the form's answers earn (the lead form rule's own points are left to the model).
    expect(body.reasons).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ rule: 'c_level_or_vp', kind: 'fit', pointsNow: 15 }),
        expect.objectContaining({ rule: 'target_industry', kind: 'fit', pointsNow: 10 }),
        expect.objectContaining({ rule: 'company_over_500', kind: 'fit', pointsNow: 15 }),
      ]),
    );
    expect(body.recentEvents).toEqual([
      {
        type: 'form_submitted',
        occurredAt: new Date(fixture.response.submittedAt!).toISOString(),
        source: 'linkedin',
        properties: expect.objectContaining({ formId: '7234246', formName: 'RevOps benchmark report', campaignId: '198356826', leadType: 'SPONSORED' }),
      },
    ]);
    expect(await seen.get('linkedin', fixture.response.id)).toMatchObject({ fetchedAt: expect.any(String), leadId: email });
  });

  it('a lead without an e-mail is stored under its phone number', async () => {
    const responseId = newResponseId();
    api.addLead(leadResponse(responseId, undefined), fixture.form);

    await post(stack.urls['POST /webhooks/linkedin']!, notification(responseId));
    await stack.drain();

    const { status, body } = await getLead(stack, 'phone:+49301234567');
    expect(status).toBe(200);
    expect(body.lead).toMatchObject({ phone: '+49 30 1234567', firstName: 'Priya' });
  });
});

describe('at least once, counted once', () => {
  it('the same notification three times: one queued, two duplicates, one API call, one event', async () => {
    const responseId = newResponseId();
    const email = someone();
    api.addLead(leadResponse(responseId, email), fixture.form);
    const same = notification(responseId);

    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await post(stack.urls['POST /webhooks/linkedin']!, same)).body);
    await stack.drain();

    expect(answers).toEqual([
      { received: 1, stored: 0, queued: 1, duplicates: 0, ignored: 0 },
      { received: 1, stored: 0, queued: 0, duplicates: 1, ignored: 0 },
      { received: 1, stored: 0, queued: 0, duplicates: 1, ignored: 0 },
    ]);
    expect(api.callsFor(responseId)).toHaveLength(1);
    expect(await store.listEvents(email)).toHaveLength(1);
  });

  it('a message SQS delivers twice costs one API call: the second finds the lead already fetched', async () => {
    const responseId = newResponseId();
    const email = someone();
    api.addLead(leadResponse(responseId, email), fixture.form);
    await post(stack.urls['POST /webhooks/linkedin']!, notification(responseId));
    await stack.drain();

    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls[queue], MessageBody: JSON.stringify({ responseId }) }));
    await stack.drain();

    expect(api.callsFor(responseId)).toHaveLength(1);
    expect((await getLead(stack, email)).body.eventCount).toBe(1);
  });

  it('a DELETED lead action is acknowledged and ignored: nothing fetched, nothing stored', async () => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const calls = api.calls.length;
    const rawBody = JSON.stringify({ ...fixture.notification, leadGenFormResponse: `urn:li:leadGenFormResponse:${newResponseId()}`, leadAction: 'DELETED' });

    const answer = await post(stack.urls['POST /webhooks/linkedin']!, delivery(rawBody));
    await stack.drain();

    expect(answer).toEqual({ status: 200, body: { received: 1, stored: 0, queued: 0, duplicates: 0, ignored: 1, ignoredReasons: { lead_deleted: 1 } } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(api.calls.length).toBe(calls);
  });
});

describe('LinkedIn API failures', () => {
  it('a 429 twice is backed off through the queue, then the lead is fetched once it recovers and stored once', async () => {
    const responseId = newResponseId();
    const email = someone();
    api.addLead(leadResponse(responseId, email), fixture.form);
    api.failNext('rate_limited', 2);

    await post(stack.urls['POST /webhooks/linkedin']!, notification(responseId));
    await stack.drain();

    expect(api.callsFor(responseId).map((call) => call.answered)).toEqual([429, 429, 200]);
    expect(await store.listEvents(email)).toHaveLength(1);
  });

  it('an outage over several receives, then recovery: every lead stored exactly once, none dead-lettered', async () => {
    const leads = Array.from({ length: 4 }, () => ({ responseId: newResponseId(), email: someone() }));
    for (const lead of leads) api.addLead(leadResponse(lead.responseId, lead.email), fixture.form);
    api.failFor('server_error', 2500);

    for (const lead of leads) await post(stack.urls['POST /webhooks/linkedin']!, notification(lead.responseId));
    await stack.drain();

    for (const lead of leads) {
      const calls = api.callsFor(lead.responseId);
      expect(calls.length).toBeGreaterThanOrEqual(2);
      expect(calls.filter((call) => call.answered === 200)).toHaveLength(1);
      expect(await store.listEvents(lead.email)).toHaveLength(1);
    }
    expect(await depth(stack.dlqUrls[queue])).toBe(0);
  });

  it.each<[LinkedinFailureKind, string]>([
    ['unavailable', '503'],
    ['connection_reset', 'reset'],
  ])('a %s is retried, then the lead is stored once', async (kind, first) => {
    const responseId = newResponseId();
    const email = someone();
    api.addLead(leadResponse(responseId, email), fixture.form);
    api.failNext(kind, 1);

    await post(stack.urls['POST /webhooks/linkedin']!, notification(responseId));
    await stack.drain();

    expect(api.callsFor(responseId).map((call) => String(call.answered))).toEqual([first, '200']);
    expect(await store.listEvents(email)).toHaveLength(1);
  });

  it.each<[LinkedinFailureKind, string]>([
    ['expired_token', 'invalid_token 401 EXPIRED_ACCESS_TOKEN'],
    ['invalid_token', 'invalid_token 401 INVALID_ACCESS_TOKEN'],
    ['not_found', 'not_found 404 NOT_FOUND'],
  ])('a %s goes to the DLQ at once with nothing stored, and a redrive after the fix stores the lead', async (kind, reason) => {
    const responseId = newResponseId();
    const email = someone();
    api.addLead(leadResponse(responseId, email), fixture.form);
    const dlqBefore = await depth(stack.dlqUrls[queue]);
    api.failNext(kind, 1);

    await post(stack.urls['POST /webhooks/linkedin']!, notification(responseId));
    await stack.drain();
    await waitForDlq(dlqBefore + 1);

    expect(api.callsFor(responseId)).toHaveLength(1);
    expect((await getLead(stack, email)).status).toBe(404);
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls[queue], MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], VisibilityTimeout: 0 }),
    );
    const dead = Messages.find((message) => JSON.parse(message.Body!).responseId === responseId);
    expect(dead?.MessageAttributes?.error?.StringValue).toContain(reason);

    // The operator replaces the token (the stand-in answers again) and redrives: the lead is not lost.
    expect(await redrive()).toBeGreaterThanOrEqual(1);
    await stack.drain();
    expect(api.callsFor(responseId).map((call) => call.answered)).toEqual([kind === 'not_found' ? 404 : 401, 200]);
    expect(await store.listEvents(email)).toHaveLength(1);
  });

  it('a message that is not a lead notification goes to the DLQ at once, without an API call', async () => {
    const dlqBefore = await depth(stack.dlqUrls[queue]);
    const calls = api.calls.length;

    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls[queue], MessageBody: '{"responseId":"../leadForms/1"}' }));
    await stack.drain();
    await waitForDlq(dlqBefore + 1);

    expect(api.calls.length).toBe(calls);
    const { Messages = [] } = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls[queue], MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
    );
    for (const message of Messages) await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.dlqUrls[queue], ReceiptHandle: message.ReceiptHandle! }));
    expect(Messages.map((message) => message.MessageAttributes?.error?.StringValue)).toContain('unreadable: the message is not a lead notification');
  });
});

describe('bad input stores nothing and queues nothing', () => {
  const rawBody = () => JSON.stringify({ ...fixture.notification, leadGenFormResponse: `urn:li:leadGenFormResponse:${newResponseId()}` });

  const cases: [string, number, string, () => { body: string | Buffer; headers: Record<string, string> }][] = [
    ['no signature', 401, 'unauthorized', () => ({ body: rawBody(), headers: { 'content-type': 'application/json' } })],
    [
      'a signature under another client secret',
      401,
      'unauthorized',
      () => {
        const body = rawBody();
        return { body, headers: { 'content-type': 'application/json', 'x-li-signature': linkedinSignature('another-secret', body) } };
      },
    ],
    [
      'a signature of another body',
      401,
      'unauthorized',
      () => ({ body: rawBody(), headers: { 'content-type': 'application/json', 'x-li-signature': linkedinSignature(clientSecret, rawBody()) } }),
    ],
    ['a wrong content type', 400, 'unsupported_media_type', () => delivery(rawBody(), { 'content-type': 'text/plain' })],
    ['malformed JSON', 400, 'bad_request', () => delivery('{"type":"LEAD_ACTION","leadGenFormResponse":')],
    ["a body not in LinkedIn's shape", 400, 'bad_request', () => delivery(JSON.stringify({ object: 'page', entry: [] }))],
    [
      'a lead notification without its response id',
      400,
      'bad_request',
      () => delivery(JSON.stringify({ ...fixture.notification, leadGenFormResponse: undefined })),
    ],
    [
      'a signed body nested 100,000 levels deep',
      400,
      'bad_request',
      () => delivery(rawBody().replace('"leadType"', `"deep":${'['.repeat(100_000)}${']'.repeat(100_000)},"leadType"`)),
    ],
    [
      'a signed notification whose response URN is 900 KB long',
      400,
      'bad_request',
      () => delivery(JSON.stringify({ ...fixture.notification, leadGenFormResponse: `urn:li:leadGenFormResponse:${'a'.repeat(900_000)}` })),
    ],
    ['a body over 1 MiB', 413, 'payload_too_large', () => delivery(JSON.stringify({ ...fixture.notification, pad: 'x'.repeat(1024 * 1024) }))],
  ];

  it.each(cases)('%s: %i %s', async (_name, status, error, make) => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const calls = api.calls.length;

    const answer = await post(stack.urls['POST /webhooks/linkedin']!, make());
    await stack.drain();

    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ error, detail: expect.any(String) });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(api.calls.length).toBe(calls);
    expect(await depth(stack.queueUrls[queue])).toBe(0);
  });
});

describe('the route without its secret', () => {
  beforeAll(async () => {
    await stack.stop();
    stack = await startTestStack({
      env: { LINKEDIN_CLIENT_SECRET: undefined, LINKEDIN_ACCESS_TOKEN: accessToken, LINKEDIN_API_URL: api.url, LOG_LEVEL: 'SILENT' },
    });
  });

  it('answers 404 to a correctly signed notification and to the validation, and stores and queues nothing', async () => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const calls = api.calls.length;

    const answer = await post(stack.urls['POST /webhooks/linkedin']!, notification(newResponseId()));
    const validation = await fetch(`${stack.urls['GET /webhooks/linkedin']}?challengeCode=${fixture.challenge.challengeCode}`);
    await stack.drain();

    expect(answer).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(validation.status).toBe(404);
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(api.calls.length).toBe(calls);
    expect(await depth(stack.queueUrls[queue])).toBe(0);
  });
});
