import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { hubspot } from '../lib/sources/hubspot.ts';

/**
 * POST /webhooks/hubspot: HubSpot's own webhook (v3 signed), lifecycle stage and lead status changes as
 * sales outcomes. A HUBSPOT_OUTCOME_MAP that does not validate stops the function at its cold start.
 */
export const handler = webhookHandlerFromEnv(hubspot);
