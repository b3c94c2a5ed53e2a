/**
 * The request object handed to handlers and middleware. The hot path only stores
 * what the core passed in and splits off the path; headers, query, peer address
 * and the abort signal are computed on first access and cached.
 */
import { BodyQueue } from './request-body.js';
import { abortError, CoreError, HttpError } from './errors.js';
import { RequestFlags, type NativeAddress } from './native.js';
import type { Params } from './router.js';
import type { FlowOptions } from './streaming/options.js';

/** What a request needs from the native server (NativeServer satisfies it). */
export interface RequestSource {
  remoteAddress(id: number): NativeAddress;
  pauseBody(id: number): void;
  resumeBody(id: number): void;
}

export type RequestHeaders = Record<string, string>;

const enum State {
  Open,
  /** A streaming response is being sent: a disconnect still aborts the request. */
  Streaming,
  Responded,
  Aborted,
}

export class Request implements AsyncIterable<Buffer> {
  /** Request method as sent, e.g. 'GET'. */
  readonly method: string;
  /** The raw request target, e.g. '/users/1?x=2'. */
  readonly url: string;
  /** The target without its query (still percent-encoded); '/' for an absolute-form target without a path. */
  readonly path: string;
  /** Set by the router; the empty default is created on first read. */
  private routeParams: Params | null = null;

  /** @internal The core's id for this request and its response. */
  readonly nativeId: number;
  /** The pattern of the matched route (e.g. '/users/:id'), or undefined when no route matched. */
  route: string | undefined = undefined;
  /** @internal Stream settings of the matched route. */
  routeOptions: FlowOptions | undefined = undefined;
  private readonly source: RequestSource;
  private readonly rawHeaders: string;
  private readonly flags: number;
  private state = State.Open;
  private abortReason: unknown = null;
  private parsedHeaders: RequestHeaders | null = null;
  private parsedQuery: URLSearchParams | null = null;
  private peer: string | null = null;
  private controller: AbortController | null = null;
  private body: BodyQueue | null = null;
  private bodyEnded = false;
  private bodyClaimed = false;

  /** @internal Created by the app for each request the core reports. */
  constructor(source: RequestSource, id: number, method: string, url: string, rawHeaders: string, flags: number) {
    this.source = source;
    this.nativeId = id;
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.flags = flags;
    this.path = targetPath(url);
  }

  /** Route params, percent-decoded; `*` holds the rest of the path for a wildcard route. */
  get params(): Params {
    return (this.routeParams ??= Object.create(null) as Params);
  }

  set params(params: Params) {
    this.routeParams = params;
  }

  /** @internal The core's request flags (the Upgrade bit is read by WebSocket routes). */
  get upgradeFlags(): number {
    return this.flags;
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
  get ip(): string {
    if (this.peer === null) {
      try {
        this.peer = this.source.remoteAddress(this.nativeId).address;
      } catch {
        return ''; // ECLOSED: not cached, the answer cannot change anyway
      }
    }
    return this.peer;
  }

  /** Aborted when the client goes away before the response has been sent (for a stream: before it ended). */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.state === State.Aborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Whether a body reader has been started. */
  get bodyUsed(): boolean {
    return this.bodyClaimed;
  }

  /** The whole body as a Buffer. */
  async buffer(): Promise<Buffer> {
    return this.claimBody('buffer()').collect();
  }

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

  /** The body as Buffers as they arrive; stopping early discards the rest. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.claimBody('iteration');
  }

  /** @internal Whether the request still awaits its response. */
  get open(): boolean {
    return this.state === State.Open;
  }

  /** @internal A body chunk from the core. */
  pushBody(chunk: Buffer): void {
    (this.body ??= this.newQueue()).push(chunk);
  }

  /** @internal The core delivered the whole body. */
  endBody(): void {
    this.bodyEnded = true;
    this.body?.end();
  }

  /** @internal The response is being sent; a read still waiting for body can never finish. */
  markResponded(): void {
    if (this.state !== State.Open) return;
    this.state = State.Responded;
    if (!this.bodyEnded) this.body?.fail(new CoreError('ERESPONDED', 'The response was sent before the request body was read'));
  }

  /** @internal A streaming response started; the request stays abortable until it ends. */
  markStreaming(): void {
    if (this.state === State.Open) this.state = State.Streaming;
  }

  /** @internal The connection went away before the response (or its stream) ended: see AbortReason. */
  markAborted(reason: number): void {
    if (this.state !== State.Open && this.state !== State.Streaming) return;
    this.state = State.Aborted;
    this.abortReason = abortError(reason);
    this.controller?.abort(this.abortReason);
    (this.body ??= this.newQueue()).fail(this.abortReason);
  }

  private claimBody(how: string): BodyQueue {
    if (this.bodyClaimed) {
      throw new TypeError(`Request body already read: ${how} cannot read it again (text/json/arrayBuffer/buffer/iteration each consume it)`);
    }
    this.bodyClaimed = true;
    const queue = (this.body ??= this.newQueue());
    if (this.state === State.Responded && !this.bodyEnded) {
      queue.fail(new CoreError('ERESPONDED', 'The response was sent before the request body was read'));
    }
    return queue;
  }

  private newQueue(): BodyQueue {
    const queue = new BodyQueue({
      pause: () => this.flowControl('pause'),
      resume: () => this.flowControl('resume'),
    });
    if (this.bodyEnded) queue.end();
    return queue;
  }

  private flowControl(action: 'pause' | 'resume'): void {
    if (this.state !== State.Open && this.state !== State.Streaming) return;
    try {
      if (action === 'pause') this.source.pauseBody(this.nativeId);
      else this.source.resumeBody(this.nativeId);
    } catch {
      // ECLOSED: the connection is gone and onAbort is on its way.
    }
  }
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
