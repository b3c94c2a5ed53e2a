/**
 * `StreamingWriter`: the push form of a stream. `write()` returns a promise that
 * resolves at once while the stream is under its high watermark and otherwise when
 * it drained: awaiting it is the backpressure. Writing to a closed stream, an aborted
 * one or one whose client left rejects with CoreError `ECLOSED`; nothing crashes.
 *
 * `await using w = writer` closes the stream when the scope ends. A dispose cannot see
 * whether its scope threw, so the close is deferred to the end of the callback (or the
 * next check phase): when the callback rejects, the stream is aborted instead.
 */
import { CoreError } from '../errors.js';
import type { NativeStreamStats } from '../native.js';
import { BATCH_BYTES, checkChunk, type Chunk } from './chunk.js';

/** `async (writer) => { ... }`: the push form; the stream closes when it resolves, aborts when it throws. */
export type WriterCallback = (writer: StreamingWriter) => unknown;

/** What a writer drives: the native stream session, or a WriterPuller feeding a body transform (writer-puller.ts). */
export interface WriterBackend {
  /** Maps, checks and queues a value; false when over the high watermark. Throws when closed. */
  push(value: unknown): boolean;
  flush(): void;
  /** Ends the stream normally (no-op when already ended). */
  end(): void;
  /** Ends the stream as failed (no-op when already ended). */
  abort(err: unknown): void;
  /** The writer callback threw or rejected with `err`: end the stream as failed and report it. */
  runFailed(err: unknown): void;
  /** Resolves at the next drain; rejects with ECLOSED when the stream ends first. */
  waitDrain(): Promise<void>;
  /** Resolves once the stream is over, whatever the outcome. */
  whenEnded(): Promise<void>;
  stats(): NativeStreamStats;
  readonly signal: AbortSignal;
  /** 'open', 'closed' (ended or ending normally) or 'aborted'. */
  readonly writerState: 'open' | 'closed' | 'aborted';
}

/** @internal What write() returns when the stream can take more at once (compare to skip a turn). */
export const RESOLVED: Promise<void> = Promise.resolve();

/**
 * @internal A writer callback that returns (or resolves to) HOLD keeps its stream open after it
 * returned, and ends it itself with close() or abort(): a long-lived push stream (a Channel
 * subscriber) then holds no pending promise of its own.
 */
export const HOLD: unique symbol = Symbol('catzilla.writer.hold');

export function closedError(why: string): CoreError {
  return new CoreError('ECLOSED', `Cannot write: ${why}`);
}

export class StreamingWriter implements AsyncDisposable {
  private closeRequested = false;
  /** Set by the runner: the callback this writer was handed to is still running. */
  private running = false;

  /** @internal */
  constructor(private readonly backend: WriterBackend) {}

  /** True once no more writes are accepted (closed, finished or aborted). */
  get closed(): boolean {
    return this.closeRequested || this.backend.writerState !== 'open';
  }

  /** True once the stream ended abnormally: abort(), an error, the client left or timed out. */
  get aborted(): boolean {
    return this.backend.writerState === 'aborted';
  }

  /** Live counters of the stream (the last snapshot once it ended). */
  get stats(): NativeStreamStats {
    return this.backend.stats();
  }

  /** Aborted when the stream is aborted (client gone, timeout, error, abort()). */
  get signal(): AbortSignal {
    return this.backend.signal;
  }

  /** Queues a chunk; the promise resolves once the stream can take more. */
  write(chunk: Chunk): Promise<void> {
    if (this.closed) return Promise.reject(this.closedReason());
    let ok: boolean;
    try {
      ok = this.backend.push(chunk);
    } catch (err) {
      return Promise.reject(err);
    }
    return ok ? RESOLVED : this.backend.waitDrain();
  }

  /** Writes `line` followed by "\n". */
  writeLine(line: string): Promise<void> {
    if (typeof line !== 'string') return Promise.reject(new TypeError(`writeLine() needs a string, got ${typeof line}`));
    return this.write(line + '\n');
  }

  /**
   * Writes every string of `lines` followed by "\n" (NDJSON, CSV rows...), joining
   * them into writes of about 16 KiB and waiting for drains between them.
   */
  async writelines(lines: Iterable<string> | AsyncIterable<string>): Promise<void> {
    let parts: string[] = [];
    let size = 0;
    for await (const line of lines as AsyncIterable<string>) {
      if (typeof line !== 'string') throw new TypeError(`writelines() needs strings, got ${typeof line}`);
      parts.push(line, '\n');
      size += line.length + 1;
      if (size >= BATCH_BYTES) {
        const out = parts.join('');
        parts = [];
        size = 0;
        await this.write(out);
      }
    }
    if (size > 0) await this.write(parts.join(''));
  }

  /** Sends what is queued now (and the headers, if they were not sent yet). */
  flush(): void {
    if (this.closed) throw this.closedReason();
    this.backend.flush();
  }

  /** Ends the stream; resolves once it is over (all bytes handed to the kernel, or aborted). */
  close(): Promise<void> {
    this.closeRequested = true;
    this.backend.end();
    return this.backend.whenEnded();
  }

  /**
   * Ends the stream early: the client sees a truncated body. With `err` it is a failure
   * (close reason 'error', logged; a 500 when nothing was sent yet); without, the
   * application's own close (close reason 'closed', nothing logged; a 503 when nothing was
   * sent yet).
   */
  abort(err?: unknown): void {
    this.closeRequested = true;
    this.backend.abort(err);
  }

  /** `await using`: closes at the end of the scope, or aborts when the callback rejected. */
  [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return RESOLVED;
    this.closeRequested = true;
    if (!this.running) setImmediate(() => this.backend.end());
    return RESOLVED;
  }

  /** @internal Runs `fn(writer)`: close when it resolves (unless to HOLD), fail the backend when it throws. */
  run(fn: WriterCallback): void {
    this.running = true;
    let result: unknown;
    try {
      result = fn(this);
    } catch (err) {
      this.running = false;
      this.backend.runFailed(err);
      return;
    }
    if (result === HOLD) {
      this.running = false;
      return;
    }
    Promise.resolve(result).then(
      (value: unknown) => {
        this.running = false;
        if (value === HOLD) return;
        this.closeRequested = true;
        this.backend.end();
      },
      (err: unknown) => {
        this.running = false;
        this.backend.runFailed(err);
      },
    );
  }

  private closedReason(): CoreError {
    const state = this.backend.writerState;
    if (state === 'aborted') return closedError(this.backend.signal.aborted ? `the stream was aborted (${describeReason(this.backend.signal.reason)})` : 'the stream was aborted');
    return closedError('the stream is closed');
  }
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error) return (reason as { code?: string }).code ?? reason.message;
  return String(reason);
}
