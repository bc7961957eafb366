/**
 * What a function of lib/topology.ts may be granted: the secret keys of the operator contract (docs/operator-
 * contract.md, "Secrets") and the Secrets Manager secret that holds each in AWS, and the DynamoDB actions on the
 * table. lib/topology.ts says what each function reads and calls; cdk/ grants exactly that (docs/security.md).
 */

/** Secret keys of the operator contract; in AWS each is a key of its group's Secrets Manager secret ({@link secretGroups}). */
export const secretKeys = [
  'FACEBOOK_APP_SECRET',
  'FACEBOOK_VERIFY_TOKEN',
  'FACEBOOK_ACCESS_TOKEN',
  'LINKEDIN_CLIENT_SECRET',
  'LINKEDIN_ACCESS_TOKEN',
  'SENDGRID_WEBHOOK_PUBLIC_KEY',
  'MAILGUN_WEBHOOK_SIGNING_KEY',
  'MAILCHIMP_WEBHOOK_SECRET',
  'POSTMARK_WEBHOOK_USER',
  'POSTMARK_WEBHOOK_PASSWORD',
  'CUSTOMERIO_WEBHOOK_SIGNING_KEY',
  'EVENTS_WEBHOOK_SECRET',
  'TRACKING_WRITE_KEY',
  'TRACKING_ALLOWED_ORIGINS',
  'SEGMENT_WEBHOOK_SECRET',
  'GOOGLE_ADS_WEBHOOK_KEY',
  'CRM_FEEDBACK_SECRET',
  'CRM_WEBHOOK_SECRET',
  'HUBSPOT_ACCESS_TOKEN',
  'HUBSPOT_APP_SECRET',
  'SALESFORCE_CLIENT_SECRET',
  'PSEUDONYM_KEY',
] as const;
export type SecretKey = (typeof secretKeys)[number];

/**
 * How the secret keys are stored in AWS: one Secrets Manager secret per group, a JSON object of the group's
 * keys. Keys are grouped by the functions that read them (each group is read by exactly the same functions),
 * so a function's role can read its own keys and no other: the fewest secrets for that ($0.40 a month each,
 * docs/security.md). test/unit/topology-secrets.test.ts keeps the groups in step with the functions' `secrets`.
 * Renaming a group or moving a key makes a new secret: docs/deploying.md says how to carry values over.
 */
export const secretGroups = {
  pseudonym: ['PSEUDONYM_KEY'],
  'facebook-app': ['FACEBOOK_APP_SECRET'],
  'facebook-verify': ['FACEBOOK_VERIFY_TOKEN'],
  'facebook-graph': ['FACEBOOK_ACCESS_TOKEN'],
  'linkedin-app': ['LINKEDIN_CLIENT_SECRET'],
  'linkedin-token': ['LINKEDIN_ACCESS_TOKEN'],
  sendgrid: ['SENDGRID_WEBHOOK_PUBLIC_KEY'],
  mailgun: ['MAILGUN_WEBHOOK_SIGNING_KEY'],
  mailchimp: ['MAILCHIMP_WEBHOOK_SECRET'],
  postmark: ['POSTMARK_WEBHOOK_USER', 'POSTMARK_WEBHOOK_PASSWORD'],
  customerio: ['CUSTOMERIO_WEBHOOK_SIGNING_KEY'],
  events: ['EVENTS_WEBHOOK_SECRET'],
  tracking: ['TRACKING_WRITE_KEY', 'TRACKING_ALLOWED_ORIGINS'],
  'segment-webhook': ['SEGMENT_WEBHOOK_SECRET'],
  'google-ads': ['GOOGLE_ADS_WEBHOOK_KEY'],
  'crm-feedback': ['CRM_FEEDBACK_SECRET'],
  'hubspot-app': ['HUBSPOT_APP_SECRET'],
  'hubspot-token': ['HUBSPOT_ACCESS_TOKEN'],
  'crm-delivery': ['CRM_WEBHOOK_SECRET', 'SALESFORCE_CLIENT_SECRET'],
} as const satisfies Record<string, readonly SecretKey[]>;
export type SecretGroup = keyof typeof secretGroups;

/** Keys every function reads (at cold start, lib/runtime/pseudonym.ts), besides its own `secrets`. */
export const everyFunctionReads = ['PSEUDONYM_KEY'] as const satisfies readonly SecretKey[];

/** The group (its secret in AWS) that holds a key. */
export function secretGroupOf(key: SecretKey): SecretGroup {
  for (const [group, keys] of Object.entries(secretGroups) as [SecretGroup, readonly SecretKey[]][]) if (keys.includes(key)) return group;
  throw new Error(`topology: secret key ${key} is in no secret group`);
}

/** Every key a function reads: its own and {@link everyFunctionReads}. */
export function secretKeysOf(spec: { readonly secrets: readonly SecretKey[] }): SecretKey[] {
  return [...new Set<SecretKey>([...everyFunctionReads, ...spec.secrets])];
}

/**
 * In AWS: the JSON object `{"<key>": "<secret ARN>"}` of the keys a function (or `mql --aws`) may read,
 * set by the stack (its `SecretArns` output for `mql`); lib/runtime/config.ts reads each key from its secret.
 */
export const secretArnsEnv = 'MQL_SECRET_ARNS';

/** DynamoDB actions (IAM names without the `dynamodb:` prefix) a function may be granted on the table. */
export type TableAction = 'GetItem' | 'BatchGetItem' | 'Query' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'ConditionCheckItem' | 'BatchWriteItem' | 'Scan';

/** A function's access to the table: its actions on the table, and whether it queries the sparse `due` index. */
export interface TableAccess {
  readonly actions: readonly TableAction[];
  /** `dynamodb:Query` on the `due` index ({@link table}), and on no other index. */
  readonly queriesDueIndex?: boolean;
  /**
   * The function writes (PutItem, UpdateItem, DeleteItem) only items whose partition key starts with this: its role's
   * write actions carry the IAM condition `dynamodb:LeadingKeys` (the account functions write accounts, never a lead).
   */
  readonly writesUnder?: string;
}

/** The write actions {@link TableAccess.writesUnder} confines. */
export const itemWriteActions: readonly TableAction[] = ['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'ConditionCheckItem'];

/**
 * What the ingest path calls: the lead's items, markers and erasure tombstones read, its transaction written
 * (with a ConditionCheck on the tombstone when it creates a lead, lib/store/tombstones.ts), a merge's items updated,
 * a delivery's new leads' raw payloads and events put 25 to a BatchWriteItem (lib/store/fresh-leads.ts), and what a
 * lead-first write takes back when the person was erased meanwhile or the write failed (DeleteItem,
 * lib/store/lead-first.ts).
 */
export const ingestTable = {
  actions: ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'BatchWriteItem', 'UpdateItem', 'DeleteItem', 'ConditionCheckItem'],
} as const satisfies TableAccess;
