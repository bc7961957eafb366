import { httpHandler } from '../lib/http/handler.ts';
import { json } from '../lib/http/request.ts';

/** GET /health: liveness only; it touches no dependency, so an outage elsewhere does not hide the API. */
export const handler = httpHandler(async () => json(200, { status: 'ok', service: 'mql-engine' }));
