/**
 * Standard Webhooks (https://www.standardwebhooks.com, docs/providers/standard-webhooks.md): the signature
 * scheme of our own inbound routes (`/webhooks/events`, `/webhooks/crm`) and of the outbound MQL record.
 *
 * signature = "v1," + base64(HMAC-SHA256(base64decode(secret minus "whsec_"), id + "." + timestamp + "." + rawBody))
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { unauthorized } from './errors.ts';

/** The reference library's replay window, in seconds, applied both to old and to future timestamps. */
export const standardWebhookToleranceSeconds = 300;

const secretPrefix = 'whsec_';

/**
 * The shortest key the specification allows: a secret is the base64 of 24 to 64 random bytes
 * (docs/providers/standard-webhooks.md). A key of a byte or two can be found by trying every value.
 */
export const minStandardWebhookKeyBytes = 24;

/** A Standard Webhooks secret that must not be used: a configuration mistake of ours, never the sender's (not a 401). */
export class StandardWebhookSecretError extends Error {
  override name = 'StandardWebhookSecretError';
}

/** The HMAC key: the secret's base64 payload. A secret given without the `whsec_` prefix is accepted as is. */
function signingKey(secret: string): Buffer {
  const encoded = secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (key.length < minStandardWebhookKeyBytes) {
    throw new StandardWebhookSecretError(
      `the Standard Webhooks secret decodes to ${key.length} byte(s); it must be at least ${minStandardWebhookKeyBytes}: whsec_ + the base64 of 24 to 64 random bytes, e.g. ` +
        `node -e "console.log('whsec_' + require('node:crypto').randomBytes(32).toString('base64'))"`,
    );
  }
  return key;
}

/**
 * Checks a configured secret before it is used (a function's start, `mql secrets set`); throws a
 * {@link StandardWebhookSecretError} that names the setting, never its value.
 */
export function checkStandardWebhookSecret(name: string, secret: string): void {
  try {
    signingKey(secret);
  } catch (error) {
    throw new StandardWebhookSecretError(`${name}: ${(error as Error).message}`);
  }
}

function hmac(key: Buffer, id: string, timestamp: number | string, body: string | Buffer): Buffer {
  // The signed bytes are id.timestamp. followed by the body exactly as sent: feeding the Buffer
  // to the HMAC (never a re-serialized or re-decoded string) keeps the check byte-exact.
  return createHmac('sha256', key)
    .update(`${id}.${timestamp}.`, 'utf8')
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest();
}

/**
 * Signs one delivery attempt.
 *
 * @param timestamp - unix seconds of this attempt (a retry is signed again with its own time).
 * @returns the `webhook-signature` header value, `v1,<base64>`.
 */
export function signStandardWebhook(input: { secret: string; id: string; timestamp: number; body: string | Buffer }): string {
  return `v1,${hmac(signingKey(input.secret), input.id, input.timestamp, input.body).toString('base64')}`;
}

/** The headers of a signed JSON delivery: `webhook-id` (stable across a message's retries), `webhook-timestamp`, `webhook-signature`. */
export function standardWebhookHeaders(input: { secret: string; id: string; timestamp: number; body: string | Buffer }): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': signStandardWebhook(input),
  };
}

/**
 * Checks a delivery's `webhook-id`, `webhook-timestamp` and `webhook-signature` over the raw body,
 * before anything parses it.
 *
 * @param headers - header lookup; names are asked in lower case, so pass a case-insensitive lookup.
 * @param now - the receipt time (a parameter, so tests and replays are deterministic).
 * @returns the message id (the sender's idempotency key) and the attempt's timestamp in unix seconds.
 * @throws HttpError 401 `unauthorized` when a header is missing, the timestamp is not an integer or
 *   outside the tolerance, or no `v1` signature matches.
 */
export function verifyStandardWebhook(input: {
  secret: string;
  headers: (name: string) => string | undefined;
  body: Buffer;
  now: Date;
  toleranceSeconds?: number;
}): { id: string; timestamp: number } {
  const tolerance = input.toleranceSeconds ?? standardWebhookToleranceSeconds;
  const id = input.headers('webhook-id');
  const timestampHeader = input.headers('webhook-timestamp');
  const signatureHeader = input.headers('webhook-signature');
  if (!id) throw unauthorized('missing webhook-id header');
  if (!timestampHeader) throw unauthorized('missing webhook-timestamp header');
  if (!signatureHeader) throw unauthorized('missing webhook-signature header');

  // Digits only: "1.5e9", "-1" or " 12abc" must not slip through Number()'s leniency.
  const timestamp = /^\d{1,15}$/.test(timestampHeader) ? Number(timestampHeader) : Number.NaN;
  if (!Number.isSafeInteger(timestamp)) {
    throw unauthorized('webhook-timestamp must be an integer number of unix seconds');
  }
  const nowSeconds = Math.floor(input.now.getTime() / 1000);
  if (nowSeconds - timestamp > tolerance) {
    throw unauthorized(`webhook-timestamp is ${nowSeconds - timestamp} s old; the tolerance is ${tolerance} s`);
  }
  if (timestamp - nowSeconds > tolerance) {
    throw unauthorized(`webhook-timestamp is ${timestamp - nowSeconds} s in the future; the tolerance is ${tolerance} s`);
  }

  // The header's own text is what was signed (a leading zero would change the bytes).
  const expected = hmac(signingKey(input.secret), id, timestampHeader, input.body);
  // Several signatures may be present (key rotation); any v1 match suffices, other schemes
  // (v1a = ed25519) are not ours to check. Every candidate is compared, without early exit.
  let matched = false;
  for (const candidate of signatureHeader.split(' ')) {
    const comma = candidate.indexOf(',');
    if (comma < 0 || candidate.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(candidate.slice(comma + 1), 'base64');
    // timingSafeEqual throws on a length mismatch, and a short value cannot match anyway.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw unauthorized('no v1 signature in webhook-signature matches the body');
  return { id, timestamp };
}
