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
  int rc = 0, converged = 0;
  double lb = -1;
  if ((rc = stv__setup_master(C, frozen_node)) != 0 || (rc = stv__seed_columns(C, frozen_node)) != 0)
    return rc;
  {
    /* The root LP gets half the time; the integer plan needs the rest. */
    double end = C->deadline;
    if (C->timed) C->deadline = now_s(C) + 0.5 * (end - now_s(C));
    C->proving = 1;
    rc = stv__generate(C, &converged, &lb);
    C->proving = 0;
    C->klimit = KNAP_NODES; /* the integer plan needs columns, not proofs */
    C->deadline = end;
    if (rc != 0) return rc;
  }
  C->S->cg_converged = converged;
  if (!stv__lp_slack_free(C)) lb = -1;
  if (lb > 0 && bound_is_global(C, frozen_node)) {
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
  {
    double stop_at, hc = heuristic_cost(C), best;
    size_t k;
    glp_smcp sp;
    /* The heuristic's nodes are a solution of the master, unless spot limits
     * may reject them. */
    int heur_ok = !(C->n_row_N || C->share_row);
    /* Stop as soon as the bound is met: rounded up when costs are whole. */
    stop_at = lb > 0 ? (stv__integral_costs(C) ? ceil(lb - 1e-6) + 1e-6 : lb * (1 + 1e-6)) : -INFINITY;
    /* The bound over every placed pod, less what the nodes kept aside cost:
     * a master solution at or below it makes the whole plan optimal. */
    if (C->S->cg_bound > 0 && (C->S->cg_bound - C->frozen_cost) * (1 + 1e-9) > stop_at)
      stop_at = (C->S->cg_bound - C->frozen_cost) * (1 + 1e-9);
    if (heur_ok && hc <= stop_at) return rc; /* the heuristic is optimal already */
    best = heur_ok ? hc : INFINITY;
    /* 1. Whole LP counts and a greedy finish, from the root LP. */
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    glp_simplex(C->lp, &sp);
    trace(C, "phase: root done at %.3f, lp status %d", now_s(C), glp_get_status(C->lp));
    C->xg = stv__residual_greedy(C, &rc);
    trace(C, "phase: greedy done at %.3f: %s", now_s(C),
          C->xg ? (stv__solution_ok(C, C->xg) ? "ok" : "breaks a row") : "none");
    if (rc != 0) goto done;
    if (C->xg != NULL && stv__solution_ok(C, C->xg) && stv__solution_cost(C, C->xg) < best - 1e-9) {
      best = stv__solution_cost(C, C->xg);
      C->xbest = C->xg;
      C->nxbest = C->ncol;
      C->xg = NULL;
    }
    /* 2. Diving, two ways, with part of what is left. */
    for (k = 0; k < 2 && best > stop_at && !out_of_time(C); k++) {
      double end = C->deadline;
      if (C->timed) C->deadline = now_s(C) + (k == 0 ? 0.6 : 0.5) * (end - now_s(C));
      stv__dive(C, stop_at, (int)k, &C->xd, &rc);
      C->deadline = end;
      if (rc != 0) goto done;
      if (C->xd != NULL && stv__solution_ok(C, C->xd) && stv__solution_cost(C, C->xd) < best - 1e-9) {
        best = stv__solution_cost(C, C->xd);
        stv_free(C->xbest);
        C->xbest = C->xd;
        C->nxbest = C->ncol;
        C->xd = NULL;
      }
      stv_free(C->xd);
      C->xd = NULL;
    }
    /* 3. Branch and bound over every pattern generated, from the best. */
    if (best > stop_at && !out_of_time(C)) {
      double *x0 = NULL, *heur = NULL;
      if (C->xbest != NULL) {
        if ((x0 = stv_calloc(C->ncol + 1, sizeof(double))) == NULL) {
          rc = STV_ENOMEM;
          goto done;
        }
        memcpy(x0, C->xbest, C->nxbest * sizeof(double)); /* columns added since are 0 */
      } else if (heur_ok) {
        if ((heur = stv_calloc(C->ncol + 1, sizeof(double))) == NULL) {
          rc = STV_ENOMEM;
          goto done;
        }
        for (k = 0; k < C->ncol; k++) heur[k] = C->col[k].heur;
      }
      C->xm = stv__mip(C, x0 ? x0 : heur, stop_at, &rc);
      stv_free(x0);
      stv_free(heur);
      if (rc != 0) goto done;
      if (C->xm != NULL && stv__solution_ok(C, C->xm) && stv__solution_cost(C, C->xm) < best - 1e-9) {
        best = stv__solution_cost(C, C->xm);
        stv_free(C->xbest);
        C->xbest = C->xm;
        C->nxbest = C->ncol;
        C->xm = NULL;
      }
    }
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
      st->best = best;
    }
    if (C->xbest != NULL && (best < hc - 1e-9 || !heur_ok)) rc = apply(C, frozen_node);
  done:;
  }
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
  C->col = NULL;
  C->pi = C->pk = NULL;
  C->seen = NULL;
  C->xbest = C->xd = C->xm = C->xg = NULL;
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
    C.deadline = start + 0.95 * (S->deadline - start);
  }
  frozen_node = C.frozen_node = stv_calloc(S->nnodes + 1, 1);
  if (frozen_node == NULL) return STV_ENOMEM;
  if ((rc = stv__setup_items(&C, frozen_node)) != 0) goto out;
  /* Unless the master below is the whole problem (its own bound is then the
   * stronger), the bound over every placed pod first, with a share of the
   * budget: it also tells the search below when it may stop. */
  if (!bound_is_global(&C, frozen_node) &&
      (rc = stv__pattern_bound(S, C.timed ? start + BOUND_SHARE * (C.deadline - start) : 0)) != 0)
    goto out;
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
