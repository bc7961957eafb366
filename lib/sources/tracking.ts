/**
 * Segment's HTTP tracking API (`POST /v1/{call}`), as Segment's and RudderStack's libraries send it, so
 * that `@segment/analytics-node` or `@rudderstack/rudder-sdk-node` is pointed at the engine by changing its
 * host alone (docs/providers/tracking.md).
 *
 * - Calls: `/v1/batch` and `/v1/b` take `{"batch": [messages], "sentAt"?, "writeKey"?, "context"?}`;
 *   `/v1/track`, `/identify`, `/page`, `/screen`, `/group`, `/alias` and their one-letter forms
 *   (`/v1/t`, `/i`, `/p`, `/s`, `/g`, `/a`) take one message, whose `type` the path supplies when absent.
 * - Authentication: a write key of TRACKING_WRITE_KEY (comma-separated), as HTTP Basic user name (the
 *   password empty, the colon optional), or as `writeKey` in the envelope or in the messages. rudder-sdk-node
 *   sends Basic only; analytics-node up to 3.0 the envelope's `writeKey` only; 3.1 both. Every key a
 *   request names must be the same configured key, compared in constant time.
 * - Bodies: whatever the Content-Type (analytics.js sends text/plain; rudder-sdk-node declares its gzipped
 *   bytes `application/x-www-form-urlencoded`), `Content-Encoding: gzip` inflated first, within the same 1 MiB as every body (a gzip bomb is a 413).
 *   Segment's limits: 32 KB a message, 500 KB a batch.
 * - What a 4xx costs: every library drops a whole batch on a 4xx and retries only 429 and 5xx. So a batch is
 *   refused only when it is not a batch at all or over 500 KB; a message in it that cannot be stored (no
 *   `messageId`, no user or anonymous id, over 32 KB, a time that is not ISO 8601, ...) is dropped alone
 *   and counted in `ignoredReasons`. A one-message request is refused with a 400 that says why.
 * - Time: Segment's clock-skew correction, `receivedAt - (sentAt - timestamp)`, with the correction rounded
 *   to whole quarter hours so that a sender's retry maps to the same event key ({@link trackingTime}).
 * - Messages without an e-mail address (anonymous visitors) are acknowledged and counted, as on
 *   POST /webhooks/events (`no_email`).
 * - Browsers (analytics.js, `@segment/analytics-next`): `GET /v1/projects/{writeKey}/settings` answers the
 *   settings it loads from its `cdnURL` ({@link trackingSettings}), and CORS for the origins of
 *   TRACKING_ALLOWED_ORIGINS ({@link trackingCors}; docs/providers/tracking.md#in-the-browser).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { allowedOriginsOf, type CorsPolicy } from '../http/cors.ts';
import { badRequest, notFound, payloadTooLarge, unauthorized, unsupportedMediaType } from '../http/errors.ts';
import type { JsonObject } from '../http/json.ts';
import { isObject, own } from '../http/json.ts';
import { maxBodyBytes, parseJson } from '../http/request.ts';
import type { Secrets } from '../runtime/config.ts';
import type { SegmentCall, SegmentMessage } from './segment.ts';
import { InvalidSegmentMessage, messageTime, normalizeSegmentMessages } from './segment.ts';
import type { HandshakeAnswer, Normalized, WebhookRequest, WebhookSource } from './source.ts';

/** Segment's limit of one message (its tracking API documentation: "32KB per call"). */
export const maxTrackingMessageBytes = 32 * 1024;
/** Segment's limit of one batch request ("500KB per batch request"). */
export const maxTrackingBatchBytes = 500 * 1024;
/** The shortest write key TRACKING_WRITE_KEY may hold: a key of a few characters can be found by trying each. */
export const minWriteKeyLength = 8;
/**
 * The step the clock-skew correction is rounded to. A sender whose clock is within 7.5 minutes of ours keeps
 * its own timestamps to the millisecond; one whose clock is off by more (a wrong time zone, a device never
 * synchronized) is corrected to within 7.5 minutes, which the model's half-lives (days) cannot tell apart.
 * Rounding is what keeps deduplication: the event's time is part of its key, and a retry's `sentAt` and
 * receipt time differ from the first attempt's by the transit and the back-off, not by a quarter hour.
 */
export const skewStepMs = 15 * 60 * 1000;

type Call = SegmentCall | 'batch';

/** The path's last segment to its call: Segment's own names and analytics.js's one-letter forms. */
const calls: Readonly<Record<string, Call>> = {
  batch: 'batch',
  b: 'batch',
  track: 'track',
  t: 'track',
  identify: 'identify',
  i: 'identify',
  page: 'page',
  p: 'page',
  screen: 'screen',
  s: 'screen',
  group: 'group',
  g: 'group',
  alias: 'alias',
  a: 'alias',
};

function callOf(request: WebhookRequest): Call {
  const name = request.pathParameters.call ?? /^\/v1\/([^/]+)$/.exec(request.path ?? '')?.[1] ?? '';
  const call = Object.hasOwn(calls, name) ? calls[name] : undefined;
  if (!call) throw notFound(`no tracking call /v1/${name.slice(0, 40)}: batch, track, identify, page, screen, group, alias (or b, t, i, p, s, g, a)`);
  return call;
}

/** The write keys of TRACKING_WRITE_KEY: comma-separated, blanks around each ignored. */
export function writeKeysOf(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
}

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Whether `given` is one of the keys, in time that depends on neither's content: every key is compared, each as a 32-byte hash. */
function isWriteKey(given: string, keys: readonly string[]): boolean {
  const digest = sha256(given);
  let matched = false;
  for (const key of keys) if (timingSafeEqual(digest, sha256(key))) matched = true;
  return matched;
}

/**
 * The user name of a Basic `Authorization` header: the write key. Segment's documentation asks for
 * `base64(key + ":")` and says a key without the colon still works, so the user is what comes before the
 * first colon, or all of it. Undefined without a Basic header (an OAuth Bearer token is not ours to check:
 * the key in the body authenticates).
 */
function basicUser(authorization: string | undefined): string | undefined {
  const [scheme = '', token = '', ...rest] = (authorization?.trim() ?? '').split(/[ \t]+/);
  if (scheme.toLowerCase() !== 'basic') return undefined;
  const decoded = Buffer.from(token, 'base64');
  // Canonical base64 only: Buffer.from skips what is not base64, so "Basic !!!" would decode to something.
  if (rest.length > 0 || token === '' || decoded.toString('base64').replace(/=+$/, '') !== token.replace(/=+$/, ''))
    throw unauthorized('the Basic credentials are not base64');
  const text = decoded.toString('utf8');
  const colon = text.indexOf(':');
  return colon === -1 ? text : text.slice(0, colon);
}

/** A request's body inflated and parsed, once (verify needs it for the key in the body, normalize for the rest). */
interface Decoded {
  readonly bytes: number;
  readonly value: unknown;
}
const decodedBodies = new WeakMap<WebhookRequest, Decoded>();

/**
 * The body as sent before its Content-Encoding: gzip (rudder-sdk-node's default) is inflated, and may not
 * inflate past the 1 MiB every body is held to (inflating stops there: a gzip bomb costs 1 MiB, not its
 * claimed size). Any Content-Type: it is read as JSON whatever it says.
 */
function decodedBody(request: WebhookRequest): Decoded {
  const known = decodedBodies.get(request);
  if (known) return known;
  const encoding = request.header('content-encoding')?.trim().toLowerCase() || 'identity';
  let body: Buffer;
  if (encoding === 'identity') body = request.body;
  else if (encoding === 'gzip' || encoding === 'x-gzip') {
    try {
      body = gunzipSync(request.body, { maxOutputLength: maxBodyBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        throw payloadTooLarge(`the gzip body inflates to more than ${maxBodyBytes} bytes, the limit of a body`);
      throw badRequest(`the body is not valid gzip (Content-Encoding: gzip): ${(error as Error).message}`, error);
    }
  } else throw unsupportedMediaType(`Content-Encoding ${encoding.slice(0, 40)} is not supported: send gzip or no encoding`);
  const decoded = { bytes: body.length, value: parseJson(body) };
  decodedBodies.set(request, decoded);
  return decoded;
}

/** Every write key a body names: the envelope's and each message's `writeKey` (analytics.js puts one in every message). */
function keysInBody(body: unknown): string[] {
  const keys: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === 'string' && value.trim() !== '') keys.push(value.trim());
  };
  add(own(body, 'writeKey'));
  const batch = own(body, 'batch');
  if (Array.isArray(batch)) for (const message of batch) add(own(message, 'writeKey'));
  return keys;
}

function verifyTracking(request: WebhookRequest, secrets: Secrets): void {
  const keys = writeKeysOf(secrets.TRACKING_WRITE_KEY);
  // The route should not have been served at all; refuse the same way it would have.
  if (keys.length === 0) throw notFound('the tracking API is not configured (TRACKING_WRITE_KEY)');
  callOf(request);
  // The header first: a request with a wrong Basic key is refused before its body is inflated or parsed.
  const fromHeader = basicUser(request.header('authorization'));
  if (fromHeader !== undefined && !isWriteKey(fromHeader, keys)) throw unauthorized('the write key (the Basic user name) is not one of TRACKING_WRITE_KEY');
  const named = [...(fromHeader === undefined ? [] : [fromHeader]), ...keysInBody(decodedBody(request).value)];
  const key = named[0];
  if (key === undefined) throw unauthorized('no write key: send it as the HTTP Basic user name (empty password), or as writeKey in the body');
  if (named.some((other) => other !== key)) throw unauthorized('the request names more than one write key (Basic user, envelope and messages must agree)');
  if (fromHeader === undefined && !isWriteKey(key, keys)) throw unauthorized('the writeKey is not one of TRACKING_WRITE_KEY');
}

/**
 * The event's time by Segment's rule (its spec, "Timestamps"): `timestamp = receivedAt - (sentAt -
 * originalTimestamp)`, where the original is the message's `timestamp` (Segment's libraries; a time the
 * caller set) or `originalTimestamp` (rudder-sdk-node), `sentAt` the message's or else the envelope's,
 * and `receivedAt` the time the request reached us. The correction `receivedAt - sentAt` (the sender's
 * clock error plus the transit) is rounded to {@link skewStepMs}. Without `sentAt` the original is taken
 * as it is; without an original, `sentAt` stands for it. A message with neither is dropped: the receipt
 * time would differ on every retry, and the retry would count twice.
 */
export function trackingTime(message: SegmentMessage, envelopeSentAt: unknown, receivedAt: Date, where: string): string {
  const originalField = message.timestamp != null ? 'timestamp' : message.originalTimestamp != null ? 'originalTimestamp' : undefined;
  const original = originalField === undefined ? undefined : messageTime(message[originalField] ?? '', `${where}.${originalField}`);
  const sentAtValue = message.sentAt ?? (typeof envelopeSentAt === 'string' ? envelopeSentAt : undefined);
  const sentAt = sentAtValue == null ? undefined : messageTime(sentAtValue, message.sentAt != null ? `${where}.sentAt` : 'sentAt');
  const base = original ?? sentAt;
  if (base === undefined) throw new InvalidSegmentMessage('no_timestamp', `${where}: needs timestamp, originalTimestamp or sentAt (the event's own time)`);
  const correction = sentAt === undefined ? 0 : Math.round((receivedAt.getTime() - sentAt) / skewStepMs) * skewStepMs;
  const time = new Date(base + correction);
  if (Number.isNaN(time.getTime())) throw new InvalidSegmentMessage('invalid_timestamp', `${where}: the corrected time is out of range`);
  return time.toISOString();
}

/** A user or anonymous id, as Segment requires of every message (rudder-sdk-node turns numbers into strings). */
function hasIdentity(message: JsonObject): boolean {
  return [own(message, 'userId'), own(message, 'anonymousId')].some(
    (id) => (typeof id === 'string' && id.trim() !== '') || (typeof id === 'number' && Number.isFinite(id)),
  );
}

function normalizeTracking(request: WebhookRequest, now = new Date()): Normalized {
  const call = callOf(request);
  const { bytes, value: body } = decodedBody(request);
  if (!isObject(body)) throw badRequest(call === 'batch' ? 'body must be {"batch": [messages]}' : 'body must be one Segment message (a JSON object)');
  if (call === 'batch') {
    if (bytes > maxTrackingBatchBytes)
      throw badRequest(
        `the batch is ${bytes} bytes; Segment's limit is 500 KB (${maxTrackingBatchBytes} bytes) a batch request: send fewer messages per batch`,
      );
    const batch = own(body, 'batch');
    if (!Array.isArray(batch)) throw badRequest('body must be {"batch": [messages]}: batch must be an array of Segment messages');
    if (batch.length === 0) throw badRequest('batch holds no messages');
  } else if (bytes > maxTrackingMessageBytes) {
    throw badRequest(`the message is ${bytes} bytes; Segment's limit is 32 KB (${maxTrackingMessageBytes} bytes) a message`);
  }

  // A browser (a request with an Origin, which lib/http/cors.ts allowed) holds a public key: page, track and
  // identify only (docs/security.md#browser-write-keys).
  const fromBrowser = request.header('origin') !== undefined;
  const envelopeContext = call === 'batch' ? own(body, 'context') : undefined;
  const envelopeSentAt = call === 'batch' ? own(body, 'sentAt') : undefined;
  const messages = call === 'batch' ? (own(body, 'batch') as unknown[]) : [body];
  return normalizeSegmentMessages(messages, call === 'batch', {
    source: 'tracking',
    dropInvalid: true,
    prepare(raw, where) {
      // The write key is a credential: it is checked above and never kept with the raw payload.
      const { writeKey: _writeKey, ...message } = raw;
      if (call === 'batch' && Buffer.byteLength(JSON.stringify(raw)) > maxTrackingMessageBytes)
        throw new InvalidSegmentMessage('message_too_large', `${where}: over Segment's limit of 32 KB (${maxTrackingMessageBytes} bytes) a message`);
      if (call !== 'batch') {
        if (message.type === undefined) message.type = call;
        else if (message.type !== call)
          throw new InvalidSegmentMessage('type_mismatch', `${where}.type: ${JSON.stringify(message.type)} sent to the ${call} call`);
      }
      if (fromBrowser && typeof message.type === 'string' && notFromBrowsers.includes(message.type))
        throw new InvalidSegmentMessage(
          `not_from_a_browser:${message.type}`,
          `${where}: a browser's write key is public, so a browser may send page, track, identify and group only; send ${message.type} calls from your backend`,
        );
      if (!hasIdentity(message)) throw new InvalidSegmentMessage('no_user_or_anonymous_id', `${where}: needs a userId or an anonymousId`);
      // Segment merges the envelope's context into each message's; the message's own keys win.
      if (isObject(envelopeContext)) message.context = { ...envelopeContext, ...(isObject(message.context) ? message.context : {}) };
      return message;
    },
    time: (message, where) => trackingTime(message, envelopeSentAt, now, where),
  });
}

/**
 * What browsers may do on the tracking API's routes. Headers: analytics.js 1.84+ sends `Authorization` (Basic,
 * the write key) and, on a retry, `X-Retry-Count`, besides `Content-Type: text/plain`; it reads `Retry-After`
 * of a 429 (docs/providers/tracking.md#in-the-browser). An hour's preflight cache: Chromium keeps at most 2.
 */
export const trackingCors: CorsPolicy = {
  methods: ['POST', 'GET'],
  headers: ['Authorization', 'Content-Type', 'X-Retry-Count'],
  exposeHeaders: ['Retry-After'],
  maxAgeSeconds: 3600,
};

/**
 * Calls a browser may not send: its key is public, so it may say what a visitor views and does, who they say
 * they are and the account they say they belong to (`group`: an `identify` can say as much with its
 * `company` trait, so refusing it would protect nothing and lose the call analytics.js sends for it), but
 * not tie identities together (`alias`); `screen` is not a browser's call.
 */
export const notFromBrowsers: readonly string[] = ['alias', 'screen'];

const settingsPath = /^(.*)\/v1\/projects\/[^/]+\/settings$/;

/**
 * Where analytics.js is to send: `host[/prefix]/v1` (its `apiHost` has no scheme) and the protocol. The host
 * is the request's `Host` where it names the API's own domain (locally, with its port), else API Gateway's
 * `domainName`: the settings cannot be pointed at another host by a forged header. The protocol is the first
 * `X-Forwarded-Proto` (API Gateway: https; the local stack: http). A prefix before `/v1` in the path (a
 * stage, an API mapping, as API Gateway passes it) is kept.
 */
export function trackingApiHost(request: WebhookRequest): { apiHost: string; protocol: 'http' | 'https' } {
  const given = request.header('host')?.trim().toLowerCase();
  const domain = request.domainName?.toLowerCase();
  const host = given && (domain === undefined || given.replace(/:\d+$/, '') === domain) ? given : (domain ?? given ?? 'localhost');
  const proto = request.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  const prefix = settingsPath.exec(request.path ?? '')?.[1] ?? '';
  return { apiHost: `${host}${prefix}/v1`, protocol: proto === 'http' ? 'http' : 'https' };
}

/**
 * The settings analytics.js loads from `<cdnURL>/v1/projects/<writeKey>/settings`, so a site needs no Segment
 * account: one integration, Segment.io, pointed back at this API with the key, and nothing that loads code
 * from elsewhere. More integrations would load analytics.js's legacy destinations; `metrics.sampleRate: 0`
 * keeps its telemetry (`/v1/m`) from being sent at all, here or to Segment. `apiKey` is what analytics.js
 * puts in each message and its Basic header (not the key it was loaded with).
 */
export function trackingSettings(writeKey: string, api: { apiHost: string; protocol: 'http' | 'https' }) {
  return {
    integrations: { 'Segment.io': { apiKey: writeKey, apiHost: api.apiHost, protocol: api.protocol } },
    metrics: { sampleRate: 0 },
  };
}

/** `GET /v1/projects/{writeKey}/settings`: an unknown key is a 404, as for a project that does not exist. */
function settingsAnswer(request: WebhookRequest, secrets: Secrets): HandshakeAnswer {
  const key = request.pathParameters.writeKey ?? '';
  if (key === '' || !isWriteKey(key, writeKeysOf(secrets.TRACKING_WRITE_KEY))) throw notFound('no project has this write key (TRACKING_WRITE_KEY)');
  return {
    status: 200,
    contentType: 'application/json',
    // Five minutes in the browser's cache, as a website's page views would otherwise load it on every page.
    headers: { 'cache-control': 'private, max-age=300' },
    body: JSON.stringify(trackingSettings(key, trackingApiHost(request))),
  };
}

/** `POST /v1/{call}`: Segment's HTTP tracking API, authenticated by a write key of TRACKING_WRITE_KEY. */
export const tracking: WebhookSource = {
  name: 'tracking',
  requiredSecrets: ['TRACKING_WRITE_KEY'],
  acknowledgement: { success: true },
  cors: { policy: trackingCors, originsKey: 'TRACKING_ALLOWED_ORIGINS' },
  handshake: settingsAnswer,
  checkSecrets(secrets) {
    allowedOriginsOf(secrets.TRACKING_ALLOWED_ORIGINS, 'TRACKING_ALLOWED_ORIGINS');
    const value = secrets.TRACKING_WRITE_KEY;
    if (value === undefined) return;
    const keys = writeKeysOf(value);
    if (keys.length === 0) throw new Error('TRACKING_WRITE_KEY: no write key (comma-separated keys)');
    const short = keys.find((key) => key.length < minWriteKeyLength);
    if (short !== undefined)
      throw new Error(`TRACKING_WRITE_KEY: a write key is ${short.length} character(s); each must be at least ${minWriteKeyLength} (comma-separated keys)`);
  },
  verify: verifyTracking,
  normalize: normalizeTracking,
};
