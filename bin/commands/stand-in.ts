/** `mql stand-in hubspot|salesforce`: a CRM stand-in until Ctrl-C, printing each call and each record change. */
import { defineCommand, fail, parsePort } from '../cli.ts';

export const standIn = defineCommand({
  name: 'stand-in',
  group: 'try it on this machine',
  usage: [
    'stand-in hubspot|salesforce [--port N]',
    '                      a local HubSpot (default port 4002) or Salesforce (4003) stand-in until Ctrl-C, accepting',
    '                      HUBSPOT_ACCESS_TOKEN, or SALESFORCE_CLIENT_ID / _CLIENT_SECRET / _EXTERNAL_ID_FIELD, from .env: prints',
    '                      the env lines that point npm start at it, then each call and each contact / Lead change on a line',
  ],
  options: { port: { type: 'string' } },
  stack: 'none',
  async run({ values, args }) {
    const port = values.port === undefined ? undefined : parsePort(values.port, 0);
    const { CrmStandInSettingsError, startCrmStandIn } = await import('../../lib/local/crm-stand-in.ts');
    let running: Awaited<ReturnType<typeof startCrmStandIn>>;
    try {
      running = await startCrmStandIn(args[0] ?? '', process.env, port);
    } catch (error) {
      if (error instanceof CrmStandInSettingsError || (error as NodeJS.ErrnoException).code === 'EADDRINUSE') fail((error as Error).message);
      throw error;
    }
    const name = running.kind === 'hubspot' ? 'HubSpot' : 'Salesforce';
    process.stdout.write(
      `${name} stand-in on ${running.url}; Ctrl-C stops it. set these in .env (or the environment of npm start and npx mql):\n${running.envLines.map((line) => `  ${line}\n`).join('')}${running.nextSteps.map((step) => `- ${step}\n`).join('')}`,
    );
    const print = () => {
      const lines = running.changes();
      if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
    };
    const timer = setInterval(print, 100);
    await new Promise<void>((resolveStop) => process.once('SIGINT', () => resolveStop()));
    clearInterval(timer);
    print();
    await running.close();
    process.stdout.write(`${name} stand-in stopped\n`);
  },
});
