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
  /** Parallel Scan segments (default 1); a resumed run keeps the segments it started with. */
  segments?: number;
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

/** Where each Scan segment stands: a cursor, `null` once finished, absent before its first page. */
type SegmentCursors = (Record<string, unknown> | null | undefined)[];

interface SavedCursor {
  modelVersion: string;
  segments: number;
  cursors: SegmentCursors;
  totals: RescoreTotals;
  /** A file written before segments existed: one cursor. */
  cursor?: Record<string, unknown>;
}

const emptyTotals = (): RescoreTotals => ({ read: 0, changed: 0, unchanged: 0, incomplete: 0, handoffs: 0, transitions: {}, scanned: 0 });

function readSaved(file: string | undefined, modelVersion: string): SavedCursor | undefined {
  if (!file || !existsSync(file)) return undefined;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedCursor;
  if (saved.modelVersion !== modelVersion) {
    throw new Error(`${file} is the cursor of a rescore under model ${saved.modelVersion}, not ${modelVersion}: run without --resume to start over`);
  }
  if (!saved.cursors) return { ...saved, segments: 1, cursors: [saved.cursor ?? null] };
  return saved;
}

export async function runRescore(pipeline: Pipeline, options: RescoreOptions): Promise<RescoreResult> {
  const { model, now } = options;
  const clock = options.clock ?? (() => performance.now());
  const saved = options.resume ? readSaved(options.cursorFile, model.version) : undefined;
  const totals = saved ? structuredClone(saved.totals) : emptyTotals();
  // A resumed run keeps the segments it was cut into: a cursor belongs to its segment.
  const segments = saved?.segments ?? Math.max(1, Math.floor(options.segments ?? 1));
  const cursors: SegmentCursors = saved ? [...saved.cursors] : Array.from({ length: segments }, () => undefined);
  const readBefore = totals.read;
  const started = clock();
  const rate = () => {
    const seconds = (clock() - started) / 1000;
    return seconds > 0 ? (totals.read - readBefore) / seconds : 0;
  };
  let complete = false;
  for (;;) {
    if (options.signal?.aborted) break;
    // A round: the next page of every unfinished segment at once.
    const open = cursors.flatMap((cursor, index) => (cursor === null ? [] : [index]));
    const pages = await Promise.all(
      open.map((index) =>
        pipeline.store.scanLeads({
          ...(cursors[index] ? { cursor: cursors[index] } : {}),
          ...(options.pageSize ? { limit: options.pageSize } : {}),
          segment: { index, total: segments },
        }),
      ),
    );
    const leadIds = pages.flatMap((page) => page.leadIds);
    const results = await mapWithConcurrency(leadIds, options.concurrency ?? 8, (leadId) => pipeline.store.replaceState(leadId, model, now));
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
    open.forEach((segment, index) => {
      const page = pages[index]!;
      totals.scanned += page.scanned;
      cursors[segment] = page.cursor ?? null;
    });
    if (cursors.every((cursor) => cursor === null)) {
      complete = true;
      if (options.cursorFile) rmSync(options.cursorFile, { force: true });
      options.onProgress?.({ ...totals, rate: rate(), done: true });
      break;
    }
    if (options.cursorFile) {
      mkdirSync(dirname(options.cursorFile), { recursive: true });
      const next: SavedCursor = { modelVersion: model.version, segments, cursors, totals };
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
