/**
 * The one shape every source turns its payload into (docs/operator-contract.md, "Normalized event types").
 * Pure types and helpers: nothing here knows a provider.
 */

/** Event types the default model knows; a model may score any other string too. */
export const knownEventTypes = [
  'form_submitted',
  'demo_requested',
  'trial_started',
  'webinar_registered',
  'webinar_attended',
  'content_downloaded',
  'page_viewed',
  'email_delivered',
  'email_opened',
  'email_clicked',
  'email_replied',
  'email_unsubscribed',
  'email_bounced',
  'email_spam_reported',
  'profile_updated',
  'mql_accepted',
  'mql_rejected',
  'sql',
  'won',
  'lost',
] as const;
export type KnownEventType = (typeof knownEventTypes)[number];

/** What we know about the person behind a lead. Every field optional: sources fill what they have. */
export interface Profile {
  email?: string;
  firstName?: string;
  lastName?: string;
  phone?: string;
  company?: string;
  jobTitle?: string;
  /** Employees, as a number or a range such as "501-1000" or "1000+". */
  companySize?: number | string;
  /** Annual revenue in the company's currency units, as a number or a range such as "50M-100M". */
  annualRevenue?: number | string;
  industry?: string;
  country?: string;
  /**
   * The account the person belongs to, as a Segment `group` call names it (its `groupId`, the id the sender's
   * own database knows the account by): kept so that a roll-up of leads to accounts can find it.
   */
  groupId?: string;
  /** The account's website (a `group` call's `website` trait). */
  companyWebsite?: string;
  /** The plan the account is on with the sender (a `group` call's `plan` trait), e.g. "enterprise" or "trial". */
  companyPlan?: string;
  /** Anything else the source told us, kept as given. */
  custom?: Record<string, string | number | boolean | null>;
}

export type PropertyValue = string | number | boolean | null;

export interface NormalizedEvent {
  /**
   * The lead's id: the normalized e-mail (see {@link normalizeEmail}), or a provider key (see
   * {@link leadIdOf}) for a lead that arrived without one.
   */
  leadKey: string;
  /** snake_case event type, e.g. `webinar_attended`. */
  type: string;
  /** ISO 8601 UTC, from the provider's payload (never the receipt time, so redeliveries map to the same key). */
  occurredAt: string;
  /** Provider name, e.g. `segment`, `sendgrid`, `facebook`. */
  source: string;
  /** The provider's own id for this event: the deduplication key within the source. */
  sourceEventId: string;
  properties: Record<string, PropertyValue>;
  /** Profile fields this event tells us (identify traits, form answers). */
  profile?: Profile;
  /**
   * Other provider keys this event ties to its lead (lib/core/identity.ts): a Segment message's visitor
   * `anon:<anonymousId>` and `user:<userId>`. An e-mail lead takes them as it takes a phone (lib/store/merge.ts).
   */
  links?: string[];
  /**
   * Set on an event of a visitor's history (an `anon:` or `user:` lead) that an e-mail lead took over when
   * the visitor was identified (lib/store/merge.ts): `mql explain` and GET /leads/{email} show it as such.
   */
  anonymous?: true;
  /** The provider's raw event, kept for audit and replay with a retention TTL. */
  raw?: unknown;
}

/** The lead id for an e-mail address: trimmed and lower-cased; undefined when it is not an address. */
export function normalizeEmail(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const email = value.trim().toLowerCase();
  // One @, something on both sides, a dot in the domain, no whitespace: what every provider enforces.
  if (email.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return undefined;
  return email;
}

/**
 * A lead known only by a provider key, `<kind>:<id>`, until an e-mail is known: a phone-only Facebook
 * lead is `phone:+14155550123` (or `facebook:<leadgen id>` with no phone either). Never an e-mail (no `@`).
 */
const providerLeadIdPattern = /^[a-z][a-z0-9_-]{0,30}:[A-Za-z0-9+._-]{1,128}$/;

/** The lead id a caller names: a normalized e-mail, or a provider key as is; undefined when it is neither. */
export function leadIdOf(value: unknown): string | undefined {
  const email = normalizeEmail(value);
  if (email) return email;
  if (typeof value !== 'string') return undefined;
  const key = value.trim();
  return providerLeadIdPattern.test(key) ? key : undefined;
}

/** "Webinar Attended" -> "webinar_attended"; "trialStarted" -> "trial_started". */
export function toSnakeCase(name: string): string {
  return name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

/** The domain part of a normalized e-mail. */
export function emailDomain(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1);
}
