/**
 * The operator jobs' walk over every lead's history (lib/store/lead-histories.ts): one pass of a parallel
 * Scan on DynamoDB Local gives, for 1, 2 and 4 segments and any page size, exactly what a Query of each
 * lead's events gives, leaves out merged provider-key leads and aliases, and reads each item once.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type LeadHistory, scanLeadHistories, type WalkProgress } from '../../../lib/store/lead-histories.ts';
import { event } from '../../setup/events.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { freshTable, type TestTable } from '../../setup/table.ts';

const t0 = new Date('2026-06-01T09:00:00.000Z');
const at = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
let table: TestTable;
const emails = Array.from({ length: 40 }, (_, index) => `walk-${index}-${randomUUID().slice(0, 6)}@acme.com`);
const phoneKey = `phone:+1415${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

beforeAll(async () => {
  table = await freshTable('histories');
  // 40 leads of 1 to 5 events, one of which also arrived first under a phone key and was merged.
  const events = emails.flatMap((email, lead) =>
    Array.from({ length: 1 + (lead % 5) }, (_, n) => event(email, n === 0 ? 'profile_updated' : 'email_opened', at(lead * 10 + n), { id: `w-${lead}-${n}` })),
  );
  await table.store.apply([event(phoneKey, 'form_submitted', at(-5), { id: 'phone-form', profile: { phone: phoneKey.slice(6) } })], defaultModel, at(0));
  await table.store.apply(events, defaultModel, at(500));
  await table.store.apply([event(emails[0]!, 'webinar_attended', at(600), { id: 'merge', profile: { phone: phoneKey.slice(6) } })], defaultModel, at(600));
});

async function walk(options: Parameters<typeof scanLeadHistories>[1]): Promise<{ histories: LeadHistory[]; progress: WalkProgress[] }> {
  const histories: LeadHistory[] = [];
  const progress: WalkProgress[] = [];
  for await (const page of scanLeadHistories(table.store, { ...options, onProgress: (one) => progress.push(one) })) histories.push(...page);
  return { histories: histories.sort((a, b) => a.leadId.localeCompare(b.leadId)), progress };
}

describe('every lead with its history, in one pass', () => {
  it('equals a Query of each lead, for 1, 2 and 4 segments and small pages, and leaves the merged phone lead out', async () => {
    const expected = await Promise.all([...emails].sort().map(async (leadId) => ({ leadId, events: await table.store.listEvents(leadId) })));
    // The merged lead's events include the copy of the phone lead's form.
    expect(expected.find((one) => one.leadId === emails[0])!.events.map((one) => one.sourceEventId)).toContain('phone-form');
    for (const segments of [1, 2, 4]) {
      for (const pageSize of [undefined, 7]) {
        const { histories, progress } = await walk({ segments, ...(pageSize ? { pageSize } : {}) });
        expect({ segments, pageSize, histories }).toEqual({ segments, pageSize, histories: expected });
        expect(progress.at(-1)).toMatchObject({ done: true, leads: 40 });
      }
    }
  });

  it('reads each item once: items evaluated equal the items of the table', async () => {
    const { progress } = await walk({ segments: 2 });
    const all = await table.documents.send(new (await import('@aws-sdk/lib-dynamodb')).ScanCommand({ TableName: table.tableName, Select: 'COUNT' }));
    expect(progress.at(-1)!.scanned).toBe(all.Count);
  });

  it('keeps only leads first seen since a time, each with its whole history', async () => {
    const { histories } = await walk({ since: at(200), segments: 2 });
    expect(histories.map((one) => one.leadId).sort()).toEqual(emails.filter((_, index) => index * 10 >= 200).sort());
    for (const history of histories) expect(history.events.length).toBeGreaterThan(0);
  });
});
