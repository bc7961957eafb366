/**
 * The installed maintained e-mail domain lists as lib/runtime/email-domain-lists.ts reads them: their entries
 * are taken as they are (no work per entry on first use), so this checks, for the installed versions, the form
 * that relies on. A list update that breaks it fails here rather than missing domains silently.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { accountOf } from '../../../lib/core/account.ts';
import { comparableDomain, onEmailDomainList } from '../../../lib/core/email-domains.ts';
import { classifyEmailDomain } from '../../../lib/core/fit.ts';
import { defaultModel } from '../../../lib/runtime/default-model.ts';
import { installedEmailDomainLists } from '../../../lib/runtime/email-domain-lists.ts';
import { installedListsVersion } from '../../setup/model.ts';

/** The default model's 32 personal domains before the maintained lists replaced them. */
const formerHandList = [
  ...['gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.co.uk', 'ymail.com', 'hotmail.com', 'hotmail.co.uk', 'outlook.com', 'live.com', 'msn.com'],
  ...['aol.com', 'icloud.com', 'me.com', 'mac.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.de', 'gmx.net', 'web.de', 'mail.com'],
  ...['yandex.com', 'yandex.ru', 'zoho.com', 'fastmail.com', 'hey.com', 'qq.com', '163.com', '126.com', 'naver.com', 'orange.fr', 'free.fr'],
];

describe('the installed e-mail domain lists', () => {
  it('the 32 domains of the former hand list are still personal, and form no account', () => {
    for (const domain of formerHandList) {
      expect(classifyEmailDomain(`dana@${domain}`, defaultModel.domains), domain).toBe('personal');
      expect(accountOf({ email: `dana@${domain}` }, defaultModel), domain).toBeUndefined();
    }
  });

  it('free-mail providers the hand list lacked are personal by the maintained list, subdomains included', () => {
    for (const email of ['dana@laposte.net', 'dana@libero.it', 'dana@rediffmail.com', 'dana@t-online.de', 'dana@mail.ru', 'dana@mail.yahoo.co.uk']) {
      expect(classifyEmailDomain(email, defaultModel.domains), email).toBe('personal');
      expect(accountOf({ email }, defaultModel), email).toBeUndefined();
    }
  });

  it('hold lower-case names without spaces or a trailing dot; the few in Unicode are internationalized names', () => {
    for (const [list, set] of Object.entries(installedEmailDomainLists.entries())) {
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
    const { disposable, personal } = installedEmailDomainLists.entries();
    const unicode = [...disposable, ...personal].find((entry) => /[\u0080-\uffff]/.test(entry));
    expect(unicode).toBeDefined();
    const punycode = comparableDomain(unicode!);
    expect(onEmailDomainList(punycode, 'personal', installedEmailDomainLists) || onEmailDomainList(punycode, 'disposable', installedEmailDomainLists)).toBe(
      true,
    );
    expect(classifyEmailDomain(`a@${unicode}`, defaultModel.domains)).toBe(classifyEmailDomain(`a@${punycode}`, defaultModel.domains));
    expect(['personal', 'disposable']).toContain(classifyEmailDomain(`a@${punycode}`, defaultModel.domains));
  });

  it('email-providers carries example.com, which stays a work address (RFC 2606)', () => {
    expect(installedEmailDomainLists.entries().personal.has('example.com')).toBe(true);
    expect(classifyEmailDomain('dana@example.com', defaultModel.domains)).toBe('work');
    expect(classifyEmailDomain('dana@mail.yahoo.co.uk', defaultModel.domains)).toBe('personal');
    expect(classifyEmailDomain('dana@mailinator.com', defaultModel.domains)).toBe('disposable');
  });

  it("their version is the installed packages', the one the unit tests' small lists carry, and part of the default model's", () => {
    const installed = (name: string) => JSON.parse(readFileSync(new URL(`../../../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
    expect(installedEmailDomainLists.version).toBe(
      `email-providers@${installed('email-providers')} disposable-email-domains-js@${installed('disposable-email-domains-js')}`,
    );
    expect(installedEmailDomainLists.version).toBe(installedListsVersion);
    expect(defaultModel.version).toBe('be5ac4fbb9e1');
  });
});
