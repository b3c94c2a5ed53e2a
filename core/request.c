/*
 * The request-level calls of the public API, by request id: a whole response
 * (catzilla_respond), flow control of the request body, and the peer's address.
 */
#include "internal.h"

int catzilla_respond(catzilla_server_t* s, catzilla_request_id_t id, const catzilla_response_t* r) {
  catzilla__conn_t* conn = catzilla__conn_for_id(s, id);
  if (conn == NULL || conn->response_done || conn->state != CATZILLA__CONN_ACTIVE) {
    if (r->release) r->release(r->release_arg);
    return CATZILLA_ECLOSED;
  }
  if (conn->stream != NULL) {
    if (r->release) r->release(r->release_arg);
    return CATZILLA_ESTREAMING;
  }
  if (r->body_len > UINT32_MAX || r->headers_len > UINT32_MAX) { /* a uv_buf_t holds 32-bit lengths */
    if (r->release) r->release(r->release_arg);
    return CATZILLA_ETOOLARGE;
  }
  if (r->status < 200 || r->status > 999) {
    if (r->release) r->release(r->release_arg);
    return UV_EINVAL;
  }
  bool close = (r->flags & CATZILLA_RESP_CLOSE) || !conn->keep_alive || s->closing || conn->upgrade;
  bool send_body = !conn->is_head && !(r->flags & CATZILLA_RESP_NO_CONTENT_LENGTH);
  bool inline_body = send_body && (r->release == NULL || r->body_len <= 16 * 1024);
  s->out.len = 0;
  int err = catzilla__response_serialize(s, conn, r, close, inline_body, &s->out);
  if (err) {
    if (r->release) r->release(r->release_arg);
    return err;
  }
  catzilla__stats_count_status(s, r->status);
  /* the response has ended for the caller: a write error below closes without an abort */
  catzilla__conn_response_taken(conn, close);
  uv_buf_t bufs[2];
  bufs[0] = uv_buf_init(s->out.base, (unsigned)s->out.len);
  unsigned nbufs = 1;
  if (send_body && !inline_body) bufs[nbufs++] = uv_buf_init((char*)r->body, (unsigned)r->body_len);
  catzilla_release_cb release = r->release;
  if (release && nbufs == 1) {
    release(r->release_arg);
    release = NULL;
  }
  err = catzilla__outbox_send(&conn->outbox, bufs, nbufs, 1, release, r->release_arg);
  if (err == 0) catzilla__conn_response_done(conn); /* else the connection is closing */
  return 0;
}

int catzilla_body_pause(catzilla_server_t* s, catzilla_request_id_t id) {
  catzilla__conn_t* conn = catzilla__conn_for_id(s, id);
  if (conn == NULL) return CATZILLA_ECLOSED;
  catzilla__conn_pause_body(conn);
  return 0;
}

int catzilla_body_resume(catzilla_server_t* s, catzilla_request_id_t id) {
  catzilla__conn_t* conn = catzilla__conn_for_id(s, id);
  if (conn == NULL) return CATZILLA_ECLOSED;
  catzilla__conn_resume_body(conn);
  return 0;
}

int catzilla_remote_address(catzilla_server_t* s, catzilla_request_id_t id, struct sockaddr_storage* addr) {
  catzilla__conn_t* conn = catzilla__conn_for_id(s, id);
  if (conn == NULL) return CATZILLA_ECLOSED;
  int len = sizeof(*addr);
  return uv_tcp_getpeername(&conn->tcp, (struct sockaddr*)addr, &len);
}

