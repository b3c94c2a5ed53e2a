/**
 * A fake of the native server for unit tests of the transport and the streaming
 * layer: records every call, models a stream queue with watermarks, and lets a test
 * drain it, finish it or disconnect the client, in the order the real core calls back
 * (onAbort, then onStreamEnd, which is always last).
 */
import { CoreError } from '../../ts/errors.js';
import { MiddlewareChain, normalizePrefix, type Middleware } from '../../ts/middleware.js';
import { Pipeline, type Handler, type RouteOptions } from '../../ts/pipeline.js';
import { AbortReason, METHODS, RequestFlags, STREAM_STATS_FIELDS, StreamState, type NativeAddress, type NativeServerCallbacks, type NativeStreamStats } from '../../ts/native.js';
import { Router } from '../../ts/router.js';
import type { FlowOptions } from '../../ts/streaming/options.js';
import { Transport } from '../../ts/transport.js';

export interface Sent { id: number; status: number; block: string; body: string | Uint8Array | null; flags: number }

export interface FakeStream {
  id: number;
  status: number;
  block: string;
  contentLength: number;
  hwm: number;
  lwm: number;
  stall: number;
  flags: number;
  /** Every chunk as written (a writev's chunks one by one). */
  chunks: Array<string | Uint8Array>;
  /** Native calls in order: 'write', 'writev:n', 'flush', 'end', 'abort'. */
  calls: string[];
  /** Chunks written with `copy` (lent by their source). */
  lentCopies: number;
  queued: number;
  peak: number;
  over: boolean;
  state: 'open' | 'ending' | 'aborted' | 'done';
  endState: number | null;
}

export class FakeNative {
  readonly sent: Sent[] = [];
  readonly streams = new Map<number, FakeStream>();
  readonly dead = new Set<number>();
  /** pauseBody / resumeBody calls, e.g. 'pause 3'. */
  readonly calls: string[] = [];
  cb!: NativeServerCallbacks;
  /** Finish streams by themselves one check phase after streamEnd/streamAbort (default true). */
  autoFinish = true;
  /** Drain a backpressured stream one check phase after the write (default false). */
  autoDrain = false;

  respond(id: number, status: number, block: string, body: string | Uint8Array | null, flags: number): void {
    if (this.dead.has(id)) throw new CoreError('ECLOSED', 'closed');
    this.sent.push({ id, status, block, body, flags });
  }
  remoteAddress(id: number): NativeAddress {
    if (this.dead.has(id)) throw new CoreError('ECLOSED', 'closed');
    return { address: '10.0.0.' + id, port: 1234, family: 'IPv4' };
  }
  pauseBody(id: number): void { this.calls.push(`pause ${id}`); }
  resumeBody(id: number): void { this.calls.push(`resume ${id}`); }

  streamStart(id: number, status: number, block: string, contentLength: number, hwm: number, lwm: number, stall: number, flags: number): void {
    if (this.dead.has(id) || this.streams.has(id)) throw new CoreError('ECLOSED', 'closed');
    this.streams.set(id, { id, status, block, contentLength, hwm, lwm, stall, flags, chunks: [], calls: [], lentCopies: 0, queued: 0, peak: 0, over: false, state: 'open', endState: null });
  }
  /** Chunks are kept by reference, as the core keeps large ones; `copy` (lent bytes): copied, counted in `lentCopies`. */
  streamWrite(id: number, chunk: string | Uint8Array, copy = false): boolean {
    const s = this.live(id);
    s.calls.push('write');
    return this.queue(s, [this.own(s, chunk, copy)]);
  }
  streamWritev(id: number, chunks: Array<string | Uint8Array>, copy = false): boolean {
    const s = this.live(id);
    s.calls.push(`writev:${chunks.length}`);
    return this.queue(s, chunks.map((c) => this.own(s, c, copy)));
  }
  private own(s: FakeStream, chunk: string | Uint8Array, copy: boolean): string | Uint8Array {
    if (!copy || typeof chunk === 'string') return chunk;
    s.lentCopies++;
    return Buffer.from(chunk);
  }
  streamFlush(id: number): void { this.live(id).calls.push('flush'); }
  streamEnd(id: number): void {
    const s = this.live(id);
    s.calls.push('end');
    if (s.contentLength >= 0 && this.bytes(s) !== s.contentLength) throw new CoreError('ELENGTH', 'short');
    s.state = 'ending';
    if (this.autoFinish) setImmediate(() => this.finish(id));
  }
  streamAbort(id: number): void {
    const s = this.live(id);
    s.calls.push('abort');
    s.state = 'aborted';
    if (this.autoFinish) setImmediate(() => this.end(s, StreamState.Errored));
  }
  streamStats(id: number): Float64Array {
    const s = this.live(id);
    return toArray(this.statsOf(s));
  }

  /** The queue empties: onDrain when it had passed the high watermark. */
  drain(id: number): void {
    const s = this.streams.get(id);
    if (!s || s.state !== 'open') return;
    s.queued = 0;
    if (s.over) {
      s.over = false;
      this.cb.onDrain(id);
    }
  }
  /** Every byte left: onStreamEnd(Finished) for an ended stream. */
  finish(id: number): void {
    const s = this.streams.get(id);
    if (s && s.state === 'ending') this.end(s, StreamState.Finished);
  }
  /** The client goes away: onAbort, then onStreamEnd(Aborted) for a started stream. */
  disconnect(id: number, reason = AbortReason.ClientClosed): void {
    this.dead.add(id);
    this.cb.onAbort(id, reason);
    const s = this.streams.get(id);
    if (s && s.state !== 'done') this.end(s, StreamState.Aborted);
  }
  text(id: number): string {
    return this.streams.get(id)!.chunks.map((c) => (typeof c === 'string' ? c : Buffer.from(c).toString('latin1'))).join('');
  }
  bytes(s: FakeStream): number {
    return s.chunks.reduce((n, c) => n + Buffer.byteLength(c as string), 0);
  }

  private end(s: FakeStream, state: number): void {
    if (s.state === 'done') return;
    s.state = 'done';
    s.endState = state;
    this.dead.add(s.id);
    this.cb.onStreamEnd(s.id, state, toArray(this.statsOf(s)));
  }
  private live(id: number): FakeStream {
    const s = this.streams.get(id);
    if (!s || s.state !== 'open') throw new CoreError('ECLOSED', `stream ${id} is closed`);
    return s;
  }
  private queue(s: FakeStream, chunks: Array<string | Uint8Array>): boolean {
    for (const c of chunks) {
      if (s.contentLength >= 0 && this.bytes(s) + Buffer.byteLength(c as string) > s.contentLength) throw new CoreError('ELENGTH', 'over');
      s.chunks.push(c);
      s.queued += Buffer.byteLength(c as string);
    }
    s.peak = Math.max(s.peak, s.queued);
    if (s.queued >= s.hwm) {
      s.over = true;
      if (this.autoDrain) setImmediate(() => this.drain(s.id));
      return false;
    }
    return true;
  }
  private statsOf(s: FakeStream): NativeStreamStats {
    const bytes = this.bytes(s);
    return {
      state: s.endState ?? StreamState.Streaming, bytes, bytesSent: bytes, chunks: s.chunks.length, writes: s.calls.length, coalescedWrites: 0,
      backpressureEvents: 0, backpressureMicros: 0, queuedBytes: s.queued, peakQueuedBytes: s.peak,
      writeLatencyTotalMicros: 0, writeLatencyMaxMicros: 0, startedAt: 0, lastWriteAt: 0, sendfileBytes: 0,
    };
  }
}

export interface FakeApp {
  fake: FakeNative;
  logged: unknown[];
  /** Sends a request; returns its id. */
  send(method: string, url: string, rawHeaders?: string, flags?: number): number;
}

export interface FakeSetup {
  route(method: string, path: string, handler: Handler, options?: RouteOptions): void;
  use(mw: Middleware, prefix?: string): void;
}

export function fakeApp(build: (r: FakeSetup) => void, flow: FlowOptions = {}): FakeApp {
  const router = new Router<Handler, RouteOptions>();
  const chain = new MiddlewareChain();
  const logged: unknown[] = [];
  build({ route: (m, p, h, o) => router.add(m, p, h, o), use: (mw, prefix) => chain.add(prefix === undefined ? '' : normalizePrefix(prefix), mw) });
  const logger = { error: (...args: unknown[]) => logged.push(args.join(' ')) };
  const transport = new Transport(new Pipeline(router, chain, logger), logger, flow);
  const fake = new FakeNative();
  fake.cb = transport.callbacks();
  transport.attach(fake);
  let nextId = 1;
  return {
    fake,
    logged,
    send(method, url, rawHeaders = '', flags = 0) {
      const id = nextId++;
      fake.cb.onRequest(id, METHODS.indexOf(method), url, rawHeaders, flags);
      if (!(flags & RequestFlags.HasBody)) fake.cb.onBodyEnd(id);
      return id;
    },
  };
}

/** Resolves after `n` check phases (setImmediate), letting microtasks and immediates run. */
export async function turns(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Waits (bounded: `maxMs`) until `pred()` holds, checking once per check phase, then every few ms. */
export async function until(pred: () => boolean, what: string, maxMs = 5000): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (let i = 0; Date.now() < deadline; i++) {
    if (pred()) return;
    if (i < 200) await turns(1);
    else await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`never happened within ${maxMs} ms: ${what}`);
}

/** Counters in the core's Float64Array layout. */
function toArray(stats: NativeStreamStats): Float64Array {
  return Float64Array.from(STREAM_STATS_FIELDS.map((k) => stats[k]));
}
