/**
 * The CloudWatch Logs lines an invocation costs besides what its handler writes: Lambda's own START, END
 * and REPORT lines (text format, with the X-Ray line active tracing adds), and for an API Gateway request
 * the HTTP API's access log line in the format cdk/constructs/mql-engine.ts sets. Each is rendered with
 * the invocation's values and measured in bytes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InvocationUse } from './cost-meter.ts';

const requestId = '8f5e0b8e-1f2b-4f5e-9b0a-1f2b3c4d5e6f';

/** Lambda's platform lines of one invocation. */
export function platformLines(use: Pick<InvocationUse, 'ms' | 'memoryMb'>): string {
  return [
    `START RequestId: ${requestId} Version: $LATEST\n`,
    `END RequestId: ${requestId}\n`,
    `REPORT RequestId: ${requestId}\tDuration: ${use.ms.toFixed(2)} ms\tBilled Duration: ${Math.ceil(use.ms)} ms\tMemory Size: ${use.memoryMb} MB\tMax Memory Used: 112 MB\t\n`,
    'XRAY TraceId: 1-6755a1b2-0123456789abcdef01234567\tSegmentId: 0123456789abcdef\tSampled: true\t\n',
  ].join('');
}

/** The access log format of the stack's HTTP API stage: field name -> `$context` variable. */
export function accessLogFormat(
  source = readFileSync(join(import.meta.dirname, '..', '..', 'cdk', 'constructs', 'mql-engine.ts'), 'utf8'),
): Record<string, string> {
  const block = /accessLogSettings:[\s\S]*?JSON\.stringify\(\{([\s\S]*?)\}\)/.exec(source)?.[1];
  const fields = [...(block ?? '').matchAll(/(\w+):\s*'(\$context\.[\w.]+)'/g)].map((match) => [match[1]!, match[2]!] as const);
  if (fields.length === 0) throw new Error('no access log format found in cdk/constructs/mql-engine.ts');
  return Object.fromEntries(fields);
}

/** One access log line for an API Gateway invocation, with its own values where the meter has them. */
export function accessLogLine(http: NonNullable<InvocationUse['http']>, ms: number, format: Record<string, string>): string {
  const values: Record<string, string> = {
    '$context.requestId': 'Cx3aHiZ6IAMEVbQ=',
    '$context.requestTime': '06/Dec/2026:22:39:12 +0000',
    '$context.routeKey': http.routeKey,
    '$context.status': String(http.status),
    '$context.identity.sourceIp': '203.0.113.10',
    '$context.identity.userAgent': http.userAgent,
    '$context.identity.caller': '-',
    '$context.responseLength': String(http.responseBytes),
    '$context.responseLatency': String(Math.ceil(ms) + 3),
    '$context.integrationStatus': String(http.status),
    '$context.integrationLatency': String(Math.ceil(ms)),
    '$context.error.message': '-',
    '$context.integrationErrorMessage': '-',
  };
  return `${JSON.stringify(Object.fromEntries(Object.entries(format).map(([name, variable]) => [name, values[variable] ?? '-'])))}\n`;
}

/** Bytes CloudWatch Logs ingests for an invocation: what the handler wrote, Lambda's lines, the access log line. */
export function loggedBytes(use: InvocationUse, format: Record<string, string>): number {
  return use.logBytes + Buffer.byteLength(platformLines(use)) + (use.http ? Buffer.byteLength(accessLogLine(use.http, use.ms, format)) : 0);
}
