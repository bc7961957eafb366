import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import { signStandardWebhook } from '../../../lib/http/standard-webhooks.ts';
import { maxStoredStringLength } from '../../../lib/sources/fields.ts';
import { maxSegmentMessages, segment } from '../../../lib/sources/segment.ts';
import { refusal, webhookRequest as request } from '../../setup/webhook-request.ts';

const secret = 'whsec_dGVzdC1vbmx5LXNlZ21lbnQtZXZlbnRzLXNlY3JldA==';

function fixture(name: string): string {
  return readFileSync(new URL(`../../fixtures/segment/${name}.json`, import.meta.url), 'utf8');
}

/** The single event a delivery yields, failing when it yields anything else. */
function onlyEvent(body: string): NormalizedEvent {
  const { events, ignored } = segment.normalize(request(body));
  expect(ignored).toEqual([]);
  expect(events).toHaveLength(1);
  return events[0]!;
}

function message(overrides: Record<string, unknown>): string {
  return JSON.stringify({
    type: 'track',
    event: 'Demo Requested',
    messageId: 'msg-1',
    properties: { email: 'lee@example.com' },
    timestamp: '2024-05-14T10:00:00.000Z',
    ...overrides,
  });
}

describe('segment source: verification', () => {
  const body = fixture('track-webinar-attended');
  const now = new Date('2024-05-14T16:05:20Z');
  const timestamp = Math.floor(now.getTime() / 1000);
  const signed = (signature: string) =>
    request(body, { 'content-type': 'application/json', 'webhook-id': 'evt_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': signature });

  it('accepts a delivery signed with EVENTS_WEBHOOK_SECRET', () => {
    const signature = signStandardWebhook({ secret, id: 'evt_1', timestamp, body });
    expect(() => segment.verify(signed(signature), { EVENTS_WEBHOOK_SECRET: secret }, now)).not.toThrow();
  });

  it('refuses a delivery signed with another secret with 401', () => {
    const signature = signStandardWebhook({ secret: 'whsec_b3RoZXItc2VjcmV0LXRoYXQtaXMtbm90LW91cnMtMDAwMDE=', id: 'evt_1', timestamp, body });
    expect(refusal(() => segment.verify(signed(signature), { EVENTS_WEBHOOK_SECRET: secret }, now)).status).toBe(401);
  });

  it('answers 404 when the secret is not configured', () => {
    const signature = signStandardWebhook({ secret, id: 'evt_1', timestamp, body });
    expect(refusal(() => segment.verify(signed(signature), {}, now)).status).toBe(404);
  });

  it('declares its route secret', () => {
    expect(segment.name).toBe('segment');
    expect(segment.requiredSecrets).toEqual(['EVENTS_WEBHOOK_SECRET']);
  });
});

describe('segment source: mapping', () => {
  it('turns an identify with a nested company into profile fields, the other scalar traits into custom', () => {
    const event = onlyEvent(fixture('identify-nested-company'));

    expect(event).toMatchObject({
      leadKey: 'dana.whitfield@example.com',
      type: 'profile_updated',
      occurredAt: '2024-05-14T09:20:00.188Z',
      source: 'segment',
      sourceEventId: 'ajs-next-1715678400123-4f3c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59',
    });
    expect(event.profile).toEqual({
      email: 'dana.whitfield@example.com',
      firstName: 'Dana',
      lastName: 'Whitfield',
      jobTitle: 'VP of Engineering',
      phone: '+1 555 0100',
      country: 'United States',
      company: 'Acme Logistics',
      industry: 'Software',
      companySize: 1200,
      annualRevenue: 250000000,
      custom: { plan: 'trial', createdAt: '2024-05-01T12:00:00.000Z', logins: 7, newsletter: true },
    });
    expect(event.raw).toEqual(JSON.parse(fixture('identify-nested-company')));
  });

  it('turns track "Webinar Attended" into webinar_attended with flattened properties and the context traits as profile', () => {
    const event = onlyEvent(fixture('track-webinar-attended'));

    expect(event.type).toBe('webinar_attended');
    expect(event.leadKey).toBe('dana.whitfield@example.com');
    expect(event.occurredAt).toBe('2024-05-14T16:05:12.000Z');
    expect(event.properties).toEqual({
      webinar_id: 'wb_2024_05_scoring',
      webinar_name: 'Lead scoring that sales trusts',
      duration_minutes: 47,
      attended_live: true,
      host: '{"name":"Riley Chen","team":"RevOps"}',
      tags: '["revops","scoring"]',
    });
    expect(event.profile).toEqual({ email: 'dana.whitfield@example.com', jobTitle: 'VP of Engineering', company: 'Acme Logistics' });
  });

  it('keeps contentType, formId and url of "Case Study Downloaded" as given, the e-mail from properties', () => {
    const event = onlyEvent(fixture('track-case-study-downloaded'));

    expect(event.type).toBe('case_study_downloaded');
    expect(event.leadKey).toBe('dana.whitfield@example.com');
    expect(event.properties).toMatchObject({
      contentType: 'case_study',
      formId: 'hsf_5521',
      url: 'https://www.example.com/resources/globex-case-study',
    });
    expect(event.profile).toBeUndefined();
  });

  it('turns a page on /pricing into page_viewed with url and path, timed by originalTimestamp when timestamp is absent', () => {
    const event = onlyEvent(fixture('page-pricing'));

    expect(event.type).toBe('page_viewed');
    expect(event.properties).toMatchObject({ url: 'https://www.example.com/pricing?plan=enterprise', path: '/pricing', name: 'Pricing' });
    expect(event.occurredAt).toBe('2024-05-14T12:58:20.000Z');
  });

  it('takes a page url from context.page and derives the path when properties lack them', () => {
    const event = onlyEvent(
      message({
        type: 'page',
        event: undefined,
        properties: {},
        context: { page: { url: 'https://www.example.com/pricing#teams' }, traits: { email: 'lee@example.com' } },
      }),
    );
    expect(event.properties).toEqual({ url: 'https://www.example.com/pricing#teams', path: '/pricing' });
  });

  it('normalizes each message of a batch of three', () => {
    const { events, ignored } = segment.normalize(request(fixture('batch-of-three')));

    expect(ignored).toEqual([]);
    expect(events.map((event) => [event.type, event.sourceEventId, event.leadKey])).toEqual([
      ['profile_updated', 'node-batch-0001', 'sam.ortiz@example.org'],
      ['trial_started', 'node-batch-0002', 'sam.ortiz@example.org'],
      ['page_viewed', 'node-batch-0003', 'sam.ortiz@example.org'],
    ]);
    expect(events[0]!.profile).toEqual({
      email: 'sam.ortiz@example.org',
      firstName: 'Sam',
      lastName: 'Ortiz',
      jobTitle: 'Head of Marketing',
      company: 'Initech',
      companySize: '501-1000',
      annualRevenue: '50M-100M',
      industry: 'Financial Services',
      country: 'DE',
    });
    expect(events[1]!.properties).toEqual({ plan: 'pro', seats: 12, content_type: 'product', contentType: 'product' });
    expect(events[2]!.properties).toEqual({ plan: 'pro', name: 'Billing Settings' });
  });

  it('keys a message without a usable e-mail by its visitor id (anon:<anonymousId>), scored as nobody until identified', () => {
    const { events, ignored } = segment.normalize(request(fixture('track-anonymous')));
    expect(ignored).toEqual([]);
    expect(events).toEqual([expect.objectContaining({ leadKey: expect.stringMatching(/^anon:/), sourceEventId: 'ajs-next-1715700000000-anon-0001' })]);
    expect(events[0]!.profile?.email).toBeUndefined();
  });

  it('names the visitor and the user id beside the e-mail (links); a user id alone keys the lead; no id at all is no_email', () => {
    const identify = {
      type: 'identify',
      messageId: 'i1',
      userId: 'u_1',
      anonymousId: 'a-1',
      traits: { email: 'Lee@Example.com' },
      timestamp: '2024-05-14T10:00:00Z',
    };
    const trackUser = { type: 'track', event: 'Demo Requested', messageId: 't1', userId: 'u_1', anonymousId: 'a-1', timestamp: '2024-05-14T10:00:00Z' };
    const trackNobody = { type: 'track', event: 'Demo Requested', messageId: 't2', timestamp: '2024-05-14T10:00:00Z' };
    // An id that does not fit a key (spaces, slashes) is keyed by its digest: the same id, the same key.
    const oddId = { ...trackUser, messageId: 't3', userId: undefined, anonymousId: 'a b/c' };
    const { events, ignored } = segment.normalize(request(JSON.stringify({ batch: [identify, trackUser, trackNobody, oddId] })));
    expect(events.map((event) => [event.leadKey, event.links])).toEqual([
      ['lee@example.com', ['user:u_1', 'anon:a-1']],
      ['user:u_1', ['anon:a-1']],
      [expect.stringMatching(/^anon:sha256\.[A-Za-z0-9_-]{43}$/), undefined],
    ]);
    expect(events[0]!.profile).toMatchObject({ email: 'lee@example.com' });
    expect(ignored).toEqual([{ sourceEventId: 't2', reason: 'no_email' }]);
  });

  it('prefers context.traits.email, then properties.email, then traits.email; identify prefers traits.email', () => {
    const context = { traits: { email: 'context@example.com' } };
    const properties = { email: 'properties@example.com' };
    const traits = { email: 'traits@example.com' };
    expect(onlyEvent(message({ context, properties, traits })).leadKey).toBe('context@example.com');
    expect(onlyEvent(message({ properties, traits })).leadKey).toBe('properties@example.com');
    expect(onlyEvent(message({ properties: {}, traits })).leadKey).toBe('traits@example.com');
    expect(onlyEvent(message({ type: 'identify', context, properties, traits })).leadKey).toBe('traits@example.com');
    expect(onlyEvent(message({ properties: { email: 'not an address' }, traits })).leadKey).toBe('traits@example.com');
  });

  it('falls back from timestamp to originalTimestamp to sentAt, and reads a zone-less time as UTC', () => {
    expect(onlyEvent(message({ timestamp: undefined, originalTimestamp: '2024-05-14T10:00:01+02:00', sentAt: '2024-05-14T10:00:02Z' })).occurredAt).toBe(
      '2024-05-14T08:00:01.000Z',
    );
    expect(onlyEvent(message({ timestamp: undefined, sentAt: '2024-05-14T10:00:02.123456Z' })).occurredAt).toBe('2024-05-14T10:00:02.123Z');
    expect(onlyEvent(message({ timestamp: '2024-05-14T10:00:03' })).occurredAt).toBe('2024-05-14T10:00:03.000Z');
  });

  it('maps the same message to the same event on redelivery', () => {
    const body = fixture('track-webinar-attended');
    const first = segment.normalize(request(body));
    const second = segment.normalize(request(body));
    expect(second).toEqual(first);
  });

  it('counts a message repeated within one batch once', () => {
    const body = JSON.stringify({ batch: [JSON.parse(message({})), JSON.parse(message({}))] });
    const { events, ignored } = segment.normalize(request(body));
    expect(events).toHaveLength(1);
    expect(ignored).toEqual([{ sourceEventId: 'msg-1', reason: 'duplicate_in_delivery' }]);
  });

  it('a group call without the e-mail of a person is no_email', () => {
    const body = JSON.stringify({
      batch: [
        // The group's own e-mail (Segment's reserved group trait) is the account's address, not a person's.
        { type: 'group', messageId: 'grp-1', groupId: 'acme', traits: { name: 'Acme', email: 'info@acme.com' }, timestamp: '2024-05-14T10:00:00Z' },
        JSON.parse(message({})),
      ],
    });
    const { events, ignored } = segment.normalize(request(body));
    expect(events).toHaveLength(1);
    expect(ignored).toEqual([{ sourceEventId: 'grp-1', reason: 'no_email' }]);
  });

  describe('alias calls tie the previous id to the user id', () => {
    const alias = (overrides: Record<string, unknown> = {}) =>
      JSON.stringify({
        type: 'alias',
        messageId: 'als-1',
        previousId: 'a9f1-visitor',
        userId: 'u_97980cfea0067',
        timestamp: '2024-05-14T10:00:00Z',
        ...overrides,
      });

    it("on the user id's lead, linking the previous id read as a visitor id and as a user id (Segment allows either)", () => {
      const { events, ignored } = segment.normalize(request(alias()));
      expect(ignored).toEqual([]);
      expect(events).toEqual([
        expect.objectContaining({
          leadKey: 'user:u_97980cfea0067',
          type: 'identity_linked',
          sourceEventId: 'als-1',
          occurredAt: '2024-05-14T10:00:00.000Z',
          links: ['anon:a9f1-visitor', 'user:a9f1-visitor'],
        }),
      ]);
    });

    it("on the person's lead when the message names the e-mail, with its anonymousId too", () => {
      const { events } = segment.normalize(request(alias({ anonymousId: 'b7-browser', context: { traits: { email: 'Lee@Example.com' } } })));
      expect(events).toEqual([
        expect.objectContaining({
          leadKey: 'lee@example.com',
          links: ['user:u_97980cfea0067', 'anon:b7-browser', 'anon:a9f1-visitor', 'user:a9f1-visitor'],
        }),
      ]);
    });

    it('refuses an alias without its userId or previousId, naming which', () => {
      expect(() => segment.normalize(request(alias({ userId: undefined })))).toThrow(/userId: an alias call needs/);
      expect(() => segment.normalize(request(alias({ previousId: '' })))).toThrow(/previousId: an alias call needs/);
      expect(() => segment.normalize(request(alias({ previousId: { id: 1 } })))).toThrow(/previousId/);
    });
  });

  describe('group calls carry the account', () => {
    const group = (overrides: Record<string, unknown> = {}) =>
      JSON.stringify({
        type: 'group',
        messageId: 'grp-2',
        userId: 'u_97980cfea0067',
        groupId: '0e8c78ea9d97a7b8185e8632',
        context: { traits: { email: 'Lee@Example.com', title: 'VP Marketing' } },
        // Segment's spec, "Group": its example, with every reserved trait.
        traits: {
          name: 'Initech',
          industry: 'Technology',
          employees: 329,
          plan: 'enterprise',
          website: 'https://initech.example',
          email: 'hello@initech.example',
          phone: '+1 415 555 0100',
          address: { city: 'Austin', country: 'US' },
          'total billed': 830,
        },
        timestamp: '2024-05-14T10:00:00Z',
        ...overrides,
      });

    it("maps groupId and the group's reserved traits onto the person's lead as the account's profile fields", () => {
      const event = onlyEvent(group());
      expect(event).toMatchObject({ leadKey: 'lee@example.com', type: 'profile_updated', source: 'segment', sourceEventId: 'grp-2' });
      expect(event.profile).toEqual({
        email: 'lee@example.com',
        jobTitle: 'VP Marketing',
        groupId: '0e8c78ea9d97a7b8185e8632',
        company: 'Initech',
        industry: 'Technology',
        companySize: 329,
        companyWebsite: 'https://initech.example',
        companyPlan: 'enterprise',
      });
      // The group's traits, its own e-mail, phone and address among them, stay on the event, not in the person's profile.
      expect(event.properties).toEqual({
        groupId: '0e8c78ea9d97a7b8185e8632',
        name: 'Initech',
        industry: 'Technology',
        employees: 329,
        plan: 'enterprise',
        website: 'https://initech.example',
        email: 'hello@initech.example',
        phone: '+1 415 555 0100',
        address: '{"city":"Austin","country":"US"}',
        'total billed': 830,
      });
    });

    it("overlays the person's own company traits and keeps a numeric groupId as its digits", () => {
      const event = onlyEvent(
        group({ groupId: 4500, traits: { employees: '501-1000' }, context: { traits: { email: 'lee@example.com', company: 'Old name', employees: 20 } } }),
      );
      expect(event.profile).toEqual({ email: 'lee@example.com', company: 'Old name', companySize: '501-1000', groupId: '4500' });
    });

    it.each([
      ['without groupId', { groupId: undefined }, 'message.groupId: a group call needs the id of its group (the account)'],
      ['with a null groupId', { groupId: null }, 'message.groupId: a group call needs the id of its group (the account)'],
      ['with an empty groupId', { groupId: ' ' }, 'message.groupId: must not be empty'],
      ['with an object as groupId', { groupId: { id: 'acme' } }, 'message.groupId: must be a string'],
      ['with a groupId over 200 bytes', { groupId: 'é'.repeat(101) }, 'message.groupId: must be at most 200 bytes'],
    ])('refuses a group call %s with 400 (a signed backend fixes and resends it)', (_, overrides, detail) => {
      const error = refusal(() => segment.normalize(request(group(overrides))));
      expect([error.status, error.detail]).toEqual([400, detail]);
    });

    it('refuses a whole batch holding a group call without groupId (all or nothing on this route)', () => {
      const body = JSON.stringify({ batch: [JSON.parse(message({})), JSON.parse(group({ groupId: undefined }))] });
      expect(refusal(() => segment.normalize(request(body))).detail).toBe('batch[1].groupId: a group call needs the id of its group (the account)');
    });
  });

  it('keeps unicode names and companies as given', () => {
    const event = onlyEvent(fixture('identify-unicode'));
    expect(event.leadKey).toBe('zoë.ångström@example.com');
    expect(event.occurredAt).toBe('2024-05-14T11:30:00.000Z');
    expect(event.profile).toMatchObject({
      firstName: 'Zoë',
      lastName: 'Ångström-山田',
      jobTitle: 'Directrice générale',
      company: "Société Générale d'Épargne 🚀",
      country: 'Sverige',
      custom: { nickname: 'Zoé 🙂' },
    });
  });

  it(`cuts strings longer than ${maxStoredStringLength} characters without splitting a character, keeping raw whole`, () => {
    const long = 'x'.repeat(10_000);
    const emoji = `${'y'.repeat(maxStoredStringLength - 1)}🚀tail`;
    const event = onlyEvent(
      message({
        properties: { email: 'lee@example.com', note: long, emoji, nested: { blob: long } },
        context: { traits: { email: 'lee@example.com', firstName: long, bio: long } },
      }),
    );

    expect(event.properties.note).toBe('x'.repeat(maxStoredStringLength));
    expect(event.properties.emoji).toBe('y'.repeat(maxStoredStringLength - 1));
    expect(String(event.properties.nested)).toHaveLength(maxStoredStringLength);
    expect(event.profile?.firstName).toHaveLength(maxStoredStringLength);
    expect(event.profile?.custom?.bio).toHaveLength(maxStoredStringLength);
    expect((event.raw as { properties: { note: string } }).properties.note).toHaveLength(10_000);
  });
});

describe('segment source: prototype pollution', () => {
  afterEach(() => {
    // Would only run if a test failed by polluting: keep the other tests meaningful.
    delete (Object.prototype as Record<string, unknown>).polluted;
  });

  it('copies no __proto__, constructor or prototype key from traits, context.traits or properties', () => {
    const event = onlyEvent(fixture('identify-prototype-keys'));

    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
    expect(Object.getPrototypeOf(event.properties)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(event.profile)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(event.profile?.custom)).toBe(Object.prototype);
    expect(Object.keys(event.properties)).toEqual(['harmless']);
    expect(event.profile).toEqual({ email: 'mallory@example.com', company: 'Evil Corp', custom: { plan: 'free' } });
    expect((event.profile as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('does not read inherited members as traits', () => {
    const event = onlyEvent(message({ type: 'identify', traits: { email: 'lee@example.com', company: {} } }));
    // `company.constructor` and `traits.toString` exist only through the prototype.
    expect(event.profile).toEqual({ email: 'lee@example.com' });
  });
});

describe('segment source: refusals', () => {
  it('refuses a message without messageId with 400, naming the field', () => {
    const error = refusal(() => segment.normalize(request(fixture('track-missing-message-id'))));
    expect(error.status).toBe(400);
    expect(error.code).toBe('bad_request');
    expect(error.detail).toBe('message.messageId: is required');
  });

  it('refuses a body that is not JSON with 400', () => {
    const error = refusal(() => segment.normalize(request('{"type": "track", ')));
    expect(error.status).toBe(400);
    expect(error.detail).toMatch(/not valid JSON/);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded'],
  ])('refuses the content type %s with 400', (contentType) => {
    const error = refusal(() => segment.normalize(request(message({}), { 'content-type': contentType })));
    expect(error.status).toBe(400);
    expect(error.detail).toMatch(/expected application\/json/);
  });

  it('refuses a body without content type, accepts one with a charset', () => {
    expect(refusal(() => segment.normalize(request(message({}), {}))).status).toBe(400);
    expect(segment.normalize(request(message({}), { 'Content-Type': 'application/json; charset=utf-8' })).events).toHaveLength(1);
  });

  it.each([
    ['an array', '[]', /JSON object/],
    ['a string', '"track"', /JSON object/],
    ['null', 'null', /JSON object/],
    ['an empty batch', '{"batch": []}', /no messages/],
    ['a batch that is not an array', '{"batch": {}}', /batch must be an array/],
    ['a batch entry that is not an object', '{"batch": [42]}', /batch\[0\]: must be a JSON object/],
  ])('refuses %s with 400', (_, body, detail) => {
    const error = refusal(() => segment.normalize(request(body)));
    expect(error.status).toBe(400);
    expect(error.detail).toMatch(detail);
  });

  it.each([
    [{ type: undefined }, 'message.type: is required (one of track, identify, page, screen, group, alias)'],
    [{ type: 'purchase' }, 'message.type: must be one of track, identify, page, screen, group, alias, got "purchase"'],
    [{ messageId: 42 }, 'message.messageId: must be a string'],
    [{ messageId: '' }, 'message.messageId: must not be empty'],
    [{ event: undefined }, 'message.event: a track call needs the event name'],
    [{ event: '!!!' }, 'message.event: "!!!" has no letters or digits (A-Z, 0-9) to name an event type'],
    [{ properties: 'email=lee@example.com' }, 'message.properties: must be a JSON object'],
    [{ timestamp: undefined }, "message: needs timestamp, originalTimestamp or sentAt (the event's own time)"],
    [{ timestamp: 'yesterday' }, 'message.timestamp: "yesterday" is not an ISO 8601 date-time'],
    [{ timestamp: '1' }, 'message.timestamp: "1" is not an ISO 8601 date-time'],
    [{ timestamp: '2024-02-30T10:00:00Z' }, 'message.timestamp: "2024-02-30T10:00:00Z" is not an ISO 8601 date-time'],
    [{ timestamp: 1715680800000 }, 'message.timestamp: must be an ISO 8601 string'],
  ])('refuses the message %j with 400 and a detail saying what is wrong', (overrides, detail) => {
    const error = refusal(() => segment.normalize(request(message(overrides))));
    expect(error.status).toBe(400);
    expect(error.detail).toBe(detail);
  });

  it('refuses a whole batch when one message is malformed, naming its index', () => {
    const body = JSON.stringify({ batch: [JSON.parse(message({})), JSON.parse(message({ messageId: 'msg-2', type: 'purchase' }))] });
    const error = refusal(() => segment.normalize(request(body)));
    expect(error.detail).toMatch(/^batch\[1\]\.type:/);
  });

  it(`accepts ${maxSegmentMessages} messages in a batch and refuses one more`, () => {
    const batch = (count: number) => JSON.stringify({ batch: Array.from({ length: count }, (_, index) => JSON.parse(message({ messageId: `msg-${index}` }))) });
    expect(segment.normalize(request(batch(maxSegmentMessages))).events).toHaveLength(maxSegmentMessages);
    const error = refusal(() => segment.normalize(request(batch(maxSegmentMessages + 1))));
    expect(error.status).toBe(400);
    expect(error.detail).toMatch(/501 messages; the limit is 500/);
  });
});
