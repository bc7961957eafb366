/**
 * Ctrl-C during `mql demo --with-outcomes` (the command, a child process): it finishes the request in hand,
 * stops its own CRM receiver, prints what it posted and that a second run resumes, and exits 130. The
 * handoffs its leads caused are then queued for a receiver that is gone; the second run counts them, takes
 * them on its own receiver as they are retried, and says so.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../lib/local/dynamodb.ts';
import { portIsFree } from '../../../lib/local/listen.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { exampleEnv, type LocalStack, leadStoreOf, startTestStack } from '../../setup/stack.ts';

const bin = resolve(import.meta.dirname, '../../../bin/mql.ts');
const leads = 60;

describe('mql demo --with-outcomes, stopped by Ctrl-C and run again', () => {
  let stack: LocalStack;
  let store: LeadStore;
  let env: Record<string, string>;
  let dataDir: string;
  let crmPort: number;

  beforeAll(async () => {
    crmPort = await freePort();
    env = {
      ...exampleEnv(),
      CRM_WEBHOOK_URL: `http://127.0.0.1:${crmPort}/crm/leads`,
      // A receiver that is gone is retried within seconds here (30 s doubling by default).
      HANDOFF_RETRY_BASE_SECONDS: '1',
      HANDOFF_RETRY_MAX_SECONDS: '2',
      LOG_LEVEL: 'SILENT',
    };
    // A 20 s batch window: the handoffs of the first run are still gathered when Ctrl-C stops its receiver,
    // however slowly a loaded machine posts the population (5 s was not always enough with other test files
    // running beside it).
    stack = await startTestStack({ env, queues: { handoff: { batchWindowSeconds: 20, maxReceiveCount: 1000 } }, log: () => {} });
    store = leadStoreOf(stack);
    dataDir = mkdtempSync(join(tmpdir(), 'mql-demo-interrupt-'));
    const { baseUrl, dynamoEndpoint, sqsEndpoint, tableName, queueUrls } = stack;
    writeFileSync(join(dataDir, 'stack.json'), JSON.stringify({ baseUrl, dynamoEndpoint, sqsEndpoint, tableName, queueUrls }));
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** The command as an operator runs it; `interruptAfter`: Ctrl-C once stdout shows it. */
  function demo(interruptAfter?: RegExp): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [bin, 'demo', '--with-outcomes', '--leads', String(leads), '--seed', '11', '--data-dir', dataDir], {
      cwd: dataDir,
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (interruptAfter && !interrupted && interruptAfter.test(stdout)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    return new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit({ code, signal, stdout, stderr })));
  }

  /** The handoffs of the leads that became MQLs that no CRM has taken: failed attempts, or none attempted yet. */
  async function undelivered(): Promise<{ mqls: number; undelivered: number }> {
    const { leadIds } = await store.scanLeads();
    let mqls = 0;
    let count = 0;
    for (const leadId of leadIds) {
      if (!(await store.getLead(leadId))?.wasMql) continue;
      mqls += 1;
      const handoffs = await store.listHandoffs(leadId);
      count += handoffs.length === 0 ? 1 : handoffs.filter((handoff) => handoff.status === 'failed' || handoff.status === 'pending').length;
    }
    return { mqls, undelivered: count };
  }

  it('Ctrl-C: the request in hand finishes, the receiver stops, what was posted is printed, exit code 130', async () => {
    const first = await demo(/ {3}stored \d+ event\(s\)/);
    expect(first.stderr).toBe('');
    expect({ code: first.code, signal: first.signal }).toEqual({ code: 130, signal: null });
    expect(first.stdout).toMatch(new RegExp(`^1\\. ${leads} leads \\(seed 11\\)`));
    expect(first.stdout).toMatch(/\ninterrupted(: every event posted; 0 of \d+ outcome batch\(es\) posted| while waiting for the handoffs)/);
    expect(first.stdout).toContain(`the demo's CRM receiver (${env.CRM_WEBHOOK_URL}) is stopped, after 0 handoff(s)`);
    expect(first.stdout).toMatch(/\nRun the same command again to resume: the population is seeded and idempotent/);
    expect(first.stdout).not.toContain('See the figures');
    expect(await portIsFree(crmPort)).toBe(true);
  }, 60_000);

  it('the second run resumes, counts the handoffs the first left undelivered and takes them as they are retried', async () => {
    const left = await undelivered();
    // The first run made MQLs, and none of their handoffs reached a CRM.
    expect(left.mqls).toBeGreaterThan(0);
    expect(left.undelivered).toBe(left.mqls);

    const second = await demo();
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`stored 0 event(s), `);
    expect(second.stdout).toContain(
      `   ${left.undelivered} handoff(s) of these leads were left undelivered by an earlier run (stopped while they were queued): `,
    );
    expect(second.stdout).toContain(
      `3. the CRM (${env.CRM_WEBHOOK_URL}) received ${left.undelivered} handoff(s) (lead.mql): the leads that were MQLs when their events arrived, and handoffs an earlier run left undelivered`,
    );
    expect(second.stdout).toContain(`   of the ${left.undelivered} handoff(s) an earlier run left undelivered, ${left.undelivered} are delivered now\n`);
    expect(second.stdout).toMatch(/See the figures: npx mql report\n$/);
    expect((await undelivered()).undelivered).toBe(0);
  }, 120_000);
});
