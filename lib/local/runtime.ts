/**
 * A small stand-in for the Lambda runtime: loads `lambdas/<entry>.ts` lazily, gives each
 * invocation a Lambda-like context, enforces the function's timeout from the topology, and passes
 * the event and the result through JSON as Lambda does (so a handler that returns a Date or a
 * Map locally gets what it would get in AWS).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import type { FunctionSpec, HandlerName } from '../topology.ts';
import { functions, sourceHandlerModule } from '../topology.ts';
import { currentInvocation } from './invocation.ts';

/** Any Lambda handler: `(event, context) => result`, async or not. */
// biome-ignore lint/suspicious/noExplicitAny: the event type depends on the trigger
export type LambdaHandler = (event: any, context: Context) => unknown;

/**
 * Supplies the handler for a function. Returning undefined falls back to the default
 * (`lambdas/<entry>.ts`), so a test can replace some handlers and keep the real others.
 */
export type HandlerLoader = (name: HandlerName) => LambdaHandler | undefined | Promise<LambdaHandler | undefined>;

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const defaultCache = new Map<HandlerName, Promise<LambdaHandler>>();

/** Where a function's handler comes from: its file under lambdas/, or for a source the module generated for it. */
function handlerUrl(name: HandlerName): { url: string; what: string } {
  const spec: FunctionSpec = functions[name];
  // The same module text cdk/ bundles, imported from a data: URL with absolute file: imports.
  const generated = sourceHandlerModule(spec, (libPath) => pathToFileURL(join(repoRoot, 'lib', libPath)).href);
  if (generated !== undefined) {
    return { url: `data:text/javascript;base64,${Buffer.from(generated).toString('base64')}`, what: `the handler generated for ${name}` };
  }
  const file = join(repoRoot, 'lambdas', `${spec.entry}.ts`);
  if (!existsSync(file)) throw new Error(`lambdas/${spec.entry}.ts does not exist (function ${name})`);
  return { url: pathToFileURL(file).href, what: `lambdas/${spec.entry}.ts` };
}

/** The function's handler (`import(<repo>/lambdas/<entry>.ts)`, or a source's generated module) on first use. */
export function loadDefaultHandler(name: HandlerName): Promise<LambdaHandler> {
  let loaded = defaultCache.get(name);
  if (!loaded) {
    loaded = (async () => {
      const { url, what } = handlerUrl(name);
      const module = (await import(url)) as { handler?: unknown };
      if (typeof module.handler !== 'function') throw new Error(`${what} does not export a handler function`);
      return module.handler as LambdaHandler;
    })();
    // A failed import (a syntax error being fixed) is retried on the next request.
    loaded.catch(() => defaultCache.delete(name));
    defaultCache.set(name, loaded);
  }
  return loaded;
}

/** Why an invocation failed, as Lambda would report it (a function error or a timeout). */
export class InvocationError extends Error {
  readonly kind: 'error' | 'timeout';
  constructor(kind: 'error' | 'timeout', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvocationError';
    this.kind = kind;
  }
}

export interface InvokerOptions {
  readonly region: string;
  readonly loadHandler?: HandlerLoader;
  /** Called before every invocation: the stack puts its environment back in process.env. */
  readonly beforeInvoke?: () => void;
  /** Fail an invocation that runs longer than the function's timeout (default true). */
  readonly enforceTimeouts?: boolean;
  readonly log?: (message: string) => void;
}

export interface Invoker {
  /** Runs a handler like Lambda would; throws {@link InvocationError} on a function error or timeout. */
  invoke(name: HandlerName, event: unknown): Promise<unknown>;
  /** Invocations running right now. */
  readonly running: number;
}

export function createInvoker(options: InvokerOptions): Invoker {
  const log = options.log ?? ((message: string) => console.error(message));
  let running = 0;

  async function resolveHandler(name: HandlerName): Promise<LambdaHandler> {
    const custom = options.loadHandler ? await options.loadHandler(name) : undefined;
    return custom ?? (await loadDefaultHandler(name));
  }

  async function invoke(name: HandlerName, event: unknown): Promise<unknown> {
    const spec = functions[name];
    const functionName = `mql-${name}`;
    const timeoutMs = spec.timeoutSeconds * 1000;
    const deadline = Date.now() + timeoutMs;
    const awsRequestId = randomUUID();
    const notSupported = () => {
      throw new Error('context.done/fail/succeed are not supported by the Node.js 24 runtime; return or throw instead');
    };
    const context: Context = {
      callbackWaitsForEmptyEventLoop: true,
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${options.region}:000000000000:function:${functionName}`,
      memoryLimitInMB: String(spec.memoryMb),
      awsRequestId,
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]local`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: notSupported,
      fail: notSupported,
      succeed: notSupported,
    };

    running++;
    let timer: NodeJS.Timeout | undefined;
    try {
      options.beforeInvoke?.();
      const payload = roundTrip(event);
      const handler = await resolveHandler(name);
      const run = currentInvocation.run({ functionName: name }, () => Promise.resolve().then(() => handler(payload, context)));
      const timeout =
        options.enforceTimeouts === false
          ? new Promise<never>(() => {})
          : new Promise<never>((_, reject) => {
              timer = setTimeout(
                () => reject(new InvocationError('timeout', `${functionName} timed out after ${spec.timeoutSeconds} seconds (request ${awsRequestId})`)),
                timeoutMs,
              );
              timer.unref();
            });
      const result = await Promise.race([run, timeout]);
      return roundTrip(result ?? null);
    } catch (error) {
      if (error instanceof InvocationError) {
        log(`[local] ${error.message}`);
        throw error;
      }
      log(`[local] ${functionName} failed (request ${awsRequestId}): ${(error as Error)?.stack ?? String(error)}`);
      throw new InvocationError('error', `${functionName} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
      running--;
    }
  }

  return {
    invoke,
    get running() {
      return running;
    },
  };
}

/** Lambda hands events and results over as JSON. */
function roundTrip(value: unknown): unknown {
  if (value === undefined) return undefined;
  return JSON.parse(JSON.stringify(value)) as unknown;
}
