/*
 * The outbox of a connection: every byte it writes leaves through here, in order, and this is
 * the only file that calls uv_try_write / uv_write / sendfile and sets TCP_CORK.
 *
 * Memory is tried at once (uv_try_write) when nothing is queued; what the socket does not take
 * becomes a unit that owns its memory until libuv's callback: the caller's blocks and pieces
 * are kept (a `hold`), every other byte is copied, nothing on the stack is handed to libuv. A
 * file region is a unit sent by sendfile once every write before it has completed, with
 * TCP_CORK while it is sent (only full segments leave), 8 MiB per turn, and a writability
 * watch when the socket is full; units behind it wait their turn (libuv's own write queue
 * keeps the order of the memory units). Each unit reports to its owner (a stream) once, as it
 * completes or is dropped; a socket error is reported to the connection, which closes.
 */
#include "internal.h"
#include <stdlib.h>
#include <unistd.h>

#define OUTBOX__SENDFILE_TURN_BYTES (8u * 1024 * 1024) /* then yield to other connections */
#define OUTBOX__MAX_BUFS (CATZILLA__STREAM_MAX_PIECES + 4)

struct catzilla__unit_s {
  uv_write_t req;
  struct catzilla__unit_s* next; /* in the queue */
  catzilla__outbox_t* outbox;
  catzilla__sent_cb sent;        /* the owner's report, or NULL */
  void* owner;
  uint64_t payload;              /* the owner's payload bytes it carries */
  uint64_t nbytes;               /* bytes to write when it was made (memory units) */
  uint64_t started_ns;
  bool is_file;
  bool corked;
  bool close_fd;
  int fd;
  uint64_t file_offset;
  uint64_t file_remaining;
  char* blocks[2];               /* kept blocks, freed after the write */
  unsigned nreleases;
  unsigned nbufs;
  catzilla__piece_t releases[CATZILLA__STREAM_MAX_PIECES];
  uv_buf_t bufs[OUTBOX__MAX_BUFS];
  char data[];                   /* copies of what was not kept */
};

void catzilla__outbox_init(catzilla__outbox_t* ob, uv_tcp_t* tcp, const catzilla__outbox_events_t* events, void* arg,
                           catzilla_server_stats_t* stats) {
  memset(ob, 0, sizeof(*ob));
  ob->tcp = tcp;
  ob->events = events;
  ob->events_arg = arg;
  ob->stats = stats;
}

bool catzilla__outbox_busy(const catzilla__outbox_t* ob) { return ob->writes_pending > 0 || ob->head != NULL; }

/* The unit is over: its memory is released, then its owner hears of it. */
static void outbox__finish(catzilla__unit_t* u, int status, int64_t latency_us, bool from_loop) {
  for (unsigned i = 0; i < u->nreleases; i++) u->releases[i].release(u->releases[i].release_arg);
  free(u->blocks[0]);
  free(u->blocks[1]);
  if (u->is_file && u->close_fd && u->fd >= 0) close(u->fd);
  catzilla__sent_cb sent = u->sent;
  void* owner = u->owner;
  catzilla__sent_t report = {0};
  report.payload = u->is_file ? u->file_remaining : u->payload;
  report.bytes = status == 0 && !u->is_file ? u->nbytes : 0;
  report.latency_us = latency_us;
  report.status = status;
  report.unit_done = true;
  report.from_loop = from_loop;
  free(u);
  if (sent != NULL) sent(owner, &report);
}

static void outbox__pump(catzilla__outbox_t* ob, bool from_loop);

static void outbox__socket_failed(catzilla__outbox_t* ob, int err) {
  if (ob->failed) return;
  ob->failed = true;
  ob->events->on_error(ob->events_arg, err);
}

static void outbox__after_progress(catzilla__outbox_t* ob) {
  if (ob->failed) return;
  outbox__pump(ob, true);
  if (!ob->failed && !catzilla__outbox_busy(ob)) ob->events->on_empty(ob->events_arg);
}

static void outbox__on_write(uv_write_t* req, int status) {
  catzilla__unit_t* u = CATZILLA__CONTAINER_OF(req, catzilla__unit_t, req);
  catzilla__outbox_t* ob = u->outbox;
  ob->writes_pending--;
  if (status == 0) ob->stats->bytes_written += u->nbytes;
  if (status < 0) {
    /* the connection closes first, so the owner learns of it as a close, not a failure */
    outbox__socket_failed(ob, status);
    outbox__finish(u, status, -1, true);
    return;
  }
  outbox__finish(u, status, (int64_t)((uv_hrtime() - u->started_ns) / 1000), true);
  outbox__after_progress(ob);
}

static int outbox__submit(catzilla__outbox_t* ob, catzilla__unit_t* u) {
  u->started_ns = uv_hrtime();
  int err = uv_write(&u->req, (uv_stream_t*)ob->tcp, u->bufs, u->nbufs, outbox__on_write);
  if (err) return err;
  ob->writes_pending++;
  return 0;
}

static void outbox__on_writable(void* arg, int status) {
  catzilla__outbox_t* ob = arg;
  if (status < 0) {
    outbox__socket_failed(ob, status);
    return;
  }
  outbox__after_progress(ob);
}

/* An error of a socket call that says the peer is gone or the connection broke (sendfile mixes
 * these with the file's own errors). */
static bool outbox__peer_gone(int err) {
  return err == UV_EPIPE || err == UV_ECONNRESET || err == UV_ECONNABORTED || err == UV_ENOTCONN ||
         err == UV_ETIMEDOUT || err == UV_ECANCELED || err == UV_EHOSTUNREACH || err == UV_ENETUNREACH ||
         err == UV_ENETDOWN || err == UV_ESHUTDOWN;
}

/* Sends (part of) the file region at the head; 0 when it is done, UV_EAGAIN to wait, or an error. */
static int outbox__sendfile(catzilla__outbox_t* ob, catzilla__unit_t* u, bool from_loop) {
  size_t sent = 0;
  if (!u->corked) {
    catzilla__socket_cork(ob->tcp, 1);
    u->corked = true;
  }
  int r = catzilla__sendfile(ob->tcp, u->fd, &u->file_offset, &u->file_remaining, OUTBOX__SENDFILE_TURN_BYTES, &sent);
  if (r != UV_EAGAIN) catzilla__socket_cork(ob->tcp, 0); /* done or failed: the tail leaves now */
  ob->stats->bytes_written += sent;
  ob->stats->sendfile_bytes += sent;
  if (sent > 0 && u->sent != NULL) {
    catzilla__sent_t report = {0};
    report.payload = sent;
    report.bytes = sent;
    report.sendfile_bytes = sent;
    report.latency_us = -1;
    report.from_loop = from_loop;
    u->sent(u->owner, &report);
  }
  return r;
}

/* Sends the queue in order: memory units to libuv, a file region once nothing is in flight. */
static void outbox__pump(catzilla__outbox_t* ob, bool from_loop) {
  while (!ob->failed && ob->head != NULL) {
    catzilla__unit_t* u = ob->head;
    if (!u->is_file) {
      ob->head = u->next;
      if (ob->head == NULL) ob->tail = NULL;
      int err = outbox__submit(ob, u);
      if (err) {
        outbox__socket_failed(ob, err);
        outbox__finish(u, err, -1, from_loop);
        return;
      }
      continue;
    }
    if (ob->writes_pending > 0) return; /* the write callback pumps again */
    int r = outbox__sendfile(ob, u, from_loop);
    if (ob->failed) return; /* the owner's report closed the connection */
    if (r == UV_EAGAIN) {
      if (catzilla__poller_wait(&ob->poller, ob->tcp->loop, ob->tcp, outbox__on_writable, ob) != 0)
        outbox__socket_failed(ob, UV_EIO);
      return;
    }
    ob->head = u->next;
    if (ob->head == NULL) ob->tail = NULL;
    if (r < 0 && outbox__peer_gone(r)) {
      outbox__socket_failed(ob, r);
      outbox__finish(u, r, -1, from_loop);
      return;
    }
    /* done, or the file failed (too short, EIO): its owner decides what that means */
    outbox__finish(u, r, -1, from_loop);
  }
}

static void outbox__enqueue(catzilla__outbox_t* ob, catzilla__unit_t* u) {
  u->next = NULL;
  if (ob->tail != NULL) ob->tail->next = u;
  else ob->head = u;
  ob->tail = u;
}

/* Whether [p, p+len) lies in memory the hold lets us keep. */
static bool outbox__kept(const catzilla__hold_t* hold, const char* p, size_t len) {
  for (int i = 0; i < 2; i++)
    if (hold->blocks[i] != NULL && p >= hold->blocks[i] && p + len <= hold->blocks[i] + hold->block_caps[i]) return true;
  for (unsigned i = 0; i < hold->npieces; i++) {
    const catzilla__piece_t* piece = &hold->pieces[i];
    if (piece->release != NULL && piece->base != NULL && p >= piece->base && p + len <= piece->base + piece->len) return true;
  }
  return false;
}

int catzilla__outbox_write(catzilla__outbox_t* ob, const uv_buf_t* bufs, unsigned n, const catzilla__hold_t* hold,
                           size_t* written_now) {
  *written_now = 0;
  if (ob->failed) return CATZILLA_ECLOSED;
  if (n > OUTBOX__MAX_BUFS) return UV_EINVAL;
  size_t total = 0;
  for (unsigned i = 0; i < n; i++) total += bufs[i].len;
  size_t written = 0;
  if (ob->writes_pending == 0 && ob->head == NULL) {
    int r = uv_try_write((uv_stream_t*)ob->tcp, bufs, n);
    if (r >= 0) {
      written = (size_t)r;
    } else if (r != UV_EAGAIN && r != UV_ENOSYS) {
      outbox__socket_failed(ob, r);
      return CATZILLA_ECLOSED;
    }
  }
  ob->stats->bytes_written += written;
  *written_now = written;
  if (written == total) return 0;

  /* The rest: kept where the hold allows it, copied otherwise. */
  size_t copy = 0, skip = written;
  for (unsigned i = 0; i < n; i++) {
    size_t len = bufs[i].len, off = skip < len ? skip : len;
    skip -= off;
    if (off < len && !outbox__kept(hold, bufs[i].base + off, len - off)) copy += len - off;
  }
  catzilla__unit_t* u = malloc(sizeof(*u) + copy);
  if (u == NULL) {
    outbox__socket_failed(ob, UV_ENOMEM);
    return CATZILLA_ECLOSED;
  }
  memset(u, 0, offsetof(catzilla__unit_t, releases));
  u->outbox = ob;
  u->fd = -1;
  u->sent = hold->sent;
  u->owner = hold->owner;
  u->payload = hold->payload;
  u->nbytes = total - written;
  char* dst = u->data;
  skip = written;
  for (unsigned i = 0; i < n; i++) {
    size_t len = bufs[i].len, off = skip < len ? skip : len;
    skip -= off;
    if (off == len) continue;
    char* base = bufs[i].base + off;
    if (!outbox__kept(hold, base, len - off)) {
      memcpy(dst, base, len - off);
      base = dst;
      dst += len - off;
    }
    if (u->nbufs > 0 && u->bufs[u->nbufs - 1].base + u->bufs[u->nbufs - 1].len == base)
      u->bufs[u->nbufs - 1].len += (unsigned)(len - off);
    else
      u->bufs[u->nbufs++] = uv_buf_init(base, (unsigned)(len - off));
  }
  /* from here the outbox owns what the hold named: blocks and every piece's release */
  u->blocks[0] = hold->blocks[0];
  u->blocks[1] = hold->blocks[1];
  for (unsigned i = 0; i < hold->npieces; i++)
    if (hold->pieces[i].release != NULL) u->releases[u->nreleases++] = hold->pieces[i];
  if (ob->head != NULL) { /* a file region is ahead: wait behind it */
    outbox__enqueue(ob, u);
    return 1;
  }
  int err = outbox__submit(ob, u);
  if (err) {
    free(u); /* never handed over: the hold stays the caller's */
    outbox__socket_failed(ob, err);
    return CATZILLA_ECLOSED;
  }
  return 1;
}

int catzilla__outbox_send(catzilla__outbox_t* ob, const uv_buf_t* bufs, unsigned n, int keep, catzilla_release_cb release,
                          void* release_arg) {
  catzilla__hold_t hold = {0};
  catzilla__piece_t piece = {0};
  if (release != NULL && keep >= 0 && (unsigned)keep < n) {
    piece.base = bufs[keep].base;
    piece.len = bufs[keep].len;
    piece.release = release;
    piece.release_arg = release_arg;
    hold.pieces = &piece;
    hold.npieces = 1;
  }
  size_t written;
  ob->stats->writes++;
  int r = catzilla__outbox_write(ob, bufs, n, &hold, &written);
  if (r != 1 && release != NULL) release(release_arg); /* sent at once, or failed: not kept */
  return r < 0 ? r : 0;
}

int catzilla__outbox_file(catzilla__outbox_t* ob, int fd, uint64_t offset, uint64_t length, bool close_fd,
                          catzilla__sent_cb sent, void* owner) {
  if (ob->failed) {
    if (close_fd) close(fd);
    return CATZILLA_ECLOSED;
  }
  catzilla__unit_t* u = calloc(1, sizeof(*u));
  if (u == NULL) {
    if (close_fd) close(fd);
    return UV_ENOMEM;
  }
  u->outbox = ob;
  u->is_file = true;
  u->fd = fd;
  u->close_fd = close_fd;
  u->file_offset = offset;
  u->file_remaining = length;
  u->sent = sent;
  u->owner = owner;
  outbox__enqueue(ob, u);
  outbox__pump(ob, false);
  return 0;
}

/* Drops the queued units (not yet handed to libuv) of `owner`, or of every owner (NULL). */
void catzilla__outbox_drop(catzilla__outbox_t* ob, void* owner) {
  catzilla__unit_t** link = &ob->head;
  catzilla__unit_t* last = NULL;
  while (*link != NULL) {
    catzilla__unit_t* u = *link;
    if (owner != NULL && u->owner != owner) {
      last = u;
      link = &u->next;
      continue;
    }
    *link = u->next;
    if (u->corked) catzilla__socket_cork(ob->tcp, 0);
    outbox__finish(u, UV_ECANCELED, -1, false);
  }
  ob->tail = last;
  if (ob->head == NULL) catzilla__poller_release(&ob->poller);
}

void catzilla__outbox_close(catzilla__outbox_t* ob) {
  ob->failed = true; /* nothing more is written; libuv cancels what is in flight */
  catzilla__outbox_drop(ob, NULL);
  catzilla__poller_release(&ob->poller);
}
