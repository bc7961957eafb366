/**
 * startTestStack: the embedded local stack for an integration test, on the run's shared
 * DynamoDB Local (a table of its own), a random HTTP port, in-memory queues, no schedule timers
 * (call `stack.runSchedule('decay', { now })`). Stop it in afterAll: `await stack.stop()`.
 *
 *   const stack = await startTestStack({ env: { EVENTS_WEBHOOK_SECRET: secret } });
 *   await fetch(stack.urls['POST /webhooks/events'], { method: 'POST', body });
 *   await stack.drain();
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { modelContent } from '../../lib/core/model.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../lib/local/stack.ts';
import { resetClients } from '../../lib/runtime/aws.ts';
import { LeadStore } from '../../lib/store/lead-store.ts';
import { defaultModel } from './installed-model.ts';

export type { LocalStack, LocalStackOptions } from '../../lib/local/stack.ts';

/**
 * The handoff poller's batch window in tests: 0.2 s instead of the topology's 1 s. The window gathers a
 * burst of MQLs into one CRM batch call; most tests qualify one lead and then wait for it, so they would
 * wait out the whole window every time. A burst posted at once still lands in one batch; the window
 * itself is tested with its own setting (handoff-retry.test.ts) and in the CDK template.
 */
export const testHandoffBatchWindowSeconds = 0.2;

export async function startTestStack(overrides: LocalStackOptions = {}): Promise<LocalStack> {
  // The handlers' cached SDK clients point at the previous stack's queues (fauxqs gets a new port per
  // stack): the SDK then warns on every send and uses the queue URL's host. This stack's come fresh.
  resetClients();
  const { queues, ...rest } = overrides;
  return startLocalStack({
    port: 0,
    schedules: false,
    dynamoEndpoint: inject('dynamoEndpoint'),
    tableName: `mql-test-${randomUUID().slice(0, 8)}`,
    ...rest,
    queues: { ...queues, handoff: { batchWindowSeconds: testHandoffBatchWindowSeconds, ...queues?.handoff } },
  });
}

/**
 * For a describe that needs the stack started otherwise (a route's secret missing): stops the file's stack
 * first (one stack per process at a time: the handlers read process.env), starts one with `overrides`
 * before the describe's tests and stops it after them. Returns a getter for it.
 *
 *   describe('the route without its signing key', () => {
 *     const bare = restartedStack(() => stack, { env: { MAILGUN_WEBHOOK_SIGNING_KEY: undefined } });
 *     it('answers 404', async () => { ... bare().urls['POST /webhooks/mailgun'] ... });
 *   });
 */
export function restartedStack(current: () => LocalStack | undefined, overrides: LocalStackOptions): () => LocalStack {
  let stack: LocalStack | undefined;
  beforeAll(async () => {
    await current()?.stop();
    stack = await startTestStack(overrides);
  });
  afterAll(async () => {
    await stack?.stop();
  });
  return () => {
    if (!stack) throw new Error('restartedStack: the stack is started in beforeAll');
    return stack;
  };
}

/** A LeadStore on the stack's table, to read what the handlers wrote. */
export function leadStoreOf(stack: Pick<LocalStack, 'dynamodb' | 'tableName'>): LeadStore {
  return new LeadStore({
    client: DynamoDBDocumentClient.from(stack.dynamodb, { marshallOptions: { removeUndefinedValues: true } }),
    tableName: stack.tableName,
  });
}

/** The settings of the checkout's .env.example: what `npm start` runs with from a fresh clone. */
export function exampleEnv(): Record<string, string> {
  return parseEnv(readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')) as Record<string, string>;
}

/** GET /leads/{key} on the stack: the answer's status and its JSON body. */
export async function getLead(stack: Pick<LocalStack, 'baseUrl'>, key: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack.baseUrl}/leads/${encodeURIComponent(key)}`);
  return { status: response.status, body: await response.json() };
}

/** The lead's view from GET /leads/{key}; fails the test unless the stack answers 200. */
export async function leadView(stack: Pick<LocalStack, 'baseUrl'>, key: string): Promise<any> {
  const { status, body } = await getLead(stack, key);
  expect(status).toBe(200);
  return body;
}

/** Sends `message` (a handoff record, or anything a test wants the consumer to see) to the stack's handoff queue, as the pipeline does. */
export async function enqueueHandoff(stack: Pick<LocalStack, 'sqs' | 'queueUrls'>, message: unknown): Promise<void> {
  await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls.handoff, MessageBody: JSON.stringify(message) }));
}

/** The Facebook lead form id that demoFormModel maps to a demo request. */
export const demoFormId = '5550001000000001';

/**
 * The default model with the Facebook form {@link demoFormId} mapped to `demo_requested`, written to a
 * directory of its own: `path` is for MQL_MODEL_PATH; `remove()` deletes it (in afterAll).
 */
export function demoFormModel(): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'mql-demo-form-model-'));
  const content = modelContent(defaultModel);
  const path = join(dir, 'model.json');
  writeFileSync(path, JSON.stringify({ ...content, forms: { [demoFormId]: { type: 'demo_requested', description: 'Demo request form' } } }));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
