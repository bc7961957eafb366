/** `mql secrets`: see and set the secret keys, in AWS (each in its group's secret) or locally (.env); never prints a value. */
import { readFileSync } from 'node:fs';
import { defineCommand, fail } from '../cli.ts';

/** The stack's LegacySecretArn output: the single secret of earlier releases, for `secrets migrate`. */
export const legacySecretArnEnv = 'MQL_LEGACY_SECRET_ARN';

export const secrets = defineCommand({
  name: 'secrets',
  group: 'the AWS stack',
  usage: [
    'secrets list [--aws]  each secret key and whether it is set (never its value): with --aws, in the secret the stack keeps',
    '                      it in (MQL_SECRET_ARNS, the SecretArns output); without, in the environment or .env',
    'secrets set KEY=VALUE ... --aws',
    "                      write keys into their secrets (a secret's other keys are kept; KEY= removes one; KEY=- reads the",
    "                      value from standard input); whsec_ keys must decode to 24+ bytes; PSEUDONYM_KEY is the stack's own",
    'secrets migrate --aws copy the keys of the single secret of earlier releases (MQL_LEGACY_SECRET_ARN, the LegacySecretArn',
    '                      output) into the per-group secrets; keys already set there are kept',
  ],
  options: {},
  stack: 'none',
  async run({ args, values }) {
    const [verb, ...rest] = args;
    const { secretKeys, secretGroupOf } = await import('../../lib/topology.ts');
    const { textTable } = await import('../../lib/jobs/text-table.ts');
    if (verb === 'list' && rest.length === 0 && !values.aws) {
      const rows = secretKeys.map((key) => [key, process.env[key] ? 'yes' : 'no']);
      process.stdout.write(`${[...textTable(['key', 'set (environment or .env)'], rows, new Set()).lines, ''].join('\n')}`);
      return;
    }
    if (verb !== 'list' && verb !== 'set' && verb !== 'migrate') fail('usage: mql secrets list|set KEY=VALUE ...|migrate [--aws] (mql --help)');
    if (!values.aws) fail(`secrets ${verb} works on the AWS stack (--aws); locally the secrets are lines of .env`);
    const { secretArnsFrom } = await import('../../lib/runtime/config.ts');
    const arns = secretArnsFrom();
    if (Object.keys(arns).length === 0) fail("--aws needs MQL_SECRET_ARNS: the stack's SecretArns output (a JSON object of key -> secret ARN)");
    const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    const { listSecretKeys, migrateSecretKeys, parseAssignments, secretsManagerStore, setSecretKeys } = await import('../../lib/jobs/secrets.ts');
    const store = secretsManagerStore(new SecretsManagerClient({}));
    if (verb === 'list') {
      if (rest.length > 0) fail('usage: mql secrets list [--aws]');
      const rows = (await listSecretKeys(arns, store)).map((state) => [state.key, state.group, state.set ? 'yes' : 'no']);
      process.stdout.write(`${[...textTable(['key', 'secret', 'set'], rows, new Set()).lines, ''].join('\n')}`);
      return;
    }
    if (verb === 'migrate') {
      if (rest.length > 0) fail('usage: mql secrets migrate --aws');
      const legacy = process.env[legacySecretArnEnv] || fail(`secrets migrate needs ${legacySecretArnEnv}: the stack's LegacySecretArn output`);
      const { copied, alreadySet } = await migrateSecretKeys(legacy, arns, store);
      process.stdout.write(
        `copied ${copied.length} key(s)${copied.length ? `: ${copied.join(', ')}` : ''}\n` +
          (alreadySet.length ? `kept ${alreadySet.length} key(s) already set in their secrets: ${alreadySet.join(', ')}\n` : ''),
      );
      return;
    }
    const fromInput = rest.filter((arg) => arg.endsWith('=-'));
    if (fromInput.length > 1) fail('only one KEY=- may read its value from standard input');
    let assignments: ReturnType<typeof parseAssignments>;
    try {
      const given = rest.map((arg) => (arg.endsWith('=-') ? `${arg.slice(0, -1)}${readFileSync(0, 'utf8').replace(/\r?\n$/, '')}` : arg));
      assignments = parseAssignments(given);
    } catch (error) {
      fail((error as Error).message);
    }
    const written = await setSecretKeys(assignments, arns, store);
    for (const keys of written.values()) {
      const removed = keys.filter((key) => assignments.some(([name, value]) => name === key && value === ''));
      const set = keys.filter((key) => !removed.includes(key));
      process.stdout.write(
        `secret ${secretGroupOf(keys[0]!)}: ${[set.length ? `set ${set.join(', ')}` : '', removed.length ? `removed ${removed.join(', ')}` : ''].filter(Boolean).join('; ')}\n`,
      );
    }
    process.stdout.write('functions read their secrets again within 5 minutes\n');
  },
});
