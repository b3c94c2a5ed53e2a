/**
 * The metrics as one JSON object: the core's server counters as they are (see
 * NativeServerStats), the write-latency histogram with its bounds in seconds, the
 * per-route totals, and the process-wide compression counters.
 */
import type { App } from '../app.js';
import { compressionStats, type CompressionStats } from '../compression/index.js';
import type { NativeServerStats } from '../native.js';
import { LATENCY_BOUNDS_SECONDS } from './collectors.js';
import { routeMetrics, type RouteTotals } from './routes.js';

export interface MetricsSnapshot {
  /** Milliseconds since the epoch. */
  time: number;
  /** The app's native server counters (zero before listen). */
  server: Omit<NativeServerStats, 'writeLatencyBuckets'>;
  writeLatency: {
    count: number;
    sumSeconds: number;
    /** Cumulative counts of writes that took at most `le` seconds (the last bucket: every write). */
    buckets: Array<{ le: number | '+Inf'; count: number }>;
  };
  /** By route pattern (`(unmatched)` for requests that matched none). */
  routes: Record<string, RouteTotals>;
  /** Every compress() middleware of the process. */
  compression: CompressionStats;
}

export function metricsSnapshot(app: App): MetricsSnapshot {
  const { writeLatencyBuckets, ...server } = app.stats();
  const buckets: MetricsSnapshot['writeLatency']['buckets'] = [];
  let cumulative = 0;
  LATENCY_BOUNDS_SECONDS.forEach((le, i) => {
    cumulative += writeLatencyBuckets[i] ?? 0;
    buckets.push({ le, count: cumulative });
  });
  buckets.push({ le: '+Inf', count: server.writeLatencyCount });
  return {
    time: Date.now(),
    server,
    writeLatency: { count: server.writeLatencyCount, sumSeconds: server.writeLatencyTotalMicros / 1e6, buckets },
    routes: Object.fromEntries(routeMetrics(app).snapshot()),
    compression: compressionStats(),
  };
}
