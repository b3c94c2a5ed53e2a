/* Accumulating the request head: sizes, counts, Transfer-Encoding and Expect checks. */
#include "internal.h"
#include "test.h"

static catzilla__pool_t pool;
static catzilla_server_options_t opt;

static int header(catzilla__head_t* h, const char* name, const char* value) {
  int err = catzilla__head_on_field(h, name, strlen(name), &opt);
  if (err) return err;
  if (*value) {
    err = catzilla__head_on_value(h, value, strlen(value), &opt);
    if (err) return err;
  }
  return catzilla__head_on_value_complete(h);
}

static int te_status(const char* value) {
  catzilla__head_t h;
  memset(&h, 0, sizeof(h));
  h.pool = &pool;
  catzilla__head_on_url(&h, "/", 1, &opt);
  int err = header(&h, "Transfer-Encoding", value);
  int status = err ? h.error_status : 0;
  catzilla__head_release(&h);
  return status;
}

int main(void) {
  catzilla_server_options_default(&opt);
  opt.max_url_length = 16;
  opt.max_header_count = 3;
  opt.max_header_size = 256;
  catzilla__pool_init(&pool, CATZILLA__HEAD_BLOCK_SIZE);

  catzilla__head_t h;
  memset(&h, 0, sizeof(h));
  h.pool = &pool;
  CHECK_INT(catzilla__head_on_url(&h, "/a?b", 4, &opt), 0);
  CHECK_INT(catzilla__head_on_url(&h, "=c", 2, &opt), 0); /* split across reads */
  /* a field split in two, a value with trailing spaces */
  CHECK_INT(catzilla__head_on_field(&h, "Ho", 2, &opt), 0);
  CHECK_INT(catzilla__head_on_field(&h, "st", 2, &opt), 0);
  CHECK_INT(catzilla__head_on_value(&h, "example  ", 9, &opt), 0);
  CHECK_INT(catzilla__head_on_value_complete(&h), 0);
  CHECK_INT(header(&h, "X-Empty", ""), 0);
  CHECK_INT(h.url_len, 6);
  h.bytes.base[h.bytes.len] = 0;
  CHECK(h.bytes.len == strlen("/a?b=cHost: example\r\nX-Empty: \r\n"));
  CHECK(memcmp(h.bytes.base, "/a?b=cHost: example\r\nX-Empty: \r\n", h.bytes.len) == 0);
  CHECK_INT(header(&h, "Expect", "100-continue"), 0);
  CHECK(h.expect_continue);
  CHECK_INT(header(&h, "A", "b"), HPE_USER); /* fourth header */
  CHECK_INT(h.error_status, 431);
  catzilla__head_release(&h);

  memset(&h, 0, sizeof(h));
  h.pool = &pool;
  CHECK_INT(catzilla__head_on_url(&h, "/0123456789abcdefg", 18, &opt), HPE_USER);
  CHECK_INT(h.error_status, 414);
  catzilla__head_release(&h);

  memset(&h, 0, sizeof(h));
  h.pool = &pool;
  catzilla__head_on_url(&h, "/", 1, &opt);
  CHECK_INT(header(&h, "Expect", "something-else"), HPE_USER);
  CHECK_INT(h.error_status, 417);
  catzilla__head_release(&h);

  memset(&h, 0, sizeof(h));
  h.pool = &pool;
  catzilla__head_on_url(&h, "/", 1, &opt);
  char big[300];
  memset(big, 'v', sizeof(big));
  CHECK_INT(catzilla__head_on_field(&h, "Big", 3, &opt), 0);
  CHECK_INT(catzilla__head_on_value(&h, big, sizeof(big), &opt), HPE_USER);
  CHECK_INT(h.error_status, 431);
  catzilla__head_release(&h);

  memset(&h, 0, sizeof(h));
  h.pool = &pool;
  catzilla__head_on_url(&h, "/", 1, &opt);
  CHECK_INT(header(&h, "X", "a\r\n b"), HPE_USER); /* obs-fold inside a value */
  CHECK_INT(h.error_status, 400);
  catzilla__head_release(&h);

  CHECK_INT(te_status("chunked"), 0);
  CHECK_INT(te_status("Chunked"), 0);
  CHECK_INT(te_status("gzip, chunked"), 501);
  CHECK_INT(te_status("foo"), 501);
  CHECK_INT(te_status("chunked, chunked"), 400);
  CHECK_INT(te_status(" , "), 400);

  catzilla__pool_drain(&pool);
  TEST_END();
}
