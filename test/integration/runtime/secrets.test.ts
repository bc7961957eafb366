/**
 * lib/runtime/config.ts in AWS: each key is read from the secret the stack says holds it (MQL_SECRET_ARNS),
 * a function reads only the secrets it is given, and each secret is re-read after 5 minutes. Against a
 * Secrets Manager stand-in (test/setup/secrets-manager.ts) through the real SDK client.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getSecrets, resetSecretsCache, secretArnsFrom } from '../../../lib/runtime/config.ts';
import { type SecretsManagerStandIn, startSecretsManager } from '../../setup/secrets-manager.ts';

let sm: SecretsManagerStandIn;
let events: string;
let pseudonym: string;
let crm: string;
const saved = { ...process.env };

beforeAll(async () => {
  sm = await startSecretsManager();
  events = sm.create('events', { EVENTS_WEBHOOK_SECRET: 'whsec_ZXZlbnRzLXNlY3JldC1vZi10aGlydHktdHdvLWJ5dGVz', createdBy: 'x' });
  pseudonym = sm.create('pseudonym', { PSEUDONYM_KEY: 'p'.repeat(64) });
  // A key put in the wrong secret by hand: the function that reads this secret must still not see it.
  crm = sm.create('crm-delivery', { CRM_WEBHOOK_SECRET: 'whsec_Y3JtLXdlYmhvb2stc2VjcmV0LW9mLXRoaXJ0eS10d28', SALESFORCE_CLIENT_SECRET: 'sf' });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  for (const key of ['EVENTS_WEBHOOK_SECRET', 'PSEUDONYM_KEY', 'CRM_WEBHOOK_SECRET', 'SALESFORCE_CLIENT_SECRET', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'])
    delete process.env[key];
});
afterEach(() => {
  resetSecretsCache();
  sm.calls.length = 0;
  delete process.env.MQL_SECRET_ARNS;
});
afterAll(async () => {
  process.env = saved;
  await sm.stop();
});

describe('getSecrets in AWS', () => {
  it("reads each of the function's keys from the secret that holds it, and asks for no other secret", async () => {
    process.env.MQL_SECRET_ARNS = JSON.stringify({ EVENTS_WEBHOOK_SECRET: events, PSEUDONYM_KEY: pseudonym });
    const secrets = await getSecrets(1_000);
    expect(secrets).toEqual({ EVENTS_WEBHOOK_SECRET: 'whsec_ZXZlbnRzLXNlY3JldC1vZi10aGlydHktdHdvLWJ5dGVz', PSEUDONYM_KEY: 'p'.repeat(64) });
    expect(sm.calls.map((call) => call.secretId).sort()).toEqual([events, pseudonym].sort());
  });

  it('takes from a secret only the keys mapped to it', async () => {
    process.env.MQL_SECRET_ARNS = JSON.stringify({ CRM_WEBHOOK_SECRET: crm, PSEUDONYM_KEY: pseudonym });
    const secrets = await getSecrets(1_000);
    expect(secrets.CRM_WEBHOOK_SECRET).toBe('whsec_Y3JtLXdlYmhvb2stc2VjcmV0LW9mLXRoaXJ0eS10d28');
    expect(secrets.SALESFORCE_CLIENT_SECRET).toBeUndefined();
  });

  it('reads only the secrets of the keys asked for (the pseudonym key at cold start, mql --aws)', async () => {
    process.env.MQL_SECRET_ARNS = JSON.stringify({ EVENTS_WEBHOOK_SECRET: events, PSEUDONYM_KEY: pseudonym, CRM_WEBHOOK_SECRET: crm });
    expect(await getSecrets(1_000, ['PSEUDONYM_KEY'])).toEqual({ PSEUDONYM_KEY: 'p'.repeat(64) });
    expect(sm.calls.map((call) => call.secretId)).toEqual([pseudonym]);
  });

  it('keeps a secret 5 minutes, then reads it again', async () => {
    process.env.MQL_SECRET_ARNS = JSON.stringify({ PSEUDONYM_KEY: pseudonym });
    await getSecrets(0);
    await getSecrets(299_999);
    expect(sm.calls.length).toBe(1);
    await getSecrets(300_000);
    expect(sm.calls.length).toBe(2);
  });

  it('refuses an MQL_SECRET_ARNS that is not an object of known keys, without reading anything', async () => {
    for (const value of ['not json', '["arn"]', JSON.stringify({ NOT_A_KEY: events }), JSON.stringify({ PSEUDONYM_KEY: 7 })]) {
      expect(() => secretArnsFrom({ MQL_SECRET_ARNS: value })).toThrow(/MQL_SECRET_ARNS/);
      process.env.MQL_SECRET_ARNS = value;
      await expect(getSecrets(1_000)).rejects.toThrow(/MQL_SECRET_ARNS/);
    }
    expect(sm.calls).toEqual([]);
  });
});
