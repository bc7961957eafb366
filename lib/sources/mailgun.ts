/**
 * Mailgun webhooks (docs/providers/mailgun.md): `POST application/json`, one event per request,
 * `{"signature": {"token", "timestamp", "signature"[, "parent-signature"]}, "event-data": {...}}`,
 * authenticated with MAILGUN_WEBHOOK_SIGNING_KEY.
 *
 * Mailgun signs `timestamp + token`, not the body, so the signature sits inside the body: the body
 * is parsed (and nothing else done with it) to read the signature. What keeps a captured signature
 * from vouching for another event is the replay guard: the first delivery binds its token to the
 * body, and the token with any other content is refused.
 *
 * Answers (Mailgun: 200 is done, 406 stops its retries, anything else is retried for about 8 h):
 * - 400: not a Mailgun JSON delivery at all (content type, JSON syntax, not an object, nesting
 *   deeper than {@link maxJsonDepth}), or an authentic delivery whose event-data lacks what we
 *   need (`event`, `id`, `timestamp`). Deliberately not 406: if Mailgun changed its format, its
 *   retries give an operator hours to deploy a fix instead of losing the event at once. Both are
 *   decided in `verify`, so a refused delivery leaves nothing stored (not even its replay token).
 * - 406: a delivery that can never become acceptable, so Mailgun should stop retrying it: no
 *   signature, a bad signature, a signature older than {@link mailgunTimestampToleranceSeconds}
 *   (a retry would only be older), a token replayed with other content. Mailgun's docs recommend
 *   406 for a bad signature; the issue's 401 for bad credentials is Mailgun's 406 here.
 * - 200 with `ignored`: authentic events that do not concern a lead (unknown event names, no
 *   recipient address, inbound mail, test mode); never a 4xx for the delivery.
 * - 503 (the handler): our own transient failure; Mailgun retries and the redelivery is a no-op.
 *
 * Mapping of `event-data.event` (docs/providers/mailgun.md, "Mapping"):
 * - delivered, opened, clicked (`url`), unsubscribed -> email_delivered, email_opened,
 *   email_clicked, email_unsubscribed; complained -> email_spam_reported.
 * - failed: see {@link failureOf} (hard bounce only when the address itself is known bad).
 * - accepted, rejected -> email_accepted, email_rejected (documented, no model type: score 0).
 * - list_member_uploaded -> profile_updated for the member's address.
 * - stored, routed mail, list_uploaded, list_member_upload_error: ignored (no lead's event).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { NormalizedEvent, PropertyValue } from '../core/events.ts';
import { normalizeEmail } from '../core/events.ts';
import { badRequest, HttpError, notFound } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import { maxJsonDepth, parseJson, requireContentType } from '../http/request.ts';
import { isKeptKey, maxKeyLength, text, toPropertyValue } from './fields.ts';
import type { IgnoredEvent, Normalized, ReplayGuard, WebhookRequest, WebhookSource } from './source.ts';

/**
 * How old a signature may be. Mailgun does not say whether a retry is signed again, so assume it
 * reuses the first attempt's signature: its two documented schedules end about 7.5 h and 8.25 h
 * after the first attempt, which itself may leave late when Mailgun's queue is backed up. A day
 * covers both with room to spare (docs/providers/mailgun.md, "Authenticity"). Nothing
 * is lost by the width: replay protection comes from the token, remembered as long as this window.
 */
export const mailgunTimestampToleranceSeconds = 24 * 60 * 60;

/** How far ahead of our clock a signature may be (clock skew between Mailgun and AWS). */
export const mailgunFutureToleranceSeconds = 15 * 60;

/**
 * A replay token is remembered this long after its signature stops being accepted, so it is never
 * forgotten while a request carrying it could still pass the timestamp check (DynamoDB TTL timing,
 * a request racing the window's edge).
 */
const replayMemoryMarginSeconds = 60 * 60;

/**
 * Mailgun's tokens are 50 hex characters. Printable ASCII up to this length is accepted, which keeps
 * the replay item's key far below DynamoDB's 2048-byte limit (a longer key would fail as a 5xx).
 */
const maxTokenLength = 256;

/** Most user variables kept as `v:<name>` properties (the rest stay in `raw`). */
export const maxUserVariables = 50;

/** Most tags and campaigns kept per event. */
const maxListEntries = 50;

/** Every 406 reads the same way; the detail says which check failed. */
const notAcceptable = (detail: string) => new HttpError(406, 'not_acceptable', detail);

interface MailgunSignature {
  readonly token: string;
  /** Unix seconds as Mailgun wrote them: the exact text that was signed. */
  readonly timestampText: string;
  readonly timestamp: number;
  /** `signature`, then `parent-signature` (subaccounts), whichever are present. */
  readonly candidates: readonly string[];
}

/** Parsed bodies by their bytes: verify, the replay guard and normalize each need the body, parsed once. */
const parsedBodies = new WeakMap<Buffer, JsonObject>();

/** The delivery as a JSON object; 400 when the request cannot be a Mailgun JSON webhook at all. */
function deliveryOf(request: WebhookRequest): JsonObject {
  requireContentType(request.header('content-type'), 'application/json');
  const cached = parsedBodies.get(request.body);
  if (cached) return cached;
  const body = parseJson(request.body);
  if (!isObject(body)) throw badRequest('body must be a JSON object: {"signature": {...}, "event-data": {...}}');
  parsedBodies.set(request.body, body);
  return body;
}

/** The signature block; 406 when it is missing or malformed (nothing Mailgun would retry into shape). */
function signatureOf(delivery: JsonObject): MailgunSignature {
  const block = own(delivery, 'signature');
  if (!isObject(block)) throw notAcceptable('missing signature: the body has no "signature" object');
  const token = own(block, 'token');
  if (typeof token !== 'string' || token === '') throw notAcceptable('missing signature.token');
  if (!/^[\x21-\x7e]+$/.test(token) || token.length > maxTokenLength) {
    throw notAcceptable(`signature.token must be at most ${maxTokenLength} printable ASCII characters`);
  }
  const rawTimestamp = own(block, 'timestamp');
  // Mailgun sends a string of digits (its docs' table says int): accept both, nothing looser, since
  // the digits are part of what was signed.
  const timestampText =
    typeof rawTimestamp === 'string' && /^\d{1,12}$/.test(rawTimestamp)
      ? rawTimestamp
      : typeof rawTimestamp === 'number' && Number.isSafeInteger(rawTimestamp) && rawTimestamp >= 0
        ? String(rawTimestamp)
        : undefined;
  if (timestampText === undefined) throw notAcceptable('signature.timestamp must be unix seconds');
  const candidates = [own(block, 'signature'), own(block, 'parent-signature')].filter((value): value is string => typeof value === 'string');
  if (candidates.length === 0) throw notAcceptable('missing signature.signature');
  return { token, timestampText, timestamp: Number(timestampText), candidates };
}

/**
 * Mailgun's signature of one delivery: hex HMAC-SHA256(key, timestamp + token). Exported for tests
 * and tools that send Mailgun-shaped deliveries to a local stack.
 */
export function signMailgun(input: { key: string; timestamp: string | number; token: string }): string {
  return hmacOf(input.key, String(input.timestamp), input.token).toString('hex');
}

function hmacOf(key: string, timestampText: string, token: string): Buffer {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`${timestampText}${token}`, 'utf8').digest();
}

/** Constant-time check of one hex candidate against the expected digest; lengths first (timingSafeEqual throws on a mismatch). */
function matches(candidate: string, expected: Buffer): boolean {
  if (!/^[0-9a-f]{64}$/i.test(candidate)) return false;
  const given = Buffer.from(candidate, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Checks the signature: hex HMAC-SHA256(key, timestamp + token), then the timestamp's age.
 *
 * Subaccounts: Mailgun adds `parent-signature`, the same HMAC under the primary account's key, so
 * one receiver can verify every subaccount with one key. We hold one key: a delivery passes when
 * `signature` OR `parent-signature` matches it. Configure the subaccount's key and `signature`
 * matches; configure the primary account's key and `parent-signature` matches for every subaccount
 * (and `signature` for the primary's own domains). A delivery signed with neither key is refused
 * (406) like any forgery; a primary key we do not hold is simply never matched.
 */
export function verifyMailgunSignature(input: { delivery: JsonObject; key: string; now: Date }): MailgunSignature {
  const signature = signatureOf(input.delivery);
  const expected = hmacOf(input.key, signature.timestampText, signature.token);
  if (!signature.candidates.some((candidate) => matches(candidate, expected))) {
    throw notAcceptable('signature does not match: not signed with MAILGUN_WEBHOOK_SIGNING_KEY (HMAC-SHA256 of timestamp + token)');
  }
  const nowSeconds = Math.floor(input.now.getTime() / 1000);
  const age = nowSeconds - signature.timestamp;
  if (age > mailgunTimestampToleranceSeconds) {
    throw notAcceptable(`signature.timestamp is ${age} s old; the tolerance is ${mailgunTimestampToleranceSeconds} s`);
  }
  if (-age > mailgunFutureToleranceSeconds) {
    throw notAcceptable(`signature.timestamp is ${-age} s in the future; the tolerance is ${mailgunFutureToleranceSeconds} s`);
  }
  return signature;
}

/**
 * JSON with keys sorted at every level: the same content gives the same text however it was
 * serialized. parseJson refuses nesting deeper than {@link maxJsonDepth}, so the recursion is bounded.
 */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What a token vouches for: SHA-256 of the body's canonical JSON. A byte-for-byte retry gives the
 * same fingerprint, and so does a retry that Mailgun re-serialized (key order, whitespace, escapes)
 * while reusing the first attempt's signature; any change of content (another event-data) does not.
 * A plain hash of the raw bytes would refuse that re-serialized retry for good (406) after our own
 * 503, losing the event.
 */
export function mailgunFingerprint(delivery: JsonObject): string {
  return createHash('sha256').update(canonicalJson(delivery), 'utf8').digest('hex');
}

/**
 * The replay guard: the signature's token, bound (by the handler, in the store) to the body's
 * fingerprint until the signature is too old to be accepted anyway.
 */
export function mailgunReplayGuard(request: WebhookRequest): ReplayGuard {
  const delivery = deliveryOf(request);
  const signature = signatureOf(delivery);
  return {
    token: signature.token,
    fingerprint: mailgunFingerprint(delivery),
    expiresAt: new Date((signature.timestamp + mailgunTimestampToleranceSeconds + replayMemoryMarginSeconds) * 1000),
    refusal: () => notAcceptable('signature.token was already used for another delivery (replay)'),
  };
}

/**
 * The event's time as ISO UTC with milliseconds. Mailgun sends float seconds (1715678465.912345);
 * the digits are cut to milliseconds from their decimal text, not by float arithmetic, so every
 * redelivery maps to the same instant (and the same event key).
 */
export function mailgunEventTime(value: unknown): string | undefined {
  // String(number) is plain decimal for the accepted range (1 to 1e10 seconds: 1970 to 2286).
  const decimal = typeof value === 'number' && Number.isFinite(value) ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  const match = decimal === undefined ? null : /^(\d{1,10})(?:\.(\d{1,20}))?$/.exec(decimal);
  if (!match) return undefined;
  const seconds = Number(match[1]);
  if (seconds < 1) return undefined;
  const milliseconds = Number((match[2] ?? '').padEnd(3, '0').slice(0, 3));
  return new Date(seconds * 1000 + milliseconds).toISOString();
}

/** The strings of a JSON array, bounded and trimmed; anything else in it is left to `raw`. */
function strings(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value
    .flatMap((entry) => {
      const kept = text(entry);
      return kept === undefined ? [] : [kept];
    })
    .slice(0, maxListEntries);
}

/** Mailgun campaigns (`[{id, name}]`) as `[{id, name}]` built from their strings only. */
function campaignsOf(value: unknown): { id?: string; name?: string }[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(isObject)
    .map((campaign) => ({ id: text(own(campaign, 'id')), name: text(own(campaign, 'name')) }))
    .filter((campaign) => campaign.id !== undefined || campaign.name !== undefined)
    .slice(0, maxListEntries);
}

/** Properties every Mailgun event keeps: message id, domain, tags, campaigns, user variables as `v:<name>`. */
function commonProperties(eventData: JsonObject): Record<string, PropertyValue> {
  const properties: Record<string, PropertyValue> = {};
  const set = (key: string, value: PropertyValue | undefined) => {
    if (value !== undefined) properties[key] = value;
  };
  set('messageId', text(own(own(own(eventData, 'message'), 'headers'), 'message-id')));
  set('domain', text(own(own(eventData, 'domain'), 'name')));
  const tags = strings(own(eventData, 'tags'));
  // JSON text: unambiguous even for tags holding commas, and a model rule can say contains '"webinar"'.
  if (tags.length > 0) set('tags', toPropertyValue(tags));
  const campaigns = campaignsOf(own(eventData, 'campaigns'));
  if (campaigns.length > 0) set('campaigns', toPropertyValue(campaigns));
  set('mailingList', text(own(own(eventData, 'mailing-list'), 'address')));
  // Prefixed (Mailgun's own `v:` spelling when sending) so a variable named `url` or `bounce`
  // can never pose as the property a scoring or disqualify rule reads.
  const variables = own(eventData, 'user-variables');
  if (isObject(variables)) {
    let count = 0;
    for (const key of Object.keys(variables)) {
      if (count >= maxUserVariables) break;
      if (!isKeptKey(key)) continue;
      const value = toPropertyValue(variables[key]);
      if (value === undefined) continue;
      properties[`v:${key}`] = value;
      count += 1;
    }
  }
  return properties;
}

/** Engagement details of opens, clicks and unsubscribes; `bot` says when Mailgun saw a machine (privacy proxies, scanners). */
function clientProperties(eventData: JsonObject): Record<string, PropertyValue> {
  const client = own(eventData, 'client-info');
  const properties: Record<string, PropertyValue> = {};
  const deviceType = text(own(client, 'device-type'));
  const clientType = text(own(client, 'client-type'));
  const bot = toPropertyValue(own(client, 'bot'));
  if (deviceType !== undefined) properties.deviceType = deviceType;
  if (clientType !== undefined) properties.clientType = clientType;
  if (bot !== undefined && bot !== null && bot !== false && bot !== '') properties.bot = bot;
  return properties;
}

/** Reasons of a permanent failure that mean the address itself cannot receive mail. */
const undeliverableReasons = new Set(['bounce', 'suppress-bounce']);
/** Reasons of a failure that is a suppression of a person's own choice, whose event came on its own. */
const suppressedByChoice = new Set(['suppress-unsubscribe', 'suppress-complaint']);

/**
 * A `failed` event's type and details.
 * - severity temporary: `email_bounced`, bounce `soft` (Mailgun retries delivery).
 * - severity permanent, and the address is known bad: `email_bounced`, bounce `hard` (disqualifies
 *   with the default model). Known bad: reason `bounce` (Mailgun puts only permanent mailbox
 *   errors on its bounce list), `suppress-bounce` (not attempted: the address bounced before),
 *   `delivery-status.bounce-type` `hard`, or an RFC 3463 addressing status (`5.1.x`, e.g. 5.1.1
 *   "no such user").
 * - severity permanent for any other reason (`old`: retries exhausted, `espblock`, `generic`, ...):
 *   `email_bounced`, bounce `soft`. The message was dropped, but nothing says the person's address
 *   is wrong, and a blocked IP of ours must not disqualify a lead.
 * - reason `suppress-unsubscribe` / `suppress-complaint`: `email_failed` (no bounce). Mailgun did
 *   not send because the person unsubscribed or complained earlier; that came as its own event.
 * - no usable severity (none, `internal`, unknown): `email_failed`, details kept.
 */
function failureOf(eventData: JsonObject): { type: string; properties: Record<string, PropertyValue> } {
  const severity = text(own(eventData, 'severity'))?.toLowerCase();
  const reason = text(own(eventData, 'reason'))?.toLowerCase();
  const status = own(eventData, 'delivery-status');
  const code = own(status, 'code');
  const enhancedCode = text(own(status, 'enhanced-code'));
  const bounceType = text(own(status, 'bounce-type'))?.toLowerCase();
  const properties: Record<string, PropertyValue> = {};
  const set = (key: string, value: PropertyValue | undefined) => {
    if (value !== undefined) properties[key] = value;
  };
  set('severity', severity);
  set('reason', reason);
  set('smtpCode', typeof code === 'number' && Number.isFinite(code) ? code : text(code));
  set('enhancedCode', enhancedCode);
  set('bounceType', bounceType);
  set('bounceReason', text(own(status, 'message'), own(status, 'description')));

  if (reason !== undefined && suppressedByChoice.has(reason)) return { type: 'email_failed', properties };
  if (severity === 'temporary') return { type: 'email_bounced', properties: { ...properties, bounce: 'soft' } };
  if (severity === 'permanent') {
    const addressIsBad =
      (reason !== undefined && undeliverableReasons.has(reason)) ||
      bounceType === 'hard' ||
      (enhancedCode !== undefined && /^5\.1\.\d{1,3}$/.test(enhancedCode));
    return { type: 'email_bounced', properties: { ...properties, bounce: addressIsBad ? 'hard' : 'soft' } };
  }
  return { type: 'email_failed', properties };
}

/** Event names with a fixed type (failed and the list events are decided by their content). */
const fixedTypes: Readonly<Record<string, string>> = {
  accepted: 'email_accepted',
  rejected: 'email_rejected',
  delivered: 'email_delivered',
  opened: 'email_opened',
  clicked: 'email_clicked',
  unsubscribed: 'email_unsubscribed',
  complained: 'email_spam_reported',
};

/** Documented events that never concern one lead: acknowledged, counted, not stored. */
const notAboutALead: Readonly<Record<string, string>> = {
  // An inbound message stored by a route: its recipient is the operator's own address.
  stored: 'inbound_message',
  list_uploaded: 'list_event',
  list_member_upload_error: 'list_event',
};

/** An event name fit to appear in an ignored reason (it becomes a key of the answer's ignoredReasons). */
function reasonName(name: string): string {
  return /^[a-z][a-z0-9_.-]{0,39}$/i.test(name) ? `unknown_event:${name}` : 'unknown_event';
}

function flag(eventData: JsonObject, name: string): unknown {
  return own(own(eventData, 'flags'), name);
}

/**
 * One `event-data` object to a normalized event, or the reason it concerns no lead.
 * Only `event`, `id` and `timestamp` are required (400 without them); every other field is read
 * when present and left in `raw` otherwise, so fields Mailgun adds never fail a delivery.
 */
export function normalizeMailgunEvent(eventData: JsonObject): NormalizedEvent | IgnoredEvent {
  const name = own(eventData, 'event');
  if (typeof name !== 'string' || name.trim() === '') throw badRequest('event-data.event: must be the event name (delivered, opened, ...)');
  const id = own(eventData, 'id');
  if (typeof id !== 'string' || id === '') throw badRequest('event-data.id: must be the event id (a string)');
  if (id.length > maxKeyLength) throw badRequest(`event-data.id: must be at most ${maxKeyLength} characters`);
  const occurredAt = mailgunEventTime(own(eventData, 'timestamp'));
  if (occurredAt === undefined) throw badRequest('event-data.timestamp: must be unix seconds, as Mailgun sends them (e.g. 1715678465.912345)');

  const event = name.trim().toLowerCase();
  const ignored = (reason: string): IgnoredEvent => ({ sourceEventId: id, reason });
  // Own keys only: an event named `__proto__` or `constructor` must not find Object's members.
  if (Object.hasOwn(notAboutALead, event)) return ignored(notAboutALead[event]!);
  // Mail that arrived through a route and was forwarded: about the operator's own mailboxes.
  // (Inbound mail is also `accepted`, unauthenticated: outgoing mail is always authenticated.)
  if (flag(eventData, 'is-routed') === true || (event === 'accepted' && flag(eventData, 'is-authenticated') === false)) return ignored('inbound_message');
  // Test mode: Mailgun accepts and reports the message but never delivers it.
  if (flag(eventData, 'is-test-mode') === true) return ignored('test_mode');

  let type: string;
  let properties: Record<string, PropertyValue> = commonProperties(eventData);
  let leadKey = normalizeEmail(own(eventData, 'recipient'));
  let profile: NormalizedEvent['profile'];
  if (event === 'failed') {
    const failure = failureOf(eventData);
    type = failure.type;
    properties = { ...properties, ...failure.properties };
  } else if (event === 'list_member_uploaded') {
    // A contact added to a mailing list: the member, not a recipient, is the person.
    const member = own(eventData, 'member');
    leadKey = normalizeEmail(own(member, 'address'));
    type = 'profile_updated';
    const memberName = text(own(member, 'name'));
    const subscribed = own(member, 'subscribed');
    if (memberName !== undefined) properties.memberName = memberName;
    if (typeof subscribed === 'boolean') properties.subscribed = subscribed;
    if (leadKey) profile = { email: leadKey };
  } else if (Object.hasOwn(fixedTypes, event)) {
    type = fixedTypes[event]!;
    if (event === 'clicked') {
      const url = text(own(eventData, 'url'));
      if (url !== undefined) properties.url = url;
    }
    if (event === 'opened' || event === 'clicked' || event === 'unsubscribed') Object.assign(properties, clientProperties(eventData));
    if (event === 'rejected') {
      const reject = own(eventData, 'reject');
      const rejectReason = text(own(reject, 'reason'));
      const rejectDescription = text(own(reject, 'description'));
      if (rejectReason !== undefined) properties.rejectReason = rejectReason;
      if (rejectDescription !== undefined) properties.rejectDescription = rejectDescription;
    }
  } else {
    return ignored(reasonName(event));
  }
  if (!leadKey) return ignored('no_email');
  return {
    leadKey,
    type,
    occurredAt,
    source: 'mailgun',
    sourceEventId: id,
    properties,
    ...(profile ? { profile } : {}),
    raw: eventData,
  };
}

/**
 * Turns a verified delivery into its one event. A delivery without an `event-data` object, or
 * whose event lacks an id, name or time, is refused whole (400).
 */
export function normalizeMailgun(request: WebhookRequest): Normalized {
  const eventData = own(deliveryOf(request), 'event-data');
  if (!isObject(eventData)) throw badRequest('body must hold an "event-data" object (Mailgun webhooks send one event per request)');
  const result = normalizeMailgunEvent(eventData);
  return 'leadKey' in result ? { events: [result], ignored: [] } : { events: [], ignored: [result] };
}

/** `POST /webhooks/mailgun`: Mailgun's JSON webhooks, HMAC of timestamp + token, token replay guard. */
export const mailgun: WebhookSource = {
  name: 'mailgun',
  requiredSecrets: ['MAILGUN_WEBHOOK_SIGNING_KEY'],
  verify(request, secrets, now) {
    const key = secrets.MAILGUN_WEBHOOK_SIGNING_KEY;
    // The route should not have been served at all; refuse the same way it would have.
    if (!key) throw notFound('the mailgun webhook is not configured (MAILGUN_WEBHOOK_SIGNING_KEY)');
    verifyMailgunSignature({ delivery: deliveryOf(request), key, now });
    // The shape check (400) runs here too, before the handler claims the replay token: a refused
    // delivery must leave nothing behind, not even its token. Normalizing one event is pure and cheap.
    normalizeMailgun(request);
  },
  replayGuard: (request) => mailgunReplayGuard(request),
  normalize: normalizeMailgun,
};
