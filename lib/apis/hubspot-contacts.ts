/** HubSpot's CRM API as the feedback webhook's lookup step calls it (docs/providers/hubspot.md). */
import { normalizeEmail } from '../core/events.ts';
import { redirectTarget } from '../http/outbound.ts';

/** Why a contact's e-mail could not be learnt from HubSpot, so the delivery is answered 503 and retried. */
export class HubSpotLookupError extends Error {}

/**
 * The e-mail of a HubSpot contact (GET /crm/v3/objects/contacts/<id>?properties=email), for a contact
 * the handoff never linked (delivered before the link existed, or created in HubSpot by hand).
 * Undefined when HubSpot does not know the contact or it has no e-mail. Throws {@link HubSpotLookupError}
 * when HubSpot cannot answer now (rate limit, outage, bad token): the delivery is retried by HubSpot.
 */
export async function contactEmail(objectId: string, options: { token: string; baseUrl: string; fetch?: typeof fetch }): Promise<string | undefined> {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/crm/v3/objects/contacts/${encodeURIComponent(objectId)}?properties=email`;
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      headers: { authorization: `Bearer ${options.token}`, accept: 'application/json' },
      // The bearer token must reach HubSpot's API and nothing a Location names.
      redirect: 'manual',
      signal: AbortSignal.timeout(5000),
    });
  } catch (error) {
    throw new HubSpotLookupError(`HubSpot did not answer the contact lookup: ${(error as Error).message}`, { cause: error });
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel().catch(() => undefined);
    throw new HubSpotLookupError(
      `HubSpot answered the contact lookup with ${response.status}, a redirect${redirectTarget(response)}: not followed, since the request carries HUBSPOT_ACCESS_TOKEN; set HUBSPOT_BASE_URL to the API's own URL`,
    );
  }
  if (response.status === 404) return undefined;
  if (response.status === 401 || response.status === 403) {
    throw new HubSpotLookupError(`HubSpot refused the contact lookup (${response.status}): check HUBSPOT_ACCESS_TOKEN and its crm.objects.contacts.read scope`);
  }
  if (!response.ok) throw new HubSpotLookupError(`HubSpot answered the contact lookup with ${response.status}`);
  const body = (await response.json().catch(() => undefined)) as { properties?: { email?: unknown } } | undefined;
  const email = body?.properties?.email;
  return typeof email === 'string' ? normalizeEmail(email) : undefined;
}
