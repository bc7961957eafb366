/**
 * The table grants of lib/topology.ts are wide enough for the code: the handlers run on the local stack while
 * test/setup/table-grants.ts records the DynamoDB actions each calls (every integration file is checked the
 * same way when it ends). This file drives the main path of the functions that touch the table (an MQL in, its
 * handoff, the lead read back, decay a year later) and shows what the recorder saw, and that the check refuses
 * a call outside a grant.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { functions, table } from '../../../lib/topology.ts';
import { crmSecret, eventsSecret, post, signedDelivery, workedExampleMessages } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';
import { granted, recordedTableCalls } from '../../setup/table-grants.ts';

let stack: LocalStack;
let crm: CrmReceiver;

beforeAll(async () => {
  crm = await startCrmReceiver(crmSecret);
  stack = await startTestStack({
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: crm.url, CRM_WEBHOOK_SECRET: crmSecret },
  });
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
});

const called = (functionName: string) =>
  [...recordedTableCalls.values()]
    .filter((call) => call.functionName === functionName)
    .map((call) => `${call.action} on ${call.on}`)
    .sort();

describe('the DynamoDB calls of the handlers, against their grants', () => {
  it('records what each function calls along an MQL, its handoff, a lookup and a decay run', async () => {
    const email = `grants.${randomUUID().slice(0, 8)}@acme-logistics.com`;
    expect((await fetch(`${stack.baseUrl}/health`)).status).toBe(200);
    for (const message of workedExampleMessages(email)) {
      expect((await post(stack.urls['POST /webhooks/events']!, signedDelivery(message))).status).toBe(200);
    }
    await crm.waitFor(1);
    await stack.drain();
    expect((await fetch(`${stack.baseUrl}/leads/${encodeURIComponent(email)}`)).status).toBe(200);
    await stack.runSchedule('decay', { now: new Date(Date.now() + 365 * 86_400_000).toISOString() });
    await stack.drain();

    expect(called('health')).toEqual([]);
    expect(called('ingest-events')).toEqual(expect.arrayContaining(['GetItem on table', 'PutItem on table']));
    expect(called('handoff')).toEqual(expect.arrayContaining(['PutItem on table', 'Query on table']));
    expect(called('get-lead')).toEqual(expect.arrayContaining(['GetItem on table', 'Query on table']));
    expect(called('decay')).toEqual(expect.arrayContaining([`Query on index/${table.dueIndex.name}`, 'PutItem on table']));
    for (const call of recordedTableCalls.values()) expect(granted(functions[call.functionName].table, call)).toBe(true);
  });

  it('would refuse what a function does not hold: health any read, get-lead a write, anyone a Scan or another index', () => {
    expect(granted(functions.health.table, { action: 'GetItem', on: 'table' })).toBe(false);
    expect(granted(functions['get-lead'].table, { action: 'PutItem', on: 'table' })).toBe(false);
    expect(granted(functions.decay.table, { action: 'Scan', on: 'table' })).toBe(false);
    expect(granted(functions['ingest-events'].table, { action: 'Query', on: `index/${table.dueIndex.name}` })).toBe(false);
    expect(granted(functions.decay.table, { action: 'Query', on: 'index/other' })).toBe(false);
  });
});
