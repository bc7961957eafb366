/**
 * vitest globalSetup: ONE in-memory DynamoDB Local for the whole run (the JVM takes seconds to
 * start; tables are cheap). Tests read the endpoint with `inject('dynamoEndpoint')` and create
 * their own uniquely named table (see test/setup/stack.ts). Stopped at teardown; the Java
 * process is also killed if vitest exits any other way.
 */
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../lib/local/dynamodb.ts';
import { LocalStackError } from '../../lib/local/errors.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let dynamo: Awaited<ReturnType<typeof startDynamoDbLocal>>;
  try {
    dynamo = await startDynamoDbLocal({});
  } catch (error) {
    // A missing Java is an environment problem: say so in one line, not a stack trace.
    if (error instanceof LocalStackError) throw new Error(error.message);
    throw error;
  }
  project.provide('dynamoEndpoint', dynamo.endpoint);
  return async () => {
    await dynamo.stop();
  };
}
