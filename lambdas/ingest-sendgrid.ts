import { webhookHandler } from '../lib/http/webhook.ts';
import { pipelineFromEnv } from '../lib/runtime.ts';
import { sendgrid } from '../lib/sources/sendgrid.ts';

/** POST /webhooks/sendgrid: SendGrid webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandler(sendgrid, pipelineFromEnv);
