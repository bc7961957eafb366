import { describe, expect, it } from 'vitest';
import type { ReportFigures } from '../../../lib/jobs/report/figures.ts';
import { computeFigures, percentile } from '../../../lib/jobs/report/figures.ts';
import { renderReportHtml } from '../../../lib/jobs/report/html.ts';
import type { ReportLead, ReportOutcome } from '../../../lib/jobs/report/lead-facts.ts';
import { leadSourceOf, reportLeadOf } from '../../../lib/jobs/report/lead-facts.ts';
import { formatReport } from '../../../lib/jobs/report/text.ts';
import type { IntentSignals } from '../../../lib/local/demo-population.ts';
import { intentAtMql, noIntent, salesOutcomes, takeChance } from '../../../lib/local/demo-population.ts';
import { seededRandom } from '../../../lib/local/seeded-random.ts';
import { event } from '../../setup/events.ts';
import { defaultModel } from '../../setup/model.ts';

const day = 86_400_000;
const t0 = Date.parse('2026-05-10T09:00:00.000Z');
const iso = (offsetDays: number) => new Date(t0 + offsetDays * day).toISOString();
const now = new Date('2026-11-01T00:00:00.000Z');

/**
 * The share of 400 MQLs (day 10, score 70, `fit`, `intent`) that sales takes by an anchor 200 days after
 * t0; every outcome comes before the anchor, and an MQL not taken is rejected.
 */
function takenShare(fit: number, intent: IntentSignals): number {
  const anchor = t0 + 200 * day;
  let count = 0;
  for (let index = 0; index < 400; index += 1) {
    const email = `l${index}@x.com`;
    const outcomes = salesOutcomes(7, { index, email, personal: false, employees: 100 }, lead(email, 's', 0, { day: 10, score: 70, fit }), anchor, intent);
    for (const outcome of outcomes) expect(Date.parse(outcome.occurredAt)).toBeLessThanOrEqual(anchor);
    if (outcomes.some((outcome) => outcome.outcome === 'mql_accepted')) count += 1;
    else expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['mql_rejected']);
  }
  return count / 400;
}

/** A lead of the built population: its facts given directly. */
function lead(
  leadId: string,
  source: string,
  firstSeenDay: number,
  mql?: { day: number; score: number; fit?: number },
  outcomes: [string, number, Partial<ReportOutcome>?][] = [],
): ReportLead {
  return {
    leadId,
    source,
    firstSeenAt: iso(firstSeenDay),
    ...(mql ? { qualifiedAt: iso(mql.day), scoreAtMql: mql.score, fitAtMql: mql.fit ?? 10 } : {}),
    outcomes: outcomes.map(([type, offset, extra]) => ({ type, at: iso(offset), ...extra })),
  };
}

/**
 * Ten leads with known answers:
 * - webinar: 4 leads, 3 MQLs (May, May, June); one taken and won (5,000 USD + 1,000 USD on a second won? no: one won),
 *   one rejected outside_icp, one not judged.
 * - paid_search: 4 leads, 2 MQLs (June, July): one accepted then sql then lost, one rejected wrong_timing.
 * - organic: 2 leads, no MQL, one of them with an outcome all the same (sales worked it).
 */
const population: ReportLead[] = [
  lead('a@w.com', 'webinar', 0, { day: 0.5, score: 72, fit: 35 }, [
    ['mql_accepted', 2],
    ['sql', 5],
    ['won', 40, { amount: 5000, currency: 'USD' }],
  ]),
  lead('b@w.com', 'webinar', 1, { day: 11, score: 61, fit: 0 }, [['mql_rejected', 13, { reason: 'outside_icp' }]]),
  lead('c@w.com', 'webinar', 20, { day: 40, score: 64 }),
  lead('d@w.com', 'webinar', 3),
  lead('e@p.com', 'paid_search', 25, { day: 35, score: 88, fit: 40 }, [
    ['mql_accepted', 36],
    ['sql', 38],
    ['lost', 70],
  ]),
  lead('f@p.com', 'paid_search', 50, { day: 150, score: 60, fit: -10 }, [['mql_rejected', 52 + 100, { reason: 'wrong_timing' }]]),
  lead('g@p.com', 'paid_search', 60),
  lead('h@p.com', 'paid_search', 61),
  lead('i@o.com', 'organic', 70),
  lead('j@o.com', 'organic', 71, undefined, [['sql', 80]]),
];

describe('report figures on a built population', () => {
  const figures = computeFigures(population, { now, modelVersion: 'm1', threshold: 60 });

  it('counts the funnel: leads -> MQL -> SQL -> won, with the won amounts and the decisions', () => {
    expect(figures.funnel).toEqual({
      leads: 10,
      mqls: 5,
      sqls: 2,
      won: 1,
      judged: 4,
      rejected: 2,
      lost: 1,
      wonAmounts: [{ currency: 'USD', amount: 5000 }],
      outcomesWithoutMql: 1,
    });
  });

  it('gives the MQL -> SQL rate by source, biggest source first, and null for a source without MQLs', () => {
    expect(figures.bySource).toEqual([
      { key: 'paid_search', leads: 4, mqls: 2, sqls: 1, rejected: 1, rate: 0.5 },
      { key: 'webinar', leads: 4, mqls: 3, sqls: 1, rejected: 1, rate: 1 / 3 },
      { key: 'organic', leads: 2, mqls: 0, sqls: 0, rejected: 0, rate: null },
    ]);
  });

  it('gives the rate by the month the lead became an MQL', () => {
    // MQL days 0.5 and 11 -> May; 35 and 40 -> June; 150 -> October.
    expect(figures.byMonth.map(({ key, mqls, sqls, rejected, rate }) => ({ key, mqls, sqls, rejected, rate }))).toEqual([
      { key: '2026-05', mqls: 2, sqls: 1, rejected: 1, rate: 0.5 },
      { key: '2026-06', mqls: 2, sqls: 1, rejected: 0, rate: 0.5 },
      { key: '2026-10', mqls: 1, sqls: 0, rejected: 1, rate: 0 },
    ]);
  });

  it('bins the score at MQL in tens, MQLs against rejected and SQL, with medians', () => {
    expect(figures.scores.bins).toEqual([
      { from: 60, to: 70, mqls: 3, sqls: 0, rejected: 2 },
      { from: 70, to: 80, mqls: 1, sqls: 1, rejected: 0 },
      { from: 80, to: 90, mqls: 1, sqls: 1, rejected: 0 },
    ]);
    expect(figures.scores.median).toEqual({ mqls: 64, sqls: 72, rejected: 60 });
  });

  it('counts rejection reasons with their shares', () => {
    expect(figures.rejectionReasons).toEqual([
      { reason: 'outside_icp', count: 1, share: 0.5 },
      { reason: 'wrong_timing', count: 1, share: 0.5 },
    ]);
  });

  it('measures the time from the first event to MQL', () => {
    // 0.5, 10, 20, 10, 100 days -> sorted 0.5, 10, 10, 20, 100.
    expect(figures.timeToMql.count).toBe(5);
    expect(figures.timeToMql.medianDays).toBe(10);
    expect(figures.timeToMql.p90Days).toBe(100);
    expect(figures.timeToMql.bins.map((bin) => bin.count)).toEqual([1, 0, 3, 0, 1]);
  });

  it('has nothing to divide by on an empty table, and says so rather than inventing rates', () => {
    const empty = computeFigures([], { now, modelVersion: 'm1', threshold: 60 });
    expect(empty.funnel.mqls).toBe(0);
    expect(empty.scores.bins).toEqual([]);
    expect(empty.timeToMql.medianDays).toBeNull();
    const text = formatReport(empty);
    expect(text).toContain('(no MQLs)');
    expect(text).toContain('(no rejections)');
    expect(renderReportHtml(empty)).toContain('No MQLs.');
  });

  it('percentile is nearest-rank', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 90)).toBe(4);
    expect(percentile([7], 90)).toBe(7);
  });
});

describe('a lead replayed for the report', () => {
  const email = 'dana@acme.com';
  const worked = [
    event(email, 'profile_updated', iso(0), {
      profile: { email, jobTitle: 'CEO', industry: 'Software', custom: { leadSource: 'Webinar' } },
      source: 'segment',
    }),
    event(email, 'webinar_attended', iso(3), { source: 'segment' }),
    event(email, 'content_downloaded', iso(9), { properties: { contentType: 'case_study' }, source: 'segment' }),
    event(email, 'mql_rejected', iso(12), { properties: { reason: 'wrong_timing' }, source: 'crm' }),
    event(email, 'page_viewed', iso(1), { properties: { url: 'https://example.com/' }, source: 'segment' }),
  ];

  it('qualifies at the event that took it to the threshold, with the score of that moment, not at receipt', () => {
    const facts = reportLeadOf(email, worked, defaultModel, now);
    // The seeds' worked example: fit 25 + webinar 20 + case study 15 (a page view adds 1, decayed a little) -> MQL at day 9.
    expect(facts.qualifiedAt).toBe(iso(9));
    expect(facts.fitAtMql).toBe(25);
    expect(facts.scoreAtMql).toBeGreaterThanOrEqual(60);
    expect(facts.firstSeenAt).toBe(iso(0));
    expect(facts.source).toBe('webinar');
    expect(facts.outcomes).toEqual([{ type: 'mql_rejected', at: iso(12), reason: 'wrong_timing' }]);
  });

  it('leaves outcomes out of the replay: a lead sales accepted is no MQL by that alone', () => {
    const facts = reportLeadOf(email, [worked[0]!, event(email, 'sql', iso(2), { source: 'crm' })], defaultModel, now);
    expect(facts.qualifiedAt).toBeUndefined();
    expect(facts.outcomes.map((one) => one.type)).toEqual(['sql']);
  });

  it('ignores events after now (a report as of an earlier date)', () => {
    const facts = reportLeadOf(email, worked, defaultModel, new Date(iso(5)));
    expect(facts.qualifiedAt).toBeUndefined();
    expect(facts.outcomes).toEqual([]);
  });

  it('finds the source in the leadSource trait, else utm_source, else the first provider', () => {
    expect(leadSourceOf(worked)).toBe('webinar');
    expect(
      leadSourceOf([
        event(email, 'page_viewed', iso(0), { properties: { utm_source: 'LinkedIn' }, source: 'segment' }),
        event(email, 'page_viewed', iso(1), { properties: { utm_source: 'google' }, source: 'segment' }),
      ]),
    ).toBe('linkedin');
    expect(leadSourceOf([event(email, 'form_submitted', iso(2), { source: 'facebook' }), event(email, 'email_opened', iso(1), { source: 'sendgrid' })])).toBe(
      'sendgrid',
    );
    expect(leadSourceOf([event(email, 'sql', iso(1), { source: 'crm' })])).toBe('unknown');
  });
});

describe('the report as text and as HTML', () => {
  const figures: ReportFigures = computeFigures(population, { now, modelVersion: 'm1', threshold: 60 });

  it('prints every section with the same figures', () => {
    const text = formatReport(figures);
    expect(text).toMatch(/MQL\s+5\s+50\.0%/);
    expect(text).toMatch(/SQL\s+2\s+40\.0%/);
    expect(text).toMatch(/won\s+1\s+50\.0%/);
    expect(text).toMatch(/paid_search\s+4\s+2\s+1\s+1\s+50\.0%/);
    expect(text).toMatch(/2026-10\s+1\s+0\s+1\s+0\.0%/);
    expect(text).toMatch(/outside_icp\s+1\s+50\.0%/);
    expect(text).toContain('median 10 d, p90 100 d over 5 MQLs');
    expect(text).toContain('won 5,000 USD');
  });

  it('is one self-contained page: no script, no external URL, text escaped', () => {
    const hostile = computeFigures([lead('x@y.com', '<script>alert(1)</script>', 0, { day: 1, score: 70 })], { now, modelVersion: 'm"1', threshold: 60 });
    const html = renderReportHtml(hostile);
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const page = renderReportHtml(figures);
    expect(page).not.toMatch(/https?:\/\/|src=|<link|@import|url\(/i);
    expect(page).toContain('<svg');
    expect(page).toContain('data-figure="mqls">5<');
    expect(page).toContain('data-figure="won-amount">5,000 USD<');
  });
});

describe('the demo population', () => {
  it('draws the same numbers from the same seed', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const first = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(first);
    expect(Array.from({ length: 5 }, seededRandom(43))).not.toEqual(first);
    expect(first.every((value) => value >= 0 && value < 1)).toBe(true);
  });

  it('decides on MQLs only, never after the anchor, and takes strong fits far more often than weak ones', () => {
    const anchor = t0 + 200 * day;
    const taken = (fit: number) => takenShare(fit, noIntent);
    expect(taken(40)).toBeGreaterThan(taken(0) + 0.2);
    expect(taken(40)).toBeGreaterThan(3 * taken(0));
    expect(salesOutcomes(7, { index: 1, email: 'n@x.com', personal: false, employees: 100 }, lead('n@x.com', 's', 0), anchor, noIntent)).toEqual([]);
    // An MQL of the last day: sales has not decided yet.
    expect(
      salesOutcomes(
        7,
        { index: 1, email: 'n@x.com', personal: false, employees: 100 },
        lead('n@x.com', 's', 0, { day: 199.9, score: 70, fit: 40 }),
        anchor,
        noIntent,
      ),
    ).toEqual([]);
  });

  it('takes MQLs with buying intent more often at the same fit; page views alone change nothing', () => {
    const anchor = t0 + 200 * day;
    const takenWith = (intent: IntentSignals) => takenShare(10, intent);
    const demo = { ...noIntent, demoRequested: true };
    expect(takenWith(demo)).toBeGreaterThan(takenWith(noIntent) + 0.2);
    expect(takenWith({ ...noIntent, webinarAttended: true, recentPricingViews: 2 })).toBeGreaterThan(takenWith(noIntent) + 0.1);
    // Neither signal decides alone: a strong fit without intent is still refused often, a weak fit with a demo request is still taken.
    expect(takeChance(40, noIntent)).toBeGreaterThan(0.3);
    expect(takeChance(40, noIntent)).toBeLessThan(0.7);
    expect(takeChance(0, demo)).toBeGreaterThan(0.2);
    expect(takeChance(0, demo)).toBeLessThan(0.5);

    // What sales knew at the MQL: messages up to it; pricing views of the last 14 days only.
    const at = (offsetDays: number) => new Date(t0 + offsetDays * day).toISOString();
    const messages = [
      { type: 'page' as const, timestamp: at(-5), properties: { url: 'https://example.com/pricing' } },
      { type: 'page' as const, timestamp: at(8), properties: { url: 'https://example.com/pricing' } },
      { type: 'page' as const, timestamp: at(9), properties: { url: 'https://example.com/blog/lead-scoring' } },
      { type: 'track' as const, timestamp: at(9), event: 'Webinar Attended', properties: {} },
      { type: 'track' as const, timestamp: at(10), event: 'Demo Requested', properties: {} },
      { type: 'track' as const, timestamp: at(11), event: 'Trial Started', properties: {} },
    ];
    expect(intentAtMql(messages, at(10))).toEqual({ demoRequested: true, trialStarted: false, webinarAttended: true, recentPricingViews: 1 });
    const pagesOnly = intentAtMql(
      [0, 1, 2, 3, 4].map((offset) => ({ type: 'page' as const, timestamp: at(offset), properties: { url: 'https://example.com/product' } })),
      at(10),
    );
    expect(pagesOnly).toEqual(noIntent);
    const fact = lead('p@x.com', 's', 0, { day: 10, score: 70, fit: 20 });
    expect(salesOutcomes(7, { index: 3, email: 'p@x.com', personal: false, employees: 100 }, fact, anchor, pagesOnly)).toEqual(
      salesOutcomes(7, { index: 3, email: 'p@x.com', personal: false, employees: 100 }, fact, anchor, noIntent),
    );
  });
});
