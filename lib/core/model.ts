import * as z from 'zod/mini';
import './zod.ts';
import { operatorNames } from './conditions.ts';
import type { EmailDomainListSource } from './email-domains.ts';
import { describeIssue, jsonSyntaxProblem, ModelError } from './model-errors.ts';
import { modelVersion } from './model-version.ts';

export { ModelError } from './model-errors.ts';
export { modelContent, modelVersion } from './model-version.ts';

/**
 * The scoring model: configuration as code, validated by zod (its tree-shakable `zod/mini` API: lib/core/zod.ts;
 * docs/scoring-model.md).
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
  // From a Segment `group` call (lib/sources/segment.ts; docs/providers/events.md, "Group calls").
  'groupId',
  'companyWebsite',
  'companyPlan',
]);
export type ProfileField = z.infer<typeof profileField>;

/**
 * What a fit condition can read: the profile's fields, and `salesRejection`, the reason sales gave
 * when it last rejected the lead as an MQL (`outside_icp`, `wrong_timing`, `existing_customer`,
 * `bad_data`, `other`; lib/sources/crm-feedback.ts), present only while that rejection is the lead's
 * latest sales outcome. It lets the model learn from sales: `{"field": "salesRejection", "oneOf":
 * ["existing_customer"]}` with negative points keeps an existing customer from re-qualifying.
 */
const fitField = z.enum([...profileField.options, 'salesRejection']);
export type FitField = z.infer<typeof fitField>;

const validRegex = z.string().check(
  z.refine(
    (pattern) => {
      try {
        new RegExp(pattern, 'i');
        return true;
      } catch {
        return false;
      }
    },
    { message: 'expected a valid regular expression' },
  ),
);

/** What an e-mail's domain says of its person: lib/core/fit.ts `classifyEmailDomain`. */
export const domainKinds = ['work', 'personal', 'disposable', 'education', 'competitor'] as const;
export type DomainKind = (typeof domainKinds)[number];

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** The operators of {@link ConditionOperators}: every one given must hold. */
const operators = {
  equals: z.optional(scalar),
  notEquals: z.optional(scalar),
  contains: z.optional(z.string()),
  notContains: z.optional(z.string()),
  matches: z.optional(validRegex),
  notMatches: z.optional(validRegex),
  oneOf: z.optional(z.array(scalar).check(z.minLength(1))),
  notOneOf: z.optional(z.array(scalar).check(z.minLength(1))),
  atLeast: z.optional(z.number()),
  above: z.optional(z.number()),
  below: z.optional(z.number()),
  atMost: z.optional(z.number()),
  exists: z.optional(z.boolean()),
};

function requireOperator(condition: Record<string, unknown>, ctx: z.core.$RefinementCtx, subject: string): void {
  if (operatorNames.some((name) => condition[name] !== undefined)) return;
  ctx.addIssue({ code: 'custom', path: [], message: `expected an operator on the ${subject} (one or more of ${operatorNames.join(', ')})` });
}

/**
 * A condition on the lead's profile: a field with operators, or the kind of its e-mail domain.
 * One object rather than a union, so a typo is named as an unknown key instead of "no variant matched".
 */
export const fitCondition = z.strictObject({ field: z.optional(fitField), emailDomain: z.optional(z.enum(domainKinds)), ...operators }).check(
  z.superRefine((condition, ctx) => {
    if (condition.emailDomain !== undefined) {
      if (condition.field !== undefined || operatorNames.some((name) => condition[name] !== undefined)) {
        ctx.addIssue({ code: 'custom', path: [], message: 'expected either emailDomain alone or a field with operators, not both' });
      }
      return;
    }
    if (condition.field === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['field'],
        message: `expected a profile field (${fitField.options.join(', ')}) or emailDomain (${domainKinds.join(', ')})`,
      });
      return;
    }
    requireOperator(condition, ctx, 'field');
  }),
);
export type FitCondition = z.infer<typeof fitCondition>;

/** A condition on an event's properties. */
export const propertyCondition = z
  .strictObject({ property: z.string().check(z.minLength(1)), ...operators })
  .check(z.superRefine((condition, ctx) => requireOperator(condition, ctx, 'property')));
export type PropertyCondition = z.infer<typeof propertyCondition>;

const ruleId = z.string().check(z.regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected lower-case letters, digits, _ . - (starting with a letter or digit)'));

const eventMatch = {
  /** Event type(s) the rule applies to. */
  type: z.union([z.string(), z.array(z.string()).check(z.minLength(1))]),
  /** Every condition must hold. */
  where: z._default(z.array(propertyCondition), []),
};

export const fitRule = z.strictObject({
  id: ruleId,
  description: z.string(),
  when: fitCondition,
  points: z.number(),
  /** Rules of one group share the group's bounds (`fit.groups`). */
  group: z.optional(z.string()),
});
export type FitRule = z.infer<typeof fitRule>;

export const behaviorRule = z.strictObject({
  id: ruleId,
  description: z.string(),
  ...eventMatch,
  points: z.number(),
  /** The most the rule contributes at any moment (absolute value for negative rules). */
  cap: z.optional(z.number().check(z.positive())),
  /** Overrides the model's half-life; `null` means the points never decay. */
  halfLifeDays: z.optional(z.nullable(z.number().check(z.positive()))),
  /** Rules of one group share the group's bounds (`behavior.groups`), after their own caps. */
  group: z.optional(z.string()),
});
export type BehaviorRule = z.infer<typeof behaviorRule>;

export const disqualifyRule = z.pipe(
  z
    .strictObject({
      id: ruleId,
      description: z.string(),
      /** An event disqualifies: its type(s) and `where` conditions, as in behavior rules. */
      type: z.optional(eventMatch.type),
      where: z.optional(z.array(propertyCondition)),
      /** Or the profile does. */
      when: z.optional(fitCondition),
    })
    .check(
      z.superRefine((rule, ctx) => {
        if ((rule.type === undefined) === (rule.when === undefined)) {
          ctx.addIssue({ code: 'custom', path: [], message: 'expected either "type" (an event disqualifies) or "when" (the profile does), exactly one' });
        }
        if (rule.when !== undefined && rule.where !== undefined)
          ctx.addIssue({ code: 'custom', path: ['where'], message: '"where" applies to "type" rules only' });
      }),
    ),
  z.transform((rule): EventDisqualifier | ProfileDisqualifier =>
    rule.type !== undefined
      ? { id: rule.id, description: rule.description, type: rule.type, where: rule.where ?? [] }
      : { id: rule.id, description: rule.description, when: rule.when! },
  ),
);
export interface EventDisqualifier {
  id: string;
  description: string;
  type: string | string[];
  where: PropertyCondition[];
}
export interface ProfileDisqualifier {
  id: string;
  description: string;
  when: FitCondition;
}
export type DisqualifyRule = z.infer<typeof disqualifyRule>;

export const fastTrackRule = z.strictObject({
  id: ruleId,
  description: z.string(),
  ...eventMatch,
  /** Only an event this recent qualifies at once; an old one replayed later does not. */
  withinDays: z._default(z.number().check(z.positive()), 30),
});
export type FastTrackRule = z.infer<typeof fastTrackRule>;

/**
 * What a lead form counts as, by form id: `"forms": {"1192837465019283": {"type": "demo_requested"}}` scores
 * a `form_submitted` event of that form (property `formId`) as a demo request, under the rules, fast tracks
 * and disqualifiers of that type. The stored event keeps its own type, so a rescore under another
 * model maps it afresh.
 */
export const formMapping = z.strictObject({
  type: z.string().check(z.regex(/^[a-z0-9][a-z0-9_]*$/, 'a snake_case event type, e.g. demo_requested')),
  description: z.optional(z.string()),
});
export type FormMapping = z.infer<typeof formMapping>;

/**
 * What an account fit rule can read: the account's traits, from its group call or else from what its members'
 * profiles say most often (lib/core/account-score.ts `accountTraits`).
 */
export const accountTraitFields = ['industry', 'companySize', 'annualRevenue', 'country', 'company', 'companyPlan'] as const;
export type AccountTraitField = (typeof accountTraitFields)[number];

export const accountFitRule = z.strictObject({
  id: ruleId,
  description: z.string(),
  when: z.strictObject({ field: z.enum(accountTraitFields), ...operators }).check(z.superRefine((condition, ctx) => requireOperator(condition, ctx, 'field'))),
  points: z.number(),
});
export type AccountFitRule = z.infer<typeof accountFitRule>;

/** A role of the buying group (a seniority or a department): a condition on a member's profile, as a fit rule's. */
export const accountRole = z.strictObject({ id: ruleId, description: z.string(), when: fitCondition });
export type AccountRole = z.infer<typeof accountRole>;

/** A count: a refinement rather than `z.int()`, which would bring zod's number formats into every bundle (some 1.4 KB). */
const wholeCount = (minimum: number) => z.number().check(z.refine(Number.isInteger, 'expected a whole number'), z.gte(minimum));

/**
 * The account score (docs/accounts.md, "The account score"; lib/core/account-score.ts): optional, so a model
 * without it stays valid (and keeps its version) and scores no account.
 */
export const accountSection = z.strictObject({
  /** Fit of the account itself, on its traits. Every rule that matches counts. */
  fit: z.strictObject({ rules: z.array(accountFitRule) }),
  /** The sum of the top `topMembers` members' behavior points, each member counted at most `memberCap`. */
  engagement: z.strictObject({ topMembers: wholeCount(1), memberCap: z.number().check(z.positive()) }),
  /**
   * The buying group's breadth: `pointsPerRole` for each distinct role held by a member with at least
   * `memberFloor` behavior points (a member's role is the first of `roles` its profile matches), at most `maxPoints`.
   */
  breadth: z.strictObject({
    memberFloor: z.number().check(z.positive()),
    roles: z.array(accountRole),
    pointsPerRole: z.number().check(z.gte(0)),
    maxPoints: z.optional(z.number().check(z.gte(0))),
  }),
  thresholds: z.strictObject({
    /** Enter MQA at a total of at least this many points... */
    mqa: z.number(),
    /** ...with at least this many members at or above `breadth.memberFloor`. */
    minMembers: wholeCount(0),
    /** An MQA falls back only below this (hysteresis). */
    recycleBelow: z.number(),
  }),
});
export type AccountSection = z.infer<typeof accountSection>;

export const scoringModelSchema = z
  .strictObject({
    name: z.string(),
    /** Optional and absent from the default model, so models without it keep their version. */
    forms: z.optional(z.record(z.string().check(z.regex(/^\S{1,200}$/, 'a form id without spaces')), formMapping)),
    /**
     * How e-mail addresses name leads beyond trimming and lower case. Off unless turned on (optional and
     * absent from the default model, which keeps its version): `dana+news@acme.com` and `dana@acme.com`
     * are two leads until `stripPlusTags` is set; Gmail's dots only with `gmailDots`.
     */
    identity: z.optional(
      z.strictObject({
        /** `dana+news@acme.com` is the lead `dana@acme.com` (sub-addressing, honoured by most providers). */
        stripPlusTags: z._default(z.boolean(), false),
        /** Gmail ignores dots in the local part, and googlemail.com is gmail.com: `d.whit@gmail.com` is `dwhit@gmail.com`. */
        gmailDots: z._default(z.boolean(), false),
      }),
    ),
    domains: z.strictObject({
      /** Free-mail providers, in addition to the maintained list (lib/core/email-domains.ts). */
      personal: z._default(z.array(z.string()), []),
      /** Disposable address services, in addition to the maintained list (optional, like `work`). */
      disposable: z.optional(z.array(z.string())),
      /** Never personal nor disposable, whatever the lists say: an internet provider that is a customer (`bt.com`). */
      work: z.optional(z.array(z.string())),
      /** Education domains or suffixes (`.edu`, `.ac.uk`). */
      education: z._default(z.array(z.string()), []),
      competitors: z._default(z.array(z.string()), []),
    }),
    fit: z.strictObject({
      rules: z.array(fitRule),
      groups: z._default(z.record(z.string(), z.strictObject({ min: z.optional(z.number()), max: z.optional(z.number()) })), {}),
    }),
    behavior: z.strictObject({
      /** Default half-life of behavior points. */
      halfLifeDays: z.number().check(z.positive()),
      /** An event scores under the FIRST rule that matches it: put specific rules before general ones. */
      rules: z.array(behaviorRule),
      /** Bounds shared by the rules that name the group (absent from the default model, so its version stays). */
      groups: z.optional(z.record(z.string(), z.strictObject({ min: z.optional(z.number()), max: z.optional(z.number()) }))),
    }),
    disqualify: z._default(z.array(disqualifyRule), []),
    fastTrack: z._default(z.array(fastTrackRule), []),
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
    /** The account score: optional, so models without it keep their version. */
    account: z.optional(accountSection),
  })
  .check(
    z.superRefine((model, ctx) => {
      if (model.thresholds.recycleBelow > model.thresholds.mql) {
        ctx.addIssue({
          code: 'custom',
          path: ['thresholds', 'recycleBelow'],
          message: `expected at most thresholds.mql (${model.thresholds.mql}), got ${model.thresholds.recycleBelow}`,
        });
      }
      const seen = new Set<string>();
      const all = [...model.fit.rules, ...model.behavior.rules, ...model.disqualify, ...model.fastTrack];
      for (const rule of all) {
        if (seen.has(rule.id))
          ctx.addIssue({
            code: 'custom',
            path: [],
            message: `rule id "${rule.id}" is used twice (ids are unique across fit, behavior, disqualify and fastTrack)`,
          });
        seen.add(rule.id);
      }
      model.fit.rules.forEach((rule, index) => {
        if (rule.group && !Object.hasOwn(model.fit.groups, rule.group)) {
          ctx.addIssue({
            code: 'custom',
            path: ['fit', 'rules', index, 'group'],
            message: `expected a group of fit.groups (${Object.keys(model.fit.groups).join(', ') || 'none defined'}), got "${rule.group}"`,
          });
        }
      });
      if (model.account) checkAccount(model.account, ctx);
      const behaviorGroups = model.behavior.groups ?? {};
      model.behavior.rules.forEach((rule, index) => {
        if (rule.group && !Object.hasOwn(behaviorGroups, rule.group)) {
          ctx.addIssue({
            code: 'custom',
            path: ['behavior', 'rules', index, 'group'],
            message: `expected a group of behavior.groups (${Object.keys(behaviorGroups).join(', ') || 'none defined'}), got "${rule.group}"`,
          });
        }
      });
    }),
  );

/** The account section's checks across fields: as the lead's, named by path. */
function checkAccount(account: AccountSection, ctx: z.core.$RefinementCtx): void {
  if (account.thresholds.recycleBelow > account.thresholds.mqa) {
    ctx.addIssue({
      code: 'custom',
      path: ['account', 'thresholds', 'recycleBelow'],
      message: `expected at most account.thresholds.mqa (${account.thresholds.mqa}), got ${account.thresholds.recycleBelow}`,
    });
  }
  const seen = new Set<string>();
  for (const rule of [...account.fit.rules, ...account.breadth.roles]) {
    if (seen.has(rule.id))
      ctx.addIssue({
        code: 'custom',
        path: ['account'],
        message: `id "${rule.id}" is used twice (ids are unique across account.fit.rules and account.breadth.roles)`,
      });
    seen.add(rule.id);
  }
}

export type ScoringModelInput = z.input<typeof scoringModelSchema>;
/** What a model file says, with defaults. */
export type ModelContent = z.output<typeof scoringModelSchema>;
/**
 * A parsed model: what its file says, with defaults, stamped with its version; its `domains` carry the
 * maintained e-mail domain lists it was parsed with (`maintained`, lib/core/email-domains.ts), which classify
 * addresses with the model's own lists. A model means what it says plus what those lists say.
 */
export type ScoringModel = Omit<ModelContent, 'domains'> & {
  readonly domains: ModelContent['domains'] & { readonly maintained: EmailDomainListSource };
  readonly version: string;
};

/**
 * Validates a model and stamps it with its version. `lists` are the maintained e-mail domain lists it
 * classifies addresses with (lib/runtime/email-domain-lists.ts `installedEmailDomainLists`, or a unit test's
 * own). Throws a {@link ModelError} listing every problem, each prefixed with `source` (the file name, or
 * `MQL_MODEL_JSON`).
 */
export function parseModel(input: unknown, lists: EmailDomainListSource, source = 'model'): ScoringModel {
  // `version` is derived from the content, never declared: a stale one in a file is dropped, not trusted.
  const { version: _declared, ...content } = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const parsed = scoringModelSchema.safeParse(input && typeof input === 'object' && !Array.isArray(input) ? content : input, { reportInput: true });
  if (!parsed.success) {
    const problems = [...new Set(parsed.error.issues.flatMap((issue) => describeIssue(issue, [])))];
    throw new ModelError(
      source,
      problems.map((problem) => `${source}: ${problem}`),
    );
  }
  return { ...parsed.data, domains: { ...parsed.data.domains, maintained: lists }, version: modelVersion(parsed.data, lists.version) };
}

/**
 * A model from the text of its file: JSON syntax errors are named with line and column, schema
 * problems with their path. Pure: the caller reads the file.
 */
export function parseModelText(text: string, lists: EmailDomainListSource, source: string): ScoringModel {
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw new ModelError(source, [`${source}: ${jsonSyntaxProblem(text, (error as Error).message)}`]);
  }
  return parseModel(input, lists, source);
}
