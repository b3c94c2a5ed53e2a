/*
 * File regions: sendfile(2) from a file to a socket libuv owns, returning the bytes sent or
 * EAGAIN, and a writability watch for that socket. libuv keeps the socket's own watcher, so
 * writability is watched on a duplicate of the descriptor (epoll keys registrations by
 * descriptor and open file description).
 */
#include "internal.h"
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#endif

struct catzilla__poller_s {
  uv_poll_t poll;
  catzilla__writable_cb cb;
  void* arg; /* NULL once released: the callback is not called any more */
  int fd;
};

static void sendfile__poller_closed(uv_handle_t* handle) {
  catzilla__poller_t* p = (catzilla__poller_t*)handle;
  close(p->fd);
  free(p);
}

static void sendfile__on_writable(uv_poll_t* poll, int status, int events) {
  catzilla__poller_t* p = (catzilla__poller_t*)poll;
  uv_poll_stop(poll);
  if (p->arg != NULL) p->cb(p->arg, status);
}

int catzilla__poller_wait(catzilla__poller_t** poller, uv_loop_t* loop, uv_tcp_t* tcp, catzilla__writable_cb cb,
                          void* arg) {
  catzilla__poller_t* p = *poller;
  if (p == NULL) {
    uv_os_fd_t sock;
    int err = uv_fileno((uv_handle_t*)tcp, &sock);
    if (err) return err;
    p = malloc(sizeof(*p));
    if (p == NULL) return UV_ENOMEM;
    p->fd = dup(sock);
    if (p->fd < 0) {
      free(p);
      return -errno;
    }
    err = uv_poll_init(loop, &p->poll, p->fd);
    if (err) {
      close(p->fd);
      free(p);
      return err;
    }
    *poller = p;
  }
  p->cb = cb;
  p->arg = arg;
  return uv_poll_start(&p->poll, UV_WRITABLE, sendfile__on_writable);
}

void catzilla__poller_release(catzilla__poller_t** poller) {
  catzilla__poller_t* p = *poller;
  if (p == NULL) return;
  p->arg = NULL;
  uv_close((uv_handle_t*)&p->poll, sendfile__poller_closed);
  *poller = NULL;
}

int catzilla__sendfile(uv_tcp_t* tcp, int fd, uint64_t* offset, uint64_t* remaining, size_t budget, size_t* sent) {
  *sent = 0;
#ifdef __linux__
  uv_os_fd_t sock;
  int err = uv_fileno((uv_handle_t*)tcp, &sock);
  if (err) return err;
  while (*remaining > 0) {
    if (*sent >= budget) return UV_EAGAIN; /* yield to other connections; writable again at once */
    size_t want = *remaining > (1u << 30) ? (1u << 30) : (size_t)*remaining;
    off_t off = (off_t)*offset;
    ssize_t n = sendfile(sock, fd, &off, want);
    if (n > 0) {
      *offset += (uint64_t)n;
      *remaining -= (uint64_t)n;
      *sent += (size_t)n;
      continue;
    }
    if (n == 0) return UV_EOF; /* the file is shorter than the region: truncated meanwhile */
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return UV_EAGAIN;
    return -errno;
  }
  return 0;
#else
  return UV_ENOSYS;
#endif
}

void catzilla__socket_cork(uv_tcp_t* tcp, int on) {
#ifdef __linux__
  uv_os_fd_t sock;
  if (uv_fileno((uv_handle_t*)tcp, &sock) == 0) setsockopt(sock, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
#else
  (void)tcp;
  (void)on;
#endif
}
