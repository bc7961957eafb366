/**
 * The qualified-at field as the org holds it: an admin may create `MQL_Date__c` as a Date field (its name
 * suggests one) or a Date/Time field. Salesforce refuses a date-time sent to a Date field with
 * JSON_PARSER_ERROR, failing the whole request (a collection of 100 included), so the adapter reads the
 * field's type from the Lead's describe, once per container, and sends what it takes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HandoffRecord } from '../../../lib/crm/adapter.ts';
import { CrmDeliveryError } from '../../../lib/crm/adapter.ts';
import { crmAdapterFromEnv } from '../../../lib/crm/index.ts';
import { resetSalesforceSessions } from '../../../lib/crm/salesforce.ts';
import { salesforceMoment } from '../../../lib/crm/salesforce-fields.ts';
import type { SalesforceStandIn, SalesforceStandInOptions } from '../../../lib/local/stand-ins/salesforce.ts';
import { startSalesforceStandIn } from '../../../lib/local/stand-ins/salesforce.ts';

const clientId = '3MVG9FAKECLIENTID';
const clientSecret = 'FAKESECRET-test-only-9f8e7d';
const externalIdField = 'MQL_External_Id__c';
const now = new Date('2026-12-06T10:00:00.000Z');
let standIn: SalesforceStandIn;

async function start(options: Partial<SalesforceStandInOptions> = {}) {
  await standIn?.close();
  standIn = await startSalesforceStandIn({ clientId, clientSecret, externalIdField, ...options });
}
beforeEach(async () => {
  resetSalesforceSessions();
  await start({ fieldTypes: { MQL_Date__c: 'date' } });
});
afterEach(async () => {
  await standIn.close();
});

const adapter = (extra: Record<string, string> = {}) =>
  crmAdapterFromEnv(
    {
      CRM_ADAPTER: 'salesforce',
      SALESFORCE_INSTANCE_URL: standIn.url,
      MQL_ALLOW_HTTP_URLS: '1',
      SALESFORCE_CLIENT_ID: clientId,
      SALESFORCE_EXTERNAL_ID_FIELD: externalIdField,
      ...extra,
    },
    { SALESFORCE_CLIENT_SECRET: clientSecret },
  );

function mql(n: number, occurredAt = '2026-12-05T23:30:00.000Z'): HandoffRecord {
  const email = `lead${n}@example.com`;
  return {
    type: 'lead.mql',
    id: `msg_lead${n}`,
    occurredAt,
    leadId: email,
    lead: { email, firstName: 'Dana', lastName: `Whitfield${n}`, company: 'Acme Logistics' },
    score: { total: 70, fit: 30, behavior: 40, threshold: 60, modelVersion: '504a1c85b2af' },
    reasons: [],
    recentEvents: [],
  };
}

const describes = () => standIn.calls.filter((call) => call.path.endsWith('/sobjects/Lead/describe'));

describe('MQL_Date__c created as a Date field', () => {
  it('gets YYYY-MM-DD (the UTC day), so a collection of 100 goes through instead of failing whole', async () => {
    const records = Array.from({ length: 100 }, (_, n) => mql(n));
    const results = await adapter().deliverBatch!(records, now);
    expect(results.filter((result) => result.ok)).toHaveLength(100);
    expect(standIn.leads().get('lead7@example.com')?.fields.MQL_Date__c).toBe('2026-12-05');
    const collection = standIn.calls.find((call) => call.path.includes('/composite/sobjects/Lead/'));
    expect(collection?.status).toBe(200);
    expect(describes()).toHaveLength(1);
  });

  it('reads the describe once per container: later deliveries reuse it, a cold start reads it again', async () => {
    const one = adapter();
    await one.deliver(mql(1), now);
    await one.deliver(mql(2), now);
    // Another invocation in the same container builds a new adapter: the describe is still known.
    await adapter().deliver(mql(3), now);
    expect(describes()).toHaveLength(1);
    resetSalesforceSessions();
    await adapter().deliver(mql(4), now);
    expect(describes()).toHaveLength(2);
    expect(standIn.leads().get('lead4@example.com')?.fields.MQL_Date__c).toBe('2026-12-05');
  });

  it('a recycle writes no date and reads no describe', async () => {
    const recycled: HandoffRecord = { ...mql(1), id: 'msg_r', type: 'lead.recycled' };
    await adapter().deliver(recycled, now);
    expect(describes()).toHaveLength(0);
    expect(standIn.leads().get('lead1@example.com')?.fields.MQL_Date__c).toBeUndefined();
  });
});

describe('MQL_Date__c as a Date/Time field', () => {
  it('gets the full ISO date-time', async () => {
    await start({ fieldTypes: { MQL_Date__c: 'datetime' } });
    await adapter().deliver(mql(1), now);
    expect(standIn.leads().get('lead1@example.com')?.fields.MQL_Date__c).toBe('2026-12-05T23:30:00.000Z');
  });
});

describe('the Salesforce stand-in reads JSON as Salesforce does', () => {
  async function patch(path: string, body: unknown) {
    const token = (await (
      await fetch(`${standIn.url}/services/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }).toString(),
      })
    ).json()) as { access_token: string };
    const response = await fetch(`${standIn.url}/services/data/v62.0${path}`, {
      method: path.endsWith('/describe') ? 'GET' : 'PATCH',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
      ...(path.endsWith('/describe') ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as any };
  }

  it('describes the Lead with each field’s type, MQL_Date__c as the org has it', async () => {
    const answer = await patch('/sobjects/Lead/describe', undefined);
    expect(answer.status).toBe(200);
    const fields = new Map((answer.body.fields as { name: string; type: string; externalId: boolean }[]).map((field) => [field.name, field]));
    expect(fields.get('MQL_Date__c')?.type).toBe('date');
    expect(fields.get('Lead_Score__c')?.type).toBe('double');
    expect(fields.get(externalIdField)).toMatchObject({ type: 'string', externalId: true });
  });

  it('refuses a date-time for a Date field with 400 JSON_PARSER_ERROR for the whole collection, writing no row', async () => {
    const row = (n: number, date: string) => ({ attributes: { type: 'Lead' }, [externalIdField]: `r${n}`, LastName: 'R', Company: 'C', MQL_Date__c: date });
    const answer = await patch(`/composite/sobjects/Lead/${externalIdField}`, {
      allOrNone: false,
      records: [row(1, '2026-12-05'), row(2, '2026-12-05T23:30:00.000Z'), row(3, '2026-12-05')],
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual([
      {
        errorCode: 'JSON_PARSER_ERROR',
        message: expect.stringMatching(
          /^Cannot deserialize instance of date from VALUE_STRING value 2026-12-05T23:30:00\.000Z or request may be missing a required field at \[line:1, column:\d+\]$/,
        ),
      },
    ]);
    expect(standIn.leads().size).toBe(0);
    const single = await patch(`/sobjects/Lead/${externalIdField}/r9`, { LastName: 'R', Company: 'C', MQL_Date__c: '2026-12-05T23:30:00Z' });
    expect(single).toMatchObject({ status: 400, body: [{ errorCode: 'JSON_PARSER_ERROR' }] });
    expect((await patch(`/sobjects/Lead/${externalIdField}/r9`, { LastName: 'R', Company: 'C', MQL_Date__c: '2026-12-05' })).status).toBe(201);
  });
});

describe('a JSON_PARSER_ERROR reaching the adapter', () => {
  it('is a rejection that names the fix and quotes no address', async () => {
    standIn.failNext(1, 400, [
      {
        message:
          'Cannot deserialize instance of date from VALUE_STRING value lead1@example.com or request may be missing a required field at [line:1, column:40]',
        errorCode: 'JSON_PARSER_ERROR',
      },
    ]);
    // A recycle with every status replaceable: the upsert is the first API call.
    const recycled: HandoffRecord = { ...mql(1), id: 'msg_r', type: 'lead.recycled' };
    const error = await adapter({ SALESFORCE_REPLACEABLE_STATUSES: '*' })
      .deliver(recycled, now)
      .catch((caught: unknown) => caught as CrmDeliveryError);
    expect(error).toBeInstanceOf(CrmDeliveryError);
    expect(error).toMatchObject({ kind: 'rejected', status: 400 });
    expect((error as CrmDeliveryError).message).toContain('npx mql crm setup salesforce');
    expect((error as CrmDeliveryError).message).not.toContain('lead1@example.com');
  });
});

describe('salesforceMoment', () => {
  it('is the UTC day for a Date field and the ISO date-time otherwise', () => {
    expect(salesforceMoment('2026-12-05T23:30:00.000Z', 'date')).toBe('2026-12-05');
    expect(salesforceMoment('2026-12-06T00:30:00+02:00', 'date')).toBe('2026-12-05');
    expect(salesforceMoment('2026-12-05T23:30:00.000Z', 'datetime')).toBe('2026-12-05T23:30:00.000Z');
    expect(salesforceMoment('2026-12-05T23:30:00.000Z', undefined)).toBe('2026-12-05T23:30:00.000Z');
  });
});
