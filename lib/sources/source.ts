import type { NormalizedEvent } from '../core/events.ts';
import type { ScoringModel } from '../core/model.ts';
import type { CorsPolicy } from '../http/cors.ts';
import type { HttpError } from '../http/errors.ts';
import type { Failure } from '../queue/settlement.ts';
import type { Secrets } from '../runtime/config.ts';
import type { QueueName, SecretKey } from '../topology.ts';

/** A webhook request as a source sees it: the exact bytes received and case-insensitive headers. */
export interface WebhookRequest {
  readonly method: string;
  /** The raw body, exactly as signed by the sender (already base64-decoded when API Gateway encoded it). */
  readonly body: Buffer;
  /** Header value by name, case-insensitive. */
  header(name: string): string | undefined;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly pathParameters: Readonly<Record<string, string | undefined>>;
  /** The path as received (`/webhooks/hubspot`), for senders that sign the URL. */
  readonly path?: string;
  /** The query string as received, undecoded. */
  readonly rawQueryString?: string;
  /** The API's own host name, when the request names none. */
  readonly domainName?: string;
}

/** The environment a source may read settings from (the Lambda's, or the local stack's). */
export type Env = Readonly<Record<string, string | undefined>>;

/** An event of an authentic delivery that cannot be scored (no e-mail, unknown shape); counted, not stored. */
export interface IgnoredEvent {
  readonly sourceEventId?: string;
  readonly reason: string;
}

/** What a verified delivery holds. */
export interface Normalized<Pending = never> {
  readonly events: NormalizedEvent[];
  readonly ignored: IgnoredEvent[];
  /**
   * Items that need the source's async step before they are events: looked up in the request
   * ({@link WebhookSource.lookup}) or queued and fetched later ({@link WebhookSource.fetch}).
   */
  readonly pending?: Pending[];
  /** How many items the delivery carried, when that is not events + ignored + pending. */
  readonly received?: number;
}

/**
 * One provider: how its deliveries are authenticated and turned into normalized events, and the async
 * step, if any, that completes them. One handler (lib/ingest/webhook.ts) runs every source; a provider's
 * quirks stay in its own module under lib/sources/, and nothing else knows them. docs/adding-a-source.md
 * walks through adding one.
 */
export interface WebhookSource<Pending = never> {
  readonly name: string;
  /** Secrets the route needs; while any is unset the route answers 404 (nothing accepted unauthenticated). */
  readonly requiredSecrets: readonly SecretKey[];
  /**
   * Optional: the route is called by browsers from other origins (the tracking API from analytics.js). The
   * allowed origins are the secret key `originsKey` (comma-separated); lib/http/cors.ts says what is answered.
   */
  readonly cors?: { readonly policy: CorsPolicy; readonly originsKey: SecretKey };
  /** Fields the 200 answer carries besides the counts (Segment's libraries and tools look for `{"success": true}`). */
  readonly acknowledgement?: Readonly<Record<string, unknown>>;
  /**
   * Checks settings read from the environment when the function starts, so a bad one stops it before it
   * takes traffic (throws with a message that names the setting).
   */
  checkSettings?(env: Env): void;
  /**
   * Checks the form of the configured secrets (a Standard Webhooks key's length) when the function starts and
   * whenever they are read again; throws a message that names the key, never its value. A weak secret is our
   * mistake: the delivery is answered 503 (retried), never accepted.
   */
  checkSecrets?(secrets: Secrets): void;
  /**
   * Checks authenticity over the raw bytes in constant time, before any parsing.
   * Throws an {@link HttpError} (401) when the request is not authentic.
   */
  verify(request: WebhookRequest, secrets: Secrets, now: Date, env?: Env): void;
  /**
   * Parses the verified body. Throws an HttpError (400) when it is not the provider's shape.
   * `now` is the receipt time, for providers whose payload carries no event time at all.
   */
  normalize(request: WebhookRequest, now?: Date, env?: Env): Normalized<Pending>;
  /**
   * Answers a GET on the route: a subscription handshake (Meta's `hub.challenge`, Mailchimp's URL
   * validation), or what a sender loads before it sends (the settings analytics.js loads). Called after the 404-while-unconfigured check, before anything else. A source
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
  /** The async step done within the request: pending items looked up into events (HubSpot: a contact to its lead). */
  readonly lookup?: LookupStep<Pending>;
  /**
   * The async step done after the answer ("notify, then fetch"): pending items are queued, deduplicated by
   * their id, and the queue's consumer fetches each record (Facebook: the lead from the Graph API).
   */
  readonly fetch?: FetchStep<Pending>;
}

export interface HandshakeAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  /** Other response headers (`cache-control`). */
  readonly headers?: Readonly<Record<string, string>>;
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

/** What an async step may use: the secrets, the settings, and the leads already known. */
export interface StepContext {
  readonly secrets: Secrets;
  readonly env: Env;
  readonly model: ScoringModel;
  readonly now: Date;
  readonly leads: {
    /** The lead a CRM record belongs to (the link the handoff wrote when it delivered the lead there). */
    leadIdForCrmRecord(adapter: string, externalId: string): Promise<string | undefined>;
    /** A stored lead: its id, and the lead that absorbed it if it was merged. */
    getLead(leadId: string): Promise<{ leadId: string; mergedInto?: string } | undefined>;
  };
}

export interface LookupResult {
  readonly events: NormalizedEvent[];
  readonly ignored: IgnoredEvent[];
  /**
   * A lookup that failed just now: what could be looked up is stored, and the sender is answered 503 so
   * that it retries the whole delivery (the stored events deduplicate).
   */
  readonly unavailable?: Error;
}

export type LookupStep<Pending> = (pending: readonly Pending[], context: StepContext) => Promise<LookupResult>;

/** "Notify, then fetch": how a source's pending items travel through its queue and become events. */
export interface FetchStep<Pending> {
  /** The queue (lib/topology.ts) whose consumer fetches the records. */
  readonly queue: QueueName;
  /** What one item is called in log lines: `facebook lead`. */
  readonly noun: string;
  /** The platform's id of an item: deduplicated before it is queued, and the event's id once fetched. */
  idOf(item: Pending): string;
  /** The queue message's body for an item, and back; `read` answers undefined for a body that never will be one. */
  write(item: Pending): string;
  read(body: string): Pending | undefined;
  /** Why an unreadable message goes to the DLQ. */
  readonly unreadable: string;
  /**
   * Fetches the item's record and normalizes it into its event. Throws what {@link failureOf} classifies:
   * a rate limit or outage is retried, an invalid token or a missing record goes to the DLQ.
   */
  event(item: Pending, context: Omit<StepContext, 'leads'>): Promise<NormalizedEvent>;
  failureOf(error: unknown): Failure;
  /** What the operator does about an item that goes to the DLQ. */
  fix(failure: Failure): string;
}
