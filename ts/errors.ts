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

/**
 * Codes with which a write (a stream chunk, a file region, a stream's end, a WebSocket
 * message) finds the client's connection gone: closed, reset, a broken pipe. The core
 * closes the connection and answers ECLOSED itself; the socket codes are listed too, so a
 * raw one can never pass for a failure.
 */
const CONNECTION_GONE: ReadonlySet<string> = new Set(['ECLOSED', 'EPIPE', 'ECONNRESET', 'ECONNABORTED', 'ECANCELED', 'ENOTCONN']);

/**
 * Whether an error thrown by a native write says that the peer is gone. That is the
 * client's close (close reason `client-closed`, WebSocket 1006), never an application
 * error: callers classify it here and log nothing.
 */
export function isConnectionGone(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && CONNECTION_GONE.has(code);
}

/** Why the application ends a stream early on purpose (see StreamCancel). */
export type CancelReason = 'closed' | 'shed';

/**
 * A stream ended early on purpose, not as a failure: `closed`, the application's own close
 * (writer.abort() or stream.abort() without an error, Channel.disconnectAll()), or `shed`,
 * a slow-consumer policy (a Channel's 'disconnect'). It travels like an error through body
 * transforms (compress()), so the stream ends with that close reason wherever it is raised;
 * nothing is logged and the core counts it in streamsClosed / streamsShed, not streamsErrored.
 */
export class StreamCancel extends CoreError {
  readonly reason: CancelReason;

  constructor(reason: CancelReason, message?: string) {
    super(reason === 'shed' ? 'ESHED' : 'EABORTED', message ?? (reason === 'shed' ? 'the stream was shed: a slow consumer' : 'stream closed by the application'));
    this.reason = reason;
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
