/**
 * Segment's HTTP tracking API on the embedded local stack, driven by the real libraries from npm:
 * @segment/analytics-node and @rudderstack/rudder-sdk-node (gzip on, its default) pointed at the stack by
 * their host alone, through a recorder that keeps what they put on the wire. The worked example becomes an
 * MQL from each; a library's retry is counted once; a sender's slow clock is corrected; and every bad
 * input is answered with its status while the table keeps exactly the items it had.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { workedExampleProfile } from '../../setup/events.ts';
import { countItems, post, postCounting } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, restartedStack, startTestStack } from '../../setup/stack.ts';

/** A fake, test-only secret of Segment's webhook destination (POST /webhooks/segment, X-Signature). */
const webhookSecret = 'test-only-segment-webhook-shared-secret-02';
/** Fake, test-only write keys: TRACKING_WRITE_KEY holds two (comma-separated). */
const writeKey = 'wk_test_only_tracking_key_01';
const secondKey = 'wk_test_only_tracking_key_02';
const basic = (user: string) => `Basic ${Buffer.from(user, 'utf8').toString('base64')}`;
const someone = (name: string) => `${name}.${randomUUID().slice(0, 8)}@acme-logistics.com`;

/** A request as a library put it on the wire. */
interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  status: number;
  answer: string;
}

/** A pass-through in front of the stack that records each request and its answer. */
async function recorder(target: () => string): Promise<{ url: string; seen: Recorded[]; close(): Promise<void> }> {
  const seen: Recorded[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(name) || value === undefined) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const response = await fetch(`${target()}${req.url}`, { method: req.method, headers, ...(body.length > 0 ? { body } : {}) });
    const answer = await response.text();
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, status: response.status, answer });
    res.writeHead(response.status, { 'content-type': response.headers.get('content-type') ?? 'application/json' });
    res.end(answer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** rudder-sdk-node with the second key, pointed at the recorder, flushing by hand, its errors into `errors`. */
function rudderClient(errors: unknown[]): RudderAnalytics {
  return new RudderAnalytics(secondKey, {
    dataPlaneUrl: wire.url,
    flushAt: 10,
    flushInterval: 60_000,
    retryCount: 0,
    logLevel: 'error',
    errorHandler: (error: unknown) => errors.push(error),
  });
}

/** The seeds' worked example as library calls: an identify with the profile, a case study and a webinar. */
function workedExampleCalls(email: string): { identify: Record<string, unknown>; tracks: Record<string, unknown>[] } {
  const { firstName, lastName, jobTitle, industry, company } = workedExampleProfile;
  const userId = `user-${email}`;
  const context = { traits: { email } };
  return {
    identify: { userId, traits: { email, firstName, lastName, title: jobTitle, industry, company: { name: company, employee_count: 120 } } },
    tracks: [
      { userId, event: 'Content Downloaded', context, properties: { contentType: 'case_study', title: 'How Acme cut churn' } },
      { userId, event: 'Webinar Attended', context, properties: { webinar: 'Scoring that explains itself' } },
    ],
  };
}

let stack: LocalStack;
let wire: Awaited<ReturnType<typeof recorder>>;
const batchUrl = () => `${stack.baseUrl}/v1/batch`;

beforeAll(async () => {
  stack = await startTestStack({
    env: { TRACKING_WRITE_KEY: `${writeKey},${secondKey}`, SEGMENT_WEBHOOK_SECRET: webhookSecret, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' },
  });
  wire = await recorder(() => stack.baseUrl);
});

afterAll(async () => {
  await wire?.close();
  await stack?.stop();
});

describe('the real libraries, pointed at the stack by their host', () => {
  it('@segment/analytics-node: the worked example becomes an MQL', { timeout: 60_000 }, async () => {
    const email = someone('segment');
    const calls = workedExampleCalls(email);
    const errors: unknown[] = [];
    const analytics = new SegmentAnalytics({ writeKey, host: wire.url, flushAt: 10, flushInterval: 60_000, maxRetries: 0 });
    analytics.on('error', (error) => errors.push(error));
    const from = wire.seen.length;
    analytics.identify(calls.identify as never);
    for (const call of calls.tracks) analytics.track(call as never);
    await analytics.closeAndFlush();
    expect(errors).toEqual([]);

    const sent = wire.seen.slice(from);
    expect(sent).toHaveLength(1);
    const [request] = sent;
    // What analytics-node 3.1 puts on the wire: JSON, Basic with the key and a colon, and the key in the envelope.
    expect(request).toMatchObject({ method: 'POST', url: '/v1/batch', status: 200 });
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers.authorization).toBe(basic(`${writeKey}:`));
    const body = JSON.parse(request!.body.toString('utf8'));
    expect(body).toMatchObject({ writeKey, sentAt: expect.any(String), batch: expect.any(Array) });
    expect(body.batch.map((message: { type: string }) => message.type)).toEqual(['identify', 'track', 'track']);
    expect(JSON.parse(request!.answer)).toEqual({ success: true, received: 3, stored: 3, duplicates: 0, ignored: 0 });

    const view = await leadView(stack, email);
    expect(view.eventCount).toBe(3);
    expect(view.status).toBe('mql');
    expect(view.recentEvents.map((event: { source: string }) => event.source)).toEqual(['tracking', 'tracking', 'tracking']);

    // The MQL's handoff writes its items: done before the retry counts the table.
    await stack.drain();
    // The library's retry of the same batch (its own body again, byte for byte): counted once.
    const retry = await postCounting(stack, batchUrl(), {
      body: request!.body,
      headers: { 'content-type': 'application/json', authorization: basic(`${writeKey}:`) },
    });
    expect(retry).toMatchObject({ status: 200, added: 0, body: { success: true, stored: 0, duplicates: 3 } });
    expect((await leadView(stack, email)).eventCount).toBe(3);
  });

  it("@segment/analytics-node's group(): the account's traits reach the person's lead", { timeout: 60_000 }, async () => {
    const email = someone('segment-group');
    const errors: unknown[] = [];
    const analytics = new SegmentAnalytics({ writeKey, host: wire.url, flushAt: 10, flushInterval: 60_000, maxRetries: 0 });
    analytics.on('error', (error) => errors.push(error));
    const from = wire.seen.length;
    analytics.group({
      userId: `user-${email}`,
      groupId: 'acct_initech',
      traits: { name: 'Initech', industry: 'Financial Services', employees: 329, plan: 'enterprise' },
      context: { traits: { email } },
    });
    await analytics.closeAndFlush();
    expect(errors).toEqual([]);
    const [request] = wire.seen.slice(from);
    expect(JSON.parse(request!.body.toString('utf8')).batch[0]).toMatchObject({ type: 'group', groupId: 'acct_initech' });
    expect(JSON.parse(request!.answer)).toMatchObject({ success: true, stored: 1 });
    const view = await leadView(stack, email);
    expect(view.lead).toMatchObject({
      groupId: 'acct_initech',
      company: 'Initech',
      industry: 'Financial Services',
      companySize: 329,
      companyPlan: 'enterprise',
    });
    expect(view.score.fit).toBe(10);
  });

  it('@rudderstack/rudder-sdk-node with gzip (its default): the worked example becomes an MQL', { timeout: 60_000 }, async () => {
    const email = someone('rudder');
    const calls = workedExampleCalls(email);
    const errors: unknown[] = [];
    const client = rudderClient(errors);
    const from = wire.seen.length;
    client.identify(calls.identify as never);
    for (const call of calls.tracks) client.track(call as never);
    await client.flush();
    // rudder-sdk-node sends its first event alone, at once; wait for that request too.
    const deadline = Date.now() + 20_000;
    while (wire.seen.slice(from).reduce((sum, one) => sum + JSON.parse(one.answer).received, 0) < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(errors).toEqual([]);

    const sent = wire.seen.slice(from);
    for (const request of sent) {
      // What rudder-sdk-node 3.1 puts on the wire: gzip, Basic with the key, no key in the body, and the
      // gzipped bytes declared as a form (axios 1.2x's default Content-Type for the Buffer it is given).
      expect(request).toMatchObject({ method: 'POST', url: '/v1/batch', status: 200 });
      expect(request.headers['content-encoding']).toBe('gzip');
      expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(request.headers.authorization).toBe(basic(`${secondKey}:`));
      expect(request.body.toString('latin1')).not.toContain(secondKey);
    }
    const view = await leadView(stack, email);
    expect(view.eventCount).toBe(3);
    expect(view.status).toBe('mql');
    // The MQL's handoff writes its items: done before the next test counts the table.
    await stack.drain();
  });
});

describe('one visitor through every sender, then identified (issue 13, "Done when")', () => {
  it("analytics-node, rudder-sdk-node and Segment's webhook destination while anonymous, then an identify: every event on the lead once, redeliveries counted once", {
    timeout: 60_000,
  }, async () => {
    const email = someone('every-sender');
    const anonymousId = randomUUID();
    const day = 24 * 3600_000;
    const errors: unknown[] = [];
    const from = wire.seen.length;

    // analytics-node: the pricing page, three days ago.
    const segment = new SegmentAnalytics({ writeKey, host: wire.url, flushAt: 10, flushInterval: 60_000, maxRetries: 0 });
    segment.on('error', (error) => errors.push(error));
    segment.page({ anonymousId, name: 'Pricing', properties: { url: 'https://acme.com/pricing' }, timestamp: new Date(Date.now() - 3 * day) });
    await segment.flush();
    // rudder-sdk-node (gzip): a case study, two days ago.
    const rudder = rudderClient(errors);
    rudder.track({
      anonymousId,
      event: 'Content Downloaded',
      properties: { contentType: 'case_study' },
      originalTimestamp: new Date(Date.now() - 2 * day),
    } as never);
    await rudder.flush();
    const deadline = Date.now() + 20_000;
    while (wire.seen.length < from + 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    // Segment's webhook destination: the pricing page again, yesterday, signed with X-Signature.
    const webhookBody = JSON.stringify({
      type: 'page',
      messageId: `wh-${randomUUID()}`,
      anonymousId,
      properties: { url: 'https://acme.com/pricing' },
      timestamp: new Date(Date.now() - day).toISOString(),
    });
    const webhook = {
      body: webhookBody,
      headers: { 'content-type': 'application/json', 'x-signature': createHmac('sha1', webhookSecret).update(webhookBody).digest('hex') },
    };
    expect(await postCounting(stack, `${stack.baseUrl}/webhooks/segment`, webhook)).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(errors).toEqual([]);
    expect(await leadView(stack, `anon:${anonymousId}`)).toMatchObject({ status: 'new', eventCount: 3 });

    // The sign-up: analytics-node's identify with the visitor's id and the e-mail.
    segment.identify({ anonymousId, userId: `user-${email}`, ...(workedExampleCalls(email).identify as { traits: object }) } as never);
    await segment.closeAndFlush();
    expect(errors).toEqual([]);
    const lead = await leadView(stack, email);
    expect(lead.eventCount).toBe(4);
    expect(
      lead.recentEvents
        .filter((event: { anonymous?: true }) => event.anonymous)
        .map((event: { type: string; source: string }) => `${event.source} ${event.type}`)
        .sort(),
    ).toEqual(['segment-webhook page_viewed', 'tracking content_downloaded', 'tracking page_viewed']);
    expect(lead.reasons.map((reason: { rule: string }) => reason.rule)).toEqual(expect.arrayContaining(['pricing_page_viewed', 'case_study_downloaded']));

    // Every request again, byte for byte, as each sender retries: nothing added, the lead unchanged.
    await stack.drain();
    for (const request of wire.seen.slice(from)) {
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'content-encoding', 'authorization']) if (request.headers[name]) headers[name] = String(request.headers[name]);
      expect(await postCounting(stack, `${stack.baseUrl}${request.url}`, { body: request.body, headers })).toMatchObject({ status: 200, added: 0 });
    }
    expect(await postCounting(stack, `${stack.baseUrl}/webhooks/segment`, webhook)).toMatchObject({ status: 200, added: 0, body: { duplicates: 1 } });
    expect((await leadView(stack, email)).eventCount).toBe(4);
  });
});

describe('the tracking API', () => {
  // A test's MQLs write their handoffs after its answer: done before the next test counts the table.
  afterEach(() => stack.drain());
  const track = (email: string, overrides: Record<string, unknown> = {}) => ({
    type: 'track',
    event: 'Demo Requested',
    messageId: randomUUID(),
    userId: `user-${email}`,
    context: { traits: { email } },
    timestamp: new Date().toISOString(),
    ...overrides,
  });
  const sendJson = (path: string, payload: unknown, headers: Record<string, string> = { authorization: basic(`${writeKey}:`) }) =>
    postCounting(stack, `${stack.baseUrl}${path}`, { body: JSON.stringify(payload), headers: { 'content-type': 'text/plain', ...headers } });

  it("a batch of new users: each user's messages on their lead once, and their user ids lead to them (the commits together, lib/store/fresh-leads.ts)", async () => {
    const people = Array.from({ length: 5 }, (_, index) => someone(`new-user-${index}`));
    const batch = people.flatMap((email) => [
      track(email, { event: 'Webinar Registered' }),
      track(email, { type: 'page', event: undefined, properties: { url: 'https://acme.com/pricing' } }),
    ]);
    expect(await sendJson('/v1/batch', { batch })).toMatchObject({ status: 200, body: { success: true, stored: 10, duplicates: 0 } });
    for (const email of people) {
      expect(await leadView(stack, email)).toMatchObject({ eventCount: 2 });
      // A later message with the user id alone lands on the lead.
      expect(await sendJson('/v1/track', track('x', { userId: `user-${email}`, context: {}, event: 'Content Downloaded' }))).toMatchObject({
        status: 200,
        body: { stored: 1 },
      });
      expect(await leadView(stack, email)).toMatchObject({ eventCount: 3 });
    }
    expect(await sendJson('/v1/batch', { batch })).toMatchObject({ status: 200, added: 0, body: { stored: 0, duplicates: 10 } });
  });

  it("corrects a sender's slow clock: its event is stored at the time it happened on ours", async () => {
    const email = someone('skew');
    const twoHours = 2 * 3600_000;
    const called = new Date(Date.now() - 5_000);
    const slow = (at: Date) => new Date(at.getTime() - twoHours).toISOString();
    const message = track(email, { event: 'Webinar Attended', timestamp: slow(called) });
    expect(await sendJson('/v1/batch', { batch: [message], sentAt: slow(new Date()) })).toMatchObject({ status: 200, body: { stored: 1 } });
    const [event] = (await leadView(stack, email)).recentEvents;
    expect(event.occurredAt).toBe(called.toISOString());
  });

  it.each([
    ['/v1/t', 'text/plain', { writeKey }],
    ['/v1/track', 'application/json', {}],
  ])('takes one message on %s (%s)', async (path, contentType, extra) => {
    const email = someone('single');
    const { type: _type, ...message } = track(email);
    const answer = await postCounting(stack, `${stack.baseUrl}${path}`, {
      body: JSON.stringify({ ...message, ...extra }),
      headers: { 'content-type': contentType, ...('writeKey' in extra ? {} : { authorization: basic(writeKey) }) },
    });
    expect(answer).toMatchObject({ status: 200, body: { success: true, received: 1, stored: 1 } });
    expect((await leadView(stack, email)).recentEvents[0].type).toBe('demo_requested');
  });

  it('stores the good messages of a batch and says how many it dropped and why', async () => {
    const email = someone('partial');
    const answer = await sendJson('/v1/batch', {
      batch: [track(email), track(email, { messageId: undefined }), track(email, { properties: { padding: 'x'.repeat(40_000) } }), track(email)],
    });
    expect(answer).toMatchObject({
      status: 200,
      body: { success: true, received: 4, stored: 2, ignored: 2, ignoredReasons: { no_messageId: 1, message_too_large: 1 } },
    });
    expect((await leadView(stack, email)).eventCount).toBe(2);
  });

  it('an anonymous visitor: stored under its visitor id, scored as nobody, then stitched to the lead when it identifies', async () => {
    const email = someone('visitor');
    const anonymousId = randomUUID();
    const hour = 3600_000;
    const start = Date.now() - 3 * 24 * hour;
    const visit = (offset: number, overrides: Record<string, unknown>) =>
      track('x', {
        userId: null,
        anonymousId,
        context: { page: { url: 'https://acme.com/pricing' } },
        timestamp: new Date(start + offset).toISOString(),
        ...overrides,
      });
    const anonymous = [visit(0, { type: 'page', event: undefined }), visit(hour, { type: 'page', event: undefined }), visit(2 * hour, {})];
    expect(await sendJson('/v1/b', { batch: anonymous })).toMatchObject({ status: 200, body: { stored: 3, ignored: 0 } });
    // The visitor asked for a demo, yet it is nobody: no MQL, nothing handed off.
    expect(await leadView(stack, `anon:${anonymousId}`)).toMatchObject({ status: 'new', eventCount: 3 });

    const identify = { messageId: randomUUID(), userId: `user-${email}`, anonymousId, traits: { email }, timestamp: new Date().toISOString() };
    expect(await sendJson('/v1/identify', identify)).toMatchObject({ status: 200, body: { stored: 1 } });
    const lead = await leadView(stack, email);
    expect(lead).toMatchObject({ status: 'mql', eventCount: 4, mergedFrom: [`anon:${anonymousId}`] });
    expect(lead.recentEvents.filter((event: { anonymous?: true }) => event.anonymous)).toHaveLength(3);
    expect(lead.recentEvents.map((event: { occurredAt: string }) => event.occurredAt).sort()).toEqual(
      [...anonymous, identify].map((message) => message.timestamp).sort(),
    );
    // A later message of the same browser, and one with the user id alone, land on the lead.
    const later = [visit(3 * hour, { type: 'page', event: undefined }), track('x', { context: {}, userId: `user-${email}`, event: 'Webinar Attended' })];
    expect(await sendJson('/v1/b', { batch: later })).toMatchObject({ status: 200, body: { stored: 2 } });
    expect(await leadView(stack, email)).toMatchObject({ eventCount: 6 });
  });

  it("@segment/analytics-node's alias(): a backend ties the visitor to its user id; the identify with the e-mail then brings the visitor's history", async () => {
    const email = someone('alias');
    const anonymousId = randomUUID();
    const userId = `user-${randomUUID().slice(0, 8)}`;
    const hour = 3600_000;
    const start = Date.now() - 2 * 24 * hour;
    const pricing = (offset: number) =>
      track('x', {
        type: 'page',
        event: undefined,
        userId: null,
        anonymousId,
        context: { page: { url: 'https://acme.com/pricing' } },
        timestamp: new Date(start + offset).toISOString(),
      });
    expect(await sendJson('/v1/b', { batch: [pricing(0), pricing(hour)] })).toMatchObject({ status: 200, body: { stored: 2 } });

    // The sign-up's backend knows the visitor and the account's new user id, not yet the e-mail: alias(), as Segment documents it.
    const errors: unknown[] = [];
    const analytics = new SegmentAnalytics({ writeKey, host: wire.url, flushAt: 10, flushInterval: 60_000, maxRetries: 0 });
    analytics.on('error', (error) => errors.push(error));
    const from = wire.seen.length;
    analytics.alias({ userId, previousId: anonymousId });
    await analytics.closeAndFlush();
    expect(errors).toEqual([]);
    const [request] = wire.seen.slice(from);
    expect(JSON.parse(request!.body.toString('utf8')).batch[0]).toMatchObject({ type: 'alias', userId, previousId: anonymousId });
    expect(JSON.parse(request!.answer)).toMatchObject({ success: true, stored: 1, ignored: 0 });
    // Still nobody: the user id's lead holds the link, the visitor its page views.
    expect(await leadView(stack, `user:${userId}`)).toMatchObject({ status: 'new', eventCount: 1 });

    // Later, an identify by user id alone with the e-mail (no anonymousId): the user id's lead comes, and with it the visitor.
    const identify = { messageId: randomUUID(), userId, traits: { email, ...workedExampleProfile }, timestamp: new Date().toISOString() };
    expect(await sendJson('/v1/identify', identify)).toMatchObject({ status: 200, body: { stored: 1 } });
    const lead = await leadView(stack, email);
    expect(lead.eventCount).toBe(4);
    // Both histories from before the e-mail are marked: the visitor's page views and the alias the user id's lead held.
    expect(
      lead.recentEvents
        .filter((event: { anonymous?: true }) => event.anonymous)
        .map((event: { type: string }) => event.type)
        .sort(),
    ).toEqual(['identity_linked', 'page_viewed', 'page_viewed']);
    // A later page view of that browser goes straight to the lead.
    expect(await sendJson('/v1/b', { batch: [pricing(3 * hour)] })).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(await leadView(stack, email)).toMatchObject({ eventCount: 5 });
    // The visitor's key now answers with the person's lead.
    expect(await leadView(stack, `anon:${anonymousId}`)).toMatchObject({ eventCount: 5, lead: { email } });
  });

  it("a group call on /v1/group with the person's e-mail in context.traits moves the lead's fit", async () => {
    const email = someone('group');
    const userId = `user-${email}`;
    const identify = { messageId: randomUUID(), userId, traits: { email, title: 'Operations analyst' }, timestamp: new Date().toISOString() };
    expect(await sendJson('/v1/identify', identify)).toMatchObject({ status: 200, body: { stored: 1 } });
    const before = await leadView(stack, email);
    expect(before.score.fit).toBe(0);

    const group = {
      messageId: randomUUID(),
      userId,
      groupId: 'acct_0e8c78ea9d97',
      traits: { name: 'Acme Logistics', industry: 'Software', employees: '1001-5000', plan: 'enterprise', website: 'https://acme-logistics.com' },
      context: { traits: { email } },
      timestamp: new Date().toISOString(),
    };
    expect(await sendJson('/v1/group', group)).toMatchObject({ status: 200, body: { success: true, stored: 1 } });
    const after = await leadView(stack, email);
    // The default model's target_industry (10) and company_over_500 (15), from the account's traits.
    expect(after.score.fit).toBe(25);
    expect(after.lead).toMatchObject({
      groupId: 'acct_0e8c78ea9d97',
      company: 'Acme Logistics',
      industry: 'Software',
      companySize: '1001-5000',
      companyPlan: 'enterprise',
      companyWebsite: 'https://acme-logistics.com',
    });
    expect(after.reasons.filter((reason: { kind: string }) => reason.kind === 'fit').map((reason: { rule: string }) => reason.rule)).toEqual([
      'company_over_500',
      'target_industry',
    ]);
  });

  it('drops a group call without groupId from a batch under no_groupId, storing the rest', async () => {
    const email = someone('group-batch');
    const group = {
      type: 'group',
      messageId: randomUUID(),
      userId: 'u_1',
      traits: { industry: 'Software' },
      context: { traits: { email } },
      timestamp: new Date().toISOString(),
    };
    const answer = await sendJson('/v1/batch', { batch: [group, track(email, { event: 'Webinar Attended' })] });
    expect(answer).toMatchObject({ status: 200, body: { success: true, received: 2, stored: 1, ignored: 1, ignoredReasons: { no_groupId: 1 } } });
    const view = await leadView(stack, email);
    expect(view.eventCount).toBe(1);
    expect(view.lead.industry).toBeUndefined();
  });

  describe('bad input stores nothing', () => {
    const email = someone('bad');
    const gzipBomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20));
    const cases: [string, () => Promise<{ status: number; body: any; added: number }>, number, string][] = [
      ['no write key', () => sendJson('/v1/batch', { batch: [track(email)] }, {}), 401, 'unauthorized'],
      ['an unknown Basic key', () => sendJson('/v1/batch', { batch: [track(email)] }, { authorization: basic('wk_unknown_key_000:') }), 401, 'unauthorized'],
      ['an unknown writeKey in the body', () => sendJson('/v1/batch', { batch: [track(email)], writeKey: 'wk_unknown_key_000' }, {}), 401, 'unauthorized'],
      ['two different keys', () => sendJson('/v1/batch', { batch: [track(email)], writeKey: secondKey }), 401, 'unauthorized'],
      ['malformed JSON', () => postCounting(stack, batchUrl(), { body: '{"batch": [', headers: { authorization: basic(`${writeKey}:`) } }), 400, 'bad_request'],
      [
        'JSON nested 100,000 levels',
        () => postCounting(stack, batchUrl(), { body: `${'['.repeat(100_000)}${']'.repeat(100_000)}`, headers: { authorization: basic(writeKey) } }),
        400,
        'bad_request',
      ],
      ['a batch that is not an array', () => sendJson('/v1/batch', { batch: { type: 'track' } }), 400, 'bad_request'],
      ['an empty batch', () => sendJson('/v1/batch', { batch: [] }), 400, 'bad_request'],
      [
        'a batch over 500 KB',
        () => sendJson('/v1/batch', { batch: Array.from({ length: 20 }, () => track(email, { properties: { p: 'x'.repeat(27_000) } })) }),
        400,
        'bad_request',
      ],
      ['one message over 32 KB', () => sendJson('/v1/track', track(email, { properties: { p: 'x'.repeat(33_000) } })), 400, 'bad_request'],
      ['one message without messageId', () => sendJson('/v1/track', track(email, { messageId: undefined })), 400, 'bad_request'],
      ['one message without userId or anonymousId', () => sendJson('/v1/track', track(email, { userId: undefined })), 400, 'bad_request'],
      [
        'a group call without groupId',
        () =>
          sendJson('/v1/group', {
            messageId: randomUUID(),
            userId: 'u_1',
            traits: { industry: 'Software' },
            context: { traits: { email } },
            timestamp: new Date().toISOString(),
          }),
        400,
        'bad_request',
      ],
      ['one message whose time is not ISO 8601', () => sendJson('/v1/t', track(email, { timestamp: 'Tue, 14 May 2024 09:31:42 +0000' })), 400, 'bad_request'],
      [
        'a gzip bomb (16 MiB inflated)',
        () => postCounting(stack, batchUrl(), { body: gzipBomb, headers: { 'content-encoding': 'gzip', authorization: basic(`${writeKey}:`) } }),
        413,
        'payload_too_large',
      ],
      ['a body over 1 MiB', () => sendJson('/v1/batch', { batch: [track(email)], padding: 'x'.repeat(1024 * 1024) }), 413, 'payload_too_large'],
      [
        'a Content-Encoding other than gzip',
        () => postCounting(stack, batchUrl(), { body: '{}', headers: { 'content-encoding': 'br', authorization: basic(`${writeKey}:`) } }),
        400,
        'unsupported_media_type',
      ],
      ['a call that does not exist', () => sendJson('/v1/m', { series: [] }), 404, 'not_found'],
    ];

    for (const [name, send, status, error] of cases) {
      it(`${name}: ${status}`, async () => {
        expect(await send()).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
      });
    }

    it('a batch whose every message is invalid: 200, each dropped with its reason', async () => {
      const answer = await sendJson('/v1/batch', { batch: [track(email, { messageId: undefined }), track(email, { userId: undefined })] });
      expect(answer).toMatchObject({
        status: 200,
        added: 0,
        body: { success: true, stored: 0, ignored: 2, ignoredReasons: { no_messageId: 1, no_user_or_anonymous_id: 1 } },
      });
    });

    it('the wrong method: 405 locally (API Gateway answers 404)', async () => {
      const before = await countItems(stack.dynamodb, stack.tableName);
      const response = await fetch(batchUrl(), { method: 'GET', headers: { authorization: basic(`${writeKey}:`) } });
      expect(response.status).toBe(405);
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    });
  });
});

describe('with TRACKING_WRITE_KEY unset', () => {
  const bare = restartedStack(() => stack, { env: { TRACKING_WRITE_KEY: undefined, CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' } });

  it('every call answers 404 to a request with a good key and stores nothing', async () => {
    for (const path of ['/v1/batch', '/v1/t']) {
      const body =
        path === '/v1/batch'
          ? { batch: [{ type: 'track', event: 'X', messageId: 'm', userId: 'u' }] }
          : { type: 'track', event: 'X', messageId: 'm', userId: 'u' };
      const answer = await postCounting(bare(), `${bare().baseUrl}${path}`, { body: JSON.stringify(body), headers: { authorization: basic(`${writeKey}:`) } });
      expect(answer).toMatchObject({ status: 404, body: { error: 'not_found' }, added: 0 });
    }
    expect(await post(`${bare().baseUrl}/v1/batch`, { body: '{}', headers: {} })).toMatchObject({ status: 404 });
  });
});
