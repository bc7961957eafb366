/**
 * Facebook / Meta Lead Ads: everything pure about Meta's wire formats (docs/providers/facebook.md).
 *
 * - The webhook (`object: page`, `field: leadgen`) carries ids only: it is verified (`X-Hub-Signature-256`,
 *   HMAC-SHA256 of the raw bytes keyed with the app secret), parsed without losing the digits of ids
 *   beyond 2^53, and turned into {@link LeadgenNotification}s that the ingest Lambda queues.
 * - The subscription handshake (GET `hub.mode=subscribe`) echoes `hub.challenge` when the verify token matches.
 * - The Graph API's lead (`GET /{leadgen-id}`) is mapped onto one `form_submitted` event by
 *   {@link normalizeGraphLead}, once the fetch Lambda has it.
 *
 * Nothing else in the code base knows that Meta ids overflow doubles or that answers come as arrays of strings.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { NormalizedEvent, Profile, PropertyValue } from '../core/events.ts';
import { normalizeEmail } from '../core/events.ts';
import { phoneLeadId } from '../core/identity.ts';
import { badRequest, forbidden, notFound, unauthorized } from '../http/errors.ts';
import { requireContentType } from '../http/request.ts';
import type { Secrets } from '../runtime/config.ts';
import type { JsonObject } from './fields.ts';
import { amount, definedOnly, isKeptKey, isObject, maxFieldsPerEvent, own, parseIsoTime, text, truncate } from './fields.ts';
import type { HandshakeAnswer, IgnoredEvent, WebhookRequest, WebhookSource } from './source.ts';

/** Kept here too: the phone key is named in lib/core/identity.ts, the same for every source. */
export { normalizePhone } from '../core/identity.ts';

export const facebookSourceName = 'facebook';

/** The lead id the App Dashboard's "Test" button sends; fetching it fails (100/33), so it is acknowledged and skipped. */
export const dashboardTestLeadgenId = '444444444444';

/** Graph API base when FACEBOOK_GRAPH_URL is not set (the Lambdas and the CDK stack's default). */
export const defaultFacebookGraphUrl = 'https://graph.facebook.com/v21.0';

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

/**
 * The authentication half of the webhook contract (lib/sources/source.ts). Facebook deliveries carry
 * ids, not events: the ingest Lambda queues them with {@link parseLeadgenDelivery} instead of `normalize`.
 */
export const facebookWebhook: Pick<WebhookSource, 'name' | 'requiredSecrets' | 'verify' | 'handshake'> = {
  name: facebookSourceName,
  requiredSecrets: ['FACEBOOK_APP_SECRET', 'FACEBOOK_VERIFY_TOKEN'],
  verify(request: WebhookRequest, secrets: Secrets) {
    const appSecret = secrets.FACEBOOK_APP_SECRET;
    if (!appSecret) throw notFound('the facebook webhook is not configured (FACEBOOK_APP_SECRET)');
    verifyFacebookSignature(request, appSecret);
  },
  handshake(request: WebhookRequest, secrets: Secrets) {
    const verifyToken = secrets.FACEBOOK_VERIFY_TOKEN;
    if (!verifyToken) throw notFound('the facebook webhook is not configured (FACEBOOK_VERIFY_TOKEN)');
    return facebookHandshake(request, verifyToken);
  },
};

// --- lossless JSON ------------------------------------------------------------------------------

/** Keys whose values are Meta object ids, in the webhook and in Graph answers. */
const idKeys = new Set(['id', 'leadgen_id', 'form_id', 'ad_id', 'adgroup_id', 'page_id', 'adset_id', 'campaign_id']);

/**
 * JSON.parse that keeps every id as its exact decimal text. Meta sends ids as strings or as JSON
 * numbers (docs/providers/facebook.md), and 17-18 digit numbers lose digits as doubles (`120208765432109876` would
 * become `120208765432109870`). Node 24's reviver receives `context.source`, the number's own text.
 * Throws a SyntaxError on malformed JSON.
 */
export function parseMetaJson(text: string): unknown {
  return JSON.parse(text, (key: string, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && idKeys.has(key) && context?.source !== undefined ? context.source : value,
  );
}

const idPattern = /^\d{1,30}$/;

/** An id as a decimal string: undefined when absent, `0` (organic / preview) or empty. Throws 400 on anything else. */
function optionalId(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null || value === '' || value === '0') return undefined;
  if (typeof value !== 'string' || !idPattern.test(value)) throw badRequest(`${where}: must be a numeric id, got ${JSON.stringify(value)}`);
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

// --- the Graph API lead -------------------------------------------------------------------------

/** The fields asked of `GET /{leadgen-id}`: the default answer is a subset, so they are always named (docs/providers/facebook.md). */
export const graphLeadFields = [
  'id',
  'created_time',
  'ad_id',
  'ad_name',
  'adset_id',
  'adset_name',
  'campaign_id',
  'campaign_name',
  'form_id',
  'is_organic',
  'platform',
  'field_data',
  'custom_disclaimer_responses',
] as const;

/** A lead as the Graph API answers it (ids as strings once read with {@link parseMetaJson}). */
export interface GraphLead {
  id: string;
  created_time?: string;
  ad_id?: string;
  ad_name?: string;
  adset_id?: string;
  adset_name?: string;
  campaign_id?: string;
  campaign_name?: string;
  form_id?: string;
  is_organic?: boolean;
  platform?: string;
  field_data: { name: string; values: string[] }[];
  custom_disclaimer_responses?: { checkbox_key: string; is_checked: string }[];
}

/** Whether a Graph answer is a lead we can map: an id and `field_data` as an array of {name, values}. */
export function isGraphLead(value: unknown): value is GraphLead {
  if (!isObject(value)) return false;
  const id = own(value, 'id');
  const fields = own(value, 'field_data');
  return (
    typeof id === 'string' &&
    idPattern.test(id) &&
    Array.isArray(fields) &&
    fields.every((field) => isObject(field) && typeof own(field, 'name') === 'string' && Array.isArray(own(field, 'values')))
  );
}

/** Question keys compared case- and punctuation-insensitively: "Company Size" and "company_size" are one. */
function questionKey(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

type ProfileSlot =
  | 'email'
  | 'work_email'
  | 'full_name'
  | 'first_name'
  | 'last_name'
  | 'phone'
  | 'company'
  | 'job_title'
  | 'country'
  | 'company_size'
  | 'industry';

/** Meta's prefill question names (docs/providers/facebook.md, "Mapping") and the common custom-question spellings of company size and industry. */
const knownQuestions: Readonly<Record<string, ProfileSlot>> = {
  email: 'email',
  email_address: 'email',
  work_email: 'work_email',
  full_name: 'full_name',
  first_name: 'first_name',
  last_name: 'last_name',
  phone_number: 'phone',
  phone: 'phone',
  work_phone_number: 'phone',
  company_name: 'company',
  company: 'company',
  job_title: 'job_title',
  country: 'country',
  company_size: 'company_size',
  number_of_employees: 'company_size',
  employees: 'company_size',
  employee_count: 'company_size',
  industry: 'industry',
  company_industry: 'industry',
};

/** A custom question derived from its text ("How many employees does your company have?") still fills the slot. */
function slotOf(key: string): ProfileSlot | undefined {
  const known = knownQuestions[key];
  if (known) return known;
  if (/(^|_)(company_size|employees|employee_count|headcount)(_|$)/.test(key)) return 'company_size';
  if (/(^|_)industry(_|$)/.test(key)) return 'industry';
  return undefined;
}

/** A question's answer: one value as given, several (multiple choice) joined with ", ". */
function answerOf(values: readonly unknown[]): string | undefined {
  const texts = values.map((value) => text(value)).filter((value): value is string => value !== undefined);
  return texts.length === 0 ? undefined : truncate(texts.join(', '));
}

/**
 * The lead id of a Facebook lead: its e-mail (`email`, else `work_email`) when it has one; otherwise
 * `phone:<number>` (digits, `+` kept), so a phone-only lead is stored, visible and collects every form
 * the same number sends; with neither, `facebook:<leadgen_id>`. Nothing is ever dropped for lack of an e-mail.
 */
export function facebookLeadKey(profile: Pick<Profile, 'email' | 'phone'>, leadgenId: string): string {
  if (profile.email) return profile.email;
  const phone = phoneLeadId(profile.phone);
  if (phone) return phone;
  return `facebook:${leadgenId}`;
}

/** The profile a lead form tells: known questions onto profile fields, every other answer under `custom`. */
export function profileFromFieldData(fields: GraphLead['field_data'], disclaimers: GraphLead['custom_disclaimer_responses'] = []): Profile {
  const slots: Partial<Record<ProfileSlot, string>> = {};
  const custom: Record<string, PropertyValue> = {};
  let customCount = 0;
  for (const field of fields) {
    const name = text(field.name);
    const answer = answerOf(field.values);
    if (name === undefined || answer === undefined) continue;
    const key = questionKey(name);
    const slot = slotOf(key);
    if (slot && slots[slot] === undefined) {
      slots[slot] = answer;
      continue;
    }
    // Unknown questions keep the advertiser's key as given, as custom attributes (docs/providers/facebook.md).
    if (customCount >= maxFieldsPerEvent || !isKeptKey(name) || Object.hasOwn(custom, name)) continue;
    custom[name] = answer;
    customCount += 1;
  }
  for (const response of Array.isArray(disclaimers) ? disclaimers : []) {
    const checkbox = isObject(response) ? text(own(response, 'checkbox_key')) : undefined;
    if (checkbox === undefined || customCount >= maxFieldsPerEvent) continue;
    const key = `disclaimer.${checkbox}`;
    if (!isKeptKey(key)) continue;
    // "1" when ticked, "" when not (Meta's documentation).
    custom[key] = own(response, 'is_checked') === '1';
    customCount += 1;
  }

  const email = normalizeEmail(slots.email) ?? normalizeEmail(slots.work_email);
  if (slots.work_email !== undefined && normalizeEmail(slots.work_email) !== email && customCount < maxFieldsPerEvent) custom.work_email = slots.work_email;
  let firstName = slots.first_name;
  let lastName = slots.last_name;
  if (slots.full_name !== undefined && firstName === undefined && lastName === undefined) {
    // Only a split at the first space: "Dana Whitfield" -> Dana / Whitfield; a single name stays the first name.
    const space = slots.full_name.indexOf(' ');
    firstName = space === -1 ? slots.full_name : slots.full_name.slice(0, space);
    lastName = space === -1 ? undefined : slots.full_name.slice(space + 1).trim() || undefined;
  }
  const profile = definedOnly<Profile>({
    email,
    firstName,
    lastName,
    phone: slots.phone,
    company: slots.company,
    jobTitle: slots.job_title,
    country: slots.country,
    companySize: amount(slots.company_size),
    industry: slots.industry,
  });
  if (Object.keys(custom).length > 0) profile.custom = custom;
  return profile;
}

/** Graph's `created_time` ("2024-05-14T09:21:06+0000") as ISO UTC; undefined when it is not a time. */
function graphTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = parseIsoTime(value.trim());
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

/**
 * One `form_submitted` event for a fetched lead. Its idempotency key is the leadgen id and its time
 * the lead's own `created_time` (the webhook's when Graph gives none), so fetching the same lead twice
 * writes the same event key. Undefined only when neither time is known.
 */
export function normalizeGraphLead(lead: GraphLead, notification: LeadgenNotification): NormalizedEvent | undefined {
  const occurredAt = graphTime(lead.created_time) ?? notification.createdTime;
  if (!occurredAt) return undefined;
  const profile = profileFromFieldData(lead.field_data, lead.custom_disclaimer_responses);
  const leadKey = facebookLeadKey(profile, notification.leadgenId);
  const idOf = (value: unknown) => (typeof value === 'string' && idPattern.test(value) && value !== '0' ? value : undefined);
  const properties = definedOnly<Record<string, PropertyValue>>({
    formId: idOf(lead.form_id) ?? notification.formId,
    adId: idOf(lead.ad_id) ?? notification.adId,
    adName: text(lead.ad_name),
    adsetId: idOf(lead.adset_id),
    adsetName: text(lead.adset_name),
    campaignId: idOf(lead.campaign_id),
    campaignName: text(lead.campaign_name),
    platform: text(lead.platform),
    isOrganic: typeof lead.is_organic === 'boolean' ? lead.is_organic : undefined,
    pageId: notification.pageId,
  });
  return {
    leadKey,
    type: 'form_submitted',
    occurredAt,
    source: facebookSourceName,
    sourceEventId: notification.leadgenId,
    properties,
    profile,
    raw: lead as unknown as JsonObject,
  };
}
