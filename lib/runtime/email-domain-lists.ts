import { createRequire } from 'node:module';
import type { EmailDomainListSource, EmailDomainLists } from '../core/email-domains.ts';

/**
 * The maintained e-mail domain lists of the installed packages (lib/core/email-domains.ts says what they
 * are; docs/accounts.md, "The lists"), for the core to classify addresses with.
 *
 * Package data, read through `require` from node_modules: the lists (some 250 KB) the first time an address
 * is classified, never at import, so a bundle that never classifies one does not parse them; their versions
 * the first time a model is parsed. The Lambda bundles do not inline them: cdk/constructs/mql-function.ts
 * copies {@link emailDomainListFiles} beside each bundle, where this `require` finds them. Same install, same
 * lists: what they say is fixed by package-lock.json.
 */

/** The files the lists are read from, relative to node_modules (the CDK construct copies exactly these). */
export const emailDomainListFiles = {
  personal: 'email-providers/all.json',
  personalPackage: 'email-providers/package.json',
  disposable: 'disposable-email-domains-js/dist/dict/disposable_email_blocklist.json',
  disposablePackage: 'disposable-email-domains-js/package.json',
} as const;

const load = createRequire(import.meta.url);
let lists: EmailDomainLists | undefined;
let listsVersion: string | undefined;

function domainSet(entries: unknown, file: string): Set<string> {
  if (!Array.isArray(entries)) throw new Error(`${file} is not a list of domains`);
  // The entries as they are (test/unit/runtime/email-domain-lists.test.ts checks their form): no work per
  // entry, which would triple the cost of the first classification in a process.
  return new Set(entries as string[]);
}

/** The installed lists: read once per process, when first asked for. */
export const installedEmailDomainLists: EmailDomainListSource = {
  get version() {
    listsVersion ??= [emailDomainListFiles.personalPackage, emailDomainListFiles.disposablePackage]
      .map((file) => {
        const { name, version } = load(file) as { name: string; version: string };
        return `${name}@${version}`;
      })
      .join(' ');
    return listsVersion;
  },
  entries() {
    lists ??= {
      personal: domainSet(load(emailDomainListFiles.personal), emailDomainListFiles.personal),
      disposable: domainSet(load(emailDomainListFiles.disposable), emailDomainListFiles.disposable),
    };
    return lists;
  },
};
