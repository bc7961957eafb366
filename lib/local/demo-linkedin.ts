/**
 * `mql demo --source linkedin`: plays, against a running local stack, what LinkedIn sends for one Lead Gen
 * Form submission, and shows the lead scored from its answers.
 *
 *   1. LinkedIn validates the webhook: GET /webhooks/linkedin?challengeCode=... must answer the code's
 *      HMAC-SHA256 under LINKEDIN_CLIENT_SECRET (LinkedIn repeats this every few hours).
 *   2. A member submits the form: the LinkedIn API stand-in (lib/local/stand-ins/linkedin.ts, on the port of
 *      LINKEDIN_API_URL) holds the lead form response and its form, and a lead notification signed with
 *      LINKEDIN_CLIENT_SECRET goes to POST /webhooks/linkedin. The stack queues it on `linkedin-leads`, its
 *      fetch Lambda reads the response from the stand-in with LINKEDIN_ACCESS_TOKEN, and the lead is scored:
 *      fit from the form's predefined fields, and the points of a form submission.
 *
 * Each run uses a new e-mail address and response id, so it can be repeated on the same stack.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { LinkedinForm, LinkedinLeadResponse } from '../apis/linkedin-leads.ts';
import { linkedinSignature } from '../sources/linkedin.ts';
import type { LeadView } from '../views/lead-view.ts';
import type { DemoOptions } from './demo.ts';
import { DemoError, getLead, localPort, reasonLine, required, summary, waitFor } from './demo.ts';
import { portIsFree } from './listen.ts';
import { startLinkedinStandIn } from './stand-ins/linkedin.ts';

export interface LinkedinDemoResult {
  readonly email: string;
  readonly responseId: string;
  readonly lead: LeadView;
}

const formId = '7390011';

/** The demo's Lead Gen Form: predefined fields LinkedIn prefills from the member's profile, and one custom question. */
const demoForm: LinkedinForm = {
  name: 'State of RevOps 2027 report',
  hiddenFields: [{ name: 'utm_campaign', value: 'revops-report' }],
  content: {
    questions: [
      ['FIRST_NAME', 'First name'],
      ['LAST_NAME', 'Last name'],
      ['EMAIL', 'Email address'],
      ['JOB_TITLE', 'Job title'],
      ['SENIORITY', 'Seniority'],
      ['COMPANY_NAME', 'Company name'],
      ['COMPANY_SIZE', 'Company size'],
      ['INDUSTRY', 'Industry'],
      ['COUNTRY', 'Country/Region'],
    ].map(([predefinedField, name], index) => ({
      questionId: Number(`${index + 1}0${formId}`),
      name: name!,
      predefinedField: predefinedField!,
      question: { localized: { en_US: name! } },
    })),
  },
};
demoForm.content!.questions!.push({
  questionId: Number(`100${formId}`),
  name: 'Custom question 0',
  question: { localized: { en_US: 'When do you plan to buy?' } },
});

export async function runLinkedinDemo(options: DemoOptions): Promise<LinkedinDemoResult> {
  const { env, print, baseUrl } = options;
  const stepTimeoutMs = options.stepTimeoutMs ?? 30_000;
  const clientSecret = required(env, 'LINKEDIN_CLIENT_SECRET', 'the LinkedIn webhook validates and verifies with it');
  const accessToken = required(env, 'LINKEDIN_ACCESS_TOKEN', 'the fetch Lambda reads LinkedIn with it');
  const apiUrl = required(env, 'LINKEDIN_API_URL', 'the demo serves the LinkedIn API stand-in there');

  const health = await fetch(`${baseUrl}/health`).catch(() => undefined);
  if (!health?.ok) throw new DemoError(`no local stack answers at ${baseUrl}; start it with npm start`);

  const api = localPort(apiUrl, 'LINKEDIN_API_URL');
  if (api.path.replace(/\/+$/, '') !== '/rest') throw new DemoError(`LINKEDIN_API_URL must end in /rest, as LinkedIn's does (got ${apiUrl})`);
  if (!(await portIsFree(api.port))) throw new DemoError(`port ${api.port} of LINKEDIN_API_URL is taken; the demo serves the LinkedIn API stand-in there`);
  const standIn = await startLinkedinStandIn({ port: api.port, accessToken });

  try {
    // 1. The endpoint validation LinkedIn runs before it sends anything, and every few hours after.
    const challengeCode = randomUUID();
    const validation = await fetch(`${baseUrl}/webhooks/linkedin?challengeCode=${challengeCode}`);
    const answer = validation.ok ? ((await validation.json()) as { challengeResponse?: string }) : undefined;
    const expected = createHmac('sha256', clientSecret).update(challengeCode).digest('hex');
    print(`1. LinkedIn validates the webhook: GET /webhooks/linkedin?challengeCode=${challengeCode}`);
    print(`   -> ${validation.status} challengeResponse ${answer?.challengeResponse ?? '(none)'}`);
    if (answer?.challengeResponse !== expected)
      throw new DemoError(`the validation answer is not the code's HMAC under LINKEDIN_CLIENT_SECRET (${validation.status})`);

    // 2. The form submission.
    const run = Date.now().toString(36);
    const email = `jordan.blake.${run}@tailspin-systems.com`;
    const responseId = `${randomUUID()}-4`;
    const submittedAt = Date.now() - 60_000;
    const answers: Record<string, string> = {
      FIRST_NAME: 'Jordan',
      LAST_NAME: 'Blake',
      EMAIL: email,
      JOB_TITLE: 'Chief Operating Officer',
      SENIORITY: 'CXO',
      COMPANY_NAME: 'Tailspin Systems',
      COMPANY_SIZE: '1001-5000',
      INDUSTRY: 'Software Development',
      COUNTRY: 'GB',
    };
    const response: LinkedinLeadResponse = {
      id: responseId,
      submittedAt,
      testLead: false,
      leadType: 'SPONSORED',
      owner: { sponsoredAccount: 'urn:li:sponsoredAccount:508901234' },
      versionedLeadGenFormUrn: `urn:li:versionedLeadGenForm:(urn:li:leadGenForm:${formId},1)`,
      leadMetadata: { sponsoredLeadMetadata: { campaign: 'urn:li:sponsoredCampaign:311200456' } },
      associatedEntity: { associatedCreative: 'urn:li:sponsoredCreative:612345678' },
      formResponse: {
        answers: [
          ...demoForm.content!.questions!.flatMap((question) =>
            question.predefinedField
              ? [{ questionId: question.questionId, answerDetails: { textQuestionAnswer: { answer: answers[question.predefinedField]! } } }]
              : [],
          ),
          { questionId: Number(`100${formId}`), answerDetails: { textQuestionAnswer: { answer: 'This quarter' } } },
        ],
      },
    };
    standIn.addLead(response, demoForm);
    const notification = JSON.stringify({
      type: 'LEAD_ACTION',
      leadGenFormResponse: `urn:li:leadGenFormResponse:${responseId}`,
      leadGenForm: response.versionedLeadGenFormUrn,
      owner: response.owner,
      leadType: 'SPONSORED',
      leadAction: 'CREATED',
      occurredAt: submittedAt + 1000,
    });
    print(`2. LinkedIn: ${email} submits the Lead Gen Form "${demoForm.name}" (response ${responseId})`);
    const posted = await fetch(`${baseUrl}/webhooks/linkedin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-li-signature': linkedinSignature(clientSecret, notification) },
      body: notification,
    });
    const postedAnswer = `${posted.status} ${await posted.text()}`;
    print(`   POST /webhooks/linkedin -> ${postedAnswer}`);
    if (!posted.ok) throw new DemoError(`the LinkedIn webhook refused the notification: ${postedAnswer}`);
    const lead = await waitFor('the fetch Lambda to read the lead from the LinkedIn API stand-in', stepTimeoutMs, () => getLead(baseUrl, email));
    const calls = standIn.callsFor(responseId).length;
    print(`   the fetch Lambda read it from the LinkedIn API stand-in (${calls} call${calls === 1 ? '' : 's'}): ${summary(lead)}`);
    print(
      `   profile: ${lead.lead.firstName} ${lead.lead.lastName}, ${lead.lead.jobTitle} at ${lead.lead.company} (${lead.lead.companySize}, ${lead.lead.industry}, ${lead.lead.country})`,
    );
    print(`   reasons: ${reasonLine(lead)}`);
    print(`Explain it any time: npx mql explain ${email}`);
    return { email, responseId, lead };
  } finally {
    await standIn.stop();
  }
}
