/**
 * The decay job on DynamoDB Local: it reads the leads the sparse due index lists, and only those; what it
 * recycles leaves the index; a run short of time stops and the next one finishes. Reads are counted on
 * the real client (test/setup/read-counter.ts), not imitated.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import type { HandoffRecord, NormalizedEvent, ScoringModel } from '../../../lib/core/index.ts';
import { scoreLead, statusChangeAt } from '../../../lib/core/index.ts';

import type { HandoffQueue, Pipeline } from '../../../lib/ingest/pipeline.ts';
import { ingest } from '../../../lib/ingest/pipeline.ts';
import { runDecay } from '../../../lib/jobs/decay.ts';
import { createTable, dynamoClient } from '../../../lib/local/dynamodb.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { event, workedExample } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/installed-model.ts';
import type { ReadCounter } from '../../setup/read-counter.ts';
import { countReads } from '../../setup/read-counter.ts';

const day = 24 * 60 * 60 * 1000;
const t0 = new Date('2026-04-01T09:00:00.000Z');
const at = (offsetMs: number) => new Date(t0.getTime() + offsetMs);

interface Bench {
  pipeline: Pipeline;
  /** Reads of the pipeline's store. */
  reads: ReadCounter;
  /** A client of its own, for looking at items without counting. */
  look: DynamoDBDocumentClient;
  tableName: string;
  /** What reached the handoff queue. */
  queued: HandoffRecord[];
}

async function freshTable(model: ScoringModel = defaultModel): Promise<Bench> {
  const client = dynamoClient(inject('dynamoEndpoint'));
  const tableName = `decay-${randomUUID()}`;
  await createTable(client, tableName);
  const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const reads = countReads(documents);
  const queued: HandoffRecord[] = [];
  // The queue is our own port (lib/ingest/pipeline.ts); here it keeps what it is given, so the test can read it.
  const handoffQueue: HandoffQueue = {
    async send(records) {
      queued.push(...records);
    },
  };
  const look = DynamoDBDocumentClient.from(dynamoClient(inject('dynamoEndpoint')));
  return { pipeline: { store: new LeadStore({ client: documents, tableName }), handoffQueue, model }, reads, look, tableName, queued };
}

/** An engaged lead: a page view. Nothing of it changes by time alone. */
function engaging(email: string, when: Date): NormalizedEvent[] {
  return [event(email, 'page_viewed', when, { properties: { url: 'https://example.com/blog' } })];
}

async function seed(bench: Bench, events: NormalizedEvent[], now: Date): Promise<void> {
  for (let start = 0; start < events.length; start += 150) await ingest(events.slice(start, start + 150), bench.pipeline, now);
}

async function leadItem(bench: Bench, leadId: string): Promise<Record<string, unknown>> {
  const answer = await bench.look.send(new GetCommand({ TableName: bench.tableName, Key: { pk: `LEAD#${leadId}`, sk: 'PROFILE' }, ConsistentRead: true }));
  return answer.Item!;
}

const emails = (kind: string, count: number) => Array.from({ length: count }, (_, index) => `${kind}-${index}@acme.com`);

describe('the decay run on DynamoDB Local', () => {
  it('of 200 leads, 10 due: the run reads exactly those 10, recycles them and takes them out of the due index', async () => {
    const bench = await freshTable();
    const dueNow = emails('due', 10);
    const dueLater = emails('later', 20);
    const engaged = emails('engaged', 170);
    await seed(bench, [...dueNow.flatMap((email) => workedExample(email, t0, { spacingMs: 0 })), ...engaged.flatMap((email) => engaging(email, t0))], t0);
    await seed(
      bench,
      dueLater.flatMap((email) => workedExample(email, at(30 * day), { spacingMs: 0 })),
      at(30 * day),
    );
    bench.queued.length = 0;
    const engagedItem = await leadItem(bench, engaged[0]!);
    expect(engagedItem.status).toBe('engaged');
    expect(Object.keys(engagedItem)).not.toContain('dueAt');
    expect(Object.keys(engagedItem)).not.toContain('dueShard');
    const laterDue = (await leadItem(bench, dueLater[0]!)).dueAt as string;
    const now = at(120 * day);
    expect(laterDue > now.toISOString()).toBe(true);
    bench.reads.reset();

    // Pages of two: a lead written with its handoff waiting is due `now` until confirmed, and must not be
    // listed again by a later page of its shard.
    const summary = await runDecay(bench.pipeline, now, { pageSize: 2 });

    expect(summary).toEqual({ due: 10, processed: 10, changed: { recycled: 10 }, handoffs: 10, failed: 0, resumable: false, accountsDue: 0 });
    expect(bench.reads.items).toBe(10);
    expect(bench.queued.map((record) => [record.type, record.leadId]).sort()).toEqual(dueNow.map((email) => ['lead.recycled', email]).sort());
    for (const email of dueNow) {
      const item = await leadItem(bench, email);
      expect(item.status).toBe('recycled');
      expect(item.outbox).toEqual({});
      expect(Object.keys(item).filter((key) => key === 'dueAt' || key === 'dueShard')).toEqual([]);
    }
    expect((await leadItem(bench, dueLater[0]!)).dueAt).toBe(laterDue);

    bench.reads.reset();
    const again = await runDecay(bench.pipeline, now);

    expect(again).toEqual({ due: 0, processed: 0, changed: {}, handoffs: 0, failed: 0, resumable: false, accountsDue: 0 });
    expect(bench.reads.items).toBe(0);
  });

  it('a run short of time stops taking leads and says it can resume; the next run recycles the rest, each lead told once', async () => {
    const bench = await freshTable();
    const due = emails('short', 6);
    await seed(
      bench,
      due.flatMap((email) => workedExample(email, t0, { spacingMs: 0 })),
      t0,
    );
    bench.queued.length = 0;
    const now = at(120 * day);
    let looks = 0;
    // Plenty of time for three leads, then less than the margin: counted, not timed.
    const remainingMs = () => (++looks <= 3 ? 60_000 : 1_000);

    const first = await runDecay(bench.pipeline, now, { remainingMs, marginMs: 5_000, concurrency: 1 });

    expect(first).toEqual({ due: 4, processed: 3, changed: { recycled: 3 }, handoffs: 3, failed: 0, resumable: true, accountsDue: 0 });

    const second = await runDecay(bench.pipeline, now, { remainingMs: () => 60_000, marginMs: 5_000 });

    expect(second).toMatchObject({ due: 3, processed: 3, changed: { recycled: 3 }, resumable: false });
    expect(bench.queued.map((record) => record.leadId).sort()).toEqual([...due].sort());
  });

  it('an MQL is recycled by the first run at or after its computed moment, not before, and told once', async () => {
    const bench = await freshTable();
    const email = 'on-time@acme.com';
    await seed(bench, workedExample(email, t0, { spacingMs: 0 }), t0);
    bench.queued.length = 0;
    const due = Date.parse((await leadItem(bench, email)).dueAt as string);
    // The score one second before and at the moment: it falls below recycleBelow exactly then.
    const lead = (await bench.pipeline.store.getLead(email))!;
    expect(scoreLead(lead, defaultModel, new Date(due - 1000)).total).toBeGreaterThanOrEqual(defaultModel.thresholds.recycleBelow);
    expect(scoreLead(lead, defaultModel, new Date(due)).total).toBeLessThan(defaultModel.thresholds.recycleBelow);

    const early = await runDecay(bench.pipeline, new Date(due - 1000));
    expect(early).toMatchObject({ due: 0, processed: 0, handoffs: 0 });
    expect((await leadItem(bench, email)).status).toBe('mql');

    const onTime = await runDecay(bench.pipeline, new Date(due));
    expect(onTime).toMatchObject({ due: 1, changed: { recycled: 1 }, handoffs: 1 });
    const later = await runDecay(bench.pipeline, new Date(due + 15 * 60 * 1000));
    expect(later).toMatchObject({ due: 0, handoffs: 0 });
    expect(bench.queued.map((record) => [record.type, record.leadId])).toEqual([['lead.recycled', email]]);
  });

  it('a due MQL that a changed model keeps qualified moves to its next due time instead of being recycled', async () => {
    const bench = await freshTable();
    const email = 'kept@acme.com';
    await seed(bench, workedExample(email, t0, { spacingMs: 0 }), t0);
    const firstDue = (await leadItem(bench, email)).dueAt as string;
    const lenient = parseModel({ ...defaultModelJson, thresholds: { ...defaultModelJson.thresholds, recycleBelow: 30 } });
    const now = new Date(firstDue);
    bench.reads.reset();

    const summary = await runDecay({ ...bench.pipeline, model: lenient }, now);

    expect(summary).toMatchObject({ due: 1, processed: 1, changed: {}, handoffs: 0 });
    expect(bench.reads.items).toBe(1);
    const item = await leadItem(bench, email);
    expect(item.status).toBe('mql');
    const expected = statusChangeAt((await bench.pipeline.store.getLead(email))!, lenient, now);
    expect(item.dueAt).toBe(expected);
    expect(Date.parse(item.dueAt as string)).toBeGreaterThan(Date.parse(firstDue) + 30 * day);
  });
});
