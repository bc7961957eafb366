import { fetchHandler } from '../lib/ingest/from-env.ts';
import { facebook } from '../lib/sources/facebook.ts';

/** Consumes the facebook-leads queue: fetches each lead from the Graph API, stores and scores it. */
export const handler = fetchHandler(facebook);
