/**
 * `CRM_ADAPTER=webhook`: every handoff is a Standard Webhooks signed POST of the record
 * (docs/providers/standard-webhooks.md), for any CRM, iPaaS or in-house endpoint: a lead's (`lead.*`) or an
 * account's (`account.mqa`, `account.recycled`), as it is, the `type` field saying which.
 */
import { describeNetworkError, quotedRedacted, retryAfterSeconds } from '../http/outbound.ts';
import { standardWebhookHeaders } from '../http/standard-webhooks.ts';
import type { CrmAdapter, DeliveryReceipt, OutboundRecord } from './adapter.ts';
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

/**
 * The start of the receiver's answer, for the error message (it is logged: addresses and phone numbers
 * redacted, as the receiver may echo the record); never throws.
 */
async function quotedBody(response: Response): Promise<string> {
  try {
    return quotedRedacted(await response.text());
  } catch {
    return '';
  }
}

function failure(response: Response, said: string, now: Date): CrmDeliveryError {
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
    return new CrmDeliveryError(`${at} Gone: the receiver has disabled this endpoint; re-enable it or change CRM_WEBHOOK_URL, then redrive${said}`, {
      status,
      retryable: false,
    });
  }
  if (transientStatuses.has(status) || status >= 500) {
    const retryAfter = retryAfterSeconds(response.headers.get('retry-after'), now);
    return new CrmDeliveryError(`${at}; will retry${said}`, {
      status,
      retryable: true,
      ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
    });
  }
  const hint = status === 401 || status === 403 ? ' (check CRM_WEBHOOK_SECRET on both sides)' : '';
  return new CrmDeliveryError(`${at}${hint}${said}`, { status, retryable: false });
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
    // A lead's record and an account's alike: `type` says which (docs/operator-contract.md, "The outbound record").
    async deliver(record: OutboundRecord, now: Date): Promise<DeliveryReceipt> {
      const body = JSON.stringify(record);
      const timestamp = Math.floor(now.getTime() / 1000);
      let response: Response;
      try {
        response = await send(url, {
          method: 'POST',
          headers: { ...standardWebhookHeaders({ secret, id: record.id, timestamp, body }), 'user-agent': 'mql-engine' },
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
