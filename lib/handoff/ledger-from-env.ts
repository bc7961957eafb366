/**
 * The handoff function's store, from its environment: the lead's handoff ledger and the erasure tombstones
 * (lib/store/handoff-ledger.ts, lib/store/tombstones.ts) on the table, and nothing of the scoring pipeline.
 * The handoff never scores, so its bundle leaves out the lead writes, the scoring core, the model and zod
 * (about 90 KB of it, and the model's validation at every cold start: docs/benchmarks.md, "Cold start").
 * The same calls as those methods of `LeadStore` (lib/store/lead-store.ts), on a table configured as
 * `pipelineFromEnv` (lib/ingest/from-env.ts) configures it.
 */
import { dynamo } from '../runtime/aws.ts';
import { requireEnv } from '../runtime/config.ts';
import * as ledger from '../store/handoff-ledger.ts';
import { retentionFromEnv } from '../store/retention.ts';
import { StoreTable } from '../store/table.ts';
import { erasedAt } from '../store/tombstones.ts';
import { tableNameEnv } from '../topology.ts';
import type { HandoffDeps } from './consumer.ts';

export function handoffLedgerFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): HandoffDeps['store'] {
  const table = new StoreTable({ client: dynamo(), tableName: requireEnv(tableNameEnv), ...retentionFromEnv(env) });
  return {
    listHandoffs: (leadId) => ledger.listHandoffs(table, leadId),
    listAccountHandoffs: (accountKey) => ledger.listAccountHandoffs(table, accountKey),
    recordHandoffAttempt: (record, attempt) => ledger.recordHandoffAttempt(table, record, attempt),
    recordHandoffSuperseded: (record, superseded) => ledger.recordHandoffSuperseded(table, record, superseded),
    erasedAt: (leadId) => erasedAt(table, leadId),
  };
}
