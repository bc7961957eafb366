/** `mql redrive`: a dead-letter queue's messages moved back to their queue once the cause is fixed. */
import { dlqUrlEnv, queueUrlEnv } from '../../lib/topology.ts';
import { defineCommand, fail } from '../cli.ts';

export const redrive = defineCommand({
  name: 'redrive',
  group: 'jobs',
  usage: [
    'redrive [--queue handoff|facebook-leads|linkedin-leads|account-rollup] [--dry-run]',
    "                      move the dead-letter queue's messages back to their queue (default handoff) once the cause is",
    '                      fixed; prints the count first, then progress; --dry-run prints the count and the errors only',
  ],
  options: { queue: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  stack: 'any',
  // The queues' URLs are all it needs (HANDOFF_QUEUE_URL and HANDOFF_DLQ_URL with --aws).
  awsNeedsTable: false,
  async run({ values }) {
    const { queues } = await import('../../lib/topology.ts');
    const name = values.queue ?? 'handoff';
    const spec = queues.find((queue) => queue.name === name) ?? fail(`--queue must be one of ${queues.map((queue) => queue.name).join(', ')} (got ${name})`);
    const from = process.env[dlqUrlEnv(spec.name)];
    const to = process.env[queueUrlEnv(spec.name)];
    if (!from || !to) fail(`redrive needs ${queueUrlEnv(spec.name)} and ${dlqUrlEnv(spec.name)} (the stack's ${spec.name} QueueUrl and DlqUrl outputs)`);
    const { sqs } = await import('../../lib/runtime/aws.ts');
    const { peekDeadLetters, progressBar, queueDepth, redrive: moveBack } = await import('../../lib/jobs/redrive.ts');
    const client = sqs();
    const count = await queueDepth(client, from);
    process.stdout.write(`${count} message(s) in the ${spec.name} dead-letter queue\n`);
    if (values['dry-run']) {
      for (const message of await peekDeadLetters(client, from))
        process.stdout.write(`  ${message.messageId}  ${message.error ?? '(no error attribute: dead-lettered by SQS after maxReceiveCount receives)'}\n`);
      process.stdout.write('dry run: nothing moved\n');
      return;
    }
    if (count === 0) return;
    const tty = process.stdout.isTTY === true;
    let lastLine = 0;
    const result = await moveBack({
      sqs: client,
      from,
      to,
      onProgress: (moved, total) => {
        if (tty) process.stdout.write(`\r${progressBar(moved, total)}\x1b[K`);
        else if (moved - lastLine >= Math.max(10, Math.ceil(total / 10)) || moved >= total) {
          lastLine = moved;
          process.stdout.write(`moved ${moved}/${total}\n`);
        }
      },
    });
    if (tty) process.stdout.write('\n');
    process.stdout.write(
      `moved ${result.moved} message(s) back to ${spec.name}${result.failed.length ? `; ${result.failed.length} could not be sent and stay on the DLQ (${result.failed[0]!.reason})` : ''}\n`,
    );
    if (result.failed.length > 0) process.exitCode = 1;
  },
});
