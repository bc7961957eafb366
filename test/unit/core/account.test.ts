/**
 * Account identity (issue 15, part 1; docs/accounts.md): which account a lead belongs to, from its group
 * call or the registrable domain of its business e-mail; personal and disposable addresses form none.
 * Pure: profiles and leads made by the core, no store, time given.
 */
import { describe, expect, it } from 'vitest';
import { accountOf, registrableDomain } from '../../../lib/core/account.ts';
import { defaultModelWith } from '../../../lib/core/default-model.ts';
import { emailDomainListSource } from '../../../lib/core/email-domains.ts';
import type { Lead, NormalizedEvent, ScoringModel } from '../../../lib/core/index.ts';
import { applyEvents, classifyEmailDomain } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import { event, workedExample } from '../../setup/events.ts';
import { defaultModel, parseModel, testEmailDomainLists } from '../../setup/model.ts';

const t0 = Date.parse('2026-03-02T10:00:00.000Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000);
const replay = (events: NormalizedEvent[], model: ScoringModel = defaultModel): Lead =>
  applyEvents(undefined, events, model, new Date(Date.parse(events.at(-1)!.occurredAt) + 1000)).lead;

function withDomains(domains: Partial<ScoringModel['domains']>): ScoringModel {
  const content = structuredClone(modelContent(defaultModel));
  return parseModel({ ...content, domains: { ...content.domains, ...domains } });
}

describe('a business address: the account is the registrable domain of the e-mail', () => {
  it('mail.acme.co.uk is acme.co.uk, and every address under acme.co.uk is the same account', () => {
    expect(accountOf({ email: 'dana@mail.acme.co.uk' }, defaultModel)).toEqual({ key: 'acme.co.uk', kind: 'domain', domain: 'acme.co.uk', domainKind: 'work' });
    expect(accountOf({ email: 'lee@acme.co.uk' }, defaultModel)?.key).toBe('acme.co.uk');
    expect(accountOf({ email: 'sam@eu.sales.acme.co.uk' }, defaultModel)?.key).toBe('acme.co.uk');
  });

  it('multi-part public suffixes are suffixes, not companies: com.au, co.jp, and a private suffix such as herokuapp.com', () => {
    expect(accountOf({ email: 'dana@sydney.acme.com.au' }, defaultModel)?.key).toBe('acme.com.au');
    expect(accountOf({ email: 'dana@acme.co.jp' }, defaultModel)?.key).toBe('acme.co.jp');
    expect(registrableDomain('mail.acme.herokuapp.com')).toBe('acme.herokuapp.com');
    expect(registrableDomain('co.uk')).toBeUndefined();
  });

  it('case, surrounding space and a trailing dot do not make another account', () => {
    expect(accountOf({ email: '  Dana@MAIL.Acme.COM. ' }, defaultModel)?.key).toBe('acme.com');
  });

  it('an internationalized domain is one account whether written in Unicode or punycode, keyed in punycode', () => {
    expect(accountOf({ email: 'jana@büro.müller.de' }, defaultModel)?.key).toBe('xn--mller-kva.de');
    expect(accountOf({ email: 'jana@xn--mller-kva.de' }, defaultModel)?.key).toBe('xn--mller-kva.de');
  });

  it('an IP-address literal, a name with no public suffix, or no e-mail at all names no account', () => {
    expect(accountOf({ email: 'dana@[192.0.2.1]' }, defaultModel)).toBeUndefined();
    expect(accountOf({ email: 'dana@[IPv6:2001:db8::1]' }, defaultModel)).toBeUndefined();
    expect(accountOf({ email: 'dana@acme.internal' }, defaultModel)).toBeUndefined();
    expect(accountOf({ firstName: 'Dana', company: 'Acme' }, defaultModel)).toBeUndefined();
  });

  it('education and competitor addresses still form an account, which says what its domain is', () => {
    const model = withDomains({ competitors: ['rival.io'] });
    expect(accountOf({ email: 'kim@cs.stanford.edu' }, model)).toEqual({
      key: 'stanford.edu',
      kind: 'domain',
      domain: 'stanford.edu',
      domainKind: 'education',
    });
    expect(accountOf({ email: 'spy@eu.rival.io' }, model)).toMatchObject({ key: 'rival.io', domainKind: 'competitor' });
  });
});

describe('free-mail and disposable addresses never form an account', () => {
  it('a personal address forms no account, nor one under its domain (the installed lists: test/unit/runtime/email-domain-lists.test.ts)', () => {
    for (const email of ['dana@gmail.com', 'dana@mail.yahoo.co.uk', 'dana@web.de']) {
      expect(classifyEmailDomain(email, defaultModel.domains), email).toBe('personal');
      expect(accountOf({ email }, defaultModel), email).toBeUndefined();
    }
  });

  it('a disposable address is its own kind, forms no account, and the default model disqualifies its lead', () => {
    for (const email of ['temp@mailinator.com', 'temp@10minutemail.com', 'temp@guerrillamail.com']) {
      expect(classifyEmailDomain(email, defaultModel.domains), email).toBe('disposable');
      expect(accountOf({ email }, defaultModel), email).toBeUndefined();
    }
    const lead = replay(workedExample('temp@mailinator.com', at(0)));
    expect(lead.status).toBe('disqualified');
    expect(lead.disqualifiedBy?.rule).toBe('disposable_email');
    expect(replay(workedExample('dana@acme-logistics.com', at(0))).status).toBe('mql');
  });

  it("the model's own lists add to the maintained ones, and domains.work takes a domain off them", () => {
    expect(classifyEmailDomain('a@bt.com', defaultModel.domains)).toBe('personal');
    const model = withDomains({ personal: ['fastmail.com', 'smallisp.example.org'], disposable: ['burner.acme-test.com'], work: ['bt.com'] });
    expect(classifyEmailDomain('a@smallisp.example.org', model.domains)).toBe('personal');
    expect(classifyEmailDomain('a@x.burner.acme-test.com', model.domains)).toBe('disposable');
    expect(accountOf({ email: 'a@x.burner.acme-test.com' }, model)).toBeUndefined();
    expect(classifyEmailDomain('a@bt.com', model.domains)).toBe('work');
    expect(accountOf({ email: 'ceo@bt.com' }, model)?.key).toBe('bt.com');
  });

  it('documentation names are work addresses although a list carries example.com (RFC 2606)', () => {
    expect(classifyEmailDomain('dana@example.com', defaultModel.domains)).toBe('work');
    expect(accountOf({ email: 'dana@mg.example.com' }, defaultModel)?.key).toBe('example.com');
  });

  it("the lists' version is part of every model's version (test/unit/runtime/email-domain-lists.test.ts: the installed lists')", () => {
    // The default model's version changed with the lists (504a1c85b2af, then 8dc0eec471db with the hand list,
    // a71b7b283010 with the lists; be5ac4fbb9e1 with its account section).
    expect(defaultModel.version).toBe('be5ac4fbb9e1');
    const updated = emailDomainListSource('email-providers@2.28.0 disposable-email-domains-js@1.26.0', testEmailDomainLists.entries());
    expect(defaultModelWith(updated).version).not.toBe(defaultModel.version);
    expect(defaultModelWith(emailDomainListSource(testEmailDomainLists.version, { personal: [], disposable: [] })).version).toBe('be5ac4fbb9e1');
  });
});

describe('a group call names the account, before any domain', () => {
  const email = 'dana.whitfield@acme-logistics.com';

  it("a lead with a group is the group's account, with the domain of the group's website", () => {
    const profile = { email, groupId: 'acct_42', company: 'Acme Logistics', companyWebsite: 'https://www.acme-logistics.com/about' };
    expect(accountOf(profile, defaultModel)).toEqual({ key: 'group:acct_42', kind: 'group', groupId: 'acct_42', domain: 'acme-logistics.com' });
    expect(accountOf({ email, groupId: 'acct_42' }, defaultModel)).toEqual({ key: 'group:acct_42', kind: 'group', groupId: 'acct_42' });
  });

  it('a member writing from free mail is still in the group; a website on a free-mail site names no domain', () => {
    expect(accountOf({ email: 'dana@gmail.com', groupId: 'acct_42' }, defaultModel)?.key).toBe('group:acct_42');
    expect(accountOf({ groupId: 'acct_42', companyWebsite: 'facebook.com/acmelogistics' }, defaultModel)).toEqual({
      key: 'group:acct_42',
      kind: 'group',
      groupId: 'acct_42',
    });
  });

  it('subsidiaries on other domains are other accounts, unless a group call names one account for both', () => {
    const parent = accountOf({ email: 'dana@acme.com' }, defaultModel);
    const subsidiary = accountOf({ email: 'lee@acme-labs.io' }, defaultModel);
    expect([parent?.key, subsidiary?.key]).toEqual(['acme.com', 'acme-labs.io']);
    const grouped = [
      accountOf({ email: 'dana@acme.com', groupId: 'acme' }, defaultModel),
      accountOf({ email: 'lee@acme-labs.io', groupId: 'acme' }, defaultModel),
    ];
    expect(grouped.map((account) => account?.key)).toEqual(['group:acme', 'group:acme']);
  });
});

describe("the account follows the lead's current profile", () => {
  it('a person who changes jobs is in the account of the newer group call, and a late, older call changes nothing', () => {
    const email = 'dana@gmail.com';
    const acme = event(email, 'profile_updated', at(0), { profile: { groupId: 'acct_acme', company: 'Acme' } });
    const globex = event(email, 'profile_updated', at(60), { profile: { groupId: 'acct_globex', company: 'Globex' } });
    expect(accountOf(replay([acme]), defaultModel)?.key).toBe('group:acct_acme');
    expect(accountOf(replay([acme, globex]), defaultModel)?.key).toBe('group:acct_globex');
    // Delivered in the other order, the older call (Acme) arrives last: the lead stays in Globex.
    const lateOlder = applyEvents(replay([globex]), [acme], defaultModel, at(120)).lead;
    expect(accountOf(lateOlder, defaultModel)?.key).toBe('group:acct_globex');
  });

  it("an e-mail lead is its address's account: a new job's address is a new lead in the new account, the old one stays", () => {
    const old = replay([event('dana@acme.com', 'webinar_attended', at(0))]);
    const current = replay([event('dana@globex.com', 'trial_started', at(60))]);
    expect([accountOf(old, defaultModel)?.key, accountOf(current, defaultModel)?.key]).toEqual(['acme.com', 'globex.com']);
    // The lead's id is its address: a stale `email` field in its profile does not move it.
    expect(accountOf({ leadId: 'dana@globex.com', profile: { email: 'dana@acme.com' } }, defaultModel)?.key).toBe('globex.com');
  });

  it("a phone-only lead has no account; merged into the e-mail lead, it has the e-mail lead's account", () => {
    const phone = 'phone:+14155550123';
    const form = event(phone, 'form_submitted', at(0), { profile: { phone: '+14155550123', firstName: 'Dana', company: 'Acme Logistics' } });
    const phoneLead = replay([form]);
    expect(accountOf(phoneLead, defaultModel)).toBeUndefined();

    // As the store files the phone lead's events under the e-mail lead once the e-mail is known (lib/store/merge.ts).
    const email = 'dana@acme-logistics.com';
    const merged = replay([{ ...form, leadKey: email }, event(email, 'webinar_attended', at(30), { profile: { phone: '+14155550123' } })]);
    expect(merged.profile).toMatchObject({ phone: '+14155550123', company: 'Acme Logistics' });
    expect(accountOf(merged, defaultModel)).toEqual({ key: 'acme-logistics.com', kind: 'domain', domain: 'acme-logistics.com', domainKind: 'work' });
  });
});
