/**
 * The handoff's pure parts: the retry delays by receive count, the policy read from the environment
 * (bad values fall back to the defaults), which message bodies are handoff records, and redrive's bar.
 */
import { describe, expect, it } from 'vitest';
import { defaultHandoffPolicy, handoffPolicyFromEnv } from '../../../lib/handoff/consumer.ts';
import { readHandoffMessage } from '../../../lib/handoff/records.ts';
import { backoffSeconds } from '../../../lib/queue/settlement.ts';

const defaultHandoffRetryPolicy = defaultHandoffPolicy.retry;
const handoffRetryDelaySeconds = backoffSeconds;

import { progressBar } from '../../../lib/jobs/redrive.ts';

const record = {
  type: 'lead.mql',
  id: 'msg_1',
  occurredAt: '2026-11-29T10:00:00.000Z',
  leadId: 'dana@acme.com',
  lead: { email: 'dana@acme.com' },
  score: { total: 60, fit: 25, behavior: 35, threshold: 60, modelVersion: 'v' },
  reasons: [],
  recentEvents: [],
};

describe('handoff retry delays', () => {
  it('double from the base with each receive up to the cap, and never wait less than the CRM asked', () => {
    const delays = Array.from({ length: 8 }, (_, index) => handoffRetryDelaySeconds(index + 1, defaultHandoffRetryPolicy));
    expect(delays).toEqual([30, 60, 120, 240, 480, 900, 900, 900]);
    expect(handoffRetryDelaySeconds(1, defaultHandoffRetryPolicy, 200)).toBe(200);
    // The policy's maximum bounds even an announced delay (one formula for every queue; a long announced
    // reset is a spent quota, held apart), and SQS's 12-hour visibility limit bounds the maximum.
    expect(handoffRetryDelaySeconds(1, defaultHandoffRetryPolicy, 100_000)).toBe(900);
    expect(handoffRetryDelaySeconds(1, { baseSeconds: 30, maxSeconds: 100_000 }, 100_000)).toBe(43_200);
    expect(handoffRetryDelaySeconds(10_000, defaultHandoffRetryPolicy)).toBe(900);
  });

  it('with 24 receives ride out about five hours of outage before the DLQ', () => {
    const total = Array.from({ length: 23 }, (_, index) => handoffRetryDelaySeconds(index + 1, defaultHandoffRetryPolicy)).reduce(
      (sum, value) => sum + value,
      0,
    );
    expect(total / 3600).toBeGreaterThan(4.5);
    expect(total / 3600).toBeLessThan(5.5);
  });

  it('reads the policy from the environment, ignoring values that are not non-negative numbers', () => {
    expect(handoffPolicyFromEnv({})).toEqual(defaultHandoffPolicy);
    expect(handoffPolicyFromEnv({ HANDOFF_RETRY_BASE_SECONDS: '2', HANDOFF_RETRY_MAX_SECONDS: '8', HANDOFF_MAX_WAIT_SECONDS: '0' })).toMatchObject({
      retry: { baseSeconds: 2, maxSeconds: 8 },
      maxInProcessWaitSeconds: 0,
    });
    expect(handoffPolicyFromEnv({ HANDOFF_RETRY_BASE_SECONDS: 'soon', HANDOFF_RETRY_MAX_SECONDS: '-5', HANDOFF_QUOTA_DELAY_SECONDS: '' })).toEqual(
      defaultHandoffPolicy,
    );
  });
});

describe('handoff messages', () => {
  it('reads a handoff record and names its lead', () => {
    expect(readHandoffMessage(JSON.stringify(record))).toEqual({ record, leadId: 'dana@acme.com' });
    // Records queued before leadId existed carry only lead.email.
    const { leadId: _leadId, ...older } = record;
    expect(readHandoffMessage(JSON.stringify(older))?.leadId).toBe('dana@acme.com');
    expect(readHandoffMessage(JSON.stringify({ ...record, leadId: 'phone:+14155550123', lead: {} }))?.leadId).toBe('phone:+14155550123');
  });

  it.each([
    ['not JSON', '{"type":'],
    ['an array', '[]'],
    ['null', 'null'],
    ['no id', JSON.stringify({ ...record, id: '' })],
    ['an unknown type', JSON.stringify({ ...record, type: 'lead.sql' })],
    ['no lead at all', JSON.stringify({ ...record, leadId: undefined, lead: { phone: '+1415' } })],
    ['no occurredAt', JSON.stringify({ ...record, occurredAt: 5 })],
    ['an occurredAt that is not a time', JSON.stringify({ ...record, occurredAt: 'yesterday' })],
    ['a lead that is not an object', JSON.stringify({ ...record, lead: 'dana' })],
  ])('refuses %s', (_, body) => {
    expect(readHandoffMessage(body)).toBeUndefined();
  });
});

describe('redrive progress bar', () => {
  it('fills with the share moved', () => {
    expect(progressBar(0, 4, 8)).toBe('[--------] 0/4');
    expect(progressBar(2, 4, 8)).toBe('[####----] 2/4');
    expect(progressBar(4, 4, 8)).toBe('[########] 4/4');
    expect(progressBar(7, 4, 8)).toBe('[########] 7/4');
    expect(progressBar(0, 0, 4)).toBe('[####] 0/0');
  });
});
