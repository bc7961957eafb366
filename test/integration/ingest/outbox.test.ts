/**
 * Nothing is lost between the lead's transaction and the handoff queue, and an unconfigured route
 * accepts nothing. Real DynamoDB Local and fauxqs: the queue failure is a real SQS error.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pipeline } from '../../../lib/ingest/pipeline.ts';
import { ingest, sqsHandoffQueue } from '../../../lib/ingest/pipeline.ts';
import { runDecay } from '../../../lib/jobs/decay.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { event } from '../../setup/events.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { eventsSecret, postCounting, signedDelivery, workedExampleMessages } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { LOG_LEVEL: 'SILENT' } });
});

afterAll(async () => {
  await stack?.stop();
});

const demoRequest = (email: string) => event(email, 'demo_requested', new Date());

describe('the handoff outbox', () => {
  it('an MQL whose enqueue fails stays in the outbox and the next decay run queues it', async () => {
    const store = new LeadStore({ client: DynamoDBDocumentClient.from(stack.dynamodb), tableName: stack.tableName });
    const broken: Pipeline = { store, model: defaultModel, handoffQueue: sqsHandoffQueue(stack.sqs, `${stack.queueUrls.handoff}-does-not-exist`) };
    const email = `${randomUUID().slice(0, 8)}@acme.com`;

    const result = await ingest([demoRequest(email)], broken, new Date());

    expect(result).toMatchObject({ applied: 1, handoffs: 0 });
    const waiting = await store.getLead(email);
    expect(waiting!.status).toBe('mql');
    expect(Object.values(waiting!.outbox).map((record) => record.type)).toEqual(['lead.mql']);

    const working: Pipeline = { ...broken, handoffQueue: sqsHandoffQueue(stack.sqs, stack.queueUrls.handoff) };
    const summary = await runDecay(working, new Date());

    expect(summary.handoffs).toBe(1);
    expect((await store.getLead(email))!.outbox).toEqual({});
    // The stack's handoff consumer (CRM_ADAPTER unset: none) takes it from the real queue.
    await stack.drain();
    expect(await store.listHandoffs(email)).toEqual([
      expect.objectContaining({ type: 'lead.mql', id: Object.keys(waiting!.outbox)[0], status: 'delivered', adapter: 'none', attempts: 1 }),
    ]);
  });

  it('a route whose secret is not configured answers 404 and stores nothing', async () => {
    await stack.drain();
    expect(
      await postCounting(stack, stack.urls['POST /webhooks/events']!, signedDelivery(workedExampleMessages('a@acme.com')[1], { secret: eventsSecret })),
    ).toMatchObject({ status: 404, body: { error: 'not_found' }, added: 0 });
  });
});
