import { randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { scoreLead } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { decodeRawPayloads } from '../../../lib/store/raw-payloads.ts';
import { event, workedExample } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/installed-model.ts';
import { freshTable, type TestTable } from '../../setup/table.ts';

const day = 24 * 60 * 60 * 1000;
const t0 = new Date('2026-06-01T09:00:00.000Z');
const at = (offsetMs: number) => new Date(t0.getTime() + offsetMs);

let store: LeadStore;
let documents: DynamoDBDocumentClient;
let tableName: string;
let countItems: TestTable['countItems'];

beforeAll(async () => {
  ({ store, documents, tableName, countItems } = await freshTable('store'));
});

describe('LeadStore on DynamoDB Local', () => {
  it('the same delivery three times is stored and counted once', async () => {
    const email = `${randomUUID()}@acme.com`;
    const delivery = workedExample(email, t0);

    const first = await store.apply(delivery, defaultModel, at(10_000));
    const second = await store.apply(delivery, defaultModel, at(20_000));
    const third = await store.apply(delivery, defaultModel, at(30_000));

    expect([first.applied, second.applied, third.applied]).toEqual([3, 0, 0]);
    expect([first.duplicates, second.duplicates, third.duplicates]).toEqual([0, 3, 3]);
    const lead = await store.getLead(email);
    expect(lead).toMatchObject({ status: 'mql', eventCount: 3, version: 1, transitionCount: 1 });
    expect(lead!.score).toMatchObject({ total: 60, fit: 25, behavior: 35 });
    expect(await countItems(email, 'EVT#')).toBe(3);
    // The raw payloads of one write share an item, keyed by its first event.
    expect(await countItems(email, 'RAW#')).toBe(1);
    const raws = await documents.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :raw)',
        ExpressionAttributeValues: { ':pk': `LEAD#${email}`, ':raw': 'RAW#' },
      }),
    );
    const ids = delivery.map((one) => one.sourceEventId);
    expect(raws.Items?.[0]).toMatchObject({ sk: `RAW#test#${ids[0]}`, kind: 'raw', encoding: 'deflate-raw', expiresAt: expect.any(Number) });
    expect(decodeRawPayloads(raws.Items![0]!).map((one) => [one.sourceEventId, JSON.parse(one.raw)])).toEqual(ids.map((id) => [id, { id }]));
    // The MQL decided by the first delivery is handed back by each redelivery until it is confirmed on the queue.
    expect(third.leads[0]!.outbox.map((record) => record.type)).toEqual(['lead.mql']);
    expect(third.leads[0]!.outbox[0]!.id).toBe(first.leads[0]!.outbox[0]!.id);
  });

  it('a redelivered batch of many leads costs reads, not writes; a partial one writes only what is new', async () => {
    const emails = Array.from({ length: 6 }, () => `${randomUUID()}@acme.com`);
    const batch = emails.flatMap((email, lead) => [0, 1, 2].map((n) => event(email, 'email_opened', at(n * 1000), { id: `open-${lead}-${n}` })));
    const first = await store.apply(batch, defaultModel, at(10_000));
    expect(first).toMatchObject({ applied: 18, duplicates: 0, failed: [] });

    const before = store.stats.commits;
    const again = await store.apply(batch, defaultModel, at(20_000));
    expect(again).toMatchObject({ applied: 0, duplicates: 18, failed: [] });
    expect(store.stats.commits).toBe(before);
    expect(again.leads.map((lead) => lead.leadId).sort()).toEqual([...emails].sort());

    // A retry that also carries events the first attempt did not store (one lead had failed).
    const extra = event(emails[2]!, 'email_clicked', at(5_000), { id: 'click-2', properties: { url: 'https://example.com/pricing' } });
    const partial = await store.apply([...batch, extra], defaultModel, at(30_000));
    expect(partial).toMatchObject({ applied: 1, duplicates: 18, failed: [] });
    expect(store.stats.commits).toBe(before + 1);
    expect(await store.getLead(emails[2]!)).toMatchObject({ eventCount: 4 });
    for (const email of emails) expect(await countItems(email, 'EVT#')).toBe(email === emails[2] ? 4 : 3);
  });

  it('raw payloads too large to share one item are split over several, none lost', async () => {
    const email = `${randomUUID()}@acme.com`;
    const big = Array.from({ length: 8 }, (_, n) =>
      event(email, 'email_opened', at(n * 1000), { id: `big-${n}`, raw: { id: `big-${n}`, body: 'é'.repeat(30_000) } }),
    );
    const result = await store.apply(big, defaultModel, at(10_000));
    expect(result).toMatchObject({ applied: 8, failed: [] });
    const raws = await documents.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :raw)',
        ExpressionAttributeValues: { ':pk': `LEAD#${email}`, ':raw': 'RAW#' },
      }),
    );
    // 60 KB of UTF-8 each: five fit under an item's 300 KB share, the other three go to a second item.
    expect(raws.Items?.length).toBe(2);
    const kept = (raws.Items ?? []).flatMap((item) => decodeRawPayloads(item));
    expect(kept.map((one) => one.sourceEventId).sort()).toEqual(big.map((one) => one.sourceEventId).sort());
    expect(kept.every((one) => JSON.parse(one.raw).body.length === 30_000)).toBe(true);
  });

  it('a model that folds addresses files plus-tagged and dotted Gmail addresses under one lead', async () => {
    const content = modelContent(defaultModel);
    const folding = parseModel({ ...content, identity: { stripPlusTags: true, gmailDots: true } });
    const local = `dana${randomUUID().slice(0, 8)}`;
    const events = [
      event(`${local}+webinars@gmail.com`, 'webinar_attended', t0, { id: 'fold-1' }),
      event(`${local.slice(0, 2)}.${local.slice(2)}@googlemail.com`, 'email_clicked', at(1000), { id: 'fold-2' }),
      event(`${local}@gmail.com`, 'email_opened', at(2000), { id: 'fold-3' }),
    ];
    const result = await store.apply(events, folding, at(3000));
    expect(result).toMatchObject({ applied: 3, failed: [] });
    expect(result.leads.map((lead) => lead.leadId)).toEqual([`${local}@gmail.com`]);
    expect(await store.getLead(`${local}@gmail.com`)).toMatchObject({ eventCount: 3 });
    // Under the default model the same addresses stay three leads.
    const apart = await store.apply(
      events.map((one) => ({ ...one, sourceEventId: `${one.sourceEventId}-apart` })),
      defaultModel,
      at(4000),
    );
    expect(apart.leads).toHaveLength(3);
  });

  it('a duplicate inside one delivery counts once', async () => {
    const email = `${randomUUID()}@acme.com`;
    const one = event(email, 'webinar_attended', t0, { id: 'dup' });
    const result = await store.apply([one, { ...one }], defaultModel, at(1_000));
    expect(result).toMatchObject({ applied: 1, duplicates: 1 });
    expect((await store.getLead(email))!.eventCount).toBe(1);
  });

  it('50 concurrent deliveries to one lead give the exact score', async () => {
    const email = `${randomUUID()}@acme.com`;
    const deliveries = Array.from({ length: 50 }, (_, index) => [
      event(email, 'content_downloaded', t0, { id: `download-${index}`, properties: { contentType: 'guide' } }),
    ]);

    const results = await Promise.all(deliveries.map((delivery) => store.apply(delivery, defaultModel, t0)));

    expect(results.every((result) => result.failed.length === 0)).toBe(true);
    expect(results.reduce((sum, result) => sum + result.applied, 0)).toBe(50);
    const lead = await store.getLead(email);
    expect(lead!.eventCount).toBe(50);
    expect(lead!.behavior.content_downloaded).toMatchObject({ count: 50, rawPoints: 500 });
    expect(scoreLead(lead!, defaultModel, t0).behavior).toBe(500);
    expect(await countItems(email, 'EVT#')).toBe(50);
  });

  it('concurrent redeliveries of the same events race safely: each event stored once', async () => {
    const email = `${randomUUID()}@acme.com`;
    const delivery = workedExample(email, t0);
    const results = await Promise.all(Array.from({ length: 8 }, () => store.apply(delivery, defaultModel, at(10_000))));
    expect(results.reduce((sum, result) => sum + result.applied, 0)).toBe(3);
    expect(results.reduce((sum, result) => sum + result.duplicates, 0)).toBe(21);
    const lead = await store.getLead(email);
    expect(lead).toMatchObject({ eventCount: 3, transitionCount: 1, status: 'mql' });
  });

  it('events in shuffled order give the same final state as in order', async () => {
    const inOrder = `${randomUUID()}@acme.com`;
    const shuffled = `${randomUUID()}@acme.com`;
    const timeline = (email: string) => [
      ...workedExample(email, t0),
      event(email, 'email_opened', at(day), { id: 'open-1' }),
      event(email, 'email_clicked', at(2 * day), { id: 'click-1', properties: { url: 'https://x.example/pricing' } }),
      event(email, 'page_viewed', at(3 * day), { id: 'pricing-1', properties: { url: 'https://x.example/pricing' } }),
      event(email, 'profile_updated', at(4 * day), { id: 'identify-2', profile: { jobTitle: 'VP Finance', companySize: 800 } }),
      event(email, 'email_bounced', at(5 * day), { id: 'bounce-soft', properties: { bounce: 'soft' } }),
    ];
    const now = at(6 * day);
    for (const one of timeline(inOrder)) await store.apply([one], defaultModel, now);
    const reordered = timeline(shuffled);
    for (const index of [6, 2, 7, 0, 4, 1, 5, 3]) await store.apply([reordered[index]!], defaultModel, now);

    const a = (await store.getLead(inOrder))!;
    const b = (await store.getLead(shuffled))!;
    expect(b.status).toBe(a.status);
    expect(b.profile).toEqual({ ...a.profile, email: shuffled });
    expect(b.eventCount).toBe(a.eventCount);
    expect(scoreLead(b, defaultModel, now)).toEqual(scoreLead(a, defaultModel, now));
    expect(b.recentEvents).toEqual(a.recentEvents);
  });

  it('more events for one lead than fit in one transaction are all stored', async () => {
    const email = `${randomUUID()}@acme.com`;
    const events = Array.from({ length: 120 }, (_, index) => event(email, 'email_opened', at(index * 1_000), { id: `open-${index}` }));
    const result = await store.apply(events, defaultModel, at(200_000));
    expect(result.applied).toBe(120);
    expect((await store.getLead(email))!.eventCount).toBe(120);
    expect(await countItems(email, 'EVT#')).toBe(120);
  });

  it('confirming a queued handoff empties the outbox and the lead leaves the due index until its recycle time', async () => {
    const email = `${randomUUID()}@acme.com`;
    const { leads } = await store.apply(workedExample(email, t0), defaultModel, at(10_000));
    const [mql] = leads[0]!.outbox;
    const dueNow = async (until: Date) => {
      const due: string[] = [];
      for await (const leadId of store.dueLeads(until)) due.push(leadId);
      return due.includes(email);
    };
    expect(await dueNow(at(10_000))).toBe(true); // waiting in the outbox

    await store.confirmQueued(email, [mql!.id], leads[0]!.recycleAt);

    const lead = (await store.getLead(email))!;
    expect(lead.outbox).toEqual({});
    expect(lead.dueAt).toBe(leads[0]!.recycleAt);
    expect((Date.parse(lead.dueAt!) - t0.getTime()) / day).toBeCloseTo(114.4, 1);
    expect(await dueNow(at(day))).toBe(false);
    expect(await dueNow(new Date(lead.dueAt!))).toBe(true);
    // Nothing changed for a re-evaluation to write.
    const outcome = await store.reevaluate(email, defaultModel, at(20_000));
    expect(outcome.outbox).toEqual([]);
    expect((await store.getLead(email))!.version).toBe(lead.version);
  });

  it('a lead that stops changing by time alone leaves the due index (sales accepted the MQL)', async () => {
    const email = `${randomUUID()}@acme.com`;
    const { leads } = await store.apply(workedExample(email, t0), defaultModel, at(10_000));
    await store.confirmQueued(
      email,
      leads[0]!.outbox.map((record) => record.id),
      leads[0]!.recycleAt,
    );
    expect((await store.getLead(email))!.dueAt).toBe(leads[0]!.recycleAt);

    await store.apply([event(email, 'mql_accepted', at(20_000), { id: 'accepted-1' })], defaultModel, at(20_000));

    const lead = (await store.getLead(email))!;
    expect(lead.status).toBe('sql');
    expect(lead.dueAt).toBeUndefined();
    expect(lead.recycleAt).toBeUndefined();
    const due: string[] = [];
    for await (const leadId of store.dueLeads(at(1000 * day))) due.push(leadId);
    expect(due).not.toContain(email);
  });

  it('a handoff that arrives while another is being confirmed keeps the lead due now', async () => {
    const email = `${randomUUID()}@acme.com`;
    const first = await store.apply(workedExample(email, t0), defaultModel, at(10_000));
    // A spam complaint after qualifying: a second handoff joins the outbox before the first is confirmed.
    await store.apply([event(email, 'email_spam_reported', at(20_000), { id: 'spam-1' })], defaultModel, at(20_000));

    await store.confirmQueued(
      email,
      first.leads[0]!.outbox.map((record) => record.id),
      first.leads[0]!.recycleAt,
    );

    const lead = (await store.getLead(email))!;
    expect(Object.values(lead.outbox).map((record) => record.type)).toEqual(['lead.disqualified']);
    expect(lead.dueAt).toBe(at(20_000).toISOString());
  });
});
