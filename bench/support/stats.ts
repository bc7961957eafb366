import type { StoreStats } from '../../lib/store/repository.ts';
/** Statistics of the benchmark, its seeded random numbers, and a bounded worker pool. */

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  min: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    mean: round(sorted.length ? sum / sorted.length : Number.NaN, 2),
    p50: round(percentile(sorted, 50), 2),
    p95: round(percentile(sorted, 95), 2),
    p99: round(percentile(sorted, 99), 2),
    max: round(sorted.at(-1) ?? Number.NaN, 2),
    min: round(sorted[0] ?? Number.NaN, 2),
  };
}

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Sum of a list of numbers (milliseconds, mostly). */
export const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

/** Adds one to `counts[key]` (statuses by count); returns the new count. */
export function tally(counts: Record<string, number>, key: string | number): number {
  counts[key] = (counts[key] ?? 0) + 1;
  return counts[key];
}

/** Deterministic PRNG (mulberry32, lib/local/seeded-random.ts), so every run spreads events over the same leads. */
export { seededRandom as prng } from '../../lib/local/seeded-random.ts';

/** Runs work(0..count-1) with at most `concurrency` in flight; stops taking new work once `stop()` says so. */
export async function pool(count: number, concurrency: number, work: (index: number) => Promise<void>, stop: () => boolean = () => false): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count && !stop()) {
      const index = next++;
      await work(index);
    }
  });
  await Promise.all(workers);
}

/** Polls `done` every `everyMs` until it holds or `timeoutMs` passed; says whether it held. */
export async function waitUntil(done: () => boolean, timeoutMs: number, everyMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return true;
}

/** What the store did between two copies of its counters (lib/store/repository.ts `StoreStats`). */
export function storeStatsSince(before: StoreStats, after: StoreStats): StoreStats {
  return {
    transactions: after.transactions - before.transactions,
    commits: after.commits - before.commits,
    conflicts: after.conflicts - before.conflicts,
    writeCapacityUnits: after.writeCapacityUnits - before.writeCapacityUnits,
  };
}
