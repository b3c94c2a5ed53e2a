/**
 * The queue between the core's body callbacks and the application's reads.
 * Chunks are handed over as they arrive; when more than BODY_HIGH_WATER_MARK
 * unread bytes pile up the core is told to stop reading the socket, and told to
 * resume once the reader has drained the queue below that mark, so a slow reader
 * holds at most about one high-water mark of body in memory, plus the read in progress (the core
 * reads at most 256 KiB at a time).
 */

/** Unread bytes above which the core is asked to pause the body. */
export const BODY_HIGH_WATER_MARK = 64 * 1024;

export interface FlowControl {
  pause(): void;
  resume(): void;
}

type Waiter = { resolve(result: IteratorResult<Buffer>): void; reject(err: unknown): void };

/** A single-consumer async queue of body chunks; it is its own AsyncIterator. */
export class BodyQueue implements AsyncIterableIterator<Buffer> {
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: unknown = null;
  private paused = false;
  /** Set when the reader stopped early: later chunks are dropped. */
  private discarding = false;
  private waiter: Waiter | null = null;

  constructor(private readonly flow: FlowControl) {}

  /** A chunk from the core. */
  push(chunk: Buffer): void {
    if (this.ended || this.failure !== null || this.discarding) return;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.resolve({ value: chunk, done: false });
      return;
    }
    this.chunks.push(chunk);
    this.queued += chunk.length;
    if (!this.paused && this.queued > BODY_HIGH_WATER_MARK) {
      this.paused = true;
      this.flow.pause();
    }
  }

  /** The body is complete. */
  end(): void {
    if (this.ended || this.failure !== null) return;
    this.ended = true;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.resolve({ value: undefined, done: true });
    }
  }

  /** The body will never complete: pending and later reads reject with `err`. */
  fail(err: unknown): void {
    if (this.failure !== null || (this.ended && this.chunks.length === 0)) return;
    this.failure = err;
    this.chunks.length = 0;
    this.queued = 0;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.reject(err);
    }
  }

  next(): Promise<IteratorResult<Buffer>> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.chunks.length > 0) {
      const chunk = this.chunks.shift()!;
      this.queued -= chunk.length;
      if (this.paused && this.queued <= BODY_HIGH_WATER_MARK) {
        this.paused = false;
        this.flow.resume();
      }
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.ended || this.discarding) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter !== null) return Promise.reject(new Error('Request body: next() called before the previous read settled'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The reader stopped (`break` in for-await): drop what is queued and let the core carry on reading. */
  return(): Promise<IteratorResult<Buffer>> {
    this.discarding = true;
    this.chunks.length = 0;
    this.queued = 0;
    if (this.paused) {
      this.paused = false;
      this.flow.resume();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Every remaining chunk as one Buffer. */
  async collect(): Promise<Buffer> {
    const parts: Buffer[] = [];
    let total = 0;
    for (let r = await this.next(); !r.done; r = await this.next()) {
      parts.push(r.value);
      total += r.value.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
  }
}
