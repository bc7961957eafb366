import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretKey } from '../topology.ts';
import { secretArnsEnv, secretKeys } from '../topology.ts';

export type Secrets = Partial<Record<SecretKey, string>>;

/** How long a Lambda keeps a stored secret before reading it again, so a rotation lands within minutes. */
const secretMaxAgeMs = 5 * 60 * 1000;
/** Each secret's keys as last read, by ARN. */
const cached = new Map<string, { at: number; stored: Record<string, unknown> }>();
let secretsManager: SecretsManagerClient | undefined;

/**
 * Where each key is stored in AWS: `MQL_SECRET_ARNS`, the JSON object `{"<key>": "<secret ARN>"}` the stack
 * sets for a function (only the keys it may read) and outputs for `mql --aws` (`SecretArns`). Empty when unset
 * (locally). Throws on a value that is not such an object: a deployment mistake, not "no secrets".
 */
export function secretArnsFrom(env: Readonly<Record<string, string | undefined>> = process.env): Partial<Record<SecretKey, string>> {
  const raw = env[secretArnsEnv];
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${secretArnsEnv} must be a JSON object of secret key -> secret ARN (the stack's SecretArns output), and is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${secretArnsEnv} must be a JSON object of secret key -> secret ARN (the stack's SecretArns output)`);
  }
  const arns: Partial<Record<SecretKey, string>> = {};
  for (const [key, arn] of Object.entries(parsed)) {
    if (!(secretKeys as readonly string[]).includes(key)) throw new Error(`${secretArnsEnv} names ${key}, which is not a secret key of the operator contract`);
    if (typeof arn !== 'string' || arn === '') throw new Error(`${secretArnsEnv}: the ARN of ${key} must be a non-empty string`);
    arns[key as SecretKey] = arn;
  }
  return arns;
}

/**
 * The operator contract's secrets. In AWS each key is a key of the JSON object in its group's Secrets Manager
 * secret (lib/topology.ts `secretGroups`), found through `MQL_SECRET_ARNS`; a function reads only the secrets
 * it is given, each re-read every 5 minutes. Locally they come from the environment or `.env`, read on every call.
 * An empty value counts as not configured, so its route answers 404.
 *
 * @param keys - the keys wanted (default every key): only the secrets holding them are read.
 */
export async function getSecrets(now = Date.now(), keys: readonly SecretKey[] = secretKeys): Promise<Secrets> {
  const secrets: Secrets = {};
  for (const key of keys) {
    const value = process.env[key];
    if (value) secrets[key] = value;
  }
  const arns = secretArnsFrom();
  const byArn = new Map<string, SecretKey[]>();
  for (const key of keys) {
    const arn = arns[key];
    if (arn) byArn.set(arn, [...(byArn.get(arn) ?? []), key]);
  }
  const read = await Promise.all([...byArn].map(async ([arn, held]) => ({ held, stored: await storedSecret(arn, now) })));
  for (const { held, stored } of read) {
    for (const key of held) {
      const value = stored[key];
      if (typeof value === 'string' && value !== '') secrets[key] = value;
    }
  }
  return secrets;
}

/** The JSON object of one secret, cached for {@link secretMaxAgeMs}. */
async function storedSecret(arn: string, now: number): Promise<Record<string, unknown>> {
  const hit = cached.get(arn);
  if (hit && now - hit.at < secretMaxAgeMs) return hit.stored;
  secretsManager ??= new SecretsManagerClient({});
  const answer = await secretsManager.send(new GetSecretValueCommand({ SecretId: arn }));
  let stored: Record<string, unknown>;
  try {
    const parsed = JSON.parse(answer.SecretString ?? '{}') as unknown;
    stored = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    // Never quote the value: it is a secret.
    throw new Error(`the secret ${arn} does not hold a JSON object of keys (set it with \`mql secrets set KEY=VALUE --aws\`)`);
  }
  cached.set(arn, { at: now, stored });
  return stored;
}

/** Forgets the secrets read so far and the client (tests that point at another Secrets Manager endpoint). */
export function resetSecretsCache(): void {
  cached.clear();
  secretsManager?.destroy();
  secretsManager = undefined;
}

/** A required setting of the environment, with a message that says what to set. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** A setting that is a number of at least 0 (a delay in seconds, say); unset, empty or anything else: `fallback`. */
export function nonNegativeNumberFromEnv(env: Readonly<Record<string, string | undefined>>, name: string, fallback: number): number {
  const raw = env[name];
  const value = Number(raw);
  return raw !== undefined && raw !== '' && Number.isFinite(value) && value >= 0 ? value : fallback;
}
