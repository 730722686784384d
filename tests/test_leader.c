/*
 * Leader election (controller/loop/leader.h) on the virtual clock, against
 * an in-memory Lease store that behaves as the API server does: a
 * resourceVersion that changes on every write, 409 on a stale update or a
 * second create, answers after a latency, and outages on demand.
 */
#include "harness.h"

#include <math.h>

#include "clock.h"
#include "leader.h"

struct store {
  struct stv_clock *clock;
  int exists;
  struct stv_lease lease;
  uint64_t rv;
  double latency; /* seconds before an answer */
  int down;       /* answer every call with STV_EIO */
  int hang;       /* never answer (a request stuck until the deadline) */
  long writes;
};

struct pending {
  struct stv_timer t;
  struct store *s;
  stv_lease_cb cb;
  void *ctx;
  int code;
  struct stv_lease lease;
};

static void deliver(struct stv_timer *t) {
  struct pending *p = t->data;
  p->cb(p->ctx, p->code, p->code == 0 ? &p->lease : NULL, p->code ? "refused" : "");
  free(p);
}

static int answer(struct store *s, stv_lease_cb cb, void *ctx, int code) {
  struct pending *p;
  if (s->hang) return 0;
  p = calloc(1, sizeof(*p));
  if (!p) return STV_ENOMEM;
  p->s = s;
  p->cb = cb;
  p->ctx = ctx;
  p->code = s->down ? STV_EIO : code;
  p->lease = s->lease;
  return stv_clock_start(s->clock, &p->t, s->latency, deliver, p);
}

static int st_get(void *store, stv_lease_cb cb, void *ctx) {
  struct store *s = store;
  return answer(s, cb, ctx, s->exists ? 0 : STV_ENOTFOUND);
}

static void write_lease(struct store *s, const struct stv_lease *l) {
  s->lease = *l;
  snprintf(s->lease.resource_version, sizeof(s->lease.resource_version), "%llu", (unsigned long long)++s->rv);
  s->exists = 1;
  s->writes++;
}

static int st_create(void *store, const struct stv_lease *l, stv_lease_cb cb, void *ctx) {
  struct store *s = store;
  if (s->exists || s->down || s->hang) return answer(s, cb, ctx, STV_ECONFLICT);
  write_lease(s, l);
  return answer(s, cb, ctx, 0);
}

static int st_update(void *store, const struct stv_lease *l, stv_lease_cb cb, void *ctx) {
  struct store *s = store;
  if (!s->exists) return answer(s, cb, ctx, STV_ENOTFOUND);
  if (s->down || s->hang || strcmp(l->resource_version, s->lease.resource_version) != 0)
    return answer(s, cb, ctx, STV_ECONFLICT);
  write_lease(s, l);
  return answer(s, cb, ctx, 0);
}

static const struct stv_lease_store_ops store_ops = {
    .get = st_get,
    .create = st_create,
    .update = st_update,
};

struct replica {
  const char *name;
  int starts, stops;
  double started_at, stopped_at;
  struct stv_vclock *vc;
  int done;
};

static void on_start(void *ctx) {
  struct replica *r = ctx;
  r->starts++;
  r->started_at = r->vc->now;
}

static void on_stop(void *ctx) {
  struct replica *r = ctx;
  r->stops++;
  r->stopped_at = r->vc->now;
}

static void on_done(void *ctx) {
  struct replica *r = ctx;
  r->done = 1;
}

static int start(struct stv_leader **l, struct stv_vclock *vc, struct store *s, struct replica *r, uint64_t seed) {
  struct stv_leader_config c = {0};
  struct stv_err err = {0};
  stv_leader_config_default(&c);
  c.identity = r->name;
  c.store_ops = &store_ops;
  c.store = s;
  c.on_start = on_start;
  c.on_stop = on_stop;
  c.ctx = r;
  c.seed = seed;
  r->vc = vc;
  return stv_leader_new(l, &vc->clock, &c, &err);
}

static int leaders(struct stv_leader *a, struct stv_leader *b) {
  return stv_leader_is_leader(a) + stv_leader_is_leader(b);
}

TEST(should_elect_exactly_one_of_two_replicas_and_keep_it) {
  struct stv_vclock vc;
  struct store s = {0};
  struct replica ra = {.name = "pod-a"}, rb = {.name = "pod-b"};
  struct stv_leader *a = NULL, *b = NULL;
  double t;
  stv_vclock_init(&vc, 1000);
  s.clock = &vc.clock;
  s.latency = 0.01;
  CHECK(start(&a, &vc, &s, &ra, 1) == 0);
  CHECK(start(&b, &vc, &s, &rb, 2) == 0);
  stv_vclock_run_until(&vc, 1001);
  CHECK_EQ_INT(leaders(a, b), 1);
  for (t = 1001; t < 1300; t += 0.5) {
    stv_vclock_run_until(&vc, t);
    CHECK_EQ_INT(leaders(a, b), 1);
  }
  CHECK_EQ_INT(ra.starts + rb.starts, 1);
  CHECK_EQ_INT(ra.stops + rb.stops, 0);
  CHECK_EQ_INT(s.lease.transitions, 0);
  CHECK(strcmp(stv_leader_holder(a), s.lease.holder) == 0);
  CHECK(strcmp(stv_leader_holder(b), s.lease.holder) == 0);
  stv_leader_free(a);
  stv_leader_free(b);
  stv_vclock_close(&vc);
}

TEST(should_take_over_within_the_lease_duration_when_the_leader_dies) {
  struct stv_vclock vc;
  struct store s = {0};
  struct replica ra = {.name = "pod-a"}, rb = {.name = "pod-b"};
  struct stv_leader *a = NULL, *b = NULL;
  stv_vclock_init(&vc, 0);
  s.clock = &vc.clock;
  s.latency = 0.01;
  CHECK(start(&a, &vc, &s, &ra, 1) == 0);
  stv_vclock_run_until(&vc, 1);
  CHECK(stv_leader_is_leader(a));
  CHECK(start(&b, &vc, &s, &rb, 2) == 0);
  stv_vclock_run_until(&vc, 60);
  CHECK(!stv_leader_is_leader(b));
  /* a dies without releasing: its timers just stop. */
  stv_leader_free(a);
  /* Expiry runs from when b last saw the record change (up to one jittered
   * retry, 4.4 s, after a's last renewal), and b notices at its next
   * attempt (another 4.4 s at most). */
  stv_vclock_run_until(&vc, 60 + 15 + 2 * 4.4 + 0.1);
  CHECK(stv_leader_is_leader(b));
  CHECK(rb.started_at > 60 + 15 - 2.1); /* not before the record had aged a lease duration */
  CHECK_EQ_INT(s.lease.transitions, 1);
  CHECK(strcmp(s.lease.holder, "pod-b") == 0);
  stv_leader_free(b);
  stv_vclock_close(&vc);
}

TEST(should_stop_acting_at_once_when_the_lease_is_stolen) {
  struct stv_vclock vc;
  struct store s = {0};
  struct replica ra = {.name = "pod-a"};
  struct stv_leader *a = NULL;
  struct stv_lease thief;
  stv_vclock_init(&vc, 0);
  s.clock = &vc.clock;
  CHECK(start(&a, &vc, &s, &ra, 1) == 0);
  stv_vclock_run_until(&vc, 5);
  CHECK(stv_leader_is_leader(a));
  thief = s.lease;
  snprintf(thief.holder, sizeof(thief.holder), "intruder");
  write_lease(&s, &thief);
  stv_vclock_run_until(&vc, 5 + 2 + 0.001); /* the next renewal reads the thief's record */
  CHECK(!stv_leader_is_leader(a));
  CHECK_EQ_INT(ra.stops, 1);
  CHECK(strcmp(stv_leader_holder(a), "intruder") == 0);
  /* The thief keeps renewing: a never comes back. */
  for (int i = 0; i < 30; i++) {
    thief = s.lease;
    thief.renew_time += 2;
    write_lease(&s, &thief);
    stv_vclock_run_until(&vc, vc.now + 2);
    CHECK(!stv_leader_is_leader(a));
  }
  stv_leader_free(a);
  stv_vclock_close(&vc);
}

TEST(should_step_down_at_the_renew_deadline_when_the_api_server_is_unreachable) {
  struct stv_vclock vc;
  struct store s = {0};
  struct replica ra = {.name = "pod-a"};
  struct stv_leader *a = NULL;
  double lost;
  stv_vclock_init(&vc, 0);
  s.clock = &vc.clock;
  s.latency = 0.05;
  CHECK(start(&a, &vc, &s, &ra, 1) == 0);
  stv_vclock_run_until(&vc, 10);
  CHECK(stv_leader_is_leader(a));
  lost = vc.now;
  s.hang = 1; /* requests never come back: only the deadline timer can notice */
  stv_vclock_run_until(&vc, lost + 12.5);
  CHECK(!stv_leader_is_leader(a));
  CHECK_EQ_INT(ra.stops, 1);
  CHECK(ra.stopped_at <= lost + 10.01);
  CHECK(ra.stopped_at > lost + 10 - 2.1);
  stv_leader_free(a);
  stv_vclock_close(&vc);
}

TEST(should_keep_leading_through_an_outage_shorter_than_the_renew_deadline) {
  struct stv_vclock vc;
  struct store s = {0};
  struct replica ra = {.name = "pod-a"};
  struct stv_leader *a = NULL;
  stv_vclock_init(&vc, 0);
  s.clock = &vc.clock;
  CHECK(start(&a, &vc, &s, &ra, 1) == 0);
  stv_vclock_run_until(&vc, 10);
  s.down = 1;
  stv_vclock_run_until(&vc, 16);
  CHECK(stv_leader_is_leader(a));
  s.down = 0;
  stv_vclock_run_until(&vc, 40);
  CHECK(stv_leader_is_leader(a));
  CHECK_EQ_INT(ra.stops, 0);
  stv_leader_free(a);
  stv_vclock_close(&vc);
}

TEST(should_release_the_lease_on_stop_so_a_successor_takes_over_quickly) {
  struct stv_vclock vc;
  struct store s = {0};
  struct replica ra = {.name = "pod-a"}, rb = {.name = "pod-b"};
  struct stv_leader *a = NULL, *b = NULL;
  double stopped;
  stv_vclock_init(&vc, 0);
  s.clock = &vc.clock;
  s.latency = 0.01;
  CHECK(start(&a, &vc, &s, &ra, 1) == 0);
  stv_vclock_run_until(&vc, 1);
  CHECK(start(&b, &vc, &s, &rb, 2) == 0);
  stv_vclock_run_until(&vc, 30);
  CHECK(stv_leader_is_leader(a));
  stopped = vc.now;
  stv_leader_stop(a, on_done, &ra);
  CHECK(!stv_leader_is_leader(a)); /* stops acting before the release is written */
  CHECK_EQ_INT(ra.stops, 1);
  stv_vclock_run_until(&vc, stopped + 0.5);
  CHECK(ra.done);
  CHECK_EQ_INT(s.lease.holder[0], '\0');
  CHECK_EQ_INT(s.lease.duration_s, 1);
  stv_leader_free(a);
  stv_vclock_run_until(&vc, stopped + 2 + 2 * 1.2 + 0.1);
  CHECK(stv_leader_is_leader(b)); /* within one jittered retry, not a lease duration */
  stv_leader_free(b);
  stv_vclock_close(&vc);
}

TEST(should_refuse_durations_that_cannot_work_and_bad_identities) {
  struct stv_vclock vc;
  struct store s = {0};
  struct stv_leader *l = NULL;
  struct stv_leader_config c = {0};
  struct stv_err err = {0};
  char longname[400];
  stv_vclock_init(&vc, 0);
  stv_leader_config_default(&c);
  c.identity = "pod-a";
  c.store_ops = &store_ops;
  c.store = &s;
  c.renew_deadline = 20; /* longer than the lease */
  CHECK(stv_leader_new(&l, &vc.clock, &c, &err) == STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "lease duration (15s) > renew deadline (20s)");
  CHECK(l == NULL);
  stv_leader_config_default(&c);
  memset(longname, 'x', sizeof(longname) - 1);
  longname[sizeof(longname) - 1] = '\0';
  c.identity = longname;
  CHECK(stv_leader_new(&l, &vc.clock, &c, &err) == STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "identity");
  c.identity = "";
  CHECK(stv_leader_new(&l, &vc.clock, &c, &err) == STV_EINVAL);
  stv_vclock_close(&vc);
}
