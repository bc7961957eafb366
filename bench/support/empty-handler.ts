/**
 * The baseline of the cold-start phase (bench/phases/bundles.ts): a handler that imports nothing, bundled by
 * the same construct as every function (cdk/constructs/mql-function.ts), so what its import costs (the
 * require shim, reading and compiling a file, the source map) is subtracted from each function's.
 */
export async function handler(): Promise<Record<string, never>> {
  return {};
}
