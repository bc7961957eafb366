/**
 * The one test that bundles for real with the local esbuild (about 20 s for all functions):
 * each function's asset is an ESM file that Node loads and that exports `handler`, a model file given
 * at synth is inside the bundle, and each bundle holds no more than its function runs (issue 12, cold
 * start: docs/benchmarks.md).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CfnElement } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleMetafileContext } from '../../cdk/constructs/mql-function.ts';
import { emailDomainListFiles } from '../../lib/runtime/email-domain-lists.ts';
import { functions, type HandlerName } from '../../lib/topology.ts';
import { synth } from './synth.ts';

const names = Object.keys(functions) as HandlerName[];

/** Packages of the SDK's default credential chain that a function never runs: its credentials are in the environment. */
const credentialChain = [
  '@aws-sdk/credential-provider-node',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-http',
  '@aws-sdk/credential-provider-login',
  '@aws-sdk/nested-clients',
  '@aws-sdk/token-providers',
  '@smithy/credential-provider-imds',
];

describe('bundling', () => {
  let dir: string;
  const bundles = {} as Record<HandlerName, string>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mql-bundle-'));
    const model = JSON.parse(readFileSync(fileURLToPath(new URL('../../lib/core/default-model.json', import.meta.url)), 'utf8'));
    model.name = 'bundling-test-model-7f3a';
    const modelPath = join(dir, 'model.json');
    writeFileSync(modelPath, JSON.stringify(model, null, 2));

    const outdir = join(dir, 'cdk.out');
    // The metafile (esbuild's account of each input's bytes) is written next to each bundle.
    const { stack, template } = synth({ bundle: true, outdir, engine: { modelPath }, context: { [bundleMetafileContext]: true } });
    for (const name of names) {
      const id = stack.getLogicalId(stack.engine.functions[name].function.node.defaultChild as CfnElement);
      const key = template.toJSON().Resources[id].Properties.Code.S3Key as string;
      bundles[name] = join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');
    }
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('bundles every function with esbuild into a loadable ESM file, with the model file inlined', { timeout: 120_000 }, () => {
    for (const name of names) {
      const bundle = bundles[name];
      expect(existsSync(bundle), `${name}: ${bundle}`).toBe(true);
      expect(existsSync(`${bundle}.map`), `${name}: source map`).toBe(true);

      const code = readFileSync(bundle, 'utf8');
      expect(code.startsWith("import{createRequire as __mqlCreateRequire}from'node:module';"), `${name}: require shim first`).toBe(true);
      expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/);
      expect(code).toContain('bundling-test-model-7f3a');

      // Loaded by Node as an ES module, as the nodejs24.x runtime does with index.mjs.
      const probe = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(bundle)});
           console.log(JSON.stringify({ handler: typeof m.handler, model: JSON.parse(process.env.MQL_MODEL_JSON).name }));`,
        ],
        { encoding: 'utf8', env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1' } },
      );
      expect(probe.stderr, name).toBe('');
      expect(JSON.parse(probe.stdout.trim().split('\n').at(-1) ?? '{}'), name).toEqual({
        handler: 'function',
        model: 'bundling-test-model-7f3a',
      });
    }
  });

  it("puts the e-mail domain lists beside every bundle, where the bundle's own require finds them", () => {
    for (const name of names) {
      const asset = join(bundles[name], '..');
      // The bundle reads them through createRequire(import.meta.url) (lib/runtime/email-domain-lists.ts): the same resolution.
      const fromBundle = createRequire(bundles[name]);
      for (const file of Object.values(emailDomainListFiles)) {
        expect(fromBundle.resolve(file).startsWith(`${asset}/node_modules/`), `${name}: ${file}`).toBe(true);
      }
      expect(fromBundle(emailDomainListFiles.personal), name).toContain('gmail.com');
      expect(fromBundle(emailDomainListFiles.disposable), name).toContain('mailinator.com');
    }
  });

  it('keeps every bundle within 400 KB, with the environment as the only credential provider and no code its function never runs', () => {
    for (const name of names) {
      const bundle = bundles[name];
      expect(statSync(bundle).size, `${name}: bytes of index.mjs`).toBeLessThanOrEqual(400_000);

      const meta = JSON.parse(readFileSync(join(bundle, '..', 'index.meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
      const inputs = Object.keys(meta.inputs);
      const packages = new Set(inputs.flatMap((input) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? []));
      // The SDK clients find Lambda's credentials in the environment (lib/runtime/lambda-credentials.ts).
      expect(packages.has('@aws-sdk/credential-provider-env'), `${name}: environment credentials`).toBe(true);
      expect(
        credentialChain.filter((pkg) => packages.has(pkg)),
        `${name}: the default credential chain`,
      ).toEqual([]);
      // zod's tree-shakable API (lib/core/zod.ts); no event-stream codec (lib/runtime/lambda-event-streams.ts).
      expect(
        inputs.filter((input) => input.includes('node_modules/zod/v4/classic/')),
        `${name}: zod's classic API`,
      ).toEqual([]);
      expect(
        inputs.filter((input) => input.includes('/submodules/event-streams/')),
        `${name}: the SDK's event-stream codec`,
      ).toEqual([]);
    }
    // The e-mail domain lists and the Public Suffix List are never inlined (lib/runtime/email-domain-lists.ts, lib/core/account.ts).
    for (const name of names) {
      const inputs = Object.keys(
        (JSON.parse(readFileSync(join(bundles[name], '..', 'index.meta.json'), 'utf8')) as { inputs: Record<string, unknown> }).inputs,
      );
      expect(
        inputs.filter((input) => /node_modules\/(email-providers|disposable-email-domains-js|tldts|tldts-core)\//.test(input)),
        `${name}: lists inlined`,
      ).toEqual([]);
    }
    // A bundle built with the operator's model carries it once, in its banner, and no default model
    // (cdk/constructs/mql-function.ts `modelInBundleDefine`): the default one would never run there.
    // (esbuild reads the default model, then drops it: what counts is what it put into index.mjs.)
    for (const name of names) {
      const meta = JSON.parse(readFileSync(join(bundles[name], '..', 'index.meta.json'), 'utf8')) as {
        outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
      };
      const code = Object.entries(meta.outputs).find(([output]) => output.endsWith('.mjs'))![1];
      expect(
        Object.entries(code.inputs)
          .filter(([input, { bytesInOutput }]) => bytesInOutput > 0 && /lib\/(core|runtime)\/default-model\.(json|ts)$/.test(input))
          .map(([input]) => input),
        `${name}: the default model`,
      ).toEqual([]);
      expect(readFileSync(bundles[name], 'utf8').split('bundling-test-model-7f3a').length - 1, `${name}: copies of the model`).toBe(1);
    }
    // The handoff never scores: no scoring model, no zod (lib/handoff/ledger-from-env.ts).
    const handoff = Object.keys(
      (JSON.parse(readFileSync(join(bundles.handoff, '..', 'index.meta.json'), 'utf8')) as { inputs: Record<string, unknown> }).inputs,
    );
    expect(handoff.filter((input) => input.endsWith('lib/core/model.ts') || input.includes('node_modules/zod/'))).toEqual([]);
  });
});
