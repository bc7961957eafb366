/**
 * Account handoffs (`account.mqa`, `account.recycled`) through the one handoff queue (fauxqs) to the signed
 * CRM webhook receiver, with the ledger on DynamoDB Local: the record arrives as the roll-up built it,
 * Standard Webhooks signed; a redelivered copy is delivered once; a recycle after its MQA is sent, an MQA
 * arriving after its recycle was delivered is superseded; a 429 is waited out; the attempts live on the
 * account's partition and hold no member's address; a member erased leaves no trace of their address in
 * the stored account handoffs, and a record decided before the erasure goes out with that member blanked.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyStandardWebhook } from '../../../lib/http/standard-webhooks.ts';
import { queueDepth } from '../../../lib/jobs/redrive.ts';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { accountRecord, laterAccountRecord } from '../../setup/accounts.ts';
import { mqlOn } from '../../setup/cli.ts';
import { captureHandlerLogs } from '../../setup/handler-logs.ts';
import { crmSecret, eventsSecret } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { enqueueHandoff, leadStoreOf, startTestStack } from '../../setup/stack.ts';

let stack: LocalStack;
let crm: CrmReceiver;
let store: LeadStore;
let dataDir: string;
const logLines = captureHandlerLogs('INFO');

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mql-account-handoff-'));
  crm = await startCrmReceiver(crmSecret);
  stack = await startTestStack({
    dataDir,
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: crm.url, CRM_WEBHOOK_SECRET: crmSecret, LOG_LEVEL: 'INFO' },
    log: () => {},
  });
  store = leadStoreOf(stack);
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(() => crm.reset());

const minute = 60_000;
const uniqueDomain = () => `acme-${randomUUID().slice(0, 8)}.com`;

/** Every item of the table, as JSON text, by key. */
async function tableItems(): Promise<Map<string, string>> {
  const items = new Map<string, string>();
  let cursor: Record<string, any> | undefined;
  do {
    const page = await stack.dynamodb.send(new ScanCommand({ TableName: stack.tableName, ConsistentRead: true, ExclusiveStartKey: cursor }));
    for (const entry of page.Items ?? []) {
      const item = unmarshall(entry);
      items.set(`${item.pk}|${item.sk}`, JSON.stringify(item));
    }
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
}

describe('account handoffs through the webhook adapter', () => {
  it('an account.mqa arrives signed, as built, with type account.mqa; a redelivered copy is delivered once', async () => {
    const domain = uniqueDomain();
    const record = accountRecord(domain, { at: new Date(Date.now() - minute) });
    expect(record.members.map((member) => member.leadId)).toContain(`vp@${domain}`);
    await enqueueHandoff(stack, record);
    await crm.waitForAccounts(1, 20_000);
    await stack.drain({ timeoutMs: 20_000 });
    // SQS delivers at least once: the same record again, later.
    await enqueueHandoff(stack, record);
    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 20_000 });

    expect(crm.receivedAccounts).toHaveLength(1);
    expect(crm.received).toHaveLength(0);
    const [received] = crm.receivedAccounts;
    expect(received!.webhookId).toBe(record.id);
    expect(received!.record).toEqual(record);
    expect(received!.record.type).toBe('account.mqa');
    expect(crm.attempts).toEqual([{ webhookId: record.id, status: 200 }]);

    const handoffs = await store.listAccountHandoffs(domain);
    expect(handoffs).toEqual([expect.objectContaining({ id: record.id, type: 'account.mqa', status: 'delivered', attempts: 1, adapter: 'webhook' })]);
    // Nothing on a lead's partition: the account's ledger is its own.
    for (const member of record.members) expect(await store.listHandoffs(member.leadId)).toEqual([]);
    expect(logLines.some((line) => line.includes('"handoff already delivered"') && line.includes(record.id))).toBe(true);
  });

  it('account.recycled after account.mqa: both sent in order; the MQA arriving late after the recycle is superseded', async () => {
    const domain = uniqueDomain();
    const mqa = accountRecord(domain, { at: new Date(Date.now() - 30 * minute) });
    const recycled = laterAccountRecord(mqa, 'account.recycled', 20 * minute);
    // Both in one batch, the recycle first: sent oldest first whatever order SQS hands them over.
    await enqueueHandoff(stack, recycled);
    await enqueueHandoff(stack, mqa);
    await crm.waitForAccounts(2, 20_000);
    await stack.drain({ timeoutMs: 20_000 });
    expect(crm.receivedAccounts.map((one) => one.record.type)).toEqual(['account.mqa', 'account.recycled']);

    // An older MQA of the same account (held back in a DLQ, say) after the recycle: not sent.
    const lateMqa = laterAccountRecord(mqa, 'account.mqa', 5 * minute);
    await enqueueHandoff(stack, lateMqa);
    await stack.drain({ timeoutMs: 20_000 });
    expect(crm.receivedAccounts).toHaveLength(2);
    const handoffs = await store.listAccountHandoffs(domain);
    expect(handoffs.find((one) => one.id === lateMqa.id)).toMatchObject({ status: 'superseded', supersededBy: recycled.id, attempts: 0 });
    expect(handoffs.filter((one) => one.status === 'delivered').map((one) => one.type)).toEqual(['account.mqa', 'account.recycled']);
  });

  it('a 429 with Retry-After is waited out: delivered once, both attempts on the account', async () => {
    const domain = uniqueDomain();
    const record = accountRecord(domain);
    crm.failNext([429], { 'retry-after': '1' });
    await enqueueHandoff(stack, record);
    await crm.waitForAccounts(1, 30_000);
    await stack.drain({ timeoutMs: 30_000 });
    expect(crm.attempts.map((attempt) => attempt.status)).toEqual([429, 200]);
    expect(crm.receivedAccounts).toHaveLength(1);
    expect(await queueDepth(stack.sqs, stack.dlqUrls.handoff)).toBe(0);
    const [handoff] = await store.listAccountHandoffs(domain);
    expect(handoff).toMatchObject({ id: record.id, status: 'delivered', attempts: 2, crmStatus: 200 });
  });

  it('a receiver refusing the account (422) sends it to the DLQ at once, the failure recorded on the account without a member address', async () => {
    const domain = uniqueDomain();
    const record = accountRecord(domain);
    crm.failNext([422]);
    await enqueueHandoff(stack, record);
    await stack.drain({ timeoutMs: 20_000 });
    expect(await queueDepth(stack.sqs, stack.dlqUrls.handoff)).toBe(1);
    const [handoff] = await store.listAccountHandoffs(domain);
    expect(handoff).toMatchObject({ id: record.id, status: 'failed', lastKind: 'rejected', crmStatus: 422 });
    await mqlOn(dataDir, ['redrive', '--queue', 'handoff']);
    await stack.drain({ timeoutMs: 20_000 });
    expect(crm.receivedAccounts.map((one) => one.record.id)).toEqual([record.id]);
  });

  it("erasing a member leaves no trace of their address in the account's stored handoffs; a record decided before goes out with them blanked", async () => {
    const domain = uniqueDomain();
    const vp = `vp@${domain}`;
    const mqa = accountRecord(domain, { at: new Date(Date.now() - 30 * minute) });
    await enqueueHandoff(stack, mqa);
    await crm.waitForAccounts(1, 20_000);
    await stack.drain({ timeoutMs: 20_000 });

    const before = await tableItems();
    const accountItems = [...before].filter(([key]) => key.startsWith(`ACCOUNT#${domain}|`));
    expect(accountItems.length).toBeGreaterThanOrEqual(2);
    for (const [, text] of accountItems) for (const member of mqa.members) expect(text).not.toContain(member.leadId);

    // Decided before the erasure, still on the queue after it.
    const recycled = laterAccountRecord(mqa, 'account.recycled', 20 * minute);
    const { stdout } = await mqlOn(dataDir, ['erase', vp, '--yes']);
    expect(stdout).toContain('tombstones written');
    await enqueueHandoff(stack, recycled);
    await crm.waitForAccounts(2, 20_000);
    await stack.drain({ timeoutMs: 20_000 });

    const sent = crm.receivedAccounts[1]!.record;
    expect(sent.id).toBe(recycled.id);
    expect(JSON.stringify(sent)).not.toContain(vp);
    expect(sent.members).toHaveLength(mqa.members.length);
    expect(sent.members.filter((member) => member.leadId === 'erased')).toHaveLength(1);
    expect(sent.members.find((member) => member.leadId === 'erased')).not.toHaveProperty('jobTitle');
    // The explanation still adds up.
    expect(sent.reasons.reduce((sum, reason) => sum + reason.points, 0)).toBe(sent.score.total);
    // The others are sent as they were.
    expect(sent.members.map((member) => member.leadId)).toContain(`director@${domain}`);

    for (const [, text] of await tableItems()) expect(text).not.toContain(vp);
    expect(logLines.some((line) => line.includes('members erased since it was decided are left out') && line.includes(recycled.id))).toBe(true);
    for (const line of logLines) expect(line).not.toContain(vp);
  });

  it('a malformed account record (no accountKey, or a member without a lead id) is not a handoff: dead-lettered, nothing sent or stored', async () => {
    const domain = uniqueDomain();
    const record = accountRecord(domain);
    const { accountKey: _key, ...keyless } = record;
    const depth = await queueDepth(stack.sqs, stack.dlqUrls.handoff);
    await enqueueHandoff(stack, keyless);
    await enqueueHandoff(stack, { ...record, id: `acc_${randomUUID()}`, members: [{ ...record.members[0], leadId: '' }] });
    await stack.drain({ timeoutMs: 20_000 });
    expect(crm.attempts).toEqual([]);
    expect(await store.listAccountHandoffs(domain)).toEqual([]);
    expect(await queueDepth(stack.sqs, stack.dlqUrls.handoff)).toBe(depth + 2);
  });

  it('the signature verifies over the raw bytes as Standard Webhooks define it', async () => {
    const domain = uniqueDomain();
    const record = accountRecord(domain, { groupId: `grp-${randomUUID().slice(0, 6)}` });
    const seen: { headers: Record<string, string>; body: Buffer }[] = [];
    const receiver = await startCrmReceiver(crmSecret);
    try {
      const { webhookAdapter } = await import('../../../lib/crm/webhook.ts');
      const adapter = webhookAdapter({
        url: receiver.url,
        secret: crmSecret,
        fetch: async (url, init) => {
          seen.push({ headers: init?.headers as Record<string, string>, body: Buffer.from(String(init?.body)) });
          return fetch(url, init);
        },
      });
      const receipt = await adapter.deliver(record, new Date());
      expect(receipt.status).toBe(200);
      expect(receiver.receivedAccounts[0]!.accountKey).toBe(record.accountKey);
      expect(record.accountKey.startsWith('group:')).toBe(true);
      const [call] = seen;
      const verified = verifyStandardWebhook({ secret: crmSecret, headers: (name) => call!.headers[name.toLowerCase()], body: call!.body, now: new Date() });
      expect(verified.id).toBe(record.id);
      expect(JSON.parse(call!.body.toString('utf8'))).toEqual(record);
    } finally {
      await receiver.close();
    }
  });
});
