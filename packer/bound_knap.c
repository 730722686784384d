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

#define DP_CELLS_1D 4096  /* cells of a one-resource programme, at most */
#define DP_CELLS_2D 16384 /* of a two-resource one */

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

/*
 * The knapsack stv__knapsack last set up as an LP to maximise: a row per
 * resource (its capacity; free where the template has none), a column per
 * item (0 to its count bound, its value), the entries from ia/ja/ar[*nz +
 * 1] on (*nz counts them).
 */
void stv__knap_lp_items(const struct cg *C, glp_prob *lp, int *ia, int *ja, double *ar, int *nz) {
  const struct solve *S = C->S;
  uint32_t i;
  int r;
  glp_set_obj_dir(lp, GLP_MAX);
  glp_add_rows(lp, S->ndim);
  glp_add_cols(lp, (int)C->kn);
  for (r = 0; r < S->ndim; r++)
    glp_set_row_bnds(lp, r + 1, C->cap[r] > 0 ? GLP_UP : GLP_FR, 0.0,
                     C->cap[r] > 0 ? (double)C->cap[r] : 0.0);
  for (i = 0; i < C->kn; i++) {
    const struct stv_class *c = S->s->classes[C->it[C->kidx[i]].cls];
    glp_set_col_bnds(lp, (int)i + 1, C->ku[i] > 0 ? GLP_DB : GLP_FX, 0.0, (double)C->ku[i]);
    glp_set_obj_coef(lp, (int)i + 1, C->kval[i]);
    for (r = 0; r < S->ndim; r++) {
      if (c->req[r] <= 0 || C->cap[r] <= 0) continue;
      ++*nz;
      ia[*nz] = r + 1;
      ja[*nz] = (int)i + 1;
      ar[*nz] = (double)c->req[r];
    }
  }
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
  stv__knap_lp_items(C, lp, ia, ja, ar, &nz);
  /* A row per clique with items in the knapsack. */
  for (i = 0; i < C->kn; i++) {
    uint32_t k = clique[C->kidx[i]];
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

/* The grid of a dynamic programme over one or two kept resources. */
struct grid {
  int d[2];        /* kept resources; d[1] < 0: one */
  int64_t cap[2];  /* capacity in units (0 for an absent second) */
  int64_t unit[2]; /* a unit's size in the resource */
  double *f, *g;   /* (cap[0] + 1) x (cap[1] + 1) values each */
  int64_t cells;   /* at most */
};

/* One 0/1 piece (weights w0, w1 in units, value v) into f. */
static void dp_piece(struct grid *G, int64_t w0, int64_t w1, double v) {
  int64_t a, b, n1 = G->cap[1] + 1;
  for (a = G->cap[0]; a >= w0; a--)
    for (b = G->cap[1]; b >= w1; b--) {
      double *to = &G->f[a * n1 + b], from = G->f[(a - w0) * n1 + (b - w1)] + v;
      if (from > *to) *to = from;
    }
}

/* Into g, from f: n pods of weights w0, w1 each, value v each (a choice
 * of a multiple-choice group). */
static void dp_choice(struct grid *G, int64_t w0, int64_t w1, double v) {
  int64_t a, b, n1 = G->cap[1] + 1;
  for (a = G->cap[0]; a >= w0; a--)
    for (b = G->cap[1]; b >= w1; b--) {
      double from = G->f[(a - w0) * n1 + (b - w1)] + v;
      if (from > G->g[a * n1 + b]) G->g[a * n1 + b] = from;
    }
}

/*
 * Units for the kept resources: the greatest common divisor of the
 * weights of the items worth taking, coarsened (weights and capacity
 * rounded down: a relaxation) until the grid has at most G->cells cells.
 */
static void grid_units(struct grid *G, const struct cg *C, const double *vk) {
  int k;
  for (k = 0; k < 2; k++) {
    int64_t gd = 0;
    uint32_t i;
    G->unit[k] = 1;
    G->cap[k] = 0;
    if (G->d[k] < 0) continue;
    for (i = 0; i < C->kn; i++) {
      int64_t w = C->S->s->classes[C->it[C->kidx[i]].cls]->req[G->d[k]];
      if (vk[i] > 0 && w > 0) gd = gcd64(w, gd);
    }
    G->unit[k] = gd > 0 ? gd : 1;
    G->cap[k] = C->cap[G->d[k]] / G->unit[k];
  }
  while ((G->cap[0] + 1) * (G->cap[1] + 1) > G->cells) {
    k = G->cap[1] > G->cap[0] ? 1 : 0;
    G->cap[k] = C->cap[G->d[k]] / (G->unit[k] *= 2);
  }
}

/*
 * The Lagrangian bound with the resources G->d kept: the others priced at
 * u. vk is scratch for kn values. Returns the bound.
 */
static double lagrange_dp(struct cg *C, const uint32_t *clique, const double *u, struct grid *G, double *vk) {
  const struct solve *S = C->S;
  double base = 0;
  size_t cells;
  uint32_t i, j;
  int r;
  for (r = 0; r < S->ndim; r++)
    if (r != G->d[0] && r != G->d[1] && C->cap[r] > 0) base += u[r] * (double)C->cap[r];
  for (i = 0; i < C->kn; i++) {
    const struct stv_class *c = S->s->classes[C->it[C->kidx[i]].cls];
    double v = C->kval[i];
    for (r = 0; r < S->ndim; r++)
      if (r != G->d[0] && r != G->d[1] && C->cap[r] > 0 && c->req[r] > 0) v -= u[r] * (double)c->req[r];
    vk[i] = v;
  }
  grid_units(G, C, vk);
  cells = (size_t)((G->cap[0] + 1) * (G->cap[1] + 1));
  for (i = 0; i < cells; i++) G->f[i] = 0;
#define W_OF(i, k) (G->d[k] < 0 ? 0 : S->s->classes[C->it[C->kidx[i]].cls]->req[G->d[k]] / G->unit[k])
  /* Items outside every clique: bounded counts as 0/1 pieces of 1, 2, 4... */
  for (i = 0; i < C->kn; i++) {
    uint32_t left = C->ku[i], k;
    int64_t w0 = W_OF(i, 0), w1 = W_OF(i, 1);
    if (vk[i] <= 0 || clique[C->kidx[i]] != UINT32_MAX || left == 0) continue;
    if (w0 == 0 && w1 == 0) {
      base += vk[i] * left;
      continue;
    }
    for (k = 1; left > 0; k *= 2) {
      uint32_t take = k < left ? k : left;
      if ((int64_t)take * w0 <= G->cap[0] && (int64_t)take * w1 <= G->cap[1])
        dp_piece(G, (int64_t)take * w0, (int64_t)take * w1, vk[i] * take);
      left -= take;
    }
  }
  /* Each clique: at most one of its items, any count up to its bound. */
  for (i = 0; i < C->kn; i++) {
    uint32_t k = clique[C->kidx[i]];
    if (k == UINT32_MAX) continue;
    for (j = 0; j < i; j++)
      if (clique[C->kidx[j]] == k) break;
    if (j < i) continue; /* done with its clique's first item */
    memcpy(G->g, G->f, cells * sizeof(double));
    for (j = i; j < C->kn; j++) {
      int64_t w0 = W_OF(j, 0), w1 = W_OF(j, 1);
      uint32_t n;
      if (clique[C->kidx[j]] != k || vk[j] <= 0) continue;
      /* Weightless: only the most pods matter. */
      for (n = w0 == 0 && w1 == 0 ? C->ku[j] : 1; n <= C->ku[j]; n++) {
        if ((int64_t)n * w0 > G->cap[0] || (int64_t)n * w1 > G->cap[1]) break;
        dp_choice(G, (int64_t)n * w0, (int64_t)n * w1, vk[j] * n);
      }
    }
    memcpy(G->f, G->g, cells * sizeof(double));
  }
#undef W_OF
  C->work += (long)(cells / 64 + 1) * (long)C->kn;
  return base + G->f[cells - 1];
}

/*
 * An upper bound on the value of any pattern of the knapsack stv__knapsack
 * last set up (C->kidx, kval, ku, cap over C->kn items) that keeps the
 * hostname conflicts clique[] covers: the least of the LP with clique rows
 * and the Lagrangian programmes keeping each binding resource alone, then,
 * while the bound stays above need, the two that bind the most together.
 * Returns 1 with *value, 0 when the LP failed, -1 on ENOMEM.
 */
int stv__knap_conflict_bound(struct cg *C, const uint32_t *clique, double need, double *value) {
  double u[STV_MAX_RES], lpv, best;
  struct grid G;
  double *vk = stv_malloc((C->kn + 1) * sizeof(double));
  int d, top[2] = {-1, -1}, ok = 1;
  G.f = stv_malloc((DP_CELLS_2D + 1) * sizeof(double));
  G.g = stv_malloc((DP_CELLS_2D + 1) * sizeof(double));
  if (G.f == NULL || G.g == NULL || vk == NULL) {
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
  /* Resources priced 0 in the LP bind nowhere: keeping one changes nothing. */
  for (d = 0; d < C->S->ndim; d++) {
    double b, w = u[d] * (double)C->cap[d];
    if (u[d] <= 0 || C->cap[d] <= 0) continue;
    G.d[0] = d;
    G.d[1] = -1;
    G.cells = DP_CELLS_1D;
    b = lagrange_dp(C, clique, u, &G, vk);
    if (b < best) best = b;
    if (top[0] < 0 || w > u[top[0]] * (double)C->cap[top[0]]) {
      top[1] = top[0];
      top[0] = d;
    } else if (top[1] < 0 || w > u[top[1]] * (double)C->cap[top[1]]) {
      top[1] = d;
    }
  }
  if (best > need && top[1] >= 0) {
    double b;
    G.d[0] = top[0];
    G.d[1] = top[1];
    G.cells = DP_CELLS_2D;
    b = lagrange_dp(C, clique, u, &G, vk);
    if (b < best) best = b;
  }
  *value = best * (1 + 1e-9) + 1e-12;
out:
  stv_free(G.f);
  stv_free(G.g);
  stv_free(vk);
  return ok;
}
