/* The server over real sockets on a libuv loop: exact response bytes for keep-alive,
 * pipelining, HTTP/1.0, bodies and the error answers; then a close that frees everything
 * (LeakSanitizer checks at exit). */
#include "internal.h"
#include "test.h"
#include "test_client.h"

static catzilla_server_t* server;
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

/* Send `request`, read until the server closes, return the bytes with Date values blanked
 * so that responses compare exactly. */
static const char* exchange_text(int port, const char* request) {
  static char text[8192];
  client_t* c = exchange(port, request, 0, 0);
  size_t n = c->len < sizeof(text) - 1 ? c->len : sizeof(text) - 1;
  memcpy(text, c->data, n);
  text[n] = 0;
  client_free(c);
  for (char* d = strstr(text, "Date: "); d; d = strstr(d + 1, "Date: ")) memset(d + 6, '*', 29);
  return text;
}

#define DATE "Date: *****************************\r\n"
#define HELLO "HTTP/1.1 200 OK\r\nX-Case: Kept\r\n" DATE "Content-Length: 5\r\n"


int main(void) {
  loop = uv_default_loop();
  catzilla_server_options_t opt;
  catzilla_server_options_default(&opt);
  opt.max_body_size = 100;
  opt.max_url_length = 64;
  opt.max_header_size = 512;
  catzilla_server_callbacks_t cb = {on_request, on_body, on_body_end, on_abort, NULL, NULL, NULL};
  int port = start_server(&server, &opt, &cb);
  CHECK(port > 0);

  CHECK_STR(exchange_text(port, "GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.0\r\n\r\n"),
            HELLO "\r\nhello" HELLO "\r\n" HELLO "Connection: close\r\n\r\nhello");
  CHECK_STR(exchange_text(port, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
            HELLO "Connection: keep-alive\r\n\r\nhello" HELLO "Connection: close\r\n\r\nhello");
  CHECK_STR(exchange_text(port, "POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcPOST /e HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "2\r\nxy\r\n1\r\nz\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 201 Created\r\n" DATE "Content-Length: 3\r\n\r\nabc"
            "HTTP/1.1 201 Created\r\n" DATE "Content-Length: 3\r\n\r\nxyz" HELLO "Connection: close\r\n\r\nhello");
  CHECK_STR(exchange_text(port, "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.0\r\n\r\n"),
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n" DATE "Content-Length: 2\r\n\r\nhi" HELLO "Connection: close\r\n\r\nhello");

  /* answered before the body was read: the body is discarded, the connection stays usable */
  CHECK_STR(exchange_text(port, "POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.0\r\n\r\n"),
            HELLO "\r\nhello" HELLO "Connection: close\r\n\r\nhello");

#define ERR(code, reason) "HTTP/1.1 " #code " " reason "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
  CHECK(strncmp(exchange_text(port, "GARBAGE\r\n\r\n"), ERR(400, "Bad Request"), strlen(ERR(400, "Bad Request"))) == 0);
  CHECK(strncmp(exchange_text(port, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n"), ERR(413, "Content Too Large"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n70\r\n"), ERR(413, "Content Too Large"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: foo\r\n\r\n"), ERR(501, "Not Implemented"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: t\r\n\r\n"), ERR(414, "URI Too Long"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "GET / HTTP/2.0\r\n\r\n"), "HTTP/1.1 505 ", 13) == 0);
  {
    static char big[1200];
    strcpy(big, "GET / HTTP/1.1\r\nHost: t\r\nX: ");
    memset(big + strlen(big), 'a', 600);
    strcat(big, "\r\n\r\n");
    CHECK(strncmp(exchange_text(port, big), ERR(431, "Request Header Fields Too Large"), 20) == 0);
  }
  CHECK(strncmp(exchange_text(port, "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  /* Host (RFC 9112 3.2): required on HTTP/1.1, once, a valid authority; optional on HTTP/1.0 */
  CHECK(strncmp(exchange_text(port, "GET / HTTP/1.1\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK(strncmp(exchange_text(port, "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), ERR(400, "Bad Request"), 20) == 0);
  CHECK_STR(exchange_text(port, "GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n"), HELLO "Connection: close\r\n\r\nhello");
  CHECK_STR(exchange_text(port, "GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n"), HELLO "Connection: close\r\n\r\nhello");
  /* HTTP/1.0 with Transfer-Encoding: read as chunked, then the connection closes (RFC 9112 6.1) */
  CHECK_STR(exchange_text(port, "POST /e HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
                                "2\r\nxy\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"),
            "HTTP/1.1 201 Created\r\n" DATE "Content-Length: 2\r\nConnection: close\r\n\r\nxy");
  CHECK_STR(exchange_text(port, "GET / HTTP/1.0\r\n\r\n"), HELLO "Connection: close\r\n\r\nhello"); /* still serving */

  catzilla_server_stats_t st;
  catzilla_server_stats(server, &st);
  CHECK(st.requests >= 10);
  CHECK(st.parse_errors >= 10);
  CHECK_INT(st.connections_accepted, 26);

  CHECK_INT(stop_server(server), 0); /* nothing left on the loop */
  CHECK_INT(uv_loop_close(loop), 0);
  TEST_END();
}
