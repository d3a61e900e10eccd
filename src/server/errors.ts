/**
 * Errors the tool server answers with. Every failure a client can cause becomes an `HttpError`
 * with a stable `code` and a message that says what happened and what to do; anything else is a
 * bug and is answered as 500 `internal` without crashing the server.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, code = 'bad_request'): HttpError => new HttpError(400, code, message);
