/**
 * `sse()`: a Server-Sent Events response.
 *
 *   app.get('/events', (req) => sse(req, async (stream) => {
 *     await stream.send({ event: 'tick', id: 1, data: { n: 1 } });
 *   }));
 *   app.get('/feed', (req) => sse(req, someAsyncIterableOfEvents));
 *
 * Headers are sent at once (with a first comment) so proxies and browsers see the
 * stream open; `Cache-Control: no-cache, no-transform` and `X-Accel-Buffering: no` keep
 * caches and nginx from buffering it; an idle stream gets a heartbeat comment every
 * 15 s by default. The handler's stream ends when the handler resolves; a throw aborts
 * it (the client sees a truncated stream and reconnects).
 */
import { ResponseHeaders } from '../headers.js';
import type { Request } from '../request.js';
import { StreamingResponse, type StreamingOptions } from '../streaming/response.js';
import type { StreamingWriter } from '../streaming/writer.js';
import { retryLine, serializeComment, type SSEEvent } from './event.js';
import { startHeartbeat } from './heartbeat.js';
import { RESOLVED } from '../streaming/writer.js';
import { SSEStream } from './stream.js';

export type SSEHandler = (stream: SSEStream) => unknown;
export type SSESource = SSEHandler | Iterable<SSEEvent | string> | AsyncIterable<SSEEvent | string>;

export interface SSEOptions extends Omit<StreamingOptions, 'contentType' | 'contentLength' | 'flushHeaders'> {
  /** Heartbeat period in ms for idle streams (default 15000; 0 turns it off). */
  heartbeat?: number;
  /** The comment sent with the headers (default "ok"; null sends none, then headers leave with the first event). */
  comment?: string | null;
  /** A `retry:` field sent first: the client's reconnection delay in ms. */
  retry?: number;
  /** The client's last event id; taken from the request when one is given. */
  lastEventId?: string | null;
}

export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
});

/** SSE_HEADERS as one collection that responses without headers of their own share (copy on write). */
const SSE_FIELDS = new ResponseHeaders(Object.entries(SSE_HEADERS));

export const DEFAULT_HEARTBEAT_MS = 15_000;

/** The client's Last-Event-ID: the header, else a `lastEventId` query parameter (for clients that cannot set headers). */
export function lastEventId(req: Request): string | null {
  const header = req.header('last-event-id');
  if (header !== undefined && header !== null) return header;
  // No query string: nothing to parse (and no URLSearchParams kept for the stream's life).
  return typeof req.url === 'string' && req.url.indexOf('?') === -1 ? null : req.query.get('lastEventId');
}

export function sse(source: SSESource, options?: SSEOptions): StreamingResponse;
export function sse(req: Request, source: SSESource, options?: SSEOptions): StreamingResponse;
export function sse(a: Request | SSESource, b?: SSESource | SSEOptions, c?: SSEOptions): StreamingResponse {
  let source: SSESource;
  let options: SSEOptions;
  let fromRequest: string | null = null;
  if (isRequest(a)) {
    source = b as SSESource;
    options = c ?? {};
    fromRequest = lastEventId(a);
  } else {
    source = a;
    options = (b as SSEOptions | undefined) ?? {};
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('sse() options must be an object');
  const handler = toHandler(source);
  const { heartbeat = DEFAULT_HEARTBEAT_MS, comment = 'ok', retry, lastEventId: given, headers, ...rest } = options;
  if (typeof heartbeat !== 'number' || !Number.isSafeInteger(heartbeat) || heartbeat < 0) throw new TypeError(`sse() heartbeat must be a non-negative integer (ms), got ${String(heartbeat)}`);
  const preamble = (retry === undefined ? '' : retryLine(retry) + '\n') + (comment === null ? '' : serializeComment(comment));
  const last = given !== undefined ? given : fromRequest;

  const res: StreamingResponse = new StreamingResponse(
    (writer: StreamingWriter) => {
      // Not an async function: a long-lived handler (a Channel subscriber returns HOLD) leaves no
      // pending promise chain here. The heartbeat stops when the response closes.
      const stream = new SSEStream(writer, last, heartbeat);
      if (heartbeat > 0) {
        res.addCloseTarget(stream); // it only has a heartbeat to stop
        startHeartbeat(stream, heartbeat);
      }
      if (preamble !== '') {
        const written = stream.write(preamble);
        if (written !== RESOLVED) return written.then(() => runHandler(handler, stream));
      }
      return runHandler(handler, stream);
    },
    { ...rest, headers: headers ?? SSE_FIELDS, flushHeaders: true },
  );
  // Our headers win over a Content-Type in `headers` (or a contentType option), but other user headers stay.
  if (headers !== undefined || (rest as StreamingOptions).contentType !== undefined) {
    for (const [name, value] of Object.entries(SSE_HEADERS)) res.headers.set(name, value);
  }
  return res;
}

function runHandler(handler: SSEHandler | SSEServer, stream: SSEStream): unknown {
  return typeof handler === 'function' ? handler(stream) : handler.serveStream(stream);
}

/** @internal A handler object (a Channel subscriber): no closure per stream. */
export interface SSEServer {
  serveStream(stream: SSEStream): unknown;
}

function isRequest(value: unknown): value is Request {
  return typeof value === 'object' && value !== null && typeof (value as Request).header === 'function' && typeof (value as Request).method === 'string';
}

function toHandler(source: SSESource | SSEServer): SSEHandler | SSEServer {
  if (typeof source === 'function') return source;
  if (typeof source === 'object' && source !== null && typeof (source as SSEServer).serveStream === 'function') return source as SSEServer;
  if (typeof source === 'object' && source !== null && (Symbol.asyncIterator in source || Symbol.iterator in source)) {
    return async (stream) => {
      for await (const event of source as AsyncIterable<SSEEvent | string>) await stream.send(event);
    };
  }
  throw new TypeError(`sse() needs an async (stream) => {} function or an iterable of events, got ${source === null ? 'null' : typeof source}`);
}
