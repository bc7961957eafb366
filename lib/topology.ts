/**
 * The one description of what runs where: every HTTP route, queue and schedule, and the
 * Lambda handler that serves it. `cdk/` builds the AWS stack from this file and `lib/local/`
 * builds the embedded local stack from it, so a route added here exists in both.
 *
 * Handler names map to `lambdas/<name>.ts`, each exporting `handler`.
 */

/** A Lambda function of the pipeline. */
export interface FunctionSpec {
  /**
   * What the function runs, one of:
   * - `entry`: a file under `lambdas/` (without extension) that exports `handler`;
   * - `source`: a source's webhook route, the module `lib/sources/<source>.ts` run by the one ingest
   *   handler (lib/ingest/webhook.ts);
   * - `fetchesFor`: a "notify, then fetch" source's queue consumer (lib/ingest/fetch.ts).
   * For a source the handler module is generated ({@link sourceHandlerModule}): adding a provider is its
   * module under lib/sources/ and its lines here.
   */
  readonly entry?: string;
  readonly source?: string;
  readonly fetchesFor?: string;
  readonly description: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** Which secret keys (docs/operator-contract.md, "Secrets") the function reads. */
  readonly secrets: readonly SecretKey[];
  /** Queues the function sends to (by queue name in {@link queues}). */
  readonly sendsTo: readonly QueueName[];
  /**
   * Queues whose messages the function, as their consumer, settles itself: it holds a message back
   * (ChangeMessageVisibility, for a growing retry delay) and moves one that no retry can fix straight
   * to the queue's dead-letter queue. It learns both URLs ({@link queueUrlEnv}, {@link dlqUrlEnv}) and
   * may send to that DLQ.
   */
  readonly deadLettersTo?: readonly QueueName[];
  /**
   * The DynamoDB actions the function's code calls, and nothing more: its role is granted exactly these on
   * the table (docs/security.md). A TransactWriteItems is authorized per item, as PutItem, UpdateItem,
   * DeleteItem or ConditionCheckItem. test/setup/table-grants.ts records every call the integration tests'
   * handlers make and fails a test whose function called an action missing here.
   */
  readonly table: TableAccess;
  /**
   * Reserved concurrency: at most this many instances run at once (the handoff: the CRM's API limit is
   * per account, so a burst of MQLs must not fan out into more parallel calls than it allows).
   */
  readonly reservedConcurrency?: number;
}

import { ingestTable, type SecretKey, type TableAccess } from './grants.ts';

export type HttpMethod = 'GET' | 'POST' | 'OPTIONS';

export interface RouteSpec {
  readonly method: HttpMethod;
  /** API Gateway HTTP API path, with `{param}` placeholders. */
  readonly path: string;
  readonly handler: HandlerName;
  /** `iam`: signed AWS requests only (operators); `none`: public, the handler authenticates the sender. */
  readonly auth: 'none' | 'iam';
  /**
   * How a request on this route is authenticated, in a sentence: what the sender proves, with which secret,
   * over which bytes. cdk-nag's APIG4 acknowledgement of a public route and docs/security.md's route table
   * are this text (test/unit/docs-security.test.ts keeps the page in step).
   */
  readonly authentication: string;
  /**
   * A throttle of this route in the AWS stack (the HTTP API stage's route settings) instead of the stage's
   * default, which every other route gets for itself. HTTP APIs throttle per route, not per client: this caps
   * what a public credential (a browser's write key) can make the stack spend in Lambda concurrency and
   * table writes, which all functions share (docs/security.md, "Browser write keys").
   */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

/** The throttle of the tracking API's routes, which browsers reach with a public write key (docs/security.md). */
export const trackingThrottle = { rateLimit: 50, burstLimit: 100 } as const;

/** How a queue's consumer retries what it could not finish (lib/queue/settlement.ts decides with it). */
export interface RetryPolicy {
  /** A failure that may pass by itself: the first retry's delay; it doubles with each receive. */
  readonly baseSeconds: number;
  /** The longest delay grown from the base (a wait the other side announced may be longer). */
  readonly maxSeconds: number;
  /**
   * A rate limit without an announced wait: the re-queue delay. A queue without it does not re-queue (its
   * consumer does not send to its own queue): a throttled message is retried like any other failure.
   */
  readonly throttledSeconds?: number;
  /** A spent quota without an announced reset: how long the message is held back. */
  readonly heldSeconds: number;
}

export interface QueueSpec {
  readonly name: QueueName;
  /**
   * A FIFO queue (SQS's name gets `.fifo`, {@link sqsQueueName}): messages of one message group are handed to one
   * consumer at a time, in order. The account roll-up keys its groups by account, so two roll-ups of one account
   * never run at once (docs/accounts.md, "The roll-up").
   */
  readonly fifo?: true;
  /**
   * Every message waits this long on the queue before a consumer may receive it (the queue's DelaySeconds). The
   * account roll-up's requests are deduplicated per account and second; the delay makes the one request of a second
   * arrive after every change that second asked for (docs/accounts.md, "The roll-up").
   */
  readonly deliveryDelaySeconds?: number;
  /** Lambda that consumes the queue through an SQS event-source mapping. */
  readonly consumer: HandlerName;
  readonly batchSize: number;
  /**
   * How long the event-source mapping gathers messages before invoking (Lambda's
   * MaximumBatchingWindowInSeconds; needed for a batch above 10): more records per CRM batch call.
   */
  readonly batchWindowSeconds?: number;
  /** Messages received this many times without success move to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** At least six times the consumer's timeout, as AWS recommends for event-source mappings. */
  readonly visibilityTimeoutSeconds: number;
  /** How long failed messages are kept in the dead-letter queue. */
  readonly dlqRetentionDays: number;
  /** The consumer's retry policy. */
  readonly retry: RetryPolicy;
  /** `<prefix>_RETRY_BASE_SECONDS`, `_RETRY_MAX_SECONDS`, `_RATE_LIMIT_SECONDS`, `_QUOTA_DELAY_SECONDS` override {@link retry} (tests shorten it). */
  readonly retryEnvPrefix: string;
}

export interface ScheduleSpec {
  readonly name: string;
  readonly handler: HandlerName;
  readonly everyMinutes: number;
}

// What a function may be granted (secret keys and their secrets, table actions) is in lib/grants.ts.
export {
  everyFunctionReads,
  ingestTable,
  type SecretGroup,
  type SecretKey,
  secretArnsEnv,
  secretGroupOf,
  secretGroups,
  secretKeys,
  secretKeysOf,
  type TableAccess,
  type TableAction,
} from './grants.ts';

export const functions = {
  health: {
    entry: 'health',
    description: 'Liveness probe',
    timeoutSeconds: 3,
    memoryMb: 256,
    secrets: [],
    sendsTo: [],
    table: { actions: [] },
  },
  'ingest-events': {
    source: 'segment',
    description: 'Website and product events (Segment track/identify/page, Standard Webhooks signed)',
    timeoutSeconds: 20,
    memoryMb: 1024,
    secrets: ['EVENTS_WEBHOOK_SECRET'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-tracking': {
    source: 'tracking',
    description: "Segment's HTTP tracking API (/v1/batch, /v1/track, ... and analytics.js's /v1/t, ...): Segment's and RudderStack's libraries, a write key",
    timeoutSeconds: 20,
    memoryMb: 1024,
    // The allowed origins are read as the keys are (a secret in AWS): changed without a deploy (lib/http/cors.ts).
    secrets: ['TRACKING_WRITE_KEY', 'TRACKING_ALLOWED_ORIGINS'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-segment-webhook': {
    source: 'segment-webhook',
    description: "Segment's and Customer.io's webhook destinations (X-Signature, HMAC-SHA1)",
    timeoutSeconds: 20,
    memoryMb: 1024,
    secrets: ['SEGMENT_WEBHOOK_SECRET'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-google-ads': {
    source: 'google-ads',
    description: 'Google Ads lead form webhook (google_key in the body)',
    timeoutSeconds: 20,
    memoryMb: 1024,
    secrets: ['GOOGLE_ADS_WEBHOOK_KEY'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-sendgrid': {
    source: 'sendgrid',
    description: 'SendGrid Event Webhook (ECDSA signed batches)',
    timeoutSeconds: 20,
    memoryMb: 1024,
    secrets: ['SENDGRID_WEBHOOK_PUBLIC_KEY'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-mailgun': {
    source: 'mailgun',
    description: 'Mailgun webhooks (HMAC of timestamp + token, token replay guard)',
    timeoutSeconds: 20,
    memoryMb: 1024,
    secrets: ['MAILGUN_WEBHOOK_SIGNING_KEY'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-mailchimp': {
    source: 'mailchimp',
    description: 'Mailchimp webhooks (form-encoded, secret in the URL)',
    timeoutSeconds: 20,
    memoryMb: 1024,
    secrets: ['MAILCHIMP_WEBHOOK_SECRET'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-postmark': {
    source: 'postmark',
    description: 'Postmark webhooks (Basic auth)',
    timeoutSeconds: 20,
    memoryMb: 1024,
    secrets: ['POSTMARK_WEBHOOK_USER', 'POSTMARK_WEBHOOK_PASSWORD'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-customerio': {
    source: 'customerio',
    description: 'Customer.io reporting webhooks (X-CIO-Signature)',
    timeoutSeconds: 20,
    memoryMb: 1024,
    secrets: ['CUSTOMERIO_WEBHOOK_SIGNING_KEY'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-crm-feedback': {
    source: 'crm-feedback',
    description: 'Sales outcomes from the CRM (accepted, rejected with a reason, sql, won, lost; Standard Webhooks signed)',
    timeoutSeconds: 20,
    memoryMb: 512,
    secrets: ['CRM_FEEDBACK_SECRET'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-hubspot': {
    source: 'hubspot',
    description: "HubSpot's own webhook (v3 signed): lifecycle stage and lead status changes become sales outcomes",
    timeoutSeconds: 20,
    memoryMb: 512,
    // The access token only to look up a contact the handoff never linked (its e-mail).
    secrets: ['HUBSPOT_APP_SECRET', 'HUBSPOT_ACCESS_TOKEN'],
    sendsTo: ['handoff'],
    table: ingestTable,
  },
  'ingest-facebook': {
    source: 'facebook',
    description: 'Facebook Lead Ads leadgen notifications: verified, deduplicated by leadgen id, queued for the Graph fetch',
    timeoutSeconds: 10,
    memoryMb: 512,
    secrets: ['FACEBOOK_APP_SECRET', 'FACEBOOK_VERIFY_TOKEN'],
    sendsTo: ['facebook-leads'],
    table: ingestTable,
  },
  'fetch-facebook-lead': {
    fetchesFor: 'facebook',
    description: 'Fetches a Facebook lead from the Graph API and scores it',
    timeoutSeconds: 30,
    memoryMb: 512,
    secrets: ['FACEBOOK_APP_SECRET', 'FACEBOOK_ACCESS_TOKEN'],
    sendsTo: ['handoff'],
    // Graph rate limits back off through the message's visibility; an invalid token or a lead that does
    // not exist goes to the DLQ at once (its alarm fires) instead of burning the remaining receives.
    deadLettersTo: ['facebook-leads'],
    table: ingestTable,
  },
  'ingest-linkedin': {
    source: 'linkedin',
    description: 'LinkedIn Lead Sync notifications: verified, deduplicated by lead form response id, queued for the API fetch',
    timeoutSeconds: 10,
    memoryMb: 512,
    secrets: ['LINKEDIN_CLIENT_SECRET'],
    sendsTo: ['linkedin-leads'],
    table: ingestTable,
  },
  'fetch-linkedin-lead': {
    fetchesFor: 'linkedin',
    description: "Fetches a LinkedIn lead form response (and its form's questions) from LinkedIn's API and scores it",
    timeoutSeconds: 30,
    memoryMb: 512,
    secrets: ['LINKEDIN_ACCESS_TOKEN'],
    sendsTo: ['handoff'],
    // A 429 or an outage backs off through the message's visibility; an invalid token (401) or a response
    // that does not exist goes to the DLQ at once (its alarm fires) instead of burning the remaining receives.
    deadLettersTo: ['linkedin-leads'],
    table: ingestTable,
  },
  'get-lead': {
    entry: 'get-lead',
    description: 'A lead as JSON: profile, score, reasons, status',
    timeoutSeconds: 10,
    memoryMb: 512,
    secrets: [],
    sendsTo: [],
    // The lead (and the lead a merged key points to), its events and handoffs: reads only.
    table: { actions: ['GetItem', 'Query'] },
  },
  'get-account': {
    entry: 'get-account',
    description: 'An account as JSON: scored now from its members, with reasons, members, status and timing',
    timeoutSeconds: 10,
    memoryMb: 512,
    secrets: [],
    sendsTo: [],
    // The account's state (GetItem), its member items (Query) and their lead items (BatchGetItem): reads only.
    table: { actions: ['GetItem', 'BatchGetItem', 'Query'] },
  },
  handoff: {
    entry: 'handoff',
    description: 'Delivers lifecycle transitions (MQL, recycled, disqualified) to the CRM in batch calls, within its rate limits',
    // Room for a 10-second rate-limit wait (HubSpot's window) and batch calls of 100 records.
    timeoutSeconds: 60,
    memoryMb: 512,
    secrets: ['CRM_WEBHOOK_SECRET', 'HUBSPOT_ACCESS_TOKEN', 'SALESFORCE_CLIENT_SECRET'],
    // Its own queue: a rate-limited message is sent again with a delay (a new message, so the
    // throttle does not use up the original's receives).
    sendsTo: ['handoff'],
    // Re-queues a rate-limited message (its own queue), holds back a failing one, and sends a record no
    // retry can deliver (invalid token, refused record) straight to the DLQ.
    deadLettersTo: ['handoff'],
    // The lead's handoff ledger: its handoffs read (Query), each attempt and the CRM record's link written,
    // each write conditioned on the person's erasure tombstone (ConditionCheck), which is also read (GetItem).
    table: { actions: ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'ConditionCheckItem'] },
    // Two batches in flight at most: 2 x (a read + an upsert) per ~second stays well inside HubSpot's
    // 100 (Free/Starter) to 190 (Pro/Enterprise) requests per 10 s, and Salesforce's 25 long-running calls.
    reservedConcurrency: 2,
  },
  decay: {
    entry: 'decay',
    description: 'Recomputes leads whose score changes by time alone (the sparse due index), and asks for the roll-up of accounts due',
    timeoutSeconds: 300,
    memoryMb: 1024,
    secrets: [],
    sendsTo: ['handoff', 'account-rollup'],
    // The due index, then each due lead's transaction; after a conflict the lead is read again, and a merge left
    // half-done reads the absorbed lead's events (lib/store/lead-writes.ts).
    table: { actions: ['GetItem', 'Query', 'PutItem', 'UpdateItem'], queriesDueIndex: true },
  },
  'account-members': {
    entry: 'account-members',
    description: "Keeps accounts' member lists from the table's change stream and asks for the roll-up of accounts whose members changed",
    timeoutSeconds: 60,
    memoryMb: 512,
    secrets: [],
    sendsTo: ['account-rollup'],
    table: { actions: ['PutItem', 'DeleteItem'], writesUnder: 'ACCOUNT#' },
  },
  'account-rollup': {
    entry: 'account-rollup',
    description: 'Recomputes an account from its members (one account at a time), stores its status and hands off account.mqa / account.recycled',
    timeoutSeconds: 60,
    memoryMb: 1024,
    secrets: [],
    sendsTo: ['handoff'],
    deadLettersTo: ['account-rollup'],
    table: { actions: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'], writesUnder: 'ACCOUNT#' },
  },
} as const satisfies Record<string, FunctionSpec>;
export type HandlerName = keyof typeof functions;

export const queues = [
  {
    name: 'facebook-leads',
    consumer: 'fetch-facebook-lead',
    batchSize: 10,
    // Graph rate limits clear within minutes to an hour; the fetch stretches the visibility on each retry.
    maxReceiveCount: 8,
    visibilityTimeoutSeconds: 180,
    dlqRetentionDays: 14,
    // 1, 2, 4, 8, 16, 32, then 60 minutes: about 2 hours in all before the DLQ; Graph's app and page limits
    // clear within the hour. A rate limit uses up a receive like any failure (never before Meta's announced wait).
    retry: { baseSeconds: 60, maxSeconds: 3600, heldSeconds: 3600 },
    retryEnvPrefix: 'FACEBOOK',
  },
  {
    name: 'linkedin-leads',
    consumer: 'fetch-linkedin-lead',
    batchSize: 10,
    // LinkedIn's quotas are per day and reset at midnight UTC: the receives outlast a spent day's quota.
    maxReceiveCount: 30,
    visibilityTimeoutSeconds: 180,
    dlqRetentionDays: 14,
    // 1, 2, 4, 8, 16, 32 minutes, then hourly: about 25 hours in all before the DLQ, so a 429 for the rest
    // of the day is ridden out; LinkedIn announces no wait (no Retry-After, docs/providers/linkedin.md).
    retry: { baseSeconds: 60, maxSeconds: 3600, heldSeconds: 3600 },
    retryEnvPrefix: 'LINKEDIN',
  },
  {
    name: 'handoff',
    consumer: 'handoff',
    // One HubSpot batch call takes 100 contacts; the window gathers a burst into few calls. One second:
    // it is the latency a lone MQL pays, and 2 instances x 2 calls a second stay far below HubSpot's
    // 100 requests per 10 s.
    batchSize: 100,
    batchWindowSeconds: 1,
    // Outages back off 30 s doubling to 15 min per receive (lib/handoff/): 24 receives ride out about
    // 5 hours of CRM outage before the DLQ. Rate limits re-queue without consuming receives.
    maxReceiveCount: 24,
    // Six times the function's timeout plus the batch window, as AWS recommends.
    visibilityTimeoutSeconds: 365,
    dlqRetentionDays: 14,
    // 30 s, 1, 2, 4, 8 minutes, then every 15 minutes: with 24 receives about 5 hours (930 s + 19 x 900 s)
    // of CRM outage before the DLQ. A rate limit without Retry-After re-queues in 10 s; a spent daily quota
    // without an announced reset is held an hour.
    retry: { baseSeconds: 30, maxSeconds: 900, throttledSeconds: 10, heldSeconds: 3600 },
    retryEnvPrefix: 'HANDOFF',
  },
  {
    name: 'account-rollup',
    fifo: true,
    deliveryDelaySeconds: 1,
    consumer: 'account-rollup',
    // SQS's limit for a FIFO queue's event-source mapping.
    batchSize: 10,
    maxReceiveCount: 10,
    visibilityTimeoutSeconds: 360,
    dlqRetentionDays: 14,
    retry: { baseSeconds: 5, maxSeconds: 300, heldSeconds: 300 },
    retryEnvPrefix: 'ACCOUNT_ROLLUP',
  },
] as const satisfies readonly QueueSpec[];
export type QueueName = 'handoff' | 'facebook-leads' | 'linkedin-leads' | 'account-rollup';

/** The queue's name on SQS: a FIFO queue's ends in `.fifo`, as SQS requires. */
export function sqsQueueName(spec: Pick<QueueSpec, 'name' | 'fifo'>): string {
  return spec.fifo ? `${spec.name}.fifo` : spec.name;
}

/** The name of the queue's dead-letter queue on SQS (a FIFO queue's is FIFO too, as SQS requires). */
export function sqsDeadLetterQueueName(spec: Pick<QueueSpec, 'name' | 'fifo'>): string {
  return spec.fifo ? `${spec.name}-dlq.fifo` : `${spec.name}-dlq`;
}

/**
 * The table's change stream and the function that reads it, like an SQS queue's consumer: Lambda's DynamoDB
 * event-source mapping in AWS, lib/local/streams.ts locally. Only records the filter keeps reach the function:
 * lead items (`LEAD#...` / `PROFILE`), before and after each write.
 */
export interface TableStreamSpec {
  readonly consumer: HandlerName;
  readonly viewType: 'NEW_AND_OLD_IMAGES';
  readonly batchSize: number;
  readonly batchWindowSeconds: number;
  /** A batch the function failed is retried this often, split in halves to isolate a bad record, then sent to the stream's dead-letter queue. */
  readonly retryAttempts: number;
  readonly filter: { readonly partitionKeyPrefix: string; readonly sortKey: string };
}

export const tableStream: TableStreamSpec = {
  consumer: 'account-members',
  viewType: 'NEW_AND_OLD_IMAGES',
  batchSize: 100,
  batchWindowSeconds: 1,
  retryAttempts: 10,
  filter: { partitionKeyPrefix: 'LEAD#', sortKey: 'PROFILE' },
};

/** A queue's description by name. */
export function queueSpec(name: QueueName): QueueSpec {
  const spec = queues.find((queue) => queue.name === name);
  if (!spec) throw new Error(`no queue ${name} in the topology`);
  return spec;
}

export const routes = [
  {
    method: 'GET',
    path: '/health',
    handler: 'health',
    auth: 'none',
    authentication: 'None: the liveness probe answers a constant and reads no data, no secret and no dependency.',
  },
  {
    method: 'GET',
    path: '/webhooks/facebook',
    handler: 'ingest-facebook',
    auth: 'none',
    authentication:
      "Meta's subscription handshake: `hub.verify_token` must equal FACEBOOK_VERIFY_TOKEN (constant-time), else 403; it only echoes `hub.challenge` and stores nothing.",
  },
  {
    method: 'POST',
    path: '/webhooks/facebook',
    handler: 'ingest-facebook',
    auth: 'none',
    authentication: '`X-Hub-Signature-256`: HMAC-SHA256 of the raw body keyed with FACEBOOK_APP_SECRET, compared in constant time before parsing.',
  },
  {
    method: 'GET',
    path: '/webhooks/linkedin',
    handler: 'ingest-linkedin',
    auth: 'none',
    authentication:
      "LinkedIn's endpoint validation: answers `challengeResponse`, the HMAC-SHA256 of `challengeCode` keyed with LINKEDIN_CLIENT_SECRET, which only the app's holder can compute; stores nothing.",
  },
  {
    method: 'POST',
    path: '/webhooks/linkedin',
    handler: 'ingest-linkedin',
    auth: 'none',
    authentication:
      '`X-LI-Signature`: HMAC-SHA256 of `hmacsha256=` + the raw body keyed with LINKEDIN_CLIENT_SECRET, compared in constant time before parsing.',
  },
  {
    method: 'POST',
    path: '/webhooks/sendgrid',
    handler: 'ingest-sendgrid',
    auth: 'none',
    authentication:
      "SendGrid's Signed Event Webhook: an ECDSA P-256 signature of the timestamp header plus the raw body, verified with SENDGRID_WEBHOOK_PUBLIC_KEY; old timestamps refused.",
  },
  {
    method: 'POST',
    path: '/webhooks/mailgun',
    handler: 'ingest-mailgun',
    auth: 'none',
    authentication:
      "HMAC-SHA256 of the body's `signature.timestamp` + `signature.token`, keyed with MAILGUN_WEBHOOK_SIGNING_KEY (timestamp within 24 h); a token replayed with another body is refused (406).",
  },
  {
    method: 'GET',
    path: '/webhooks/mailchimp/{secret}',
    handler: 'ingest-mailchimp',
    auth: 'none',
    authentication:
      "Mailchimp's URL check: the path's last segment must equal MAILCHIMP_WEBHOOK_SECRET (constant-time), else 401; Mailchimp signs nothing, the secret in the URL is its only credential. Stores nothing.",
  },
  {
    method: 'POST',
    path: '/webhooks/mailchimp/{secret}',
    handler: 'ingest-mailchimp',
    auth: 'none',
    authentication:
      'The secret in the path: its last segment must equal MAILCHIMP_WEBHOOK_SECRET (constant-time), else 401; never logged (access logs carry the route key, not the path).',
  },
  {
    method: 'POST',
    path: '/webhooks/postmark',
    handler: 'ingest-postmark',
    auth: 'none',
    authentication:
      'HTTP Basic auth: `Authorization: Basic` must carry POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD (constant-time); Postmark signs nothing.',
  },
  {
    method: 'POST',
    path: '/webhooks/customerio',
    handler: 'ingest-customerio',
    auth: 'none',
    authentication:
      '`X-CIO-Signature`: HMAC-SHA256 of `v0:` + `X-CIO-Timestamp` + `:` + the raw body, keyed with CUSTOMERIO_WEBHOOK_SIGNING_KEY; old timestamps refused.',
  },
  {
    method: 'POST',
    path: '/webhooks/events',
    handler: 'ingest-events',
    auth: 'none',
    authentication: 'Standard Webhooks: `webhook-signature` over id, timestamp and raw body keyed with EVENTS_WEBHOOK_SECRET (24+ bytes); 5-minute tolerance.',
  },
  {
    method: 'POST',
    // One route for every call: /v1/batch, /v1/track, ... and the one-letter forms (lib/sources/tracking.ts);
    // an unknown call answers 404. API Gateway prefers a more specific route added later (POST /v1/m).
    path: '/v1/{call}',
    handler: 'ingest-tracking',
    auth: 'none',
    authentication:
      'A write key of TRACKING_WRITE_KEY (comma-separated), as the HTTP Basic user name or as `writeKey` in the body, compared in constant time; every key a request names must agree; a browser whose `Origin` is not in TRACKING_ALLOWED_ORIGINS is refused (403).',
    throttle: trackingThrottle,
  },
  {
    method: 'OPTIONS',
    // analytics.js 1.84+ sends Authorization, so every event of a browser is preceded by a CORS preflight.
    path: '/v1/{call}',
    handler: 'ingest-tracking',
    auth: 'none',
    authentication:
      'None needed: the CORS preflight names the allowed methods and headers to an `Origin` of TRACKING_ALLOWED_ORIGINS (403 to any other); it reads no body and stores nothing.',
    throttle: trackingThrottle,
  },
  {
    method: 'GET',
    // What analytics.js loads from its cdnURL (lib/sources/tracking.ts, trackingSettings).
    path: '/v1/projects/{writeKey}/settings',
    handler: 'ingest-tracking',
    auth: 'none',
    authentication:
      "The write key in the path must be one of TRACKING_WRITE_KEY (constant-time), else 404; answers analytics.js's settings (this API's host and that key, which the browser already holds) and stores nothing.",
    throttle: trackingThrottle,
  },
  {
    method: 'POST',
    path: '/webhooks/segment',
    handler: 'ingest-segment-webhook',
    auth: 'none',
    authentication:
      "`X-Signature`: hex HMAC-SHA1 keyed with SEGMENT_WEBHOOK_SECRET of the raw body, or of a batch's first message only (as Segment signs it), compared in constant time; no timestamp, so replays are possible.",
  },
  {
    method: 'POST',
    path: '/webhooks/google-ads',
    handler: 'ingest-google-ads',
    auth: 'none',
    authentication:
      '`google_key` in the body must equal GOOGLE_ADS_WEBHOOK_KEY (constant-time), read from the body (at most 1 MiB) parsed once; nothing stored before it matches. No signature or timestamp: a captured delivery can be replayed (deduplicated by `lead_id`).',
  },
  {
    method: 'POST',
    path: '/webhooks/crm',
    handler: 'ingest-crm-feedback',
    auth: 'none',
    authentication: 'Standard Webhooks: `webhook-signature` over id, timestamp and raw body keyed with CRM_FEEDBACK_SECRET (24+ bytes); 5-minute tolerance.',
  },
  {
    method: 'POST',
    path: '/webhooks/hubspot',
    handler: 'ingest-hubspot',
    auth: 'none',
    authentication:
      '`X-HubSpot-Signature-v3`: base64 HMAC-SHA256 of method + full URI + raw body + `X-HubSpot-Request-Timestamp`, keyed with HUBSPOT_APP_SECRET; 5-minute tolerance.',
  },
  {
    method: 'GET',
    path: '/leads/{email}',
    handler: 'get-lead',
    auth: 'iam',
    authentication:
      'AWS IAM: a SigV4-signed request of a principal allowed `execute-api:Invoke` on the route; API Gateway refuses anything else before the function runs.',
  },
  {
    method: 'GET',
    // A domain (acme.com) or group:<groupId>, URL-encoded (docs/accounts.md, "Reading an account").
    path: '/accounts/{domain}',
    handler: 'get-account',
    auth: 'iam',
    authentication:
      'AWS IAM: a SigV4-signed request of a principal allowed `execute-api:Invoke` on the route; API Gateway refuses anything else before the function runs.',
  },
] as const satisfies readonly RouteSpec[];

export const schedules = [{ name: 'decay', handler: 'decay', everyMinutes: 15 }] as const satisfies readonly ScheduleSpec[];

/**
 * Environment variable through which a function learns a queue's URL, the same name in
 * Lambda (set by CDK) and locally (set by the local stack).
 */
export function queueUrlEnv(queue: QueueName): string {
  return `${queue.toUpperCase().replaceAll('-', '_')}_QUEUE_URL`;
}

/** Environment variable through which a consumer learns its queue's dead-letter queue URL ({@link FunctionSpec.deadLettersTo}). */
export function dlqUrlEnv(queue: QueueName): string {
  return `${queue.toUpperCase().replaceAll('-', '_')}_DLQ_URL`;
}

/** Environment variable holding the table name, in Lambda and locally. */
export const tableNameEnv = 'TABLE_NAME';

/** The single table's key schema and its sparse index (docs/architecture.md, "Data model"). */
export const table = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  dueIndex: { name: 'due', partitionKey: 'dueShard', sortKey: 'dueAt' },
  /** Leads are spread over this many due shards so the decay job's query has no hot key. */
  dueShards: 8,
} as const;

export const topology = { functions, queues, routes, schedules, table, tableStream } as const;

/** The export of a source module a generated handler runs: the module's name in camelCase (`crm-feedback` -> `crmFeedback`). */
export function sourceExportName(module: string): string {
  return module.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * The text of the handler module of a source's function, which stands in for a file under lambdas/: cdk/
 * bundles it, lib/local/runtime.ts imports it. `importPath(file)` turns a path under lib/ into the
 * specifier the generated module imports it by. Undefined for a function with its own entry file.
 */
export function sourceHandlerModule(spec: FunctionSpec, importPath: (libPath: string) => string): string | undefined {
  const module = spec.source ?? spec.fetchesFor;
  if (module === undefined) return undefined;
  const factory = spec.source !== undefined ? 'webhookHandlerFromEnv' : 'fetchHandler';
  return [
    "// Generated from lib/topology.ts: the handler of a source's function.",
    `import { ${factory} } from ${JSON.stringify(importPath('ingest/from-env.ts'))};`,
    `import { ${sourceExportName(module)} as source } from ${JSON.stringify(importPath(`sources/${module}.ts`))};`,
    '',
    `export const handler = ${factory}(source);`,
    '',
  ].join('\n');
}
