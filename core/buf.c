/*
 * A growable byte buffer. Grows by doubling; the owner frees it.
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
