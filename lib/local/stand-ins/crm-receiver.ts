/**
 * A CRM webhook endpoint on 127.0.0.1 that speaks the receiving side of Standard Webhooks: it verifies
 * every signature, records what it accepted, and answers with scripted statuses (outages, throttling).
 * A signed body that is not a handoff record (no type, id, lead, or no lead id) is answered 422. An
 * account's record (`account.mqa`, `account.recycled`: an id, an `accountKey` and `members[]`) is accepted
 * into `receivedAccounts`, apart from the leads' records.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { AccountHandoffRecord } from '../../core/account-lifecycle.ts';
import type { HandoffRecord } from '../../core/handoff.ts';
import { handoffLeadId } from '../../core/handoff.ts';
import { HttpError } from '../../http/errors.ts';
import { verifyStandardWebhook } from '../../http/standard-webhooks.ts';

export interface ReceivedHandoff {
  webhookId: string;
  timestamp: number;
  /** The record's `leadId` (`lead.email` from a sender older than it): an e-mail, or `phone:+...` for a lead without one. */
  leadId: string;
  record: HandoffRecord;
  receivedAt: number;
  /** performance.now() when the request's body had fully arrived, before it was verified: for latencies measured in this process. */
  arrivedAt: number;
}

/** An account's record as the receiver accepted it. */
export interface ReceivedAccountHandoff {
  webhookId: string;
  timestamp: number;
  accountKey: string;
  record: AccountHandoffRecord;
  receivedAt: number;
  /** performance.now() when the request's body had fully arrived, before it was verified: for latencies measured in this process. */
  arrivedAt: number;
}

export interface CrmReceiver {
  url: string;
  /** Leads' records accepted with a 2xx, in arrival order. */
  received: ReceivedHandoff[];
  /** Accounts' records (`account.mqa`, `account.recycled`) accepted with a 2xx, in arrival order. */
  receivedAccounts: ReceivedAccountHandoff[];
  /** Every request, whatever was answered; `reason` says why the receiver refused one (a signature that does not verify, a body that is not JSON). */
  attempts: { webhookId: string | undefined; status: number; reason?: string }[];
  /** Statuses to answer before accepting again, e.g. [503, 503] for a short outage. */
  failNext(statuses: number[], headers?: Record<string, string>): void;
  /** Resolves once `count` account records were accepted. */
  waitForAccounts(count: number, timeoutMs?: number): Promise<ReceivedAccountHandoff[]>;
  /** Resolves once `count` records were accepted. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedHandoff[]>;
  /** Resolves once each of `leadIds` has had a lead.mql accepted, or after `timeoutMs` without failing (the caller counts what is missing). */
  waitForMql(leadIds: readonly string[], timeoutMs: number): Promise<void>;
  /** Forgets what was received and attempted, and any failure still scripted (between tests). */
  reset(): void;
  close(): Promise<void>;
}

function isRecord(value: unknown): value is HandoffRecord {
  if (typeof value !== 'object' || value === null) return false;
  const { type, id, lead } = value as Record<string, unknown>;
  return typeof type === 'string' && typeof id === 'string' && typeof lead === 'object' && lead !== null;
}

function isAccountRecord(value: unknown): value is AccountHandoffRecord {
  if (typeof value !== 'object' || value === null) return false;
  const { type, id, accountKey, members } = value as Record<string, unknown>;
  return (
    (type === 'account.mqa' || type === 'account.recycled') &&
    typeof id === 'string' &&
    typeof accountKey === 'string' &&
    accountKey !== '' &&
    Array.isArray(members)
  );
}

/** Starts the receiver on 127.0.0.1 (`port` 0: any free port); `onReceive` sees each accepted lead record, `onAccount` each account record. */
export async function startCrmReceiver(
  secret: string,
  options: { port?: number; onReceive?: (handoff: ReceivedHandoff) => void; onAccount?: (handoff: ReceivedAccountHandoff) => void } = {},
): Promise<CrmReceiver> {
  const received: ReceivedHandoff[] = [];
  const receivedAccounts: ReceivedAccountHandoff[] = [];
  const attempts: CrmReceiver['attempts'] = [];
  let script: { status: number; headers: Record<string, string> }[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const arrivedAt = performance.now();
      const body = Buffer.concat(chunks);
      const webhookId = request.headers['webhook-id'] as string | undefined;
      const answer = (status: number, headers: Record<string, string> = {}, reason?: string) => {
        attempts.push(reason === undefined ? { webhookId, status } : { webhookId, status, reason });
        response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ status }));
      };
      try {
        const verified = verifyStandardWebhook({ secret, headers: (name) => request.headers[name.toLowerCase()] as string | undefined, body, now: new Date() });
        const scripted = script.shift();
        if (scripted) return answer(scripted.status, scripted.headers);
        const record = JSON.parse(body.toString('utf8')) as unknown;
        if (isAccountRecord(record)) {
          const handoff = { webhookId: verified.id, timestamp: verified.timestamp, accountKey: record.accountKey, record, receivedAt: Date.now(), arrivedAt };
          receivedAccounts.push(handoff);
          options.onAccount?.(handoff);
          return answer(200);
        }
        // What a CRM needs to file the record: a lead to file it under. An e-mail is not required (phone-only leads).
        const leadId = isRecord(record) ? handoffLeadId(record) : undefined;
        if (!isRecord(record) || !leadId) return answer(422);
        const handoff = { webhookId: verified.id, timestamp: verified.timestamp, leadId, record, receivedAt: Date.now(), arrivedAt };
        received.push(handoff);
        options.onReceive?.(handoff);
        return answer(200);
      } catch (error) {
        return answer(error instanceof HttpError ? error.status : 400, {}, (error as Error).message);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/crm/leads`,
    received,
    receivedAccounts,
    attempts,
    failNext(statuses, headers = {}) {
      script = statuses.map((status) => ({ status, headers }));
    },
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`CRM received ${received.length} of ${count} handoffs in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return received;
    },
    async waitForAccounts(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (receivedAccounts.length < count) {
        if (Date.now() > deadline) throw new Error(`CRM received ${receivedAccounts.length} of ${count} account handoffs in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return receivedAccounts;
    },
    async waitForMql(leadIds, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const mql = new Set(received.filter((handoff) => handoff.record.type === 'lead.mql').map((handoff) => handoff.leadId));
        if (leadIds.every((leadId) => mql.has(leadId)) || Date.now() >= deadline) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    reset() {
      received.length = 0;
      receivedAccounts.length = 0;
      attempts.length = 0;
      script = [];
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
