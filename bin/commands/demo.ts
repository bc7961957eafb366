/**
 * `mql demo`: a website visitor who signs up, a Facebook lead form and a SendGrid batch made into one MQL on the running local stack.
 * `mql demo --source google`: a Google Ads lead form lead, its redelivery and Google's test data (lib/local/demo-google.ts).
 * `mql demo --source linkedin`: a LinkedIn Lead Gen Form lead scored from its answers (lib/local/demo-linkedin.ts).
 * `mql demo --with-outcomes`: a seeded population with buying groups (lib/local/demo-buying-groups.ts) and its sales
 * outcomes, for report and calibrate.
 */
import { defineCommand, fail, pipeline } from '../cli.ts';

export const demo = defineCommand({
  name: 'demo',
  group: 'try it on this machine',
  usage: [
    'demo                  against the running npm start: a website visitor signs up, a Facebook lead form and a SendGrid batch: one MQL',
    'demo --source google  a Google Ads lead form lead scored, its redelivery counted once, and "Send test data" kept apart',
    'demo --source linkedin',
    '                      a LinkedIn Lead Gen Form lead: the webhook validation, then a signed lead notification; the',
    '                      LinkedIn API stand-in (on LINKEDIN_API_URL) serves the lead, scored from its answers',
    'demo --with-outcomes [--leads N] [--seed N]',
    '                      a seeded population (default 500 leads over ~6 months) and the buying groups of 7 companies through',
    '                      POST /webhooks/events, then sales outcomes for its MQLs, and for its MQAs when the model scores accounts,',
    '                      through POST /webhooks/crm; the same seed posts the same events again (idempotent): Ctrl-C stops after',
    '                      the request in hand, and a second run resumes and counts the handoffs left undelivered',
  ],
  options: { 'with-outcomes': { type: 'boolean' }, leads: { type: 'string' }, seed: { type: 'string' }, source: { type: 'string' } },
  stack: 'local',
  async run({ values, stack }) {
    const { baseUrl } = stack ?? fail('demo works on the local stack only');
    if (values['with-outcomes']) return populationDemo(baseUrl, values.leads, values.seed);
    if (values.leads !== undefined || values.seed !== undefined) fail('--leads and --seed go with --with-outcomes: mql demo --with-outcomes --leads 200');
    const source = values.source ?? 'facebook';
    if (!['facebook', 'google', 'linkedin'].includes(source)) fail(`--source is facebook (the default), google or linkedin, not ${source}`);
    const { runDemo, DemoError } = await import('../../lib/local/demo.ts');
    const story =
      source === 'google'
        ? (await import('../../lib/local/demo-google.ts')).runGoogleDemo
        : source === 'linkedin'
          ? (await import('../../lib/local/demo-linkedin.ts')).runLinkedinDemo
          : runDemo;
    try {
      await story({ baseUrl, env: process.env, print: (line) => process.stdout.write(`${line}\n`) });
    } catch (error) {
      if (error instanceof DemoError) fail(error.message);
      throw error;
    }
  },
});

function wholeNumber(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) fail(`--${name} must be a whole number, got ${value}`);
  return Number(value);
}

/** The population demo; Ctrl-C stops it cleanly (its receiver closed, what was posted printed) with exit code 130. */
async function populationDemo(baseUrl: string, leads: string | undefined, seed: string | undefined): Promise<void> {
  const count = wholeNumber(leads, 'leads');
  const seedNumber = wholeNumber(seed, 'seed');
  const { store, model } = await pipeline();
  const { runPopulationDemo, PopulationDemoError } = await import('../../lib/local/demo-population.ts');
  const controller = new AbortController();
  // Once: a second Ctrl-C stops the process at once.
  process.once('SIGINT', () => controller.abort());
  try {
    const result = await runPopulationDemo({
      baseUrl,
      env: process.env,
      store,
      model,
      signal: controller.signal,
      print: (line) => process.stdout.write(`${line}\n`),
      ...(count !== undefined ? { leads: count } : {}),
      ...(seedNumber !== undefined ? { seed: seedNumber } : {}),
    });
    // Interrupted: not a success for a script that runs it (130, as for Ctrl-C).
    if (result.interrupted) process.exit(130);
  } catch (error) {
    if (error instanceof PopulationDemoError) fail(error.message);
    throw error;
  }
}
