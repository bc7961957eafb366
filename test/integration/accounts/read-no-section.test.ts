/**
 * GET /accounts/{domain} when the model in force has no `account` section (the default model without it): every account
 * asked is 404 with the error that says why, before the path is even read. A file of its own: one local stack per
 * process (the stacks share process.env, and the model is read from it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countItems, eventsSecret } from '../../setup/signed.ts';
import type { LocalStack } from '../../setup/stack.ts';
import { startTestStack } from '../../setup/stack.ts';

let stack: LocalStack;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mql-no-accounts-'));
  const { account: _account, ...withoutAccounts } = JSON.parse(readFileSync(new URL('../../../lib/core/default-model.json', import.meta.url), 'utf8'));
  writeFileSync(join(dir, 'model.json'), JSON.stringify(withoutAccounts));
  stack = await startTestStack({ env: { EVENTS_WEBHOOK_SECRET: eventsSecret, CRM_ADAPTER: 'none', MQL_MODEL_PATH: join(dir, 'model.json') } });
});

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('GET /accounts/{domain} with a model that scores no account', () => {
  it('is 404 no_account_section, saying so, for a domain, a group and a malformed path alike, writing nothing', async () => {
    const before = await countItems(stack.dynamodb, stack.tableName);
    for (const path of ['acme.com', encodeURIComponent('group:4242'), '%E0%A4%A']) {
      const response = await fetch(`${stack.baseUrl}/accounts/${path}`);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: 'no_account_section', detail: expect.stringContaining('no `account` section') });
    }
    expect(await countItems(stack.dynamodb, stack.tableName)).toBe(before);
  });
});
