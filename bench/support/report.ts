/** The printout and the JSON files of the bench. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CpuUse } from './processes.ts';
import { round, type Summary } from './stats.ts';

/** bench/: where results.json and handoff-results.json are written. */
export const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const resultsPath = join(benchDir, 'results.json');

/** The machine's 1, 5 and 15 minute load averages: other work on the 2 shared cores skews every time measured. */
export const loadAverage = (): number[] => loadavg().map((value) => round(value, 2));

export const fmt = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '-');
export const pad = (value: unknown, width: number): string => String(value).padStart(width);

/** The head and the rows of the bench's table of rates and latencies. */
export const tableHead = `${'phase'.padEnd(44)}${pad('count', 6)}${pad('seconds', 9)}${pad('per s', 9)}${pad('p50 ms', 9)}${pad('p95 ms', 9)}${pad('p99 ms', 9)}${pad('max ms', 9)}`;
export function tableRow(label: string, count: number, seconds: number | undefined, rate: number | undefined, s: Summary): string {
  const optional = (value: number | undefined, digits: number) => pad(value === undefined ? '' : fmt(value, digits), 9);
  return `${label.padEnd(44)}${pad(count, 6)}${optional(seconds, 2)}${optional(rate, 1)}${pad(fmt(s.p50), 9)}${pad(fmt(s.p95), 9)}${pad(fmt(s.p99), 9)}${pad(fmt(s.max), 9)}`;
}

export const cores = (use: CpuUse): string =>
  `node ${fmt(use.nodeCores, 2)} cores (event loop ${fmt(use.eventLoopUtilization * 100, 0)}% busy), java ${use.javaCores === null ? '?' : fmt(use.javaCores, 2)} cores`;

export const errorLines = (errors: readonly string[]): string =>
  errors.length === 0 ? 'errors: none' : `ERRORS (${errors.length}):\n${errors.map((error) => `  - ${error}`).join('\n')}`;

export function readJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
