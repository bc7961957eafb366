import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { customerio } from '../lib/sources/customerio.ts';

/** POST /webhooks/customerio: Customer.io webhook deliveries, verified over the raw bytes, stored and scored. */
export const handler = webhookHandlerFromEnv(customerio);
