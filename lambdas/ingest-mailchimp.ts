import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { mailchimp } from '../lib/sources/mailchimp.ts';

/** GET|POST /webhooks/mailchimp/{secret}: Mailchimp webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandlerFromEnv(mailchimp);
