/**
 * The CRM side of the benchmark: a node:http server on 127.0.0.1 that verifies each Standard
 * Webhooks signature (as a real receiver must) and records when each handoff arrived.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { HandoffRecord } from '../lib/core/handoff.ts';
import { verifyStandardWebhook } from '../lib/http/standard-webhooks.ts';

export interface Arrival {
  webhookId: string;
  type: string;
  email: string;
  total: number;
  /** performance.now() when the request's body had fully arrived. */
  at: number;
}

export interface CrmReceiver {
  url: string;
  arrivals: Arrival[];
  /** Requests answered with something else than 200 (bad signature, unreadable body). */
  rejected: { status: number; reason: string }[];
  /** Resolves when `emails` all have a lead.mql, or after `timeoutMs` (missing ones are left to the caller). */
  waitForMql(emails: readonly string[], timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCrmReceiver(secret: string): Promise<CrmReceiver> {
  const arrivals: Arrival[] = [];
  const rejected: CrmReceiver['rejected'] = [];
  const mql = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = performance.now();
      const body = Buffer.concat(chunks);
      try {
        const { id } = verifyStandardWebhook({ secret, headers: (name) => req.headers[name.toLowerCase()] as string | undefined, body, now: new Date() });
        const record = JSON.parse(body.toString('utf8')) as HandoffRecord;
        arrivals.push({ webhookId: id, type: record.type, email: record.leadId ?? record.lead.email, total: record.score.total, at });
        if (record.type === 'lead.mql') mql.add(record.leadId ?? record.lead.email);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      } catch (error) {
        const status = (error as { status?: number }).status ?? 400;
        rejected.push({ status, reason: (error as Error).message });
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":false}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/crm/leads`,
    arrivals,
    rejected,
    async waitForMql(emails, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!emails.every((email) => mql.has(email)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
