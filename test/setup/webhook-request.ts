/** A webhook request as a source sees it, built for unit tests of lib/sources, and the refusal it throws. */
import { expect } from 'vitest';
import { HttpError } from '../../lib/http/errors.ts';
import type { WebhookRequest } from '../../lib/sources/source.ts';

/** A POST of these bytes with these headers (looked up case-insensitively, as the handler does). */
export function webhookRequest(body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }): WebhookRequest {
  const lowerCased = new Map(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
  return {
    method: 'POST',
    body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
    header: (name) => lowerCased.get(name.toLowerCase()),
    query: {},
    pathParameters: {},
    path: '/',
    rawQueryString: '',
  };
}

/** The HttpError `act` throws; fails the test when it throws nothing or something else. */
export function refusal(act: () => unknown): HttpError {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    return error as HttpError;
  }
  throw new Error('expected a refusal');
}
