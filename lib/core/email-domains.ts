import { domainToASCII, domainToUnicode } from 'node:url';

/**
 * The maintained lists of e-mail domains that name no company (docs/accounts.md, "The lists"):
 * - free and webmail providers (gmail.com, yahoo.co.uk, web.de, ...): the npm package `email-providers`;
 * - disposable (throwaway) address services (mailinator.com, ...): `disposable-email-domains-js`, the
 *   community `disposable-email-domains` blocklist.
 * A model's own `domains` lists add to them (lib/core/fit.ts `classifyEmailDomain`).
 *
 * The core reads no file: the lists come in as an {@link EmailDomainListSource}, given to `parseModel`
 * (lib/core/model.ts) and carried by the parsed model as `domains.maintained`. lib/runtime/email-domain-lists.ts
 * is the source of the installed packages, read the first time an address is classified; a unit test gives
 * small lists of its own.
 */

/** The lists, as sets of their entries: lower-case names, a few internationalized ones in Unicode. */
export interface EmailDomainLists {
  personal: ReadonlySet<string>;
  disposable: ReadonlySet<string>;
}

/**
 * Where the maintained lists come from. `version` (`email-providers@2.27.0 disposable-email-domains-js@1.26.0`)
 * says which lists classify addresses and is part of every model's version (lib/core/model.ts `modelVersion`);
 * `entries` gives the lists themselves, called only when an address is classified, so a source may read them
 * then and not before.
 */
export interface EmailDomainListSource {
  readonly version: string;
  entries(): EmailDomainLists;
}

/** A source of lists already in hand (a unit test's small lists), under the version given. */
export function emailDomainListSource(version: string, lists: { personal: Iterable<string>; disposable: Iterable<string> }): EmailDomainListSource {
  const entries: EmailDomainLists = { personal: new Set(lists.personal), disposable: new Set(lists.disposable) };
  return { version, entries: () => entries };
}

/** Anything outside ASCII: an internationalized name, to be put in its punycode form. */
const nonAscii = /[\u0080-\uffff]/;

/**
 * A domain as the lists and account keys compare it: trimmed, lower case, without a trailing dot, and an
 * internationalized name in its ASCII (punycode) form, so `müller.de` and `xn--mller-kva.de` are one.
 * Empty when it is not a valid domain name.
 */
export function comparableDomain(domain: string): string {
  const trimmed = domain.trim().toLowerCase().replace(/\.$/, '');
  return nonAscii.test(trimmed) ? domainToASCII(trimmed) : trimmed;
}

/**
 * Names reserved for documentation and testing (RFC 2606, RFC 6761): no provider hands out mailboxes there,
 * yet a list may carry one (`email-providers` lists example.com). Never personal nor disposable by the
 * built-in lists, so a documentation address stays a work address; a model's own list can still name them.
 */
const reservedDomains = new Set(['example.com', 'example.net', 'example.org']);
const reservedTopLevel = new Set(['example', 'test', 'invalid', 'localhost']);

/** Whether the domain is a reserved name or under one. */
function isReserved(domain: string): boolean {
  if (reservedTopLevel.has(domain.slice(domain.lastIndexOf('.') + 1))) return true;
  for (const name of reservedDomains) if (domain === name || domain.endsWith(`.${name}`)) return true;
  return false;
}

/**
 * Whether one of the maintained lists names `domain` (comparable, see {@link comparableDomain}) or a domain
 * it is under: `mail.yahoo.co.uk` is under `yahoo.co.uk`. A bare top-level name is never looked up, nor a
 * reserved name; a punycode name is also looked up in Unicode, the form a list may hold it in.
 */
export function onEmailDomainList(domain: string, list: keyof EmailDomainLists, source: EmailDomainListSource): boolean {
  if (isReserved(domain)) return false;
  const set = source.entries()[list];
  let candidate = domain;
  while (candidate.includes('.')) {
    if (set.has(candidate) || (candidate.includes('xn--') && set.has(domainToUnicode(candidate)))) return true;
    candidate = candidate.slice(candidate.indexOf('.') + 1);
  }
  return false;
}
