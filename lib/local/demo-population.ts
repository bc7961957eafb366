/**
 * `mql demo --with-outcomes`: a realistic population for `mql report` and `mql calibrate` on a fresh
 * clone. Against the running `npm start` (the .env.example settings):
 *
 *   1. A few hundred leads first seen over the last ~6 months, with varied titles, company sizes and
 *      industries, work, personal and student e-mails, and acquisition channels (the `leadSource` trait),
 *      each with an `identify` and a run of website/product events (pages, pricing, content, webinars,
 *      trials, demo requests) at their own past times, posted as Segment batches to POST /webhooks/events
 *      signed with EVENTS_WEBHOOK_SECRET.
 *   2. For each lead the model made an MQL (replayed from the stored events, as the report does), what
 *      sales decided, posted to POST /webhooks/crm signed with CRM_FEEDBACK_SECRET: accepted then sql, then
 *      won with an amount or lost; or rejected with a reason. The odds follow the lead's fit AND its buying
 *      intent at the moment it qualified (a strong fit, a demo request, a trial, a webinar attended, recent
 *      pricing views are taken more often; page views alone are not), so the data carries the signal a
 *      report or a calibration should find, in both fit and behavior. Recent MQLs are not judged yet.
 *
 * Deterministic: one seed gives the same leads, events, ids and times. The times hang from an anchor
 * (today's UTC midnight on the first run); a second run reads the anchor back from the first lead it
 * stored, so it posts the very same events and outcomes and the stack stores nothing new.
 *
 * Stopped (Ctrl-C: the `signal`), it finishes the request in hand, stops its CRM receiver and says what
 * it posted; running it again resumes, what is stored being skipped. A run counts the handoffs of the
 * population that an earlier run left undelivered (its receiver gone while they were queued), and says
 * how many arrived this time.
 */
import { randomUUID } from 'node:crypto';
import { memberAccountOf } from '../accounts/members.ts';
import type { Account } from '../core/account.ts';
import type { AccountQualification, MemberHistory } from '../core/account-replay.ts';
import { accountQualificationOf } from '../core/account-replay.ts';
import type { ScoringModel } from '../core/model.ts';
import { standardWebhookHeaders } from '../http/standard-webhooks.ts';
import type { ReportLead } from '../jobs/report/lead-facts.ts';
import { reportLeadOf } from '../jobs/report/lead-facts.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import type { RejectionReason } from '../sources/crm-feedback.ts';
import type { HandoffLedger, LeadReads } from '../store/repository.ts';
import type { DemoOutcome } from './demo-buying-groups.ts';
import { opportunityOutcomes, planBuyingGroups } from './demo-buying-groups.ts';
import { portIsFree } from './listen.ts';
import { seededRandom } from './seeded-random.ts';
import type { CrmReceiver } from './stand-ins/crm-receiver.ts';
import { startCrmReceiver } from './stand-ins/crm-receiver.ts';

export interface PopulationOptions {
  readonly baseUrl: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The stack's table, read back to see which leads qualified (the same replay as the report) and their handoffs. */
  readonly store: Pick<LeadReads & HandoffLedger, 'getLead' | 'listEvents' | 'listHandoffs'>;
  /** The model the stack scores with. */
  readonly model: ScoringModel;
  readonly print: (line: string) => void;
  /** How many leads (default 500: about 160 judged MQLs, enough for `mql calibrate` to see the behavior signal). */
  readonly leads?: number;
  /** The population's seed (default 5): another seed, another population with other ids. */
  readonly seed?: number;
  /** The real time (default the clock); the population ends before it. */
  readonly now?: Date;
  /** Aborted (Ctrl-C): the run stops after the request in hand, its receiver stopped, and says what it posted. */
  readonly signal?: AbortSignal;
}

/** The accounts of the population's leads, replayed from their events as the report replays leads. */
export interface PopulationAccounts {
  /** How many accounts the leads are in (a business e-mail domain or a group call). */
  readonly total: number;
  /** The accounts that became MQAs at some point, by key. */
  readonly mqas: readonly string[];
  /** Those MQAs of which no member ever was an MQL. */
  readonly mqasWithoutMql: readonly string[];
  /** How many accounts are MQAs at the run (an MQA stays one down to the section's `recycleBelow`). */
  readonly mqasNow: number;
  /** Opportunities sales opened on MQAs (an `sql` outcome) through a member who is no MQL: the buying groups'. */
  readonly opportunities: number;
  /** Their outcomes by type (`sql`, `won`, `lost`), within the population's `outcomes.byType`: on leads no report counts as MQLs. */
  readonly opportunityOutcomes: Readonly<Record<string, number>>;
}

export interface PopulationResult {
  readonly anchor: string;
  /** The population's leads (`leads`), without the buying groups' people. */
  readonly leads: number;
  /** The people of the buying groups (lib/local/demo-buying-groups.ts), posted after the population. */
  readonly buyingGroupPeople: number;
  /** Undefined when the model has no `account` section (it scores no account). */
  readonly accounts?: PopulationAccounts;
  readonly events: { sent: number; stored: number; duplicates: number };
  readonly outcomes: { sent: number; stored: number; duplicates: number; byType: Record<string, number> };
  readonly mqls: number;
  /**
   * Lead handoffs the demo's own CRM receiver took while it ran (CRM_ADAPTER=webhook with a free local
   * CRM_WEBHOOK_URL port; an account's are printed apart); undefined when it did not listen.
   */
  readonly handoffsReceived?: number;
  /** Leads this run made an MQL on arrival (each is one lead.mql handoff). */
  readonly newMqlsOnArrival: number;
  /**
   * Handoffs of leads that were MQLs before this run and were not delivered when it started (an earlier
   * run stopped with them queued, e.g. by Ctrl-C), and how many of them were still not delivered at its end.
   */
  readonly earlierUndelivered: { readonly atStart: number; readonly atEnd: number };
  /**
   * Set when the signal stopped the run: the step it was in. `events` and `outcomes` then count what was
   * posted until then; `mqls` and `newMqlsOnArrival` are 0 when it stopped before counting them.
   */
  readonly interrupted?: 'events' | 'outcomes' | 'handoffs';
}

export class PopulationDemoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PopulationDemoError';
  }
}

const msPerDay = 86_400_000;
/** The buying groups' people draw their sales decisions as population leads of these indices (apart from any `--leads`). */
const buyingGroupIndexBase = 1_000_000;
/** How far back the population starts. */
export const populationDays = 180;

/** A stream of its own per lead and purpose, so one lead's draws never depend on another's. */
const streamOf = (seed: number, index: number, purpose: number) =>
  seededRandom(Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b) ^ Math.imul(purpose, 0xc2b2ae35));

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
function weighted<T>(random: Random, items: readonly (readonly [T, number])[]): T {
  const total = items.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = random() * total;
  for (const [item, weight] of items) {
    roll -= weight;
    if (roll < 0) return item;
  }
  return items.at(-1)![0];
}

const companies: readonly { name: string; domain: string; industry: string; employees: number }[] = [
  { name: 'Northwind Analytics', domain: 'northwind-analytics.com', industry: 'Software', employees: 2400 },
  { name: 'Brightline SaaS', domain: 'brightline.io', industry: 'SaaS', employees: 340 },
  { name: 'Ledgerly', domain: 'ledgerly.com', industry: 'Financial Services', employees: 5200 },
  { name: 'Cobalt Pay', domain: 'cobaltpay.com', industry: 'Fintech', employees: 780 },
  { name: 'Stackwise', domain: 'stackwise.dev', industry: 'Software', employees: 45 },
  { name: 'Helio Systems', domain: 'heliosystems.com', industry: 'Information Technology', employees: 1500 },
  { name: 'Quarry Cloud', domain: 'quarrycloud.com', industry: 'SaaS', employees: 120 },
  { name: 'Fernhill Bank', domain: 'fernhillbank.com', industry: 'Financial Services', employees: 12000 },
  { name: 'Tidewater IT Services', domain: 'tidewater-it.com', industry: 'IT Services', employees: 650 },
  { name: 'Papertrail Labs', domain: 'papertrail-labs.com', industry: 'Software', employees: 18 },
  { name: 'Acme Manufacturing', domain: 'acme-mfg.com', industry: 'Manufacturing', employees: 3100 },
  { name: 'Greenleaf Grocers', domain: 'greenleafgrocers.com', industry: 'Retail', employees: 900 },
  { name: 'Harbor Health', domain: 'harborhealth.org', industry: 'Healthcare', employees: 4200 },
  { name: 'Kestrel Logistics', domain: 'kestrel-logistics.com', industry: 'Logistics', employees: 260 },
  { name: 'Bluebird Bakery', domain: 'bluebirdbakery.com', industry: 'Food & Beverage', employees: 12 },
  { name: 'Summit Realty', domain: 'summitrealty.com', industry: 'Real Estate', employees: 75 },
  { name: 'Orbit Media', domain: 'orbitmedia.co', industry: 'Media', employees: 150 },
  { name: 'Vantage Insurance', domain: 'vantage-ins.com', industry: 'Insurance', employees: 2200 },
];

const titles: readonly (readonly [string, number])[] = [
  ['CEO', 3],
  ['Chief Revenue Officer', 2],
  ['CTO', 2],
  ['VP of Sales', 4],
  ['VP Marketing', 4],
  ['Founder', 2],
  ['Director of Marketing', 6],
  ['Head of Growth', 4],
  ['Director of Sales Operations', 4],
  ['Head of RevOps', 3],
  ['Marketing Manager', 8],
  ['Sales Manager', 6],
  ['Product Manager', 5],
  ['Software Engineer', 6],
  ['Data Analyst', 5],
  ['Marketing Coordinator', 6],
  ['Account Executive', 5],
  ['Consultant', 3],
  ['Student', 3],
  ['Marketing Intern', 2],
  ['Open to work', 2],
];

const firstNames = [
  'Avery',
  'Jordan',
  'Sam',
  'Riley',
  'Morgan',
  'Casey',
  'Taylor',
  'Jamie',
  'Alex',
  'Drew',
  'Priya',
  'Wei',
  'Lena',
  'Mateo',
  'Noah',
  'Zoe',
  'Omar',
  'Ines',
  'Kenji',
  'Sofia',
  'Liam',
  'Maya',
  'Ravi',
  'Hana',
];
const lastNames = [
  'Chen',
  'Ortiz',
  'Park',
  'Nguyen',
  'Smith',
  'Garcia',
  'Kowalski',
  'Okafor',
  'Rossi',
  'Schmidt',
  'Tanaka',
  'Dubois',
  'Silva',
  'Khan',
  'Novak',
  'Brennan',
  'Haddad',
  'Larsen',
  'Moreau',
  'Iyer',
];
const personalDomains = ['gmail.com', 'yahoo.com', 'outlook.com', 'hotmail.com', 'icloud.com', 'proton.me'];
const universities = ['stateu.edu', 'techinstitute.edu', 'cambridge.ac.uk'];
const countries = ['US', 'US', 'US', 'GB', 'DE', 'CA', 'FR', 'AU', 'NL', 'IN'];

/** Country code top-level domains of the companies' offices outside the US (`.co.uk`, `.com.au`: the Public Suffix List's). */
const officeSuffixes: Readonly<Record<string, string>> = { GB: 'co.uk', DE: 'de', CA: 'ca', FR: 'fr', AU: 'com.au', NL: 'nl', IN: 'in' };

/**
 * A company's domain in a country: its own in the US, else its name under the country's domain (`northwind-analytics.de`).
 * Subsidiaries on other domains are other accounts (docs/accounts.md), so a company's people in eight countries are not one
 * buying group of thirty: the accounts of the population stay of a realistic size, and only some of them qualify.
 */
export function officeDomain(domain: string, country: string): string {
  const suffix = officeSuffixes[country];
  return suffix ? `${domain.slice(0, domain.indexOf('.'))}.${suffix}` : domain;
}

/** Acquisition channels with their share of leads and how engaged their leads tend to be. */
const channels: readonly (readonly [{ name: string; intent: number }, number])[] = [
  [{ name: 'paid_search', intent: 1.0 }, 22],
  [{ name: 'linkedin_ads', intent: 1.1 }, 16],
  [{ name: 'facebook_ads', intent: 0.7 }, 14],
  [{ name: 'webinar', intent: 1.3 }, 14],
  [{ name: 'organic', intent: 0.9 }, 18],
  [{ name: 'referral', intent: 1.6 }, 8],
  [{ name: 'events', intent: 1.2 }, 8],
];

/** A Segment call as the demo posts it to POST /webhooks/events. */
export interface Message {
  type: 'identify' | 'track' | 'page' | 'group';
  messageId: string;
  timestamp: string;
  [key: string]: unknown;
}

interface PlannedLead {
  index: number;
  email: string;
  personal: boolean;
  employees: number;
  messages: Message[];
}

/** One lead of the population: who they are and what they did, at offsets from the anchor. */
function planLead(seed: number, index: number, anchor: number): PlannedLead {
  const random = streamOf(seed, index, 1);
  const company = pick(random, companies);
  const title = weighted(random, titles);
  const first = pick(random, firstNames);
  const last = pick(random, lastNames);
  const student = /student|intern/i.test(title);
  const kind = student && random() < 0.6 ? 'education' : random() < 0.18 ? 'personal' : 'work';
  const local = `${first}.${last}.${index}`.toLowerCase();
  const mailbox = kind === 'personal' ? pick(random, personalDomains) : kind === 'education' ? pick(random, universities) : undefined;
  const channel = weighted(random, channels);
  // The first lead starts exactly populationDays before the anchor: a second run finds the anchor from it.
  const firstSeen =
    index === 0 ? anchor - populationDays * msPerDay : anchor - populationDays * msPerDay + Math.floor(random() * (populationDays - 2) * msPerDay);
  const senior = /ceo|chief|cto|vp|founder|director|head of/i.test(title);
  // Engagement: the channel's intent, a little more for senior people at larger companies, a lot of chance.
  const intent = channel.intent * (senior ? 1.2 : 1) * (company.employees > 500 ? 1.1 : 1) * (student ? 0.6 : 1) * (0.3 + random() * 1.4);
  const messages: Message[] = [];
  let step = 0;
  const id = () => `demo-pop-${seed}-${index}-${step++}`;
  const at = (offsetMs: number) => new Date(firstSeen + offsetMs).toISOString();
  // What would happen after the anchor has not happened yet: left out (its id stays reserved, so the
  // other events keep theirs).
  const push = (message: Message) => {
    if (Date.parse(message.timestamp) < anchor) messages.push(message);
  };
  // A work address names its company; someone on a personal address tells it half the time.
  const withCompany = kind === 'work' || random() < 0.5;
  const country = pick(random, countries);
  // A work address is the company's office in the person's country: its own domain, so its own account.
  const email = `${local}@${mailbox ?? officeDomain(company.domain, country)}`;
  const context = { traits: { email } };
  messages.push({
    type: 'identify',
    messageId: id(),
    timestamp: at(0),
    traits: {
      email,
      firstName: first,
      lastName: last,
      title,
      ...(withCompany ? { company: company.name, employees: company.employees, industry: company.industry } : {}),
      country,
      leadSource: channel.name,
    },
  });
  let clock = 5 * 60_000;
  const later = (maxDays: number) => {
    clock += Math.floor(random() * maxDays * msPerDay) + 60_000;
    return at(clock);
  };
  const pages = 1 + Math.floor(random() * 5 * intent);
  for (let page = 0; page < pages; page += 1) {
    const url =
      random() < 0.3 * intent
        ? 'https://example.com/pricing'
        : pick(random, ['https://example.com/', 'https://example.com/product', 'https://example.com/blog/lead-scoring', 'https://example.com/integrations']);
    push({ type: 'page', messageId: id(), timestamp: later(6), context, properties: { url } });
  }
  const track = (event: string, properties: Record<string, unknown> = {}, maxDays = 10, timestamp = later(maxDays)) =>
    push({ type: 'track', messageId: id(), timestamp, event, context, properties });
  if (random() < 0.45 * intent) track('Content Downloaded', { contentType: pick(random, ['guide', 'whitepaper', 'ebook']) });
  if (random() < 0.3 * intent) track('Content Downloaded', { contentType: 'case_study' });
  if (channel.name === 'webinar' || random() < 0.25 * intent) {
    track('Webinar Registered', { webinar: 'Pipeline math for RevOps' });
    if (random() < 0.65) track('Webinar Attended', { webinar: 'Pipeline math for RevOps' }, 3);
  }
  if (random() < 0.18 * intent) track('Trial Started', { plan: 'team' });
  if (random() < 0.14 * intent) {
    // A third of demo requests come on the first visit (a referral who knows what they want), the rest after a while.
    track('Demo Requested', { form: 'contact-sales' }, 20, random() < 0.35 ? at(10 * 60_000 + Math.floor(random() * 6 * 3_600_000)) : later(20));
  }
  return { index, email, personal: kind !== 'work', employees: withCompany ? company.employees : 0, messages };
}

interface Outcome extends DemoOutcome {
  reason?: RejectionReason;
}

/** What the lead did before it qualified that a salesperson reads as buying intent. */
export interface IntentSignals {
  readonly demoRequested: boolean;
  readonly trialStarted: boolean;
  readonly webinarAttended: boolean;
  /** Pricing page views in the 14 days up to the MQL. */
  readonly recentPricingViews: number;
}

export const noIntent: IntentSignals = { demoRequested: false, trialStarted: false, webinarAttended: false, recentPricingViews: 0 };

/** The intent signals among a lead's messages up to the moment it qualified (later ones are unknown to sales then). */
export function intentAtMql(
  messages: readonly { type: string; timestamp: string; event?: unknown; properties?: unknown }[],
  qualifiedAt: string,
): IntentSignals {
  const until = Date.parse(qualifiedAt);
  const before = messages.filter((message) => Date.parse(message.timestamp) <= until);
  const tracked = (event: string) => before.some((message) => message.type === 'track' && message.event === event);
  const recentPricingViews = before.filter(
    (message) =>
      message.type === 'page' &&
      String((message.properties as { url?: unknown } | undefined)?.url ?? '').includes('/pricing') &&
      until - Date.parse(message.timestamp) <= 14 * msPerDay,
  ).length;
  return { demoRequested: tracked('Demo Requested'), trialStarted: tracked('Trial Started'), webinarAttended: tracked('Webinar Attended'), recentPricingViews };
}

/**
 * The chance sales takes an MQL: a logistic in its fit at the moment it qualified and its buying intent
 * then. A demo request counts most, then a trial, a webinar attended and recent pricing views (at most
 * three); page views, content and webinar registrations alone count nothing. So with no fit points and
 * no intent one in twenty-five is taken, at fit 40 with no intent three in ten, at fit 25 with a demo request
 * seven in ten, at fit 40 with one nearly nine in ten; a strong fit that asked for nothing is still refused
 * often, and a weak fit with a demo request is taken a third of the time: signal in both, separable by neither.
 */
export function takeChance(fitAtMql: number, intent: IntentSignals): number {
  const logOdds =
    -3.2 +
    0.06 * fitAtMql +
    (intent.demoRequested ? 2.6 : 0) +
    (intent.trialStarted ? 1.8 : 0) +
    (intent.webinarAttended ? 1.3 : 0) +
    0.45 * Math.min(3, intent.recentPricingViews);
  return 1 / (1 + Math.exp(-logOdds));
}

/**
 * What sales decides about an MQL, by its fit and intent at the moment it qualified ({@link takeChance}).
 * Decisions come days after the MQL; none after the anchor.
 */
export function salesOutcomes(
  seed: number,
  planned: Pick<PlannedLead, 'index' | 'email' | 'personal' | 'employees'>,
  lead: ReportLead,
  anchor: number,
  intent: IntentSignals,
): Outcome[] {
  if (!lead.qualifiedAt || lead.fitAtMql === undefined) return [];
  const random = streamOf(seed, planned.index, 2);
  const qualified = Date.parse(lead.qualifiedAt);
  const outcomes: Outcome[] = [];
  const id = (type: string) => `demo-pop-${seed}-${planned.index}-${type}`;
  const decidedAt = qualified + (1 + random() * 5) * msPerDay;
  if (decidedAt > anchor) return [];
  if (random() >= takeChance(lead.fitAtMql, intent)) {
    const reason: RejectionReason =
      planned.personal && random() < 0.6
        ? 'bad_data'
        : lead.fitAtMql < 15 && random() < 0.6
          ? 'outside_icp'
          : weighted(random, [
              ['wrong_timing', 5],
              ['existing_customer', 2],
              ['other', 2],
              ['outside_icp', 2],
            ] as const);
    outcomes.push({ id: id('mql_rejected'), email: planned.email, outcome: 'mql_rejected', occurredAt: new Date(decidedAt).toISOString(), reason });
    return outcomes;
  }
  outcomes.push({ id: id('mql_accepted'), email: planned.email, outcome: 'mql_accepted', occurredAt: new Date(decidedAt).toISOString() });
  const sqlAt = decidedAt + (2 + random() * 8) * msPerDay;
  if (sqlAt > anchor) return outcomes;
  outcomes.push({ id: id('sql'), email: planned.email, outcome: 'sql', occurredAt: new Date(sqlAt).toISOString() });
  const closedAt = sqlAt + (20 + random() * 50) * msPerDay;
  if (closedAt > anchor) return outcomes;
  const winChance = 0.25 + (planned.employees > 500 ? 0.15 : 0) + Math.min(0.2, Math.max(0, lead.fitAtMql) * 0.005);
  const roll = random();
  if (roll < winChance) {
    const seats = 5 + Math.floor(random() * (planned.employees > 500 ? 60 : 15));
    outcomes.push({ id: id('won'), email: planned.email, outcome: 'won', occurredAt: new Date(closedAt).toISOString(), amount: seats * 1200, currency: 'USD' });
  } else if (roll < winChance + 0.4) {
    outcomes.push({
      id: id('lost'),
      email: planned.email,
      outcome: 'lost',
      occurredAt: new Date(closedAt).toISOString(),
      note: pick(random, ['chose a competitor', 'no budget this year', 'went dark']),
    });
  }
  return outcomes;
}

/** The anchor a previous run used (read back from its first lead), or today's UTC midnight. */
async function anchorOf(store: PopulationOptions['store'], firstEmail: (anchor: number) => string, now: Date): Promise<number> {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  // The first lead's e-mail does not depend on the anchor (only its times do).
  const previous = await store.getLead(firstEmail(today));
  if (!previous) return today;
  return Date.parse(previous.firstSeenAt) + populationDays * msPerDay;
}

interface PostAnswer {
  stored: number;
  duplicates: number;
}

/** How long the demo waits before it sends a delivery again that the stack answered 5xx (as a sender retries). */
const retryDelaysMs = [1_000, 2_000, 4_000];

async function postSigned(url: string, secret: string, payload: unknown, now: () => Date): Promise<PostAnswer> {
  const body = JSON.stringify(payload);
  // One delivery, one id: a retry is the same message (Standard Webhooks), with a fresh timestamp and signature.
  const id = `msg_${randomUUID()}`;
  let response: Response;
  let text: string;
  // What a 503 says it kept of a delivery too big for one transaction (docs/status.md, "Known limits"): the retry
  // finds those events stored, so they are counted as stored here, not as duplicates.
  let kept = 0;
  for (let attempt = 0; ; attempt += 1) {
    const timestamp = Math.floor(now().getTime() / 1000);
    response = await fetch(url, { method: 'POST', headers: standardWebhookHeaders({ secret, id, timestamp, body }), body });
    text = await response.text();
    // A 5xx asks for a retry (a busy machine's DynamoDB Local); a 4xx is the demo's mistake.
    const delay = retryDelaysMs[attempt];
    if (response.status < 500 || delay === undefined) break;
    kept += keptOf(text);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  if (!response.ok) throw new PopulationDemoError(`POST ${new URL(url).pathname} answered ${response.status}: ${text.slice(0, 500)}`);
  const answer = JSON.parse(text) as PostAnswer;
  return { stored: (answer.stored ?? 0) + kept, duplicates: Math.max(0, (answer.duplicates ?? 0) - kept) };
}

/** The `stored` count of a 503's body, 0 when it has none. */
function keptOf(text: string): number {
  try {
    const stored = (JSON.parse(text) as { stored?: unknown }).stored;
    return typeof stored === 'number' ? stored : 0;
  } catch {
    return 0;
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

export async function runPopulationDemo(options: PopulationOptions): Promise<PopulationResult> {
  const { env, print, baseUrl } = options;
  const seed = options.seed ?? 5;
  const count = options.leads ?? 500;
  if (!Number.isInteger(count) || count < 1 || count > 5000)
    throw new PopulationDemoError(`the population size must be a whole number from 1 to 5000, got ${count}`);
  const eventsSecret = env.EVENTS_WEBHOOK_SECRET;
  const feedbackSecret = env.CRM_FEEDBACK_SECRET;
  if (!eventsSecret)
    throw new PopulationDemoError(
      "EVENTS_WEBHOOK_SECRET is not set: the demo posts the leads' events to POST /webhooks/events signed with it (copy .env.example to .env and restart npm start)",
    );
  if (!feedbackSecret)
    throw new PopulationDemoError(
      'CRM_FEEDBACK_SECRET is not set: the demo posts sales outcomes to POST /webhooks/crm signed with it (copy .env.example to .env and restart npm start)',
    );
  const clock = () => options.now ?? new Date();
  const health = await fetch(`${baseUrl}/health`).catch(() => undefined);
  if (!health?.ok) throw new PopulationDemoError(`no local stack answers at ${baseUrl}; start it with npm start`);

  // Leads whose latest events are recent enough are MQLs at receipt and are handed off: the demo takes
  // them itself on CRM_WEBHOOK_URL when nothing listens there (as `mql demo` does), so they are delivered.
  // It listens once the handoffs an earlier run left undelivered are counted, before any event is posted: nothing
  // takes them while they are counted, so the count is what was left (a busy machine counts slowly).
  let receiver: CrmReceiver | undefined;
  const listen = async () => {
    if (!(env.CRM_ADAPTER === 'webhook' && env.CRM_WEBHOOK_URL && env.CRM_WEBHOOK_SECRET)) return;
    const port = localPortOf(env.CRM_WEBHOOK_URL);
    if (port !== undefined && (await portIsFree(port))) receiver = await startCrmReceiver(env.CRM_WEBHOOK_SECRET, { port });
  };
  try {
    const { result: populated, earlierMqls } = await populate(options, seed, count, eventsSecret, feedbackSecret, clock, listen);
    let result: PopulationResult = populated;
    if (!result.interrupted && receiver) {
      const expected = result.newMqlsOnArrival + result.earlierUndelivered.atStart;
      if (result.earlierUndelivered.atStart > 0)
        print(`   waiting up to a minute for the ${result.earlierUndelivered.atStart} handoff(s) left undelivered before (they retry with backoff)`);
      const complete = await handedOff(receiver, expected, options.signal);
      const leads = leadHandoffs(receiver);
      const types = [...new Set(leads.map((one) => one.record.type))].join(', ');
      const accounts = receiver.received.length - leads.length;
      const earlier = result.earlierUndelivered.atStart > 0 ? ', and handoffs an earlier run left undelivered' : '';
      print(
        leads.length > 0
          ? `3. the CRM (${env.CRM_WEBHOOK_URL}) received ${leads.length} handoff(s) (${types}): the leads that were MQLs when their events arrived${earlier}`
          : `3. the CRM (${env.CRM_WEBHOOK_URL}) received no handoff: no lead changed status`,
      );
      if (!complete) print('interrupted while waiting for the handoffs: every event and outcome was posted');
      if (accounts > 0) print(`   and ${accounts} account handoff(s) (account.mqa): the accounts that were MQAs when their members' events arrived`);
      result = { ...result, handoffsReceived: leads.length, ...(complete ? {} : { interrupted: 'handoffs' as const }) };
    }
    if (result.earlierUndelivered.atStart > 0 && !result.interrupted) {
      const atEnd = (await undeliveredHandoffs(options.store, earlierMqls)).total;
      const { atStart } = result.earlierUndelivered;
      print(
        `   of the ${atStart} handoff(s) an earlier run left undelivered, ${Math.max(0, atStart - atEnd)} are delivered now` +
          (atEnd > 0
            ? `; ${atEnd} still wait, retrying with backoff (npx mql deliveries <email> shows the attempts; after the last retry: npx mql redrive)`
            : ''),
      );
      result = { ...result, earlierUndelivered: { atStart, atEnd } };
    }
    if (result.interrupted) {
      await receiver?.close();
      if (receiver) {
        result = { ...result, handoffsReceived: leadHandoffs(receiver).length };
        print(
          `   the demo's CRM receiver (${env.CRM_WEBHOOK_URL}) is stopped, after ${leadHandoffs(receiver).length} handoff(s); the handoffs still queued for it retry with backoff until a receiver listens there again`,
        );
      }
      print(
        'Run the same command again to resume: the population is seeded and idempotent (what is stored already is skipped), and the run counts the handoffs left undelivered',
      );
      return result;
    }
    print('See the figures: npx mql report');
    return result;
  } finally {
    await receiver?.close();
  }
}

/** The port of a CRM_WEBHOOK_URL on this machine; undefined for another host. */
function localPortOf(url: string): number | undefined {
  if (!URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  if (!['127.0.0.1', 'localhost'].includes(parsed.hostname) || parsed.protocol !== 'http:') return undefined;
  return Number(parsed.port || 80);
}

/**
 * The leads' handoffs the receiver took: an account's (`account.mqa`, `account.recycled`) are counted apart, since an
 * MQA is decided when its members' events arrive whatever the leads' own statuses.
 */
function leadHandoffs(receiver: CrmReceiver): CrmReceiver['received'] {
  return receiver.received.filter((one) => String(one.record.type).startsWith('lead.'));
}

/**
 * Until the receiver has the lead handoffs this run caused (the handoff consumer polls every second and
 * batches for a few), then a second more for any other (a decay run's); at most a minute. False when the
 * signal stopped the wait.
 */
async function handedOff(receiver: CrmReceiver, expected: number, signal: AbortSignal | undefined): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  while (leadHandoffs(receiver).length < expected && Date.now() < deadline && !signal?.aborted) await pause(250);
  if (!signal?.aborted) await pause(1_000);
  return !signal?.aborted;
}

/**
 * The handoffs of these leads not delivered: those whose attempts failed (retrying with backoff, or on the
 * dead-letter queue), and a lead without any recorded handoff, whose lead.mql is still queued unattempted.
 */
async function undeliveredHandoffs(
  store: PopulationOptions['store'],
  mqlLeadIds: readonly string[],
): Promise<{ total: number; failed: number; unattempted: number }> {
  const perLead = await mapWithConcurrency(mqlLeadIds, 8, async (leadId) => {
    const handoffs = await store.listHandoffs(leadId);
    return {
      failed: handoffs.filter((handoff) => handoff.status === 'failed' || handoff.status === 'pending').length,
      unattempted: handoffs.length === 0 ? 1 : 0,
    };
  });
  const failed = perLead.reduce((sum, one) => sum + one.failed, 0);
  const unattempted = perLead.reduce((sum, one) => sum + one.unattempted, 0);
  return { total: failed + unattempted, failed, unattempted };
}

async function populate(
  options: PopulationOptions,
  seed: number,
  count: number,
  eventsSecret: string,
  feedbackSecret: string,
  clock: () => Date,
  listen: () => Promise<void>,
): Promise<{ result: PopulationResult; earlierMqls: string[] }> {
  const { print, baseUrl, store, model, signal } = options;
  const anchor = await anchorOf(store, (at) => planLead(seed, 0, at).email, clock());
  const planned = Array.from({ length: count }, (_, index) => planLead(seed, index, anchor));
  const groups = planBuyingGroups(seed, anchor);
  const people = groups.flatMap((group) => group.members);
  // Every lead the demo posts: the population's, then the buying groups' people.
  const everyone: readonly { email: string; messages: readonly Message[] }[] = [...planned, ...people];
  const wasMql = async () =>
    new Set((await mapWithConcurrency(everyone, 8, async (lead) => ((await store.getLead(lead.email))?.wasMql ? lead.email : undefined))).filter(Boolean));
  const mqlBefore = await wasMql();
  const earlierMqls = [...mqlBefore].filter((email): email is string => email !== undefined);
  const messages = everyone.flatMap((lead) => lead.messages);
  print(
    `1. ${count} leads (seed ${seed}) and the buying groups of ${groups.length} companies (${people.length} people) first seen from ${new Date(anchor - populationDays * msPerDay).toISOString().slice(0, 10)} to ${new Date(anchor).toISOString().slice(0, 10)}: ${messages.length} Segment messages to POST /webhooks/events`,
  );
  const earlier = await undeliveredHandoffs(store, earlierMqls);
  if (earlier.total > 0) {
    print(
      `   ${earlier.total} handoff(s) of these leads were left undelivered by an earlier run (stopped while they were queued): ${earlier.failed} retrying after failed attempts, ${earlier.unattempted} not attempted yet`,
    );
  }
  await listen();
  const events = { sent: 0, stored: 0, duplicates: 0 };
  const outcomesPosted = { sent: 0, stored: 0, duplicates: 0, byType: {} as Record<string, number> };
  let accounts: PopulationAccounts | undefined;
  const outcome = (mqls: number, newMqlsOnArrival: number, interrupted?: NonNullable<PopulationResult['interrupted']>) => ({
    result: {
      anchor: new Date(anchor).toISOString(),
      leads: count,
      buyingGroupPeople: people.length,
      events,
      outcomes: outcomesPosted,
      mqls,
      ...(accounts ? { accounts } : {}),
      newMqlsOnArrival,
      earlierUndelivered: { atStart: earlier.total, atEnd: earlier.total },
      ...(interrupted ? { interrupted } : {}),
    },
    earlierMqls,
  });
  const stopped = (step: NonNullable<PopulationResult['interrupted']>, mqls = 0, newMqlsOnArrival = 0) => outcome(mqls, newMqlsOnArrival, step);
  // Whole leads per delivery, at most ~400 messages (the route takes 500).
  const deliveries: Message[][] = [];
  let current: Message[] = [];
  for (const lead of everyone) {
    if (current.length + lead.messages.length > 400) {
      deliveries.push(current);
      current = [];
    }
    current.push(...lead.messages);
  }
  if (current.length > 0) deliveries.push(current);
  for (const [posted, batch] of deliveries.entries()) {
    if (signal?.aborted) {
      print(
        `interrupted: ${posted} of ${deliveries.length} event batch(es) posted (${events.sent} of ${messages.length} messages: ${events.stored} stored, ${events.duplicates} already there); no outcome posted`,
      );
      return stopped('events');
    }
    const answer = await postSigned(`${baseUrl}/webhooks/events`, eventsSecret, { batch }, clock);
    events.sent += batch.length;
    events.stored += answer.stored;
    events.duplicates += answer.duplicates;
  }
  print(`   stored ${events.stored} event(s), ${events.duplicates} already there`);
  const newMqlsOnArrival = [...(await wasMql())].filter((email) => !mqlBefore.has(email)).length;

  // Which leads the model made an MQL, and when: the same replay as mql report.
  const now = clock();
  const histories = await mapWithConcurrency(everyone, 8, async (lead) => {
    const events = await store.listEvents(lead.email);
    return { leadId: lead.email, events, fact: reportLeadOf(lead.email, events, model, now) };
  });
  const facts = histories.map((history) => history.fact);
  const mqls = facts.filter((lead) => lead.qualifiedAt !== undefined).length;
  const outcomes: DemoOutcome[] = planned.flatMap((lead, index) => {
    const fact = facts[index]!;
    return salesOutcomes(seed, lead, fact, anchor, fact.qualifiedAt ? intentAtMql(lead.messages, fact.qualifiedAt) : noIntent);
  });
  // A buying group's member that is an MQL alone is judged as a lead, like the population's.
  people.forEach((person, position) => {
    const fact = facts[planned.length + position]!;
    const group = groups.find((one) => one.members.includes(person))!;
    const lead = { index: buyingGroupIndexBase + position, email: person.email, personal: person.freeMail, employees: group.spec.employees };
    outcomes.push(...salesOutcomes(seed, lead, fact, anchor, fact.qualifiedAt ? intentAtMql(person.messages, fact.qualifiedAt) : noIntent));
  });
  const replayed = model.account ? await accountsOf(store, histories, model, now) : undefined;
  // Sales opens an opportunity on an account days after it qualified, through a member (the buying groups').
  const opportunities = groups.flatMap((group, company) => {
    const qualifiedAt = replayed?.get(group.accountKey)?.qualification.qualifiedAt;
    return qualifiedAt ? opportunityOutcomes(seed, company, group, qualifiedAt, anchor) : [];
  });
  outcomes.push(...opportunities);
  if (replayed) {
    const mqas = [...replayed].filter(([, one]) => one.qualification.qualifiedAt !== undefined);
    const mqlIds = new Set(histories.filter((history) => history.fact.qualifiedAt !== undefined).map((history) => history.leadId));
    accounts = {
      total: replayed.size,
      mqas: mqas.map(([key]) => key).sort(),
      mqasWithoutMql: mqas
        .filter(([, one]) => one.memberIds.every((id) => !mqlIds.has(id)))
        .map(([key]) => key)
        .sort(),
      mqasNow: [...replayed].filter(([, one]) => one.qualification.statusNow === 'mqa').length,
      opportunities: new Set(opportunities.map((one) => one.email)).size,
      opportunityOutcomes: Object.fromEntries(['sql', 'won', 'lost'].map((type) => [type, opportunities.filter((one) => one.outcome === type).length])),
    };
  }
  const byType: Record<string, number> = {};
  for (const outcome of outcomes) byType[outcome.outcome] = (byType[outcome.outcome] ?? 0) + 1;
  print(
    accounts
      ? `2. ${mqls} of them became MQLs, and ${accounts.mqas.length} of their ${accounts.total} accounts MQAs (marketing-qualified accounts; ${accounts.mqasWithoutMql.length} of them with no member an MQL, ${accounts.mqasNow} MQAs today)`
      : `2. ${mqls} of them became MQLs (the model has no account section: it scores no account)`,
  );
  print(
    `   sales decided on ${new Set(outcomes.map((one) => one.email)).size} of them: ${
      Object.entries(byType)
        .map(([type, n]) => `${n} ${type}`)
        .join(', ') || 'none'
    }${accounts?.opportunities ? ` (${accounts.opportunities} opportunities on MQAs through a member who is no MQL)` : ''} -> POST /webhooks/crm`,
  );
  const outcomeBatches = chunks(outcomes, 500);
  for (const [posted, batch] of outcomeBatches.entries()) {
    if (signal?.aborted) {
      print(
        `interrupted: every event posted; ${posted} of ${outcomeBatches.length} outcome batch(es) posted (${outcomesPosted.sent} of ${outcomes.length} outcomes: ${outcomesPosted.stored} stored, ${outcomesPosted.duplicates} already there)`,
      );
      return stopped('outcomes', mqls, newMqlsOnArrival);
    }
    const answer = await postSigned(`${baseUrl}/webhooks/crm`, feedbackSecret, { outcomes: batch }, clock);
    outcomesPosted.sent += batch.length;
    outcomesPosted.stored += answer.stored;
    outcomesPosted.duplicates += answer.duplicates;
    for (const outcome of batch) outcomesPosted.byType[outcome.outcome] = (outcomesPosted.byType[outcome.outcome] ?? 0) + 1;
  }
  print(`   stored ${outcomesPosted.stored} outcome(s), ${outcomesPosted.duplicates} already there`);
  return outcome(mqls, newMqlsOnArrival);
}

/**
 * Each account of the leads (lib/accounts/members.ts `memberAccountOf` on the stored lead, as the roll-up places it)
 * and when it became an MQA, replayed from its members' events (lib/core/account-replay.ts).
 */
async function accountsOf(
  store: PopulationOptions['store'],
  histories: readonly MemberHistory[],
  model: ScoringModel,
  now: Date,
): Promise<Map<string, { memberIds: string[]; qualification: AccountQualification }>> {
  const placed = await mapWithConcurrency(histories, 8, async (history) => ({ history, account: memberAccountOf(await store.getLead(history.leadId), model) }));
  const byKey = new Map<string, { account: Account; members: MemberHistory[] }>();
  for (const { history, account } of placed) {
    if (!account) continue;
    const entry = byKey.get(account.key) ?? { account, members: [] };
    entry.members.push(history);
    byKey.set(account.key, entry);
  }
  return new Map(
    [...byKey].map(([key, { account, members }]) => [
      key,
      {
        memberIds: members.map((member) => member.leadId),
        qualification: accountQualificationOf(account, members, model, now, (lead) => memberAccountOf(lead, model)?.key === key)!,
      },
    ]),
  );
}
