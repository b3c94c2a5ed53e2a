/**
 * Source adaptation: every kind of stream source becomes a `Puller` with one
 * `pull()` (a result at once for sync sources, a promise for async ones) and one
 * `cancel()` that stops the source early: `return()` on iterators (generators run
 * their `finally`), `cancel()` on WHATWG ReadableStreams, `destroy()` on Node streams.
 */
import type { Readable } from 'node:stream';
import type { WriterCallback } from './writer.js';

/** A writer callback is one kind of source (its type lives with StreamingWriter). */
export type { WriterCallback };

/**
 * What a streaming response can be built from. Chunks must be strings or bytes;
 * a string or byte source is sent as a single chunk.
 */
export type StreamSource =
  | Iterable<unknown>
  | AsyncIterable<unknown>
  | ReadableStream<unknown>
  | Readable
  | WriterCallback
  | PullerSource
  | string
  | Uint8Array;

export type PullResult = IteratorResult<unknown>;

const kPuller = Symbol('catzilla.puller');

/** A source that is already a Puller (used internally, e.g. for a peeked Response body). */
export interface PullerSource {
  readonly [kPuller]: Puller;
}

export function pullerSource(puller: Puller): PullerSource {
  return { [kPuller]: puller };
}

function isPullerSource(value: unknown): value is PullerSource {
  return typeof value === 'object' && value !== null && kPuller in value;
}

export interface Puller {
  /** The next result: synchronous for sync sources, a promise for async ones. May throw. */
  pull(): PullResult | PromiseLike<PullResult>;
  /** Stops the source early. Idempotent, never throws, ignores late rejections. */
  cancel(reason: unknown): void;
  /**
   * Offered by the one consumer that copies each value before it pulls again (the pump, with
   * no mapper): the puller may then hand views of memory it reuses. True when it will.
   */
  lend?(): boolean;
}

const DONE: PullResult = Object.freeze({ done: true, value: undefined }) as PullResult;
const noop = (): void => {};

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** A Node.js Readable (or anything shaped like one). */
export function isNodeReadable(value: unknown): value is Readable {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<Readable>;
  return typeof r.read === 'function' && typeof r.on === 'function' && typeof r.destroy === 'function' && typeof r.pipe === 'function';
}

export function isReadableStream(value: unknown): value is ReadableStream<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as ReadableStream).getReader === 'function';
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

/** A generator object (sync); other sync iterables returned from a handler (arrays...) stay JSON. */
export function isGenerator(value: unknown): value is Generator<unknown> {
  return Object.prototype.toString.call(value) === '[object Generator]';
}

/** Whether a value returned directly from a handler is streamed: a Node Readable, a ReadableStream, an async iterable or a generator. */
export function isStreamLike(value: unknown): boolean {
  return isNodeReadable(value) || isReadableStream(value) || isAsyncIterable(value) || isGenerator(value);
}

/** Throws a TypeError unless `source` is a supported stream source. */
export function checkSource(source: unknown): StreamSource {
  if (typeof source === 'function' || typeof source === 'string' || source instanceof Uint8Array) return source as StreamSource;
  if (isPullerSource(source)) return source;
  if (isNodeReadable(source) || isReadableStream(source) || isAsyncIterable(source)) return source;
  if (typeof source === 'object' && source !== null && typeof (source as Iterable<unknown>)[Symbol.iterator] === 'function') return source as Iterable<unknown>;
  throw new TypeError(
    `A stream source must be an iterable, an async iterable, a ReadableStream, a Node Readable or an async (writer) => {} function, got ${source === null ? 'null' : typeof source}`,
  );
}

/** A Puller over a pull source (not a writer callback). */
export function openPuller(source: Exclude<StreamSource, WriterCallback>): Puller {
  if (typeof source === 'string' || source instanceof Uint8Array) return new IteratorPuller([source][Symbol.iterator]());
  if (isPullerSource(source)) return source[kPuller];
  if (isNodeReadable(source)) return new NodeReadablePuller(source);
  if (isReadableStream(source)) return new ReaderPuller(source.getReader());
  if (isAsyncIterable(source)) return new IteratorPuller(source[Symbol.asyncIterator]());
  return new IteratorPuller((source as Iterable<unknown>)[Symbol.iterator]());
}

/** Releases a source that will never be read (HEAD, a response dropped before it started). */
export function discardSource(source: StreamSource, reason: unknown): void {
  try {
    if (typeof source === 'function' || typeof source === 'string' || source instanceof Uint8Array) return;
    if (isPullerSource(source)) source[kPuller].cancel(reason);
    else if (isNodeReadable(source)) source.destroy();
    else if (isReadableStream(source)) {
      if (!source.locked) source.cancel(reason).then(noop, noop);
    } else if (isGenerator(source) || Object.prototype.toString.call(source) === '[object AsyncGenerator]') {
      const r = (source as Generator<unknown> | AsyncGenerator<unknown>).return(undefined);
      if (isThenable(r)) r.then(noop, noop);
    }
  } catch {
    // A source that fails to release itself has nothing more to give.
  }
}

/** Sync or async iterators, generators included. */
export class IteratorPuller implements Puller {
  private cancelled = false;
  constructor(private readonly it: Iterator<unknown> | AsyncIterator<unknown>) {}

  pull(): PullResult | PromiseLike<PullResult> {
    return this.it.next();
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    try {
      const r = this.it.return?.();
      if (isThenable(r)) r.then(noop, noop);
    } catch {
      // return() of a running or broken iterator: nothing more can be done.
    }
  }
}

/** A WHATWG ReadableStream reader, optionally with results already read (by the Response peek). */
export class ReaderPuller implements Puller {
  private cancelled = false;
  constructor(
    private readonly reader: ReadableStreamDefaultReader<unknown>,
    private readonly head: PullResult[] = [],
    private pending: Promise<PullResult> | null = null,
  ) {}

  pull(): PullResult | PromiseLike<PullResult> {
    if (this.head.length > 0) return this.head.shift()!;
    if (this.pending !== null) {
      const p = this.pending;
      this.pending = null;
      return p;
    }
    return this.reader.read();
  }

  cancel(reason: unknown): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.pending?.then(noop, noop);
    try {
      this.reader.cancel(reason).then(noop, noop);
    } catch {
      // Already released or errored.
    }
  }
}

/**
 * A Node Readable in paused mode: buffered data is returned synchronously (all of it
 * in one read()), so a fast stream costs no promise per chunk.
 */
export class NodeReadablePuller implements Puller {
  private ended = false;
  private failure: unknown = null;
  private cancelled = false;
  private waiter: { resolve(r: PullResult): void; reject(err: unknown): void } | null = null;

  constructor(private readonly stream: Readable) {
    stream.on('readable', this.onReadable);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
    stream.on('close', this.onClose);
    if (stream.errored) this.failure = stream.errored;
    else if (stream.readableEnded) this.ended = true;
  }

  pull(): PullResult | PromiseLike<PullResult> {
    if (this.failure !== null) throw this.failure;
    const chunk = this.stream.read();
    if (chunk !== null) return { done: false, value: chunk };
    if (this.ended) return DONE;
    return new Promise<PullResult>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.waiter = null;
    this.stream.off('readable', this.onReadable);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onClose);
    // The error listener stays: destroy() must not turn into an uncaught 'error'.
    try {
      this.stream.destroy();
    } catch {
      // Already destroyed.
    }
  }

  private readonly onReadable = (): void => {
    const waiter = this.waiter;
    if (waiter === null) return;
    const chunk = this.stream.read();
    if (chunk === null) return; // 'end' follows
    this.waiter = null;
    waiter.resolve({ done: false, value: chunk });
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.resolve(DONE);
  };

  private readonly onError = (err: unknown): void => {
    if (this.cancelled) return;
    this.failure = err;
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.reject(err);
  };

  /** Destroyed without an error and without 'end': the body is incomplete. */
  private readonly onClose = (): void => {
    if (this.ended || this.failure !== null || this.cancelled) return;
    this.onError(new Error('The Node.js Readable was destroyed before it ended'));
  };
}

/** Every value of a Puller as an async iterable; stopping early cancels the source. */
export async function* iteratePuller(puller: Puller): AsyncGenerator<unknown, void, undefined> {
  let finished = false;
  try {
    for (;;) {
      const r = await puller.pull();
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } catch (err) {
    finished = true; // the source failed by itself
    throw err;
  } finally {
    if (!finished) puller.cancel(new Error('stream consumer stopped'));
  }
}
