/* A libuv test client for the core's socket tests: sends a request, reads until the
 * server closes (optionally pausing like a slow reader, or leaving early), with a 10 s
 * bound; and a strict de-chunker. */
#ifndef CATZILLA_TEST_CLIENT_H
#define CATZILLA_TEST_CLIENT_H
#include "internal.h"

static uv_loop_t* loop;

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  uv_timer_t timer;
  const char* request;
  char* data;
  size_t len, cap, leave_after, pause_every, next_pause;
  int done;
} client_t;

static inline void client_closed(uv_handle_t* h) { ((client_t*)h->data)->done++; }
static inline void client_finish(client_t* c) {
  if (!uv_is_closing((uv_handle_t*)&c->tcp)) uv_close((uv_handle_t*)&c->tcp, client_closed);
  if (!uv_is_closing((uv_handle_t*)&c->timer)) uv_close((uv_handle_t*)&c->timer, client_closed);
}
static inline void client_alloc(uv_handle_t* h, size_t n, uv_buf_t* buf) {
  client_t* c = h->data;
  if (c->cap - c->len < 65536) {
    c->cap = c->cap ? c->cap * 2 : 1 << 20;
    c->data = realloc(c->data, c->cap);
  }
  *buf = uv_buf_init(c->data + c->len, (unsigned)(c->cap - c->len));
}
static inline void client_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
static inline void client_resume(uv_timer_t* t) {
  client_t* c = t->data;
  uv_read_start((uv_stream_t*)&c->tcp, client_alloc, client_read);
  uv_timer_start(&c->timer, (uv_timer_cb)client_finish, 10000, 0);
}
static inline void client_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  client_t* c = s->data;
  if (n < 0) {
    client_finish(c);
    return;
  }
  c->len += (size_t)n;
  if (c->leave_after && c->len >= c->leave_after) {
    client_finish(c);
  } else if (c->pause_every && c->len >= c->next_pause) {
    c->next_pause = c->len + c->pause_every; /* a slow reader: stop for a while */
    uv_read_stop(s);
    uv_timer_start(&c->timer, client_resume, 20, 0);
  }
}
static inline void client_written(uv_write_t* w, int status) {}
static inline void client_connected(uv_connect_t* req, int status) {
  client_t* c = req->data;
  uv_buf_t buf = uv_buf_init((char*)c->request, (unsigned)strlen(c->request));
  uv_write(&c->write, (uv_stream_t*)&c->tcp, &buf, 1, client_written);
  uv_read_start((uv_stream_t*)&c->tcp, client_alloc, client_read);
}

static inline client_t* exchange(int port, const char* request, size_t leave_after, size_t pause_every) {
  client_t* c = calloc(1, sizeof(*c));
  c->request = request;
  c->leave_after = leave_after;
  c->pause_every = c->next_pause = pause_every;
  uv_tcp_init(loop, &c->tcp);
  uv_timer_init(loop, &c->timer);
  c->tcp.data = c->timer.data = c->connect.data = c;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr*)&addr, client_connected);
  uv_timer_start(&c->timer, (uv_timer_cb)client_finish, 10000, 0);
  while (c->done < 2) uv_run(loop, UV_RUN_ONCE);
  return c;
}
static inline void client_free(client_t* c) {
  free(c->data);
  free(c);
}

/* De-chunk the body after the head; returns the body length, -1 on bad framing, and
 * counts the chunks. Requires the terminating chunk. */
static inline long dechunk(const char* in, size_t len, char* out, int* chunks) {
  const char* p = strstr(in, "\r\n\r\n");
  if (!p) return -1;
  p += 4;
  const char* end = in + len;
  long total = 0;
  *chunks = 0;
  for (;;) {
    char* e;
    unsigned long n = strtoul(p, &e, 16);
    if (e == p || e + 2 > end || e[0] != '\r' || e[1] != '\n') return -1;
    p = e + 2;
    if (n == 0) return (p + 2 == end && p[0] == '\r' && p[1] == '\n') ? total : -1;
    if (p + n + 2 > end || p[n] != '\r' || p[n + 1] != '\n') return -1;
    memcpy(out + total, p, n);
    total += (long)n;
    p += n + 2;
    (*chunks)++;
  }
}

/* Start `server` on 127.0.0.1, any port; returns the port. */
static inline int start_server(catzilla_server_t** server, const catzilla_server_options_t* opt,
                        const catzilla_server_callbacks_t* cb) {
  if (catzilla_server_new(loop, opt, cb, NULL, server) != 0) return -1;
  struct sockaddr_storage bound;
  if (catzilla_server_listen(*server, "127.0.0.1", 0, 128, 0, &bound) != 0) return -1;
  return ntohs(((struct sockaddr_in*)&bound)->sin_port);
}

static inline void server_closed_flag(catzilla_server_t* s, void* arg) { *(int*)arg = 1; }

/* Close `server` gracefully, run the loop until it is closed, free it; 0 when nothing is left on the loop. */
static inline int stop_server(catzilla_server_t* server) {
  int closed = 0;
  if (catzilla_server_close(server, 1000, server_closed_flag, &closed) != 0) return -1;
  while (!closed) uv_run(loop, UV_RUN_ONCE);
  catzilla_server_free(server);
  return uv_run(loop, UV_RUN_NOWAIT);
}

#endif
