/*
 * Tests of stv_pack, through the public API only: where pending pods go,
 * what they cost, what is listed as unschedulable and why, and the
 * properties every plan must have (each pending pod placed once or listed,
 * no node over capacity, DaemonSet overhead reserved on new nodes, static
 * predicates and reserved counts respected, a lower bound never above the
 * cost, determinism, clean STV_ENOMEM). The last ones are also checked on
 * a few hundred seeded random problems.
 *
 * Instance types are modelled on AWS (allocatable as EKS reports it, Linux
 * on-demand prices in us-east-1).
 */
#include <math.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "builders.h"
#include "harness.h"
#include "packer.h"

#define MI STV_TEST_MI
#define GI STV_TEST_GI

#define POD(...) stv_test_pod(&fx->s, &(struct stv_test_pod_opts){__VA_ARGS__})
#define NODE(...) stv_test_node(&fx->s, &(struct stv_test_node_opts){__VA_ARGS__})
#define TMPL(...) stv_test_fx_template(fx, &(struct stv_test_tmpl_opts){__VA_ARGS__})

struct itype {
  const char *name;
  int64_t cpu_m, mem_mi;
  double price;
  int64_t gpus;
};

static const struct itype catalogue[] = {
    {"c5.large", 1930, 3187, 0.085, 0},    {"m5.large", 1930, 7134, 0.096, 0},
    {"r5.large", 1930, 15207, 0.126, 0},   {"c5.xlarge", 3920, 6488, 0.170, 0},
    {"m5.xlarge", 3920, 14481, 0.192, 0},  {"m5.2xlarge", 7910, 29317, 0.384, 0},
    {"g4dn.xlarge", 3920, 14481, 0.526, 1},
};
#define NCATALOGUE (sizeof(catalogue) / sizeof(catalogue[0]))

static const struct itype *itype(const char *name) {
  size_t i;
  for (i = 0; i < NCATALOGUE; i++)
    if (strcmp(catalogue[i].name, name) == 0) return &catalogue[i];
  return NULL;
}

/* A template of a catalogue type in zone; price < 0 keeps the list price. */
static int add_type(struct stv_test_fx *fx, const char *type, const char *zone, double price) {
  const struct itype *t = itype(type);
  if (t == NULL) return STV_EINVAL;
  return TMPL(.instance_type = type, .zone = zone, .cpu_m = t->cpu_m, .mem_mi = t->mem_mi,
              .price = price < 0 ? t->price : price, .res = t->gpus ? "nvidia.com/gpu" : NULL,
              .res_qty = t->gpus);
}

/* An existing node of a catalogue type. */
static int add_node(struct stv_test_fx *fx, const char *name, const char *type, const char *zone) {
  const struct itype *t = itype(type);
  if (t == NULL) return STV_EINVAL;
  return NODE(.name = name, .cpu_m = t->cpu_m, .mem_mi = t->mem_mi, .zone = zone, .instance_type = type,
              .capacity_type = "on-demand", .res = t->gpus ? "nvidia.com/gpu" : NULL, .res_qty = t->gpus);
}

static const struct stv_class *class_of(const struct stv_test_fx *fx, uint32_t pod) {
  return fx->s.classes[fx->s.pods[pod].cls];
}

static int is_pending(const struct stv_test_fx *fx, uint32_t pod) {
  const struct stv_pod *p = &fx->s.pods[pod];
  return p->node_name == NULL && p->phase != STV_PHASE_SUCCEEDED && p->phase != STV_PHASE_FAILED &&
         !class_of(fx, pod)->daemonset;
}

static int is_bound(const struct stv_test_fx *fx, uint32_t pod) {
  const struct stv_pod *p = &fx->s.pods[pod];
  return p->node >= 0 && p->phase != STV_PHASE_SUCCEEDED && p->phase != STV_PHASE_FAILED;
}

/* The predicates' view of plan node i. */
static struct stv_node_view plan_view(const struct stv_test_fx *fx, size_t i) {
  const struct stv_plan_node *pn = &fx->plan.nodes[i];
  struct stv_node_view v;
  if (pn->existing >= 0) {
    const struct stv_node *n = &fx->s.nodes[pn->existing];
    v.name = n->name;
    v.labels = &n->labels;
    v.ntaints = n->ntaints;
    v.taints = n->taints;
    v.unschedulable = n->unschedulable;
  } else {
    const struct stv_template *t = &fx->tmpl[pn->tmpl];
    v.name = NULL;
    v.labels = &t->labels;
    v.ntaints = t->ntaints;
    v.taints = t->taints;
    v.unschedulable = 0;
  }
  return v;
}

/*
 * DaemonSet overhead a new node of template t carries, computed from the
 * snapshot: every DaemonSet whose pods may run there (one class per
 * DaemonSet uid; the largest request when it has several).
 */
static void ds_overhead(const struct stv_test_fx *fx, const struct stv_template *t, int64_t *out) {
  struct stv_node_view v = {NULL, &t->labels, t->ntaints, t->taints, 0};
  size_t c, d;
  int r;
  memset(out, 0, STV_MAX_RES * sizeof(*out));
  for (c = 0; c < fx->s.nclasses; c++) {
    const struct stv_class *k = fx->s.classes[c];
    int first = 1;
    if (!k->daemonset || !stv_class_fits_node(k, &v, NULL, 0)) continue;
    for (d = 0; d < c; d++) {
      const struct stv_class *o = fx->s.classes[d];
      if (o->daemonset && o->owner_uid == k->owner_uid && stv_class_fits_node(o, &v, NULL, 0)) first = 0;
    }
    if (!first) continue;
    for (r = 0; r < STV_MAX_RES; r++) {
      int64_t most = k->req[r];
      for (d = c + 1; d < fx->s.nclasses; d++) {
        const struct stv_class *o = fx->s.classes[d];
        if (o->daemonset && o->owner_uid == k->owner_uid && o->req[r] > most) most = o->req[r];
      }
      out[r] += most;
    }
  }
}

/*
 * Where each pod runs once the plan is carried out: a domain index for the
 * hostname level (an existing node, or snap->nnodes + a plan node) and a
 * zone, for bound pods and the pods the plan places; -1 / NULL otherwise.
 */
struct where {
  long *node;
  const char **zone;
  int *placed;
};

/* Whether d names a node: an existing one, or a plan node that is new. */
static int is_domain(const struct stv_test_fx *fx, long d) {
  return d >= 0 && ((size_t)d < fx->s.nnodes || fx->plan.nodes[d - (long)fx->s.nnodes].existing < 0);
}

static const char *node_zone(const struct stv_test_fx *fx, long d) {
  if (!is_domain(fx, d)) return NULL;
  if ((size_t)d < fx->s.nnodes) return stv_labels_get(&fx->s.nodes[d].labels, STV_TEST_ZONE_KEY);
  return stv_test_plan_zone(fx, (size_t)d - fx->s.nnodes);
}

/* The predicates' view of domain d (an existing node or a new plan node). */
static struct stv_node_view domain_view(const struct stv_test_fx *fx, long d) {
  struct stv_node_view v;
  if ((size_t)d < fx->s.nnodes) {
    const struct stv_node *n = &fx->s.nodes[d];
    v.name = n->name;
    v.labels = &n->labels;
    v.ntaints = n->ntaints;
    v.taints = n->taints;
  } else {
    const struct stv_template *t = &fx->tmpl[fx->plan.nodes[d - (long)fx->s.nnodes].tmpl];
    v.name = NULL;
    v.labels = &t->labels;
    v.ntaints = t->ntaints;
    v.taints = t->taints;
  }
  v.unschedulable = 0;
  return v;
}

static int where_init(const struct stv_test_fx *fx, struct where *w) {
  size_t i, n = fx->s.npods;
  uint32_t q;
  w->node = malloc((n + 1) * sizeof(*w->node));
  w->zone = malloc((n + 1) * sizeof(*w->zone));
  w->placed = calloc(n + 1, sizeof(*w->placed));
  if (w->node == NULL || w->zone == NULL || w->placed == NULL) return -1;
  for (i = 0; i < n; i++) w->node[i] = is_bound(fx, (uint32_t)i) ? fx->s.pods[i].node : -1;
  for (i = 0; i < fx->plan.nnodes; i++) {
    const struct stv_plan_node *pn = &fx->plan.nodes[i];
    for (q = 0; q < pn->npods; q++) {
      if (pn->pods[q] >= n) continue;
      w->node[pn->pods[q]] = pn->existing >= 0 ? pn->existing : (long)(fx->s.nnodes + i);
      w->placed[pn->pods[q]] = 1;
    }
  }
  for (i = 0; i < n; i++) w->zone[i] = node_zone(fx, w->node[i]);
  return 0;
}

static void where_free(struct where *w) {
  free(w->node);
  free(w->zone);
  free(w->placed);
}

static int is_host_key(const char *k) { return strcmp(k, STV_TEST_HOST_KEY) == 0; }
static int is_zone_key(const char *k) { return strcmp(k, STV_TEST_ZONE_KEY) == 0; }

/* 1 when pods a and b share the domain of topology key. */
static int same_domain(const struct where *w, uint32_t a, uint32_t b, const char *key) {
  if (w->node[a] < 0 || w->node[b] < 0) return 0;
  if (is_host_key(key)) return w->node[a] == w->node[b];
  if (is_zone_key(key)) return w->zone[a] != NULL && w->zone[b] != NULL && strcmp(w->zone[a], w->zone[b]) == 0;
  return 0;
}

/* 1 when term t of a pod of class owner counts pod b. */
static int term_counts(const struct stv_test_fx *fx, const struct stv_pod_term *t, const struct stv_class *owner,
                       uint32_t b) {
  const struct stv_class *kb = class_of(fx, b);
  if (t->match_none) return 0;
  return stv_term_covers_ns(&fx->s, t, owner->ns, kb->ns) && stv_selector_matches(&t->sel, &kb->labels);
}

/* 1 when a spread constraint of a pod of class owner counts pod b. */
static int spread_counts(const struct stv_test_fx *fx, const struct stv_spread *sp, const struct stv_class *owner,
                         uint32_t b) {
  const struct stv_class *kb = class_of(fx, b);
  if (sp->match_none || strcmp(owner->ns, kb->ns) != 0) return 0;
  if (sp->sel.n == 0) return 0; /* kube-scheduler counts no pods for an empty selector */
  return stv_selector_matches(&sp->sel, &kb->labels);
}

/* Whether domain d is a domain of spread constraint sp of class owner. */
static int spread_domain(const struct stv_test_fx *fx, const struct stv_spread *sp, const struct stv_class *owner,
                         long d) {
  struct stv_class probe = *owner;
  struct stv_node_view v = domain_view(fx, d);
  if (is_zone_key(sp->topology_key) && stv_labels_get(v.labels, STV_TEST_ZONE_KEY) == NULL) return 0;
  if (!sp->honor_taints) v.ntaints = 0;
  if (!sp->honor_node_affinity) {
    probe.node_selector.n = 0;
    probe.affinity.n = 0;
  }
  return stv_class_fits_node(&probe, &v, NULL, 0);
}

/*
 * Checks the required inter-pod rules of every placed pod against the
 * cluster as the plan leaves it (bound pods plus placed pods), the way
 * kube-scheduler would judge them: anti-affinity both ways, affinity (the
 * first pod of a group that matches its own term may start anywhere), and
 * DoNotSchedule topology spread over the domains that exist after the plan.
 */
static int check_rules(const struct stv_test_fx *fx, const struct where *w, char *why, size_t whysize) {
  const struct stv_snapshot *s = &fx->s;
  size_t ndom = s->nnodes + fx->plan.nnodes;
  long *cnt = calloc(ndom + 1, sizeof(long));
  const char **zname = calloc(ndom + 1, sizeof(char *));
  long *zcnt = calloc(ndom + 1, sizeof(long));
  unsigned char *zel = calloc(ndom + 1, 1);
  uint32_t a, b, i;
  int rc = 0;
  if (cnt == NULL || zname == NULL || zcnt == NULL || zel == NULL) {
    snprintf(why, whysize, "test out of memory");
    rc = -1;
    goto out;
  }
  for (a = 0; a < s->npods && rc == 0; a++) {
    const struct stv_class *ka = class_of(fx, a);
    if (!w->placed[a]) continue;
    /* Anti-affinity: a's terms against every pod beside it, and theirs against a. */
    for (b = 0; b < s->npods && rc == 0; b++) {
      const struct stv_class *kb = class_of(fx, b);
      if (b == a || w->node[b] < 0) continue;
      for (i = 0; i < ka->nanti && rc == 0; i++)
        if (same_domain(w, a, b, ka->anti[i].topology_key) && term_counts(fx, &ka->anti[i], ka, b)) rc = -1;
      for (i = 0; i < kb->nanti && rc == 0; i++)
        if (same_domain(w, a, b, kb->anti[i].topology_key) && term_counts(fx, &kb->anti[i], kb, a)) rc = -1;
      if (rc != 0)
        snprintf(why, whysize, "pod %s placed in the domain of %s against anti-affinity", s->pods[a].name,
                 s->pods[b].name);
    }
    /* Affinity. */
    for (i = 0; i < ka->naff && rc == 0; i++) {
      const struct stv_pod_term *t = &ka->aff[i];
      int beside = 0, elsewhere = 0;
      for (b = 0; b < s->npods; b++) {
        if (b == a || w->node[b] < 0 || !term_counts(fx, t, ka, b)) continue;
        if (same_domain(w, a, b, t->topology_key))
          beside = 1;
        else
          elsewhere = 1;
      }
      if (!beside && (elsewhere || !term_counts(fx, t, ka, a))) {
        snprintf(why, whysize, "pod %s placed without the pods its affinity (%s) needs", s->pods[a].name,
                 t->topology_key);
        rc = -1;
      }
    }
    /* Topology spread. */
    for (i = 0; i < ka->nspread && rc == 0; i++) {
      const struct stv_spread *sp = &ka->spread[i];
      long min = -1, here, d, nz = 0, z, neligible = 0;
      int host = is_host_key(sp->topology_key);
      if (!sp->do_not_schedule || (!host && !is_zone_key(sp->topology_key))) continue;
      memset(cnt, 0, (ndom + 1) * sizeof(long));
      for (b = 0; b < s->npods; b++)
        if (w->node[b] >= 0 && spread_counts(fx, sp, ka, b)) cnt[w->node[b]]++;
      if (host) {
        for (d = 0; d < (long)ndom; d++) {
          if (!is_domain(fx, d) || !spread_domain(fx, sp, ka, d)) continue;
          neligible++;
          if (min < 0 || cnt[d] < min) min = cnt[d];
        }
        here = cnt[w->node[a]];
      } else {
        /* Fold nodes into zones. */
        for (d = 0; d < (long)ndom; d++) {
          const char *zn = node_zone(fx, d);
          if (zn == NULL) continue;
          z = 0;
          while (z < nz && strcmp(zname[z], zn) != 0) z++;
          if (z == nz) {
            zname[nz] = zn;
            zcnt[nz] = 0;
            zel[nz] = 0;
            nz++;
          }
          /* Pods count only on nodes that are domains of the constraint. */
          if (spread_domain(fx, sp, ka, d)) {
            zcnt[z] += cnt[d];
            zel[z] = 1;
          }
        }
        here = -1;
        for (z = 0; z < nz; z++) {
          neligible += zel[z];
          if (zel[z] && (min < 0 || zcnt[z] < min)) min = zcnt[z];
          if (w->zone[a] != NULL && strcmp(zname[z], w->zone[a]) == 0) here = zcnt[z];
        }
      }
      if (min < 0 || here < 0) continue;
      if (sp->min_domains > 0 && neligible < sp->min_domains) min = 0;
      if (here > min + sp->max_skew) {
        snprintf(why, whysize, "pod %s placed where its %s spread count is %ld, minimum %ld, maxSkew %d",
                 s->pods[a].name, sp->topology_key, here, min, sp->max_skew);
        rc = -1;
      }
    }
  }
out:
  free(cnt);
  free(zname);
  free(zcnt);
  free(zel);
  return rc;
}

#define FAIL_WHY(...)                      \
  do {                                     \
    snprintf(why, whysize, __VA_ARGS__);   \
    rc = -1;                               \
    goto out;                              \
  } while (0)

/*
 * Checks the properties every plan must have. Returns 0, or -1 with a
 * description in why.
 */
static int check_plan(const struct stv_test_fx *fx, char *why, size_t whysize) {
  const struct stv_snapshot *s = &fx->s;
  const struct stv_plan *plan = &fx->plan;
  int *seen = calloc(s->npods + 1, sizeof(int)), *listed = calloc(s->npods + 1, sizeof(int));
  size_t *per_tmpl = calloc(fx->ntmpl + 1, sizeof(size_t));
  size_t i, nnew = 0, nplaced = 0, npending = 0;
  struct where w = {NULL, NULL, NULL};
  double cost = 0;
  uint32_t q;
  int r, rc = 0;
  if (seen == NULL || listed == NULL || per_tmpl == NULL) FAIL_WHY("test out of memory");
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    struct stv_node_view v = plan_view(fx, i);
    int64_t load[STV_MAX_RES];
    size_t j;
    if (pn->existing >= 0) {
      if ((size_t)pn->existing >= s->nnodes || pn->tmpl != -1) FAIL_WHY("plan node %zu: bad indexes", i);
      memcpy(load, s->nodes[pn->existing].used, sizeof(load));
    } else {
      if (pn->tmpl < 0 || (size_t)pn->tmpl >= fx->ntmpl) FAIL_WHY("plan node %zu: bad template", i);
      ds_overhead(fx, &fx->tmpl[pn->tmpl], load);
      nnew++;
      cost += fx->tmpl[pn->tmpl].price;
      per_tmpl[pn->tmpl]++;
    }
    if (pn->npods == 0) FAIL_WHY("plan node %zu (%s) is empty", i, pn->name);
    for (j = 0; j < i; j++)
      if (strcmp(plan->nodes[j].name, pn->name) == 0) FAIL_WHY("plan nodes %zu and %zu are both %s", j, i, pn->name);
    for (q = 0; q < pn->npods; q++) {
      uint32_t p = pn->pods[q];
      char wmsg[160] = "";
      if (p >= s->npods) FAIL_WHY("plan node %zu: pod index %u out of range", i, p);
      if (!is_pending(fx, p)) FAIL_WHY("pod %s/%s is not pending but placed", s->pods[p].ns, s->pods[p].name);
      seen[p]++;
      nplaced++;
      for (r = 0; r < s->res.n; r++) load[r] += class_of(fx, p)->req[r];
      if (!stv_class_fits_node(class_of(fx, p), &v, wmsg, sizeof(wmsg)))
        FAIL_WHY("pod %s placed on %s which it may not use: %s", s->pods[p].name, pn->name, wmsg);
    }
    for (r = 0; r < s->res.n; r++) {
      int64_t alloc = pn->existing >= 0 ? s->nodes[pn->existing].alloc[r] : fx->tmpl[pn->tmpl].alloc[r];
      if (load[r] > alloc)
        FAIL_WHY("plan node %zu (%s): %s %lld over allocatable %lld", i, pn->name, s->res.name[r], (long long)load[r],
                 (long long)alloc);
    }
  }
  for (i = 0; i < plan->nunsched; i++) {
    uint32_t p = plan->unsched[i].pod;
    if (p >= s->npods) FAIL_WHY("unschedulable pod index %u out of range", p);
    if (!is_pending(fx, p)) FAIL_WHY("pod %s is not pending but listed", s->pods[p].name);
    if (plan->unsched[i].reason[0] == '\0') FAIL_WHY("pod %s listed without a reason", s->pods[p].name);
    listed[p]++;
  }
  for (i = 0; i < s->npods; i++) {
    if (!is_pending(fx, (uint32_t)i)) continue;
    npending++;
    if (seen[i] + listed[i] != 1)
      FAIL_WHY("pending pod %s/%s placed %d times and listed %d times", s->pods[i].ns, s->pods[i].name, seen[i],
               listed[i]);
  }
  for (i = 0; i < fx->ntmpl; i++)
    if (fx->tmpl[i].limit >= 0 && (int64_t)per_tmpl[i] > fx->tmpl[i].limit)
      FAIL_WHY("template %zu (%s, limit %lld) used %zu times", i, fx->tmpl[i].instance_type,
               (long long)fx->tmpl[i].limit, per_tmpl[i]);
  if (plan->npending != npending || plan->nplaced != nplaced || plan->nnew != nnew ||
      plan->nplaced + plan->nunsched != plan->npending)
    FAIL_WHY("counters: npending %zu (want %zu), nplaced %zu (want %zu), nnew %zu (want %zu), nunsched %zu",
             plan->npending, npending, plan->nplaced, nplaced, plan->nnew, nnew, plan->nunsched);
  if (fabs(plan->new_cost - cost) > 1e-9 * (1 + cost))
    FAIL_WHY("new_cost %.6f, templates add up to %.6f", plan->new_cost, cost);
  if (plan->has_lower_bound && (plan->lower_bound < 0 || plan->lower_bound > plan->new_cost + 1e-9))
    FAIL_WHY("lower bound %.9f outside [0, cost %.9f]", plan->lower_bound, plan->new_cost);
  if (where_init(fx, &w) != 0) FAIL_WHY("test out of memory");
  rc = check_rules(fx, &w, why, whysize);
out:
  where_free(&w);
  free(seen);
  free(listed);
  free(per_tmpl);
  return rc;
}

/* Packs fx and checks the plan's invariants; ends the test on failure. */
#define SOLVE()                                                   \
  do {                                                            \
    char why__[512];                                              \
    int rc__ = stv_test_fx_solve(fx);                             \
    if (rc__ != 0) fprintf(stderr, "  stv_pack: %s\n", fx->err.msg); \
    CHECK_EQ_INT(rc__, 0);                                        \
    if (check_plan(fx, why__, sizeof(why__)) != 0) {              \
      fprintf(stderr, "  invalid plan: %s\n", why__);             \
      CHECK(0);                                                   \
    }                                                             \
  } while (0)

/* The plan node holding pod p, or a stand-in (existing and tmpl -2) when p is not placed. */
static const struct stv_plan_node *node_of(const struct stv_test_fx *fx, int p) {
  static const struct stv_plan_node none = {-2, -2, "(not placed)", 0, NULL, 0, NULL};
  long i = stv_test_node_of(&fx->plan, (uint32_t)p);
  return i < 0 ? &none : &fx->plan.nodes[i];
}

/* The zone of the plan node holding pod p, or "(not placed)". */
static const char *zone_of(const struct stv_test_fx *fx, int p) {
  long i = stv_test_node_of(&fx->plan, (uint32_t)p);
  const char *z = i < 0 ? "(not placed)" : stv_test_plan_zone(fx, (size_t)i);
  return z != NULL ? z : "(no zone)";
}

/* Placed pods of [first, first + n) on plan nodes in zone. */
static int placed_in_zone(const struct stv_test_fx *fx, int first, int n, const char *zone) {
  int p, k = 0;
  for (p = first; p < first + n; p++) {
    long i = stv_test_node_of(&fx->plan, (uint32_t)p);
    const char *z;
    if (i < 0) continue;
    z = stv_test_plan_zone(fx, (size_t)i);
    k += z != NULL && strcmp(z, zone) == 0;
  }
  return k;
}

/* Pods of [first, first + n) on plan node i. */
static int on_node(const struct stv_test_fx *fx, size_t i, int first, int n) {
  uint32_t q;
  int k = 0;
  for (q = 0; q < fx->plan.nodes[i].npods; q++)
    k += (int)fx->plan.nodes[i].pods[q] >= first && (int)fx->plan.nodes[i].pods[q] < first + n;
  return k;
}

/* ---------------------------------------------------------------------- */
/* Existing nodes                                                         */

STV_TEST_FX(should_place_pending_pods_on_existing_free_capacity_first) {
  int web, p;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.xlarge", "us-east-1a") == 0);
  CHECK(POD(.name = "db", .cpu_m = 1000, .mem_mi = 2048, .node_name = "ip-10-0-1-17",
            .phase = STV_PHASE_RUNNING) >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .count = 4)) >= 0);
  CHECK(add_type(fx, "c5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.npending, 4);
  CHECK_EQ_INT(fx->plan.nplaced, 4);
  CHECK_EQ_INT(fx->plan.nnew, 0);
  CHECK(fx->plan.new_cost == 0);
  for (p = web; p < web + 4; p++) {
    long i = stv_test_node_of(&fx->plan, (uint32_t)p);
    CHECK(i >= 0);
    CHECK_EQ_INT(fx->plan.nodes[i].existing, 0);
    CHECK_STR_CONTAINS(fx->plan.nodes[i].name, "ip-10-0-1-17");
  }
}

STV_TEST_FX(should_open_new_nodes_only_for_what_existing_nodes_cannot_hold) {
  int web, p, on_existing = 0;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(POD(.name = "db", .cpu_m = 400, .mem_mi = 1024, .node_name = "ip-10-0-1-17") >= 0);
  /* 1530m free: two 700m pods fit, the third needs a new node. */
  CHECK((web = POD(.name = "web", .cpu_m = 700, .mem_mi = 512, .count = 3)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  for (p = web; p < web + 3; p++) {
    long i = stv_test_node_of(&fx->plan, (uint32_t)p);
    CHECK(i >= 0);
    on_existing += fx->plan.nodes[i].existing == 0;
  }
  CHECK_EQ_INT(on_existing, 2);
  CHECK_EQ_INT(fx->plan.nnew, 1);
}

STV_TEST_FX(should_not_place_pods_on_a_cordoned_node) {
  int web, p;
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 7910, .mem_mi = 29317, .zone = "us-east-1a",
             .instance_type = "m5.2xlarge", .unschedulable = 1) == 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .count = 2)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  for (p = web; p < web + 2; p++) {
    long i = stv_test_node_of(&fx->plan, (uint32_t)p);
    CHECK(i >= 0);
    CHECK_EQ_INT(fx->plan.nodes[i].existing, -1);
  }
}

STV_TEST_FX(should_not_place_pods_on_an_existing_node_whose_taint_they_do_not_tolerate) {
  int web, batch;
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 7910, .mem_mi = 29317, .zone = "us-east-1a",
             .taints = {{"dedicated", "batch", STV_EFFECT_NO_SCHEDULE}}) == 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512)) >= 0);
  CHECK((batch = POD(.name = "batch", .cpu_m = 500, .mem_mi = 512,
                     .tol = {{"dedicated", 0, "batch", STV_EFFECT_NO_SCHEDULE}})) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(node_of(fx, web)->existing, -1);
  CHECK_EQ_INT(node_of(fx, batch)->existing, 0);
}

STV_TEST_FX(should_place_a_pod_pinned_by_match_fields_only_on_that_node) {
  struct stv_requirement r = {"metadata.name", STV_OP_IN, 1, (const char *[]){"ip-10-0-2-33"}};
  struct stv_node_term term = {{0, NULL}, {1, &r}};
  struct stv_node_affinity na = {1, &term};
  int pinned, big;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.xlarge", "us-east-1a") == 0);
  CHECK(add_node(fx, "ip-10-0-2-33", "m5.large", "us-east-1b") == 1);
  CHECK((pinned = POD(.name = "debug", .cpu_m = 250, .mem_mi = 256, .affinity = &na)) >= 0);
  /* Too big for the node it is pinned to: no new node can take it either. */
  CHECK((big = POD(.name = "debug-big", .cpu_m = 3000, .mem_mi = 256, .affinity = &na)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(node_of(fx, pinned)->existing, 1);
  CHECK_EQ_INT(stv_test_node_of(&fx->plan, (uint32_t)big), -1);
  CHECK(stv_test_unsched_reason(&fx->plan, (uint32_t)big) != NULL);
  CHECK_EQ_INT(fx->plan.nnew, 0);
}

STV_TEST_FX(should_leave_bound_finished_and_daemonset_pods_alone) {
  int bound, done, failed, ds, web;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK((bound = POD(.name = "db", .cpu_m = 1000, .mem_mi = 2048, .node_name = "ip-10-0-1-17")) >= 0);
  CHECK((done = POD(.name = "job-1", .cpu_m = 64000, .mem_mi = 512, .phase = STV_PHASE_SUCCEEDED)) >= 0);
  CHECK((failed = POD(.name = "job-2", .cpu_m = 500, .mem_mi = 512, .phase = STV_PHASE_FAILED)) >= 0);
  /* A DaemonSet pod not yet bound is the DaemonSet controller's business. */
  CHECK((ds = POD(.ns = "kube-system", .name = "aws-node-x7k2p", .cpu_m = 25, .mem_mi = 64, .daemonset = 1,
                  .owner_uid = "8c5f7d2a-aws-node")) >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.npending, 1);
  CHECK_EQ_INT(stv_test_times_placed(&fx->plan, (uint32_t)bound), 0);
  CHECK_EQ_INT(stv_test_times_placed(&fx->plan, (uint32_t)done), 0);
  CHECK_EQ_INT(stv_test_times_placed(&fx->plan, (uint32_t)failed), 0);
  CHECK_EQ_INT(stv_test_times_placed(&fx->plan, (uint32_t)ds), 0);
  CHECK(stv_test_unsched_reason(&fx->plan, (uint32_t)done) == NULL);
  CHECK(stv_test_unsched_reason(&fx->plan, (uint32_t)ds) == NULL);
  CHECK_EQ_INT(stv_test_times_placed(&fx->plan, (uint32_t)web), 1);
}

/* ---------------------------------------------------------------------- */
/* Choosing templates                                                     */

STV_TEST_FX(should_choose_the_cheaper_template_when_both_fit) {
  int web, order;
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 1024)) >= 0);
  /* Both catalogue orders: the choice must not depend on position. */
  for (order = 0; order < 2; order++) {
    int cheap;
    long i;
    fx->ntmpl = 0;
    if (order == 0) {
      CHECK(add_type(fx, "m5.large", "us-east-1a", -1) == 0);
      CHECK((cheap = add_type(fx, "c5.large", "us-east-1a", -1)) == 1);
    } else {
      CHECK((cheap = add_type(fx, "c5.large", "us-east-1a", -1)) == 0);
      CHECK(add_type(fx, "m5.large", "us-east-1a", -1) == 1);
    }
    SOLVE();
    CHECK_EQ_INT(fx->plan.nnew, 1);
    CHECK((i = stv_test_node_of(&fx->plan, (uint32_t)web)) >= 0);
    CHECK_EQ_INT(fx->plan.nodes[i].tmpl, cheap);
    CHECK(fabs(fx->plan.new_cost - 0.085) < 1e-9);
  }
}

STV_TEST_FX(should_choose_one_big_node_when_cheaper_than_two_small) {
  int big;
  CHECK(POD(.name = "api", .cpu_m = 1500, .mem_mi = 3072, .count = 2) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", 0.096) >= 0);
  CHECK((big = add_type(fx, "m5.xlarge", "us-east-1a", 0.150)) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nnew, 1);
  CHECK_EQ_INT(fx->plan.nodes[0].tmpl, big);
  CHECK_EQ_INT(fx->plan.nodes[0].npods, 2);
  CHECK(fabs(fx->plan.new_cost - 0.150) < 1e-9);
}

STV_TEST_FX(should_choose_two_small_nodes_when_cheaper_than_one_big) {
  int small;
  CHECK(POD(.name = "api", .cpu_m = 1500, .mem_mi = 3072, .count = 2) >= 0);
  CHECK((small = add_type(fx, "m5.large", "us-east-1a", 0.096)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", 0.250) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nnew, 2);
  CHECK_EQ_INT(stv_test_nodes_of_tmpl(&fx->plan, small), 2);
  CHECK(fabs(fx->plan.new_cost - 0.192) < 1e-9);
}

STV_TEST_FX(should_respect_the_pods_limit_of_a_template) {
  int small;
  CHECK(POD(.name = "sidecar", .cpu_m = 10, .mem_mi = 16, .count = 5) >= 0);
  CHECK((small = TMPL(.instance_type = "t3.nano", .zone = "us-east-1a", .cpu_m = 1930, .mem_mi = 220,
                      .pods = 4, .price = 0.0052)) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nnew, 2);
  CHECK_EQ_INT(fx->plan.nplaced, 5);
}

STV_TEST_FX(should_put_gpu_pods_only_on_gpu_templates) {
  int train, web, gpu;
  CHECK((train = POD(.name = "train", .cpu_m = 2000, .mem_mi = 8192, .res = "nvidia.com/gpu", .res_qty = 1)) >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK((gpu = add_type(fx, "g4dn.xlarge", "us-east-1a", -1)) >= 0);
  SOLVE();
  CHECK_EQ_INT(node_of(fx, train)->tmpl, gpu);
  /* The web pod may share the GPU node, not the other way round. */
  CHECK(node_of(fx, web)->tmpl >= 0);
  CHECK_EQ_INT(fx->plan.nunsched, 0);
}

STV_TEST_FX(should_respect_reserved_counts) {
  int reserved, ondemand;
  /* Five pods of which each needs a whole m5.large. */
  CHECK(POD(.name = "worker", .cpu_m = 1500, .mem_mi = 4096, .count = 5) >= 0);
  CHECK((ondemand = add_type(fx, "m5.large", "us-east-1a", -1)) >= 0);
  CHECK((reserved = TMPL(.instance_type = "m5.large", .zone = "us-east-1a", .cpu_m = 1930, .mem_mi = 7134,
                         .price = 0.030, .reserved = 2)) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 5);
  CHECK_EQ_INT(stv_test_nodes_of_tmpl(&fx->plan, reserved), 2);
  CHECK_EQ_INT(stv_test_nodes_of_tmpl(&fx->plan, ondemand), 3);
  CHECK(fabs(fx->plan.new_cost - (2 * 0.030 + 3 * 0.096)) < 1e-9);
}

STV_TEST_FX(should_never_use_a_template_with_a_limit_of_zero) {
  int none;
  CHECK(POD(.name = "worker", .cpu_m = 1500, .mem_mi = 4096, .count = 3) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK((none = TMPL(.instance_type = "m5.large", .zone = "us-east-1a", .cpu_m = 1930, .mem_mi = 7134,
                     .price = 0.030, .reserved = 1)) >= 0);
  fx->tmpl[none].limit = 0;
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 3);
  CHECK_EQ_INT(stv_test_nodes_of_tmpl(&fx->plan, none), 0);
}

/* ---------------------------------------------------------------------- */
/* DaemonSet overhead                                                     */

/*
 * An existing node running a DaemonSet pod (200m, 256Mi) and a database
 * that leaves no room; one pending pod of 1800m that an m5.large (1930m)
 * holds only without the DaemonSet's share.
 */
static int build_daemonset_case(struct stv_test_fx *fx, int with_ds, int *pod) {
  if (add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") != 0) return -1;
  if (with_ds && POD(.ns = "kube-system", .name = "node-exporter-5xq2d", .cpu_m = 200, .mem_mi = 256,
                     .labels = {{"app", "node-exporter"}}, .daemonset = 1, .owner_uid = "3f0c9b7e-node-exporter",
                     .node_name = "ip-10-0-1-17", .phase = STV_PHASE_RUNNING) < 0)
    return -1;
  if (POD(.name = "db", .cpu_m = 1700, .mem_mi = 4096, .node_name = "ip-10-0-1-17") < 0) return -1;
  if ((*pod = POD(.name = "batch", .cpu_m = 1800, .mem_mi = 1024)) < 0) return -1;
  if (add_type(fx, "m5.large", "us-east-1a", -1) != 0) return -1;
  if (add_type(fx, "m5.xlarge", "us-east-1a", -1) != 1) return -1;
  return 0;
}

STV_TEST_FX(should_reserve_daemonset_overhead_on_new_nodes) {
  struct stv_test_fx plain;
  int pod, plain_pod, plain_tmpl = -2;
  long i;
  /* Without the DaemonSet the small type is enough: the control case. */
  CHECK(stv_test_fx_init(&plain) == 0);
  if (build_daemonset_case(&plain, 0, &plain_pod) == 0 && stv_test_fx_solve(&plain) == 0 &&
      (i = stv_test_node_of(&plain.plan, (uint32_t)plain_pod)) >= 0)
    plain_tmpl = plain.plan.nodes[i].tmpl;
  stv_test_fx_close(&plain);
  CHECK_EQ_INT(plain_tmpl, 0);
  CHECK(build_daemonset_case(fx, 1, &pod) == 0);
  SOLVE();
  CHECK((i = stv_test_node_of(&fx->plan, (uint32_t)pod)) >= 0);
  CHECK_EQ_INT(fx->plan.nodes[i].existing, -1);
  CHECK_EQ_INT(fx->plan.nodes[i].tmpl, 1);
}

STV_TEST_FX(should_not_reserve_overhead_for_a_daemonset_that_cannot_run_on_the_template) {
  int pod;
  long i;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  /* The DaemonSet runs in us-east-1a only; the templates are in us-east-1b. */
  CHECK(POD(.ns = "kube-system", .name = "zonal-agent-q8w4r", .cpu_m = 200, .mem_mi = 256,
            .node_selector = {{STV_TEST_ZONE_KEY, "us-east-1a"}}, .daemonset = 1, .owner_uid = "a1b2c3d4-zonal",
            .node_name = "ip-10-0-1-17") >= 0);
  CHECK(POD(.name = "db", .cpu_m = 1700, .mem_mi = 4096, .node_name = "ip-10-0-1-17") >= 0);
  CHECK((pod = POD(.name = "batch", .cpu_m = 1800, .mem_mi = 1024)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) == 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) == 1);
  SOLVE();
  CHECK((i = stv_test_node_of(&fx->plan, (uint32_t)pod)) >= 0);
  CHECK_EQ_INT(fx->plan.nodes[i].tmpl, 0);
}

/*
 * Runs body on a fresh fixture in a child process, so that a crash (or an
 * AddressSanitizer abort) fails this one test instead of ending the run.
 */
static int run_isolated(void (*body)(struct stv_test_fx *, int *)) {
  pid_t pid;
  int status = 0;
  fflush(NULL);
  pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    struct stv_test_fx fx;
    int failed = 0;
    if (stv_test_fx_init(&fx) != 0)
      failed = 1;
    else
      body(&fx, &failed);
    stv_test_fx_close(&fx);
    fflush(NULL);
    _exit(failed ? 1 : 0);
  }
  if (waitpid(pid, &status, 0) != pid) return 0;
  if (WIFSIGNALED(status)) fprintf(stderr, "  child died of signal %d\n", WTERMSIG(status));
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void daemons_body(struct stv_test_fx *fx, int *stv__failed) {
  void *churn[4];
  int pod, ds, k, ok;
  long i;
  CHECK(build_daemonset_case(fx, 1, &pod) == 0);
  ds = 0; /* the DaemonSet pod is the first pod added */
  SOLVE();
  CHECK((i = stv_test_node_of(&fx->plan, (uint32_t)pod)) >= 0);
  CHECK_EQ_INT(fx->plan.nodes[i].existing, -1);
  /* The plan belongs to the caller: what it points at must outlive other
   * allocations made after stv_pack returns. */
  for (k = 0; k < 4; k++) {
    churn[k] = malloc((size_t)1 << 20);
    if (churn[k] != NULL) memset(churn[k], 0xa5, (size_t)1 << 20);
  }
  ok = fx->plan.nodes[i].ndaemons == 1 && fx->plan.nodes[i].daemons != NULL &&
       fx->plan.nodes[i].daemons[0] == fx->s.pods[ds].cls;
  for (k = 0; k < 4; k++) free(churn[k]);
  CHECK(ok);
}

TEST(should_list_the_daemonsets_that_run_on_each_new_node) { CHECK(run_isolated(daemons_body)); }

STV_TEST_FX(should_reserve_the_largest_request_of_each_resource_for_a_daemonset_whose_pods_differ) {
  int pod;
  long i;
  /* Mid-rollout, the DaemonSet's pods differ: one asks for more cpu, the
   * other for more memory. A new node may get either. */
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(add_node(fx, "ip-10-0-1-18", "m5.large", "us-east-1a") == 1);
  CHECK(POD(.ns = "kube-system", .name = "log-agent-old", .cpu_m = 300, .mem_mi = 64, .labels = {{"rev", "1"}},
            .daemonset = 1, .owner_uid = "5e2d8c41-log-agent", .node_name = "ip-10-0-1-17") >= 0);
  CHECK(POD(.ns = "kube-system", .name = "log-agent-new", .cpu_m = 100, .mem_mi = 1024, .labels = {{"rev", "2"}},
            .daemonset = 1, .owner_uid = "5e2d8c41-log-agent", .node_name = "ip-10-0-1-18") >= 0);
  CHECK(POD(.name = "db-a", .cpu_m = 1600, .mem_mi = 512, .node_name = "ip-10-0-1-17") >= 0);
  CHECK(POD(.name = "db-b", .cpu_m = 1600, .mem_mi = 512, .node_name = "ip-10-0-1-18") >= 0);
  /* 1700m fits an m5.large (1930m) beside the 100m pod, not beside the 300m one. */
  CHECK((pod = POD(.name = "batch", .cpu_m = 1700, .mem_mi = 512)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) == 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) == 1);
  SOLVE();
  CHECK((i = stv_test_node_of(&fx->plan, (uint32_t)pod)) >= 0);
  CHECK_EQ_INT(fx->plan.nodes[i].tmpl, 1);
}

STV_TEST_FX(should_list_a_pod_that_fits_no_type_once_daemonset_overhead_is_reserved) {
  int web;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.2xlarge", "us-east-1a") == 0);
  CHECK(POD(.ns = "kube-system", .name = "gpu-agent", .cpu_m = 1800, .mem_mi = 512, .daemonset = 1,
            .owner_uid = "77a0e2b9-agent", .node_name = "ip-10-0-1-17") >= 0);
  CHECK(POD(.name = "db", .cpu_m = 6000, .mem_mi = 512, .node_name = "ip-10-0-1-17") >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nnew, 0);
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)web), "DaemonSet");
}

/* ---------------------------------------------------------------------- */
/* Pod affinity, anti-affinity and topology spread                        */

STV_TEST_FX(should_not_place_two_pods_of_a_self_anti_affine_group_on_one_node) {
  int web;
  size_t i;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.2xlarge", "us-east-1a") == 0);
  /* One replica already runs on the roomy existing node. */
  CHECK(POD(.ns = "shop", .name = "web-running", .cpu_m = 250, .mem_mi = 512, .labels = {{"app", "web"}},
            .anti_host = 1, .node_name = "ip-10-0-1-17") >= 0);
  CHECK((web = POD(.ns = "shop", .name = "web", .cpu_m = 250, .mem_mi = 512, .labels = {{"app", "web"}},
                   .anti_host = 1, .count = 3)) >= 0);
  CHECK(POD(.ns = "shop", .name = "api", .cpu_m = 250, .mem_mi = 512, .labels = {{"app", "api"}}, .count = 4) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 7);
  for (i = 0; i < fx->plan.nnodes; i++) {
    int here = on_node(fx, i, web, 3) + (fx->plan.nodes[i].existing == 0);
    CHECK(here <= 1);
  }
  CHECK_EQ_INT(fx->plan.nnew, 3);
}

STV_TEST_FX(should_keep_two_mutually_anti_affine_classes_apart) {
  struct stv_requirement r = {"app", STV_OP_IN, 1, (const char *[]){"batch"}};
  struct stv_pod_term t = {{1, &r}, 0, STV_TEST_HOST_KEY, 0, NULL, 0, {0, NULL}};
  int web, batch;
  size_t i;
  CHECK((web = POD(.name = "web", .cpu_m = 250, .mem_mi = 512, .labels = {{"app", "web"}}, .anti = &t,
                   .nanti = 1, .count = 3)) >= 0);
  CHECK((batch = POD(.name = "batch", .cpu_m = 250, .mem_mi = 512, .labels = {{"app", "batch"}}, .count = 3)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 6);
  for (i = 0; i < fx->plan.nnodes; i++) CHECK(on_node(fx, i, web, 3) == 0 || on_node(fx, i, batch, 3) == 0);
}

STV_TEST_FX(should_spread_across_zones_with_max_skew_one) {
  int web;
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_zone = 1,
                   .count = 6)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) >= 0);
  /* Dearer in the third zone: spreading must win over price. */
  CHECK(add_type(fx, "m5.xlarge", "us-east-1c", 0.230) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 6);
  CHECK_EQ_INT(placed_in_zone(fx, web, 6, "us-east-1a"), 2);
  CHECK_EQ_INT(placed_in_zone(fx, web, 6, "us-east-1b"), 2);
  CHECK_EQ_INT(placed_in_zone(fx, web, 6, "us-east-1c"), 2);
}

/* Terminating pods bound in a zone do not count for zone spread (kube-scheduler skips them). */
STV_TEST_FX(should_not_count_terminating_pods_in_zone_spread) {
  int old, web;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.xlarge", "us-east-1a") == 0);
  CHECK(add_node(fx, "ip-10-0-2-17", "m5.xlarge", "us-east-1b") == 1);
  CHECK((old = POD(.name = "web-old", .cpu_m = 250, .mem_mi = 256, .labels = {{"app", "web"}},
                   .spread_zone = 1, .node_name = "ip-10-0-1-17", .count = 2)) >= 0);
  fx->s.pods[old].terminating = 1;
  fx->s.pods[old + 1].terminating = 1;
  CHECK((web = POD(.name = "web", .cpu_m = 250, .mem_mi = 256, .labels = {{"app", "web"}}, .spread_zone = 1,
                   .count = 2)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) >= 0);
  /* Not SOLVE(): check_plan counts every bound pod for spread. */
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.nplaced, 2);
  CHECK_EQ_INT(placed_in_zone(fx, web, 2, "us-east-1a"), 1);
  CHECK_EQ_INT(placed_in_zone(fx, web, 2, "us-east-1b"), 1);
}

STV_TEST_FX(should_count_bound_pods_in_zone_spread) {
  int web, a, b, c;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(POD(.name = "web-running", .cpu_m = 900, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_zone = 1,
            .count = 2, .node_name = "ip-10-0-1-17") >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 900, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_zone = 1,
                   .count = 4)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1c", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 4);
  a = 2 + placed_in_zone(fx, web, 4, "us-east-1a");
  b = placed_in_zone(fx, web, 4, "us-east-1b");
  c = placed_in_zone(fx, web, 4, "us-east-1c");
  CHECK_EQ_INT(a, 2);
  CHECK_EQ_INT(b, 2);
  CHECK_EQ_INT(c, 2);
}

STV_TEST_FX(should_withdraw_pods_that_an_unfillable_zone_would_leave_over_max_skew) {
  int web, p, listed = 0;
  /* us-east-1c is a domain (a schedulable node there) but has no room and no template. */
  CHECK(add_node(fx, "ip-10-0-3-9", "m5.large", "us-east-1c") == 0);
  CHECK(POD(.name = "db", .cpu_m = 1900, .mem_mi = 4096, .node_name = "ip-10-0-3-9") >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_zone = 1,
                   .count = 6)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK(placed_in_zone(fx, web, 6, "us-east-1a") <= 1);
  CHECK(placed_in_zone(fx, web, 6, "us-east-1b") <= 1);
  for (p = web; p < web + 6; p++) {
    const char *why = stv_test_unsched_reason(&fx->plan, (uint32_t)p);
    if (why == NULL) continue;
    listed++;
    CHECK_STR_CONTAINS(why, "spread");
  }
  CHECK(listed >= 4);
}

STV_TEST_FX(should_keep_hostname_spread_within_max_skew) {
  int web, most = 0, least = 1000;
  size_t i;
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_host = 2,
                   .count = 7)) >= 0);
  /* One node could hold all seven. */
  CHECK(add_type(fx, "m5.2xlarge", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 7);
  for (i = 0; i < fx->plan.nnodes; i++) {
    int k = on_node(fx, i, web, 7);
    if (k > most) most = k;
    if (k < least) least = k;
  }
  CHECK(most - least <= 2);
  CHECK(most <= 2 + least);
}

STV_TEST_FX(should_count_an_empty_eligible_node_in_hostname_spread) {
  int web;
  size_t i;
  /* An eligible node with no pod of the group and no room: the minimum is 0. */
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(POD(.name = "db", .cpu_m = 1900, .mem_mi = 4096, .node_name = "ip-10-0-1-17") >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_host = 2,
                   .count = 5)) >= 0);
  CHECK(add_type(fx, "m5.2xlarge", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 5);
  for (i = 0; i < fx->plan.nnodes; i++) CHECK(on_node(fx, i, web, 5) <= 2);
}

STV_TEST_FX(should_put_a_self_affine_group_in_one_zone) {
  int cache, p;
  const char *zone = NULL;
  /* Each pod needs a node of its own, so the group spans several nodes. */
  CHECK((cache = POD(.name = "cache", .cpu_m = 1500, .mem_mi = 2048, .labels = {{"app", "cache"}}, .aff_zone = 1,
                     .count = 6)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1c", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 6);
  CHECK_EQ_INT(fx->plan.nnew, 6);
  for (p = cache; p < cache + 6; p++) {
    const char *z = zone_of(fx, p);
    CHECK(z != NULL);
    if (zone == NULL) zone = z;
    CHECK(strcmp(z, zone) == 0);
  }
}

STV_TEST_FX(should_place_an_affine_pod_in_the_zone_of_the_pod_it_follows) {
  int web, p;
  CHECK(add_node(fx, "ip-10-0-2-33", "m5.large", "us-east-1b") == 0);
  CHECK(POD(.name = "db", .cpu_m = 1900, .mem_mi = 4096, .labels = {{"app", "db"}}, .node_name = "ip-10-0-2-33") >=
        0);
  {
    struct stv_requirement r = {"app", STV_OP_IN, 1, (const char *[]){"db"}};
    struct stv_pod_term t = {{1, &r}, 0, STV_TEST_ZONE_KEY, 0, NULL, 0, {0, NULL}};
    CHECK((web = POD(.name = "web", .cpu_m = 1000, .mem_mi = 1024, .labels = {{"app", "web"}}, .aff = &t,
                     .naff = 1, .count = 3)) >= 0);
  }
  CHECK(add_type(fx, "m5.large", "us-east-1a", 0.050) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 3);
  for (p = web; p < web + 3; p++)
    CHECK(strcmp(zone_of(fx, p), "us-east-1b") == 0);
}

STV_TEST_FX(should_list_a_pod_whose_required_affinity_has_no_target) {
  struct stv_requirement r = {"app", STV_OP_IN, 1, (const char *[]){"db"}};
  struct stv_pod_term t = {{1, &r}, 0, STV_TEST_HOST_KEY, 0, NULL, 0, {0, NULL}};
  int web;
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .aff = &t, .naff = 1)) >=
        0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 0);
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)web), "affinity");
}

STV_TEST_FX(should_list_a_pod_whose_spread_uses_an_unsupported_topology_key) {
  struct stv_requirement r = {"app", STV_OP_IN, 1, (const char *[]){"web"}};
  struct stv_spread sp = {1, "topology.kubernetes.io/region", 1, {1, &r}, 0, 0, 1, 0};
  int web;
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread = &sp,
                   .nspread = 1)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)web), "topology.kubernetes.io/region");
}

STV_TEST_FX(should_respect_the_anti_affinity_of_pods_already_running) {
  struct stv_requirement r = {"app", STV_OP_IN, 1, (const char *[]){"web"}};
  struct stv_pod_term host = {{1, &r}, 0, STV_TEST_HOST_KEY, 0, NULL, 0, {0, NULL}};
  struct stv_pod_term zone = {{1, &r}, 0, STV_TEST_ZONE_KEY, 0, NULL, 0, {0, NULL}};
  int web, p;
  /* A roomy node whose running pod refuses web pods beside it, and a zone
   * (cheaper) whose running pod refuses web pods in the zone. */
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.2xlarge", "us-east-1b") == 0);
  CHECK(add_node(fx, "ip-10-0-3-9", "m5.large", "us-east-1c") == 1);
  CHECK(POD(.name = "loner", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "loner"}}, .anti = &host, .nanti = 1,
            .node_name = "ip-10-0-1-17") >= 0);
  CHECK(POD(.name = "hermit", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "hermit"}}, .anti = &zone, .nanti = 1,
            .node_name = "ip-10-0-3-9") >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .count = 2)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1c", 0.050) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 2);
  for (p = web; p < web + 2; p++) {
    long i = stv_test_node_of(&fx->plan, (uint32_t)p);
    CHECK_EQ_INT(fx->plan.nodes[i].existing, -1);
    CHECK(strcmp(stv_test_plan_zone(fx, (size_t)i), "us-east-1b") == 0);
  }
}

/*
 * The rules' selectors are resolved through an index of the classes by
 * label: each operator must still select exactly the classes it matches.
 * guard refuses, by hostname, tier=front pods other than api (In with
 * NotIn), pods with a role label (Exists), pods whose app is none of the
 * named ones (NotIn alone: no index narrows it) and app=ghost (In that no
 * class carries). Only the node running api is open to it.
 */
STV_TEST_FX(should_apply_every_selector_operator_of_anti_affinity_terms) {
  struct stv_requirement front[2] = {{"tier", STV_OP_IN, 1, (const char *[]){"front"}},
                                     {"app", STV_OP_NOT_IN, 1, (const char *[]){"api"}}};
  struct stv_requirement role = {"role", STV_OP_EXISTS, 0, NULL};
  struct stv_requirement named = {"app", STV_OP_NOT_IN, 4, (const char *[]){"guard", "web", "api", "db"}};
  struct stv_requirement ghost = {"app", STV_OP_IN, 1, (const char *[]){"ghost"}};
  struct stv_pod_term t[4] = {{{2, front}, 0, STV_TEST_HOST_KEY, 0, NULL, 0, {0, NULL}},
                              {{1, &role}, 0, STV_TEST_HOST_KEY, 0, NULL, 0, {0, NULL}},
                              {{1, &named}, 0, STV_TEST_HOST_KEY, 0, NULL, 0, {0, NULL}},
                              {{1, &ghost}, 0, STV_TEST_HOST_KEY, 0, NULL, 0, {0, NULL}}};
  static const char *const nodes[] = {"ip-10-0-1-1", "ip-10-0-1-2", "ip-10-0-1-3", "ip-10-0-1-4"};
  int guard, p;
  size_t i;
  for (i = 0; i < 4; i++) CHECK(add_node(fx, nodes[i], "m5.2xlarge", "us-east-1a") == (int)i);
  CHECK(POD(.name = "web", .cpu_m = 250, .mem_mi = 256, .labels = {{"app", "web"}, {"tier", "front"}},
            .node_name = nodes[0]) >= 0);
  CHECK(POD(.name = "db", .cpu_m = 250, .mem_mi = 256, .labels = {{"app", "db"}, {"role", "primary"}},
            .node_name = nodes[1]) >= 0);
  CHECK(POD(.name = "batch", .cpu_m = 250, .mem_mi = 256, .labels = {{"app", "batch"}},
            .node_name = nodes[2]) >= 0);
  CHECK(POD(.name = "api", .cpu_m = 250, .mem_mi = 256, .labels = {{"app", "api"}, {"tier", "front"}},
            .node_name = nodes[3]) >= 0);
  CHECK((guard = POD(.name = "guard", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "guard"}}, .anti = t,
                     .nanti = 4, .count = 3)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 3);
  CHECK_EQ_INT(fx->plan.nnodes, 1);
  for (p = guard; p < guard + 3; p++) CHECK_EQ_INT(node_of(fx, p)->existing, 3);
}

STV_TEST_FX(should_place_at_most_one_pod_per_zone_of_a_zone_anti_affine_group) {
  int zk;
  CHECK((zk = POD(.name = "zk", .cpu_m = 500, .mem_mi = 1024, .labels = {{"app", "zk"}}, .anti_zone = 1,
                  .count = 4)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1c", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 3);
  CHECK_EQ_INT(placed_in_zone(fx, zk, 4, "us-east-1a"), 1);
  CHECK_EQ_INT(placed_in_zone(fx, zk, 4, "us-east-1b"), 1);
  CHECK_EQ_INT(placed_in_zone(fx, zk, 4, "us-east-1c"), 1);
  CHECK_EQ_INT(fx->plan.nunsched, 1);
  CHECK_STR_CONTAINS(fx->plan.unsched[0].reason, "anti-affinity");
}

STV_TEST_FX(should_put_a_self_affine_hostname_group_on_one_node) {
  int pair;
  /* Three fit one m5.large; the other two have nowhere beside the group. */
  CHECK((pair = POD(.name = "pair", .cpu_m = 500, .mem_mi = 1024, .labels = {{"app", "pair"}}, .aff_host = 1,
                    .count = 5)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nnodes, 1);
  CHECK_EQ_INT(on_node(fx, 0, pair, 5), 3);
  CHECK_EQ_INT(fx->plan.nunsched, 2);
}

STV_TEST_FX(should_put_a_self_affine_group_in_a_zone_that_can_hold_all_of_it) {
  /* us-east-1a offers a single reserved node, us-east-1b as many as needed:
   * the whole group fits in us-east-1b. */
  CHECK(POD(.name = "cache", .cpu_m = 1500, .mem_mi = 1024, .labels = {{"app", "cache"}}, .aff_zone = 1,
            .count = 3) >= 0);
  CHECK(TMPL(.instance_type = "m5.large", .zone = "us-east-1a", .cpu_m = 1930, .mem_mi = 7134, .price = 0.030,
             .reserved = 1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nunsched, 0);
  CHECK_EQ_INT(fx->plan.nplaced, 3);
}

STV_TEST_FX(should_treat_min_domains_above_the_zone_count_as_a_minimum_of_zero) {
  struct stv_requirement r = {"app", STV_OP_IN, 1, (const char *[]){"web"}};
  struct stv_spread sp = {1, STV_TEST_ZONE_KEY, 1, {1, &r}, 0, 3, 1, 0};
  int web;
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread = &sp,
                   .nspread = 1, .count = 4)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(placed_in_zone(fx, web, 4, "us-east-1a"), 1);
  CHECK_EQ_INT(placed_in_zone(fx, web, 4, "us-east-1b"), 1);
  CHECK_EQ_INT(fx->plan.nunsched, 2);
}

STV_TEST_FX(should_honour_the_node_affinity_policy_of_a_zone_spread) {
  struct stv_requirement r = {"app", STV_OP_IN, 1, (const char *[]){"web"}};
  struct stv_spread honor = {1, STV_TEST_ZONE_KEY, 1, {1, &r}, 0, 0, 1, 0};
  struct stv_spread ignore = {1, STV_TEST_ZONE_KEY, 1, {1, &r}, 0, 0, 0, 0};
  int a, b;
  /* Two namespaces, so the two groups do not count each other. Honor:
   * us-east-1b is no domain of a pod that may not go there, so all four
   * share us-east-1a. Ignore: the node in us-east-1b counts, empty, so
   * only one. */
  CHECK(add_node(fx, "ip-10-0-2-9", "m5.large", "us-east-1b") == 0);
  CHECK((a = POD(.ns = "shop", .name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}},
                 .node_selector = {{STV_TEST_ZONE_KEY, "us-east-1a"}}, .spread = &honor, .nspread = 1,
                 .count = 4)) >= 0);
  CHECK((b = POD(.ns = "search", .name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}},
                 .node_selector = {{STV_TEST_ZONE_KEY, "us-east-1a"}}, .spread = &ignore, .nspread = 1,
                 .count = 4)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(placed_in_zone(fx, a, 4, "us-east-1a"), 4);
  CHECK_EQ_INT(placed_in_zone(fx, b, 4, "us-east-1a"), 1);
  CHECK_EQ_INT(fx->plan.nunsched, 3);
}

STV_TEST_FX(should_count_only_pods_of_the_same_namespace_in_a_spread) {
  int web;
  /* Three web pods of another namespace in us-east-1a do not count. */
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(POD(.ns = "staging", .name = "web", .cpu_m = 100, .mem_mi = 256, .labels = {{"app", "web"}}, .count = 3,
            .node_name = "ip-10-0-1-17") >= 0);
  CHECK((web = POD(.ns = "shop", .name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}},
                   .spread_zone = 1, .count = 2)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(placed_in_zone(fx, web, 2, "us-east-1a"), 1);
  CHECK_EQ_INT(placed_in_zone(fx, web, 2, "us-east-1b"), 1);
}

/* ---------------------------------------------------------------------- */
/* What cannot be placed                                                  */

STV_TEST_FX(should_list_a_pod_too_big_for_every_type_with_the_resource_named_in_the_reason) {
  int cpu, mem, gpu, web;
  CHECK((cpu = POD(.name = "render", .cpu_m = 64000, .mem_mi = 4096)) >= 0);
  CHECK((mem = POD(.name = "analytics", .cpu_m = 2000, .mem_mi = INT64_C(512) * 1024)) >= 0);
  CHECK((gpu = POD(.name = "train", .cpu_m = 2000, .mem_mi = 4096, .res = "nvidia.com/gpu", .res_qty = 1)) >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.2xlarge", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nunsched, 3);
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)cpu), "cpu");
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)mem), "memory");
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)gpu), "nvidia.com/gpu");
  CHECK_EQ_INT(stv_test_times_placed(&fx->plan, (uint32_t)web), 1);
}

STV_TEST_FX(should_name_the_resource_for_a_too_big_pod_that_has_zone_rules) {
  int cpu, gpu;
  /* The same kind of pods as above, with a zone spread and a zone affinity. */
  CHECK((cpu = POD(.name = "render", .cpu_m = 64000, .mem_mi = 4096, .labels = {{"app", "render"}},
                   .spread_zone = 1)) >= 0);
  CHECK((gpu = POD(.name = "train", .cpu_m = 2000, .mem_mi = 4096, .res = "nvidia.com/gpu", .res_qty = 1,
                   .labels = {{"app", "train"}}, .aff_zone = 1)) >= 0);
  CHECK(add_type(fx, "m5.2xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.2xlarge", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)cpu), "cpu");
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)gpu), "nvidia.com/gpu");
}

STV_TEST_FX(should_list_a_pod_whose_selector_no_type_satisfies) {
  int eu, web;
  CHECK((eu = POD(.name = "gdpr", .cpu_m = 500, .mem_mi = 512, .node_selector = {{STV_TEST_ZONE_KEY, "eu-west-1a"}})) >=
        0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .node_selector = {{STV_TEST_ZONE_KEY, "us-east-1b"}})) >=
        0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1b", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(stv_test_times_placed(&fx->plan, (uint32_t)eu), 0);
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)eu), "nodeSelector");
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)eu), STV_TEST_ZONE_KEY);
  CHECK(strcmp(zone_of(fx, web), "us-east-1b") == 0);
}

STV_TEST_FX(should_list_a_pod_that_tolerates_no_template_taint) {
  int web;
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512)) >= 0);
  CHECK(TMPL(.instance_type = "g4dn.xlarge", .zone = "us-east-1a", .cpu_m = 3920, .mem_mi = 14481, .price = 0.526,
             .taints = {{"nvidia.com/gpu", "true", STV_EFFECT_NO_SCHEDULE}}) >= 0);
  SOLVE();
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)web), "taint");
}

STV_TEST_FX(should_list_every_pod_when_there_is_no_template) {
  int web;
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .count = 2)) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nunsched, 2);
  CHECK_EQ_INT(fx->plan.nnodes, 0);
  CHECK(stv_test_unsched_reason(&fx->plan, (uint32_t)web) != NULL);
}

STV_TEST_FX(should_place_pods_without_requests_up_to_the_pods_allocatable) {
  CHECK(POD(.name = "tiny", .count = 250) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 250);
  CHECK_EQ_INT(fx->plan.nnew, 3); /* 110 pods a node */
}

STV_TEST_FX(should_pack_twenty_thousand_replicas) {
  CHECK(POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .count = 12000) >= 0);
  CHECK(POD(.name = "api", .cpu_m = 1000, .mem_mi = 2048, .labels = {{"app", "api"}}, .count = 8000) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.2xlarge", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 20000);
  /* 14,000 cores of requests: within 10% of the cost of the cores alone. */
  CHECK(fx->plan.has_lower_bound && fx->plan.lower_bound > 0);
  CHECK(fx->plan.new_cost <= 1.10 * fx->plan.lower_bound);
}

/* ---------------------------------------------------------------------- */
/* Random problems                                                        */

/* xorshift64*: a small, seedable, portable generator. */
static uint64_t rnd_next(uint64_t *st) {
  uint64_t x = *st;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *st = x;
  return x * UINT64_C(2685821657736338717);
}

static int rnd(uint64_t *st, int n) { return (int)(rnd_next(st) % (uint64_t)n); }

static const char *const zones[] = {"us-east-1a", "us-east-1b", "us-east-1c"};

/*
 * A small random problem: up to three zones, five templates (some reserved,
 * spot or tainted), three existing nodes (some cordoned or tainted, with
 * DaemonSet and application pods bound), four application classes with
 * node selectors, tolerations, GPU requests, pod affinity and
 * anti-affinity (to themselves or to another class, by hostname or zone),
 * zone or hostname spread (some with minDomains or ScheduleAnyway), and a
 * few finished pods.
 */
static int build_random(struct stv_test_fx *fx, uint64_t seed) {
  uint64_t st = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
  int nz = 1 + rnd(&st, 3), nt = 1 + rnd(&st, 5), nn = rnd(&st, 4), nc = 1 + rnd(&st, 4);
  int has_ds = rnd(&st, 2), ds_zonal = rnd(&st, 3) == 0, i, k;
  char name[64];
  for (i = 0; i < nt; i++) {
    const struct itype *t = &catalogue[rnd(&st, NCATALOGUE)];
    const char *z = zones[rnd(&st, nz)];
    int kind = rnd(&st, 6), rc;
    double price = t->price * (0.8 + 0.1 * rnd(&st, 5));
    rc = TMPL(.instance_type = t->name, .zone = z, .cpu_m = t->cpu_m, .mem_mi = t->mem_mi, .price = price,
              .res = t->gpus ? "nvidia.com/gpu" : NULL, .res_qty = t->gpus,
              .capacity_type = kind == 1 ? "spot" : NULL, .reserved = kind == 2 ? 1 + rnd(&st, 3) : 0,
              .taints = {{t->gpus ? "nvidia.com/gpu" : NULL, "true", STV_EFFECT_NO_SCHEDULE}});
    if (rc < 0) return rc;
    if (kind == 3) fx->tmpl[rc].price *= 0.3; /* a bargain to test the search */
  }
  for (i = 0; i < nn; i++) {
    const struct itype *t = &catalogue[rnd(&st, NCATALOGUE)];
    int rc;
    snprintf(name, sizeof(name), "ip-10-0-%d-%d", i, rnd(&st, 250));
    rc = NODE(.name = name, .cpu_m = t->cpu_m, .mem_mi = t->mem_mi, .zone = zones[rnd(&st, nz)],
              .instance_type = t->name, .unschedulable = rnd(&st, 8) == 0,
              .res = t->gpus ? "nvidia.com/gpu" : NULL, .res_qty = t->gpus,
              .taints = {{rnd(&st, 6) == 0 ? "dedicated" : NULL, "batch", STV_EFFECT_NO_SCHEDULE}});
    if (rc < 0) return rc;
    if (has_ds && (!ds_zonal || strcmp(fx->s.nodes[rc].zone, "us-east-1a") == 0) &&
        POD(.ns = "kube-system", .name = "agent", .cpu_m = 100, .mem_mi = 128, .labels = {{"app", "agent"}},
            .tol = {{NULL, 1, NULL, STV_EFFECT_ALL}}, .daemonset = 1, .owner_uid = "ds-agent-uid",
            .node_selector = {{ds_zonal ? STV_TEST_ZONE_KEY : NULL, "us-east-1a"}}, .node_name = name) < 0)
      return -1;
  }
  if (has_ds && nn == 0 &&
      POD(.ns = "kube-system", .name = "agent", .cpu_m = 100, .mem_mi = 128, .labels = {{"app", "agent"}},
          .tol = {{NULL, 1, NULL, STV_EFFECT_ALL}}, .daemonset = 1, .owner_uid = "ds-agent-uid",
          .node_selector = {{ds_zonal ? STV_TEST_ZONE_KEY : NULL, "us-east-1a"}}) < 0)
    return -1;
  for (k = 0; k < nc; k++) {
    struct stv_test_pod_opts o;
    struct stv_requirement other_req;
    const char *other_val[1];
    struct stv_pod_term other_term;
    struct stv_spread other_spread;
    char other[16];
    int rule = rnd(&st, 10), npend = rnd(&st, 13), nbound = nn ? rnd(&st, 3) : 0;
    memset(&o, 0, sizeof(o));
    snprintf(name, sizeof(name), "app%d", k);
    o.ns = rnd(&st, 2) ? "shop" : "search";
    o.name = name;
    o.cpu_m = 100 + 50 * rnd(&st, 50);
    o.mem_mi = INT64_C(128) * (1 + rnd(&st, 40));
    o.labels[0] = (struct stv_test_kv){"app", name};
    if (rnd(&st, 7) == 0) o.node_selector[0] = (struct stv_test_kv){STV_TEST_ZONE_KEY, zones[rnd(&st, nz)]};
    if (rnd(&st, 5) == 0) o.tol[0] = (struct stv_toleration){"dedicated", 0, "batch", STV_EFFECT_NO_SCHEDULE};
    if (rnd(&st, 10) == 0) {
      o.res = "nvidia.com/gpu";
      o.res_qty = 1;
      o.tol[1] = (struct stv_toleration){"nvidia.com/gpu", 1, NULL, STV_EFFECT_ALL};
    }
    if (rule == 0) o.anti_host = 1;
    if (rule == 1) o.spread_zone = 1;
    if (rule == 2) o.spread_host = 1 + rnd(&st, 2);
    if (rule == 3) o.aff_zone = 1;
    if (rule == 4) o.anti_zone = 1;
    if (rule == 5) o.aff_host = 1;
    if ((rule == 6 || rule == 7) && k > 0) {
      /* Affinity (zone) or anti-affinity (hostname) to the previous class. */
      snprintf(other, sizeof(other), "app%d", k - 1);
      other_val[0] = other;
      other_req.key = "app";
      other_req.op = STV_OP_IN;
      other_req.nvalues = 1;
      other_req.values = other_val;
      memset(&other_term, 0, sizeof(other_term));
      other_term.sel.n = 1;
      other_term.sel.reqs = &other_req;
      other_term.topology_key = rule == 6 ? STV_TEST_ZONE_KEY : STV_TEST_HOST_KEY;
      other_term.has_ns_sel = rnd(&st, 2); /* all namespaces, or its own */
      if (rule == 6) {
        o.aff = &other_term;
        o.naff = 1;
      } else {
        o.anti = &other_term;
        o.nanti = 1;
      }
    }
    if (rule == 8) {
      /* Zone spread with minDomains, or a mere preference. */
      memset(&other_spread, 0, sizeof(other_spread));
      other_spread.max_skew = 1;
      other_spread.topology_key = STV_TEST_ZONE_KEY;
      other_spread.do_not_schedule = rnd(&st, 2);
      other_spread.min_domains = other_spread.do_not_schedule ? 3 : 0;
      other_spread.honor_node_affinity = 1;
      if (stv_test_selector_of_labels(&fx->s, &other_spread.sel,
                                      &(struct stv_labels){1, &(struct stv_label){"app", name}}) != 0)
        return -1;
      o.spread = &other_spread;
      o.nspread = 1;
    }
    o.count = (uint32_t)npend;
    if (npend > 0 && stv_test_pod(&fx->s, &o) < 0) return -1;
    for (i = 0; i < nbound; i++) {
      o.count = 1;
      o.node_name = fx->s.nodes[rnd(&st, nn)].name;
      o.phase = STV_PHASE_RUNNING;
      if (stv_test_pod(&fx->s, &o) < 0) return -1;
    }
    if (rnd(&st, 6) == 0) {
      o.count = 1;
      o.node_name = NULL;
      o.phase = STV_PHASE_SUCCEEDED;
      if (stv_test_pod(&fx->s, &o) < 0) return -1;
    }
  }
  return 0;
}

#define SEEDS 300

static const long search_limits[] = {0, -1, 200};

TEST(should_place_every_pending_pod_exactly_once_or_list_it) {
  uint64_t seed;
  size_t li, placed = 0, on_existing = 0, listed = 0, nnew = 0;
  int bad = 0;
  for (seed = 0; seed < SEEDS && bad < 5; seed++) {
    for (li = 0; li < sizeof(search_limits) / sizeof(search_limits[0]); li++) {
      struct stv_test_fx f;
      char why[512];
      int rc;
      if (stv_test_fx_init(&f) != 0 || build_random(&f, seed) != 0) {
        fprintf(stderr, "  seed %llu: fixture failed\n", (unsigned long long)seed);
        stv_test_fx_close(&f);
        bad++;
        continue;
      }
      f.search_limit = search_limits[li];
      rc = stv_test_fx_solve(&f);
      if (rc != 0) {
        fprintf(stderr, "  seed %llu, search limit %ld: stv_pack: %s\n", (unsigned long long)seed,
                search_limits[li], f.err.msg);
        bad++;
      } else if (check_plan(&f, why, sizeof(why)) != 0) {
        fprintf(stderr, "  seed %llu, search limit %ld: %s\n", (unsigned long long)seed, search_limits[li], why);
        bad++;
      } else {
        size_t i;
        placed += f.plan.nplaced;
        listed += f.plan.nunsched;
        nnew += f.plan.nnew;
        for (i = 0; i < f.plan.nnodes; i++) on_existing += f.plan.nodes[i].existing >= 0 ? f.plan.nodes[i].npods : 0;
      }
      stv_test_fx_close(&f);
    }
  }
  CHECK_EQ_INT(bad, 0);
  if (getenv("STV_TEST_VERBOSE"))
    fprintf(stderr, "  %zu placed (%zu on existing nodes), %zu listed, %zu new nodes\n", placed, on_existing, listed,
            nnew);
  /* The generator exercises every outcome. */
  CHECK(placed > SEEDS && on_existing > 0 && listed > 0 && nnew > SEEDS);
}

STV_TEST_FX(should_never_report_a_lower_bound_above_the_plan_cost) {
  uint64_t seed;
  int bad = 0, with_bound = 0;
  for (seed = 1000; seed < 1000 + SEEDS; seed++) {
    struct stv_test_fx f;
    if (stv_test_fx_init(&f) == 0 && build_random(&f, seed) == 0 && stv_test_fx_solve(&f) == 0) {
      if (f.plan.has_lower_bound) with_bound++;
      if (f.plan.has_lower_bound && f.plan.lower_bound > f.plan.new_cost * (1 + 1e-12)) {
        fprintf(stderr, "  seed %llu: lower bound %.12f above cost %.12f\n", (unsigned long long)seed,
                f.plan.lower_bound, f.plan.new_cost);
        bad++;
      }
    } else {
      bad++;
    }
    stv_test_fx_close(&f);
  }
  CHECK_EQ_INT(bad, 0);
  CHECK(with_bound > 0);
  /* And a plain case where the bound is positive: 4 x 900m on 1930m nodes. */
  CHECK(POD(.name = "web", .cpu_m = 900, .mem_mi = 512, .count = 4) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK(fx->plan.has_lower_bound);
  CHECK(fx->plan.lower_bound > 0);
  CHECK(fx->plan.lower_bound <= fx->plan.new_cost);
}

/* 1 when two plans are identical in every field the API exposes. */
static int plans_equal(const struct stv_plan *a, const struct stv_plan *b) {
  size_t i;
  if (a->nnodes != b->nnodes || a->nunsched != b->nunsched || a->npending != b->npending ||
      a->nplaced != b->nplaced || a->nnew != b->nnew || a->new_cost != b->new_cost ||
      a->has_lower_bound != b->has_lower_bound || a->lower_bound != b->lower_bound)
    return 0;
  for (i = 0; i < a->nnodes; i++) {
    const struct stv_plan_node *x = &a->nodes[i], *y = &b->nodes[i];
    if (x->existing != y->existing || x->tmpl != y->tmpl || strcmp(x->name, y->name) != 0 ||
        x->npods != y->npods || memcmp(x->pods, y->pods, x->npods * sizeof(*x->pods)) != 0)
      return 0;
  }
  for (i = 0; i < a->nunsched; i++)
    if (a->unsched[i].pod != b->unsched[i].pod || strcmp(a->unsched[i].reason, b->unsched[i].reason) != 0) return 0;
  return 1;
}

TEST(should_be_deterministic) {
  uint64_t seed;
  int bad = 0;
  for (seed = 0; seed < 60 && !bad; seed++) {
    struct stv_test_fx a, b;
    struct stv_plan again;
    struct stv_problem p;
    struct stv_err err;
    memset(&again, 0, sizeof(again));
    if (stv_test_fx_init(&a) != 0 || stv_test_fx_init(&b) != 0 || build_random(&a, seed) != 0 ||
        build_random(&b, seed) != 0 || stv_test_fx_solve(&a) != 0 || stv_test_fx_solve(&b) != 0) {
      bad = 1;
    } else {
      /* Same snapshot packed again, and an equal snapshot built anew. */
      p = stv_test_fx_problem(&a);
      if (stv_pack(&p, &again, &err) != 0 || !plans_equal(&a.plan, &again) || !plans_equal(&a.plan, &b.plan)) {
        fprintf(stderr, "  seed %llu: plans differ\n", (unsigned long long)seed);
        bad = 1;
      }
    }
    stv_plan_close(&again);
    stv_test_fx_close(&a);
    stv_test_fx_close(&b);
  }
  CHECK_EQ_INT(bad, 0);
}

/*
 * Fails the n-th allocation of stv_pack for n = 0, 1, ... until the solve
 * gets through: every failure must be STV_ENOMEM with the plan left empty
 * (and, under AddressSanitizer, nothing leaked). A few allocations whose
 * failure only costs an optimisation may succeed in between, so the loop
 * ends once a long run of successes shows the solve no longer reaches the
 * failing allocation.
 */
static int enomem_sweep(struct stv_test_fx *fx, long *nfail) {
  struct stv_problem p = stv_test_fx_problem(fx);
  long n, ok_run = 0;
  char why[512];
  *nfail = 0;
  for (n = 0; n < 200000 && ok_run < 64; n++) {
    struct stv_err err = {0, ""};
    int rc;
    stv_plan_close(&fx->plan);
    stv_alloc_fail_after(n);
    rc = stv_pack(&p, &fx->plan, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) {
      ok_run++;
      if (check_plan(fx, why, sizeof(why)) != 0) {
        fprintf(stderr, "  allocation %ld failed: invalid plan: %s\n", n, why);
        return -1;
      }
      continue;
    }
    ok_run = 0;
    (*nfail)++;
    if (rc != STV_ENOMEM || err.code != STV_ENOMEM || fx->plan.nnodes != 0 || fx->plan.nodes != NULL ||
        fx->plan.nunsched != 0) {
      fprintf(stderr, "  allocation %ld failed: got %s (%s), plan not empty\n", n, stv_err_name(rc), err.msg);
      return -1;
    }
  }
  return ok_run >= 64 ? 0 : -1;
}

STV_TEST_FX(should_return_enomem_cleanly_when_any_allocation_fails) {
  static const uint64_t seeds[] = {3, 7, 11, 42, 99};
  struct stv_err err = {0, ""};
  long nfail = 0;
  size_t i;
  /* A hand-made case with every kind of rule. */
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(POD(.ns = "kube-system", .name = "agent", .cpu_m = 100, .mem_mi = 128, .daemonset = 1,
            .owner_uid = "ds-agent-uid", .node_name = "ip-10-0-1-17") >= 0);
  CHECK(POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_zone = 1, .count = 6) >=
        0);
  CHECK(POD(.name = "cache", .cpu_m = 1000, .mem_mi = 2048, .labels = {{"app", "cache"}}, .anti_host = 1,
            .count = 3) >= 0);
  CHECK(POD(.name = "queue", .cpu_m = 700, .mem_mi = 1024, .labels = {{"app", "queue"}}, .aff_zone = 1, .count = 3) >=
        0);
  CHECK(POD(.name = "big", .cpu_m = 64000, .mem_mi = 1024) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) >= 0);
  CHECK(add_type(fx, "c5.xlarge", "us-east-1c", -1) >= 0);
  CHECK(TMPL(.instance_type = "m5.large", .zone = "us-east-1b", .cpu_m = 1930, .mem_mi = 7134, .price = 0.03,
             .reserved = 2) >= 0);
  CHECK(stv_snapshot_finish(&fx->s, &err) == 0);
  CHECK(enomem_sweep(fx, &nfail) == 0);
  CHECK(nfail > 10);
  for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
    struct stv_test_fx f;
    int rc = -1;
    if (stv_test_fx_init(&f) == 0 && build_random(&f, seeds[i]) == 0 && stv_snapshot_finish(&f.s, &err) == 0)
      rc = enomem_sweep(&f, &nfail);
    stv_test_fx_close(&f);
    if (rc != 0) fprintf(stderr, "  random problem of seed %llu\n", (unsigned long long)seeds[i]);
    CHECK_EQ_INT(rc, 0);
  }
}

/* ---------------------------------------------------------------------- */
/* Host ports, lifecycle taints and the unschedulable toleration          */

/* Host-port rules as the snapshot reader writes them (see controller/kube/snapshot.c). */
static const struct stv_requirement hp_any_req = {STV_HOST_PORT_LABEL_PREFIX "TCP/8080", STV_OP_EXISTS, 0,
                                                  NULL};
static const struct stv_pod_term hp_any_term = {
    {1, (struct stv_requirement *)&hp_any_req}, 0, STV_TEST_HOST_KEY, 0, NULL, 1, {0, NULL}};

STV_TEST_FX(should_give_each_pod_of_one_host_port_its_own_node) {
  int web, p, q;
  CHECK((web = POD(.name = "web", .cpu_m = 100, .mem_mi = 128,
                   .labels = {{STV_HOST_PORT_LABEL_PREFIX "TCP/8080", ""},
                              {STV_HOST_PORT_LABEL_PREFIX "TCP/8080@0.0.0.0", ""}},
                   .anti = &hp_any_term, .nanti = 1, .count = 3)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 3);
  CHECK_EQ_INT(fx->plan.nnew, 3);
  for (p = web; p < web + 3; p++)
    for (q = web; q < p; q++)
      CHECK(stv_test_node_of(&fx->plan, (uint32_t)p) != stv_test_node_of(&fx->plan, (uint32_t)q));
}

STV_TEST_FX(should_name_the_host_port_a_daemonset_holds_on_every_node) {
  int agent;
  CHECK(POD(.name = "exporter", .cpu_m = 100, .mem_mi = 64, .daemonset = 1, .owner_uid = "ds-1",
            .labels = {{STV_HOST_PORT_LABEL_PREFIX "TCP/8080", ""},
                       {STV_HOST_PORT_LABEL_PREFIX "TCP/8080@0.0.0.0", ""}},
            .anti = &hp_any_term, .nanti = 1, .tol = {{NULL, 1, NULL, STV_EFFECT_ALL}}) >= 0);
  CHECK((agent = POD(.name = "agent", .cpu_m = 100, .mem_mi = 64,
                     .labels = {{STV_HOST_PORT_LABEL_PREFIX "TCP/8080", ""},
                                {STV_HOST_PORT_LABEL_PREFIX "TCP/8080@0.0.0.0", ""}},
                     .anti = &hp_any_term, .nanti = 1)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 0);
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)agent), "host port 8080/TCP");
}

STV_TEST_FX(should_place_a_pod_tolerating_the_unschedulable_taint_on_a_cordoned_node) {
  int helper, web;
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 7910, .mem_mi = 29317, .zone = "us-east-1a",
             .instance_type = "m5.2xlarge", .unschedulable = 1,
             .taints = {{"node.kubernetes.io/unschedulable", "", STV_EFFECT_NO_SCHEDULE}}) == 0);
  CHECK((helper = POD(.name = "helper", .cpu_m = 500, .mem_mi = 512,
                      .tol = {{"node.kubernetes.io/unschedulable", 1, NULL, STV_EFFECT_NO_SCHEDULE}})) >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(node_of(fx, helper)->existing, 0);
  CHECK_EQ_INT(node_of(fx, web)->existing, -1);
}

STV_TEST_FX(should_not_count_the_room_of_a_not_ready_node_in_the_lower_bound) {
  CHECK(NODE(.name = "ip-10-0-1-17", .cpu_m = 7910, .mem_mi = 29317, .zone = "us-east-1a",
             .instance_type = "m5.2xlarge",
             .taints = {{"node.kubernetes.io/not-ready", "", STV_EFFECT_NO_SCHEDULE}}) == 0);
  CHECK(POD(.name = "web", .cpu_m = 1500, .mem_mi = 512, .count = 2) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nnew, 2);
  CHECK(fx->plan.has_lower_bound);
  /* Two 1.5-cpu pods need two m5.large (2 cpu each); the not-ready node's
   * 7.9 free cpu would have brought the bound to 0. */
  CHECK(fx->plan.lower_bound > 0.5 * fx->plan.new_cost);
}

STV_TEST_FX(should_name_host_ports_among_other_rules_when_the_pod_has_its_own_anti_affinity) {
  int agent;
  CHECK(POD(.name = "exporter", .cpu_m = 100, .mem_mi = 64, .daemonset = 1, .owner_uid = "ds-1",
            .labels = {{STV_HOST_PORT_LABEL_PREFIX "TCP/8080", ""},
                       {STV_HOST_PORT_LABEL_PREFIX "TCP/8080@0.0.0.0", ""}},
            .anti = &hp_any_term, .nanti = 1, .tol = {{NULL, 1, NULL, STV_EFFECT_ALL}}) >= 0);
  CHECK((agent = POD(.name = "agent", .cpu_m = 100, .mem_mi = 64,
                     .labels = {{"app", "agent"},
                                {STV_HOST_PORT_LABEL_PREFIX "TCP/8080", ""},
                                {STV_HOST_PORT_LABEL_PREFIX "TCP/8080@0.0.0.0", ""}},
                     .anti = &hp_any_term, .nanti = 1, .anti_host = 1)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nplaced, 0);
  CHECK_STR_CONTAINS(stv_test_unsched_reason(&fx->plan, (uint32_t)agent),
                     "(its host port 8080/TCP among them)");
}

STV_TEST_FX(should_count_no_pods_for_an_empty_spread_selector) {
  struct stv_spread sp = {1, STV_TEST_ZONE_KEY, 1, {0, NULL}, 0, 0, 1, 0};
  int web;
  /* Full nodes in us-east-1b and c; new nodes only in us-east-1a. An empty
   * selector counts nothing (kube-scheduler), so all four share 1a. */
  CHECK(NODE(.name = "b-full", .cpu_m = 100, .mem_mi = 128, .zone = "us-east-1b") == 0);
  CHECK(NODE(.name = "c-full", .cpu_m = 100, .mem_mi = 128, .zone = "us-east-1c") >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread = &sp,
                   .nspread = 1, .count = 4)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(placed_in_zone(fx, web, 4, "us-east-1a"), 4);
  CHECK_EQ_INT(fx->plan.nunsched, 0);
}

STV_TEST_FX(should_hold_the_minimum_at_zero_with_a_selector_and_full_zones) {
  int web;
  CHECK(NODE(.name = "b-full", .cpu_m = 100, .mem_mi = 128, .zone = "us-east-1b") == 0);
  CHECK(NODE(.name = "c-full", .cpu_m = 100, .mem_mi = 128, .zone = "us-east-1c") >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_zone = 1,
                   .count = 4)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(placed_in_zone(fx, web, 4, "us-east-1a"), 1);
  CHECK_EQ_INT(fx->plan.nunsched, 3);
}

STV_TEST_FX(should_place_no_zone_spread_pod_on_a_node_without_the_zone_label) {
  int web, i;
  CHECK(NODE(.name = "unlabelled", .cpu_m = 8000, .mem_mi = 16384) == 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .spread_zone = 1,
                   .count = 2)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nunsched, 0);
  for (i = web; i < web + 2; i++) {
    long n = stv_test_node_of(&fx->plan, (uint32_t)i);
    CHECK(n >= 0);
    CHECK(fx->plan.nodes[n].existing < 0);
  }
}

STV_TEST_FX(should_not_count_a_template_zone_the_pod_cannot_use_as_a_domain) {
  int big;
  /* Only us-east-1a and b offer a type the 3-cpu pods fit; us-east-1c's
   * small type does not make it a domain, so all four are placed. */
  CHECK((big = POD(.name = "big", .cpu_m = 3000, .mem_mi = 2048, .labels = {{"app", "big"}}, .spread_zone = 1,
                   .count = 4)) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1a", -1) >= 0);
  CHECK(add_type(fx, "m5.xlarge", "us-east-1b", -1) >= 0);
  CHECK(add_type(fx, "c5.large", "us-east-1c", -1) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nunsched, 0);
  CHECK_EQ_INT(placed_in_zone(fx, big, 4, "us-east-1a"), 2);
  CHECK_EQ_INT(placed_in_zone(fx, big, 4, "us-east-1b"), 2);
}

STV_TEST_FX(should_count_spread_pods_only_on_nodes_that_are_domains) {
  int web;
  /* Three web pods run in us-east-1a on a node the pending ones may not
   * use: under nodeAffinityPolicy Honor they do not count, so the two
   * pending pods take one zone each (us-east-1b has room for one only). */
  CHECK(NODE(.name = "a-other", .cpu_m = 4000, .mem_mi = 8192, .zone = "us-east-1a",
             .labels = {{"pool", "other"}}) >= 0);
  CHECK(NODE(.name = "a-mine", .cpu_m = 4000, .mem_mi = 8192, .zone = "us-east-1a",
             .labels = {{"pool", "mine"}}) >= 0);
  CHECK(NODE(.name = "b-mine", .cpu_m = 600, .mem_mi = 8192, .zone = "us-east-1b",
             .labels = {{"pool", "mine"}}) >= 0);
  CHECK(POD(.name = "old", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}}, .node_name = "a-other",
            .phase = STV_PHASE_RUNNING, .count = 3) >= 0);
  CHECK((web = POD(.name = "web", .cpu_m = 500, .mem_mi = 512, .labels = {{"app", "web"}},
                   .node_selector = {{"pool", "mine"}}, .spread_zone = 1, .count = 2)) >= 0);
  SOLVE();
  CHECK_EQ_INT(fx->plan.nunsched, 0);
  CHECK_EQ_INT(placed_in_zone(fx, web, 2, "us-east-1a"), 1);
  CHECK_EQ_INT(placed_in_zone(fx, web, 2, "us-east-1b"), 1);
}

/* ---------------------------------------------------------------------- */
/* Volumes: blocked classes and attach limits                             */

/* Gives pod a copy of its class with a blocked reason, as the snapshot reader does for its claims. */
static int block_pod(struct stv_test_fx *fx, int pod, const char *why) {
  struct stv_class c = *fx->s.classes[fx->s.pods[pod].cls];
  if ((c.blocked = stv_strpool_get(&fx->s.pool, why)) == NULL) return STV_ENOMEM;
  return stv_snapshot_intern_class(&fx->s, &c, &fx->s.pods[pod].cls);
}

STV_TEST_FX(should_list_pods_of_a_blocked_class_with_its_reason_and_place_the_others) {
  static const char why[] = "pod has unbound immediate PersistentVolumeClaims (claim data-imm-0)";
  const char *got;
  int held, free_;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK((held = POD(.name = "imm-0", .cpu_m = 100, .mem_mi = 64)) >= 0);
  CHECK((free_ = POD(.name = "web-0", .cpu_m = 100, .mem_mi = 64)) >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) == 0);
  CHECK(block_pod(fx, held, why) == 0);
  CHECK(fx->s.pods[held].cls != fx->s.pods[free_].cls);
  SOLVE();
  CHECK_EQ_INT(stv_test_times_placed(&fx->plan, (uint32_t)held), 0);
  CHECK((got = stv_test_unsched_reason(&fx->plan, (uint32_t)held)) != NULL && strcmp(got, why) == 0);
  CHECK_EQ_INT(fx->plan.nodes[stv_test_node_of(&fx->plan, (uint32_t)free_)].existing, 0);
  CHECK_EQ_INT(fx->plan.nnew, 0);
}

STV_TEST_FX(should_hold_attachments_within_a_nodes_attach_limit) {
  int k, first = -1, i;
  uint32_t on_node = 0;
  size_t n;
  /* The node has cpu for all six pods but reports 4 EBS attachments, one in use. */
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(POD(.name = "run-0", .cpu_m = 100, .mem_mi = 64, .res = STV_ATTACH_PREFIX "ebs.csi.aws.com",
            .res_qty = 1, .node_name = "ip-10-0-1-17") >= 0);
  for (i = 0; i < 6; i++) {
    char name[16];
    int p;
    snprintf(name, sizeof(name), "db-%d", i);
    CHECK((p = POD(.name = name, .cpu_m = 100, .mem_mi = 64, .res = STV_ATTACH_PREFIX "ebs.csi.aws.com",
                   .res_qty = 1)) >= 0);
    if (first < 0) first = p;
  }
  k = stv_resnames_index(&fx->s.res, &fx->s.pool, STV_ATTACH_PREFIX "ebs.csi.aws.com", 0);
  CHECK(k >= STV_RES_FIXED);
  fx->s.nodes[0].alloc[k] = 4;
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) == 0);
  fx->tmpl[0].alloc[k] = 25;
  SOLVE();
  for (n = 0; n < fx->plan.nnodes; n++)
    if (fx->plan.nodes[n].existing == 0) on_node = fx->plan.nodes[n].npods;
  CHECK_EQ_INT(on_node, 3);
  CHECK_EQ_INT(fx->plan.nnew, 1);
  CHECK_EQ_INT(fx->plan.nplaced, 6);
}

/* ---------------------------------------------------------------------- */
/* Priority and preemption                                                */

/* Gives pods first..first+n-1 priority prio (and preemptionPolicy Never when never). */
static int set_priority(struct stv_test_fx *fx, int first, uint32_t n, int32_t prio, int never) {
  uint32_t i;
  if (first < 0) return first;
  for (i = 0; i < n; i++) {
    fx->s.pods[(size_t)first + i].priority = prio;
    fx->s.pods[(size_t)first + i].preempt_never = (uint8_t)never;
  }
  return first;
}

static const struct stv_plan_preemption *preemption_of(const struct stv_plan *plan, uint32_t pod) {
  size_t i;
  for (i = 0; i < plan->npreemptions; i++)
    if (plan->preemptions[i].pod == pod) return &plan->preemptions[i];
  return NULL;
}

STV_TEST_FX(should_preempt_the_fewest_lower_priority_pods_when_no_free_room_fits) {
  const struct stv_plan_preemption *e;
  int lo, hi;
  long at;
  /* m5.large: 1930m; two 800m pods of priority 10 leave 330m. */
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  lo = set_priority(fx,
                    POD(.name = "batch", .cpu_m = 800, .mem_mi = 256, .node_name = "ip-10-0-1-17",
                        .phase = STV_PHASE_RUNNING, .count = 2),
                    2, 10, 0);
  CHECK(lo >= 0);
  hi = set_priority(fx, POD(.name = "api", .cpu_m = 1000, .mem_mi = 512), 1, 1000, 0);
  CHECK(hi >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.npreemptions, 1);
  e = preemption_of(&fx->plan, (uint32_t)hi);
  CHECK(e != NULL);
  CHECK_EQ_INT(e->node, 0);
  CHECK_EQ_INT(e->nvictims, 1);
  CHECK_EQ_INT(fx->plan.nvictims, 1);
  /* The first (more important at equal priority) is reprieved. */
  CHECK_EQ_INT(e->victims[0], (uint32_t)lo + 1);
  at = stv_test_node_of(&fx->plan, (uint32_t)hi);
  CHECK(at >= 0 && fx->plan.nodes[at].existing == 0);
  /* The victim is pending again: on a new node. */
  at = stv_test_node_of(&fx->plan, (uint32_t)lo + 1);
  CHECK(at >= 0 && fx->plan.nodes[at].existing < 0);
  CHECK_EQ_INT(fx->plan.npending, 2);
  CHECK_EQ_INT(fx->plan.nplaced, 2);
  CHECK_EQ_INT(fx->plan.nnew, 1);
}

STV_TEST_FX(should_not_preempt_for_never_policy_equal_priority_or_daemonsets) {
  int hi;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(set_priority(fx,
                     POD(.name = "same", .cpu_m = 800, .mem_mi = 256, .node_name = "ip-10-0-1-17",
                         .phase = STV_PHASE_RUNNING),
                     1, 1000, 0) >= 0);
  CHECK(set_priority(fx,
                     POD(.ns = "kube-system", .name = "agent", .cpu_m = 800, .mem_mi = 256, .daemonset = 1,
                         .owner_uid = "ds-agent", .node_name = "ip-10-0-1-17", .phase = STV_PHASE_RUNNING),
                     1, 0, 0) >= 0);
  hi = set_priority(fx, POD(.name = "api", .cpu_m = 1000, .mem_mi = 512), 1, 1000, 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.npreemptions, 0);
  /* A lower-priority bound pod, but the preemptor may not preempt. */
  fx->s.pods[0].priority = 5;
  fx->s.pods[hi].preempt_never = 1;
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.npreemptions, 0);
  CHECK(fx->plan.nodes[stv_test_node_of(&fx->plan, (uint32_t)hi)].existing < 0);
  /* Allowed to: the ordinary pod goes, the DaemonSet's stays. */
  fx->s.pods[hi].preempt_never = 0;
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.npreemptions, 1);
  CHECK_EQ_INT(fx->plan.preemptions[0].nvictims, 1);
  CHECK_EQ_INT(fx->plan.preemptions[0].victims[0], 0);
}

STV_TEST_FX(should_prefer_the_node_without_a_budget_violation) {
  struct stv_pdb b;
  int hi;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(add_node(fx, "ip-10-0-1-18", "m5.large", "us-east-1a") == 1);
  /* Node 0: a pod of priority 1 under a budget that allows no disruption; node 1: priority 50. */
  CHECK(set_priority(fx,
                     POD(.name = "ledger", .cpu_m = 1500, .mem_mi = 256, .labels = {{"app", "ledger"}},
                         .node_name = "ip-10-0-1-17", .phase = STV_PHASE_RUNNING),
                     1, 1, 0) >= 0);
  CHECK(set_priority(fx,
                     POD(.name = "report", .cpu_m = 1500, .mem_mi = 256, .node_name = "ip-10-0-1-18",
                         .phase = STV_PHASE_RUNNING),
                     1, 50, 0) >= 0);
  hi = set_priority(fx, POD(.name = "api", .cpu_m = 1000, .mem_mi = 512), 1, 1000, 0);
  memset(&b, 0, sizeof(b));
  b.ns = stv_test_str(&fx->s, "default");
  b.name = stv_test_str(&fx->s, "ledger");
  b.min_available = stv_test_str(&fx->s, "1");
  CHECK(stv_test_selector_of_labels(&fx->s, &b.sel, &fx->s.classes[fx->s.pods[0].cls]->labels) == 0);
  CHECK_EQ_INT(stv_snapshot_add_pdb(&fx->s, &b), 0);
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.npreemptions, 2);
  CHECK_EQ_INT(fx->plan.preemptions[0].node, 1);
  CHECK_EQ_INT(fx->plan.preemptions[0].pdb_violations, 0);
  /* The victim, pending again, has nowhere else to go: it evicts ledger, budget or not. */
  CHECK_EQ_INT(fx->plan.preemptions[1].pod, 1);
  CHECK_EQ_INT(fx->plan.preemptions[1].node, 0);
  CHECK_EQ_INT(fx->plan.preemptions[1].victims[0], 0);
  CHECK_EQ_INT(fx->plan.preemptions[1].pdb_violations, 1);
  /* Without the budget, the lower victim priority wins. */
  fx->s.npdbs = 0;
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.preemptions[0].node, 0);
  CHECK(preemption_of(&fx->plan, (uint32_t)hi) != NULL);
}

STV_TEST_FX(should_list_pods_not_planned_and_buy_no_node_for_them) {
  int gated, low;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  gated = POD(.name = "train", .cpu_m = 60000, .mem_mi = 512);
  low = set_priority(fx, POD(.name = "pause", .cpu_m = 60000, .mem_mi = 512), 1, -100, 0);
  CHECK(gated >= 0 && low >= 0);
  fx->s.pods[gated].first_gate = stv_test_str(&fx->s, "kueue.x-k8s.io/admission");
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.nskipped, 2);
  CHECK_EQ_INT(fx->plan.skipped[0].pod, (uint32_t)gated);
  CHECK_EQ_INT(fx->plan.skipped[0].category, STV_NP_GATED);
  CHECK(strstr(fx->plan.skipped[0].reason, "kueue.x-k8s.io/admission") != NULL);
  CHECK_EQ_INT(fx->plan.skipped[1].category, STV_NP_EXPENDABLE);
  CHECK_EQ_INT(fx->plan.nunsched, 0);
  CHECK_EQ_INT(fx->plan.npending, 0);
  CHECK_EQ_INT(fx->plan.nnodes, 0);
}

STV_TEST_FX(should_leave_out_a_victim_below_the_cutoff) {
  int lo, hi;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  lo = set_priority(fx,
                    POD(.name = "pause", .cpu_m = 1500, .mem_mi = 256, .node_name = "ip-10-0-1-17",
                        .phase = STV_PHASE_RUNNING),
                    1, -100, 0);
  hi = set_priority(fx, POD(.name = "api", .cpu_m = 1000, .mem_mi = 512), 1, 0, 0);
  CHECK(lo >= 0 && hi >= 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK_EQ_INT(stv_test_fx_solve(fx), 0);
  CHECK_EQ_INT(fx->plan.npreemptions, 1);
  CHECK_EQ_INT(fx->plan.nskipped, 1);
  CHECK_EQ_INT(fx->plan.skipped[0].pod, (uint32_t)lo);
  CHECK_EQ_INT(fx->plan.skipped[0].category, STV_NP_EXPENDABLE);
  CHECK(strstr(fx->plan.skipped[0].reason, "preempted by default/api on node ip-10-0-1-17") != NULL);
  CHECK_EQ_INT(fx->plan.nnew, 0);
  CHECK_EQ_INT(stv_test_node_of(&fx->plan, (uint32_t)lo), -1);
}

STV_TEST_FX(should_return_enomem_cleanly_from_the_preemption_pass) {
  struct stv_problem p;
  struct stv_pdb b;
  long n, nfail = 0;
  int ok = 0;
  CHECK(add_node(fx, "ip-10-0-1-17", "m5.large", "us-east-1a") == 0);
  CHECK(set_priority(fx,
                     POD(.name = "batch", .cpu_m = 800, .mem_mi = 256, .labels = {{"app", "batch"}},
                         .node_name = "ip-10-0-1-17", .phase = STV_PHASE_RUNNING, .count = 2),
                     2, 10, 0) >= 0);
  CHECK(set_priority(fx, POD(.name = "api", .cpu_m = 1000, .mem_mi = 512), 1, 1000, 0) >= 0);
  CHECK(set_priority(fx, POD(.name = "pause", .cpu_m = 100, .mem_mi = 64), 1, -50, 0) >= 0);
  memset(&b, 0, sizeof(b));
  b.ns = stv_test_str(&fx->s, "default");
  b.name = stv_test_str(&fx->s, "batch");
  b.max_unavailable = stv_test_str(&fx->s, "50%");
  CHECK(stv_test_selector_of_labels(&fx->s, &b.sel, &fx->s.classes[fx->s.pods[0].cls]->labels) == 0);
  CHECK_EQ_INT(stv_snapshot_add_pdb(&fx->s, &b), 0);
  CHECK(add_type(fx, "m5.large", "us-east-1a", -1) >= 0);
  CHECK_EQ_INT(stv_snapshot_finish(&fx->s, &fx->err), 0);
  p = stv_test_fx_problem(fx);
  for (n = 0; n < 100000 && !ok; n++) {
    struct stv_err err = {0, ""};
    int rc;
    stv_plan_close(&fx->plan);
    stv_alloc_fail_after(n);
    rc = stv_pack(&p, &fx->plan, &err);
    stv_alloc_fail_after(-1);
    if (rc == 0) {
      ok = 1;
      break;
    }
    nfail++;
    CHECK_EQ_INT(rc, STV_ENOMEM);
    CHECK(fx->plan.nnodes == 0 && fx->plan.npreemptions == 0 && fx->plan.nskipped == 0 &&
          fx->plan.preemptions == NULL && fx->plan.skipped == NULL);
  }
  CHECK(ok);
  CHECK(nfail > 10);
  CHECK_EQ_INT(fx->plan.npreemptions, 1);
  CHECK_EQ_INT(fx->plan.nskipped, 1);
}
