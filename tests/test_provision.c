/*
 * Tests for the provisioning reconciler (controller/loop/provision.c) on
 * the virtual clock, with a recording fake provider that answers every
 * call on the next tick and injects the errors a test asks for, and a
 * cluster view that lists the pods and nodes a test holds.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "harness.h"
#include "loop.h"
#include "sim.h"

/* ---------------------------------------------------------------------- */
/* A recording fake provider                                              */

#define MAX_CALLS 64

struct call {
  char group[64];
  int64_t desired; /* -1: a delete */
  double at;
};

struct reply {
  struct stv_timer t;
  struct fake *f;
  stv_cloud_done_cb cb;
  void *ctx;
  struct stv_cloud_result r;
  int kind; /* 0: done, 1: groups, 2: instances */
  stv_cloud_groups_cb gcb;
  stv_cloud_instances_cb icb;
};

struct fake {
  struct stv_cloud cloud;
  struct stv_cloud_offering off[4];
  struct stv_cloud_group groups[4];
  size_t ngroups;
  struct stv_cloud_instance inst[8];
  size_t ninst;
  struct call calls[MAX_CALLS];
  size_t ncalls;
  int next_code[8]; /* errors for the next set_desired calls, in order */
  double next_retry_after[8];
  size_t nnext;
  struct reply replies[128];
  size_t nreplies;
  size_t nlist_groups; /* list_groups calls */
};

static void reply_cb(struct stv_timer *t) {
  struct reply *r = t->data;
  struct fake *f = r->f;
  if (r->kind == 1)
    r->gcb(r->ctx, &r->r, f->groups, f->ngroups);
  else if (r->kind == 2)
    r->icb(r->ctx, &r->r, f->inst, f->ninst);
  else
    r->cb(r->ctx, &r->r);
}

static struct reply *later(struct fake *f, int kind, void *ctx) {
  struct reply *r = &f->replies[f->nreplies++ % 128];
  memset(r, 0, sizeof(*r));
  r->f = f;
  r->kind = kind;
  r->ctx = ctx;
  r->r.message = "";
  return r;
}

static struct fake *fake_of(struct stv_cloud *c) {
  return c->impl;
}

static int fake_list_groups(struct stv_cloud *c, stv_cloud_groups_cb cb, void *ctx) {
  struct reply *r = later(fake_of(c), 1, ctx);
  fake_of(c)->nlist_groups++;
  r->gcb = cb;
  return stv_clock_start(c->clock, &r->t, 0, reply_cb, r);
}

static int fake_list_instances(struct stv_cloud *c, stv_cloud_instances_cb cb, void *ctx) {
  struct reply *r = later(fake_of(c), 2, ctx);
  r->icb = cb;
  return stv_clock_start(c->clock, &r->t, 0, reply_cb, r);
}

static int fake_set_desired(struct stv_cloud *c, const char *group, int64_t desired, stv_cloud_done_cb cb,
                            void *ctx) {
  struct fake *f = fake_of(c);
  struct reply *r = later(f, 0, ctx);
  size_t i;
  r->cb = cb;
  if (f->ncalls < MAX_CALLS) {
    snprintf(f->calls[f->ncalls].group, sizeof(f->calls[0].group), "%s", group);
    f->calls[f->ncalls].desired = desired;
    f->calls[f->ncalls].at = stv_clock_now(c->clock);
    f->ncalls++;
  }
  if (f->nnext > 0) {
    r->r.code = f->next_code[0];
    r->r.retry_after = f->next_retry_after[0];
    r->r.message = "injected";
    memmove(f->next_code, f->next_code + 1, (f->nnext - 1) * sizeof(int));
    memmove(f->next_retry_after, f->next_retry_after + 1, (f->nnext - 1) * sizeof(double));
    f->nnext--;
  } else {
    for (i = 0; i < f->ngroups; i++)
      if (strcmp(f->groups[i].id, group) == 0) f->groups[i].desired = desired;
  }
  return stv_clock_start(c->clock, &r->t, 0, reply_cb, r);
}

static int fake_delete(struct stv_cloud *c, const char *group, const char *const *ids, size_t n,
                       stv_cloud_done_cb cb, void *ctx) {
  struct fake *f = fake_of(c);
  struct reply *r = later(f, 0, ctx);
  (void)ids;
  r->cb = cb;
  if (f->ncalls < MAX_CALLS) {
    snprintf(f->calls[f->ncalls].group, sizeof(f->calls[0].group), "%s", group);
    f->calls[f->ncalls].desired = -(int64_t)n;
    f->calls[f->ncalls].at = stv_clock_now(c->clock);
    f->ncalls++;
  }
  return stv_clock_start(c->clock, &r->t, 0, reply_cb, r);
}

static void fake_close(struct stv_cloud *c) {
  (void)c;
}

static const struct stv_cloud_ops fake_ops = {
    .name = "fake",
    .list_groups = fake_list_groups,
    .list_instances = fake_list_instances,
    .set_desired = fake_set_desired,
    .delete_instances = fake_delete,
    .close = fake_close,
};

/* Groups: c5.large in us-east-1b on-demand ("a", the cheaper) and m5.large in us-east-1a on-demand ("b"). */
static void fake_init(struct fake *f, struct stv_clock *clock) {
  memset(f, 0, sizeof(*f));
  f->cloud.ops = &fake_ops;
  f->cloud.impl = f;
  f->cloud.clock = clock;
  f->off[0] = (struct stv_cloud_offering){"c5.large", "us-east-1b", STV_CT_ON_DEMAND};
  f->off[1] = (struct stv_cloud_offering){"m5.large", "us-east-1a", STV_CT_ON_DEMAND};
  f->groups[0] = (struct stv_cloud_group){"a", NULL, &f->off[0], 1, 0, 50, 0};
  f->groups[1] = (struct stv_cloud_group){"b", NULL, &f->off[1], 1, 0, 50, 0};
  f->ngroups = 2;
}

static void fake_inject(struct fake *f, int code, double retry_after) {
  f->next_code[f->nnext] = code;
  f->next_retry_after[f->nnext] = retry_after;
  f->nnext++;
}

/* ---------------------------------------------------------------------- */
/* A cluster view of pending pods (no nodes)                              */

struct view {
  int npods;
  int64_t cpu, memory;
  char decisions[64][300];
  int ndecisions;
  int nsnapshots;        /* copies the reconciler asked for */
  const char *extra_res; /* a resource name the snapshot knows (no pod asks for it), or NULL */
};

/* The view's cheap question: some pod is pending. */
static int view_has_pending(void *ctx) {
  const struct view *v = ctx;
  return v->npods > 0;
}

static int view_snapshot(void *ctx, struct stv_snapshot *s, const char ***ids, struct stv_err *err) {
  struct view *v = ctx;
  struct stv_class c;
  struct stv_pod pod;
  char name[32];
  int i, rc;
  *ids = NULL;
  v->nsnapshots++;
  if (v->extra_res != NULL && (rc = stv_resnames_index(&s->res, &s->pool, v->extra_res, 1)) < 0)
    return stv_err_set(err, rc, "resource");
  memset(&c, 0, sizeof(c));
  c.ns = stv_strpool_get(&s->pool, "default");
  c.req[STV_RES_CPU] = v->cpu;
  c.req[STV_RES_MEMORY] = v->memory;
  c.req[STV_RES_PODS] = 1;
  c.example = stv_strpool_get(&s->pool, "default/p0");
  memset(&pod, 0, sizeof(pod));
  if ((rc = stv_snapshot_intern_class(s, &c, &pod.cls)) != 0) return stv_err_set(err, rc, "class");
  pod.ns = c.ns;
  pod.node = -1;
  pod.phase = STV_PHASE_PENDING;
  for (i = 0; i < v->npods; i++) {
    snprintf(name, sizeof(name), "p%d", i);
    pod.name = stv_strpool_get(&s->pool, name);
    if ((rc = stv_snapshot_add_pod(s, &pod)) != 0) return stv_err_set(err, rc, "pod");
  }
  return 0;
}

static void on_decision(void *ctx, const struct stv_decision *d) {
  struct view *v = ctx;
  if (v->ndecisions < 64)
    snprintf(v->decisions[v->ndecisions++], sizeof(v->decisions[0]), "%.1f %s %s", d->at, d->kind, d->text);
  if (getenv("STV_TEST_VERBOSE")) fprintf(stderr, "    %.1f %s %s\n", d->at, d->kind, d->text);
}

static const char *find_decision(const struct view *v, const char *needle) {
  int i;
  for (i = 0; i < v->ndecisions; i++)
    if (strstr(v->decisions[i], needle)) return v->decisions[i];
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* The fixture                                                            */

static const char *const test_types[] = {"m5.large", "c5.large"};

struct fx {
  struct stv_vclock vc;
  struct fake cloud;
  struct stv_catalog cat;
  struct view view;
  struct stv_cluster_view cv;
  struct stv_solve_runner runner;
  struct stv_provision_opts o;
  struct stv_provision *p;
};

static int fx_init(struct fx *fx) {
  struct stv_err err = {0};
  memset(fx, 0, sizeof(*fx));
  stv_vclock_init(&fx->vc, 0);
  fake_init(&fx->cloud, &fx->vc.clock);
  if (stv_catalog_load(&fx->cat, "aws:us-east-1", &err) != 0) {
    fprintf(stderr, "  %s\n", err.msg);
    return -1;
  }
  fx->view.cpu = 1500;
  fx->view.memory = INT64_C(1) << 30;
  fx->cv.snapshot = view_snapshot;
  fx->cv.ctx = &fx->view;
  stv_solve_runner_inline_init(&fx->runner, &fx->vc.clock);
  stv_provision_opts_default(&fx->o);
  fx->o.instance_types = test_types;
  fx->o.ninstance_types = 2;
  fx->o.decision_budget = 0.2;
  fx->o.on_decision = on_decision;
  fx->o.decision_ctx = &fx->view;
  return 0;
}

static int fx_start(struct fx *fx) {
  struct stv_err err = {0};
  if (stv_provision_new(&fx->p, &fx->o, &fx->vc.clock, &fx->cloud.cloud, &fx->cat, &fx->cv, &fx->runner,
                        &err) != 0)
    return -1;
  if (stv_provision_start(fx->p) != 0) return -1;
  stv_vclock_run_until(&fx->vc, 0);
  return 0;
}

static void fx_close(struct fx *fx) {
  stv_vclock_close(&fx->vc);
  stv_provision_free(fx->p);
  stv_catalog_close(&fx->cat);
}

/* Reports pods p<from>..p<to-1> unschedulable and grows the view to hold them. */
static void unschedulable(struct fx *fx, int from, int to) {
  char name[32];
  int i;
  for (i = from; i < to; i++) {
    snprintf(name, sizeof(name), "p%d", i);
    stv_provision_pod_unschedulable(fx->p, "default", name);
  }
  if (to > fx->view.npods) fx->view.npods = to;
}

static int64_t total_desired(const struct fx *fx) {
  size_t i;
  int64_t n = 0;
  for (i = 0; i < fx->cloud.ngroups; i++) n += fx->cloud.groups[i].desired;
  return n;
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                  */

TEST(should_solve_once_after_the_idle_window_closes) {
  struct fx fx;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  CHECK(!stv_provision_busy(fx.p));
  unschedulable(&fx, 0, 2);
  stv_vclock_run_until(&fx.vc, 0.5);
  unschedulable(&fx, 2, 3);
  stv_vclock_run_until(&fx.vc, 1.4);
  CHECK(stv_provision_busy(fx.p));  /* a batch is open */
  CHECK_EQ_INT(fx.cloud.ncalls, 0); /* the idle window restarted at 0.5 */
  stv_vclock_run_until(&fx.vc, 1.6);
  CHECK_EQ_INT(fx.cloud.ncalls, 1);
  CHECK(fabs(fx.cloud.calls[0].at - 1.5) < 1e-9);
  CHECK_EQ_INT(fx.cloud.calls[0].desired, 3); /* one pod of 1.5 cpu per 2-cpu node */
  CHECK(!stv_provision_busy(fx.p));           /* the call was answered */
  fx_close(&fx);
}

TEST(should_end_a_batch_at_the_max_window_while_pods_keep_coming) {
  struct fx fx;
  int i;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  for (i = 0; i < 30; i++) {
    unschedulable(&fx, i, i + 1);
    stv_vclock_run_until(&fx.vc, (i + 1) * 0.5);
    if (fx.cloud.ncalls > 0) break;
  }
  CHECK_EQ_INT(fx.cloud.ncalls, 1);
  CHECK(fabs(fx.cloud.calls[0].at - 10.0) < 1e-9);
  fx_close(&fx);
}

TEST(should_count_nodes_in_flight_and_not_scale_up_twice_for_the_same_pods) {
  struct fx fx;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 4);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK_EQ_INT(total_desired(&fx), 4);
  /* kube-scheduler says it again (the pods were bound and evicted): a new batch, nothing new to buy. */
  stv_provision_pod_gone(fx.p, "default", "p0");
  unschedulable(&fx, 0, 1);
  stv_vclock_run_until(&fx.vc, 20);
  CHECK_EQ_INT(total_desired(&fx), 4);
  CHECK_EQ_INT(fx.cloud.ncalls, 1);
  CHECK(find_decision(&fx.view, "fit nodes in flight") != NULL);
  /* Two more pods: only two more nodes. */
  unschedulable(&fx, 4, 6);
  stv_vclock_run_until(&fx.vc, 40);
  CHECK_EQ_INT(total_desired(&fx), 6);
  fx_close(&fx);
}

TEST(should_build_the_templates_once_and_again_only_when_the_snapshots_resources_change) {
  struct fx fx;
  struct stv_provision_stats st;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 2);
  stv_vclock_run_until(&fx.vc, 5);
  unschedulable(&fx, 2, 4);
  stv_vclock_run_until(&fx.vc, 10);
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.solves, 2);
  CHECK_EQ_INT(st.template_builds, 1);
  CHECK_EQ_INT(total_desired(&fx), 4);
  /* A resource the templates were not built for: built again, and the plan is as before. */
  fx.view.extra_res = "example.com/widget";
  unschedulable(&fx, 4, 5);
  stv_vclock_run_until(&fx.vc, 15);
  unschedulable(&fx, 5, 6);
  stv_vclock_run_until(&fx.vc, 20);
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.solves, 4);
  CHECK_EQ_INT(st.template_builds, 2);
  CHECK_EQ_INT(total_desired(&fx), 6);
  fx_close(&fx);
}

TEST(should_give_up_a_node_that_never_registers_and_back_its_group_off_doubling) {
  struct fx fx;
  const char *d;
  CHECK(fx_init(&fx) == 0);
  fx.o.max_provision = 600;
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 1);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK_EQ_INT(fx.cloud.ncalls, 1);
  CHECK_STR_CONTAINS(fx.cloud.calls[0].group, "a"); /* c5.large is the cheaper */
  stv_vclock_run_until(&fx.vc, 599);
  CHECK(find_decision(&fx.view, "give_up") == NULL);
  stv_vclock_run_until(&fx.vc, 640);
  CHECK((d = find_decision(&fx.view, "give_up")) != NULL);
  CHECK((d = find_decision(&fx.view, "backed off for 300 s")) != NULL);
  /* The group's desired size went back, and the pod was re-planned on the other group. */
  CHECK_EQ_INT(fx.cloud.groups[0].desired, 0);
  CHECK_EQ_INT(fx.cloud.groups[1].desired, 1);
  /* Group b fails too; then a is tried again after its backoff, and fails a second time: 600 s. */
  stv_vclock_run_until(&fx.vc, 1300);
  CHECK(find_decision(&fx.view, "group b backed off for 300 s") != NULL);
  stv_vclock_run_until(&fx.vc, 2000);
  CHECK(find_decision(&fx.view, "group a backed off for 600 s") != NULL);
  fx_close(&fx);
}

TEST(should_register_a_node_and_reset_the_groups_backoff) {
  struct fx fx;
  struct stv_provision_stats st;
  struct stv_cloud_event ev;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 1);
  stv_vclock_run_until(&fx.vc, 5);
  fx.cloud.inst[0] = (struct stv_cloud_instance){
      "sim:///us-east-1b/1", "a", "c5.large", "us-east-1b", STV_CT_ON_DEMAND, STV_INSTANCE_RUNNING, 3};
  memset(&ev, 0, sizeof(ev));
  ev.kind = STV_CLOUD_EV_RUNNING;
  ev.instance = &fx.cloud.inst[0];
  ev.message = "";
  stv_provision_cloud_event(fx.p, &ev);
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.inflight, 1);
  stv_provision_node_registered(fx.p, "n1", "sim:///us-east-1b/1");
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.inflight, 0);
  stv_vclock_run_until(&fx.vc, 2000);
  CHECK(find_decision(&fx.view, "give_up") == NULL);
  fx_close(&fx);
}

TEST(should_count_a_node_that_registered_before_the_provider_said_it_runs) {
  struct fx fx;
  struct stv_provision_stats st;
  struct stv_cloud_event ev;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 1);
  stv_vclock_run_until(&fx.vc, 5);
  /* A cloud's poll can come after the kubelet: the Node first, then RUNNING (twice: once more is harmless). */
  stv_provision_node_registered(fx.p, "n1", "sim:///us-east-1b/1");
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.inflight, 1);
  fx.cloud.inst[0] = (struct stv_cloud_instance){
      "sim:///us-east-1b/1", "a", "c5.large", "us-east-1b", STV_CT_ON_DEMAND, STV_INSTANCE_RUNNING, 3};
  memset(&ev, 0, sizeof(ev));
  ev.kind = STV_CLOUD_EV_RUNNING;
  ev.instance = &fx.cloud.inst[0];
  ev.message = "";
  stv_provision_cloud_event(fx.p, &ev);
  stv_provision_cloud_event(fx.p, &ev);
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.inflight, 0);
  stv_vclock_run_until(&fx.vc, 2000);
  CHECK(find_decision(&fx.view, "give_up") == NULL);
  CHECK_EQ_INT(total_desired(&fx), 1);
  fx_close(&fx);
}

TEST(should_replan_elsewhere_when_an_offering_has_insufficient_capacity) {
  struct fx fx;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  fake_inject(&fx.cloud, STV_ECAPACITY, 0);
  unschedulable(&fx, 0, 2);
  stv_vclock_run_until(&fx.vc, 10);
  CHECK(fx.cloud.ncalls >= 2);
  CHECK_STR_CONTAINS(fx.cloud.calls[0].group, "a");
  CHECK_STR_CONTAINS(fx.cloud.calls[1].group, "b");
  CHECK_EQ_INT(fx.cloud.groups[0].desired, 0);
  CHECK_EQ_INT(fx.cloud.groups[1].desired, 2);
  CHECK(find_decision(&fx.view, "group a backed off for 300 s") != NULL);
  fx_close(&fx);
}

TEST(should_replan_when_a_launch_fails_after_it_was_accepted) {
  struct fx fx;
  struct stv_cloud_instance in = {NULL, "a", "c5.large", "us-east-1b", STV_CT_ON_DEMAND, STV_INSTANCE_PENDING,
                                  0};
  struct stv_cloud_event ev = {STV_CLOUD_EV_LAUNCH_FAILED, &in, STV_ECAPACITY, "no m5.large left", 0};
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 1);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK_EQ_INT(fx.cloud.groups[0].desired, 1);
  fx.cloud.groups[0].desired = 0; /* the provider lowers it by the node that failed */
  stv_provision_cloud_event(fx.p, &ev);
  stv_vclock_run_until(&fx.vc, 10);
  CHECK_EQ_INT(fx.cloud.groups[0].desired, 0);
  CHECK_EQ_INT(fx.cloud.groups[1].desired, 1);
  fx_close(&fx);
}

TEST(should_drop_the_named_node_in_flight_when_it_fails_after_the_provider_saw_it) {
  struct fx fx;
  struct stv_provision_stats st;
  struct stv_cloud_event ev;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 1);
  stv_vclock_run_until(&fx.vc, 5);
  fx.cloud.inst[0] = (struct stv_cloud_instance){
      "sim:///us-east-1b/1", "a", "c5.large", "us-east-1b", STV_CT_ON_DEMAND, STV_INSTANCE_RUNNING, 3};
  memset(&ev, 0, sizeof(ev));
  ev.kind = STV_CLOUD_EV_RUNNING;
  ev.instance = &fx.cloud.inst[0];
  ev.message = "";
  stv_provision_cloud_event(fx.p, &ev); /* the node in flight now carries its provider id */
  ev.kind = STV_CLOUD_EV_LAUNCH_FAILED;
  ev.code = STV_ECAPACITY;
  ev.message = "failed while booting";
  fx.cloud.groups[0].desired = 0;
  stv_provision_cloud_event(fx.p, &ev);
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.inflight, 0);
  stv_vclock_run_until(&fx.vc, 10);
  CHECK_EQ_INT(fx.cloud.groups[1].desired, 1);
  fx_close(&fx);
}

TEST(should_retry_a_throttled_call_after_its_retry_after) {
  struct fx fx;
  struct stv_provision_stats st;
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  fake_inject(&fx.cloud, STV_ETHROTTLED, 5);
  unschedulable(&fx, 0, 1);
  stv_vclock_run_until(&fx.vc, 20);
  CHECK_EQ_INT(fx.cloud.ncalls, 2);
  CHECK(fabs(fx.cloud.calls[1].at - fx.cloud.calls[0].at - 5) < 1e-9);
  CHECK_EQ_INT(fx.cloud.calls[1].desired, 1);
  CHECK_EQ_INT(fx.cloud.groups[0].desired, 1);
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.throttled, 1);
  CHECK_EQ_INT(st.scale_ups, 1);
  fx_close(&fx);
}

TEST(should_cut_a_scale_up_to_the_node_limit_and_say_why_each_pod_waits) {
  struct fx fx;
  const struct stv_pending_reason *r;
  size_t n;
  CHECK(fx_init(&fx) == 0);
  fx.o.cluster.nodes = 3;
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 5);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK_EQ_INT(total_desired(&fx), 3);
  n = stv_provision_pending(fx.p, &r);
  CHECK_EQ_INT(n, 2);
  CHECK_STR_CONTAINS(r[0].reason, "cluster limit of 3 nodes");
  CHECK(find_decision(&fx.view, "2 planned nodes cut, 2 pods stay pending") != NULL);
  fx_close(&fx);
}

TEST(should_keep_within_the_hourly_budget) {
  struct fx fx;
  const struct stv_pending_reason *r;
  CHECK(fx_init(&fx) == 0);
  fx.o.cluster.cost_per_hour = 0.25; /* c5.large on demand is 0.085/h: two fit, three do not */
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 4);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK_EQ_INT(total_desired(&fx), 2);
  CHECK(stv_provision_pending(fx.p, &r) == 2);
  CHECK_STR_CONTAINS(r[0].reason, "budget of 0.2500 USD/h");
  fx_close(&fx);
}

TEST(should_cut_to_a_cpu_limit) {
  struct fx fx;
  const struct stv_pending_reason *r;
  CHECK(fx_init(&fx) == 0);
  fx.o.cluster.cpu = 4000; /* two nodes of 2 cpu (allocatable a little less) */
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 3);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK_EQ_INT(total_desired(&fx), 2);
  CHECK(stv_provision_pending(fx.p, &r) == 1);
  CHECK_STR_CONTAINS(r[0].reason, "cpu limit of 4000m");
  fx_close(&fx);
}

TEST(should_rebuild_nodes_in_flight_after_a_restart_and_not_scale_up_again) {
  struct fx fx;
  struct stv_provision_stats st;
  CHECK(fx_init(&fx) == 0);
  /* Before the restart, 3 nodes were asked for: one runs (not registered), two are not launched yet. */
  fx.cloud.groups[0].desired = 3;
  fx.cloud.inst[0] = (struct stv_cloud_instance){
      "sim:///us-east-1b/7", "a", "c5.large", "us-east-1b", STV_CT_ON_DEMAND, STV_INSTANCE_RUNNING, 0};
  fx.cloud.ninst = 1;
  fx.view.npods = 3;
  CHECK(fx_start(&fx) == 0);
  stv_vclock_run_until(&fx.vc, 1);
  CHECK(find_decision(&fx.view, "3 nodes in flight (1 launched and not registered, 2 not launched yet)") !=
        NULL);
  unschedulable(&fx, 0, 3);
  stv_vclock_run_until(&fx.vc, 20);
  CHECK_EQ_INT(fx.cloud.ncalls, 0);
  stv_provision_get_stats(fx.p, &st);
  CHECK_EQ_INT(st.inflight, 3);
  fx_close(&fx);
}

TEST(should_reuse_the_groups_listing_until_it_is_old_or_the_provider_acted) {
  struct fx fx;
  struct stv_cloud_event ev;
  struct stv_cloud_instance in = {"sim:///us-east-1b/1", "a", "c5.large", "us-east-1b", STV_CT_ON_DEMAND,
                                  STV_INSTANCE_RUNNING,  3};
  CHECK(fx_init(&fx) == 0);
  CHECK(fx_start(&fx) == 0);
  stv_vclock_run_until(&fx.vc, 1);
  CHECK_EQ_INT(fx.cloud.nlist_groups, 1); /* at start */
  unschedulable(&fx, 0, 2);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK(total_desired(&fx) > 0);
  CHECK_EQ_INT(fx.cloud.nlist_groups, 1); /* the batch's decision reused the listing */
  memset(&ev, 0, sizeof(ev));
  ev.kind = STV_CLOUD_EV_RUNNING;
  ev.instance = &in;
  ev.message = "";
  stv_provision_cloud_event(fx.p, &ev);
  unschedulable(&fx, 2, 3);
  stv_vclock_run_until(&fx.vc, 10);
  CHECK_EQ_INT(fx.cloud.nlist_groups, 2); /* the provider acted: listed again */
  unschedulable(&fx, 3, 4);
  stv_vclock_run_until(&fx.vc, 15);
  CHECK_EQ_INT(fx.cloud.nlist_groups, 2);
  stv_vclock_run_until(&fx.vc, 80);
  unschedulable(&fx, 4, 5);
  stv_vclock_run_until(&fx.vc, 85);
  CHECK_EQ_INT(fx.cloud.nlist_groups, 3); /* older than group_refresh (60 s) */
  fx_close(&fx);
}

TEST(should_not_copy_the_view_on_a_poke_when_no_pod_is_pending) {
  struct fx fx;
  CHECK(fx_init(&fx) == 0);
  fx.cv.has_pending = view_has_pending;
  CHECK(fx_start(&fx) == 0);
  stv_vclock_run_until(&fx.vc, 1);
  CHECK(find_decision(&fx.view, "rebuild") != NULL);
  CHECK_EQ_INT(fx.view.nsnapshots, 0); /* the start's poke */
  stv_provision_poke(fx.p, "a node went away");
  stv_vclock_run_until(&fx.vc, 2);
  CHECK_EQ_INT(fx.view.nsnapshots, 0);
  fx.view.npods = 2; /* pending, not reported unschedulable yet */
  stv_provision_poke(fx.p, "a node went away");
  stv_vclock_run_until(&fx.vc, 3);
  CHECK_EQ_INT(fx.view.nsnapshots, 1);
  CHECK(total_desired(&fx) > 0);
  fx_close(&fx);
}

TEST(should_keep_headroom_without_pending_pods) {
  struct fx fx;
  struct stv_headroom_unit unit = {2, 1500, INT64_C(1) << 30};
  CHECK(fx_init(&fx) == 0);
  fx.o.headroom = &unit;
  fx.o.nheadroom = 1;
  CHECK(fx_start(&fx) == 0);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK_EQ_INT(total_desired(&fx), 2);
  CHECK(stv_provision_pending(fx.p, &(const struct stv_pending_reason *){NULL}) == 0);
  fx_close(&fx);
}

TEST(should_refuse_batch_windows_that_make_no_sense) {
  struct fx fx;
  struct stv_err err = {0};
  struct stv_provision *p = NULL;
  CHECK(fx_init(&fx) == 0);
  fx.o.batch_idle = 20;
  CHECK(stv_provision_new(&p, &fx.o, &fx.vc.clock, &fx.cloud.cloud, &fx.cat, &fx.cv, &fx.runner, &err) ==
        STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "idle 20 s");
  fx_close(&fx);
}

/* ---------------------------------------------------------------------- */
/* The worker-thread runner                                               */

struct uvfx {
  uv_timer_t tick;
  int ticks, ticks_at_done, done;
};

static void tick_cb(uv_timer_t *t) {
  struct uvfx *u = t->data;
  u->ticks++;
}

static void uv_done(struct stv_solve_job *job) {
  struct uvfx *u = job->data;
  u->done = 1;
  u->ticks_at_done = u->ticks;
  uv_timer_stop(&u->tick);
  uv_close((uv_handle_t *)&u->tick, NULL);
}

TEST(should_solve_on_a_worker_thread_while_the_loop_keeps_running) {
  struct fx fx;
  struct stv_templates tmpl;
  struct stv_snapshot snap;
  struct stv_solve_runner r;
  struct stv_solve_job job;
  struct stv_err err = {0};
  struct uvfx u = {0};
  uv_loop_t loop;
  const char **ids;
  CHECK(fx_init(&fx) == 0);
  fx.view.npods = 3000;
  fx.view.cpu = 700;
  CHECK(stv_snapshot_init(&snap) == 0);
  CHECK(view_snapshot(&fx.view, &snap, &ids, &err) == 0);
  CHECK(stv_templates_build(&tmpl, &fx.cat, &snap, 1u << STV_CT_ON_DEMAND, &err) == 0);
  CHECK(stv_snapshot_finish(&snap, &err) == 0);
  memset(&job, 0, sizeof(job));
  job.problem.snap = &snap;
  job.problem.tmpl = tmpl.v;
  job.problem.ntmpl = tmpl.n;
  job.problem.currency = "USD";
  job.problem.time_limit = 0.5;
  job.problem.clock = stv_monotonic_seconds;
  stv_spot_policy_default(&job.problem.spot);
  job.done = uv_done;
  job.data = &u;
  CHECK(uv_loop_init(&loop) == 0);
  uv_timer_init(&loop, &u.tick);
  u.tick.data = &u;
  uv_timer_start(&u.tick, tick_cb, 1, 1);
  stv_solve_runner_uv_init(&r, &loop);
  CHECK(r.ops->submit(&r, &job) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(u.done);
  CHECK_EQ_INT(job.rc, 0);
  CHECK(job.plan.nnew > 0);
  /* The 1 ms timer kept firing while the solve ran: the loop was not blocked (on a loaded machine it fires
   * less often than once a millisecond, so only a few ticks are asked for). */
  CHECK(job.solve_s > 0.01);
  CHECK(u.ticks_at_done >= 3);
  uv_loop_close(&loop);
  stv_plan_close(&job.plan);
  stv_templates_close(&tmpl);
  stv_snapshot_close(&snap);
  fx_close(&fx);
}

/* ---------------------------------------------------------------------- */
/* On the sim provider                                                    */

/* Starts the fixture's reconciler on a sim provider (opts borrowed) instead of the fake. */
static int fx_start_sim(struct fx *fx, struct stv_sim_opts *so, struct stv_cloud **cloud) {
  struct stv_err err = {0};
  so->catalog = &fx->cat;
  so->capacity_types = 1u << STV_CT_ON_DEMAND;
  if (stv_sim_new(cloud, &fx->vc.clock, so, &err) != 0) {
    fprintf(stderr, "  %s\n", err.msg);
    return -1;
  }
  if (stv_provision_new(&fx->p, &fx->o, &fx->vc.clock, *cloud, &fx->cat, &fx->cv, &fx->runner, &err) != 0)
    return -1;
  return stv_provision_start(fx->p);
}

/* Forwards the provider's events to the reconciler, as the cluster's owner does. */
static void forward(void *ctx, const struct stv_cloud_event *ev) {
  stv_provision_cloud_event(ctx, ev);
}

TEST(should_start_again_when_the_sim_provider_throttles_its_listings) {
  struct fx fx;
  struct stv_sim_opts so;
  struct stv_cloud *cloud = NULL;
  struct stv_sim_usage u;
  CHECK(fx_init(&fx) == 0);
  stv_sim_opts_default(&so);
  so.api_rate = 0.5; /* one call every 2 s, a burst of 1: the second listing is throttled */
  so.api_burst = 1;
  fx.view.npods = 2;
  CHECK(fx_start_sim(&fx, &so, &cloud) == 0);
  stv_vclock_run_until(&fx.vc, 30);
  CHECK(find_decision(&fx.view, "throttled") != NULL);
  CHECK(find_decision(&fx.view, "rebuild") != NULL);
  CHECK(stv_sim_usage(cloud, &u) == 0);
  CHECK(u.throttled >= 1);
  CHECK_EQ_INT(u.launched, 2); /* the two pending pods got their nodes, once */
  stv_vclock_close(&fx.vc);
  stv_provision_free(fx.p);
  cloud->ops->close(cloud);
  fx.p = NULL;
  stv_catalog_close(&fx.cat);
}

TEST(should_plan_elsewhere_when_the_sim_provider_has_no_capacity_for_the_cheapest_offering) {
  struct fx fx;
  struct stv_sim_opts so;
  struct stv_sim_ice ice = {"c5.large", NULL, -1, 1, 0, INFINITY};
  struct stv_cloud *cloud = NULL;
  struct stv_sim_usage u;
  CHECK(fx_init(&fx) == 0);
  stv_sim_opts_default(&so);
  so.ice = &ice;
  so.nice = 1;
  fx.view.npods = 3;
  CHECK(fx_start_sim(&fx, &so, &cloud) == 0);
  cloud->on_event = forward;
  cloud->event_ctx = fx.p;
  stv_vclock_run_until(&fx.vc, 120);
  CHECK(find_decision(&fx.view, "launch_failed") != NULL);
  CHECK(find_decision(&fx.view, "backed off for 300 s") != NULL);
  CHECK(stv_sim_usage(cloud, &u) == 0);
  CHECK(u.launch_failed >= 1);
  /* The pods' nodes came from another offering: three instances run or are on their way. */
  CHECK_EQ_INT(u.running + u.pending, 3);
  stv_vclock_close(&fx.vc);
  stv_provision_free(fx.p);
  cloud->ops->close(cloud);
  fx.p = NULL;
  stv_catalog_close(&fx.cat);
}

TEST(should_cut_to_a_node_pools_limit) {
  struct fx fx;
  struct stv_node_pool pool;
  struct stv_pool_limits pl;
  const struct stv_pending_reason *r;
  CHECK(fx_init(&fx) == 0);
  memset(&pool, 0, sizeof(pool));
  pool.name = "general";
  fx.o.pools = &pool;
  fx.o.npools = 1;
  pl.pool = "general";
  stv_limits_none(&pl.limits);
  pl.limits.nodes = 1;
  fx.o.pool_limits = &pl;
  fx.o.npool_limits = 1;
  fx.cloud.groups[0].pool = "general";
  fx.cloud.groups[1].pool = "general";
  CHECK(fx_start(&fx) == 0);
  unschedulable(&fx, 0, 3);
  stv_vclock_run_until(&fx.vc, 5);
  CHECK_EQ_INT(total_desired(&fx), 1);
  CHECK(stv_provision_pending(fx.p, &r) == 2);
  CHECK_STR_CONTAINS(r[0].reason, "the node pool limit of 1 nodes would be crossed");
  fx_close(&fx);
}
