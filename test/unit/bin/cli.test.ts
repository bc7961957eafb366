/**
 * The `mql` command line without running it: `mql --help` is made of every command's usage lines and
 * names every option, a misspelled verb finds its suggestion, `decay --in` durations, and the summary
 * `mql send` prints when messages are refused.
 */
import { describe, expect, it } from 'vitest';
import { durationMs, globalOptions } from '../../../bin/cli.ts';
import { decayTime } from '../../../bin/commands/decay.ts';
import { refusedLine } from '../../../bin/commands/send.ts';
import { closest, editDistance } from '../../../bin/did-you-mean.ts';
import { commands, helpText } from '../../../bin/mql.ts';
import { nodeVersionProblem } from '../../../scripts/node-version.mjs';

const names = commands.map((command) => command.name);

describe('mql --help', () => {
  const help = helpText();

  it('lists every verb of the operator contract, each under one heading', () => {
    expect([...names].sort()).toEqual(
      [
        'backtest',
        'calibrate',
        'crm',
        'decay',
        'deliveries',
        'demo',
        'erase',
        'explain',
        'export',
        'receive',
        'redrive',
        'report',
        'rescore',
        'secrets',
        'send',
        'stand-in',
      ].sort(),
    );
    for (const command of commands) {
      expect(help).toContain(`\n  ${command.usage[0]}`);
      expect(help.split(`\n  ${command.usage[0]}`)).toHaveLength(2);
    }
    expect(help).toContain('\n  crm setup ');
  });

  it("names every option of every command in that command's own lines, and the options of every command", () => {
    for (const command of commands) {
      const lines = command.usage.join('\n');
      for (const option of Object.keys(command.options)) expect(lines, `${command.name} --${option}`).toMatch(new RegExp(`--${option}\\b`));
    }
    for (const option of Object.keys(globalOptions)) expect(help).toMatch(new RegExp(`\\n  (-h, )?--${option}\\b`));
  });

  it('gives an option one meaning everywhere: the same name takes a value in every command or in none', () => {
    const kinds = new Map<string, string>();
    for (const command of commands) {
      for (const [option, spec] of Object.entries({ ...globalOptions, ...command.options })) {
        expect(kinds.get(option) ?? spec.type, `--${option} of ${command.name}`).toBe(spec.type);
        kinds.set(option, spec.type);
      }
    }
  });
});

describe('a misspelled verb', () => {
  it('finds the verb one or two edits away, a swap of two letters counting one', () => {
    expect(editDistance('explian', 'explain')).toBe(1);
    expect(editDistance('decay', 'decay')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
    expect(closest('explian', names)).toBe('explain');
    expect(closest('recieve', names)).toBe('receive');
    expect(closest('Reprot', names)).toBe('report');
    expect(closest('delivery', names)).toBe('deliveries');
    expect(closest('standin', names)).toBe('stand-in');
    expect(closest('dcay', names)).toBe('decay');
  });

  it('suggests nothing for a word close to no verb', () => {
    expect(closest('xyz', names)).toBeUndefined();
    expect(closest('deploy', names)).toBeUndefined();
    expect(closest('status', names)).toBeUndefined();
  });
});

describe('mql decay --in', () => {
  it('reads minutes, hours, days and weeks', () => {
    expect(durationMs('365d')).toBe(365 * 86_400_000);
    expect(durationMs('12h')).toBe(12 * 3_600_000);
    expect(durationMs('90m')).toBe(90 * 60_000);
    expect(durationMs('2w')).toBe(14 * 86_400_000);
    expect(durationMs('1.5h')).toBe(5_400_000);
    for (const bad of ['', '365', 'd', '3x', '-1d', '1 year', '1d2h']) expect(durationMs(bad), bad).toBeUndefined();
  });

  it('counts from the clock, and --now alone keeps working', () => {
    const clock = () => Date.parse('2026-11-29T00:50:00.000Z');
    expect(decayTime(undefined, '365d', clock).toISOString()).toBe('2027-11-29T00:50:00.000Z');
    expect(decayTime('2027-11-29T00:50:00Z', undefined, clock).toISOString()).toBe('2027-11-29T00:50:00.000Z');
  });
});

describe('mql send refusals', () => {
  it('says when every message was refused, with the statuses, and when some were, with the counts', () => {
    expect(refusedLine(2, [401, 401])).toBe(
      'mql send: every message was refused (2 of 2, HTTP 401): nothing was stored; is EVENTS_WEBHOOK_SECRET the one npm start runs with?',
    );
    expect(refusedLine(3, [400])).toBe('mql send: 1 of 3 message(s) refused (HTTP 400), 2 accepted');
    expect(refusedLine(3, [])).toBeUndefined();
  });
});

describe('the Node.js check of npx mql and npm start', () => {
  it('refuses a Node older than 24 on one line that says how to install 24, and takes 24 and later', () => {
    const problem = nodeVersionProblem('20.20.2');
    expect(problem).toMatch(/^mql-engine needs Node\.js 24 or newer \(this is v20\.20\.2\).*nvm install 24/);
    expect(problem).not.toContain('\n');
    expect(nodeVersionProblem('24.0.0')).toBeUndefined();
    expect(nodeVersionProblem('25.1.0')).toBeUndefined();
  });
});
