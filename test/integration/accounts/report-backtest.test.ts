/**
 * Accounts in `mql report` and `mql backtest` on the embedded local stack (docs/accounts.md, "Accounts in backtests
 * and reports"): buying groups posted through the signed events route with their own (past) times, sales outcomes
 * through POST /webhooks/crm, then the figures: MQAs, MQA -> opportunity (an outcome after the MQA only), and the
 * accounts a stricter candidate model no longer qualifies.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BacktestWithAccounts } from '../../../lib/jobs/backtest.ts';
import { runBacktest } from '../../../lib/jobs/backtest.ts';
import type { ReportFigures } from '../../../lib/jobs/report/figures.ts';
import { renderReportHtml } from '../../../lib/jobs/report/html.ts';
import { buildReport } from '../../../lib/jobs/report/load.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { parseModel } from '../../setup/installed-model.ts';
import { crmSecret, eventsSecret, post, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadStoreOf, startTestStack } from '../../setup/stack.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../..', import.meta.url));
const section = JSON.parse(readFileSync(new URL('../../../examples/account-section.json', import.meta.url), 'utf8')) as { account: Record<string, any> };
const { account: _account, ...content } = JSON.parse(readFileSync(new URL('../../../lib/core/default-model.json', import.meta.url), 'utf8')) as Record<
  string,
  unknown
>;
/** A model that scores no account: the default model without its `account` section. */
const noAccountModel = parseModel(content);
const modelFile = { ...content, ...section };
const model = parseModel(modelFile);
/** The same model with an account bar no buying group here reaches: every MQA is lost. */
const strictFile = { ...content, account: { ...section.account, thresholds: { ...section.account.thresholds, mqa: 200, recycleBelow: 150 } } };
const strict = parseModel(strictFile);

const day = 86_400_000;
const now = new Date();
const daysAgo = (days: number, seconds = 0) => new Date(now.getTime() - days * day + seconds * 1000).toISOString();
const tag = randomUUID().slice(0, 8);
const alpha = `alpha-${tag}.com`;
const beta = `beta-${tag}.com`;
const gamma = `gamma-${tag}.com`;

let stack: LocalStack;
let store: LeadStore;
let dir: string;

/** A person of the company at `days` ago: identified with a title, then one tracked event a second later. */
function person(email: string, title: string, event: string, days: number, properties: object = {}): object[] {
  return [
    {
      type: 'identify',
      messageId: `identify-${randomUUID()}`,
      timestamp: daysAgo(days),
      userId: `user-${email}`,
      traits: { email, title, industry: 'Software', company: { name: 'Bigco', employee_count: 1200 } },
    },
    {
      type: 'track',
      event,
      messageId: `${event}-${randomUUID()}`,
      timestamp: daysAgo(days, 1),
      userId: `user-${email}`,
      context: { traits: { email } },
      properties,
    },
  ];
}

/** A buying group at `days` ago: a VP, a director and a manager on three days in a row (105 points on the third). */
function buyingGroup(domain: string, days: number): object[] {
  return [
    ...person(`vp@${domain}`, 'VP Engineering', 'Content Downloaded', days, { contentType: 'case_study' }),
    ...person(`director@${domain}`, 'Director of IT', 'Webinar Attended', days - 1),
    ...person(`manager@${domain}`, 'IT Manager', 'Webinar Attended', days - 2),
  ];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mql-account-report-'));
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelFile));
  writeFileSync(join(dir, 'strict.json'), JSON.stringify(strictFile));
  stack = await startTestStack({
    env: {
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      CRM_FEEDBACK_SECRET: crmSecret,
      CRM_ADAPTER: 'none',
      MQL_MODEL_PATH: join(dir, 'model.json'),
      LOG_LEVEL: 'ERROR',
    },
  });
  store = leadStoreOf(stack);
  const messages = [
    ...buyingGroup(alpha, 30),
    ...buyingGroup(beta, 20),
    ...person(`solo@${gamma}`, 'VP Sales', 'Webinar Attended', 15),
    ...person(`freelancer.${tag}@gmail.com`, 'Consultant', 'Webinar Attended', 15),
  ];
  expect((await post(stack.urls['POST /webhooks/events']!, signedDelivery({ batch: messages }))).status).toBe(200);
  // Sales takes alpha's director as an SQL ten days after alpha became an MQA; beta's VP was won BEFORE beta was one.
  const outcomes = [
    { id: `sql-${tag}`, email: `director@${alpha}`, outcome: 'sql', occurredAt: daysAgo(10) },
    { id: `won-${tag}`, email: `vp@${beta}`, outcome: 'won', occurredAt: daysAgo(21), amount: 1000, currency: 'USD' },
  ];
  const feedback = await post(stack.urls['POST /webhooks/crm']!, signedDelivery({ outcomes }, { secret: crmSecret }));
  expect(feedback.status, JSON.stringify(feedback.body)).toBe(200);
  await stack.drain();
  writeFileSync(
    join(dir, 'stack.json'),
    JSON.stringify({
      baseUrl: stack.baseUrl,
      dynamoEndpoint: stack.dynamoEndpoint,
      sqsEndpoint: stack.sqsEndpoint,
      tableName: stack.tableName,
      queueUrls: stack.queueUrls,
    }),
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const mql = (...args: string[]) =>
  run(process.execPath, [join(root, 'bin/mql.ts'), ...args, '--data-dir', dir], {
    cwd: dir,
    env: { ...process.env, MQL_MODEL_PATH: join(dir, 'model.json'), LOG_LEVEL: 'WARN' },
    timeout: 120_000,
  });

describe('accounts in mql report', () => {
  let figures: ReportFigures;
  beforeAll(async () => {
    figures = await buildReport(store, { model, now });
  });

  it('counts the MQAs when their buying group engaged, and an opportunity only after the MQA', () => {
    const accounts = figures.accounts!;
    const ours = accounts.list.filter((mqa) => mqa.key.endsWith(`-${tag}.com`));
    // Two buying groups qualify on their third member's event; the lone VP's account does not; gmail forms none.
    expect(ours.map((mqa) => [mqa.key, mqa.qualifiedAt, mqa.members])).toEqual([
      [beta, daysAgo(18, 1), 3],
      [alpha, daysAgo(28, 1), 3],
    ]);
    expect(ours.find((mqa) => mqa.key === alpha)!.opportunity).toEqual({ type: 'sql', at: daysAgo(10) });
    expect(ours.find((mqa) => mqa.key === beta)!.opportunity).toBeUndefined();
    expect(accounts).toMatchObject({ accounts: 3, mqas: 2, opportunities: 1, rate: 0.5, threshold: 100 });
    expect(accounts.mqaNow).toBeLessThanOrEqual(accounts.mqas);
    expect(figures.definitions['MQA -> opportunity']).toMatch(/at or after the moment the account first became an MQA/);
  });

  it('leaves the accounts out for a model without an account section', async () => {
    expect((await buildReport(store, { model: noAccountModel, now })).accounts).toBeUndefined();
  });

  it('mql report prints the accounts next to the leads and writes them into the HTML page', async () => {
    const { stdout } = await mql('report', '--now', now.toISOString(), '--quiet');
    expect(stdout).toContain('Accounts (MQA at 100)');
    expect(stdout).toMatch(/^ {2}MQA -> opportunity 50\.0% \(1\/2\); MQA now \d+$/m);
    expect(stdout).toMatch(new RegExp(`^ {4}${alpha.replace('.', '\\.')}\\s+${daysAgo(28, 1)}\\s+\\d+\\s+3\\s+sql at ${daysAgo(10)}$`, 'm'));
    const page = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(page).toBe(renderReportHtml(await buildReport(store, { model, now })));
    expect(page).toContain('<b data-figure="account-opportunities">1</b>');
    expect(page).toContain('<span data-figure="mqa-opportunity-rate">50.0%</span>');
  }, 120_000);
});

describe('accounts in mql backtest', () => {
  let report: BacktestWithAccounts;
  beforeAll(async () => {
    report = await runBacktest(store, { current: model, candidate: strict, now });
  });

  it('lists the accounts a stricter account bar no longer qualifies, with their status and total under each', () => {
    const accounts = report.accounts!;
    expect(accounts.current).toMatchObject({ version: model.version, scoresAccounts: true, accounts: 3, mqas: 2 });
    expect(accounts.candidate).toMatchObject({ version: strict.version, scoresAccounts: true, accounts: 3, mqas: 0, mqaNow: 0 });
    expect(accounts.noLongerQualifying).toEqual({ count: 2, sample: [alpha, beta] });
    expect(accounts.newlyQualifying).toEqual({ count: 0, sample: [] });
    // Same members, same total: only the status of the accounts that were MQAs changes.
    const alphaChange = accounts.changed.sample.find((change) => change.key === alpha)!;
    expect(alphaChange.current).toMatchObject({ qualified: true });
    expect(alphaChange.candidate).toMatchObject({ qualified: false, total: alphaChange.current!.total });
    expect(accounts.changed.sample.map((change) => change.key)).not.toContain(gamma);
  });

  it('says a candidate without an account section scores no account', async () => {
    const against = await runBacktest(store, { current: model, candidate: noAccountModel, now });
    expect(against.accounts).toMatchObject({ candidate: { scoresAccounts: false, accounts: 0, mqas: 0 }, noLongerQualifying: { count: 2 } });
    // Neither model scores accounts: no account part at all.
    expect((await runBacktest(store, { current: noAccountModel, candidate: noAccountModel, now })).accounts).toBeUndefined();
  });

  it('mql backtest --model prints MQA counts and the accounts that change', async () => {
    const { stdout } = await mql('backtest', '--model', join(dir, 'strict.json'), '--now', now.toISOString(), '--quiet');
    expect(stdout).toMatch(/^MQAs \(ever, up to now\)\s+2\s+0$/m);
    expect(stdout).toContain('accounts no longer qualifying under the candidate: 2');
    expect(stdout).toMatch(new RegExp(`^ {2}${alpha.replace('.', '\\.')} {2}\\w+ \\d+ -> \\w+ \\d+$`, 'm'));
    expect(stdout).toContain('account MQAs: ');
  }, 120_000);
});
