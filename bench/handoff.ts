/**
 * `npm run bench:handoff`: CRM delivery measured through the HubSpot adapter and stand-in
 * (phases/hubspot-handoff.ts): a burst of BENCH_HANDOFF_MQLS (default 200) MQLs 16 at a time, then a
 * trickle of BENCH_HANDOFF_TRICKLE (default 20) one at a time, 500 ms apart. The figures go into
 * bench/handoff-results.json.
 */
import './support/log-level.ts';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setupHubSpot } from '../lib/crm/hubspot-setup.ts';
import { startHubSpotStandIn } from '../lib/local/stand-ins/hubspot.ts';
import { queues } from '../lib/topology.ts';
import { benchSecrets, benchStack } from './context.ts';
import { hubspotHandoff, hubspotLines } from './phases/hubspot-handoff.ts';
import { envInt } from './support/env.ts';
import { benchDir, errorLines, loadAverage, writeJson } from './support/report.ts';

const token = 'pat-na1-00000000-bench-only-0000-000000000000';
const mqls = envInt('BENCH_HANDOFF_MQLS', 200);
const trickle = envInt('BENCH_HANDOFF_TRICKLE', 20);
const errors: string[] = [];
const hubspot = await startHubSpotStandIn({ token });
await setupHubSpot({ token, baseUrl: hubspot.url });
const stack = await benchStack({
  EVENTS_WEBHOOK_SECRET: benchSecrets.events,
  CRM_ADAPTER: 'hubspot',
  HUBSPOT_BASE_URL: hubspot.url,
  HUBSPOT_ACCESS_TOKEN: token,
  LOG_LEVEL: 'ERROR',
});
try {
  // One lead through first: cold handler modules and connections are not part of the figures.
  await hubspotHandoff(stack, hubspot, { name: 'warmup', count: 1, concurrency: 1, gapMs: 0 }, errors);
  const burst = await hubspotHandoff(stack, hubspot, { name: 'burst', count: mqls, concurrency: 16, gapMs: 0 }, errors);
  const slow = await hubspotHandoff(stack, hubspot, { name: 'trickle', count: trickle, concurrency: 1, gapMs: 500 }, errors);
  const handoffQueue = queues.find((queue) => queue.name === 'handoff')!;
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadAverage() },
    settings: { batchSize: handoffQueue.batchSize, batchWindowSeconds: handoffQueue.batchWindowSeconds, adapter: 'hubspot (stand-in)' },
    burst,
    trickle: slow,
  };
  writeJson(join(benchDir, 'handoff-results.json'), result);
  for (const phase of [burst, slow]) if (phase.delivered !== phase.mqls) errors.push(`${phase.delivered} of ${phase.mqls} MQLs reached HubSpot`);
  console.log(
    [
      `CRM handoff bench, ${result.date} (batch ${handoffQueue.batchSize}, window ${handoffQueue.batchWindowSeconds} s)`,
      ...hubspotLines(`burst of ${mqls}`, burst),
      ...hubspotLines(`trickle of ${trickle}`, slow),
      errorLines(errors),
    ].join('\n'),
  );
  process.exitCode = errors.length === 0 ? 0 : 1;
} finally {
  await stack.stop();
  await hubspot.close();
}
