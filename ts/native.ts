/**
 * The seam between TypeScript and the C core (bindings/ over core/).
 *
 * The addon is loaded once. `CATZILLA_ADDON` may name another build of it
 * (the AddressSanitizer build used by CI's second test run).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

function addonPath(): string {
  const chosen = process.env.CATZILLA_ADDON;
  if (chosen) return path.resolve(chosen);
  return path.join(root, 'build', 'Release', 'catzilla.node');
}

let loaded: NativeAddon | undefined;

/** Options understood by the C core. Sizes in bytes, times in milliseconds (0 = off). */
export interface NativeServerOptions {
  /** Largest request line + header block (431 / 414 above it). */
  maxHeaderSize: number;
  /** Longest request target (414 above it). */
  maxUrlLength: number;
  /** Largest request body (413 above it). */
  maxBodySize: number;
  /** Largest number of header fields (431 above it). */
  maxHeaderCount: number;
  /** From the first byte of a request to the end of its headers (408). */
  headersTimeout: number;
  /** Idle keep-alive connection with no request in progress (closed silently). */
  keepAliveTimeout: number;
  /** Longest silence while a request body is being received (408). */
  bodyTimeout: number;
  /** From the first byte of a request to the end of its body, however slowly it trickles (408). */
  requestTimeout: number;
  /** Unread pipelined bytes buffered per connection before reading stops. */
  maxPipelineBuffer: number;
}

/** Why a request ended before its response did (`onAbort`'s reason). */
export type AbortReason = number;
export const AbortReason = table('abortReason', ['ClientClosed', 'ConnectionError', 'Timeout', 'ServerClosing', 'BadRequest']);

/** `onRequest` flags. Upgrade: `Upgrade` with `Connection: upgrade`, so `wsAccept` may take the connection over. */
export type RequestFlags = number;
export const RequestFlags = table('requestFlags', ['Http10', 'KeepAlive', 'HasBody', 'Upgrade']);

/**
 * `respond` flags. Close: send `Connection: close` and close the connection after the response;
 * NoContentLength: no Content-Length header (the status forbids a body: 1xx, 204, 304).
 */
export type RespondFlags = number;
export const RespondFlags = table('respondFlags', ['Close', 'NoContentLength']);

/**
 * `listen` / `bindSocket` flags. ReusePort: SO_REUSEPORT (several processes bind one port, the
 * kernel spreads connections over those that listen). Reserve: no SO_REUSEADDR (a port
 * reservation that only reuse-port sockets of the same user can share).
 */
export type ListenFlags = number;
export const ListenFlags = table('listenFlags', ['ReusePort', 'Reserve']);

/** `streamStart` flags. FlushHeaders: send the status line and headers at once, not with the first data. */
export type StreamFlags = number;
export const StreamFlags = table('streamFlags', ['FlushHeaders']);

/**
 * States of a native stream (`catzilla_stream_state_t`); Finished and after are final. Aborted:
 * the client went away (closed, reset, a broken pipe) or stalled past the timeout. Errored:
 * streamAbort (a failure), a Content-Length over/under-run, or an unreadable file region.
 * Closed: streamAbort(id, Closed), ended early on purpose. Shed: streamAbort(id, Shed), dropped
 * by the application's slow-consumer policy.
 */
export type StreamState = number;
export const StreamState = table('streamState', [
  'HeadersPending', 'Streaming', 'Backpressured', 'Finishing', 'Finished', 'Aborted', 'Errored', 'Closed', 'Shed',
]);

/** Counters of one streaming response (64-bit in C; exact in JS up to 2^53). */
export interface NativeStreamStats {
  state: number;
  /** Payload bytes accepted from the producer. */
  bytes: number;
  /** Bytes handed to the kernel, framing included. */
  bytesSent: number;
  /** write() calls. */
  chunks: number;
  /** Socket writes (one per flush). */
  writes: number;
  /** Socket writes that carried more than one chunk. */
  coalescedWrites: number;
  backpressureEvents: number;
  /** Total time spent over the high watermark, in microseconds. */
  backpressureMicros: number;
  queuedBytes: number;
  peakQueuedBytes: number;
  /** Of bytesSent: bytes sent from files by sendfile. */
  sendfileBytes: number;
  /** Latency of socket writes (flush to libuv's callback), in microseconds. */
  writeLatencyTotalMicros: number;
  writeLatencyMaxMicros: number;
  /** Milliseconds since the epoch. */
  startedAt: number;
  lastWriteAt: number;
}

/**
 * The order of the counters in the Float64Array the core hands over for a stream (onStreamEnd,
 * streamStats, streamEnd), from the core's own list (CATZILLA_STREAM_STATS_MAP). It is one
 * array per server, refilled at each hand-over (no allocation on the per-request path): valid
 * only until the next native call, so read what you keep (streamStatsFrom) at once.
 */
export const STREAM_STATS_FIELDS = constants().streamStats as readonly (keyof NativeStreamStats)[];

/** Request method names by the number onRequest passes (llhttp's numbering). */
export const METHODS: readonly string[] = constants().methods;

/** The counters of a stream as an object (from the core's Float64Array). */
export const streamStatsFrom: (a: Float64Array) => NativeStreamStats = compileStatsReader(STREAM_STATS_FIELDS);

/** Counters of a stream before any exist (every field 0, state HeadersPending). */
export function emptyStats(): NativeStreamStats {
  return streamStatsFrom(EMPTY_STATS);
}
const EMPTY_STATS = new Float64Array(STREAM_STATS_FIELDS.length);

export interface NativeServerCallbacks {
  /**
   * A request's headers are complete. `id` names this request (and its response) in every
   * later call; it becomes invalid once the response has ended or the connection closed.
   * `rawHeaders` is the header block as received, one `Name: value\r\n` per field.
   */
  onRequest(id: number, method: number, url: string, rawHeaders: string, flags: number): void;
  /** A piece of the request body (already de-chunked). */
  onBody(id: number, chunk: Buffer): void;
  /** The request body is complete (also called for requests without a body). */
  onBodyEnd(id: number): void;
  /** The connection closed or failed before the response ended; see AbortReason. */
  onAbort(id: number, reason: number): void;
  /** A backpressured stream's queue fell to its low watermark: write again. */
  onDrain(id: number): void;
  /**
   * A stream reached a final state (StreamState.Finished: every byte handed to the kernel;
   * Aborted: the client went away or timed out, after onAbort; Errored: streamAbort or a
   * Content-Length over/under-run; Closed / Shed: streamAbort with that state). Always the
   * last call for `id`.
   */
  onStreamEnd(id: number, state: number, stats: Float64Array): void;
  /** WebSocket: a whole message (a string for text, a Buffer for binary). */
  onWsMessage?(id: number, binary: boolean, data: string | Buffer): void;
  /**
   * WebSocket: the closing handshake ended: the peer's close frame (its code, 1005 without
   * one), or the code the core closed with because the peer broke the protocol (1002, 1007,
   * 1009). onStreamEnd follows. A connection lost without a close frame gets onAbort instead.
   */
  onWsClose?(id: number, code: number, reason: string): void;
}

export interface NativeAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export interface NativeServerStats {
  connectionsAccepted: number;
  connectionsActive: number;
  requests: number;
  bytesRead: number;
  bytesWritten: number;
  writes: number;
  /** Responses by status class and error answers sent by the core itself. */
  responses1xx: number;
  responses2xx: number;
  responses3xx: number;
  responses4xx: number;
  responses5xx: number;
  parseErrors: number;
  timeouts: number;
  streamsActive: number;
  streamsStarted: number;
  streamsCompleted: number;
  streamsAborted: number;
  streamsErrored: number;
  /** Streams the application ended early on purpose (writer.abort() without an error, Channel.disconnectAll()). */
  streamsClosed: number;
  /** Streams dropped by a slow-consumer policy (a Channel's 'disconnect'). */
  streamsShed: number;
  streamBytes: number;
  streamChunks: number;
  streamWrites: number;
  streamCoalescedWrites: number;
  /** Bytes sent from files by sendfile. */
  sendfileBytes: number;
  backpressureEvents: number;
  backpressureMicros: number;
  peakQueuedBytes: number;
  writeLatencyTotalMicros: number;
  writeLatencyCount: number;
  /** WebSocket messages sent compressed; of those, compressed once for several connections (a broadcast). */
  wsDeflateMessages: number;
  wsDeflateReused: number;
  /** Payload bytes of the messages sent compressed, before and after. */
  wsDeflateBytesIn: number;
  wsDeflateBytesOut: number;
  /** Compressed messages received, their bytes on the wire and inflated. */
  wsInflateMessages: number;
  wsInflateBytesIn: number;
  wsInflateBytesOut: number;
  /** Server pings sent; peers dropped for not answering (1006); connections closed idle (1001). */
  wsPingsSent: number;
  wsPongTimeouts: number;
  wsIdleTimeouts: number;
  /** Messages over maxPayload, inflated or not (1009). */
  wsTooBig: number;
  /** Messages in more than maxFragments frames; more control frames a second than allowed (1008). */
  wsFragmentFloods: number;
  wsControlFloods: number;
  /** Upgrades closed at once with 1013 because their route had maxConnections open. */
  wsConnectionLimit: number;
  /** Socket write latency histogram: bucket i counts writes that took < 2^i microseconds (last: the rest). */
  writeLatencyBuckets: number[];
}

export interface NativeServer {
  /** Bind and listen (`flags`: ListenFlags). Throws an Error with `code` (EADDRINUSE, EACCES, EINVAL...). */
  listen(host: string, port: number, backlog: number, flags?: number): NativeAddress;
  /**
   * Send a whole response: status line, `headerBlock` (`Name: value\r\n` per field, validated
   * by the caller), Date, Content-Length and Connection added by the core, then the body
   * (omitted on the wire for HEAD). Throws `ECLOSED` when `id` is no longer valid.
   */
  respond(id: number, status: number, headerBlock: string, body: string | Uint8Array | null, flags: number): void;
  /** Stop / restart delivering body chunks for `id` (the core stops reading the socket). */
  pauseBody(id: number): void;
  resumeBody(id: number): void;
  /** The peer address of the request's connection. Throws `ECLOSED` when `id` is no longer valid. */
  remoteAddress(id: number): NativeAddress;
  /**
   * Stop accepting, close idle connections, let in-flight responses finish for up to `graceMs`,
   * then close the rest; `done` runs once every connection is closed.
   */
  close(graceMs: number, done: () => void): void;
  stats(): NativeServerStats;

  /**
   * Start a streaming response for `id` instead of `respond`. Framing is chosen by the core:
   * Content-Length when `contentLength >= 0`, else chunked (HTTP/1.1) or close-delimited
   * (HTTP/1.0); no body for HEAD, 1xx, 204 and 304. Watermarks are in bytes of queued
   * (not yet written) data. `stallTimeout` (ms, 0 = off) aborts a stream that stays
   * backpressured without progress. Throws ECLOSED when `id` is no longer valid.
   */
  streamStart(id: number, status: number, headerBlock: string, contentLength: number,
              highWaterMark: number, lowWaterMark: number, stallTimeout: number, flags: number): void;
  /**
   * Answer upgrade request `id` with 101 (`headerBlock`: Upgrade, Connection,
   * Sec-WebSocket-Accept...) and speak WebSocket on its connection. Its stream carries the
   * frames: onDrain, onStreamEnd and streamStats apply to `id`. Throws ECLOSED, or ESTATE for
   * a request that is not an upgrade.
   */
  wsAccept(id: number, headerBlock: string, maxMessage: number, highWaterMark: number, lowWaterMark: number,
           stallTimeout: number, wsOptions?: Float64Array): void;
  /** Send one message; false when over the high watermark (wait for onDrain). Throws ECLOSED once closing. */
  wsSend(id: number, binary: boolean, data: string | Uint8Array): boolean;
  /** Start the closing handshake (code 0: no code). Throws ECLOSED when the connection is gone. */
  wsClose(id: number, code: number, reason: string): void;
  /**
   * Queue a chunk (strings are sent as UTF-8). Returns false when the stream is over its
   * high watermark: wait for onDrain before writing more. Small chunks written in one loop
   * turn leave in one socket write. Throws ECLOSED once the stream has ended or aborted,
   * ELENGTH when the chunk would pass a declared Content-Length.
   */
  /** `copy`: copy the bytes even when large (they are lent: the caller reuses the memory). */
  streamWrite(id: number, chunk: string | Uint8Array, copy?: boolean): boolean;
  /**
   * Queue a file region, sent with sendfile(2) in order with the chunks around it; no file
   * byte passes through JavaScript. With `closeFd` the stream owns `fd` and closes it on
   * every path (finish, abort, error, even when this throws). A file shorter than the region
   * ends the stream as Errored (the client sees a truncated body). Same result as streamWrite.
   */
  streamWriteFile(id: number, fd: number, offset: number, length: number, closeFd: boolean): boolean;
  /** Queue several chunks in one call; same result as streamWrite. */
  streamWritev(id: number, chunks: Array<string | Uint8Array>, copy?: boolean): boolean;
  /** Send what is queued now instead of at the end of the loop turn. */
  streamFlush(id: number): void;
  /**
   * Finish the response (chunked terminator, or the declared length must be complete). The end
   * is always reported by onStreamEnd: inside this call when the last byte left at once (with
   * any other end queued so far), else from a later loop phase.
   */
  streamEnd(id: number): void;
  /**
   * End the response early: what was written is sent, then the connection closes without a
   * terminator so the client sees a truncated body. `state` is what the core records:
   * StreamState.Errored (default: a failure), Closed or Shed (see NativeServerStats).
   * A stream whose client is gone throws ECLOSED here, as every stream call does: the core
   * never returns a raw socket error (EPIPE, ECONNRESET) from a stream call.
   */
  streamAbort(id: number, state?: number): void;
  /** Counters of the live stream (STREAM_STATS_FIELDS order). Throws ECLOSED when it has ended. */
  streamStats(id: number): Float64Array;
  /** Every live stream with its counters and the client's address (introspection). */
  liveStreams(): Array<NativeStreamStats & { id: number; remote: NativeAddress }>;
}

export interface NativeAddon {
  Server: new (options: NativeServerOptions, callbacks: NativeServerCallbacks) => NativeServer;
  /** Versions of what is compiled into the addon: `{ llhttp: '9.3.0' }`. */
  versions: { llhttp: string };
  /** The core's one contract (catzilla.h's X-macro lists): read here, never restated. */
  constants: NativeConstants;
  /**
   * A TCP socket bound to host:port and not listening (ListenFlags; ReusePort | Reserve holds a
   * port for reuse-port listeners of the same user): its descriptor and address. Throws an
   * Error with `code` (EADDRINUSE...).
   */
  bindSocket(host: string, port: number, flags: number): NativeAddress & { fd: number };
  /** Closes a descriptor from bindSocket. */
  closeSocket(fd: number): void;
}

/**
 * A WebSocket's limits, liveness and agreed permessage-deflate parameters (CATZILLA_WS_OPTIONS_MAP;
 * wsAccept takes them as a Float64Array in constants.wsOptions' key order).
 */
export interface NativeWsOptions {
  pingInterval: number;
  pongTimeout: number;
  idleTimeout: number;
  maxFragments: number;
  maxControlFramesPerSecond: number;
  overLimit: number;
  deflate: number;
  deflateThreshold: number;
  serverNoContextTakeover: number;
  clientNoContextTakeover: number;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
  memLevel: number;
  level: number;
}

export interface NativeConstants {
  /** Server option defaults by option name. */
  serverOptions: NativeServerOptions;
  /** Stream flow defaults. */
  streamOptions: { highWaterMark: number; lowWaterMark: number; stallTimeout: number };
  /** WebSocket limits, liveness and permessage-deflate parameters: defaults, in wsAccept's order. */
  wsOptions: NativeWsOptions;
  /** Stream counters, in the order of the Float64Array. */
  streamStats: string[];
  /** Server counters (scalars) by name. */
  serverStats: string[];
  streamState: Record<string, number>;
  streamFlags: Record<string, number>;
  abortReason: Record<string, number>;
  requestFlags: Record<string, number>;
  respondFlags: Record<string, number>;
  listenFlags: Record<string, number>;
  /** Core error codes by name (ECLOSED...). */
  errors: Record<string, number>;
  /** Chunks of at least this many bytes are referenced until written, smaller ones copied. */
  referenceThreshold: number;
  latencyBuckets: number;
  /** Request method names by llhttp's method number (onRequest passes the number). */
  methods: string[];
}

/** The addon's constants (loads the addon). */
export function constants(): NativeConstants {
  return native().constants;
}

/**
 * A frozen name -> value table of the core's, checked to hold every name TypeScript uses: an
 * addon that disagrees fails at load with a clear error instead of misbehaving.
 */
function table<const K extends string>(key: keyof NativeConstants, names: readonly K[]): Readonly<Record<K, number>> {
  const source = constants()[key] as Record<string, number>;
  const out = {} as Record<K, number>;
  for (const name of names) {
    const value = source[name];
    if (typeof value !== 'number') throw new Error(`catzilla: the native addon has no ${String(key)}.${name}; rebuild it (npm run build)`);
    out[name] = value;
  }
  return Object.freeze(out);
}

/** A reader of the stats Float64Array into an object with one fixed shape (built once from the field list). */
function compileStatsReader(fields: readonly string[]): (a: Float64Array) => NativeStreamStats {
  for (const f of fields) if (!/^[A-Za-z]+$/.test(f)) throw new Error(`catzilla: bad stats field name ${JSON.stringify(f)}`);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('a', `return { ${fields.map((f, i) => `${f}: a[${i}]`).join(', ')} };`) as (a: Float64Array) => NativeStreamStats;
}

/** The native addon; throws a clear error when it has not been built. */
export function native(): NativeAddon {
  if (loaded) return loaded;
  const file = addonPath();
  if (!fs.existsSync(file)) {
    throw new Error(`catzilla: native addon not found at ${file}; run \`npm run build\` (needs cmake, a C compiler, and llhttp's sources from PyPI, which the build fetches)`);
  }
  const require = createRequire(import.meta.url);
  loaded = require(file) as NativeAddon;
  return loaded;
}
