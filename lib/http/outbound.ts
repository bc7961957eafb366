/**
 * What every client of another service's HTTP API shares (the CRM adapters, the lookups of an ingest
 * step): how long to wait when the other side says so, how a failure before any answer reads, and how
 * much of an error answer is quoted in a message that ends up in logs, and how a redirect is named. A request
 * that carries a credential never follows a redirect (`redirect: 'manual'`, docs/security.md): a 3xx is a failure.
 */

/** Most characters of the other side's answer quoted in an error message (it ends up in logs). */
export const maxQuotedChars = 300;

/** The start of an answer's text, trimmed, cut at {@link maxQuotedChars} with `...`. */
export function excerpt(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > maxQuotedChars ? `${trimmed.slice(0, maxQuotedChars)}...` : trimmed;
}

/** An answer's text as the tail of an error message (`: <excerpt>`), or nothing when it is empty. */
export function quoted(text: string): string {
  const said = excerpt(text);
  return said === '' ? '' : `: ${said}`;
}

/**
 * An e-mail address anywhere in a text, valid or not (an invalid one is what a service quotes back); loose
 * on purpose: a false match only hides a few characters more.
 */
const emailPattern = /[^\s@"'<>(),;:[\]\\]+@[^\s@"'<>(),;:[\]\\]+/g;

/**
 * A phone number written as people write one: `+` and 7 to 15 digits (E.164, maybe with spaces, dots,
 * dashes or brackets), or a national number with separators such as `(415) 555-0123` or `415-555-0123`.
 * Bare digit runs are left alone: record ids, timestamps and counts look the same and are needed to debug.
 */
const phonePattern = /\+\d(?:[\s().-]?\d){6,14}|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b/g;

/**
 * The text with e-mail addresses, phone numbers and each of `known` (the names, addresses and numbers of
 * the lead at hand, which no pattern can recognise) replaced by `[redacted]`: for quoting another
 * service's answer in a message that is logged (no address, name or phone number may reach a log line).
 */
export function redacted(text: string, known: Iterable<string | undefined> = []): string {
  let result = text;
  // Longest first, so a full name goes before the first name inside it; case-insensitive, as services echo.
  const values = [
    ...new Set([...known].filter((value): value is string => typeof value === 'string' && value.trim().length >= 2).map((value) => value.trim())),
  ];
  for (const value of values.sort((a, b) => b.length - a.length)) {
    // Whole words only: a short first name must not eat into VALIDATION_ERROR.
    const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    result = result.replace(new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'giu'), '[redacted]');
  }
  return result.replace(emailPattern, '[email]').replace(phonePattern, '[phone]');
}

/** {@link quoted} of the {@link redacted} text: the tail of an error message that quotes a CRM's answer. */
export function quotedRedacted(text: string, known: Iterable<string | undefined> = []): string {
  return quoted(redacted(text, known));
}

/**
 * Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3),
 * relative to the attempt's time; undefined when absent or unreadable.
 */
export function retryAfterSeconds(value: string | null | undefined, now: Date): number | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Every HTTP-date form starts with the weekday; Date.parse alone would read "-5" as a year.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** What went wrong before any answer: our timeout, or the network (undici hides the cause under "fetch failed"). */
export function describeNetworkError(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return `request failed: ${String(error)}`;
  if (error.name === 'TimeoutError') return `gave no answer within ${timeoutMs} ms`;
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `request failed: ${error.message}${cause}`;
}

/** Where a redirect points, without its query (which may echo a credential): ` to https://host/path`, or nothing. */
export function redirectTarget(response: Response): string {
  const location = response.headers.get('location');
  if (!location || !URL.canParse(location, response.url || undefined)) return '';
  const url = new URL(location, response.url || undefined);
  return ` to ${url.origin}${url.pathname}`;
}

/**
 * The setting that lets outbound URLs be plain http: set to `1` by the local stack (its stand-ins listen on
 * http://127.0.0.1) and by local tests, never by the AWS stack (docs/security.md).
 */
export const allowHttpUrlsEnv = 'MQL_ALLOW_HTTP_URLS';

/**
 * An outbound URL read from a setting (`name`): https, or http only with {@link allowHttpUrlsEnv}=1. Lead data and
 * credentials travel on it, so anything else is refused at start-up with a message naming the setting.
 */
export function outboundUrl(name: string, value: string, env: Readonly<Record<string, string | undefined>>): string {
  if (!URL.canParse(value)) throw new Error(`${name} must be a URL (https), got ${JSON.stringify(value)}`);
  const { protocol } = new URL(value);
  if (protocol === 'https:') return value;
  if (protocol === 'http:' && env[allowHttpUrlsEnv] === '1') return value;
  throw new Error(
    `${name} must be https (lead data and credentials travel on it), got ${JSON.stringify(value)}` +
      (protocol === 'http:' ? `; plain http is for a local stack only, which sets ${allowHttpUrlsEnv}=1` : ''),
  );
}
