/*
 * Listening sockets made by hand, so that options libuv 1.46 (Node 20's) has no flag for can be
 * set before bind: SO_REUSEPORT, which lets several processes bind one port and the kernel spread
 * the connections over them. A socket bound here and never listened on holds the port for a
 * reuse-port group without receiving a connection (the workers' primary reserves its port that
 * way). Also the accept(2) the server drains its queue with when it closes.
 */
#define _GNU_SOURCE
#include "internal.h"
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

int catzilla_socket_bind(const char* host, int port, unsigned flags, struct sockaddr_storage* bound) {
  if (host == NULL || port < 0 || port > 65535) return UV_EINVAL;
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof(addr));
  socklen_t addr_len = sizeof(struct sockaddr_in);
  if (uv_ip4_addr(host, port, (struct sockaddr_in*)&addr) != 0) {
    if (uv_ip6_addr(host, port, (struct sockaddr_in6*)&addr) != 0) return UV_EINVAL;
    addr_len = sizeof(struct sockaddr_in6);
  }
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int on = 1;
  int err = 0;
  /* as uv_tcp_bind does: a port in TIME_WAIT can be bound again */
  if (!(flags & CATZILLA_LISTEN_RESERVE) && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) err = -errno;
  if (err == 0 && (flags & CATZILLA_LISTEN_REUSEPORT) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
    err = -errno;
  if (err == 0 && bind(fd, (const struct sockaddr*)&addr, addr_len) != 0) err = -errno;
  if (err == 0 && bound != NULL) {
    socklen_t len = sizeof(*bound);
    if (getsockname(fd, (struct sockaddr*)bound, &len) != 0) err = -errno;
  }
  if (err != 0) {
    close(fd);
    return err;
  }
  return fd;
}

int catzilla_socket_close(int fd) {
  if (fd < 0) return UV_EBADF;
  return close(fd) == 0 ? 0 : -errno;
}

int catzilla__socket_accept(int listen_fd) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno == EINTR || errno == ECONNABORTED) continue; /* reset while queued: the next one */
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? UV_EAGAIN : -errno;
  }
}
