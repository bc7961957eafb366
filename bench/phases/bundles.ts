/**
 * Cold start: every Lambda function's bundle as `npm run synth` builds it, its size and its module-init
 * time. Part of `npm run bench` (BENCH_BUNDLES=0 skips it and keeps the previous figures), or on its own:
 * `npm run bench:bundles` (bench/bundles.ts). Needs no stack and no network.
 *
 * - The bundles: `npm run synth -- --output <tmp> --context mql:bundleMetafile=true`, the very command and
 *   construct (cdk/constructs/mql-function.ts) a deployment uses, cdk-nag included; the context only makes
 *   esbuild also write its metafile, from which the largest inputs of each bundle are reported.
 * - The baseline: bench/support/empty-handler.ts bundled by the same construct in this process.
 * - Module init: a fresh `node` per sample imports the bundle, with the function's NODE_OPTIONS from the
 *   template (source maps enabled, as deployed) and nothing else but PATH and a region; the time from
 *   before `import()` to its end. Median of `runs` processes per bundle (one round first, not counted,
 *   warms the file cache), minus the empty handler's median. The rounds go through the bundles in turn,
 *   so a burst of other work on the machine lands on several bundles rather than all samples of one.
 *   The goal is on that wall time. Next to it, the CPU time the process spent in the same span
 *   (`process.cpuUsage()`, all its threads): on a machine shared with other work the wall time grows with
 *   the load, the CPU time much less, so it is the steadier figure for comparing two builds.
 *
 * Goals (docs/benchmarks.md, "Cold start"): every bundle at most 400 KB (400,000 bytes) and at most 80 ms
 * over the empty handler.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { functions, type HandlerName } from '../../lib/topology.ts';
import type { BenchContext } from '../context.ts';
import { envInt } from '../support/env.ts';
import { benchDir, fmt, loadAverage, pad, readJson, resultsPath } from '../support/report.ts';
import { round } from '../support/stats.ts';

const repoRoot = join(benchDir, '..');
export const bundleGoals = { maxBytes: 400_000, maxInitOverEmptyMs: 80 } as const;

export interface BundleParams {
  /** Fresh processes per bundle whose median is taken. */
  runs: number;
}

export function bundleParams(env: NodeJS.ProcessEnv = process.env): BundleParams {
  return { runs: envInt('BENCH_BUNDLE_RUNS', 10, env) };
}

/** An input of a bundle and the bytes it left in it: a package, or a folder of the repository (`lib/core`). */
export interface BundleInput {
  input: string;
  bytes: number;
}

export interface BundleFigures {
  /** Size of index.mjs, the code Lambda loads (the source map next to it is read only with --enable-source-maps). */
  bytes: number;
  mapBytes: number;
  /** Median milliseconds of `import()` of the bundle in a fresh process. */
  initMs: number;
  initMinMs: number;
  initMaxMs: number;
  /** Median CPU milliseconds of the process during that `import()`. */
  initCpuMs: number;
  /** {@link initMs} minus the empty handler's: the goal's figure. */
  initOverEmptyMs: number;
  /** {@link initCpuMs} minus the empty handler's. */
  initCpuOverEmptyMs: number;
  /** The five largest inputs by bytes in the bundle (esbuild's metafile). */
  largest: BundleInput[];
}

export interface BundlesResult {
  date: string;
  node: string;
  command: string;
  nodeOptions: string;
  runs: number;
  goals: typeof bundleGoals;
  empty: Omit<BundleFigures, 'initOverEmptyMs' | 'initCpuOverEmptyMs' | 'largest'>;
  functions: Record<string, BundleFigures>;
  largestBytes: { function: string; bytes: number };
  slowestInit: { function: string; initOverEmptyMs: number };
  /** Functions within both goals, of all. */
  withinGoals: number;
  count: number;
  synthSeconds: number;
  machine: { cpus: number; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
}

interface BuiltBundle {
  file: string;
  meta: string | undefined;
  nodeOptions: string;
}

/** `npm run synth` into `outdir`, with esbuild's metafile; each function's bundle, by handler name. */
export async function synthBundles(outdir: string): Promise<{ bundles: Record<HandlerName, BuiltBundle>; command: string }> {
  const { pascal } = await import('../../cdk/constructs/mql-engine.ts');
  const args = ['run', '--silent', 'synth', '--', '--output', outdir, '--context', 'mql:bundleMetafile=true'];
  const synth = spawnSync('npm', args, {
    cwd: repoRoot,
    encoding: 'utf8',
    // The CDK app runs as `node cdk/app.ts`: this Node first on PATH (the machine's may be older).
    env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
  });
  if (synth.status !== 0) throw new Error(`npm run synth failed (${synth.status}): ${(synth.stderr || synth.stdout).trim().slice(-2000)}`);
  const templateFile = readdirSync(outdir).find((file) => file.endsWith('.template.json'));
  if (!templateFile) throw new Error(`npm run synth wrote no template into ${outdir}`);
  const resources = templateResources(join(outdir, templateFile));
  const bundles: Partial<Record<HandlerName, BuiltBundle>> = {};
  for (const name of Object.keys(functions) as HandlerName[]) {
    const suffix = `/Engine/${pascal(name)}/Function/Resource`;
    const resource = resources.find((candidate) => candidate.path?.endsWith(suffix));
    if (!resource) throw new Error(`the template has no function at …${suffix}`);
    bundles[name] = builtBundle(outdir, resource);
  }
  return { bundles: bundles as Record<HandlerName, BuiltBundle>, command: `npm ${args.join(' ')}`.replace(outdir, '<tmp>') };
}

/** The empty handler bundled by the functions' own construct, in this process. */
export async function emptyBundle(outdir: string): Promise<BuiltBundle> {
  const { App, Duration, Stack } = await import('aws-cdk-lib');
  const { MqlFunction, bundleMetafileContext } = await import('../../cdk/constructs/mql-function.ts');
  const app = new App({ outdir, context: { [bundleMetafileContext]: true } });
  const stack = new Stack(app, 'EmptyHandler');
  new MqlFunction(stack, 'Empty', {
    entry: join(benchDir, 'support', 'empty-handler.ts'),
    projectRoot: repoRoot,
    depsLockFilePath: join(repoRoot, 'package-lock.json'),
    description: 'the cold-start baseline',
    timeout: Duration.seconds(3),
    memorySize: 128,
  });
  app.synth();
  const resource = templateResources(join(outdir, 'EmptyHandler.template.json'))[0];
  if (!resource) throw new Error('the empty handler was not synthesized');
  return builtBundle(outdir, resource);
}

interface FunctionResource {
  path: string | undefined;
  s3Key: string;
  nodeOptions: string;
}

function templateResources(file: string): FunctionResource[] {
  const template = JSON.parse(readFileSync(file, 'utf8')) as {
    Resources: Record<
      string,
      { Type: string; Metadata?: Record<string, unknown>; Properties: { Code?: { S3Key?: string }; Environment?: { Variables?: Record<string, string> } } }
    >;
  };
  return Object.values(template.Resources)
    .filter((resource) => resource.Type === 'AWS::Lambda::Function')
    .map((resource) => ({
      path: resource.Metadata?.['aws:cdk:path'] as string | undefined,
      s3Key: String(resource.Properties.Code?.S3Key ?? ''),
      nodeOptions: String(resource.Properties.Environment?.Variables?.NODE_OPTIONS ?? ''),
    }));
}

function builtBundle(outdir: string, resource: FunctionResource): BuiltBundle {
  const dir = join(outdir, `asset.${resource.s3Key.replace(/\.zip$/, '')}`);
  const file = join(dir, 'index.mjs');
  if (!existsSync(file)) throw new Error(`no bundle at ${file}`);
  const meta = join(dir, 'index.meta.json');
  return { file, meta: existsSync(meta) ? meta : undefined, nodeOptions: resource.nodeOptions };
}

/** Milliseconds `import()` of the bundle takes in a fresh Node process with the function's NODE_OPTIONS: wall and CPU time. */
export function importMs(bundle: BuiltBundle): { ms: number; cpuMs: number } {
  const probe = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const started = performance.now();
       const cpu = process.cpuUsage();
       const module = await import(process.env.BENCH_BUNDLE_URL);
       const ms = performance.now() - started;
       const { user, system } = process.cpuUsage(cpu);
       if (typeof module.handler !== 'function') throw new Error('the bundle exports no handler');
       process.stdout.write(JSON.stringify({ ms, cpuMs: (user + system) / 1000 }));`,
    ],
    {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'eu-west-1',
        ...(bundle.nodeOptions ? { NODE_OPTIONS: bundle.nodeOptions } : {}),
        BENCH_BUNDLE_URL: pathToFileURL(bundle.file).href,
      },
    },
  );
  if (probe.status !== 0) throw new Error(`importing ${bundle.file} failed: ${probe.stderr.trim().slice(-1000)}`);
  return JSON.parse(probe.stdout) as { ms: number; cpuMs: number };
}

/** The largest inputs of a bundle from esbuild's metafile, grouped by package or repository folder. */
export function largestInputs(metafile: string, count = 5): BundleInput[] {
  const meta = JSON.parse(readFileSync(metafile, 'utf8')) as { outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }> };
  const code = Object.entries(meta.outputs).find(([file]) => file.endsWith('.mjs'))?.[1];
  const bytes = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(code?.inputs ?? {})) {
    const key = inputGroup(input);
    bytes.set(key, (bytes.get(key) ?? 0) + bytesInOutput);
  }
  return [...bytes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([input, size]) => ({ input, bytes: size }));
}

/** `node_modules/@aws-sdk/core/dist-es/…` -> `@aws-sdk/core`; `lib/core/model.ts` -> `lib/core`; `lambdas/decay.ts` stays. */
export function inputGroup(input: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (pkg) return pkg[1] as string;
  const parts = input.split('/').filter((part) => part !== '..' && part !== '.');
  const top = parts.findIndex((part) => ['lib', 'lambdas', 'cdk.out', 'bench'].includes(part));
  const rest = top < 0 ? parts : parts.slice(top);
  return rest.slice(0, rest[0] === 'lib' ? 2 : rest.length).join('/');
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** Builds every bundle and the baseline, then times `runs` fresh imports of each. */
export async function bundlesBench(params: BundleParams = bundleParams()): Promise<BundlesResult> {
  const loadAverageAtStart = loadAverage();
  const outdir = mkdtempSync(join(tmpdir(), 'mql-bundles-'));
  try {
    const started = performance.now();
    const { bundles, command } = await synthBundles(join(outdir, 'synth'));
    const synthSeconds = (performance.now() - started) / 1000;
    const empty = await emptyBundle(join(outdir, 'empty'));

    const names = Object.keys(bundles) as HandlerName[];
    const all: [string, BuiltBundle][] = [['(empty)', empty], ...names.map((name): [string, BuiltBundle] => [name, bundles[name]])];
    const samples = new Map<string, { ms: number; cpuMs: number }[]>(all.map(([name]) => [name, []]));
    for (let round = 0; round <= params.runs; round++) {
      for (let index = 0; index < all.length; index++) {
        const [name, bundle] = all[(index + round) % all.length] as [string, BuiltBundle];
        const sample = importMs(bundle);
        if (round > 0) samples.get(name)?.push(sample);
      }
    }

    const figures = (bundle: BuiltBundle, taken: { ms: number; cpuMs: number }[]) => {
      const times = taken.map((sample) => sample.ms);
      return {
        bytes: statSync(bundle.file).size,
        mapBytes: existsSync(`${bundle.file}.map`) ? statSync(`${bundle.file}.map`).size : 0,
        initMs: round(median(times), 1),
        initMinMs: round(Math.min(...times), 1),
        initMaxMs: round(Math.max(...times), 1),
        initCpuMs: round(median(taken.map((sample) => sample.cpuMs)), 1),
      };
    };
    const emptyFigures = figures(empty, samples.get('(empty)') ?? []);
    const perFunction: Record<string, BundleFigures> = {};
    for (const name of names) {
      const bundle = bundles[name];
      const own = figures(bundle, samples.get(name) ?? []);
      perFunction[name] = {
        ...own,
        initOverEmptyMs: round(own.initMs - emptyFigures.initMs, 1),
        initCpuOverEmptyMs: round(own.initCpuMs - emptyFigures.initCpuMs, 1),
        largest: bundle.meta ? largestInputs(bundle.meta) : [],
      };
    }
    const entries = Object.entries(perFunction);
    const largest = entries.reduce((a, b) => (b[1].bytes > a[1].bytes ? b : a));
    const slowest = entries.reduce((a, b) => (b[1].initOverEmptyMs > a[1].initOverEmptyMs ? b : a));
    return {
      date: new Date().toISOString(),
      node: process.version,
      command,
      nodeOptions: bundles[names[0] as HandlerName].nodeOptions,
      runs: params.runs,
      goals: bundleGoals,
      empty: emptyFigures,
      functions: perFunction,
      largestBytes: { function: largest[0], bytes: largest[1].bytes },
      slowestInit: { function: slowest[0], initOverEmptyMs: slowest[1].initOverEmptyMs },
      withinGoals: entries.filter(([, figures]) => withinGoals(figures)).length,
      count: entries.length,
      synthSeconds: round(synthSeconds, 1),
      machine: { cpus: cpus().length, loadAverageAtStart, loadAverageAtEnd: loadAverage() },
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const withinGoals = (figures: BundleFigures): boolean => figures.bytes <= bundleGoals.maxBytes && figures.initOverEmptyMs <= bundleGoals.maxInitOverEmptyMs;

/** A function over either goal. */
export function bundleErrors(result: BundlesResult): string[] {
  return Object.entries(result.functions)
    .filter(([, figures]) => !withinGoals(figures))
    .map(
      ([name, figures]) =>
        `bundles: ${name} is ${fmt(figures.bytes / 1000)} KB and ${fmt(figures.initOverEmptyMs)} ms over the empty handler (goals <= ${bundleGoals.maxBytes / 1000} KB, <= ${bundleGoals.maxInitOverEmptyMs} ms)`,
    );
}

const kb = (bytes: number) => fmt(bytes / 1000, 1);

/** The bench's printout: a row per function, ratios to the goals, the largest inputs. */
export function bundleLines(result: BundlesResult): string[] {
  const width = Math.max(...Object.keys(result.functions).map((name) => name.length), 8) + 2;
  const head = `${'function'.padEnd(width)}${pad('KB', 8)}${pad('÷ 400', 7)}${pad('init ms', 9)}${pad('over empty', 11)}${pad('÷ 80', 6)}${pad('cpu over empty', 16)}   largest inputs (KB)`;
  const rows = Object.entries(result.functions).map(
    ([name, figures]) =>
      `${name.padEnd(width)}${pad(kb(figures.bytes), 8)}${pad(fmt(figures.bytes / result.goals.maxBytes, 2), 7)}${pad(fmt(figures.initMs), 9)}${pad(fmt(figures.initOverEmptyMs), 11)}${pad(
        fmt(figures.initOverEmptyMs / result.goals.maxInitOverEmptyMs, 2),
        6,
      )}${pad(fmt(figures.initCpuOverEmptyMs), 16)}   ${figures.largest.map((input) => `${input.input} ${kb(input.bytes)}`).join(', ')}`,
  );
  return [
    `cold start: the ${result.count} Lambda bundles as \`npm run synth\` builds them (synth ${fmt(result.synthSeconds)} s); module init = import() in a fresh node ${result.node} with NODE_OPTIONS=${result.nodeOptions || '(none)'}, median of ${result.runs}`,
    `  empty handler ${kb(result.empty.bytes)} KB, init ${fmt(result.empty.initMs)} ms (min ${fmt(result.empty.initMinMs)}, max ${fmt(result.empty.initMaxMs)}; cpu ${fmt(result.empty.initCpuMs)} ms); goals: <= ${result.goals.maxBytes / 1000} KB and <= ${result.goals.maxInitOverEmptyMs} ms over empty`,
    head,
    ...rows,
    `  largest bundle ${result.largestBytes.function} ${kb(result.largestBytes.bytes)} KB (${fmt(result.largestBytes.bytes / result.goals.maxBytes, 2)} of the goal); slowest init ${result.slowestInit.function} ${fmt(result.slowestInit.initOverEmptyMs)} ms over empty (${fmt(result.slowestInit.initOverEmptyMs / result.goals.maxInitOverEmptyMs, 2)} of the goal); ${result.withinGoals} of ${result.count} functions within both goals`,
    `  load average ${result.machine.loadAverageAtStart.join('/')} at start, ${result.machine.loadAverageAtEnd.join('/')} at end on ${result.machine.cpus} cores (times are skewed by other work; sizes are not)`,
  ];
}

/** The phase inside `npm run bench`: after the stack has stopped (no Java competing for the cores). */
export async function bundlesInRun(ctx: BenchContext, env: NodeJS.ProcessEnv = process.env): Promise<{ bundles: unknown; lines: string[] }> {
  const previous = readJson(resultsPath)?.bundles ?? null;
  if (env.BENCH_BUNDLES === '0') return { bundles: previous, lines: [] };
  try {
    ctx.watchdog.arm(900, 'the cold-start phase is still running');
    const result = await bundlesBench(bundleParams(env));
    ctx.errors.push(...bundleErrors(result));
    return { bundles: result, lines: bundleLines(result) };
  } catch (error) {
    ctx.errors.push(`bundles: ${(error as Error).message}`);
    return { bundles: previous, lines: [] };
  }
}
