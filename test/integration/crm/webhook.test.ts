import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HandoffRecord } from '../../../lib/crm/adapter.ts';
import { CrmDeliveryError } from '../../../lib/crm/adapter.ts';
import { CrmConfigurationError, crmAdapterFromEnv, noneAdapter } from '../../../lib/crm/index.ts';
import { webhookAdapter } from '../../../lib/crm/webhook.ts';
import { HttpError } from '../../../lib/http/errors.ts';
import { retryAfterSeconds } from '../../../lib/http/outbound.ts';
import { verifyStandardWebhook } from '../../../lib/http/standard-webhooks.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';

const secret = 'whsec_dGVzdC1vbmx5LWNybS13ZWJob29rLXNpZ25pbmctc2VjcmV0';

const record: HandoffRecord = {
  type: 'lead.mql',
  id: 'handoff_dana.whitfield@example.com_2024-05-14T16:05:12.000Z',
  occurredAt: '2024-05-14T16:05:12.000Z',
  leadId: 'dana.whitfield@example.com',
  lead: { email: 'dana.whitfield@example.com', firstName: 'Dana', lastName: 'Whitfield', company: 'Acme Logistics', jobTitle: 'VP of Engineering' },
  score: { total: 60, fit: 25, behavior: 35, threshold: 60, modelVersion: 'sha256:0f1e2d' },
  reasons: [
    { rule: 'c_level_title', kind: 'fit', description: 'C-suite or VP title', pointsNow: 15, rawPoints: 15, count: 1 },
    {
      rule: 'webinar_attended',
      kind: 'behavior',
      description: 'Webinar attended',
      pointsNow: 20,
      rawPoints: 20,
      count: 1,
      lastSeen: '2024-05-14T16:05:12.000Z',
    },
  ],
  recentEvents: [{ type: 'webinar_attended', occurredAt: '2024-05-14T16:05:12.000Z', source: 'segment', properties: { webinar_id: 'wb_1' } }],
};

/** What the receiver saw of one request, and whether the signature held at receipt. */
interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  verification: { id: string; timestamp: number } | { refused: string };
}

let server: Server;
let endpoint: string;
let received: Received[] = [];
/** The scripted answer of the receiver for the current test. */
let answer: (request: IncomingMessage, response: ServerResponse) => void;

function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      let verification: Received['verification'];
      try {
        verification = verifyStandardWebhook({ secret, headers: (name) => headerOf(request.headers, name), body, now: new Date() });
      } catch (error) {
        verification = { refused: error instanceof HttpError ? error.detail : String(error) };
      }
      received.push({ url: request.url ?? '', headers: request.headers, body, verification });
      answer(request, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/mql`;
});

afterAll(async () => {
  // The silent receiver's sockets stay open otherwise, and close() would wait for them.
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
  answer = (_, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
});

function replyWith(status: number, headers: Record<string, string> = {}, body = '') {
  answer = (_, response) => response.writeHead(status, headers).end(body);
}

/** Delivers the record and returns the CrmDeliveryError it failed with, failing when it succeeded. */
async function failedDelivery(adapter = webhookAdapter({ url: endpoint, secret }), now = new Date()): Promise<CrmDeliveryError> {
  const error = await adapter.deliver(record, now).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(CrmDeliveryError);
  return error as CrmDeliveryError;
}

describe('webhook CRM adapter against a real HTTP receiver', () => {
  it('POSTs the record as JSON, signed so the receiver verifies it, and reports the 2xx', async () => {
    const receipt = await webhookAdapter({ url: endpoint, secret }).deliver(record, new Date());

    expect(receipt).toEqual({ status: 200 });
    expect(received).toHaveLength(1);
    const [delivery] = received;
    expect(delivery?.verification).toEqual({ id: record.id, timestamp: expect.any(Number) });
    expect(delivery?.headers['content-type']).toBe('application/json');
    expect(delivery?.headers['user-agent']).toBe('mql-engine');
    expect(JSON.parse(delivery!.body.toString('utf8'))).toEqual(record);
  });

  it('delivers the record of a lead known only by its phone: leadId and phone, no e-mail', async () => {
    const { email: _email, ...profile } = record.lead;
    const phoneOnly: HandoffRecord = { ...record, id: 'msg_phone_only', leadId: 'phone:+14155550123', lead: { ...profile, phone: '+1 415 555 0123' } };

    await webhookAdapter({ url: endpoint, secret }).deliver(phoneOnly, new Date());

    const body = JSON.parse(received[0]!.body.toString('utf8'));
    expect(received[0]?.verification).toEqual({ id: 'msg_phone_only', timestamp: expect.any(Number) });
    expect(body).toEqual(phoneOnly);
    expect(body.lead).not.toHaveProperty('email');
  });

  it('keeps webhook-id across two attempts of the same record and signs each with its own time', async () => {
    const adapter = webhookAdapter({ url: endpoint, secret });
    const first = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
    const second = new Date(first.getTime() + 60_000);

    await adapter.deliver(record, first);
    await adapter.deliver(record, second);

    expect(received.map((delivery) => delivery.verification)).toEqual([
      { id: record.id, timestamp: first.getTime() / 1000 },
      { id: record.id, timestamp: second.getTime() / 1000 },
    ]);
    expect(received[0]?.headers['webhook-signature']).not.toBe(received[1]?.headers['webhook-signature']);
  });

  it("is refused by a receiver whose clock is far from the attempt time (the timestamp is the attempt's)", async () => {
    await webhookAdapter({ url: endpoint, secret }).deliver(record, new Date(Date.now() - 3_600_000));
    expect(received[0]?.verification).toEqual({ refused: expect.stringMatching(/s old/) });
  });

  it('treats 503 with Retry-After: 7 as retryable after 7 s', async () => {
    replyWith(503, { 'retry-after': '7' }, 'maintenance');
    const error = await failedDelivery();
    expect(error).toMatchObject({ status: 503, retryable: true, retryAfterSeconds: 7 });
    expect(error.message).toMatch(/503.*maintenance/);
  });

  it('treats 429 as retryable, reading a Retry-After HTTP date relative to the attempt', async () => {
    const now = new Date();
    replyWith(429, { 'retry-after': new Date(now.getTime() + 30_000).toUTCString() });
    const error = await failedDelivery(undefined, now);
    expect(error).toMatchObject({ status: 429, retryable: true });
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(29);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(30);
  });

  it.each([408, 425, 500, 502, 504])('treats %i as retryable, without a wait when none is asked', async (status) => {
    replyWith(status);
    const error = await failedDelivery();
    expect(error).toMatchObject({ status, retryable: true, retryAfterSeconds: undefined });
  });

  it('treats 410 as not retryable: the receiver disabled the endpoint', async () => {
    replyWith(410);
    const error = await failedDelivery();
    expect(error).toMatchObject({ status: 410, retryable: false });
    expect(error.message).toMatch(/disabled/);
  });

  it.each([400, 401, 403, 404, 422])('treats %i as not retryable', async (status) => {
    replyWith(status, { 'retry-after': '5' }, '{"error":"nope"}');
    const error = await failedDelivery();
    expect(error).toMatchObject({ status, retryable: false, retryAfterSeconds: undefined });
    expect(error.message).toContain('{"error":"nope"}');
  });

  it('quotes the receiver’s answer without the addresses or phone numbers it echoes (the message is logged)', async () => {
    replyWith(422, {}, '{"error":"lead dana.whitfield@example.com (+1 415 555 0123) is unknown"}');
    const error = await failedDelivery();
    expect(error.message).toContain('is unknown');
    expect(error.message).not.toMatch(/dana|555/);
  });

  it('treats a 302 as a failure and does not follow it', async () => {
    replyWith(302, { location: '/somewhere-else' });
    const error = await failedDelivery();
    expect(error).toMatchObject({ status: 302, retryable: false });
    expect(error.message).toMatch(/redirect to \/somewhere-else/);
    expect(received.map((delivery) => delivery.url)).toEqual(['/hooks/mql']);
  });

  it('gives up on a receiver that never answers, as a retryable timeout', async () => {
    answer = () => undefined;
    const error = await failedDelivery(webhookAdapter({ url: endpoint, secret, timeoutMs: 200 }));
    expect(error).toMatchObject({ status: undefined, retryable: true });
    expect(error.message).toMatch(/no answer within 200 ms/);
  });

  it('treats a refused connection as retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const error = await failedDelivery(webhookAdapter({ url: `http://127.0.0.1:${port}/`, secret }));
    expect(error).toMatchObject({ status: undefined, retryable: true });
    expect(error.message).toMatch(/request failed/);
  });
});

describe('the local CRM receiver (npm start, mql receive)', () => {
  it('files a record under its leadId, with or without an e-mail, and one from an older sender under lead.email', async () => {
    const receiver = await startCrmReceiver(secret);
    try {
      const adapter = webhookAdapter({ url: receiver.url, secret });
      const { email: _email, ...profile } = record.lead;
      const { leadId: _leadId, ...older } = record;
      await adapter.deliver({ ...record, id: 'msg_phone', leadId: 'phone:+14155550123', lead: { ...profile, phone: '+14155550123' } }, new Date());
      await adapter.deliver(record, new Date());
      await adapter.deliver({ ...older, id: 'msg_older' } as HandoffRecord, new Date());

      expect(receiver.received.map((handoff) => [handoff.webhookId, handoff.leadId, handoff.record.lead.email])).toEqual([
        ['msg_phone', 'phone:+14155550123', undefined],
        [record.id, 'dana.whitfield@example.com', 'dana.whitfield@example.com'],
        ['msg_older', 'dana.whitfield@example.com', 'dana.whitfield@example.com'],
      ]);
    } finally {
      await receiver.close();
    }
  });

  it('answers 422 to a signed record that names no lead at all, and keeps nothing', async () => {
    const receiver = await startCrmReceiver(secret);
    try {
      const { leadId: _leadId, ...older } = record;
      const { email: _email, ...profile } = record.lead;
      const error = await webhookAdapter({ url: receiver.url, secret })
        .deliver({ ...older, id: 'msg_nobody', lead: profile } as HandoffRecord, new Date())
        .then(
          () => undefined,
          (reason: unknown) => reason,
        );
      expect(error).toMatchObject({ status: 422, retryable: false });
      expect(receiver.received).toEqual([]);
      expect(receiver.attempts).toEqual([{ webhookId: 'msg_nobody', status: 422 }]);
    } finally {
      await receiver.close();
    }
  });

  it('waits for the lead.mql of given leads, notes when each body arrived, and says why it refused a signature (the bench reads these)', async () => {
    const receiver = await startCrmReceiver(secret);
    try {
      const before = performance.now();
      const waiting = receiver.waitForMql(['dana.whitfield@example.com'], 15_000);
      await webhookAdapter({ url: receiver.url, secret }).deliver(record, new Date());
      await waiting;
      expect(receiver.received.map((handoff) => [handoff.leadId, handoff.record.type])).toEqual([['dana.whitfield@example.com', 'lead.mql']]);
      expect(receiver.received[0]!.arrivedAt).toBeGreaterThanOrEqual(before);
      expect(receiver.received[0]!.arrivedAt).toBeLessThanOrEqual(performance.now());

      // A lead that never comes: the wait ends at its deadline without failing, the caller counts the miss.
      await expect(receiver.waitForMql(['nobody@example.com'], 30)).resolves.toBeUndefined();

      const wrongSecret = 'whsec_dGVzdC1vbmx5LWFub3RoZXItc2VjcmV0LXRoYXQtZG9lcy1ub3QtbWF0Y2g=';
      await webhookAdapter({ url: receiver.url, secret: wrongSecret })
        .deliver({ ...record, id: 'msg_forged' }, new Date())
        .catch(() => undefined);
      expect(receiver.attempts.at(-1)).toMatchObject({ webhookId: 'msg_forged', status: 401, reason: expect.stringMatching(/signature/i) });
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });
});

describe('retryAfterSeconds', () => {
  const now = new Date('2024-05-14T10:00:00Z');
  it.each([
    [null, undefined],
    ['7', 7],
    [' 120 ', 120],
    ['Tue, 14 May 2024 10:01:30 GMT', 90],
    ['Tue, 14 May 2024 09:00:00 GMT', 0],
    ['soon', undefined],
    ['-5', undefined],
  ])('reads %j as %j', (value, seconds) => {
    expect(retryAfterSeconds(value, now)).toBe(seconds);
  });
});

describe('crmAdapterFromEnv', () => {
  const secrets = { CRM_WEBHOOK_SECRET: secret };

  it('chooses none when CRM_ADAPTER is unset or none, and none sends nothing', async () => {
    expect(crmAdapterFromEnv({}, secrets)).toBe(noneAdapter);
    expect(crmAdapterFromEnv({ CRM_ADAPTER: 'none' })).toBe(noneAdapter);
    await expect(noneAdapter.deliver(record, new Date())).resolves.toEqual({ status: 204 });
  });

  it('builds the webhook adapter from CRM_WEBHOOK_URL and the secret CRM_WEBHOOK_SECRET', async () => {
    const adapter = crmAdapterFromEnv({ CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: endpoint, MQL_ALLOW_HTTP_URLS: '1' }, secrets);
    expect(adapter.name).toBe('webhook');
    await expect(adapter.deliver(record, new Date())).resolves.toEqual({ status: 200 });
  });

  it.each([
    [{ CRM_ADAPTER: 'webhook' }, secrets, /needs CRM_WEBHOOK_URL/],
    [{ CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: 'ftp://example.com/x' }, secrets, /CRM_WEBHOOK_URL must be https/],
    // Plain http (as synth refuses it) unless the local stack's own setting allows it.
    [{ CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: 'http://crm.example.com/hook' }, secrets, /CRM_WEBHOOK_URL must be https .*MQL_ALLOW_HTTP_URLS=1/],
    [{ CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: 'http://crm.example.com/hook', MQL_ALLOW_HTTP_URLS: 'yes' }, secrets, /must be https/],
    [{ CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: 'https://crm.example.com/hook' }, {}, /needs the secret CRM_WEBHOOK_SECRET/],
    [{ CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: 'https://crm.example.com/hook' }, { CRM_WEBHOOK_SECRET: 'whsec_' }, /unusable/],
    // Two bytes: anyone could find the key by trying each value, and sign records the CRM trusts.
    [
      { CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: 'https://crm.example.com/hook' },
      { CRM_WEBHOOK_SECRET: 'whsec_AQI=' },
      /CRM_WEBHOOK_SECRET is unusable: .*at least 24/,
    ],
    [{ CRM_ADAPTER: 'hubspot' }, secrets, /needs the secret HUBSPOT_ACCESS_TOKEN/],
    [{ CRM_ADAPTER: 'salesforce' }, secrets, /needs SALESFORCE_INSTANCE_URL/],
    [{ CRM_ADAPTER: 'pipedrive' }, secrets, /not one of webhook, hubspot, salesforce, none/],
  ])('refuses %j with a configuration error', (env, given, message) => {
    expect(() => crmAdapterFromEnv(env, given)).toThrow(CrmConfigurationError);
    expect(() => crmAdapterFromEnv(env, given)).toThrow(message);
  });
});
