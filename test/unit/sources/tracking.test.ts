/**
 * Segment's HTTP tracking API as pure functions (lib/sources/tracking.ts): the write key in each place the
 * libraries put it, bodies whatever their Content-Type and gzipped, Segment's size limits, a batch's bad
 * messages dropped alone, and the clock-skew correction that keeps a retry on the same event key.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import type { WebhookRequest } from '../../../lib/sources/source.ts';
import {
  maxTrackingBatchBytes,
  maxTrackingMessageBytes,
  skewStepMs,
  tracking,
  trackingApiHost,
  trackingCors,
  writeKeysOf,
} from '../../../lib/sources/tracking.ts';
import { refusal, webhookRequest } from '../../setup/webhook-request.ts';

const key = 'wk_test_tracking_key_0001';
const secrets = { TRACKING_WRITE_KEY: `other_key_00000000, ${key}` };
const basic = (user: string) => `Basic ${Buffer.from(user, 'utf8').toString('base64')}`;
const now = new Date('2026-05-01T12:00:00.500Z');

/** A request to POST /v1/<call>. */
function request(call: string, body: unknown, headers: Record<string, string> = { authorization: basic(`${key}:`) }): WebhookRequest {
  const base = webhookRequest(Buffer.isBuffer(body) ? body : typeof body === 'string' ? body : JSON.stringify(body), headers);
  return { ...base, path: `/v1/${call}`, pathParameters: { call } };
}

let counter = 0;
function track(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter += 1;
  return {
    type: 'track',
    event: 'Demo Requested',
    messageId: `node-next-1777636800000-${counter}`,
    userId: 'u_1',
    context: { traits: { email: 'lee@example.com' } },
    properties: { plan: 'pro' },
    timestamp: '2026-05-01T12:00:00.000Z',
    ...overrides,
  };
}

function accept(req: WebhookRequest, at = now) {
  tracking.verify(req, secrets, at);
  return tracking.normalize(req, at);
}

describe('tracking: the write key', () => {
  it('is read from TRACKING_WRITE_KEY as a comma-separated list', () => {
    expect(writeKeysOf(' a1234567 ,, b1234567 ')).toEqual(['a1234567', 'b1234567']);
  });

  it.each([
    ['Basic with the colon (analytics-node 3.1, rudder-sdk-node)', { authorization: basic(`${key}:`) }, {}],
    ['Basic without the colon (Segment: "might work due to backward compatibility")', { authorization: basic(key) }, {}],
    ['the envelope writeKey only (analytics-node up to 3.0)', {}, { writeKey: key }],
    ['Basic and the same envelope key (analytics-node 3.1)', { authorization: basic(`${key}:`) }, { writeKey: key }],
    ['an OAuth Bearer token and the envelope key (the body authenticates)', { authorization: 'Bearer abc.def' }, { writeKey: key }],
  ])('accepts %s', (_, headers, envelope) => {
    expect(() => tracking.verify(request('batch', { batch: [track()], ...envelope }, headers), secrets, now)).not.toThrow();
  });

  it("accepts the message's writeKey on a one-message call (analytics.js up to 1.83)", () => {
    expect(() => tracking.verify(request('t', { ...track(), writeKey: key }, {}), secrets, now)).not.toThrow();
  });

  it.each([
    ['no key anywhere', request('batch', { batch: [track()] }, {})],
    ['an unknown Basic user', request('batch', { batch: [track()] }, { authorization: basic('wk_unknown_000000:') })],
    ['an unknown envelope key', request('batch', { batch: [track()], writeKey: 'wk_unknown_000000' }, {})],
    ['Basic credentials that are not base64', request('batch', { batch: [track()] }, { authorization: 'Basic %%%' })],
    ['a Basic key and another key in the body', request('batch', { batch: [track()], writeKey: 'other_key_00000000' })],
    ["a message's key that differs from the envelope's", request('batch', { batch: [{ ...track(), writeKey: 'other_key_00000000' }], writeKey: key }, {})],
  ])('refuses %s with 401', (_, req) => {
    expect(refusal(() => tracking.verify(req, secrets, now)).status).toBe(401);
  });

  it('answers 404 while TRACKING_WRITE_KEY is not set, and for a call that does not exist', () => {
    expect(refusal(() => tracking.verify(request('batch', { batch: [track()] }), {}, now)).status).toBe(404);
    expect(refusal(() => tracking.verify(request('m', { series: [] }), secrets, now)).status).toBe(404);
  });

  it('refuses a write key of fewer than 8 characters at start-up, naming the variable and not the key', () => {
    expect(() => tracking.checkSecrets?.({ TRACKING_WRITE_KEY: 'abc' })).toThrow(/^TRACKING_WRITE_KEY: a write key is 3 character/);
    expect(() => tracking.checkSecrets?.({ TRACKING_WRITE_KEY: ' , ' })).toThrow(/^TRACKING_WRITE_KEY: no write key/);
    expect(() => tracking.checkSecrets?.(secrets)).not.toThrow();
  });

  it('keeps the write key out of the raw payload it stores', () => {
    const { events } = accept(request('t', { ...track(), writeKey: key }, {}));
    expect(JSON.stringify(events[0]?.raw)).not.toContain(key);
  });
});

describe('tracking: bodies', () => {
  it.each([
    ['application/json', { 'content-type': 'application/json' }],
    ['text/plain (analytics.js)', { 'content-type': 'text/plain' }],
    ['no Content-Type (rudder-sdk-node with gzip)', {}],
  ])('reads JSON sent as %s', (_, headers) => {
    const { events } = accept(request('batch', { batch: [track()] }, { ...headers, authorization: basic(`${key}:`) }));
    expect(events).toHaveLength(1);
  });

  it('inflates Content-Encoding: gzip', () => {
    const body = gzipSync(JSON.stringify({ batch: [track(), track()], sentAt: now.toISOString() }));
    const { events } = accept(request('batch', body, { 'Content-Encoding': 'gzip', authorization: basic(`${key}:`) }));
    expect(events).toHaveLength(2);
  });

  it('refuses a gzip body that inflates past 1 MiB with 413 (a gzip bomb), and one that is not gzip with 400', () => {
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(100_000);
    expect(refusal(() => accept(request('batch', bomb, { 'content-encoding': 'gzip', authorization: basic(`${key}:`) }))).status).toBe(413);
    expect(refusal(() => accept(request('batch', '{"batch":[]}', { 'content-encoding': 'gzip', authorization: basic(`${key}:`) }))).status).toBe(400);
    expect(refusal(() => accept(request('batch', '{}', { 'content-encoding': 'br', authorization: basic(`${key}:`) }))).status).toBe(400);
  });

  it('refuses a batch over 500 KB and a one-message request over 32 KB with 400 naming the limit', () => {
    const big = (bytes: number) => track({ properties: { padding: 'x'.repeat(bytes) } });
    const batch = { batch: Array.from({ length: 20 }, () => big(26_000)) };
    expect(JSON.stringify(batch).length).toBeGreaterThan(maxTrackingBatchBytes);
    const batchRefusal = refusal(() => accept(request('batch', batch)));
    expect([batchRefusal.status, batchRefusal.detail]).toEqual([400, expect.stringContaining('500 KB')]);
    const single = refusal(() => accept(request('track', big(maxTrackingMessageBytes))));
    expect([single.status, single.detail]).toEqual([400, expect.stringContaining('32 KB')]);
  });

  it.each([
    ['malformed JSON', '{"batch": ['],
    ['an array', '[]'],
    ['an object without batch', '{"messages": []}'],
    ['an empty batch', '{"batch": []}'],
  ])('refuses %s on /v1/batch with 400', (_, body) => {
    expect(refusal(() => accept(request('batch', body))).status).toBe(400);
  });
});

describe('tracking: messages', () => {
  it('maps a batch as POST /webhooks/events does, under the source "tracking", and answers success', () => {
    const message = track();
    const { events } = accept(request('b', { batch: [message] }));
    expect(events[0]).toMatchObject({
      leadKey: 'lee@example.com',
      type: 'demo_requested',
      source: 'tracking',
      sourceEventId: message.messageId,
      occurredAt: '2026-05-01T12:00:00.000Z',
      properties: { plan: 'pro' },
    });
    expect(tracking.acknowledgement).toEqual({ success: true });
  });

  it.each([
    ['track', 'demo_requested'],
    ['t', 'demo_requested'],
    ['page', 'page_viewed'],
    ['p', 'page_viewed'],
    ['screen', 'page_viewed'],
    ['s', 'page_viewed'],
    ['identify', 'profile_updated'],
    ['i', 'profile_updated'],
  ])('takes the type from the path /v1/%s when the message has none', (call, type) => {
    const { type: _type, ...message } = track({ traits: { email: 'lee@example.com' } });
    expect(accept(request(call, message)).events[0]?.type).toBe(type);
  });

  it('maps a group call on /v1/g and /v1/group: the account onto the lead named by context.traits.email', () => {
    const group = { groupId: 'acme', messageId: 'g1', userId: 'u_1', context: { traits: { email: 'lee@example.com' } }, timestamp: now.toISOString() };
    for (const call of ['g', 'group']) {
      const [event] = accept(request(call, { ...group, traits: { name: 'Acme Logistics', industry: 'Software', employees: '1000+' } })).events;
      expect(event).toMatchObject({
        leadKey: 'lee@example.com',
        type: 'profile_updated',
        source: 'tracking',
        properties: { groupId: 'acme', name: 'Acme Logistics' },
        profile: { email: 'lee@example.com', groupId: 'acme', company: 'Acme Logistics', industry: 'Software', companySize: '1000+' },
      });
    }
    // Without an e-mail of the person, the user id's lead carries the account until an e-mail lead takes it (lib/store/merge.ts).
    expect(accept(request('g', { ...group, context: {} })).events).toEqual([expect.objectContaining({ leadKey: 'user:u_1', sourceEventId: 'g1' })]);
  });

  it('refuses a group call without groupId alone (400) and drops it from a batch under no_groupId', () => {
    const group = { type: 'group', messageId: 'g2', userId: 'u_1', context: { traits: { email: 'lee@example.com' } }, timestamp: now.toISOString() };
    const alone = refusal(() => accept(request('group', group)));
    expect([alone.status, alone.detail]).toEqual([400, 'message.groupId: a group call needs the id of its group (the account)']);
    expect(refusal(() => accept(request('g', { ...group, groupId: '' }))).status).toBe(400);
    const good = track();
    expect(accept(request('batch', { batch: [group, { ...group, messageId: 'g3', groupId: { id: 1 } }, good] }))).toMatchObject({
      events: [{ sourceEventId: good.messageId }],
      ignored: [
        { sourceEventId: 'g2', reason: 'no_groupId' },
        { sourceEventId: 'g3', reason: 'invalid_groupId' },
      ],
    });
  });

  it('takes alias calls from a backend (the previous id tied to the user id), and refuses a type the path contradicts', () => {
    expect(accept(request('alias', { previousId: 'a', messageId: 'a1', userId: 'u_1', timestamp: now.toISOString() })).events).toEqual([
      expect.objectContaining({ leadKey: 'user:u_1', type: 'identity_linked', links: ['anon:a', 'user:a'] }),
    ]);
    expect(refusal(() => accept(request('identify', track()))).status).toBe(400);
  });

  it('keys an anonymous visitor (no e-mail) by its anonymousId, as POST /webhooks/events does', () => {
    const anonymous = track({ userId: null, anonymousId: 'anon-1', context: {} });
    expect(accept(request('batch', { batch: [anonymous] }))).toEqual({
      events: [expect.objectContaining({ leadKey: 'anon:anon-1', sourceEventId: anonymous.messageId })],
      ignored: [],
    });
  });

  it('drops the bad messages of a batch alone, each counted under its reason, and keeps the good ones', () => {
    const good = track();
    const { events, ignored } = accept(
      request('batch', {
        batch: [
          good,
          track({ messageId: undefined }),
          track({ userId: undefined }),
          track({ event: undefined }),
          track({ timestamp: 'yesterday' }),
          track({ properties: { padding: 'x'.repeat(maxTrackingMessageBytes) } }),
          track({ type: 'purchase' }),
          'not a message',
          good,
        ],
      }),
    );
    expect(events.map((event) => event.sourceEventId)).toEqual([good.messageId]);
    expect(ignored.map((one) => one.reason)).toEqual([
      'no_messageId',
      'no_user_or_anonymous_id',
      'no_event_name',
      'invalid_timestamp',
      'message_too_large',
      'invalid_type',
      'not_an_object',
      'duplicate_in_delivery',
    ]);
  });

  it('refuses the same bad message with 400 when it is the whole request', () => {
    for (const bad of [track({ messageId: undefined }), track({ userId: undefined, anonymousId: undefined }), track({ timestamp: 'yesterday' })]) {
      expect(refusal(() => accept(request('track', bad))).status).toBe(400);
    }
  });

  it("merges the envelope's context into each message's, the message's keys winning", () => {
    const { events } = accept(
      request('batch', { batch: [track({ context: { ip: '10.0.0.1' } })], context: { traits: { email: 'env@example.com' }, ip: 'x' } }),
    );
    expect(events[0]).toMatchObject({ leadKey: 'env@example.com' });
    expect((events[0]!.raw as { context: unknown }).context).toEqual({ traits: { email: 'env@example.com' }, ip: '10.0.0.1' });
  });
});

describe('tracking: time (Segment: timestamp = receivedAt - (sentAt - originalTimestamp))', () => {
  const at = (iso: string, sentAt: string | undefined, receivedAt: Date, extra: Record<string, unknown> = {}) =>
    (accept(request('batch', { batch: [track({ timestamp: iso, ...extra })], ...(sentAt ? { sentAt } : {}) }), receivedAt).events[0] as NormalizedEvent)
      .occurredAt;

  it("keeps a sender's own time when its clock agrees with ours", () => {
    expect(at('2026-05-01T11:59:58.123Z', '2026-05-01T12:00:00.000Z', new Date('2026-05-01T12:00:00.900Z'))).toBe('2026-05-01T11:59:58.123Z');
  });

  it('corrects a sender whose clock is two hours behind', () => {
    // Called 2 s before it was sent, by a clock 2 h slow: it happened 2 s before we received it.
    expect(at('2026-05-01T09:59:58.000Z', '2026-05-01T10:00:00.000Z', new Date('2026-05-01T12:00:00.300Z'))).toBe('2026-05-01T11:59:58.000Z');
  });

  it('corrects a sender whose clock is a day ahead, keeping how long before sending the event happened', () => {
    expect(at('2026-05-02T11:00:00.000Z', '2026-05-02T12:00:00.000Z', new Date('2026-05-01T12:00:01Z'))).toBe('2026-05-01T11:00:00.000Z');
  });

  it("uses rudder-sdk-node's originalTimestamp and its per-message sentAt, ignoring its envelope timestamp", () => {
    const message = track({ timestamp: undefined, originalTimestamp: '2026-05-01T09:00:00.000Z', sentAt: '2026-05-01T09:00:05.000Z' });
    const { events } = accept(request('batch', { batch: [message], timestamp: '2020-01-01T00:00:00.000Z', sentAt: '2020-01-01T00:00:00.000Z' }), now);
    expect(events[0]?.occurredAt).toBe('2026-05-01T12:00:00.000Z');
  });

  it('maps a retry to the same time (the same event key) though its sentAt and receipt differ', () => {
    const first = at('2026-05-01T09:59:58.000Z', '2026-05-01T10:00:00.000Z', new Date('2026-05-01T12:00:00.300Z'));
    // analytics-node sends a fresh sentAt on each attempt; the retry comes 40 s later.
    const retry = at('2026-05-01T09:59:58.000Z', '2026-05-01T10:00:40.000Z', new Date('2026-05-01T12:00:41.100Z'));
    // rudder-sdk-node's axios retry sends the same body again 3 s later.
    const resent = at('2026-05-01T09:59:58.000Z', '2026-05-01T10:00:00.000Z', new Date('2026-05-01T12:00:03.300Z'));
    expect(new Set([first, retry, resent]).size).toBe(1);
  });

  it('rounds the correction to quarter hours', () => {
    expect(skewStepMs).toBe(15 * 60 * 1000);
    // 6 minutes of skew: within half a step, no correction; 8 minutes: one step.
    expect(at('2026-05-01T11:54:00.000Z', '2026-05-01T11:54:00.000Z', new Date('2026-05-01T12:00:00Z'))).toBe('2026-05-01T11:54:00.000Z');
    expect(at('2026-05-01T11:52:00.000Z', '2026-05-01T11:52:00.000Z', new Date('2026-05-01T12:00:00Z'))).toBe('2026-05-01T12:07:00.000Z');
  });

  it('takes the time as stated without sentAt, sentAt without a time, and drops a message with neither', () => {
    expect(at('2026-04-01T00:00:00.000Z', undefined, now)).toBe('2026-04-01T00:00:00.000Z');
    expect(at(undefined as never, undefined, now, { sentAt: '2026-05-01T12:00:00.000Z' })).toBe('2026-05-01T12:00:00.000Z');
    const { ignored } = accept(request('batch', { batch: [track({ timestamp: undefined })] }));
    expect(ignored[0]?.reason).toBe('no_timestamp');
  });
});

describe("analytics.js's settings (GET /v1/projects/{writeKey}/settings)", () => {
  function settingsRequest(writeKey: string, headers: Record<string, string>, options: { path?: string; domainName?: string } = {}): WebhookRequest {
    const base = webhookRequest('', headers);
    return {
      ...base,
      method: 'GET',
      path: options.path ?? `/v1/projects/${writeKey}/settings`,
      pathParameters: { writeKey },
      ...(options.domainName ? { domainName: options.domainName } : {}),
    };
  }
  const settingsOf = (req: WebhookRequest) => JSON.parse(tracking.handshake?.(req, secrets).body ?? 'null');

  it('behind API Gateway: its domain, https, and no other integration', () => {
    const domain = 'abc123.execute-api.eu-west-1.amazonaws.com';
    const answer = tracking.handshake?.(settingsRequest(key, { host: domain, 'x-forwarded-proto': 'https' }, { domainName: domain }), secrets);
    expect(answer).toMatchObject({ status: 200, contentType: 'application/json', headers: { 'cache-control': 'private, max-age=300' } });
    expect(JSON.parse(answer?.body ?? '')).toEqual({
      integrations: { 'Segment.io': { apiKey: key, apiHost: `${domain}/v1`, protocol: 'https' } },
      metrics: { sampleRate: 0 },
    });
  });

  it('a custom domain, a stage or an API mapping before /v1 is kept; a forged Host is not believed', () => {
    const domain = 'track.example.com';
    expect(
      trackingApiHost(settingsRequest(key, { host: domain, 'x-forwarded-proto': 'https' }, { domainName: domain, path: `/mql/v1/projects/${key}/settings` })),
    ).toEqual({
      apiHost: `${domain}/mql/v1`,
      protocol: 'https',
    });
    expect(trackingApiHost(settingsRequest(key, { host: 'evil.test', 'x-forwarded-proto': 'https' }, { domainName: domain }))).toEqual({
      apiHost: `${domain}/v1`,
      protocol: 'https',
    });
  });

  it('locally: the Host with its port, http; no X-Forwarded-Proto is https; a protocol other than http is https', () => {
    expect(trackingApiHost(settingsRequest(key, { host: '127.0.0.1:3000', 'x-forwarded-proto': 'http' }, { domainName: '127.0.0.1' }))).toEqual({
      apiHost: '127.0.0.1:3000/v1',
      protocol: 'http',
    });
    expect(trackingApiHost(settingsRequest(key, { host: 'a.example' })).protocol).toBe('https');
    expect(trackingApiHost(settingsRequest(key, { host: 'a.example', 'x-forwarded-proto': 'javascript' })).protocol).toBe('https');
    expect(trackingApiHost(settingsRequest(key, { host: 'a.example', 'x-forwarded-proto': 'http, https' })).protocol).toBe('http');
  });

  it('each configured key gets its own settings; an unknown or empty key is a 404', () => {
    expect(settingsOf(settingsRequest('other_key_00000000', { host: 'a.example' })).integrations['Segment.io'].apiKey).toBe('other_key_00000000');
    for (const unknown of ['wk_unknown_key_0001', '', `${key}x`, key.slice(0, -1)])
      expect(refusal(() => tracking.handshake?.(settingsRequest(unknown, { host: 'a.example' }), secrets))).toMatchObject({ status: 404, code: 'not_found' });
  });
});

describe('CORS of the tracking API', () => {
  it('allows the headers analytics.js 1.84 sends and exposes Retry-After', () => {
    expect(tracking.cors).toEqual({ policy: trackingCors, originsKey: 'TRACKING_ALLOWED_ORIGINS' });
    expect(trackingCors.headers).toEqual(['Authorization', 'Content-Type', 'X-Retry-Count']);
    expect(trackingCors.exposeHeaders).toEqual(['Retry-After']);
  });

  it('refuses an allow-list that is not one (a path, a wildcard) as a malformed secret', () => {
    expect(() => tracking.checkSecrets?.({ ...secrets, TRACKING_ALLOWED_ORIGINS: 'https://www.example.com/' })).toThrow(/TRACKING_ALLOWED_ORIGINS/);
    expect(() => tracking.checkSecrets?.({ ...secrets, TRACKING_ALLOWED_ORIGINS: '*' })).toThrow(/TRACKING_ALLOWED_ORIGINS/);
    expect(() => tracking.checkSecrets?.({ ...secrets, TRACKING_ALLOWED_ORIGINS: 'https://www.example.com,http://localhost:8080' })).not.toThrow();
  });
});

describe('what a browser may send (a request with an Origin: its key is public)', () => {
  const fromBrowser = (call: string, body: unknown) => request(call, body, { authorization: basic(`${key}:`), origin: 'https://www.example.com' });
  const message = (type: string, extra: Record<string, unknown>) => track({ type, event: undefined, ...extra });

  it('page, track, identify and group pass; alias and screen are dropped from a batch with their reason', () => {
    const batch = [
      track(),
      message('identify', { traits: { email: 'dana@example.com' } }),
      message('page', { name: 'Pricing' }),
      message('alias', { previousId: 'anon-1' }),
      message('group', { groupId: 'acme', context: { traits: { email: 'dana@example.com' } } }),
      message('screen', { name: 'Home' }),
    ];
    const normalized = tracking.normalize(fromBrowser('batch', { batch }), now);
    expect(normalized.events.map((event) => event.type).sort()).toEqual(['demo_requested', 'page_viewed', 'profile_updated', 'profile_updated']);
    expect(normalized.ignored.map((one) => one.reason).sort()).toEqual(['not_from_a_browser:alias', 'not_from_a_browser:screen']);
  });

  it('a one-message call of those is a 400 that says to send it from the backend; the same from a server passes', () => {
    const refused = refusal(() => tracking.normalize(fromBrowser('a', message('alias', { previousId: 'anon-1' })), now));
    expect(refused).toMatchObject({ status: 400 });
    expect(refused.detail).toMatch(/send alias calls from your backend/);
    expect(() => tracking.normalize(request('a', message('alias', { previousId: 'anon-1' })), now)).not.toThrow();
  });
});
