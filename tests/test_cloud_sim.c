/*
 * Tests for the sim cloud provider (cloud/sim.c) and the Node objects of
 * its instances (cloud/sim_node.c), on the virtual clock, with the small
 * catalogue of tests/data/tiny_catalog.json: c.small and c.large, each
 * on-demand and spot in us-east-1a (c.small: 0.10 and 0.03 an hour).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "sim.h"

#define CATALOG    STV_SOURCE_ROOT "/tests/data/tiny_catalog.json"
#define SMALL_OD   "sim-c.small-us-east-1a-on-demand"
#define SMALL_SPOT "sim-c.small-us-east-1a-spot"
#define LARGE_SPOT "sim-c.large-us-east-1a-spot"

struct ev {
  enum stv_cloud_event_kind kind;
  int code;
  double at, deadline;
  char pid[96];
  char group[96];
  char msg[256];
};

struct fx {
  struct stv_vclock vc;
  struct stv_catalog cat;
  struct stv_sim_opts o;
  struct stv_cloud *c;
  struct ev ev[512];
  int nev;
  /* The last answer of each kind. */
  int done_calls, done_code;
  double retry_after;
  char done_msg[512];
  int groups_calls;
  struct stv_cloud_group groups[8];
  size_t ngroups;
  int inst_calls;
  struct stv_cloud_instance inst[64];
  char inst_pid[64][96];
  size_t ninst;
  int in_call; /* 1 while the test is inside a provider call */
  int reentered;
};

static void on_event(void *ctx, const struct stv_cloud_event *e) {
  struct fx *f = ctx;
  struct ev *v;
  if (f->in_call) f->reentered++;
  if (f->nev >= 512) return;
  v = &f->ev[f->nev++];
  v->kind = e->kind;
  v->code = e->code;
  v->deadline = e->deadline;
  v->at = stv_clock_now(&f->vc.clock);
  snprintf(v->pid, sizeof(v->pid), "%s", e->instance->provider_id ? e->instance->provider_id : "");
  snprintf(v->group, sizeof(v->group), "%s", e->instance->group_id);
  snprintf(v->msg, sizeof(v->msg), "%s", e->message);
}

static void on_done(void *ctx, const struct stv_cloud_result *r) {
  struct fx *f = ctx;
  if (f->in_call) f->reentered++;
  f->done_calls++;
  f->done_code = r->code;
  f->retry_after = r->retry_after;
  snprintf(f->done_msg, sizeof(f->done_msg), "%s", r->message);
}

static void on_groups(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_group *g,
                      size_t n) {
  struct fx *f = ctx;
  size_t i;
  f->groups_calls++;
  f->done_code = r->code;
  f->ngroups = n;
  for (i = 0; i < n && i < 8; i++) f->groups[i] = g[i]; /* strings live as long as the provider */
}

static void on_instances(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_instance *v,
                         size_t n) {
  struct fx *f = ctx;
  size_t i;
  f->inst_calls++;
  f->done_code = r->code;
  f->ninst = n;
  for (i = 0; i < n && i < 64; i++) {
    f->inst[i] = v[i];
    snprintf(f->inst_pid[i], sizeof(f->inst_pid[i]), "%s", v[i].provider_id);
    f->inst[i].provider_id = f->inst_pid[i]; /* borrowed for the call only */
  }
}

/* Loads the catalogue and fills the default options (no provider yet). */
static int fx_init(struct fx *f) {
  struct stv_err err;
  memset(f, 0, sizeof(*f));
  stv_vclock_init(&f->vc, 0);
  if (stv_catalog_load(&f->cat, CATALOG, &err) != 0) {
    fprintf(stderr, "  %s\n", err.msg);
    return -1;
  }
  stv_sim_opts_default(&f->o);
  f->o.catalog = &f->cat;
  return 0;
}

static int fx_start(struct fx *f) {
  struct stv_err err;
  int rc = stv_sim_new(&f->c, &f->vc.clock, &f->o, &err);
  if (rc != 0) {
    if (rc != STV_ENOMEM) fprintf(stderr, "  %s\n", err.msg);
    return rc;
  }
  f->c->on_event = on_event;
  f->c->event_ctx = f;
  return 0;
}

static void fx_close(struct fx *f) {
  if (f->c != NULL) f->c->ops->close(f->c);
  stv_vclock_close(&f->vc);
  stv_catalog_close(&f->cat);
}

static int set_desired(struct fx *f, const char *group, int64_t n) {
  int rc, before = f->done_calls;
  f->in_call = 1;
  rc = f->c->ops->set_desired(f->c, group, n, on_done, f);
  f->in_call = 0;
  if (rc != 0) return rc;
  stv_vclock_run_until(&f->vc, stv_clock_now(&f->vc.clock));
  return f->done_calls == before + 1 ? f->done_code : -9999;
}

static int delete_ids(struct fx *f, const char *group, const char *const *ids, size_t n) {
  int rc, before = f->done_calls;
  f->in_call = 1;
  rc = f->c->ops->delete_instances(f->c, group, ids, n, on_done, f);
  f->in_call = 0;
  if (rc != 0) return rc;
  stv_vclock_run_until(&f->vc, stv_clock_now(&f->vc.clock));
  return f->done_calls == before + 1 ? f->done_code : -9999;
}

static int list_instances(struct fx *f) {
  int rc = f->c->ops->list_instances(f->c, on_instances, f);
  if (rc != 0) return rc;
  stv_vclock_run_until(&f->vc, stv_clock_now(&f->vc.clock));
  return f->done_code;
}

static int list_groups(struct fx *f) {
  int rc = f->c->ops->list_groups(f->c, on_groups, f);
  if (rc != 0) return rc;
  stv_vclock_run_until(&f->vc, stv_clock_now(&f->vc.clock));
  return f->done_code;
}

static int64_t desired_of(struct fx *f, const char *group) {
  size_t i;
  if (list_groups(f) != 0) return -1;
  for (i = 0; i < f->ngroups; i++)
    if (strcmp(f->groups[i].id, group) == 0) return f->groups[i].desired;
  return -1;
}

static int count_ev(const struct fx *f, enum stv_cloud_event_kind kind) {
  int i, n = 0;
  for (i = 0; i < f->nev; i++) n += f->ev[i].kind == kind;
  return n;
}

static int count_state(const struct fx *f, enum stv_cloud_instance_state st) {
  size_t i;
  int n = 0;
  for (i = 0; i < f->ninst; i++) n += f->inst[i].state == st;
  return n;
}

TEST(should_make_one_group_per_catalogue_offering_with_min_zero_and_the_configured_max) {
  struct fx f;
  CHECK(fx_init(&f) == 0);
  f.o.max_per_group = 7;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(list_groups(&f), 0);
  CHECK_EQ_INT(f.ngroups, 4);
  /* In catalogue order: types by name, then their offerings. */
  CHECK(strcmp(f.groups[0].id, "sim-c.large-us-east-1a-on-demand") == 0);
  CHECK(strcmp(f.groups[1].id, LARGE_SPOT) == 0);
  CHECK(strcmp(f.groups[2].id, SMALL_OD) == 0);
  CHECK(strcmp(f.groups[3].id, SMALL_SPOT) == 0);
  CHECK(strcmp(f.groups[3].offerings[0].instance_type, "c.small") == 0);
  CHECK(strcmp(f.groups[3].offerings[0].zone, "us-east-1a") == 0);
  CHECK_EQ_INT(f.groups[3].offerings[0].capacity_type, STV_CT_SPOT);
  CHECK_EQ_INT(f.groups[0].min, 0);
  CHECK_EQ_INT(f.groups[0].max, 7);
  CHECK_EQ_INT(f.groups[0].desired, 0);
  CHECK_EQ_INT(f.groups[0].noffer, 1);
  CHECK(f.groups[0].pool == NULL);
  CHECK_EQ_INT(desired_of(&f, LARGE_SPOT), 0);
  CHECK(strcmp(f.c->ops->name, "sim") == 0);
  fx_close(&f);
}

TEST(should_launch_instances_that_run_after_the_launch_delay_and_answer_never_from_inside_the_call) {
  struct fx f;
  CHECK(fx_init(&f) == 0);
  CHECK_EQ_INT(fx_start(&f), 0);
  f.in_call = 1;
  CHECK_EQ_INT(f.c->ops->set_desired(f.c, SMALL_OD, 2, on_done, &f), 0);
  f.in_call = 0;
  CHECK_EQ_INT(f.done_calls, 0); /* the answer comes from the clock, not the call */
  stv_vclock_run_until(&f.vc, 0);
  CHECK_EQ_INT(f.done_calls, 1);
  CHECK_EQ_INT(f.done_code, 0);
  CHECK(strcmp(f.done_msg, "") == 0);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 2);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_PENDING), 2);
  CHECK(strcmp(f.inst[0].provider_id, "sim:///us-east-1a/1") == 0);
  CHECK(strcmp(f.inst[1].provider_id, "sim:///us-east-1a/2") == 0);
  CHECK(strcmp(f.inst[0].group_id, SMALL_OD) == 0);
  CHECK(strcmp(f.inst[0].instance_type, "c.small") == 0);
  CHECK_EQ_INT(f.inst[0].capacity_type, STV_CT_ON_DEMAND);
  stv_vclock_run_until(&f.vc, 29.999);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_RUNNING), 0);
  stv_vclock_run_until(&f.vc, 30);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_RUNNING), 2);
  CHECK(f.ev[0].at == 30.0);
  CHECK(strcmp(f.ev[0].pid, "sim:///us-east-1a/1") == 0);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_RUNNING), 2);
  CHECK_EQ_INT(f.reentered, 0);
  fx_close(&f);
}

TEST(should_refuse_a_desired_size_outside_min_and_max_with_einval_and_an_unknown_group_with_enotfound) {
  struct fx f;
  CHECK(fx_init(&f) == 0);
  f.o.max_per_group = 5;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 6), STV_EINVAL);
  CHECK_STR_CONTAINS(f.done_msg, "outside the group's [min 0, max 5]");
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, -1), STV_EINVAL);
  CHECK_EQ_INT(set_desired(&f, "sim-m9.huge-us-east-1a-spot", 1), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(f.done_msg, "no instance group named \"sim-m9.huge-us-east-1a-spot\"");
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 5), 0);
  CHECK_EQ_INT(desired_of(&f, SMALL_OD), 5);
  /* Lowering the desired size terminates the newest instances. */
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 3), 0);
  CHECK_EQ_INT(desired_of(&f, SMALL_OD), 3);
  stv_vclock_run_until(&f.vc, 1);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_TERMINATED), 2);
  CHECK(strcmp(f.ev[0].pid, "sim:///us-east-1a/5") == 0);
  fx_close(&f);
}

TEST(should_fail_a_delete_whole_when_one_id_is_not_in_the_group) {
  struct fx f;
  const char *mixed[] = {"sim:///us-east-1a/1", "sim:///us-east-1a/999"};
  const char *other[] = {"sim:///us-east-1a/3"};
  const char *one[] = {"sim:///us-east-1a/1", "sim:///us-east-1a/1"};
  CHECK(fx_init(&f) == 0);
  f.o.terminate_delay = 10;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 2), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_SPOT, 1), 0);
  stv_vclock_run_until(&f.vc, 40);
  CHECK_EQ_INT(delete_ids(&f, SMALL_OD, mixed, 2), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(f.done_msg, "\"sim:///us-east-1a/999\" is not in the group");
  CHECK_EQ_INT(delete_ids(&f, SMALL_OD, other, 1), STV_ENOTFOUND); /* in another group */
  CHECK_EQ_INT(desired_of(&f, SMALL_OD), 2);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_RUNNING), 3);
  /* The same id twice lowers the desired size once. */
  CHECK_EQ_INT(delete_ids(&f, SMALL_OD, one, 2), 0);
  CHECK_EQ_INT(desired_of(&f, SMALL_OD), 1);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_TERMINATING), 1);
  /* Deleting it again while it terminates changes nothing. */
  CHECK_EQ_INT(delete_ids(&f, SMALL_OD, one, 1), 0);
  CHECK_EQ_INT(desired_of(&f, SMALL_OD), 1);
  stv_vclock_run_until(&f.vc, 50);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_TERMINATED), 1);
  CHECK(strcmp(f.ev[f.nev - 1].pid, "sim:///us-east-1a/1") == 0);
  CHECK(f.ev[f.nev - 1].at == 50.0);
  /* Gone: now unknown. */
  CHECK_EQ_INT(delete_ids(&f, SMALL_OD, one, 1), STV_ENOTFOUND);
  fx_close(&f);
}

/* Runs 40 launches of c.small spot with a 50% capacity fault; returns the
 * pattern of failures as bits. */
static uint64_t ice_pattern(uint64_t seed, int *failed, int64_t *desired_after) {
  struct fx f;
  struct stv_sim_ice ice = {"c.small", NULL, STV_CT_SPOT, 0.5, 0, INFINITY};
  uint64_t bits = 0;
  int i;
  *failed = -1;
  if (fx_init(&f) != 0) return 0;
  f.o.seed = seed;
  f.o.ice = &ice;
  f.o.nice = 1;
  if (fx_start(&f) != 0 || set_desired(&f, SMALL_SPOT, 40) != 0 || set_desired(&f, SMALL_OD, 5) != 0) {
    fx_close(&f);
    return 0;
  }
  stv_vclock_run_until(&f.vc, 60);
  *failed = 0;
  for (i = 0; i < f.nev; i++) {
    if (f.ev[i].kind != STV_CLOUD_EV_LAUNCH_FAILED) continue;
    if (f.ev[i].code != STV_ECAPACITY || strcmp(f.ev[i].group, SMALL_SPOT) != 0 || f.ev[i].pid[0] != '\0' ||
        f.ev[i].at != 5.0)
      *failed = -1000;
    (*failed)++;
  }
  for (i = 0; i < f.nev; i++)
    if (f.ev[i].kind == STV_CLOUD_EV_RUNNING && strcmp(f.ev[i].group, SMALL_SPOT) == 0)
      bits |= 1ull << (atoi(strrchr(f.ev[i].pid, '/') + 1) % 64);
  *desired_after = desired_of(&f, SMALL_SPOT);
  fx_close(&f);
  return bits;
}

TEST(should_fail_launches_for_capacity_deterministically_from_the_seed_and_drop_desired_back) {
  int failed1, failed2, failed3;
  int64_t d1, d2, d3;
  uint64_t p1 = ice_pattern(42, &failed1, &d1);
  uint64_t p2 = ice_pattern(42, &failed2, &d2);
  uint64_t p3 = ice_pattern(43, &failed3, &d3);
  CHECK(failed1 > 5 && failed1 < 35); /* about half of 40 */
  CHECK_EQ_INT(failed1, failed2);
  CHECK(p1 == p2);
  CHECK_EQ_INT(d1, 40 - failed1);
  CHECK_EQ_INT(d2, d1);
  CHECK(failed3 >= 0);
  CHECK(p3 != p1); /* another seed, another draw */
  CHECK_EQ_INT(d3, 40 - failed3);
}

TEST(should_keep_a_failing_launch_out_of_the_instance_list_but_in_the_desired_size_until_it_fails) {
  struct fx f;
  struct stv_sim_ice ice = {NULL, "us-east-1a", -1, 1.0, 100, 200};
  struct stv_sim_usage u;
  CHECK(fx_init(&f) == 0);
  f.o.ice = &ice;
  f.o.nice = 1;
  CHECK_EQ_INT(fx_start(&f), 0);
  stv_vclock_run_until(&f.vc, 100);
  CHECK_EQ_INT(set_desired(&f, LARGE_SPOT, 3), 0);
  CHECK_EQ_INT(desired_of(&f, LARGE_SPOT), 3);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 0); /* no instance exists for a launch that will fail */
  stv_vclock_run_until(&f.vc, 105);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_LAUNCH_FAILED), 3);
  CHECK_STR_CONTAINS(f.ev[0].msg, "insufficient capacity for c.large spot in us-east-1a");
  CHECK_EQ_INT(desired_of(&f, LARGE_SPOT), 0);
  /* After the window, launches succeed again. */
  stv_vclock_run_until(&f.vc, 200);
  CHECK_EQ_INT(set_desired(&f, LARGE_SPOT, 1), 0);
  stv_vclock_run_until(&f.vc, 300);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_RUNNING), 1);
  CHECK_EQ_INT(stv_sim_usage(f.c, &u), 0);
  CHECK_EQ_INT(u.launched, 4);
  CHECK_EQ_INT(u.launch_failed, 3);
  fx_close(&f);
}

/* Which of 32 calls were throttled under seed, as bits. */
static uint64_t throttle_pattern(uint64_t seed, double *retry_after, int *changed) {
  struct fx f;
  uint64_t bits = 0;
  int i;
  if (fx_init(&f) != 0) return 0;
  f.o.seed = seed;
  f.o.throttle_rate = 0.5;
  f.o.throttle_retry_after = 2.5;
  if (fx_start(&f) != 0) {
    fx_close(&f);
    return 0;
  }
  *changed = 0;
  for (i = 0; i < 32; i++) {
    int rc = set_desired(&f, SMALL_OD, i + 1);
    if (rc == STV_ETHROTTLED) {
      bits |= 1ull << i;
      *retry_after = f.retry_after;
    } else if (rc != 0) {
      bits = 0;
      break;
    }
  }
  /* Only the calls that were not throttled changed anything; throttle the
   * listing away by trying until one passes. */
  for (i = 0; i < 64 && list_instances(&f) == STV_ETHROTTLED; i++) continue;
  *changed = (int)f.ninst;
  fx_close(&f);
  return bits;
}

TEST(should_throttle_calls_deterministically_with_retry_after_and_change_nothing_when_throttled) {
  double ra = 0;
  int changed1 = -1, changed2 = -1;
  uint64_t a = throttle_pattern(7, &ra, &changed1), b = throttle_pattern(7, &ra, &changed2);
  int n = __builtin_popcountll(a), last_ok;
  CHECK(n > 4 && n < 28);
  CHECK(a == b);
  CHECK(ra == 2.5);
  /* The group's size is that of the last call that passed. */
  for (last_ok = 31; last_ok >= 0 && ((a >> last_ok) & 1); last_ok--) continue;
  CHECK_EQ_INT(changed1, last_ok + 1);
  CHECK_EQ_INT(changed2, changed1);
}

TEST(should_throttle_calls_over_the_token_bucket_rate_until_tokens_refill) {
  struct fx f;
  CHECK(fx_init(&f) == 0);
  f.o.api_rate = 2;
  f.o.api_burst = 3;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(list_groups(&f), 0);
  CHECK_EQ_INT(list_groups(&f), 0);
  CHECK_EQ_INT(list_groups(&f), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 1), STV_ETHROTTLED);
  CHECK(fabs(f.retry_after - 0.5) < 1e-9);
  CHECK_STR_CONTAINS(f.done_msg, "Rate exceeded");
  stv_vclock_run_until(&f.vc, 0.5);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 1), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 2), STV_ETHROTTLED);
  CHECK_EQ_INT(list_instances(&f), STV_ETHROTTLED);
  stv_vclock_run_until(&f.vc, 10);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 1);
  fx_close(&f);
}

TEST(should_interrupt_spot_instances_in_a_storm_with_a_notice_then_terminate_and_replace_them) {
  struct fx f;
  struct stv_sim_storm storm = {100, NULL, "us-east-1a", 2, 0};
  struct stv_sim_usage u;
  int i, notices = 0;
  CHECK(fx_init(&f) == 0);
  f.o.storms = &storm;
  f.o.nstorms = 1;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_SPOT, 3), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 3), 0);
  stv_vclock_run_until(&f.vc, 100);
  for (i = 0; i < f.nev; i++) {
    if (f.ev[i].kind != STV_CLOUD_EV_INTERRUPTION) continue;
    notices++;
    CHECK(f.ev[i].deadline == 120.0);
    CHECK(f.ev[i].at == 100.0);
    CHECK(strcmp(f.ev[i].group, SMALL_SPOT) == 0); /* on-demand is never interrupted */
  }
  CHECK_EQ_INT(notices, 2);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_TERMINATING), 2);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_PENDING), 2); /* the replacements */
  CHECK_EQ_INT(desired_of(&f, SMALL_SPOT), 3);
  stv_vclock_run_until(&f.vc, 219.9);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_TERMINATED), 0);
  stv_vclock_run_until(&f.vc, 220);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_TERMINATED), 2);
  CHECK_EQ_INT(stv_sim_usage(f.c, &u), 0);
  CHECK_EQ_INT(u.interrupted, 2);
  CHECK_EQ_INT(u.running, 6);
  fx_close(&f);
}

TEST(should_interrupt_running_spot_instances_at_the_configured_rate_per_hour) {
  struct fx f;
  struct stv_sim_usage u;
  CHECK(fx_init(&f) == 0);
  f.o.interruptions_per_hour = 0.5;
  f.o.seed = 99;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_SPOT, 10), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 10), 0);
  stv_vclock_run_until(&f.vc, 10 * 3600.0);
  CHECK_EQ_INT(stv_sim_usage(f.c, &u), 0);
  /* 10 instances x 10 h x 0.5 an hour: about 50 (Poisson, sd about 7). */
  CHECK(u.interrupted > 25 && u.interrupted < 80);
  CHECK_EQ_INT(count_ev(&f, STV_CLOUD_EV_INTERRUPTION), (int)u.interrupted);
  CHECK_EQ_INT(desired_of(&f, SMALL_SPOT), 10);
  CHECK_EQ_INT(desired_of(&f, SMALL_OD), 10);
  CHECK(u.node_hours[STV_CT_ON_DEMAND] > 99.9 && u.node_hours[STV_CT_ON_DEMAND] < 100.0);
  fx_close(&f);
}

TEST(should_list_pending_running_and_terminating_instances_truthfully_for_a_restarted_controller) {
  struct fx f;
  const char *gone[] = {"sim:///us-east-1a/2"};
  CHECK(fx_init(&f) == 0);
  f.o.terminate_delay = 60;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 3), 0);
  stv_vclock_run_until(&f.vc, 10);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 5), 0);
  stv_vclock_run_until(&f.vc, 35);
  CHECK_EQ_INT(delete_ids(&f, SMALL_OD, gone, 1), 0);
  /* A controller that starts now knows nothing but what the provider says. */
  f.c->on_event = NULL;
  CHECK_EQ_INT(desired_of(&f, SMALL_OD), 4);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 5);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_RUNNING), 2);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_PENDING), 2);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_TERMINATING), 1);
  CHECK(f.inst[1].state == STV_INSTANCE_TERMINATING);
  CHECK(f.inst[3].launch_time == 10.0);
  stv_vclock_run_until(&f.vc, 100);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 4);
  CHECK_EQ_INT(count_state(&f, STV_INSTANCE_RUNNING), 4);
  fx_close(&f);
}

TEST(should_account_node_hours_and_cost_by_capacity_type_from_running_to_terminated) {
  struct fx f;
  struct stv_sim_usage u;
  const char *one[] = {"sim:///us-east-1a/1"};
  CHECK(fx_init(&f) == 0);
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_OD, 2), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_SPOT, 1), 0);
  stv_vclock_run_until(&f.vc, 30 + 2 * 3600.0);
  CHECK_EQ_INT(stv_sim_usage(f.c, &u), 0);
  CHECK(fabs(u.node_hours[STV_CT_ON_DEMAND] - 4.0) < 1e-9);
  CHECK(fabs(u.cost[STV_CT_ON_DEMAND] - 0.4) < 1e-9);
  CHECK(fabs(u.node_hours[STV_CT_SPOT] - 2.0) < 1e-9);
  CHECK(fabs(u.cost[STV_CT_SPOT] - 0.06) < 1e-9);
  CHECK(u.node_hours[STV_CT_RESERVED] == 0);
  CHECK_EQ_INT(delete_ids(&f, SMALL_OD, one, 1), 0);
  stv_vclock_run_until(&f.vc, 30 + 3 * 3600.0);
  CHECK_EQ_INT(stv_sim_usage(f.c, &u), 0);
  CHECK(fabs(u.node_hours[STV_CT_ON_DEMAND] - 5.0) < 1e-9);
  CHECK(fabs(u.cost[STV_CT_ON_DEMAND] - 0.5) < 1e-9);
  CHECK_EQ_INT(u.terminated, 1);
  CHECK_EQ_INT(u.running, 2);
  CHECK_EQ_INT(u.launched, 3);
  fx_close(&f);
}

TEST(should_refuse_options_that_name_what_the_catalogue_lacks) {
  struct fx f;
  struct stv_sim_ice ice = {"m9.huge", NULL, -1, 0.5, 0, INFINITY};
  struct stv_err err;
  CHECK(fx_init(&f) == 0);
  f.o.ice = &ice;
  f.o.nice = 1;
  CHECK_EQ_INT(stv_sim_new(&f.c, &f.vc.clock, &f.o, &err), STV_EINVAL);
  CHECK(f.c == NULL);
  CHECK_STR_CONTAINS(err.msg, "sim: ice[0].instance_type: \"m9.huge\" is not in the catalogue aws:us-east-1");
  f.o.nice = 0;
  f.o.throttle_rate = 1.5;
  CHECK_EQ_INT(stv_sim_new(&f.c, &f.vc.clock, &f.o, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "throttle_rate");
  f.o.throttle_rate = 0;
  f.o.launch_delay = -1;
  CHECK_EQ_INT(stv_sim_new(&f.c, &f.vc.clock, &f.o, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "launch_delay");
  fx_close(&f);
}

TEST(should_close_with_calls_and_launches_in_flight_without_calling_back) {
  struct fx f;
  struct stv_sim_storm storm = {500, NULL, NULL, 0, 1.0};
  CHECK(fx_init(&f) == 0);
  f.o.storms = &storm;
  f.o.nstorms = 1;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(f.c->ops->set_desired(f.c, SMALL_SPOT, 4, on_done, &f), 0);
  CHECK_EQ_INT(f.c->ops->list_instances(f.c, on_instances, &f), 0);
  f.c->ops->close(f.c);
  f.c = NULL;
  CHECK(isinf(stv_vclock_next(&f.vc))); /* no timer left behind */
  stv_vclock_run_until(&f.vc, 1000);
  CHECK_EQ_INT(f.done_calls, 0);
  CHECK_EQ_INT(f.inst_calls, 0);
  CHECK_EQ_INT(f.nev, 0);
  fx_close(&f);
}

TEST(should_survive_allocation_failures_in_every_call) {
  int n, ok = 0;
  for (n = 0; n < 40; n++) {
    struct fx f;
    int rc;
    CHECK(fx_init(&f) == 0);
    stv_alloc_fail_after(n);
    rc = fx_start(&f);
    if (rc == 0) rc = f.c->ops->set_desired(f.c, SMALL_SPOT, 3, on_done, &f);
    stv_alloc_fail_after(-1);
    CHECK(rc == 0 || rc == STV_ENOMEM);
    stv_vclock_run_until(&f.vc, 100);
    if (rc == 0) {
      ok++;
      CHECK_EQ_INT(f.done_calls, 1);
    } else {
      CHECK_EQ_INT(f.done_calls, 0);
    }
    fx_close(&f);
  }
  CHECK(ok > 0);
}

/* ---- Node objects -------------------------------------------------- */

TEST(should_name_sim_nodes_from_provider_ids_and_refuse_other_ids) {
  char buf[64];
  CHECK_EQ_INT(stv_sim_node_name("sim:///us-east-1a/17", buf, sizeof(buf)), 0);
  CHECK(strcmp(buf, "sim-us-east-1a-17") == 0);
  CHECK_EQ_INT(stv_sim_node_name("sim:///Zone_B/3", buf, sizeof(buf)), 0);
  CHECK(strcmp(buf, "sim-zone-b-3") == 0);
  CHECK_EQ_INT(stv_sim_node_name("aws:///us-east-1a/i-0abc", buf, sizeof(buf)), STV_EINVAL);
  CHECK_EQ_INT(stv_sim_node_name("sim:///us-east-1a/x1", buf, sizeof(buf)), STV_EINVAL);
  CHECK_EQ_INT(stv_sim_node_name("sim:///us-east-1a/", buf, sizeof(buf)), STV_EINVAL);
  CHECK_EQ_INT(stv_sim_node_name("sim:///us-east-1a/12345", buf, 8), STV_EINVAL);
}

TEST(should_build_the_node_object_with_the_templates_labels_capacity_provider_id_and_ready) {
  struct fx f;
  struct stv_snapshot snap;
  struct stv_templates t;
  struct stv_err err;
  struct stv_cloud_instance inst;
  const struct stv_template *tm;
  cJSON *node = NULL, *labels, *ready;
  char *text;
  CHECK(fx_init(&f) == 0);
  CHECK_EQ_INT(stv_snapshot_init(&snap), 0);
  CHECK_EQ_INT(stv_templates_build(&t, &f.cat, &snap, ~0u, &err), 0);
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(set_desired(&f, SMALL_SPOT, 1), 0);
  stv_vclock_run_until(&f.vc, 30);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 1);
  inst = f.inst[0];
  tm = stv_sim_find_template(t.v, t.n, &inst, NULL);
  CHECK(tm != NULL);
  CHECK(stv_sim_find_template(t.v, t.n, &inst, "gpu") == NULL);
  node = stv_sim_node_json(&inst, stv_catalog_find(&f.cat, inst.instance_type), tm, 1714521600.0, &err);
  CHECK(node != NULL);
  text = cJSON_PrintUnformatted(node);
  CHECK(text != NULL);
  CHECK_STR_CONTAINS(text, "\"kind\":\"Node\"");
  CHECK_STR_CONTAINS(text, "\"name\":\"sim-us-east-1a-1\"");
  CHECK_STR_CONTAINS(text, "\"providerID\":\"sim:///us-east-1a/1\"");
  CHECK_STR_CONTAINS(text, "\"capacity\":{\"cpu\":\"2\",\"memory\":\"8Gi\"");
  CHECK_STR_CONTAINS(text, "\"allocatable\":{");
  CHECK_STR_CONTAINS(text, "\"pods\":\"110\"");
  CHECK_STR_CONTAINS(text, "\"lastTransitionTime\":\"2024-05-01T00:00:00Z\"");
  free(text);
  labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "metadata"), "labels");
  CHECK(strcmp(cJSON_GetStringValue(
                   cJSON_GetObjectItemCaseSensitive(labels, "node.kubernetes.io/instance-type")),
               "c.small") == 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "topology.kubernetes.io/zone")),
               "us-east-1a") == 0);
  CHECK(
      strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "topology.kubernetes.io/region")),
             "us-east-1") == 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "karpenter.sh/capacity-type")),
               "spot") == 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "kubernetes.io/hostname")),
               "sim-us-east-1a-1") == 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "kubernetes.io/arch")),
               "amd64") == 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(labels, "kubernetes.io/os")), "linux") ==
        0);
  ready = cJSON_GetArrayItem(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node, "status"), "conditions"), 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ready, "type")), "Ready") == 0);
  CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ready, "status")), "True") == 0);
  cJSON_Delete(node);
  inst.provider_id = "aws:///us-east-1a/i-1";
  CHECK(stv_sim_node_json(&inst, stv_catalog_find(&f.cat, "c.small"), tm, 0, &err) == NULL);
  CHECK_EQ_INT(err.code, STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "is not a sim provider id");
  stv_templates_close(&t);
  stv_snapshot_close(&snap);
  fx_close(&f);
}

TEST(should_run_a_day_of_ten_thousand_spot_instances_in_seconds) {
  struct fx *f = calloc(1, sizeof(*f));
  struct stv_sim_usage u;
  struct timespec t0, t1;
  double secs;
  CHECK(f != NULL);
  CHECK(fx_init(f) == 0);
  f->o.max_per_group = 10000;
  f->o.interruptions_per_hour = 0.1;
  CHECK_EQ_INT(fx_start(f), 0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  CHECK_EQ_INT(set_desired(f, SMALL_SPOT, 10000), 0);
  stv_vclock_run_until(&f->vc, 24 * 3600.0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK_EQ_INT(stv_sim_usage(f->c, &u), 0);
  /* 10,000 x 24 h x 0.1 an hour: about 24,000 interruptions, each replaced. */
  CHECK(u.interrupted > 22000 && u.interrupted < 26000);
  CHECK_EQ_INT(u.launched, 10000 + u.interrupted);
  CHECK_EQ_INT(u.running + u.pending, 10000);
  /* Billed: 24 h less the first launch delay, plus the overlap of each
   * interrupted instance's notice with its replacement's run. */
  CHECK(u.node_hours[STV_CT_SPOT] > 0.99 * 240000 && u.node_hours[STV_CT_SPOT] < 1.01 * 240000);
  fprintf(stderr, "  10,000 spot instances for 24 virtual hours, %lld interruptions: %.3f s\n",
          (long long)u.interrupted, secs);
  CHECK(secs < 60.0);
  fx_close(f);
  free(f);
}

/* ---------------------------------------------------------------------- */
/* Adoption and node pools (what `stevedore controller --provider sim` uses) */

TEST(should_adopt_an_instance_registered_earlier_as_running_and_launch_above_its_id) {
  struct fx f;
  struct stv_err err = {0, ""};
  CHECK(fx_init(&f) == 0);
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(stv_sim_adopt(f.c, "sim:///us-east-1a/7", NULL, "c.small", STV_CT_SPOT, &err), 0);
  CHECK_EQ_INT(desired_of(&f, SMALL_SPOT), 1);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 1);
  CHECK(strcmp(f.inst[0].provider_id, "sim:///us-east-1a/7") == 0);
  CHECK_EQ_INT(f.inst[0].state, STV_INSTANCE_RUNNING);
  CHECK_EQ_INT(f.nev, 0); /* no RUNNING event: its Node exists */
  /* Twice is a conflict; a bad id, an unknown offering are refused with the reason. */
  CHECK_EQ_INT(stv_sim_adopt(f.c, "sim:///us-east-1a/7", NULL, "c.small", STV_CT_SPOT, &err), STV_ECONFLICT);
  CHECK_EQ_INT(stv_sim_adopt(f.c, "aws:///us-east-1a/i-1", NULL, "c.small", STV_CT_SPOT, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "is not a sim provider id");
  CHECK_EQ_INT(stv_sim_adopt(f.c, "sim:///us-east-1a/99999999", NULL, "c.small", STV_CT_SPOT, &err),
               STV_EINVAL);
  CHECK_EQ_INT(stv_sim_adopt(f.c, "sim:///us-east-1z/8", NULL, "c.small", STV_CT_SPOT, &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "no instance group offers c.small spot in us-east-1z");
  /* A new launch takes the next id above the adopted one. */
  CHECK_EQ_INT(set_desired(&f, SMALL_SPOT, 2), 0);
  stv_vclock_run_until(&f.vc, 31);
  CHECK_EQ_INT(f.nev, 1);
  CHECK(strcmp(f.ev[0].pid, "sim:///us-east-1a/8") == 0);
  /* Lowering the size terminates the newest first; the adopted one stays. */
  CHECK_EQ_INT(set_desired(&f, SMALL_SPOT, 1), 0);
  stv_vclock_run_until(&f.vc, 32);
  CHECK_EQ_INT(list_instances(&f), 0);
  CHECK_EQ_INT(f.ninst, 1);
  CHECK(strcmp(f.inst[0].provider_id, "sim:///us-east-1a/7") == 0);
  fx_close(&f);
}

TEST(should_make_a_set_of_groups_per_node_pool_and_name_each_groups_pool) {
  static const char *const pools[] = {"web", "batch"};
  struct fx f;
  struct stv_err err = {0, ""};
  CHECK(fx_init(&f) == 0);
  f.o.pools = pools;
  f.o.npools = 2;
  CHECK_EQ_INT(fx_start(&f), 0);
  CHECK_EQ_INT(list_groups(&f), 0);
  CHECK_EQ_INT(f.ngroups, 8); /* 4 offerings x 2 pools */
  CHECK(strcmp(f.groups[0].id, "sim-web-c.large-us-east-1a-on-demand") == 0);
  CHECK(strcmp(f.groups[0].pool, "web") == 0);
  CHECK(strcmp(f.groups[4].pool, "batch") == 0);
  CHECK(strcmp(stv_sim_group_pool(f.c, "sim-batch-c.large-us-east-1a-spot"), "batch") == 0);
  CHECK(stv_sim_group_pool(f.c, SMALL_SPOT) == NULL);
  CHECK_EQ_INT(stv_sim_adopt(f.c, "sim:///us-east-1a/3", "batch", "c.large", STV_CT_SPOT, &err), 0);
  CHECK_EQ_INT(desired_of(&f, "sim-batch-c.large-us-east-1a-spot"), 1);
  CHECK_EQ_INT(stv_sim_adopt(f.c, "sim:///us-east-1a/4", "gpu", "c.large", STV_CT_SPOT, &err), STV_ENOTFOUND);
  CHECK_STR_CONTAINS(err.msg, "of node pool gpu");
  fx_close(&f);
}
