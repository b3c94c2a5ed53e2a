/**
 * A writer callback seen as a pull source, so a body transform can wrap a
 * writer-form stream too. It holds at most about PULLER_HIGH_WATER_MARK
 * bytes: past that, the writer's `write()` waits until the consumer pulled.
 */
import { abortError, StreamCancel } from '../errors.js';
import { AbortReason, type NativeStreamStats } from '../native.js';
import { checkChunk, chunkSize, type Chunk } from './chunk.js';
import type { Puller, PullResult } from './source.js';
import { emptyStats } from './stats.js';
import { closedError, StreamingWriter, type WriterBackend, type WriterCallback } from './writer.js';

export const PULLER_HIGH_WATER_MARK = 16 * 1024;

const DONE: PullResult = { done: true, value: undefined };

type Waiter<T> = { resolve(value: T): void; reject(err: unknown): void };

export function writerPuller(fn: WriterCallback): Puller {
  return new WriterPuller(fn);
}

class WriterPuller implements Puller, WriterBackend {
  private readonly queue: Chunk[] = [];
  private queued = 0;
  private state: 'idle' | 'open' | 'closed' | 'aborted' = 'idle';
  private failure: unknown = null;
  private reader: Waiter<PullResult> | null = null;
  private drainWaiters: Waiter<void>[] = [];
  private endWaiters: Array<() => void> = [];
  private controller: AbortController | null = null;
  private readonly counters = emptyStats();

  constructor(private readonly fn: WriterCallback) {}

  // ---- Puller (the transform side) ----
  pull(): PullResult | PromiseLike<PullResult> {
    if (this.state === 'idle') {
      this.state = 'open';
      new StreamingWriter(this).run(this.fn);
    }
    if (this.queue.length > 0) {
      const chunk = this.queue.shift()!;
      this.queued -= chunkSize(chunk);
      if (this.queued < PULLER_HIGH_WATER_MARK) this.releaseDrains();
      return { done: false, value: chunk };
    }
    if (this.failure !== null) throw this.failure;
    if (this.state !== 'open') return DONE;
    return new Promise<PullResult>((resolve, reject) => {
      this.reader = { resolve, reject };
    });
  }

  cancel(reason: unknown): void {
    if (this.state === 'closed' || this.state === 'aborted') return;
    this.state = 'aborted';
    this.queue.length = 0;
    this.queued = 0;
    (this.controller ??= new AbortController()).abort(reason ?? abortError(AbortReason.ClientClosed));
    this.settle();
  }

  // ---- WriterBackend (the writer side) ----
  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  get writerState(): 'open' | 'closed' | 'aborted' {
    return this.state === 'idle' ? 'open' : this.state;
  }

  push(value: unknown): boolean {
    if (this.state !== 'open') throw closedError('the stream is closed');
    const chunk = checkChunk(value);
    this.counters.chunks++;
    this.counters.bytes += chunkSize(chunk);
    const reader = this.reader;
    if (reader !== null) {
      this.reader = null;
      reader.resolve({ done: false, value: chunk });
      return true;
    }
    this.queue.push(chunk);
    this.queued += chunkSize(chunk);
    return this.queued < PULLER_HIGH_WATER_MARK;
  }

  flush(): void {}

  end(): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.settle();
  }

  /** abort() without an error is the application's close: it reaches the stream as a StreamCancel ('closed'), not as a failure. */
  abort(err: unknown): void {
    if (this.state !== 'open') return;
    this.fail(err ?? new StreamCancel('closed'));
  }

  runFailed(err: unknown): void {
    this.fail(err);
  }

  waitDrain(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(closedError('the stream is closed'));
    return new Promise<void>((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  whenEnded(): Promise<void> {
    if (this.state === 'closed' || this.state === 'aborted') return Promise.resolve();
    return new Promise<void>((resolve) => this.endWaiters.push(resolve));
  }

  stats(): NativeStreamStats {
    return { ...this.counters };
  }

  private fail(err: unknown): void {
    if (this.state === 'closed' || this.state === 'aborted') return;
    this.state = 'aborted';
    this.failure = err;
    (this.controller ??= new AbortController()).abort(err);
    this.settle();
  }

  /** Wakes the reader and every waiter after the stream ended. */
  private settle(): void {
    const reader = this.reader;
    this.reader = null;
    if (reader !== null) {
      if (this.failure !== null) reader.reject(this.failure);
      else reader.resolve(DONE);
    }
    const drains = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of drains) w.reject(closedError('the stream is closed'));
    const ends = this.endWaiters;
    this.endWaiters = [];
    for (const resolve of ends) resolve();
  }

  private releaseDrains(): void {
    const drains = this.drainWaiters;
    if (drains.length === 0) return;
    this.drainWaiters = [];
    for (const w of drains) w.resolve();
  }
}
