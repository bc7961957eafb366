import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { badRequest, payloadTooLarge, unsupportedMediaType } from './errors.ts';

/** Largest webhook body we accept (issue 2: 1 MiB); API Gateway itself allows 10 MB. */
export const maxBodyBytes = 1024 * 1024;

/** The exact bytes the sender signed: API Gateway base64-encodes non-text bodies. */
export function rawBody(event: APIGatewayProxyEventV2): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  const body = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
  if (body.length > maxBodyBytes) throw payloadTooLarge(`body is ${body.length} bytes; the limit is ${maxBodyBytes}`);
  return body;
}

/** Header lookup that does not depend on the case API Gateway (v1) or a client used. */
export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** Refuses a body whose declared media type (the Content-Type header's value) is not the one the provider sends. */
export function requireContentType(contentType: string | undefined, mediaType: string): void {
  const declared = contentType?.split(';')[0]?.trim().toLowerCase();
  if (declared !== mediaType) {
    throw unsupportedMediaType(`expected ${mediaType}, got ${declared ?? 'no content-type'}`);
  }
}

/**
 * Deepest nesting of arrays and objects accepted. Real deliveries nest a handful of levels; a body
 * nested thousands deep would overflow the stack of every recursive walk after it (JSON.stringify
 * of the raw payload), turning a sender's malformed body into our 5xx and an endless retry.
 */
export const maxJsonDepth = 64;

/**
 * JSON.parse that turns a syntax error, or nesting deeper than {@link maxJsonDepth}, into a 400 the sender can read.
 * `reviver` is JSON.parse's (with the source text of each primitive, for ids that overflow doubles); it walks the
 * value recursively, so a body nested thousands deep overflows it: that too is the sender's 400.
 */
export function parseJson(body: Buffer, reviver?: (key: string, value: unknown, context?: { source?: string }) => unknown): unknown {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'), reviver);
  } catch (error) {
    if (error instanceof RangeError) throw badRequest(`body nests deeper than ${maxJsonDepth} levels`, error);
    throw badRequest(`body is not valid JSON: ${(error as Error).message}`, error);
  }
  if (depthOf(value) > maxJsonDepth) throw badRequest(`body nests deeper than ${maxJsonDepth} levels`);
  return value;
}

/** Nesting depth of a parsed JSON value, without recursion (so it cannot overflow itself). */
function depthOf(root: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[root, 0]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop()!;
    if (value === null || typeof value !== 'object') continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (level > maxJsonDepth) return level;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (child !== null && typeof child === 'object') pending.push([child, level]);
    }
  }
  return deepest;
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}
