/*
 * 64-bit counters: write latency into a log2 histogram (per server) and its totals
 * (per stream and per server).
 */
#include "internal.h"

uint64_t catzilla__wall_ms(void) {
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) != 0) return 0;
  return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

void catzilla__stats_record_latency(catzilla_server_t* server, catzilla_stream_stats_t* stream, uint64_t us) {
  unsigned bucket = 0;
  while (bucket < CATZILLA_LATENCY_BUCKETS - 1 && us >= (UINT64_C(1) << bucket)) bucket++;
  server->stats.write_latency_buckets[bucket]++;
  server->stats.write_latency_count++;
  server->stats.write_latency_total_us += us;
  stream->write_latency_total_us += us;
  if (us > stream->write_latency_max_us) stream->write_latency_max_us = us;
}
