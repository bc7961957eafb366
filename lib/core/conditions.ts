/**
 * The comparison operators a model's conditions use, on an event property (`where`) and on a profile
 * field (`fit`). One language for both, so an operator means the same thing wherever it appears.
 * Text compares without regard to case; every operator given must hold.
 */

export type ScalarValue = string | number | boolean;

export interface ConditionOperators {
  equals?: ScalarValue;
  notEquals?: ScalarValue;
  contains?: string;
  notContains?: string;
  /** A regular expression (case-insensitive), searched anywhere in the value: anchor it with ^...$ to match whole. */
  matches?: string;
  notMatches?: string;
  /** The value is one of these (the "in" operator). */
  oneOf?: ScalarValue[];
  notOneOf?: ScalarValue[];
  /** Numeric: the value, or for a band such as "501-1000" or "1000+" every number in it, is >= this. */
  atLeast?: number;
  /** Numeric, > (greater than). */
  above?: number;
  /** Numeric, < (less than). */
  below?: number;
  /** Numeric, <=. */
  atMost?: number;
  /** true: the value is present (not missing, null or empty); false: it is absent. */
  exists?: boolean;
}

export const operatorNames = [
  'equals',
  'notEquals',
  'contains',
  'notContains',
  'matches',
  'notMatches',
  'oneOf',
  'notOneOf',
  'atLeast',
  'above',
  'below',
  'atMost',
  'exists',
] as const satisfies readonly (keyof ConditionOperators)[];

const magnitude: Record<string, number> = { k: 1e3, m: 1e6, mm: 1e6, b: 1e9, bn: 1e9 };
const quantityPattern = String.raw`[$€£]?\s*(\d[\d,]*(?:\.\d+)?)\s*(k|mm|m|bn|b)?`;
const bandPattern = new RegExp(
  String.raw`^\s*${quantityPattern}\s*(?:(\+|or more|and (?:up|above))|(?:-|–|—|to)\s*${quantityPattern})?(?:\s+[a-z][a-z .]*)?\s*$`,
  'i',
);

function quantity(digits: string, unit: string | undefined): number {
  const number = Number(digits.replaceAll(',', ''));
  return unit ? number * (magnitude[unit.toLowerCase()] ?? 1) : number;
}

/**
 * A quantity or a band as the numbers it spans: `750` is [750, 750], `"501-1000"` is [501, 1000],
 * `"1,000+"` is [1000, ∞), `"$50M-$100M"` is [5e7, 1e8], `"1.2B"` is [1.2e9, 1.2e9].
 * Undefined when the value is not a quantity.
 */
export function parseBand(value: unknown): { low: number; high: number } | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? { low: value, high: value } : undefined;
  if (typeof value !== 'string') return undefined;
  const match = bandPattern.exec(value);
  if (!match?.[1]) return undefined;
  const low = quantity(match[1], match[2]);
  if (match[3]) return { low, high: Infinity };
  // "$50-100M": the upper bound's unit applies to a lower bound written without one.
  if (match[4]) {
    const high = quantity(match[4], match[5]);
    const lowUnit = match[2] ?? match[5];
    const start = quantity(match[1], lowUnit);
    return start <= high ? { low: start, high } : { low: high, high: start };
  }
  return { low, high: low };
}

/** Compiled patterns by source: a model has few, and scoring runs them for every lead at every evaluation. */
const compiled = new Map<string, RegExp>();
function pattern(source: string): RegExp {
  let regex = compiled.get(source);
  if (!regex) {
    if (compiled.size > 10_000) compiled.clear();
    regex = new RegExp(source, 'i');
    compiled.set(source, regex);
  }
  return regex;
}

const isMissing = (value: unknown) => value === undefined || value === null || value === '';
const text = (value: unknown) => String(value).trim().toLowerCase();
const same = (a: unknown, b: ScalarValue) => text(a) === text(b);

/**
 * Whether a value satisfies every operator of a condition. A missing value fails every positive
 * operator and satisfies every negative one (`notEquals`, `notOneOf`, `notContains`, `notMatches`):
 * "machineOpen is not true" holds for an open that does not say.
 * A band satisfies a numeric operator only when every number in it does ("501-1000" is atLeast 501,
 * not atLeast 750; "1000+" is above 999 and never atMost anything).
 */
export function valueMatches(value: unknown, condition: ConditionOperators): boolean {
  const missing = isMissing(value);
  if (condition.exists !== undefined && condition.exists === missing) return false;
  if (condition.notEquals !== undefined && !missing && same(value, condition.notEquals)) return false;
  if (condition.notOneOf !== undefined && !missing && condition.notOneOf.some((option) => same(value, option))) return false;
  if (condition.notContains !== undefined && !missing && text(value).includes(text(condition.notContains))) return false;
  if (condition.notMatches !== undefined && !missing && pattern(condition.notMatches).test(String(value))) return false;
  const positive =
    condition.equals !== undefined ||
    condition.contains !== undefined ||
    condition.matches !== undefined ||
    condition.oneOf !== undefined ||
    condition.atLeast !== undefined ||
    condition.above !== undefined ||
    condition.below !== undefined ||
    condition.atMost !== undefined;
  if (!positive) return true;
  if (missing) return false;
  if (condition.equals !== undefined && !same(value, condition.equals)) return false;
  if (condition.contains !== undefined && !text(value).includes(text(condition.contains))) return false;
  if (condition.matches !== undefined && !pattern(condition.matches).test(String(value))) return false;
  if (condition.oneOf !== undefined && !condition.oneOf.some((option) => same(value, option))) return false;
  const numeric = condition.atLeast !== undefined || condition.above !== undefined || condition.below !== undefined || condition.atMost !== undefined;
  if (!numeric) return true;
  const band = parseBand(value);
  if (!band) return false;
  if (condition.atLeast !== undefined && !(band.low >= condition.atLeast)) return false;
  if (condition.above !== undefined && !(band.low > condition.above)) return false;
  if (condition.below !== undefined && !(band.high < condition.below)) return false;
  if (condition.atMost !== undefined && !(band.high <= condition.atMost)) return false;
  return true;
}
