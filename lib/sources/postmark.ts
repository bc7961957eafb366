/**
 * Postmark webhooks (docs/providers/postmark.md): one JSON record per POST, told apart by
 * `RecordType`, authenticated with HTTP Basic auth only (Postmark signs nothing). The credentials
 * are set on the webhook (`HttpAuth`, or `https://user:password@host/webhooks/postmark`) and come
 * back as `Authorization: Basic base64(user:password)`; they are POSTMARK_WEBHOOK_USER and
 * POSTMARK_WEBHOOK_PASSWORD here.
 *
 * Mapping (docs/providers/postmark.md, "Mapping"); the lead is the record's recipient, which Postmark
 * names `Recipient` on Delivery, Open, Click and SubscriptionChange and `Email` on Bounce and
 * SpamComplaint:
 *
 * | RecordType         | type                               | time          |
 * |--------------------|------------------------------------|---------------|
 * | Delivery           | email_delivered                    | DeliveredAt   |
 * | Open               | email_opened (`firstOpen`)         | ReceivedAt    |
 * | Click              | email_clicked (`url` from OriginalLink) | ReceivedAt |
 * | Bounce             | by bounce `Type`, see {@link bounceTypes} | BouncedAt |
 * | SpamComplaint      | email_spam_reported                | BouncedAt     |
 * | SubscriptionChange | see {@link subscriptionChangeType} | ChangedAt     |
 * | (inbound e-mail)   | ignored: `unsupported_record_type:Inbound` | –     |
 *
 * Inbound is a different webhook (Postmark parsing mail sent *to* us): its payload has no
 * `RecordType`, its `Date` is whatever the sending server wrote (not ISO 8601), and nothing in it
 * says whether the mail answers one of ours. Should it be pointed at this route it is acknowledged
 * (200, so Postmark stops retrying) and counted as ignored; scoring replies would be its own route.
 *
 * Postmark documents no event id. The deduplication key (`sourceEventId`) is the bounce `ID` where
 * the record has one (Bounce, SpamComplaint), else a hash of what makes the record unique (record
 * type, MessageID, recipient, the record's own time, plus the link for a click and the stream and
 * direction for a subscription change). A retry repeats the same payload, so it maps to the same key;
 * two opens of one message differ in ReceivedAt, two clicks also in their link.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as z from 'zod/mini';
import '../core/zod.ts';
import type { NormalizedEvent, PropertyValue } from '../core/events.ts';
import { normalizeEmail } from '../core/events.ts';
import { badRequest, notFound, unauthorized } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import type { Secrets } from '../runtime/config.ts';
import { isKeptKey, maxFieldsPerEvent, maxKeyLength, parseIsoTime, text, toPropertyValue } from './fields.ts';
import type { IgnoredEvent, Normalized, WebhookRequest, WebhookSource } from './source.ts';

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

const sha256 = (value: Buffer) => createHash('sha256').update(value).digest();

/**
 * Whether the given bytes are the configured secret, in time that depends on neither's length nor
 * content: both sides are hashed to 32 bytes first, so timingSafeEqual always compares equal lengths.
 */
function sameSecret(given: Buffer, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(Buffer.from(expected, 'utf8')));
}

const base64Token = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The user and password of a Basic `Authorization` header, as bytes (RFC 7617 reads them as UTF-8;
 * comparing bytes needs no decoding). The user ends at the first colon: a password may contain
 * colons, a user may not (RFC 7617), so a configured user with a colon can never match.
 */
function basicCredentials(authorization: string | undefined): { user: Buffer; password: Buffer } {
  const value = authorization?.trim() ?? '';
  if (value === '')
    throw unauthorized("no Authorization header: Postmark webhooks authenticate with HTTP Basic auth (the webhook's HttpAuth, or user:password@ in its URL)");
  const [scheme = '', token = '', ...rest] = value.split(/[ \t]+/);
  if (scheme.toLowerCase() !== 'basic') throw unauthorized('the Authorization header must use the Basic scheme');
  // Canonical base64 only: Buffer.from(..., 'base64') silently skips what is not base64, so
  // "Basic !!!" would otherwise decode to something.
  const decoded = Buffer.from(token, 'base64');
  if (rest.length > 0 || !base64Token.test(token) || decoded.toString('base64').replace(/=+$/, '') !== token.replace(/=+$/, '')) {
    throw unauthorized('the Basic credentials are not base64');
  }
  const colon = decoded.indexOf(0x3a);
  if (colon === -1) throw unauthorized('the Basic credentials have no ":" between user and password');
  return { user: decoded.subarray(0, colon), password: decoded.subarray(colon + 1) };
}

function verifyPostmark(request: WebhookRequest, secrets: Secrets): void {
  const user = secrets.POSTMARK_WEBHOOK_USER;
  const password = secrets.POSTMARK_WEBHOOK_PASSWORD;
  // The route should not have been served at all; refuse the same way it would have.
  if (!user || !password) throw notFound('the postmark webhook is not configured (POSTMARK_WEBHOOK_USER, POSTMARK_WEBHOOK_PASSWORD)');
  const given = basicCredentials(request.header('authorization'));
  // Both comparisons always run, so the time taken does not tell which of the two was wrong.
  const userMatches = sameSecret(given.user, user);
  const passwordMatches = sameSecret(given.password, password);
  if (!(userMatches && passwordMatches)) throw unauthorized('wrong user or password in the Basic credentials');
}

// ---------------------------------------------------------------------------------------------
// Record shapes (only the fields read here; the record itself is kept whole in `raw`)
// ---------------------------------------------------------------------------------------------

const jsonObject = z.custom<JsonObject>(isObject, { error: 'must be a JSON object' });
const optionalText = z.nullish(z.string({ error: 'must be a string' }));
const optionalFlag = z.nullish(z.boolean({ error: 'must be true or false' }));
const optionalNumber = z.nullish(z.number({ error: 'must be a number' }));
const requiredTime = z.string({
  error: (issue) => (issue.input === undefined ? "is required (ISO 8601, the record's own time)" : 'must be an ISO 8601 string'),
});
const messageId = z.nullish(z.string({ error: 'must be a string' }).check(z.maxLength(maxKeyLength, { error: `must be at most ${maxKeyLength} characters` })));

const common = {
  MessageID: messageId,
  MessageStream: optionalText,
  Tag: optionalText,
  ServerID: optionalNumber,
  Metadata: z.nullish(jsonObject),
};

/** Client, OS, Geo and the rest that Open and Click share. */
const tracking = {
  ...common,
  Recipient: z.optional(z.unknown()),
  ReceivedAt: requiredTime,
  Platform: optionalText,
  UserAgent: optionalText,
  Client: z.nullish(jsonObject),
  OS: z.nullish(jsonObject),
  Geo: z.nullish(jsonObject),
};

const deliverySchema = z.object({ ...common, Recipient: z.optional(z.unknown()), DeliveredAt: requiredTime, Details: optionalText });
const openSchema = z.object({ ...tracking, FirstOpen: optionalFlag, ReadSeconds: optionalNumber });
const clickSchema = z.object({ ...tracking, OriginalLink: optionalText, ClickLocation: optionalText });
/** Bounce and SpamComplaint have the same shape. */
const bounceSchema = z.object({
  ...common,
  ID: z.nullish(z.union([z.number(), z.string()], { error: 'must be a number' })),
  Type: optionalText,
  TypeCode: optionalNumber,
  Name: optionalText,
  Email: z.optional(z.unknown()),
  BouncedAt: requiredTime,
  Description: optionalText,
  Details: optionalText,
  Subject: optionalText,
  Inactive: optionalFlag,
  CanActivate: optionalFlag,
});
const subscriptionChangeSchema = z.object({
  ...common,
  Recipient: z.optional(z.unknown()),
  ChangedAt: requiredTime,
  SuppressSending: z.boolean({
    error: (issue) => (issue.input === undefined ? 'is required (true: suppressed, false: reactivated)' : 'must be true or false'),
  }),
  SuppressionReason: optionalText,
  Origin: optionalText,
});

type CommonFields = z.infer<z.ZodMiniObject<typeof common>>;
type Tracking = z.infer<typeof openSchema> | z.infer<typeof clickSchema>;
type BounceRecord = z.infer<typeof bounceSchema>;

function parse<T>(schema: z.ZodMiniType<T>, record: JsonObject, recordType: string): T {
  const parsed = schema.safeParse(record);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.length ? issue.path.join('.') : 'record';
  throw badRequest(`${recordType} ${path}: ${issue?.message ?? 'is not a Postmark record'}`);
}

/** The record's own time as ISO UTC: strict ISO 8601, offsets honoured, Postmark's 7 fraction digits cut to milliseconds. */
function isoTime(value: string, recordType: string, field: string): string {
  const ms = parseIsoTime(value.trim());
  if (ms === undefined) throw badRequest(`${recordType} ${field}: ${JSON.stringify(value.slice(0, 100))} is not an ISO 8601 date-time`);
  return new Date(ms).toISOString();
}

// ---------------------------------------------------------------------------------------------
// Bounce classification
// ---------------------------------------------------------------------------------------------

type BounceClass = 'hard' | 'soft' | 'spam_complaint' | 'unsubscribe_request';

/**
 * Every bounce `Type` Postmark documents (Bounce API "bounce types"; postmark.js `BounceType`),
 * its `TypeCode`, and what it becomes. Hard means the address itself will not take mail, which the
 * default model treats as a disqualification, so it is kept for verdicts about the mailbox; a
 * failure on the way, on our side or in the content is soft. Any type not listed is soft.
 *
 * | Type                    | Code   | Becomes                               | Why |
 * |-------------------------|--------|---------------------------------------|-----|
 * | HardBounce              | 1      | email_bounced hard                    | unknown user, mailbox not found; Postmark deactivates the address |
 * | BadEmailAddress         | 100000 | email_bounced hard                    | not a valid address at all |
 * | SpamComplaint           | 100001 | email_spam_reported                   | the recipient marked the mail as spam (normally its own RecordType) |
 * | Unsubscribe             | 16     | email_unsubscribed                    | the recipient sent an unsubscribe / remove request: an opt-out, not a failure |
 * | Transient               | 2      | email_bounced soft                    | message delayed (network trouble) |
 * | SoftBounce              | 4096   | email_bounced soft                    | mailbox full, over quota, temporarily disabled |
 * | DnsError                | 256    | email_bounced soft                    | temporary DNS error |
 * | AutoResponder           | 64     | email_bounced soft                    | out-of-office reply: the mailbox is alive |
 * | AddressChange           | 128    | email_bounced soft                    | the recipient announced a new address |
 * | SpamNotification        | 512    | email_bounced soft                    | delivered but filtered or blocked by the user's mail system, not a complaint by the person |
 * | Subscribe               | 32     | email_bounced soft                    | a subscribe request; `bounceType` lets a model score it |
 * | ChallengeVerification   | 16384  | email_bounced soft                    | a challenge-response filter asks the sender to confirm |
 * | VirusNotification       | 8192   | email_bounced soft                    | a virus warning about the message |
 * | OpenRelayTest           | 1024   | email_bounced soft                    | an open-relay probe, not about the recipient |
 * | Unknown                 | 2048   | email_bounced soft                    | unclassified; no proof the address is bad |
 * | ManuallyDeactivated     | 100002 | email_bounced soft                    | deactivated by hand by the sender's team: a decision, not a verdict on the mailbox (`inactive` is kept) |
 * | Unconfirmed             | 100003 | email_bounced soft                    | registration not confirmed |
 * | Blocked                 | 100006 | email_bounced soft                    | the receiving ISP blocked the message (about our sending, not the address) |
 * | SMTPApiError            | 100007 | email_bounced soft                    | error accepting the message through Postmark's SMTP API (our side) |
 * | InboundError            | 100008 | email_bounced soft                    | inbound processing error (our side) |
 * | DMARCPolicy             | 100009 | email_bounced soft                    | rejected by the sending domain's DMARC policy (our side) |
 * | TemplateRenderingFailed | 100010 | email_bounced soft                    | the template could not be rendered (our side) |
 */
export const bounceTypes: Readonly<Record<string, { readonly code: number; readonly becomes: BounceClass }>> = {
  HardBounce: { code: 1, becomes: 'hard' },
  BadEmailAddress: { code: 100000, becomes: 'hard' },
  SpamComplaint: { code: 100001, becomes: 'spam_complaint' },
  Unsubscribe: { code: 16, becomes: 'unsubscribe_request' },
  Transient: { code: 2, becomes: 'soft' },
  SoftBounce: { code: 4096, becomes: 'soft' },
  DnsError: { code: 256, becomes: 'soft' },
  AutoResponder: { code: 64, becomes: 'soft' },
  AddressChange: { code: 128, becomes: 'soft' },
  SpamNotification: { code: 512, becomes: 'soft' },
  Subscribe: { code: 32, becomes: 'soft' },
  ChallengeVerification: { code: 16384, becomes: 'soft' },
  VirusNotification: { code: 8192, becomes: 'soft' },
  OpenRelayTest: { code: 1024, becomes: 'soft' },
  Unknown: { code: 2048, becomes: 'soft' },
  ManuallyDeactivated: { code: 100002, becomes: 'soft' },
  Unconfirmed: { code: 100003, becomes: 'soft' },
  Blocked: { code: 100006, becomes: 'soft' },
  SMTPApiError: { code: 100007, becomes: 'soft' },
  InboundError: { code: 100008, becomes: 'soft' },
  DMARCPolicy: { code: 100009, becomes: 'soft' },
  TemplateRenderingFailed: { code: 100010, becomes: 'soft' },
};

/** The bounce type by name, else by TypeCode when the name is missing; undefined for an unknown one. */
function bounceTypeOf(record: BounceRecord): string | undefined {
  const name = text(record.Type);
  if (name !== undefined) return name;
  return Object.keys(bounceTypes).find((key) => bounceTypes[key]!.code === record.TypeCode);
}

function classify(bounceType: string | undefined): BounceClass {
  return bounceType !== undefined && Object.hasOwn(bounceTypes, bounceType) ? bounceTypes[bounceType]!.becomes : 'soft';
}

/**
 * A subscription change is a recipient added to (SuppressSending true) or removed from (false) a
 * message stream's suppression list. Postmark adds an address after a hard bounce, a spam
 * complaint, or a manual suppression (an unsubscribe link, or the sender's team), and says which in
 * `SuppressionReason`. The suppression is recorded as what caused it, so the default model
 * disqualifies a hard-bounced or complaining address even when only this webhook is configured;
 * should the Bounce or SpamComplaint record arrive too, the lead is disqualified either way and the
 * two events say so from two sides (`recordType` tells them apart).
 * A reactivation is `email_resubscribed` (stored for a model to score; the default scores 0).
 */
function subscriptionChangeType(suppressSending: boolean, reason: string | undefined): { type: string; bounce?: 'hard' } {
  if (!suppressSending) return { type: 'email_resubscribed' };
  if (reason === 'HardBounce') return { type: 'email_bounced', bounce: 'hard' };
  if (reason === 'SpamComplaint') return { type: 'email_spam_reported' };
  return { type: 'email_unsubscribed' };
}

// ---------------------------------------------------------------------------------------------
// Properties and keys
// ---------------------------------------------------------------------------------------------

type Properties = Record<string, PropertyValue>;

/** Sets the defined values only, so a stored event holds what Postmark said and nothing else. */
function assign(properties: Properties, values: Record<string, PropertyValue | undefined>): void {
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && Object.keys(properties).length < maxFieldsPerEvent) properties[key] = value;
  }
}

/** The SMTP reply code that starts Postmark's `Details` ("smtp;550 5.1.1 ...", "250 2.0.0 OK ..."). */
function smtpCode(details: string | null | undefined): number | undefined {
  const match = /^\s*(?:smtp;\s*)?([245]\d\d)(?![\d.])/i.exec(details ?? '');
  return match ? Number(match[1]) : undefined;
}

function commonProperties(recordType: string, record: CommonFields): Properties {
  const properties: Properties = {};
  assign(properties, {
    recordType,
    messageId: text(record.MessageID),
    messageStream: text(record.MessageStream),
    tag: text(record.Tag),
    serverId: record.ServerID ?? undefined,
  });
  return properties;
}

/**
 * The sender's own Metadata as `metadata.<key>` properties (prefixed so a key such as `url` or
 * `bounce` cannot overwrite ours). Postmark allows 10 string fields; the bound here is the event's
 * property limit, and keys that could reach a prototype are never copied.
 */
function addMetadata(properties: Properties, metadata: JsonObject | null | undefined): void {
  if (!metadata) return;
  for (const key of Object.keys(metadata)) {
    if (Object.keys(properties).length >= maxFieldsPerEvent) return;
    if (!isKeptKey(key)) continue;
    const value = toPropertyValue(metadata[key]);
    if (value !== undefined) properties[`metadata.${key}`] = value;
  }
}

/**
 * Where and how a message was opened or clicked. The IP address, coordinates and postcode stay out
 * of the stored event (they are only in the raw record, which expires): scoring needs none of them.
 */
function trackingProperties(record: Tracking): Record<string, PropertyValue | undefined> {
  return {
    platform: text(record.Platform),
    client: text(own(record.Client, 'Name')),
    clientFamily: text(own(record.Client, 'Family')),
    os: text(own(record.OS, 'Name')),
    osFamily: text(own(record.OS, 'Family')),
    userAgent: text(record.UserAgent),
    geoCountry: text(own(record.Geo, 'Country')),
    geoCountryCode: text(own(record.Geo, 'CountryISOCode')),
    geoRegion: text(own(record.Geo, 'Region')),
    geoCity: text(own(record.Geo, 'City')),
  };
}

/**
 * A bounded key from the fields that make a record unique: `<record_type>:<32 hex of SHA-256>`.
 * JSON of the parts keeps them apart (no separator inside a value can shift one into the next).
 */
function compositeKey(prefix: string, parts: readonly (string | boolean | null | undefined)[]): string {
  const digest = createHash('sha256')
    .update(JSON.stringify(parts.map((part) => part ?? null)))
    .digest('hex');
  return `${prefix}:${digest.slice(0, 32)}`;
}

/**
 * Postmark's bounce `ID` (a bounce record's id; SpamComplaint records come from the same table), as
 * digits. An id beyond 2^53 lost precision in JSON.parse, and two such ids could read the same, so
 * it is not used.
 */
function bounceId(id: number | string | null | undefined): string | undefined {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0 ? String(id) : undefined;
  if (typeof id === 'string' && /^\d{1,30}$/.test(id.trim())) return id.trim();
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Normalization
// ---------------------------------------------------------------------------------------------

/** What one record becomes before the lead check: type, time, key, properties, and who it is about. */
interface Mapped {
  readonly type: string;
  readonly occurredAt: string;
  readonly sourceEventId: string;
  readonly properties: Properties;
  readonly recipient: unknown;
}

function mapDelivery(record: JsonObject): Mapped {
  const delivery = parse(deliverySchema, record, 'Delivery');
  const occurredAt = isoTime(delivery.DeliveredAt, 'Delivery', 'DeliveredAt');
  const recipient = normalizeEmail(delivery.Recipient);
  const properties = commonProperties('Delivery', delivery);
  assign(properties, { details: text(delivery.Details), smtpCode: smtpCode(delivery.Details) });
  addMetadata(properties, delivery.Metadata);
  return {
    type: 'email_delivered',
    occurredAt,
    sourceEventId: compositeKey('delivery', ['Delivery', delivery.MessageID, recipient ?? text(delivery.Recipient), occurredAt]),
    properties,
    recipient: delivery.Recipient,
  };
}

function mapOpen(record: JsonObject): Mapped {
  const open = parse(openSchema, record, 'Open');
  const occurredAt = isoTime(open.ReceivedAt, 'Open', 'ReceivedAt');
  const recipient = normalizeEmail(open.Recipient);
  const properties = commonProperties('Open', open);
  assign(properties, { firstOpen: open.FirstOpen ?? undefined, readSeconds: open.ReadSeconds ?? undefined, ...trackingProperties(open) });
  addMetadata(properties, open.Metadata);
  return {
    type: 'email_opened',
    occurredAt,
    sourceEventId: compositeKey('open', ['Open', open.MessageID, recipient ?? text(open.Recipient), occurredAt]),
    properties,
    recipient: open.Recipient,
  };
}

function mapClick(record: JsonObject): Mapped {
  const click = parse(clickSchema, record, 'Click');
  const occurredAt = isoTime(click.ReceivedAt, 'Click', 'ReceivedAt');
  const recipient = normalizeEmail(click.Recipient);
  const properties = commonProperties('Click', click);
  assign(properties, { url: text(click.OriginalLink), clickLocation: text(click.ClickLocation), ...trackingProperties(click) });
  addMetadata(properties, click.Metadata);
  return {
    type: 'email_clicked',
    occurredAt,
    // The whole link (not the stored, possibly truncated `url`): two long links sharing a prefix stay two clicks.
    sourceEventId: compositeKey('click', ['Click', click.MessageID, recipient ?? text(click.Recipient), click.OriginalLink, occurredAt]),
    properties,
    recipient: click.Recipient,
  };
}

/** Bounce and SpamComplaint records: same shape, same key (the bounce ID). */
function mapBounce(record: JsonObject, recordType: 'Bounce' | 'SpamComplaint'): Mapped {
  const bounce = parse(bounceSchema, record, recordType);
  const occurredAt = isoTime(bounce.BouncedAt, recordType, 'BouncedAt');
  const recipient = normalizeEmail(bounce.Email);
  const bounceType = recordType === 'SpamComplaint' ? 'SpamComplaint' : bounceTypeOf(bounce);
  const becomes = classify(bounceType);
  const id = bounceId(bounce.ID);

  const properties = commonProperties(recordType, bounce);
  assign(properties, {
    ...(becomes === 'hard' || becomes === 'soft' ? { bounce: becomes } : {}),
    bounceType,
    bounceTypeCode: bounce.TypeCode ?? undefined,
    bounceName: text(bounce.Name),
    bounceId: id,
    bounceReason: text(bounce.Details),
    smtpCode: smtpCode(bounce.Details),
    description: text(bounce.Description),
    subject: text(bounce.Subject),
    inactive: bounce.Inactive ?? undefined,
    canActivate: bounce.CanActivate ?? undefined,
  });
  addMetadata(properties, bounce.Metadata);

  const type = becomes === 'spam_complaint' ? 'email_spam_reported' : becomes === 'unsubscribe_request' ? 'email_unsubscribed' : 'email_bounced';
  const sourceEventId =
    id !== undefined
      ? `bounce-id:${id}`
      : compositeKey(recordType === 'Bounce' ? 'bounce' : 'spam_complaint', [
          recordType,
          bounce.MessageID,
          recipient ?? text(bounce.Email),
          occurredAt,
          bounceType,
        ]);
  return { type, occurredAt, sourceEventId, properties, recipient: bounce.Email };
}

function mapSubscriptionChange(record: JsonObject): Mapped {
  const change = parse(subscriptionChangeSchema, record, 'SubscriptionChange');
  const occurredAt = isoTime(change.ChangedAt, 'SubscriptionChange', 'ChangedAt');
  const recipient = normalizeEmail(change.Recipient);
  const reason = text(change.SuppressionReason);
  const { type, bounce } = subscriptionChangeType(change.SuppressSending, reason);
  const properties = commonProperties('SubscriptionChange', change);
  assign(properties, { ...(bounce ? { bounce } : {}), suppressSending: change.SuppressSending, suppressionReason: reason, origin: text(change.Origin) });
  addMetadata(properties, change.Metadata);
  return {
    type,
    occurredAt,
    sourceEventId: compositeKey('subscription_change', [
      'SubscriptionChange',
      change.MessageStream,
      recipient ?? text(change.Recipient),
      occurredAt,
      change.SuppressSending,
      change.MessageID,
    ]),
    properties,
    recipient: change.Recipient,
  };
}

const recordMappers: Readonly<Record<string, (record: JsonObject) => Mapped>> = {
  Delivery: mapDelivery,
  Open: mapOpen,
  Click: mapClick,
  Bounce: (record) => mapBounce(record, 'Bounce'),
  SpamComplaint: (record) => mapBounce(record, 'SpamComplaint'),
  SubscriptionChange: mapSubscriptionChange,
};

/** An inbound-mail payload: no RecordType, the parsed sender in `FromFull`, the reply text. */
function isInboundMail(record: JsonObject): boolean {
  return isObject(own(record, 'FromFull')) || typeof own(record, 'StrippedTextReply') === 'string';
}

/** The reason an unknown record type is ignored with; the name only when it is a plain word (it becomes a response key). */
function unknownTypeReason(recordType: string): string {
  return /^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(recordType) ? `unknown_record_type:${recordType}` : 'unknown_record_type';
}

function ignoredOnly(ignored: IgnoredEvent): Normalized {
  return { events: [], ignored: [ignored] };
}

/**
 * Turns a verified delivery (one Postmark record) into at most one event. A record that is not
 * Postmark's shape is refused (400); an authentic record we do not score (inbound mail, a record
 * type Postmark adds later, no usable recipient) is acknowledged and counted in `ignored`.
 */
export function normalizePostmark(request: WebhookRequest): Normalized {
  requireContentType(request.header('content-type'), 'application/json');
  const record = parseJson(request.body);
  if (!isObject(record)) throw badRequest('body must be one JSON object: Postmark sends one record per request');

  const recordType = own(record, 'RecordType');
  if (recordType === undefined || recordType === null) {
    if (isInboundMail(record)) return ignoredOnly({ reason: 'unsupported_record_type:Inbound' });
    throw badRequest('RecordType is required (Delivery, Bounce, SpamComplaint, Open, Click or SubscriptionChange)');
  }
  if (typeof recordType !== 'string') throw badRequest('RecordType must be a string');
  if (recordType === 'Inbound') return ignoredOnly({ reason: 'unsupported_record_type:Inbound' });
  const mapper = Object.hasOwn(recordMappers, recordType) ? recordMappers[recordType] : undefined;
  if (!mapper) return ignoredOnly({ reason: unknownTypeReason(recordType) });

  const mapped = mapper(record);
  const leadKey = normalizeEmail(mapped.recipient);
  if (!leadKey) return ignoredOnly({ sourceEventId: mapped.sourceEventId, reason: text(mapped.recipient) === undefined ? 'no_email' : 'invalid_email' });

  const event: NormalizedEvent = {
    leadKey,
    type: mapped.type,
    occurredAt: mapped.occurredAt,
    source: 'postmark',
    sourceEventId: mapped.sourceEventId,
    properties: mapped.properties,
    raw: record,
  };
  return { events: [event], ignored: [] };
}

/** `POST /webhooks/postmark`: Postmark's outbound webhooks, HTTP Basic auth. */
export const postmark: WebhookSource = {
  name: 'postmark',
  requiredSecrets: ['POSTMARK_WEBHOOK_USER', 'POSTMARK_WEBHOOK_PASSWORD'],
  verify: (request, secrets) => verifyPostmark(request, secrets),
  normalize: normalizePostmark,
};
