/**
 * How every queue consumer settles a message, as a pure decision (lib/queue/settlement.ts), and the
 * skeleton that carries it out (lib/queue/consumer.ts) against a recording QueueMessages: no SQS needed.
 */
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { consumeQueue, notStarted } from '../../../lib/queue/consumer.ts';
import type { QueueMessages } from '../../../lib/queue/messages.ts';
import type { Failure, RetryPolicy } from '../../../lib/queue/settlement.ts';
import { backoffSeconds, retryPolicyFromEnv, settlement } from '../../../lib/queue/settlement.ts';
import { queueSpec, queues } from '../../../lib/topology.ts';

const policy: RetryPolicy = { baseSeconds: 30, maxSeconds: 900, throttledSeconds: 10, heldSeconds: 3600 };
const failure = (disposition: Failure['disposition'], retryAfterSeconds?: number): Failure => ({
  disposition,
  kind: disposition,
  message: 'it failed',
  ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
});

describe('settlement', () => {
  it('acknowledges a message that is done with', () => {
    expect(settlement(undefined, 3, policy)).toEqual({ action: 'ack' });
  });

  it('dead-letters what no retry can fix, whatever the receive count', () => {
    expect(settlement(failure('permanent'), 1, policy)).toEqual({ action: 'dead-letter' });
    expect(settlement(failure('permanent'), 20, policy)).toEqual({ action: 'dead-letter' });
  });

  it('retries a passing failure after a delay doubling with each receive, up to the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((receive) => settlement(failure('retry'), receive, policy))).toEqual(
      [30, 60, 120, 240, 480, 900, 900].map((afterSeconds) => ({ action: 'retry', afterSeconds })),
    );
  });

  it('never retries before the announced wait, nor beyond the maximum', () => {
    expect(settlement(failure('retry', 200), 1, policy)).toEqual({ action: 'retry', afterSeconds: 200 });
    expect(settlement(failure('retry', 5000), 1, policy)).toEqual({ action: 'retry', afterSeconds: 900 });
  });

  it('re-queues a throttled message (its receives untouched): the announced wait, else the policy, 1 s to 15 min', () => {
    expect(settlement(failure('throttled'), 7, policy)).toEqual({ action: 'requeue', afterSeconds: 10 });
    expect(settlement(failure('throttled', 0.2), 7, policy)).toEqual({ action: 'requeue', afterSeconds: 1 });
    expect(settlement(failure('throttled', 4000), 7, policy)).toEqual({ action: 'requeue', afterSeconds: 900 });
  });

  it('retries a throttled message like any failure on a queue that does not re-queue', () => {
    const { throttledSeconds: _none, ...noRequeue } = policy;
    expect(settlement(failure('throttled', 45), 2, noRequeue)).toEqual({ action: 'retry', afterSeconds: 60 });
  });

  it("holds a spent quota back until the announced reset (SQS's 12 hours at most), else for the policy's hold", () => {
    expect(settlement(failure('held', 7200), 1, policy)).toEqual({ action: 'retry', afterSeconds: 7200 });
    expect(settlement(failure('held', 100_000), 1, policy)).toEqual({ action: 'retry', afterSeconds: 43_200 });
    expect(settlement(failure('held'), 1, policy)).toEqual({ action: 'retry', afterSeconds: 3600 });
  });

  it('backs off from a receive count below 1 as from the first', () => {
    expect(backoffSeconds(0, { baseSeconds: 1, maxSeconds: 2 })).toBe(1);
  });
});

describe('retry policies', () => {
  it('come from the topology, one per queue, each with its environment prefix', () => {
    expect(queues.map((queue) => [queue.name, queue.retryEnvPrefix])).toEqual([
      ['facebook-leads', 'FACEBOOK'],
      ['linkedin-leads', 'LINKEDIN'],
      ['handoff', 'HANDOFF'],
      ['account-rollup', 'ACCOUNT_ROLLUP'],
    ]);
    expect(queueSpec('handoff').retry).toEqual(policy);
  });

  it('are shortened through the environment; values that are not numbers of at least 0 keep the default', () => {
    const env = { HANDOFF_RETRY_BASE_SECONDS: '1', HANDOFF_RETRY_MAX_SECONDS: '2', HANDOFF_RATE_LIMIT_SECONDS: 'soon', HANDOFF_QUOTA_DELAY_SECONDS: '-1' };
    expect(retryPolicyFromEnv('HANDOFF', policy, env)).toEqual({ baseSeconds: 1, maxSeconds: 2, throttledSeconds: 10, heldSeconds: 3600 });
    const facebook = queueSpec('facebook-leads').retry;
    expect(retryPolicyFromEnv('FACEBOOK', facebook, { FACEBOOK_RATE_LIMIT_SECONDS: '5' })).toEqual(facebook);
  });
});

/** Records what the skeleton asks of the queue. */
function recordingQueue(failOn: Partial<Record<keyof QueueMessages, boolean>> = {}) {
  const calls: [string, string, number | string][] = [];
  const messages: QueueMessages = {
    async delay(message, seconds) {
      calls.push(['delay', message.messageId, seconds]);
      if (failOn.delay) throw new Error('delay refused');
    },
    async requeue(message, seconds) {
      calls.push(['requeue', message.messageId, seconds]);
      if (failOn.requeue) throw new Error('requeue refused');
    },
    async deadLetter(message, reason) {
      calls.push(['deadLetter', message.messageId, reason]);
      if (failOn.deadLetter) throw new Error('DLQ refused');
    },
  };
  return { calls, messages };
}

const record = (id: string, body: string, receiveCount = 1): SQSRecord =>
  ({ messageId: id, body, receiptHandle: `rh-${id}`, attributes: { ApproximateReceiveCount: String(receiveCount) } }) as unknown as SQSRecord;
const batchOf = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

const numbers = {
  noun: 'number',
  read: (body: string) => (/^\d+$/.test(body) ? Number(body) : undefined),
  unreadable: 'the message is not a number',
  describe: () => ({}),
  fix: () => 'fix it',
};

describe('the consumer skeleton', () => {
  it('acknowledges what is done, holds back, re-queues and dead-letters the rest, and reports only what SQS should deliver again', async () => {
    const { calls, messages } = recordingQueue();
    const outcomes: Record<number, Failure | undefined> = { 1: undefined, 2: failure('retry'), 3: failure('throttled'), 4: failure('permanent') };
    const answer = await consumeQueue(
      batchOf(record('a', '1'), record('b', '2', 2), record('c', '3'), record('d', '4'), record('e', 'x')),
      numbers,
      { policy, messages, reserveMs: 0 },
      async (items, batch) => {
        for (const item of items) await batch.settle(item, outcomes[item.body]);
      },
    );
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: 'b' }]);
    expect(calls).toEqual([
      ['deadLetter', 'e', 'unreadable: the message is not a number'],
      ['delay', 'b', 60],
      ['requeue', 'c', 10],
      ['deadLetter', 'd', 'permanent: it failed'],
    ]);
  });

  it('retries every message the work left unsettled, or left when it threw: none is acknowledged unsent', async () => {
    const { messages } = recordingQueue();
    const answer = await consumeQueue(
      batchOf(record('a', '1'), record('b', '2'), record('c', '3')),
      numbers,
      { policy, messages, reserveMs: 0 },
      async (items, batch) => {
        await batch.settle(items[0]!);
        throw new Error('the work broke');
      },
    );
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: 'b' }, { itemIdentifier: 'c' }]);
  });

  it('keeps a message on its queue when the DLQ or the re-queue refuses it', async () => {
    const { messages } = recordingQueue({ deadLetter: true, requeue: true });
    const answer = await consumeQueue(batchOf(record('a', '1'), record('b', '2')), numbers, { policy, messages, reserveMs: 0 }, async (items, batch) => {
      await batch.settle(items[0]!, failure('permanent'));
      await batch.settle(items[1]!, failure('throttled'));
    });
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: 'a' }, { itemIdentifier: 'b' }]);
  });

  it('settles a message once: a second settlement is ignored', async () => {
    const { calls, messages } = recordingQueue();
    await consumeQueue(batchOf(record('a', '1')), numbers, { policy, messages, reserveMs: 0 }, async ([item], batch) => {
      await batch.settle(item!);
      await batch.settle(item!, failure('permanent'));
    });
    expect(calls).toEqual([]);
  });

  it('says when there is no time left to start more work; what is not started comes back in a second', async () => {
    const { calls, messages } = recordingQueue();
    let left = 20_000;
    await consumeQueue(
      batchOf(record('a', '1'), record('b', '2')),
      numbers,
      { policy, messages, reserveMs: 15_000, remainingMs: () => left },
      async (items, batch) => {
        expect(batch.hasTime()).toBe(true);
        expect(batch.hasTime(10_000)).toBe(false);
        await batch.settle(items[0]!);
        left = 10_000;
        expect(batch.hasTime()).toBe(false);
        await batch.settle(items[1]!, notStarted);
      },
    );
    expect(calls).toEqual([['requeue', 'b', 1]]);
  });
});
