import { parseBand, valueMatches } from './conditions.ts';
import { comparableDomain, onEmailDomainList } from './email-domains.ts';
import type { Profile } from './events.ts';
import { emailDomain } from './events.ts';
import type { DomainKind, FitCondition, ScoringModel } from './model.ts';

/** A fit rule that matched the profile, with the points it gives after its group's bounds. */
export interface FitMatch {
  rule: string;
  description: string;
  /** What the rule gives, after its group's bounds. */
  points: number;
  /** What the rule says, before its group's bounds. */
  rulePoints: number;
  group?: string;
  /** The group bound that cut the rule's points, when one did. */
  groupLimit?: number;
}

/**
 * Which kind of address an e-mail is, first match wins: `competitor` and `education` by the model's lists;
 * `work` when the model's `domains.work` names it; `disposable`, then `personal`, by the maintained lists
 * the model was parsed with (`domains.maintained`, lib/core/email-domains.ts) and the model's own additions; every other address is `work`. A model's entry
 * covers the domain and every domain under it (`yahoo.com` covers `mail.yahoo.com`), as a list's does.
 */
export function classifyEmailDomain(email: string | undefined, domains: ScoringModel['domains']): DomainKind | undefined {
  if (!email) return undefined;
  const domain = comparableDomain(emailDomain(email.toLowerCase()));
  const isOrUnder = (listed: string) => domain === listed || domain.endsWith(`.${listed}`);
  if (domains.competitors.some(isOrUnder)) return 'competitor';
  const isEducation = domains.education.some((entry) =>
    entry.startsWith('.') ? domain.endsWith(entry) : entry.endsWith('.') ? domain.startsWith(entry) : isOrUnder(entry),
  );
  if (isEducation) return 'education';
  if (domains.work?.some(isOrUnder)) return 'work';
  if (domains.disposable?.some(isOrUnder) || onEmailDomainList(domain, 'disposable', domains.maintained)) return 'disposable';
  if (domains.personal.some(isOrUnder) || onEmailDomainList(domain, 'personal', domains.maintained)) return 'personal';
  return 'work';
}

/**
 * A company size or revenue as a number: its lower bound (`"501-1000"` is 501, `"1,000+"` 1000,
 * `"$50M-$100M"` 5e7). Undefined when it is not a quantity. See {@link parseBand} for the whole band.
 */
export function parseQuantity(value: number | string | undefined): number | undefined {
  return parseBand(value)?.low;
}

/** What fit conditions read: the profile, plus what sales said of the lead ({@link fitSubject}). */
export type FitSubject = Profile & { salesRejection?: string };

/**
 * The profile as fit rules see it: with `salesRejection`, the reason of the lead's latest sales outcome
 * when that outcome is a rejection (`other` when sales gave none, so `exists: true` means "rejected").
 * A later accepted, sql, won or lost outcome replaces it: sales changed its mind, the rejection no longer counts.
 */
export function fitSubject(lead: { profile: Profile; outcome?: { type: string; reason?: string } }): FitSubject {
  if (lead.outcome?.type !== 'mql_rejected') return lead.profile;
  return { ...lead.profile, salesRejection: lead.outcome.reason ?? 'other' };
}

/** Whether a profile satisfies a fit condition (text compared without regard to case). */
export function profileMatches(profile: FitSubject, condition: FitCondition, domains: ScoringModel['domains']): boolean {
  if (condition.emailDomain !== undefined) return classifyEmailDomain(profile.email, domains) === condition.emailDomain;
  if (condition.field === undefined) return false;
  return valueMatches(profile[condition.field], condition);
}

/**
 * The fit rules a profile matches. Rules of one group share its bounds: the group's points are
 * clamped to [min, max] and the clamp is taken off the group's later rules, so reasons still add up.
 */
export function scoreFit(profile: FitSubject, model: ScoringModel): FitMatch[] {
  const matches: FitMatch[] = [];
  const groupTotals = new Map<string, number>();
  for (const rule of model.fit.rules) {
    if (!profileMatches(profile, rule.when, model.domains)) continue;
    const match: FitMatch = { rule: rule.id, description: rule.description, points: rule.points, rulePoints: rule.points };
    if (rule.group) {
      const bounds = model.fit.groups[rule.group] ?? {};
      const before = groupTotals.get(rule.group) ?? 0;
      const after = Math.min(bounds.max ?? Infinity, Math.max(bounds.min ?? -Infinity, before + rule.points));
      match.points = after - before;
      match.group = rule.group;
      if (match.points !== rule.points) match.groupLimit = after === bounds.max ? bounds.max : bounds.min!;
      groupTotals.set(rule.group, after);
    }
    matches.push(match);
  }
  return matches;
}
