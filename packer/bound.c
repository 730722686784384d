/*
 * The lower bound on the cost of a plan's new nodes: a covering LP (GLPK,
 * under stv__glpk_run) over the templates, each resource's demand left
 * after the free room of the existing nodes the pending pods may use.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "pack_internal.h"

/*
 * Whether some pending pod may use node n at all (static predicates:
 * cordon, selectors, taints such as a not-ready node's). The free room of
 * a node none of them may use is no capacity for the lower bound.
 */
static int open_to_pending(const struct solve *S, const struct stv_node *n) {
  const struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
  size_t c;
  /* Only the classes with pending pods (listed by the set-up): most classes have none. */
  for (c = 0; c < S->npending_cls; c++)
    if (stv_class_fits_node(S->s->classes[S->pending_cls[c]], &v, NULL, 0)) return 1;
  return 0;
}

/* 1 when some existing node has the free room and the static fit (cordon,
 * selectors, taints) for one pod of class c. */
int stv__fits_existing(const struct solve *S, uint32_t c) {
  const struct stv_snapshot *s = S->s;
  size_t k;
  int r;
  for (k = 0; k < s->nnodes; k++) {
    const struct stv_node *n = &s->nodes[k];
    struct stv_node_view v = {n->name, &n->labels, n->ntaints, n->taints, n->unschedulable};
    int64_t freev[STV_MAX_RES];
    for (r = 0; r < S->ndim; r++) freev[r] = n->alloc[r] - n->used[r];
    if (stv__fits_vec(s->classes[c]->req, freev, S->ndim) && stv_class_fits_node(s->classes[c], &v, NULL, 0))
      return 1;
  }
  return 0;
}

/* The free room of every resource summed over the existing nodes some
 * pending pod may use (room[r], S->ndim of them). */
void stv__existing_room(const struct solve *S, double *room) {
  const struct stv_snapshot *s = S->s;
  size_t i;
  int r;
  for (r = 0; r < S->ndim; r++) room[r] = 0;
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_node *n = &s->nodes[i];
    if (!open_to_pending(S, n)) continue;
    for (r = 0; r < S->ndim; r++)
      if (n->alloc[r] > n->used[r]) room[r] += (double)(n->alloc[r] - n->used[r]);
  }
}

/* The covering LP of lower_bound, run under stv__glpk_run. */
struct bound_lp {
  struct solve *S;
  struct stv_plan *plan;
  const int *rows;
  int nrows;
  const double *deficit;
  int *ia, *ja;
  double *ar;
  int *pool_row; /* per limited pool: its row, 0 = none yet */
  glp_prob *lp;  /* created here; deleted by the caller */
};

/* The cpu a node of t offers pods before it pays surplus credits. */
static double base_cpu(const struct stv_template *tp, const struct tinfo *t) {
  double f = (double)(tp->cpu_baseline - t->daemon_cpu);
  if (tp->surplus_price <= 0) return (double)t->alloc[STV_RES_CPU];
  return f < 0 ? 0 : f > (double)t->alloc[STV_RES_CPU] ? (double)t->alloc[STV_RES_CPU] : f;
}

/*
 * Surplus credits in the covering LP (docs/optimizer.md, "Economics"). A
 * node of an unlimited-mode burstable template t offers pods base_cpu
 * millicores at its fixed cost; above that, up to its allocatable, each
 * millicore costs the surplus price. Column col (its node count n) offers
 * base_cpu on the cpu row; a second column u, in units of the cpu row's
 * deficit, offers the rest at surplus x deficit each, with u <= (alloc -
 * base) n / deficit. Nodes whose DaemonSets alone exceed the baseline pay
 * that excess in every case, added to n's cost. Any plan's nodes of t give
 * a point of this LP no dearer than the plan, so it stays a lower bound.
 * Appends the entries at ia/ja/ar[*nz + 1 ...]; cpu is the cpu row (1-based).
 */
static void bound_surplus(struct bound_lp *b, const struct tinfo *t, int col, int cpu, size_t *nz) {
  const struct stv_template *tp = &b->S->p->tmpl[t->t];
  double s = tp->surplus_price / 1000.0, d = b->deficit[STV_RES_CPU], f = base_cpu(tp, t);
  double room = (double)t->alloc[STV_RES_CPU] - f;
  int u, link;
  if (tp->cpu_baseline - t->daemon_cpu < 0)
    glp_set_obj_coef(b->lp, col, glp_get_obj_coef(b->lp, col) + s * (double)(t->daemon_cpu - tp->cpu_baseline));
  if (room <= 0) return;
  u = glp_add_cols(b->lp, 1);
  glp_set_col_bnds(b->lp, u, GLP_LO, 0.0, 0.0);
  glp_set_obj_coef(b->lp, u, s * d);
  link = glp_add_rows(b->lp, 1);
  glp_set_row_bnds(b->lp, link, GLP_UP, 0.0, 0.0);
  b->ia[++*nz] = cpu, b->ja[*nz] = u, b->ar[*nz] = 1.0;
  b->ia[++*nz] = link, b->ja[*nz] = u, b->ar[*nz] = 1.0;
  b->ia[++*nz] = link, b->ja[*nz] = col, b->ar[*nz] = -room / d;
}

/*
 * A pool's node limit in the covering LP: one row per limited pool (made on
 * its first template), the sum of its templates' node counts at most the
 * limit. The plan itself meets it, so the LP stays feasible and a bound.
 */
static void bound_pool_limit(struct bound_lp *b, const struct tinfo *t, int col, size_t *nz) {
  if (b->pool_row[t->plim] == 0) {
    b->pool_row[t->plim] = glp_add_rows(b->lp, 1);
    glp_set_row_bnds(b->lp, b->pool_row[t->plim], GLP_UP, 0.0,
                     (double)b->S->p->tmpl[t->t].pool_limits->nodes);
  }
  b->ia[++*nz] = b->pool_row[t->plim], b->ja[*nz] = col, b->ar[*nz] = 1.0;
}

static int bound_lp_solve(void *arg) {
  struct bound_lp *b = arg;
  struct solve *S = b->S;
  int *ia = b->ia, *ja = b->ja, nrows = b->nrows, r;
  const int *rows = b->rows;
  const double *deficit = b->deficit;
  double *ar = b->ar, bound = 0;
  size_t i, ncols = 0, nz = 0;
  glp_prob *lp;
  glp_smcp parm;
  if ((lp = b->lp = glp_create_prob()) == NULL) return STV_ENOMEM;
  glp_set_obj_dir(lp, GLP_MIN);
  glp_add_rows(lp, nrows);
  /* Rows are scaled to a right-hand side of 1: bytes and millicores differ
   * by many orders of magnitude, which the simplex does not like. */
  for (r = 0; r < nrows; r++) glp_set_row_bnds(lp, r + 1, GLP_LO, 1.0, 0.0);
  for (i = 0; i < S->nti; i++) {
    const struct tinfo *t = &S->ti[i];
    const struct stv_template *tp = &S->p->tmpl[t->t];
    int col, any = 0;
    /* A dominated template is never needed: another is as big and no dearer. */
    if (t->dominated) continue;
    for (r = 0; r < nrows; r++) any |= t->alloc[rows[r]] > 0;
    if (!any) continue;
    col = glp_add_cols(lp, 1);
    ncols++;
    glp_set_obj_coef(lp, col, tp->price + tp->node_cost);
    if (tp->limit >= 0)
      glp_set_col_bnds(lp, col, tp->limit > 0 ? GLP_DB : GLP_FX, 0.0, (double)tp->limit);
    else
      glp_set_col_bnds(lp, col, GLP_LO, 0.0, 0.0);
    for (r = 0; r < nrows; r++) {
      double a = rows[r] == STV_RES_CPU ? base_cpu(tp, t) : (double)t->alloc[rows[r]];
      if (a <= 0) continue;
      nz++;
      ia[nz] = r + 1;
      ja[nz] = col;
      ar[nz] = a / deficit[rows[r]];
    }
    if (tp->surplus_price > 0 && rows[0] == STV_RES_CPU) bound_surplus(b, t, col, 1, &nz);
    if (t->plim >= 0) bound_pool_limit(b, t, col, &nz);
  }
  if (ncols == 0) return 0;
  glp_load_matrix(lp, (int)nz, ia, ja, ar);
  /* GLPK's terminal output is off: stv__glpk_run sees to it. */
  glp_scale_prob(lp, GLP_SF_AUTO);
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.it_lim = 20000; /* deterministic cap; no bound rather than a late one */
  if (glp_simplex(lp, &parm) != 0) return 0;
  /* Confirm the optimum in exact arithmetic from the floating-point basis. */
  if (glp_exact(lp, &parm) != 0) return 0;
  /* The scaled coefficients carry rounding of one part in 2^53; give the
   * bound that much back so that it stays below the true optimum. */
  if (glp_get_status(lp) == GLP_OPT) bound = glp_get_obj_val(lp) * (1.0 - 1e-9);
  /* An infeasible LP means no plan can place these pods: the plan itself
   * is then the only honest bound, and the packer never builds one. */
  if (bound > b->plan->new_cost) bound = b->plan->new_cost;
  if (bound > 0) b->plan->lower_bound = bound;
  return 0;
}

/*
 * A proven lower bound on the hourly cost of new nodes for the pods the
 * plan places. Whatever plan places them, the new nodes must together hold
 * at least the demand that existing free capacity cannot: for every
 * resource r, sum over new nodes of allocatable_r >= demand_r - free_r. The
 * cheapest (fractional) purchase that meets all those rows at once is a
 * linear program over the templates (reserved ones bounded by their count);
 * its optimum, solved by GLPK's simplex and confirmed by its exact
 * (rational) simplex, bounds every integer plan from below.
 */
int stv__lower_bound(struct solve *S, struct stv_plan *plan) {
  const struct stv_snapshot *s = S->s;
  double deficit[STV_MAX_RES];
  int rows[STV_MAX_RES], nrows = 0, r, *ia = NULL, *ja = NULL, *pool_row = NULL;
  double *ar = NULL;
  size_t i;
  int rc = 0;
  /* Pods of a class that no existing node could take at all need new nodes
   * whatever the plan; the others may use existing free capacity. */
  unsigned char *only_new = stv_calloc(S->nclasses + 1, 1);
  double room[STV_MAX_RES];
  if (only_new == NULL) return STV_ENOMEM;
  for (i = 0; i < plan->nnodes; i++) {
    uint32_t q;
    for (q = 0; q < plan->nodes[i].npods; q++) only_new[s->pods[plan->nodes[i].pods[q]].cls] |= 2;
  }
  for (i = 0; i < S->nclasses; i++) {
    if (!(only_new[i] & 2)) continue;
    only_new[i] = !stv__fits_existing(S, (uint32_t)i);
  }
  stv__existing_room(S, room);
  for (r = 0; r < S->ndim; r++) {
    double demand = 0, must = 0, freecap = room[r];
    for (i = 0; i < plan->nnodes; i++) {
      uint32_t q;
      for (q = 0; q < plan->nodes[i].npods; q++) {
        uint32_t c = s->pods[plan->nodes[i].pods[q]].cls;
        if (only_new[c])
          must += (double)s->classes[c]->req[r];
        else
          demand += (double)s->classes[c]->req[r];
      }
    }
    deficit[r] = must + (demand > freecap ? demand - freecap : 0);
    if (deficit[r] > 0) rows[nrows++] = r;
  }
  stv_free(only_new);
  plan->has_lower_bound = 1;
  plan->lower_bound = 0;
  if (nrows == 0) return 0;
  /* Room for every template's rows, the three entries of its surplus column and its pool row. */
  ia = stv_malloc((S->nti * ((size_t)nrows + 4) + 1) * sizeof(int));
  ja = stv_malloc((S->nti * ((size_t)nrows + 4) + 1) * sizeof(int));
  ar = stv_malloc((S->nti * ((size_t)nrows + 4) + 1) * sizeof(double));
  pool_row = stv_calloc(S->npool_lim + 1, sizeof(int));
  if (ia == NULL || ja == NULL || ar == NULL || pool_row == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  {
    struct bound_lp b = {S, plan, rows, nrows, deficit, ia, ja, ar, pool_row, NULL};
    rc = stv__glpk_run(bound_lp_solve, &b, S->err);
    /* After a GLPK error its environment, the problem with it, is gone. */
    if (rc == 0 && b.lp != NULL) glp_delete_prob(b.lp);
  }
out:
  stv_free(pool_row);
  stv_free(ia);
  stv_free(ja);
  stv_free(ar);
  return rc;
}
