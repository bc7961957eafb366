/**
 * Pseudonyms for people, as pure functions of an identity and the deployment's key (PSEUDONYM_KEY,
 * docs/data-protection.md): a short lead reference for log lines, and a full digest for the
 * tombstone an erasure leaves. Both are keyed HMAC-SHA256, so whoever reads the logs cannot confirm a
 * guessed address by hashing it; each use has its own label, so a log reference is never a tombstone key.
 */
import { createHmac } from 'node:crypto';

/** E-mail addresses, as found inside free text (an error message, a quoted response body). */
const emailInText = /[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/gu;
/** Phone numbers as the engine keys them (`phone:+14155550123`) or in international form (+1 415-555-0123). */
const phoneInText = /(?:phone:)?\+\d[\d ().-]{6,}\d/g;

function keyed(label: string, value: string, key: string): string {
  return createHmac('sha256', key).update(`${label}\0${value}`).digest('hex');
}

/** The identity as a lead id or tombstone compares it: trimmed, lower case. */
export function canonicalIdentity(identity: string): string {
  return identity.trim().toLowerCase();
}

/** A stable pseudonymous reference to a lead for log lines, e.g. `lead:3f9a0c1b2d4e`. */
export function leadReference(leadId: string, key: string): string {
  return `lead:${keyed('lead-reference', canonicalIdentity(leadId), key).slice(0, 12)}`;
}

/** The key under which an erasure's tombstone is stored: the full keyed digest of the identity. */
export function identityDigest(identity: string, key: string): string {
  return keyed('erased-identity', canonicalIdentity(identity), key);
}

/** Counts digits, so a date or an id with a few digits is not taken for a phone number. */
function digitCount(text: string): number {
  let count = 0;
  for (const char of text) if (char >= '0' && char <= '9') count++;
  return count;
}

/**
 * The text with every e-mail address and phone number in it replaced by its lead reference: the last
 * guard of the logs, behind call sites that already log references. A phone number starts with `+` and
 * has 8 to 15 digits (E.164), which leaves dates, counts and ids alone.
 */
export function pseudonymizeText(text: string, key: string): string {
  if (!text) return text;
  let out = text.replace(emailInText, (address) => leadReference(address, key));
  out = out.replace(phoneInText, (found) => {
    const digits = digitCount(found);
    if (digits < 8 || digits > 15) return found;
    const normalized = `phone:+${found.replace(/\D/g, '')}`;
    return leadReference(normalized, key);
  });
  return out;
}
