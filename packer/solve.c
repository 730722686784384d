/*
 * The packer's driver and public entries: stv_pack (preemption pass,
 * set-up, zone assignment, heuristic fill, spot repair, plan assembly,
 * final check, lower bound) and stv_optimize (the same with the column
 * generation optimizer run on the heuristic's new nodes, then the cheaper
 * of the two plans). The only file that calls both the heuristic and the
 * optimizer; neither calls back into it.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_internal.h"

/*
 * A solve in three phases, so that stv_optimize sets the problem up once
 * for its two plans: solve_prepare (preemption pass, set-up, zone
 * assignment, heuristic fill, right-sizing), then solve_finish once per
 * plan (the optimizer or not, spot repair, the plan and its checks, the
 * lower bound), then solve_close. What solve_finish changes in the state
 * (the nodes kept, the groups' pods handed out, the templates' and pools'
 * counts left, the pods left over) is saved by solve_save and put back by
 * solve_restore between the two plans; the rest is read-only after
 * solve_prepare.
 */
struct prepared {
  struct solve S;
  struct stv__preempt pre;
  const struct stv_snapshot *orig;
};

static int solve_prepare(const struct stv_problem *p, struct prepared *x, double deadline,
                         struct stv_err *err) {
  struct solve *S = &x->S;
  uint32_t *remaining = NULL;
  size_t i;
  int rc;
  memset(x, 0, sizeof(*x));
  x->orig = p->snap;
  stv_arena_init(&S->a);
  /* Preemption first: the rest plans the snapshot it leaves. */
  if ((rc = stv__preempt_run(p, &x->pre)) != 0) return rc;
  p = &x->pre.problem;
  S->p = p;
  S->s = p->snap;
  S->ndim = p->snap->res.n;
  S->nclasses = p->snap->nclasses;
  S->W = (S->nclasses + 63) / 64 + 1;
  S->search_limit = p->search_limit == 0 ? STV_SEARCH_DEFAULT : p->search_limit;
  S->cg_bound = -1;
  S->cg_stop_gap = -1;
  S->deadline = deadline;
  S->search_left = S->search_limit > 0 ? S->search_limit * STV_SEARCH_NODES : 0;
  S->err = err;
  if ((rc = stv__setup_zones(S)) || (rc = stv__setup_rules(S)) || (rc = stv__setup_bound(S))) return rc;
  stv__setup_lambda(S);
  if ((rc = stv__setup_templates(S)) || (rc = stv__setup_spread_elig(S)) || (rc = stv__setup_rule_zones(S)) ||
      (rc = stv__setup_groups(S)))
    return rc;
  S->order = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
  remaining = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
  if (S->order == NULL || remaining == NULL) return STV_ENOMEM;
  for (i = 0; i < S->ng; i++) remaining[i] = S->g[i].remaining;
  for (i = 0; i < S->W; i++)
    if (S->aff_host_any[i]) S->search_limit = -1; /* the greedy fill handles pinned groups */
  S->act = stv_arena_alloc(&S->a, (S->nzones + 1) * sizeof(*S->act));
  S->nact = stv_arena_alloc(&S->a, (S->nzones + 1) * sizeof(*S->nact));
  S->act_min = stv_arena_alloc(&S->a, (S->nzones + 1) * sizeof(*S->act_min));
  S->act_pos = stv_arena_alloc(&S->a, (S->nzones + 1) * sizeof(*S->act_pos));
  if (S->act == NULL || S->nact == NULL || S->act_min == NULL || S->act_pos == NULL) return STV_ENOMEM;
  for (i = 0; i <= S->nzones; i++) {
    size_t blocks = S->ng / STV_ACT_BLOCK + 1;
    S->act[i] = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
    S->act_min[i] = stv_arena_alloc(&S->a, blocks * STV_MAX_RES * sizeof(int64_t));
    S->act_pos[i] = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
    if (S->act[i] == NULL || S->act_min[i] == NULL || S->act_pos[i] == NULL) return STV_ENOMEM;
  }
  if ((rc = stv__sort_groups(S)) || (rc = stv__pack_existing(S, remaining)) ||
      (rc = stv__pack_new(S, remaining)))
    return rc;
  stv__right_size(S, 0);
  return 0;
}

static void solve_close(struct prepared *x) {
  struct solve *S = &x->S;
  stv_free(S->rules);
  stv_free(S->zones);
  stv_free(S->g);
  stv_free(S->nodes);
  stv_free(S->un);
  stv_arena_reset(&S->a);
  stv__preempt_close(&x->pre);
}

/* What solve_finish changes in a prepared solve (see struct prepared). */
struct saved {
  struct kept *nodes;
  size_t nnodes, nun;
  uint32_t *taken;
  int64_t *limit_left, *pool_left;
};

static int solve_save(const struct solve *S, struct saved *v) {
  size_t i;
  memset(v, 0, sizeof(*v));
  v->nodes = stv_malloc((S->nnodes + 1) * sizeof(*v->nodes));
  v->taken = stv_malloc((S->ng + 1) * sizeof(*v->taken));
  v->limit_left = stv_malloc((S->nti + 1) * sizeof(*v->limit_left));
  v->pool_left = stv_malloc((S->npool_lim + 1) * sizeof(*v->pool_left));
  if (v->nodes == NULL || v->taken == NULL || v->limit_left == NULL || v->pool_left == NULL)
    return STV_ENOMEM;
  if (S->nnodes > 0) memcpy(v->nodes, S->nodes, S->nnodes * sizeof(*v->nodes));
  v->nnodes = S->nnodes;
  v->nun = S->nun;
  for (i = 0; i < S->ng; i++) v->taken[i] = S->g[i].taken;
  for (i = 0; i < S->nti; i++) v->limit_left[i] = S->ti[i].limit_left;
  if (S->npool_lim > 0) memcpy(v->pool_left, S->pool_left, S->npool_lim * sizeof(*v->pool_left));
  return 0;
}

/* Puts v back into S; S->nodes has room (it only grows). */
static int solve_restore(struct solve *S, const struct saved *v) {
  size_t i;
  if (stv_grow((void **)&S->nodes, &S->cap_nodes, v->nnodes + 1, sizeof(*S->nodes)) != 0) return STV_ENOMEM;
  if (v->nnodes > 0) memcpy(S->nodes, v->nodes, v->nnodes * sizeof(*S->nodes));
  S->nnodes = v->nnodes;
  S->nun = v->nun;
  for (i = 0; i < S->ng; i++) S->g[i].taken = v->taken[i];
  for (i = 0; i < S->nti; i++) S->ti[i].limit_left = v->limit_left[i];
  if (S->npool_lim > 0) memcpy(S->pool_left, v->pool_left, S->npool_lim * sizeof(*v->pool_left));
  return 0;
}

static void saved_free(struct saved *v) {
  stv_free(v->nodes);
  stv_free(v->taken);
  stv_free(v->limit_left);
  stv_free(v->pool_left);
}

/* The plan of a prepared solve: the heuristic's, or (optimize) the optimizer's. */
static int solve_finish(struct prepared *x, struct stv_plan *plan, int optimize) {
  struct solve *S = &x->S;
  const struct stv_problem *p = S->p;
  size_t i;
  int rc;
  memset(plan, 0, sizeof(*plan));
  stv_arena_init(&plan->mem);
  for (i = 0; i < S->nclasses; i++)
    if (!S->s->classes[i]->daemonset) plan->npending += S->s->classes[i]->npending;
  if (optimize) {
    if ((rc = stv__optimize(S))) goto out;
    /* Surplus pods taken off may leave room for a cheaper type; spot nodes
     * stay as they are, for the spot limits the optimizer kept, and with a
     * spot share limit so does everything else. */
    if (S->cg_applied && p->spot.max_share >= 1.0) stv__right_size(S, p->spot.max_pool_fraction < 1.0);
    plan->optimized = 1;
    plan->lp_converged = S->cg_converged;
    plan->columns = S->cg_columns;
    plan->stop_reason = S->cg_stop;
    plan->stop_gap = S->cg_stop_gap;
    plan->work = S->cg_work;
  }
  /* The spot limits hold for every plan, the heuristic's too. */
  if ((rc = stv__spot_repair(S))) goto out;
  if ((rc = stv__emit(S, plan))) goto out;
  /* What is left could not be placed. */
  for (i = 0; i < S->ng; i++) {
    struct group *g = &S->g[i];
    char why[200];
    if (g->taken == g->total) continue;
    stv__explain(S, g->cls, why, sizeof(why));
    while (g->taken < g->total)
      if ((rc = stv__add_unsched(S, g->pods[g->taken++], why))) goto out;
  }
  if ((rc = stv__spread_check(S, plan))) goto out;
  stv__compact_plan(S, plan);
  {
    /* Figures for the caller to show; the packer prints nothing. */
    struct stv_pack_stats *ps = optimize ? &plan->stats.optimized : &plan->stats.heuristic;
    ps->groups = S->ng;
    ps->templates = S->nti;
    ps->undominated = stv__count_undominated(S);
    ps->rounds = S->stat_rounds;
    ps->evaluations = S->stat_evals;
    plan->stats.cg = S->cg_stats;
  }
  if ((rc = stv__lower_bound(S, plan))) goto out;
  if (S->cg_bound > plan->lower_bound) {
    plan->lower_bound = S->cg_bound < plan->new_cost ? S->cg_bound : plan->new_cost;
    plan->lower_bound_kind = S->cg_bound_kind;
  }
  plan->unsched = stv_arena_alloc(&plan->mem, (S->nun + 1) * sizeof(*plan->unsched));
  if (plan->unsched == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  if (S->nun) memcpy(plan->unsched, S->un, S->nun * sizeof(*S->un));
  plan->nunsched = S->nun;
  rc = stv__preempt_apply(&x->pre, x->orig, plan);
out:
  if (rc) stv_plan_close(plan);
  return rc;
}

static int pack_run(const struct stv_problem *p, struct stv_plan *plan, struct stv_err *err) {
  struct prepared x;
  int rc = solve_prepare(p, &x, 0, err);
  if (rc == 0)
    rc = solve_finish(&x, plan, 0);
  else
    memset(plan, 0, sizeof(*plan));
  if (rc == STV_ENOMEM) stv_err_set(err, rc, "out of memory while packing");
  solve_close(&x);
  return rc;
}

int stv_pack(const struct stv_problem *p, struct stv_plan *plan, struct stv_err *err) {
  return pack_run(p, plan, err);
}

void stv_plan_close(struct stv_plan *plan) {
  stv_arena_reset(&plan->mem);
  memset(plan, 0, sizeof(*plan));
}

/* ---------------------------------------------------------------------- */
/* The public entry                                                       */

/* Effective cost of a finished plan's new nodes: cost (price, node cost, credits) plus spot penalty. */
static double plan_effective_cost(const struct stv_problem *p, const struct stv_plan *plan) {
  size_t i;
  double c = 0;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    if (pn->existing >= 0) continue;
    c += stv_plan_node_cost(p, pn) + stv__spot_penalty(p, &p->tmpl[pn->tmpl]) * pn->npods;
  }
  return c;
}

const char *stv_stop_reason_name(int reason) {
  switch (reason) {
  case STV_STOP_OPTIMAL:
    return "optimal";
  case STV_STOP_GAP:
    return "gap";
  case STV_STOP_STALLED:
    return "stalled";
  case STV_STOP_TIME:
    return "time limit";
  case STV_STOP_WORK:
    return "work budget";
  case STV_STOP_DONE:
    return "done";
  case STV_STOP_NO_GAIN:
    return "no gain";
  default:
    return "none";
  }
}

long stv_work_units(double seconds) {
  double w = seconds * (double)STV_WORK_PER_SECOND;
  return !(w > 0) ? 0 : w >= (double)LONG_MAX / 2 ? LONG_MAX / 2 : (long)w + 1;
}

/*
 * The heuristic's plan is within the tolerance of its own proven bound:
 * nothing is left for the optimizer to win. Returns the stop reason, 0
 * when the optimizer should run.
 */
static int heuristic_good_enough(const struct stv_problem *p, const struct stv_plan *h) {
  double tol = p->gap_tolerance == 0 ? STV_GAP_TOLERANCE_DEFAULT : p->gap_tolerance;
  if (!h->has_lower_bound || !(h->lower_bound > 0) || h->nplaced < h->npending || !stv_plan_spot_ok(p, h))
    return 0;
  if (h->new_cost <= h->lower_bound * (1 + 1e-9)) return STV_STOP_OPTIMAL;
  if (tol > 0 && h->new_cost <= h->lower_bound * (1 + tol)) return STV_STOP_GAP;
  return 0;
}

/*
 * The heuristic's plan h and, unless the time limit is 0 or h is good
 * enough (*good says why), the optimizer's plan o, both from one set-up
 * (see struct prepared). On an error neither is left to close.
 */
static int both_plans(const struct stv_problem *p, double deadline, struct stv_plan *h, struct stv_plan *o,
                      int *good, struct stv_err *err) {
  struct prepared x;
  struct saved v;
  int rc;
  memset(&v, 0, sizeof(v));
  memset(h, 0, sizeof(*h));
  memset(o, 0, sizeof(*o));
  *good = 0;
  if ((rc = solve_prepare(p, &x, deadline, err)) != 0 ||
      (p->time_limit > 0 && (rc = solve_save(&x.S, &v)) != 0) || (rc = solve_finish(&x, h, 0)) != 0)
    goto out;
  h->gap_tolerance = p->gap_tolerance == 0 ? STV_GAP_TOLERANCE_DEFAULT : p->gap_tolerance;
  h->stop_gap = -1;
  if (p->time_limit <= 0 || (*good = heuristic_good_enough(p, h)) != 0) goto out;
  if ((rc = solve_restore(&x.S, &v)) != 0 || (rc = solve_finish(&x, o, 1)) != 0) stv_plan_close(h);
out:
  if (rc == STV_ENOMEM) stv_err_set(err, rc, "out of memory while packing");
  saved_free(&v);
  solve_close(&x);
  return rc;
}

int stv_optimize(const struct stv_problem *p, struct stv_plan *plan, struct stv_err *err) {
  struct stv_plan h, o;
  double hc, oc, bound = 0;
  size_t h_placed, o_placed;
  int rc, use_o, hok, ook, bound_kind = STV_BOUND_RESOURCES, good;
  double deadline = p->clock != NULL ? p->clock() + p->time_limit : 0;
  if ((rc = both_plans(p, deadline, &h, &o, &good, err)) != 0) return rc;
  if (p->time_limit <= 0) {
    *plan = h;
    return 0;
  }
  if (good != 0) {
    h.optimized = 1;
    h.heuristic_cost = h.new_cost;
    h.stop_reason = good;
    h.stop_gap = (h.new_cost - h.lower_bound) / h.lower_bound;
    h.solve_ms_budget = p->time_limit * 1000.0;
    *plan = h;
    return 0;
  }
  h_placed = h.nplaced;
  o_placed = o.nplaced;
  hc = plan_effective_cost(p, &h);
  oc = plan_effective_cost(p, &o);
  hok = stv_plan_spot_ok(p, &h);
  ook = stv_plan_spot_ok(p, &o);
  /* The optimizer's plan wins when it places as many pods, keeps the spot
   * policy, and costs less (or the heuristic's breaks the policy). */
  use_o = ook && o.nplaced >= h.nplaced && (oc < hc - 1e-9 || !hok) && stv__plan_pools_ok(p, &o);
  if (o.has_lower_bound) {
    bound = o.lower_bound;
    bound_kind = o.lower_bound_kind;
  }
  if (h.has_lower_bound && h.lower_bound > bound) {
    bound = h.lower_bound;
    bound_kind = h.lower_bound_kind;
  }
  {
    /* Both runs' figures go with whichever plan wins. */
    struct stv_plan_stats st = o.stats;
    st.heuristic = h.stats.heuristic;
    st.compared = 1;
    st.heuristic_cost = hc;
    st.optimized_cost = oc;
    st.heuristic_placed = h.nplaced;
    st.optimized_placed = o.nplaced;
    st.heuristic_spot_ok = hok;
    st.optimized_spot_ok = ook;
    h.stats = st;
    o.stats = st;
  }
  /* How the optimizer stopped goes with whichever plan wins. */
  h.stop_reason = o.stop_reason;
  h.stop_gap = o.stop_gap;
  h.work = o.work;
  h.gap_tolerance = o.gap_tolerance = p->gap_tolerance == 0 ? STV_GAP_TOLERANCE_DEFAULT : p->gap_tolerance;
  if (use_o) {
    o.heuristic_cost = h.new_cost;
    stv_plan_close(&h);
    *plan = o;
  } else {
    h.optimized = 1;
    h.lp_converged = o.lp_converged;
    h.columns = o.columns;
    h.heuristic_cost = h.new_cost;
    stv_plan_close(&o);
    *plan = h;
  }
  /* Bounds from either run hold for both: the same pods are placed. */
  if (h_placed == o_placed && plan->nplaced == h_placed) {
    if (bound > plan->new_cost) bound = plan->new_cost;
    if (bound > plan->lower_bound) {
      plan->lower_bound = bound;
      plan->has_lower_bound = 1;
      plan->lower_bound_kind = bound_kind;
    }
  }
  /* Neither could keep them: the plan places what it can and says so. */
  plan->spot_limits_broken = !stv_plan_spot_ok(p, plan);
  plan->solve_ms_budget = p->time_limit * 1000.0;
  return 0;
}
