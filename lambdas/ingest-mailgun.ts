import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { mailgun } from '../lib/sources/mailgun.ts';

/** POST /webhooks/mailgun: Mailgun webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandlerFromEnv(mailgun);
