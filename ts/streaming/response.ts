/**
 * `StreamingResponse`: an HttpResponse whose body is produced while it is sent.
 *
 *   new StreamingResponse(source, { status, headers, contentType, contentLength,
 *     highWaterMark, lowWaterMark, stallTimeout, flushHeaders, errorRecord,
 *     onStart, onDrain, onBackpressure, onClose, onError })
 *
 * The source is a sync or async iterable (generators), a WHATWG ReadableStream, a Node
 * Readable, or `async (writer) => {...}`. Middleware can stack chunk transformations
 * (`mapChunks`, `transformBody`) and completion listeners (`onClose`) before it is sent.
 */
import { ResponseHeaders } from '../headers.js';
import type { NativeStreamStats } from '../native.js';
import { HttpResponse, OCTET_STREAM, type HttpResponseInit } from '../response.js';
import { StreamBody, type BodyTransform, type ChunkMap } from './response-body.js';
import { checkFlow, type FlowOptions } from './options.js';
import type { StreamSource } from './source.js';
import type { WriterCallback } from './writer.js';
import type { CloseReason, SessionEvents, StreamSession } from './session.js';
import { emptyStats } from './stats.js';

export type CloseListener = (reason: CloseReason, stats: NativeStreamStats) => void;

export interface StreamHooks {
  /** The native stream started (headers are about to leave, or left with flushHeaders). */
  onStart?(): void;
  /** The queue fell to the low watermark after a backpressure event. */
  onDrain?(): void;
  /** A write took the queue over the high watermark: the producer is paused. */
  onBackpressure?(): void;
  /** Once, after the stream ended: 'finished', 'client-closed', 'error', 'timeout', 'closed' or 'shed' (see CloseReason). */
  onClose?: CloseListener;
  /** The source failed, the writer aborted with an error, or the body overran/underran its Content-Length. */
  onError?(err: unknown): void;
}

export interface StreamingOptions extends FlowOptions, StreamHooks, HttpResponseInit {
  /** Sets Content-Type (default application/octet-stream unless `headers` has one). */
  contentType?: string;
  /** Declares the body length: Content-Length framing; a mismatch aborts the connection. */
  contentLength?: number;
  /** Send the status line and headers at once instead of with the first chunk (then errors can no longer become a 500). */
  flushHeaders?: boolean;
  /** On a mid-stream error, this record is written (in the stream's own format) before the connection is aborted. */
  errorRecord?: (err: unknown) => string | Uint8Array | null | undefined;
}

/** Logger used for errors thrown by hooks (set by the transport). */
export type HookLogger = (err: unknown) => void;

/** @internal Told when a response ended (an object, so a subscriber needs no closure per response). */
export interface CloseTarget {
  responseClosed(reason: CloseReason): void;
}

const HOOK_NAMES = ['onStart', 'onDrain', 'onBackpressure', 'onClose', 'onError'] as const;
const noLog: HookLogger = () => {};

/**
 * One validated `Content-Type` field per distinct value, copied into each response's headers
 * (appendAll from a ResponseHeaders copies without validating again). Bounded: past the cap,
 * values are validated per response as before.
 */
const typeFields = new Map<string, ResponseHeaders>();
const TYPE_FIELDS_CAP = 256;

function contentTypeField(type: string): ResponseHeaders {
  let field = typeFields.get(type);
  if (field === undefined) {
    field = new ResponseHeaders().set('Content-Type', type);
    if (typeFields.size < TYPE_FIELDS_CAP) typeFields.set(type, field);
  }
  return field;
}

export class StreamingResponse extends HttpResponse implements SessionEvents {
  declare body: StreamBody | string | Uint8Array | null;
  /** @internal Flow settings given to this response. */
  readonly flow: FlowOptions;
  /** @internal */
  readonly contentLength: number;
  /** @internal */
  readonly flushHeaders: boolean;
  /** @internal */
  readonly errorRecord: ((err: unknown) => unknown) | null;
  /** @internal The body this response was created with (released if middleware replaced it). */
  readonly originalBody: StreamBody;
  /** The options' hooks; null when none was given (the common case). */
  private readonly hooks: StreamHooks | null;
  /**
   * onClose() listeners and close targets: the one there is, or an exactly sized array of them
   * (a response has one to three and may keep them for hours: an SSE subscriber).
   */
  private listeners: CloseListener | CloseTarget | Array<CloseListener | CloseTarget> | null = null;
  private session: StreamSession | null = null;
  private reason: CloseReason | null = null;
  /** Final counters; null after the end too until someone asks (then taken from the session). */
  private finalStats: NativeStreamStats | null = null;
  private logHookError: HookLogger = noLog;

  constructor(source: StreamSource | StreamBody, options: StreamingOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('StreamingResponse options must be an object');
    super(null, options);
    const body = source instanceof StreamBody ? source : new StreamBody(source);
    this.body = body;
    this.originalBody = body;
    this.flow = checkFlow(options, 'StreamingResponse options');
    const contentType = options.contentType;
    if (options.headers === undefined) {
      // No header of the application's: Content-Type is the only field, and there is no Content-Length.
      if (typeof contentType === 'string' || contentType === undefined) this.headers.appendAll(contentTypeField(contentType ?? OCTET_STREAM));
      else this.headers.set('Content-Type', contentType);
      this.contentLength = declaredLength(options.contentLength, null);
    } else {
      if (contentType !== undefined) this.headers.set('Content-Type', contentType);
      else if (!this.headers.has('content-type')) this.headers.set('Content-Type', OCTET_STREAM);
      this.contentLength = declaredLength(options.contentLength, this.headers);
    }
    this.flushHeaders = options.flushHeaders === true;
    if (options.errorRecord !== undefined && typeof options.errorRecord !== 'function') throw new TypeError('errorRecord must be a function');
    this.errorRecord = options.errorRecord ?? null;
    const { onStart, onDrain, onBackpressure, onClose, onError } = options;
    if (onStart === undefined && onDrain === undefined && onBackpressure === undefined && onClose === undefined && onError === undefined) {
      this.hooks = null;
    } else {
      for (const name of HOOK_NAMES) {
        if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`StreamingResponse option ${name} must be a function`);
      }
      this.hooks = { onStart, onDrain, onBackpressure, onClose, onError };
    }
  }

  /** Maps every chunk (synchronously) before it is sent; returning null or undefined drops it. */
  mapChunks(fn: ChunkMap): this {
    this.streamBody('mapChunks()').mapChunks(fn);
    return this;
  }

  /** Replaces the chunk sequence with `fn(chunks)` (e.g. an async generator over it). */
  transformBody(fn: BodyTransform): this {
    this.streamBody('transformBody()').transform(fn);
    return this;
  }

  /** Calls `cb(reason, stats)` once the stream ended (after the options' onClose). */
  onClose(cb: CloseListener): this {
    if (typeof cb !== 'function') throw new TypeError(`onClose() needs a function, got ${typeof cb}`);
    if (this.reason !== null) queueMicrotask(() => this.callHook(cb, this.reason!, this.stats));
    else this.listen(cb);
    return this;
  }

  /** Live counters while streaming, the last snapshot once ended, zeros before the start. */
  get stats(): NativeStreamStats {
    if (this.finalStats !== null) return this.finalStats;
    if (this.reason !== null) return (this.finalStats = this.session?.stats() ?? emptyStats());
    return this.session?.stats() ?? emptyStats();
  }

  /** Why the stream ended, or null while it runs (or before it started). */
  get closeReason(): CloseReason | null {
    return this.reason;
  }

  /** @internal Binds the response to its native session. */
  attach(session: StreamSession, logHookError: HookLogger): void {
    if (this.session !== null) throw new TypeError('This StreamingResponse was already sent; create one per request');
    this.session = session;
    this.logHookError = logHookError;
  }

  /** @internal The response will never be sent (client gone first, or replaced by middleware). */
  discard(reason: CloseReason, cause: unknown): void {
    if (this.reason !== null) return;
    this.originalBody.discard(cause);
    if (this.body instanceof StreamBody) this.body.discard(cause);
    this.close(reason, emptyStats());
  }

  /**
   * @internal Like onClose(), for framework objects (an SSE stream, a Channel subscriber):
   * `target.responseClosed(reason)` once the stream ended, with no closure per response.
   */
  addCloseTarget(target: CloseTarget): void {
    if (this.reason !== null) queueMicrotask(() => this.notifyTarget(target, this.reason!));
    else this.listen(target);
  }

  // ---- SessionEvents ----
  /** @internal */
  start(): void {
    const hook = this.hooks?.onStart;
    if (hook) this.callHook(hook);
  }
  /** @internal */
  drain(): void {
    const hook = this.hooks?.onDrain;
    if (hook) this.callHook(hook);
  }
  /** @internal */
  backpressure(): void {
    const hook = this.hooks?.onBackpressure;
    if (hook) this.callHook(hook);
  }
  /** @internal */
  error(err: unknown): void {
    const hook = this.hooks?.onError;
    if (hook) this.callHook(hook, err);
  }
  /**
   * @internal `stats` null: the final counters are read from the session only when someone
   * wants them (a hook, a listener, `stats`), so a stream nobody watches builds no object.
   */
  close(reason: CloseReason, stats: NativeStreamStats | null): void {
    if (this.reason !== null) return;
    this.reason = reason;
    this.finalStats = stats;
    const hook = this.hooks?.onClose;
    if (hook) this.callHook(hook, reason, this.stats);
    const listeners = this.listeners;
    if (listeners !== null) {
      this.listeners = null;
      if (Array.isArray(listeners)) for (const cb of listeners) this.tell(cb, reason);
      else this.tell(listeners, reason);
    }
  }

  private listen(entry: CloseListener | CloseTarget): void {
    const old = this.listeners;
    this.listeners = old === null ? entry : Array.isArray(old) ? old.concat([entry]) : [old, entry];
  }

  private tell(cb: CloseListener | CloseTarget, reason: CloseReason): void {
    if (typeof cb === 'function') this.callHook(cb, reason, this.stats);
    else this.notifyTarget(cb, reason);
  }

  private notifyTarget(target: CloseTarget, reason: CloseReason): void {
    try {
      target.responseClosed(reason);
    } catch (err) {
      this.logHookError(err);
    }
  }

  /** Calls a hook with exactly the arguments given; a throw or a rejection is logged. */
  private callHook(fn: (...args: any[]) => unknown, ...args: unknown[]): void {
    try {
      const r = fn(...args);
      if (r instanceof Promise) r.catch((err) => this.logHookError(err));
    } catch (err) {
      this.logHookError(err);
    }
  }

  private streamBody(what: string): StreamBody {
    if (!(this.body instanceof StreamBody)) throw new TypeError(`${what}: the body of this response is no longer a stream`);
    return this.body;
  }
}

/** `stream(async (writer) => {...}, options)`: a StreamingResponse in the writer form. */
export function stream(fn: WriterCallback, options?: StreamingOptions): StreamingResponse {
  if (typeof fn !== 'function') throw new TypeError(`stream() needs an async (writer) => {} function, got ${typeof fn}`);
  return new StreamingResponse(fn, options);
}

function declaredLength(option: number | undefined, headers: ResponseHeaders | null): number {
  if (option !== undefined) {
    if (typeof option !== 'number' || !Number.isSafeInteger(option) || option < 0) {
      throw new TypeError(`contentLength must be a non-negative integer, got ${String(option)}`);
    }
    return option;
  }
  if (headers === null) return -1;
  const header = headers.get('content-length');
  if (header === null || header === undefined) return -1;
  if (!/^\d{1,15}$/.test(header.trim())) throw new TypeError(`Invalid Content-Length header ${JSON.stringify(header)} on a streaming response`);
  return Number(header.trim());
}
