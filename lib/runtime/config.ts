import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretKey } from '../topology.ts';
import { secretKeys } from '../topology.ts';

export type Secrets = Partial<Record<SecretKey, string>>;

/** How long a Lambda keeps the stored secret before reading it again, so a rotation lands within minutes. */
const secretMaxAgeMs = 5 * 60 * 1000;
let cached: { at: number; arn: string; stored: Secrets } | undefined;
let secretsManager: SecretsManagerClient | undefined;

/**
 * The operator contract's secrets. In AWS they are the keys of one Secrets Manager secret
 * (`MQL_SECRET_ARN`, set by CDK; re-read every 5 minutes); locally they come from the environment or
 * `.env`, read on every call.
 * An empty value counts as not configured, so its route answers 404.
 */
export async function getSecrets(now = Date.now()): Promise<Secrets> {
  const secrets: Secrets = {};
  for (const key of secretKeys) {
    const value = process.env[key];
    if (value) secrets[key] = value;
  }
  const arn = process.env.MQL_SECRET_ARN;
  if (arn) Object.assign(secrets, await storedSecrets(arn, now));
  return secrets;
}

async function storedSecrets(arn: string, now: number): Promise<Secrets> {
  if (cached && cached.arn === arn && now - cached.at < secretMaxAgeMs) return cached.stored;
  secretsManager ??= new SecretsManagerClient({});
  const answer = await secretsManager.send(new GetSecretValueCommand({ SecretId: arn }));
  const parsed = JSON.parse(answer.SecretString ?? '{}') as Record<string, unknown>;
  const stored: Secrets = {};
  for (const key of secretKeys) {
    const value = parsed[key];
    if (typeof value === 'string' && value !== '') stored[key] = value;
  }
  cached = { at: now, arn, stored };
  return stored;
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
