/**
 * CORS for a route a browser calls from another origin (the tracking API, which analytics.js posts to from
 * the operator's website: docs/providers/tracking.md#in-the-browser). Pure: what to answer is decided from
 * the allow-list, the request's `Origin` and its method; lib/ingest/webhook.ts applies it.
 *
 * - A preflight (`OPTIONS`) from an allowed origin: 204 with the allowed methods and request headers, and
 *   how long the browser may keep the answer; from any other origin: 403, without CORS headers.
 * - Every other answer to an allowed origin carries `Access-Control-Allow-Origin`, errors included: a
 *   browser hides an answer without it from the page, and analytics.js takes that for a network error and
 *   sends the event again (and again after a reload, from its localStorage queue).
 * - A request from an origin not allowed is refused (403) before anything is read or stored: analytics.js
 *   up to 1.83 sends no Authorization header, so its posts are "simple" requests that no preflight guards.
 *   A request without `Origin` (a server's library) is not a browser's and passes.
 *
 * The allow-list is read like the route's keys (a secret in AWS, the environment locally), so an operator
 * adds a website without a deploy. API Gateway's own CORS configuration would be fixed at deploy time and
 * would answer for every route of the API (docs/security.md, "Browser write keys").
 */
import { forbidden } from './errors.ts';

export interface CorsPolicy {
  /** Methods a page may use on the route (the preflight's `Access-Control-Allow-Methods`). */
  readonly methods: readonly string[];
  /** Request headers a page may send (`Access-Control-Allow-Headers`). */
  readonly headers: readonly string[];
  /** Response headers a page may read (`Access-Control-Expose-Headers`). */
  readonly exposeHeaders: readonly string[];
  /** How long a browser may keep a preflight's answer (`Access-Control-Max-Age`; Chromium keeps at most 2 hours). */
  readonly maxAgeSeconds: number;
}

/**
 * An origin as a browser sends it: `scheme://host[:port]`, lower-cased, the default port dropped (the URL
 * standard's serialization). Undefined for what is not one (a path, `null`, a wildcard).
 */
export function canonicalOrigin(value: string): string | undefined {
  const text = value.trim();
  if (!/^https?:\/\/[^/?#]+$/i.test(text)) return undefined;
  try {
    const url = new URL(text);
    // A wildcard is a valid host to the URL parser (`https://*.example.com`), and no browser's origin.
    if (url.username !== '' || url.password !== '' || url.hostname.includes('*')) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/**
 * The allow-list of a setting: comma-separated origins (`https://www.example.com,https://example.com`).
 * Throws naming the setting and the entry that is not an origin (a path, a trailing slash, `*`): an
 * allow-list that silently matched nothing would look like a browser bug.
 */
export function allowedOriginsOf(value: string | undefined, setting: string): string[] {
  const origins: string[] = [];
  for (const entry of (value ?? '').split(',').map((one) => one.trim())) {
    if (entry === '') continue;
    const origin = canonicalOrigin(entry);
    if (origin === undefined)
      throw new Error(
        `${setting}: ${JSON.stringify(entry.slice(0, 80))} is not an origin; write each as scheme://host[:port], no path, no wildcard, comma-separated`,
      );
    origins.push(origin);
  }
  return origins;
}

/** Whether the request's `Origin` is allowed; a request without one (not a browser's) is. */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  const canonical = canonicalOrigin(origin);
  return canonical !== undefined && allowed.includes(canonical);
}

/** Headers every answer to an allowed origin carries; `Vary: Origin` on every answer, since they depend on it. */
export function corsHeaders(policy: CorsPolicy, origin: string | undefined, allowed: readonly string[]): Record<string, string> {
  if (origin === undefined || !originAllowed(origin, allowed)) return { vary: 'Origin' };
  return {
    'access-control-allow-origin': origin.trim(),
    ...(policy.exposeHeaders.length > 0 ? { 'access-control-expose-headers': policy.exposeHeaders.join(', ') } : {}),
    vary: 'Origin',
  };
}

/** Refuses a browser's request from an origin that is not allowed (403), before it is read. */
export function refuseOtherOrigins(origin: string | undefined, allowed: readonly string[], setting: string): void {
  if (originAllowed(origin, allowed)) return;
  throw forbidden(
    allowed.length === 0
      ? `no browser origin is allowed: add the page's origin to ${setting}`
      : `the origin ${JSON.stringify(origin?.slice(0, 100))} is not in ${setting}`,
  );
}

/** The answer to a preflight: 204 with what the route allows, or a 403 (thrown) for another origin or none. */
export function preflight(policy: CorsPolicy, origin: string | undefined, allowed: readonly string[], setting: string): Record<string, string> {
  if (origin === undefined) throw forbidden('a CORS preflight needs an Origin header');
  refuseOtherOrigins(origin, allowed, setting);
  return {
    ...corsHeaders(policy, origin, allowed),
    'access-control-allow-methods': policy.methods.join(', '),
    'access-control-allow-headers': policy.headers.join(', '),
    'access-control-max-age': String(policy.maxAgeSeconds),
  };
}
