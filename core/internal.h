/*
 * Private structures and helpers of the core (catzilla__ names). Not installed.
 */
#ifndef CATZILLA_INTERNAL_H
#define CATZILLA_INTERNAL_H

#include "catzilla.h"
#include <llhttp.h>
#include <stdbool.h>
#include <string.h>

/* llhttp 8.x takes a bare CR as a line end (request smuggling): never build against it. */
#if LLHTTP_VERSION_MAJOR < 9 || (LLHTTP_VERSION_MAJOR == 9 && LLHTTP_VERSION_MINOR < 3)
#error "catzilla needs llhttp 9.3 or newer"
#endif

/* One socket read, at most: an upload arrives in 256 KiB reads (a quarter of the read(2) calls and
 * of the body chunks handed to JavaScript that 64 KiB took: issue 16); the kernel copies only what
 * is there, so a small request costs no more. One slab per server, reused by every read. */
#define CATZILLA__READ_SLAB_SIZE (256 * 1024)
/* Most connections a closing server takes from its accept queue (server.c). */
#define CATZILLA__DRAIN_MAX 4096
#define CATZILLA__HEAD_BLOCK_SIZE 4096
#define CATZILLA__LINGER_MS 2000
#define CATZILLA__SLOT_BITS 22
#define CATZILLA__SLOT_MASK ((UINT64_C(1) << CATZILLA__SLOT_BITS) - 1)
#define CATZILLA__POOL_MAX_FREE 256
#define CATZILLA__CORK_SPARES 8                    /* cork buffers the server keeps for reuse */
#define CATZILLA__CORK_SPARE_MAX_CAP (256 * 1024)   /* larger ones are freed */
#define CATZILLA__CORK_FIRST_CAP 4096              /* a new cork buffer's size: a burst grows it in fewer steps */

#define CATZILLA__CONTAINER_OF(ptr, type, field) ((type*)((char*)(ptr) - offsetof(type, field)))

/* ---- buf.c: a growable byte buffer ---- */
typedef struct {
  char* base;
  size_t len;
  size_t cap;
} catzilla__buf_t;

int catzilla__buf_reserve(catzilla__buf_t* buf, size_t extra);
int catzilla__buf_append(catzilla__buf_t* buf, const void* data, size_t len);
void catzilla__buf_consume(catzilla__buf_t* buf, size_t len);
void catzilla__buf_free(catzilla__buf_t* buf);

/* A few emptied buffers kept for reuse (the server's cork spares): take one, give it back. */
typedef struct {
  char* base[CATZILLA__CORK_SPARES];
  size_t cap[CATZILLA__CORK_SPARES];
  unsigned count;
} catzilla__buf_spares_t;
bool catzilla__buf_spares_take(catzilla__buf_spares_t* spares, catzilla__buf_t* buf);
void catzilla__buf_spares_give(catzilla__buf_spares_t* spares, catzilla__buf_t* buf, size_t max_cap);
void catzilla__buf_spares_free(catzilla__buf_spares_t* spares);

/* One buffer lent to one reader at a time (the server's read slab): a read takes it, or a fresh
 * allocation when it is out; giving back a base that is not the slab frees it. */
typedef struct {
  char* base;
  size_t size;
  bool lent;
} catzilla__buf_slab_t;
void catzilla__buf_slab_take(catzilla__buf_slab_t* slab, char** base, size_t* len);
void catzilla__buf_slab_give(catzilla__buf_slab_t* slab, char* base);

/* ---- pool.c: a free list of equal-sized blocks ---- */
typedef struct catzilla__pool_s {
  void* free_list;
  size_t free_count;
  size_t block_size;
} catzilla__pool_t;

void catzilla__pool_init(catzilla__pool_t* pool, size_t block_size);
void* catzilla__pool_get(catzilla__pool_t* pool);
void catzilla__pool_put(catzilla__pool_t* pool, void* block);
void catzilla__pool_drain(catzilla__pool_t* pool);

/* ---- ids.c: request ids (generation * 2^22 + slot) ---- */
typedef struct {
  void** owners;            /* slot -> owner */
  uint32_t* generation;     /* slot -> generation of its current id */
  uint32_t* free_next;      /* free slot list */
  uint32_t count;
  uint32_t free_head;       /* UINT32_MAX: none free */
} catzilla__ids_t;

uint32_t catzilla__ids_acquire(catzilla__ids_t* ids, void* owner); /* a slot, or UINT32_MAX */
void catzilla__ids_release(catzilla__ids_t* ids, uint32_t slot);
catzilla_request_id_t catzilla__ids_next(catzilla__ids_t* ids, uint32_t slot);
/* The owner of the slot of `id` while `id` is its latest id, else NULL. Inline: every call
 * JavaScript makes with an id (each streamWrite) starts here. */
static inline void* catzilla__ids_owner(const catzilla__ids_t* ids, catzilla_request_id_t id) {
  uint64_t slot = id & CATZILLA__SLOT_MASK;
  if (id == 0 || slot >= ids->count) return NULL;
  if ((uint32_t)(id >> CATZILLA__SLOT_BITS) != ids->generation[slot]) return NULL;
  return ids->owners[slot];
}
void catzilla__ids_free(catzilla__ids_t* ids);

/* ---- deferred.c: work run from a loop phase, never inside a call JavaScript made ---- */
typedef struct catzilla__task_s {
  struct catzilla__task_s* next;
  void (*run)(struct catzilla__task_s* task);
  bool queued;
} catzilla__task_t;

typedef enum {
  CATZILLA__DEFER_NOTIFY = 0, /* check phase: streams' final notices */
  CATZILLA__DEFER_RESUME,     /* idle phase: connections to continue */
  CATZILLA__DEFER_FLUSH,      /* prepare phase: corked streams */
  CATZILLA__DEFER_QUEUES
} catzilla__defer_queue_t;

typedef struct {
  uv_idle_t idle;
  uv_prepare_t prepare;
  uv_check_t check;
  struct {
    catzilla__task_t* head;
    catzilla__task_t* tail;
  } queues[CATZILLA__DEFER_QUEUES];
  void (*after_run[CATZILLA__DEFER_QUEUES])(void* arg); /* after a queue ran one task or more */
  void* after_arg;
  bool stopped;
} catzilla__deferred_t;

void catzilla__deferred_init(catzilla__deferred_t* d, uv_loop_t* loop);
void catzilla__defer(catzilla__deferred_t* d, catzilla__defer_queue_t queue, catzilla__task_t* task);
void catzilla__deferred_cancel(catzilla__deferred_t* d, catzilla__defer_queue_t queue, catzilla__task_t* task);
void catzilla__deferred_run_now(catzilla__deferred_t* d, catzilla__defer_queue_t queue);
/* Closes its three handles (`cb` runs three times, with handle->data = data). */
void catzilla__deferred_close(catzilla__deferred_t* d, uv_close_cb cb, void* data);

/* ---- deadlines.c: one sweep timer for every deadline ---- */
typedef struct catzilla__sweep_s {
  uv_timer_t timer;
  void (*tick)(struct catzilla__sweep_s* sweep, uint64_t now);
  uint64_t interval;
  uint64_t shortest_ms;     /* shortest timeout in use */
  uint64_t until;           /* a deadline the period must not overshoot (0 = none) */
} catzilla__sweep_t;

void catzilla__sweep_init(catzilla__sweep_t* sweep, uv_loop_t* loop, void (*tick)(catzilla__sweep_t*, uint64_t now));
void catzilla__sweep_arm(catzilla__sweep_t* sweep);
/* A timeout of `ms` is in use: the period tightens (re-armed now when `armed`). */
void catzilla__sweep_note(catzilla__sweep_t* sweep, uint64_t ms, bool armed);
void catzilla__sweep_until(catzilla__sweep_t* sweep, uint64_t deadline);
void catzilla__sweep_close(catzilla__sweep_t* sweep, uv_close_cb cb, void* data);
bool catzilla__sweep_closing(const catzilla__sweep_t* sweep);

/* ---- date.c: the Date header value, rebuilt at most once a second ---- */
typedef struct {
  uint64_t second;
  char value[32]; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
} catzilla__date_t;

const char* catzilla__date_now(catzilla__date_t* date, size_t* len);
size_t catzilla__date_format(uint64_t unix_seconds, char out[32]);

/* ---- request_head.c: the request line and headers of the request being parsed ---- */
typedef struct {
  catzilla__buf_t bytes;     /* url, then "Name: value\r\n"... */
  catzilla__pool_t* pool;    /* where `bytes` came from */
  size_t url_len;
  size_t field_start;        /* offset of the current header name */
  size_t value_start;        /* offset of the current header value */
  size_t header_count;
  int error_status;          /* set when a callback rejects the request */
  unsigned seen_transfer_encoding : 1;
  unsigned seen_host : 1;
  unsigned expect_continue : 1;
  unsigned in_value : 1;
} catzilla__head_t;

void catzilla__head_reset(catzilla__head_t* head);
void catzilla__head_release(catzilla__head_t* head);
int catzilla__head_on_url(catzilla__head_t* head, const char* at, size_t len, const catzilla_server_options_t* opt);
int catzilla__head_on_field(catzilla__head_t* head, const char* at, size_t len, const catzilla_server_options_t* opt);
int catzilla__head_on_value(catzilla__head_t* head, const char* at, size_t len, const catzilla_server_options_t* opt);
int catzilla__head_on_value_complete(catzilla__head_t* head);
/* Checks that need the whole head (a missing Host on HTTP/1.1): 0, or HPE_USER with error_status set. */
int catzilla__head_check_complete(catzilla__head_t* head, int http_major, int http_minor);
bool catzilla__ascii_case_equal(const char* a, size_t alen, const char* b);

/* ---- chunked.c: chunked framing around payload vectors, copying nothing ---- */
size_t catzilla__chunk_size_line(size_t payload, char out[24]);
extern const char catzilla__chunk_crlf[2];
extern const char catzilla__chunk_crlf_last[7]; /* "\r\n0\r\n\r\n" */
extern const char catzilla__chunk_last[5];      /* "0\r\n\r\n" */

/* ---- sendfile.c: file regions to a socket, and its writability ---- */
typedef struct catzilla__poller_s catzilla__poller_t;
typedef void (*catzilla__writable_cb)(void* arg, int status);
/* Call `cb(arg, status)` once `tcp` is writable (the poller is created on first use). */
int catzilla__poller_wait(catzilla__poller_t** poller, uv_loop_t* loop, uv_tcp_t* tcp, catzilla__writable_cb cb,
                          void* arg);
void catzilla__poller_release(catzilla__poller_t** poller);
/* Send up to `budget` bytes of the region (advancing offset/remaining, *sent = bytes sent):
 * 0 when the region is done, UV_EAGAIN (socket full or budget spent), UV_EOF (file too
 * short), or another negative error. */
int catzilla__sendfile(uv_tcp_t* tcp, int fd, uint64_t* offset, uint64_t* remaining, size_t budget, size_t* sent);
/* TCP_CORK on or off: while a file region is sent only full segments leave (like nginx's
 * tcp_nopush); turning it off sends what is left at once. */
void catzilla__socket_cork(uv_tcp_t* tcp, int on);

/* ---- listen_socket.c ---- */
/* accept(2) one queued connection of a listening descriptor (non-blocking, close-on-exec):
 * its descriptor, UV_EAGAIN when the queue is empty, or another negative error. */
int catzilla__socket_accept(int listen_fd);

/* ---- outbox.c: every socket write of a connection, in order ---- */
#define CATZILLA__STREAM_MAX_PIECES 16

/* Memory a writer hands over: referenced bytes with a release callback, or (base NULL) an
 * offset into the stream's cork buffer. */
typedef struct {
  const char* base;
  size_t offset;
  size_t len;
  catzilla_release_cb release;
  void* release_arg;
} catzilla__piece_t;

/* What a unit reports to its owner: payload bytes taken or dropped, bytes on the wire. */
typedef struct {
  uint64_t payload;        /* the owner's payload bytes now taken by the kernel (or dropped) */
  uint64_t bytes;          /* bytes taken by the kernel, framing included (after the first try) */
  uint64_t sendfile_bytes; /* of bytes: sent by sendfile */
  int64_t latency_us;      /* a memory unit's write latency, or -1 */
  int status;              /* 0, or why the unit failed or was dropped */
  bool unit_done;          /* the unit is over: the owner's reference on it ends */
  bool from_loop;          /* reported from a loop callback (JavaScript may be called) */
} catzilla__sent_t;
typedef void (*catzilla__sent_cb)(void* owner, const catzilla__sent_t* sent);

/* What the outbox may keep instead of copying when the socket does not take a write at once. */
typedef struct {
  catzilla__sent_cb sent;  /* the owner's report (NULL: no owner) */
  void* owner;
  uint64_t payload;
  char* blocks[2];         /* malloc'd blocks the buffers point into: freed after the write */
  size_t block_caps[2];
  const catzilla__piece_t* pieces; /* every piece with a release is released after the write */
  unsigned npieces;
} catzilla__hold_t;

typedef struct {
  void (*on_error)(void* conn, int err); /* a socket error: the connection closes */
  void (*on_empty)(void* conn);          /* nothing in flight or queued any more */
} catzilla__outbox_events_t;

typedef struct catzilla__unit_s catzilla__unit_t;
typedef struct {
  uv_tcp_t* tcp;
  catzilla__unit_t* head;    /* units waiting behind a file region (or a file region), in order */
  catzilla__unit_t* tail;
  unsigned writes_pending;   /* uv_write requests in flight */
  bool failed;               /* a socket error or a close: nothing more is written */
  catzilla__poller_t* poller;
  const catzilla__outbox_events_t* events;
  void* events_arg;
  catzilla_server_stats_t* stats;
} catzilla__outbox_t;

void catzilla__outbox_init(catzilla__outbox_t* ob, uv_tcp_t* tcp, const catzilla__outbox_events_t* events, void* arg,
                           catzilla_server_stats_t* stats);
bool catzilla__outbox_busy(const catzilla__outbox_t* ob);
/* Writes after everything queued. 0: the socket took it all (the hold stays the caller's);
 * 1: the rest is a unit that now owns the hold and reports to its owner; < 0: failed
 * (CATZILLA_ECLOSED: the connection is closing; the hold stays the caller's). */
int catzilla__outbox_write(catzilla__outbox_t* ob, const uv_buf_t* bufs, unsigned n, const catzilla__hold_t* hold,
                           size_t* written_now);
/* A whole message: the rest is copied except bufs[keep], referenced until written; `release`
 * is called exactly once on every path. */
int catzilla__outbox_send(catzilla__outbox_t* ob, const uv_buf_t* bufs, unsigned n, int keep, catzilla_release_cb release,
                          void* release_arg);
/* A file region after everything queued (the descriptor is closed on every path when close_fd). */
int catzilla__outbox_file(catzilla__outbox_t* ob, int fd, uint64_t offset, uint64_t length, bool close_fd,
                          catzilla__sent_cb sent, void* owner);
/* Drops queued units (not handed to libuv) of `owner`, or of all (NULL); each reports ECANCELED. */
void catzilla__outbox_drop(catzilla__outbox_t* ob, void* owner);
/* The connection closes: nothing more is written, queued units are dropped. */
void catzilla__outbox_close(catzilla__outbox_t* ob);

/* ---- ws.c ---- */
/* Validates UTF-8 incrementally (`state` 0 at a character boundary); false at the first bad byte. */
bool catzilla__utf8_step(uint32_t* state, const uint8_t* s, size_t len);

/* ---- ws_deflate.c: permessage-deflate streams (RFC 7692) ---- */
typedef struct catzilla__deflate_s catzilla__deflate_t;
typedef struct {
  const char* data;          /* the compressed payload (tail removed), to send with RSV1 */
  size_t len;
  catzilla_release_cb release; /* drops the caller's reference on it */
  void* release_arg;
  bool reused;               /* the same payload was compressed for another connection already */
} catzilla__deflated_t;

int catzilla__deflate_new(const catzilla_ws_options_t* options, catzilla__deflate_t** out);
void catzilla__deflate_free(catzilla__deflate_t* d);
size_t catzilla__deflate_threshold(const catzilla__deflate_t* d);
int catzilla__deflate_message(catzilla__deflate_t* d, const char* data, size_t len, catzilla__deflated_t* out);
/* 0 with the message in *out (valid until the next call on this thread), or 1009 (more than
 * `max` bytes: stopped there), 1007 (not DEFLATE data), UV_ENOMEM. */
int catzilla__inflate_message(catzilla__deflate_t* d, const char* data, size_t len, uint64_t max, const char** out,
                              size_t* out_len);
/* Bytes zlib holds now for every stream of the calling thread (measured, for tests and docs). */
size_t catzilla__deflate_zlib_bytes(void);

/* ---- stats.c ---- */
void catzilla__stats_record_latency(catzilla_server_t* server, catzilla_stream_stats_t* stream, uint64_t us);
uint64_t catzilla__wall_ms(void);

/* ---- stream.c ---- */
/* catzilla_stream_options_t flag (ws_conn.c): a 101 response to an upgrade request, its body
 * the new protocol's bytes (close-delimited, no Connection: close in the head). */
#define CATZILLA__STREAM_UPGRADE 0x10000u

typedef enum {
  CATZILLA__FRAMING_CHUNKED = 0,
  CATZILLA__FRAMING_LENGTH,
  CATZILLA__FRAMING_CLOSE,  /* HTTP/1.0: the body ends when the connection does */
  CATZILLA__FRAMING_NONE,   /* HEAD, 1xx, 204, 304: no body on the wire */
} catzilla__framing_t;


struct catzilla_stream_context_s {
  catzilla_server_t* server;
  struct catzilla__conn_s* conn;     /* NULL once detached from its connection */
  catzilla_request_id_t id;
  catzilla_stream_state_t state;
  catzilla__framing_t framing;
  uint64_t declared_length;
  catzilla_stream_options_t options;
  catzilla__buf_t head;              /* status line and headers until they are sent */
  catzilla__buf_t cork;              /* copied bytes of the corked pieces (NULL when none) */
  catzilla__piece_t* pieces;         /* CATZILLA__STREAM_MAX_PIECES, from the server's piece_pool
                                      * while anything is corked (NULL when none) */
  unsigned npieces;
  unsigned corked_chunks;
  size_t corked_bytes;               /* payload bytes corked */
  size_t queued_bytes;               /* payload bytes corked or being written */
  unsigned units_pending;             /* units of this stream in the outbox */
  unsigned refs;                     /* attachment + units in the outbox + pending notification */
  bool ending;
  bool finish_queued;
  char frame[24];                    /* the chunk size line of the flush being built */
  uint64_t backpressure_since_ns;
  uint64_t started_loop_ms;
  catzilla__task_t flush_task;       /* corked bytes wait for the prepare phase */
  catzilla__task_t notify_task;      /* the final notice waits for the idle phase */
  catzilla_stream_hooks_t hooks;     /* the producer's */
  catzilla_stream_stats_t stats;
};

void catzilla__stream_conn_closed(catzilla_stream_context_t* stream);


/* ---- connections (http_conn.c) ---- */
typedef enum {
  CATZILLA__CONN_IDLE = 0,    /* waiting for the next request */
  CATZILLA__CONN_HEAD,        /* receiving a request line and headers */
  CATZILLA__CONN_ACTIVE,      /* request dispatched, response not ended */
  CATZILLA__CONN_LINGER,      /* response sent, write side shut, draining input until EOF */
  CATZILLA__CONN_CLOSING,     /* uv_close called */
} catzilla__conn_state_t;

typedef enum {
  CATZILLA__DEADLINE_NONE = 0,
  CATZILLA__DEADLINE_IDLE,
  CATZILLA__DEADLINE_HEADERS,
  CATZILLA__DEADLINE_BODY,
  CATZILLA__DEADLINE_LINGER,
  CATZILLA__DEADLINE_STALL,   /* a backpressured stream made no progress */
} catzilla__deadline_t;

/* Another protocol taking over a connection's read side after an upgrade (ws_conn.c). */
typedef struct {
  void (*feed)(void* arg, const char* data, size_t len); /* every byte read from now on */
  void (*release)(void* arg);                            /* the connection is gone */
  void (*on_deadline)(void* arg, uint64_t now);          /* its own deadline passed (catzilla__conn_takeover_deadline) */
  void* arg;
} catzilla__takeover_t;

typedef struct catzilla__conn_s {
  uv_tcp_t tcp;                       /* first: the handle's memory is the connection's */
  llhttp_t parser;
  catzilla_server_t* server;
  struct catzilla__conn_s* prev;      /* server's connection list */
  struct catzilla__conn_s* next;
  catzilla__head_t head;
  catzilla__buf_t inbuf;              /* received bytes not parsed yet (parser paused) */
  catzilla_request_id_t id;           /* current request; 0 when none */
  uint64_t body_received;
  uint64_t deadline;                  /* loop time in ms, 0 = none: the sooner of the two below */
  uint64_t own_deadline;              /* of deadline_kind */
  uint64_t takeover_deadline;         /* of the protocol that took the connection over (a WebSocket's pings) */
  uint64_t request_deadline;          /* end of request_timeout_ms for the request being received */
  catzilla__outbox_t outbox;          /* every write of the connection */
  uint32_t slot;
  catzilla__conn_state_t state;
  catzilla__deadline_t deadline_kind;
  unsigned in_execute;                /* depth of llhttp_execute on the stack */
  unsigned message_complete : 1;      /* the current request has been read entirely */
  unsigned response_done : 1;         /* the current response has been queued entirely */
  unsigned keep_alive : 1;            /* the connection outlives the current request */
  unsigned body_paused : 1;           /* JS asked to stop the body */
  unsigned reading : 1;               /* uv_read_start is in effect */
  unsigned is_head : 1;               /* HEAD request: no body on the wire */
  unsigned http10 : 1;
  unsigned upgrade : 1;
  unsigned shutdown_sent : 1;
  unsigned used : 1;                  /* a request has begun on it (a fresh connection is not idle) */
  catzilla__task_t resume_task;       /* continue outside JS calls (deferred.c) */
  catzilla_stream_context_t* stream;  /* the streaming response of the current request */
  catzilla__takeover_t takeover;      /* set once another protocol owns the read side (a WebSocket) */
} catzilla__conn_t;

/* ---- the server (server.c) ---- */
struct catzilla_server_s {
  uv_loop_t* loop;
  uv_tcp_t listener;
  catzilla__sweep_t sweep;            /* timeouts: one timer for every connection */
  catzilla__deferred_t deferred;      /* resume / flush / notify from loop phases */
  catzilla__pool_t stream_pool;
  /* What a stream needs only while it has corked bytes, lent for that time: an idle stream (an
   * SSE subscriber between events) holds neither a pieces array nor a cork buffer. */
  catzilla__pool_t piece_pool;        /* arrays of CATZILLA__STREAM_MAX_PIECES pieces */
  catzilla__buf_spares_t cork_spares; /* cork buffers kept for the next stream that corks */
  uv_buf_t iov[CATZILLA__STREAM_MAX_PIECES + 4];
  catzilla_server_options_t options;
  catzilla_server_callbacks_t callbacks;
  void* data;
  llhttp_settings_t parser_settings;
  catzilla__conn_t* conns;            /* every open connection */
  void (*conn_closed)(catzilla_server_t* server, catzilla__conn_t* conn); /* a connection's handle closed */
  catzilla__ids_t ids;                /* request id -> connection */
  catzilla__pool_t head_pool;         /* request head blocks */
  catzilla__pool_t conn_pool;         /* connection structs */
  catzilla__buf_t out;                /* scratch for serializing responses */
  catzilla__date_t date;
  catzilla__buf_slab_t read_slab;     /* shared by every read: parsed at once, never kept */
  catzilla_server_stats_t stats;
  uint64_t close_deadline;
  catzilla_server_closed_cb closed_cb;
  void* closed_arg;
  int handles_open;                   /* listener, sweep, idle, prepare, check not yet closed */
  bool listening;
  bool closing;
  bool closed;
};

/* http_conn.c */
catzilla__conn_t* catzilla__conn_for_id(catzilla_server_t* server, catzilla_request_id_t id);
void catzilla__conn_queue_resume(catzilla__conn_t* conn);
void catzilla__conn_settings_init(llhttp_settings_t* settings);
int catzilla__conn_init(catzilla_server_t* server, catzilla__conn_t* conn);
int catzilla__conn_start(catzilla_server_t* server, catzilla__conn_t* conn);
void catzilla__conn_abandon(catzilla__conn_t* conn);
void catzilla__conn_close(catzilla__conn_t* conn, catzilla_abort_reason_t reason);
void catzilla__conn_continue(catzilla__conn_t* conn);
void catzilla__conn_response_done(catzilla__conn_t* conn);
void catzilla__conn_timeout(catzilla__conn_t* conn);
void catzilla__conn_set_deadline(catzilla__conn_t* conn, catzilla__deadline_t kind);
/* Idle between requests (what a closing server closes at once): it has served a request, and
 * nothing of the next one has arrived, read or still in the kernel's buffer. */
bool catzilla__conn_is_idle(const catzilla__conn_t* conn);
void catzilla__conn_send_error(catzilla__conn_t* conn, int status);
void catzilla__conn_pause_body(catzilla__conn_t* conn);
void catzilla__conn_close_after_writes(catzilla__conn_t* conn);
void catzilla__conn_reset(catzilla__conn_t* conn);

void catzilla__conn_take_over(catzilla__conn_t* conn, const catzilla__takeover_t* takeover);
/* The takeover's next deadline (loop ms, 0 = none): takeover.on_deadline runs from the sweep then. */
void catzilla__conn_takeover_deadline(catzilla__conn_t* conn, uint64_t at);
void catzilla__conn_attach_stream(catzilla__conn_t* conn, catzilla_stream_context_t* stream, bool will_close);
void catzilla__conn_detach_stream(catzilla__conn_t* conn);
void catzilla__conn_response_taken(catzilla__conn_t* conn, bool will_close);
void catzilla__conn_response_cut(catzilla__conn_t* conn);
void catzilla__conn_stall_deadline(catzilla__conn_t* conn, uint64_t ms);
void catzilla__conn_resume_body(catzilla__conn_t* conn);


/* http_response.c */
int catzilla__response_head(catzilla_server_t* server, catzilla__conn_t* conn, int status,
                            const char* headers, size_t headers_len, const char* framing, size_t framing_len,
                            bool close, catzilla__buf_t* out);
int catzilla__response_serialize(catzilla_server_t* server, catzilla__conn_t* conn,
                                 const catzilla_response_t* response, bool close, bool send_body,
                                 catzilla__buf_t* out);
int catzilla__response_error_bytes(catzilla_server_t* server, int status, catzilla__buf_t* out);
void catzilla__stats_count_status(catzilla_server_t* server, int status);

static inline uint64_t catzilla__now(const catzilla_server_t* server) {
  return uv_now(server->loop);
}

#endif /* CATZILLA_INTERNAL_H */
