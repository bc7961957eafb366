/**
 * Rescore and backtest throughput on a local stack (bench/rescore.ts runs it): `leads` leads seeded
 * through the store, then leads/s for a rescore that changes nothing, one where a lower MQL threshold
 * qualifies a share of them (each transition written and queued), one where every lead's score
 * changes, and a backtest. Figures only: nothing here asserts a speed.
 */
import { performance } from 'node:perf_hooks';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { NormalizedEvent, ScoringModel } from '../../lib/core/index.ts';
import { modelContent, parseModel } from '../../lib/core/model.ts';
import { ingest, type Pipeline, sqsHandoffQueue } from '../../lib/ingest/pipeline.ts';
import { runBacktest } from '../../lib/jobs/backtest.ts';
import { formatRescoreSummary, runRescore } from '../../lib/jobs/rescore.ts';
import type { LocalStack } from '../../lib/local/stack.ts';
import { defaultModel } from '../../lib/runtime/default-model.ts';
import { installedEmailDomainLists } from '../../lib/runtime/email-domain-lists.ts';
import { LeadStore } from '../../lib/store/lead-store.ts';

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

const defaultInput = modelContent(defaultModel);
const lowerThreshold: ScoringModel = parseModel({ ...defaultInput, thresholds: { ...defaultModel.thresholds, mql: 50 } }, installedEmailDomainLists);
const webinarWorth22: ScoringModel = parseModel(
  {
    ...defaultInput,
    thresholds: lowerThreshold.thresholds,
    behavior: { ...defaultInput.behavior, rules: defaultInput.behavior.rules.map((rule) => (rule.id === 'webinar_attended' ? { ...rule, points: 22 } : rule)) },
  },
  installedEmailDomainLists,
);

/** Seeds `leads` leads on `stack`, then rescores and backtests them; each figure goes to `print` as it is measured. */
export async function rescoreBench(stack: LocalStack, leads: number, print: (line: string) => void): Promise<void> {
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
  print(`seeded ${leads} leads in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);

  const runs: [string, ScoringModel][] = [
    ['same model, nothing to write', defaultModel],
    ['MQL at 50: a share qualifies, each written and handed off', lowerThreshold],
    ['again: nothing to write', lowerThreshold],
    ['webinar worth 22: every webinar lead rewritten', webinarWorth22],
  ];
  for (const [label, model] of runs) {
    const result = await runRescore(pipeline, { model, now: new Date() });
    await stack.drain();
    print(`rescore, ${label}: ${result.leadsPerSecond.toFixed(0)} leads/s\n  ${formatRescoreSummary(result)}`);
  }
  const started = performance.now();
  const report = await runBacktest(store, { current: defaultModel, candidate: lowerThreshold, now: new Date() });
  const seconds = (performance.now() - started) / 1000;
  print(
    `backtest of ${report.leads} leads, two models: ${(report.leads / seconds).toFixed(0)} leads/s (${seconds.toFixed(1)} s); MQLs ${report.current.mqls} -> ${report.candidate.mqls}, newly qualifying ${report.newlyQualifying.count}`,
  );
}
