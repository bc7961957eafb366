/**
 * What `mql rescore` reads, on DynamoDB Local (reads counted on the real client, test/setup/read-counter.ts):
 * one pass of the Scan gives each lead with its events, so a lead costs no read of its own; a lead written
 * between the Scan and the rescore's write is read again and rebuilt from what is stored; and a run
 * interrupted where a page ends inside a lead resumes without losing or repeating a lead.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { HandoffRecord, ScoringModel } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import type { Pipeline } from '../../../lib/ingest/pipeline.ts';
import { ingest } from '../../../lib/ingest/pipeline.ts';
import { runRescore } from '../../../lib/jobs/rescore.ts';
import { createTable, dynamoClient } from '../../../lib/local/dynamodb.ts';
import { type ScannedLead, walkLeads } from '../../../lib/store/lead-histories.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { event } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/installed-model.ts';
import { countReads, type ReadCounter } from '../../setup/read-counter.ts';

const t0 = new Date('2026-09-01T09:00:00.000Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
const now = at(60 * 24);

const defaultInput = modelContent(defaultModel);
/** E-mail opens worth `points`: every lead below opened one, so each such model changes every lead's score. */
const opensWorth = (points: number): ScoringModel =>
  parseModel({
    ...defaultInput,
    behavior: { ...defaultInput.behavior, rules: defaultInput.behavior.rules.map((rule) => (rule.type === 'email_opened' ? { ...rule, points } : rule)) },
  });

let pipeline: Pipeline;
let store: LeadStore;
let reads: ReadCounter;
let tableName: string;
let documents: DynamoDBDocumentClient;
const queued: HandoffRecord[] = [];
const leads = Array.from({ length: 30 }, (_, index) => `reads-${index}-${randomUUID().slice(0, 6)}@acme-software.com`);

async function tableItems(): Promise<number> {
  const answer = await documents.send(new ScanCommand({ TableName: tableName, Select: 'COUNT', ConsistentRead: true }));
  return answer.Count ?? 0;
}

beforeAll(async () => {
  const client = dynamoClient(inject('dynamoEndpoint'));
  tableName = `rescore-reads-${randomUUID()}`;
  await createTable(client, tableName);
  documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  store = new LeadStore({ client: documents, tableName });
  // The queue is our own port (lib/ingest/pipeline.ts); it keeps what it is given. None of these leads qualifies.
  pipeline = { store, model: defaultModel, handoffQueue: { send: async (records) => void queued.push(...records) } };
  // 30 leads of 3 events each, in two deliveries (so 2 raw items): 6 items a lead, spread over Scan pages.
  await ingest(
    leads.flatMap((email, index) => [
      event(email, 'profile_updated', at(index), { profile: { jobTitle: 'Engineer', industry: 'Retail' } }),
      event(email, 'email_opened', at(index + 1)),
    ]),
    pipeline,
    at(40),
  );
  await ingest(
    leads.map((email, index) => event(email, 'page_viewed', at(index + 50), { properties: { url: 'https://example.com/blog' } })),
    pipeline,
    at(90),
  );
  reads = countReads(documents);
});

describe('mql rescore reads each lead in one pass', () => {
  it('under the model that scored the leads: every item of the table read once, nothing more per lead', async () => {
    const items = await tableItems();
    expect(items).toBe(leads.length * 6);
    reads.reset();

    const result = await runRescore(pipeline, { model: defaultModel, now, segments: 2 });

    expect(result).toMatchObject({ complete: true, read: leads.length, changed: 0, unchanged: leads.length, scanned: items });
    // Before one-pass rescore: the Scan, then a GetItem and a Query of the events per lead (items + 30 + 90).
    expect(reads.items).toBe(items);
  });

  it('under a model that changes every lead: each written once, still one read of each item', async () => {
    const items = await tableItems();
    const model = opensWorth(2);
    reads.reset();
    const conflicts = store.stats.conflicts;

    const result = await runRescore(pipeline, { model, now, segments: 2 });

    expect(result).toMatchObject({ complete: true, read: leads.length, changed: leads.length, handoffs: 0 });
    expect(store.stats.conflicts).toBe(conflicts);
    expect(reads.items).toBe(items);
    for (const leadId of leads) expect((await store.getLead(leadId))!).toMatchObject({ modelVersion: model.version, score: { behavior: 3 } });
    expect(queued).toEqual([]);
  });

  it('a lead written after the Scan read it: the write expecting the version seen fails, and the lead is rebuilt from a consistent read', async () => {
    const leadId = leads[0]!;
    let scanned: ScannedLead | undefined;
    for await (const round of walkLeads(store)) scanned ??= round.leads.find((one) => one.lead.leadId === leadId);
    expect(scanned).toMatchObject({ lead: { leadId, eventCount: 3 } });
    // Written meanwhile (under the model the pipeline runs): a case study, 15 points.
    await ingest([event(leadId, 'content_downloaded', at(100), { properties: { contentType: 'case_study' } })], pipeline, at(100));
    const conflicts = store.stats.conflicts;
    const model = opensWorth(3);

    const result = await store.replaceState(leadId, model, now, scanned);

    expect(result).toMatchObject({ written: true });
    expect(store.stats.conflicts).toBe(conflicts + 1);
    // Rebuilt from all four events under the rescoring model: the open at 3, the page view 1, the case study 15.
    expect((await store.getLead(leadId))!).toMatchObject({ eventCount: 4, modelVersion: model.version, score: { behavior: 19 } });
  });

  it('interrupted after a round whose pages end inside leads, the resumed run rebuilds every lead exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mql-rescore-reads-'));
    let round = 0;
    for (const segments of [1, 2]) {
      for (const pageSize of [4, 5, 7]) {
        // 4 and 2 by turns (opens are capped at 5): each run changes every lead.
        const model = opensWorth(round++ % 2 === 0 ? 4 : 2);
        const cursorFile = join(dir, `cursor-${segments}-${pageSize}.json`);
        const stop = new AbortController();
        const first = await runRescore(pipeline, { model, now, cursorFile, pageSize, segments, signal: stop.signal, onProgress: () => stop.abort() });
        expect(first.complete).toBe(false);

        const second = await runRescore(pipeline, { model, now, cursorFile, pageSize, resume: true });

        expect({ segments, pageSize, ...second }).toMatchObject({ segments, pageSize, complete: true, read: leads.length, changed: leads.length });
        for (const leadId of leads)
          expect({ pageSize, leadId, version: (await store.getLead(leadId))!.modelVersion }).toEqual({ pageSize, leadId, version: model.version });
      }
    }
  });
});
