/**
 * LinkedIn's versioned Marketing API calls that turn a lead notification into the lead's answers
 * (docs/providers/linkedin.md): `GET /rest/leadFormResponses/{id}` with the form's questions projected in
 * (`form:(...)`), and `GET /rest/leadForms/{formId}` when the answer does not carry them. Every call sends
 * the headers LinkedIn refuses a request without: `LinkedIn-Version: YYYYMM`, `X-Restli-Protocol-Version:
 * 2.0.0` and the OAuth bearer token. Errors are classified on the HTTP status and LinkedIn's `code`.
 */
import { isObject, own } from '../http/json.ts';
import { describeNetworkError, redirectTarget, retryAfterSeconds } from '../http/outbound.ts';

/** The API base when LINKEDIN_API_URL is not set (the Lambdas and the CDK stack's default). */
export const defaultLinkedinApiUrl = 'https://api.linkedin.com/rest';

/**
 * The Marketing API version every call names (`LinkedIn-Version`). LinkedIn supports a version for at
 * least a year after its release and answers 426 for a retired one (docs/providers/linkedin.md, "Versions"):
 * moving it forward is a release of this project.
 */
export const linkedinApiVersion = '202610';

/** Rest.li's protocol header: the lead sync APIs are documented in protocol 2.0.0 only. */
export const restliProtocolVersion = '2.0.0';

/** A lead form response id as LinkedIn gives it (`249592fc-d272-44ba-a7db-c2bdce579507-6`): a UUID and a suffix. */
export const leadResponseIdPattern = /^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/;

/** A lead form's numeric id. */
export const leadFormIdPattern = /^\d{1,30}$/;

/** The fields asked of a lead form response, with its form's questions projected in (LinkedIn's Lead Sync examples). */
export const leadResponseFields =
  'id,submittedAt,testLead,leadType,owner,versionedLeadGenFormUrn,leadMetadata,associatedEntity,formResponse,form:(hiddenFields,creationLocale,name,id,content)';

/** One question of a lead form: a predefined field (FIRST_NAME, EMAIL, ...) or a custom question. */
export interface LinkedinQuestion {
  questionId: number;
  /** The enum of a question LinkedIn prefills from the member's profile; absent for custom questions. */
  predefinedField?: string;
  /** The name the form's author gave it (in the author's language). */
  name?: string;
  /** The question as shown, per locale. */
  question?: { localized?: Record<string, string> };
  questionDetails?: {
    multipleChoiceQuestionDetails?: { options?: { id: number; text?: { localized?: Record<string, string> } }[] };
    textQuestionDetails?: unknown;
  };
}

export interface LinkedinForm {
  id?: number | string;
  name?: string;
  content?: { questions?: LinkedinQuestion[]; legalInfo?: { consents?: { id: number; consent?: { localized?: Record<string, string> } }[] } };
  hiddenFields?: { name: string; value: string }[];
}

/** A lead form response as the API answers it. */
export interface LinkedinLeadResponse {
  id: string;
  /** Epoch milliseconds. */
  submittedAt?: number;
  testLead?: boolean;
  leadType?: string;
  owner?: { sponsoredAccount?: string; organization?: string };
  versionedLeadGenFormUrn?: string;
  leadMetadata?: { sponsoredLeadMetadata?: { campaign?: string } };
  associatedEntity?: Record<string, string>;
  formResponse: {
    answers: { questionId: number; answerDetails?: { textQuestionAnswer?: { answer?: string }; multipleChoiceAnswer?: { options?: number[] } } }[];
    consentResponses?: { consentId: number; accepted?: boolean }[];
  };
  /** The form, when the projection decorated it. */
  form?: LinkedinForm;
}

/** A lead with the questions its answers refer to. */
export interface LinkedinLead {
  readonly response: LinkedinLeadResponse;
  readonly form: LinkedinForm | undefined;
}

/** `urn:li:versionedLeadGenForm:(urn:li:leadGenForm:7234246,1)` -> { formId: '7234246', version: 1 }. */
export function versionedFormOf(urn: unknown): { formId: string; version?: number } | undefined {
  if (typeof urn !== 'string') return undefined;
  const versioned = /^urn:li:versionedLeadGenForm:\(urn:li:leadGenForm:(\d{1,30}),(\d{1,9})\)$/.exec(urn);
  if (versioned) return { formId: versioned[1]!, version: Number(versioned[2]) };
  const plain = /^urn:li:leadGenForm:(\d{1,30})$/.exec(urn);
  return plain ? { formId: plain[1]! } : undefined;
}

/** Whether an answer is a lead form response we can map: an id and `formResponse.answers` of `{questionId}`. */
export function isLinkedinLeadResponse(value: unknown): value is LinkedinLeadResponse {
  if (!isObject(value)) return false;
  const id = own(value, 'id');
  const answers = own(own(value, 'formResponse'), 'answers');
  return (
    typeof id === 'string' &&
    leadResponseIdPattern.test(id) &&
    Array.isArray(answers) &&
    answers.every((answer) => isObject(answer) && typeof own(answer, 'questionId') === 'number')
  );
}

/** Whether a form carries its questions (a projection LinkedIn did not decorate carries none). */
export function formHasQuestions(form: unknown): form is LinkedinForm {
  const questions = own(own(form, 'content'), 'questions');
  return Array.isArray(questions) && questions.every((question) => isObject(question) && typeof own(question, 'questionId') === 'number');
}

/**
 * What to do about a failed call:
 * - `rate_limited`: 429 (the app's or the member's daily quota, or LinkedIn's own protection): back off, retry.
 * - `transient`: 5xx, network failure, a body that is not JSON: retry.
 * - `invalid_token`: 401 (expired, revoked or wrong token): never retried; LINKEDIN_ACCESS_TOKEN must be replaced.
 * - `not_found`: 404: the response does not exist or the token's member cannot see it.
 * - `permanent`: 403 (a permission or role missing), 400, 426 (a retired version), a redirect, an answer that is not a lead.
 */
export type LinkedinErrorKind = 'rate_limited' | 'transient' | 'invalid_token' | 'not_found' | 'permanent';

export class LinkedinApiError extends Error {
  readonly kind: LinkedinErrorKind;
  readonly httpStatus: number | undefined;
  /** LinkedIn's `code` (`INVALID_ACCESS_TOKEN`, `TOO_MANY_REQUESTS`, ...) and `serviceErrorCode`. */
  readonly code: string | undefined;
  readonly serviceErrorCode: number | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: LinkedinErrorKind,
    message: string,
    details: { httpStatus?: number; code?: string; serviceErrorCode?: number; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LinkedinApiError';
    this.kind = kind;
    this.httpStatus = details.httpStatus;
    this.code = details.code;
    this.serviceErrorCode = details.serviceErrorCode;
    this.retryAfterSeconds = details.retryAfterSeconds;
  }

  /** Whether a later attempt can succeed without anyone changing anything. */
  get retryable(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'transient';
  }
}

/** Classifies an error answer by its status, with LinkedIn's `{status, serviceErrorCode, code, message}` body in the message. */
export function classifyLinkedinError(httpStatus: number, body: unknown, retryAfter?: number): LinkedinApiError {
  const code = typeof own(body, 'code') === 'string' ? (own(body, 'code') as string) : undefined;
  const serviceErrorCode = typeof own(body, 'serviceErrorCode') === 'number' ? (own(body, 'serviceErrorCode') as number) : undefined;
  const message = typeof own(body, 'message') === 'string' ? (own(body, 'message') as string).slice(0, 300) : `HTTP ${httpStatus}`;
  const details = {
    httpStatus,
    ...(code === undefined ? {} : { code }),
    ...(serviceErrorCode === undefined ? {} : { serviceErrorCode }),
    ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
  };
  const describe = `LinkedIn answered ${httpStatus}${code ? ` ${code}` : ''}${serviceErrorCode === undefined ? '' : ` (${serviceErrorCode})`}: ${message}`;
  if (httpStatus === 429) return new LinkedinApiError('rate_limited', describe, details);
  if (httpStatus === 401) return new LinkedinApiError('invalid_token', describe, details);
  if (httpStatus === 404) return new LinkedinApiError('not_found', describe, details);
  if (httpStatus === 426) return new LinkedinApiError('permanent', `${describe}; this release names LinkedIn-Version ${linkedinApiVersion}`, details);
  if (httpStatus >= 500) return new LinkedinApiError('transient', describe, details);
  return new LinkedinApiError('permanent', describe, details);
}

export interface LinkedinClientOptions {
  /** API base, e.g. https://api.linkedin.com/rest (LINKEDIN_API_URL). */
  apiUrl: string;
  accessToken: string;
  /** Per call; a slower answer counts as a network failure (retried). Default 8 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => Date;
}

/** One GET with LinkedIn's required headers; the JSON answer, or a {@link LinkedinApiError}. */
async function get(path: string, options: LinkedinClientOptions): Promise<unknown> {
  const fetchFn = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 8000;
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(`${options.apiUrl.replace(/\/+$/, '')}${path}`, {
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${options.accessToken}`,
        'linkedin-version': linkedinApiVersion,
        'x-restli-protocol-version': restliProtocolVersion,
      },
      // The token travels in a header: a redirect is not followed anywhere.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    throw new LinkedinApiError('transient', `LinkedIn API unreachable: ${describeNetworkError(error, timeoutMs)}`, { cause: error });
  }
  if (response.status >= 300 && response.status < 400) {
    throw new LinkedinApiError(
      'permanent',
      `LinkedIn answered ${response.status}, a redirect${redirectTarget(response)}: not followed; set LINKEDIN_API_URL to the API itself`,
      { httpStatus: response.status },
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    if (response.ok)
      throw new LinkedinApiError('transient', `LinkedIn answered ${response.status} with a body that is not JSON`, {
        httpStatus: response.status,
        cause: error,
      });
    body = undefined;
  }
  if (!response.ok) throw classifyLinkedinError(response.status, body, retryAfterSeconds(response.headers.get('retry-after'), options.now?.() ?? new Date()));
  return body;
}

/**
 * Fetches one lead form response and the questions its answers refer to: projected into the response when
 * LinkedIn decorates it, else read from the form (`GET /leadForms/{formId}`, one more call). Throws a
 * {@link LinkedinApiError} saying whether a retry can help.
 */
export async function fetchLinkedinLead(responseId: string, options: LinkedinClientOptions): Promise<LinkedinLead> {
  if (!leadResponseIdPattern.test(responseId)) throw new LinkedinApiError('permanent', 'not a lead form response id');
  // Rest.li 2.0 reads the projection's parentheses, commas and colons as syntax: they are sent as they are.
  const body = await get(`/leadFormResponses/${responseId}?fields=${leadResponseFields}`, options);
  if (!isLinkedinLeadResponse(body)) {
    throw new LinkedinApiError('permanent', 'LinkedIn answered 200 with something that is not a lead form response (no id or formResponse.answers)', {
      httpStatus: 200,
    });
  }
  if (formHasQuestions(body.form)) return { response: body, form: body.form };
  const form = versionedFormOf(body.versionedLeadGenFormUrn);
  if (!form) return { response: body, form: undefined };
  try {
    const fetched = await get(`/leadForms/${form.formId}`, options);
    return { response: body, form: formHasQuestions(fetched) ? fetched : undefined };
  } catch (error) {
    // A form deleted since: the answers are kept by question id rather than the lead lost.
    if (error instanceof LinkedinApiError && error.kind === 'not_found') return { response: body, form: undefined };
    throw error;
  }
}
