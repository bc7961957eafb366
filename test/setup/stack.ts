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
import { inject } from 'vitest';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../lib/local/stack.ts';

export type { LocalStack, LocalStackOptions } from '../../lib/local/stack.ts';

export async function startTestStack(overrides: LocalStackOptions = {}): Promise<LocalStack> {
  return startLocalStack({
    port: 0,
    schedules: false,
    dynamoEndpoint: inject('dynamoEndpoint'),
    tableName: `mql-test-${randomUUID().slice(0, 8)}`,
    ...overrides,
  });
}
