import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { facebook } from '../lib/sources/facebook.ts';

/**
 * GET /webhooks/facebook: Meta's subscription handshake. POST /webhooks/facebook: leadgen notifications,
 * verified over the raw bytes, deduplicated by leadgen id and queued for the Graph fetch.
 */
export const handler = webhookHandlerFromEnv(facebook);
