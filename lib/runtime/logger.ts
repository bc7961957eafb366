import { Logger } from '@aws-lambda-powertools/logger';

/** One structured logger for every function; secrets and raw payloads are never passed to it. */
export const logger = new Logger({
  serviceName: 'mql-engine',
  logLevel: (process.env.LOG_LEVEL as 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' | undefined) ?? 'INFO',
});
