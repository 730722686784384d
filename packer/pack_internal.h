/*
 * The heuristic's working state, shared by pack.c and the optimizer
 * (optimize.c). Private to packer/: not part of the public interface.
 */
#ifndef STV_PACK_INTERNAL_H
#define STV_PACK_INTERNAL_H

#include "packer.h"

#define ZONE_KEY      "topology.kubernetes.io/zone"
#define ZONE_KEY_BETA "failure-domain.beta.kubernetes.io/zone"
#define HOST_KEY      "kubernetes.io/hostname"

enum level { LVL_HOST, LVL_ZONE, LVL_OTHER };

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
  int dominated;      /* another template is as good in every way */
  /* cached best pattern for the current remaining counts */
  int valid, pinned, searched;
  uint32_t npat;
  uint32_t *pat_g, *pat_k;
  size_t cap_pat, cap_patk;
  double value;
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
  uint32_t *rcnt;       /* per rule: pods on the node that the rule counts */
  uint32_t *touched;    /* rules counted since the last reset, each once */
  unsigned char *tmark; /* per rule: listed in touched */
  uint32_t ntouched;
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
  uint32_t *zcnt;               /* [rule][zone]: pods a zone rule counts there */
  unsigned char *rule_anywhere; /* per rule: a matching pod exists or is planned */
  int64_t minreq[STV_MAX_RES];  /* smallest request of the remaining groups */
  long search_limit;            /* subset search budget per node, <= 0: none */
  long search_left;             /* what is left of the budget for the whole solve */
  long stat_rounds, stat_evals; /* for the curious: rounds and pattern evaluations */
  uint32_t **act;               /* per zone (+1): groups with pods left, in order */
  size_t *nact;
  uint64_t *anti_host;    /* per class W words: classes it may not share a node with */
  uint64_t *aff_host_any; /* classes having hostname affinity rules */
  uint64_t *spread_host_owner;
  /* existing bound pods: per node (class,count) pairs */
  uint32_t *bound_off;
  uint32_t *bound_cls;
  uint32_t *bound_cnt;
  uint32_t *zone_count; /* [class][zone]: bound + zone-assigned pods */
  /* templates */
  struct tinfo *ti;
  size_t nti;
  uint64_t *compat; /* per template: W words of classes */
  uint32_t *sig;    /* per class: placement signature */
  uint64_t *tmpl_any; /* classes that some template can take */
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
  double cg_bound;   /* proven lower bound on the new-node cost, < 0: none */
  int cg_converged;  /* column generation reached the LP optimum */
  long cg_columns;   /* patterns generated */
  int cg_applied;    /* the new nodes were replaced by the optimizer's */
  double deadline;   /* on p->clock: when the optimizer must stop */
  struct stv_err *err;          /* the caller's, for GLPK's errors */
  struct stv_cg_stats cg_stats; /* the optimizer's figures */
};

#define BIT_SET(w, i) ((w)[(i) >> 6] |= (uint64_t)1 << ((i)&63))
#define BIT_GET(w, i) (((w)[(i) >> 6] >> ((i)&63)) & 1)

static inline int stv__bits_intersect(const uint64_t *a, const uint64_t *b, size_t W) {
  size_t i;
  for (i = 0; i < W; i++)
    if (a[i] & b[i]) return 1;
  return 0;
}

/* Hooks between the heuristic and the optimizer. */

/* Column generation over the new nodes of S->nodes (see optimize.c). */
int stv__optimize(struct solve *S);
/*
 * Moves new spot nodes of S->nodes to on-demand (or reserved) templates of
 * their zone, one copy at a time, until the plan keeps p->spot's limits or
 * no template can take them. Returns 0 or STV_ENOMEM.
 */
int stv__spot_repair(struct solve *S);
/* stv_pack with the optimizer run on the heuristic's new nodes, until deadline (on p->clock). */
int stv__pack_optimized(const struct stv_problem *p, struct stv_plan *plan, double deadline, struct stv_err *err);
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

#endif
