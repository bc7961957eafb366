/**
 * The account roll-up on the embedded local stack (docs/accounts.md, "The roll-up"): website events of a company's
 * people, through the table's change stream and the account-rollup FIFO queue, to the account's state and an
 * account.mqa handoff on the handoff queue.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberAccountOf } from '../../../lib/accounts/members.ts';
import { evaluateAccount } from '../../../lib/core/account-lifecycle.ts';
import { defaultModel } from '../../../lib/core/default-model.ts';
import { parseModel } from '../../../lib/core/model.ts';
import { AccountStore } from '../../../lib/store/accounts.ts';
import { StoreTable } from '../../../lib/store/table.ts';
import { eventsSecret, post, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';

const section = JSON.parse(readFileSync(new URL('../../../examples/account-section.json', import.meta.url), 'utf8')) as object;
const { version: _version, ...content } = defaultModel;
const model = parseModel({ ...content, ...section });

let stack: LocalStack;
let dir: string;
let accounts: AccountStore;
let eventsUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mql-accounts-'));
  writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...content, ...section }));
  stack = await startTestStack({
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'none', MQL_MODEL_PATH: join(dir, 'model.json'), LOG_LEVEL: 'ERROR' },
  });
  eventsUrl = stack.urls['POST /webhooks/events']!;
  const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
  accounts = new AccountStore(new StoreTable({ client: DynamoDBDocumentClient.from(stack.dynamodb), tableName: stack.tableName }));
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A person of the company: identified with a title, then the tracked events. */
function person(email: string, title: string, events: { event: string; properties?: object }[], start = Date.now()): object[] {
  const at = (seconds: number) => new Date(start + seconds * 1000).toISOString();
  return [
    {
      type: 'identify',
      messageId: `identify-${randomUUID()}`,
      timestamp: at(0),
      userId: `user-${email}`,
      traits: { email, title, industry: 'Software', company: { name: 'Bigco', employee_count: 1200 } },
    },
    ...events.map((one, index) => ({
      type: 'track',
      event: one.event,
      messageId: `${one.event}-${randomUUID()}`,
      timestamp: at(index + 1),
      userId: `user-${email}`,
      context: { traits: { email } },
      properties: one.properties ?? {},
    })),
  ];
}

async function send(messages: object[]): Promise<void> {
  const answer = await post(eventsUrl, signedDelivery({ batch: messages }));
  expect(answer.status).toBe(200);
}

describe('an account qualifies from its buying group', () => {
  const domain = `bigco-${randomUUID().slice(0, 8)}.com`;
  const vp = `vp@${domain}`;
  const director = `director@${domain}`;
  const manager = `manager@${domain}`;

  it('three people, none an MQL, together make an MQA', async () => {
    await send(person(vp, 'VP Engineering', [{ event: 'Content Downloaded', properties: { contentType: 'case_study' } }]));
    await send(person(director, 'Director of IT', [{ event: 'Webinar Attended' }]));
    await stack.drain();
    const two = await accounts.read(domain);
    expect(two.memberIds.sort()).toEqual([director, vp]);
    // Two members: 30 fit + 35 engagement + 20 breadth = 85, below mqa 100: no state beyond `engaged`.
    expect(two.state?.status).toBe('engaged');

    await send(person(manager, 'IT Manager', [{ event: 'Webinar Attended' }]));
    await stack.drain();
    const three = await accounts.read(domain);
    for (const lead of three.leads) expect(lead.status).not.toBe('mql');
    expect(three.state).toMatchObject({ status: 'mqa', transitionCount: 1, outbox: {} });
    const control = evaluateAccount(memberAccountOf(three.leads[0], model)!, three.leads, undefined, model, new Date());
    expect(control.breakdown).toMatchObject({ total: 105, fit: 30, engagement: 55, breadth: 20, engagedMembers: 3, status: 'mqa' });
  });
});
