/**
 * `mql demo --with-outcomes` on a stack whose model has an account section (the default model's, with
 * examples/account-section.json): the buying groups of lib/local/demo-buying-groups.ts go in through POST /webhooks/events,
 * the stack's own roll-up (the table's stream, the account-rollup queue) stores their accounts, and what it stores is
 * what the demo's summary says: MQAs, one of them without any MQL member, and no account from free mail.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberAccountOf } from '../../../lib/accounts/members.ts';
import type { PlannedBuyingGroup } from '../../../lib/local/demo-buying-groups.ts';
import { planBuyingGroups } from '../../../lib/local/demo-buying-groups.ts';
import type { PopulationResult } from '../../../lib/local/demo-population.ts';
import { runPopulationDemo } from '../../../lib/local/demo-population.ts';
import { readModelFile } from '../../../lib/runtime/model-config.ts';
import { AccountStore } from '../../../lib/store/accounts.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { StoreTable } from '../../../lib/store/table.ts';
import { exampleEnv, type LocalStack, leadStoreOf, leadView, startTestStack } from '../../setup/stack.ts';

const defaultModelJson = JSON.parse(readFileSync(new URL('../../../lib/core/default-model.json', import.meta.url), 'utf8')) as object;
const section = JSON.parse(readFileSync(new URL('../../../examples/account-section.json', import.meta.url), 'utf8')) as object;
const leadCount = 40;

describe('mql demo --with-outcomes seeds accounts with buying groups', () => {
  let stack: LocalStack;
  let dir: string;
  let store: LeadStore;
  let accounts: AccountStore;
  let population: PopulationResult;
  let groups: PlannedBuyingGroup[];
  const lines: string[] = [];
  const group = (name: string) => groups.find((one) => one.spec.name === name)!;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mql-demo-accounts-'));
    const modelPath = join(dir, 'model.json');
    writeFileSync(modelPath, JSON.stringify({ ...defaultModelJson, ...section }));
    // No CRM: the account handoffs are another test's subject; these read what the roll-up stored.
    const env = { ...exampleEnv(), CRM_ADAPTER: 'none', MQL_MODEL_PATH: modelPath, LOG_LEVEL: 'ERROR' };
    stack = await startTestStack({ env });
    store = leadStoreOf(stack);
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    accounts = new AccountStore(new StoreTable({ client: DynamoDBDocumentClient.from(stack.dynamodb), tableName: stack.tableName }));
    population = await runPopulationDemo({
      baseUrl: stack.baseUrl,
      env,
      store,
      model: readModelFile(modelPath),
      leads: leadCount,
      print: (line) => lines.push(line),
    });
    await stack.drain();
    groups = planBuyingGroups(5, Date.parse(population.anchor));
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('posts the buying groups after the population and says how many accounts qualified', () => {
    const people = groups.reduce((sum, one) => sum + one.members.length, 0);
    expect(population.buyingGroupPeople).toBe(people);
    expect(population.events.stored).toBe(population.events.sent);
    const printed = lines.join('\n');
    expect(printed).toContain(`${leadCount} leads (seed 5) and the buying groups of ${groups.length} companies (${people} people)`);
    const summary = population.accounts!;
    expect(printed).toContain(`of them became MQLs, and ${summary.mqas.length} of their ${summary.total} accounts MQAs`);
    expect(summary.mqas).toEqual(expect.arrayContaining(['contoso.com', 'fabrikam.com', 'woodgrovebank.com', 'group:org_10482']));
    for (const below of ['litwareinc.com', 'proseware.com', 'group:org_2291']) expect(summary.mqas).not.toContain(below);
    expect(summary.mqasWithoutMql).toEqual(expect.arrayContaining(['contoso.com', 'fabrikam.com', 'group:org_10482']));
    expect(summary.mqasWithoutMql).not.toContain('woodgrovebank.com');
  });

  it('the roll-up stores the accounts that qualified as MQAs, and the others below', async () => {
    for (const one of groups) {
      const read = await accounts.read(one.accountKey);
      expect({ account: one.accountKey, status: read.state?.status }).toEqual({ account: one.accountKey, status: one.spec.qualifies ? 'mqa' : 'engaged' });
      expect(read.memberIds.sort()).toEqual(
        one.members
          .filter((member) => !(member.freeMail && !one.spec.group))
          .map((member) => member.email)
          .sort(),
      );
    }
  });

  it('some MQA has no member that is or ever was an MQL', async () => {
    for (const key of ['contoso.com', 'fabrikam.com', 'group:org_10482']) {
      const read = await accounts.read(key);
      expect(read.state?.status).toBe('mqa');
      expect(read.leads.length).toBeGreaterThanOrEqual(3);
      for (const lead of read.leads) {
        expect(lead.wasMql ?? false).toBe(false);
        expect(lead.status).not.toBe('mql');
      }
    }
    // Woodgrove Bank's CFO asked for a demo: an MQL in an MQA.
    const woodgrove = await accounts.read('woodgrovebank.com');
    expect(woodgrove.leads.filter((lead) => lead.wasMql).map((lead) => lead.leadId)).toEqual([group('Woodgrove Bank').members[0]!.email]);
  });

  it('a member writing from free mail never forms an account, and is in one only by a group call', async () => {
    const freeMail = group('Contoso').members.find((member) => member.freeMail)!;
    const lead = await store.getLead(freeMail.email);
    expect(lead?.profile.company).toBe('Contoso');
    expect(memberAccountOf(lead, readModelFile(join(dir, 'model.json')))).toBeUndefined();
    expect((await accounts.read('contoso.com')).memberIds).not.toContain(freeMail.email);
    expect(await accounts.read('gmail.com')).toEqual({ state: undefined, memberIds: [], leads: [] });
    const byGroupCall = group('Adventure Works').members.find((member) => member.freeMail)!;
    expect(byGroupCall.email).toMatch(/@gmail\.com$/);
    expect((await accounts.read('group:org_10482')).memberIds).toContain(byGroupCall.email);
  });

  it('sales opened an opportunity on each MQA through a member who is no MQL: Fabrikam won, Woodgrove Bank lost', async () => {
    expect(population.accounts!.opportunities).toBe(4);
    expect((await leadView(stack, group('Fabrikam').members[0]!.email)).status).toBe('won');
    expect((await leadView(stack, group('Woodgrove Bank').members[1]!.email)).status).toBe('lost');
    expect((await leadView(stack, group('Contoso').members[0]!.email)).status).toBe('sql');
    expect((await leadView(stack, group('Adventure Works').members[1]!.email)).status).toBe('sql');
  });
});
