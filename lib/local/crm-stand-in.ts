/**
 * `npx mql stand-in hubspot|salesforce`: the HubSpot or Salesforce stand-in as a long-lived local
 * server, so CRM_ADAPTER=hubspot / salesforce can be tried with `npm start` and no CRM account. The
 * credentials are the ones the pipeline will send (from .env); the operator is told which env lines
 * point the pipeline at it, and every call and every contact / Lead change is printed on one line.
 *
 * The stand-ins keep their calls and records in memory (lib/local/hubspot-stand-in.ts,
 * salesforce-stand-in.ts); {@link RunningCrmStandIn.changes} reads what is new since its last call.
 */

import { portIsFree } from './listen.ts';
import type { HubSpotStandIn } from './stand-ins/hubspot.ts';
import { startHubSpotStandIn } from './stand-ins/hubspot.ts';
import type { SalesforceStandIn } from './stand-ins/salesforce.ts';
import { standInCustomFields, startSalesforceStandIn } from './stand-ins/salesforce.ts';

export const crmStandInKinds = ['hubspot', 'salesforce'] as const;
export type CrmStandInKind = (typeof crmStandInKinds)[number];

/** Fixed ports by default (next to `mql receive`'s 4000 and the demo's Graph stand-in on 4001), so .env keeps working across restarts. */
export const crmStandInDefaultPorts: Readonly<Record<CrmStandInKind, number>> = { hubspot: 4002, salesforce: 4003 };

export interface RunningCrmStandIn {
  readonly kind: CrmStandInKind;
  readonly url: string;
  /** The lines to put in .env (or the environment of `npm start`) to deliver to this stand-in. */
  readonly envLines: string[];
  /** What to do next, in words (e.g. `npx mql crm setup` for HubSpot). */
  readonly nextSteps: string[];
  /** One line per call answered and per contact / Lead changed since the previous call, oldest first. */
  changes(): string[];
  close(): Promise<void>;
}

/** Settings missing from the environment, or a bad port: the message names what to set. */
export class CrmStandInSettingsError extends Error {
  override name = 'CrmStandInSettingsError';
}

/** A value as one short piece of a line: newlines shown as ⏎, long text cut with its length. */
export function shortValue(value: unknown, max = 60): string {
  if (value === null || value === undefined || value === '') return '∅';
  const text = (typeof value === 'string' ? value : JSON.stringify(value)).replace(/\r?\n/g, '⏎');
  return text.length > max ? `${text.slice(0, max - 1)}…(${text.length} chars)` : text;
}

const clock = (at: number) => new Date(at).toISOString().slice(11, 23);

const callLine = (call: { method: string; path: string; status: number; at: number }) => `${clock(call.at)}  ${call.method} ${call.path}  ${call.status}`;

function required(env: Readonly<Record<string, string | undefined>>, name: string, what: string): string {
  const value = env[name]?.trim();
  if (!value) throw new CrmStandInSettingsError(`stand-in needs ${name} (in .env or the environment): ${what}`);
  return value;
}

/** Refuses a taken port with a message that says what to do, before either stand-in starts. */
async function ensureFree(port: number): Promise<void> {
  if (port === 0) return;
  if (!(await portIsFree(port)))
    throw new CrmStandInSettingsError(
      `port ${port} is taken (EADDRINUSE): stop what listens there, or pass --port N (0 for any free one) and use that URL in .env`,
    );
}

function hubSpotChanges(standIn: HubSpotStandIn): () => string[] {
  let callsSeen = 0;
  const historySeen = new Map<string, number>();
  return () => {
    const lines = standIn.calls.slice(callsSeen).map(callLine);
    callsSeen = standIn.calls.length;
    for (const [email, contact] of standIn.contacts()) {
      const seen = historySeen.get(contact.id) ?? 0;
      const fresh = contact.history.slice(seen);
      if (fresh.length === 0) continue;
      historySeen.set(contact.id, contact.history.length);
      const created = seen === 0 && fresh[0]?.property === 'email' && fresh[0].from === null;
      const changed = fresh.filter((change) => !(created && change === fresh[0]));
      const what = changed.map((change) =>
        created ? `${change.property}=${shortValue(change.to)}` : `${change.property} ${shortValue(change.from)} -> ${shortValue(change.to)}`,
      );
      lines.push(
        `${clock(fresh.at(-1)!.at)}    contact ${contact.id} ${email} ${created ? 'created' : 'updated'}${what.length > 0 ? `: ${what.join(', ')}` : ''}`,
      );
    }
    return lines;
  };
}

function salesforceChanges(standIn: SalesforceStandIn): () => string[] {
  let callsSeen = 0;
  const known = new Map<string, Record<string, unknown>>();
  return () => {
    const lines = standIn.calls.slice(callsSeen).map(callLine);
    callsSeen = standIn.calls.length;
    const now = clock(Date.now());
    for (const [extId, lead] of standIn.leads()) {
      const before = known.get(extId);
      const after: Record<string, unknown> = { ...lead.fields, ...(lead.IsConverted ? { IsConverted: true } : {}) };
      const names = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after)])].filter(
        (name) => JSON.stringify(before?.[name]) !== JSON.stringify(after[name]),
      );
      if (before && names.length === 0) continue;
      known.set(extId, structuredClone(after));
      const what = names.map((name) => (before ? `${name} ${shortValue(before[name])} -> ${shortValue(after[name])}` : `${name}=${shortValue(after[name])}`));
      lines.push(`${now}    Lead ${lead.Id} ${extId} ${before ? 'updated' : 'created'}: ${what.join(', ')}`);
    }
    return lines;
  };
}

/**
 * Starts the stand-in for `kind` with the credentials of `env` (HUBSPOT_ACCESS_TOKEN; or
 * SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET and SALESFORCE_EXTERNAL_ID_FIELD) on `askedPort`
 * (default {@link crmStandInDefaultPorts}; 0 picks a free one).
 * @throws CrmStandInSettingsError naming the missing setting.
 */
export async function startCrmStandIn(kind: string, env: Readonly<Record<string, string | undefined>>, askedPort?: number): Promise<RunningCrmStandIn> {
  if (askedPort !== undefined && (!Number.isInteger(askedPort) || askedPort < 0 || askedPort > 65_535))
    throw new CrmStandInSettingsError(`--port must be a port number (0 for any free one), got ${askedPort}`);
  const port = askedPort ?? (kind === 'hubspot' || kind === 'salesforce' ? crmStandInDefaultPorts[kind] : 0);
  if (kind === 'hubspot') {
    const token = required(env, 'HUBSPOT_ACCESS_TOKEN', 'the private-app token the pipeline sends; the stand-in accepts only it');
    await ensureFree(port);
    const standIn = await startHubSpotStandIn({ token, port });
    return {
      kind,
      url: standIn.url,
      envLines: ['CRM_ADAPTER=hubspot', `HUBSPOT_BASE_URL=${standIn.url}`],
      nextSteps: [
        'then `npx mql crm setup` once: the stand-in starts as a new portal, without the mql_* contact properties',
        'and restart npm start; the contacts live in memory until Ctrl-C',
      ],
      changes: hubSpotChanges(standIn),
      close: () => standIn.close(),
    };
  }
  if (kind === 'salesforce') {
    const clientId = required(env, 'SALESFORCE_CLIENT_ID', 'the consumer key the pipeline logs in with');
    const clientSecret = required(env, 'SALESFORCE_CLIENT_SECRET', 'the consumer secret the pipeline logs in with');
    const externalIdField = required(env, 'SALESFORCE_EXTERNAL_ID_FIELD', 'the Lead External ID field, e.g. MQL_External_Id__c');
    await ensureFree(port);
    const standIn = await startSalesforceStandIn({ clientId, clientSecret, externalIdField, port });
    return {
      kind,
      url: standIn.url,
      envLines: ['CRM_ADAPTER=salesforce', `SALESFORCE_INSTANCE_URL=${standIn.url}`],
      nextSteps: [
        `the org has the Lead fields ${[externalIdField, ...standInCustomFields].join(', ')} (the adapter's defaults) and the Status "Marketing Qualified"`,
        'then restart npm start; the Leads live in memory until Ctrl-C',
      ],
      changes: salesforceChanges(standIn),
      close: () => standIn.close(),
    };
  }
  throw new CrmStandInSettingsError(`stand-in runs ${crmStandInKinds.join(' or ')}, got ${JSON.stringify(kind)}: mql stand-in hubspot|salesforce [--port N]`);
}
