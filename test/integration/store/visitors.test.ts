/**
 * Anonymous visitors (issue 13, part 4): a visitor's events are stored under `anon:<anonymousId>`, scored
 * as nobody, and become the e-mail lead's once an event names the visitor with the e-mail (its `links`),
 * each once at its own time; the same path as a phone-only lead (lib/store/merge.ts). On DynamoDB Local,
 * through LeadStore, whatever the order or the concurrency.
 */
import { randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents, scoreLead } from '../../../lib/core/index.ts';

import { usePseudonymKey } from '../../../lib/runtime/pseudonym.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import type { StoredLead } from '../../../lib/store/repository.ts';
import { event } from '../../setup/events.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { documentClient, freshTable, type TestTable } from '../../setup/table.ts';

const day = 24 * 60 * 60 * 1000;
const t0 = new Date('2026-06-01T09:00:00.000Z');
const at = (offsetMs: number) => new Date(t0.getTime() + offsetMs);
const now = at(6 * day);

let store: LeadStore;
let countItems: TestTable['countItems'];
let documents: TestTable['documents'];
let tableName: string;

beforeAll(async () => {
  ({ store, countItems, documents, tableName } = await freshTable('visitors'));
});

/** The items of a lead's partition, read consistently. */
async function itemsOf(leadId: string): Promise<Record<string, unknown>[]> {
  const answer = await documents.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `LEAD#${leadId}` },
      ConsistentRead: true,
    }),
  );
  return answer.Items ?? [];
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

const newEmail = () => `${randomUUID().slice(0, 12)}@acme-logistics.com`;

/** With the provider keys it names beside its lead. */
const linked = (one: NormalizedEvent, links: string[]): NormalizedEvent => ({ ...one, links });

/**
 * A visitor who views the pricing page twice and asks for a demo without giving an address (scored as
 * nobody), then identifies on the sign-up form (the e-mail with the visitor and user ids), then attends a webinar.
 */
function story(email: string, tag = randomUUID().slice(0, 8)) {
  const visitor = `anon:${tag}-visitor`;
  const user = `user:${tag}-user`;
  return {
    visitor,
    user,
    anonymous: [
      event(visitor, 'page_viewed', t0, { id: `${tag}-page-1`, properties: { url: 'https://acme.com/pricing' } }),
      event(visitor, 'page_viewed', at(day), { id: `${tag}-page-2`, properties: { url: 'https://acme.com/pricing' } }),
      event(visitor, 'demo_requested', at(day + 60_000), { id: `${tag}-demo` }),
    ],
    identify: linked(event(email, 'profile_updated', at(2 * day), { id: `${tag}-identify`, profile: { email, jobTitle: 'CEO', industry: 'Software' } }), [
      visitor,
      user,
    ]),
    webinar: event(email, 'webinar_attended', at(3 * day), { id: `${tag}-webinar` }),
    /** A later message naming only the user id (a backend's track call). */
    byUserId: event(user, 'content_downloaded', at(4 * day), { id: `${tag}-download`, properties: { contentType: 'case_study' } }),
    /** A later page view of the same browser, before or after the identify. */
    laterVisit: event(visitor, 'page_viewed', at(5 * day), { id: `${tag}-page-3`, properties: { url: 'https://acme.com/customers' } }),
  };
}

/** What applying every event to one fresh e-mail lead gives: the state stitching must reach. */
function cleanRun(email: string, events: readonly NormalizedEvent[]) {
  return applyEvents(
    undefined,
    events.map((one) => ({ ...one, leadKey: email })),
    defaultModel,
    now,
  ).lead;
}

function expectSameState(stored: StoredLead, clean: ReturnType<typeof cleanRun>): void {
  expect(stored.eventCount).toBe(clean.eventCount);
  expect(stored.status).toBe(clean.status);
  expect(stored.profile).toEqual(clean.profile);
  expect(scoreLead(stored, defaultModel, now)).toEqual(scoreLead(clean, defaultModel, now));
  // The same events; which came from the anonymous history (marked) depends on the order they arrived in.
  expect(stored.recentEvents.map(({ anonymous: _anonymous, ...event }) => event)).toEqual(clean.recentEvents);
}

describe('an anonymous visitor', () => {
  it('is stored under its visitor key and scored as nobody: a demo request does not make it an MQL, nor due', async () => {
    const { visitor, anonymous } = story(newEmail());
    expect(await store.apply(anonymous, defaultModel, now)).toMatchObject({ applied: 3, failed: [] });
    const lead = (await store.getLead(visitor))!;
    expect(lead).toMatchObject({ eventCount: 3, status: 'new', outbox: {} });
    expect(lead.dueAt).toBeUndefined();
    expect(await countItems(visitor, 'EVT#')).toBe(3);
  });

  it("identified later: its events become the lead's, once each at their own times, and the lead is scored with them", async () => {
    const email = newEmail();
    const { visitor, user, anonymous, identify, webinar, byUserId, laterVisit } = story(email);
    await store.apply(anonymous, defaultModel, now);

    const result = await store.apply([identify], defaultModel, now);

    expect(result.leads).toEqual([expect.objectContaining({ leadId: email, applied: 1, merged: 3 })]);
    const lead = (await store.getLead(email))!;
    expect(lead.mergedFrom).toEqual([visitor]);
    expect([...(lead.aliases ?? [])].sort()).toEqual([visitor, user].sort());
    expectSameState(lead, cleanRun(email, [...anonymous, identify]));
    // The demo request (fast track) qualifies the lead once it has a name.
    expect(lead.status).toBe('mql');
    const [record] = Object.values(lead.outbox);
    // The events from the anonymous history are marked; the CRM gets no visitor key (it never had a record).
    expect(record!.recentEvents.map((one) => [one.type, one.anonymous ?? false])).toEqual([
      ['profile_updated', false],
      ['demo_requested', true],
      ['page_viewed', true],
      ['page_viewed', true],
    ]);
    expect(record!.mergedFrom).toBeUndefined();
    expect(record!.reasons.find((reason) => reason.rule === 'demo_requested')?.events).toEqual([expect.objectContaining({ anonymous: true })]);
    const events = await store.listEvents(email);
    expect(events.map((one) => [one.sourceEventId, one.occurredAt])).toEqual([...anonymous, identify].map((one) => [one.sourceEventId, one.occurredAt]));
    expect(await store.getLead(visitor)).toMatchObject({ mergedInto: email });
    expect(await store.getLead(user)).toMatchObject({ mergedInto: email });

    // A webinar, a later message with only the user id, a later page view of the same browser: straight to the lead.
    await store.apply([webinar], defaultModel, now);
    const later = await store.apply([byUserId, laterVisit], defaultModel, now);
    expect(later.leads).toEqual([expect.objectContaining({ leadId: email, applied: 2, merged: 0 })]);
    expect([await countItems(user, 'EVT#'), await countItems(visitor, 'EVT#')]).toEqual([0, 3]);
    expectSameState((await store.getLead(email))!, cleanRun(email, [...anonymous, identify, webinar, byUserId, laterVisit]));
  });

  it('identified first: its later anonymous events and user-id-only events go straight to the lead', async () => {
    const email = newEmail();
    const { visitor, user, anonymous, identify, byUserId } = story(email);
    await store.apply([identify], defaultModel, now);
    expect(await store.getLead(visitor)).toMatchObject({ mergedInto: email });

    const result = await store.apply([...anonymous, byUserId], defaultModel, now);

    expect(result.leads).toEqual([expect.objectContaining({ leadId: email, applied: 4 })]);
    expect([await countItems(visitor, 'EVT#'), await countItems(user, 'EVT#')]).toEqual([0, 0]);
    expectSameState((await store.getLead(email))!, cleanRun(email, [identify, ...anonymous, byUserId]));
  });

  it('reaches the same lead whatever order the anonymous events, the identify and the later events arrive in', async () => {
    const orders = [
      [0, 1, 2, 3, 4, 5],
      [3, 0, 4, 1, 5, 2],
      [5, 4, 3, 2, 1, 0],
    ];
    for (const order of orders) {
      const email = newEmail();
      const { anonymous, identify, byUserId, laterVisit } = story(email);
      const all = [...anonymous, identify, byUserId, laterVisit];
      for (const index of order) await store.apply([all[index]!], defaultModel, now);
      const lead = (await store.getLead(email))!;
      // A user-id-only event before the identify is a `user:` lead of its own until the identify absorbs it.
      expectSameState(lead, cleanRun(email, all));
    }
  });
});

describe('a visitor known by a user id before the e-mail', () => {
  it('is taken along when the e-mail comes with the user id alone (a backend identify)', async () => {
    const email = newEmail();
    const { visitor, user, anonymous } = story(email);
    // The browser: anonymous visits, then a call with the user id and the visitor id but no e-mail.
    await store.apply(anonymous, defaultModel, now);
    const signedIn = linked(event(user, 'page_viewed', at(day + 120_000), { properties: { url: 'https://acme.com/app' } }), [visitor]);
    await store.apply([signedIn], defaultModel, now);
    expect(await store.getLead(user)).toMatchObject({ eventCount: 1, status: 'new' });
    // The backend: an identify with the e-mail and the user id only.
    const identify = linked(event(email, 'profile_updated', at(2 * day), { profile: { email } }), [user]);

    const result = await store.apply([identify], defaultModel, now);

    expect(result.leads).toEqual([expect.objectContaining({ leadId: email, applied: 1, merged: 4 })]);
    const lead = (await store.getLead(email))!;
    expect([...(lead.mergedFrom ?? [])].sort()).toEqual([user, visitor].sort());
    expectSameState(lead, cleanRun(email, [...anonymous, signedIn, identify]));
    expect(await store.getLead(visitor)).toMatchObject({ mergedInto: email });
  });
});

describe('a key taken between the plan and the commit', () => {
  it("the visitor's own lead created meanwhile: the commit taking the key fails, and the lead absorbs the visitor instead", async () => {
    const email = newEmail();
    const { visitor, user, anonymous, identify } = story(email);
    // The identify reads the visitor and user keys free; right before its commit (the lead's put with the
    // aliases' puts, one transaction: lib/store/lead-first.ts) the visitor's page views land on a lead of their own.
    let raced = false;
    const client = {
      async send(command: unknown) {
        const items = (command as { input?: { TransactItems?: { Put?: { Item?: Record<string, unknown> } }[] } }).input?.TransactItems;
        if (!raced && items?.some((item) => item.Put?.Item?.kind === 'alias')) {
          raced = true;
          await store.apply(anonymous, defaultModel, now);
        }
        return documents.send(command as never);
      },
    } as unknown as typeof documents;
    const racing = new LeadStore({ client, tableName, writeWindowMs: 200 });

    const result = await racing.apply([identify], defaultModel, now);

    expect(raced).toBe(true);
    expect(result).toMatchObject({ applied: 1, failed: [] });
    const lead = (await store.getLead(email))!;
    expect(lead.mergedFrom).toEqual([visitor]);
    expect([...(lead.aliases ?? [])].sort()).toEqual([visitor, user].sort());
    expect(await store.getLead(visitor)).toMatchObject({ mergedInto: email });
    expect(await store.getLead(user)).toMatchObject({ mergedInto: email });
    expectSameState(lead, cleanRun(email, [...anonymous, identify]));
    // Nothing of the failed commit is left: the identify's raw payload is stored once, with the lead that counts it.
    expect(await countItems(email, 'RAW#')).toBe(1);
    expect(await countItems(email, 'EVT#')).toBe(4);
  });
});

describe('one browser, two people; one person, two browsers', () => {
  it('a visitor claimed by a second person stays with the first; the second counts only its own events', async () => {
    const [first, second] = [newEmail(), newEmail()];
    const one = story(first);
    await store.apply(one.anonymous, defaultModel, now);
    await store.apply([one.identify], defaultModel, now);

    const secondIdentify = linked(event(second, 'profile_updated', at(2 * day + 1000), { profile: { email: second } }), [one.visitor]);
    await store.apply([secondIdentify], defaultModel, now);

    expect((await store.getLead(first))!.eventCount).toBe(4);
    const other = (await store.getLead(second))!;
    expect(other.eventCount).toBe(1);
    expect(other.aliases ?? []).not.toContain(one.visitor);
    expect(await store.getLead(one.visitor)).toMatchObject({ mergedInto: first });
  });

  it("two visitors of one person (two devices) both become the lead's", async () => {
    const email = newEmail();
    const laptop = story(email);
    const phone = story(email);
    await store.apply([...laptop.anonymous, ...phone.anonymous], defaultModel, now);
    await store.apply([laptop.identify], defaultModel, now);
    await store.apply([phone.identify], defaultModel, now);

    const lead = (await store.getLead(email))!;
    expect([...(lead.mergedFrom ?? [])].sort()).toEqual([laptop.visitor, phone.visitor].sort());
    expectSameState(lead, cleanRun(email, [...laptop.anonymous, ...phone.anonymous, laptop.identify, phone.identify]));
  });
});

describe('stitching under concurrency', () => {
  it('50 anonymous events and the identify at once: the lead equals the once-in-order control', async () => {
    const email = newEmail();
    const tag = randomUUID().slice(0, 8);
    const visitor = `anon:${tag}`;
    const anonymous = Array.from({ length: 50 }, (_, index) =>
      event(visitor, 'page_viewed', at(index * 60_000), { id: `${tag}-page-${index}`, properties: { url: `https://acme.com/p/${index}` } }),
    );
    const identify = linked(event(email, 'profile_updated', at(day), { id: `${tag}-identify`, profile: { email } }), [visitor]);
    const all = [...anonymous, identify];

    const results = await Promise.all(all.map((one) => store.apply([one], defaultModel, now)));

    expect(results.flatMap((result) => result.failed)).toEqual([]);
    const lead = (await store.getLead(email))!;
    expectSameState(lead, cleanRun(email, all));
    expect(await countItems(email, 'EVT#')).toBe(51);
    expect(await store.getLead(visitor)).toMatchObject({ mergedInto: email });
  });
});

describe('retention of the anonymous history (ANONYMOUS_RETENTION_DAYS, default 90)', () => {
  it("expires a visitor's events 90 days after each occurred and its lead 90 days after its last event; the lead taking it keeps the copies and the link", async () => {
    const email = newEmail();
    const { visitor, anonymous, identify } = story(email);
    await store.apply(anonymous, defaultModel, now);
    const ninety = 90 * 86_400;
    const visitorItems = await itemsOf(visitor);
    const events = visitorItems.filter((item) => item.kind === 'event');
    expect(events.map((item) => item.expiresAt)).toEqual(anonymous.map((one) => seconds(one.occurredAt) + ninety));
    expect(visitorItems.find((item) => item.kind === 'lead')?.expiresAt).toBe(seconds(anonymous[2]!.occurredAt) + ninety);

    await store.apply([identify], defaultModel, now);

    // The claimed visitor's lead item is the link to the lead: it no longer expires. Its own events still do.
    const claimed = (await itemsOf(visitor)).find((item) => item.kind === 'lead')!;
    expect(claimed).toMatchObject({ mergedInto: email });
    expect(claimed.expiresAt).toBeUndefined();
    // The copies under the e-mail lead take its retention (EVENT_RETENTION_DAYS unset: kept).
    const copies = (await itemsOf(email)).filter((item) => item.kind === 'event');
    expect(copies).toHaveLength(4);
    expect(copies.map((item) => [item.sourceEventId, item.expiresAt])).toEqual(copies.map((item) => [item.sourceEventId, undefined]));
  });

  it("takes ANONYMOUS_RETENTION_DAYS, or EVENT_RETENTION_DAYS when that is shorter, for a visitor's events", async () => {
    const short = new LeadStore({ client: documents, tableName, anonymousRetentionDays: 7, eventRetentionDays: 365 });
    const { visitor, anonymous } = story(newEmail());
    await short.apply(anonymous, defaultModel, now);
    expect((await itemsOf(visitor)).filter((item) => item.kind === 'event').map((item) => item.expiresAt)).toEqual(
      anonymous.map((one) => seconds(one.occurredAt) + 7 * 86_400),
    );
    const shorter = new LeadStore({ client: documents, tableName, anonymousRetentionDays: 90, eventRetentionDays: 30 });
    const other = story(newEmail());
    await shorter.apply(other.anonymous, defaultModel, now);
    expect((await itemsOf(other.visitor)).filter((item) => item.kind === 'event').map((item) => item.expiresAt)).toEqual(
      other.anonymous.map((one) => seconds(one.occurredAt) + 30 * 86_400),
    );
  });
});

describe('mql erase and mql export of a person with a stitched visitor', () => {
  it("reach the visitor's own items and the user-id link, from the e-mail and from the visitor key", async () => {
    usePseudonymKey('test-only-pseudonym-key-for-visitor-erasures');
    const email = newEmail();
    const { visitor, user, anonymous, identify, byUserId } = story(email);
    await store.apply(anonymous, defaultModel, now);
    await store.apply([identify], defaultModel, now);
    await store.apply([byUserId], defaultModel, now);

    for (const asked of [email, visitor, user]) {
      const person = await store.findPerson(asked);
      expect(person.root).toBe(email);
      expect([...person.identities].sort()).toEqual([email, visitor, user].sort());
    }
    const found = await store.personalItems(await store.findPerson(visitor));
    // Under the lead: the three copies, the identify and the download; under the visitor: its three own events.
    expect(found.get('events')).toHaveLength(8);
    expect(found.get('mergedLeads')).toHaveLength(2);

    const result = await store.erasePerson(visitor, { now: new Date(), returns: 'later-events' });
    expect(result.person.root).toBe(email);
    for (const identity of [email, visitor, user]) expect(await itemsOf(identity)).toEqual([]);
  });
});

describe('what stitching costs', () => {
  it('a visitor with 50 anonymous events: 3 reads, 1 query, 1 transaction of 55 items', async () => {
    // As deployed: erasures on, so a lead about to be created has its tombstone read (lib/store/tombstones.ts).
    usePseudonymKey('test-only-pseudonym-key-for-visitor-erasures');
    const client = documentClient();
    const calls: Record<string, number> = {};
    let itemsWritten = 0;
    let itemsRead = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const name = String(context.commandName).replace(/Command$/, '');
        calls[name] = (calls[name] ?? 0) + 1;
        const input = args.input as { TransactItems?: unknown[] };
        itemsWritten += name === 'TransactWriteItems' ? (input.TransactItems?.length ?? 0) : name === 'PutItem' ? 1 : 0;
        const output = await next(args);
        const answer = output.output as { Item?: unknown; Items?: unknown[]; Responses?: Record<string, unknown[]> };
        itemsRead += (answer.Item ? 1 : 0) + (answer.Items?.length ?? 0) + Object.values(answer.Responses ?? {}).reduce((sum, list) => sum + list.length, 0);
        return output;
      },
      { step: 'initialize', name: 'count' },
    );
    const counting = new LeadStore({ client, tableName });
    const tag = randomUUID().slice(0, 8);
    const visitor = `anon:${tag}`;
    const email = newEmail();
    const anonymous = Array.from({ length: 50 }, (_, index) =>
      event(visitor, 'page_viewed', at(index * 60_000), { id: `${tag}-page-${index}`, properties: { url: `https://acme.com/p/${index}` } }),
    );
    await store.apply(anonymous, defaultModel, now);
    const identify = linked(event(email, 'profile_updated', at(day), { id: `${tag}-identify`, profile: { email } }), [visitor]);

    const result = await counting.apply([identify], defaultModel, now);

    expect(result.leads).toEqual([expect.objectContaining({ leadId: email, applied: 1, merged: 50 })]);
    // Reads: the e-mail lead and its tombstone (neither there yet) and the visitor's lead item; one Query of its 50 events. Written: the 50
    // copies, the identify and its raw payload, the lead, the claim on the visitor and the check of the lead's
    // tombstone, in one transaction.
    expect(calls).toEqual({ GetItem: 3, Query: 1, TransactWriteItems: 1 });
    expect([itemsRead, itemsWritten]).toEqual([51, 55]);
    // The figure for the report (issue 13, "the cost of stitching"): printed by `npx vitest run test/integration/store/visitors.test.ts -t 'what stitching costs'`.
    console.info(
      `stitching a visitor with 50 anonymous events: ${itemsRead} items read (${calls.GetItem} GetItem, ${calls.Query} Query), ${itemsWritten} items written in ${calls.TransactWriteItems} transaction`,
    );
  });
});
