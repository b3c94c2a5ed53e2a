/*
 * Writes that own their memory until libuv's callback. A write is first tried at once
 * (uv_try_write); only what the socket did not take is copied into one heap request
 * (or, for a buffer the caller lets us keep, referenced until the callback releases it).
 * Nothing handed to libuv ever lives on the stack.
 */
#include "internal.h"
#include <stdlib.h>

#define WRITE__MAX_BUFS 8

typedef struct {
  uv_write_t req;
  catzilla__conn_t* conn;
  catzilla_release_cb release;
  void* release_arg;
  size_t nbytes;
  unsigned nbufs;
  uv_buf_t bufs[WRITE__MAX_BUFS];
  char data[];
} write__req_t;

static void write__on_done(uv_write_t* req, int status) {
  write__req_t* w = CATZILLA__CONTAINER_OF(req, write__req_t, req);
  catzilla__conn_t* conn = w->conn;
  conn->writes_pending--;
  if (status == 0) conn->server->stats.bytes_written += w->nbytes;
  if (w->release) w->release(w->release_arg);
  free(w);
  if (status < 0) {
    catzilla__conn_close(conn, CATZILLA_ABORT_CONNECTION_ERROR);
    return;
  }
  catzilla__conn_after_writes(conn);
}

int catzilla__conn_write(catzilla__conn_t* conn, const uv_buf_t* bufs, unsigned nbufs,
                         unsigned retained_index, catzilla_release_cb release, void* release_arg) {
  catzilla_server_t* server = conn->server;
  size_t total = 0;
  for (unsigned i = 0; i < nbufs; i++) total += bufs[i].len;
  if (nbufs > WRITE__MAX_BUFS / 2 || conn->state == CATZILLA__CONN_CLOSING) {
    if (release) release(release_arg);
    return conn->state == CATZILLA__CONN_CLOSING ? CATZILLA_ECLOSED : UV_EINVAL;
  }
  server->stats.writes++;
  size_t written = 0;
  if (conn->writes_pending == 0) {
    int r = uv_try_write((uv_stream_t*)&conn->tcp, bufs, nbufs);
    if (r >= 0) {
      written = (size_t)r;
    } else if (r != UV_EAGAIN && r != UV_ENOSYS) {
      if (release) release(release_arg);
      return r;
    }
  }
  server->stats.bytes_written += written;
  if (written == total) {
    if (release) release(release_arg);
    return 0;
  }

  /* Keep what is left: copy it, except the buffer the caller lets us reference. */
  size_t copy = 0, skip = written;
  for (unsigned i = 0; i < nbufs; i++) {
    size_t len = bufs[i].len, off = skip < len ? skip : len;
    skip -= off;
    if (!(release && i == retained_index)) copy += len - off;
  }
  write__req_t* w = malloc(sizeof(*w) + copy);
  if (w == NULL) {
    if (release) release(release_arg);
    return UV_ENOMEM;
  }
  w->conn = conn;
  w->release = NULL;
  w->release_arg = NULL;
  w->nbytes = total - written;
  w->nbufs = 0;
  char* dst = w->data;
  skip = written;
  for (unsigned i = 0; i < nbufs; i++) {
    size_t len = bufs[i].len, off = skip < len ? skip : len;
    skip -= off;
    if (off == len) continue;
    if (release && i == retained_index) {
      w->bufs[w->nbufs++] = uv_buf_init(bufs[i].base + off, (unsigned)(len - off));
      w->release = release;
      w->release_arg = release_arg;
    } else {
      memcpy(dst, bufs[i].base + off, len - off);
      if (w->nbufs > 0 && w->bufs[w->nbufs - 1].base + w->bufs[w->nbufs - 1].len == dst)
        w->bufs[w->nbufs - 1].len += (unsigned)(len - off);
      else
        w->bufs[w->nbufs++] = uv_buf_init(dst, (unsigned)(len - off));
      dst += len - off;
    }
  }
  if (release && w->release == NULL) release(release_arg); /* the kept buffer was fully sent */
  int err = uv_write(&w->req, (uv_stream_t*)&conn->tcp, w->bufs, w->nbufs, write__on_done);
  if (err) {
    if (w->release) w->release(w->release_arg);
    free(w);
    return err;
  }
  conn->writes_pending++;
  return 0;
}
