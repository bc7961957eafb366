/**
 * GET /accounts/{domain} on the embedded local stack (docs/accounts.md, "Reading an account"): a buying group's
 * account scored now from its members, a group call's account by its group id, and every refusal (unknown, free
 * mail, a model without an account section, bad input) answered with the project's JSON error, writing nothing and
 * logging no address; and `mql explain --account`, which prints that view.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberAccountOf } from '../../../lib/accounts/members.ts';
import { evaluateAccount } from '../../../lib/core/account-lifecycle.ts';
import { AccountStore } from '../../../lib/store/accounts.ts';
import { StoreTable } from '../../../lib/store/table.ts';
import { findAccountView } from '../../../lib/views/account-view.ts';
import { personMessages, type TrackedEvent } from '../../setup/accounts.ts';
import { runMql } from '../../setup/cli.ts';
import { captureHandlerLogs } from '../../setup/handler-logs.ts';
import { parseModel } from '../../setup/installed-model.ts';
import { countItems, eventsSecret, post, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';

const section = JSON.parse(readFileSync(new URL('../../../examples/account-section.json', import.meta.url), 'utf8')) as object;
const content = JSON.parse(readFileSync(new URL('../../../lib/core/default-model.json', import.meta.url), 'utf8')) as object;
const model = parseModel({ ...content, ...section });
const logLines = captureHandlerLogs('INFO');

let stack: LocalStack;
let dir: string;
let accounts: AccountStore;
let eventsUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mql-account-read-'));
  writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...content, ...section }));
  stack = await startTestStack({
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'none', MQL_MODEL_PATH: join(dir, 'model.json') },
  });
  eventsUrl = stack.urls['POST /webhooks/events']!;
  const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
  accounts = new AccountStore(new StoreTable({ client: DynamoDBDocumentClient.from(stack.dynamodb), tableName: stack.tableName }));
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A person of the company (test/setup/accounts.ts), `extra` messages between the identify and the events. */
const person = (email: string, title: string, events: readonly TrackedEvent[], extra: object[] = []) => personMessages(email, title, events, { extra });

async function send(messages: object[]): Promise<void> {
  const answer = await post(eventsUrl, signedDelivery({ batch: messages }));
  expect(answer.status).toBe(200);
}

/** GET /accounts/{path} as is (the caller encodes). */
async function getAccount(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack.baseUrl}/accounts/${path}`);
  return { status: response.status, body: await response.json() };
}

describe('GET /accounts/{domain}', () => {
  const domain = `bigco-${randomUUID().slice(0, 8)}.com`;
  const vp = `vp@${domain}`;
  const director = `director@${domain}`;
  const manager = `manager@${domain}`;

  it("answers a buying group's MQA scored now from its members, as a from-scratch evaluation scores it", async () => {
    await send(person(vp, 'VP Engineering', [{ event: 'Content Downloaded', properties: { contentType: 'case_study' } }]));
    await send(person(director, 'Director of IT', [{ event: 'Webinar Attended' }]));
    await send(person(manager, 'IT Manager', [{ event: 'Webinar Attended' }]));
    await stack.drain();

    const { status, body } = await getAccount(domain);
    expect(status).toBe(200);
    const read = await accounts.read(domain);
    const control = evaluateAccount(memberAccountOf(read.leads[0], model)!, read.leads, undefined, model, new Date(body.scoredAt)).breakdown!;
    expect(body).toMatchObject({
      key: domain,
      kind: 'domain',
      domain,
      status: 'mqa',
      score: { total: control.total, fit: 30, engagement: 55, breadth: 20, engagedMembers: 3, threshold: 100, recycleBelow: 70, modelVersion: model.version },
      meetsThresholds: true,
      statusChangedAt: read.state!.statusChangedAt,
      mqaAt: read.state!.mqaAt,
    });
    expect(body.storedStatus).toBeUndefined();
    expect(body.score.total).toBe(105);
    // Whole points that add up, and every member with its own score, what it gives and its role.
    expect(body.reasons.reduce((sum: number, reason: { points: number }) => sum + reason.points, 0)).toBe(body.score.total);
    expect(body.members.map((member: { leadId: string }) => member.leadId).sort()).toEqual([director, manager, vp]);
    const vpMember = body.members.find((member: { leadId: string }) => member.leadId === vp);
    expect(vpMember).toMatchObject({ status: expect.any(String), engagement: 15, counted: true, engaged: true, role: expect.any(String), cut: 0 });
    expect(vpMember.score.total).toBeGreaterThan(0);
    for (const member of body.members) expect(member.status).not.toBe('mql');
    // An MQA: when decay alone recycles it, strictly later than now.
    expect(Date.parse(body.recyclesAt)).toBeGreaterThan(Date.parse(body.scoredAt));
    expect(body.missing[0]).toMatch(/^an MQA \(total 105\)/);
  });

  it('answers a host under the domain with the domain account, and an internationalized name in ASCII', async () => {
    expect((await getAccount(`mail.${domain}`)).body).toMatchObject({ key: domain, status: 'mqa' });
    expect((await getAccount(encodeURIComponent(domain.toUpperCase()))).body.key).toBe(domain);
    const unicode = await getAccount(encodeURIComponent('büro.müller.de'));
    expect(unicode).toMatchObject({ status: 404, body: { error: 'not_found', detail: expect.stringMatching(/^no account xn--mller-kva\.de: /) } });
  });

  it("answers a group call's account by its group id, and a domain its website names with 404 and the way to it", async () => {
    const groupId = `acct-${randomUUID().slice(0, 8)}`;
    const website = `groupco-${randomUUID().slice(0, 8)}.io`;
    const email = `pat.${randomUUID().slice(0, 6)}@gmail.com`;
    const group = {
      type: 'group',
      messageId: `group-${randomUUID()}`,
      // After the identify call (its traits are the person's; the group's are newer).
      timestamp: new Date(Date.now() + 500).toISOString(),
      userId: `user-${email}`,
      groupId,
      traits: { name: 'Groupco', industry: 'Software', employees: 2000, website: `https://www.${website}/about` },
      context: { traits: { email } },
    };
    await send(person(email, 'VP Sales', [{ event: 'Webinar Attended' }], [group]));
    await stack.drain();

    const { status, body } = await getAccount(encodeURIComponent(`group:${groupId}`));
    expect(status).toBe(200);
    expect(body).toMatchObject({ key: `group:${groupId}`, kind: 'group', groupId, domain: website, status: 'engaged' });
    expect(body.members.map((member: { leadId: string }) => member.leadId)).toEqual([email]);
    expect(body.traits.industry).toEqual({ value: 'Software', from: 'group' });

    const byWebsite = await getAccount(website);
    expect(byWebsite.status).toBe(404);
    expect(byWebsite.body).toEqual({ error: 'not_found', detail: expect.stringContaining('/accounts/group%3A<groupId>') });
    // The group id, which may be anything a sender keys accounts by, is never in a log line.
    expect(logLines.join('\n')).not.toContain(groupId);
    expect(logLines.join('\n')).not.toContain(email);
  });

  it('is 404 for an account nobody is in, for a free-mail or disposable domain, and for a group nobody is in', async () => {
    const unknown = await getAccount(`nobody-${randomUUID().slice(0, 8)}.com`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('not_found');
    const gmail = await getAccount('gmail.com');
    expect(gmail.status).toBe(404);
    expect(gmail.body).toEqual({ error: 'not_found', detail: expect.stringMatching(/^gmail\.com is a personal e-mail domain: it forms no account/) });
    expect((await getAccount('mailinator.com')).body.detail).toMatch(/disposable/);
    const secret = `secret-${randomUUID()}`;
    const group = await getAccount(encodeURIComponent(`group:${secret}`));
    expect(group).toEqual({ status: 404, body: { error: 'not_found', detail: 'no account with that group id (no member has been in it)' } });
    expect(logLines.join('\n')).not.toContain(secret);
  });

  describe('refuses what names no account with 400, writing nothing and logging no address', () => {
    const cases: [string, string][] = [
      ['a bad percent-encoding', '%E0%A4%A'],
      ['a lone percent sign', 'acme%ZZ.com'],
      ["a person's address", encodeURIComponent('dana@acme.com')],
      ['a public suffix alone', 'co.uk'],
      ['a name the suffix list does not know', 'acme.internal'],
      ['an IP address', '192.0.2.1'],
      ['an empty group id', encodeURIComponent('group:')],
      ['a group id over 200 bytes', encodeURIComponent(`group:${'g'.repeat(201)}`)],
      ['an oversize path (8,000 characters)', `${'a'.repeat(8000)}.com`],
      ['an oversize domain (254 characters)', `${'a.'.repeat(125)}acme.com`],
    ];
    for (const [what, path] of cases) {
      it(what, async () => {
        const before = await countItems(stack.dynamodb, stack.tableName);
        const { status, body } = await getAccount(path);
        expect(status).toBe(400);
        expect(body).toEqual({ error: 'bad_request', detail: expect.any(String) });
        expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
        expect(logLines.join('\n')).not.toContain('dana@acme.com');
      });
    }
  });

  it('answers the same read twice without writing anything', async () => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    const state = await accounts.state(domain);
    const first = await getAccount(domain);
    const second = await getAccount(domain);
    expect(first.status).toBe(200);
    expect(second.body.score).toEqual(first.body.score);
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
    expect(await accounts.state(domain)).toEqual(state);
  });
});

describe('mql explain --account', () => {
  const domain = `explainco-${randomUUID().slice(0, 8)}.com`;
  let dataDir: string;
  const cliEnv = () => ({ ...process.env, MQL_MODEL_PATH: join(dir, 'model.json'), LOG_LEVEL: 'WARN' });
  const explain = (...args: string[]) => runMql(['explain', ...args, '--data-dir', dataDir], { cwd: dataDir, env: cliEnv(), timeoutMs: 60_000 });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mql-explain-account-'));
    const { baseUrl, dynamoEndpoint, sqsEndpoint, tableName, queueUrls } = stack;
    writeFileSync(join(dataDir, 'stack.json'), JSON.stringify({ baseUrl, dynamoEndpoint, sqsEndpoint, tableName, queueUrls }));
    await send(person(`ceo@${domain}`, 'CEO', [{ event: 'Webinar Attended' }, { event: 'Content Downloaded', properties: { contentType: 'case_study' } }]));
    await send(person(`analyst@${domain}`, 'Analyst', [{ event: 'Email Opened' }]));
    await stack.drain();
  });

  afterAll(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the members, their contributions and roles, and what is missing, in points that add up', async () => {
    const now = new Date();
    const { code, stdout, stderr } = await explain('--account', domain, '--now', now.toISOString());
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const view = (await findAccountView(accounts, model, domain, now))!;
    expect(stdout).toContain(`${domain}  domain account  status ${view.status}`);
    expect(stdout).toContain(`score ${view.score.total} = fit ${view.score.fit} + engagement ${view.score.engagement} + breadth ${view.score.breadth}`);
    for (const sentence of view.missing) expect(stdout).toContain(`  ${sentence}`);
    expect(stdout).toMatch(/needs \d+ more points? to qualify/);
    // The total row under the reasons, and one member row each, with the engagement it gives.
    expect(stdout).toMatch(new RegExp(`^total\\s+${view.score.total}\\s+the points column adds up to the score$`, 'm'));
    for (const member of view.members) {
      expect(stdout).toMatch(
        new RegExp(
          `^  ${member.leadId.replace('.', '\\.')}\\s+${member.status}\\s+${member.score.total}\\s+${member.score.behavior}\\s+${member.engagement}\\b`,
          'm',
        ),
      );
    }
    const ceo = view.members.find((member) => member.leadId === `ceo@${domain}`)!;
    expect(ceo).toMatchObject({ engaged: true, role: expect.any(String) });
    expect(stdout).toContain(ceo.role);
  }, 60_000);

  it('--json prints the view GET /accounts/{domain} answers, at the --now given', async () => {
    const now = new Date().toISOString();
    const { code, stdout } = await explain('--account', domain, '--json', '--now', now);
    expect(code).toBe(0);
    const printed = JSON.parse(stdout);
    expect(printed.scoredAt).toBe(now);
    expect(printed).toEqual(await findAccountView(accounts, model, domain, new Date(now)));
    // The route answers the same account (scored at its own instant).
    const { scoredAt: _answeredAt, ...answered } = (await getAccount(domain)).body;
    expect(answered).toMatchObject({ key: printed.key, status: printed.status, members: expect.any(Array) });
  }, 60_000);

  it('stops with one line for a free-mail domain, an unknown account, a malformed one, and a lead and an account at once', async () => {
    expect(await explain('--account', 'gmail.com')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^mql: gmail\.com is a personal e-mail domain/) });
    expect(await explain('--account', `nobody-${randomUUID().slice(0, 6)}.com`)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^mql: no account nobody-/),
    });
    expect(await explain('--account', 'acme.internal')).toMatchObject({ code: 1, stderr: expect.stringContaining('--account acme.internal: not a domain') });
    expect(await explain(`ceo@${domain}`, '--account', domain)).toMatchObject({ code: 1, stderr: expect.stringContaining('not both') });
  }, 120_000);
});
