/*
 * The virtual clock (base/clock.h): timers in a binary min-heap ordered by
 * due time, then by the order they were started (a sequence number), so
 * that timers due at the same instant run first started, first run.
 *
 * Each timer remembers its heap slot (slot = index + 1, 0 when it is not
 * running), so stopping or restarting one is O(log n) without a search.
 * stv_vclock_run_until pops the earliest timer, marks it stopped, moves
 * now() to its due time and calls it; the callback may start or stop any
 * timer, itself included, because the heap is consistent before every call.
 */
#include <math.h>

#include "base.h"
#include "clock.h"

static int before(const struct stv_timer *a, const struct stv_timer *b) {
  if (a->due != b->due) return a->due < b->due;
  return a->seq < b->seq;
}

static void place(struct stv_vclock *vc, size_t i, struct stv_timer *t) {
  vc->heap[i] = t;
  t->slot = i + 1;
}

static void sift_up(struct stv_vclock *vc, size_t i) {
  struct stv_timer *t = vc->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(t, vc->heap[parent])) break;
    place(vc, i, vc->heap[parent]);
    i = parent;
  }
  place(vc, i, t);
}

static void sift_down(struct stv_vclock *vc, size_t i) {
  struct stv_timer *t = vc->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= vc->n) break;
    if (child + 1 < vc->n && before(vc->heap[child + 1], vc->heap[child])) child++;
    if (!before(vc->heap[child], t)) break;
    place(vc, i, vc->heap[child]);
    i = child;
  }
  place(vc, i, t);
}

/* Takes t out of the heap (t must be in it). */
static void heap_remove(struct stv_vclock *vc, struct stv_timer *t) {
  size_t i = t->slot - 1;
  struct stv_timer *last = vc->heap[--vc->n];
  t->slot = 0;
  if (last == t) return;
  place(vc, i, last);
  if (i > 0 && before(last, vc->heap[(i - 1) / 2]))
    sift_up(vc, i);
  else
    sift_down(vc, i);
}

static double vclock_now(struct stv_clock *c) {
  return ((struct stv_vclock *)c->impl)->now;
}

static int vclock_start(struct stv_clock *c, struct stv_timer *t, double delay) {
  struct stv_vclock *vc = c->impl;
  if (isnan(delay)) return STV_EINVAL;
  if (delay < 0) delay = 0; /* a deadline already passed: due now */
  if (t->slot == 0 && vc->n == vc->cap) {
    int rc = stv_grow((void **)&vc->heap, &vc->cap, vc->n + 1, sizeof(*vc->heap));
    if (rc != 0) return rc;
  }
  if (t->slot != 0) heap_remove(vc, t);
  t->clock = c;
  t->due = vc->now + delay;
  t->seq = vc->seq++;
  vc->heap[vc->n] = t;
  t->slot = ++vc->n;
  sift_up(vc, vc->n - 1);
  return 0;
}

static void vclock_stop(struct stv_clock *c, struct stv_timer *t) {
  struct stv_vclock *vc = c->impl;
  if (t->slot == 0 || t->clock != c) return;
  heap_remove(vc, t);
}

static const struct stv_clock_ops vclock_ops = {
    .now = vclock_now,
    .start = vclock_start,
    .stop = vclock_stop,
};

void stv_vclock_init(struct stv_vclock *vc, double start) {
  vc->clock.ops = &vclock_ops;
  vc->clock.impl = vc;
  vc->now = start;
  vc->seq = 0;
  vc->heap = NULL;
  vc->n = 0;
  vc->cap = 0;
}

void stv_vclock_close(struct stv_vclock *vc) {
  size_t i;
  for (i = 0; i < vc->n; i++) vc->heap[i]->slot = 0;
  stv_free(vc->heap);
  vc->heap = NULL;
  vc->n = vc->cap = 0;
}

size_t stv_vclock_run_until(struct stv_vclock *vc, double until) {
  size_t ran = 0;
  while (vc->n > 0 && vc->heap[0]->due <= until) {
    struct stv_timer *t = vc->heap[0];
    heap_remove(vc, t);
    if (t->due > vc->now) vc->now = t->due;
    t->cb(t);
    ran++;
  }
  if (isfinite(until) && until > vc->now) vc->now = until;
  return ran;
}

double stv_vclock_next(const struct stv_vclock *vc) {
  return vc->n > 0 ? vc->heap[0]->due : INFINITY;
}
