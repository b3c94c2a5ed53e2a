/**
 * Per-stream introspection: the live streams of an app as JSON, off by default.
 *
 *   app.get('/debug/streams', streamsIntrospection({ enabled: true, token: process.env.DEBUG_TOKEN }));
 */
import type { App } from '../app.js';
import { streamCompression } from '../compression/index.js';
import type { NativeAddress } from '../native.js';
import { HttpResponse } from '../response.js';
import { accessCheck, type AccessOptions } from './access.js';
import { appHandler, type AppHandler } from './mount.js';
import { routeMetrics } from './routes.js';
import { gather, provide, summary } from './cluster.js';

// what a worker answers when another worker serves the introspection (workers mode)
provide('streams', (app) => liveStreams(app));

/** Names of the core's stream states (StreamState). */
const STATES = ['headers-pending', 'streaming', 'backpressured', 'finishing', 'finished', 'aborted', 'errored', 'closed', 'shed'] as const;

export interface LiveStreamInfo {
  id: number;
  /** The matched route pattern. */
  route: string;
  method: string;
  /** The request path, without its query. */
  path: string;
  client: NativeAddress;
  state: (typeof STATES)[number] | 'unknown';
  ageMs: number;
  /** Payload bytes accepted from the producer. */
  bytes: number;
  /** Bytes handed to the kernel, framing included. */
  bytesSent: number;
  chunks: number;
  queuedBytes: number;
  peakQueuedBytes: number;
  backpressureEvents: number;
  backpressureMs: number;
  /** Milliseconds since the epoch, or null before the first write. */
  lastWriteAt: number | null;
  /** Compression of the body, when compress() encodes it: ratio = bytesIn / bytesOut. */
  compression: { encoding: string; bytesIn: number; bytesOut: number; ratio: number | null } | null;
  /** Workers mode: the worker (slot) and process serving the stream (ids are per worker). */
  worker?: number;
  pid?: number;
}

/**
 * The live streams of every worker in workers mode, each tagged with its worker, oldest first;
 * outside workers mode (or without the primary's answer), this process's.
 */
export async function liveStreamsOfAll(app: App): Promise<{ streams: LiveStreamInfo[]; workers?: ReturnType<typeof summary> }> {
  const gathered = await gather(app, 'streams');
  if (gathered === null) return { streams: liveStreams(app) };
  const streams = gathered.results.flatMap((r) => (r.data as LiveStreamInfo[]).map((s) => ({ ...s, worker: r.worker, pid: r.pid })));
  streams.sort((a, b) => b.ageMs - a.ageMs || a.worker - b.worker || a.id - b.id);
  return { streams, workers: summary(gathered) };
}

/** The live streams of `app`, oldest first. */
export function liveStreams(app: App): LiveStreamInfo[] {
  const now = Date.now();
  const rows = routeMetrics(app).liveStreams().map(({ native: s, entry }): LiveStreamInfo => {
    const c = entry === undefined ? undefined : streamCompression(entry.res);
    return {
      id: s.id,
      route: entry?.route ?? '(unknown)',
      method: entry?.method ?? '',
      path: entry?.path ?? '',
      client: s.remote,
      state: STATES[s.state] ?? 'unknown',
      ageMs: s.startedAt > 0 ? Math.max(0, now - s.startedAt) : 0,
      bytes: s.bytes,
      bytesSent: s.bytesSent,
      chunks: s.chunks,
      queuedBytes: s.queuedBytes,
      peakQueuedBytes: s.peakQueuedBytes,
      backpressureEvents: s.backpressureEvents,
      backpressureMs: s.backpressureMicros / 1000,
      lastWriteAt: s.lastWriteAt > 0 ? s.lastWriteAt : null,
      compression: c === undefined ? null : { encoding: c.encoding, bytesIn: c.bytesIn, bytesOut: c.bytesOut, ratio: c.bytesOut > 0 ? c.bytesIn / c.bytesOut : null },
    };
  });
  return rows.sort((a, b) => b.ageMs - a.ageMs || a.id - b.id);
}

export interface IntrospectionOptions extends AccessOptions {
  /** At most this many streams in one answer (oldest first; default 1000). */
  limit?: number;
  /** The app, for a handler that is not mounted with app.get(path, handler). */
  app?: App;
}

export function streamsIntrospection(options: IntrospectionOptions = {}): AppHandler {
  const check = accessCheck(options, 'streamsIntrospection()', false);
  const limit = checkLimit(options.limit, 1000, 'streamsIntrospection()');
  return appHandler('streamsIntrospection()', options.app, async (app, req) => {
    const refused = await check(req);
    if (refused !== null) return refused;
    const { streams, workers } = await liveStreamsOfAll(app);
    const body = { time: Date.now(), count: streams.length, streams: streams.slice(0, limit), ...(workers ? { workers } : {}) };
    return new HttpResponse(JSON.stringify(body), { headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' } });
  });
}

export function checkLimit(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`${what}: limit must be a non-negative integer`);
  return value;
}
