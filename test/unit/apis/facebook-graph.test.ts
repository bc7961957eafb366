/**
 * The Graph side of the Facebook path as pure functions: appsecret_proof and the request URL (the README's
 * request vector), the classification of every error body of meta_graph_lead_responses.json, the waits
 * Meta announces, the retry delays, and reading a queue message.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { announcedWaitSeconds, appsecretProof, classifyGraphError, graphLeadUrl } from '../../../lib/apis/facebook-graph.ts';
import { backoffSeconds } from '../../../lib/queue/settlement.ts';
import { leadgenMessageBody, readLeadgenMessage } from '../../../lib/sources/facebook.ts';
import { queueSpec } from '../../../lib/topology.ts';

const defaultRetryPolicy = queueSpec('facebook-leads').retry;

const graph = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_graph_lead_responses.json', import.meta.url), 'utf8')) as Record<string, any>;
const { appSecret, access_token: accessToken, value: proof } = graph.request.appsecret_proof as { appSecret: string; access_token: string; value: string };

const headers = (values: Record<string, string> = {}) => new Headers(values);

describe('the Graph request', () => {
  it('appsecret_proof is hex HMAC-SHA256 of the access token keyed with the app secret (the README vector)', () => {
    expect(appsecretProof(appSecret, accessToken)).toBe(proof);
  });

  it('asks for the lead with its fields named, the token and the proof: the README request, byte for byte', () => {
    expect(graphLeadUrl('https://graph.facebook.com/v21.0', '1039488223947372', accessToken, appSecret)).toBe(graph.request.url);
    expect(graphLeadUrl('https://graph.facebook.com/v21.0/', '1039488223947372', accessToken, appSecret)).toBe(graph.request.url);
  });
});

describe('Graph error classification (on code and subcode, never the HTTP status alone)', () => {
  const expected: Record<string, string> = {
    expired_token: 'invalid_token',
    invalid_token: 'invalid_token',
    app_rate_limit: 'rate_limited',
    user_rate_limit: 'rate_limited',
    page_rate_limit: 'rate_limited',
    custom_rate_limit: 'rate_limited',
    'unknown_or_inaccessible_object (e.g. dashboard test id 444444444444)': 'not_found',
    invalid_parameter: 'permanent',
    transient_server: 'transient',
  };

  it.each((graph.errors as { case: string; httpStatus: number; body: unknown }[]).map((error) => [error.case, error] as const))('%s', (name, error) => {
    const classified = classifyGraphError(error.httpStatus, error.body);
    expect(classified.kind).toBe(expected[name]);
    expect(classified.retryable).toBe(['rate_limited', 'transient'].includes(expected[name]!));
    expect(classified.code).toBe((error.body as any).error.code);
    expect(classified.fbtraceId).toBe((error.body as any).error.fbtrace_id);
  });

  it.each([
    [{ error: { code: 33, message: 'gone' } }, 400, 'not_found'],
    [{ error: { code: 102, message: 'session' } }, 400, 'invalid_token'],
    [{ error: { code: 80001, message: 'page buc' } }, 400, 'rate_limited'],
    [{ error: { code: 80014, message: 'buc' } }, 400, 'rate_limited'],
    [{ error: { code: 341, message: 'application limit' } }, 400, 'rate_limited'],
    [{ error: { code: 1, message: 'unknown' } }, 500, 'transient'],
    [{ error: { code: 10, message: 'permission' } }, 403, 'permanent'],
    [{ error: { code: 200, message: 'permission' } }, 403, 'permanent'],
    [{ error: { code: 299, message: 'permission' } }, 403, 'permanent'],
    [{ error: { code: 12345, message: 'new to us' } }, 400, 'transient'],
    [{ error: { code: 100, error_subcode: 99, message: 'invalid' } }, 400, 'permanent'],
    [{ error: { code: 4, message: 'throttled' } }, 500, 'rate_limited'],
    [{ error: { code: 190, message: 'token' } }, 500, 'invalid_token'],
    [undefined, 502, 'transient'],
    [undefined, 404, 'transient'],
  ])('%j with HTTP %i is %s', (body, status, kind) => {
    expect(classifyGraphError(status, body).kind).toBe(kind);
  });

  it('carries the wait Meta announces', () => {
    expect(classifyGraphError(400, graph.errors[4].body, 300).retryAfterSeconds).toBe(300);
  });
});

describe('announced waits', () => {
  it("reads X-Business-Use-Case-Usage's estimated_time_to_regain_access (minutes), the longest of all", () => {
    expect(announcedWaitSeconds(headers(graph.errors[4].headers))).toBe(300);
    const usage = JSON.stringify({
      '1': [{ type: 'pages', estimated_time_to_regain_access: 2 }],
      '2': [
        { type: 'ads_management', estimated_time_to_regain_access: 7 },
        { type: 'x', estimated_time_to_regain_access: 0 },
      ],
    });
    expect(announcedWaitSeconds(headers({ 'x-business-use-case-usage': usage }))).toBe(420);
  });

  it('reads Retry-After (seconds), and nothing from absent or unreadable headers', () => {
    expect(announcedWaitSeconds(headers({ 'retry-after': '30' }))).toBe(30);
    expect(announcedWaitSeconds(headers())).toBeUndefined();
    expect(announcedWaitSeconds(headers({ 'x-business-use-case-usage': '{not json', 'retry-after': 'soon' }))).toBeUndefined();
    expect(announcedWaitSeconds(headers(graph.errors[2].headers))).toBeUndefined();
  });
});

describe('retry delays', () => {
  it('double with each receive, up to the policy maximum (default: 1, 2, 4 ... 32 minutes, then an hour)', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((receive) => backoffSeconds(receive, defaultRetryPolicy))).toEqual([60, 120, 240, 480, 960, 1920, 3600, 3600]);
  });

  it('are never shorter than what Meta announced, and never longer than the maximum or SQS allows', () => {
    expect(backoffSeconds(1, defaultRetryPolicy, 300)).toBe(300);
    expect(backoffSeconds(1, defaultRetryPolicy, 99_999)).toBe(3600);
    expect(backoffSeconds(50, { baseSeconds: 60, maxSeconds: 100_000 })).toBe(43_200);
    expect(backoffSeconds(0, { baseSeconds: 1, maxSeconds: 2 })).toBe(1);
  });
});

describe('queue messages', () => {
  it('carry the notification as written by the webhook, ids as exact strings', () => {
    const notification = {
      leadgenId: '9007199254740993',
      pageId: '108273958312345',
      formId: '1192837465019283',
      adId: '120208765432109876',
      createdTime: '2024-05-14T09:21:06.000Z',
    };
    expect(readLeadgenMessage(leadgenMessageBody(notification))).toEqual(notification);
  });

  it('are unreadable without a numeric leadgen id, and keep nothing but the known fields', () => {
    for (const body of ['', 'not json', '[]', '{}', '{"leadgenId":123}', '{"leadgenId":"12a"}']) expect(readLeadgenMessage(body)).toBeUndefined();
    expect(readLeadgenMessage('{"leadgenId":"1","extra":"x","formId":7}')).toEqual({ leadgenId: '1' });
  });
});
