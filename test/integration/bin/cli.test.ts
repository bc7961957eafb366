/**
 * `npx mql` as a newcomer meets it, each run as a child process from a directory of its own (no .env):
 * a misspelled verb or option gets one line that says what to type, a taken port says how to pick
 * another, `send` exits 1 when the stack refuses messages, a bad model file is printed once, `decay --in`
 * counts from now, and the bin shim answers an old Node with the preflight's line.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTable, dynamoClient } from '../../../lib/local/dynamodb.ts';

const bin = resolve(import.meta.dirname, '../../../bin/mql.ts');
const shim = resolve(import.meta.dirname, '../../../bin/mql.mjs');
const crmSecret = 'whsec_bG9jYWwtb25seS1jcm0tc2VjcmV0LWNoYW5nZS1tZS0wMQ==';
const eventsSecret = 'whsec_bG9jYWwtb25seS1ldmVudHMtc2VjcmV0LWNoYW5nZS1tZQ==';

/** The environment without anything the developer's shell or .env could add. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'WARN', ...extra };
}

function mql(cwd: string, args: string[], env: Record<string, string> = {}, node = process.execPath, entry = bin) {
  const run = spawnSync(node, [entry, ...args], { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** {@link mql} without blocking this process, for a command that talks to a server the test runs. */
async function mqlAsync(cwd: string, args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd, env: cleanEnv(env), timeout: 60_000 });
    return { status: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { status: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** A data directory whose stack.json points the CLI at `baseUrl` (and, if given, a table of DynamoDB Local). */
function dataDirFor(stack: { baseUrl: string; dynamoEndpoint?: string; tableName?: string }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mql-cli-'));
  writeFileSync(
    join(dir, 'stack.json'),
    JSON.stringify({
      baseUrl: stack.baseUrl,
      dynamoEndpoint: stack.dynamoEndpoint ?? 'http://127.0.0.1:9',
      sqsEndpoint: 'http://127.0.0.1:9',
      tableName: stack.tableName ?? 'none',
      queueUrls: {},
    }),
  );
  return dir;
}

const cwd = mkdtempSync(join(tmpdir(), 'mql-cli-cwd-'));

describe('a misspelled command or option', () => {
  it('a misspelled verb gets one line with the verb it resembles, and exit code 1', () => {
    const typo = mql(cwd, ['explian', 'dana@example.com']);
    expect(typo.status).toBe(1);
    expect(typo.stderr).toBe('mql: unknown command "explian"; did you mean "explain"? (mql --help)\n');
    expect(typo.stdout).toBe('');
    const unknown = mql(cwd, ['frobnicate']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('mql: unknown command "frobnicate" (mql --help)\n');
  });

  it("an unknown option names the option and prints the verb's usage lines, not parseArgs' advice", () => {
    const run = mql(cwd, ['explain', 'dana@example.com', '--foo']);
    expect(run.status).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('mql explain: unknown option --foo');
    expect(lines.slice(1)).toEqual([
      'usage:',
      expect.stringMatching(/^ {2}explain <email> .*\[--json\] \[--now ISO\]$/),
      expect.stringMatching(/^ {2}explain --account <domain\|group:groupId> \[--json\] \[--now ISO\]$/),
      expect.stringMatching(/^ {24}an account's score from its members/),
    ]);
    expect(run.stderr).not.toContain('positional');
    // An option of another verb is unknown to this one.
    const other = mql(cwd, ['decay', '--json']);
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/^mql decay: unknown option --json\nusage:\n {2}decay \[--now ISO/);
    const missing = mql(cwd, ['decay', '--now']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^mql decay: --now needs a value\n/);
  });

  it('--help anywhere prints the whole help and exits 0', () => {
    const run = mql(cwd, ['explain', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^usage: mql <command> \[options\]\n/);
    expect(run.stdout).toContain('  calibrate [--out FILE] [--since DATE] [--json]');
  });
});

describe('mql receive on a taken port', () => {
  it('says on one line that the port is taken and how to pick another, without a stack trace', async () => {
    const taken = createNetServer();
    await new Promise<void>((resolveListen) => taken.listen(0, '127.0.0.1', resolveListen));
    try {
      const port = (taken.address() as AddressInfo).port;
      const run = mql(cwd, ['receive', '--port', String(port)], { CRM_WEBHOOK_SECRET: crmSecret });
      expect(run.status).toBe(1);
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(new RegExp(`^mql: port ${port} is taken \\(EADDRINUSE\\): .*pass --port N`));
      expect(run.stderr).not.toMatch(/\n\s+at /);
      const badPort = mql(cwd, ['receive', '--port', 'eighty'], { CRM_WEBHOOK_SECRET: crmSecret });
      expect(badPort.status).toBe(1);
      expect(badPort.stderr).toBe('mql: --port must be a port number (0 for any free one), got eighty\n');
    } finally {
      await new Promise((resolveClose) => taken.close(resolveClose));
    }
  });
});

describe('mql send', () => {
  // A stand-in for the stack's POST /webhooks/events: refuses the messages whose event is "refuse me".
  const answered: number[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event?: string };
      const status = message.event === 'refuse me' ? 401 : 200;
      answered.push(status);
      response.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{"received":1,"stored":1}' : '{"error":"unauthorized"}');
    });
  });
  let dataDir: string;

  beforeAll(async () => {
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
    dataDir = dataDirFor({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    await new Promise((resolveClose) => server.close(resolveClose));
  });

  const send = (messages: object[]) => {
    const file = join(dataDir, `${randomUUID()}.json`);
    writeFileSync(file, JSON.stringify(messages));
    return mqlAsync(cwd, ['send', file, '--data-dir', dataDir], { EVENTS_WEBHOOK_SECRET: eventsSecret });
  };
  const accepted = { type: 'track', event: 'Pricing Viewed', userId: 'u1' };
  const refused = { type: 'track', event: 'refuse me', userId: 'u1' };

  it('exits 1 and says so when every message is refused', async () => {
    const run = await send([refused, refused]);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('401 {"error":"unauthorized"}\n401 {"error":"unauthorized"}\n');
    expect(run.stderr).toBe(
      'mql send: every message was refused (2 of 2, HTTP 401): nothing was stored; is EVENTS_WEBHOOK_SECRET the one npm start runs with?\n',
    );
  });

  it('exits 1 with the counts when some are refused, and 0 when none is', async () => {
    const partial = await send([accepted, refused, accepted]);
    expect(partial.status).toBe(1);
    expect(partial.stderr).toBe('mql send: 1 of 3 message(s) refused (HTTP 401), 2 accepted; is EVENTS_WEBHOOK_SECRET the one npm start runs with?\n');
    const fine = await send([accepted]);
    expect(fine.status).toBe(0);
    expect(fine.stdout).toBe('200 {"received":1,"stored":1}\n');
    expect(fine.stderr).toBe('');
    expect(answered).toEqual([401, 401, 200, 401, 200, 200]);
  });
});

describe('a model file that does not load', () => {
  it('is printed once, as one message with every problem', () => {
    const dataDir = dataDirFor({ baseUrl: 'http://127.0.0.1:9' });
    const model = join(dataDir, 'model.json');
    writeFileSync(model, '{"version": 1, "rules": 3}');
    for (const args of [['explain', 'dana@example.com'], ['decay'], ['report']]) {
      const run = mql(cwd, [...args, '--data-dir', dataDir], { MQL_MODEL_PATH: model });
      expect(run.status, args[0]).toBe(1);
      expect(run.stderr, args[0]).toMatch(/^mql: invalid scoring model .*model\.json \(\d+ problems\):\n/);
      expect(run.stderr.match(/invalid scoring model/g), args[0]).toHaveLength(1);
      expect(run.stderr.match(/rules: unknown key/g), args[0]).toHaveLength(1);
    }
    const missing = mql(cwd, ['explain', 'dana@example.com', '--data-dir', dataDir], { MQL_MODEL_PATH: join(dataDir, 'nope.json') });
    expect(missing.stderr.match(/cannot read the model file: no such file/g)).toHaveLength(1);
  });
});

describe('mql decay --in', () => {
  it('runs the decay job as of now plus the duration', async () => {
    const tableName = `cli-decay-${randomUUID().slice(0, 8)}`;
    await createTable(dynamoClient(inject('dynamoEndpoint')), tableName);
    const dataDir = dataDirFor({ baseUrl: 'http://127.0.0.1:9', dynamoEndpoint: inject('dynamoEndpoint'), tableName });
    const before = Date.now();
    const run = mql(cwd, ['decay', '--in', '365d', '--data-dir', dataDir]);
    const after = Date.now();
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const [, asOf] = /^decay as of (\S+): 0 lead\(s\) due, 0 re-evaluated; now none; 0 handoff\(s\) queued; complete\n$/.exec(run.stdout) ?? [];
    expect(Date.parse(asOf!)).toBeGreaterThanOrEqual(before + 365 * 86_400_000);
    expect(Date.parse(asOf!)).toBeLessThanOrEqual(after + 365 * 86_400_000);

    const both = mql(cwd, ['decay', '--in', '365d', '--now', '2027-01-01T00:00:00Z', '--data-dir', dataDir]);
    expect(both.status).toBe(1);
    expect(both.stderr).toBe('mql: decay takes --now ISO or --in DURATION, not both\n');
    const bad = mql(cwd, ['decay', '--in', 'a year', '--data-dir', dataDir]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('mql: --in must be a duration such as 365d, 12h, 90m or 2w (got a year)\n');
  });
});

/** A Node older than 24 on this machine (Debian's /usr/bin/node here), for the shim; MQL_OLD_NODE names another. */
function oldNode(): string | undefined {
  for (const candidate of [process.env.MQL_OLD_NODE, '/usr/bin/node', '/usr/local/bin/node']) {
    if (!candidate) continue;
    try {
      const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
      if (Number(version.replace(/^v/, '').split('.')[0]) < 24) return candidate;
    } catch {
      // Not there.
    }
  }
  return undefined;
}

describe('the bin shim (package.json "bin": bin/mql.mjs)', () => {
  const old = oldNode();

  it.skipIf(!old)(`under an older Node (${old}) prints the preflight's one line and exits 1, no stack trace`, () => {
    const run = mql(cwd, ['--help'], {}, old!, shim);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^preflight: mql-engine needs Node\.js 24 or newer \(this is v\d+\.\d+\.\d+\): .*nvm install 24.*\n$/);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });

  it('under Node 24 runs the command line, with its exit codes', () => {
    const help = mql(cwd, ['--help'], {}, process.execPath, shim);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: mql <command> \[options\]\n/);
    const typo = mql(cwd, ['recieve'], {}, process.execPath, shim);
    expect(typo.status).toBe(1);
    expect(typo.stderr).toBe('mql: unknown command "recieve"; did you mean "receive"? (mql --help)\n');
  });
});
