/** `mql export <email>`: everything stored about a person as one JSON document (docs/data-protection.md, "Exporting a person"). */
import { leadIdOf } from '../../lib/core/events.ts';
import { canonicalLeadId } from '../../lib/core/identity.ts';
import { defineCommand, fail, parseNow, pipeline } from '../cli.ts';

export const exportPerson = defineCommand({
  name: 'export',
  group: 'personal data',
  usage: [
    'export <email|leadId> [--now ISO]',
    '                      everything stored about a person as one JSON document on stdout: profile, score and reasons as',
    '                      explain shows them, events with their raw payloads while kept, outcomes, handoffs and attempts,',
    '                      the identities merged into the lead, CRM links, markers',
  ],
  options: { now: { type: 'string' } },
  stack: 'any',
  async run({ values, args }) {
    const asked = leadIdOf(args[0]);
    if (!asked) fail('export needs an e-mail address or a lead key: mql export dana@example.com');
    const { store, model } = await pipeline();
    const { exportPerson: exportOf } = await import('../../lib/jobs/export.ts');
    const document = await exportOf(store, model, canonicalLeadId(asked, model), parseNow(values.now));
    if (!document) fail(`nothing is stored about ${asked}`);
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  },
});
