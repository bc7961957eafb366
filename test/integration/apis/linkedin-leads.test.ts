/**
 * The LinkedIn client against the local LinkedIn stand-in over real HTTP: the response with its form's
 * questions (projected in, or read from the form), the headers LinkedIn refuses a request without, and each
 * failure the stand-in can script, as fetchLinkedinLead classifies it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinkedinForm, LinkedinLeadResponse } from '../../../lib/apis/linkedin-leads.ts';
import { fetchLinkedinLead, LinkedinApiError, leadResponseFields, linkedinApiVersion } from '../../../lib/apis/linkedin-leads.ts';
import type { LinkedinFailureKind, LinkedinStandIn } from '../../../lib/local/stand-ins/linkedin.ts';
import { linkedinVersionActive, startLinkedinStandIn } from '../../../lib/local/stand-ins/linkedin.ts';

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/linkedin/lead_sync.json', import.meta.url), 'utf8')) as {
  accessToken: string;
  response: LinkedinLeadResponse;
  form: LinkedinForm;
};
const { accessToken, response, form } = fixture;

let api: LinkedinStandIn;
let plain: LinkedinStandIn;
beforeAll(async () => {
  api = await startLinkedinStandIn({ accessToken });
  api.addLead(response, form);
  // A LinkedIn that does not decorate the projection: the client reads the form itself.
  plain = await startLinkedinStandIn({ accessToken, decorateForm: false });
  plain.addLead(response, form);
});
afterAll(async () => {
  await api?.stop();
  await plain?.stop();
});

async function failure(act: () => Promise<unknown>): Promise<LinkedinApiError> {
  try {
    await act();
  } catch (error) {
    expect(error).toBeInstanceOf(LinkedinApiError);
    return error as LinkedinApiError;
  }
  throw new Error('expected a LinkedinApiError');
}

const headers = (overrides: Record<string, string | undefined> = {}) =>
  Object.fromEntries(
    Object.entries({
      authorization: `Bearer ${accessToken}`,
      'linkedin-version': linkedinApiVersion,
      'x-restli-protocol-version': '2.0.0',
      ...overrides,
    }).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
const raw = (path: string, overrides: Record<string, string | undefined> = {}) => fetch(`${api.url}${path}`, { headers: headers(overrides) });

describe('the LinkedIn stand-in and the client', () => {
  it('answers the response with the form projected in: one call', async () => {
    const calls = api.calls.length;
    const lead = await fetchLinkedinLead(response.id, { apiUrl: api.url, accessToken });
    expect(lead.response).toMatchObject({ id: response.id, submittedAt: response.submittedAt, formResponse: response.formResponse });
    expect(lead.form?.content?.questions).toHaveLength(form.content!.questions!.length);
    expect(api.calls.length - calls).toBe(1);
  });

  it('reads the form with a second call when the response does not carry it', async () => {
    const lead = await fetchLinkedinLead(response.id, { apiUrl: plain.url, accessToken });
    expect(lead.response).not.toHaveProperty('form');
    expect(lead.form?.name).toBe('RevOps benchmark report');
    expect(plain.calls.map((call) => call.resource)).toEqual(['leadFormResponses', 'leadForms']);
  });

  it('answers only the projected fields, as Rest.li does', async () => {
    const answer = await raw(`/leadFormResponses/${response.id}?fields=id,submittedAt`);
    expect(await answer.json()).toEqual({ id: response.id, submittedAt: response.submittedAt });
    expect(leadResponseFields).toContain('form:(');
  });

  it.each<[string, Record<string, string | undefined>, number, string]>([
    ['no LinkedIn-Version', { 'linkedin-version': undefined }, 400, 'VERSION_MISSING'],
    ['a version not in YYYYMM form', { 'linkedin-version': '2026-10' }, 426, 'NONEXISTENT_VERSION'],
    ['a version from the future', { 'linkedin-version': '209901' }, 426, 'NONEXISTENT_VERSION'],
    ['a version past its year of support', { 'linkedin-version': '202001' }, 426, 'NONEXISTENT_VERSION'],
    ['no X-Restli-Protocol-Version', { 'x-restli-protocol-version': undefined }, 400, 'ILLEGAL_ARGUMENT'],
    ['no bearer token', { authorization: undefined }, 401, 'EMPTY_ACCESS_TOKEN'],
    ['another token', { authorization: 'Bearer not-the-token' }, 401, 'INVALID_ACCESS_TOKEN'],
  ])("refuses a request with %s: %i %s, in LinkedIn's error body", async (_name, overrides, status, code) => {
    const answer = await raw(`/leadFormResponses/${response.id}?fields=id`, overrides);
    expect(answer.status).toBe(status);
    expect(await answer.json()).toMatchObject({ status, code, message: expect.any(String) });
  });

  it('knows which versions LinkedIn serves: released, and less than a year old', () => {
    const now = new Date('2026-12-07T00:00:00Z');
    expect(linkedinVersionActive('202612', now)).toBe(true);
    expect(linkedinVersionActive('202601', now)).toBe(true);
    expect(linkedinVersionActive('202512', now)).toBe(false);
    expect(linkedinVersionActive('202701', now)).toBe(false);
    expect(linkedinVersionActive('202613', now)).toBe(false);
    expect(linkedinVersionActive(linkedinApiVersion, new Date())).toBe(true);
  });

  it('a response that does not exist is not_found, never retried', async () => {
    const error = await failure(() => fetchLinkedinLead('00000000-0000-4000-8000-000000000000-1', { apiUrl: api.url, accessToken }));
    expect(error).toMatchObject({ kind: 'not_found', httpStatus: 404, retryable: false });
  });

  it("a wrong token is invalid_token, with LinkedIn's code and service error code", async () => {
    const error = await failure(() => fetchLinkedinLead(response.id, { apiUrl: api.url, accessToken: 'wrong' }));
    expect(error).toMatchObject({ kind: 'invalid_token', httpStatus: 401, code: 'INVALID_ACCESS_TOKEN', serviceErrorCode: 65600, retryable: false });
  });

  it.each<[LinkedinFailureKind, string, number | undefined, boolean]>([
    ['rate_limited', 'rate_limited', 429, true],
    ['server_error', 'transient', 500, true],
    ['unavailable', 'transient', 503, true],
    ['connection_reset', 'transient', undefined, true],
    ['expired_token', 'invalid_token', 401, false],
    ['invalid_token', 'invalid_token', 401, false],
    ['forbidden', 'permanent', 403, false],
    ['not_found', 'not_found', 404, false],
  ])('a scripted %s is classified %s', async (kind, expected, status, retryable) => {
    api.failNext(kind, 1);
    const error = await failure(() => fetchLinkedinLead(response.id, { apiUrl: api.url, accessToken }));
    expect(error.kind).toBe(expected);
    expect(error.httpStatus).toBe(status);
    expect(error.retryable).toBe(retryable);
    expect(await fetchLinkedinLead(response.id, { apiUrl: api.url, accessToken })).toMatchObject({ response: { id: response.id } });
  });

  it('a 429 carries no announced wait (LinkedIn sends no Retry-After), so the queue decides', async () => {
    api.failNext('rate_limited', 1);
    const answer = await raw(`/leadFormResponses/${response.id}?fields=id`);
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBeNull();
    expect(await answer.json()).toEqual({
      status: 429,
      serviceErrorCode: 101,
      code: 'TOO_MANY_REQUESTS',
      message: 'Resource level throttle APPLICATION DAY limit for calls to this resource is reached.',
    });
  });

  it('an outage window fails every call until it ends', async () => {
    api.failFor('server_error', 60_000);
    await failure(() => fetchLinkedinLead(response.id, { apiUrl: api.url, accessToken }));
    await failure(() => fetchLinkedinLead(response.id, { apiUrl: api.url, accessToken }));
    api.heal();
    expect(await fetchLinkedinLead(response.id, { apiUrl: api.url, accessToken })).toMatchObject({ response: { id: response.id } });
  });
});
