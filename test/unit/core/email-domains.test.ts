/**
 * The maintained e-mail domain lists as lib/core/email-domains.ts reads them: their entries are taken as
 * they are (no work per entry on first use), so this checks, for the installed versions, the form that
 * relies on. A list update that breaks it fails here rather than missing domains silently.
 */
import { describe, expect, it } from 'vitest';
import { comparableDomain, emailDomainLists, onEmailDomainList } from '../../../lib/core/email-domains.ts';
import { classifyEmailDomain, defaultModel } from '../../../lib/core/index.ts';

describe('the maintained e-mail domain lists', () => {
  it('hold lower-case names without spaces or a trailing dot; the few in Unicode are internationalized names', () => {
    for (const [list, set] of Object.entries(emailDomainLists())) {
      expect(set.size, list).toBeGreaterThan(1000);
      const malformed = [...set].filter(
        (entry) => typeof entry !== 'string' || entry !== entry.trim().toLowerCase() || entry.endsWith('.') || !entry.includes('.'),
      );
      expect(malformed, list).toEqual([]);
      const unicode = [...set].filter((entry) => /[\u0080-\uffff]/.test(entry));
      for (const entry of unicode) expect(comparableDomain(entry), `${list}: ${entry}`).toMatch(/^[a-z0-9.-]*xn--[a-z0-9.-]+$/);
    }
  });

  it('an internationalized name a list holds in Unicode is found in either spelling of the address', () => {
    const unicode = [...emailDomainLists().disposable, ...emailDomainLists().personal].find((entry) => /[\u0080-\uffff]/.test(entry));
    expect(unicode).toBeDefined();
    const punycode = comparableDomain(unicode!);
    expect(onEmailDomainList(punycode, 'personal') || onEmailDomainList(punycode, 'disposable')).toBe(true);
    expect(classifyEmailDomain(`a@${unicode}`, defaultModel.domains)).toBe(classifyEmailDomain(`a@${punycode}`, defaultModel.domains));
    expect(['personal', 'disposable']).toContain(classifyEmailDomain(`a@${punycode}`, defaultModel.domains));
  });

  it('a reserved name is on no list, nor anything under it, though email-providers carries example.com', () => {
    expect(emailDomainLists().personal.has('example.com')).toBe(true);
    for (const domain of ['example.com', 'mg.example.com', 'example.org', 'acme.test', 'mail.example']) {
      expect(onEmailDomainList(domain, 'personal'), domain).toBe(false);
      expect(onEmailDomainList(domain, 'disposable'), domain).toBe(false);
    }
    expect(onEmailDomainList('mail.yahoo.co.uk', 'personal')).toBe(true);
    expect(onEmailDomainList('co.uk', 'personal')).toBe(false);
  });
});
