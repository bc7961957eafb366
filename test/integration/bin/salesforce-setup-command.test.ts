/**
 * `npx mql crm setup salesforce` against the Salesforce stand-in: it logs in as the adapter does, reads the
 * Lead's describe, and reports each field the adapter writes (missing, mistyped, not editable) with what
 * to create in Setup, changing nothing; it exits 1 until nothing is missing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resetSalesforceSessions } from '../../../lib/crm/salesforce.ts';
import { salesforceSettingsFromEnv } from '../../../lib/crm/salesforce-fields.ts';
import { checkSalesforce, formatSalesforceSetup } from '../../../lib/crm/salesforce-setup.ts';
import type { SalesforceStandIn, SalesforceStandInOptions } from '../../../lib/local/stand-ins/salesforce.ts';
import { standInCustomFields, startSalesforceStandIn } from '../../../lib/local/stand-ins/salesforce.ts';
import { environmentWithout, runMql } from '../../setup/cli.ts';

const clientId = '3MVG9FAKECLIENTID';
const clientSecret = 'FAKESECRET-test-only-9f8e7d';
const externalIdField = 'MQL_External_Id__c';
let standIn: SalesforceStandIn | undefined;

afterEach(async () => {
  await standIn?.close();
  standIn = undefined;
});

async function org(options: Partial<SalesforceStandInOptions> = {}) {
  resetSalesforceSessions();
  standIn = await startSalesforceStandIn({ clientId, clientSecret, externalIdField, ...options });
  return standIn;
}

const envFor = (url: string, extra: Record<string, string> = {}) => ({
  SALESFORCE_INSTANCE_URL: url,
  MQL_ALLOW_HTTP_URLS: '1',
  SALESFORCE_CLIENT_ID: clientId,
  SALESFORCE_EXTERNAL_ID_FIELD: externalIdField,
  ...extra,
});

describe('checkSalesforce (mql crm setup salesforce)', () => {
  it('finds nothing to do in an org with every field and status, saying how MQL_Date__c will be written', async () => {
    const sf = await org({ fieldTypes: { MQL_Date__c: 'date' } });
    const settings = salesforceSettingsFromEnv(envFor(sf.url), clientSecret);
    const result = await checkSalesforce(settings);
    expect(result.problems).toBe(0);
    const text = formatSalesforceSetup(result, settings);
    expect(text).toContain('MQL_External_Id__c (SALESFORCE_EXTERNAL_ID_FIELD): ok, Text(255), External ID, Unique');
    expect(text).toContain('Lead_Score__c (SALESFORCE_SCORE_FIELD): ok, Number');
    expect(text).toContain('MQL_Date__c (SALESFORCE_QUALIFIED_AT_FIELD): ok, Date, the adapter writes the day it qualified (UTC), YYYY-MM-DD');
    expect(text).toContain('Lead Status "Marketing Qualified" (SALESFORCE_MQL_STATUS): ok, active');
    expect(text).toContain('everything the adapter writes is there');
    // The login and the describes (Lead, Account), nothing written.
    expect(sf.calls.map((call) => `${call.method} ${call.status}`)).toEqual(['POST 200', 'GET 200', 'GET 200']);
  });

  it('reports a missing field with what to create, a mistyped one, and a status the picklist lacks', async () => {
    const sf = await org({
      customFields: standInCustomFields.filter((name) => name !== 'Fit_Score__c'),
      fieldTypes: { MQL_Reasons__c: 'string', MQL_Date__c: 'date' },
      statuses: ['Open - Not Contacted', 'Working - Contacted', 'Closed - Converted', 'Closed - Not Converted'],
    });
    const settings = salesforceSettingsFromEnv(envFor(sf.url, { SALESFORCE_BEHAVIOR_SCORE_FIELD: '' }), clientSecret);
    const result = await checkSalesforce(settings);
    expect(result.problems).toBe(3);
    const text = formatSalesforceSetup(result, settings);
    expect(text).toContain(
      'Fit_Score__c (SALESFORCE_FIT_SCORE_FIELD): missing. Create it: Setup > Object Manager > Lead > Fields & Relationships > New > Number (Length 18, Decimal Places 0), Field Label "Fit Score", Field Name "Fit_Score"',
    );
    expect(text).toContain('or set SALESFORCE_FIT_SCORE_FIELD= (empty) to send nothing');
    expect(text).toContain('MQL_Reasons__c (SALESFORCE_REASONS_FIELD): is Text(255), the adapter needs Long Text Area (Length 32,768');
    expect(text).toContain('SALESFORCE_BEHAVIOR_SCORE_FIELD: set empty: not sent');
    expect(text).toContain('Lead Status "Marketing Qualified" (SALESFORCE_MQL_STATUS): not an active value');
    expect(text).toContain('3 problem(s); nothing was changed');
    expect(sf.calls.every((call) => call.method !== 'PATCH')).toBe(true);
  });
});

describe('npx mql crm setup salesforce (the command)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'mql-crm-setup-sf-'));
  const run = (env: Record<string, string>, args = ['crm', 'setup', 'salesforce']) =>
    runMql(args, { cwd, env: environmentWithout(/^(HUBSPOT_|SALESFORCE_|CRM_ADAPTER$|MQL_SECRET_ARN$)/, env) });

  it('prints the check and exits 0 when the org is ready, 1 with what to create when it is not', async () => {
    const ready = await org();
    const ok = await run({ ...envFor(ready.url), SALESFORCE_CLIENT_SECRET: clientSecret });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('MQL_Date__c (SALESFORCE_QUALIFIED_AT_FIELD): ok, Date/Time');
    expect(ok.stdout + ok.stderr).not.toContain(clientSecret);
    await ready.close();

    const lacking = await org({ customFields: [] });
    const missing = await run({ ...envFor(lacking.url), SALESFORCE_CLIENT_SECRET: clientSecret, CRM_ADAPTER: 'salesforce' });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('Lead_Score__c (SALESFORCE_SCORE_FIELD): missing. Create it');
    expect(missing.stdout).toContain('6 problem(s)');
  });

  it('refuses without its settings, with a wrong secret, and `crm setup` alone under CRM_ADAPTER=salesforce names the verb', async () => {
    const sf = await org();
    const none = await run({ SALESFORCE_CLIENT_SECRET: clientSecret });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('SALESFORCE_INSTANCE_URL');
    const wrong = await run({ ...envFor(sf.url), SALESFORCE_CLIENT_SECRET: 'wrong' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('refused the login');
    const bare = await run({ ...envFor(sf.url), SALESFORCE_CLIENT_SECRET: clientSecret, CRM_ADAPTER: 'salesforce' }, ['crm', 'setup']);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('npx mql crm setup salesforce');
    const other = await run({}, ['crm', 'setup', 'pipedrive']);
    expect(other.code).toBe(1);
  });
});
