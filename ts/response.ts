/**
 * `HttpResponse`, the one response shape the framework works with, its helpers
 * (text, json, html, status, redirect). ts/normalize.ts turns whatever a handler
 * returns (`ResponseLike`) into an HttpResponse.
 */
import { ResponseHeaders, type HeadersInit } from './headers.js';
import { checkStatus } from './status.js';
import type { StreamBody } from './streaming/response-body.js';

/**
 * A response body: in memory (string, bytes, null), or a StreamBody for a
 * StreamingResponse (see ts/streaming/). Middleware may replace it.
 */
export type ResponseBody = string | Uint8Array | null | StreamBody;

export interface HttpResponseInit {
  /** Defaults to 200. */
  status?: number;
  headers?: HeadersInit;
}

/**
 * What a handler or middleware may return:
 * string -> text/plain, Uint8Array/Buffer/ArrayBuffer -> application/octet-stream,
 * plain object or array -> JSON, a WHATWG Response, an HttpResponse, or nothing -> 204.
 */
export type ResponseLike =
  | HttpResponse
  | Response
  | string
  | Uint8Array
  | ArrayBuffer
  | object
  | null
  | undefined
  | void;

export const TEXT_PLAIN = 'text/plain; charset=utf-8';
export const APPLICATION_JSON = 'application/json; charset=utf-8';
export const TEXT_HTML = 'text/html; charset=utf-8';
export const OCTET_STREAM = 'application/octet-stream';

/** A response: status, headers (sent with their case kept) and body. All three may be changed by middleware. */
export class HttpResponse {
  status: number;
  readonly headers: ResponseHeaders;
  body: ResponseBody;

  /** A string body defaults Content-Type to text/plain, a byte body to application/octet-stream. */
  constructor(body: string | Uint8Array | null = null, init: HttpResponseInit = {}) {
    this.status = init.status === undefined ? 200 : checkStatus(init.status, 'status');
    this.headers = new ResponseHeaders(init.headers);
    this.body = checkBody(body);
    if (body !== null && !this.headers.has('content-type')) {
      this.headers.set('Content-Type', typeof body === 'string' ? TEXT_PLAIN : OCTET_STREAM);
    }
  }
}

function checkBody(body: unknown): string | Uint8Array | null {
  if (body === null || typeof body === 'string' || body instanceof Uint8Array) return body;
  throw new TypeError(`HttpResponse body must be a string, a Uint8Array or null, got ${describe(body)}`);
}

function withType(init: HttpResponseInit | undefined, type: string): HttpResponseInit {
  const headers = new ResponseHeaders(init?.headers);
  if (!headers.has('content-type')) headers.set('Content-Type', type);
  return { status: init?.status, headers };
}

/** A text/plain response. */
export function text(body: string, init?: HttpResponseInit): HttpResponse {
  return new HttpResponse(String(body), withType(init, TEXT_PLAIN));
}

/** A JSON response; throws a TypeError for values JSON cannot represent (undefined, functions). */
export function json(value: unknown, init?: HttpResponseInit): HttpResponse {
  const body = JSON.stringify(value);
  if (body === undefined) throw new TypeError(`json(): ${describe(value)} has no JSON representation`);
  return new HttpResponse(body, withType(init, APPLICATION_JSON));
}

/** A text/html response. */
export function html(body: string, init?: HttpResponseInit): HttpResponse {
  return new HttpResponse(String(body), withType(init, TEXT_HTML));
}

/** A response with `code` and an optional body (none by default). */
export function status(code: number, body: string | Uint8Array | null = null, init?: Omit<HttpResponseInit, 'status'>): HttpResponse {
  return new HttpResponse(body, { headers: init?.headers, status: checkStatus(code, 'status code') });
}

/** A redirect to `location` (any 3xx, 302 by default). */
export function redirect(location: string | URL, code = 302): HttpResponse {
  checkStatus(code, 'redirect status', 300, 399);
  return new HttpResponse(null, { status: code, headers: { Location: String(location) } });
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object of class ${value.constructor?.name ?? 'null-prototype'}`;
  return `a value of type ${typeof value}`;
}
