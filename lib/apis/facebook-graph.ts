/**
 * The Graph API call that turns a leadgen id into the lead's answers (docs/providers/facebook.md), and the
 * classification of its errors: on `error.code` / `error_subcode`, never on the HTTP status alone.
 */
import { createHmac } from 'node:crypto';
import { isObject, own } from '../http/json.ts';
import { redirectTarget, retryAfterSeconds } from '../http/outbound.ts';

/** Keys whose values are Meta object ids, in the webhook and in Graph answers. */
const idKeys = new Set(['id', 'leadgen_id', 'form_id', 'ad_id', 'adgroup_id', 'page_id', 'adset_id', 'campaign_id']);

/**
 * JSON.parse that keeps every id as its exact decimal text. Meta sends ids as strings or as JSON
 * numbers (docs/providers/facebook.md), and 17-18 digit numbers lose digits as doubles (`120208765432109876` would
 * become `120208765432109870`). Node 24's reviver receives `context.source`, the number's own text.
 * Throws a SyntaxError on malformed JSON.
 */
export function parseMetaJson(text: string): unknown {
  return JSON.parse(text, (key: string, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' && idKeys.has(key) && context?.source !== undefined ? context.source : value,
  );
}

/**
 * Graph API base when FACEBOOK_GRAPH_URL is not set (the Lambdas and the CDK stack's default): v26.0, the
 * newest version whose end is not yet announced in either of Meta's schedules (docs/providers/facebook.md).
 */
export const defaultFacebookGraphUrl = 'https://graph.facebook.com/v26.0';

/** A Meta object id: decimal digits, kept as text. */
export const metaIdPattern = /^\d{1,30}$/;

/** The fields asked of `GET /{leadgen-id}`: the default answer is a subset, so they are always named (docs/providers/facebook.md). */
export const graphLeadFields = [
  'id',
  'created_time',
  'ad_id',
  'ad_name',
  'adset_id',
  'adset_name',
  'campaign_id',
  'campaign_name',
  'form_id',
  'is_organic',
  'platform',
  'field_data',
  'custom_disclaimer_responses',
] as const;

/** A lead as the Graph API answers it (ids as strings once read with {@link parseMetaJson}). */
export interface GraphLead {
  id: string;
  created_time?: string;
  ad_id?: string;
  ad_name?: string;
  adset_id?: string;
  adset_name?: string;
  campaign_id?: string;
  campaign_name?: string;
  form_id?: string;
  is_organic?: boolean;
  platform?: string;
  field_data: { name: string; values: string[] }[];
  custom_disclaimer_responses?: { checkbox_key: string; is_checked: string }[];
}

/** Whether a Graph answer is a lead we can map: an id and `field_data` as an array of {name, values}. */
export function isGraphLead(value: unknown): value is GraphLead {
  if (!isObject(value)) return false;
  const id = own(value, 'id');
  const fields = own(value, 'field_data');
  return (
    typeof id === 'string' &&
    metaIdPattern.test(id) &&
    Array.isArray(fields) &&
    fields.every((field) => isObject(field) && typeof own(field, 'name') === 'string' && Array.isArray(own(field, 'values')))
  );
}

/**
 * What to do about a failed fetch:
 * - `rate_limited`: back off, then retry (codes 4, 17, 32, 341, 613, 80000-80014).
 * - `transient`: retry (codes 1, 2, `is_transient`, 5xx, network failure, unknown codes).
 * - `invalid_token`: never retried; the token must be replaced (190, 102, or no token configured).
 * - `not_found`: never retried; the lead does not exist or is not accessible (100/33, 33).
 * - `permanent`: never retried; a request or permission problem (10, 200-299, other 100s, an answer that is not a lead),
 *   or a retired API version (2635).
 */
export type GraphErrorKind = 'rate_limited' | 'transient' | 'invalid_token' | 'not_found' | 'permanent';

export class GraphError extends Error {
  readonly kind: GraphErrorKind;
  readonly httpStatus: number | undefined;
  readonly code: number | undefined;
  readonly subcode: number | undefined;
  readonly fbtraceId: string | undefined;
  /** How long Meta says access is blocked (X-Business-Use-Case-Usage, Retry-After), when it says so. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: GraphErrorKind,
    message: string,
    details: { httpStatus?: number; code?: number; subcode?: number; fbtraceId?: string; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'GraphError';
    this.kind = kind;
    this.httpStatus = details.httpStatus;
    this.code = details.code;
    this.subcode = details.subcode;
    this.fbtraceId = details.fbtraceId;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }

  /** Whether a later attempt can succeed without anyone changing anything. */
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'transient';
  }
}

/** Throttling codes (docs/providers/facebook.md): app 4, user 17, page 32, application 341, custom 613, business use case 80000-80014. */
const rateLimitCodes = new Set([4, 17, 32, 341, 613]);
const isBusinessUseCaseLimit = (code: number) => code >= 80000 && code <= 80014;

/** hex(HMAC-SHA256(key = app secret, message = access token)): Graph's `appsecret_proof`. */
export function appsecretProof(appSecret: string, accessToken: string): string {
  return createHmac('sha256', appSecret).update(accessToken).digest('hex');
}

/** The request URL of a lead, with its fields named and the proof attached. */
export function graphLeadUrl(graphUrl: string, leadgenId: string, accessToken: string, appSecret: string): string {
  // Built by hand, not with URLSearchParams, so the field list keeps its commas as in Meta's examples.
  const query = `fields=${graphLeadFields.join(',')}&access_token=${encodeURIComponent(accessToken)}&appsecret_proof=${appsecretProof(appSecret, accessToken)}`;
  return `${graphUrl.replace(/\/+$/, '')}/${encodeURIComponent(leadgenId)}?${query}`;
}

/**
 * Longest wait Meta announces: X-Business-Use-Case-Usage's `estimated_time_to_regain_access` (minutes,
 * per business id and type) or a Retry-After header (seconds). Undefined when neither says anything.
 */
export function announcedWaitSeconds(headers: { get(name: string): string | null }, now: Date = new Date()): number | undefined {
  let seconds: number | undefined;
  const usage = headers.get('x-business-use-case-usage');
  if (usage) {
    try {
      const parsed = JSON.parse(usage) as unknown;
      for (const entries of isObject(parsed) ? Object.values(parsed) : []) {
        for (const entry of Array.isArray(entries) ? entries : []) {
          const minutes = own(entry, 'estimated_time_to_regain_access');
          if (typeof minutes === 'number' && Number.isFinite(minutes) && minutes > 0) seconds = Math.max(seconds ?? 0, minutes * 60);
        }
      }
    } catch {
      // An unreadable usage header says nothing.
    }
  }
  const retryAfter = retryAfterSeconds(headers.get('retry-after'), now);
  if (retryAfter !== undefined && retryAfter > 0) seconds = Math.max(seconds ?? 0, retryAfter);
  return seconds;
}

/** Classifies a Graph error answer by its `error.code` and `error_subcode`, the HTTP status only as a fallback. */
export function classifyGraphError(httpStatus: number, body: unknown, retryAfterSeconds?: number): GraphError {
  const error = own(body, 'error');
  const code = typeof own(error, 'code') === 'number' ? (own(error, 'code') as number) : undefined;
  const subcode = typeof own(error, 'error_subcode') === 'number' ? (own(error, 'error_subcode') as number) : undefined;
  const message = typeof own(error, 'message') === 'string' ? (own(error, 'message') as string) : `HTTP ${httpStatus}`;
  const fbtraceId = typeof own(error, 'fbtrace_id') === 'string' ? (own(error, 'fbtrace_id') as string) : undefined;
  const details = {
    httpStatus,
    ...(code === undefined ? {} : { code }),
    ...(subcode === undefined ? {} : { subcode }),
    ...(fbtraceId === undefined ? {} : { fbtraceId }),
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  };
  const describe = `Graph error ${code ?? '-'}${subcode === undefined ? '' : `/${subcode}`} (HTTP ${httpStatus}): ${message}`;
  if (code === undefined) {
    // No Graph error body (a proxy's page, an empty 5xx): nothing says the request itself is wrong.
    return new GraphError('transient', describe, details);
  }
  if (code === 190 || code === 102) return new GraphError('invalid_token', describe, details);
  // A version Meta has retired (docs/providers/facebook.md): no retry helps until FACEBOOK_GRAPH_URL names a current one.
  if (code === 2635) return new GraphError('permanent', `${describe}; set FACEBOOK_GRAPH_URL to a current Graph API version`, details);
  if (code === 33 || (code === 100 && subcode === 33)) return new GraphError('not_found', describe, details);
  if (rateLimitCodes.has(code) || isBusinessUseCaseLimit(code)) return new GraphError('rate_limited', describe, details);
  if (code === 1 || code === 2 || own(error, 'is_transient') === true) return new GraphError('transient', describe, details);
  if (code === 10 || (code >= 200 && code <= 299) || code === 100) return new GraphError('permanent', describe, details);
  // A code this table does not know: retried, and the queue's redrive policy ends in the DLQ if it persists.
  return new GraphError('transient', describe, details);
}

export interface GraphClientOptions {
  /** Graph API base with its version, e.g. https://graph.facebook.com/v26.0 (FACEBOOK_GRAPH_URL). */
  graphUrl: string;
  accessToken: string;
  appSecret: string;
  /** Per call; a slower answer counts as a network failure (retried). Default 8 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Fetches one lead. Throws a {@link GraphError} saying whether a retry can help. */
export async function fetchGraphLead(leadgenId: string, options: GraphClientOptions): Promise<GraphLead> {
  const fetchFn = options.fetch ?? fetch;
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(graphLeadUrl(options.graphUrl, leadgenId, options.accessToken, options.appSecret), {
      headers: { accept: 'application/json' },
      // The access token is in the query: a redirect would hand it to wherever the Location points.
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? 8000),
    });
    text = await response.text();
  } catch (error) {
    throw new GraphError('transient', `Graph API unreachable: ${(error as Error).message}`, { cause: error });
  }
  if (response.status >= 300 && response.status < 400) {
    throw new GraphError(
      'permanent',
      `Graph answered ${response.status}, a redirect${redirectTarget(response)}: not followed, since the request carries the access token; set FACEBOOK_GRAPH_URL to the Graph API itself`,
      { httpStatus: response.status },
    );
  }
  let body: unknown;
  try {
    body = parseMetaJson(text);
  } catch (error) {
    if (response.ok)
      throw new GraphError('transient', `Graph answered ${response.status} with a body that is not JSON`, { httpStatus: response.status, cause: error });
    body = undefined;
  }
  if (!response.ok || own(body, 'error') !== undefined) throw classifyGraphError(response.status, body, announcedWaitSeconds(response.headers));
  if (!isGraphLead(body)) {
    throw new GraphError('permanent', `Graph answered ${response.status} with something that is not a lead (no id or field_data)`, {
      httpStatus: response.status,
    });
  }
  return body;
}
