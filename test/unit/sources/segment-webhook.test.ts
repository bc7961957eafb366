/**
 * Segment's and Customer.io's webhook destinations as pure functions (lib/sources/segment-webhook.ts): the
 * X-Signature of a single message over its raw body, of a batch over its first message only, as Segment's
 * action-destinations code signs it; the messages mapped as on the other Segment routes.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { segmentWebhook } from '../../../lib/sources/segment-webhook.ts';
import { refusal, webhookRequest } from '../../setup/webhook-request.ts';

const secret = 'test-only-segment-webhook-shared-secret';
const secrets = { SEGMENT_WEBHOOK_SECRET: secret };
const now = new Date('2026-05-01T12:00:00Z');
/** What Segment's `extendRequest` computes (webhook/index.ts): hex HMAC-SHA1 of the JSON text. */
const sign = (text: string, key = secret) => createHmac('sha1', key).update(text, 'utf8').digest('hex');

/** A message as Segment forwards it: enriched with receivedAt, its timestamp already corrected. */
function forwarded(id: string, email = 'lee@example.com'): Record<string, unknown> {
  return {
    type: 'track',
    event: 'Webinar Attended',
    messageId: id,
    userId: 'u_1',
    anonymousId: 'anon-1',
    context: { traits: { email }, library: { name: '@segment/analytics-node', version: '3.1.0' } },
    properties: { webinar: 'Scoring' },
    originalTimestamp: '2026-05-01T09:59:58.000Z',
    sentAt: '2026-05-01T10:00:00.000Z',
    receivedAt: '2026-05-01T12:00:00.300Z',
    timestamp: '2026-05-01T11:59:58.300Z',
    integrations: {},
    writeKey: 'not-used-here',
  };
}

function request(body: string, signature: string | undefined, contentType = 'application/json') {
  return webhookRequest(body, {
    'content-type': contentType,
    ...(signature === undefined ? {} : { 'x-signature': signature }),
    'user-agent': 'Segment (Actions)',
  });
}

function accept(body: string, signature: string) {
  const req = request(body, signature);
  segmentWebhook.verify(req, secrets, now);
  return segmentWebhook.normalize(req, now);
}

describe('segment webhook: X-Signature', () => {
  it('accepts a single message signed over its raw body, and maps it at the timestamp Segment corrected', () => {
    const body = JSON.stringify(forwarded('m1'));
    const { events, ignored } = accept(body, sign(body));
    expect(ignored).toEqual([]);
    expect(events).toMatchObject([
      { leadKey: 'lee@example.com', type: 'webinar_attended', source: 'segment-webhook', sourceEventId: 'm1', occurredAt: '2026-05-01T11:59:58.300Z' },
    ]);
  });

  it('accepts a batch (a bare array) signed over JSON.stringify(body[0]) only, as Segment signs it', () => {
    const batch = [forwarded('b1'), forwarded('b2', 'kim@example.com')];
    const body = JSON.stringify(batch);
    const { events } = accept(body, sign(JSON.stringify(batch[0])));
    expect(events.map((event) => event.leadKey)).toEqual(['lee@example.com', 'kim@example.com']);
  });

  it('accepts a batch signed over its whole raw body (Customer.io may sign so) and an upper-case digest', () => {
    const body = JSON.stringify([forwarded('c1')], null, 2);
    expect(accept(body, sign(body).toUpperCase()).events).toHaveLength(1);
  });

  it.each([
    ['no X-Signature', (body: string) => request(body, undefined)],
    ['a signature made with another secret', (body: string) => request(body, sign(body, 'another-secret'))],
    ['a signature that is not 40 hex digits', (body: string) => request(body, sign(body).slice(0, 39))],
    ['a base64 signature', (body: string) => request(body, createHmac('sha1', secret).update(body).digest('base64'))],
    ['a tampered body', (body: string) => request(body.replace('Scoring', 'Scorinh'), sign(body))],
    ["a batch signed over another batch's first message", () => request(JSON.stringify([forwarded('x')]), sign(JSON.stringify(forwarded('y'))))],
  ])('refuses %s with 401', (_, make) => {
    const body = JSON.stringify(forwarded('m2'));
    expect(refusal(() => segmentWebhook.verify(make(body), secrets, now)).status).toBe(401);
  });

  it('answers 404 while SEGMENT_WEBHOOK_SECRET is not set', () => {
    const body = JSON.stringify(forwarded('m3'));
    expect(refusal(() => segmentWebhook.verify(request(body, sign(body)), {}, now)).status).toBe(404);
  });
});

describe('segment webhook: bodies', () => {
  it.each([
    ['malformed JSON', '{"type": "track",'],
    ['an empty batch', '[]'],
    ['a JSON string', '"hello"'],
    ['a message without messageId', JSON.stringify({ ...forwarded('m4'), messageId: undefined })],
    ['a message without a time', JSON.stringify({ ...forwarded('m5'), timestamp: undefined, originalTimestamp: undefined, sentAt: undefined })],
  ])('refuses %s with 400', (_, body) => {
    expect(refusal(() => accept(body, sign(body))).status).toBe(400);
  });

  it('refuses another Content-Type than JSON', () => {
    const body = JSON.stringify(forwarded('m6'));
    const error = refusal(() => segmentWebhook.normalize(request(body, sign(body), 'text/plain'), now));
    expect([error.status, error.code]).toEqual([400, 'unsupported_media_type']);
  });

  it('drops the bad messages of a batch alone (Segment drops a whole batch on a 4xx)', () => {
    const batch = [
      forwarded('d1'),
      { ...forwarded('d2'), messageId: undefined },
      { ...forwarded('d3'), type: 'group', event: undefined, traits: { name: 'Acme' } },
      forwarded('d4', 'no-at-sign'),
      { ...forwarded('d5'), type: 'group', event: undefined, groupId: 'acme', traits: { industry: 'Software' } },
    ];
    const body = JSON.stringify(batch);
    const { events, ignored } = accept(body, sign(JSON.stringify(batch[0])));
    // d4 names no person's e-mail: it is the user id's (its lead until an e-mail lead takes the key).
    expect(events.map((event) => [event.sourceEventId, event.leadKey])).toEqual([
      ['d1', 'lee@example.com'],
      ['d4', 'user:u_1'],
      ['d5', 'lee@example.com'],
    ]);
    expect(events[2]?.profile).toMatchObject({ email: 'lee@example.com', groupId: 'acme', industry: 'Software' });
    expect(ignored.map((one) => one.reason)).toEqual(['no_messageId', 'no_groupId']);
  });
});
