/*
 * The packer's model of the simulated cluster: node templates of the
 * catalogue (the shapes and labels of the nodes the sim provider
 * launches), which workload's pods the predicates let run on which
 * template, the snapshot the provisioning reconciler solves on, and the
 * set-up of each policy: the sim provider and the reconciler, or the
 * static cluster sized for the peak.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulate.h"
#include "sim.h"
#include "internal.h"

#define GPU_RESOURCE "nvidia.com/gpu"
#define NS           "default"

static int in_list(const char *const *list, size_t n, const char *v) {
  size_t i;
  if (n == 0) return 1;
  for (i = 0; i < n; i++)
    if (strcmp(list[i], v) == 0) return 1;
  return 0;
}

/* Whether the scenario lets the cluster have nodes of template t. */
static int allowed(const struct sim *s, const struct stv_template *t) {
  const struct stv_scenario *sc = s->sc;
  return (sc->capacity_types & (1u << t->capacity_type)) &&
         in_list(sc->instance_types, sc->ntypes, t->instance_type) && in_list(sc->zones, sc->nzones, t->zone);
}

/* Workload wl's class, its strings interned in snap. */
static int workload_class(const struct sim *s, struct stv_snapshot *snap, uint32_t wl, struct stv_class *c) {
  const struct stv_scn_workload *w = &s->sc->workloads[wl];
  struct stv_requirement *req;
  struct stv_label *lab;
  char example[160];
  uint32_t i;
  memset(c, 0, sizeof(*c));
  c->ns = stv_strpool_get(&snap->pool, NS);
  c->req[STV_RES_CPU] = w->cpu;
  c->req[STV_RES_MEMORY] = w->memory;
  c->req[STV_RES_PODS] = 1;
  if (s->gpu_dim >= 0) c->req[s->gpu_dim] = w->gpu;
  snprintf(example, sizeof(example), NS "/%s-1", w->name);
  c->example = stv_strpool_get(&snap->pool, example);
  lab = stv_arena_alloc(&snap->mem, sizeof(*lab));
  req = stv_arena_alloc(&snap->mem, (w->nselector + 1) * sizeof(*req));
  if (c->ns == NULL || c->example == NULL || lab == NULL || req == NULL) return STV_ENOMEM;
  lab->key = stv_strpool_get(&snap->pool, "app");
  lab->value = stv_strpool_get(&snap->pool, w->name);
  c->labels.n = 1;
  c->labels.kv = lab;
  for (i = 0; i < w->nselector; i++) {
    req[i].key = stv_strpool_get(&snap->pool, w->sel_keys[i]);
    req[i].op = STV_OP_IN;
    req[i].nvalues = 1;
    req[i].values = stv_arena_alloc(&snap->mem, sizeof(char *));
    if (req[i].key == NULL || req[i].values == NULL) return STV_ENOMEM;
    if ((req[i].values[0] = stv_strpool_get(&snap->pool, w->sel_values[i])) == NULL) return STV_ENOMEM;
  }
  c->node_selector.n = w->nselector;
  c->node_selector.reqs = req;
  if (lab->key == NULL || lab->value == NULL) return STV_ENOMEM;
  return 0;
}

static int gpu_dim(struct sim *s, struct stv_snapshot *snap) {
  size_t i;
  for (i = 0; i < s->sc->nworkloads; i++)
    if (s->sc->workloads[i].gpu > 0) return stv_resnames_index(&snap->res, &snap->pool, GPU_RESOURCE, 1);
  return -1;
}

/*
 * The catalogue as the scenario narrows it (instanceTypes, zones,
 * capacityTypes): a view that shares the full catalogue's strings and
 * resources and owns only its arrays. The sim provider makes groups of
 * these offerings only, and the reconciler builds templates from them, so
 * that a solve does not pay for the thousands of offerings of a whole
 * region.
 */
static int narrow_catalog(struct sim *s, struct stv_err *err) {
  const struct stv_scenario *sc = s->sc;
  const struct stv_catalog *c = s->full;
  size_t i, n = 0;
  uint32_t j;
  s->cat = s->narrow;
  memset(s->narrow, 0, sizeof(*s->narrow));
  s->narrow->provider = c->provider;
  s->narrow->region = c->region;
  s->narrow->currency = c->currency;
  if ((s->narrow->types = stv_calloc(c->ntypes + 1, sizeof(*s->narrow->types))) == NULL)
    return stv_err_set(err, STV_ENOMEM, "simulate: out of memory");
  for (i = 0; i < c->ntypes; i++) {
    const struct stv_instance_type *t = &c->types[i];
    struct stv_instance_type *u = &s->narrow->types[n];
    if (!in_list(sc->instance_types, sc->ntypes, t->name)) continue;
    *u = *t;
    u->noff = 0;
    if ((u->off = stv_calloc(t->noff + 1, sizeof(*u->off))) == NULL)
      return stv_err_set(err, STV_ENOMEM, "simulate: out of memory");
    n++;
    s->narrow->ntypes = n;
    for (j = 0; j < t->noff; j++)
      if ((sc->capacity_types & (1u << t->off[j].capacity_type)) &&
          in_list(sc->zones, sc->nzones, t->off[j].zone))
        u->off[u->noff++] = t->off[j];
  }
  for (i = 0; i < sc->ntypes; i++)
    if (stv_catalog_find(c, sc->instance_types[i]) == NULL)
      return stv_err_set(err, STV_EINVAL, "scenario %s: instanceTypes[%zu]: \"%s\" is not in catalogue %s",
                         sc->name, i, sc->instance_types[i], sc->catalog);
  return 0;
}

static void narrow_close(struct sim *s) {
  size_t i;
  if (s->narrow->types == NULL) return;
  for (i = 0; i < s->narrow->ntypes; i++) stv_free(s->narrow->types[i].off);
  stv_free(s->narrow->types);
  s->narrow->types = NULL;
}

int stv__sim_model_init(struct sim *s, struct stv_err *err) {
  const struct stv_scenario *sc = s->sc;
  size_t i, j, nallowed = 0;
  int rc;
  s->gpu_dim = -1;
  if ((rc = narrow_catalog(s, err)) != 0) return rc;
  if ((rc = stv_snapshot_init(&s->base)) != 0) return stv_err_set(err, rc, "simulate: out of memory");
  if ((rc = gpu_dim(s, &s->base)) < -1) return stv_err_set(err, rc, "simulate: %s", stv_strerror(rc));
  s->gpu_dim = rc;
  if ((rc = stv_templates_build(&s->tmpl, s->cat, &s->base, sc->capacity_types, err)) != 0) return rc;
  s->have_tmpl = 1;
  s->fit = stv_calloc(sc->nworkloads * s->tmpl.n + 1, 1);
  s->wl_alive = stv_calloc(sc->nworkloads + 1, sizeof(*s->wl_alive));
  s->wl_seq = stv_calloc(sc->nworkloads + 1, sizeof(*s->wl_seq));
  s->wl_failed = stv_calloc(sc->nworkloads + 1, 1);
  if (s->fit == NULL || s->wl_alive == NULL || s->wl_seq == NULL || s->wl_failed == NULL)
    return stv_err_set(err, STV_ENOMEM, "simulate: out of memory");
  for (j = 0; j < s->tmpl.n; j++) nallowed += allowed(s, &s->tmpl.v[j]);
  if (nallowed == 0)
    return stv_err_set(
        err, STV_EINVAL,
        "scenario %s: no offering of catalogue %s matches instanceTypes, zones and capacityTypes", sc->name,
        sc->catalog);
  for (i = 0; i < sc->nworkloads; i++) {
    struct stv_class c;
    size_t any = 0;
    if ((rc = workload_class(s, &s->base, (uint32_t)i, &c)) != 0)
      return stv_err_set(err, rc, "simulate: out of memory");
    for (j = 0; j < s->tmpl.n; j++) {
      const struct stv_template *t = &s->tmpl.v[j];
      struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
      int ok = allowed(s, t) && stv_class_fits_node(&c, &v, NULL, 0) &&
               t->alloc[STV_RES_CPU] >= c.req[STV_RES_CPU] &&
               t->alloc[STV_RES_MEMORY] >= c.req[STV_RES_MEMORY] &&
               (s->gpu_dim < 0 || t->alloc[s->gpu_dim] >= c.req[s->gpu_dim]);
      s->fit[i * s->tmpl.n + j] = (uint8_t)ok;
      any += (size_t)ok;
    }
    if (any == 0)
      stv_decision_emit(
          s->on_decision, s->decision_ctx, 0, "warning",
          "workload %s (line %d): no allowed offering can run its pods (requests or nodeSelector); "
          "they will stay pending",
          sc->workloads[i].name, sc->workloads[i].line);
  }
  return 0;
}

void stv__sim_model_close(struct sim *s) {
  narrow_close(s);
  if (s->have_tmpl) stv_templates_close(&s->tmpl);
  stv_snapshot_close(&s->base);
  stv_free(s->fit);
  stv_free(s->wl_alive);
  stv_free(s->wl_seq);
  stv_free(s->wl_failed);
}

/* ---------------------------------------------------------------------- */
/* The snapshot the reconciler solves on                                  */

static int cmp_label(const void *a, const void *b) {
  return strcmp(((const struct stv_label *)a)->key, ((const struct stv_label *)b)->key);
}

static int add_node(const struct sim *s, struct stv_snapshot *snap, const struct snode *n) {
  const struct stv_template *t = &s->tmpl.v[n->tmpl];
  struct stv_label *kv = stv_arena_alloc(&snap->mem, (t->labels.n + 1) * sizeof(*kv));
  struct stv_node node;
  uint32_t i;
  if (kv == NULL) return STV_ENOMEM;
  for (i = 0; i < t->labels.n; i++) {
    kv[i].key = stv_strpool_get(&snap->pool, t->labels.kv[i].key);
    kv[i].value = stv_strpool_get(&snap->pool, t->labels.kv[i].value);
    if (kv[i].key == NULL || kv[i].value == NULL) return STV_ENOMEM;
  }
  kv[i].key = stv_strpool_get(&snap->pool, "kubernetes.io/hostname");
  kv[i].value = stv_strpool_get(&snap->pool, n->name);
  if (kv[i].key == NULL || kv[i].value == NULL) return STV_ENOMEM;
  memset(&node, 0, sizeof(node));
  node.name = kv[i].value;
  qsort(kv, t->labels.n + 1, sizeof(*kv), cmp_label);
  node.labels.n = t->labels.n + 1;
  node.labels.kv = kv;
  node.ntaints = t->ntaints;
  node.taints = t->taints;
  memcpy(node.alloc, t->alloc, sizeof(node.alloc));
  node.unschedulable = n->cordoned;
  node.instance_type = stv_strpool_get(&snap->pool, t->instance_type);
  node.zone = stv_strpool_get(&snap->pool, t->zone);
  node.capacity_type = stv_capacity_type_name(t->capacity_type);
  if (node.name == NULL || node.instance_type == NULL || node.zone == NULL) return STV_ENOMEM;
  return stv_snapshot_add_node(snap, &node);
}

/* Adds a pod of workload wl to snap, bound to node (interned name) or pending when NULL. */
static int add_pod(const struct sim *s, struct stv_snapshot *snap, const uint32_t *cls, uint32_t wl,
                   uint32_t seq, const char *node) {
  struct stv_pod pod;
  char name[160];
  memset(&pod, 0, sizeof(pod));
  snprintf(name, sizeof(name), "%s-%u", s->sc->workloads[wl].name, seq);
  pod.ns = stv_strpool_get(&snap->pool, NS);
  pod.name = stv_strpool_get(&snap->pool, name);
  if (pod.ns == NULL || pod.name == NULL) return STV_ENOMEM;
  pod.cls = cls[wl];
  pod.node = -1;
  pod.node_name = node;
  pod.phase = node ? STV_PHASE_RUNNING : STV_PHASE_PENDING;
  return stv_snapshot_add_pod(snap, &pod);
}

static int classes(const struct sim *s, struct stv_snapshot *snap, uint32_t **out) {
  struct stv_class c;
  size_t i;
  int rc;
  if ((*out = stv_arena_alloc(&snap->mem, (s->sc->nworkloads + 1) * sizeof(**out))) == NULL)
    return STV_ENOMEM;
  for (i = 0; i < s->sc->nworkloads; i++)
    if ((rc = workload_class(s, snap, (uint32_t)i, &c)) != 0 ||
        (rc = stv_snapshot_intern_class(snap, &c, &(*out)[i])) != 0)
      return rc;
  return 0;
}

int stv__sim_snapshot(struct sim *s, struct stv_snapshot *snap, const char ***ids, struct stv_err *err) {
  const char **names = NULL;
  uint32_t *cls;
  size_t i, k = 0;
  int rc;
  if (gpu_dim(s, snap) != s->gpu_dim)
    return stv_err_set(err, STV_EINVAL, "simulate: resource dimensions differ");
  if ((names = stv_arena_alloc(&snap->mem, (s->nnodes + 1) * sizeof(*names))) == NULL ||
      (*ids = stv_arena_alloc(&snap->mem, (s->nnodes + 1) * sizeof(**ids))) == NULL)
    goto nomem;
  for (i = 0; i < s->nnodes; i++) {
    const struct snode *n = s->nodes[i];
    names[i] = NULL;
    if (!n->ready || n->gone) continue;
    if ((rc = add_node(s, snap, n)) != 0) {
      stv_err_set(err, rc, "simulate: adding node %s to the cluster's snapshot: %s", n->name,
                  stv_strerror(rc));
      return rc;
    }
    names[i] = snap->nodes[snap->nnodes - 1].name;
    (*ids)[k++] = n->pid ? stv_strpool_get(&snap->pool, n->pid) : NULL;
  }
  if ((rc = classes(s, snap, &cls)) != 0) goto fail;
  for (i = 0; i < s->npods; i++) {
    const struct spod *p = s->pods[i];
    if (p->state == STV_SIM_POD_DONE || p->state == STV_SIM_POD_DELETED) continue;
    if ((rc = add_pod(s, snap, cls, p->wl, p->seq, p->node >= 0 ? names[p->node] : NULL)) != 0) goto fail;
  }
  return 0;
nomem:
  rc = STV_ENOMEM;
fail:
  return stv_err_set(err, rc, "simulate: building the cluster's snapshot: %s", stv_strerror(rc));
}

/* ---------------------------------------------------------------------- */
/* Policies                                                               */

int stv__sim_static_nodes(struct sim *s, const int64_t *peak, struct stv_err *err) {
  struct stv_snapshot snap;
  struct stv_problem pb;
  struct stv_plan plan;
  struct stv_template *use = NULL;
  uint32_t *back = NULL, *cls;
  size_t i, n = 0;
  int64_t k;
  int rc;
  memset(&plan, 0, sizeof(plan));
  if ((rc = stv_snapshot_init(&snap)) != 0) return stv_err_set(err, rc, "simulate: out of memory");
  if (gpu_dim(s, &snap) != s->gpu_dim || (rc = classes(s, &snap, &cls)) != 0) goto nomem;
  for (i = 0; i < s->sc->nworkloads; i++)
    for (k = 0; peak && k < peak[i]; k++)
      if ((rc = add_pod(s, &snap, cls, (uint32_t)i, (uint32_t)k + 1, NULL)) != 0) goto nomem;
  if ((rc = stv_snapshot_finish(&snap, err)) != 0) goto out;
  use = stv_calloc(s->tmpl.n + 1, sizeof(*use));
  back = stv_calloc(s->tmpl.n + 1, sizeof(*back));
  if (use == NULL || back == NULL) goto nomem;
  for (i = 0; i < s->tmpl.n; i++) {
    if (s->tmpl.v[i].capacity_type != STV_CT_ON_DEMAND || !allowed(s, &s->tmpl.v[i])) continue;
    back[n] = (uint32_t)i;
    use[n++] = s->tmpl.v[i];
  }
  memset(&pb, 0, sizeof(pb));
  pb.snap = &snap;
  pb.tmpl = use;
  pb.ntmpl = n;
  pb.currency = s->cat->currency;
  stv_spot_policy_default(&pb.spot);
  if ((rc = stv_pack(&pb, &plan, err)) != 0) goto out;
  for (i = 0; i < plan.nnodes; i++) {
    if (plan.nodes[i].existing >= 0 || plan.nodes[i].tmpl < 0) continue;
    if ((rc = stv__sim_node_add(s, (int32_t)back[plan.nodes[i].tmpl], NULL, NULL, 0, 0)) != 0) goto nomem;
  }
  stv_decision_emit(s->on_decision, s->decision_ctx, 0, "static",
                    "static cluster sized for the peak: %zu on-demand nodes, %.4f %s/h", plan.nnew,
                    plan.new_cost, s->cat->currency);
  goto out;
nomem:
  rc = stv_err_set(err, STV_ENOMEM, "simulate: out of memory");
out:
  stv_plan_close(&plan);
  stv_free(use);
  stv_free(back);
  stv_snapshot_close(&snap);
  return rc;
}

/* The scenario's capacity faults as the sim provider takes them: one entry per capacity type. */
static int sim_faults(const struct sim *s, struct stv_sim_opts *o, struct stv_sim_ice **ice,
                      struct stv_sim_storm **st) {
  const struct stv_scenario *sc = s->sc;
  size_t i, n = 0;
  int ct;
  *ice = stv_calloc(sc->nice * STV_CT_COUNT + 1, sizeof(**ice));
  *st = stv_calloc(sc->nstorms + 1, sizeof(**st));
  if (*ice == NULL || *st == NULL) return STV_ENOMEM;
  for (i = 0; i < sc->nice; i++) {
    for (ct = 0; ct < STV_CT_COUNT; ct++) {
      struct stv_sim_ice *e;
      if (sc->ice[i].capacity_types && !(sc->ice[i].capacity_types & (1u << ct))) continue;
      e = &(*ice)[n++];
      e->instance_type = sc->ice[i].instance_type;
      e->zone = sc->ice[i].zone;
      e->capacity_type = sc->ice[i].capacity_types ? ct : -1;
      e->rate = 1;
      e->from = sc->ice[i].from;
      e->until = sc->ice[i].until;
      if (!sc->ice[i].capacity_types) break;
    }
  }
  o->ice = *ice;
  o->nice = n;
  for (i = 0; i < sc->nstorms; i++) {
    (*st)[i].at = sc->storms[i].at;
    (*st)[i].fraction = sc->storms[i].fraction;
    o->interruption_notice = sc->storms[i].notice;
  }
  o->storms = *st;
  o->nstorms = sc->nstorms;
  return 0;
}

int stv__sim_autoscaler(struct sim *s, enum stv_policy policy, stv_cloud_event_cb on_event,
                        int (*view)(void *, struct stv_snapshot *, const char ***, struct stv_err *),
                        struct stv_err *err) {
  const struct stv_scenario *sc = s->sc;
  struct stv_sim_opts o;
  struct stv_sim_ice *ice = NULL;
  struct stv_sim_storm *storms = NULL;
  struct stv_cluster_view cv;
  int rc;
  stv_sim_opts_default(&o);
  o.catalog = s->cat;
  o.capacity_types = sc->capacity_types;
  o.launch_delay = sc->launch_delay;
  o.seed = sc->seed;
  if ((rc = sim_faults(s, &o, &ice, &storms)) != 0) {
    rc = stv_err_set(err, rc, "simulate: out of memory");
    goto out;
  }
  if ((rc = stv_sim_new(&s->cloud, s->clock, &o, err)) != 0) goto out;
  s->cloud->on_event = on_event;
  s->cloud->event_ctx = s;
  stv_provision_opts_default(&s->popts);
  s->popts.policy = policy;
  if (policy == STV_POLICY_CA) s->popts.batch_idle = s->popts.batch_max = 10; /* CA's scan interval */
  /* The optimizer's budget is work, not wall time: the same scenario gives the same plans (docs/simulate.md). */
  s->popts.decision_budget = 0.25;
  s->popts.capacity_types = sc->capacity_types;
  s->popts.instance_types = sc->instance_types;
  s->popts.ninstance_types = sc->ntypes;
  s->popts.zones = sc->zones;
  s->popts.nzones = sc->nzones;
  s->popts.cluster = sc->limits;
  s->popts.headroom = sc->headroom.count ? &sc->headroom : NULL;
  s->popts.nheadroom = sc->headroom.count ? 1 : 0;
  s->popts.headroom_percent = sc->headroom_percent;
  s->popts.on_decision = s->on_decision;
  s->popts.decision_ctx = s->decision_ctx;
  stv_solve_runner_inline_init(&s->runner, s->clock);
  cv.snapshot = view;
  cv.ctx = s;
  cv.has_pending = NULL;
  if ((rc = stv_provision_new(&s->prov, &s->popts, s->clock, s->cloud, s->cat, &cv, &s->runner, err)) != 0)
    goto out;
  if ((rc = stv_provision_start(s->prov)) != 0)
    rc = stv_err_set(err, rc, "simulate: the sim provider did not list its groups: %s", stv_strerror(rc));
out:
  stv_free(ice);
  stv_free(storms);
  return rc;
}
