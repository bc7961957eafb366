import { pipelineFromEnv } from '../lib/ingest/from-env.ts';
import { webhookHandler } from '../lib/ingest/webhook.ts';
import { mailchimp } from '../lib/sources/mailchimp.ts';

/** GET|POST /webhooks/mailchimp/{secret}: Mailchimp webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandler(mailchimp, pipelineFromEnv);
