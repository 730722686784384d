/*
 * Tests for the clocks of base/clock.h: the virtual clock (base/clock.c)
 * and the wall clock on libuv (io/clock_uv.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "harness.h"
#include "base.h"
#include "clock.h"
#include "clock_uv.h"

/* What the callbacks record: which timer ran, at what time, in order. */
struct log {
  int order[64];
  double at[64];
  int n;
  struct stv_clock *clock;
};

struct rec_timer {
  struct stv_timer t;
  struct log *log;
  int id;
  int restarts;             /* restart itself this many times, 1 s apart */
  struct rec_timer *victim; /* stopped by this timer's callback */
};

static void rec_cb(struct stv_timer *t) {
  struct rec_timer *r = t->data;
  struct log *l = r->log;
  if (l->n < 64) {
    l->order[l->n] = r->id;
    l->at[l->n] = stv_clock_now(l->clock);
    l->n++;
  }
  if (r->victim != NULL) stv_clock_stop(l->clock, &r->victim->t);
  if (r->restarts > 0) {
    r->restarts--;
    stv_clock_start(l->clock, t, 1.0, rec_cb, r);
  }
}

static void rec_init(struct rec_timer *r, struct log *l, int id) {
  memset(r, 0, sizeof(*r));
  r->log = l;
  r->id = id;
}

TEST(should_run_virtual_timers_in_due_order_and_advance_now_to_each) {
  struct stv_vclock vc;
  struct log l;
  struct rec_timer a, b, c;
  memset(&l, 0, sizeof(l));
  stv_vclock_init(&vc, 100.0);
  l.clock = &vc.clock;
  rec_init(&a, &l, 1);
  rec_init(&b, &l, 2);
  rec_init(&c, &l, 3);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &a.t, 30, rec_cb, &a), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &b.t, 10, rec_cb, &b), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &c.t, 20, rec_cb, &c), 0);
  CHECK(stv_vclock_next(&vc) == 110.0);
  CHECK_EQ_INT(stv_vclock_run_until(&vc, 125.0), 2);
  CHECK(stv_clock_now(&vc.clock) == 125.0);
  CHECK_EQ_INT(l.n, 2);
  CHECK_EQ_INT(l.order[0], 2);
  CHECK_EQ_INT(l.order[1], 3);
  CHECK(l.at[0] == 110.0 && l.at[1] == 120.0);
  CHECK_EQ_INT(stv_vclock_run_until(&vc, INFINITY), 1);
  CHECK(stv_clock_now(&vc.clock) == 130.0); /* an infinite horizon stops at the last timer */
  CHECK(isinf(stv_vclock_next(&vc)));
  stv_vclock_close(&vc);
}

TEST(should_run_timers_due_at_the_same_instant_in_start_order) {
  struct stv_vclock vc;
  struct log l;
  struct rec_timer r[6];
  int i;
  memset(&l, 0, sizeof(l));
  stv_vclock_init(&vc, 0);
  l.clock = &vc.clock;
  for (i = 0; i < 6; i++) rec_init(&r[i], &l, i);
  /* Started 5, 3, 1, 0, 2, 4, all due at 5 s. */
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &r[5].t, 5, rec_cb, &r[5]), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &r[3].t, 5, rec_cb, &r[3]), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &r[1].t, 5, rec_cb, &r[1]), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &r[0].t, 5, rec_cb, &r[0]), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &r[2].t, 5, rec_cb, &r[2]), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &r[4].t, 5, rec_cb, &r[4]), 0);
  /* Restarting 3 puts it last among the ties. */
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &r[3].t, 5, rec_cb, &r[3]), 0);
  CHECK_EQ_INT(stv_vclock_run_until(&vc, 5), 6);
  CHECK_EQ_INT(l.order[0], 5);
  CHECK_EQ_INT(l.order[1], 1);
  CHECK_EQ_INT(l.order[2], 0);
  CHECK_EQ_INT(l.order[3], 2);
  CHECK_EQ_INT(l.order[4], 4);
  CHECK_EQ_INT(l.order[5], 3);
  stv_vclock_close(&vc);
}

TEST(should_let_a_timer_restart_itself_from_its_callback) {
  struct stv_vclock vc;
  struct log l;
  struct rec_timer r;
  memset(&l, 0, sizeof(l));
  stv_vclock_init(&vc, 0);
  l.clock = &vc.clock;
  rec_init(&r, &l, 7);
  r.restarts = 3;
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &r.t, 0.5, rec_cb, &r), 0);
  CHECK_EQ_INT(stv_vclock_run_until(&vc, 100), 4);
  CHECK_EQ_INT(l.n, 4);
  CHECK(l.at[0] == 0.5 && l.at[1] == 1.5 && l.at[2] == 2.5 && l.at[3] == 3.5);
  CHECK_EQ_INT(r.t.slot, 0);
  stv_vclock_close(&vc);
}

TEST(should_run_a_zero_delay_timer_started_in_a_callback_after_it_returns) {
  struct stv_vclock vc;
  struct log l;
  struct rec_timer a, b, later;
  memset(&l, 0, sizeof(l));
  stv_vclock_init(&vc, 0);
  l.clock = &vc.clock;
  rec_init(&a, &l, 1);
  rec_init(&b, &l, 2);
  rec_init(&later, &l, 3);
  /* a restarts itself with delay 1 s; b is due at the same instant as a's
   * restart and was started before it, so b runs first. */
  a.restarts = 1;
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &a.t, 1, rec_cb, &a), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &b.t, 2, rec_cb, &b), 0);
  CHECK_EQ_INT(stv_vclock_run_until(&vc, 2), 3);
  CHECK_EQ_INT(l.order[0], 1);
  CHECK_EQ_INT(l.order[1], 2);
  CHECK_EQ_INT(l.order[2], 1);
  /* A zero-delay timer runs at the current time, not before now. */
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &later.t, 0, rec_cb, &later), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &b.t, -3, rec_cb, &b), 0); /* a passed deadline: due now */
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &a.t, NAN, rec_cb, &a), STV_EINVAL);
  CHECK_EQ_INT(stv_vclock_run_until(&vc, 2), 2);
  CHECK_EQ_INT(l.order[3], 3);
  CHECK_EQ_INT(l.order[4], 2);
  CHECK(l.at[3] == 2.0 && l.at[4] == 2.0);
  stv_vclock_close(&vc);
}

TEST(should_stop_a_timer_from_another_timers_callback_and_ignore_a_stop_of_a_non_running_one) {
  struct stv_vclock vc;
  struct log l;
  struct rec_timer a, b, idle;
  memset(&l, 0, sizeof(l));
  stv_vclock_init(&vc, 0);
  l.clock = &vc.clock;
  rec_init(&a, &l, 1);
  rec_init(&b, &l, 2);
  rec_init(&idle, &l, 3);
  stv_clock_stop(&vc.clock, &idle.t); /* never started: a no-op */
  a.victim = &b;
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &a.t, 1, rec_cb, &a), 0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &b.t, 1, rec_cb, &b), 0);
  CHECK_EQ_INT(stv_vclock_run_until(&vc, 10), 1);
  CHECK_EQ_INT(l.n, 1);
  CHECK_EQ_INT(l.order[0], 1);
  stv_clock_stop(&vc.clock, &a.t); /* already ran: a no-op */
  stv_clock_stop(&vc.clock, &b.t); /* already stopped: a no-op */
  CHECK_EQ_INT(vc.n, 0);
  stv_vclock_close(&vc);
}

/* Shared state of the million-timer test. */
static double g_last;
static long g_bad, g_ran;

static void order_cb(struct stv_timer *t) {
  double now = stv_clock_now(t->clock);
  if (now < g_last || now != t->due) g_bad++;
  g_last = now;
  g_ran++;
}

TEST(should_run_a_million_timers_in_order_in_well_under_seconds) {
  struct stv_vclock vc;
  struct stv_timer *ts;
  size_t i, n = 1000000;
  unsigned long long x = 88172645463325252ull;
  struct timespec t0, t1;
  double secs;
  ts = calloc(n, sizeof(*ts));
  CHECK(ts != NULL);
  stv_vclock_init(&vc, 0);
  g_last = 0;
  g_bad = g_ran = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (stv_clock_start(&vc.clock, &ts[i], (double)(x % 3600000) / 1000.0, order_cb, NULL) != 0) break;
  }
  CHECK_EQ_INT(i, n);
  /* Stop every tenth timer: removal from the middle of the heap. */
  for (i = 0; i < n; i += 10) stv_clock_stop(&vc.clock, &ts[i]);
  CHECK_EQ_INT(stv_vclock_run_until(&vc, INFINITY), n - n / 10);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK_EQ_INT(g_bad, 0);
  CHECK_EQ_INT(g_ran, (long)(n - n / 10));
  fprintf(stderr, "  1e6 virtual timers started, 1e5 stopped, 9e5 run: %.3f s\n", secs);
  CHECK(secs < 60.0); /* a sanity bound: about 0.5 s on an idle core, much more under ASan or load */
  stv_vclock_close(&vc);
  free(ts);
}

TEST(should_report_enomem_when_the_heap_cannot_grow) {
  struct stv_vclock vc;
  struct stv_timer t;
  memset(&t, 0, sizeof(t));
  stv_vclock_init(&vc, 0);
  stv_alloc_fail_after(0);
  CHECK_EQ_INT(stv_clock_start(&vc.clock, &t, 1, order_cb, NULL), STV_ENOMEM);
  stv_alloc_fail_after(-1);
  CHECK_EQ_INT(t.slot, 0);
  CHECK(isinf(stv_vclock_next(&vc)));
  stv_vclock_close(&vc);
}

/* ---- the wall clock ------------------------------------------------- */

struct wall {
  struct stv_uvclock uc;
  struct stv_timer a, b, c, self, never;
  int order[16];
  double at[16];
  int n, self_runs;
};

static void wall_rec(struct stv_timer *t) {
  struct wall *w = t->data;
  if (w->n < 16) {
    w->order[w->n] = t == &w->a ? 1 : t == &w->b ? 2 : t == &w->c ? 3 : t == &w->self ? 4 : 9;
    w->at[w->n] = stv_clock_now(&w->uc.clock);
    w->n++;
  }
  if (t == &w->self && ++w->self_runs < 3) stv_clock_start(&w->uc.clock, t, 0.005, wall_rec, w);
  if (t == &w->a) stv_clock_stop(&w->uc.clock, &w->never);
}

TEST(should_fire_wall_clock_timers_on_a_libuv_loop_in_order_and_never_early) {
  uv_loop_t loop;
  struct wall *w = calloc(1, sizeof(*w));
  double t0;
  CHECK(w != NULL);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  stv_uvclock_init(&w->uc, &loop);
  t0 = stv_clock_now(&w->uc.clock);
  CHECK(t0 >= 0 && t0 < 1.0);
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->c, 0.060, wall_rec, w), 0);
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->a, 0.020, wall_rec, w), 0);
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->b, 0.040, wall_rec, w), 0);
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->self, 0, wall_rec, w), 0);
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->never, 0.050, wall_rec, w), 0); /* a stops it */
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->b, 0.030, wall_rec, w), 0);     /* restart: sooner */
  CHECK_EQ_INT(w->uc.nrunning, 5);
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(w->n, 6);
  CHECK_EQ_INT(w->self_runs, 3);
  {
    /* a, b, c in due order, each never before its due time (the restarts
     * of self interleave as the machine's load has it). */
    int seen[3], k = 0, i;
    double due[3] = {0.020, 0.030, 0.060};
    for (i = 0; i < w->n; i++) {
      if (w->order[i] == 4) continue;
      CHECK(k < 3);
      CHECK_EQ_INT(w->order[i], k + 1);
      CHECK(w->at[i] - t0 >= due[k]);
      seen[k++] = i;
    }
    CHECK_EQ_INT(k, 3);
    CHECK(w->at[seen[2]] - t0 < 5.0);
  }
  CHECK_EQ_INT(w->uc.nrunning, 0);
  stv_uvclock_close(&w->uc);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  free(w);
}

TEST(should_close_a_wall_clock_with_running_timers_without_calling_them) {
  uv_loop_t loop;
  struct wall *w = calloc(1, sizeof(*w));
  CHECK(w != NULL);
  CHECK_EQ_INT(uv_loop_init(&loop), 0);
  stv_uvclock_init(&w->uc, &loop);
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->a, 3600, wall_rec, w), 0);
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->b, 0, wall_rec, w), 0);
  CHECK_EQ_INT(stv_clock_start(&w->uc.clock, &w->c, INFINITY, wall_rec, w), STV_EINVAL);
  stv_clock_stop(&w->uc.clock, &w->c); /* not running: a no-op */
  stv_uvclock_close(&w->uc);
  CHECK_EQ_INT(w->a.slot, 0);
  CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  CHECK_EQ_INT(w->n, 0);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  free(w);
}
