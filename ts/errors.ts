/**
 * Error classes: `HttpError` is thrown by application code to answer with a given
 * status; `CoreError` carries a machine-readable `code` for failures of the
 * server itself (aborted requests, closed connections, listen errors).
 */
import { checkStatus, reasonPhrase } from './status.js';
import type { HeadersInit } from './headers.js';
import { AbortReason } from './native.js';

export interface HttpErrorOptions {
  /** Extra response headers (e.g. `WWW-Authenticate` for a 401). */
  headers?: HeadersInit;
  /** Send `message` as the body. Defaults to true for 4xx, false for 5xx (whose body is the reason phrase). */
  expose?: boolean;
  /** The underlying error, kept for logging. */
  cause?: unknown;
}

/** Thrown by handlers or middleware to answer with `status`; the body is `message` when exposed. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  readonly expose: boolean;
  readonly headers: HeadersInit | undefined;

  constructor(status: number, message?: string, options: HttpErrorOptions = {}) {
    checkStatus(status, 'HttpError status', 400, 599);
    super(message ?? reasonPhrase(status), options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.expose = options.expose ?? status < 500;
    this.headers = options.headers;
  }
}

/** A failure reported by the server core or the request lifecycle, identified by `code`. */
export class CoreError extends Error {
  override name = 'CoreError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** `code` of an error-like value, if any (native errors carry one too). */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

const ABORT_CODES: Readonly<Record<number, readonly [code: string, why: string]>> = {
  [AbortReason.ClientClosed]: ['ECLIENTCLOSED', 'the client closed the connection'],
  [AbortReason.ConnectionError]: ['ECONNERROR', 'the connection failed'],
  [AbortReason.Timeout]: ['ETIMEDOUT', 'the connection timed out'],
  [AbortReason.ServerClosing]: ['ESERVERCLOSING', 'the server is closing'],
  [AbortReason.BadRequest]: ['EBADREQUEST', 'the rest of the request was malformed'],
};

/**
 * The reason given to a request's AbortSignal and to pending body reads when the
 * core reports `onAbort`. Named 'AbortError' so the usual `err.name === 'AbortError'`
 * checks (fetch, timers/promises) treat it as a cancellation.
 */
export function abortError(reason: number): CoreError {
  const [code, why] = ABORT_CODES[reason] ?? ['EABORTED', `aborted by the server core (reason ${reason})`];
  const err = new CoreError(code, `request aborted: ${why}`);
  err.name = 'AbortError';
  return err;
}
