import { pipelineFromEnv } from '../lib/ingest/from-env.ts';
import { webhookHandler } from '../lib/ingest/webhook.ts';
import { mailgun } from '../lib/sources/mailgun.ts';

/** POST /webhooks/mailgun: Mailgun webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandler(mailgun, pipelineFromEnv);
