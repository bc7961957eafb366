/**
 * Imported first by every entry point of the bench, for its side effect: the handlers run in this
 * process, and the shared logger (lib/runtime/logger.ts) reads LOG_LEVEL once, when a module first
 * imports it. Set here, before any import loads it, their log lines stay out of the figures
 * (BENCH_LOG_LEVEL, default ERROR).
 */
process.env.LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'ERROR';
