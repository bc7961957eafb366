/**
 * Facebook / Meta Lead Ads (docs/providers/facebook.md), a "notify, then fetch" source:
 *
 * - The webhook (`object: page`, `field: leadgen`) carries ids only: it is verified (`X-Hub-Signature-256`,
 *   HMAC-SHA256 of the raw bytes keyed with the app secret), parsed without losing the digits of ids
 *   beyond 2^53, and turned into {@link LeadgenNotification}s, which the ingest handler queues.
 * - The subscription handshake (GET `hub.mode=subscribe`) echoes `hub.challenge` when the verify token matches.
 * - The fetch step gets each lead from the Graph API (lib/apis/facebook-graph.ts) and maps it onto one
 *   `form_submitted` event (./facebook-lead.ts).
 *
 * Nothing else in the code base knows that Meta ids overflow doubles or that answers come as arrays of strings.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { defaultFacebookGraphUrl, fetchGraphLead, GraphError, metaIdPattern, parseMetaJson } from '../apis/facebook-graph.ts';
import { badRequest, forbidden, unauthorized } from '../http/errors.ts';
import { isObject, own } from '../http/json.ts';
import { outboundUrl } from '../http/outbound.ts';
import { requireContentType } from '../http/request.ts';
import type { Failure } from '../queue/settlement.ts';
import type { Secrets } from '../runtime/config.ts';
import { normalizeGraphLead } from './facebook-lead.ts';
import { definedOnly } from './fields.ts';
import type { Env, HandshakeAnswer, IgnoredEvent, WebhookRequest, WebhookSource } from './source.ts';

/** Kept here too: the phone key is named in lib/core/identity.ts, the same for every source. */
export { normalizePhone } from '../core/identity.ts';

export const facebookSourceName = 'facebook';

/** The lead id the App Dashboard's "Test" button sends; fetching it fails (100/33), so it is acknowledged and skipped. */
export const dashboardTestLeadgenId = '444444444444';

/** One lead announced by a leadgen webhook: ids as exact decimal strings. */
export interface LeadgenNotification {
  readonly leadgenId: string;
  readonly pageId?: string;
  readonly formId?: string;
  /** Absent for organic leads and ad-preview submissions (Meta sends `0` or nothing). */
  readonly adId?: string;
  /** When the person submitted the form (ISO UTC, from the webhook's unix seconds). */
  readonly createdTime?: string;
}

export interface LeadgenDelivery {
  /** Leads to fetch, each leadgen id once. */
  readonly leads: LeadgenNotification[];
  /** Authentic changes that are not leads to fetch: other fields or objects, the dashboard test lead, repeats. */
  readonly ignored: IgnoredEvent[];
  /** Changes in the delivery, leads and ignored together. */
  readonly received: number;
}

// --- authenticity -------------------------------------------------------------------------------

const signaturePattern = /^sha256=([0-9a-f]{64})$/i;

/** Hex HMAC-SHA256 of `body` keyed with the app secret: what Meta puts after `sha256=`. */
export function facebookSignature(appSecret: string, body: Buffer | string): string {
  return createHmac('sha256', appSecret).update(body).digest('hex');
}

/**
 * Checks `X-Hub-Signature-256` over the exact bytes received, in constant time. The legacy sha1
 * header alone is not accepted (Meta documents only the -256 one). Throws 401.
 */
export function verifyFacebookSignature(request: WebhookRequest, appSecret: string): void {
  const given = request.header('x-hub-signature-256');
  if (given === undefined || given.trim() === '') throw unauthorized('missing X-Hub-Signature-256');
  const match = signaturePattern.exec(given.trim());
  if (!match?.[1]) throw unauthorized('X-Hub-Signature-256 must be sha256=<64 hex digits>');
  const expected = Buffer.from(facebookSignature(appSecret, request.body), 'hex');
  const received = Buffer.from(match[1], 'hex');
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    throw unauthorized('X-Hub-Signature-256 does not match the body');
  }
}

/** Compares two secrets in constant time whatever their lengths (digests of equal length are compared). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected)) && given.length === expected.length;
}

/** Meta sends an integer; anything echoed back stays a short token, never markup. */
const challengePattern = /^[A-Za-z0-9._-]{1,256}$/;

/**
 * The subscription handshake: `hub.mode=subscribe` and the verify token (compared in constant time)
 * -> 200 text/plain with `hub.challenge`; any other mode or token -> 403, as Meta documents.
 * Query keys are read raw (`hub.mode`, not PHP's `hub_mode`).
 */
export function facebookHandshake(request: WebhookRequest, verifyToken: string): HandshakeAnswer {
  const mode = request.query['hub.mode'];
  const token = request.query['hub.verify_token'];
  if (mode !== 'subscribe' || token === undefined || !sameSecret(token, verifyToken)) {
    throw forbidden('hub.mode must be subscribe and hub.verify_token must match FACEBOOK_VERIFY_TOKEN');
  }
  const challenge = request.query['hub.challenge'];
  if (challenge === undefined || !challengePattern.test(challenge)) throw badRequest('hub.challenge must be a short token (Meta sends an integer)');
  return { status: 200, contentType: 'text/plain', body: challenge };
}

/** An id as a decimal string: undefined when absent, `0` (organic / preview) or empty. Throws 400 on anything else. */
function optionalId(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null || value === '' || value === '0') return undefined;
  if (typeof value !== 'string' || !metaIdPattern.test(value)) throw badRequest(`${where}: must be a numeric id, got ${JSON.stringify(value)}`);
  return value;
}

function unixSecondsToIso(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  const seconds = typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds <= 0 || seconds > 32_503_680_000) {
    throw badRequest(`${where}: must be unix seconds, got ${JSON.stringify(value)}`);
  }
  return new Date(seconds * 1000).toISOString();
}

// --- the leadgen webhook ------------------------------------------------------------------------

/**
 * Turns a verified delivery into the leads to fetch. All or nothing: a delivery that is not in Meta's
 * shape (not an object, no `entry` array, a leadgen change without a numeric `leadgen_id`) is refused
 * whole with a 400. Changes of other objects or fields are acknowledged and counted in `ignored`, as is
 * the dashboard's test lead (`444444444444`); a leadgen id repeated in one delivery is queued once.
 */
export function parseLeadgenDelivery(request: WebhookRequest): LeadgenDelivery {
  requireContentType(request.header('content-type'), 'application/json');
  let body: unknown;
  try {
    body = parseMetaJson(request.body.toString('utf8'));
  } catch (error) {
    // The reviver walks the parsed value recursively: thousands of nested arrays overflow it.
    if (error instanceof RangeError) throw badRequest('body nests too deeply to be a leadgen delivery', error);
    throw badRequest(`body is not valid JSON: ${(error as Error).message}`, error);
  }
  if (!isObject(body)) throw badRequest('body must be a JSON object: {"object": "page", "entry": [...]}');
  const object = own(body, 'object');
  const entries = own(body, 'entry');
  if (typeof object !== 'string' || object === '') throw badRequest('object: must be a string ("page" for Lead Ads)');
  if (!Array.isArray(entries)) throw badRequest('entry: must be an array of {id, time, changes}');
  if (entries.length === 0) throw badRequest('entry: holds no entries');

  const leads: LeadgenNotification[] = [];
  const ignored: IgnoredEvent[] = [];
  const queued = new Set<string>();
  let received = 0;
  entries.forEach((entry, entryIndex) => {
    const where = `entry[${entryIndex}]`;
    if (!isObject(entry)) throw badRequest(`${where}: must be an object`);
    const changes = own(entry, 'changes');
    if (changes === undefined) {
      // A Page subscription may also deliver Messenger entries (`messaging`, `standby`): not leads.
      received += 1;
      ignored.push({ reason: 'no_changes' });
      return;
    }
    if (!Array.isArray(changes)) throw badRequest(`${where}.changes: must be an array`);
    changes.forEach((change, changeIndex) => {
      const at = `${where}.changes[${changeIndex}]`;
      if (!isObject(change)) throw badRequest(`${at}: must be an object`);
      received += 1;
      const field = own(change, 'field');
      if (typeof field !== 'string') throw badRequest(`${at}.field: must be a string`);
      if (object !== 'page') {
        ignored.push({ reason: `unsupported_object:${object.slice(0, 64)}` });
        return;
      }
      if (field !== 'leadgen') {
        ignored.push({ reason: `unsupported_field:${field.slice(0, 64)}` });
        return;
      }
      const lead = leadgenFromChange(own(change, 'value'), own(entry, 'id'), at);
      if (lead.leadgenId === dashboardTestLeadgenId) {
        ignored.push({ sourceEventId: lead.leadgenId, reason: 'test_lead' });
        return;
      }
      if (queued.has(lead.leadgenId)) {
        ignored.push({ sourceEventId: lead.leadgenId, reason: 'duplicate_in_delivery' });
        return;
      }
      queued.add(lead.leadgenId);
      leads.push(lead);
    });
  });
  return { leads, ignored, received };
}

function leadgenFromChange(value: unknown, entryId: unknown, where: string): LeadgenNotification {
  if (!isObject(value)) throw badRequest(`${where}.value: must be an object with leadgen_id`);
  const leadgenId = optionalId(own(value, 'leadgen_id'), `${where}.value.leadgen_id`);
  if (!leadgenId) throw badRequest(`${where}.value.leadgen_id: is required`);
  return definedOnly<LeadgenNotification>({
    leadgenId,
    // `entry[].id` is the Page too; the dashboard test sends "0" there.
    pageId: optionalId(own(value, 'page_id'), `${where}.value.page_id`) ?? optionalId(entryId, `${where} id`),
    formId: optionalId(own(value, 'form_id'), `${where}.value.form_id`),
    // `adgroup_id` is the legacy name of the ad id.
    adId: optionalId(own(value, 'ad_id'), `${where}.value.ad_id`) ?? optionalId(own(value, 'adgroup_id'), `${where}.value.adgroup_id`),
    createdTime: unixSecondsToIso(own(value, 'created_time'), `${where}.value.created_time`),
  });
}

/** The notification a `facebook-leads` message carries; undefined when it is not one (it will never become readable). */
export function readLeadgenMessage(body: string): LeadgenNotification | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isObject(parsed)) return undefined;
  const leadgenId = own(parsed, 'leadgenId');
  if (typeof leadgenId !== 'string' || !metaIdPattern.test(leadgenId)) return undefined;
  const optional = (key: string) => (typeof own(parsed, key) === 'string' ? (own(parsed, key) as string) : undefined);
  return definedOnly<LeadgenNotification>({
    leadgenId,
    pageId: optional('pageId'),
    formId: optional('formId'),
    adId: optional('adId'),
    createdTime: optional('createdTime'),
  });
}

/** The message body of the `facebook-leads` queue: the notification's ids, as exact strings. */
export function leadgenMessageBody(notification: LeadgenNotification): string {
  return JSON.stringify(notification);
}

/** How the queue treats each kind of Graph failure: rate limits use up a receive, never retried before Meta's announced wait. */
function graphFailure(error: unknown): Failure {
  const failure = error instanceof GraphError ? error : new GraphError('transient', (error as Error).message, { cause: error });
  const code = failure.code === undefined ? undefined : `${failure.code}${failure.subcode === undefined ? '' : `/${failure.subcode}`}`;
  return {
    disposition: failure.retryable ? 'retry' : 'permanent',
    kind: failure.kind,
    message: failure.message,
    ...(failure.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: failure.retryAfterSeconds }),
    ...(code === undefined ? {} : { code }),
    fields: { code: failure.code, subcode: failure.subcode, httpStatus: failure.httpStatus, fbtraceId: failure.fbtraceId },
  };
}

function graphFix(failure: Failure): string {
  if (failure.kind === 'invalid_token') return 'replace FACEBOOK_ACCESS_TOKEN (a long-lived Page or system-user token), then redrive the DLQ';
  if (failure.kind === 'not_found') return 'the lead does not exist or the token cannot read it (Page role, leads_retrieval); fix access, then redrive the DLQ';
  return 'inspect the message in the DLQ, fix the cause, then redrive';
}

/**
 * `GET|POST /webhooks/facebook`: 404 while FACEBOOK_APP_SECRET or FACEBOOK_VERIFY_TOKEN is unset; GET the
 * handshake; POST verified (401), parsed (400), new leadgen ids queued on `facebook-leads`; the fetch step
 * reads each lead from the Graph API with FACEBOOK_ACCESS_TOKEN (FACEBOOK_GRAPH_URL, default Graph v26.0).
 */
export const facebook: WebhookSource<LeadgenNotification> = {
  name: facebookSourceName,
  requiredSecrets: ['FACEBOOK_APP_SECRET', 'FACEBOOK_VERIFY_TOKEN'],
  checkSettings(env: Env) {
    // The fetch step sends FACEBOOK_ACCESS_TOKEN there, in the query.
    if (env.FACEBOOK_GRAPH_URL) outboundUrl('FACEBOOK_GRAPH_URL', env.FACEBOOK_GRAPH_URL, env);
  },
  verify(request: WebhookRequest, secrets: Secrets) {
    verifyFacebookSignature(request, secrets.FACEBOOK_APP_SECRET ?? '');
  },
  handshake(request: WebhookRequest, secrets: Secrets) {
    return facebookHandshake(request, secrets.FACEBOOK_VERIFY_TOKEN ?? '');
  },
  normalize(request: WebhookRequest) {
    const delivery = parseLeadgenDelivery(request);
    return { events: [], ignored: delivery.ignored, pending: delivery.leads, received: delivery.received };
  },
  fetch: {
    queue: 'facebook-leads',
    noun: 'facebook lead',
    idOf: (notification) => notification.leadgenId,
    write: leadgenMessageBody,
    read: readLeadgenMessage,
    unreadable: 'the message is not a leadgen notification',
    async event(notification, { secrets, env }) {
      const { FACEBOOK_ACCESS_TOKEN: accessToken, FACEBOOK_APP_SECRET: appSecret } = secrets;
      // Secrets are read per batch (cached 5 minutes in AWS): a replaced token is used without a redeploy.
      if (!accessToken || !appSecret) throw new GraphError('invalid_token', `${accessToken ? 'FACEBOOK_APP_SECRET' : 'FACEBOOK_ACCESS_TOKEN'} is not set`);
      const lead = await fetchGraphLead(notification.leadgenId, { graphUrl: env.FACEBOOK_GRAPH_URL || defaultFacebookGraphUrl, accessToken, appSecret });
      const event = normalizeGraphLead(lead, notification);
      if (!event) throw new GraphError('permanent', 'the Graph lead and the webhook carry no created_time');
      return event;
    },
    failureOf: graphFailure,
    fix: graphFix,
  },
};
