import { describe, expect, it } from 'vitest';
import { formatAccountExplanation } from '../../../bin/commands/explain-account.ts';
import accountSection from '../../../examples/account-section.json' with { type: 'json' };
import type { AccountState } from '../../../lib/core/account-lifecycle.ts';
import { evaluateAccount } from '../../../lib/core/account-lifecycle.ts';
import defaultModelJson from '../../../lib/core/default-model.json' with { type: 'json' };
import type { Lead, NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents } from '../../../lib/core/index.ts';
import type { AccountRead } from '../../../lib/store/accounts.ts';
import type { StoredLead } from '../../../lib/store/repository.ts';
import { accountAskOf, accountView, findAccountView, notFoundDetail } from '../../../lib/views/account-view.ts';
import { event } from '../../setup/events.ts';
import { parseModel } from '../../setup/model.ts';

const model = parseModel(structuredClone({ ...defaultModelJson, ...accountSection }));
/** A model that scores no account: the default model without its `account` section. */
const { account: _account, ...withoutAccounts } = structuredClone(defaultModelJson);
const noAccountModel = parseModel(withoutAccounts);
const day = 86_400_000;
const t0 = new Date('2026-03-02T09:00:00.000Z');
const at = (days: number) => new Date(t0.getTime() + days * day);

/** A member as the store keeps it: its events applied by the lead's own scoring. */
function stored(email: string, jobTitle: string, type: string, days: number, properties: NormalizedEvent['properties'] = {}): StoredLead {
  const { lead, score } = applyEvents(
    undefined,
    [
      event(email, 'profile_updated', at(days), { profile: { jobTitle, industry: 'Software', companySize: 1200 } }),
      event(email, type, at(days), { properties }),
    ],
    model,
    at(days),
  );
  const { reasons: _reasons, ...rest } = score;
  return { ...lead, version: 1, score: { ...rest, at: at(days).toISOString() } };
}

const acme = () => [
  stored('vp@acme.com', 'VP Operations', 'content_downloaded', 0, { contentType: 'case_study' }),
  stored('director@acme.com', 'Director of IT', 'webinar_attended', 1),
  stored('manager@acme.com', 'IT Manager', 'webinar_attended', 2),
];

/** What the roll-up stored for the account at `days`. */
function rolledUp(leads: Lead[], days: number): AccountState {
  const state = evaluateAccount({ key: 'acme.com', kind: 'domain', domain: 'acme.com', domainKind: 'work' }, leads, undefined, model, at(days)).state;
  return { ...state!, outbox: {} };
}

const read = (leads: StoredLead[], state?: AccountState, extraIds: string[] = []): AccountRead => ({
  state: state ? { ...state, version: 1 } : undefined,
  memberIds: [...leads.map((lead) => lead.leadId), ...extraIds],
  leads,
});

describe('the account a caller names', () => {
  it.each([
    ['acme.com', { key: 'acme.com' }],
    ['  Mail.ACME.co.uk ', { key: 'acme.co.uk' }],
    ['büro.müller.de', { key: 'xn--mller-kva.de' }],
    ['group:4242', { key: 'group:4242' }],
    ['group: dana@acme.com ', { key: 'group:dana@acme.com' }],
  ])('%s names %j', (asked, expected) => {
    expect(accountAskOf(asked, model)).toEqual(expected);
  });

  it.each([
    [undefined],
    [''],
    ['group:'],
    [`group:${'g'.repeat(201)}`],
    ['dana@acme.com'],
    ['co.uk'],
    ['acme.internal'],
    ['192.0.2.1'],
    ['%E0%A4%A'],
    [`${'a'.repeat(250)}.com`],
  ])('%j names none (400)', (asked) => {
    expect(accountAskOf(asked, model)).toEqual({ invalid: expect.any(String) });
  });

  it('a free-mail or disposable domain can never be an account (404, saying why)', () => {
    expect(accountAskOf('gmail.com', model)).toEqual({ noAccount: expect.stringMatching(/^gmail\.com is a personal e-mail domain/) });
    expect(accountAskOf('mailinator.com', model)).toEqual({ noAccount: expect.stringMatching(/disposable/) });
  });

  it("a not-found detail never carries a group's id, and points a domain at the group id", () => {
    expect(notFoundDetail('group:dana@acme.com')).not.toContain('dana');
    expect(notFoundDetail('acme.com')).toContain('/accounts/group%3A<groupId>');
  });
});

describe("an account's view", () => {
  it('scores the members now, with the stored status as the previous one, and the due time of an MQA', () => {
    const leads = acme();
    const view = accountView('acme.com', read(leads, rolledUp(leads, 2)), model, at(3))!;
    const control = evaluateAccount({ key: 'acme.com', kind: 'domain', domain: 'acme.com' }, leads, rolledUp(leads, 2), model, at(3)).breakdown!;
    expect(view).toMatchObject({
      key: 'acme.com',
      kind: 'domain',
      domain: 'acme.com',
      status: 'mqa',
      score: {
        total: control.total,
        fit: control.fit,
        engagement: control.engagement,
        breadth: control.breadth,
        threshold: 100,
        recycleBelow: 70,
        minMembers: 2,
      },
      mqaAt: at(2).toISOString(),
      statusChangedAt: at(2).toISOString(),
      scoredAt: at(3).toISOString(),
    });
    expect(view.storedStatus).toBeUndefined();
    expect(view.reasons.reduce((sum, reason) => sum + reason.points, 0)).toBe(view.score.total);
    expect(view.members.map((member) => [member.leadId, member.role, member.counted, member.engaged])).toEqual([
      ['director@acme.com', 'director', true, true],
      ['manager@acme.com', 'manager', true, true],
      ['vp@acme.com', 'executive', true, true],
    ]);
    expect(view.members[2]).toMatchObject({ jobTitle: 'VP Operations', score: { fit: expect.any(Number) }, cut: 0 });
    // Decay alone recycles it at a moment strictly later, when the total falls below recycleBelow.
    const recycles = new Date(view.recyclesAt!);
    expect(recycles.getTime()).toBeGreaterThan(at(3).getTime());
    expect(accountView('acme.com', read(leads, rolledUp(leads, 2)), model, recycles)!.status).toBe('recycled');
  });

  it('says when the stored status lags behind the score (the roll-up has not run yet)', () => {
    const leads = acme();
    const view = accountView('acme.com', read(leads, rolledUp(leads.slice(0, 2), 1)), model, at(3))!;
    expect(view).toMatchObject({ status: 'mqa', storedStatus: 'engaged' });
  });

  it('leaves out a member item whose lead is gone or elsewhere, and knows no account with neither members nor state', async () => {
    const leads = acme();
    const view = accountView('acme.com', read(leads.slice(0, 1), undefined, ['gone@acme.com']), model, at(3))!;
    expect(view.members.map((member) => member.leadId)).toEqual(['vp@acme.com']);
    expect(view).toMatchObject({ status: 'engaged', storedStatus: 'new' });
    expect(accountView('acme.com', read([], undefined, ['gone@acme.com']), model, at(3))).toBeUndefined();
    // A model without an account section reads nothing.
    let asked = 0;
    const reads = {
      read: async () => {
        asked += 1;
        return read(leads);
      },
    };
    expect(await findAccountView(reads, noAccountModel, 'acme.com', at(3))).toBeUndefined();
    expect(asked).toBe(0);
  });

  it('explains itself in text: totals that add up, each member with its contribution and role, what is missing', () => {
    const leads = acme().slice(0, 2);
    const view = accountView('acme.com', read(leads), model, at(3))!;
    const text = formatAccountExplanation(view);
    expect(text).toContain(`acme.com  domain account  status engaged`);
    expect(text).toContain(`score ${view.score.total} = fit 30 + engagement ${view.score.engagement} + breadth 20`);
    expect(text).toContain('thresholds: mqa 100 with at least 2 engaged member(s), recycleBelow 70');
    expect(text).toContain('traits: industry Software (2 member(s)), companySize 1200 (2 member(s))');
    for (const sentence of view.missing) expect(text).toContain(`  ${sentence}`);
    expect(text).toMatch(new RegExp(`^total\\s+${view.score.total}\\s+the points column adds up to the score$`, 'm'));
    expect(text).toMatch(/^ {2}vp@acme\.com\s+engaged\s+\d+\s+\d+\s+\d+\s+yes\s+yes\s+executive\s+VP Operations$/m);
    expect(text).toMatch(/^executive\s+breadth\s+10\s+10\.00\s+vp@acme\.com$/m);
  });
});
