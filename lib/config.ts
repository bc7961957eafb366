import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SecretKey } from './topology.ts';
import { secretKeys } from './topology.ts';

export type Secrets = Partial<Record<SecretKey, string>>;

/** How long a Lambda keeps the secret before reading it again, so a rotation lands within minutes. */
const secretMaxAgeMs = 5 * 60 * 1000;
let cached: { at: number; secrets: Secrets } | undefined;
let secretsManager: SecretsManagerClient | undefined;

/**
 * The operator contract's secrets. In AWS they are the keys of one Secrets Manager secret
 * (`MQL_SECRET_ARN`, set by CDK); locally they come from the environment or `.env`.
 * An empty value counts as not configured, so its route answers 404.
 */
export async function getSecrets(now = Date.now()): Promise<Secrets> {
  if (cached && now - cached.at < secretMaxAgeMs) return cached.secrets;
  const secrets: Secrets = {};
  for (const key of secretKeys) {
    const value = process.env[key];
    if (value) secrets[key] = value;
  }
  const arn = process.env.MQL_SECRET_ARN;
  if (arn) {
    secretsManager ??= new SecretsManagerClient({});
    const answer = await secretsManager.send(new GetSecretValueCommand({ SecretId: arn }));
    const stored = JSON.parse(answer.SecretString ?? '{}') as Record<string, unknown>;
    for (const key of secretKeys) {
      const value = stored[key];
      if (typeof value === 'string' && value !== '') secrets[key] = value;
    }
  }
  cached = { at: now, secrets };
  return secrets;
}

/** Forgets cached secrets; the local stack calls it when `.env` changes, tests between cases. */
export function resetSecretsCache(): void {
  cached = undefined;
}

/** A required setting of the environment, with a message that says what to set. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
