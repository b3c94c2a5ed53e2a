/*
 * Chunked transfer coding (RFC 9112 7.1) around payload vectors: the size line and the
 * CRLFs are separate small buffers, so payloads are never copied to be framed.
 */
#include "internal.h"

const char catzilla__chunk_crlf[2] = {'\r', '\n'};
const char catzilla__chunk_crlf_last[7] = {'\r', '\n', '0', '\r', '\n', '\r', '\n'};
const char catzilla__chunk_last[5] = {'0', '\r', '\n', '\r', '\n'};

size_t catzilla__chunk_size_line(size_t payload, char out[24]) {
  static const char hex[] = "0123456789abcdef";
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = hex[payload & 15];
    payload >>= 4;
  } while (payload);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  out[n++] = '\r';
  out[n++] = '\n';
  return n;
}
