/**
 * The store's side of an erasure (lib/store/erase.ts, lib/store/tombstones.ts) on DynamoDB Local, with the
 * races forced at the exact moment they matter: a lead created from old events while the erasure commits
 * (the creation's ConditionCheck on the tombstone cancels it, the retry refuses the events), an event
 * landing on the existing lead between the erasure's read and its delete (the version-conditioned delete
 * fails, the erasure reads again), a handoff recorded after the erasure (the ledger's guard), an erasure
 * stopped half-way and run again, erasing by the phone key of a merged lead, and no erasure without a key.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { testLeadId } from '../../../lib/core/identity.ts';
import { hasPseudonymKey, usePseudonymKey } from '../../../lib/runtime/pseudonym.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { event, handoffRecord, workedExample, workedExampleProfile } from '../../setup/events.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import type { TestTable } from '../../setup/table.ts';
import { freshTable } from '../../setup/table.ts';

let table: TestTable;
const key = 'test-only-pseudonym-key-for-erasures';

beforeAll(async () => {
  usePseudonymKey(key);
  table = await freshTable('erasure');
});

let counter = 0;
const newEmail = () => `erase${++counter}.${Date.now()}@acme-logistics.com`;
const newPhone = () => `+1415${String(1_000_000 + Math.floor(Math.random() * 8_999_999))}`;
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);

/** A LeadStore on the test table whose client runs `before(command)` ahead of sending each command. */
function storeWith(before: (command: unknown) => Promise<void>): LeadStore {
  const client = {
    async send(command: unknown) {
      await before(command);
      return table.documents.send(command as never);
    },
  } as unknown as DynamoDBDocumentClient;
  return new LeadStore({ client, tableName: table.tableName, writeWindowMs: 200 });
}

/** Every item of the test table whose text (keys included) names one of `needles`. */
async function itemsNaming(...needles: string[]): Promise<string[]> {
  const found: string[] = [];
  let cursor: Record<string, any> | undefined;
  do {
    const page = await table.documents.send(new ScanCommand({ TableName: table.tableName, ConsistentRead: true, ExclusiveStartKey: cursor }));
    for (const raw of page.Items ?? []) {
      const text = JSON.stringify(unmarshall(raw));
      if (needles.some((needle) => text.includes(needle))) found.push(text);
    }
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return found;
}

const erase = (store: LeadStore, asked: string, returns: 'later-events' | 'never' = 'later-events') => store.erasePerson(asked, { now: new Date(), returns });

/** The write of a lead's PROFILE item (of `email`'s lead, if given): a transaction, or a lead-first PutItem (lib/store/lead-first.ts). */
const writesLead = (command: unknown, email?: string) =>
  (command instanceof TransactWriteCommand && (!email || JSON.stringify(command.input).includes(`LEAD#${email}`))) ||
  (command instanceof PutCommand && command.input.Item?.sk === 'PROFILE' && (!email || command.input.Item?.pk === `LEAD#${email}`));

describe('a lead created from old events while the erasure commits', () => {
  it('a creating write slower than the write window reads the tombstone after it, takes back what it wrote, and refuses the events as erased', async () => {
    const email = newEmail();
    let erasedMeanwhile = false;
    const racing = storeWith(async (command) => {
      // Right before the write that would create the lead: the whole erasure runs (and outlasts the window).
      if (!erasedMeanwhile && writesLead(command)) {
        erasedMeanwhile = true;
        await erase(table.store, email);
      }
    });
    const result = await racing.apply(workedExample(email, minutesAgo(5)), defaultModel, new Date());

    expect(erasedMeanwhile).toBe(true);
    expect(result).toMatchObject({ applied: 0, failed: [] });
    expect(result.erased).toHaveLength(3);
    expect(await table.store.getLead(email)).toBeUndefined();
    expect(await table.countItems(email, 'EVT#')).toBe(0);
    expect(await table.countItems(email, 'RAW#')).toBe(0);
  });

  it("a creating write that lands within the window is removed by the erasure's last look, made after waiting for it", async () => {
    const email = newEmail();
    let erasure: Promise<unknown> | undefined;
    const racing = storeWith(async (command) => {
      // Right before the write that would create the lead, the erasure starts, and the write goes on at once.
      if (!erasure && writesLead(command)) {
        erasure = erase(table.store, email);
        await table.documents.send(new GetCommand({ TableName: table.tableName, Key: { pk: 'none', sk: 'none' } }));
      }
    });
    const result = await racing.apply(workedExample(email, minutesAgo(5)), defaultModel, new Date());
    expect(erasure).toBeDefined();
    expect(result.failed).toEqual([]);
    // Within the window the write is stored and the erasure's last look removes it; on a loaded machine the
    // write outlasts the window, reads the tombstone itself and refuses its events: either way nothing stays.
    if (result.applied === 0) expect(result.erased).toHaveLength(3);
    else expect(result).toMatchObject({ applied: 3, erased: [] });
    await erasure;
    expect(await itemsNaming(email)).toEqual([]);
  });

  it('events that occurred after the erasure still make a new lead, and the erasure before them is honoured for the old ones', async () => {
    const email = newEmail();
    await table.store.apply(workedExample(email, minutesAgo(10)), defaultModel, new Date());
    const erasure = await erase(table.store, email);
    const old = event(email, 'email_opened', minutesAgo(9), { source: 'sendgrid' });
    const later = event(email, 'email_opened', new Date(Date.parse(erasure.erasedAt) + 1000), { source: 'sendgrid' });

    const result = await table.store.apply([old, later], defaultModel, new Date(Date.now() + 2000));

    expect(result.erased).toEqual([old.sourceEventId]);
    expect(result.applied).toBe(1);
    expect(await table.store.getLead(email)).toMatchObject({ eventCount: 1, lastEventAt: later.occurredAt });
    expect(await table.store.listEvents(email, { consistent: true })).toEqual([expect.objectContaining({ sourceEventId: later.sourceEventId })]);
  });

  it('with ERASED_PEOPLE_RETURN=never, no event of the identity is stored, however late', async () => {
    const email = newEmail();
    await erase(table.store, email, 'never');
    const result = await table.store.apply([event(email, 'demo_requested', new Date(Date.now() + 60_000))], defaultModel, new Date(Date.now() + 60_000));
    expect(result).toMatchObject({ applied: 0, erased: [expect.any(String)] });
    expect(await itemsNaming(email)).toEqual([]);
  });
});

describe('a delivery of several leads (their tombstones read in one batch)', () => {
  it("refuses the erased person's old events and stores the others'; an erasure committing after the batch read still undoes the creation", async () => {
    const erased = newEmail();
    const racing = newEmail();
    const others = [newEmail(), newEmail()];
    await table.store.apply(workedExample(erased, minutesAgo(20)), defaultModel, new Date());
    await erase(table.store, erased);
    let erasedMeanwhile = false;
    const store = storeWith(async (command) => {
      // After the batch read of tombstones, right before the write that creates its lead: `racing` is erased.
      if (!erasedMeanwhile && writesLead(command, racing)) {
        erasedMeanwhile = true;
        await erase(table.store, racing);
      }
    });
    const delivery = [erased, racing, ...others].map((email) => event(email, 'email_opened', minutesAgo(5), { source: 'sendgrid' }));

    const result = await store.apply(delivery, defaultModel, new Date());

    expect(erasedMeanwhile).toBe(true);
    expect(result.erased.sort()).toEqual([delivery[0]!.sourceEventId, delivery[1]!.sourceEventId].sort());
    expect(result.applied).toBe(2);
    expect(await itemsNaming(erased, racing)).toEqual([]);
    for (const email of others) expect(await table.store.getLead(email)).toMatchObject({ eventCount: 1 });
  });
});

describe('an event landing on the existing lead during the erasure', () => {
  it("changes the lead's version: the conditioned delete fails, the erasure reads again and removes what came", async () => {
    const email = newEmail();
    await table.store.apply(workedExample(email, minutesAgo(10)), defaultModel, new Date());
    let landed = false;
    const erasing = storeWith(async (command) => {
      if (!landed && command instanceof DeleteCommand && command.input.Key?.sk === 'PROFILE') {
        landed = true;
        // A writer whose write window (lib/store/lead-first.ts) is long enough that it never takes its own write
        // back, however loaded the machine: the erasure alone must find what it wrote.
        const patient = new LeadStore({ client: table.documents, tableName: table.tableName, writeWindowMs: 600_000 });
        await patient.apply([event(email, 'email_clicked', minutesAgo(1), { source: 'sendgrid' })], defaultModel, new Date());
      }
    });

    const result = await erase(erasing, email);

    expect(landed).toBe(true);
    // Round 2 finds what landed; round 3 finds nothing, and round 4 is the look after the wait (lib/store/erase.ts).
    expect(result.rounds).toBe(4);
    expect(result.removed).toMatchObject({ lead: 1, rawPayloads: 2 });
    // The landing write stores again the items of the events pending on the lead that round 1 removed (it
    // cannot tell an erasure from a writer that stopped before storing them): round 2 removes them with the rest.
    expect(result.removed.events).toBeGreaterThanOrEqual(4);
    expect(await itemsNaming(email)).toEqual([]);
  });
});

describe('an erasure stopped half-way', () => {
  it('is completed by running it again: the lead items, which lead to the rest, go last', async () => {
    const email = newEmail();
    const phone = newPhone();
    await table.store.apply([event(`phone:${phone}`, 'form_submitted', minutesAgo(20), { source: 'facebook', profile: { phone } })], defaultModel, new Date());
    await table.store.apply(workedExample(email, minutesAgo(10), { profile: { ...workedExampleProfile, phone } }), defaultModel, new Date());
    const crashing = storeWith(async (command) => {
      if (command instanceof DeleteCommand && command.input.Key?.pk === `LEAD#${email}`) throw new Error('the operator pressed Ctrl-C');
    });

    await expect(erase(crashing, email)).rejects.toThrow('Ctrl-C');
    expect(await itemsNaming(email)).toEqual([expect.stringContaining('"sk":"PROFILE"')]);

    const again = await erase(table.store, email);
    expect(again.person.identities.sort()).toEqual([email, `phone:${phone}`].sort());
    expect(await itemsNaming(email, phone.slice(1))).toEqual([]);
  });
});

describe("a sender's test data of the address", () => {
  it('erased with the person: a LinkedIn preview filled with their own e-mail is a test lead of its own, reached from the address', async () => {
    const email = newEmail();
    const testKey = testLeadId('linkedin', email)!;
    await table.store.apply([event(testKey, 'form_submitted', minutesAgo(30), { source: 'linkedin', profile: { email } })], defaultModel, new Date());
    await table.store.apply(workedExample(email, minutesAgo(10)), defaultModel, new Date());

    const result = await erase(table.store, email);

    expect(result.person.identities.sort()).toEqual([email, testKey].sort());
    expect(await table.store.getLead(testKey)).toBeUndefined();
    expect(await itemsNaming(email)).toEqual([]);
  });
});

describe('a merged phone lead', () => {
  it('erased by its phone key: the e-mail lead it was merged into goes too, and both keys get a tombstone', async () => {
    const email = newEmail();
    const phone = newPhone();
    await table.store.apply([event(`phone:${phone}`, 'form_submitted', minutesAgo(20), { source: 'facebook', profile: { phone } })], defaultModel, new Date());
    await table.store.apply(workedExample(email, minutesAgo(10), { profile: { ...workedExampleProfile, phone } }), defaultModel, new Date());
    expect(await table.store.getLead(`phone:${phone}`)).toMatchObject({ mergedInto: email });

    const result = await erase(table.store, `phone:${phone}`);

    expect(result.person).toEqual({ asked: `phone:${phone}`, root: email, identities: [`phone:${phone}`, email] });
    expect(result).toMatchObject({ tombstones: 2, removed: { lead: 1, mergedLeads: 1 } });
    expect(await itemsNaming(email, phone.slice(1))).toEqual([]);
    // A phone-only redelivery from before meets the phone key's tombstone.
    const again = await table.store.apply([event(`phone:${phone}`, 'form_submitted', minutesAgo(20), { source: 'facebook' })], defaultModel, new Date());
    expect(again.erased).toHaveLength(1);
  });

  it('erased by the e-mail: a phone key it took before any lead had it (an alias) goes too', async () => {
    const email = newEmail();
    const phone = newPhone();
    await table.store.apply(workedExample(email, minutesAgo(10), { profile: { ...workedExampleProfile, phone } }), defaultModel, new Date());
    const alias = await table.documents.send(new GetCommand({ TableName: table.tableName, Key: { pk: `LEAD#phone:${phone}`, sk: 'PROFILE' } }));
    expect(alias.Item).toMatchObject({ kind: 'alias', mergedInto: email });

    const result = await erase(table.store, email);

    expect(result.removed).toMatchObject({ lead: 1, mergedLeads: 1 });
    expect(await itemsNaming(email, phone.slice(1))).toEqual([]);
  });
});

describe('the handoff ledger after an erasure', () => {
  it('does not write back a handoff decided before the erasure (an attempt recorded late), but does record one decided after', async () => {
    const email = newEmail();
    await table.store.apply(workedExample(email, minutesAgo(10)), defaultModel, new Date());
    const before = handoffRecord(email, { occurredAt: minutesAgo(5).toISOString() });
    const erasure = await erase(table.store, email);
    expect(await table.store.erasedAt(email)).toBe(erasure.erasedAt);

    await table.store.recordHandoffAttempt(before, { at: new Date(), adapter: 'hubspot', outcome: 'delivered', externalId: '901' });
    expect(await table.store.recordHandoffSuperseded(before, { at: new Date(), supersededBy: 'msg_x', adapter: 'hubspot' })).toBe(false);
    expect(await itemsNaming(email)).toEqual([]);

    const after = handoffRecord(email, { occurredAt: new Date(Date.parse(erasure.erasedAt) + 1000).toISOString() });
    await table.store.recordHandoffAttempt(after, { at: new Date(), adapter: 'hubspot', outcome: 'delivered', externalId: '902' });
    expect(await table.store.listHandoffs(email)).toEqual([expect.objectContaining({ id: after.id, status: 'delivered' })]);
    expect(await table.store.leadIdForCrmRecord('hubspot', '902')).toBe(email);
  });
});

describe('without a pseudonym key', () => {
  it('refuses to erase (a tombstone anyone could recompute would list who was erased) and removes nothing', async () => {
    const email = newEmail();
    await table.store.apply(workedExample(email, minutesAgo(10)), defaultModel, new Date());
    usePseudonymKey(undefined);
    try {
      expect(hasPseudonymKey()).toBe(false);
      await expect(erase(table.store, email)).rejects.toThrow(/^PSEUDONYM_KEY is not set/);
    } finally {
      usePseudonymKey(key);
    }
    expect(await table.countItems(email, 'EVT#')).toBe(3);
    expect(await table.store.getLead(email)).toBeDefined();
  });
});
