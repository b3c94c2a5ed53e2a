/*
 * Serializing a whole response: status line, the caller's header block, Date,
 * Content-Length and Connection, then the body, into one contiguous buffer so a
 * small response leaves in one write.
 */
#include "internal.h"
#include <stdio.h>

static size_t response__u64(char* out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

#define APPEND_LIT(out, lit) (memcpy((out)->base + (out)->len, lit, sizeof(lit) - 1), (out)->len += sizeof(lit) - 1)

static void response__append(catzilla__buf_t* out, const char* s, size_t n) {
  if (n == 0) return;
  memcpy(out->base + out->len, s, n);
  out->len += n;
}

static void response__status_line(catzilla__buf_t* out, int status) {
  const char* reason = catzilla_status_reason(status);
  APPEND_LIT(out, "HTTP/1.1 ");
  out->len += response__u64(out->base + out->len, (uint64_t)status);
  out->base[out->len++] = ' ';
  response__append(out, reason, strlen(reason));
  APPEND_LIT(out, "\r\n");
}

static void response__date(catzilla_server_t* server, catzilla__buf_t* out) {
  size_t date_len;
  const char* date = catzilla__date_now(&server->date, &date_len);
  APPEND_LIT(out, "Date: ");
  response__append(out, date, date_len);
  APPEND_LIT(out, "\r\n");
}

void catzilla__stats_count_status(catzilla_server_t* server, int status) {
  int cls = status / 100;
  if (cls >= 1 && cls <= 5) server->stats.responses[cls]++;
}

int catzilla__response_head(catzilla_server_t* server, catzilla__conn_t* conn, int status,
                            const char* headers, size_t headers_len, const char* framing, size_t framing_len,
                            bool close, catzilla__buf_t* out) {
  int err = catzilla__buf_reserve(out, 160 + headers_len + framing_len);
  if (err) return err;
  response__status_line(out, status);
  response__append(out, headers, headers_len);
  response__date(server, out);
  response__append(out, framing, framing_len);
  if (close)
    APPEND_LIT(out, "Connection: close\r\n");
  else if (conn->http10)
    APPEND_LIT(out, "Connection: keep-alive\r\n");
  APPEND_LIT(out, "\r\n");
  return 0;
}

int catzilla__response_serialize(catzilla_server_t* server, catzilla__conn_t* conn,
                                 const catzilla_response_t* response, bool close, bool send_body,
                                 catzilla__buf_t* out) {
  char length[48] = "Content-Length: ";
  size_t length_len = 0;
  if (!(response->flags & CATZILLA_RESP_NO_CONTENT_LENGTH)) {
    length_len = 16;
    length_len += response__u64(length + length_len, response->body_len);
    length[length_len++] = '\r';
    length[length_len++] = '\n';
  }
  size_t body_bytes = send_body ? response->body_len : 0;
  int err = catzilla__buf_reserve(out, 200 + response->headers_len + body_bytes);
  if (err) return err;
  err = catzilla__response_head(server, conn, response->status, response->headers, response->headers_len,
                                length, length_len, close, out);
  if (err) return err;
  if (body_bytes) response__append(out, response->body, body_bytes);
  return 0;
}

int catzilla__response_error_bytes(catzilla_server_t* server, int status, catzilla__buf_t* out) {
  const char* reason = catzilla_status_reason(status);
  size_t reason_len = strlen(reason);
  int err = catzilla__buf_reserve(out, 200 + reason_len);
  if (err) return err;
  response__status_line(out, status);
  APPEND_LIT(out, "Content-Type: text/plain; charset=utf-8\r\n");
  APPEND_LIT(out, "Content-Length: ");
  out->len += response__u64(out->base + out->len, reason_len);
  APPEND_LIT(out, "\r\n");
  response__date(server, out);
  APPEND_LIT(out, "Connection: close\r\n\r\n");
  response__append(out, reason, reason_len);
  return 0;
}
