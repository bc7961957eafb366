import { webhookHandlerFromEnv } from '../lib/ingest/from-env.ts';
import { crmFeedback } from '../lib/sources/crm-feedback.ts';

/** POST /webhooks/crm: sales outcomes from the operator's CRM integration, signed per Standard Webhooks. */
export const handler = webhookHandlerFromEnv(crmFeedback);
