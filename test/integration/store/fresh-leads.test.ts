/**
 * A delivery's new leads that take keys no lead has (a tracking batch's new users, lib/store/fresh-leads.ts):
 * their commits go together, their raw payloads and events 25 to a BatchWriteItem, and the result is what one
 * lead at a time gives: each event once, each key held by its lead and leading to it, a redelivery adding
 * nothing, and a key taken between the read and the commit sorted out the one-lead way. On DynamoDB Local.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents, scoreLead } from '../../../lib/core/index.ts';

import { LeadStore } from '../../../lib/store/lead-store.ts';
import { event } from '../../setup/events.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { documentClient, freshTable, type TestTable } from '../../setup/table.ts';

const now = new Date('2026-06-10T09:00:00.000Z');
const at = (minutes: number) => new Date(now.getTime() - minutes * 60_000);

let table: TestTable;

beforeAll(async () => {
  table = await freshTable('fresh-leads');
});

/** `people` new users, three events each, every event naming the user's `user:` key (as /v1/batch maps them). */
function delivery(people: number, tag = randomUUID().slice(0, 8)) {
  const users = Array.from({ length: people }, (_, index) => ({ email: `p${index}.${tag}@acme-logistics.com`, user: `user:${tag}-${index}` }));
  const events: NormalizedEvent[] = users.flatMap(({ email, user }, index) =>
    ['pricing', 'docs', 'blog'].map((page, n) => ({
      ...event(email, 'page_viewed', at(30 - n), { id: `${tag}-${index}-${n}`, source: 'tracking', properties: { url: `https://acme.com/${page}` } }),
      links: [user],
    })),
  );
  return { users, events };
}

/** A store whose client counts the commands it sends, and runs `before` ahead of each. */
function countingStore(before?: (command: unknown) => Promise<void>) {
  const calls: Record<string, number> = {};
  const client = documentClient();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName).replace(/Command$/, '');
      calls[name] = (calls[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'count' },
  );
  const wrapped = before
    ? ({
        ...client,
        send: async (command: unknown) => {
          await before(command);
          return client.send(command as never);
        },
      } as unknown as typeof client)
    : client;
  return { calls, store: new LeadStore({ client: wrapped, tableName: table.tableName, writeWindowMs: 600_000 }) };
}

async function expectEachOnce(users: { email: string; user: string }[], events: readonly NormalizedEvent[]): Promise<void> {
  for (const { email, user } of users) {
    const mine = events.filter((one) => one.leadKey === email);
    const lead = (await table.store.getLead(email))!;
    const clean = applyEvents(undefined, mine, defaultModel, now).lead;
    expect(lead.eventCount).toBe(3);
    expect(scoreLead(lead, defaultModel, now)).toEqual(scoreLead(clean, defaultModel, now));
    expect(lead.aliases).toEqual([user]);
    expect(await table.store.getLead(user)).toMatchObject({ mergedInto: email });
    expect(await table.countItems(email, 'EVT#')).toBe(3);
    expect(await table.countItems(email, 'RAW#')).toBeGreaterThanOrEqual(1);
  }
}

describe("a delivery's new leads with keys no lead has", () => {
  it('are committed in one transaction, their items 25 to a request; each event once, each key leading to its lead', async () => {
    const { users, events } = delivery(30);
    const { calls, store } = countingStore();

    const result = await store.apply(events, defaultModel, now);

    expect(result).toMatchObject({ applied: 90, duplicates: 0, failed: [] });
    expect(result.leads).toHaveLength(30);
    // 30 lead puts and 30 alias puts in one transaction; 30 raw payloads and 90 events in BatchWriteItems.
    expect(calls.TransactWriteItems).toBe(1);
    expect(calls.PutItem ?? 0).toBe(0);
    expect(calls.BatchWriteItem).toBeGreaterThanOrEqual(5);
    await expectEachOnce(users, events);

    // The same delivery again (a library's retry): nothing new.
    const again = await store.apply(events, defaultModel, now);
    expect(again).toMatchObject({ applied: 0, duplicates: 90, failed: [] });
    await expectEachOnce(users, events);
  });

  it("a key taken between the read and the commit (the user's own lead created meanwhile): that group goes one lead at a time, and the user's lead is absorbed", async () => {
    const { users, events } = delivery(4);
    const taken = users[2]!;
    const early = event(taken.user, 'content_downloaded', at(60), {
      id: `early-${randomUUID()}`,
      source: 'tracking',
      properties: { contentType: 'case_study' },
    });
    let raced = false;
    const { store } = countingStore(async (command) => {
      const items = (command as { input?: { TransactItems?: { Put?: { Item?: Record<string, unknown> } }[] } }).input?.TransactItems;
      if (!raced && (items?.filter((item) => item.Put?.Item?.kind === 'alias').length ?? 0) > 1) {
        raced = true;
        await table.store.apply([early], defaultModel, now);
      }
    });

    const result = await store.apply(events, defaultModel, now);

    expect(raced).toBe(true);
    expect(result).toMatchObject({ applied: 12, failed: [] });
    const others = users.filter((one) => one !== taken);
    await expectEachOnce(others, events);
    const lead = (await table.store.getLead(taken.email))!;
    expect(lead.eventCount).toBe(4);
    expect(lead.mergedFrom).toEqual([taken.user]);
    expect(await table.store.getLead(taken.user)).toMatchObject({ mergedInto: taken.email });
  });
});
