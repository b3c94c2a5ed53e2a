/*
 * A single-producer/single-consumer byte ring. The producer owns `head`, the consumer
 * owns `tail`; each publishes its index with a release store and reads the other's with
 * an acquire load, so no lock is needed. Capacity is a power of two; indices run freely
 * and are masked on access.
 */
#include "internal.h"
#include <stdatomic.h>
#include <stdlib.h>

struct catzilla_ring_s {
  char* data;
  size_t capacity;
  size_t mask;
  _Alignas(64) _Atomic size_t head; /* total bytes committed by the producer */
  _Alignas(64) _Atomic size_t tail; /* total bytes consumed by the consumer */
};

int catzilla_ring_new(size_t capacity, catzilla_ring_t** out) {
  size_t cap = 64;
  while (cap < capacity) {
    if (cap > SIZE_MAX / 2) return UV_EINVAL;
    cap *= 2;
  }
  catzilla_ring_t* ring = calloc(1, sizeof(*ring));
  if (ring == NULL) return UV_ENOMEM;
  ring->data = malloc(cap);
  if (ring->data == NULL) {
    free(ring);
    return UV_ENOMEM;
  }
  ring->capacity = cap;
  ring->mask = cap - 1;
  atomic_init(&ring->head, 0);
  atomic_init(&ring->tail, 0);
  *out = ring;
  return 0;
}

void catzilla_ring_free(catzilla_ring_t* ring) {
  if (ring == NULL) return;
  free(ring->data);
  free(ring);
}

size_t catzilla_ring_capacity(const catzilla_ring_t* ring) { return ring->capacity; }

char* catzilla_ring_reserve(catzilla_ring_t* ring, size_t* len) {
  size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
  size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
  size_t free_bytes = ring->capacity - (head - tail);
  size_t to_end = ring->capacity - (head & ring->mask);
  *len = free_bytes < to_end ? free_bytes : to_end;
  return ring->data + (head & ring->mask);
}

void catzilla_ring_commit(catzilla_ring_t* ring, size_t len) {
  size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
  atomic_store_explicit(&ring->head, head + len, memory_order_release);
}

size_t catzilla_ring_write(catzilla_ring_t* ring, const void* data, size_t len) {
  size_t done = 0;
  while (done < len) {
    size_t room;
    char* dst = catzilla_ring_reserve(ring, &room);
    if (room == 0) break;
    size_t n = len - done < room ? len - done : room;
    memcpy(dst, (const char*)data + done, n);
    catzilla_ring_commit(ring, n);
    done += n;
  }
  return done;
}

const char* catzilla_ring_peek(catzilla_ring_t* ring, size_t* len) {
  size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
  size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
  size_t avail = head - tail;
  size_t to_end = ring->capacity - (tail & ring->mask);
  *len = avail < to_end ? avail : to_end;
  return ring->data + (tail & ring->mask);
}

void catzilla_ring_consume(catzilla_ring_t* ring, size_t len) {
  size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
  atomic_store_explicit(&ring->tail, tail + len, memory_order_release);
}

size_t catzilla_ring_readable(const catzilla_ring_t* ring) {
  size_t head = atomic_load_explicit(&((catzilla_ring_t*)ring)->head, memory_order_acquire);
  size_t tail = atomic_load_explicit(&((catzilla_ring_t*)ring)->tail, memory_order_acquire);
  return head - tail;
}
