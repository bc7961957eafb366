import { leadIdOf } from '../lib/core/events.ts';
import { badRequest, notFound } from '../lib/http/errors.ts';
import { httpHandler } from '../lib/http/handler.ts';
import { json } from '../lib/http/request.ts';
import { leadView } from '../lib/lead-view.ts';
import { pipelineFromEnv } from '../lib/runtime.ts';

/**
 * GET /leads/{email}: the lead scored now, with its reasons and handoffs; 404 when unknown. A lead that
 * arrived without an e-mail is found by its provider key, e.g. /leads/phone:+14155550123.
 */
export const handler = httpHandler(async (event) => {
  const leadId = leadIdOf(event.pathParameters?.email);
  if (!leadId) throw badRequest('the path must end with an e-mail address, e.g. /leads/dana%40example.com, or a lead key such as phone:+14155550123');
  const { store, model } = pipelineFromEnv();
  const lead = await store.getLead(leadId);
  if (!lead) throw notFound(`no lead ${leadId}`);
  return json(200, leadView(lead, await store.listHandoffs(leadId), model, new Date()));
});
