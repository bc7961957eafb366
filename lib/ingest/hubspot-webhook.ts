import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { NormalizedEvent } from '../core/events.ts';
import { canonicalLeadId } from '../core/identity.ts';
import { hubSpotLeadStatusesFromEnv } from '../crm/hubspot.ts';
import { notFound } from '../http/errors.ts';
import { httpHandler } from '../http/handler.ts';
import { header, json } from '../http/request.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { getSecrets } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import type { HubSpotOutcomeChange } from '../sources/hubspot.ts';
import {
  contactEmail,
  HubSpotLookupError,
  hubspotOutcomeMap,
  outcomeEvent,
  parseHubSpotDelivery,
  requestUri,
  verifyHubSpotSignature,
} from '../sources/hubspot.ts';
import type { IgnoredEvent } from '../sources/source.ts';
import type { Pipeline } from './pipeline.ts';
import { ingest } from './pipeline.ts';
import { webhookRequest } from './webhook.ts';

/** The adapter name the handoff links HubSpot contacts under (`CRM#hubspot#<id>`). */
const adapterName = 'hubspot';

/**
 * `hs_lead_status` values this pipeline's own handoff writes (HUBSPOT_MQL_LEAD_STATUS, _RECYCLED_,
 * _DISQUALIFIED_, read as the adapter reads them: default NEW, BAD_TIMING, UNQUALIFIED). When such a value
 * comes back from an integration (changeSource INTEGRATION or API) rather than a person or a workflow, it
 * is our own write echoed, not sales' decision: a recycled lead's BAD_TIMING must not return as a
 * rejection for timing. The same value set by a salesperson in HubSpot still counts.
 */
function ownLeadStatuses(env: NodeJS.ProcessEnv): Set<string> {
  const statuses = hubSpotLeadStatusesFromEnv(env);
  return new Set(
    [statuses.mql, statuses.recycled, statuses.disqualified].filter((value): value is string => value !== undefined).map((value) => value.toLowerCase()),
  );
}
const integrationSources = new Set(['INTEGRATION', 'API']);

/**
 * The whole path of HubSpot's webhook: 404 while HUBSPOT_APP_SECRET is unset, the v3 signature over the
 * raw bytes, the delivery parsed, each outcome's contact mapped to its lead, the outcomes stored and the
 * leads re-scored. 200 once everything that could be mapped is stored; 503 (HubSpot retries, the stored
 * events deduplicate by event id) when a contact could not be looked up just now.
 */
export function hubspotWebhookHandler(pipeline: () => Pipeline, clock: () => Date = () => new Date(), env: NodeJS.ProcessEnv = process.env) {
  return httpHandler(async (event: APIGatewayProxyEventV2) => {
    const now = clock();
    const secrets = await getSecrets(now.getTime());
    const secret = secrets.HUBSPOT_APP_SECRET;
    if (!secret) throw notFound('the hubspot webhook is not configured (HUBSPOT_APP_SECRET)');
    const request = webhookRequest(event);
    const uri = requestUri({
      configured: env.HUBSPOT_WEBHOOK_URL,
      proto: header(event, 'x-forwarded-proto'),
      host: header(event, 'host') ?? event.requestContext?.domainName,
      rawPath: event.rawPath ?? '/webhooks/hubspot',
      rawQueryString: event.rawQueryString,
    });
    verifyHubSpotSignature({ secret, method: request.method, uri, body: request.body, header: request.header, now });

    const map = hubspotOutcomeMap(env.HUBSPOT_OUTCOME_MAP);
    const { changes, ignored, received } = parseHubSpotDelivery(request.body, request.header('content-type'), map);
    const own = ownLeadStatuses(env);
    const wanted = changes.filter((change) => {
      const echo = change.property === 'hs_lead_status' && own.has(change.value.toLowerCase()) && integrationSources.has(change.changeSource ?? '');
      if (echo) ignored.push({ sourceEventId: change.eventId, reason: 'own_write' });
      return !echo;
    });

    const current = pipeline();
    const lookup = leadFinder(current, secrets.HUBSPOT_ACCESS_TOKEN, env.HUBSPOT_BASE_URL ?? 'https://api.hubapi.com');
    const events: NormalizedEvent[] = [];
    let lookupFailure: HubSpotLookupError | undefined;
    // A few lookups at a time: HubSpot waits only seconds for the answer, and its API has a burst limit.
    const found = await mapWithConcurrency(wanted, 8, async (change) => {
      try {
        return await lookup(change);
      } catch (error) {
        if (!(error instanceof HubSpotLookupError)) throw error;
        lookupFailure ??= error;
        return undefined;
      }
    });
    wanted.forEach((change, index) => {
      const answer = found[index];
      if (answer?.kind === 'lead') events.push(outcomeEvent(change, answer.leadId));
      else if (answer) ignored.push({ sourceEventId: change.eventId, reason: answer.reason });
    });

    const result = await ingest(events, current, now);
    logIgnored(ignored);
    if (lookupFailure) {
      // What could be mapped is stored; HubSpot retries the whole delivery and those events deduplicate.
      logger.error('hubspot contact lookup failed; the delivery will be retried by HubSpot', { error: lookupFailure });
      return json(503, { error: 'temporarily_unavailable', detail: 'a contact could not be looked up in HubSpot; retry later', stored: result.applied });
    }
    return json(200, {
      received,
      stored: result.applied,
      duplicates: result.duplicates,
      ignored: ignored.length,
      ...(ignored.length > 0 ? { ignoredReasons: countBy(ignored.map((one) => one.reason)) } : {}),
    });
  });
}

type Found = { kind: 'lead'; leadId: string } | { kind: 'ignored'; reason: string };

/**
 * Finds the lead of a HubSpot contact: the CRM link the handoff wrote when it delivered the lead, else
 * the contact's e-mail from HubSpot (with HUBSPOT_ACCESS_TOKEN), and only a lead this pipeline knows:
 * a contact that never came through it is not our lead, and an outcome must not invent one.
 * Answers are cached for the delivery (HubSpot sends a contact's stage and status changes together).
 */
function leadFinder(pipeline: Pipeline, token: string | undefined, baseUrl: string): (change: HubSpotOutcomeChange) => Promise<Found> {
  const cache = new Map<string, Promise<Found>>();
  const find = async (objectId: string): Promise<Found> => {
    const linked = await pipeline.store.leadIdForCrmRecord(adapterName, objectId);
    if (linked) return { kind: 'lead', leadId: linked };
    if (!token) return { kind: 'ignored', reason: 'unknown_contact' };
    const email = await contactEmail(objectId, { token, baseUrl });
    if (!email) return { kind: 'ignored', reason: 'unknown_contact' };
    const leadId = canonicalLeadId(email, pipeline.model);
    const lead = await pipeline.store.getLead(leadId);
    if (!lead) return { kind: 'ignored', reason: 'unknown_lead' };
    return { kind: 'lead', leadId: lead.mergedInto ?? leadId };
  };
  return (change) => {
    let found = cache.get(change.objectId);
    if (!found) {
      found = find(change.objectId);
      // A failed lookup is not remembered: the next change of the contact tries again.
      found.catch(() => cache.delete(change.objectId));
      cache.set(change.objectId, found);
    }
    return found;
  };
}

function logIgnored(ignored: readonly IgnoredEvent[]): void {
  if (ignored.length > 0)
    logger.info('events ignored', { source: 'hubspot', ignored: ignored.length, reasons: [...new Set(ignored.map((one) => one.reason))] });
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
