/**
 * The buying groups of `mql demo --with-outcomes` (lib/local/demo-population.ts): companies whose people, in
 * different roles, read, attend and try things in the weeks before the demo's anchor, so that their accounts
 * qualify together (docs/accounts.md) while none or few of them is an MQL alone, and others stay below.
 *
 * Each company is a story the model's `account` section (examples/account-section.json) should tell:
 * - Contoso, Fabrikam and Adventure Works qualify with no member an MQL (Adventure Works through a Segment `group`
 *   call from the company's backend, one of its members writing from Gmail);
 * - Woodgrove Bank qualifies with one MQL among its members (a CFO who asked for a demo);
 * - Litware does not: one very active manager is an MQL, but one person never makes an account;
 * - Proseware and Tailspin Toys (a group call) engage a little and stay below.
 * A Contoso colleague writing from Gmail without a group call belongs to no account: free mail never forms one.
 * Sales opens an opportunity through a member of each account that qualified, days after it did (Fabrikam's is won,
 * Woodgrove's lost, the others open); an MQL member gets a lead's outcomes as the rest of the population does.
 *
 * The companies are the fictitious ones of Microsoft's documentation; their business domains are real names (a
 * reserved `.example` name forms no account: no registrable domain, docs/accounts.md), and the demo only posts to
 * the local stack. What each member does and on which day is written here; the seed draws their names and the
 * hour of each event, so every seed tells the same stories, and the same seed posts the same messages again.
 */
import type { Message } from './demo-population.ts';
import { seededRandom } from './seeded-random.ts';

const msPerDay = 86_400_000;

/** What a member does on a day, as the website and product report it (Segment calls). */
export const buyingSteps = ['page', 'pricing', 'guide', 'case_study', 'webinar_registered', 'webinar_attended', 'trial', 'demo'] as const;
export type BuyingStep = (typeof buyingSteps)[number];

/** A person's steps, `'30 page, 29 case_study'`, as days before the anchor and steps. */
export function stepsOf(steps: string): [daysBefore: number, step: BuyingStep][] {
  return steps.split(',').map((entry) => {
    const [days, step] = entry.trim().split(/\s+/);
    if (!/^\d+$/.test(days ?? '') || !(buyingSteps as readonly string[]).includes(step ?? '')) throw new Error(`not a buying step: ${entry.trim()}`);
    return [Number(days), step as BuyingStep];
  });
}

interface PersonSpec {
  readonly title: string;
  /** Writes from free mail (Gmail) instead of the company's domain. */
  readonly freeMail?: boolean;
  /** The acquisition channel (the `leadSource` trait), as the population's leads have one. */
  readonly channel: string;
  /** What the person did and when, in days before the anchor: `'30 page, 29 case_study'` (see {@link BuyingStep}). */
  readonly steps: string;
}

interface OpportunitySpec {
  /** The member through whom sales opens the opportunity (index into `people`), never an MQL by design. */
  readonly contact: number;
  /** Days from the account's qualification to the `sql` outcome. */
  readonly sqlAfterDays: number;
  readonly close?: { readonly result: 'won' | 'lost'; readonly afterDays: number; readonly seats?: number; readonly note?: string };
}

export interface BuyingGroupSpec {
  readonly name: string;
  readonly domain: string;
  readonly industry: string;
  readonly employees: number;
  /** The company's backend sends a Segment `group` call for each member: the account is `group:<groupId>`. */
  readonly group?: { readonly groupId: string; readonly website: string; readonly plan: string; readonly annualRevenue?: number };
  /** Whether the account qualifies (MQA) in the story: what docs and tests hold the demo to. */
  readonly qualifies: boolean;
  readonly people: readonly PersonSpec[];
  readonly opportunity?: OpportunitySpec;
}

/**
 * The companies. The default model's lead fit gives an executive 15, a director 10 and a manager 5, a target industry
 * 10, over 500 employees 15 (and a revenue over $50M 10, from a group call): each member's behavior here keeps its lead
 * below 60, unless the story says it is an MQL. The account section counts the three most engaged members (at most
 * 40 each), 10 per distinct role up to 20, and asks 100 with two engaged members (10 behavior points each).
 */
export const buyingGroups: readonly BuyingGroupSpec[] = [
  {
    name: 'Contoso',
    domain: 'contoso.com',
    industry: 'Software',
    employees: 2400,
    qualifies: true,
    people: [
      // 40 fit + 16 = 56
      { title: 'VP of Engineering', channel: 'linkedin_ads', steps: '30 page, 29 case_study' },
      // 35 + 21 = 56
      { title: 'Director of IT', channel: 'webinar', steps: '28 webinar_attended, 27 page' },
      // 30 + 25 = 55
      { title: 'IT Manager', channel: 'organic', steps: '27 pricing, 25 webinar_attended' },
      // 25 + 31 = 56: no role, but among the most engaged
      { title: 'Software Engineer', channel: 'organic', steps: '24 trial, 23 page' },
      // From Gmail, no group call: in no account (its lead: 20 fit + 20 = 40)
      { title: 'Product Manager', freeMail: true, channel: 'paid_search', steps: '26 case_study, 24 pricing' },
    ],
    opportunity: { contact: 0, sqlAfterDays: 4 },
  },
  {
    name: 'Fabrikam',
    domain: 'fabrikam.com',
    industry: 'Manufacturing',
    employees: 3100,
    qualifies: true,
    people: [
      // 30 fit + 25 = 55
      { title: 'Chief Operating Officer', channel: 'referral', steps: '52 pricing, 50 webinar_attended' },
      // 25 + 30 (+ a page after the sale) = 56
      { title: 'Head of Operations', channel: 'paid_search', steps: '53 trial, 14 page' },
      // 20 + 35 = 55
      { title: 'Plant Manager', channel: 'webinar', steps: '51 webinar_attended, 49 case_study' },
      // 20 + 35 = 55
      { title: 'Procurement Manager', channel: 'organic', steps: '49 case_study, 48 guide, 48 pricing, 47 pricing' },
      // 25 + 30 = 55: the customer's rollout, after the deal
      { title: 'Director of Supply Chain', channel: 'webinar', steps: '12 webinar_attended, 10 guide' },
    ],
    opportunity: { contact: 0, sqlAfterDays: 4, close: { result: 'won', afterDays: 30, seats: 80 } },
  },
  {
    name: 'Woodgrove Bank',
    domain: 'woodgrovebank.com',
    industry: 'Financial Services',
    employees: 12000,
    qualifies: true,
    people: [
      // 40 fit + 45: an MQL (the demo request fast-tracks it)
      { title: 'CFO', channel: 'referral', steps: '28 pricing, 27 demo' },
      // 35 + 20 = 55
      { title: 'Director of Finance Systems', channel: 'webinar', steps: '26 webinar_attended' },
      // 30 + 25 = 55
      { title: 'Risk Manager', channel: 'linkedin_ads', steps: '25 case_study, 24 guide' },
    ],
    opportunity: { contact: 1, sqlAfterDays: 5, close: { result: 'lost', afterDays: 15, note: 'chose a competitor' } },
  },
  {
    name: 'Adventure Works',
    domain: 'adventure-works.com',
    industry: 'SaaS',
    employees: 1800,
    group: { groupId: 'org_10482', website: 'https://www.adventure-works.com', plan: 'enterprise_trial', annualRevenue: 240_000_000 },
    qualifies: true,
    people: [
      // 50 fit (the group's industry, size and revenue) + 5 = 55: below the breadth floor
      { title: 'VP of Customer Success', channel: 'linkedin_ads', steps: '21 pricing' },
      // 45 + 12 = 57
      { title: 'Director of Support', channel: 'organic', steps: '22 guide, 20 page, 19 page' },
      // 40 + 16 = 56
      { title: 'Support Manager', channel: 'webinar', steps: '20 webinar_registered, 18 guide, 18 page' },
      // From Gmail, in the account by the group call: 25 fit (free mail -10) + 31 = 56
      { title: 'Solutions Engineer', freeMail: true, channel: 'paid_search', steps: '19 trial, 17 page' },
    ],
    opportunity: { contact: 1, sqlAfterDays: 6 },
  },
  {
    name: 'Litware',
    domain: 'litwareinc.com',
    industry: 'Software',
    employees: 650,
    qualifies: false,
    people: [
      // 30 fit + 70: an MQL, and an account's engagement counts it at most 40
      { title: 'Marketing Manager', channel: 'webinar', steps: '30 webinar_registered, 29 webinar_attended, 26 case_study, 24 trial' },
      { title: 'Data Analyst', channel: 'organic', steps: '27 page, 25 page' },
      { title: 'CTO', channel: 'organic', steps: '23 pricing' },
    ],
  },
  {
    name: 'Proseware',
    domain: 'proseware.com',
    industry: 'SaaS',
    employees: 90,
    qualifies: false,
    people: [
      { title: 'Head of Growth', channel: 'paid_search', steps: '45 guide, 44 pricing' },
      { title: 'Marketing Manager', channel: 'webinar', steps: '43 webinar_attended' },
      { title: 'Founder', channel: 'organic', steps: '40 page, 39 page' },
    ],
  },
  {
    name: 'Tailspin Toys',
    domain: 'tailspintoys.com',
    industry: 'Retail',
    employees: 400,
    group: { groupId: 'org_2291', website: 'https://www.tailspintoys.com', plan: 'team_trial' },
    qualifies: false,
    people: [
      { title: 'Head of E-commerce', channel: 'linkedin_ads', steps: '12 webinar_attended, 11 pricing' },
      { title: 'Merchandising Manager', channel: 'organic', steps: '10 page' },
    ],
  },
];

const firstNames = 'Adele Bruno Chiara Dmitri Elif Farah Gustav Hiro Ingrid Jonas Keiko Luis Mira Nils Oona Pavel'.split(' ');
const lastNames = 'Abara Bergstrom Castillo Dahl Eze Fontaine Grieve Halvorsen Ibarra Jovanovic Kaur Lindqvist Mendes'.split(' ');

/** A member of a buying group as the demo posts it. */
export interface BuyingGroupMember {
  /** Its index in the group. */
  readonly index: number;
  readonly email: string;
  readonly title: string;
  readonly freeMail: boolean;
  readonly messages: Message[];
}

export interface PlannedBuyingGroup {
  readonly spec: BuyingGroupSpec;
  /** The account the story places its members in: the domain, or `group:<groupId>`. */
  readonly accountKey: string;
  readonly members: readonly BuyingGroupMember[];
}

/** A stream of its own per company and purpose, apart from the population's (lib/local/demo-population.ts). */
const streamOf = (seed: number, company: number, purpose: number) =>
  seededRandom(Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(company + 1, 0x165667b1) ^ Math.imul(purpose, 0x9e3779b1));

function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let index = out.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [out[index], out[other]] = [out[other]!, out[index]!];
  }
  return out;
}

const site = 'https://example.com';

/** The Segment call of a step (the population's product site and event names). */
function stepMessage(step: BuyingStep, base: { messageId: string; timestamp: string; context: object }): Message {
  const page = (path: string): Message => ({ ...base, type: 'page', properties: { url: `${site}${path}` } });
  const track = (event: string, properties: Record<string, unknown> = {}): Message => ({ ...base, type: 'track', event, properties });
  switch (step) {
    case 'page':
      return page('/product');
    case 'pricing':
      return page('/pricing');
    case 'guide':
      return track('Content Downloaded', { contentType: 'guide' });
    case 'case_study':
      return track('Content Downloaded', { contentType: 'case_study' });
    case 'webinar_registered':
      return track('Webinar Registered', { webinar: 'Pipeline math for RevOps' });
    case 'webinar_attended':
      return track('Webinar Attended', { webinar: 'Pipeline math for RevOps' });
    case 'trial':
      return track('Trial Started', { plan: 'team' });
    case 'demo':
      return track('Demo Requested', { form: 'contact-sales' });
  }
}

/**
 * The buying groups' people and their Segment messages, at times before `anchor` (ms): each member's `identify`,
 * the company backend's `group` call for a group account, then the steps, each at a seeded hour of its day.
 */
export function planBuyingGroups(seed: number, anchor: number): PlannedBuyingGroup[] {
  return buyingGroups.map((spec, company) => {
    const random = streamOf(seed, company, 1);
    const firsts = shuffled(random, firstNames);
    const lasts = shuffled(random, lastNames);
    const members = spec.people.map((person, index): BuyingGroupMember => {
      const first = firsts[index % firsts.length]!;
      const last = lasts[index % lasts.length]!;
      const email = `${first}.${last}@${person.freeMail ? 'gmail.com' : spec.domain}`.toLowerCase();
      let step = 0;
      const id = () => `demo-acct-${seed}-${company}-${index}-${step++}`;
      // Working hours, UTC: 08:00 to 18:00 of the step's day.
      const at = (daysBefore: number) => anchor - daysBefore * msPerDay + Math.floor((8 + random() * 10) * 3_600_000);
      const steps = stepsOf(person.steps);
      const times = steps.map(([daysBefore]) => at(daysBefore)).sort((a, b) => a - b);
      const first_ = times[0]! - 10 * 60_000;
      const context = { traits: { email } };
      const messages: Message[] = [
        {
          type: 'identify',
          messageId: id(),
          timestamp: new Date(first_).toISOString(),
          traits: {
            email,
            firstName: first,
            lastName: last,
            title: person.title,
            company: spec.name,
            employees: spec.employees,
            industry: spec.industry,
            country: 'US',
            leadSource: person.channel,
          },
        },
      ];
      if (spec.group) {
        // The company's backend ties the user to its account when they join the workspace (Segment's `group`).
        messages.push({
          type: 'group',
          messageId: id(),
          timestamp: new Date(first_ + 60_000).toISOString(),
          groupId: spec.group.groupId,
          context,
          traits: {
            name: spec.name,
            industry: spec.industry,
            employees: spec.employees,
            website: spec.group.website,
            plan: spec.group.plan,
            ...(spec.group.annualRevenue ? { annualRevenue: spec.group.annualRevenue } : {}),
          },
        });
      }
      steps.forEach(([, kind], position) => {
        messages.push(stepMessage(kind, { messageId: id(), timestamp: new Date(times[position]!).toISOString(), context }));
      });
      return { index, email, title: person.title, freeMail: person.freeMail === true, messages };
    });
    return { spec, accountKey: spec.group ? `group:${spec.group.groupId}` : spec.domain, members };
  });
}

/** An outcome as the demo posts it to POST /webhooks/crm (lib/sources/crm-feedback.ts). */
export interface DemoOutcome {
  id: string;
  email: string;
  outcome: 'mql_accepted' | 'mql_rejected' | 'sql' | 'won' | 'lost';
  occurredAt: string;
  reason?: string;
  amount?: number;
  currency?: string;
  note?: string;
}

/**
 * What sales did about an account that qualified at `qualifiedAt`: the opportunity opened through its contact,
 * closed as the story says; nothing after `anchor`. None for a group without an opportunity.
 */
export function opportunityOutcomes(seed: number, company: number, group: PlannedBuyingGroup, qualifiedAt: string, anchor: number): DemoOutcome[] {
  const opportunity = group.spec.opportunity;
  if (!opportunity) return [];
  const random = streamOf(seed, company, 2);
  const contact = group.members[opportunity.contact]!;
  const id = (type: string) => `demo-acct-${seed}-${company}-${opportunity.contact}-${type}`;
  const sqlAt = Date.parse(qualifiedAt) + (opportunity.sqlAfterDays + random() * 0.5) * msPerDay;
  if (sqlAt > anchor) return [];
  const outcomes: DemoOutcome[] = [{ id: id('sql'), email: contact.email, outcome: 'sql', occurredAt: new Date(sqlAt).toISOString() }];
  const close = opportunity.close;
  const closedAt = close ? sqlAt + (close.afterDays + random() * 0.5) * msPerDay : Number.POSITIVE_INFINITY;
  if (!close || closedAt > anchor) return outcomes;
  const occurredAt = new Date(closedAt).toISOString();
  outcomes.push(
    close.result === 'won'
      ? { id: id('won'), email: contact.email, outcome: 'won', occurredAt, amount: (close.seats ?? 10) * 1200, currency: 'USD' }
      : { id: id('lost'), email: contact.email, outcome: 'lost', occurredAt, ...(close.note ? { note: close.note } : {}) },
  );
  return outcomes;
}
