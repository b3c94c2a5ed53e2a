/**
 * A compressed view of a chunk sequence, used as a streaming body's transform.
 *
 * Record-aware flushing: every chunk the producers of this project emit ends on a
 * record boundary (an SSE event, NDJSON lines, CSV rows, a writer's write). After input
 * arrives, a sync flush (Z_SYNC_FLUSH, or BROTLI_OPERATION_FLUSH) follows within
 * `window` ms, so no record waits in the compressor longer than that, while a burst of
 * records within the window shares one flush (a flush costs ratio and a few bytes).
 * Flushes only ever happen between chunks, so they fall on record boundaries.
 *
 * Flow: input is read only while less than OUT_HIGH compressed bytes wait for the
 * consumer, and written to zlib in batches of WRITE_BATCH bytes, so memory per stream is
 * the encoder's own plus about 200 KiB while data flows (nothing between bursts).
 *
 * Fairness: each batch is one round trip through the thread pool, which costs a loop turn,
 * while a plain stream moves a SLICE_MS slice per turn. With 16 KiB batches a compressed
 * stream next to six plain ones got about a twentieth of its speed (bench gzip-fair: 17.5x
 * slower than alone, where seven streams sharing the core would give at most 7x); with
 * 128 KiB batches it is 5.8x. Cancelling (client gone) destroys the encoder at
 * once, which frees its native memory, and returns the input.
 */
import type { Chunk } from '../streaming/chunk.js';
import type { StreamEncoder } from './encoders.js';
import type { CompressionStats, StreamCompressionStats } from './stats.js';

const OUT_HIGH = 64 * 1024;
const OUT_LOW = 16 * 1024;
const WRITE_BATCH = 128 * 1024;

type Waiter = { resolve(r: IteratorResult<Buffer>): void; reject(err: unknown): void };

const DONE: IteratorResult<Buffer> = Object.freeze({ done: true, value: undefined }) as IteratorResult<Buffer>;

export class CompressedStream implements AsyncIterableIterator<Buffer> {
  private readonly out: Buffer[] = [];
  private outBytes = 0;
  private waiter: Waiter | null = null;
  private pending: Chunk[] = [];
  private pendingBytes = 0;
  /** Input written (or batched) since the last flush. */
  private dirty = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private reading = false;
  private inputDone = false;
  private finished = false;
  private failure: unknown = null;
  private stopped = false;
  private space: (() => void) | null = null;
  private readonly input: AsyncIterator<Chunk>;
  private encoder!: StreamEncoder;
  private flushKind = 0;

  /** `open` creates the encoder at the first pull, so a body that is never sent holds no zlib memory. */
  constructor(
    input: AsyncIterable<Chunk>,
    private readonly open: () => { encoder: StreamEncoder; flushKind: number },
    private readonly window: number,
    private readonly stats: StreamCompressionStats,
    private readonly totals: CompressionStats,
    private readonly perEncoding: { bytesIn: number; bytesOut: number },
  ) {
    this.input = input[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Returns at once when output is waiting (the streaming pump takes a plain result without a promise). */
  next(): Promise<IteratorResult<Buffer>> {
    if (this.out.length > 0) return this.take() as unknown as Promise<IteratorResult<Buffer>>;
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.finished || this.stopped) return DONE as unknown as Promise<IteratorResult<Buffer>>;
    if (!this.reading) {
      this.reading = true;
      const { encoder, flushKind } = this.open();
      this.encoder = encoder;
      this.flushKind = flushKind;
      encoder.on('data', this.onData);
      encoder.on('end', this.onEnd);
      encoder.on('error', this.onError);
      void this.readInput();
    }
    return new Promise<IteratorResult<Buffer>>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The consumer stopped (client gone, stream aborted): free everything now. */
  return(): Promise<IteratorResult<Buffer>> {
    this.stop(null);
    return Promise.resolve(DONE);
  }

  private take(): IteratorResult<Buffer> {
    const value = this.out.shift()!;
    this.outBytes -= value.length;
    if (this.space !== null && this.outBytes <= OUT_LOW) {
      const resume = this.space;
      this.space = null;
      resume();
    }
    return { done: false, value };
  }

  private async readInput(): Promise<void> {
    try {
      for (;;) {
        if (this.outBytes >= OUT_HIGH) {
          await new Promise<void>((resolve) => {
            this.space = resolve;
          });
          if (this.stopped) return;
          continue;
        }
        const r = await this.input.next();
        if (this.stopped) return;
        if (r.done) break;
        const chunk = r.value;
        const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
        if (size === 0) continue;
        this.stats.bytesIn += size;
        this.totals.bytesIn += size;
        this.perEncoding.bytesIn += size;
        this.pending.push(chunk);
        this.pendingBytes += size;
        this.dirty = true;
        if (this.pendingBytes >= WRITE_BATCH && !this.writePending()) {
          await new Promise<void>((resolve) => this.encoder.once('drain', resolve));
          if (this.stopped) return;
        }
        this.armFlush();
      }
      this.inputDone = true;
      this.clearTimer();
      this.writePending();
      this.encoder.end();
    } catch (err) {
      this.stop(err);
    }
  }

  /** Hands the batched input to zlib; false when zlib wants a drain first. */
  private writePending(): boolean {
    const pending = this.pending;
    if (pending.length === 0) return true;
    this.pending = [];
    this.pendingBytes = 0;
    let buf: Buffer;
    if (pending.length === 1) buf = toBuffer(pending[0]!);
    else if (pending.every((c) => typeof c === 'string')) buf = Buffer.from(pending.join(''));
    else buf = Buffer.concat(pending.map(toBuffer));
    return this.encoder.write(buf);
  }

  private armFlush(): void {
    if (this.timer !== null) return;
    this.timer = this.window > 0 ? setTimeout(this.onFlushTimer, this.window) : setImmediate(this.onFlushTimer);
  }

  private readonly onFlushTimer = (): void => {
    this.timer = null;
    if (this.stopped || this.inputDone || !this.dirty) return;
    this.dirty = false;
    this.writePending();
    this.encoder.flush(this.flushKind);
    this.stats.flushes++;
    this.totals.flushes++;
  };

  private clearTimer(): void {
    if (this.timer === null) return;
    if (this.window > 0) clearTimeout(this.timer as NodeJS.Timeout);
    else clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = null;
  }

  private readonly onData = (buf: Buffer): void => {
    if (this.stopped) return;
    this.stats.bytesOut += buf.length;
    this.totals.bytesOut += buf.length;
    this.perEncoding.bytesOut += buf.length;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.resolve({ done: false, value: buf });
      return;
    }
    this.out.push(buf);
    this.outBytes += buf.length;
  };

  private readonly onEnd = (): void => {
    this.finished = true;
    this.release();
    const waiter = this.waiter;
    if (waiter !== null && this.out.length === 0) {
      this.waiter = null;
      waiter.resolve(DONE);
    }
  };

  private readonly onError = (err: unknown): void => {
    this.stop(err);
  };

  /** Ends early: `err` null when the consumer stopped, the failure otherwise. */
  private stop(err: unknown): void {
    if (this.stopped || this.finished) return;
    this.stopped = true;
    if (err !== null) this.failure = err;
    this.clearTimer();
    this.pending = [];
    this.out.length = 0;
    this.outBytes = 0;
    this.encoder?.destroy();
    this.release();
    try {
      const r = this.input.return?.();
      if (r !== undefined) r.then(undefined, () => {});
    } catch {
      // An input that fails to stop has nothing more to give.
    }
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter !== null) {
      if (err !== null) waiter.reject(err);
      else waiter.resolve(DONE);
    }
    const space = this.space;
    this.space = null;
    space?.();
  }

  /** The encoder is done: it no longer counts as live memory. */
  private release(): void {
    if (!this.stats.active) return;
    this.stats.active = false;
    this.totals.activeStreams--;
    this.totals.activeStreamMemory -= this.stats.memory;
  }
}

function toBuffer(chunk: Chunk): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk);
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
