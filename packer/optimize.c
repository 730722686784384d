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
 * The answer is never worse than the heuristic's (stv_optimize compares the
 * two finished plans) and always feasible (the heuristic's final rule check
 * runs on it as on any plan).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "pack_internal.h"

#define HOURS_PER_MONTH 730.0
#define RC_EPS          1e-6
#define KNAP_NODES      20000L  /* search nodes per pricing problem */
#define MAX_ROUNDS      500     /* column generation rounds */
#define MAX_COLUMNS     100000L /* patterns kept in the master */
#define ADD_PER_ROUND   64      /* best patterns added per round */
#define KBEST           8       /* patterns kept per pricing problem */
#define PARTIAL_SHAPES  48      /* shapes priced per round while columns come */
#define SMOOTH          0.5     /* weight of the previous duals (stabilisation) */

void stv_spot_policy_default(struct stv_spot_policy *sp) {
  sp->restart_cost = STV_SPOT_RESTART_COST_DEFAULT;
  sp->max_share = STV_SPOT_MAX_SHARE_DEFAULT;
  sp->max_pool_fraction = STV_SPOT_MAX_POOL_FRACTION_DEFAULT;
}

/* Expected interruption cost per pod-hour on template t. */
static double spot_penalty(const struct stv_problem *p, const struct stv_template *t) {
  if (t->capacity_type != STV_CT_SPOT || t->interruption_rate <= 0 || p->spot.restart_cost <= 0) return 0;
  return t->interruption_rate / HOURS_PER_MONTH * p->spot.restart_cost;
}

/* A row of the master: one group's pods still to place. */
struct item {
  uint32_t g;
  uint32_t cls;
  uint32_t demand;
  uint32_t cap; /* per node; UINT32_MAX = no hostname limit */
  uint32_t resid; /* demand not yet met by fixed patterns (diving) */
  int row;
};

/* Templates that price alike. */
struct shape {
  uint32_t first, n; /* range in cg.sh_ti */
  double lambda;     /* spot penalty per pod */
  uint32_t *items;   /* items it may hold */
  uint32_t nitems;
  int conflicts; /* some pair of its items repel each other */
  double gain;   /* scratch: how promising this round */
};

struct column {
  uint32_t ti;
  uint32_t off, n; /* entries in cg.pi/pk */
  uint32_t pods;
  double cost; /* effective: price + penalty x pods */
  double heur; /* copies in the heuristic's solution */
};

struct cg {
  struct solve *S;
  const struct stv_problem *p;
  size_t W;
  struct item *it;
  size_t nit;
  uint32_t *item_of_group;
  uint32_t *sh_ti;
  struct shape *sh;
  size_t nsh;
  int64_t *limit;  /* per tinfo: count left for the optimizer, -1 = any */
  int *limit_row;  /* per tinfo: 0 = none yet */
  int *pool_row;   /* per tinfo (spot): 0 = none yet */
  double *lambda;  /* per tinfo */
  unsigned char *usable; /* per tinfo: in some shape */
  struct column *col;
  size_t ncol, cap_col;
  uint32_t *pi, *pk; /* pattern entries: item, count */
  size_t npat, cap_pat;
  uint64_t *seen; /* pattern hashes, open addressing (0 = empty) */
  size_t seen_cap;
  glp_prob *lp;
  int n_col_N, n_row_N, share_row;
  /* Spot nodes kept aside (frozen) count against the same limits. */
  double *frozen_pool;            /* per tinfo */
  double frozen_spot, frozen_spot_cost, frozen_cost;
  double frac, share;
  double big; /* cost of one unplaced pod (slack) */
  double lambda_max;
  int timed;
  double deadline;
  /* knapsack scratch */
  uint32_t *kidx, *kcnt, *kbest, *ku;
  double *kval, *ksize, *suf_val, *suf_s, *suf_r;
  int64_t rem[STV_MAX_RES];
  int64_t cap[STV_MAX_RES];
  uint64_t *kpres;
  uint32_t kn;
  double kcur, kbest_val;
  uint32_t *ksol;        /* KBEST patterns, kn counts each */
  double ksolv[KBEST];
  int nksol;
  double kneed;          /* a pattern is worth keeping above this value */
  long knodes;
  long klimit; /* search nodes allowed per pricing problem */
  int proving; /* the root LP: pricing searched deeper, for a bound */
  int kexact, kconf;
  /* the best integer solution found */
  double *xbest;
  size_t nxbest; /* patterns it covers (later ones are 0) */
  /* Kept here, not on cg_run's stack, so that stv__optimize frees them
   * even when a GLPK error never lets cg_run return. */
  unsigned char *frozen_node;
  double *xd, *xm, *xg;
};

static double now_s(const struct cg *C) { return C->p->clock ? C->p->clock() : 0; }

static int out_of_time(const struct cg *C) { return C->timed && now_s(C) >= C->deadline; }

/* Hands one line to the caller's trace callback, when there is one. */
static void trace(const struct cg *C, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(const struct cg *C, const char *fmt, ...) {
  char line[512];
  va_list ap;
  if (C->p->trace == NULL) return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  C->p->trace(C->p->trace_ctx, line);
}

/* ---------------------------------------------------------------------- */
/* Set-up                                                                 */

/* Classes whose pods must stay where the heuristic put them. */
static int class_frozen(const struct solve *S, uint32_t c) {
  if (BIT_GET(S->aff_host_any, c) || BIT_GET(S->spread_host_owner, c)) return 1;
  return S->rules_counting[c][0] != UINT32_MAX;
}

static int setup_items(struct cg *C, unsigned char *frozen_node) {
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
    C->item_of_group[i] = (uint32_t)n++;
  }
  C->nit = n;
  stv_free(demand);
  return 0;
}

struct shape_key {
  uint32_t ti;
  uint64_t h;
};

static int cmp_shape_key(const void *a, const void *b) {
  const struct shape_key *x = a, *y = b;
  if (x->h != y->h) return x->h < y->h ? -1 : 1;
  return x->ti < y->ti ? -1 : x->ti > y->ti;
}

/* Groups the usable templates into shapes. */
static int setup_shapes(struct cg *C, const unsigned char *frozen_node) {
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
  if (!ibits || !keys || !C->limit || !C->limit_row || !C->pool_row || !C->lambda || !C->usable || !C->sh_ti ||
      !C->sh) {
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
    C->lambda[i] = spot_penalty(C->p, tp);
    if (C->limit[i] == 0) continue;
    /* A dominated template is never needed, unless the spot penalty or
     * limits could make the template that dominates it the worse choice. */
    if (t->dominated && !policy && C->lambda[i] == 0) continue;
    for (j = 0; j < C->nit; j++) {
      const struct item *it = &C->it[j];
      int32_t z = S->g[it->g].zone;
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
    n++;
  }
  qsort(keys, n, sizeof(*keys), cmp_shape_key);
  /* Equal hashes are checked field by field before sharing a shape. */
  for (i = 0; i < n; i++) {
    uint32_t ti = keys[i].ti;
    struct shape *sh = C->nsh ? &C->sh[C->nsh - 1] : NULL;
    int same = 0;
    if (sh != NULL && i > 0 && keys[i - 1].h == keys[i].h) {
      uint32_t r = C->sh_ti[sh->first];
      same = memcmp(S->ti[r].alloc, S->ti[ti].alloc, sizeof(S->ti[ti].alloc)) == 0 &&
             memcmp(&ibits[(size_t)r * IW], &ibits[(size_t)ti * IW], IW * 8) == 0 &&
             C->lambda[r] == C->lambda[ti];
    }
    if (!same) {
      sh = &C->sh[C->nsh++];
      memset(sh, 0, sizeof(*sh));
      sh->first = (uint32_t)i;
      sh->lambda = C->lambda[ti];
      if (sh->lambda > C->lambda_max) C->lambda_max = sh->lambda;
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

static uint64_t pattern_hash(uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n) {
  uint64_t h = stv_hash(&ti, sizeof(ti), 0x5eed);
  h = stv_hash(pi, n * sizeof(uint32_t), h);
  h = stv_hash(pk, n * sizeof(uint32_t), h);
  return h ? h : 1;
}

/* 1 when a pattern of hash h is in the master. */
static int seen_lookup(const struct cg *C, uint64_t h) {
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
static long add_column(struct cg *C, uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n) {
  const struct stv_template *tp = &C->p->tmpl[C->S->ti[ti].t];
  int *ind = NULL, col, r, nz = 0;
  double *val = NULL;
  struct column *c;
  uint32_t q, pods = 0;
  int seen = seen_before(C, pattern_hash(ti, pi, pk, n));
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
  c->cost = tp->price + C->lambda[ti] * pods;
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
static int glp_col_of(const struct cg *C, size_t j) { return (int)(C->nit + (C->n_col_N ? 1 : 0) + j + 1); }

static int setup_master(struct cg *C, const unsigned char *frozen_node) {
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
    if (tp->price > maxp) maxp = tp->price;
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
    glp_set_row_bnds(C->lp, C->share_row, GLP_UP, 0.0,
                     -(C->frozen_spot_cost - C->share * C->frozen_cost));
  }
  return 0;
}

/* The heuristic's new nodes (not frozen) become the first columns. */
static int seed_columns(struct cg *C, const unsigned char *frozen_node) {
  struct solve *S = C->S;
  uint32_t *pi = stv_malloc((C->nit + 1) * sizeof(uint32_t)), *pk = stv_malloc((C->nit + 1) * sizeof(uint32_t));
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
    for (q = 0; q < k->npat; q++) dense[C->item_of_group[k->g[q]]] += k->k[q];
    for (j = 0; j < C->nit; j++)
      if (dense[j]) {
        pi[n] = j;
        pk[n++] = dense[j];
        dense[j] = 0;
      }
    col = add_column(C, (uint32_t)k->tmpl, pi, pk, n);
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
static double knap_threshold(const struct cg *C) { return C->kbest_val > C->kneed ? C->kbest_val : C->kneed; }

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
  if (maxk > 0 && C->kconf && stv__bits_intersect(&S->anti_host[(size_t)C->it[item].cls * S->W], C->kpres, S->W))
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
 * The current knapsack (C->kidx.. with C->ku, C->kval, C->cap) handed to
 * GLPK: its LP relaxation (integer = 0), an upper bound on every pattern's
 * value, or the integer problem (integer = 1, branch and bound, at most
 * KNAP_MIP_MS), whose optimum is written to C->kcnt. Returns 1 with *value
 * when solved to optimality, 0 otherwise (also on ENOMEM: a bound is an
 * optimisation only). Pairwise conflicts are not modelled: callers use the
 * integer form only without them.
 */
#define KNAP_MIP_MS 200

static int knap_glpk(struct cg *C, int integer, double *value) {
  struct solve *S = C->S;
  glp_prob *lp = glp_create_prob();
  size_t nn = (size_t)C->kn * (size_t)S->ndim + 1;
  int *ia = stv_malloc(nn * sizeof(int)), *ja = stv_malloc(nn * sizeof(int));
  double *ar = stv_malloc(nn * sizeof(double));
  int r, nz = 0, ok = 0;
  uint32_t i;
  if (lp == NULL || ia == NULL || ja == NULL || ar == NULL || C->kn == 0) goto out;
  glp_set_obj_dir(lp, GLP_MAX);
  glp_add_rows(lp, S->ndim);
  glp_add_cols(lp, (int)C->kn);
  for (r = 0; r < S->ndim; r++) {
    if (C->cap[r] > 0)
      glp_set_row_bnds(lp, r + 1, GLP_UP, 0.0, (double)C->cap[r]);
    else
      glp_set_row_bnds(lp, r + 1, GLP_FR, 0.0, 0.0);
  }
  for (i = 0; i < C->kn; i++) {
    const struct stv_class *c = S->s->classes[C->it[C->kidx[i]].cls];
    glp_set_col_bnds(lp, (int)i + 1, C->ku[i] > 0 ? GLP_DB : GLP_FX, 0.0, (double)C->ku[i]);
    glp_set_obj_coef(lp, (int)i + 1, C->kval[i]);
    if (integer) glp_set_col_kind(lp, (int)i + 1, GLP_IV);
    for (r = 0; r < S->ndim; r++) {
      if (c->req[r] <= 0 || C->cap[r] <= 0) continue;
      nz++;
      ia[nz] = r + 1;
      ja[nz] = (int)i + 1;
      ar[nz] = (double)c->req[r];
    }
  }
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
  } else {
    glp_iocp parm;
    glp_init_iocp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    parm.presolve = GLP_ON;
    parm.tm_lim = KNAP_MIP_MS;
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
 * The best patterns of shape sh for the item values y (per item; the
 * shape's spot penalty is taken off each pod) worth more than need: up to
 * KBEST of them, pattern j written to pi/pk from j x (nit + 1) with n[j]
 * entries sorted by item. Returns how many (negative on ENOMEM); *ub is an
 * upper bound on any pattern's value.
 */
static int knapsack(struct cg *C, const struct shape *sh, const double *y, double need, uint32_t *pi, uint32_t *pk,
                    uint32_t *n, double *ub) {
  struct solve *S = C->S;
  const struct tinfo *t = &S->ti[C->sh_ti[sh->first]];
  struct kitem_sort *ks = stv_malloc((sh->nitems + 1) * sizeof(*ks));
  uint32_t i, m = 0;
  int r, ndim = S->ndim;
  int j, npat;
  *ub = 0;
  if (ks == NULL) return -1;
  for (r = 0; r < ndim; r++) C->cap[r] = C->rem[r] = t->alloc[r];
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
  *ub = knap_bound(C, 0);
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
    for (i = 0; i < m && v < *ub; i++) {
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
    if (v < *ub) *ub = v;
  }
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
  npat = C->nksol;
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
  stv_free(ks);
  return npat;
}

/* The non-item part of a column's reduced cost on template ti. */
static double fixed_cost(const struct cg *C, uint32_t ti) {
  const struct stv_template *tp = &C->p->tmpl[C->S->ti[ti].t];
  double k = tp->price;
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
 * One pricing pass with item values yv (smoothed or true). Patterns are
 * judged by their reduced cost under the true duals y; the best
 * 2 x ADD_PER_ROUND go to cand (patterns in pi/pk). With yv == y, *minrc
 * is a lower bound on every pattern's reduced cost and *exact says whether
 * every pricing problem was solved to the end.
 */
static int price(struct cg *C, const double *yv, const double *y, struct shape **order, struct cand *cand,
                 size_t *ncand, uint32_t *pi, uint32_t *pk, uint32_t *tpi, uint32_t *tpk, double *minrc, int *exact,
                 int *cut, double *theta) {
  size_t s, W1 = C->nit + 1;
  uint32_t tn[KBEST];
  *ncand = 0;
  *minrc = 0;
  *exact = 1;
  *cut = 0;
  *theta = 1;
  /* Shapes by promise: the cheapest fixed cost against a quick bound. */
  for (s = 0; s < C->nsh; s++) {
    struct shape *sh = &C->sh[s];
    uint32_t q;
    double kmin = INFINITY, vb = 0;
    for (q = 0; q < sh->n; q++) {
      double k = fixed_cost(C, C->sh_ti[sh->first + q]);
      if (k < kmin) kmin = k;
    }
    for (q = 0; q < sh->nitems; q++) {
      const struct item *it = &C->it[sh->items[q]];
      double v = yv[sh->items[q]] - sh->lambda;
      if (v > 0) vb += v * (double)(it->cap < it->resid ? it->cap : it->resid);
    }
    sh->gain = vb - kmin;
    order[s] = sh;
  }
  qsort(order, C->nsh, sizeof(*order), cmp_gain);
  for (s = 0; s < C->nsh; s++) {
    struct shape *sh = order[s];
    uint32_t q, best_ti = 0;
    double kmin = INFINITY, ub, pmin = INFINITY;
    int np, j;
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
      double k = fixed_cost(C, ti), pr = C->p->tmpl[C->S->ti[ti].t].price;
      if (k < kmin) {
        kmin = k;
        best_ti = ti;
      }
      if (pr < pmin) pmin = pr;
    }
    np = knapsack(C, sh, yv, kmin + RC_EPS * (1 + fabs(kmin)), tpi, tpk, tn, &ub);
    if (np < 0) return STV_ENOMEM;
    if (!C->kexact) *exact = 0;
    if (kmin - ub < *minrc) *minrc = kmin - ub;
    if (!C->kexact && C->klimit > KNAP_NODES)
      trace(C, "  unfinished pricing: %s (%u pods kinds), fixed %.4f, best %.4f, bound %.4f",
            C->p->tmpl[C->S->ti[best_ti].t].instance_type, sh->nitems, kmin, C->kbest_val, ub);
    if (kmin - ub < 0) { /* Farley: the duals scaled by theta stay feasible */
      double t = pmin > 0 ? pmin / (pmin - (kmin - ub)) : 0;
      if (t < *theta) *theta = t;
    }
    for (j = 0; j < np; j++) {
      const uint32_t *qi = &tpi[(size_t)j * W1], *qk = &tpk[(size_t)j * W1];
      double r = kmin, rt = 0;
      size_t at = *ncand;
      (void)rt;
      for (q = 0; q < tn[j]; q++) r -= qk[q] * (y[qi[q]] - sh->lambda);
      if (!(r < -RC_EPS * (1 + fabs(kmin))) || tn[j] == 0) continue;
      /* Already in the master: its reduced cost is the LP's tolerance. */
      if (seen_lookup(C, pattern_hash(best_ti, qi, qk, tn[j]))) continue;
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
    if (out_of_time(C)) {
      *exact = 0;
      *cut = 1;
      *minrc = -INFINITY;
      break;
    }
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
static int generate(struct cg *C, int *converged, double *lb) {
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
      if ((rc = price(C, ys, y, order, cand, &ncand, pi, pk, tpi, tpk, &minrc, &exact, &cut, &theta)) != 0) goto out;
    }
    if (ncand == 0) { /* no smoothing, or it mispriced: the true duals */
      truthful = 1;
      /* Under the true duals the search may go further: a finished one proves. */
      C->klimit = C->proving ? deep * KNAP_NODES : KNAP_NODES;
      if ((rc = price(C, y, y, order, cand, &ncand, pi, pk, tpi, tpk, &minrc, &exact, &cut, &theta)) != 0) goto out;
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
    trace(C, "round %d: z %.6f, %zu candidates, best rc %.6g, minrc %.6g, exact %d, true %d", round, z, ncand,
          ncand ? cand[0].rc : 0.0, minrc, exact, truthful);
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
    qsort(cand, ncand, sizeof(*cand), cmp_cand);
    if (ncand > ADD_PER_ROUND) ncand = ADD_PER_ROUND;
    st = 0;
    for (i = 0; i < ncand; i++) {
      long col = add_column(C, cand[i].ti, &pi[cand[i].off], &pk[cand[i].off], cand[i].n);
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

/* ---------------------------------------------------------------------- */
/* Residual greedy: whole LP counts, then the best-valued node at a time   */

static long find_column(const struct cg *C, uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n) {
  size_t c;
  for (c = C->ncol; c-- > 0;)
    if (C->col[c].ti == ti && C->col[c].n == n && memcmp(&C->pi[C->col[c].off], pi, n * sizeof(uint32_t)) == 0 &&
        memcmp(&C->pk[C->col[c].off], pk, n * sizeof(uint32_t)) == 0)
      return (long)c;
  return -1;
}

/*
 * Rounds the current LP solution down, then covers what is left one node
 * at a time: for every shape the most valuable pattern of the remaining
 * pods (valued at their LP duals, plus a little for their size so that
 * pods the LP over-covered still count), the best value per price wins.
 * Returns a solution (per pattern) or NULL.
 */
static double *residual_greedy(struct cg *C, int *rcp) {
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
    floors[j] = floor(glp_get_col_prim(C->lp, glp_col_of(C, j)) + 1e-6);
    for (q = 0; q < C->col[j].n && floors[j] > 0; q++) {
      struct item *it = &C->it[C->pi[C->col[j].off + q]];
      double cover = floors[j] * C->pk[C->col[j].off + q];
      it->resid = cover >= it->resid ? 0 : it->resid - (uint32_t)cover;
    }
  }
  /* Rounding down can leave a spot pool over its share of fewer spot
   * nodes: take nodes off such pools until every one keeps its limit. */
  if (C->n_row_N) {
    double *pool = stv_calloc(C->S->nti + 1, sizeof(double)), nspot = 0;
    int again = 1;
    if (pool == NULL) {
      *rcp = STV_ENOMEM;
      goto out;
    }
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
  }
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
    double best_score = -1;
    uint32_t best_ti = 0, best_n = 0, *bi = stv_malloc(W1 * sizeof(uint32_t)), *bk = stv_malloc(W1 * sizeof(uint32_t));
    size_t s;
    long col;
    if (bi == NULL || bk == NULL) {
      stv_free(bi);
      stv_free(bk);
      *rcp = STV_ENOMEM;
      goto out;
    }
    for (s = 0; s < C->nsh; s++) {
      const struct shape *sh = &C->sh[s];
      uint32_t q, ti = 0;
      double price = INFINITY, ub;
      int np, k, bestk = -1;
      double bestv = 0;
      for (q = 0; q < sh->n; q++) {
        uint32_t t = C->sh_ti[sh->first + q];
        double pr = C->p->tmpl[C->S->ti[t].t].price;
        if (C->limit[t] >= 0) continue; /* counted ones are the LP's to use */
        /* Under a spot pool limit, the greedy finish buys no spot. */
        if (C->n_row_N && C->p->tmpl[C->S->ti[t].t].capacity_type == STV_CT_SPOT) continue;
        if (pr < price) {
          price = pr;
          ti = t;
        }
      }
      if (price == INFINITY) continue;
      np = knapsack(C, sh, v, 0, tpi, tpk, tn, &ub);
      if (np < 0) {
        stv_free(bi);
        stv_free(bk);
        *rcp = STV_ENOMEM;
        goto out;
      }
      for (k = 0; k < np; k++)
        if (C->ksolv[k] > bestv) {
          bestv = C->ksolv[k];
          bestk = k;
        }
      if (bestk < 0) continue;
      {
        double score = bestv / (price + sh->lambda + 1e-9);
        if (score > best_score) {
          best_score = score;
          best_ti = ti;
          best_n = tn[bestk];
          memcpy(bi, &tpi[(size_t)bestk * W1], best_n * sizeof(uint32_t));
          memcpy(bk, &tpk[(size_t)bestk * W1], best_n * sizeof(uint32_t));
        }
      }
    }
    if (best_score < 0 || best_n == 0) {
      stv_free(bi);
      stv_free(bk);
      goto out; /* nothing fits what is left */
    }
    col = add_column(C, best_ti, bi, bk, best_n);
    if (col < -1) {
      *rcp = (int)col;
      stv_free(bi);
      stv_free(bk);
      goto out;
    }
    if (col == -1) col = find_column(C, best_ti, bi, bk, best_n);
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
static double *mip(struct cg *C, const double *x0, double stop_at, int *rcp);

#define DIVE_BACKTRACKS 40

/*
 * strategy 0 rounds up the count closest to its next whole number, with
 * backtracking; 1 the largest count, without.
 */
static int dive(struct cg *C, double stop_at, int strategy, double **xout, int *rcp) {
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
    if ((*rcp = generate(C, &conv, &lb)) != 0) break;
    if (glp_get_status(C->lp) != GLP_OPT) break;
    /*
     * Rounding that pushed the LP past what the bound allows cannot end at
     * the bound: undo it and round another pattern instead (a few times).
     */
    if (strategy == 0 && last >= 0 && glp_get_obj_val(C->lp) > stop_at && backtracks < DIVE_BACKTRACKS) {
      glp_set_col_bnds(C->lp, glp_col_of(C, (size_t)last), GLP_LO, last_lo, 0.0);
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
      if ((*rcp = generate(C, &conv, &lb)) != 0) break;
      if (glp_get_status(C->lp) != GLP_OPT) break;
    }
    for (j = 0; j < C->nit; j++)
      if (glp_get_col_prim(C->lp, (int)j + 1) > 1e-6) integral = 0;
    if (!integral) break; /* pods no pattern can place: give up */
    for (j = 0; j < C->ncol; j++) {
      int col = glp_col_of(C, j);
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
      for (j = 0; j < C->ncol; j++) (*xout)[j] = floor(glp_get_col_prim(C->lp, glp_col_of(C, j)) + 0.5);
      found = 1;
      break;
    }
    trace(C, "dive %d: z %.6f, floors fixed %d, largest fractional %.4f", step, glp_get_obj_val(C->lp), fixed,
          bestv);
    if (!fixed && !tried_mip) {
      /* What the whole counts leave is small: branch and bound it. */
      double end = C->deadline;
      tried_mip = 1;
      if (C->timed) C->deadline = now_s(C) + 0.5 * (end - now_s(C));
      *xout = mip(C, NULL, stop_at, rcp);
      C->deadline = end;
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
        int col = glp_col_of(C, j);
        double x = glp_get_col_prim(C->lp, col), f = floor(x + 1e-6);
        if (x - f >= 0.75 && !(j < ntabu && tabu[j]) && (long)j != best) {
          glp_set_col_bnds(C->lp, col, GLP_LO, f + 1, 0.0);
          many = 1;
        }
      }
      if (many) fixed = 1;
    }
    if (!fixed && best >= 0) {
      int col = glp_col_of(C, (size_t)best);
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
      double lo = glp_get_col_lb(C->lp, glp_col_of(C, j));
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
  for (j = 0; j < C->ncol; j++) glp_set_col_bnds(C->lp, glp_col_of(C, j), GLP_LO, 0.0, 0.0);
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
    if (glp_mip_obj_val(glp_ios_get_prob(tree)) <= m->stop_at) glp_ios_terminate(tree);
    break;
  default:
    break;
  }
  if (glp_ios_reason(tree) == GLP_ISELECT && ++m->selects > MIP_NODES) glp_ios_terminate(tree);
  if (out_of_time(m->C)) glp_ios_terminate(tree);
}

/* 1 when every pattern cost is a whole number (unit prices, benchmarks). */
static int integral_costs(const struct cg *C) {
  size_t j;
  for (j = 0; j < C->ncol; j++)
    if (fabs(C->col[j].cost - floor(C->col[j].cost + 0.5)) > 1e-9) return 0;
  return 1;
}

/* Whether x (per pattern) meets every row of the master. */
static int solution_ok(const struct cg *C, const double *x) {
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

static double solution_cost(const struct cg *C, const double *x) {
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
static double *mip(struct cg *C, const double *x0, double stop_at, int *rcp) {
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
    glp_set_col_kind(C->lp, glp_col_of(C, k), GLP_IV);
    if (x0 == NULL) continue;
    seed[glp_col_of(C, k)] = x0[k];
    if (C->n_col_N && C->p->tmpl[C->S->ti[C->col[k].ti].t].capacity_type == STV_CT_SPOT) seed[C->n_col_N] += x0[k];
  }
  memset(&m, 0, sizeof(m));
  m.C = C;
  m.x0 = x0 != NULL ? seed : NULL;
  m.stop_at = stop_at;
  glp_init_iocp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.cb_func = mip_callback;
  parm.cb_info = &m;
  parm.mip_gap = 1e-4;
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
    for (k = 0; k < C->ncol && x != NULL; k++) x[k] = floor(glp_mip_col_val(C->lp, glp_col_of(C, k)) + 0.5);
  }
out:
  stv_free(seed);
  return x;
}

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
 * The solve proper, run under stv__glpk_run: C (arg) is set up; fills
 * C->S's results and, when it finds a cheaper plan, applies it. Returns 0,
 * STV_ENOMEM, or never when GLPK fails (see stv__glpk_run).
 */
static int cg_run(void *arg) {
  struct cg *C = arg;
  const unsigned char *frozen_node = C->frozen_node;
  int rc = 0, converged = 0;
  double lb = -1;
  if ((rc = setup_master(C, frozen_node)) != 0 || (rc = seed_columns(C, frozen_node)) != 0) return rc;
  {
    /* The root LP gets half the time; the integer plan needs the rest. */
    double end = C->deadline;
    if (C->timed) C->deadline = now_s(C) + 0.5 * (end - now_s(C));
    C->proving = 1;
    rc = generate(C, &converged, &lb);
    C->proving = 0;
    C->klimit = KNAP_NODES; /* the integer plan needs columns, not proofs */
    C->deadline = end;
    if (rc != 0) return rc;
  }
  C->S->cg_converged = converged;
  /* A pod no pattern could place means the LP leaned on slack: no bound. */
  {
    glp_smcp sp;
    size_t i;
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    if (glp_simplex(C->lp, &sp) != 0 || glp_get_status(C->lp) != GLP_OPT) lb = -1;
    for (i = 0; i < C->nit && lb > 0; i++)
      if (glp_get_col_prim(C->lp, (int)i + 1) > 1e-6) lb = -1;
  }
  if (lb > 0 && bound_is_global(C, frozen_node)) {
    /* From effective to real prices: at most the spot penalty of every pod. */
    double pods = 0, b;
    size_t i;
    for (i = 0; i < C->nit; i++) pods += C->it[i].demand;
    b = lb * (1 - 1e-9) - C->lambda_max * pods;
    if (b > 0) C->S->cg_bound = b;
  }
  {
    double stop_at, hc = heuristic_cost(C), best;
    size_t k;
    glp_smcp sp;
    /* The heuristic's nodes are a solution of the master, unless spot limits
     * may reject them. */
    int heur_ok = !(C->n_row_N || C->share_row);
    /* Stop as soon as the bound is met: rounded up when costs are whole. */
    stop_at = lb > 0 ? (integral_costs(C) ? ceil(lb - 1e-6) + 1e-6 : lb * (1 + 1e-6)) : -INFINITY;
    if (heur_ok && hc <= stop_at) return rc; /* the heuristic is optimal already */
    best = heur_ok ? hc : INFINITY;
    /* 1. Whole LP counts and a greedy finish, from the root LP. */
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    glp_simplex(C->lp, &sp);
    trace(C, "phase: root done at %.3f, lp status %d", now_s(C), glp_get_status(C->lp));
    C->xg = residual_greedy(C, &rc);
    trace(C, "phase: greedy done at %.3f: %s", now_s(C),
          C->xg ? (solution_ok(C, C->xg) ? "ok" : "breaks a row") : "none");
    if (rc != 0) goto done;
    if (C->xg != NULL && solution_ok(C, C->xg) && solution_cost(C, C->xg) < best - 1e-9) {
      best = solution_cost(C, C->xg);
      C->xbest = C->xg;
      C->nxbest = C->ncol;
      C->xg = NULL;
    }
    /* 2. Diving, two ways, with part of what is left. */
    for (k = 0; k < 2 && best > stop_at && !out_of_time(C); k++) {
      double end = C->deadline;
      if (C->timed) C->deadline = now_s(C) + (k == 0 ? 0.6 : 0.5) * (end - now_s(C));
      dive(C, stop_at, (int)k, &C->xd, &rc);
      C->deadline = end;
      if (rc != 0) goto done;
      if (C->xd != NULL && solution_ok(C, C->xd) && solution_cost(C, C->xd) < best - 1e-9) {
        best = solution_cost(C, C->xd);
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
      C->xm = mip(C, x0 ? x0 : heur, stop_at, &rc);
      stv_free(x0);
      stv_free(heur);
      if (rc != 0) goto done;
      if (C->xm != NULL && solution_ok(C, C->xm) && solution_cost(C, C->xm) < best - 1e-9) {
        best = solution_cost(C, C->xm);
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

int stv__optimize(struct solve *S) {
  struct cg C;
  unsigned char *frozen_node = NULL;
  int rc = 0;
  double start;
  size_t km;
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
  if ((rc = setup_items(&C, frozen_node)) != 0 || C.nit == 0) goto out;
  if ((rc = setup_shapes(&C, frozen_node)) != 0) goto out;
  km = C.nit + 1;
  C.kidx = stv_arena_alloc(&S->a, km * sizeof(uint32_t));
  C.kcnt = stv_arena_alloc(&S->a, km * sizeof(uint32_t));
  C.kbest = stv_arena_alloc(&S->a, km * sizeof(uint32_t));
  C.ksol = stv_arena_alloc(&S->a, km * KBEST * sizeof(uint32_t));
  C.ku = stv_arena_alloc(&S->a, km * sizeof(uint32_t));
  C.kval = stv_arena_alloc(&S->a, km * sizeof(double));
  C.ksize = stv_arena_alloc(&S->a, km * sizeof(double));
  C.suf_val = stv_arena_alloc(&S->a, (km + 1) * sizeof(double));
  C.suf_s = stv_arena_alloc(&S->a, (km + 1) * sizeof(double));
  C.suf_r = stv_arena_alloc(&S->a, (km + 1) * (size_t)STV_MAX_RES * sizeof(double));
  C.kpres = stv_arena_alloc(&S->a, S->W * 8 + 8);
  if (!C.kidx || !C.kcnt || !C.kbest || !C.ksol || !C.ku || !C.kval || !C.ksize || !C.suf_val || !C.suf_s ||
      !C.suf_r || !C.kpres) {
    rc = STV_ENOMEM;
    goto out;
  }
  rc = stv__glpk_run(cg_run, &C, S->err);
  /* After a GLPK error its environment, the master LP with it, is gone. */
  if (rc == STV_ESOLVER) C.lp = NULL;
out:
  if (C.lp != NULL) glp_delete_prob(C.lp);
  stv_free(C.col);
  stv_free(C.pi);
  stv_free(C.pk);
  stv_free(C.seen);
  stv_free(C.xbest);
  stv_free(C.xd);
  stv_free(C.xm);
  stv_free(C.xg);
  stv_free(frozen_node);
  return rc;
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

/* ---------------------------------------------------------------------- */
/* The public entry                                                       */

/* Effective cost of a finished plan's new nodes: price plus spot penalty. */
static double plan_effective_cost(const struct stv_problem *p, const struct stv_plan *plan) {
  size_t i;
  double c = 0;
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    if (pn->existing >= 0) continue;
    c += p->tmpl[pn->tmpl].price + spot_penalty(p, &p->tmpl[pn->tmpl]) * pn->npods;
  }
  return c;
}

/* Whether a plan's new spot nodes keep within the spot policy. */
int stv_plan_spot_ok(const struct stv_problem *p, const struct stv_plan *plan) {
  size_t i, j, nspot = 0;
  double spot = 0, all = 0;
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
  for (i = 0; i < plan->nnodes; i++) {
    const struct stv_plan_node *pn = &plan->nodes[i];
    size_t same = 0;
    if (pn->existing >= 0 || p->tmpl[pn->tmpl].capacity_type != STV_CT_SPOT) continue;
    for (j = 0; j < plan->nnodes; j++) {
      const struct stv_plan_node *o = &plan->nodes[j];
      if (o->existing >= 0 || p->tmpl[o->tmpl].capacity_type != STV_CT_SPOT) continue;
      if (strcmp(p->tmpl[o->tmpl].instance_type, p->tmpl[pn->tmpl].instance_type) == 0 &&
          p->tmpl[o->tmpl].zone == p->tmpl[pn->tmpl].zone)
        same++;
    }
    if ((double)same > p->spot.max_pool_fraction * (double)nspot + STV_SPOT_POOL_GRACE + 1e-9) return 0;
  }
  return 1;
}

int stv_optimize(const struct stv_problem *p, struct stv_plan *plan, struct stv_err *err) {
  struct stv_plan h, o;
  double hc, oc, bound = 0;
  size_t h_placed, o_placed;
  int rc, use_o, hok, ook, bound_kind = STV_BOUND_RESOURCES;
  double deadline = p->clock != NULL ? p->clock() + p->time_limit : 0;
  if ((rc = stv_pack(p, &h, err)) != 0) return rc;
  if (p->time_limit <= 0) {
    *plan = h;
    return 0;
  }
  if ((rc = stv__pack_optimized(p, &o, deadline, err)) != 0) {
    stv_plan_close(&h);
    return rc;
  }
  h_placed = h.nplaced;
  o_placed = o.nplaced;
  hc = plan_effective_cost(p, &h);
  oc = plan_effective_cost(p, &o);
  hok = stv_plan_spot_ok(p, &h);
  ook = stv_plan_spot_ok(p, &o);
  /* The optimizer's plan wins when it places as many pods, keeps the spot
   * policy, and costs less (or the heuristic's breaks the policy). */
  use_o = ook && o.nplaced >= h.nplaced && (oc < hc - 1e-9 || !hok);
  if (o.has_lower_bound) {
    bound = o.lower_bound;
    bound_kind = o.lower_bound_kind;
  }
  if (h.has_lower_bound && h.lower_bound > bound) {
    bound = h.lower_bound;
    bound_kind = h.lower_bound_kind;
  }
  {
    /* Both runs' figures go with whichever plan wins. */
    struct stv_plan_stats st = o.stats;
    st.heuristic = h.stats.heuristic;
    st.compared = 1;
    st.heuristic_cost = hc;
    st.optimized_cost = oc;
    st.heuristic_placed = h.nplaced;
    st.optimized_placed = o.nplaced;
    st.heuristic_spot_ok = hok;
    st.optimized_spot_ok = ook;
    h.stats = st;
    o.stats = st;
  }
  if (use_o) {
    o.heuristic_cost = h.new_cost;
    stv_plan_close(&h);
    *plan = o;
  } else {
    h.optimized = 1;
    h.lp_converged = o.lp_converged;
    h.columns = o.columns;
    h.heuristic_cost = h.new_cost;
    stv_plan_close(&o);
    *plan = h;
  }
  /* Bounds from either run hold for both: the same pods are placed. */
  if (h_placed == o_placed && plan->nplaced == h_placed) {
    if (bound > plan->new_cost) bound = plan->new_cost;
    if (bound > plan->lower_bound) {
      plan->lower_bound = bound;
      plan->has_lower_bound = 1;
      plan->lower_bound_kind = bound_kind;
    }
  }
  /* Neither could keep them: the plan places what it can and says so. */
  plan->spot_limits_broken = !stv_plan_spot_ok(p, plan);
  plan->solve_ms_budget = p->time_limit * 1000.0;
  return 0;
}
