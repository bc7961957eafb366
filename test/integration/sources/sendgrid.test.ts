/**
 * SendGrid's Signed Event Webhook on the embedded local stack: every event type stored and scored,
 * redeliveries counted once, a 1,000-event batch over 300 leads stored exactly once, a delivery whose
 * store fails for one lead answered 503 and completed by SendGrid's retry without double counting,
 * and bad input or bad configuration refused with nothing stored.
 */
import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreLead } from '../../../lib/core/index.ts';

import { pipelineFromEnv } from '../../../lib/ingest/from-env.ts';
import type { Pipeline } from '../../../lib/ingest/pipeline.ts';
import { webhookHandler } from '../../../lib/ingest/webhook.ts';
import { dynamoClient } from '../../../lib/local/dynamodb.ts';
import { sendgrid, sendgridBody, sendgridSignatureHeader, sendgridTimestampHeader, signSendgridDelivery } from '../../../lib/sources/sendgrid.ts';
import { leadPk } from '../../../lib/store/keys.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { countItems, post, postCounting } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, startTestStack } from '../../setup/stack.ts';

/** test/fixtures/sendgrid/event_webhook.json: a fake test-only P-256 key pair. */
const keyPair = JSON.parse(readFileSync(new URL('../../fixtures/sendgrid/event_webhook.json', import.meta.url), 'utf8')).test_keypair as {
  publicKeyBase64Der: string;
  privateKeyPkcs8Pem: string;
};
const publicKey = keyPair.publicKeyBase64Der;
const privateKey = createPrivateKey(keyPair.privateKeyPkcs8Pem);
/** Our own delivery with every event type (see its _note). */
const examples = JSON.parse(readFileSync(new URL('../../fixtures/sendgrid/every_event_type.json', import.meta.url), 'utf8')).events as Record<string, any>[];

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** An open by a new address, ten seconds ago, its event id tagged. */
const anOpen = (tag: string) => ({
  email: `x.${randomUUID().slice(0, 8)}@acme.com`,
  timestamp: nowSeconds() - 10,
  event: 'open',
  sg_event_id: `${tag}-${randomUUID()}`,
});

interface Delivery {
  body: string | Buffer;
  headers: Record<string, string>;
}

/** A delivery as SendGrid posts it: the body with its \r\n separators, signed at `timestamp` (now). */
function delivery(
  payload: readonly unknown[] | string,
  options: { timestamp?: number | string; key?: Parameters<typeof signSendgridDelivery>[0]['privateKey']; contentType?: string } = {},
): Delivery {
  const body = typeof payload === 'string' ? payload : sendgridBody(payload);
  const timestamp = String(options.timestamp ?? nowSeconds());
  return {
    body,
    headers: {
      'Content-Type': options.contentType ?? 'application/json',
      'User-Agent': 'SendGrid Event API',
      [sendgridTimestampHeader]: timestamp,
      [sendgridSignatureHeader]: signSendgridDelivery({ privateKey: options.key ?? privateKey, timestamp, body }),
    },
  };
}

/** The examples moved to the last minutes (their spacing kept), so decay does not blur the scores. */
function recentExamples(): Record<string, any>[] {
  const latest = Math.max(...examples.map((event) => event.timestamp as number));
  const shift = nowSeconds() - 120 - latest;
  return examples.map((event) => ({ ...event, timestamp: event.timestamp + shift }));
}

/** `count` events over `leads` leads of `prefix`, times spaced a second apart ending a few minutes ago. */
function batch(prefix: string, count: number, leads: number, start = nowSeconds() - 600): Record<string, unknown>[] {
  const kinds = ['processed', 'delivered', 'open', 'click'] as const;
  return Array.from({ length: count }, (_, index) => {
    const event = kinds[index % kinds.length]!;
    return {
      email: `${prefix}-${index % leads}@acme-logistics.com`,
      timestamp: start + index,
      event,
      sg_event_id: `${prefix}-${index}-${randomUUID().slice(0, 8)}`,
      sg_message_id: `${prefix}-msg-${index % leads}.filter0001.16648.5515E0B88.0`,
      category: ['nurture', 'q2'],
      ...(event === 'click' ? { url: index % 8 === 3 ? 'https://www.example.com/pricing' : 'https://www.example.com/blog' } : {}),
      ...(event === 'open' ? { sg_machine_open: false, useragent: 'Mozilla/5.0' } : {}),
      lead_source: 'bench',
    };
  });
}

const storeOf = (stack: LocalStack) => new LeadStore({ client: DynamoDBDocumentClient.from(stack.dynamodb), tableName: stack.tableName });

describe('SendGrid on the local stack', () => {
  let stack: LocalStack;
  let url: string;
  const every = recentExamples();
  const everyDelivery = delivery(every);

  beforeAll(async () => {
    stack = await startTestStack({ env: { SENDGRID_WEBHOOK_PUBLIC_KEY: publicKey, LOG_LEVEL: 'SILENT' } });
    url = stack.urls['POST /webhooks/sendgrid']!;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  describe('every event type, stored and scored', () => {
    it('accepts the delivery with every event type and stores each event once', async () => {
      const answer = await post(url, everyDelivery);
      expect(answer).toMatchObject({ status: 200, body: { received: examples.length, stored: examples.length, duplicates: 0, ignored: 0 } });
    });

    it('scores the engaged lead: two opens and a pricing click, with SendGrid ids, categories and custom args kept', async () => {
      const view = await leadView(stack, 'lee.engaged@example.com');
      expect(view).toMatchObject({ status: 'engaged', eventCount: 5 });
      const reasons = Object.fromEntries(view.reasons.map((reason: any) => [reason.rule, reason]));
      expect(reasons.email_opened).toMatchObject({ kind: 'behavior', count: 2, rawPoints: 2 });
      expect(reasons.email_clicked).toMatchObject({ kind: 'behavior', count: 1, rawPoints: 3 });
      expect(view.score.behavior).toBe(5);
      const click = view.recentEvents.find((event: any) => event.type === 'email_clicked');
      expect(click).toMatchObject({
        source: 'sendgrid',
        occurredAt: new Date(every[4]!.timestamp * 1000).toISOString(),
        properties: {
          url: 'https://www.example.com/pricing?utm_source=sendgrid',
          messageId: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0',
          category: 'cat facts, q2-nurture',
          lead_id: 'crm-4711',
          campaign: 'spring-launch',
        },
      });
      expect(view.recentEvents.map((event: any) => event.type).sort()).toEqual([
        'email_clicked',
        'email_delivered',
        'email_opened',
        'email_opened',
        'email_processed',
      ]);
    });

    it('disqualifies the lead whose address hard-bounced (type "bounce")', async () => {
      const view = await leadView(stack, 'hard.bounce@example.com');
      expect(view.status).toBe('disqualified');
      expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'hard_bounce', kind: 'disqualify' })]));
      expect(view.recentEvents).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'email_bounced', properties: expect.objectContaining({ bounce: 'hard', smtpCode: 550, status: '5.1.1' }) }),
        ]),
      );
    });

    it('does not disqualify a blocked (soft) bounce, a deferral or a drop', async () => {
      for (const email of ['blocked@example.com', 'deferred@example.com', 'dropped@example.com']) {
        const view = await leadView(stack, email);
        expect({ email, status: view.status }).toEqual({ email, status: 'new' });
      }
      const blocked = await leadView(stack, 'blocked@example.com');
      expect(blocked.recentEvents[0]).toMatchObject({ type: 'email_bounced', properties: { bounce: 'soft', bounceType: 'blocked' } });
      expect((await leadView(stack, 'deferred@example.com')).recentEvents[0]).toMatchObject({ type: 'email_deferred', properties: { attempt: 5 } });
    });

    it('disqualifies the lead who reported spam', async () => {
      const view = await leadView(stack, 'spam@example.com');
      expect(view.status).toBe('disqualified');
      expect(view.reasons).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'spam_complaint', kind: 'disqualify' })]));
    });

    it('scores an unsubscribe, global or from one group, at -10 without decay', async () => {
      for (const email of ['unsub@example.com', 'group@example.com']) {
        const view = await leadView(stack, email);
        expect(view.reasons).toEqual([expect.objectContaining({ rule: 'email_unsubscribed', pointsNow: -10, count: 1 })]);
      }
      const group = await leadView(stack, 'group@example.com');
      expect(group.recentEvents.map((event: any) => event.type).sort()).toEqual(['email_group_resubscribe', 'email_unsubscribed']);
    });

    it('counts a redelivery of the same signed bytes once: nothing stored, scores unchanged', async () => {
      const before = await countItems(stack.dynamodb, stack.tableName);
      const scoreBefore = (await leadView(stack, 'lee.engaged@example.com')).score;
      const answer = await post(url, everyDelivery);
      expect(answer).toMatchObject({ status: 200, body: { received: examples.length, stored: 0, duplicates: examples.length } });
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
      expect((await leadView(stack, 'lee.engaged@example.com')).score).toEqual(scoreBefore);
    });

    it('counts a retry signed again later, or one whose first signature is 23 hours old, once too', async () => {
      const before = await countItems(stack.dynamodb, stack.tableName);
      for (const retry of [delivery(every, { timestamp: nowSeconds() + 30 }), delivery(every, { timestamp: nowSeconds() - 23 * 3600 })]) {
        expect(await post(url, retry)).toMatchObject({ status: 200, body: { stored: 0, duplicates: examples.length } });
      }
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    });
  });

  describe('events it cannot store, and odd ones', () => {
    it('ignores events without sg_event_id, of unknown types or without an e-mail, and stores the rest', async () => {
      const email = `odd.${randomUUID().slice(0, 8)}@example.com`;
      const good = { email, timestamp: nowSeconds() - 60, event: 'open', sg_event_id: `good-${randomUUID()}` };
      const { sg_event_id: _id, ...withoutId } = { ...good, event: 'click' };
      const before = await countItems(stack.dynamodb, stack.tableName);
      const answer = await post(
        url,
        delivery([
          withoutId,
          { ...good, event: 'account_status_change', sg_event_id: `x-${randomUUID()}` },
          { ...good, email: 'nobody', sg_event_id: `y-${randomUUID()}` },
          good,
        ]),
      );
      expect(answer).toMatchObject({
        status: 200,
        body: {
          received: 4,
          stored: 1,
          duplicates: 0,
          ignored: 3,
          ignoredReasons: { no_sg_event_id: 1, 'unknown_event:account_status_change': 1, no_email: 1 },
        },
      });
      // One event, its raw payload and the lead.
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before + 3);
    });

    it('stores unicode, cuts very long strings, and copies no __proto__ or constructor custom arg', async () => {
      const email = `zoë.${randomUUID().slice(0, 8)}@exämple.com`;
      const long = 'ü'.repeat(50_000);
      const body = `[{"email":${JSON.stringify(email)},"timestamp":${nowSeconds() - 30},"event":"click","url":"https://www.example.com/pricing?q=日本","sg_event_id":"odd-${randomUUID()}","campaign":"Frühjahr 春 🚀","note":"${long}","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}]\r\n`;
      const answer = await post(url, delivery(body));
      expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
      const [event] = await storeOf(stack).listEvents(email);
      expect(event!.properties).toMatchObject({ url: 'https://www.example.com/pricing?q=日本', campaign: 'Frühjahr 春 🚀' });
      // Cut to the store's 2,000 UTF-8 bytes (lib/core/budget.ts): 1,000 two-byte "ü".
      expect(String(event!.properties.note)).toBe('ü'.repeat(1000));
      expect(Object.hasOwn(event!.properties, '__proto__')).toBe(false);
      expect(Object.hasOwn(event!.properties, 'constructor')).toBe(false);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('acknowledges an empty array and stores nothing', async () => {
      const before = await countItems(stack.dynamodb, stack.tableName);
      expect(await post(url, delivery([]))).toMatchObject({ status: 200, body: { received: 0, stored: 0, duplicates: 0, ignored: 0 } });
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    });
  });

  describe('bad input stores nothing', () => {
    const event = () => anOpen('bad');
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

    const cases: [string, () => Delivery, number, string][] = [
      ['no signature headers', () => ({ body: sendgridBody([event()]), headers: { 'content-type': 'application/json' } }), 401, 'unauthorized'],
      [
        'a signature without its timestamp header',
        () => {
          const signed = delivery([event()]);
          const { [sendgridTimestampHeader]: _timestamp, ...headers } = signed.headers;
          return { ...signed, headers };
        },
        401,
        'unauthorized',
      ],
      ['a signature made with another key', () => delivery([event()], { key: otherKey }), 401, 'unauthorized'],
      [
        'a body changed after signing',
        () => {
          const signed = delivery([event()]);
          return { ...signed, body: String(signed.body).replace('"open"', '"click"') };
        },
        401,
        'unauthorized',
      ],
      ['a signature two days old (a replay)', () => delivery([event()], { timestamp: nowSeconds() - 48 * 3600 }), 401, 'unauthorized'],
      ['a timestamp that is not unix seconds', () => delivery([event()], { timestamp: 'yesterday' }), 401, 'unauthorized'],
      ['malformed JSON', () => delivery('[{"email": "x@acme.com", '), 400, 'bad_request'],
      ['a JSON object instead of an array', () => delivery(JSON.stringify(event())), 400, 'bad_request'],
      ['an array holding something other than events', () => delivery(`[${JSON.stringify(event())},"oops"]`), 400, 'bad_request'],
      ['the wrong content type', () => delivery([event()], { contentType: 'application/x-www-form-urlencoded' }), 400, 'unsupported_media_type'],
      ['a body over 1 MiB', () => delivery([{ ...event(), padding: 'x'.repeat(1024 * 1024) }]), 413, 'payload_too_large'],
    ];

    for (const [name, make, status, error] of cases) {
      it(`${name}: ${status}`, async () => {
        expect(await postCounting(stack, url, make())).toMatchObject({ status, body: { error, detail: expect.any(String) }, added: 0 });
      });
    }
  });

  describe('a 1,000-event batch over 300 leads', () => {
    const events = batch(`big-${randomUUID().slice(0, 6)}`, 1000, 300);
    const big = delivery(events);

    it('is accepted with every event stored once', async () => {
      expect(Buffer.byteLength(big.body)).toBeGreaterThan(250_000);
      const before = await countItems(stack.dynamodb, stack.tableName);
      const answer = await post(url, big);
      expect(answer).toMatchObject({ status: 200, body: { received: 1000, stored: 1000, duplicates: 0, ignored: 0 } });
      // 1,000 events, 300 leads, and each lead's raw payloads in one raw item.
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before + 1600);
      const sample = String(events[299]!.email);
      expect((await storeOf(stack).listEvents(sample)).map((event) => event.sourceEventId).sort()).toEqual(
        events
          .filter((event) => event.email === sample)
          .map((event) => String(event.sg_event_id))
          .sort(),
      );
    });

    it('stores nothing new when SendGrid delivers it again', async () => {
      const before = await countItems(stack.dynamodb, stack.tableName);
      expect(await post(url, big)).toMatchObject({ status: 200, body: { received: 1000, stored: 0, duplicates: 1000 } });
      expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    });
  });
});

describe('SendGrid when the store fails for one lead of a batch', () => {
  let stack: LocalStack;
  let url: string;
  /** While set, every transaction that writes this lead fails as an unreachable DynamoDB would. */
  let failingLead: string | undefined;
  let store: LeadStore | undefined;

  /** The real pipeline, its store on a client of its own that fails the failing lead's transactions. */
  function pipelineWithFailingLead(): Pipeline {
    const real = pipelineFromEnv();
    if (!store) {
      const client = dynamoClient(stack.dynamoEndpoint, stack.region);
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (failingLead && /^(TransactWrite|PutItem)/.test(context.commandName ?? '') && JSON.stringify(args.input).includes(`"${leadPk(failingLead)}"`)) {
            throw new Error(`injected failure: DynamoDB unreachable while writing ${failingLead}`);
          }
          return next(args);
        },
        { step: 'initialize', name: 'failOneLead' },
      );
      store = new LeadStore({ client: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }), tableName: stack.tableName });
    }
    return { ...real, store };
  }

  beforeAll(async () => {
    stack = await startTestStack({
      env: { SENDGRID_WEBHOOK_PUBLIC_KEY: publicKey, LOG_LEVEL: 'SILENT' },
      // The route's own handler code, on the pipeline above.
      loadHandler: (name) => (name === 'ingest-sendgrid' ? webhookHandler(sendgrid, () => ({ pipeline: pipelineWithFailingLead() })) : undefined),
    });
    url = stack.urls['POST /webhooks/sendgrid']!;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('answers 503, keeps the other leads, and the redelivery completes the batch with the scores of a clean run', async () => {
    const leads = 40;
    const start = nowSeconds() - 900;
    // Two batches with the same events, times and lead domains: one stored cleanly, one through the failure.
    const clean = batch('clean', 200, leads, start);
    const retried = batch('retry', 200, leads, start);
    const victim = 'retry-7@acme-logistics.com';
    const victimEvents = retried.filter((event) => event.email === victim).length;
    expect(victimEvents).toBe(5);
    const readStore = storeOf(stack);

    expect(await post(url, delivery(clean))).toMatchObject({ status: 200, body: { stored: 200 } });

    failingLead = victim;
    const failed = delivery(retried);
    const answer = await post(url, failed);
    // Too big for one transaction (200 events): stored lead by lead, and the 503 says how much was stored.
    expect(answer).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable', stored: 200 - victimEvents } });
    expect(answer.body.detail).toMatch(/1 lead\(s\) not stored just now \(39 stored\), e\.g\. lead:[0-9a-f]{12}; retry later/);
    expect(answer.body.detail).not.toContain(victim);
    // Every other lead was stored; the failed lead's transaction left nothing behind.
    expect(await readStore.getLead(victim)).toBeUndefined();
    expect(await readStore.listEvents(victim)).toEqual([]);
    for (let index = 0; index < leads; index++) {
      const email = `retry-${index}@acme-logistics.com`;
      if (email === victim) continue;
      expect({ email, events: (await readStore.getLead(email))?.eventCount }).toEqual({ email, events: 5 });
    }

    // SendGrid retries the same signed bytes; DynamoDB is back.
    failingLead = undefined;
    expect(await post(url, failed)).toMatchObject({ status: 200, body: { received: 200, stored: victimEvents, duplicates: 200 - victimEvents } });

    const at = new Date();
    for (let index = 0; index < leads; index++) {
      const [cleanLead, retriedLead] = await Promise.all([
        readStore.getLead(`clean-${index}@acme-logistics.com`),
        readStore.getLead(`retry-${index}@acme-logistics.com`),
      ]);
      const summary = (lead: typeof cleanLead) => ({
        status: lead!.status,
        eventCount: lead!.eventCount,
        behavior: lead!.behavior,
        score: scoreLead(lead!, defaultModel, at),
      });
      expect({ index, ...summary(retriedLead) }).toEqual({ index, ...summary(cleanLead) });
    }
    expect((await readStore.listEvents(victim)).length).toBe(victimEvents);
  });

  it('a batch that fits one transaction is all or nothing: the 503 stores nothing of any lead, the retry stores it all', async () => {
    // Three leads of two events each: 6 event items, 3 raw, 3 leads, one transaction.
    const small = batch('atomic', 6, 3, nowSeconds() - 300);
    const victim = 'atomic-1@acme-logistics.com';
    const readStore = storeOf(stack);
    const before = await countItems(stack.dynamodb, stack.tableName);

    failingLead = victim;
    const signed = delivery(small);
    expect(await post(url, signed)).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    for (const email of ['atomic-0@acme-logistics.com', victim, 'atomic-2@acme-logistics.com']) expect(await readStore.getLead(email)).toBeUndefined();

    failingLead = undefined;
    expect(await post(url, signed)).toMatchObject({ status: 200, body: { received: 6, stored: 6, duplicates: 0 } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before + 12);
    expect(await post(url, signed)).toMatchObject({ status: 200, body: { stored: 0, duplicates: 6 } });
    for (const email of ['atomic-0@acme-logistics.com', victim, 'atomic-2@acme-logistics.com']) expect((await readStore.getLead(email))?.eventCount).toBe(2);
  });
});

describe('SendGrid route without a usable key', () => {
  const event = () => anOpen('cfg');

  for (const [name, configured] of [
    ['unconfigured (no SENDGRID_WEBHOOK_PUBLIC_KEY)', undefined],
    ['configured with a key that is not a P-256 public key', 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA-not-a-key'],
  ] as const) {
    describe(name, () => {
      let stack: LocalStack;

      beforeAll(async () => {
        stack = await startTestStack({ env: { SENDGRID_WEBHOOK_PUBLIC_KEY: configured, LOG_LEVEL: 'SILENT' } });
      });

      afterAll(async () => {
        await stack?.stop();
      });

      it('answers 404 to a correctly signed delivery and stores nothing', async () => {
        expect(await postCounting(stack, stack.urls['POST /webhooks/sendgrid']!, delivery([event()]))).toMatchObject({
          status: 404,
          body: { error: 'not_found', detail: expect.stringContaining('not configured') },
          added: 0,
        });
      });
    });
  }
});
