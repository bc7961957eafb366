import { parse } from 'tldts';
import { comparableDomain } from './email-domains.ts';
import type { Profile } from './events.ts';
import { emailDomain } from './events.ts';
import { classifyEmailDomain } from './fit.ts';
import { isEmailLeadId } from './identity.ts';
import type { DomainKind, ScoringModel } from './model.ts';

/**
 * Which account a lead belongs to (docs/accounts.md). In order:
 * 1. the account a Segment `group` call named: the lead's `groupId` (lib/sources/segment.ts `profileFromGroup`);
 * 2. else the registrable domain of its e-mail address, by the Public Suffix List (`mail.acme.co.uk` is
 *    `acme.co.uk`), unless the address is personal or disposable (lib/core/fit.ts `classifyEmailDomain`).
 * A function of the lead's current profile alone: a person who changes jobs (a new address, a new group
 * call) belongs to the new account from then on, and a lead merged from a phone-only lead has the e-mail
 * lead's account. The Public Suffix List comes from the `tldts` package (some 140 KB in a bundle): import
 * this module only where accounts are worked out, never on the ingest path (docs/benchmarks.md, "Cold start").
 */
export interface Account {
  /**
   * The account's identity: the registrable domain (`acme.co.uk`) of a domain account, `group:<groupId>`
   * of a group account. A domain holds no `:`, so the two never collide.
   */
  key: string;
  kind: 'group' | 'domain';
  /**
   * The account's domain when one is known: the e-mail's registrable domain, or a group's `website` trait's.
   * Lower case, internationalized names in ASCII (`xn--mller-kva.de` for `müller.de`).
   */
  domain?: string;
  /** The group call's `groupId`, for a group account. */
  groupId?: string;
  /** What the e-mail's domain says (a domain account): `work`, or `education` and `competitor`, which still form one. */
  domainKind?: Exclude<DomainKind, 'personal' | 'disposable'>;
}

/** A lead (its id names its e-mail when it is one, lib/core/lead.ts `recordProfile`) or a bare profile. */
export type AccountSubject = { leadId: string; profile: Profile } | Profile;

/** The lead's account, or undefined when nothing names one (no group, and no e-mail or a personal or disposable one). */
export function accountOf(subject: AccountSubject, model: Pick<ScoringModel, 'domains'>): Account | undefined {
  const lead = 'leadId' in subject ? subject : undefined;
  const profile: Profile = 'leadId' in subject ? subject.profile : subject;
  const groupId = profile.groupId?.trim();
  if (groupId) {
    const domain = companyDomain(profile.companyWebsite, model);
    return { key: `group:${groupId}`, kind: 'group', groupId, ...(domain ? { domain } : {}) };
  }
  // A lead's address is its id (its profile keeps none); a visitor's or phone lead's has none until merged.
  const email = lead ? (isEmailLeadId(lead.leadId) ? lead.leadId : undefined) : profile.email;
  if (!email?.includes('@')) return undefined;
  const domainKind = classifyEmailDomain(email, model.domains);
  if (domainKind === undefined || domainKind === 'personal' || domainKind === 'disposable') return undefined;
  const domain = registrableDomain(emailDomain(email.trim()));
  return domain ? { key: domain, kind: 'domain', domain, domainKind } : undefined;
}

/**
 * The registrable domain of a host name, by the Public Suffix List including its private section (so
 * `acme.herokuapp.com` is its own, not herokuapp.com's): `mail.acme.co.uk` -> `acme.co.uk`. Undefined for
 * an IP address (`[192.0.2.1]`), a public suffix alone (`co.uk`), a name whose suffix the list does not know
 * (`acme.internal`, `acme.local`) and anything that is no host name.
 */
export function registrableDomain(host: string): string | undefined {
  const ascii = comparableDomain(host);
  if (!ascii) return undefined;
  const parsed = parse(ascii, { allowPrivateDomains: true, detectIp: true, extractHostname: true, validateHostname: true });
  if (parsed.isIp || !parsed.domain || !(parsed.isIcann || parsed.isPrivate)) return undefined;
  return parsed.domain;
}

/**
 * A group's domain from its `website` trait (`https://www.acme.com/about` -> `acme.com`); undefined when that
 * domain is personal or disposable (a page on a free-mail provider's site, `facebook.com/acme`, names no company).
 */
function companyDomain(website: string | undefined, model: Pick<ScoringModel, 'domains'>): string | undefined {
  const host = website
    ?.trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .split(/[/?#:]/)[0];
  const domain = host ? registrableDomain(host) : undefined;
  if (!domain) return undefined;
  const kind = classifyEmailDomain(`website@${domain}`, model.domains);
  return kind === 'personal' || kind === 'disposable' ? undefined : domain;
}
