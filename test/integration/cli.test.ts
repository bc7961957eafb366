/**
 * `npx mql` as a newcomer meets it, each run as a child process from a directory of its own (no .env):
 * a misspelled verb or option gets one line that says what to type.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = resolve(import.meta.dirname, '../../bin/mql.ts');

/** The environment without anything the developer's shell or .env could add. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'WARN', ...extra };
}

function mql(cwd: string, args: string[], env: Record<string, string> = {}, node = process.execPath, entry = bin) {
  const run = spawnSync(node, [entry, ...args], { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
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
    expect(lines.slice(1)).toEqual(['usage:', expect.stringMatching(/^ {2}explain <email> .*\[--json\] \[--now ISO\]$/)]);
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
