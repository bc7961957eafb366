/**
 * The handoff's retry policy on the local stack, against the signed CRM webhook receiver: a 429 storm
 * is ridden out without a DLQ entry, a refused credential goes to the DLQ at once with its error and
 * comes back through `mql redrive`, every attempt shows in `mql deliveries`, an unreadable message is
 * dead-lettered, and the local poller gathers a batch above 10 over its batch window.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queueDepth } from '../../../lib/jobs/redrive.ts';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { mqlOn } from '../../setup/cli.ts';
import { captureHandlerLogs } from '../../setup/handler-logs.ts';
import { crmSecret, eventsSecret, postWorkedExample } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { enqueueHandoff, startTestStack } from '../../setup/stack.ts';

const maxReceiveCount = 2;

let stack: LocalStack;
let crm: CrmReceiver;
let dataDir: string;
const logLines = captureHandlerLogs();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mql-handoff-retry-'));
  crm = await startCrmReceiver(crmSecret);
  stack = await startTestStack({
    dataDir,
    env: {
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      CRM_ADAPTER: 'webhook',
      CRM_WEBHOOK_URL: crm.url,
      CRM_WEBHOOK_SECRET: crmSecret,
      LOG_LEVEL: 'WARN',
      HANDOFF_RETRY_BASE_SECONDS: '1',
      HANDOFF_RETRY_MAX_SECONDS: '1',
    },
    // Two receives only: anything that consumed receives on a 429 would reach the DLQ.
    queues: { handoff: { visibilityTimeoutSeconds: 5, maxReceiveCount } },
    log: () => {},
  });
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(() => crm.reset());

const qualify = (email: string) => postWorkedExample(stack.urls['POST /webhooks/events']!, email);

async function depth(url: string): Promise<number> {
  return queueDepth(stack.sqs, url);
}

const cli = (...args: string[]) => mqlOn(dataDir, args);

describe('handoff retry policy', () => {
  it('rides out a 429 storm: waits Retry-After in process, then re-queues without using receives; no DLQ entry', async () => {
    const dlqBefore = await depth(stack.dlqUrls.handoff);
    // More throttled answers than receives and in-process waits together: only a re-queue gets it through.
    crm.failNext(
      Array.from({ length: 6 }, () => 429),
      { 'retry-after': '1' },
    );
    const email = `storm.${randomUUID().slice(0, 8)}@acme.com`;
    await qualify(email);
    await crm.waitFor(1, 30_000);
    await stack.drain({ timeoutMs: 30_000 });

    expect(crm.attempts.map((attempt) => attempt.status)).toEqual([429, 429, 429, 429, 429, 429, 200]);
    expect(crm.received).toHaveLength(1);
    expect(await depth(stack.dlqUrls.handoff)).toBe(dlqBefore);
    const { stdout } = await cli('deliveries', email);
    expect(stdout.match(/failed \(rate_limited\)/g)).toHaveLength(6);
    expect(stdout).toMatch(/lead\.mql {2}delivered/);
    expect(logLines.some((line) => line.includes('handoff re-queued after a CRM rate limit'))).toBe(true);
  });

  it('sends a refused credential to the DLQ at once with the error, and delivers it after `mql redrive`', async () => {
    const dlqBefore = await depth(stack.dlqUrls.handoff);
    expect(dlqBefore).toBe(0);
    crm.failNext([401]);
    const email = `auth.${randomUUID().slice(0, 8)}@acme.com`;
    await qualify(email);
    await stack.drain({ timeoutMs: 20_000 });

    // One attempt: no retry burned on a credential that will not fix itself.
    expect(crm.attempts.map((attempt) => attempt.status)).toEqual([401]);
    expect(await depth(stack.dlqUrls.handoff)).toBe(1);
    const peek = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls.handoff, MessageAttributeNames: ['All'], VisibilityTimeout: 0 }));
    expect(peek.Messages?.[0]?.MessageAttributes?.error?.StringValue).toMatch(/^auth 401: CRM webhook answered 401/);
    const errorLine = logLines.map((line) => JSON.parse(line)).find((line) => line.level === 'ERROR');
    expect(errorLine).toMatchObject({
      message: 'handoff moved to the dead-letter queue',
      kind: 'auth',
      status: 401,
      action: expect.stringContaining('CRM_WEBHOOK_SECRET'),
    });

    const dry = await cli('redrive', '--dry-run');
    expect(dry.stdout).toMatch(/^1 message\(s\) in the handoff dead-letter queue/);
    expect(dry.stdout).toContain('auth 401');
    expect(await depth(stack.dlqUrls.handoff)).toBe(1);

    const moved = await cli('redrive', '--queue', 'handoff');
    expect(moved.stdout).toMatch(/^1 message\(s\) in the handoff dead-letter queue\n/);
    // Not a terminal: plain progress lines, no bar.
    expect(moved.stdout).toContain('moved 1/1\n');
    expect(moved.stdout).toContain('moved 1 message(s) back to handoff');
    await crm.waitFor(1, 20_000);
    await stack.drain({ timeoutMs: 20_000 });
    expect(crm.received.map((handoff) => handoff.leadId)).toEqual([email]);
    expect(await depth(stack.dlqUrls.handoff)).toBe(0);

    const { stdout } = await cli('deliveries', email);
    expect(stdout).toMatch(/failed \(auth\)/);
    expect(stdout).toMatch(/webhook +200 +delivered/);
  });

  it('refuses bad redrive and deliveries input', async () => {
    await expect(cli('redrive', '--queue', 'nope')).rejects.toMatchObject({
      stderr: expect.stringContaining('--queue must be one of facebook-leads, linkedin-leads, handoff, account-rollup (got nope)'),
    });
    await expect(cli('deliveries')).rejects.toMatchObject({ stderr: expect.stringContaining('deliveries needs an e-mail address') });
    const none = await cli('deliveries', `never.${randomUUID().slice(0, 8)}@acme.com`);
    expect(none.stdout).toContain('no handoffs');
    const empty = await cli('redrive', '--queue', 'facebook-leads');
    expect(empty.stdout).toBe('0 message(s) in the facebook-leads dead-letter queue\n');
  });

  it('dead-letters a message that is not a handoff record, with why', async () => {
    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls.handoff, MessageBody: '{"type":"lead.mql"}' }));
    await stack.drain({ timeoutMs: 20_000 });
    const dead = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls.handoff, MessageAttributeNames: ['All'], MaxNumberOfMessages: 10 }));
    expect(dead.Messages?.map((message) => message.MessageAttributes?.error?.StringValue)).toContain('unreadable: the message is not a handoff record');
    expect(crm.attempts).toEqual([]);
    // Leave the DLQ empty for the other tests.
    for (const message of dead.Messages ?? [])
      await stack.sqs.send(new DeleteMessageCommand({ QueueUrl: stack.dlqUrls.handoff, ReceiptHandle: message.ReceiptHandle! }));
  });
});

describe('the local event-source mapping', () => {
  it('gathers a batch above 10 messages over the batch window, as Lambda does', async () => {
    const batches: number[] = [];
    const local = await startTestStack({
      queues: { handoff: { batchSize: 40, batchWindowSeconds: 2, visibilityTimeoutSeconds: 30 } },
      loadHandler: (name) => (name === 'handoff' ? (event: SQSEvent) => void batches.push(event.Records.length) : undefined),
      log: () => {},
    });
    try {
      // 25 messages over about half a second: one window gathers them all.
      for (let i = 0; i < 25; i++) {
        await enqueueHandoff(local, { n: i });
        if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await local.drain({ timeoutMs: 20_000 });
      expect(batches).toEqual([25]);
    } finally {
      await local.stop();
    }
  });
});
