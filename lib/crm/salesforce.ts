/**
 * `CRM_ADAPTER=salesforce`: each handoff upserts a Lead by an External ID field holding the lead's id
 * (docs/providers/salesforce.md), `PATCH /services/data/<v>/sobjects/Lead/<field>/<leadId>`, logged in with the
 * OAuth 2.0 client-credentials flow of a connected (or external client) app.
 *
 * Batches go through sObject Collections (`PATCH /composite/sobjects/Lead/<field>`, up to 200 records,
 * allOrNone=false, one result per row); the rows only the single-record resource handles well (several
 * matching Leads, which it answers 300 with their URLs; a create missing a required field) are sent
 * again through it.
 */

import { handoffLeadId } from '../core/handoff.ts';
import { logger } from '../runtime/logger.ts';
import type { CrmAdapter, DeliveryReceipt, DeliveryResult, HandoffRecord, HandoffType } from './adapter.ts';
import { CrmDeliveryError } from './adapter.ts';
import { retryAfterSeconds } from './webhook.ts';

/** The Lead fields the score goes to, by role; an absent role is not sent. */
export interface SalesforceScoreFields {
  score?: string;
  fit?: string;
  behavior?: string;
  reasons?: string;
  modelVersion?: string;
  qualifiedAt?: string;
}

export interface SalesforceSettings {
  /** The org's My Domain URL (SALESFORCE_INSTANCE_URL), where the token is asked for. */
  instanceUrl: string;
  clientId: string;
  clientSecret: string;
  /** The Lead's External ID field holding the lead's id (SALESFORCE_EXTERNAL_ID_FIELD). */
  externalIdField: string;
  /** `v62.0` (SALESFORCE_API_VERSION). */
  apiVersion: string;
  /** Lead Status written for each transition. */
  statuses: Record<HandoffType, string>;
  /**
   * Lead Status values the adapter may replace (SALESFORCE_REPLACEABLE_STATUSES); a Lead in any other
   * status (sales working it) keeps it, its scores still written. `any`: Status is written without reading it first.
   */
  replaceableStatuses: readonly string[] | 'any';
  fields: SalesforceScoreFields;
}

/** Environment variable naming each score field, and its default (docs/operator-contract.md, "Settings"). */
export const salesforceFieldSettings: Record<keyof SalesforceScoreFields, { env: string; default: string }> = {
  score: { env: 'SALESFORCE_SCORE_FIELD', default: 'Lead_Score__c' },
  fit: { env: 'SALESFORCE_FIT_SCORE_FIELD', default: 'Fit_Score__c' },
  behavior: { env: 'SALESFORCE_BEHAVIOR_SCORE_FIELD', default: 'Behavior_Score__c' },
  reasons: { env: 'SALESFORCE_REASONS_FIELD', default: 'MQL_Reasons__c' },
  modelVersion: { env: 'SALESFORCE_MODEL_VERSION_FIELD', default: 'MQL_Model_Version__c' },
  qualifiedAt: { env: 'SALESFORCE_QUALIFIED_AT_FIELD', default: 'MQL_Date__c' },
};

/** Environment variable naming each transition's Lead Status, and its default. */
const statusSettings: Record<HandoffType, { env: string; default: string }> = {
  // A custom value the admin adds: MQL is not in a fresh org's list.
  'lead.mql': { env: 'SALESFORCE_MQL_STATUS', default: 'Marketing Qualified' },
  // "Open - Not Contacted" is in every org's list from the start, and it is what a recycled lead is
  // again: back with marketing, nobody in sales working it. An org with a "Recycled" value sets it.
  'lead.recycled': { env: 'SALESFORCE_RECYCLED_STATUS', default: 'Open - Not Contacted' },
  // The standard closed-without-conversion value, also in every org.
  'lead.disqualified': { env: 'SALESFORCE_DISQUALIFIED_STATUS', default: 'Closed - Not Converted' },
};

/** Salesforce's API field names: a letter, then letters, digits and single underscores (custom ones end in `__c`). */
const fieldNamePattern = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * The adapter's settings from the environment.
 * @throws Error naming the variable to set when one is missing or malformed.
 */
export function salesforceSettingsFromEnv(env: Readonly<Record<string, string | undefined>>, clientSecret: string | undefined): SalesforceSettings {
  const instanceUrl = env.SALESFORCE_INSTANCE_URL?.trim().replace(/\/+$/, '');
  if (!instanceUrl) throw new Error("CRM_ADAPTER=salesforce needs SALESFORCE_INSTANCE_URL, the org's My Domain URL (https://<domain>.my.salesforce.com)");
  if (!URL.canParse(instanceUrl)) throw new Error(`SALESFORCE_INSTANCE_URL must be a URL, got ${JSON.stringify(instanceUrl)}`);
  const parsed = new URL(instanceUrl);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
  // The token and the records travel over it: plain http only to a stand-in on this machine.
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
    throw new Error(`SALESFORCE_INSTANCE_URL must be https (the My Domain URL), got ${JSON.stringify(instanceUrl)}`);
  }
  const clientId = env.SALESFORCE_CLIENT_ID?.trim();
  if (!clientId) throw new Error('CRM_ADAPTER=salesforce needs SALESFORCE_CLIENT_ID, the consumer key of the app with the client credentials flow enabled');
  if (!clientSecret) throw new Error('CRM_ADAPTER=salesforce needs the secret SALESFORCE_CLIENT_SECRET, the consumer secret of that app');
  const externalIdField = env.SALESFORCE_EXTERNAL_ID_FIELD?.trim();
  if (!externalIdField)
    throw new Error('CRM_ADAPTER=salesforce needs SALESFORCE_EXTERNAL_ID_FIELD, a Lead Text field marked External ID and Unique (e.g. MQL_External_Id__c)');
  if (!fieldNamePattern.test(externalIdField))
    throw new Error(`SALESFORCE_EXTERNAL_ID_FIELD must be a field's API name, got ${JSON.stringify(externalIdField)}`);
  const apiVersion = env.SALESFORCE_API_VERSION?.trim() || 'v62.0';
  if (!/^v\d{2,3}\.0$/.test(apiVersion)) throw new Error(`SALESFORCE_API_VERSION must look like v62.0, got ${JSON.stringify(apiVersion)}`);
  const statuses = {} as Record<HandoffType, string>;
  for (const [type, setting] of Object.entries(statusSettings) as [HandoffType, { env: string; default: string }][]) {
    const value = env[setting.env]?.trim();
    statuses[type] = value || setting.default;
  }
  const fields: SalesforceScoreFields = {};
  for (const [role, setting] of Object.entries(salesforceFieldSettings) as [keyof SalesforceScoreFields, { env: string; default: string }][]) {
    const value = env[setting.env];
    // Set but empty: the org has no such field, so it is not sent.
    const name = value === undefined ? setting.default : value.trim();
    if (name === '') continue;
    if (!fieldNamePattern.test(name)) throw new Error(`${setting.env} must be a field's API name (or empty to send nothing), got ${JSON.stringify(name)}`);
    fields[role] = name;
  }
  const replaceable = env.SALESFORCE_REPLACEABLE_STATUSES?.trim();
  const replaceableStatuses =
    replaceable === '*'
      ? 'any'
      : replaceable
        ? [
            ...new Set(
              replaceable
                .split(',')
                .map((status) => status.trim())
                .filter(Boolean),
            ),
          ]
        : // Marketing's own statuses: new, and the three the adapter writes. Any other is sales's work.
          [...new Set(['Open - Not Contacted', ...Object.values(statuses)])];
  return { instanceUrl, clientId, clientSecret, externalIdField, apiVersion, statuses, replaceableStatuses, fields };
}

/** An access token and the instance it is for. */
interface Session {
  accessToken: string;
  instanceUrl: string;
}

/**
 * Sessions by org and client, kept for the container's life: a client-credentials token carries no
 * expiry, it works until the org's session timeout, when a 401 says to log in again.
 */
const sessions = new Map<string, Promise<Session>>();

/** Forgets every cached session (tests). */
export function resetSalesforceSessions(): void {
  sessions.clear();
}

/** Default size of a Long Text Area; longer reasons are cut so the write does not fail STRING_TOO_LONG. */
const maxReasonsLength = 32_768;

/** Most characters of Salesforce's answer quoted in an error message. */
const maxQuoted = 300;

/** Share of the daily API limit above which each delivery logs a warning. */
const usageWarningShare = 0.9;

/** Characters of url-encoded ids in one status query: with the rest of the URI, well under Salesforce's 16,384. */
const maxQueryIdsLength = 12_000;

/** Most records one sObject Collections request takes. */
const collectionLimit = 200;

/** What fills LastName or Company on a create when the lead did not say: Salesforce requires both. */
const placeholder = '[not provided]';

interface SalesforceErrorItem {
  message?: string;
  errorCode?: string;
  /** sObject Collections' row errors name the code `statusCode`. */
  statusCode?: string;
  fields?: string[];
  duplicateResult?: { matchResults?: { matchRecords?: { record?: { Id?: string } }[] }[] };
}

function errorItems(body: unknown): SalesforceErrorItem[] {
  if (!Array.isArray(body)) return [];
  return body
    .filter((item): item is SalesforceErrorItem => item !== null && typeof item === 'object')
    .map((item) => (item.errorCode === undefined && typeof item.statusCode === 'string' ? { ...item, errorCode: item.statusCode } : item));
}

function quote(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > maxQuoted ? `${trimmed.slice(0, maxQuoted)}...` : trimmed;
}

function describeNetworkError(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return `gave no answer within ${timeoutMs} ms`;
  return `request failed: ${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}`;
}

/** The reasons as text a sales rep reads on the Lead: what happened, the score, then one line per rule. */
export function salesforceReasonsText(record: HandoffRecord): string {
  const { score } = record;
  const what = record.type === 'lead.mql' ? 'Marketing qualified' : record.type === 'lead.recycled' ? 'Recycled to marketing' : 'Disqualified';
  const lines = [
    `${what} at ${record.occurredAt}: score ${score.total} (fit ${score.fit}, behavior ${score.behavior}; threshold ${score.threshold}), model ${score.modelVersion}`,
  ];
  for (const reason of record.reasons) {
    const points = reason.points ?? reason.pointsNow;
    lines.push(
      `${points >= 0 ? '+' : ''}${points} ${reason.description} (${reason.kind}${reason.count > 1 ? `, x${reason.count}` : ''}${reason.lastSeen ? `, last ${reason.lastSeen}` : ''})`,
    );
  }
  // The person first came without an e-mail: a Lead under that earlier id may exist, for sales to merge
  // (the REST API cannot merge Leads).
  if (record.mergedFrom?.length) lines.push(`Same person as the Lead(s) with external id ${record.mergedFrom.join(', ')}: merge them`);
  const text = lines.join('\n');
  return text.length > maxReasonsLength ? `${text.slice(0, maxReasonsLength - 3)}...` : text;
}

/**
 * The Lead's fields for a record. Profile fields only when the lead gave them (an update never blanks
 * what sales typed); the external id stays in the URL, out of the body, as Salesforce asks.
 */
export function salesforceLeadFields(record: HandoffRecord, settings: Pick<SalesforceSettings, 'statuses' | 'fields'>): Record<string, string | number> {
  const body: Record<string, string | number> = {};
  const { lead } = record;
  const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);
  const profile: [string, unknown][] = [
    ['FirstName', lead.firstName],
    ['LastName', lead.lastName],
    ['Company', lead.company],
    ['Email', lead.email],
    ['Title', lead.jobTitle],
    ['Phone', lead.phone],
  ];
  for (const [field, value] of profile) {
    const known = text(value);
    if (known !== undefined) body[field] = known;
  }
  // NumberOfEmployees is an integer field; a range such as "501-1000" has no single value to write.
  if (typeof lead.companySize === 'number' && Number.isInteger(lead.companySize) && lead.companySize > 0) body.NumberOfEmployees = lead.companySize;
  body.Status = settings.statuses[record.type];
  const { fields } = settings;
  if (fields.score) body[fields.score] = record.score.total;
  if (fields.fit) body[fields.fit] = record.score.fit;
  if (fields.behavior) body[fields.behavior] = record.score.behavior;
  if (fields.reasons) body[fields.reasons] = salesforceReasonsText(record);
  if (fields.modelVersion) body[fields.modelVersion] = record.score.modelVersion;
  // The moment it qualified; a recycle keeps the date of the qualification it ends.
  if (fields.qualifiedAt && record.type === 'lead.mql') body[fields.qualifiedAt] = record.occurredAt;
  return body;
}

/** `Sforce-Limit-Info: api-usage=25/15000` (maybe followed by `, per-app-api-usage=...`), read: the org's count only. */
export function parseApiUsage(header: string | null): { used: number; max: number } | undefined {
  const match = header ? /(?:^|[,\s])api-usage=(\d+)\/(\d+)/.exec(header) : null;
  return match ? { used: Number(match[1]), max: Number(match[2]) } : undefined;
}

export interface SalesforceAdapterOptions {
  /** Injected in tests; the platform's fetch otherwise. */
  fetch?: typeof globalThis.fetch;
  /** Give up on one HTTP call after this long. */
  timeoutMs?: number;
}

/**
 * A {@link CrmAdapter} upserting Leads by external id (= the lead's id, so every retry lands on the
 * same Lead). Statuses: 201 created; 200 or 204 updated; everything else becomes a
 * {@link CrmDeliveryError} of the kind the handoff's retry policy needs, except a converted lead, which
 * is delivered with a note (see {@link deliver}).
 */
export function salesforceAdapter(settings: SalesforceSettings, options: SalesforceAdapterOptions = {}): CrmAdapter {
  const send = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const sessionKey = `${settings.instanceUrl}|${settings.clientId}`;
  const fieldEnv = new Map<string, string>();
  for (const [role, name] of Object.entries(settings.fields) as [keyof SalesforceScoreFields, string][]) fieldEnv.set(name, salesforceFieldSettings[role].env);

  /** Logs in with the client credentials; never logs or quotes the secret. */
  async function login(): Promise<Session> {
    let response: Response;
    try {
      response = await send(`${settings.instanceUrl}/services/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: settings.clientId, client_secret: settings.clientSecret }).toString(),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new CrmDeliveryError(`Salesforce login ${describeNetworkError(error, timeoutMs)}; will retry`, {
        retryable: true,
        kind: 'unavailable',
        cause: error,
      });
    }
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const answer = (body ?? {}) as { access_token?: unknown; instance_url?: unknown; error?: unknown; error_description?: unknown };
    if (response.status >= 500 || response.status === 429) {
      throw new CrmDeliveryError(`Salesforce login answered ${response.status}; will retry`, { status: response.status, retryable: true, kind: 'unavailable' });
    }
    if (response.status !== 200) {
      const code =
        typeof answer.error === 'string'
          ? `${answer.error}${typeof answer.error_description === 'string' ? `: ${answer.error_description}` : ''}`
          : quote(text);
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

  interface Answer {
    response: Response;
    body: unknown;
    text: string;
  }

  /** One API call with a valid session: logs in when needed, and once more after 401 INVALID_SESSION_ID. */
  async function call(method: 'GET' | 'PATCH', path: string, payload: unknown, tally: { calls: number }): Promise<Answer> {
    for (let attempt = 1; ; attempt += 1) {
      const current = await session();
      if (current.fresh) tally.calls += 1;
      let response: Response;
      tally.calls += 1;
      try {
        response = await send(`${current.session.instanceUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${current.session.accessToken}`,
            accept: 'application/json',
            ...(method === 'PATCH' ? { 'content-type': 'application/json' } : {}),
          },
          ...(method === 'PATCH' ? { body: JSON.stringify(payload) } : {}),
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new CrmDeliveryError(`Salesforce ${method === 'GET' ? 'query' : 'upsert'} ${describeNetworkError(error, timeoutMs)}; will retry`, {
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

  const patch = (path: string, payload: unknown, tally: { calls: number }) => call('PATCH', path, payload, tally);

  /**
   * The Status and conversion of the Leads these lead ids name, in one SOQL query (a lead id absent
   * from the map has no Lead yet). Skipped (empty map) when every status may be replaced.
   * @throws CrmDeliveryError when the query fails as a whole.
   */
  async function currentLeads(
    leadIds: readonly string[],
    record: HandoffRecord,
    tally: { calls: number },
    now: Date,
  ): Promise<Map<string, { status: string | undefined; converted: boolean }>> {
    const found = new Map<string, { status: string | undefined; converted: boolean }>();
    if (settings.replaceableStatuses === 'any' || leadIds.length === 0) return found;
    const literal = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const select = `SELECT Id, Status, IsConverted, ${settings.externalIdField} FROM Lead WHERE ${settings.externalIdField} IN `;
    // A GET's URI must stay under Salesforce's 16,384 characters: long ids split the query in several.
    const chunks: string[][] = [[]];
    let length = 0;
    for (const leadId of leadIds) {
      const size = encodeURIComponent(`${literal(leadId)}, `).length;
      if (length + size > maxQueryIdsLength && chunks.at(-1)!.length > 0) {
        chunks.push([]);
        length = 0;
      }
      chunks.at(-1)!.push(leadId);
      length += size;
    }
    for (const chunk of chunks) {
      const soql = `${select}(${chunk.map(literal).join(', ')})`;
      const answer = await call('GET', `/services/data/${settings.apiVersion}/query?q=${encodeURIComponent(soql)}`, undefined, tally);
      const { response, body } = answer;
      if (response.status !== 200) {
        const outcome = failure({ status: response.status, body, text: answer.text, headers: response.headers }, record, now);
        throw outcome instanceof CrmDeliveryError
          ? outcome
          : new CrmDeliveryError(`Salesforce answered the Lead query ${response.status}; will retry`, {
              status: response.status,
              retryable: true,
              kind: 'unavailable',
            });
      }
      const rows = (body as { records?: unknown } | undefined)?.records;
      if (!Array.isArray(rows))
        throw new CrmDeliveryError('Salesforce answered the Lead query without records; will retry', { status: 200, retryable: true, kind: 'unavailable' });
      for (const row of rows as Record<string, unknown>[]) {
        const key = row?.[settings.externalIdField];
        if (typeof key !== 'string') continue;
        const status = typeof row.Status === 'string' ? row.Status : undefined;
        // Several Leads with the id: the upsert answers 300 anyway; keep the first one's facts.
        if (!found.has(key)) found.set(key, { status, converted: row.IsConverted === true });
      }
    }
    return found;
  }

  /**
   * The fields to write given what the Lead is now: Status left out when sales moved it to a status
   * marketing does not own. A converted Lead gets nothing (undefined): Salesforce refuses any write to it.
   */
  function plan(
    record: HandoffRecord,
    current: { status: string | undefined; converted: boolean } | undefined,
  ): { fields: Record<string, string | number>; note?: string } | undefined {
    if (current?.converted) return undefined;
    const fields = salesforceLeadFields(record, settings);
    const replaceable = settings.replaceableStatuses;
    if (current?.status !== undefined && replaceable !== 'any' && !replaceable.includes(current.status) && current.status !== fields.Status) {
      delete fields.Status;
      return { fields, note: `Status kept at "${current.status}" (not in SALESFORCE_REPLACEABLE_STATUSES: sales owns it); scores written` };
    }
    return { fields };
  }

  const convertedNote = (leadId: string) => `Lead ${leadId} is already converted in Salesforce (read-only): nothing written`;

  /**
   * What an answer other than 200/201/204 means for the record: a failure of the kind the retry policy
   * needs, or (a converted Lead) a receipt. Also reads a Collections row's errors, given as status 400.
   */
  function failure(
    answer: { status: number; body: unknown; text: string; headers?: Headers },
    record: HandoffRecord,
    now: Date,
  ): CrmDeliveryError | DeliveryReceipt {
    const { status, body, text } = answer;
    const items = errorItems(body);
    const codes = items.map((item) => item.errorCode ?? '');
    const said = items.length > 0 ? items.map((item) => `${item.errorCode ?? '?'}: ${item.message ?? ''}`).join('; ') : quote(text);
    const at = `Salesforce answered ${status}`;
    if (status === 300) {
      const urls = Array.isArray(body) ? body.filter((url): url is string => typeof url === 'string') : [];
      return new CrmDeliveryError(
        `${at}: ${urls.length || 'several'} Leads have ${settings.externalIdField} = ${JSON.stringify(record.leadId)} (${urls.join(', ')}); nothing was written. Merge them, make ${settings.externalIdField} Unique, then redrive`,
        { status, retryable: false, kind: 'rejected' },
      );
    }
    if (codes.includes('UNABLE_TO_LOCK_ROW')) return new CrmDeliveryError(`${at} (${said}); will retry`, { status, retryable: true, kind: 'unavailable' });
    if (items.some((item) => item.errorCode === 'DUPLICATE_VALUE' && (item.message ?? '').includes(settings.externalIdField))) {
      // Two upserts of a new Lead at once: the second finds the first's insert under way. A retry updates it.
      return new CrmDeliveryError(`${at} (${said}): a concurrent upsert created this Lead; will retry`, { status, retryable: true, kind: 'unavailable' });
    }
    if (codes.includes('CANNOT_UPDATE_CONVERTED_LEAD')) {
      // Salesforce refuses every write to a converted Lead, now and on any retry or redrive: the person
      // is sales's Contact (and maybe Opportunity) already, which is what the handoff was for. So the
      // record counts as delivered, with the reason, instead of looping or filling the DLQ.
      return { status, note: convertedNote(record.leadId) };
    }
    const limit = items.find((item) => item.errorCode === 'REQUEST_LIMIT_EXCEEDED');
    if (limit && /concurrent/i.test(limit.message ?? '')) {
      // The same code for the org's limit of concurrent long-running requests ("ConcurrentRequests
      // (Concurrent API Requests) Limit exceeded."; 25 in production, 5 in a Developer Edition): it clears
      // as the requests in flight finish, in seconds, so it is a rate limit to wait out, not the daily quota
      // (held back for an hour, with the quota alarm). Salesforce names no wait: the handoff's policy applies.
      return new CrmDeliveryError(`${at}: too many long-running API requests in the org at once (${said}); will retry shortly`, {
        status,
        retryable: true,
        kind: 'rate_limited',
      });
    }
    if (limit) {
      return new CrmDeliveryError(`${at}: the org's rolling 24-hour API request limit is used up (${said}); will retry in hours`, {
        status,
        retryable: true,
        kind: 'quota_exhausted',
      });
    }
    if (status === 401) {
      return new CrmDeliveryError(
        `${at} after a fresh login (${said}): the app's Run As user cannot use the API; check its profile (API Enabled) and the app's OAuth scopes (api)`,
        {
          status,
          retryable: false,
          kind: 'auth',
        },
      );
    }
    if (status === 403) {
      return new CrmDeliveryError(
        `${at} (${said}): the app's Run As user lacks permission; give it API Enabled, Create and Edit on Lead and edit access to the fields written`,
        {
          status,
          retryable: false,
          kind: 'auth',
        },
      );
    }
    if (status === 404) {
      return new CrmDeliveryError(
        `${at} (${said}): no Lead field ${settings.externalIdField} the API user can see; check SALESFORCE_EXTERNAL_ID_FIELD (an External ID Text field on Lead, visible to the Run As user) and SALESFORCE_API_VERSION (${settings.apiVersion})`,
        { status, retryable: false, kind: 'rejected' },
      );
    }
    if (status === 429 || status >= 500) {
      const retryAfter = retryAfterSeconds(answer.headers?.get('retry-after') ?? null, now);
      return new CrmDeliveryError(`${at} (${said}); will retry`, {
        status,
        retryable: true,
        kind: status === 429 ? 'rate_limited' : 'unavailable',
        ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
      });
    }
    const hints: string[] = [];
    for (const item of items) {
      if (item.errorCode === 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST' && (item.fields ?? []).includes('Status')) {
        hints.push(`add "${settings.statuses[record.type]}" to the Lead Status picklist or set ${statusSettings[record.type].env} to an active value`);
      }
      if (item.errorCode === 'INVALID_FIELD') {
        const named = [...fieldEnv].filter(([name]) => (item.message ?? '').includes(`'${name}'`));
        if (named.length > 0) hints.push(named.map(([name, env]) => `create the Lead field ${name} or set ${env}= (empty) to stop sending it`).join('; '));
        else if ((item.message ?? '').includes(settings.externalIdField))
          hints.push('check SALESFORCE_EXTERNAL_ID_FIELD (an External ID Text field on Lead, visible to the Run As user)');
        else hints.push('check the SALESFORCE_*_FIELD settings');
      }
      if (item.errorCode === 'DUPLICATES_DETECTED') {
        const ids = (item.duplicateResult?.matchResults ?? [])
          .flatMap((match) => (match.matchRecords ?? []).map((matched) => matched.record?.Id))
          .filter(Boolean);
        hints.push(`a duplicate rule blocks it (matches ${ids.join(', ') || 'unknown'}): merge or relax the rule, then redrive`);
      }
    }
    return new CrmDeliveryError(`${at} (${said})${hints.length > 0 ? `: ${hints.join('; ')}` : ''}`, { status, retryable: false, kind: 'rejected' });
  }

  /**
   * Upserts one record's Lead. On REQUIRED_FIELD_MISSING (a create without LastName or Company the
   * lead never gave) it retries once with "[not provided]" in those fields: only a create can miss
   * them, so a real value is never overwritten with the placeholder.
   */
  async function deliver(record: HandoffRecord, now: Date): Promise<DeliveryReceipt> {
    const leadId = handoffLeadId(record);
    if (!leadId) throw new CrmDeliveryError('handoff record has no lead id to upsert by', { retryable: false, kind: 'rejected' });
    const path = `/services/data/${settings.apiVersion}/sobjects/Lead/${encodeURIComponent(settings.externalIdField)}/${encodeURIComponent(leadId)}`;
    const tally = { calls: 0 };
    const current = await currentLeads([leadId], record, tally, now);
    const planned = plan(record, current.get(leadId));
    if (!planned) return { status: 200, note: convertedNote(leadId), calls: tally.calls };
    const { fields } = planned;
    let answer = await patch(path, fields, tally);
    const missing = errorItems(answer.body)
      .filter((item) => item.errorCode === 'REQUIRED_FIELD_MISSING')
      .flatMap((item) => item.fields ?? [])
      .filter((field) => (field === 'LastName' || field === 'Company') && !(field in fields));
    let filled: string[] = [];
    if (answer.response.status === 400 && missing.length > 0) {
      filled = [...new Set(missing)];
      answer = await patch(path, { ...fields, ...Object.fromEntries(filled.map((field) => [field, placeholder])) }, tally);
    }
    const { response, body } = answer;
    if (response.status === 200 || response.status === 201 || response.status === 204) {
      const result = (body ?? {}) as { id?: unknown; created?: unknown };
      const receipt: DeliveryReceipt = { status: response.status, created: response.status === 201 || result.created === true, calls: tally.calls };
      if (typeof result.id === 'string') receipt.externalId = result.id;
      const notes = [planned.note, filled.length > 0 ? `${filled.join(' and ')} not known: created with "${placeholder}"` : undefined].filter(Boolean);
      if (notes.length > 0) receipt.note = notes.join('; ');
      return receipt;
    }
    const outcome = failure({ status: response.status, body, text: answer.text, headers: response.headers }, { ...record, leadId }, now);
    if (outcome instanceof CrmDeliveryError) throw outcome;
    return { ...outcome, calls: tally.calls };
  }

  /**
   * Up to {@link collectionLimit} records in one sObject Collections upsert (allOrNone=false), one
   * result per record in order. A row that needs what only the single-record resource does goes
   * through {@link deliver}: several Leads matching (DUPLICATE_EXTERNAL_ID; the single upsert answers
   * 300 with their URLs) and a create missing LastName or Company (the placeholder retry).
   */
  async function deliverBatch(records: readonly HandoffRecord[], now: Date): Promise<DeliveryResult[]> {
    const results: (DeliveryResult | undefined)[] = records.map(() => undefined);
    let sent: { index: number; record: HandoffRecord; leadId: string }[] = [];
    records.forEach((record, index) => {
      const leadId = handoffLeadId(record);
      if (leadId) sent.push({ index, record, leadId });
      else results[index] = { ok: false, error: new CrmDeliveryError('handoff record has no lead id to upsert by', { retryable: false, kind: 'rejected' }) };
    });
    const tally = { calls: 0 };
    const current =
      sent.length > 0
        ? await currentLeads(
            sent.map(({ leadId }) => leadId),
            sent[0]!.record,
            tally,
            now,
          )
        : new Map();
    const planned = new Map<number, { fields: Record<string, string | number>; note?: string }>();
    for (const { index, record, leadId } of sent) {
      const fields = plan(record, current.get(leadId));
      if (fields) planned.set(index, fields);
      else results[index] = { ok: true, receipt: { status: 200, note: convertedNote(leadId) } };
    }
    sent = sent.filter(({ index }) => planned.has(index));
    if (sent.length > 0) {
      const payload = {
        allOrNone: false,
        records: sent.map(({ index, leadId }) => ({ attributes: { type: 'Lead' }, [settings.externalIdField]: leadId, ...planned.get(index)!.fields })),
      };
      const answer = await patch(
        `/services/data/${settings.apiVersion}/composite/sobjects/Lead/${encodeURIComponent(settings.externalIdField)}`,
        payload,
        tally,
      );
      const { response, body } = answer;
      if (response.status !== 200) {
        const outcome = failure({ status: response.status, body, text: answer.text, headers: response.headers }, sent[0]!.record, now);
        if (outcome instanceof CrmDeliveryError) throw outcome;
        throw new CrmDeliveryError(`Salesforce answered the collection ${response.status}; will retry`, {
          status: response.status,
          retryable: true,
          kind: 'unavailable',
        });
      }
      if (!Array.isArray(body) || body.length !== sent.length) {
        throw new CrmDeliveryError(
          `Salesforce answered the collection of ${sent.length} with ${Array.isArray(body) ? body.length : 'no'} results; will retry`,
          { status: 200, retryable: true, kind: 'unavailable' },
        );
      }
      const share = Math.round((tally.calls / sent.length) * 1000) / 1000;
      await Promise.all(
        sent.map(async ({ index, record, leadId }, row) => {
          const result = (body[row] ?? {}) as { id?: unknown; success?: unknown; created?: unknown; errors?: unknown };
          if (result.success === true) {
            const receipt: DeliveryReceipt = { status: result.created === true ? 201 : 200, created: result.created === true, calls: share };
            if (typeof result.id === 'string') receipt.externalId = result.id;
            const note = planned.get(index)?.note;
            if (note) receipt.note = note;
            results[index] = { ok: true, receipt };
            return;
          }
          const items = errorItems(result.errors);
          const codes = new Set(items.map((item) => item.errorCode));
          if (codes.has('DUPLICATE_EXTERNAL_ID') || codes.has('REQUIRED_FIELD_MISSING')) {
            try {
              const receipt = await deliver(record, now);
              results[index] = { ok: true, receipt: { ...receipt, calls: share + (receipt.calls ?? 0) } };
            } catch (error) {
              if (!(error instanceof CrmDeliveryError)) throw error;
              results[index] = { ok: false, error };
            }
            return;
          }
          const outcome = failure({ status: 400, body: items, text: '' }, { ...record, leadId }, now);
          results[index] = outcome instanceof CrmDeliveryError ? { ok: false, error: outcome } : { ok: true, receipt: { ...outcome, calls: share } };
        }),
      );
    }
    return results.map((result) => result!);
  }

  // sObject Collections upsert exists from v46.0 on; before, one record per call.
  const collections = Number(settings.apiVersion.slice(1)) >= 46;
  return { name: 'salesforce', deliver, ...(collections ? { maxBatch: collectionLimit, deliverBatch } : {}) };
}
