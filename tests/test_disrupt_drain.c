/*
 * Tests for the drainer and the emptiness reconciler
 * (controller/loop/disrupt.c) on the virtual clock: the cluster is a real
 * cache (stv_cache_apply) that the fakes change as the API server would;
 * a fake provider with one group answers on the next tick; a fake
 * Kubernetes writer records taints, evictions and Node deletions and
 * answers each with the code a test asks for.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cache.h"
#include "disrupt.h"
#include "harness.h"

#define MAXN 8

/* ---------------------------------------------------------------------- */
/* The fixture                                                            */

struct answer {
  struct stv_timer t;
  struct fx *fx;
  int kind; /* 0: kube done, 1: groups, 2: instances, 3: cloud done */
  stv_disrupt_done_cb kcb;
  stv_cloud_done_cb ccb;
  stv_cloud_groups_cb gcb;
  stv_cloud_instances_cb icb;
  void *ctx;
  int code;
  char what[200]; /* kube: "taint NODE", "untaint NODE", "evict NS/NAME", "delete NODE" */
};

struct fx {
  struct stv_vclock vc;
  struct stv_cloud cloud;
  struct stv_cache *cache;
  struct stv_disrupt *d;
  struct stv_events *events;
  struct stv_cloud_group group;
  struct stv_cloud_instance inst[MAXN];
  char pids[MAXN][32];
  size_t ninst;
  struct answer answers[512];
  size_t nanswers;
  /* What the fakes saw. */
  int taints, untaints, evictions, node_deletes, instance_deletes;
  int evict_code;        /* the answer to every eviction (0: evicted, and the pod goes) */
  int keep_evicted_pods; /* evicted pods stay (terminating past their grace period) */
  char reasons[2048];    /* Event reasons, in order, ' '-separated */
};

static cJSON *obj(const char *text) {
  char *s = strdup(text), *p;
  cJSON *j;
  for (p = s; *p != '\0'; p++)
    if (*p == '\'') *p = '"';
  j = cJSON_Parse(s);
  free(s);
  return j;
}

static int apply(struct fx *fx, enum stv_cache_kind kind, enum stv_watch_event type, const char *text) {
  struct stv_err err = {0, ""};
  cJSON *j = obj(text);
  int rc = j != NULL ? stv_cache_apply(fx->cache, kind, type, j, &err) : -1;
  if (rc != 0) fprintf(stderr, "  fixture refused: %s: %s\n", text, err.msg);
  cJSON_Delete(j);
  return rc;
}

static void add_node(struct fx *fx, int i, const char *annotations) {
  char text[600];
  snprintf(fx->pids[i], sizeof(fx->pids[i]), "fake:///z/%d", i);
  snprintf(text, sizeof(text),
           "{'kind':'Node','metadata':{'name':'n%d','resourceVersion':'%d','annotations':{%s}},"
           "'spec':{'providerID':'%s'},'status':{'allocatable':{'cpu':'4','memory':'8Gi','pods':'110'}}}",
           i, i + 1, annotations, fx->pids[i]);
  apply(fx, STV_CACHE_NODES, STV_WATCH_ADDED, text);
  fx->inst[fx->ninst].provider_id = fx->pids[i];
  fx->inst[fx->ninst].group_id = "g";
  fx->inst[fx->ninst].state = STV_INSTANCE_RUNNING;
  fx->ninst++;
  snprintf(text, sizeof(text), "n%d", i);
  stv_disrupt_node_registered(fx->d, text);
}

/* A pod on node n<node>; ds: a DaemonSet's. */
static void add_pod(struct fx *fx, const char *name, int node, int ds, int grace) {
  char text[700];
  snprintf(
      text, sizeof(text),
      "{'kind':'Pod','metadata':{'name':'%s','namespace':'default','resourceVersion':'1',"
      "'ownerReferences':[{'kind':'%s','name':'o','uid':'u','controller':true}]},"
      "'spec':{'nodeName':'n%d','terminationGracePeriodSeconds':%d,"
      "'containers':[{'name':'c','resources':{'requests':{'cpu':'100m'}}}]},'status':{'phase':'Running'}}",
      name, ds ? "DaemonSet" : "ReplicaSet", node, grace);
  apply(fx, STV_CACHE_PODS, STV_WATCH_ADDED, text);
}

static void remove_obj(struct fx *fx, enum stv_cache_kind kind, const char *name) {
  char text[300];
  snprintf(text, sizeof(text), "{'kind':'%s','metadata':{'name':'%s'%s}}",
           kind == STV_CACHE_PODS ? "Pod" : "Node", name,
           kind == STV_CACHE_PODS ? ",'namespace':'default'" : "");
  apply(fx, kind, STV_WATCH_DELETED, text);
}

static int has_node(struct fx *fx, const char *name) {
  return stv_snapshot_find_node(stv_cache_store(fx->cache), name) >= 0;
}

/* ---- the answers, on the next tick --------------------------------------- */

static void answer_cb(struct stv_timer *t) {
  struct answer *a = t->data;
  struct fx *fx = a->fx;
  if (a->kind == 0) {
    struct stv_disrupt_result r = {a->code, a->code ? "refused by the fake" : "", 0};
    if (a->code == 0 && strncmp(a->what, "evict ", 6) == 0 && !fx->keep_evicted_pods)
      remove_obj(fx, STV_CACHE_PODS, strchr(a->what, '/') + 1);
    if (a->code == 0 && strncmp(a->what, "delete ", 7) == 0) remove_obj(fx, STV_CACHE_NODES, a->what + 7);
    a->kcb(a->ctx, &r);
  } else if (a->kind == 1) {
    struct stv_cloud_result r = {0, "", 0};
    a->gcb(a->ctx, &r, &fx->group, 1);
  } else if (a->kind == 2) {
    struct stv_cloud_result r = {0, "", 0};
    a->icb(a->ctx, &r, fx->inst, fx->ninst);
  } else {
    struct stv_cloud_result r = {a->code, a->code ? "refused by the fake" : "", 0};
    a->ccb(a->ctx, &r);
  }
}

static struct answer *answer_new(struct fx *fx, int kind, void *ctx) {
  struct answer *a = &fx->answers[fx->nanswers++];
  memset(a, 0, sizeof(*a));
  a->fx = fx;
  a->kind = kind;
  a->ctx = ctx;
  stv_clock_start(&fx->vc.clock, &a->t, 0.001, answer_cb, a);
  return a;
}

static int k_taint(void *impl, const char *node, int add, stv_disrupt_done_cb cb, void *ctx) {
  struct fx *fx = impl;
  struct answer *a = answer_new(fx, 0, ctx);
  a->kcb = cb;
  snprintf(a->what, sizeof(a->what), "%s %s", add ? "taint" : "untaint", node);
  if (add)
    fx->taints++;
  else
    fx->untaints++;
  return 0;
}

static int k_evict(void *impl, const char *ns, const char *name, stv_disrupt_done_cb cb, void *ctx) {
  struct fx *fx = impl;
  struct answer *a = answer_new(fx, 0, ctx);
  a->kcb = cb;
  a->code = fx->evict_code;
  snprintf(a->what, sizeof(a->what), "evict %s/%s", ns, name);
  fx->evictions++;
  return 0;
}

static int k_delete_node(void *impl, const char *node, stv_disrupt_done_cb cb, void *ctx) {
  struct fx *fx = impl;
  struct answer *a = answer_new(fx, 0, ctx);
  a->kcb = cb;
  snprintf(a->what, sizeof(a->what), "delete %s", node);
  fx->node_deletes++;
  return 0;
}

static const struct stv_disrupt_kube_ops kube_ops = {k_taint, k_evict, k_delete_node};

static int c_groups(struct stv_cloud *c, stv_cloud_groups_cb cb, void *ctx) {
  answer_new(c->impl, 1, ctx)->gcb = cb;
  return 0;
}

static int c_instances(struct stv_cloud *c, stv_cloud_instances_cb cb, void *ctx) {
  answer_new(c->impl, 2, ctx)->icb = cb;
  return 0;
}

static int c_delete(struct stv_cloud *c, const char *group, const char *const *ids, size_t n,
                    stv_cloud_done_cb cb, void *ctx) {
  struct fx *fx = c->impl;
  size_t i, k;
  (void)group;
  for (k = 0; k < n; k++)
    for (i = 0; i < fx->ninst; i++)
      if (strcmp(fx->inst[i].provider_id, ids[k]) == 0) fx->inst[i] = fx->inst[--fx->ninst];
  fx->group.desired -= (int64_t)n;
  fx->instance_deletes++;
  answer_new(fx, 3, ctx)->ccb = cb;
  return 0;
}

static const struct stv_cloud_ops cloud_ops = {
    .name = "fake", .list_groups = c_groups, .list_instances = c_instances, .delete_instances = c_delete};

static const struct stv_snapshot *v_store(void *ctx) {
  struct fx *fx = ctx;
  return stv_cache_store(fx->cache);
}

static const char *v_pid(void *ctx, size_t i) {
  struct fx *fx = ctx;
  return stv_cache_node_provider_id(fx->cache, i);
}

static void sink_create(void *sink, const struct stv_event *ev) {
  struct fx *fx = sink;
  size_t len = strlen(fx->reasons);
  snprintf(fx->reasons + len, sizeof(fx->reasons) - len, "%s%s:%s", len ? " " : "", ev->reason, ev->obj.name);
}

static void sink_update(void *sink, const struct stv_event *ev) {
  (void)sink;
  (void)ev;
}

static const struct stv_event_sink_ops sink_ops = {sink_create, sink_update};

static int fx_init(struct fx *fx, struct stv_disrupt_opts *o, int64_t min, int64_t desired) {
  struct stv_disrupt_view v = {v_store, v_pid, NULL, fx};
  struct stv_events_config ec;
  struct stv_err err = {0, ""};
  memset(fx, 0, sizeof(*fx));
  stv_vclock_init(&fx->vc, 0);
  fx->cloud.ops = &cloud_ops;
  fx->cloud.impl = fx;
  fx->cloud.clock = &fx->vc.clock;
  fx->group.id = "g";
  fx->group.min = min;
  fx->group.max = 100;
  fx->group.desired = desired;
  stv_events_config_default(&ec);
  ec.sink_ops = &sink_ops;
  ec.sink = fx;
  if (stv_cache_new(&fx->cache, NULL) != 0 || stv_events_new(&fx->events, &fx->vc.clock, &ec, &err) != 0)
    return -1;
  if (stv_disrupt_new(&fx->d, o, &fx->vc.clock, &fx->cloud, &kube_ops, fx, &v, fx->events, &err) != 0) {
    fprintf(stderr, "  %s\n", err.msg);
    return -1;
  }
  return stv_disrupt_start(fx->d);
}

static void fx_close(struct fx *fx) {
  stv_disrupt_free(fx->d);
  stv_events_free(fx->events);
  stv_cache_free(fx->cache);
  stv_vclock_close(&fx->vc);
}

static void run_until(struct fx *fx, double t) {
  stv_vclock_run_until(&fx->vc, t);
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                  */

TEST(should_remove_an_empty_node_after_the_window_and_delete_its_node_object_when_the_provider_does_not) {
  struct stv_disrupt_opts o;
  struct stv_disrupt_stats st;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  add_node(&fx, 0, "");
  add_pod(&fx, "agent", 0, 1, 30); /* a DaemonSet pod: the node is empty all the same */
  run_until(&fx, 29);
  CHECK_EQ_INT(fx.taints, 0);
  run_until(&fx, 40);
  CHECK_EQ_INT(fx.taints, 1);
  CHECK_EQ_INT(fx.evictions, 0);
  CHECK_EQ_INT(fx.instance_deletes, 1);
  CHECK(fx.group.desired == 0);
  CHECK_EQ_INT(fx.node_deletes, 0); /* node_gone_wait (30 s) not over */
  run_until(&fx, 80);
  CHECK_EQ_INT(fx.node_deletes, 1);
  CHECK(!has_node(&fx, "n0"));
  stv_disrupt_get_stats(fx.d, &st);
  CHECK(st.nodes_drained == 1 && st.nodes_deleted == 1 && st.draining == 0);
  CHECK(strstr(fx.reasons, "DisruptionTerminating:n0") != NULL);
  CHECK(strstr(fx.reasons, "DisruptionTerminated:n0") != NULL);
  fx_close(&fx);
}

TEST(should_reset_the_window_when_a_workload_pod_comes_back) {
  struct stv_disrupt_opts o;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  add_node(&fx, 0, "");
  run_until(&fx, 20);
  add_pod(&fx, "web", 0, 0, 30);
  run_until(&fx, 25);
  remove_obj(&fx, STV_CACHE_PODS, "web");
  run_until(&fx, 50); /* empty again since 25: not 30 s yet */
  CHECK_EQ_INT(fx.taints, 0);
  run_until(&fx, 65);
  CHECK_EQ_INT(fx.taints, 1);
  fx_close(&fx);
}

TEST(should_evict_the_pods_of_a_drained_node_and_wait_for_them_to_go) {
  struct stv_disrupt_opts o;
  struct stv_disrupt_stats st;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  o.emptiness = 0;
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  add_node(&fx, 0, "");
  add_pod(&fx, "web-0", 0, 0, 30);
  add_pod(&fx, "web-1", 0, 0, 30);
  add_pod(&fx, "agent", 0, 1, 30);
  CHECK_EQ_INT(stv_disrupt_drain(fx.d, "n0", "test"), 0);
  CHECK_EQ_INT(stv_disrupt_drain(fx.d, "n0", "test"), STV_ECONFLICT);
  CHECK_EQ_INT(stv_disrupt_drain(fx.d, "n9", "test"), STV_ENOTFOUND);
  run_until(&fx, 5);
  CHECK_EQ_INT(fx.evictions, 2); /* the DaemonSet pod stays */
  CHECK_EQ_INT(fx.instance_deletes, 1);
  stv_disrupt_get_stats(fx.d, &st);
  CHECK(st.evictions == 2 && st.evictions_refused == 0);
  CHECK(strstr(fx.reasons, "Evicted:web-0") != NULL && strstr(fx.reasons, "Evicted:web-1") != NULL);
  fx_close(&fx);
}

TEST(should_delete_the_instance_once_evicted_pods_outlive_their_grace_period) {
  struct stv_disrupt_opts o;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  o.emptiness = 0;
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  fx.keep_evicted_pods = 1;
  add_node(&fx, 0, "");
  add_pod(&fx, "slow", 0, 0, 60);
  CHECK_EQ_INT(stv_disrupt_drain(fx.d, "n0", "test"), 0);
  run_until(&fx, 70); /* evicted at about 1 s: 60 s of grace and 15 s of margin are not over */
  CHECK_EQ_INT(fx.evictions, 1);
  CHECK_EQ_INT(fx.instance_deletes, 0);
  run_until(&fx, 80);
  CHECK_EQ_INT(fx.instance_deletes, 1);
  fx_close(&fx);
}

TEST(should_retry_a_refused_eviction_with_backoff_and_undo_the_drain_at_the_timeout) {
  struct stv_disrupt_opts o;
  struct stv_disrupt_stats st;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  o.emptiness = 0;
  o.drain_timeout = 20;
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  fx.evict_code = STV_ETHROTTLED;
  add_node(&fx, 0, "");
  add_pod(&fx, "db", 0, 0, 30);
  CHECK_EQ_INT(stv_disrupt_drain(fx.d, "n0", "test"), 0);
  run_until(&fx, 30);
  stv_disrupt_get_stats(fx.d, &st);
  /* Tries at about 1, 2, 4, 8 and 16 s (the delay doubles from 1 s): 5 refusals, then the timeout. */
  CHECK(st.evictions_refused >= 4 && st.evictions_refused <= 6);
  CHECK_EQ_INT(fx.untaints, 1);
  CHECK_EQ_INT(fx.instance_deletes, 0);
  CHECK(st.drain_failures == 1 && st.draining == 0);
  CHECK(strstr(fx.reasons, "DisruptionBlocked:db") != NULL);
  CHECK(strstr(fx.reasons, "FailedDraining:n0") != NULL);
  fx_close(&fx);
}

TEST(should_keep_groups_at_their_minimum_and_pools_within_their_budget) {
  struct stv_disrupt_opts o;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  o.node_gone_wait = 0;
  CHECK_EQ_INT(fx_init(&fx, &o, 1, 3), 0);
  add_node(&fx, 0, "");
  add_node(&fx, 1, "");
  add_node(&fx, 2, "");
  run_until(&fx, 32);
  CHECK_EQ_INT(fx.taints, 1); /* 10 % of 3 nodes: at least 1 at once */
  run_until(&fx, 200);
  CHECK_EQ_INT(fx.instance_deletes, 2); /* the third would go below the group's minimum of 1 */
  CHECK(fx.group.desired == 1);
  CHECK(strstr(fx.reasons, "DisruptionBlocked:") != NULL);
  fx_close(&fx);
}

TEST(should_keep_a_node_with_a_do_not_disrupt_annotation) {
  struct stv_disrupt_opts o;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  add_node(&fx, 0, "'stevedore.io/do-not-disrupt':'true'");
  run_until(&fx, 100);
  CHECK_EQ_INT(fx.taints, 0);
  CHECK(strstr(fx.reasons, "DisruptionBlocked:n0") != NULL);
  fx_close(&fx);
}

TEST(should_change_nothing_in_a_dry_run) {
  struct stv_disrupt_opts o;
  struct stv_disrupt_stats st;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  o.dry_run = 1;
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  add_node(&fx, 0, "");
  run_until(&fx, 100);
  CHECK(fx.taints == 0 && fx.instance_deletes == 0 && fx.node_deletes == 0);
  stv_disrupt_get_stats(fx.d, &st);
  CHECK(st.would_remove == 1);
  CHECK(strstr(fx.reasons, "DisruptionDryRun:n0") != NULL);
  add_node(&fx, 1, "");
  add_pod(&fx, "web", 1, 0, 30);
  CHECK_EQ_INT(stv_disrupt_drain(fx.d, "n1", "test"), 0);
  run_until(&fx, 120);
  CHECK(fx.taints == 0 && fx.evictions == 0 && fx.instance_deletes == 0);
  stv_disrupt_get_stats(fx.d, &st);
  CHECK(st.would_remove == 2 && st.drains_started == 0);
  fx_close(&fx);
}

TEST(should_remove_the_taint_an_earlier_leader_left) {
  struct stv_disrupt_opts o;
  struct fx fx;
  stv_disrupt_opts_default(&o);
  o.emptiness = 0;
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  apply(&fx, STV_CACHE_NODES, STV_WATCH_ADDED,
        "{'kind':'Node','metadata':{'name':'n5','resourceVersion':'9'},'spec':{'providerID':'fake:///z/5',"
        "'taints':[{'key':'stevedore.io/disrupted','effect':'NoSchedule'}]},"
        "'status':{'allocatable':{'cpu':'4','memory':'8Gi','pods':'110'}}}");
  run_until(&fx, 5);
  CHECK_EQ_INT(fx.untaints, 1);
  CHECK(fx.taints == 0 && fx.evictions == 0 && fx.instance_deletes == 0);
  CHECK_EQ_INT(stv_disrupt_busy(fx.d), 0);
  fx_close(&fx);
}

TEST(should_forget_deleted_nodes_and_keep_counting_the_live_ones) {
  struct stv_disrupt_opts o;
  struct fx fx;
  char name[32];
  int i;
  stv_disrupt_opts_default(&o);
  CHECK_EQ_INT(fx_init(&fx, &o, 0, 1), 0);
  add_node(&fx, 0, "");
  add_pod(&fx, "web", 0, 0, 30);
  run_until(&fx, 20);
  for (i = 0; i < 500; i++) { /* churn: many node names come and go */
    snprintf(name, sizeof(name), "gone-%d", i);
    stv_disrupt_node_registered(fx.d, name);
    stv_disrupt_node_deleted(fx.d, name);
  }
  remove_obj(&fx, STV_CACHE_PODS, "web");
  run_until(&fx, 45); /* n0 kept its registration time (0) and is empty since 21: not 30 s yet */
  CHECK_EQ_INT(fx.taints, 0);
  run_until(&fx, 60);
  CHECK_EQ_INT(fx.taints, 1);
  fx_close(&fx);
}

TEST(should_count_budgets_as_nodes_or_percentages) {
  struct stv_disrupt_budget b = {-1, 10};
  CHECK(stv_disrupt_budget_allowed(&b, 3) == 1);
  CHECK(stv_disrupt_budget_allowed(&b, 25) == 2);
  b.percent = 0;
  CHECK(stv_disrupt_budget_allowed(&b, 25) == 0);
  b.nodes = 3;
  CHECK(stv_disrupt_budget_allowed(&b, 1) == 3);
}
