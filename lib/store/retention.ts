/**
 * How long the store keeps what it writes (docs/data-protection.md, "Retention"), from the environment:
 * `RAW_RETENTION_DAYS` (raw payloads, 30 days), `EVENT_RETENTION_DAYS` (event items, for good unless
 * set), `HANDOFF_RETENTION_DAYS` (handoff summaries and CRM links, for good unless set) and
 * `ANONYMOUS_RETENTION_DAYS` (a visitor's history not yet tied to a person, 90 days; lib/core/identity.ts). Applied as
 * DynamoDB TTL on the items as they are written; a change applies to items written from then on.
 */
import type { LeadStoreOptions } from './table.ts';

export const defaultRawRetentionDays = 30;

/**
 * The least `HANDOFF_RETENTION_DAYS`: longer than a handoff can wait (4 days on the queue, 14 in its
 * dead-letter queue before `mql redrive`), so a late one still finds the newer handoff delivered before
 * it and is set aside, not sent to put the CRM back to a stale state (lib/handoff/consumer.ts).
 */
export const minHandoffRetentionDays = 30;

type Env = Readonly<Record<string, string | undefined>>;

function days(env: Env, name: string, least: number): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < least) throw new Error(`${name} must be a whole number of days >= ${least}, got ${JSON.stringify(text)}`);
  return value;
}

/** The retention settings of the store, checked: a bad value is refused with the setting's name (cdk synth checks the same). */
export function retentionFromEnv(
  env: Env = process.env,
): Pick<LeadStoreOptions, 'rawRetentionDays' | 'eventRetentionDays' | 'handoffRetentionDays' | 'anonymousRetentionDays'> {
  const event = days(env, 'EVENT_RETENTION_DAYS', 1);
  const handoff = days(env, 'HANDOFF_RETENTION_DAYS', minHandoffRetentionDays);
  const anonymous = days(env, 'ANONYMOUS_RETENTION_DAYS', 1);
  return {
    rawRetentionDays: days(env, 'RAW_RETENTION_DAYS', 1) ?? defaultRawRetentionDays,
    ...(anonymous === undefined ? {} : { anonymousRetentionDays: anonymous }),
    ...(event === undefined ? {} : { eventRetentionDays: event }),
    ...(handoff === undefined ? {} : { handoffRetentionDays: handoff }),
  };
}
