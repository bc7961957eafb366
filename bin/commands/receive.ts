/** `mql receive`: a local CRM webhook endpoint that verifies each handoff's signature and prints it, until Ctrl-C. */
import type { ReceivedHandoff } from '../../lib/local/stand-ins/crm-receiver.ts';
import { defineCommand, fail } from '../cli.ts';

export const receiveDefaultPort = 4000;

export const receive = defineCommand({
  name: 'receive',
  group: 'try it on this machine',
  usage: [`receive [--port N]    a local CRM webhook receiver (default port ${receiveDefaultPort}): verifies CRM_WEBHOOK_SECRET, prints each handoff`],
  options: { port: { type: 'string' } },
  stack: 'none',
  async run({ values }) {
    const port = Number(values.port ?? receiveDefaultPort);
    const secret = process.env.CRM_WEBHOOK_SECRET;
    if (!secret) fail('receive needs CRM_WEBHOOK_SECRET (in .env or the environment), the secret the pipeline signs with');
    const { startCrmReceiver } = await import('../../lib/local/stand-ins/crm-receiver.ts');
    const receiver = await startCrmReceiver(secret, { port, onReceive: (handoff) => process.stdout.write(`${formatReceived(handoff)}\n`) });
    process.stdout.write(`CRM receiver on ${receiver.url} (set CRM_ADAPTER=webhook and CRM_WEBHOOK_URL=${receiver.url}); Ctrl-C stops it\n`);
    await new Promise<void>((resolveStop) => process.once('SIGINT', () => resolveStop()));
    await receiver.close();
  },
});

/** One handoff as received: time, type, lead, score, webhook id, then its reasons. */
export function formatReceived({ webhookId, record }: ReceivedHandoff): string {
  const reasons = record.reasons.map((reason) => `${reason.rule} ${reason.pointsNow}`).join(', ');
  return `${record.occurredAt}  ${record.type}  ${record.lead.email ?? record.leadId}  score ${record.score.total} (fit ${record.score.fit} + behavior ${record.score.behavior}, threshold ${record.score.threshold})  webhook-id ${webhookId}\n    reasons: ${reasons}`;
}
