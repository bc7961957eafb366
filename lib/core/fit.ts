import type { Profile } from './events.ts';
import { emailDomain } from './events.ts';
import type { DomainKind, FitCondition, ScoringModel } from './model.ts';

/** A fit rule that matched the profile, with the points it gives after its group's bounds. */
export interface FitMatch {
  rule: string;
  description: string;
  points: number;
}

/** Which kind of address an e-mail is: competitor, education, personal, or (the rest) work. */
export function classifyEmailDomain(email: string | undefined, domains: ScoringModel['domains']): DomainKind | undefined {
  if (!email) return undefined;
  const domain = emailDomain(email.toLowerCase());
  const isOrUnder = (listed: string) => domain === listed || domain.endsWith(`.${listed}`);
  if (domains.competitors.some(isOrUnder)) return 'competitor';
  const isEducation = domains.education.some((entry) =>
    entry.startsWith('.') ? domain.endsWith(entry) : entry.endsWith('.') ? domain.startsWith(entry) : isOrUnder(entry),
  );
  if (isEducation) return 'education';
  if (domains.personal.some(isOrUnder)) return 'personal';
  return 'work';
}

const magnitude: Record<string, number> = { k: 1e3, m: 1e6, mm: 1e6, b: 1e9, bn: 1e9 };

/**
 * A company size or revenue as a number: `750`, `"501-1000"` (lower bound: the company has at least
 * that many), `"1,000+"`, `"$50M-$100M"`, `"1.2B"`. Undefined when it is not a quantity.
 */
export function parseQuantity(value: number | string | undefined): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*[$€£]?\s*([\d][\d,]*(?:\.\d+)?)\s*(k|mm|m|bn|b)?\b/i.exec(value);
  if (!match?.[1]) return undefined;
  const number = Number(match[1].replaceAll(',', ''));
  const unit = match[2]?.toLowerCase();
  return unit ? number * (magnitude[unit] ?? 1) : number;
}

/** Whether a profile satisfies a fit condition (text compared without regard to case). */
export function profileMatches(profile: Profile, condition: FitCondition, domains: ScoringModel['domains']): boolean {
  if ('emailDomain' in condition) return classifyEmailDomain(profile.email, domains) === condition.emailDomain;
  const value = profile[condition.field];
  if (value === undefined || value === null || value === '') return false;
  if ('matches' in condition) return new RegExp(condition.matches, 'i').test(String(value));
  if ('oneOf' in condition) {
    const text = String(value).trim().toLowerCase();
    return condition.oneOf.some((option) => option.trim().toLowerCase() === text);
  }
  const quantity = parseQuantity(value as number | string);
  if (quantity === undefined) return false;
  if (condition.atLeast !== undefined && quantity < condition.atLeast) return false;
  if (condition.below !== undefined && quantity >= condition.below) return false;
  return true;
}

/**
 * The fit rules a profile matches. Rules of one group share its bounds: the group's points are
 * clamped to [min, max] and the clamp is taken off the group's later rules, so reasons still add up.
 */
export function scoreFit(profile: Profile, model: ScoringModel): FitMatch[] {
  const matches: FitMatch[] = [];
  const groupTotals = new Map<string, number>();
  for (const rule of model.fit.rules) {
    if (!profileMatches(profile, rule.when, model.domains)) continue;
    let points = rule.points;
    if (rule.group) {
      const bounds = model.fit.groups[rule.group] ?? {};
      const before = groupTotals.get(rule.group) ?? 0;
      const after = Math.min(bounds.max ?? Infinity, Math.max(bounds.min ?? -Infinity, before + points));
      points = after - before;
      groupTotals.set(rule.group, after);
    }
    matches.push({ rule: rule.id, description: rule.description, points });
  }
  return matches;
}
