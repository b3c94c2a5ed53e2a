/** Stream observability: the public surface of ts/metrics/. */
export { metrics, type MetricsOptions, type MetricsFormat } from './endpoint.js';
export { metricsRegistry } from './registry.js';
export { metricsSnapshot, type MetricsSnapshot } from './snapshot.js';
export { streamsIntrospection, liveStreams, type IntrospectionOptions, type LiveStreamInfo } from './introspection.js';
export { dashboard, type DashboardOptions, type DashboardSample, type DashboardHandler } from './dashboard.js';
export type { AccessOptions } from './access.js';
export type { RouteTotals } from './routes.js';
export { LATENCY_BOUNDS_SECONDS } from './collectors.js';
