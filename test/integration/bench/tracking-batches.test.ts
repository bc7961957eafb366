/**
 * The bench's tracking phase (bench/phases/tracking.ts) at a small size on the test stack: the real
 * @segment/analytics-node sends its batches (flushAt = the batch size) to POST /v1/batch one at a time, every
 * batch is answered 200 with all of it stored, the measured figures cover the measured batches only (not the
 * warm-up), and no page view or webinar sign-up of the phase reaches an MQL.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendThroughAnalyticsNode } from '../../../bench/phases/tracking.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, startTestStack } from '../../setup/stack.ts';

/** A fake, test-only write key. */
const writeKey = 'wk_test_only_bench_tracking_01';
const run = randomUUID().slice(0, 8);
const leadEmail = (batch: string, index: number) => `${batch}-${index}-${run}@acme-bench.example.com`;
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack({ env: { TRACKING_WRITE_KEY: writeKey, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });
});

afterAll(async () => {
  await stack?.stop();
});

describe('npm run bench, its POST /v1/batch phase, on 3 batches of 20', () => {
  it('sends each batch through analytics-node and counts what the answers stored', { timeout: 60_000 }, async () => {
    const errors: string[] = [];
    let measuring = false;
    const result = await sendThroughAnalyticsNode({
      baseUrl: stack.baseUrl,
      writeKey,
      shape: { batches: 2, batchEvents: 20, batchLeads: 6, warmupBatches: 1 },
      leadEmail,
      errors,
      onMeasureStart: () => {
        measuring = true;
      },
    });
    expect(errors).toEqual([]);
    expect(measuring).toBe(true);
    expect(result).toMatchObject({ batches: 2, events: 40, stored: 40, duplicates: 0, ignored: 0, statuses: { 200: 2 }, library: '@segment/analytics-node' });
    expect(result.requestMs.count).toBe(2);
    expect(result.eventsPerSecond).toBeGreaterThan(0);
    expect(result.eventsPerRequestSecond).toBeGreaterThanOrEqual(result.eventsPerSecond);

    // Lead 0 of a batch: the 1st, 7th, 13th and 19th messages (pricing, blog, webinar sign-up, docs by turns).
    const view = await leadView(stack, leadEmail('trb1', 0));
    expect(view.eventCount).toBe(4);
    expect(view.status).not.toBe('mql');
    expect(view.recentEvents.map((event: { source: string }) => event.source)).toEqual(['tracking', 'tracking', 'tracking', 'tracking']);
    // The warm-up batch was stored too, under its own leads.
    expect((await leadView(stack, leadEmail('trw0', 5))).eventCount).toBe(3);
  });

  it('reports a refused batch as an error, never as stored', { timeout: 60_000 }, async () => {
    const errors: string[] = [];
    const result = await sendThroughAnalyticsNode({
      baseUrl: stack.baseUrl,
      writeKey: 'wk_not_the_configured_key_0',
      shape: { batches: 1, batchEvents: 5, batchLeads: 5, warmupBatches: 0 },
      leadEmail,
      errors,
    });
    expect(result).toMatchObject({ batches: 1, stored: 0, statuses: { 401: 1 } });
    expect(errors.some((error) => error.includes('answered 401'))).toBe(true);
  });
});
