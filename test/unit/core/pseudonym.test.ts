import { describe, expect, it } from 'vitest';
import { identityDigest, leadReference, pseudonymizeText } from '../../../lib/core/pseudonym.ts';

const key = 'a-test-key-of-thirty-two-bytes!!';

describe('pseudonyms', () => {
  it('gives a lead one stable reference, whatever the case of its address, and another under another key', () => {
    expect(leadReference('Dana@Example.com', key)).toBe(leadReference('dana@example.com', key));
    expect(leadReference('dana@example.com', key)).toMatch(/^lead:[0-9a-f]{12}$/);
    expect(leadReference('dana@example.com', 'another key')).not.toBe(leadReference('dana@example.com', key));
  });

  it('never uses a log reference as a tombstone key', () => {
    expect(identityDigest('dana@example.com', key)).toHaveLength(64);
    expect(identityDigest('dana@example.com', key)).not.toContain(leadReference('dana@example.com', key).slice(5));
  });

  it('replaces addresses and phone numbers in free text, and leaves dates, counts and ids alone', () => {
    const text =
      'HubSpot 400: Contact already exists. Existing ID: 12345678901 for Dana.Smith+ads@ex-ample.co.uk; lead phone:+14155550123 (+1 415-555-0123) at 2026-12-06T21:00:00Z, 1733520000000 ms';
    const out = pseudonymizeText(text, key);
    expect(out).not.toMatch(/Dana|ex-ample|4155550123|415-555-0123/);
    expect(out).toContain(leadReference('dana.smith+ads@ex-ample.co.uk', key));
    expect(out).toContain(`lead ${leadReference('phone:+14155550123', key)} (${leadReference('phone:+14155550123', key)})`);
    expect(out).toContain('Existing ID: 12345678901');
    expect(out).toContain('2026-12-06T21:00:00Z, 1733520000000 ms');
  });
});
