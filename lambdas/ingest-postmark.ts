import { pipelineFromEnv } from '../lib/ingest/from-env.ts';
import { webhookHandler } from '../lib/ingest/webhook.ts';
import { postmark } from '../lib/sources/postmark.ts';

/** POST /webhooks/postmark: Postmark webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandler(postmark, pipelineFromEnv);
