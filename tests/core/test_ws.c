/* The RFC 6455 frame codec: client frames built here (masked), fed whole and one byte at a
 * time; every rule that makes a peer fail the connection, with its close code; server frame
 * headers at the 7/16/64-bit length boundaries; UTF-8 validation edge cases. */
#include "internal.h"
#include "test.h"

typedef struct {
  int opcodes[16];
  char data[16][300];
  size_t lens[16];
  int count;
  int stop_after; /* stop parsing after this many events (0 = never) */
} events_t;

static int on_event(void* arg, int opcode, const char* data, size_t len) {
  events_t* e = arg;
  if (e->count < 16) {
    e->opcodes[e->count] = opcode;
    e->lens[e->count] = len;
    if (len > 0) memcpy(e->data[e->count], data, len < 300 ? len : 300);
    e->count++;
  }
  return e->stop_after && e->count >= e->stop_after ? -1 : 0;
}

/* A masked client frame into out; returns its size. */
static size_t client_frame(unsigned char* out, int b0, const char* payload, size_t len) {
  static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t n = 0;
  out[n++] = (unsigned char)b0;
  if (len < 126) {
    out[n++] = (unsigned char)(0x80 | len);
  } else if (len <= 0xffff) {
    out[n++] = 0x80 | 126;
    out[n++] = (unsigned char)(len >> 8);
    out[n++] = (unsigned char)len;
  } else {
    out[n++] = 0x80 | 127;
    for (int i = 0; i < 8; i++) out[n++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
  }
  memcpy(out + n, mask, 4);
  n += 4;
  for (size_t i = 0; i < len; i++) out[n + i] = (unsigned char)(payload[i] ^ mask[i & 3]);
  return n + len;
}

/* Parses `len` bytes whole, then again one byte at a time, and checks both agree. */
static int parse_both(const unsigned char* bytes, size_t len, uint64_t max, events_t* out) {
  catzilla_ws_parser_t whole, bytewise;
  events_t e2;
  memset(out, 0, sizeof(*out));
  memset(&e2, 0, sizeof(e2));
  catzilla_ws_parser_init(&whole, max);
  catzilla_ws_parser_init(&bytewise, max);
  size_t used = 0;
  int r1 = catzilla_ws_parse(&whole, (const char*)bytes, len, &used, on_event, out);
  int r2 = 0;
  for (size_t i = 0; i < len && r2 == 0; i++) {
    size_t u = 0;
    r2 = catzilla_ws_parse(&bytewise, (const char*)bytes + i, 1, &u, on_event, &e2);
  }
  CHECK_INT(r2, r1);
  CHECK_INT(e2.count, out->count);
  for (int i = 0; i < out->count && i < e2.count; i++) {
    CHECK_INT(e2.opcodes[i], out->opcodes[i]);
    CHECK_INT(e2.lens[i], out->lens[i]);
  }
  catzilla_ws_parser_free(&whole);
  catzilla_ws_parser_free(&bytewise);
  return r1;
}

static void test_messages(void) {
  unsigned char buf[70000 + 64];
  events_t e;
  size_t n = client_frame(buf, 0x81, "Hello", 5);
  CHECK_INT(parse_both(buf, n, 1 << 20, &e), 0);
  CHECK_INT(e.count, 1);
  CHECK_INT(e.opcodes[0], CATZILLA_WS_TEXT);
  CHECK(e.lens[0] == 5 && memcmp(e.data[0], "Hello", 5) == 0);

  /* fragmented text with a ping in the middle, then a binary of 300 bytes (16-bit length) */
  n = client_frame(buf, 0x01, "Hel", 3);
  n += client_frame(buf + n, 0x89, "p", 1);
  n += client_frame(buf + n, 0x80, "lo", 2);
  char big[300];
  for (int i = 0; i < 300; i++) big[i] = (char)i;
  n += client_frame(buf + n, 0x82, big, 300);
  CHECK_INT(parse_both(buf, n, 1 << 20, &e), 0);
  CHECK_INT(e.count, 3);
  CHECK_INT(e.opcodes[0], CATZILLA_WS_PING);
  CHECK_INT(e.opcodes[1], CATZILLA_WS_TEXT);
  CHECK(e.lens[1] == 5 && memcmp(e.data[1], "Hello", 5) == 0);
  CHECK_INT(e.opcodes[2], CATZILLA_WS_BINARY);
  CHECK(e.lens[2] == 300 && memcmp(e.data[2], big, 300) == 0);

  /* 64-bit length (70,000 bytes), empty messages, a close with code and reason */
  static char huge[70000];
  memset(huge, 'x', sizeof(huge));
  n = client_frame(buf, 0x82, huge, sizeof(huge));
  CHECK_INT(parse_both(buf, n, 1 << 20, &e), 0);
  CHECK_INT(e.count, 1);
  CHECK_INT(e.lens[0], 70000);
  n = client_frame(buf, 0x81, "", 0);
  n += client_frame(buf + n, 0x88, "\x03\xe8" "bye", 5);
  CHECK_INT(parse_both(buf, n, 1 << 20, &e), 0);
  CHECK_INT(e.count, 2);
  CHECK_INT(e.lens[0], 0);
  CHECK_INT(e.opcodes[1], CATZILLA_WS_CLOSE);
  CHECK(e.lens[1] == 5 && memcmp(e.data[1], "\x03\xe8" "bye", 5) == 0);
}

static void test_stop(void) {
  /* the callback stops after the close frame: `used` ends right after it */
  unsigned char buf[256];
  size_t a = client_frame(buf, 0x88, "\x03\xe8", 2);
  size_t n = a + client_frame(buf + a, 0x81, "after", 5);
  catzilla_ws_parser_t p;
  catzilla_ws_parser_init(&p, 1024);
  events_t e;
  memset(&e, 0, sizeof(e));
  e.stop_after = 1;
  size_t used = 0;
  CHECK(catzilla_ws_parse(&p, (const char*)buf, n, &used, on_event, &e) < 0);
  CHECK_INT(used, a);
  CHECK_INT(e.count, 1);
  catzilla_ws_parser_free(&p);
}

static void expect_fail(const unsigned char* bytes, size_t len, uint64_t max, int code, const char* what) {
  events_t e;
  int r = parse_both(bytes, len, max, &e);
  if (r != code) fprintf(stderr, "case: %s\n", what);
  CHECK_INT(r, code);
}

static void test_failures(void) {
  unsigned char buf[512];
  size_t n;
  /* unmasked */
  unsigned char unmasked[] = {0x81, 0x02, 'h', 'i'};
  expect_fail(unmasked, sizeof(unmasked), 1024, CATZILLA_WS_PROTOCOL_ERROR, "unmasked frame");
  n = client_frame(buf, 0xC1, "hi", 2);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "RSV1 without an extension");
  n = client_frame(buf, 0x83, "hi", 2);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "reserved data opcode");
  n = client_frame(buf, 0x8B, "", 0);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "reserved control opcode");
  n = client_frame(buf, 0x09, "p", 1);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "fragmented ping");
  char long_ping[126];
  memset(long_ping, 'p', sizeof(long_ping));
  n = client_frame(buf, 0x89, long_ping, 126);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "ping over 125 bytes");
  n = client_frame(buf, 0x80, "x", 1);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "continuation without a start");
  n = client_frame(buf, 0x01, "a", 1);
  n += client_frame(buf + n, 0x81, "b", 1);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "new message inside a fragmented one");
  n = client_frame(buf, 0x88, "\x03", 1);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "close payload of one byte");
  n = client_frame(buf, 0x88, "\x03\xed", 2); /* 1005 */
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "close code 1005 on the wire");
  n = client_frame(buf, 0x88, "\x00\x05", 2);
  expect_fail(buf, n, 1024, CATZILLA_WS_PROTOCOL_ERROR, "close code 5");
  n = client_frame(buf, 0x88, "\x03\xe8\xff", 3);
  expect_fail(buf, n, 1024, CATZILLA_WS_INVALID_DATA, "close reason not UTF-8");
  n = client_frame(buf, 0x81, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", 14);
  expect_fail(buf, n, 1024, CATZILLA_WS_INVALID_DATA, "text with a surrogate");
  n = client_frame(buf, 0x01, "\xe2\x82", 2);
  n += client_frame(buf + n, 0x80, "", 0);
  expect_fail(buf, n, 1024, CATZILLA_WS_INVALID_DATA, "text ending mid-character");
  char payload[300];
  memset(payload, 'a', sizeof(payload));
  n = client_frame(buf, 0x82, payload, 300);
  expect_fail(buf, n, 299, CATZILLA_WS_MESSAGE_TOO_BIG, "message over the limit in one frame");
  n = client_frame(buf, 0x02, payload, 200);
  n += client_frame(buf + n, 0x80, payload, 100);
  expect_fail(buf, n, 299, CATZILLA_WS_MESSAGE_TOO_BIG, "message over the limit in fragments");
  /* a 16-bit length that fits in 7 bits is not minimal */
  unsigned char not_minimal[] = {0x81, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
  expect_fail(not_minimal, sizeof(not_minimal), 1024, CATZILLA_WS_PROTOCOL_ERROR, "non-minimal length");
  /* a failed parser keeps failing */
  catzilla_ws_parser_t p;
  catzilla_ws_parser_init(&p, 1024);
  events_t e;
  memset(&e, 0, sizeof(e));
  size_t used;
  CHECK_INT(catzilla_ws_parse(&p, (const char*)unmasked, sizeof(unmasked), &used, on_event, &e), 1002);
  n = client_frame(buf, 0x81, "ok", 2);
  CHECK_INT(catzilla_ws_parse(&p, (const char*)buf, n, &used, on_event, &e), 1002);
  CHECK_INT(e.count, 0);
  catzilla_ws_parser_free(&p);
}

static void test_utf8(void) {
  struct {
    const char* s;
    int ok; /* 1 valid, 0 invalid, 2 valid prefix (incomplete) */
  } cases[] = {
      {"plain ascii", 1},
      {"\xc2\xa9", 1},                 /* U+00A9 */
      {"\xe2\x82\xac", 1},             /* U+20AC */
      {"\xf0\x9f\x98\x80", 1},         /* U+1F600 */
      {"\xf4\x8f\xbf\xbf", 1},         /* U+10FFFF */
      {"\xc0\xaf", 0},                 /* overlong */
      {"\xe0\x80\xaf", 0},             /* overlong */
      {"\xed\xa0\x80", 0},             /* surrogate */
      {"\xf4\x90\x80\x80", 0},         /* > U+10FFFF */
      {"\xf5", 0},
      {"\x80", 0},                     /* lone continuation */
      {"\xe2\x82", 2},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint32_t st = 0;
    bool ok = catzilla__utf8_step(&st, (const uint8_t*)cases[i].s, strlen(cases[i].s));
    int got = !ok ? 0 : st == 0 ? 1 : 2;
    if (got != cases[i].ok) fprintf(stderr, "utf8 case %zu\n", i);
    CHECK_INT(got, cases[i].ok);
  }
}

static void test_server_headers(void) {
  uint8_t h[CATZILLA_WS_MAX_HEADER];
  CHECK_INT(catzilla_ws_frame_header(h, CATZILLA_WS_TEXT, 1, 5), 2);
  CHECK(h[0] == 0x81 && h[1] == 5);
  CHECK_INT(catzilla_ws_frame_header(h, CATZILLA_WS_BINARY, 1, 125), 2);
  CHECK_INT(catzilla_ws_frame_header(h, CATZILLA_WS_BINARY, 1, 126), 4);
  CHECK(h[0] == 0x82 && h[1] == 126 && h[2] == 0 && h[3] == 126);
  CHECK_INT(catzilla_ws_frame_header(h, CATZILLA_WS_BINARY, 0, 65535), 4);
  CHECK(h[0] == 0x02 && h[2] == 0xff && h[3] == 0xff);
  CHECK_INT(catzilla_ws_frame_header(h, CATZILLA_WS_BINARY, 1, 65536), 10);
  CHECK(h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0);
  char c[CATZILLA_WS_MAX_CONTROL];
  CHECK_INT(catzilla_ws_close_payload(c, 1000, "bye", 3), 5);
  CHECK(memcmp(c, "\x03\xe8" "bye", 5) == 0);
  CHECK_INT(catzilla_ws_close_payload(c, 0, "ignored", 7), 0);
  char reason[200];
  memset(reason, 'r', sizeof(reason));
  CHECK_INT(catzilla_ws_close_payload(c, 1001, reason, sizeof(reason)), CATZILLA_WS_MAX_CONTROL);
  CHECK(catzilla_ws_close_code_valid(1000) && catzilla_ws_close_code_valid(4999) && catzilla_ws_close_code_valid(1011));
  CHECK(!catzilla_ws_close_code_valid(1005) && !catzilla_ws_close_code_valid(1006) && !catzilla_ws_close_code_valid(999));
  CHECK(!catzilla_ws_close_code_valid(1016) && !catzilla_ws_close_code_valid(5000) && !catzilla_ws_close_code_valid(2999));
}

/* Parses with permessage-deflate agreed and a fragment limit; returns the parse result. */
static int parse_ext(const unsigned char* bytes, size_t len, uint32_t max_fragments, events_t* e) {
  catzilla_ws_parser_t p;
  catzilla_ws_parser_init(&p, 1 << 20);
  p.allow_rsv1 = true;
  p.max_fragments = max_fragments;
  memset(e, 0, sizeof(*e));
  size_t used = 0;
  int r = catzilla_ws_parse(&p, (const char*)bytes, len, &used, on_event, e);
  catzilla_ws_parser_free(&p);
  return r;
}

static void test_extension_bits(void) {
  unsigned char buf[4096];
  events_t e;
  /* RSV1 on the first frame: reported compressed, its bytes untouched and its UTF-8 unchecked */
  size_t n = client_frame(buf, 0xC1, "\xff\x00", 2);
  CHECK_INT(parse_ext(buf, n, 0, &e), 0);
  CHECK_INT(e.count, 1);
  CHECK_INT(e.opcodes[0], CATZILLA_WS_TEXT | CATZILLA_WS_RSV1);
  /* fragmented: RSV1 on the first frame only */
  n = client_frame(buf, 0x42, "ab", 2);
  n += client_frame(buf + n, 0x80, "cd", 2);
  CHECK_INT(parse_ext(buf, n, 0, &e), 0);
  CHECK_INT(e.opcodes[0], CATZILLA_WS_BINARY | CATZILLA_WS_RSV1);
  CHECK_INT(e.lens[0], 4);
  /* the next message without RSV1 is plain again */
  n = client_frame(buf, 0xC1, "x", 1);
  n += client_frame(buf + n, 0x81, "y", 1);
  CHECK_INT(parse_ext(buf, n, 0, &e), 0);
  CHECK_INT(e.opcodes[1], CATZILLA_WS_TEXT);
  n = client_frame(buf, 0x42, "ab", 2);
  n += client_frame(buf + n, 0xC0, "cd", 2);
  CHECK_INT(parse_ext(buf, n, 0, &e), CATZILLA_WS_PROTOCOL_ERROR); /* RSV1 on a continuation */
  n = client_frame(buf, 0xC9, "p", 1);
  CHECK_INT(parse_ext(buf, n, 0, &e), CATZILLA_WS_PROTOCOL_ERROR); /* a compressed ping */
  n = client_frame(buf, 0xC8, "\x03\xe8", 2);
  CHECK_INT(parse_ext(buf, n, 0, &e), CATZILLA_WS_PROTOCOL_ERROR); /* a compressed close */
  n = client_frame(buf, 0xA1, "x", 1);
  CHECK_INT(parse_ext(buf, n, 0, &e), CATZILLA_WS_PROTOCOL_ERROR); /* RSV2 */
  n = client_frame(buf, 0x91, "x", 1);
  CHECK_INT(parse_ext(buf, n, 0, &e), CATZILLA_WS_PROTOCOL_ERROR); /* RSV3 */
  /* fragments per message: 4 allowed, the 5th fails with 1008 */
  n = client_frame(buf, 0x01, "a", 1);
  for (int i = 0; i < 2; i++) n += client_frame(buf + n, 0x00, "", 0);
  n += client_frame(buf + n, 0x80, "z", 1);
  CHECK_INT(parse_ext(buf, n, 4, &e), 0);
  CHECK_INT(e.count, 1);
  n = client_frame(buf, 0x01, "a", 1);
  for (int i = 0; i < 3; i++) n += client_frame(buf + n, 0x00, "", 0);
  n += client_frame(buf + n, 0x80, "z", 1);
  CHECK_INT(parse_ext(buf, n, 4, &e), CATZILLA_WS_POLICY);
  /* control frames between fragments do not count */
  n = client_frame(buf, 0x01, "a", 1);
  for (int i = 0; i < 10; i++) n += client_frame(buf + n, 0x89, "", 0);
  n += client_frame(buf + n, 0x80, "z", 1);
  CHECK_INT(parse_ext(buf, n, 2, &e), 0);
  CHECK_INT(e.count, 11);
}

int main(void) {
  test_extension_bits();
  test_messages();
  test_stop();
  test_failures();
  test_utf8();
  test_server_headers();
  TEST_END();
}
