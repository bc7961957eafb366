import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The scoring model: configuration as code, validated by zod (DESIGN.md "Scoring model").
 * Its version is a hash of its normalized content, so two files that say the same thing share a version
 * and every lead records exactly which model scored it.
 */

const profileField = z.enum([
  'email',
  'firstName',
  'lastName',
  'phone',
  'company',
  'jobTitle',
  'companySize',
  'annualRevenue',
  'industry',
  'country',
]);
export type ProfileField = z.infer<typeof profileField>;

const validRegex = z.string().refine(
  (pattern) => {
    try {
      new RegExp(pattern, 'i');
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

export const domainKinds = ['work', 'personal', 'education', 'competitor'] as const;
export type DomainKind = (typeof domainKinds)[number];

/** A condition on the lead's profile. Text comparisons ignore case. */
export const fitCondition = z.union([
  z.strictObject({ field: profileField, matches: validRegex }),
  z.strictObject({ field: profileField, oneOf: z.array(z.string()).min(1) }),
  z.strictObject({
    field: z.enum(['companySize', 'annualRevenue']),
    atLeast: z.number().optional(),
    below: z.number().optional(),
  }),
  z.strictObject({ emailDomain: z.enum(domainKinds) }),
]);
export type FitCondition = z.infer<typeof fitCondition>;

/** A condition on an event's properties. Text comparisons ignore case. */
export const propertyCondition = z.union([
  z.strictObject({ property: z.string(), equals: z.union([z.string(), z.number(), z.boolean()]) }),
  z.strictObject({ property: z.string(), contains: z.string() }),
  z.strictObject({ property: z.string(), oneOf: z.array(z.union([z.string(), z.number()])).min(1) }),
]);
export type PropertyCondition = z.infer<typeof propertyCondition>;

const ruleId = z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, _ . -');

const eventMatch = {
  /** Event type(s) the rule applies to. */
  type: z.union([z.string(), z.array(z.string()).min(1)]),
  /** Every condition must hold. */
  where: z.array(propertyCondition).default([]),
};

export const fitRule = z.strictObject({
  id: ruleId,
  description: z.string(),
  when: fitCondition,
  points: z.number(),
  /** Rules of one group share the group's bounds (`fit.groups`). */
  group: z.string().optional(),
});
export type FitRule = z.infer<typeof fitRule>;

export const behaviorRule = z.strictObject({
  id: ruleId,
  description: z.string(),
  ...eventMatch,
  points: z.number(),
  /** The most the rule contributes at any moment (absolute value for negative rules). */
  cap: z.number().positive().optional(),
  /** Overrides the model's half-life; `null` means the points never decay. */
  halfLifeDays: z.number().positive().nullable().optional(),
});
export type BehaviorRule = z.infer<typeof behaviorRule>;

export const disqualifyRule = z.union([
  z.strictObject({ id: ruleId, description: z.string(), ...eventMatch }),
  z.strictObject({ id: ruleId, description: z.string(), when: fitCondition }),
]);
export type DisqualifyRule = z.infer<typeof disqualifyRule>;

export const fastTrackRule = z.strictObject({
  id: ruleId,
  description: z.string(),
  ...eventMatch,
  /** Only an event this recent qualifies at once; an old one replayed later does not. */
  withinDays: z.number().positive().default(30),
});
export type FastTrackRule = z.infer<typeof fastTrackRule>;

/**
 * What a lead form counts as, by form id: `"forms": {"1192837465019283": {"type": "demo_requested"}}` scores
 * a `form_submitted` event of that form (property `formId`) as a demo request, under the rules, fast tracks
 * and disqualifiers of that type. The stored event keeps its own type, so a rescore under another
 * model maps it afresh.
 */
export const formMapping = z.strictObject({
  type: z.string().regex(/^[a-z0-9][a-z0-9_]*$/, 'a snake_case event type, e.g. demo_requested'),
  description: z.string().optional(),
});
export type FormMapping = z.infer<typeof formMapping>;

export const scoringModelSchema = z
  .strictObject({
    name: z.string(),
    /** Optional and absent from the default model, so models without it keep their version. */
    forms: z.record(z.string().regex(/^\S{1,200}$/, 'a form id without spaces'), formMapping).optional(),
    domains: z.strictObject({
      /** Free-mail providers. */
      personal: z.array(z.string()).default([]),
      /** Education domains or suffixes (`.edu`, `.ac.uk`). */
      education: z.array(z.string()).default([]),
      competitors: z.array(z.string()).default([]),
    }),
    fit: z.strictObject({
      rules: z.array(fitRule),
      groups: z.record(z.string(), z.strictObject({ min: z.number().optional(), max: z.number().optional() })).default({}),
    }),
    behavior: z.strictObject({
      /** Default half-life of behavior points. */
      halfLifeDays: z.number().positive(),
      /** An event scores under the FIRST rule that matches it: put specific rules before general ones. */
      rules: z.array(behaviorRule),
    }),
    disqualify: z.array(disqualifyRule).default([]),
    fastTrack: z.array(fastTrackRule).default([]),
    thresholds: z.strictObject({
      /** Enter MQL at a total of at least this many points. */
      mql: z.number(),
      /** Never MQL with less fit than this (also for fast track). */
      minFit: z.number(),
      /** Never MQL on fit alone: at least this much behavior. */
      minBehavior: z.number(),
      /** An MQL falls back to nurture only below this (hysteresis). */
      recycleBelow: z.number(),
    }),
  })
  .superRefine((model, ctx) => {
    if (model.thresholds.recycleBelow > model.thresholds.mql) {
      ctx.addIssue({ code: 'custom', path: ['thresholds', 'recycleBelow'], message: 'must not be above thresholds.mql' });
    }
    const seen = new Set<string>();
    const all = [...model.fit.rules, ...model.behavior.rules, ...model.disqualify, ...model.fastTrack];
    for (const rule of all) {
      if (seen.has(rule.id)) ctx.addIssue({ code: 'custom', path: ['rules'], message: `rule id "${rule.id}" is used twice` });
      seen.add(rule.id);
    }
    for (const rule of model.fit.rules) {
      if (rule.group && !(rule.group in model.fit.groups)) {
        ctx.addIssue({ code: 'custom', path: ['fit', 'rules'], message: `rule "${rule.id}" names unknown group "${rule.group}"` });
      }
    }
  });

export type ScoringModelInput = z.input<typeof scoringModelSchema>;
export type ScoringModel = z.output<typeof scoringModelSchema> & { readonly version: string };

/** Validates a model and stamps it with its version. Throws a readable error listing every problem. */
export function parseModel(input: unknown): ScoringModel {
  // `version` is derived from the content, never declared: a stale one in a file is dropped, not trusted.
  const { version: _declared, ...content } = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const parsed = scoringModelSchema.safeParse(input && typeof input === 'object' ? content : input);
  if (!parsed.success) {
    throw new Error(`invalid scoring model:\n${z.prettifyError(parsed.error)}`);
  }
  return { ...parsed.data, version: modelVersion(parsed.data) };
}

/** First 12 hex digits of the SHA-256 of the model's canonical JSON (keys sorted). */
export function modelVersion(model: unknown): string {
  return createHash('sha256').update(canonicalJson(model)).digest('hex').slice(0, 12);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([key, entry]) => entry !== undefined && key !== 'version')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
