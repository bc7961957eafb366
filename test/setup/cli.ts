/**
 * The `mql` command as an operator runs it: `node bin/mql.ts ...` in a child process, from a directory of
 * its own so no developer's .env is read.
 *
 *   const { code, stdout } = await runMql(['crm', 'setup'], { cwd, env });
 *   const { stdout } = await mqlOn(dataDir, ['deliveries', email]);   // rejects on a non-zero exit
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The CLI's entry point. */
export const mqlBin = fileURLToPath(new URL('../../bin/mql.ts', import.meta.url));

const run = promisify(execFile);

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mql ...args` from `cwd`; resolves with the exit code and the output, whatever the code. */
export async function runMql(args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(process.execPath, [mqlBin, ...args], {
      cwd: options.cwd,
      env: options.env,
      ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/**
 * `mql ...args --data-dir <dataDir>` from `dataDir` itself, against the persistent local stack recorded
 * there, with the test's environment (handler logs at WARN unless `env` says otherwise). Rejects on a
 * non-zero exit like execFile: the error carries `stdout` and `stderr`.
 */
export async function mqlOn(dataDir: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [mqlBin, ...args, '--data-dir', dataDir], { cwd: dataDir, env: { ...process.env, LOG_LEVEL: 'WARN', ...env } });
}

/** The test process's environment without the variables `strip` matches (CRM settings, secrets), plus `env`: the command sees only what the test gives it. */
export function environmentWithout(strip: RegExp, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !strip.test(key))), ...env };
}
