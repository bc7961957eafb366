/**
 * HubSpot's own webhook on the embedded local stack: MQLs made through POST /webhooks/events, HubSpot
 * contacts in the HubSpot stand-in, then what sales did in HubSpot (lifecycle stage, lead status)
 * comes back v3-signed and moves the lead. The contact is found through the CRM link the handoff writes,
 * else by its e-mail from HubSpot's API. Bad input is refused with nothing stored.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { countItems, eventsSecret, post, postCounting, postWorkedExample } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, restartedStack, startTestStack } from '../../setup/stack.ts';

const appSecret = 'test-only-hubspot-app-client-secret-7f3a';
const token = 'pat-na1-test-only-0000';

let stack: LocalStack;
let hubspot: HubSpotStandIn;
let hookUrl: string;
let nextEventId = Math.floor(Date.now() / 1000) * 100;

/** A delivery signed as HubSpot signs it (v3), written out from HubSpot's docs, not with the code under test. */
function hubspotDelivery(events: unknown[] | string, options: { url?: string; secret?: string; timestamp?: number; contentType?: string } = {}) {
  const body = typeof events === 'string' ? events : JSON.stringify(events);
  const timestamp = String(options.timestamp ?? Date.now());
  const signature = createHmac('sha256', options.secret ?? appSecret)
    .update(`POST${options.url ?? hookUrl}${body}${timestamp}`)
    .digest('base64');
  return {
    body,
    headers: { 'content-type': options.contentType ?? 'application/json', 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': timestamp },
  };
}

function propertyChange(objectId: string, propertyName: string, propertyValue: string, extra: Record<string, unknown> = {}) {
  nextEventId += 1;
  return {
    eventId: nextEventId,
    subscriptionId: 2201,
    portalId: 62515,
    appId: 54321,
    occurredAt: Date.now() - 1000,
    subscriptionType: 'contact.propertyChange',
    attemptNumber: 0,
    objectId: Number(objectId),
    changeSource: 'CRM_UI',
    sourceId: 'userId:45678',
    propertyName,
    propertyValue,
    ...extra,
  };
}

/** A fresh MQL through POST /webhooks/events (the seeds' worked example), and its contact in HubSpot. */
async function seedMql(): Promise<{ email: string; contactId: string }> {
  const email = `dana.${randomUUID().slice(0, 8)}@acme-logistics.com`;
  await postWorkedExample(stack.urls['POST /webhooks/events']!, email, new Date(Date.now() - 60_000));
  await stack.drain();
  expect((await leadView(stack, email)).status).toBe('mql');
  hubspot.setStage(email, 'marketingqualifiedlead');
  return { email, contactId: hubspot.contacts().get(email)!.id };
}

/** The CRM link the handoff writes when HubSpot names the contact it upserted (the store contract of issue 5). */
async function link(contactId: string, leadId: string): Promise<void> {
  await stack.dynamodb.send(
    new PutItemCommand({
      TableName: stack.tableName,
      Item: { pk: { S: `CRM#hubspot#${contactId}` }, sk: { S: 'LINK' }, kind: { S: 'crm-link' }, leadId: { S: leadId } },
    }),
  );
}

const lookups = () => hubspot.calls.filter((call) => call.method === 'GET' && call.path.startsWith('/crm/v3/objects/contacts/'));

beforeAll(async () => {
  hubspot = await startHubSpotStandIn({ token });
  stack = await startTestStack({
    env: {
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      HUBSPOT_APP_SECRET: appSecret,
      HUBSPOT_ACCESS_TOKEN: token,
      HUBSPOT_BASE_URL: hubspot.url,
      LOG_LEVEL: 'SILENT',
    },
  });
  hookUrl = stack.urls['POST /webhooks/hubspot']!;
});

afterAll(async () => {
  await stack?.stop();
  await hubspot?.close();
});

describe('POST /webhooks/hubspot: sales moves a linked contact in HubSpot', () => {
  it('lifecycle stage to SQL makes the lead sql, then customer makes it won; GET /leads shows the outcome', async () => {
    const { email, contactId } = await seedMql();
    await link(contactId, email);

    const sql = await post(hookUrl, hubspotDelivery([propertyChange(contactId, 'lifecyclestage', 'salesqualifiedlead')]));
    expect(sql).toMatchObject({ status: 200, body: { received: 1, stored: 1, duplicates: 0, ignored: 0 } });
    expect(await leadView(stack, email)).toMatchObject({ status: 'sql', outcome: { type: 'sql', source: 'hubspot' } });

    const won = await post(hookUrl, hubspotDelivery([propertyChange(contactId, 'lifecyclestage', 'customer')]));
    expect(won).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(await leadView(stack, email)).toMatchObject({ status: 'won', outcome: { type: 'won', source: 'hubspot' } });
    // Linked: HubSpot's API was not asked.
    expect(lookups()).toEqual([]);
  });

  it('lead status BAD_TIMING set by a salesperson recycles the MQL with the reason wrong_timing', async () => {
    const { email, contactId } = await seedMql();
    await link(contactId, email);

    const answer = await post(hookUrl, hubspotDelivery([propertyChange(contactId, 'hs_lead_status', 'BAD_TIMING')]));
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    const view = await leadView(stack, email);
    expect(view).toMatchObject({ status: 'recycled', outcome: { type: 'mql_rejected', reason: 'wrong_timing', source: 'hubspot' } });
  });

  it("the same BAD_TIMING written by the engine's own handoff (changeSource INTEGRATION) is its own echo: ignored", async () => {
    const { email, contactId } = await seedMql();
    await link(contactId, email);
    const before = await countItems(stack.dynamodb, stack.tableName);

    const answer = await post(
      hookUrl,
      hubspotDelivery([propertyChange(contactId, 'hs_lead_status', 'BAD_TIMING', { changeSource: 'INTEGRATION', sourceId: '54321' })]),
    );
    expect(answer).toMatchObject({ status: 200, body: { stored: 0, ignored: 1, ignoredReasons: { own_write: 1 } } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect((await leadView(stack, email)).status).toBe('mql');
  });

  it('the same event delivered again (HubSpot retries) counts once', async () => {
    const { email, contactId } = await seedMql();
    await link(contactId, email);
    const change = propertyChange(contactId, 'lifecyclestage', 'opportunity');

    expect(await post(hookUrl, hubspotDelivery([change]))).toMatchObject({ status: 200, body: { stored: 1, duplicates: 0 } });
    const before = await countItems(stack.dynamodb, stack.tableName);
    expect(await post(hookUrl, hubspotDelivery([{ ...change, attemptNumber: 1 }]))).toMatchObject({ status: 200, body: { stored: 0, duplicates: 1 } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(await leadView(stack, email)).toMatchObject({ status: 'sql', eventCount: 4 });
  });

  it('a deletion and stage changes that are no outcome are acknowledged with their reasons and store nothing', async () => {
    const { contactId, email } = await seedMql();
    await link(contactId, email);
    const before = await countItems(stack.dynamodb, stack.tableName);

    const answer = await post(
      hookUrl,
      hubspotDelivery([
        { ...propertyChange(contactId, 'x', 'y'), subscriptionType: 'contact.deletion', propertyName: undefined, propertyValue: undefined },
        propertyChange(contactId, 'lifecyclestage', 'lead'),
        propertyChange(contactId, 'firstname', 'Dana'),
      ]),
    );
    expect(answer).toMatchObject({
      status: 200,
      body: { received: 3, stored: 0, ignored: 3, ignoredReasons: { contact_deleted: 1, not_an_outcome: 1, unmapped_property: 1 } },
    });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
  });
});

describe('POST /webhooks/hubspot: a contact the handoff never linked', () => {
  it("is found by its e-mail through HubSpot's API (Bearer token), and the lead moves", async () => {
    const { email, contactId } = await seedMql();
    const before = lookups().length;

    const answer = await post(hookUrl, hubspotDelivery([propertyChange(contactId, 'hs_lead_status', 'IN_PROGRESS')]));
    expect(answer).toMatchObject({ status: 200, body: { stored: 1 } });
    expect(lookups().slice(before)).toEqual([expect.objectContaining({ path: `/crm/v3/objects/contacts/${contactId}`, status: 200 })]);
    expect(await leadView(stack, email)).toMatchObject({ status: 'sql', outcome: { type: 'mql_accepted' } });
  });

  it('a contact HubSpot does not know (404) and a contact that never came through the engine are ignored: 200, nothing stored', async () => {
    hubspot.setStage('someone.else@acme-logistics.com', 'lead');
    const stranger = hubspot.contacts().get('someone.else@acme-logistics.com')!.id;
    const before = await countItems(stack.dynamodb, stack.tableName);

    const answer = await post(
      hookUrl,
      hubspotDelivery([propertyChange('999999999', 'lifecyclestage', 'customer'), propertyChange(stranger, 'lifecyclestage', 'customer')]),
    );
    expect(answer).toMatchObject({ status: 200, body: { stored: 0, ignored: 2, ignoredReasons: { unknown_contact: 1, unknown_lead: 1 } } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    // An outcome does not invent a lead for a HubSpot contact we never scored.
    expect((await fetch(`${stack.baseUrl}/leads/${encodeURIComponent('someone.else@acme-logistics.com')}`)).status).toBe(404);
  });

  it('HubSpot down during the lookup: 503 so HubSpot retries; the linked change is stored, and the retry stores the rest once', async () => {
    const linked = await seedMql();
    await link(linked.contactId, linked.email);
    const unlinked = await seedMql();
    const events = [
      propertyChange(linked.contactId, 'lifecyclestage', 'salesqualifiedlead'),
      propertyChange(unlinked.contactId, 'lifecyclestage', 'salesqualifiedlead'),
    ];

    hubspot.failNext(1, 503);
    const first = await post(hookUrl, hubspotDelivery(events));
    expect(first).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable', stored: 1 } });
    expect((await leadView(stack, linked.email)).status).toBe('sql');
    expect((await leadView(stack, unlinked.email)).status).toBe('mql');

    const retry = await post(hookUrl, hubspotDelivery(events.map((event) => ({ ...event, attemptNumber: 1 }))));
    expect(retry).toMatchObject({ status: 200, body: { stored: 1, duplicates: 1 } });
    expect((await leadView(stack, unlinked.email)).status).toBe('sql');
  });

  it('HubSpot refusing the token (401): 503 and nothing stored, so the outcome is not lost while the token is fixed', async () => {
    const { email, contactId } = await seedMql();
    const before = await countItems(stack.dynamodb, stack.tableName);

    hubspot.failNext(1, 401);
    const answer = await post(hookUrl, hubspotDelivery([propertyChange(contactId, 'lifecyclestage', 'customer')]));
    expect(answer).toMatchObject({ status: 503, body: { stored: 0 } });
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect((await leadView(stack, email)).status).toBe('mql');
  });
});

describe('POST /webhooks/hubspot: bad input stores nothing', () => {
  const anEvent = () => [propertyChange('424242', 'lifecyclestage', 'customer')];
  const cases: [string, () => { body: string; headers: Record<string, string> }, number, string][] = [
    ['no signature headers', () => ({ body: JSON.stringify(anEvent()), headers: { 'content-type': 'application/json' } }), 401, 'unauthorized'],
    ['a signature made with another secret', () => hubspotDelivery(anEvent(), { secret: 'not-the-app-secret' }), 401, 'unauthorized'],
    [
      'a body changed after signing',
      () => {
        const delivery = hubspotDelivery(anEvent());
        return { ...delivery, body: delivery.body.replace('customer', 'opportunity') };
      },
      401,
      'unauthorized',
    ],
    ['a signature for another URL', () => hubspotDelivery(anEvent(), { url: 'https://hooks.example.com/webhooks/hubspot' }), 401, 'unauthorized'],
    ['a timestamp six minutes old (a replay)', () => hubspotDelivery(anEvent(), { timestamp: Date.now() - 6 * 60_000 }), 401, 'unauthorized'],
    ['the wrong content type', () => hubspotDelivery(anEvent(), { contentType: 'text/plain' }), 400, 'unsupported_media_type'],
    ['malformed JSON', () => hubspotDelivery('[{"eventId": 1,'), 400, 'bad_request'],
    ['an object instead of the events array', () => hubspotDelivery(JSON.stringify({ eventId: 1 })), 400, 'bad_request'],
    ['an event without its time', () => hubspotDelivery([{ ...anEvent()[0], occurredAt: undefined }]), 400, 'bad_request'],
    ['a body over 1 MiB', () => hubspotDelivery([{ ...anEvent()[0], propertyValue: 'x'.repeat(1024 * 1024) }]), 413, 'payload_too_large'],
  ];

  it.each(cases)('%s: %i and nothing stored', async (_, delivery, status, error) => {
    expect(await postCounting(stack, hookUrl, delivery())).toMatchObject({ status, body: { error }, added: 0 });
  });
});

describe('POST /webhooks/hubspot: not configured', () => {
  const bare = restartedStack(() => stack, { env: { HUBSPOT_APP_SECRET: undefined, LOG_LEVEL: 'SILENT' } });

  it('answers 404 to a correctly signed delivery and stores nothing', async () => {
    const url = bare().urls['POST /webhooks/hubspot']!;
    expect(await postCounting(bare(), url, hubspotDelivery([propertyChange('1', 'lifecyclestage', 'customer')], { url }))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
      added: 0,
    });
  });
});
