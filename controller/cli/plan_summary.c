/*
 * What the JSON plan and the plan table both say about a plan beyond its
 * nodes: headroom's share of it and why the gap to the lower bound may be
 * large (see recommend_internal.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "recommend_internal.h"

uint32_t stv__node_headroom(const struct stv_snapshot *s, const struct stv_plan_node *pn) {
  uint32_t q, n = 0;
  for (q = 0; q < pn->npods; q++) n += (uint32_t)stv__is_headroom(s, pn->pods[q]);
  return n;
}

const char *stv__plan_node_type(const struct stv_problem *pb, const struct stv_plan_node *pn) {
  if (pn->existing >= 0) return pb->snap->nodes[pn->existing].instance_type;
  return pb->tmpl[pn->tmpl].instance_type;
}

const char *stv__pod_key(const struct stv_snapshot *s, uint32_t i, char *buf, size_t size) {
  snprintf(buf, size, "%s/%s", s->pods[i].ns, s->pods[i].name);
  return buf;
}

/*
 * The hourly cost of headroom is the share of each new node that its
 * virtual pods take: the node's price times the sum, over its headroom
 * pods, of each pod's dominant share (the larger of its cpu and memory
 * requests over the node's allocatable), capped at 1. Headroom on existing
 * nodes costs nothing more.
 */
void stv__headroom_stats(const struct stv_recommend_result *r, struct stv__headroom_stats *h) {
  const struct stv_problem *pb = &r->problem;
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = pb->snap;
  size_t i;
  memset(h, 0, sizeof(*h));
  if (r->headroom.npods == 0) return;
  for (i = 0; i < s->npods; i++) {
    if (!stv__is_headroom(s, (uint32_t)i)) continue;
    h->pods++;
  }
  /* Summed in checked arithmetic when the virtual pods were added. */
  h->cpu = r->headroom.cpu;
  h->memory = r->headroom.memory;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    const struct stv_template *t;
    double share = 0;
    uint32_t q, n = stv__node_headroom(s, pn);
    if (n == 0) continue;
    h->placed += n;
    if (pn->existing >= 0) {
      h->on_existing += n;
      continue;
    }
    h->on_new += n;
    h->new_nodes++;
    t = &pb->tmpl[pn->tmpl];
    for (q = 0; q < pn->npods; q++) {
      const struct stv_class *c = s->classes[s->pods[pn->pods[q]].cls];
      double cpu = 0, mem = 0;
      if (!stv__is_headroom(s, pn->pods[q])) continue;
      if (t->alloc[STV_RES_CPU] > 0) cpu = (double)c->req[STV_RES_CPU] / (double)t->alloc[STV_RES_CPU];
      if (t->alloc[STV_RES_MEMORY] > 0)
        mem = (double)c->req[STV_RES_MEMORY] / (double)t->alloc[STV_RES_MEMORY];
      share += cpu > mem ? cpu : mem;
    }
    h->hourly_cost += t->price * (share < 1 ? share : 1);
  }
  for (i = 0; i < plan->nunsched; i++) {
    if (!stv__is_headroom(s, plan->unsched[i].pod)) continue;
    if (h->unplaced++ == 0) h->unplaced_reason = plan->unsched[i].reason;
  }
}

/* ---------------------------------------------------------------------- */
/* Why the gap to the lower bound may be large                            */

static void gap_add(struct stv__gap_explain *g, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void gap_add(struct stv__gap_explain *g, const char *code, const char *fmt, ...) {
  va_list ap;
  if (g->n == STV__GAP_REASONS_MAX) return;
  g->r[g->n].code = code;
  va_start(ap, fmt);
  vsnprintf(g->r[g->n].text, sizeof(g->r[g->n].text), fmt, ap);
  va_end(ap);
  g->n++;
}

/* What the lower bound is, in a few words, for the table. */
const char *stv__bound_kind_text(int kind) {
  if (kind == STV_BOUND_RELAXED)
    return "a bound over whole-node packings of every pod that keeps node selection, hostname "
           "anti-affinity and the spot limits, and ignores zone rules, hostname spread and affinity";
  if (kind == STV_BOUND_PATTERNS)
    return "the optimizer's bound over whole-node packings; it ignores only that nodes "
           "are bought whole";
  return "a resource-only bound that ignores spread and anti-affinity rules, node selectors, spot limits and "
         "how "
         "pods split across nodes";
}

const char *stv__bound_kind_name(int kind) {
  if (kind == STV_BOUND_RELAXED) return "relaxed-patterns";
  return kind == STV_BOUND_PATTERNS ? "patterns" : "resources";
}

/* Sets *host for a rule on kubernetes.io/hostname, *zone for any other key. */
static void mark_topology(const char *key, int *host, int *zone) {
  if (strcmp(key, "kubernetes.io/hostname") == 0)
    *host = 1;
  else
    *zone = 1;
}

/* What the pods on the plan's new and existing nodes ask for, for the reasons. */
struct gap_census {
  size_t rules[3];    /* pods with hostname rules, zone rules, node selection */
  size_t host_soft;   /* pods with hostname spread or affinity (no anti-affinity) */
  size_t on_existing; /* pods (not headroom) on existing nodes */
  size_t nexisting, nspot;
  size_t ndims; /* resources asked for at all */
};

/* The pod counts of the census, in gap_census.rules order, as reasons. */
static const struct {
  const char *code;
  const char *one, *many; /* the verb after "1 pod" and after "2 pods" */
  const char *text;
} pod_reasons[3] = {
    {"hostname_rules", "has", "have",
     "hostname anti-affinity, affinity or spread rules (how many may share a node), which the bound ignores"},
    {"zone_rules", "has", "have",
     "zone affinity, anti-affinity or spread rules, which the bound ignores: it buys capacity in whichever "
     "zone is cheapest"},
    {"node_selection", "selects", "select",
     "particular nodes (nodeSelector or required node affinity), while the bound buys capacity of whichever "
     "instance type is cheapest"},
};

/* Adds the rules of class c to the census. */
static void census_class(const struct stv_class *c, struct gap_census *k) {
  int h = 0, z = 0, ha = 0;
  uint32_t t;
  for (t = 0; t < c->nanti; t++) mark_topology(c->anti[t].topology_key, &ha, &z);
  for (t = 0; t < c->naff; t++) mark_topology(c->aff[t].topology_key, &h, &z);
  for (t = 0; t < c->nspread; t++)
    if (c->spread[t].do_not_schedule) mark_topology(c->spread[t].topology_key, &h, &z);
  k->host_soft += (size_t)h;
  k->rules[0] += (size_t)(h | ha);
  k->rules[1] += (size_t)z;
  k->rules[2] += c->node_selector.n > 0 || c->affinity.n > 0;
}

static void census(const struct stv_recommend_result *r, struct gap_census *k) {
  const struct stv_problem *pb = &r->problem;
  const struct stv_plan *plan = &r->plan;
  const struct stv_snapshot *s = pb->snap;
  int64_t demand[STV_MAX_RES];
  size_t i, d;
  uint32_t q;
  memset(k, 0, sizeof(*k));
  memset(demand, 0, sizeof(demand));
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    if (pn->existing >= 0) {
      k->on_existing += pn->npods - stv__node_headroom(s, pn);
      k->nexisting++;
      continue;
    }
    if (pb->tmpl[pn->tmpl].capacity_type == STV_CT_SPOT) k->nspot++;
    for (q = 0; q < pn->npods; q++) {
      const struct stv_class *c = s->classes[s->pods[pn->pods[q]].cls];
      for (d = 0; d < STV_MAX_RES; d++) demand[d] += c->req[d];
      census_class(c, k);
    }
  }
  for (d = 0; d < STV_MAX_RES; d++) k->ndims += demand[d] > 0;
}

/* The reasons that hold when the bound is the resource-only one, which ignores all rules. */
static void resource_bound_reasons(const struct stv_problem *pb, const struct gap_census *k,
                                   struct stv__gap_explain *g) {
  size_t i;
  for (i = 0; i < 3; i++) {
    size_t n = k->rules[i];
    if (n > 0)
      gap_add(g, pod_reasons[i].code, "%zu pod%s on new nodes %s %s", n, n == 1 ? "" : "s",
              n == 1 ? pod_reasons[i].one : pod_reasons[i].many, pod_reasons[i].text);
  }
  if (k->on_existing > 0)
    gap_add(
        g, "existing_room",
        "%zu pod%s went to %zu existing node%s: the bound counts the free room of all existing nodes as one "
        "pool, though a pod cannot be split across nodes",
        k->on_existing, k->on_existing == 1 ? "" : "s", k->nexisting, k->nexisting == 1 ? "" : "s");
  if (k->nspot > STV_SPOT_POOL_GRACE && (pb->spot.max_pool_fraction < 1.0 || pb->spot.max_share < 1.0))
    gap_add(
        g, "spot_limits",
        "the spot limits (--spot-max-pool-fraction %.2g, --spot-max-share %.2g) spread the %zu spot nodes "
        "over several pools or onto on-demand; the bound ignores them",
        pb->spot.max_pool_fraction, pb->spot.max_share, k->nspot);
}

/* The reasons that hold for the relaxed pattern bound (bound_cg.c). */
static void relaxed_bound_reasons(const struct gap_census *k, struct stv__gap_explain *g) {
  if (k->host_soft > 0)
    gap_add(g, "hostname_rules",
            "%zu pod%s on new nodes %s hostname spread or affinity rules (how many may share a node), which the "
            "bound ignores",
            k->host_soft, k->host_soft == 1 ? "" : "s", k->host_soft == 1 ? "has" : "have");
  if (k->rules[1] > 0)
    gap_add(g, pod_reasons[1].code, "%zu pod%s on new nodes %s %s", k->rules[1], k->rules[1] == 1 ? "" : "s",
            k->rules[1] == 1 ? pod_reasons[1].one : pod_reasons[1].many, pod_reasons[1].text);
  if (k->on_existing > 0)
    gap_add(g, "existing_room",
            "%zu pod%s went to %zu existing node%s: the bound counts the free room of all existing nodes as "
            "one pool, though a pod cannot be split across nodes",
            k->on_existing, k->on_existing == 1 ? "" : "s", k->nexisting, k->nexisting == 1 ? "" : "s");
}

/*
 * Whole-node rounding: a basic solution of either LP buys fractions of at
 * most one node per constraint. When the gap is no more than the price of
 * that many of the plan's dearest new nodes, rounding alone may explain it.
 */
static void rounding_reason(const struct stv_problem *pb, const struct stv_plan *plan, size_t ndims,
                            struct stv__gap_explain *g) {
  const char *cur = pb->currency ? pb->currency : "USD";
  double top[STV_MAX_RES]; /* the ndims dearest new nodes, dearest first */
  double rounding = 0, gap_abs = plan->new_cost - plan->lower_bound;
  size_t n = 0, i, j;
  if (ndims > plan->nnew) ndims = plan->nnew;
  if (ndims == 0) return;
  for (i = 0; i < plan->nnodes; i++) {
    double price;
    if (plan->nodes[i].existing >= 0) continue;
    price = pb->tmpl[plan->nodes[i].tmpl].price;
    if (n == ndims && price <= top[n - 1]) continue;
    if (n < ndims) n++;
    for (j = n - 1; j > 0 && top[j - 1] < price; j--) top[j] = top[j - 1];
    top[j] = price;
  }
  for (i = 0; i < n; i++) rounding += top[i];
  if (gap_abs <= rounding + 1e-12)
    gap_add(
        g, "whole_nodes",
        "only %zu new node%s: the bound may buy fractions of nodes, and the gap (%.4f %s/hour) is no more "
        "than the price of the plan's %zu dearest node%s (%.4f %s/hour), which buying whole nodes alone "
        "can cost",
        plan->nnew, plan->nnew == 1 ? "" : "s", gap_abs, cur, n, n == 1 ? "" : "s", rounding, cur);
}

/*
 * Most often the bound, not the plan, is loose. Only reasons that hold for
 * this plan are given, the kind of bound deciding which model's blind spots
 * matter.
 */
void stv__explain_gap(const struct stv_recommend_result *r, struct stv__gap_explain *g) {
  const struct stv_plan *plan = &r->plan;
  struct gap_census k;
  memset(g, 0, sizeof(*g));
  g->gap = -1;
  if (!plan->has_lower_bound || plan->lower_bound <= 0 || plan->nnew == 0) return;
  g->gap = (plan->new_cost - plan->lower_bound) / plan->lower_bound;
  if (g->gap <= STV__GAP_EXPLAIN_ABOVE) return;
  census(r, &k);
  if (!plan->optimized)
    gap_add(
        g, "optimizer_off",
        "the optimizer did not run (--time-limit 0): this is the heuristic's first plan, and the bound is "
        "its resource-only bound");
  else if (!plan->lp_converged && plan->stop_reason == STV_STOP_STALLED)
    gap_add(g, "optimizer_stopped",
            "the optimizer stopped when its LP stalled (--stall-rounds): --stall-rounds 0 lets it run to the "
            "time limit, for a cheaper plan or a tighter bound");
  else if (plan->stop_reason == STV_STOP_NO_GAIN)
    gap_add(g, "optimizer_stopped",
            "the optimizer stopped when its integer search found no cheaper plan for a while "
            "(--stall-rounds): --stall-rounds 0 lets it run to the time limit");
  else if (!plan->lp_converged)
    gap_add(g, "optimizer_stopped",
            "the optimizer's LP did not converge within the time limit: a longer --time-limit may find a "
            "cheaper plan or a tighter bound");
  if (plan->lower_bound_kind == STV_BOUND_RELAXED)
    relaxed_bound_reasons(&k, g);
  else if (plan->lower_bound_kind != STV_BOUND_PATTERNS)
    resource_bound_reasons(&r->problem, &k, g);
  rounding_reason(&r->problem, plan, k.ndims, g);
}

const char *stv__stop_text(const struct stv_recommend_result *r, char *buf, size_t size) {
  const struct stv_plan *plan = &r->plan;
  int stall = r->problem.stall_rounds == 0 ? STV_STALL_ROUNDS_DEFAULT : r->problem.stall_rounds;
  buf[0] = '\0';
  if (!plan->optimized) return buf;
  switch (plan->stop_reason) {
  case STV_STOP_OPTIMAL:
    snprintf(buf, size, "stopped: optimal (the plan meets its proven lower bound)");
    break;
  case STV_STOP_GAP:
    snprintf(buf, size, "stopped: gap %.2f%% \u2264 %.2f%%", 100 * plan->stop_gap, 100 * plan->gap_tolerance);
    break;
  case STV_STOP_STALLED:
    snprintf(buf, size,
             "stopped: stalled (its LP moved less than %.1f%% in %d rounds and promised no such gain; "
             "--stall-rounds)",
             100 * STV_STALL_IMPROVEMENT, stall);
    break;
  case STV_STOP_TIME:
    snprintf(buf, size, "stopped: time limit (--time-limit)");
    break;
  case STV_STOP_WORK:
    snprintf(buf, size, "stopped: work budget (--decision-budget; %ld work units)", plan->work);
    break;
  case STV_STOP_DONE:
    snprintf(buf, size, "stopped: done (every stage ran to its end)");
    break;
  case STV_STOP_NO_GAIN:
    snprintf(buf, size,
             "stopped: no gain (no plan %.1f%% cheaper over %.0f%% of its budget after its LP stopped short; "
             "--stall-rounds)",
             100 * STV_STALL_IMPROVEMENT, 100 * STV_STALL_WINDOW_SHARE);
    break;
  default:
    snprintf(buf, size, "stopped: nothing to re-decide");
    break;
  }
  return buf;
}
