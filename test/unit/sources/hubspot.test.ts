/**
 * HubSpot's own webhook, the parts that need no store: the v3 signature (HubSpot's URI decoding, the
 * 5-minute window, constant-time compare), the delivery's shape, and the outcome map and its override.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  defaultHubSpotOutcomeMap,
  HubSpotOutcomeMapError,
  hubspotOutcomeMap,
  hubspotSignatureV3,
  outcomeEvent,
  parseHubSpotDelivery,
  requestUri,
  signatureUri,
  verifyHubSpotSignature,
} from '../../../lib/sources/hubspot.ts';
import { refusal } from '../../setup/webhook-request.ts';

const secret = 'test-only-hubspot-client-secret-0001';
const now = new Date('2026-11-29T03:30:00.000Z');
const url = 'https://hooks.example.com/webhooks/hubspot';

/** Signed the way HubSpot's docs describe it, written out independently of the code under test. */
function signedHeaders(body: string, options: { uri?: string; timestamp?: number; key?: string; method?: string } = {}): Record<string, string> {
  const timestamp = String(options.timestamp ?? now.getTime() - 2000);
  const source = `${options.method ?? 'POST'}${options.uri ?? url}${body}${timestamp}`;
  return {
    'content-type': 'application/json',
    'x-hubspot-signature-v3': createHmac('sha256', options.key ?? secret)
      .update(source, 'utf8')
      .digest('base64'),
    'x-hubspot-request-timestamp': timestamp,
  };
}

const verify = (body: string, headers: Record<string, string>, uri = url) =>
  verifyHubSpotSignature({ secret, method: 'POST', uri, body: Buffer.from(body), header: (name) => headers[name.toLowerCase()], now });

const change = (overrides: Record<string, unknown> = {}) => ({
  eventId: 1003,
  subscriptionId: 25,
  portalId: 62515,
  appId: 54321,
  occurredAt: now.getTime() - 60_000,
  subscriptionType: 'contact.propertyChange',
  attemptNumber: 0,
  objectId: 123,
  changeSource: 'CRM_UI',
  sourceId: 'userId:45678',
  propertyName: 'lifecyclestage',
  propertyValue: 'salesqualifiedlead',
  ...overrides,
});

const parse = (payload: unknown, map = defaultHubSpotOutcomeMap, contentType = 'application/json') =>
  parseHubSpotDelivery(Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)), contentType, map);

describe('the v3 signature', () => {
  const body = JSON.stringify([change()]);

  it('a delivery signed with the app secret over method, URI, body and timestamp passes', () => {
    expect(() => verify(body, signedHeaders(body))).not.toThrow();
  });

  it("the URI is signed with the characters of HubSpot's table decoded: %3A, %2F, %40 ... as sent is the same signature", () => {
    const encoded = 'https://hooks.example.com/webhooks/hubspot?return%3Dhttps%3A%2F%2Fx.example%2Fa%40b%2C%28c%29';
    const decoded = 'https://hooks.example.com/webhooks/hubspot?return%3Dhttps://x.example/a@b,(c)';
    expect(signatureUri(encoded)).toBe(decoded);
    // HubSpot signs the decoded form; the request arrives encoded.
    expect(() => verify(body, signedHeaders(body, { uri: decoded }), encoded)).not.toThrow();
    // %3D is not in the table: decoding it would be a different URI.
    expect(signatureUri('a%3db')).toBe('a%3db');
    expect(hubspotSignatureV3({ secret, method: 'post', uri: encoded, body, timestamp: '1' })).toBe(
      createHmac('sha256', secret).update(`POST${decoded}${body}1`).digest('base64'),
    );
  });

  const refused: [string, () => Record<string, string>, string, string?][] = [
    ['no signature header', () => ({ 'x-hubspot-request-timestamp': String(now.getTime()) }), 'missing X-HubSpot-Signature-v3'],
    ['no timestamp header', () => ({ 'x-hubspot-signature-v3': signedHeaders(body)['x-hubspot-signature-v3']! }), 'missing X-HubSpot-Request-Timestamp'],
    [
      'a timestamp that is not milliseconds',
      () => ({ ...signedHeaders(body), 'x-hubspot-request-timestamp': '2026-11-29T03:30:00Z' }),
      'not a time in milliseconds',
    ],
    ['a timestamp over 5 minutes old', () => signedHeaders(body, { timestamp: now.getTime() - 301_000 }), '301 s old'],
    ['a timestamp over 5 minutes ahead', () => signedHeaders(body, { timestamp: now.getTime() + 301_000 }), 'in the future'],
    ['another secret', () => signedHeaders(body, { key: 'someone-else' }), 'does not match'],
    ['another URL (a request replayed to another endpoint)', () => signedHeaders(body, { uri: 'https://hooks.example.com/webhooks/other' }), 'does not match'],
    ['another method', () => signedHeaders(body, { method: 'PUT' }), 'does not match'],
    [
      'the old timestamp with a fresh header (the timestamp is signed)',
      () => ({ ...signedHeaders(body, { timestamp: now.getTime() - 10_000 }), 'x-hubspot-request-timestamp': String(now.getTime()) }),
      'does not match',
    ],
    [
      'a truncated signature',
      () => ({ ...signedHeaders(body), 'x-hubspot-signature-v3': signedHeaders(body)['x-hubspot-signature-v3']!.slice(0, 20) }),
      'does not match',
    ],
  ];
  it.each(refused)('refuses %s with a 401', (_, headers, detail) => {
    const error = refusal(() => verify(body, headers()));
    expect(error.status).toBe(401);
    expect(error.detail).toContain(detail);
    // The refusal never shows the expected signature.
    expect(error.detail).not.toContain(signedHeaders(body)['x-hubspot-signature-v3']!);
  });

  it('refuses a body changed after signing', () => {
    const headers = signedHeaders(body);
    expect(refusal(() => verify(body.replace('salesqualifiedlead', 'customer'), headers)).status).toBe(401);
  });

  it('the URI is the configured target URL when set, else scheme, Host, path and query as received', () => {
    expect(requestUri({ proto: 'https', host: 'abc.execute-api.eu-west-1.amazonaws.com', rawPath: '/webhooks/hubspot', rawQueryString: 'a=1' })).toBe(
      'https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/hubspot?a=1',
    );
    expect(requestUri({ host: 'h.example', rawPath: '/webhooks/hubspot' })).toBe('https://h.example/webhooks/hubspot');
    expect(requestUri({ configured: 'https://hooks.example.com/webhooks/hubspot', proto: 'http', host: 'internal', rawPath: '/webhooks/hubspot' })).toBe(url);
  });
});

describe('the delivery', () => {
  it('a lifecycle stage moved to SQL by a salesperson is an sql outcome of the contact', () => {
    const { changes, ignored, received } = parse([change()]);

    expect(received).toBe(1);
    expect(ignored).toEqual([]);
    expect(changes).toEqual([
      expect.objectContaining({ eventId: '1003', objectId: '123', property: 'lifecyclestage', value: 'salesqualifiedlead', mapped: { outcome: 'sql' } }),
    ]);
    expect(outcomeEvent(changes[0]!, 'dana@acme.com')).toMatchObject({
      leadKey: 'dana@acme.com',
      type: 'sql',
      source: 'hubspot',
      sourceEventId: '1003',
      occurredAt: new Date(now.getTime() - 60_000).toISOString(),
      properties: { crmId: '123', hubspotProperty: 'lifecyclestage', hubspotValue: 'salesqualifiedlead', changeSource: 'CRM_UI' },
    });
  });

  it('maps the default stages and statuses: customer is won, BAD_TIMING a rejection for timing, UNQUALIFIED one for another reason', () => {
    const { changes } = parse([
      change({ eventId: 1, propertyValue: 'customer' }),
      change({ eventId: 2, propertyName: 'hs_lead_status', propertyValue: 'BAD_TIMING' }),
      change({ eventId: 3, propertyName: 'hs_lead_status', propertyValue: 'UNQUALIFIED' }),
      change({ eventId: 4, propertyName: 'hs_lead_status', propertyValue: 'IN_PROGRESS' }),
      change({ eventId: 5, propertyValue: 'opportunity' }),
    ]);
    expect(changes.map((one) => one.mapped)).toEqual([
      { outcome: 'won' },
      { outcome: 'mql_rejected', reason: 'wrong_timing' },
      { outcome: 'mql_rejected', reason: 'other' },
      { outcome: 'mql_accepted' },
      { outcome: 'sql' },
    ]);
    expect(outcomeEvent(changes[1]!, 'x@acme.com').properties.reason).toBe('wrong_timing');
  });

  it('acknowledges and ignores, each with its reason: a deletion, a stage that is no outcome, another property, another subscription, a repeat', () => {
    const { changes, ignored } = parse([
      change({ eventId: 1, subscriptionType: 'contact.deletion', propertyName: undefined, propertyValue: undefined }),
      change({ eventId: 2, propertyValue: 'marketingqualifiedlead' }),
      change({ eventId: 3, propertyName: 'firstname', propertyValue: 'Dana' }),
      change({ eventId: 4, subscriptionType: 'contact.creation' }),
      change({ eventId: 5 }),
      change({ eventId: 5 }),
    ]);
    expect(changes.map((one) => one.eventId)).toEqual(['5']);
    expect(ignored).toEqual([
      { sourceEventId: '1', reason: 'contact_deleted' },
      { sourceEventId: '2', reason: 'not_an_outcome' },
      { sourceEventId: '3', reason: 'unmapped_property' },
      { sourceEventId: '4', reason: 'unsupported_subscription' },
      { sourceEventId: '5', reason: 'duplicate_in_delivery' },
    ]);
  });

  it("reads the new platform's object.propertyChange of a contact (objectTypeId 0-1), and ignores other objects", () => {
    const { changes, ignored } = parse([
      change({ eventId: 1, subscriptionType: 'object.propertyChange', objectTypeId: '0-1' }),
      change({ eventId: 2, subscriptionType: 'object.propertyChange', objectTypeId: '0-3' }),
    ]);
    expect(changes.map((one) => one.eventId)).toEqual(['1']);
    expect(ignored).toEqual([{ sourceEventId: '2', reason: 'unsupported_subscription' }]);
  });

  const malformed: [string, string | unknown, number, string, string?][] = [
    ['not JSON', '[{"eventId": 1,', 400, 'not valid JSON'],
    ['an object instead of the array', change(), 400, 'JSON array'],
    ['an empty array', [], 400, 'no event'],
    ['more than 500 events', Array.from({ length: 501 }, (_, index) => change({ eventId: index })), 400, 'limit is 500'],
    ['an event that is not an object', ['hello'], 400, '[0]: must be a JSON object'],
    ['an event without an id', [change({ eventId: undefined })], 400, '[0].eventId'],
    ['an event with a time that is not milliseconds', [change({ occurredAt: '2026-11-29' })], 400, '[0].occurredAt'],
    ['a property change that names no property', [change({ propertyName: undefined })], 400, '[0].propertyName'],
    ['the wrong content type', [change()], 400, 'expected application/json', 'text/plain'],
  ];
  it.each(malformed)('refuses %s (%i)', (_, payload, status, detail, contentType) => {
    const error = refusal(() => parse(payload, defaultHubSpotOutcomeMap, contentType));
    expect(error.status).toBe(status);
    expect(error.detail).toContain(detail);
  });
});

describe('HUBSPOT_OUTCOME_MAP', () => {
  it('unset, it is the documented default', () => {
    expect(hubspotOutcomeMap(undefined)).toEqual(defaultHubSpotOutcomeMap);
  });

  it('overrides a value, adds one, drops one with null, and adds a property of its own', () => {
    const map = hubspotOutcomeMap(
      JSON.stringify({
        hs_lead_status: { UNQUALIFIED: { outcome: 'mql_rejected', reason: 'outside_icp' }, NEW: 'mql_accepted', BAD_TIMING: null },
        mql_sales_verdict: { existing: { outcome: 'mql_rejected', reason: 'existing_customer' } },
      }),
    );
    expect(map.hs_lead_status).toMatchObject({ unqualified: { outcome: 'mql_rejected', reason: 'outside_icp' }, new: { outcome: 'mql_accepted' } });
    expect(map.hs_lead_status).not.toHaveProperty('bad_timing');
    expect(map.lifecyclestage).toEqual(defaultHubSpotOutcomeMap.lifecyclestage);
    const { changes, ignored } = parse(
      [
        change({ eventId: 1, propertyName: 'hs_lead_status', propertyValue: 'UNQUALIFIED' }),
        change({ eventId: 2, propertyName: 'hs_lead_status', propertyValue: 'BAD_TIMING' }),
        change({ eventId: 3, propertyName: 'mql_sales_verdict', propertyValue: 'existing' }),
      ],
      map,
    );
    expect(changes.map((one) => one.mapped)).toEqual([
      { outcome: 'mql_rejected', reason: 'outside_icp' },
      { outcome: 'mql_rejected', reason: 'existing_customer' },
    ]);
    expect(ignored).toEqual([{ sourceEventId: '2', reason: 'not_an_outcome' }]);
  });

  const bad: [string, string, string][] = [
    ['not JSON', '{hs_lead_status:', 'is not JSON'],
    ['an unknown outcome', '{"hs_lead_status": {"NEW": "meeting_booked"}}', 'HUBSPOT_OUTCOME_MAP.hs_lead_status.NEW'],
    [
      'an unknown reason',
      '{"hs_lead_status": {"UNQUALIFIED": {"outcome": "mql_rejected", "reason": "too_small"}}}',
      'HUBSPOT_OUTCOME_MAP.hs_lead_status.UNQUALIFIED',
    ],
    [
      'a reason on an outcome that is not a rejection',
      '{"lifecyclestage": {"customer": {"outcome": "won", "reason": "other"}}}',
      'only mql_rejected carries a reason',
    ],
    ['an array instead of the object', '[]', 'HUBSPOT_OUTCOME_MAP'],
  ];
  it.each(bad)('refuses %s, naming where', (_, json, detail) => {
    expect(() => hubspotOutcomeMap(json)).toThrow(HubSpotOutcomeMapError);
    expect(() => hubspotOutcomeMap(json)).toThrow(detail);
  });
});
