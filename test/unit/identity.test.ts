import { describe, expect, it } from 'vitest';
import { isEmailLeadId, normalizePhone, phoneLeadId } from '../../lib/core/index.ts';
import { normalizePhone as facebookNormalizePhone } from '../../lib/sources/facebook.ts';

describe('naming a lead without an e-mail', () => {
  it('writes a phone number the same way whatever punctuation a source sends', () => {
    expect(phoneLeadId('+1 (415) 555-0123')).toBe('phone:+14155550123');
    expect(phoneLeadId('+1.415.555.0123')).toBe('phone:+14155550123');
    expect(phoneLeadId('0044 20 7946 0958')).toBe('phone:+442079460958');
    expect(phoneLeadId(' 415 555 0123 ')).toBe('phone:4155550123');
  });

  it('names nothing that is not a phone number', () => {
    expect(phoneLeadId(undefined)).toBeUndefined();
    expect(phoneLeadId('')).toBeUndefined();
    expect(phoneLeadId('12345')).toBeUndefined();
    expect(phoneLeadId('1234567890123456')).toBeUndefined();
    expect(phoneLeadId('call me maybe')).toBeUndefined();
  });

  it('is the one the Facebook source uses', () => {
    expect(facebookNormalizePhone).toBe(normalizePhone);
  });

  it('tells an e-mail lead from a provider key', () => {
    expect(isEmailLeadId('dana@example.com')).toBe(true);
    expect(isEmailLeadId('phone:+14155550123')).toBe(false);
    expect(isEmailLeadId('facebook:1039488223947372')).toBe(false);
    expect(isEmailLeadId('Dana@Example.com')).toBe(false);
  });
});
