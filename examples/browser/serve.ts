/**
 * Serves the browser example (examples/browser/index.html) and analytics.js from the npm package
 * `@segment/analytics-next` (its UMD build, and the chunks it may load beside it): a website of its own,
 * on another origin than the engine, as a real site would be. Nothing is fetched from a CDN.
 *
 *   node examples/browser/serve.ts            # http://127.0.0.1:8080, for the engine of `npm start`
 *
 * Settings: EXAMPLE_PORT (8080), ENGINE_URL (http://127.0.0.1:3000), TRACKING_WRITE_KEY (the page loads
 * analytics.js with its first key; from the environment or .env, as npm start reads them). The engine must allow the page's origin:
 * TRACKING_ALLOWED_ORIGINS=http://127.0.0.1:8080 (docs/providers/tracking.md#try-it-in-a-browser).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
/** The UMD build of the package installed as a dev dependency. */
export const analyticsNextDir = fileURLToPath(new URL('../../node_modules/@segment/analytics-next/dist/umd/', import.meta.url));

const types: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };

export interface ExampleServer {
  readonly server: Server;
  /** `http://host:port`: the page's origin, for TRACKING_ALLOWED_ORIGINS. */
  readonly origin: string;
  /**
   * The page's URL; `fill` (email, title, company, industry) goes in the fragment, which fills the form and
   * sends it at once, and which analytics.js leaves out of the page's URL it sends.
   */
  pageUrl(fill?: Record<string, string>): string;
  stop(): Promise<void>;
}

/**
 * Starts the example's web server: `/` the page, `/config.js` the engine's URL and the write key it loads
 * analytics.js with, `/analytics-next/<file>` the package's UMD files; nothing else.
 */
export async function startExampleServer(options: { engine: string; writeKey: string; port?: number; host?: string }): Promise<ExampleServer> {
  if (!existsSync(join(analyticsNextDir, 'index.js'))) throw new Error(`analytics.js is not installed (${analyticsNextDir}): run npm ci`);
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    let file: string | undefined;
    if (path === '/config.js' && req.method === 'GET') {
      const config = { engine: options.engine, writeKey: options.writeKey };
      res.writeHead(200, { 'content-type': types['.js'] ?? '', 'cache-control': 'no-store' }).end(`window.mqlExample = ${JSON.stringify(config)};\n`);
      return;
    }
    if (path === '/' || path === '/index.html') file = join(here, 'index.html');
    else if (path.startsWith('/analytics-next/')) {
      const name = normalize(path.slice('/analytics-next/'.length));
      if (!name.startsWith('..') && !name.includes('/') && !name.includes('\\')) file = join(analyticsNextDir, name);
    }
    if (req.method !== 'GET' || file === undefined || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(readFileSync(file));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const origin = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    server,
    origin,
    pageUrl: (fill = {}) => `${origin}/${Object.keys(fill).length > 0 ? `#${new URLSearchParams(fill)}` : ''}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const writeKey = (process.env.TRACKING_WRITE_KEY ?? '').split(',')[0]?.trim() ?? '';
  if (writeKey === '') {
    console.error('examples/browser/serve.ts: set TRACKING_WRITE_KEY (in the environment or .env), as npm start has it');
    process.exit(1);
  }
  const engine = process.env.ENGINE_URL ?? 'http://127.0.0.1:3000';
  const example = await startExampleServer({ engine, writeKey, port: Number(process.env.EXAMPLE_PORT ?? 8080) });
  console.log(`The example page, for the engine at ${engine}: ${example.pageUrl()}`);
  console.log(`The engine must allow its origin: TRACKING_ALLOWED_ORIGINS=${example.origin}`);
}
