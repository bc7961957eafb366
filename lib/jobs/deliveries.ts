/**
 * `mql deliveries <email|leadId>`: each handoff of a lead and every delivery attempt still kept
 * (time, adapter, CRM status, outcome, error, CRM id). A handoff set aside unsent because a newer one of
 * the lead was delivered first shows `superseded by <id>`.
 */
import type { HandoffAttempt, HandoffAttemptRecord, HandoffLedger, LeadReads } from '../store/repository.ts';

export interface LeadDeliveries {
  leadId: string;
  handoffs: (HandoffAttempt & { attemptLog: HandoffAttemptRecord[] })[];
}

export async function loadDeliveries(store: LeadReads & HandoffLedger, leadId: string): Promise<LeadDeliveries> {
  const [handoffs, attempts] = await Promise.all([store.listHandoffs(leadId), store.listHandoffAttempts(leadId)]);
  return {
    leadId,
    handoffs: handoffs.map((handoff) => ({
      ...handoff,
      attemptLog: attempts.filter((attempt) => attempt.handoffId === handoff.id).sort((a, b) => a.at.localeCompare(b.at)),
    })),
  };
}

export function formatDeliveries(deliveries: LeadDeliveries): string {
  if (deliveries.handoffs.length === 0) return `${deliveries.leadId}: no handoffs (the lead never became an MQL, or nothing has been sent yet)`;
  const lines = [`${deliveries.leadId}: ${deliveries.handoffs.length} handoff(s)`];
  for (const handoff of deliveries.handoffs) {
    lines.push(
      '',
      `${handoff.occurredAt}  ${handoff.type}  ${handoff.status}${handoff.deliveredAt ? ` at ${handoff.deliveredAt}` : ''}${handoff.supersededBy ? ` by ${handoff.supersededBy} (delivered first; this one was not sent)` : ''}  attempts ${handoff.attempts}${handoff.adapter ? `  via ${handoff.adapter}` : ''}${handoff.externalId ? `  CRM id ${handoff.externalId}` : ''}  (${handoff.id})`,
    );
    const rows = handoff.attemptLog.map((attempt) => [
      attempt.at,
      attempt.adapter,
      attempt.crmStatus === undefined ? '-' : String(attempt.crmStatus),
      attempt.outcome === 'delivered' ? 'delivered' : `failed${attempt.kind ? ` (${attempt.kind})` : ''}`,
      attempt.externalId ?? '',
      attempt.error ?? attempt.note ?? '',
    ]);
    if (rows.length === 0 && handoff.status === 'superseded') continue;
    if (rows.length === 0) {
      lines.push(`  (no attempt items kept${handoff.lastError ? `; last error: ${handoff.lastError}` : ''})`);
      continue;
    }
    const header = ['time', 'adapter', 'crm', 'outcome', 'crm id', 'error / note'];
    const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
    const render = (row: string[]) => `  ${row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')}`.trimEnd();
    lines.push(render(header), ...rows.map(render));
  }
  return lines.join('\n');
}
