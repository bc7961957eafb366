import { pipelineFromEnv } from '../lib/ingest/from-env.ts';
import { hubspotWebhookHandler } from '../lib/ingest/hubspot-webhook.ts';
import { HubSpotOutcomeMapError, hubspotOutcomeMap } from '../lib/sources/hubspot.ts';

// Cold start: a HUBSPOT_OUTCOME_MAP that does not validate stops the function before it takes traffic.
try {
  hubspotOutcomeMap(process.env.HUBSPOT_OUTCOME_MAP);
} catch (error) {
  if (error instanceof HubSpotOutcomeMapError) console.error(error.message);
  throw error;
}

/** POST /webhooks/hubspot: HubSpot's own webhook (v3 signed), lifecycle stage and lead status changes as sales outcomes. */
export const handler = hubspotWebhookHandler(pipelineFromEnv);
