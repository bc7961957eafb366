/**
 * Mailchimp Marketing (audience) webhooks: `GET|POST /webhooks/mailchimp/{secret}`.
 *
 * Quirks this module owns (docs/providers/mailchimp.md):
 * - No signature and no timestamp: the only credential is the secret in the URL path, compared
 *   in constant time with MAILCHIMP_WEBHOOK_SECRET. A wrong secret is 401, like every other bad
 *   credential of the operator contract; the route answers 404 only while the secret is unset.
 * - Mailchimp validates the URL with a bodiless GET when the webhook is saved: 200 text/plain
 *   when the secret matches.
 * - Bodies are `application/x-www-form-urlencoded` with PHP bracket keys (`data[merges][FNAME]`),
 *   percent-encoded (`data%5Bemail%5D`) or raw; URLSearchParams decodes both spellings. Keys are
 *   read the way PHP's `$_POST` (Mailchimp's reference consumer) reads them: the last of a
 *   repeated key wins, `[]` appends, an unbalanced key stays a literal name; containers are
 *   null-prototype objects and `__proto__` / `constructor` / `prototype` segments are dropped.
 * - `fired_at` is `YYYY-MM-DD HH:MM:SS` without a zone; it is read as UTC (Mailchimp documents no
 *   zone; its API reports times in UTC). A delivery without `type` or a readable `fired_at` is not
 *   Mailchimp's shape: 400.
 * - No event id: the dedup key is `<type>:<sha256 of the sorted decoded pairs>` (first 32 hex).
 *   The event's sort key adds `fired_at` and its partition key the e-mail, so an event is keyed on
 *   type + fired_at + e-mail + the whole payload: a retry (same pairs, in any order or spelling)
 *   maps to the same key, two events that differ in any field do not.
 *
 * Mapping:
 * - `subscribe` -> `profile_updated` (`subscribed: true`), `profile` -> `profile_updated`; merge
 *   fields become profile fields (FNAME, LNAME, PHONE, COMPANY, TITLE, ADDRESS[country], ...), the
 *   other scalar merges `custom`.
 * - `unsubscribe` -> `email_unsubscribed` (`action` unsub | delete, `reason`); reason `abuse` (a
 *   spam complaint) also yields `email_spam_reported`.
 * - `upemail` -> `profile_updated` on the new address with `oldEmail`; joining the old lead to the
 *   new one is identity work (issue 4), not this module's.
 * - `cleaned` reason `hard` -> `email_bounced` (`bounce: hard`); `abuse` -> `email_spam_reported`;
 *   another reason -> `email_cleaned` (stored, scored 0 by default).
 * - `campaign` names no person: ignored. Unknown types and events without an e-mail: ignored.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NormalizedEvent, Profile, PropertyValue } from '../core/events.ts';
import { normalizeEmail, toSnakeCase } from '../core/events.ts';
import { badRequest, notFound, unauthorized } from '../http/errors.ts';
import { isObject, own } from '../http/json.ts';
import { requireContentType } from '../http/request.ts';
import type { Secrets } from '../runtime/config.ts';
import { amount, definedOnly, isKeptKey, maxFieldsPerEvent, parseIsoTime, text, unsafeKeys } from './fields.ts';
import type { HandshakeAnswer, Normalized, WebhookRequest, WebhookSource } from './source.ts';

/** A decoded form: strings and nested null-prototype containers, as PHP's `$_POST` would hold it. */
export interface FormFields {
  [key: string]: string | FormFields;
}

export interface ParsedForm {
  /** The nested fields; every container has a null prototype. */
  readonly fields: FormFields;
  /** Every decoded `[key, value]` pair in wire order, including the ones not kept in `fields`. */
  readonly pairs: readonly (readonly [string, string])[];
}

/** Deepest key kept (`data[merges][GROUPINGS][0][groups]` is 5); deeper pairs are dropped, as PHP drops them. */
const maxKeySegments = 16;

const bracketKey = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;
const bracketSegment = /\[([^[\]]*)\]/g;

/** `data[merges][FNAME]` -> ['data', 'merges', 'FNAME']; a key that is not bracket syntax is one literal name. */
function keySegments(key: string): string[] {
  const match = bracketKey.exec(key);
  if (!match) return [key];
  return [match[1]!, ...Array.from(match[2]!.matchAll(bracketSegment), (segment) => segment[1]!)];
}

/** PHP's `[]`: the next integer index per container, kept as keys are set so appending stays O(1). */
type NextIndex = WeakMap<FormFields, number>;

function setField(node: FormFields, key: string, value: string | FormFields, next: NextIndex): void {
  node[key] = value;
  if (/^\d{1,9}$/.test(key)) next.set(node, Math.max(next.get(node) ?? 0, Number(key) + 1));
}

function segmentKey(node: FormFields, segment: string, next: NextIndex): string {
  return segment === '' ? String(next.get(node) ?? 0) : segment;
}

function container(): FormFields {
  return Object.create(null) as FormFields;
}

/**
 * Decodes a form body into nested fields. Never throws: what PHP would accept is accepted, so a
 * real Mailchimp delivery is never refused for the spelling of its keys. No pair can reach a
 * prototype: containers have none, and unsafe segments are dropped before any assignment.
 */
export function parseForm(body: string): ParsedForm {
  const fields = container();
  const next: NextIndex = new WeakMap();
  const pairs: (readonly [string, string])[] = [];
  for (const [key, value] of new URLSearchParams(body)) {
    pairs.push([key, value]);
    if (key === '') continue;
    const path = keySegments(key);
    if (path.length > maxKeySegments || path.some((segment) => unsafeKeys.has(segment))) continue;
    let node = fields;
    for (let index = 0; index < path.length - 1; index += 1) {
      const segment = segmentKey(node, path[index]!, next);
      const existing = Object.hasOwn(node, segment) ? node[segment] : undefined;
      if (typeof existing === 'object') {
        node = existing;
      } else {
        const child = container();
        setField(node, segment, child, next);
        node = child;
      }
    }
    setField(node, segmentKey(node, path[path.length - 1]!, next), value, next);
  }
  return { fields, pairs };
}

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** The path parameter as received, and percent-decoded when API Gateway left it encoded. */
function spellings(value: string): string[] {
  if (!value.includes('%')) return [value];
  try {
    const decoded = decodeURIComponent(value);
    return decoded === value ? [value] : [value, decoded];
  } catch {
    return [value];
  }
}

/**
 * Constant time over the secret: both sides are hashed to 32 bytes first, so neither the content
 * nor the length of the configured secret shows in the comparison's timing.
 */
function secretMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined || given === '') return false;
  const wanted = sha256(expected);
  let matches = false;
  for (const spelling of spellings(given)) matches = timingSafeEqual(sha256(spelling), wanted) || matches;
  return matches;
}

function authenticate(request: WebhookRequest, secrets: Secrets): void {
  const secret = secrets.MAILCHIMP_WEBHOOK_SECRET;
  // The route should not have been served at all; refuse the same way it would have.
  if (!secret) throw notFound('the mailchimp webhook is not configured (MAILCHIMP_WEBHOOK_SECRET)');
  const given = request.pathParameters.secret;
  if (given === undefined || given === '') throw unauthorized('the webhook URL carries no secret: /webhooks/mailchimp/<MAILCHIMP_WEBHOOK_SECRET>');
  if (!secretMatches(given, secret)) throw unauthorized('the secret in the webhook URL does not match MAILCHIMP_WEBHOOK_SECRET');
}

const firedAtShape = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}/;

/** `fired_at` as ISO UTC: Mailchimp's `YYYY-MM-DD HH:MM:SS` carries no zone and is read as UTC. */
function occurredAt(firedAt: unknown): string {
  if (typeof firedAt !== 'string' || firedAt.trim() === '') throw badRequest('fired_at is required (YYYY-MM-DD HH:MM:SS, the event time)');
  const value = firedAt.trim();
  const ms = firedAtShape.test(value) ? parseIsoTime(value) : undefined;
  if (ms === undefined) throw badRequest(`fired_at: ${JSON.stringify(value.slice(0, 40))} is not a YYYY-MM-DD HH:MM:SS time`);
  return new Date(ms).toISOString();
}

/**
 * The event's own id: the type and a hash of every decoded pair, sorted, so neither the order of
 * the pairs nor the spelling of the brackets changes it (the table's key adds fired_at and e-mail).
 */
function deliveryKey(type: string, pairs: ParsedForm['pairs']): string {
  const sorted = pairs.toSorted(([keyA, valueA], [keyB, valueB]) => (keyA === keyB ? compare(valueA, valueB) : compare(keyA, keyB)));
  return `${type}:${sha256(JSON.stringify(sorted)).toString('hex').slice(0, 32)}`;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Merge tags (upper-cased) that name a {@link Profile} field; the rest of the scalar merges go to `custom`. */
const profileMergeTags: Readonly<Record<string, keyof Omit<Profile, 'email' | 'custom'>>> = {
  FNAME: 'firstName',
  FIRSTNAME: 'firstName',
  FIRST_NAME: 'firstName',
  LNAME: 'lastName',
  LASTNAME: 'lastName',
  LAST_NAME: 'lastName',
  PHONE: 'phone',
  COMPANY: 'company',
  ORG: 'company',
  TITLE: 'jobTitle',
  JOBTITLE: 'jobTitle',
  JOB_TITLE: 'jobTitle',
  INDUSTRY: 'industry',
  EMPLOYEES: 'companySize',
  COMPSIZE: 'companySize',
  COMP_SIZE: 'companySize',
  COMPANYSIZE: 'companySize',
  REVENUE: 'annualRevenue',
  ANNUALREV: 'annualRevenue',
  ANNUAL_REV: 'annualRevenue',
  COUNTRY: 'country',
};

/** Mailchimp's address merge parts, in the order a postal line reads. */
const addressParts = ['addr1', 'addr2', 'city', 'state', 'zip', 'country'];

/** Profile fields from `data[merges]`; the lead's own e-mail always, the EMAIL merge never (it repeats it). */
function profileFromMerges(email: string, merges: unknown): Profile {
  const profile: Profile = { email };
  if (!isObject(merges)) return profile;
  const custom: Record<string, PropertyValue> = {};
  let customCount = 0;
  for (const key of Object.keys(merges)) {
    const value = merges[key];
    const tag = key.toUpperCase();
    const field = Object.hasOwn(profileMergeTags, tag) ? profileMergeTags[tag] : undefined;
    if (field !== undefined) {
      const given = field === 'companySize' || field === 'annualRevenue' ? amount(value) : text(value);
      if (given !== undefined && profile[field] === undefined) (profile as Record<string, unknown>)[field] = given;
      continue;
    }
    if (tag === 'EMAIL' || !isKeptKey(key) || customCount >= maxFieldsPerEvent) continue;
    let stored: PropertyValue | undefined;
    if (tag === 'ADDRESS' && isObject(value)) {
      profile.country ??= text(own(value, 'country'));
      stored = text(
        addressParts
          .map((part) => text(own(value, part)))
          .filter((part) => part !== undefined)
          .join(', '),
      );
    } else if (typeof value === 'string') {
      // Groupings and other nested merges stay whole in `raw`; the profile keeps scalars.
      stored = text(value);
    }
    if (stored === undefined) continue;
    custom[key] = stored;
    customCount += 1;
  }
  if (customCount > 0) profile.custom = custom;
  return definedOnly<Profile>(profile);
}

/** The identifiers every person event may carry, under the names the model's rules would read. */
function commonProperties(type: string, data: unknown): Record<string, PropertyValue> {
  return definedOnly<Record<string, PropertyValue>>({
    mailchimpType: type,
    listId: text(own(data, 'list_id')),
    subscriberId: text(own(data, 'id')),
    webId: text(own(data, 'web_id')),
    emailType: text(own(data, 'email_type')),
    campaignId: text(own(data, 'campaign_id')),
  });
}

/** Person types: who they are about, and what they become. */
const personTypes = new Set(['subscribe', 'unsubscribe', 'profile', 'upemail', 'cleaned']);

/** What an ignored delivery is called in the answer's `ignoredReasons`: bounded, letters and digits only. */
function unknownTypeReason(type: string): string {
  return `unknown_type:${toSnakeCase(type.slice(0, 64)).slice(0, 40) || 'unnamed'}`;
}

function eventsOf(type: string, data: unknown, time: string, key: string, raw: FormFields): Normalized {
  if (type === 'campaign') return { events: [], ignored: [{ sourceEventId: key, reason: 'no_person:campaign' }] };
  if (!personTypes.has(type)) return { events: [], ignored: [{ sourceEventId: key, reason: unknownTypeReason(type) }] };

  const given = own(data, type === 'upemail' ? 'new_email' : 'email');
  const leadKey = normalizeEmail(given);
  if (!leadKey) return { events: [], ignored: [{ sourceEventId: key, reason: text(given) === undefined ? 'no_email' : 'invalid_email' }] };

  const properties = commonProperties(type, data);
  const merges = own(data, 'merges');
  const event = (eventType: string, extra: Record<string, PropertyValue | undefined>, sourceEventId = key): NormalizedEvent => {
    const normalized: NormalizedEvent = {
      leadKey,
      type: eventType,
      occurredAt: time,
      source: 'mailchimp',
      sourceEventId,
      properties: { ...properties, ...definedOnly<Record<string, PropertyValue>>(extra) },
      raw,
    };
    // Merges describe the person; a cleaned or upemail delivery has none and says nothing of them.
    if (isObject(merges) || eventType === 'profile_updated') normalized.profile = profileFromMerges(leadKey, merges);
    return normalized;
  };

  const reason = text(own(data, 'reason'));
  switch (type) {
    case 'subscribe':
      return { events: [event('profile_updated', { subscribed: true })], ignored: [] };
    case 'profile':
      return { events: [event('profile_updated', {})], ignored: [] };
    case 'upemail': {
      const old = own(data, 'old_email');
      return {
        events: [event('profile_updated', { oldEmail: normalizeEmail(old) ?? text(old), newEmail: leadKey, newSubscriberId: text(own(data, 'new_id')) })],
        ignored: [],
      };
    }
    case 'unsubscribe': {
      const unsubscribed = event('email_unsubscribed', { action: text(own(data, 'action')), reason });
      // Mailchimp unsubscribes a member who complains through their mailbox's feedback loop with reason "abuse".
      if (reason?.toLowerCase() !== 'abuse') return { events: [unsubscribed], ignored: [] };
      return { events: [unsubscribed, event('email_spam_reported', { reason }, `${key}:spam`)], ignored: [] };
    }
    case 'cleaned': {
      const why = reason?.toLowerCase();
      if (why === 'hard') return { events: [event('email_bounced', { bounce: 'hard', reason })], ignored: [] };
      if (why === 'abuse') return { events: [event('email_spam_reported', { reason })], ignored: [] };
      return { events: [event('email_cleaned', { reason })], ignored: [] };
    }
  }
  return { events: [], ignored: [{ sourceEventId: key, reason: unknownTypeReason(type) }] };
}

/**
 * Turns an authenticated delivery (one event per POST) into normalized events. 400 when the body
 * is not Mailchimp's shape (another content type, no `type`, no readable `fired_at`); an event
 * that names no person, or an unknown type, is ignored with a reason.
 */
export function normalizeMailchimp(request: WebhookRequest): Normalized {
  requireContentType(request.header('content-type'), 'application/x-www-form-urlencoded');
  const { fields, pairs } = parseForm(request.body.toString('utf8'));
  const given = own(fields, 'type');
  if (typeof given !== 'string' || given.trim() === '') {
    throw badRequest('type is required: a Mailchimp delivery is a form with type, fired_at and data[...] fields');
  }
  const type = given.trim().toLowerCase();
  const time = occurredAt(own(fields, 'fired_at'));
  // Only Mailchimp's own type names reach a stored key; anything else is ignored under a fixed prefix.
  const keyPrefix = personTypes.has(type) || type === 'campaign' ? type : 'unknown';
  return eventsOf(type, own(fields, 'data'), time, deliveryKey(keyPrefix, pairs), fields);
}

/** `GET|POST /webhooks/mailchimp/{secret}`: Mailchimp audience webhooks, authenticated by the URL's secret. */
export const mailchimp: WebhookSource = {
  name: 'mailchimp',
  requiredSecrets: ['MAILCHIMP_WEBHOOK_SECRET'],
  verify(request, secrets) {
    authenticate(request, secrets);
  },
  normalize: normalizeMailchimp,
  handshake(request, secrets): HandshakeAnswer {
    authenticate(request, secrets);
    return { status: 200, contentType: 'text/plain; charset=utf-8', body: 'ok' };
  },
};
