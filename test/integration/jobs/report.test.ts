/**
 * `mql demo --with-outcomes` then `mql report` on the local stack (the .env.example settings): the
 * population goes in through the signed routes, its outcomes move the leads' status, the report's
 * figures add up to what was posted, and the HTML page is looked at in Debian's headless Chromium
 * (a screenshot whose pixels show the charts, and the DOM holding the figures).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReportFigures } from '../../../lib/jobs/report/figures.ts';
import { renderReportHtml, reportColors } from '../../../lib/jobs/report/html.ts';
import { buildReport, loadReportLeads } from '../../../lib/jobs/report/load.ts';
import type { PopulationResult } from '../../../lib/local/demo-population.ts';
import { PopulationDemoError, populationDays, runPopulationDemo } from '../../../lib/local/demo-population.ts';
import { freePort } from '../../../lib/local/dynamodb.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import type { LeadView } from '../../../lib/views/lead-view.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { countColour, decodePng } from '../../setup/png.ts';
import { exampleEnv, type LocalStack, leadStoreOf, startTestStack } from '../../setup/stack.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../..', import.meta.url));
const chromium = '/usr/bin/chromium';
/** Where the screenshot and the page stay after the run, to be looked at. */
const outputDir = join(root, 'test-output', 'report');
const leadCount = 120;

describe('mql demo --with-outcomes and mql report', () => {
  let stack: LocalStack;
  let env: Record<string, string>;
  let store: LeadStore;
  let population: PopulationResult;
  let figures: ReportFigures;
  let dataDir: string;
  const lines: string[] = [];

  /** The CLI as an operator runs it, on this stack (its stack.json), from a directory without .env. */
  const mql = (...args: string[]) =>
    run(process.execPath, [join(root, 'bin/mql.ts'), ...args, '--data-dir', dataDir], { cwd: dataDir, env: { ...process.env, ...env }, timeout: 120_000 });

  beforeAll(async () => {
    // The .env.example CRM settings, on a port of this test's own: the demo listens there itself.
    env = { ...exampleEnv(), CRM_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/crm/leads` };
    stack = await startTestStack({ env });
    store = leadStoreOf(stack);
    dataDir = mkdtempSync(join(tmpdir(), 'mql-report-'));
    const { baseUrl, dynamoEndpoint, sqsEndpoint, tableName, queueUrls } = stack;
    writeFileSync(join(dataDir, 'stack.json'), JSON.stringify({ baseUrl, dynamoEndpoint, sqsEndpoint, tableName, queueUrls }));
    population = await runPopulationDemo({ baseUrl, env, store, model: defaultModel, leads: leadCount, print: (line) => lines.push(line) });
    figures = await buildReport(store, { model: defaultModel, now: new Date() });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores the whole population and the outcomes of its MQLs, accepted and rejected', () => {
    expect(population.events.stored).toBe(population.events.sent);
    expect(population.events.duplicates).toBe(0);
    expect(population.outcomes.stored).toBe(population.outcomes.sent);
    expect(population.mqls).toBeGreaterThan(10);
    expect(population.outcomes.byType.mql_accepted).toBeGreaterThan(0);
    expect(population.outcomes.byType.mql_rejected).toBeGreaterThan(0);
    expect(population.outcomes.byType.won).toBeGreaterThan(0);
    expect(lines.join('\n')).toContain(`${leadCount} leads (seed 5)`);
  });

  it('takes the handoffs of the leads that were MQLs when their events arrived on CRM_WEBHOOK_URL itself', async () => {
    const leads = await loadReportLeads(store, { model: defaultModel, now: new Date() });
    const handedOff = (await Promise.all(leads.map(async (lead) => (await store.getLead(lead.leadId))?.wasMql === true))).filter(Boolean).length;
    expect(population.newMqlsOnArrival).toBe(handedOff);
    expect(population.handoffsReceived).toBe(handedOff);
    expect(lines.join('\n')).toContain(handedOff > 0 ? `the CRM (${env.CRM_WEBHOOK_URL}) received ${handedOff} handoff(s) (lead.mql)` : 'received no handoff');
  });

  it('moves the status of the leads sales decided on', async () => {
    const leads = await loadReportLeads(store, { model: defaultModel, now: new Date() });
    const wonLead = leads.find((lead) => lead.outcomes.at(-1)?.type === 'won');
    const rejected = leads.find((lead) => lead.outcomes.length === 1 && lead.outcomes[0]!.type === 'mql_rejected');
    expect(wonLead && rejected).toBeTruthy();
    const view = async (leadId: string) => (await (await fetch(`${stack.baseUrl}/leads/${encodeURIComponent(leadId)}`)).json()) as LeadView;
    expect((await view(wonLead!.leadId)).status).toBe('won');
    expect(['recycled', 'engaged', 'new', 'mql']).toContain((await view(rejected!.leadId)).status);
    expect((await view(rejected!.leadId)).status).not.toBe('sql');
  });

  it('adds up to what the demo posted: funnel, rejections, won', () => {
    const { funnel } = figures;
    expect(funnel.leads).toBe(leadCount);
    expect(funnel.mqls).toBe(population.mqls);
    expect(funnel.sqls).toBe(population.outcomes.byType.mql_accepted);
    expect(funnel.rejected).toBe(population.outcomes.byType.mql_rejected);
    expect(funnel.won).toBe(population.outcomes.byType.won ?? 0);
    expect(funnel.lost).toBe(population.outcomes.byType.lost ?? 0);
    expect(funnel.outcomesWithoutMql).toBe(0);
    expect(figures.rejectionReasons.reduce((sum, one) => sum + one.count, 0)).toBe(population.outcomes.byType.mql_rejected);
    expect(figures.bySource.reduce((sum, row) => sum + row.leads, 0)).toBe(leadCount);
    expect(figures.bySource.map((row) => row.key)).toEqual(expect.arrayContaining(['paid_search', 'webinar', 'organic']));
    expect(figures.byMonth.reduce((sum, row) => sum + row.mqls, 0)).toBe(population.mqls);
    // About six months of MQLs, none after the population's anchor.
    expect(figures.byMonth.length).toBeGreaterThanOrEqual(5);
    expect(figures.byMonth.at(-1)!.key <= population.anchor.slice(0, 7)).toBe(true);
    expect(figures.scores.bins.reduce((sum, bin) => sum + bin.mqls, 0)).toBe(population.mqls);
  });

  it('--since keeps the leads first seen since then', async () => {
    const since = new Date(Date.parse(population.anchor) - 60 * 86_400_000);
    const recent = await loadReportLeads(store, { model: defaultModel, now: new Date(), since });
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.length).toBeLessThan(leadCount);
    expect(recent.every((lead) => lead.firstSeenAt >= since.toISOString())).toBe(true);
  });

  it('a second run of the CLI posts the same events and outcomes, and the stack stores nothing new', async () => {
    const { stdout } = await mql('demo', '--with-outcomes', '--leads', String(leadCount));
    expect(stdout).toContain(`stored 0 event(s), ${population.events.sent} already there`);
    expect(stdout).toContain(`stored 0 outcome(s), ${population.outcomes.sent} already there`);
    expect(stdout).toContain('received no handoff: no lead changed status');
    const again = await buildReport(store, { model: defaultModel, now: new Date(figures.now) });
    expect(again.funnel).toEqual(figures.funnel);
  }, 180_000);

  it('mql report prints the figures as text and writes the HTML page', async () => {
    const out = join(dataDir, 'report.html');
    const { stdout, stderr } = await mql('report', '--out', out);
    expect(stdout).toMatch(new RegExp(`leads\\s+${leadCount}\\s`));
    expect(stdout).toMatch(new RegExp(`MQL\\s+${figures.funnel.mqls}\\s`));
    expect(stdout).toMatch(new RegExp(`SQL\\s+${figures.funnel.sqls}\\s`));
    for (const title of ['Funnel', 'MQL -> SQL by source', 'MQL -> SQL by month of MQL', 'Score at MQL', 'Rejection reasons', 'Time to MQL'])
      expect(stdout).toContain(title);
    expect(stderr).toContain('wrote');
    expect(readFileSync(out, 'utf8')).toContain(`data-figure="mqls">${figures.funnel.mqls}<`);
  }, 60_000);

  it('mql report without --out writes the page under the data dir, not in the working directory, and prints where', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'mql-report-cwd-'));
    const page = join(dataDir, 'report.html');
    rmSync(page, { force: true });
    const { stdout, stderr } = await run(process.execPath, [join(root, 'bin/mql.ts'), 'report', '--data-dir', dataDir], {
      cwd: elsewhere,
      env: { ...process.env, ...env },
      timeout: 120_000,
    });
    expect(stdout).toMatch(new RegExp(`MQL\\s+${figures.funnel.mqls}\\s`));
    expect(stderr).toBe(`mql: wrote ${page}\n`);
    expect(readFileSync(page, 'utf8')).toContain(`data-figure="mqls">${figures.funnel.mqls}<`);
    expect(existsSync(join(elsewhere, 'report.html'))).toBe(false);
    rmSync(elsewhere, { recursive: true, force: true });
  }, 60_000);

  it('mql report --json --since prints the figures of the leads first seen since then, as JSON', async () => {
    const since = new Date(Date.parse(population.anchor) - 60 * 86_400_000).toISOString();
    const { stdout } = await mql('report', '--json', '--since', since.slice(0, 10));
    const recent = JSON.parse(stdout) as ReportFigures;
    expect(recent.since).toBe(`${since.slice(0, 10)}T00:00:00.000Z`);
    expect(recent.funnel.leads).toBeGreaterThan(0);
    expect(recent.funnel.leads).toBeLessThan(leadCount);
    expect(recent.funnel.mqls).toBeLessThanOrEqual(figures.funnel.mqls);
  }, 60_000);

  it('refuses bad options with a clear message and exit code 1', async () => {
    await expect(mql('report', '--since', 'last tuesday')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('--since must be a date') });
    await expect(mql('demo', '--with-outcomes', '--seed', '5.5')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--seed must be a whole number'),
    });
    await expect(mql('demo', '--with-outcomes', '--leads', 'many')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--leads must be a whole number'),
    });
    await expect(mql('report', '--now', 'soon')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('--now must be an ISO time') });
  }, 60_000);

  it('the population demo says what is missing rather than failing obscurely', async () => {
    const base = { baseUrl: stack.baseUrl, store, model: defaultModel, print: () => {} };
    await expect(runPopulationDemo({ ...base, env: { ...env, EVENTS_WEBHOOK_SECRET: '' } })).rejects.toThrow(/EVENTS_WEBHOOK_SECRET is not set/);
    await expect(runPopulationDemo({ ...base, env: { ...env, CRM_FEEDBACK_SECRET: '' } })).rejects.toThrow(/CRM_FEEDBACK_SECRET is not set/);
    await expect(runPopulationDemo({ ...base, env, leads: 0 })).rejects.toThrow(PopulationDemoError);
    await expect(runPopulationDemo({ ...base, env, baseUrl: 'http://127.0.0.1:1' })).rejects.toThrow(/no local stack answers/);
    // A secret the stack does not know: the route refuses, and the demo says which route and why.
    await expect(runPopulationDemo({ ...base, env: { ...env, EVENTS_WEBHOOK_SECRET: 'whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZw==' } })).rejects.toThrow(
      /POST \/webhooks\/events answered 401/,
    );
  });

  it('opens in headless Chromium: the screenshot shows the charts and the DOM holds the figures', async () => {
    expect(existsSync(chromium), `${chromium} is missing: apt-get install -y chromium`).toBe(true);
    mkdirSync(outputDir, { recursive: true });
    const page = join(outputDir, 'report.html');
    const screenshot = join(outputDir, 'report.png');
    rmSync(screenshot, { force: true });
    writeFileSync(page, renderReportHtml(figures));
    const profile = mkdtempSync(join(tmpdir(), 'mql-chromium-'));
    // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    const flags = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      '--window-size=1200,1600',
    ];
    try {
      await run(chromium, [...flags, `--screenshot=${screenshot}`, `file://${page}`], { timeout: 90_000 });
      const dom = (await run(chromium, [...flags, '--dump-dom', `file://${page}`], { timeout: 90_000, maxBuffer: 20_000_000 })).stdout;
      expect(dom).toContain(`data-figure="leads">${leadCount}<`);
      expect(dom).toContain(`data-figure="mqls">${figures.funnel.mqls}<`);
      expect(dom).toContain(`data-figure="sqls">${figures.funnel.sqls}<`);
      expect(dom).toContain(`data-figure="won">${figures.funnel.won}<`);
      expect(dom).toContain(`data-figure="rejected">${figures.funnel.rejected}<`);
      expect(dom).toContain(`>${figures.byMonth[0]!.key}<`);
      expect(dom).toContain(`>${figures.rejectionReasons[0]!.reason}<`);
      expect((dom.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(6);
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }

    const png = decodePng(readFileSync(screenshot));
    expect([png.width, png.height]).toEqual([1200, 1600]);
    const pixels = png.width * png.height;
    expect(countColour(png, '#ffffff', 3)).toBeLessThan(pixels * 0.97);
    // The bars, drawn: each chart colour covers a real area of the page, not a stray pixel.
    expect(countColour(png, reportColors.mql, 6)).toBeGreaterThan(2000);
    expect(countColour(png, reportColors.sql, 6)).toBeGreaterThan(2000);
    expect(countColour(png, reportColors.rejected, 6)).toBeGreaterThan(500);
    // Text too: dark pixels of the headings and labels.
    expect(countColour(png, '#0f172a', 40)).toBeGreaterThan(1000);
  }, 180_000);

  it('the population spans about six months before its anchor', () => {
    const earliest = Date.parse(population.anchor) - populationDays * 86_400_000;
    expect(figures.byMonth[0]!.key >= new Date(earliest).toISOString().slice(0, 7)).toBe(true);
  });
});
