import { describe, expect, it } from 'vitest';
import type { RuleCalibration } from '../../../lib/core/calibrate.ts';
import { calibrate, calibrationMinimums, judgeLead, NotEnoughOutcomes, proposeModel, reportThresholds } from '../../../lib/core/calibrate.ts';
import { chooseLambda, fitLogistic, lambdaGrid, precisionRecall, predictLogistic, solveLinear } from '../../../lib/core/logistic.ts';
import { formatCalibration } from '../../../lib/jobs/calibrate.ts';
import { seededRandom } from '../../../lib/local/seeded-random.ts';
import { calibrationPopulation, withOutcomeEvents } from '../../setup/calibration-population.ts';
import { event } from '../../setup/events.ts';
import { defaultModel, parseModel } from '../../setup/model.ts';

const day = 24 * 60 * 60 * 1000;
const start = new Date('2026-05-01T09:00:00.000Z');
const logit = (p: number) => Math.log(p / (1 - p));

describe('logistic regression', () => {
  it('solves a linear system exactly', () => {
    expect(
      solveLinear(
        [
          [4, 1],
          [1, 3],
        ],
        [1, 2],
      ).map((value) => value.toFixed(12)),
    ).toEqual([(1 / 11).toFixed(12), (7 / 11).toFixed(12)]);
  });

  it('without a penalty, one yes/no feature gives the log odds ratio and the base log odds (the closed-form answer)', () => {
    // 30 without the feature, 9 positive (30%); 40 with it, 30 positive (75%).
    const rows = [...Array.from({ length: 30 }, () => [0]), ...Array.from({ length: 40 }, () => [1])];
    const labels = [...Array.from({ length: 30 }, (_, i) => i < 9), ...Array.from({ length: 40 }, (_, i) => i < 30)];

    const fit = fitLogistic(rows, labels, { lambda: 0 });

    expect(fit.converged).toBe(true);
    expect(fit.intercept).toBeCloseTo(logit(0.3), 10);
    expect(fit.coefficients[0]).toBeCloseTo(logit(0.75) - logit(0.3), 10);
    expect(predictLogistic(fit, [1])).toBeCloseTo(0.75, 10);
  });

  it('recovers the coefficients that generated 20,000 samples, and finds none for an unrelated feature', () => {
    const random = seededRandom(42);
    const truth = { intercept: -2, points: 0.08, unrelated: 0 };
    const rows: number[][] = [];
    const labels: boolean[] = [];
    for (let i = 0; i < 20_000; i += 1) {
      const row = [random() * 50, random() * 20];
      rows.push(row);
      labels.push(random() < 1 / (1 + Math.exp(-(truth.intercept + truth.points * row[0]! + truth.unrelated * row[1]!))));
    }

    const fit = fitLogistic(rows, labels, { lambda: 0.01 });

    expect(fit.converged).toBe(true);
    expect(fit.coefficients[0]).toBeGreaterThan(0.07);
    expect(fit.coefficients[0]).toBeLessThan(0.09);
    expect(Math.abs(fit.coefficients[1]!)).toBeLessThan(0.01);
    expect(fit.intercept).toBeGreaterThan(-2.2);
    expect(fit.intercept).toBeLessThan(-1.8);
  });

  it('with a penalty, a perfectly separating feature gets a finite coefficient, and a larger penalty a smaller one', () => {
    const rows = [[0], [0], [0], [1], [1], [1]];
    const labels = [false, false, false, true, true, true];

    const light = fitLogistic(rows, labels, { lambda: 0.1 });
    const heavy = fitLogistic(rows, labels, { lambda: 10 });

    expect(light.converged).toBe(true);
    expect(Number.isFinite(light.coefficients[0])).toBe(true);
    expect(light.coefficients[0]).toBeGreaterThan(heavy.coefficients[0]!);
    expect(heavy.coefficients[0]).toBeGreaterThan(0);
  });

  it('the penalised solution is where the gradient is zero: residuals times features equal lambda times the coefficient', () => {
    const random = seededRandom(7);
    const rows = Array.from({ length: 200 }, () => [random() * 10, random() < 0.5 ? 1 : 0]);
    const labels = rows.map((row) => random() < 1 / (1 + Math.exp(-(-1 + 0.3 * row[0]! - row[1]!))));
    const lambda = 2;

    const fit = fitLogistic(rows, labels, { lambda });

    for (let j = 0; j < 2; j += 1) {
      const residual = rows.reduce(
        (sum, row, i) => sum + ((labels[i] ? 1 : 0) - predictLogistic(fit, row)) * ((row[j]! - fit.means[j]!) / fit.deviations[j]!),
        0,
      );
      expect(residual).toBeCloseTo(lambda * fit.standardized[j]!, 8);
    }
    expect(rows.reduce((sum, row, i) => sum + (labels[i] ? 1 : 0) - predictLogistic(fit, row), 0)).toBeCloseTo(0, 8);
  });

  it('a feature with no spread is left out (null), and the others are fitted as if it were absent', () => {
    const rows = [
      [1, 0],
      [1, 0],
      [1, 1],
      [1, 1],
      [1, 1],
      [1, 0],
    ];
    const labels = [false, true, true, true, false, false];

    const fit = fitLogistic(rows, labels, { lambda: 0 });
    const alone = fitLogistic(
      rows.map((row) => [row[1]!]),
      labels,
      { lambda: 0 },
    );

    expect(fit.coefficients[0]).toBeNull();
    expect(fit.standardized[0]).toBeNull();
    expect(fit.coefficients[1]).toBeCloseTo(alone.coefficients[0]!, 12);
  });

  it('refuses rows and labels that do not match, and a negative penalty', () => {
    expect(() => fitLogistic([[1]], [true, false])).toThrow(/one label per row/);
    expect(() => fitLogistic([], [])).toThrow(/at least one row/);
    expect(() => fitLogistic([[1], [1, 2]], [true, false])).toThrow(/same number of features/);
    expect(() => fitLogistic([[1]], [true], { lambda: -1 })).toThrow(/lambda >= 0/);
  });

  it('cross-validation picks a strong penalty for features that are noise, and a weak one for a clear signal in many rows', () => {
    const random = seededRandom(11);
    const noiseRows = Array.from({ length: 80 }, () => Array.from({ length: 10 }, () => random() * 10));
    const noiseLabels = noiseRows.map(() => random() < 0.5);
    const signalRows = Array.from({ length: 2000 }, () => [random() * 40, random() * 10]);
    const signalLabels = signalRows.map((row) => random() < 1 / (1 + Math.exp(-(0.15 * row[0]! - 3))));

    const noise = chooseLambda(noiseRows, noiseLabels);
    const signal = chooseLambda(signalRows, signalLabels);

    expect(noise.scores.map((score) => score.lambda)).toEqual([...lambdaGrid]);
    expect(noise.lambda).toBeGreaterThanOrEqual(30);
    expect(signal.lambda).toBeLessThanOrEqual(3);
    expect(chooseLambda(signalRows, signalLabels)).toEqual(signal);
  });

  it('is deterministic: the same rows give the same coefficients to the last bit', () => {
    const random = seededRandom(3);
    const rows = Array.from({ length: 300 }, () => [random() * 40, random() * 15, random() < 0.3 ? -10 : 0]);
    const labels = rows.map((row) => random() < 1 / (1 + Math.exp(-(0.05 * row[0]! - 1))));
    expect(fitLogistic(rows, labels)).toEqual(fitLogistic(rows, labels));
  });
});

describe('precision and recall at thresholds', () => {
  it('counts the samples at or above each threshold and the positives among them', () => {
    const samples = [
      { score: 80, positive: true },
      { score: 70, positive: false },
      { score: 60, positive: true },
      { score: 50, positive: true },
      { score: 40, positive: false },
    ];

    expect(precisionRecall(samples, [60, 90, 0])).toEqual([
      { threshold: 60, selected: 3, truePositives: 2, precision: 2 / 3, recall: 2 / 3 },
      { threshold: 90, selected: 0, truePositives: 0, precision: null, recall: 0 },
      { threshold: 0, selected: 5, truePositives: 3, precision: 3 / 5, recall: 1 },
    ]);
  });

  it('shows the MQL threshold and steps of 10 around it, none below zero', () => {
    expect(reportThresholds(defaultModel)).toEqual([30, 40, 50, 60, 70, 80, 90, 100]);
    expect(reportThresholds({ thresholds: { ...defaultModel.thresholds, mql: 15 } })).toEqual([5, 15, 25, 35, 45, 55]);
  });
});

describe('a lead as sales judged it', () => {
  const email = 'dana@acme-software.com';
  const days = (offsetDays: number) => new Date(start.getTime() + offsetDays * day);
  const profile = event(email, 'profile_updated', days(0), { profile: { jobTitle: 'VP Sales', industry: 'SaaS' } });

  it('is scored at its first outcome: fit points, behavior decayed to that moment, nothing after it', () => {
    const judged = judgeLead(
      email,
      [
        profile,
        event(email, 'webinar_attended', days(0)),
        event(email, 'mql_rejected', days(90), { properties: { reason: 'wrong_timing' } }),
        event(email, 'trial_started', days(100)),
        event(email, 'sql', days(120)),
      ],
      defaultModel,
    );

    // A webinar 90 days (one half-life) before the rejection is worth 10 of its 20 points then.
    expect(judged).toEqual({
      leadId: email,
      judgedAt: new Date(start.getTime() + 90 * day).toISOString(),
      outcomes: ['mql_rejected', 'sql'],
      reachedSql: true,
      total: 35,
      contributions: { c_level_or_vp: 15, target_industry: 10, webinar_attended: 10 },
    });
  });

  it.each([
    [['sql'], true],
    [['mql_accepted'], true],
    [['won'], true],
    [['sql', 'lost'], true],
    [['mql_rejected'], false],
    [['lost'], false],
    [['mql_rejected', 'won'], true],
  ])('with outcomes %j it reached SQL: %s', (outcomes, reached) => {
    const events = [profile, event(email, 'webinar_attended', days(1)), ...outcomes.map((type, index) => event(email, type, days(10 + index)))];
    expect(judgeLead(email, events, defaultModel)?.reachedSql).toBe(reached);
  });

  it('is not judged without an outcome, nor with nothing scored before its first outcome', () => {
    expect(judgeLead(email, [profile, event(email, 'webinar_attended', days(1))], defaultModel)).toBeUndefined();
    expect(judgeLead(email, [event(email, 'sql', days(-1)), profile, event(email, 'webinar_attended', days(1))], defaultModel)).toBeUndefined();
  });

  it("scores events stored under a merged provider key as the lead's own", () => {
    const judged = judgeLead(
      email,
      [event('phone:+14155550123', 'form_submitted', days(0), { properties: { formId: 'f1' } }), profile, event(email, 'sql', days(0))],
      defaultModel,
    );
    expect(judged?.contributions).toMatchObject({ lead_form: 10 });
  });
});

describe('calibrate', () => {
  const population = calibrationPopulation(60, start);
  const histories = population.map((lead) => ({ leadId: lead.leadId, events: withOutcomeEvents(lead) }));
  const byRule = (rules: RuleCalibration[], id: string) => rules.find((rule) => rule.rule === id)!;

  it('without a penalty, the webinar rule gets the log odds ratio of its leads per decayed point, and the unrelated trial rule none', () => {
    const report = calibrate(histories, defaultModel, { lambda: 0 });
    const webinarPoints = Math.round(20 * 2 ** (-10 / 90) * 100) / 100;

    expect(report).toMatchObject({ leads: 60, reachedSql: 30, skipped: 0 });
    // 80% of webinar leads reached SQL, 20% of the others: log(0.8/0.2) - log(0.2/0.8) = log 16.
    expect(byRule(report.rules, 'webinar_attended').coefficient).toBeCloseTo(Math.log(16) / webinarPoints, 8);
    expect(byRule(report.rules, 'trial_started').coefficient).toBeCloseTo(0, 8);
    expect(byRule(report.rules, 'webinar_attended')).toMatchObject({ points: 20, fired: 30, firedReachedSql: 24 });
    expect(byRule(report.rules, 'trial_started')).toMatchObject({ points: 30, fired: 20, firedReachedSql: 10 });
  });

  it('orders the rules by what they predict, and proposes more points for the predictive rule and fewer for the other', () => {
    const report = calibrate(histories, defaultModel);
    const webinar = byRule(report.rules, 'webinar_attended');
    const trial = byRule(report.rules, 'trial_started');

    expect(webinar.standardized!).toBeGreaterThan(Math.abs(trial.standardized!));
    expect(webinar.coefficient!).toBeGreaterThan(trial.coefficient!);
    expect(webinar.proposedPoints).toBeGreaterThan(20);
    expect(trial.proposedPoints).toBeLessThan(30);
    // The fit rules fired for every lead alike: nothing to learn, points kept.
    expect(byRule(report.rules, 'c_level_or_vp')).toMatchObject({
      fired: 60,
      coefficient: null,
      multiplier: null,
      proposedPoints: 15,
      note: 'no spread in its points: kept',
    });
    // The demo requests came after sales had judged the leads: unseen.
    expect(byRule(report.rules, 'demo_requested')).toMatchObject({ fired: 0, proposedPoints: 40, note: 'never fired: kept' });
  });

  it('measures precision and recall of the current and the proposed model at thresholds around the MQL threshold', () => {
    const report = calibrate(histories, defaultModel);

    // Current: fit 25, webinar 18.5, trial 27.8 (decayed). Leads with both (i = 0 mod 6) score 71; a trial alone 53; a webinar alone 44.
    const at = (threshold: number) => report.current.find((quality) => quality.threshold === threshold)!;
    expect(at(60)).toMatchObject({ selected: 10, truePositives: 8 });
    expect(at(30)).toMatchObject({ selected: 40, truePositives: 26, recall: 26 / 30 });
    expect(report.proposed).toHaveLength(report.current.length);
    // The proposal lifts the webinar leads (80% SQL) over the trial-only ones (20%) at the MQL threshold.
    const proposedAt60 = report.proposed!.find((quality) => quality.threshold === 60)!;
    // Cross-validated (each lead scored by a model fitted without it): far more of the SQLs, still mostly SQLs.
    expect(proposedAt60.precision!).toBeGreaterThan(0.7);
    expect(proposedAt60.recall!).toBeGreaterThan(at(60).recall!);
  });

  it('writes a proposed model the model loader accepts, with the new points and the rest unchanged', () => {
    const report = calibrate(histories, defaultModel);
    const proposed = parseModel(JSON.parse(JSON.stringify(report.proposedModel)), 'proposed-model.json');

    expect(proposed.version).toBe(report.proposedModel!.version);
    expect(proposed.version).not.toBe(defaultModel.version);
    expect(proposed.name).toMatch(/calibrated on 60 sales outcomes to 2026-05-12/);
    expect(proposed.behavior.rules.find((rule) => rule.id === 'webinar_attended')!.points).toBe(byRule(report.rules, 'webinar_attended').proposedPoints);
    expect(proposed.thresholds).toEqual(defaultModel.thresholds);
    expect(proposed.fit.rules).toEqual(defaultModel.fit.rules);
    expect(proposed.disqualify).toEqual(defaultModel.disqualify);
  });

  it('switches off a rule whose evidence runs against its points instead of reversing them', () => {
    // Webinar registrations come mostly from leads sales then turned down.
    const registered = histories.map((history, index) => {
      const lead = population[index]!;
      if (lead.reachedSql && index % 10 !== 2) return history;
      const at = new Date(Date.parse(lead.events[0]!.occurredAt) + day).toISOString();
      return {
        ...history,
        events: [...history.events, event(lead.leadId, 'webinar_registered', at)],
      };
    });

    const report = calibrate(registered, defaultModel);

    expect(byRule(report.rules, 'webinar_registered')).toMatchObject({
      points: 5,
      fired: 36,
      firedReachedSql: 6,
      proposedPoints: 0,
      multiplier: 0,
      note: 'evidence against its points: switched off, not reversed',
    });
    expect(byRule(report.rules, 'webinar_registered').coefficient!).toBeLessThan(0);
    expect(parseModel(report.proposedModel).behavior.rules.find((rule) => rule.id === 'webinar_registered')).toMatchObject({ points: 0, cap: 10 });
  });

  it('is deterministic: the same histories in another order give the same report', () => {
    expect(calibrate([...histories].reverse(), defaultModel)).toEqual(calibrate(histories, defaultModel));
  });

  it(`refuses fewer than ${calibrationMinimums.leads} judged leads, saying how many it needs and found`, () => {
    const attempt = () => calibrate(histories.slice(0, 29), defaultModel);
    expect(attempt).toThrow(NotEnoughOutcomes);
    expect(attempt).toThrow(
      /needs at least 30 leads with a sales outcome, at least 10 that reached SQL .* and 10 that did not; found 29 \(15 reached SQL, 14 did not\)/,
    );
  });

  it('refuses when fewer than 10 of them did not reach SQL, however many did', () => {
    const mostlySql = histories.filter((_, index) => population[index]!.reachedSql || index < 10);
    expect(() => calibrate(mostlySql, defaultModel)).toThrow(/found 35 \(30 reached SQL, 5 did not\)/);
  });

  it('leaves out leads without outcomes, counts those with nothing before their outcome as skipped, and --since keeps later judgements', () => {
    const extra = [
      { leadId: 'quiet@acme.com', events: population[0]!.events.map((event) => ({ ...event, leadKey: 'quiet@acme.com' })) },
      {
        leadId: 'unknown@acme.com',
        events: [{ leadKey: 'unknown@acme.com', type: 'sql', occurredAt: start.toISOString(), source: 'crm', sourceEventId: 'x', properties: {} }],
      },
    ];
    expect(calibrate([...histories, ...extra], defaultModel)).toMatchObject({ leads: 60, skipped: 1 });

    const since = (minutes: number) => new Date(start.getTime() + 11 * day + minutes * 60_000);
    expect(calibrate(histories, defaultModel, { since: since(20) })).toMatchObject({
      leads: 40,
      since: '2026-05-12T09:20:00.000Z',
      judgedFrom: '2026-05-12T09:20:00.000Z',
    });
    expect(() => calibrate(histories, defaultModel, { since: since(35) })).toThrow(/judged since 2026-05-12T09:35:00.000Z.*found 25/);
  });

  it("prints each rule's coefficient next to its points and fired count, the precision/recall table, and the next step", () => {
    const text = formatCalibration(calibrate(histories, defaultModel), 'proposed-model.json');

    expect(text).toMatch(/^calibrate: 60 lead\(s\) judged by sales \(2026-05-12 \.\. 2026-05-12\), 30 reached SQL \(50\.0%\)/);
    expect(text).toMatch(/webinar_attended\s+behavior\s+20\s+30\s+80\.0%\s+\+0\.\d{4}\s+\+\d\.\d\d\s+\d+/);
    expect(text).toMatch(/60 \(mql\)\s+10\s+80\.0%\s+26\.7%/);
    expect(text).toContain('written to proposed-model.json');
    expect(text).toContain('npx mql backtest --model proposed-model.json');
  });
});

describe('the proposed model', () => {
  const calibration = (rule: string, points: number, multiplier: number | null): RuleCalibration => ({
    rule,
    kind: 'behavior',
    description: rule,
    points,
    fired: 10,
    firedReachedSql: 5,
    coefficient: 0.1,
    standardized: 0.5,
    multiplier,
    proposedPoints: multiplier === null ? points : Math.round(points * multiplier),
  });

  it("scales a behavior rule's cap with its points, and a group's bounds by how its largest rule moved", () => {
    const proposed = parseModel(
      proposeModel(
        defaultModel,
        [
          calibration('email_clicked', 3, 2),
          calibration('c_level_or_vp', 15, 1.6),
          calibration('director_or_head', 10, 0.5),
          calibration('student_title', -20, 0.5),
        ],
        'proposed',
      ),
    );

    expect(proposed.behavior.rules.find((rule) => rule.id === 'email_clicked')).toMatchObject({ points: 6, cap: 30 });
    expect(proposed.behavior.rules.find((rule) => rule.id === 'email_opened')).toMatchObject({ points: 1, cap: 5 });
    expect(proposed.fit.rules.find((rule) => rule.id === 'c_level_or_vp')!.points).toBe(24);
    expect(proposed.fit.groups).toEqual({ seniority: { max: 24 }, student: { min: -20 } });
  });

  it("proposes nothing when no rule's points are borne out by the outcomes", () => {
    // Webinar leads reach SQL at 20%, the others at 80%, the trial says nothing: no rule earns its points.
    const inverted = calibrationPopulation(60, start).map((lead) => ({
      leadId: lead.leadId,
      events: withOutcomeEvents({
        ...lead,
        outcomes: lead.outcomes.map((outcome) => ({
          ...outcome,
          outcome: outcome.outcome === 'sql' ? 'mql_rejected' : outcome.outcome === 'won' ? 'lost' : 'sql',
        })),
      }),
    }));

    const report = calibrate(inverted, defaultModel);

    expect(report.refused).toMatch(/no rule's points are borne out by these outcomes/);
    expect(report.proposedModel).toBeUndefined();
    expect(report.rules.every((rule) => rule.proposedPoints === rule.points)).toBe(true);
    expect(formatCalibration(report)).toContain('no model proposed: ');
  });
});
