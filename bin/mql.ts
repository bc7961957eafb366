#!/usr/bin/env node
/**
 * `mql`: operator commands against the running local stack (default) or AWS (`--aws`).
 * It runs the same library code as the Lambdas, pointed at the stack's table and queues.
 * This file reads the verb and its options and hands over to the command's module (bin/commands/);
 * `mql --help` is made of the commands' own usage lines.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Command, Options } from './cli.ts';
import { dataDirOf, fail, globalOptions, globalUsage, helpGroups, parseCommandLine, stackFor, useAwsPseudonymKey } from './cli.ts';
import { backtest } from './commands/backtest.ts';
import { calibrate } from './commands/calibrate.ts';
import { crmSetup } from './commands/crm-setup.ts';
import { decay } from './commands/decay.ts';
import { deliveries } from './commands/deliveries.ts';
import { demo } from './commands/demo.ts';
import { erase } from './commands/erase.ts';
import { explain } from './commands/explain.ts';
import { exportPerson } from './commands/export.ts';
import { receive } from './commands/receive.ts';
import { redrive } from './commands/redrive.ts';
import { report } from './commands/report.ts';
import { rescore } from './commands/rescore.ts';
import { secrets } from './commands/secrets.ts';
import { send } from './commands/send.ts';
import { standIn } from './commands/stand-in.ts';
import { closest } from './did-you-mean.ts';

/** Every command, in the order of `mql --help` within its group. */
export const commands: readonly Command[] = [
  send,
  receive,
  demo,
  standIn,
  crmSetup,
  explain,
  deliveries,
  exportPerson,
  erase,
  decay,
  rescore,
  redrive,
  report,
  backtest,
  calibrate,
  secrets,
];

const indent = (lines: readonly string[]) => lines.map((line) => `  ${line}`);

/** `mql --help`: the commands' usage lines by group, then the options every command takes. */
export function helpText(): string {
  const lines = ['usage: mql <command> [options]'];
  for (const group of helpGroups) {
    const members = commands.filter((command) => command.group === group);
    if (members.length > 0) lines.push('', `${group}:`, ...indent(members.flatMap((command) => command.usage)));
  }
  lines.push('', 'options of every command:', ...indent(globalUsage));
  return lines.join('\n');
}

/** Every option any command takes, so the first reading finds the verb wherever the options stand. */
function allOptions(): Options {
  const all: Record<string, Options[string]> = { ...globalOptions };
  for (const command of commands) Object.assign(all, command.options);
  return all;
}

async function main(argv: string[]): Promise<void> {
  const every = allOptions();
  const first = parseArgs({ args: argv, options: every, allowPositionals: true, strict: false });
  const verb = first.positionals[0];
  if (first.values.help === true || verb === undefined) {
    process.stdout.write(`${helpText()}\n`);
    return;
  }
  const command = commands.find((one) => one.name === verb);
  if (!command) {
    const suggestion = closest(
      verb,
      commands.map((one) => one.name),
    );
    fail(`unknown command "${verb}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (mql --help)`);
  }
  const { values, args } = parseCommandLine(command, argv, every);
  if (existsSync('.env')) process.loadEnvFile('.env');
  // The commands print their own summary; the library's JSON log lines only when asked (LOG_LEVEL=INFO).
  process.env.LOG_LEVEL ??= 'WARN';
  const dataDir = dataDirOf(values);
  const stack = stackFor(command, values.aws, dataDir);
  if (values.aws && command.stack !== 'none') await useAwsPseudonymKey();
  await command.run({ values, args, dataDir, stack });
}

/** Runs `mql` with these arguments, then ends the process (exit code 1 on an error, with its message on one line). */
export async function runCli(argv: string[]): Promise<never> {
  try {
    await main(argv);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  // A command that failed softly set process.exitCode (send with refusals, redrive with messages left).
  process.exit();
}

if (import.meta.main) await runCli(process.argv.slice(2));
