/** The decay job's view of accounts (lib/jobs/decay.ts): their due index and the roll-up queue, from the environment. */
import { dynamo } from '../runtime/aws.ts';
import { requireEnv } from '../runtime/config.ts';
import { AccountStore } from '../store/accounts.ts';
import { StoreTable } from '../store/table.ts';
import { queueUrlEnv, tableNameEnv } from '../topology.ts';
import type { RollUpQueue } from './requests.ts';
import { sqsRollUpQueue } from './requests.ts';

/** The accounts' part of a decay run (lib/jobs/decay.ts): their due index, and the roll-up queue that recomputes them. */
export interface DecayAccounts {
  dueAccounts(until: Date): AsyncGenerator<string[]>;
  rollUps: RollUpQueue;
}

/** Undefined where the account-rollup queue is not configured (a stack from before accounts): leads only. */
export function decayAccountsFromEnv(): DecayAccounts | undefined {
  if (!process.env[queueUrlEnv('account-rollup')]) return undefined;
  const accounts = new AccountStore(new StoreTable({ client: dynamo(), tableName: requireEnv(tableNameEnv) }));
  return { dueAccounts: (until) => accounts.dueAccounts(until), rollUps: sqsRollUpQueue(requireEnv(queueUrlEnv('account-rollup'))) };
}
