import { describe, expect, it } from 'vitest';
import { canonicalLeadId } from '../../../lib/core/identity.ts';
import { defaultModel, isEmailLeadId, normalizePhone, phoneLeadId } from '../../../lib/core/index.ts';
import { parseModel } from '../../../lib/core/model.ts';
import { normalizePhone as facebookNormalizePhone } from '../../../lib/sources/facebook.ts';

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

describe("e-mail folding is the model's choice", () => {
  const { version: _version, ...content } = defaultModel;
  const folding = parseModel({ ...content, identity: { stripPlusTags: true, gmailDots: true } });

  it('the default model folds nothing: plus tags and Gmail dots name other leads, and its version is unchanged', () => {
    expect(defaultModel.identity).toBeUndefined();
    expect(parseModel(content).version).toBe(defaultModel.version);
    expect(canonicalLeadId('dana+news@acme.com', defaultModel)).toBe('dana+news@acme.com');
    expect(canonicalLeadId('d.whitfield@gmail.com', defaultModel)).toBe('d.whitfield@gmail.com');
  });

  it('with stripPlusTags and gmailDots turned on, one mailbox is one lead', () => {
    expect(folding.version).not.toBe(defaultModel.version);
    expect(canonicalLeadId('dana+news@acme.com', folding)).toBe('dana@acme.com');
    expect(canonicalLeadId('d.whitfield+q4@googlemail.com', folding)).toBe('dwhitfield@gmail.com');
    // Dots matter outside Gmail; a leading plus is not a tag; provider keys are left alone.
    expect(canonicalLeadId('d.whitfield@acme.com', folding)).toBe('d.whitfield@acme.com');
    expect(canonicalLeadId('+dana@acme.com', folding)).toBe('+dana@acme.com');
    expect(canonicalLeadId('phone:+14155550123', folding)).toBe('phone:+14155550123');
    expect(canonicalLeadId('...@gmail.com', folding)).toBe('...@gmail.com');
  });
});
