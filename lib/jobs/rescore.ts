import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ScoringModel } from '../core/model.ts';
import type { Pipeline } from '../ingest/pipeline.ts';
import { flushOutboxes } from '../ingest/pipeline.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import type { LeadOutcome } from '../store/repository.ts';

/**
 * `mql rescore`: every lead rebuilt from its stored events under a model, written only where its state
 * changes, transitions handed off like any other. A walk over a paginated Scan whose cursor is saved after
 * every page, so an interrupted run continues where it stopped (`resume`).
 */

export interface RescoreTotals {
  /** Leads read (rebuilt and compared). */
  read: number;
  /** Leads written because their state changed. */
  changed: number;
  unchanged: number;
  /** Leads left as they are because some of their events expired (EVENT_RETENTION_DAYS): a rebuild would forget them. */
  incomplete: number;
  /** Handoffs put on the handoff queue: transitions this rescore caused, and any left waiting in an outbox. */
  handoffs: number;
  /** Changed leads by `before -> after` status, e.g. `engaged -> mql`. */
  transitions: Record<string, number>;
  /** Items the Scan evaluated (every item of the table is read once). */
  scanned: number;
}

export interface RescoreProgress extends RescoreTotals {
  /** Leads per second so far (this run). */
  rate: number;
  done: boolean;
}

export interface RescoreOptions {
  model: ScoringModel;
  now: Date;
  /** Where the cursor is kept between pages (removed when the run completes). */
  cursorFile?: string;
  /** Continue from `cursorFile` (a run of the same model) instead of starting over. */
  resume?: boolean;
  /** Items a Scan page evaluates (DynamoDB Limit); default: DynamoDB's 1 MB pages. */
  pageSize?: number;
  /** Leads rebuilt at once. */
  concurrency?: number;
  /** Called after every page. */
  onProgress?: (progress: RescoreProgress) => void;
  /** Stops between pages, the cursor saved: a later run with `resume` continues. */
  signal?: AbortSignal;
  /** Wall clock for the rate (tests and the CLI leave the default). */
  clock?: () => number;
}

export interface RescoreResult extends RescoreTotals {
  modelVersion: string;
  /** False when stopped by `signal` before the end (the cursor file says where to go on). */
  complete: boolean;
  /** Whether this run continued an interrupted one. */
  resumed: boolean;
  seconds: number;
  /** Leads read by this run (not counting an interrupted run it continued) per second. */
  leadsPerSecond: number;
}

interface SavedCursor {
  modelVersion: string;
  cursor: Record<string, unknown>;
  totals: RescoreTotals;
}

const emptyTotals = (): RescoreTotals => ({ read: 0, changed: 0, unchanged: 0, incomplete: 0, handoffs: 0, transitions: {}, scanned: 0 });

function readSaved(file: string | undefined, modelVersion: string): SavedCursor | undefined {
  if (!file || !existsSync(file)) return undefined;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedCursor;
  if (saved.modelVersion !== modelVersion) {
    throw new Error(`${file} is the cursor of a rescore under model ${saved.modelVersion}, not ${modelVersion}: run without --resume to start over`);
  }
  return saved;
}

export async function runRescore(pipeline: Pipeline, options: RescoreOptions): Promise<RescoreResult> {
  const { model, now } = options;
  const clock = options.clock ?? (() => performance.now());
  const saved = options.resume ? readSaved(options.cursorFile, model.version) : undefined;
  const totals = saved ? structuredClone(saved.totals) : emptyTotals();
  const readBefore = totals.read;
  let cursor = saved?.cursor;
  const started = clock();
  const rate = () => {
    const seconds = (clock() - started) / 1000;
    return seconds > 0 ? (totals.read - readBefore) / seconds : 0;
  };
  let complete = false;
  for (;;) {
    if (options.signal?.aborted) break;
    const page = await pipeline.store.scanLeads({ ...(cursor ? { cursor } : {}), ...(options.pageSize ? { limit: options.pageSize } : {}) });
    const results = await mapWithConcurrency(page.leadIds, options.concurrency ?? 8, (leadId) => pipeline.store.replaceState(leadId, model, now));
    const outcomes: LeadOutcome[] = [];
    for (const result of results) {
      if (!result.outcome) continue;
      totals.read += 1;
      outcomes.push(result.outcome);
      if (!result.written) {
        if (result.incomplete) totals.incomplete = (totals.incomplete ?? 0) + 1;
        else totals.unchanged += 1;
        continue;
      }
      totals.changed += 1;
      if (result.before !== result.after) {
        const key = `${result.before} -> ${result.after}`;
        totals.transitions[key] = (totals.transitions[key] ?? 0) + 1;
      }
    }
    totals.handoffs += await flushOutboxes(outcomes, pipeline);
    totals.scanned += page.scanned;
    cursor = page.cursor;
    if (!cursor) {
      complete = true;
      if (options.cursorFile) rmSync(options.cursorFile, { force: true });
      options.onProgress?.({ ...totals, rate: rate(), done: true });
      break;
    }
    if (options.cursorFile) {
      mkdirSync(dirname(options.cursorFile), { recursive: true });
      const next: SavedCursor = { modelVersion: model.version, cursor, totals };
      writeFileSync(options.cursorFile, `${JSON.stringify(next)}\n`);
    }
    options.onProgress?.({ ...totals, rate: rate(), done: false });
  }
  return { ...totals, modelVersion: model.version, complete, resumed: saved !== undefined, seconds: (clock() - started) / 1000, leadsPerSecond: rate() };
}

/** `engaged -> mql 3, mql -> recycled 1`, or `none`. */
export function formatTransitions(transitions: Record<string, number>): string {
  const entries = Object.entries(transitions).sort(([a], [b]) => a.localeCompare(b));
  return entries.length > 0 ? entries.map(([key, count]) => `${key} ${count}`).join(', ') : 'none';
}

/** The one summary line a rescore always prints. */
export function formatRescoreSummary(result: RescoreResult): string {
  const state = result.complete ? 'done' : 'interrupted (run again with --resume to continue)';
  return (
    `rescore under model ${result.modelVersion}${result.resumed ? ' (resumed)' : ''}: ${state}; ${result.read} lead(s) read, ${result.changed} changed, ` +
    `${result.unchanged} unchanged, ${result.incomplete ? `${result.incomplete} kept as they are (events expired: EVENT_RETENTION_DAYS), ` : ''}` +
    `${result.handoffs} handoff(s) queued; status changes: ${formatTransitions(result.transitions)}; ` +
    `${result.seconds.toFixed(1)} s, ${result.leadsPerSecond.toFixed(0)} leads/s`
  );
}

/** A one-line text progress bar, for a terminal (`\r` rewrites it); `total` from a count, when known. */
export function progressLine(progress: RescoreProgress, total: number | undefined, width = 30): string {
  const counts = `${progress.read}${total !== undefined ? `/${total}` : ''} leads, ${progress.changed} changed, ${progress.handoffs} handed off, ${progress.rate.toFixed(0)}/s`;
  if (total === undefined || total === 0) return counts;
  const filled = Math.min(width, Math.round((progress.read / total) * width));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${counts}`;
}

/** How many leads a walk will read: a Scan of its own (a terminal's progress bar wants a total). */
export async function countLeads(store: Pipeline['store']): Promise<number> {
  let count = 0;
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await store.scanLeads(cursor ? { cursor } : {});
    count += page.leadIds.length;
    cursor = page.cursor;
  } while (cursor);
  return count;
}
