/*
 * catzilla_stream_context_t: one streaming response.
 *
 * The producer writes chunks; they are corked until the end of the loop turn (the
 * server's prepare handle), a byte threshold, or an explicit flush, and then leave in
 * one writev: [head] [chunk size line] [pieces...] [CRLF (+ last chunk)]. Many small
 * chunks become one HTTP chunk, so framing costs nothing per record. Small chunks are
 * copied into the cork buffer; large ones are referenced and released after their
 * write. `queued_bytes` (corked + in flight) against the watermarks is the backpressure
 * signal: write() returns 0 above the high watermark and the producer's on_writable fires at
 * the low one.
 *
 * The producer is whoever started the stream, through its hooks (on_writable, on_end): the
 * bindings for JavaScript, a ring source for a producer thread, a WebSocket connection. The
 * hooks are only ever called from loop phases (write callbacks, the prepare and idle handles),
 * never from inside a call the producer made; the end is always reported by on_end.
 *
 * A socket error (the peer reset or left: EPIPE, ECONNRESET...) is the client's close, never
 * the stream's failure: the connection closes (on_abort, the stream ends ABORTED) and the
 * call that met it returns CATZILLA_ECLOSED, like any later call; no raw socket error is
 * returned. ERRORED is for failures of the server's side (streamAbort, a Content-Length
 * mismatch, a file region that cannot be read); CLOSED and SHED for streams the
 * application ended early on purpose (catzilla_stream_abort_as).
 */
#include "internal.h"
#include <stdlib.h>
#include <unistd.h>

void catzilla_stream_options_default(catzilla_stream_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->status = 200;
  o->content_length = -1;
  o->high_watermark = 64 * 1024;
  o->low_watermark = 16 * 1024;
  o->cork_threshold = 64 * 1024;
  o->stall_timeout_ms = 60000;
}

void catzilla_stream_options_normalize(catzilla_stream_options_t* o) {
  catzilla_stream_options_t d;
  catzilla_stream_options_default(&d);
  if (o->high_watermark == 0) o->high_watermark = d.high_watermark;
  if (o->low_watermark > o->high_watermark) o->low_watermark = o->high_watermark / 4;
  if (o->cork_threshold == 0) o->cork_threshold = d.cork_threshold;
}

static bool stream__final(const catzilla_stream_context_t* s) {
  return s->state >= CATZILLA_STREAM_FINISHED;
}

/* ---- memory lent only while something is corked ----
 * The pieces array (16 x 40 bytes) and the cork buffer are the server's, lent to a stream from
 * its first corked chunk until the flush that sends (or hands over) them: a stream with nothing
 * corked, such as an SSE subscriber between events, holds neither. A busy stream takes the same
 * memory back at its next write (the server keeps the arrays and a few cork buffers). */

static bool stream__take_pieces(catzilla_stream_context_t* s) {
  if (s->pieces == NULL) s->pieces = catzilla__pool_get(&s->server->piece_pool);
  return s->pieces != NULL;
}

static int stream__cork_append(catzilla_stream_context_t* s, const char* data, size_t len) {
  if (s->cork.base == NULL && !catzilla__buf_spares_take(&s->server->cork_spares, &s->cork) &&
      catzilla__buf_reserve(&s->cork, len > CATZILLA__CORK_FIRST_CAP ? len : CATZILLA__CORK_FIRST_CAP) != 0) {
    return UV_ENOMEM;
  }
  return catzilla__buf_append(&s->cork, data, len);
}

/* Nothing is corked: the pieces array and the cork buffer go back to the server. */
static void stream__lend_back(catzilla_stream_context_t* s) {
  catzilla_server_t* server = s->server;
  if (s->pieces != NULL) {
    catzilla__pool_put(&server->piece_pool, s->pieces);
    s->pieces = NULL;
  }
  catzilla__buf_spares_give(&server->cork_spares, &s->cork, CATZILLA__CORK_SPARE_MAX_CAP);
}

static void stream__unref(catzilla_stream_context_t* s) {
  if (--s->refs > 0) return;
  catzilla__buf_free(&s->head);
  stream__lend_back(s);
  catzilla__pool_put(&s->server->stream_pool, s);
}

static void stream__release_corked(catzilla_stream_context_t* s) {
  for (unsigned i = 0; i < s->npieces; i++)
    if (s->pieces[i].release) s->pieces[i].release(s->pieces[i].release_arg);
  s->npieces = 0;
  s->corked_chunks = 0;
  s->queued_bytes -= s->corked_bytes;
  s->corked_bytes = 0;
  s->cork.len = 0;
  stream__lend_back(s);
}

static void stream__leave_backpressure(catzilla_stream_context_t* s) {
  uint64_t us = (uv_hrtime() - s->backpressure_since_ns) / 1000;
  s->stats.backpressure_us += us;
  s->server->stats.backpressure_us += us;
}

static int stream__flush(catzilla_stream_context_t* s);
static void stream__progress(catzilla_stream_context_t* s, bool may_call_js);
static void stream__maybe_finished(catzilla_stream_context_t* s);

/* The idle phase: the final notice of a stream that ended. */
static void stream__on_notify(catzilla__task_t* task) {
  catzilla_stream_context_t* s = CATZILLA__CONTAINER_OF(task, catzilla_stream_context_t, notify_task);
  s->stats.state = (uint64_t)s->state;
  s->stats.queued_bytes = s->queued_bytes;
  if (s->hooks.on_end != NULL) s->hooks.on_end(s->hooks.arg, s->id, &s->stats);
  stream__unref(s);
}

/* The prepare phase: what the producer corked during the turn leaves in one write. */
static void stream__on_flush(catzilla__task_t* task) {
  catzilla_stream_context_t* s = CATZILLA__CONTAINER_OF(task, catzilla_stream_context_t, flush_task);
  if (!stream__final(s)) {
    stream__flush(s);
    if (!stream__final(s)) {
      stream__progress(s, true);
      stream__maybe_finished(s);
    }
  }
  stream__unref(s);
}

static void stream__schedule_flush(catzilla_stream_context_t* s) {
  if (s->flush_task.queued) return;
  s->refs++;
  s->flush_task.run = stream__on_flush;
  catzilla__defer(&s->server->deferred, CATZILLA__DEFER_FLUSH, &s->flush_task);
}

/* A final state: detach from the connection and tell the producer (deferred to a loop phase). */
static void stream__end_state(catzilla_stream_context_t* s, catzilla_stream_state_t state) {
  catzilla_server_t* server = s->server;
  if (s->state == CATZILLA_STREAM_BACKPRESSURED) stream__leave_backpressure(s);
  s->state = state;
  server->stats.streams_active--;
  switch (state) {
    case CATZILLA_STREAM_FINISHED: server->stats.streams_completed++; break;
    case CATZILLA_STREAM_ABORTED: server->stats.streams_aborted++; break;
    case CATZILLA_STREAM_CLOSED: server->stats.streams_closed++; break;
    case CATZILLA_STREAM_SHED: server->stats.streams_shed++; break;
    default: server->stats.streams_errored++; break;
  }
  catzilla__conn_t* conn = s->conn;
  /* its units not yet handed to the socket are dropped (closing their descriptors) */
  if (conn != NULL) {
    catzilla__outbox_drop(&conn->outbox, s);
    catzilla__conn_detach_stream(conn);
    s->conn = NULL;
  }
  s->refs++; /* for the notification */
  s->notify_task.run = stream__on_notify;
  catzilla__defer(&server->deferred, CATZILLA__DEFER_NOTIFY, &s->notify_task);
  stream__unref(s); /* the connection's */
}

/* Every byte of an ended stream has been handed to the kernel. */
static void stream__maybe_finished(catzilla_stream_context_t* s) {
  if (s->state != CATZILLA_STREAM_FINISHING || s->units_pending > 0 || s->npieces > 0 || s->head.len > 0) return;
  catzilla__conn_t* conn = s->conn;
  stream__end_state(s, CATZILLA_STREAM_FINISHED);
  if (conn != NULL && conn->state != CATZILLA__CONN_CLOSING) catzilla__conn_response_done(conn);
}

/* After progress: leave backpressure (and tell the producer), keep the stall deadline fresh. */
static void stream__progress(catzilla_stream_context_t* s, bool may_call_js) {
  if (s->state == CATZILLA_STREAM_BACKPRESSURED) {
    if (s->queued_bytes <= s->options.low_watermark) {
      stream__leave_backpressure(s);
      s->state = CATZILLA_STREAM_STREAMING;
      if (s->conn) catzilla__conn_stall_deadline(s->conn, 0);
      if (may_call_js && s->hooks.on_writable != NULL) s->hooks.on_writable(s->hooks.arg, s->id);
    } else if (s->conn && s->options.stall_timeout_ms) {
      catzilla__conn_stall_deadline(s->conn, s->options.stall_timeout_ms);
    }
  }
}

static void stream__enter_backpressure_if_needed(catzilla_stream_context_t* s) {
  if (s->state != CATZILLA_STREAM_STREAMING && s->state != CATZILLA_STREAM_HEADERS_PENDING) return;
  if (s->queued_bytes < s->options.high_watermark) return;
  s->state = CATZILLA_STREAM_BACKPRESSURED;
  s->stats.backpressure_events++;
  s->server->stats.backpressure_events++;
  s->backpressure_since_ns = uv_hrtime();
  if (s->conn && s->options.stall_timeout_ms) catzilla__conn_stall_deadline(s->conn, s->options.stall_timeout_ms);
}

static void stream__fail(catzilla_stream_context_t* s);

/* The outbox's report on a unit of this stream: bytes taken, a unit over, or a file region
 * that failed (the peer's errors go to the connection instead, which closes first). */
static void stream__on_sent(void* owner, const catzilla__sent_t* r) {
  catzilla_stream_context_t* s = owner;
  s->queued_bytes -= r->payload;
  s->stats.bytes_sent += r->bytes;
  s->stats.sendfile_bytes += r->sendfile_bytes;
  if (r->latency_us >= 0) catzilla__stats_record_latency(s->server, &s->stats, (uint64_t)r->latency_us);
  if (r->unit_done) s->units_pending--;
  if (!stream__final(s) && s->conn != NULL) {
    if (r->status < 0 && r->status != UV_ECANCELED) {
      stream__fail(s); /* a file region that cannot be read: too short, EIO... */
    } else if (r->status == 0) {
      stream__progress(s, r->from_loop);
      stream__maybe_finished(s);
    }
  }
  if (r->unit_done) stream__unref(s);
}

/* A few framing bytes of their own (a file region's chunk size line and CRLF), in order. */
static int stream__write_framing(catzilla_stream_context_t* s, const char* data, size_t len) {
  uv_buf_t buf = uv_buf_init((char*)data, (unsigned)len);
  catzilla__hold_t hold = {0};
  hold.sent = stream__on_sent;
  hold.owner = s;
  size_t written = 0;
  int r = catzilla__outbox_write(&s->conn->outbox, &buf, 1, &hold, &written);
  if (r < 0) return r;
  s->stats.bytes_sent += written;
  if (r == 1) {
    s->units_pending++;
    s->refs++;
  }
  return 0;
}

/* Send everything corked (and the terminator when ending) in one write. */
static int stream__flush(catzilla_stream_context_t* s) {
  catzilla__conn_t* conn = s->conn;
  if (conn == NULL || stream__final(s)) return 0;
  bool chunked = s->framing == CATZILLA__FRAMING_CHUNKED;
  bool last = s->ending && chunked;
  if (s->head.len == 0 && s->npieces == 0 && !last) return 0;
  catzilla_server_t* server = s->server;
  uv_buf_t* iov = server->iov;
  unsigned n = 0;
  size_t total = 0;
  if (s->head.len) iov[n++] = uv_buf_init(s->head.base, (unsigned)s->head.len);
  if (chunked && s->corked_bytes) iov[n++] = uv_buf_init(s->frame, (unsigned)catzilla__chunk_size_line(s->corked_bytes, s->frame));
  for (unsigned i = 0; i < s->npieces; i++) {
    const catzilla__piece_t* p = &s->pieces[i];
    char* base = p->base ? (char*)p->base : s->cork.base + p->offset;
    if (n > 0 && iov[n - 1].base + iov[n - 1].len == base)
      iov[n - 1].len += (unsigned)p->len; /* adjacent copies: one vector */
    else
      iov[n++] = uv_buf_init(base, (unsigned)p->len);
  }
  if (chunked && s->corked_bytes)
    iov[n++] = last ? uv_buf_init((char*)catzilla__chunk_crlf_last, 7) : uv_buf_init((char*)catzilla__chunk_crlf, 2);
  else if (last)
    iov[n++] = uv_buf_init((char*)catzilla__chunk_last, 5);
  for (unsigned i = 0; i < n; i++) total += iov[i].len;

  catzilla__hold_t hold = {0};
  hold.sent = stream__on_sent;
  hold.owner = s;
  hold.payload = s->corked_bytes;
  hold.blocks[0] = s->cork.base;
  hold.block_caps[0] = s->cork.cap;
  hold.blocks[1] = s->head.base;
  hold.block_caps[1] = s->head.cap;
  hold.pieces = s->pieces;
  hold.npieces = s->npieces;
  size_t written = 0;
  int r = catzilla__outbox_write(&conn->outbox, iov, n, &hold, &written);
  /* the peer is gone (EPIPE, ECONNRESET...): the connection closed, the stream is ABORTED, and
   * the caller hears ECLOSED, as from any call after a close */
  if (r < 0) return CATZILLA_ECLOSED;
  if (s->state == CATZILLA_STREAM_HEADERS_PENDING) s->state = CATZILLA_STREAM_STREAMING;
  s->stats.writes++;
  server->stats.stream_writes++;
  server->stats.writes++;
  if (s->corked_chunks > 1) {
    s->stats.coalesced_writes++;
    server->stats.stream_coalesced_writes++;
  }
  s->stats.bytes_sent += written;
  if (last) s->ending = true;
  if (r == 0) { /* the socket took everything */
    catzilla__stats_record_latency(server, &s->stats, 0);
    stream__release_corked(s);
    if (s->head.base != NULL) catzilla__buf_free(&s->head); /* sent once: no need to keep it */
    if (last) s->framing = CATZILLA__FRAMING_NONE; /* terminator sent */
    return 0;
  }
  /* The rest is a unit of the outbox, which owns the cork and head blocks and the pieces now:
   * the stream starts new ones. */
  s->units_pending++;
  s->refs++;
  s->cork.base = NULL;
  s->cork.len = s->cork.cap = 0;
  s->head.base = NULL;
  s->head.len = s->head.cap = 0;
  s->npieces = 0;
  s->corked_chunks = 0;
  s->corked_bytes = 0;
  stream__lend_back(s); /* the pieces array: the unit copied the releases it needs */
  if (last) s->framing = CATZILLA__FRAMING_NONE;
  return 0;
}

/* ---- public API ---- */

catzilla_stream_context_t* catzilla_stream_of(catzilla_server_t* server, catzilla_request_id_t id) {
  catzilla__conn_t* conn = catzilla__conn_for_id(server, id);
  return conn ? conn->stream : NULL;
}

int catzilla_stream_start(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_stream_options_t* o,
                          const catzilla_stream_hooks_t* hooks, catzilla_stream_context_t** out) {
  catzilla__conn_t* conn = catzilla__conn_for_id(server, id);
  if (conn == NULL || conn->response_done || conn->state != CATZILLA__CONN_ACTIVE) return CATZILLA_ECLOSED;
  if (conn->stream != NULL) return CATZILLA_ESTREAMING;
  bool upgrade = (o->flags & CATZILLA__STREAM_UPGRADE) != 0;
  if (upgrade ? o->status != 101 : (o->status < 200 || o->status > 999)) return UV_EINVAL;
  if (upgrade && !conn->upgrade) return CATZILLA_ESTATE;
  catzilla_stream_context_t* s = catzilla__pool_get(&server->stream_pool);
  if (s == NULL) return UV_ENOMEM;
  memset(s, 0, sizeof(*s));
  s->server = server;
  s->conn = conn;
  if (hooks != NULL) s->hooks = *hooks;
  s->id = id;
  s->options = *o;
  catzilla_stream_options_normalize(&s->options);
  s->refs = 1;
  s->state = CATZILLA_STREAM_HEADERS_PENDING;
  catzilla__sweep_note(&server->sweep, s->options.stall_timeout_ms, server->listening && !server->closed);
  s->stats.started_at_ms = catzilla__wall_ms();
  s->started_loop_ms = catzilla__now(server);

  bool no_body = o->status == 204 || o->status == 304;
  char framing[48];
  size_t framing_len = 0;
  if (upgrade) {
    /* 101 Switching Protocols: the bytes after the head are the new protocol's, unframed */
    s->framing = CATZILLA__FRAMING_CLOSE;
  } else if (o->content_length >= 0) {
    s->framing = CATZILLA__FRAMING_LENGTH;
    s->declared_length = (uint64_t)o->content_length;
    if (!no_body) framing_len = (size_t)snprintf(framing, sizeof(framing), "Content-Length: %llu\r\n",
                                                 (unsigned long long)o->content_length);
  } else if (conn->http10) {
    s->framing = CATZILLA__FRAMING_CLOSE; /* the body ends when the connection does */
  } else {
    s->framing = CATZILLA__FRAMING_CHUNKED;
    if (!no_body) framing_len = (size_t)snprintf(framing, sizeof(framing), "Transfer-Encoding: chunked\r\n");
  }
  if (conn->is_head || no_body) s->framing = CATZILLA__FRAMING_NONE;
  /* an upgrade's head carries the caller's Connection: Upgrade instead of close */
  bool close = !upgrade && (!conn->keep_alive || server->closing || conn->upgrade || s->framing == CATZILLA__FRAMING_CLOSE);
  int err = catzilla__response_head(server, conn, o->status, o->headers, o->headers_len, framing, framing_len,
                                    close, &s->head);
  if (err) {
    catzilla__buf_free(&s->head);
    catzilla__pool_put(&server->stream_pool, s);
    return err;
  }
  catzilla__conn_attach_stream(conn, s, close || upgrade);
  catzilla__stats_count_status(server, o->status);
  server->stats.streams_started++;
  server->stats.streams_active++;
  if (o->flags & CATZILLA_STREAM_FLUSH_HEADERS) stream__schedule_flush(s);
  if (out) *out = s;
  return 0;
}

int catzilla_stream_write(catzilla_stream_context_t* s, const char* data, size_t len,
                          catzilla_release_cb release, void* release_arg) {
  if (s->conn == NULL || stream__final(s) || s->ending) {
    if (release) release(release_arg);
    return CATZILLA_ECLOSED;
  }
  if (len == 0) {
    if (release) release(release_arg);
    return s->state == CATZILLA_STREAM_BACKPRESSURED ? 0 : 1;
  }
  if (len > UINT32_MAX) { /* a uv_buf_t holds 32-bit lengths: write it in parts */
    if (release) release(release_arg);
    return CATZILLA_ETOOLARGE;
  }
  catzilla_server_t* server = s->server;
  if (s->framing == CATZILLA__FRAMING_LENGTH && s->stats.bytes + len > s->declared_length) {
    if (release) release(release_arg);
    catzilla_stream_abort(s);
    return CATZILLA_ELENGTH;
  }
  s->stats.bytes += len;
  s->stats.chunks++;
  s->stats.last_write_at_ms = s->stats.started_at_ms + (catzilla__now(server) - s->started_loop_ms);
  server->stats.stream_bytes += len;
  server->stats.stream_chunks++;
  if (s->framing == CATZILLA__FRAMING_NONE) { /* HEAD / 204 / 304: accepted, never sent */
    if (release) release(release_arg);
    return 1;
  }
  bool reference = release != NULL && len >= CATZILLA_REFERENCE_THRESHOLD;
  catzilla__piece_t* prev = s->npieces ? &s->pieces[s->npieces - 1] : NULL;
  if (!reference && prev != NULL && prev->base == NULL) {
    /* small copies accumulate in one piece */
    if (stream__cork_append(s, data, len) != 0) {
      if (release) release(release_arg);
      return UV_ENOMEM;
    }
    if (release) release(release_arg);
    prev->len += len;
    goto queued;
  }
  if (s->npieces == CATZILLA__STREAM_MAX_PIECES) stream__flush(s);
  if (s->conn == NULL) {
    if (release) release(release_arg);
    return CATZILLA_ECLOSED;
  }
  if (!stream__take_pieces(s)) {
    if (release) release(release_arg);
    return UV_ENOMEM;
  }
  catzilla__piece_t* p = &s->pieces[s->npieces];
  if (reference) {
    p->base = data;
    p->offset = 0;
    p->release = release;
    p->release_arg = release_arg;
  } else {
    if (stream__cork_append(s, data, len) != 0) {
      if (release) release(release_arg);
      return UV_ENOMEM;
    }
    if (release) release(release_arg);
    p->base = NULL;
    p->offset = s->cork.len - len;
    p->release = NULL;
    p->release_arg = NULL;
  }
  p->len = len;
  s->npieces++;
queued:
  s->corked_chunks++;
  s->corked_bytes += len;
  s->queued_bytes += len;
  if (s->queued_bytes > s->stats.peak_queued_bytes) s->stats.peak_queued_bytes = s->queued_bytes;
  if (s->queued_bytes > server->stats.peak_queued_bytes) server->stats.peak_queued_bytes = s->queued_bytes;
  if (s->corked_bytes >= s->options.cork_threshold || s->queued_bytes >= s->options.high_watermark) {
    int err = stream__flush(s);
    if (err) return err;
  } else {
    stream__schedule_flush(s);
  }
  stream__enter_backpressure_if_needed(s);
  return s->state == CATZILLA_STREAM_BACKPRESSURED ? 0 : 1;
}

int catzilla_stream_flush(catzilla_stream_context_t* s) {
  if (s->conn == NULL || stream__final(s)) return CATZILLA_ECLOSED;
  int err = stream__flush(s);
  if (err == 0 && !stream__final(s)) stream__enter_backpressure_if_needed(s);
  return err;
}

int catzilla_stream_end(catzilla_stream_context_t* s) {
  if (s->conn == NULL || stream__final(s)) return CATZILLA_ECLOSED;
  if (s->ending) return 0;
  if (s->framing == CATZILLA__FRAMING_LENGTH && s->stats.bytes != s->declared_length) {
    catzilla_stream_abort(s);
    return CATZILLA_ELENGTH;
  }
  if (s->state == CATZILLA_STREAM_BACKPRESSURED) stream__leave_backpressure(s);
  s->ending = true;
  s->state = CATZILLA_STREAM_FINISHING;
  int err = stream__flush(s);
  if (err) return err;
  if (stream__final(s)) return 0; /* the flush failed: on_end reports it */
  /* everything went to the kernel now: finished (the connection moves on at once); the producer
   * hears it from on_end, as when the last bytes leave later from the loop */
  stream__maybe_finished(s);
  return 0;
}

int catzilla_stream_abort(catzilla_stream_context_t* s) { return catzilla_stream_abort_as(s, CATZILLA_STREAM_ERRORED); }

int catzilla_stream_abort_as(catzilla_stream_context_t* s, catzilla_stream_state_t state) {
  if (state != CATZILLA_STREAM_ERRORED && state != CATZILLA_STREAM_CLOSED && state != CATZILLA_STREAM_SHED)
    return UV_EINVAL;
  catzilla__conn_t* conn = s->conn;
  if (conn == NULL || stream__final(s)) return CATZILLA_ECLOSED;
  s->ending = false;
  /* A started stream has committed its head, even while it still waits in the cork: the
   * producer made chunks (or asked for the headers), so the status it chose is the one on the
   * wire, and what it wrote (an error record, say) still goes out, without a terminator. An
   * error before any chunk never starts a stream: the layer above answers it instead. */
  bool close_delimited = s->framing == CATZILLA__FRAMING_CLOSE;
  stream__flush(s);
  if (s->conn == NULL || stream__final(s)) return 0; /* the flush failed and closed the connection */
  stream__release_corked(s);
  catzilla__conn_response_cut(conn);
  stream__end_state(s, state);
  /* a close-delimited body cannot show failure by truncation: reset the connection */
  if (close_delimited) catzilla__conn_reset(conn);
  else catzilla__conn_close_after_writes(conn);
  return 0;
}

/* A failure of the server side mid-body (file truncated, sendfile error): the client sees
 * a truncated body and a closed connection; JavaScript hears of it through on_stream_end. */
static void stream__fail(catzilla_stream_context_t* s) {
  catzilla__conn_t* conn = s->conn;
  if (conn == NULL || stream__final(s)) return;
  stream__release_corked(s);
  catzilla__conn_response_cut(conn);
  stream__end_state(s, CATZILLA_STREAM_ERRORED);
  catzilla__conn_close(conn, CATZILLA_ABORT_CONNECTION_ERROR);
}

int catzilla_stream_write_file(catzilla_stream_context_t* s, int fd, uint64_t offset, uint64_t length, unsigned flags) {
  bool close_fd = (flags & CATZILLA_FILE_CLOSE) != 0;
  if (s->conn == NULL || stream__final(s) || s->ending) {
    if (close_fd) close(fd);
    return CATZILLA_ECLOSED;
  }
#ifndef __linux__
  if (close_fd) close(fd);
  return UV_ENOSYS;
#endif
  if (s->framing == CATZILLA__FRAMING_LENGTH && s->stats.bytes + length > s->declared_length) {
    if (close_fd) close(fd);
    catzilla_stream_abort(s);
    return CATZILLA_ELENGTH;
  }
  catzilla_server_t* server = s->server;
  s->stats.bytes += length;
  s->stats.chunks++;
  server->stats.stream_bytes += length;
  server->stats.stream_chunks++;
  if (s->framing == CATZILLA__FRAMING_NONE || length == 0) {
    if (close_fd) close(fd);
    return s->state == CATZILLA_STREAM_BACKPRESSURED ? 0 : 1;
  }
  bool chunked = s->framing == CATZILLA__FRAMING_CHUNKED;
  /* what was written before goes first (as its own chunk), with the head if still pending */
  stream__flush(s);
  if (s->conn == NULL || stream__final(s)) {
    if (close_fd) close(fd);
    return CATZILLA_ECLOSED;
  }
  if (chunked) {
    char line[24];
    if (stream__write_framing(s, line, catzilla__chunk_size_line((size_t)length, line)) != 0) {
      if (close_fd) close(fd);
      return CATZILLA_ECLOSED;
    }
  }
  s->queued_bytes += (size_t)length;
  if (s->queued_bytes > s->stats.peak_queued_bytes) s->stats.peak_queued_bytes = s->queued_bytes;
  if (s->state == CATZILLA_STREAM_HEADERS_PENDING) s->state = CATZILLA_STREAM_STREAMING;
  /* the unit's reference, taken first: a region sent at once reports (and ends) inside the call */
  s->units_pending++;
  s->refs++;
  int err = catzilla__outbox_file(&s->conn->outbox, fd, offset, length, close_fd, stream__on_sent, s);
  if (err) {
    s->units_pending--;
    s->queued_bytes -= (size_t)length;
    stream__unref(s); /* never the last reference: the connection holds one */
    return err;
  }
  if (s->conn == NULL || stream__final(s)) return CATZILLA_ECLOSED;
  if (chunked && stream__write_framing(s, catzilla__chunk_crlf, 2) != 0) return CATZILLA_ECLOSED;
  stream__enter_backpressure_if_needed(s);
  return s->state == CATZILLA_STREAM_BACKPRESSURED ? 0 : 1;
}

void catzilla__stream_conn_closed(catzilla_stream_context_t* s) {
  if (stream__final(s)) return;
  stream__release_corked(s);
  stream__end_state(s, CATZILLA_STREAM_ABORTED);
}

void catzilla_stream_get_stats(const catzilla_stream_context_t* s, catzilla_stream_stats_t* out) {
  *out = s->stats;
  out->state = (uint64_t)s->state;
  out->queued_bytes = s->queued_bytes;
}

size_t catzilla_server_each_stream(catzilla_server_t* server,
                                   void (*visit)(catzilla_request_id_t id, const catzilla_stream_stats_t* stats,
                                                 const struct sockaddr_storage* peer, void* arg),
                                   void* arg) {
  size_t n = 0;
  for (catzilla__conn_t* conn = server->conns; conn != NULL; conn = conn->next) {
    catzilla_stream_context_t* s = conn->stream;
    if (s == NULL || stream__final(s)) continue;
    catzilla_stream_stats_t st;
    catzilla_stream_get_stats(s, &st);
    struct sockaddr_storage peer;
    int len = sizeof(peer);
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr*)&peer, &len) != 0) memset(&peer, 0, sizeof(peer));
    visit(s->id, &st, &peer, arg);
    n++;
  }
  return n;
}

