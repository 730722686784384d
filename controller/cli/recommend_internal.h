/*
 * Internal interfaces between the files of `stevedore recommend` (not for
 * other commands):
 *   recommend.c        the command: runs the phases, notes, output
 *   recommend_opts.c   its flags, its help and their merge with --config
 *   plan_summary.c     what the JSON and the table both say about a plan:
 *                      headroom's share of it, the gap to the lower bound
 *   plan_json.c        the plan as JSON (README.md's contract)
 *   plan_table.c       the plan as a table for a person
 */
#ifndef STV_CLI_RECOMMEND_INTERNAL_H
#define STV_CLI_RECOMMEND_INTERNAL_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "controller.h"

/* The most names --scheduler-names takes. */
#define STV_MAX_SCHEDULER_NAMES 32

/*
 * The plan table is built in a base buffer (so that a failure prints
 * nothing), capped: a table past this size is a runaway, not a plan to read.
 */
#define STV__TABLE_MAX_BYTES ((size_t)256 << 20)

/* ---------------------------------------------------------------------- */
/* recommend_opts.c                                                       */

struct stv__recommend_opts {
  const char **snapshots; /* owned array of borrowed argv strings */
  size_t nsnapshots;
  const char *catalog;
  const char *config; /* --config FILE, or NULL */
  int json;
  int quiet;
  /* Flags that override the configuration file, each with whether it was given. */
  int has_capacity_types, has_time_limit, has_max_share, has_pool_fraction, has_restart_cost;
  int has_headroom_unit, has_headroom_percent;
  unsigned allowed;
  double time_limit, max_share, pool_fraction, restart_cost, headroom_percent;
  struct stv_headroom_unit unit; /* --headroom-count/-cpu/-memory */
  char capacity_types[64];       /* the allowed types, for the table's header */
  int repack;                    /* --mode repack */
  int repack_system_pods;        /* --repack-system-pods */
  /* --scheduler-names (split in place in sched_buf, owned) and --expendable-pods-priority-cutoff */
  int has_sched_names, has_cutoff;
  char *sched_buf;
  const char *sched_names[STV_MAX_SCHEDULER_NAMES];
  size_t nsched_names;
  int32_t cutoff;
  const char *kubeconfig, *context; /* --kubeconfig, --context: read the live cluster */
  int has_node_cost;
  double node_cost; /* --node-cost */
  /* --gap-tolerance (percent), --stall-rounds, --decision-budget */
  int has_gap_tolerance, has_stall_rounds;
  double gap_tolerance, decision_budget;
  long stall_rounds;
  /* The churn-aware repack: --max-moves (-1: none), --eviction-price, --min-saving (percent) */
  int churn, has_eviction_price, has_min_saving;
  long max_moves;
  double eviction_price, min_saving;
};

/* Writes `stevedore recommend --help` to f. */
void stv__recommend_usage(FILE *f);

/*
 * Reads the command line into o (argv borrowed: o points into it). Returns
 * 0, 1 for --help, or a negative STV_ code with err naming the flag. o is
 * initialised here; close it with stv__recommend_opts_close whatever the
 * result.
 */
int stv__recommend_parse_opts(int argc, char **argv, struct stv__recommend_opts *o, struct stv_err *err);
void stv__recommend_opts_close(struct stv__recommend_opts *o);

/*
 * Loads --config (when given) into cfg, then lets the flags override it.
 * cfg is initialised here and closed by the caller whatever the result.
 * cfg may point into o afterwards: close o after cfg's last use.
 */
int stv__recommend_settle_config(struct stv__recommend_opts *o, struct stv_config *cfg, struct stv_err *err);

/* ---------------------------------------------------------------------- */
/* plan_summary.c                                                         */

/* Whether pod is one of headroom's virtual pods. */
static inline int stv__is_headroom(const struct stv_snapshot *s, uint32_t pod) {
  return (s->pods[pod].flags & STV_POD_HEADROOM) != 0;
}

/* Headroom pods among a plan node's pods. */
uint32_t stv__node_headroom(const struct stv_snapshot *s, const struct stv_plan_node *pn);

/* The instance type of a plan node (NULL when an existing node has none). */
const char *stv__plan_node_type(const struct stv_problem *pb, const struct stv_plan_node *pn);

/* "ns/name" of pod i of s into buf; returns buf. */
const char *stv__pod_key(const struct stv_snapshot *s, uint32_t i, char *buf, size_t size);

/* What headroom's virtual pods asked for, where they went and what they cost. */
struct stv__headroom_stats {
  size_t pods, placed, unplaced;
  size_t on_existing, on_new; /* pods */
  size_t new_nodes;           /* new nodes holding any */
  int64_t cpu, memory;        /* asked by all of them */
  double hourly_cost;
  const char *unplaced_reason; /* of the first one not placed (borrowed from the plan) */
};

/* Fills h for r's plan (all zero without headroom). */
void stv__headroom_stats(const struct stv_recommend_result *r, struct stv__headroom_stats *h);

/* A gap above this (relative to the bound) gets its likely reasons named. */
#define STV__GAP_EXPLAIN_ABOVE 0.10
#define STV__GAP_REASONS_MAX   8

struct stv__gap_reason {
  const char *code; /* machine-readable, documented in README.md */
  char text[320];   /* for a person */
};

struct stv__gap_explain {
  double gap; /* (cost - bound) / bound; negative when there is no usable bound */
  size_t n;
  struct stv__gap_reason r[STV__GAP_REASONS_MAX];
};

/*
 * Names what the code can tell about a large gap between the plan's cost
 * and its lower bound. Fills g (g->n = 0 when the gap is small or there
 * is no bound).
 */
void stv__explain_gap(const struct stv_recommend_result *r, struct stv__gap_explain *g);

/* What the lower bound is: in a few words for the table, and its JSON name. */
const char *stv__bound_kind_text(int kind);

/*
 * Why the optimizer stopped, as one line for the table and the JSON
 * ("stopped: gap 0.42% ≤ 0.50%", "stopped: stalled (...)", "stopped: time
 * limit", ...); empty when it did not run. Returns buf.
 */
const char *stv__stop_text(const struct stv_recommend_result *r, char *buf, size_t size);
const char *stv__bound_kind_name(int kind);

/* ---------------------------------------------------------------------- */
/* plan_json.c and plan_table.c                                           */

/* names[i] of a table of n names by enum value; "" past its end or at a hole. */
static inline const char *stv__name_of(const char *const *names, size_t n, unsigned i) {
  return i < n && names[i] != NULL ? names[i] : "";
}

/* A new object appended to arr (borrowed); NULL on ENOMEM (nothing appended). */
cJSON *stv__json_array_add_object(cJSON *arr);

/* Sets key to v, or to null when v is NULL (o borrowed). */
void stv__json_add_str_or_null(cJSON *o, const char *key, const char *v);

/*
 * The plan as JSON text (free with cJSON_free), also counting in *replaced
 * the bytes of invalid UTF-8 written as U+FFFD. NULL on ENOMEM.
 */
char *stv__recommend_render_json(const struct stv_recommend_result *r, size_t *replaced);

/*
 * Appends the plan table for a person to b. catalog and capacity_types are
 * for its header. Returns 0, STV_ENOMEM, or STV_ELIMIT when b's cap is hit.
 */
int stv__recommend_render_table(const struct stv_recommend_result *r, const char *catalog,
                                const char *capacity_types, struct stv_buf *b);

#endif
