import type { SQSEvent } from 'aws-lambda';
import { getSecrets } from '../lib/config.ts';
import { crmAdapterFromEnv } from '../lib/crm/index.ts';
import { deliverHandoffs } from '../lib/handoff.ts';
import { pipelineFromEnv } from '../lib/runtime.ts';

/** Consumes the handoff queue: sends each lifecycle transition to the configured CRM. */
export async function handler(event: SQSEvent) {
  return deliverHandoffs(event, {
    store: pipelineFromEnv().store,
    adapter: async () => crmAdapterFromEnv(process.env, await getSecrets()),
  });
}
