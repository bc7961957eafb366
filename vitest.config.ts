import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Three projects (`vitest run --project unit`, `npm run test:unit`, ...):
 * - unit: pure functions, no servers; runs in seconds, without Java.
 * - integration: the embedded local stack, the stand-ins and the `mql` CLI on one in-memory DynamoDB
 *   Local for the whole run (the globalSetup; tests read its endpoint with inject('dynamoEndpoint') and
 *   each makes its own table).
 * - cdk: the CDK stack's template, and one real esbuild bundle.
 */
export default defineConfig({
  test: {
    reporters: ['default', './test/setup/summary-reporter.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Handlers log JSON lines; the tests assert on behaviour, so keep the output readable.
    env: { LOG_LEVEL: 'SILENT' },
    // Two test files per core: an integration file mostly waits (retry delays, the poller, the CRM
    // stand-ins), so vitest's default (cores - 1: one file at a time on 2 cores) leaves the machine idle.
    // At most 8: they share one DynamoDB Local.
    maxWorkers: Math.min(8, 2 * availableParallelism()),
    // Not threads: a local stack sets process.env for its handlers, one stack per process.
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        // table-grants: every DynamoDB call a handler makes is checked against its function's grant (lib/topology.ts).
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/setup/dynamodb.ts'],
          setupFiles: ['test/setup/table-grants.ts'],
        },
      },
      { extends: true, test: { name: 'cdk', include: ['test/cdk/**/*.test.ts'] } },
    ],
  },
});
