/*
 * The provisioning reconciler: batches the pods kube-scheduler could not
 * place, solves them against the free room of registered nodes plus the
 * nodes in flight (and headroom's virtual pods), cuts the plan to the
 * limits, and raises the desired size of the provider's groups. Nodes in
 * flight are given up after the max provision time, and failing groups
 * are backed off (5 min doubling to 30 min, as Cluster Autoscaler). See
 * docs/controller.md.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "loop.h"

#define GPU_RESOURCE   "nvidia.com/gpu"
#define THROTTLE_MAX_S 60.0
#define HEADROOM_EVERY 60.0

/* What the reconciler knows of a provider id's node. */
enum { REG_NONE = 0, REG_REGISTERED = 1, REG_LEAVING = 2 };

struct offer {
  char *type, *zone;
  enum stv_capacity_type ct;
};

struct group {
  struct stv_provision *p;
  char *id, *pool;
  struct offer *off;
  size_t noff;
  int64_t min, max;
  int64_t desired; /* what the provider last accepted */
  int64_t target;  /* what we want it to be */
  int64_t asked;   /* the value of the call in flight */
  int busy;        /* a set_desired call is in flight */
  int retrying;    /* the retry timer runs */
  double backoff_until, backoff_s, throttle_s;
  int64_t registered; /* registered nodes of this group that are not leaving */
  struct stv_timer retry;
};

/* A node asked for and not registered yet. */
struct inflight {
  uint32_t group, offer;
  double since;      /* clock seconds when it was asked for (or launched) */
  char *provider_id; /* once the provider reported it; owned */
};

/*
 * The node templates of the catalogue, the capacity types and the pools,
 * which are fixed for the reconciler's life: built once, with their own
 * strings, and kept while each decision's snapshot has the resource names
 * and zone labels they were built for (stv_templates_fit). The reconciler
 * holds one reference and each solve that offers them one, so that a
 * rebuild never pulls them from under a solve.
 */
struct tmpl_set {
  struct stv_templates t;
  int refs;
};

/* One solve and what it borrows, alive from the end of a batch to the plan's application. */
struct solve {
  struct stv_provision *p;
  struct stv_solve_job job;
  struct stv_snapshot snap;
  struct tmpl_set *ts;      /* a reference, or NULL */
  struct stv_template *use; /* the templates offered to the solver */
  uint32_t *use_group, *use_offer;
  size_t nuse;
  size_t nreal;         /* snap.nodes[0..nreal) registered; the rest in flight */
  uint32_t *node_group; /* per node in flight: its group */
  const char *why;      /* NULL: a batch of unschedulable pods; else why it was asked for */
  double wall_start;    /* when the batch ended, wall seconds */
  const struct stv_catalog *cat; /* the catalogue the problem borrows (its currency) */
};

struct pending_set {
  struct stv_strpool pool;
  struct stv_strmap map; /* "ns/name" -> 1 known pending, 0 gone */
  size_t live;
};

struct stv_provision {
  struct stv_provision_opts o;
  struct stv_clock *clock;
  struct stv_cloud *cloud;
  const struct stv_catalog *cat;
  struct stv_cluster_view view;
  struct stv_solve_runner *runner;
  struct group *groups;
  size_t ngroups;
  struct stv_strpool group_pool;
  struct stv_strmap group_ids;    /* group id -> index */
  struct stv_strmap group_offers; /* "type|zone|ct|pool" -> index of the first group offering it */
  struct inflight *inf;
  size_t ninf, cap_inf;
  struct pending_set known;
  struct stv_strpool reg_pool;
  struct stv_strmap registered; /* provider id -> REG_* */
  struct stv_strmap inst_group; /* provider id -> group index + 1, from the provider's events and listing */
  int started, have_groups, batch_open, again, poked, refreshing;
  /* groups_stale: something may have changed the groups since groups_listed_at (clock s) listed them. */
  int groups_stale;
  double groups_listed_at;
  double wall_start;    /* wall seconds when the last batch ended */
  const char *poke_why; /* static text: why the pending poke asked for a solve */
  const char *next_why; /* why the next solve runs: NULL for a batch, else a poke's reason */
  struct solve *solving;
  struct tmpl_set *tmpl; /* the templates of the last decision (a reference), or NULL */
  struct stv_timer idle, max, house, poke, restart;
  double start_retry_s; /* the delay before listing again after a failed start */
  double last_solve_at;
  struct stv_pending_reason *reasons;
  size_t nreasons;
  struct stv_provision_stats st;
  /* stv_provision_set_catalog: a catalogue replaced while a solve still borrows it, and who frees it. */
  const struct stv_catalog *retired;
  stv_provision_release_fn release;
  void *release_ctx;
};

/* ---------------------------------------------------------------------- */
/* Small things                                                           */

void stv_provision_opts_default(struct stv_provision_opts *o) {
  memset(o, 0, sizeof(*o));
  o->batch_idle = 1;
  o->batch_max = 10;
  o->decision_budget = 1;
  o->max_provision = 900;
  o->backoff_initial = 300;
  o->backoff_max = 1800;
  o->throttle_retry = 1;
  o->housekeeping = 10;
  o->group_refresh = 60;
  o->policy = STV_POLICY_STEVEDORE;
  o->capacity_types = (1u << STV_CT_RESERVED) | (1u << STV_CT_SPOT) | (1u << STV_CT_ON_DEMAND);
  stv_limits_none(&o->cluster);
  stv_spot_policy_default(&o->spot);
}

static void decide(struct stv_provision *p, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void decide(struct stv_provision *p, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stv_decision_vemit(p->o.on_decision, p->o.decision_ctx, stv_clock_now(p->clock), kind, fmt, ap);
  va_end(ap);
}

static void pending_set_init(struct pending_set *s) {
  stv_strpool_init(&s->pool);
  memset(&s->map, 0, sizeof(s->map));
  s->live = 0;
}

static void pending_set_close(struct pending_set *s) {
  stv_strmap_close(&s->map);
  stv_strpool_close(&s->pool);
}

/* Sets key's mark to v; returns 1 when the mark changed from 0 (or absent) to 1, -1 on ENOMEM. */
static int mark(struct stv_strpool *pool, struct stv_strmap *map, size_t *live, const char *key, uint32_t v) {
  struct stv_strmap_ent *e = stv_strmap_find(map, key, strlen(key));
  int added;
  if (e == NULL) {
    if (v == 0) return 0;
    if (stv_strmap_upsert(map, pool, key, strlen(key), 1, &e, &added) != 0) return -1;
    if (live) (*live)++;
    return 1;
  }
  if (e->val == v) return 0;
  e->val = v;
  if (live) *live = v ? *live + 1 : *live - 1;
  return v ? 1 : 0;
}

/* Rebuilds s without the keys marked gone, when they outnumber the live ones. */
static int pending_set_compact(struct pending_set *s) {
  struct pending_set fresh;
  struct stv_strmap_ent *e;
  size_t i;
  int added;
  if (s->map.len < 4 * s->live + 4096) return 0;
  pending_set_init(&fresh);
  for (i = 0; i < s->map.cap; i++) {
    if (s->map.e[i].key == NULL || s->map.e[i].val == 0) continue;
    if (stv_strmap_upsert(&fresh.map, &fresh.pool, s->map.e[i].key, s->map.e[i].len, 1, &e, &added) != 0) {
      pending_set_close(&fresh);
      return STV_ENOMEM;
    }
    fresh.live++;
  }
  pending_set_close(s);
  *s = fresh;
  return 0;
}

static uint32_t reg_state(const struct stv_provision *p, const char *pid) {
  const struct stv_strmap_ent *e = pid ? stv_strmap_find(&p->registered, pid, strlen(pid)) : NULL;
  return e ? e->val : REG_NONE;
}

static int set_value(struct stv_provision *p, struct stv_strmap *m, const char *key, uint32_t v) {
  struct stv_strmap_ent *e;
  int added;
  if (stv_strmap_upsert(m, &p->reg_pool, key, strlen(key), v, &e, &added) != 0) return STV_ENOMEM;
  e->val = v;
  return 0;
}

/* The group of provider id pid, or NULL when the provider never named it. */
static struct group *group_of_instance(struct stv_provision *p, const char *pid) {
  const struct stv_strmap_ent *e = pid ? stv_strmap_find(&p->inst_group, pid, strlen(pid)) : NULL;
  return e && e->val > 0 && e->val <= p->ngroups ? &p->groups[e->val - 1] : NULL;
}

static int32_t find_group(const struct stv_provision *p, const char *id) {
  const struct stv_strmap_ent *e = stv_strmap_find(&p->group_ids, id, strlen(id));
  return e ? (int32_t)e->val : -1;
}

static size_t offer_key(char *buf, size_t size, const char *type, const char *zone, enum stv_capacity_type ct,
                        const char *pool) {
  int n = snprintf(buf, size, "%s|%s|%d|%s", type, zone, (int)ct, pool ? pool : "");
  return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* The group that launches offering (type, zone, ct) for pool, or -1. */
static int32_t group_of_offer(const struct stv_provision *p, const char *type, const char *zone,
                              enum stv_capacity_type ct, const char *pool) {
  char key[400];
  size_t n = offer_key(key, sizeof(key), type, zone, ct, pool);
  const struct stv_strmap_ent *e = stv_strmap_find(&p->group_offers, key, n);
  return e ? (int32_t)e->val : -1;
}

static int in_list(const char *const *list, size_t n, const char *s) {
  size_t i;
  if (n == 0) return 1;
  for (i = 0; s != NULL && i < n; i++)
    if (strcmp(list[i], s) == 0) return 1;
  return 0;
}

static int32_t find_offer(const struct group *g, const char *type, const char *zone,
                          enum stv_capacity_type ct) {
  size_t i;
  for (i = 0; i < g->noff; i++) {
    const struct offer *o = &g->off[i];
    if (o->ct == ct && strcmp(o->type, type) == 0 && (zone == NULL || strcmp(o->zone, zone) == 0))
      return (int32_t)i;
  }
  return -1;
}

static int same_pool(const char *a, const char *b) {
  if (a == NULL || b == NULL) return a == b;
  return strcmp(a, b) == 0;
}

/* ---------------------------------------------------------------------- */
/* Nodes in flight                                                        */

static int inflight_add(struct stv_provision *p, uint32_t g, uint32_t off, double since, const char *pid) {
  struct inflight *e;
  if (stv_grow((void **)&p->inf, &p->cap_inf, p->ninf + 1, sizeof(*p->inf)) != 0) return STV_ENOMEM;
  e = &p->inf[p->ninf];
  e->group = g;
  e->offer = off;
  e->since = since;
  e->provider_id = NULL;
  if (pid != NULL && (e->provider_id = stv_strdup(pid)) == NULL) return STV_ENOMEM;
  p->ninf++;
  return 0;
}

static void inflight_remove(struct stv_provision *p, size_t i) {
  stv_free(p->inf[i].provider_id);
  memmove(&p->inf[i], &p->inf[i + 1], (p->ninf - i - 1) * sizeof(*p->inf));
  p->ninf--;
}

static ssize_t inflight_by_id(const struct stv_provision *p, const char *pid) {
  size_t i;
  for (i = 0; pid != NULL && i < p->ninf; i++)
    if (p->inf[i].provider_id != NULL && strcmp(p->inf[i].provider_id, pid) == 0) return (ssize_t)i;
  return -1;
}

/* The oldest (or newest) node in flight of group g that the provider has not named yet. */
static ssize_t inflight_unnamed(const struct stv_provision *p, uint32_t g, int newest) {
  ssize_t found = -1;
  size_t i;
  for (i = 0; i < p->ninf; i++) {
    if (p->inf[i].group != g || p->inf[i].provider_id != NULL) continue;
    found = (ssize_t)i;
    if (!newest) break;
  }
  return found;
}

/* ---------------------------------------------------------------------- */
/* Scale requests                                                         */

static void issue(struct group *g);

static void backoff(struct stv_provision *p, struct group *g, const char *why) {
  if (g->backoff_until > stv_clock_now(p->clock)) return; /* the same failure, told again */
  g->backoff_s = g->backoff_s > 0 ? g->backoff_s * 2 : p->o.backoff_initial;
  if (g->backoff_s > p->o.backoff_max) g->backoff_s = p->o.backoff_max;
  g->backoff_until = stv_clock_now(p->clock) + g->backoff_s;
  decide(p, "backoff", "group %s backed off for %.0f s: %s", g->id, g->backoff_s, why);
}

static void retry_cb(struct stv_timer *t) {
  struct group *g = t->data;
  g->retrying = 0;
  issue(g);
}

/* Drops the nodes asked for beyond what the provider accepted (newest first). */
static void drop_unaccepted(struct stv_provision *p, struct group *g, int64_t n) {
  uint32_t gi = (uint32_t)(g - p->groups);
  ssize_t i;
  while (n-- > 0 && (i = inflight_unnamed(p, gi, 1)) >= 0) inflight_remove(p, (size_t)i);
}

static void set_done(void *ctx, const struct stv_cloud_result *r) {
  struct group *g = ctx;
  struct stv_provision *p = g->p;
  double delay;
  g->busy = 0;
  if (r->code != 0) p->groups_stale = 1;
  if (r->code == 0) {
    if (g->asked > g->desired) {
      p->st.scale_ups++;
      p->st.nodes_requested += (size_t)(g->asked - g->desired);
    }
    g->desired = g->asked;
    g->throttle_s = 0;
    if (g->target != g->desired) issue(g);
    return;
  }
  if (r->code == STV_ETHROTTLED || (r->code != STV_ECAPACITY && r->code != STV_EINVAL &&
                                    r->code != STV_ELIMIT && r->code != STV_ENOTFOUND)) {
    if (r->code == STV_ETHROTTLED) p->st.throttled++;
    g->throttle_s = g->throttle_s > 0 ? fmin(g->throttle_s * 2, THROTTLE_MAX_S) : p->o.throttle_retry;
    delay = r->code == STV_ETHROTTLED && r->retry_after > 0 ? r->retry_after : g->throttle_s;
    decide(p, r->code == STV_ETHROTTLED ? "throttled" : "retry",
           "set desired size of group %s to %" PRId64 ": %s (%s); retrying in %.1f s", g->id, g->asked,
           stv_strerror(r->code), r->message, delay);
    if (stv_clock_start(p->clock, &g->retry, delay, retry_cb, g) != 0)
      decide(p, "error", "group %s: cannot start the retry timer: out of memory", g->id);
    else
      g->retrying = 1;
    return;
  }
  /* Refused for good: capacity, quota, an invalid size or a group gone. */
  if (r->code == STV_ECAPACITY) p->st.launch_failures++;
  decide(p, "launch_failed", "set desired size of group %s to %" PRId64 " refused: %s (%s)", g->id, g->asked,
         stv_strerror(r->code), r->message);
  if (g->asked > g->desired) drop_unaccepted(p, g, g->asked - g->desired);
  g->target = g->desired;
  backoff(p, g, stv_strerror(r->code));
  stv_provision_poke(p, "a scale-up was refused");
}

/* Sends the group's target to the provider when it differs from what it has and no call is in flight. */
static void issue(struct group *g) {
  struct stv_provision *p = g->p;
  struct stv_cloud_result r;
  int rc;
  if (g->busy || g->retrying || g->target == g->desired) return;
  g->asked = g->target;
  g->busy = 1;
  rc = p->cloud->ops->set_desired(p->cloud, g->id, g->asked, set_done, g);
  if (rc != 0) {
    r.code = rc;
    r.message = "the call could not start";
    r.retry_after = 0;
    set_done(g, &r);
  }
}

/* ---------------------------------------------------------------------- */
/* Batches                                                                */

static void start_solve(struct stv_provision *p);

/* Ends the batch (why NULL) or answers a poke: solves now, or after the solve that runs. */
static void end_batch(struct stv_provision *p, const char *why) {
  stv_clock_stop(p->clock, &p->idle);
  stv_clock_stop(p->clock, &p->max);
  stv_clock_stop(p->clock, &p->poke);
  p->poked = 0;
  p->batch_open = 0;
  p->next_why = why;
  if (!p->started) return;
  if (p->solving || p->refreshing) {
    p->again = 1;
    return;
  }
  start_solve(p);
}

static void batch_timer_cb(struct stv_timer *t) {
  end_batch(t->data, NULL);
}

void stv_provision_pod_unschedulable(struct stv_provision *p, const char *ns, const char *name) {
  char key[512];
  int rc;
  snprintf(key, sizeof(key), "%s/%s", ns, name);
  rc = mark(&p->known.pool, &p->known.map, &p->known.live, key, 1);
  if (rc < 0) {
    decide(p, "error", "pod %s: out of memory noting it as unschedulable", key);
    return;
  }
  if (rc == 0) return; /* in this batch or a solve already; the scheduler says it again */
  if (!p->batch_open) {
    p->batch_open = 1;
    p->st.batches++;
    if (stv_clock_start(p->clock, &p->max, p->o.batch_max, batch_timer_cb, p) != 0) goto nomem;
  }
  if (stv_clock_start(p->clock, &p->idle, p->o.batch_idle, batch_timer_cb, p) != 0) goto nomem;
  return;
nomem:
  decide(p, "error", "out of memory starting the batch timers; solving now");
  end_batch(p, NULL);
}

void stv_provision_pod_gone(struct stv_provision *p, const char *ns, const char *name) {
  char key[512];
  snprintf(key, sizeof(key), "%s/%s", ns, name);
  mark(&p->known.pool, &p->known.map, &p->known.live, key, 0);
}

static void poke_cb(struct stv_timer *t) {
  struct stv_provision *p = t->data;
  p->poked = 0;
  if (!p->batch_open) end_batch(p, p->poke_why);
}

void stv_provision_poke(struct stv_provision *p, const char *why) {
  if (!p->started || p->batch_open || p->poked) return;
  if (stv_clock_start(p->clock, &p->poke, 0, poke_cb, p) != 0) {
    decide(p, "error", "out of memory asking for a solve (%s)", why);
    return;
  }
  p->poked = 1;
  p->poke_why = why;
}

/* ---------------------------------------------------------------------- */
/* Building the problem                                                   */

static void tmpl_unref(struct tmpl_set *ts) {
  if (ts == NULL || --ts->refs > 0) return;
  stv_templates_close(&ts->t);
  stv_free(ts);
}

/* The templates for snap: the last decision's when they fit it, else built again. */
static int templates_for(struct stv_provision *p, const struct stv_snapshot *snap, struct stv_err *err) {
  struct tmpl_set *ts;
  int rc;
  if (p->tmpl != NULL && stv_templates_fit(&p->tmpl->t, snap)) return 0;
  tmpl_unref(p->tmpl);
  p->tmpl = NULL;
  if ((ts = stv_calloc(1, sizeof(*ts))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if ((rc = stv_templates_build_owned(&ts->t, p->cat, snap, p->o.capacity_types, p->o.pools, p->o.npools,
                                      err)) != 0) {
    stv_free(ts);
    return rc;
  }
  stv_templates_default_node_cost(&ts->t, p->o.pools, p->o.npools, p->o.node_cost);
  ts->refs = 1;
  p->tmpl = ts;
  p->st.template_builds++;
  return 0;
}

static void solve_free(struct solve *s) {
  if (s == NULL) return;
  stv_clock_stop(s->p->clock, &s->job.timer);
  stv_plan_close(&s->job.plan);
  tmpl_unref(s->ts);
  stv_snapshot_close(&s->snap);
  stv_free(s->use);
  stv_free(s->use_group);
  stv_free(s->use_offer);
  stv_free(s->node_group);
  stv_free(s);
}

static int32_t template_of(const struct solve *s, const struct group *g, uint32_t off) {
  size_t i;
  for (i = 0; i < s->ts->t.n; i++) {
    const struct stv_template *t = &s->ts->t.v[i];
    if (t->capacity_type == g->off[off].ct && strcmp(t->instance_type, g->off[off].type) == 0 &&
        strcmp(t->zone, g->off[off].zone) == 0 && same_pool(t->pool, g->pool))
      return (int32_t)i;
  }
  return -1;
}

/* Offers each template that a group can launch, is not backed off and is below its maximum. */
static int choose_templates(struct stv_provision *p, struct solve *s) {
  double now = stv_clock_now(p->clock);
  size_t i;
  s->use = stv_calloc(s->ts->t.n + 1, sizeof(*s->use));
  s->use_group = stv_calloc(s->ts->t.n + 1, sizeof(*s->use_group));
  s->use_offer = stv_calloc(s->ts->t.n + 1, sizeof(*s->use_offer));
  if (s->use == NULL || s->use_group == NULL || s->use_offer == NULL) return STV_ENOMEM;
  for (i = 0; i < s->ts->t.n; i++) {
    const struct stv_template *t = &s->ts->t.v[i];
    int32_t gi, off;
    struct group *g;
    if (!in_list(p->o.instance_types, p->o.ninstance_types, t->instance_type) ||
        !in_list(p->o.zones, p->o.nzones, t->zone))
      continue;
    if ((gi = group_of_offer(p, t->instance_type, t->zone, t->capacity_type, t->pool)) < 0) continue;
    g = &p->groups[gi];
    if (g->backoff_until > now || g->target >= g->max) continue;
    if ((off = find_offer(g, t->instance_type, t->zone, t->capacity_type)) < 0) continue;
    s->use[s->nuse] = *t;
    s->use_group[s->nuse] = (uint32_t)gi;
    s->use_offer[s->nuse] = (uint32_t)off;
    s->nuse++;
  }
  return 0;
}

/* Adds the nodes in flight to the snapshot as empty nodes of their offering's shape. */
static int add_inflight_nodes(struct stv_provision *p, struct solve *s, struct stv_err *err) {
  size_t i;
  int rc;
  s->node_group = stv_calloc(p->ninf + 1, sizeof(*s->node_group));
  if (s->node_group == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (i = 0; i < p->ninf; i++) {
    const struct inflight *e = &p->inf[i];
    const struct group *g = &p->groups[e->group];
    int32_t ti = template_of(s, g, e->offer);
    struct stv_node n;
    char name[64];
    if (ti < 0) {
      decide(p, "error",
             "group %s: offering %s in %s (%s) is not in the catalogue; its node in flight is not counted",
             g->id, g->off[e->offer].type, g->off[e->offer].zone,
             stv_capacity_type_name(g->off[e->offer].ct));
      continue;
    }
    memset(&n, 0, sizeof(n));
    snprintf(name, sizeof(name), "in-flight-%zu", i + 1);
    n.name = stv_strpool_get(&s->snap.pool, name);
    n.labels = s->ts->t.v[ti].labels;
    n.ntaints = s->ts->t.v[ti].ntaints;
    n.taints = s->ts->t.v[ti].taints;
    memcpy(n.alloc, s->ts->t.v[ti].alloc, sizeof(n.alloc));
    n.instance_type = s->ts->t.v[ti].instance_type;
    n.zone = s->ts->t.v[ti].zone;
    n.capacity_type = stv_capacity_type_name(s->ts->t.v[ti].capacity_type);
    if (n.name == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
    if ((rc = stv_snapshot_add_node(&s->snap, &n)) != 0)
      return stv_err_set(err, rc, "adding node %s in flight: %s", name, stv_strerror(rc));
    s->node_group[s->snap.nnodes - 1 - s->nreal] = e->group;
  }
  return 0;
}

static size_t planned_pending(const struct stv_snapshot *s) {
  size_t i, n = 0;
  for (i = 0; i < s->npods; i++)
    if (s->pods[i].node < 0 && s->pods[i].phase == STV_PHASE_PENDING &&
        s->pods[i].not_planned == STV_NP_NONE && !(s->pods[i].flags & STV_POD_NODE_MISSING))
      n++;
  return n;
}

static int build(struct stv_provision *p, struct solve *s, struct stv_err *err) {
  const char **ids = NULL;
  struct stv_headroom hr;
  int rc;
  if ((rc = p->view.snapshot(p->view.ctx, &s->snap, &ids, err)) != 0) return rc;
  s->nreal = s->snap.nnodes;
  if ((rc = templates_for(p, &s->snap, err)) != 0) return rc;
  s->ts = p->tmpl;
  s->ts->refs++;
  if ((rc = choose_templates(p, s)) != 0) return stv_err_set(err, rc, "out of memory");
  if ((rc = add_inflight_nodes(p, s, err)) != 0) return rc;
  if ((rc = stv_headroom_add(&s->snap, p->o.headroom, p->o.nheadroom, p->o.headroom_percent, &hr, err)) != 0)
    return rc;
  if ((rc = stv_snapshot_finish(&s->snap, err)) != 0) return rc;
  s->job.problem.snap = &s->snap;
  s->job.problem.tmpl = s->use;
  s->job.problem.ntmpl = s->nuse;
  s->job.problem.currency = p->cat->currency;
  s->cat = p->cat;
  s->job.problem.time_limit = p->o.decision_budget;
  s->job.problem.clock = stv_monotonic_seconds;
  s->job.problem.spot = p->o.spot;
  s->job.problem.gap_tolerance = p->o.gap_tolerance;
  s->job.policy = p->o.policy;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Limits                                                                 */

struct usage {
  int64_t cpu, memory, gpu, nodes;
  double cost;
};

struct shape {
  int64_t cpu, memory, gpu;
  double price;
  const char *pool;
};

/* The scopes a node counts against: the cluster (0) and its pool's limits (1 + index), -1 ends. */
static int scopes(const struct stv_provision *p, const char *pool, int out[2]) {
  size_t i;
  int n = 0;
  out[n++] = 0;
  for (i = 0; pool != NULL && i < p->o.npool_limits; i++) {
    if (strcmp(p->o.pool_limits[i].pool, pool) == 0) {
      out[n++] = (int)(1 + i);
      break;
    }
  }
  return n;
}

static const struct stv_limits *scope_limits(const struct stv_provision *p, int scope) {
  return scope == 0 ? &p->o.cluster : &p->o.pool_limits[scope - 1].limits;
}

static void usage_add(struct usage *u, const struct shape *sh) {
  u->cpu += sh->cpu;
  u->memory += sh->memory;
  u->gpu += sh->gpu;
  u->nodes += 1;
  u->cost += sh->price;
}

/* Writes why adding sh to u crosses l into why, or returns 0 when it does not. */
static int crosses(const struct stv_limits *l, const struct usage *u, const struct shape *sh,
                   const char *scope, const char *currency, char *why, size_t size) {
  if (l->nodes >= 0 && u->nodes + 1 > l->nodes)
    return snprintf(why, size, "the %s limit of %" PRId64 " nodes would be crossed", scope, l->nodes), 1;
  if (l->cpu >= 0 && u->cpu + sh->cpu > l->cpu)
    return snprintf(why, size, "the %s cpu limit of %" PRId64 "m would be crossed (%" PRId64 "m held)", scope,
                    l->cpu, u->cpu),
           1;
  if (l->memory >= 0 && u->memory + sh->memory > l->memory)
    return snprintf(why, size, "the %s memory limit of %" PRId64 " bytes would be crossed (%" PRId64 " held)",
                    scope, l->memory, u->memory),
           1;
  if (l->gpu >= 0 && u->gpu + sh->gpu > l->gpu)
    return snprintf(why, size, "the %s GPU limit of %" PRId64 " would be crossed (%" PRId64 " held)", scope,
                    l->gpu, u->gpu),
           1;
  if (l->cost_per_hour >= 0 && u->cost + sh->price > l->cost_per_hour + 1e-9)
    return snprintf(why, size,
                    "the %s budget of %.4f %s/h would be crossed (%.4f %s/h held, the node costs %.4f)",
                    scope, l->cost_per_hour, currency, u->cost, currency, sh->price),
           1;
  return 0;
}

static int64_t type_gpu(const struct stv_catalog *cat, const char *type) {
  const struct stv_instance_type *it = type ? stv_catalog_find(cat, type) : NULL;
  return it ? stv_resource_get(it->allocatable, it->nres, GPU_RESOURCE) : 0;
}

static void shape_of_template(const struct stv_provision *p, const struct stv_template *t, struct shape *sh) {
  sh->cpu = t->alloc[STV_RES_CPU];
  sh->memory = t->alloc[STV_RES_MEMORY];
  sh->gpu = type_gpu(p->cat, t->instance_type);
  sh->price = t->price;
  sh->pool = t->pool;
}

static void shape_of_node(const struct stv_provision *p, const struct stv_node *n, struct shape *sh) {
  enum stv_capacity_type ct = STV_CT_ON_DEMAND;
  int zone_mean;
  sh->cpu = n->alloc[STV_RES_CPU];
  sh->memory = n->alloc[STV_RES_MEMORY];
  sh->gpu = type_gpu(p->cat, n->instance_type);
  sh->price = 0;
  if (n->capacity_type) stv_capacity_type_parse(n->capacity_type, &ct);
  if (n->instance_type)
    stv_catalog_price(p->cat, n->instance_type, ct, n->zone, &sh->price, &zone_mean, NULL, 0);
  sh->pool = stv_labels_get(&n->labels, "stevedore.io/node-pool");
}

/* What the registered nodes and those in flight hold, per scope. */
static int usage_now(struct stv_provision *p, struct solve *s, struct usage *u) {
  size_t i;
  int sc[2], k, n;
  memset(u, 0, (1 + p->o.npool_limits) * sizeof(*u));
  for (i = 0; i < s->snap.nnodes; i++) {
    struct shape sh;
    shape_of_node(p, &s->snap.nodes[i], &sh);
    n = scopes(p, sh.pool, sc);
    for (k = 0; k < n; k++) usage_add(&u[sc[k]], &sh);
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Applying a plan                                                        */

static void reasons_clear(struct stv_provision *p) {
  size_t i;
  for (i = 0; i < p->nreasons; i++) {
    stv_free((void *)p->reasons[i].ns);
    stv_free((void *)p->reasons[i].name);
    stv_free((void *)p->reasons[i].reason);
  }
  stv_free(p->reasons);
  p->reasons = NULL;
  p->nreasons = 0;
}

static void reason_add(struct stv_provision *p, const struct stv_pod *pod, const char *why, size_t cap) {
  struct stv_pending_reason *r;
  if (pod->flags & STV_POD_HEADROOM) return;
  if (p->reasons == NULL && (p->reasons = stv_calloc(cap + 1, sizeof(*p->reasons))) == NULL) return;
  if (p->nreasons >= cap) return;
  r = &p->reasons[p->nreasons];
  r->ns = stv_strdup(pod->ns);
  r->name = stv_strdup(pod->name);
  r->reason = stv_strdup(why);
  if (r->ns == NULL || r->name == NULL || r->reason == NULL) {
    stv_free((void *)r->ns);
    stv_free((void *)r->name);
    stv_free((void *)r->reason);
    return;
  }
  p->nreasons++;
}

/* One timeline line per distinct reason, with a count and an example pod. */
static void summarise_reasons(struct stv_provision *p) {
  size_t i, j;
  for (i = 0; i < p->nreasons; i++) {
    size_t count = 0;
    for (j = 0; j < i; j++)
      if (strcmp(p->reasons[j].reason, p->reasons[i].reason) == 0) break;
    if (j < i) continue;
    for (j = i; j < p->nreasons; j++) count += strcmp(p->reasons[j].reason, p->reasons[i].reason) == 0;
    decide(p, "pending", "%zu pod%s left pending (e.g. %s/%s): %s", count, count == 1 ? "" : "s",
           p->reasons[i].ns, p->reasons[i].name, p->reasons[i].reason);
    if (i >= 20) break; /* enough lines for one solve; every pod keeps its reason */
  }
}

/* Cuts new nodes that would cross a limit or a group's maximum; counts the rest per group in add[]. */
static void cut_to_limits(struct stv_provision *p, struct solve *s, int64_t *add) {
  const struct stv_plan *plan = &s->job.plan;
  struct usage *u = stv_calloc(1 + p->o.npool_limits, sizeof(*u));
  size_t i, k, cut = 0, cut_pods = 0;
  char why[300] = "";
  if (u == NULL) {
    decide(p, "error", "out of memory checking limits; no scale-up this time");
    for (i = 0; i < plan->nnodes; i++)
      for (k = 0; k < plan->nodes[i].npods; k++)
        reason_add(p, &s->snap.pods[plan->nodes[i].pods[k]], "out of memory checking limits", s->snap.npods);
    return;
  }
  usage_now(p, s, u);
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    const struct stv_template *t;
    struct group *g;
    struct shape sh;
    int sc[2], n, j, crossed = 0;
    if (pn->existing >= 0 || pn->tmpl < 0) continue;
    t = &s->use[pn->tmpl];
    g = &p->groups[s->use_group[pn->tmpl]];
    shape_of_template(p, t, &sh);
    n = scopes(p, sh.pool, sc);
    for (j = 0; j < n && !crossed; j++)
      crossed = crosses(scope_limits(p, sc[j]), &u[sc[j]], &sh, sc[j] == 0 ? "cluster" : "node pool",
                        p->cat->currency, why, sizeof(why));
    if (!crossed && g->target + add[g - p->groups] + 1 > g->max) {
      snprintf(why, sizeof(why), "group %s is at its maximum size of %" PRId64 " nodes", g->id, g->max);
      crossed = 1;
    }
    if (crossed) {
      cut++;
      cut_pods += pn->npods;
      for (k = 0; k < pn->npods; k++) reason_add(p, &s->snap.pods[pn->pods[k]], why, s->snap.npods);
      continue;
    }
    for (j = 0; j < n; j++) usage_add(&u[sc[j]], &sh);
    add[g - p->groups]++;
  }
  if (cut > 0) {
    p->st.nodes_cut += cut;
    decide(p, "limit", "%zu planned node%s cut, %zu pod%s stay pending: %s%s", cut, cut == 1 ? "" : "s",
           cut_pods, cut_pods == 1 ? "" : "s", why, cut > 1 ? " (and others)" : "");
  }
  stv_free(u);
}

static void scale_up(struct stv_provision *p, struct solve *s, const int64_t *add) {
  double now = stv_clock_now(p->clock);
  size_t i, j;
  for (i = 0; i < p->ngroups; i++) {
    struct group *g = &p->groups[i];
    uint32_t off = 0;
    double price = 0;
    int64_t k;
    if (add[i] == 0) continue;
    for (j = 0; j < s->nuse; j++) {
      if (s->use_group[j] != i) continue;
      off = s->use_offer[j];
      price = s->use[j].price;
      break;
    }
    for (k = 0; k < add[i] && inflight_add(p, (uint32_t)i, off, now, NULL) == 0; k++) {
    }
    if (k < add[i]) decide(p, "error", "out of memory recording nodes in flight for group %s", g->id);
    if (k == 0) continue;
    g->target += k;
    decide(p, "scale_up", "group %s: +%" PRId64 " node%s of %s in %s (%s, %.4f %s/h each), desired %" PRId64,
           g->id, k, k == 1 ? "" : "s", g->off[off].type, g->off[off].zone,
           stv_capacity_type_name(g->off[off].ct), price, p->cat->currency, g->target);
    issue(g);
  }
}

static void apply(struct stv_provision *p, struct solve *s) {
  const struct stv_plan *plan = &s->job.plan;
  int64_t *add;
  size_t i, onexisting = 0, oninflight = 0;
  double wall;
  for (i = 0; i < plan->nnodes; i++) {
    if (plan->nodes[i].existing < 0) continue;
    if ((size_t)plan->nodes[i].existing < s->nreal)
      onexisting += plan->nodes[i].npods;
    else
      oninflight += plan->nodes[i].npods;
  }
  /* A periodic headroom check that changes nothing is not a decision worth a line. */
  if (s->why == NULL || plan->nnew > 0 || plan->nunsched > 0)
    decide(p, "solve",
           "%s: %zu pending pods (headroom included): %zu fit registered nodes, %zu fit nodes in flight, %zu "
           "new "
           "nodes planned (%.4f %s/h), %zu fit nowhere; %s solve took %.1f ms",
           s->why ? s->why : "batch", plan->npending, onexisting, oninflight, plan->nnew, plan->new_cost,
           p->cat->currency, plan->nunsched, stv_policy_name(s->job.policy), s->job.solve_s * 1e3);
  for (i = 0; i < plan->nunsched; i++)
    reason_add(p, &s->snap.pods[plan->unsched[i].pod], plan->unsched[i].reason, s->snap.npods);
  for (i = 0; i < plan->nskipped; i++)
    reason_add(p, &s->snap.pods[plan->skipped[i].pod], plan->skipped[i].reason, s->snap.npods);
  if ((add = stv_calloc(p->ngroups + 1, sizeof(*add))) == NULL) {
    decide(p, "error", "out of memory applying the plan; no scale-up this time");
    return;
  }
  cut_to_limits(p, s, add);
  scale_up(p, s, add);
  stv_free(add);
  summarise_reasons(p);
  wall = stv_monotonic_seconds() - s->wall_start;
  p->st.last_decision_s = wall;
  if (wall > p->st.max_decision_s) p->st.max_decision_s = wall;
}

/* Hands a catalogue that stv_provision_set_catalog replaced back once no solve borrows it. */
static void release_retired(struct stv_provision *p) {
  const struct stv_catalog *old = p->retired;
  if (old == NULL || (p->solving != NULL && p->solving->cat == old)) return;
  p->retired = NULL;
  if (p->release != NULL) p->release(p->release_ctx, old);
}

static void solve_done(struct stv_solve_job *job) {
  struct solve *s = job->data;
  struct stv_provision *p = s->p;
  p->solving = NULL;
  if (job->rc != 0)
    decide(p, "error", "the solve failed: %s; the pods stay pending and the next batch tries again",
           job->err.msg);
  else
    apply(p, s);
  solve_free(s);
  release_retired(p);
  if (p->again) {
    p->again = 0;
    start_solve(p);
  }
}

/*
 * Brings group g in line with what the provider says (listed): its desired
 * size, and as many nodes in flight as the desired size exceeds the
 * registered nodes: the provider may launch replacements (spot
 * interruptions) or lose nodes (deletions by scale-down) on its own.
 */
static void resync_group(struct stv_provision *p, struct group *g, const struct stv_cloud_group *listed) {
  uint32_t gi = (uint32_t)(g - p->groups);
  int64_t want, have = 0;
  ssize_t k;
  size_t i;
  if (g->busy || g->retrying) return;
  g->desired = g->target = listed->desired;
  g->min = listed->min;
  g->max = listed->max;
  want = g->desired - g->registered;
  for (i = 0; i < p->ninf; i++) have += p->inf[i].group == gi;
  for (; have < want; have++)
    if (inflight_add(p, gi, 0, stv_clock_now(p->clock), NULL) != 0) return;
  for (; have > want && (k = inflight_unnamed(p, gi, 1)) >= 0; have--) inflight_remove(p, (size_t)k);
}

/* The groups were just listed: decisions may reuse the listing for group_refresh s. */
static void note_listed(struct stv_provision *p) {
  p->groups_stale = 0;
  p->groups_listed_at = stv_clock_now(p->clock);
}

static void submit(struct stv_provision *p) {
  struct solve *s;
  struct stv_err err = {0};
  int rc;
  /* A poke when no pod is pending and no headroom is kept has nothing to plan: no copy of the view. */
  if (p->next_why != NULL && p->o.nheadroom == 0 && !(p->o.headroom_percent > 0) &&
      p->view.has_pending != NULL && !p->view.has_pending(p->view.ctx)) {
    reasons_clear(p);
    return;
  }
  if ((s = stv_calloc(1, sizeof(*s))) == NULL) {
    decide(p, "error", "out of memory starting a solve; the next batch tries again");
    return;
  }
  s->p = p;
  s->why = p->next_why;
  s->wall_start = p->wall_start;
  s->job.done = solve_done;
  s->job.data = s;
  reasons_clear(p);
  if ((rc = stv_snapshot_init(&s->snap)) != 0 || (rc = build(p, s, &err)) != 0) {
    decide(p, "error", "cannot build the problem: %s", err.msg[0] ? err.msg : stv_strerror(rc));
    solve_free(s);
    return;
  }
  if (planned_pending(&s->snap) == 0) {
    solve_free(s);
    return;
  }
  p->st.solves++;
  p->solving = s;
  if ((rc = p->runner->ops->submit(p->runner, &s->job)) != 0) {
    p->solving = NULL;
    decide(p, "error", "cannot start the solve: %s", stv_strerror(rc));
    solve_free(s);
  }
}

static void refresh_cb(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_group *v,
                       size_t n) {
  struct stv_provision *p = ctx;
  size_t i;
  int32_t gi;
  p->refreshing = 0;
  if (r->code != 0)
    decide(p, "error", "listing the provider's groups failed: %s (%s); solving on what was known",
           stv_strerror(r->code), r->message);
  else
    note_listed(p);
  for (i = 0; r->code == 0 && i < n; i++)
    if ((gi = find_group(p, v[i].id)) >= 0) resync_group(p, &p->groups[gi], &v[i]);
  submit(p);
  if (p->solving == NULL && p->again) {
    p->again = 0;
    start_solve(p);
  }
}

/*
 * Lists the groups when the last listing may be out of date (what the
 * provider did on its own since), then builds the problem and solves.
 */
static void start_solve(struct stv_provision *p) {
  int rc;
  p->wall_start = stv_monotonic_seconds();
  p->last_solve_at = stv_clock_now(p->clock);
  if (!p->groups_stale && p->last_solve_at - p->groups_listed_at < p->o.group_refresh) {
    submit(p);
    return;
  }
  p->refreshing = 1;
  if ((rc = p->cloud->ops->list_groups(p->cloud, refresh_cb, p)) != 0) {
    p->refreshing = 0;
    decide(p, "error", "cannot list the provider's groups: %s; solving on what was known", stv_strerror(rc));
    submit(p);
  }
}

/* ---------------------------------------------------------------------- */
/* Events of the cluster and of the provider                              */

void stv_provision_node_registered(struct stv_provision *p, const char *name, const char *provider_id) {
  struct group *g;
  ssize_t i;
  if (provider_id == NULL || reg_state(p, provider_id) != REG_NONE) return;
  if (set_value(p, &p->registered, provider_id, REG_REGISTERED) != 0) {
    decide(p, "error", "node %s: out of memory noting it as registered", name);
    return;
  }
  if ((i = inflight_by_id(p, provider_id)) >= 0) {
    p->groups[p->inf[i].group].backoff_s = 0; /* the group works again */
    inflight_remove(p, (size_t)i);
  }
  if ((g = group_of_instance(p, provider_id)) != NULL) g->registered++;
}

void stv_provision_node_deleted(struct stv_provision *p, const char *name, const char *provider_id) {
  struct group *g;
  (void)name;
  if (provider_id == NULL) return;
  p->groups_stale = 1; /* the provider may lower the group's size or replace the node */
  if (reg_state(p, provider_id) == REG_REGISTERED && (g = group_of_instance(p, provider_id)) != NULL)
    g->registered--;
  if (reg_state(p, provider_id) != REG_NONE) set_value(p, &p->registered, provider_id, REG_NONE);
  if (p->o.nheadroom > 0 || p->o.headroom_percent > 0)
    stv_provision_poke(p, "a node went away and headroom is kept");
}

void stv_provision_cloud_event(struct stv_provision *p, const struct stv_cloud_event *ev) {
  const struct stv_cloud_instance *in = ev->instance;
  int32_t gi = in && in->group_id ? find_group(p, in->group_id) : -1;
  struct group *g = gi >= 0 ? &p->groups[gi] : NULL;
  ssize_t i;
  int32_t off;
  int known;
  if (p->started) p->groups_stale = 1; /* the provider acted: the next decision lists its groups again */
  if (!p->started || g == NULL) return;
  switch (ev->kind) {
  case STV_CLOUD_EV_RUNNING:
    known = group_of_instance(p, in->provider_id) != NULL;
    if (set_value(p, &p->inst_group, in->provider_id, (uint32_t)gi + 1) != 0) {
      decide(p, "error", "out of memory noting instance %s", in->provider_id);
      return;
    }
    if (inflight_by_id(p, in->provider_id) >= 0) return;
    if (!known && reg_state(p, in->provider_id) == REG_REGISTERED) {
      /* Its node registered before the provider said it runs (a cloud's poll can come after the kubelet):
       * the node counts as the group's and fulfils one of the group's nodes in flight. */
      g->registered++;
      if ((i = inflight_unnamed(p, (uint32_t)gi, 0)) >= 0) {
        g->backoff_s = 0;
        inflight_remove(p, (size_t)i);
      }
      return;
    }
    if (reg_state(p, in->provider_id) != REG_NONE) return;
    if ((i = inflight_unnamed(p, (uint32_t)gi, 0)) < 0) return; /* a replacement the provider made itself */
    if ((p->inf[i].provider_id = stv_strdup(in->provider_id)) == NULL) {
      decide(p, "error", "out of memory naming a node in flight of group %s", g->id);
      return;
    }
    if ((off = find_offer(g, in->instance_type, in->zone, in->capacity_type)) >= 0)
      p->inf[i].offer = (uint32_t)off;
    return;
  case STV_CLOUD_EV_LAUNCH_FAILED:
    p->st.launch_failures++;
    decide(p, "launch_failed", "group %s: a requested node will not come: %s (%s)", g->id,
           stv_strerror(ev->code), ev->message);
    /* The node in flight that failed: the one the provider named, when a poll saw it being created before it
     * failed (a loaded machine, a slow cloud), else one the group has not named yet. */
    i = in->provider_id != NULL ? inflight_by_id(p, in->provider_id) : -1;
    if (i < 0) i = inflight_unnamed(p, (uint32_t)gi, 0);
    if (i >= 0) inflight_remove(p, (size_t)i);
    /* The provider lowered its desired size by the node that failed. */
    if (g->desired > 0) g->desired--;
    if (g->target > 0) g->target--;
    backoff(p, g, stv_strerror(ev->code));
    stv_provision_poke(p, "a launch failed; re-planning elsewhere");
    return;
  case STV_CLOUD_EV_TERMINATED:
    if ((i = inflight_by_id(p, in->provider_id)) >= 0) {
      decide(p, "give_up", "node %s of group %s was terminated before it registered", in->provider_id, g->id);
      inflight_remove(p, (size_t)i);
      stv_provision_poke(p, "a node in flight was terminated");
    }
    return;
  case STV_CLOUD_EV_INTERRUPTION:
    /* The node is going: its capacity no longer counts, whatever replaces it will be seen in flight. */
    if (reg_state(p, in->provider_id) == REG_REGISTERED) {
      set_value(p, &p->registered, in->provider_id, REG_LEAVING);
      g->registered--;
    }
    return;
  default:
    return;
  }
}

/* ---------------------------------------------------------------------- */
/* Housekeeping: nodes that never register                                */

static void delete_done(void *ctx, const struct stv_cloud_result *r) {
  struct group *g = ctx;
  if (r->code != 0 && r->code != STV_ENOTFOUND)
    decide(g->p, "error", "group %s: deleting a node that never registered failed: %s (%s)", g->id,
           stv_strerror(r->code), r->message);
}

static void give_up(struct stv_provision *p, size_t i) {
  struct inflight *e = &p->inf[i];
  struct group *g = &p->groups[e->group];
  const char *ids[1];
  char what[160];
  int rc;
  p->st.given_up++;
  p->groups_stale = 1;
  snprintf(what, sizeof(what), "a node of %s in %s did not register within %.0f s", g->off[e->offer].type,
           g->off[e->offer].zone, p->o.max_provision);
  decide(p, "give_up", "group %s: %s%s%s; giving it up", g->id, what, e->provider_id ? " " : "",
         e->provider_id ? e->provider_id : "");
  if (e->provider_id != NULL) {
    /* The provider lowers the desired size by the node it deletes. */
    ids[0] = e->provider_id;
    rc = p->cloud->ops->delete_instances(p->cloud, g->id, ids, 1, delete_done, g);
    if (rc != 0)
      decide(p, "error", "group %s: cannot delete %s: %s", g->id, e->provider_id, stv_strerror(rc));
    else {
      g->desired--;
      g->target--;
    }
  } else {
    g->target--;
    issue(g);
  }
  inflight_remove(p, i);
  backoff(p, g, what);
}

static void house_cb(struct stv_timer *t) {
  struct stv_provision *p = t->data;
  double now = stv_clock_now(p->clock);
  size_t i = 0;
  while (i < p->ninf) {
    if (now - p->inf[i].since >= p->o.max_provision) {
      give_up(p, i);
      stv_provision_poke(p, "a node in flight was given up");
    } else {
      i++;
    }
  }
  if (pending_set_compact(&p->known) != 0)
    decide(p, "error", "out of memory compacting the set of pending pods");
  if ((p->o.nheadroom > 0 || p->o.headroom_percent > 0) && now - p->last_solve_at >= HEADROOM_EVERY)
    stv_provision_poke(p, "headroom check");
  if (stv_clock_start(p->clock, &p->house, p->o.housekeeping, house_cb, p) != 0)
    decide(p, "error", "cannot restart the housekeeping timer: out of memory");
}

/* ---------------------------------------------------------------------- */
/* Start: groups, instances, what is in flight                            */

static void groups_free(struct stv_provision *p) {
  size_t i, j;
  for (i = 0; i < p->ngroups; i++) {
    struct group *g = &p->groups[i];
    stv_clock_stop(p->clock, &g->retry);
    for (j = 0; j < g->noff; j++) {
      stv_free(g->off[j].type);
      stv_free(g->off[j].zone);
    }
    stv_free(g->off);
    stv_free(g->id);
    stv_free(g->pool);
  }
  stv_free(p->groups);
  p->groups = NULL;
  p->ngroups = 0;
  stv_strmap_close(&p->group_ids);
  stv_strmap_close(&p->group_offers);
  stv_strpool_close(&p->group_pool);
  stv_strpool_init(&p->group_pool);
}

/* Indexes group gi by id and by each of its offerings (the first group wins an offering). */
static int index_group(struct stv_provision *p, uint32_t gi) {
  const struct group *g = &p->groups[gi];
  struct stv_strmap_ent *e;
  char key[400];
  size_t j, n;
  int added;
  if (stv_strmap_upsert(&p->group_ids, &p->group_pool, g->id, strlen(g->id), gi, &e, &added) != 0)
    return STV_ENOMEM;
  for (j = 0; j < g->noff; j++) {
    n = offer_key(key, sizeof(key), g->off[j].type, g->off[j].zone, g->off[j].ct, g->pool);
    if (stv_strmap_find(&p->group_offers, key, n) != NULL) continue;
    if (stv_strmap_upsert(&p->group_offers, &p->group_pool, key, n, gi, &e, &added) != 0) return STV_ENOMEM;
  }
  return 0;
}

static int copy_group(struct stv_provision *p, struct group *g, const struct stv_cloud_group *in) {
  size_t j;
  g->p = p;
  g->id = stv_strdup(in->id);
  g->pool = in->pool ? stv_strdup(in->pool) : NULL;
  g->off = stv_calloc(in->noffer + 1, sizeof(*g->off));
  if (g->id == NULL || (in->pool && g->pool == NULL) || g->off == NULL) return STV_ENOMEM;
  for (j = 0; j < in->noffer; j++) {
    g->off[j].type = stv_strdup(in->offerings[j].instance_type);
    g->off[j].zone = stv_strdup(in->offerings[j].zone);
    g->off[j].ct = in->offerings[j].capacity_type;
    g->noff++;
    if (g->off[j].type == NULL || g->off[j].zone == NULL) return STV_ENOMEM;
  }
  g->min = in->min;
  g->max = in->max;
  g->desired = g->target = in->desired;
  return 0;
}

static void start_failed(struct stv_provision *p, const struct stv_cloud_result *r, const char *what);

static void instances_cb(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_instance *v,
                         size_t n);

/* Lists again what failed: the groups, or only the instances when the groups were listed. */
static void restart_cb(struct stv_timer *t) {
  struct stv_provision *p = t->data;
  int rc = p->have_groups ? p->cloud->ops->list_instances(p->cloud, instances_cb, p) : stv_provision_start(p);
  if (rc != 0) {
    struct stv_cloud_result r = {rc, "the call could not start", 0};
    start_failed(p, &r, p->have_groups ? "instances" : "groups");
  }
}

/* A listing at start failed: list again after the provider's retry-after, or 1 s doubling to 60 s. */
static void start_failed(struct stv_provision *p, const struct stv_cloud_result *r, const char *what) {
  double delay;
  p->start_retry_s = p->start_retry_s > 0 ? fmin(p->start_retry_s * 2, THROTTLE_MAX_S) : p->o.throttle_retry;
  delay = r->code == STV_ETHROTTLED && r->retry_after > 0 ? r->retry_after : p->start_retry_s;
  decide(p, r->code == STV_ETHROTTLED ? "throttled" : "retry",
         "listing the provider's %s failed: %s (%s); starting again in %.1f s", what, stv_strerror(r->code),
         r->message, delay);
  if (stv_clock_start(p->clock, &p->restart, delay, restart_cb, p) != 0)
    decide(p, "error", "cannot start the restart timer: out of memory; not starting");
}

static void instances_cb(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_instance *v,
                         size_t n) {
  struct stv_provision *p = ctx;
  int64_t *listed;
  size_t i, named = 0, unnamed = 0;
  int64_t k;
  if (r->code != 0) {
    start_failed(p, r, "instances");
    return;
  }
  if ((listed = stv_calloc(p->ngroups + 1, sizeof(*listed))) == NULL) goto nomem;
  for (i = 0; i < n; i++) {
    int32_t gi = find_group(p, v[i].group_id), off;
    if (gi < 0 || v[i].state == STV_INSTANCE_TERMINATING) continue;
    listed[gi]++;
    if (set_value(p, &p->inst_group, v[i].provider_id, (uint32_t)gi + 1) != 0) goto nomem;
    if (reg_state(p, v[i].provider_id) == REG_REGISTERED) {
      p->groups[gi].registered++;
      continue;
    }
    off = find_offer(&p->groups[gi], v[i].instance_type, v[i].zone, v[i].capacity_type);
    if (inflight_add(p, (uint32_t)gi, off < 0 ? 0 : (uint32_t)off, v[i].launch_time, v[i].provider_id) != 0)
      goto nomem;
    named++;
  }
  /* What the groups want beyond the instances that exist is in flight too: not launched yet. */
  for (i = 0; i < p->ngroups; i++) {
    for (k = listed[i]; k < p->groups[i].desired; k++) {
      if (inflight_add(p, (uint32_t)i, 0, stv_clock_now(p->clock), NULL) != 0) goto nomem;
      unnamed++;
    }
  }
  stv_free(listed);
  p->started = 1;
  p->start_retry_s = 0;
  decide(p, "rebuild",
         "%zu groups; %zu nodes in flight (%zu launched and not registered, %zu not launched yet)",
         p->ngroups, named + unnamed, named, unnamed);
  if (stv_clock_start(p->clock, &p->house, p->o.housekeeping, house_cb, p) != 0) goto nomem;
  stv_provision_poke(p, "start");
  return;
nomem:
  stv_free(listed);
  decide(p, "error", "out of memory rebuilding the nodes in flight; not starting");
}

static void groups_cb(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_group *v,
                      size_t n) {
  struct stv_provision *p = ctx;
  size_t i;
  int rc;
  if (r->code != 0) {
    start_failed(p, r, "groups");
    return;
  }
  groups_free(p);
  if ((p->groups = stv_calloc(n + 1, sizeof(*p->groups))) == NULL) goto nomem;
  for (i = 0; i < n; i++) {
    p->ngroups++;
    if (copy_group(p, &p->groups[i], &v[i]) != 0 || index_group(p, (uint32_t)i) != 0) goto nomem;
  }
  p->have_groups = 1;
  note_listed(p);
  if ((rc = p->cloud->ops->list_instances(p->cloud, instances_cb, p)) != 0) {
    struct stv_cloud_result fr = {rc, "the call could not start", 0};
    start_failed(p, &fr, "instances");
  }
  return;
nomem:
  decide(p, "error", "out of memory copying the provider's groups; not starting");
}

int stv_provision_start(struct stv_provision *p) {
  return p->cloud->ops->list_groups(p->cloud, groups_cb, p);
}

/* ---------------------------------------------------------------------- */
/* Life                                                                   */

static int check_opts(const struct stv_provision_opts *o, struct stv_err *err) {
  if (!(o->batch_idle > 0) || !(o->batch_max >= o->batch_idle))
    return stv_err_set(err, STV_EINVAL, "batch windows: idle %g s must be above 0 and at most max %g s",
                       o->batch_idle, o->batch_max);
  if (!(o->decision_budget >= 0) || !(o->max_provision > 0) || !(o->housekeeping > 0))
    return stv_err_set(err, STV_EINVAL,
                       "decision budget (%g s) must be 0 or more; max provision time (%g s) and housekeeping "
                       "period (%g s) above 0",
                       o->decision_budget, o->max_provision, o->housekeeping);
  if (!(o->backoff_initial > 0) || !(o->backoff_max >= o->backoff_initial) || !(o->throttle_retry > 0))
    return stv_err_set(err, STV_EINVAL, "backoff: initial %g s must be above 0 and at most max %g s",
                       o->backoff_initial, o->backoff_max);
  if (!(o->group_refresh >= 0))
    return stv_err_set(err, STV_EINVAL,
                       "group refresh period %g s must be 0 (list at every decision) or more",
                       o->group_refresh);
  return 0;
}

int stv_provision_new(struct stv_provision **out, const struct stv_provision_opts *o, struct stv_clock *clock,
                      struct stv_cloud *cloud, const struct stv_catalog *catalog,
                      const struct stv_cluster_view *view, struct stv_solve_runner *runner,
                      struct stv_err *err) {
  struct stv_provision *p;
  int rc;
  *out = NULL;
  if ((rc = check_opts(o, err)) != 0) return rc;
  if ((p = stv_calloc(1, sizeof(*p))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  p->o = *o;
  p->clock = clock;
  p->cloud = cloud;
  p->cat = catalog;
  p->view = *view;
  p->runner = runner;
  p->last_solve_at = -INFINITY;
  pending_set_init(&p->known);
  stv_strpool_init(&p->reg_pool);
  stv_strpool_init(&p->group_pool);
  *out = p;
  return 0;
}

void stv_provision_set_catalog(struct stv_provision *p, const struct stv_catalog *catalog,
                               stv_provision_release_fn release, void *ctx) {
  const struct stv_catalog *old = p->cat;
  if (catalog == old) return;
  p->cat = catalog;
  /* The templates carry the old prices: the next decision builds them again (a solve keeps its own). */
  tmpl_unref(p->tmpl);
  p->tmpl = NULL;
  /* One solve at most is in flight: if it borrows old, old waits for it; an earlier retired one does not. */
  if (p->solving != NULL && p->solving->cat == old) {
    if (p->retired != NULL && p->release != NULL) p->release(p->release_ctx, p->retired);
    p->retired = old;
  } else if (release != NULL) {
    release(ctx, old);
  }
  p->release = release;
  p->release_ctx = ctx;
}

size_t stv_provision_pending(const struct stv_provision *p, const struct stv_pending_reason **out) {
  *out = p->reasons;
  return p->nreasons;
}

void stv_provision_get_stats(const struct stv_provision *p, struct stv_provision_stats *st) {
  *st = p->st;
  st->inflight = p->ninf;
}

int stv_provision_busy(const struct stv_provision *p) {
  size_t i;
  if (p->batch_open || p->poked || p->solving || p->refreshing) return 1;
  for (i = 0; i < p->ngroups; i++)
    if (p->groups[i].busy || p->groups[i].retrying) return 1;
  return 0;
}

void stv_provision_free(struct stv_provision *p) {
  if (p == NULL) return;
  stv_clock_stop(p->clock, &p->idle);
  stv_clock_stop(p->clock, &p->max);
  stv_clock_stop(p->clock, &p->house);
  stv_clock_stop(p->clock, &p->poke);
  stv_clock_stop(p->clock, &p->restart);
  /* A solve on a worker thread owns its job until done runs; the owner drains the loop first. */
  solve_free(p->solving);
  p->solving = NULL;
  release_retired(p);
  tmpl_unref(p->tmpl);
  groups_free(p);
  stv_strpool_close(&p->group_pool);
  while (p->ninf > 0) inflight_remove(p, p->ninf - 1);
  stv_free(p->inf);
  reasons_clear(p);
  pending_set_close(&p->known);
  stv_strmap_close(&p->registered);
  stv_strmap_close(&p->inst_group);
  stv_strpool_close(&p->reg_pool);
  stv_free(p);
}
