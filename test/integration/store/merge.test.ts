/**
 * A lead that arrives without an e-mail (a phone-only form) is stored under `phone:<number>` and merged
 * into the e-mail lead once an event brings that e-mail together with the phone: on DynamoDB Local,
 * through LeadStore, checking what is stored and that every event is counted once, whatever the order,
 * the concurrency or a crash half-way.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents, scoreLead } from '../../../lib/core/index.ts';

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
let tableName: string;
let countItems: TestTable['countItems'];

beforeAll(async () => {
  ({ store, tableName, countItems } = await freshTable('merge'));
});

/** A fresh number per test, written as E.164 (`+14155550123`) and its lead key. */
function newPhone(): { phone: string; formatted: string; key: string } {
  const digits = String(randomInt(10 ** 6, 10 ** 7 - 1));
  return { phone: `+1415${digits}`, formatted: `+1 (415) ${digits.slice(0, 3)}-${digits.slice(3)}`, key: `phone:+1415${digits}` };
}

const newEmail = () => `${randomUUID().slice(0, 12)}@acme-logistics.com`;

/** A person who sends two phone-only forms, then tells the website who they are (with the phone), then attends a webinar. */
function story(email: string, phone: { phone: string; formatted: string; key: string }, tag = randomUUID().slice(0, 8)) {
  return {
    forms: [
      event(phone.key, 'form_submitted', t0, {
        id: `${tag}-form-1`,
        properties: { formId: '111' },
        profile: { firstName: 'Ana', lastName: 'Lima', phone: phone.phone },
      }),
      event(phone.key, 'form_submitted', at(day), {
        id: `${tag}-form-2`,
        properties: { formId: '222' },
        profile: { phone: phone.phone, company: 'Acme Logistics' },
      }),
    ],
    identify: event(email, 'profile_updated', at(2 * day), {
      id: `${tag}-identify`,
      profile: { email, jobTitle: 'CEO', industry: 'Software', phone: phone.formatted },
    }),
    webinar: event(email, 'webinar_attended', at(3 * day), { id: `${tag}-webinar` }),
    laterForm: event(phone.key, 'form_submitted', at(4 * day), { id: `${tag}-form-3`, properties: { formId: '333' }, profile: { phone: phone.phone } }),
  };
}

/** What applying every event to one fresh e-mail lead gives: the state a merge must reach. */
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
  expect(Object.fromEntries(Object.entries(stored.behavior).map(([rule, state]) => [rule, [state.count, state.rawPoints]]))).toEqual(
    Object.fromEntries(Object.entries(clean.behavior).map(([rule, state]) => [rule, [state.count, state.rawPoints]])),
  );
  expect(stored.recentEvents).toEqual(clean.recentEvents);
}

async function dueNow(leadId: string, until: Date): Promise<boolean> {
  for await (const due of store.dueLeads(until)) if (due === leadId) return true;
  return false;
}

describe('a phone-only lead merged into its e-mail lead', () => {
  it('is absorbed when an event brings the e-mail with the same phone (written differently): one lead, every event once', async () => {
    const email = newEmail();
    const phone = newPhone();
    const { forms, identify, webinar } = story(email, phone);
    for (const form of forms) await store.apply([form], defaultModel, now);
    expect(await store.getLead(phone.key)).toMatchObject({ eventCount: 2, status: 'engaged' });

    const result = await store.apply([identify], defaultModel, now);

    expect(result).toMatchObject({ applied: 1, duplicates: 0, failed: [] });
    expect(result.leads).toEqual([expect.objectContaining({ leadId: email, applied: 1, merged: 2 })]);
    const lead = (await store.getLead(email))!;
    expect(lead).toMatchObject({ mergedFrom: [phone.key], aliases: [phone.key] });
    expect(lead.mergingFrom).toBeUndefined();
    expect(lead.profile).toMatchObject({ email, firstName: 'Ana', lastName: 'Lima', company: 'Acme Logistics', jobTitle: 'CEO', phone: phone.formatted });
    expectSameState(lead, cleanRun(email, [...forms, identify]));
    // The phone lead points at the e-mail lead for good and is no longer due; its own items stay for audit.
    const absorbed = (await store.getLead(phone.key))!;
    expect(absorbed).toMatchObject({ mergedInto: email, mergedAt: now.toISOString() });
    expect(absorbed.dueAt).toBeUndefined();
    expect([await countItems(phone.key, 'EVT#'), await countItems(phone.key, 'RAW#')]).toEqual([2, 2]);
    // Under the e-mail lead: the copies (no raw payload of their own) and its own event with its raw.
    expect([await countItems(email, 'EVT#'), await countItems(email, 'RAW#')]).toEqual([3, 1]);
    const events = await store.listEvents(email);
    expect(events.map((one) => [one.leadKey, one.sourceEventId])).toEqual([...forms, identify].map((one) => [email, one.sourceEventId]));

    // A webinar and a redelivery of the identify: counted once, no second merge, no read of the phone lead needed.
    const later = await store.apply([webinar, identify], defaultModel, now);
    expect(later).toMatchObject({ applied: 1, duplicates: 1 });
    expect(later.leads[0]).toMatchObject({ merged: 0 });
    expectSameState((await store.getLead(email))!, cleanRun(email, [...forms, identify, webinar]));
  });

  it('sends a later phone-only event of that number to the e-mail lead', async () => {
    const email = newEmail();
    const phone = newPhone();
    const { forms, identify, laterForm } = story(email, phone);
    await store.apply(forms, defaultModel, now);
    await store.apply([identify], defaultModel, now);

    const result = await store.apply([laterForm], defaultModel, now);

    expect(result.leads).toEqual([expect.objectContaining({ leadId: email, applied: 1, merged: 0 })]);
    expect(await countItems(phone.key, 'EVT#')).toBe(2);
    expect(await countItems(email, 'EVT#')).toBe(4);
    expectSameState((await store.getLead(email))!, cleanRun(email, [...forms, identify, laterForm]));
    // Its redelivery, and a redelivery of a form stored before the merge, are duplicates.
    expect(await store.apply([laterForm, forms[0]!], defaultModel, now)).toMatchObject({ applied: 0, duplicates: 2 });
    expect((await store.getLead(email))!.eventCount).toBe(4);
  });

  it('takes the number first when the e-mail comes first: the phone-only form arriving later lands on the e-mail lead', async () => {
    const email = newEmail();
    const phone = newPhone();
    const { forms, identify } = story(email, phone);

    await store.apply([identify], defaultModel, now);
    expect(await store.getLead(phone.key)).toMatchObject({ mergedInto: email });
    const afterIdentify = (await store.getLead(email))!;
    expect(afterIdentify).toMatchObject({ aliases: [phone.key] });
    expect(afterIdentify.mergedFrom).toBeUndefined();

    const result = await store.apply(forms, defaultModel, now);

    expect(result.leads).toEqual([expect.objectContaining({ leadId: email, applied: 2 })]);
    expect(await countItems(phone.key, 'EVT#')).toBe(0);
    expectSameState((await store.getLead(email))!, cleanRun(email, [identify, ...forms]));
  });

  it('reaches the same final state whatever order the events arrive in', async () => {
    const orders = [
      [0, 1, 2, 3, 4],
      [2, 3, 0, 4, 1],
      [4, 3, 2, 1, 0],
      [0, 2, 1, 4, 3],
      [3, 0, 4, 2, 1],
    ];
    const finals: StoredLead[] = [];
    for (const order of orders) {
      const email = newEmail();
      const phone = newPhone();
      const { forms, identify, webinar, laterForm } = story(email, phone);
      const timeline = [forms[0]!, forms[1]!, identify, webinar, laterForm];
      for (const index of order) await store.apply([timeline[index]!], defaultModel, now);
      const lead = (await store.getLead(email))!;
      expectSameState(lead, cleanRun(email, timeline));
      expect(await store.getLead(phone.key)).toMatchObject({ mergedInto: email });
      expect(await countItems(email, 'EVT#')).toBe(5);
      finals.push(lead);
    }
    const comparable = (lead: StoredLead) => ({
      status: lead.status,
      eventCount: lead.eventCount,
      score: scoreLead(lead, defaultModel, now),
      firstName: lead.profile.firstName,
      jobTitle: lead.profile.jobTitle,
    });
    expect(new Set(finals.map((lead) => JSON.stringify(comparable(lead)))).size).toBe(1);
  });
});

describe('merging under concurrency and failure', () => {
  it('two deliveries at once carrying the same phone and e-mail: the phone lead is absorbed once', async () => {
    const email = newEmail();
    const phone = newPhone();
    const { forms, identify, webinar } = story(email, phone);
    await store.apply(forms, defaultModel, now);
    const webinarWithPhone = { ...webinar, profile: { phone: phone.phone } };

    const results = await Promise.all([store.apply([identify], defaultModel, now), store.apply([webinarWithPhone], defaultModel, now)]);

    expect(results.every((result) => result.failed.length === 0)).toBe(true);
    expect(results.reduce((sum, result) => sum + result.applied, 0)).toBe(2);
    expect(results.reduce((sum, result) => sum + result.leads[0]!.merged, 0)).toBe(2);
    const lead = (await store.getLead(email))!;
    expect(lead.mergedFrom).toEqual([phone.key]);
    expect(await countItems(email, 'EVT#')).toBe(4);
    expectSameState(lead, cleanRun(email, [...forms, identify, webinarWithPhone]));
  });

  it('the same merging delivery eight times at once: stored and counted once', async () => {
    const email = newEmail();
    const phone = newPhone();
    const { forms, identify } = story(email, phone);
    await store.apply(forms, defaultModel, now);

    const results = await Promise.all(Array.from({ length: 8 }, () => store.apply([identify], defaultModel, now)));

    expect(results.every((result) => result.failed.length === 0)).toBe(true);
    expect(results.reduce((sum, result) => sum + result.applied, 0)).toBe(1);
    expect(results.reduce((sum, result) => sum + result.duplicates, 0)).toBe(7);
    expect(await countItems(email, 'EVT#')).toBe(3);
    expectSameState((await store.getLead(email))!, cleanRun(email, [...forms, identify]));
  });

  it('the same phone-only event landing while the merge runs is counted once', async () => {
    const email = newEmail();
    const phone = newPhone();
    const { forms, identify, laterForm } = story(email, phone);
    await store.apply(forms, defaultModel, now);

    await Promise.all([store.apply([identify], defaultModel, now), store.apply([laterForm], defaultModel, now), store.apply([laterForm], defaultModel, now)]);

    const lead = (await store.getLead(email))!;
    expect(await countItems(email, 'EVT#')).toBe(4);
    expectSameState(lead, cleanRun(email, [...forms, identify, laterForm]));
    expect(await store.getLead(phone.key)).toMatchObject({ mergedInto: email });
  });

  it('two e-mail leads claiming one phone at once: one absorbs it, the other counts only its own events', async () => {
    const phone = newPhone();
    const [first, second] = [newEmail(), newEmail()];
    const one = story(first, phone);
    const other = story(second, phone);
    await store.apply(one.forms, defaultModel, now);

    await Promise.all([store.apply([one.identify], defaultModel, now), store.apply([other.identify], defaultModel, now)]);

    const leads = [(await store.getLead(first))!, (await store.getLead(second))!];
    const owner = leads.find((lead) => lead.mergedFrom?.includes(phone.key));
    expect(owner).toBeDefined();
    expect(leads.map((lead) => lead.eventCount).sort()).toEqual([1, 3]);
    expect(await store.getLead(phone.key)).toMatchObject({ mergedInto: owner!.leadId });
    const loser = leads.find((lead) => lead !== owner)!;
    expect(loser.aliases ?? []).not.toContain(phone.key);
    expect(await countItems(loser.leadId, 'EVT#')).toBe(1);
  });

  describe('a merge cut short between two of its transactions', () => {
    /** A store whose `failAt`-th transaction never reaches DynamoDB, as when the Lambda dies there. */
    function crashingStore(failAt: number): LeadStore {
      const client = documentClient();
      let transactions = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (String(context.commandName).startsWith('TransactWrite') && ++transactions === failAt) throw new Error('the function stopped here');
          return next(args);
        },
        { step: 'initialize', name: 'crash' },
      );
      return new LeadStore({ client, tableName });
    }

    /** A phone lead with more events than one transaction can copy (120 forms), and the identify that absorbs it. */
    async function halfMerged(): Promise<{ email: string; phone: ReturnType<typeof newPhone>; forms: NormalizedEvent[]; identify: NormalizedEvent }> {
      const email = newEmail();
      const phone = newPhone();
      const { identify } = story(email, phone);
      const forms = Array.from({ length: 120 }, (_, index) =>
        event(phone.key, 'form_submitted', at(index * 60_000), {
          id: `form-${randomUUID()}`,
          properties: { formId: String(index) },
          profile: { phone: phone.phone },
        }),
      );
      expect((await store.apply(forms, defaultModel, now)).applied).toBe(120);

      const crashed = await crashingStore(2).apply([identify], defaultModel, now);

      expect(crashed.failed).toEqual([expect.objectContaining({ leadId: email })]);
      const lead = (await store.getLead(email))!;
      // The first transaction claimed the phone lead and copied what fit; the lead says a merge is under way and is due.
      expect(lead).toMatchObject({ mergingFrom: phone.key, eventCount: 98 });
      expect(await store.getLead(phone.key)).toMatchObject({ mergedInto: email });
      expect(await dueNow(email, now)).toBe(true);
      return { email, phone, forms, identify };
    }

    it('is completed by the redelivery the failure asked for: every event once', async () => {
      const { email, phone, forms, identify } = await halfMerged();

      const retried = await store.apply([identify], defaultModel, now);

      expect(retried).toMatchObject({ applied: 1, failed: [] });
      expect(retried.leads[0]!.merged).toBe(22);
      const lead = (await store.getLead(email))!;
      expect(lead.mergingFrom).toBeUndefined();
      expect(lead.mergedFrom).toEqual([phone.key]);
      expect(await countItems(email, 'EVT#')).toBe(121);
      expectSameState(lead, cleanRun(email, [...forms, identify]));
      // Twice more: nothing changes.
      await store.apply([identify], defaultModel, now);
      expect((await store.getLead(email))!.eventCount).toBe(121);
    });

    it('is completed by the decay job if nothing else comes', async () => {
      const { email, forms, identify } = await halfMerged();

      const due: string[] = [];
      for await (const leadId of store.dueLeads(now)) due.push(leadId);
      expect(due).toContain(email);
      await store.reevaluate(email, defaultModel, now);

      const lead = (await store.getLead(email))!;
      expect(lead.mergingFrom).toBeUndefined();
      expect(await countItems(email, 'EVT#')).toBe(120);
      expectSameState(lead, cleanRun(email, forms));
      // The identify the failed delivery carried comes with the sender's retry.
      await store.apply([identify], defaultModel, now);
      expectSameState((await store.getLead(email))!, cleanRun(email, [...forms, identify]));
    });
  });
});

describe('what looking for a phone lead costs', () => {
  /** A store that counts the DynamoDB calls it makes, by command. */
  function countingStore(): { store: LeadStore; calls: Map<string, number> } {
    const client = documentClient();
    const calls = new Map<string, number>();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const name = String(context.commandName).replace(/Command$/, '');
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize', name: 'count' },
    );
    return { store: new LeadStore({ client, tableName }), calls };
  }

  async function callsFor(events: NormalizedEvent[]): Promise<Record<string, number>> {
    const { store: counting, calls } = countingStore();
    const result = await counting.apply(events, defaultModel, now);
    expect(result.failed).toEqual([]);
    return Object.fromEntries(calls);
  }

  it('nothing for an event without a phone, or with a phone the lead already holds; one read once per new phone', async () => {
    const email = newEmail();
    const phone = newPhone();
    const tag = randomUUID().slice(0, 8);
    const opened = (index: number, profile?: NormalizedEvent['profile']) =>
      event(email, 'email_opened', at(index * 1000), { id: `${tag}-open-${index}`, profile });
    await store.apply([opened(0)], defaultModel, now);

    // The lead's own write, as before merging existed: its read, the look for its event's item (and those
    // pending on it), and the lead-first puts of the raw payload, the lead and the event (lib/store/lead-first.ts).
    const leadFirst = { GetItem: 1, BatchGetItem: 1, PutItem: 3 };
    expect(await callsFor([opened(1)])).toEqual(leadFirst);
    // A phone no lead has: one more read, and the key is taken by the lead's commit, a transaction of the two
    // puts (the raw payload and the event item stay plain puts, lib/store/lead-first.ts).
    expect(await callsFor([opened(2, { phone: phone.formatted })])).toEqual({ GetItem: 2, BatchGetItem: 1, PutItem: 2, TransactWriteItems: 1 });
    // The same phone again: nothing more.
    expect(await callsFor([opened(3, { phone: phone.phone })])).toEqual(leadFirst);
    // A phone-only event of that number: the read that finds where it goes, then the lead's own write.
    expect(await callsFor([event(phone.key, 'form_submitted', at(4000), { id: `${tag}-form`, profile: { phone: phone.phone } })])).toEqual({
      ...leadFirst,
      GetItem: 2,
    });
    expect((await store.getLead(email))!.eventCount).toBe(5);
  });

  it('a phone-only lead not merged costs what it did: its read is reused by its write', async () => {
    const phone = newPhone();
    // Created: no event of a lead not written yet can be stored, so nothing is looked up (lib/store/lead-first.ts).
    expect(await callsFor([event(phone.key, 'form_submitted', t0, { id: `form-${randomUUID()}`, profile: { phone: phone.phone } })])).toEqual({
      GetItem: 1,
      PutItem: 3,
    });
    expect(await callsFor([event(phone.key, 'form_submitted', at(1000), { id: `form-${randomUUID()}`, profile: { phone: phone.phone } })])).toEqual({
      GetItem: 1,
      BatchGetItem: 1,
      PutItem: 3,
    });
  });

  it('absorbing a phone lead: one read of it and one query of its events, once', async () => {
    const email = newEmail();
    const phone = newPhone();
    const { forms, identify, webinar } = story(email, phone);
    await store.apply(forms, defaultModel, now);

    expect(await callsFor([identify])).toEqual({ GetItem: 2, Query: 1, TransactWriteItems: 1 });
    expect(await callsFor([{ ...webinar, profile: { phone: phone.formatted } }])).toEqual({ GetItem: 1, BatchGetItem: 1, PutItem: 3 });
  });
});

describe('a phone-only lead that qualified before its e-mail was known', () => {
  it('keeps its handoff until it is confirmed, then leaves the due index', async () => {
    const email = newEmail();
    const phone = newPhone();
    const demo = event(phone.key, 'demo_requested', at(5 * day), { id: `demo-${randomUUID()}`, profile: { phone: phone.phone, jobTitle: 'VP Sales' } });
    const qualified = await store.apply([demo], defaultModel, now);
    const [mql] = qualified.leads[0]!.outbox;
    expect(mql).toMatchObject({ type: 'lead.mql', leadId: phone.key, lead: { phone: phone.phone } });
    expect(mql!.lead).not.toHaveProperty('email');

    // The e-mail arrives before the handoff was confirmed on the queue: the merge leaves the outbox alone.
    const identify = event(email, 'profile_updated', at(5 * day + 1000), { id: `identify-${randomUUID()}`, profile: { email, phone: phone.phone } });
    await store.apply([identify], defaultModel, now);
    expect(await dueNow(phone.key, now)).toBe(true);

    // The decay job hands the waiting record back for sending; once confirmed, the phone lead is no longer due.
    const outcome = await store.reevaluate(phone.key, defaultModel, now);
    expect(outcome.outbox.map((record) => record.id)).toEqual([mql!.id]);
    expect(outcome.recycleAt).toBeUndefined();
    await store.confirmQueued(phone.key, [mql!.id], outcome.recycleAt);
    expect(await dueNow(phone.key, at(1000 * day))).toBe(false);
    // The e-mail lead qualified on the absorbed demo request and hands off under its own id, naming the phone lead.
    const lead = (await store.getLead(email))!;
    expect(lead.status).toBe('mql');
    expect(Object.values(lead.outbox)).toEqual([
      expect.objectContaining({ type: 'lead.mql', leadId: email, mergedFrom: [phone.key], lead: expect.objectContaining({ email, phone: phone.phone }) }),
    ]);
  });
});
