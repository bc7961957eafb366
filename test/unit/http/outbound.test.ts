import { describe, expect, it } from 'vitest';
import { maxQuotedChars, quotedRedacted, redacted } from '../../../lib/http/outbound.ts';

describe('redacted: what a quoted CRM answer may still say in a log line', () => {
  it('hides e-mail addresses and phone numbers, however the service wrote them', () => {
    const text =
      'Property values were not valid: [{"isValid":false,"message":"Email address luis.ortega@example is invalid; dana.whitfield@example.com exists","error":"INVALID_EMAIL"}] call +1 415 555 0123 or (415) 555-0123 or 415.555.0123';
    const said = redacted(text);
    expect(said).not.toMatch(/ortega|whitfield|555/);
    expect(said).toContain('[email]');
    expect(said).toContain('[phone]');
    expect(said).toContain('INVALID_EMAIL');
  });

  it('hides the names and values it is told about, as whole words, whatever their case', () => {
    const said = redacted('DANA was not one of the allowed options for firstname; Dana Whitfield exists; VALIDATION_ERROR', ['Dana', 'Dana Whitfield']);
    expect(said).toBe('[redacted] was not one of the allowed options for firstname; [redacted] exists; VALIDATION_ERROR');
    // A short name does not eat into other words.
    expect(redacted('VALIDATION_ERROR: Al', ['Al'])).toBe('VALIDATION_ERROR: [redacted]');
  });

  it('keeps what is needed to debug: record ids, timestamps, dates, scores, correlation ids', () => {
    const text = 'contact 51234567890 at 1715678466000 on 2026-11-29, +20 points, correlationId 8c5d4b1e-2f3a-4c6b-9d7e-0a1b2c3d4e5f, Lead 00Q5e000000STAND';
    expect(redacted(text)).toBe(text);
  });

  it('quotes the redacted text, cut to the usual length', () => {
    expect(quotedRedacted('')).toBe('');
    expect(quotedRedacted('refused dana@example.com')).toBe(': refused [email]');
    const long = `${'x'.repeat(maxQuotedChars - 5)} dana.whitfield@example.com`;
    // Redacted before it is cut: a cut address would no longer look like one.
    expect(quotedRedacted(long)).not.toContain('dana');
  });
});
