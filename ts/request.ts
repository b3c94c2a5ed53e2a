/**
 * The request object handed to handlers and middleware: what the client sent. The hot path
 * only stores what the core passed in and splits off the path; headers and query are parsed
 * on first access and cached. What depends on the connection (the peer's address, the abort
 * signal, the body) comes from the transport that delivered the request: its own request
 * object (ts/exchange.ts) extends this class and implements those members.
 */
import { HttpError } from './errors.js';
import { RequestFlags } from './native.js';
import type { Params } from './router.js';
import { MultipartReader } from './uploads/multipart.js';
import { readForm, type Form, type FormOptions } from './uploads/form.js';
import type { UploadLimits } from './uploads/limits.js';

export type RequestHeaders = Record<string, string>;

/** Reads a request's core flags (set in the class body, where `flags` is visible). */
let flagsOf: (req: Request) => number;

// The fields are assigned in the constructor, not declared with initializers: V8 constructs a
// subclass (the transport's Exchange) about twice as slowly when its base class has fields.
export abstract class Request implements AsyncIterable<Buffer> {
  /** Request method as sent, e.g. 'GET'. */
  declare readonly method: string;
  /** The raw request target, e.g. '/users/1?x=2'. */
  declare readonly url: string;
  /** The target without its query (still percent-encoded); '/' for an absolute-form target without a path. */
  declare readonly path: string;
  /** The pattern of the matched route (e.g. '/users/:id'), or undefined when no route matched. */
  declare route: string | undefined;
  /** Set by the router; the empty default is created on first read. */
  private declare routeParams: Params | null;
  private declare readonly rawHeaders: string;
  private declare readonly flags: number;
  private declare parsedHeaders: RequestHeaders | null;
  private declare parsedQuery: URLSearchParams | null;

  static {
    flagsOf = (req) => req.flags;
  }

  protected constructor(method: string, url: string, rawHeaders: string, flags: number) {
    this.method = method;
    this.url = url;
    this.path = targetPath(url);
    this.route = undefined;
    this.routeParams = null;
    this.rawHeaders = rawHeaders;
    this.flags = flags;
    this.parsedHeaders = null;
    this.parsedQuery = null;
  }

  /** Route params, percent-decoded; `*` holds the rest of the path for a wildcard route. */
  get params(): Params {
    return (this.routeParams ??= Object.create(null) as Params);
  }

  set params(params: Params) {
    this.routeParams = params;
  }

  /** '1.0' or '1.1'. */
  get httpVersion(): '1.0' | '1.1' {
    return this.flags & RequestFlags.Http10 ? '1.0' : '1.1';
  }

  /** Query string parameters. */
  get query(): URLSearchParams {
    if (this.parsedQuery === null) {
      const q = this.url.indexOf('?');
      this.parsedQuery = new URLSearchParams(q === -1 ? '' : this.url.slice(q + 1));
    }
    return this.parsedQuery;
  }

  /** Header fields by lowercase name; repeated fields joined with ", " (Cookie with "; "). */
  get headers(): RequestHeaders {
    return (this.parsedHeaders ??= parseHeaders(this.rawHeaders));
  }

  /** One header's value (any case), or undefined. */
  header(name: string): string | undefined {
    const key = name.toLowerCase();
    // Before `headers` was read, one field is found in the raw block without parsing (and keeping) them all.
    return this.parsedHeaders !== null ? this.parsedHeaders[key] : findHeader(this.rawHeaders, key);
  }

  /** The peer's address, or '' once the connection is gone. */
  abstract get ip(): string;

  /** Aborted when the client goes away before the response has been sent (for a stream: before it ended). */
  abstract get signal(): AbortSignal;

  /** Whether a body reader has been started. */
  abstract get bodyUsed(): boolean;

  /** The whole body as a Buffer. */
  abstract buffer(): Promise<Buffer>;

  /** The whole body decoded as UTF-8. */
  async text(): Promise<string> {
    return (await this.buffer()).toString('utf8');
  }

  /** The body parsed as JSON; invalid JSON is an HttpError 400. */
  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new HttpError(400, `Invalid JSON body: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The whole body in a fresh ArrayBuffer. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    const buf = await this.buffer();
    const out = new ArrayBuffer(buf.length);
    new Uint8Array(out).set(buf);
    return out;
  }

  /**
   * The parts of a multipart/form-data body as they arrive: fields, and file parts whose bytes
   * are a stream (read each one, or leave it untouched to skip it, before the next part).
   * 415 for another Content-Type, 400 for a malformed body, 413 for an exceeded limit
   * (see UploadLimits). Consumes the body.
   */
  multipart(limits?: UploadLimits): MultipartReader {
    return new MultipartReader(this, limits, { urlencoded: false });
  }

  /**
   * A whole form: urlencoded or multipart fields, and file parts saved to `uploadDir` under
   * generated names (a file part without uploadDir answers 413). Files of a failed upload are
   * deleted. Consumes the body.
   */
  form(options?: FormOptions): Promise<Form> {
    return readForm(this, options);
  }

  /** The body as Buffers as they arrive; stopping early discards the rest. */
  abstract [Symbol.asyncIterator](): AsyncIterator<Buffer>;
}

/** The core's flags of `req` (RequestFlags): WebSocket routes read the Upgrade bit. */
export function requestFlags(req: Request): number {
  return flagsOf(req);
}

/** The path of a request target: origin-form up to '?', absolute-form minus scheme and authority. */
export function targetPath(url: string): string {
  if (url.charCodeAt(0) === 47 /* '/' */) {
    const q = url.indexOf('?');
    return q === -1 ? url : url.slice(0, q);
  }
  const scheme = url.indexOf('://');
  if (scheme === -1) return url; // '*' (OPTIONS) or authority-form (CONNECT): matches no route
  const slash = url.indexOf('/', scheme + 3);
  const q = url.indexOf('?', scheme + 3);
  if (slash === -1 || (q !== -1 && q < slash)) return '/';
  return url.slice(slash, q === -1 ? undefined : q);
}

/** The value of the lowercase field `key` in the core's block, joined like parseHeaders does; undefined when absent. */
export function findHeader(raw: string, key: string): string | undefined {
  let out: string | undefined;
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf('\r\n', start);
    if (end === -1) end = raw.length;
    const colon = raw.indexOf(':', start);
    if (colon !== -1 && colon < end && colon - start === key.length && raw.slice(start, colon).toLowerCase() === key) {
      const value = raw.slice(colon + 1, end).trim();
      out = out === undefined ? value : out + (key === 'cookie' ? '; ' : ', ') + value;
    }
    start = end + 2;
  }
  return out;
}

/** Parses the core's `Name: value\r\n` block into a null-prototype record. */
export function parseHeaders(raw: string): RequestHeaders {
  const headers: RequestHeaders = Object.create(null);
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf('\r\n', start);
    if (end === -1) end = raw.length;
    const colon = raw.indexOf(':', start);
    if (colon !== -1 && colon < end) {
      const name = raw.slice(start, colon).toLowerCase();
      const value = raw.slice(colon + 1, end).trim();
      const prior = headers[name];
      headers[name] = prior === undefined ? value : prior + (name === 'cookie' ? '; ' : ', ') + value;
    }
    start = end + 2;
  }
  return headers;
}
