/**
 * LeadStore's record of delivery attempts on DynamoDB Local: the handoff's summary item, a small item
 * per attempt with a TTL, the CRM link item (`CRM#<adapter>#<id>` / `LINK`) only for a delivery that
 * named the CRM's record, and a late failure never undoing a delivery.
 */
import { randomUUID } from 'node:crypto';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { attemptRetentionDays } from '../../../lib/store/handoff-ledger.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { handoffRecord } from '../../setup/events.ts';
import { freshTable } from '../../setup/table.ts';

let store: LeadStore;
let documents: DynamoDBDocumentClient;
let tableName: string;

beforeAll(async () => {
  ({ store, documents, tableName } = await freshTable('attempts'));
});

const record = (email: string) => handoffRecord(email, { occurredAt: '2026-11-29T10:00:00.000Z' });

describe('handoff attempts', () => {
  it('keeps every attempt with its kind, status and error, expiring after the retention; the summary follows', async () => {
    const email = `attempts.${randomUUID().slice(0, 8)}@acme.com`;
    const handoff = record(email);
    const first = new Date('2026-11-29T10:00:01.000Z');
    await store.recordHandoffAttempt(handoff, {
      at: first,
      adapter: 'hubspot',
      outcome: 'failed',
      crmStatus: 503,
      kind: 'unavailable',
      error: 'HubSpot answered 503',
    });
    await store.recordHandoffAttempt(handoff, {
      at: new Date('2026-11-29T10:00:31.000Z'),
      adapter: 'hubspot',
      outcome: 'failed',
      crmStatus: 429,
      kind: 'rate_limited',
      error: 'x'.repeat(5000),
    });
    await store.recordHandoffAttempt(handoff, {
      at: new Date('2026-11-29T10:01:31.000Z'),
      adapter: 'hubspot',
      outcome: 'delivered',
      crmStatus: 200,
      externalId: '51234567001',
      note: 'lifecyclestage kept at customer',
      calls: 0.02,
    });

    const attempts = await store.listHandoffAttempts(email);
    expect(attempts.map((attempt) => [attempt.outcome, attempt.kind, attempt.crmStatus])).toEqual([
      ['failed', 'unavailable', 503],
      ['failed', 'rate_limited', 429],
      ['delivered', undefined, 200],
    ]);
    expect(attempts[1]!.error).toHaveLength(1000);
    expect(attempts[2]).toMatchObject({
      handoffId: handoff.id,
      type: 'lead.mql',
      adapter: 'hubspot',
      externalId: '51234567001',
      note: 'lifecyclestage kept at customer',
      calls: 0.02,
    });
    const raw = await documents.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :a)',
        ExpressionAttributeValues: { ':pk': `LEAD#${email}`, ':a': 'ATTEMPT#' },
      }),
    );
    expect(raw.Items?.[0]?.expiresAt).toBe(Math.floor(first.getTime() / 1000) + attemptRetentionDays * 86_400);

    const [summary] = await store.listHandoffs(email);
    expect(summary).toMatchObject({ status: 'delivered', attempts: 3, crmStatus: 200, lastKind: 'rate_limited', externalId: '51234567001' });
  });

  it('links the CRM record to the lead only on a delivery that names it', async () => {
    const email = `link.${randomUUID().slice(0, 8)}@acme.com`;
    const externalId = String(Date.now());
    await store.recordHandoffAttempt(record(email), { at: new Date(), adapter: 'salesforce', outcome: 'failed', kind: 'rejected', error: '300', externalId });
    expect(await store.leadIdForCrmRecord('salesforce', externalId)).toBeUndefined();
    await store.recordHandoffAttempt(record(email), { at: new Date(), adapter: 'salesforce', outcome: 'delivered', crmStatus: 201, externalId });
    expect(await store.leadIdForCrmRecord('salesforce', externalId)).toBe(email);
    const item = await documents.send(new GetCommand({ TableName: tableName, Key: { pk: `CRM#salesforce#${externalId}`, sk: 'LINK' } }));
    expect(item.Item).toMatchObject({ leadId: email, adapter: 'salesforce', externalId });
    // Another adapter's id space is another key.
    expect(await store.leadIdForCrmRecord('hubspot', externalId)).toBeUndefined();
  });

  it('a late failure report of a duplicate never turns a delivered handoff back to failed', async () => {
    const email = `late.${randomUUID().slice(0, 8)}@acme.com`;
    const handoff = record(email);
    await store.recordHandoffAttempt(handoff, { at: new Date('2026-11-29T10:00:00.000Z'), adapter: 'hubspot', outcome: 'delivered', crmStatus: 200 });
    await store.recordHandoffAttempt(handoff, {
      at: new Date('2026-11-29T10:00:05.000Z'),
      adapter: 'hubspot',
      outcome: 'failed',
      crmStatus: 503,
      kind: 'unavailable',
      error: 'late',
    });
    expect(await store.getHandoff(handoff)).toMatchObject({ status: 'delivered', attempts: 2 });
    expect((await store.listHandoffAttempts(email)).map((attempt) => attempt.outcome)).toEqual(['delivered', 'failed']);
  });
});
