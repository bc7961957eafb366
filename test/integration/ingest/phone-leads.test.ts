/**
 * Leads without an e-mail on the local stack: a phone-only Facebook lead (through the Graph stand-in)
 * is merged into its e-mail lead when a Segment identify or a second Facebook lead brings the e-mail
 * with the same phone; its key keeps answering at GET /leads/phone:...; a phone-only demo request
 * reaches the CRM as a record with `leadId` and `phone` and no e-mail.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GraphLead } from '../../../lib/apis/facebook-graph.ts';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import type { GraphStandIn } from '../../../lib/local/stand-ins/graph.ts';
import { startGraphStandIn } from '../../../lib/local/stand-ins/graph.ts';
import { facebookSignature } from '../../../lib/sources/facebook.ts';
import { crmSecret, eventsSecret, post, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { demoFormId, demoFormModel, enqueueHandoff, getLead, startTestStack } from '../../setup/stack.ts';

const webhookFixture = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_leadgen_webhook.json', import.meta.url), 'utf8')) as Record<string, any>;
const graphFixture = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_graph_lead_responses.json', import.meta.url), 'utf8')) as Record<
  string,
  any
>;
const appSecret: string = webhookFixture.appSecret;
const accessToken: string = graphFixture.request.appsecret_proof.access_token;
const contactFormId = '1192837465019283';

let stack: LocalStack;
let graph: GraphStandIn;
let crm: CrmReceiver;
let model: ReturnType<typeof demoFormModel> | undefined;

beforeAll(async () => {
  graph = await startGraphStandIn({ appSecret, accessToken });
  crm = await startCrmReceiver(crmSecret);
  model = demoFormModel();
  stack = await startTestStack({
    env: {
      FACEBOOK_APP_SECRET: appSecret,
      FACEBOOK_VERIFY_TOKEN: webhookFixture.verifyToken,
      FACEBOOK_ACCESS_TOKEN: accessToken,
      FACEBOOK_GRAPH_URL: graph.url,
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      CRM_ADAPTER: 'webhook',
      CRM_WEBHOOK_URL: crm.url,
      CRM_WEBHOOK_SECRET: crmSecret,
      MQL_MODEL_PATH: model.path,
      LOG_LEVEL: 'SILENT',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await graph?.stop();
  await crm?.close();
  model?.remove();
});

beforeEach(() => crm.reset());

const newLeadgenId = () => `10394${String(randomInt(10 ** 10, 10 ** 11 - 1))}`;
const graphTime = (date = new Date()) => `${date.toISOString().slice(0, 19)}+0000`;
const newEmail = () => `ana.${randomUUID().slice(0, 8)}@acme-logistics.com`;
function newPhone(): { phone: string; spaced: string; key: string } {
  const digits = String(randomInt(10 ** 6, 10 ** 7 - 1));
  return { phone: `+1415${digits}`, spaced: `+1 415 ${digits.slice(0, 3)} ${digits.slice(3)}`, key: `phone:+1415${digits}` };
}

/** A lead submitted on a Facebook form, fetched from the Graph stand-in by the fetch Lambda. */
async function submitFacebookForm(fields: Record<string, string>, formId = contactFormId): Promise<string> {
  const leadgenId = newLeadgenId();
  const lead: GraphLead = {
    id: leadgenId,
    created_time: graphTime(new Date(Date.now() - 5000)),
    form_id: formId,
    is_organic: false,
    platform: 'fb',
    field_data: Object.entries(fields).map(([name, value]) => ({ name, values: [value] })),
  };
  graph.addLead(lead);
  const createdTime = Math.floor(Date.now() / 1000) - 5;
  const body = JSON.stringify({
    object: 'page',
    entry: [
      {
        id: '108273958312345',
        time: createdTime,
        changes: [{ field: 'leadgen', value: { leadgen_id: leadgenId, form_id: formId, page_id: '108273958312345', created_time: createdTime } }],
      },
    ],
  });
  const answer = await post(stack.urls['POST /webhooks/facebook']!, {
    body,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${facebookSignature(appSecret, body)}` },
  });
  expect(answer).toMatchObject({ status: 200, body: { queued: 1 } });
  await stack.drain();
  return leadgenId;
}

async function identify(traits: Record<string, unknown>): Promise<void> {
  const message = { type: 'identify', messageId: `identify-${randomUUID()}`, timestamp: new Date().toISOString(), userId: `user-${randomUUID()}`, traits };
  expect(await post(stack.urls['POST /webhooks/events']!, signedDelivery(message))).toMatchObject({ status: 200, body: { stored: 1 } });
  await stack.drain();
}

describe('a phone-only Facebook lead meets its e-mail', () => {
  it('a Segment identify with the e-mail and the same phone absorbs it; the phone key answers with the e-mail lead', async () => {
    const phone = newPhone();
    const email = newEmail();
    await submitFacebookForm({ full_name: 'Ana Lima', phone_number: phone.phone });
    const before = await getLead(stack, phone.key);
    expect(before).toMatchObject({ status: 200, body: { leadId: phone.key, eventCount: 1, lead: { phone: phone.phone, firstName: 'Ana' } } });
    expect(before.body.lead).not.toHaveProperty('email');

    await identify({ email, phone: phone.spaced, title: 'CEO', industry: 'Software' });

    const merged = await getLead(stack, email);
    expect(merged).toMatchObject({
      status: 200,
      body: { leadId: email, mergedFrom: [phone.key], eventCount: 2, lead: { email, firstName: 'Ana', lastName: 'Lima', jobTitle: 'CEO' } },
    });
    expect(merged.body.recentEvents.map((event: { source: string }) => event.source).sort()).toEqual(['facebook', 'segment']);
    const byPhone = await getLead(stack, phone.key);
    expect(byPhone.status).toBe(200);
    expect(byPhone.body).toMatchObject({ leadId: email, eventCount: 2, score: { total: merged.body.score.total } });

    // A second phone-only form from the same number lands on the e-mail lead.
    await submitFacebookForm({ full_name: 'Ana Lima', phone_number: phone.phone });
    expect((await getLead(stack, email)).body).toMatchObject({ eventCount: 3, status: 'engaged' });
  });

  it('a second Facebook lead with the same phone and an e-mail absorbs it', async () => {
    const phone = newPhone();
    const email = newEmail();
    await submitFacebookForm({ full_name: 'Ana Lima', phone_number: phone.phone });

    await submitFacebookForm({ email, full_name: 'Ana Lima', phone_number: phone.spaced, job_title: 'VP Operations' });

    const { body } = await getLead(stack, email);
    expect(body).toMatchObject({ leadId: email, mergedFrom: [phone.key], eventCount: 2, lead: { email, jobTitle: 'VP Operations' } });
    expect(body.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'lead_form', count: 2, rawPoints: 20 })]));
    expect((await getLead(stack, phone.key)).body.leadId).toBe(email);
  });

  it('an unknown phone key is still a 404', async () => {
    const { status, body } = await getLead(stack, newPhone().key);
    expect(status).toBe(404);
    expect(body.error).toBeDefined();
  });
});

describe('a phone-only lead reaching the CRM', () => {
  it('a phone-only demo request is handed off with leadId and phone, no e-mail; its e-mail later hands off the merged lead naming it', async () => {
    const phone = newPhone();
    await submitFacebookForm({ full_name: 'Ana Lima', phone_number: phone.phone, job_title: 'VP Sales' }, demoFormId);

    const [first] = await crm.waitFor(1);
    expect(first!.leadId).toBe(phone.key);
    expect(first!.record).toMatchObject({ type: 'lead.mql', leadId: phone.key, lead: { phone: phone.phone, firstName: 'Ana', jobTitle: 'VP Sales' } });
    expect(first!.record.lead).not.toHaveProperty('email');
    await stack.drain();
    expect((await getLead(stack, phone.key)).body.handoffs).toEqual([expect.objectContaining({ type: 'lead.mql', status: 'delivered' })]);

    const email = newEmail();
    await identify({ email, phone: phone.phone });
    const received = await crm.waitFor(2);
    await stack.drain();

    expect(received[1]!.record).toMatchObject({ type: 'lead.mql', leadId: email, mergedFrom: [phone.key], lead: { email, phone: phone.phone } });
    const { body } = await getLead(stack, email);
    expect(body).toMatchObject({ status: 'mql', eventCount: 2 });
    // Its handoffs and those sent under the phone key, oldest first.
    expect(body.handoffs.map((handoff: { id: string; status: string }) => [handoff.id, handoff.status])).toEqual([
      [first!.record.id, 'delivered'],
      [received[1]!.record.id, 'delivered'],
    ]);
  });

  it('a handoff message queued before records carried leadId is delivered and recorded under lead.email', async () => {
    const email = newEmail();
    await identify({ email, title: 'CEO' });
    const record = {
      type: 'lead.mql',
      id: `msg_legacy_${randomUUID().slice(0, 8)}`,
      occurredAt: new Date().toISOString(),
      lead: { email, jobTitle: 'CEO' },
      score: { total: 60, fit: 15, behavior: 45, threshold: 60, modelVersion: 'sha256:legacy' },
      reasons: [],
      recentEvents: [],
    };

    await enqueueHandoff(stack, record);
    const [delivered] = await crm.waitFor(1);
    await stack.drain();

    expect(delivered).toMatchObject({ webhookId: record.id, leadId: email });
    expect((await getLead(stack, email)).body.handoffs).toEqual([expect.objectContaining({ id: record.id, status: 'delivered', attempts: 1 })]);
  });
});
