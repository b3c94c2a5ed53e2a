/*
 * A connection upgraded to a WebSocket (RFC 6455): the 101 response is a stream whose
 * body is frames (so writes, watermarks, drain, stall timeout and stats are the stream's),
 * and the read side goes through the frame parser (ws.c) instead of llhttp.
 *
 * The core does the protocol's chores itself: pings are answered with pongs, a close frame
 * is answered and the connection closed, a peer that breaks the protocol gets a close frame
 * with the code that says why (1002, 1007, 1009) and is closed. The application sees
 * messages and the end of the closing handshake (on_ws_message, on_ws_close).
 *
 * It plugs into the connection like any other protocol after a 101: its frame parser takes
 * over the read side (catzilla__conn_take_over), and the frames it sends go through the
 * stream that the 101 started, whose producer (hooks) is the caller's.
 */
#include "internal.h"
#include <stdlib.h>

typedef struct catzilla__ws_s {
  catzilla__conn_t* conn;
  catzilla_ws_parser_t parser;
  bool close_sent;
  bool close_received;
  bool done; /* the peer's input is over (closed, or failed): later bytes are discarded */
} ws__t;

static void ws__feed(void* arg, const char* data, size_t len);

static void ws__release(void* arg) {
  ws__t* ws = arg;
  catzilla_ws_parser_free(&ws->parser);
  free(ws);
}

/* The WebSocket state of a connection, when a WebSocket took it over. */
static ws__t* ws__of(catzilla__conn_t* conn) {
  return conn != NULL && conn->takeover.feed == ws__feed ? (ws__t*)conn->takeover.arg : NULL;
}

/* One frame: the header (copied) and the payload (copied, or referenced with `release`). */
static int ws__send(catzilla__conn_t* conn, int opcode, const char* data, size_t len, catzilla_release_cb release,
                    void* release_arg) {
  uint8_t header[CATZILLA_WS_MAX_HEADER];
  size_t n = catzilla_ws_frame_header(header, opcode, 1, len);
  int r = catzilla_stream_write(conn->stream, (const char*)header, n, NULL, NULL);
  if (r < 0 || len == 0) {
    if (release) release(release_arg);
    return r;
  }
  return catzilla_stream_write(conn->stream, data, len, release, release_arg);
}

static void ws__send_close(catzilla__conn_t* conn, int code, const char* reason, size_t reason_len) {
  char payload[CATZILLA_WS_MAX_CONTROL];
  size_t n = catzilla_ws_close_payload(payload, code, reason, reason_len);
  ws__of(conn)->close_sent = true;
  ws__send(conn, CATZILLA_WS_CLOSE, payload, n, NULL, NULL);
}

/* The handshake is over (both close frames, or a failure): the connection closes after
 * what is queued (the stream ends; on_stream_end follows). */
static void ws__finish(catzilla__conn_t* conn) {
  ws__of(conn)->done = true;
  if (conn->stream != NULL) catzilla_stream_end(conn->stream);
}

/* The peer broke the protocol: tell it why, tell the application, close. */
static void ws__fail(catzilla__conn_t* conn, int code) {
  const char* reason = code == CATZILLA_WS_INVALID_DATA      ? "invalid UTF-8"
                       : code == CATZILLA_WS_MESSAGE_TOO_BIG ? "message too big"
                                                             : "protocol error";
  catzilla_server_t* server = conn->server;
  catzilla_request_id_t id = conn->id;
  ws__of(conn)->done = true;
  if (!ws__of(conn)->close_sent) ws__send_close(conn, code, reason, strlen(reason));
  if (server->callbacks.on_ws_close != NULL) server->callbacks.on_ws_close(server, id, code, reason, strlen(reason));
  if (conn->state == CATZILLA__CONN_ACTIVE && ws__of(conn) != NULL) ws__finish(conn);
}

static int ws__on_event(void* arg, int opcode, const char* data, size_t len) {
  catzilla__conn_t* conn = arg;
  catzilla_server_t* server = conn->server;
  ws__t* ws = ws__of(conn);
  catzilla_request_id_t id = conn->id;
  switch (opcode) {
    case CATZILLA_WS_TEXT:
    case CATZILLA_WS_BINARY:
      if (ws->close_sent) return 0; /* closing: data is no longer delivered */
      if (server->callbacks.on_ws_message != NULL) server->callbacks.on_ws_message(server, id, opcode, data, len);
      break;
    case CATZILLA_WS_PING:
      if (!ws->close_sent) ws__send(conn, CATZILLA_WS_PONG, data, len, NULL, NULL);
      break;
    case CATZILLA_WS_PONG:
      break;
    case CATZILLA_WS_CLOSE: {
      int code = len >= 2 ? (((uint8_t)data[0] << 8) | (uint8_t)data[1]) : CATZILLA_WS_NO_STATUS;
      const char* reason = len > 2 ? data + 2 : "";
      size_t reason_len = len > 2 ? len - 2 : 0;
      ws->close_received = true;
      ws->done = true;
      /* echo the code (RFC 6455 5.5.1), or an empty close frame when the peer sent none */
      if (!ws->close_sent) ws__send_close(conn, len >= 2 ? code : 0, NULL, 0);
      if (server->callbacks.on_ws_close != NULL) server->callbacks.on_ws_close(server, id, code, reason, reason_len);
      if (conn->state == CATZILLA__CONN_ACTIVE && ws__of(conn) != NULL) ws__finish(conn);
      return -1;
    }
  }
  /* the application may have closed the connection from its callback */
  return conn->state == CATZILLA__CONN_ACTIVE && conn->stream != NULL && !ws->done ? 0 : -1;
}

static void ws__feed(void* arg, const char* data, size_t len) {
  ws__t* ws = arg;
  catzilla__conn_t* conn = ws->conn;
  if (ws->done || len == 0) return;
  size_t used = 0;
  int r = catzilla_ws_parse(&ws->parser, data, len, &used, ws__on_event, conn);
  if (r > 0 && conn->state == CATZILLA__CONN_ACTIVE && ws__of(conn) != NULL && !ws__of(conn)->done) ws__fail(conn, r);
}

int catzilla_ws_accept(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_ws_options_t* o) {
  catzilla__conn_t* conn = catzilla__conn_for_id(server, id);
  if (conn == NULL || conn->state != CATZILLA__CONN_ACTIVE || conn->response_done) return CATZILLA_ECLOSED;
  if (!conn->upgrade || conn->takeover.feed != NULL) return CATZILLA_ESTATE;
  ws__t* ws = calloc(1, sizeof(*ws));
  if (ws == NULL) return UV_ENOMEM;
  ws->conn = conn;
  catzilla_ws_parser_init(&ws->parser, o->max_message);
  catzilla_stream_options_t so;
  catzilla_stream_options_default(&so);
  so.status = 101;
  so.headers = o->headers;
  so.headers_len = o->headers_len;
  if (o->high_watermark > 0) so.high_watermark = o->high_watermark;
  so.low_watermark = o->low_watermark; /* catzilla_stream_start applies the one low-watermark rule */
  so.stall_timeout_ms = o->stall_timeout_ms;
  so.flags = CATZILLA_STREAM_FLUSH_HEADERS | CATZILLA__STREAM_UPGRADE;
  int err = catzilla_stream_start(server, id, &so, &o->hooks, NULL);
  if (err) {
    catzilla_ws_parser_free(&ws->parser);
    free(ws);
    return err;
  }
  /* frames that came with or after the request head wait in inbuf: parsed from the loop */
  catzilla__takeover_t takeover = {ws__feed, ws__release, ws};
  catzilla__conn_take_over(conn, &takeover);
  return 0;
}

int catzilla_ws_send(catzilla_server_t* server, catzilla_request_id_t id, int opcode, const char* data, size_t len,
                     catzilla_release_cb release, void* release_arg) {
  catzilla__conn_t* conn = catzilla__conn_for_id(server, id);
  if (conn == NULL || ws__of(conn) == NULL || conn->stream == NULL || ws__of(conn)->close_sent) {
    if (release) release(release_arg);
    return CATZILLA_ECLOSED;
  }
  if (opcode != CATZILLA_WS_TEXT && opcode != CATZILLA_WS_BINARY) {
    if (release) release(release_arg);
    return UV_EINVAL;
  }
  return ws__send(conn, opcode, data, len, release, release_arg);
}

int catzilla_ws_close(catzilla_server_t* server, catzilla_request_id_t id, int code, const char* reason,
                      size_t reason_len) {
  catzilla__conn_t* conn = catzilla__conn_for_id(server, id);
  if (conn == NULL || ws__of(conn) == NULL || conn->stream == NULL) return CATZILLA_ECLOSED;
  if (code != 0 && !catzilla_ws_close_code_valid(code)) return UV_EINVAL;
  if (reason_len > CATZILLA_WS_MAX_CONTROL - 2) return CATZILLA_ETOOLARGE;
  if (ws__of(conn)->close_sent) return 0;
  ws__send_close(conn, code, reason, reason_len);
  if (ws__of(conn)->close_received) {
    ws__finish(conn);
  } else {
    /* wait for the peer's close frame, not forever */
    catzilla__conn_set_deadline(conn, CATZILLA__DEADLINE_LINGER);
  }
  return 0;
}
