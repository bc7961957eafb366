/**
 * The models of the unit tests: the core's `parseModel` and the default model, with small e-mail domain lists
 * in hand instead of the installed ones (lib/runtime/email-domain-lists.ts), so a unit test of lib/core reads
 * no file. The lists hold the domains the tests name; their version is the installed lists' version
 * (test/unit/runtime/email-domain-lists.test.ts checks that it is), so model versions are those that run.
 * Integration tests use the installed lists (test/setup/installed-model.ts).
 */
import { defaultModelWith } from '../../lib/core/default-model.ts';
import { emailDomainListSource } from '../../lib/core/email-domains.ts';
import { parseModel as parseWithLists, type ScoringModel } from '../../lib/core/model.ts';

/** The version of the installed lists, which every model version includes (lib/core/model.ts `modelVersion`). */
export const installedListsVersion = 'email-providers@2.27.0 disposable-email-domains-js@1.26.0';

export const testEmailDomainLists = emailDomainListSource(installedListsVersion, {
  personal: [
    ...['gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.co.uk', 'ymail.com', 'hotmail.com', 'hotmail.co.uk', 'outlook.com', 'live.com', 'msn.com'],
    ...['aol.com', 'icloud.com', 'me.com', 'mac.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.de', 'gmx.net', 'web.de', 'mail.com'],
    ...['yandex.com', 'yandex.ru', 'zoho.com', 'fastmail.com', 'hey.com', 'qq.com', '163.com', '126.com', 'naver.com', 'orange.fr', 'free.fr'],
    // An internet provider's mail (a domain the model's `domains.work` can claim), and what email-providers also lists.
    ...['bt.com', 'example.com'],
    // A site that names no company (a page on it, `facebook.com/acme`, is no company's website), as email-providers lists it.
    'facebook.com',
  ],
  // A list may hold an internationalized name in Unicode, as disposable-email-domains-js does.
  disposable: ['mailinator.com', 'guerrillamail.com', '10minutemail.com', 'yopmail.com', 'müllmail.de'],
});

/** The core's `parseModel` with the tests' lists. */
export function parseModel(input: unknown, source?: string): ScoringModel {
  return parseWithLists(input, testEmailDomainLists, source);
}

/** The default model with the tests' lists: the same version as the one that runs. */
export const defaultModel: ScoringModel = defaultModelWith(testEmailDomainLists);
