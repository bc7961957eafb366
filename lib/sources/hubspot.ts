/**
 * HubSpot's own webhook (`POST /webhooks/hubspot`): what sales did to a contact in HubSpot, its
 * lifecycle stage or lead status, comes back as a sales outcome on the lead, the same event types
 * POST /webhooks/crm produces (lib/sources/crm-feedback.ts).
 *
 * Authenticity: `X-HubSpot-Signature-v3`, the base64 HMAC-SHA256, keyed with the app's client secret
 * (HUBSPOT_APP_SECRET), of method + full request URI + raw body + `X-HubSpot-Request-Timestamp`
 * (milliseconds). HubSpot's rules: refuse a timestamp older than 5 minutes; decode the URI's
 * percent-encoded characters of a fixed list (`%3A` -> `:`, ...) before signing; compare in constant time.
 *
 * A delivery is a JSON array of up to 100 events. `contact.propertyChange` of `lifecyclestage` or
 * `hs_lead_status` (and the new platform's `object.propertyChange` of a contact, objectTypeId `0-1`) maps
 * to an outcome through {@link defaultHubSpotOutcomeMap} or HUBSPOT_OUTCOME_MAP; anything else is
 * acknowledged and ignored with a reason (a deleted contact says nothing about the sale). HubSpot names
 * the contact by its record id only: the lead is found through the CRM link the handoff wrote when it
 * delivered the lead (`CRM#hubspot#<id>`), else by asking HubSpot for the contact's e-mail.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod/mini';
import '../core/zod.ts';
import { contactEmail, HubSpotLookupError } from '../apis/hubspot-contacts.ts';
import type { NormalizedEvent, PropertyValue } from '../core/events.ts';
import { canonicalLeadId } from '../core/identity.ts';
import { hubSpotDefaultBaseUrl, hubSpotLeadStatusesFromEnv } from '../crm/hubspot-properties.ts';
import { badRequest, unauthorized } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject } from '../http/json.ts';
import { outboundUrl } from '../http/outbound.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import type { Secrets } from '../runtime/config.ts';
import type { CrmOutcomeType, RejectionReason } from './crm-feedback.ts';
import { crmOutcomeTypes, rejectionReasons } from './crm-feedback.ts';
import type { Env, IgnoredEvent, LookupResult, StepContext, WebhookRequest, WebhookSource } from './source.ts';

/** HubSpot refuses nothing older; we refuse a delivery whose timestamp is further than this from now, either way. */
export const hubspotSignatureToleranceMs = 5 * 60 * 1000;

/** HubSpot sends at most 100 events per request; this leaves room and still bounds the work of one delivery. */
export const maxHubSpotEvents = 500;

/**
 * The percent-encodings HubSpot decodes in the URI before signing (its "validate the v3 request
 * signature" table); every other encoding stays as sent.
 */
const decodedInSignature: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

/** The URI as HubSpot signs it: the listed percent-encodings decoded, the rest as sent. */
export function signatureUri(uri: string): string {
  return uri.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (encoded) => decodedInSignature[encoded.toUpperCase()]!);
}

/** The v3 signature of a request: base64 HMAC-SHA256 of method + URI + body + timestamp. */
export function hubspotSignatureV3(input: { secret: string; method: string; uri: string; body: Buffer | string; timestamp: string }): string {
  return createHmac('sha256', input.secret)
    .update(`${input.method.toUpperCase()}${signatureUri(input.uri)}`, 'utf8')
    .update(typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body)
    .update(input.timestamp, 'utf8')
    .digest('base64');
}

/**
 * Verifies `X-HubSpot-Signature-v3` over the raw bytes, before anything is parsed. Throws a 401 naming
 * what is wrong (never the expected value). `uri` is the full URL HubSpot called, scheme and query included.
 */
export function verifyHubSpotSignature(input: {
  secret: string;
  method: string;
  uri: string;
  body: Buffer;
  header: (name: string) => string | undefined;
  now: Date;
}): void {
  const signature = input.header('x-hubspot-signature-v3');
  const timestamp = input.header('x-hubspot-request-timestamp');
  if (!signature) throw unauthorized('missing X-HubSpot-Signature-v3 (only v3-signed deliveries are accepted)');
  if (!timestamp) throw unauthorized('missing X-HubSpot-Request-Timestamp');
  if (!/^\d{1,16}$/.test(timestamp)) throw unauthorized('X-HubSpot-Request-Timestamp is not a time in milliseconds');
  const skew = input.now.getTime() - Number(timestamp);
  if (Math.abs(skew) > hubspotSignatureToleranceMs) {
    throw unauthorized(`X-HubSpot-Request-Timestamp is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'old' : 'in the future'}; the limit is 300 s`);
  }
  const expected = Buffer.from(hubspotSignatureV3({ secret: input.secret, method: input.method, uri: input.uri, body: input.body, timestamp }), 'utf8');
  const given = Buffer.from(signature.trim(), 'utf8');
  // Lengths are public (a SHA-256 in base64 is always 44 characters); the comparison of the bytes is constant-time.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized('X-HubSpot-Signature-v3 does not match the request');
}

/**
 * The full URL of a request as HubSpot called it. HUBSPOT_WEBHOOK_URL (the target URL configured in
 * the HubSpot app) wins when set: behind a proxy or a custom domain the Host the function sees may not
 * be the one HubSpot signed. Otherwise scheme from X-Forwarded-Proto (API Gateway sets https), Host,
 * path and query as received.
 */
export function requestUri(input: { configured?: string; proto?: string; host?: string; rawPath: string; rawQueryString?: string }): string {
  const query = input.rawQueryString ? `?${input.rawQueryString}` : '';
  if (input.configured) return `${input.configured.replace(/\?.*$/, '')}${query}`;
  const proto = (input.proto ?? 'https').split(',')[0]!.trim() || 'https';
  return `${proto}://${input.host ?? ''}${input.rawPath}${query}`;
}

/** What an outcome map entry says: the outcome, and for a rejection its reason. */
export interface MappedOutcome {
  outcome: CrmOutcomeType;
  reason?: RejectionReason;
}

/** Property -> value (HubSpot's internal value, compared without regard to case) -> outcome. */
export type HubSpotOutcomeMap = Record<string, Record<string, MappedOutcome>>;

/**
 * The default mapping, from HubSpot's default lifecycle stages and lead statuses:
 * - lifecyclestage `salesqualifiedlead` and `opportunity` -> sql, `customer` -> won (a contact has no
 *   deal amount; send won with an amount through POST /webhooks/crm when it matters);
 * - hs_lead_status `IN_PROGRESS` and `CONNECTED` -> mql_accepted (sales is working it), `OPEN_DEAL` -> sql,
 *   `UNQUALIFIED` -> mql_rejected (reason other: HubSpot does not say why), `BAD_TIMING` -> mql_rejected
 *   (wrong_timing).
 * `subscriber`, `lead`, `marketingqualifiedlead`, `NEW`, `OPEN` and `ATTEMPTED_TO_CONTACT` say nothing
 * sales decided and are ignored, as is any value the map does not name.
 */
export const defaultHubSpotOutcomeMap: HubSpotOutcomeMap = {
  lifecyclestage: {
    salesqualifiedlead: { outcome: 'sql' },
    opportunity: { outcome: 'sql' },
    customer: { outcome: 'won' },
  },
  hs_lead_status: {
    in_progress: { outcome: 'mql_accepted' },
    connected: { outcome: 'mql_accepted' },
    open_deal: { outcome: 'sql' },
    unqualified: { outcome: 'mql_rejected', reason: 'other' },
    bad_timing: { outcome: 'mql_rejected', reason: 'wrong_timing' },
  },
};

const mappedOutcome = z.union([z.enum(crmOutcomeTypes), z.strictObject({ outcome: z.enum(crmOutcomeTypes), reason: z.optional(z.enum(rejectionReasons)) })]);
const outcomeMapSchema = z.record(z.string().check(z.minLength(1)), z.record(z.string().check(z.minLength(1)), z.nullable(mappedOutcome)));

/** A HUBSPOT_OUTCOME_MAP that cannot be used: the message says what to fix. */
export class HubSpotOutcomeMapError extends Error {}

/**
 * The outcome map: the defaults, with HUBSPOT_OUTCOME_MAP merged over them per property and value.
 * The variable is JSON: `{"hs_lead_status": {"UNQUALIFIED": {"outcome": "mql_rejected", "reason":
 * "outside_icp"}, "NEW": "mql_accepted", "BAD_TIMING": null}}`; a value is an outcome type, an object
 * with a rejection reason, or null to drop a default. Throws {@link HubSpotOutcomeMapError} naming the problem.
 */
export function hubspotOutcomeMap(json: string | undefined): HubSpotOutcomeMap {
  const map: HubSpotOutcomeMap = structuredClone(defaultHubSpotOutcomeMap);
  if (json === undefined || json.trim() === '') return map;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new HubSpotOutcomeMapError(`HUBSPOT_OUTCOME_MAP is not JSON: ${(error as Error).message}`);
  }
  const checked = outcomeMapSchema.safeParse(parsed);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new HubSpotOutcomeMapError(
      `HUBSPOT_OUTCOME_MAP${issue.path.map((part) => `.${String(part)}`).join('')}: ${issue.message} ` +
        `(expected {"<property>": {"<value>": "<${crmOutcomeTypes.join('|')}>" or {"outcome", "reason": "<${rejectionReasons.join('|')}>"} or null}})`,
    );
  }
  for (const [property, values] of Object.entries(checked.data)) {
    map[property] ??= {};
    const into = map[property];
    for (const [value, entry] of Object.entries(values)) {
      const key = value.toLowerCase();
      if (entry === null) {
        delete into[key];
        continue;
      }
      const mapped: MappedOutcome =
        typeof entry === 'string' ? { outcome: entry } : { outcome: entry.outcome, ...(entry.reason ? { reason: entry.reason } : {}) };
      if (mapped.reason !== undefined && mapped.outcome !== 'mql_rejected') {
        throw new HubSpotOutcomeMapError(`HUBSPOT_OUTCOME_MAP.${property}.${value}: only mql_rejected carries a reason`);
      }
      into[key] = mapped;
    }
  }
  return map;
}

/** One property change HubSpot reported that the map turns into an outcome, before its lead is known. */
export interface HubSpotOutcomeChange {
  eventId: string;
  objectId: string;
  occurredAt: string;
  property: string;
  value: string;
  mapped: MappedOutcome;
  changeSource?: string;
  raw: JsonObject;
}

const eventSchema = z.looseObject({
  eventId: z.union([z.number().check(z.int(), z.nonnegative()), z.string().check(z.regex(/^\d{1,30}$/))], {
    error: 'must be the event id HubSpot sends (a whole number)',
  }),
  subscriptionType: z.string({ error: 'must be a string such as contact.propertyChange' }),
  objectId: z.union([z.number().check(z.int(), z.nonnegative()), z.string().check(z.regex(/^\d{1,30}$/))], { error: 'must be the record id (a whole number)' }),
  occurredAt: z.number({ error: 'must be a time in milliseconds' }).check(z.int(), z.positive({ error: 'must be a time in milliseconds' })),
  propertyName: z.optional(z.string()),
  propertyValue: z.optional(z.union([z.string(), z.number(), z.boolean(), z.null()])),
  objectTypeId: z.optional(z.string()),
  changeSource: z.optional(z.string()),
});

/** Whether an event is a property change of a contact (the legacy and the new platform's names). */
function isContactPropertyChange(event: z.infer<typeof eventSchema>): boolean {
  return event.subscriptionType === 'contact.propertyChange' || (event.subscriptionType === 'object.propertyChange' && event.objectTypeId === '0-1');
}

/**
 * Parses a verified delivery: the changes that are outcomes, and the rest ignored with a reason. All or
 * nothing: a body that is not HubSpot's shape (not an array, an event without id or time) is refused
 * with a 400 naming it, and nothing is stored.
 */
export function parseHubSpotDelivery(
  body: Buffer,
  contentType: string | undefined,
  map: HubSpotOutcomeMap,
): { changes: HubSpotOutcomeChange[]; ignored: IgnoredEvent[]; received: number } {
  requireContentType(contentType, 'application/json');
  const parsed = parseJson(body);
  if (!Array.isArray(parsed)) throw badRequest('body must be a JSON array of HubSpot webhook events');
  if (parsed.length === 0) throw badRequest('the delivery holds no event');
  if (parsed.length > maxHubSpotEvents) throw badRequest(`the delivery holds ${parsed.length} events; the limit is ${maxHubSpotEvents}`);

  const changes: HubSpotOutcomeChange[] = [];
  const ignored: IgnoredEvent[] = [];
  const seen = new Set<string>();
  for (const [index, raw] of parsed.entries()) {
    if (!isObject(raw)) throw badRequest(`[${index}]: must be a JSON object`);
    const checked = eventSchema.safeParse(raw);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw badRequest(`[${index}]${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'is not a HubSpot event'}`);
    }
    const event = checked.data;
    const eventId = String(event.eventId);
    if (seen.has(eventId)) {
      ignored.push({ sourceEventId: eventId, reason: 'duplicate_in_delivery' });
      continue;
    }
    seen.add(eventId);
    if (event.subscriptionType === 'contact.deletion' || (event.subscriptionType === 'object.deletion' && event.objectTypeId === '0-1')) {
      // Deleting the CRM record says nothing about the sale; the lead and its history stay as they are.
      ignored.push({ sourceEventId: eventId, reason: 'contact_deleted' });
      continue;
    }
    if (!isContactPropertyChange(event)) {
      ignored.push({ sourceEventId: eventId, reason: 'unsupported_subscription' });
      continue;
    }
    const property = event.propertyName;
    if (!property) throw badRequest(`[${index}].propertyName: a property change must name its property`);
    const values = Object.hasOwn(map, property) ? map[property]! : undefined;
    if (!values) {
      ignored.push({ sourceEventId: eventId, reason: 'unmapped_property' });
      continue;
    }
    const value = event.propertyValue === undefined || event.propertyValue === null ? '' : String(event.propertyValue);
    const mapped = Object.hasOwn(values, value.toLowerCase()) ? values[value.toLowerCase()] : undefined;
    if (!mapped) {
      ignored.push({ sourceEventId: eventId, reason: 'not_an_outcome' });
      continue;
    }
    changes.push({
      eventId,
      objectId: String(event.objectId),
      occurredAt: new Date(event.occurredAt).toISOString(),
      property,
      value,
      mapped,
      ...(event.changeSource ? { changeSource: event.changeSource } : {}),
      raw: raw as JsonObject,
    });
  }
  return { changes, ignored, received: parsed.length };
}

/** The outcome event of a change, once its lead is known. */
export function outcomeEvent(change: HubSpotOutcomeChange, leadKey: string): NormalizedEvent {
  const properties: Record<string, PropertyValue> = {
    crmId: change.objectId,
    hubspotProperty: change.property,
    hubspotValue: change.value,
  };
  if (change.mapped.reason) properties.reason = change.mapped.reason;
  if (change.changeSource) properties.changeSource = change.changeSource;
  return { leadKey, type: change.mapped.outcome, occurredAt: change.occurredAt, source: 'hubspot', sourceEventId: change.eventId, properties, raw: change.raw };
}

/** The adapter name the handoff links HubSpot contacts under (`CRM#hubspot#<id>`). */
const adapterName = 'hubspot';

/**
 * `hs_lead_status` values this pipeline's own handoff writes (HUBSPOT_MQL_LEAD_STATUS, _RECYCLED_,
 * _DISQUALIFIED_, read as the adapter reads them: default NEW, BAD_TIMING, UNQUALIFIED). When such a value
 * comes back from an integration (changeSource INTEGRATION or API) rather than a person or a workflow, it
 * is our own write echoed, not sales' decision: a recycled lead's BAD_TIMING must not return as a
 * rejection for timing. The same value set by a salesperson in HubSpot still counts.
 */
function ownLeadStatuses(env: Env): Set<string> {
  const statuses = hubSpotLeadStatusesFromEnv(env);
  return new Set(
    [statuses.mql, statuses.recycled, statuses.disqualified].filter((value): value is string => value !== undefined).map((value) => value.toLowerCase()),
  );
}
const integrationSources = new Set(['INTEGRATION', 'API']);

type Found = { kind: 'lead'; leadId: string } | { kind: 'ignored'; reason: string };

/**
 * Finds the lead of a HubSpot contact: the CRM link the handoff wrote when it delivered the lead, else
 * the contact's e-mail from HubSpot (with HUBSPOT_ACCESS_TOKEN), and only a lead this pipeline knows:
 * a contact that never came through it is not our lead, and an outcome must not invent one.
 * Answers are cached for the delivery (HubSpot sends a contact's stage and status changes together).
 */
function leadFinder(context: StepContext): (change: HubSpotOutcomeChange) => Promise<Found> {
  const token = context.secrets.HUBSPOT_ACCESS_TOKEN;
  const baseUrl = context.env.HUBSPOT_BASE_URL ?? hubSpotDefaultBaseUrl;
  const cache = new Map<string, Promise<Found>>();
  const find = async (objectId: string): Promise<Found> => {
    const linked = await context.leads.leadIdForCrmRecord(adapterName, objectId);
    if (linked) return { kind: 'lead', leadId: linked };
    if (!token) return { kind: 'ignored', reason: 'unknown_contact' };
    const email = await contactEmail(objectId, { token, baseUrl });
    if (!email) return { kind: 'ignored', reason: 'unknown_contact' };
    const leadId = canonicalLeadId(email, context.model);
    const lead = await context.leads.getLead(leadId);
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

/**
 * The lookup step: our own lead-status writes echoed back are ignored, each other change's contact is
 * mapped to its lead. A contact HubSpot cannot be asked about just now makes the delivery `unavailable`
 * (503): what could be mapped is stored, HubSpot retries the delivery, and those events deduplicate.
 */
async function lookupLeads(changes: readonly HubSpotOutcomeChange[], context: StepContext): Promise<LookupResult> {
  const own = ownLeadStatuses(context.env);
  const ignored: IgnoredEvent[] = [];
  const wanted = changes.filter((change) => {
    const echo = change.property === 'hs_lead_status' && own.has(change.value.toLowerCase()) && integrationSources.has(change.changeSource ?? '');
    if (echo) ignored.push({ sourceEventId: change.eventId, reason: 'own_write' });
    return !echo;
  });
  const lookup = leadFinder(context);
  let unavailable: HubSpotLookupError | undefined;
  // A few lookups at a time: HubSpot waits only seconds for the answer, and its API has a burst limit.
  const found = await mapWithConcurrency(wanted, 8, async (change) => {
    try {
      return await lookup(change);
    } catch (error) {
      if (!(error instanceof HubSpotLookupError)) throw error;
      unavailable ??= error;
      return undefined;
    }
  });
  const events: NormalizedEvent[] = [];
  wanted.forEach((change, index) => {
    const answer = found[index];
    if (answer?.kind === 'lead') events.push(outcomeEvent(change, answer.leadId));
    else if (answer) ignored.push({ sourceEventId: change.eventId, reason: answer.reason });
  });
  return {
    events,
    ignored,
    ...(unavailable ? { unavailable: new Error('a contact could not be looked up in HubSpot', { cause: unavailable }) } : {}),
  };
}

/**
 * `POST /webhooks/hubspot` (HUBSPOT_APP_SECRET; HUBSPOT_ACCESS_TOKEN to look up contacts the handoff never
 * linked; HUBSPOT_WEBHOOK_URL when the URL HubSpot signs is not the one the function sees;
 * HUBSPOT_OUTCOME_MAP to map other values).
 */
export const hubspot: WebhookSource<HubSpotOutcomeChange> = {
  name: 'hubspot',
  requiredSecrets: ['HUBSPOT_APP_SECRET'],
  checkSettings(env: Env) {
    hubspotOutcomeMap(env.HUBSPOT_OUTCOME_MAP);
    // The contact lookup sends HUBSPOT_ACCESS_TOKEN there.
    if (env.HUBSPOT_BASE_URL) outboundUrl('HUBSPOT_BASE_URL', env.HUBSPOT_BASE_URL, env);
  },
  verify(request: WebhookRequest, secrets: Secrets, now: Date, env: Env = {}) {
    const uri = requestUri({
      ...(env.HUBSPOT_WEBHOOK_URL ? { configured: env.HUBSPOT_WEBHOOK_URL } : {}),
      proto: request.header('x-forwarded-proto'),
      host: request.header('host') ?? request.domainName,
      rawPath: request.path ?? '/webhooks/hubspot',
      ...(request.rawQueryString ? { rawQueryString: request.rawQueryString } : {}),
    });
    verifyHubSpotSignature({ secret: secrets.HUBSPOT_APP_SECRET ?? '', method: request.method, uri, body: request.body, header: request.header, now });
  },
  normalize(request: WebhookRequest, _now?: Date, env: Env = {}) {
    const { changes, ignored, received } = parseHubSpotDelivery(request.body, request.header('content-type'), hubspotOutcomeMap(env.HUBSPOT_OUTCOME_MAP));
    return { events: [], ignored, pending: changes, received };
  },
  lookup: lookupLeads,
};
