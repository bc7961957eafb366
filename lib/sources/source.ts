import type { NormalizedEvent } from '../core/events.ts';
import type { HttpError } from '../http/errors.ts';
import type { Secrets } from '../runtime/config.ts';
import type { SecretKey } from '../topology.ts';

/** A webhook request as a source sees it: the exact bytes received and case-insensitive headers. */
export interface WebhookRequest {
  readonly method: string;
  /** The raw body, exactly as signed by the sender (already base64-decoded when API Gateway encoded it). */
  readonly body: Buffer;
  /** Header value by name, case-insensitive. */
  header(name: string): string | undefined;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly pathParameters: Readonly<Record<string, string | undefined>>;
}

/** An event of an authentic delivery that cannot be scored (no e-mail, unknown shape); counted, not stored. */
export interface IgnoredEvent {
  readonly sourceEventId?: string;
  readonly reason: string;
}

export interface Normalized {
  readonly events: NormalizedEvent[];
  readonly ignored: IgnoredEvent[];
}

/**
 * One provider: how its deliveries are authenticated and turned into normalized events.
 * A provider's quirks stay in its own module; nothing else knows them.
 */
export interface WebhookSource {
  readonly name: string;
  /** Secrets the route needs; while any is unset the route answers 404 (nothing accepted unauthenticated). */
  readonly requiredSecrets: readonly SecretKey[];
  /**
   * Checks authenticity over the raw bytes in constant time, before any parsing.
   * Throws an {@link HttpError} (401) when the request is not authentic.
   */
  verify(request: WebhookRequest, secrets: Secrets, now: Date): void;
  /**
   * Parses the verified body. Throws an HttpError (400) when it is not the provider's shape.
   * `now` is the receipt time (the handler always passes it), for providers whose payload carries
   * no event time at all.
   */
  normalize(request: WebhookRequest, now?: Date): Normalized;
  /**
   * Answers a GET on the route: a subscription handshake (Meta's `hub.challenge`, Mailchimp's URL
   * validation). Called after the 404-while-unconfigured check, before anything else. A source
   * without it has no GET route.
   */
  handshake?(request: WebhookRequest, secrets: Secrets): HandshakeAnswer;
  /**
   * For senders that sign a one-time value instead of the body (Mailgun signs timestamp + token):
   * the token the delivery carries. The first delivery binds the token to the body's fingerprint;
   * the same token with another body is a replay and is refused with `refusal()`. A retry of the
   * same delivery (same token, same bytes) passes, and event deduplication makes it a no-op.
   */
  replayGuard?(request: WebhookRequest, now: Date): ReplayGuard | undefined;
}

export interface HandshakeAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export interface ReplayGuard {
  readonly token: string;
  /** Hash of what the token vouches for: the body's content (a sender may re-serialize it on a retry). */
  readonly fingerprint: string;
  /** When the token may be forgotten: after the sender's own timestamp tolerance has passed. */
  readonly expiresAt: Date;
  /** The error to answer a replay with (Mailgun: 406, which stops its retries). */
  refusal(): HttpError;
}
