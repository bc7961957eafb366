/** How the HubSpot adapter reads HubSpot's answers: the failure kind of every error answer, a row's refusal. */
import { quotedRedacted, redacted, retryAfterSeconds } from '../http/outbound.ts';
import { CrmDeliveryError } from './adapter.ts';
import { scopesNeeded } from './hubspot-properties.ts';

export interface HubSpotAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export interface HubSpotErrorBody {
  status?: string;
  message?: string;
  category?: string;
  policyName?: string;
  errorType?: string;
  context?: { ids?: unknown };
  errors?: unknown;
}

export const asErrorBody = (json: unknown): HubSpotErrorBody =>
  typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as HubSpotErrorBody) : {};

/** Seconds until the next midnight UTC. */
export function secondsToMidnightUtc(now: Date): number {
  return secondsToMidnight(now, 'UTC');
}

/** How far the wall clock of `timeZone` is ahead of UTC at `at`, in milliseconds. */
export function zoneOffsetMs(at: number, timeZone: string): number {
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
export function propertyErrors(message: string | undefined): { name?: string; error?: string; message?: string }[] {
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
export function missingProperties(body: HubSpotErrorBody): string[] {
  const named = propertyErrors(body.message)
    .filter((error) => error.error === 'PROPERTY_DOESNT_EXIST' && typeof error.name === 'string')
    .map((error) => error.name!);
  if (named.length > 0) return named;
  return body.message?.includes('PROPERTY_DOESNT_EXIST') ? ['(unnamed)'] : [];
}

/**
 * What a whole-call failure means for the retry policy (see DeliveryFailureKind in adapter.ts), with a
 * message that names the fix. Never quotes the request, so the token never reaches a log; what it quotes
 * of HubSpot's answer is redacted (addresses, phone numbers, and the `known` names and values of the
 * records in the call), as the message is logged.
 */
export function hubSpotFailure(
  answer: { status: number; headers: Headers; text: string; json: unknown },
  now: Date,
  action: string,
  timeZone = 'UTC',
  known: Iterable<string | undefined> = [],
): CrmDeliveryError {
  const { status, headers } = answer;
  const body = asErrorBody(answer.json);
  const at = `HubSpot ${action} answered ${status}${body.category ? ` ${body.category}` : ''}`;
  if (status === 429) {
    if (body.policyName === 'DAILY') {
      const wait = retryAfterSeconds(headers.get('retry-after'), now) ?? secondsToMidnight(now, timeZone);
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
    const wait = retryAfterSeconds(headers.get('retry-after'), now) ?? (Number.isFinite(intervalMs) && intervalMs > 0 ? Math.ceil(intervalMs / 1000) : 10);
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
  if (status >= 300 && status < 400) {
    // Not followed (redirect: 'manual'): the bearer token goes to HubSpot's API and nowhere a Location names.
    return new CrmDeliveryError(`${at}, a redirect: not followed, since the request carries HUBSPOT_ACCESS_TOKEN; set HUBSPOT_BASE_URL to the API's own URL`, {
      status,
      retryable: false,
      kind: 'rejected',
    });
  }
  if (status >= 500 || status === 408) {
    const wait = retryAfterSeconds(headers.get('retry-after'), now);
    return new CrmDeliveryError(`${at}; will retry${quotedRedacted(answer.text, known)}`, {
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
  return new CrmDeliveryError(`${at}${quotedRedacted(body.message ?? answer.text, known)}`, { status, retryable: false, kind: 'rejected' });
}

export async function readJson(response: Response): Promise<{ text: string; json: unknown }> {
  const text = await response.text().catch(() => '');
  try {
    return { text, json: JSON.parse(text) as unknown };
  } catch {
    return { text, json: undefined };
  }
}

/** Lower-cased ids an error row names (HubSpot's `context.ids`). */
export function errorIds(error: HubSpotErrorBody): string[] {
  const ids = error.context?.ids;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string').map((id) => id.trim().toLowerCase()) : [];
}

/** Whether HubSpot refused this row for its lifecyclestage value (a backward write in a race with sales). */
export const refusesLifecycle = (error: HubSpotErrorBody) => propertyErrors(error.message).some((entry) => entry.name === 'lifecyclestage');

/**
 * The message a refused row becomes, naming the setting behind an invalid lead status. It never names the
 * contact (the record's own fields say which lead it is) and redacts what it quotes of HubSpot's reasons:
 * addresses, phone numbers and the `known` names and values of the record.
 */
export function rowRejection(error: HubSpotErrorBody, known: Iterable<string | undefined> = [], how = 'refused this contact'): CrmDeliveryError {
  const entries = propertyErrors(error.message);
  const status = entries.find((entry) => entry.name === 'hs_lead_status' && entry.error === 'INVALID_OPTION');
  if (status) {
    return new CrmDeliveryError(
      `HubSpot ${how}: hs_lead_status ${redacted(status.message ?? 'is not an allowed option', known)}; set HUBSPOT_MQL_LEAD_STATUS / HUBSPOT_RECYCLED_LEAD_STATUS / HUBSPOT_DISQUALIFIED_LEAD_STATUS to one of the portal's Lead Status internal values (or none), then redrive`,
      { status: 400, retryable: false, kind: 'rejected' },
    );
  }
  const missing = missingProperties(error);
  if (missing.length > 0) {
    return new CrmDeliveryError(`HubSpot ${how}: the property ${missing.join(', ')} does not exist; run \`npx mql crm setup\`, then redrive`, {
      status: 400,
      retryable: false,
      kind: 'rejected',
    });
  }
  const said =
    entries
      .map((entry) => [entry.name, entry.error, entry.message].filter(Boolean).join(' '))
      .filter(Boolean)
      .join('; ') ||
    error.message ||
    'no reason given';
  return new CrmDeliveryError(`HubSpot ${how} (${error.category ?? 'error'}): ${redacted(said, known)}`, { status: 400, retryable: false, kind: 'rejected' });
}

/**
 * The rows of a refused call that sent the value an INVALID_OPTION names ("RECYCLED was not one of the
 * allowed options"): an enumeration's options are the portal's, so every row sending that value is
 * refused alike and none needs a call of its own to show it. Undefined when the answer names no such value.
 */
export function optionSuspects<Row extends { properties: Record<string, string> }>(error: HubSpotErrorBody, rows: readonly Row[]): Row[] | undefined {
  const named = propertyErrors(error.message)
    .filter((entry) => entry.error === 'INVALID_OPTION' && typeof entry.name === 'string' && typeof entry.message === 'string')
    .map((entry) => ({ name: entry.name!, value: /^(.*?) was not one of the allowed options/s.exec(entry.message!)?.[1] }))
    .filter((entry): entry is { name: string; value: string } => entry.value !== undefined);
  if (named.length === 0) return undefined;
  const suspects = rows.filter((row) => named.some(({ name, value }) => row.properties[name] === value));
  return suspects.length > 0 ? suspects : undefined;
}
