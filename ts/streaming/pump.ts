/**
 * The pull loop: moves chunks from a Puller to the native stream while the stream
 * is under its high watermark, and waits for `resume()` (onDrain) when it is not.
 *
 * Throughput: chunks are collected into batches (up to BATCH_CHUNKS chunks or
 * BATCH_BYTES bytes, never more bytes than the high watermark; strings are joined in
 * JS, mixed batches go in one writev), so a generator of small rows costs one native
 * call per batch, not per row. A batch never passes its byte cap except with a single
 * chunk, so the queue can pass the high watermark by at most max(cap, one chunk), and a
 * source is advanced at most one chunk past what the stream accepted.
 *
 * Fairness: a synchronous run yields to the event loop (setImmediate) after SLICE_MS,
 * checked every 16 chunks, so one fast producer never starves other connections.
 * Async sources cost the promises they return and nothing more per chunk; while one is
 * pending, a partial batch is written at the next check phase instead of waiting.
 *
 * File regions (file-region.ts) end the batch before them and are written alone with
 * `writeFile` (sendfile in the core, in order with the memory chunks); a path region is
 * opened first (async fs.open). They bypass chunk mappers, which map memory chunks. A
 * region met while the stream is over its high watermark waits for the drain, like a
 * batched chunk; a region that is never written releases what it holds.
 */
import { abandonRegion, isFileRegion, openRegion, type FileRegion, type OpenedRegion } from './file-region.js';
import { BATCH_BYTES, checkChunk, chunkSize, type Chunk } from './chunk.js';
import { isThenable, type PullResult, type Puller } from './source.js';

export const BATCH_CHUNKS = 64;
export const SLICE_MS = 1;

export interface PumpOwner {
  /**
   * Writes one chunk; false when over the high watermark. Throws when the stream is gone.
   * `copy`: the bytes are only lent (the native side copies them rather than keep a reference).
   */
  write(chunk: Chunk, copy?: boolean): boolean;
  /** Writes several chunks in one call; same result and `copy` as write. */
  writev(chunks: Chunk[], copy?: boolean): boolean;
  /** Writes a file region (the core takes `closeFd` descriptors even when this throws); same result as write. */
  writeFile(region: OpenedRegion): boolean;
  /** The source ended and every chunk was written. */
  sourceEnded(): void;
  /** The source, a chunk check, the mapper or a write failed; the source is already cancelled. */
  sourceFailed(err: unknown): void;
}

/** Maps a chunk before it is checked and written; null/undefined drops it. */
export type ChunkMapper = (chunk: unknown) => unknown;

const enum State {
  Idle,
  Running,
  /** Waiting for an async pull. */
  Pulling,
  /** Waiting for resume() (the stream is over its high watermark). */
  Blocked,
  /** Waiting for a file region to be opened. */
  Opening,
  /** Between two slices of a synchronous run. */
  Yielding,
  Done,
}

const now = (): number => performance.now();

/**
 * Pumps whose partial batch waits for an async source: flushed together at the next check
 * phase by one shared setImmediate (not one Immediate per stream per turn).
 */
const idlePumps: Array<Pump | null> = [];
let idleScheduled = false;

function flushIdlePumps(): void {
  // In place, so a slot a pump remembers stays its own; a pump queued meanwhile is flushed too.
  const pumps = idlePumps;
  for (let i = 0; i < pumps.length; i++) {
    const pump = pumps[i]!;
    if (pump === null) continue; // stopped meanwhile
    pumps[i] = null;
    try {
      pump.idleFlush();
    } catch {
      // flush() reports its own failures through the owner; nothing may stop the others.
    }
  }
  pumps.length = 0;
  idleScheduled = false;
}

function runSlice(pump: Pump): void {
  pump.nextSlice();
}

export class Pump {
  private state = State.Idle;
  /** The last write returned false and no drain came since. */
  private overWater = false;
  private batch: Chunk[] = [];
  private batchBytes = 0;
  private batchStrings = true;
  /** Values are lent (see the constructor), and a lent chunk is in the batch. */
  private readonly lent: boolean;
  private batchLent = false;
  private sliceStart = 0;
  private count = 0;
  /** The Immediate of the next slice of a synchronous run. */
  private timer: NodeJS.Immediate | null = null;
  /** Index in idlePumps while queued for the shared idle flush, else -1. */
  private idleSlot = -1;
  /** A file region met while over the high watermark: written first at the drain. */
  private heldRegion: FileRegion | null = null;

  /** Byte cap of a batch: BATCH_BYTES, or the high watermark when smaller. */
  private readonly batchCap: number;

  constructor(
    private readonly puller: Puller,
    private readonly owner: PumpOwner,
    private readonly mapper: ChunkMapper | null = null,
    highWaterMark: number = BATCH_BYTES,
  ) {
    this.batchCap = Math.max(1, Math.min(BATCH_BYTES, highWaterMark));
    // Lent values (views of a buffer the puller reuses) are written at once, copied by the
    // native side, or wait in the batch while no pull happens (over the high watermark). A
    // mapper could keep a view anywhere, so a mapped source is never lent to.
    this.lent = mapper === null && puller.lend?.() === true;
  }

  /** Whether the pump stopped (source ended, failed or cancelled). */
  get done(): boolean {
    return this.state === State.Done;
  }

  start(): void {
    if (this.state !== State.Idle) return;
    this.state = State.Running;
    this.sliceStart = now();
    this.loop();
  }

  /** The stream drained to its low watermark. */
  resume(): void {
    this.overWater = false;
    if (this.state !== State.Blocked) return;
    this.state = State.Running;
    this.sliceStart = now();
    // What waits in the batch is written before anything is pulled: the source may reuse the
    // memory of a lent chunk once it is asked for the next one.
    if (this.batch.length > 0) {
      if (!this.flush()) return;
      if (this.overWater) {
        this.state = State.Blocked;
        return;
      }
    }
    const held = this.heldRegion;
    if (held !== null) {
      this.heldRegion = null;
      if (!this.takeRegion(held)) return;
    }
    this.loop();
  }

  /** Stops at once and cancels the source (client gone, stream aborted). */
  cancel(reason: unknown): void {
    if (this.state === State.Done) return;
    this.stop();
    this.puller.cancel(reason);
  }

  private loop(): void {
    for (;;) {
      let r: PullResult | PromiseLike<PullResult>;
      try {
        r = this.puller.pull();
      } catch (err) {
        this.fail(err, false);
        return;
      }
      if (isThenable(r)) {
        this.state = State.Pulling;
        if (this.batch.length > 0 && this.idleSlot === -1) {
          this.idleSlot = idlePumps.push(this) - 1;
          if (!idleScheduled) {
            idleScheduled = true;
            setImmediate(flushIdlePumps);
          }
        }
        r.then(this.onPulled, this.onPullFailed);
        return;
      }
      if (!this.take(r)) return;
      if ((++this.count & 15) === 0 && now() - this.sliceStart >= SLICE_MS) return this.yieldTurn();
    }
  }

  private readonly onPulled = (r: PullResult): void => {
    if (this.state !== State.Pulling) return; // cancelled meanwhile
    this.state = State.Running;
    if (!this.take(r)) return;
    if ((++this.count & 15) === 0 && now() - this.sliceStart >= SLICE_MS) return this.yieldTurn();
    this.loop();
  };

  private readonly onPullFailed = (err: unknown): void => {
    if (this.state !== State.Pulling) return;
    this.fail(err, false);
  };

  /** @internal A partial batch waited a whole loop turn for an async source: write it now. */
  idleFlush(): void {
    this.idleSlot = -1;
    if (this.state === State.Pulling) this.flush();
  }

  /** @internal The next slice of a synchronous run (after yielding to the event loop). */
  nextSlice(): void {
    this.timer = null;
    if (this.state !== State.Yielding) return;
    this.state = State.Running;
    this.sliceStart = now();
    this.loop();
  }

  private yieldTurn(): void {
    if (!this.flush()) return;
    if (this.overWater) {
      this.state = State.Blocked;
      return;
    }
    this.state = State.Yielding;
    if (this.timer !== null) clearImmediate(this.timer);
    this.timer = setImmediate(runSlice, this);
  }

  /** Takes one pull result; false when the loop must stop (ended, failed, blocked). */
  private take(r: PullResult): boolean {
    if (r.done) {
      if (!this.flush()) return false;
      this.stop();
      this.owner.sourceEnded();
      return false;
    }
    let value: unknown = r.value;
    if (isFileRegion(value)) return this.takeRegion(value);
    let chunk: Chunk;
    try {
      if (this.mapper !== null) {
        value = this.mapper(value);
        if (value === null || value === undefined) return true;
      }
      chunk = checkChunk(value);
    } catch (err) {
      return this.fail(err, true);
    }
    const size = chunkSize(chunk);
    if (size === 0) return true; // an empty chunk means nothing (and must never become a chunked terminator)
    if (this.batch.length > 0 && this.batchBytes + size > this.batchCap && !this.flush()) return false;
    this.batch.push(chunk);
    this.batchBytes += size;
    if (typeof chunk !== 'string') {
      this.batchStrings = false;
      if (this.lent) this.batchLent = true;
    }
    // A lent chunk is written (copied by the native side) before the next pull, whatever its size.
    if (this.overWater || this.batchLent || this.batch.length >= BATCH_CHUNKS || this.batchBytes >= this.batchCap) {
      if (!this.overWater && !this.flush()) return false;
      if (this.overWater) {
        this.state = State.Blocked; // the chunk stays batched until the drain: resume() writes it before it pulls
        return false;
      }
    }
    return true;
  }

  /** Writes a file region after the batch; false when the loop must stop (blocked, opening, failed). */
  private takeRegion(region: FileRegion): boolean {
    if (!this.flush()) {
      region.release();
      return false;
    }
    if (this.overWater) {
      this.heldRegion = region;
      this.state = State.Blocked;
      return false;
    }
    let opened: OpenedRegion | Promise<OpenedRegion>;
    try {
      opened = openRegion(region);
    } catch (err) {
      return this.fail(err, true, false);
    }
    if (isThenable(opened)) {
      this.state = State.Opening;
      opened.then(
        (o) => {
          if (this.state !== State.Opening) return abandonRegion(o); // cancelled meanwhile
          this.state = State.Running;
          if (!this.writeRegion(o)) return;
          if ((++this.count & 15) === 0 && now() - this.sliceStart >= SLICE_MS) return this.yieldTurn();
          this.loop();
        },
        (err: unknown) => {
          if (this.state === State.Opening) this.fail(err, true, false);
        },
      );
      return false;
    }
    return this.writeRegion(opened);
  }

  private writeRegion(o: OpenedRegion): boolean {
    if (o.length === 0) {
      abandonRegion(o);
      return true;
    }
    let ok: boolean;
    try {
      ok = this.owner.writeFile(o);
    } catch (err) {
      return this.fail(err, true, false);
    }
    if (!ok) {
      this.overWater = true;
      this.state = State.Blocked;
      return false;
    }
    return true;
  }

  /** Writes the batch. False only when a write threw (the pump is then failed). */
  private flush(): boolean {
    const batch = this.batch;
    const n = batch.length;
    if (n === 0) return true;
    const copy = this.batchLent;
    this.batchLent = false;
    let ok: boolean;
    try {
      if (n === 1) ok = this.owner.write(batch[0]!, copy);
      else if (this.batchStrings) ok = this.owner.write(batch.join(''));
      else ok = this.owner.writev(batch, copy);
    } catch (err) {
      this.fail(err, true, false);
      return false;
    }
    // The native side copied or referenced every chunk during the call: the array can be reused.
    batch.length = 0;
    this.batchBytes = 0;
    this.batchStrings = true;
    if (!ok) this.overWater = true;
    return true;
  }

  private stop(): void {
    this.state = State.Done;
    if (this.idleSlot !== -1) {
      // A stopped pump is not kept alive (with its source and stream) until the check phase.
      idlePumps[this.idleSlot] = null;
      this.idleSlot = -1;
    }
    if (this.heldRegion !== null) {
      this.heldRegion.release();
      this.heldRegion = null;
    }
    if (this.timer !== null) {
      clearImmediate(this.timer);
      this.timer = null;
    }
    this.batch = [];
  }

  /**
   * `cancelSource`: the source did not fail by itself (bad chunk, mapper or write error).
   * Chunks pulled before a source or chunk failure are written first: the failure then
   * counts as mid-stream (truncation) once any chunk was produced, and as an error
   * before the first chunk (a 500) only when none was.
   */
  private fail(err: unknown, cancelSource: boolean, flushFirst = true): false {
    if (this.state === State.Done) return false;
    if (flushFirst && this.batch.length > 0) {
      const state = this.state;
      this.state = State.Done; // a throwing write below must not fail twice
      try {
        const batch = this.batch;
        if (batch.length === 1) this.owner.write(batch[0]!, this.batchLent);
        else this.owner.writev(batch, this.batchLent);
      } catch {
        // The stream is gone; the original error is what gets reported.
      }
      this.state = state;
    }
    this.stop();
    if (cancelSource) this.puller.cancel(err);
    this.owner.sourceFailed(err);
    return false;
  }
}
