/**
 * What the account functions work with, from their environment (the same names in AWS and locally): the table, the
 * model, the account-rollup queue (a FIFO queue, one message group per account) and the handoff queue.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import type { ScoringModel } from '../core/model.ts';
import { sqsHandoffQueue } from '../ingest/pipeline.ts';
import { sqsQueueMessages } from '../queue/messages.ts';
import { retryPolicyFromEnv } from '../queue/settlement.ts';
import { dynamo, sqs } from '../runtime/aws.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { requireEnv } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import { loadModel } from '../runtime/model-config.ts';
import { AccountStore } from '../store/accounts.ts';
import { StoreTable } from '../store/table.ts';
import { dlqUrlEnv, queueSpec, queueUrlEnv, tableNameEnv } from '../topology.ts';
import type { RollUpConsumerDeps } from './consumer.ts';
import { accountWorkOf } from './members.ts';
import type { RollUpQueue } from './requests.ts';
import { sqsRollUpQueue } from './requests.ts';
import { accountRef } from './roll-up.ts';

function accountStore(): AccountStore {
  return new AccountStore(new StoreTable({ client: dynamo(), tableName: requireEnv(tableNameEnv) }));
}

export interface AccountMembersDeps {
  accounts: AccountStore;
  model: ScoringModel;
  rollUps: RollUpQueue;
}

export function accountMembersFromEnv(): AccountMembersDeps {
  return { accounts: accountStore(), model: loadModel(), rollUps: sqsRollUpQueue(requireEnv(queueUrlEnv('account-rollup'))) };
}

/**
 * Applies a batch of stream records: membership changes first, in stream order (one lead's records come in its
 * order), then one roll-up request per account touched. Throws on a failure: the batch is retried whole, and
 * every step is idempotent (a join is a put, a leave a delete, a request deduplicated by its record's id).
 */
export async function keepAccountMembers(records: readonly DynamoDBRecord[], deps: AccountMembersDeps): Promise<{ memberships: number; rollUps: number }> {
  const work = accountWorkOf(records, deps.model);
  const at = new Date().toISOString();
  // One lead's changes in their order (a leave before the join that follows it); different leads' at once.
  const byLead = new Map<string, typeof work.changes>();
  for (const change of work.changes) byLead.set(change.leadId, [...(byLead.get(change.leadId) ?? []), change]);
  await mapWithConcurrency([...byLead.values()], 8, async (changes) => {
    for (const change of changes) {
      if (change.op === 'join') await deps.accounts.join(change.accountKey, change.leadId, at);
      else await deps.accounts.leave(change.accountKey, change.leadId);
    }
  });
  // One request per account and window: SQS drops another one with the same deduplication id, and the queue's
  // delivery delay (lib/topology.ts, a second) holds the first until every change whose request fell in the window is
  // stored, so its roll-up reads them all. A window shorter than the delay by 100 ms leaves room for the clocks of two
  // instances to differ. A burst costs one roll-up per account and window, not one per stream batch.
  const window = Math.floor(Date.now() / rollUpWindowMs);
  const requests = [...work.rollUps.keys()].map((accountKey) => ({ request: { accountKey }, cause: `window#${window}` }));
  if (requests.length > 0) await deps.rollUps.send(requests);
  if (work.changes.length > 0) logger.info('account members changed', { changes: work.changes.length, accounts: [...work.rollUps.keys()].map(accountRef) });
  return { memberships: work.changes.length, rollUps: requests.length };
}

/** Requests for one account within this many milliseconds are one (see keepAccountMembers). */
export const rollUpWindowMs = queueSpec('account-rollup').deliveryDelaySeconds! * 1000 - 100;

export function rollUpFromEnv(): RollUpConsumerDeps {
  return {
    accounts: accountStore(),
    model: loadModel(),
    handoffQueue: sqsHandoffQueue(sqs(), requireEnv(queueUrlEnv('handoff'))),
    policy: retryPolicyFromEnv(queueSpec('account-rollup').retryEnvPrefix, queueSpec('account-rollup').retry),
    messages: sqsQueueMessages(sqs(), requireEnv(queueUrlEnv('account-rollup')), requireEnv(dlqUrlEnv('account-rollup'))),
  };
}
