/**
 * Account handoffs in Salesforce (docs/providers/salesforce.md, "Accounts"): each `account.mqa` /
 * `account.recycled` upserts an Account by an External ID field holding the account's key
 * (`MQL_Account_Key__c` by default, SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD): the registrable domain, or
 * `group:<groupId>` for an account known by its group only. It writes the score, the status (`MQA` or
 * `Recycled`, a Text field) and the reasons; never the Account's Name or Website of an Account that exists:
 * the first write sends the scores alone, and only when Salesforce answers REQUIRED_FIELD_MISSING (so the
 * upsert would create the Account) is it sent again with a Name (the account's, else its domain or group id)
 * and the Website. Members are not linked: a Lead has no standard lookup to an Account (only a Contact has one,
 * and the pipeline hands off Leads), so the members stay Leads, found by their own external ids.
 */
import { redacted } from '../http/outbound.ts';
import type { AccountHandoffRecord, DeliveryReceipt, HandoffRecord } from './adapter.ts';
import { CrmDeliveryError } from './adapter.ts';
import type { Answer, SalesforceClient } from './salesforce-client.ts';
import type { SalesforceAccountSettings, SalesforceSettings } from './salesforce-fields.ts';
import { errorItems, salesforceAccountFieldSettings, salesforceAccountSettingsFromEnv, salesforceFailure } from './salesforce-fields.ts';

/** What the status field holds for each transition. */
export const salesforceAccountStatuses = { 'account.mqa': 'MQA', 'account.recycled': 'Recycled' } as const;

/** A Long Text Area's default size: longer reasons are cut. */
const maxReasonsLength = 32_768;

/** The Account settings in force: the configured ones, else the defaults. */
export function accountSettingsOf(settings: Pick<SalesforceSettings, 'account'>): SalesforceAccountSettings {
  return settings.account ?? salesforceAccountSettingsFromEnv({});
}

/** The account's explanation as text: the score line, then a line per reason (its member when it is one's). */
export function salesforceAccountReasons(record: AccountHandoffRecord, limit = maxReasonsLength): string {
  const { score } = record;
  const lines = [
    `${salesforceAccountStatuses[record.type]} ${record.occurredAt}: score ${score.total} = fit ${score.fit} + engagement ${score.engagement} + breadth ${score.breadth} (MQA at ${score.threshold}, recycled below ${score.recycleBelow}), model ${score.modelVersion}`,
    ...[...record.reasons]
      .sort((a, b) => Math.abs(b.points) - Math.abs(a.points))
      .map(
        (reason) =>
          `${reason.points >= 0 ? '+' : ''}${reason.points} ${reason.kind}: ${reason.description || reason.rule}${reason.member ? ` (${reason.member})` : ''}`,
      ),
  ];
  const text = lines.join('\n');
  return text.length <= limit ? text : `${text.slice(0, limit - 30)}\n... cut at ${limit} characters`;
}

/** The fields every write of the record sends. */
function scoreFields(record: AccountHandoffRecord, account: SalesforceAccountSettings): Record<string, string | number> {
  const fields: Record<string, string | number> = {};
  if (account.fields.score) fields[account.fields.score] = record.score.total;
  if (account.fields.status) fields[account.fields.status] = salesforceAccountStatuses[record.type];
  if (account.fields.reasons) fields[account.fields.reasons] = salesforceAccountReasons(record);
  return fields;
}

/** What a message quoting Salesforce about the record must not repeat: its members' ids and titles. */
const knownOf = (record: AccountHandoffRecord) =>
  record.members.flatMap((member) => [member.leadId, member.jobTitle].filter((value): value is string => !!value));

/** An answer other than 200/201/204 as the failure the retry policy needs, naming the Account settings. */
function accountFailure(
  answer: Answer,
  record: AccountHandoffRecord,
  now: Date,
  settings: SalesforceSettings,
  account: SalesforceAccountSettings,
): CrmDeliveryError {
  const { status } = answer.response;
  const items = errorItems(answer.body);
  const known = knownOf(record);
  const said = redacted(items.map((item) => `${item.errorCode ?? '?'}: ${item.message ?? ''}`).join('; '), known);
  if (status === 404)
    return new CrmDeliveryError(
      `Salesforce answered 404 (${said}): no Account field ${account.externalIdField} the API user can see; check ${salesforceAccountFieldSettings.externalIdField.env} (an External ID Text field on Account, visible to the Run As user) and SALESFORCE_API_VERSION (${settings.apiVersion})`,
      { status, retryable: false, kind: 'rejected' },
    );
  if (items.some((item) => item.errorCode === 'INVALID_FIELD')) {
    const roles = (['score', 'status', 'reasons'] as const).filter((role) => account.fields[role] && said.includes(`'${account.fields[role]}'`));
    const hint =
      roles.length > 0
        ? roles
            .map((role) => `create the Account field ${account.fields[role]} or set ${salesforceAccountFieldSettings[role].env}= (empty) to stop sending it`)
            .join('; ')
        : 'check the SALESFORCE_ACCOUNT_*_FIELD settings (run `npx mql crm setup salesforce`)';
    return new CrmDeliveryError(`Salesforce answered ${status} (${said}): ${hint}`, { status, retryable: false, kind: 'rejected' });
  }
  // The rest (limits, locks, sessions, permissions, 5xx) as for a Lead, with the Account's key field.
  const outcome = salesforceFailure(
    { status, body: answer.body, text: answer.text, headers: answer.response.headers },
    {
      type: 'lead.mql',
      id: record.id,
      occurredAt: record.occurredAt,
      leadId: record.accountKey,
      lead: {},
      score: { ...record.score, behavior: 0 },
      reasons: [],
      recentEvents: [],
    } as HandoffRecord,
    now,
    { ...settings, externalIdField: account.externalIdField },
    known,
  );
  return outcome instanceof CrmDeliveryError
    ? new CrmDeliveryError(outcome.message.replace(/\bLead\b/g, 'Account'), {
        ...(outcome.status === undefined ? {} : { status: outcome.status }),
        ...(outcome.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: outcome.retryAfterSeconds }),
        retryable: outcome.retryable,
        kind: outcome.kind,
      })
    : new CrmDeliveryError(`Salesforce answered the Account upsert ${status}; will retry`, { status, retryable: true, kind: 'unavailable' });
}

/**
 * Upserts the record's Account (see the file's comment).
 * @throws CrmDeliveryError of the kind the handoff's retry policy needs.
 */
export async function deliverAccount(
  record: AccountHandoffRecord,
  now: Date,
  settings: SalesforceSettings,
  client: Pick<SalesforceClient, 'call'>,
): Promise<DeliveryReceipt> {
  const account = accountSettingsOf(settings);
  const path = `/services/data/${settings.apiVersion}/sobjects/Account/${encodeURIComponent(account.externalIdField)}/${encodeURIComponent(record.accountKey)}`;
  const tally = { calls: 0 };
  const fields = scoreFields(record, account);
  let answer = await client.call('PATCH', path, fields, tally);
  let created = false;
  const missingName = errorItems(answer.body).some((item) => item.errorCode === 'REQUIRED_FIELD_MISSING' && (item.fields ?? []).includes('Name'));
  if (answer.response.status === 400 && missingName) {
    // No Account has the key yet: created with a name and the website; an existing Account's are never overwritten.
    const name = record.account.name?.trim() || record.account.domain || record.account.groupId || record.accountKey;
    answer = await client.call(
      'PATCH',
      path,
      { ...fields, Name: name.slice(0, 255), ...(record.account.domain ? { Website: record.account.domain } : {}) },
      tally,
    );
    created = true;
  }
  const { status } = answer.response;
  if (status === 200 || status === 201 || status === 204) {
    const body = (answer.body ?? {}) as { id?: unknown; created?: unknown };
    const receipt: DeliveryReceipt = { status, created: created && (status === 201 || body.created === true), calls: tally.calls };
    if (typeof body.id === 'string') receipt.externalId = body.id;
    return receipt;
  }
  throw accountFailure(answer, record, now, settings, account);
}
