import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { segment } from '../lib/sources/segment.ts';

/** POST /webhooks/events: website and product events in Segment's shape, signed per Standard Webhooks. */
export const handler = webhookHandlerFromEnv(segment);
