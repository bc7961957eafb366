/**
 * Segment's "Webhooks (Actions)" destination and Customer.io Data Pipelines' webhook destination
 * (`POST /webhooks/segment`): Segment messages as those platforms forward them, one per request or
 * batched as a bare JSON array, signed in `X-Signature` (docs/providers/segment-webhook.md).
 *
 * - Signature: lowercase hex HMAC-SHA1 keyed with SEGMENT_WEBHOOK_SECRET, compared in constant time. Of a
 *   single message, over the raw body. Of a batch, Segment signs `JSON.stringify(body[0])`, the first
 *   message alone (its action-destinations code, `webhook/index.ts` `extendRequest`, and its documentation:
 *   "Segment signs the first event in the batch rather than the whole batch"). Customer.io's documentation
 *   describes the signature as Segment's does, without a word on batches. So a signature over the whole raw
 *   body is accepted first, and for an array, one over the re-serialized first element. What that leaves
 *   open (the rest of a batch is unsigned; nothing is timestamped, so a delivery can be replayed) is in
 *   docs/security.md, "Known limits".
 * - Time: the message's `timestamp`, which Segment has already corrected for the sender's clock
 *   (`receivedAt - (sentAt - originalTimestamp)`), so it is the same on each of its retries.
 * - What a 4xx costs: Segment retries 5xx, 408, 423 and 429 only, so a malformed message of a batch is
 *   dropped alone and counted in `ignoredReasons`, never the batch. A single malformed message is a 400.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { badRequest, notFound, unauthorized } from '../http/errors.ts';
import { isObject } from '../http/json.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import type { Secrets } from '../runtime/config.ts';
import { normalizeSegmentMessages } from './segment.ts';
import type { Normalized, WebhookRequest, WebhookSource } from './source.ts';

const hexSha1 = /^[0-9a-fA-F]{40}$/;

const hmacSha1 = (secret: string, data: Buffer | string) => createHmac('sha1', secret).update(data).digest();

/** The first element of a JSON array body, re-serialized as the sender serialized it (JSON.stringify), or undefined. */
function firstOfBatch(body: Buffer): string | undefined {
  // Only an array can be a batch; anything else is not parsed before it is authenticated.
  const start = body.findIndex((byte) => byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09);
  if (start === -1 || body[start] !== 0x5b) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  return Array.isArray(parsed) && parsed.length > 0 && parsed[0] !== undefined ? JSON.stringify(parsed[0]) : undefined;
}

function verifySegmentWebhook(request: WebhookRequest, secrets: Secrets): void {
  const secret = secrets.SEGMENT_WEBHOOK_SECRET;
  // The route should not have been served at all; refuse the same way it would have.
  if (!secret) throw notFound('the segment webhook is not configured (SEGMENT_WEBHOOK_SECRET)');
  const header = request.header('x-signature')?.trim() ?? '';
  if (!hexSha1.test(header)) throw unauthorized('X-Signature must be the hex HMAC-SHA1 of the body (40 hex digits): set the shared secret in the destination');
  const given = Buffer.from(header, 'hex');
  if (timingSafeEqual(given, hmacSha1(secret, request.body))) return;
  const first = firstOfBatch(request.body);
  if (first !== undefined && timingSafeEqual(given, hmacSha1(secret, first))) return;
  throw unauthorized('X-Signature does not match the body (nor, for a batch, its first message)');
}

function normalizeSegmentWebhook(request: WebhookRequest): Normalized {
  requireContentType(request.header('content-type'), 'application/json');
  const body = parseJson(request.body);
  if (Array.isArray(body)) {
    if (body.length === 0) throw badRequest('batch holds no messages');
    return normalizeSegmentMessages(body, true, { source: 'segment-webhook', dropInvalid: true });
  }
  if (!isObject(body)) throw badRequest('body must be one Segment message (a JSON object) or a batch of them (a JSON array)');
  return normalizeSegmentMessages([body], false, { source: 'segment-webhook', dropInvalid: true });
}

/** `POST /webhooks/segment`: Segment's and Customer.io's webhook destinations, `X-Signature` keyed with SEGMENT_WEBHOOK_SECRET. */
export const segmentWebhook: WebhookSource = {
  name: 'segment-webhook',
  requiredSecrets: ['SEGMENT_WEBHOOK_SECRET'],
  verify: verifySegmentWebhook,
  normalize: normalizeSegmentWebhook,
};
