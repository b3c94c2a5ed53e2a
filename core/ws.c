/*
 * RFC 6455 frame codec: an incremental parser of client frames (masked, validated,
 * unmasked, fragments assembled into whole messages) and the header of server frames.
 *
 * The parser takes bytes as they arrive, in pieces of any size, and reports each whole
 * message (text, binary) and each control frame (close, ping, pong) through one callback.
 * Anything RFC 6455 forbids ends the parse with the close code the peer must get:
 * 1002 protocol error (unmasked frame, reserved bits or opcodes, a control frame that is
 * long or fragmented, a continuation out of sequence, a bad close payload), 1007 invalid
 * UTF-8 in a text message or a close reason, 1009 a message over the size limit, 1008 a
 * message in more than max_fragments frames. With permessage-deflate (allow_rsv1) a message
 * whose first frame has RSV1 is reported compressed, for ws_conn.c to inflate and check.
 */
#include "internal.h"
#include <stdlib.h>

/* A message buffer larger than this is freed after its message, not kept for the next. */
#define CATZILLA__WS_KEEP_CAPACITY (64 * 1024)

/* ---- UTF-8, incrementally: the state packs the continuation bytes still needed and the
 * range the next one must fall in (overlongs, surrogates and > U+10FFFF are excluded). ---- */

#define UTF8_STATE(need, lo, hi) ((uint32_t)(need) | ((uint32_t)(lo) << 8) | ((uint32_t)(hi) << 16))

bool catzilla__utf8_step(uint32_t* state, const uint8_t* s, size_t len) {
  uint32_t st = *state;
  for (size_t i = 0; i < len; i++) {
    uint8_t b = s[i];
    if ((st & 0xff) == 0) {
      if (b < 0x80) continue;
      if (b >= 0xC2 && b <= 0xDF) st = UTF8_STATE(1, 0x80, 0xBF);
      else if (b == 0xE0) st = UTF8_STATE(2, 0xA0, 0xBF);
      else if (b == 0xED) st = UTF8_STATE(2, 0x80, 0x9F);
      else if (b >= 0xE1 && b <= 0xEF) st = UTF8_STATE(2, 0x80, 0xBF);
      else if (b == 0xF0) st = UTF8_STATE(3, 0x90, 0xBF);
      else if (b >= 0xF1 && b <= 0xF3) st = UTF8_STATE(3, 0x80, 0xBF);
      else if (b == 0xF4) st = UTF8_STATE(3, 0x80, 0x8F);
      else return false;
    } else {
      uint8_t lo = (uint8_t)(st >> 8), hi = (uint8_t)(st >> 16);
      if (b < lo || b > hi) return false;
      uint32_t need = (st & 0xff) - 1;
      st = need == 0 ? 0 : UTF8_STATE(need, 0x80, 0xBF);
    }
  }
  *state = st;
  return true;
}

/* ---- server frames ---- */

size_t catzilla_ws_frame_header(uint8_t out[CATZILLA_WS_MAX_HEADER], int opcode, int fin, uint64_t len) {
  out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & (0x0f | CATZILLA_WS_RSV1)));
  if (len < 126) {
    out[1] = (uint8_t)len;
    return 2;
  }
  if (len <= 0xffff) {
    out[1] = 126;
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
  return 10;
}

size_t catzilla_ws_close_payload(char out[CATZILLA_WS_MAX_CONTROL], int code, const char* reason, size_t reason_len) {
  if (code <= 0) return 0;
  if (reason_len > CATZILLA_WS_MAX_CONTROL - 2) reason_len = CATZILLA_WS_MAX_CONTROL - 2;
  out[0] = (char)(code >> 8);
  out[1] = (char)code;
  if (reason_len > 0) memcpy(out + 2, reason, reason_len);
  return 2 + reason_len;
}

bool catzilla_ws_close_code_valid(int code) {
  /* RFC 6455 7.4: codes an endpoint may send (1004-1006 and 1015 are reserved; 3000-4999 are
   * for libraries and applications). */
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

/* ---- the parser ---- */

void catzilla_ws_parser_init(catzilla_ws_parser_t* p, uint64_t max_message) {
  memset(p, 0, sizeof(*p));
  p->max_message = max_message;
}

void catzilla_ws_parser_free(catzilla_ws_parser_t* p) {
  free(p->msg);
  p->msg = NULL;
  p->msg_len = p->msg_cap = 0;
}

static int ws__fail(catzilla_ws_parser_t* p, int code) {
  p->error = code;
  return code;
}

/* The frame header in p->hdr is complete: check it and set up the payload. */
static int ws__begin_frame(catzilla_ws_parser_t* p) {
  uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
  p->fin = (b0 & 0x80) != 0;
  p->opcode = b0 & 0x0f;
  /* RSV2/RSV3: no extension uses them; RSV1 only when permessage-deflate was agreed, and only on
   * the first frame of a data message (RFC 7692 6.1: never on control frames or continuations) */
  if (b0 & 0x30) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR);
  bool rsv1 = (b0 & CATZILLA_WS_RSV1) != 0;
  if (rsv1 && (!p->allow_rsv1 || (p->opcode != CATZILLA_WS_TEXT && p->opcode != CATZILLA_WS_BINARY)))
    return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR);
  if (!(b1 & 0x80)) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR); /* client frames are masked */
  uint64_t len = b1 & 0x7f;
  const uint8_t* mask = p->hdr + 2;
  if (len == 126) {
    len = ((uint64_t)p->hdr[2] << 8) | p->hdr[3];
    if (len < 126) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR); /* not minimal */
    mask = p->hdr + 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; i++) len = (len << 8) | p->hdr[2 + i];
    if (len >> 63) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR);
    if (len <= 0xffff) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR); /* not minimal */
    mask = p->hdr + 10;
  }
  memcpy(p->mask, mask, 4);
  p->mask_pos = 0;
  p->payload_left = len;
  switch (p->opcode) {
    case CATZILLA_WS_CLOSE:
    case CATZILLA_WS_PING:
    case CATZILLA_WS_PONG:
      if (!p->fin || len > CATZILLA_WS_MAX_CONTROL) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR);
      p->ctrl_len = 0;
      return 0;
    case CATZILLA_WS_TEXT:
    case CATZILLA_WS_BINARY:
      if (p->msg_opcode != 0) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR); /* a message is in progress */
      p->msg_opcode = p->opcode;
      p->msg_len = 0;
      p->utf8 = 0;
      p->msg_compressed = rsv1;
      p->msg_frames = 1;
      break;
    case CATZILLA_WS_CONTINUATION:
      if (p->msg_opcode == 0) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR); /* nothing to continue */
      /* many tiny fragments cost a frame's work each without nearing max_message */
      if (p->max_fragments != 0 && ++p->msg_frames > p->max_fragments) return ws__fail(p, CATZILLA_WS_POLICY);
      break;
    default:
      return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR); /* reserved opcode */
  }
  /* a compressed message is checked again once inflated; on the wire it may be a little larger
   * than its content when the content does not compress */
  uint64_t max = p->msg_compressed ? p->max_message + (p->max_message >> 8) + 64 : p->max_message;
  if (len > max || p->msg_len + len > max) return ws__fail(p, CATZILLA_WS_MESSAGE_TOO_BIG);
  if (p->msg_len + len > p->msg_cap) {
    /* grow to what this frame needs (at least doubling), never past the limit */
    uint64_t want = p->msg_len + len;
    uint64_t cap = p->msg_cap ? p->msg_cap * 2 : 256;
    if (cap < want) cap = want;
    if (cap > max) cap = max;
    if (cap > SIZE_MAX) return ws__fail(p, CATZILLA_WS_MESSAGE_TOO_BIG);
    char* grown = realloc(p->msg, (size_t)cap);
    if (grown == NULL) return ws__fail(p, CATZILLA_WS_MESSAGE_TOO_BIG);
    p->msg = grown;
    p->msg_cap = (size_t)cap;
  }
  return 0;
}

static void ws__unmask(catzilla_ws_parser_t* p, char* dst, const char* src, size_t n) {
  unsigned m = p->mask_pos;
  for (size_t i = 0; i < n; i++) {
    dst[i] = (char)(src[i] ^ p->mask[m]);
    m = (m + 1) & 3;
  }
  p->mask_pos = m;
}

/* The frame's payload is complete: report what it finished. */
static int ws__end_frame(catzilla_ws_parser_t* p, catzilla_ws_event_cb cb, void* arg) {
  if (p->opcode >= CATZILLA_WS_CLOSE) {
    if (p->opcode == CATZILLA_WS_CLOSE) {
      if (p->ctrl_len == 1) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR);
      if (p->ctrl_len >= 2) {
        int code = ((uint8_t)p->ctrl[0] << 8) | (uint8_t)p->ctrl[1];
        if (!catzilla_ws_close_code_valid(code)) return ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR);
        uint32_t st = 0;
        if (!catzilla__utf8_step(&st, (const uint8_t*)p->ctrl + 2, p->ctrl_len - 2) || st != 0) {
          return ws__fail(p, CATZILLA_WS_INVALID_DATA);
        }
      }
    }
    return cb(arg, p->opcode, p->ctrl, p->ctrl_len);
  }
  if (!p->fin) return 0;
  int opcode = p->msg_opcode;
  p->msg_opcode = 0;
  if (opcode == CATZILLA_WS_TEXT && p->utf8 != 0 && !p->msg_compressed) return ws__fail(p, CATZILLA_WS_INVALID_DATA);
  if (p->msg_compressed) opcode |= CATZILLA_WS_RSV1;
  p->msg_compressed = false;
  int r = cb(arg, opcode, p->msg, p->msg_len);
  if (p->msg_cap > CATZILLA__WS_KEEP_CAPACITY) catzilla_ws_parser_free(p); /* an idle socket keeps little */
  p->msg_len = 0;
  return r;
}

static size_t ws__header_size(const uint8_t* hdr) {
  uint8_t len = hdr[1] & 0x7f;
  return 2 + (len == 126 ? 2 : len == 127 ? 8 : 0) + ((hdr[1] & 0x80) ? 4 : 0);
}

int catzilla_ws_parse(catzilla_ws_parser_t* p, const char* data, size_t len, size_t* used, catzilla_ws_event_cb cb,
                      void* arg) {
  size_t pos = 0;
  int r = 0;
  if (p->error) {
    r = p->error;
    goto out;
  }
  while (pos < len) {
    if (!p->in_payload) {
      /* the header: 2 bytes say how long it is (up to 14 with the mask) */
      size_t need = p->hdr_len < 2 ? 2 : ws__header_size(p->hdr);
      while (p->hdr_len < need && pos < len) {
        p->hdr[p->hdr_len++] = (uint8_t)data[pos++];
        if (p->hdr_len == 2) {
          if (!(p->hdr[1] & 0x80)) { /* client frames are masked: fail before waiting for more */
            r = ws__fail(p, CATZILLA_WS_PROTOCOL_ERROR);
            goto out;
          }
          need = ws__header_size(p->hdr);
        }
      }
      if (p->hdr_len < need) break;
      p->hdr_len = 0;
      if ((r = ws__begin_frame(p)) != 0) goto out;
      p->in_payload = true;
    }
    size_t n = len - pos;
    if (n > p->payload_left) n = (size_t)p->payload_left;
    if (n > 0) {
      if (p->opcode >= CATZILLA_WS_CLOSE) {
        ws__unmask(p, p->ctrl + p->ctrl_len, data + pos, n);
        p->ctrl_len += n;
      } else {
        char* dst = p->msg + p->msg_len;
        ws__unmask(p, dst, data + pos, n);
        p->msg_len += n;
        if (p->msg_opcode == CATZILLA_WS_TEXT && !p->msg_compressed &&
            !catzilla__utf8_step(&p->utf8, (const uint8_t*)dst, n)) {
          r = ws__fail(p, CATZILLA_WS_INVALID_DATA); /* fail fast, mid-message */
          pos += n;
          goto out;
        }
      }
      pos += n;
      p->payload_left -= n;
    }
    if (p->payload_left > 0) break;
    p->in_payload = false;
    if ((r = ws__end_frame(p, cb, arg)) != 0) goto out; /* a close code, or the callback stopped */
  }
out:
  if (used != NULL) *used = pos;
  return r;
}
