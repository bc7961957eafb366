/**
 * `npx mql stand-in hubspot|salesforce` as a child process: it prints the env lines pointing at itself,
 * answers the CRM's protocol with the credentials of its environment, prints each call and each
 * contact / Lead change on a line, never prints the credentials, and stops cleanly on SIGINT.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { environmentWithout, mqlBin, runMql } from '../../setup/cli.ts';

// A directory of its own, so no developer's .env is read.
const cwd = mkdtempSync(join(tmpdir(), 'mql-stand-in-'));
const token = 'pat-na1-00000000-fake-7c1d-4e2f-0123456789ab';
const salesforce = {
  SALESFORCE_CLIENT_ID: '3MVG9FAKESTANDINCLIENT',
  SALESFORCE_CLIENT_SECRET: 'fake-stand-in-consumer-secret-0451',
  SALESFORCE_EXTERNAL_ID_FIELD: 'MQL_External_Id__c',
};

const cleanEnv = (env: Record<string, string>) => environmentWithout(/^(HUBSPOT_|SALESFORCE_|CRM_ADAPTER$|MQL_SECRET_ARNS$)/, env);

interface Running {
  child: ChildProcessWithoutNullStreams;
  output(): string;
  /** Resolves with the output once `pattern` is in it (rejects if the process ends first). */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Running[] = [];
afterEach(() => {
  for (const { child } of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function start(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [mqlBin, 'stand-in', ...args], { cwd, env: cleanEnv(env) });
  let stdout = '';
  let stderr = '';
  const waiting: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void; reject: (error: Error) => void }[] = [];
  const check = () => {
    for (const wait of [...waiting]) {
      const match = stdout.match(wait.pattern);
      if (match) {
        waiting.splice(waiting.indexOf(wait), 1);
        wait.resolve(match);
      }
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    check();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (code, signal) => {
      for (const wait of waiting.splice(0))
        wait.reject(new Error(`stand-in exited (${code ?? signal}) before printing ${wait.pattern}; stdout:\n${stdout}\nstderr:\n${stderr}`));
      resolveExit({ code, signal });
    }),
  );
  const entry: Running = {
    child,
    output: () => stdout,
    waitFor: (pattern) =>
      new Promise((resolveMatch, reject) => {
        // A guard so a missing line fails with the output, not a bare test timeout.
        const guard = setTimeout(() => reject(new Error(`no ${pattern} in the stand-in's output:\n${stdout}\nstderr:\n${stderr}`)), 15_000);
        const done = (match: RegExpMatchArray) => {
          clearTimeout(guard);
          resolveMatch(match);
        };
        waiting.push({
          pattern,
          resolve: done,
          reject: (error) => {
            clearTimeout(guard);
            reject(error);
          },
        });
        check();
      }),
    exited,
  };
  running.push(entry);
  return entry;
}

const run = (args: string[], env: Record<string, string>) => runMql(['stand-in', ...args], { cwd, env: cleanEnv(env) });

describe('npx mql stand-in hubspot', () => {
  it('prints HUBSPOT_BASE_URL, logs each call and contact change, keeps the token out of its output, stops on SIGINT', async () => {
    const standIn = start(['hubspot', '--port', '0'], { HUBSPOT_ACCESS_TOKEN: token });
    const [, url] = await standIn.waitFor(/HUBSPOT_BASE_URL=(http:\/\/127\.0\.0\.1:\d+)\n/);
    expect(standIn.output()).toContain('CRM_ADAPTER=hubspot');
    expect(standIn.output()).toContain('npx mql crm setup');

    const upsert = (bearer: string, properties: Record<string, string>) =>
      fetch(`${url}/crm/v3/objects/contacts/batch/upsert`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ idProperty: 'email', id: 'dana@example.com', properties }] }),
      });
    expect((await upsert('pat-na1-wrong', { firstname: 'Dana' })).status).toBe(401);
    await standIn.waitFor(/POST \/crm\/v3\/objects\/contacts\/batch\/upsert {2}401\n/);
    expect((await upsert(token, { firstname: 'Dana', lifecyclestage: 'lead' })).status).toBe(200);
    await standIn.waitFor(/contact \d+ dana@example\.com created: firstname=Dana, lifecyclestage=lead\n/);
    expect((await upsert(token, { lifecyclestage: 'marketingqualifiedlead' })).status).toBe(200);
    await standIn.waitFor(/contact \d+ dana@example\.com updated: lifecyclestage lead -> marketingqualifiedlead\n/);
    // A refused row changes nothing: its call is logged, no contact line follows.
    expect((await upsert(token, { mql_score: '70' })).status).toBe(400);
    await standIn.waitFor(/batch\/upsert {2}400\n/);

    standIn.child.kill('SIGINT');
    expect(await standIn.exited).toEqual({ code: 0, signal: null });
    const output = standIn.output();
    expect(output).toMatch(/HubSpot stand-in stopped\n$/);
    expect(output.match(/contact \d+ dana@example\.com/g)).toHaveLength(2);
    expect(output).not.toContain(token);
  });

  it('refuses without a token, for another CRM, with a bad or taken port (Salesforce too)', async () => {
    const none = await run(['hubspot'], {});
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('stand-in needs HUBSPOT_ACCESS_TOKEN');
    const other = await run(['pipedrive'], { HUBSPOT_ACCESS_TOKEN: token });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('stand-in runs hubspot or salesforce, got "pipedrive"');
    const missing = await run([], { HUBSPOT_ACCESS_TOKEN: token });
    expect(missing.code).toBe(1);
    const badPort = await run(['hubspot', '--port', 'eighty'], { HUBSPOT_ACCESS_TOKEN: token });
    expect(badPort.code).toBe(1);
    expect(badPort.stderr).toContain('--port must be a port number');
    const taken = createServer();
    await new Promise<void>((resolveListen) => taken.listen(0, '127.0.0.1', resolveListen));
    try {
      const port = String((taken.address() as AddressInfo).port);
      const busy = await run(['hubspot', '--port', port], { HUBSPOT_ACCESS_TOKEN: token });
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain(`mql: port ${port} is taken (EADDRINUSE)`);
      const busySalesforce = await run(['salesforce', '--port', port], salesforce);
      expect(busySalesforce.code).toBe(1);
      expect(busySalesforce.stderr).toContain(`mql: port ${port} is taken (EADDRINUSE)`);
    } finally {
      await new Promise((resolveClose) => taken.close(resolveClose));
    }
  });
});

describe('npx mql stand-in salesforce', () => {
  it('prints SALESFORCE_INSTANCE_URL, logs the login, the upserts and each Lead change, keeps the secret out, stops on SIGINT', async () => {
    const standIn = start(['salesforce', '--port', '0'], salesforce);
    const [, url] = await standIn.waitFor(/SALESFORCE_INSTANCE_URL=(http:\/\/127\.0\.0\.1:\d+)\n/);
    expect(standIn.output()).toContain('CRM_ADAPTER=salesforce');

    const login = await fetch(`${url}/services/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: salesforce.SALESFORCE_CLIENT_ID,
        client_secret: salesforce.SALESFORCE_CLIENT_SECRET,
      }),
    });
    expect(login.status).toBe(200);
    const { access_token: accessToken } = (await login.json()) as { access_token: string };
    const upsert = (fields: Record<string, unknown>) =>
      fetch(`${url}/services/data/v62.0/sobjects/Lead/MQL_External_Id__c/${encodeURIComponent('dana@example.com')}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(fields),
      });
    expect((await upsert({ LastName: 'Lee', Company: 'Acme', Status: 'Marketing Qualified', Lead_Score__c: 71 })).status).toBe(201);
    const [created] = await standIn.waitFor(/Lead 00Q\w+ dana@example\.com created: [^\n]*\n/);
    for (const field of ['LastName=Lee', 'Company=Acme', 'Status=Marketing Qualified', 'Lead_Score__c=71', 'MQL_External_Id__c=dana@example.com'])
      expect(created).toContain(field);
    const reasons = `Recycled: score fell below 40\n${'x'.repeat(120)}`;
    expect((await upsert({ Status: 'Open - Not Contacted', MQL_Reasons__c: reasons })).status).toBe(200);
    const [updated] = await standIn.waitFor(/Lead 00Q\w+ dana@example\.com updated: [^\n]*\n/);
    expect(updated).toContain('Status Marketing Qualified -> Open - Not Contacted');
    // Text stays on the line: its newline shown as ⏎, cut with its length.
    expect(updated).toContain(`MQL_Reasons__c ∅ -> Recycled: score fell below 40⏎xxx`);
    expect(updated).toContain(`…(${reasons.length} chars)`);
    expect(updated).not.toContain('LastName');
    expect((await upsert({ Status: 'Hot' })).status).toBe(400);
    await standIn.waitFor(/PATCH \/services\/data\/v62\.0\/sobjects\/Lead\/MQL_External_Id__c\/dana%40example\.com {2}400\n/);

    standIn.child.kill('SIGINT');
    expect(await standIn.exited).toEqual({ code: 0, signal: null });
    const output = standIn.output();
    expect(output).toMatch(/POST \/services\/oauth2\/token {2}200\n/);
    expect(output).toMatch(/Salesforce stand-in stopped\n$/);
    expect(output.match(/Lead 00Q\w+ dana@example\.com/g)).toHaveLength(2);
    expect(output).not.toContain(salesforce.SALESFORCE_CLIENT_SECRET);
    expect(output).not.toContain(accessToken);
  });

  it('refuses without each of its settings', async () => {
    for (const name of Object.keys(salesforce)) {
      const without = Object.fromEntries(Object.entries(salesforce).filter(([key]) => key !== name));
      const result = await run(['salesforce'], without);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`stand-in needs ${name}`);
    }
  });
});
