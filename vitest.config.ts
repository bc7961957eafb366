import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One in-memory DynamoDB Local for the whole run; tests read its endpoint with inject('dynamoEndpoint').
    globalSetup: ['test/setup/dynamodb.ts'],
    reporters: ['default', './test/setup/summary-reporter.ts'],
    testTimeout: 30_000,
    // Handlers log JSON lines; the tests assert on behaviour, so keep the output readable.
    env: { LOG_LEVEL: 'SILENT' },
    hookTimeout: 60_000,
  },
});
