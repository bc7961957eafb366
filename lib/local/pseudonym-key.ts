/**
 * The local stack's PSEUDONYM_KEY (docs/data-protection.md): the environment's (.env) when set, else
 * one made on first start and kept in the data directory, so lead references in the logs and erasure
 * tombstones stay the same across restarts. A stack without a data directory makes a fresh one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export function pseudonymKeyFile(dataDir: string): string {
  return join(resolve(dataDir), 'pseudonym-key');
}

/** The key for a local stack or a command working on it; `create` false only reads. */
export function localPseudonymKey(dataDir: string | undefined, create = true): string | undefined {
  if (process.env.PSEUDONYM_KEY) return process.env.PSEUDONYM_KEY;
  if (dataDir === undefined) return create ? randomBytes(32).toString('base64url') : undefined;
  const file = pseudonymKeyFile(dataDir);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim() || undefined;
  if (!create) return undefined;
  const key = randomBytes(32).toString('base64url');
  mkdirSync(resolve(dataDir), { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
