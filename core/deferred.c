/*
 * Work deferred to a loop phase, so that nothing calls JavaScript from inside a call that
 * JavaScript made: tasks queued for the idle phase (first the `notify` queue, then the
 * `resume` queue, each in the order queued) and for the prepare phase (`flush`: corked
 * streams are written before the loop blocks). A task is an intrusive link with a function;
 * a leaf: it runs tasks without knowing what they belong to.
 */
#include "internal.h"

static void deferred__run(catzilla__task_t** head, catzilla__task_t** tail) {
  catzilla__task_t* list = *head;
  *head = *tail = NULL;
  while (list != NULL) {
    catzilla__task_t* task = list;
    list = task->next;
    task->next = NULL;
    task->queued = false;
    task->run(task);
  }
}

static void deferred__on_idle(uv_idle_t* idle) {
  catzilla__deferred_t* d = CATZILLA__CONTAINER_OF(idle, catzilla__deferred_t, idle);
  uv_idle_stop(idle);
  deferred__run(&d->queues[CATZILLA__DEFER_NOTIFY].head, &d->queues[CATZILLA__DEFER_NOTIFY].tail);
  deferred__run(&d->queues[CATZILLA__DEFER_RESUME].head, &d->queues[CATZILLA__DEFER_RESUME].tail);
}

static void deferred__on_prepare(uv_prepare_t* prepare) {
  catzilla__deferred_t* d = CATZILLA__CONTAINER_OF(prepare, catzilla__deferred_t, prepare);
  uv_prepare_stop(prepare);
  deferred__run(&d->queues[CATZILLA__DEFER_FLUSH].head, &d->queues[CATZILLA__DEFER_FLUSH].tail);
}

void catzilla__deferred_init(catzilla__deferred_t* d, uv_loop_t* loop) {
  memset(d->queues, 0, sizeof(d->queues));
  d->stopped = false;
  uv_idle_init(loop, &d->idle);
  uv_unref((uv_handle_t*)&d->idle);
  uv_prepare_init(loop, &d->prepare);
  uv_unref((uv_handle_t*)&d->prepare);
}

void catzilla__defer(catzilla__deferred_t* d, catzilla__defer_queue_t queue, catzilla__task_t* task) {
  if (task->queued) return;
  task->queued = true;
  task->next = NULL;
  catzilla__task_t** tail = &d->queues[queue].tail;
  if (*tail != NULL) (*tail)->next = task;
  else d->queues[queue].head = task;
  *tail = task;
  if (d->stopped) return;
  if (queue == CATZILLA__DEFER_FLUSH) uv_prepare_start(&d->prepare, deferred__on_prepare);
  else uv_idle_start(&d->idle, deferred__on_idle);
}

void catzilla__deferred_cancel(catzilla__deferred_t* d, catzilla__defer_queue_t queue, catzilla__task_t* task) {
  if (!task->queued) return;
  catzilla__task_t* prev = NULL;
  for (catzilla__task_t* t = d->queues[queue].head; t != NULL; prev = t, t = t->next) {
    if (t != task) continue;
    if (prev != NULL) prev->next = t->next;
    else d->queues[queue].head = t->next;
    if (d->queues[queue].tail == t) d->queues[queue].tail = prev;
    break;
  }
  task->next = NULL;
  task->queued = false;
}

void catzilla__deferred_run_now(catzilla__deferred_t* d, catzilla__defer_queue_t queue) {
  deferred__run(&d->queues[queue].head, &d->queues[queue].tail);
}

void catzilla__deferred_close(catzilla__deferred_t* d, uv_close_cb cb, void* data) {
  d->stopped = true;
  uv_idle_stop(&d->idle);
  uv_prepare_stop(&d->prepare);
  d->idle.data = data;
  d->prepare.data = data;
  uv_close((uv_handle_t*)&d->idle, cb);
  uv_close((uv_handle_t*)&d->prepare, cb);
}
