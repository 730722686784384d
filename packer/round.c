/*
 * From the optimizer's LP to whole nodes: the residual greedy (whole LP
 * counts, then the best-valued node at a time), diving (rounding the LP up
 * one pattern at a time, generating columns as it goes), and GLPK's branch
 * and bound over the generated patterns.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "cg_internal.h"

/* ---------------------------------------------------------------------- */
/* Residual greedy: whole LP counts, then the best-valued node at a time   */

long stv__find_column(const struct cg *C, uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n) {
  size_t c;
  for (c = C->ncol; c-- > 0;)
    if (C->col[c].ti == ti && C->col[c].n == n &&
        memcmp(&C->pi[C->col[c].off], pi, n * sizeof(uint32_t)) == 0 &&
        memcmp(&C->pk[C->col[c].off], pk, n * sizeof(uint32_t)) == 0)
      return (long)c;
  return -1;
}

/*
 * Rounding down can leave a spot pool over its share of fewer spot nodes:
 * takes nodes off such pools (floors, per column) until every one keeps its
 * limit. Returns 0 or STV_ENOMEM.
 */
static int greedy_trim_spot(struct cg *C, double *floors) {
  size_t j;
  double *pool = stv_calloc(C->S->nti + 1, sizeof(double)), nspot = 0;
  int again = 1;
  if (pool == NULL) return STV_ENOMEM;
  while (again) {
    again = 0;
    memcpy(pool, C->frozen_pool, C->S->nti * sizeof(double));
    nspot = C->frozen_spot;
    for (j = 0; j < C->ncol; j++)
      if (floors[j] > 0 && C->p->tmpl[C->S->ti[C->col[j].ti].t].capacity_type == STV_CT_SPOT) {
        pool[C->col[j].ti] += floors[j];
        nspot += floors[j];
      }
    for (j = 0; j < C->ncol && !again; j++) {
      uint32_t q, ti = C->col[j].ti;
      if (floors[j] <= 0 || C->p->tmpl[C->S->ti[ti].t].capacity_type != STV_CT_SPOT) continue;
      if (pool[ti] <= C->frac * nspot + STV_SPOT_POOL_GRACE + 1e-9) continue;
      floors[j] -= 1;
      for (q = 0; q < C->col[j].n; q++) C->it[C->pi[C->col[j].off + q]].resid += C->pk[C->col[j].off + q];
      again = 1;
    }
  }
  stv_free(pool);
  /* resid may now exceed demand where floors over-covered: clamp. */
  for (j = 0; j < C->nit; j++)
    if (C->it[j].resid > C->it[j].demand) C->it[j].resid = C->it[j].demand;
  return 0;
}

/*
 * The residual greedy's next node: over every shape, the cheapest
 * uncounted template and its best knapsack by value v, scored by value per
 * unit of price. Writes the pattern to bi/bk (best_n entries) on
 * template best_ti. Returns 1 when one was found, 0 when nothing fits, or
 * STV_ENOMEM. tpi/tpk/tn are the knapsack's scratch.
 */
static int greedy_best(struct cg *C, const double *v, uint32_t *tpi, uint32_t *tpk, uint32_t *tn,
                       uint32_t *bi, uint32_t *bk, uint32_t *best_ti, uint32_t *best_n) {
  size_t s, W1 = C->nit + 1;
  double best_score = -1;
  *best_ti = 0;
  *best_n = 0;
  for (s = 0; s < C->nsh; s++) {
    const struct shape *sh = &C->sh[s];
    uint32_t q, ti = 0;
    double price = INFINITY, ub;
    int np, k, bestk = -1;
    double bestv = 0;
    /* A step prices every shape: with hundreds, the stall window may pass
     * within one (the budget's own cut waits for the step's end). */
    if (window_passed(C)) return 0;
    for (q = 0; q < sh->n; q++) {
      uint32_t t = C->sh_ti[sh->first + q];
      double pr = C->p->tmpl[C->S->ti[t].t].price + C->p->tmpl[C->S->ti[t].t].node_cost;
      if (C->limit[t] >= 0) continue; /* counted ones are the LP's to use */
      /* Under a spot pool limit, the greedy finish buys no spot. */
      if (C->n_row_N && C->p->tmpl[C->S->ti[t].t].capacity_type == STV_CT_SPOT) continue;
      if (pr < price) {
        price = pr;
        ti = t;
      }
    }
    if (price == INFINITY) continue;
    np = stv__knapsack(C, sh, v, 0, tpi, tpk, tn, &ub);
    if (np < 0) return STV_ENOMEM;
    for (k = 0; k < np; k++)
      if (C->ksolv[k] > bestv) {
        bestv = C->ksolv[k];
        bestk = k;
      }
    if (bestk < 0) continue;
    {
      const uint32_t *qi = &tpi[(size_t)bestk * W1], *qk = &tpk[(size_t)bestk * W1];
      double cost = sh->surplus > 0 ? stv__tinfo_cost(C->S, &C->S->ti[ti], stv__items_cpu(C, qi, qk, tn[bestk])) : price;
      double score = bestv / (cost + sh->lambda + 1e-9);
      if (score > best_score) {
        best_score = score;
        *best_ti = ti;
        *best_n = tn[bestk];
        memcpy(bi, &tpi[(size_t)bestk * W1], *best_n * sizeof(uint32_t));
        memcpy(bk, &tpk[(size_t)bestk * W1], *best_n * sizeof(uint32_t));
      }
    }
  }
  return best_score < 0 || *best_n == 0 ? 0 : 1;
}

/*
 * Rounds the current LP solution down, then covers what is left one node
 * at a time: for every shape the most valuable pattern of the remaining
 * pods (valued at their LP duals, plus a little for their size so that
 * pods the LP over-covered still count), the best value per price wins.
 * Returns a solution (per pattern) or NULL.
 */
double *stv__residual_greedy(struct cg *C, int *rcp) {
  size_t W1 = C->nit + 1, j;
  double *x = NULL, *v = stv_calloc(W1, sizeof(double)), maxy = 0, maxs = 0;
  uint32_t *tpi = stv_malloc(W1 * KBEST * sizeof(uint32_t)), *tpk = stv_malloc(W1 * KBEST * sizeof(uint32_t));
  uint32_t tn[KBEST];
  double *floors = stv_calloc(C->ncol + 1, sizeof(double));
  size_t nfl = C->ncol, left = 0;
  int r;
  *rcp = 0;
  if (v == NULL || tpi == NULL || tpk == NULL || floors == NULL) {
    *rcp = STV_ENOMEM;
    goto out;
  }
  if (glp_get_status(C->lp) != GLP_OPT) goto out;
  for (j = 0; j < C->nit; j++) C->it[j].resid = C->it[j].demand;
  for (j = 0; j < C->ncol; j++) {
    uint32_t q;
    floors[j] = floor(glp_get_col_prim(C->lp, stv__glp_col_of(C, j)) + 1e-6);
    for (q = 0; q < C->col[j].n && floors[j] > 0; q++) {
      struct item *it = &C->it[C->pi[C->col[j].off + q]];
      double cover = floors[j] * C->pk[C->col[j].off + q];
      it->resid = cover >= it->resid ? 0 : it->resid - (uint32_t)cover;
    }
  }
  if (C->n_row_N && (*rcp = greedy_trim_spot(C, floors)) != 0) goto out;
  for (j = 0; j < C->nit; j++) {
    const struct stv_class *c = C->S->s->classes[C->it[j].cls];
    double sz = 0, y = glp_get_row_dual(C->lp, C->it[j].row);
    for (r = 0; r < C->S->ndim; r++)
      if (C->S->lambda[r] > 0) sz += C->S->lambda[r] * (double)c->req[r];
    v[j] = y > 0 ? y : 0;
    if (v[j] > maxy) maxy = v[j];
    if (sz > maxs) maxs = sz;
    left += C->it[j].resid;
  }
  for (j = 0; j < C->nit; j++) {
    const struct stv_class *c = C->S->s->classes[C->it[j].cls];
    double sz = 0;
    for (r = 0; r < C->S->ndim; r++)
      if (C->S->lambda[r] > 0) sz += C->S->lambda[r] * (double)c->req[r];
    v[j] += (maxy > 0 ? maxy : 1) * 1e-3 * (maxs > 0 ? sz / maxs : 1) + 1e-9;
  }
  while (left > 0) {
    uint32_t best_ti = 0, best_n = 0, *bi = stv_malloc(W1 * sizeof(uint32_t)),
             *bk = stv_malloc(W1 * sizeof(uint32_t));
    long col;
    if (bi == NULL || bk == NULL) {
      stv_free(bi);
      stv_free(bk);
      *rcp = STV_ENOMEM;
      goto out;
    }
    int found = greedy_best(C, v, tpi, tpk, tn, bi, bk, &best_ti, &best_n);
    if (found < 0) {
      stv_free(bi);
      stv_free(bk);
      *rcp = found;
      goto out;
    }
    if (found == 0) {
      stv_free(bi);
      stv_free(bk);
      goto out; /* nothing fits what is left */
    }
    col = stv__add_column(C, best_ti, bi, bk, best_n);
    if (col < -1) {
      *rcp = (int)col;
      stv_free(bi);
      stv_free(bk);
      goto out;
    }
    if (col == -1) col = stv__find_column(C, best_ti, bi, bk, best_n);
    stv_free(bi);
    stv_free(bk);
    if (col < 0) goto out;
    if ((size_t)col >= nfl) {
      double *g = stv_realloc(floors, (C->ncol + 1) * sizeof(double));
      if (g == NULL) {
        *rcp = STV_ENOMEM;
        goto out;
      }
      floors = g;
      for (; nfl <= C->ncol; nfl++) floors[nfl] = 0;
      nfl = C->ncol;
    }
    {
      /* As many copies as the pods left of every group in it allow. */
      uint32_t q, mult = UINT32_MAX;
      for (q = 0; q < C->col[col].n; q++) {
        uint32_t k = C->pk[C->col[col].off + q], have = C->it[C->pi[C->col[col].off + q]].resid / k;
        if (have < mult) mult = have;
      }
      if (mult == 0 || mult == UINT32_MAX) mult = 1;
      floors[col] += mult;
      for (q = 0; q < C->col[col].n; q++) {
        struct item *it = &C->it[C->pi[C->col[col].off + q]];
        uint32_t k = C->pk[C->col[col].off + q] * mult, d = k < it->resid ? k : it->resid;
        it->resid -= d;
        left -= d;
      }
    }
    if (out_of_time(C)) goto out; /* no solution rather than a late one */
  }
  x = stv_calloc(C->ncol + 1, sizeof(double));
  if (x == NULL)
    *rcp = STV_ENOMEM;
  else
    memcpy(x, floors, (nfl < C->ncol ? nfl : C->ncol) * sizeof(double));
out:
  for (j = 0; j < C->nit; j++) C->it[j].resid = C->it[j].demand;
  stv_free(v);
  stv_free(tpi);
  stv_free(tpk);
  stv_free(floors);
  return x;
}

/* ---------------------------------------------------------------------- */
/* Diving: round the LP up one pattern at a time, generating as it goes    */

/*
 * Fixes lower bounds on pattern counts until the LP solution is integral:
 * every count >= 1 is fixed at its floor; when all are below 1, the
 * largest is fixed at 1. Column generation runs again after each fix, so
 * the residual problem gets its own patterns. Writes the solution (per
 * pattern, sized C->ncol on return; grown as columns are added) into *xout
 * and returns 1 when one was found. Bounds are released afterwards.
 */
double *stv__mip(struct cg *C, const double *x0, double stop_at, int *rcp);

#define DIVE_BACKTRACKS 40

/*
 * strategy 0 rounds up the count closest to its next whole number, with
 * backtracking; 1 the largest count, without.
 */
int stv__dive(struct cg *C, double stop_at, int strategy, double **xout, int *rcp) {
  int found = 0, step, conv, tried_mip = 1; /* the residual MIP is off: rounding does better */
  int backtracks = 0;
  long last = -1; /* the pattern last rounded up, and its bound before */
  double last_lo = 0, lb;
  unsigned char *tabu = NULL;
  size_t ntabu = 0, j;
  *rcp = 0;
  *xout = NULL;
  for (step = 0; step < 100000; step++) {
    int fixed = 0, integral = 1;
    long best = -1;
    double bestv = 0;
    if ((*rcp = stv__generate(C, &conv, &lb)) != 0) break;
    if (glp_get_status(C->lp) != GLP_OPT) break;
    /*
     * Rounding that pushed the LP past what the bound allows cannot end at
     * the bound: undo it and round another pattern instead (a few times).
     */
    if (strategy == 0 && last >= 0 && glp_get_obj_val(C->lp) > stop_at && backtracks < DIVE_BACKTRACKS) {
      glp_set_col_bnds(C->lp, stv__glp_col_of(C, (size_t)last), GLP_LO, last_lo, 0.0);
      if ((size_t)last >= ntabu) {
        unsigned char *t = stv_realloc(tabu, C->ncol + 1);
        if (t == NULL) {
          *rcp = STV_ENOMEM;
          break;
        }
        memset(t + ntabu, 0, C->ncol + 1 - ntabu);
        tabu = t;
        ntabu = C->ncol + 1;
      }
      tabu[last] = 1;
      last = -1;
      backtracks++;
      if ((*rcp = stv__generate(C, &conv, &lb)) != 0) break;
      if (glp_get_status(C->lp) != GLP_OPT) break;
    }
    for (j = 0; j < C->nit; j++)
      if (glp_get_col_prim(C->lp, (int)j + 1) > 1e-6) integral = 0;
    if (!integral) break; /* pods no pattern can place: give up */
    for (j = 0; j < C->ncol; j++) {
      int col = stv__glp_col_of(C, j);
      double x = glp_get_col_prim(C->lp, col), lo = glp_get_col_lb(C->lp, col);
      double f = floor(x + 1e-6);
      if (x - f > 1e-6) integral = 0;
      if (f > lo + 0.5) {
        glp_set_col_bnds(C->lp, col, GLP_LO, f, 0.0);
        fixed = 1;
      }
      /* The count closest to its next whole number goes up. */
      if (x - f > 1e-6 && (strategy == 0 ? x - f : x) > bestv + 1e-9 && !(j < ntabu && tabu[j])) {
        bestv = strategy == 0 ? x - f : x;
        best = (long)j;
      }
    }
    if (integral) {
      *xout = stv_calloc(C->ncol + 1, sizeof(double));
      if (*xout == NULL) {
        *rcp = STV_ENOMEM;
        break;
      }
      for (j = 0; j < C->ncol; j++) (*xout)[j] = floor(glp_get_col_prim(C->lp, stv__glp_col_of(C, j)) + 0.5);
      found = 1;
      break;
    }
    trace(C, "dive %d: z %.6f, floors fixed %d, largest fractional %.4f", step, glp_get_obj_val(C->lp), fixed,
          bestv);
    if (!fixed && !tried_mip) {
      /* What the whole counts leave is small: branch and bound it. */
      struct phase saved = phase_begin(C, 0.5);
      tried_mip = 1;
      *xout = stv__mip(C, NULL, stop_at, rcp);
      phase_end(C, saved);
      if (*rcp != 0) break;
      if (*xout != NULL) {
        found = 1;
        break;
      }
    }
    if (!fixed && best >= 0 && bestv >= 0.75 && strategy == 0) {
      /* Several counts nearly whole: round them all up at once. */
      int many = 0;
      for (j = 0; j < C->ncol; j++) {
        int col = stv__glp_col_of(C, j);
        double x = glp_get_col_prim(C->lp, col), f = floor(x + 1e-6);
        if (x - f >= 0.75 && !(j < ntabu && tabu[j]) && (long)j != best) {
          glp_set_col_bnds(C->lp, col, GLP_LO, f + 1, 0.0);
          many = 1;
        }
      }
      if (many) fixed = 1;
    }
    if (!fixed && best >= 0) {
      int col = stv__glp_col_of(C, (size_t)best);
      last = best;
      last_lo = glp_get_col_lb(C->lp, col);
      glp_set_col_bnds(C->lp, col, GLP_LO, ceil(glp_get_col_prim(C->lp, col) - 1e-6), 0.0);
    } else {
      last = -1;
    }
    if (!fixed && best < 0) break; /* every candidate is tabu */
    /* New patterns are for what the fixed ones leave. */
    for (j = 0; j < C->nit; j++) C->it[j].resid = C->it[j].demand;
    for (j = 0; j < C->ncol; j++) {
      double lo = glp_get_col_lb(C->lp, stv__glp_col_of(C, j));
      uint32_t q;
      if (lo < 0.5) continue;
      for (q = 0; q < C->col[j].n; q++) {
        struct item *it = &C->it[C->pi[C->col[j].off + q]];
        double cover = lo * C->pk[C->col[j].off + q];
        it->resid = cover >= it->resid ? 0 : it->resid - (uint32_t)cover;
      }
    }
    if (out_of_time(C)) break;
  }
  for (j = 0; j < C->ncol; j++) glp_set_col_bnds(C->lp, stv__glp_col_of(C, j), GLP_LO, 0.0, 0.0);
  for (j = 0; j < C->nit; j++) C->it[j].resid = C->it[j].demand;
  stv_free(tabu);
  return found;
}

/* ---------------------------------------------------------------------- */
/* Integer solution                                                       */

/* Branch-and-bound subproblems allowed when there is no clock (work limit). */
#define MIP_NODES 20000

struct mip_ctx {
  struct cg *C;
  long selects;
  double *x0; /* the heuristic's solution, 1-based over GLPK columns; NULL = none */
  double stop_at;
  int fed;
};

static void mip_callback(glp_tree *tree, void *info) {
  struct mip_ctx *m = info;
  switch (glp_ios_reason(tree)) {
  case GLP_IHEUR:
    if (!m->fed && m->x0 != NULL) {
      m->fed = 1;
      glp_ios_heur_sol(tree, m->x0);
    }
    break;
  case GLP_IBINGO:
    /* A better integer solution: it keeps the stall window open. */
    stv__stall_progress(m->C, glp_mip_obj_val(glp_ios_get_prob(tree)));
    if (glp_mip_obj_val(glp_ios_get_prob(tree)) <= m->stop_at) glp_ios_terminate(tree);
    break;
  default:
    break;
  }
  if (glp_ios_reason(tree) == GLP_ISELECT) {
    m->C->work += WORK_PER_ITER; /* a subproblem: its simplex iterations count on the master */
    if (++m->selects > MIP_NODES) glp_ios_terminate(tree);
  }
  if (out_of_time(m->C)) glp_ios_terminate(tree);
}

/* 1 when every pattern cost is a whole number (unit prices, benchmarks). */
int stv__integral_costs(const struct cg *C) {
  size_t j;
  for (j = 0; j < C->ncol; j++)
    if (fabs(C->col[j].cost - floor(C->col[j].cost + 0.5)) > 1e-9) return 0;
  return 1;
}

/* Whether x (per pattern) meets every row of the master. */
int stv__solution_ok(const struct cg *C, const double *x) {
  const struct solve *S = C->S;
  double *cover = stv_calloc(C->nit + 1, sizeof(double)), *used = stv_calloc(S->nti + 1, sizeof(double));
  double nspot = C->frozen_spot, spot = C->frozen_spot_cost, all = C->frozen_cost;
  size_t k, i;
  int ok = 1;
  if (cover == NULL || used == NULL) {
    stv_free(cover);
    stv_free(used);
    return 0;
  }
  for (k = 0; k < C->ncol; k++) {
    const struct stv_template *tp = &C->p->tmpl[S->ti[C->col[k].ti].t];
    uint32_t q;
    if (x[k] <= 0) continue;
    for (q = 0; q < C->col[k].n; q++) cover[C->pi[C->col[k].off + q]] += x[k] * C->pk[C->col[k].off + q];
    used[C->col[k].ti] += x[k];
    all += x[k] * tp->price;
    if (tp->capacity_type == STV_CT_SPOT) {
      nspot += x[k];
      spot += x[k] * tp->price;
    }
  }
  for (i = 0; i < C->nit && ok; i++)
    if (cover[i] + 1e-9 < C->it[i].demand) ok = 0;
  for (i = 0; i < S->nti && ok; i++) {
    if (C->limit[i] >= 0 && used[i] > (double)C->limit[i] + 1e-9) ok = 0;
    if (C->n_row_N && C->p->tmpl[S->ti[i].t].capacity_type == STV_CT_SPOT &&
        used[i] + C->frozen_pool[i] > C->frac * nspot + STV_SPOT_POOL_GRACE + 1e-9)
      ok = 0;
  }
  if (ok && C->share_row && spot > C->share * all + 1e-9) ok = 0;
  stv_free(cover);
  stv_free(used);
  return ok;
}

double stv__solution_cost(const struct cg *C, const double *x) {
  size_t k;
  double c = 0;
  for (k = 0; k < C->ncol; k++) c += x[k] * C->col[k].cost;
  return c;
}

/*
 * Integer counts over the generated patterns by GLPK's branch and bound,
 * seeded with x0 (per pattern; NULL = none), stopping once stop_at is met.
 * Returns a new array (per pattern) when a solution placing every pod was
 * found, else NULL (*rcp says whether for lack of memory).
 */
double *stv__mip(struct cg *C, const double *x0, double stop_at, int *rcp) {
  int ncols = glp_get_num_cols(C->lp), j, st;
  struct mip_ctx m;
  glp_iocp parm;
  glp_smcp sp;
  double *seed = stv_calloc((size_t)ncols + 1, sizeof(double)), *x = NULL;
  size_t k;
  *rcp = 0;
  if (seed == NULL) {
    *rcp = STV_ENOMEM;
    return NULL;
  }
  glp_init_smcp(&sp);
  sp.msg_lev = GLP_MSG_OFF;
  if (glp_simplex(C->lp, &sp) != 0 || glp_get_status(C->lp) != GLP_OPT) goto out;
  for (k = 0; k < C->ncol; k++) {
    glp_set_col_kind(C->lp, stv__glp_col_of(C, k), GLP_IV);
    if (x0 == NULL) continue;
    seed[stv__glp_col_of(C, k)] = x0[k];
    if (C->n_col_N && C->p->tmpl[C->S->ti[C->col[k].ti].t].capacity_type == STV_CT_SPOT)
      seed[C->n_col_N] += x0[k];
  }
  memset(&m, 0, sizeof(m));
  m.C = C;
  m.x0 = x0 != NULL ? seed : NULL;
  m.stop_at = stop_at;
  glp_init_iocp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.cb_func = mip_callback;
  parm.cb_info = &m;
  parm.mip_gap = C->gap_tol > 1e-4 ? C->gap_tol : 1e-4;
  if (C->timed) {
    double left = C->deadline - now_s(C);
    parm.tm_lim = left > 0.001 ? (int)(left * 1000) : 1;
  }
  st = glp_intopt(C->lp, &parm);
  if ((st == 0 || st == GLP_ETMLIM || st == GLP_ESTOP) &&
      (glp_mip_status(C->lp) == GLP_OPT || glp_mip_status(C->lp) == GLP_FEAS)) {
    int ok = 1;
    for (j = 1; j <= (int)C->nit; j++)
      if (glp_mip_col_val(C->lp, j) > 0.5) ok = 0; /* a pod left unplaced */
    if (ok && (x = stv_calloc(C->ncol + 1, sizeof(double))) == NULL) *rcp = STV_ENOMEM;
    for (k = 0; k < C->ncol && x != NULL; k++)
      x[k] = floor(glp_mip_col_val(C->lp, stv__glp_col_of(C, k)) + 0.5);
  }
out:
  stv_free(seed);
  return x;
}
