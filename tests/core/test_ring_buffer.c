/* The SPSC ring under two threads: 64 MiB of a known byte sequence through a small ring,
 * with writes and reads of varying sizes, both through copy and reserve/peek; every byte
 * must arrive in order. */
#include "internal.h"
#include "test.h"

#define TOTAL (64u * 1024 * 1024)

static catzilla_ring_t* ring;

static unsigned char byte_at(size_t i) { return (unsigned char)((i * 2654435761u) >> 13); }

static void producer(void* arg) {
  size_t sent = 0, step = 1;
  unsigned char buf[5000];
  while (sent < TOTAL) {
    if (step & 1) { /* copy path */
      size_t n = (step * 37) % sizeof(buf) + 1;
      if (n > TOTAL - sent) n = TOTAL - sent;
      for (size_t i = 0; i < n; i++) buf[i] = byte_at(sent + i);
      size_t done = 0;
      while (done < n) done += catzilla_ring_write(ring, buf + done, n - done);
      sent += n;
    } else { /* zero-copy path */
      size_t room;
      char* dst = catzilla_ring_reserve(ring, &room);
      if (room > TOTAL - sent) room = TOTAL - sent;
      for (size_t i = 0; i < room; i++) dst[i] = (char)byte_at(sent + i);
      catzilla_ring_commit(ring, room);
      sent += room;
    }
    step++;
  }
}

int main(void) {
  CHECK_INT(catzilla_ring_new(1000, &ring), 0);
  CHECK_INT(catzilla_ring_capacity(ring), 1024); /* a power of two */
  uv_thread_t thread;
  CHECK_INT(uv_thread_create(&thread, producer, NULL), 0);
  size_t received = 0, bad = 0, step = 0;
  unsigned char out[3000];
  while (received < TOTAL) {
    if (step++ & 1) {
      size_t len;
      const char* p = catzilla_ring_peek(ring, &len);
      for (size_t i = 0; i < len; i++) bad += (unsigned char)p[i] != byte_at(received + i);
      catzilla_ring_consume(ring, len);
      received += len;
    } else {
      size_t want = (step * 53) % sizeof(out) + 1, got = 0;
      while (got < want) {
        size_t len;
        const char* p = catzilla_ring_peek(ring, &len);
        if (len == 0) break;
        if (len > want - got) len = want - got;
        memcpy(out + got, p, len);
        catzilla_ring_consume(ring, len);
        got += len;
      }
      for (size_t i = 0; i < got; i++) bad += out[i] != byte_at(received + i);
      received += got;
    }
  }
  uv_thread_join(&thread);
  CHECK_INT(bad, 0);
  CHECK_INT(received, TOTAL);
  CHECK_INT(catzilla_ring_readable(ring), 0);
  catzilla_ring_free(ring);
  TEST_END();
}
