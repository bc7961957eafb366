/**
 * Website and product events in Segment's message shape (`track`, `identify`, `page`, `screen`, `group`),
 * one message or Segment's `{"batch": [...]}`, signed per Standard Webhooks with EVENTS_WEBHOOK_SECRET.
 *
 * The message mapping here is the one way in for every Segment-shaped sender: this route, Segment's
 * tracking API (lib/sources/tracking.ts) and Segment's webhook destination (lib/sources/segment-webhook.ts)
 * all map messages through {@link normalizeSegmentMessages}; only authentication, the event's time and
 * what a malformed message costs (the whole delivery here, the message alone there) differ.
 *
 * Mapping (docs/providers/events.md, "Mapping"):
 * - `track` "Webinar Attended" -> type `webinar_attended`; properties flattened to scalars.
 * - `page` / `screen` -> `page_viewed` with `url` and `path`.
 * - `identify` -> `profile_updated`; traits become profile fields, the rest of the scalars `custom`.
 * - `group` -> `profile_updated` with `groupId`; the group's reserved traits become the account's profile
 *   fields (`name` -> `company`, `industry`, `employees` -> `companySize`, `website` -> `companyWebsite`,
 *   `plan` -> `companyPlan`) and all its scalar traits the event's properties. Its `traits.email` is the
 *   group's address (Segment's spec), never the person's: the person is `context.traits.email`.
 * - `alias` -> `identity_linked`: ties the sender's `previousId` (Segment's spec: typically the visitor's
 *   anonymousId, or an earlier userId) to its `userId`; the event links both readings of the previous id
 *   (`anon:` and `user:` keys), so whichever the sender had used goes to the same lead.
 * - `context.traits` on any message carries profile fields too.
 */
import * as z from 'zod/mini';
import '../core/zod.ts';
import type { NormalizedEvent, Profile, PropertyValue } from '../core/events.ts';
import { normalizeEmail, toSnakeCase } from '../core/events.ts';
import { userLeadId, visitorLeadId } from '../core/identity.ts';
import { badRequest, HttpError, notFound } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import { checkStandardWebhookSecret, verifyStandardWebhook } from '../http/standard-webhooks.ts';
import {
  amount,
  definedOnly,
  flattenProperties,
  isKeptKey,
  maxFieldsPerEvent,
  maxKeyLength,
  mergeProfiles,
  parseIsoTime,
  text,
  toPropertyValue,
} from './fields.ts';
import type { IgnoredEvent, Normalized, WebhookRequest, WebhookSource } from './source.ts';

/** Most messages one delivery may carry; Segment's own batch API stops at 500 KB, ours at 500 messages. */
export const maxSegmentMessages = 500;

/** Segment's calls (its spec). */
export const segmentCalls = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type SegmentCall = (typeof segmentCalls)[number];

const scoredTypes = segmentCalls;

// z.custom keeps the parsed object itself (no copy through zod), so the mapping below reads the
// sender's own keys and nothing else.
const jsonObject = z.custom<JsonObject>(isObject, { error: 'must be a JSON object' });
const isoString = z.nullish(z.string({ error: 'must be an ISO 8601 string' }));

const messageSchema = z.object({
  type: z.enum(scoredTypes, {
    error: (issue) =>
      issue.input === undefined
        ? `is required (one of ${scoredTypes.join(', ')})`
        : `must be one of ${scoredTypes.join(', ')}, got ${JSON.stringify(issue.input)}`,
  }),
  // The deduplication key (DynamoDB sort key part), hence the length bound.
  messageId: z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
    .check(z.minLength(1, { error: 'must not be empty' }), z.maxLength(maxKeyLength, { error: `must be at most ${maxKeyLength} characters` })),
  event: z.optional(z.string({ error: 'must be a string' })),
  name: z.nullish(z.string({ error: 'must be a string' })),
  properties: z.nullish(jsonObject),
  traits: z.nullish(jsonObject),
  context: z.nullish(jsonObject),
  // Segment's spec: a string; checked by groupIdOf for a group call, ignored on the others.
  groupId: z.optional(z.unknown()),
  // Segment's spec: strings (rudder-sdk-node sends numbers as strings); lib/core/identity.ts keys them, anything else is no id.
  userId: z.optional(z.unknown()),
  anonymousId: z.optional(z.unknown()),
  // An alias call's earlier id (Segment's spec: a string); checked by previousKeysOf.
  previousId: z.optional(z.unknown()),
  timestamp: isoString,
  originalTimestamp: isoString,
  sentAt: isoString,
});
export type SegmentMessage = z.infer<typeof messageSchema>;

/**
 * A message that cannot be stored. `reason` is the code it is counted under when a batch drops it alone
 * (`ignoredReasons`); as an error it refuses the delivery with a 400 that says which message and why.
 */
export class InvalidSegmentMessage extends HttpError {
  readonly reason: string;

  constructor(reason: string, detail: string) {
    super(400, 'bad_request', detail);
    this.reason = reason;
  }
}

/** Trait names that map onto a {@link Profile} field and so stay out of `custom`. */
const profileTraitKeys = new Set([
  'email',
  'firstName',
  'first_name',
  'lastName',
  'last_name',
  'title',
  'jobTitle',
  'job_title',
  'industry',
  'phone',
  'country',
  'address',
  'company',
  'employees',
  'companySize',
  'company_size',
  'annualRevenue',
  'annual_revenue',
]);

/** Profile fields from Segment traits (reserved traits per Segment's spec plus common spellings). */
function profileFromTraits(traits: unknown): Profile {
  if (!isObject(traits)) return {};
  const company = own(traits, 'company');
  const address = own(traits, 'address');
  const phone = own(traits, 'phone');
  const profile = definedOnly<Profile>({
    email: normalizeEmail(own(traits, 'email')),
    firstName: text(own(traits, 'firstName'), own(traits, 'first_name')),
    lastName: text(own(traits, 'lastName'), own(traits, 'last_name')),
    jobTitle: text(own(traits, 'title'), own(traits, 'jobTitle'), own(traits, 'job_title')),
    industry: text(own(traits, 'industry'), own(company, 'industry')),
    phone: typeof phone === 'number' && Number.isFinite(phone) ? String(phone) : text(phone),
    country: text(own(traits, 'country'), own(address, 'country')),
    company: text(company, own(company, 'name')),
    companySize: amount(
      own(company, 'employee_count'),
      own(company, 'employees'),
      own(traits, 'employees'),
      own(traits, 'companySize'),
      own(traits, 'company_size'),
    ),
    annualRevenue: amount(own(company, 'annual_revenue'), own(company, 'annualRevenue'), own(traits, 'annualRevenue'), own(traits, 'annual_revenue')),
  });

  const custom: Record<string, PropertyValue> = {};
  let count = 0;
  for (const key of Object.keys(traits)) {
    if (count >= maxFieldsPerEvent) break;
    if (profileTraitKeys.has(key) || !isKeptKey(key)) continue;
    const value = traits[key];
    // Only scalars: nested trait objects are kept whole in `raw`, not flattened into the profile.
    if (value !== null && typeof value === 'object') continue;
    const stored = toPropertyValue(value);
    if (stored === undefined) continue;
    custom[key] = stored;
    count += 1;
  }

  if (count > 0) profile.custom = custom;
  return profile;
}

/**
 * The account's profile fields from a `group` call: its `groupId` and Segment's reserved group traits
 * (its spec, "Group": `name`, `industry`, `employees`, `website`, `plan`), plus the revenue spellings the
 * identify traits take. The group's `email`, `phone` and `address` are the account's, not the person's:
 * they stay in the event's properties, never in the person's profile.
 */
function profileFromGroup(groupId: string, traits: unknown): Profile {
  return definedOnly<Profile>({
    groupId,
    company: text(own(traits, 'name')),
    industry: text(own(traits, 'industry')),
    companySize: amount(own(traits, 'employees')),
    annualRevenue: amount(own(traits, 'annualRevenue'), own(traits, 'annual_revenue')),
    companyWebsite: text(own(traits, 'website')),
    companyPlan: text(own(traits, 'plan')),
  });
}

/**
 * The `groupId` of a group call: Segment's spec makes it a string (its libraries type it so); a number is
 * taken as its digits. At most {@link maxKeyLength} bytes, so the lead keeps it whole (lib/core/lead-summary.ts
 * cuts a profile value at 500 bytes) and a later roll-up can key an account by it.
 */
function groupIdOf(value: unknown, where: string): string {
  if (value === undefined || value === null)
    throw new InvalidSegmentMessage('no_groupId', `${where}.groupId: a group call needs the id of its group (the account)`);
  const id = typeof value === 'number' && Number.isFinite(value) ? String(value) : typeof value === 'string' ? value.trim() : undefined;
  if (id === undefined) throw new InvalidSegmentMessage('invalid_groupId', `${where}.groupId: must be a string`);
  if (id === '') throw new InvalidSegmentMessage('no_groupId', `${where}.groupId: must not be empty`);
  if (Buffer.byteLength(id, 'utf8') > maxKeyLength)
    throw new InvalidSegmentMessage('invalid_groupId', `${where}.groupId: must be at most ${maxKeyLength} bytes`);
  return id;
}

/**
 * The provider's time of a message as ISO UTC. Strict ISO 8601 only, because `Date.parse` accepts
 * "1" (as the year 2001) and rolls "02-30" into March; a time without zone is read as UTC so the
 * same message maps to the same key on every machine.
 */
export function statedTime(message: SegmentMessage, where: string): string {
  const candidates = [
    ['timestamp', message.timestamp],
    ['originalTimestamp', message.originalTimestamp],
    ['sentAt', message.sentAt],
  ] as const;
  const found = candidates.find(([, value]) => value !== undefined && value !== null);
  if (!found) throw new InvalidSegmentMessage('no_timestamp', `${where}: needs timestamp, originalTimestamp or sentAt (the event's own time)`);
  const [field, value] = found;
  return new Date(messageTime(value ?? '', `${where}.${field}`)).toISOString();
}

/** Milliseconds of a message's time field (strict ISO 8601, lib/sources/fields.ts); a message with another is invalid. */
export function messageTime(value: string, where: string): number {
  const ms = parseIsoTime(value);
  if (ms === undefined) throw new InvalidSegmentMessage('invalid_timestamp', `${where}: ${JSON.stringify(value)} is not an ISO 8601 date-time`);
  return ms;
}

/**
 * The lead's e-mail: who the message is about. An identify names its subject in its own traits first; a
 * group call only in `context.traits` (its own `traits.email` is the group's address, Segment's spec).
 */
function leadEmail(message: SegmentMessage): string | undefined {
  const fromContext = own(message.context, 'traits');
  const candidates =
    message.type === 'identify'
      ? [own(message.traits, 'email'), own(fromContext, 'email'), own(message.properties, 'email')]
      : message.type === 'group'
        ? [own(fromContext, 'email')]
        : [own(fromContext, 'email'), own(message.properties, 'email'), own(message.traits, 'email')];
  for (const candidate of candidates) {
    const email = normalizeEmail(candidate);
    if (email) return email;
  }
  return undefined;
}

function pathOf(url: string | undefined): string | undefined {
  if (!url || !URL.canParse(url)) return undefined;
  return new URL(url).pathname;
}

/** The event type and properties of a message (the profile is shared by every type). */
function typeAndProperties(message: SegmentMessage, where: string): { type: string; properties: Record<string, PropertyValue> } {
  const properties = flattenProperties(message.properties);
  switch (message.type) {
    case 'track': {
      if (message.event === undefined || message.event.trim() === '')
        throw new InvalidSegmentMessage('no_event_name', `${where}.event: a track call needs the event name`);
      const type = toSnakeCase(message.event);
      if (type === '')
        throw new InvalidSegmentMessage(
          'no_event_name',
          `${where}.event: ${JSON.stringify(message.event)} has no letters or digits (A-Z, 0-9) to name an event type`,
        );
      return { type, properties };
    }
    case 'page':
    case 'screen': {
      const page = own(message.context, 'page');
      const url = text(own(message.properties, 'url'), own(page, 'url'));
      const path = text(own(message.properties, 'path'), own(page, 'path')) ?? pathOf(url);
      if (url !== undefined) properties.url = url;
      if (path !== undefined) properties.path = path;
      const name = text(message.name);
      if (name !== undefined && !Object.hasOwn(properties, 'name')) properties.name = name;
      return { type: 'page_viewed', properties };
    }
    case 'identify':
      return { type: 'profile_updated', properties };
    case 'group':
      // The group's traits as given (scalars), then its id: what a roll-up of leads to accounts reads.
      return { type: 'profile_updated', properties: { ...flattenProperties(message.traits), groupId: groupIdOf(message.groupId, where) } };
    case 'alias':
      // Who it ties is in the event's lead and links (toEvent); nothing else to keep but the properties, if any.
      return { type: 'identity_linked', properties };
  }
}

/**
 * The keys an alias call ties to its `userId`: Segment's `previousId` read as a visitor id and as a user
 * id (its spec allows either: "typically an anonymousId", analytics.js sends the earlier userId when there
 * is one). Both are required by Segment's spec.
 */
function aliasKeysOf(message: SegmentMessage, where: string): { user: string; previous: string[] } {
  const user = userLeadId(message.userId);
  if (!user) throw new InvalidSegmentMessage('no_userId', `${where}.userId: an alias call needs the id it ties the previous id to`);
  const previous = [visitorLeadId(message.previousId), userLeadId(message.previousId)].filter((key) => key !== undefined);
  if (previous.length === 0) throw new InvalidSegmentMessage('no_previousId', `${where}.previousId: an alias call needs the earlier id it ties`);
  return { user, previous };
}

function toEvent(message: SegmentMessage, raw: JsonObject, where: string, options: SegmentMapping): NormalizedEvent | IgnoredEvent {
  const { type, properties } = typeAndProperties(message, where);
  const time = (options.time ?? statedTime)(message, where);
  // Who it is about: the person's e-mail; else the sender's user id, else the visitor (browser) id, each
  // a lead of its own, scored as nobody until an e-mail lead takes its key (lib/store/merge.ts). The
  // ids other than the lead's are the event's links: a message with the e-mail and the visitor id is
  // what stitches the visitor's history to the person (issue 13, part 4).
  const email = leadEmail(message);
  // An alias ties its previous id to its user id: the event, on the user id's lead, links the earlier keys.
  const alias = message.type === 'alias' ? aliasKeysOf(message, where) : undefined;
  const keys = [...new Set([userLeadId(message.userId), visitorLeadId(message.anonymousId), ...(alias?.previous ?? [])])].filter((key) => key !== undefined);
  const leadKey = email ?? keys[0];
  if (!leadKey) return { sourceEventId: message.messageId, reason: 'no_email' };
  const links = keys.filter((key) => key !== leadKey);

  const contextProfile = profileFromTraits(own(message.context, 'traits'));
  // An identify call is about this person: the profile it yields always names them. A group call is about
  // their account: its fields overlay what the person's own traits say of the company.
  const profile =
    message.type === 'identify'
      ? { ...(email ? { email } : {}), ...mergeProfiles(contextProfile, profileFromTraits(message.traits)) }
      : message.type === 'group'
        ? mergeProfiles(contextProfile, profileFromGroup(String(properties.groupId), message.traits))
        : contextProfile;

  const event: NormalizedEvent = {
    leadKey,
    type,
    occurredAt: time,
    source: options.source,
    sourceEventId: message.messageId,
    properties,
    raw,
  };
  if (Object.keys(profile).length > 0) event.profile = profile;
  if (links.length > 0) event.links = links;
  return event;
}

/** The messages of a delivery: one message, or Segment's batch envelope. */
function messagesOf(body: unknown): { messages: unknown[]; batch: boolean } {
  if (!isObject(body)) throw badRequest('body must be a JSON object: one Segment message or {"batch": [messages]}');
  if (!Object.hasOwn(body, 'batch')) return { messages: [body], batch: false };
  const batch = body.batch;
  if (!Array.isArray(batch)) throw badRequest('batch must be an array of Segment messages');
  if (batch.length === 0) throw badRequest('batch holds no messages');
  if (batch.length > maxSegmentMessages) throw badRequest(`batch holds ${batch.length} messages; the limit is ${maxSegmentMessages} per delivery`);
  return { messages: batch, batch: true };
}

/** How a route maps its Segment messages. */
export interface SegmentMapping {
  /** The events' `source`: part of their key, so one route's events never collide with another's. */
  readonly source: string;
  /**
   * A malformed message of a batch: refuses the whole delivery (false: a signed backend fixes and resends
   * it), or is dropped alone and counted under its reason (true: Segment's libraries and destinations drop
   * a whole batch on a 4xx, so refusing it would lose its good messages).
   */
  readonly dropInvalid: boolean;
  /** Checks and completes a raw message before it is mapped (the tracking API: the type its path names); throws {@link InvalidSegmentMessage}. */
  prepare?(raw: JsonObject, where: string): JsonObject;
  /** The event's time; by default the message's own `timestamp`, else `originalTimestamp`, else `sentAt`. */
  time?(message: SegmentMessage, where: string): string;
}

/** One message of a delivery to its event, or to an ignored event (no e-mail, a type not scored); throws {@link InvalidSegmentMessage}. */
function mapMessage(given: unknown, where: string, options: SegmentMapping): NormalizedEvent | IgnoredEvent {
  if (!isObject(given)) throw new InvalidSegmentMessage('not_an_object', `${where}: must be a JSON object`);
  const raw = options.prepare ? options.prepare(given, where) : given;
  const parsed = messageSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path[0];
    const path = issue?.path.length ? `.${issue.path.join('.')}` : '';
    const reason = typeof field !== 'string' ? 'invalid_message' : own(raw, field) === undefined ? `no_${field}` : `invalid_${field}`;
    throw new InvalidSegmentMessage(reason, `${where}${path}: ${issue?.message ?? 'is not a Segment message'}`);
  }
  return toEvent(parsed.data, raw, where, options);
}

/**
 * Segment messages to normalized events: every message mapped once (a message repeated in the delivery
 * counts once), an invalid one refusing the delivery or dropped and counted, as `options` says. At most
 * {@link maxSegmentMessages} are taken; with `dropInvalid` the rest are dropped and counted, else refused.
 */
export function normalizeSegmentMessages(messages: readonly unknown[], batch: boolean, options: SegmentMapping): Normalized {
  if (!options.dropInvalid && messages.length > maxSegmentMessages)
    throw badRequest(`batch holds ${messages.length} messages; the limit is ${maxSegmentMessages} per delivery`);
  const events: NormalizedEvent[] = [];
  const ignored: IgnoredEvent[] = [];
  const seen = new Set<string>();
  messages.forEach((raw, index) => {
    const where = batch ? `batch[${index}]` : 'message';
    if (index >= maxSegmentMessages) {
      ignored.push({ ...idOf(raw), reason: `over_${maxSegmentMessages}_messages` });
      return;
    }
    let result: NormalizedEvent | IgnoredEvent;
    try {
      result = mapMessage(raw, where, options);
    } catch (error) {
      if (!(error instanceof InvalidSegmentMessage) || !options.dropInvalid || !batch) throw error;
      ignored.push({ ...idOf(raw), reason: error.reason });
      return;
    }
    // A batch may repeat a message (client retry merged into the next flush); it is one event.
    const id = result.sourceEventId;
    if (id !== undefined && seen.has(id)) {
      ignored.push({ sourceEventId: id, reason: 'duplicate_in_delivery' });
      return;
    }
    if (id !== undefined) seen.add(id);
    if ('leadKey' in result) events.push(result);
    else ignored.push(result);
  });
  return { events, ignored };
}

/** The message's id, when it has a usable one, for the count of what was dropped. */
function idOf(raw: unknown): { sourceEventId?: string } {
  const id = own(raw, 'messageId');
  return typeof id === 'string' && id.length > 0 && id.length <= maxKeyLength ? { sourceEventId: id } : {};
}

/**
 * Turns a verified delivery into normalized events. All or nothing: one malformed message refuses
 * the whole delivery (400), so nothing is stored partially and the sender sees which one.
 */
export function normalizeSegment(request: WebhookRequest): Normalized {
  requireContentType(request.header('content-type'), 'application/json');
  const { messages, batch } = messagesOf(parseJson(request.body));
  return normalizeSegmentMessages(messages, batch, { source: 'segment', dropInvalid: false });
}

/** `POST /webhooks/events`: Segment-shaped events signed per Standard Webhooks. */
export const segment: WebhookSource = {
  name: 'segment',
  requiredSecrets: ['EVENTS_WEBHOOK_SECRET'],
  checkSecrets(secrets) {
    if (secrets.EVENTS_WEBHOOK_SECRET) checkStandardWebhookSecret('EVENTS_WEBHOOK_SECRET', secrets.EVENTS_WEBHOOK_SECRET);
  },
  verify(request, secrets, now) {
    const secret = secrets.EVENTS_WEBHOOK_SECRET;
    // The route should not have been served at all; refuse the same way it would have.
    if (!secret) throw notFound('the events webhook is not configured (EVENTS_WEBHOOK_SECRET)');
    verifyStandardWebhook({ secret, headers: (name) => request.header(name), body: request.body, now });
  },
  normalize: normalizeSegment,
};
