/** `mql send <file.json|->`: Segment messages, signed as Standard Webhooks, POSTed to the local stack one by one. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { defineCommand, fail } from '../cli.ts';

export const send = defineCommand({
  name: 'send',
  group: 'try it on this machine',
  usage: [
    'send <file.json|->    sign Segment message(s) with EVENTS_WEBHOOK_SECRET and POST them to the local stack; prints each',
    '                      answer, and exits 1 with the counts when any message is refused',
  ],
  options: {},
  stack: 'local',
  async run({ args, stack }) {
    const { baseUrl } = stack ?? fail('send works on the local stack only');
    const secret = process.env.EVENTS_WEBHOOK_SECRET;
    if (!secret) fail('send needs EVENTS_WEBHOOK_SECRET (in .env or the environment)');
    const source = args[0];
    if (!source) fail('send needs a JSON file of one Segment message, an array of them, or {"batch": [...]}; - reads standard input');
    let payload: unknown;
    try {
      payload = JSON.parse(readFileSync(source === '-' ? 0 : source, 'utf8'));
    } catch (error) {
      fail(`send: cannot read ${source === '-' ? 'standard input' : source} as JSON: ${(error as Error).message}`);
    }
    const messages = Array.isArray(payload) ? payload : [payload];
    const { standardWebhookHeaders } = await import('../../lib/http/standard-webhooks.ts');
    const refused: number[] = [];
    for (const message of messages as Record<string, unknown>[]) {
      // Example files carry no time or id: stamp them now, as an SDK would, so they score as fresh events.
      const body = JSON.stringify({ messageId: `cli-${randomUUID()}`, timestamp: new Date().toISOString(), ...message });
      const id = `msg_${randomUUID()}`;
      const timestamp = Math.floor(Date.now() / 1000);
      const response = await fetch(`${baseUrl}/webhooks/events`, {
        method: 'POST',
        headers: standardWebhookHeaders({ secret, id, timestamp, body }),
        body,
      });
      process.stdout.write(`${response.status} ${await response.text()}\n`);
      if (!response.ok) refused.push(response.status);
    }
    const verdict = refusedLine(messages.length, refused);
    if (verdict) {
      process.stderr.write(`${verdict}\n`);
      process.exitCode = 1;
    }
  },
});

/** What was refused, on one line; undefined when every message was accepted. */
export function refusedLine(sent: number, refusedStatuses: readonly number[]): string | undefined {
  if (refusedStatuses.length === 0) return undefined;
  const statuses = [...new Set(refusedStatuses)].join(', ');
  const secretHint = refusedStatuses.every((status) => status === 401) ? '; is EVENTS_WEBHOOK_SECRET the one npm start runs with?' : '';
  if (refusedStatuses.length === sent) return `mql send: every message was refused (${sent} of ${sent}, HTTP ${statuses}): nothing was stored${secretHint}`;
  return `mql send: ${refusedStatuses.length} of ${sent} message(s) refused (HTTP ${statuses}), ${sent - refusedStatuses.length} accepted${secretHint}`;
}
