import { leadIdOf } from '../lib/core/events.ts';
import { badRequest, notFound } from '../lib/http/errors.ts';
import { httpHandler } from '../lib/http/handler.ts';
import { json } from '../lib/http/request.ts';
import { pipelineFromEnv } from '../lib/ingest/from-env.ts';
import { loadModelAtColdStart } from '../lib/runtime/model-config.ts';
import { findLeadView } from '../lib/views/lead-view.ts';

loadModelAtColdStart();

/**
 * GET /leads/{email}: the lead scored now, with its reasons and handoffs; 404 when unknown. A lead that
 * arrived without an e-mail is found by its provider key, e.g. /leads/phone:+14155550123. Once such a
 * lead was merged into an e-mail lead, its key answers with that lead (its `leadId` says which, its
 * `mergedFrom` names the key asked for), handoffs sent under the old key included.
 */
export const handler = httpHandler(async (event) => {
  const asked = leadIdOf(event.pathParameters?.email);
  if (!asked) throw badRequest('the path must end with an e-mail address, e.g. /leads/dana%40example.com, or a lead key such as phone:+14155550123');
  const { store, model } = pipelineFromEnv();
  const view = await findLeadView(store, model, asked, new Date());
  if (!view) throw notFound(`no lead ${asked}`);
  return json(200, view);
});
