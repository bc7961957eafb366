import { webhookHandler } from '../lib/http/webhook.ts';
import { pipelineFromEnv } from '../lib/runtime.ts';
import { crmFeedback } from '../lib/sources/crm-feedback.ts';

/** POST /webhooks/crm: sales outcomes from the operator's CRM integration, signed per Standard Webhooks. */
export const handler = webhookHandler(crmFeedback, pipelineFromEnv);
