/*
 * Time for the controller's reconcilers, the sim cloud and the simulated
 * cluster: one interface, two clocks behind it.
 *
 * - The wall clock (io/clock_uv.c) runs timers on a libuv loop; `stevedore
 *   controller` uses it.
 * - The virtual clock (base/clock.c) keeps its timers in a heap and jumps
 *   from one deadline to the next when driven (stv_vclock_run_until), so
 *   `stevedore simulate` runs hours of cluster time in seconds with the
 *   very same reconciler code.
 *
 * Contract, for both clocks (code that uses a clock must rely on nothing
 * else):
 * - now() is seconds since an arbitrary epoch of the clock, monotonic, a
 *   double (microseconds are exact up to 2^53 us, about 285 years).
 * - A timer callback runs on the thread that drives the clock (the loop
 *   thread), never from inside stv_clock_start()/stv_clock_stop(): a
 *   timer started with delay 0 runs after the current callback returns.
 * - Timers that are due at the same instant run in the order they were
 *   started.
 * - A timer is owned by the caller (embed it); it may be restarted from its
 *   own callback and stopped at any time, also when not running.
 * - Clocks are not thread-safe: only the loop thread starts and stops
 *   timers. Worker threads hand results back through the loop (uv_async or
 *   the completion of uv_queue_work), not by touching timers.
 */
#ifndef STV_CLOCK_H
#define STV_CLOCK_H

#include <stddef.h>
#include <stdint.h>

struct stv_clock;
struct stv_timer;

typedef void (*stv_timer_cb)(struct stv_timer *t);

struct stv_timer {
  stv_timer_cb cb;
  void *data; /* the caller's */
  /* Private to the clock. */
  struct stv_clock *clock;
  double due;
  uint64_t seq;
  size_t slot; /* heap position + 1 (virtual), 0: not running */
  void *impl;  /* wall clock: its uv_timer_t */
};

struct stv_clock_ops {
  /* Seconds on this clock (see the contract above). */
  double (*now)(struct stv_clock *c);
  /* Starts (or restarts) t to call t->cb once after delay seconds (>= 0).
   * Returns 0 or an STV_ code (STV_ENOMEM). */
  int (*start)(struct stv_clock *c, struct stv_timer *t, double delay);
  /* Stops t; a no-op when t is not running. */
  void (*stop)(struct stv_clock *c, struct stv_timer *t);
};

struct stv_clock {
  const struct stv_clock_ops *ops;
  void *impl;
};

static inline double stv_clock_now(struct stv_clock *c) { return c->ops->now(c); }

static inline int stv_clock_start(struct stv_clock *c, struct stv_timer *t, double delay, stv_timer_cb cb,
                                  void *data) {
  t->cb = cb;
  t->data = data;
  return c->ops->start(c, t, delay);
}

static inline void stv_clock_stop(struct stv_clock *c, struct stv_timer *t) { c->ops->stop(c, t); }

/*
 * The virtual clock. stv_vclock_init starts it at `start` seconds;
 * stv_vclock_run_until runs every timer due up to and including `until`, in
 * order of due time then start order, advancing now() to each timer's due
 * time before its callback, and finally to `until` (when `until` is
 * finite). Returns the number of callbacks run. stv_vclock_next returns the
 * due time of the next timer, or INFINITY when none is running.
 */
struct stv_vclock {
  struct stv_clock clock; /* first: &vc->clock is the clock to hand out */
  double now;
  uint64_t seq;
  struct stv_timer **heap;
  size_t n, cap;
};

void stv_vclock_init(struct stv_vclock *vc, double start);
void stv_vclock_close(struct stv_vclock *vc);
size_t stv_vclock_run_until(struct stv_vclock *vc, double until);
double stv_vclock_next(const struct stv_vclock *vc);

#endif
