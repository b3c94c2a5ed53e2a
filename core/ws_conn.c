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
 *
 * With permessage-deflate agreed (ws_deflate.c holds the zlib streams) messages of at least the
 * threshold leave compressed (RSV1) and compressed messages are inflated, never past
 * max_message, before the application sees them. Liveness rides on the connection's takeover
 * deadline (one sweep for every deadline): a ping after ping_interval_ms without a frame from
 * the peer, the connection dropped when nothing comes back within pong_timeout_ms (1006 to the
 * application), a close 1001 after idle_timeout_ms without a message either way. Limits: frames
 * per message (1008, in ws.c) and control frames per second (1008).
 */
#include "internal.h"
#include <stdlib.h>

typedef struct catzilla__ws_s {
  catzilla__conn_t* conn;
  catzilla_ws_parser_t parser;
  catzilla__deflate_t* deflate;  /* NULL unless permessage-deflate was agreed */
  uint64_t ping_interval_ms;
  uint64_t pong_timeout_ms;
  uint64_t idle_timeout_ms;
  uint32_t max_control_per_second;
  uint32_t control_count;       /* control frames in the current second */
  uint64_t control_window;      /* loop ms at which that second started */
  uint64_t last_frame;          /* loop ms of the peer's last frame */
  uint64_t last_message;        /* loop ms of the last message either way */
  uint64_t ping_sent;           /* loop ms of the ping waiting for an answer, 0 = none */
  bool close_sent;
  bool close_received;
  bool done; /* the peer's input is over (closed, or failed): later bytes are discarded */
} ws__t;

static void ws__feed(void* arg, const char* data, size_t len);
static void ws__fail_with(catzilla__conn_t* conn, int code, const char* reason);

static void ws__release(void* arg) {
  ws__t* ws = arg;
  catzilla_ws_parser_free(&ws->parser);
  catzilla__deflate_free(ws->deflate);
  free(ws);
}

void catzilla_ws_options_default(catzilla_ws_options_t* o) {
  memset(o, 0, sizeof(*o));
#define XX(type, field, js, dflt, doc) o->field = (type)(dflt);
  CATZILLA_WS_OPTIONS_MAP(XX)
#undef XX
}

/* The WebSocket state of a connection, when a WebSocket took it over. */
static ws__t* ws__of(catzilla__conn_t* conn) {
  return conn != NULL && conn->takeover.feed == ws__feed ? (ws__t*)conn->takeover.arg : NULL;
}

/* One frame: the header (copied) and the payload (copied, or referenced with `release`).
 * `opcode` may carry CATZILLA_WS_RSV1. */
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

/* The next moment the liveness rules need a look (0 = never): the sweep calls ws__on_deadline. */
static void ws__arm(ws__t* ws) {
  uint64_t at = 0;
  if (ws->ping_sent != 0) {
    if (ws->pong_timeout_ms) at = ws->ping_sent + ws->pong_timeout_ms;
  } else if (ws->ping_interval_ms) {
    at = ws->last_frame + ws->ping_interval_ms;
  }
  if (ws->idle_timeout_ms) {
    uint64_t idle = ws->last_message + ws->idle_timeout_ms;
    if (at == 0 || idle < at) at = idle;
  }
  catzilla__conn_takeover_deadline(ws->conn, at);
}

static void ws__on_deadline(void* arg, uint64_t now) {
  ws__t* ws = arg;
  catzilla__conn_t* conn = ws->conn;
  if (ws->done || ws->close_sent || conn->stream == NULL) return; /* closing: the linger deadline ends it */
  catzilla_server_stats_t* stats = &conn->server->stats;
  if (ws->idle_timeout_ms && now >= ws->last_message + ws->idle_timeout_ms) {
    static const char reason[] = "idle timeout";
    stats->ws_idle_timeouts++;
    catzilla_ws_close(conn->server, conn->id, CATZILLA_WS_GOING_AWAY, reason, sizeof(reason) - 1);
    return;
  }
  if (ws->ping_sent != 0) {
    if (ws->pong_timeout_ms && now >= ws->ping_sent + ws->pong_timeout_ms) {
      /* a dead peer: no closing handshake to wait for; the application gets 1006 */
      stats->ws_pong_timeouts++;
      catzilla__conn_close(conn, CATZILLA_ABORT_TIMEOUT);
      return;
    }
  } else if (ws->ping_interval_ms && now >= ws->last_frame + ws->ping_interval_ms) {
    ws->ping_sent = now;
    stats->ws_pings_sent++;
    ws__send(conn, CATZILLA_WS_PING, NULL, 0, NULL, NULL);
  }
  ws__arm(ws);
}

/* The peer broke the protocol or a limit: tell it why, tell the application, close. */
static void ws__fail(catzilla__conn_t* conn, int code) {
  const char* reason = code == CATZILLA_WS_INVALID_DATA      ? "invalid UTF-8"
                       : code == CATZILLA_WS_MESSAGE_TOO_BIG ? "message too big"
                       : code == CATZILLA_WS_POLICY          ? "too many fragments"
                                                             : "protocol error";
  catzilla_server_t* server = conn->server;
  if (code == CATZILLA_WS_MESSAGE_TOO_BIG) server->stats.ws_too_big++;
  if (code == CATZILLA_WS_POLICY) server->stats.ws_fragment_floods++;
  ws__fail_with(conn, code, reason);
}

static void ws__fail_with(catzilla__conn_t* conn, int code, const char* reason) {
  catzilla_server_t* server = conn->server;
  catzilla_request_id_t id = conn->id;
  ws__of(conn)->done = true;
  if (!ws__of(conn)->close_sent) ws__send_close(conn, code, reason, strlen(reason));
  if (server->callbacks.on_ws_close != NULL) server->callbacks.on_ws_close(server, id, code, reason, strlen(reason));
  if (conn->state == CATZILLA__CONN_ACTIVE && ws__of(conn) != NULL) ws__finish(conn);
}

/* A control frame: within the rate limit, or the connection fails with 1008. */
static bool ws__control_allowed(ws__t* ws, uint64_t now) {
  if (ws->max_control_per_second == 0) return true;
  if (now - ws->control_window >= 1000) {
    ws->control_window = now;
    ws->control_count = 0;
  }
  return ++ws->control_count <= ws->max_control_per_second;
}

static int ws__on_event(void* arg, int opcode, const char* data, size_t len) {
  catzilla__conn_t* conn = arg;
  catzilla_server_t* server = conn->server;
  ws__t* ws = ws__of(conn);
  catzilla_request_id_t id = conn->id;
  uint64_t now = catzilla__now(server);
  ws->last_frame = now;
  ws->ping_sent = 0; /* any frame shows the peer is there */
  switch (opcode & ~CATZILLA_WS_RSV1) {
    case CATZILLA_WS_TEXT:
    case CATZILLA_WS_BINARY:
      if (ws->close_sent) return 0; /* closing: data is no longer delivered */
      ws->last_message = now;
      if (opcode & CATZILLA_WS_RSV1) {
        const char* plain;
        size_t plain_len;
        int r = catzilla__inflate_message(ws->deflate, data, len, ws->parser.max_message, &plain, &plain_len);
        if (r == UV_ENOMEM) r = CATZILLA_WS_INTERNAL_ERROR;
        if (r != 0) return r; /* 1007 not DEFLATE data, 1009 too big once inflated: ws__feed fails it */
        opcode &= ~CATZILLA_WS_RSV1;
        server->stats.ws_inflate_messages++;
        server->stats.ws_inflate_bytes_in += len;
        server->stats.ws_inflate_bytes_out += plain_len;
        uint32_t st = 0;
        if (opcode == CATZILLA_WS_TEXT && (!catzilla__utf8_step(&st, (const uint8_t*)plain, plain_len) || st != 0))
          return CATZILLA_WS_INVALID_DATA;
        data = plain;
        len = plain_len;
      }
      if (server->callbacks.on_ws_message != NULL) server->callbacks.on_ws_message(server, id, opcode, data, len);
      break;
    case CATZILLA_WS_PING:
      if (!ws__control_allowed(ws, now)) {
        server->stats.ws_control_floods++;
        return -2;
      }
      if (!ws->close_sent) ws__send(conn, CATZILLA_WS_PONG, data, len, NULL, NULL);
      break;
    case CATZILLA_WS_PONG:
      if (!ws__control_allowed(ws, now)) {
        server->stats.ws_control_floods++;
        return -2;
      }
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
  if (conn->state != CATZILLA__CONN_ACTIVE || ws__of(conn) == NULL || ws__of(conn)->done) return;
  if (r > 0) ws__fail(conn, r);
  else if (r == -2) ws__fail_with(conn, CATZILLA_WS_POLICY, "too many control frames");
}

int catzilla_ws_accept(catzilla_server_t* server, catzilla_request_id_t id, const catzilla_ws_options_t* o) {
  catzilla__conn_t* conn = catzilla__conn_for_id(server, id);
  if (conn == NULL || conn->state != CATZILLA__CONN_ACTIVE || conn->response_done) return CATZILLA_ECLOSED;
  if (!conn->upgrade || conn->takeover.feed != NULL) return CATZILLA_ESTATE;
  ws__t* ws = calloc(1, sizeof(*ws));
  if (ws == NULL) return UV_ENOMEM;
  ws->conn = conn;
  catzilla_ws_parser_init(&ws->parser, o->max_message);
  ws->parser.max_fragments = o->max_fragments;
  if (o->deflate) {
    int err = catzilla__deflate_new(o, &ws->deflate);
    if (err) {
      free(ws);
      return err;
    }
    ws->parser.allow_rsv1 = true;
  }
  ws->ping_interval_ms = o->ping_interval_ms;
  ws->pong_timeout_ms = o->pong_timeout_ms;
  ws->idle_timeout_ms = o->idle_timeout_ms;
  ws->max_control_per_second = o->max_control_per_second;
  ws->last_frame = ws->last_message = ws->control_window = catzilla__now(server);
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
    ws__release(ws);
    return err;
  }
  /* frames that came with or after the request head wait in inbuf: parsed from the loop */
  catzilla__takeover_t takeover = {ws__feed, ws__release, ws__on_deadline, ws};
  catzilla__conn_take_over(conn, &takeover);
  bool armed = server->listening && !server->closed;
  catzilla__sweep_note(&server->sweep, ws->ping_interval_ms, armed);
  catzilla__sweep_note(&server->sweep, ws->pong_timeout_ms, armed);
  catzilla__sweep_note(&server->sweep, ws->idle_timeout_ms, armed);
  ws__arm(ws);
  if (o->over_limit) {
    /* the route is full: the 101 is answered with a close, try again later */
    static const char reason[] = "too many connections";
    server->stats.ws_connection_limit++;
    catzilla_ws_close(server, id, CATZILLA_WS_TRY_AGAIN_LATER, reason, sizeof(reason) - 1);
  }
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
  ws__t* ws = ws__of(conn);
  ws->last_message = catzilla__now(server);
  if (ws->deflate != NULL && len >= catzilla__deflate_threshold(ws->deflate)) {
    catzilla__deflated_t z;
    if (catzilla__deflate_message(ws->deflate, data, len, &z) == 0) {
      /* the compressed bytes replace the caller's, which are not needed any more */
      if (release) release(release_arg);
      catzilla_server_stats_t* stats = &server->stats;
      stats->ws_deflate_messages++;
      if (z.reused) stats->ws_deflate_reused++;
      stats->ws_deflate_bytes_in += len;
      stats->ws_deflate_bytes_out += z.len;
      return ws__send(conn, opcode | CATZILLA_WS_RSV1, z.data, z.len, z.release, z.release_arg);
    }
    /* out of memory: the message leaves uncompressed, which is always allowed */
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
