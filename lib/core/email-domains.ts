import { createRequire } from 'node:module';
import { domainToASCII, domainToUnicode } from 'node:url';

/**
 * The maintained lists of e-mail domains that name no company (docs/accounts.md, "The lists"):
 * - free and webmail providers (gmail.com, yahoo.co.uk, web.de, ...): the npm package `email-providers`;
 * - disposable (throwaway) address services (mailinator.com, ...): `disposable-email-domains-js`, the
 *   community `disposable-email-domains` blocklist.
 * A model's own `domains` lists add to them (lib/core/fit.ts `classifyEmailDomain`).
 *
 * The lists are package data, read the first time an address is classified, never at import: a bundle
 * that never classifies one does not parse them, and the Lambda bundles do not inline them (some 250 KB;
 * cdk/constructs/mql-function.ts copies {@link emailDomainListFiles} beside each bundle instead).
 * Same install, same lists: what they say is fixed by package-lock.json, and their versions are part of
 * every model's version (lib/core/model.ts `modelVersion`).
 */

/** The files the lists are read from, relative to node_modules (the CDK construct copies exactly these). */
export const emailDomainListFiles = {
  personal: 'email-providers/all.json',
  personalPackage: 'email-providers/package.json',
  disposable: 'disposable-email-domains-js/dist/dict/disposable_email_blocklist.json',
  disposablePackage: 'disposable-email-domains-js/package.json',
} as const;

/** The built-in lists, as sets of their entries: lower-case names, a few internationalized ones in Unicode. */
export interface EmailDomainLists {
  personal: ReadonlySet<string>;
  disposable: ReadonlySet<string>;
}

const load = createRequire(import.meta.url);
let lists: EmailDomainLists | undefined;
let listsVersion: string | undefined;

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

function domainSet(entries: unknown, file: string): Set<string> {
  if (!Array.isArray(entries)) throw new Error(`${file} is not a list of domains`);
  // The entries as they are (test/unit/core/email-domains.test.ts checks their form): no work per entry,
  // which would triple the cost of the first classification in a process.
  return new Set(entries as string[]);
}

/** The built-in lists, read once per process on first use. */
export function emailDomainLists(): EmailDomainLists {
  lists ??= {
    personal: domainSet(load(emailDomainListFiles.personal), emailDomainListFiles.personal),
    disposable: domainSet(load(emailDomainListFiles.disposable), emailDomainListFiles.disposable),
  };
  return lists;
}

/** `email-providers@2.27.0 disposable-email-domains-js@1.26.0`: which lists classify addresses. */
export function emailDomainListsVersion(): string {
  listsVersion ??= [emailDomainListFiles.personalPackage, emailDomainListFiles.disposablePackage]
    .map((file) => {
      const { name, version } = load(file) as { name: string; version: string };
      return `${name}@${version}`;
    })
    .join(' ');
  return listsVersion;
}

/**
 * Whether a built-in list names `domain` (comparable, see {@link comparableDomain}) or a domain it is under:
 * `mail.yahoo.co.uk` is under `yahoo.co.uk`. A bare top-level name is never looked up, nor a reserved name;
 * a punycode name is also looked up in Unicode, the form a list may hold it in.
 */
export function onEmailDomainList(domain: string, list: keyof EmailDomainLists): boolean {
  if (isReserved(domain)) return false;
  const set = emailDomainLists()[list];
  let candidate = domain;
  while (candidate.includes('.')) {
    if (set.has(candidate) || (candidate.includes('xn--') && set.has(domainToUnicode(candidate)))) return true;
    candidate = candidate.slice(candidate.indexOf('.') + 1);
  }
  return false;
}
