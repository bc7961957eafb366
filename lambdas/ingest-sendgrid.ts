import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { sendgrid } from '../lib/sources/sendgrid.ts';

/** POST /webhooks/sendgrid: SendGrid webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandlerFromEnv(sendgrid);
