/*
 * The request line and header block of the request being parsed, accumulated from
 * llhttp's span callbacks (which may split any token across reads) into one block
 * `url` + "Name: value\r\n"..., with the size, count and framing checks that decide
 * 400 / 414 / 431 / 417 / 501 before any JavaScript runs.
 *
 * llhttp (>= 9.3, strict: no lenient flag is ever set) rejects bare CR/LF line ends, obs-fold,
 * whitespace before the colon and invalid tokens. What it leaves to the server is checked here:
 * Transfer-Encoding other than a single final "chunked", Expect other than 100-continue, and
 * Host (RFC 9112 3.2: exactly one, a valid authority; its absence on HTTP/1.1 is decided once
 * the head is complete, by catzilla__head_check_complete).
 */
#include "internal.h"
#include <stdlib.h>

bool catzilla__ascii_case_equal(const char* a, size_t alen, const char* b) {
  size_t blen = strlen(b);
  if (alen != blen) return false;
  for (size_t i = 0; i < alen; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    if (c != b[i]) return false;
  }
  return true;
}

void catzilla__head_reset(catzilla__head_t* head) {
  head->bytes.len = 0;
  head->url_len = 0;
  head->field_start = 0;
  head->value_start = 0;
  head->header_count = 0;
  head->error_status = 0;
  head->seen_transfer_encoding = 0;
  head->seen_host = 0;
  head->expect_continue = 0;
  head->in_value = 0;
}

void catzilla__head_release(catzilla__head_t* head) {
  if (head->bytes.base != NULL) {
    if (head->bytes.cap == head->pool->block_size)
      catzilla__pool_put(head->pool, head->bytes.base);
    else
      free(head->bytes.base);
  }
  head->bytes.base = NULL;
  head->bytes.cap = 0;
  catzilla__head_reset(head);
}

static int head__fail(catzilla__head_t* head, int status) {
  head->error_status = status;
  return HPE_USER;
}

static int head__append(catzilla__head_t* head, const char* at, size_t len, size_t limit, int status) {
  if (head->bytes.len + len > limit) return head__fail(head, status);
  if (head->bytes.base == NULL) {
    head->bytes.base = catzilla__pool_get(head->pool);
    if (head->bytes.base == NULL) return head__fail(head, 503);
    head->bytes.cap = head->pool->block_size;
  }
  if (catzilla__buf_append(&head->bytes, at, len) != 0) return head__fail(head, 503);
  return 0;
}

int catzilla__head_on_url(catzilla__head_t* head, const char* at, size_t len, const catzilla_server_options_t* opt) {
  if (head->url_len + len > opt->max_url_length) return head__fail(head, 414);
  int err = head__append(head, at, len, opt->max_header_size, 414);
  if (err) return err;
  head->url_len += len;
  return 0;
}

int catzilla__head_on_field(catzilla__head_t* head, const char* at, size_t len, const catzilla_server_options_t* opt) {
  if (head->in_value || head->header_count == 0) {
    /* a new field begins */
    if (head->header_count >= opt->max_header_count) return head__fail(head, 431);
    head->header_count++;
    head->in_value = 0;
    head->field_start = head->bytes.len;
  }
  return head__append(head, at, len, opt->max_header_size, 431);
}

int catzilla__head_on_value(catzilla__head_t* head, const char* at, size_t len, const catzilla_server_options_t* opt) {
  if (!head->in_value) {
    int err = head__append(head, ": ", 2, opt->max_header_size, 431);
    if (err) return err;
    head->in_value = 1;
    head->value_start = head->bytes.len;
  }
  return head__append(head, at, len, opt->max_header_size, 431);
}

/* Transfer-Encoding: only "chunked", once and last, is understood. */
static int head__check_transfer_encoding(catzilla__head_t* head, const char* v, size_t len) {
  if (head->seen_transfer_encoding) return head__fail(head, 400); /* repeated field */
  head->seen_transfer_encoding = 1;
  size_t chunked = 0, tokens = 0;
  size_t i = 0;
  while (i <= len) {
    size_t start = i;
    while (i < len && v[i] != ',') i++;
    size_t end = i;
    while (start < end && (v[start] == ' ' || v[start] == '\t')) start++;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
    if (end > start) {
      tokens++;
      if (catzilla__ascii_case_equal(v + start, end - start, "chunked")) chunked++;
      else return head__fail(head, 501);
    }
    i++;
  }
  if (tokens == 0 || chunked != 1) return head__fail(head, 400);
  return 0;
}

/* uri-host [ ":" port ] (RFC 3986 3.2.2, without userinfo): an IP-literal in brackets, or
 * reg-name / IPv4 characters; an empty value is allowed (RFC 9112 3.2). */
static bool head__valid_host(const char* v, size_t len) {
  size_t i = 0;
  if (len > 0 && v[0] == '[') {
    for (i = 1; i < len && v[i] != ']'; i++) {
      char c = v[i];
      bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.' ||
                c == 'v' || c == 'V';
      if (!ok) return false;
    }
    if (i == len || i == 1) return false; /* no closing bracket, or empty */
    i++;
  } else {
    for (; i < len && v[i] != ':'; i++) {
      unsigned char c = (unsigned char)v[i];
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~%!$&'()*+,;=", c);
      if (!ok || c == 0) return false;
    }
  }
  if (i == len) return true;
  if (v[i] != ':') return false;
  for (i++; i < len; i++)
    if (v[i] < '0' || v[i] > '9') return false;
  return true;
}

int catzilla__head_check_complete(catzilla__head_t* head, int http_major, int http_minor) {
  if (!head->seen_host && http_major == 1 && http_minor >= 1) return head__fail(head, 400);
  return 0;
}

int catzilla__head_on_value_complete(catzilla__head_t* head) {
  if (!head->in_value) {
    /* empty value: llhttp skips on_header_value */
    if (catzilla__buf_append(&head->bytes, ": ", 2) != 0) return head__fail(head, 503);
    head->in_value = 1;
    head->value_start = head->bytes.len;
  }
  /* trim trailing whitespace of the value */
  while (head->bytes.len > head->value_start &&
         (head->bytes.base[head->bytes.len - 1] == ' ' || head->bytes.base[head->bytes.len - 1] == '\t'))
    head->bytes.len--;
  const char* name = head->bytes.base + head->field_start;
  size_t name_len = head->value_start - 2 - head->field_start;
  const char* value = head->bytes.base + head->value_start;
  size_t value_len = head->bytes.len - head->value_start;
  for (size_t i = 0; i < value_len; i++) {
    /* obs-fold and bare CR/LF inside a value are smuggling shapes */
    if (value[i] == '\r' || value[i] == '\n') return head__fail(head, 400);
  }
  if (catzilla__ascii_case_equal(name, name_len, "transfer-encoding")) {
    int err = head__check_transfer_encoding(head, value, value_len);
    if (err) return err;
  } else if (catzilla__ascii_case_equal(name, name_len, "host")) {
    if (head->seen_host || !head__valid_host(value, value_len)) return head__fail(head, 400);
    head->seen_host = 1;
  } else if (catzilla__ascii_case_equal(name, name_len, "expect")) {
    if (catzilla__ascii_case_equal(value, value_len, "100-continue")) head->expect_continue = 1;
    else return head__fail(head, 417);
  }
  if (catzilla__buf_append(&head->bytes, "\r\n", 2) != 0) return head__fail(head, 503);
  return 0;
}
