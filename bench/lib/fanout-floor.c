/*
 * fanout-floor: the least a server core can spend fanning events out to N loopback TCP
 * subscribers, with no framework, no Redis and no JavaScript: the floor under bench/scaleout.mjs's
 * sse-fanout latency (bench/README.md "Scale-out").
 *
 *   cc -O2 -o /tmp/fanout-floor bench/lib/fanout-floor.c
 *   fanout-floor <subscribers> <events/s> <events> [writer cpu] [reader cpu]
 *
 * A writer process (pinned to `writer cpu`, default 1) accepts N connections and publishes
 * `events` events at `events/s`; a reader process (pinned to `reader cpu`, default 0) holds the
 * N sockets in one epoll set. The writer batches the best way there is: each round writes every
 * event due since the last round to every socket in one write(2) (48-byte records, the size of
 * an SSE event of the bench with its chunk framing), and starts the next round as soon as one
 * ends (self-clocked). Each record carries its publish time (CLOCK_MONOTONIC); the reader stamps
 * each record when its read returns. Printed: the writer's CPU per write and per delivery
 * (getrusage), writes, rounds, and the publish-to-read latency percentiles over all deliveries.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REC 48

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static int cmp(const void* a, const void* b) {
  float x = *(const float*)a, y = *(const float*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: fanout-floor <subscribers> <events/s> <events> [writer cpu] [reader cpu]\n");
    return 2;
  }
  int n = atoi(argv[1]);
  double rate = atof(argv[2]);
  int events = atoi(argv[3]);
  int wcpu = argc > 4 ? atoi(argv[4]) : 1, rcpu = argc > 5 ? atoi(argv[5]) : 0;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  if (bind(ls, (void*)&a, sizeof a) || listen(ls, 4096) || getsockname(ls, (void*)&a, &al)) return perror("listen"), 1;
  int pipefd[2];
  if (pipe(pipefd)) return 1;
  pid_t reader = fork();
  if (reader == 0) {
    /* the reader: N connections, one epoll set, every record stamped as its read returns */
    pin(rcpu);
    close(ls);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(fd, (void*)&a, sizeof a)) return perror("connect"), 1;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    long long want = (long long)n * events, got = 0;
    float* lat = malloc(sizeof(float) * want);
    static char buf[256 * 1024];
    struct epoll_event evs[1024];
    while (got < want) {
      int k = epoll_wait(ep, evs, 1024, 10000);
      if (k <= 0) break;
      for (int j = 0; j < k; j++) {
        ssize_t r = recv(evs[j].data.fd, buf, sizeof buf, 0);
        double t = now_us();
        for (ssize_t off = 0; off + REC <= r && got < want; off += REC) {
          double stamp;
          memcpy(&stamp, buf + off, sizeof stamp);
          lat[got++] = (float)(t - stamp);
        }
      }
    }
    qsort(lat, got, sizeof *lat, cmp);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rcpu_us = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
    printf("reader: %lld deliveries, latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f; reader CPU %.2f us per delivery\n", got, lat[got / 2] / 1e3, lat[got * 9 / 10] / 1e3,
           lat[got * 99 / 100] / 1e3, lat[got - 1] / 1e3, rcpu_us / (got ? got : 1));
    return got == want ? 0 : 1;
  }
  pin(wcpu);
  int* fds = malloc(sizeof(int) * n);
  for (int i = 0; i < n; i++) {
    fds[i] = accept(ls, NULL, NULL);
    int one = 1;
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  usleep(200000);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  double t0 = now_us();
  char* msg = calloc((size_t)events, REC);
  long long writes = 0, rounds = 0;
  int sent = 0;
  while (sent < events) {
    double now = now_us();
    int due = rate > 0 ? (int)((now - t0) * rate / 1e6) + 1 : events;
    if (due > events) due = events;
    if (due <= sent) {
      double next = t0 + sent * 1e6 / rate;
      if (next > now) usleep((useconds_t)(next - now));
      continue;
    }
    /* each event's publish time is when it was due (or now, if the writer was late) */
    for (int e = sent; e < due; e++) {
      double stamp = rate > 0 ? t0 + e * 1e6 / rate : now;
      if (stamp > now) stamp = now;
      memcpy(msg + (size_t)(e - sent) * REC, &stamp, sizeof stamp);
    }
    size_t len = (size_t)(due - sent) * REC;
    for (int i = 0; i < n; i++) {
      ssize_t w = write(fds[i], msg, len);
      if (w != (ssize_t)len) return fprintf(stderr, "short write %zd (%s)\n", w, strerror(errno)), 1;
      writes++;
    }
    rounds++;
    sent = due;
  }
  getrusage(RUSAGE_SELF, &r1);
  double us = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) + (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
  double wall = now_us() - t0;
  printf("writer: %d subscribers, %d events at %.0f/s: %lld rounds (%.2f events per write), %lld writes, CPU %.2f us per write, %.3f us per delivery, %.0f%% of its core\n", n, events, rate, rounds,
         (double)events / rounds, writes, us / writes, us / ((double)n * events), 100 * us / wall);
  fflush(stdout);
  int st;
  waitpid(reader, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
