/**
 * End to end on the local stack with the Salesforce adapter against the Salesforce stand-in (OAuth
 * client credentials, Lead upsert by external id, sObject Collections): MQLs land as Leads with their
 * CRM link; an expired session is refreshed without a failed attempt; REQUEST_LIMIT_EXCEEDED holds the
 * handoff back (no DLQ) until the limit clears; a 300 (two Leads with the external id) goes to the DLQ
 * at once with the error.
 */
import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandoffRecord } from '../../lib/core/handoff.ts';
import { resetSalesforceSessions } from '../../lib/crm/salesforce.ts';
import type { SalesforceStandIn } from '../../lib/local/salesforce-stand-in.ts';
import { startSalesforceStandIn } from '../../lib/local/salesforce-stand-in.ts';
import { queueDepth } from '../../lib/redrive.ts';
import type { LeadStore } from '../../lib/store/lead-store.ts';
import { captureHandlerLogs } from '../setup/handler-logs.ts';
import { eventsSecret, postWorkedExample } from '../setup/signed.ts';
import type { LocalStack } from '../setup/stack.ts';
import { leadStoreOf, startTestStack } from '../setup/stack.ts';

const clientId = '3MVG9FAKECLIENTID-e2e';
const clientSecret = 'FAKESECRET-test-only-e2e-0001';
const externalIdField = 'MQL_External_Id__c';

let salesforce: SalesforceStandIn;
let stack: LocalStack;
let store: LeadStore;
const logLines = captureHandlerLogs();

beforeAll(async () => {
  resetSalesforceSessions();
  salesforce = await startSalesforceStandIn({ clientId, clientSecret, externalIdField });
  stack = await startTestStack({
    env: {
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      CRM_ADAPTER: 'salesforce',
      SALESFORCE_INSTANCE_URL: salesforce.url,
      SALESFORCE_CLIENT_ID: clientId,
      SALESFORCE_CLIENT_SECRET: clientSecret,
      SALESFORCE_EXTERNAL_ID_FIELD: externalIdField,
      LOG_LEVEL: 'WARN',
      HANDOFF_RETRY_BASE_SECONDS: '1',
      HANDOFF_RETRY_MAX_SECONDS: '2',
      // Salesforce's REQUEST_LIMIT_EXCEEDED names no reset time: the quota delay applies (1 h by default).
      HANDOFF_QUOTA_DELAY_SECONDS: '3',
    },
    log: () => {},
  });
  store = leadStoreOf(stack);
});

afterAll(async () => {
  await stack?.stop();
  await salesforce?.close();
});

const qualify = (email: string) => postWorkedExample(stack.urls['POST /webhooks/events']!, email);

async function attemptsOf(email: string) {
  const [handoffs, attempts] = await Promise.all([store.listHandoffs(email), store.listHandoffAttempts(email)]);
  return handoffs.map((handoff) => ({
    status: handoff.status,
    externalId: handoff.externalId,
    outcomes: attempts.filter((attempt) => attempt.handoffId === handoff.id).map((attempt) => (attempt.outcome === 'delivered' ? 'delivered' : attempt.kind)),
  }));
}

describe('MQLs to Salesforce through the handoff queue', () => {
  it('lands each MQL as a Lead with its status and score, linked back to the lead; an expired session costs no failed attempt', async () => {
    const emails = Array.from({ length: 5 }, (_, index) => `sf${index}.${randomUUID().slice(0, 6)}@acme.com`);
    for (const email of emails.slice(0, 2)) await qualify(email);
    await stack.drain();
    salesforce.expireTokens();
    for (const email of emails.slice(2)) await qualify(email);
    await stack.drain();

    for (const email of emails) {
      const lead = salesforce.leads().get(email);
      expect(lead?.fields).toMatchObject({ Status: 'Marketing Qualified', Email: email, Lead_Score__c: expect.any(Number) });
      expect(await attemptsOf(email)).toEqual([{ status: 'delivered', externalId: lead!.Id, outcomes: ['delivered'] }]);
      expect(await store.leadIdForCrmRecord('salesforce', lead!.Id)).toBe(email);
    }
    expect(salesforce.calls.some((call) => call.status === 401)).toBe(true);
  });

  it('holds handoffs back while REQUEST_LIMIT_EXCEEDED lasts, with an error line, then delivers them; no DLQ entry', async () => {
    salesforce.limitExceeded(true);
    const email = `limit.${randomUUID().slice(0, 8)}@acme.com`;
    await qualify(email);
    const deadline = Date.now() + 20_000;
    while (!logLines.some((line) => line.includes('CRM quota exhausted')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(logLines.map((line) => JSON.parse(line)).find((line) => line.level === 'ERROR')).toMatchObject({ kind: 'quota_exhausted', adapter: 'salesforce', retryInSeconds: 3 });
    expect(salesforce.leads().has(email)).toBe(false);

    salesforce.limitExceeded(false);
    await stack.drain({ timeoutMs: 30_000 });
    expect(salesforce.leads().get(email)?.fields.Status).toBe('Marketing Qualified');
    const [handoff] = await attemptsOf(email);
    expect(handoff!.status).toBe('delivered');
    expect(handoff!.outcomes.at(-1)).toBe('delivered');
    expect(new Set(handoff!.outcomes.slice(0, -1))).toEqual(new Set(['quota_exhausted']));
    expect(await queueDepth(stack.sqs, stack.dlqUrls.handoff)).toBe(0);
  });

  it('sends a handoff whose external id matches two Leads (300) to the DLQ at once, with the error', async () => {
    const email = `twice.${randomUUID().slice(0, 8)}@acme.com`;
    await qualify(email);
    await stack.drain();
    salesforce.duplicate(email);
    const recycled: HandoffRecord = {
      type: 'lead.recycled',
      id: `msg_${randomUUID()}`,
      occurredAt: new Date(Date.now() + 60_000).toISOString(),
      leadId: email,
      lead: { email, lastName: 'Whitfield', company: 'Acme Logistics' },
      score: { total: 30, fit: 25, behavior: 5, threshold: 60, modelVersion: 'test' },
      reasons: [],
      recentEvents: [],
    };
    await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrls.handoff, MessageBody: JSON.stringify(recycled) }));
    await stack.drain();

    expect(await queueDepth(stack.sqs, stack.dlqUrls.handoff)).toBe(1);
    const dead = await stack.sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.dlqUrls.handoff, MessageAttributeNames: ['All'] }));
    expect(dead.Messages?.[0]?.MessageAttributes?.error?.StringValue).toMatch(/^rejected 300/);
    expect(JSON.parse(dead.Messages![0]!.Body!).id).toBe(recycled.id);
    const [, second] = await attemptsOf(email);
    expect(second).toMatchObject({ status: 'failed', outcomes: ['rejected'] });
    expect(logLines.map((line) => JSON.parse(line)).find((line) => line.level === 'ERROR')).toMatchObject({ message: 'handoff moved to the dead-letter queue', kind: 'rejected', adapter: 'salesforce' });
  });
});
