/* The server over real sockets on a libuv loop: exact response bytes for keep-alive,
 * pipelining, HTTP/1.0, bodies and the error answers; then a close that frees everything
 * (LeakSanitizer checks at exit). */
#include "internal.h"
#include "test.h"

static catzilla_server_t* server;
static uv_loop_t* loop;
static char body_seen[256];
static size_t body_len;

static void on_request(catzilla_server_t* s, catzilla_request_id_t id, const catzilla_request_info_t* info) {
  body_len = 0;
  bool early = info->url_len == 6 && memcmp(info->url, "/early", 6) == 0;
  if ((info->flags & CATZILLA_REQ_HAS_BODY) && !early) return; /* answered at the end of the body */
  catzilla_response_t r = {200, "X-Case: Kept\r\n", 14, "hello", 5, 0, NULL, NULL};
  CHECK_INT(catzilla_respond(s, id, &r), 0);
  CHECK_INT(catzilla_respond(s, id, &r), CATZILLA_ECLOSED); /* twice: a clear error */
}
static void on_body(catzilla_server_t* s, catzilla_request_id_t id, const char* data, size_t len) {
  if (body_len + len < sizeof(body_seen)) memcpy(body_seen + body_len, data, len), body_len += len;
}
static void on_body_end(catzilla_server_t* s, catzilla_request_id_t id) {
  if (body_len == 0) return;
  catzilla_response_t r = {201, "", 0, body_seen, body_len, 0, NULL, NULL};
  CHECK_INT(catzilla_respond(s, id, &r), 0);
}
static void on_abort(catzilla_server_t* s, catzilla_request_id_t id, catzilla_abort_reason_t reason) {}

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  uv_timer_t timer;
  const char* request;
  char response[8192];
  size_t len;
  int done;
} client_t;

static void client_closed(uv_handle_t* h) { ((client_t*)h->data)->done++; }
static void client_finish(client_t* c) {
  if (!uv_is_closing((uv_handle_t*)&c->tcp)) uv_close((uv_handle_t*)&c->tcp, client_closed);
  if (!uv_is_closing((uv_handle_t*)&c->timer)) uv_close((uv_handle_t*)&c->timer, client_closed);
}
static void client_alloc(uv_handle_t* h, size_t n, uv_buf_t* buf) {
  client_t* c = h->data;
  *buf = uv_buf_init(c->response + c->len, (unsigned)(sizeof(c->response) - 1 - c->len));
}
static void client_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  client_t* c = s->data;
  if (n > 0) c->len += (size_t)n;
  if (n < 0) client_finish(c);
}
static void client_written(uv_write_t* w, int status) {}
static void client_connected(uv_connect_t* req, int status) {
  client_t* c = req->data;
  CHECK_INT(status, 0);
  uv_buf_t buf = uv_buf_init((char*)c->request, (unsigned)strlen(c->request));
  uv_write(&c->write, (uv_stream_t*)&c->tcp, &buf, 1, client_written);
  uv_read_start((uv_stream_t*)&c->tcp, client_alloc, client_read);
}
static void client_timeout(uv_timer_t* t) { client_finish(t->data); }

/* Send `request`, read until the server closes (or 3 s), return the bytes. */
static const char* exchange(int port, const char* request) {
  static client_t c;
  memset(&c, 0, sizeof(c));
  c.request = request;
  uv_tcp_init(loop, &c.tcp);
  uv_timer_init(loop, &c.timer);
  c.tcp.data = c.timer.data = c.connect.data = &c;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  uv_tcp_connect(&c.connect, &c.tcp, (const struct sockaddr*)&addr, client_connected);
  uv_timer_start(&c.timer, client_timeout, 3000, 0);
  while (c.done < 2) uv_run(loop, UV_RUN_ONCE);
  c.response[c.len] = 0;
  /* blank the Date values so that responses compare exactly */
  for (char* d = strstr(c.response, "Date: "); d; d = strstr(d + 1, "Date: ")) memset(d + 6, '*', 29);
  return c.response;
}

#define DATE "Date: *****************************\r\n"
#define HELLO "HTTP/1.1 200 OK\r\nX-Case: Kept\r\n" DATE "Content-Length: 5\r\n"

static void server_closed(catzilla_server_t* s, void* arg) { *(int*)arg = 1; }

int main(void) {
  loop = uv_default_loop();
  catzilla_server_options_t opt;
  catzilla_server_options_default(&opt);
  opt.max_body_size = 100;
  opt.max_url_length = 64;
  opt.max_header_size = 512;
  catzilla_server_callbacks_t cb = {on_request, on_body, on_body_end, on_abort, NULL, NULL};
  CHECK_INT(catzilla_server_new(loop, &opt, &cb, NULL, &server), 0);
  struct sockaddr_storage bound;
  CHECK_INT(catzilla_server_listen(server, "127.0.0.1", 0, 128, &bound), 0);
  int port = ntohs(((struct sockaddr_in*)&bound)->sin_port);

  CHECK_STR(exchange(port, "GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.0\r\n\r\n"),
            HELLO "\r\nhello" HELLO "\r\n" HELLO "Connection: close\r\n\r\nhello");
  CHECK_STR(exchange(port, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            HELLO "Connection: keep-alive\r\n\r\nhello" HELLO "Connection: close\r\n\r\nhello");
  CHECK_STR(exchange(port, "POST /e HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "2\r\nxy\r\n1\r\nz\r\n0\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 201 Created\r\n" DATE "Content-Length: 3\r\n\r\nabc"
            "HTTP/1.1 201 Created\r\n" DATE "Content-Length: 3\r\n\r\nxyz" HELLO "Connection: close\r\n\r\nhello");
  CHECK_STR(exchange(port, "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.0\r\n\r\n"),
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n" DATE "Content-Length: 2\r\n\r\nhi" HELLO "Connection: close\r\n\r\nhello");

  /* answered before the body was read: the body is discarded, the connection stays usable */
  CHECK_STR(exchange(port, "POST /early HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.0\r\n\r\n"),
            HELLO "\r\nhello" HELLO "Connection: close\r\n\r\nhello");

#define ERR(code, reason) "HTTP/1.1 " #code " " reason "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
  CHECK(strncmp(exchange(port, "GARBAGE\r\n\r\n"), ERR(400, "Bad Request"), strlen(ERR(400, "Bad Request"))) == 0);
  CHECK(strncmp(exchange(port, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n"), ERR(413, "Content Too Large"), 20) == 0);
  CHECK(strncmp(exchange(port, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n70\r\n"), ERR(413, "Content Too Large"), 20) == 0);
  CHECK(strncmp(exchange(port, "POST / HTTP/1.1\r\nTransfer-Encoding: foo\r\n\r\n"), ERR(501, "Not Implemented"), 20) == 0);
  CHECK(strncmp(exchange(port, "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange(port, "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange(port, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange(port, "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n"), ERR(414, "URI Too Long"), 20) == 0);
  CHECK(strncmp(exchange(port, "GET / HTTP/2.0\r\n\r\n"), "HTTP/1.1 505 ", 13) == 0);
  {
    static char big[1200];
    strcpy(big, "GET / HTTP/1.1\r\nX: ");
    memset(big + strlen(big), 'a', 600);
    strcat(big, "\r\n\r\n");
    CHECK(strncmp(exchange(port, big), ERR(431, "Request Header Fields Too Large"), 20) == 0);
  }
  CHECK(strncmp(exchange(port, "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK_STR(exchange(port, "GET / HTTP/1.0\r\n\r\n"), HELLO "Connection: close\r\n\r\nhello"); /* still serving */

  catzilla_server_stats_t st;
  catzilla_server_stats(server, &st);
  CHECK(st.requests >= 10);
  CHECK(st.parse_errors >= 10);
  CHECK_INT(st.connections_accepted, 17);

  int closed = 0;
  CHECK_INT(catzilla_server_close(server, 1000, server_closed, &closed), 0);
  while (!closed) uv_run(loop, UV_RUN_ONCE);
  catzilla_server_free(server);
  CHECK_INT(uv_run(loop, UV_RUN_NOWAIT), 0); /* nothing left on the loop */
  CHECK_INT(uv_loop_close(loop), 0);
  TEST_END();
}
