/*
 * The wall clock on libuv (io/clock_uv.h). A running stv_timer owns one
 * uv_timer_t, allocated when it starts and closed when it stops or fires,
 * so that the caller may free its stv_timer as soon as it is not running
 * (libuv frees a handle only after its close callback, which the loop runs
 * later; the handle therefore never points back to a timer that is gone).
 * libuv orders timers due at the same millisecond by the order they were
 * started, which is the contract of base/clock.h.
 */
#include <math.h>

#include "base.h"
#include "clock_uv.h"

struct stv__uvtimer {
  uv_timer_t h;
  struct stv_timer *t; /* NULL once detached */
  struct stv_uvclock *uc;
  struct stv__uvtimer *prev, *next;
};

static void uvtimer_freed(uv_handle_t *h) {
  stv_free(h->data);
}

/* Detaches the uv timer of t, stops and closes it. */
static void detach(struct stv_uvclock *uc, struct stv_timer *t) {
  struct stv__uvtimer *u = t->impl;
  if (u == NULL) return;
  if (u->prev != NULL)
    u->prev->next = u->next;
  else
    uc->running = u->next;
  if (u->next != NULL) u->next->prev = u->prev;
  uc->nrunning--;
  u->t = NULL;
  t->impl = NULL;
  t->slot = 0;
  uv_timer_stop(&u->h);
  uv_close((uv_handle_t *)&u->h, uvtimer_freed);
}

static void fired(uv_timer_t *h) {
  struct stv__uvtimer *u = h->data;
  struct stv_timer *t = u->t;
  if (t == NULL) return;
  detach(u->uc, t);
  t->cb(t);
}

static double uvclock_now(struct stv_clock *c) {
  struct stv_uvclock *uc = c->impl;
  return (double)(uv_hrtime() - uc->epoch_ns) / 1e9;
}

static int uvclock_start(struct stv_clock *c, struct stv_timer *t, double delay) {
  struct stv_uvclock *uc = c->impl;
  struct stv__uvtimer *u = t->impl;
  double ms;
  if (isnan(delay) || isinf(delay)) return STV_EINVAL;
  if (delay < 0) delay = 0; /* a deadline already passed: due now */
  /* The loop's time is whole milliseconds, truncated: one more makes sure a
   * timer never fires before now() reaches its due time. */
  ms = delay > 0 ? ceil(delay * 1000.0) + 1 : 0;
  if (ms > 1e15) return STV_EINVAL; /* over 30,000 years */
  if (u == NULL) {
    u = stv_calloc(1, sizeof(*u));
    if (u == NULL) return STV_ENOMEM;
    uv_timer_init(uc->loop, &u->h);
    u->h.data = u;
    u->t = t;
    u->uc = uc;
    u->next = uc->running;
    if (u->next != NULL) u->next->prev = u;
    uc->running = u;
    uc->nrunning++;
    t->impl = u;
  }
  uv_update_time(uc->loop);
  t->clock = c;
  t->due = uvclock_now(c) + delay;
  t->slot = 1;
  /* uv_timer_start on an active timer restarts it (a new start order). */
  uv_timer_start(&u->h, fired, (uint64_t)ms, 0);
  return 0;
}

static void uvclock_stop(struct stv_clock *c, struct stv_timer *t) {
  if (t->impl == NULL || t->clock != c) return;
  detach(c->impl, t);
}

static const struct stv_clock_ops uvclock_ops = {
    .now = uvclock_now,
    .start = uvclock_start,
    .stop = uvclock_stop,
};

void stv_uvclock_init(struct stv_uvclock *uc, uv_loop_t *loop) {
  uc->clock.ops = &uvclock_ops;
  uc->clock.impl = uc;
  uc->loop = loop;
  uc->epoch_ns = uv_hrtime();
  uc->running = NULL;
  uc->nrunning = 0;
}

void stv_uvclock_close(struct stv_uvclock *uc) {
  while (uc->running != NULL) detach(uc, uc->running->t);
}
