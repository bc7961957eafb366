import { Logger } from '@aws-lambda-powertools/logger';
import { pseudonymized } from './pseudonym.ts';

/** Attributes Powertools and Lambda set, which hold no personal data and stay as they are. */
const untouched = new Set(['timestamp', 'level', 'service', 'sampling_rate', 'xray_trace_id', 'function_arn', 'function_request_id', 'function_name']);

/**
 * One structured logger for every function. Secrets and raw payloads are never passed to it, and
 * every string it writes (messages, attributes, error messages and stacks, at every level) has its
 * e-mail addresses and phone numbers replaced by lead references (lib/runtime/pseudonym.ts): call
 * sites log lead references already; this keeps a quoted provider answer or an exception's text from
 * carrying a person into the logs (docs/data-protection.md).
 */
export const logger = new Logger({
  serviceName: 'mql-engine',
  logLevel: (process.env.LOG_LEVEL as 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' | undefined) ?? 'INFO',
  jsonReplacerFn: (name, value) => (typeof value === 'string' && !untouched.has(name) ? pseudonymized(value) : value),
});
