/**
 * The website part of `mql demo` (lib/local/demo.ts): what analytics.js (`@segment/analytics-next`) sends
 * when a site's snippet points at the engine (docs/providers/tracking.md), for a visitor who browses
 * before giving an address and then signs up. Each call is one POST to the short path analytics.js uses
 * (`/v1/p`, `/v1/t`, `/v1/i`), `Content-Type: text/plain` with the write key in the body, as the browser
 * library does to avoid a CORS preflight; times are the visits' own (`timestamp`), sent now (`sentAt`).
 */
import { randomUUID } from 'node:crypto';

/** A page view or a track call of the visitor, days before the demo runs. */
export interface Visit {
  readonly daysAgo: number;
  readonly page: { readonly path: string; readonly title: string };
  /** A track call on that page (a case study downloaded), beside the page view. */
  readonly track?: { readonly event: string; readonly properties: Readonly<Record<string, string>> };
}

export interface WebsiteVisitor {
  readonly anonymousId: string;
  readonly userId: string;
}

const site = 'https://www.northwind-demo.example';

/** The fields analytics.js puts on every call: ids, times, the page, the library. */
function envelope(writeKey: string, visitor: WebsiteVisitor, at: Date, now: Date, page: Visit['page'], identified: boolean): Record<string, unknown> {
  return {
    messageId: `ajs-next-${randomUUID()}`,
    anonymousId: visitor.anonymousId,
    ...(identified ? { userId: visitor.userId } : {}),
    timestamp: at.toISOString(),
    sentAt: now.toISOString(),
    writeKey,
    context: {
      page: { path: page.path, url: `${site}${page.path}`, title: page.title, referrer: '' },
      library: { name: 'analytics.js', version: 'npm:next-1.81.0' },
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) mql-demo',
    },
    integrations: {},
  };
}

async function post(baseUrl: string, path: string, message: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(message) });
  const answer = `${response.status} ${await response.text()}`;
  if (!response.ok) throw new Error(`POST ${path} answered ${answer}`);
  return answer;
}

/** The visits, as analytics.js sends them: a page call per visit, and its track call after. Returns the answers' lines. */
export async function browse(baseUrl: string, writeKey: string, visitor: WebsiteVisitor, visits: readonly Visit[], now: Date): Promise<string[]> {
  const lines: string[] = [];
  for (const visit of visits) {
    const at = new Date(now.getTime() - visit.daysAgo * 86_400_000);
    const page = {
      ...envelope(writeKey, visitor, at, now, visit.page, false),
      type: 'page',
      name: visit.page.title,
      properties: { path: visit.page.path, url: `${site}${visit.page.path}`, title: visit.page.title },
    };
    lines.push(`POST /v1/p ${visit.page.path} -> ${await post(baseUrl, '/v1/p', page)}`);
    if (visit.track) {
      const track = {
        ...envelope(writeKey, visitor, new Date(at.getTime() + 30_000), now, visit.page, false),
        type: 'track',
        event: visit.track.event,
        properties: visit.track.properties,
      };
      lines.push(`POST /v1/t "${visit.track.event}" -> ${await post(baseUrl, '/v1/t', track)}`);
    }
  }
  return lines;
}

/** The sign-up form's `analytics.identify(userId, traits)`: the visitor's ids with the person's e-mail and answers. */
export async function signUp(
  baseUrl: string,
  writeKey: string,
  visitor: WebsiteVisitor,
  traits: Readonly<Record<string, unknown>>,
  now: Date,
): Promise<string> {
  const page = { path: '/signup', title: 'Start your trial' };
  const identify = { ...envelope(writeKey, visitor, now, now, page, true), type: 'identify', traits };
  return `POST /v1/i -> ${await post(baseUrl, '/v1/i', identify)}`;
}
