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
    expect(created.body.results[0]).toMatchObject({ new: true, properties: { firstname: 'Dana', lifecyclestage: 'lead' } });
    expect(hubspot.contacts().get('dana.whitfield@example.com')!.properties.email).toBe('dana.whitfield@example.com');
    const updated = await upsert([byEmail('dana.whitfield@example.com', { lifecyclestage: 'marketingqualifiedlead' })]);
    expect(updated.body.results[0]).toMatchObject({ new: false, id: created.body.results[0].id });
    const contact = hubspot.contacts().get('dana.whitfield@example.com')!;
    expect(contact.properties.lifecyclestage).toBe('marketingqualifiedlead');
    expect(contact.history.filter((change) => change.property === 'lifecyclestage').map((change) => [change.from, change.to])).toEqual([
      [null, 'lead'],
      ['lead', 'marketingqualifiedlead'],
    ]);
  });

  it('keyed by e-mail, is all or nothing: one bad row fails the whole call with a 400 naming no row, and nothing is written', async () => {
    const { inputs } = fixture.batch_upsert_by_email.request.body;
    const good = { ...inputs[0]!, properties: { firstname: 'Dana' } };
    for (const bad of [
      byEmail('luis.ortega@example', { firstname: 'Luis' }),
      byEmail('luis.ortega@example.com', { hs_lead_status: 'RECYCLED' }),
      byEmail('luis.ortega@example.com', { jobtitle: 'x'.repeat(70_000) }),
    ]) {
      const refused = await upsert([good, bad]);
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ status: 'error', category: 'VALIDATION_ERROR' });
      expect(refused.body.context).toBeUndefined();
      expect(JSON.stringify(refused.body)).not.toContain('luis.ortega');
      expect(JSON.stringify(refused.body)).not.toContain('dana.whitfield');
    }
    expect(hubspot.contacts().size).toBe(0);
    expect((await upsert([good])).status).toBe(200);
  });

  it('echoes only what it was sent: the properties sent (with the value held) and the objectWriteTraceId', async () => {
    const answer = await upsert([
      { idProperty: 'email', id: 'a@example.com', objectWriteTraceId: 'trace-a', properties: { email: 'a@example.com', firstname: 'A' } },
      { idProperty: 'email', id: 'b@example.com', objectWriteTraceId: 'trace-b', properties: { mql_score: '7' } },
      { idProperty: 'email', id: 'c@example.com', properties: { lastname: 'C' } },
    ]);
    // mql_score does not exist yet: the whole call is refused.
    expect(answer.status).toBe(400);
    const ok = await upsert([
      { idProperty: 'email', id: 'a@example.com', objectWriteTraceId: 'trace-a', properties: { email: 'a@example.com', firstname: 'A' } },
      { idProperty: 'email', id: 'c@example.com', properties: { lastname: 'C' } },
    ]);
    expect(ok.status).toBe(200);
    expect(ok.body.results[0]).toMatchObject({ objectWriteTraceId: 'trace-a', new: true, properties: { email: 'a@example.com', firstname: 'A' } });
    expect(Object.keys(ok.body.results[0].properties)).toEqual(['email', 'firstname']);
    expect(ok.body.results[1].objectWriteTraceId).toBeUndefined();
    expect(Object.keys(ok.body.results[1].properties)).toEqual(['lastname']);
  });

  it('finds a contact by an additional e-mail: read and upsert keyed by it reach that contact, answered under its primary address', async () => {
    hubspot.setStage('dana@example.com', 'salesqualifiedlead');
    hubspot.addEmail('dana@example.com', 'Dana.W@old-employer.example');
    expect(() => hubspot.addEmail('other@example.com', 'dana.w@old-employer.example')).toThrow();
    const read = await call('POST', '/crm/v3/objects/contacts/batch/read', {
      idProperty: 'email',
      properties: ['email', 'hs_additional_emails', 'lifecyclestage'],
      inputs: [{ id: 'dana.w@old-employer.example' }],
    });
    expect(read.status).toBe(200);
    expect(read.body.results[0].properties).toMatchObject({
      email: 'dana@example.com',
      hs_additional_emails: 'dana.w@old-employer.example',
      lifecyclestage: 'salesqualifiedlead',
    });
    const upserted = await upsert([
      {
        idProperty: 'email',
        id: 'dana.w@old-employer.example',
        objectWriteTraceId: 't1',
        properties: { email: 'dana.w@old-employer.example', jobtitle: 'CTO' },
      },
    ]);
    expect(upserted.status).toBe(200);
    expect(upserted.body.results[0]).toMatchObject({ new: false, objectWriteTraceId: 't1', properties: { email: 'dana@example.com', jobtitle: 'CTO' } });
    expect([...hubspot.contacts().keys()]).toEqual(['dana@example.com', 'other@example.com']);
    expect(hubspot.contacts().get('dana@example.com')!.properties.jobtitle).toBe('CTO');
    // Two inputs naming one contact are duplicates, refused as a whole.
    const twice = await upsert([byEmail('dana@example.com', { firstname: 'D' }), byEmail('dana.w@old-employer.example', { firstname: 'D' })]);
    expect(twice.status).toBe(400);
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

  it('silently keeps a later lifecyclestage when an earlier one is written (200, the kept stage in the answer), but accepts a clear', async () => {
    hubspot.setStage('won@example.com', 'customer');
    const back = await upsert([byEmail('won@example.com', { lifecyclestage: 'marketingqualifiedlead', firstname: 'W' })]);
    expect(back.status).toBe(200);
    expect(back.body.results[0].properties).toEqual({ lifecyclestage: 'customer', firstname: 'W' });
    expect(hubspot.contacts().get('won@example.com')!.properties.lifecyclestage).toBe('customer');
    expect(hubspot.contacts().get('won@example.com')!.properties.firstname).toBe('W');
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
