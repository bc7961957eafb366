/**
 * A local stand-in for the Graph API's lead endpoint (docs/providers/facebook.md), for integration tests
 * and `mql demo`: `GET /{version}/{leadgen-id}?fields=...&access_token=...&appsecret_proof=...` answers
 * the leads registered with {@link GraphStandIn.addLead}, checks the token and the proof as Graph does
 * with "Require App Secret" on, and can be told to fail the way Graph fails (Meta's documented error bodies
 * and statuses), for the next N calls or for a time window (an outage).
 *
 * A retired version is refused, at the stand-in's clock, with Meta's error for calling one: 400,
 * OAuthException code 2635, "(#2635) You are calling a deprecated version of the Ads API. Please update to
 * the latest version: v26.0." (lead retrieval is documented under the Marketing API, whose versioning says
 * calls to an expired version fail; Graph's own may instead default them to the next version, which a
 * pinned version must not do unnoticed: the stricter answer, docs/providers/facebook.md).
 *
 *   const graph = await startGraphStandIn({ appSecret, accessToken });
 *   graph.addLead({ id: '1039488223947372', created_time: '2024-05-14T09:21:06+0000', field_data: [...] });
 *   graph.failNext('page_rate_limit', 2);
 *   // FACEBOOK_GRAPH_URL = graph.url
 */
import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { GraphLead } from '../../apis/facebook-graph.ts';
import { defaultFacebookGraphUrl, graphLeadFields } from '../../apis/facebook-graph.ts';
import { listenLocal } from '../listen.ts';
import { sameText } from './credentials.ts';

/** Failures Graph answers, named after the documented cases (test/fixtures/facebook/meta_graph_lead_responses.json). */
export const graphFailureKinds = [
  'app_rate_limit',
  'user_rate_limit',
  'page_rate_limit',
  'custom_rate_limit',
  'business_rate_limit',
  'expired_token',
  'invalid_token',
  'not_found',
  'invalid_parameter',
  'server_error',
  'unavailable',
  'connection_reset',
] as const;
export type GraphFailureKind = (typeof graphFailureKinds)[number];

interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

const graphError = (status: number, error: Record<string, unknown>, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'content-type': 'application/json; charset=UTF-8', ...headers },
  body: JSON.stringify({ error: { ...error, fbtrace_id: `AQx1StandIn${Math.random().toString(36).slice(2, 12)}` } }),
});

/** The README's error bodies (meta_graph_lead_responses.json), with their statuses and usage headers. */
const failures: Record<Exclude<GraphFailureKind, 'connection_reset'>, (leadgenId: string) => Answer> = {
  app_rate_limit: () =>
    graphError(
      400,
      { message: '(#4) Application request limit reached', type: 'OAuthException', is_transient: true, code: 4 },
      {
        'x-app-usage': '{"call_count":100,"total_cputime":27,"total_time":31}',
      },
    ),
  user_rate_limit: () =>
    graphError(400, { message: '(#17) User request limit reached', type: 'OAuthException', is_transient: true, code: 17, error_subcode: 2446079 }),
  page_rate_limit: () =>
    graphError(
      400,
      { message: '(#32) Page request limit reached', type: 'OAuthException', code: 32 },
      {
        'x-business-use-case-usage':
          '{"108273958312345":[{"type":"pages","call_count":100,"total_cputime":12,"total_time":15,"estimated_time_to_regain_access":5}]}',
      },
    ),
  custom_rate_limit: () => graphError(400, { message: '(#613) Calls to this api have exceeded the rate limit.', type: 'OAuthException', code: 613 }),
  business_rate_limit: () =>
    graphError(400, {
      message: '(#80001) There have been too many calls to this Page account. Wait a bit and try again.',
      type: 'OAuthException',
      is_transient: true,
      code: 80001,
    }),
  expired_token: () =>
    graphError(
      400,
      {
        message: 'Error validating access token: Session has expired on Tuesday, 14-May-24 02:00:00 PDT.',
        type: 'OAuthException',
        code: 190,
        error_subcode: 463,
      },
      { 'www-authenticate': 'OAuth "Facebook Platform" "invalid_token" "Error validating access token: Session has expired"' },
    ),
  invalid_token: () =>
    graphError(400, {
      message:
        'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
      type: 'OAuthException',
      code: 190,
      error_subcode: 460,
    }),
  not_found: (leadgenId) =>
    graphError(400, {
      message: `Unsupported get request. Object with ID '${leadgenId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
      type: 'GraphMethodException',
      code: 100,
      error_subcode: 33,
    }),
  invalid_parameter: () =>
    graphError(400, { message: '(#100) Tried accessing nonexisting field (foo) on node type (LeadgenLead)', type: 'OAuthException', code: 100 }),
  server_error: () =>
    graphError(500, { message: 'An unexpected error has occurred. Please retry your request later.', type: 'OAuthException', is_transient: true, code: 2 }),
  // A load balancer's page, no Graph error body at all.
  unavailable: () => ({ status: 503, headers: { 'content-type': 'text/html' }, body: '<html><body>Service Unavailable</body></html>' }),
};

/**
 * Graph API versions and the day each stops working, from Meta's changelog (docs/providers/facebook.md);
 * no `until`: no end announced yet. Every version older than the last listed is long retired.
 */
export const graphVersions: readonly { version: string; introduced: string; until?: string }[] = [
  { version: 'v26.0', introduced: '2026-07-29' },
  { version: 'v25.0', introduced: '2026-02-18', until: '2028-07-29' },
  { version: 'v24.0', introduced: '2025-10-08', until: '2028-02-18' },
  { version: 'v23.0', introduced: '2025-05-29', until: '2027-10-08' },
  { version: 'v22.0', introduced: '2025-01-21', until: '2027-05-20' },
  { version: 'v21.0', introduced: '2024-10-02', until: '2027-01-21' },
  { version: 'v20.0', introduced: '2024-05-21', until: '2026-09-24' },
  { version: 'v19.0', introduced: '2024-01-23', until: '2026-05-21' },
  { version: 'v18.0', introduced: '2023-09-12', until: '2026-01-26' },
  { version: 'v17.0', introduced: '2023-05-23', until: '2025-09-12' },
];

const versionNumber = (version: string) => Number(/^v(\d+(?:\.\d+)?)$/.exec(version)?.[1] ?? Number.NaN);

/** Whether Graph still serves `version` at `now` (a version newer than the table, unknown yet, is given the benefit). */
export function graphVersionRetired(version: string, now: Date): boolean {
  const number = versionNumber(version);
  if (Number.isNaN(number)) return false;
  const known = graphVersions.find((entry) => entry.version === version);
  if (known) return known.until !== undefined && now.getTime() >= Date.parse(`${known.until}T00:00:00Z`);
  return number < versionNumber(graphVersions.at(-1)!.version);
}

/** The newest version out at `now`, as Graph names it in its error for a retired one. */
const latestVersion = (now: Date) =>
  graphVersions.find((entry) => Date.parse(`${entry.introduced}T00:00:00Z`) <= now.getTime())?.version ?? graphVersions[0]!.version;

/** Without `fields`, Graph answers a default subset (the fixtures' success_200_default_fields_only). */
const defaultFields = ['id', 'created_time', 'field_data'];

export interface GraphCall {
  leadgenId: string;
  /** Epoch milliseconds. */
  at: number;
  /** The HTTP status answered, or `reset` for a dropped connection. */
  answered: number | 'reset';
  /** The scripted failure answered, if any. */
  failure?: GraphFailureKind;
}

export interface GraphStandInOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  appSecret: string;
  accessToken: string;
  /** The version path segment (default: the pipeline's, v26.0), part of {@link GraphStandIn.url}. */
  version?: string;
  /** The stand-in's clock, for which versions are retired (default: the real one). */
  now?: () => Date;
}

export interface GraphStandIn {
  /** Base URL with the version, the value for FACEBOOK_GRAPH_URL, e.g. http://127.0.0.1:40123/v26.0 */
  readonly url: string;
  /** Every lead request, in arrival order. */
  readonly calls: GraphCall[];
  /** Serves this lead at `/{version}/{lead.id}` from now on. */
  addLead(lead: GraphLead): void;
  /** Answers the next `count` lead requests (any lead) with this failure. */
  failNext(kind: GraphFailureKind, count?: number): void;
  /** Answers every lead request with this failure for the next `ms` milliseconds: an outage. */
  failFor(kind: GraphFailureKind, ms: number): void;
  /** Drops scripted failures. */
  heal(): void;
  /** The calls for one lead. */
  callsFor(leadgenId: string): GraphCall[];
  stop(): Promise<void>;
}

/** Starts the stand-in on 127.0.0.1. */
export async function startGraphStandIn(options: GraphStandInOptions): Promise<GraphStandIn> {
  const version = options.version ?? new URL(defaultFacebookGraphUrl).pathname.split('/').filter(Boolean).at(-1)!;
  const clock = options.now ?? (() => new Date());
  const leads = new Map<string, GraphLead>();
  const calls: GraphCall[] = [];
  let scripted: GraphFailureKind[] = [];
  let outage: { kind: GraphFailureKind; until: number } | undefined;
  const proof = createHmac('sha256', options.appSecret).update(options.accessToken).digest('hex');

  const send = (response: ServerResponse, answer: Answer) => {
    response.writeHead(answer.status, { 'content-type': 'application/json; charset=UTF-8', ...answer.headers }).end(answer.body);
  };

  function handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const match = /^\/([^/]+)\/(\d{1,30})\/?$/.exec(url.pathname);
    if (request.method === 'GET' && match && graphVersionRetired(match[1]!, clock())) {
      calls.push({ leadgenId: match[2]!, at: Date.now(), answered: 400 });
      send(
        response,
        graphError(400, {
          message: `(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: ${latestVersion(clock())}.`,
          type: 'OAuthException',
          code: 2635,
        }),
      );
      return;
    }
    if (request.method !== 'GET' || !match || match[1] !== version) {
      send(response, graphError(400, { message: `Unknown path components: ${url.pathname}`, type: 'OAuthException', code: 2500 }));
      return;
    }
    const leadgenId = match[2]!;
    const call: GraphCall = { leadgenId, at: Date.now(), answered: 200 };
    calls.push(call);

    const failure = scripted.shift() ?? (outage && Date.now() < outage.until ? outage.kind : undefined);
    if (failure) {
      call.failure = failure;
      if (failure === 'connection_reset') {
        call.answered = 'reset';
        request.socket.destroy();
        return;
      }
      const answer = failures[failure](leadgenId);
      call.answered = answer.status;
      send(response, answer);
      return;
    }

    const reply = (answer: Answer) => {
      call.answered = answer.status;
      send(response, answer);
    };
    const token = url.searchParams.get('access_token');
    if (!token || !sameText(token, options.accessToken)) {
      reply(graphError(400, { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190, error_subcode: 467 }));
      return;
    }
    const givenProof = url.searchParams.get('appsecret_proof');
    if (!givenProof) {
      reply(graphError(400, { message: 'API calls from the server require an appsecret_proof argument', type: 'GraphMethodException', code: 100 }));
      return;
    }
    if (!sameText(givenProof.toLowerCase(), proof)) {
      reply(graphError(400, { message: 'Invalid appsecret_proof provided in the API argument', type: 'GraphMethodException', code: 100 }));
      return;
    }
    const lead = leads.get(leadgenId);
    if (!lead) {
      reply(failures.not_found(leadgenId));
      return;
    }
    const fields =
      url.searchParams
        .get('fields')
        ?.split(',')
        .map((field) => field.trim())
        .filter(Boolean) ?? defaultFields;
    const unknown = fields.find((field) => !knownFields.has(field));
    if (unknown) {
      reply(
        graphError(400, { message: `(#100) Tried accessing nonexisting field (${unknown}) on node type (LeadgenLead)`, type: 'OAuthException', code: 100 }),
      );
      return;
    }
    const answer: Record<string, unknown> = { id: lead.id };
    for (const field of fields) if (Object.hasOwn(lead, field)) answer[field] = (lead as unknown as Record<string, unknown>)[field];
    reply({ status: 200, body: JSON.stringify(answer) });
  }

  const server = createServer((request, response) => {
    try {
      handle(request, response);
    } catch (error) {
      response.writeHead(500).end(String(error));
    }
  });
  const listening = await listenLocal(server, options);

  return {
    url: `${listening.origin}/${version}`,
    calls,
    addLead(lead) {
      if (!/^\d{1,30}$/.test(lead.id)) throw new Error(`a lead id is a decimal number, got ${JSON.stringify(lead.id)}`);
      leads.set(lead.id, structuredClone(lead));
    },
    failNext(kind, count = 1) {
      scripted.push(...Array.from({ length: count }, () => kind));
    },
    failFor(kind, ms) {
      outage = { kind, until: Date.now() + ms };
    },
    heal() {
      scripted = [];
      outage = undefined;
    },
    callsFor(leadgenId) {
      return calls.filter((call) => call.leadgenId === leadgenId);
    },
    stop: listening.close,
  };
}

/** The Lead node's fields (Meta's documented list and the SDK's), for Graph's "nonexisting field" error. */
const knownFields = new Set<string>([
  ...graphLeadFields,
  // Fields of the node the fetch does not ask for.
  'partner_name',
  'post',
  'home_listing',
  'vehicle',
  'retailer_item_id',
  'post_submission_check_result',
]);
