/*
 * The server: listen/accept on the given libuv loop, the list of its connections, and
 * graceful close. The request-level calls of the public API are in request.c. Request ids (ids.c), work
 * deferred to loop phases (deferred.c) and the deadline sweep (deadlines.c) are its leaves.
 */
#include "internal.h"
#include <stdlib.h>

void catzilla_server_options_default(catzilla_server_options_t* o) {
#define XX(type, field, js, dflt, doc) o->field = (type)(dflt);
  CATZILLA_SERVER_OPTIONS_MAP(XX)
#undef XX
}

static void server__ends_delivered(void* arg) {
  catzilla_server_t* s = arg;
  if (s->callbacks.on_ends_delivered != NULL) s->callbacks.on_ends_delivered(s);
}

void catzilla_server_deliver_ends(catzilla_server_t* s) { catzilla__deferred_run_now(&s->deferred, CATZILLA__DEFER_NOTIFY); }

/* ---- timeouts ---- */

static void server__maybe_finish_close(catzilla_server_t* s);

static void server__on_sweep(catzilla__sweep_t* sweep, uint64_t now) {
  catzilla_server_t* s = CATZILLA__CONTAINER_OF(sweep, catzilla_server_t, sweep);
  bool force = s->closing && now >= s->close_deadline;
  catzilla__conn_t* conn = s->conns;
  while (conn != NULL) {
    catzilla__conn_t* next = conn->next;
    if (force)
      catzilla__conn_close(conn, CATZILLA_ABORT_SERVER_CLOSING);
    else if (conn->deadline != 0 && now >= conn->deadline && conn->state != CATZILLA__CONN_CLOSING)
      catzilla__conn_timeout(conn);
    conn = next;
  }
}

/* ---- accepting ---- */

/* Takes a new connection: `fd` >= 0 is a socket accepted by hand (the drain at close), -1 means
 * uv_accept from the listener. */
static void server__add_conn(catzilla_server_t* s, int fd) {
  catzilla__conn_t* conn = catzilla__pool_get(&s->conn_pool);
  if (conn == NULL) {
    if (fd >= 0) catzilla_socket_close(fd);
    return;
  }
  if (catzilla__conn_init(s, conn) != 0) {
    if (fd >= 0) catzilla_socket_close(fd);
    catzilla__pool_put(&s->conn_pool, conn);
    return;
  }
  conn->slot = catzilla__ids_acquire(&s->ids, conn);
  conn->next = s->conns;
  if (s->conns) s->conns->prev = conn;
  s->conns = conn;
  s->stats.connections_accepted++;
  s->stats.connections_active++;
  int err = fd >= 0 ? uv_tcp_open(&conn->tcp, fd) : uv_accept((uv_stream_t*)&s->listener, (uv_stream_t*)&conn->tcp);
  if (err != 0 && fd >= 0) catzilla_socket_close(fd);
  if (conn->slot == UINT32_MAX || err != 0 || catzilla__conn_start(s, conn) != 0) catzilla__conn_abandon(conn);
}

static void server__on_connection(uv_stream_t* listener, int status) {
  catzilla_server_t* s = CATZILLA__CONTAINER_OF(listener, catzilla_server_t, listener);
  if (status < 0 || s->closing) return;
  server__add_conn(s, -1);
}

/* Closing a listener resets the connections still in its accept queue (a reuse-port group does
 * not hand them to another member unless net.ipv4.tcp_migrate_req is 1). Those clients already
 * connected: take them now, in the same synchronous step as the close, and serve their request.
 * Bounded, so a flood cannot hold the loop. */
static void server__drain_accept_queue(catzilla_server_t* s) {
  uv_os_fd_t listen_fd;
  if (uv_fileno((uv_handle_t*)&s->listener, &listen_fd) != 0) return;
  for (int i = 0; i < CATZILLA__DRAIN_MAX; i++) {
    int fd = catzilla__socket_accept(listen_fd);
    if (fd < 0) return;
    server__add_conn(s, fd);
  }
}

static void server__conn_closed(catzilla_server_t* s, catzilla__conn_t* conn) {
  catzilla__deferred_cancel(&s->deferred, CATZILLA__DEFER_RESUME, &conn->resume_task);
  if (conn->prev) conn->prev->next = conn->next;
  else s->conns = conn->next;
  if (conn->next) conn->next->prev = conn->prev;
  if (conn->slot != UINT32_MAX) catzilla__ids_release(&s->ids, conn->slot);
  catzilla__head_release(&conn->head);
  catzilla__buf_free(&conn->inbuf);
  catzilla__pool_put(&s->conn_pool, conn);
  s->stats.connections_active--;
  server__maybe_finish_close(s);
}

/* ---- lifecycle ---- */

int catzilla_server_new(uv_loop_t* loop, const catzilla_server_options_t* options,
                        const catzilla_server_callbacks_t* callbacks, void* data, catzilla_server_t** out) {
  catzilla_server_t* s = calloc(1, sizeof(*s));
  if (s == NULL) return UV_ENOMEM;
  s->read_slab.size = CATZILLA__READ_SLAB_SIZE;
  s->read_slab.base = malloc(CATZILLA__READ_SLAB_SIZE);
  if (s->read_slab.base == NULL) {
    free(s);
    return UV_ENOMEM;
  }
  s->loop = loop;
  s->options = *options;
  s->callbacks = *callbacks;
  s->data = data;
  s->ids.free_head = UINT32_MAX;
  s->conn_closed = server__conn_closed;
  catzilla__conn_settings_init(&s->parser_settings);
  catzilla__pool_init(&s->head_pool, CATZILLA__HEAD_BLOCK_SIZE);
  catzilla__pool_init(&s->conn_pool, sizeof(catzilla__conn_t));
  catzilla__sweep_init(&s->sweep, loop, server__on_sweep);
  const uint64_t timeouts[] = {options->headers_timeout_ms, options->keepalive_timeout_ms, options->body_timeout_ms,
                               options->request_timeout_ms};
  for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) catzilla__sweep_note(&s->sweep, timeouts[i], false);
  catzilla__deferred_init(&s->deferred, loop);
  s->deferred.after_run[CATZILLA__DEFER_NOTIFY] = server__ends_delivered;
  s->deferred.after_arg = s;
  catzilla__pool_init(&s->stream_pool, sizeof(catzilla_stream_context_t));
  catzilla__pool_init(&s->piece_pool, sizeof(catzilla__piece_t) * CATZILLA__STREAM_MAX_PIECES);
  s->handles_open = 4;
  *out = s;
  return 0;
}

void* catzilla_server_data(const catzilla_server_t* s) { return s->data; }
void catzilla_server_set_data(catzilla_server_t* s, void* data) { s->data = data; }

int catzilla_server_listen(catzilla_server_t* s, const char* host, int port, int backlog, unsigned flags,
                           struct sockaddr_storage* bound) {
  if (s->closing) return CATZILLA_ESERVERCLOSED;
  if (s->listening) return UV_EALREADY;
  int fd = catzilla_socket_bind(host, port, flags, bound);
  if (fd < 0) return fd;
  int err = uv_tcp_init(s->loop, &s->listener);
  if (err) {
    catzilla_socket_close(fd);
    return err;
  }
  s->handles_open++;
  s->listening = true;
  err = uv_tcp_open(&s->listener, fd);
  if (err) catzilla_socket_close(fd);
  if (err == 0) err = uv_listen((uv_stream_t*)&s->listener, backlog > 0 ? backlog : 511, server__on_connection);
  if (err) return err; /* the listener is closed by catzilla_server_close */
  catzilla__sweep_arm(&s->sweep);
  return 0;
}

static void server__on_handle_closed(uv_handle_t* handle) {
  catzilla_server_t* s = handle->data;
  if (--s->handles_open == 0) {
    s->closed = true;
    if (s->closed_cb) s->closed_cb(s, s->closed_arg);
  }
}

static void server__close_handle(catzilla_server_t* s, uv_handle_t* handle) {
  handle->data = s;
  uv_close(handle, server__on_handle_closed);
}

static void server__maybe_finish_close(catzilla_server_t* s) {
  if (!s->closing || s->conns != NULL || catzilla__sweep_closing(&s->sweep)) return;
  /* streams of closed connections still owe their final notice */
  catzilla__deferred_run_now(&s->deferred, CATZILLA__DEFER_FLUSH);
  catzilla__deferred_run_now(&s->deferred, CATZILLA__DEFER_NOTIFY);
  catzilla__sweep_close(&s->sweep, server__on_handle_closed, s);
  catzilla__deferred_close(&s->deferred, server__on_handle_closed, s);
}

int catzilla_server_close(catzilla_server_t* s, uint64_t grace_ms, catzilla_server_closed_cb cb, void* arg) {
  if (s->closing) return CATZILLA_ESERVERCLOSED;
  s->closing = true;
  s->closed_cb = cb;
  s->closed_arg = arg;
  s->close_deadline = catzilla__now(s) + grace_ms;
  catzilla__sweep_until(&s->sweep, s->close_deadline);
  catzilla__conn_t* conn = s->conns;
  while (conn != NULL) {
    catzilla__conn_t* next = conn->next;
    if (grace_ms == 0)
      catzilla__conn_close(conn, CATZILLA_ABORT_SERVER_CLOSING);
    else if (catzilla__conn_is_idle(conn))
      catzilla__conn_close(conn, CATZILLA_ABORT_SERVER_CLOSING);
    conn = next;
  }
  /* after the idle ones were closed: the drained connections have a request on its way */
  if (s->listening && grace_ms > 0) server__drain_accept_queue(s);
  if (s->listening) server__close_handle(s, (uv_handle_t*)&s->listener);
  if (s->conns != NULL) catzilla__sweep_arm(&s->sweep);
  server__maybe_finish_close(s);
  return 0;
}

void catzilla_server_free(catzilla_server_t* s) {
  if (s == NULL) return;
  catzilla__pool_drain(&s->head_pool);
  catzilla__pool_drain(&s->conn_pool);
  catzilla__pool_drain(&s->stream_pool);
  catzilla__pool_drain(&s->piece_pool);
  catzilla__buf_spares_free(&s->cork_spares);
  catzilla__buf_free(&s->out);
  catzilla__ids_free(&s->ids);
  free(s->read_slab.base);
  free(s);
}

void catzilla_server_stats(const catzilla_server_t* s, catzilla_server_stats_t* out) { *out = s->stats; }
