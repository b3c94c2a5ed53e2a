/* Streaming responses over real sockets: coalescing of small chunks into one HTTP chunk,
 * large referenced chunks under backpressure with a slow reader (queue bounded, every
 * chunk released exactly once), a producer thread through a ring source, a client
 * that leaves mid-stream (aborted, reported, nothing leaked), a write that finds the
 * client reset (ECLOSED, never the socket's error; aborted, not errored), and streams cut
 * on purpose (catzilla_stream_abort_as: closed, shed), and an idle stream (an SSE subscriber
 * between events) that holds no pieces array, cork or head buffer once its bytes are sent. */
#include "internal.h"
#include "test.h"
#include "test_client.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static catzilla_server_t* server;

/* ---- server side ---- */
#define BIG_CHUNK (64 * 1024)
#define BIG_TOTAL (8u * 1024 * 1024)
#define RING_TOTAL (4u * 1024 * 1024)
static char big_chunk[BIG_CHUNK];
static size_t big_written, releases, aborts, ended[16];
static catzilla_request_id_t big_id, endless_id, gone_id, rows_id, idle_id;
static catzilla_stream_stats_t big_stats, rows_stats;

static void count_release(void* arg) { releases++; }

static void pump_big(catzilla_request_id_t id) {
  catzilla_stream_context_t* s = catzilla_stream_of(server, id);
  while (s && big_written < BIG_TOTAL) {
    int r = catzilla_stream_write(s, big_chunk, BIG_CHUNK, count_release, NULL);
    big_written += BIG_CHUNK;
    if (r <= 0) return; /* backpressured: on_drain continues */
  }
  if (s) CHECK_INT(catzilla_stream_end(s), 0);
}

static size_t visited_live;
static void visit_live(catzilla_request_id_t id, const catzilla_stream_stats_t* st, const struct sockaddr_storage* peer,
                       void* arg) {
  CHECK(id == endless_id);
  CHECK(peer->ss_family == AF_INET);
  CHECK(st->bytes > 0);
  visited_live++;
}

static void pump_endless(catzilla_request_id_t id) {
  catzilla_stream_context_t* s = catzilla_stream_of(server, id);
  while (s && catzilla_stream_write(s, big_chunk, BIG_CHUNK, count_release, NULL) > 0) {
  }
  if (s && visited_live == 0) CHECK_INT(catzilla_server_each_stream(server, visit_live, NULL), 1);
}

static unsigned char ring_byte(size_t i) { return (unsigned char)(i * 7 + (i >> 9)); }

static void ring_producer(void* arg) {
  catzilla_ring_source_t* src = arg;
  unsigned char buf[3000];
  size_t sent = 0;
  while (sent < RING_TOTAL) {
    size_t n = sizeof(buf) < RING_TOTAL - sent ? sizeof(buf) : RING_TOTAL - sent;
    for (size_t i = 0; i < n; i++) buf[i] = ring_byte(sent + i);
    if (catzilla_ring_source_write(src, buf, n) < 0) break;
    sent += n;
  }
  catzilla_ring_source_close(src, 0);
}
static uv_thread_t producer_thread;

/* the producer's hooks of every stream here */
static void on_writable(void* arg, catzilla_request_id_t id) {
  if (id == big_id) pump_big(id);
  else if (id == endless_id) pump_endless(id);
}
static void on_stream_end(void* arg, catzilla_request_id_t id, const catzilla_stream_stats_t* st) {
  CHECK(arg == &server);
  ended[st->state]++;
  if (id == big_id) big_stats = *st;
  if (id == rows_id) rows_stats = *st;
}
static const catzilla_stream_hooks_t hooks = {on_writable, on_stream_end, &server};

static void on_request(catzilla_server_t* s, catzilla_request_id_t id, const catzilla_request_info_t* info) {
  catzilla_stream_options_t o;
  catzilla_stream_options_default(&o);
  o.headers = "X-Stream: yes\r\n";
  o.headers_len = 15;
  if (strncmp(info->url, "/ring", 5) == 0) {
    /* the ring source is the stream's producer: it starts the stream with its own hooks */
    catzilla_ring_source_t* src;
    CHECK_INT(catzilla_ring_source_start(s, id, &o, &hooks, 16 * 1024, &src), 0);
    CHECK_INT(catzilla_stream_start(s, id, &o, &hooks, NULL), CATZILLA_ESTREAMING);
    CHECK_INT(uv_thread_create(&producer_thread, ring_producer, src), 0);
    return;
  }
  catzilla_stream_context_t* stream;
  CHECK_INT(catzilla_stream_start(s, id, &o, &hooks, &stream), 0);
  CHECK_INT(catzilla_stream_start(s, id, &o, &hooks, NULL), CATZILLA_ESTREAMING);
  if (strncmp(info->url, "/rows", 5) == 0) {
    char line[64];
    for (int i = 0; i < 1000; i++) {
      int n = snprintf(line, sizeof(line), "{\"id\":%d}\n", i);
      CHECK_INT(catzilla_stream_write(stream, line, (size_t)n, NULL, NULL), 1);
    }
    /* all of it fits the socket at once: finished now (the connection moves on), and reported
     * like any end, by on_end from a loop phase (checked in main) */
    rows_id = id;
    size_t ended_before = ended[CATZILLA_STREAM_FINISHED];
    CHECK_INT(catzilla_stream_end(stream), 0);
    CHECK(catzilla_stream_of(s, id) == NULL);
    CHECK_INT(ended[CATZILLA_STREAM_FINISHED], ended_before); /* not inside this call */
  } else if (strncmp(info->url, "/big", 4) == 0) {
    big_id = id;
    pump_big(id);
  } else if (strncmp(info->url, "/idle", 5) == 0) {
    idle_id = id; /* a small first write (an SSE comment), then nothing: main() looks at what it holds */
    CHECK_INT(catzilla_stream_write(stream, ": ok\n\n", 6, NULL, NULL), 1);
    CHECK(stream->pieces != NULL && stream->cork.base != NULL); /* lent while corked */
  } else if (strncmp(info->url, "/gone", 5) == 0) {
    gone_id = id; /* written to by main() once the client has reset */
  } else if (strncmp(info->url, "/closed", 7) == 0 || strncmp(info->url, "/shed", 5) == 0) {
    CHECK_INT(catzilla_stream_write(stream, "partial\n", 8, NULL, NULL), 1);
    CHECK_INT(catzilla_stream_abort_as(stream, CATZILLA_STREAM_FINISHED), UV_EINVAL);
    CHECK_INT(catzilla_stream_abort_as(stream, info->url[1] == 'c' ? CATZILLA_STREAM_CLOSED : CATZILLA_STREAM_SHED), 0);
    CHECK(catzilla_stream_of(s, id) == NULL);
  } else {
    endless_id = id;
    pump_endless(id);
  }
}
static void on_body(catzilla_server_t* s, catzilla_request_id_t id, const char* d, size_t n) {}
static void on_body_end(catzilla_server_t* s, catzilla_request_id_t id) {}
static void on_abort(catzilla_server_t* s, catzilla_request_id_t id, catzilla_abort_reason_t r) {
  CHECK(id == endless_id || id == gone_id || id == idle_id);
  CHECK(r == CATZILLA_ABORT_CLIENT_CLOSED || r == CATZILLA_ABORT_CONNECTION_ERROR);
  aborts++;
}


int main(void) {
  loop = uv_default_loop();
  memset(big_chunk, 'z', sizeof(big_chunk));
  {
    /* the one low-watermark rule: above the high watermark it becomes a quarter of it */
    catzilla_stream_options_t so;
    catzilla_stream_options_default(&so);
    so.high_watermark = 999;
    so.low_watermark = 16384;
    catzilla_stream_options_normalize(&so);
    CHECK_INT(so.low_watermark, 249);
    so.low_watermark = 500;
    catzilla_stream_options_normalize(&so);
    CHECK_INT(so.low_watermark, 500);
  }
  catzilla_server_options_t opt;
  catzilla_server_options_default(&opt);
  catzilla_server_callbacks_t cb = {on_request, on_body, on_body_end, on_abort, NULL, NULL, NULL};
  int port = start_server(&server, &opt, &cb);
  CHECK(port > 0);
  char* body = malloc(BIG_TOTAL + 1);
  int chunks = 0;

  /* 1000 small chunks written in one turn leave as one HTTP chunk */
  client_t* c = exchange(port, "GET /rows HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 0);
  c->data[c->len] = 0;
  CHECK(strstr(c->data, "HTTP/1.1 200 OK\r\nX-Stream: yes\r\n") == c->data);
  CHECK(strstr(c->data, "Transfer-Encoding: chunked\r\n") != NULL);
  long n = dechunk(c->data, c->len, body, &chunks);
  CHECK(n > 0);
  CHECK_INT(chunks, 1);
  body[n > 0 ? n : 0] = 0;
  CHECK(strncmp(body, "{\"id\":0}\n{\"id\":1}\n", 18) == 0);
  CHECK(n > 0 && strcmp(body + n - 11, "{\"id\":999}\n") == 0);
  client_free(c);
  for (int i = 0; i < 100 && rows_stats.state == 0; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(rows_stats.state, CATZILLA_STREAM_FINISHED);
  CHECK_INT(rows_stats.chunks, 1000);
  CHECK_INT(rows_stats.writes, 1);

  /* 8 MiB of referenced 64 KiB chunks to a slow reader: bounded queue, all released */
  c = exchange(port, "GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 512 * 1024);
  n = dechunk(c->data, c->len, body, &chunks);
  CHECK_INT(n, BIG_TOTAL);
  CHECK_INT(releases, BIG_TOTAL / BIG_CHUNK);
  CHECK(big_stats.backpressure_events > 0);
  CHECK(big_stats.peak_queued_bytes <= 64 * 1024 + BIG_CHUNK);
  CHECK_INT(big_stats.bytes, BIG_TOTAL);
  CHECK_INT(big_stats.state, CATZILLA_STREAM_FINISHED);
  client_free(c);

  /* a producer thread through a ring source; the starter's on_end hears the end too */
  size_t finished_before = ended[CATZILLA_STREAM_FINISHED];
  c = exchange(port, "GET /ring HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 0);
  uv_thread_join(&producer_thread);
  for (int i = 0; i < 100 && ended[CATZILLA_STREAM_FINISHED] == finished_before; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(ended[CATZILLA_STREAM_FINISHED], finished_before + 1);
  n = dechunk(c->data, c->len, body, &chunks);
  CHECK_INT(n, RING_TOTAL);
  size_t bad = 0;
  for (long i = 0; i < n; i++) bad += (unsigned char)body[i] != ring_byte((size_t)i);
  CHECK_INT(bad, 0);
  client_free(c);

  /* a client that leaves mid-stream: aborted, reported once, every chunk released */
  size_t releases_before = releases;
  c = exchange(port, "GET /endless HTTP/1.1\r\nHost: t\r\n\r\n", 1024 * 1024, 0);
  client_free(c);
  for (int i = 0; i < 100 && ended[CATZILLA_STREAM_ABORTED] == 0; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(aborts, 1);
  CHECK_INT(visited_live, 1);
  CHECK_INT(ended[CATZILLA_STREAM_ABORTED], 1);
  CHECK(releases > releases_before);

  /* a write that finds the client reset: ECLOSED (never ECONNRESET/EPIPE), the stream aborted, not errored */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  CHECK_INT(connect(fd, (const struct sockaddr*)&addr, sizeof(addr)), 0);
  const char* gone_req = "GET /gone HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK_INT(send(fd, gone_req, strlen(gone_req), 0), (long)strlen(gone_req));
  for (int i = 0; i < 1000 && gone_id == 0; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK(gone_id != 0);
  struct linger reset = {1, 0};
  CHECK_INT(setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
  close(fd); /* RST; the server has not read it yet */
  catzilla_stream_context_t* gone = catzilla_stream_of(server, gone_id);
  CHECK(gone != NULL);
  if (gone) CHECK_INT(catzilla_stream_write(gone, big_chunk, BIG_CHUNK, NULL, NULL), CATZILLA_ECLOSED);
  CHECK(catzilla_stream_of(server, gone_id) == NULL);
  CHECK_INT(aborts, 2);
  for (int i = 0; i < 100 && ended[CATZILLA_STREAM_ABORTED] < 2; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(ended[CATZILLA_STREAM_ABORTED], 2);
  CHECK_INT(ended[CATZILLA_STREAM_ERRORED], 0);

  /* streams cut on purpose: recorded as closed / shed, not errored; the body is truncated */
  c = exchange(port, "GET /closed HTTP/1.1\r\nHost: t\r\n\r\n", 0, 0);
  CHECK(dechunk(c->data, c->len, body, &chunks) < 0); /* no terminator */
  client_free(c);
  c = exchange(port, "GET /shed HTTP/1.1\r\nHost: t\r\n\r\n", 0, 0);
  CHECK(dechunk(c->data, c->len, body, &chunks) < 0);
  client_free(c);
  for (int i = 0; i < 100 && ended[CATZILLA_STREAM_SHED] == 0; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(ended[CATZILLA_STREAM_CLOSED], 1);
  CHECK_INT(ended[CATZILLA_STREAM_SHED], 1);

  /* an idle stream holds nothing but its context once its bytes went out: the pieces array
   * and the cork buffer go back to the server (for the next write, of any stream), the head is
   * freed; a later write takes them again and leaves the same way */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_INT(connect(fd, (const struct sockaddr*)&addr, sizeof(addr)), 0);
  const char* idle_req = "GET /idle HTTP/1.1\r\nHost: t\r\n\r\n";
  CHECK_INT(send(fd, idle_req, strlen(idle_req), 0), (long)strlen(idle_req));
  char got[4096];
  size_t got_len = 0;
  for (int i = 0; i < 1000 && (got_len < 12 || memcmp(got + got_len - 12, "6\r\n: ok\n\n\r\n", 12) != 0); i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    ssize_t r = recv(fd, got + got_len, sizeof(got) - 1 - got_len, MSG_DONTWAIT);
    if (r > 0) got_len += (size_t)r;
  }
  got[got_len] = 0;
  CHECK(strstr(got, "\r\n\r\n6\r\n: ok\n\n\r\n") != NULL);
  catzilla_stream_context_t* idle = catzilla_stream_of(server, idle_id);
  CHECK(idle != NULL);
  if (idle) {
    CHECK(idle->pieces == NULL);
    CHECK(idle->cork.base == NULL && idle->cork.cap == 0);
    CHECK(idle->head.base == NULL);
    CHECK(server->cork_spares.count >= 1 && server->cork_spares.count <= CATZILLA__CORK_SPARES);
    CHECK_INT(catzilla_stream_write(idle, "data: 1\n\n", 9, NULL, NULL), 1);
    CHECK(idle->pieces != NULL && idle->cork.base != NULL);
  }
  got_len = 0;
  for (int i = 0; i < 1000 && got_len < 14; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    ssize_t r = recv(fd, got + got_len, sizeof(got) - 1 - got_len, MSG_DONTWAIT);
    if (r > 0) got_len += (size_t)r;
  }
  got[got_len] = 0;
  CHECK(strcmp(got, "9\r\ndata: 1\n\n\r\n") == 0);
  idle = catzilla_stream_of(server, idle_id);
  CHECK(idle != NULL && idle->pieces == NULL && idle->cork.base == NULL);
  close(fd);
  for (int i = 0; i < 1000 && ended[CATZILLA_STREAM_ABORTED] < 3; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(ended[CATZILLA_STREAM_ABORTED], 3);
  CHECK_INT(aborts, 3);

  catzilla_server_stats_t st;
  catzilla_server_stats(server, &st);
  CHECK_INT(st.streams_started, 8);
  CHECK_INT(st.streams_completed, 3);
  CHECK_INT(st.streams_aborted, 3);
  CHECK_INT(st.streams_errored, 0);
  CHECK_INT(st.streams_closed, 1);
  CHECK_INT(st.streams_shed, 1);
  CHECK_INT(st.streams_active, 0);

  CHECK_INT(stop_server(server), 0); /* nothing left on the loop */
  CHECK_INT(uv_loop_close(loop), 0);
  free(body);
  TEST_END();
}
