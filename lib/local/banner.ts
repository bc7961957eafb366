/**
 * What `npm start` prints once the local stack is up: where it runs, every route with the secrets it
 * needs and whether they are configured, the schedules. A function of its inputs, so the README's
 * sample output is checked against it (test/integration/docs-samples.test.ts).
 */
import type { WebhookSource } from '../sources/source.ts';
import { functions, routes, type SecretKey, schedules, sourceExportName } from '../topology.ts';

export interface BannerInput {
  readonly baseUrl: string;
  /** The data directory as shown (relative to the working directory when inside it). */
  readonly dataDir: string;
  readonly dynamoEndpoint: string;
  readonly tableName: string;
  readonly sqsEndpoint: string;
  /** The .env file as shown. */
  readonly envFile: string;
  readonly everySeconds?: number;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The secrets a route's source cannot do without (its route answers 404 without them), and the others its function reads. */
async function secretsOf(handler: keyof typeof functions): Promise<{ required: readonly SecretKey[]; optional: readonly SecretKey[] }> {
  const spec: { source?: string; secrets: readonly SecretKey[] } = functions[handler];
  if (spec.source === undefined) return { required: spec.secrets, optional: [] };
  const module = (await import(`../sources/${spec.source}.ts`)) as Record<string, WebhookSource<unknown>>;
  const required = module[sourceExportName(spec.source)]?.requiredSecrets ?? spec.secrets;
  return { required, optional: spec.secrets.filter((key) => !required.includes(key)) };
}

export async function stackBanner(input: BannerInput): Promise<string> {
  const configured = (key: SecretKey) => Boolean(input.env[key]);
  const width = Math.max(...routes.map((route) => `${input.baseUrl}${route.path}`.length));
  const lines = [
    '',
    `mql-engine local stack: ${input.baseUrl}`,
    `  data: ${input.dataDir} (DynamoDB Local ${input.dynamoEndpoint}, table ${input.tableName}; SQS ${input.sqsEndpoint})`,
    '',
    'Routes:',
  ];
  const methodWidth = Math.max(...routes.map((route) => route.method.length));
  for (const route of routes) {
    const { required, optional } = await secretsOf(route.handler);
    let note = '';
    if (route.auth === 'iam') note = 'no auth locally (IAM-authorized in AWS)';
    else if (required.length > 0) {
      const missing = required.filter((key) => !configured(key));
      note =
        missing.length === 0
          ? `needs ${required.join(' + ')}: configured`
          : `needs ${required.join(' + ')}: NOT configured (${missing.join(', ')} missing; the route answers 404)`;
      if (optional.length > 0) note += `; also reads ${optional.map((key) => `${key} (${configured(key) ? 'set' : 'not set'})`).join(', ')}`;
    }
    const url = `${input.baseUrl}${route.path}`;
    lines.push(`  ${route.method.padEnd(methodWidth)} ${note ? `${url.padEnd(width)}   ${note}` : url}`);
  }
  lines.push('');
  for (const schedule of schedules) {
    const every = input.everySeconds === undefined ? `${schedule.everyMinutes} min` : `${input.everySeconds} s`;
    lines.push(`Schedule: ${schedule.name} every ${every} (MQL_SCHEDULE_EVERY_SECONDS)`);
  }
  lines.push(`Secrets come from the environment or ${input.envFile}; values are never printed.`, 'Ctrl-C to stop.', '');
  return lines.join('\n');
}
