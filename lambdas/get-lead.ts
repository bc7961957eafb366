import { normalizeEmail } from '../lib/core/events.ts';
import { badRequest, notFound } from '../lib/http/errors.ts';
import { httpHandler } from '../lib/http/handler.ts';
import { json } from '../lib/http/request.ts';
import { leadView } from '../lib/lead-view.ts';
import { pipelineFromEnv } from '../lib/runtime.ts';

/** GET /leads/{email}: the lead scored now, with its reasons and handoffs; 404 when unknown. */
export const handler = httpHandler(async (event) => {
  const email = normalizeEmail(event.pathParameters?.email);
  if (!email) throw badRequest('the path must end with an e-mail address, e.g. /leads/dana%40example.com');
  const { store, model } = pipelineFromEnv();
  const lead = await store.getLead(email);
  if (!lead) throw notFound(`no lead ${email}`);
  return json(200, leadView(lead, await store.listHandoffs(email), model, new Date()));
});
