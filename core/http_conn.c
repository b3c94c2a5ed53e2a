/*
 * One connection: read -> parse (llhttp) -> dispatch -> write -> keep-alive.
 *
 * One request is in flight per connection: the parser pauses at the end of a request
 * until its response has been queued, and bytes that arrived meanwhile (pipelining) wait
 * in `inbuf`, so responses leave strictly in request order. JavaScript is only ever
 * called from here (llhttp callbacks, read and timer callbacks), never from inside a call
 * that JavaScript made, so handlers never re-enter one another; work that a JS call makes
 * possible (the next pipelined request, a resumed body) continues from the server's idle
 * handle instead.
 */
#include "internal.h"
#include <stdlib.h>
#include <sys/ioctl.h>

static const char conn__continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static inline catzilla__conn_t* conn__of(llhttp_t* parser) { return (catzilla__conn_t*)parser->data; }

catzilla__conn_t* catzilla__conn_for_id(catzilla_server_t* server, catzilla_request_id_t id) {
  catzilla__conn_t* conn = catzilla__ids_owner(&server->ids, id);
  return conn != NULL && conn->id == id ? conn : NULL;
}

static void conn__on_resume(catzilla__task_t* task) {
  catzilla__conn_continue(CATZILLA__CONTAINER_OF(task, catzilla__conn_t, resume_task));
}

/* Continue the connection from the idle phase (outside any JS call). */
void catzilla__conn_queue_resume(catzilla__conn_t* conn) {
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  conn->resume_task.run = conn__on_resume;
  catzilla__defer(&conn->server->deferred, CATZILLA__DEFER_RESUME, &conn->resume_task);
}

/* The sweep looks at one deadline: the sooner of the connection's own and its takeover's. */
static void conn__deadline_update(catzilla__conn_t* conn) {
  uint64_t a = conn->own_deadline, b = conn->takeover_deadline;
  conn->deadline = a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

void catzilla__conn_takeover_deadline(catzilla__conn_t* conn, uint64_t at) {
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  conn->takeover_deadline = at;
  conn__deadline_update(conn);
}

void catzilla__conn_set_deadline(catzilla__conn_t* conn, catzilla__deadline_t kind) {
  const catzilla_server_options_t* o = &conn->server->options;
  uint64_t ms = 0;
  switch (kind) {
    case CATZILLA__DEADLINE_IDLE: ms = o->keepalive_timeout_ms; break;
    case CATZILLA__DEADLINE_HEADERS: ms = o->headers_timeout_ms; break;
    case CATZILLA__DEADLINE_BODY: ms = o->body_timeout_ms; break;
    case CATZILLA__DEADLINE_LINGER: ms = CATZILLA__LINGER_MS; break;
    case CATZILLA__DEADLINE_STALL:
    case CATZILLA__DEADLINE_NONE: break;
  }
  uint64_t at = ms ? catzilla__now(conn->server) + ms : 0;
  /* While a request is being received, its overall deadline caps the silence-based ones, so a
   * head or body that trickles a byte at a time still ends (408) at request_timeout_ms. */
  if ((kind == CATZILLA__DEADLINE_HEADERS || kind == CATZILLA__DEADLINE_BODY) && conn->request_deadline != 0 &&
      (at == 0 || conn->request_deadline < at))
    at = conn->request_deadline;
  conn->deadline_kind = at ? kind : CATZILLA__DEADLINE_NONE;
  conn->own_deadline = at;
  conn__deadline_update(conn);
}

/* Bytes of the peer waiting in the kernel, not read yet. */
static bool conn__bytes_waiting(const catzilla__conn_t* conn) {
  uv_os_fd_t fd;
  int n = 0;
  if (uv_fileno((const uv_handle_t*)&conn->tcp, &fd) != 0) return false;
  return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

bool catzilla__conn_is_idle(const catzilla__conn_t* conn) {
  /* A connection that has not begun its first request is not idle: its client connected to send
   * one (closing it would fail that request, or reset it when the bytes are on their way). */
  return conn->state == CATZILLA__CONN_IDLE && conn->used && conn->inbuf.len == 0 && !catzilla__outbox_busy(&conn->outbox) &&
         !conn__bytes_waiting(conn);
}

/* ---- closing ---- */

static void conn__on_close(uv_handle_t* handle) {
  catzilla__conn_t* conn = (catzilla__conn_t*)handle;
  if (conn->takeover.release != NULL) conn->takeover.release(conn->takeover.arg);
  conn->takeover = (catzilla__takeover_t){0};
  conn->server->conn_closed(conn->server, conn);
}

void catzilla__conn_close(catzilla__conn_t* conn, catzilla_abort_reason_t reason) {
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  catzilla_request_id_t id = conn->id;
  bool notify = conn->state == CATZILLA__CONN_ACTIVE && !conn->response_done && id != 0;
  conn->state = CATZILLA__CONN_CLOSING;
  conn->id = 0;
  conn->deadline = 0;
  uv_close((uv_handle_t*)&conn->tcp, conn__on_close);
  catzilla__outbox_close(&conn->outbox);
  if (notify) conn->server->callbacks.on_abort(conn->server, id, reason);
  if (conn->stream != NULL) catzilla__stream_conn_closed(conn->stream);
}

/* Close with a reset (RST) once nothing is left to write: the peer sees an error, not an end. */
void catzilla__conn_reset(catzilla__conn_t* conn) {
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  if (catzilla__outbox_busy(&conn->outbox)) {
    catzilla__conn_close_after_writes(conn);
    return;
  }
  conn->state = CATZILLA__CONN_CLOSING;
  conn->id = 0;
  conn->deadline = 0;
  catzilla__outbox_close(&conn->outbox);
  if (uv_tcp_close_reset(&conn->tcp, conn__on_close) != 0) uv_close((uv_handle_t*)&conn->tcp, conn__on_close);
}

static void conn__on_shutdown(uv_shutdown_t* req, int status) {
  catzilla__conn_t* conn = req->data;
  free(req);
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  if (status < 0) {
    catzilla__conn_close(conn, CATZILLA_ABORT_CONNECTION_ERROR);
    return;
  }
  /* Lingering close: keep reading (and discarding) until the peer closes, so that
   * unread request bytes do not turn our close into a reset that destroys the response. */
  catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_LINGER);
}

static void conn__shutdown(catzilla__conn_t* conn) {
  conn->state = CATZILLA__CONN_LINGER;
  conn->id = 0;
  conn->inbuf.len = 0;
  if (conn->shutdown_sent) return;
  conn->shutdown_sent = 1;
  uv_shutdown_t* req = malloc(sizeof(*req));
  if (req == NULL) {
    catzilla__conn_close(conn, CATZILLA_ABORT_CONNECTION_ERROR);
    return;
  }
  req->data = conn;
  if (uv_shutdown(req, (uv_stream_t*)&conn->tcp, conn__on_shutdown) != 0) {
    free(req);
    catzilla__conn_close(conn, CATZILLA_ABORT_CONNECTION_ERROR);
    return;
  }
  catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_LINGER);
  if (!conn->reading) catzilla__conn_continue(conn);
}

/* Close once everything queued has been written. */
void catzilla__conn_close_after_writes(catzilla__conn_t* conn) {
  conn->keep_alive = 0;
  conn->state = CATZILLA__CONN_LINGER;
  conn->id = 0;
  if (!catzilla__outbox_busy(&conn->outbox)) conn__shutdown(conn);
}

/* The outbox's events: a socket error closes the connection; an empty outbox lets a
 * connection that waits to close shut its write side. */
static void conn__on_write_error(void* arg, int err) {
  catzilla__conn_close((catzilla__conn_t*)arg, CATZILLA_ABORT_CONNECTION_ERROR);
}

static void conn__on_writes_done(void* arg) {
  catzilla__conn_t* conn = arg;
  if (conn->state == CATZILLA__CONN_LINGER && !conn->shutdown_sent) conn__shutdown(conn);
}

static const catzilla__outbox_events_t conn__outbox_events = {conn__on_write_error, conn__on_writes_done};

/* ---- errors answered by the core ---- */

/* Write the core's error answer, then close (no JavaScript involved). */
static void conn__send_error_quiet(catzilla__conn_t* conn, int status) {
  catzilla_server_t* server = conn->server;
  server->out.len = 0;
  if (catzilla__response_error_bytes(server, status, &server->out) == 0) {
    uv_buf_t buf = uv_buf_init(server->out.base, (unsigned)server->out.len);
    catzilla__stats_count_status(server, status);
    if (catzilla__outbox_send(&conn->outbox, &buf, 1, -1, NULL, NULL) != 0) return; /* closing */
  }
  catzilla__conn_close_after_writes(conn);
}

void catzilla__conn_send_error(catzilla__conn_t* conn, int status) {
  catzilla_server_t* server = conn->server;
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  if (conn->state == CATZILLA__CONN_ACTIVE && (conn->response_done || conn->stream != NULL)) {
    /* a response already (partly) went out: nothing more may be written */
    if (conn->stream != NULL) catzilla__conn_close(conn, status == 408 ? CATZILLA_ABORT_TIMEOUT : CATZILLA_ABORT_BAD_REQUEST);
    else catzilla__conn_close_after_writes(conn);
    return;
  }
  if (conn->state == CATZILLA__CONN_ACTIVE && conn->id != 0) {
    catzilla_request_id_t id = conn->id;
    conn->id = 0;
    conn->response_done = 1;
    server->callbacks.on_abort(server, id, status == 408 ? CATZILLA_ABORT_TIMEOUT : CATZILLA_ABORT_BAD_REQUEST);
    if (conn->state == CATZILLA__CONN_CLOSING) return;
  }
  conn__send_error_quiet(conn, status);
}

static int conn__status_for_parse_error(catzilla__conn_t* conn, llhttp_errno_t err) {
  /* our callbacks' verdicts arrive as HPE_USER or HPE_CB_* depending on the callback */
  if (conn->head.error_status) return conn->head.error_status;
  switch (err) {
    /* llhttp's own Transfer-Encoding verdicts are framing conflicts (with Content-Length); an
     * unknown coding gets its 501 from request_head.c before llhttp decides anything */
    case HPE_INVALID_VERSION: /* 505 for a well-formed version we do not speak, 400 for a malformed line */
      return conn->parser.http_major == 1 && conn->parser.http_minor <= 1 ? 400 : 505;
    default: return 400;
  }
}

/* ---- the request cycle ---- */

static void conn__prepare_next(catzilla__conn_t* conn) {
  conn->state = CATZILLA__CONN_IDLE;
  conn->id = 0;
  conn->message_complete = 0;
  conn->response_done = 0;
  conn->body_paused = 0;
  conn->is_head = 0;
  conn->body_received = 0;
  conn->request_deadline = 0;
  catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_IDLE);
}

/* Both the request has been read and its response queued: move on. */
static void conn__request_complete(catzilla__conn_t* conn) {
  if (!conn->keep_alive || conn->server->closing || conn->upgrade) {
    catzilla__conn_close_after_writes(conn);
    return;
  }
  conn__prepare_next(conn);
  if (conn->in_execute > 0) return; /* llhttp goes on by itself */
  if (conn->inbuf.len == 0 && conn->reading) {
    if (llhttp_get_errno(&conn->parser) == HPE_PAUSED) llhttp_resume(&conn->parser);
  } else {
    catzilla__conn_queue_resume(conn); /* pipelined input waits */
  }
}

void catzilla__conn_response_done(catzilla__conn_t* conn) {
  conn->response_done = 1;
  conn->id = 0;
  if (!conn->message_complete) {
    /* Answered before the whole body was read, with Connection: close (a rejected upload):
     * the rest is not worth reading; a lingering close drops it until the peer goes. */
    if (!conn->keep_alive) {
      catzilla__conn_close_after_writes(conn);
      return;
    }
    /* Otherwise the rest (bounded by max_body_size and the body timeout) is read and
     * discarded, and the connection stays usable. */
    if (conn->body_paused) {
      conn->body_paused = 0;
      catzilla__conn_queue_resume(conn);
    }
    return;
  }
  conn__request_complete(conn);
}

static int conn__on_message_begin(llhttp_t* parser) {
  catzilla__conn_t* conn = conn__of(parser);
  catzilla__head_reset(&conn->head);
  conn->state = CATZILLA__CONN_HEAD;
  conn->used = 1;
  conn->message_complete = 0;
  conn->response_done = 0;
  conn->body_received = 0;
  uint64_t request_ms = conn->server->options.request_timeout_ms;
  conn->request_deadline = request_ms ? catzilla__now(conn->server) + request_ms : 0;
  catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_HEADERS);
  return 0;
}

static int conn__on_url(llhttp_t* parser, const char* at, size_t len) {
  catzilla__conn_t* conn = conn__of(parser);
  return catzilla__head_on_url(&conn->head, at, len, &conn->server->options);
}

static int conn__on_header_field(llhttp_t* parser, const char* at, size_t len) {
  catzilla__conn_t* conn = conn__of(parser);
  return catzilla__head_on_field(&conn->head, at, len, &conn->server->options);
}

static int conn__on_header_value(llhttp_t* parser, const char* at, size_t len) {
  catzilla__conn_t* conn = conn__of(parser);
  return catzilla__head_on_value(&conn->head, at, len, &conn->server->options);
}

static int conn__on_header_value_complete(llhttp_t* parser) {
  return catzilla__head_on_value_complete(&conn__of(parser)->head);
}

static int conn__on_headers_complete(llhttp_t* parser) {
  catzilla__conn_t* conn = conn__of(parser);
  catzilla_server_t* server = conn->server;
  catzilla__head_t* head = &conn->head;
  if (parser->http_major != 1) {
    head->error_status = 505;
    return HPE_USER;
  }
  if (catzilla__head_check_complete(head, parser->http_major, parser->http_minor) != 0) return HPE_USER;
  bool chunked = (parser->flags & F_CHUNKED) != 0;
  bool has_length = (parser->flags & F_CONTENT_LENGTH) != 0;
  if (has_length && parser->content_length > server->options.max_body_size) {
    head->error_status = 413;
    return HPE_USER;
  }
  bool has_body = chunked || (has_length && parser->content_length > 0);
  conn->http10 = parser->http_minor == 0;
  /* Transfer-Encoding in an HTTP/1.0 request is faulty framing (RFC 9112 6.1): the body is read
   * as chunked, and the connection closes after the response, whatever Connection says. */
  conn->keep_alive = llhttp_should_keep_alive(parser) && !server->closing && !(conn->http10 && chunked);
  conn->upgrade = parser->upgrade;
  conn->is_head = parser->method == HTTP_HEAD;
  conn->message_complete = !has_body;
  conn->state = CATZILLA__CONN_ACTIVE;
  conn->id = catzilla__ids_next(&server->ids, conn->slot);
  server->stats.requests++;
  catzilla__conn_set_deadline(conn, has_body ? CATZILLA__DEADLINE_BODY : CATZILLA__DEADLINE_NONE);

  if (head->expect_continue && has_body && !conn->http10) {
    uv_buf_t buf = uv_buf_init((char*)conn__continue_100, sizeof(conn__continue_100) - 1);
    if (catzilla__outbox_send(&conn->outbox, &buf, 1, -1, NULL, NULL) != 0) return HPE_PAUSED; /* closing */
    server->stats.responses[1]++;
  }

  catzilla_request_info_t info;
  info.method = parser->method;
  info.method_name = llhttp_method_name((llhttp_method_t)parser->method);
  info.url = head->bytes.base;
  info.url_len = head->url_len;
  info.headers = head->bytes.base + head->url_len;
  info.headers_len = head->bytes.len - head->url_len;
  info.flags = (conn->http10 ? CATZILLA_REQ_HTTP10 : 0) | (conn->keep_alive ? CATZILLA_REQ_KEEPALIVE : 0) |
               (has_body ? CATZILLA_REQ_HAS_BODY : 0) | (conn->upgrade ? CATZILLA_REQ_UPGRADE : 0);
  server->callbacks.on_request(server, conn->id, &info);
  catzilla__head_release(head);
  if (conn->state == CATZILLA__CONN_CLOSING || conn->state == CATZILLA__CONN_LINGER) return HPE_PAUSED;
  return 0;
}

static int conn__on_body(llhttp_t* parser, const char* at, size_t len) {
  catzilla__conn_t* conn = conn__of(parser);
  catzilla_server_t* server = conn->server;
  conn->body_received += len;
  if (conn->body_received > server->options.max_body_size) {
    conn->head.error_status = 413;
    return HPE_USER;
  }
  catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_BODY);
  if (conn->response_done || conn->id == 0) return 0; /* answered already: discard */
  server->callbacks.on_body(server, conn->id, at, len);
  if (conn->state == CATZILLA__CONN_CLOSING || conn->state == CATZILLA__CONN_LINGER) return HPE_PAUSED;
  return conn->body_paused ? HPE_PAUSED : 0;
}

/* A chunk that would take the body past the limit is refused before its data arrives. */
static int conn__on_chunk_header(llhttp_t* parser) {
  catzilla__conn_t* conn = conn__of(parser);
  if (conn->body_received + parser->content_length > conn->server->options.max_body_size) {
    conn->head.error_status = 413;
    return HPE_USER;
  }
  return 0;
}

static int conn__on_message_complete(llhttp_t* parser) {
  catzilla__conn_t* conn = conn__of(parser);
  catzilla_server_t* server = conn->server;
  /* IDLE: a bodiless request answered synchronously is complete already */
  if (conn->state == CATZILLA__CONN_IDLE) return 0;
  if (conn->state != CATZILLA__CONN_ACTIVE) return HPE_PAUSED;
  conn->message_complete = 1;
  if (!conn->response_done && conn->id != 0) {
    catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_NONE);
    server->callbacks.on_body_end(server, conn->id);
    if (conn->state != CATZILLA__CONN_ACTIVE) return HPE_PAUSED;
  }
  if (conn->response_done) {
    conn__request_complete(conn);
    return conn->state == CATZILLA__CONN_IDLE ? 0 : HPE_PAUSED;
  }
  return HPE_PAUSED; /* wait for the response before reading the next request */
}

void catzilla__conn_settings_init(llhttp_settings_t* s) {
  llhttp_settings_init(s);
  s->on_message_begin = conn__on_message_begin;
  s->on_url = conn__on_url;
  s->on_header_field = conn__on_header_field;
  s->on_header_value = conn__on_header_value;
  s->on_header_value_complete = conn__on_header_value_complete;
  s->on_headers_complete = conn__on_headers_complete;
  s->on_body = conn__on_body;
  s->on_chunk_header = conn__on_chunk_header;
  s->on_message_complete = conn__on_message_complete;
}

/* ---- reading ---- */

static void conn__execute(catzilla__conn_t* conn, const char* data, size_t len) {
  catzilla_server_t* server = conn->server;
  bool from_inbuf = data == conn->inbuf.base;
  conn->in_execute++;
  llhttp_errno_t err = llhttp_execute(&conn->parser, data, len);
  conn->in_execute--;
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  if (conn->state == CATZILLA__CONN_LINGER) {
    conn->inbuf.len = 0;
    return;
  }
  if (err == HPE_OK) {
    if (from_inbuf) conn->inbuf.len = 0;
    return;
  }
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    const char* pos = llhttp_get_error_pos(&conn->parser);
    size_t used = pos ? (size_t)(pos - data) : len;
    if (used > len) used = len;
    if (err == HPE_PAUSED_UPGRADE) {
      /* The request is answered, then the connection closes, unless catzilla_ws_accept took it
       * over: then the bytes after the head (kept in inbuf) are the first frames. */
      conn->keep_alive = 0;
      conn->upgrade = 1;
    }
    if (from_inbuf) {
      catzilla__buf_consume(&conn->inbuf, used);
    } else if (used < len) {
      if (catzilla__buf_append(&conn->inbuf, data + used, len - used) != 0) {
        catzilla__conn_close(conn, CATZILLA_ABORT_CONNECTION_ERROR);
        return;
      }
    }
    /* paused with the request answered: continue at once (outside llhttp, inside our loop) */
    if (conn->state == CATZILLA__CONN_IDLE && err == HPE_PAUSED) catzilla__conn_queue_resume(conn);
    return;
  }
  server->stats.parse_errors++;
  if (from_inbuf) conn->inbuf.len = 0;
  catzilla__conn_send_error(conn, conn__status_for_parse_error(conn, err));
}

static void conn__alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  catzilla__conn_t* conn = (catzilla__conn_t*)handle;
  (void)suggested;
  char* base;
  size_t len;
  catzilla__buf_slab_take(&conn->server->read_slab, &base, &len);
  *buf = uv_buf_init(base, (unsigned int)len);
}

static void conn__read_stop(catzilla__conn_t* conn) {
  if (conn->reading) {
    uv_read_stop((uv_stream_t*)&conn->tcp);
    conn->reading = 0;
  }
}

static void conn__on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  catzilla__conn_t* conn = (catzilla__conn_t*)stream;
  catzilla_server_t* server = conn->server;
  if (nread > 0) {
    server->stats.bytes_read += (uint64_t)nread;
    switch (conn->state) {
      case CATZILLA__CONN_CLOSING:
      case CATZILLA__CONN_LINGER:
        break; /* draining */
      default:
        if (conn->takeover.feed != NULL) {
          conn->takeover.feed(conn->takeover.arg, buf->base, (size_t)nread);
          break;
        }
        if (conn->inbuf.len > 0 || conn->upgrade || llhttp_get_errno(&conn->parser) == HPE_PAUSED) {
          /* an upgrade request waits for its answer: nothing after it is HTTP */
          if (catzilla__buf_append(&conn->inbuf, buf->base, (size_t)nread) != 0) {
            catzilla__conn_close(conn, CATZILLA_ABORT_CONNECTION_ERROR);
            break;
          }
          if (conn->inbuf.len > server->options.max_pipeline_buffer) conn__read_stop(conn);
        } else {
          conn__execute(conn, buf->base, (size_t)nread);
        }
    }
  } else if (nread < 0) {
    catzilla__conn_close(conn, nread == UV_EOF ? CATZILLA_ABORT_CLIENT_CLOSED : CATZILLA_ABORT_CONNECTION_ERROR);
  }
  catzilla__buf_slab_give(&server->read_slab, buf->base);
}

/* Continue a paused connection: parse buffered input and read again (from the idle handle). */
void catzilla__conn_continue(catzilla__conn_t* conn) {
  catzilla__conn_state_t state = conn->state;
  if (state == CATZILLA__CONN_CLOSING) return;
  if (state == CATZILLA__CONN_LINGER) {
    if (!conn->reading && uv_read_start((uv_stream_t*)&conn->tcp, conn__alloc, conn__on_read) == 0) conn->reading = 1;
    return;
  }
  if (conn->takeover.feed != NULL) {
    /* taken over: buffered bytes belong to the new protocol */
    if (conn->inbuf.len > 0) {
      conn->takeover.feed(conn->takeover.arg, conn->inbuf.base, conn->inbuf.len);
      if (conn->state == CATZILLA__CONN_CLOSING) return;
      conn->inbuf.len = 0;
    }
    if (!conn->reading && uv_read_start((uv_stream_t*)&conn->tcp, conn__alloc, conn__on_read) == 0) conn->reading = 1;
    return;
  }
  if (conn->body_paused) return;
  if (state == CATZILLA__CONN_ACTIVE && conn->message_complete && !conn->response_done) return;
  if (llhttp_get_errno(&conn->parser) == HPE_PAUSED) {
    llhttp_resume(&conn->parser);
    /* Run the parser even without input: paused on the last body bytes, it still owes
     * on_message_complete, which needs no more data. */
    static const char nothing[1] = {0};
    if (conn->inbuf.len == 0) conn__execute(conn, nothing, 0);
  }
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  if (conn->inbuf.len > 0) conn__execute(conn, conn->inbuf.base, conn->inbuf.len);
  if (conn->state == CATZILLA__CONN_CLOSING) return;
  if (!conn->reading && conn->inbuf.len <= conn->server->options.max_pipeline_buffer &&
      !conn->body_paused) {
    if (uv_read_start((uv_stream_t*)&conn->tcp, conn__alloc, conn__on_read) == 0) conn->reading = 1;
  }
}

/* Another protocol owns the read side from now on (after a 101); bytes already buffered are
 * fed to it from the loop. */
void catzilla__conn_take_over(catzilla__conn_t* conn, const catzilla__takeover_t* takeover) {
  conn->takeover = *takeover;
  catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_NONE);
  catzilla__conn_queue_resume(conn);
}

/* ---- the current response, for stream.c and request.c (each file writes its own fields) ---- */

/* A streaming response is attached (`will_close`: its framing or head ends the connection). */
void catzilla__conn_attach_stream(catzilla__conn_t* conn, catzilla_stream_context_t* stream, bool will_close) {
  conn->stream = stream;
  if (will_close) conn->keep_alive = 0;
}

void catzilla__conn_detach_stream(catzilla__conn_t* conn) { conn->stream = NULL; }

/* The whole response was handed over (catzilla_respond): the id is spent. */
void catzilla__conn_response_taken(catzilla__conn_t* conn, bool will_close) {
  conn->response_done = 1;
  conn->id = 0;
  if (will_close) conn->keep_alive = 0;
}

/* The response was cut short (its stream aborted or failed): nothing more belongs to the
 * request, and the connection ends after what is queued. */
void catzilla__conn_response_cut(catzilla__conn_t* conn) {
  conn->response_done = 1;
  conn->id = 0;
  conn->keep_alive = 0;
}

/* A backpressured stream's deadline for progress (ms from now), or 0 to lift it. */
void catzilla__conn_stall_deadline(catzilla__conn_t* conn, uint64_t ms) {
  if (ms == 0) {
    if (conn->deadline_kind == CATZILLA__DEADLINE_STALL) catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_NONE);
    return;
  }
  conn->deadline_kind = CATZILLA__DEADLINE_STALL;
  conn->own_deadline = catzilla__now(conn->server) + ms;
  conn__deadline_update(conn);
}

void catzilla__conn_resume_body(catzilla__conn_t* conn) {
  if (!conn->body_paused) return;
  conn->body_paused = 0;
  catzilla__conn_queue_resume(conn);
}

void catzilla__conn_pause_body(catzilla__conn_t* conn) {
  conn->body_paused = 1;
  conn__read_stop(conn);
}

void catzilla__conn_timeout(catzilla__conn_t* conn) {
  uint64_t now = catzilla__now(conn->server);
  if (conn->takeover_deadline != 0 && now >= conn->takeover_deadline && conn->takeover.on_deadline != NULL) {
    conn->takeover_deadline = 0;
    conn__deadline_update(conn);
    conn->takeover.on_deadline(conn->takeover.arg, now);
    return;
  }
  if (conn->own_deadline == 0 || now < conn->own_deadline) return;
  catzilla__deadline_t kind = conn->deadline_kind;
  conn->own_deadline = 0;
  conn->deadline_kind = CATZILLA__DEADLINE_NONE;
  conn__deadline_update(conn);
  conn->server->stats.timeouts++;
  switch (kind) {
    case CATZILLA__DEADLINE_HEADERS:
      if (conn->state == CATZILLA__CONN_HEAD) {
        conn->state = CATZILLA__CONN_IDLE;
        catzilla__conn_send_error(conn, 408);
      } else {
        catzilla__conn_close(conn, CATZILLA_ABORT_TIMEOUT);
      }
      break;
    case CATZILLA__DEADLINE_BODY:
      catzilla__conn_send_error(conn, 408);
      break;
    default:
      catzilla__conn_close(conn, CATZILLA_ABORT_TIMEOUT);
  }
}

/* A connection from the server's pool, zeroed, its handle on the server's loop. The server then
 * links it (slot, prev/next: its own bookkeeping) and starts it. */
int catzilla__conn_init(catzilla_server_t* server, catzilla__conn_t* conn) {
  memset(conn, 0, sizeof(*conn));
  conn->server = server;
  return uv_tcp_init(server->loop, &conn->tcp);
}

/* A connection the server could not start (no id slot, the accept or the first read failed):
 * closed at once, as a connection error. */
void catzilla__conn_abandon(catzilla__conn_t* conn) {
  conn->state = CATZILLA__CONN_IDLE;
  catzilla__conn_close(conn, CATZILLA_ABORT_CONNECTION_ERROR);
}

int catzilla__conn_start(catzilla_server_t* server, catzilla__conn_t* conn) {
  llhttp_init(&conn->parser, HTTP_REQUEST, &server->parser_settings);
  conn->parser.data = conn;
  conn->head.pool = &server->head_pool;
  catzilla__outbox_init(&conn->outbox, &conn->tcp, &conn__outbox_events, conn, &server->stats);
  uv_tcp_nodelay(&conn->tcp, 1);
  catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_IDLE);
  int err = uv_read_start((uv_stream_t*)&conn->tcp, conn__alloc, conn__on_read);
  if (err == 0) conn->reading = 1;
  return err;
}
