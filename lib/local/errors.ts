/**
 * A problem starting or running the local stack that the operator can fix (Java missing, port
 * taken, another stack running). `npm start` prints its message on one line, without a stack trace.
 */
export class LocalStackError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalStackError';
  }
}

export const javaRequiredMessage = 'Java 17+ is required to run DynamoDB Local: apt-get install -y openjdk-17-jre-headless';
