/**
 * A local stand-in for LinkedIn's versioned Marketing API as the Lead Sync fetch uses it
 * (docs/providers/linkedin.md), for integration tests and `mql demo --source linkedin`:
 * `GET /rest/leadFormResponses/{id}?fields=...` answers the responses registered with
 * {@link LinkedinStandIn.addLead} (with the form's questions projected in when `fields` asks for
 * `form:(...)`), and `GET /rest/leadForms/{id}` the forms. As strict as the documentation:
 *
 * - without `LinkedIn-Version` it answers 400 VERSION_MISSING; a version that is not `YYYYMM`, in the future,
 *   or older than LinkedIn's one-year support window (at the stand-in's clock) 426 NONEXISTENT_VERSION;
 * - without `X-Restli-Protocol-Version: 2.0.0` it answers 400 (the lead sync APIs are protocol 2.0.0 only);
 * - without a bearer token 401 EMPTY_ACCESS_TOKEN (65604), with another token 401 INVALID_ACCESS_TOKEN (65600);
 * - failures scripted for the next N calls or for a time window (an outage): 429 TOO_MANY_REQUESTS with no
 *   Retry-After (LinkedIn announces none), an expired token, 403, 404, 500, a proxy's 503, a dropped connection.
 *
 * Error bodies are LinkedIn's `{"status", "serviceErrorCode", "code", "message"}`.
 *
 *   const api = await startLinkedinStandIn({ accessToken });
 *   api.addLead(response, form);
 *   api.failNext('rate_limited', 2);
 *   // LINKEDIN_API_URL = api.url
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { LinkedinForm, LinkedinLeadResponse } from '../../apis/linkedin-leads.ts';
import { leadFormIdPattern, leadResponseIdPattern, versionedFormOf } from '../../apis/linkedin-leads.ts';
import { listenLocal } from '../listen.ts';
import { sameText } from './credentials.ts';

export const linkedinFailureKinds = [
  'rate_limited',
  'expired_token',
  'invalid_token',
  'forbidden',
  'not_found',
  'server_error',
  'unavailable',
  'connection_reset',
] as const;
export type LinkedinFailureKind = (typeof linkedinFailureKinds)[number];

interface Answer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/** LinkedIn's error body, with the headers every answer of the API carries. */
const linkedinError = (status: number, code: string, message: string, serviceErrorCode?: number): Answer => ({
  status,
  body: JSON.stringify({ status, ...(serviceErrorCode === undefined ? {} : { serviceErrorCode }), code, message }),
});

const failures: Record<Exclude<LinkedinFailureKind, 'connection_reset'>, (id: string) => Answer> = {
  rate_limited: () => linkedinError(429, 'TOO_MANY_REQUESTS', 'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.', 101),
  expired_token: () => linkedinError(401, 'EXPIRED_ACCESS_TOKEN', 'The token used in the request has expired', 65601),
  invalid_token: () => linkedinError(401, 'INVALID_ACCESS_TOKEN', 'Invalid access token', 65600),
  forbidden: () => linkedinError(403, 'ACCESS_DENIED', 'Not enough permissions to access: leadFormResponses.GET.20261001', 100),
  not_found: (id) => linkedinError(404, 'NOT_FOUND', `Lead form response ${id} not found`),
  server_error: () => linkedinError(500, 'INTERNAL_SERVER_ERROR', 'Internal Server Error'),
  // A load balancer's page, no LinkedIn error body at all.
  unavailable: () => ({ status: 503, headers: { 'content-type': 'text/html' }, body: '<html><body>Service Unavailable</body></html>' }),
};

/** Whether LinkedIn serves `version` (YYYYMM) at `now`: released, and less than a year old. */
export function linkedinVersionActive(version: string, now: Date): boolean {
  const match = /^(\d{4})(\d{2})$/.exec(version);
  if (!match) return false;
  const month = Number(match[1]) * 12 + Number(match[2]) - 1;
  const current = now.getUTCFullYear() * 12 + now.getUTCMonth();
  return Number(match[2]) >= 1 && Number(match[2]) <= 12 && month <= current && current - month < 12;
}

export interface LinkedinCall {
  /** `leadFormResponses` or `leadForms`. */
  resource: string;
  id: string;
  /** Epoch milliseconds. */
  at: number;
  answered: number | 'reset';
  failure?: LinkedinFailureKind;
}

export interface LinkedinStandInOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  accessToken: string;
  /** The stand-in's clock, for which versions are active (default: the real one). */
  now?: () => Date;
  /** Whether a `form:(...)` projection is decorated into the response (default true); false makes the fetch read the form. */
  decorateForm?: boolean;
}

export interface LinkedinStandIn {
  /** Base URL, the value for LINKEDIN_API_URL, e.g. http://127.0.0.1:40123/rest */
  readonly url: string;
  /** Every API request, in arrival order. */
  readonly calls: LinkedinCall[];
  /** Serves this response at `/rest/leadFormResponses/{id}`, and its form at `/rest/leadForms/{formId}`. */
  addLead(response: LinkedinLeadResponse, form?: LinkedinForm): void;
  /** Answers the next `count` requests (any resource) with this failure. */
  failNext(kind: LinkedinFailureKind, count?: number): void;
  /** Answers every request with this failure for the next `ms` milliseconds: an outage. */
  failFor(kind: LinkedinFailureKind, ms: number): void;
  heal(): void;
  /** The calls for one lead form response. */
  callsFor(responseId: string): LinkedinCall[];
  stop(): Promise<void>;
}

/** The top-level names of a Rest.li projection (`id,formResponse,form:(name,content)` -> id, formResponse, form). */
function projectedFields(fields: string): Set<string> {
  const names = new Set<string>();
  let depth = 0;
  let current = '';
  for (const char of fields) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      names.add(current.split(':')[0]!.trim());
      current = '';
      continue;
    }
    current += char;
  }
  if (current.trim()) names.add(current.split(':')[0]!.trim());
  return names;
}

/** Starts the stand-in on 127.0.0.1. */
export async function startLinkedinStandIn(options: LinkedinStandInOptions): Promise<LinkedinStandIn> {
  const clock = options.now ?? (() => new Date());
  const responses = new Map<string, LinkedinLeadResponse>();
  const forms = new Map<string, LinkedinForm>();
  const calls: LinkedinCall[] = [];
  let scripted: LinkedinFailureKind[] = [];
  let outage: { kind: LinkedinFailureKind; until: number } | undefined;

  const send = (response: ServerResponse, answer: Answer) => {
    response
      .writeHead(answer.status, {
        'content-type': 'application/json',
        'x-restli-protocol-version': '2.0.0',
        'x-li-uuid': randomBytes(16).toString('base64'),
        ...answer.headers,
      })
      .end(answer.body);
  };

  function handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const match = /^\/rest\/(leadFormResponses|leadForms)\/([^/]+)$/.exec(url.pathname);
    if (request.method !== 'GET' || !match) {
      send(response, linkedinError(404, 'RESOURCE_NOT_FOUND', `No virtual resource found for ${url.pathname}`));
      return;
    }
    const [, resource, id] = match as unknown as [string, string, string];
    const call: LinkedinCall = { resource, id, at: Date.now(), answered: 200 };
    calls.push(call);
    const reply = (answer: Answer) => {
      call.answered = answer.status;
      send(response, answer);
    };

    const version = request.headers['linkedin-version'];
    if (typeof version !== 'string' || version.trim() === '') {
      reply(linkedinError(400, 'VERSION_MISSING', 'A version must be present. Please specify a version by adding the LinkedIn-Version header.'));
      return;
    }
    if (!linkedinVersionActive(version.trim(), clock())) {
      reply(linkedinError(426, 'NONEXISTENT_VERSION', `Requested version ${version.trim().slice(0, 20)} is not active`));
      return;
    }
    if (request.headers['x-restli-protocol-version'] !== '2.0.0') {
      reply(linkedinError(400, 'ILLEGAL_ARGUMENT', 'This API requires the header X-Restli-Protocol-Version: 2.0.0'));
      return;
    }

    const failure = scripted.shift() ?? (outage && Date.now() < outage.until ? outage.kind : undefined);
    if (failure) {
      call.failure = failure;
      if (failure === 'connection_reset') {
        call.answered = 'reset';
        request.socket.destroy();
        return;
      }
      reply(failures[failure](id));
      return;
    }

    const authorization = request.headers.authorization ?? '';
    const token = /^Bearer (.+)$/.exec(authorization)?.[1];
    if (!token) {
      reply(linkedinError(401, 'EMPTY_ACCESS_TOKEN', 'Empty oauth2_access_token', 65604));
      return;
    }
    if (!sameText(token, options.accessToken)) {
      reply(failures.invalid_token(id));
      return;
    }

    if (resource === 'leadForms') {
      const form = leadFormIdPattern.test(id) ? forms.get(id) : undefined;
      reply(form ? { status: 200, body: JSON.stringify(form) } : linkedinError(404, 'NOT_FOUND', `Lead form ${id} not found`));
      return;
    }
    const lead = leadResponseIdPattern.test(id) ? responses.get(id) : undefined;
    if (!lead) {
      reply(failures.not_found(id));
      return;
    }
    const fields = url.searchParams.get('fields');
    const wanted = fields ? projectedFields(fields) : undefined;
    const answer: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(lead)) if (!wanted || wanted.has(key)) answer[key] = value;
    const formId = versionedFormOf(lead.versionedLeadGenFormUrn)?.formId;
    const form = formId === undefined ? undefined : forms.get(formId);
    if (wanted?.has('form') && form && options.decorateForm !== false) answer.form = form;
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
    url: `${listening.origin}/rest`,
    calls,
    addLead(lead, form) {
      if (!leadResponseIdPattern.test(lead.id)) throw new Error(`a lead form response id is a UUID-like text, got ${JSON.stringify(lead.id)}`);
      responses.set(lead.id, structuredClone(lead));
      const formId = versionedFormOf(lead.versionedLeadGenFormUrn)?.formId;
      if (form && formId !== undefined) forms.set(formId, structuredClone({ ...form, id: Number(formId) }));
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
    callsFor(responseId) {
      return calls.filter((call) => call.resource === 'leadFormResponses' && call.id === responseId);
    },
    stop: listening.close,
  };
}
