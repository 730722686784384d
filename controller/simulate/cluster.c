/*
 * The simulated cluster of `stevedore simulate`: pods from a scenario's
 * workloads, nodes from the sim provider's instances, a small scheduler,
 * and the figures of the final report, all on a virtual clock. The
 * provisioning reconciler is the controller's own (controller/loop/); it
 * sees this cluster through a struct stv_cluster_view and the calls a
 * watch-driven cache would make. docs/simulate.md has the model and where
 * it simplifies.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulate.h"
#include "sim.h"
#include "internal.h"

#define NS           "default"
#define HOUSEKEEPING 10.0
#define HOSTNAME_KEY "kubernetes.io/hostname"

enum {
  POD_PENDING = STV_SIM_POD_PENDING,
  POD_RUNNING = STV_SIM_POD_RUNNING,
  POD_DONE = STV_SIM_POD_DONE,
  POD_DELETED = STV_SIM_POD_DELETED
};

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static void note(struct sim *s, const char *kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(struct sim *s, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  stv_decision_vemit(s->on_decision, s->decision_ctx, stv_clock_now(s->clock), kind, fmt, ap);
  va_end(ap);
}

static double now(const struct sim *s) {
  return stv_clock_now(s->clock);
}

static void pod_name(const struct sim *s, const struct spod *p, char *buf, size_t size) {
  snprintf(buf, size, "%s-%" PRIu32, s->sc->workloads[p->wl].name, p->seq);
}

static void schedule_soon(struct sim *s);

/* ---------------------------------------------------------------------- */
/* Pods                                                                   */

static int pod_new(struct sim *s, uint32_t wl, double duration) {
  struct spod *p;
  if (stv_grow((void **)&s->pods, &s->cap_pods, s->npods + 1, sizeof(*s->pods)) != 0) return STV_ENOMEM;
  if ((p = stv_calloc(1, sizeof(*p))) == NULL) return STV_ENOMEM;
  p->sim = s;
  p->wl = wl;
  p->seq = ++s->wl_seq[wl];
  p->arrive = now(s);
  p->first_bind = -1;
  p->node = -1;
  p->duration = duration;
  p->state = POD_PENDING;
  s->pods[s->npods++] = p;
  s->npending++;
  s->wl_alive[wl]++;
  return 0;
}

static void node_release(struct sim *s, struct snode *n, const struct stv_scn_workload *w) {
  n->used_cpu -= w->cpu;
  n->used_mem -= w->memory;
  n->used_gpu -= w->gpu;
  n->npods--;
  if (n->npods == 0) n->empty_since = now(s);
}

/* Takes p off its node (it goes pending again when evicted, away when done or deleted). */
static void pod_unbind(struct sim *s, struct spod *p, int state) {
  const struct stv_scn_workload *w = &s->sc->workloads[p->wl];
  if (p->state == POD_RUNNING) {
    node_release(s, s->nodes[p->node], w);
    stv_clock_stop(s->clock, &p->end);
    p->node = -1;
  } else if (p->state == POD_PENDING && state != POD_PENDING) {
    s->npending--;
  }
  if (state == POD_PENDING && p->state == POD_RUNNING) s->npending++;
  if (state == POD_DONE || state == POD_DELETED) s->wl_alive[p->wl]--;
  if ((state == POD_DONE || state == POD_DELETED) && s->prov) {
    char name[128];
    pod_name(s, p, name, sizeof(name));
    stv_provision_pod_gone(s->prov, NS, name);
  }
  p->state = (uint8_t)state;
}

static void pod_end_cb(struct stv_timer *t) {
  struct spod *p = t->data;
  pod_unbind(p->sim, p, POD_DONE);
  schedule_soon(p->sim);
}

static void bind(struct sim *s, struct spod *p, uint32_t ni) {
  const struct stv_scn_workload *w = &s->sc->workloads[p->wl];
  struct snode *n = s->nodes[ni];
  char name[128];
  n->used_cpu += w->cpu;
  n->used_mem += w->memory;
  n->used_gpu += w->gpu;
  n->npods++;
  p->node = (int32_t)ni;
  p->state = POD_RUNNING;
  s->npending--;
  if (p->first_bind < 0) {
    p->first_bind = now(s);
    s->scheduled++;
  }
  if (s->prov) {
    pod_name(s, p, name, sizeof(name));
    stv_provision_pod_gone(s->prov, NS, name);
  }
  if (w->job) {
    double left = p->duration - p->ran;
    if (stv_clock_start(s->clock, &p->end, left, pod_end_cb, p) != 0) s->nomem = 1;
    p->bound_at = now(s);
  }
}

/* ---------------------------------------------------------------------- */
/* The scheduler                                                          */

static int fits(const struct sim *s, const struct snode *n, const struct spod *p) {
  const struct stv_scn_workload *w = &s->sc->workloads[p->wl];
  if (!n->ready || n->cordoned || n->gone) return 0;
  if (!s->fit[(size_t)p->wl * s->tmpl.n + n->tmpl]) return 0;
  return n->used_cpu + w->cpu <= n->cpu && n->used_mem + w->memory <= n->mem &&
         n->used_gpu + w->gpu <= n->gpu && (int64_t)n->npods + 1 <= n->max_pods;
}

/*
 * Binds pending pods in arrival order, each to the first node (oldest
 * first) that passes the predicates, as kube-scheduler's filters would
 * (scoring differs: see docs/simulate.md). A workload's pods are all alike,
 * so once one fits nowhere the rest of that workload is skipped; every pod
 * that stays is reported unschedulable.
 */
static void schedule_cb(struct stv_timer *t) {
  struct sim *s = t->data;
  uint8_t *failed = s->wl_failed;
  size_t i, j;
  char name[128];
  s->sched_pending = 0;
  memset(failed, 0, s->sc->nworkloads);
  for (i = s->first_pending; i < s->npods; i++) {
    struct spod *p = s->pods[i];
    if (p->state != POD_PENDING) {
      if (i == s->first_pending) s->first_pending++;
      continue;
    }
    if (!failed[p->wl]) {
      for (j = 0; j < s->nnodes; j++) {
        if (fits(s, s->nodes[j], p)) {
          bind(s, p, (uint32_t)j);
          break;
        }
      }
      if (j < s->nnodes) {
        if (i == s->first_pending) s->first_pending++;
        continue;
      }
      failed[p->wl] = 1;
    }
    if (s->prov) {
      pod_name(s, p, name, sizeof(name));
      stv_provision_pod_unschedulable(s->prov, NS, name);
    }
  }
}

static void schedule_soon(struct sim *s) {
  if (s->sched_pending) return;
  if (stv_clock_start(s->clock, &s->sched, 0, schedule_cb, s) != 0) {
    s->nomem = 1;
    return;
  }
  s->sched_pending = 1;
}

/* ---------------------------------------------------------------------- */
/* Workloads                                                              */

/* Sets a Deployment's replicas: new pods pending, surplus ones deleted (pending first, then the newest). */
static int set_replicas(struct sim *s, uint32_t wl, int64_t want) {
  size_t i;
  int rc;
  while (s->wl_alive[wl] < want)
    if ((rc = pod_new(s, wl, INFINITY)) != 0) return rc;
  for (i = s->npods; i-- > 0 && s->wl_alive[wl] > want;) {
    struct spod *p = s->pods[i];
    if (p->wl == wl && p->state == POD_PENDING) pod_unbind(s, p, POD_DELETED);
  }
  for (i = s->npods; i-- > 0 && s->wl_alive[wl] > want;) {
    struct spod *p = s->pods[i];
    if (p->wl == wl && p->state == POD_RUNNING) pod_unbind(s, p, POD_DELETED);
  }
  return 0;
}

static void workload_cb(struct stv_timer *t) {
  struct swork *sw = t->data;
  struct sim *s = sw->sim;
  const struct stv_scn_workload *w = &s->sc->workloads[sw->wl];
  double next = INFINITY;
  int64_t k;
  int rc = 0;
  if (w->job) {
    for (k = 0; k < w->count && rc == 0; k++) rc = pod_new(s, sw->wl, w->duration);
    if (w->every > 0 && now(s) + w->every <= w->until) next = now(s) + w->every;
  } else {
    rc = set_replicas(s, sw->wl, w->steps[sw->step].replicas);
    if (++sw->step < w->nsteps) next = w->steps[sw->step].at;
  }
  if (rc != 0) s->nomem = 1;
  schedule_soon(s);
  if (isfinite(next) && stv_clock_start(s->clock, &sw->t, next - now(s), workload_cb, sw) != 0) s->nomem = 1;
}

/* ---------------------------------------------------------------------- */
/* Nodes                                                                  */

static int32_t template_index(const struct sim *s, const char *type, const char *zone,
                              enum stv_capacity_type ct) {
  size_t i;
  for (i = 0; i < s->tmpl.n; i++) {
    const struct stv_template *t = &s->tmpl.v[i];
    if (t->capacity_type == ct && strcmp(t->instance_type, type) == 0 && strcmp(t->zone, zone) == 0)
      return (int32_t)i;
  }
  return -1;
}

static int32_t node_by_id(const struct sim *s, const char *pid) {
  size_t i;
  for (i = 0; pid != NULL && i < s->nnodes; i++)
    if (!s->nodes[i]->gone && s->nodes[i]->pid && strcmp(s->nodes[i]->pid, pid) == 0) return (int32_t)i;
  return -1;
}

static void node_register_cb(struct stv_timer *t) {
  struct snode *n = t->data;
  struct sim *s = n->sim;
  n->ready = 1;
  n->empty_since = now(s);
  if (s->prov) stv_provision_node_registered(s->prov, n->name, n->pid);
  schedule_soon(s);
}

/* A node of template ti, running since `since`; registers after the register delay (immediately when 0). */
int stv__sim_node_add(struct sim *s, int32_t ti, const char *pid, const char *group, double since,
                      double delay) {
  const struct stv_template *t = &s->tmpl.v[ti];
  struct snode *n;
  if (stv_grow((void **)&s->nodes, &s->cap_nodes, s->nnodes + 1, sizeof(*s->nodes)) != 0) return STV_ENOMEM;
  if ((n = stv_calloc(1, sizeof(*n))) == NULL) return STV_ENOMEM;
  s->nodes[s->nnodes++] = n;
  n->sim = s;
  n->tmpl = (uint32_t)ti;
  n->since = since;
  n->cpu = t->alloc[STV_RES_CPU];
  n->mem = t->alloc[STV_RES_MEMORY];
  n->max_pods = t->alloc[STV_RES_PODS];
  n->gpu = s->gpu_dim >= 0 ? t->alloc[s->gpu_dim] : 0;
  n->price = t->price;
  n->pid = pid ? stv_strdup(pid) : NULL;
  n->group = group ? stv_strdup(group) : NULL;
  if ((pid && n->pid == NULL) || (group && n->group == NULL)) return STV_ENOMEM;
  if (pid == NULL || stv_sim_node_name(pid, n->name, sizeof(n->name)) != 0)
    snprintf(n->name, sizeof(n->name), "static-%zu", s->nnodes);
  if (delay <= 0) {
    n->ready = 1;
    n->empty_since = now(s);
    return 0;
  }
  return stv_clock_start(s->clock, &n->reg, delay, node_register_cb, n);
}

/* Evicts every pod of node ni: they go pending again. */
static void node_drain(struct sim *s, uint32_t ni) {
  size_t i;
  for (i = 0; i < s->npods && s->nodes[ni]->npods > 0; i++) {
    struct spod *p = s->pods[i];
    if (p->state != POD_RUNNING || p->node != (int32_t)ni) continue;
    if (s->sc->workloads[p->wl].job) p->ran += now(s) - p->bound_at;
    pod_unbind(s, p, POD_PENDING);
    s->evictions++;
    if (i < s->first_pending) s->first_pending = i;
  }
}

static void node_gone(struct sim *s, uint32_t ni) {
  struct snode *n = s->nodes[ni];
  if (n->gone) return;
  node_drain(s, ni);
  stv_clock_stop(s->clock, &n->reg);
  n->gone = 1;
  n->gone_at = now(s);
  s->nodes_removed++;
  if (s->prov && n->ready) stv_provision_node_deleted(s->prov, n->name, n->pid);
  schedule_soon(s);
}

static void on_cloud_event(void *ctx, const struct stv_cloud_event *ev) {
  struct sim *s = ctx;
  const struct stv_cloud_instance *in = ev->instance;
  int32_t ni, ti;
  switch (ev->kind) {
  case STV_CLOUD_EV_RUNNING:
    if (node_by_id(s, in->provider_id) >= 0) {
      note(s, "error", "instance %s reported running twice", in->provider_id);
      break;
    }
    if ((ti = template_index(s, in->instance_type, in->zone, in->capacity_type)) < 0) {
      note(s, "error", "instance %s: offering %s in %s is not in the catalogue", in->provider_id,
           in->instance_type, in->zone);
      break;
    }
    if (stv__sim_node_add(s, ti, in->provider_id, in->group_id, now(s), s->sc->register_delay) != 0)
      s->nomem = 1;
    s->nodes_launched++;
    break;
  case STV_CLOUD_EV_INTERRUPTION:
    if ((ni = node_by_id(s, in->provider_id)) >= 0) {
      s->interruptions++;
      note(s, "interruption",
           "spot node %s gets an interruption notice: its %u pods are evicted now, the node goes "
           "in %.0f s",
           s->nodes[ni]->name, s->nodes[ni]->npods, ev->deadline);
      s->nodes[ni]->cordoned = 1;
      node_drain(s, (uint32_t)ni);
      schedule_soon(s);
    }
    break;
  case STV_CLOUD_EV_TERMINATED:
    if ((ni = node_by_id(s, in->provider_id)) >= 0) node_gone(s, (uint32_t)ni);
    break;
  case STV_CLOUD_EV_LAUNCH_FAILED:
  default:
    break;
  }
  if (s->prov) stv_provision_cloud_event(s->prov, ev);
}

/* ---------------------------------------------------------------------- */
/* Removing empty nodes                                                   */

struct deletion {
  struct sim *s;
  char pid[96];
};

static void delete_done(void *ctx, const struct stv_cloud_result *r) {
  struct deletion *d = ctx;
  struct sim *s = d->s;
  int32_t ni = node_by_id(s, d->pid);
  if (ni >= 0) s->nodes[ni]->deleting = 0;
  if (r->code == 0) {
    if (ni >= 0) node_gone(s, (uint32_t)ni);
  } else {
    note(s, "error", "deleting empty node %s failed: %s (%s)", d->pid, stv_strerror(r->code), r->message);
  }
  stv_free(d);
}

/* Free cpu and memory of the ready nodes other than skip, against what headroom keeps. */
static int headroom_allows(const struct sim *s, size_t skip) {
  int64_t cpu = 0, mem = 0, want_cpu, want_mem;
  size_t i;
  want_cpu = (int64_t)s->sc->headroom.count * s->sc->headroom.cpu;
  want_mem = (int64_t)s->sc->headroom.count * s->sc->headroom.memory;
  if (want_cpu == 0 && want_mem == 0) return 1;
  for (i = 0; i < s->nnodes; i++) {
    const struct snode *n = s->nodes[i];
    if (i == skip || !n->ready || n->gone || n->cordoned) continue;
    cpu += n->cpu - n->used_cpu;
    mem += n->mem - n->used_mem;
  }
  return cpu >= want_cpu && mem >= want_mem;
}

/*
 * Deletes nodes empty for empty_after seconds (Cluster Autoscaler's
 * scale-down-unneeded-time, Karpenter's consolidation of empty nodes),
 * the same for every policy; a node that headroom needs stays.
 */
static void remove_empty(struct sim *s) {
  size_t i;
  for (i = 0; i < s->nnodes; i++) {
    struct snode *n = s->nodes[i];
    struct deletion *d;
    const char *ids[1];
    if (!n->ready || n->gone || n->deleting || n->npods > 0 || n->pid == NULL) continue;
    if (now(s) - n->empty_since < s->sc->empty_after || !headroom_allows(s, i)) continue;
    if ((d = stv_calloc(1, sizeof(*d))) == NULL) {
      s->nomem = 1;
      return;
    }
    d->s = s;
    snprintf(d->pid, sizeof(d->pid), "%s", n->pid);
    ids[0] = n->pid;
    n->deleting = 1;
    n->cordoned = 1;
    note(s, "scale_down", "node %s (%s) has been empty for %.0f s: deleting it", n->name,
         s->tmpl.v[n->tmpl].instance_type, now(s) - n->empty_since);
    if (s->cloud->ops->delete_instances(s->cloud, n->group, ids, 1, delete_done, d) != 0) {
      n->deleting = 0;
      stv_free(d);
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Samples                                                                */

static void sample_cb(struct stv_timer *t) {
  struct sim *s = t->data;
  struct stv_sim_sample *x;
  size_t i;
  int64_t cpu = 0;
  if (stv_grow((void **)&s->r->samples, &s->cap_samples, s->r->nsamples + 1, sizeof(*s->r->samples)) != 0) {
    s->nomem = 1;
    return;
  }
  x = &s->r->samples[s->r->nsamples++];
  memset(x, 0, sizeof(*x));
  x->t = now(s);
  x->pending = (uint32_t)s->npending;
  for (i = 0; i < s->nnodes; i++) {
    if (s->nodes[i]->gone) continue;
    x->nodes++;
    x->cost_per_hour += s->nodes[i]->price;
  }
  /* The pods alive when the requested cpu peaked, for the static policy (sized for that instant). */
  for (i = 0; i < s->sc->nworkloads; i++) cpu += s->wl_alive[i] * s->sc->workloads[i].cpu;
  if (cpu > s->peak_cpu && s->r->peak_pods) {
    s->peak_cpu = cpu;
    for (i = 0; i < s->sc->nworkloads; i++) s->r->peak_pods[i] = s->wl_alive[i];
  }
  if (now(s) + s->sc->sample_every <= s->sc->duration &&
      stv_clock_start(s->clock, &s->sample, s->sc->sample_every, sample_cb, s) != 0)
    s->nomem = 1;
}

static void house_cb(struct stv_timer *t) {
  struct sim *s = t->data;
  if (s->policy != STV_SIM_STATIC_PEAK) remove_empty(s);
  if (stv_clock_start(s->clock, &s->house, HOUSEKEEPING, house_cb, s) != 0) s->nomem = 1;
}

/* ---------------------------------------------------------------------- */
/* The view the reconciler solves on                                      */

static int view_snapshot(void *ctx, struct stv_snapshot *snap, const char ***ids, struct stv_err *err) {
  struct sim *s = ctx;
  return stv__sim_snapshot(s, snap, ids, err);
}

/* ---------------------------------------------------------------------- */
/* The figures                                                            */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The value at fraction q of the sorted v[0..n) (nearest rank). */
static double rank(const double *v, size_t n, double q) {
  size_t k;
  if (n == 0) return 0;
  k = (size_t)ceil(q * (double)n);
  return v[k > 0 ? k - 1 : 0];
}

static void figures(struct sim *s) {
  struct stv_sim_result *r = s->r;
  struct stv_sim_usage u;
  double *wait, end = s->sc->duration, h;
  size_t i, n = 0;
  for (i = 0; i < s->nnodes; i++) {
    const struct snode *nd = s->nodes[i];
    enum stv_capacity_type ct = s->tmpl.v[nd->tmpl].capacity_type;
    h = ((nd->gone ? nd->gone_at : end) - nd->since) / 3600.0;
    r->node_hours_by_ct[ct] += h;
    r->cost_by_ct[ct] += h * nd->price;
    r->node_hours += h;
    r->cost += h * nd->price;
  }
  /* The provider bills what it ran; both sums must agree (docs/simulate.md). */
  if (s->cloud && stv_sim_usage(s->cloud, &u) == 0) {
    double ph = 0, pc = 0;
    int ct;
    for (ct = 0; ct < STV_CT_COUNT; ct++) {
      ph += u.node_hours[ct];
      pc += u.cost[ct];
    }
    if (fabs(ph - r->node_hours) > 1e-6 * (1 + ph) || fabs(pc - r->cost) > 1e-6 * (1 + pc))
      note(s, "warning", "the cluster counted %.4f node-hours (%.4f) and the provider billed %.4f (%.4f)",
           r->node_hours, r->cost, ph, pc);
  }
  r->pods = s->npods;
  r->scheduled = s->scheduled;
  r->evictions = s->evictions;
  r->interruptions = s->interruptions;
  r->nodes_launched = s->nodes_launched;
  r->nodes_removed = s->nodes_removed;
  r->pending_at_end = s->npending;
  if ((wait = stv_calloc(s->npods + 1, sizeof(*wait))) == NULL) {
    s->nomem = 1;
    return;
  }
  for (i = 0; i < s->npods; i++) {
    const struct spod *p = s->pods[i];
    if (p->first_bind >= 0)
      wait[n++] = p->first_bind - p->arrive;
    else if (p->state == POD_PENDING)
      r->unscheduled++;
  }
  qsort(wait, n, sizeof(*wait), cmp_double);
  r->wait_p50 = rank(wait, n, 0.50);
  r->wait_p99 = rank(wait, n, 0.99);
  r->wait_max = n ? wait[n - 1] : 0;
  stv_free(wait);
}

/* ---------------------------------------------------------------------- */
/* A run                                                                  */

static int start_workloads(struct sim *s) {
  size_t i;
  int rc;
  if ((s->work = stv_calloc(s->sc->nworkloads + 1, sizeof(*s->work))) == NULL) return STV_ENOMEM;
  for (i = 0; i < s->sc->nworkloads; i++) {
    const struct stv_scn_workload *w = &s->sc->workloads[i];
    double at = w->job ? w->at : w->nsteps ? w->steps[0].at : INFINITY;
    s->work[i].sim = s;
    s->work[i].wl = (uint32_t)i;
    if (!isfinite(at) || at > s->sc->duration) continue;
    if ((rc = stv_clock_start(s->clock, &s->work[i].t, at, workload_cb, &s->work[i])) != 0) return rc;
  }
  return 0;
}

static void sim_close(struct sim *s) {
  size_t i;
  stv_vclock_close(&s->vc);
  if (s->prov) stv_provision_free(s->prov);
  if (s->cloud) s->cloud->ops->close(s->cloud);
  for (i = 0; i < s->npods; i++) stv_free(s->pods[i]);
  stv_free(s->pods);
  for (i = 0; i < s->nnodes; i++) {
    stv_free(s->nodes[i]->pid);
    stv_free(s->nodes[i]->group);
    stv_free(s->nodes[i]);
  }
  stv_free(s->nodes);
  stv_free(s->work);
  stv__sim_model_close(s);
}

int stv_sim_run(const struct stv_scenario *sc, const struct stv_catalog *catalog, int policy,
                const int64_t *peak_pods, stv_decision_cb on_decision, void *decision_ctx,
                struct stv_sim_result *r, struct stv_err *err) {
  struct sim s;
  struct stv_provision_stats ps;
  double t0 = stv_monotonic_seconds();
  int rc;
  memset(r, 0, sizeof(*r));
  memset(&s, 0, sizeof(s));
  r->policy = policy == STV_SIM_STATIC_PEAK ? "static-peak" : stv_policy_name((enum stv_policy)policy);
  s.sc = sc;
  s.full = catalog;
  s.cat = catalog;
  s.narrow = &s.narrow_store;
  s.r = r;
  s.policy = policy;
  s.on_decision = on_decision;
  s.decision_ctx = decision_ctx;
  stv_vclock_init(&s.vc, 0);
  s.clock = &s.vc.clock;
  if ((rc = stv__sim_model_init(&s, err)) != 0) goto out;
  if ((r->peak_pods = stv_calloc(sc->nworkloads + 1, sizeof(*r->peak_pods))) == NULL) goto nomem;
  if (policy == STV_SIM_STATIC_PEAK)
    rc = stv__sim_static_nodes(&s, peak_pods, err);
  else
    rc = stv__sim_autoscaler(&s, (enum stv_policy)policy, on_cloud_event, view_snapshot, err);
  if (rc != 0) goto out;
  if ((rc = start_workloads(&s)) != 0 || (rc = stv_clock_start(s.clock, &s.sample, 0, sample_cb, &s)) != 0 ||
      (rc = stv_clock_start(s.clock, &s.house, HOUSEKEEPING, house_cb, &s)) != 0)
    goto nomem;
  stv_vclock_run_until(&s.vc, sc->duration);
  if (s.nomem) goto nomem;
  figures(&s);
  if (s.prov) {
    stv_provision_get_stats(s.prov, &ps);
    r->prov = ps;
    r->scale_ups = ps.scale_ups;
    r->launch_failures = ps.launch_failures;
    r->given_up = ps.given_up;
  }
  r->wall_s = stv_monotonic_seconds() - t0;
  goto out;
nomem:
  rc = stv_err_set(err, STV_ENOMEM, "simulate: out of memory");
out:
  sim_close(&s);
  return rc;
}

void stv_sim_result_close(struct stv_sim_result *r) {
  stv_free(r->samples);
  stv_free(r->peak_pods);
  memset(r, 0, sizeof(*r));
}
