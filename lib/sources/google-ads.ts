/**
 * Google Ads lead forms (`POST /webhooks/google-ads`): one lead per request, as JSON, with the advertiser's key
 * in the body (docs/providers/google-ads.md).
 *
 * Quirks this module owns:
 * - Authentication is `google_key`, a field of the body that must equal GOOGLE_ADS_WEBHOOK_KEY. There is no
 *   signature, so the body has to be parsed before anything is known about the sender. It is parsed as little
 *   as it can be, and before anything is stored: the handler has refused a body over 1 MiB already
 *   (lib/ingest/webhook.ts), `verify` refuses another content type, parses once (a syntax error or nesting
 *   beyond 64 levels is a 400), reads `google_key` alone and compares it in constant time (401 when missing or
 *   different). The parsed body is kept for `normalize` (same bytes, so the same value), never re-read.
 * - Ids: `form_id`, `campaign_id`, `adgroup_id`, `creative_id` and `asset_group_id` are int64 ("clients need
 *   to use 8 bytes integer"), sent as bare JSON numbers: read from the source text of each number, so an id
 *   beyond 2^53 keeps its digits. `0` (what the test data sends for ad group and creative) means none.
 * - Time: `lead_submit_time` (ISO 8601), the same on every retry. A delivery without it (the test data, older
 *   deliveries) is stored at its receipt time; a retry of such a lead after a failure of ours would get another
 *   time, so it could be counted twice (docs/providers/google-ads.md, "What is not verified").
 * - Test data (`is_test: true`, the "Send test data" button): acknowledged, stored and scored as its own
 *   lead `google-ads-test:<e-mail>` (else `<lead_id>`; lib/core/identity.ts `testLeadId`), never the real lead of the sample's
 *   address, and never handed off to the CRM (lib/core/lead.ts).
 *
 * What refuses a delivery (400): not JSON, not an object, no `lead_id` (Google's deduplication id), no
 * `user_column_data` array or an entry of it that is not an object, an id that is not an integer, a
 * `lead_submit_time` that is not a time. Everything else Google may add is ignored, as its documentation asks.
 *
 * Mapping: one `form_submitted` event, its id `lead_id`. Predefined columns (`column_id` FULL_NAME, EMAIL, ...)
 * go onto the profile through the same table as Facebook's questions (lib/sources/fields.ts
 * `profileFromAnswers`); CITY, POSTAL_CODE, REGION and STREET_ADDRESS, which no fit rule reads, under the
 * profile's `custom`; every other answer (the advertiser's own questions) is an event property keyed by its
 * column id in snake case (`what_is_your_budget`), which behavior rules match (docs/scoring-model.md), and is
 * also kept under `custom`. The lead is keyed by its e-mail, else its phone, else `google-ads:<lead_id>`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NormalizedEvent, Profile, PropertyValue } from '../core/events.ts';
import { phoneLeadId, sourceLeadId, testLeadId } from '../core/identity.ts';
import { badRequest, notFound, unauthorized } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import type { Secrets } from '../runtime/config.ts';
import { logger } from '../runtime/logger.ts';
import type { FormAnswer } from './fields.ts';
import { definedOnly, isKeptKey, maxFieldsPerEvent, parseIsoTime, profileFromAnswers, questionKey, text } from './fields.ts';
import type { Normalized, WebhookRequest, WebhookSource } from './source.ts';

export const googleAdsSourceName = 'google-ads';

/** The int64 fields of a lead, kept as the decimal text Google sent. */
const idKeys = new Set(['form_id', 'campaign_id', 'adgroup_id', 'creative_id', 'asset_group_id']);

/** Predefined columns no fit rule reads: kept under the profile's `custom`, by these names. */
const addressColumns: Readonly<Record<string, string>> = {
  city: 'city',
  postal_code: 'postalCode',
  region: 'region',
  street_address: 'streetAddress',
};

/** Google's `lead_id` is a short opaque string (about 100 characters in its samples); an event id is at most 200. */
const maxLeadIdLength = 200;

const parsedBodies = new WeakMap<Buffer, JsonObject>();

/**
 * The delivery as parsed once, ids as their source text. Throws 400 for another content type, a syntax
 * error, nesting beyond 64 levels, or a body that is not a JSON object.
 */
function deliveryOf(request: WebhookRequest): JsonObject {
  const known = parsedBodies.get(request.body);
  if (known) return known;
  requireContentType(request.header('content-type'), 'application/json');
  const body = parseJson(request.body, (key, value, context) =>
    typeof value === 'number' && idKeys.has(key) && context?.source !== undefined ? context.source : value,
  );
  if (!isObject(body)) throw badRequest('body must be one Google Ads lead, a JSON object: {"lead_id", "user_column_data", "google_key", ...}');
  parsedBodies.set(request.body, body);
  return body;
}

/** Compares two secrets in constant time whatever their lengths (digests of equal length are compared). */
function sameKey(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected)) && given.length === expected.length;
}

function verifyGoogleAds(request: WebhookRequest, secrets: Secrets): void {
  const expected = secrets.GOOGLE_ADS_WEBHOOK_KEY;
  // The route should not have been served at all; refuse the same way it would have.
  if (!expected) throw notFound('the google-ads webhook is not configured (GOOGLE_ADS_WEBHOOK_KEY)');
  const given = own(deliveryOf(request), 'google_key');
  if (typeof given !== 'string' || given === '') throw unauthorized("google_key is missing: set the key of the lead form's webhook to GOOGLE_ADS_WEBHOOK_KEY");
  if (!sameKey(given, expected)) throw unauthorized('google_key does not match GOOGLE_ADS_WEBHOOK_KEY');
}

/** An int64 id as decimal text; undefined when absent or `0` (none). Throws 400 on anything else. */
function optionalId(body: JsonObject, key: string): string | undefined {
  const value = own(body, key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^-?\d{1,19}$/.test(value))
    throw badRequest(`${key}: must be an integer id (int64), got ${JSON.stringify(value).slice(0, 40)}`);
  return /^-?0+$/.test(value) ? undefined : value;
}

/** The lead's answers, in order: `column_id` (else `column_name`) and `string_value`. Throws 400 when not Google's shape. */
function answersOf(body: JsonObject): FormAnswer[] {
  const columns = own(body, 'user_column_data');
  if (!Array.isArray(columns)) throw badRequest('user_column_data: must be an array of {column_id, column_name, string_value}');
  const answers: FormAnswer[] = [];
  columns.forEach((column, index) => {
    if (!isObject(column)) throw badRequest(`user_column_data[${index}]: must be an object {column_id, column_name, string_value}`);
    const name = text(own(column, 'column_id'), own(column, 'column_name'));
    // `string_value` is the one kind of value Google documents; a column without one (a later kind) is skipped.
    const answer = text(own(column, 'string_value'));
    if (name !== undefined && answer !== undefined) answers.push({ name, answer });
  });
  return answers;
}

/**
 * The answers no fit rule reads: address columns under `custom`, the advertiser's own questions as event
 * properties (and under `custom`, so sales sees them with the profile), keyed by {@link questionKey}.
 */
function splitUnmatched(unmatched: readonly FormAnswer[]): { custom: Record<string, PropertyValue>; questions: Record<string, PropertyValue> } {
  const custom: Record<string, PropertyValue> = {};
  const questions: Record<string, PropertyValue> = {};
  let count = 0;
  for (const { name, answer } of unmatched) {
    // Room is left for the lead's own properties (formId, campaignId, ...) within the per-event bound.
    if (count >= maxFieldsPerEvent - 10) break;
    const key = questionKey(name);
    if (key === '' || !isKeptKey(key)) continue;
    const address = addressColumns[key];
    if (address !== undefined) {
      if (!Object.hasOwn(custom, address)) custom[address] = answer;
      continue;
    }
    // A second answer to the same question (or a name that folds onto the same key) keeps the first.
    if (Object.hasOwn(questions, key)) continue;
    questions[key] = answer;
    custom[key] = answer;
    count += 1;
  }
  return { custom, questions };
}

/** The lead id: a test lead apart (by its e-mail, else its lead_id); else the e-mail, else the phone (`phone:...`), else `google-ads:<lead_id>`. */
function leadKeyOf(profile: Profile, leadId: string, isTest: boolean): string {
  if (isTest) return testLeadId(googleAdsSourceName, profile.email ?? leadId)!;
  return profile.email ?? phoneLeadId(profile.phone) ?? sourceLeadId(googleAdsSourceName, leadId)!;
}

/**
 * One verified delivery into its `form_submitted` event. `now` (the receipt) is the event's time only when
 * Google gives no `lead_submit_time`.
 */
export function normalizeGoogleAdsLead(body: JsonObject, now: Date): NormalizedEvent {
  const leadIdValue = own(body, 'lead_id');
  const leadId = typeof leadIdValue === 'string' ? leadIdValue.trim() : '';
  if (leadId === '') throw badRequest('lead_id: missing; every Google Ads lead has one (its deduplication id)');
  if (leadId.length > maxLeadIdLength) throw badRequest(`lead_id: longer than ${maxLeadIdLength} characters`);
  const answers = answersOf(body);
  const submitted = own(body, 'lead_submit_time');
  let occurredAt: string;
  if (submitted === undefined || submitted === null || submitted === '') {
    occurredAt = now.toISOString();
  } else {
    const ms = typeof submitted === 'string' ? parseIsoTime(submitted.trim()) : undefined;
    if (ms === undefined) throw badRequest(`lead_submit_time: must be an ISO 8601 time, got ${JSON.stringify(submitted).slice(0, 40)}`);
    occurredAt = new Date(ms).toISOString();
  }
  const isTest = own(body, 'is_test') === true || own(body, 'is_test') === 'true';
  const { profile, unmatched, otherWorkEmail } = profileFromAnswers(answers);
  const { custom, questions } = splitUnmatched(unmatched);
  if (otherWorkEmail !== undefined) custom.workEmail = otherWorkEmail;
  if (Object.keys(custom).length > 0) profile.custom = custom;
  const properties = definedOnly<Record<string, PropertyValue>>({
    ...questions,
    formId: optionalId(body, 'form_id'),
    campaignId: optionalId(body, 'campaign_id'),
    adgroupId: optionalId(body, 'adgroup_id'),
    creativeId: optionalId(body, 'creative_id'),
    assetGroupId: optionalId(body, 'asset_group_id'),
    gclId: text(own(body, 'gcl_id')),
    leadStage: text(own(body, 'lead_stage')),
    // Shown by `mql explain` and GET /leads: the time is ours, not Google's.
    submitTimeFromReceipt: submitted === undefined || submitted === null || submitted === '' ? true : undefined,
    isTest: isTest ? true : undefined,
  });
  // The key is a credential: never kept with the raw payload.
  const { google_key: _key, ...raw } = body;
  return {
    leadKey: leadKeyOf(profile, leadId, isTest),
    type: 'form_submitted',
    occurredAt,
    source: googleAdsSourceName,
    sourceEventId: leadId,
    properties,
    profile,
    raw,
  };
}

function normalizeGoogleAds(request: WebhookRequest, now: Date = new Date()): Normalized {
  const event = normalizeGoogleAdsLead(deliveryOf(request), now);
  // The operator pressed "Send test data" and looks for the lead: Google's id of the sample, never its address
  // (the test lead's key holds the address: GET /leads/<the sample's e-mail> shows it).
  if (event.properties.isTest === true) logger.info('google-ads test data received', { googleLeadId: event.sourceEventId });
  return { events: [event], ignored: [] };
}

/** `POST /webhooks/google-ads`: Google Ads lead form webhooks, `google_key` in the body equal to GOOGLE_ADS_WEBHOOK_KEY. */
export const googleAds: WebhookSource = {
  name: googleAdsSourceName,
  requiredSecrets: ['GOOGLE_ADS_WEBHOOK_KEY'],
  verify: verifyGoogleAds,
  normalize: normalizeGoogleAds,
};
