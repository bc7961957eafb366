/**
 * `mql calibrate` on the embedded local stack (DynamoDB Local): leads scored through the pipeline, sales
 * outcomes posted to POST /webhooks/crm as the operator's CRM integration would, then the calibration
 * read back from the table. One rule (a webinar) predicts SQL, another (a trial) does not: the
 * coefficients say so, the proposed model file loads through the model loader, and `mql backtest` runs
 * on it, as a library call and as the command an operator types.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotEnoughOutcomes } from '../../../lib/core/calibrate.ts';
import type { Pipeline } from '../../../lib/ingest/pipeline.ts';
import { ingest, sqsHandoffQueue } from '../../../lib/ingest/pipeline.ts';
import { runBacktest } from '../../../lib/jobs/backtest.ts';
import { runCalibration, writeProposedModel } from '../../../lib/jobs/calibrate.ts';
import { readModelFile } from '../../../lib/runtime/model-config.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import type { PopulationLead } from '../../setup/calibration-population.ts';
import { calibrationPopulation } from '../../setup/calibration-population.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { crmSecret, post, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';

const day = 24 * 60 * 60 * 1000;
const tag = randomUUID().slice(0, 6);
const start = new Date(Date.now() - 60 * day);
const workDir = mkdtempSync(join(tmpdir(), 'mql-calibrate-'));
const cli = resolve(import.meta.dirname, '../../../bin/mql.ts');

let stack: LocalStack;
let store: LeadStore;
let population: PopulationLead[];

/** `npx mql <args>` against the test stack, from a directory of its own (no .env), as an operator runs it. */
function mql(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [cli, ...args, '--data-dir', workDir], {
    cwd: workDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'SILENT' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

beforeAll(async () => {
  stack = await startTestStack({ env: { CRM_ADAPTER: 'none', CRM_FEEDBACK_SECRET: crmSecret, LOG_LEVEL: 'SILENT' } });
  store = new LeadStore({
    client: DynamoDBDocumentClient.from(stack.dynamodb, { marshallOptions: { removeUndefinedValues: true } }),
    tableName: stack.tableName,
  });
  const pipeline: Pipeline = { store, model: defaultModel, handoffQueue: sqsHandoffQueue(stack.sqs, stack.queueUrls.handoff) };
  population = calibrationPopulation(60, start, tag);
  await ingest(
    population.flatMap((lead) => lead.events),
    pipeline,
    new Date(),
  );
  const outcomes = population.flatMap((lead) =>
    lead.outcomes.map((outcome) => ({ ...outcome, email: lead.leadId, ...(outcome.amount ? { currency: 'USD' } : {}) })),
  );
  const answer = await post(stack.urls['POST /webhooks/crm']!, signedDelivery({ outcomes }, { secret: crmSecret }));
  expect(answer.status).toBe(200);
  await stack.drain();
  // What the `mql` command reads to find a running local stack (`npm start` writes it).
  writeFileSync(
    join(workDir, 'stack.json'),
    JSON.stringify({
      baseUrl: stack.baseUrl,
      dynamoEndpoint: stack.dynamoEndpoint,
      sqsEndpoint: stack.sqsEndpoint,
      tableName: stack.tableName,
      queueUrls: stack.queueUrls,
    }),
  );
});

afterAll(async () => {
  await stack?.stop();
});

describe('mql calibrate on stored leads and outcomes', () => {
  it('the outcomes posted to the CRM feedback route are on the leads', async () => {
    // Lead 4 attended a webinar, reached SQL and was won; lead 0 did both webinar and trial and was lost.
    expect((await store.getLead(population[4]!.leadId))!.status).toBe('won');
    expect((await store.listEvents(population[4]!.leadId)).map((event) => event.type).sort()).toEqual(['profile_updated', 'sql', 'webinar_attended', 'won']);
    expect((await store.getLead(population[0]!.leadId))!.status).toBe('lost');
  });

  it('gives the rule that predicts SQL a larger coefficient than the rule that does not, and proposes points accordingly', async () => {
    const report = await runCalibration(store, { model: defaultModel, pageSize: 25 });
    const rule = (id: string) => report.rules.find((candidate) => candidate.rule === id)!;

    expect(report).toMatchObject({ leads: 60, reachedSql: 30, skipped: 0 });
    expect(rule('webinar_attended')).toMatchObject({ fired: 30, firedReachedSql: 24 });
    expect(rule('trial_started')).toMatchObject({ fired: 20, firedReachedSql: 10 });
    expect(rule('webinar_attended').coefficient!).toBeGreaterThan(0.05);
    expect(Math.abs(rule('trial_started').coefficient!)).toBeLessThan(1e-6);
    expect(rule('webinar_attended').proposedPoints).toBeGreaterThan(rule('webinar_attended').points);
    expect(rule('trial_started').proposedPoints).toBeLessThan(rule('trial_started').points);
    // Demo requests made after sales had judged the leads are not what sales saw.
    expect(rule('demo_requested').fired).toBe(0);
  });

  it('writes a proposed model that loads through the model loader and that a backtest runs on', async () => {
    const report = await runCalibration(store, { model: defaultModel });
    const file = join(workDir, 'library-proposed.json');
    writeProposedModel(report, file);

    const candidate = readModelFile(file);
    const backtest = await runBacktest(store, { current: defaultModel, candidate, now: new Date() });

    expect(candidate.version).toBe(report.proposedModel!.version);
    expect(candidate.behavior.rules.find((rule) => rule.id === 'webinar_attended')!.points).toBe(
      report.rules.find((rule) => rule.rule === 'webinar_attended')!.proposedPoints,
    );
    expect(backtest).toMatchObject({ leads: 60, leadsWithOutcomes: 60, candidate: { version: candidate.version }, current: { version: defaultModel.version } });
  });

  it('refuses with too few outcomes, saying how many it needs', async () => {
    await expect(runCalibration(store, { model: defaultModel, since: new Date(start.getTime() + 11 * day + 40 * 60_000) })).rejects.toThrow(NotEnoughOutcomes);
  });
});

describe('the mql command', () => {
  it('`mql calibrate --out FILE` prints the coefficients and writes the file, and `mql backtest --model FILE` takes it', () => {
    const calibrated = mql('calibrate', '--out', 'proposed.json');
    expect(calibrated.stderr).toBe('');
    expect(calibrated.status).toBe(0);
    expect(calibrated.stdout).toMatch(/^calibrate: 60 lead\(s\) judged by sales .*30 reached SQL \(50\.0%\)/);
    expect(calibrated.stdout).toMatch(/webinar_attended\s+behavior\s+20\s+30\s+80\.0%/);
    expect(calibrated.stdout).toContain('written to proposed.json');
    const written = JSON.parse(readFileSync(join(workDir, 'proposed.json'), 'utf8'));
    expect(written.version).toBeUndefined();

    const backtest = mql('backtest', '--model', 'proposed.json');
    expect(backtest.stderr).toBe('');
    expect(backtest.status).toBe(0);
    expect(backtest.stdout).toMatch(new RegExp(`model version\\s+${defaultModel.version}\\s+${readModelFile(join(workDir, 'proposed.json')).version}`));
    expect(backtest.stdout).toMatch(/60 lead\(s\), 60 with sales outcomes/);
  });

  it('`mql calibrate --json` prints the report as JSON, with the proposed model in it', () => {
    const calibrated = mql('calibrate', '--json', '--out', 'json-proposed.json');
    expect(calibrated.status).toBe(0);
    const report = JSON.parse(calibrated.stdout);
    expect(report).toMatchObject({ leads: 60, reachedSql: 30, proposedModel: { version: readModelFile(join(workDir, 'json-proposed.json')).version } });
  });

  it('`mql calibrate` without --out writes the proposed model under the data dir, not in the working directory, and says where', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'mql-calibrate-cwd-'));
    const run = spawnSync(process.execPath, [cli, 'calibrate', '--data-dir', workDir], {
      cwd: elsewhere,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'SILENT' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const file = join(workDir, 'proposed-model.json');
    expect(run.stdout).toContain(`written to ${file}`);
    expect(run.stdout).toContain(`npx mql backtest --model ${file}`);
    expect(readModelFile(file).version).toMatch(/^[0-9a-f]{12}$/);
    expect(existsSync(join(elsewhere, 'proposed-model.json'))).toBe(false);
  });

  it('refuses with too few outcomes, and a --since that is not a date, exiting 1 with the reason', () => {
    const late = mql('calibrate', '--since', new Date(start.getTime() + 11 * day + 40 * 60_000).toISOString(), '--out', 'never.json');
    expect(late.status).toBe(1);
    expect(late.stderr).toMatch(/^mql: calibrate needs at least 30 leads with a sales outcome judged since .*; found 20 \(/);
    expect(() => readFileSync(join(workDir, 'never.json'))).toThrow(/ENOENT/);

    const bad = mql('calibrate', '--since', 'last tuesday');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--since must be a date or ISO time');
  });
});
