/** `mql deliveries <email|leadId>`: each handoff of a lead to the CRM and every attempt. */
import { leadIdOf } from '../../lib/core/events.ts';
import { defineCommand, fail, pipeline } from '../cli.ts';

export const deliveries = defineCommand({
  name: 'deliveries',
  group: 'look at a lead',
  usage: [
    'deliveries <email|leadId> [--json]',
    '                      each handoff of the lead to the CRM and every attempt: time, adapter, CRM status, outcome, error, CRM id',
  ],
  options: { json: { type: 'boolean' } },
  stack: 'any',
  async run({ values, args }) {
    const asked = leadIdOf(args[0]);
    if (!asked) fail('deliveries needs an e-mail address or a lead key: mql deliveries dana@example.com');
    const { formatDeliveries, loadDeliveries } = await import('../../lib/jobs/deliveries.ts');
    const found = await loadDeliveries((await pipeline()).store, asked);
    process.stdout.write(values.json ? `${JSON.stringify(found, null, 2)}\n` : `${formatDeliveries(found)}\n`);
  },
});
