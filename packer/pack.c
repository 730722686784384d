/*
 * The packing heuristic's fill: pending pods, grouped by class (and by zone
 * where a zone-level rule binds them, zones.c), go first into the free
 * capacity of existing nodes, then onto new nodes. New nodes are chosen in
 * rounds: for every usable template the heuristic fills one node greedily
 * with the remaining groups (a pattern), scores it by price per unit of
 * work packed, and opens as many copies of the best pattern as the
 * remaining pods allow. Rounds are bounded by the number of groups, not
 * pods, which is what makes 20,000 replicas of ten Deployments cost ten
 * decisions. Hostname-level rules (spread, pod affinity and anti-affinity
 * on kubernetes.io/hostname) are checked per node while filling, against
 * the classes already on it (host_cap). right_size moves each finished
 * node to the cheapest template that still holds its pods.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack_internal.h"

/* ---------------------------------------------------------------------- */
/* Filling nodes                                                          */

/* Resets the scratch node to an empty node of template ti (or blank). */
static void cand_reset(struct solve *S, struct nstate *n) {
  uint32_t i;
  for (i = 0; i < n->npat; i++) n->gcount[n->pat_g[i]] = 0;
  n->npat = 0;
  if (++n->gen == 0) { /* wrapped: no stamp may match by chance */
    memset(n->stamp, 0, (S->nrules + 1) * sizeof(*n->stamp));
    n->gen = 1;
  }
  memset(n->presence, 0, S->W * 8);
}

/* Pods on n that rule ri counts. */
static inline uint32_t rule_count(const struct nstate *n, uint32_t ri) {
  return n->stamp[ri] == n->gen ? n->rcnt[ri] : 0;
}

static void count_class(struct solve *S, struct nstate *n, uint32_t c, uint32_t k) {
  const uint32_t *ri;
  for (ri = S->rules_counting[c]; *ri != UINT32_MAX; ri++) {
    if (n->stamp[*ri] != n->gen) {
      n->stamp[*ri] = n->gen;
      n->rcnt[*ri] = k;
    } else {
      n->rcnt[*ri] += k;
    }
  }
  BIT_SET(n->presence, c);
}

/* How many more pods of class c the hostname-level rules allow on n. */
static uint32_t host_cap(struct solve *S, const struct nstate *n, uint32_t c, uint32_t want, int *first) {
  const uint64_t *anti = &S->anti_host[(size_t)c * S->W];
  const struct host_spread *h;
  const uint32_t *ri;
  *first = 0;
  if (S->anti_list[c] == NULL) {
    if (stv__bits_intersect(anti, n->presence, S->W)) return 0;
  } else {
    for (ri = S->anti_list[c]; *ri != UINT32_MAX; ri++)
      if (BIT_GET(n->presence, *ri)) return 0;
  }
  if (BIT_GET(anti, c) && want > 1) want = 1; /* self anti-affinity: one per node */
  for (ri = S->class_rules[c]; *ri != UINT32_MAX && want > 0; ri++) {
    const struct rule *r = &S->rules[*ri];
    uint32_t have;
    if (r->level != LVL_HOST) continue;
    have = rule_count(n, *ri);
    if (r->kind == RULE_SPREAD) {
      if (BIT_GET(r->match, c)) {
        uint32_t room = have >= (uint32_t)r->max_skew ? 0 : (uint32_t)r->max_skew - have;
        if (room < want) want = room;
      } else if (have > (uint32_t)r->max_skew) {
        want = 0;
      }
    } else if (r->kind == RULE_AFF && have == 0) {
      /* The first pod of a self-affine group starts it anywhere; after that
       * its pods must go where the group is. */
      if (S->rule_anywhere[*ri] || !r->self) return 0;
      *first = 1;
    }
  }
  /* Spread rules of classes already on the node that count c. */
  for (h = S->spread_counting[c]; h->rule != UINT32_MAX && want > 0; h++) {
    uint32_t have;
    if (!BIT_GET(n->presence, h->owner)) continue;
    have = rule_count(n, h->rule);
    if (have >= h->max_skew)
      want = 0;
    else if (want > h->max_skew - have)
      want = h->max_skew - have;
  }
  return want;
}

static void node_add(struct solve *S, struct nstate *n, uint32_t gi, uint32_t k) {
  const struct stv_class *c = S->s->classes[S->g[gi].cls];
  int r;
  for (r = 0; r < S->ndim; r++) n->free[r] -= c->req[r] * (int64_t)k;
  if (n->gcount[gi] == 0) n->pat_g[n->npat++] = gi;
  n->gcount[gi] += k;
  count_class(S, n, S->g[gi].cls, k);
}

/* Undoes node_add(S, n, gi, k) when gi was the last group added. */
static void node_remove(struct solve *S, struct nstate *n, uint32_t gi, uint32_t k) {
  uint32_t c = S->g[gi].cls;
  const struct stv_class *kc = S->s->classes[c];
  const uint32_t *ri;
  int r;
  for (r = 0; r < S->ndim; r++) n->free[r] += kc->req[r] * (int64_t)k;
  n->gcount[gi] -= k;
  if (n->gcount[gi] == 0) {
    n->npat--; /* LIFO: gi is the last entry */
    if (n->base == NULL || !BIT_GET(n->base, c)) n->presence[c >> 6] &= ~((uint64_t)1 << (c & 63));
  }
  for (ri = S->rules_counting[c]; *ri != UINT32_MAX; ri++) n->rcnt[*ri] -= k;
}

/* 1 when no remaining group can fit in free any more. */
static int is_full(const struct solve *S, const int64_t *freev) {
  int r;
  for (r = 0; r < S->ndim; r++)
    if (freev[r] < S->minreq[r]) return 1;
  return 0;
}

/* 1 when free is below the block's smallest request in some resource. */
static int block_out(const struct solve *S, const int64_t *min, const int64_t *freev) {
  int r;
  for (r = 0; r < S->ndim; r++)
    if (freev[r] < min[r]) return 1;
  return 0;
}

/* The active list a node of zone z fills from (pack_internal.h, act). */
static size_t list_of(const struct solve *S, int zone) {
  return zone >= 0 ? (size_t)zone : S->nzones;
}

/*
 * Fills n greedily with the remaining groups, in S->order, each as many
 * times as fits, from entry start of its active list on. Returns 1 when a
 * self-affine group was started here (the node then cannot be copied).
 */
static int fill_from(struct solve *S, struct nstate *n, const uint64_t *compat, const uint32_t *remaining,
                     size_t start) {
  size_t li = list_of(S, n->zone);
  const uint32_t *list = S->act[li];
  const int64_t *bmin = S->act_min[li];
  size_t oi, nlist = S->nact[li];
  int pinned = 0;
  for (oi = start; oi < nlist; oi++) {
    uint32_t gi = list[oi];
    struct group *g = &S->g[gi];
    const struct stv_class *c = S->s->classes[g->cls];
    uint32_t want = remaining[gi] - n->gcount[gi], k;
    int first = 0;
    /* A block none of whose groups fits the room left is passed over whole
     * (stv__resource_cap would give each of them 0). */
    if (oi % STV_ACT_BLOCK == 0 && block_out(S, &bmin[oi / STV_ACT_BLOCK * STV_MAX_RES], n->free)) {
      oi += STV_ACT_BLOCK - 1;
      continue;
    }
    if (want == 0) continue;
    if (!BIT_GET(compat, g->cls)) continue;
    k = stv__resource_cap(S, n->free, c->req, want);
    if (k == 0) continue;
    k = host_cap(S, n, g->cls, k, &first);
    if (k == 0) continue;
    node_add(S, n, gi, k);
    if (first) pinned = 1;
    if (is_full(S, n->free)) break;
  }
  return pinned;
}

static int fill_node(struct solve *S, struct nstate *n, const uint64_t *compat, const uint32_t *remaining) {
  return fill_from(S, n, compat, remaining, 0);
}

/* Appends group gi (requests req) to active list z and its block's smallest requests. */
static void act_push(struct solve *S, size_t z, uint32_t gi, const int64_t *req) {
  size_t at = S->nact[z]++;
  int64_t *min = &S->act_min[z][at / STV_ACT_BLOCK * STV_MAX_RES];
  int r;
  S->act[z][at] = gi;
  S->act_pos[z][gi] = (uint32_t)at;
  for (r = 0; r < S->ndim; r++) {
    /* A group asking none of a resource fits whatever is left of it. */
    int64_t v = req[r] > 0 ? req[r] : INT64_MIN;
    if (at % STV_ACT_BLOCK == 0 || v < min[r]) min[r] = v;
  }
}

/*
 * Rebuilds the per-zone lists of groups with pods left, in S->order: list z
 * holds the groups a node in zone z may take (zone z or any zone); the
 * last list, for nodes without a zone, the groups of any zone. Also
 * S->minreq, the smallest request of each resource among those groups.
 *
 * Groups that run out later stay in the lists until enough have (see
 * groups_ran_out): the fill passes over them (no pods left to want), and
 * the smallest requests of a list that still holds them are no larger than
 * those of the groups left, so every test made with them (a block none of
 * whose groups fits, a node no group fits) stays true of the groups left.
 * The fill therefore chooses exactly what it would with lists rebuilt
 * every round, which cost a pass over all groups and zones each time.
 */
static void update_active(struct solve *S, const uint32_t *remaining) {
  size_t z, oi;
  int r;
  for (z = 0; z <= S->nzones; z++) S->nact[z] = 0;
  for (r = 0; r < S->ndim; r++) S->minreq[r] = INT64_MAX;
  S->act_live = S->act_dead = 0;
  for (oi = 0; oi < S->ng; oi++) {
    uint32_t gi = S->order[oi];
    const struct group *g = &S->g[gi];
    const int64_t *req;
    if (remaining[gi] == 0) continue;
    S->act_live++;
    req = S->s->classes[g->cls]->req;
    for (r = 0; r < S->ndim; r++)
      if (req[r] < S->minreq[r]) S->minreq[r] = req[r];
    if (g->zone >= 0) {
      act_push(S, (size_t)g->zone, gi, req);
      continue;
    }
    for (z = 0; z <= S->nzones; z++) act_push(S, z, gi, req);
  }
}

/* Counts n more groups run out, rebuilding the lists once they are a sixteenth of them. */
static void groups_ran_out(struct solve *S, const uint32_t *remaining, size_t n) {
  S->act_dead += n;
  if (S->act_dead >= 32 + S->act_live / 16) update_active(S, remaining);
}

/*
 * Bounded subset search for one node, in the manner of Gupta and Ho's
 * Minimum Bin Slack: the first group (in S->order) that fits is forced in,
 * then groups are tried in order with counts from the most that fit down
 * to zero, keeping the pattern of greatest worth. Branches whose worth
 * plus the worth of the node's free room cannot beat the best are cut; the
 * search stops after limit tree nodes (deterministic). On return n holds
 * the best pattern found, never worse than the greedy fill it starts from.
 */
struct search {
  struct solve *S;
  struct nstate *n;
  const uint64_t *compat;
  const uint32_t *remaining;
  long budget;
  double best;
  uint32_t nbest;
  uint32_t *best_g, *best_k;
};

static double room_worth(const struct solve *S, const int64_t *freev) {
  double w = 0;
  int r;
  for (r = 0; r < S->ndim; r++)
    if (S->lambda[r] > 0 && freev[r] > 0) w += S->lambda[r] * (double)freev[r];
  return w;
}

static void search_record(struct search *x, double value) {
  uint32_t i;
  x->best = value;
  x->nbest = x->n->npat;
  for (i = 0; i < x->n->npat; i++) {
    x->best_g[i] = x->n->pat_g[i];
    x->best_k[i] = x->n->gcount[x->n->pat_g[i]];
  }
}

static void search_dfs(struct search *x, size_t from, double value) {
  struct solve *S = x->S;
  struct nstate *n = x->n;
  size_t oi;
  /* The room is the same at every step of the loop: what a step adds it takes off again. */
  double room = room_worth(S, n->free);
  if (value > x->best + 1e-12) search_record(x, value);
  for (oi = from; oi < S->ng && x->budget > 0; oi++) {
    uint32_t gi = S->order[oi], k;
    const struct group *g = &S->g[gi];
    int first = 0;
    x->budget--; /* every group looked at costs, not only the ones added */
    if (value + room <= x->best + 1e-12) return;
    if (x->remaining[gi] <= n->gcount[gi]) continue;
    if (g->zone >= 0 && g->zone != n->zone) continue;
    if (!BIT_GET(x->compat, g->cls)) continue;
    k = stv__resource_cap(S, n->free, S->s->classes[g->cls]->req, x->remaining[gi] - n->gcount[gi]);
    if (k == 0) continue;
    k = host_cap(S, n, g->cls, k, &first);
    if (k == 0 || first) continue;
    for (; k > 0 && x->budget > 0; k--) {
      node_add(S, n, gi, k);
      search_dfs(x, oi + 1, value + k * g->worth);
      node_remove(S, n, gi, k);
    }
  }
}

/* Nodes of more pods than this keep their greedy fill. */
#define SEARCH_MAX_PODS 24
/* Nor do nodes the greedy fill left less than this share of room in. */
#define SEARCH_MIN_ROOM 0.005

static int fill_search(struct solve *S, struct nstate *n, const uint64_t *compat, const uint32_t *remaining,
                       long limit) {
  struct search x;
  size_t oi;
  uint32_t i, forced = UINT32_MAX, kmax = 0;
  double greedy = 0;
  int rc = 0;
  /* The greedy fill is the baseline. */
  (void)fill_node(S, n, compat, remaining);
  for (i = 0; i < n->npat; i++) greedy += n->gcount[n->pat_g[i]] * S->g[n->pat_g[i]].worth;
  memset(&x, 0, sizeof(x));
  x.S = S;
  x.n = n;
  x.compat = compat;
  x.remaining = remaining;
  x.budget = limit < S->search_left ? limit : S->search_left;
  x.best_g = stv_malloc((S->ng + 1) * sizeof(uint32_t));
  x.best_k = stv_malloc((S->ng + 1) * sizeof(uint32_t));
  if (x.best_g == NULL || x.best_k == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  search_record(&x, greedy);
  if (n->npat == 0) goto out;
  /*
   * The search pays where a node holds few pods, so that which ones is a
   * real choice, and the greedy fill left room. A node of many small pods
   * is already nearly full.
   */
  {
    uint32_t pods = 0;
    double room = room_worth(S, n->free), all = room_worth(S, S->ti[n->tmpl].alloc);
    for (i = 0; i < n->npat; i++) pods += n->gcount[n->pat_g[i]];
    if (pods > SEARCH_MAX_PODS || room <= SEARCH_MIN_ROOM * all) goto out;
  }
  /* Empty the node back to its base, then force the first group that fits. */
  while (n->npat > 0) {
    uint32_t gi = n->pat_g[n->npat - 1];
    node_remove(S, n, gi, n->gcount[gi]);
  }
  for (oi = 0; oi < S->ng && forced == UINT32_MAX; oi++) {
    uint32_t gi = S->order[oi];
    const struct group *g = &S->g[gi];
    int first = 0;
    if (remaining[gi] == 0 || (g->zone >= 0 && g->zone != n->zone) || !BIT_GET(compat, g->cls)) continue;
    kmax = stv__resource_cap(S, n->free, S->s->classes[g->cls]->req, remaining[gi]);
    if (kmax) kmax = host_cap(S, n, g->cls, kmax, &first);
    if (kmax && !first) forced = (uint32_t)oi;
  }
  if (forced != UINT32_MAX) {
    uint32_t gi = S->order[forced], k;
    for (k = kmax; k > 0 && x.budget > 0; k--) {
      x.budget--;
      node_add(S, n, gi, k);
      search_dfs(&x, forced + 1, k * S->g[gi].worth);
      node_remove(S, n, gi, k);
    }
  }
  S->search_left -= (limit < S->search_left ? limit : S->search_left) - x.budget;
  /* Rebuild the best pattern. */
  for (i = 0; i < x.nbest; i++) node_add(S, n, x.best_g[i], x.best_k[i]);
out:
  stv_free(x.best_g);
  stv_free(x.best_k);
  return rc;
}

static int nstate_init(struct solve *S, struct nstate *n) {
  memset(n, 0, sizeof(*n));
  n->presence = stv_arena_alloc(&S->a, S->W * 8 + 8);
  n->gcount = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
  n->pat_g = stv_arena_alloc(&S->a, (S->ng + 1) * sizeof(uint32_t));
  n->rcnt = stv_arena_alloc(&S->a, (S->nrules + 1) * sizeof(uint32_t));
  n->stamp = stv_arena_alloc(&S->a, (S->nrules + 1) * sizeof(uint32_t));
  n->gen = 1;
  return n->presence && n->gcount && n->pat_g && n->rcnt && n->stamp ? 0 : STV_ENOMEM;
}

/* Keeps a filled node (sparse copy of its pattern) with mult copies. */
static int push_node(struct solve *S, const struct nstate *n, uint32_t mult) {
  size_t cap = S->cap_nodes;
  struct kept *k;
  uint32_t i;
  if (stv_grow((void **)&S->nodes, &S->cap_nodes, S->nnodes + 1, sizeof(*S->nodes)) != 0) return STV_ENOMEM;
  (void)cap;
  k = &S->nodes[S->nnodes];
  k->existing = n->existing;
  k->tmpl = n->tmpl;
  k->mult = mult;
  k->npat = n->npat;
  k->g = stv_arena_alloc(&S->a, (n->npat + 1) * sizeof(uint32_t));
  k->k = stv_arena_alloc(&S->a, (n->npat + 1) * sizeof(uint32_t));
  if (k->g == NULL || k->k == NULL) return STV_ENOMEM;
  for (i = 0; i < n->npat; i++) {
    k->g[i] = n->pat_g[i];
    k->k[i] = n->gcount[n->pat_g[i]];
  }
  S->nnodes++;
  /* Pods now exist for every rule that counts these classes. */
  for (i = 0; i < n->npat; i++) {
    const uint32_t *ri;
    for (ri = S->rules_counting[S->g[n->pat_g[i]].cls]; *ri != UINT32_MAX; ri++) S->rule_anywhere[*ri] = 1;
  }
  return 0;
}

/* Sort key of a group: groups with per-node limits first (they decide how
 * many nodes exist), then by worth, largest first, then by index. */
struct order_key {
  int limited;
  double worth;
  uint32_t index;
  int32_t priority; /* the class's: the scheduler takes higher priorities first */
};

static int cmp_order(const void *a, const void *b) {
  const struct order_key *x = a, *y = b;
  if (x->priority != y->priority) return x->priority > y->priority ? -1 : 1;
  if (x->limited != y->limited) return y->limited - x->limited;
  if (x->worth != y->worth) return x->worth < y->worth ? 1 : -1;
  return x->index < y->index ? -1 : x->index > y->index;
}

int stv__sort_groups(struct solve *S) {
  struct order_key *k = stv_malloc((S->ng + 1) * sizeof(*k));
  size_t i;
  if (k == NULL) return STV_ENOMEM;
  for (i = 0; i < S->ng; i++) {
    uint32_t c = S->g[i].cls;
    k[i].limited = (int)BIT_GET(&S->anti_host[(size_t)c * S->W], c);
    k[i].worth = S->g[i].worth;
    k[i].index = (uint32_t)i;
    k[i].priority = S->s->classes[c]->priority;
  }
  qsort(k, S->ng, sizeof(*k), cmp_order);
  for (i = 0; i < S->ng; i++) S->order[i] = k[i].index;
  stv_free(k);
  return 0;
}

/* Existing nodes first: their free capacity costs nothing. */
int stv__pack_existing(struct solve *S, uint32_t *remaining) {
  const struct stv_snapshot *s = S->s;
  uint64_t *compat = stv_arena_alloc(&S->a, S->W * 8 + 8);
  uint64_t *only_here = stv_arena_alloc(&S->a, S->W * 8 + 8);
  struct nstate n;
  size_t i, c, k;
  int rc;
  if (compat == NULL || only_here == NULL) return STV_ENOMEM;
  if ((rc = nstate_init(S, &n)) != 0) return rc;
  update_active(S, remaining);
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_node *nd = &s->nodes[i];
    struct stv_node_view v = {nd->name, &nd->labels, nd->ntaints, nd->taints, nd->unschedulable};
    int r, any = 0;
    size_t out = 0;
    uint32_t q;
    cand_reset(S, &n);
    n.existing = (int32_t)i;
    n.tmpl = -1;
    n.zone = S->node_zone[i];
    for (r = 0; r < S->ndim; r++) n.free[r] = nd->alloc[r] - nd->used[r];
    if (is_full(S, n.free)) continue;
    memset(compat, 0, S->W * 8);
    for (c = 0; c < S->nclasses; c++) {
      const struct stv_class *kc = s->classes[c];
      if (kc->daemonset || kc->npending == 0) continue;
      if (!stv__fits_vec(kc->req, n.free, S->ndim)) continue;
      if (!stv_class_fits_node(kc, &v, NULL, 0)) continue;
      BIT_SET(compat, c);
      any = 1;
    }
    if (!any) continue;
    for (k = S->bound_off[i]; k < S->bound_off[i + 1]; k++)
      count_class(S, &n, S->bound_cls[k], S->bound_cnt[k]);
    /* Pods no new node can take get the existing room first; then the rest. */
    for (k = 0; k < S->W; k++) only_here[k] = compat[k] & ~S->tmpl_any[k];
    fill_node(S, &n, only_here, remaining);
    fill_node(S, &n, compat, remaining);
    if (n.npat == 0) continue;
    for (q = 0; q < n.npat; q++)
      if ((remaining[n.pat_g[q]] -= n.gcount[n.pat_g[q]]) == 0) out++;
    if ((rc = push_node(S, &n, 1)) != 0) return rc;
    if (out) groups_ran_out(S, remaining, out);
  }
  return 0;
}

/*
 * The greedy fill of a fresh node cand of template t, resumed from t's
 * stale pattern where it can be. The fill takes the groups in list order,
 * so its pattern lists them in that order; up to the first group that has
 * fewer pods left than the pattern took, every step is the same as before
 * (a group passed over because it did not fit, or a hostname rule barred
 * it, still is: those tests do not depend on how many pods it has left;
 * a group limited by room takes the same count), so those groups go in as
 * they were and the fill resumes after the last of them. A pinned pattern
 * (affinity state) or a searched one is filled from scratch.
 */
static int fill_node_again(struct solve *S, struct nstate *cand, struct tinfo *t, const uint32_t *remaining) {
  const uint64_t *compat = &S->compat[(size_t)(t - S->ti) * S->W];
  uint32_t from = 0, i;
  if (!t->valid || t->pinned || t->searched) return fill_node(S, cand, compat, remaining);
  while (from < t->npat && remaining[t->pat_g[from]] >= t->pat_k[from]) from++;
  if (from == 0 || from == t->npat) return fill_node(S, cand, compat, remaining);
  for (i = 0; i < from; i++) node_add(S, cand, t->pat_g[i], t->pat_k[i]);
  return fill_from(S, cand, compat, remaining, S->act_pos[list_of(S, cand->zone)][t->pat_g[from - 1]] + 1);
}

/* A template's best pattern for the current remaining counts, cached. */
static int eval_template(struct solve *S, struct nstate *cand, size_t ti, const uint32_t *remaining,
                         int search) {
  struct tinfo *t = &S->ti[ti];
  S->stat_evals++;
  uint32_t i;
  double value = 0;
  cand_reset(S, cand);
  memcpy(cand->presence, t->presence, S->W * 8);
  memcpy(cand->free, t->alloc, sizeof(cand->free));
  cand->existing = -1;
  cand->tmpl = (int32_t)ti;
  cand->zone = t->zone;
  cand->base = t->presence;
  for (i = 0; i < t->ndaemons; i++) count_class(S, cand, t->daemons[i], 1);
  if (search) {
    int rc = fill_search(S, cand, &S->compat[ti * S->W], remaining, S->search_limit);
    if (rc != 0) return rc;
    t->pinned = 0;
  } else {
    t->pinned = fill_node_again(S, cand, t, remaining);
  }
  t->searched = search;
  if (stv_grow((void **)&t->pat_g, &t->cap_pat, cand->npat + 1, sizeof(uint32_t)) != 0) return STV_ENOMEM;
  {
    size_t cap2 = t->cap_patk;
    if (stv_grow((void **)&t->pat_k, &cap2, cand->npat + 1, sizeof(uint32_t)) != 0) return STV_ENOMEM;
    t->cap_patk = cap2;
  }
  for (i = 0; i < cand->npat; i++) {
    uint32_t gi = cand->pat_g[i];
    t->pat_g[i] = gi;
    t->pat_k[i] = cand->gcount[gi];
    value += cand->gcount[gi] * S->g[gi].worth;
  }
  t->npat = cand->npat;
  t->value = value;
  t->valid = 1;
  return 0;
}

/* A cached pattern stays exact while every group in it still has as many pods left. */
static int pattern_valid(const struct tinfo *t, const uint32_t *remaining) {
  uint32_t i;
  if (!t->valid) return 0;
  for (i = 0; i < t->npat; i++)
    if (remaining[t->pat_g[i]] < t->pat_k[i]) return 0;
  return 1;
}

#ifndef REFRESH_EVERY
#define REFRESH_EVERY 8
#endif

/* Rounds of: best pattern over all templates, opened as many times as it lasts. */
int stv__pack_new(struct solve *S, uint32_t *remaining) {
  struct nstate cand;
  int rc;
  size_t left = 0, gi, ti, li, nlive = 0;
  uint32_t *live; /* templates that can still win, in index order */
  for (gi = 0; gi < S->ng; gi++) left += remaining[gi];
  if ((rc = nstate_init(S, &cand)) != 0) return rc;
  if ((live = stv_malloc((S->nti + 1) * sizeof(*live))) == NULL) return STV_ENOMEM;
  update_active(S, remaining);
  /* Every template's pattern once; later only the ones that might win. */
  for (ti = 0; ti < S->nti; ti++) {
    struct tinfo *t = &S->ti[ti];
    if (stv__room(S, t) == 0 || t->dominated) continue;
    if ((rc = eval_template(S, &cand, ti, remaining, 0)) != 0) goto out;
  }
  /* One with no room or no pattern now never gets one: room only shrinks
   * here, and a pattern of no value is never filled again. */
  for (ti = 0; ti < S->nti; ti++)
    if (stv__room(S, &S->ti[ti]) != 0 && !S->ti[ti].dominated && S->ti[ti].value > 0)
      live[nlive++] = (uint32_t)ti;
  while (left > 0) {
    long best = -1;
    uint32_t mult, i;
    size_t out = 0;
    struct tinfo *t;
    /*
     * Every REFRESH_EVERY rounds all stale patterns are recomputed; in the
     * rounds between, selection is lazy: take the best score; if its
     * pattern is stale, refresh it and look again; once the best is fresh
     * (and searched), it is the round's choice. Worth mostly shrinks as
     * pods are used up, so stale scores are mostly optimistic; the periodic
     * refresh catches the patterns that grew.
     */
    if (S->stat_rounds % REFRESH_EVERY == 0) {
      for (li = 0; li < nlive; li++) {
        ti = live[li];
        t = &S->ti[ti];
        if (stv__room(S, t) == 0 || t->dominated || t->value <= 0 || pattern_valid(t, remaining)) continue;
        if ((rc = eval_template(S, &cand, ti, remaining, 0)) != 0) goto out;
      }
    }
    for (;;) {
      double best_score = 0, best_value = 0;
      best = -1;
      for (li = 0; li < nlive; li++) {
        double score;
        ti = live[li];
        t = &S->ti[ti];
        if (stv__room(S, t) == 0 || t->dominated || t->value <= 0) continue;
        score = stv__pattern_cost(S, t, t->pat_g, t->pat_k, t->npat) / t->value;
        if (best < 0 || score < best_score - 1e-12 ||
            (fabs(score - best_score) <= 1e-12 && t->value > best_value)) {
          best = (long)ti;
          best_score = score;
          best_value = t->value;
        }
      }
      if (best < 0) break;
      t = &S->ti[best];
      /* Affinity state can change what a pinned pattern may do: recompute. */
      if (t->pinned || !pattern_valid(t, remaining)) {
        if ((rc = eval_template(S, &cand, (size_t)best, remaining, 0)) != 0) goto out;
        if (!t->pinned) continue;
      }
      if (S->search_limit > 0 && S->search_left > 0 && !t->searched) {
        if ((rc = eval_template(S, &cand, (size_t)best, remaining, 1)) != 0) goto out;
        continue;
      }
      break;
    }
    if (best < 0) break;
    S->stat_rounds++;
    t = &S->ti[best];
    /* As many copies as the scarcest group of the pattern allows. */
    mult = UINT32_MAX;
    for (i = 0; i < t->npat; i++)
      if (remaining[t->pat_g[i]] / t->pat_k[i] < mult) mult = remaining[t->pat_g[i]] / t->pat_k[i];
    if (t->pinned) mult = 1;
    if (stv__room(S, t) > 0 && (int64_t)mult > stv__room(S, t)) mult = (uint32_t)stv__room(S, t);
    if (mult == 0) mult = 1;
    if (t->limit_left > 0) t->limit_left -= mult;
    stv__pool_take(S, t, mult);
    /* Rebuild the node state of the pattern to keep it. */
    cand_reset(S, &cand);
    cand.existing = -1;
    cand.tmpl = (int32_t)best;
    cand.zone = t->zone;
    for (i = 0; i < t->npat; i++) {
      cand.pat_g[cand.npat++] = t->pat_g[i];
      cand.gcount[t->pat_g[i]] = t->pat_k[i];
    }
    if ((rc = push_node(S, &cand, mult)) != 0) goto out;
    for (i = 0; i < t->npat; i++) {
      if ((remaining[t->pat_g[i]] -= t->pat_k[i] * mult) == 0) out++;
      left -= (size_t)t->pat_k[i] * mult;
    }
    t->valid = 0;
    if (out) groups_ran_out(S, remaining, out);
  }
out:
  stv_free(live);
  for (ti = 0; ti < S->nti; ti++) {
    stv_free(S->ti[ti].pat_g);
    stv_free(S->ti[ti].pat_k);
    S->ti[ti].pat_g = S->ti[ti].pat_k = NULL;
  }
  return rc;
}

/*
 * Right-sizing: a pattern was chosen for the template it was filled on, but
 * its pods may fit a cheaper one (the last copies of a round are often
 * part-empty). Each kept new-node pattern moves to the cheapest template
 * that takes all its classes, in its zone when a group of it is bound to
 * one, holds its requests next to its own DaemonSets, runs no DaemonSet the
 * old one did not (so hostname rules stay as checked), and has count left.
 */
void stv__right_size(struct solve *S, int keep_spot) {
  size_t i, ti;
  for (i = 0; i < S->nnodes; i++) {
    struct kept *k = &S->nodes[i];
    struct tinfo *cur;
    int64_t need[STV_MAX_RES];
    int32_t zone = -1;
    long best = -1;
    double best_price;
    uint32_t q;
    int r;
    if (k->existing >= 0) continue;
    cur = &S->ti[k->tmpl];
    if (keep_spot && S->p->tmpl[cur->t].capacity_type == STV_CT_SPOT) continue;
    memset(need, 0, sizeof(need));
    for (q = 0; q < k->npat; q++) {
      const struct group *g = &S->g[k->g[q]];
      const struct stv_class *c = S->s->classes[g->cls];
      for (r = 0; r < S->ndim; r++) need[r] += c->req[r] * (int64_t)k->k[q];
      if (g->zone >= 0) zone = g->zone;
    }
    best_price = stv__tinfo_cost(S, cur, need[STV_RES_CPU]);
    for (ti = 0; ti < S->nti; ti++) {
      const struct tinfo *t = &S->ti[ti];
      const struct stv_template *tp = &S->p->tmpl[t->t];
      double price;
      /* The cheap tests first: most templates fail one. A node's cost is
       * never below its price and per-node cost (surplus credits add). */
      if ((long)ti == k->tmpl || (zone >= 0 && t->zone != zone)) continue;
      if (tp->price + tp->node_cost >= best_price - 1e-12) continue;
      if (!stv__fits_vec(need, t->alloc, S->ndim)) continue;
      price = stv__tinfo_cost(S, t, need[STV_RES_CPU]);
      if (price >= best_price - 1e-12) continue;
      if (keep_spot && S->p->tmpl[t->t].capacity_type == STV_CT_SPOT) continue;
      if (t->limit_left >= 0 && t->limit_left < (int64_t)k->mult) continue;
      /* Into another pool only where that pool has room for the copies. */
      if (t->plim != cur->plim && t->plim >= 0 && S->pool_left[t->plim] < (int64_t)k->mult) continue;
      if (!stv__bits_subset(t->presence, cur->presence, S->W)) continue;
      for (q = 0; q < k->npat; q++)
        if (!BIT_GET(&S->compat[ti * S->W], S->g[k->g[q]].cls)) break;
      if (q < k->npat) continue;
      best = (long)ti;
      best_price = price;
    }
    if (best < 0) continue;
    if (cur->limit_left >= 0) cur->limit_left += k->mult;
    if (S->ti[best].limit_left >= 0) S->ti[best].limit_left -= k->mult;
    stv__pool_take(S, cur, -(int64_t)k->mult);
    stv__pool_take(S, &S->ti[best], k->mult);
    k->tmpl = (int32_t)best;
  }
}
