import { facebookIngestFromEnv, facebookIngestHandler } from '../lib/ingest/facebook-ingest.ts';

/**
 * GET /webhooks/facebook: Meta's subscription handshake. POST /webhooks/facebook: leadgen notifications,
 * verified over the raw bytes, deduplicated by leadgen id and queued for the Graph fetch.
 */
export const handler = facebookIngestHandler(facebookIngestFromEnv);
