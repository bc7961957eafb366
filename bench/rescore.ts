/**
 * Rescore and backtest throughput on the embedded local stack (in memory): `node bench/rescore.ts [leads]`
 * (default 3,000). Seeds the leads through the store, then prints leads/s for a rescore that changes
 * nothing, one where a lower MQL threshold qualifies a share of them (each transition written and queued),
 * one where every lead's score changes, and a backtest. Figures only: nothing here asserts a speed.
 */
import type { NormalizedEvent, ScoringModel } from '../lib/core/index.ts';
import type { Pipeline } from '../lib/ingest/pipeline.ts';

// The handlers run in this process: their log lines would bury the figures (set before the library loads).
process.env.LOG_LEVEL ??= 'SILENT';
const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
const { runBacktest } = await import('../lib/jobs/backtest.ts');
const { defaultModel, parseModel } = await import('../lib/core/index.ts');
const { startLocalStack } = await import('../lib/local/stack.ts');
const { ingest, sqsHandoffQueue } = await import('../lib/ingest/pipeline.ts');
const { formatRescoreSummary, runRescore } = await import('../lib/jobs/rescore.ts');
const { LeadStore } = await import('../lib/store/lead-store.ts');

const leads = Number(process.argv[2] ?? 3000);
const hour = 60 * 60 * 1000;
const titles = ['CEO', 'VP Sales', 'Director of Marketing', 'Engineer', 'Student'];

/** A mix: fit from the title and industry, a webinar up to 19 days old, case studies, pricing visits, some outcomes. */
function leadEvents(index: number, now: number): NormalizedEvent[] {
  const email = `lead${index}@company${index % 50}.com`;
  const event = (type: string, ago: number, properties: NormalizedEvent['properties'] = {}, profile?: NormalizedEvent['profile']): NormalizedEvent => ({
    leadKey: email,
    type,
    occurredAt: new Date(now - ago).toISOString(),
    source: 'bench',
    sourceEventId: `${index}-${type}`,
    properties,
    ...(profile ? { profile } : {}),
    raw: {},
  });
  const events = [
    event('profile_updated', 30 * 24 * hour, {}, { jobTitle: titles[index % titles.length]!, industry: index % 3 ? 'Software' : 'Retail' }),
    event('webinar_attended', (index % 20) * 24 * hour),
  ];
  if (index % 2) events.push(event('content_downloaded', (index % 7) * hour, { contentType: 'case_study' }));
  if (index % 4 === 0) events.push(event('page_viewed', hour, { url: '/pricing' }));
  if (index % 10 === 0) events.push(event(index % 20 ? 'sql' : 'won', hour / 2));
  return events;
}

const { version: _version, ...defaultInput } = defaultModel;
const lowerThreshold: ScoringModel = parseModel({ ...defaultInput, thresholds: { ...defaultModel.thresholds, mql: 50 } });
const webinarWorth22: ScoringModel = parseModel({
  ...defaultInput,
  thresholds: lowerThreshold.thresholds,
  behavior: { ...defaultInput.behavior, rules: defaultInput.behavior.rules.map((rule) => (rule.id === 'webinar_attended' ? { ...rule, points: 22 } : rule)) },
});

const stack = await startLocalStack({ port: 0, schedules: false, env: { CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' }, log: () => {} });
try {
  const store = new LeadStore({
    client: DynamoDBDocumentClient.from(stack.dynamodb, { marshallOptions: { removeUndefinedValues: true } }),
    tableName: stack.tableName,
  });
  const pipeline: Pipeline = { store, model: defaultModel, handoffQueue: sqsHandoffQueue(stack.sqs, stack.queueUrls.handoff) };
  const seeding = performance.now();
  const now = Date.now();
  for (let start = 0; start < leads; start += 100) {
    const events = Array.from({ length: Math.min(100, leads - start) }, (_, offset) => leadEvents(start + offset, now)).flat();
    await ingest(events, pipeline, new Date());
  }
  await stack.drain();
  process.stdout.write(`seeded ${leads} leads in ${((performance.now() - seeding) / 1000).toFixed(1)} s\n`);

  const runs: [string, ScoringModel][] = [
    ['same model, nothing to write', defaultModel],
    ['MQL at 50: a share qualifies, each written and handed off', lowerThreshold],
    ['again: nothing to write', lowerThreshold],
    ['webinar worth 22: every webinar lead rewritten', webinarWorth22],
  ];
  for (const [label, model] of runs) {
    const result = await runRescore(pipeline, { model, now: new Date() });
    await stack.drain();
    process.stdout.write(`rescore, ${label}: ${result.leadsPerSecond.toFixed(0)} leads/s\n  ${formatRescoreSummary(result)}\n`);
  }
  const started = performance.now();
  const report = await runBacktest(store, { current: defaultModel, candidate: lowerThreshold, now: new Date() });
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    `backtest of ${report.leads} leads, two models: ${(report.leads / seconds).toFixed(0)} leads/s (${seconds.toFixed(1)} s); MQLs ${report.current.mqls} -> ${report.candidate.mqls}, newly qualifying ${report.newlyQualifying.count}\n`,
  );
} finally {
  await stack.stop();
}
