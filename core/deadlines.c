/*
 * The deadline sweep: one repeating timer for every timeout of every connection, at a period
 * of a quarter of the shortest timeout in use (10 ms at least, 1 s at most), so a deadline is
 * noticed at most a quarter late. The owner's tick walks its connections; a leaf.
 */
#include "internal.h"

static void sweep__on_timer(uv_timer_t* timer) {
  catzilla__sweep_t* sweep = CATZILLA__CONTAINER_OF(timer, catzilla__sweep_t, timer);
  sweep->tick(sweep, uv_now(timer->loop));
}

void catzilla__sweep_init(catzilla__sweep_t* sweep, uv_loop_t* loop, void (*tick)(catzilla__sweep_t*, uint64_t now)) {
  uv_timer_init(loop, &sweep->timer);
  uv_unref((uv_handle_t*)&sweep->timer);
  sweep->tick = tick;
  sweep->interval = 0;
  sweep->shortest_ms = 0;
  sweep->until = 0;
}

static uint64_t sweep__period(uint64_t shortest_ms) {
  uint64_t period = 1000;
  if (shortest_ms && shortest_ms / 4 < period) period = shortest_ms / 4;
  return period < 10 ? 10 : period;
}

void catzilla__sweep_arm(catzilla__sweep_t* sweep) {
  uint64_t period = sweep__period(sweep->shortest_ms);
  if (sweep->until != 0) {
    uint64_t now = uv_now(sweep->timer.loop);
    uint64_t left = sweep->until > now ? sweep->until - now : 0;
    if (left + 1 < period) period = left + 1;
  }
  sweep->interval = period;
  uv_timer_start(&sweep->timer, sweep__on_timer, period, period);
}

void catzilla__sweep_note(catzilla__sweep_t* sweep, uint64_t ms, bool armed) {
  if (ms == 0 || (sweep->shortest_ms != 0 && ms >= sweep->shortest_ms)) return;
  sweep->shortest_ms = ms;
  if (armed && sweep__period(ms) < sweep->interval) catzilla__sweep_arm(sweep);
}

void catzilla__sweep_until(catzilla__sweep_t* sweep, uint64_t deadline) {
  sweep->until = deadline;
}

void catzilla__sweep_close(catzilla__sweep_t* sweep, uv_close_cb cb, void* data) {
  uv_timer_stop(&sweep->timer);
  sweep->timer.data = data;
  uv_close((uv_handle_t*)&sweep->timer, cb);
}

bool catzilla__sweep_closing(const catzilla__sweep_t* sweep) {
  return uv_is_closing((const uv_handle_t*)&sweep->timer) != 0;
}
