/**
 * How the core looks a domain up in the maintained e-mail domain lists it is given (lib/core/email-domains.ts),
 * with small lists in hand: no file read. The installed lists themselves: test/unit/runtime/email-domain-lists.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { comparableDomain, emailDomainListSource, onEmailDomainList } from '../../../lib/core/email-domains.ts';
import { classifyEmailDomain } from '../../../lib/core/index.ts';
import { defaultModel, testEmailDomainLists } from '../../setup/model.ts';

describe('looking a domain up in the maintained lists', () => {
  it('an internationalized name a list holds in Unicode is found in either spelling of the address', () => {
    const punycode = comparableDomain('müllmail.de');
    expect(punycode).toBe('xn--mllmail-n2a.de');
    expect(onEmailDomainList(punycode, 'disposable', testEmailDomainLists)).toBe(true);
    expect(onEmailDomainList(`mx.${punycode}`, 'disposable', testEmailDomainLists)).toBe(true);
    expect(classifyEmailDomain('a@müllmail.de', defaultModel.domains)).toBe('disposable');
    expect(classifyEmailDomain(`a@${punycode}`, defaultModel.domains)).toBe('disposable');
  });

  it('a reserved name is on no list, nor anything under it, though a list carries example.com', () => {
    expect(testEmailDomainLists.entries().personal.has('example.com')).toBe(true);
    for (const domain of ['example.com', 'mg.example.com', 'example.org', 'acme.test', 'mail.example']) {
      expect(onEmailDomainList(domain, 'personal', testEmailDomainLists), domain).toBe(false);
      expect(onEmailDomainList(domain, 'disposable', testEmailDomainLists), domain).toBe(false);
    }
    expect(onEmailDomainList('mail.yahoo.co.uk', 'personal', testEmailDomainLists)).toBe(true);
    expect(onEmailDomainList('co.uk', 'personal', testEmailDomainLists)).toBe(false);
  });

  it('classifies by the lists the model was parsed with, and asks for their entries only when it classifies', () => {
    let asked = 0;
    const lists = emailDomainListSource('tiny@1', { personal: ['acme-mail.com'], disposable: [] });
    const counting = {
      version: lists.version,
      entries: () => {
        asked++;
        return lists.entries();
      },
    };
    const model = { domains: { ...defaultModel.domains, maintained: counting } };
    expect(asked).toBe(0);
    expect(classifyEmailDomain('a@acme-mail.com', model.domains)).toBe('personal');
    expect(classifyEmailDomain('a@gmail.com', model.domains)).toBe('work');
    expect(classifyEmailDomain('a@gmail.com', defaultModel.domains)).toBe('personal');
    expect(asked).toBeGreaterThan(0);
  });
});
