/*
 * Leader election on a Lease (leader.h): one attempt at a time, each a read
 * of the Lease followed by a create or an update with the resourceVersion
 * read; two timers, the next attempt and (while leading) the renew
 * deadline.
 */
#include "leader.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define JITTER_FACTOR 1.2 /* client-go's wait.JitterUntil factor for candidates */

struct stv_leader {
  struct stv_clock *clock;
  struct stv_leader_config cfg;
  char identity[STV_LEASE_HOLDER_MAX + 1];
  struct stv_timer tick;     /* the next attempt */
  struct stv_timer deadline; /* while leading: when renewals have failed too long */
  struct stv_timer done_timer;
  uint64_t rng;
  int leading;
  int busy;     /* a store call is in flight */
  int stopping; /* stop was called: no new attempts */
  int released; /* the release was sent or not needed */
  void (*done)(void *ctx);
  void *done_ctx;
  struct stv_lease observed; /* the record as last read or written */
  int have_observed;
  double observed_time; /* on the clock: when the record last changed */
  double last_renew;    /* on the clock: the last successful write of ours */
  char holder[STV_LEASE_HOLDER_MAX + 1];
};

static void attempt(struct stv_timer *t);
static void finish_stop(struct stv_leader *l);

void stv_leader_config_default(struct stv_leader_config *c) {
  c->lease_duration = 15;
  c->renew_deadline = 10;
  c->retry_period = 2;
}

/* splitmix64: a small, seedable generator for the jitter. */
static double next_unit(struct stv_leader *l) {
  uint64_t z = (l->rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

static double wall_now(struct stv_leader *l) {
  return l->cfg.wall_time ? l->cfg.wall_time() : stv_clock_now(l->clock);
}

static void schedule(struct stv_leader *l) {
  double delay = l->cfg.retry_period;
  if (l->stopping) return;
  if (!l->leading) delay += l->cfg.retry_period * JITTER_FACTOR * next_unit(l);
  /* A clock that cannot take a timer leaves the elector idle; the
   * deadline timer still ends leadership on time. */
  (void)stv_clock_start(l->clock, &l->tick, delay, attempt, l);
}

static void set_holder(struct stv_leader *l, const char *holder) {
  if (strcmp(l->holder, holder) == 0) return;
  snprintf(l->holder, sizeof(l->holder), "%s", holder);
  if (l->cfg.on_new_leader) l->cfg.on_new_leader(l->cfg.ctx, l->holder);
}

static void step_down(struct stv_leader *l) {
  if (!l->leading) return;
  l->leading = 0;
  stv_clock_stop(l->clock, &l->deadline);
  if (l->cfg.on_stop) l->cfg.on_stop(l->cfg.ctx);
}

static void deadline_passed(struct stv_timer *t) {
  struct stv_leader *l = t->data;
  if (l->leading && stv_clock_now(l->clock) - l->last_renew >= l->cfg.renew_deadline) step_down(l);
}

/* Remembers rec as the record seen now when it differs from the last one:
 * expiry is judged by how long a record stays unchanged on our clock. */
static void observe(struct stv_leader *l, const struct stv_lease *rec) {
  if (!l->have_observed || strcmp(rec->holder, l->observed.holder) != 0 || rec->renew_time != l->observed.renew_time ||
      strcmp(rec->resource_version, l->observed.resource_version) != 0) {
    l->observed = *rec;
    l->observed_time = stv_clock_now(l->clock);
    l->have_observed = 1;
  }
  set_holder(l, rec->holder);
}

static void after_call(struct stv_leader *l) {
  l->busy = 0;
  if (l->stopping) {
    finish_stop(l);
    return;
  }
  schedule(l);
}

static void on_write(void *ctx, int code, const struct stv_lease *lease, const char *msg) {
  struct stv_leader *l = ctx;
  (void)msg;
  if (code == 0 && lease) {
    observe(l, lease);
    l->last_renew = stv_clock_now(l->clock);
    if (!l->leading && !l->stopping) {
      l->leading = 1;
      if (l->cfg.on_start) l->cfg.on_start(l->cfg.ctx);
    }
    if (l->leading) (void)stv_clock_start(l->clock, &l->deadline, l->cfg.renew_deadline, deadline_passed, l);
  }
  /* A conflict or an error: someone else wrote first, or the server is
   * unreachable; the next attempt reads again, and the deadline timer ends
   * leadership if this goes on. */
  after_call(l);
}

static void fill_ours(struct stv_leader *l, struct stv_lease *rec, const struct stv_lease *old) {
  double now = wall_now(l);
  if (old) {
    *rec = *old;
    if (strcmp(old->holder, l->identity) != 0) {
      rec->acquire_time = now;
      rec->transitions = old->transitions + 1;
    }
  } else {
    memset(rec, 0, sizeof(*rec));
    rec->acquire_time = now;
  }
  snprintf(rec->holder, sizeof(rec->holder), "%s", l->identity);
  rec->duration_s = (int32_t)ceil(l->cfg.lease_duration);
  rec->renew_time = now;
}

static void on_get(void *ctx, int code, const struct stv_lease *lease, const char *msg) {
  struct stv_leader *l = ctx;
  struct stv_lease rec;
  double dur;
  (void)msg;
  if (l->stopping) {
    after_call(l);
    return;
  }
  if (code == STV_ENOTFOUND) {
    fill_ours(l, &rec, NULL);
    if (l->cfg.store_ops->create(l->cfg.store, &rec, on_write, l) == 0) return;
    after_call(l);
    return;
  }
  if (code != 0 || !lease) {
    after_call(l);
    return;
  }
  observe(l, lease);
  dur = lease->duration_s > 0 ? lease->duration_s : l->cfg.lease_duration;
  if (lease->holder[0] && strcmp(lease->holder, l->identity) != 0 &&
      l->observed_time + dur > stv_clock_now(l->clock)) {
    /* Held by another replica and not expired: if we thought we led, the
     * Lease was taken from us; stop acting now. */
    step_down(l);
    after_call(l);
    return;
  }
  fill_ours(l, &rec, lease);
  if (l->cfg.store_ops->update(l->cfg.store, &rec, on_write, l) == 0) return;
  after_call(l);
}

static void attempt(struct stv_timer *t) {
  struct stv_leader *l = t->data;
  if (l->stopping || l->busy) return;
  l->busy = 1;
  if (l->cfg.store_ops->get(l->cfg.store, on_get, l) != 0) after_call(l);
}

int stv_leader_new(struct stv_leader **out, struct stv_clock *clock, const struct stv_leader_config *cfg,
                   struct stv_err *err) {
  struct stv_leader *l;
  size_t i, n;
  *out = NULL;
  if (!cfg->identity || !cfg->identity[0] || strlen(cfg->identity) > STV_LEASE_HOLDER_MAX)
    return stv_err_set(err, STV_EINVAL, "leader election: the identity must be 1 to %d characters (got %zu)",
                       STV_LEASE_HOLDER_MAX, cfg->identity ? strlen(cfg->identity) : 0);
  if (!(cfg->retry_period > 0 && cfg->renew_deadline > cfg->retry_period &&
        cfg->lease_duration > cfg->renew_deadline))
    return stv_err_set(err, STV_EINVAL,
                       "leader election: need lease duration (%gs) > renew deadline (%gs) > retry period (%gs) > 0",
                       cfg->lease_duration, cfg->renew_deadline, cfg->retry_period);
  if (!cfg->store_ops || !cfg->store_ops->get || !cfg->store_ops->create || !cfg->store_ops->update)
    return stv_err_set(err, STV_EINVAL, "leader election: no lease store");
  l = stv_calloc(1, sizeof(*l));
  if (!l) return stv_err_set(err, STV_ENOMEM, "leader election: out of memory");
  l->clock = clock;
  l->cfg = *cfg;
  snprintf(l->identity, sizeof(l->identity), "%s", cfg->identity);
  l->cfg.identity = l->identity;
  l->rng = cfg->seed;
  if (!l->rng)
    for (i = 0, n = strlen(l->identity); i < n; i++) l->rng = l->rng * 1099511628211ULL + (unsigned char)l->identity[i];
  if (stv_clock_start(clock, &l->tick, 0, attempt, l) != 0) {
    stv_free(l);
    return stv_err_set(err, STV_ENOMEM, "leader election: cannot start a timer");
  }
  *out = l;
  return 0;
}

int stv_leader_is_leader(const struct stv_leader *l) { return l->leading; }

const char *stv_leader_holder(const struct stv_leader *l) { return l->holder; }

static void call_done(struct stv_timer *t) {
  struct stv_leader *l = t->data;
  void (*done)(void *) = l->done;
  l->done = NULL;
  if (done) done(l->done_ctx);
}

static void on_release(void *ctx, int code, const struct stv_lease *lease, const char *msg) {
  struct stv_leader *l = ctx;
  (void)code;
  (void)lease;
  (void)msg;
  l->busy = 0;
  (void)stv_clock_start(l->clock, &l->done_timer, 0, call_done, l);
}

/* Runs when no call is in flight after stop: release once if we held the
 * Lease, then report done. */
static void finish_stop(struct stv_leader *l) {
  struct stv_lease rec;
  int held = l->have_observed && strcmp(l->observed.holder, l->identity) == 0;
  if (!l->released) {
    l->released = 1;
    if (held) {
      double now = wall_now(l);
      rec = l->observed;
      rec.holder[0] = '\0';
      rec.duration_s = 1;
      rec.acquire_time = now;
      rec.renew_time = now;
      l->busy = 1;
      if (l->cfg.store_ops->update(l->cfg.store, &rec, on_release, l) == 0) return;
      l->busy = 0;
    }
  }
  (void)stv_clock_start(l->clock, &l->done_timer, 0, call_done, l);
}

void stv_leader_stop(struct stv_leader *l, void (*done)(void *ctx), void *ctx) {
  if (l->stopping) return;
  l->stopping = 1;
  l->done = done;
  l->done_ctx = ctx;
  stv_clock_stop(l->clock, &l->tick);
  step_down(l);
  if (!l->busy) finish_stop(l);
}

void stv_leader_free(struct stv_leader *l) {
  if (!l) return;
  stv_clock_stop(l->clock, &l->tick);
  stv_clock_stop(l->clock, &l->deadline);
  stv_clock_stop(l->clock, &l->done_timer);
  stv_free(l);
}
