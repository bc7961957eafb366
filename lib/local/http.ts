/**
 * The local API Gateway: a node:http server that turns each request into the HTTP API payload
 * v2 event the route's Lambda sees in AWS, and the Lambda's answer back into a response.
 *
 * Differences from AWS, on purpose:
 * - Routes with `auth: 'iam'` (GET /leads/{email}, GET /accounts/{domain}) are served without authentication: the server
 *   listens on 127.0.0.1 by default and there is no IAM locally. `requestContext.authorizer` is
 *   absent.
 * - A path that exists with another method answers 405 (API Gateway answers 404), so a wrong
 *   method is easy to tell from a wrong path while developing.
 * - A body above 6 MiB (Lambda's invocation payload limit) answers 413 without invoking.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { HandlerName, RouteSpec } from '../topology.ts';

/** Lambda's synchronous invocation payload limit. */
export const maxLambdaBodyBytes = 6 * 1024 * 1024;

export interface HttpServerOptions {
  readonly routes: readonly RouteSpec[];
  readonly port: number;
  readonly host: string;
  readonly region: string;
  /** Runs the route's handler; rejects on a function error or timeout (rendered as 502). */
  readonly invoke: (handler: HandlerName, event: APIGatewayProxyEventV2) => Promise<unknown>;
  readonly log?: (message: string) => void;
}

export interface LocalHttpServer {
  readonly server: Server;
  readonly port: number;
  readonly baseUrl: string;
  stop(): Promise<void>;
}

interface CompiledRoute {
  readonly route: RouteSpec;
  readonly pattern: RegExp;
  readonly params: readonly string[];
}

/** `/leads/{email}` -> /^\/leads\/([^/]+)$/ ; `{proxy+}` matches the rest of the path. */
export function compileRoute(route: RouteSpec): CompiledRoute {
  const params: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{([A-Za-z0-9_.-]+)(\+?)\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(param[1] ?? '');
      return param[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), params };
}

export async function startHttpServer(options: HttpServerOptions): Promise<LocalHttpServer> {
  const compiled = options.routes.map(compileRoute);
  const log = options.log ?? ((message: string) => console.error(message));

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A client that hung up mid-body needs no answer and no log line.
      if (req.destroyed && (error as NodeJS.ErrnoException)?.code === 'ECONNRESET') return;
      if ((error as NodeJS.ErrnoException)?.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      log(`[local] HTTP ${req.method} ${req.url} failed in the local gateway: ${(error as Error)?.stack ?? String(error)}`);
      if (!res.headersSent) sendJson(res, 500, { message: 'Internal Server Error' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = gatewayRequestId();
    res.setHeader('apigw-requestid', requestId);
    const rawUrl = req.url ?? '/';
    const queryAt = rawUrl.indexOf('?');
    const rawPath = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
    const rawQueryString = queryAt === -1 ? '' : rawUrl.slice(queryAt + 1);
    const method = (req.method ?? 'GET').toUpperCase();

    const onPath = compiled.filter((candidate) => candidate.pattern.test(rawPath));
    if (onPath.length === 0) {
      req.resume();
      sendJson(res, 404, { error: 'not_found', detail: `no route for ${method} ${rawPath}` });
      return;
    }
    const match = onPath.find((candidate) => candidate.route.method === method);
    if (!match) {
      req.resume();
      const allowed = [...new Set(onPath.map((candidate) => candidate.route.method))].join(', ');
      res.setHeader('allow', allowed);
      sendJson(res, 405, { error: 'method_not_allowed', detail: `${method} ${rawPath} is not a route; allowed: ${allowed}` });
      return;
    }

    const declaredLength = Number(req.headers['content-length'] ?? 0);
    if (declaredLength > maxLambdaBodyBytes) {
      tooLarge(req, res, declaredLength);
      return;
    }
    const body = await readBody(req, maxLambdaBodyBytes);
    if (body === 'too_large') {
      tooLarge(req, res, undefined);
      return;
    }

    const event = toEvent({ req, route: match, rawPath, rawQueryString, body, requestId, region: options.region });
    let result: unknown;
    try {
      result = await options.invoke(match.route.handler, event);
    } catch {
      sendJson(res, 502, { message: 'Internal Server Error' });
      return;
    }
    const response = toResponse(result);
    if (!response) {
      log(`[local] ${match.route.handler} returned a malformed response for ${method} ${rawPath}: ${JSON.stringify(result)?.slice(0, 300)}`);
      sendJson(res, 502, { message: 'Internal Server Error' });
      return;
    }
    res.statusCode = response.statusCode;
    for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
    if (response.cookies.length > 0) res.setHeader('set-cookie', response.cookies);
    res.setHeader('content-length', response.body.length);
    res.end(response.body);
  }

  function tooLarge(req: IncomingMessage, res: ServerResponse, size: number | undefined): void {
    res.setHeader('connection', 'close');
    sendJson(res, 413, {
      error: 'payload_too_large',
      detail: `request body${size === undefined ? '' : ` of ${size} bytes`} exceeds Lambda's ${maxLambdaBodyBytes}-byte payload limit`,
    });
    // Keep reading (and discarding) so the client sees the answer instead of a reset.
    req.resume();
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  return {
    server,
    port,
    baseUrl: `http://${urlHost}:${port}`,
    stop: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeIdleConnections();
        // Requests still running get a moment to answer, then are cut.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) return 'too_large';
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

// --- request -> event -------------------------------------------------------------------------

/** Media types API Gateway passes as text; every other body (or none declared) is base64. */
export function isTextMediaType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return (
    type.startsWith('text/') ||
    type === 'application/json' ||
    type.endsWith('+json') ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/x-www-form-urlencoded'
  );
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `12/Mar/2020:19:03:58 +0000`, the format of requestContext.time. */
function gatewayTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** API Gateway's request ids look like `JKJaXmPLvHcESHA=`. */
function gatewayRequestId(): string {
  return randomBytes(10).toString('base64');
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export function toEvent(input: {
  req: IncomingMessage;
  route: CompiledRoute;
  rawPath: string;
  rawQueryString: string;
  body: Buffer;
  requestId: string;
  region: string;
}): APIGatewayProxyEventV2 {
  const { req, route, rawPath, rawQueryString, body } = input;
  const now = new Date();

  // Lower-cased names; a repeated header's values joined with ',' (API Gateway's rule).
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase();
    const value = req.rawHeaders[i + 1] ?? '';
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((cookie) => cookie.trim())
          .filter((cookie) => cookie !== ''),
      );
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  headers['x-forwarded-for'] ??= sourceIp;
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-forwarded-port'] ??= String(req.socket.localPort ?? '');
  headers['x-amzn-trace-id'] ??= `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;

  // Query parameters decoded; a repeated key's values joined with ','.
  let queryStringParameters: Record<string, string> | undefined;
  if (rawQueryString !== '') {
    queryStringParameters = {};
    for (const [key, value] of new URLSearchParams(rawQueryString)) {
      queryStringParameters[key] = key in queryStringParameters ? `${queryStringParameters[key]},${value}` : value;
    }
  }

  let pathParameters: Record<string, string> | undefined;
  if (route.params.length > 0) {
    const values = route.pattern.exec(rawPath) ?? [];
    pathParameters = {};
    route.params.forEach((name, index) => {
      (pathParameters as Record<string, string>)[name] = decode(values[index + 1] ?? '');
    });
  }

  const routeKey = `${route.route.method} ${route.route.path}`;
  const host = headers.host ?? 'localhost';
  const domainName = host.replace(/:\d+$/, '');
  // A compressed body is bytes whatever its media type says (rudder-sdk-node sends gzip declared as a form).
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  const text = (!encoding || encoding === 'identity') && isTextMediaType(headers['content-type']);
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: route.route.method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: input.requestId,
      routeKey,
      stage: '$default',
      time: gatewayTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (body.length > 0) {
    event.body = text ? body.toString('utf8') : body.toString('base64');
    event.isBase64Encoded = !text;
  }
  return event;
}

// --- result -> response -----------------------------------------------------------------------

interface Rendered {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

/**
 * The payload v2 response rules: a result with `statusCode` is a structured response; any other
 * valid JSON result is a 200 `application/json` whose body is the result (a string as is,
 * anything else serialized). Undefined means malformed (API Gateway answers 502).
 */
export function toResponse(result: unknown): Rendered | undefined {
  const isStructured = typeof result === 'object' && result !== null && !Array.isArray(result) && 'statusCode' in result;
  if (!isStructured) {
    const body = typeof result === 'string' ? result : JSON.stringify(result ?? null);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, cookies: [], body: Buffer.from(body, 'utf8') };
  }
  const structured = result as APIGatewayProxyStructuredResultV2;
  const statusCode = Number(structured.statusCode);
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) return undefined;
  if (structured.body !== undefined && structured.body !== null && typeof structured.body !== 'string') return undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(structured.headers ?? {})) {
    if (value === undefined || value === null) continue;
    headers[name.toLowerCase()] = String(value);
  }
  const cookies = Array.isArray(structured.cookies) ? structured.cookies.map(String) : [];
  const text = structured.body ?? '';
  const body = structured.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  return { statusCode, headers, cookies, body };
}
