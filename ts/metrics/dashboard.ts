/**
 * A live dashboard served by the app itself and fed by Server-Sent Events from it.
 *
 *   app.get('/debug/dashboard', dashboard({ enabled: true, token: process.env.DEBUG_TOKEN }));
 *
 * Mounting it at PATH also mounts PATH/events: one `sample` event per interval with
 * requests/s, bytes/s, active streams and connections, totals, and the live streams
 * table. The page (no external resources) draws the charts on canvases and opens the
 * events with its own query string, so `?token=...` reaches both.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { App } from '../app.js';
import type { Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { sse } from '../sse/index.js';
import { accessCheck, type AccessCheck, type AccessOptions } from './access.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import { gather, provide, sumStats } from './cluster.js';
import { checkLimit, liveStreams, type LiveStreamInfo } from './introspection.js';
import type { NativeServerStats } from '../native.js';

// what a worker answers for another worker's dashboard (workers mode)
provide('view', (app) => ({ stats: app.stats(), streams: liveStreams(app) }));

/** The server counters and live streams: this process's, or every worker's in workers mode. */
async function view(app: App): Promise<{ stats: NativeServerStats; streams: LiveStreamInfo[] }> {
  const gathered = await gather(app, 'view');
  if (gathered === null) return { stats: app.stats(), streams: liveStreams(app) };
  type View = { stats: NativeServerStats; streams: LiveStreamInfo[] };
  const stats = sumStats(gathered.results.map((r) => ({ ...r, data: (r.data as View).stats })));
  const streams = gathered.results.flatMap((r) => (r.data as View).streams.map((s) => ({ ...s, worker: r.worker, pid: r.pid })));
  streams.sort((a, b) => b.ageMs - a.ageMs || a.id - b.id);
  return { stats, streams };
}
import { appHandler, type AppHandler } from './mount.js';

export interface DashboardOptions extends AccessOptions {
  /** Milliseconds between samples (default 1000). */
  interval?: number;
  /** Streams in each sample's table (oldest first; default 50). */
  limit?: number;
  /** The app, for handlers that are not mounted with app.get(path, handler). */
  app?: App;
}

export interface DashboardSample {
  /** Milliseconds since the epoch. */
  time: number;
  requestsPerSecond: number;
  /** All bytes handed to the kernel per second (responses and streams). */
  sentBytesPerSecond: number;
  /** Stream payload bytes per second. */
  streamedBytesPerSecond: number;
  activeStreams: number;
  connections: number;
  totals: { requests: number; sentBytes: number; streamsStarted: number; streamsCompleted: number; streamsAborted: number; streamsErrored: number };
  streams: LiveStreamInfo[];
  /** Live streams in all (the table may show fewer). */
  streamCount: number;
}

export interface DashboardHandler extends AppHandler {
  /** The SSE handler of the samples (mounted at PATH/events by app.get(PATH, dashboard)). */
  readonly events: AppHandler;
}

export function dashboard(options: DashboardOptions = {}): DashboardHandler {
  const check = accessCheck(options, 'dashboard()', false);
  const interval = options.interval ?? 1000;
  if (typeof interval !== 'number' || !Number.isSafeInteger(interval) || interval < 10) throw new TypeError('dashboard(): interval must be an integer of at least 10 (ms)');
  const limit = checkLimit(options.limit, 50, 'dashboard()');

  const events = appHandler('dashboard() events', options.app, (app, req) => serveEvents(app, req, check, interval, limit));
  const page = appHandler('dashboard()', options.app, async (_app, req) => {
    const refused = await check(req);
    if (refused !== null) return refused;
    return new HttpResponse(DASHBOARD_PAGE, {
      headers: {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        'X-Content-Type-Options': 'nosniff',
      },
    });
  }, (app, method, path) => {
    if (method === 'GET' || method === '*') app.get(path.endsWith('/') ? `${path}events` : `${path}/events`, events);
  });
  return Object.assign(page, { events }) as DashboardHandler;
}

async function serveEvents(app: App, req: Request, check: AccessCheck, interval: number, limit: number): Promise<unknown> {
  const refused = await check(req);
  if (refused !== null) return refused;
  return sse(req, async (stream) => {
    let previous = (await view(app)).stats;
    let previousTime = performance.now();
    let first = true;
    while (!stream.closed) {
      const { stats, streams } = await view(app);
      const now = performance.now();
      const seconds = first ? 0 : (now - previousTime) / 1000;
      const rate = (a: number, b: number) => (seconds > 0 ? Math.max(0, a - b) / seconds : 0);
      const sample: DashboardSample = {
        time: Date.now(),
        requestsPerSecond: rate(stats.requests, previous.requests),
        sentBytesPerSecond: rate(stats.bytesWritten, previous.bytesWritten),
        streamedBytesPerSecond: rate(stats.streamBytes, previous.streamBytes),
        activeStreams: stats.streamsActive,
        connections: stats.connectionsActive,
        totals: {
          requests: stats.requests, sentBytes: stats.bytesWritten, streamsStarted: stats.streamsStarted,
          streamsCompleted: stats.streamsCompleted, streamsAborted: stats.streamsAborted, streamsErrored: stats.streamsErrored,
        },
        streams: streams.slice(0, limit),
        streamCount: streams.length,
      };
      previous = stats;
      previousTime = now;
      first = false;
      try {
        await stream.send({ event: 'sample', data: sample });
        await sleep(interval, undefined, { signal: stream.signal });
      } catch {
        return; // the client left (the signal aborted, or the write was refused)
      }
    }
  }, { heartbeat: 0, retry: 2000 });
}
