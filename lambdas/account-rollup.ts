import type { Context, SQSEvent } from 'aws-lambda';
import { rollUpAccounts } from '../lib/accounts/consumer.ts';
import { rollUpFromEnv } from '../lib/accounts/from-env.ts';
import { loadModelAtColdStart } from '../lib/runtime/model-config.ts';

loadModelAtColdStart();

/** Consumes the account-rollup FIFO queue: recomputes each account asked for (lib/accounts/consumer.ts). */
export async function handler(event: SQSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) {
  return rollUpAccounts(event, { ...rollUpFromEnv(), ...(context ? { remainingMs: () => context.getRemainingTimeInMillis() } : {}) });
}
