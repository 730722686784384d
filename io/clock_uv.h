/*
 * The wall clock (base/clock.h) on a libuv loop: `stevedore controller`
 * runs its reconcilers on it, `stevedore simulate` runs the same code on
 * the virtual clock. now() is uv_hrtime() in seconds since
 * stv_uvclock_init; each running stv_timer has a uv_timer_t of its own,
 * armed in whole milliseconds rounded up (a timer never fires before
 * now() reaches its due time). A negative delay is taken as 0.
 *
 * Caller-allocated: stv_uvclock_init, hand out &uc->clock, then
 * stv_uvclock_close (stops every running timer) and run the loop once more
 * so that libuv frees the closed handles.
 */
#ifndef STV_CLOCK_UV_H
#define STV_CLOCK_UV_H

#include <stdint.h>

#include <uv.h>

#include "clock.h"

struct stv__uvtimer;

struct stv_uvclock {
  struct stv_clock clock;       /* first: &uc->clock is the clock to hand out */
  uv_loop_t *loop;              /* borrowed */
  uint64_t epoch_ns;            /* uv_hrtime() at init: now() is 0 there */
  struct stv__uvtimer *running; /* the uv timers armed, a doubly linked list */
  size_t nrunning;
};

/* Sets uc up on loop (borrowed; it must outlive uc). */
void stv_uvclock_init(struct stv_uvclock *uc, uv_loop_t *loop);
/* Stops every running timer (their callbacks do not run) and closes their
 * handles; the loop frees them when it next runs. */
void stv_uvclock_close(struct stv_uvclock *uc);

#endif
