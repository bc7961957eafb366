/**
 * Deployment settings of the AWS stack: what an operator chooses at `cdk synth`/`cdk deploy`
 * time, from CDK context (`-c crmAdapter=webhook`) or else from the environment with the
 * operator contract's variable names (`CRM_ADAPTER=webhook cdk deploy`). Context wins, so a
 * `cdk.json` or command-line choice is never silently overridden by a stray shell variable.
 *
 * Secrets are NOT settings: they live in the Secrets Manager secret and are set after deploy.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultFacebookGraphUrl } from '../lib/apis/facebook-graph.ts';
import { defaultLinkedinApiUrl } from '../lib/apis/linkedin-leads.ts';
import { parseModel } from '../lib/core/model.ts';
import { defaultModel } from '../lib/runtime/default-model.ts';
import { installedEmailDomainLists } from '../lib/runtime/email-domain-lists.ts';
import { HubSpotOutcomeMapError, hubspotOutcomeMap } from '../lib/sources/hubspot.ts';
import { retentionFromEnv } from '../lib/store/retention.ts';
import { secretKeys } from '../lib/topology.ts';

/** CRM adapters of the operator contract (`CRM_ADAPTER`). */
export const crmAdapters = ['webhook', 'hubspot', 'salesforce', 'none'] as const;
export type CrmAdapter = (typeof crmAdapters)[number];

/** Levels the Powertools logger understands (`LOG_LEVEL`). */
export const logLevels = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;
export type LogLevel = (typeof logLevels)[number];

export { defaultFacebookGraphUrl, defaultLinkedinApiUrl };
export const defaultHubspotBaseUrl = 'https://api.hubapi.com';
export const defaultRawRetentionDays = 30;

/** What the functions are configured with; every field is optional and defaulted by {@link resolveSettings}. */
export interface MqlEngineSettings {
  /** Where MQLs go (`CRM_ADAPTER`). @default 'none' */
  readonly crmAdapter?: CrmAdapter;
  /** Endpoint of `CRM_ADAPTER=webhook` (`CRM_WEBHOOK_URL`); required for that adapter. */
  readonly crmWebhookUrl?: string;
  /** Graph API base for Facebook lead fetches (`FACEBOOK_GRAPH_URL`). @default https://graph.facebook.com/v26.0 */
  readonly facebookGraphUrl?: string;
  /** LinkedIn's versioned API base for lead fetches (`LINKEDIN_API_URL`). @default https://api.linkedin.com/rest */
  readonly linkedinApiUrl?: string;
  /** HubSpot API base (`HUBSPOT_BASE_URL`). @default https://api.hubapi.com */
  readonly hubspotBaseUrl?: string;
  /**
   * A scoring-model JSON file (`MQL_MODEL_PATH`). Validated at synth and inlined into every
   * bundle, so the deployed model is exactly the file's content at deploy time.
   * @default - the default model that ships with lib/core
   */
  readonly modelPath?: string;
  /** Days raw provider payloads are kept before DynamoDB TTL removes them (`RAW_RETENTION_DAYS`). @default 30 */
  readonly rawRetentionDays?: number;
  /** Days event items are kept after the event occurred (`EVENT_RETENTION_DAYS`; docs/data-protection.md). @default - kept */
  readonly eventRetentionDays?: number;
  /** Days handoff summaries and CRM links are kept after the last attempt (`HANDOFF_RETENTION_DAYS`, at least 30). @default - kept */
  readonly handoffRetentionDays?: number;
  /** Days a visitor's history not yet tied to a person is kept (`ANONYMOUS_RETENTION_DAYS`; docs/providers/events.md). @default 90 */
  readonly anonymousRetentionDays?: number;
  /** Function log level (`LOG_LEVEL`). @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** If set, alarms notify this address through an SNS topic (`ALARM_EMAIL`). */
  readonly alarmEmail?: string;
  /**
   * The CRM adapter's other settings for the handoff function, by their operator-contract names
   * (`SALESFORCE_INSTANCE_URL`, `SALESFORCE_CLIENT_ID`, `HUBSPOT_RECYCLED_LEAD_STATUS`, ...): context
   * `crmEnv` as a JSON object, else every `SALESFORCE_*` / `HUBSPOT_*` variable of the environment
   * (secrets excepted: they belong in the Secrets Manager secret).
   */
  readonly crmEnv?: Readonly<Record<string, string>>;
}

/** {@link MqlEngineSettings} with defaults applied, validated, and the model file read. */
export interface ResolvedSettings {
  readonly crmAdapter: CrmAdapter;
  readonly crmWebhookUrl: string;
  readonly facebookGraphUrl: string;
  readonly linkedinApiUrl: string;
  readonly hubspotBaseUrl: string;
  /** The model file's content, validated; undefined for the default model. */
  readonly modelJson: string | undefined;
  /** Version (content hash) of the model the functions will score with. */
  readonly modelVersion: string;
  readonly rawRetentionDays: number;
  readonly eventRetentionDays: number | undefined;
  readonly handoffRetentionDays: number | undefined;
  /** Undefined: the functions' default (90 days, lib/store/table.ts). */
  readonly anonymousRetentionDays: number | undefined;
  readonly logLevel: LogLevel;
  readonly alarmEmail: string | undefined;
  readonly crmEnv: Readonly<Record<string, string>>;
}

/** Thrown at synth for a setting that would only fail later, in a deployed Lambda. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/**
 * Context key -> environment variable of each setting. The context key is what `-c key=value`
 * and `cdk.json` use; the variable is the operator contract's name for the same thing.
 */
export const settingSources = {
  crmAdapter: 'CRM_ADAPTER',
  crmWebhookUrl: 'CRM_WEBHOOK_URL',
  facebookGraphUrl: 'FACEBOOK_GRAPH_URL',
  linkedinApiUrl: 'LINKEDIN_API_URL',
  hubspotBaseUrl: 'HUBSPOT_BASE_URL',
  modelPath: 'MQL_MODEL_PATH',
  rawRetentionDays: 'RAW_RETENTION_DAYS',
  eventRetentionDays: 'EVENT_RETENTION_DAYS',
  handoffRetentionDays: 'HANDOFF_RETENTION_DAYS',
  anonymousRetentionDays: 'ANONYMOUS_RETENTION_DAYS',
  logLevel: 'LOG_LEVEL',
  alarmEmail: 'ALARM_EMAIL',
} as const satisfies Record<Exclude<keyof MqlEngineSettings, 'crmEnv'>, string>;

/** Names a CRM adapter setting may have ({@link MqlEngineSettings.crmEnv}); HUBSPOT_BASE_URL is a setting of its own. */
const crmEnvName = /^(SALESFORCE|HUBSPOT)_[A-Z0-9_]+$/;

/** Anything with CDK's `tryGetContext` (an App's or a Stack's node). */
export interface ContextSource {
  tryGetContext(key: string): unknown;
}

/**
 * Reads the settings from CDK context, falling back to the environment. Values are taken as
 * given (strings from `-c` included); {@link resolveSettings} validates them.
 */
export function settingsFromContext(node: ContextSource, env: NodeJS.ProcessEnv = process.env): MqlEngineSettings {
  const raw: Record<string, unknown> = {};
  for (const [key, variable] of Object.entries(settingSources)) {
    const fromContext = node.tryGetContext(key);
    const value = fromContext ?? env[variable];
    // An empty variable means "not set", as the operator contract treats it everywhere else.
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const days = raw.rawRetentionDays;
  const crmContext = node.tryGetContext('crmEnv');
  if (crmContext !== undefined) raw.crmEnv = typeof crmContext === 'string' ? parseCrmEnv(crmContext) : crmContext;
  else {
    const fromEnv = Object.entries(env).filter(
      ([name, value]) => crmEnvName.test(name) && name !== settingSources.hubspotBaseUrl && !looksSecret(name) && value !== undefined && value !== '',
    );
    if (fromEnv.length > 0) raw.crmEnv = Object.fromEntries(fromEnv);
  }
  return {
    ...raw,
    ...(days === undefined ? {} : { rawRetentionDays: Number(days) }),
    ...(raw.eventRetentionDays === undefined ? {} : { eventRetentionDays: Number(raw.eventRetentionDays) }),
    ...(raw.handoffRetentionDays === undefined ? {} : { handoffRetentionDays: Number(raw.handoffRetentionDays) }),
    ...(raw.anonymousRetentionDays === undefined ? {} : { anonymousRetentionDays: Number(raw.anonymousRetentionDays) }),
  } as MqlEngineSettings;
}

function httpsUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SettingsError(`${name} is not a URL: ${JSON.stringify(value)}`);
  }
  // Lead data and CRM credentials travel on these; plain HTTP would leak both.
  if (url.protocol !== 'https:') throw new SettingsError(`${name} must be an https:// URL, got ${JSON.stringify(value)}`);
  return value.replace(/\/+$/, '');
}

/**
 * Applies defaults and checks every setting, so a mistake fails `cdk synth` with a message
 * instead of a deployed function failing on its first event.
 *
 * @param baseDir - directory a relative `modelPath` is resolved against (the CDK app's cwd).
 */
export function resolveSettings(settings: MqlEngineSettings = {}, baseDir = process.cwd()): ResolvedSettings {
  const crmAdapter = settings.crmAdapter ?? 'none';
  if (!crmAdapters.includes(crmAdapter)) {
    throw new SettingsError(`crmAdapter must be one of ${crmAdapters.join(', ')}, got ${JSON.stringify(crmAdapter)}`);
  }
  const crmWebhookUrl = settings.crmWebhookUrl ? httpsUrl('crmWebhookUrl', settings.crmWebhookUrl) : '';
  if (crmAdapter === 'webhook' && !crmWebhookUrl) {
    throw new SettingsError('crmAdapter=webhook needs crmWebhookUrl (context) or CRM_WEBHOOK_URL (environment)');
  }
  const rawRetentionDays = settings.rawRetentionDays ?? defaultRawRetentionDays;
  if (!Number.isInteger(rawRetentionDays) || rawRetentionDays < 1) {
    throw new SettingsError(`rawRetentionDays must be a whole number of days >= 1, got ${String(settings.rawRetentionDays)}`);
  }
  // The functions check the same way at their cold start (lib/store/retention.ts); here it fails the synth instead.
  let retention: ReturnType<typeof retentionFromEnv>;
  try {
    retention = retentionFromEnv({
      EVENT_RETENTION_DAYS: settings.eventRetentionDays?.toString(),
      HANDOFF_RETENTION_DAYS: settings.handoffRetentionDays?.toString(),
      ANONYMOUS_RETENTION_DAYS: settings.anonymousRetentionDays?.toString(),
    });
  } catch (error) {
    throw new SettingsError((error as Error).message);
  }
  const logLevel = (settings.logLevel?.toUpperCase() ?? 'INFO') as LogLevel;
  if (!logLevels.includes(logLevel)) {
    throw new SettingsError(`logLevel must be one of ${logLevels.join(', ')}, got ${JSON.stringify(settings.logLevel)}`);
  }
  const model = settings.modelPath === undefined ? undefined : readModel(resolve(baseDir, settings.modelPath));
  return {
    crmAdapter,
    crmWebhookUrl,
    facebookGraphUrl: httpsUrl('facebookGraphUrl', settings.facebookGraphUrl ?? defaultFacebookGraphUrl),
    linkedinApiUrl: httpsUrl('linkedinApiUrl', settings.linkedinApiUrl ?? defaultLinkedinApiUrl),
    hubspotBaseUrl: httpsUrl('hubspotBaseUrl', settings.hubspotBaseUrl ?? defaultHubspotBaseUrl),
    modelJson: model?.json,
    modelVersion: model?.version ?? defaultModel.version,
    rawRetentionDays,
    eventRetentionDays: retention.eventRetentionDays,
    handoffRetentionDays: retention.handoffRetentionDays,
    anonymousRetentionDays: retention.anonymousRetentionDays,
    logLevel,
    alarmEmail: settings.alarmEmail || undefined,
    crmEnv: resolveCrmEnv(settings.crmEnv, crmAdapter),
  };
}

/** A secret of the operator contract, or a name that reads like one: never a function environment variable. */
function looksSecret(name: string): boolean {
  return (secretKeys as readonly string[]).includes(name) || /SECRET|TOKEN|PASSWORD|PRIVATE_KEY/.test(name);
}

function parseCrmEnv(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SettingsError(
      `crmEnv must be a JSON object of CRM settings, e.g. {"SALESFORCE_INSTANCE_URL":"https://acme.my.salesforce.com"}: ${(error as Error).message}`,
    );
  }
}

/** The CRM settings, checked: known names, string values, no secrets, the Salesforce instance over https. */
function resolveCrmEnv(crmEnv: unknown, crmAdapter: CrmAdapter): Record<string, string> {
  if (crmEnv === undefined) crmEnv = {};
  if (typeof crmEnv !== 'object' || crmEnv === null || Array.isArray(crmEnv)) throw new SettingsError('crmEnv must be an object of CRM settings');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(crmEnv)) {
    if (!crmEnvName.test(name) || name === settingSources.hubspotBaseUrl)
      throw new SettingsError(`crmEnv: ${name} is not a CRM setting (SALESFORCE_* or HUBSPOT_*; HUBSPOT_BASE_URL is hubspotBaseUrl)`);
    if (looksSecret(name))
      throw new SettingsError(`crmEnv: ${name} is a secret: set it in the stack's Secrets Manager secret, not in the function's environment`);
    if (typeof value !== 'string') throw new SettingsError(`crmEnv: ${name} must be a string`);
    out[name] = name === 'SALESFORCE_INSTANCE_URL' || name === 'HUBSPOT_WEBHOOK_URL' ? httpsUrl(name, value) : value;
  }
  // HubSpot's webhook refuses a bad map at cold start; refusing it at synth says so before the deploy.
  try {
    hubspotOutcomeMap(out.HUBSPOT_OUTCOME_MAP);
  } catch (error) {
    if (error instanceof HubSpotOutcomeMapError) throw new SettingsError(`crmEnv: ${error.message}`);
    throw error;
  }
  if (crmAdapter === 'salesforce') {
    const missing = ['SALESFORCE_INSTANCE_URL', 'SALESFORCE_CLIENT_ID', 'SALESFORCE_EXTERNAL_ID_FIELD'].filter((name) => !out[name]);
    if (missing.length > 0) throw new SettingsError(`crmAdapter=salesforce needs ${missing.join(', ')} (environment, or context crmEnv)`);
  }
  return out;
}

/** The model file, checked against the model schema, as compact JSON, and its version. */
function readModel(path: string): { json: string; version: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SettingsError(`modelPath: cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new SettingsError(`modelPath: ${path} is not JSON: ${(error as Error).message}`);
  }
  let version: string;
  try {
    version = parseModel(parsed, installedEmailDomainLists, path).version;
  } catch (error) {
    throw new SettingsError(`modelPath: ${path} is not a valid scoring model: ${(error as Error).message}`);
  }
  // The file's content as written, not the parsed and defaulted form, so the Lambda parses
  // exactly what `mql backtest --model FILE` parses; whitespace goes (the version hashes
  // canonical JSON, so it is unaffected).
  return { json: JSON.stringify(parsed), version };
}
