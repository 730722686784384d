/*
 * The solve's working state (struct solve), shared by the files of a solve,
 * and the functions they call in one another. Private to packer/: not part
 * of the public interface. Each file calls only files below it:
 *
 *   solve.c      driver: stv_pack, stv_optimize
 *   optimize.c   column generation over the new nodes (cg_internal.h):
 *   round.c        whole nodes from the LP
 *   price.c        knapsack pricing, the generation rounds
 *   cg_master.c    rows, shapes, master LP, columns
 *   check.c      final affinity and spread check of the plan
 *   bound.c      lower bound (covering LP)
 *   pack.c       heuristic fill, right-sizing
 *   zones.c      zone assignment, groups
 *   explain.c    why a class could not be placed
 *   setup.c      problem -> struct solve, spread-rule domains
 *   spot.c       spot penalty, spot repair, stv_plan_spot_ok
 *   preempt.c, solver.c   preemption pass, GLPK runner
 */
#ifndef STV_PACK_INTERNAL_H
#define STV_PACK_INTERNAL_H

#include <string.h>

#include "packer.h"

#define ZONE_KEY        "topology.kubernetes.io/zone"
#define ZONE_KEY_BETA   "failure-domain.beta.kubernetes.io/zone"
#define HOST_KEY        "kubernetes.io/hostname"
#define HOURS_PER_MONTH 730.0 /* a spot interruption rate is per month */

enum level { LVL_HOST, LVL_ZONE, LVL_OTHER };

/* The level of a topology key: hostname, zone (either zone label) or other. */
static inline enum level stv__level_of(const char *key) {
  if (strcmp(key, HOST_KEY) == 0) return LVL_HOST;
  if (strcmp(key, ZONE_KEY) == 0 || strcmp(key, ZONE_KEY_BETA) == 0) return LVL_ZONE;
  return LVL_OTHER;
}

/* The zone label of a node or template (the beta label as a fallback), or NULL. */
static inline const char *stv__zone_of(const struct stv_labels *l) {
  const char *z = stv_labels_get(l, ZONE_KEY);
  return z ? z : stv_labels_get(l, ZONE_KEY_BETA);
}

/* A required pod (anti-)affinity term or a spread constraint, resolved. */
struct rule {
  int kind; /* RULE_AFF, RULE_ANTI, RULE_SPREAD */
  enum level level;
  uint32_t owner; /* class that carries the rule */
  int self;       /* the owner's own labels match */
  int32_t max_skew;
  int32_t min_domains;
  uint64_t *match; /* classes whose pods the rule counts */
  const struct stv_spread *spread;
  unsigned char *zelig; /* zone spread: which zones are domains */
  /*
   * Spread rules at hostname or zone level: which nodes are domains,
   * elig[i] for existing node i, elig[nnodes + t] for a new node of problem
   * template t (1 a domain, 0 not). Rules whose owners share a placement
   * signature and whose policies agree share one row.
   */
  const unsigned char *elig;
};

enum { RULE_AFF, RULE_ANTI, RULE_SPREAD };

struct group {
  uint32_t cls;
  int32_t zone; /* -1: any zone */
  uint32_t remaining;
  uint32_t total;
  uint32_t *pods; /* pod indexes, total of them */
  uint32_t taken; /* pods handed out to plan nodes */
  double worth;
};

struct tinfo {
  uint32_t t;
  int32_t zone;
  int64_t alloc[STV_MAX_RES]; /* after DaemonSet overhead */
  uint32_t ndaemons;
  uint32_t *daemons;
  int64_t limit_left; /* -1: unlimited */
  uint64_t *presence; /* DaemonSet classes on a fresh node */
  int64_t daemon_cpu; /* cpu requested by its DaemonSet pods (the plan's daemons) */
  int32_t plim;       /* its node pool's index in solve.pool_left, -1: no node limit */
  int dominated;      /* another template is as good in every way */
  /* cached best pattern for the current remaining counts */
  int valid, pinned, searched;
  uint32_t npat;
  uint32_t *pat_g, *pat_k;
  size_t cap_pat, cap_patk;
  double value;
};

/* A hostname spread rule that counts a class, with its owner and skew (struct solve, spread_counting). */
struct host_spread {
  uint32_t rule, owner, max_skew;
};

/* A node being filled: existing or new. */
struct nstate {
  int32_t existing;
  int32_t tmpl; /* index into tinfo */
  int zone;
  int64_t free[STV_MAX_RES];
  uint64_t *presence;   /* classes present (bound or planned) */
  const uint64_t *base; /* classes present before planning (DaemonSets, bound pods) */
  uint32_t *gcount;     /* planned count per group (dense scratch) */
  uint32_t *pat_g;      /* groups with gcount != 0 */
  uint32_t npat;
  /* Per rule: pods on the node that the rule counts, valid where stamp
   * equals gen (0 elsewhere); a reset only moves gen on. */
  uint32_t *rcnt;
  uint32_t *stamp;
  uint32_t gen;
};

/* A node of the plan before pods are handed out: a pattern and its copies. */
struct kept {
  int32_t existing;
  int32_t tmpl;
  uint32_t mult;
  uint32_t npat;
  uint32_t *g, *k;
};

struct solve {
  const struct stv_problem *p;
  const struct stv_snapshot *s;
  struct stv_arena a;
  int ndim;
  size_t W; /* words per class bitset */
  size_t nclasses;
  /* zones */
  const char **zones;
  size_t nzones;
  int32_t *node_zone; /* zone index of each existing node, -1 when none */
  /* rules */
  struct rule *rules;
  size_t nrules;
  uint32_t **class_rules;       /* per class: rule indexes, terminated by UINT32_MAX */
  uint32_t **rules_counting;    /* per class: hostname rules whose selector counts it */
  uint32_t **zrules_counting;   /* per class: zone rules whose selector counts it */
  /* Per class c: the hostname spread rules of other classes that count c
   * (of rules_counting[c]), with their owners and skews, for the fill's
   * per-node test; ends with rule UINT32_MAX. */
  struct host_spread **spread_counting;
  uint32_t *zcnt;               /* [rule][zone]: pods a zone rule counts there */
  unsigned char *rule_anywhere; /* per rule: a matching pod exists or is planned */
  int64_t minreq[STV_MAX_RES];  /* smallest request of the groups in act (pack.c, update_active) */
  long search_limit;            /* subset search budget per node, <= 0: none */
  long search_left;             /* what is left of the budget for the whole solve */
  long stat_rounds, stat_evals; /* for the curious: rounds and pattern evaluations */
  uint32_t **act;               /* per zone (+1): groups with pods left, in order */
  size_t *nact;
  /*
   * Per zone (+1), per block of STV_ACT_BLOCK entries of act: the smallest
   * request of each resource among the block's groups (STV_MAX_RES a block;
   * INT64_MIN where one of them asks none), so that the fill skips a block
   * none of whose groups fits the room left.
   */
  int64_t **act_min;
  size_t act_live, act_dead; /* groups in act at its last rebuild; of them, run out since */
  uint32_t **act_pos;        /* per zone (+1), per group: its index in act (while listed) */
  uint64_t *anti_host;    /* per class W words: classes it may not share a node with */
  /* Per class: the classes of its anti_host row as a list ending in
   * UINT32_MAX, or NULL when the row has more than W of them (the bitset
   * is then the quicker test). */
  uint32_t **anti_list;
  uint64_t *aff_host_any; /* classes having hostname affinity rules */
  uint64_t *spread_host_owner;
  /* existing bound pods: per node (class,count) pairs */
  uint32_t *bound_off;
  uint32_t *bound_cls;
  uint32_t *bound_cnt;
  uint32_t *zone_count; /* [class][zone]: bound + zone-assigned pods */
  /* Classes with pending pods that are no DaemonSet's, in index order (the lower bound's open nodes). */
  uint32_t *pending_cls;
  size_t npending_cls;
  /* templates */
  struct tinfo *ti;
  size_t nti;
  uint64_t *compat;   /* per template: W words of classes */
  uint32_t *sig;      /* per class: placement signature */
  /*
   * Placement keys: pending classes (no DaemonSet's) with the same
   * signature and the same requests fit exactly the same templates and
   * nodes. pkey[c] is class c's key (UINT32_MAX for other classes); the
   * classes of key k are pk_cls[pk_off[k] .. pk_off[k + 1]), the first of
   * them standing for all (and the bits of pk_mask[k] where it has one).
   */
  uint32_t *pkey;
  uint32_t *pk_off, *pk_cls;
  uint64_t **pk_mask; /* per key: W words, its classes; NULL for a key of few classes */
  size_t npkey;
  uint64_t *tmpl_any; /* classes that some template can take */
  /* Node pools with a limit on their new nodes (limits.nodes): what is left. */
  int64_t *pool_left;
  const struct stv_template **pool_tmpl; /* a template of each, for its name and limit */
  size_t npool_lim;
  size_t nsig;
  int32_t *ti_zone_of_tmpl; /* zone index of each problem template */
  /* groups */
  struct group *g;
  size_t ng;
  uint32_t *order; /* groups by worth, decreasing */
  /* results */
  struct kept *nodes;
  size_t nnodes, cap_nodes;
  /* unschedulable */
  struct stv_plan_unsched *un;
  size_t nun, cap_un;
  double lambda[STV_MAX_RES];
  /* optimizer results (optimize.c) */
  double cg_bound;              /* proven lower bound on the new-node cost, < 0: none */
  int cg_bound_kind;            /* enum stv_bound_kind of cg_bound */
  int cg_converged;             /* column generation reached the LP optimum */
  long cg_columns;              /* patterns generated */
  int cg_applied;               /* the new nodes were replaced by the optimizer's */
  double deadline;              /* on p->clock: when the optimizer must stop */
  struct stv_err *err;          /* the caller's, for GLPK's errors */
  struct stv_cg_stats cg_stats; /* the optimizer's figures */
  /* Why the optimizer stopped (enum stv_stop_reason), the gap it judged
   * by (-1: no bound) and the work it did. */
  int cg_stop;
  double cg_stop_gap;
  long cg_work;
};

#define STV_ACT_BLOCK 16 /* groups a block of struct solve's act_min */

#define BIT_SET(w, i) ((w)[(i) >> 6] |= (uint64_t)1 << ((i)&63))
#define BIT_GET(w, i) (((w)[(i) >> 6] >> ((i)&63)) & 1)

static inline int stv__bits_intersect(const uint64_t *a, const uint64_t *b, size_t W) {
  size_t i;
  for (i = 0; i < W; i++)
    if (a[i] & b[i]) return 1;
  return 0;
}

/* need <= have in every dimension. */
static inline int stv__fits_vec(const int64_t *need, const int64_t *have, int ndim) {
  int r;
  for (r = 0; r < ndim; r++)
    if (need[r] > have[r]) return 0;
  return 1;
}

/* 1 when every bit of a is in b. */
static inline int stv__bits_subset(const uint64_t *a, const uint64_t *b, size_t W) {
  size_t i;
  for (i = 0; i < W; i++)
    if (a[i] & ~b[i]) return 0;
  return 1;
}

/* How many pods of request req, up to want, fit in freev. */
static inline uint32_t stv__resource_cap(const struct solve *S, const int64_t *freev, const int64_t *req,
                                         uint32_t want) {
  int r;
  for (r = 0; r < S->ndim; r++) {
    int64_t k, need;
    if (req[r] <= 0) continue;
    if (freev[r] < req[r]) return 0;
    /* Divide only when the whole want does not fit. */
    if (!__builtin_mul_overflow(req[r], (int64_t)want, &need) && need <= freev[r]) continue;
    k = freev[r] / req[r];
    if (k < (int64_t)want) want = (uint32_t)k;
  }
  return want;
}

/* The optimizer (optimize.c) and the spot repair (spot.c), called by solve.c. */

/* Column generation over the new nodes of S->nodes (see optimize.c). */
int stv__optimize(struct solve *S);
/*
 * Moves new spot nodes of S->nodes to on-demand (or reserved) templates of
 * their zone, one copy at a time, until the plan keeps p->spot's limits or
 * no template can take them. Returns 0 or STV_ENOMEM.
 */
int stv__spot_repair(struct solve *S);
/*
 * Runs fn(arg), which may call GLPK, on the calling thread with GLPK's
 * terminal output off and its internal errors caught (solver.c). Returns
 * what fn returns, or STV_ESOLVER (err says what GLPK reported) when GLPK
 * failed; GLPK's environment on this thread is then freed, with every
 * problem object fn had created: fn's caller must not delete them, and must
 * keep the memory it owns reachable from arg or its own frame, for fn never
 * returns in that case. Not nested: fn must not call stv__glpk_run.
 */
int stv__glpk_run(int (*fn)(void *arg), void *arg, struct stv_err *err);

/*
 * The preemption pass (preempt.c). When it makes preemptions, problem is the
 * caller's with snap pointing at a copy of its snapshot (pods, nodes and
 * classes copied, everything else shared) in which each preemptor is bound
 * to its node and each victim is pending; otherwise problem is the
 * caller's as it is.
 */
struct stv__preempt {
  struct stv_problem problem;
  struct stv_snapshot snap;
  struct stv_arena mem;
  struct stv_pod *pods;
  struct stv_node *nodes;
  struct stv_class **classes;
  struct stv_class *cls;
  struct stv_plan_preemption *v; /* victims in mem */
  size_t n, cap;
  size_t nvictims;
};

/* Runs the pass over p (borrowed, must outlive x). Returns 0 or STV_ENOMEM; close x whatever the result. */
int stv__preempt_run(const struct stv_problem *p, struct stv__preempt *x);
void stv__preempt_close(struct stv__preempt *x);
/*
 * Adds to plan (built from x->problem) the preemptions, each preemptor on
 * its node, and the pods left out with their reasons, all in plan->mem.
 * orig is the caller's snapshot. Returns 0 or STV_ENOMEM.
 */
int stv__preempt_apply(const struct stv__preempt *x, const struct stv_snapshot *orig, struct stv_plan *plan);

/* --- Between the files of the solve (each file says what it owns) --- */

/* setup.c (also used by peers.c) */
int stv__term_matches_class(const struct stv_snapshot *s, const struct stv_pod_term *t,
                            const struct stv_class *owner, const struct stv_class *c);
int stv__spread_matches_class(const struct stv_spread *k, const struct stv_class *owner,
                              const struct stv_class *c);
int stv__add_unsched(struct solve *S, uint32_t pod, const char *reason);
int stv__setup_zones(struct solve *S);
int stv__setup_rules(struct solve *S);
uint32_t stv__zone_matches(const struct solve *S, uint32_t ri, size_t z);
void stv__zone_add(struct solve *S, uint32_t c, size_t z);
int stv__setup_bound(struct solve *S);
void stv__setup_lambda(struct solve *S);
double stv__worth_of(const struct solve *S, const struct stv_class *c);
int stv__setup_templates(struct solve *S);
int stv__setup_spread_elig(struct solve *S);
int stv__setup_rule_zones(struct solve *S);

/* zones.c */
int stv__setup_groups(struct solve *S);

/* pack.c */
int stv__sort_groups(struct solve *S);
int stv__pack_existing(struct solve *S, uint32_t *remaining);
int stv__pack_new(struct solve *S, uint32_t *remaining);
void stv__right_size(struct solve *S, int keep_spot);

/* explain.c */
void stv__explain(const struct solve *S, uint32_t c, char *why, size_t size);

/* check.c */
int stv__emit(struct solve *S, struct stv_plan *plan);
int stv__spread_check(struct solve *S, struct stv_plan *plan);
size_t stv__count_undominated(const struct solve *S);
void stv__compact_plan(struct solve *S, struct stv_plan *plan);

/* bound.c */
int stv__lower_bound(struct solve *S, struct stv_plan *plan);
int stv__fits_existing(const struct solve *S, uint32_t c);
void stv__existing_room(const struct solve *S, double *room);

/* spot.c */
double stv__spot_penalty(const struct stv_problem *p, const struct stv_template *t);

/*
 * New nodes template t may still have: the least of its own count
 * (reserved) and its pool's node limit; -1 when neither limits it.
 */
static inline int64_t stv__room(const struct solve *S, const struct tinfo *t) {
  int64_t p = t->plim >= 0 ? S->pool_left[t->plim] : -1;
  if (t->limit_left < 0) return p;
  return p < 0 || t->limit_left < p ? t->limit_left : p;
}

/* Counts n more new nodes of t against its pool's node limit (n < 0: gives them back). */
static inline void stv__pool_take(struct solve *S, const struct tinfo *t, int64_t n) {
  if (t->plim >= 0) S->pool_left[t->plim] -= n;
}

/* econ.c: a new node's cost with its pods' cpu (docs/optimizer.md, "Economics") */
int stv__setup_pool_limits(struct solve *S);
/* Whether plan keeps every pool's node limit. */
int stv__plan_pools_ok(const struct stv_problem *p, const struct stv_plan *plan);
double stv__tinfo_cost(const struct solve *S, const struct tinfo *t, int64_t pods_cpu);
/* The cost of a node of t holding k[i] pods of group g[i], i < n. */
double stv__pattern_cost(const struct solve *S, const struct tinfo *t, const uint32_t *g, const uint32_t *k,
                         uint32_t n);

#endif
