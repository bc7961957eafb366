/**
 * Delivery to the CRM through the handoff queue on the local stack: a transition is delivered once,
 * survives a CRM outage through SQS retries, and lands in the dead-letter queue when the CRM stays down.
 */
import { randomUUID } from 'node:crypto';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { crmSecret, eventsSecret, post, postWorkedExample, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { enqueueHandoff, startTestStack } from '../../setup/stack.ts';

let stack: LocalStack;
let crm: CrmReceiver;
const maxReceiveCount = 3;

beforeAll(async () => {
  crm = await startCrmReceiver(crmSecret);
  stack = await startTestStack({
    env: {
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      CRM_ADAPTER: 'webhook',
      CRM_WEBHOOK_URL: crm.url,
      CRM_WEBHOOK_SECRET: crmSecret,
      LOG_LEVEL: 'SILENT',
      HANDOFF_RETRY_BASE_SECONDS: '1',
      HANDOFF_RETRY_MAX_SECONDS: '1',
    },
    queues: { handoff: { visibilityTimeoutSeconds: 1, maxReceiveCount } },
  });
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
});

beforeEach(() => crm.reset());

const qualify = (email: string) => postWorkedExample(stack.urls['POST /webhooks/events']!, email);

async function handoffsOf(email: string): Promise<any[]> {
  const response = await fetch(`${stack.baseUrl}/leads/${encodeURIComponent(email)}`);
  return ((await response.json()) as any).handoffs;
}

async function dlqDepth(): Promise<number> {
  const answer = await stack.sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.dlqUrls.handoff, AttributeNames: ['ApproximateNumberOfMessages'] }));
  return Number(answer.Attributes?.ApproximateNumberOfMessages ?? 0);
}

describe('handoff to the CRM', () => {
  it('survives a short CRM outage: retried through SQS with the same webhook-id, delivered once', async () => {
    crm.failNext([503, 502], { 'retry-after': '1' });
    const email = `outage.${randomUUID().slice(0, 8)}@acme.com`;

    await qualify(email);
    await crm.waitFor(1, 20_000);
    await stack.drain();

    expect(crm.attempts.map((attempt) => attempt.status)).toEqual([503, 502, 200]);
    expect(new Set(crm.attempts.map((attempt) => attempt.webhookId)).size).toBe(1);
    expect(crm.received).toHaveLength(1);
    expect(await handoffsOf(email)).toEqual([expect.objectContaining({ type: 'lead.mql', status: 'delivered', attempts: 3, crmStatus: 200 })]);
  });

  it('moves the handoff to the dead-letter queue when the CRM stays down, with every attempt recorded', async () => {
    const before = await dlqDepth();
    crm.failNext(Array.from({ length: maxReceiveCount + 2 }, () => 500));
    const email = `down.${randomUUID().slice(0, 8)}@acme.com`;

    await qualify(email);
    const deadline = Date.now() + 20_000;
    while ((await dlqDepth()) === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));

    expect(await dlqDepth()).toBe(before + 1);
    expect(crm.received).toHaveLength(0);
    expect(crm.attempts.map((attempt) => attempt.status)).toEqual(Array.from({ length: maxReceiveCount }, () => 500));
    const [handoff] = await handoffsOf(email);
    expect(handoff).toMatchObject({ type: 'lead.mql', status: 'failed', attempts: maxReceiveCount, crmStatus: 500 });
    expect(handoff.lastError).toMatch(/500/);
    const dead = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls.handoff, MaxNumberOfMessages: 10 }));
    expect(dead.Messages?.map((message) => JSON.parse(message.Body!).lead.email)).toContain(email);
    crm.failNext([]);
  });

  it('a handoff message delivered twice by SQS reaches the CRM once', async () => {
    const email = `twice.${randomUUID().slice(0, 8)}@acme.com`;
    await qualify(email);
    const [first] = await crm.waitFor(1);
    await stack.drain();

    await enqueueHandoff(stack, first!.record);
    await stack.drain();

    expect(crm.received).toHaveLength(1);
    expect(await handoffsOf(email)).toEqual([expect.objectContaining({ status: 'delivered', attempts: 1 })]);
  });

  it('one MQL per transition: events after qualifying do not send it again', async () => {
    const email = `more.${randomUUID().slice(0, 8)}@acme.com`;
    await qualify(email);
    await crm.waitFor(1);
    const more = { type: 'track', event: 'Trial Started', messageId: randomUUID(), timestamp: new Date().toISOString(), context: { traits: { email } } };
    await post(stack.urls['POST /webhooks/events']!, signedDelivery(more));
    await stack.drain();
    expect(crm.received.map((delivered) => delivered.record.type)).toEqual(['lead.mql']);
  });
});
