/** `mql send <file.json|->`: Segment messages, signed as Standard Webhooks, POSTed to the local stack one by one. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { defineCommand, fail } from '../cli.ts';

export const send = defineCommand({
  name: 'send',
  group: 'try it on this machine',
  usage: ['send <file.json|->    sign Segment message(s) with EVENTS_WEBHOOK_SECRET and POST them to the local stack'],
  options: {},
  stack: 'local',
  async run({ args, stack }) {
    const { baseUrl } = stack ?? fail('send works on the local stack only');
    const secret = process.env.EVENTS_WEBHOOK_SECRET;
    if (!secret) fail('send needs EVENTS_WEBHOOK_SECRET (in .env or the environment)');
    const source = args[0];
    if (!source) fail('send needs a JSON file of one Segment message, an array of them, or {"batch": [...]}; - reads standard input');
    const payload = JSON.parse(readFileSync(source === '-' ? 0 : source, 'utf8')) as unknown;
    const messages = Array.isArray(payload) ? payload : [payload];
    const { signStandardWebhook } = await import('../../lib/http/standard-webhooks.ts');
    for (const message of messages as Record<string, unknown>[]) {
      // Example files carry no time or id: stamp them now, as an SDK would, so they score as fresh events.
      const body = JSON.stringify({ messageId: `cli-${randomUUID()}`, timestamp: new Date().toISOString(), ...message });
      const id = `msg_${randomUUID()}`;
      const timestamp = Math.floor(Date.now() / 1000);
      const response = await fetch(`${baseUrl}/webhooks/events`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signStandardWebhook({ secret, id, timestamp, body }),
        },
        body,
      });
      process.stdout.write(`${response.status} ${await response.text()}\n`);
      if (!response.ok) process.exitCode = 1;
    }
  },
});
