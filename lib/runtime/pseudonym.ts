/**
 * The deployment's pseudonym key (secret `PSEUDONYM_KEY`, docs/data-protection.md) for this process:
 * the logger turns addresses and phone numbers into lead references with it, and erasure tombstones
 * are keyed by it. Read once per cold start through the common handler skeletons (lib/http/handler.ts,
 * lib/queue/consumer.ts); set directly by the command line and the local stack.
 */
import { identityDigest, leadReference, pseudonymizeText } from '../core/pseudonym.ts';
import { getSecrets } from './config.ts';

/** Used while no key is configured: references stay stable, but anyone can recompute them from a guessed address. */
const unkeyed = 'mql-engine-unkeyed';
let key: string | undefined;
let loading: Promise<void> | undefined;

/** Sets the key (the command line, the local stack, tests); an empty value means "none configured". */
export function usePseudonymKey(value: string | undefined): void {
  key = value || undefined;
  loading = Promise.resolve();
}

/** Whether a key is configured (an erasure refuses to leave a tombstone anyone could match without one). */
export function hasPseudonymKey(): boolean {
  return key !== undefined;
}

/** Reads `PSEUDONYM_KEY` from the secrets once per process; later calls wait for the same read. */
export function pseudonymKeyReady(): Promise<void> {
  // Only the pseudonym key's secret: `mql --aws` may be pointed at every secret, and needs no other.
  loading ??= getSecrets(Date.now(), ['PSEUDONYM_KEY'])
    .then((secrets) => {
      key = secrets.PSEUDONYM_KEY || process.env.PSEUDONYM_KEY || undefined;
    })
    .catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
  return loading;
}

/** The lead's reference for a log line, e.g. `lead:3f9a0c1b2d4e`. */
export function leadRef(leadId: string): string {
  return leadReference(leadId, key ?? unkeyed);
}

/** Addresses and phone numbers in `text` replaced by their lead references. */
export function pseudonymized(text: string): string {
  return pseudonymizeText(text, key ?? unkeyed);
}

/** The tombstone key of an identity; throws without a configured key. */
export function erasedIdentityKey(identity: string): string {
  if (key === undefined) throw new Error('PSEUDONYM_KEY is not set: an erasure needs it to key its tombstone (docs/data-protection.md)');
  return identityDigest(identity, key);
}
