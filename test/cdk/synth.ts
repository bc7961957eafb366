/**
 * Builds the stack for CDK tests. Bundling is skipped (context `aws:cdk:bundling-stacks` = [])
 * so a synth takes a second, not twenty; test/cdk/bundling.test.ts is the one real bundle.
 */
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { MqlEngineProps } from '../../cdk/constructs/mql-engine.ts';
import { MqlEngineStack } from '../../cdk/stack.ts';

export interface Synthesized {
  readonly app: App;
  readonly stack: MqlEngineStack;
  readonly template: Template;
}

export interface SynthOptions {
  readonly engine?: MqlEngineProps;
  /** Register cdk-nag the way cdk/app.ts does (synth then fails on an unacknowledged finding). */
  readonly nag?: boolean;
  /** Bundle for real with esbuild. */
  readonly bundle?: boolean;
  readonly outdir?: string;
  /** More context for the app (e.g. cdk/constructs/mql-function.ts `bundleMetafileContext`). */
  readonly context?: Record<string, unknown>;
}

/** A fresh app with the stack; `template` is synthesized lazily by the first access. */
export function buildStack(options: SynthOptions = {}): { app: App; stack: MqlEngineStack } {
  const app = new App({
    ...(options.outdir ? { outdir: options.outdir } : {}),
    context: { ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }), ...options.context },
  });
  const stack = new MqlEngineStack(app, 'Test', options.engine ? { engine: options.engine } : {});
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

export function synth(options: SynthOptions = {}): Synthesized {
  const { app, stack } = buildStack(options);
  return { app, stack, template: Template.fromStack(stack) };
}
