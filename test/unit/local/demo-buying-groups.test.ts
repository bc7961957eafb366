/**
 * The buying groups of `mql demo --with-outcomes` tell the stories lib/local/demo-buying-groups.ts promises, for any
 * seed: replayed purely from what POST /webhooks/events stores of their messages, under the default model with the
 * account section of examples/account-section.json.
 */
import { describe, expect, it } from 'vitest';
import { accountOf } from '../../../lib/core/account.ts';
import { accountQualificationOf } from '../../../lib/core/account-replay.ts';
import { scoreAccount } from '../../../lib/core/account-score.ts';
import type { NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents } from '../../../lib/core/index.ts';
import { qualificationOf } from '../../../lib/core/replay.ts';
import { buyingGroups, opportunityOutcomes, planBuyingGroups, stepsOf } from '../../../lib/local/demo-buying-groups.ts';
import { normalizeSegmentMessages } from '../../../lib/sources/segment.ts';
import { defaultModel } from '../../setup/model.ts';

/** The default model, whose account section is examples/account-section.json's. */
const model = defaultModel;
const anchor = Date.UTC(2026, 11, 7);
/** The demo runs on the anchor's day (the anchor is that day's UTC midnight): the end of it, at the latest. */
const now = new Date(anchor + 86_400_000 - 1);
const seeds = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89];

/** What POST /webhooks/events stores of a member's messages. */
const eventsOf = (messages: readonly object[]): NormalizedEvent[] => normalizeSegmentMessages(messages, true, { source: 'segment', dropInvalid: false }).events;

function story(seed: number) {
  return planBuyingGroups(seed, anchor).map((group) => {
    const members = group.members.map((member) => {
      const events = eventsOf(member.messages);
      const lead = applyEvents(undefined, events, model, now).lead;
      return { member, events, lead, mql: qualificationOf(member.email, events, model, now).qualified, account: accountOf(lead, model) };
    });
    const inAccount = members.filter((one) => one.account?.key === group.accountKey);
    const replay = accountQualificationOf(
      inAccount[0]!.account!,
      inAccount.map((one) => ({ leadId: one.member.email, events: one.events })),
      model,
      now,
      (lead) => accountOf(lead, model)?.key === group.accountKey,
    )!;
    // What the roll-up stores when it first sees the account, at the demo's run: evaluated from `new`, no history.
    const roll = scoreAccount(
      inAccount.map((one) => one.lead),
      undefined,
      'new',
      model,
      now,
    )!;
    return { group, members, inAccount, replay, roll };
  });
}

describe('the buying groups of mql demo --with-outcomes, for every seed', () => {
  it.each(seeds)('seed %i: the accounts the story says qualify do, and the roll-up at the run agrees; the others stay below', (seed) => {
    for (const { group, replay, roll } of story(seed)) {
      expect({ account: group.accountKey, qualified: replay.qualifiedAt !== undefined }).toEqual({
        account: group.accountKey,
        qualified: group.spec.qualifies,
      });
      expect({ account: group.accountKey, now: roll.status }).toEqual({ account: group.accountKey, now: group.spec.qualifies ? 'mqa' : 'engaged' });
      expect(replay.statusNow).toBe(roll.status);
    }
  });

  it.each(seeds)('seed %i: only the CFO who asked for a demo and the very active manager are MQLs', (seed) => {
    const mqls = story(seed).flatMap(({ group, members }) => members.filter((one) => one.mql).map((one) => `${group.spec.name}: ${one.member.title}`));
    expect(mqls).toEqual(['Woodgrove Bank: CFO', 'Litware: Marketing Manager']);
  });

  it("every member is in the story's account, except the Contoso colleague on free mail, who forms none", () => {
    for (const { group, members, inAccount } of story(5)) {
      const outside = members.filter((one) => !inAccount.includes(one)).map((one) => one.member.email);
      if (group.spec.name === 'Contoso') {
        expect(outside).toHaveLength(1);
        expect(outside[0]).toMatch(/@gmail\.com$/);
        expect(members.find((one) => one.member.freeMail)!.account).toBeUndefined();
      } else expect(outside).toEqual([]);
    }
    // The Adventure Works engineer writes from Gmail too, and is in the account by the company's group call.
    const adventure = story(5).find(({ group }) => group.spec.name === 'Adventure Works')!;
    expect(adventure.inAccount.find((one) => one.member.freeMail)?.account).toMatchObject({ key: 'group:org_10482', domain: 'adventure-works.com' });
  });

  it.each(seeds)('seed %i: sales opens each opportunity through a member who is no MQL, after the account qualified and before the anchor', (seed) => {
    const closed: string[] = [];
    story(seed).forEach(({ group, members, replay }, company) => {
      if (!replay.qualifiedAt) return;
      const outcomes = opportunityOutcomes(seed, company, group, replay.qualifiedAt, anchor);
      if (!group.spec.opportunity) {
        expect(outcomes).toEqual([]);
        return;
      }
      expect(outcomes[0]).toMatchObject({ outcome: 'sql', email: group.members[group.spec.opportunity.contact]!.email });
      expect(members.find((one) => one.member.email === outcomes[0]!.email)!.mql).toBe(false);
      for (const outcome of outcomes) {
        expect(outcome.occurredAt > replay.qualifiedAt).toBe(true);
        expect(Date.parse(outcome.occurredAt)).toBeLessThanOrEqual(anchor);
      }
      closed.push(...outcomes.slice(1).map((outcome) => `${group.spec.name} ${outcome.outcome}`));
    });
    expect(closed).toEqual(['Fabrikam won', 'Woodgrove Bank lost']);
  });

  it('the same seed plans the same messages; another seed other names at other hours', () => {
    expect(planBuyingGroups(5, anchor)).toEqual(planBuyingGroups(5, anchor));
    const emails = (seed: number) => planBuyingGroups(seed, anchor).flatMap((group) => group.members.map((member) => member.email));
    expect(emails(6)).not.toEqual(emails(5));
    expect(new Set(emails(5)).size).toBe(emails(5).length);
  });

  it("reads a person's steps, and refuses a step it does not know rather than posting nothing for it", () => {
    expect(stepsOf('30 page, 29 case_study')).toEqual([
      [30, 'page'],
      [29, 'case_study'],
    ]);
    expect(() => stepsOf('30 page, 29 casestudy')).toThrow('not a buying step: 29 casestudy');
    for (const group of buyingGroups) for (const person of group.people) expect(() => stepsOf(person.steps)).not.toThrow();
  });
});
