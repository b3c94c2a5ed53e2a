/*
 * Work deferred to a loop phase, so that nothing calls JavaScript from inside a call that
 * JavaScript made: `resume` in the idle phase (connections to continue), `flush` in the
 * prepare phase (corked streams are written before the loop blocks), `notify` in the check
 * phase (streams' ends, right after the poll phase that finished most of them), each in the
 * order queued. A task is an intrusive link with a function;
 * a leaf: it runs tasks without knowing what they belong to. An optional function runs after a
 * queue ran one task or more (the end of a batch).
 */
#include "internal.h"

static void deferred__run_queue(catzilla__deferred_t* d, catzilla__defer_queue_t queue) {
  catzilla__task_t* list = d->queues[queue].head;
  d->queues[queue].head = d->queues[queue].tail = NULL;
  bool ran = list != NULL;
  while (list != NULL) {
    catzilla__task_t* task = list;
    list = task->next;
    task->next = NULL;
    task->queued = false;
    task->run(task);
  }
  if (ran && d->after_run[queue] != NULL) d->after_run[queue](d->after_arg);
}

static void deferred__on_idle(uv_idle_t* idle) {
  catzilla__deferred_t* d = CATZILLA__CONTAINER_OF(idle, catzilla__deferred_t, idle);
  uv_idle_stop(idle);
  deferred__run_queue(d, CATZILLA__DEFER_RESUME);
}

/* Before the loop blocks: corked streams are written. */
static void deferred__on_prepare(uv_prepare_t* prepare) {
  catzilla__deferred_t* d = CATZILLA__CONTAINER_OF(prepare, catzilla__deferred_t, prepare);
  uv_prepare_stop(prepare);
  deferred__run_queue(d, CATZILLA__DEFER_FLUSH);
}

/* Right after the poll phase: the ends of the streams its callbacks finished are told together,
 * in the same loop turn (their objects die young), without keeping the loop from blocking. */
static void deferred__on_check(uv_check_t* check) {
  catzilla__deferred_t* d = CATZILLA__CONTAINER_OF(check, catzilla__deferred_t, check);
  uv_check_stop(check);
  deferred__run_queue(d, CATZILLA__DEFER_NOTIFY);
}

void catzilla__deferred_init(catzilla__deferred_t* d, uv_loop_t* loop) {
  memset(d->queues, 0, sizeof(d->queues));
  memset(d->after_run, 0, sizeof(d->after_run));
  d->after_arg = NULL;
  d->stopped = false;
  uv_idle_init(loop, &d->idle);
  uv_unref((uv_handle_t*)&d->idle);
  uv_prepare_init(loop, &d->prepare);
  uv_unref((uv_handle_t*)&d->prepare);
  uv_check_init(loop, &d->check);
  uv_unref((uv_handle_t*)&d->check);
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
  if (queue == CATZILLA__DEFER_RESUME) uv_idle_start(&d->idle, deferred__on_idle);
  else if (queue == CATZILLA__DEFER_FLUSH) uv_prepare_start(&d->prepare, deferred__on_prepare);
  else uv_check_start(&d->check, deferred__on_check);
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
  deferred__run_queue(d, queue);
}

void catzilla__deferred_close(catzilla__deferred_t* d, uv_close_cb cb, void* data) {
  d->stopped = true;
  uv_idle_stop(&d->idle);
  uv_prepare_stop(&d->prepare);
  uv_check_stop(&d->check);
  d->idle.data = data;
  d->prepare.data = data;
  d->check.data = data;
  uv_close((uv_handle_t*)&d->idle, cb);
  uv_close((uv_handle_t*)&d->prepare, cb);
  uv_close((uv_handle_t*)&d->check, cb);
}
