/**
 * The lead-first write (lib/store/lead-first.ts) where it can be cut short: a writer stopped after its
 * lead write and before its event items (the sender's retry, or the lead's next write, stores them; every
 * event counts once), stopped before its lead write (nothing counts, nothing is left), and a redelivery
 * landing between the two. On DynamoDB Local, the stops made by SDK middleware.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { event, workedExample } from '../../setup/events.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { documentClient, freshTable, type TestTable } from '../../setup/table.ts';

const t0 = new Date('2026-06-01T09:00:00.000Z');
const at = (offsetMs: number) => new Date(t0.getTime() + offsetMs);
const now = at(60 * 60_000);

let table: TestTable;

beforeAll(async () => {
  table = await freshTable('lead-first');
});

type Hook = (input: { command: string; sk: string | undefined }) => Promise<void> | void;

/** A store on the test table whose client runs `hook` before each command (the item's sort key for a PutItem or a DeleteItem). */
function storeWith(hook: Hook): LeadStore {
  const client: DynamoDBDocumentClient = documentClient();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      // The document client's commands reach its stack as the low-level ones, attributes marshalled or not.
      const input = args.input as { Item?: { sk?: unknown }; Key?: { sk?: unknown } };
      const sk = input.Item?.sk ?? input.Key?.sk;
      const command = String(context.commandName).replace(/Item(Command)$/, '$1');
      await hook({ command, sk: typeof sk === 'string' ? sk : (sk as { S?: string } | undefined)?.S });
      return next(args);
    },
    { step: 'initialize', name: 'hook' },
  );
  return new LeadStore({ client, tableName: table.tableName, writeWindowMs: 200 });
}

/** Stops the writer at the first event item it puts, as when its function dies there. */
const stopsAtEventItems = () =>
  storeWith(({ command, sk }) => {
    if (command === 'PutCommand' && sk?.startsWith('EVT#')) throw new Error('the function stopped here');
  });

const newEmail = () => `${randomUUID()}@acme-logistics.com`;
const eventItems = (email: string) => table.countItems(email, 'EVT#');

describe('a writer stopped after its lead write, before its event items', () => {
  it("counts the events once: the sender's retry finds them pending on the lead and stores their items", async () => {
    const email = newEmail();
    const delivery = workedExample(email, t0);

    const stopped = await stopsAtEventItems().apply(delivery, defaultModel, now);
    expect(stopped.failed).toEqual([expect.objectContaining({ leadId: email })]);
    // Counted (the lead write is the commit), not stored yet.
    expect(await table.store.getLead(email)).toMatchObject({ eventCount: 3, status: 'mql' });
    expect(await eventItems(email)).toBe(0);
    // What a job reads already has them: they are pending on the lead.
    expect((await table.store.listEvents(email, { consistent: true })).map((one) => one.sourceEventId)).toEqual(delivery.map((one) => one.sourceEventId));

    const retried = await table.store.apply(delivery, defaultModel, now);
    expect(retried).toMatchObject({ applied: 0, duplicates: 3, failed: [] });
    expect(await eventItems(email)).toBe(3);
    expect(await table.store.getLead(email)).toMatchObject({ eventCount: 3, version: 1 });
    // The MQL decided by the stopped write is handed back for the queue.
    expect(retried.leads[0]!.outbox.map((record) => record.type)).toEqual(['lead.mql']);
  });

  it("is completed by the lead's next write when no retry comes", async () => {
    const email = newEmail();
    const [first, second] = [event(email, 'email_opened', at(0)), event(email, 'email_clicked', at(1000))];
    await stopsAtEventItems().apply([first!], defaultModel, now);
    expect(await eventItems(email)).toBe(0);

    const next = await table.store.apply([second!], defaultModel, now);
    expect(next).toMatchObject({ applied: 1, duplicates: 0, failed: [] });
    expect(await eventItems(email)).toBe(2);
    expect(await table.store.getLead(email)).toMatchObject({ eventCount: 2, version: 2 });
    // The next write after that no longer carries the first event: its item is stored.
    expect((await table.store.getLead(email))!.pendingEvents!.map((one) => one.sourceEventId)).toEqual([second!.sourceEventId]);
  });

  it('a delivery of several leads that includes such a lead goes lead by lead, and counts its pending event once', async () => {
    const email = newEmail();
    const pendingOne = event(email, 'email_opened', at(0));
    await stopsAtEventItems().apply([pendingOne], defaultModel, now);
    const other = newEmail();

    const together = await table.store.apply([pendingOne, event(other, 'email_opened', at(0))], defaultModel, now);
    expect(together).toMatchObject({ applied: 1, duplicates: 1, failed: [] });
    expect(await table.store.getLead(email)).toMatchObject({ eventCount: 1 });
    expect(await eventItems(email)).toBe(1);
  });
});

describe('a writer stopped before its lead write', () => {
  it('counts nothing and leaves nothing: its raw payloads are taken back', async () => {
    const email = newEmail();
    const failing = storeWith(({ command, sk }) => {
      if (command === 'PutCommand' && sk === 'PROFILE') throw new Error('throttled, retries exhausted');
    });
    const result = await failing.apply(workedExample(email, t0), defaultModel, now);
    expect(result.failed).toEqual([expect.objectContaining({ leadId: email })]);
    expect(await table.store.getLead(email)).toBeUndefined();
    expect(await eventItems(email)).toBe(0);
    expect(await table.countItems(email, 'RAW#')).toBe(0);
  });
});

describe('a redelivery landing between the lead write and the event items', () => {
  it('is a duplicate: the event is pending on the lead; it stores the item, and the event counts once', async () => {
    const email = newEmail();
    const one = event(email, 'demo_requested', at(0));
    let redelivered: Promise<unknown> | undefined;
    let result: Awaited<ReturnType<LeadStore['apply']>> | undefined;
    const pausing = storeWith(async ({ command, sk }) => {
      if (!redelivered && command === 'PutCommand' && sk?.startsWith('EVT#')) {
        redelivered = table.store.apply([one], defaultModel, now).then((answer) => {
          result = answer;
        });
        await redelivered;
      }
    });
    const first = await pausing.apply([one], defaultModel, now);
    expect(first).toMatchObject({ applied: 1, failed: [] });
    expect(result).toMatchObject({ applied: 0, duplicates: 1, failed: [] });
    expect(await table.store.getLead(email)).toMatchObject({ eventCount: 1, version: 1 });
    expect(await eventItems(email)).toBe(1);
  });

  it('concurrent deliveries of the same events and new ones to one lead: every event once, the exact count', async () => {
    const email = newEmail();
    const events: NormalizedEvent[] = Array.from({ length: 12 }, (_, index) =>
      event(email, 'page_viewed', at(index * 1000), { properties: { url: `/p/${index}` } }),
    );
    // Each delivery carries a sliding window of the events: most of every delivery is a redelivery.
    const deliveries = Array.from({ length: 10 }, (_, index) => events.slice(index, index + 3));
    const results = await Promise.all(deliveries.map((delivery) => table.store.apply(delivery, defaultModel, now)));
    expect(results.flatMap((one) => one.failed)).toEqual([]);
    expect(results.reduce((sum, one) => sum + one.applied, 0)).toBe(12);
    expect(await table.store.getLead(email)).toMatchObject({ eventCount: 12 });
    expect(await eventItems(email)).toBe(12);
  });
});

describe('a write of the lead alone (the decay job, a rescore)', () => {
  it('is one conditional PutItem, half the units of a one-item transaction, refused like a transaction when the lead moved on', async () => {
    const email = newEmail();
    await table.store.apply(workedExample(email, t0), defaultModel, now);
    const commands: string[] = [];
    let raced = false;
    const racing = storeWith(async ({ command, sk }) => {
      commands.push(command);
      // The first write of the lead: another write lands just before it.
      if (!raced && command === 'PutCommand' && sk === 'PROFILE') {
        raced = true;
        await table.store.apply([event(email, 'email_opened', at(2000))], defaultModel, now);
      }
    });
    // 120 days on, the MQL has decayed below recycleBelow: the decay job recycles it.
    const later = new Date(now.getTime() + 120 * 24 * 60 * 60_000);
    const outcome = await racing.reevaluate(email, defaultModel, later);
    expect(outcome.status).toBe('recycled');
    expect(commands.filter((command) => command === 'TransactWriteCommand')).toEqual([]);
    // Refused once (the version moved on), read again, written.
    expect(commands.filter((command) => command === 'PutCommand')).toHaveLength(2);
    expect(await table.store.getLead(email)).toMatchObject({ status: 'recycled', eventCount: 4 });
  });
});
