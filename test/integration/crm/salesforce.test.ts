/**
 * The Salesforce adapter against the local Salesforce stand-in (lib/local/salesforce-stand-in.ts), which
 * speaks the token endpoint and the Lead upsert with Salesforce's statuses and error arrays.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CrmAdapter, HandoffRecord } from '../../../lib/crm/adapter.ts';
import { CrmDeliveryError } from '../../../lib/crm/adapter.ts';
import { CrmConfigurationError, crmAdapterFromEnv } from '../../../lib/crm/index.ts';
import { resetSalesforceSessions, salesforceAdapter } from '../../../lib/crm/salesforce.ts';
import { parseApiUsage, salesforceReasonsText, salesforceSettingsFromEnv } from '../../../lib/crm/salesforce-fields.ts';
import type { SalesforceStandIn, SalesforceStandInOptions } from '../../../lib/local/stand-ins/salesforce.ts';
import { standInCustomFields, startSalesforceStandIn } from '../../../lib/local/stand-ins/salesforce.ts';
import { logger } from '../../../lib/runtime/logger.ts';

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/salesforce/salesforce_lead_upsert.json', import.meta.url), 'utf8')) as Record<string, any>;

const clientId = '3MVG9FAKECLIENTID';
const clientSecret = 'FAKESECRET-test-only-9f8e7d';
const externalIdField = 'MQL_External_Id__c';
const now = new Date('2024-05-14T16:05:13.000Z');

const mql: HandoffRecord = {
  type: 'lead.mql',
  id: 'handoff_dana.whitfield@example.com_2024-05-14T16:05:12.000Z',
  occurredAt: '2024-05-14T16:05:12.000Z',
  leadId: 'dana.whitfield@example.com',
  lead: {
    email: 'dana.whitfield@example.com',
    firstName: 'Dana',
    lastName: 'Whitfield',
    company: 'Acme Logistics',
    jobTitle: 'Director of IT',
    phone: '+14155550123',
    companySize: 750,
  },
  score: { total: 87, fit: 40, behavior: 47, threshold: 60, modelVersion: '504a1c85b2af' },
  reasons: [
    { rule: 'it_director', kind: 'fit', description: 'IT leadership title', pointsNow: 20, rawPoints: 20, count: 1, points: 20 },
    {
      rule: 'webinar_attended',
      kind: 'behavior',
      description: 'Webinar attended',
      pointsNow: 27.4,
      rawPoints: 30,
      count: 2,
      lastSeen: '2024-05-14T16:05:12.000Z',
      points: 27,
    },
  ],
  recentEvents: [],
};

const recycled: HandoffRecord = {
  ...mql,
  type: 'lead.recycled',
  id: 'handoff_dana.whitfield@example.com_2024-07-01T00:00:00.000Z_recycled',
  occurredAt: '2024-07-01T00:00:00.000Z',
  score: { ...mql.score, total: 41, behavior: 1 },
};

function envFor(standIn: SalesforceStandIn, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CRM_ADAPTER: 'salesforce',
    // The stand-in is plain http: allowed only with this local setting (lib/http/outbound.ts).
    MQL_ALLOW_HTTP_URLS: '1',
    SALESFORCE_INSTANCE_URL: standIn.url,
    SALESFORCE_CLIENT_ID: clientId,
    SALESFORCE_EXTERNAL_ID_FIELD: externalIdField,
    ...extra,
  };
}

function adapterFor(standIn: SalesforceStandIn, extra: Record<string, string> = {}): CrmAdapter {
  return crmAdapterFromEnv(envFor(standIn, extra), { SALESFORCE_CLIENT_SECRET: clientSecret });
}

/** The failure `deliver` threw, for assertions on its kind and message. */
async function failureOf(promise: Promise<unknown>): Promise<CrmDeliveryError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CrmDeliveryError) return error;
    throw error;
  }
  throw new Error('delivery succeeded; a failure was expected');
}

let standIn: SalesforceStandIn;

async function start(options: Partial<SalesforceStandInOptions> = {}): Promise<SalesforceStandIn> {
  await standIn?.close();
  standIn = await startSalesforceStandIn({ clientId, clientSecret, externalIdField, ...options });
  return standIn;
}

beforeEach(async () => {
  resetSalesforceSessions();
  await start();
});

afterEach(async () => {
  await standIn.close();
});

describe('Salesforce adapter: upsert', () => {
  it('an MQL creates the Lead by external id with the status, the scores and readable reasons, the external id left out of the body', async () => {
    const receipt = await adapterFor(standIn).deliver(mql, now);

    const lead = standIn.leads().get('dana.whitfield@example.com');
    // The login, the status query, the Lead's describe (once per container: the qualified-at field's type), the upsert.
    expect(receipt).toEqual({ status: 201, created: true, externalId: lead?.Id, calls: 4 });
    expect(lead?.fields).toMatchObject({
      FirstName: 'Dana',
      LastName: 'Whitfield',
      Company: 'Acme Logistics',
      Email: 'dana.whitfield@example.com',
      Title: 'Director of IT',
      Phone: '+14155550123',
      NumberOfEmployees: 750,
      Status: 'Marketing Qualified',
      Lead_Score__c: 87,
      Fit_Score__c: 40,
      Behavior_Score__c: 47,
      MQL_Model_Version__c: '504a1c85b2af',
      MQL_Date__c: '2024-05-14T16:05:12.000Z',
    });
    expect(lead?.fields.MQL_Reasons__c).toBe(
      [
        'Marketing qualified at 2024-05-14T16:05:12.000Z: score 87 (fit 40, behavior 47; threshold 60), model 504a1c85b2af',
        '+20 IT leadership title (fit)',
        '+27 Webinar attended (behavior, x2, last 2024-05-14T16:05:12.000Z)',
      ].join('\n'),
    );
    const upsert = standIn.calls.find((call) => call.method === 'PATCH');
    expect(upsert?.path).toBe('/services/data/v62.0/sobjects/Lead/MQL_External_Id__c/dana.whitfield%40example.com');
    expect(Object.keys(upsert?.body as object)).not.toContain(externalIdField);
    expect(standIn.calls.map((call) => `${call.method} ${call.status}`)).toEqual(['POST 200', 'GET 200', 'GET 200', 'PATCH 201']);
    expect(standIn.calls[2]?.path).toBe('/services/data/v62.0/sobjects/Lead/describe');
    expect(decodeURIComponent(standIn.calls[1]?.path ?? '')).toBe(
      "/services/data/v62.0/query?q=SELECT Id, Status, IsConverted, MQL_External_Id__c FROM Lead WHERE MQL_External_Id__c IN ('dana.whitfield@example.com')",
    );
  });

  it('a second delivery updates the same Lead (200, created false) with the cached token, keeping what the record does not say', async () => {
    const adapter = adapterFor(standIn);
    const first = await adapter.deliver(mql, now);
    const receipt = await adapter.deliver({ ...recycled, lead: { email: 'dana.whitfield@example.com' } }, now);

    expect(receipt).toEqual({ status: 200, created: false, externalId: first.externalId, calls: 2 });
    expect(standIn.leads().size).toBe(1);
    const fields = standIn.leads().get('dana.whitfield@example.com')?.fields ?? {};
    expect(fields).toMatchObject({
      LastName: 'Whitfield',
      Company: 'Acme Logistics',
      Status: 'Open - Not Contacted',
      Lead_Score__c: 41,
      MQL_Date__c: '2024-05-14T16:05:12.000Z',
    });
    expect(String(fields.MQL_Reasons__c)).toMatch(/^Recycled to marketing at 2024-07-01T00:00:00.000Z: score 41/);
    expect(standIn.calls.filter((call) => call.path === '/services/oauth2/token')).toHaveLength(1);
  });

  it('a disqualified lead gets the standard closed status; statuses follow the environment', async () => {
    await adapterFor(standIn).deliver({ ...mql, type: 'lead.disqualified' }, now);
    expect(standIn.leads().get(mql.leadId)?.fields.Status).toBe('Closed - Not Converted');

    await start({ statuses: ['Open - Not Contacted', 'MQL', 'Recycled', 'Closed - Not Converted'] });
    const adapter = adapterFor(standIn, { SALESFORCE_MQL_STATUS: 'MQL', SALESFORCE_RECYCLED_STATUS: 'Recycled' });
    await adapter.deliver(mql, now);
    expect(standIn.leads().get(mql.leadId)?.fields.Status).toBe('MQL');
    await adapter.deliver(recycled, now);
    expect(standIn.leads().get(mql.leadId)?.fields.Status).toBe('Recycled');
  });

  it('an older API version answers 204 on update: counted as updated, without an id', async () => {
    const adapter = adapterFor(standIn, { SALESFORCE_API_VERSION: 'v45.0' });
    await adapter.deliver(mql, now);
    const receipt = await adapter.deliver(recycled, now);

    expect(receipt).toEqual({ status: 204, created: false, calls: 2 });
    expect(standIn.calls.at(-1)?.path).toMatch(/^\/services\/data\/v45\.0\//);
  });

  it('ids with + and : travel url-encoded and come back as given', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver({ ...mql, leadId: 'dana+mql@example.com', lead: { ...mql.lead, email: 'dana+mql@example.com' } }, now);
    await adapter.deliver({ ...mql, leadId: 'phone:+14155550123', lead: { phone: '+14155550123', lastName: 'Whitfield', company: 'Acme' } }, now);

    expect([...standIn.leads().keys()]).toEqual(['dana+mql@example.com', 'phone:+14155550123']);
    expect(standIn.calls.filter((call) => call.method === 'PATCH').map((call) => call.path.split('/').at(-1))).toEqual([
      'dana%2Bmql%40example.com',
      'phone%3A%2B14155550123',
    ]);
  });

  it('a score field set empty is not sent; the others still are', async () => {
    await start({ customFields: ['Lead_Score__c'] });
    const adapter = adapterFor(standIn, {
      SALESFORCE_FIT_SCORE_FIELD: '',
      SALESFORCE_BEHAVIOR_SCORE_FIELD: '',
      SALESFORCE_REASONS_FIELD: '',
      SALESFORCE_MODEL_VERSION_FIELD: '',
      SALESFORCE_QUALIFIED_AT_FIELD: ' ',
    });
    await adapter.deliver(mql, now);

    expect(Object.keys(standIn.calls.at(-1)?.body as object).sort()).toEqual([
      'Company',
      'Email',
      'FirstName',
      'LastName',
      'Lead_Score__c',
      'NumberOfEmployees',
      'Phone',
      'Status',
      'Title',
    ]);
  });
});

describe('Salesforce adapter: a status sales set is kept', () => {
  it('a Lead sales is working keeps its status through a recycle and a new MQL; its scores are still written', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(mql, now);
    standIn.setStatus(mql.leadId, 'Working - Contacted');
    const recycle = await adapter.deliver(recycled, now);
    const again = await adapter.deliver({ ...mql, id: 'handoff_again', score: { ...mql.score, total: 92 } }, now);

    expect(recycle.note).toBe('Status kept at "Working - Contacted" (not in SALESFORCE_REPLACEABLE_STATUSES: sales owns it); scores written');
    expect(again.note).toBe(recycle.note);
    expect(standIn.leads().get(mql.leadId)?.fields).toMatchObject({ Status: 'Working - Contacted', Lead_Score__c: 92 });
    expect(
      standIn.calls
        .filter((call) => call.method === 'PATCH')
        .slice(1)
        .every((call) => !('Status' in (call.body as object))),
    ).toBe(true);

    standIn.setStatus(mql.leadId, 'Open - Not Contacted');
    const reopened = await adapter.deliver(mql, now);
    expect(reopened.note).toBeUndefined();
    expect(standIn.leads().get(mql.leadId)?.fields.Status).toBe('Marketing Qualified');
  });

  it('SALESFORCE_REPLACEABLE_STATUSES names the statuses to replace; * writes Status without reading it', async () => {
    await adapterFor(standIn).deliver(mql, now);
    standIn.setStatus(mql.leadId, 'Working - Contacted');
    await adapterFor(standIn, { SALESFORCE_REPLACEABLE_STATUSES: 'Marketing Qualified, Working - Contacted' }).deliver(recycled, now);
    expect(standIn.leads().get(mql.leadId)?.fields.Status).toBe('Open - Not Contacted');

    standIn.setStatus(mql.leadId, 'Closed - Converted');
    const before = standIn.calls.length;
    await adapterFor(standIn, { SALESFORCE_REPLACEABLE_STATUSES: '*' }).deliver(mql, now);
    expect(standIn.leads().get(mql.leadId)?.fields.Status).toBe('Marketing Qualified');
    expect(standIn.calls.slice(before).map((call) => call.method)).toEqual(['PATCH']);
  });

  it('ids with quotes and backslashes are escaped in the query: the Lead is found, its status kept', async () => {
    const odd: HandoffRecord = { ...mql, leadId: "o'brien\\x@example.com", lead: { ...mql.lead, email: "o'brien@example.com" } };
    const adapter = adapterFor(standIn);
    await adapter.deliver(odd, now);
    standIn.setStatus(odd.leadId, 'Working - Contacted');
    const receipt = await adapter.deliver({ ...odd, type: 'lead.recycled' }, now);

    expect(receipt).toMatchObject({ status: 200, note: expect.stringContaining('Status kept at "Working - Contacted"') });
    expect(standIn.leads().size).toBe(1);
  });

  it('in a batch the rows sales is working keep their status, the others get theirs', async () => {
    const adapter = adapterFor(standIn);
    const second: HandoffRecord = { ...mql, id: 'handoff_b', leadId: 'b@example.com', lead: { email: 'b@example.com', lastName: 'B', company: 'B Co' } };
    await adapter.deliverBatch!([mql, second], now);
    standIn.setStatus(mql.leadId, 'Working - Contacted');
    const results = await adapter.deliverBatch!([{ ...recycled }, { ...second, type: 'lead.recycled' }], now);

    expect(results.map((result) => (result.ok ? (result.receipt.note ?? 'written') : result.error.kind))).toEqual([
      expect.stringContaining('Status kept'),
      'written',
    ]);
    expect(standIn.leads().get(mql.leadId)?.fields.Status).toBe('Working - Contacted');
    expect(standIn.leads().get('b@example.com')?.fields.Status).toBe('Open - Not Contacted');
  });
});

describe('Salesforce adapter: required fields', () => {
  const phoneOnly: HandoffRecord = { ...mql, leadId: 'phone:+14155550199', lead: { phone: '+14155550199', firstName: 'Sam' } };

  it('a create without LastName and Company retries once with "[not provided]" and says so', async () => {
    const receipt = await adapterFor(standIn).deliver(phoneOnly, now);

    expect(receipt).toMatchObject({ status: 201, created: true, calls: 5, note: 'LastName and Company not known: created with "[not provided]"' });
    expect(standIn.leads().get('phone:+14155550199')?.fields).toMatchObject({ LastName: '[not provided]', Company: '[not provided]', FirstName: 'Sam' });
    expect(standIn.calls.map((call) => call.status)).toEqual([200, 200, 200, 400, 201]);
  });

  it('an update of a Lead sales completed never sends the placeholder over the real values', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver({ ...phoneOnly, lead: { ...phoneOnly.lead, lastName: 'Rivera', company: 'Northwind' } }, now);
    const receipt = await adapter.deliver(phoneOnly, now);

    expect(receipt).toMatchObject({ status: 200, created: false });
    expect(receipt.note).toBeUndefined();
    expect(standIn.leads().get('phone:+14155550199')?.fields).toMatchObject({ LastName: 'Rivera', Company: 'Northwind' });
    expect(standIn.calls.filter((call) => call.method === 'PATCH').every((call) => !JSON.stringify(call.body).includes('[not provided]'))).toBe(true);
  });
});

describe('Salesforce adapter: sessions', () => {
  it('an expired session is refreshed once and the upsert retried', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(mql, now);
    standIn.expireTokens();
    const receipt = await adapter.deliver(recycled, now);

    expect(receipt).toMatchObject({ status: 200, calls: 4 });
    expect(standIn.calls.slice(4).map((call) => `${call.method} ${call.status}`)).toEqual(['GET 401', 'POST 200', 'GET 200', 'PATCH 200']);
  });

  it('a 401 again after the fresh login is an auth failure naming what to check', async () => {
    const adapter = adapterFor(standIn);
    standIn.failNext(2, 401, fixture.responses.session_expired_401.body);
    const error = await failureOf(adapter.deliver(mql, now));

    expect(error).toMatchObject({ status: 401, kind: 'auth', retryable: false });
    expect(error.message).toMatch(/after a fresh login.*INVALID_SESSION_ID.*API Enabled/);
    expect(standIn.calls.filter((call) => call.path === '/services/oauth2/token')).toHaveLength(2);
  });

  it('the token is cached per container: adapters built for each invocation log in once', async () => {
    await adapterFor(standIn).deliver(mql, now);
    await adapterFor(standIn).deliver(recycled, now);

    expect(standIn.calls.filter((call) => call.path === '/services/oauth2/token')).toHaveLength(1);
  });

  it('wrong client credentials: auth, with the settings to check and never the secret', async () => {
    const error = await failureOf(crmAdapterFromEnv(envFor(standIn), { SALESFORCE_CLIENT_SECRET: 'wrong-secret-value' }).deliver(mql, now));

    expect(error).toMatchObject({ status: 400, kind: 'auth', retryable: false });
    expect(error.message).toContain('invalid_client: invalid client credentials');
    expect(error.message).toMatch(/SALESFORCE_CLIENT_ID.*SALESFORCE_CLIENT_SECRET.*My Domain/);
    expect(error.message).not.toContain('wrong-secret-value');
    expect(standIn.leads().size).toBe(0);
  });

  it('a failed login is not cached: the next delivery logs in again', async () => {
    standIn.outage(60_000);
    expect(await failureOf(adapterFor(standIn).deliver(mql, now))).toMatchObject({ status: 503, kind: 'unavailable', retryable: true });
    standIn.outage(0);

    expect(await adapterFor(standIn).deliver(mql, now)).toMatchObject({ status: 201 });
  });

  it('a token answer without access_token or instance_url is a retryable failure', async () => {
    const fake = (async () => new Response(JSON.stringify({ token_type: 'Bearer' }), { status: 200 })) as typeof fetch;
    const adapter = salesforceAdapter(salesforceSettingsFromEnv(envFor(standIn), clientSecret), { fetch: fake });

    expect(await failureOf(adapter.deliver(mql, now))).toMatchObject({ kind: 'unavailable', retryable: true });
  });
});

describe('Salesforce adapter: failures by kind', () => {
  it('300: several Leads share the external id; rejected with their URLs, nothing written', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(mql, now);
    standIn.duplicate(mql.leadId);
    const before = JSON.stringify(standIn.leads().get(mql.leadId));
    const error = await failureOf(adapter.deliver(recycled, now));

    expect(error).toMatchObject({ status: 300, kind: 'rejected', retryable: false });
    expect(error.message).toMatch(
      /2 Leads have this lead's MQL_External_Id__c \(\/services\/data\/v62\.0\/sobjects\/Lead\/00Q\w+, \/services\/data\/v62\.0\/sobjects\/Lead\/00Q\w+\)/,
    );
    expect(JSON.stringify(standIn.leads().get(mql.leadId))).toBe(before);
  });

  it('UNABLE_TO_LOCK_ROW is transient: unavailable, and the retry goes through', async () => {
    const adapter = adapterFor(standIn);
    standIn.lockRowsNext(1);
    const error = await failureOf(adapter.deliver(mql, now));

    expect(error).toMatchObject({ status: 400, kind: 'unavailable', retryable: true });
    expect(await adapter.deliver(mql, now)).toMatchObject({ status: 201 });
  });

  it('REQUEST_LIMIT_EXCEEDED: quota exhausted, retried in hours', async () => {
    const adapter = adapterFor(standIn);
    standIn.limitExceeded(true);
    const error = await failureOf(adapter.deliver(mql, now));
    expect(error).toMatchObject({ status: 403, kind: 'quota_exhausted', retryable: true });
    expect(error.message).toContain('rolling 24-hour API request limit');

    standIn.limitExceeded(false);
    expect(await adapter.deliver(mql, now)).toMatchObject({ status: 201 });
  });

  it("REQUEST_LIMIT_EXCEEDED for concurrent requests is Salesforce's throttle: rate limited, not the daily quota", async () => {
    const adapter = adapterFor(standIn);
    standIn.concurrentLimitNext(1);
    const error = await failureOf(adapter.deliver(mql, now));
    expect(error).toMatchObject({ status: 403, kind: 'rate_limited', retryable: true });
    expect(error.retryAfterSeconds).toBeUndefined();
    expect(error.message).toContain('ConcurrentRequests (Concurrent API Requests) Limit exceeded.');

    expect(await adapter.deliver(mql, now)).toMatchObject({ status: 201 });
  });

  it('the daily limit reached by usage is the same quota failure', async () => {
    await start({ dailyLimit: 3 });
    const adapter = adapterFor(standIn);
    await adapter.deliver(mql, now);

    expect(await failureOf(adapter.deliver(recycled, now))).toMatchObject({ kind: 'quota_exhausted' });
    expect(standIn.apiUsage()).toBe(4);
  });

  it('another 403 is an auth failure naming the permissions', async () => {
    standIn.failNext(1, 403, [{ message: 'insufficient access rights on object id', errorCode: 'INSUFFICIENT_ACCESS_OR_READONLY' }]);
    const error = await failureOf(adapterFor(standIn).deliver(mql, now));

    expect(error).toMatchObject({ status: 403, kind: 'auth', retryable: false });
    expect(error.message).toMatch(/INSUFFICIENT_ACCESS_OR_READONLY.*Create and Edit on Lead/);
  });

  it('a wrong external id field is rejected naming SALESFORCE_EXTERNAL_ID_FIELD: by the query (400), by the upsert (404)', async () => {
    const byQuery = await failureOf(adapterFor(standIn, { SALESFORCE_EXTERNAL_ID_FIELD: 'Email_Key__c' }).deliver(mql, now));
    expect(byQuery).toMatchObject({ status: 400, kind: 'rejected', retryable: false });
    expect(byQuery.message).toMatch(/INVALID_FIELD: No such column 'Email_Key__c'.*check SALESFORCE_EXTERNAL_ID_FIELD/);

    const byUpsert = await failureOf(
      adapterFor(standIn, { SALESFORCE_EXTERNAL_ID_FIELD: 'Email_Key__c', SALESFORCE_REPLACEABLE_STATUSES: '*' }).deliver(mql, now),
    );
    expect(byUpsert).toMatchObject({ status: 404, kind: 'rejected', retryable: false });
    expect(byUpsert.message).toMatch(/Email_Key__c.*SALESFORCE_EXTERNAL_ID_FIELD/);
  });

  it('a status not in the restricted picklist is rejected naming the setting', async () => {
    const error = await failureOf(adapterFor(standIn, { SALESFORCE_MQL_STATUS: 'MQL' }).deliver(mql, now));

    expect(error).toMatchObject({ status: 400, kind: 'rejected' });
    expect(error.message).toMatch(/INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST.*add "MQL" to the Lead Status picklist or set SALESFORCE_MQL_STATUS/);
  });

  it('a score field the org lacks is rejected naming its setting', async () => {
    await start({ customFields: standInCustomFields.filter((field) => field !== 'Fit_Score__c') });
    const error = await failureOf(adapterFor(standIn).deliver(mql, now));

    expect(error).toMatchObject({ status: 400, kind: 'rejected' });
    expect(error.message).toContain('create the Lead field Fit_Score__c or set SALESFORCE_FIT_SCORE_FIELD= (empty) to stop sending it');
  });

  it('an e-mail Salesforce refuses is rejected with its message', async () => {
    const error = await failureOf(adapterFor(standIn).deliver({ ...mql, leadId: 'odd', lead: { ...mql.lead, email: 'not-an-email' } }, now));

    expect(error).toMatchObject({ status: 400, kind: 'rejected' });
    expect(error.message).toContain('INVALID_EMAIL_ADDRESS');
    // Salesforce quotes the address back; the message is logged, so it does not.
    expect(error.message).not.toContain('not-an-email');
  });

  it('a duplicate rule blocking the save is rejected with the matching ids', async () => {
    standIn.failNext(1, 400, fixture.responses.duplicate_rule_400.body);
    const error = await failureOf(adapterFor(standIn).deliver(mql, now));

    expect(error).toMatchObject({ status: 400, kind: 'rejected' });
    expect(error.message).toMatch(/DUPLICATES_DETECTED.*matches 00Q5e00000XyZ1EEAZ/);
  });

  it('a converted Lead is not written nor retried: delivered with a note (seen by the query, or by the refused write)', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(mql, now);
    standIn.convert(mql.leadId);
    const receipt = await adapter.deliver(recycled, now);

    expect(receipt).toEqual({ status: 200, note: 'the Lead is already converted in Salesforce (read-only): nothing written', calls: 1 });
    expect(standIn.calls.at(-1)?.method).toBe('GET');
    const unread = await adapterFor(standIn, { SALESFORCE_REPLACEABLE_STATUSES: '*' }).deliver(recycled, now);
    expect(unread).toEqual({ status: 400, note: 'the Lead is already converted in Salesforce (read-only): nothing written', calls: 1 });
    expect(standIn.leads().get(mql.leadId)?.fields.Status).toBe('Closed - Converted');
  });

  it('an outage (503) is unavailable; 5xx with Retry-After carries the wait', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(mql, now);
    standIn.outage(60_000);
    expect(await failureOf(adapter.deliver(recycled, now))).toMatchObject({ status: 503, kind: 'unavailable', retryable: true });
    standIn.outage(0);

    const fake = (async (url: string | URL | Request) =>
      String(url).endsWith('/oauth2/token')
        ? new Response(JSON.stringify({ access_token: 'x', instance_url: standIn.url }), { status: 200 })
        : new Response('[]', { status: 502, headers: { 'retry-after': '7' } })) as typeof fetch;
    resetSalesforceSessions();
    const error = await failureOf(salesforceAdapter(salesforceSettingsFromEnv(envFor(standIn), clientSecret), { fetch: fake }).deliver(mql, now));
    expect(error).toMatchObject({ status: 502, kind: 'unavailable', retryAfterSeconds: 7 });
  });

  it('a network failure (nothing listening) is unavailable', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const adapter = crmAdapterFromEnv({ ...envFor(standIn), SALESFORCE_INSTANCE_URL: `http://127.0.0.1:${port}` }, { SALESFORCE_CLIENT_SECRET: clientSecret });

    expect(await failureOf(adapter.deliver(mql, now))).toMatchObject({ kind: 'unavailable', retryable: true });
  });
});

describe('Salesforce adapter: batches through sObject Collections', () => {
  const lead = (n: number, extra: Partial<HandoffRecord['lead']> = {}): HandoffRecord => ({
    ...mql,
    id: `handoff_${n}`,
    leadId: `lead${n}@example.com`,
    lead: { email: `lead${n}@example.com`, lastName: `Person${n}`, company: `Company ${n}`, ...extra },
  });
  const collectionCalls = () => standIn.calls.filter((call) => call.path.includes('/composite/sobjects/'));

  it('several records go in one call, external id in each body, one result per record in order', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(lead(2), now);
    const results = await adapter.deliverBatch!([lead(1), lead(2), lead(3)], now);

    expect(adapter.maxBatch).toBe(200);
    expect(results.map((result) => (result.ok ? [result.receipt.status, result.receipt.created] : result.error.kind))).toEqual([
      [201, true],
      [200, false],
      [201, true],
    ]);
    expect(results.map((result) => (result.ok ? result.receipt.externalId : undefined))).toEqual(
      [1, 2, 3].map((n) => standIn.leads().get(`lead${n}@example.com`)?.Id),
    );
    expect(results.map((result) => (result.ok ? result.receipt.calls : undefined))).toEqual([0.667, 0.667, 0.667]);
    const [call] = collectionCalls();
    expect(call?.path).toBe('/services/data/v62.0/composite/sobjects/Lead/MQL_External_Id__c');
    expect(call?.body).toMatchObject({
      allOrNone: false,
      records: [{ attributes: { type: 'Lead' }, MQL_External_Id__c: 'lead1@example.com', Status: 'Marketing Qualified', Lead_Score__c: 87 }, {}, {}],
    });
    expect(standIn.leads().get('lead3@example.com')?.fields).toMatchObject({
      LastName: 'Person3',
      Company: 'Company 3',
      MQL_External_Id__c: 'lead3@example.com',
    });
  });

  it('failed rows fail alone, each with its kind; a converted Lead is delivered with its note', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(lead(4), now);
    standIn.convert('lead4@example.com');
    const results = await adapter.deliverBatch!([lead(1), lead(2, { email: 'not-an-email' }), lead(4), { ...lead(5), leadId: '', lead: {} }], now);

    expect(results.map((result) => (result.ok ? `ok ${result.receipt.status}` : `${result.error.kind} ${result.error.message}`))).toEqual([
      'ok 201',
      expect.stringMatching(/^rejected Salesforce answered 400 \(INVALID_EMAIL_ADDRESS/),
      'ok 200',
      'rejected handoff record has no lead id to upsert by',
    ]);
    expect(results[2]).toMatchObject({ ok: true, receipt: { note: expect.stringContaining('already converted') } });
    expect(collectionCalls()).toHaveLength(1);
    expect((collectionCalls()[0]!.body as { records: unknown[] }).records).toHaveLength(2);
  });

  it('a locked row is retryable on its own', async () => {
    standIn.lockRowsNext(1);
    const results = await adapterFor(standIn).deliverBatch!([lead(1), lead(2)], now);

    expect(results[0]).toMatchObject({ ok: false, error: { kind: 'unavailable', retryable: true } });
    expect(results[1]).toMatchObject({ ok: true, receipt: { status: 201 } });
  });

  it('rows the single resource handles better go through it: several matches (300 with the URLs), a create missing LastName', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(lead(1), now);
    standIn.duplicate('lead1@example.com');
    const phoneOnly: HandoffRecord = { ...mql, id: 'handoff_p', leadId: 'phone:+14155550199', lead: { phone: '+14155550199' } };
    const results = await adapter.deliverBatch!([lead(1), phoneOnly, lead(3)], now);

    expect(results[0]).toMatchObject({ ok: false, error: { status: 300, kind: 'rejected' } });
    expect(results[0]?.ok === false && results[0].error.message).toMatch(
      /2 Leads have this lead's MQL_External_Id__c \(\/services\/data\/v62\.0\/sobjects\/Lead\//,
    );
    expect(results[1]).toMatchObject({
      ok: true,
      receipt: { status: 201, created: true, note: 'LastName and Company not known: created with "[not provided]"', calls: 3.667 },
    });
    expect(results[2]).toMatchObject({ ok: true, receipt: { status: 201 } });
    // The two rows go through the single upsert concurrently: their calls are compared one row at a time.
    const writes = standIn.calls
      .slice(4)
      .filter((call) => call.method === 'PATCH')
      .map((call) => `${call.path.replace('/services/data/v62.0/', '')} ${call.status}`);
    expect(writes.filter((write) => !write.includes('phone'))).toEqual([
      'composite/sobjects/Lead/MQL_External_Id__c 200',
      'sobjects/Lead/MQL_External_Id__c/lead1%40example.com 300',
    ]);
    expect(writes.filter((write) => write.includes('phone'))).toEqual([
      'sobjects/Lead/MQL_External_Id__c/phone%3A%2B14155550199 400',
      'sobjects/Lead/MQL_External_Id__c/phone%3A%2B14155550199 201',
    ]);
  });

  it('whole-call failures throw for every record: quota, outage; an expired session is refreshed', async () => {
    const adapter = adapterFor(standIn);
    await adapter.deliver(lead(9), now);
    standIn.expireTokens();
    expect((await adapter.deliverBatch!([lead(1)], now)).every((result) => result.ok)).toBe(true);

    standIn.limitExceeded(true);
    expect(await failureOf(adapter.deliverBatch!([lead(2), lead(3)], now))).toMatchObject({ status: 403, kind: 'quota_exhausted' });
    standIn.limitExceeded(false);
    standIn.outage(60_000);
    expect(await failureOf(adapter.deliverBatch!([lead(2), lead(3)], now))).toMatchObject({ status: 503, kind: 'unavailable' });
    standIn.outage(0);
    standIn.failNext(1, 200, [{ id: 'x', success: true, created: true }]);
    expect(await failureOf(adapter.deliverBatch!([lead(2), lead(3)], now))).toMatchObject({
      kind: 'unavailable',
      message: expect.stringContaining('Lead query without records'),
    });
    standIn.failNext(1, 200, [{ id: 'x', success: true, created: true }]);
    const unread = adapterFor(standIn, { SALESFORCE_REPLACEABLE_STATUSES: '*' });
    expect(await failureOf(unread.deliverBatch!([lead(2), lead(3)], now))).toMatchObject({
      kind: 'unavailable',
      message: expect.stringContaining('collection of 2 with 1 results'),
    });
    expect(standIn.leads().has('lead2@example.com')).toBe(false);
  });

  it("a full batch of long ids splits the status query to keep each URI under Salesforce's limit", async () => {
    const long = (n: number) => lead(n, { email: `a.rather.long.mailbox.name.for.a.test.lead.number.${n}@subsidiary.example-holdings.com` });
    const batch = Array.from({ length: 200 }, (_, n) => ({ ...long(n), leadId: long(n).lead.email! }));
    const results = await adapterFor(standIn).deliverBatch!(batch, now);

    expect(results.filter((result) => result.ok)).toHaveLength(200);
    const queries = standIn.calls.filter((call) => call.method === 'GET');
    expect(queries.length).toBeGreaterThan(1);
    expect(queries.every((call) => call.status === 200 && call.path.length < 16_384)).toBe(true);
    expect(collectionCalls()).toHaveLength(1);
    expect(standIn.leads().size).toBe(200);
  });

  it('before v46.0 there is no collection resource: no deliverBatch', () => {
    const adapter = adapterFor(standIn, { SALESFORCE_API_VERSION: 'v45.0' });

    expect(adapter.deliverBatch).toBeUndefined();
    expect(adapter.maxBatch).toBeUndefined();
  });

  it('two upserts of a new Lead at once (DUPLICATE_VALUE on the external id) is retried, not rejected', async () => {
    standIn.failNext(1, 400, [
      { message: 'duplicate value found: MQL_External_Id__c duplicates value on record with id: 00Q5e00000AbCdEEAZ', errorCode: 'DUPLICATE_VALUE', fields: [] },
    ]);

    expect(await failureOf(adapterFor(standIn).deliver(mql, now))).toMatchObject({ kind: 'unavailable', retryable: true });
  });
});

describe('Salesforce adapter: configuration', () => {
  const base = {
    CRM_ADAPTER: 'salesforce',
    SALESFORCE_INSTANCE_URL: 'https://acme.my.salesforce.com',
    SALESFORCE_CLIENT_ID: clientId,
    SALESFORCE_EXTERNAL_ID_FIELD: externalIdField,
  };
  const secrets = { SALESFORCE_CLIENT_SECRET: clientSecret };

  it.each([
    [{ SALESFORCE_INSTANCE_URL: undefined }, secrets, /SALESFORCE_INSTANCE_URL/],
    [{ SALESFORCE_INSTANCE_URL: 'acme.my.salesforce.com' }, secrets, /must be a URL/],
    [{ SALESFORCE_INSTANCE_URL: 'http://acme.my.salesforce.com' }, secrets, /must be https/],
    [{ SALESFORCE_CLIENT_ID: ' ' }, secrets, /SALESFORCE_CLIENT_ID/],
    [{}, {}, /secret SALESFORCE_CLIENT_SECRET/],
    [{ SALESFORCE_EXTERNAL_ID_FIELD: undefined }, secrets, /SALESFORCE_EXTERNAL_ID_FIELD, a Lead Text field/],
    [{ SALESFORCE_EXTERNAL_ID_FIELD: 'MQL Id' }, secrets, /SALESFORCE_EXTERNAL_ID_FIELD must be a field's API name/],
    [{ SALESFORCE_API_VERSION: '62' }, secrets, /SALESFORCE_API_VERSION must look like v62.0/],
    [{ SALESFORCE_SCORE_FIELD: 'Lead Score' }, secrets, /SALESFORCE_SCORE_FIELD must be a field's API name/],
  ])('refuses %j at cold start', (override, given, message) => {
    const env = { ...base, ...override };
    expect(() => crmAdapterFromEnv(env, given)).toThrow(CrmConfigurationError);
    expect(() => crmAdapterFromEnv(env, given)).toThrow(message);
  });

  it('defaults: v62.0, the standard statuses plus "Marketing Qualified", every score field', () => {
    const settings = salesforceSettingsFromEnv({ ...base, SALESFORCE_INSTANCE_URL: 'https://acme.my.salesforce.com/' }, clientSecret);

    expect(settings).toEqual({
      instanceUrl: 'https://acme.my.salesforce.com',
      clientId,
      clientSecret,
      externalIdField,
      apiVersion: 'v62.0',
      statuses: { 'lead.mql': 'Marketing Qualified', 'lead.recycled': 'Open - Not Contacted', 'lead.disqualified': 'Closed - Not Converted' },
      replaceableStatuses: ['Open - Not Contacted', 'Marketing Qualified', 'Closed - Not Converted'],
      fields: {
        score: 'Lead_Score__c',
        fit: 'Fit_Score__c',
        behavior: 'Behavior_Score__c',
        reasons: 'MQL_Reasons__c',
        modelVersion: 'MQL_Model_Version__c',
        qualifiedAt: 'MQL_Date__c',
      },
      account: {
        externalIdField: 'MQL_Account_Key__c',
        fields: { score: 'MQL_Account_Score__c', status: 'MQL_Account_Status__c', reasons: 'MQL_Account_Reasons__c' },
      },
    });
    expect(crmAdapterFromEnv(base, secrets).name).toBe('salesforce');
  });

  it('a record without a lead id is rejected before any call', async () => {
    const error = await failureOf(adapterFor(standIn).deliver({ ...mql, leadId: '', lead: {} }, now));

    expect(error).toMatchObject({ kind: 'rejected', retryable: false });
    expect(standIn.calls).toHaveLength(0);
  });

  it('the reasons name the earlier phone-only Lead the person was merged from, for sales to merge', () => {
    expect(
      salesforceReasonsText({ ...mql, mergedFrom: ['phone:+14155550123'] })
        .split('\n')
        .at(-1),
    ).toBe('Same person as the Lead(s) with external id phone:+14155550123: merge them');
    expect(salesforceReasonsText(mql)).not.toContain('Same person');
  });

  it('reasons longer than a Long Text Area are cut to fit', () => {
    const many = Array.from({ length: 2000 }, (_, index) => ({
      ...mql.reasons[0]!,
      rule: `r${index}`,
      description: `Rule number ${index} with a long description`,
    }));
    const text = salesforceReasonsText({ ...mql, reasons: many });

    expect(text.length).toBe(32_768);
    expect(text.endsWith('...')).toBe(true);
  });

  it('a warning is logged once Sforce-Limit-Info shows 90% of the daily limit used, with the counts only', async () => {
    // The first delivery also reads the Lead's describe: 3, 5, 7, 9, 11 calls.
    await start({ dailyLimit: 11 });
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    try {
      const adapter = adapterFor(standIn);
      for (let n = 0; n < 5; n += 1)
        await adapter.deliver({ ...mql, leadId: `lead${n}@example.com`, lead: { ...mql.lead, email: `lead${n}@example.com` } }, now);

      expect(warn.mock.calls).toEqual([
        ["Salesforce API usage near the org's daily limit", { used: 10, max: 11 }],
        ["Salesforce API usage near the org's daily limit", { used: 11, max: 11 }],
      ]);
    } finally {
      warn.mockRestore();
    }
  });

  it('Sforce-Limit-Info is read; anything else is not', () => {
    expect(parseApiUsage(fixture.responses.created_201.headers['Sforce-Limit-Info'])).toEqual({ used: 25, max: 15000 });
    expect(parseApiUsage('per-app-api-usage=2/250(appName=x)')).toBeUndefined();
    expect(parseApiUsage('api-usage=14000/15000, per-app-api-usage=2/250(appName=x)')).toEqual({ used: 14000, max: 15000 });
    expect(parseApiUsage(null)).toBeUndefined();
  });
});

describe('Salesforce stand-in refuses what Salesforce refuses', () => {
  it('rejects when its port is taken, instead of crashing the process with an uncaught EADDRINUSE', async () => {
    const port = Number(new URL(standIn.url).port);
    await expect(startSalesforceStandIn({ clientId, clientSecret, externalIdField, port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  async function token(body: string, contentType = 'application/x-www-form-urlencoded') {
    const response = await fetch(`${standIn.url}/services/oauth2/token`, { method: 'POST', headers: { 'content-type': contentType }, body });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('the token endpoint: grant type, credentials, content type; the token answer has the fixture shape', async () => {
    expect(await token(`grant_type=password&client_id=${clientId}&client_secret=${clientSecret}`)).toMatchObject({
      status: 400,
      body: { error: 'unsupported_grant_type' },
    });
    expect(await token(`grant_type=client_credentials&client_id=${clientId}&client_secret=nope`)).toMatchObject({
      status: 400,
      body: { error: 'invalid_client' },
    });
    expect(await token('{}', 'application/json')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const granted = await token(`grant_type=client_credentials&client_id=${clientId}&client_secret=${clientSecret}`);
    expect(granted.status).toBe(200);
    expect(Object.keys(granted.body).sort()).toEqual(Object.keys(fixture.oauth_client_credentials_token.response_200).sort());
  });

  it('the upsert: no token, bad JSON, another path', async () => {
    const path = `${standIn.url}/services/data/v62.0/sobjects/Lead/${externalIdField}/x%40example.com`;
    const anonymous = await fetch(path, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual(fixture.responses.session_expired_401.body);

    const { body } = await token(`grant_type=client_credentials&client_id=${clientId}&client_secret=${clientSecret}`);
    const headers = { authorization: `Bearer ${String(body.access_token)}`, 'content-type': 'application/json' };
    const broken = await fetch(path, { method: 'PATCH', headers, body: '{"LastName":' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject([{ errorCode: 'JSON_PARSER_ERROR' }]);
    const elsewhere = await fetch(`${standIn.url}/services/data/v62.0/sobjects/Contact/x`, { method: 'PATCH', headers, body: '{}' });
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.headers.get('sforce-limit-info')).toMatch(/^api-usage=\d+\/15000$/);
    expect(standIn.leads().size).toBe(0);
  });
});
