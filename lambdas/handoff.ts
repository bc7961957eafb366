import type { Context, SQSEvent } from 'aws-lambda';
import { crmAdapterFromEnv } from '../lib/crm/index.ts';
import { deliverHandoffs, handoffPolicyFromEnv } from '../lib/handoff/consumer.ts';
import { handoffLedgerFromEnv } from '../lib/handoff/ledger-from-env.ts';
import { sqsQueueMessages } from '../lib/queue/messages.ts';
import { sqs } from '../lib/runtime/aws.ts';
import { getSecrets, requireEnv } from '../lib/runtime/config.ts';
import { dlqUrlEnv, queueUrlEnv } from '../lib/topology.ts';

/**
 * Consumes the handoff queue: sends each lifecycle transition to the configured CRM, in batch calls
 * where the CRM has them, within its rate limits (see lib/handoff/consumer.ts). Secrets are read per batch
 * (cached in AWS), so a fixed token is used without a redeploy. It records attempts in the lead's handoff
 * ledger and never scores: it loads neither the scoring model nor the lead store (lib/handoff/ledger-from-env.ts).
 */
export async function handler(event: SQSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) {
  return deliverHandoffs(event, {
    store: handoffLedgerFromEnv(),
    adapter: async () => crmAdapterFromEnv(process.env, await getSecrets()),
    messages: sqsQueueMessages(sqs(), requireEnv(queueUrlEnv('handoff')), requireEnv(dlqUrlEnv('handoff'))),
    policy: handoffPolicyFromEnv(),
    ...(context ? { remainingMs: () => context.getRemainingTimeInMillis() } : {}),
  });
}
