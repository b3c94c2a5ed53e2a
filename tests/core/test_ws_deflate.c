/* permessage-deflate (ws_deflate.c): messages of many sizes round-trip with and without context
 * takeover and at every window size, against zlib used the way a client does; the same payload
 * for many no-context connections is compressed once; inflate stops a zip bomb at max + 1 bytes
 * of output (1009) and rejects bytes that are not DEFLATE (1007); what zlib holds per connection
 * is measured; everything is freed (LeakSanitizer). */
#include <zlib.h>
#include "internal.h"
#include "test.h"

static catzilla__deflate_t* make(int server_no_context, int client_no_context, int bits, int mem_level) {
  catzilla_ws_options_t o;
  catzilla_ws_options_default(&o);
  o.deflate = 1;
  o.deflate_threshold = 0;
  o.server_no_context_takeover = server_no_context;
  o.client_no_context_takeover = client_no_context;
  o.server_max_window_bits = bits;
  o.client_max_window_bits = bits;
  o.mem_level = mem_level;
  catzilla__deflate_t* d = NULL;
  CHECK_INT(catzilla__deflate_new(&o, &d), 0);
  return d;
}

/* A client's side: raw deflate with a sync flush, tail removed (or the reverse to read). */
static size_t client_compress(z_stream* z, const char* in, size_t len, unsigned char* out, size_t cap) {
  z->next_in = (Bytef*)in;
  z->avail_in = (uInt)len;
  z->next_out = out;
  z->avail_out = (uInt)cap;
  int r = deflate(z, Z_SYNC_FLUSH);
  size_t n = cap - z->avail_out;
  if (r == Z_BUF_ERROR && n == 0 && len == 0) { /* an empty message right after a flush */
    out[0] = 0;
    return 1;
  }
  CHECK(r == Z_OK);
  CHECK(n >= 4 && memcmp(out + n - 4, "\x00\x00\xff\xff", 4) == 0);
  return n - 4;
}

static size_t client_inflate(z_stream* z, const char* in, size_t len, char* out, size_t cap) {
  unsigned char* buf = malloc(len + 4);
  memcpy(buf, in, len);
  memcpy(buf + len, "\x00\x00\xff\xff", 4);
  z->next_in = buf;
  z->avail_in = (uInt)(len + 4);
  z->next_out = (Bytef*)out;
  z->avail_out = (uInt)cap;
  int r = inflate(z, Z_SYNC_FLUSH);
  CHECK(r == Z_OK || r == Z_BUF_ERROR);
  CHECK_INT(z->avail_in, 0);
  free(buf);
  return cap - z->avail_out;
}

static void fill(char* p, size_t n, unsigned seed) {
  /* half text-like, half noise: compressible but not trivially */
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (i & 64) ? (char)("{\"user\":\"ann\",\"n\":12}"[i % 21]) : (char)(seed >> 16);
  }
}

static void test_round_trips(void) {
  static const size_t sizes[] = {0, 1, 2, 16, 125, 126, 127, 1000, 4096, 65535, 65536, 131072, 1 << 20};
  char* msg = malloc(1 << 20);
  char* back = malloc((1 << 20) + 16);
  unsigned char* wire = malloc((1 << 21));
  for (int takeover = 0; takeover < 2; takeover++) {
    for (int bits = 9; bits <= 15; bits += 3) {
      catzilla__deflate_t* d = make(!takeover, !takeover, bits, 8);
      z_stream client_in = {0}, client_out = {0};
      CHECK(inflateInit2(&client_in, -bits) == Z_OK);
      CHECK(deflateInit2(&client_out, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
      for (int rep = 0; rep < 2; rep++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
          size_t n = sizes[i];
          fill(msg, n, (unsigned)(n + rep));
          /* server -> client */
          catzilla__deflated_t z;
          CHECK_INT(catzilla__deflate_message(d, msg, n, &z), 0);
          CHECK(z.len >= 1);
          size_t got = client_inflate(&client_in, z.data, z.len, back, (1 << 20) + 16);
          if (!takeover) inflateReset(&client_in);
          CHECK_INT(got, n);
          CHECK(got != n || memcmp(back, msg, n) == 0);
          z.release(z.release_arg);
          /* client -> server */
          size_t wn = client_compress(&client_out, msg, n, wire, 1 << 21);
          if (!takeover) deflateReset(&client_out);
          const char* plain;
          size_t plain_len;
          CHECK_INT(catzilla__inflate_message(d, (const char*)wire, wn, 1 << 20, &plain, &plain_len), 0);
          CHECK_INT(plain_len, n);
          CHECK(plain_len != n || n == 0 || memcmp(plain, msg, n) == 0);
        }
      }
      inflateEnd(&client_in);
      deflateEnd(&client_out);
      catzilla__deflate_free(d);
    }
  }
  CHECK_INT(catzilla__deflate_zlib_bytes(), 0); /* the last connection took the shared streams with it */
  free(msg);
  free(back);
  free(wire);
}

static void test_compress_once(void) {
  catzilla__deflate_t* a = make(1, 0, 15, 8);
  catzilla__deflate_t* b = make(1, 0, 15, 8);
  catzilla__deflate_t* other = make(1, 0, 12, 8);
  catzilla__deflate_t* takeover = make(0, 0, 15, 8);
  char msg[200];
  fill(msg, sizeof(msg), 7);
  catzilla__deflated_t za, zb, zo, zt, zc;
  CHECK_INT(catzilla__deflate_message(a, msg, sizeof(msg), &za), 0);
  CHECK(!za.reused);
  CHECK_INT(catzilla__deflate_message(b, msg, sizeof(msg), &zb), 0);
  CHECK(zb.reused && zb.data == za.data); /* the same bytes, referenced */
  CHECK_INT(catzilla__deflate_message(other, msg, sizeof(msg), &zo), 0);
  CHECK(!zo.reused && zo.data != za.data); /* other parameters: compressed for them */
  CHECK_INT(catzilla__deflate_message(takeover, msg, sizeof(msg), &zt), 0);
  CHECK(!zt.reused); /* context takeover never shares */
  msg[100] ^= 1;
  CHECK_INT(catzilla__deflate_message(b, msg, sizeof(msg), &zc), 0);
  CHECK(!zc.reused); /* a different payload */
  /* the first block outlives the cache that dropped it, until its last reference goes */
  za.release(za.release_arg);
  zb.release(zb.release_arg);
  zo.release(zo.release_arg);
  zt.release(zt.release_arg);
  zc.release(zc.release_arg);
  catzilla__deflate_free(a);
  catzilla__deflate_free(b);
  catzilla__deflate_free(other);
  catzilla__deflate_free(takeover);
}

static void test_zip_bomb(void) {
  /* 64 MiB of zeros compress to ~64 KiB; the limit is 1 MiB */
  size_t big = 64u << 20;
  z_stream c = {0};
  CHECK(deflateInit2(&c, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  char* zeros = calloc(1, 1 << 20);
  size_t cap = 1 << 20;
  unsigned char* wire = malloc(cap);
  size_t wn = 0;
  for (size_t done = 0; done < big; done += 1 << 20) {
    c.next_in = (Bytef*)zeros;
    c.avail_in = 1 << 20;
    c.next_out = wire + wn;
    c.avail_out = (uInt)(cap - wn);
    CHECK(deflate(&c, done + (1 << 20) >= big ? Z_SYNC_FLUSH : Z_NO_FLUSH) == Z_OK);
    wn = cap - c.avail_out;
  }
  deflateEnd(&c);
  CHECK(wn < 128 * 1024);
  for (int takeover = 0; takeover < 2; takeover++) {
    catzilla__deflate_t* d = make(1, !takeover, 15, 8);
    const char* plain;
    size_t plain_len;
    CHECK_INT(catzilla__inflate_message(d, (const char*)wire, wn - 4, 1 << 20, &plain, &plain_len),
              CATZILLA_WS_MESSAGE_TOO_BIG);
    /* what was held meanwhile: the output stopped at 1 MiB + 1, zlib's inflate state ~40 KiB */
    CHECK(catzilla__deflate_zlib_bytes() < 64 * 1024);
    /* a stream that failed is not reused wrongly: a small message still inflates (no-context) */
    if (!takeover) {
      z_stream cc = {0};
      unsigned char w2[64];
      CHECK(deflateInit2(&cc, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
      size_t n2 = client_compress(&cc, "hello", 5, w2, sizeof(w2));
      deflateEnd(&cc);
      CHECK_INT(catzilla__inflate_message(d, (const char*)w2, n2, 1 << 20, &plain, &plain_len), 0);
      CHECK(plain_len == 5 && memcmp(plain, "hello", 5) == 0);
    }
    catzilla__deflate_free(d);
  }
  /* not DEFLATE at all: 1007 */
  catzilla__deflate_t* d = make(1, 1, 15, 8);
  const char* plain;
  size_t plain_len;
  static const char junk[] = "\xff\xff\xff\xff\xff\xff";
  CHECK_INT(catzilla__inflate_message(d, junk, sizeof(junk) - 1, 1 << 20, &plain, &plain_len), CATZILLA_WS_INVALID_DATA);
  catzilla__deflate_free(d);
  free(zeros);
  free(wire);
}

/* What zlib holds for one connection, by parameters (printed for the README), and that the
 * no-context-takeover connections hold nothing of their own. */
static void test_memory(void) {
  char msg[4096];
  fill(msg, sizeof(msg), 3);
  struct {
    int server_no_context, client_no_context, bits, mem_level;
  } cases[] = {{0, 0, 15, 8}, {0, 0, 15, 9}, {0, 0, 10, 4}, {0, 0, 9, 1}, {1, 0, 15, 8}, {1, 1, 15, 8}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    /* two connections: the second one's cost is what one more connection costs */
    catzilla__deflate_t* d1 = make(cases[i].server_no_context, cases[i].client_no_context, cases[i].bits, cases[i].mem_level);
    catzilla__deflate_t* d2 = make(cases[i].server_no_context, cases[i].client_no_context, cases[i].bits, cases[i].mem_level);
    z_stream c = {0};
    unsigned char wire[8192];
    CHECK(deflateInit2(&c, 6, Z_DEFLATED, -cases[i].bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t wn = client_compress(&c, msg, sizeof(msg), wire, sizeof(wire));
    deflateEnd(&c);
    const char* plain;
    size_t plain_len;
    catzilla__deflated_t z;
    CHECK_INT(catzilla__deflate_message(d1, msg, sizeof(msg), &z), 0);
    z.release(z.release_arg);
    CHECK_INT(catzilla__inflate_message(d1, (const char*)wire, wn, 1 << 20, &plain, &plain_len), 0);
    size_t one = catzilla__deflate_zlib_bytes();
    msg[0] ^= 1; /* not the cached payload */
    CHECK_INT(catzilla__deflate_message(d2, msg, sizeof(msg), &z), 0);
    z.release(z.release_arg);
    CHECK_INT(catzilla__inflate_message(d2, (const char*)wire, wn, 1 << 20, &plain, &plain_len), 0);
    size_t per = catzilla__deflate_zlib_bytes() - one;
    fprintf(stderr, "zlib per connection: server_no_context=%d client_no_context=%d bits=%d memLevel=%d: %zu bytes (first connection %zu)\n",
            cases[i].server_no_context, cases[i].client_no_context, cases[i].bits, cases[i].mem_level, per, one);
    if (cases[i].server_no_context && cases[i].client_no_context) CHECK_INT(per, 0);
    if (!cases[i].server_no_context && cases[i].bits == 15 && cases[i].mem_level == 8) CHECK(per < 320 * 1024);
    catzilla__deflate_free(d1);
    catzilla__deflate_free(d2);
  }
  CHECK_INT(catzilla__deflate_zlib_bytes(), 0);
}

int main(void) {
  test_round_trips();
  test_compress_once();
  test_zip_bomb();
  test_memory();
  TEST_END();
}
