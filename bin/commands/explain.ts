/** `mql explain <email>`: a lead's score and every reason behind it, as a table or as JSON; `--account <domain>`: an account's (explain-account.ts). */
import { leadIdOf } from '../../lib/core/events.ts';
import { isTestLeadId } from '../../lib/core/identity.ts';
import { textTable } from '../../lib/jobs/text-table.ts';
import type { LeadView } from '../../lib/views/lead-view.ts';
import { outcomeLine } from '../../lib/views/lead-view.ts';
import { defineCommand, fail, parseNow, pipeline } from '../cli.ts';

export const explain = defineCommand({
  name: 'explain',
  group: 'look at a lead',
  usage: [
    "explain <email>       print a lead's score and every reason behind it  [--json] [--now ISO]",
    'explain --account <domain|group:groupId> [--json] [--now ISO]',
    "                      an account's score from its members: each one's contribution and role, what is missing",
  ],
  options: { json: { type: 'boolean' }, now: { type: 'string' }, account: { type: 'string' } },
  stack: 'any',
  async run({ values, args }) {
    if (values.account !== undefined) {
      if (args.length > 0) fail('explain takes an e-mail address or --account <domain>, not both');
      const { explainAccount } = await import('./explain-account.ts');
      await explainAccount(values.account, { json: values.json, now: parseNow(values.now) });
      return;
    }
    const asked = leadIdOf(args[0]);
    if (!asked)
      fail(
        'explain needs an e-mail address (or a lead key such as phone:+14155550123): mql explain dana@example.com, or an account: mql explain --account acme.com',
      );
    const { findLeadView } = await import('../../lib/views/lead-view.ts');
    const { store, model } = await pipeline();
    const view = await findLeadView(store, model, asked, parseNow(values.now));
    if (!view) fail(`no lead ${asked}`);
    process.stdout.write(values.json ? `${JSON.stringify(view, null, 2)}\n` : `${formatExplanation(view)}\n`);
  },
});

/** How a cap shows in the notes column: "cap 15 reached (-3.2)", "group seniority max 15 reached (-10)". */
function capNote(cap: NonNullable<LeadView['reasons'][number]['caps']>[number]): string {
  const what = cap.by === 'rule' ? `cap ${Math.abs(cap.limit)}` : `group ${cap.name} ${cap.cut >= 0 ? 'max' : 'min'} ${cap.limit}`;
  return `${what} reached (${cap.cut >= 0 ? '-' : '+'}${Math.abs(cap.cut)})`;
}

/** A lead's explanation as a readable table: the whole-point column adds up to the score. */
export function formatExplanation(view: LeadView): string {
  const { score } = view;
  const lines = [
    `${view.leadId}  status ${view.status}${view.mqlAt ? ` (MQL since ${view.mqlAt})` : ''}`,
    `score ${score.total} = fit ${score.fit} + behavior ${score.behavior}   model ${score.modelVersion}   as of ${view.scoredAt}`,
  ];
  if (isTestLeadId(view.leadId)) lines.push("test data (the provider's test button): scored like any lead, never handed off to the CRM");
  if (view.thresholds) {
    const { mql, minFit, minBehavior, recycleBelow } = view.thresholds;
    lines.push(`thresholds: mql ${mql}, minFit ${minFit}, minBehavior ${minBehavior}, recycleBelow ${recycleBelow}`);
  } else lines.push(`threshold ${score.threshold}`);
  for (const sentence of view.summary ?? []) lines.push(`  ${sentence}`);
  if (!view.summary && view.recyclesAt) lines.push(`recycles at ${view.recyclesAt} unless it engages again`);
  if (view.outcome) lines.push(outcomeLine(view.outcome));
  lines.push('');
  const header = ['rule', 'kind', 'points', 'exact', 'raw', 'decayed', 'count', 'last seen', 'notes'];
  const rows = view.reasons.map((reason) => [
    reason.rule,
    reason.kind,
    String(reason.points ?? Math.round(reason.pointsNow)),
    reason.pointsNow.toFixed(2),
    String(reason.rawPoints),
    reason.decayedPoints === undefined ? '' : reason.decayedPoints.toFixed(2),
    String(reason.count),
    reason.lastSeen ?? '',
    [
      ...(reason.caps ?? []).map(capNote),
      ...(reason.kind === 'behavior'
        ? [reason.halfLifeDays === null ? 'never decays' : reason.halfLifeDays === undefined ? '' : `half-life ${reason.halfLifeDays} d`]
        : []),
      ...(reason.group && !(reason.caps ?? []).some((cap) => cap.by === 'group') ? [`group ${reason.group}`] : []),
    ]
      .filter(Boolean)
      .join('; '),
  ]);
  const { lines: table, widths, render } = textTable(header, rows, new Set([2, 3, 4, 5, 6]));
  lines.push(...table);
  if (rows.length === 0) lines.push('(no reasons: nothing scored yet)');
  else lines.push(render(['total', '', String(score.total), '', '', '', '', '', 'the points column adds up to the score']));
  const withEvents = view.reasons.filter((reason) => reason.events?.length);
  if (withEvents.length > 0) {
    lines.push('', 'events behind the behavior rules (latest few the lead keeps):');
    for (const reason of withEvents) {
      for (const event of reason.events!) {
        const properties = Object.entries(event.properties)
          .map(([key, value]) => `${key}=${String(value)}`)
          .join(' ');
        const anonymous = event.anonymous ? '  (anonymous visit, before they identified)' : '';
        lines.push(
          `  ${reason.rule.padEnd(widths[0]!)}  ${event.occurredAt}  ${event.type} via ${event.source}${properties ? `  ${properties}` : ''}${anonymous}`,
        );
      }
    }
  }
  if (view.handoffs.length > 0) {
    lines.push('', 'handoffs:');
    for (const handoff of view.handoffs) {
      lines.push(
        `  ${handoff.occurredAt}  ${handoff.type}  ${handoff.status}${handoff.supersededBy ? ` by ${handoff.supersededBy} (not sent)` : ''}  attempts ${handoff.attempts}${handoff.crmStatus ? `  crm ${handoff.crmStatus}` : ''}${handoff.lastError && handoff.status === 'failed' ? `  last error: ${handoff.lastError}` : ''}`,
      );
    }
  }
  return lines.join('\n');
}
