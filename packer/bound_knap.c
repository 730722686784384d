/*
 * The pattern bound's knapsack bound with the hostname conflicts kept.
 *
 * When the bound's column generation stops short, its Farley pass needs,
 * for every template shape, an upper bound on the value of any pattern
 * under the last duals. The pricing search's own bounds and the knapsack's
 * LP relaxation leave out which pods may not share a node; on workloads
 * with hostname anti-affinity (a node holds at most one pod of a group
 * whose pods repel each other, however many kinds of them there are) that
 * relaxation lets a node hold dozens of them, and the bound says little.
 *
 * Here the items that repel each other are covered by cliques (every two
 * items of a clique repel each other, so a node holds pods of at most one
 * item of each clique), and the bound is the least of:
 *
 *   - the LP relaxation with a clique row per clique,
 *       sum_{i in K} x_i / u_i <= 1   (u_i the item's most pods per node),
 *   - a Lagrangian relaxation: every resource but one priced at the LP's
 *     duals, the one left solved exactly by dynamic programming over its
 *     capacity, each clique as a multiple-choice group (at most one of its
 *     items, any count up to u_i). The capacity is counted in units of the
 *     weights' greatest common divisor, and in coarser units (weights and
 *     capacity rounded down) when it would need too many states: rounding
 *     every weight and the capacity down only relaxes.
 *
 * Both are relaxations of the true pricing problem (conflicts between items
 * of different cliques are dropped, never added), so either is an upper
 * bound on every legal pattern's value. docs/optimizer.md, "Lower bound".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "cg_internal.h"

#define DP_STATES 4096 /* capacity units of the dynamic programme, at most */

/*
 * A clique cover of the items that repel other items (greedy, first fit:
 * an item joins the first clique all of whose members it repels; the
 * relation is symmetric, so every two members repel each other). Writes
 * clique[i] (UINT32_MAX for items that repel no other item) and returns the
 * number of cliques, or -1 on ENOMEM.
 */
long stv__bound_cliques(const struct cg *C, uint32_t *clique) {
  const struct solve *S = C->S;
  uint32_t *head = stv_malloc((C->nit + 1) * sizeof(uint32_t)),
           *next = stv_malloc((C->nit + 1) * sizeof(uint32_t));
  uint32_t *tail = stv_malloc((C->nit + 1) * sizeof(uint32_t));
  size_t i, j, nk = 0;
  if (head == NULL || next == NULL || tail == NULL) {
    stv_free(head);
    stv_free(next);
    stv_free(tail);
    return -1;
  }
  for (i = 0; i < C->nit; i++) {
    const uint64_t *row = &S->anti_host[(size_t)C->it[i].cls * S->W];
    size_t k;
    int any = 0;
    clique[i] = UINT32_MAX;
    next[i] = UINT32_MAX;
    for (j = 0; j < C->nit && !any; j++)
      if (j != i && BIT_GET(row, C->it[j].cls)) any = 1;
    if (!any) continue;
    for (k = 0; k < nk; k++) {
      uint32_t m = head[k];
      while (m != UINT32_MAX && BIT_GET(row, C->it[m].cls)) m = next[m];
      if (m == UINT32_MAX) break; /* it repels every member */
    }
    if (k == nk) {
      head[nk++] = (uint32_t)i;
    } else {
      next[tail[k]] = (uint32_t)i;
    }
    tail[k] = (uint32_t)i;
    clique[i] = (uint32_t)k;
  }
  stv_free(head);
  stv_free(next);
  stv_free(tail);
  return (long)nk;
}

/* The LP relaxation with the clique rows: its value, and the resource
 * rows' duals (>= 0) in u. Returns 1 when solved. */
static int clique_lp(struct cg *C, const uint32_t *clique, double *value, double *u) {
  const struct solve *S = C->S;
  glp_prob *lp = glp_create_prob();
  size_t nn = (size_t)C->kn * ((size_t)S->ndim + 1) + 1;
  int *ia = stv_malloc(nn * sizeof(int)), *ja = stv_malloc(nn * sizeof(int));
  int *krow = stv_malloc((C->nit + 1) * sizeof(int));
  double *ar = stv_malloc(nn * sizeof(double));
  int r, nz = 0, ok = 0, nrow = S->ndim;
  uint32_t i;
  if (lp == NULL || ia == NULL || ja == NULL || ar == NULL || krow == NULL) goto out;
  for (i = 0; i < C->nit; i++) krow[i] = 0;
  glp_set_obj_dir(lp, GLP_MAX);
  glp_add_rows(lp, S->ndim);
  glp_add_cols(lp, (int)C->kn);
  for (r = 0; r < S->ndim; r++)
    glp_set_row_bnds(lp, r + 1, C->cap[r] > 0 ? GLP_UP : GLP_FR, 0.0,
                     C->cap[r] > 0 ? (double)C->cap[r] : 0.0);
  for (i = 0; i < C->kn; i++) {
    uint32_t item = C->kidx[i], k = clique[item];
    const struct stv_class *c = S->s->classes[C->it[item].cls];
    glp_set_col_bnds(lp, (int)i + 1, C->ku[i] > 0 ? GLP_DB : GLP_FX, 0.0, (double)C->ku[i]);
    glp_set_obj_coef(lp, (int)i + 1, C->kval[i]);
    for (r = 0; r < S->ndim; r++) {
      if (c->req[r] <= 0 || C->cap[r] <= 0) continue;
      nz++;
      ia[nz] = r + 1;
      ja[nz] = (int)i + 1;
      ar[nz] = (double)c->req[r];
    }
    if (k == UINT32_MAX || C->ku[i] == 0) continue;
    if (krow[k] == 0) {
      krow[k] = ++nrow;
      glp_add_rows(lp, 1);
      glp_set_row_bnds(lp, nrow, GLP_UP, 0.0, 1.0);
    }
    nz++;
    ia[nz] = krow[k];
    ja[nz] = (int)i + 1;
    ar[nz] = 1.0 / (double)C->ku[i];
  }
  glp_load_matrix(lp, nz, ia, ja, ar);
  {
    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    glp_scale_prob(lp, GLP_SF_AUTO);
    if (glp_simplex(lp, &parm) == 0 && glp_get_status(lp) == GLP_OPT) {
      *value = glp_get_obj_val(lp) * (1 + 1e-9) + 1e-12;
      for (r = 0; r < S->ndim; r++) {
        double d = C->cap[r] > 0 ? glp_get_row_dual(lp, r + 1) : 0;
        u[r] = d > 0 ? d : 0;
      }
      ok = 1;
    }
    C->work += WORK_PER_ITER * (long)glp_get_it_cnt(lp);
  }
out:
  if (lp != NULL) glp_delete_prob(lp);
  stv_free(ia);
  stv_free(ja);
  stv_free(ar);
  stv_free(krow);
  return ok;
}

static int64_t gcd64(int64_t a, int64_t b) {
  while (b != 0) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* One 0/1 piece (k pods of an item, weight w, value v) into f[0..cap]. */
static void dp_piece(double *f, int64_t cap, int64_t w, double v) {
  int64_t c;
  for (c = cap; c >= w; c--)
    if (f[c - w] + v > f[c]) f[c] = f[c - w] + v;
}

/*
 * The Lagrangian bound with resource d kept: the others priced at u.
 * f and g are scratch of DP_STATES + 1. Returns the bound, INFINITY when
 * d cannot be kept (no capacity in it).
 */
static double lagrange_dp(struct cg *C, const uint32_t *clique, const double *u, int d, double *f, double *g,
                          double *vk, int64_t *wk) {
  const struct solve *S = C->S;
  double base = 0;
  int64_t gd = 0, q, cap;
  uint32_t i, j;
  int r;
  if (C->cap[d] <= 0) return INFINITY;
  for (r = 0; r < S->ndim; r++)
    if (r != d && C->cap[r] > 0) base += u[r] * (double)C->cap[r];
  for (i = 0; i < C->kn; i++) {
    const struct stv_class *c = S->s->classes[C->it[C->kidx[i]].cls];
    double v = C->kval[i];
    for (r = 0; r < S->ndim; r++)
      if (r != d && C->cap[r] > 0 && c->req[r] > 0) v -= u[r] * (double)c->req[r];
    vk[i] = v;
    wk[i] = c->req[d] > 0 ? c->req[d] : 0;
    if (v > 0 && wk[i] > 0) gd = gcd64(wk[i], gd);
  }
  if (gd <= 0) gd = 1;
  cap = C->cap[d] / gd;
  q = cap > DP_STATES ? (cap + DP_STATES - 1) / DP_STATES : 1;
  cap /= q;
  for (i = 0; i < C->kn; i++) wk[i] = wk[i] / gd / q;
  for (i = 0; i <= (uint32_t)cap; i++) f[i] = 0;
  /* Items outside every clique: bounded counts as 0/1 pieces of 1, 2, 4... */
  for (i = 0; i < C->kn; i++) {
    uint32_t left = C->ku[i], k;
    if (vk[i] <= 0 || clique[C->kidx[i]] != UINT32_MAX || left == 0) continue;
    if (wk[i] == 0) {
      base += vk[i] * left;
      continue;
    }
    for (k = 1; left > 0; k *= 2) {
      uint32_t take = k < left ? k : left;
      if ((int64_t)take * wk[i] <= cap) dp_piece(f, cap, (int64_t)take * wk[i], vk[i] * take);
      left -= take;
    }
  }
  /* Each clique: at most one of its items, any count up to its bound. */
  for (i = 0; i < C->kn; i++) {
    uint32_t k = clique[C->kidx[i]];
    int64_t c;
    if (k == UINT32_MAX) continue;
    for (j = 0; j < i; j++)
      if (clique[C->kidx[j]] == k) break;
    if (j < i) continue; /* done with its clique's first item */
    memcpy(g, f, (size_t)(cap + 1) * sizeof(double));
    for (j = i; j < C->kn; j++) {
      uint32_t n;
      if (clique[C->kidx[j]] != k || vk[j] <= 0) continue;
      /* Weightless: only the most pods matter. */
      for (n = wk[j] == 0 ? C->ku[j] : 1; n <= C->ku[j]; n++) {
        int64_t w = (int64_t)n * wk[j];
        if (w > cap) break;
        for (c = cap; c >= w; c--)
          if (f[c - w] + vk[j] * n > g[c]) g[c] = f[c - w] + vk[j] * n;
      }
    }
    memcpy(f, g, (size_t)(cap + 1) * sizeof(double));
  }
  return base + f[cap];
}

/*
 * An upper bound on the value of any pattern of the knapsack stv__knapsack
 * last set up (C->kidx, kval, ku, cap over C->kn items) that keeps the
 * hostname conflicts clique[] covers. Returns 1 with *value, 0 when the
 * LP failed, -1 on ENOMEM.
 */
int stv__knap_conflict_bound(struct cg *C, const uint32_t *clique, double *value) {
  double u[STV_MAX_RES], lpv, best;
  double *f = stv_malloc((DP_STATES + 1) * sizeof(double)), *g = stv_malloc((DP_STATES + 1) * sizeof(double));
  double *vk = stv_malloc((C->kn + 1) * sizeof(double));
  int64_t *wk = stv_malloc((C->kn + 1) * sizeof(int64_t));
  int d, ok = 1;
  if (f == NULL || g == NULL || vk == NULL || wk == NULL) {
    ok = -1;
    goto out;
  }
  if (C->kn == 0) {
    *value = 0;
    goto out;
  }
  if (!clique_lp(C, clique, &lpv, u)) {
    ok = 0;
    goto out;
  }
  best = lpv;
  for (d = 0; d < C->S->ndim; d++) {
    double b = lagrange_dp(C, clique, u, d, f, g, vk, wk);
    /* The work: the states the programme went through. */
    C->work += (long)C->kn * DP_STATES / 64;
    if (b < best) best = b;
  }
  *value = best * (1 + 1e-9) + 1e-12;
out:
  stv_free(f);
  stv_free(g);
  stv_free(vk);
  stv_free(wk);
  return ok;
}
