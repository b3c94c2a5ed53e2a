/**
 * The HttpResponse for whatever a handler or middleware returned (`ResponseLike`):
 * string -> text/plain, bytes -> application/octet-stream, plain object or array ->
 * JSON, null/undefined -> 204, HttpResponse as is, a WHATWG Response -> its status,
 * headers and body (small bodies buffered, real streams streamed), and, streamed with
 * default options: a Node Readable, a WHATWG ReadableStream, an async iterable
 * (async generator) or a generator object.
 */
import { ResponseHeaders } from './headers.js';
import { describe, HttpResponse, json } from './response.js';
import { StreamingResponse } from './streaming/response.js';
import { isStreamLike, pullerSource, ReaderPuller, type PullResult } from './streaming/source.js';
import { isBodilessStatus } from './status.js';

/** Synchronous for everything but a WHATWG Response, whose body is peeked first. */
export function toHttpResponse(value: unknown): HttpResponse | Promise<HttpResponse> {
  if (value instanceof HttpResponse) return value;
  if (typeof value === 'string') return new HttpResponse(value);
  if (value === null || value === undefined) return new HttpResponse(null, { status: 204 });
  if (value instanceof Uint8Array) return new HttpResponse(value);
  if (ArrayBuffer.isView(value)) return new HttpResponse(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  if (value instanceof ArrayBuffer) return new HttpResponse(new Uint8Array(value));
  if (isWhatwgResponse(value)) return fromWhatwgResponse(value);
  if (isStreamLike(value)) return new StreamingResponse(value as AsyncIterable<unknown>);
  if (typeof value === 'object') return json(value);
  throw new TypeError(`A handler returned ${describe(value)}; expected a string, bytes, an object, a Response, an HttpResponse, a stream or nothing`);
}

/** Framing headers the core computes itself; copying them from a Response would duplicate or contradict them. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

/**
 * Every Response body is a ReadableStream, even `new Response('text')`. The body is
 * read until it ends or until the end of the current loop turn: a body complete by
 * then (a string, a buffer) is sent with Content-Length; anything slower is streamed
 * from where the peek stopped, so the first chunk of a live stream is not held back.
 */
async function fromWhatwgResponse(res: Response): Promise<HttpResponse> {
  if (res.type === 'error' || res.status === 0) {
    throw new TypeError('A handler returned Response.error() (a network error), which cannot be sent');
  }
  const headers = new ResponseHeaders(res.headers);
  const declared = headers.get('content-length');
  for (const name of FRAMING) headers.delete(name);
  // Built field by field so a Response without Content-Type does not get a default one.
  const out = new HttpResponse(null, { status: res.status, headers });
  if (res.body === null || isBodilessStatus(res.status)) return out;

  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  for (;;) {
    const read = reader.read();
    const r = await Promise.race([read, nextCheck()]);
    if (r === TURN_OVER) return streamed(out, reader, parts, read, declared);
    if (r.done) break;
    parts.push(r.value);
  }
  out.body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return out;
}

const TURN_OVER = Symbol('turn over');
let pendingCheck: Promise<typeof TURN_OVER> | null = null;

/** One shared promise per check phase, resolved by setImmediate. */
function nextCheck(): Promise<typeof TURN_OVER> {
  return (pendingCheck ??= new Promise((resolve) =>
    setImmediate(() => {
      pendingCheck = null;
      resolve(TURN_OVER);
    }),
  ));
}

function streamed(
  out: HttpResponse,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  parts: Uint8Array[],
  pending: Promise<ReadableStreamReadResult<Uint8Array>>,
  declared: string | null,
): StreamingResponse {
  const head: PullResult[] = parts.map((value) => ({ done: false, value }));
  const puller = new ReaderPuller(reader as ReadableStreamDefaultReader<unknown>, head, pending as Promise<PullResult>);
  const res = new StreamingResponse(pullerSource(puller), {
    status: out.status,
    headers: out.headers,
    contentLength: declared !== null && /^\d{1,15}$/.test(declared) ? Number(declared) : undefined,
  });
  if (!out.headers.has('content-type')) res.headers.delete('content-type'); // as the Response had it
  return res;
}

/** Structural check too, so a Response from another fetch implementation (undici package) also works. */
function isWhatwgResponse(value: unknown): value is Response {
  // Shape first: reading the global Response loads Node's fetch implementation (undici, with
  // http2, tls, crypto and zlib behind it: megabytes of RSS), which an app that never sees a
  // Response should not pay.
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<Response>;
  if (typeof r.arrayBuffer !== 'function') return false;
  if (typeof Response === 'function' && value instanceof Response) return true;
  return typeof r.status === 'number' && typeof r.headers?.forEach === 'function' && 'body' in r;
}
