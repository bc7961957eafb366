import { describe, expect, it } from 'vitest';
import { formatReceivedAccount } from '../../../bin/commands/receive.ts';
import { formatAccountReasons } from '../../../lib/crm/hubspot-companies.ts';
import { salesforceAccountReasons } from '../../../lib/crm/salesforce-accounts.ts';
import { salesforceAccountSettingsFromEnv } from '../../../lib/crm/salesforce-fields.ts';
import { erasedMember, withoutMembers } from '../../../lib/handoff/account-members.ts';
import { ownerOf, readHandoffMessage } from '../../../lib/handoff/records.ts';
import { accountRecord } from '../../setup/accounts.ts';
import { handoffRecord } from '../../setup/events.ts';

const at = new Date('2026-12-01T10:00:00.000Z');
const record = accountRecord('acme-robotics.com', { at, name: 'Acme Robotics' });

describe('account records on the handoff queue', () => {
  it('reads a record built by accountHandoffRecord as an account message, apart from a lead message of the same name', () => {
    expect(record.members.length).toBe(3);
    const message = readHandoffMessage(JSON.stringify(record));
    expect(message).toEqual({ record, accountKey: 'acme-robotics.com' });
    expect(ownerOf(message!)).toBe('account#acme-robotics.com');
    const lead = readHandoffMessage(JSON.stringify(handoffRecord('acme-robotics.com')));
    expect(ownerOf(lead!)).toBe('lead#acme-robotics.com');
  });

  it('refuses what is not an account record: no key, an empty or overlong key, no members, a member without a lead id, a time that is none', () => {
    const { accountKey: _key, ...keyless } = record;
    for (const body of [
      keyless,
      { ...record, accountKey: ' ' },
      { ...record, accountKey: 'x'.repeat(600) },
      { ...record, members: undefined },
      { ...record, members: [{ ...record.members[0], leadId: 42 }] },
      { ...record, members: [null] },
      { ...record, occurredAt: 'yesterday' },
      { ...record, id: '' },
      { ...record, score: null },
      { ...record, account: [] },
      { ...record, reasons: 'many' },
      { ...record, type: 'account.sql' },
    ]) {
      expect(readHandoffMessage(JSON.stringify(body))).toBeUndefined();
    }
  });
});

describe('an erased member blanked out of an account record', () => {
  const vp = record.members.find((member) => member.leadId.startsWith('vp@'))!;
  const blanked = withoutMembers(record, new Set([vp.leadId]));

  it('leaves no trace of the address, the job title or the role, and the reasons still add up to the total', () => {
    expect(JSON.stringify(blanked)).not.toContain(vp.leadId);
    const member = blanked.members.find((one) => one.leadId === erasedMember)!;
    expect(member).not.toHaveProperty('jobTitle');
    expect(member).not.toHaveProperty('role');
    expect(member.score).toEqual(vp.score);
    expect(blanked.reasons.reduce((sum, reason) => sum + reason.points, 0)).toBe(record.score.total);
    expect(blanked.reasons.map((reason) => reason.points)).toEqual(record.reasons.map((reason) => reason.points));
  });

  it('changes nothing else: the other members and the score as they were; the original record untouched', () => {
    expect(blanked.members.filter((one) => one.leadId !== erasedMember)).toEqual(record.members.filter((one) => one.leadId !== vp.leadId));
    expect(blanked.score).toEqual(record.score);
    expect(JSON.stringify(record)).toContain(vp.leadId);
    expect(withoutMembers(record, new Set())).toEqual(record);
  });
});

describe('account records as text', () => {
  it('mql receive shows the account, its score against its thresholds, each member and the reasons', () => {
    const text = formatReceivedAccount({ webhookId: record.id, timestamp: 0, accountKey: record.accountKey, record, receivedAt: 0, arrivedAt: 0 });
    const lines = text.split('\n');
    expect(lines[0]).toContain(`account.mqa  account acme-robotics.com (Acme Robotics)  score ${record.score.total}`);
    expect(lines[0]).toContain(`MQA at ${record.score.threshold}`);
    expect(lines.filter((line) => line.startsWith('    member '))).toHaveLength(3);
    expect(text).toContain('    reasons: ');
  });

  it("HubSpot's and Salesforce's reasons: the score line, then a line per reason whose points add up; cut to the limit with a count", () => {
    for (const text of [formatAccountReasons(record), salesforceAccountReasons(record)]) {
      const [head, ...lines] = text.split('\n');
      expect(head).toContain(`score ${record.score.total} = fit ${record.score.fit} + engagement ${record.score.engagement} + breadth ${record.score.breadth}`);
      const points = lines.filter((line) => /^[+-]\d+ /.test(line)).map((line) => Number.parseInt(line, 10));
      expect(points.reduce((sum, value) => sum + value, 0)).toBe(record.score.total);
    }
    expect(formatAccountReasons(record, 250).length).toBeLessThanOrEqual(250);
    expect(formatAccountReasons(record, 250)).toMatch(/more line\(s\) left out$/);
    expect(salesforceAccountReasons(record, 200).length).toBeLessThanOrEqual(200);
  });
});

describe('Salesforce Account settings', () => {
  it('defaults, a field set empty is not sent, the key field cannot be empty, names are API names', () => {
    expect(salesforceAccountSettingsFromEnv({})).toEqual({
      externalIdField: 'MQL_Account_Key__c',
      fields: { score: 'MQL_Account_Score__c', status: 'MQL_Account_Status__c', reasons: 'MQL_Account_Reasons__c' },
    });
    expect(salesforceAccountSettingsFromEnv({ SALESFORCE_ACCOUNT_REASONS_FIELD: '', SALESFORCE_ACCOUNT_SCORE_FIELD: 'Score__c' }).fields).toEqual({
      score: 'Score__c',
      status: 'MQL_Account_Status__c',
    });
    expect(() => salesforceAccountSettingsFromEnv({ SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD: '' })).toThrow(/SALESFORCE_ACCOUNT_EXTERNAL_ID_FIELD/);
    expect(() => salesforceAccountSettingsFromEnv({ SALESFORCE_ACCOUNT_STATUS_FIELD: 'Status; DROP' })).toThrow(/SALESFORCE_ACCOUNT_STATUS_FIELD/);
  });
});
