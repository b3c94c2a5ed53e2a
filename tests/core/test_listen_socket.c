/* Listening sockets (listen_socket.c) and the server over them: two servers on one port with
 * CATZILLA_LISTEN_REUSEPORT, EADDRINUSE without it, a bound reuse-port socket that holds the
 * port without taking connections (the workers' primary reserves its port so), and the close of a
 * server whose accept queue holds connections (and of one with a fresh connection whose request
 * is unread): they are served, not reset. */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "internal.h"
#include "test.h"
#include "test_client.h"

static int answered_by[3];

static void on_request(catzilla_server_t* s, catzilla_request_id_t id, const catzilla_request_info_t* info) {
  int which = (int)(intptr_t)catzilla_server_data(s);
  answered_by[which]++;
  char body[2] = {(char)('0' + which), 0};
  catzilla_response_t r = {200, "", 0, body, 1, 0, NULL, NULL};
  CHECK_INT(catzilla_respond(s, id, &r), 0);
}
static void on_body(catzilla_server_t* s, catzilla_request_id_t id, const char* data, size_t len) {}
static void on_body_end(catzilla_server_t* s, catzilla_request_id_t id) {}
static void on_abort(catzilla_server_t* s, catzilla_request_id_t id, catzilla_abort_reason_t reason) {}

static catzilla_server_t* new_server(int which) {
  catzilla_server_options_t opt;
  catzilla_server_options_default(&opt);
  catzilla_server_callbacks_t cb = {on_request, on_body, on_body_end, on_abort, NULL, NULL, NULL};
  catzilla_server_t* s = NULL;
  CHECK_INT(catzilla_server_new(loop, &opt, &cb, (void*)(intptr_t)which, &s), 0);
  return s;
}

static int port_of(const struct sockaddr_storage* a) { return ntohs(((const struct sockaddr_in*)a)->sin_port); }

/* A blocking client that connected (the kernel completes the handshake into the accept queue
 * without the server's loop running) and sent a request. */
static int connect_and_send(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  if (connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  const char* req = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  CHECK_INT(write(fd, req, strlen(req)), (long long)strlen(req));
  return fd;
}

/* Run the loop until `fd` has the whole response (the server closes), or 5 s. */
static int read_answer(int fd, char* out, size_t cap) {
  size_t len = 0;
  for (int i = 0; i < 5000; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    ssize_t n = recv(fd, out + len, cap - 1 - len, MSG_DONTWAIT);
    if (n == 0) break;
    if (n < 0 && errno != EAGAIN) {
      len = 0;
      break;
    }
    if (n > 0) len += (size_t)n;
    else usleep(1000);
  }
  out[len] = 0;
  close(fd);
  return (int)len;
}

int main(void) {
  loop = uv_default_loop();
  struct sockaddr_storage bound;

  /* the reservation: bound with REUSEPORT | RESERVE, never listening */
  int reserved = catzilla_socket_bind("127.0.0.1", 0, CATZILLA_LISTEN_REUSEPORT | CATZILLA_LISTEN_RESERVE, &bound);
  CHECK(reserved >= 0);
  int port = port_of(&bound);
  CHECK(port > 0);
  /* nothing listens yet: refused, not queued on the reservation */
  CHECK_INT(connect_and_send(port), -ECONNREFUSED);
  /* a socket without SO_REUSEPORT cannot take the port (a server that would not share it) */
  CHECK_INT(catzilla_socket_bind("127.0.0.1", port, 0, NULL), UV_EADDRINUSE);
  /* a reservation with SO_REUSEADDR would not hold it against one with SO_REUSEADDR */
  int loose = catzilla_socket_bind("127.0.0.1", 0, CATZILLA_LISTEN_REUSEPORT, &bound);
  CHECK(loose >= 0);
  int intruder = catzilla_socket_bind("127.0.0.1", port_of(&bound), 0, NULL);
  CHECK(intruder >= 0);
  if (intruder >= 0) catzilla_socket_close(intruder);
  if (loose >= 0) catzilla_socket_close(loose);

  /* two servers on the reserved port */
  catzilla_server_t* a = new_server(1);
  catzilla_server_t* b = new_server(2);
  CHECK_INT(catzilla_server_listen(a, "127.0.0.1", port, 128, CATZILLA_LISTEN_REUSEPORT, &bound), 0);
  CHECK_INT(port_of(&bound), port);
  CHECK_INT(catzilla_server_listen(b, "127.0.0.1", port, 128, CATZILLA_LISTEN_REUSEPORT, &bound), 0);
  /* a third without REUSEPORT: refused */
  catzilla_server_t* c = new_server(0);
  CHECK_INT(catzilla_server_listen(c, "127.0.0.1", port, 128, 0, &bound), UV_EADDRINUSE);
  int closed_c = 0;
  CHECK_INT(catzilla_server_close(c, 0, server_closed_flag, &closed_c), 0);
  while (!closed_c) uv_run(loop, UV_RUN_ONCE);
  catzilla_server_free(c);

  /* connections from many source ports: the kernel spreads them over the two listeners, and
   * the reservation gets none (every one is answered) */
  char answer[4096];
  int answered = 0;
  for (int i = 0; i < 64; i++) {
    int fd = connect_and_send(port);
    CHECK(fd >= 0);
    if (fd >= 0 && read_answer(fd, answer, sizeof(answer)) > 0 && strstr(answer, "200 OK") != NULL) answered++;
  }
  CHECK_INT(answered, 64);
  CHECK_INT(answered_by[1] + answered_by[2], 64);
  CHECK(answered_by[1] > 0);
  CHECK(answered_by[2] > 0);

  /* close `a` while connections wait in its accept queue (its loop has not run since they
   * connected): they are accepted in the close and served, never reset */
  int queued[8];
  int before = answered_by[1] + answered_by[2];
  for (int i = 0; i < 8; i++) queued[i] = connect_and_send(port);
  int closed_a = 0;
  CHECK_INT(catzilla_server_close(a, 2000, server_closed_flag, &closed_a), 0);
  for (int i = 0; i < 8; i++) {
    CHECK(queued[i] >= 0);
    if (queued[i] < 0) continue;
    CHECK(read_answer(queued[i], answer, sizeof(answer)) > 0);
    CHECK(strstr(answer, "HTTP/1.1 200 OK") != NULL);
  }
  CHECK_INT(answered_by[1] + answered_by[2], before + 8);
  while (!closed_a) uv_run(loop, UV_RUN_ONCE);
  catzilla_server_free(a);

  /* `b` alone serves the port now */
  for (int i = 0; i < 8; i++) {
    int fd = connect_and_send(port);
    CHECK(fd >= 0);
    if (fd >= 0) CHECK(strstr((read_answer(fd, answer, sizeof(answer)), answer), "\r\n\r\n2") != NULL);
  }
  /* close `b` right after it accepted a connection whose request is still unread (in the kernel's
   * buffer): a connection that has not begun its first request is not idle, it is served */
  {
    int fresh = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    CHECK_INT(connect(fresh, (struct sockaddr*)&addr, sizeof(addr)), 0);
    int accepted_before = (int)b->stats.connections_accepted;
    for (int i = 0; i < 1000 && (int)b->stats.connections_accepted == accepted_before; i++) uv_run(loop, UV_RUN_NOWAIT);
    CHECK_INT(b->stats.connections_accepted, accepted_before + 1);
    const char* req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    CHECK_INT(write(fresh, req, strlen(req)), (long long)strlen(req));
    int closed_b = 0;
    CHECK_INT(catzilla_server_close(b, 2000, server_closed_flag, &closed_b), 0);
    CHECK(read_answer(fresh, answer, sizeof(answer)) > 0);
    CHECK(strstr(answer, "HTTP/1.1 200 OK") != NULL);
    CHECK(strstr(answer, "Connection: close") != NULL);
    while (!closed_b) uv_run(loop, UV_RUN_ONCE);
    catzilla_server_free(b);
    CHECK_INT(uv_run(loop, UV_RUN_NOWAIT), 0);
  }
  CHECK_INT(catzilla_socket_close(reserved), 0);
  /* released: an ordinary socket takes the port again */
  int again = catzilla_socket_bind("127.0.0.1", port, 0, NULL);
  CHECK(again >= 0);
  if (again >= 0) catzilla_socket_close(again);
  CHECK_INT(uv_loop_close(loop), 0);
  TEST_END();
}
