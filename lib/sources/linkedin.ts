/**
 * LinkedIn Lead Gen Forms through Lead Sync (docs/providers/linkedin.md), a "notify, then fetch" source:
 *
 * - The endpoint validation (GET `?challengeCode=<uuid>`) answers `{challengeCode, challengeResponse}`, the
 *   hex HMAC-SHA256 of the code keyed with the app's client secret. LinkedIn repeats it every few hours and
 *   blocks the webhook after failed ones, so it depends on nothing but the secret.
 * - A lead notification (`type: LEAD_ACTION`) names a lead form response by URN. It is verified
 *   (`X-LI-Signature`: hex HMAC-SHA256 keyed with the client secret of `hmacsha256=` followed by the raw body,
 *   the string LinkedIn's documentation names; see the provider page for why that reading) and turned into a
 *   {@link LinkedinLeadNotification}, which the ingest handler queues on `linkedin-leads`.
 * - The fetch step reads the response and its form's questions from LinkedIn's versioned API
 *   (lib/apis/linkedin-leads.ts) and maps it onto one `form_submitted` event (./linkedin-lead.ts).
 *
 * What is refused: a body that is not a JSON object with a `type`, a lead notification without a valid
 * `leadGenFormResponse` URN, an `occurredAt` that is not epoch milliseconds (400). What is acknowledged and
 * counted as ignored: other notification types, and `DELETED` lead actions (LinkedIn telling that a member
 * withdrew the response; the person's data is erased with `mql erase`, docs/data-protection.md). A 4xx makes
 * LinkedIn count a failed delivery, so only a body that is not LinkedIn's format gets one.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { defaultLinkedinApiUrl, fetchLinkedinLead, LinkedinApiError, leadResponseIdPattern, versionedFormOf } from '../apis/linkedin-leads.ts';
import { badRequest, unauthorized } from '../http/errors.ts';
import { isObject, own } from '../http/json.ts';
import { outboundUrl } from '../http/outbound.ts';
import { parseJson, requireContentType } from '../http/request.ts';
import type { Failure } from '../queue/settlement.ts';
import type { Secrets } from '../runtime/config.ts';
import { definedOnly } from './fields.ts';
import { normalizeLinkedinLead } from './linkedin-lead.ts';
import type { Env, HandshakeAnswer, IgnoredEvent, WebhookRequest, WebhookSource } from './source.ts';

export const linkedinSourceName = 'linkedin';

/** One lead announced by a notification: the response id and what the notification says of it. */
export interface LinkedinLeadNotification {
  /** The lead form response id (the URN's last part), the deduplication id. */
  readonly responseId: string;
  readonly formId?: string;
  readonly formVersion?: number;
  /** SPONSORED (an ad), EVENT, COMPANY, ORGANIZATION_PRODUCT. */
  readonly leadType?: string;
  readonly adAccountId?: string;
  readonly organizationId?: string;
  /** When the member submitted (ISO UTC, from the notification's epoch milliseconds). */
  readonly occurredAt?: string;
}

// --- authenticity -------------------------------------------------------------------------------

/** What LinkedIn prefixes to the body before signing it, and what may precede the digest in the header. */
export const linkedinSignaturePrefix = 'hmacsha256=';

/** Hex HMAC-SHA256 keyed with the client secret of `hmacsha256=` + the body: the value of `X-LI-Signature`. */
export function linkedinSignature(clientSecret: string, body: Buffer | string): string {
  return createHmac('sha256', clientSecret).update(linkedinSignaturePrefix).update(body).digest('hex');
}

/** `X-LI-Signature`: 64 hex digits, with or without the `hmacsha256=` label some descriptions show. */
const signaturePattern = /^(?:hmacsha256=)?([0-9a-f]{64})$/i;

/** Checks `X-LI-Signature` over the exact bytes received, in constant time. Throws 401. */
export function verifyLinkedinSignature(request: WebhookRequest, clientSecret: string): void {
  const given = request.header('x-li-signature')?.trim();
  if (!given) throw unauthorized('missing X-LI-Signature');
  const match = signaturePattern.exec(given);
  if (!match?.[1]) throw unauthorized('X-LI-Signature must be 64 hex digits (HMAC-SHA256)');
  const expected = Buffer.from(linkedinSignature(clientSecret, request.body), 'hex');
  const received = Buffer.from(match[1], 'hex');
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) throw unauthorized('X-LI-Signature does not match the body');
}

/** LinkedIn's challenge is a type-4 UUID; anything echoed back stays a short token. */
const challengePattern = /^[A-Za-z0-9-]{1,128}$/;

/**
 * The endpoint validation: 200 `{"challengeCode", "challengeResponse"}` (JSON), the response being the hex
 * HMAC-SHA256 of the code keyed with the client secret. A GET without a well-formed code is a 400.
 */
export function linkedinHandshake(request: WebhookRequest, clientSecret: string): HandshakeAnswer {
  const challengeCode = request.query.challengeCode;
  if (challengeCode === undefined || !challengePattern.test(challengeCode)) {
    throw badRequest('challengeCode must be the validation code LinkedIn sends (a UUID)');
  }
  const challengeResponse = createHmac('sha256', clientSecret).update(challengeCode).digest('hex');
  return { status: 200, contentType: 'application/json', body: JSON.stringify({ challengeCode, challengeResponse }), headers: { 'cache-control': 'no-store' } };
}

// --- the lead notification ----------------------------------------------------------------------

const responseUrnPattern = /^urn:li:leadGenFormResponse:([A-Za-z0-9][A-Za-z0-9-]{0,127})$/;

const urnIdOf = (urn: unknown, kind: string) => (typeof urn === 'string' ? new RegExp(`^urn:li:${kind}:(\\d{1,30})$`).exec(urn)?.[1] : undefined);

/** Turns a verified notification into the lead to fetch, or why it is acknowledged without one. Throws 400. */
export function parseLeadNotification(request: WebhookRequest): { lead?: LinkedinLeadNotification; ignored: IgnoredEvent[] } {
  requireContentType(request.header('content-type'), 'application/json');
  const body = parseJson(request.body);
  if (!isObject(body)) throw badRequest('body must be a JSON object: {"type": "LEAD_ACTION", "leadGenFormResponse": "urn:li:leadGenFormResponse:...", ...}');
  const type = own(body, 'type');
  if (typeof type !== 'string' || type === '') throw badRequest('type: must be a string (LEAD_ACTION for Lead Sync)');
  if (type !== 'LEAD_ACTION') return { ignored: [{ reason: `unsupported_type:${type.slice(0, 64)}` }] };
  const urn = own(body, 'leadGenFormResponse');
  const responseId = typeof urn === 'string' ? responseUrnPattern.exec(urn)?.[1] : undefined;
  if (!responseId || !leadResponseIdPattern.test(responseId)) throw badRequest('leadGenFormResponse: must be urn:li:leadGenFormResponse:<id>');
  const occurred = own(body, 'occurredAt');
  if (occurred !== undefined && (typeof occurred !== 'number' || !Number.isInteger(occurred) || occurred <= 0 || occurred > 32_503_680_000_000)) {
    throw badRequest('occurredAt: must be epoch milliseconds');
  }
  const action = own(body, 'leadAction');
  if (action !== undefined && action !== 'CREATED') {
    return { ignored: [{ sourceEventId: responseId, reason: action === 'DELETED' ? 'lead_deleted' : `unsupported_action:${String(action).slice(0, 64)}` }] };
  }
  const form = versionedFormOf(own(body, 'leadGenForm'));
  const owner = own(body, 'owner');
  const lead = definedOnly<LinkedinLeadNotification>({
    responseId,
    formId: form?.formId,
    formVersion: form?.version,
    leadType: typeof own(body, 'leadType') === 'string' ? (own(body, 'leadType') as string).slice(0, 64) : undefined,
    adAccountId: urnIdOf(own(owner, 'sponsoredAccount'), 'sponsoredAccount'),
    organizationId: urnIdOf(own(owner, 'organization'), 'organization'),
    occurredAt: typeof occurred === 'number' ? new Date(occurred).toISOString() : undefined,
  });
  return { lead, ignored: [] };
}

/** The notification a `linkedin-leads` message carries; undefined when it is not one (it will never become readable). */
export function readLeadNotificationMessage(body: string): LinkedinLeadNotification | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const responseId = own(parsed, 'responseId');
  if (typeof responseId !== 'string' || !leadResponseIdPattern.test(responseId)) return undefined;
  const textOf = (key: string) => (typeof own(parsed, key) === 'string' ? (own(parsed, key) as string) : undefined);
  return definedOnly<LinkedinLeadNotification>({
    responseId,
    formId: textOf('formId'),
    formVersion: typeof own(parsed, 'formVersion') === 'number' ? (own(parsed, 'formVersion') as number) : undefined,
    leadType: textOf('leadType'),
    adAccountId: textOf('adAccountId'),
    organizationId: textOf('organizationId'),
    occurredAt: textOf('occurredAt'),
  });
}

/** How the queue treats each kind of API failure: a 429 uses up a receive and waits a growing delay. */
function linkedinFailure(error: unknown): Failure {
  const failure = error instanceof LinkedinApiError ? error : new LinkedinApiError('transient', (error as Error).message, { cause: error });
  const code = failure.httpStatus === undefined ? failure.code : `${failure.httpStatus}${failure.code ? ` ${failure.code}` : ''}`;
  return {
    disposition: failure.retryable ? 'retry' : 'permanent',
    kind: failure.kind,
    message: failure.message,
    ...(failure.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: failure.retryAfterSeconds }),
    ...(code === undefined ? {} : { code }),
    fields: { httpStatus: failure.httpStatus, code: failure.code, serviceErrorCode: failure.serviceErrorCode },
  };
}

function linkedinFix(failure: Failure): string {
  if (failure.kind === 'invalid_token')
    return 'replace LINKEDIN_ACCESS_TOKEN (a member token with r_marketing_leadgen_automation; they last 60 days), then redrive the DLQ';
  if (failure.kind === 'not_found') return "the lead form response does not exist or the token's member cannot read it; fix access, then redrive the DLQ";
  return 'inspect the message in the DLQ, fix the cause (a permission, the API version), then redrive';
}

/**
 * `GET|POST /webhooks/linkedin`: 404 while LINKEDIN_CLIENT_SECRET is unset; GET the endpoint validation; POST
 * verified (401), parsed (400), a new response id queued on `linkedin-leads`; the fetch step reads it from
 * LinkedIn's API with LINKEDIN_ACCESS_TOKEN (LINKEDIN_API_URL, default https://api.linkedin.com/rest).
 */
export const linkedin: WebhookSource<LinkedinLeadNotification> = {
  name: linkedinSourceName,
  requiredSecrets: ['LINKEDIN_CLIENT_SECRET'],
  checkSettings(env: Env) {
    // The fetch step sends LINKEDIN_ACCESS_TOKEN there.
    if (env.LINKEDIN_API_URL) outboundUrl('LINKEDIN_API_URL', env.LINKEDIN_API_URL, env);
  },
  verify(request: WebhookRequest, secrets: Secrets) {
    verifyLinkedinSignature(request, secrets.LINKEDIN_CLIENT_SECRET ?? '');
  },
  handshake(request: WebhookRequest, secrets: Secrets) {
    return linkedinHandshake(request, secrets.LINKEDIN_CLIENT_SECRET ?? '');
  },
  normalize(request: WebhookRequest) {
    const { lead, ignored } = parseLeadNotification(request);
    return { events: [], ignored, pending: lead ? [lead] : [], received: 1 };
  },
  fetch: {
    queue: 'linkedin-leads',
    noun: 'linkedin lead',
    idOf: (notification) => notification.responseId,
    write: (notification) => JSON.stringify(notification),
    read: readLeadNotificationMessage,
    unreadable: 'the message is not a lead notification',
    async event(notification, { secrets, env }) {
      // Secrets are read per batch (cached 5 minutes in AWS): a replaced token is used without a redeploy.
      const accessToken = secrets.LINKEDIN_ACCESS_TOKEN;
      if (!accessToken) throw new LinkedinApiError('invalid_token', 'LINKEDIN_ACCESS_TOKEN is not set');
      const lead = await fetchLinkedinLead(notification.responseId, { apiUrl: env.LINKEDIN_API_URL || defaultLinkedinApiUrl, accessToken });
      const event = normalizeLinkedinLead(lead, notification);
      if (!event) throw new LinkedinApiError('permanent', 'the lead form response and the notification carry no time');
      return event;
    },
    failureOf: linkedinFailure,
    fix: linkedinFix,
  },
};
