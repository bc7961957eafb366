import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { logger } from '../runtime/logger.ts';
import { pseudonymKeyReady } from '../runtime/pseudonym.ts';
import { HttpError } from './errors.ts';
import { json } from './request.ts';

export type HttpFunction = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * Wraps an HTTP function so every refusal renders as `{"error", "detail"}` with its status, and
 * anything unexpected (our own transient failure) as a 503 the sender will retry: never a 5xx for
 * a client's mistake, never a 4xx that would make a sender drop an event we failed to store.
 */
export function httpHandler(fn: HttpFunction) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use({
      // The logs' lead references are keyed from the first line on (lib/runtime/pseudonym.ts).
      before: async () => {
        await pseudonymKeyReady();
      },
      onError: async (request) => {
        const error = request.error;
        // The route key (`POST /webhooks/mailchimp/{secret}`), never the path: Mailchimp's secret is in the path.
        if (error instanceof HttpError) {
          logger.info('request refused', { status: error.status, error: error.code, detail: error.detail, route: request.event.routeKey });
          request.response = json(error.status, { error: error.code, detail: error.detail });
          return;
        }
        logger.error('request failed', { error: error as Error, route: request.event.routeKey });
        request.response = json(503, { error: 'temporarily_unavailable', detail: 'the event was not stored; retry later' });
      },
    })
    .handler(fn);
}
