/**
 * A Lambda bundle's SDK clients read credentials from the environment only, the way Lambda hands them the
 * execution role's (lib/runtime/lambda-credentials.ts, aliased in by cdk/constructs/mql-function.ts): no
 * profile, SSO or instance-metadata lookup is bundled or run. The same code unbundled, as `mql --aws` runs
 * it on an operator's machine, keeps the SDK's whole default chain.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { App, Duration, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqlFunction } from '../../cdk/constructs/mql-function.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const environmentKey = 'AKIAENVIRONMENTKEY01';
const profileKey = 'AKIAPROFILEKEY000001';

describe('credentials in a Lambda bundle', () => {
  let dir: string;
  let bundle: string;
  /** A home directory whose ~/.aws/credentials has a default profile: what an operator's machine has. */
  let home: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mql-credentials-'));
    home = join(dir, 'home');
    mkdirSync(join(home, '.aws'), { recursive: true });
    writeFileSync(join(home, '.aws', 'credentials'), `[default]\naws_access_key_id = ${profileKey}\naws_secret_access_key = profile-secret\n`);

    const app = new App({ outdir: join(dir, 'cdk.out') });
    const stack = new Stack(app, 'Probe');
    const probe = new MqlFunction(stack, 'Probe', {
      entry: join(repoRoot, 'test', 'cdk', 'credentials-probe.ts'),
      projectRoot: repoRoot,
      depsLockFilePath: join(repoRoot, 'package-lock.json'),
      description: 'credentials probe',
      timeout: Duration.seconds(3),
      memorySize: 128,
    });
    app.synth();
    const template = JSON.parse(readFileSync(join(dir, 'cdk.out', 'Probe.template.json'), 'utf8'));
    const key = template.Resources[stack.getLogicalId(probe.function.node.defaultChild as CfnFunction)].Properties.Code.S3Key as string;
    bundle = join(dir, 'cdk.out', `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `code` in a fresh Node with only these variables (no AWS_* of the machine running the tests). */
  function run(code: string, env: Record<string, string>): Record<string, string> {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: home, AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true', ...env },
      timeout: 30_000,
    });
    expect(child.stderr).toBe('');
    return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}');
  }
  const probeBundle = () => `const m = await import(${JSON.stringify(pathToFileURL(bundle).href)}); console.log(JSON.stringify(await m.handler()));`;

  it('gives every client the environment credentials Lambda sets', () => {
    const found = run(probeBundle(), { AWS_ACCESS_KEY_ID: environmentKey, AWS_SECRET_ACCESS_KEY: 'environment-secret', AWS_SESSION_TOKEN: 'token' });
    expect({ dynamodb: found.dynamodb, sqs: found.sqs, secretsManager: found.secretsManager }).toEqual({
      dynamodb: environmentKey,
      sqs: environmentKey,
      secretsManager: environmentKey,
    });
  });

  it('looks nowhere else: without environment credentials a profile on disk is not read', () => {
    const found = run(probeBundle(), {});
    for (const client of ['dynamodb', 'sqs', 'secretsManager']) expect(found[client], client).toMatch(/^refused: .*environment variable credentials/);
  });

  it('has no event-stream codec: an operation that needed one would say so', () => {
    expect(run(probeBundle(), {}).eventStreams).toMatch(/^refused: AWS SDK event streams are not bundled into mql-engine functions/);
  });

  it('leaves unbundled code, as `mql --aws` runs it, with the default chain: the profile is found', () => {
    const aws = pathToFileURL(join(repoRoot, 'lib', 'runtime', 'aws.ts')).href;
    const found = run(
      `const { dynamo, sqs } = await import(${JSON.stringify(aws)});
       const keys = {};
       for (const [name, client] of Object.entries({ dynamodb: dynamo(), sqs: sqs() })) keys[name] = (await client.config.credentials()).accessKeyId;
       console.log(JSON.stringify(keys));`,
      {},
    );
    expect(found).toEqual({ dynamodb: profileKey, sqs: profileKey });
  });
});
