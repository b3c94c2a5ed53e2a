/*
 * permessage-deflate (RFC 7692) with the system's zlib: raw DEFLATE, each message ended by a
 * sync flush whose 0x00 0x00 0xff 0xff tail is removed before sending and appended again
 * before inflating. A leaf: ws_conn.c decides when to compress; this file holds the streams.
 *
 * Memory. A zlib stream is kept per connection and direction only where context takeover
 * makes the history part of the protocol:
 *   - server context takeover: a deflate stream per connection, about
 *     (1 << (windowBits + 2)) + (1 << (memLevel + 9)) bytes (zlib's figure: 256 KiB at 15/8);
 *   - client context takeover: an inflate stream per connection, about (1 << windowBits) + 7 KiB
 *     (39 KiB at 15).
 * With server_no_context_takeover (the default) every message starts from an empty window, so
 * one deflate stream per parameter set is shared by all the connections of the thread, and the
 * same payload sent to many connections (a room broadcast) is compressed once: the last result
 * per parameter set is kept and referenced by every queue that sends the same bytes. With
 * client_no_context_takeover one shared inflate stream serves every connection. The output of
 * inflate goes to one scratch buffer per thread (a message is delivered synchronously), grown in
 * steps and never past max_message + 1 bytes: a zip bomb stops there (1009).
 *
 * Shared state is per thread (_Thread_local: one loop per thread) and freed when the thread's
 * last deflate state goes.
 */
#include "internal.h"
#include <stdlib.h>
#include <zlib.h>

#define DEFLATE__SHARED_MAX 8                  /* parameter sets with a shared deflate stream */
#define DEFLATE__CACHE_MAX_INPUT (1024 * 1024) /* a larger payload is not kept for reuse */
#define DEFLATE__SCRATCH_KEEP (256 * 1024)      /* a larger inflate scratch is freed after its message */

static const unsigned char deflate__tail[4] = {0x00, 0x00, 0xff, 0xff};

/* A compressed payload, referenced by the queues that send it. */
typedef struct {
  unsigned refs;
  size_t len;
  char data[];
} deflate__block_t;

static void deflate__block_unref(void* arg) {
  deflate__block_t* b = arg;
  if (--b->refs == 0) free(b);
}

typedef struct {
  int window_bits, mem_level, level;
  z_stream* z;
  char* last_in;            /* the last payload compressed with this stream (a copy) */
  size_t last_len;
  deflate__block_t* last_out; /* and its result (one reference is the cache's) */
} deflate__shared_t;

static _Thread_local struct {
  unsigned users;
  deflate__shared_t shared[DEFLATE__SHARED_MAX];
  unsigned nshared;
  z_stream* inflater;       /* client_no_context_takeover: one for the thread */
  catzilla__buf_t scratch;  /* inflate output */
  size_t zlib_bytes;        /* what zlib holds now (every stream of this thread) */
} deflate__tls;

struct catzilla__deflate_s {
  int window_bits;          /* server_max_window_bits (9..15) */
  int client_window_bits;   /* client_max_window_bits (9..15 for zlib's inflate) */
  int mem_level;
  int level;
  bool server_no_context;
  bool client_no_context;
  size_t threshold;
  z_stream* deflater;       /* server context takeover only, created at the first message */
  z_stream* inflater;       /* client context takeover only, created at the first message */
};

/* zlib's allocations, counted: what a connection costs is measured, not guessed. */
static voidpf deflate__zalloc(voidpf opaque, uInt items, uInt size) {
  size_t n = (size_t)items * size;
  size_t* p = malloc(sizeof(size_t) + n);
  if (p == NULL) return Z_NULL;
  *p = n;
  deflate__tls.zlib_bytes += n;
  return p + 1;
}

static void deflate__zfree(voidpf opaque, voidpf address) {
  if (address == NULL) return;
  size_t* p = (size_t*)address - 1;
  deflate__tls.zlib_bytes -= *p;
  free(p);
}

size_t catzilla__deflate_zlib_bytes(void) { return deflate__tls.zlib_bytes; }

static z_stream* deflate__new_deflater(int window_bits, int mem_level, int level) {
  z_stream* z = calloc(1, sizeof(*z));
  if (z == NULL) return NULL;
  z->zalloc = deflate__zalloc;
  z->zfree = deflate__zfree;
  if (deflateInit2(z, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
    free(z);
    return NULL;
  }
  return z;
}

static z_stream* deflate__new_inflater(int window_bits) {
  z_stream* z = calloc(1, sizeof(*z));
  if (z == NULL) return NULL;
  z->zalloc = deflate__zalloc;
  z->zfree = deflate__zfree;
  if (inflateInit2(z, -window_bits) != Z_OK) {
    free(z);
    return NULL;
  }
  return z;
}

static void deflate__end_deflater(z_stream* z) {
  if (z == NULL) return;
  deflateEnd(z);
  free(z);
}

static void deflate__end_inflater(z_stream* z) {
  if (z == NULL) return;
  inflateEnd(z);
  free(z);
}

static void deflate__shared_clear(deflate__shared_t* s) {
  deflate__end_deflater(s->z);
  free(s->last_in);
  if (s->last_out != NULL) deflate__block_unref(s->last_out);
  memset(s, 0, sizeof(*s));
}

static int deflate__clamp(int v, int lo, int hi, int dflt) {
  if (v == 0) return dflt;
  return v < lo ? lo : v > hi ? hi : v;
}

int catzilla__deflate_new(const catzilla_ws_options_t* o, catzilla__deflate_t** out) {
  catzilla__deflate_t* d = calloc(1, sizeof(*d));
  if (d == NULL) return UV_ENOMEM;
  /* zlib's raw deflate cannot use a 256-byte window: 8 is refused in the handshake (ts side),
   * and 9 is the floor here */
  d->window_bits = deflate__clamp(o->server_max_window_bits, 9, 15, 15);
  d->client_window_bits = deflate__clamp(o->client_max_window_bits, 9, 15, 15);
  d->mem_level = deflate__clamp(o->mem_level, 1, 9, 8);
  d->level = o->level < 0 ? Z_DEFAULT_COMPRESSION : o->level > 9 ? 9 : o->level;
  d->server_no_context = o->server_no_context_takeover != 0;
  d->client_no_context = o->client_no_context_takeover != 0;
  d->threshold = o->deflate_threshold;
  deflate__tls.users++;
  *out = d;
  return 0;
}

void catzilla__deflate_free(catzilla__deflate_t* d) {
  if (d == NULL) return;
  deflate__end_deflater(d->deflater);
  deflate__end_inflater(d->inflater);
  free(d);
  if (--deflate__tls.users > 0) return;
  /* the thread's last deflate connection: its shared streams and buffers go too */
  for (unsigned i = 0; i < deflate__tls.nshared; i++) deflate__shared_clear(&deflate__tls.shared[i]);
  deflate__tls.nshared = 0;
  deflate__end_inflater(deflate__tls.inflater);
  deflate__tls.inflater = NULL;
  catzilla__buf_free(&deflate__tls.scratch);
}

size_t catzilla__deflate_threshold(const catzilla__deflate_t* d) { return d->threshold; }

/* Compress `len` bytes into a new block (tail removed); the stream is reset when `reset`. */
static int deflate__run(z_stream* z, const char* data, size_t len, bool reset, deflate__block_t** out) {
  size_t cap = deflateBound(z, (uLong)len) + 16;
  deflate__block_t* b = malloc(sizeof(*b) + cap);
  if (b == NULL) return UV_ENOMEM;
  z->next_in = (Bytef*)data;
  z->avail_in = (uInt)len;
  size_t produced = 0;
  for (;;) {
    z->next_out = (Bytef*)b->data + produced;
    z->avail_out = (uInt)(cap - produced);
    int r = deflate(z, Z_SYNC_FLUSH);
    produced = cap - z->avail_out;
    if (r != Z_OK && r != Z_BUF_ERROR) {
      free(b);
      deflateReset(z);
      return UV_EINVAL;
    }
    if (z->avail_out != 0) break; /* everything flushed */
    deflate__block_t* grown = realloc(b, sizeof(*b) + cap * 2);
    if (grown == NULL) {
      free(b);
      deflateReset(z);
      return UV_ENOMEM;
    }
    b = grown;
    cap *= 2;
  }
  if (produced >= 4 && memcmp(b->data + produced - 4, deflate__tail, 4) == 0) produced -= 4;
  if (produced == 0) {
    /* an empty message right after a flush: zlib wrote nothing, but the peer appends the tail,
     * which is only an empty stored block after the 3 header bits of this byte (RFC 7692 7.2.3.6) */
    b->data[0] = 0x00;
    produced = 1;
  }
  if (reset) deflateReset(z);
  b->refs = 1;
  b->len = produced;
  *out = b;
  return 0;
}

/* The thread's shared deflate stream for the connection's parameters (created when missing). */
static deflate__shared_t* deflate__shared_for(const catzilla__deflate_t* d) {
  for (unsigned i = 0; i < deflate__tls.nshared; i++) {
    deflate__shared_t* s = &deflate__tls.shared[i];
    if (s->window_bits == d->window_bits && s->mem_level == d->mem_level && s->level == d->level) return s;
  }
  if (deflate__tls.nshared == DEFLATE__SHARED_MAX) {
    /* rare (eight parameter sets in use): the oldest makes room */
    deflate__shared_clear(&deflate__tls.shared[0]);
    memmove(&deflate__tls.shared[0], &deflate__tls.shared[1], sizeof(deflate__shared_t) * (DEFLATE__SHARED_MAX - 1));
    deflate__tls.nshared--;
  }
  z_stream* z = deflate__new_deflater(d->window_bits, d->mem_level, d->level);
  if (z == NULL) return NULL;
  deflate__shared_t* s = &deflate__tls.shared[deflate__tls.nshared++];
  memset(s, 0, sizeof(*s));
  s->window_bits = d->window_bits;
  s->mem_level = d->mem_level;
  s->level = d->level;
  s->z = z;
  return s;
}

int catzilla__deflate_message(catzilla__deflate_t* d, const char* data, size_t len, catzilla__deflated_t* out) {
  deflate__block_t* b = NULL;
  int err;
  out->reused = false;
  if (d->server_no_context) {
    deflate__shared_t* s = deflate__shared_for(d);
    if (s == NULL) return UV_ENOMEM;
    if (s->last_out != NULL && s->last_len == len && (len == 0 || memcmp(s->last_in, data, len) == 0)) {
      /* the same payload as the last one with these parameters (a broadcast): compressed once */
      b = s->last_out;
      b->refs++;
      out->reused = true;
    } else {
      if ((err = deflate__run(s->z, data, len, true, &b)) != 0) return err;
      free(s->last_in);
      s->last_in = NULL;
      if (s->last_out != NULL) deflate__block_unref(s->last_out);
      s->last_out = NULL;
      if (len <= DEFLATE__CACHE_MAX_INPUT && (s->last_in = malloc(len ? len : 1)) != NULL) {
        memcpy(s->last_in, data, len);
        s->last_len = len;
        s->last_out = b;
        b->refs++;
      }
    }
  } else {
    if (d->deflater == NULL && (d->deflater = deflate__new_deflater(d->window_bits, d->mem_level, d->level)) == NULL)
      return UV_ENOMEM;
    if ((err = deflate__run(d->deflater, data, len, false, &b)) != 0) return err;
  }
  out->data = b->data;
  out->len = b->len;
  out->release = deflate__block_unref;
  out->release_arg = b;
  return 0;
}

/* Inflate one phase of input into the scratch buffer, never past max + 1 bytes. */
static int deflate__inflate_phase(z_stream* z, const unsigned char* in, size_t len, uint64_t max) {
  catzilla__buf_t* out = &deflate__tls.scratch;
  uint64_t limit = max + 1;
  z->next_in = (Bytef*)in;
  z->avail_in = (uInt)len;
  for (;;) {
    if (out->cap == out->len) {
      if (out->len >= limit) return CATZILLA_WS_MESSAGE_TOO_BIG;
      uint64_t want = out->cap ? (uint64_t)out->cap * 2 : 4096;
      if (want > limit) want = limit;
      if (want > SIZE_MAX) return UV_ENOMEM;
      char* grown = realloc(out->base, (size_t)want); /* exactly: never past max + 1 */
      if (grown == NULL) return UV_ENOMEM;
      out->base = grown;
      out->cap = (size_t)want;
    }
    size_t room = out->cap - out->len;
    if (room > limit - out->len) room = (size_t)(limit - out->len);
    if (room > UINT_MAX) room = UINT_MAX;
    z->next_out = (Bytef*)out->base + out->len;
    z->avail_out = (uInt)room;
    int r = inflate(z, Z_SYNC_FLUSH);
    out->len += room - z->avail_out;
    if (out->len > max) return CATZILLA_WS_MESSAGE_TOO_BIG;
    if (r == Z_STREAM_END) {
      /* a final block: the stream starts again (whatever follows it in this phase is ignored) */
      inflateReset(z);
      return 0;
    }
    if (r != Z_OK && r != Z_BUF_ERROR) return CATZILLA_WS_INVALID_DATA;
    if (z->avail_in == 0 && z->avail_out != 0) return 0; /* all taken, all out */
    if (r == Z_BUF_ERROR && z->avail_out != 0) return 0; /* needs input it will not get */
  }
}

int catzilla__inflate_message(catzilla__deflate_t* d, const char* data, size_t len, uint64_t max, const char** out,
                              size_t* out_len) {
  z_stream* z;
  if (d->client_no_context) {
    if (deflate__tls.inflater == NULL && (deflate__tls.inflater = deflate__new_inflater(15)) == NULL) return UV_ENOMEM;
    z = deflate__tls.inflater;
  } else {
    if (d->inflater == NULL && (d->inflater = deflate__new_inflater(d->client_window_bits)) == NULL) return UV_ENOMEM;
    z = d->inflater;
  }
  if (deflate__tls.scratch.cap > DEFLATE__SCRATCH_KEEP) catzilla__buf_free(&deflate__tls.scratch);
  deflate__tls.scratch.len = 0;
  int r = deflate__inflate_phase(z, (const unsigned char*)data, len, max);
  if (r == 0) r = deflate__inflate_phase(z, deflate__tail, sizeof(deflate__tail), max);
  if (r != 0 || d->client_no_context) inflateReset(z);
  if (r != 0) return r;
  *out = deflate__tls.scratch.base;
  *out_len = deflate__tls.scratch.len;
  return 0;
}
