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

typedef struct {
  size_t max_header_size;        /* request line + header block -> 431 */
  size_t max_url_length;         /* -> 414 */
  uint64_t max_body_size;        /* -> 413 */
  size_t max_header_count;       /* -> 431 */
  uint64_t headers_timeout_ms;   /* first byte of a request to end of headers -> 408 (0 = off) */
  uint64_t keepalive_timeout_ms; /* idle connection between requests -> close (0 = off) */
  uint64_t body_timeout_ms;      /* silence while a body is being received -> 408 (0 = off) */
  uint64_t request_timeout_ms;   /* first byte of a request to the end of its body, however it
                                    trickles -> 408 (0 = off); responses have the stall timeout */
  size_t max_pipeline_buffer;    /* unparsed bytes kept per connection before reading stops */
} catzilla_server_options_t;

void catzilla_server_options_default(catzilla_server_options_t* options);

/* flags of catzilla_request_info_t */
enum {
  CATZILLA_REQ_HTTP10 = 1,
  CATZILLA_REQ_KEEPALIVE = 2,
  CATZILLA_REQ_HAS_BODY = 4,
  CATZILLA_REQ_UPGRADE = 8, /* Upgrade + Connection: upgrade: catzilla_ws_accept may take it over */
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

/* Why a request ended before its response did. */
typedef enum {
  CATZILLA_ABORT_CLIENT_CLOSED = 1,
  CATZILLA_ABORT_CONNECTION_ERROR = 2,
  CATZILLA_ABORT_TIMEOUT = 3,
  CATZILLA_ABORT_SERVER_CLOSING = 4,
  CATZILLA_ABORT_BAD_REQUEST = 5,
} catzilla_abort_reason_t;

/* ---- streaming responses (stream.c) ---- */

typedef struct catzilla_stream_context_s catzilla_stream_context_t;

typedef enum {
  CATZILLA_STREAM_HEADERS_PENDING = 0, /* started; status line and headers not sent yet */
  CATZILLA_STREAM_STREAMING = 1,
  CATZILLA_STREAM_BACKPRESSURED = 2,   /* queued bytes above the high watermark */
  CATZILLA_STREAM_FINISHING = 3,       /* ended by the producer; last bytes being written */
  CATZILLA_STREAM_FINISHED = 4,        /* every byte handed to the kernel */
  CATZILLA_STREAM_ABORTED = 5,         /* the client went away (or stalled past the timeout) */
  CATZILLA_STREAM_ERRORED = 6,         /* the producer failed, or over/under-ran Content-Length */
  CATZILLA_STREAM_CLOSED = 7,          /* ended early by the application on purpose: not an error */
  CATZILLA_STREAM_SHED = 8,            /* dropped by the application's slow-consumer policy */
} catzilla_stream_state_t;

enum {
  CATZILLA_STREAM_FLUSH_HEADERS = 1, /* send the head at once, not with the first data */
};

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

typedef struct {
  int state;                     /* catzilla_stream_state_t */
  uint64_t bytes;                /* payload bytes accepted */
  uint64_t bytes_sent;           /* bytes taken by the kernel, framing included */
  uint64_t chunks;               /* write() calls with data */
  uint64_t writes;               /* socket writes */
  uint64_t coalesced_writes;     /* socket writes carrying more than one chunk */
  uint64_t backpressure_events;
  uint64_t backpressure_us;      /* time spent over the high watermark */
  uint64_t queued_bytes;
  uint64_t peak_queued_bytes;
  uint64_t write_latency_total_us;
  uint64_t write_latency_max_us;
  uint64_t sendfile_bytes;       /* of bytes_sent: sent from files by sendfile */
  uint64_t started_at_ms;        /* wall clock */
  uint64_t last_write_at_ms;
} catzilla_stream_stats_t;

#define CATZILLA_LATENCY_BUCKETS 24 /* bucket i: latency < 2^i us; the last takes the rest */

typedef struct {
  /* A request's headers are complete. The info's memory is valid during the call only. */
  void (*on_request)(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_request_info_t* info);
  /* A piece of the request body (valid during the call only). */
  void (*on_body)(catzilla_server_t* server, catzilla_request_id_t id, const char* data, size_t len);
  /* The request body is complete (called for bodiless requests too). */
  void (*on_body_end)(catzilla_server_t* server, catzilla_request_id_t id);
  /* The request ended before its response: the id is already invalid. */
  void (*on_abort)(catzilla_server_t* server, catzilla_request_id_t id, catzilla_abort_reason_t reason);
  /* A backpressured stream fell to its low watermark. */
  void (*on_drain)(catzilla_server_t* server, catzilla_request_id_t id);
  /* A stream reached a final state; always the last call for `id`. */
  void (*on_stream_end)(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_stream_stats_t* stats);
  /* WebSocket (optional): a whole text or binary message, valid during the call only. */
  void (*on_ws_message)(catzilla_server_t* server, catzilla_request_id_t id, int opcode, const char* data, size_t len);
  /* WebSocket (optional): the closing handshake: the peer's close frame (its code, 1005 when
   * it sent none, and reason), or the code the core closed with because the peer broke the
   * protocol (1002, 1007, 1009). The stream then ends; a connection lost without a close
   * frame gets on_abort instead. */
  void (*on_ws_close)(catzilla_server_t* server, catzilla_request_id_t id, int code, const char* reason, size_t len);
} catzilla_server_callbacks_t;

/* Called once the server has closed its listener and every connection. */
typedef void (*catzilla_server_closed_cb)(catzilla_server_t* server, void* arg);

/* Called when the core no longer needs memory it was allowed to keep. */
typedef void (*catzilla_release_cb)(void* arg);

/* flags of catzilla_response_t */
enum {
  CATZILLA_RESP_CLOSE = 1,             /* Connection: close, then close */
  CATZILLA_RESP_NO_CONTENT_LENGTH = 2, /* 1xx/204/304: no Content-Length, no body */
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

typedef struct {
  uint64_t connections_accepted;
  uint64_t connections_active;
  uint64_t requests;
  uint64_t bytes_read;
  uint64_t bytes_written;
  uint64_t writes;
  uint64_t responses[6]; /* by status class: [1] = 1xx ... [5] = 5xx */
  uint64_t parse_errors;
  uint64_t timeouts;
  uint64_t streams_active;
  uint64_t streams_started;
  uint64_t streams_completed;
  uint64_t streams_aborted;
  uint64_t streams_errored;
  uint64_t streams_closed;  /* ended early by the application on purpose (catzilla_stream_abort_as) */
  uint64_t streams_shed;    /* dropped by a slow-consumer policy (catzilla_stream_abort_as) */
  uint64_t stream_bytes;
  uint64_t stream_chunks;
  uint64_t stream_writes;
  uint64_t stream_coalesced_writes;
  uint64_t sendfile_bytes;
  uint64_t backpressure_events;
  uint64_t backpressure_us;
  uint64_t peak_queued_bytes;
  uint64_t write_latency_total_us;
  uint64_t write_latency_count;
  uint64_t write_latency_buckets[CATZILLA_LATENCY_BUCKETS];
} catzilla_server_stats_t;

int catzilla_server_new(uv_loop_t* loop, const catzilla_server_options_t* options,
                        const catzilla_server_callbacks_t* callbacks, void* data,
                        catzilla_server_t** out);
void* catzilla_server_data(const catzilla_server_t* server);
void catzilla_server_set_data(catzilla_server_t* server, void* data);

/* Bind and listen. `bound` receives the bound address (port 0 -> the chosen port). */
int catzilla_server_listen(catzilla_server_t* server, const char* host, int port, int backlog,
                           struct sockaddr_storage* bound);

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

/* Start streaming the response of request `id` (instead of catzilla_respond). */
int catzilla_stream_start(catzilla_server_t* server, catzilla_request_id_t id,
                          const catzilla_stream_options_t* options, catzilla_stream_context_t** out);
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
 * error. Returns 1 when every byte was handed to the kernel at once: then `finished` (when not
 * NULL) receives the final counters and no on_stream_end follows; 0 when it will finish later
 * (on_stream_end reports it). */
int catzilla_stream_end(catzilla_stream_context_t* stream, catzilla_stream_stats_t* finished);
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

/* Attach a ring-fed producer to `stream`; the loop thread moves bytes from the ring into
 * the stream while it is under its high watermark and ends it when the producer does. */
int catzilla_ring_source_new(catzilla_server_t* server, catzilla_request_id_t id, size_t ring_capacity,
                             catzilla_ring_source_t** out);
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
 * payload unmasked; valid during the call only (data may be NULL when len is 0). Return 0 to
 * go on, or a negative value to stop parsing after this frame. */
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
  char ctrl[CATZILLA_WS_MAX_CONTROL];
} catzilla_ws_parser_t;

void catzilla_ws_parser_init(catzilla_ws_parser_t* parser, uint64_t max_message);
void catzilla_ws_parser_free(catzilla_ws_parser_t* parser);
/* Parse `len` bytes; `*used` receives how many were taken. Returns 0 (all taken; a partial
 * frame waits for more), a negative value when the callback stopped (`*used` ends after that
 * frame), or a positive close code when the peer broke the protocol (1002, 1007, 1009). */
int catzilla_ws_parse(catzilla_ws_parser_t* parser, const char* data, size_t len, size_t* used,
                      catzilla_ws_event_cb cb, void* arg);
/* The header of a server frame (unmasked) carrying `len` payload bytes; returns its size. */
size_t catzilla_ws_frame_header(uint8_t out[CATZILLA_WS_MAX_HEADER], int opcode, int fin, uint64_t len);
/* A close frame's payload: the code, then the reason cut to fit (no payload when code <= 0). */
size_t catzilla_ws_close_payload(char out[CATZILLA_WS_MAX_CONTROL], int code, const char* reason, size_t reason_len);
/* Whether an endpoint may send `code` in a close frame. */
bool catzilla_ws_close_code_valid(int code);

/* ---- WebSocket connections (ws_conn.c) ---- */

typedef struct {
  const char* headers;        /* the 101 head's fields: Upgrade, Connection, Sec-WebSocket-Accept... */
  size_t headers_len;
  uint64_t max_message;       /* larger messages close the connection with 1009 */
  size_t high_watermark;      /* queued bytes at which catzilla_ws_send reports backpressure */
  size_t low_watermark;
  uint64_t stall_timeout_ms;  /* backpressured with no progress this long -> aborted (0 = off) */
} catzilla_ws_options_t;

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
