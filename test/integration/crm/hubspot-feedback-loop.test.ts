/**
 * The whole loop through HubSpot on the local stack: an MQL delivered by the handoff (CRM_ADAPTER=hubspot)
 * to the HubSpot stand-in, which names the contact; sales then moves that contact in HubSpot and HubSpot's
 * webhook, naming the contact by its record id only, moves the right lead. No link is written by the
 * test: the handoff's CRM link (`CRM#hubspot#<id>`) is what maps the contact back.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupHubSpot } from '../../../lib/crm/hubspot-setup.ts';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { eventsSecret, post, postWorkedExample } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadView, startTestStack } from '../../setup/stack.ts';

const appSecret = 'test-only-hubspot-app-client-secret-loop';
const token = 'pat-na1-test-only-loop';

let stack: LocalStack;
let hubspot: HubSpotStandIn;

function hubspotDelivery(url: string, events: unknown[]) {
  const body = JSON.stringify(events);
  const timestamp = String(Date.now());
  const signature = createHmac('sha256', appSecret).update(`POST${url}${body}${timestamp}`).digest('base64');
  return { body, headers: { 'content-type': 'application/json', 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': timestamp } };
}

beforeAll(async () => {
  hubspot = await startHubSpotStandIn({ token });
  await setupHubSpot({ token, baseUrl: hubspot.url });
  stack = await startTestStack({
    env: {
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      CRM_ADAPTER: 'hubspot',
      HUBSPOT_ACCESS_TOKEN: token,
      HUBSPOT_BASE_URL: hubspot.url,
      HUBSPOT_APP_SECRET: appSecret,
      LOG_LEVEL: 'SILENT',
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await hubspot?.close();
});

describe('MQL to HubSpot, and what sales does there back to the lead', () => {
  it('the contact the handoff created is moved to customer by sales: the lead is won, without asking HubSpot who it is', async () => {
    const email = `dana.${randomUUID().slice(0, 8)}@acme-logistics.com`;
    await postWorkedExample(stack.urls['POST /webhooks/events']!, email, new Date(Date.now() - 60_000));
    await stack.drain();
    const contact = hubspot.contacts().get(email);
    expect(contact?.properties.lifecyclestage).toBe('marketingqualifiedlead');

    // Sales closes the deal in HubSpot; HubSpot tells the app.
    hubspot.setStage(email, 'customer');
    const lookupsBefore = hubspot.calls.filter((call) => call.method === 'GET').length;
    const url = stack.urls['POST /webhooks/hubspot']!;
    const change = {
      eventId: Date.now(),
      subscriptionId: 2201,
      portalId: 62515,
      appId: 54321,
      occurredAt: Date.now(),
      subscriptionType: 'contact.propertyChange',
      attemptNumber: 0,
      objectId: Number(contact!.id),
      changeSource: 'CRM_UI',
      sourceId: 'userId:45678',
      propertyName: 'lifecyclestage',
      propertyValue: 'customer',
    };
    expect(await post(url, hubspotDelivery(url, [change]))).toMatchObject({ status: 200, body: { stored: 1 } });

    expect(await leadView(stack, email)).toMatchObject({ status: 'won', outcome: { type: 'won', source: 'hubspot' } });
    expect(hubspot.calls.filter((call) => call.method === 'GET').length).toBe(lookupsBefore);
  });
});
