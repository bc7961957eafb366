/**
 * Superseded handoffs on the local stack, against the signed CRM webhook receiver: SQS keeps no order,
 * so a lead's older transition can reach the handoff after a newer one was delivered (an MQL held back,
 * then its recycle sent first). The older one is then acknowledged without a call, marked `superseded`
 * with the id of the newer one, shown by `mql deliveries` and logged; in-order transitions, and an MQL
 * and its recycle in one batch (in whichever order SQS hands them over), are all sent, oldest first.
 * Against the HubSpot stand-in, a late MQL leaves the contact at the recycled lead status.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HandoffRecord } from '../../../lib/core/handoff.ts';
import { hubSpotDefaultLeadStatuses } from '../../../lib/crm/hubspot-properties.ts';
import { setupHubSpot } from '../../../lib/crm/hubspot-setup.ts';
import { webhookAdapter } from '../../../lib/crm/webhook.ts';
import { deliverHandoffs } from '../../../lib/handoff/consumer.ts';
import { queueDepth } from '../../../lib/jobs/redrive.ts';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { mqlOn } from '../../setup/cli.ts';
import { handoffRecord } from '../../setup/events.ts';
import { captureHandlerLogs } from '../../setup/handler-logs.ts';
import { crmSecret, eventsSecret, postWorkedExample } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { enqueueHandoff, leadStoreOf, startTestStack } from '../../setup/stack.ts';

let stack: LocalStack;
let crm: CrmReceiver;
let store: LeadStore;
let dataDir: string;
const logLines = captureHandlerLogs('INFO');

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mql-handoff-superseded-'));
  crm = await startCrmReceiver(crmSecret);
  stack = await startTestStack({
    dataDir,
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: crm.url, CRM_WEBHOOK_SECRET: crmSecret, LOG_LEVEL: 'INFO' },
    log: () => {},
  });
  store = leadStoreOf(stack);
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(() => crm.reset());

const qualify = (email: string) => postWorkedExample(stack.urls['POST /webhooks/events']!, email);

const cli = (...args: string[]) => mqlOn(dataDir, args);

/** A later transition of the same lead: same person and score shape, its own id and time. */
function later(record: HandoffRecord, type: HandoffRecord['type'], afterMs: number): HandoffRecord {
  return { ...record, type, id: `msg_${randomUUID()}`, occurredAt: new Date(Date.parse(record.occurredAt) + afterMs).toISOString() };
}

const day = 86_400_000;

describe('superseded handoffs', () => {
  it('an MQL arriving after its recycle was delivered is not sent: shown as superseded, logged', async () => {
    // The MQL is held back (a refused token: straight to the DLQ, to come back by `mql redrive`).
    crm.failNext([401]);
    const email = `late-mql.${randomUUID().slice(0, 8)}@acme.com`;
    await qualify(email);
    await stack.drain({ timeoutMs: 20_000 });
    expect(await queueDepth(stack.sqs, stack.dlqUrls.handoff)).toBe(1);
    const peek = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls.handoff, VisibilityTimeout: 0 }));
    const mqlRecord = JSON.parse(peek.Messages![0]!.Body!) as HandoffRecord;
    expect(mqlRecord).toMatchObject({ type: 'lead.mql', leadId: email });

    // Meanwhile the lead is recycled and that reaches the CRM.
    const recycle = later(mqlRecord, 'lead.recycled', 30 * day);
    await enqueueHandoff(stack, recycle);
    await crm.waitFor(1, 20_000);
    await stack.drain({ timeoutMs: 20_000 });

    // Token fixed, the MQL redriven: it would put the CRM back to MQL after the recycle.
    await cli('redrive', '--queue', 'handoff');
    await stack.drain({ timeoutMs: 20_000 });

    expect(crm.received.map((handoff) => handoff.record.type)).toEqual(['lead.recycled']);
    expect(crm.attempts.map((attempt) => attempt.status)).toEqual([401, 200]);
    expect(await queueDepth(stack.sqs, stack.dlqUrls.handoff)).toBe(0);
    const handoffs = await store.listHandoffs(email);
    expect(handoffs.find((handoff) => handoff.id === mqlRecord.id)).toMatchObject({
      type: 'lead.mql',
      status: 'superseded',
      supersededBy: recycle.id,
      attempts: 1,
      lastKind: 'auth',
    });
    expect(handoffs.find((handoff) => handoff.id === recycle.id)).toMatchObject({ type: 'lead.recycled', status: 'delivered', attempts: 1 });

    const { stdout } = await cli('deliveries', email);
    expect(stdout).toContain(`lead.mql  superseded by ${recycle.id} (delivered first; this one was not sent)`);
    expect(stdout).toMatch(/failed \(auth\)/);
    expect(stdout).toMatch(/lead\.recycled {2}delivered/);
    const explained = await cli('explain', email);
    expect(explained.stdout).toMatch(new RegExp(`lead\\.mql {2}superseded by ${recycle.id} \\(not sent\\) {2}attempts 1  crm 401\n`));
    const line = logLines.map((text) => JSON.parse(text)).find((entry) => entry.message?.startsWith('handoff superseded'));
    expect(line).toMatchObject({ id: mqlRecord.id, type: 'lead.mql', supersededBy: recycle.id, supersededByType: 'lead.recycled' });

    // A copy of the superseded MQL later still goes nowhere.
    await enqueueHandoff(stack, mqlRecord);
    await stack.drain({ timeoutMs: 20_000 });
    expect(crm.attempts).toHaveLength(2);
  });

  it('in order, every transition is sent: MQL, its recycle, a later MQL', async () => {
    const email = `in-order.${randomUUID().slice(0, 8)}@acme.com`;
    await qualify(email);
    const [first] = await crm.waitFor(1, 20_000);
    await stack.drain({ timeoutMs: 20_000 });
    const recycle = later(first!.record, 'lead.recycled', 30 * day);
    await enqueueHandoff(stack, recycle);
    await crm.waitFor(2, 20_000);
    await stack.drain({ timeoutMs: 20_000 });
    const again = later(first!.record, 'lead.mql', 45 * day);
    await enqueueHandoff(stack, again);
    await crm.waitFor(3, 20_000);
    await stack.drain({ timeoutMs: 20_000 });

    expect(crm.received.map((handoff) => [handoff.record.type, handoff.record.id])).toEqual([
      ['lead.mql', first!.record.id],
      ['lead.recycled', recycle.id],
      ['lead.mql', again.id],
    ]);
    const handoffs = await store.listHandoffs(email);
    expect(handoffs.map((handoff) => [handoff.type, handoff.status])).toEqual([
      ['lead.mql', 'delivered'],
      ['lead.recycled', 'delivered'],
      ['lead.mql', 'delivered'],
    ]);
    expect(logLines.some((text) => text.includes('handoff superseded'))).toBe(false);
  });

  it('an MQL and its recycle in one batch are both sent, oldest first, whatever order SQS gave them', async () => {
    const email = `one-batch.${randomUUID().slice(0, 8)}@acme.com`;
    const mqlRecord = handoffRecord(email, {
      occurredAt: '2026-11-20T09:00:00.000Z',
      lead: { email, firstName: 'Dana', company: 'Acme' },
      score: { total: 72, fit: 30, behavior: 42, threshold: 60, modelVersion: '504a1c85b2af' },
    });
    const recycle = later(mqlRecord, 'lead.recycled', 2 * day);
    // The recycle first, as SQS may hand them over.
    const event: SQSEvent = {
      Records: [recycle, mqlRecord].map((record, index) => ({
        messageId: `m-${index}-${randomUUID()}`,
        receiptHandle: `r-${index}`,
        body: JSON.stringify(record),
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'test', ApproximateFirstReceiveTimestamp: '0' },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:handoff',
        awsRegion: 'us-east-1',
      })),
    };
    const answer = await deliverHandoffs(event, { store, adapter: async () => webhookAdapter({ url: crm.url, secret: crmSecret }) });

    expect(answer.batchItemFailures).toEqual([]);
    expect(crm.received.map((handoff) => handoff.record.id)).toEqual([mqlRecord.id, recycle.id]);
    const handoffs = await store.listHandoffs(email);
    expect(handoffs.map((handoff) => [handoff.type, handoff.status])).toEqual([
      ['lead.mql', 'delivered'],
      ['lead.recycled', 'delivered'],
    ]);

    // Sent again in the reverse order (a redelivery of both): nothing more reaches the CRM.
    await deliverHandoffs(event, { store, adapter: async () => webhookAdapter({ url: crm.url, secret: crmSecret }) });
    expect(crm.attempts).toHaveLength(2);
  });

  it('the store sets aside a handoff never tried (no attempts) but never one already delivered', async () => {
    const email = `store.${randomUUID().slice(0, 8)}@acme.com`;
    const base = handoffRecord(email, {
      occurredAt: '2026-11-01T09:00:00.000Z',
      score: { total: 61, fit: 20, behavior: 41, threshold: 60, modelVersion: 'v' },
    });
    const delivered = later(base, 'lead.recycled', day);
    const at = new Date('2026-11-29T10:00:00.000Z');
    await store.recordHandoffAttempt(delivered, { at, adapter: 'hubspot', outcome: 'delivered', crmStatus: 200 });

    expect(await store.recordHandoffSuperseded(base, { at, supersededBy: delivered.id, adapter: 'hubspot' })).toBe(true);
    expect(await store.recordHandoffSuperseded(delivered, { at, supersededBy: 'msg_other', adapter: 'hubspot' })).toBe(false);
    const handoffs = await store.listHandoffs(email);
    expect(handoffs).toEqual([
      expect.objectContaining({
        id: base.id,
        status: 'superseded',
        supersededBy: delivered.id,
        supersededAt: at.toISOString(),
        attempts: 0,
        adapter: 'hubspot',
      }),
      expect.objectContaining({ id: delivered.id, status: 'delivered', attempts: 1 }),
    ]);
    expect(handoffs[1]!.supersededBy).toBeUndefined();
    const { stdout } = await cli('deliveries', email);
    expect(stdout).toContain(`lead.mql  superseded by ${delivered.id}`);
    expect(stdout).not.toContain('no attempt items kept');
  });

  it('dead-letters a record whose occurredAt is not a time (it could not be ordered), sending nothing', async () => {
    const email = `bad-time.${randomUUID().slice(0, 8)}@acme.com`;
    // Its occurredAt is no time (and its score is empty): the consumer cannot order it.
    const record = { ...handoffRecord(email, { occurredAt: 'last tuesday' }), score: {} };
    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 20_000 });
    const dead = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls.handoff, MessageAttributeNames: ['All'], MaxNumberOfMessages: 10 }));
    expect(dead.Messages?.map((message) => [JSON.parse(message.Body!).id, message.MessageAttributes?.error?.StringValue])).toEqual([
      [record.id, 'unreadable: the message is not a handoff record'],
    ]);
    expect(crm.attempts).toEqual([]);
    expect(await store.listHandoffs(email)).toEqual([]);
    for (const message of dead.Messages ?? [])
      await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.dlqUrls.handoff, ReceiptHandle: message.ReceiptHandle! }));
  });
});

describe('superseded handoffs in HubSpot', () => {
  const token = 'pat-na1-00000000-test-only-0000-000000000000';
  let hubspot: HubSpotStandIn;
  let world: LocalStack;

  beforeAll(async () => {
    hubspot = await startHubSpotStandIn({ token });
    await setupHubSpot({ token, baseUrl: hubspot.url });
    world = await startTestStack({
      env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'hubspot', HUBSPOT_BASE_URL: hubspot.url, HUBSPOT_ACCESS_TOKEN: token, LOG_LEVEL: 'WARN' },
      log: () => {},
    });
  });

  afterAll(async () => {
    await world?.stop();
    await hubspot?.close();
  });

  it('an MQL reaching the handoff after its recycle leaves the contact at the recycled lead status', async () => {
    const email = `hs-late.${randomUUID().slice(0, 8)}@acme.com`;
    const mqlRecord = handoffRecord(email, {
      occurredAt: '2026-10-01T09:00:00.000Z',
      lead: { email, firstName: 'Dana', lastName: 'Whitfield', company: 'Acme Logistics', jobTitle: 'CEO' },
      score: { total: 72, fit: 40, behavior: 32, threshold: 60, modelVersion: 'test' },
      reasons: [{ rule: 'title_c_level', kind: 'fit', description: 'C-level title', pointsNow: 25, rawPoints: 25, count: 1 }],
    });
    const recycle: HandoffRecord = { ...later(mqlRecord, 'lead.recycled', 60 * day), score: { ...mqlRecord.score, total: 31, behavior: 0 } };

    // SQS hands the recycle over first; the MQL (held back, or slow) comes after it.
    await enqueueHandoff(world, recycle);
    await world.drain({ timeoutMs: 20_000 });
    expect(hubspot.contacts().get(email)?.properties.hs_lead_status).toBe(hubSpotDefaultLeadStatuses.recycled);
    const upserts = () => hubspot.calls.filter((call) => call.path === '/crm/v3/objects/contacts/batch/upsert').length;
    const before = upserts();
    await enqueueHandoff(world, mqlRecord);
    await world.drain({ timeoutMs: 20_000 });

    const contact = hubspot.contacts().get(email)!;
    expect(contact.properties.hs_lead_status).toBe(hubSpotDefaultLeadStatuses.recycled);
    expect(contact.properties.mql_score).toBe('31');
    expect(contact.history.filter((change) => change.property === 'hs_lead_status').map((change) => change.to)).toEqual([hubSpotDefaultLeadStatuses.recycled]);
    expect(upserts()).toBe(before);
    const handoffs = await leadStoreOf(world).listHandoffs(email);
    expect(handoffs.map((handoff) => [handoff.type, handoff.status, handoff.supersededBy])).toEqual([
      ['lead.mql', 'superseded', recycle.id],
      ['lead.recycled', 'delivered', undefined],
    ]);
  });
});
