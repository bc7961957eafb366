/**
 * `mql demo --source google`: plays, against a running local stack, what Google Ads posts when someone submits
 * a lead form, and shows the lead scored.
 *
 *   1. A Google Ads lead form is submitted: Google posts the lead (its answers, int64 ids as bare JSON numbers,
 *      `google_key` = GOOGLE_ADS_WEBHOOK_KEY) to POST /webhooks/google-ads. A real lead (`is_test: false`), so
 *      it is scored: fit from the columns, 10 for the form (the default model's `lead_form`).
 *   2. Google delivers the same lead again (it retries what it thinks failed): counted once.
 *   3. The form's "Send test data" button: acknowledged and shown under its own key, never handed off.
 *
 * Each run uses a new e-mail address and lead id, so it can be repeated on the same stack.
 */
import { randomUUID } from 'node:crypto';
import type { LeadView } from '../views/lead-view.ts';
import type { DemoOptions } from './demo.ts';
import { DemoError, getLead, reasonLine, required, summary } from './demo.ts';

export interface GoogleDemoResult {
  readonly email: string;
  /** Google's id of the real lead. */
  readonly leadId: string;
  readonly lead: LeadView;
  /** The answer to the redelivery of the same lead. */
  readonly redelivery: { stored: number; duplicates: number };
  /** The key of the test data's lead (`google-ads-test:<e-mail>`) and what GET /leads answered for it. */
  readonly testLeadKey: string;
  readonly testLead: LeadView;
}

/** A lead as Google posts it; the ids are written as bare numbers, as Google's int64 fields are (JSON.stringify cannot). */
function googleLeadBody(fields: Record<string, unknown>, ids: Record<string, string>): string {
  const text = JSON.stringify(fields);
  const bare = Object.entries(ids)
    .map(([name, digits]) => `${JSON.stringify(name)}:${digits}`)
    .join(',');
  return `${text.slice(0, -1)},${bare}}`;
}

async function postLead(baseUrl: string, body: string): Promise<{ status: number; text: string; json: Record<string, number> }> {
  const response = await fetch(`${baseUrl}/webhooks/google-ads`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await response.text();
  let json: Record<string, number> = {};
  try {
    json = JSON.parse(text) as Record<string, number>;
  } catch {
    // not JSON: the text is printed as it is
  }
  return { status: response.status, text, json };
}

export async function runGoogleDemo(options: DemoOptions): Promise<GoogleDemoResult> {
  const { env, print, baseUrl } = options;
  const key = required(env, 'GOOGLE_ADS_WEBHOOK_KEY', 'Google puts it in each lead as google_key, and the route checks it');
  const health = await fetch(`${baseUrl}/health`).catch(() => undefined);
  if (!health?.ok) throw new DemoError(`no local stack answers at ${baseUrl}; start it with npm start`);

  const run = Date.now().toString(36);
  const email = `jordan.reyes.${run}@contoso-logistics.com`;
  const leadId = `Demo-${run}-${randomUUID()}`;
  // Submitted a minute ago, as Google says in lead_submit_time.
  const submittedAt = new Date(Date.now() - 60_000);

  // 1. The lead form, with a company-size and a budget question of the advertiser's own.
  const lead = googleLeadBody(
    {
      lead_id: leadId,
      user_column_data: [
        { column_name: 'Full Name', string_value: 'Jordan Reyes', column_id: 'FULL_NAME' },
        { column_name: 'User Email', string_value: email, column_id: 'EMAIL' },
        { column_name: 'User Phone', string_value: '+1 206 555 0147', column_id: 'PHONE_NUMBER' },
        { column_name: 'Company Name', string_value: 'Contoso Logistics', column_id: 'COMPANY_NAME' },
        { column_name: 'Job Title', string_value: 'Chief Revenue Officer', column_id: 'JOB_TITLE' },
        { column_name: 'Country', string_value: 'US', column_id: 'COUNTRY' },
        { column_name: 'How many employees work at your company?', string_value: '1001-5000', column_id: 'how_many_employees_work_at_your_company' },
        { column_name: 'Industry', string_value: 'Software', column_id: 'industry' },
        { column_name: 'What is your budget?', string_value: '$50k+', column_id: 'what_is_your_budget' },
      ],
      api_version: '1.0',
      gcl_id: `EAIaIQobChMI-demo-${run}`,
      google_key: key,
      is_test: false,
      lead_stage: 'NEW',
      lead_submit_time: submittedAt.toISOString(),
    },
    // Beyond 2^53, as int64 ids may be: kept to the digit.
    { form_id: '9007199254740993', campaign_id: '21474836470000017', adgroup_id: '162054719120', creative_id: '709340812345' },
  );
  print(`1. Google Ads: ${email} submits the lead form (lead_id ${leadId.slice(0, 24)}...)`);
  const first = await postLead(baseUrl, lead);
  print(`   POST /webhooks/google-ads -> ${first.status} ${first.text}`);
  if (first.status !== 200) throw new DemoError(`the Google Ads webhook refused the lead: ${first.status} ${first.text}`);
  const scored = await getLead(baseUrl, email);
  if (!scored) throw new DemoError(`the lead ${email} was acknowledged but GET /leads does not find it`);
  print(`   ${summary(scored)}`);
  print(`   reasons: ${reasonLine(scored)}`);
  const event = scored.recentEvents[0];
  if (event)
    print(`   event: ${event.type} via ${event.source}, formId ${String(event.properties.formId)}, budget ${String(event.properties.what_is_your_budget)}`);

  // 2. Google delivers it again.
  const again = await postLead(baseUrl, lead);
  print(`2. Google delivers the same lead again: POST /webhooks/google-ads -> ${again.status} ${again.text}`);
  if (again.status !== 200) throw new DemoError(`the redelivery was refused: ${again.status} ${again.text}`);
  const afterRedelivery = (await getLead(baseUrl, email)) ?? scored;
  print(`   still ${afterRedelivery.eventCount} event, ${summary(afterRedelivery)}`);

  // 3. "Send test data": Google's sample, is_test true.
  const testId = `Cj0KCQ-demo-${run}-${randomUUID().slice(0, 8)}`;
  const sample = googleLeadBody(
    {
      lead_id: testId,
      gcl_id: testId,
      user_column_data: [
        { column_name: 'Full Name', string_value: 'FirstName LastName', column_id: 'FULL_NAME' },
        { column_name: 'User Phone', string_value: '1-650-555-0123', column_id: 'PHONE_NUMBER' },
        { column_name: 'User Email', string_value: 'test@example.com', column_id: 'EMAIL' },
      ],
      api_version: '1.0',
      google_key: key,
      is_test: true,
    },
    { campaign_id: '123456', adgroup_id: '0', creative_id: '0', form_id: '123456789' },
  );
  const test = await postLead(baseUrl, sample);
  print(`3. The form's "Send test data": POST /webhooks/google-ads -> ${test.status} ${test.text}`);
  if (test.status !== 200) throw new DemoError(`the test data was refused: ${test.status} ${test.text}`);
  // The sample's address has no real lead: GET /leads/test@example.com answers with the test lead kept apart.
  const testLead = await getLead(baseUrl, 'test@example.com');
  if (!testLead) throw new DemoError('the test data was acknowledged but GET /leads/test@example.com does not find it');
  const testLeadKey = testLead.leadId;
  print(`   GET /leads/test@example.com: the test lead ${testLeadKey}, kept apart: ${summary(testLead)}; test data is never handed off to the CRM`);

  print(`Explain it any time: npx mql explain ${email}`);
  return {
    email,
    leadId,
    lead: afterRedelivery,
    redelivery: { stored: again.json.stored ?? -1, duplicates: again.json.duplicates ?? -1 },
    testLeadKey,
    testLead,
  };
}
