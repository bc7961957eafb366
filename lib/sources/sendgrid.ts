/**
 * SendGrid (Twilio) Event Webhook, `POST /webhooks/sendgrid` (docs/providers/sendgrid.md).
 *
 * Authentication: the Signed Event Webhook. SendGrid signs `timestamp header + raw body` with ECDSA
 * P-256 / SHA-256; the signature (base64 DER) is in `X-Twilio-Email-Event-Webhook-Signature`, the
 * unix-seconds timestamp in `X-Twilio-Email-Event-Webhook-Timestamp`, and the public key the operator
 * copies from SendGrid (SENDGRID_WEBHOOK_PUBLIC_KEY) is a base64 DER SubjectPublicKeyInfo.
 *
 * Body: a JSON array of events, up to hundreds per delivery, each with its own `sg_event_id` (the
 * deduplication key). Mapping (docs/providers/sendgrid.md, "Mapping"):
 * - delivered -> email_delivered, open -> email_opened, click -> email_clicked (`url`),
 *   spamreport -> email_spam_reported, unsubscribe -> email_unsubscribed (`scope: global`),
 *   group_unsubscribe -> email_unsubscribed (`scope: group`, `asmGroupId`).
 * - bounce -> email_bounced: `type: "bounce"` (or no type) is SendGrid's permanent rejection, `bounce: hard`;
 *   `type: "blocked"` is its temporary one, `bounce: soft`. `deferred` is not a bounce (SendGrid keeps trying).
 * - processed, deferred, dropped, group_resubscribe -> email_<event> (a model may score them; default 0).
 * - Every top-level key SendGrid does not define is a custom (unique) arg: kept as a property as given.
 */

import type { KeyLike, KeyObject } from 'node:crypto';
import { createPublicKey, sign as signMessage, verify as verifyMessage } from 'node:crypto';
import type { NormalizedEvent, PropertyValue } from '../core/events.ts';
import { normalizeEmail } from '../core/events.ts';
import { badRequest, notFound, unauthorized } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import { logger } from '../runtime/logger.ts';
import { isKeptKey, maxFieldsPerEvent, maxKeyLength, text, toPropertyValue, truncate } from './fields.ts';
import type { IgnoredEvent, Normalized, WebhookRequest, WebhookSource } from './source.ts';

export const sendgridSignatureHeader = 'X-Twilio-Email-Event-Webhook-Signature';
export const sendgridTimestampHeader = 'X-Twilio-Email-Event-Webhook-Timestamp';

/**
 * How old a signed timestamp may be. SendGrid documents no window and does not say whether a retry is
 * signed again (docs/providers/sendgrid.md), but it retries any non-2xx "for up to 24 hours after the event
 * occurs": a retry that kept its first signature is at most 24 h old, so 25 h (an hour for batching and
 * clock skew) never refuses a genuine retry. A replay inside the window is harmless: the signature
 * covers the body, so it can only repeat the same events, which `sg_event_id` deduplication ignores.
 */
export const sendgridMaxAgeSeconds = 25 * 60 * 60;
/** How far ahead of our clock a timestamp may be (the sender's clock skew). */
export const sendgridMaxFutureSeconds = 5 * 60;

/** An ECDSA P-256 DER signature is at most 72 bytes (96 base64 characters); anything far longer is not one. */
const maxSignatureChars = 200;
/** The last second of 9999: later event times would not fit an ISO 8601 key. */
const maxUnixSeconds = 253_402_300_799;

// --- the public key ------------------------------------------------------------------------------

type ParsedKey = { readonly ok: true; readonly key: KeyObject } | { readonly ok: false; readonly problem: string };

/** Parsed keys by configured string: parsing is done once per key, not per request (a rotation adds one). */
const parsedKeys = new Map<string, ParsedKey>();
const maxCachedKeys = 8;

/**
 * The configured key as SendGrid shows it (base64 DER SPKI). PEM armor and line breaks are tolerated,
 * because that is how a key pasted from a file or a terminal tends to arrive.
 */
function parsePublicKey(configured: string): ParsedKey {
  const encoded = configured.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return { ok: false, problem: 'it is not base64 (expected the base64 DER public key SendGrid shows)' };
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(encoded, 'base64'), format: 'der', type: 'spki' });
  } catch (error) {
    return { ok: false, problem: `it is not a DER SubjectPublicKeyInfo (${(error as Error).message})` };
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    return { ok: false, problem: `it is a ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` ${curve}` : ''} key; SendGrid signs with ECDSA P-256 (prime256v1)` };
  }
  return { ok: true, key };
}

function publicKeyOf(configured: string): ParsedKey {
  let parsed = parsedKeys.get(configured);
  if (!parsed) {
    parsed = parsePublicKey(configured);
    if (parsedKeys.size >= maxCachedKeys) parsedKeys.clear();
    parsedKeys.set(configured, parsed);
    // Once per key and container, not once per delivery: the route refuses everything until it is fixed.
    if (!parsed.ok) logger.error('SENDGRID_WEBHOOK_PUBLIC_KEY is unusable; POST /webhooks/sendgrid answers 404 until it is fixed', { problem: parsed.problem });
  }
  return parsed;
}

// --- verification --------------------------------------------------------------------------------

/**
 * Checks the Signed Event Webhook headers over the raw body.
 *
 * @throws HttpError 401 when a header is missing, the timestamp is not unix seconds or is outside
 *   [now - {@link sendgridMaxAgeSeconds}, now + {@link sendgridMaxFutureSeconds}], or the signature does not verify.
 */
export function verifySendgridSignature(input: {
  key: KeyObject;
  signature: string | undefined;
  timestamp: string | undefined;
  body: Buffer;
  now: Date;
}): void {
  const { signature, timestamp } = input;
  if (!signature) throw unauthorized(`missing ${sendgridSignatureHeader} header (enable the Signed Event Webhook in SendGrid)`);
  if (!timestamp) throw unauthorized(`missing ${sendgridTimestampHeader} header`);
  // Digits only: Number() would accept " 1e9" or "0x5f"; the signed bytes are the header as sent.
  if (!/^\d{1,15}$/.test(timestamp)) throw unauthorized(`${sendgridTimestampHeader} must be unix seconds`);
  const age = Math.floor(input.now.getTime() / 1000) - Number(timestamp);
  if (age > sendgridMaxAgeSeconds) throw unauthorized(`${sendgridTimestampHeader} is ${age} s old; the tolerance is ${sendgridMaxAgeSeconds} s`);
  if (-age > sendgridMaxFutureSeconds)
    throw unauthorized(`${sendgridTimestampHeader} is ${-age} s in the future; the tolerance is ${sendgridMaxFutureSeconds} s`);
  // Strict base64: Buffer.from(…, 'base64') skips characters it does not know instead of failing.
  if (signature.length > maxSignatureChars || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature))
    throw unauthorized(`${sendgridSignatureHeader} is not a base64 signature`);
  let valid = false;
  try {
    valid = verifyMessage('sha256', Buffer.concat([Buffer.from(timestamp, 'utf8'), input.body]), input.key, Buffer.from(signature, 'base64'));
  } catch {
    // A signature that is not DER at all: as invalid as a wrong one.
  }
  if (!valid) throw unauthorized('the signature does not match the body and timestamp for the configured public key');
}

/**
 * Signs a delivery the way SendGrid does, for tests, the benchmark and local demos (we never send
 * SendGrid events in production).
 *
 * @returns the `X-Twilio-Email-Event-Webhook-Signature` value for this timestamp and body.
 */
export function signSendgridDelivery(input: { privateKey: KeyLike; timestamp: number | string; body: string | Buffer }): string {
  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  return signMessage('sha256', Buffer.concat([Buffer.from(String(input.timestamp), 'utf8'), body]), input.privateKey).toString('base64');
}

/** The body SendGrid posts for these events: a JSON array with `\r\n` after each event and at the end. */
export function sendgridBody(events: readonly unknown[]): string {
  return `[${events.map((event) => JSON.stringify(event)).join(',\r\n')}]\r\n`;
}

// --- normalization -------------------------------------------------------------------------------

/** SendGrid's event names and the type each is stored as. */
const eventTypes: ReadonlyMap<string, string> = new Map([
  ['processed', 'email_processed'],
  ['dropped', 'email_dropped'],
  ['deferred', 'email_deferred'],
  ['delivered', 'email_delivered'],
  ['bounce', 'email_bounced'],
  ['open', 'email_opened'],
  ['click', 'email_clicked'],
  ['spamreport', 'email_spam_reported'],
  ['unsubscribe', 'email_unsubscribed'],
  ['group_unsubscribe', 'email_unsubscribed'],
  ['group_resubscribe', 'email_group_resubscribe'],
]);

/**
 * Top-level keys SendGrid itself defines: read into the properties below under their own names, or
 * structural. Everything else at the top level is a custom arg (`custom_args` / `unique_args`).
 */
const sendgridKeys = new Set([
  'email',
  'timestamp',
  'event',
  'sg_event_id',
  'sg_message_id',
  'smtp-id',
  'category',
  'url',
  'url_offset',
  'useragent',
  'ip',
  'tls',
  'sg_machine_open',
  'reason',
  'status',
  'response',
  'attempt',
  'type',
  'bounce_classification',
  'asm_group_id',
  'send_at',
  'marketing_campaign_id',
  'marketing_campaign_name',
]);

/** The names SendGrid's fields are stored under: a custom arg never takes one, even on an event without that field. */
const propertyNames = new Set([
  'messageId',
  'smtpId',
  'category',
  'url',
  'urlIndex',
  'urlType',
  'userAgent',
  'ip',
  'tls',
  'machineOpen',
  'reason',
  'status',
  'response',
  'attempt',
  'smtpCode',
  'asmGroupId',
  'sendAt',
  'campaignId',
  'campaignName',
  'bounce',
  'bounceType',
  'bounceClassification',
  'scope',
]);

/** A count or an id sent as a number or as digits. */
function integer(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/** `category` is a string or an array of strings; stored as one string (several joined by ", ") so `contains` finds each. */
function categoryOf(value: unknown): string | undefined {
  if (!Array.isArray(value)) return text(value);
  const names: string[] = [];
  let length = 0;
  for (const entry of value) {
    const name = text(entry);
    if (name === undefined) continue;
    names.push(name);
    length += name.length + 2;
    if (length > 2000) break;
  }
  return names.length > 0 ? truncate(names.join(', ')) : undefined;
}

/** The SMTP reply code at the start of a bounce reason or deferral response ("552 5.2.2 …" -> 552). */
function smtpCodeOf(...candidates: (string | undefined)[]): number | undefined {
  for (const candidate of candidates) {
    const match = candidate === undefined ? null : /^\s*([2-5]\d\d)(?:[\s-]|$)/.exec(candidate);
    if (match) return Number(match[1]);
  }
  return undefined;
}

/** SendGrid's unix seconds as ISO UTC; undefined when it is not a plausible time. */
function occurredAtOf(value: unknown): string | undefined {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,12}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > maxUnixSeconds) return undefined;
  return new Date(Math.round(seconds * 1000)).toISOString();
}

/** Hard or soft, as SendGrid defines its two bounce types (anything it does not document: soft, never a disqualification by guess). */
function bounceOf(type: unknown): 'hard' | 'soft' {
  return type === undefined || type === null || type === 'bounce' ? 'hard' : 'soft';
}

function propertiesOf(raw: JsonObject, event: string): Record<string, PropertyValue> {
  const properties: Record<string, PropertyValue> = {};
  const set = (key: string, value: PropertyValue | undefined) => {
    if (value !== undefined) properties[key] = value;
  };
  const reason = text(own(raw, 'reason'));
  const response = text(own(raw, 'response'));
  set('messageId', text(own(raw, 'sg_message_id')));
  set('smtpId', text(own(raw, 'smtp-id')));
  set('category', categoryOf(own(raw, 'category')));
  set('url', text(own(raw, 'url')));
  const offset = own(raw, 'url_offset');
  set('urlIndex', integer(own(offset, 'index')));
  set('urlType', text(own(offset, 'type')));
  set('userAgent', text(own(raw, 'useragent')));
  set('ip', text(own(raw, 'ip')));
  set('tls', integer(own(raw, 'tls')));
  const machineOpen = own(raw, 'sg_machine_open');
  if (typeof machineOpen === 'boolean') properties.machineOpen = machineOpen;
  set('reason', reason);
  set('status', text(own(raw, 'status')));
  set('response', response);
  set('attempt', integer(own(raw, 'attempt')));
  set('smtpCode', smtpCodeOf(reason, response));
  set('asmGroupId', integer(own(raw, 'asm_group_id')));
  set('sendAt', integer(own(raw, 'send_at')));
  set('campaignId', integer(own(raw, 'marketing_campaign_id')) ?? text(own(raw, 'marketing_campaign_id')));
  set('campaignName', text(own(raw, 'marketing_campaign_name')));
  if (event === 'bounce') {
    properties.bounce = bounceOf(own(raw, 'type'));
    set('bounceType', text(own(raw, 'type')));
    set('bounceClassification', text(own(raw, 'bounce_classification')));
  }
  if (event === 'unsubscribe') properties.scope = 'global';
  if (event === 'group_unsubscribe' || event === 'group_resubscribe') properties.scope = 'group';

  // Custom args come after SendGrid's own fields and never under their names: a custom arg `bounce: hard`
  // must not pass for SendGrid's verdict. They stay in `raw`.
  let count = Object.keys(properties).length;
  for (const key of Object.keys(raw)) {
    if (count >= maxFieldsPerEvent) break;
    if (sendgridKeys.has(key) || propertyNames.has(key) || !isKeptKey(key)) continue;
    const value = toPropertyValue(raw[key]);
    if (value === undefined) continue;
    properties[key] = value;
    count += 1;
  }
  return properties;
}

/** An event name safe to echo in an ignored reason (the reasons are counted by name in the answer). */
function reasonName(event: string): string {
  return /^[a-z][a-z0-9_]{0,39}$/.test(event) ? event : 'other';
}

function toEvent(raw: JsonObject): NormalizedEvent | IgnoredEvent {
  const id = own(raw, 'sg_event_id');
  // The deduplication key: without it a redelivery could not be recognized, so the event is not stored.
  if (typeof id !== 'string' || id.trim() === '') return { reason: 'no_sg_event_id' };
  if (id.length > maxKeyLength) return { reason: 'bad_sg_event_id' };
  const event = own(raw, 'event');
  if (typeof event !== 'string') return { sourceEventId: id, reason: 'no_event_type' };
  const type = eventTypes.get(event);
  if (type === undefined) return { sourceEventId: id, reason: `unknown_event:${reasonName(event)}` };
  const leadKey = normalizeEmail(own(raw, 'email'));
  if (!leadKey) return { sourceEventId: id, reason: 'no_email' };
  const occurredAt = occurredAtOf(own(raw, 'timestamp'));
  if (!occurredAt) return { sourceEventId: id, reason: 'bad_timestamp' };
  return { leadKey, type, occurredAt, source: 'sendgrid', sourceEventId: id, properties: propertiesOf(raw, event), raw };
}

/**
 * Turns a verified delivery into normalized events. The delivery is refused (400) only when it is
 * not SendGrid's shape at all: not JSON, not an array, an element that is not an object. A problem
 * inside one event (no `sg_event_id`, an unknown type, no e-mail, no usable timestamp) ignores that
 * event with a reason: the bytes are SendGrid's and signed, so a 400 would only make SendGrid retry
 * the same batch for 24 hours and then drop every good event in it.
 *
 * No limit on the number of events beyond the 1 MiB body limit: SendGrid flushes at 768 KB, and a
 * refused batch is lost after its retries.
 */
export function normalizeSendgrid(request: WebhookRequest): Normalized {
  requireContentType(request.header('content-type'), 'application/json');
  const body = parseJson(request.body);
  if (!Array.isArray(body)) throw badRequest('body must be a JSON array of SendGrid events');

  const events: NormalizedEvent[] = [];
  const ignored: IgnoredEvent[] = [];
  const seen = new Set<string>();
  body.forEach((raw: unknown, index) => {
    if (!isObject(raw)) throw badRequest(`[${index}]: must be a JSON object (a SendGrid event)`);
    const result = toEvent(raw);
    if (!('leadKey' in result)) {
      ignored.push(result);
      return;
    }
    // SendGrid may repeat an event within a batch; it is one event.
    if (seen.has(result.sourceEventId)) {
      ignored.push({ sourceEventId: result.sourceEventId, reason: 'duplicate_in_delivery' });
      return;
    }
    seen.add(result.sourceEventId);
    events.push(result);
  });
  return { events, ignored };
}

/** `POST /webhooks/sendgrid`: SendGrid's Signed Event Webhook, verified with SENDGRID_WEBHOOK_PUBLIC_KEY. */
export const sendgrid: WebhookSource = {
  name: 'sendgrid',
  requiredSecrets: ['SENDGRID_WEBHOOK_PUBLIC_KEY'],
  verify(request, secrets, now) {
    const configured = secrets.SENDGRID_WEBHOOK_PUBLIC_KEY;
    if (!configured) throw notFound('the sendgrid webhook is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY)');
    const parsed = publicKeyOf(configured);
    // Our configuration mistake, not the sender's: refuse like an unconfigured route (nothing accepted,
    // and no 5xx on every delivery); the log says what is wrong with the key. SendGrid retries any
    // non-2xx for 24 h, so deliveries refused meanwhile arrive once the key is fixed.
    if (!parsed.ok) throw notFound('the sendgrid webhook is not configured: SENDGRID_WEBHOOK_PUBLIC_KEY is not a usable public key (see the logs)');
    verifySendgridSignature({
      key: parsed.key,
      signature: request.header(sendgridSignatureHeader),
      timestamp: request.header(sendgridTimestampHeader),
      body: request.body,
      now,
    });
  },
  normalize: normalizeSendgrid,
};
