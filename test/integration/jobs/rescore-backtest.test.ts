/**
 * `mql rescore` and `mql backtest` on the embedded local stack (DynamoDB Local, fauxqs, the CRM webhook):
 * a rescore writes only the leads whose state changes and hands their transitions to the CRM once; it
 * resumes where an interrupted run stopped; a backtest writes nothing and tells which leads a candidate
 * model would qualify, with MQL-to-SQL and MQL-to-won rates from the stored outcomes.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScoringModel } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import type { Pipeline } from '../../../lib/ingest/pipeline.ts';
import { ingest, sqsHandoffQueue } from '../../../lib/ingest/pipeline.ts';
import { runBacktest } from '../../../lib/jobs/backtest.ts';
import { runRescore } from '../../../lib/jobs/rescore.ts';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { event, workedExampleProfile } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/installed-model.ts';
import { countItems, crmSecret } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';

const hour = 60 * 60 * 1000;
const tag = randomUUID().slice(0, 6);
const now = () => new Date();
const twoDaysAgo = new Date(Date.now() - 48 * hour);

let stack: LocalStack;
let crm: CrmReceiver;
let pipeline: Pipeline;
let store: LeadStore;

const later = (start: Date, seconds: number) => new Date(start.getTime() + seconds * 1000);
const ceoInSoftware = (email: string, at: Date) => event(email, 'profile_updated', at, { profile: workedExampleProfile });

const defaultInput = modelContent(defaultModel);
/** The default model with MQL at 45 (recycleBelow stays 40): the engaged lead (fit 25 + webinar 20) qualifies. */
const lowerThreshold = parseModel({ ...defaultInput, thresholds: { ...defaultModel.thresholds, mql: 45 } });
/** The default model with e-mail opens worth 2: every lead that opened an e-mail scores differently, none changes status. */
const opensWorthTwo: ScoringModel = parseModel({
  ...defaultInput,
  behavior: { ...defaultInput.behavior, rules: defaultInput.behavior.rules.map((rule) => (rule.type === 'email_opened' ? { ...rule, points: 2 } : rule)) },
});

const mqlLead = `mql.${tag}@acme-software.com`;
const engagedLead = `engaged.${tag}@acme-software.com`;
const mergedEmail = `merged.${tag}@acme-software.com`;
const phone = `+1415${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
const readers = Array.from({ length: 20 }, (_, index) => `reader${index}.${tag}@acme-software.com`);

async function versions(): Promise<Record<string, number>> {
  const leads = [mqlLead, engagedLead, mergedEmail, ...readers];
  return Object.fromEntries(await Promise.all(leads.map(async (leadId) => [leadId, (await store.getLead(leadId))!.version] as const)));
}

beforeAll(async () => {
  crm = await startCrmReceiver(crmSecret);
  stack = await startTestStack({ env: { CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: crm.url, CRM_WEBHOOK_SECRET: crmSecret, LOG_LEVEL: 'SILENT' } });
  store = new LeadStore({
    client: DynamoDBDocumentClient.from(stack.dynamodb, { marshallOptions: { removeUndefinedValues: true } }),
    tableName: stack.tableName,
  });
  pipeline = { store, model: defaultModel, handoffQueue: sqsHandoffQueue(stack.sqs, stack.queueUrls.handoff) };

  const tenMinutesAgo = new Date(Date.now() - hour / 6);
  // The seeds' worked example (60: an MQL; its profile known for two days), a lead one case study short of it (45: engaged, seen an hour
  // ago), a phone-only lead merged into its e-mail lead, and twenty leads that only opened an e-mail.
  await ingest(
    [
      ceoInSoftware(mqlLead, twoDaysAgo),
      event(mqlLead, 'content_downloaded', tenMinutesAgo, { properties: { contentType: 'case_study' } }),
      event(mqlLead, 'webinar_attended', later(tenMinutesAgo, 10)),
    ],
    pipeline,
    now(),
  );
  const anHourAgo = new Date(Date.now() - hour);
  await ingest([ceoInSoftware(engagedLead, anHourAgo), event(engagedLead, 'webinar_attended', later(anHourAgo, 10))], pipeline, now());
  await ingest([event(`phone:${phone}`, 'form_submitted', twoDaysAgo, { properties: { formId: 'f1' }, profile: { phone } })], pipeline, now());
  await ingest([event(mergedEmail, 'email_opened', later(twoDaysAgo, 60), { profile: { phone } })], pipeline, now());
  await ingest(
    readers.map((reader) => event(reader, 'email_opened', later(twoDaysAgo, 30))),
    pipeline,
    now(),
  );
  await stack.drain();
  await crm.waitFor(1);
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
});

describe('mql rescore', () => {
  it('the seeded store is as expected: one MQL told to the CRM, the phone lead merged into its e-mail lead', async () => {
    expect(crm.received.map((delivery) => [delivery.record.type, delivery.record.leadId])).toEqual([['lead.mql', mqlLead]]);
    expect((await store.getLead(engagedLead))!.status).toBe('engaged');
    expect((await store.getLead(`phone:${phone}`))!.mergedInto).toBe(mergedEmail);
    expect((await store.getLead(mergedEmail))!.eventCount).toBe(2);
  });

  it('under the model that scored the store it reads every lead (merged ones skipped) and writes none', async () => {
    const before = await versions();
    const transactions = store.stats.transactions;

    const result = await runRescore(pipeline, { model: defaultModel, now: now() });

    expect(result).toMatchObject({ complete: true, read: 23, changed: 0, unchanged: 23, handoffs: 0, transitions: {} });
    expect(store.stats.transactions).toBe(transactions);
    expect(await versions()).toEqual(before);
  });

  it('under a lower MQL threshold the engaged lead becomes an MQL: only it is written, and the CRM gets lead.mql once', async () => {
    const before = await versions();

    const result = await runRescore(pipeline, { model: lowerThreshold, now: now() });
    await stack.drain();
    await crm.waitFor(2);

    expect(result).toMatchObject({ complete: true, read: 23, changed: 1, unchanged: 22, handoffs: 1, transitions: { 'engaged -> mql': 1 } });
    const after = await versions();
    const written = Object.keys(after).filter((leadId) => after[leadId] !== before[leadId]);
    // Written once by the rescore, once more when its handoff was confirmed on the queue.
    expect(written).toEqual([engagedLead]);
    const lead = (await store.getLead(engagedLead))!;
    expect(lead).toMatchObject({ status: 'mql', modelVersion: lowerThreshold.version, outbox: {}, score: { total: 45, fit: 25, behavior: 20 } });
    expect(crm.received).toHaveLength(2);
    expect(crm.received[1]!.record).toMatchObject({
      type: 'lead.mql',
      leadId: engagedLead,
      score: { total: 45, threshold: 45, modelVersion: lowerThreshold.version },
    });
    expect(await store.listHandoffs(engagedLead)).toEqual([expect.objectContaining({ type: 'lead.mql', status: 'delivered' })]);
  });

  it('run a second time it writes nothing and the CRM hears nothing more', async () => {
    const before = await versions();
    const result = await runRescore(pipeline, { model: lowerThreshold, now: now() });
    await stack.drain();
    expect(result).toMatchObject({ read: 23, changed: 0, handoffs: 0 });
    expect(await versions()).toEqual(before);
    expect(crm.received).toHaveLength(2);
  });

  it('an interrupted rescore continues from its cursor file and reads each lead once over both runs', async () => {
    const cursorFile = join(mkdtempSync(join(tmpdir(), 'mql-rescore-')), 'rescore-cursor.json');
    const stop = new AbortController();
    const first = await runRescore(pipeline, {
      model: opensWorthTwo,
      now: now(),
      cursorFile,
      pageSize: 10,
      signal: stop.signal,
      onProgress: () => stop.abort(),
    });

    expect(first.complete).toBe(false);
    expect(first.read).toBeLessThan(23);
    const saved = JSON.parse(readFileSync(cursorFile, 'utf8'));
    expect(saved).toMatchObject({ modelVersion: opensWorthTwo.version, totals: { read: first.read } });
    await expect(runRescore(pipeline, { model: lowerThreshold, now: now(), cursorFile, resume: true })).rejects.toThrow(/cursor of a rescore under model/);

    const second = await runRescore(pipeline, { model: opensWorthTwo, now: now(), cursorFile, resume: true, pageSize: 10 });

    expect(second).toMatchObject({ complete: true, resumed: true, read: 23, handoffs: 0, transitions: {} });
    // The twenty readers and the merged lead opened an e-mail: an open is worth 2 now.
    expect(second.changed).toBe(21);
    expect(existsSync(cursorFile)).toBe(false);
    for (const leadId of readers) expect((await store.getLead(leadId))!).toMatchObject({ modelVersion: opensWorthTwo.version, score: { behavior: 2 } });
    // The phone lead's form (10) counted once, on the e-mail lead it was merged into, plus the open (2).
    expect((await store.getLead(mergedEmail))!).toMatchObject({ modelVersion: opensWorthTwo.version, score: { behavior: 12 } });
    expect((await store.getLead(mqlLead))!.modelVersion).toBe(defaultModel.version);
  });
});

describe('mql backtest', () => {
  it('writes nothing, names the newly qualifying lead and rates both models against the stored outcomes', async () => {
    // Sales accepted the MQL as an SQL; the engaged lead was won.
    await ingest([event(mqlLead, 'sql', now())], pipeline, now());
    await ingest([event(engagedLead, 'won', now())], pipeline, now());
    await stack.drain();
    const itemsBefore = await countItems(stack.dynamodb, stack.tableName);
    const transactions = store.stats.transactions;

    const report = await runBacktest(store, { current: defaultModel, candidate: lowerThreshold, now: now() });

    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(itemsBefore);
    expect(store.stats.transactions).toBe(transactions);
    expect(report).toMatchObject({
      leads: 23,
      leadsWithOutcomes: 2,
      leadsReachedSql: 2,
      current: {
        version: defaultModel.version,
        mqls: 1,
        mqlWithSql: 1,
        mqlWithWon: 0,
        mqlToSqlRate: 1,
        mqlToWonRate: 0,
        mqlJudged: 1,
        judgedSqlRate: 1,
        sqlRecall: 0.5,
      },
      candidate: {
        version: lowerThreshold.version,
        mqls: 2,
        mqlWithSql: 2,
        mqlWithWon: 1,
        mqlToSqlRate: 1,
        mqlToWonRate: 0.5,
        mqlJudged: 2,
        judgedSqlRate: 1,
        sqlRecall: 1,
      },
      newlyQualifying: { count: 1, sample: [engagedLead] },
      noLongerQualifying: { count: 0, sample: [] },
    });
  });

  it('--since takes the leads first seen since then, with their whole history', async () => {
    const report = await runBacktest(store, { current: defaultModel, candidate: lowerThreshold, now: now(), since: new Date(Date.now() - 24 * hour) });
    expect(report).toMatchObject({ leads: 1, current: { mqls: 0 }, candidate: { mqls: 1 }, newlyQualifying: { count: 1, sample: [engagedLead] } });
  });
});
