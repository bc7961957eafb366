/**
 * `npm run bench:rescore [leads]` (default 3,000): rescore and backtest throughput on the embedded local
 * stack, in memory (phases/rescore.ts).
 */
import './support/log-level.ts';
import { benchStack } from './context.ts';
import { rescoreBench } from './phases/rescore.ts';

const leads = Number(process.argv[2] ?? 3000);
if (!Number.isInteger(leads) || leads <= 0) throw new Error(`the number of leads must be a positive integer, got ${JSON.stringify(process.argv[2])}`);
const stack = await benchStack({ CRM_ADAPTER: 'none', LOG_LEVEL: 'SILENT' });
try {
  await rescoreBench(stack, leads, (line) => process.stdout.write(`${line}\n`));
} finally {
  await stack.stop();
}
