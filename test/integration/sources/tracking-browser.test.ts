/**
 * analytics.js in the browser, on the embedded local stack: the settings it loads from its cdnURL, CORS for
 * the origins of TRACKING_ALLOWED_ORIGINS (preflight, the answers' headers, other origins refused with
 * nothing stored), and the example page (examples/browser/) opened in Debian's headless Chromium on an origin
 * of its own, loading analytics.js from the npm package: its identify, page and track reach the lead.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExampleServer, startExampleServer } from '../../../examples/browser/serve.ts';
import { countItems } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { getLead, restartedStack, startTestStack } from '../../setup/stack.ts';
import { waitUntil } from '../../setup/wait.ts';

const run = promisify(execFile);
const chromium = '/usr/bin/chromium';

/** Fake, test-only write keys. */
const writeKey = 'wk_test_only_browser_key_01';
const serverKey = 'wk_test_only_server_key_002';
const basic = (user: string) => `Basic ${Buffer.from(`${user}:`, 'utf8').toString('base64')}`;
const someone = (name: string) => `${name}.${randomUUID().slice(0, 8)}@acme-logistics.com`;
const otherSite = 'https://attacker.example';

let stack: LocalStack;
let site: ExampleServer;
/** A second allowed origin, to show the list is a list. */
const marketingSite = 'https://www.acme-logistics.example';

let wire: Awaited<ReturnType<typeof wireRecorder>>;

beforeAll(async () => {
  // The page's engine is the recorder in front of the stack; the stack allows the page's origin.
  wire = await wireRecorder(() => stack.baseUrl);
  site = await startExampleServer({ engine: wire.url, writeKey });
  stack = await startTestStack({
    env: {
      TRACKING_WRITE_KEY: `${writeKey},${serverKey}`,
      TRACKING_ALLOWED_ORIGINS: `${marketingSite}, ${site.origin}`,
      CRM_ADAPTER: 'none',
      LOG_LEVEL: 'SILENT',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await site?.stop();
  await wire?.close();
});

/** A message as analytics.js 1.84 posts it to /v1/t. */
function browserTrack(email: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    type: 'track',
    event: 'Content Downloaded',
    properties: { contentType: 'case_study' },
    context: { traits: { email }, library: { name: 'analytics.js', version: 'npm:next-1.84.3' } },
    messageId: `ajs-next-${Date.now()}-${randomUUID()}`,
    anonymousId: randomUUID(),
    userId: null,
    timestamp: now,
    sentAt: now,
    writeKey,
    integrations: {},
    _metadata: { bundled: ['Segment.io'], unbundled: [], bundledIds: [] },
    ...overrides,
  };
}

/** What the browser put on the wire: each request (method, path, headers) and the status it got. */
interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  status: number;
}

/**
 * A pass-through in front of the stack that keeps the Host header (so the settings name the proxy, and
 * analytics.js sends its events through it too) and records each request.
 */
async function wireRecorder(target: () => string): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const { hostname, port } = new URL(target());
    const upstream = httpRequest({ hostname, port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, status: answer.statusCode ?? 0 });
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A request and the table's item count around it. */
async function counting(url: string, init: RequestInit): Promise<{ status: number; headers: Headers; body: any; added: number }> {
  const before = await countItems(stack.dynamodb, stack.tableName);
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, body, added: (await countItems(stack.dynamodb, stack.tableName)) - before };
}

const postTrack = (origin: string | undefined, message: Record<string, unknown>, headers: Record<string, string> = {}) =>
  counting(`${stack.baseUrl}/v1/t`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', authorization: basic(writeKey), ...(origin ? { origin } : {}), ...headers },
    body: JSON.stringify(message),
  });

describe('GET /v1/projects/{writeKey}/settings', () => {
  it("answers analytics.js's settings: Segment.io alone, pointed back at this API with the key, telemetry off", async () => {
    const response = await fetch(`${stack.baseUrl}/v1/projects/${writeKey}/settings`, { headers: { origin: site.origin } });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(site.origin);
    expect(response.headers.get('cache-control')).toBe('private, max-age=300');
    expect(await response.json()).toEqual({
      integrations: { 'Segment.io': { apiKey: writeKey, apiHost: `${new URL(stack.baseUrl).host}/v1`, protocol: 'http' } },
      metrics: { sampleRate: 0 },
    });
  });

  it('names the host the request came to (localhost, not 127.0.0.1)', async () => {
    const url = new URL(`${stack.baseUrl}/v1/projects/${serverKey}/settings`);
    url.hostname = 'localhost';
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).integrations['Segment.io']).toEqual({ apiKey: serverKey, apiHost: `localhost:${url.port}/v1`, protocol: 'http' });
  });

  it('an unknown write key: 404, nothing stored', async () => {
    const answer = await counting(`${stack.baseUrl}/v1/projects/wk_unknown_key_0000/settings`, { headers: { origin: site.origin } });
    expect(answer).toMatchObject({ status: 404, body: { error: 'not_found', detail: expect.any(String) }, added: 0 });
    // A refusal carries the CORS headers too, or the page could not read it.
    expect(answer.headers.get('access-control-allow-origin')).toBe(site.origin);
  });

  it('another origin: 403 without CORS headers, nothing stored', async () => {
    const answer = await counting(`${stack.baseUrl}/v1/projects/${writeKey}/settings`, { headers: { origin: otherSite } });
    expect(answer).toMatchObject({ status: 403, body: { error: 'forbidden' }, added: 0 });
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS on /v1/*', () => {
  it('answers the preflight of an allowed origin with the methods and headers analytics.js sends', async () => {
    for (const origin of [site.origin, marketingSite]) {
      const answer = await counting(`${stack.baseUrl}/v1/t`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-retry-count' },
      });
      expect(answer).toMatchObject({ status: 204, added: 0 });
      expect(Object.fromEntries(answer.headers)).toMatchObject({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'POST, GET',
        'access-control-allow-headers': 'Authorization, Content-Type, X-Retry-Count',
        'access-control-expose-headers': 'Retry-After',
        'access-control-max-age': '3600',
        vary: 'Origin',
      });
    }
  });

  it('a POST from an allowed origin is stored and its answer carries Access-Control-Allow-Origin (else analytics.js would send it again)', async () => {
    const email = someone('cors');
    const answer = await postTrack(site.origin, browserTrack(email));
    expect(answer).toMatchObject({ status: 200, body: { success: true, stored: 1 } });
    expect(answer.added).toBeGreaterThan(0);
    expect(answer.headers.get('access-control-allow-origin')).toBe(site.origin);
    expect(answer.headers.get('vary')).toBe('Origin');
    expect((await getLead(stack, email)).status).toBe(200);
  });

  it('a refusal to an allowed origin carries it too, so the page reads the 401 instead of retrying', async () => {
    const answer = await postTrack(site.origin, browserTrack(someone('cors')), { authorization: basic('wk_unknown_key_0000') });
    expect(answer).toMatchObject({ status: 401, body: { error: 'unauthorized' }, added: 0 });
    expect(answer.headers.get('access-control-allow-origin')).toBe(site.origin);
  });

  it("a browser's batch keeps its page, track and identify and drops an alias, with the reason", async () => {
    const email = someone('batch');
    const answer = await counting(`${stack.baseUrl}/v1/b`, {
      method: 'POST',
      headers: { origin: site.origin, authorization: basic(writeKey), 'content-type': 'text/plain' },
      body: JSON.stringify({
        batch: [browserTrack(email), browserTrack(email, { type: 'alias', event: undefined, userId: 'u-1', previousId: 'anon-1' })],
        writeKey,
      }),
    });
    expect(answer).toMatchObject({ status: 200, body: { success: true, stored: 1, ignored: 1, ignoredReasons: { 'not_from_a_browser:alias': 1 } } });
  });

  it('a server library (no Origin) is not a browser: stored, no CORS headers', async () => {
    const answer = await postTrack(undefined, browserTrack(someone('server')));
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
  });

  describe('other origins are refused, and nothing is stored', () => {
    const cases: [string, () => ReturnType<typeof counting>, number, string][] = [
      [
        'a preflight from another origin',
        () =>
          counting(`${stack.baseUrl}/v1/t`, {
            method: 'OPTIONS',
            headers: { origin: otherSite, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
          }),
        403,
        'forbidden',
      ],
      ['a preflight without Origin', () => counting(`${stack.baseUrl}/v1/batch`, { method: 'OPTIONS' }), 403, 'forbidden'],
      [
        "a POST from another origin (analytics.js 1.83's simple request, no preflight)",
        () => postTrack(otherSite, browserTrack(someone('other'))),
        403,
        'forbidden',
      ],
      ['a POST from a look-alike origin (another port)', () => postTrack(`${site.origin}1`, browserTrack(someone('other'))), 403, 'forbidden'],
      ['a POST from the origin "null" (a file:// page, a sandboxed frame)', () => postTrack('null', browserTrack(someone('other'))), 403, 'forbidden'],
      [
        'a batch from another origin',
        () =>
          counting(`${stack.baseUrl}/v1/batch`, {
            method: 'POST',
            headers: { origin: otherSite, 'content-type': 'text/plain' },
            body: JSON.stringify({ batch: [browserTrack(someone('other'))], writeKey }),
          }),
        403,
        'forbidden',
      ],
      // The origin is checked first, but the key still is: an allowed origin does not stand for a key.
      [
        'an allowed origin without a write key',
        () => postTrack(site.origin, browserTrack(someone('nokey'), { writeKey: undefined }), { authorization: '' }),
        401,
        'unauthorized',
      ],
      [
        'an allowed origin, malformed JSON',
        () => counting(`${stack.baseUrl}/v1/t`, { method: 'POST', headers: { origin: site.origin, authorization: basic(writeKey) }, body: '{"type":' }),
        400,
        'bad_request',
      ],
      [
        'an allowed origin sending an alias call (a public key may not tie identities together)',
        () =>
          counting(`${stack.baseUrl}/v1/a`, {
            method: 'POST',
            headers: { origin: site.origin, authorization: basic(writeKey), 'content-type': 'text/plain' },
            body: JSON.stringify(browserTrack(someone('alias'), { type: 'alias', event: undefined, previousId: 'anon-1', userId: 'user-1' })),
          }),
        400,
        'bad_request',
      ],
    ];
    for (const [name, send, status, error] of cases) {
      it(`${name}: ${status}`, async () => {
        const answer = await send();
        expect(answer).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
        if (status === 403) expect(answer.headers.get('access-control-allow-origin')).toBeNull();
      });
    }
  });
});

describe('the example page in headless Chromium (examples/browser/)', () => {
  it('loads analytics.js from the package and its settings from the engine; the anonymous page view, the identify and the track reach the lead', {
    timeout: 120_000,
  }, async () => {
    expect(existsSync(chromium), `${chromium} is missing: apt-get install -y chromium`).toBe(true);
    const email = someone('browser');
    wire.seen.length = 0;
    const page = site.pageUrl({ email, title: 'Chief Operating Officer', company: 'Acme Logistics', industry: 'Software' });
    const profile = mkdtempSync(join(tmpdir(), 'mql-chromium-'));
    const flags = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      // No network but this machine: analytics.js may reach nothing else (no Segment CDN, no api.segment.io).
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      // Lets the page's scripts run (and their fetches finish) before the DOM is dumped.
      '--virtual-time-budget=30000',
    ];
    try {
      const dom = (await run(chromium, [...flags, '--dump-dom', page], { timeout: 90_000, maxBuffer: 20_000_000 })).stdout;
      expect(dom).toContain('How Acme cut churn: the case study');
      expect(dom).toContain(`analytics.js loaded its settings from ${wire.url}`);
      expect(dom).toContain('data-sent="page identify track"');
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
    // The wire: the settings, then each event as analytics.js 1.84 sends it (text/plain, the key as Basic
    // user), after a preflight (Authorization is not a simple header); nothing else, no telemetry (/v1/m).
    const calls = wire.seen.map(({ method, path, status }) => `${method} ${path.split('?')[0]} ${status}`);
    expect(calls[0]).toBe(`GET /v1/projects/${writeKey}/settings 200`);
    expect(calls.filter((call) => call.startsWith('POST')).sort()).toEqual(['POST /v1/i 200', 'POST /v1/p 200', 'POST /v1/t 200']);
    expect(calls.filter((call) => call.startsWith('OPTIONS')).length).toBeGreaterThanOrEqual(1);
    expect(calls.every((call) => /^(GET|OPTIONS|POST) \/v1\/(projects\/[^/]+\/settings|[ipt]) (200|204)$/.test(call))).toBe(true);
    const preflights = wire.seen.filter((one) => one.method === 'OPTIONS');
    for (const one of preflights) {
      expect(one.headers.origin).toBe(site.origin);
      expect(one.headers['access-control-request-headers']).toMatch(/authorization/);
    }
    for (const one of wire.seen.filter((call) => call.method === 'POST')) {
      expect(one.headers).toMatchObject({ origin: site.origin, authorization: basic(writeKey), 'content-type': 'text/plain' });
    }
    let lead: any;
    await waitUntil(
      'the identify, the page view and the case study on the lead',
      async () => {
        const { status, body } = await getLead(stack, email);
        lead = body;
        return status === 200 && body.recentEvents?.length >= 3;
      },
      20_000,
    );
    expect(lead.lead).toMatchObject({ email, jobTitle: 'Chief Operating Officer', industry: 'Software' });
    expect(lead.reasons.map((reason: { rule: string }) => reason.rule)).toEqual(expect.arrayContaining(['case_study_downloaded', 'page_viewed']));
    expect(lead.recentEvents.map((event: { type: string }) => event.type).sort()).toEqual(['content_downloaded', 'page_viewed', 'profile_updated']);
    // The form's fill came in the fragment, which analytics.js leaves out of the page's URL: no e-mail in it.
    expect(JSON.stringify(lead.recentEvents.find((event: { type: string }) => event.type === 'page_viewed'))).toContain(`"url":"${site.origin}/"`);
    expect(lead.recentEvents.every((event: { source: string }) => event.source === 'tracking')).toBe(true);
    // The page view came before the form, with the visitor's anonymousId alone: taken from the visitor's history.
    expect(lead.recentEvents.filter((event: { anonymous?: true }) => event.anonymous).map((event: { type: string }) => event.type)).toEqual(['page_viewed']);
    expect(lead.eventCount).toBe(3);
  });
});

describe('with TRACKING_ALLOWED_ORIGINS unset', () => {
  const bare = restartedStack(() => stack, {
    env: { TRACKING_WRITE_KEY: writeKey, TRACKING_ALLOWED_ORIGINS: undefined, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' },
  });

  it('no browser is allowed (preflight 403, a POST with an Origin 403, nothing stored); server libraries still are', async () => {
    const preflightAnswer = await fetch(`${bare().baseUrl}/v1/t`, {
      method: 'OPTIONS',
      headers: { origin: site.origin, 'access-control-request-method': 'POST' },
    });
    expect(preflightAnswer.status).toBe(403);
    const before = await countItems(bare().dynamodb, bare().tableName);
    const refused = await fetch(`${bare().baseUrl}/v1/t`, {
      method: 'POST',
      headers: { origin: site.origin, authorization: basic(writeKey) },
      body: JSON.stringify(browserTrack(someone('unset'))),
    });
    expect(refused.status).toBe(403);
    expect(await countItems(bare().dynamodb, bare().tableName)).toBe(before);
    const server = await fetch(`${bare().baseUrl}/v1/t`, {
      method: 'POST',
      headers: { authorization: basic(writeKey) },
      body: JSON.stringify(browserTrack(someone('unset'))),
    });
    expect(server.status).toBe(200);
  });
});

describe('with TRACKING_WRITE_KEY unset', () => {
  const bare = restartedStack(() => stack, {
    env: { TRACKING_WRITE_KEY: undefined, TRACKING_ALLOWED_ORIGINS: marketingSite, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' },
  });

  it('the settings and the preflight answer 404 too, and nothing is stored', async () => {
    const before = await countItems(bare().dynamodb, bare().tableName);
    const settings = await fetch(`${bare().baseUrl}/v1/projects/${writeKey}/settings`, { headers: { origin: marketingSite } });
    expect(settings.status).toBe(404);
    const answer = await fetch(`${bare().baseUrl}/v1/t`, { method: 'OPTIONS', headers: { origin: marketingSite, 'access-control-request-method': 'POST' } });
    expect(answer.status).toBe(404);
    expect(await countItems(bare().dynamodb, bare().tableName)).toBe(before);
  });
});

describe('with TRACKING_ALLOWED_ORIGINS malformed (a path)', () => {
  const bare = restartedStack(() => stack, {
    env: { TRACKING_WRITE_KEY: writeKey, TRACKING_ALLOWED_ORIGINS: 'https://www.example.com/pricing', CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' },
  });

  it('nothing is accepted, from a browser or a server: 503, and nothing is stored', async () => {
    const before = await countItems(bare().dynamodb, bare().tableName);
    for (const headers of [{ origin: 'https://www.example.com' }, {}]) {
      const answer = await fetch(`${bare().baseUrl}/v1/t`, {
        method: 'POST',
        headers: { authorization: basic(writeKey), ...headers },
        body: JSON.stringify(browserTrack(someone('malformed'))),
      });
      // Our mistake, not the sender's: a 503 every library retries until the setting is fixed (logged, naming it).
      expect(answer.status).toBe(503);
      expect(await answer.json()).toMatchObject({ error: 'temporarily_unavailable' });
    }
    expect(await countItems(bare().dynamodb, bare().tableName)).toBe(before);
  });
});
