/*
 * A producer thread feeding a stream through a ring: the producer copies bytes into the
 * ring and wakes the loop with uv_async; the loop moves them into the stream while it is
 * under its high watermark (and again when the stream is writable); the producer sleeps on a
 * condition variable while the ring is full, and learns that the client left (ECLOSED). The
 * source is the stream's producer like any other: it started the stream with its own hooks.
 *
 * The async handle stays open until the producer has called close(), since uv_async_send
 * on a closed handle is undefined; the source frees itself in the handle's close callback.
 */
#include "internal.h"
#include <stdatomic.h>
#include <stdlib.h>

struct catzilla_ring_source_s {
  uv_async_t async;
  catzilla_ring_t* ring;
  uv_mutex_t lock;
  uv_cond_t space;
  catzilla_stream_context_t* stream; /* loop thread only; NULL once the stream ended */
  catzilla_server_t* server;
  catzilla_stream_hooks_t user;      /* the starter's hooks: it hears the end too */
  _Atomic int producer_state;        /* 0 running, 1 ended, 2 failed */
  _Atomic int stream_gone;
  bool ending;                       /* the stream was ended (or aborted) by the source */
  bool ended;                        /* its on_end came: the stream no longer refers to the source */
  bool closing;
};

static void source__on_closed(uv_handle_t* handle) {
  catzilla_ring_source_t* src = CATZILLA__CONTAINER_OF((uv_async_t*)handle, catzilla_ring_source_t, async);
  catzilla_ring_free(src->ring);
  uv_cond_destroy(&src->space);
  uv_mutex_destroy(&src->lock);
  free(src);
}

/* Read under the lock: once the loop sees the producer's final state, the producer's
 * final uv_async_send has returned (it happens under the same lock), so closing the
 * handle can never race with it. */
static int source__producer_state(catzilla_ring_source_t* src) {
  uv_mutex_lock(&src->lock);
  int state = atomic_load(&src->producer_state);
  uv_mutex_unlock(&src->lock);
  return state;
}

static void source__wake_producer(catzilla_ring_source_t* src) {
  uv_mutex_lock(&src->lock);
  uv_cond_signal(&src->space);
  uv_mutex_unlock(&src->lock);
}

/* The source lives until both sides are done: the producer closed it and the stream's end was
 * reported (the stream's hooks point here until then). */
static void source__maybe_close(catzilla_ring_source_t* src) {
  if (src->closing || !src->ended || source__producer_state(src) == 0) return;
  src->closing = true;
  uv_close((uv_handle_t*)&src->async, source__on_closed);
}

/* Loop thread: move what the ring holds into the stream, within its watermark. */
static void source__pump(catzilla_ring_source_t* src) {
  bool moved = false;
  while (src->stream != NULL && !src->ending) {
    size_t len;
    const char* data = catzilla_ring_peek(src->ring, &len);
    if (len == 0) break;
    int r = catzilla_stream_write(src->stream, data, len, NULL, NULL);
    catzilla_ring_consume(src->ring, len);
    moved = true;
    if (r <= 0) break; /* backpressured (drain pumps again) or gone */
  }
  if (moved) source__wake_producer(src);
  int state = source__producer_state(src);
  if (state == 0 || src->closing) return;
  if (src->stream != NULL && !src->ending && catzilla_ring_readable(src->ring) == 0) {
    src->ending = true; /* its on_end follows from a loop phase */
    if (state == 1) catzilla_stream_end(src->stream);
    else catzilla_stream_abort(src->stream);
  }
  source__maybe_close(src);
}

static void source__on_async(uv_async_t* async) {
  if (CATZILLA__CONTAINER_OF(async, catzilla_ring_source_t, async)->closing) return;
  catzilla_ring_source_t* src = CATZILLA__CONTAINER_OF(async, catzilla_ring_source_t, async);
  if (src->stream != NULL) {
    catzilla_stream_stats_t st;
    catzilla_stream_get_stats(src->stream, &st);
    if (st.state == CATZILLA_STREAM_BACKPRESSURED && atomic_load(&src->producer_state) == 0) return; /* on_writable pumps */
  }
  source__pump(src);
}

/* The stream's hooks: writable again, and the end (told to the producer thread and the starter). */
static void source__on_writable(void* arg, catzilla_request_id_t id) { source__pump(arg); }

static void source__on_end(void* arg, catzilla_request_id_t id, const catzilla_stream_stats_t* stats) {
  catzilla_ring_source_t* src = arg;
  catzilla_stream_hooks_t user = src->user;
  src->stream = NULL;
  src->ended = true;
  atomic_store(&src->stream_gone, 1);
  uv_mutex_lock(&src->lock);
  uv_cond_broadcast(&src->space);
  uv_mutex_unlock(&src->lock);
  source__maybe_close(src);
  if (user.on_end != NULL) user.on_end(user.arg, id, stats); /* `src` may be gone: only the copy is used */
}

int catzilla_ring_source_start(catzilla_server_t* server, catzilla_request_id_t id,
                               const catzilla_stream_options_t* options, const catzilla_stream_hooks_t* hooks,
                               size_t ring_capacity, catzilla_ring_source_t** out) {
  catzilla_ring_source_t* src = calloc(1, sizeof(*src));
  if (src == NULL) return UV_ENOMEM;
  int err = catzilla_ring_new(ring_capacity, &src->ring);
  if (err) {
    free(src);
    return err;
  }
  uv_mutex_init(&src->lock);
  uv_cond_init(&src->space);
  atomic_init(&src->producer_state, 0);
  atomic_init(&src->stream_gone, 0);
  src->server = server;
  if (hooks != NULL) src->user = *hooks;
  err = uv_async_init(server->loop, &src->async, source__on_async);
  if (err) {
    catzilla_ring_free(src->ring);
    uv_cond_destroy(&src->space);
    uv_mutex_destroy(&src->lock);
    free(src);
    return err;
  }
  catzilla_stream_hooks_t own = {source__on_writable, source__on_end, src};
  err = catzilla_stream_start(server, id, options, &own, &src->stream);
  if (err) {
    src->closing = true;
    uv_close((uv_handle_t*)&src->async, source__on_closed); /* frees the source */
    return err;
  }
  *out = src;
  return 0;
}

ssize_t catzilla_ring_source_write(catzilla_ring_source_t* src, const void* data, size_t len) {
  size_t done = 0;
  while (done < len) {
    if (atomic_load(&src->stream_gone)) return CATZILLA_ECLOSED;
    size_t n = catzilla_ring_write(src->ring, (const char*)data + done, len - done);
    if (n > 0) {
      done += n;
      uv_async_send(&src->async);
      continue;
    }
    /* full: sleep until the loop consumed something (or the stream went away) */
    uv_mutex_lock(&src->lock);
    while (catzilla_ring_readable(src->ring) == catzilla_ring_capacity(src->ring) && !atomic_load(&src->stream_gone))
      uv_cond_wait(&src->space, &src->lock);
    uv_mutex_unlock(&src->lock);
  }
  return (ssize_t)done;
}

void catzilla_ring_source_close(catzilla_ring_source_t* src, int failed) {
  uv_mutex_lock(&src->lock);
  atomic_store(&src->producer_state, failed ? 2 : 1);
  uv_async_send(&src->async);
  uv_mutex_unlock(&src->lock); /* the producer's last touch of `src` */
}
