/** The decay job's view of accounts (lib/jobs/decay.ts): their due index and the roll-up queue, from the environment. */
import type { DecayAccounts } from '../jobs/decay.ts';
import { dynamo } from '../runtime/aws.ts';
import { requireEnv } from '../runtime/config.ts';
import { AccountStore } from '../store/accounts.ts';
import { StoreTable } from '../store/table.ts';
import { queueUrlEnv, tableNameEnv } from '../topology.ts';
import { sqsRollUpQueue } from './requests.ts';

/** Undefined where the account-rollup queue is not configured (a stack from before accounts): leads only. */
export function decayAccountsFromEnv(): DecayAccounts | undefined {
  if (!process.env[queueUrlEnv('account-rollup')]) return undefined;
  const accounts = new AccountStore(new StoreTable({ client: dynamo(), tableName: requireEnv(tableNameEnv) }));
  return { dueAccounts: (until) => accounts.dueAccounts(until), rollUps: sqsRollUpQueue(requireEnv(queueUrlEnv('account-rollup'))) };
}
