import { pipelineFromEnv } from '../lib/ingest/from-env.ts';
import { webhookHandler } from '../lib/ingest/webhook.ts';
import { segment } from '../lib/sources/segment.ts';

/** POST /webhooks/events: website and product events in Segment's shape, signed per Standard Webhooks. */
export const handler = webhookHandler(segment, pipelineFromEnv);
