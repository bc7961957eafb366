/**
 * Retention as the store applies it (lib/store/retention.ts): with EVENT_RETENTION_DAYS an event item
 * expires that many days after the event occurred, a copy merged from a phone lead too; with
 * HANDOFF_RETENTION_DAYS a handoff's summary and its CRM link expire after the last attempt. The lead
 * item never expires and does not depend on its events: when an event is gone (as TTL removes it), the
 * lead's state and score are what they were, and a rescore leaves it as it is rather than rebuilding it
 * from what is left.
 */
import { DeleteCommand, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { scoreLead } from '../../../lib/core/lead.ts';
import { LeadStore } from '../../../lib/store/lead-store.ts';
import { event, handoffRecord, workedExample, workedExampleProfile } from '../../setup/events.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import type { TestTable } from '../../setup/table.ts';
import { freshTable } from '../../setup/table.ts';

let table: TestTable;
let store: LeadStore;
const day = 86_400;

beforeAll(async () => {
  table = await freshTable('retention');
  store = new LeadStore({ client: table.documents, tableName: table.tableName, eventRetentionDays: 90, handoffRetentionDays: 60 });
});

async function partition(leadId: string) {
  const answer = await table.documents.send(
    new QueryCommand({
      TableName: table.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `LEAD#${leadId}` },
      ConsistentRead: true,
    }),
  );
  return answer.Items ?? [];
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

describe('EVENT_RETENTION_DAYS', () => {
  it('puts a TTL on each event item, counted from when the event occurred; raw payloads keep theirs; the lead item has none', async () => {
    const email = `kept.${Date.now()}@acme-logistics.com`;
    const phone = `+1415${String(Date.now()).slice(-7)}`;
    const now = new Date();
    await store.apply(
      [event(`phone:${phone}`, 'form_submitted', new Date(now.getTime() - 40 * day * 1000), { source: 'facebook', profile: { phone } })],
      defaultModel,
      now,
    );
    const events = workedExample(email, new Date(now.getTime() - 10 * day * 1000), { profile: { ...workedExampleProfile, phone } });
    await store.apply(events, defaultModel, now);

    const items = await partition(email);
    const eventItems = items.filter((item) => String(item.sk).startsWith('EVT#'));
    expect(eventItems).toHaveLength(4);
    for (const item of eventItems) expect(item.expiresAt).toBe(seconds(item.occurredAt as string) + 90 * day);
    // The copy merged from the phone lead expires with the event it is, not with the merge.
    expect(eventItems.find((item) => item.mergedFrom)).toMatchObject({
      expiresAt: seconds(new Date(now.getTime() - 40 * day * 1000).toISOString()) + 90 * day,
    });
    for (const item of items.filter((item) => String(item.sk).startsWith('RAW#'))) expect(item.expiresAt).toBe(Math.floor(now.getTime() / 1000) + 30 * day);
    expect(items.find((item) => item.sk === 'PROFILE')).not.toHaveProperty('expiresAt');
  });

  it('an expired event changes nothing the lead holds, and a rescore does not rebuild the lead from what is left', async () => {
    const email = `expiring.${Date.now()}@acme-logistics.com`;
    const now = new Date();
    await store.apply(workedExample(email, new Date(now.getTime() - 60_000)), defaultModel, now);
    // A later write: the worked example's events are no longer pending on the lead (lib/store/lead-first.ts).
    await store.apply([event(email, 'email_opened', new Date(now.getTime() - 30_000))], defaultModel, now);
    const lead = (await store.getLead(email))!;
    expect(lead.status).toBe('mql');
    // DynamoDB's TTL removes the oldest event (the profile the fit points come from).
    const [oldest] = (await partition(email)).filter((item) => String(item.sk).startsWith('EVT#'));
    await table.documents.send(new DeleteCommand({ TableName: table.tableName, Key: { pk: oldest!.pk, sk: oldest!.sk } }));

    const later = new Date(now.getTime() + 1000);
    expect(scoreLead((await store.getLead(email))!, defaultModel, later)).toEqual(scoreLead(lead, defaultModel, later));
    const rescored = await store.replaceState(email, defaultModel, later);
    expect(rescored).toMatchObject({ written: false, incomplete: true, before: 'mql', after: 'mql' });
    expect(await store.getLead(email)).toEqual(lead);
  });
});

describe('HANDOFF_RETENTION_DAYS', () => {
  it("puts a TTL on the handoff's summary and its CRM link, counted from the last attempt; attempts keep their 90 days", async () => {
    const email = `handoff.${Date.now()}@acme-logistics.com`;
    const record = handoffRecord(email);
    const at = new Date();
    await store.recordHandoffAttempt(record, { at, adapter: 'hubspot', outcome: 'delivered', externalId: '7001' });
    const items = await partition(email);
    const expires = Math.floor(at.getTime() / 1000);
    expect(items.find((item) => String(item.sk).startsWith('HANDOFF#'))).toMatchObject({ status: 'delivered', expiresAt: expires + 60 * day });
    expect(items.find((item) => String(item.sk).startsWith('ATTEMPT#'))).toMatchObject({ expiresAt: expires + 90 * day });
    const link = await table.documents.send(new GetCommand({ TableName: table.tableName, Key: { pk: 'CRM#hubspot#7001', sk: 'LINK' } }));
    expect(link.Item).toMatchObject({ leadId: email, expiresAt: expires + 60 * day });
  });

  it('without it, summaries and links are kept for good', async () => {
    const email = `forever.${Date.now()}@acme-logistics.com`;
    await table.store.recordHandoffAttempt(handoffRecord(email), { at: new Date(), adapter: 'hubspot', outcome: 'delivered', externalId: '7002' });
    expect((await partition(email)).find((item) => String(item.sk).startsWith('HANDOFF#'))).not.toHaveProperty('expiresAt');
    const link = await table.documents.send(new GetCommand({ TableName: table.tableName, Key: { pk: 'CRM#hubspot#7002', sk: 'LINK' } }));
    expect(link.Item).not.toHaveProperty('expiresAt');
  });
});
