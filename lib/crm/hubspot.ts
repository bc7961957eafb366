/**
 * `CRM_ADAPTER=hubspot`: handoffs become HubSpot contacts, upserted by e-mail in batch calls of up to
 * 100 (docs/providers/hubspot.md), with the score and its reasons in custom properties that `npx mql crm setup`
 * creates.
 *
 * One batch costs two calls: `batch/read` learns each contact's current `lifecyclestage` and
 * `hs_lead_status`, then `batch/upsert` writes. The read is what keeps the lifecycle forward-only:
 * HubSpot's docs say a stage "can only move forward" without saying whether a backward write errors or
 * is silently dropped (docs/providers/hubspot.md), so the adapter never sends one. A contact sales moved to a later stage
 * (or to a custom stage whose place we cannot know) keeps it; the receipt's note says so.
 */
import type { CrmAdapter, DeliveryReceipt, DeliveryResult, HandoffRecord } from './adapter.ts';
import { CrmDeliveryError } from './adapter.ts';

export const hubSpotDefaultBaseUrl = 'https://api.hubapi.com';

/** HubSpot's batch limit: inputs per batch call. */
export const hubSpotMaxBatch = 100;

/** HubSpot's limit on a string property's value, in characters. */
export const hubSpotMaxText = 65_536;

/** The property group `mql crm setup` creates, so the engine's properties sit together on the record. */
export const hubSpotPropertyGroup = { name: 'mql_engine', label: 'MQL engine', displayOrder: -1 } as const;

export interface HubSpotPropertyDefinition {
  name: string;
  label: string;
  type: 'number' | 'string' | 'datetime';
  fieldType: 'number' | 'text' | 'textarea' | 'date';
  description: string;
}

/** The custom contact properties the adapter writes; `mql crm setup` creates the missing ones. */
export const hubSpotProperties: readonly HubSpotPropertyDefinition[] = [
  {
    name: 'mql_score',
    label: 'MQL score',
    type: 'number',
    fieldType: 'number',
    description: 'Total score (fit + behavior) at the last handoff from mql-engine',
  },
  {
    name: 'mql_fit_score',
    label: 'MQL fit score',
    type: 'number',
    fieldType: 'number',
    description: 'Fit (firmographic and demographic) points at the last handoff',
  },
  {
    name: 'mql_behavior_score',
    label: 'MQL behavior score',
    type: 'number',
    fieldType: 'number',
    description: 'Behavior (engagement) points after decay at the last handoff',
  },
  {
    name: 'mql_reasons',
    label: 'MQL reasons',
    type: 'string',
    fieldType: 'textarea',
    description: 'Why the lead scored what it did: one line per rule, with its points',
  },
  {
    name: 'mql_model_version',
    label: 'MQL model version',
    type: 'string',
    fieldType: 'text',
    description: 'The scoring model version (hash of the model file) behind the score',
  },
  {
    name: 'mql_qualified_at',
    label: 'MQL qualified at',
    type: 'datetime',
    fieldType: 'date',
    description: 'When the lead last became a marketing-qualified lead',
  },
];

/**
 * Lifecycle stages before MQL: only from these (or none) does the adapter set `marketingqualifiedlead`.
 * Every other stage is either MQL already, later (sales moved it on), or a portal's custom stage.
 */
const stagesBeforeMql = new Set(['', 'subscriber', 'lead']);
const mqlStage = 'marketingqualifiedlead';

export interface HubSpotLeadStatuses {
  /**
   * `hs_lead_status` for a new MQL (HUBSPOT_MQL_LEAD_STATUS, default `NEW`), set only when the contact
   * has no status or one the engine itself wrote (a re-MQL after a recycle); never over sales' own.
   */
  mql: string | undefined;
  /**
   * For `lead.recycled` (HUBSPOT_RECYCLED_LEAD_STATUS, default `BAD_TIMING`): a recycled MQL is one
   * nobody acted on while its engagement decayed, "not now" rather than "not a fit", which is what
   * HubSpot's default option BAD_TIMING says; UNQUALIFIED would tell sales the person is wrong for us.
   */
  recycled: string | undefined;
  /**
   * For `lead.disqualified` (HUBSPOT_DISQUALIFIED_LEAD_STATUS, default `UNQUALIFIED`): a competitor,
   * a hard bounce, a spam complaint.
   */
  disqualified: string | undefined;
}

export const hubSpotDefaultLeadStatuses: HubSpotLeadStatuses = { mql: 'NEW', recycled: 'BAD_TIMING', disqualified: 'UNQUALIFIED' };

/**
 * The lead statuses from the environment: unset or empty keeps the default, `none` turns the write off.
 * @throws Error naming the variable when a value cannot be an internal option name.
 */
export function hubSpotLeadStatusesFromEnv(env: Readonly<Record<string, string | undefined>>): HubSpotLeadStatuses {
  const read = (name: string, fallback: string | undefined): string | undefined => {
    const value = env[name]?.trim();
    if (!value) return fallback;
    if (value.toLowerCase() === 'none') return undefined;
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(value))
      throw new Error(`${name} must be an hs_lead_status internal value such as BAD_TIMING (or none), got ${JSON.stringify(value)}`);
    return value;
  };
  return {
    mql: read('HUBSPOT_MQL_LEAD_STATUS', hubSpotDefaultLeadStatuses.mql),
    recycled: read('HUBSPOT_RECYCLED_LEAD_STATUS', hubSpotDefaultLeadStatuses.recycled),
    disqualified: read('HUBSPOT_DISQUALIFIED_LEAD_STATUS', hubSpotDefaultLeadStatuses.disqualified),
  };
}

export interface HubSpotAdapterOptions {
  /** The private app's access token (HUBSPOT_ACCESS_TOKEN). */
  token: string;
  /** HUBSPOT_BASE_URL; https://api.hubapi.com by default, the stand-in's URL locally. */
  baseUrl?: string;
  leadStatuses?: Partial<HubSpotLeadStatuses>;
  /**
   * The HubSpot account's time zone (IANA name, HUBSPOT_TIME_ZONE; default UTC): its DAILY API limit
   * resets at midnight there.
   */
  timeZone?: string;
  /** Injected in tests; the platform's fetch otherwise. */
  fetch?: typeof globalThis.fetch;
  /** Give up on one call after this long. */
  timeoutMs?: number;
}

/**
 * The adapter's settings from the environment (HUBSPOT_BASE_URL, the HUBSPOT_*_LEAD_STATUS values)
 * and the HUBSPOT_ACCESS_TOKEN secret.
 * @throws Error saying what to set, at cold start rather than on every handoff.
 */
export function hubSpotSettingsFromEnv(env: Readonly<Record<string, string | undefined>>, token: string | undefined): HubSpotAdapterOptions {
  if (!token?.trim()) {
    throw new Error(`CRM_ADAPTER=hubspot needs the secret HUBSPOT_ACCESS_TOKEN: a private app's access token (pat-...) with scopes ${scopesNeeded}`);
  }
  const baseUrl = env.HUBSPOT_BASE_URL?.trim() || hubSpotDefaultBaseUrl;
  if (!URL.canParse(baseUrl) || !['http:', 'https:'].includes(new URL(baseUrl).protocol)) {
    throw new Error(`HUBSPOT_BASE_URL must be an http(s) URL such as ${hubSpotDefaultBaseUrl}, got ${JSON.stringify(baseUrl)}`);
  }
  const timeZone = env.HUBSPOT_TIME_ZONE?.trim() || 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(
      `HUBSPOT_TIME_ZONE must be an IANA time zone such as America/New_York (the HubSpot account's, where its daily limit resets), got ${JSON.stringify(timeZone)}`,
    );
  }
  return { token: token.trim(), baseUrl, timeZone, leadStatuses: hubSpotLeadStatusesFromEnv(env) };
}

/** Most characters of HubSpot's answer quoted in an error message (it ends up in logs). */
const maxQuotedBody = 300;

/** The fix for an authentication or scope failure, in the words an operator needs. */
const scopesNeeded = 'crm.objects.contacts.read and crm.objects.contacts.write (crm.schemas.contacts.write for `npx mql crm setup`)';

interface HubSpotAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

interface HubSpotErrorBody {
  status?: string;
  message?: string;
  category?: string;
  policyName?: string;
  errorType?: string;
  context?: { ids?: unknown };
  errors?: unknown;
}

const asErrorBody = (json: unknown): HubSpotErrorBody => (typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as HubSpotErrorBody) : {});

function quote(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return '';
  return `: ${trimmed.length > maxQuotedBody ? `${trimmed.slice(0, maxQuotedBody)}...` : trimmed}`;
}

/** Seconds in a Retry-After header (delta-seconds or an HTTP date); undefined when absent or unreadable. */
function retryAfter(headers: Headers, now: Date): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** Seconds until the next midnight UTC. */
export function secondsToMidnightUtc(now: Date): number {
  return secondsToMidnight(now, 'UTC');
}

/** How far the wall clock of `timeZone` is ahead of UTC at `at`, in milliseconds. */
function zoneOffsetMs(at: number, timeZone: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
      .formatToParts(at)
      .map((part) => [part.type, Number(part.value)]),
  ) as Record<string, number>;
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall - Math.floor(at / 1000) * 1000;
}

/**
 * Seconds until the next midnight in `timeZone` (IANA name): when HubSpot's DAILY limit resets, "midnight
 * in the account's time zone" (HUBSPOT_TIME_ZONE, default UTC).
 */
export function secondsToMidnight(now: Date, timeZone: string): number {
  const at = now.getTime();
  const offset = zoneOffsetMs(at, timeZone);
  const local = new Date(at + offset);
  const wallMidnight = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + 1);
  // The offset at midnight itself, in case a daylight-saving change falls in between.
  const midnight = wallMidnight - zoneOffsetMs(wallMidnight - offset, timeZone);
  return Math.max(1, Math.ceil((midnight - at) / 1000));
}

/** The per-property errors inside HubSpot's "Property values were not valid: [...]" message. */
function propertyErrors(message: string | undefined): { name?: string; error?: string; message?: string }[] {
  if (!message) return [];
  const start = message.indexOf('[');
  if (start < 0) return [];
  try {
    const parsed = JSON.parse(message.slice(start)) as unknown;
    return Array.isArray(parsed) ? (parsed as { name?: string; error?: string; message?: string }[]) : [];
  } catch {
    return [];
  }
}

/** The names of properties HubSpot says do not exist, from an error body. */
function missingProperties(body: HubSpotErrorBody): string[] {
  const named = propertyErrors(body.message)
    .filter((error) => error.error === 'PROPERTY_DOESNT_EXIST' && typeof error.name === 'string')
    .map((error) => error.name!);
  if (named.length > 0) return named;
  return body.message?.includes('PROPERTY_DOESNT_EXIST') ? ['(unnamed)'] : [];
}

/**
 * What a whole-call failure means for the retry policy (see DeliveryFailureKind in adapter.ts), with a
 * message that names the fix. Never quotes the request, so the token never reaches a log.
 */
export function hubSpotFailure(
  answer: { status: number; headers: Headers; text: string; json: unknown },
  now: Date,
  action: string,
  timeZone = 'UTC',
): CrmDeliveryError {
  const { status, headers } = answer;
  const body = asErrorBody(answer.json);
  const at = `HubSpot ${action} answered ${status}${body.category ? ` ${body.category}` : ''}`;
  if (status === 429) {
    if (body.policyName === 'DAILY') {
      const wait = retryAfter(headers, now) ?? secondsToMidnight(now, timeZone);
      return new CrmDeliveryError(
        `${at}: the account's DAILY API limit is used up; deliveries resume after the reset (midnight ${timeZone}, HUBSPOT_TIME_ZONE; in ${wait} s)`,
        {
          status,
          retryable: true,
          kind: 'quota_exhausted',
          retryAfterSeconds: wait,
        },
      );
    }
    const intervalMs = Number(headers.get('x-hubspot-ratelimit-interval-milliseconds'));
    const wait = retryAfter(headers, now) ?? (Number.isFinite(intervalMs) && intervalMs > 0 ? Math.ceil(intervalMs / 1000) : 10);
    return new CrmDeliveryError(`${at}: rate limited (${body.policyName ?? 'burst limit'}); retry in ${wait} s`, {
      status,
      retryable: true,
      kind: 'rate_limited',
      retryAfterSeconds: wait,
    });
  }
  if (status === 401) {
    return new CrmDeliveryError(
      `${at}: HUBSPOT_ACCESS_TOKEN is missing, wrong, expired or revoked; set the private app's access token (pat-...) with scopes ${scopesNeeded}, then redrive the DLQ`,
      { status, retryable: false, kind: 'auth' },
    );
  }
  if (status === 403) {
    const required = JSON.stringify(body.errors ?? '').match(/crm\.[a-z.]+/g);
    const named = required ? ` (HubSpot names ${[...new Set(required)].join(', ')})` : '';
    return new CrmDeliveryError(`${at}: the private app behind HUBSPOT_ACCESS_TOKEN lacks a scope${named}; grant ${scopesNeeded}, then redrive the DLQ`, {
      status,
      retryable: false,
      kind: 'auth',
    });
  }
  if (status >= 500 || status === 408) {
    const wait = retryAfter(headers, now);
    return new CrmDeliveryError(`${at}; will retry${quote(answer.text)}`, {
      status,
      retryable: true,
      kind: 'unavailable',
      ...(wait === undefined ? {} : { retryAfterSeconds: wait }),
    });
  }
  const missing = missingProperties(body);
  if (missing.length > 0) {
    return new CrmDeliveryError(
      `${at}: the contact property ${missing.join(', ')} does not exist in this HubSpot account; run \`npx mql crm setup\`, then redrive the DLQ`,
      {
        status,
        retryable: false,
        kind: 'rejected',
      },
    );
  }
  return new CrmDeliveryError(`${at}${quote(body.message ?? answer.text)}`, { status, retryable: false, kind: 'rejected' });
}

/** The e-mail HubSpot keys the contact on: the profile's, else the lead id when it is one. */
export function hubSpotEmail(record: HandoffRecord): string | undefined {
  const candidates = [record.lead?.email, record.leadId];
  for (const candidate of candidates) {
    if (typeof candidate !== 'string') continue;
    const email = candidate.trim().toLowerCase();
    if (/^[^\s@:]+@[^\s@]+\.[^\s@]+$/.test(email)) return email;
  }
  return undefined;
}

const typeLabel: Record<HandoffRecord['type'], string> = { 'lead.mql': 'MQL', 'lead.recycled': 'Recycled', 'lead.disqualified': 'Disqualified' };

/**
 * The score's explanation as readable text for `mql_reasons`: the score line, then one line per rule
 * with its whole points (they add up to the total), the strongest first; cut to HubSpot's 65,536
 * characters with a count of what was left out.
 */
export function formatHubSpotReasons(record: HandoffRecord, limit = hubSpotMaxText): string {
  const { score } = record;
  const head = `${typeLabel[record.type]} ${record.occurredAt}: score ${score.total} = fit ${score.fit} + behavior ${score.behavior} (MQL at ${score.threshold}), model ${score.modelVersion}`;
  const reasons = [...record.reasons].sort((a, b) => Math.abs(b.points ?? b.pointsNow) - Math.abs(a.points ?? a.pointsNow));
  const lines = reasons.map((reason) => {
    const points = reason.points ?? Math.round(reason.pointsNow);
    const detail = [reason.kind.replace('_', ' '), reason.count > 1 ? `${reason.count}x` : '', reason.lastSeen ? `last ${reason.lastSeen.slice(0, 10)}` : '']
      .filter(Boolean)
      .join(', ');
    return `${points >= 0 ? '+' : ''}${points} ${reason.description || reason.rule} (${detail})`;
  });
  let text = head;
  for (const [index, line] of lines.entries()) {
    const left = lines.length - index;
    const tail = `\n... ${left} more reason(s) left out`;
    if (text.length + 1 + line.length + (left > 1 ? tail.length : 0) > limit) {
      text = `${text}${tail}`.slice(0, limit);
      return text;
    }
    text += `\n${line}`;
  }
  return text.slice(0, limit);
}

interface CurrentContact {
  lifecyclestage: string;
  leadStatus: string;
}

interface PlannedInput {
  index: number;
  email: string;
  properties: Record<string, string>;
  notes: string[];
}

/** The properties one record writes, and what it chose not to write (the receipt's note). */
function plan(
  record: HandoffRecord,
  current: CurrentContact | undefined,
  statuses: HubSpotLeadStatuses,
): { properties: Record<string, string>; notes: string[] } {
  const properties: Record<string, string> = {};
  const notes: string[] = [];
  const profile = record.lead ?? {};
  const basics: [string, unknown][] = [
    ['firstname', profile.firstName],
    ['lastname', profile.lastName],
    ['company', profile.company],
    ['jobtitle', profile.jobTitle],
    ['phone', profile.phone],
  ];
  for (const [name, value] of basics) if (typeof value === 'string' && value.trim() !== '') properties[name] = value.trim();
  properties.mql_score = String(record.score.total);
  properties.mql_fit_score = String(record.score.fit);
  properties.mql_behavior_score = String(record.score.behavior);
  properties.mql_reasons = formatHubSpotReasons(record);
  properties.mql_model_version = record.score.modelVersion;

  const stage = current?.lifecyclestage ?? '';
  const leadStatus = current?.leadStatus ?? '';
  const ours = new Set([statuses.mql, statuses.recycled, statuses.disqualified].filter((value): value is string => value !== undefined));
  const beyondMql = !stagesBeforeMql.has(stage) && stage !== mqlStage;
  const stageWord = /^\d+$/.test(stage) ? `custom stage ${stage}` : stage;
  if (record.type === 'lead.mql') {
    const at = Date.parse(record.occurredAt);
    if (!Number.isNaN(at)) properties.mql_qualified_at = String(at);
    if (stagesBeforeMql.has(stage)) properties.lifecyclestage = mqlStage;
    else if (beyondMql) notes.push(`lifecyclestage kept at ${stageWord}: never moved back`);
    if (statuses.mql !== undefined && !beyondMql && (leadStatus === '' || (ours.has(leadStatus) && leadStatus !== statuses.mql)))
      properties.hs_lead_status = statuses.mql;
  } else {
    const status = record.type === 'lead.recycled' ? statuses.recycled : statuses.disqualified;
    if (status !== undefined) {
      if (beyondMql) notes.push(`hs_lead_status not set to ${status}: the contact is at ${stageWord}, past MQL`);
      else if (record.type === 'lead.recycled' && leadStatus !== '' && !ours.has(leadStatus))
        notes.push(`hs_lead_status kept at ${leadStatus}: set by sales, not by the engine`);
      else properties.hs_lead_status = status;
    }
  }
  return { properties, notes };
}

async function readJson(response: Response): Promise<{ text: string; json: unknown }> {
  const text = await response.text().catch(() => '');
  try {
    return { text, json: JSON.parse(text) as unknown };
  } catch {
    return { text, json: undefined };
  }
}

/** Lower-cased ids an error row names (HubSpot's `context.ids`). */
function errorIds(error: HubSpotErrorBody): string[] {
  const ids = error.context?.ids;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string').map((id) => id.trim().toLowerCase()) : [];
}

/** Whether HubSpot refused this row for its lifecyclestage value (a backward write in a race with sales). */
const refusesLifecycle = (error: HubSpotErrorBody) => propertyErrors(error.message).some((entry) => entry.name === 'lifecyclestage');

/** The message a row error becomes, naming the setting behind an invalid lead status. */
function rowRejection(error: HubSpotErrorBody, email: string): CrmDeliveryError {
  const entries = propertyErrors(error.message);
  const status = entries.find((entry) => entry.name === 'hs_lead_status' && entry.error === 'INVALID_OPTION');
  if (status) {
    return new CrmDeliveryError(
      `HubSpot refused contact ${email}: hs_lead_status ${status.message ?? 'is not an allowed option'}; set HUBSPOT_MQL_LEAD_STATUS / HUBSPOT_RECYCLED_LEAD_STATUS / HUBSPOT_DISQUALIFIED_LEAD_STATUS to one of the portal's Lead Status internal values (or none), then redrive`,
      { status: 400, retryable: false, kind: 'rejected' },
    );
  }
  const missing = missingProperties(error);
  if (missing.length > 0) {
    return new CrmDeliveryError(
      `HubSpot refused contact ${email}: the property ${missing.join(', ')} does not exist; run \`npx mql crm setup\`, then redrive`,
      {
        status: 400,
        retryable: false,
        kind: 'rejected',
      },
    );
  }
  const said =
    entries
      .map((entry) => entry.message)
      .filter(Boolean)
      .join('; ') ||
    error.message ||
    'no reason given';
  return new CrmDeliveryError(`HubSpot refused contact ${email} (${error.category ?? 'error'}): ${said}`, { status: 400, retryable: false, kind: 'rejected' });
}

/**
 * A {@link CrmAdapter} for HubSpot (see the file's comment). Whole-call failures throw
 * {@link CrmDeliveryError}; row failures come back as that row's result. It never waits itself: a 429
 * is handed to the handoff with the seconds HubSpot asked for.
 */
export function hubSpotAdapter(options: HubSpotAdapterOptions): CrmAdapter {
  const baseUrl = (options.baseUrl ?? hubSpotDefaultBaseUrl).replace(/\/+$/, '');
  const send = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const statuses: HubSpotLeadStatuses = { ...hubSpotDefaultLeadStatuses, ...options.leadStatuses };
  const timeZone = options.timeZone ?? 'UTC';

  async function call(path: string, body: unknown, action: string, now: Date): Promise<HubSpotAnswer> {
    let response: Response;
    try {
      response = await send(`${baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'mql-engine' },
        body: JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const reason =
        error instanceof Error && error.name === 'TimeoutError'
          ? `gave no answer within ${timeoutMs} ms`
          : `request failed: ${error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error)}`;
      throw new CrmDeliveryError(`HubSpot ${action} ${reason}; will retry`, { retryable: true, kind: 'unavailable', cause: error });
    }
    const { text, json } = await readJson(response);
    const answer = { status: response.status, headers: response.headers, text, json };
    if (response.status !== 200 && response.status !== 207 && response.status !== 400) throw hubSpotFailure(answer, now, action, timeZone);
    return answer;
  }

  /** Current lifecycle stage and lead status per e-mail (absent: no contact yet). */
  async function readCurrent(emails: string[], now: Date): Promise<Map<string, CurrentContact>> {
    const answer = await call(
      '/crm/v3/objects/contacts/batch/read',
      { idProperty: 'email', properties: ['email', 'lifecyclestage', 'hs_lead_status'], inputs: emails.map((id) => ({ id })) },
      'contacts batch/read',
      now,
    );
    if (answer.status === 400) throw hubSpotFailure(answer, now, 'contacts batch/read', timeZone);
    const current = new Map<string, CurrentContact>();
    const results = (answer.json as { results?: unknown })?.results;
    if (!Array.isArray(results))
      throw new CrmDeliveryError(`HubSpot contacts batch/read answered ${answer.status} without results; will retry${quote(answer.text)}`, {
        status: answer.status,
        retryable: true,
        kind: 'unavailable',
      });
    for (const result of results as { properties?: Record<string, unknown> }[]) {
      const properties = result?.properties ?? {};
      const email = typeof properties.email === 'string' ? properties.email.trim().toLowerCase() : undefined;
      if (!email) continue;
      const text = (value: unknown) => (typeof value === 'string' ? value : '');
      current.set(email, { lifecyclestage: text(properties.lifecyclestage), leadStatus: text(properties.hs_lead_status) });
    }
    return current;
  }

  async function deliverBatch(records: readonly HandoffRecord[], now: Date): Promise<DeliveryResult[]> {
    const results: (DeliveryResult | undefined)[] = records.map(() => undefined);
    const sendable: { index: number; email: string }[] = [];
    for (const [index, record] of records.entries()) {
      const email = hubSpotEmail(record);
      if (email) sendable.push({ index, email });
      else {
        results[index] = {
          ok: false,
          error: new CrmDeliveryError(
            `HubSpot upserts contacts by e-mail and lead ${record.leadId ?? '(no id)'} has none yet: not sent. Its next handoff after an e-mail arrives (a merge keeps the history) reaches HubSpot; to have it now, create the contact in HubSpot by hand`,
            { retryable: false, kind: 'rejected' },
          ),
        };
      }
    }
    // The caller passes at most maxBatch records of distinct leads; a longer list, or two records for
    // one e-mail (HubSpot refuses a batch with duplicate ids as a whole), still go out in valid calls.
    const chunks: { index: number; email: string }[][] = [];
    for (const entry of sendable) {
      const chunk = chunks.find((candidate) => candidate.length < hubSpotMaxBatch && !candidate.some((other) => other.email === entry.email));
      if (chunk) chunk.push(entry);
      else chunks.push([entry]);
    }
    for (const chunk of chunks) await deliverChunk(records, chunk, results, now);
    return results.map(
      (result) =>
        result ?? {
          ok: false,
          error: new CrmDeliveryError('HubSpot adapter produced no result for this record; will retry', { retryable: true, kind: 'unavailable' }),
        },
    );
  }

  async function deliverChunk(
    records: readonly HandoffRecord[],
    chunk: { index: number; email: string }[],
    results: (DeliveryResult | undefined)[],
    now: Date,
  ): Promise<void> {
    let calls = 1;
    const current = await readCurrent(
      chunk.map((entry) => entry.email),
      now,
    );
    let pending: PlannedInput[] = chunk.map(({ index, email }) => ({ index, email, ...plan(records[index]!, current.get(email), statuses) }));
    const receipts = new Map<number, DeliveryReceipt>();
    const failures = new Map<number, CrmDeliveryError>();
    // At most a few rounds: each resends only rows HubSpot did not name, or a row without the
    // lifecyclestage it refused (sales moved the contact on between our read and our write).
    for (let round = 0; round < 4 && pending.length > 0; round += 1) {
      const byEmail = new Map(pending.map((input) => [input.email, input]));
      calls += 1;
      const answer = await call(
        '/crm/v3/objects/contacts/batch/upsert',
        { inputs: pending.map((input) => ({ idProperty: 'email', id: input.email, properties: input.properties })) },
        'contacts batch/upsert',
        now,
      );
      const retry: PlannedInput[] = [];
      const settled = new Set<string>();
      const rowErrors: HubSpotErrorBody[] = [];
      if (answer.status === 400) {
        const body = asErrorBody(answer.json);
        const named = errorIds(body).filter((id) => byEmail.has(id));
        // A refusal that names no row of ours is about the call itself (a property that does not exist).
        if (named.length === 0) throw hubSpotFailure(answer, now, 'contacts batch/upsert', timeZone);
        rowErrors.push(body);
      } else {
        const body = answer.json as { results?: unknown; errors?: unknown };
        for (const result of Array.isArray(body?.results) ? (body.results as { id?: unknown; new?: unknown; properties?: Record<string, unknown> }[]) : []) {
          const email = typeof result?.properties?.email === 'string' ? result.properties.email.trim().toLowerCase() : undefined;
          const input = email ? byEmail.get(email) : undefined;
          if (!input || settled.has(input.email)) continue;
          settled.add(input.email);
          receipts.set(input.index, {
            status: answer.status,
            ...(typeof result.id === 'string' ? { externalId: result.id } : {}),
            ...(typeof result.new === 'boolean' ? { created: result.new } : {}),
            ...(input.notes.length > 0 ? { note: input.notes.join('; ') } : {}),
          });
        }
        if (Array.isArray(body?.errors)) rowErrors.push(...(body.errors as unknown[]).map(asErrorBody));
      }
      for (const error of rowErrors) {
        for (const id of errorIds(error)) {
          const input = byEmail.get(id);
          if (!input || settled.has(id)) continue;
          settled.add(id);
          if (refusesLifecycle(error) && input.properties.lifecyclestage !== undefined) {
            delete input.properties.lifecyclestage;
            input.notes.push('lifecyclestage not written: HubSpot refused it (the contact moved on since it was read)');
            retry.push(input);
          } else failures.set(input.index, rowRejection(error, input.email));
        }
      }
      if (answer.status === 400) {
        // The rows HubSpot did not name were not written: send them again without the refused ones.
        for (const input of pending) if (!settled.has(input.email)) retry.push(input);
      } else {
        for (const input of pending) {
          if (settled.has(input.email)) continue;
          failures.set(
            input.index,
            new CrmDeliveryError(`HubSpot contacts batch/upsert answered ${answer.status} without a result or an error for ${input.email}; will retry`, {
              status: answer.status,
              retryable: true,
              kind: 'unavailable',
            }),
          );
        }
      }
      pending = retry;
    }
    for (const input of pending) {
      failures.set(
        input.index,
        new CrmDeliveryError(`HubSpot kept refusing the batch around ${input.email}; will retry`, { retryable: true, kind: 'unavailable' }),
      );
    }
    const share = Math.round((calls / chunk.length) * 1000) / 1000;
    for (const { index } of chunk) {
      const receipt = receipts.get(index);
      const error = failures.get(index);
      if (receipt && !error) results[index] = { ok: true, receipt: { ...receipt, calls: share } };
      else
        results[index] = {
          ok: false,
          error: error ?? new CrmDeliveryError('HubSpot gave no answer for this record; will retry', { retryable: true, kind: 'unavailable' }),
        };
    }
  }

  return {
    name: 'hubspot',
    maxBatch: hubSpotMaxBatch,
    deliverBatch,
    async deliver(record: HandoffRecord, now: Date): Promise<DeliveryReceipt> {
      const [result] = await deliverBatch([record], now);
      if (!result) throw new CrmDeliveryError('HubSpot adapter produced no result; will retry', { retryable: true, kind: 'unavailable' });
      if (!result.ok) throw result.error;
      return result.receipt;
    },
  };
}

export interface HubSpotSetupOptions {
  token: string;
  baseUrl?: string;
  /** The lead statuses the adapter will write, checked against the portal's options. */
  leadStatuses?: Partial<HubSpotLeadStatuses>;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
}

export interface HubSpotSetupResult {
  group: 'created' | 'exists';
  properties: { name: string; action: 'created' | 'exists'; warning?: string }[];
  /** Settings that will not work in this portal (an hs_lead_status value it does not offer). */
  warnings: string[];
}

/** A failure of `mql crm setup`, its message naming the fix. */
export class HubSpotSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubSpotSetupError';
  }
}

/**
 * Creates the `mql_engine` property group and the properties the adapter writes, leaving existing
 * ones as they are (a second run creates nothing). Also checks the configured lead statuses against
 * the portal's `hs_lead_status` options, which each portal can edit.
 */
export async function setupHubSpot(options: HubSpotSetupOptions): Promise<HubSpotSetupResult> {
  const baseUrl = (options.baseUrl ?? hubSpotDefaultBaseUrl).replace(/\/+$/, '');
  const send = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const statuses: HubSpotLeadStatuses = { ...hubSpotDefaultLeadStatuses, ...options.leadStatuses };

  async function request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<HubSpotAnswer> {
    let response: Response;
    try {
      response = await send(`${baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: 'application/json',
          'user-agent': 'mql-engine',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new HubSpotSetupError(
        `${method} ${baseUrl}${path} failed: ${error instanceof Error ? error.message : String(error)} (check HUBSPOT_BASE_URL and the network)`,
      );
    }
    const { text, json } = await readJson(response);
    return { status: response.status, headers: response.headers, text, json };
  }

  const refuse = (answer: HubSpotAnswer, action: string): never => {
    const failure = hubSpotFailure(answer, new Date(0), action);
    const hint = answer.status === 403 ? '; creating properties needs the scope crm.schemas.contacts.write' : '';
    throw new HubSpotSetupError(`${failure.message}${hint}`);
  };
  const listOf = (answer: HubSpotAnswer) => {
    const results = (answer.json as { results?: unknown })?.results;
    return Array.isArray(results) ? (results as Record<string, unknown>[]) : [];
  };

  const groupsAnswer = await request('GET', '/crm/v3/properties/contacts/groups');
  if (groupsAnswer.status !== 200) refuse(groupsAnswer, 'property groups GET');
  let group: HubSpotSetupResult['group'] = 'exists';
  if (!listOf(groupsAnswer).some((entry) => entry.name === hubSpotPropertyGroup.name)) {
    const created = await request('POST', '/crm/v3/properties/contacts/groups', hubSpotPropertyGroup);
    if (created.status === 201 || created.status === 200) group = 'created';
    else if (created.status !== 409) refuse(created, 'property group POST');
  }

  const propertiesAnswer = await request('GET', '/crm/v3/properties/contacts');
  if (propertiesAnswer.status !== 200) refuse(propertiesAnswer, 'properties GET');
  const existing = new Map(listOf(propertiesAnswer).map((entry) => [String(entry.name), entry]));
  const properties: HubSpotSetupResult['properties'] = [];
  for (const definition of hubSpotProperties) {
    const found = existing.get(definition.name);
    if (found) {
      const warning = found.type !== definition.type ? `exists with type ${String(found.type)}; mql-engine writes ${definition.type} values` : undefined;
      properties.push({ name: definition.name, action: 'exists', ...(warning ? { warning } : {}) });
      continue;
    }
    const created = await request('POST', '/crm/v3/properties/contacts', { ...definition, groupName: hubSpotPropertyGroup.name });
    if (created.status === 201 || created.status === 200) properties.push({ name: definition.name, action: 'created' });
    else if (created.status === 409) properties.push({ name: definition.name, action: 'exists' });
    else refuse(created, `property ${definition.name} POST`);
  }

  const warnings: string[] = [];
  const optionsOf = (name: string) => {
    const options = existing.get(name)?.options;
    return Array.isArray(options) ? (options as { value?: unknown }[]).map((option) => String(option.value)) : undefined;
  };
  const leadStatusOptions = optionsOf('hs_lead_status');
  if (leadStatusOptions) {
    for (const [setting, value] of [
      ['HUBSPOT_MQL_LEAD_STATUS', statuses.mql],
      ['HUBSPOT_RECYCLED_LEAD_STATUS', statuses.recycled],
      ['HUBSPOT_DISQUALIFIED_LEAD_STATUS', statuses.disqualified],
    ] as const) {
      if (value !== undefined && !leadStatusOptions.includes(value)) {
        warnings.push(`${setting}=${value} is not one of this portal's Lead Status values (${leadStatusOptions.join(', ')}): set it to one of them, or none`);
      }
    }
  }
  const stageOptions = optionsOf('lifecyclestage');
  if (stageOptions && !stageOptions.includes(mqlStage))
    warnings.push(`this portal's lifecycle stages have no ${mqlStage}: MQLs will carry the scores but no stage`);
  return { group, properties, warnings };
}

/** `mql crm setup`'s report, one line per thing it looked at. */
export function formatHubSpotSetup(result: HubSpotSetupResult, baseUrl: string): string {
  const lines = [`HubSpot at ${baseUrl}:`, `  property group ${hubSpotPropertyGroup.name}: ${result.group === 'created' ? 'created' : 'already there'}`];
  for (const property of result.properties) {
    lines.push(
      `  property ${property.name}: ${property.action === 'created' ? 'created' : 'already there, left as it is'}${property.warning ? ` (warning: ${property.warning})` : ''}`,
    );
  }
  for (const warning of result.warnings) lines.push(`  warning: ${warning}`);
  const created = result.properties.filter((property) => property.action === 'created').length + (result.group === 'created' ? 1 : 0);
  lines.push(created === 0 ? 'nothing to do: every property exists' : `${created} created`);
  return lines.join('\n');
}
