import { webhookHandler } from '../lib/http/webhook.ts';
import { pipelineFromEnv } from '../lib/runtime.ts';
import { mailchimp } from '../lib/sources/mailchimp.ts';

/** GET|POST /webhooks/mailchimp/{secret}: Mailchimp webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandler(mailchimp, pipelineFromEnv);
