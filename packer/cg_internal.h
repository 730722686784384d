/*
 * The optimizer's working state (struct cg) and the functions its files
 * (cg_master.c, price.c, round.c, optimize.c) call in one another.
 * Private to packer/: only optimize.c's stv__optimize is seen outside.
 */
#ifndef STV_CG_INTERNAL_H
#define STV_CG_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include <glpk.h>

#include "pack_internal.h"

#define RC_EPS         1e-6
#define KNAP_NODES     20000L  /* search nodes per pricing problem */
#define MAX_ROUNDS     500     /* column generation rounds */
#define MAX_COLUMNS    100000L /* patterns kept in the master */
#define ADD_PER_ROUND  64      /* best patterns added per round */
#define KBEST          8       /* patterns kept per pricing problem */
#define PARTIAL_SHAPES 48      /* shapes priced per round while columns come */
#define SMOOTH         0.5     /* weight of the previous duals (stabilisation) */

/* A row of the master: one group's pods still to place. */
struct item {
  uint32_t g;
  uint32_t cls;
  uint32_t demand;
  uint32_t cap;   /* per node; UINT32_MAX = no hostname limit */
  uint32_t resid; /* demand not yet met by fixed patterns (diving) */
  int row;
  int32_t zone; /* the only zone its pods may use, -1 = any */
};

/* Templates that price alike. */
struct shape {
  uint32_t first, n; /* range in cg.sh_ti */
  double lambda;     /* spot penalty per pod */
  uint32_t *items;   /* items it may hold */
  uint32_t nitems;
  int conflicts; /* some pair of its items repel each other */
  double gain;   /* scratch: how promising this round */
  /* Unlimited-mode burstable templates: surplus credits cost surplus per
   * millicore-hour of the pods' cpu above free_cpu (the baseline less the
   * DaemonSets' cpu). surplus 0: a fixed cost. */
  double surplus;
  int64_t free_cpu;
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
  int64_t *limit;        /* per tinfo: count left for the optimizer, -1 = any */
  int *limit_row;        /* per tinfo: 0 = none yet */
  int *pool_row;         /* per tinfo (spot): 0 = none yet */
  double *lambda;        /* per tinfo */
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
  double *frozen_pool; /* per tinfo */
  double frozen_spot, frozen_spot_cost, frozen_cost;
  double frac, share;
  double big; /* cost of one unplaced pod (slack) */
  double lambda_max;
  int real_prices;    /* no spot penalty: columns cost their price (the bound) */
  int items_by_class; /* item_of_group is indexed by class (the bound) */
  int timed;
  double deadline;
  /* knapsack scratch */
  uint32_t *kidx, *kcnt, *kbest, *ku;
  double *kval, *ksize, *suf_val, *suf_s, *suf_r;
  int64_t rem[STV_MAX_RES];
  int64_t cap[STV_MAX_RES];
  int64_t cpu_cap; /* > 0: the knapsack's cpu capacity, below the shape's */
  uint64_t *kpres;
  uint32_t kn;
  double kcur, kbest_val;
  uint32_t *ksol; /* KBEST patterns, kn counts each */
  double ksolv[KBEST];
  int nksol;
  double kneed; /* a pattern is worth keeping above this value */
  long knodes;
  long klimit; /* search nodes allowed per pricing problem */
  int proving; /* the root LP: pricing searched deeper, for a bound */
  /* The pattern bound's clique cover of the items (bound_knap.c), NULL
   * elsewhere: an unfinished search is then bounded with the conflicts. */
  const uint32_t *clique;
  int kexact, kconf;
  /* the best integer solution found */
  double *xbest;
  size_t nxbest; /* patterns it covers (later ones are 0) */
  /* Kept here, not on cg_run's stack, so that stv__optimize frees them
   * even when a GLPK error never lets cg_run return. */
  unsigned char *frozen_node;
  double *xd, *xm, *xg, *xe;
  /*
   * Stopping (docs/optimizer.md, "Stopping"). work counts the work units
   * done outside the master LP (pricing search nodes, the knapsacks'
   * simplex iterations, branch-and-bound subproblems); stv__work adds the
   * master's simplex iterations. work_end is the current phase's share of
   * work_limit (0 = no work budget), as deadline is of the time.
   */
  long work, work_end, work_limit;
  double end;       /* the whole optimizer's deadline (timed) */
  double gap_tol;   /* < 0: stop at the proven optimum only */
  int stall_rounds; /* <= 0: no stall rule */
  int stalled;      /* the root LP stalled */
  int stop;         /* enum stv_stop_reason once decided early, else 0 */
  double incumbent; /* best solution's effective cost, INFINITY = none */
  double bound;     /* proven bound on it, -1 = none */
  double stop_at;   /* a solution this cheap is optimal */
  double gap_at;    /* a solution this cheap is within the tolerance */
  /*
   * The integer phase's stall window (docs/optimizer.md, "Stopping"): once
   * armed (win > 0 or wwin > 0), the phase stops when the best plan has not
   * become cheaper than ref by STV_STALL_IMPROVEMENT for win seconds (a
   * wall-time budget) or wwin work units (a work budget), counted from
   * since_t / since_w, which every such improvement moves on.
   */
  double win, since_t, ref;
  long wwin, since_w;
  double win_len; /* what win and wwin become when armed (0 = no window) */
  long wwin_len;
};

/* Weight of one simplex iteration of the master, in work units. */
#define WORK_PER_ITER 200L

static inline double now_s(const struct cg *C) {
  return C->p->clock ? C->p->clock() : 0;
}

static inline long stv__work(const struct cg *C) {
  return C->work + (C->lp != NULL ? WORK_PER_ITER * (long)glp_get_it_cnt(C->lp) : 0);
}

/* The integer phase's stall window is armed and has passed without a gain. */
static inline int window_passed(const struct cg *C) {
  if (C->wwin > 0) return stv__work(C) - C->since_w >= C->wwin;
  return C->win > 0 && C->timed && now_s(C) - C->since_t >= C->win;
}

/* The current phase's time or work is used up (or the solve stopped). */
static inline int out_of_time(const struct cg *C) {
  if (C->stop || window_passed(C)) return 1;
  if (C->work_end > 0 && stv__work(C) >= C->work_end) return 1;
  return C->timed && now_s(C) >= C->deadline;
}

/* A phase's share of what is left: saved is restored by phase_end. */
struct phase {
  double deadline;
  long work_end;
};

static inline struct phase phase_begin(struct cg *C, double share) {
  struct phase saved = {C->deadline, C->work_end};
  /* Under a work budget the time is a safety net for the whole solve only. */
  if (C->timed && C->work_limit <= 0) C->deadline = now_s(C) + share * (saved.deadline - now_s(C));
  if (C->work_end > 0) {
    long w = stv__work(C), left = saved.work_end > w ? saved.work_end - w : 0;
    C->work_end = w + (long)(share * (double)left) + 1;
  }
  return saved;
}

static inline void phase_end(struct cg *C, struct phase saved) {
  C->deadline = saved.deadline;
  C->work_end = saved.work_end;
}

/* Hands one line to the caller's trace callback, when there is one. */
static inline void trace(const struct cg *C, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void trace(const struct cg *C, const char *fmt, ...) {
  char line[512];
  va_list ap;
  if (C->p->trace == NULL) return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  C->p->trace(C->p->trace_ctx, line);
}

/* --- Between the optimizer's files --- */

/* A hash and an index (template, class), sorted by hash then index. */
struct shape_key {
  uint32_t ti;
  uint64_t h;
};

/* cg_master.c */
int64_t stv__items_cpu(const struct cg *C, const uint32_t *pi, const uint32_t *pk, uint32_t n);
int stv__setup_items(struct cg *C, unsigned char *frozen_node);
int stv__setup_shapes(struct cg *C, const unsigned char *frozen_node);
int stv__cmp_shape_key(const void *a, const void *b);
uint64_t stv__pattern_hash(uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n);
int stv__seen_lookup(const struct cg *C, uint64_t h);
long stv__add_column(struct cg *C, uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n);
int stv__glp_col_of(const struct cg *C, size_t j);
int stv__setup_master(struct cg *C, const unsigned char *frozen_node);
int stv__seed_columns(struct cg *C, const unsigned char *frozen_node);

/* optimize.c */
int stv__cg_scratch(struct cg *C);
void stv__cg_release(struct cg *C);
int stv__lp_slack_free(struct cg *C);

/* bound_cg.c */
int stv__pattern_bound(struct solve *S, double deadline, long work_limit);

/* bound_knap.c */
long stv__bound_cliques(const struct cg *C, uint32_t *clique);
int stv__knap_conflict_bound(struct cg *C, const uint32_t *clique, double need, double *value);
void stv__knap_lp_items(const struct cg *C, glp_prob *lp, int *ia, int *ja, double *ar, int *nz);

/* price.c */
int stv__generate(struct cg *C, int *converged, double *lb);
double stv__fixed_cost(const struct cg *C, uint32_t ti);
int stv__knap_lp_bound(struct cg *C, double *value);
int stv__knapsack(struct cg *C, const struct shape *sh, const double *y, double need, uint32_t *pi,
                  uint32_t *pk, uint32_t *n, double *ub);

/* optimize.c: records a new proven bound, stops the solve when the best
 * solution is within the tolerance of it (returns 1 then). */
int stv__bound_check(struct cg *C, double lb);
/* optimize.c: a plan of this cost was found in the integer phase; an
 * improvement of STV_STALL_IMPROVEMENT or more restarts the stall window. */
void stv__stall_progress(struct cg *C, double cost);

/* round.c */
double *stv__residual_greedy(struct cg *C, int *rcp);
int stv__dive(struct cg *C, double stop_at, int strategy, double **xout, int *rcp);
int stv__integral_costs(const struct cg *C);
int stv__solution_ok(const struct cg *C, const double *x);
double stv__solution_cost(const struct cg *C, const double *x);
double *stv__mip(struct cg *C, const double *x0, double stop_at, int *rcp);
/* round.c: the column of pattern (ti, pi, pk, n), -1 when there is none. */
long stv__find_column(const struct cg *C, uint32_t ti, const uint32_t *pi, const uint32_t *pk, uint32_t n);

/* exact.c: the exact search for pure packing (docs/optimizer.md, "Exact
 * search"). stv__exact_prepare reads the root LP's duals and solution (call
 * it before any column is added after the root) and returns the search's
 * state (in the solve's arena), or NULL when it is skipped (the reason in
 * the plan's statistics) or on STV_ENOMEM (*rcp). global: the master is
 * the whole problem; converged: the root LP reached its optimum. */
struct ex;
struct ex *stv__exact_prepare(struct cg *C, int global, int converged, int *rcp);
/* exact.c: runs the search once: a plan as counts per column (the caller
 * frees it), or NULL when it found none cheaper than the incumbent or
 * failed (*rcp STV_ENOMEM). May raise the proven bound (stv__bound_check)
 * and so stop the solve. */
double *stv__exact_run(struct ex *E, int *rcp);

#endif
