/**
 * One streaming response on the wire: starts the native stream (lazily, at the
 * first chunk, so an error before any byte can still become a 500), feeds it from a
 * Pump or a StreamingWriter, and turns the native callbacks into the response's hooks.
 *
 * Close reasons: onStreamEnd(Finished) -> 'finished'; onAbort ClientClosed /
 * ConnectionError / ServerClosing / BadRequest -> 'client-closed', Timeout -> 'timeout';
 * a source error, abort(err) or a Content-Length over/under-run -> 'error'; abort()
 * without an error (a StreamCancel 'closed', from anywhere in the body's transforms) ->
 * 'closed'; a slow-consumer policy (StreamCancel 'shed') -> 'shed'. onClose fires
 * exactly once, after onStreamEnd (the last native call for the id), or at once when
 * the native stream was never started.
 *
 * A native call that finds the connection gone (ECLOSED: the peer closed, reset, or broke
 * the pipe; see isConnectionGone) is never a failure of the stream: the producer gets
 * ECLOSED, nothing is logged, and the core's onAbort / onStreamEnd give the reason
 * (`client-closed` for a peer that is gone). `nativeGone` is that one classification.
 */
import { abortError, CoreError, errorCode, HttpError, isConnectionGone, StreamCancel, type CancelReason } from '../errors.js';
import { AbortReason, StreamFlags, StreamState, streamStatsFrom, type NativeServer, type NativeStreamStats } from '../native.js';
import { abandonRegion, type OpenedRegion } from './file-region.js';
import { checkChunk, type Chunk } from './chunk.js';
import type { ResolvedFlow } from './options.js';
import { Pump, type ChunkMapper, type PumpOwner } from './pump.js';
import { discardSource, openPuller, type StreamSource, type WriterCallback } from './source.js';
import { emptyStats } from './stats.js';
import { closedError, StreamingWriter, type WriterBackend } from './writer.js';

/**
 * Why a stream ended: 'finished' (every byte handed to the kernel), 'client-closed' (the
 * client closed, reset or left), 'timeout' (it stalled past stallTimeout), 'error' (the
 * source failed, abort(err), a Content-Length mismatch), 'closed' (the application ended
 * it early on purpose: abort() without an error, Channel.disconnectAll()) or 'shed' (a
 * slow-consumer policy dropped it: a Channel's 'disconnect').
 */
export type CloseReason = 'finished' | 'client-closed' | 'error' | 'timeout' | 'closed' | 'shed';

/** The native calls a stream makes (a fake in unit tests). */
export type StreamTarget = Pick<NativeServer, 'streamStart' | 'streamWrite' | 'streamWritev' | 'streamWriteFile' | 'streamFlush' | 'streamEnd' | 'streamAbort' | 'streamStats'>;

/** Where the session reports to its response (hooks) and to the transport. */
export interface SessionEvents {
  start(): void;
  drain(): void;
  backpressure(): void;
  error(err: unknown): void;
  /** `stats` null: the final counters are to be read from the session's stats() when wanted. */
  close(reason: CloseReason, stats: NativeStreamStats | null): void;
}

export interface SessionHost {
  /** Logs a mid-stream failure. */
  log(err: unknown): void;
  /** Nothing was sent yet: answer `err` like a handler error (500, or the HttpError's status). */
  answerError(err: unknown): void;
  /** The native stream started: the request is now being answered. */
  started(): void;
  /** The session is over; drop it. */
  finished(): void;
}

export interface SessionSpec {
  id: number;
  status: number;
  /** `Name: value\r\n` lines, validated, without core-managed fields. */
  block: string;
  /** Declared body length, or -1. */
  contentLength: number;
  flow: ResolvedFlow;
  flushHeaders: boolean;
  /** HEAD or a bodiless status: headers only, the source never runs. */
  noBody: boolean;
  source: StreamSource;
  mapper: ChunkMapper | null;
  errorRecord: ((err: unknown) => unknown) | null;
}

/** What `spec.source` becomes once the session took it. */
const RELEASED: StreamSource = '';

const enum Phase {
  /** The native stream is not started: nothing was sent. */
  Pending,
  Open,
  /** streamEnd was called. */
  Ending,
  /** streamAbort was called, or the connection went away. */
  Aborting,
  Done,
}

export class StreamSession implements PumpOwner, WriterBackend {
  private phase = Phase.Pending;
  private reason: CloseReason | null = null;
  private final: NativeStreamStats | null = null;
  /** The last live counters read: what stats() shows between the connection's end and the final snapshot. */
  private lastLive: NativeStreamStats | null = null;
  private pump: Pump | null = null;
  private writer: StreamingWriter | null = null;
  private controller: AbortController | null = null;
  /** Created by the first waiter (most streams never wait). */
  private drainWaiters: Array<{ resolve(): void; reject(err: unknown): void }> | null = null;
  private endWaiters: Array<() => void> | null = null;

  private readonly id: number;
  private readonly mapper: ChunkMapper | null;
  private readonly errorRecord: ((err: unknown) => unknown) | null;
  /** What starting the native stream needs; dropped once it started (a stream may last hours). */
  private spec: SessionSpec | null;

  constructor(
    private readonly target: StreamTarget,
    spec: SessionSpec,
    private readonly events: SessionEvents,
    private readonly host: SessionHost,
  ) {
    this.id = spec.id;
    this.mapper = spec.mapper;
    this.errorRecord = spec.errorRecord;
    this.spec = spec;
  }

  /** Starts producing (or, for HEAD, sends the headers and ends). */
  begin(): void {
    const spec = this.spec!;
    if (spec.noBody) {
      discardSource(spec.source, new CoreError('ENOBODY', 'the response has no body (HEAD or a bodiless status)'));
      if (this.startNative(true)) this.end();
      return;
    }
    if (spec.flushHeaders && !this.startNative(true)) return;
    const source = spec.source;
    // Not kept: a writer callback (with what its closure holds) is done with once it ran or
    // returned HOLD, and a pull source lives on in the pump's puller.
    spec.source = RELEASED;
    if (typeof source === 'function') {
      this.writer = new StreamingWriter(this);
      this.writer.run(source as WriterCallback);
    } else {
      this.pump = new Pump(openPuller(source), this, spec.mapper, spec.flow.highWaterMark);
      this.pump.start();
    }
  }

  // ---- native callbacks (via the transport) ----

  onDrain(): void {
    if (this.phase !== Phase.Open) return;
    this.events.drain();
    const waiters = this.drainWaiters;
    if (waiters !== null) {
      this.drainWaiters = null;
      for (const w of waiters) w.resolve();
    }
    this.pump?.resume();
  }

  /** The connection went away (or timed out) before the response ended. */
  onAbort(reason: number): void {
    if (this.phase === Phase.Done) return;
    this.reason ??= reason === AbortReason.Timeout ? 'timeout' : 'client-closed';
    const err = abortError(reason);
    const wasPending = this.phase === Phase.Pending;
    this.phase = Phase.Aborting;
    this.stopProducer(err);
    // A started stream still gets onStreamEnd(Aborted); one that never started gets nothing more.
    if (wasPending) this.close(emptyStats());
  }

  /** `stats`: an object, or the core's shared Float64Array (read at once: it is refilled later). */
  onStreamEnd(state: number, stats: NativeStreamStats | Float64Array): void {
    if (this.phase === Phase.Done) return;
    this.final = stats instanceof Float64Array ? streamStatsFrom(stats) : stats;
    if (this.reason === null) {
      if (state === StreamState.Finished) this.reason = 'finished';
      else if (state === StreamState.Closed) this.reason = 'closed';
      else if (state === StreamState.Shed) this.reason = 'shed';
      else if (state === StreamState.Errored) {
        // Not asked for by us: the core found a Content-Length over/under-run, or a file
        // region it could not read (a file shorter than its region).
        this.reason = 'error';
        this.reportError(new CoreError('ELENGTH', 'the stream did not match its declared Content-Length (or a file region could not be read)'));
      } else this.reason = 'client-closed';
    }
    if (state !== StreamState.Finished) this.stopProducer(abortError(AbortReason.ClientClosed));
    this.close(null);
  }

  // ---- PumpOwner / WriterBackend ----

  write(chunk: Chunk, copy = false): boolean {
    if (this.phase !== Phase.Open && !this.openForWrite()) throw this.closedError();
    let ok: boolean;
    try {
      ok = this.target.streamWrite(this.id, chunk, copy);
    } catch (err) {
      throw this.nativeGone(err);
    }
    if (!ok) this.events.backpressure();
    return ok;
  }

  writev(chunks: Chunk[], copy = false): boolean {
    if (this.phase !== Phase.Open && !this.openForWrite()) throw this.closedError();
    let ok: boolean;
    try {
      ok = this.target.streamWritev(this.id, chunks, copy);
    } catch (err) {
      throw this.nativeGone(err);
    }
    if (!ok) this.events.backpressure();
    return ok;
  }

  writeFile(region: OpenedRegion): boolean {
    if (this.phase !== Phase.Open && !this.openForWrite()) {
      abandonRegion(region);
      throw this.closedError();
    }
    let ok: boolean;
    try {
      ok = this.target.streamWriteFile(this.id, region.fd, region.offset, region.length, region.closeFd);
    } catch (err) {
      throw this.nativeGone(err);
    }
    if (!ok) this.events.backpressure();
    return ok;
  }

  push(value: unknown): boolean {
    const mapper = this.mapper;
    if (mapper !== null) {
      if (this.phase >= Phase.Ending) throw this.closedError();
      value = mapper(value);
      if (value === null || value === undefined) return true;
    }
    const chunk = checkChunk(value);
    if ((typeof chunk === 'string' ? chunk.length : chunk.byteLength) === 0) {
      if (this.phase >= Phase.Ending) throw this.closedError();
      return true; // an empty chunk would mean nothing (and must never become a chunked terminator)
    }
    return this.write(chunk);
  }

  sourceEnded(): void {
    this.end();
  }

  sourceFailed(err: unknown): void {
    this.fail(err);
  }

  runFailed(err: unknown): void {
    this.fail(err);
  }

  flush(): void {
    if (this.phase === Phase.Pending) {
      this.startNative(true);
      return;
    }
    if (this.phase !== Phase.Open) throw this.closedError();
    try {
      this.target.streamFlush(this.id);
    } catch (err) {
      throw this.nativeGone(err);
    }
  }

  /** Ends the stream normally (starting it first when nothing was written). */
  end(): void {
    if (this.phase === Phase.Pending && !this.startNative(false)) return;
    if (this.phase !== Phase.Open) return;
    this.phase = Phase.Ending;
    this.rejectDrains();
    try {
      // onStreamEnd reports the end (one completion path); when the last byte left at once, from
      // inside this call
      this.target.streamEnd(this.id);
    } catch (err) {
      if (isConnectionGone(err)) return void this.nativeGone(err); // onAbort/onStreamEnd tell the rest
      if (this.phase !== Phase.Ending) return; // ended during the call: the core reports how
      this.phase = Phase.Open;
      this.fail(err); // ELENGTH: fewer bytes than declared
    }
  }

  /** abort(): the application's own close ('closed'); abort(err): a failure ('error'), reported. */
  abort(err: unknown): void {
    if (err === undefined) this.cancel(new StreamCancel('closed'));
    else this.fail(err);
  }

  waitDrain(): Promise<void> {
    if (this.phase >= Phase.Ending) return Promise.reject(this.closedError());
    return new Promise<void>((resolve, reject) => (this.drainWaiters ??= []).push({ resolve, reject }));
  }

  whenEnded(): Promise<void> {
    if (this.phase === Phase.Done) return Promise.resolve();
    return new Promise<void>((resolve) => (this.endWaiters ??= []).push(resolve));
  }

  stats(): NativeStreamStats {
    if (this.final !== null) return this.final;
    if (this.phase === Phase.Pending || this.phase === Phase.Done) return this.lastLive ?? emptyStats();
    try {
      return (this.lastLive = streamStatsFrom(this.target.streamStats(this.id)));
    } catch {
      // The connection is gone and the core's final snapshot arrives at its next phase: until
      // then the last counters read stand (counters never go backwards for a poller).
      return this.lastLive ?? emptyStats();
    }
  }

  get signal(): AbortSignal {
    const controller = (this.controller ??= new AbortController());
    if (this.reason !== null && this.reason !== 'finished' && !controller.signal.aborted) controller.abort(this.abortReason());
    return controller.signal;
  }

  get writerState(): 'open' | 'closed' | 'aborted' {
    if (this.phase <= Phase.Open) return 'open';
    if (this.reason === null || this.reason === 'finished') return this.phase === Phase.Aborting ? 'aborted' : 'closed';
    return 'aborted';
  }

  /** The close reason once known. */
  get closeReason(): CloseReason | null {
    return this.phase === Phase.Done ? this.reason : null;
  }

  // ---- internals ----

  /** Starts the native stream; false (and the session failed or closed) when it could not. */
  private startNative(flushHeaders: boolean): boolean {
    const { id, status, block, contentLength, flow } = this.spec!;
    try {
      this.target.streamStart(id, status, block, contentLength, flow.highWaterMark, flow.lowWaterMark, flow.stallTimeout,
        flushHeaders ? StreamFlags.FlushHeaders : 0);
    } catch (err) {
      if (isConnectionGone(err)) {
        this.onAbort(AbortReason.ClientClosed);
      } else {
        this.fail(err);
      }
      return false;
    }
    this.phase = Phase.Open;
    this.spec = null; // the core has its own copy of the head (sent once); the rest is in fields
    this.host.started();
    this.events.start();
    return true;
  }

  /** Lazily starts the stream for a first write; false when it is already over. */
  private openForWrite(): boolean {
    if (this.phase !== Phase.Pending) return false;
    return this.startNative(false);
  }

  /**
   * A failure of the source, the writer callback, abort(err), or a write. Before any byte:
   * answered like a handler error. After: the optional error record, then streamAbort.
   */
  private fail(err: unknown, report = true): void {
    if (this.phase === Phase.Done || this.phase === Phase.Aborting) return; // the client left first: not an error
    if (this.phase === Phase.Ending && errorCode(err) === 'ECLOSED') return;
    if (err instanceof StreamCancel) return this.cancel(err); // a close on purpose, raised in a transform or the writer
    this.reason = 'error';
    if (this.phase === Phase.Pending) {
      this.phase = Phase.Aborting;
      this.stopProducer(err);
      if (report) this.events.error(err);
      this.host.answerError(err); // logs unless it is an HttpError
      this.close(emptyStats());
      return;
    }
    const wasOpen = this.phase === Phase.Open;
    this.phase = Phase.Aborting;
    this.stopProducer(err);
    if (report) this.reportError(err);
    if (wasOpen && this.errorRecord !== null) this.writeErrorRecord(err);
    try {
      this.target.streamAbort(this.id);
    } catch (e) {
      if (!isConnectionGone(e)) this.host.log(e);
    }
  }

  /**
   * The application ends the stream early on purpose ('closed' or 'shed'): not an error, so
   * nothing is reported or logged and no error record is written. The client sees a
   * truncated body (or, when nothing was sent yet, a 503); the core counts the stream in
   * streamsClosed / streamsShed.
   */
  private cancel(cause: StreamCancel): void {
    if (this.phase === Phase.Done || this.phase === Phase.Aborting) return;
    const kind: CancelReason = cause.reason;
    this.reason = kind;
    const wasPending = this.phase === Phase.Pending;
    this.phase = Phase.Aborting;
    this.stopProducer(cause);
    if (wasPending) {
      this.host.answerError(new HttpError(503, undefined, { cause })); // an HttpError: not logged
      this.close(emptyStats());
      return;
    }
    try {
      this.target.streamAbort(this.id, kind === 'shed' ? StreamState.Shed : StreamState.Closed);
    } catch (e) {
      if (!isConnectionGone(e)) this.host.log(e);
    }
  }

  /**
   * A native call threw. When it found the connection gone (ECLOSED, or a raw socket code:
   * see isConnectionGone), the stream is over in the core: no more calls are made, the
   * producer gets ECLOSED, and onAbort / onStreamEnd (which always follow for a started
   * stream) give the close reason; nothing is logged. Anything else is returned as it is.
   */
  private nativeGone(err: unknown): unknown {
    if (!isConnectionGone(err)) return err;
    if (this.phase === Phase.Open || this.phase === Phase.Ending) {
      this.phase = Phase.Aborting;
      this.rejectDrains();
    }
    return this.reason === null ? closedError("the client's connection is gone") : this.closedError();
  }

  private reportError(err: unknown): void {
    this.host.log(err);
    this.events.error(err);
  }

  private writeErrorRecord(err: unknown): void {
    try {
      const record = this.errorRecord!(err);
      if (record === null || record === undefined) return;
      this.target.streamWrite(this.id, checkChunk(record, 'errorRecord result'));
    } catch (e) {
      if (!isConnectionGone(e)) this.host.log(e);
    }
  }

  private stopProducer(reason: unknown): void {
    this.pump?.cancel(reason);
    this.rejectDrains();
    if (this.controller !== null && !this.controller.signal.aborted && this.reason !== 'finished') {
      this.controller.abort(this.abortReason(reason));
    }
  }

  private rejectDrains(): void {
    const waiters = this.drainWaiters;
    if (waiters === null) return;
    this.drainWaiters = null;
    const err = this.closedError();
    for (const w of waiters) w.reject(err);
  }

  /** `stats`: the counters when the native stream never started or never reported (else null). */
  private close(stats: NativeStreamStats | null): void {
    this.phase = Phase.Done;
    if (this.final === null) this.final = stats ?? emptyStats();
    this.rejectDrains();
    const ends = this.endWaiters;
    if (ends !== null) {
      this.endWaiters = null;
      for (const resolve of ends) resolve();
    }
    this.events.close(this.reason ?? 'error', this.final);
    this.host.finished();
  }

  private abortReason(cause?: unknown): unknown {
    if (cause !== undefined) return cause;
    if (this.reason === 'timeout') return abortError(AbortReason.Timeout);
    if (this.reason === 'client-closed' || this.reason === null) return abortError(AbortReason.ClientClosed);
    if (this.reason === 'closed' || this.reason === 'shed') return new StreamCancel(this.reason);
    return new CoreError('EABORTED', 'the stream was aborted');
  }

  private closedError(): CoreError {
    switch (this.reason) {
      case 'client-closed':
        return closedError('the client closed the connection');
      case 'timeout':
        return closedError('the stream timed out');
      case 'error':
        return closedError('the stream was aborted');
      case 'closed':
        return closedError('the application closed the stream');
      case 'shed':
        return closedError('the stream was shed (a slow consumer)');
      default:
        return closedError('the stream is closed');
    }
  }
}
