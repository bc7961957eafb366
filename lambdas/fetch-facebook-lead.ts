import type { Context, SQSEvent } from 'aws-lambda';
import { facebookFetchFromEnv, fetchFacebookLeads } from '../lib/ingest/facebook-fetch.ts';

/** Consumes the facebook-leads queue: fetches each lead from the Graph API, stores and scores it. */
export async function handler(event: SQSEvent, context: Context) {
  const deps = await facebookFetchFromEnv();
  return fetchFacebookLeads(event, { ...deps, remainingMs: () => context.getRemainingTimeInMillis() });
}
