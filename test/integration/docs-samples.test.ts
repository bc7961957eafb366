/**
 * The README's sample outputs cannot drift: the "Try it" is played on the local stack with the settings of
 * .env.example, each command's output compared with the block the README marks `<!-- output: <command> -->`
 * (times, webhook ids and port numbers masked: they differ on every run). `mql --help` is compared with
 * its block in docs/operator-contract.md as it is.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReceived } from '../../bin/commands/receive.ts';
import { stackBanner } from '../../lib/local/banner.ts';
import type { CrmReceiver } from '../../lib/local/stand-ins/crm-receiver.ts';
import { startCrmReceiver } from '../../lib/local/stand-ins/crm-receiver.ts';
import { mqlOn, runMql } from '../setup/cli.ts';
import type { LocalStack } from '../setup/stack.ts';
import { exampleEnv, startTestStack } from '../setup/stack.ts';
import { waitUntil } from '../setup/wait.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const contract = readFileSync(new URL('../../docs/operator-contract.md', import.meta.url), 'utf8');
const workedExample = new URL('../../examples/worked-example.json', import.meta.url).pathname;

/** Every block a page marks as the output of `command`, in page order, without the `$ command` lines it quotes. */
function samples(page: string, command: string): string[] {
  const marker = `<!-- output: ${command} -->\n\`\`\`text\n`;
  const blocks: string[] = [];
  for (let at = page.indexOf(marker); at !== -1; at = page.indexOf(marker, at + 1)) {
    const start = at + marker.length;
    const text = page.slice(start, page.indexOf('```', start));
    blocks.push(
      text
        .split('\n')
        .filter((line) => !line.startsWith('$ '))
        .join('\n')
        .trimEnd(),
    );
  }
  expect(blocks.length, `no sample marked ${command}`).toBeGreaterThan(0);
  return blocks;
}

/** What differs on every run: times, webhook ids, the ports of local services. */
function masked(text: string): string {
  return text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<time>')
    .replace(/msg_[A-Za-z0-9_-]+/g, 'msg_<id>')
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://127.0.0.1:<port>')
    .trimEnd();
}

let stack: LocalStack;
let crm: CrmReceiver;
let dataDir: string;
const received: string[] = [];
const env = exampleEnv();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mql-docs-samples-'));
  crm = await startCrmReceiver(env.CRM_WEBHOOK_SECRET!, { onReceive: (handoff) => received.push(formatReceived(handoff)) });
  stack = await startTestStack({ dataDir, env: { ...env, CRM_WEBHOOK_URL: crm.url, LOG_LEVEL: 'SILENT' }, log: () => {} });
});

afterAll(async () => {
  await stack?.stop();
  await crm?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("the README's samples", () => {
  it('npm start prints the routes with the secrets each needs, as the README shows', async () => {
    const [sample] = samples(readme, 'npm start');
    const banner = await stackBanner({
      baseUrl: 'http://127.0.0.1:3000',
      dataDir: '.mql/',
      dynamoEndpoint: stack.dynamoEndpoint,
      tableName: 'mql',
      sqsEndpoint: stack.sqsEndpoint,
      envFile: '.env',
      env,
    });
    const printed = `mql-engine: starting the local stack (DynamoDB Local takes a few seconds)...\n${banner}`;
    expect(masked(printed)).toBe(masked(sample!));
  });

  it('the worked example: mql send, the MQL the receiver prints, mql explain, a year of decay and the recycle', { timeout: 60_000 }, async () => {
    const [sendSample] = samples(readme, 'npx mql send examples/worked-example.json');
    const [mqlSample, recycledSample] = samples(readme, 'npx mql receive');
    const [explainSample] = samples(readme, 'npx mql explain dana.whitfield@example.com');
    const [decaySample] = samples(readme, 'npx mql decay --in 365d');

    const sent = await mqlOn(dataDir, ['send', workedExample], env);
    expect(masked(sent.stdout)).toBe(masked(sendSample!));
    await waitUntil('the MQL at the receiver', () => received.length >= 1, 20_000);
    expect(masked(received[0]!)).toBe(masked(mqlSample!));

    const explained = await mqlOn(dataDir, ['explain', 'dana.whitfield@example.com'], env);
    expect(masked(explained.stdout)).toBe(masked(explainSample!));

    const decayed = await mqlOn(dataDir, ['decay', '--in', '365d'], env);
    expect(masked(decayed.stdout)).toBe(masked(decaySample!));
    await waitUntil('the recycle at the receiver', () => received.length >= 2, 20_000);
    expect(masked(received[1]!)).toBe(masked(recycledSample!));
  });
});

describe("the operator contract's samples", () => {
  it('mql --help is printed as the page shows it', async () => {
    const [sample] = samples(contract, 'npx mql --help');
    const help = await runMql(['--help'], { cwd: dataDir, env: { PATH: process.env.PATH ?? '' } });
    expect(help.code).toBe(0);
    expect(help.stdout.trimEnd()).toBe(sample);
  });
});
