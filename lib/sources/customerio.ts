/**
 * Customer.io reporting webhooks (docs/providers/customerio.md): one JSON event per POST,
 * `{event_id, object_type, metric, timestamp, data}`, signed with
 * `X-CIO-Signature = hex(HMAC-SHA256(signing key, "v0:" + X-CIO-Timestamp + ":" + raw body))`.
 *
 * Customer.io's delivery rules shape everything here. It waits 4 s for an answer, retries for
 * 7 days, and holds every later event back behind a failing one; a 4xx (any of 400, 401, 402, 403,
 * 404, 405, 410, 429) costs an hour's wait on top. So a refusal is for what is truly not
 * authentic (401) or not Customer.io's envelope at all (400); anything inside a well-formed,
 * authentic event that we cannot score (another channel, an unknown metric, no e-mail) is
 * acknowledged and counted in `ignored`, never refused.
 *
 * The 4 s budget: one event per request is one lead, so the handler does one conditional
 * DynamoDB transaction (plus the lead read it is conditioned on) and, only when the lead crosses a
 * threshold, one SQS send; the CRM is called by the handoff consumer, never inline. Nothing waits
 * on a third party. Should a write still be slow, Customer.io's retry is harmless: the event's key
 * comes from its `event_id` and its own `timestamp`, so the redelivery is a no-op.
 *
 * Mapping (`object_type` + `metric`; docs/providers/customerio.md, "Mapping"):
 * - email: delivered, opened, clicked (`url` from `href`, else `link`), unsubscribed -> the
 *   `email_*` types; spammed -> `email_spam_reported`; bounced -> `email_bounced` (see
 *   {@link bounceOf}); the other documented metrics (sent, converted, dropped, failed,
 *   undeliverable, attempted, drafted) -> `email_<metric>`, stored so a model may score them.
 *   `failed` (a send error on Customer.io's side, e.g. a template error), `undeliverable` (nothing to
 *   send to) and `dropped` (suppressed before sending, because of an earlier bounce or complaint) are
 *   not the receiving server's verdict on this address, so none of them is a bounce.
 * - customer: subscribed -> `profile_updated` (`subscribed: true`); unsubscribed ->
 *   `email_unsubscribed` (`subscribed: false`): the person's `unsubscribed` attribute was set.
 *   Should one unsubscribe arrive both as an email-level and a customer-level event, the default
 *   model's unsubscribe rule is capped at one occurrence's points, so the pair does not count twice.
 * - push, sms, in_app, slack, webhook: other channels, ignored (`unsupported_object_type:<type>`).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod/mini';
import '../core/zod.ts';
import type { NormalizedEvent, PropertyValue } from '../core/events.ts';
import { normalizeEmail } from '../core/events.ts';
import { badRequest, notFound, unauthorized } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import { flattenProperties, maxKeyLength, text, unsafeKeys } from './fields.ts';
import type { Normalized, WebhookRequest, WebhookSource } from './source.ts';

/**
 * How old an `X-CIO-Timestamp` may be. Customer.io documents no tolerance and does not say whether
 * a retry is signed again (docs/providers/customerio.md). The window is sized for the worst reading: an event held
 * in the backlog for up to 7 days behind a failing one, then retried for its own 7 days with the
 * signature of its first attempt, plus a day's margin. A shorter window would turn Customer.io's own
 * late retries into 401s, and a 401 blocks every later event behind it.
 *
 * A replay inside the window gains nothing: the event is keyed by its `event_id` and its own time,
 * so it is a duplicate. What the window still bounds is how long a captured request could bring
 * back a lead that was erased since.
 */
export const customerioSignatureMaxAgeSeconds = 15 * 24 * 3600;

/**
 * How far in the future an `X-CIO-Timestamp` may be: clock skew only. Only the key holder can sign,
 * so this refuses nonsense rather than an attack, and it is generous because a refusal blocks the queue.
 */
export const customerioSignatureMaxFutureSeconds = 3600;

/** Latest `timestamp` accepted (9999-12-31T23:59:59Z): beyond it an ISO time has no four-digit year. */
const maxUnixSeconds = 253_402_300_799;

/** Longest `object_type` / `metric` echoed in an ignored reason (they come back in the answer body). */
const maxReasonPartLength = 64;

/**
 * Signs a delivery as Customer.io does (tests and local tooling).
 *
 * @param timestamp - the `X-CIO-Timestamp` header's text, exactly as sent.
 * @returns the `X-CIO-Signature` header value, lower-case hex.
 */
export function signCustomerio(input: { key: string; timestamp: string | number; body: string | Buffer }): string {
  return hmac(input.key, String(input.timestamp), typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body).toString('hex');
}

function hmac(key: string, timestamp: string, body: Buffer): Buffer {
  // The key is used as the text shown on Customer.io's integration page (UTF-8), not hex-decoded:
  // that is what the signed examples of test/fixtures/customerio/ verify against. The body goes in as the received bytes.
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`v0:${timestamp}:`, 'utf8').update(body).digest();
}

/**
 * Checks `X-CIO-Timestamp` and `X-CIO-Signature` over the raw body, before anything parses it.
 *
 * @throws HttpError 401 when a header is missing or malformed, the signature does not match, or the
 *   timestamp is outside {@link customerioSignatureMaxAgeSeconds} / {@link customerioSignatureMaxFutureSeconds}.
 */
export function verifyCustomerioSignature(input: { key: string; timestamp: string | undefined; signature: string | undefined; body: Buffer; now: Date }): void {
  const timestampHeader = input.timestamp?.trim();
  const signatureHeader = input.signature?.trim();
  if (!timestampHeader) throw unauthorized('missing X-CIO-Timestamp header');
  if (!signatureHeader) throw unauthorized('missing X-CIO-Signature header');
  // Digits only: Number() would accept "1e9", " 0x10" or "-5".
  if (!/^\d{1,15}$/.test(timestampHeader)) throw unauthorized('X-CIO-Timestamp must be an integer number of unix seconds');
  // Exactly 32 bytes of hex: Buffer.from(..., 'hex') silently stops at the first non-hex character.
  if (!/^[0-9a-f]{64}$/i.test(signatureHeader)) throw unauthorized('X-CIO-Signature must be 64 hex characters (HMAC-SHA256)');

  // The header's own text is what was signed (a leading zero would change the bytes).
  const expected = hmac(input.key, timestampHeader, input.body);
  const given = Buffer.from(signatureHeader, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw unauthorized('X-CIO-Signature does not match the body (check CUSTOMERIO_WEBHOOK_SIGNING_KEY)');
  }

  const age = Math.floor(input.now.getTime() / 1000) - Number(timestampHeader);
  if (age > customerioSignatureMaxAgeSeconds) {
    throw unauthorized(`X-CIO-Timestamp is ${age} s old; the tolerance is ${customerioSignatureMaxAgeSeconds} s`);
  }
  if (-age > customerioSignatureMaxFutureSeconds) {
    throw unauthorized(`X-CIO-Timestamp is ${-age} s in the future; the tolerance is ${customerioSignatureMaxFutureSeconds} s`);
  }
}

// z.custom keeps the parsed object itself (no copy through zod), so the mapping reads the sender's own keys.
const jsonObject = z.custom<JsonObject>(isObject, { error: 'must be a JSON object' });
const requiredString = (what: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `is required (${what})` : 'must be a string') })
    .check(z.minLength(1, { error: 'must not be empty' }));

/** Customer.io's envelope: what every reporting event has, whatever its channel or metric. */
const envelopeSchema = z.object({
  // The deduplication key (part of the DynamoDB sort key), hence the length bound; a ULID is 26.
  event_id: requiredString('the event ULID').check(z.maxLength(maxKeyLength, { error: `must be at most ${maxKeyLength} characters` })),
  object_type: requiredString('email, push, sms, in_app, slack, webhook, customer, ...'),
  metric: requiredString('sent, delivered, opened, clicked, ...'),
  timestamp: z.union([z.number(), z.string()], { error: (issue) => (issue.input === undefined ? 'is required (unix seconds)' : 'must be unix seconds') }),
  data: z.nullish(jsonObject),
});
type Envelope = z.infer<typeof envelopeSchema>;

/** Email metrics Customer.io documents, and the type each is stored as. */
const emailTypes = new Map<string, string>([
  ['sent', 'email_sent'],
  ['delivered', 'email_delivered'],
  ['opened', 'email_opened'],
  ['clicked', 'email_clicked'],
  ['converted', 'email_converted'],
  ['bounced', 'email_bounced'],
  ['spammed', 'email_spam_reported'],
  ['unsubscribed', 'email_unsubscribed'],
  ['dropped', 'email_dropped'],
  ['failed', 'email_failed'],
  ['undeliverable', 'email_undeliverable'],
  // Older Customer.io documentation: "attempted" is a temporary failure it is still retrying,
  // "drafted" a message waiting for approval.
  ['attempted', 'email_attempted'],
  ['drafted', 'email_drafted'],
]);

/** Person-level subscription changes (the `unsubscribed` attribute set to false / true). */
const customerTypes = new Map<string, string>([
  ['subscribed', 'profile_updated'],
  ['unsubscribed', 'email_unsubscribed'],
]);

/** Channels Customer.io reports on that carry no e-mail engagement. */
const otherChannels = new Set(['push', 'sms', 'in_app', 'slack', 'webhook']);

/** Keys of `data` not copied into properties: nested or bulky (message body content), kept in `raw`. */
const omittedDataKeys = new Set(['identifiers', 'content', 'headers']);

/**
 * Hard or soft, for a `bounced` email. Customer.io reports temporary failures as `attempted` while it
 * retries and `bounced` when the receiving server refused the message, so `bounced` is hard. The one
 * exception is a `failure_message` whose SMTP reply is itself transient (4xx, or enhanced status
 * 4.x.x): a server that was down or greylisting says nothing permanent about the address, and a hard
 * bounce disqualifies the lead for good.
 */
export function bounceOf(failureMessage: string | undefined): { bounce: 'hard' | 'soft'; smtpCode?: number; smtpStatus?: string } {
  const reply = failureMessage === undefined ? null : /^\s*([245]\d\d)(?![\d.])/.exec(failureMessage);
  const status = failureMessage === undefined ? null : /(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])/.exec(failureMessage);
  const smtpCode = reply ? Number(reply[1]) : undefined;
  const smtpStatus = status ? status[1] : undefined;
  const transient = smtpCode !== undefined ? smtpCode < 500 : smtpStatus?.startsWith('4.') === true;
  return {
    bounce: transient ? 'soft' : 'hard',
    ...(smtpCode !== undefined ? { smtpCode } : {}),
    ...(smtpStatus !== undefined ? { smtpStatus } : {}),
  };
}

/** The event's own time as ISO UTC: unix seconds, as a number or a string of digits. */
function occurredAt(timestamp: number | string): string {
  const seconds = typeof timestamp === 'string' ? (/^\d{1,15}(?:\.\d{1,9})?$/.test(timestamp.trim()) ? Number(timestamp) : Number.NaN) : timestamp;
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > maxUnixSeconds) {
    throw badRequest(`timestamp: ${JSON.stringify(timestamp)} is not unix seconds between 0 and ${maxUnixSeconds}`);
  }
  return new Date(Math.round(seconds * 1000)).toISOString();
}

/** An address as a display form may carry it: `Dana Whitfield <dana@example.com>` -> the address. */
function addressIn(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const bracketed = /<([^<>\s]+)>\s*$/.exec(value);
  return normalizeEmail(bracketed ? bracketed[1] : value);
}

/**
 * The lead's e-mail. `recipient` first: for a message event it is the address the message went to,
 * the one that opened, bounced or complained, while `identifiers.email` is the person's current
 * attribute, which may have changed since. `email_address` (customer events, some message events)
 * next, then `identifiers.email`.
 */
function leadEmail(data: JsonObject | null | undefined): string | undefined {
  return addressIn(own(data, 'recipient')) ?? addressIn(own(data, 'email_address')) ?? addressIn(own(own(data, 'identifiers'), 'email'));
}

/** The type for the pair, or the reason it is not scored. */
function typeOf(envelope: Envelope): { type: string } | { reason: string } {
  const objectType = envelope.object_type.slice(0, maxReasonPartLength);
  const metric = envelope.metric.slice(0, maxReasonPartLength);
  const types = envelope.object_type === 'email' ? emailTypes : envelope.object_type === 'customer' ? customerTypes : undefined;
  if (!types) return { reason: `${otherChannels.has(envelope.object_type) ? 'unsupported' : 'unknown'}_object_type:${objectType}` };
  const type = types.get(envelope.metric);
  return type ? { type } : { reason: `unknown_metric:${objectType}:${metric}` };
}

function propertiesOf(envelope: Envelope, type: string): Record<string, PropertyValue> {
  const data = envelope.data ?? {};
  const kept: JsonObject = {};
  // Assigning a `__proto__` key would set the prototype, not copy a field: unsafe keys are skipped here.
  for (const key of Object.keys(data)) if (!omittedDataKeys.has(key) && !unsafeKeys.has(key)) kept[key] = data[key];
  const properties = flattenProperties(kept);

  const identifiers = own(data, 'identifiers');
  const cioId = text(own(identifiers, 'cio_id'));
  const customerId = text(own(data, 'customer_id'), own(identifiers, 'id'));
  if (cioId !== undefined) properties.cio_id = cioId;
  if (customerId !== undefined) properties.customer_id = customerId;
  properties.objectType = envelope.object_type;
  properties.metric = envelope.metric;

  const url = text(own(data, 'href'), own(data, 'link'));
  if (url !== undefined) properties.url = url;
  if (type === 'email_bounced') {
    const reason = text(own(data, 'failure_message'));
    Object.assign(properties, bounceOf(reason));
    if (reason !== undefined) properties.bounceReason = reason;
  }
  if (envelope.object_type === 'customer') properties.subscribed = envelope.metric === 'subscribed';
  return properties;
}

/**
 * Turns a verified delivery into its one normalized event (or one ignored event).
 * Refuses (400) only a body that is not Customer.io's envelope: not JSON, not an object, or
 * without a usable `event_id`, `object_type`, `metric` or `timestamp`.
 */
export function normalizeCustomerio(request: WebhookRequest): Normalized {
  requireContentType(request.header('content-type'), 'application/json');
  const body = parseJson(request.body);
  if (!isObject(body)) throw badRequest('body must be a JSON object: one Customer.io reporting event');
  const parsed = envelopeSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.length ? issue.path.join('.') : 'event';
    throw badRequest(`${path}: ${issue?.message ?? 'is not a Customer.io reporting event'}`);
  }
  const envelope = parsed.data;
  const time = occurredAt(envelope.timestamp);
  const sourceEventId = envelope.event_id;

  const mapped = typeOf(envelope);
  if ('reason' in mapped) return { events: [], ignored: [{ sourceEventId, reason: mapped.reason }] };
  const leadKey = leadEmail(envelope.data);
  if (!leadKey) return { events: [], ignored: [{ sourceEventId, reason: 'no_email' }] };

  const event: NormalizedEvent = {
    leadKey,
    type: mapped.type,
    occurredAt: time,
    source: 'customerio',
    sourceEventId,
    properties: propertiesOf(envelope, mapped.type),
    raw: body,
  };
  // A subscription change is about the person: it names them, so a first event creates the profile.
  if (envelope.object_type === 'customer') event.profile = { email: leadKey };
  return { events: [event], ignored: [] };
}

/** `POST /webhooks/customerio`: Customer.io reporting webhooks. */
export const customerio: WebhookSource = {
  name: 'customerio',
  requiredSecrets: ['CUSTOMERIO_WEBHOOK_SIGNING_KEY'],
  verify(request, secrets, now) {
    const key = secrets.CUSTOMERIO_WEBHOOK_SIGNING_KEY;
    // The route should not have been served at all; refuse the same way it would have.
    if (!key) throw notFound('the Customer.io webhook is not configured (CUSTOMERIO_WEBHOOK_SIGNING_KEY)');
    verifyCustomerioSignature({ key, timestamp: request.header('x-cio-timestamp'), signature: request.header('x-cio-signature'), body: request.body, now });
  },
  normalize: normalizeCustomerio,
};
