/**
 * Exactly once: after the handoff phases, let everything settle (queues empty, a poll cycle more), then
 * count what the CRM receiver accepted: one lead.mql for each qualified lead, nothing else, no
 * webhook-id twice, no score under the threshold, nothing refused, an empty dead-letter queue.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { BenchContext } from '../context.ts';
import { handoffEmails } from './handoff-latency.ts';

export interface Verification {
  expected: number;
  receivedLeadMql: number;
  duplicates: { email: string; count: number }[];
  duplicateWebhookIds: number;
  misses: string[];
  unexpected: string[];
  scoresBelowThreshold: number;
  /** Requests the receiver did not accept (a signature that does not verify, a body that is not a handoff record). */
  rejectedByReceiver: { webhookId: string | undefined; status: number; reason?: string }[];
  queues: Record<string, string | undefined>;
}

const countBy = <T>(items: readonly T[], key: (item: T) => string): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
};

export async function verifyExactlyOnce(ctx: BenchContext): Promise<Verification> {
  const { crm, stack, errors } = ctx;
  try {
    await stack.drain({ timeoutMs: ctx.params.handoffTimeoutSeconds * 1000 });
  } catch (error) {
    errors.push(`drain: ${(error as Error).message}`);
  }
  await sleep(1500);
  const expected = new Set([...handoffEmails(ctx, 'seq'), ...handoffEmails(ctx, 'burst')]);
  const mqlCount = countBy(
    crm.received.filter((arrival) => arrival.record.type === 'lead.mql'),
    (arrival) => arrival.leadId,
  );
  const webhookIds = countBy(crm.received, (arrival) => arrival.webhookId);
  const verification: Verification = {
    expected: expected.size,
    receivedLeadMql: [...mqlCount.keys()].filter((email) => expected.has(email)).length,
    duplicates: [...mqlCount.entries()].filter(([email, count]) => expected.has(email) && count > 1).map(([email, count]) => ({ email, count })),
    duplicateWebhookIds: [...webhookIds.values()].filter((count) => count > 1).length,
    misses: [...expected].filter((email) => !mqlCount.has(email)),
    unexpected: crm.received
      .filter((arrival) => !expected.has(arrival.leadId) || arrival.record.type !== 'lead.mql')
      .map((arrival) => `${arrival.record.type} ${arrival.leadId}`),
    scoresBelowThreshold: crm.received.filter((arrival) => arrival.record.type === 'lead.mql' && arrival.record.score.total < 60).length,
    rejectedByReceiver: crm.attempts.filter((attempt) => attempt.status >= 300),
    queues: {},
  };
  for (const [name, url] of [
    ['handoff', stack.queueUrls.handoff],
    ['handoff-dlq', stack.dlqUrls.handoff],
  ] as const) {
    const attributes = await stack.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    verification.queues[name] =
      `${attributes.Attributes?.ApproximateNumberOfMessages ?? '?'} visible, ${attributes.Attributes?.ApproximateNumberOfMessagesNotVisible ?? '?'} in flight`;
    if (name === 'handoff-dlq' && attributes.Attributes?.ApproximateNumberOfMessages !== '0')
      errors.push(`the handoff DLQ holds ${attributes.Attributes?.ApproximateNumberOfMessages} message(s)`);
  }
  if (verification.duplicates.length > 0)
    errors.push(
      `duplicate lead.mql for ${verification.duplicates.length} lead(s): ${verification.duplicates
        .slice(0, 3)
        .map((d) => `${d.email} × ${d.count}`)
        .join(', ')}`,
    );
  if (verification.duplicateWebhookIds > 0) errors.push(`${verification.duplicateWebhookIds} webhook-id(s) delivered more than once`);
  if (verification.misses.length > 0) errors.push(`no lead.mql for ${verification.misses.length} lead(s), e.g. ${verification.misses[0]}`);
  if (verification.unexpected.length > 0) errors.push(`${verification.unexpected.length} unexpected handoff(s), e.g. ${verification.unexpected[0]}`);
  if (verification.scoresBelowThreshold > 0) errors.push(`${verification.scoresBelowThreshold} lead.mql record(s) under the 60-point threshold`);
  if (verification.rejectedByReceiver.length > 0)
    errors.push(`the CRM receiver refused ${verification.rejectedByReceiver.length} request(s): ${verification.rejectedByReceiver[0]?.reason}`);
  return verification;
}

export const verificationLines = (v: Verification): string[] => [
  `8. verification: ${v.receivedLeadMql}/${v.expected} leads got lead.mql; duplicates ${v.duplicates.length}, misses ${v.misses.length}, unexpected ${v.unexpected.length}, refused ${v.rejectedByReceiver.length}; queues ${Object.entries(
    v.queues,
  )
    .map(([q, s]) => `${q}: ${s}`)
    .join('; ')}`,
];
