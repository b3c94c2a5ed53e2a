/*
 * A growable byte buffer. Grows by doubling; the owner frees it. And a few emptied buffers kept
 * for reuse (spares), taken and given back whole; and a slab lent to one reader at a time.
 */
#include "internal.h"
#include <stdlib.h>

int catzilla__buf_reserve(catzilla__buf_t* buf, size_t extra) {
  if (buf->cap - buf->len >= extra) return 0;
  size_t need = buf->len + extra;
  if (need < buf->len) return UV_ENOMEM;
  size_t cap = buf->cap ? buf->cap : 256;
  while (cap < need) cap *= 2;
  char* base = realloc(buf->base, cap);
  if (base == NULL) return UV_ENOMEM;
  buf->base = base;
  buf->cap = cap;
  return 0;
}

int catzilla__buf_append(catzilla__buf_t* buf, const void* data, size_t len) {
  int err = catzilla__buf_reserve(buf, len);
  if (err) return err;
  if (len) memcpy(buf->base + buf->len, data, len);
  buf->len += len;
  return 0;
}

void catzilla__buf_consume(catzilla__buf_t* buf, size_t len) {
  if (len >= buf->len) {
    buf->len = 0;
    return;
  }
  memmove(buf->base, buf->base + len, buf->len - len);
  buf->len -= len;
}

void catzilla__buf_free(catzilla__buf_t* buf) {
  free(buf->base);
  buf->base = NULL;
  buf->len = buf->cap = 0;
}

/* Lends `buf` (empty, unallocated) a spare; false when none is kept. */
bool catzilla__buf_spares_take(catzilla__buf_spares_t* spares, catzilla__buf_t* buf) {
  if (spares->count == 0) return false;
  unsigned i = --spares->count;
  buf->base = spares->base[i];
  buf->cap = spares->cap[i];
  buf->len = 0;
  return true;
}

/* Takes `buf`'s memory back (kept when there is room and it is at most max_cap, else freed);
 * `buf` is left empty and unallocated. */
void catzilla__buf_spares_give(catzilla__buf_spares_t* spares, catzilla__buf_t* buf, size_t max_cap) {
  if (buf->base == NULL) return;
  if (spares->count < CATZILLA__CORK_SPARES && buf->cap <= max_cap) {
    spares->base[spares->count] = buf->base;
    spares->cap[spares->count++] = buf->cap;
  } else {
    free(buf->base);
  }
  buf->base = NULL;
  buf->len = buf->cap = 0;
}

void catzilla__buf_spares_free(catzilla__buf_spares_t* spares) {
  while (spares->count > 0) free(spares->base[--spares->count]);
}

void catzilla__buf_slab_take(catzilla__buf_slab_t* slab, char** base, size_t* len) {
  if (!slab->lent && slab->base != NULL) {
    slab->lent = true;
    *base = slab->base;
    *len = slab->size;
    return;
  }
  *base = malloc(slab->size);
  *len = *base != NULL ? slab->size : 0;
}

void catzilla__buf_slab_give(catzilla__buf_slab_t* slab, char* base) {
  if (base != NULL && base == slab->base)
    slab->lent = false;
  else
    free(base);
}
