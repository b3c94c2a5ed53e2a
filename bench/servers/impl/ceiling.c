/*
 * Peer "ceiling": the fastest answer this harness can measure, not a web server.
 *
 * One thread, epoll, level-triggered, no parsing beyond finding the end of each request
 * head ("\r\n\r\n") and its path: every response is a canned byte string, written with
 * one write per read batch. It answers GET /hello and GET /small with the same bytes catzilla
 * sends (headers included, Date refreshed once a second) and 404 to everything else.
 * Requests with bodies are not supported (the hello and small workloads send none).
 *
 * What it shows: with the server on one core and wrk on the other, the load generator's core
 * saturates at some rate; no server can be measured above that rate on this machine, so
 * ratios to node:http beyond ceiling/node-http are not reachable here. bench/run reports it
 * next to the real peers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define IN_CAP 16384
#define OUT_CAP 65536

typedef struct {
  int fd;
  size_t in_len;
  char in[IN_CAP];
} conn_t;

static char date_line[64];
static time_t date_sec;

/* catzilla batches the ten 16-byte chunks of one loop turn into one 160-byte chunk. */
static const char small_body[] =
  "a0\r\n"
  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  "\r\n0\r\n\r\n";

static void refresh_date(void) {
  time_t now = time(NULL);
  if (now == date_sec) return;
  date_sec = now;
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date_line, sizeof date_line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

static size_t append(char *out, size_t len, const char *s, size_t n) {
  if (len + n > OUT_CAP) return len;
  memcpy(out + len, s, n);
  return len + n;
}

#define APPEND_LIT(out, len, lit) append((out), (len), (lit), sizeof(lit) - 1)

static size_t respond(char *out, size_t len, const char *path, size_t path_len) {
  if (path_len == 6 && memcmp(path, "/hello", 6) == 0) {
    len = APPEND_LIT(out, len, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n");
    len = append(out, len, date_line, strlen(date_line));
    return APPEND_LIT(out, len, "Content-Length: 13\r\n\r\nHello, World!");
  }
  if (path_len == 6 && memcmp(path, "/small", 6) == 0) {
    len = APPEND_LIT(out, len, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n");
    len = append(out, len, date_line, strlen(date_line));
    len = APPEND_LIT(out, len, "Transfer-Encoding: chunked\r\n\r\n");
    return append(out, len, small_body, sizeof small_body - 1);
  }
  len = APPEND_LIT(out, len, "HTTP/1.1 404 Not Found\r\n");
  len = append(out, len, date_line, strlen(date_line));
  return APPEND_LIT(out, len, "Content-Length: 0\r\n\r\n");
}

/* Answers every complete request head in c->in; returns -1 when the connection must close. */
static int serve(conn_t *c, char *out) {
  size_t len = 0, start = 0;
  for (;;) {
    char *end = memmem(c->in + start, c->in_len - start, "\r\n\r\n", 4);
    if (end == NULL) break;
    const char *line = c->in + start;
    const char *sp1 = memchr(line, ' ', (size_t)(end - line));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (sp2 == NULL) return -1;
    const char *q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
    const char *path_end = q ? q : sp2;
    len = respond(out, len, sp1 + 1, (size_t)(path_end - sp1 - 1));
    start = (size_t)(end - c->in) + 4;
  }
  if (start > 0) {
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
  } else if (c->in_len == IN_CAP) {
    return -1;
  }
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(c->fd, out + off, len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1; /* a full socket buffer is not expected for these sizes: close */
    }
    off += (size_t)n;
  }
  return 0;
}

int main(void) {
  const char *port_s = getenv("PORT");
  if (port_s == NULL) {
    fprintf(stderr, "ceiling: PORT must be set\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port_s)) };
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 511) != 0) {
    perror("ceiling: listen");
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static char out[OUT_CAP];
  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, events, MAX_EVENTS, 1000);
    if (n < 0 && errno != EINTR) return 1;
    refresh_date();
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (c == NULL) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn_t *nc = malloc(sizeof *nc);
          if (nc == NULL) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          nc->in_len = 0;
          struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc };
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      ssize_t r = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
      if (r > 0) {
        c->in_len += (size_t)r;
        if (serve(c, out) == 0) continue;
      } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        continue;
      }
      close(c->fd); /* also removes it from the epoll set */
      free(c);
    }
  }
}
