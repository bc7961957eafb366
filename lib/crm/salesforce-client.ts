/**
 * How the Salesforce adapter (./salesforce.ts) and `npx mql crm setup salesforce` (./salesforce-setup.ts)
 * talk to an org (docs/providers/salesforce.md): the OAuth 2.0 client-credentials login, a session cached
 * per container and renewed once on a 401, and the Lead's describe (its fields and their types), read once
 * per container: the adapter needs a field's type to send the value it takes (a Date field refuses a
 * date-time with JSON_PARSER_ERROR, failing a whole collection call).
 */
import { describeNetworkError, excerpt, redacted } from '../http/outbound.ts';
import { logger } from '../runtime/logger.ts';
import { CrmDeliveryError } from './adapter.ts';
import type { SalesforceSettings } from './salesforce-fields.ts';
import { parseApiUsage } from './salesforce-fields.ts';

/** An access token and the instance it is for. */
interface Session {
  accessToken: string;
  instanceUrl: string;
}

/** A field of the Lead as `GET /sobjects/Lead/describe` lists it (the parts read here). */
export interface SalesforceField {
  name: string;
  label?: string;
  /** `string`, `textarea`, `double`, `int`, `date`, `datetime`, `picklist`, `email`, `phone`, ... */
  type: string;
  length?: number;
  externalId?: boolean;
  unique?: boolean;
  createable?: boolean;
  updateable?: boolean;
  custom?: boolean;
  picklistValues?: { value: string; label?: string; active?: boolean }[];
}

/**
 * Sessions by org and client, kept for the container's life: a client-credentials token carries no
 * expiry, it works until the org's session timeout, when a 401 says to log in again.
 */
const sessions = new Map<string, Promise<Session>>();

/** The Lead's fields by org, client and API version, read once per container (a cold start reads them again). */
const describes = new Map<string, Promise<Map<string, SalesforceField>>>();

/** Forgets every cached session and describe (tests). */
export function resetSalesforceSessions(): void {
  sessions.clear();
  describes.clear();
}

/** Share of the daily API limit above which each call logs a warning. */
const usageWarningShare = 0.9;

export interface SalesforceClientOptions {
  /** Injected in tests; the platform's fetch otherwise. */
  fetch?: typeof globalThis.fetch;
  /** Give up on one HTTP call after this long. */
  timeoutMs?: number;
}

export interface Answer {
  response: Response;
  body: unknown;
  text: string;
}

export interface SalesforceClient {
  /** One API call with a valid session: logs in when needed, and once more after 401 INVALID_SESSION_ID. Counts its calls in `tally`. */
  call(method: 'GET' | 'PATCH', path: string, payload: unknown, tally: { calls: number }): Promise<Answer>;
  /**
   * The Lead's fields by API name, from one describe call per container.
   * @throws CrmDeliveryError when the describe fails, as `refused` classifies the answer (not cached: the
   *   next delivery asks again).
   */
  leadFields(tally: { calls: number }, refused: (answer: Answer) => CrmDeliveryError): Promise<Map<string, SalesforceField>>;
}

/** A client for the org of `settings` (see the file's comment). */
export function salesforceClient(
  settings: Pick<SalesforceSettings, 'instanceUrl' | 'clientId' | 'clientSecret' | 'apiVersion'>,
  options: SalesforceClientOptions = {},
): SalesforceClient {
  const send = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const sessionKey = `${settings.instanceUrl}|${settings.clientId}`;

  /**
   * One request: redirects never followed (a signed or authorized request must not travel to a URL nobody
   * configured), a network failure or timeout `unavailable` (retried); the answer with its text and JSON.
   */
  async function request(what: string, url: string, init: RequestInit): Promise<Answer> {
    let response: Response;
    try {
      response = await send(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new CrmDeliveryError(`Salesforce ${what} ${describeNetworkError(error, timeoutMs)}; will retry`, {
        retryable: true,
        kind: 'unavailable',
        cause: error,
      });
    }
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { response, text, body };
  }

  /** Logs in with the client credentials; never logs or quotes the secret. */
  async function login(): Promise<Session> {
    const { response, text, body } = await request('login', `${settings.instanceUrl}/services/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: settings.clientId, client_secret: settings.clientSecret }).toString(),
    });
    const answer = (body ?? {}) as { access_token?: unknown; instance_url?: unknown; error?: unknown; error_description?: unknown };
    if (response.status >= 500 || response.status === 429) {
      throw new CrmDeliveryError(`Salesforce login answered ${response.status}; will retry`, { status: response.status, retryable: true, kind: 'unavailable' });
    }
    if (response.status !== 200) {
      const code =
        typeof answer.error === 'string'
          ? `${answer.error}${typeof answer.error_description === 'string' ? `: ${answer.error_description}` : ''}`
          : excerpt(redacted(text));
      throw new CrmDeliveryError(
        `Salesforce refused the login (${response.status} ${code}): check SALESFORCE_CLIENT_ID and the secret SALESFORCE_CLIENT_SECRET, that the app has the client credentials flow enabled with a Run As user, and that SALESFORCE_INSTANCE_URL is the org's My Domain URL`,
        { status: response.status, retryable: false, kind: 'auth' },
      );
    }
    const instanceUrl = typeof answer.instance_url === 'string' ? answer.instance_url.replace(/\/+$/, '') : '';
    if (typeof answer.access_token !== 'string' || answer.access_token === '' || !URL.canParse(instanceUrl)) {
      throw new CrmDeliveryError('Salesforce login answered 200 without an access_token and instance_url; will retry', {
        status: 200,
        retryable: true,
        kind: 'unavailable',
      });
    }
    return { accessToken: answer.access_token, instanceUrl };
  }

  /** The cached session, or a new login (one per container at a time); `fresh` when this call logged in. */
  async function session(): Promise<{ promise: Promise<Session>; session: Session; fresh: boolean }> {
    let promise = sessions.get(sessionKey);
    let fresh = false;
    if (!promise) {
      promise = login();
      fresh = true;
      sessions.set(sessionKey, promise);
      // A failed login is not kept: the next delivery tries again.
      promise.catch(() => {
        if (sessions.get(sessionKey) === promise) sessions.delete(sessionKey);
      });
    }
    return { promise, session: await promise, fresh };
  }

  async function call(method: 'GET' | 'PATCH', path: string, payload: unknown, tally: { calls: number }): Promise<Answer> {
    for (let attempt = 1; ; attempt += 1) {
      const current = await session();
      if (current.fresh) tally.calls += 1;
      tally.calls += 1;
      const { response, text, body } = await request(method === 'GET' ? 'query' : 'upsert', `${current.session.instanceUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${current.session.accessToken}`,
          accept: 'application/json',
          ...(method === 'PATCH' ? { 'content-type': 'application/json' } : {}),
        },
        ...(method === 'PATCH' ? { body: JSON.stringify(payload) } : {}),
      });
      const usage = parseApiUsage(response.headers.get('sforce-limit-info'));
      if (usage && usage.max > 0 && usage.used >= usage.max * usageWarningShare) {
        logger.warn("Salesforce API usage near the org's daily limit", { used: usage.used, max: usage.max });
      }
      if (response.status === 401 && attempt === 1) {
        // The session timed out (or was revoked): log in again, once, unless another delivery already did.
        if (sessions.get(sessionKey) === current.promise) sessions.delete(sessionKey);
        continue;
      }
      return { response, body, text };
    }
  }

  async function describeLead(tally: { calls: number }, refused: (answer: Answer) => CrmDeliveryError): Promise<Map<string, SalesforceField>> {
    const answer = await call('GET', `/services/data/${settings.apiVersion}/sobjects/Lead/describe`, undefined, tally);
    const fields = (answer.body as { fields?: unknown } | undefined)?.fields;
    if (answer.response.status !== 200) throw refused(answer);
    if (!Array.isArray(fields))
      throw new CrmDeliveryError('Salesforce answered the Lead describe without fields; will retry', { status: 200, retryable: true, kind: 'unavailable' });
    return new Map(
      (fields as SalesforceField[]).filter((field) => typeof field?.name === 'string' && typeof field.type === 'string').map((field) => [field.name, field]),
    );
  }

  return {
    call,
    leadFields(tally, refused) {
      const key = `${sessionKey}|${settings.apiVersion}`;
      let promise = describes.get(key);
      if (!promise) {
        promise = describeLead(tally, refused);
        describes.set(key, promise);
        promise.catch(() => {
          if (describes.get(key) === promise) describes.delete(key);
        });
      }
      return promise;
    },
  };
}
