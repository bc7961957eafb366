/**
 * `mql export` (lib/jobs/export.ts) on DynamoDB Local: the worked example's lead, merged with a phone-only
 * Facebook lead, delivered to the CRM and won, exported as one document that holds every kind of item the
 * store keeps about the person, found from the e-mail or the phone key alike. Its events round-trip: scored
 * again from the document alone, they give the lead's score and reasons.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/events.ts';
import { applyEvents, explainedReasons, scoreLead } from '../../../lib/core/lead.ts';
import { exportPerson } from '../../../lib/jobs/export.ts';
import { AccountStore } from '../../../lib/store/accounts.ts';
import { SeenStore } from '../../../lib/store/markers.ts';
import { personalItemKinds } from '../../../lib/store/personal-data.ts';
import { StoreTable } from '../../../lib/store/table.ts';
import { findLeadView } from '../../../lib/views/lead-view.ts';
import { event, handoffRecord, workedExample, workedExampleProfile } from '../../setup/events.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import type { TestTable } from '../../setup/table.ts';
import { freshTable } from '../../setup/table.ts';

let table: TestTable;
const email = `export.${Date.now()}@acme-logistics.com`;
const phone = `+1415${String(Date.now()).slice(-7)}`;
const start = new Date(Date.now() - 3_600_000);
const now = new Date();

beforeAll(async () => {
  table = await freshTable('export');
  const form = event(`phone:${phone}`, 'form_submitted', start, {
    source: 'facebook',
    id: `leadgen-${Date.now()}`,
    profile: { phone, firstName: 'Dana' },
    raw: { id: 'leadgen', field_data: [{ name: 'phone_number', values: [phone] }] },
  });
  await table.store.apply([form], defaultModel, start);
  const markers = new SeenStore({ client: table.documents, tableName: table.tableName });
  await markers.recordQueued('facebook', [form.sourceEventId], start);
  await markers.recordFetched('facebook', form.sourceEventId, form.leadKey, start);
  const later = new Date(start.getTime() + 60_000);
  await table.store.apply(workedExample(email, later, { profile: { ...workedExampleProfile, phone } }), defaultModel, later);
  const [mql] = Object.values((await table.store.getLead(email))!.outbox);
  await table.store.recordHandoffAttempt(mql ?? handoffRecord(email), { at: later, adapter: 'hubspot', outcome: 'delivered', externalId: '8801' });
  // What the account-members function does for a lead from the table's stream (this test runs no stack).
  await new AccountStore(new StoreTable({ client: table.documents, tableName: table.tableName })).join('acme-logistics.com', email, later.toISOString());
  await table.store.apply(
    [event(email, 'won', new Date(start.getTime() + 120_000), { source: 'crm', properties: { amount: 24_000, currency: 'USD' } })],
    defaultModel,
    now,
  );
});

describe('mql export', () => {
  it('holds every kind of item stored about the person, counted as the store finds them', async () => {
    const document = (await exportPerson(table.store, defaultModel, email, now))!;
    const found = await table.store.personalItems(await table.store.findPerson(email));
    for (const kind of personalItemKinds) {
      expect(document.storedItems[kind.name], kind.name).toBe(found.get(kind.name)?.length ?? 0);
      expect(document.storedItems[kind.name], kind.name).toBeGreaterThan(0);
    }
    expect(document.person).toEqual({ asked: email, root: email, identities: [`phone:${phone}`, email] });
    expect(document.lead).toMatchObject({ leadId: email, mergedFrom: [`phone:${phone}`], status: 'won', outcome: { type: 'won', amount: 24_000 } });
    expect(document.storedLead).toMatchObject({ leadId: email, kind: 'lead', aliases: [`phone:${phone}`] });
    expect(document.mergedLeads).toEqual([expect.objectContaining({ leadId: `phone:${phone}`, mergedInto: email })]);
    expect(document.outcomes).toEqual([expect.objectContaining({ type: 'won', source: 'crm', properties: { amount: 24_000, currency: 'USD' } })]);
    expect(document.handoffs).toEqual([
      expect.objectContaining({ type: 'lead.mql', status: 'delivered', externalId: '8801', attemptLog: [expect.objectContaining({ outcome: 'delivered' })] }),
    ]);
    expect(document.crmLinks).toEqual([expect.objectContaining({ adapter: 'hubspot', externalId: '8801', leadId: email })]);
    expect(document.markers).toEqual([expect.objectContaining({ source: 'facebook', leadId: `phone:${phone}` })]);
    // Every event carries its provider's raw payload while it is kept; the form's as the provider sent it.
    const form = document.events.find((item) => item.source === 'facebook' && item.leadKey === `phone:${phone}`)!;
    expect(form.raw).toEqual({ id: 'leadgen', field_data: [{ name: 'phone_number', values: [phone] }] });
    // The copy merged into the e-mail lead shows the same payload, kept with the phone lead where it was received.
    expect(document.events.find((item) => item.mergedFrom === `phone:${phone}`)!.raw).toEqual(form.raw);
    expect(document.events.filter((item) => item.raw === undefined)).toEqual([]);
    expect(document).not.toHaveProperty('other');
    expect(JSON.parse(JSON.stringify(document))).toEqual(document);
  });

  it("round-trips the lead: its events, scored again from the document alone, give the lead's score and reasons", async () => {
    const document = (await exportPerson(table.store, defaultModel, email, now))!;
    const events = document.events
      .filter((item) => item.leadKey === email)
      .map(
        ({ kind: _kind, appliedAt: _appliedAt, modelVersion: _modelVersion, mergedFrom: _mergedFrom, raw: _raw, rawTruncated: _cut, ...rest }) =>
          rest as unknown as NormalizedEvent,
      );
    expect(events).toHaveLength(document.lead!.eventCount);
    const replayed = applyEvents(undefined, events, defaultModel, now);
    const score = scoreLead(replayed.lead, defaultModel, now);
    expect({ total: score.total, fit: score.fit, behavior: score.behavior }).toEqual({
      total: document.lead!.score.total,
      fit: document.lead!.score.fit,
      behavior: document.lead!.score.behavior,
    });
    expect(explainedReasons(replayed.lead, score, defaultModel)).toEqual(document.lead!.reasons);
    expect(replayed.lead.profile).toEqual(document.lead!.lead);
  });

  it('is the same person found from the phone key merged into the lead, and scored as explain shows it', async () => {
    const byEmail = (await exportPerson(table.store, defaultModel, email, now))!;
    const byPhone = (await exportPerson(table.store, defaultModel, `phone:${phone}`, now))!;
    expect({ ...byPhone, person: byEmail.person }).toEqual(byEmail);
    expect(byEmail.lead).toEqual(await findLeadView(table.store, defaultModel, email, now));
  });

  it('answers nothing for a person the store does not know', async () => {
    expect(await exportPerson(table.store, defaultModel, 'nobody@example.com', now)).toBeUndefined();
  });
});
