/**
 * `CRM_ADAPTER=webhook`: every handoff is a Standard Webhooks signed POST of the record
 * (docs/providers/standard-webhooks.md), for any CRM, iPaaS or in-house endpoint.
 */
import { signStandardWebhook } from '../http/standard-webhooks.ts';
import type { CrmAdapter, DeliveryReceipt, HandoffRecord } from './adapter.ts';
import { CrmDeliveryError } from './adapter.ts';

export interface WebhookAdapterOptions {
  /** The receiver's endpoint (CRM_WEBHOOK_URL). */
  url: string;
  /** `whsec_<base64>` (CRM_WEBHOOK_SECRET); the receiver verifies with the same secret. */
  secret: string;
  /** Injected in tests; the platform's fetch otherwise. */
  fetch?: typeof globalThis.fetch;
  /** Give up on an attempt after this long; Standard Webhooks senders allow 15-30 s. */
  timeoutMs?: number;
}

/**
 * Answers that say "later" (with every 5xx): throttling, timeouts, the receiver's own trouble. Any
 * other answer (400, 401, 403, 404, 410, 422, other 4xx, 3xx) is one that resending the same bytes
 * cannot change, so the record goes to the dead-letter queue at once, to be redriven after a fix.
 */
const transientStatuses = new Set([408, 425, 429]);

/** Most characters of the receiver's answer quoted in an error message (it ends up in logs). */
const maxQuotedBody = 300;

/**
 * Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3),
 * relative to the attempt's time; undefined when absent or unreadable.
 */
export function retryAfterSeconds(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // Every HTTP-date form starts with the weekday; Date.parse alone would read "-5" as a year.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now.getTime()) / 1000));
}

/** The start of the receiver's answer, for the error message; never throws. */
async function quotedBody(response: Response): Promise<string> {
  try {
    const body = (await response.text()).trim();
    if (body === '') return '';
    return `: ${body.length > maxQuotedBody ? `${body.slice(0, maxQuotedBody)}...` : body}`;
  } catch {
    return '';
  }
}

/** What went wrong before any answer: our timeout, or the network (undici hides the cause under "fetch failed"). */
function describeNetworkError(error: unknown, timeoutMs: number): string {
  if (!(error instanceof Error)) return `request failed: ${String(error)}`;
  if (error.name === 'TimeoutError') return `gave no answer within ${timeoutMs} ms`;
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `request failed: ${error.message}${cause}`;
}

function failure(response: Response, quoted: string, now: Date): CrmDeliveryError {
  const { status } = response;
  const at = `CRM webhook answered ${status}`;
  if (status >= 300 && status < 400) {
    // Redirects are not followed (a signed record must not travel to a URL nobody configured);
    // the fix is the configuration, so retrying cannot help.
    const location = response.headers.get('location');
    return new CrmDeliveryError(`${at} (redirect${location ? ` to ${location}` : ''}); redirects are not followed: set CRM_WEBHOOK_URL to the final URL`, {
      status,
      retryable: false,
    });
  }
  if (status === 410) {
    return new CrmDeliveryError(`${at} Gone: the receiver has disabled this endpoint; re-enable it or change CRM_WEBHOOK_URL, then redrive${quoted}`, {
      status,
      retryable: false,
    });
  }
  if (transientStatuses.has(status) || status >= 500) {
    const retryAfter = retryAfterSeconds(response.headers.get('retry-after'), now);
    return new CrmDeliveryError(`${at}; will retry${quoted}`, {
      status,
      retryable: true,
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
    });
  }
  const hint = status === 401 || status === 403 ? ' (check CRM_WEBHOOK_SECRET on both sides)' : '';
  return new CrmDeliveryError(`${at}${hint}${quoted}`, { status, retryable: false });
}

/**
 * A {@link CrmAdapter} that POSTs `JSON.stringify(record)` signed per Standard Webhooks.
 *
 * `webhook-id` is `record.id`, stable across attempts, so the receiver can deduplicate;
 * `webhook-timestamp` is the attempt's own time (`now` of {@link CrmAdapter.deliver}), so a retry
 * hours later still passes the receiver's 5-minute window.
 */
export function webhookAdapter(options: WebhookAdapterOptions): CrmAdapter {
  const { url, secret } = options;
  const send = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  return {
    name: 'webhook',
    async deliver(record: HandoffRecord, now: Date): Promise<DeliveryReceipt> {
      const body = JSON.stringify(record);
      const timestamp = Math.floor(now.getTime() / 1000);
      let response: Response;
      try {
        response = await send(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'mql-engine',
            'webhook-id': record.id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signStandardWebhook({ secret, id: record.id, timestamp, body }),
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        throw new CrmDeliveryError(`CRM webhook ${describeNetworkError(error, timeoutMs)}; will retry`, { retryable: true, cause: error });
      }
      if (response.status >= 200 && response.status < 300) {
        // The answer's content is not ours to read; release the connection.
        await response.body?.cancel().catch(() => undefined);
        return { status: response.status };
      }
      throw failure(response, await quotedBody(response), now);
    },
  };
}
