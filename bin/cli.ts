/**
 * What every `mql` command shares: how a command is described (its options, its lines in `mql --help`,
 * which stack it needs), reading its options, failing with one line, the local stack or `--aws`, and the
 * option values that several commands take (--now, --since, --port, --model).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Pipeline } from '../lib/ingest/pipeline.ts';
import { localPseudonymKey } from '../lib/local/pseudonym-key.ts';
import { pseudonymKeyReady, usePseudonymKey } from '../lib/runtime/pseudonym.ts';
import { dlqUrlEnv, queueUrlEnv, secretArnsEnv, tableNameEnv } from '../lib/topology.ts';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
}
export type Options = Readonly<Record<string, OptionSpec>>;

/** The options every command takes. */
export const globalOptions = {
  aws: { type: 'boolean' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** Their lines in `mql --help`; a command's own options are in its usage lines. */
export const globalUsage = [
  `--aws                 the AWS stack: needs ${tableNameEnv}, ${queueUrlEnv('handoff')}, ${secretArnsEnv} (the stack's outputs), AWS credentials`,
  '--data-dir DIR        where the local stack keeps its state (default MQL_DATA_DIR or .mql/)',
  '-h, --help            this text',
] as const;

type ValuesOf<O extends Options> = { [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean : string | undefined };

export type Values<O extends Options> = ValuesOf<O> & ValuesOf<typeof globalOptions>;

/** Where a command works: no stack at all, the running local stack only, or the local stack or AWS (`--aws`). */
export type StackNeed = 'none' | 'local' | 'any';

/** The headings of `mql --help`, in their order. */
export const helpGroups = ['try it on this machine', 'look at a lead', 'personal data', 'jobs', 'the model and the figures', 'the AWS stack'] as const;
export type HelpGroup = (typeof helpGroups)[number];

export interface CommandContext<O extends Options> {
  readonly values: Values<O>;
  /** The positional arguments after the verb. */
  readonly args: readonly string[];
  /** `--data-dir`, else MQL_DATA_DIR, else .mql (relative to the working directory). */
  readonly dataDir: string;
  /** The running local stack; undefined with `--aws` or for a command that needs none. */
  readonly stack: LocalStackInfo | undefined;
}

export interface Command<O extends Options = Options> {
  /** The verb. */
  readonly name: string;
  readonly group: HelpGroup;
  /** Its lines in `mql --help` (synopsis, then what it does); they name every option of {@link options}. */
  readonly usage: readonly string[];
  readonly options: O;
  readonly stack: StackNeed;
  /** With `--aws`: whether it reads the table (TABLE_NAME must be set). Default true. */
  readonly awsNeedsTable?: boolean;
  run(context: CommandContext<O>): Promise<void>;
}

/** A command module's definition, its option values typed from its options. */
export function defineCommand<const O extends Options>(command: Command<O>): Command<O> {
  return command;
}

export interface LocalStackInfo {
  baseUrl: string;
  dynamoEndpoint: string;
  sqsEndpoint: string;
  tableName: string;
  queueUrls: Record<string, string>;
  dlqUrls?: Record<string, string>;
}

export function fail(message: string): never {
  process.stderr.write(`mql: ${message}\n`);
  process.exit(1);
}

/** The data directory a command works in: `--data-dir`, else MQL_DATA_DIR (environment or .env), else .mql. */
export function dataDirOf(values: { 'data-dir'?: string | undefined }): string {
  return values['data-dir'] ?? process.env.MQL_DATA_DIR ?? '.mql';
}

/** A file the command writes by default: `name` in the data directory (created when missing), as a path to print. */
export function defaultOutput(dataDir: string, name: string): string {
  mkdirSync(dataDir, { recursive: true });
  return join(dataDir, name);
}

/** Makes sure the directory `path` goes in exists (`--out some/dir/file`). */
export function ensureParent(path: string): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
}

/** Points the SDK and the pipeline at the running local stack, as the local stack does for its Lambdas. */
export function useLocalStack(dataDir: string): LocalStackInfo {
  const file = resolve(dataDir, 'stack.json');
  if (!existsSync(file)) fail(`no local stack is running (no ${file}); start one with \`npm start\`, or pass --aws`);
  const stack = JSON.parse(readFileSync(file, 'utf8')) as LocalStackInfo;
  process.env[tableNameEnv] = stack.tableName;
  for (const [queue, url] of Object.entries(stack.queueUrls)) process.env[queueUrlEnv(queue as 'handoff')] = url;
  for (const [queue, url] of Object.entries(stack.dlqUrls ?? {})) process.env[dlqUrlEnv(queue as 'handoff')] = url;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = stack.dynamoEndpoint;
  process.env.AWS_ENDPOINT_URL_SQS = stack.sqsEndpoint;
  process.env.AWS_REGION ??= 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  usePseudonymKey(localPseudonymKey(dataDir, false));
  return stack;
}

export function parseNow(value: string | undefined): Date {
  const now = value ? new Date(value) : new Date();
  if (Number.isNaN(now.getTime())) fail(`--now must be an ISO time, e.g. 2027-01-01T00:00:00Z (got ${value})`);
  return now;
}

/** `--since` of backtest, calibrate and report: undefined when not given. */
export function parseSince(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const since = new Date(value);
  if (Number.isNaN(since.getTime())) fail(`--since must be a date or ISO time, e.g. 2026-09-01 (got ${value})`);
  return since;
}

const durationUnits = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

/** A duration such as 365d, 12h, 90m or 2w in milliseconds; undefined when it is not one. */
export function durationMs(value: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([mhdw])$/.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * durationUnits[match[2] as keyof typeof durationUnits];
}

/** `--port N` (0: any free port); `fallback` when not given. */
export function parsePort(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) fail(`--port must be a port number (0 for any free one), got ${value}`);
  return port;
}

/**
 * The model in force (MQL_MODEL_PATH, or the default), checked before lib/ingest/from-env.ts is loaded:
 * that module checks it too when it is loaded (a Lambda's cold start) and prints a bad model's problems
 * itself before throwing, so a bad model found there would be printed twice. Here it is printed once.
 */
export async function checkModelInForce(): Promise<void> {
  const { loadModel } = await import('../lib/runtime/model-config.ts');
  const { ModelError } = await import('../lib/core/model.ts');
  try {
    loadModel();
  } catch (error) {
    if (error instanceof ModelError) fail(error.message);
    throw error;
  }
}

/** The pipeline the Lambdas build from their environment (table, handoff queue, model), after {@link checkModelInForce}. */
export async function pipeline(): Promise<Pipeline> {
  await checkModelInForce();
  const { pipelineFromEnv } = await import('../lib/ingest/from-env.ts');
  return pipelineFromEnv();
}

/** A model file, validated as MQL_MODEL_PATH is; a bad one stops the command with the path and what is wrong. */
export async function modelFile(path: string) {
  const { loadModel } = await import('../lib/runtime/model-config.ts');
  try {
    return loadModel({ MQL_MODEL_PATH: resolve(path) });
  } catch (error) {
    fail(`--model ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** What is wrong with the options given to `command`, on one line; undefined when nothing. `every`: all commands' options. */
function optionProblem(command: Command, argv: readonly string[], every: Options): string | undefined {
  const allowed: Options = { ...globalOptions, ...command.options };
  const { tokens } = parseArgs({ args: [...argv], options: every, allowPositionals: true, strict: false, tokens: true });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(allowed, token.name) ? allowed[token.name] : undefined;
    if (!spec) return `unknown option ${token.rawName}`;
    if (spec.type === 'string' && token.value === undefined) return `${token.rawName} needs a value`;
    if (spec.type === 'boolean' && token.inlineValue) return `${token.rawName} takes no value`;
  }
  return undefined;
}

/** Stops with `mql <verb>: <problem>` and the command's usage lines. */
function refuseOptions(command: Command, problem: string): never {
  process.stderr.write(`mql ${command.name}: ${problem}\nusage:\n${command.usage.map((line) => `  ${line}`).join('\n')}\n`);
  process.exit(1);
}

/**
 * The command's option values (booleans false when absent) and its positional arguments after the verb;
 * an option it does not take, a value missing or one too many stops it with its usage lines.
 * `every`: the options of every command, so an option of another verb is read as that verb would.
 */
export function parseCommandLine<O extends Options>(command: Command<O>, argv: readonly string[], every: Options): { values: Values<O>; args: string[] } {
  const problem = optionProblem(command, argv, every);
  if (problem) refuseOptions(command, problem);
  const options: Options = { ...globalOptions, ...command.options };
  const defaults = Object.fromEntries(Object.entries(options).flatMap(([name, spec]) => (spec.type === 'boolean' ? [[name, false]] : [])));
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true });
    return { values: { ...defaults, ...values } as Values<O>, args: positionals.slice(1) };
  } catch (error) {
    refuseOptions(command, (error as Error).message);
  }
}

/** The local stack the command works on, from the data directory's stack.json; none with `--aws` or for a command that needs none. */
export function stackFor(command: Command, aws: boolean, dataDir: string): LocalStackInfo | undefined {
  if (command.stack === 'none') return undefined;
  if (!aws) return useLocalStack(dataDir);
  if (command.stack === 'local') fail(`${command.name} works on the local stack only`);
  if (command.awsNeedsTable !== false && !process.env[tableNameEnv]) fail(`--aws needs ${tableNameEnv} (the stack's TableName output)`);
  return undefined;
}

/** The options of every job that walks the whole table (rescore, backtest, report, calibrate). */
export const walkOptions = { segments: { type: 'string' }, quiet: { type: 'boolean' } } as const satisfies Options;

/** Their line in the usage of those commands. */
export const walkUsage = '                      --segments N: parallel Scan segments (default one per GB of table, 1-16); --quiet: no progress line';

/**
 * How a table-walking job reads: its segments (`--segments N`, else sized to the table) and, on a
 * terminal without `--quiet`, a progress line on stderr rewritten in place (lib/jobs/progress.ts).
 */
export async function tableWalk(
  values: { segments?: string | undefined; quiet?: boolean },
  store: { tableEstimate(): Promise<{ items: number; bytes: number } | undefined> },
  label: string,
): Promise<{ segments: number; progress?: (leads: number, scanned: number) => void; finish(): void }> {
  const { defaultSegments } = await import('../lib/store/table-scan.ts');
  const { progressText } = await import('../lib/jobs/progress.ts');
  let segments: number | undefined;
  if (values.segments !== undefined) {
    segments = Number(values.segments);
    if (!Number.isInteger(segments) || segments < 1 || segments > 1000000) fail(`--segments must be a whole number from 1 (got ${values.segments})`);
  }
  const show = process.stderr.isTTY === true && !values.quiet;
  const estimate = show || segments === undefined ? await store.tableEstimate() : undefined;
  const started = performance.now();
  return {
    segments: segments ?? defaultSegments(estimate),
    ...(show
      ? {
          progress: (leads: number, scanned: number) =>
            process.stderr.write(
              `\r${progressText(label, { leads, scanned, tableItems: estimate?.items, seconds: (performance.now() - started) / 1000 })}\x1b[K`,
            ),
        }
      : {}),
    finish: () => {
      if (show) process.stderr.write('\n');
    },
  };
}

/**
 * With `--aws`, the deployment's PSEUDONYM_KEY (lib/runtime/pseudonym.ts), read from its secret through
 * MQL_SECRET_ARNS as the functions read it: the command's log lines name leads by the same references as the
 * functions' logs, and an erasure keys its tombstone with it. Only that secret is read.
 */
export async function useAwsPseudonymKey(): Promise<void> {
  const { secretArnsFrom } = await import('../lib/runtime/config.ts');
  let arns: ReturnType<typeof secretArnsFrom>;
  try {
    arns = secretArnsFrom();
  } catch (error) {
    fail((error as Error).message);
  }
  if (!arns.PSEUDONYM_KEY) {
    fail(`--aws needs ${secretArnsEnv} (the stack's SecretArns output): lead references and erasures are keyed with the PSEUDONYM_KEY it points to`);
  }
  await pseudonymKeyReady();
}
