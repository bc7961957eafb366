/** CORS decisions as pure functions (lib/http/cors.ts): the allow-list's form, preflights, the answers' headers. */
import { describe, expect, it } from 'vitest';
import { allowedOriginsOf, type CorsPolicy, canonicalOrigin, corsHeaders, originAllowed, preflight, refuseOtherOrigins } from '../../../lib/http/cors.ts';
import { refusal } from '../../setup/webhook-request.ts';

const policy: CorsPolicy = { methods: ['POST'], headers: ['Authorization', 'Content-Type'], exposeHeaders: ['Retry-After'], maxAgeSeconds: 600 };
const allowed = allowedOriginsOf('https://www.example.com, http://localhost:8080,HTTPS://Shop.Example.com:443', 'ORIGINS');

describe('the allow-list', () => {
  it('holds origins as browsers send them: lower-cased, the default port dropped', () => {
    expect(allowed).toEqual(['https://www.example.com', 'http://localhost:8080', 'https://shop.example.com']);
    expect(allowedOriginsOf(undefined, 'ORIGINS')).toEqual([]);
    expect(allowedOriginsOf(' , ', 'ORIGINS')).toEqual([]);
  });

  it.each([
    ['a path', 'https://www.example.com/pricing'],
    ['a trailing slash', 'https://www.example.com/'],
    ['a wildcard', '*'],
    ['a wildcard subdomain', 'https://*.example.com'],
    ['no scheme', 'www.example.com'],
    ['another scheme', 'ftp://example.com'],
    ['credentials', 'https://user:pw@example.com'],
    ['null', 'null'],
  ])('refuses %s, naming the setting', (_, entry) => {
    expect(() => allowedOriginsOf(`https://ok.example.com,${entry}`, 'TRACKING_ALLOWED_ORIGINS')).toThrow(/^TRACKING_ALLOWED_ORIGINS: .* is not an origin/);
  });

  it('reads an origin as the URL standard serializes it', () => {
    expect(canonicalOrigin('http://LOCALHOST:80')).toBe('http://localhost');
    expect(canonicalOrigin('https://xn--bcher-kva.example')).toBe('https://xn--bcher-kva.example');
    expect(canonicalOrigin('https://example.com?x')).toBeUndefined();
  });
});

describe('a request', () => {
  it('without Origin (a server library) passes; an allowed origin passes; any other is refused with a 403', () => {
    expect(originAllowed(undefined, allowed)).toBe(true);
    expect(originAllowed('https://www.example.com', allowed)).toBe(true);
    expect(originAllowed('https://shop.example.com', allowed)).toBe(true);
    for (const origin of ['https://example.com', 'http://www.example.com', 'https://www.example.com.evil.test', 'null', ''])
      expect(originAllowed(origin, allowed)).toBe(false);
    expect(refusal(() => refuseOtherOrigins('https://evil.test', allowed, 'ORIGINS'))).toMatchObject({ status: 403, code: 'forbidden' });
    expect(refusal(() => refuseOtherOrigins('https://evil.test', [], 'ORIGINS')).detail).toMatch(
      /no browser origin is allowed: add the page's origin to ORIGINS/,
    );
  });

  it('gets the CORS headers only for an allowed origin, Vary: Origin always', () => {
    expect(corsHeaders(policy, 'https://www.example.com', allowed)).toEqual({
      'access-control-allow-origin': 'https://www.example.com',
      'access-control-expose-headers': 'Retry-After',
      vary: 'Origin',
    });
    expect(corsHeaders(policy, 'https://evil.test', allowed)).toEqual({ vary: 'Origin' });
    expect(corsHeaders(policy, undefined, allowed)).toEqual({ vary: 'Origin' });
  });
});

describe('a preflight', () => {
  it('from an allowed origin: the methods, headers and cache time', () => {
    expect(preflight(policy, 'http://localhost:8080', allowed, 'ORIGINS')).toEqual({
      'access-control-allow-origin': 'http://localhost:8080',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'Authorization, Content-Type',
      'access-control-expose-headers': 'Retry-After',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
  });

  it('from another origin, or none: 403', () => {
    expect(refusal(() => preflight(policy, 'http://localhost:8081', allowed, 'ORIGINS')).status).toBe(403);
    expect(refusal(() => preflight(policy, undefined, allowed, 'ORIGINS')).status).toBe(403);
  });
});
