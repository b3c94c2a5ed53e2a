/**
 * Response encoding: a response value as the core's calls take it. A fixed response is
 * checked (status, body type) and its headers become the `Name: value\r\n` block, without the
 * fields the core writes itself (respond()); a streamed one becomes a StreamSession's spec
 * (streamStart() and the source). A handler's string or plain JSON, the common answers, use
 * a ready-made block. A response that is never sent (its client left first) releases the
 * stream source it holds.
 */
import { RespondFlags } from './native.js';
import { APPLICATION_JSON, HttpResponse, TEXT_PLAIN } from './response.js';
import { checkStatus, isBodilessStatus } from './status.js';
import type { ResolvedFlow } from './streaming/options.js';
import { StreamBody } from './streaming/response-body.js';
import { StreamingResponse } from './streaming/response.js';
import type { SessionSpec } from './streaming/session.js';
import { discardSource, isStreamLike } from './streaming/source.js';

/** Fields the core writes itself; an application copy would duplicate or contradict them. */
export const CORE_FIELDS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);
/** The block of a handler's string. */
export const TEXT_BLOCK = `Content-Type: ${TEXT_PLAIN}\r\n`;
/** The block of a handler's plain object or array. */
export const JSON_BLOCK = `Content-Type: ${APPLICATION_JSON}\r\n`;

/** A whole (not streamed) response as the core's respond() takes it. */
export interface FixedResponse {
  status: number;
  block: string;
  body: string | Uint8Array | null;
  flags: number;
}

/** Whether a handler's value is sent as JSON without building an HttpResponse: a plain object or an array. */
export function isPlainJson(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Whether the response's body is a stream (it is sent by a StreamSession). */
export function isStreamed(res: HttpResponse): boolean {
  return res.body instanceof StreamBody;
}

/** A response with a fixed body; throws a TypeError for a bad status or body. */
export function encodeFixed(res: HttpResponse): FixedResponse {
  const status = checkStatus(res.status, 'response status');
  let body = res.body;
  let flags = 0;
  if (isBodilessStatus(status)) {
    flags |= RespondFlags.NoContentLength;
    body = null;
  } else if (body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new TypeError('HttpResponse body must be a string, a Uint8Array or null');
  }
  if (/(^|,)\s*close\s*(,|$)/i.test(res.headers.get('connection') ?? '')) flags |= RespondFlags.Close;
  return { status, block: res.headers.toBlock(CORE_FIELDS), body, flags };
}

/** The StreamingResponse of a response with a stream body (a plain HttpResponse given one is wrapped). */
export function asStreamingResponse(res: HttpResponse): StreamingResponse {
  return res instanceof StreamingResponse ? res : new StreamingResponse(res.body as StreamBody, { status: res.status, headers: res.headers });
}

/**
 * The spec of native stream `id` answering a `method` request with `res`, whose body it
 * claims; throws for a bad status. HEAD and bodiless statuses get the headers only.
 */
export function streamSpec(id: number, method: string, res: StreamingResponse, flow: ResolvedFlow): SessionSpec {
  const status = checkStatus(res.status, 'response status');
  const block = res.headers.toBlock(CORE_FIELDS);
  const bodiless = isBodilessStatus(status);
  const { source, mapper } = (res.body as StreamBody).claim();
  return {
    id,
    status,
    block,
    contentLength: bodiless ? -1 : res.contentLength,
    flow,
    flushHeaders: res.flushHeaders,
    noBody: method === 'HEAD' || bodiless,
    source,
    mapper,
    errorRecord: res.errorRecord,
  };
}

/** A response value that will never be sent (the client left first): releases a stream source it holds. */
export function dropResponse(value: unknown): void {
  try {
    if (value instanceof StreamingResponse) value.discard('client-closed', null);
    else if (value instanceof HttpResponse && value.body instanceof StreamBody) value.body.discard(null);
    else if (isStreamLike(value)) discardSource(value as AsyncIterable<unknown>, null);
  } catch {
    // Nothing to release.
  }
}
