/*
 * `stevedore recommend --mode repack`: the what-if repack. The cheapest
 * cluster for every movable pod, planned with stv_optimize on the nodes
 * that must stay, compared with what the cluster costs now; the design is
 * in docs/repack.md.
 *
 * The plan is made in rounds. Each round restores the pods as read, makes
 * the movable pods of every node not kept pending, drops those nodes and
 * plans. A movable pod that fits nowhere keeps its node; a new node just
 * like a dropped one (instance type, capacity type, zone) keeps that node
 * instead, with its pods where they are. Either change calls for another
 * round; a round that changes nothing is the answer. Each round keeps at
 * least one more node, so there are at most nodes + 1 of them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "recommend_internal.h"
#include "pricing.h"

#define HOURS_PER_MONTH 730.0

void stv_repack_close(struct stv_repack *rp) {
  stv_free(rp->nodes);
  stv_free(rp->rn);
  stv_free(rp->add);
  stv_free(rp->unplaced);
  stv_free(rp->pdb);
  stv_cons_result_close(&rp->cons);
  memset(rp, 0, sizeof(*rp));
}

/* Why pod p must stay where it is, or NULL when it may move. DaemonSet pods are not asked. */
static const char *unmovable_reason(const struct stv_pod *p) {
  if (p->flags & STV_POD_MIRROR) return "static (mirror) pod";
  if (p->flags & STV_POD_LOCAL_STORAGE) return "local storage (emptyDir or hostPath)";
  if (p->flags & STV_POD_DO_NOT_DISRUPT) return "stevedore.io/do-not-disrupt";
  if (p->owner_kind == NULL) return "no controller owner (a bare pod would not come back)";
  return NULL;
}

/*
 * Why the repack keeps system pod p where it is, or NULL: a pod of
 * system-node-critical or system-cluster-critical priority (or any priority
 * from 2,000,000,000 up, the range reserved for them), or one a controller
 * owns in kube-system (coredns, metrics-server, CSI controllers). Moved
 * only with --repack-system-pods.
 */
static const char *system_reason(const struct stv_pod *p, char *buf, size_t size) {
  if (p->priority_class != NULL && (strcmp(p->priority_class, "system-node-critical") == 0 ||
                                    strcmp(p->priority_class, "system-cluster-critical") == 0)) {
    snprintf(buf, size, "%s priority (a system pod; --repack-system-pods moves it)", p->priority_class);
    return buf;
  }
  if (p->has_priority && p->priority >= 2000000000) {
    snprintf(buf, size, "priority %d, a system-critical one (--repack-system-pods moves it)",
             (int)p->priority);
    return buf;
  }
  if (p->owner_kind != NULL && strcmp(p->ns, "kube-system") == 0) {
    snprintf(buf, size, "kube-system pod of %s %s (--repack-system-pods moves it)", p->owner_kind,
             p->owner_name != NULL ? p->owner_name : "");
    return buf;
  }
  return NULL;
}

static const char *node_ct(const struct stv_node *n) {
  return n->capacity_type != NULL ? n->capacity_type : "on-demand";
}

/* Prices every node; unpriced nodes are kept. */
static void price_nodes(struct stv_repack *rp, const struct stv_catalog *cat) {
  size_t i;
  for (i = 0; i < rp->nnodes; i++) {
    const struct stv_node *n = &rp->nodes[i];
    struct stv_repack_node *x = &rp->rn[i];
    enum stv_capacity_type ct;
    int zone_mean;
    if (stv_capacity_type_parse(node_ct(n), &ct) != 0) {
      snprintf(x->why, sizeof(x->why), "unknown capacity type \"%s\"", n->capacity_type);
    } else if (stv_catalog_price(cat, n->instance_type, ct, n->zone, &x->hourly, &zone_mean, x->why,
                                 sizeof(x->why)) == 0) {
      x->priced = 1;
      x->why[0] = '\0';
      rp->current_hourly += x->hourly;
      continue;
    }
    x->keep = STV_KEEP_UNPRICED;
    rp->nunpriced++;
  }
}

/*
 * Marks the nodes holding an unmovable pod as kept (unless already kept as
 * unpriced); system pods are unmovable unless system_pods is set.
 */
static void keep_unmovable(struct stv_repack *rp, const struct stv_snapshot *s, const int32_t *home,
                           int system_pods) {
  size_t i;
  char buf[160];
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    const char *why;
    struct stv_repack_node *x;
    if (home[i] < 0 || s->classes[p->cls]->daemonset) continue;
    why = unmovable_reason(p);
    if (why == NULL && !system_pods && (why = system_reason(p, buf, sizeof(buf))) != NULL)
      rp->system_pods_kept++;
    if (why == NULL) continue;
    x = &rp->rn[home[i]];
    if (x->keep == STV_KEEP_UNMOVABLE || x->keep == STV_KEEP_UNPRICED) continue;
    x->keep = STV_KEEP_UNMOVABLE;
    snprintf(x->why, sizeof(x->why), "holds %s/%s: %s", p->ns, p->name, why);
  }
}

struct saved_pod;
static int promote_classes(struct stv_snapshot *s, struct saved_pod *sp, const int32_t *home);

/* Pod state as read, restored before every round. */
struct saved_pod {
  const char *node_name;
  uint8_t phase;
  uint32_t cls;      /* class as read */
  uint32_t cls_move; /* class when moved: preferred zone rules made required */
};

/*
 * The repack's policy for preferences: a pod that moves keeps its preferred
 * zone-level rules as required ones (stv_snapshot_promote_class), so that
 * replicas spread over zones stay spread. Sets sp[i].cls_move for every pod
 * that may move. Returns 0 or STV_ENOMEM.
 */
static int promote_classes(struct stv_snapshot *s, struct saved_pod *sp, const int32_t *home) {
  size_t n = s->nclasses, i;
  uint32_t *to = stv_malloc((n + 1) * sizeof(*to));
  int rc = 0;
  if (to == NULL) return STV_ENOMEM;
  for (i = 0; i < n; i++) to[i] = UINT32_MAX;
  for (i = 0; i < s->npods; i++) {
    uint32_t c = sp[i].cls;
    if (home[i] < 0 || c >= n || s->classes[c]->daemonset) continue;
    if (to[c] == UINT32_MAX && (rc = stv_snapshot_promote_class(s, c, &to[c])) != 0) break;
    sp[i].cls_move = to[c];
  }
  stv_free(to);
  return rc;
}

/*
 * Sets up s for a round: the kept nodes only, the movable pods of the
 * others pending, their DaemonSet pods gone (the packer reserves
 * DaemonSets on every new node), pods pending in the snapshot left out.
 * kmap[k] is the original index of s->nodes[k].
 */
static int setup_round(struct stv_repack *rp, struct stv_snapshot *s, const struct saved_pod *sp,
                       const int32_t *home, struct stv_node *kept, uint32_t *kmap, struct stv_err *err) {
  size_t i, nk = 0;
  int rc;
  for (i = 0; i < rp->nnodes; i++)
    if (rp->rn[i].keep != STV_KEEP_NOT) {
      kept[nk] = rp->nodes[i];
      kmap[nk++] = (uint32_t)i;
    }
  for (i = 0; i < s->npods; i++) {
    struct stv_pod *p = &s->pods[i];
    p->node_name = sp[i].node_name;
    p->phase = sp[i].phase;
    p->cls = sp[i].cls;
    if (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) continue;
    if (home[i] < 0 || (p->flags & STV_POD_HEADROOM)) {
      p->phase = STV_PHASE_SUCCEEDED; /* left out of the what-if */
      p->node_name = NULL;
      continue;
    }
    if (rp->rn[home[i]].keep != STV_KEEP_NOT) continue;
    p->node_name = NULL;
    p->phase = s->classes[p->cls]->daemonset ? STV_PHASE_SUCCEEDED : STV_PHASE_PENDING;
    if (p->phase == STV_PHASE_PENDING) p->cls = sp[i].cls_move;
  }
  if ((rc = stv_snapshot_set_nodes(s, kept, nk)) != 0)
    return stv_err_set(err, rc, "repack: %s", stv_strerror(rc));
  return stv_snapshot_finish(s, err);
}

static int same(const char *a, const char *b) {
  return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/*
 * After a round: keeps the node of every movable pod that fits nowhere
 * (recording the pod), else the dropped node each new node could be.
 * Returns the number of nodes newly kept, or STV_ENOMEM.
 */
static long review_round(struct stv_repack *rp, const struct stv_recommend_result *r, const int32_t *home) {
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = &r->snap;
  long changed = 0;
  size_t i, j;
  for (i = 0; i < plan->nunsched; i++) {
    const struct stv_plan_unsched *u = &plan->unsched[i];
    struct stv_repack_unplaced *x;
    int32_t n = home[u->pod];
    if (n < 0 || rp->rn[n].keep != STV_KEEP_NOT) continue;
    if (stv_grow((void **)&rp->unplaced, &rp->cap_unplaced, rp->nunplaced + 1, sizeof(*rp->unplaced)) != 0)
      return STV_ENOMEM;
    x = &rp->unplaced[rp->nunplaced++];
    x->pod = u->pod;
    x->node = (uint32_t)n;
    snprintf(x->reason, sizeof(x->reason), "%s", u->reason);
    rp->rn[n].keep = STV_KEEP_UNPLACEABLE;
    snprintf(rp->rn[n].why, sizeof(rp->rn[n].why), "holds %s/%s, which fits nowhere else", s->pods[u->pod].ns,
             s->pods[u->pod].name);
    changed++;
  }
  if (changed) return changed;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    const struct stv_template *t;
    if (pn->existing >= 0) continue;
    t = &r->problem.tmpl[pn->tmpl];
    for (j = 0; j < rp->nnodes; j++) {
      const struct stv_node *n = &rp->nodes[j];
      if (rp->rn[j].keep != STV_KEEP_NOT || n->unschedulable || !rp->rn[j].priced) continue;
      if (!same(n->instance_type, t->instance_type) || !same(n->zone, t->zone) ||
          strcmp(node_ct(n), stv_capacity_type_name(t->capacity_type)) != 0)
        continue;
      rp->rn[j].keep = STV_KEEP_MATCHED;
      snprintf(rp->rn[j].why, sizeof(rp->rn[j].why), "the cheapest cluster has a node just like it");
      changed++;
      break;
    }
  }
  return changed;
}

/* The disruptions a budget allows over pods healthy pods, or -1 when it says nothing we can read. */
static int64_t pdb_allowed(const struct stv_pdb *b, int64_t pods) {
  const char *v = b->max_unavailable != NULL ? b->max_unavailable : b->min_available;
  char *end;
  double x;
  int64_t k;
  if (v == NULL) return -1;
  x = strtod(v, &end);
  if (end == v || x < 0) return -1;
  if (*end == '%')
    k = (int64_t)ceil(x * (double)pods / 100.0 - 1e-9);
  else if (*end == '\0')
    k = (int64_t)x;
  else
    return -1;
  if (b->max_unavailable != NULL) return k;
  return pods - k > 0 ? pods - k : 0;
}

static int check_pdbs(struct stv_repack *rp, const struct stv_snapshot *s, const int32_t *home) {
  size_t i, j;
  if (s->npdbs == 0) return 0;
  if ((rp->pdb = stv_calloc(s->npdbs, sizeof(*rp->pdb))) == NULL) return STV_ENOMEM;
  for (i = 0; i < s->npdbs; i++) {
    const struct stv_pdb *b = &s->pdbs[i];
    uint32_t pods = 0, moved = 0;
    int64_t allowed;
    for (j = 0; j < s->npods; j++) {
      const struct stv_pod *p = &s->pods[j];
      if (home[j] < 0 || strcmp(p->ns, b->ns) != 0) continue;
      if (!stv_selector_matches(&b->sel, &s->classes[p->cls]->labels)) continue;
      pods++;
      if (p->phase == STV_PHASE_PENDING && p->node_name == NULL) moved++;
    }
    allowed = pdb_allowed(b, pods);
    if (moved == 0 || allowed < 0 || (int64_t)moved <= allowed) continue;
    rp->pdb[rp->npdb].pdb = (uint32_t)i;
    rp->pdb[rp->npdb].pods = pods;
    rp->pdb[rp->npdb].moved = moved;
    rp->pdb[rp->npdb].allowed = allowed;
    rp->npdb++;
  }
  return 0;
}

struct by_cost {
  size_t i;
  double cost;
};

static int cmp_cost(const void *a, const void *b) {
  const struct by_cost *x = a, *y = b;
  if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
  return x->i < y->i ? -1 : x->i > y->i;
}

/* Pairs dropped nodes with new ones, dearest with dearest; the rest are removed or added. */
static int classify(struct stv_repack *rp, const struct stv_recommend_result *r, const int32_t *home) {
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = &r->snap;
  struct by_cost *gone = stv_calloc(rp->nnodes + 1, sizeof(*gone));
  struct by_cost *fresh = stv_calloc(plan->nnodes + 1, sizeof(*fresh));
  size_t ngone = 0, nfresh = 0, i;
  int rc = 0;
  if (gone == NULL || fresh == NULL || (rp->add = stv_calloc(plan->nnodes + 1, sizeof(*rp->add))) == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i < s->npods; i++)
    if (home[i] >= 0 && s->pods[i].phase == STV_PHASE_PENDING && s->pods[i].node_name == NULL &&
        rp->rn[home[i]].keep == STV_KEEP_NOT) {
      rp->rn[home[i]].pods_moved++;
      rp->pods_moved++;
    }
  rp->proposed_hourly = 0;
  for (i = 0; i < rp->nnodes; i++) {
    struct stv_repack_node *x = &rp->rn[i];
    x->with = -1;
    if (x->keep != STV_KEEP_NOT) {
      x->action = STV_REPACK_KEEP;
      if (x->priced) rp->proposed_hourly += x->hourly;
      continue;
    }
    gone[ngone].i = i;
    gone[ngone++].cost = x->hourly;
    x->action = STV_REPACK_REMOVE;
  }
  for (i = 0; i < plan->nnodes; i++) {
    if (plan->nodes[i].existing >= 0) continue;
    fresh[nfresh].i = i;
    /* Priced as the plan is: price, per-node cost, surplus credits (docs/repack.md). */
    fresh[nfresh++].cost = stv_plan_node_cost(&r->problem, &plan->nodes[i]);
    rp->proposed_hourly += fresh[nfresh - 1].cost;
  }
  qsort(gone, ngone, sizeof(*gone), cmp_cost);
  qsort(fresh, nfresh, sizeof(*fresh), cmp_cost);
  for (i = 0; i < ngone && i < nfresh; i++) {
    rp->rn[gone[i].i].action = STV_REPACK_REPLACE;
    rp->rn[gone[i].i].with = (int32_t)fresh[i].i;
  }
  for (; i < nfresh; i++) rp->add[rp->nadd++] = (int32_t)fresh[i].i;
  rp->monthly_savings = (rp->current_hourly - rp->proposed_hourly) * HOURS_PER_MONTH;
out:
  stv_free(gone);
  stv_free(fresh);
  return rc;
}

/*
 * The churn-aware mode (docs/consolidation.md): the nodes priced as above,
 * then the consolidation planner instead of the rounds of the cheapest
 * cluster.
 */
static int churn_run(const struct stv_recommend_args *a, struct stv_recommend_result *r,
                     struct stv_err *err) {
  struct stv_repack *rp = &r->repack;
  const struct stv_snapshot *s = &r->snap;
  double *price;
  size_t i;
  int rc;
  rp->churn = 1;
  rp->cons_options = a->cons;
  rp->nnodes = s->nnodes;
  rp->nodes = stv_calloc(s->nnodes + 1, sizeof(*rp->nodes));
  rp->rn = stv_calloc(s->nnodes + 1, sizeof(*rp->rn));
  price = stv_calloc(s->nnodes + 1, sizeof(*price));
  if (rp->nodes == NULL || rp->rn == NULL || price == NULL) {
    stv_free(price);
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  if (s->nnodes) memcpy(rp->nodes, s->nodes, s->nnodes * sizeof(*s->nodes));
  price_nodes(rp, &r->catalog);
  for (i = 0; i < s->nnodes; i++) price[i] = rp->rn[i].priced ? rp->rn[i].hourly : -1;
  r->problem.no_preemption = 1;
  rc = stv_consolidate(&r->problem, price, &a->cons, &rp->cons, err);
  stv_free(price);
  return rc;
}

int stv_repack_run(const struct stv_recommend_args *a, struct stv_recommend_result *r, struct stv_err *err) {
  struct stv_repack *rp = &r->repack;
  struct stv_snapshot *s = &r->snap;
  struct saved_pod *sp = NULL;
  int32_t *home = NULL;
  struct stv_node *kept = NULL;
  uint32_t *kmap = NULL;
  size_t i;
  long changed;
  int rc = 0;

  memset(rp, 0, sizeof(*rp));
  r->have_repack = 1;
  if (a->churn) return churn_run(a, r, err);
  rp->nnodes = s->nnodes;
  rp->nodes = stv_calloc(s->nnodes + 1, sizeof(*rp->nodes));
  rp->rn = stv_calloc(s->nnodes + 1, sizeof(*rp->rn));
  kept = stv_calloc(s->nnodes + 1, sizeof(*kept));
  kmap = stv_calloc(s->nnodes + 1, sizeof(*kmap));
  sp = stv_calloc(s->npods + 1, sizeof(*sp));
  home = stv_calloc(s->npods + 1, sizeof(*home));
  if (rp->nodes == NULL || rp->rn == NULL || kept == NULL || kmap == NULL || sp == NULL || home == NULL)
    goto oom;
  if (s->nnodes) memcpy(rp->nodes, s->nodes, s->nnodes * sizeof(*s->nodes));
  for (i = 0; i < s->npods; i++) {
    const struct stv_pod *p = &s->pods[i];
    sp[i].node_name = p->node_name;
    sp[i].phase = p->phase;
    sp[i].cls = sp[i].cls_move = p->cls;
    home[i] = (p->phase == STV_PHASE_SUCCEEDED || p->phase == STV_PHASE_FAILED) ? -1 : p->node;
    if (home[i] < 0 && p->phase != STV_PHASE_SUCCEEDED && p->phase != STV_PHASE_FAILED &&
        !s->classes[p->cls]->daemonset && !(p->flags & (STV_POD_HEADROOM | STV_POD_NODE_MISSING)))
      rp->pods_left_out++;
  }
  /* Evicted pods come back to whatever scheduler they had, and nothing
   * preempts in a what-if of moving pods; pods below the priority cutoff need
   * no place, as Cluster Autoscaler's scale-down counts them as absent. */
  s->any_scheduler = 1;
  r->problem.no_preemption = 1;
  price_nodes(rp, &r->catalog);
  rp->system_pods_moved = a->repack_system_pods;
  keep_unmovable(rp, s, home, a->repack_system_pods);
  if ((rc = promote_classes(s, sp, home)) != 0) goto oom;
  for (;;) {
    if ((rc = setup_round(rp, s, sp, home, kept, kmap, err)) != 0) goto out;
    rp->rounds++;
    if ((rc = stv_optimize(&r->problem, &r->plan, err)) != 0) goto out;
    r->have_plan = 1;
    stv_solve_diag_print(&r->plan);
    changed = review_round(rp, r, home);
    if (changed < 0) goto oom;
    if (changed == 0) break;
    stv_plan_close(&r->plan);
    r->have_plan = 0;
  }
  if ((rc = classify(rp, r, home)) != 0) goto oom;
  for (i = 0; i < s->npods; i++)
    if (home[i] >= 0 && rp->rn[home[i]].keep == STV_KEEP_NOT && sp[i].cls_move != sp[i].cls)
      rp->preferences_kept++;
  if ((rc = check_pdbs(rp, s, home)) != 0) goto oom;
  goto out;
oom:
  rc = stv_err_set(err, STV_ENOMEM, "out of memory");
out:
  stv_free(sp);
  stv_free(home);
  stv_free(kept);
  stv_free(kmap);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Output                                                                 */

static cJSON *new_node_json(const struct stv_recommend_result *r, int32_t pi) {
  const struct stv_plan_node *pn = &r->plan.nodes[pi];
  const struct stv_template *t = &r->problem.tmpl[pn->tmpl];
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return NULL;
  cJSON_AddStringToObject(o, "name", pn->name);
  stv__json_add_str_or_null(o, "instance_type", t->instance_type);
  cJSON_AddStringToObject(o, "capacity_type", stv_capacity_type_name(t->capacity_type));
  stv__json_add_str_or_null(o, "zone", t->zone);
  cJSON_AddNumberToObject(o, "hourly_cost", stv_plan_node_cost(&r->problem, pn));
  cJSON_AddNumberToObject(o, "credit_cost", stv_template_credits(t, stv_plan_node_cpu(r->problem.snap, pn)));
  cJSON_AddNumberToObject(o, "pods", pn->npods);
  return o;
}

/* An existing node as both modes print it: name, type, capacity type, zone and price. */
static cJSON *existing_node_json(const struct stv_repack *rp, size_t i) {
  const struct stv_node *n = &rp->nodes[i];
  cJSON *o = cJSON_CreateObject();
  if (o == NULL) return NULL;
  cJSON_AddStringToObject(o, "name", n->name);
  stv__json_add_str_or_null(o, "instance_type", n->instance_type);
  cJSON_AddStringToObject(o, "capacity_type", node_ct(n));
  stv__json_add_str_or_null(o, "zone", n->zone);
  cJSON_AddNumberToObject(o, "hourly_cost", rp->rn[i].hourly);
  return o;
}

static cJSON *old_node_json(const struct stv_repack *rp, size_t i) {
  cJSON *o = existing_node_json(rp, i);
  if (o != NULL) cJSON_AddNumberToObject(o, "pods_moved", rp->rn[i].pods_moved);
  return o;
}

static const char *keep_name(enum stv_repack_keep k) {
  static const char *const names[] = {
      [STV_KEEP_UNMOVABLE] = "unmovable pod",
      [STV_KEEP_UNPRICED] = "unpriced",
      [STV_KEEP_UNPLACEABLE] = "pod fits nowhere else",
      [STV_KEEP_MATCHED] = "in the plan",
  };
  return stv__name_of(names, sizeof(names) / sizeof(names[0]), (unsigned)k);
}

/* ---------------------------------------------------------------------- */
/* The churn-aware mode's output (docs/consolidation.md)                  */


static cJSON *churn_action_json(const struct stv_recommend_result *r, const struct stv_cons_action *x) {
  const struct stv_snapshot *s = &r->snap;
  cJSON *o = cJSON_CreateObject(), *rem, *mv, *add;
  char key[600];
  uint32_t i;
  if (o == NULL) return NULL;
  cJSON_AddStringToObject(o, "kind", stv_cons_kind_name(x->kind));
  if ((rem = cJSON_AddArrayToObject(o, "remove")) == NULL) goto oom;
  for (i = 0; i < x->nremove; i++) {
    cJSON *e = existing_node_json(&r->repack, x->remove[i]);
    if (e == NULL) goto oom;
    cJSON_AddItemToArray(rem, e);
  }
  if (x->tmpl < 0) {
    cJSON_AddNullToObject(o, "add");
  } else {
    const struct stv_template *t = &r->problem.tmpl[x->tmpl];
    if ((add = cJSON_AddObjectToObject(o, "add")) == NULL) goto oom;
    cJSON_AddStringToObject(add, "name", x->new_name);
    stv__json_add_str_or_null(add, "instance_type", t->instance_type);
    cJSON_AddStringToObject(add, "capacity_type", stv_capacity_type_name(t->capacity_type));
    stv__json_add_str_or_null(add, "zone", t->zone);
    cJSON_AddNumberToObject(add, "hourly_cost", x->added_hourly);
  }
  cJSON_AddNumberToObject(o, "saving_hourly", x->saving_hourly);
  cJSON_AddNumberToObject(o, "monthly_saving", x->saving_hourly * HOURS_PER_MONTH);
  cJSON_AddNumberToObject(o, "evictions", x->nevict);
  cJSON_AddNumberToObject(o, "weighted_evictions", x->weight);
  cJSON_AddNumberToObject(o, "cumulative_evictions", x->cum_evictions);
  cJSON_AddNumberToObject(o, "cumulative_monthly_saving", x->cum_monthly_saving);
  if ((mv = cJSON_AddArrayToObject(o, "moves")) == NULL) goto oom;
  for (i = 0; i < x->nmoves; i++) {
    const struct stv_cons_move *m = &x->moves[i];
    const struct stv_pod *p = &s->pods[m->pod];
    cJSON *e = stv__json_array_add_object(mv);
    if (e == NULL) goto oom;
    snprintf(key, sizeof(key), "%s/%s", p->ns, p->name);
    cJSON_AddStringToObject(e, "pod", key);
    stv__json_add_str_or_null(e, "from", p->node_name);
    stv__json_add_str_or_null(e, "to", m->to);
  }
  return o;
oom:
  cJSON_Delete(o);
  return NULL;
}

static int churn_json(const struct stv_recommend_result *r, cJSON *root) {
  const struct stv_repack *rp = &r->repack;
  const struct stv_cons_result *c = &rp->cons;
  const struct stv_cons_options *op = &rp->cons_options;
  cJSON *o, *opt, *acts, *curve, *kept;
  size_t i;
  if ((o = cJSON_AddObjectToObject(root, "consolidation")) == NULL) return STV_ENOMEM;
  if ((opt = cJSON_AddObjectToObject(o, "options")) == NULL) return STV_ENOMEM;
  cJSON_AddNumberToObject(opt, "min_saving_fraction", op->min_saving_fraction);
  cJSON_AddNumberToObject(opt, "min_monthly_saving", op->min_monthly_saving);
  cJSON_AddNumberToObject(opt, "eviction_price", op->eviction_price);
  if (op->max_moves >= 0)
    cJSON_AddNumberToObject(opt, "max_moves", (double)op->max_moves);
  else
    cJSON_AddNullToObject(opt, "max_moves");
  cJSON_AddNumberToObject(o, "current_hourly_cost", c->current_hourly);
  cJSON_AddNumberToObject(o, "saving_hourly", c->saving_hourly);
  cJSON_AddNumberToObject(o, "monthly_savings", c->saving_hourly * HOURS_PER_MONTH);
  cJSON_AddNumberToObject(o, "evictions", c->evictions);
  cJSON_AddNumberToObject(o, "candidates", (double)c->candidates);
  cJSON_AddNumberToObject(o, "packer_checks", (double)c->verify_rounds);
  cJSON_AddNumberToObject(o, "dropped_by_check", (double)c->dropped);
  if ((acts = cJSON_AddArrayToObject(o, "actions")) == NULL) return STV_ENOMEM;
  for (i = 0; i < c->nactions; i++) {
    cJSON *e = churn_action_json(r, &c->actions[i]);
    if (e == NULL) return STV_ENOMEM;
    cJSON_AddItemToArray(acts, e);
  }
  if ((curve = cJSON_AddArrayToObject(o, "curve")) == NULL) return STV_ENOMEM;
  for (i = 0; i < c->ncurve; i++) {
    cJSON *e = stv__json_array_add_object(curve);
    if (e == NULL) return STV_ENOMEM;
    cJSON_AddNumberToObject(e, "evictions", c->curve[i].evictions);
    cJSON_AddNumberToObject(e, "monthly_saving", c->curve[i].monthly_saving);
  }
  if ((kept = cJSON_AddArrayToObject(o, "kept")) == NULL) return STV_ENOMEM;
  for (i = 0; i < rp->nnodes; i++) {
    cJSON *e;
    if (c->node_why[i] == NULL) continue;
    if ((e = stv__json_array_add_object(kept)) == NULL) return STV_ENOMEM;
    cJSON_AddStringToObject(e, "node", rp->nodes[i].name);
    cJSON_AddStringToObject(e, "why", c->node_why[i]);
  }
  return 0;
}

/* One action's lines of the table: what goes, what comes, the saving, then its moves. */
static void churn_table_action(const struct stv_recommend_result *r, size_t k, struct stv_buf *b) {
  const struct stv_cons_action *x = &r->repack.cons.actions[k];
  const struct stv_snapshot *s = &r->snap;
  uint32_t i;
  stv_buf_printf(b, "  %2zu. %-10s saves %10.2f a month, %u eviction%s (total %u, %.2f a month)\n", k + 1,
                 stv_cons_kind_name(x->kind), x->saving_hourly * HOURS_PER_MONTH, x->nevict,
                 x->nevict == 1 ? "" : "s", x->cum_evictions, x->cum_monthly_saving);
  for (i = 0; i < x->nremove; i++) {
    const struct stv_node *n = &r->repack.nodes[x->remove[i]];
    stv_buf_printf(b, "      remove %-36s %-18s %-10s %10.4f/h\n", n->name,
                   n->instance_type ? n->instance_type : "-", node_ct(n), r->repack.rn[x->remove[i]].hourly);
  }
  if (x->tmpl >= 0) {
    const struct stv_template *t = &r->problem.tmpl[x->tmpl];
    stv_buf_printf(b, "      add    %-36s %-18s %-10s %10.4f/h (%s)\n", x->new_name, t->instance_type,
                   stv_capacity_type_name(t->capacity_type), x->added_hourly, t->zone ? t->zone : "any zone");
  }
  for (i = 0; i < x->nmoves; i++) {
    const struct stv_pod *p = &s->pods[x->moves[i].pod];
    stv_buf_printf(b, "      move   %s/%s: %s -> %s\n", p->ns, p->name, p->node_name ? p->node_name : "-",
                   x->moves[i].to ? x->moves[i].to : "(left out: below the priority cutoff)");
  }
}

static int churn_table(const struct stv_recommend_result *r, const char *catalog, const char *capacity_types,
                       struct stv_buf *b) {
  const struct stv_repack *rp = &r->repack;
  const struct stv_cons_result *c = &rp->cons;
  const struct stv_cons_options *op = &rp->cons_options;
  const char *cur = r->problem.currency ? r->problem.currency : "USD";
  size_t i;
  stv_buf_printf(b, "Stevedore churn-aware repack (dry run; catalog %s; capacity types %s)\n", catalog,
                 capacity_types);
  stv_buf_printf(b, "Limits: saving at least %g%% of the nodes' cost", 100 * op->min_saving_fraction);
  if (op->max_moves >= 0) stv_buf_printf(b, "; at most %ld evictions", op->max_moves);
  if (op->eviction_price > 0) stv_buf_printf(b, "; %.2f %s per eviction", op->eviction_price, cur);
  stv_buf_printf(b,
                 "\n\nCurrent cost %.4f %s/h (%.2f a month); these actions save %.4f/h (%.2f a month) "
                 "with %u eviction%s\n\n",
                 c->current_hourly, cur, c->current_hourly * HOURS_PER_MONTH, c->saving_hourly,
                 c->saving_hourly * HOURS_PER_MONTH, c->evictions, c->evictions == 1 ? "" : "s");
  if (c->nactions) {
    stv_buf_printf(b, "Actions, best saving per evicted pod first\n");
    for (i = 0; i < c->nactions; i++) churn_table_action(r, i, b);
    stv_buf_printf(b, "\n");
  } else {
    stv_buf_printf(b, "No action saves enough within the limits.\n\n");
  }
  stv_buf_printf(b, "Saving versus evictions (the greedy order without the eviction price and move limit)\n");
  stv_buf_printf(b, "  %9s %14s\n", "EVICTIONS", "SAVING/MONTH");
  stv_buf_printf(b, "  %9u %14.2f\n", 0u, 0.0);
  for (i = 0; i < c->ncurve; i++)
    stv_buf_printf(b, "  %9u %14.2f\n", c->curve[i].evictions, c->curve[i].monthly_saving);
  stv_buf_printf(b, "\nKept\n  %-36s %s\n", "NODE", "WHY");
  for (i = 0; i < rp->nnodes; i++)
    if (c->node_why[i] != NULL) stv_buf_printf(b, "  %-36s %s\n", rp->nodes[i].name, c->node_why[i]);
  return b->err;
}

int stv_repack_add_json(const struct stv_recommend_result *r, cJSON *root) {
  const struct stv_repack *rp = &r->repack;
  const struct stv_snapshot *s = &r->snap;
  cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
  cJSON *o, *rem, *rep, *add, *keep, *why, *unp, *pdbw, *unpl;
  char name[600];
  size_t i;
  if (sum == NULL || !cJSON_AddStringToObject(sum, "mode", "repack")) return STV_ENOMEM;
  if (rp->churn) return churn_json(r, root);
  if ((o = cJSON_AddObjectToObject(root, "repack")) == NULL) return STV_ENOMEM;
  cJSON_AddNumberToObject(o, "current_hourly_cost", rp->current_hourly);
  cJSON_AddNumberToObject(o, "proposed_hourly_cost", rp->proposed_hourly);
  cJSON_AddNumberToObject(o, "monthly_savings", rp->monthly_savings);
  cJSON_AddNumberToObject(o, "pods_moved", (double)rp->pods_moved);
  cJSON_AddNumberToObject(o, "pending_pods_left_out", (double)rp->pods_left_out);
  cJSON_AddBoolToObject(o, "system_pods_moved", rp->system_pods_moved);
  cJSON_AddNumberToObject(o, "system_pods_kept", (double)rp->system_pods_kept);
  cJSON_AddNumberToObject(o, "zone_preferences_kept", (double)rp->preferences_kept);
  rem = cJSON_AddArrayToObject(o, "remove");
  rep = cJSON_AddArrayToObject(o, "replace");
  add = cJSON_AddArrayToObject(o, "add");
  keep = cJSON_AddArrayToObject(o, "keep");
  why = cJSON_AddObjectToObject(o, "keep_reasons");
  unp = cJSON_AddArrayToObject(o, "unpriced_nodes");
  unpl = cJSON_AddArrayToObject(o, "unplaceable");
  pdbw = cJSON_AddArrayToObject(o, "pdb_warnings");
  if (!rem || !rep || !add || !keep || !why || !unp || !unpl || !pdbw) return STV_ENOMEM;
  for (i = 0; i < rp->nnodes; i++) {
    const struct stv_repack_node *x = &rp->rn[i];
    const char *nm = rp->nodes[i].name;
    cJSON *e;
    if (x->action == STV_REPACK_KEEP) {
      if (!cJSON_AddItemToArray(keep, cJSON_CreateString(nm))) return STV_ENOMEM;
      snprintf(name, sizeof(name), "%s: %s", keep_name(x->keep), x->why);
      if (!cJSON_AddStringToObject(why, nm, name)) return STV_ENOMEM;
    } else {
      if ((e = old_node_json(rp, i)) == NULL) return STV_ENOMEM;
      if (x->action == STV_REPACK_REPLACE) {
        cJSON *w = new_node_json(r, x->with);
        if (w == NULL || !cJSON_AddItemToObject(e, "with", w)) {
          cJSON_Delete(w);
          cJSON_Delete(e);
          return STV_ENOMEM;
        }
      }
      if (!cJSON_AddItemToArray(x->action == STV_REPACK_REPLACE ? rep : rem, e)) return STV_ENOMEM;
    }
    if (x->keep == STV_KEEP_UNPRICED) {
      if ((e = stv__json_array_add_object(unp)) == NULL) return STV_ENOMEM;
      cJSON_AddStringToObject(e, "name", nm);
      stv__json_add_str_or_null(e, "instance_type", rp->nodes[i].instance_type);
      cJSON_AddStringToObject(e, "reason", x->why);
    }
  }
  for (i = 0; i < rp->nadd; i++) {
    cJSON *e = new_node_json(r, rp->add[i]);
    if (e == NULL || !cJSON_AddItemToArray(add, e)) return STV_ENOMEM;
  }
  for (i = 0; i < rp->nunplaced; i++) {
    cJSON *e = stv__json_array_add_object(unpl);
    if (e == NULL) return STV_ENOMEM;
    cJSON_AddStringToObject(e, "pod", stv__pod_key(s, rp->unplaced[i].pod, name, sizeof(name)));
    cJSON_AddStringToObject(e, "node", rp->nodes[rp->unplaced[i].node].name);
    cJSON_AddStringToObject(e, "reason", rp->unplaced[i].reason);
  }
  for (i = 0; i < rp->npdb; i++) {
    const struct stv_pdb *b = &s->pdbs[rp->pdb[i].pdb];
    cJSON *e = stv__json_array_add_object(pdbw);
    if (e == NULL) return STV_ENOMEM;
    snprintf(name, sizeof(name), "%s/%s", b->ns, b->name);
    cJSON_AddStringToObject(e, "pdb", name);
    cJSON_AddNumberToObject(e, "pods", rp->pdb[i].pods);
    cJSON_AddNumberToObject(e, "pods_moved", rp->pdb[i].moved);
    cJSON_AddNumberToObject(e, "disruptions_allowed", (double)rp->pdb[i].allowed);
  }
  return 0;
}

static void put_old(struct stv_buf *b, const struct stv_repack *rp, size_t i) {
  const struct stv_node *n = &rp->nodes[i];
  stv_buf_printf(b, "  %-36s %-18s %-10s %-12s %10.4f %6u", n->name,
                 n->instance_type ? n->instance_type : "-", node_ct(n), n->zone ? n->zone : "-",
                 rp->rn[i].hourly, rp->rn[i].pods_moved);
}

int stv_repack_render_table(const struct stv_recommend_result *r, const char *catalog,
                            const char *capacity_types, struct stv_buf *b) {
  const struct stv_repack *rp = &r->repack;
  const struct stv_snapshot *s = &r->snap;
  const char *cur = r->problem.currency ? r->problem.currency : "USD";
  size_t i, nrem = 0, nrep = 0, nkeep = 0, nnew = 0;
  if (rp->churn) return churn_table(r, catalog, capacity_types, b);
  for (i = 0; i < rp->nnodes; i++) {
    if (rp->rn[i].action == STV_REPACK_REMOVE) nrem++;
    if (rp->rn[i].action == STV_REPACK_REPLACE) nrep++;
    if (rp->rn[i].action == STV_REPACK_KEEP) nkeep++;
  }
  nnew = nrep + rp->nadd;
  stv_buf_printf(b, "Stevedore what-if repack (dry run; catalog %s; capacity types %s)\n\n", catalog,
                 capacity_types);
  stv_buf_printf(b, "  %-10s %6s %12s %12s\n", "", "NODES", "PER HOUR", "PER MONTH");
  stv_buf_printf(b, "  %-10s %6zu %12.4f %12.2f\n", "current", rp->nnodes - rp->nunpriced, rp->current_hourly,
                 rp->current_hourly * HOURS_PER_MONTH);
  stv_buf_printf(b, "  %-10s %6zu %12.4f %12.2f\n", "proposed", nkeep - rp->nunpriced + nnew,
                 rp->proposed_hourly, rp->proposed_hourly * HOURS_PER_MONTH);
  stv_buf_printf(
      b, "\nMonthly saving: %.2f %s (%zu pods moved; %zu nodes removed, %zu replaced, %zu added, %zu kept)\n",
      rp->monthly_savings, cur, rp->pods_moved, nrem, nrep, rp->nadd, nkeep);
  if (rp->nunpriced)
    stv_buf_printf(b, "(%zu unpriced node%s kept as %s and left out of both costs)\n", rp->nunpriced,
                   rp->nunpriced == 1 ? "" : "s", rp->nunpriced == 1 ? "it is" : "they are");
  stv_buf_printf(b, "\n");
  if (nrem) {
    stv_buf_printf(b, "Remove\n  %-36s %-18s %-10s %-12s %10s %6s\n", "NODE", "INSTANCE TYPE", "CAPACITY",
                   "ZONE", "PER HOUR", "PODS");
    for (i = 0; i < rp->nnodes; i++)
      if (rp->rn[i].action == STV_REPACK_REMOVE) {
        put_old(b, rp, i);
        stv_buf_printf(b, "%s\n", rp->nodes[i].unschedulable ? "  (cordoned)" : "");
      }
    stv_buf_printf(b, "\n");
  }
  if (nrep) {
    stv_buf_printf(b, "Replace\n  %-36s %-18s %-10s %-12s %10s %6s   %s\n", "NODE", "INSTANCE TYPE",
                   "CAPACITY", "ZONE", "PER HOUR", "PODS", "WITH");
    for (i = 0; i < rp->nnodes; i++)
      if (rp->rn[i].action == STV_REPACK_REPLACE) {
        const struct stv_template *t = &r->problem.tmpl[r->plan.nodes[rp->rn[i].with].tmpl];
        put_old(b, rp, i);
        stv_buf_printf(b, "   %s %s %s %.4f\n", t->instance_type, stv_capacity_type_name(t->capacity_type),
                       t->zone ? t->zone : "-", t->price);
      }
    stv_buf_printf(b, "\n");
  }
  if (rp->nadd) {
    stv_buf_printf(b, "Add\n  %-36s %-18s %-10s %-12s %10s %6s\n", "NODE", "INSTANCE TYPE", "CAPACITY",
                   "ZONE", "PER HOUR", "PODS");
    for (i = 0; i < rp->nadd; i++) {
      const struct stv_plan_node *pn = &r->plan.nodes[rp->add[i]];
      const struct stv_template *t = &r->problem.tmpl[pn->tmpl];
      stv_buf_printf(b, "  %-36s %-18s %-10s %-12s %10.4f %6u\n", pn->name, t->instance_type,
                     stv_capacity_type_name(t->capacity_type), t->zone ? t->zone : "-", t->price, pn->npods);
    }
    stv_buf_printf(b, "\n");
  }
  if (nkeep) {
    stv_buf_printf(b, "Keep\n  %-36s %-18s %s\n", "NODE", "INSTANCE TYPE", "WHY");
    for (i = 0; i < rp->nnodes; i++)
      if (rp->rn[i].action == STV_REPACK_KEEP)
        stv_buf_printf(b, "  %-36s %-18s %s: %s\n", rp->nodes[i].name,
                       rp->nodes[i].instance_type ? rp->nodes[i].instance_type : "-",
                       keep_name(rp->rn[i].keep), rp->rn[i].why);
    stv_buf_printf(b, "\n");
  }
  if (rp->nunplaced) {
    stv_buf_printf(b, "Pods that fit nowhere else (their nodes are kept)\n");
    for (i = 0; i < rp->nunplaced; i++) {
      const struct stv_pod *p = &s->pods[rp->unplaced[i].pod];
      stv_buf_printf(b, "  %s/%s on %s: %s\n", p->ns, p->name, rp->nodes[rp->unplaced[i].node].name,
                     rp->unplaced[i].reason);
    }
    stv_buf_printf(b, "\n");
  }
  if (rp->npdb) {
    stv_buf_printf(b,
                   "PodDisruptionBudgets that moving these pods at once would exceed (move them in steps)\n");
    for (i = 0; i < rp->npdb; i++) {
      const struct stv_pdb *p = &s->pdbs[rp->pdb[i].pdb];
      stv_buf_printf(b, "  %s/%s: %u of its %u pods move, it allows %lld at a time\n", p->ns, p->name,
                     rp->pdb[i].moved, rp->pdb[i].pods, (long long)rp->pdb[i].allowed);
    }
    stv_buf_printf(b, "\n");
  }
  if (rp->pods_left_out)
    stv_buf_printf(b, "Note: %zu pending pod%s left out (stevedore recommend without --mode plans %s).\n",
                   rp->pods_left_out, rp->pods_left_out == 1 ? "" : "s",
                   rp->pods_left_out == 1 ? "it" : "them");
  return b->err;
}
