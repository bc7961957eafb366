import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Duration, Stack, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { emailDomainListFiles } from '../../lib/runtime/email-domain-lists.ts';

/** Properties of {@link MqlFunction}; everything not here is a house default. */
export interface MqlFunctionProps {
  /** Absolute path of the TypeScript file that exports `handler`. */
  readonly entry: string;
  /** Directory esbuild resolves imports and `package.json` "imports" from (the repository root). */
  readonly projectRoot: string;
  /** The lock file of {@link projectRoot}; pins which dependency versions get bundled. */
  readonly depsLockFilePath: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment?: Record<string, string>;
  /** Reserved concurrency (the most instances that run at once); undefined: the account's pool. */
  readonly reservedConcurrentExecutions?: number;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /**
   * The scoring model the function runs, as compact JSON (the operator's model file, cdk/config.ts), when it
   * is not the default model. The bundle's first line, after the house banner (the `require` shim ESM bundles
   * need), sets `process.env.MQL_MODEL_JSON` to it, and the default model is left out of the bundle
   * ({@link modelInBundleDefine}): lib/runtime/model-config.ts would never use it.
   */
  readonly modelJson?: string;
}

/**
 * esbuild `define` of a bundle that carries its model in its banner: `process.env.MQL_MODEL_IN_BUNDLE` is the
 * constant `"true"`, so lib/runtime/model-config.ts's branch to the default model is dead code and esbuild
 * drops it, with the default model's JSON. Banner rather than `define` for the model itself: define rewrites
 * only the literal expression, and lib/runtime/model-config.ts reads `MQL_MODEL_JSON` through an `env` parameter.
 */
export const modelInBundleDefine = { 'process.env.MQL_MODEL_IN_BUNDLE': '"true"' } as const;

/**
 * `require` for CommonJS dependencies bundled into an ESM file: some (the AWS SDK's transitive
 * ones among them) call `require('node:…')` at run time, which ESM does not define.
 */
const requireShim = "import{createRequire as __mqlCreateRequire}from'node:module';const require=__mqlCreateRequire(import.meta.url);";

/**
 * Context key (`cdk synth -c mql:bundleMetafile=true`): esbuild also writes `index.meta.json` (what each
 * input contributes to the bundle) next to each function's `index.mjs`. `npm run bench:bundles` sets it to
 * report what takes the bytes; never set it for a deployment (the file would be uploaded with the code).
 */
export const bundleMetafileContext = 'mql:bundleMetafile';

/**
 * A Lambda function with the house defaults, so every function of the stack is built and
 * observed the same way:
 * - bundled by the local esbuild (never Docker: synth must work on a laptop or CI runner
 *   without a daemon), minified, ESM with a `require` shim, source maps enabled at run time;
 * - Node.js 24 on arm64 (cheaper per GB-second than x86 for the same work);
 * - X-Ray tracing active;
 * - its own log group with a retention, and a role of its own that may write to that log group
 *   only (no AWS managed policy, which would allow writing to every log group of the account).
 */
export class MqlFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: MqlFunctionProps) {
    super(scope, id);

    // NodejsFunction silently falls back to Docker when esbuild is missing; fail clearly instead.
    if (Stack.of(this).bundlingRequired) requireLocalEsbuild(props.projectRoot);

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}: ${props.description}`.slice(0, 1000),
    });
    this.logGroup.grantWrite(this.role);

    const metafile = [true, 'true'].includes(this.node.tryGetContext(bundleMetafileContext));
    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: props.depsLockFilePath,
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      ...(props.reservedConcurrentExecutions === undefined ? {} : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      role: this.role,
      logGroup: this.logGroup,
      tracing: Tracing.ACTIVE,
      environment: {
        ...props.environment,
        // Stack traces then point into lib/ and lambdas/, not into the minified bundle.
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        // Prefer packages' ESM builds: they tree-shake, CommonJS builds do not.
        mainFields: ['module', 'main'],
        banner: requireShim + (props.modelJson === undefined ? '' : `process.env.MQL_MODEL_JSON=${JSON.stringify(props.modelJson)};`),
        ...(props.modelJson === undefined ? {} : { define: { ...modelInBundleDefine } }),
        minify: true,
        sourceMap: true,
        // The maps need names and lines, not a second copy of every source file.
        sourcesContent: false,
        // The SDK the runtime ships changes under a deployed function; bundling the one in
        // package-lock.json keeps Lambda on exactly the versions the tests ran against.
        bundleAwsSDK: true,
        forceDockerBundling: false,
        logLevel: LogLevel.WARNING,
        // Packages a function never runs, replaced in its bundle only (lib/ and bin/ run unbundled keep them).
        esbuildArgs: { '--alias': lambdaAliases(props.projectRoot) },
        // The Public Suffix List (tldts, 138 KB minified) is loaded beside the bundle, not inlined: only the account
        // functions use it (lib/core/account.ts), and inlined it would take them past the bundle size goal.
        externalModules: ['tldts'],
        // The e-mail domain lists are read on first use, not bundled (lib/runtime/email-domain-lists.ts): beside the bundle.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir, outputDir) => [
            ...emailDomainListCopies(props.projectRoot, outputDir),
            ...publicSuffixListCopy(props.projectRoot, outputDir),
          ],
        },
        ...(metafile ? { metafile: true } : {}),
      },
    });

    // X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions.
    // (test/cdk checks that no other statement of any role uses Resource "*".)
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only xray:PutTraceSegments and xray:PutTelemetryRecords (added by Tracing.ACTIVE) and, for the table stream\'s consumer, dynamodb:ListStreams (added by its event source) use Resource "*": neither X-Ray nor ListStreams supports resource-level permissions.',
    });
  }
}

/**
 * esbuild `--alias` values (`package=replacement`) of every function's bundle:
 * - `@aws-sdk/credential-provider-node`, the SDK's default credential chain (SSO, INI profiles, processes,
 *   web identity, instance metadata and the STS/SSO clients they need): Lambda's credentials are in the
 *   environment, so lib/runtime/lambda-credentials.ts, which reads only those, stands in for it;
 * - `@smithy/core/event-streams`, the SDK's event-stream codec, which no operation the functions call uses
 *   (lib/runtime/lambda-event-streams.ts says so if one ever does).
 * docs/benchmarks.md ("Cold start") has the bytes each saves.
 */
export function lambdaAliases(projectRoot: string): string[] {
  const runtime = join(projectRoot, 'lib', 'runtime');
  return [
    `@aws-sdk/credential-provider-node=${join(runtime, 'lambda-credentials.ts')}`,
    `@smithy/core/event-streams=${join(runtime, 'lambda-event-streams.ts')}`,
  ];
}

/**
 * Shell commands that copy the e-mail domain lists (lib/runtime/email-domain-lists.ts `emailDomainListFiles`) from
 * the project's node_modules into `node_modules/` beside a bundle, where the bundle's `require` finds them.
 * Read on first use rather than inlined: some 250 KB of lists would take every scoring function past its
 * bundle size goal (docs/benchmarks.md, "Cold start").
 */
export function emailDomainListCopies(projectRoot: string, outputDir: string): string[] {
  const resolve = createRequire(`${projectRoot.replace(/\/?$/, '/')}package.json`).resolve;
  const quoted = (path: string) => `'${path.replaceAll("'", "'\\''")}'`;
  return Object.values(emailDomainListFiles).map((file) => {
    const target = join(outputDir, 'node_modules', file);
    return `mkdir -p ${quoted(dirname(target))} && cp ${quoted(resolve(file))} ${quoted(target)}`;
  });
}

/**
 * Shell commands that put tldts's self-contained minified build at `node_modules/tldts/index.js` beside a bundle that
 * imports `tldts` (an external module, see the bundling options), where Node's resolution finds it; nothing for a
 * bundle that does not.
 */
export function publicSuffixListCopy(projectRoot: string, outputDir: string): string[] {
  const source = join(dirname(createRequire(`${projectRoot.replace(/\/?$/, '/')}package.json`).resolve('tldts/package.json')), 'dist', 'index.cjs.min.js');
  const quoted = (path: string) => `'${path.replaceAll("'", "'\\''")}'`;
  const target = join(outputDir, 'node_modules', 'tldts', 'index.js');
  return [
    `if grep -q 'from"tldts"' ${quoted(join(outputDir, 'index.mjs'))}; then mkdir -p ${quoted(dirname(target))} && cp ${quoted(source)} ${quoted(target)}; fi`,
  ];
}

/** Throws unless esbuild can be resolved from the project root, where NodejsFunction looks for it. */
function requireLocalEsbuild(projectRoot: string): void {
  try {
    createRequire(`${projectRoot.replace(/\/?$/, '/')}package.json`).resolve('esbuild');
  } catch {
    throw new Error(
      `esbuild is not installed under ${projectRoot}: run \`npm install\` (it is a devDependency). ` +
        'mql-engine bundles its functions locally and never falls back to Docker.',
    );
  }
}
