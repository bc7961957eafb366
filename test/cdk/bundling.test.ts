/**
 * The one test that bundles for real with the local esbuild (about 20 s for all functions):
 * each function's asset is an ESM file that Node loads and that exports `handler`, and a
 * model file given at synth is inside the bundle.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CfnElement } from 'aws-cdk-lib';
import { describe, expect, it, onTestFinished } from 'vitest';
import { functions, type HandlerName } from '../../lib/topology.ts';
import { synth } from './synth.ts';

describe('bundling', () => {
  it('bundles every function with esbuild into a loadable ESM file, with the model file inlined', { timeout: 180_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'mql-bundle-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const model = JSON.parse(readFileSync(fileURLToPath(new URL('../../lib/core/default-model.json', import.meta.url)), 'utf8'));
    model.name = 'bundling-test-model-7f3a';
    const modelPath = join(dir, 'model.json');
    writeFileSync(modelPath, JSON.stringify(model, null, 2));

    const outdir = join(dir, 'cdk.out');
    const { stack, template } = synth({ bundle: true, outdir, engine: { modelPath } });

    for (const name of Object.keys(functions) as HandlerName[]) {
      const id = stack.getLogicalId(stack.engine.functions[name].function.node.defaultChild as CfnElement);
      const key = template.toJSON().Resources[id].Properties.Code.S3Key as string;
      const assetDir = join(outdir, `asset.${key.replace(/\.zip$/, '')}`);
      const bundle = join(assetDir, 'index.mjs');
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
});
