/* File regions in a stream: a memory header, a file by sendfile, a memory footer, chunked
 * and with a declared length, to a slow reader (EAGAIN and writability polls); a region of
 * a file; a file truncated under the response (errored, connection closed, no hang); a
 * client that leaves mid-file; and no descriptor left open afterwards. */
#include "internal.h"
#include "test.h"
#include "test_client.h"
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

static catzilla_server_t* server;
static char path[64];
static size_t file_size = 6u * 1024 * 1024 + 123;
static size_t ended[16];
static catzilla_stream_stats_t last_stats;

static unsigned char file_byte(size_t i) { return (unsigned char)(i * 31 + (i >> 11)); }

/* Descriptors open on the test file: each response opens one; all must be closed. */
static int open_fds(void) {
  int n = 0;
  char link[300], target[256];
  DIR* d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(link, target, sizeof(target) - 1);
    if (len > 0) {
      target[len] = 0;
      n += strcmp(target, path) == 0;
    }
  }
  closedir(d);
  return n;
}

static void on_stream_end(void* arg, catzilla_request_id_t id, const catzilla_stream_stats_t* st) {
  ended[st->state]++;
  last_stats = *st;
}
static const catzilla_stream_hooks_t hooks = {NULL, on_stream_end, NULL};

static void on_request(catzilla_server_t* s, catzilla_request_id_t id, const catzilla_request_info_t* info) {
  catzilla_stream_options_t o;
  catzilla_stream_options_default(&o);
  bool with_length = strncmp(info->url, "/len", 4) == 0;
  bool truncated = strncmp(info->url, "/trunc", 6) == 0;
  bool region = strncmp(info->url, "/region", 7) == 0;
  if (with_length) o.content_length = (int64_t)(7 + file_size + 7);
  catzilla_stream_context_t* stream;
  CHECK_INT(catzilla_stream_start(s, id, &o, &hooks, &stream), 0);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  if (region) {
    CHECK_INT(catzilla_stream_write_file(stream, fd, 1000, 5000, CATZILLA_FILE_CLOSE), 1);
    CHECK_INT(catzilla_stream_end(stream), 0);
    return;
  }
  CHECK(catzilla_stream_write(stream, "HEADER\n", 7, NULL, NULL) >= 0);
  uint64_t len = truncated ? file_size + 4096 : file_size;
  CHECK(catzilla_stream_write_file(stream, fd, 0, len, CATZILLA_FILE_CLOSE) >= 0);
  if (catzilla_stream_of(s, id) == NULL) return;
  CHECK(catzilla_stream_write(stream, "FOOTER\n", 7, NULL, NULL) >= 0);
  if (!truncated) CHECK_INT(catzilla_stream_end(stream), 0);
}
static void on_body(catzilla_server_t* s, catzilla_request_id_t id, const char* d, size_t n) {}
static void on_body_end(catzilla_server_t* s, catzilla_request_id_t id) {}
static void on_abort(catzilla_server_t* s, catzilla_request_id_t id, catzilla_abort_reason_t r) {}

static size_t check_mixed(const char* body, size_t n) {
  size_t bad = 0;
  if (n != 7 + file_size + 7) return 1;
  bad += memcmp(body, "HEADER\n", 7) != 0;
  for (size_t i = 0; i < file_size; i++) bad += (unsigned char)body[7 + i] != file_byte(i);
  bad += memcmp(body + 7 + file_size, "FOOTER\n", 7) != 0;
  return bad;
}

int main(void) {
  loop = uv_default_loop();
  snprintf(path, sizeof(path), "/tmp/catzilla-sendfile-%d", (int)getpid());
  FILE* f = fopen(path, "wb");
  for (size_t i = 0; i < file_size; i++) fputc(file_byte(i), f);
  fclose(f);
  CHECK_INT(open_fds(), 0);

  catzilla_server_options_t opt;
  catzilla_server_options_default(&opt);
  catzilla_server_callbacks_t cb = {on_request, on_body, on_body_end, on_abort, NULL, NULL, NULL};
  int port = start_server(&server, &opt, &cb);
  CHECK(port > 0);
  char* body = malloc(file_size + 4096);
  int chunks;

  /* chunked: header chunk, file chunk, footer chunk, to a slow reader */
  client_t* c = exchange(port, "GET /mixed HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 256 * 1024);
  long n = dechunk(c->data, c->len, body, &chunks);
  CHECK_INT(check_mixed(body, n > 0 ? (size_t)n : 0), 0);
  CHECK_INT(chunks, 3);
  CHECK_INT(last_stats.state, CATZILLA_STREAM_FINISHED);
  CHECK_INT(last_stats.sendfile_bytes, file_size);
  client_free(c);

  /* declared length: no framing at all */
  c = exchange(port, "GET /len HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 0);
  const char* head_end = strstr(c->data, "\r\n\r\n");
  CHECK(head_end != NULL);
  CHECK(strstr(c->data, "Content-Length: ") != NULL);
  if (head_end) CHECK_INT(check_mixed(head_end + 4, c->len - (size_t)(head_end + 4 - c->data)), 0);
  client_free(c);

  /* a region inside the file */
  c = exchange(port, "GET /region HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, 0);
  n = dechunk(c->data, c->len, body, &chunks);
  CHECK_INT(n, 5000);
  size_t bad = 0;
  for (long i = 0; i < n; i++) bad += (unsigned char)body[i] != file_byte(1000 + (size_t)i);
  CHECK_INT(bad, 0);
  client_free(c);

  /* the file is shorter than the region: errored, the client sees a truncated body */
  size_t errored = ended[CATZILLA_STREAM_ERRORED];
  c = exchange(port, "GET /trunc HTTP/1.1\r\nHost: t\r\n\r\n", 0, 0);
  CHECK(dechunk(c->data, c->len, body, &chunks) < 0); /* no terminator */
  CHECK(c->len > file_size);
  client_free(c);
  for (int i = 0; i < 50 && ended[CATZILLA_STREAM_ERRORED] == errored; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(ended[CATZILLA_STREAM_ERRORED], errored + 1);

  /* a client that leaves in the middle of the file */
  size_t aborted = ended[CATZILLA_STREAM_ABORTED];
  c = exchange(port, "GET /mixed HTTP/1.1\r\nHost: t\r\n\r\n", 1024 * 1024, 0);
  client_free(c);
  for (int i = 0; i < 100 && ended[CATZILLA_STREAM_ABORTED] == aborted; i++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(ended[CATZILLA_STREAM_ABORTED], aborted + 1);

  CHECK_INT(stop_server(server), 0); /* nothing left on the loop */
  CHECK_INT(open_fds(), 0); /* every descriptor closed, on every path */
  CHECK_INT(uv_loop_close(loop), 0);
  unlink(path);
  free(body);
  TEST_END();
}
