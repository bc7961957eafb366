/**
 * How a LinkedIn API answer becomes the queue's decision, as pure functions: each status and LinkedIn error
 * body classified, the fetch step's failure (retry or the DLQ at once) and the operator's fix, and the form URNs.
 */
import { describe, expect, it } from 'vitest';
import { classifyLinkedinError, LinkedinApiError, versionedFormOf } from '../../../lib/apis/linkedin-leads.ts';
import { linkedin } from '../../../lib/sources/linkedin.ts';

const step = linkedin.fetch!;

describe('LinkedIn error answers', () => {
  it.each<[number, unknown, string, boolean]>([
    [
      429,
      {
        status: 429,
        serviceErrorCode: 101,
        code: 'TOO_MANY_REQUESTS',
        message: 'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.',
      },
      'rate_limited',
      true,
    ],
    [401, { status: 401, serviceErrorCode: 65600, code: 'INVALID_ACCESS_TOKEN', message: 'Invalid access token' }, 'invalid_token', false],
    [401, { status: 401, serviceErrorCode: 65601, code: 'EXPIRED_ACCESS_TOKEN', message: 'The token used in the request has expired' }, 'invalid_token', false],
    [403, { status: 403, serviceErrorCode: 100, code: 'ACCESS_DENIED', message: 'Not enough permissions' }, 'permanent', false],
    [404, { status: 404, code: 'NOT_FOUND', message: 'not found' }, 'not_found', false],
    [400, { status: 400, code: 'VERSION_MISSING', message: 'A version must be present.' }, 'permanent', false],
    [426, { status: 426, code: 'NONEXISTENT_VERSION', message: 'Requested version 202001 is not active' }, 'permanent', false],
    [500, { status: 500, code: 'INTERNAL_SERVER_ERROR', message: 'Internal Server Error' }, 'transient', true],
    [503, undefined, 'transient', true],
  ])('%i %j is %s', (status, body, kind, retryable) => {
    const error = classifyLinkedinError(status, body);
    expect(error.kind).toBe(kind);
    expect(error.retryable).toBe(retryable);
    expect(error.httpStatus).toBe(status);
  });

  it('keeps a Retry-After if LinkedIn ever sends one, as the wait the queue must respect', () => {
    expect(classifyLinkedinError(429, undefined, 120).retryAfterSeconds).toBe(120);
  });

  it('a 426 names the version this release sends', () => {
    expect(classifyLinkedinError(426, { code: 'NONEXISTENT_VERSION', message: 'x' }).message).toMatch(/LinkedIn-Version \d{6}/);
  });
});

describe("the fetch step's failures", () => {
  it('a rate limit or an outage is retried; a token, a missing response or a refusal goes to the DLQ at once', () => {
    expect(step.failureOf(new LinkedinApiError('rate_limited', 'x', { httpStatus: 429 }))).toMatchObject({
      disposition: 'retry',
      kind: 'rate_limited',
      code: '429',
    });
    expect(step.failureOf(new Error('socket hang up'))).toMatchObject({ disposition: 'retry', kind: 'transient' });
    expect(step.failureOf(new LinkedinApiError('invalid_token', 'x', { httpStatus: 401, code: 'INVALID_ACCESS_TOKEN' }))).toMatchObject({
      disposition: 'permanent',
      code: '401 INVALID_ACCESS_TOKEN',
    });
    expect(step.failureOf(new LinkedinApiError('not_found', 'x', { httpStatus: 404 }))).toMatchObject({ disposition: 'permanent' });
    expect(step.failureOf(new LinkedinApiError('permanent', 'x', { httpStatus: 403 }))).toMatchObject({ disposition: 'permanent' });
  });

  it('tells the operator what to do about a dead letter', () => {
    expect(step.fix(step.failureOf(new LinkedinApiError('invalid_token', 'x')))).toContain('replace LINKEDIN_ACCESS_TOKEN');
    expect(step.fix(step.failureOf(new LinkedinApiError('not_found', 'x')))).toContain('redrive');
  });

  it('a missing token is an invalid token, never a request without one', async () => {
    const context = { secrets: {}, env: {}, model: undefined as never, now: new Date() };
    await expect(step.event({ responseId: 'abc-1' }, context)).rejects.toMatchObject({ kind: 'invalid_token' });
  });
});

describe('form URNs', () => {
  it('reads the form id and version of a versioned form, and a plain form URN', () => {
    expect(versionedFormOf('urn:li:versionedLeadGenForm:(urn:li:leadGenForm:7234246,1)')).toEqual({ formId: '7234246', version: 1 });
    expect(versionedFormOf('urn:li:leadGenForm:7234246')).toEqual({ formId: '7234246' });
    expect(versionedFormOf('urn:li:leadGenForm:abc')).toBeUndefined();
    expect(versionedFormOf(7234246)).toBeUndefined();
  });
});
