/** `mql receive`: a local CRM webhook endpoint that verifies each handoff's signature and prints it, until Ctrl-C. */
import type { ReceivedAccountHandoff, ReceivedHandoff } from '../../lib/local/stand-ins/crm-receiver.ts';
import { defineCommand, fail, parsePort } from '../cli.ts';

export const receiveDefaultPort = 4000;

export const receive = defineCommand({
  name: 'receive',
  group: 'try it on this machine',
  usage: [`receive [--port N]    a local CRM webhook receiver (default port ${receiveDefaultPort}): verifies CRM_WEBHOOK_SECRET, prints each handoff`],
  options: { port: { type: 'string' } },
  stack: 'none',
  async run({ values }) {
    const port = parsePort(values.port, receiveDefaultPort);
    const secret = process.env.CRM_WEBHOOK_SECRET;
    if (!secret) fail('receive needs CRM_WEBHOOK_SECRET (in .env or the environment), the secret the pipeline signs with');
    const { portIsFree } = await import('../../lib/local/listen.ts');
    if (port !== 0 && !(await portIsFree(port))) fail(portTaken(port));
    const { startCrmReceiver } = await import('../../lib/local/stand-ins/crm-receiver.ts');
    const receiver = await startCrmReceiver(secret, {
      port,
      onReceive: (handoff) => process.stdout.write(`${formatReceived(handoff)}\n`),
      onAccount: (handoff) => process.stdout.write(`${formatReceivedAccount(handoff)}\n`),
    }).catch((error: unknown) => {
      // Taken between the probe and the listen.
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') fail(portTaken(port));
      throw error;
    });
    process.stdout.write(`CRM receiver on ${receiver.url} (set CRM_ADAPTER=webhook and CRM_WEBHOOK_URL=${receiver.url}); Ctrl-C stops it\n`);
    await new Promise<void>((resolveStop) => process.once('SIGINT', () => resolveStop()));
    await receiver.close();
  },
});

/** What to do about a taken port, on one line. */
export function portTaken(port: number): string {
  return `port ${port} is taken (EADDRINUSE): stop what listens there (another mql receive, or a demo), or pass --port N (0 for any free one) and set CRM_WEBHOOK_URL to the URL it prints`;
}

/** One handoff as received: time, type, lead, score, webhook id, then its reasons. */
export function formatReceived({ webhookId, record }: ReceivedHandoff): string {
  const reasons = record.reasons.map((reason) => `${reason.rule} ${reason.pointsNow}`).join(', ');
  return `${record.occurredAt}  ${record.type}  ${record.lead.email ?? record.leadId}  score ${record.score.total} (fit ${record.score.fit} + behavior ${record.score.behavior}, threshold ${record.score.threshold})  webhook-id ${webhookId}\n    reasons: ${reasons}`;
}

/**
 * One account handoff as received: time, type, account, score against its thresholds, webhook id, then one
 * line per member (most engaged first: its status, own score, the engagement it gives, its role) and the reasons.
 */
export function formatReceivedAccount({ webhookId, record }: ReceivedAccountHandoff): string {
  const { score } = record;
  const name = record.account?.name ? ` (${record.account.name})` : '';
  const lines = [
    `${record.occurredAt}  ${record.type}  account ${record.accountKey}${name}  score ${score.total} (fit ${score.fit} + engagement ${score.engagement} + breadth ${score.breadth}, MQA at ${score.threshold}, recycled below ${score.recycleBelow})  ${score.engagedMembers} engaged member(s)  webhook-id ${webhookId}`,
  ];
  for (const member of record.members) {
    const role = member.role ? `  role ${member.role}` : '';
    lines.push(
      `    member ${member.leadId}  ${member.status}  score ${member.score.total}  engagement ${member.engagement}${member.counted ? '' : ' (not counted)'}${role}`,
    );
  }
  lines.push(`    reasons: ${record.reasons.map((reason) => `${reason.rule}${reason.member ? ` (${reason.member})` : ''} ${reason.points}`).join(', ')}`);
  if (record.missing.length > 0) lines.push(`    missing: ${record.missing.join('; ')}`);
  return lines.join('\n');
}
