/*
 * Spot policy: the default policy, the expected interruption cost per
 * pod-hour of a spot template, the repair that moves new spot nodes to
 * on-demand (or reserved) templates until the plan keeps the share and
 * pool limits, and the check that a finished plan keeps them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_internal.h"

void stv_spot_policy_default(struct stv_spot_policy *sp) {
  sp->restart_cost = STV_SPOT_RESTART_COST_DEFAULT;
  sp->max_share = STV_SPOT_MAX_SHARE_DEFAULT;
  sp->max_pool_fraction = STV_SPOT_MAX_POOL_FRACTION_DEFAULT;
}

/* Expected interruption cost per pod-hour on template t. */
double stv__spot_penalty(const struct stv_problem *p, const struct stv_template *t) {
  if (t->capacity_type != STV_CT_SPOT || t->interruption_rate <= 0 || p->spot.restart_cost <= 0) return 0;
  return t->interruption_rate / HOURS_PER_MONTH * p->spot.restart_cost;
}

/* ---------------------------------------------------------------------- */
/* Keeping a plan within the spot limits                                  */

/*
 * A template for one copy of kept node k, out of its spot pool: in the same
 * zone (zone rules stay as they were), holding the pattern and running no
 * DaemonSet the old one did not. Not spot (the same instance type first,
 * else the cheapest); failing that, another spot pool whose count (pool[])
 * stays within the limit of nspot spot nodes, the cheapest. -1 when none.
 */
static long off_pool_template(const struct solve *S, const struct kept *k, const double *pool, double nspot) {
  const struct tinfo *cur = &S->ti[k->tmpl];
  const struct stv_template *ct = &S->p->tmpl[cur->t];
  int64_t need[STV_MAX_RES];
  long best = -1;
  int best_rank = -1;
  double best_price = 0;
  size_t j, w;
  uint32_t q;
  int r;
  memset(need, 0, sizeof(need));
  for (q = 0; q < k->npat; q++)
    for (r = 0; r < S->ndim; r++) need[r] += S->s->classes[S->g[k->g[q]].cls]->req[r] * (int64_t)k->k[q];
  for (j = 0; j < S->nti; j++) {
    const struct tinfo *t = &S->ti[j];
    const struct stv_template *tp = &S->p->tmpl[t->t];
    int rank, ok = 1;
    if ((long)j == k->tmpl || t->zone != cur->zone || t->limit_left == 0) continue;
    if (t->plim != cur->plim && stv__room(S, t) == 0) continue; /* its pool is full */
    /* 2: not spot, same type; 1: not spot; 0: a spot pool with room. */
    if (tp->capacity_type != STV_CT_SPOT)
      rank = strcmp(tp->instance_type, ct->instance_type) == 0 ? 2 : 1;
    else if (S->p->spot.max_pool_fraction < 1.0 &&
             pool[j] + 1 <= S->p->spot.max_pool_fraction * nspot + STV_SPOT_POOL_GRACE + 1e-9)
      rank = 0;
    else
      continue;
    for (r = 0; r < S->ndim && ok; r++)
      if (need[r] > t->alloc[r]) ok = 0;
    for (w = 0; w < S->W && ok; w++)
      if (t->presence[w] & ~cur->presence[w]) ok = 0;
    for (q = 0; q < k->npat && ok; q++)
      if (!BIT_GET(&S->compat[j * S->W], S->g[k->g[q]].cls)) ok = 0;
    if (!ok) continue;
    if (rank > best_rank || (rank == best_rank && tp->price < best_price)) {
      best = (long)j;
      best_rank = rank;
      best_price = tp->price;
    }
  }
  return best;
}

int stv__spot_repair(struct solve *S) {
  const struct stv_problem *p = S->p;
  double *pool = NULL;
  size_t guard;
  int rc = 0;
  if (p->spot.max_pool_fraction >= 1.0 && p->spot.max_share >= 1.0) return 0;
  if ((pool = stv_calloc(S->nti + 1, sizeof(double))) == NULL) return STV_ENOMEM;
  for (guard = 0; guard < 1000000; guard++) {
    double nspot = 0, spot = 0, all = 0, worst = 0;
    long pick = -1, alt;
    size_t i;
    memset(pool, 0, (S->nti + 1) * sizeof(double));
    for (i = 0; i < S->nnodes; i++) {
      const struct kept *k = &S->nodes[i];
      const struct stv_template *tp;
      if (k->existing >= 0) continue;
      tp = &p->tmpl[S->ti[k->tmpl].t];
      all += tp->price * k->mult;
      if (tp->capacity_type != STV_CT_SPOT) continue;
      pool[k->tmpl] += k->mult;
      nspot += k->mult;
      spot += tp->price * k->mult;
    }
    /* The fullest pool over its limit, else (share) the dearest spot node. */
    for (i = 0; i < S->nnodes; i++) {
      const struct kept *k = &S->nodes[i];
      const struct stv_template *tp;
      double over;
      if (k->existing >= 0) continue;
      tp = &p->tmpl[S->ti[k->tmpl].t];
      if (tp->capacity_type != STV_CT_SPOT) continue;
      over = p->spot.max_pool_fraction < 1.0
                 ? pool[k->tmpl] - (p->spot.max_pool_fraction * nspot + STV_SPOT_POOL_GRACE)
                 : 0;
      if (over <= 1e-9 && p->spot.max_share < 1.0 && spot > p->spot.max_share * all + 1e-9) over = tp->price;
      if (over > 1e-9 && (pick < 0 || over > worst)) {
        pick = (long)i;
        worst = over;
      }
    }
    if (pick < 0) break; /* within the limits */
    alt = off_pool_template(S, &S->nodes[pick], pool, nspot);
    /* The share limit needs a node off spot, not another spot pool. */
    if (alt >= 0 && p->tmpl[S->ti[alt].t].capacity_type == STV_CT_SPOT && p->spot.max_share < 1.0 &&
        spot > p->spot.max_share * all + 1e-9)
      alt = -1;
    if (alt < 0) break; /* nowhere to go: the caller sees the limits broken */
    stv__pool_take(S, &S->ti[S->nodes[pick].tmpl], -1);
    stv__pool_take(S, &S->ti[alt], 1);
    if (S->nodes[pick].mult > 1) {
      struct kept copy = S->nodes[pick];
      if (stv_grow((void **)&S->nodes, &S->cap_nodes, S->nnodes + 1, sizeof(*S->nodes)) != 0) {
        rc = STV_ENOMEM;
        break;
      }
      S->nodes[pick].mult--;
      copy.mult = 1;
      copy.tmpl = (int32_t)alt;
      S->nodes[S->nnodes++] = copy;
    } else {
      S->nodes[pick].tmpl = (int32_t)alt;
    }
    if (S->ti[alt].limit_left > 0) S->ti[alt].limit_left--;
  }
  stv_free(pool);
  return rc;
}

/* Whether a plan's new spot nodes keep within the spot policy. */
/* The pool limit node against node, without memory (when none is left). */
static int pools_ok_slowly(const struct stv_problem *p, const struct stv_plan *plan, size_t nspot) {
  size_t i, j;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    size_t same = 0;
    if (pn->existing >= 0 || p->tmpl[pn->tmpl].capacity_type != STV_CT_SPOT) continue;
    for (j = 0; j < plan->nnodes; j++) {
      const struct stv_plan_node *o = &plan->nodes[j];
      if (o->existing >= 0 || p->tmpl[o->tmpl].capacity_type != STV_CT_SPOT) continue;
      if (p->tmpl[o->tmpl].zone == p->tmpl[pn->tmpl].zone &&
          strcmp(p->tmpl[o->tmpl].instance_type, p->tmpl[pn->tmpl].instance_type) == 0)
        same++;
    }
    if ((double)same > p->spot.max_pool_fraction * (double)nspot + STV_SPOT_POOL_GRACE + 1e-9) return 0;
  }
  return 1;
}

int stv_plan_spot_ok(const struct stv_problem *p, const struct stv_plan *plan) {
  size_t i, j, nspot = 0, nused = 0;
  double spot = 0, all = 0;
  uint32_t *count, *used;
  int ok = 1;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    if (pn->existing >= 0) continue;
    all += p->tmpl[pn->tmpl].price;
    if (p->tmpl[pn->tmpl].capacity_type != STV_CT_SPOT) continue;
    spot += p->tmpl[pn->tmpl].price;
    nspot++;
  }
  if (nspot == 0) return 1;
  if (p->spot.max_share < 1.0 && spot > p->spot.max_share * all + 1e-9) return 0;
  if (p->spot.max_pool_fraction >= 1.0) return 1;
  /* Spot nodes per template, then per pool (instance type x zone) over the
   * templates in use: linear in the nodes, not quadratic. */
  count = stv_calloc(p->ntmpl + 1, sizeof(uint32_t));
  used = stv_malloc((p->ntmpl + 1) * sizeof(uint32_t));
  if (count == NULL || used == NULL) {
    stv_free(count);
    stv_free(used);
    return pools_ok_slowly(p, plan, nspot);
  }
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    if (pn->existing >= 0 || p->tmpl[pn->tmpl].capacity_type != STV_CT_SPOT) continue;
    if (count[pn->tmpl]++ == 0) used[nused++] = (uint32_t)pn->tmpl;
  }
  for (i = 0; i < nused && ok; i++) {
    const struct stv_template *t = &p->tmpl[used[i]];
    size_t same = 0;
    for (j = 0; j < nused; j++) {
      const struct stv_template *o = &p->tmpl[used[j]];
      if (o->zone == t->zone && strcmp(o->instance_type, t->instance_type) == 0) same += count[used[j]];
    }
    if ((double)same > p->spot.max_pool_fraction * (double)nspot + STV_SPOT_POOL_GRACE + 1e-9) ok = 0;
  }
  stv_free(count);
  stv_free(used);
  return ok;
}
