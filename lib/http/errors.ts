/**
 * Errors are created one way everywhere (status, error code, detail), so the error handler can
 * render every refusal as the same `{"error", "detail"}` JSON body.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;

  constructor(status: number, code: string, detail: string, options?: { cause?: unknown }) {
    super(`${status} ${code}: ${detail}`, options);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export const badRequest = (detail: string, cause?: unknown) => new HttpError(400, 'bad_request', detail, { cause });
export const unauthorized = (detail: string) => new HttpError(401, 'unauthorized', detail);
export const forbidden = (detail: string) => new HttpError(403, 'forbidden', detail);
export const notFound = (detail: string) => new HttpError(404, 'not_found', detail);
export const payloadTooLarge = (detail: string) => new HttpError(413, 'payload_too_large', detail);
// 400 rather than 415: the contract answers every malformed delivery with 400 {error, detail}.
export const unsupportedMediaType = (detail: string) => new HttpError(400, 'unsupported_media_type', detail);
