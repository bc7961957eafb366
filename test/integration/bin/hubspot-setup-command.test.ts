import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { environmentWithout, runMql } from '../../setup/cli.ts';

const token = 'pat-na1-00000000-fake-4b2c-9d3e-0123456789ab';
let hubspot: HubSpotStandIn;

beforeEach(async () => {
  hubspot = await startHubSpotStandIn({ token });
});
afterEach(async () => {
  await hubspot.close();
});

describe('npx mql crm setup (the command)', () => {
  // A directory of its own, so no developer's .env is read.
  const cwd = mkdtempSync(join(tmpdir(), 'mql-crm-setup-'));
  const run = (env: Record<string, string>, args = ['crm', 'setup']) =>
    runMql(args, { cwd, env: environmentWithout(/^(HUBSPOT_|CRM_ADAPTER$|MQL_SECRET_ARNS$)/, env) });

  it('creates the properties against HUBSPOT_BASE_URL, prints what it did, and creates nothing the second time', async () => {
    const env = { HUBSPOT_ACCESS_TOKEN: token, HUBSPOT_BASE_URL: hubspot.url, MQL_ALLOW_HTTP_URLS: '1' };
    const first = await run(env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('property group mql_engine: created');
    expect(first.stdout).toContain('property mql_reasons: created');
    expect(first.stdout).toContain('company property mql_account_key: created');
    expect(first.stdout).toContain('13 created');
    const second = await run(env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('property mql_reasons: already there, left as it is');
    expect(second.stdout).toContain('nothing to do');
    expect(first.stdout + second.stdout).not.toContain(token);
  });

  it('refuses without a token, with a wrong one, for another CRM and for another verb', async () => {
    const none = await run({ HUBSPOT_BASE_URL: hubspot.url });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('HUBSPOT_ACCESS_TOKEN');
    const wrong = await run({ HUBSPOT_ACCESS_TOKEN: 'pat-na1-wrong', HUBSPOT_BASE_URL: hubspot.url, MQL_ALLOW_HTTP_URLS: '1' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('401');
    const salesforce = await run({ HUBSPOT_ACCESS_TOKEN: token, HUBSPOT_BASE_URL: hubspot.url, CRM_ADAPTER: 'salesforce' });
    expect(salesforce.code).toBe(1);
    expect(salesforce.stderr).toContain('prepares HubSpot');
    const verb = await run({ HUBSPOT_ACCESS_TOKEN: token, HUBSPOT_BASE_URL: hubspot.url }, ['crm', 'teardown']);
    expect(verb.code).toBe(1);
    expect(hubspot.calls.filter((call) => call.method === 'POST')).toHaveLength(0);
  });
});
