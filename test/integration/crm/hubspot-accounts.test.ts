/**
 * Account handoffs in HubSpot against the stand-in (lib/local/stand-ins/hubspot-companies.ts): a company upserted
 * by the unique `mql_account_key` (never by `domain`, which HubSpot refuses as an upsert key), an existing company
 * of the domain taken over rather than duplicated, a group account without a domain, score and status properties,
 * default associations to the members' contacts, a 207 partial failure, a 429, and the setup missing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CrmAdapter, CrmDeliveryError, DeliveryResult } from '../../../lib/crm/adapter.ts';
import { hubSpotAdapter } from '../../../lib/crm/hubspot.ts';
import { formatAccountReasons } from '../../../lib/crm/hubspot-companies.ts';
import { setupHubSpot } from '../../../lib/crm/hubspot-setup.ts';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { accountRecord, laterAccountRecord } from '../../setup/accounts.ts';
import { handoffRecord } from '../../setup/events.ts';

const token = 'pat-na1-00000000-fake-4b2c-9d3e-0123456789ab';
let hubspot: HubSpotStandIn;
let adapter: CrmAdapter;
const now = new Date();

beforeEach(async () => {
  hubspot = await startHubSpotStandIn({ token });
  adapter = hubSpotAdapter({ token, baseUrl: hubspot.url });
});
afterEach(async () => {
  await hubspot.close();
});

const companies = () => [...hubspot.companies.companies().values()];

function failure(result: DeliveryResult | undefined): CrmDeliveryError {
  if (!result || result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
  return result.error;
}

/** The members' contacts, delivered as leads first: their contact ids by lead id, as the ledger's receipts keep them. */
async function contactsOf(leadIds: readonly string[]): Promise<Map<string, string>> {
  const results = await adapter.deliverBatch!(
    leadIds.map((leadId) => handoffRecord(leadId)),
    now,
  );
  return new Map(
    results.map((result, index) => {
      if (!result.ok || !result.receipt.externalId) throw new Error('a member contact was not created');
      return [leadIds[index]!, result.receipt.externalId];
    }),
  );
}

describe('HubSpot companies for account handoffs', () => {
  it('an account.mqa creates a company keyed by mql_account_key, with its domain, name, score and status, associated with the members already handed off', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const record = accountRecord('acme-robotics.com', { name: 'Acme Robotics' });
    const members = record.members.map((member) => member.leadId);
    const contacts = await contactsOf(members.slice(0, 2));
    const receipt = await adapter.deliver(record, now, { memberCrmIds: contacts });

    expect(companies()).toHaveLength(1);
    const [company] = companies();
    expect(company!.properties).toMatchObject({
      mql_account_key: 'acme-robotics.com',
      domain: 'acme-robotics.com',
      name: 'Acme Robotics',
      mql_account_score: String(record.score.total),
      mql_account_status: 'mqa',
      mql_account_qualified_at: String(Date.parse(record.occurredAt)),
    });
    expect(company!.properties.mql_account_reasons).toBe(formatAccountReasons(record));
    expect(company!.properties.mql_account_reasons).toContain(`score ${record.score.total} = fit ${record.score.fit}`);
    expect([...(hubspot.companies.associations().get(company!.id) ?? [])].sort()).toEqual([...contacts.values()].sort());
    expect(receipt).toMatchObject({ status: 200, externalId: company!.id, created: true });
    expect(receipt.note).toContain('associated with 2 member contact(s)');
    expect(receipt.note).toContain('1 member(s) without a contact handed off to HubSpot yet');
    // Read by key, search by domain (none), create, associate.
    const paths = hubspot.calls.filter((call) => call.path.includes('/objects/companies') || call.path.includes('/associations/')).map((call) => call.path);
    expect(paths).toEqual([
      '/crm/v3/objects/companies/batch/read',
      '/crm/v3/objects/companies/search',
      '/crm/v3/objects/companies/batch/upsert',
      '/crm/v4/associations/companies/contacts/batch/associate/default',
    ]);
  });

  it('a redelivered account and its later account.recycled update the same company: never a second one, its name kept', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const record = accountRecord('globex.example', { name: 'Globex' });
    await adapter.deliver(record, now);
    const [company] = companies();
    // Sales renamed it in HubSpot.
    company!.properties.name = 'Globex Corporation';
    const again = await adapter.deliver(record, now);
    expect(again).toMatchObject({ externalId: company!.id, created: false });
    const recycled = laterAccountRecord(record, 'account.recycled', 86_400_000);
    const receipt = await adapter.deliver(recycled, now);
    expect(receipt.externalId).toBe(company!.id);
    expect(companies()).toHaveLength(1);
    expect(company!.properties).toMatchObject({ name: 'Globex Corporation', mql_account_status: 'recycled', mql_account_key: 'globex.example' });
    expect(company!.properties.mql_account_reasons).toMatch(/^Recycled /);
  });

  it('two records of one account in one batch go in two calls, in order: one company, the later status', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const mqa = accountRecord('twice.example');
    const results = await adapter.deliverBatch!([mqa, laterAccountRecord(mqa, 'account.recycled', 60_000)], now);
    expect(results.map((result) => result.ok)).toEqual([true, true]);
    expect(companies()).toHaveLength(1);
    expect(companies()[0]!.properties.mql_account_status).toBe('recycled');
    expect(hubspot.calls.some((call) => call.status === 400)).toBe(false);
  });

  it('an existing company with the domain (created by sales, no key) is taken over, the oldest of two, not duplicated', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const oldest = hubspot.companies.create({ name: 'Initech (sales)', domain: 'initech.example', createdate: '2020-01-01T00:00:00.000Z' });
    hubspot.companies.create({ name: 'Initech duplicate', domain: 'initech.example', createdate: '2024-01-01T00:00:00.000Z' });
    const receipt = await adapter.deliver(accountRecord('initech.example'), now);
    expect(receipt.externalId).toBe(oldest);
    expect(receipt.note).toContain('took over the existing company of initech.example');
    expect(companies()).toHaveLength(2);
    expect(hubspot.companies.companies().get(oldest)!.properties).toMatchObject({
      name: 'Initech (sales)',
      mql_account_key: 'initech.example',
      mql_account_status: 'mqa',
    });
  });

  it('a group account without a domain is a company keyed group:<groupId>, named by the group', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const record = accountRecord('umbrella.example', { groupId: 'grp-42', name: 'Umbrella Corp' });
    expect(record.account.domain).toBeUndefined();
    await adapter.deliver(record, now);
    const [company] = companies();
    expect(company!.properties).toMatchObject({ mql_account_key: 'group:grp-42', name: 'Umbrella Corp' });
    expect(company!.properties.domain).toBeUndefined();
    // No domain: no search.
    expect(hubspot.calls.some((call) => call.path.endsWith('/companies/search'))).toBe(false);
  });

  it('a 207: the refused company fails alone (rejected), the other account is delivered; leads in the same batch are delivered too', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const good = accountRecord('good.example');
    const bad = accountRecord('bad.example');
    hubspot.companies.refuse('bad.example');
    const results = await adapter.deliverBatch!([good, handoffRecord('lead@elsewhere.example'), bad], now);
    expect(results[0]).toMatchObject({ ok: true, receipt: { created: true } });
    expect(results[1]).toMatchObject({ ok: true });
    const error = failure(results[2]);
    expect(error.kind).toBe('rejected');
    expect(error.message).toContain('refused this company');
    expect(companies().map((company) => company.properties.mql_account_key)).toEqual(['good.example']);
    expect(hubspot.calls.find((call) => call.path.endsWith('/companies/batch/upsert'))?.status).toBe(207);
  });

  it('a 429 fails every account record of the call as rate_limited with the wait HubSpot asked for; nothing half-written is lost on the retry', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const record = accountRecord('throttled.example');
    hubspot.failNext(1, 429, undefined, { 'retry-after': '2' });
    const [result] = await adapter.deliverBatch!([record], now);
    const error = failure(result);
    expect(error).toMatchObject({ kind: 'rate_limited', retryAfterSeconds: 2, status: 429 });
    expect(companies()).toHaveLength(0);
    const receipt = await adapter.deliver(record, now);
    expect(receipt.created).toBe(true);
    expect(companies()).toHaveLength(1);
  });

  it('without `mql crm setup` the key property does not exist: rejected, naming the command; no company written', async () => {
    const [result] = await adapter.deliverBatch!([accountRecord('nosetup.example')], now);
    const error = failure(result);
    expect(error.kind).toBe('rejected');
    expect(error.message).toContain('npx mql crm setup');
    expect(companies()).toHaveLength(0);
  });

  it('a deleted member contact is left out of the associations, said in the note', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const record = accountRecord('links.example');
    const contacts = await contactsOf([record.members[0]!.leadId]);
    contacts.set(record.members[1]!.leadId, '999999');
    const receipt = await adapter.deliver(record, now, { memberCrmIds: contacts });
    expect(receipt.note).toContain('associated with 1 member contact(s); 1 contact(s) not found');
    expect(receipt.note ?? '').not.toContain('@');
  });
});

describe('the stand-in is as strict as HubSpot about companies', () => {
  const post = (path: string, body: unknown, bearer = token) =>
    fetch(`${hubspot.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('refuses an upsert keyed by domain (not a unique property), a wrong token, an unknown property, a non-JSON body, over 100 inputs', async () => {
    await setupHubSpot({ token, baseUrl: hubspot.url });
    const byDomain = await post('/crm/v3/objects/companies/batch/upsert', { inputs: [{ idProperty: 'domain', id: 'acme.com', properties: { name: 'Acme' } }] });
    expect(byDomain.status).toBe(400);
    expect(await byDomain.json()).toMatchObject({ category: 'VALIDATION_ERROR', message: expect.stringContaining('non-unique 0-2 property domain') });
    expect((await post('/crm/v3/objects/companies/batch/read', { idProperty: 'domain', inputs: [{ id: 'acme.com' }] })).status).toBe(400);
    expect((await post('/crm/v3/objects/companies/batch/read', { inputs: [] }, 'pat-na1-wrong')).status).toBe(401);
    const unknown = await post('/crm/v3/objects/companies/batch/upsert', {
      inputs: [{ idProperty: 'mql_account_key', id: 'acme.com', properties: { no_such_property: '1' } }],
    });
    expect(unknown.status).toBe(207);
    expect(JSON.stringify(await unknown.json())).toContain('PROPERTY_DOESNT_EXIST');
    const notJson = await fetch(`${hubspot.url}/crm/v3/objects/companies/batch/upsert`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'inputs',
    });
    expect(notJson.status).toBe(415);
    const tooMany = await post('/crm/v3/objects/companies/batch/upsert', {
      inputs: Array.from({ length: 101 }, (_, index) => ({ idProperty: 'mql_account_key', id: `k${index}.com`, properties: {} })),
    });
    expect(tooMany.status).toBe(400);
    const badOption = await post('/crm/v3/objects/companies/batch/upsert', {
      inputs: [{ idProperty: 'mql_account_key', id: 'acme.com', properties: { mql_account_status: 'hot' } }],
    });
    expect(JSON.stringify(await badOption.json())).toContain('INVALID_OPTION');
    expect(companies()).toHaveLength(0);
  });

  it('rate limits company calls with the documented headers', async () => {
    hubspot.rateLimit({ perTenSeconds: 1 });
    expect((await post('/crm/v3/objects/companies/search', { filterGroups: [] })).status).toBe(200);
    const limited = await post('/crm/v3/objects/companies/search', { filterGroups: [] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-hubspot-ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('x-hubspot-ratelimit-interval-milliseconds')).toBe('10000');
    expect(await limited.json()).toMatchObject({ policyName: 'TEN_SECONDLY_ROLLING', errorType: 'RATE_LIMIT' });
  });
});
