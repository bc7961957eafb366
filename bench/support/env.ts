/** The BENCH_* knobs. */

/** A positive integer from `env[name]`, or `fallback` when unset or empty; anything else is refused. */
export function envInt(name: string, fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return parsed;
}
