/*
 * The pattern lower bound: the column generation LP over every pod the
 * heuristic placed, on every template and on the existing nodes' free room,
 * with the hostname rules a single node can see and the spot limits, but
 * without the rules that hold between nodes. Its optimum (or, when the
 * generation stops short, the Lagrangian or Farley bound on it) is at most
 * the cost of any plan that places those pods; docs/optimizer.md, "Lower
 * bound", has the argument for every row.
 *
 * It reuses the optimizer's machinery (cg_master.c, price.c) on a master of
 * its own: one item per pod class instead of per group, no zone fixed, real
 * prices (no spot penalty), no node kept aside.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "cg_internal.h"

/*
 * Classes the bound cannot tell apart share an item: the same requests,
 * the same templates, the same hostname anti-affinity row (so the same
 * conflicts, in both directions) and the same fit on existing nodes.
 * Merging them changes no pattern's feasibility: it only makes the master
 * smaller.
 */
static int same_class(const struct solve *S, const unsigned char *fits, uint32_t a, uint32_t b) {
  const struct stv_class *x = S->s->classes[a], *y = S->s->classes[b];
  size_t t;
  if (fits[a] != fits[b] || memcmp(x->req, y->req, (size_t)S->ndim * sizeof(x->req[0])) != 0) return 0;
  if (memcmp(&S->anti_host[a * S->W], &S->anti_host[b * S->W], S->W * 8) != 0) return 0;
  for (t = 0; t < S->nti; t++)
    if (BIT_GET(&S->compat[t * S->W], a) != BIT_GET(&S->compat[t * S->W], b)) return 0;
  return 1;
}

static uint64_t class_key(const struct solve *S, const unsigned char *fits, uint32_t c) {
  uint64_t h = stv_hash(S->s->classes[c]->req, (size_t)S->ndim * sizeof(S->s->classes[c]->req[0]), fits[c]);
  size_t t;
  h = stv_hash(&S->anti_host[c * S->W], S->W * 8, h);
  for (t = 0; t < S->nti; t++)
    if (BIT_GET(&S->compat[t * S->W], c)) h = h * 0x100000001b3ULL ^ (t + 1);
  return h;
}

/* The items: classes with placed pods (demand[c] of them), merged. */
static int bound_items(struct cg *C, const uint32_t *demand, uint32_t *item_of_class) {
  struct solve *S = C->S;
  struct shape_key *k = stv_malloc((S->nclasses + 1) * sizeof(*k));
  unsigned char *fits = stv_calloc(S->nclasses + 1, 1);
  size_t c, n = 0, nk = 0, i;
  C->it = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(*C->it));
  if (k == NULL || fits == NULL || C->it == NULL) {
    stv_free(k);
    stv_free(fits);
    return STV_ENOMEM;
  }
  for (c = 0; c < S->nclasses; c++) {
    item_of_class[c] = UINT32_MAX;
    if (demand[c] == 0) continue;
    fits[c] = (unsigned char)stv__fits_existing(S, (uint32_t)c);
    k[nk].h = class_key(S, fits, (uint32_t)c);
    k[nk++].ti = (uint32_t)c;
  }
  qsort(k, nk, sizeof(*k), stv__cmp_shape_key);
  for (i = 0; i < nk; i++) {
    uint32_t cl = k[i].ti;
    struct item *it = n ? &C->it[n - 1] : NULL;
    if (it == NULL || k[i - 1].h != k[i].h || !same_class(S, fits, it->cls, cl)) {
      it = &C->it[n++];
      memset(it, 0, sizeof(*it));
      it->g = UINT32_MAX;
      it->cls = cl;
      /* A class that repels itself on the hostname (and so every class
       * merged with it): one pod of the item per node. */
      it->cap = BIT_GET(&S->anti_host[(size_t)cl * S->W], cl) ? 1 : UINT32_MAX;
      it->zone = -1;
    }
    it->demand += demand[cl];
    it->resid = it->demand;
    item_of_class[cl] = (uint32_t)(n - 1);
  }
  C->nit = n;
  stv_free(k);
  stv_free(fits);
  return 0;
}

/*
 * The existing nodes' free room as one pool: per resource a row
 * sum_c req_c e_c <= room (scaled to 1), and a column e_c of cost 0 on the
 * item row of every class that fits some existing node alone. Any real
 * placement on existing nodes meets these rows, so they only relax.
 */
static int bound_existing(struct cg *C) {
  struct solve *S = C->S;
  double room[STV_MAX_RES];
  int rows[STV_MAX_RES], ind[STV_MAX_RES + 2], r, n;
  double val[STV_MAX_RES + 2];
  size_t i;
  if (S->s->nnodes == 0) return 0;
  stv__existing_room(S, room);
  for (r = 0; r < S->ndim; r++) {
    rows[r] = glp_add_rows(C->lp, 1);
    glp_set_row_bnds(C->lp, rows[r], GLP_UP, 0.0, room[r] > 0 ? 1.0 : 0.0);
  }
  for (i = 0; i < C->nit; i++) {
    const struct stv_class *k = S->s->classes[C->it[i].cls];
    int col;
    if (!stv__fits_existing(S, C->it[i].cls)) continue;
    n = 0;
    ind[++n] = C->it[i].row;
    val[n] = 1;
    for (r = 0; r < S->ndim; r++) {
      if (k->req[r] <= 0) continue;
      ind[++n] = rows[r];
      val[n] = room[r] > 0 ? (double)k->req[r] / room[r] : 1.0;
    }
    col = glp_add_cols(C->lp, 1);
    glp_set_col_bnds(C->lp, col, GLP_LO, 0.0, 0.0);
    glp_set_obj_coef(C->lp, col, 0.0);
    glp_set_mat_col(C->lp, col, n, ind, val);
  }
  return 0;
}

#define FINAL_NODES  2000L /* search nodes per shape in the final bounding passes */
#define FINAL_STALL  3     /* final passes in a row without raising the bound */
#define FINAL_PASSES 12    /* final passes at most */

/*
 * Farley's bound from the master's current duals y, every shape priced with
 * a short search (whose upper bound on a pattern's value holds finished or
 * not): with theta the least, over shapes, of price / (price - reduced
 * cost) for those that price out, theta y is a feasible dual of the whole
 * master, so theta z bounds its optimum. A pattern's value is bounded by
 * the search or, when lower, by the knapsack's LP relaxation (which leaves
 * out the conflicts, so holds with them). Returns it (0 when none); *rc an
 * error.
 */
static double farley_pass(struct cg *C, size_t *added, int *rc) {
  size_t W1 = C->nit + 1, s, i;
  double *y = stv_malloc(W1 * sizeof(double)), theta = 1, z = 0;
  uint32_t *tpi = stv_malloc(W1 * KBEST * sizeof(uint32_t)), *tpk = stv_malloc(W1 * KBEST * sizeof(uint32_t));
  uint32_t tn[KBEST];
  size_t worst = 0;
  glp_smcp sp;
  *rc = 0;
  *added = 0;
  if (y == NULL || tpi == NULL || tpk == NULL) {
    *rc = STV_ENOMEM;
    theta = 0;
    goto out;
  }
  glp_init_smcp(&sp);
  sp.msg_lev = GLP_MSG_OFF;
  if (glp_simplex(C->lp, &sp) != 0 || glp_get_status(C->lp) != GLP_OPT) {
    theta = 0;
    goto out;
  }
  /* The value the duals y bound with, before this pass adds columns. */
  z = glp_get_obj_val(C->lp);
  for (i = 0; i < C->nit; i++) y[i] = glp_get_row_dual(C->lp, C->it[i].row);
  C->klimit = FINAL_NODES;
  for (s = 0; s < C->nsh && theta > 0; s++) {
    const struct shape *sh = &C->sh[s];
    double kmin = INFINITY, pmin = INFINITY, ub;
    uint32_t q, best_ti = 0;
    int np, j;
    for (q = 0; q < sh->n; q++) {
      uint32_t ti = C->sh_ti[sh->first + q];
      double k = stv__fixed_cost(C, ti), pr = C->p->tmpl[C->S->ti[ti].t].price;
      if (k < kmin) {
        kmin = k;
        best_ti = ti;
      }
      if (pr < pmin) pmin = pr;
    }
    if ((np = stv__knapsack(C, sh, y, kmin, tpi, tpk, tn, &ub)) < 0) {
      *rc = STV_ENOMEM;
      theta = 0;
      break;
    }
    /* The patterns that price out go to the master for the next pass. */
    for (j = 0; j < np && *rc == 0; j++) {
      long col = stv__add_column(C, best_ti, &tpi[(size_t)j * W1], &tpk[(size_t)j * W1], tn[j]);
      if (col < -1) *rc = (int)col;
      if (col >= 0) ++*added;
    }
    if (*rc != 0) {
      theta = 0;
      break;
    }
    /* Unfinished: the knapsack's relaxation with the conflicts kept
     * (bound_knap.c), when lower than the search's bound. */
    if (!C->kexact && kmin - ub < 0) {
      double b;
      int k = stv__knap_conflict_bound(C, C->clique, kmin, &b);
      if (k < 0) {
        *rc = STV_ENOMEM;
        theta = 0;
        break;
      }
      if (k > 0 && b < ub) ub = b;
    }
    /* A free template that prices out leaves no bound of this form. */
    if (kmin - ub < 0) {
      double t = pmin > 0 ? pmin / (pmin - (kmin - ub)) : 0;
      if (t < theta) {
        theta = t;
        worst = s;
      }
    }
  }
  if (theta < 1 && C->nsh > 0)
    trace(C, "bound: final pass theta %.6f, least for %s (fixed %.4f)", theta,
          C->p->tmpl[C->S->ti[C->sh_ti[C->sh[worst].first]].t].instance_type,
          stv__fixed_cost(C, C->sh_ti[C->sh[worst].first]));
out:
  stv_free(y);
  stv_free(tpi);
  stv_free(tpk);
  return theta > 0 ? theta * z : 0;
}

/* Under stv__glpk_run: the master, the generation, the bound (C->S->cg_bound). */
static int bound_run(void *arg) {
  struct cg *C = arg;
  int rc, converged = 0;
  double lb = -1, t0 = now_s(C);
  long w0 = C->work;
  uint32_t *clique = stv_arena_alloc(&C->S->a, (C->nit + 1) * sizeof(uint32_t));
  if (clique == NULL || stv__bound_cliques(C, clique) < 0) return STV_ENOMEM;
  C->clique = clique;
  if ((rc = stv__setup_master(C, C->frozen_node)) != 0 || (rc = bound_existing(C)) != 0 ||
      (rc = stv__seed_columns(C, C->frozen_node)) != 0)
    return rc;
  C->proving = 1;
  if ((rc = stv__generate(C, &converged, &lb)) != 0) return rc;
  if (!converged) {
    /* Cut short: full passes with short searches, each a bound from the
     * master's duals, the patterns that price out added for the next one,
     * until a pass adds nothing, FINAL_STALL in a row have not raised the
     * bound, after FINAL_PASSES, or (after the first) once half as much
     * time or work again as the generation's share is spent. */
    int pass, since = 0;
    double tend = C->deadline + 0.5 * (C->deadline - t0);
    long wend = C->work_end > 0 ? C->work_end + (C->work_end - w0) / 2 : 0;
    for (pass = 0; pass < FINAL_PASSES && since < FINAL_STALL; pass++) {
      if (pass > 0 && ((C->timed && now_s(C) >= tend) || (wend > 0 && stv__work(C) >= wend))) break;
      size_t added;
      double f = farley_pass(C, &added, &rc);
      if (rc != 0) return rc;
      if (f > lb * (1 + STV_STALL_IMPROVEMENT)) {
        since = 0;
      } else {
        since++;
      }
      if (f > lb) lb = f;
      trace(C, "bound: final pass %d, bound %.6f, %zu columns added", pass, f, added);
      if (added == 0) break;
    }
  }
  trace(C, "bound: %zu items, %zu shapes, %zu columns, lp bound %.6f (%s) at %.3f", C->nit, C->nsh, C->ncol,
        lb, converged ? "converged" : "not converged", now_s(C));
  if (lb > 0 && stv__lp_slack_free(C)) {
    double b = lb * (1 - 1e-9);
    if (b > C->S->cg_bound) {
      C->S->cg_bound = b;
      C->S->cg_bound_kind = STV_BOUND_RELAXED;
    }
  }
  return 0;
}

/*
 * A proven lower bound on the new nodes' hourly cost of any plan placing
 * the pods the heuristic placed (S->nodes), raised into S->cg_bound; the
 * generation stops at deadline (on the problem's clock) when there is one,
 * and after work_limit work units when that is above 0 (the decision mode).
 */
int stv__pattern_bound(struct solve *S, double deadline, long work_limit) {
  struct cg C;
  uint32_t *demand = stv_calloc(S->nclasses + 1, sizeof(uint32_t));
  uint32_t *item_of_class = stv_arena_alloc(&S->a, (S->nclasses + 1) * sizeof(uint32_t));
  size_t i;
  int rc = 0;
  memset(&C, 0, sizeof(C));
  C.S = S;
  C.p = S->p;
  C.W = S->W;
  C.real_prices = 1;
  C.timed = S->p->clock != NULL;
  C.deadline = deadline;
  C.work_limit = C.work_end = work_limit > 0 ? work_limit : 0;
  /* No plan to compare with: the generation stops when it converges, at
   * its share of the budget, or when its LP value has stalled (moved less
   * than STV_STALL_IMPROVEMENT of itself in the optimizer's stall rounds). */
  C.incumbent = INFINITY;
  C.bound = -1;
  C.stall_rounds = S->p->stall_rounds == 0 ? STV_STALL_ROUNDS_DEFAULT : S->p->stall_rounds;
  if (demand == NULL || item_of_class == NULL) {
    stv_free(demand);
    return STV_ENOMEM;
  }
  for (i = 0; i < S->nnodes; i++) {
    const struct kept *k = &S->nodes[i];
    uint32_t q;
    for (q = 0; q < k->npat; q++) demand[S->g[k->g[q]].cls] += k->k[q] * k->mult;
  }
  C.item_of_group = item_of_class;
  C.items_by_class = 1;
  C.frozen_node = stv_arena_alloc(&S->a, S->nnodes + 1);
  if (C.frozen_node == NULL) rc = STV_ENOMEM;
  if (rc == 0) memset(C.frozen_node, 0, S->nnodes + 1);
  if (rc == 0) rc = bound_items(&C, demand, item_of_class);
  stv_free(demand);
  if (rc != 0 || C.nit == 0) return rc;
  if ((rc = stv__setup_shapes(&C, C.frozen_node)) == 0 && (rc = stv__cg_scratch(&C)) == 0) {
    rc = stv__glpk_run(bound_run, &C, S->err);
    if (rc == STV_ESOLVER) C.lp = NULL;
  }
  stv__cg_release(&C);
  return rc;
}
