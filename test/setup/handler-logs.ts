/**
 * The local stack runs the handlers in the test's own process: this keeps their JSON log lines
 * (Powertools writes INFO to stdout, WARN and ERROR to stderr) for the assertions, off the terminal.
 * Call it at the top of a test file; the array it returns holds the lines since the current test began.
 *
 *   const logLines = captureHandlerLogs();
 *   expect(logLines.some((line) => line.includes('"level":"ERROR"'))).toBe(true);
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { logger } from '../../lib/runtime/logger.ts';

export function captureHandlerLogs(level: Parameters<typeof logger.setLogLevel>[0] = 'WARN'): string[] {
  const lines: string[] = [];
  const restores: (() => void)[] = [];
  beforeAll(() => {
    // The handlers' logger may have been built by an import of the test file under the run's LOG_LEVEL=SILENT.
    logger.setLogLevel(level);
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream);
      restores.push(() => {
        stream.write = write;
      });
      stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        if (text.startsWith('{"level"')) {
          lines.push(text);
          return true;
        }
        return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
    }
  });
  afterAll(() => {
    for (const restore of restores.splice(0)) restore();
  });
  beforeEach(() => {
    lines.length = 0;
  });
  return lines;
}
