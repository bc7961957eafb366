import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import fixture from '../../fixtures/hubspot/hubspot_contacts.json' with { type: 'json' };

const token = 'pat-na1-00000000-fake-4b2c-9d3e-0123456789ab';
let hubspot: HubSpotStandIn;

beforeEach(async () => {
  hubspot = await startHubSpotStandIn({ token });
});
afterEach(async () => {
  await hubspot.close();
});

async function call(method: string, path: string, body?: unknown, bearer = token) {
  const response = await fetch(`${hubspot.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, body: json };
}

const upsert = (inputs: unknown[]) => call('POST', '/crm/v3/objects/contacts/batch/upsert', { inputs });
const byEmail = (email: string, properties: Record<string, string>) => ({ idProperty: 'email', id: email, properties });

describe('the HubSpot stand-in', () => {
  it('upserts by e-mail: creates, then updates the same contact, keeping a history of each property', async () => {
    const created = await upsert([byEmail('Dana.Whitfield@example.com', { firstname: 'Dana', lifecyclestage: 'lead' })]);
    expect(created.status).toBe(200);
    expect(created.body.results[0]).toMatchObject({ new: true, properties: { email: 'dana.whitfield@example.com', firstname: 'Dana' } });
    const updated = await upsert([byEmail('dana.whitfield@example.com', { lifecyclestage: 'marketingqualifiedlead' })]);
    expect(updated.body.results[0]).toMatchObject({ new: false, id: created.body.results[0].id });
    const contact = hubspot.contacts().get('dana.whitfield@example.com')!;
    expect(contact.properties.lifecyclestage).toBe('marketingqualifiedlead');
    expect(contact.history.filter((change) => change.property === 'lifecyclestage').map((change) => [change.from, change.to])).toEqual([
      [null, 'lead'],
      ['lead', 'marketingqualifiedlead'],
    ]);
  });

  it('answers 207 with the bad row in errors[] (the fixture shape) and 400 when every row is bad', async () => {
    const { inputs } = fixture.batch_upsert_by_email.request.body;
    const good = { ...inputs[0]!, properties: { firstname: 'Dana' } };
    const partial = await upsert([good, byEmail('luis.ortega@example', { firstname: 'Luis' })]);
    expect(partial.status).toBe(207);
    expect(partial.body.numErrors).toBe(1);
    expect(partial.body.errors[0]).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR', context: { ids: ['luis.ortega@example'] } });
    expect(partial.body.errors[0].message).toContain('INVALID_EMAIL');
    const allBad = await upsert([byEmail('not-an-email', { firstname: 'X' })]);
    expect(allBad.status).toBe(400);
    expect(allBad.body.context.ids).toEqual(['not-an-email']);
  });

  it('refuses an unknown property with PROPERTY_DOESNT_EXIST until it is created', async () => {
    const refused = await upsert([byEmail('a@example.com', { mql_score: '72' })]);
    expect(refused.status).toBe(400);
    expect(refused.body.category).toBe('VALIDATION_ERROR');
    expect(refused.body.message).toContain('PROPERTY_DOESNT_EXIST');
    expect(hubspot.contacts().size).toBe(0);
    const group = await call('POST', '/crm/v3/properties/contacts/groups', { name: 'mql_engine', label: 'MQL engine' });
    expect(group.status).toBe(201);
    const property = await call('POST', '/crm/v3/properties/contacts', {
      name: 'mql_score',
      label: 'MQL score',
      type: 'number',
      fieldType: 'number',
      groupName: 'mql_engine',
    });
    expect(property.status).toBe(201);
    expect(
      (
        await call('POST', '/crm/v3/properties/contacts', {
          name: 'mql_score',
          label: 'MQL score',
          type: 'number',
          fieldType: 'number',
          groupName: 'mql_engine',
        })
      ).status,
    ).toBe(409);
    expect((await upsert([byEmail('a@example.com', { mql_score: '72' })])).status).toBe(200);
    expect((await upsert([byEmail('a@example.com', { mql_score: 'high' })])).status).toBe(400);
  });

  it('never moves lifecyclestage backward, but accepts a clear', async () => {
    hubspot.setStage('won@example.com', 'customer');
    const back = await upsert([byEmail('won@example.com', { lifecyclestage: 'marketingqualifiedlead' })]);
    expect(back.status).toBe(400);
    expect(back.body.message).toContain('backward');
    expect(hubspot.contacts().get('won@example.com')!.properties.lifecyclestage).toBe('customer');
    expect((await upsert([byEmail('won@example.com', { lifecyclestage: '' })])).status).toBe(200);
    expect((await upsert([byEmail('won@example.com', { lifecyclestage: 'lead' })])).status).toBe(200);
  });

  it('checks enumeration options (hs_lead_status)', async () => {
    const bad = await upsert([byEmail('a@example.com', { hs_lead_status: 'RECYCLED' })]);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('INVALID_OPTION');
    expect((await upsert([byEmail('a@example.com', { hs_lead_status: 'BAD_TIMING' })])).status).toBe(200);
  });

  it('batch-reads by e-mail, answering 207 OBJECT_NOT_FOUND for the unknown ones', async () => {
    hubspot.setStage('known@example.com', 'opportunity');
    const read = await call('POST', '/crm/v3/objects/contacts/batch/read', {
      idProperty: 'email',
      properties: ['lifecyclestage', 'hs_lead_status'],
      inputs: [{ id: 'known@example.com' }, { id: 'unknown@example.com' }],
    });
    expect(read.status).toBe(207);
    expect(read.body.results).toHaveLength(1);
    expect(read.body.results[0].properties).toMatchObject({ email: 'known@example.com', lifecyclestage: 'opportunity', hs_lead_status: null });
    expect(read.body.errors[0]).toMatchObject({ category: 'OBJECT_NOT_FOUND', context: { ids: ['unknown@example.com'] } });
    const one = await call('GET', `/crm/v3/objects/contacts/${read.body.results[0].id}?properties=email`);
    expect(one.body.properties.email).toBe('known@example.com');
  });

  it('refuses more than 100 inputs, a missing or wrong token (401 INVALID_AUTHENTICATION), and a body that is not JSON', async () => {
    const many = Array.from({ length: 101 }, (_, index) => byEmail(`p${index}@example.com`, { firstname: 'P' }));
    expect((await upsert(many)).status).toBe(400);
    const wrong = await call('POST', '/crm/v3/objects/contacts/batch/upsert', { inputs: [] }, 'pat-na1-wrong');
    expect(wrong.status).toBe(401);
    expect(wrong.body.category).toBe((fixture.errors.find((error) => error.case === 'bad_token')!.body as { category: string }).category);
    const notJson = await fetch(`${hubspot.url}/crm/v3/objects/contacts/batch/upsert`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{',
    });
    expect(notJson.status).toBe(400);
    expect(hubspot.contacts().size).toBe(0);
  });

  it('rate-limits with a rolling ten-second window and HubSpot’s 429 body and headers', async () => {
    hubspot.rateLimit({ perTenSeconds: 2 });
    const answers = [];
    for (let index = 0; index < 3; index += 1) answers.push(await upsert([byEmail(`r${index}@example.com`, { firstname: 'R' })]));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
    expect(answers[2]!.body).toMatchObject({ errorType: 'RATE_LIMIT', policyName: 'TEN_SECONDLY_ROLLING' });
    expect(answers[2]!.headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('10000');
    expect(answers[2]!.headers.get('x-hubspot-ratelimit-remaining')).toBe('0');
    expect(hubspot.contacts().has('r2@example.com')).toBe(false);
  });

  it('a test may shorten the rolling window: the interval header says it, and the limit clears after it', async () => {
    hubspot.rateLimit({ perTenSeconds: 1, intervalMs: 300 });
    const first = await upsert([byEmail('s0@example.com', { firstname: 'S' })]);
    const refused = await upsert([byEmail('s1@example.com', { firstname: 'S' })]);
    expect([first.status, refused.status]).toEqual([200, 429]);
    expect(refused.headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('300');
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await upsert([byEmail('s1@example.com', { firstname: 'S' })])).status).toBe(200);
    // Lifting the limit restores HubSpot's ten seconds.
    hubspot.rateLimit(undefined);
    expect((await upsert([byEmail('s2@example.com', { firstname: 'S' })])).headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('10000');
  });

  it('answers 503 during an outage and scripted failures next, then recovers', async () => {
    hubspot.failNext(1, 429, fixture.errors.find((error) => error.case === 'daily_limit')!.body);
    const daily = await upsert([byEmail('a@example.com', { firstname: 'A' })]);
    expect(daily.status).toBe(429);
    expect(daily.body.policyName).toBe('DAILY');
    hubspot.outage(60_000);
    const down = await upsert([byEmail('a@example.com', { firstname: 'A' })]);
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('error');
    hubspot.outage(0);
    expect((await upsert([byEmail('a@example.com', { firstname: 'A' })])).status).toBe(200);
    expect(hubspot.calls.map((entry) => entry.status)).toEqual([429, 503, 200]);
  });
});
