/**
 * The account roll-up on the embedded local stack (docs/accounts.md, "The roll-up"): website events of a company's
 * people, through the table's change stream and the account-rollup FIFO queue, to the account's state and an
 * account.mqa handoff on the handoff queue.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberAccountOf } from '../../../lib/accounts/members.ts';
import { evaluateAccount } from '../../../lib/core/account-lifecycle.ts';
import type { CrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../../lib/local/stand-ins/crm-receiver.ts';
import { AccountStore } from '../../../lib/store/accounts.ts';
import { StoreTable } from '../../../lib/store/table.ts';
import { personMessages, type TrackedEvent } from '../../setup/accounts.ts';
import { defaultModel } from '../../setup/installed-model.ts';
import { crmSecret, eventsSecret, post, signedDelivery } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { leadStoreOf, startTestStack } from '../../setup/stack.ts';

/** The default model, which scores accounts (its `account` section: docs/accounts.md). */
const model = defaultModel;

let stack: LocalStack;
let crm: CrmReceiver;
let accounts: AccountStore;
let eventsUrl: string;

beforeAll(async () => {
  crm = await startCrmReceiver(crmSecret);
  stack = await startTestStack({
    env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'webhook', CRM_WEBHOOK_URL: crm.url, CRM_WEBHOOK_SECRET: crmSecret, LOG_LEVEL: 'SILENT' },
  });
  eventsUrl = stack.urls['POST /webhooks/events']!;
  const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
  accounts = new AccountStore(new StoreTable({ client: DynamoDBDocumentClient.from(stack.dynamodb), tableName: stack.tableName }));
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
});

/** A person of the company (test/setup/accounts.ts), their events from `start`. */
const person = (email: string, title: string, events: readonly TrackedEvent[], start = Date.now()) => personMessages(email, title, events, { start });

/** Posts a delivery as a sender does: a 5xx (a busy machine's timeout) is retried with the same webhook-id. */
async function send(messages: object[]): Promise<void> {
  const id = `msg_${randomUUID()}`;
  let answer = await post(eventsUrl, signedDelivery({ batch: messages }, { id }));
  for (let attempt = 1; answer.status >= 500 && attempt < 6; attempt += 1) answer = await post(eventsUrl, signedDelivery({ batch: messages }, { id }));
  expect(answer.status).toBe(200);
}

/** The account's score now, recomputed from its members as stored (what a read shows), with its stored state. */
async function accountNow(key: string, now = new Date()) {
  const read = await accounts.read(key);
  const members = read.leads.filter((lead) => memberAccountOf(lead, model)?.key === key);
  const breakdown = members.length > 0 ? evaluateAccount(memberAccountOf(members[0], model)!, members, read.state, model, now).breakdown : undefined;
  return { ...read, members, breakdown };
}

/** The same score from scratch: the members' leads re-scored in order as one sequence, with no stored state. */
function scoreOf(breakdown: { total: number; fit: number; engagement: number; breadth: number; engagedMembers: number } | undefined) {
  if (!breakdown) return undefined;
  const { total, fit, engagement, breadth, engagedMembers } = breakdown;
  return { total, fit, engagement, breadth, engagedMembers };
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
    // Sales hears it once, signed, with the account's score and its three members.
    const delivered = crm.receivedAccounts.filter((handoff) => handoff.accountKey === domain);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.record).toMatchObject({ type: 'account.mqa', score: { total: 105, threshold: 100 } });
    expect(delivered[0]!.record.members.map((member) => member.leadId).sort()).toEqual([director, manager, vp]);
    expect(crm.received.filter((handoff) => [vp, director, manager].includes(handoff.leadId))).toEqual([]);
  });
});

describe('who never forms an account', () => {
  it('free-mail and disposable addresses join no account, however engaged', async () => {
    const tag = randomUUID().slice(0, 8);
    await send(
      person(`cto.${tag}@gmail.com`, 'CTO', [{ event: 'Webinar Attended' }, { event: 'Content Downloaded', properties: { contentType: 'case_study' } }]),
    );
    await send(person(`vp.${tag}@mailinator.com`, 'VP Sales', [{ event: 'Webinar Attended' }]));
    await stack.drain();
    for (const key of ['gmail.com', 'mailinator.com']) {
      const read = await accounts.read(key);
      expect(read).toMatchObject({ state: undefined, memberIds: [] });
    }
  });
});

describe('concurrency, redelivery, decay, erasure', () => {
  const concurrent = `burst-${randomUUID().slice(0, 8)}.com`;
  const control = `control-${randomUUID().slice(0, 8)}.com`;
  const titles = ['VP Engineering', 'Director of IT', 'IT Manager', 'Engineer', 'Analyst'];
  const start = Date.now() - 60_000;
  /** Person i's messages at `domain`: the same titles, events and instants for both accounts. */
  const messagesOf = (domain: string, index: number) =>
    person(
      `p${index}@${domain}`,
      titles[index % titles.length]!,
      index % 3 === 0 ? [{ event: 'Webinar Attended' }] : [{ event: 'Content Downloaded', properties: { contentType: index % 2 ? 'case_study' : 'guide' } }],
      start + index * 1000,
    );
  const sent = new Map<number, object[]>();

  it('fifty people of one account writing at once give the score fifty people one after another give', async () => {
    for (let index = 0; index < 50; index += 1) sent.set(index, messagesOf(concurrent, index));
    await Promise.all([...sent.values()].map((messages) => send(messages)));
    for (let index = 0; index < 50; index += 1) await send(messagesOf(control, index));
    await stack.drain();
    const now = new Date();
    const [burst, ordered] = await Promise.all([accountNow(concurrent, now), accountNow(control, now)]);
    expect(burst.memberIds).toHaveLength(50);
    expect(scoreOf(burst.breakdown)).toEqual(scoreOf(ordered.breakdown));
    expect(burst.breakdown!.reasons.map((reason) => reason.points)).toEqual(ordered.breakdown!.reasons.map((reason) => reason.points));
    // Both qualified once: one transition, one account.mqa each, none pending.
    for (const account of [burst, ordered]) expect(account.state).toMatchObject({ status: 'mqa', transitionCount: 1, outbox: {} });
  }, 240_000);

  it("a member's events redelivered three times change nothing", async () => {
    const before = await accountNow(concurrent);
    const messages = sent.get(7)!;
    for (let round = 0; round < 3; round += 1) await send(messages);
    await stack.drain();
    const after = await accountNow(concurrent);
    expect(after.state).toEqual(before.state);
    expect(after.memberIds.sort()).toEqual(before.memberIds.sort());
    expect(scoreOf(after.breakdown)).toEqual(scoreOf(before.breakdown));
  });

  it('decay recycles the account at the moment solved for it, and not a second before', async () => {
    // The due time stored when the account qualified may be early (members joined since and pushed the moment on):
    // the decay job looks then, finds the account still an MQA, and stores the moment solved for it now.
    let { state, members } = await accountNow(control);
    expect(state?.status).toBe('mqa');
    const account = memberAccountOf(members[0], model)!;
    const totalAt = (ms: number) => evaluateAccount(account, members, state, model, new Date(ms)).breakdown!.total;
    const { recycleBelow } = model.account!.thresholds;
    const early = state!.dueAt!;
    expect(totalAt(Date.parse(early))).toBeGreaterThanOrEqual(recycleBelow);
    await stack.runSchedule('decay', { now: early });
    await stack.drain();
    ({ state, members } = await accountNow(control));
    expect(state).toMatchObject({ status: 'mqa', transitionCount: 1 });
    const due = state!.dueAt!;
    expect(Date.parse(due)).toBeGreaterThan(Date.parse(early));
    // The moment is the account score's own: at it the total is below recycleBelow, a second before it is not.
    expect(totalAt(Date.parse(due))).toBeLessThan(recycleBelow);
    expect(totalAt(Date.parse(due) - 1000)).toBeGreaterThanOrEqual(recycleBelow);

    await stack.runSchedule('decay', { now: new Date(Date.parse(due) - 1000).toISOString() });
    await stack.drain();
    expect((await accounts.state(control))?.status).toBe('mqa');
    await stack.runSchedule('decay', { now: due });
    await stack.drain();
    const recycled = await accounts.state(control);
    expect(recycled).toMatchObject({ status: 'recycled', transitionCount: 2, outbox: {} });
    expect(recycled?.dueAt).toBeUndefined();
  });

  it('an erased member leaves the account as if they had never been in it', async () => {
    const leads = leadStoreOf(stack);
    const gone = `p0@${concurrent}`;
    const erased = await leads.erasePerson(gone, { now: new Date(), returns: 'later-events' });
    // The membership is erased with the person, not later by the stream.
    expect(erased.removed.accountMemberships).toBe(1);
    expect(await accounts.memberIds(concurrent)).not.toContain(gone);
    await stack.drain();
    const after = await accountNow(concurrent);
    expect(after.memberIds).not.toContain(gone);
    expect(after.memberIds).toHaveLength(49);
    // From scratch over the 49 who remain.
    const account = memberAccountOf(after.members[0], model)!;
    const scratch = evaluateAccount(account, after.members, undefined, model, new Date()).breakdown;
    expect(scoreOf(after.breakdown)).toEqual(scoreOf(scratch));
    expect(after.breakdown!.members.map((member) => member.leadId)).not.toContain(gone);
  });
});

describe('a merged person', () => {
  it("a visitor's history merged into a member counts once, in the member: the visitor is never a member", async () => {
    const domain = `merge-${randomUUID().slice(0, 8)}.com`;
    const email = `dana@${domain}`;
    const anonymousId = `anon-${randomUUID()}`;
    const at = (seconds: number) => new Date(Date.now() - 60_000 + seconds * 1000).toISOString();
    // Browsing anonymously, with a group call naming the company: a visitor belongs to no account.
    await send([
      { type: 'page', messageId: `page-${randomUUID()}`, anonymousId, timestamp: at(0), properties: { url: 'https://vendor.example/pricing' } },
      { type: 'track', event: 'Webinar Attended', messageId: `webinar-${randomUUID()}`, anonymousId, timestamp: at(1), properties: {} },
    ]);
    await stack.drain();
    expect((await accounts.read(domain)).memberIds).toEqual([]);
    // Identified: the visitor's events join the e-mail lead, which is the account's one member.
    await send([
      { type: 'identify', messageId: `identify-${randomUUID()}`, anonymousId, userId: `user-${email}`, timestamp: at(2), traits: { email, title: 'VP Sales' } },
    ]);
    await stack.drain();
    const after = await accountNow(domain);
    expect(after.memberIds).toEqual([email]);
    const member = after.breakdown!.members[0]!;
    // The webinar (20) and the pricing page (5) once each, as the member's own behavior.
    expect(member.behavior).toBeCloseTo(25, 0);
  });
});
