/**
 * The account-rollup queue's consumer (docs/accounts.md, "The roll-up"), on the one consumer skeleton
 * (lib/queue/consumer.ts). A batch's requests are grouped by account: an account asked for several times is
 * recomputed once, at the latest instant asked. SQS's FIFO message groups (one per account) keep two
 * invocations from recomputing one account at once.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { QueueConsumer, Received } from '../queue/consumer.ts';
import { consumeQueue, notStarted } from '../queue/consumer.ts';
import type { QueueMessages } from '../queue/messages.ts';
import type { RetryPolicy } from '../queue/settlement.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { logger } from '../runtime/logger.ts';
import type { RollUpRequest } from './requests.ts';
import { readRollUpRequest } from './requests.ts';
import type { RollUpDeps } from './roll-up.ts';
import { accountRef, rollUpAccount } from './roll-up.ts';

export interface RollUpConsumerDeps extends RollUpDeps {
  policy: RetryPolicy;
  messages?: QueueMessages;
  remainingMs?: () => number;
  clock?: () => Date;
}

/** Accounts recomputed at once (each reads its members; DynamoDB, not the function, bounds this). */
const concurrency = 4;
/** No account is started with less than this left: reading a large account's members must fit. */
const reserveMs = 10_000;

const consumer: QueueConsumer<RollUpRequest> = {
  noun: 'account roll-up',
  read: readRollUpRequest,
  unreadable: 'the message is not an account roll-up request',
  describe: (item: Received<RollUpRequest>) => ({ account: accountRef(item.body.accountKey), messageId: item.message.messageId }),
  fix: () =>
    'fix the cause (the log line before says it), then move it back with `mql redrive` (docs/accounts.md, "The roll-up"): a roll-up recomputes the account from scratch, so a late one is exact',
};

/** Recomputes the accounts a batch asks for; returns SQS's partial batch response. */
export async function rollUpAccounts(event: SQSEvent, deps: RollUpConsumerDeps): Promise<SQSBatchResponse> {
  const clock = deps.clock ?? (() => new Date());
  return consumeQueue(
    event,
    consumer,
    {
      policy: deps.policy,
      reserveMs,
      ...(deps.messages ? { messages: deps.messages } : {}),
      ...(deps.remainingMs ? { remainingMs: deps.remainingMs } : {}),
    },
    async (items, batch) => {
      const byAccount = new Map<string, Received<RollUpRequest>[]>();
      for (const item of items) byAccount.set(item.body.accountKey, [...(byAccount.get(item.body.accountKey) ?? []), item]);
      await mapWithConcurrency([...byAccount.entries()], concurrency, async ([accountKey, asked]) => {
        if (!batch.hasTime()) {
          for (const item of asked) await batch.settle(item, notStarted);
          return;
        }
        // The latest instant asked (the decay job's `now`), never earlier than the clock.
        const clockNow = clock();
        const at = asked.reduce((latest, item) => (item.body.at && Date.parse(item.body.at) > latest.getTime() ? new Date(item.body.at) : latest), clockNow);
        const due = asked.some((item) => item.body.due === true);
        try {
          const result = await rollUpAccount(accountKey, deps, at, { due });
          if (result.wrote || result.handoffs > 0)
            logger.info('account rolled up', {
              account: accountRef(accountKey),
              members: result.members,
              status: result.status,
              handoffs: result.handoffs,
              conflicts: result.conflicts,
            });
          for (const item of asked) await batch.settle(item);
        } catch (error) {
          const failure = { disposition: 'retry' as const, kind: 'store', message: (error as Error).message };
          for (const item of asked) await batch.settle(item, failure);
        }
      });
    },
  );
}
