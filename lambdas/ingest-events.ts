import { webhookHandler } from '../lib/http/webhook.ts';
import { pipelineFromEnv } from '../lib/runtime.ts';
import { segment } from '../lib/sources/segment.ts';

/** POST /webhooks/events: website and product events in Segment's shape, signed per Standard Webhooks. */
export const handler = webhookHandler(segment, pipelineFromEnv);
