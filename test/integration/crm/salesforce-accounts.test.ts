/**
 * Account handoffs in Salesforce against the stand-in: an Account upserted by MQL_Account_Key__c (its score,
 * status and reasons; Name and Website only when it is created), a redelivery and a recycle updating the same
 * Account, a group account without a domain, the Account's field missing, the org's limits, a mixed batch, and
 * `mql crm setup salesforce` checking the Account's fields.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CrmAdapter, DeliveryResult } from '../../../lib/crm/adapter.ts';
import { CrmDeliveryError } from '../../../lib/crm/adapter.ts';
import { resetSalesforceSessions, salesforceAdapter } from '../../../lib/crm/salesforce.ts';
import { salesforceAccountReasons } from '../../../lib/crm/salesforce-accounts.ts';
import { salesforceSettingsFromEnv } from '../../../lib/crm/salesforce-fields.ts';
import { checkSalesforce, formatSalesforceSetup } from '../../../lib/crm/salesforce-setup.ts';
import type { SalesforceStandIn, SalesforceStandInOptions } from '../../../lib/local/stand-ins/salesforce.ts';
import { startSalesforceStandIn } from '../../../lib/local/stand-ins/salesforce.ts';
import { accountRecord, laterAccountRecord } from '../../setup/accounts.ts';
import { handoffRecord } from '../../setup/events.ts';

const clientId = '3MVG9FAKECLIENTID';
const clientSecret = 'FAKESECRET-test-only-9f8e7d';
const externalIdField = 'MQL_External_Id__c';
const now = new Date();
let sf: SalesforceStandIn;
let adapter: CrmAdapter;

async function start(options: Partial<SalesforceStandInOptions> = {}, env: Record<string, string> = {}) {
  await sf?.close();
  resetSalesforceSessions();
  sf = await startSalesforceStandIn({ clientId, clientSecret, externalIdField, ...options });
  const settings = salesforceSettingsFromEnv(
    { SALESFORCE_INSTANCE_URL: sf.url, SALESFORCE_CLIENT_ID: clientId, SALESFORCE_EXTERNAL_ID_FIELD: externalIdField, MQL_ALLOW_HTTP_URLS: '1', ...env },
    clientSecret,
  );
  adapter = salesforceAdapter(settings);
  return settings;
}

beforeEach(async () => {
  await start();
});
afterEach(async () => {
  await sf.close();
});

function failure(result: DeliveryResult | undefined): CrmDeliveryError {
  if (!result || result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
  return result.error;
}

describe('Salesforce Accounts for account handoffs', () => {
  it('an account.mqa creates the Account by MQL_Account_Key__c with its name, website, score, status and reasons', async () => {
    const record = accountRecord('acme-robotics.com', { name: 'Acme Robotics' });
    const receipt = await adapter.deliver(record, now);
    const account = sf.accounts().get('acme-robotics.com');
    expect(account?.fields).toMatchObject({
      Name: 'Acme Robotics',
      Website: 'acme-robotics.com',
      MQL_Account_Key__c: 'acme-robotics.com',
      MQL_Account_Score__c: record.score.total,
      MQL_Account_Status__c: 'MQA',
      MQL_Account_Reasons__c: salesforceAccountReasons(record),
    });
    expect(receipt).toMatchObject({ status: 201, created: true, externalId: account!.Id });
    // The scores alone first (refused: no Account yet), then with Name and Website: two upserts and the login.
    const patches = sf.calls.filter((call) => call.method === 'PATCH');
    expect(patches.map((call) => call.status)).toEqual([400, 201]);
    expect(patches[0]!.body).not.toHaveProperty('Name');
  });

  it('a redelivery and the account.recycled update the same Account, never its Name or Website', async () => {
    const record = accountRecord('globex.example', { name: 'Globex' });
    await adapter.deliver(record, now);
    sf.accounts().get('globex.example')!.fields.Name = 'Globex Corporation (renamed by sales)';
    expect(await adapter.deliver(record, now)).toMatchObject({ status: 200, created: false });
    await adapter.deliver(laterAccountRecord(record, 'account.recycled', 86_400_000), now);
    expect(sf.accounts().size).toBe(1);
    expect(sf.accounts().get('globex.example')!.fields).toMatchObject({ Name: 'Globex Corporation (renamed by sales)', MQL_Account_Status__c: 'Recycled' });
    const updates = sf.calls.filter((call) => call.method === 'PATCH').slice(2);
    for (const call of updates) expect(call.body).not.toHaveProperty('Name');
  });

  it('a group account without a domain is the Account keyed group:<groupId>, named by the group, without a website', async () => {
    await adapter.deliver(accountRecord('umbrella.example', { groupId: 'grp-7', name: 'Umbrella' }), now);
    expect(sf.accounts().get('group:grp-7')?.fields).toMatchObject({ Name: 'Umbrella', MQL_Account_Key__c: 'group:grp-7' });
    expect(sf.accounts().get('group:grp-7')?.fields).not.toHaveProperty('Website');
  });

  it("an org without the Account's key field answers 404: rejected, naming the setting; a missing score field names its setting", async () => {
    await start({ accountExternalIdField: 'Other_Key__c' });
    const error = await adapter.deliver(accountRecord('nokey.example'), now).then(
      () => undefined,
      (caught: unknown) => caught as CrmDeliveryError,
    );
    expect(error).toBeInstanceOf(CrmDeliveryError);
    expect(error).toMatchObject({ kind: 'rejected', status: 404 });
    expect(error?.message).toContain('SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD');
    await start({ accountFields: ['MQL_Account_Status__c', 'MQL_Account_Reasons__c'] });
    const missing = await adapter.deliver(accountRecord('noscore.example'), now).then(
      () => undefined,
      (caught: unknown) => caught as CrmDeliveryError,
    );
    expect(missing).toMatchObject({ kind: 'rejected' });
    expect(missing?.message).toContain('SALESFORCE_ACCOUNT_SCORE_FIELD');
    expect(sf.accounts().size).toBe(0);
    // The setting set empty: the score is not sent, the Account written.
    await start({ accountFields: ['MQL_Account_Status__c', 'MQL_Account_Reasons__c'] }, { SALESFORCE_ACCOUNT_SCORE_FIELD: '' });
    await adapter.deliver(accountRecord('noscore.example'), now);
    expect(sf.accounts().get('noscore.example')?.fields).not.toHaveProperty('MQL_Account_Score__c');
  });

  it("the org's limits: the concurrent-request limit is rate_limited, the daily one quota_exhausted, a locked row retried", async () => {
    const record = accountRecord('limits.example');
    sf.concurrentLimitNext(1);
    const [concurrent] = await adapter.deliverBatch!([record], now);
    expect(failure(concurrent).kind).toBe('rate_limited');
    sf.lockRowsNext(1);
    const [locked] = await adapter.deliverBatch!([record], now);
    expect(failure(locked).kind).toBe('unavailable');
    sf.limitExceeded(true);
    const [daily] = await adapter.deliverBatch!([record], now);
    expect(failure(daily).kind).toBe('quota_exhausted');
    sf.limitExceeded(false);
    const [done] = await adapter.deliverBatch!([record], now);
    expect(done).toMatchObject({ ok: true });
  });

  it("a batch of Leads and an account: the Leads through one collection, the Account beside it; one refused doesn't fail the other", async () => {
    await start({ accountExternalIdField: 'Other_Key__c' });
    const results = await adapter.deliverBatch!(
      [handoffRecord('dana@acme.example', { lead: { email: 'dana@acme.example', lastName: 'W', company: 'Acme' } }), accountRecord('acme.example')],
      now,
    );
    expect(results[0]).toMatchObject({ ok: true });
    expect(failure(results[1]).kind).toBe('rejected');
    expect(sf.leads().has('dana@acme.example')).toBe(true);
  });

  it('`mql crm setup salesforce` checks the Account fields too, and names what to create', async () => {
    const settings = await start();
    const ok = await checkSalesforce(settings);
    expect(ok.problems).toBe(0);
    expect(ok.accountFields.map((check) => [check.name, check.status])).toEqual([
      ['MQL_Account_Key__c', 'ok'],
      ['MQL_Account_Score__c', 'ok'],
      ['MQL_Account_Status__c', 'ok'],
      ['MQL_Account_Reasons__c', 'ok'],
    ]);
    const missing = await start({ accountFields: ['MQL_Account_Score__c'] });
    const result = await checkSalesforce(missing);
    expect(result.problems).toBe(2);
    const text = formatSalesforceSetup(result, missing);
    expect(text).toContain('Account (account handoffs');
    expect(text).toContain('MQL_Account_Status__c (SALESFORCE_ACCOUNT_STATUS_FIELD): missing. Create it: Setup > Object Manager > Account');
  });
});
