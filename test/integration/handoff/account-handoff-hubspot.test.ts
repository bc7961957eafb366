/**
 * Account handoffs through the one handoff queue (fauxqs) to HubSpot (the stand-in), the ledger on DynamoDB
 * Local: the members' MQLs go first (their contacts' ids kept by the ledger's receipts), then the account's
 * record becomes a company associated with those contacts; a redelivered copy costs no call; a burst limit is
 * waited out; a member erased before a later record is neither sent nor associated.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupHubSpot } from '../../../lib/crm/hubspot-setup.ts';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { accountRecord, laterAccountRecord } from '../../setup/accounts.ts';
import { mqlOn } from '../../setup/cli.ts';
import { handoffRecord } from '../../setup/events.ts';
import { eventsSecret } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { enqueueHandoff, leadStoreOf, startTestStack } from '../../setup/stack.ts';

const token = 'pat-na1-00000000-test-only-0000-000000000000';
let stack: LocalStack;
let hubspot: HubSpotStandIn;
let store: LeadStore;
let dataDir: string;

beforeAll(async () => {
  hubspot = await startHubSpotStandIn({ token });
  await setupHubSpot({ token, baseUrl: hubspot.url });
  dataDir = mkdtempSync(join(tmpdir(), 'mql-account-hubspot-'));
  stack = await startTestStack({
    dataDir,
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'hubspot', HUBSPOT_BASE_URL: hubspot.url, HUBSPOT_ACCESS_TOKEN: token, LOG_LEVEL: 'SILENT' },
    log: () => {},
  });
  store = leadStoreOf(stack);
});

afterAll(async () => {
  await stack?.stop();
  await hubspot?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const minute = 60_000;
const companyOf = (key: string) => [...hubspot.companies.companies().values()].find((company) => company.properties.mql_account_key === key);
const companyCalls = () => hubspot.calls.filter((call) => call.path.includes('/objects/companies') || call.path.includes('/associations/')).length;

describe('account handoffs to HubSpot through the handoff queue', () => {
  it("the company is associated with the contacts of the members already handed off, read from the ledger's receipts; a copy is not sent again", async () => {
    const domain = `acme-${randomUUID().slice(0, 8)}.com`;
    const record = accountRecord(domain, { at: new Date(Date.now() - 10 * minute) });
    const [vp, director] = record.members.map((member) => member.leadId);
    // Two members were MQLs themselves earlier: their contacts exist.
    await enqueueHandoff(stack, handoffRecord(vp!, { occurredAt: new Date(Date.now() - 60 * minute).toISOString() }));
    await enqueueHandoff(stack, handoffRecord(director!, { occurredAt: new Date(Date.now() - 60 * minute).toISOString() }));
    await stack.drain({ timeoutMs: 20_000 });
    const contactIds = [vp!, director!].map((email) => hubspot.contacts().get(email)!.id).sort();

    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 20_000 });
    const company = companyOf(domain);
    expect(company).toBeDefined();
    expect([...(hubspot.companies.associations().get(company!.id) ?? [])].sort()).toEqual(contactIds);
    const [handoff] = await store.listAccountHandoffs(domain);
    expect(handoff).toMatchObject({ id: record.id, status: 'delivered', externalId: company!.id, adapter: 'hubspot', attempts: 1 });

    const calls = companyCalls();
    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 20_000 });
    expect(companyCalls()).toBe(calls);

    const recycled = laterAccountRecord(record, 'account.recycled', 5 * minute);
    await enqueueHandoff(stack, recycled);
    await stack.drain({ timeoutMs: 20_000 });
    expect(companyOf(domain)!.properties.mql_account_status).toBe('recycled');
    expect([...hubspot.companies.companies().values()].filter((one) => one.properties.mql_account_key === domain)).toHaveLength(1);
  });

  it('a burst limit (429 TEN_SECONDLY_ROLLING) is waited out and the account delivered once', async () => {
    const domain = `throttled-${randomUUID().slice(0, 8)}.com`;
    const record = accountRecord(domain);
    hubspot.failNext(1, 429, undefined, { 'retry-after': '1' });
    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 30_000 });
    expect(companyOf(domain)).toBeDefined();
    const [handoff] = await store.listAccountHandoffs(domain);
    expect(handoff).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('a member erased after the account was decided is not associated, and their address reaches neither HubSpot nor the table', async () => {
    const domain = `erased-${randomUUID().slice(0, 8)}.com`;
    const record = accountRecord(domain, { at: new Date(Date.now() - 10 * minute) });
    const vp = record.members[0]!.leadId;
    await enqueueHandoff(stack, handoffRecord(vp, { occurredAt: new Date(Date.now() - 60 * minute).toISOString() }));
    await stack.drain({ timeoutMs: 20_000 });
    await mqlOn(dataDir, ['erase', vp, '--yes']);
    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 20_000 });
    const company = companyOf(domain)!;
    expect(hubspot.companies.associations().get(company.id)).toBeUndefined();
    expect(company.properties.mql_account_reasons).not.toContain(vp);
    const [handoff] = await store.listAccountHandoffs(domain);
    expect(handoff).toMatchObject({ status: 'delivered' });
    expect(JSON.stringify(handoff)).not.toContain(vp);
  });
});
