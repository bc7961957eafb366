/**
 * How the stand-ins compare a credential they were given (a token, a client secret, a proof) with the one
 * they hold: in constant time, as the services they stand in for do, so a test of timing-safe code is not
 * answered by code that leaks.
 */
import { timingSafeEqual } from 'node:crypto';

/** Whether `given` is `expected`, compared in constant time for strings of the same length. */
export function sameText(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
