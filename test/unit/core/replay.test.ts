import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../lib/core/index.ts';
import { applyEvents, evaluateLead } from '../../../lib/core/index.ts';
import { modelContent } from '../../../lib/core/model.ts';
import { BacktestTally, qualificationOf, replayLead } from '../../../lib/core/replay.ts';
import { formatBacktest } from '../../../lib/jobs/backtest.ts';
import { event, workedExample } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

const day = 24 * 60 * 60 * 1000;
const t0 = new Date('2026-06-01T09:00:00.000Z');
const at = (offsetMs: number) => new Date(t0.getTime() + offsetMs);

/** The worked example without its case study: C-level, target industry (fit 25) and a webinar (20): 45, engaged under the default model's 60. */
function engaged(email: string): NormalizedEvent[] {
  const [profile, , webinar] = workedExample(email, t0);
  return [profile!, webinar!];
}

const defaultInput = modelContent(defaultModel);
const lowerThreshold = parseModel({ ...defaultInput, thresholds: { ...defaultModel.thresholds, mql: 45, recycleBelow: 30 } });
const higherThreshold = parseModel({ ...defaultInput, thresholds: { ...defaultModel.thresholds, mql: 70 } });

describe('replaying a lead under a model', () => {
  it('rebuilding a lead from its events under the same model gives the state incremental ingest gave', () => {
    const email = 'dana@acme.com';
    const events = workedExample(email, t0);
    let lead = applyEvents(undefined, [events[0]!], defaultModel, at(1_000)).lead;
    lead = applyEvents(lead, [events[1]!], defaultModel, at(6_000)).lead;
    lead = applyEvents(lead, [events[2]!], defaultModel, at(11_000)).lead;

    const replayed = replayLead(lead, events, defaultModel, at(11_000));

    expect(replayed.lead.status).toBe('mql');
    expect(replayed.handoffs).toEqual([]);
    expect(replayed.score).toMatchObject({ total: 60, fit: 25, behavior: 35 });
    expect(replayed.lead.behavior).toEqual(lead.behavior);
    expect(replayed.lead.eventCount).toBe(3);
    expect(replayed.lead.transitionCount).toBe(lead.transitionCount);
  });

  it('an engaged lead becomes an MQL under a lower threshold, with a handoff whose id no earlier transition had', () => {
    const email = 'sam@acme.com';
    const lead = applyEvents(undefined, engaged(email), defaultModel, at(11_000)).lead;
    expect(lead.status).toBe('engaged');

    const replayed = replayLead(lead, engaged(email), lowerThreshold, at(12_000));

    expect(replayed.lead.status).toBe('mql');
    expect(replayed.lead.modelVersion).toBe(lowerThreshold.version);
    expect(replayed.handoffs.map((handoff) => handoff.type)).toEqual(['lead.mql']);
    expect(replayed.handoffs[0]!.score).toMatchObject({ total: 45, threshold: 45, modelVersion: lowerThreshold.version });
  });

  it('a fast-tracked MQL recycled since is not fast-tracked again by the same demo request when rebuilt under the same model', () => {
    // Fit 0 and a demo request (40): an MQL by the fast track, then below recycleBelow (40) as the demo's points decay.
    const email = 'fast@acme.com';
    const demo = event(email, 'demo_requested', t0);
    const fastTracked = applyEvents(undefined, [demo], defaultModel, at(1_000)).lead;
    expect(fastTracked.status).toBe('mql');
    const recycled = evaluateLead(fastTracked, defaultModel, at(2 * day)).lead;
    expect(recycled.status).toBe('recycled');
    // Ingest would not qualify it again for a page view: only a new fast-track event would.
    expect(applyEvents(recycled, [event(email, 'page_viewed', at(3 * day))], defaultModel, at(3 * day)).lead.status).toBe('recycled');

    const replayed = replayLead(recycled, [demo], defaultModel, at(3 * day));

    expect(replayed.lead.status).toBe('recycled');
    expect(replayed.handoffs).toEqual([]);
    // A demo request after the recycling fast-tracks it again, as at ingest.
    const again = event(email, 'demo_requested', at(4 * day));
    expect(replayLead(recycled, [demo, again], defaultModel, at(4 * day)).lead.status).toBe('mql');
  });

  it('an MQL stays an MQL under a stricter model while its score is above recycleBelow (hysteresis)', () => {
    const email = 'kim@acme.com';
    const lead = applyEvents(undefined, workedExample(email, t0), defaultModel, at(11_000)).lead;
    const replayed = replayLead(lead, workedExample(email, t0), higherThreshold, at(12_000));
    expect(replayed.lead.status).toBe('mql');
    expect(replayed.handoffs).toEqual([]);
  });
});

describe('backtest qualification', () => {
  it('a lead qualifies at the moment of its qualifying event, even when it has decayed below the threshold by now', () => {
    const seen = qualificationOf('dana@acme.com', workedExample('dana@acme.com', t0), defaultModel, at(400 * day));
    expect(seen).toMatchObject({ qualified: true, qualifiedAt: at(10_000).toISOString(), statusNow: 'recycled' });
  });

  it('outcome events are left out of the replay: a lead marked won still shows how the model sees it', () => {
    const email = 'won@acme.com';
    const events = [...engaged(email), event(email, 'won', at(20_000))];
    expect(qualificationOf(email, events, defaultModel, at(30_000))).toEqual({ qualified: false, statusNow: 'engaged' });
    expect(qualificationOf(email, events, lowerThreshold, at(30_000))).toMatchObject({ qualified: true, statusNow: 'mql' });
  });

  it('a demo request fast-tracks at its own time, not only when it is recent at the time of the backtest', () => {
    const email = 'demo@acme.com';
    const events = [event(email, 'demo_requested', t0)];
    expect(qualificationOf(email, events, defaultModel, at(365 * day))).toMatchObject({ qualified: true, qualifiedAt: t0.toISOString() });
  });

  it('the tally counts MQLs per model, the leads that change sides, and MQL-to-SQL / won rates over outcome leads', () => {
    const tally = new BacktestTally();
    const now = at(60_000);
    const leads: [string, NormalizedEvent[]][] = [
      ['a-qualified-sql@acme.com', [...workedExample('a-qualified-sql@acme.com', t0), event('a-qualified-sql@acme.com', 'sql', at(30_000))]],
      ['b-qualified@acme.com', workedExample('b-qualified@acme.com', t0)],
      ['c-engaged-won@acme.com', [...engaged('c-engaged-won@acme.com'), event('c-engaged-won@acme.com', 'won', at(30_000))]],
      ['d-engaged@acme.com', engaged('d-engaged@acme.com')],
      ['e-nothing@acme.com', [event('e-nothing@acme.com', 'email_opened', t0)]],
    ];
    for (const [leadId, events] of leads) {
      tally.add({
        leadId,
        current: qualificationOf(leadId, events, defaultModel, now),
        candidate: qualificationOf(leadId, events, lowerThreshold, now),
        outcomes: new Set(events.filter((e) => ['sql', 'won', 'lost', 'mql_accepted', 'mql_rejected'].includes(e.type)).map((e) => e.type)),
      });
    }

    const report = tally.report(defaultModel, lowerThreshold, now);

    expect(report).toMatchObject({ leads: 5, leadsWithOutcomes: 2, leadsReachedSql: 2 });
    expect(report.current).toMatchObject({ mqls: 2, mqlNow: 2, mqlWithSql: 1, mqlWithWon: 0, mqlToSqlRate: 0.5, mqlToWonRate: 0 });
    expect(report.candidate).toMatchObject({ mqls: 4, mqlWithSql: 2, mqlWithWon: 1, mqlToSqlRate: 0.5, mqlToWonRate: 0.25 });
    // Over the MQLs sales judged, both models' MQLs all reached SQL: the candidate's unjudged MQL (d) does not count
    // against it; and it qualifies both leads sales took to SQL, the current one only a.
    expect(report.current).toMatchObject({ mqlJudged: 1, judgedSqlRate: 1, sqlRecall: 0.5 });
    expect(report.candidate).toMatchObject({ mqlJudged: 2, judgedSqlRate: 1, sqlRecall: 1 });
    expect(report.newlyQualifying).toEqual({ count: 2, sample: ['c-engaged-won@acme.com', 'd-engaged@acme.com'] });
    expect(report.noLongerQualifying).toEqual({ count: 0, sample: [] });
    const table = formatBacktest(report);
    expect(table).toMatch(/MQL -> SQL\s+50\.0% \(1\/2\)\s+50\.0% \(2\/4\)/);
    expect(table).toMatch(/MQL -> won\s+0\.0% \(0\/2\)\s+25\.0% \(1\/4\)/);
    expect(table).toMatch(/MQL -> SQL, judged only\s+100\.0% \(1\/1\)\s+100\.0% \(2\/2\)/);
    expect(table).toMatch(/SQLs it qualifies\s+50\.0% \(1\/2\)\s+100\.0% \(2\/2\)/);
  });

  it('without any outcome the rates are n/a, not 0%, and the samples stop at ten', () => {
    const tally = new BacktestTally();
    for (let index = 0; index < 12; index += 1) {
      const email = `lead-${String(index).padStart(2, '0')}@acme.com`;
      tally.add({
        leadId: email,
        current: qualificationOf(email, workedExample(email, t0), defaultModel, at(60_000)),
        candidate: qualificationOf(email, workedExample(email, t0), higherThreshold, at(60_000)),
        outcomes: new Set(),
      });
    }
    const report = tally.report(defaultModel, higherThreshold, at(60_000));
    expect(report.current).toMatchObject({ mqls: 12, mqlToSqlRate: null, mqlToWonRate: null, judgedSqlRate: null, sqlRecall: null });
    expect(report.candidate.mqls).toBe(0);
    expect(report.noLongerQualifying.count).toBe(12);
    expect(report.noLongerQualifying.sample).toHaveLength(10);
    expect(formatBacktest(report)).toContain('no longer qualifying under the candidate: 12 (first 10)');
  });
});
