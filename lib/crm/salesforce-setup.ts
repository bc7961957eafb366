/**
 * `npx mql crm setup salesforce`: checks, with the adapter's own login, that the org's Lead has the fields
 * the Salesforce adapter writes, of types that take its values and editable by the app's Run As user, and
 * that the configured Lead Status values are active (docs/providers/salesforce.md#setup).
 *
 * It changes nothing. The REST API cannot create fields; the Metadata or Tooling API could, but only for a
 * user with "Customize Application", far more than the pipeline's integration user should hold, and a
 * field created that way is invisible to everyone until field-level security grants it. So it reports
 * each missing or mistyped field with exactly what to create in Setup, and exits 1 until nothing is missing.
 */
import { CrmDeliveryError } from './adapter.ts';
import { accountSettingsOf } from './salesforce-accounts.ts';
import type { Answer, SalesforceClientOptions, SalesforceField } from './salesforce-client.ts';
import { salesforceClient } from './salesforce-client.ts';
import type { SalesforceScoreFields, SalesforceSettings } from './salesforce-fields.ts';
import { errorItems, salesforceAccountFieldSettings, salesforceFieldSettings, salesforceStatusSettings } from './salesforce-fields.ts';

/** What one field must be, by the role the adapter gives it. */
interface Expected {
  /** Describe types that take the adapter's values. */
  types: readonly string[];
  /** Least length, for text. */
  minLength?: number;
  /** What to create, in the words of Setup's New Field wizard. */
  create: string;
}

/** Each score field's role: the values the adapter writes to it (lib/crm/salesforce-fields.ts, salesforceLeadFields). */
const expected: Record<keyof SalesforceScoreFields, Expected> = {
  score: { types: ['double', 'int'], create: 'Number (Length 18, Decimal Places 0)' },
  fit: { types: ['double', 'int'], create: 'Number (Length 18, Decimal Places 0)' },
  behavior: { types: ['double', 'int'], create: 'Number (Length 18, Decimal Places 0)' },
  // The adapter cuts the reasons at 32,768 characters: a shorter field refuses long ones (STRING_TOO_LONG).
  reasons: { types: ['textarea'], minLength: 32_768, create: 'Long Text Area (Length 32,768, 5 visible lines)' },
  modelVersion: { types: ['string', 'textarea'], minLength: 12, create: 'Text (Length 40)' },
  // Both work: the adapter reads which one it is and writes the day (Date) or the moment (Date/Time).
  qualifiedAt: { types: ['date', 'datetime'], create: 'Date/Time (a Date field works too: it gets the UTC day)' },
};

const typeNames: Record<string, string> = {
  string: 'Text',
  textarea: 'Text Area',
  double: 'Number',
  int: 'Number',
  date: 'Date',
  datetime: 'Date/Time',
  picklist: 'Picklist',
  email: 'Email',
  phone: 'Phone',
  boolean: 'Checkbox',
  url: 'URL',
  currency: 'Currency',
  percent: 'Percent',
  reference: 'Lookup',
};

/** A field's type as Setup names it, with its length where it matters. */
function typeWords(field: SalesforceField): string {
  const name = field.type === 'textarea' && (field.length ?? 0) > 255 ? 'Long Text Area' : (typeNames[field.type] ?? field.type);
  return ['string', 'textarea'].includes(field.type) && field.length ? `${name}(${field.length})` : name;
}

export interface SalesforceFieldCheck {
  /** The setting that names the field. */
  setting: string;
  /** The field's API name; empty when the setting is set empty (the adapter sends nothing). */
  name: string;
  status: 'ok' | 'missing' | 'mistyped' | 'not editable' | 'not sent';
  /** What the org has, what the adapter writes, what to do. */
  detail: string;
}

export interface SalesforceStatusCheck {
  setting: string;
  value: string;
  active: boolean;
}

export interface SalesforceSetupResult {
  fields: SalesforceFieldCheck[];
  /** The Account's fields account handoffs write (`account.mqa`, `account.recycled`). */
  accountFields: SalesforceFieldCheck[];
  statuses: SalesforceStatusCheck[];
  /** Fields and statuses that stop deliveries (each a line with what to create or change). */
  problems: number;
}

const wizard = 'Setup > Object Manager > Lead > Fields & Relationships > New';
const accountWizard = 'Setup > Object Manager > Account > Fields & Relationships > New';

/** Each Account field's role (lib/crm/salesforce-accounts.ts): the values account handoffs write to it. */
const accountExpected: Record<'score' | 'status' | 'reasons', Expected> = {
  score: { types: ['double', 'int'], create: 'Number (Length 18, Decimal Places 0)' },
  // "MQA" or "Recycled".
  status: { types: ['string', 'textarea', 'picklist'], minLength: 8, create: 'Text (Length 20)' },
  reasons: { types: ['textarea'], minLength: 32_768, create: 'Long Text Area (Length 32,768, 5 visible lines)' },
};
const security = "then give the app's Run As user Edit access to it (Field-Level Security, or a permission set)";

/** The label Setup shows for an API name: `Lead_Score__c` is "Lead Score". */
const labelOf = (name: string) => name.replace(/__c$/, '').replace(/_/g, ' ');

/** Checks one field against what the adapter needs of it. */
function checkField(
  setting: string,
  name: string,
  field: SalesforceField | undefined,
  want: Expected,
  externalId = false,
  where = wizard,
): SalesforceFieldCheck {
  const create = `${want.create}, Field Label "${labelOf(name)}", Field Name "${name.replace(/__c$/, '')}"${externalId ? ', tick Unique and External ID' : ''}`;
  const orEmpty = externalId ? '' : `; or set ${setting}= (empty) to send nothing`;
  if (!field) return { setting, name, status: 'missing', detail: `missing. Create it: ${where} > ${create}; ${security}${orEmpty}` };
  const found = typeWords(field);
  if (!want.types.includes(field.type) || (want.minLength !== undefined && (field.length ?? 0) < want.minLength)) {
    return {
      setting,
      name,
      status: 'mistyped',
      detail: `is ${found}, the adapter needs ${want.create}. Change its type or create another field (${create}) and set ${setting} to it`,
    };
  }
  if (externalId && !field.externalId) {
    return { setting, name, status: 'mistyped', detail: `is ${found} but not marked External ID: edit it and tick External ID (and Unique)` };
  }
  if (field.createable === false || field.updateable === false) {
    return {
      setting,
      name,
      status: 'not editable',
      detail: `is ${found} but the app's Run As user cannot edit it: give it Edit access (Field-Level Security)`,
    };
  }
  const notes = [found];
  if (externalId) notes.push('External ID', field.unique ? 'Unique' : 'not Unique (two Leads may share an id: make it Unique)');
  if (field.type === 'date') notes.push('the adapter writes the day it qualified (UTC), YYYY-MM-DD');
  return { setting, name, status: 'ok', detail: `ok, ${notes.join(', ')}` };
}

/**
 * Logs in as the adapter does and checks the Lead's fields and statuses (see the file's comment).
 * @throws CrmDeliveryError when the login or the describe fails (its message names what to check).
 */
export async function checkSalesforce(settings: SalesforceSettings, options: SalesforceClientOptions = {}): Promise<SalesforceSetupResult> {
  const client = salesforceClient(settings, options);
  const refused = (answer: Answer) => {
    const said = errorItems(answer.body)
      .map((item) => `${item.errorCode ?? '?'}: ${item.message ?? ''}`)
      .join('; ');
    return new CrmDeliveryError(
      `Salesforce answered the Lead describe ${answer.response.status}${said ? ` (${said})` : ''}: the app's Run As user needs API Enabled and Read on Lead; check SALESFORCE_API_VERSION (${settings.apiVersion})`,
      { status: answer.response.status, retryable: false, kind: 'auth' },
    );
  };
  const fields = await client.leadFields({ calls: 0 }, refused);

  const checks: SalesforceFieldCheck[] = [
    checkField(
      'SALESFORCE_EXTERNAL_ID_FIELD',
      settings.externalIdField,
      fields.get(settings.externalIdField),
      { types: ['string'], create: 'Text (Length 255)' },
      true,
    ),
  ];
  for (const [role, setting] of Object.entries(salesforceFieldSettings) as [keyof SalesforceScoreFields, { env: string }][]) {
    const name = settings.fields[role];
    if (!name) {
      checks.push({ setting: setting.env, name: '', status: 'not sent', detail: 'set empty: not sent' });
      continue;
    }
    checks.push(checkField(setting.env, name, fields.get(name), expected[role]));
  }
  const active = new Set((fields.get('Status')?.picklistValues ?? []).filter((value) => value.active !== false).map((value) => value.value));
  const statuses = Object.entries(salesforceStatusSettings).map(([type, setting]) => {
    const value = settings.statuses[type as keyof typeof settings.statuses];
    return { setting: setting.env, value, active: active.has(value) };
  });
  const accountFields = await checkAccount(settings, client, refused);
  const problems =
    [...checks, ...accountFields].filter((check) => check.status !== 'ok' && check.status !== 'not sent').length +
    statuses.filter((status) => !status.active).length;
  return { fields: checks, accountFields, statuses, problems };
}

/** The Account's fields against what account handoffs write (its describe, one call). */
async function checkAccount(
  settings: SalesforceSettings,
  client: ReturnType<typeof salesforceClient>,
  refused: (answer: Answer) => CrmDeliveryError,
): Promise<SalesforceFieldCheck[]> {
  const account = accountSettingsOf(settings);
  const answer = await client.call('GET', `/services/data/${settings.apiVersion}/sobjects/Account/describe`, undefined, { calls: 0 });
  if (answer.response.status !== 200) throw refused(answer);
  const listed = (answer.body as { fields?: unknown } | undefined)?.fields;
  const fields = new Map(
    (Array.isArray(listed) ? (listed as SalesforceField[]) : []).filter((field) => typeof field?.name === 'string').map((field) => [field.name, field]),
  );
  const checks = [
    checkField(
      salesforceAccountFieldSettings.externalIdField.env,
      account.externalIdField,
      fields.get(account.externalIdField),
      { types: ['string'], create: 'Text (Length 255)' },
      true,
      accountWizard,
    ),
  ];
  for (const role of ['score', 'status', 'reasons'] as const) {
    const name = account.fields[role];
    const setting = salesforceAccountFieldSettings[role].env;
    if (!name) checks.push({ setting, name: '', status: 'not sent', detail: 'set empty: not sent' });
    else checks.push(checkField(setting, name, fields.get(name), accountExpected[role], false, accountWizard));
  }
  return checks;
}

/** `mql crm setup salesforce`'s report, one line per field and status. */
export function formatSalesforceSetup(result: SalesforceSetupResult, settings: Pick<SalesforceSettings, 'instanceUrl' | 'apiVersion'>): string {
  const lines = [`Salesforce at ${settings.instanceUrl}, Lead (API ${settings.apiVersion}):`];
  for (const check of result.fields) lines.push(`  ${check.name ? `${check.name} (${check.setting})` : check.setting}: ${check.detail}`);
  for (const status of result.statuses) {
    lines.push(
      `  Lead Status "${status.value}" (${status.setting}): ${
        status.active
          ? 'ok, active'
          : `not an active value. Add it: Setup > Object Manager > Lead > Fields & Relationships > Lead Status > Values > New; or set ${status.setting} to an active value`
      }`,
    );
  }
  lines.push(`Account (account handoffs, API ${settings.apiVersion}):`);
  for (const check of result.accountFields) lines.push(`  ${check.name ? `${check.name} (${check.setting})` : check.setting}: ${check.detail}`);
  lines.push(
    result.problems === 0
      ? 'everything the adapter writes is there'
      : `${result.problems} problem(s); nothing was changed (the REST API cannot create fields): fix them in Salesforce, then run this again`,
  );
  return lines.join('\n');
}
