/**
 * `mql explain --account <domain>`: an account's score and every reason behind it (docs/accounts.md, "Explaining an
 * account"), as a table or as JSON; the same view GET /accounts/{domain} answers (lib/views/account-view.ts).
 */
import { textTable } from '../../lib/jobs/text-table.ts';
import type { AccountView } from '../../lib/views/account-view.ts';
import { fail, pipeline } from '../cli.ts';

/** Prints the account `asked` names, scored at `now`; stops with one line when it names none. */
export async function explainAccount(asked: string, options: { json: boolean; now: Date }): Promise<void> {
  const { accountAskOf, findAccountView, noAccountSection, notFoundDetail } = await import('../../lib/views/account-view.ts');
  const { model } = await pipeline();
  if (!model.account) fail(noAccountSection);
  const ask = accountAskOf(asked, model);
  if ('invalid' in ask) fail(`--account ${asked}: ${ask.invalid}`);
  if ('noAccount' in ask) fail(ask.noAccount);
  const { dynamo } = await import('../../lib/runtime/aws.ts');
  const { requireEnv } = await import('../../lib/runtime/config.ts');
  const { tableNameEnv } = await import('../../lib/topology.ts');
  const { AccountStore } = await import('../../lib/store/accounts.ts');
  const { StoreTable } = await import('../../lib/store/table.ts');
  const accounts = new AccountStore(new StoreTable({ client: dynamo(), tableName: requireEnv(tableNameEnv) }));
  const view = await findAccountView(accounts, model, ask.key, options.now);
  if (!view) fail(notFoundDetail(ask.key));
  process.stdout.write(options.json ? `${JSON.stringify(view, null, 2)}\n` : `${formatAccountExplanation(view)}\n`);
}

const yes = (value: boolean) => (value ? 'yes' : '');

/** An account's explanation as readable tables: the whole-point column adds up to the score. */
export function formatAccountExplanation(view: AccountView): string {
  const { score } = view;
  const identity = view.kind === 'group' ? `group account${view.domain ? ` (website ${view.domain})` : ''}` : 'domain account';
  const lines = [
    `${view.key}  ${identity}  status ${view.status}${view.mqaAt && view.status === 'mqa' ? ` (MQA since ${view.mqaAt})` : ''}`,
    `score ${score.total} = fit ${score.fit} + engagement ${score.engagement} + breadth ${score.breadth}   model ${score.modelVersion}   as of ${view.scoredAt}`,
    `thresholds: mqa ${score.threshold} with at least ${score.minMembers} engaged member(s), recycleBelow ${score.recycleBelow}`,
  ];
  if (view.storedStatus) lines.push(`stored status ${view.storedStatus}: the roll-up has not stored the change yet (it will, with its handoff)`);
  for (const sentence of view.missing) lines.push(`  ${sentence}`);
  if (view.recyclesAt) lines.push(`recycles at ${view.recyclesAt} unless its members engage again`);
  if (view.handoffsWaiting) lines.push(`${view.handoffsWaiting} account handoff(s) decided, not yet on the handoff queue`);
  const traits = Object.entries(view.traits).flatMap(([field, trait]) =>
    trait ? [`${field} ${String(trait.value)} (${trait.from === 'group' ? 'group call' : `${trait.members ?? 0} member(s)`})`] : [],
  );
  lines.push(`traits: ${traits.length > 0 ? traits.join(', ') : 'none known'}`);

  lines.push('');
  const rows = view.reasons.map((reason) => [
    reason.rule,
    reason.kind,
    String(reason.points),
    reason.pointsNow.toFixed(2),
    reason.kind === 'engagement' ? (reason.member ?? '') : reason.kind === 'breadth' ? (reason.members ?? []).join(', ') : reason.description,
  ]);
  const reasons = textTable(['rule', 'kind', 'points', 'exact', 'what / who'], rows, new Set([2, 3]));
  lines.push(...reasons.lines);
  if (rows.length === 0) lines.push('(no reasons: nothing scored yet)');
  else lines.push(reasons.render(['total', '', String(score.total), '', 'the points column adds up to the score']));

  lines.push('', `members (${view.members.length}, most engagement first; engaged: at least the breadth floor of behavior points):`);
  const memberRows = view.members.map((member) => [
    member.leadId,
    member.status,
    String(member.score.total),
    String(member.score.behavior),
    String(member.engagement),
    yes(member.counted),
    yes(member.engaged),
    member.role ?? '',
    [member.cut > 0 ? `member cap cut ${member.cut}` : '', member.disqualified ? 'disqualified: brings nothing' : '', member.jobTitle ?? '']
      .filter(Boolean)
      .join('; '),
  ]);
  if (memberRows.length === 0) lines.push('  (none: every member left the account)');
  else
    lines.push(
      ...textTable(['member', 'status', 'score', 'behavior', 'engagement', 'counted', 'engaged', 'role', 'notes'], memberRows, new Set([2, 3, 4])).lines.map(
        (line) => `  ${line}`,
      ),
    );
  return lines.join('\n');
}
