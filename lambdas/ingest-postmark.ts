import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { postmark } from '../lib/sources/postmark.ts';

/** POST /webhooks/postmark: Postmark webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandlerFromEnv(postmark);
