/*
 * The optimizer's restricted master problem (see optimize.c): the rows
 * (items: the groups of the heuristic's new nodes that may move), the
 * template shapes that price alike, the master LP in GLPK with its reserved
 * count and spot rows, pattern columns (deduplicated by hash) and the
 * heuristic's nodes as the first columns.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "cg_internal.h"

/* ---------------------------------------------------------------------- */
/* Set-up                                                                 */

/* Classes whose pods must stay where the heuristic put them. */
static int class_frozen(const struct solve *S, uint32_t c) {
  if (BIT_GET(S->aff_host_any, c) || BIT_GET(S->spread_host_owner, c)) return 1;
  return S->rules_counting[c][0] != UINT32_MAX;
}

int stv__setup_items(struct cg *C, unsigned char *frozen_node) {
  struct solve *S = C->S;
  uint32_t *demand = stv_calloc(S->ng + 1, sizeof(uint32_t));
  size_t i, n = 0;
  if (demand == NULL) return STV_ENOMEM;
  for (i = 0; i < S->nnodes; i++) {
    const struct kept *k = &S->nodes[i];
    uint32_t q;
    if (k->existing >= 0) continue;
    for (q = 0; q < k->npat; q++)
      if (class_frozen(S, S->g[k->g[q]].cls)) frozen_node[i] = 1;
    if (frozen_node[i]) continue;
    for (q = 0; q < k->npat; q++) demand[k->g[q]] += k->k[q] * k->mult;
  }
  C->item_of_group = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
  C->it = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(*C->it));
  if (C->item_of_group == NULL || C->it == NULL) {
    stv_free(demand);
    return STV_ENOMEM;
  }
  for (i = 0; i < S->ng; i++) {
    struct item *it;
    C->item_of_group[i] = UINT32_MAX;
    if (demand[i] == 0) continue;
    it = &C->it[n];
    it->g = (uint32_t)i;
    it->cls = S->g[i].cls;
    it->demand = it->resid = demand[i];
    it->cap = BIT_GET(&S->anti_host[(size_t)it->cls * S->W], it->cls) ? 1 : UINT32_MAX;
    it->zone = S->g[i].zone;
    C->item_of_group[i] = (uint32_t)n++;
  }
  C->nit = n;
  stv_free(demand);
  return 0;
}

int stv__cmp_shape_key(const void *a, const void *b) {
  const struct shape_key *x = a, *y = b;
  if (x->h != y->h) return x->h < y->h ? -1 : 1;
  return x->ti < y->ti ? -1 : x->ti > y->ti;
}

/* Surplus credits of template ti per millicore-hour (0: none). */
static double shape_surplus(const struct cg *C, uint32_t ti) {
  return C->p->tmpl[C->S->ti[ti].t].surplus_price / 1000.0;
}

/* The pods' cpu on template ti before surplus credits are paid. */
static int64_t shape_free_cpu(const struct cg *C, uint32_t ti) {
  const struct tinfo *t = &C->S->ti[ti];
  return C->p->tmpl[t->t].surplus_price > 0 ? C->p->tmpl[t->t].cpu_baseline - t->daemon_cpu : 0;
}

int64_t stv__items_cpu(const struct cg *C, const uint32_t *pi, const uint32_t *pk, uint32_t n) {
  int64_t cpu = 0;
  uint32_t q;
  for (q = 0; q < n; q++) cpu += C->S->s->classes[C->it[pi[q]].cls]->req[STV_RES_CPU] * (int64_t)pk[q];
  return cpu;
}

/* Groups the usable templates into shapes. */
int stv__setup_shapes(struct cg *C, const unsigned char *frozen_node) {
  struct solve *S = C->S;
  size_t IW = (C->nit + 63) / 64 + 1, i, j, n = 0;
  uint64_t *ibits = stv_arena_alloc(&S->a, (S->nti + 1) * IW * 8);
  struct shape_key *keys = stv_malloc((S->nti + 1) * sizeof(*keys));
  int policy = C->p->spot.max_share < 1.0 || C->p->spot.max_pool_fraction < 1.0;
  int rc = 0;
  C->limit = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(int64_t));
  C->limit_row = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(int));
  C->pool_row = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(int));
  C->lambda = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(double));
  C->usable = stv_arena_alloc(&S->a, S->nti + 1);
  C->sh_ti = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(uint32_t));
  C->sh = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(*C->sh));
  if (!ibits || !keys || !C->limit || !C->limit_row || !C->pool_row || !C->lambda || !C->usable ||
      !C->sh_ti || !C->sh) {
    rc = STV_ENOMEM;
    goto out;
  }
  /* Counts left: the template's own, less what frozen nodes hold. */
  for (i = 0; i < S->nti; i++) C->limit[i] = C->p->tmpl[S->ti[i].t].limit;
  for (i = 0; i < S->nnodes; i++) {
    const struct kept *k = &S->nodes[i];
    if (k->existing >= 0 || !frozen_node[i] || C->limit[k->tmpl] < 0) continue;
    C->limit[k->tmpl] -= k->mult;
    if (C->limit[k->tmpl] < 0) C->limit[k->tmpl] = 0;
  }
  for (i = 0; i < S->nti; i++) {
    const struct tinfo *t = &S->ti[i];
    const struct stv_template *tp = &C->p->tmpl[t->t];
    uint64_t *b = &ibits[i * IW];
    int any = 0;
    C->lambda[i] = C->real_prices ? 0 : stv__spot_penalty(C->p, tp);
    if (C->limit[i] == 0) continue;
    /* A dominated template is never needed, unless the spot penalty or
     * limits could make the template that dominates it the worse choice. */
    if (t->dominated && !policy && C->lambda[i] == 0) continue;
    for (j = 0; j < C->nit; j++) {
      const struct item *it = &C->it[j];
      int32_t z = it->zone;
      if (!BIT_GET(&S->compat[i * S->W], it->cls)) continue;
      if (z >= 0 && z != t->zone) continue;
      if (stv__bits_intersect(&S->anti_host[(size_t)it->cls * S->W], t->presence, S->W)) continue;
      BIT_SET(b, j);
      any = 1;
    }
    if (!any) continue;
    C->usable[i] = 1;
    keys[n].ti = (uint32_t)i;
    keys[n].h = stv_hash(t->alloc, sizeof(t->alloc), stv_hash(b, IW * 8, 0));
    keys[n].h = stv_hash(&C->lambda[i], sizeof(double), keys[n].h);
    keys[n].h = stv_hash(&tp->surplus_price, sizeof(double), keys[n].h);
    n++;
  }
  qsort(keys, n, sizeof(*keys), stv__cmp_shape_key);
  /* Equal hashes are checked field by field before sharing a shape. */
  for (i = 0; i < n; i++) {
    uint32_t ti = keys[i].ti;
    struct shape *sh = C->nsh ? &C->sh[C->nsh - 1] : NULL;
    int same = 0;
    if (sh != NULL && i > 0 && keys[i - 1].h == keys[i].h) {
      uint32_t r = C->sh_ti[sh->first];
      same = memcmp(S->ti[r].alloc, S->ti[ti].alloc, sizeof(S->ti[ti].alloc)) == 0 &&
             memcmp(&ibits[(size_t)r * IW], &ibits[(size_t)ti * IW], IW * 8) == 0 &&
             C->lambda[r] == C->lambda[ti] && shape_surplus(C, r) == shape_surplus(C, ti) &&
             shape_free_cpu(C, r) == shape_free_cpu(C, ti);
    }
    if (!same) {
      sh = &C->sh[C->nsh++];
      memset(sh, 0, sizeof(*sh));
      sh->first = (uint32_t)i;
      sh->lambda = C->lambda[ti];
      if (sh->lambda > C->lambda_max) C->lambda_max = sh->lambda;
      sh->surplus = shape_surplus(C, ti);
      sh->free_cpu = shape_free_cpu(C, ti);
    }
    C->sh_ti[i] = ti;
    sh->n++;
  }
  for (i = 0; i < C->nsh; i++) {
    struct shape *sh = &C->sh[i];
    const uint64_t *b = &ibits[(size_t)C->sh_ti[sh->first] * IW];
    sh->items = stv_arena_alloc(&S->a, (C->nit + 1) * sizeof(uint32_t));
    if (sh->items == NULL) {
      rc = STV_ENOMEM;
      goto out;
    }
    for (j = 0; j < C->nit; j++)
      if (BIT_GET(b, j)) sh->items[sh->nitems++] = (uint32_t)j;
    for (j = 0; j < sh->nitems && !sh->conflicts; j++) {
      size_t k;
      const uint64_t *anti = &S->anti_host[(size_t)C->it[sh->items[j]].cls * S->W];
      for (k = 0; k < sh->nitems; k++)
        if (k != j && BIT_GET(anti, C->it[sh->items[k]].cls)) sh->conflicts = 1;
    }
  }
out:
  stv_free(keys);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* The master LP                                                          */

static int limit_row_of(struct cg *C, uint32_t ti) {
  if (C->limit[ti] < 0) return 0;
  if (C->limit_row[ti] == 0) {
    int r = glp_add_rows(C->lp, 1);
    glp_set_row_bnds(C->lp, r, GLP_UP, 0.0, (double)C->limit[ti]);
    C->limit_row[ti] = r;
  }
  return C->limit_row[ti];
}

/* Diversification: x_pool - frac N <= STV_SPOT_POOL_GRACE (the fraction,
 * plus a few nodes, so that a small cluster may still use spot). */
static int pool_row_of(struct cg *C, uint32_t ti) {
  if (C->n_row_N == 0 || C->p->tmpl[C->S->ti[ti].t].capacity_type != STV_CT_SPOT) return 0;
  if (C->pool_row[ti] == 0) {
    int r = glp_add_rows(C->lp, 1), ind[2] = {0, C->n_col_N};
    double val[2] = {0, -C->frac};
    glp_set_row_bnds(C->lp, r, GLP_UP, 0.0, STV_SPOT_POOL_GRACE - C->frozen_pool[ti]);
    glp_set_mat_row(C->lp, r, 1, ind, val);
    C->pool_row[ti] = r;
  }
  return C->pool_row[ti];
}

uint64_t stv__pattern_hash(uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n) {
  uint64_t h = stv_hash(&ti, sizeof(ti), 0x5eed);
  h = stv_hash(pi, n * sizeof(uint32_t), h);
  h = stv_hash(pk, n * sizeof(uint32_t), h);
  return h ? h : 1;
}

/* 1 when a pattern of hash h is in the master. */
int stv__seen_lookup(const struct cg *C, uint64_t h) {
  size_t i;
  if (C->seen_cap == 0) return 0;
  for (i = h & (C->seen_cap - 1); C->seen[i]; i = (i + 1) & (C->seen_cap - 1))
    if (C->seen[i] == h) return 1;
  return 0;
}

/* 1 when the pattern was already in the master; otherwise records it. */
static int seen_before(struct cg *C, uint64_t h) {
  size_t i;
  if (C->seen_cap == 0 || (C->ncol + 1) * 2 > C->seen_cap) {
    size_t cap = C->seen_cap ? C->seen_cap * 2 : 1024, k;
    uint64_t *n = stv_calloc(cap, sizeof(uint64_t));
    if (n == NULL) return -1;
    for (k = 0; k < C->seen_cap; k++) {
      if (C->seen[k] == 0) continue;
      for (i = C->seen[k] & (cap - 1); n[i]; i = (i + 1) & (cap - 1)) {
      }
      n[i] = C->seen[k];
    }
    stv_free(C->seen);
    C->seen = n;
    C->seen_cap = cap;
  }
  for (i = h & (C->seen_cap - 1); C->seen[i]; i = (i + 1) & (C->seen_cap - 1))
    if (C->seen[i] == h) return 1;
  C->seen[i] = h;
  return 0;
}

/*
 * Adds a pattern (items pi, counts pk, n entries, sorted by item) on
 * template ti as a column. Returns its index, -1 when it was there already,
 * or a negative STV_ code.
 */
long stv__add_column(struct cg *C, uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n) {
  const struct stv_template *tp = &C->p->tmpl[C->S->ti[ti].t];
  int *ind = NULL, col, r, nz = 0;
  double *val = NULL;
  struct column *c;
  uint32_t q, pods = 0;
  int seen = seen_before(C, stv__pattern_hash(ti, pi, pk, n));
  if (seen < 0) return STV_ENOMEM;
  if (seen) return -1;
  if (stv_grow((void **)&C->col, &C->cap_col, C->ncol + 1, sizeof(*C->col)) != 0) return STV_ENOMEM;
  {
    size_t cap = C->cap_pat;
    if (stv_grow((void **)&C->pi, &cap, C->npat + n + 1, sizeof(uint32_t)) != 0) return STV_ENOMEM;
    cap = C->cap_pat;
    if (stv_grow((void **)&C->pk, &cap, C->npat + n + 1, sizeof(uint32_t)) != 0) return STV_ENOMEM;
    C->cap_pat = cap;
  }
  ind = stv_malloc((n + 6) * sizeof(int));
  val = stv_malloc((n + 6) * sizeof(double));
  if (ind == NULL || val == NULL) {
    stv_free(ind);
    stv_free(val);
    return STV_ENOMEM;
  }
  for (q = 0; q < n; q++) {
    ind[++nz] = C->it[pi[q]].row;
    val[nz] = pk[q];
    pods += pk[q];
    C->pi[C->npat + q] = pi[q];
    C->pk[C->npat + q] = pk[q];
  }
  if ((r = limit_row_of(C, ti)) != 0) {
    ind[++nz] = r;
    val[nz] = 1;
  }
  if (tp->capacity_type == STV_CT_SPOT && C->n_row_N) {
    ind[++nz] = C->n_row_N;
    val[nz] = 1;
    ind[++nz] = pool_row_of(C, ti);
    val[nz] = 1;
  }
  if (C->share_row) {
    ind[++nz] = C->share_row;
    val[nz] = tp->capacity_type == STV_CT_SPOT ? tp->price * (1 - C->share) : -C->share * tp->price;
  }
  col = glp_add_cols(C->lp, 1);
  c = &C->col[C->ncol];
  c->ti = ti;
  c->off = (uint32_t)C->npat;
  c->n = n;
  c->pods = pods;
  c->cost = stv__tinfo_cost(C->S, &C->S->ti[ti], stv__items_cpu(C, pi, pk, n)) + C->lambda[ti] * pods;
  c->heur = 0;
  glp_set_col_bnds(C->lp, col, GLP_LO, 0.0, 0.0);
  glp_set_obj_coef(C->lp, col, c->cost);
  glp_set_mat_col(C->lp, col, nz, ind, val);
  stv_free(ind);
  stv_free(val);
  C->npat += n;
  C->S->cg_columns++;
  return (long)C->ncol++;
}

/* Pattern columns are 1 + slack count + (N) ... in GLPK numbering: slack
 * columns first, then N, then patterns; this maps a pattern to its column. */
int stv__glp_col_of(const struct cg *C, size_t j) {
  return (int)(C->nit + (C->n_col_N ? 1 : 0) + j + 1);
}

int stv__setup_master(struct cg *C, const unsigned char *frozen_node) {
  size_t i;
  C->frozen_pool = stv_arena_alloc(&C->S->a, (C->S->nti + 1) * sizeof(double));
  if (C->frozen_pool == NULL) return STV_ENOMEM;
  for (i = 0; i < C->S->nnodes; i++) {
    const struct kept *k = &C->S->nodes[i];
    const struct stv_template *tp;
    if (k->existing >= 0 || !frozen_node[i]) continue;
    tp = &C->p->tmpl[C->S->ti[k->tmpl].t];
    C->frozen_cost += tp->price * k->mult;
    if (tp->capacity_type != STV_CT_SPOT) continue;
    C->frozen_pool[k->tmpl] += k->mult;
    C->frozen_spot += k->mult;
    C->frozen_spot_cost += tp->price * k->mult;
  }
  double maxp = 0;
  int has_spot = 0;
  C->lp = glp_create_prob();
  if (C->lp == NULL) return STV_ENOMEM;
  glp_set_obj_dir(C->lp, GLP_MIN);
  for (i = 0; i < C->S->nti; i++) {
    const struct stv_template *tp = &C->p->tmpl[C->S->ti[i].t];
    if (!C->usable[i]) continue;
    /* The dearest node: its price, node cost and, full, its surplus credits. */
    if (stv_template_cost(tp, tp->alloc[STV_RES_CPU]) > maxp) maxp = stv_template_cost(tp, tp->alloc[STV_RES_CPU]);
    if (tp->capacity_type == STV_CT_SPOT) has_spot = 1;
  }
  C->big = (maxp + 1) * 1000;
  glp_add_rows(C->lp, (int)C->nit);
  glp_add_cols(C->lp, (int)C->nit);
  for (i = 0; i < C->nit; i++) {
    int ind[2] = {0, (int)i + 1};
    double val[2] = {0, 1};
    C->it[i].row = (int)i + 1;
    glp_set_row_bnds(C->lp, (int)i + 1, GLP_LO, (double)C->it[i].demand, 0.0);
    /* Slack: a pod left unplaced, at a cost no plan pays. */
    glp_set_col_bnds(C->lp, (int)i + 1, GLP_LO, 0.0, 0.0);
    glp_set_obj_coef(C->lp, (int)i + 1, C->big);
    glp_set_mat_col(C->lp, (int)i + 1, 1, ind, val);
  }
  C->frac = C->p->spot.max_pool_fraction;
  C->share = C->p->spot.max_share;
  if (has_spot && C->frac < 1.0) {
    /* N = number of new spot nodes: sum of spot patterns - N = 0. */
    int ind[2] = {0, 0};
    double val[2] = {0, -1};
    C->n_col_N = glp_add_cols(C->lp, 1);
    glp_set_col_bnds(C->lp, C->n_col_N, GLP_LO, 0.0, 0.0);
    C->n_row_N = glp_add_rows(C->lp, 1);
    glp_set_row_bnds(C->lp, C->n_row_N, GLP_FX, -C->frozen_spot, -C->frozen_spot);
    ind[1] = C->n_col_N;
    glp_set_mat_row(C->lp, C->n_row_N, 1, ind, val);
  }
  if (has_spot && C->share < 1.0) {
    C->share_row = glp_add_rows(C->lp, 1);
    glp_set_row_bnds(C->lp, C->share_row, GLP_UP, 0.0, -(C->frozen_spot_cost - C->share * C->frozen_cost));
  }
  return 0;
}

/* The heuristic's new nodes (not frozen) become the first columns (items
 * by group, or by class when C->items_by_class). */
int stv__seed_columns(struct cg *C, const unsigned char *frozen_node) {
  struct solve *S = C->S;
  uint32_t *pi = stv_malloc((C->nit + 1) * sizeof(uint32_t)),
           *pk = stv_malloc((C->nit + 1) * sizeof(uint32_t));
  uint32_t *dense = stv_calloc(C->nit + 1, sizeof(uint32_t));
  size_t i;
  int rc = 0;
  if (pi == NULL || pk == NULL || dense == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i < S->nnodes; i++) {
    const struct kept *k = &S->nodes[i];
    uint32_t q, n = 0, j;
    long col;
    if (k->existing >= 0 || frozen_node[i]) continue;
    for (q = 0; q < k->npat; q++)
      dense[C->item_of_group[C->items_by_class ? S->g[k->g[q]].cls : k->g[q]]] += k->k[q];
    for (j = 0; j < C->nit; j++)
      if (dense[j]) {
        pi[n] = j;
        pk[n++] = dense[j];
        dense[j] = 0;
      }
    col = stv__add_column(C, (uint32_t)k->tmpl, pi, pk, n);
    if (col < -1) {
      rc = (int)col;
      goto out;
    }
    if (col == -1) { /* the same pattern again: find it */
      size_t c;
      for (c = 0; c < C->ncol; c++)
        if (C->col[c].ti == (uint32_t)k->tmpl && C->col[c].n == n &&
            memcmp(&C->pi[C->col[c].off], pi, n * sizeof(uint32_t)) == 0 &&
            memcmp(&C->pk[C->col[c].off], pk, n * sizeof(uint32_t)) == 0)
          break;
      if (c < C->ncol) C->col[c].heur += k->mult;
    } else {
      C->col[col].heur += k->mult;
    }
  }
out:
  stv_free(pi);
  stv_free(pk);
  stv_free(dense);
  return rc;
}
