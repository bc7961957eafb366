/**
 * The table the operator-jobs bench walks (phases/jobs-scale.ts): `leads` leads with a few deliveries of
 * events each, written as the pipeline writes them, fast. Each delivery is scored by the core
 * (`newLead`, `applyEvents`) and turned into items by the store's own functions (`toStored`,
 * `transactionItems`, lib/store/lead-transaction.ts): the EVT items, the raw-payload item, the lead's
 * PROFILE item. So a change of the item format follows here by itself. The items go in with
 * BatchWriteItem (the conditions of a transaction are moot on a fresh table), 25 to a call, 16 calls at
 * a time; a lead's later PROFILE replaces its earlier one, as each transaction's did.
 *
 * Handoffs: a delivery that qualifies a lead leaves a record in its outbox; the bench then does what the
 * pipeline does next (lib/ingest/pipeline.ts flushOutboxes): the record is confirmed off the outbox
 * (version + 1, due at the recycle time, as lib/store/due-index.ts confirmQueued leaves it), and the handoff's
 * delivery to HubSpot is recorded through the store's own ledger (`recordHandoffAttempt`: the summary
 * item, the attempt item, the CRM link).
 *
 * Then the decay job runs once as of `now` (`runDecay`), as it does every day: no lead's state is left to
 * change by time alone, so a rescore at `now` changes only what its model changes.
 *
 * Raw payloads expire 30 days after their delivery (DynamoDB TTL, lib/store/table.ts rawRetentionDays):
 * the bench leaves out the raw items already past it, as DynamoDB would have deleted them. Histories go
 * back 90 days, so about a third of the raw items are still there.
 */
import { performance } from 'node:perf_hooks';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { HandoffRecord, NormalizedEvent, ScoringModel } from '../../lib/core/index.ts';
import { applyEvents, newLead } from '../../lib/core/index.ts';
import type { HandoffQueue } from '../../lib/ingest/pipeline.ts';
import { runDecay } from '../../lib/jobs/decay.ts';
import type { LeadStore } from '../../lib/store/lead-store.ts';
import { toStored, transactionItems } from '../../lib/store/lead-transaction.ts';
import type { StoredLead } from '../../lib/store/repository.ts';
import type { TransactItems } from '../../lib/store/table.ts';
import { table as tableLayout } from '../../lib/topology.ts';
import { batchWrite } from '../support/batch-write.ts';
import { pool, prng } from '../support/stats.ts';

const minute = 60_000;
const day = 24 * 60 * minute;

/** One delivery of a lead's events (a webhook request, or a CRM outcome), written at `at`. */
interface Delivery {
  at: Date;
  events: NormalizedEvent[];
}

const titles = ['CEO', 'VP Sales', 'Head of Marketing', 'Director of IT', 'Marketing Manager', 'Software Engineer', 'Analyst', 'Student', 'Open to work'];
const industries = ['Software', 'Financial Services', 'Retail', 'Information Technology', 'Manufacturing', 'Healthcare'];
const blogPaths = ['/blog/lead-scoring', '/blog/decay', '/docs/getting-started', '/customers', '/integrations/hubspot'];

/** What Segment sends for a `track` call, about a kilobyte: the raw payload the store keeps a while. */
function segmentPayload(event: NormalizedEvent, index: number): Record<string, unknown> {
  const page = typeof event.properties.url === 'string' ? event.properties.url : '/';
  return {
    type: 'track',
    event: event.type,
    userId: `usr_${index.toString(36)}`,
    anonymousId: `anon-${(index * 7919).toString(16)}-${event.sourceEventId}`,
    messageId: `ajs-next-${event.sourceEventId}-${(index * 104729).toString(16)}`,
    timestamp: event.occurredAt,
    originalTimestamp: event.occurredAt,
    sentAt: event.occurredAt,
    receivedAt: event.occurredAt,
    properties: event.properties,
    context: {
      ip: `203.0.113.${index % 250}`,
      library: { name: 'analytics.js', version: 'npm:next-1.74.0' },
      locale: 'en-US',
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      page: { path: page, referrer: 'https://www.google.com/', search: '', title: 'mql-engine', url: `https://example.com${page}` },
      campaign: { source: 'newsletter', medium: 'email', name: 'q4-launch' },
    },
    integrations: {},
    version: 2,
  };
}

/** Lead `index`'s deliveries, the oldest up to 90 days before `now`: deterministic for a seed. */
export function leadHistory(index: number, seed: number, now: Date): { leadId: string; deliveries: Delivery[] } {
  const random = prng(seed + index);
  const leadId = `jobs-${index}@company${index % 997}.com`;
  const latest = now.getTime() - minute;
  let serial = 0;
  const event = (type: string, at: number, properties: NormalizedEvent['properties'] = {}, source = 'segment'): NormalizedEvent => {
    const one: NormalizedEvent = {
      leadKey: leadId,
      type,
      occurredAt: new Date(Math.min(at, latest)).toISOString(),
      source,
      sourceEventId: `${index}-${++serial}`,
      properties,
    };
    return { ...one, raw: source === 'segment' ? segmentPayload(one, index) : { id: one.sourceEventId, type, stage: type } };
  };
  const delivery = (events: NormalizedEvent[]): Delivery => ({ at: new Date(Date.parse(events.at(-1)!.occurredAt) + 1000), events });
  const page = () => (random() < 0.3 ? '/pricing' : blogPaths[Math.floor(random() * blogPaths.length)]!);

  const first = now.getTime() - (1 + random() * 89) * day;
  const profile = {
    jobTitle: titles[Math.floor(random() * titles.length)]!,
    industry: industries[Math.floor(random() * industries.length)]!,
    company: `Company ${index % 997}`,
    companySize: 10 + Math.floor(random() * 2000),
  };
  const deliveries = [delivery([{ ...event('profile_updated', first), profile }, event('page_viewed', first + 30_000, { url: page() })])];
  let at = first + random() * 20 * day;
  if (random() < 0.85) {
    const engagement = [
      () => event('email_opened', at),
      () => event('email_clicked', at, { url: 'https://example.com/webinar' }),
      () => event('content_downloaded', at, { contentType: random() < 0.5 ? 'case_study' : 'guide' }),
      () => event('webinar_registered', at),
      () => event('webinar_attended', at),
    ];
    const count = random() < 0.5 ? 1 : 2;
    const events: NormalizedEvent[] = [];
    for (let n = 0; n < count; n++) {
      at += random() * 2 * day;
      events.push(engagement[Math.floor(random() * engagement.length)]!());
    }
    deliveries.push(delivery(events));
  }
  if (random() < 0.3) {
    at += random() * 10 * day;
    const roll = random();
    const type = roll < 0.35 ? 'demo_requested' : roll < 0.55 ? 'trial_started' : roll < 0.8 ? 'page_viewed' : 'webinar_attended';
    deliveries.push(delivery([event(type, at, type === 'page_viewed' ? { url: '/pricing' } : {})]));
    // Sales' verdict on some of them, from the CRM.
    if (random() < 0.3) deliveries.push(delivery([event(random() < 0.7 ? 'sql' : 'won', at + random() * 5 * day, {}, 'crm')]));
  }
  return { leadId, deliveries: deliveries.filter((one) => one.at.getTime() <= now.getTime()) };
}

/** The Put items of a lead transaction; the seeding has no other kind to write. */
function puts(items: TransactItems): Record<string, unknown>[] {
  return items.map((entry) => {
    if (!entry.Put?.Item) throw new Error(`transactionItems returned a ${Object.keys(entry)[0]} item: teach bench/phases/jobs-seed.ts to seed it`);
    return entry.Put.Item;
  });
}

/** The items the store holds for a lead after its deliveries, and the handoffs they caused. */
export function leadItems(
  history: { leadId: string; deliveries: Delivery[] },
  model: ScoringModel,
  table: { tableName: string; rawRetentionDays: number },
  now: Date,
): { items: Record<string, unknown>[]; handoffs: { record: HandoffRecord; at: Date }[]; lead: StoredLead } {
  const byKey = new Map<string, Record<string, unknown>>();
  const keep = (items: Record<string, unknown>[]) => {
    for (const item of items) byKey.set(`${item.pk as string}|${item.sk as string}`, item);
  };
  const handoffs: { record: HandoffRecord; at: Date }[] = [];
  let current: StoredLead | undefined;
  for (const { at, events } of history.deliveries) {
    const evaluation = applyEvents(current ?? newLead(history.leadId, at, model), events, model, at);
    let next = toStored(evaluation.lead, evaluation.score, current?.version ?? 0, model, at);
    keep(puts(transactionItems(table, events, new Set(), undefined, next, current?.version, at, undefined).items));
    const waiting = Object.values(next.outbox);
    if (waiting.length > 0) {
      handoffs.push(...waiting.map((record) => ({ record, at: new Date(at.getTime() + 1500) })));
      // Queued, then confirmed off the outbox (lib/store/due-index.ts confirmQueued): version + 1, due at the recycle time.
      const { dueAt: _dueAt, ...rest } = next;
      next = { ...rest, outbox: {}, version: next.version + 1, ...(next.recycleAt ? { dueAt: next.recycleAt } : {}) };
      keep(puts(transactionItems(table, [], new Set(), undefined, next, undefined, at, undefined).items));
    }
    current = next;
  }
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const items = [...byKey.values()].filter((item) => {
    const expiresAt = item[tableLayout.ttlAttribute];
    return typeof expiresAt !== 'number' || expiresAt > nowSeconds;
  });
  return { items, handoffs, lead: current! };
}

export interface SeededTable {
  leads: number;
  /** Items written, the ledger's included. */
  items: number;
  itemsByKind: Record<string, number>;
  /** Mean size of an item of each kind as JSON (a little above DynamoDB's own measure of it). */
  meanJsonBytesByKind: Record<string, number>;
  events: number;
  deliveries: number;
  /** Raw items left out: past their TTL at `now`. */
  rawExpired: number;
  mqlsNow: number;
  handoffs: number;
  /** MQLs the decay run at `now` recycled (each handed off: counted in `handoffs`). */
  recycledByDecay: number;
  seconds: number;
  itemsPerSecond: number;
  batchWrites: number;
  ledgerSeconds: number;
}

/** Seeds `leads` leads into `tableName` through `documents` (items) and `store` (the handoff ledger). */
export async function seedJobsTable(
  documents: DynamoDBDocumentClient,
  store: LeadStore,
  tableName: string,
  options: { leads: number; seed: number; concurrency: number; model: ScoringModel; now: Date; log?: (line: string) => void },
): Promise<SeededTable> {
  const table = { tableName, rawRetentionDays: 30 };
  const itemsByKind: Record<string, number> = {};
  const bytesByKind: Record<string, number> = {};
  const handoffs: { record: HandoffRecord; at: Date }[] = [];
  let events = 0;
  let deliveries = 0;
  let rawWritten = 0;
  let mqlsNow = 0;
  let batchWrites = 0;
  let written = 0;
  const started = performance.now();
  const perBlock = 40;
  await pool(Math.ceil(options.leads / perBlock), options.concurrency, async (block) => {
    const items: Record<string, unknown>[] = [];
    for (let index = block * perBlock; index < Math.min(options.leads, (block + 1) * perBlock); index++) {
      const history = leadHistory(index, options.seed, options.now);
      const built = leadItems(history, options.model, table, options.now);
      deliveries += history.deliveries.length;
      events += history.deliveries.reduce((sum, one) => sum + one.events.length, 0);
      rawWritten += history.deliveries.filter((one) => one.events.some((event) => event.raw !== undefined)).length;
      if (built.lead.status === 'mql') mqlsNow += 1;
      handoffs.push(...built.handoffs);
      for (const item of built.items) {
        const kind = String(item.kind);
        itemsByKind[kind] = (itemsByKind[kind] ?? 0) + 1;
        bytesByKind[kind] = (bytesByKind[kind] ?? 0) + Buffer.byteLength(JSON.stringify(item));
      }
      items.push(...built.items);
    }
    for (let start = 0; start < items.length; start += 25) {
      // Awaited first: `batchWrites += await ...` would read the count before other blocks add to it.
      const calls = await batchWrite(documents, tableName, items.slice(start, start + 25));
      batchWrites += calls;
    }
    written += items.length;
    if (block % 250 === 249)
      options.log?.(`  seeding: ${written} items of ${(block + 1) * perBlock} leads, ${Math.round(written / ((performance.now() - started) / 1000))} items/s`);
  });
  const seconds = (performance.now() - started) / 1000;

  // The handoffs, as the handoff function records their delivery: through the store's own ledger.
  const ledgerStarted = performance.now();
  await pool(handoffs.length, options.concurrency, async (index) => {
    const { record, at } = handoffs[index]!;
    await store.recordHandoffAttempt(record, { at, adapter: 'hubspot', outcome: 'delivered', crmStatus: 200, externalId: String(900_000 + index), calls: 1 });
  });
  // The daily decay job, as of `now`: the MQLs whose score fell since are recycled (and handed off), so
  // that no lead's state changes by time alone and a rescore at `now` finds only what its model changes.
  let delivered = handoffs.length;
  const ledgerQueue: HandoffQueue = {
    async send(records) {
      for (const record of records) {
        const externalId = String(900_000 + delivered++);
        await store.recordHandoffAttempt(record, { at: options.now, adapter: 'hubspot', outcome: 'delivered', crmStatus: 200, externalId, calls: 1 });
      }
    },
  };
  const decay = await runDecay({ store, model: options.model, handoffQueue: ledgerQueue }, options.now);
  if (decay.failed > 0 || decay.resumable) throw new Error(`the decay run over the seeded table left ${decay.due - decay.processed + decay.failed} leads due`);
  const ledgerSeconds = (performance.now() - ledgerStarted) / 1000;
  // Each delivered handoff: its summary item, its attempt item and the CRM link (lib/store/handoff-ledger.ts).
  for (const kind of ['handoff', 'handoff-attempt', 'crm-link']) itemsByKind[kind] = (itemsByKind[kind] ?? 0) + delivered;

  const items = Object.values(itemsByKind).reduce((sum, count) => sum + count, 0);
  return {
    leads: options.leads,
    items,
    itemsByKind,
    meanJsonBytesByKind: Object.fromEntries(Object.entries(bytesByKind).map(([kind, bytes]) => [kind, Math.round(bytes / itemsByKind[kind]!)])),
    events,
    deliveries,
    rawExpired: rawWritten - (itemsByKind.raw ?? 0),
    mqlsNow,
    handoffs: delivered,
    recycledByDecay: decay.changed.recycled ?? 0,
    seconds,
    itemsPerSecond: written / seconds,
    batchWrites,
    ledgerSeconds,
  };
}
