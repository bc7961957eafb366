/**
 * Account handoffs through the one handoff queue (fauxqs) to Salesforce (the stand-in), the ledger on DynamoDB
 * Local: the Account upserted by its key, a redelivered copy delivered once, the recycle after the MQA on the
 * same Account, and the org's concurrent-request limit waited out.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetSalesforceSessions } from '../../../lib/crm/salesforce.ts';
import type { SalesforceStandIn } from '../../../lib/local/stand-ins/salesforce.ts';
import { startSalesforceStandIn } from '../../../lib/local/stand-ins/salesforce.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { accountRecord, laterAccountRecord } from '../../setup/accounts.ts';
import { eventsSecret } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { enqueueHandoff, leadStoreOf, startTestStack } from '../../setup/stack.ts';

const clientId = '3MVG9FAKECLIENTID-accounts';
const clientSecret = 'FAKESECRET-test-only-accounts-0001';

let salesforce: SalesforceStandIn;
let stack: LocalStack;
let store: LeadStore;

beforeAll(async () => {
  resetSalesforceSessions();
  salesforce = await startSalesforceStandIn({ clientId, clientSecret, externalIdField: 'MQL_External_Id__c' });
  stack = await startTestStack({
    env: {
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      CRM_ADAPTER: 'salesforce',
      SALESFORCE_INSTANCE_URL: salesforce.url,
      SALESFORCE_CLIENT_ID: clientId,
      SALESFORCE_CLIENT_SECRET: clientSecret,
      SALESFORCE_EXTERNAL_ID_FIELD: 'MQL_External_Id__c',
      LOG_LEVEL: 'SILENT',
      HANDOFF_RATE_LIMIT_SECONDS: '1',
    },
    log: () => {},
  });
  store = leadStoreOf(stack);
});

afterAll(async () => {
  await stack?.stop();
  await salesforce?.close();
});

const minute = 60_000;
const patches = () => salesforce.calls.filter((call) => call.method === 'PATCH').length;

describe('account handoffs to Salesforce through the handoff queue', () => {
  it('an account.mqa upserts the Account once however often it is delivered; its recycle updates the same Account', async () => {
    const domain = `acme-${randomUUID().slice(0, 8)}.com`;
    const record = accountRecord(domain, { at: new Date(Date.now() - 30 * minute), name: 'Acme' });
    await enqueueHandoff(stack, record);
    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 20_000 });
    const account = salesforce.accounts().get(domain);
    expect(account?.fields).toMatchObject({ Name: 'Acme', MQL_Account_Status__c: 'MQA' });
    const before = patches();
    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 20_000 });
    expect(patches()).toBe(before);
    const [handoff] = await store.listAccountHandoffs(domain);
    expect(handoff).toMatchObject({ id: record.id, status: 'delivered', externalId: account!.Id, adapter: 'salesforce', attempts: 1 });

    await enqueueHandoff(stack, laterAccountRecord(record, 'account.recycled', 10 * minute));
    await stack.drain({ timeoutMs: 20_000 });
    expect(salesforce.accounts().get(domain)?.fields).toMatchObject({ Name: 'Acme', MQL_Account_Status__c: 'Recycled' });
    expect((await store.listAccountHandoffs(domain)).map((one) => [one.type, one.status])).toEqual([
      ['account.mqa', 'delivered'],
      ['account.recycled', 'delivered'],
    ]);
  });

  it("the org's concurrent-request limit (Salesforce's throttle) is waited out: delivered, two attempts on the account", async () => {
    const domain = `busy-${randomUUID().slice(0, 8)}.com`;
    salesforce.concurrentLimitNext(1);
    await enqueueHandoff(stack, accountRecord(domain));
    await stack.drain({ timeoutMs: 30_000 });
    expect(salesforce.accounts().has(domain)).toBe(true);
    const [handoff] = await store.listAccountHandoffs(domain);
    expect(handoff).toMatchObject({ status: 'delivered', attempts: 2 });
  });
});
