/**
 * The queue of one Channel subscriber: Buffers waiting for its connection, with a
 * byte limit and what to do past it. The queue grows only while the connection is
 * backpressured (its writer's promise is pending), or within one synchronous burst of
 * publishes (the subscriber writes from a microtask after it), so the limit is what a
 * slow subscriber may cost on top of the stream's own high watermark.
 *
 * A subscriber is slow when its socket does not take what it is given, not when a
 * publisher outran one loop turn: past the limit, 'drop' and 'disconnect' act only once
 * the queue has stayed above it for `slowAfterMs` (its connection had turns to write), or
 * at once above the hard limit (HARD_LIMIT_FACTOR x the limit), which bounds what one
 * burst may cost. The action comes from the Channel's policy (ts/slow-consumer.ts):
 *
 *   'drop'        ('drop-oldest') the oldest queued events are dropped (counted in `dropped`; the
 *                 events of one backplane read, queued as one Buffer, are dropped together)
 *   'disconnect'  the caller disconnects the subscriber; it reconnects with Last-Event-ID
 *   'keep'        ('block') the publisher waits (`whenBelowLimit()`) until the queue drains
 */
import type { SlowConsumerAction } from '../slow-consumer.js';

/** The shared empty item list (replaced by a fresh array at the first push: push() never writes into it). */
const EMPTY: Buffer[] = [];

/** Largest batch handed to one write when several events are queued. */
const MAX_BATCH_BYTES = 64 * 1024;

/** Above this multiple of the limit the policy acts at once, however briefly. */
export const HARD_LIMIT_FACTOR = 16;

/**
 * Buffers that carry several events (a backplane read's events, serialized once for every
 * subscriber of the process): how many, so that 'drop' counts events, not Buffers.
 */
const batchEvents = new WeakMap<Buffer, number>();

/** @internal Marks `buf` as `events` whole events (see batchEvents). */
export function markBatch(buf: Buffer, events: number): Buffer {
  if (events > 1) batchEvents.set(buf, events);
  return buf;
}

export class SubscriberQueue {
  private items: Buffer[] = EMPTY;
  private head = 0;
  /** Bytes queued. */
  bytes = 0;
  /** Events dropped by the 'drop' action. */
  dropped = 0;
  private closed = false;
  private ending = false;
  /** performance.now() when the queue went above the limit (0: at or below it). */
  private overSince = 0;
  private reader: ((batch: Buffer | null) => void) | null = null;
  private spaceWaiters: Array<() => void> | null = null;
  /** @internal Told (synchronously) when an event is queued or the queue finishes: a callback instead of take()'s promise. */
  watcher: { queueReady(): void } | null = null;

  constructor(
    readonly limit: number,
    readonly action: SlowConsumerAction,
    readonly slowAfterMs = 0,
  ) {}

  /**
   * Queues `buf`; false when it passed the limit ('disconnect': the caller disconnects;
   * 'keep': it waits). `enforce: false` (replay) queues without applying the policy.
   */
  push(buf: Buffer, enforce = true): boolean {
    if (this.closed || this.ending) return true;
    const reader = this.reader;
    if (reader !== null && this.bytes === 0) {
      this.reader = null;
      reader(buf);
      return true;
    }
    if (this.items === EMPTY) this.items = [];
    this.items.push(buf);
    this.bytes += buf.length;
    if (reader !== null) {
      this.reader = null;
      reader(this.takeBatch());
    }
    this.watcher?.queueReady();
    if (this.bytes <= this.limit || !enforce) return true;
    if (this.action !== 'keep' && !this.isSlow()) return true;
    if (this.action === 'drop') {
      // Keep the newest event even when it alone passes the limit.
      // (a Buffer marked as a batch is dropped whole: its events count one by one)
      while (this.bytes > this.limit && this.items.length - this.head > 1) {
        const oldest = this.items[this.head]!;
        this.bytes -= oldest.length;
        this.items[this.head++] = undefined as unknown as Buffer;
        this.dropped += batchEvents.get(oldest) ?? 1;
      }
      this.compact();
      this.overSince = this.bytes > this.limit ? this.overSince : 0;
      return true;
    }
    return false;
  }

  /** Above the limit for slowAfterMs, or above the hard limit. */
  private isSlow(): boolean {
    if (this.bytes > this.limit * HARD_LIMIT_FACTOR || this.slowAfterMs === 0) return true;
    const now = performance.now();
    if (this.overSince === 0) {
      this.overSince = now;
      return false;
    }
    return now - this.overSince >= this.slowAfterMs;
  }

  /** @internal The next batch when one is queued, else null (see `isDone`). */
  takeNow(): Buffer | null {
    return this.bytes > 0 ? this.takeBatch() : null;
  }

  /** @internal Nothing queued and nothing more will be (finished or closed). */
  get isDone(): boolean {
    return this.bytes === 0 && (this.closed || this.ending);
  }

  /** The next batch (one Buffer), at once when queued; null once closed. */
  take(): Buffer | null | Promise<Buffer | null> {
    if (this.bytes > 0) return this.takeBatch();
    if (this.closed || this.ending) return null;
    return new Promise<Buffer | null>((resolve) => {
      this.reader = resolve;
    });
  }

  /** Resolves once the queue is at or below its limit (or closed). */
  whenBelowLimit(): Promise<void> {
    if (this.closed || this.bytes <= this.limit) return Promise.resolve();
    return new Promise<void>((resolve) => (this.spaceWaiters ??= []).push(resolve));
  }

  /** No more events: take() returns what is queued, then null. */
  finish(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    if (this.bytes > 0) return;
    const reader = this.reader;
    this.reader = null;
    reader?.(null);
    this.watcher?.queueReady();
  }

  /** Drops everything and wakes every waiter; take() then returns null. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items = EMPTY;
    this.head = 0;
    this.bytes = 0;
    const reader = this.reader;
    this.reader = null;
    reader?.(null);
    this.releaseSpace();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Concatenates queued events up to MAX_BATCH_BYTES (always at least one). */
  private takeBatch(): Buffer {
    const items = this.items;
    let end = this.head + 1;
    let size = items[this.head]!.length;
    while (end < items.length && size + items[end]!.length <= MAX_BATCH_BYTES) size += items[end++]!.length;
    const batch = end - this.head === 1 ? items[this.head]! : Buffer.concat(items.slice(this.head, end), size);
    for (let i = this.head; i < end; i++) items[i] = undefined as unknown as Buffer;
    this.head = end;
    this.bytes -= size;
    this.compact();
    if (this.bytes <= this.limit) {
      this.overSince = 0;
      this.releaseSpace();
    }
    return batch;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = EMPTY;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  private releaseSpace(): void {
    const waiters = this.spaceWaiters;
    if (waiters === null) return;
    this.spaceWaiters = null;
    for (const resolve of waiters) resolve();
  }
}
