/**
 * `mql erase <email>`: everything stored about a person removed, a tombstone left per identity
 * (docs/data-protection.md, "Erasing a person"). Asks first on a terminal; `--yes` for scripts.
 */
import { createInterface } from 'node:readline/promises';
import { leadIdOf } from '../../lib/core/events.ts';
import { canonicalLeadId } from '../../lib/core/identity.ts';
import { hasPseudonymKey, pseudonymKeyReady } from '../../lib/runtime/pseudonym.ts';
import { erasedPeopleReturnFromEnv } from '../../lib/store/tombstones.ts';
import { defineCommand, fail, pipeline } from '../cli.ts';

export const erase = defineCommand({
  name: 'erase',
  group: 'personal data',
  usage: [
    'erase <email|leadId> [--yes]',
    '                      remove everything stored about a person and the identities merged into it (lead, events, raw',
    '                      payloads, handoffs, attempts, CRM links, markers), leave a tombstone so a provider redelivering',
    '                      an old event does not bring them back, print the counts; asks first unless --yes',
  ],
  options: { yes: { type: 'boolean' } },
  stack: 'any',
  async run({ values, args }) {
    const asked = leadIdOf(args[0]);
    if (!asked) fail('erase needs an e-mail address or a lead key: mql erase dana@example.com');
    let returns: ReturnType<typeof erasedPeopleReturnFromEnv>;
    try {
      returns = erasedPeopleReturnFromEnv(process.env);
    } catch (error) {
      fail((error as Error).message);
    }
    await pseudonymKeyReady();
    if (!hasPseudonymKey()) {
      fail(
        "PSEUDONYM_KEY is not set: erase keys its tombstones with it (locally <data dir>/pseudonym-key, made by npm start; in AWS the stack secret's PSEUDONYM_KEY): docs/data-protection.md",
      );
    }
    if (!values.yes && process.stdin.isTTY !== true) {
      fail('erase removes a person for good and asks first, but stdin is not a terminal: pass --yes to confirm (mql erase <email> --yes)');
    }
    const { store, model } = await pipeline();
    const leadId = canonicalLeadId(asked, model);
    const { erasurePlan, formatErasure, formatPlan } = await import('../../lib/jobs/erase.ts');
    if (!values.yes) {
      process.stdout.write(`${formatPlan(await erasurePlan(store, leadId))}\n`);
      const prompt = createInterface({ input: process.stdin, output: process.stdout });
      const answer = await prompt.question('erase it all? [y/N] ');
      prompt.close();
      if (!/^y(es)?$/i.test(answer.trim())) {
        process.stdout.write('nothing erased\n');
        process.exitCode = 1;
        return;
      }
    }
    const result = await store.erasePerson(leadId, { now: new Date(), returns });
    process.stdout.write(`${formatErasure(result)}\n`);
  },
});
