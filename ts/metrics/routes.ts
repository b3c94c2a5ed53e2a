/**
 * Per-route numbers, gathered in TypeScript: the transport tells a RouteMetrics (a
 * DispatchObserver) the matched route pattern of every answer and the final counters
 * of every stream. Stream counters of a route are the sums over its closed streams
 * plus the current counters of its live streams (read from the core at each look),
 * so they move during a long stream and never go down: a live stream's counters only
 * grow, and its final counters are at least the last ones seen.
 */
import type { App, LiveStream } from '../app.js';
import { streamCompression } from '../compression/index.js';
import type { DispatchObserver } from '../transport.js';
import type { NativeStreamStats } from '../native.js';
import type { Request } from '../request.js';
import type { HttpResponse } from '../response.js';
import type { CloseReason } from '../streaming/session.js';

/** The `route` label of requests that matched no route (404, 405, OPTIONS *). */
export const UNMATCHED = '(unmatched)';

export const CLOSE_REASONS: readonly CloseReason[] = ['finished', 'client-closed', 'error', 'timeout', 'closed', 'shed'];

/** The additive stream counters kept per route. */
export const STREAM_SUMS = [
  'bytes', 'bytesSent', 'chunks', 'writes', 'coalescedWrites', 'backpressureEvents', 'backpressureMicros', 'sendfileBytes',
  'compressionIn', 'compressionOut',
] as const;
export type StreamSum = (typeof STREAM_SUMS)[number];
export type StreamSums = Record<StreamSum, number>;

export interface RouteTotals {
  /** Answers by status (whole responses and stream starts). */
  responses: Record<string, number>;
  /** Requests whose client left before any response was sent. */
  aborted: number;
  /** Streams that ended, by close reason. */
  closed: Record<CloseReason, number>;
  /** Streams of this route live now. */
  open: number;
  /** Stream counters: closed streams plus the live ones. */
  streams: StreamSums;
}

/** A live stream as the transport reported it. */
export interface LiveEntry {
  id: number;
  route: string;
  method: string;
  /** Request path without the query. */
  path: string;
  res: HttpResponse;
  /** The last counters seen from the core (so a stream the core already dropped never counts less). */
  last: StreamSums;
}

export function emptySums(): StreamSums {
  return { bytes: 0, bytesSent: 0, chunks: 0, writes: 0, coalescedWrites: 0, backpressureEvents: 0, backpressureMicros: 0, sendfileBytes: 0, compressionIn: 0, compressionOut: 0 };
}

function emptyTotals(): RouteTotals {
  return { responses: {}, aborted: 0, closed: { finished: 0, 'client-closed': 0, error: 0, timeout: 0, closed: 0, shed: 0 }, open: 0, streams: emptySums() };
}

/** The stream counters of `stats` plus the compression counters of `res`. */
function sumsOf(stats: NativeStreamStats, res: HttpResponse): StreamSums {
  const compression = streamCompression(res);
  return {
    bytes: stats.bytes, bytesSent: stats.bytesSent, chunks: stats.chunks, writes: stats.writes, coalescedWrites: stats.coalescedWrites,
    backpressureEvents: stats.backpressureEvents, backpressureMicros: stats.backpressureMicros, sendfileBytes: stats.sendfileBytes,
    compressionIn: compression?.bytesIn ?? 0, compressionOut: compression?.bytesOut ?? 0,
  };
}

function addSums(into: StreamSums, add: StreamSums): void {
  for (const k of STREAM_SUMS) into[k] += add[k];
}

function maxSums(a: StreamSums, b: StreamSums): StreamSums {
  const out = emptySums();
  for (const k of STREAM_SUMS) out[k] = Math.max(a[k], b[k]);
  return out;
}

export class RouteMetrics implements DispatchObserver {
  /** Closed-stream sums and answer counts, by route label. */
  private readonly routes = new Map<string, RouteTotals>();
  private readonly live = new Map<number, LiveEntry>();

  constructor(private readonly app: App) {}

  // ---- DispatchObserver (on the request path: counting only) ----

  responded(route: string | undefined, status: number): void {
    const responses = this.totals(route).responses;
    responses[status] = (responses[status] ?? 0) + 1;
  }

  aborted(route: string | undefined): void {
    this.totals(route).aborted++;
  }

  streamStarted(id: number, req: Request, res: HttpResponse): void {
    this.live.set(id, { id, route: req.route ?? UNMATCHED, method: req.method, path: req.path, res, last: emptySums() });
  }

  streamClosed(id: number, route: string | undefined, reason: CloseReason, stats: NativeStreamStats): void {
    const totals = this.totals(route);
    totals.closed[reason]++;
    const entry = this.live.get(id);
    if (entry === undefined) return; // never started natively: nothing was sent
    this.live.delete(id);
    addSums(totals.streams, maxSums(entry.last, sumsOf(stats, entry.res)));
  }

  // ---- reading ----

  /** The live streams of the core joined with what the transport knows of them (route, path, response). */
  liveStreams(): Array<{ native: LiveStream; entry: LiveEntry | undefined }> {
    const out: Array<{ native: LiveStream; entry: LiveEntry | undefined }> = [];
    for (const native of this.app.liveStreams()) {
      const entry = this.live.get(native.id);
      if (entry !== undefined) entry.last = maxSums(entry.last, sumsOf(native, entry.res));
      out.push({ native, entry });
    }
    return out;
  }

  /** Every route's totals now (a copy), live streams included. */
  snapshot(): Map<string, RouteTotals> {
    const out = new Map<string, RouteTotals>();
    for (const [route, t] of this.routes) {
      out.set(route, { responses: { ...t.responses }, aborted: t.aborted, closed: { ...t.closed }, open: 0, streams: { ...t.streams } });
    }
    this.liveStreams(); // refreshes entry.last from the core
    for (const entry of this.live.values()) {
      let t = out.get(entry.route);
      if (t === undefined) out.set(entry.route, (t = emptyTotals()));
      t.open++;
      addSums(t.streams, entry.last);
    }
    return out;
  }

  private totals(route: string | undefined): RouteTotals {
    const key = route ?? UNMATCHED;
    let t = this.routes.get(key);
    if (t === undefined) this.routes.set(key, (t = emptyTotals()));
    return t;
  }
}

const perApp = new WeakMap<App, RouteMetrics>();

/** The per-route metrics of `app`, observing it from the first call on. */
export function routeMetrics(app: App): RouteMetrics {
  let metrics = perApp.get(app);
  if (metrics === undefined) {
    metrics = new RouteMetrics(app);
    perApp.set(app, metrics);
    app.observe(metrics);
  }
  return metrics;
}
