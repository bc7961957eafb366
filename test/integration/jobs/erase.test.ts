/**
 * `mql erase` on the local stack after a person's whole journey: a phone-only Facebook lead (Graph
 * stand-in) absorbed by the worked example's e-mail lead carrying the same phone, an MQL delivered to
 * HubSpot (stand-in), a second Facebook lead with the e-mail. Afterwards the WHOLE table is scanned for the
 * address and the phone in every attribute (not the erase's own list of kinds): nothing of theirs is left,
 * nothing of another person is touched. Then: a provider's redelivery of an old event is acknowledged and
 * ignored as `erased`, a later event makes a new lead (or is refused with ERASED_PEOPLE_RETURN=never), a
 * handoff still queued from before is not sent, and without --yes on a non-terminal nothing is removed.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphLead } from '../../../lib/apis/facebook-graph.ts';
import { userLeadId } from '../../../lib/core/identity.ts';
import { setupHubSpot } from '../../../lib/crm/hubspot-setup.ts';
import type { GraphStandIn } from '../../../lib/local/stand-ins/graph.ts';
import { startGraphStandIn } from '../../../lib/local/stand-ins/graph.ts';
import type { HubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { startHubSpotStandIn } from '../../../lib/local/stand-ins/hubspot.ts';
import { facebookSignature } from '../../../lib/sources/facebook.ts';
import type { LeadStore } from '../../../lib/store/lead-store.ts';
import { personalItemKinds } from '../../../lib/store/personal-data.ts';
import { mqlOn, runMql } from '../../setup/cli.ts';
import { handoffRecord } from '../../setup/events.ts';
import { eventsSecret, post, signedDelivery, workedExampleMessages } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { enqueueHandoff, getLead, leadStoreOf, startTestStack } from '../../setup/stack.ts';

const webhookFixture = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_leadgen_webhook.json', import.meta.url), 'utf8')) as Record<string, any>;
const graphFixture = JSON.parse(readFileSync(new URL('../../fixtures/facebook/meta_graph_lead_responses.json', import.meta.url), 'utf8')) as Record<
  string,
  any
>;
const appSecret: string = webhookFixture.appSecret;
const accessToken: string = graphFixture.request.appsecret_proof.access_token;
const hubspotToken = 'pat-na1-00000000-test-only-0000-000000000000';
const contactFormId = '1192837465019283';

let stack: LocalStack;
let graph: GraphStandIn;
let hubspot: HubSpotStandIn;
let store: LeadStore;
let dataDir: string;

beforeAll(async () => {
  graph = await startGraphStandIn({ appSecret, accessToken });
  hubspot = await startHubSpotStandIn({ token: hubspotToken });
  await setupHubSpot({ token: hubspotToken, baseUrl: hubspot.url });
  dataDir = mkdtempSync(join(tmpdir(), 'mql-erase-'));
  stack = await startTestStack({
    dataDir,
    env: {
      FACEBOOK_APP_SECRET: appSecret,
      FACEBOOK_VERIFY_TOKEN: webhookFixture.verifyToken,
      FACEBOOK_ACCESS_TOKEN: accessToken,
      FACEBOOK_GRAPH_URL: graph.url,
      EVENTS_WEBHOOK_SECRET: eventsSecret,
      CRM_ADAPTER: 'hubspot',
      HUBSPOT_BASE_URL: hubspot.url,
      HUBSPOT_ACCESS_TOKEN: hubspotToken,
      LOG_LEVEL: 'SILENT',
    },
    log: () => {},
  });
  store = leadStoreOf(stack);
});

afterAll(async () => {
  await stack?.stop();
  await graph?.stop();
  await hubspot?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface Someone {
  email: string;
  /** E.164, as the Graph lead gives it. */
  phone: string;
  /** The digits alone: how the phone is found in any attribute, whatever its formatting. */
  digits: string;
  phoneKey: string;
  /** The key of the worked example's Segment userId, which the e-mail lead takes (lib/core/identity.ts). */
  userKey: string;
  leadgenIds: string[];
  /** The worked example's Segment messages, as posted (for redeliveries). */
  messages: object[];
}

const newLeadgenId = () => `10394${String(randomInt(10 ** 10, 10 ** 11 - 1))}`;
const graphTime = (date: Date) => `${date.toISOString().slice(0, 19)}+0000`;

/** A lead submitted on a Facebook form, fetched from the Graph stand-in by the fetch Lambda; its leadgen id. */
async function submitFacebookForm(fields: Record<string, string>, leadgenId = newLeadgenId()): Promise<string> {
  const lead: GraphLead = {
    id: leadgenId,
    created_time: graphTime(new Date(Date.now() - 60_000)),
    form_id: contactFormId,
    is_organic: false,
    platform: 'fb',
    field_data: Object.entries(fields).map(([name, value]) => ({ name, values: [value] })),
  };
  graph.addLead(lead);
  await notifyFacebook(leadgenId);
  return leadgenId;
}

/** Meta's leadgen notification for `leadgenId` (a first delivery or a redelivery); expects it queued or already queued. */
async function notifyFacebook(leadgenId: string): Promise<{ status: number; body: any }> {
  const createdTime = Math.floor(Date.now() / 1000) - 60;
  const body = JSON.stringify({
    object: 'page',
    entry: [
      {
        id: '108273958312345',
        time: createdTime,
        changes: [{ field: 'leadgen', value: { leadgen_id: leadgenId, form_id: contactFormId, page_id: '108273958312345', created_time: createdTime } }],
      },
    ],
  });
  const answer = await post(stack.urls['POST /webhooks/facebook']!, {
    body,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${facebookSignature(appSecret, body)}` },
  });
  expect(answer.status).toBe(200);
  await stack.drain();
  return answer;
}

async function postEvents(message: object): Promise<{ status: number; body: any }> {
  return post(stack.urls['POST /webhooks/events']!, signedDelivery(message));
}

/**
 * A person's journey: a phone-only Facebook lead, then the worked example with the same phone in the
 * identify (the e-mail lead absorbs the phone lead and becomes an MQL, delivered to HubSpot), then a second
 * Facebook lead that brings the e-mail.
 */
async function journey(label: string): Promise<Someone> {
  const digits = `1415${String(randomInt(10 ** 6, 10 ** 7 - 1))}`;
  const phone = `+${digits}`;
  const email = `${label}.${randomUUID().slice(0, 8)}@acme-logistics.com`;
  const phoneOnly = await submitFacebookForm({ full_name: 'Dana Whitfield', phone_number: phone });
  const messages = workedExampleMessages(email, new Date(Date.now() - 30_000)) as Record<string, any>[];
  // The identify carries the phone as a person types it: the e-mail lead takes the phone lead over.
  messages[0]!.traits.phone = `+1 ${digits.slice(1, 4)} ${digits.slice(4, 7)} ${digits.slice(7)}`;
  for (const message of messages) expect(await postEvents(message)).toMatchObject({ status: 200, body: { stored: 1 } });
  await stack.drain();
  const withEmail = await submitFacebookForm({ email, full_name: 'Dana Whitfield', phone_number: phone });
  return { email, phone, digits, phoneKey: `phone:${phone}`, userKey: userLeadId(`user-${email}`)!, leadgenIds: [phoneOnly, withEmail], messages };
}

/** Every item of the table, as JSON text per item (keys included). */
async function scanTable(): Promise<Map<string, string>> {
  const items = new Map<string, string>();
  let cursor: Record<string, any> | undefined;
  do {
    const page = await stack.dynamodb.send(new ScanCommand({ TableName: stack.tableName, ConsistentRead: true, ExclusiveStartKey: cursor }));
    for (const raw of page.Items ?? []) {
      const item = unmarshall(raw);
      items.set(`${item.pk}|${item.sk}`, JSON.stringify(item));
    }
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
}

/** Whether an item's text names the person: the address in any case, or the phone's digits in any formatting. */
function namesPerson(text: string, person: Someone, alsoLeadgenIds = false): boolean {
  if (text.toLowerCase().includes(person.email.toLowerCase())) return true;
  if (text.replace(/[\s().+-]/g, '').includes(person.digits)) return true;
  return alsoLeadgenIds && person.leadgenIds.some((id) => text.includes(id));
}

const itemsOf = (table: Map<string, string>, person: Someone, alsoLeadgenIds = false) =>
  [...table].filter(([, text]) => namesPerson(text, person, alsoLeadgenIds)).map(([key]) => key);

/** `mql erase`'s count lines as label -> count. */
function countsOf(stdout: string): Record<string, number> {
  return Object.fromEntries([...stdout.matchAll(/^ {2}(\S.*?)\s{2,}(\d+)$/gm)].map((match) => [match[1]!, Number(match[2])]));
}

describe('mql erase after a whole journey', () => {
  let dana: Someone;
  let other: Someone;
  let before: Map<string, string>;

  beforeAll(async () => {
    dana = await journey('dana');
    other = await journey('other');
    before = await scanTable();
  }, 120_000);

  it('the journey stored an item of every kind the erasure knows, and the lead is an MQL in HubSpot', async () => {
    const found = await store.personalItems(await store.findPerson(dana.email));
    for (const kind of personalItemKinds) expect(found.get(kind.name)?.length ?? 0, kind.name).toBeGreaterThan(0);
    expect(found.has('other')).toBe(false);
    expect((await getLead(stack, dana.phoneKey)).body).toMatchObject({ leadId: dana.email, status: 'mql', mergedFrom: [dana.phoneKey] });
    expect(hubspot.contacts().get(dana.email)).toBeDefined();
  });

  it('mql export prints it all as one JSON document first (GDPR articles 15 and 20), found from the phone key too', async () => {
    const found = await store.personalItems(await store.findPerson(dana.email));
    const { stdout } = await mqlOn(dataDir, ['export', dana.phoneKey]);
    const document = JSON.parse(stdout);
    expect(document.person).toEqual({ asked: dana.phoneKey, root: dana.email, identities: [dana.phoneKey, dana.userKey, dana.email] });
    expect(document.storedItems).toEqual({ ...Object.fromEntries(personalItemKinds.map((kind) => [kind.name, found.get(kind.name)!.length])), other: 0 });
    expect(document.lead).toMatchObject({ leadId: dana.email, status: 'mql', lead: { email: dana.email } });
    expect(document.handoffs).toEqual([expect.objectContaining({ status: 'delivered', adapter: 'hubspot', attemptLog: [expect.any(Object)] })]);
    const missing = await runMql(['export', 'nobody@example.com', '--data-dir', dataDir], { cwd: dataDir, env: { ...process.env, LOG_LEVEL: 'WARN' } });
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'mql: nothing is stored about nobody@example.com\n' });
  });

  it('without --yes and without a terminal it refuses and removes nothing', async () => {
    const run = await runMql(['erase', dana.email, '--data-dir', dataDir], { cwd: dataDir, env: { ...process.env, LOG_LEVEL: 'WARN' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'mql: erase removes a person for good and asks first, but stdin is not a terminal: pass --yes to confirm (mql erase <email> --yes)\n',
    );
    expect(run.stdout).toBe('');
    expect(await scanTable()).toEqual(before);
  });

  it('removes every item that names the person, and nothing else; prints the counts and what it does not touch', async () => {
    const found = await store.personalItems(await store.findPerson(dana.email));
    const { stdout } = await mqlOn(dataDir, ['erase', dana.email, '--yes']);

    expect(stdout).toMatch(new RegExp(`^erased ${dana.email.replace(/[.+]/g, '\\$&')} \\(and phone:\\+${dana.digits}, ${dana.userKey}, merged into it\\):\n`));
    const counts = countsOf(stdout);
    for (const kind of personalItemKinds) expect(counts[kind.label], kind.label).toBe(found.get(kind.name)!.length);
    // Merged: the phone lead and the key of the Segment userId the identify carried (an alias item).
    expect(counts).toMatchObject({ lead: 1, 'merged leads': 2, 'due entries': 1, 'tombstones written': 3 });
    expect(stdout).toContain(`the CRM's copy: HubSpot contact ${hubspot.contacts().get(dana.email)!.id}; erase it in the CRM`);
    expect(stdout).toContain('point-in-time recovery keeps 35 days');

    const after = await scanTable();
    expect(itemsOf(after, dana, true)).toEqual([]);
    // Exactly what named the person is gone; everything else, the other person included, is as it was; three tombstones came.
    const removed = itemsOf(before, dana, true);
    expect(removed.length).toBe([...found.values()].reduce((sum, items) => sum + items.length, 0));
    const kept = [...before.keys()].filter((key) => !removed.includes(key));
    // The account the two were in reacts to the person leaving (its roll-up, docs/accounts.md): a state, an
    // account.recycled handoff and its attempt may come; none of them names the person (checked above).
    const added = [...after.keys()].filter((key) => !before.has(key) && !key.startsWith('ACCOUNT#'));
    expect([...after.keys()].filter((key) => !added.includes(key) && (before.has(key) || !key.startsWith('ACCOUNT#'))).sort()).toEqual(kept.sort());
    expect(added.map((key) => key.replace(/#[0-9a-f]{64}\|/, '#<digest>|'))).toEqual([
      'ERASED#<digest>|ERASED',
      'ERASED#<digest>|ERASED',
      'ERASED#<digest>|ERASED',
    ]);
    // The account the two were in is recomputed without the person (docs/accounts.md, "The roll-up"): its state may
    // change, and it names neither of them.
    const accountState = (key: string) => key.startsWith('ACCOUNT#') && key.endsWith('|PROFILE');
    for (const key of kept.filter((one) => !accountState(one))) expect(after.get(key)).toBe(before.get(key));
    expect([...after].filter(([key, text]) => accountState(key) && namesPerson(text, other))).toEqual([]);
    expect(itemsOf(after, other).length).toBe(itemsOf(before, other).length);
    // The CRM's copy is the CRM's: untouched.
    expect(hubspot.contacts().get(dana.email)).toBeDefined();
    expect((await getLead(stack, dana.email)).status).toBe(404);
    expect((await getLead(stack, dana.phoneKey)).status).toBe(404);
  });

  it("a provider's redelivery of an event from before is acknowledged as erased and stores nothing", async () => {
    const identify = dana.messages[0]!;
    expect(await postEvents(identify)).toEqual({ status: 200, body: { received: 1, stored: 0, duplicates: 0, ignored: 1, ignoredReasons: { erased: 1 } } });
    // Meta notifies the second leadgen again: queued (its marker went with the person), fetched, and refused.
    expect((await notifyFacebook(dana.leadgenIds[1]!)).body).toMatchObject({ queued: 1 });
    // A phone-only redelivery meets the phone key's tombstone.
    expect((await notifyFacebook(dana.leadgenIds[0]!)).body).toMatchObject({ queued: 1 });
    expect(itemsOf(await scanTable(), dana)).toEqual([]);
  });

  it('a handoff decided before the erasure and still on the queue is not sent, and writes nothing', async () => {
    const calls = hubspot.calls.length;
    await enqueueHandoff(stack, handoffRecord(dana.email, { occurredAt: new Date(Date.now() - 60_000).toISOString() }));
    await stack.drain();
    expect(hubspot.calls.length).toBe(calls);
    expect(itemsOf(await scanTable(), dana)).toEqual([]);
  });

  it('an event that happens after the erasure makes a new lead (ERASED_PEOPLE_RETURN=later-events)', async () => {
    const identify = {
      type: 'identify',
      messageId: `identify-${randomUUID()}`,
      timestamp: new Date().toISOString(),
      userId: 'u',
      traits: { email: dana.email },
    };
    expect(await postEvents(identify)).toMatchObject({ status: 200, body: { stored: 1, ignored: 0 } });
    const { body } = await getLead(stack, dana.email);
    expect(body).toMatchObject({ leadId: dana.email, eventCount: 1, status: 'new' });
    expect(body).not.toHaveProperty('mergedFrom');
  });
});

describe('ERASED_PEOPLE_RETURN=never', () => {
  it('refuses every later event of the identity: the tombstone is a suppression list', async () => {
    const email = `never.${randomUUID().slice(0, 8)}@acme-logistics.com`;
    for (const message of workedExampleMessages(email, new Date(Date.now() - 30_000))) expect((await postEvents(message)).status).toBe(200);
    await stack.drain();
    const { stdout } = await mqlOn(dataDir, ['erase', email, '--yes'], { ERASED_PEOPLE_RETURN: 'never' });
    expect(stdout).toContain('ERASED_PEOPLE_RETURN=never');

    const later = {
      type: 'identify',
      messageId: `identify-${randomUUID()}`,
      timestamp: new Date(Date.now() + 1000).toISOString(),
      userId: 'u',
      traits: { email },
    };
    expect(await postEvents(later)).toEqual({ status: 200, body: { received: 1, stored: 0, duplicates: 0, ignored: 1, ignoredReasons: { erased: 1 } } });
    expect([...(await scanTable()).values()].filter((text) => text.includes(email))).toEqual([]);
  });

  it('a value that is not one of the two stops erase before it removes anything', async () => {
    const email = `typo.${randomUUID().slice(0, 8)}@acme-logistics.com`;
    for (const message of workedExampleMessages(email)) expect((await postEvents(message)).status).toBe(200);
    const run = await runMql(['erase', email, '--yes', '--data-dir', dataDir], { cwd: dataDir, env: { ...process.env, ERASED_PEOPLE_RETURN: 'nver' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('mql: ERASED_PEOPLE_RETURN must be one of later-events, never, got "nver"\n');
    expect((await getLead(stack, email)).status).toBe(200);
  });
});
