/**
 * No person in the logs (docs/data-protection.md): the local stack runs the worked example, a lead with
 * a phone number, a lookup of an unknown address, the demo (Facebook lead, SendGrid batch, CRM handoff), the
 * LinkedIn demo (validation, notification, the API fetch),
 * an erase (`mql erase`, its own log lines included) and a redelivery after it, at DEBUG level, and not
 * one line any function, the local stack or the command writes holds an e-mail address or phone number
 * of those leads; they appear as lead references (lib/runtime/pseudonym.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../../lib/local/demo.ts';
import { runLinkedinDemo } from '../../../lib/local/demo-linkedin.ts';
import { freePort } from '../../../lib/local/dynamodb.ts';
import { leadRef } from '../../../lib/runtime/pseudonym.ts';
import { mqlOn } from '../../setup/cli.ts';
import { captureHandlerLogs } from '../../setup/handler-logs.ts';
import { eventsSecret, post, postWorkedExample, signedDelivery } from '../../setup/signed.ts';
import { exampleEnv, getLead, type LocalStack, startTestStack } from '../../setup/stack.ts';

/** Every line the functions write (Powertools: JSON on stdout and stderr), at DEBUG. */
const lines = captureHandlerLogs('DEBUG');
/** And what the local stack itself says (the gateway, the queue pollers). */
const stackLines: string[] = [];
let stack: LocalStack;
let env: Record<string, string>;
const dataDir = mkdtempSync(join(tmpdir(), 'mql-logs-'));

beforeAll(async () => {
  env = {
    ...exampleEnv(),
    EVENTS_WEBHOOK_SECRET: eventsSecret,
    LOG_LEVEL: 'DEBUG',
    FACEBOOK_GRAPH_URL: `http://127.0.0.1:${await freePort()}/v26.0`,
    LINKEDIN_API_URL: `http://127.0.0.1:${await freePort()}/rest`,
    CRM_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/crm/leads`,
  };
  stack = await startTestStack({ env, dataDir, log: (line) => stackLines.push(line) });
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the logs of a local stack', () => {
  it('name leads by reference only, through the worked example, a phone number, a 404, the demo and an erasure', async () => {
    const email = `dana.${randomUUID().slice(0, 8)}@acme.com`;
    const phone = '+14155550199';
    const unknown = `nobody.${randomUUID().slice(0, 8)}@acme.com`;
    const eventsUrl = stack.urls['POST /webhooks/events']!;

    await postWorkedExample(eventsUrl, email);
    const identify = { type: 'identify', messageId: randomUUID(), timestamp: new Date().toISOString(), userId: email, traits: { email, phone } };
    expect((await post(eventsUrl, signedDelivery(identify))).status).toBe(200);
    expect((await getLead(stack, unknown)).status).toBe(404);
    // The worked example's MQL goes to CRM_WEBHOOK_URL, where only the demo listens: its failed attempts and
    // retries are logged too, and stay on the queue (no drain: their back-off outlasts the test).
    const demo = await runDemo({ baseUrl: stack.baseUrl, env, print: () => {} });
    const linkedinDemo = await runLinkedinDemo({ baseUrl: stack.baseUrl, env, print: () => {} });

    // The person asks to be erased; the provider then redelivers one of their events.
    const erase = await mqlOn(dataDir, ['erase', email, '--yes'], { LOG_LEVEL: 'DEBUG' });
    stackLines.push(erase.stderr);
    const redelivery = await post(eventsUrl, signedDelivery(identify));
    expect(redelivery).toMatchObject({ status: 200, body: { stored: 0, ignoredReasons: { erased: 1 } } });

    const people = [email, unknown, demo.email, linkedinDemo.email, phone, phone.slice(2), '415-555-0199'];
    const logged = lines.join('');
    require('node:fs').writeFileSync('/tmp/logged.txt', logged);
    // The 404 is logged (its detail names the address asked for): by reference.
    expect(logged).toContain(`no lead ${leadRef(unknown)}`);
    for (const person of people) expect(logged.toLowerCase(), person).not.toContain(person.toLowerCase());
  }, 120_000); // the demo, a CLI process and a redelivery: minutes on a loaded 2-core machine
});
