import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ScoringModel } from '../core/model.ts';
import type { Pipeline } from '../ingest/pipeline.ts';
import { flushOutboxes } from '../ingest/pipeline.ts';
import { mapWithConcurrency } from '../runtime/concurrency.ts';
import { type ResumeCursors, walkLeads } from '../store/lead-histories.ts';
import type { LeadOutcome } from '../store/repository.ts';

/**
 * `mql rescore`: every lead rebuilt from its stored events under a model, written only where its state
 * changes, transitions handed off like any other. One pass of a parallel Scan that reads each lead's
 * profile and events together (lib/store/lead-histories.ts), so a lead costs no read of its own unless it
 * is written meanwhile; the cursors are saved after every round of pages, so an interrupted run continues
 * where it stopped (`resume`).
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
  /** Called after every round of pages (the next page of each segment). */
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
  segments: number;
  /**
   * Per Scan segment, the key after which its walk resumes: the last item of the last lead this run
   * rebuilt there (lib/store/lead-histories.ts); `null` once finished. A file of a run before one-pass
   * rescore holds its Scan's LastEvaluatedKeys, which resume as well: a lead cut in two by one is missing
   * events there, so it is read again consistently. `"start"`: the segment has not finished a lead yet
   * (JSON has no undefined).
   */
  cursors: (Exclude<ResumeCursors[number], undefined> | 'start')[];
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

/** The cursors of a saved run as a walk takes them. */
const resumeFrom = (saved: SavedCursor): ResumeCursors => saved.cursors.map((cursor) => (cursor === 'start' ? undefined : cursor));

export async function runRescore(pipeline: Pipeline, options: RescoreOptions): Promise<RescoreResult> {
  const { model, now } = options;
  const clock = options.clock ?? (() => performance.now());
  const saved = options.resume ? readSaved(options.cursorFile, model.version) : undefined;
  const totals = saved ? structuredClone(saved.totals) : emptyTotals();
  // A resumed run keeps the segments it was cut into: a cursor belongs to its segment.
  const segments = saved?.segments ?? Math.max(1, Math.floor(options.segments ?? 1));
  const from: ResumeCursors = saved ? resumeFrom(saved) : Array.from({ length: segments }, () => undefined);
  const readBefore = totals.read;
  const started = clock();
  const rate = () => {
    const seconds = (clock() - started) / 1000;
    return seconds > 0 ? (totals.read - readBefore) / seconds : 0;
  };
  // One pass: each round the next page of every unfinished segment at once, every lead with its events.
  const rounds = walkLeads(pipeline.store, { from, ...(options.pageSize ? { pageSize: options.pageSize } : {}) });
  let complete = false;
  for (;;) {
    if (options.signal?.aborted) break;
    const next = await rounds.next();
    const round = next.done ? undefined : next.value;
    const results = await mapWithConcurrency(round?.leads ?? [], options.concurrency ?? 8, (scanned) =>
      pipeline.store.replaceState(scanned.lead.leadId, model, now, scanned),
    );
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
    totals.scanned += round?.scanned ?? 0;
    if (!round || round.done) {
      complete = true;
      if (options.cursorFile) rmSync(options.cursorFile, { force: true });
      options.onProgress?.({ ...totals, rate: rate(), done: true });
      break;
    }
    if (options.cursorFile) {
      mkdirSync(dirname(options.cursorFile), { recursive: true });
      const next: SavedCursor = { modelVersion: model.version, segments, cursors: round.cursors.map((cursor) => cursor ?? 'start'), totals };
      writeFileSync(options.cursorFile, `${JSON.stringify(next)}\n`);
    }
    options.onProgress?.({ ...totals, rate: rate(), done: false });
  }
  await rounds.return(undefined);
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
