/**
 * HTTP calls per MQL through the Salesforce adapter, against the Salesforce stand-in on this machine:
 * a burst of `BENCH_SALESFORCE_MQLS` new MQLs (default 200) delivered in batches of 100 (sObject
 * Collections, as the batching handoff sends them) and one by one (the single-record upsert), each
 * with its status query and the one login per container. Wall times are the stand-in's, not
 * Salesforce's: the figure to read is the calls, which count against the org's daily API limit.
 *
 *   node bench/salesforce.ts
 */
import './support/log-level.ts';
import { performance } from 'node:perf_hooks';
import type { HandoffRecord } from '../lib/crm/adapter.ts';
import { resetSalesforceSessions, salesforceAdapter } from '../lib/crm/salesforce.ts';
import { salesforceSettingsFromEnv } from '../lib/crm/salesforce-fields.ts';
import { startSalesforceStandIn } from '../lib/local/stand-ins/salesforce.ts';
import { envInt } from './support/env.ts';

const mqls = envInt('BENCH_SALESFORCE_MQLS', 200);
const batchSize = 100;
const credentials = { clientId: 'bench-client-id', clientSecret: 'bench-only-fake-secret' };
const externalIdField = 'MQL_External_Id__c';

function record(n: number, run: string): HandoffRecord {
  const email = `${run}.lead${n}@example.com`;
  return {
    type: 'lead.mql',
    id: `handoff_${email}`,
    occurredAt: '2026-01-05T10:00:00.000Z',
    leadId: email,
    lead: { email, firstName: 'Bench', lastName: `Lead ${n}`, company: 'Example Co', jobTitle: 'VP Operations' },
    score: { total: 72, fit: 30, behavior: 42, threshold: 60, modelVersion: '504a1c85b2af' },
    reasons: [{ rule: 'webinar_attended', kind: 'behavior', description: 'Attended a webinar', pointsNow: 20, rawPoints: 20, count: 1, points: 20 }],
    recentEvents: [],
  };
}

async function measure(run: 'batched' | 'single'): Promise<{ calls: number; ms: number }> {
  resetSalesforceSessions();
  const standIn = await startSalesforceStandIn({ ...credentials, externalIdField });
  try {
    const env = { SALESFORCE_INSTANCE_URL: standIn.url, SALESFORCE_CLIENT_ID: credentials.clientId, SALESFORCE_EXTERNAL_ID_FIELD: externalIdField };
    const adapter = salesforceAdapter(salesforceSettingsFromEnv(env, credentials.clientSecret));
    const records = Array.from({ length: mqls }, (_, n) => record(n, run));
    const now = new Date();
    const started = performance.now();
    if (run === 'batched') {
      for (let start = 0; start < records.length; start += batchSize) {
        const results = await adapter.deliverBatch!(records.slice(start, start + batchSize), now);
        if (results.some((result) => !result.ok)) throw new Error('a row failed');
      }
    } else {
      for (const one of records) await adapter.deliver(one, now);
    }
    const ms = performance.now() - started;
    if (standIn.leads().size !== mqls) throw new Error(`${standIn.leads().size} Leads, expected ${mqls}`);
    return { calls: standIn.calls.length, ms };
  } finally {
    await standIn.close();
  }
}

for (const run of ['batched', 'single'] as const) {
  const { calls, ms } = await measure(run);
  const how = run === 'batched' ? `batches of ${batchSize}` : 'one by one';
  console.log(`Salesforce ${how}: ${mqls} MQLs, ${calls} HTTP calls (${(calls / mqls).toFixed(3)} per MQL), ${Math.round(ms)} ms against the stand-in`);
}
