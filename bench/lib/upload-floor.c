/*
 * Peer "upload-floor": the least a server on one core can spend on the upload workloads
 * (bench/run upload-1g, upload-1g-shm, upload-100k), not a web server. bench/README.md "Upload floor".
 *
 *   cc -std=c11 -O2 -o upload-floor bench/lib/upload-floor.c -lcrypto   (bench/servers/upload-floor)
 *   PORT=8080 [UPLOAD_TMPDIR=/dev/shm] [FLOOR_NO_HASH=1] [FLOOR_NO_WRITE=1] upload-floor
 *
 * One thread, epoll (level-triggered), non-blocking sockets. It answers GET /hello (bench/run's
 * probe), POST /upload per the bench contract, and 404 to anything else. /upload: a
 * multipart/form-data body with Content-Length; every file part is written to a file in a fresh
 * directory under $UPLOAD_TMPDIR (default /tmp) while it is sha256-hashed (OpenSSL EVP), fields
 * are collected; the answer is `{"files":[{"field","filename","size","sha256"}],"fields":{...}}`
 * and, as in the other peers (common.mjs removeUploadDir), the directory is removed before the
 * answer is written. Keep-alive.
 *
 * The bytes path is the shortest there is with the data in user space once: every socket read
 * is at most 256 KiB into one reused buffer, the hash runs over that buffer and write(2) to the
 * file is from that buffer (no copy of the data). The delimiter "\r\n--boundary" is found with
 * memmem; the last bytes of a read that could start a delimiter (at most its length - 1, and
 * part headers not yet complete) are carried just in front of the next read's bytes.
 *
 * It handles what bench/lib/clients.mjs `upload` sends and no more: no chunked bodies, no
 * pipelining (bytes after a body's Content-Length in the same read are dropped), request heads
 * and part headers up to 16 KiB, field values up to 1 KiB, answers up to 16 KiB, written in one
 * write (a full socket buffer closes the connection). Malformed input answers 400 and closes.
 *
 * FLOOR_NO_HASH=1: no sha256 (the answer's sha256 is ""); FLOOR_NO_WRITE=1: the file is created
 * and removed but nothing is written to it. They price each step (bench/lib/upload-floor-cost.mjs).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_SZ (256 * 1024)
#define CARRY_MAX (16 * 1024) /* bytes kept between reads: a partial head or delimiter */
#define FIELD_MAX 1024
#define JSON_MAX (16 * 1024)
#define MAX_EVENTS 64

enum state { S_HEAD, S_PREAMBLE, S_AFTER_DELIM, S_PART_HEAD, S_PART_DATA, S_EPILOGUE };

typedef struct conn {
  struct conn *prev, *next; /* every open connection, for the clean-up on SIGTERM */
  int fd;
  enum state st;
  size_t carry_len;
  unsigned long long body_left; /* body bytes not read yet */
  char delim[80];               /* "\r\n--" boundary */
  size_t delim_len;
  /* the part being read */
  int is_file, file_fd;
  char name[256], filename[256];
  char value[FIELD_MAX];
  size_t value_len;
  unsigned long long size;
  EVP_MD_CTX *md;
  /* the request's answer so far */
  char dir[PATH_MAX];
  int dir_made, files;
  char files_json[JSON_MAX], fields_json[JSON_MAX];
  size_t files_len, fields_len;
  char carry[CARRY_MAX];
} conn_t;

static char *buf; /* CARRY_MAX + READ_SZ: the carry is copied just in front of each read */
static conn_t *conns;
static int no_hash, no_write;
static const char *tmp_root;
static volatile sig_atomic_t stopping;

static void on_term(int sig) { (void)sig; stopping = 1; }

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Appends s (JSON-escaped when esc) to out; -1 when it does not fit. */
static int jappend(char *out, size_t *len, const char *s, size_t n, int esc) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    char tmp[8];
    size_t k = 1;
    tmp[0] = (char)ch;
    if (esc && (ch == '"' || ch == '\\')) tmp[0] = '\\', tmp[1] = (char)ch, k = 2;
    else if (esc && ch < 0x20) k = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", ch);
    if (*len + k >= JSON_MAX) return -1;
    memcpy(out + *len, tmp, k);
    *len += k;
  }
  return 0;
}

static void remove_files(conn_t *c) {
  if (c->file_fd >= 0) close(c->file_fd), c->file_fd = -1;
  if (!c->dir_made) return;
  char p[PATH_MAX + 16];
  for (int i = 0; i < c->files; i++) {
    snprintf(p, sizeof p, "%s/%d", c->dir, i);
    unlink(p);
  }
  rmdir(c->dir);
  c->dir_made = 0;
  c->files = 0;
}

static void close_conn(conn_t *c) {
  remove_files(c);
  close(c->fd); /* also leaves the epoll set */
  EVP_MD_CTX_free(c->md);
  if (c->prev) c->prev->next = c->next; else conns = c->next;
  if (c->next) c->next->prev = c->prev;
  free(c);
}

/* `key="value"` in a part's Content-Disposition, key preceded by ' ' or ';'; 0 when absent. */
static int disp_param(const char *h, const char *key, char *out, size_t cap) {
  size_t kl = strlen(key);
  for (const char *p = h; (p = strcasestr(p, key)) != NULL; p += kl) {
    if (p == h || (p[-1] != ' ' && p[-1] != ';') || p[kl] != '=' || p[kl + 1] != '"') continue;
    const char *v = p + kl + 2, *e = strchr(v, '"');
    if (e == NULL || (size_t)(e - v) >= cap) return -1;
    memcpy(out, v, (size_t)(e - v));
    out[e - v] = 0;
    return 1;
  }
  return 0;
}

/* A part's headers h (NUL-terminated): file parts get a file and a hash, fields a value. */
static int begin_part(conn_t *c, const char *h) {
  const char *cd = strcasestr(h, "content-disposition:");
  if (cd == NULL) return -1;
  char line[1024];
  const char *eol = strstr(cd, "\r\n");
  size_t ll = eol ? (size_t)(eol - cd) : strlen(cd);
  if (ll >= sizeof line) return -1;
  memcpy(line, cd, ll);
  line[ll] = 0;
  if (disp_param(line, "name", c->name, sizeof c->name) != 1) return -1;
  int f = disp_param(line, "filename", c->filename, sizeof c->filename);
  if (f < 0) return -1;
  c->is_file = f;
  c->value_len = 0;
  c->size = 0;
  if (!c->is_file) return 0;
  if (!c->dir_made) {
    snprintf(c->dir, sizeof c->dir, "%s/upload-floor-XXXXXX", tmp_root);
    if (mkdtemp(c->dir) == NULL) return perror("upload-floor: mkdtemp"), -1;
    c->dir_made = 1;
  }
  char p[PATH_MAX + 16];
  snprintf(p, sizeof p, "%s/%d", c->dir, c->files);
  c->file_fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (c->file_fd < 0) return perror("upload-floor: open"), -1;
  c->files++;
  if (!no_hash && !EVP_DigestInit_ex(c->md, EVP_sha256(), NULL)) return -1;
  return 0;
}

static int part_data(conn_t *c, const char *d, size_t n) {
  if (n == 0) return 0;
  if (!c->is_file) {
    if (c->value_len + n > FIELD_MAX) return -1;
    memcpy(c->value + c->value_len, d, n);
    c->value_len += n;
    return 0;
  }
  c->size += n;
  if (!no_hash && !EVP_DigestUpdate(c->md, d, n)) return -1;
  if (!no_write) {
    while (n > 0) {
      ssize_t w = write(c->file_fd, d, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return perror("upload-floor: write"), -1;
      d += w;
      n -= (size_t)w;
    }
  }
  return 0;
}

static int end_part(conn_t *c) {
  char *o;
  size_t *l;
  if (!c->is_file) {
    o = c->fields_json, l = &c->fields_len;
    if ((*l > 0 && jappend(o, l, ",", 1, 0)) || jappend(o, l, "\"", 1, 0) ||
        jappend(o, l, c->name, strlen(c->name), 1) || jappend(o, l, "\":\"", 3, 0) ||
        jappend(o, l, c->value, c->value_len, 1) || jappend(o, l, "\"", 1, 0))
      return -1;
    return 0;
  }
  close(c->file_fd);
  c->file_fd = -1;
  char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
  if (!no_hash) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdl = 0;
    if (!EVP_DigestFinal_ex(c->md, md, &mdl)) return -1;
    for (unsigned int i = 0; i < mdl; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  }
  char size[32];
  int sl = snprintf(size, sizeof size, "%llu", c->size);
  o = c->files_json, l = &c->files_len;
  if ((*l > 0 && jappend(o, l, ",", 1, 0)) || jappend(o, l, "{\"field\":\"", 10, 0) ||
      jappend(o, l, c->name, strlen(c->name), 1) || jappend(o, l, "\",\"filename\":\"", 14, 0) ||
      jappend(o, l, c->filename, strlen(c->filename), 1) || jappend(o, l, "\",\"size\":", 9, 0) ||
      jappend(o, l, size, (size_t)sl, 0) || jappend(o, l, ",\"sha256\":\"", 11, 0) ||
      jappend(o, l, hex, strlen(hex), 0) || jappend(o, l, "\"}", 2, 0))
    return -1;
  return 0;
}

/* Body bytes d[0..n): returns how many were consumed (the rest is carried), -1 on an error. */
static long parse_body(conn_t *c, char *d, size_t n) {
  size_t i = 0, dl = c->delim_len;
  for (;;) {
    switch (c->st) {
    case S_PREAMBLE: { /* the first delimiter has no leading CRLF */
      char *p = memmem(d + i, n - i, c->delim + 2, dl - 2);
      if (p == NULL) return (long)(n - i > dl - 3 ? n - (dl - 3) : i);
      i = (size_t)(p - d) + dl - 2;
      c->st = S_AFTER_DELIM;
      break;
    }
    case S_AFTER_DELIM:
      if (n - i < 2) return (long)i;
      if (d[i] == '\r' && d[i + 1] == '\n') c->st = S_PART_HEAD;
      else if (d[i] == '-' && d[i + 1] == '-') c->st = S_EPILOGUE;
      else return -1;
      i += 2;
      break;
    case S_PART_HEAD: {
      char *p = memmem(d + i, n - i, "\r\n\r\n", 4);
      if (p == NULL) return (long)i;
      char h[CARRY_MAX + 1];
      size_t hl = (size_t)(p - d) - i + 2; /* keep the last header's CRLF */
      if (hl > CARRY_MAX) return -1;
      memcpy(h, d + i, hl);
      h[hl] = 0;
      if (begin_part(c, h) != 0) return -1;
      i = (size_t)(p - d) + 4;
      c->st = S_PART_DATA;
      break;
    }
    case S_PART_DATA: {
      char *p = memmem(d + i, n - i, c->delim, dl);
      size_t end = p ? (size_t)(p - d) : (n - i > dl - 1 ? n - (dl - 1) : i);
      if (part_data(c, d + i, end - i) != 0) return -1;
      if (p == NULL) return (long)end;
      if (end_part(c) != 0) return -1;
      i = end + dl;
      c->st = S_AFTER_DELIM;
      break;
    }
    case S_EPILOGUE: /* the final CRLF */
      return (long)n;
    case S_HEAD:
      return -1;
    }
  }
}

static void reset_request(conn_t *c) {
  c->st = S_HEAD;
  c->carry_len = 0;
  c->files_len = c->fields_len = 0;
}

static int answer(conn_t *c, const char *status, const char *type, const char *body, size_t bl) {
  char out[JSON_MAX * 2 + 256];
  int hl = snprintf(out, sizeof out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", status, type, bl);
  if ((size_t)hl + bl > sizeof out) return -1;
  memcpy(out + hl, body, bl);
  return send_all(c->fd, out, (size_t)hl + bl);
}

static int finish_upload(conn_t *c) {
  char body[JSON_MAX * 2 + 64];
  int bl = snprintf(body, sizeof body, "{\"files\":[%.*s],\"fields\":{%.*s}}", (int)c->files_len, c->files_json,
                    (int)c->fields_len, c->fields_json);
  remove_files(c); /* before the answer leaves, as every peer does */
  reset_request(c);
  return answer(c, "200 OK", "application/json", body, (size_t)bl);
}

/* Consumes body bytes d[0..n) (the carry in front of them), keeps the unconsumed tail. */
static int body_bytes(conn_t *c, char *d, size_t n) {
  long used = parse_body(c, d, n);
  if (used < 0 || n - (size_t)used > CARRY_MAX) return -1;
  c->carry_len = n - (size_t)used;
  memcpy(c->carry, d + used, c->carry_len);
  if (c->body_left > 0) return 0;
  if (c->st != S_EPILOGUE) return -1;
  return finish_upload(c);
}

/* A complete request head d[0..hl) (with its blank line); `rest` body bytes follow it. */
static int request(conn_t *c, char *d, size_t hl, size_t rest) {
  char h[CARRY_MAX + 1];
  memcpy(h, d, hl);
  h[hl] = 0;
  char *sp1 = strchr(h, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (sp2 == NULL) return -1;
  size_t pl = (size_t)(sp2 - sp1 - 1);
  char *q = memchr(sp1 + 1, '?', pl);
  if (q) pl = (size_t)(q - sp1 - 1);
  int is_post = (size_t)(sp1 - h) == 4 && memcmp(h, "POST", 4) == 0;
  if (!is_post && pl == 6 && memcmp(sp1 + 1, "/hello", 6) == 0)
    return answer(c, "200 OK", "text/plain; charset=utf-8", "Hello, World!", 13);
  if (!is_post || pl != 7 || memcmp(sp1 + 1, "/upload", 7) != 0) {
    answer(c, "404 Not Found", "text/plain", "", 0);
    return -1; /* a body of a request we do not serve is not skipped: close */
  }
  const char *cl = strcasestr(h, "\r\ncontent-length:"), *ct = strcasestr(h, "\r\ncontent-type:");
  const char *b = ct ? strcasestr(ct, "boundary=") : NULL;
  if (cl == NULL || b == NULL || (strstr(ct + 2, "\r\n") < b)) goto bad;
  c->body_left = strtoull(cl + 17, NULL, 10);
  b += 9;
  int quoted = *b == '"';
  b += quoted;
  size_t bn = strcspn(b, quoted ? "\"\r" : "; \t\r");
  if (bn == 0 || bn + 4 > sizeof c->delim) goto bad;
  memcpy(c->delim, "\r\n--", 4);
  memcpy(c->delim + 4, b, bn);
  c->delim_len = bn + 4;
  c->st = S_PREAMBLE;
  if (rest > c->body_left) rest = (size_t)c->body_left; /* no pipelining */
  c->body_left -= rest;
  if (body_bytes(c, d + hl, rest) == 0) return 0;
bad:
  remove_files(c);
  answer(c, "400 Bad Request", "text/plain", "", 0);
  return -1;
}

/* The socket is readable: returns -1 when the connection must close. */
static int on_readable(conn_t *c) {
  for (;;) {
    char *d = buf + CARRY_MAX - c->carry_len; /* the carry right in front of the read */
    memcpy(d, c->carry, c->carry_len);
    size_t want = READ_SZ;
    if (c->st != S_HEAD && c->body_left < want) want = (size_t)c->body_left;
    ssize_t r = read(c->fd, buf + CARRY_MAX, want);
    if (r < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (r == 0) return -1;
    size_t n = c->carry_len + (size_t)r;
    if (c->st == S_HEAD) {
      char *e = memmem(d, n, "\r\n\r\n", 4);
      if (e == NULL) {
        if (n > CARRY_MAX) return -1;
        memcpy(c->carry, d, n);
        c->carry_len = n;
        continue;
      }
      c->carry_len = 0;
      size_t hl = (size_t)(e - d) + 4;
      if (hl > CARRY_MAX || request(c, d, hl, n - hl) != 0) return -1;
    } else {
      c->body_left -= (size_t)r;
      if (body_bytes(c, d, n) != 0) {
        remove_files(c);
        answer(c, "400 Bad Request", "text/plain", "", 0);
        return -1;
      }
    }
  }
}

int main(void) {
  const char *port_s = getenv("PORT");
  if (port_s == NULL) return fprintf(stderr, "upload-floor: PORT must be set\n"), 2;
  tmp_root = getenv("UPLOAD_TMPDIR");
  if (tmp_root == NULL || *tmp_root == 0) tmp_root = "/tmp";
  no_hash = getenv("FLOOR_NO_HASH") && atoi(getenv("FLOOR_NO_HASH"));
  no_write = getenv("FLOOR_NO_WRITE") && atoi(getenv("FLOOR_NO_WRITE"));
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = on_term };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  buf = malloc(CARRY_MAX + READ_SZ);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port_s)) };
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (buf == NULL || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 511) != 0)
    return perror("upload-floor: listen"), 1;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event events[MAX_EVENTS];
  while (!stopping) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (c != NULL) {
        if (on_readable(c) != 0) close_conn(c);
        continue;
      }
      int fd;
      while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *nc = calloc(1, sizeof *nc);
        if (nc == NULL || (nc->md = EVP_MD_CTX_new()) == NULL) {
          free(nc);
          close(fd);
          continue;
        }
        nc->fd = fd;
        nc->file_fd = -1;
        nc->next = conns;
        if (conns) conns->prev = nc;
        conns = nc;
        struct epoll_event cev = { .events = EPOLLIN, .data.ptr = nc };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
      }
    }
  }
  while (conns) close_conn(conns); /* no directory left behind on SIGTERM */
  close(ep);
  close(lfd);
  free(buf);
  return 0;
}
