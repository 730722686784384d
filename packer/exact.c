/*
 * The exact search of the optimizer's integer phase (docs/optimizer.md,
 * "Exact search"): a depth-first bin completion over whole nodes, for pure
 * packing problems whose LP bound is tight or nearly so but whose integer
 * plan the rounding does not find (Falkenauer's triplets, Scholl's hard
 * set, vector triplets).
 *
 * Each level of the search opens one node for the largest pod left (its
 * item's size, normalised by the largest capacity of each resource) and
 * tries every maximal completion of that node, on every template shape that
 * may hold the pod, cheapest reduced cost first. A branch is cut when what
 * it has bought plus a lower bound on what is left exceeds the cost sought.
 * The bound on what is left is the better of two:
 *   - the duals y of the root LP (when column generation converged, y is a
 *     feasible dual of the full master, so covering any remaining pods
 *     costs at least y times their counts), else duals built from the
 *     binding resource (y_i = req_ib x the least cost per unit of b over the
 *     shapes, feasible for every pattern);
 *   - each resource's demand left times the least cost per unit of it.
 * With whole-number prices the bound is rounded up. Only maximal nodes are
 * tried (no pod left fits beside them): in a pure packing problem a node's
 * cost does not depend on what it holds, so moving a pod into a node with
 * room never makes a plan dearer, and some optimal plan is made of maximal
 * nodes at every step of the search.
 *
 * The cost sought starts at the proven bound (rounded up when prices are
 * whole numbers): a plan at it is optimal. A search that ends without one
 * proves the bound one unit higher, and the next search looks there, until
 * the incumbent is reached (proven optimal) or the budget runs out. With
 * prices that are not whole numbers it is a branch and bound below the
 * incumbent instead.
 *
 * It runs only where the master is the whole problem and pure packing: no
 * existing room, nothing kept aside, no zone-bound groups, no spot rows or
 * penalties, no reserved counts or node-pool limits, no hostname
 * anti-affinity between pods, no burstable surplus. Otherwise it says why
 * in the plan's statistics (stv_cg_stats.exact).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "cg_internal.h"

#define EX_MAX_COMP       4096       /* completions tried per level; more leaves the search incomplete */
#define EX_CHECK          256        /* work units between looks at the clock */
#define EX_NODES          2000000L   /* search nodes at most without a clock or work budget */
#define EX_NODES_TIMED    200000000L /* ... and with one (a safety net) */
#define EX_RESTART_LEVELS 200L       /* nodes opened in the first run, plus one per item (restarts: Luby) */
#define EX_CANDIDATES     6          /* items weighed for the next node (fail first) */
#define EX_COST_EPS       1e-7

/* A template shape as the search sees it: its cheapest template. */
struct ex_shape {
  uint32_t ti;
  double cost;
  const int64_t *cap;
  const struct shape *sh;
  unsigned char *ok; /* per item: may go on it */
};

/* One completion of a level's node: shape, entries in the level's pool. */
struct ex_comp {
  uint32_t s;
  uint32_t off, n;
  double rc;    /* cost less the duals of its pods */
  double lp;    /* its count in the root LP's solution (0: not there) */
  double fill;  /* normalised size of its pods */
  uint64_t rnd; /* tie-break of a restart (0 in the first run) */
};

/* A level's completions, grown as they are found. */
struct ex_level {
  struct ex_comp *c;
  size_t nc, cap_c;
  uint32_t *pi, *pk;
  size_t np, cap_p;
};

struct ex {
  struct cg *C;
  int ndim;
  uint32_t n;      /* items */
  uint32_t *order; /* items by normalised size, decreasing */
  double *size;    /* per item: normalised size */
  double *y;       /* per item: dual used for bounds */
  uint32_t *rem;   /* per item: pods left */
  double *suf;     /* per order position x resource: best y per unit over the positions from it */
  struct ex_shape *sh;
  size_t nsh;
  uint32_t *shape_of_ti;   /* per template: its shape here, UINT32_MAX = none */
  double rho[STV_MAX_RES]; /* least cost per unit of each resource */
  int64_t remres[STV_MAX_RES];
  double yrem;
  int integral;
  double limit; /* plans dearer than this are cut */
  double cost;  /* bought on the current path */
  /* the path: one pattern per level */
  uint32_t *path_s, *path_off, *path_n;
  uint32_t *path_i, *path_k;
  size_t depth, np, maxdepth;
  /* the best plan found */
  uint32_t *best_s, *best_off, *best_n, *best_i, *best_k;
  size_t best_depth, best_np;
  double best_cost;
  int found, complete, out;
  /* restarts: halt ends the current run (out, or its node cap: cut) */
  int halt, cut;
  long run_start, run_cap;
  uint64_t rng; /* 0: completions in their plain order */
  long nodes, since_check, levels;
  long node_limit; /* the search's own work limit */
  /* the root LP's solution: pattern hash (on the shape's template) -> count */
  uint64_t *lp_h;
  double *lp_x;
  size_t lp_cap;
  /* enumeration scratch */
  uint32_t *cnt;
  int64_t left[STV_MAX_RES];
};

static const int64_t *item_req(const struct ex *E, uint32_t i) {
  return E->C->S->s->classes[E->C->it[i].cls]->req;
}

/* Counts one unit of work; 1 when the budget or the clock says stop. */
static int ex_tick(struct ex *E) {
  E->C->work++;
  E->nodes++;
  if (++E->since_check < EX_CHECK) return E->halt;
  E->since_check = 0;
  if (out_of_time(E->C) || E->nodes >= E->node_limit) E->out = E->halt = 1;
  if (E->run_cap > 0 && E->levels - E->run_start >= E->run_cap) E->cut = E->halt = 1;
  return E->halt;
}

/* Lower bound on the cost of placing the pods left. */
static double ex_rest_bound(const struct ex *E, const int64_t *remres, double yrem) {
  double b = yrem;
  int r;
  for (r = 0; r < E->ndim; r++)
    if ((double)remres[r] * E->rho[r] > b) b = (double)remres[r] * E->rho[r];
  if (E->integral) b = ceil(b - 1e-6);
  return b;
}

/* Whether pod item i (one more) fits the room left. */
static int ex_fits(const struct ex *E, uint32_t i, const int64_t *left) {
  const int64_t *q = item_req(E, i);
  int r;
  for (r = 0; r < E->ndim; r++)
    if (q[r] > left[r]) return 0;
  return 1;
}

/* Whether the node being enumerated (counts E->cnt, room left) is maximal. */
static int ex_maximal(const struct ex *E, const struct ex_shape *s) {
  uint32_t i;
  for (i = 0; i < E->n; i++) {
    if (!s->ok[i] || E->cnt[i] >= E->rem[i] || E->cnt[i] >= E->C->it[i].cap) continue;
    if (ex_fits(E, i, E->left)) return 0;
  }
  return 1;
}

/* The root LP's count of pattern hash h, 0 when it is not in the LP's solution. */
static double ex_lp_count(const struct ex *E, uint64_t h) {
  size_t i;
  if (E->lp_cap == 0) return 0;
  for (i = h & (E->lp_cap - 1); E->lp_h[i]; i = (i + 1) & (E->lp_cap - 1))
    if (E->lp_h[i] == h) return E->lp_x[i];
  return 0;
}

/* Records the node being enumerated as a completion of level L. */
static int ex_record(struct ex *E, struct ex_level *L, uint32_t s, double yv) {
  struct ex_comp *c;
  uint32_t i, n = 0;
  double fill = 0;
  for (i = 0; i < E->n; i++) n += E->cnt[i] > 0;
  if (stv_grow((void **)&L->c, &L->cap_c, L->nc + 1, sizeof(*L->c)) != 0) return STV_ENOMEM;
  {
    size_t cap = L->cap_p;
    if (stv_grow((void **)&L->pi, &cap, L->np + n + 1, sizeof(uint32_t)) != 0) return STV_ENOMEM;
    cap = L->cap_p;
    if (stv_grow((void **)&L->pk, &cap, L->np + n + 1, sizeof(uint32_t)) != 0) return STV_ENOMEM;
    L->cap_p = cap;
  }
  c = &L->c[L->nc++];
  c->s = s;
  c->off = (uint32_t)L->np;
  c->n = n;
  for (i = 0; i < E->n; i++)
    if (E->cnt[i] > 0) {
      L->pi[L->np] = i;
      L->pk[L->np++] = E->cnt[i];
      fill += E->size[i] * E->cnt[i];
    }
  if (E->rng != 0) {
    E->rng ^= E->rng << 13;
    E->rng ^= E->rng >> 7;
    E->rng ^= E->rng << 17;
  }
  c->rnd = E->rng;
  c->rc = E->sh[s].cost - yv;
  c->fill = fill;
  c->lp = ex_lp_count(E, stv__pattern_hash(E->sh[s].ti, &L->pi[c->off], &L->pk[c->off], n));
  return 0;
}

/* Upper bound on the duals a node can still gain from order position pos on. */
static double ex_gain_bound(const struct ex *E, uint32_t pos) {
  double b = INFINITY;
  int r;
  for (r = 0; r < E->ndim; r++) {
    double v = E->suf[(size_t)pos * E->ndim + r];
    if (v < INFINITY && (double)E->left[r] * v < b) b = (double)E->left[r] * v;
  }
  return b;
}

struct ex_enum {
  struct ex_level *L;
  uint32_t s;
  uint32_t b;  /* the item the node is opened for */
  size_t most; /* completions wanted at most (more: stop, not recorded) */
  double need; /* duals a completion must gather (cut otherwise) */
  double base; /* cost bought before this node, the node's included */
};

/*
 * Every maximal completion of the node (shape e->s) over the items from
 * order position pos on, gathering duals yv so far. Returns 0, STV_ENOMEM.
 */
static int ex_enumerate(struct ex *E, struct ex_enum *e, uint32_t pos, double yv) {
  const struct ex_shape *s = &E->sh[e->s];
  uint32_t i, k, maxk;
  int r, rc;
  if (ex_tick(E)) return 0;
  if (e->L->nc > e->most) return 0;
  while (pos < E->n && (E->rem[E->order[pos]] == 0 || !s->ok[E->order[pos]] || E->order[pos] == e->b ||
                        !ex_fits(E, E->order[pos], E->left)))
    pos++;
  if (pos == E->n) {
    int64_t rr[STV_MAX_RES];
    for (r = 0; r < E->ndim; r++) rr[r] = E->remres[r] - (s->cap[r] - E->left[r]);
    if (e->base + ex_rest_bound(E, rr, E->yrem - yv) > E->limit + EX_COST_EPS) return 0;
    if (!ex_maximal(E, s)) return 0;
    return ex_record(E, e->L, e->s, yv);
  }
  if (yv + ex_gain_bound(E, pos) < e->need - 1e-9) return 0;
  i = E->order[pos];
  maxk = E->rem[i] < E->C->it[i].cap ? E->rem[i] : E->C->it[i].cap;
  for (k = 0; k < maxk && ex_fits(E, i, E->left); k++)
    for (r = 0; r < E->ndim; r++) E->left[r] -= item_req(E, i)[r];
  /* k pods fit: try k, k-1, ..., 0 of them. */
  for (;;) {
    E->cnt[i] = k;
    rc = ex_enumerate(E, e, pos + 1, yv + E->y[i] * k);
    if (rc != 0 || E->halt || k == 0) break;
    for (r = 0; r < E->ndim; r++) E->left[r] += item_req(E, i)[r];
    k--;
  }
  for (r = 0; r < E->ndim; r++) E->left[r] += item_req(E, i)[r] * (int64_t)k;
  E->cnt[i] = 0;
  return rc;
}

/* Completions by reduced cost, then by their count in the root LP's
 * solution, then fuller first, then (a restart) at random, then as found. */
static int cmp_comp(const void *a, const void *b) {
  const struct ex_comp *x = a, *y = b;
  if (x->rc < y->rc - 1e-9) return -1;
  if (x->rc > y->rc + 1e-9) return 1;
  if (x->lp > y->lp + 1e-9) return -1;
  if (x->lp < y->lp - 1e-9) return 1;
  if (x->fill > y->fill + 1e-12) return -1;
  if (x->fill < y->fill - 1e-12) return 1;
  if (x->rnd != y->rnd) return x->rnd < y->rnd ? -1 : 1;
  return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * Every maximal node holding at least one pod of the item at order position
 * bpos, into L; stops once L holds more than most of them (L then counts
 * most + 1). Returns 0 or STV_ENOMEM.
 */
static int ex_completions(struct ex *E, struct ex_level *L, uint32_t bpos, size_t most) {
  uint32_t b = E->order[bpos];
  size_t s;
  int r, rc = 0;
  for (s = 0; s < E->nsh && rc == 0 && !E->halt && L->nc <= most; s++) {
    const struct ex_shape *sh = &E->sh[s];
    struct ex_enum e = {L, (uint32_t)s, b, most, 0, E->cost + sh->cost};
    uint32_t k, maxk;
    if (!sh->ok[b]) continue;
    for (r = 0; r < E->ndim; r++) E->left[r] = sh->cap[r];
    if (!ex_fits(E, b, E->left)) continue;
    /* Duals a node must gather so that the bound on what is left stays
     * within the limit: y.rest >= yrem - (limit - base). */
    e.need = E->yrem - (E->limit - e.base) - EX_COST_EPS;
    maxk = E->rem[b] < E->C->it[b].cap ? E->rem[b] : E->C->it[b].cap;
    for (k = 0; k < maxk && ex_fits(E, b, E->left); k++)
      for (r = 0; r < E->ndim; r++) E->left[r] -= item_req(E, b)[r];
    for (; k >= 1 && rc == 0 && !E->halt; k--) {
      E->cnt[b] = k;
      rc = ex_enumerate(E, &e, 0, E->y[b] * k);
      for (r = 0; r < E->ndim; r++) E->left[r] += item_req(E, b)[r];
    }
    E->cnt[b] = 0;
  }
  return rc;
}

static void ex_level_free(struct ex_level *L) {
  stv_free(L->c);
  stv_free(L->pi);
  stv_free(L->pk);
  memset(L, 0, sizeof(*L));
}

/*
 * The node to open next (fail first): the item left with the fewest
 * maximal completions, its completions in best, sorted. best->nc == 0 when
 * some item has none (a dead end). Only the EX_CANDIDATES largest items
 * are weighed, and at most EX_MAX_COMP completions kept (more: the search
 * is no longer complete). Returns 0 or STV_ENOMEM.
 */
static int ex_branch(struct ex *E, struct ex_level *best) {
  struct ex_level L;
  uint32_t pos, tried = 0;
  size_t most = EX_MAX_COMP;
  int rc = 0, any = 0;
  memset(&L, 0, sizeof(L));
  for (pos = 0; pos < E->n && rc == 0 && !E->halt && tried < EX_CANDIDATES; pos++) {
    if (E->rem[E->order[pos]] == 0) continue;
    tried++;
    L.nc = L.np = 0;
    rc = ex_completions(E, &L, pos, any ? best->nc : most);
    if (rc != 0) break;
    if (!any || L.nc < best->nc) {
      struct ex_level t = *best;
      *best = L;
      L = t;
      any = 1;
    }
    if (best->nc <= 1) break; /* a dead end or a forced node */
  }
  ex_level_free(&L);
  if (rc == 0 && best->nc > EX_MAX_COMP) {
    best->nc = EX_MAX_COMP;
    E->complete = 0;
  }
  if (rc == 0 && best->nc > 1) qsort(best->c, best->nc, sizeof(*best->c), cmp_comp);
  return rc;
}

/* Takes (sign 1) or gives back (sign -1) the pods of completion c. */
static void ex_apply(struct ex *E, const struct ex_level *L, const struct ex_comp *c, int sign) {
  uint32_t q;
  int r;
  for (q = 0; q < c->n; q++) {
    uint32_t i = L->pi[c->off + q], k = L->pk[c->off + q];
    const int64_t *req = item_req(E, i);
    if (sign > 0)
      E->rem[i] -= k;
    else
      E->rem[i] += k;
    E->yrem -= sign * E->y[i] * k;
    for (r = 0; r < E->ndim; r++) E->remres[r] -= sign * req[r] * (int64_t)k;
  }
  E->cost += sign * E->sh[c->s].cost;
}

static int ex_path_push(struct ex *E, const struct ex_level *L, const struct ex_comp *c) {
  E->path_s[E->depth] = c->s;
  E->path_off[E->depth] = (uint32_t)E->np;
  E->path_n[E->depth] = c->n;
  memcpy(&E->path_i[E->np], &L->pi[c->off], c->n * sizeof(uint32_t));
  memcpy(&E->path_k[E->np], &L->pk[c->off], c->n * sizeof(uint32_t));
  E->np += c->n;
  E->depth++;
  if (E->depth > E->maxdepth) E->maxdepth = E->depth;
  return 0;
}

/* The current path is a whole plan cheaper than the limit: keep it. */
static void ex_keep(struct ex *E) {
  memcpy(E->best_s, E->path_s, E->depth * sizeof(uint32_t));
  memcpy(E->best_off, E->path_off, E->depth * sizeof(uint32_t));
  memcpy(E->best_n, E->path_n, E->depth * sizeof(uint32_t));
  memcpy(E->best_i, E->path_i, E->np * sizeof(uint32_t));
  memcpy(E->best_k, E->path_k, E->np * sizeof(uint32_t));
  E->best_depth = E->depth;
  E->best_np = E->np;
  E->best_cost = E->cost;
  E->found = 1;
  /* Below the incumbent only from now on (branch and bound). */
  E->limit = E->integral ? E->cost - 1 : E->cost * (1 - 1e-9) - EX_COST_EPS;
}

/* The search from the current path. Returns 0 or STV_ENOMEM. */
static int ex_search(struct ex *E, double stop_at) {
  struct ex_level L;
  uint32_t pos = 0;
  size_t c;
  int rc = 0;
  if (ex_tick(E)) return 0;
  while (pos < E->n && E->rem[E->order[pos]] == 0) pos++;
  if (pos == E->n) {
    ex_keep(E);
    return 0;
  }
  if (E->cost + ex_rest_bound(E, E->remres, E->yrem) > E->limit + EX_COST_EPS) return 0;
  E->levels++;
  memset(&L, 0, sizeof(L));
  rc = ex_branch(E, &L);
  for (c = 0; c < L.nc && rc == 0 && !E->halt; c++) {
    ex_apply(E, &L, &L.c[c], 1);
    ex_path_push(E, &L, &L.c[c]);
    rc = ex_search(E, stop_at);
    E->depth--;
    E->np -= L.c[c].n;
    ex_apply(E, &L, &L.c[c], -1);
    if (E->found && E->best_cost <= stop_at) break;
  }
  ex_level_free(&L);
  return rc;
}

/* The Luby sequence (1 1 2 1 1 2 4 1 1 2 ...), i from 1. */
static long luby(long i) {
  long k = 1;
  while ((1L << k) - 1 < i) k++;
  while (i != (1L << k) - 1) {
    i -= (1L << (k - 1)) - 1;
    k = 1;
    while ((1L << k) - 1 < i) k++;
  }
  return 1L << (k - 1);
}

/*
 * The search with restarts: run r stops after (EX_RESTART_LEVELS + items)
 * x luby(r) nodes opened and the next starts afresh, completions of equal rank shuffled by
 * a fixed seed (deterministic); the first run keeps their plain order. A
 * run that ends by itself has searched everything (E->complete says
 * whether it cut nothing). Returns 0 or STV_ENOMEM.
 */
static int ex_run(struct ex *E, double stop_at) {
  long r;
  int rc = 0;
  for (r = 1; rc == 0; r++) {
    E->rng = r == 1 ? 0 : 0x9e3779b97f4a7c15ULL * (uint64_t)r;
    E->run_cap = (EX_RESTART_LEVELS + (long)E->n) * luby(r);
    E->run_start = E->levels;
    E->halt = E->cut = 0;
    E->complete = 1;
    rc = ex_search(E, stop_at);
    if (E->found || E->out || !E->cut) break;
  }
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Setting up                                                             */

/* Why the exact search cannot run on this master, NULL when it can. */
static const char *ex_unsuitable(const struct cg *C, int global) {
  const struct solve *S = C->S;
  size_t i;
  if (!global) return "skipped: not pure packing (existing room, zone-bound groups or nodes kept aside)";
  if (C->n_row_N || C->share_row) return "skipped: not pure packing (spot limits)";
  if (S->npool_lim > 0) return "skipped: not pure packing (node-pool limits)";
  for (i = 0; i < S->nti; i++)
    if (C->usable[i] && C->limit[i] >= 0) return "skipped: not pure packing (reserved counts)";
  for (i = 0; i < C->nsh; i++) {
    if (C->sh[i].conflicts) return "skipped: not pure packing (hostname anti-affinity)";
    if (C->sh[i].lambda > 0) return "skipped: not pure packing (spot penalty)";
    if (C->sh[i].surplus > 0) return "skipped: not pure packing (burstable surplus credits)";
  }
  return NULL;
}

static int cmp_size_desc(const void *a, const void *b, void *ctx) {
  const double *size = ctx;
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  if (size[x] > size[y]) return -1;
  if (size[x] < size[y]) return 1;
  return x < y ? -1 : x > y;
}

/* Insertion sort of the items by decreasing size (a few hundred at most
 * in practice; qsort_r is not C11). */
static void ex_sort_order(struct ex *E) {
  uint32_t a, b;
  for (a = 1; a < E->n; a++) {
    uint32_t v = E->order[a];
    for (b = a; b > 0 && cmp_size_desc(&v, &E->order[b - 1], E->size) < 0; b--) E->order[b] = E->order[b - 1];
    E->order[b] = v;
  }
}

/* The shapes, each as its cheapest template, and the least cost per unit
 * of each resource. Returns 0 or STV_ENOMEM. */
static int ex_shapes(struct ex *E) {
  struct cg *C = E->C;
  struct solve *S = C->S;
  size_t s, j;
  int r;
  E->sh = stv_arena_alloc(&S->a, (C->nsh + 1) * sizeof(*E->sh));
  E->shape_of_ti = stv_arena_alloc(&S->a, (S->nti + 1) * sizeof(uint32_t));
  if (E->sh == NULL || E->shape_of_ti == NULL) return STV_ENOMEM;
  for (j = 0; j < S->nti; j++) E->shape_of_ti[j] = UINT32_MAX;
  for (r = 0; r < E->ndim; r++) E->rho[r] = INFINITY;
  for (s = 0; s < C->nsh; s++) {
    const struct shape *sh = &C->sh[s];
    struct ex_shape *e = &E->sh[E->nsh];
    e->sh = sh;
    e->cost = INFINITY;
    for (j = 0; j < sh->n; j++) {
      uint32_t ti = C->sh_ti[sh->first + j];
      double c = stv__tinfo_cost(S, &S->ti[ti], 0);
      if (c < e->cost) {
        e->cost = c;
        e->ti = ti;
      }
    }
    if (!(e->cost > 0) || sh->nitems == 0) continue;
    e->cap = S->ti[e->ti].alloc;
    if ((e->ok = stv_arena_alloc(&S->a, E->n + 1)) == NULL) return STV_ENOMEM;
    memset(e->ok, 0, E->n + 1);
    for (j = 0; j < sh->nitems; j++) e->ok[sh->items[j]] = 1;
    if (E->integral && fabs(e->cost - floor(e->cost + 0.5)) > 1e-9) E->integral = 0;
    for (r = 0; r < E->ndim; r++)
      if (e->cap[r] > 0 && e->cost / (double)e->cap[r] < E->rho[r]) E->rho[r] = e->cost / (double)e->cap[r];
    for (j = 0; j < sh->n; j++) E->shape_of_ti[C->sh_ti[sh->first + j]] = (uint32_t)E->nsh;
    E->nsh++;
  }
  for (r = 0; r < E->ndim; r++)
    if (E->rho[r] == INFINITY) E->rho[r] = 0;
  return 0;
}

/*
 * The duals the bounds use: the root LP's when column generation converged
 * (dual feasible for every pattern), else those of the binding resource.
 */
static void ex_duals(struct ex *E, int converged) {
  struct cg *C = E->C;
  uint32_t i;
  int r, bind = 0;
  double best = -1;
  if (converged && glp_get_status(C->lp) == GLP_OPT) {
    for (i = 0; i < E->n; i++) {
      double v = glp_get_row_dual(C->lp, C->it[i].row);
      E->y[i] = v > 0 ? v : 0;
    }
    return;
  }
  for (r = 0; r < E->ndim; r++)
    if ((double)E->remres[r] * E->rho[r] > best) {
      best = (double)E->remres[r] * E->rho[r];
      bind = r;
    }
  for (i = 0; i < E->n; i++) E->y[i] = (double)item_req(E, i)[bind] * E->rho[bind];
}

/*
 * The root LP's solution by pattern, each column keyed on its shape's
 * template (the one the search buys). Returns 0 or STV_ENOMEM.
 */
static int ex_lp_table(struct ex *E) {
  const uint32_t *shape_of_ti = E->shape_of_ti;
  struct cg *C = E->C;
  size_t j, n = 0;
  if (glp_get_status(C->lp) != GLP_OPT) return 0;
  for (j = 0; j < C->ncol; j++) n += glp_get_col_prim(C->lp, stv__glp_col_of(C, j)) > 1e-6;
  for (E->lp_cap = 16; E->lp_cap < 2 * n + 2; E->lp_cap *= 2) {
  }
  E->lp_h = stv_arena_alloc(&C->S->a, E->lp_cap * sizeof(uint64_t));
  E->lp_x = stv_arena_alloc(&C->S->a, E->lp_cap * sizeof(double));
  if (E->lp_h == NULL || E->lp_x == NULL) return STV_ENOMEM;
  memset(E->lp_h, 0, E->lp_cap * sizeof(uint64_t));
  memset(E->lp_x, 0, E->lp_cap * sizeof(double));
  for (j = 0; j < C->ncol; j++) {
    const struct column *c = &C->col[j];
    double x = glp_get_col_prim(C->lp, stv__glp_col_of(C, j));
    uint64_t h;
    size_t i;
    if (x <= 1e-6 || shape_of_ti[c->ti] == UINT32_MAX) continue;
    h = stv__pattern_hash(E->sh[shape_of_ti[c->ti]].ti, &C->pi[c->off], &C->pk[c->off], c->n);
    for (i = h & (E->lp_cap - 1); E->lp_h[i] && E->lp_h[i] != h; i = (i + 1) & (E->lp_cap - 1)) {
    }
    E->lp_h[i] = h;
    E->lp_x[i] += x;
  }
  return 0;
}

/* Per order position and resource: the best dual per unit from there on. */
static void ex_suffix(struct ex *E) {
  uint32_t p;
  int r;
  for (r = 0; r < E->ndim; r++) E->suf[(size_t)E->n * E->ndim + r] = 0;
  for (p = E->n; p-- > 0;) {
    uint32_t i = E->order[p];
    for (r = 0; r < E->ndim; r++) {
      double next = E->suf[(size_t)(p + 1) * E->ndim + r], v;
      int64_t q = item_req(E, i)[r];
      v = q > 0 ? E->y[i] / (double)q : E->y[i] > 0 ? INFINITY : 0;
      E->suf[(size_t)p * E->ndim + r] = v > next ? v : next;
    }
  }
}

static int ex_setup(struct ex *E, struct cg *C, int converged) {
  struct solve *S = C->S;
  size_t pods = 1, i;
  int r;
  memset(E, 0, sizeof(*E));
  E->C = C;
  E->n = (uint32_t)C->nit;
  E->ndim = S->ndim;
  E->integral = stv__integral_costs(C);
  E->complete = 1;
  /* Bounded by its own limit like every stage, so that a solve without a
   * clock or a work budget ends too. */
  E->node_limit = C->timed || C->work_end > 0 ? EX_NODES_TIMED : EX_NODES;
  for (i = 0; i < E->n; i++) pods += C->it[i].demand;
  E->order = stv_arena_alloc(&S->a, (E->n + 1) * sizeof(uint32_t));
  E->size = stv_arena_alloc(&S->a, (E->n + 1) * sizeof(double));
  E->y = stv_arena_alloc(&S->a, (E->n + 1) * sizeof(double));
  E->rem = stv_arena_alloc(&S->a, (E->n + 1) * sizeof(uint32_t));
  E->cnt = stv_arena_alloc(&S->a, (E->n + 1) * sizeof(uint32_t));
  E->suf = stv_arena_alloc(&S->a, (E->n + 1) * (size_t)E->ndim * sizeof(double) + 8);
  E->path_s = stv_arena_alloc(&S->a, pods * 5 * sizeof(uint32_t));
  E->best_s = stv_arena_alloc(&S->a, pods * 5 * sizeof(uint32_t));
  if (!E->order || !E->size || !E->y || !E->rem || !E->cnt || !E->suf || !E->path_s || !E->best_s)
    return STV_ENOMEM;
  E->path_off = E->path_s + pods;
  E->path_n = E->path_off + pods;
  E->path_i = E->path_n + pods;
  E->path_k = E->path_i + pods;
  E->best_off = E->best_s + pods;
  E->best_n = E->best_off + pods;
  E->best_i = E->best_n + pods;
  E->best_k = E->best_i + pods;
  if (ex_shapes(E) != 0) return STV_ENOMEM;
  for (i = 0; i < E->n; i++) {
    const int64_t *q = item_req(E, (uint32_t)i);
    E->order[i] = (uint32_t)i;
    E->rem[i] = C->it[i].demand;
    E->cnt[i] = 0;
    E->size[i] = 0;
    for (r = 0; r < E->ndim; r++) {
      int64_t top = 0;
      size_t s;
      E->remres[r] += q[r] * (int64_t)C->it[i].demand;
      for (s = 0; s < E->nsh; s++)
        if (E->sh[s].cap[r] > top) top = E->sh[s].cap[r];
      if (top > 0) E->size[i] += (double)q[r] / (double)top;
    }
  }
  ex_sort_order(E);
  ex_duals(E, converged);
  if (ex_lp_table(E) != 0) return STV_ENOMEM;
  for (i = 0; i < E->n; i++) E->yrem += E->y[i] * C->it[i].demand;
  ex_suffix(E);
  return 0;
}

/* The best plan found as counts per column (columns added as needed).
 * Returns the vector (the caller frees it), NULL with *rcp set on error. */
static double *ex_solution(struct ex *E, int *rcp) {
  struct cg *C = E->C;
  double *x = NULL;
  size_t d;
  for (d = 0; d < E->best_depth; d++) {
    uint32_t *pi = &E->best_i[E->best_off[d]], *pk = &E->best_k[E->best_off[d]];
    long c = stv__add_column(C, E->sh[E->best_s[d]].ti, pi, pk, E->best_n[d]);
    if (c == -1) c = stv__find_column(C, E->sh[E->best_s[d]].ti, pi, pk, E->best_n[d]);
    if (c < 0) {
      *rcp = c == -1 ? STV_EINVAL : (int)c;
      return NULL;
    }
    E->best_off[d] = (uint32_t)c; /* reused: the column of level d */
  }
  if ((x = stv_calloc(C->ncol + 1, sizeof(double))) == NULL) {
    *rcp = STV_ENOMEM;
    return NULL;
  }
  for (d = 0; d < E->best_depth; d++) x[E->best_off[d]] += 1;
  return x;
}

/* ---------------------------------------------------------------------- */
/* The search                                                             */

struct ex *stv__exact_prepare(struct cg *C, int global, int converged, int *rcp) {
  struct ex *E;
  const char *why = ex_unsuitable(C, global);
  *rcp = 0;
  C->S->cg_stats.exact = why;
  if (why != NULL) {
    trace(C, "exact: %s", why);
    return NULL;
  }
  if ((E = stv_arena_alloc(&C->S->a, sizeof(*E))) == NULL || (*rcp = ex_setup(E, C, converged)) != 0) {
    *rcp = STV_ENOMEM;
    return NULL;
  }
  if (E->nsh == 0) {
    C->S->cg_stats.exact = "skipped: no template holds the pods";
    return NULL;
  }
  return E;
}

double *stv__exact_run(struct ex *E, int *rcp) {
  struct cg *C = E->C;
  struct stv_cg_stats *st = &C->S->cg_stats;
  *rcp = 0;
  if (E->integral) {
    /* The cost sought: the proven bound rounded up, then one more each
     * time a search ends without a plan. */
    double lb = C->bound > 0 ? ceil(C->bound - 1e-6) : ceil(ex_rest_bound(E, E->remres, E->yrem) - 1e-6);
    while (!E->out && !E->found && lb < C->incumbent - 0.5 && *rcp == 0) {
      E->limit = lb;
      *rcp = ex_run(E, lb);
      trace(C, "exact: cost %.0f: %s after %ld nodes, %ld levels, depth %zu", lb,
            E->found      ? "found"
            : E->out      ? "cut"
            : E->complete ? "none (proven)"
                          : "none",
            E->nodes, E->levels, E->maxdepth);
      if (E->found || E->out || !E->complete) break;
      lb += 1;
      stv__bound_check(C, lb);
    }
  } else {
    E->limit = C->incumbent < INFINITY ? C->incumbent * (1 - 1e-9) - EX_COST_EPS : INFINITY;
    *rcp = ex_run(E, C->stop_at);
    /* Searched to the end below the incumbent (or the plan found): proven. */
    if (*rcp == 0 && !E->out && E->complete && !(E->found && E->best_cost <= C->stop_at))
      stv__bound_check(C, E->found ? E->best_cost : C->incumbent);
  }
  if (*rcp != 0) return NULL;
  st->exact_nodes = E->nodes;
  st->exact = E->found                      ? "plan found"
              : C->stop == STV_STOP_OPTIMAL ? "no cheaper plan (proven)"
              : E->out                      ? "no plan within its budget"
                                            : "no plan (search incomplete)";
  return E->found ? ex_solution(E, rcp) : NULL;
}
