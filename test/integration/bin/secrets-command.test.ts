/**
 * `mql secrets` and `--aws` against Secrets Manager (the stand-in of test/setup/secrets-manager.ts, through the
 * real SDK): keys listed set or not and never shown, written into the secret of their group with its other keys
 * kept, weak or generated keys refused, the single secret of earlier releases migrated; and every `--aws`
 * command reading the deployment's PSEUDONYM_KEY, and no other secret, before it starts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTable, dynamoClient } from '../../../lib/local/dynamodb.ts';
import { type SecretGroup, type SecretKey, secretGroupOf, secretGroups, secretKeys } from '../../../lib/topology.ts';
import { environmentWithout, runMql } from '../../setup/cli.ts';
import { type SecretsManagerStandIn, startSecretsManager } from '../../setup/secrets-manager.ts';

let sm: SecretsManagerStandIn;
const arnOf: Partial<Record<SecretGroup, string>> = {};
let legacy: string;
const cwd = mkdtempSync(join(tmpdir(), 'mql-secrets-'));
const generated = randomBytes(32).toString('base64url');
const eventsSecret = `whsec_${randomBytes(32).toString('base64')}`;

const arns = () => Object.fromEntries(secretKeys.map((key) => [key, arnOf[secretGroupOf(key)]]));
const env = (extra: Record<string, string> = {}) => ({
  AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  MQL_SECRET_ARNS: JSON.stringify(arns()),
  ...extra,
});
const mql = (args: string[], extra: Record<string, string> = {}) =>
  runMql(args, {
    cwd,
    env: environmentWithout(/^(MQL_|AWS_|TABLE_NAME$|HANDOFF_|PSEUDONYM_KEY$|[A-Z]+_WEBHOOK_|HUBSPOT_|SALESFORCE_|FACEBOOK_|CRM_|EVENTS_)/, env(extra)),
  });
const storedFor = (key: SecretKey) => sm.stored(arnOf[secretGroupOf(key)]!)!;

beforeAll(async () => {
  sm = await startSecretsManager();
  // As the stack creates them: each group's secret from its template, the pseudonym key generated.
  for (const group of Object.keys(secretGroups) as SecretGroup[]) {
    arnOf[group] = sm.create(group, group === 'pseudonym' ? { PSEUDONYM_KEY: generated } : { createdBy: 'abcdefghijklmnop' });
  }
  legacy = sm.create('legacy', {
    EVENTS_WEBHOOK_SECRET: 'whsec_bGVnYWN5LWV2ZW50cy1zZWNyZXQtb2YtdGhpcnR5LXR3bw==',
    HUBSPOT_ACCESS_TOKEN: 'pat-legacy',
    PSEUDONYM_KEY: 'old-key-that-keyed-the-logs',
  });
});

afterAll(async () => {
  await sm?.stop();
});

describe('mql secrets --aws', () => {
  it('lists every key with its secret and whether it is set, never a value', async () => {
    const { code, stdout } = await mql(['secrets', 'list', '--aws']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/PSEUDONYM_KEY\s+pseudonym\s+yes/);
    expect(stdout).toMatch(/EVENTS_WEBHOOK_SECRET\s+events\s+no/);
    expect(stdout.trim().split('\n')).toHaveLength(secretKeys.length + 2);
    expect(stdout).not.toContain(generated);
  });

  it("writes each key into its group's secret, keeping the secret's other keys, and prints no value", async () => {
    const { code, stdout } = await mql([
      'secrets',
      'set',
      `EVENTS_WEBHOOK_SECRET=${eventsSecret}`,
      'POSTMARK_WEBHOOK_USER=postmark',
      'POSTMARK_WEBHOOK_PASSWORD=hunter2-but-longer',
      '--aws',
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain('secret events: set EVENTS_WEBHOOK_SECRET');
    expect(stdout).toContain('secret postmark: set POSTMARK_WEBHOOK_USER, POSTMARK_WEBHOOK_PASSWORD');
    expect(stdout).not.toContain(eventsSecret);
    expect(storedFor('EVENTS_WEBHOOK_SECRET')).toEqual({ createdBy: 'abcdefghijklmnop', EVENTS_WEBHOOK_SECRET: eventsSecret });
    expect(storedFor('POSTMARK_WEBHOOK_USER')).toMatchObject({ POSTMARK_WEBHOOK_USER: 'postmark', POSTMARK_WEBHOOK_PASSWORD: 'hunter2-but-longer' });
    // Nothing went into any other secret.
    expect(storedFor('HUBSPOT_ACCESS_TOKEN')).toEqual({ createdBy: 'abcdefghijklmnop' });
    const listed = await mql(['secrets', 'list', '--aws']);
    expect(listed.stdout).toMatch(/EVENTS_WEBHOOK_SECRET\s+events\s+yes/);
  });

  it('KEY= removes a key, the rest of its secret kept', async () => {
    expect((await mql(['secrets', 'set', 'POSTMARK_WEBHOOK_USER=', '--aws'])).stdout).toContain('secret postmark: removed POSTMARK_WEBHOOK_USER');
    expect(storedFor('POSTMARK_WEBHOOK_USER')).toEqual({ createdBy: 'abcdefghijklmnop', POSTMARK_WEBHOOK_PASSWORD: 'hunter2-but-longer' });
  });

  it('refuses a whsec_ key under 24 bytes, the pseudonym key, an unknown key, and writes nothing', async () => {
    const before = JSON.stringify(secretKeys.map(storedFor));
    const weak = await mql(['secrets', 'set', 'CRM_FEEDBACK_SECRET=whsec_AQI=', '--aws']);
    expect(weak.code).toBe(1);
    expect(weak.stderr).toMatch(/CRM_FEEDBACK_SECRET: .*at least 24/);
    const pseudonym = await mql(['secrets', 'set', 'PSEUDONYM_KEY=mine', '--aws']);
    expect(pseudonym.code).toBe(1);
    expect(pseudonym.stderr).toMatch(/PSEUDONYM_KEY is generated by the stack and must never change/);
    const unknown = await mql(['secrets', 'set', 'EVENT_WEBHOOK_SECRET=x', '--aws']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/EVENT_WEBHOOK_SECRET is not a secret key/);
    expect(JSON.stringify(secretKeys.map(storedFor))).toBe(before);
    expect((await mql(['secrets', 'set', 'CRM_FEEDBACK_SECRET=x'])).stderr).toMatch(/works on the AWS stack \(--aws\)/);
  });

  it('migrates the single secret of earlier releases: keys not yet set, and the pseudonym key that keyed the logs', async () => {
    const { code, stdout } = await mql(['secrets', 'migrate', '--aws'], { MQL_LEGACY_SECRET_ARN: legacy });
    expect(code).toBe(0);
    expect(stdout).toContain('copied 2 key(s): HUBSPOT_ACCESS_TOKEN, PSEUDONYM_KEY');
    expect(stdout).toContain('kept 1 key(s) already set in their secrets: EVENTS_WEBHOOK_SECRET');
    expect(storedFor('HUBSPOT_ACCESS_TOKEN')).toMatchObject({ HUBSPOT_ACCESS_TOKEN: 'pat-legacy' });
    expect(storedFor('EVENTS_WEBHOOK_SECRET').EVENTS_WEBHOOK_SECRET).toBe(eventsSecret);
    expect(storedFor('PSEUDONYM_KEY').PSEUDONYM_KEY).toBe('old-key-that-keyed-the-logs');
    expect(stdout).not.toContain('pat-legacy');
  });
});

describe('--aws on a command that works on the stack', () => {
  it('reads the PSEUDONYM_KEY secret, and no other, before the command runs', async () => {
    const endpoint = inject('dynamoEndpoint');
    const tableName = `mql-secrets-${randomUUID().slice(0, 8)}`;
    const client = dynamoClient(endpoint);
    await createTable(client, tableName);
    client.destroy();
    sm.calls.length = 0;
    const { code, stderr } = await mql(['explain', 'nobody@example.com', '--aws'], { TABLE_NAME: tableName, AWS_ENDPOINT_URL_DYNAMODB: endpoint });
    expect(stderr).toContain('no lead');
    expect(code).toBe(1);
    expect(sm.calls).toEqual([{ operation: 'GetSecretValue', secretId: arnOf.pseudonym }]);
  });

  it('refuses to start without MQL_SECRET_ARNS', async () => {
    const { code, stderr } = await mql(['explain', 'nobody@example.com', '--aws'], { TABLE_NAME: 'any', MQL_SECRET_ARNS: '' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/--aws needs MQL_SECRET_ARNS \(the stack's SecretArns output\)/);
  });
});
