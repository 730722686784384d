/*
 * The optimizer: column generation on top of the heuristic's plan.
 *
 * The heuristic (pack.c) has already put what it could on existing nodes
 * and chosen new nodes for the rest. The optimizer takes those new nodes'
 * pods, grouped as the heuristic grouped them (a class, or a class bound to
 * a zone), and re-decides how many nodes of each offering to buy and which
 * groups go on each, as a pattern (configuration) model:
 *
 *   min  sum_p cost_p x_p
 *   s.t. sum_p a_gp x_p >= d_g           every group's pods are placed
 *        sum_{p of offering o} x_p <= n_o  reserved counts
 *        spot risk rows (share of cost, pools), see below
 *        x_p >= 0 integer
 *
 * A pattern p is one node of one template: its groups and their counts,
 * within the template's allocatable after DaemonSets, the hostname rules
 * honoured (anti-affinity: no two conflicting classes, at most one pod of a
 * class that repels itself). The restricted master LP is solved by GLPK's
 * simplex; new patterns come from a knapsack per template shape (templates
 * that look alike to the pods: same room, same groups, same spot penalty),
 * solved by depth-first branch and bound with ratio bounds. When no pattern
 * prices out, the LP optimum is a lower bound; otherwise a Lagrangian bound
 * is. GLPK's branch and bound then picks integer counts over the generated
 * patterns, starting from the heuristic's own solution; surplus pods are
 * dropped from the chosen nodes, which right_size (pack.c) may shrink.
 *
 * Pods under rules that depend on other nodes' contents (hostname spread,
 * hostname pod affinity, and pods those rules count) keep the nodes the
 * heuristic gave them; the optimizer works around those nodes.
 *
 * Files: cg_master.c (rows, shapes, master LP, columns), price.c (the
 * knapsack per shape and the column generation rounds), round.c (whole
 * nodes from the LP), this file (applying the answer, stv__optimize).
 *
 * The answer is never worse than the heuristic's (stv_optimize compares the
 * two finished plans) and always feasible (the heuristic's final rule check
 * runs on it as on any plan).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "cg_internal.h"

#define BOUND_SHARE 0.3 /* of the optimizer's budget, at most, for the pattern bound */
#define EXACT_SHARE 0.8 /* of what the dives leave, at most, for the exact search */

/* ---------------------------------------------------------------------- */
/* Back to the heuristic's nodes                                          */

struct sol {
  uint32_t ti;
  uint32_t mult;
  uint32_t *cnt; /* per item */
};

/*
 * Replaces the heuristic's non-frozen new nodes by the chosen patterns,
 * pods beyond each group's demand taken off, empty copies dropped.
 */
static int apply(struct cg *C, const unsigned char *frozen_node) {
  struct solve *S = C->S;
  struct sol *v = NULL;
  size_t nv = 0, cap = 0, i, k, nk = 0, keep_cap = 0;
  uint32_t *have = stv_calloc(C->nit + 1, sizeof(uint32_t));
  struct kept *keep = NULL;
  int rc = 0;
  if (have == NULL) return STV_ENOMEM;
  for (k = 0; k < C->nxbest; k++) {
    struct sol *e;
    uint32_t q;
    if (C->xbest[k] < 0.5) continue;
    if (stv_grow((void **)&v, &cap, nv + 1, sizeof(*v)) != 0) goto nomem;
    e = &v[nv++];
    e->ti = C->col[k].ti;
    e->mult = (uint32_t)C->xbest[k];
    e->cnt = stv_arena_alloc(&S->a, (C->nit + 1) * sizeof(uint32_t));
    if (e->cnt == NULL) goto nomem;
    for (q = 0; q < C->col[k].n; q++) {
      e->cnt[C->pi[C->col[k].off + q]] = C->pk[C->col[k].off + q];
      have[C->pi[C->col[k].off + q]] += C->pk[C->col[k].off + q] * e->mult;
    }
  }
  /* Surplus off: from all copies evenly, a split where it does not divide. */
  for (i = 0; i < C->nit; i++) {
    uint32_t surplus = have[i] - C->it[i].demand;
    size_t n0 = nv;
    for (k = 0; k < n0 && surplus > 0; k++) {
      struct sol *e = &v[k];
      uint32_t a = e->cnt[i], r, per, extra;
      if (a == 0) continue;
      r = a * e->mult < surplus ? a * e->mult : surplus;
      per = r / e->mult;
      extra = r - per * e->mult;
      surplus -= r;
      if (extra > 0) {
        struct sol *f;
        if (stv_grow((void **)&v, &cap, nv + 1, sizeof(*v)) != 0) goto nomem;
        e = &v[k];
        f = &v[nv++];
        f->ti = e->ti;
        f->mult = extra;
        f->cnt = stv_arena_alloc(&S->a, (C->nit + 1) * sizeof(uint32_t));
        if (f->cnt == NULL) goto nomem;
        memcpy(f->cnt, e->cnt, C->nit * sizeof(uint32_t));
        f->cnt[i] = a - per - 1;
        e->mult -= extra;
      }
      e->cnt[i] = a - per;
    }
  }
  /* The new list: existing and frozen nodes as they were, then the patterns. */
  keep_cap = S->nnodes + nv + 1;
  keep = stv_malloc(keep_cap * sizeof(*keep));
  if (keep == NULL) goto nomem;
  for (i = 0; i < S->nnodes; i++)
    if (S->nodes[i].existing >= 0 || frozen_node[i]) keep[nk++] = S->nodes[i];
  for (i = 0; i < S->nti; i++)
    if (C->p->tmpl[S->ti[i].t].limit >= 0) S->ti[i].limit_left = C->limit[i];
  for (k = 0; k < nv; k++) {
    struct kept *kn;
    uint32_t q, n = 0;
    if (v[k].mult == 0) continue;
    for (q = 0; q < C->nit; q++) n += v[k].cnt[q] > 0;
    if (n == 0) continue;
    kn = &keep[nk++];
    memset(kn, 0, sizeof(*kn));
    kn->existing = -1;
    kn->tmpl = (int32_t)v[k].ti;
    kn->mult = v[k].mult;
    kn->g = stv_arena_alloc(&S->a, (n + 1) * sizeof(uint32_t));
    kn->k = stv_arena_alloc(&S->a, (n + 1) * sizeof(uint32_t));
    if (kn->g == NULL || kn->k == NULL) goto nomem;
    for (q = 0; q < C->nit; q++)
      if (v[k].cnt[q] > 0) {
        kn->g[kn->npat] = C->it[q].g;
        kn->k[kn->npat++] = v[k].cnt[q];
      }
    if (S->ti[v[k].ti].limit_left > 0) S->ti[v[k].ti].limit_left -= v[k].mult;
  }
  stv_free(S->nodes);
  S->nodes = keep;
  S->nnodes = nk;
  S->cap_nodes = keep_cap; /* what was allocated, not what is used */
  keep = NULL;
  S->cg_applied = 1;
  goto out;
nomem:
  rc = STV_ENOMEM;
out:
  stv_free(keep);
  stv_free(v);
  stv_free(have);
  return rc;
}

/* Effective hourly cost of the heuristic's non-frozen new nodes. */
static double heuristic_cost(const struct cg *C) {
  size_t k;
  double c = 0;
  for (k = 0; k < C->ncol; k++) c += C->col[k].heur * C->col[k].cost;
  return c;
}

/*
 * Whether the optimizer's bound speaks for the whole problem: nothing kept
 * aside (frozen nodes, zone-bound groups) and no existing room any pending
 * pod could use. Otherwise it bounds only the part re-decided here.
 */
static int bound_is_global(const struct cg *C, const unsigned char *frozen_node) {
  const struct solve *S = C->S;
  const struct stv_snapshot *s = S->s;
  size_t i, j;
  int r;
  for (i = 0; i < S->nnodes; i++)
    if (S->nodes[i].existing >= 0 || frozen_node[i]) return 0;
  for (i = 0; i < C->nit; i++)
    if (S->g[C->it[i].g].zone >= 0) return 0;
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_node *nd = &s->nodes[i];
    struct stv_node_view v = {nd->name, &nd->labels, nd->ntaints, nd->taints, nd->unschedulable};
    for (j = 0; j < C->nit; j++) {
      const struct stv_class *c = s->classes[C->it[j].cls];
      int fits = 1;
      for (r = 0; r < S->ndim; r++)
        if (c->req[r] > nd->alloc[r] - nd->used[r]) fits = 0;
      if (fits && stv_class_fits_node(c, &v, NULL, 0)) return 0;
    }
  }
  return 1;
}

/* ---------------------------------------------------------------------- */
/* Stopping                                                               */

/* The targets a proven bound lb sets: stop_at (optimal) and gap_at (within
 * the tolerance), rounded down to whole values when every cost is one. */
static void set_targets(struct cg *C, double lb) {
  double tol = C->gap_tol > 0 ? C->gap_tol : 0;
  if (stv__integral_costs(C)) {
    C->stop_at = ceil(lb - 1e-6) + 1e-6;
    C->gap_at = floor(lb * (1 + tol) + 1e-6) + 1e-6;
  } else {
    C->stop_at = lb * (1 + 1e-6);
    C->gap_at = lb * (1 + tol);
  }
  if (C->gap_at < C->stop_at) C->gap_at = C->stop_at;
}

int stv__bound_check(struct cg *C, double lb) {
  if (lb > C->bound) {
    C->bound = lb;
    set_targets(C, lb);
  }
  if (C->bound <= 0 || C->stop) return C->stop != 0;
  if (C->incumbent <= C->stop_at)
    C->stop = STV_STOP_OPTIMAL;
  else if (C->incumbent <= C->gap_at)
    C->stop = STV_STOP_GAP;
  return C->stop != 0;
}

void stv__stall_progress(struct cg *C, double cost) {
  if (C->win <= 0 && C->wwin <= 0) return;
  if (cost >= C->ref * (1 - STV_STALL_IMPROVEMENT)) return;
  C->ref = cost;
  C->since_t = now_s(C);
  C->since_w = stv__work(C);
  trace(C, "stall window: %.6f at %.3f, work %ld", cost, C->since_t, C->since_w);
}

/*
 * Arms the integer phase's stall window, counted from now against ref (the
 * cheaper of the incumbent and the heuristic's new nodes): in work units
 * under a work budget, so that a decision does not depend on the load, in
 * seconds otherwise (none without a clock).
 */
static void arm_window(struct cg *C, double ref) {
  if (C->wwin_len > 0)
    C->wwin = C->wwin_len;
  else if (C->timed)
    C->win = C->win_len;
  C->ref = ref;
  C->since_t = now_s(C);
  C->since_w = stv__work(C);
}

/* A solution x of cost c is the best so far: keep it (x is taken). */
static void take_solution(struct cg *C, double **x) {
  double c;
  if (*x == NULL) return;
  if (stv__solution_ok(C, *x) && (c = stv__solution_cost(C, *x)) < C->incumbent - 1e-9) {
    stv__stall_progress(C, c);
    C->incumbent = c;
    stv_free(C->xbest);
    C->xbest = *x;
    C->nxbest = C->ncol;
    *x = NULL;
    stv__bound_check(C, -1);
  }
  stv_free(*x);
  *x = NULL;
}

/* Why the solve ended, once it has: cut marks a phase its share of the
 * time or work cut short. */
static int stop_reason(const struct cg *C, int cut_time, int cut_work) {
  if (C->stop) return C->stop;
  if (cut_work || (C->work_limit > 0 && stv__work(C) >= C->work_limit)) return STV_STOP_WORK;
  if (cut_time || (C->timed && now_s(C) >= C->end)) return STV_STOP_TIME;
  return STV_STOP_DONE;
}

/* After a phase: whether its share of the time or of the work ran out. */
static void note_cut(struct cg *C, int *cut_time, int *cut_work) {
  if (!C->stop && window_passed(C)) C->stop = STV_STOP_NO_GAIN;
  if (C->stop || !out_of_time(C)) return;
  if (C->work_end > 0 && stv__work(C) >= C->work_end)
    *cut_work = 1;
  else
    *cut_time = 1;
}

/*
 * The integer plan from the root LP: the residual greedy, two dives and
 * branch and bound, each kept when it beats the incumbent, until one of
 * them meets the tolerance or the budget runs out.
 */
static int integer_phase(struct cg *C, int heur_ok, int global, int converged, int *cut_time, int *cut_work) {
  int rc = 0;
  size_t k;
  glp_smcp sp;
  struct ex *E = NULL;
  glp_init_smcp(&sp);
  sp.msg_lev = GLP_MSG_OFF;
  glp_simplex(C->lp, &sp);
  trace(C, "phase: root done at %.3f, lp status %d, work %ld", now_s(C), glp_get_status(C->lp), stv__work(C));
  /* The exact search's duals and LP solution, as column generation proved
   * them (before the greedy and the dives add columns). */
  if (!C->stop && (E = stv__exact_prepare(C, global, converged, &rc)) == NULL && rc != 0) return rc;
  /* 1. Whole LP counts and a greedy finish, from the root LP. */
  C->xg = stv__residual_greedy(C, &rc);
  trace(C, "phase: greedy done at %.3f: %s", now_s(C),
        C->xg ? (stv__solution_ok(C, C->xg) ? "ok" : "breaks a row") : "none");
  if (rc != 0) return rc;
  take_solution(C, &C->xg);
  note_cut(C, cut_time, cut_work);
  /* 2. Diving, two ways, with part of what is left. */
  for (k = 0; k < 2 && !out_of_time(C); k++) {
    struct phase saved = phase_begin(C, k == 0 ? 0.6 : 0.5);
    stv__dive(C, C->bound > 0 ? C->gap_at : -INFINITY, (int)k, &C->xd, &rc);
    note_cut(C, cut_time, cut_work);
    phase_end(C, saved);
    if (rc != 0) return rc;
    take_solution(C, &C->xd);
  }
  /* 3. The exact search, where the problem is pure packing, with most of
   * what the dives leave (they are unchanged: where they reach a plan the
   * search does not take their time). */
  if (E != NULL && !out_of_time(C)) {
    struct phase saved = phase_begin(C, EXACT_SHARE);
    C->xe = stv__exact_run(E, &rc);
    note_cut(C, cut_time, cut_work);
    phase_end(C, saved);
    if (rc != 0) return rc;
    take_solution(C, &C->xe);
  }
  /* 4. Branch and bound over every pattern generated, from the best. */
  if (!out_of_time(C)) {
    double *x0 = NULL;
    if (C->xbest != NULL || heur_ok) {
      if ((x0 = stv_calloc(C->ncol + 1, sizeof(double))) == NULL) return STV_ENOMEM;
      if (C->xbest != NULL)
        memcpy(x0, C->xbest, C->nxbest * sizeof(double)); /* columns added since are 0 */
      else
        for (k = 0; k < C->ncol; k++) x0[k] = C->col[k].heur;
    }
    C->xm = stv__mip(C, x0, C->bound > 0 ? C->gap_at : -INFINITY, &rc);
    note_cut(C, cut_time, cut_work);
    stv_free(x0);
    if (rc != 0) return rc;
    take_solution(C, &C->xm);
  }
  return 0;
}

/*
 * 1 when the master LP, solved again, is at an optimum that leaves no pod
 * on a slack column: otherwise some pod no pattern could place made the LP
 * lean on slack, and its value bounds nothing.
 */
int stv__lp_slack_free(struct cg *C) {
  glp_smcp sp;
  size_t i;
  glp_init_smcp(&sp);
  sp.msg_lev = GLP_MSG_OFF;
  if (glp_simplex(C->lp, &sp) != 0 || glp_get_status(C->lp) != GLP_OPT) return 0;
  for (i = 0; i < C->nit; i++)
    if (glp_get_col_prim(C->lp, (int)i + 1) > 1e-6) return 0;
  return 1;
}

/*
 * The solve proper, run under stv__glpk_run: C (arg) is set up; fills
 * C->S's results and, when it finds a cheaper plan, applies it. Returns 0,
 * STV_ENOMEM, or never when GLPK fails (see stv__glpk_run).
 */
static int cg_run(void *arg) {
  struct cg *C = arg;
  const unsigned char *frozen_node = C->frozen_node;
  int rc = 0, converged = 0, cut_time = 0, cut_work = 0, global;
  /* The heuristic's nodes are a solution of the master, unless spot limits
   * may reject them. */
  int heur_ok;
  double lb = -1, hc, z = INFINITY;
  trace(C, "phase: start at %.3f, %zu items, %zu shapes", now_s(C), C->nit, C->nsh);
  if ((rc = stv__setup_master(C, frozen_node)) != 0 || (rc = stv__seed_columns(C, frozen_node)) != 0)
    return rc;
  heur_ok = !(C->n_row_N || C->share_row);
  hc = heuristic_cost(C);
  C->incumbent = heur_ok ? hc : INFINITY;
  {
    /* The root LP gets half the time and work; the integer plan the rest. */
    struct phase saved = phase_begin(C, 0.5);
    C->proving = 1;
    rc = stv__generate(C, &converged, &lb);
    C->proving = 0;
    C->klimit = KNAP_NODES; /* the integer plan needs columns, not proofs */
    note_cut(C, &cut_time, &cut_work);
    phase_end(C, saved);
    if (rc != 0) return rc;
  }
  C->S->cg_converged = converged;
  if (!stv__lp_slack_free(C)) lb = -1;
  if (glp_get_status(C->lp) == GLP_OPT) z = glp_get_obj_val(C->lp);
  global = bound_is_global(C, frozen_node);
  if (lb > 0 && global) {
    /* From effective to real prices: at most the spot penalty of every pod. */
    double pods = 0, b;
    size_t i;
    for (i = 0; i < C->nit; i++) pods += C->it[i].demand;
    b = lb * (1 - 1e-9) - C->lambda_max * pods;
    /* The whole problem's own bound: named as such when it is as high. */
    if (b > 0 && b >= C->S->cg_bound * (1 - 1e-9)) {
      if (b > C->S->cg_bound) C->S->cg_bound = b;
      C->S->cg_bound_kind = STV_BOUND_PATTERNS;
    }
  }
  trace(C, "phase: root z %.6f, heuristic %.6f, incumbent %.6f, stalled %d", z, hc, C->incumbent, C->stalled);
  if (lb > 0) stv__bound_check(C, lb);
  /* The bound over every placed pod, less what the nodes kept aside cost:
   * a master solution at or below it makes the whole plan optimal. */
  if (C->S->cg_bound > C->frozen_cost) stv__bound_check(C, C->S->cg_bound - C->frozen_cost);
  /* Stalled, and the LP promises no gain worth having over the incumbent or
   * the heuristic's nodes (which the spot repair makes a plan of anyway). */
  if (!C->stop && C->stalled && z >= (hc < C->incumbent ? hc : C->incumbent) * (1 - STV_STALL_IMPROVEMENT))
    C->stop = STV_STOP_STALLED;
  /* An LP that stalled, or did not converge on a master that leaves nodes
   * aside (its bound may never close), promises a gain nothing proves the
   * integer phase can reach: it goes on only while it finds cheaper plans.
   * A whole problem's LP cut short by the time (a hard 1-D instance on a
   * busy machine) keeps the rest of the budget for its dives. */
  if (!C->stop && !converged && (C->stalled || !global) && C->stall_rounds > 0)
    arm_window(C, hc < C->incumbent ? hc : C->incumbent);
  if (!C->stop && (rc = integer_phase(C, heur_ok, global, converged, &cut_time, &cut_work)) != 0) return rc;
  {
    struct stv_cg_stats *st = &C->S->cg_stats;
    st->reported = 1;
    st->items = C->nit;
    st->shapes = C->nsh;
    st->columns = C->ncol;
    st->lp = lb;
    st->converged = converged;
    st->heuristic = hc;
    st->found = C->xbest != NULL;
    st->best = C->incumbent;
  }
  C->S->cg_stop = stop_reason(C, cut_time, cut_work);
  C->S->cg_stop_gap = C->bound > 0 && C->incumbent < INFINITY ? (C->incumbent - C->bound) / C->bound : -1;
  if (C->S->cg_stop_gap < 0 && C->S->cg_stop_gap > -1e-6) C->S->cg_stop_gap = 0; /* a bound a hair above */
  C->S->cg_work = stv__work(C);
  trace(C, "phase: stopped at %.3f: %s, work %ld", now_s(C), stv_stop_reason_name(C->S->cg_stop),
        C->S->cg_work);
  if (C->xbest != NULL && (C->incumbent < hc - 1e-9 || !heur_ok)) rc = apply(C, frozen_node);
  return rc;
}

/* The knapsack's scratch, sized for C->nit items, in the solve's arena. */
int stv__cg_scratch(struct cg *C) {
  struct solve *S = C->S;
  size_t km = C->nit + 1;
  C->kidx = stv_arena_alloc(&S->a, km * sizeof(uint32_t));
  C->kcnt = stv_arena_alloc(&S->a, km * sizeof(uint32_t));
  C->kbest = stv_arena_alloc(&S->a, km * sizeof(uint32_t));
  C->ksol = stv_arena_alloc(&S->a, km * KBEST * sizeof(uint32_t));
  C->ku = stv_arena_alloc(&S->a, km * sizeof(uint32_t));
  C->kval = stv_arena_alloc(&S->a, km * sizeof(double));
  C->ksize = stv_arena_alloc(&S->a, km * sizeof(double));
  C->suf_val = stv_arena_alloc(&S->a, (km + 1) * sizeof(double));
  C->suf_s = stv_arena_alloc(&S->a, (km + 1) * sizeof(double));
  C->suf_r = stv_arena_alloc(&S->a, (km + 1) * (size_t)STV_MAX_RES * sizeof(double));
  C->kpres = stv_arena_alloc(&S->a, S->W * 8 + 8);
  if (!C->kidx || !C->kcnt || !C->kbest || !C->ksol || !C->ku || !C->kval || !C->ksize || !C->suf_val ||
      !C->suf_s || !C->suf_r || !C->kpres)
    return STV_ENOMEM;
  return 0;
}

/* Frees what a struct cg holds outside the arena (the master LP too). */
void stv__cg_release(struct cg *C) {
  if (C->lp != NULL) glp_delete_prob(C->lp);
  C->lp = NULL;
  stv_free(C->col);
  stv_free(C->pi);
  stv_free(C->pk);
  stv_free(C->seen);
  stv_free(C->xbest);
  stv_free(C->xd);
  stv_free(C->xm);
  stv_free(C->xg);
  stv_free(C->xe);
  C->col = NULL;
  C->pi = C->pk = NULL;
  C->seen = NULL;
  C->xbest = C->xd = C->xm = C->xg = C->xe = NULL;
}

int stv__optimize(struct solve *S) {
  struct cg C;
  unsigned char *frozen_node = NULL;
  int rc = 0;
  double start = 0;
  memset(&C, 0, sizeof(C));
  C.S = S;
  C.p = S->p;
  C.W = S->W;
  if (S->p->time_limit <= 0) return 0;
  if (S->p->clock != NULL) {
    C.timed = 1;
    start = S->p->clock();
    /* What is left of the budget stv_optimize started with, less a margin
     * for the final checks and the bound after it. */
    C.deadline = C.end = start + 0.95 * (S->deadline - start);
  }
  C.work_limit = C.work_end = S->p->work_limit > 0 ? S->p->work_limit : 0;
  C.win_len = STV_STALL_WINDOW_SHARE * (C.end - start);
  C.gap_tol = S->p->gap_tolerance == 0 ? STV_GAP_TOLERANCE_DEFAULT : S->p->gap_tolerance;
  C.stall_rounds = S->p->stall_rounds == 0 ? STV_STALL_ROUNDS_DEFAULT : S->p->stall_rounds;
  C.bound = -1;
  C.stop_at = C.gap_at = -INFINITY;
  C.incumbent = INFINITY;
  S->cg_stop_gap = -1;
  frozen_node = C.frozen_node = stv_calloc(S->nnodes + 1, 1);
  if (frozen_node == NULL) return STV_ENOMEM;
  if ((rc = stv__setup_items(&C, frozen_node)) != 0) goto out;
  /* Unless the master below is the whole problem (its own bound is then the
   * stronger), the bound over every placed pod first, with a share of the
   * budget: it also tells the search below when it may stop. */
  if (!bound_is_global(&C, frozen_node)) {
    /* Under a work budget its share is of the work (the time is a safety
     * net), so that a decision stays the same on a busy machine. */
    long bound_work = C.work_limit > 0 ? (long)(BOUND_SHARE * (double)C.work_limit) + 1 : 0;
    double bound_end = !C.timed ? 0 : C.work_limit > 0 ? C.deadline : start + BOUND_SHARE * (C.deadline - start);
    if ((rc = stv__pattern_bound(S, bound_end, bound_work)) != 0) goto out;
    if (bound_work > 0) C.work_limit = C.work_end = C.work_limit - bound_work > 1 ? C.work_limit - bound_work : 1;
  }
  C.wwin_len = C.work_limit > 0 ? (long)(STV_STALL_WINDOW_SHARE * (double)C.work_limit) + 1 : 0;
  if (C.nit == 0) goto out;
  if ((rc = stv__setup_shapes(&C, frozen_node)) != 0) goto out;
  if ((rc = stv__cg_scratch(&C)) != 0) goto out;
  rc = stv__glpk_run(cg_run, &C, S->err);
  /* After a GLPK error its environment, the master LP with it, is gone. */
  if (rc == STV_ESOLVER) C.lp = NULL;
out:
  stv__cg_release(&C);
  stv_free(frozen_node);
  return rc;
}
