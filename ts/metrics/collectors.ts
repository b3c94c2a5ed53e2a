/**
 * The catzilla metrics, by conventional Prometheus names: `catzilla_` prefix, `_total`
 * on counters, base units (`_bytes`, `_seconds`). Server-wide numbers come from the
 * core's counters of the app's native server (they start at zero with each listen());
 * numbers with a `route` label (the matched pattern, `(unmatched)` for 404/405) are
 * gathered by the transport (ts/metrics/routes.ts); compression numbers are
 * process-wide (every compress() middleware). Stream metrics: `catzilla_streams_*` for
 * the whole server, `catzilla_stream_*{route}` per route.
 */
import type { Registry } from 'prom-client';
import { liveBackplanes } from '../backplane/registry.js';
import { compressionStats, ENCODINGS } from '../compression/index.js';
import type { BackplaneStats } from '../backplane/types.js';
import type { NativeServerStats } from '../native.js';
import { exactCounter, exactGauge, nativeHistogram, type Sample, type ScrapeSource } from './scrape.js';
import { CLOSE_REASONS, type RouteTotals, type StreamSum } from './routes.js';

/** Bucket i of the core's write-latency histogram counts writes of < 2^i whole µs, i.e. <= 2^i - 1 µs. */
export const LATENCY_BUCKETS = 24;

/** The `le` bounds (seconds) of the core's finite latency buckets; the last core bucket is +Inf. */
export const LATENCY_BOUNDS_SECONDS: readonly number[] = Array.from({ length: LATENCY_BUCKETS - 1 }, (_, i) => (2 ** i - 1) / 1e6);

const MICRO = 1e-6;

type ServerField = { [K in keyof NativeServerStats]: NativeServerStats[K] extends number ? K : never }[keyof NativeServerStats];

/** Server-wide counters: metric name, help, field of NativeServerStats, scale. */
const SERVER_COUNTERS: ReadonlyArray<readonly [string, string, ServerField, number?]> = [
  ['catzilla_connections_accepted_total', 'Connections accepted.', 'connectionsAccepted'],
  ['catzilla_requests_total', 'Requests whose headers the core parsed.', 'requests'],
  ['catzilla_received_bytes_total', 'Bytes read from sockets.', 'bytesRead'],
  ['catzilla_sent_bytes_total', 'Bytes handed to the kernel, responses and streams, framing included.', 'bytesWritten'],
  ['catzilla_socket_writes_total', 'Socket writes of whole responses.', 'writes'],
  ['catzilla_parse_errors_total', 'Malformed requests the core answered itself (400, 413, 414, 431, 501, 417).', 'parseErrors'],
  ['catzilla_timeouts_total', 'Header, body and stall timeouts.', 'timeouts'],
  ['catzilla_streams_started_total', 'Streaming responses started.', 'streamsStarted'],
  ['catzilla_streams_bytes_total', 'Payload bytes accepted into streams (before framing).', 'streamBytes'],
  ['catzilla_streams_chunks_total', 'Chunks written into streams.', 'streamChunks'],
  ['catzilla_streams_writes_total', 'Socket writes of streams (one per flush).', 'streamWrites'],
  ['catzilla_streams_coalesced_writes_total', 'Stream socket writes that carried more than one chunk.', 'streamCoalescedWrites'],
  ['catzilla_sendfile_bytes_total', 'Bytes sent from files with sendfile.', 'sendfileBytes'],
  ['catzilla_backpressure_events_total', 'Times a stream went over its high watermark.', 'backpressureEvents'],
  ['catzilla_backpressure_seconds_total', 'Time streams spent over their high watermark.', 'backpressureMicros', MICRO],
  ['catzilla_websocket_deflate_messages_total', 'WebSocket messages sent compressed (permessage-deflate).', 'wsDeflateMessages'],
  ['catzilla_websocket_deflate_reused_total', 'Compressed WebSocket messages that reused a payload compressed for another member (a room broadcast compressed once).', 'wsDeflateReused'],
  ['catzilla_websocket_deflate_in_bytes_total', 'Bytes of WebSocket messages given to deflate.', 'wsDeflateBytesIn'],
  ['catzilla_websocket_deflate_out_bytes_total', 'Bytes deflate produced for WebSocket messages.', 'wsDeflateBytesOut'],
  ['catzilla_websocket_inflate_messages_total', 'Compressed WebSocket messages received and inflated.', 'wsInflateMessages'],
  ['catzilla_websocket_inflate_in_bytes_total', 'Compressed bytes of WebSocket messages received.', 'wsInflateBytesIn'],
  ['catzilla_websocket_inflate_out_bytes_total', 'Bytes inflated from received WebSocket messages.', 'wsInflateBytesOut'],
  ['catzilla_websocket_pings_sent_total', 'Liveness pings the server sent to silent WebSocket peers.', 'wsPingsSent'],
];

/** WebSocket connections the core closed for a limit or liveness rule: reason label, field. */
const WS_CLOSES: ReadonlyArray<readonly [string, ServerField]> = [
  ['pong-timeout', 'wsPongTimeouts'],
  ['idle-timeout', 'wsIdleTimeouts'],
  ['too-big', 'wsTooBig'],
  ['fragment-flood', 'wsFragmentFloods'],
  ['control-flood', 'wsControlFloods'],
  ['connection-limit', 'wsConnectionLimit'],
];

/** Per-route stream counters: metric name, help, field of the route's sums, scale. */
const ROUTE_STREAM_COUNTERS: ReadonlyArray<readonly [string, string, StreamSum, number?]> = [
  ['catzilla_stream_bytes_total', 'Payload bytes streamed by the route (before framing), live streams included.', 'bytes'],
  ['catzilla_stream_sent_bytes_total', 'Bytes of the route\'s streams handed to the kernel, framing included.', 'bytesSent'],
  ['catzilla_stream_chunks_total', 'Chunks written by the route\'s streams.', 'chunks'],
  ['catzilla_stream_writes_total', 'Socket writes of the route\'s streams.', 'writes'],
  ['catzilla_stream_coalesced_writes_total', 'Socket writes of the route\'s streams that carried more than one chunk.', 'coalescedWrites'],
  ['catzilla_stream_backpressure_events_total', 'Times the route\'s streams went over their high watermark.', 'backpressureEvents'],
  ['catzilla_stream_backpressure_seconds_total', 'Time the route\'s streams spent over their high watermark.', 'backpressureMicros', MICRO],
  ['catzilla_stream_sendfile_bytes_total', 'Bytes the route\'s streams sent from files with sendfile.', 'sendfileBytes'],
  ['catzilla_stream_compression_in_bytes_total', 'Uncompressed bytes the route\'s streams fed to compression.', 'compressionIn'],
  ['catzilla_stream_compression_out_bytes_total', 'Compressed bytes the route\'s streams produced.', 'compressionOut'],
];

function* perRoute<L extends string>(routes: Map<string, RouteTotals>, pick: (t: RouteTotals, route: string) => Iterable<Sample<L>>): Iterable<Sample<L>> {
  for (const [route, totals] of routes) yield* pick(totals, route);
}

export function registerCollectors(registry: Registry, source: ScrapeSource): void {
  const server = () => source.serverStats();
  const routes = () => source.routeTotals();

  // ---- server-wide, from the core ----
  exactGauge(registry, 'catzilla_connections', 'Open connections.', [], () => server().connectionsActive);
  exactGauge(registry, 'catzilla_streams_active', 'Streams in progress.', [], () => server().streamsActive);
  exactGauge(registry, 'catzilla_streams_peak_queued_bytes', 'Largest queue any stream has had (bytes waiting for the socket).', [], () => server().peakQueuedBytes, 'max');
  for (const [name, help, field, scale = 1] of SERVER_COUNTERS) {
    exactCounter(registry, name, help, [], () => server()[field] * scale);
  }
  exactCounter(registry, 'catzilla_streams_total', 'Streams that ended, by outcome (completed: every byte handed to the kernel; aborted: the client closed, reset or left, or stalled past the timeout; errored: a failure of the server side; closed: ended early by the application on purpose; shed: dropped by a slow-consumer policy).', ['outcome'], () => {
    const s = server();
    return [
      [{ outcome: 'completed' }, s.streamsCompleted], [{ outcome: 'aborted' }, s.streamsAborted], [{ outcome: 'errored' }, s.streamsErrored],
      [{ outcome: 'closed' }, s.streamsClosed], [{ outcome: 'shed' }, s.streamsShed],
    ];
  });
  exactCounter(registry, 'catzilla_http_responses_total', 'Responses by status class, counted by the core (its own error answers included).', ['class'], () => {
    const s = server();
    return [[{ class: '1xx' }, s.responses1xx], [{ class: '2xx' }, s.responses2xx], [{ class: '3xx' }, s.responses3xx], [{ class: '4xx' }, s.responses4xx], [{ class: '5xx' }, s.responses5xx]];
  });
  exactCounter(registry, 'catzilla_websocket_closes_total', 'WebSocket connections the server closed for a rule: pong-timeout (1006 to the handler), idle-timeout (1001), too-big (1009), fragment-flood and control-flood (1008), connection-limit (1013).', ['reason'], () => {
    const s = server();
    return WS_CLOSES.map(([reason, field]) => [{ reason }, s[field]] as const);
  });
  nativeHistogram(registry, 'catzilla_write_latency_seconds', 'Latency of stream socket writes (flush to completion).', LATENCY_BOUNDS_SECONDS, () => {
    const s = server();
    return { counts: s.writeLatencyBuckets, sum: s.writeLatencyTotalMicros * MICRO, count: s.writeLatencyCount };
  });

  // ---- per route, from the transport ----
  exactCounter(registry, 'catzilla_responses_total', 'Responses the app sent, by route pattern and status.', ['route', 'status'], () =>
    perRoute(routes(), (t, route) => Object.entries(t.responses).map(([status, n]) => [{ route, status }, n] as const)));
  exactCounter(registry, 'catzilla_requests_aborted_total', 'Requests whose client left before any response was sent.', ['route'], () =>
    perRoute(routes(), (t, route) => (t.aborted > 0 ? [[{ route }, t.aborted] as const] : [])));
  exactCounter(registry, 'catzilla_stream_close_total', 'Streams closed, by route and reason (finished, client-closed, error, timeout, closed, shed).', ['route', 'reason'], () =>
    perRoute(routes(), (t, route) => CLOSE_REASONS.filter((r) => t.closed[r] > 0).map((reason) => [{ route, reason }, t.closed[reason]] as const)));
  exactGauge(registry, 'catzilla_stream_active', 'Streams of the route in progress.', ['route'], () =>
    perRoute(routes(), (t, route) => (hasStreams(t) ? [[{ route }, t.open] as const] : [])));
  for (const [name, help, field, scale = 1] of ROUTE_STREAM_COUNTERS) {
    exactCounter(registry, name, help, ['route'], () =>
      perRoute(routes(), (t, route) => (hasStreams(t) ? [[{ route }, t.streams[field] * scale] as const] : [])));
  }

  // ---- compression (process-wide) ----
  const compression = (pick: (e: { responses: number; bytesIn: number; bytesOut: number }) => number) => () =>
    ENCODINGS.map((encoding) => [{ encoding }, pick(compressionStats().byEncoding[encoding])] as const);
  exactCounter(registry, 'catzilla_compression_responses_total', 'Responses compressed (whole bodies and streams), by encoding.', ['encoding'], compression((e) => e.responses));
  exactCounter(registry, 'catzilla_compression_in_bytes_total', 'Uncompressed bytes fed to compression, by encoding.', ['encoding'], compression((e) => e.bytesIn));
  exactCounter(registry, 'catzilla_compression_out_bytes_total', 'Compressed bytes produced, by encoding.', ['encoding'], compression((e) => e.bytesOut));
  exactCounter(registry, 'catzilla_compression_skipped_total', 'Responses left uncompressed, by reason.', ['reason'], () =>
    Object.entries(compressionStats().skipped).map(([reason, n]) => [{ reason }, n] as const));
  exactGauge(registry, 'catzilla_compression_streams_active', 'Stream encoders open now.', [], () => compressionStats().activeStreams);

  // ---- Redis backplanes of this process (redisBackplane(): connected or connecting) ----
  const backplanes = (pick: (s: BackplaneStats) => number) => () =>
    [...liveBackplanes()].map((b) => [{ backplane: b.label }, pick(b.stats())] as const);
  exactGauge(registry, 'catzilla_backplane_connected', 'Whether the backplane\'s connections to Redis are up (1) or not (0); summed over workers: the workers connected.', ['backplane'], backplanes((s) => (s.connected ? 1 : 0)));
  exactCounter(registry, 'catzilla_backplane_published_total', 'Events and broadcasts appended to Redis by this server.', ['backplane'], backplanes((s) => s.published));
  exactCounter(registry, 'catzilla_backplane_publish_errors_total', 'Publishes that failed (EBACKPLANE: Redis unreachable or silent past publishTimeout).', ['backplane'], backplanes((s) => s.publishErrors));
  exactCounter(registry, 'catzilla_backplane_delivered_total', 'Entries the backplane\'s reader handed to local subscribers and members.', ['backplane'], backplanes((s) => s.delivered));
  exactCounter(registry, 'catzilla_backplane_reconnects_total', 'Connections to Redis lost and made again.', ['backplane'], backplanes((s) => s.reconnects));
  exactCounter(registry, 'catzilla_backplane_stream_resets_total', 'Followed streams found replaced under the reader (expired after streamTtl, deleted, Redis restarted without its data, or created again): each sent its live subscribers the reset gap.', ['backplane'], backplanes((s) => s.streamResets));
  exactGauge(registry, 'catzilla_backplane_keys', 'Channels and rooms the reader follows (those with local subscribers).', ['backplane'], backplanes((s) => s.keys));
  exactGauge(registry, 'catzilla_backplane_reader_lag_seconds', 'Time from append (on any process) to this reader, for the last entry read.', ['backplane'], backplanes((s) => s.readerLagMs / 1000), 'max');
  exactGauge(registry, 'catzilla_backplane_reader_lag_max_seconds', 'The largest reader lag seen.', ['backplane'], backplanes((s) => s.readerLagMaxMs / 1000), 'max');
}

/** Whether the route has had streams (routes without any get no stream series). */
function hasStreams(t: RouteTotals): boolean {
  return t.open > 0 || CLOSE_REASONS.some((r) => t.closed[r] > 0);
}
