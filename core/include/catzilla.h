/*
 * catzilla: an HTTP/1.1 server core on a libuv loop (Node's own loop in the addon).
 *
 * Public API. Functions return 0 (or a non-negative value where documented) on success
 * and a negative errno-style code on failure (libuv's UV_E* codes plus CATZILLA_E*).
 * All functions must be called on the loop thread.
 */
#ifndef CATZILLA_H
#define CATZILLA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors of the core itself (libuv's codes are used as they are). */
#define CATZILLA_ERRNO_MAP(XX)                                                   \
  XX(ECLOSED, -5001, "the request's connection is closed or its response has ended") \
  XX(EBADID, -5002, "unknown request id")                                        \
  XX(ESTATE, -5003, "operation not allowed in the request's current state")      \
  XX(ETOOLARGE, -5004, "value too large")                                        \
  XX(ESERVERCLOSED, -5005, "the server is closed")                              \
  XX(ELENGTH, -5006, "the body does not match its declared Content-Length")       \
  XX(ESTREAMING, -5007, "the response is streaming")

typedef enum {
#define XX(name, value, msg) CATZILLA_##name = value,
  CATZILLA_ERRNO_MAP(XX)
#undef XX
  CATZILLA_ERRNO_MAX = -5000
} catzilla_errno_t;

/* Name ("ECLOSED", "EADDRINUSE"...) and message of a negative error code. */
const char* catzilla_err_name(int err);
const char* catzilla_strerror(int err);

/* Reason phrase of a status code ("Not Found"); "Unknown" for unregistered codes. */
const char* catzilla_status_reason(int status);

typedef struct catzilla_server_s catzilla_server_t;

/* Request ids fit in 53 bits so that JavaScript numbers carry them exactly. */
typedef uint64_t catzilla_request_id_t;

/*
 * One contract. Every value JavaScript must agree on (options and their defaults, states,
 * close reasons, flags, the order of the stream counters) is defined once, in the X-macro
 * lists below; the addon exports them at load (bindings/addon.cc, `constants`) and
 * ts/native.ts reads them instead of restating them. Each entry names the C identifier and
 * the JavaScript one.
 */

/* Server options: XX(type, C field, JS name, default, meaning). */
#define CATZILLA_SERVER_OPTIONS_MAP(XX)                                                                    \
  XX(size_t, max_header_size, maxHeaderSize, 16 * 1024, "request line + header block -> 431")             \
  XX(size_t, max_url_length, maxUrlLength, 8 * 1024, "request target -> 414")                             \
  XX(uint64_t, max_body_size, maxBodySize, 1024 * 1024, "request body -> 413")                            \
  XX(size_t, max_header_count, maxHeaderCount, 100, "header fields -> 431")                              \
  XX(uint64_t, headers_timeout_ms, headersTimeout, 60000, "first byte of a request to end of headers -> 408 (0 = off)") \
  XX(uint64_t, keepalive_timeout_ms, keepAliveTimeout, 5000, "idle connection between requests -> close (0 = off)") \
  XX(uint64_t, body_timeout_ms, bodyTimeout, 30000, "silence while a body is being received -> 408 (0 = off)") \
  XX(uint64_t, request_timeout_ms, requestTimeout, 300000,                                                \
     "first byte of a request to the end of its body, however it trickles -> 408 (0 = off)")              \
  XX(size_t, max_pipeline_buffer, maxPipelineBuffer, 64 * 1024, "unparsed bytes kept per connection before reading stops")

typedef struct {
#define XX(type, field, js, dflt, doc) type field;
  CATZILLA_SERVER_OPTIONS_MAP(XX)
#undef XX
} catzilla_server_options_t;

void catzilla_server_options_default(catzilla_server_options_t* options);

/* Flags of catzilla_request_info_t: XX(C name, value, JS name). UPGRADE: Upgrade +
 * Connection: upgrade, so catzilla_ws_accept may take the connection over. */
#define CATZILLA_REQUEST_FLAGS_MAP(XX) \
  XX(HTTP10, 1, Http10)                \
  XX(KEEPALIVE, 2, KeepAlive)          \
  XX(HAS_BODY, 4, HasBody)             \
  XX(UPGRADE, 8, Upgrade)

enum {
#define XX(name, value, js) CATZILLA_REQ_##name = value,
  CATZILLA_REQUEST_FLAGS_MAP(XX)
#undef XX
};

typedef struct {
  int method;              /* llhttp_method_t */
  const char* method_name; /* "GET" */
  const char* url;         /* request target, as received */
  size_t url_len;
  const char* headers;     /* "Name: value\r\n" per field, as received (values trimmed) */
  size_t headers_len;
  unsigned flags;          /* CATZILLA_REQ_* */
} catzilla_request_info_t;

/* Why a request ended before its response did: XX(C name, value, JS name). */
#define CATZILLA_ABORT_REASON_MAP(XX)         \
  XX(CLIENT_CLOSED, 1, ClientClosed)          \
  XX(CONNECTION_ERROR, 2, ConnectionError)    \
  XX(TIMEOUT, 3, Timeout)                     \
  XX(SERVER_CLOSING, 4, ServerClosing)        \
  XX(BAD_REQUEST, 5, BadRequest)

typedef enum {
#define XX(name, value, js) CATZILLA_ABORT_##name = value,
  CATZILLA_ABORT_REASON_MAP(XX)
#undef XX
} catzilla_abort_reason_t;

/* ---- streaming responses (stream.c) ---- */

typedef struct catzilla_stream_context_s catzilla_stream_context_t;

/* States of a stream: XX(C name, value, JS name). FINISHED and after are final:
 *   HEADERS_PENDING  started; status line and headers not sent yet
 *   BACKPRESSURED    queued bytes above the high watermark
 *   FINISHING        ended by the producer; last bytes being written
 *   FINISHED         every byte handed to the kernel
 *   ABORTED          the client went away (or stalled past the timeout)
 *   ERRORED          the producer failed, or over/under-ran Content-Length
 *   CLOSED           ended early by the application on purpose: not an error
 *   SHED             dropped by the application's slow-consumer policy */
#define CATZILLA_STREAM_STATE_MAP(XX)      \
  XX(HEADERS_PENDING, 0, HeadersPending)   \
  XX(STREAMING, 1, Streaming)              \
  XX(BACKPRESSURED, 2, Backpressured)      \
  XX(FINISHING, 3, Finishing)              \
  XX(FINISHED, 4, Finished)                \
  XX(ABORTED, 5, Aborted)                  \
  XX(ERRORED, 6, Errored)                  \
  XX(CLOSED, 7, Closed)                    \
  XX(SHED, 8, Shed)

typedef enum {
#define XX(name, value, js) CATZILLA_STREAM_##name = value,
  CATZILLA_STREAM_STATE_MAP(XX)
#undef XX
} catzilla_stream_state_t;

/* Flags of catzilla_stream_options_t: FLUSH_HEADERS sends the head at once, not with the
 * first data. */
#define CATZILLA_STREAM_FLAGS_MAP(XX) XX(FLUSH_HEADERS, 1, FlushHeaders)

enum {
#define XX(name, value, js) CATZILLA_STREAM_##name = value,
  CATZILLA_STREAM_FLAGS_MAP(XX)
#undef XX
};

/* Chunks of at least this many bytes that come with a release callback are referenced until
 * written; smaller ones are copied into the stream's cork buffer. */
#define CATZILLA_REFERENCE_THRESHOLD 4096

typedef struct {
  int status;
  const char* headers; /* "Name: value\r\n" per field; validated by the caller */
  size_t headers_len;
  int64_t content_length;     /* >= 0: declared length; -1: chunked (1.1) or close-delimited (1.0) */
  size_t high_watermark;      /* queued bytes at which write() reports backpressure */
  size_t low_watermark;       /* queued bytes at which a backpressured stream drains */
  size_t cork_threshold;      /* corked bytes that are flushed at once rather than at the end of the turn */
  uint64_t stall_timeout_ms;  /* backpressured with no progress this long -> aborted (0 = off) */
  unsigned flags;             /* CATZILLA_STREAM_* */
} catzilla_stream_options_t;

void catzilla_stream_options_default(catzilla_stream_options_t* options);
/* The one low-watermark rule: a low watermark above the high one becomes a quarter of it. */
void catzilla_stream_options_normalize(catzilla_stream_options_t* options);

/* Counters of one stream, in the order of the addon's Float64Array: XX(C field, JS name).
 *   state                 catzilla_stream_state_t
 *   bytes                 payload bytes accepted
 *   bytes_sent            bytes taken by the kernel, framing included
 *   chunks                write() calls with data
 *   writes                socket writes
 *   coalesced_writes      socket writes carrying more than one chunk
 *   backpressure_us       time spent over the high watermark
 *   sendfile_bytes        of bytes_sent: sent from files by sendfile
 *   started_at_ms, last_write_at_ms   wall clock */
#define CATZILLA_STREAM_STATS_MAP(XX)                        \
  XX(state, state)                                           \
  XX(bytes, bytes)                                           \
  XX(bytes_sent, bytesSent)                                  \
  XX(chunks, chunks)                                         \
  XX(writes, writes)                                         \
  XX(coalesced_writes, coalescedWrites)                      \
  XX(backpressure_events, backpressureEvents)                \
  XX(backpressure_us, backpressureMicros)                    \
  XX(queued_bytes, queuedBytes)                              \
  XX(peak_queued_bytes, peakQueuedBytes)                     \
  XX(write_latency_total_us, writeLatencyTotalMicros)        \
  XX(write_latency_max_us, writeLatencyMaxMicros)            \
  XX(sendfile_bytes, sendfileBytes)                          \
  XX(started_at_ms, startedAt)                               \
  XX(last_write_at_ms, lastWriteAt)

typedef struct {
#define XX(field, js) uint64_t field;
  CATZILLA_STREAM_STATS_MAP(XX)
#undef XX
} catzilla_stream_stats_t;

enum {
#define XX(field, js) +1
  CATZILLA_STREAM_STATS_COUNT = 0 CATZILLA_STREAM_STATS_MAP(XX)
#undef XX
};

#define CATZILLA_LATENCY_BUCKETS 24 /* bucket i: latency < 2^i us; the last takes the rest */

/* The producer of one streaming response (h2o's generator: proceed / stop), given to
 * catzilla_stream_start. Both are called from loop phases only, never inside a call the
 * producer made. */
typedef struct {
  /* A backpressured stream fell to its low watermark: produce more. */
  void (*on_writable)(void* arg, catzilla_request_id_t id);
  /* The stream reached a final state (FINISHED: every byte handed to the kernel; or ABORTED,
   * ERRORED, CLOSED, SHED); the last call for the stream. `stats` is valid during the call. */
  void (*on_end)(void* arg, catzilla_request_id_t id, const catzilla_stream_stats_t* stats);
  void* arg;
} catzilla_stream_hooks_t;

typedef struct {
  /* A request's headers are complete. The info's memory is valid during the call only. */
  void (*on_request)(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_request_info_t* info);
  /* A piece of the request body (valid during the call only). */
  void (*on_body)(catzilla_server_t* server, catzilla_request_id_t id, const char* data, size_t len);
  /* The request body is complete (called for bodiless requests too). */
  void (*on_body_end)(catzilla_server_t* server, catzilla_request_id_t id);
  /* The request ended before its response: the id is already invalid. */
  void (*on_abort)(catzilla_server_t* server, catzilla_request_id_t id, catzilla_abort_reason_t reason);
  /* WebSocket (optional): a whole text or binary message, valid during the call only. */
  void (*on_ws_message)(catzilla_server_t* server, catzilla_request_id_t id, int opcode, const char* data, size_t len);
  /* WebSocket (optional): the closing handshake: the peer's close frame (its code, 1005 when
   * it sent none, and reason), or the code the core closed with because the peer broke the
   * protocol (1002, 1007, 1009). The stream then ends; a connection lost without a close
   * frame gets on_abort instead. */
  void (*on_ws_close)(catzilla_server_t* server, catzilla_request_id_t id, int code, const char* reason, size_t len);
  /* Optional: a batch of streams' on_end has been delivered (lets a binding hand the batch to
   * its runtime in one call). */
  void (*on_ends_delivered)(catzilla_server_t* server);
} catzilla_server_callbacks_t;

/* Called once the server has closed its listener and every connection. */
typedef void (*catzilla_server_closed_cb)(catzilla_server_t* server, void* arg);

/* Called when the core no longer needs memory it was allowed to keep. */
typedef void (*catzilla_release_cb)(void* arg);

/* Flags of catzilla_response_t: XX(C name, value, JS name). CLOSE: Connection: close, then
 * close; NO_CONTENT_LENGTH: 1xx/204/304, no Content-Length, no body. */
#define CATZILLA_RESPONSE_FLAGS_MAP(XX) \
  XX(CLOSE, 1, Close)                   \
  XX(NO_CONTENT_LENGTH, 2, NoContentLength)

enum {
#define XX(name, value, js) CATZILLA_RESP_##name = value,
  CATZILLA_RESPONSE_FLAGS_MAP(XX)
#undef XX
};

typedef struct {
  int status;
  const char* headers; /* "Name: value\r\n" per field; validated by the caller */
  size_t headers_len;
  const char* body;
  size_t body_len;
  unsigned flags;      /* CATZILLA_RESP_* */
  /* When set, the core may send `body` without copying it and calls release(release_arg)
   * once it is done with it (possibly before catzilla_respond returns). When NULL, the
   * core copies whatever it could not send at once. */
  catzilla_release_cb release;
  void* release_arg;
} catzilla_response_t;

/* Server counters: XX(C field, JS name); then `responses` by status class ([1] = 1xx ...
 * [5] = 5xx, JS responses1xx...) and the write latency buckets (JS writeLatencyBuckets).
 *   streams_closed  ended early by the application on purpose (catzilla_stream_abort_as)
 *   streams_shed    dropped by a slow-consumer policy (catzilla_stream_abort_as)
 *   ws_deflate_*    WebSocket messages sent compressed (reused: compressed once for many
 *                   connections, a broadcast), payload bytes before and after
 *   ws_inflate_*    compressed messages received, bytes on the wire and inflated
 *   ws_pings_sent, ws_pong_timeouts (dropped, 1006), ws_idle_timeouts (closed 1001)
 *   ws_too_big      messages over max_message, inflated or not (1009)
 *   ws_fragment_floods, ws_control_floods   limits of catzilla_ws_options_t (1008)
 *   ws_connection_limit   upgrades accepted only to be closed with 1013 (too many on the route) */
#define CATZILLA_SERVER_STATS_MAP(XX)                     \
  XX(connections_accepted, connectionsAccepted)           \
  XX(connections_active, connectionsActive)               \
  XX(requests, requests)                                  \
  XX(bytes_read, bytesRead)                               \
  XX(bytes_written, bytesWritten)                         \
  XX(writes, writes)                                      \
  XX(parse_errors, parseErrors)                           \
  XX(timeouts, timeouts)                                  \
  XX(streams_active, streamsActive)                       \
  XX(streams_started, streamsStarted)                     \
  XX(streams_completed, streamsCompleted)                 \
  XX(streams_aborted, streamsAborted)                     \
  XX(streams_errored, streamsErrored)                     \
  XX(streams_closed, streamsClosed)                       \
  XX(streams_shed, streamsShed)                           \
  XX(stream_bytes, streamBytes)                           \
  XX(stream_chunks, streamChunks)                         \
  XX(stream_writes, streamWrites)                         \
  XX(stream_coalesced_writes, streamCoalescedWrites)      \
  XX(sendfile_bytes, sendfileBytes)                       \
  XX(backpressure_events, backpressureEvents)             \
  XX(backpressure_us, backpressureMicros)                 \
  XX(peak_queued_bytes, peakQueuedBytes)                  \
  XX(write_latency_total_us, writeLatencyTotalMicros)     \
  XX(write_latency_count, writeLatencyCount)              \
  XX(ws_deflate_messages, wsDeflateMessages)              \
  XX(ws_deflate_reused, wsDeflateReused)                  \
  XX(ws_deflate_bytes_in, wsDeflateBytesIn)               \
  XX(ws_deflate_bytes_out, wsDeflateBytesOut)             \
  XX(ws_inflate_messages, wsInflateMessages)              \
  XX(ws_inflate_bytes_in, wsInflateBytesIn)               \
  XX(ws_inflate_bytes_out, wsInflateBytesOut)             \
  XX(ws_pings_sent, wsPingsSent)                          \
  XX(ws_pong_timeouts, wsPongTimeouts)                    \
  XX(ws_idle_timeouts, wsIdleTimeouts)                    \
  XX(ws_too_big, wsTooBig)                                \
  XX(ws_fragment_floods, wsFragmentFloods)                \
  XX(ws_control_floods, wsControlFloods)                  \
  XX(ws_connection_limit, wsConnectionLimit)

typedef struct {
#define XX(field, js) uint64_t field;
  CATZILLA_SERVER_STATS_MAP(XX)
#undef XX
  uint64_t responses[6];
  uint64_t write_latency_buckets[CATZILLA_LATENCY_BUCKETS];
} catzilla_server_stats_t;

int catzilla_server_new(uv_loop_t* loop, const catzilla_server_options_t* options,
                        const catzilla_server_callbacks_t* callbacks, void* data,
                        catzilla_server_t** out);
void* catzilla_server_data(const catzilla_server_t* server);
void catzilla_server_set_data(catzilla_server_t* server, void* data);

/* Flags of catzilla_server_listen and catzilla_socket_bind: XX(C name, value, JS name).
 * REUSEPORT: SO_REUSEPORT, so that sockets of several processes (same user) bind one port and
 *   the kernel spreads new connections over those that listen.
 * RESERVE: without SO_REUSEADDR (for a reservation: with it, a socket outside the reuse-port
 *   group could still bind the port while the reservation does not listen). */
#define CATZILLA_LISTEN_FLAGS_MAP(XX) \
  XX(REUSEPORT, 1, ReusePort)         \
  XX(RESERVE, 2, Reserve)

enum {
#define XX(name, value, js) CATZILLA_LISTEN_##name = value,
  CATZILLA_LISTEN_FLAGS_MAP(XX)
#undef XX
};

/* Bind and listen (IPv4 or IPv6 by the form of `host`; `flags`: CATZILLA_LISTEN_*). `bound`
 * receives the bound address (port 0 -> the chosen port). */
int catzilla_server_listen(catzilla_server_t* server, const char* host, int port, int backlog, unsigned flags,
                           struct sockaddr_storage* bound);

/* A TCP socket (non-blocking, close-on-exec, SO_REUSEADDR unless CATZILLA_LISTEN_RESERVE, and
 * SO_REUSEPORT with CATZILLA_LISTEN_REUSEPORT) bound to host:port and not listening: returns its
 * descriptor, or a negative error (UV_EADDRINUSE when a socket outside a reuse-port group holds
 * the port). Bound with REUSEPORT | RESERVE it reserves the port: only reuse-port sockets of the
 * same user can bind it, and it receives no connection itself (it never listens). `bound`
 * (optional) receives the address. */
int catzilla_socket_bind(const char* host, int port, unsigned flags, struct sockaddr_storage* bound);
/* Close a descriptor from catzilla_socket_bind. */
int catzilla_socket_close(int fd);

/* Stop accepting, close idle connections, give in-flight responses `grace_ms`, then close
 * the rest; `cb` runs once everything is closed. Calling it again only updates nothing. */
int catzilla_server_close(catzilla_server_t* server, uint64_t grace_ms, catzilla_server_closed_cb cb, void* arg);

/* Free a server whose close callback has run (or that never listened and was closed). */
void catzilla_server_free(catzilla_server_t* server);

/* Send a whole response to request `id`. */
int catzilla_respond(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_response_t* response);

/* Flow control of the request body. */
int catzilla_body_pause(catzilla_server_t* server, catzilla_request_id_t id);
int catzilla_body_resume(catzilla_server_t* server, catzilla_request_id_t id);

int catzilla_remote_address(catzilla_server_t* server, catzilla_request_id_t id, struct sockaddr_storage* addr);

void catzilla_server_stats(const catzilla_server_t* server, catzilla_server_stats_t* out);

/* Delivers the streams' on_end notices queued so far, now instead of before the loop blocks.
 * For a binding, right after a callback into its runtime returned (never from inside a
 * producer's call into the core): the objects of a finished response then die young. */
void catzilla_server_deliver_ends(catzilla_server_t* server);

/* Start streaming the response of request `id` (instead of catzilla_respond); `hooks` (copied)
 * are its producer's. */
int catzilla_stream_start(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_stream_options_t* options,
                          const catzilla_stream_hooks_t* hooks, catzilla_stream_context_t** out);
/* The live stream of request `id`, or NULL. */
catzilla_stream_context_t* catzilla_stream_of(catzilla_server_t* server, catzilla_request_id_t id);
/* Queue a chunk. Returns 1 while under the high watermark, 0 when backpressured (wait for
 * on_drain), or a negative error (CATZILLA_ECLOSED, CATZILLA_ELENGTH...). With `release`,
 * a large chunk is referenced instead of copied and released once written; release is
 * always called exactly once, possibly before this returns. */
int catzilla_stream_write(catzilla_stream_context_t* stream, const char* data, size_t len,
                          catzilla_release_cb release, void* release_arg);
enum {
  CATZILLA_FILE_CLOSE = 1, /* the stream owns the descriptor and closes it on every path */
};
/* Queue a file region, sent with sendfile(2) (no copy through user space) in order with the
 * memory chunks around it. The descriptor is read from `offset`; a file shorter than the
 * region ends the stream as errored. Same results as catzilla_stream_write. */
int catzilla_stream_write_file(catzilla_stream_context_t* stream, int fd, uint64_t offset, uint64_t length,
                               unsigned flags);
/* Send what is corked now rather than at the end of the loop turn. */
int catzilla_stream_flush(catzilla_stream_context_t* stream);
/* Finish: the terminator (chunked) leaves with the last data. A short declared length is an
 * error. The end is always reported the same way, by the hooks' on_end from a loop phase,
 * whether the last byte left now or later. */
int catzilla_stream_end(catzilla_stream_context_t* stream);
/* Fail: what is queued is sent, then the connection closes without a terminator. The stream
 * ends ERRORED. (A peer that is gone is never this: a socket error ends a stream ABORTED and
 * every stream call then returns CATZILLA_ECLOSED, never the raw socket error.) */
int catzilla_stream_abort(catzilla_stream_context_t* stream);
/* The same cut, recorded as `state`: CATZILLA_STREAM_ERRORED (a failure, as above),
 * CATZILLA_STREAM_CLOSED (the application ended the stream early on purpose) or
 * CATZILLA_STREAM_SHED (its slow-consumer policy dropped it); counted in streams_errored,
 * streams_closed or streams_shed. UV_EINVAL for another state. */
int catzilla_stream_abort_as(catzilla_stream_context_t* stream, catzilla_stream_state_t state);
void catzilla_stream_get_stats(const catzilla_stream_context_t* stream, catzilla_stream_stats_t* out);
/* Visit every live stream of the server (for introspection); returns how many were visited. */
size_t catzilla_server_each_stream(catzilla_server_t* server,
                                   void (*visit)(catzilla_request_id_t id, const catzilla_stream_stats_t* stats,
                                                 const struct sockaddr_storage* peer, void* arg),
                                   void* arg);

/* ---- a single-producer/single-consumer byte ring (ring_buffer.c) ---- */

typedef struct catzilla_ring_s catzilla_ring_t;

int catzilla_ring_new(size_t capacity, catzilla_ring_t** out); /* capacity rounded up to a power of two */
void catzilla_ring_free(catzilla_ring_t* ring);
size_t catzilla_ring_capacity(const catzilla_ring_t* ring);
/* Producer side: a contiguous writable region (possibly shorter than wanted), then commit. */
char* catzilla_ring_reserve(catzilla_ring_t* ring, size_t* len);
void catzilla_ring_commit(catzilla_ring_t* ring, size_t len);
size_t catzilla_ring_write(catzilla_ring_t* ring, const void* data, size_t len);
/* Consumer side: a contiguous readable region, then consume. */
const char* catzilla_ring_peek(catzilla_ring_t* ring, size_t* len);
void catzilla_ring_consume(catzilla_ring_t* ring, size_t len);
size_t catzilla_ring_readable(const catzilla_ring_t* ring);

/* ---- a producer thread feeding a stream through a ring (ring_source.c) ---- */

typedef struct catzilla_ring_source_s catzilla_ring_source_t;

/* Start the response of `id` as a stream fed by a producer thread through a ring: the source is
 * the stream's producer (its hooks), moving bytes from the ring while the stream is under its
 * high watermark and ending it when the producer does; `hooks->on_end` (optional) still hears
 * the stream's end. */
int catzilla_ring_source_start(catzilla_server_t* server, catzilla_request_id_t id,
                               const catzilla_stream_options_t* options, const catzilla_stream_hooks_t* hooks,
                               size_t ring_capacity, catzilla_ring_source_t** out);
/* Producer thread: blocks while the ring is full; returns bytes written, or a negative error
 * once the stream has gone (CATZILLA_ECLOSED): the producer must stop then. */
ssize_t catzilla_ring_source_write(catzilla_ring_source_t* source, const void* data, size_t len);
/* Producer thread: no more data (failed = nonzero aborts the stream instead of ending it).
 * The source frees itself once both sides are done. */
void catzilla_ring_source_close(catzilla_ring_source_t* source, int failed);

/* ---- WebSocket frame codec (ws.c), RFC 6455 ---- */

enum {
  CATZILLA_WS_CONTINUATION = 0x0,
  CATZILLA_WS_TEXT = 0x1,
  CATZILLA_WS_BINARY = 0x2,
  CATZILLA_WS_CLOSE = 0x8,
  CATZILLA_WS_PING = 0x9,
  CATZILLA_WS_PONG = 0xA,
};

/* RSV1 (RFC 7692: a compressed message) in a frame's first byte; catzilla_ws_frame_header takes it
 * or'ed into the opcode, and the parser reports it or'ed into a message's opcode. */
#define CATZILLA_WS_RSV1 0x40

/* Close codes (RFC 6455 7.4.1) the core sends or reports itself. */
enum {
  CATZILLA_WS_NORMAL = 1000,
  CATZILLA_WS_GOING_AWAY = 1001,
  CATZILLA_WS_PROTOCOL_ERROR = 1002,
  CATZILLA_WS_NO_STATUS = 1005,      /* a close frame without a code (never sent) */
  CATZILLA_WS_ABNORMAL = 1006,       /* the connection ended without a close frame (never sent) */
  CATZILLA_WS_INVALID_DATA = 1007,   /* invalid UTF-8 in a text message */
  CATZILLA_WS_POLICY = 1008,
  CATZILLA_WS_MESSAGE_TOO_BIG = 1009,
  CATZILLA_WS_INTERNAL_ERROR = 1011,
  CATZILLA_WS_TRY_AGAIN_LATER = 1013,
};

#define CATZILLA_WS_MAX_HEADER 10  /* a server frame's header (no mask) */
#define CATZILLA_WS_MAX_CONTROL 125 /* payload of a control frame */

/* One whole message (text/binary, fragments joined) or control frame (close/ping/pong), its
 * payload unmasked; valid during the call only (data may be NULL when len is 0). A compressed
 * message (allow_rsv1) comes with CATZILLA_WS_RSV1 or'ed into its opcode, its payload still
 * compressed and its UTF-8 not checked yet. Return 0 to go on, or a negative value to stop
 * parsing after this frame. */
typedef int (*catzilla_ws_event_cb)(void* arg, int opcode, const char* data, size_t len);

/* An incremental parser of client frames. */
typedef struct {
  uint64_t max_message;   /* a message over this many bytes fails with 1009 */
  uint64_t payload_left;  /* of the current frame */
  char* msg;              /* the message being assembled */
  size_t msg_len;
  size_t msg_cap;
  size_t ctrl_len;
  uint32_t utf8;          /* UTF-8 validation state of the text message being assembled */
  int error;              /* the close code of a failed parse (then every call returns it) */
  uint8_t hdr[14];
  uint8_t hdr_len;
  uint8_t mask[4];
  uint8_t mask_pos;
  uint8_t opcode;         /* of the current frame */
  uint8_t msg_opcode;     /* TEXT or BINARY while a message is in progress, else 0 */
  bool fin;
  bool in_payload;
  bool allow_rsv1;        /* permessage-deflate was agreed: RSV1 marks a compressed message */
  bool msg_compressed;    /* the message in progress had RSV1 on its first frame */
  uint32_t max_fragments; /* frames of one message (0 = no limit); more fail with 1008 */
  uint32_t msg_frames;    /* frames of the message in progress */
  char ctrl[CATZILLA_WS_MAX_CONTROL];
} catzilla_ws_parser_t;

void catzilla_ws_parser_init(catzilla_ws_parser_t* parser, uint64_t max_message);
void catzilla_ws_parser_free(catzilla_ws_parser_t* parser);
/* Parse `len` bytes; `*used` receives how many were taken. Returns 0 (all taken; a partial
 * frame waits for more), a negative value when the callback stopped (`*used` ends after that
 * frame), or a positive close code when the peer broke the protocol (1002, 1007, 1009), or
 * 1008 when a message came in more than max_fragments frames. */
int catzilla_ws_parse(catzilla_ws_parser_t* parser, const char* data, size_t len, size_t* used,
                      catzilla_ws_event_cb cb, void* arg);
/* The header of a server frame (unmasked) carrying `len` payload bytes; returns its size. */
size_t catzilla_ws_frame_header(uint8_t out[CATZILLA_WS_MAX_HEADER], int opcode, int fin, uint64_t len);
/* A close frame's payload: the code, then the reason cut to fit (no payload when code <= 0). */
size_t catzilla_ws_close_payload(char out[CATZILLA_WS_MAX_CONTROL], int code, const char* reason, size_t reason_len);
/* Whether an endpoint may send `code` in a close frame. */
bool catzilla_ws_close_code_valid(int code);

/* ---- WebSocket connections (ws_conn.c) ---- */

/* A WebSocket connection's limits, liveness and the permessage-deflate parameters agreed in the
 * handshake (RFC 7692; the handshake itself is the binding's): XX(type, C field, JS name,
 * default, meaning). Window bits are 9..15 (zlib's raw deflate cannot do 8: an offer that
 * demands server_max_window_bits=8 is declined). */
#define CATZILLA_WS_OPTIONS_MAP(XX)                                                                      \
  XX(uint64_t, ping_interval_ms, pingInterval, 30000, "a ping after this long without a frame from the peer (0 = off)") \
  XX(uint64_t, pong_timeout_ms, pongTimeout, 10000, "no frame this long after a ping -> dropped, 1006 (0 = off)") \
  XX(uint64_t, idle_timeout_ms, idleTimeout, 0, "no message either way this long -> closed with 1001 (0 = off)") \
  XX(uint32_t, max_fragments, maxFragments, 1024, "frames in one message -> 1008")                      \
  XX(uint32_t, max_control_per_second, maxControlFramesPerSecond, 100, "pings/pongs a second -> 1008 (0 = off)") \
  XX(int, over_limit, overLimit, 0, "1: the route is full; the 101 is followed by a close 1013")        \
  XX(int, deflate, deflate, 0, "permessage-deflate agreed")                                              \
  XX(size_t, deflate_threshold, deflateThreshold, 1024, "messages shorter than this are sent uncompressed") \
  XX(int, server_no_context_takeover, serverNoContextTakeover, 1, "each sent message compressed alone")   \
  XX(int, client_no_context_takeover, clientNoContextTakeover, 0, "the client compresses each message alone") \
  XX(int, server_max_window_bits, serverMaxWindowBits, 15, "window of the messages the server compresses") \
  XX(int, client_max_window_bits, clientMaxWindowBits, 15, "window of the messages the client compresses") \
  XX(int, mem_level, memLevel, 8, "zlib memLevel of the server's deflate streams (1..9)")               \
  XX(int, level, level, 6, "zlib compression level (0..9)")

typedef struct {
  const char* headers;        /* the 101 head's fields: Upgrade, Connection, Sec-WebSocket-Accept... */
  size_t headers_len;
  uint64_t max_message;       /* larger messages close the connection with 1009 */
  size_t high_watermark;      /* queued bytes at which catzilla_ws_send reports backpressure */
  size_t low_watermark;
  uint64_t stall_timeout_ms;  /* backpressured with no progress this long -> aborted (0 = off) */
  catzilla_stream_hooks_t hooks; /* the producer of the frames sent (catzilla_ws_send): drain and end */
#define XX(type, field, js, dflt, doc) type field;
  CATZILLA_WS_OPTIONS_MAP(XX)
#undef XX
} catzilla_ws_options_t;

/* The defaults of CATZILLA_WS_OPTIONS_MAP (the other fields zeroed). */
void catzilla_ws_options_default(catzilla_ws_options_t* options);

/* Answer upgrade request `id` (CATZILLA_REQ_UPGRADE) with 101 and speak WebSocket on its
 * connection: messages arrive through on_ws_message, pings are answered, the closing
 * handshake is done by the core. The stream of `id` carries the frames (stats, drain). */
int catzilla_ws_accept(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_ws_options_t* options);
/* Send one message (opcode TEXT or BINARY; a text payload must be UTF-8). Same results and
 * `release` contract as catzilla_stream_write; CATZILLA_ECLOSED once a close frame was sent. */
int catzilla_ws_send(catzilla_server_t* server, catzilla_request_id_t id, int opcode, const char* data, size_t len,
                     catzilla_release_cb release, void* release_arg);
/* Start the closing handshake (code 0: a close frame without a code). The connection closes
 * when the peer answers, or after a short grace period. */
int catzilla_ws_close(catzilla_server_t* server, catzilla_request_id_t id, int code, const char* reason,
                      size_t reason_len);

#ifdef __cplusplus
}
#endif
#endif /* CATZILLA_H */
