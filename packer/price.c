/*
 * The optimizer's pricing: a bounded multi-dimensional knapsack per
 * template shape, solved by depth-first branch and bound with ratio
 * bounds, by dynamic programming when one resource binds, or by GLPK's
 * integer solver, returning the best patterns by reduced cost; and the
 * column generation rounds (generate) that price the shapes, add the best
 * columns to the master and re-solve it until none prices out, giving the
 * LP bound.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "cg_internal.h"

/* ---------------------------------------------------------------------- */
/* Pricing: a bounded multi-dimensional knapsack per shape                */

struct kitem_sort {
  double ratio;
  uint32_t k;
};

static int cmp_kitem(const void *a, const void *b) {
  const struct kitem_sort *x = a, *y = b;
  if (x->ratio != y->ratio) return x->ratio > y->ratio ? -1 : 1;
  return x->k < y->k ? -1 : x->k > y->k;
}

/*
 * An upper bound on what items from..kn can add to rem: the least of the
 * fractional knapsack on the surrogate constraint (each resource scaled to
 * the node's capacity, summed; items are in ratio order, so greedy is
 * exact for it) and, per resource, the best value per unit left times what
 * is left.
 */
static double knap_bound(const struct cg *C, uint32_t from) {
  double b = INFINITY, room = 0, v, frac = 0;
  int r, ndim = C->S->ndim;
  uint32_t i;
  if (from >= C->kn) return 0;
  for (r = 0; r < ndim; r++) {
    if (C->cap[r] <= 0) continue;
    room += (double)C->rem[r] / (double)C->cap[r];
    v = C->suf_r[(size_t)from * ndim + r];
    if (v >= 0 && (double)C->rem[r] * v < b) b = (double)C->rem[r] * v;
  }
  for (i = from; i < C->kn && room > 1e-12; i++) {
    double take = C->ku[i] * C->ksize[i];
    if (take <= room) {
      frac += C->ku[i] * C->kval[i];
      room -= take;
    } else {
      frac += room / C->ksize[i] * C->kval[i];
      room = 0;
    }
    if (frac >= b) return b;
  }
  return frac < b ? frac : b;
}

/*
 * What a pattern must beat: the best found so far (plain branch and bound,
 * so that the search ends soon), and need. The improving patterns met on
 * the way are kept, the last KBEST of them.
 */
static double knap_threshold(const struct cg *C) {
  return C->kbest_val > C->kneed ? C->kbest_val : C->kneed;
}

/* Keeps the current pattern, replacing the worst when the pool is full. */
static void knap_record(struct cg *C) {
  int w = C->nksol, k;
  if (C->nksol == KBEST) {
    w = 0;
    for (k = 1; k < C->nksol; k++)
      if (C->ksolv[k] < C->ksolv[w]) w = k;
  } else {
    C->nksol++;
  }
  C->ksolv[w] = C->kcur;
  memcpy(&C->ksol[(size_t)w * (C->nit + 1)], C->kcnt, C->kn * sizeof(uint32_t));
  if (C->kcur > C->kbest_val) C->kbest_val = C->kcur;
}

static void knap_dfs(struct cg *C, uint32_t i) {
  struct solve *S = C->S;
  const struct stv_class *c;
  uint32_t maxk, k, item;
  int r;
  if (i >= C->kn) { /* a leaf: each is a distinct pattern */
    if (C->kcur > knap_threshold(C) + 1e-12) knap_record(C);
    return;
  }
  if (++C->knodes > C->klimit) {
    C->kexact = 0;
    return;
  }
  if (C->kcur + knap_bound(C, i) <= knap_threshold(C) + 1e-12) return;
  item = C->kidx[i];
  c = S->s->classes[C->it[item].cls];
  maxk = C->ku[i];
  for (r = 0; r < S->ndim && maxk > 0; r++)
    if (c->req[r] > 0 && (int64_t)maxk * c->req[r] > C->rem[r]) maxk = (uint32_t)(C->rem[r] / c->req[r]);
  if (maxk > 0 && C->kconf &&
      stv__bits_intersect(&S->anti_host[(size_t)C->it[item].cls * S->W], C->kpres, S->W))
    maxk = 0;
  for (k = maxk + 1; k-- > 0;) {
    if (C->knodes > C->klimit) break;
    if (k > 0) {
      uint64_t old = C->kpres[C->it[item].cls >> 6];
      for (r = 0; r < S->ndim; r++) C->rem[r] -= c->req[r] * (int64_t)k;
      C->kcnt[i] = k;
      C->kcur += k * C->kval[i];
      if (C->kconf) BIT_SET(C->kpres, C->it[item].cls);
      knap_dfs(C, i + 1);
      if (C->kconf) C->kpres[C->it[item].cls >> 6] = old;
      C->kcur -= k * C->kval[i];
      C->kcnt[i] = 0;
      for (r = 0; r < S->ndim; r++) C->rem[r] += c->req[r] * (int64_t)k;
    } else {
      knap_dfs(C, i + 1);
    }
  }
}

/*
 * Exact pricing by dynamic programming when only one resource can bind
 * (the others hold every item at its largest count at once): a bounded
 * knapsack over that resource, counts split into powers of two, on the
 * capacity divided by the weights' greatest common divisor. Returns 1 with
 * C->kcnt set to the best counts (C->kbest_val its value), 0 when the
 * problem is not of that form or too large, negative on ENOMEM.
 */
#define DP_MAX_CAP  4000000L
#define DP_MAX_BITS 200000000L

static int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static int knap_dp(struct cg *C) {
  struct solve *S = C->S;
  int r, bind = -1;
  uint32_t i, nch = 0;
  int64_t g = 0, cap, c;
  double *best = NULL;
  uint8_t *take = NULL;
  uint32_t *ch_item = NULL, *ch_k = NULL;
  int64_t *ch_w = NULL;
  double *ch_v = NULL;
  int rc = 0;
  if (C->kconf || C->kn == 0) return 0;
  for (r = 0; r < S->ndim; r++) {
    int64_t sum = 0;
    for (i = 0; i < C->kn; i++) sum += S->s->classes[C->it[C->kidx[i]].cls]->req[r] * (int64_t)C->ku[i];
    if (sum <= C->cap[r]) continue;
    if (bind >= 0) return 0; /* two resources may bind */
    bind = r;
  }
  if (bind < 0) { /* everything fits at once */
    C->kbest_val = 0;
    for (i = 0; i < C->kn; i++) {
      C->kcnt[i] = C->ku[i];
      C->kbest_val += C->ku[i] * C->kval[i];
    }
    return 1;
  }
  g = C->cap[bind];
  for (i = 0; i < C->kn; i++) g = gcd64(g, S->s->classes[C->it[C->kidx[i]].cls]->req[bind]);
  if (g <= 0) return 0;
  cap = C->cap[bind] / g;
  for (i = 0; i < C->kn; i++) {
    uint32_t u = C->ku[i], k = 1;
    while (u > 0) {
      uint32_t t = k < u ? k : u;
      nch++;
      u -= t;
      k *= 2;
    }
  }
  if (cap > DP_MAX_CAP || (double)nch * (double)(cap + 1) > (double)DP_MAX_BITS) return 0;
  C->work += (long)(((double)nch * (double)(cap + 1)) / 64); /* cells, 64 to a search node */
  best = stv_calloc((size_t)cap + 1, sizeof(double));
  take = stv_calloc(((size_t)nch * (size_t)(cap + 1) + 7) / 8, 1);
  ch_item = stv_malloc((nch + 1) * sizeof(uint32_t));
  ch_k = stv_malloc((nch + 1) * sizeof(uint32_t));
  ch_w = stv_malloc((nch + 1) * sizeof(int64_t));
  ch_v = stv_malloc((nch + 1) * sizeof(double));
  if (!best || !take || !ch_item || !ch_k || !ch_w || !ch_v) {
    rc = STV_ENOMEM;
    goto out;
  }
  nch = 0;
  for (i = 0; i < C->kn; i++) {
    uint32_t u = C->ku[i], k = 1;
    int64_t w = S->s->classes[C->it[C->kidx[i]].cls]->req[bind] / g;
    while (u > 0) {
      uint32_t t = k < u ? k : u;
      ch_item[nch] = i;
      ch_k[nch] = t;
      ch_w[nch] = w * t;
      ch_v[nch] = C->kval[i] * t;
      nch++;
      u -= t;
      k *= 2;
    }
  }
  for (i = 0; i < nch; i++) {
    size_t row = (size_t)i * (size_t)(cap + 1);
    for (c = cap; c >= ch_w[i]; c--) {
      double v = best[c - ch_w[i]] + ch_v[i];
      if (v > best[c] + 1e-12) {
        best[c] = v;
        take[(row + (size_t)c) >> 3] |= (uint8_t)(1u << ((row + (size_t)c) & 7));
      }
    }
  }
  memset(C->kcnt, 0, C->kn * sizeof(uint32_t));
  C->kbest_val = best[cap];
  c = cap;
  for (i = nch; i-- > 0;) {
    size_t bit = (size_t)i * (size_t)(cap + 1) + (size_t)c;
    if (take[bit >> 3] & (1u << (bit & 7))) {
      C->kcnt[ch_item[i]] += ch_k[i];
      c -= ch_w[i];
    }
  }
  rc = 1;
out:
  stv_free(best);
  stv_free(take);
  stv_free(ch_item);
  stv_free(ch_k);
  stv_free(ch_w);
  stv_free(ch_v);
  return rc;
}

/*
 * The current stv__knapsack (C->kidx.. with C->ku, C->kval, C->cap) handed to
 * GLPK: its LP relaxation (integer = 0), an upper bound on every pattern's
 * value, or the integer problem (integer = 1, branch and bound, at most
 * KNAP_MIP_MS), whose optimum is written to C->kcnt. Returns 1 with *value
 * when solved to optimality, 0 otherwise (also on ENOMEM: a bound is an
 * optimisation only). Pairwise conflicts are not modelled: callers use the
 * integer form only without them.
 */
#define KNAP_MIP_MS    200
#define KNAP_MIP_NODES 2000 /* its subproblems, where time does not decide */

struct knap_mip {
  struct cg *C;
  long nodes;
};

static void knap_mip_callback(glp_tree *tree, void *info) {
  struct knap_mip *m = info;
  if (glp_ios_reason(tree) != GLP_ISELECT) return;
  m->C->work += WORK_PER_ITER;
  if (++m->nodes > KNAP_MIP_NODES) glp_ios_terminate(tree);
}

static int knap_glpk(struct cg *C, int integer, double *value) {
  struct solve *S = C->S;
  glp_prob *lp = glp_create_prob();
  size_t nn = (size_t)C->kn * (size_t)S->ndim + 1;
  int *ia = stv_malloc(nn * sizeof(int)), *ja = stv_malloc(nn * sizeof(int));
  double *ar = stv_malloc(nn * sizeof(double));
  int r, nz = 0, ok = 0;
  uint32_t i;
  if (lp == NULL || ia == NULL || ja == NULL || ar == NULL || C->kn == 0) goto out;
  stv__knap_lp_items(C, lp, ia, ja, ar, &nz);
  if (integer)
    for (i = 0; i < C->kn; i++) glp_set_col_kind(lp, (int)i + 1, GLP_IV);
  glp_load_matrix(lp, nz, ia, ja, ar);
  if (!integer) {
    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    glp_scale_prob(lp, GLP_SF_AUTO);
    if (glp_simplex(lp, &parm) == 0 && glp_get_status(lp) == GLP_OPT) {
      *value = glp_get_obj_val(lp) * (1 + 1e-9) + 1e-12;
      ok = 1;
    }
    C->work += WORK_PER_ITER * (long)glp_get_it_cnt(lp);
  } else {
    glp_iocp parm;
    struct knap_mip km = {C, 0};
    glp_init_iocp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    parm.presolve = GLP_ON;
    parm.cb_func = knap_mip_callback;
    parm.cb_info = &km;
    /* A wall-time cap only where time decides anyway: without a clock, or
     * under a work budget, the node limit keeps the answer deterministic. */
    if (C->timed && C->work_limit <= 0) parm.tm_lim = KNAP_MIP_MS;
    if (glp_intopt(lp, &parm) == 0 && glp_mip_status(lp) == GLP_OPT) {
      int64_t used[STV_MAX_RES];
      memset(used, 0, sizeof(used));
      *value = 0;
      ok = 1;
      for (i = 0; i < C->kn; i++) {
        const struct stv_class *c = S->s->classes[C->it[C->kidx[i]].cls];
        double x = floor(glp_mip_col_val(lp, (int)i + 1) + 0.5);
        C->kcnt[i] = x > 0 ? (uint32_t)x : 0;
        *value += C->kcnt[i] * C->kval[i];
        for (r = 0; r < S->ndim; r++) used[r] += c->req[r] * (int64_t)C->kcnt[i];
      }
      /* Trust but verify: the rounded counts must fit. */
      for (r = 0; r < S->ndim; r++)
        if (C->cap[r] > 0 && used[r] > C->cap[r]) ok = 0;
    }
  }
out:
  if (lp != NULL) glp_delete_prob(lp);
  stv_free(ia);
  stv_free(ja);
  stv_free(ar);
  return ok;
}

/*
 * After the items are set (C->kidx ... C->ku, m of them): the suffix bounds
 * of the search, and the upper bound on any pattern's value, the least of
 * the fractional surrogate knapsack and each resource's fractional
 * knapsack. ks is scratch for m items.
 */
static double knap_root_bound(struct cg *C, struct kitem_sort *ks, uint32_t m) {
  const struct solve *S = C->S;
  int r, ndim = S->ndim;
  uint32_t i;
  double ub;
  /* Suffix bounds: total value left, best value per unit of surrogate size
   * and per unit of each resource. */
  C->suf_val[m] = 0;
  C->suf_s[m] = 0;
  for (r = 0; r < ndim; r++) C->suf_r[(size_t)m * ndim + r] = 0;
  for (i = m; i-- > 0;) {
    uint32_t item = C->kidx[i];
    const struct stv_class *c = S->s->classes[C->it[item].cls];
    double rs = C->kval[i] / C->ksize[i];
    C->suf_val[i] = C->suf_val[i + 1] + C->ku[i] * C->kval[i];
    C->suf_s[i] = rs > C->suf_s[i + 1] ? rs : C->suf_s[i + 1];
    for (r = 0; r < ndim; r++) {
      double prev = C->suf_r[(size_t)(i + 1) * ndim + r], v;
      if (prev < 0 || c->req[r] <= 0) {
        v = -1; /* an item free in r: no bound from r */
      } else {
        v = C->kval[i] / (double)c->req[r];
        if (prev > v) v = prev;
      }
      C->suf_r[(size_t)i * ndim + r] = v;
    }
  }
  /* Root bound: the fractional surrogate knapsack and the ratio bounds. */
  ub = knap_bound(C, 0);
  /* And each resource alone: the fractional knapsack on it (items sorted
   * by value per unit of it; those that need none of it come free). */
  for (r = 0; r < ndim; r++) {
    double left = (double)C->cap[r], v = 0;
    if (C->cap[r] <= 0) continue;
    for (i = 0; i < m; i++) {
      int64_t w = S->s->classes[C->it[C->kidx[i]].cls]->req[r];
      ks[i].ratio = w > 0 ? C->kval[i] / (double)w : INFINITY;
      ks[i].k = i;
    }
    qsort(ks, m, sizeof(*ks), cmp_kitem);
    for (i = 0; i < m && v < ub; i++) {
      uint32_t k = ks[i].k;
      int64_t w = S->s->classes[C->it[C->kidx[k]].cls]->req[r];
      if (w <= 0) {
        v += C->ku[k] * C->kval[k];
      } else if ((double)w * C->ku[k] <= left) {
        v += C->ku[k] * C->kval[k];
        left -= (double)w * C->ku[k];
      } else {
        v += left / (double)w * C->kval[k];
        break;
      }
    }
    if (v < ub) ub = v;
  }
  return ub;
}

/* Writes the C->nksol patterns found, as knapsack() hands them out. */
static void knap_write(const struct cg *C, uint32_t m, uint32_t *pi, uint32_t *pk, uint32_t *n) {
  int j, npat = C->nksol;
  uint32_t i;
  for (j = 0; j < npat; j++) {
    const uint32_t *cnt = &C->ksol[(size_t)j * (C->nit + 1)];
    uint32_t *qi = &pi[(size_t)j * (C->nit + 1)], *qk = &pk[(size_t)j * (C->nit + 1)], nn = 0;
    for (i = 0; i < m; i++)
      if (cnt[i]) {
        qi[nn] = C->kidx[i];
        qk[nn++] = cnt[i];
      }
    /* Entries sorted by item, as columns are keyed. */
    for (i = 1; i < nn; i++) {
      uint32_t a = qi[i], b = qk[i], k = i;
      while (k > 0 && qi[k - 1] > a) {
        qi[k] = qi[k - 1];
        qk[k] = qk[k - 1];
        k--;
      }
      qi[k] = a;
      qk[k] = b;
    }
    n[j] = nn;
  }
}

/*
 * The best patterns of shape sh for the item values y (per item; the
 * shape's spot penalty is taken off each pod) worth more than need: up to
 * KBEST of them, pattern j written to pi/pk from j x (nit + 1) with n[j]
 * entries sorted by item. Returns how many (negative on ENOMEM); *ub is an
 * upper bound on any pattern's value.
 */
int stv__knapsack(struct cg *C, const struct shape *sh, const double *y, double need, uint32_t *pi,
                  uint32_t *pk, uint32_t *n, double *ub) {
  struct solve *S = C->S;
  const struct tinfo *t = &S->ti[C->sh_ti[sh->first]];
  struct kitem_sort *ks = stv_malloc((sh->nitems + 1) * sizeof(*ks));
  uint32_t i, m = 0;
  int r, ndim = S->ndim;
  int j, npat;
  *ub = 0;
  if (ks == NULL) return -1;
  for (r = 0; r < ndim; r++) C->cap[r] = C->rem[r] = t->alloc[r];
  if (C->cpu_cap > 0 && C->cpu_cap < C->cap[STV_RES_CPU]) C->cap[STV_RES_CPU] = C->rem[STV_RES_CPU] = C->cpu_cap;
  for (i = 0; i < sh->nitems; i++) {
    uint32_t item = sh->items[i];
    const struct stv_class *c = S->s->classes[C->it[item].cls];
    double v = y[item] - sh->lambda, s = 0;
    if (v <= 1e-12) continue;
    for (r = 0; r < ndim; r++)
      if (C->cap[r] > 0) s += (double)c->req[r] / (double)C->cap[r];
    if (s <= 0) s = 1e-12;
    ks[m].ratio = v / s;
    ks[m].k = item;
    m++;
  }
  qsort(ks, m, sizeof(*ks), cmp_kitem);
  C->kn = m;
  for (i = 0; i < m; i++) {
    uint32_t item = ks[i].k, u = C->it[item].resid;
    const struct stv_class *c = S->s->classes[C->it[item].cls];
    C->kidx[i] = item;
    C->kval[i] = y[item] - sh->lambda;
    C->ksize[i] = C->kval[i] / ks[i].ratio;
    if (C->it[item].cap < u) u = C->it[item].cap;
    for (r = 0; r < ndim; r++)
      if (c->req[r] > 0 && (int64_t)u * c->req[r] > C->cap[r]) u = (uint32_t)(C->cap[r] / c->req[r]);
    C->ku[i] = u;
    C->kcnt[i] = 0;
  }
  *ub = knap_root_bound(C, ks, m);
  C->kcur = 0;
  C->kbest_val = 0;
  C->kneed = need;
  C->nksol = 0;
  C->knodes = 0;
  C->kexact = 1;
  C->kconf = sh->conflicts;
  memset(C->kpres, 0, C->W * 8);
  j = knap_dp(C);
  if (j < 0) {
    stv_free(ks);
    return -1;
  }
  if (j == 1) {
    *ub = C->kbest_val;
    if (C->kbest_val > need) {
      C->nksol = 1;
      C->ksolv[0] = C->kbest_val;
      memcpy(C->ksol, C->kcnt, C->kn * sizeof(uint32_t));
    }
  } else {
    double b = INFINITY, v;
    int deep = C->klimit > KNAP_NODES; /* under the true duals: a proof is worth more */
    /* With the LP's bound below what a pattern must reach, nothing prices out. */
    if (deep && *ub > need && knap_glpk(C, 0, &b) && b < *ub) *ub = b;
    if (*ub <= need) {
      C->kexact = 1;
    } else {
      knap_dfs(C, 0);
      if (C->kexact) {
        *ub = C->kbest_val > need ? C->kbest_val : need;
      } else if (deep && !C->kconf && C->kbest_val <= need && knap_glpk(C, 1, &v)) {
        /* An unfinished search that found nothing to add: GLPK's branch and
         * bound settles whether anything prices out (a proof, or a column). */
        C->kexact = 1;
        *ub = v > need ? v : need;
        if (v > need && v > C->kbest_val + 1e-12) {
          C->kcur = v;
          knap_record(C);
        }
      }
    }
  }
  if (C->clique != NULL && C->klimit > KNAP_NODES && !C->kexact && *ub > need) {
    /* The pattern bound's, under the true duals (the rounds whose bound
     * counts): the relaxation that keeps the conflicts (one resource kept
     * at a time: cheap enough for every shape of every such round). */
    double b;
    int k = stv__knap_conflict_bound(C, C->clique, INFINITY, &b);
    if (k < 0) {
      stv_free(ks);
      return -1;
    }
    if (k > 0 && b < *ub) *ub = b;
  }
  npat = C->nksol;
  C->work += C->knodes + (long)m + 1;
  knap_write(C, m, pi, pk, n);
  stv_free(ks);
  return npat;
}

/* The LP relaxation's bound on the knapsack stv__knapsack last set up
 * (bound_cg.c's final pass); 1 with *value when solved. */
int stv__knap_lp_bound(struct cg *C, double *value) {
  return knap_glpk(C, 0, value);
}

/* ---------------------------------------------------------------------- */
/* Pricing rounds: the knapsacks priced, the best columns added            */

/* The non-item part of a column's reduced cost on template ti. */
static double fixed_cost(const struct cg *C, uint32_t ti) {
  const struct stv_template *tp = &C->p->tmpl[C->S->ti[ti].t];
  double k = tp->price + tp->node_cost;
  if (C->limit_row[ti]) k -= glp_get_row_dual(C->lp, C->limit_row[ti]);
  if (tp->capacity_type == STV_CT_SPOT && C->n_row_N) {
    k -= glp_get_row_dual(C->lp, C->n_row_N);
    if (C->pool_row[ti]) k -= glp_get_row_dual(C->lp, C->pool_row[ti]);
  }
  if (C->share_row)
    k -= glp_get_row_dual(C->lp, C->share_row) *
         (tp->capacity_type == STV_CT_SPOT ? tp->price * (1 - C->share) : -C->share * tp->price);
  return k;
}

/* fixed_cost for the bound's final pass (bound_cg.c). */
double stv__fixed_cost(const struct cg *C, uint32_t ti) {
  return fixed_cost(C, ti);
}

struct cand {
  double rc;
  uint32_t ti, off, n;
};

static int cmp_cand(const void *a, const void *b) {
  const struct cand *x = a, *y = b;
  if (x->rc != y->rc) return x->rc < y->rc ? -1 : 1;
  return x->ti < y->ti ? -1 : x->ti > y->ti;
}

static int cmp_gain(const void *a, const void *b) {
  const struct shape *x = *(const struct shape *const *)a, *y = *(const struct shape *const *)b;
  if (x->gain != y->gain) return x->gain > y->gain ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Adds the knapsack's np patterns (tpi/tpk, tn entries each) on template
 * best_ti of shape sh that price out under the true duals y to cand (the
 * best 2 x ADD_PER_ROUND, patterns in pi/pk). A pattern's reduced cost is
 * kmin (the fixed part) plus its surplus credits less its items' duals.
 */
static void take_patterns(struct cg *C, const struct shape *sh, uint32_t best_ti, double kmin, const double *y,
                          int np, const uint32_t *tpi, const uint32_t *tpk, const uint32_t *tn, struct cand *cand,
                          size_t *ncand, uint32_t *pi, uint32_t *pk) {
  size_t W1 = C->nit + 1;
  uint32_t q;
  int j;
  for (j = 0; j < np; j++) {
    const uint32_t *qi = &tpi[(size_t)j * W1], *qk = &tpk[(size_t)j * W1];
    double r = kmin;
    size_t at = *ncand;
    for (q = 0; q < tn[j]; q++) r -= qk[q] * (y[qi[q]] - sh->lambda);
    if (sh->surplus > 0) {
      int64_t above = stv__items_cpu(C, qi, qk, tn[j]) - sh->free_cpu;
      if (above > 0) r += sh->surplus * (double)above;
    }
    if (!(r < -RC_EPS * (1 + fabs(kmin))) || tn[j] == 0) continue;
    /* Already in the master: its reduced cost is the LP's tolerance. */
    if (stv__seen_lookup(C, stv__pattern_hash(best_ti, qi, qk, tn[j]))) continue;
    if (*ncand == 2 * ADD_PER_ROUND) {
      /* Full: replace the worst when this one is better. */
      size_t w = 0, k2;
      for (k2 = 1; k2 < *ncand; k2++)
        if (cand[k2].rc > cand[w].rc) w = k2;
      if (cand[w].rc <= r) continue;
      at = w;
    } else {
      (*ncand)++;
    }
    cand[at].rc = r;
    cand[at].ti = best_ti;
    cand[at].n = tn[j];
    cand[at].off = (uint32_t)(at * W1);
    memcpy(&pi[cand[at].off], qi, tn[j] * sizeof(uint32_t));
    memcpy(&pk[cand[at].off], qk, tn[j] * sizeof(uint32_t));
  }
}

/*
 * Pricing above the baseline of an unlimited-mode burstable shape. A
 * pattern x costs kmin + s max(0, cpu(x) - F) (s the surplus price per
 * millicore, F the pods' cpu before credits), at least kmin - sF + s
 * cpu(x) whatever its cpu: so the knapsack under item values yv_i - s
 * cpu_i with threshold kmin - sF finds the patterns that price out above
 * the baseline, and its bound *ub, against kmin - sF, bounds every
 * pattern's reduced cost from below (the one below the baseline included).
 * Returns the number of patterns, or -1 when out of memory.
 */
static int price_above(struct cg *C, const struct shape *sh, const double *yv, double kmin, uint32_t *tpi,
                       uint32_t *tpk, uint32_t *tn, double *ub) {
  double *ya = stv_malloc((C->nit + 1) * sizeof(double)), base = kmin - sh->surplus * (double)sh->free_cpu;
  uint32_t q;
  int np;
  if (ya == NULL) return -1;
  memcpy(ya, yv, C->nit * sizeof(double));
  for (q = 0; q < sh->nitems; q++) {
    uint32_t item = sh->items[q];
    ya[item] -= sh->surplus * (double)C->S->s->classes[C->it[item].cls]->req[STV_RES_CPU];
  }
  np = stv__knapsack(C, sh, ya, base + RC_EPS * (1 + fabs(kmin)), tpi, tpk, tn, ub);
  stv_free(ya);
  return np;
}

/*
 * How promising shape sh is under item values yv, from a quick upper bound
 * vb on its best pattern's value: the least of every pod it may hold at
 * once and, per resource, its capacity times the best value per unit of
 * it. At most RC_EPS when nothing can price out (vb - kmin); otherwise
 * 2 RC_EPS plus the gain relative to the fixed cost, so that large
 * templates, whose absolute gains dwarf the small ones', are priced in
 * order of what they promise per unit of price (the pricing rounds stop
 * after PARTIAL_SHAPES shapes: ordered by absolute gain less the fixed
 * cost, the same pods on every shape, the largest templates came last).
 */
static double quick_gain(const struct cg *C, const struct shape *sh, const double *yv) {
  const struct solve *S = C->S;
  const int64_t *alloc = S->ti[C->sh_ti[sh->first]].alloc;
  double kmin = INFINITY, vb = 0, best[STV_MAX_RES];
  uint32_t q;
  int r;
  for (r = 0; r < S->ndim; r++) best[r] = 0;
  for (q = 0; q < sh->n; q++) {
    double k = fixed_cost(C, C->sh_ti[sh->first + q]);
    if (k < kmin) kmin = k;
  }
  for (q = 0; q < sh->nitems; q++) {
    const struct item *it = &C->it[sh->items[q]];
    const int64_t *req = S->s->classes[it->cls]->req;
    double v = yv[sh->items[q]] - sh->lambda;
    if (v <= 0) continue;
    vb += v * (double)(it->cap < it->resid ? it->cap : it->resid);
    for (r = 0; r < S->ndim; r++) {
      if (best[r] < 0) continue;
      if (req[r] <= 0)
        best[r] = -1; /* free in r: no bound from r */
      else if (v / (double)req[r] > best[r])
        best[r] = v / (double)req[r];
    }
  }
  for (r = 0; r < S->ndim; r++)
    if (alloc[r] > 0 && best[r] >= 0 && best[r] * (double)alloc[r] < vb) vb = best[r] * (double)alloc[r];
  if (vb - kmin <= RC_EPS) return vb - kmin;
  return 2 * RC_EPS + (vb - kmin) / (fabs(kmin) + 1e-9);
}

/*
 * One pricing pass with item values yv (smoothed or true). Patterns are
 * judged by their reduced cost under the true duals y; the best
 * 2 x ADD_PER_ROUND go to cand (patterns in pi/pk). With yv == y, *minrc
 * is a lower bound on every pattern's reduced cost and *exact says whether
 * every pricing problem was solved to the end.
 */
static int price(struct cg *C, const double *yv, const double *y, struct shape **order, struct cand *cand,
                 size_t *ncand, uint32_t *pi, uint32_t *pk, uint32_t *tpi, uint32_t *tpk, double *minrc,
                 int *exact, int *cut, double *theta) {
  size_t s;
  uint32_t tn[KBEST];
  *ncand = 0;
  *minrc = 0;
  *exact = 1;
  *cut = 0;
  *theta = 1;
  /* Shapes by promise: the cheapest fixed cost against a quick bound. */
  for (s = 0; s < C->nsh; s++) {
    struct shape *sh = &C->sh[s];
    sh->gain = quick_gain(C, sh, yv);
    order[s] = sh;
  }
  qsort(order, C->nsh, sizeof(*order), cmp_gain);
  for (s = 0; s < C->nsh; s++) {
    struct shape *sh = order[s];
    uint32_t q, best_ti = 0;
    double kmin = INFINITY, ub, pmin = INFINITY;
    int np;
    if (sh->gain <= RC_EPS) break; /* no later shape can price out either */
    if (s >= PARTIAL_SHAPES && *ncand > 0) {
      /* Partial pricing: the most promising shapes gave columns already. */
      *exact = 0;
      *cut = 1;
      *minrc = -INFINITY;
      break;
    }
    for (q = 0; q < sh->n; q++) {
      uint32_t ti = C->sh_ti[sh->first + q];
      const struct stv_template *tp = &C->p->tmpl[C->S->ti[ti].t];
      double k = fixed_cost(C, ti), pr = tp->price + tp->node_cost; /* the least a column of it costs */
      if (k < kmin) {
        kmin = k;
        best_ti = ti;
      }
      if (pr < pmin) pmin = pr;
    }
    if (sh->surplus > 0) {
      /* Below its baseline first; then above it, as price_above does. */
      C->cpu_cap = sh->free_cpu;
      np = sh->free_cpu > 0 ? stv__knapsack(C, sh, yv, kmin + RC_EPS * (1 + fabs(kmin)), tpi, tpk, tn, &ub) : 0;
      C->cpu_cap = 0;
      if (np < 0) return STV_ENOMEM;
      if (np > 0) take_patterns(C, sh, best_ti, kmin, y, np, tpi, tpk, tn, cand, ncand, pi, pk);
      if (sh->free_cpu > 0 && !C->kexact) *exact = 0;
      np = price_above(C, sh, yv, kmin, tpi, tpk, tn, &ub);
      if (np < 0) return STV_ENOMEM;
      ub += sh->surplus * (double)sh->free_cpu; /* as a value against kmin */
    } else {
      np = stv__knapsack(C, sh, yv, kmin + RC_EPS * (1 + fabs(kmin)), tpi, tpk, tn, &ub);
      if (np < 0) return STV_ENOMEM;
    }
    if (!C->kexact) *exact = 0;
    if (kmin - ub < *minrc) *minrc = kmin - ub;
    if (!C->kexact && C->klimit > KNAP_NODES)
      trace(C, "  unfinished pricing: %s (%u pods kinds), fixed %.4f, best %.4f, bound %.4f",
            C->p->tmpl[C->S->ti[best_ti].t].instance_type, sh->nitems, kmin, C->kbest_val, ub);
    if (kmin - ub < 0) { /* Farley: the duals scaled by theta stay feasible */
      double t = pmin > 0 ? pmin / (pmin - (kmin - ub)) : 0;
      if (t < *theta) *theta = t;
    }
    take_patterns(C, sh, best_ti, kmin, y, np, tpi, tpk, tn, cand, ncand, pi, pk);
    if (out_of_time(C)) {
      *exact = 0;
      *cut = 1;
      *minrc = -INFINITY;
      break;
    }
  }
  return 0;
}

/* Progress of the root LP: the last value and bound that counted. */
struct stall {
  int rounds; /* rounds seen */
  int since;  /* of which without progress, the last ones */
  double z, lb;
};

/*
 * The root's stopping rules after a round with LP value z and bound lb:
 * 1 when the incumbent is within the tolerance of the bound (C->stop set),
 * or when neither z fell nor lb rose by STV_STALL_IMPROVEMENT of the
 * incumbent over the last C->stall_rounds rounds that priced partially
 * (stopped after PARTIAL_SHAPES shapes; C->stalled set). Rounds that
 * priced every shape do not count: there the LP is left to converge
 * (degenerate rounds, z flat while the basis turns, are common in bin
 * packing and end in a proof); with hundreds of shapes, a flat value means
 * rounds spent on shapes that do not pay.
 */
static int stalled(struct cg *C, struct stall *st, double z, double lb, int partial) {
  double inc = C->incumbent < INFINITY ? C->incumbent : z, eps = STV_STALL_IMPROVEMENT * fabs(inc);
  if (lb > 0 && stv__bound_check(C, lb)) return 1;
  if (st->rounds++ == 0 || z < st->z - eps || lb > st->lb + eps) {
    st->z = z;
    st->lb = lb;
    st->since = 0;
    return 0;
  }
  if (!partial) return 0;
  if (C->stall_rounds > 0 && ++st->since >= C->stall_rounds) {
    C->stalled = 1;
    trace(C, "stalled: value %.6f and bound %.6f moved less than %.3g in %d rounds", z, lb, eps, st->since);
    return 1;
  }
  return 0;
}

/*
 * Column generation rounds. Item duals are smoothed (a weighted mean with
 * the previous round's, which damps the oscillation that makes plain
 * column generation tail off); when smoothed prices find nothing, the true
 * duals are tried before concluding. Sets *converged when a full pass under
 * the true duals found no improving pattern, and *lb to a proven bound on
 * the master's optimum (< 0 when none).
 */
int stv__generate(struct cg *C, int *converged, double *lb) {
  glp_smcp parm;
  size_t W1 = C->nit + 1;
  double *y = stv_malloc(W1 * sizeof(double)), *yc = stv_malloc(W1 * sizeof(double));
  double *ys = stv_malloc(W1 * sizeof(double));
  uint32_t *pi = stv_malloc(W1 * 2 * ADD_PER_ROUND * sizeof(uint32_t) + 8);
  uint32_t *pk = stv_malloc(W1 * 2 * ADD_PER_ROUND * sizeof(uint32_t) + 8);
  uint32_t *tpi = stv_malloc(W1 * KBEST * sizeof(uint32_t)), *tpk = stv_malloc(W1 * KBEST * sizeof(uint32_t));
  struct cand *cand = stv_malloc(2 * ADD_PER_ROUND * sizeof(*cand));
  struct shape **order = stv_malloc((C->nsh + 1) * sizeof(*order));
  double nmax = 0;
  long deep = 10; /* search allowed under the true duals, x KNAP_NODES */
  struct stall stall = {0, 0, 0, -1};
  int rc = 0, round, have_center = 0;
  size_t i;
  *converged = 0;
  *lb = -1;
  if (!y || !yc || !ys || !pi || !pk || !tpi || !tpk || !cand || !order) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i < C->nit; i++) nmax += C->it[i].demand;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  for (round = 0; round < MAX_ROUNDS; round++) {
    double z, minrc, theta;
    size_t ncand = 0;
    int exact, cut, st, truthful = 0;
    if (glp_simplex(C->lp, &parm) != 0 || glp_get_status(C->lp) != GLP_OPT) break;
    z = glp_get_obj_val(C->lp);
    for (i = 0; i < C->nit; i++) y[i] = glp_get_row_dual(C->lp, C->it[i].row);
    if (have_center) {
      for (i = 0; i < C->nit; i++) ys[i] = SMOOTH * yc[i] + (1 - SMOOTH) * y[i];
      C->klimit = KNAP_NODES;
      if ((rc = price(C, ys, y, order, cand, &ncand, pi, pk, tpi, tpk, &minrc, &exact, &cut, &theta)) != 0)
        goto out;
    }
    if (ncand == 0) { /* no smoothing, or it mispriced: the true duals */
      truthful = 1;
      /* Under the true duals the search may go further: a finished one proves. */
      C->klimit = C->proving ? deep * KNAP_NODES : KNAP_NODES;
      if ((rc = price(C, y, y, order, cand, &ncand, pi, pk, tpi, tpk, &minrc, &exact, &cut, &theta)) != 0)
        goto out;
      memcpy(ys, y, C->nit * sizeof(double));
    }
    memcpy(yc, ys, C->nit * sizeof(double));
    have_center = 1;
    /* Lagrangian bound: no solution uses more nodes than pods. */
    if (truthful && minrc > -INFINITY) {
      double b = z + (minrc < 0 ? minrc * nmax : 0);
      if (b > *lb) *lb = b;
      /* Farley's bound: z scaled by how far the best pattern prices out
       * relative to its price (valid for every row sign in this master). */
      if (theta * z > *lb) *lb = theta * z;
    }
    trace(C, "round %d at %.3f: z %.6f, %zu candidates, best rc %.6g, minrc %.6g, exact %d, true %d", round,
          now_s(C), z, ncand, ncand ? cand[0].rc : 0.0, minrc, exact, truthful);
    if (ncand == 0) {
      if (truthful && exact && !cut) {
        *converged = 1;
        *lb = z;
      }
      /* Nothing improves, but some search stopped short: look deeper once
       * or twice, for a proof or a better bound. */
      if (C->proving && truthful && !exact && !cut && deep < 1000 && !out_of_time(C)) {
        deep *= 10;
        have_center = 0;
        continue;
      }
      break;
    }
    if (C->proving && stalled(C, &stall, z, *lb, cut)) break;
    qsort(cand, ncand, sizeof(*cand), cmp_cand);
    if (ncand > ADD_PER_ROUND) ncand = ADD_PER_ROUND;
    st = 0;
    for (i = 0; i < ncand; i++) {
      long col = stv__add_column(C, cand[i].ti, &pi[cand[i].off], &pk[cand[i].off], cand[i].n);
      if (col < -1) {
        rc = (int)col;
        goto out;
      }
      if (col >= 0) st = 1;
    }
    if (!st || C->ncol > MAX_COLUMNS || out_of_time(C)) break;
  }
  if (rc == 0) glp_simplex(C->lp, &parm);
out:
  stv_free(y);
  stv_free(yc);
  stv_free(ys);
  stv_free(pi);
  stv_free(pk);
  stv_free(tpi);
  stv_free(tpk);
  stv_free(cand);
  stv_free(order);
  return rc;
}
