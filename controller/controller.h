/*
 * controller: the stevedore command, its subcommands, and the pieces they
 * share (snapshot reading lives in snapshot.h, the streaming reader in
 * jsonstream.h).
 */
#ifndef STV_CONTROLLER_H
#define STV_CONTROLLER_H

#include <stddef.h>

#include "config.h"
#include "packer.h"
#include "pricing.h"
#include "snapshot.h"

/*
 * What a recommendation is computed from; every pointer is borrowed. Zeros
 * (and NULLs) are the defaults for everything after time_limit.
 */
struct stv_recommend_args {
  const char *const *snapshots;
  size_t nsnapshots;
  const char *catalog; /* spec for stv_catalog_load */
  unsigned allowed;    /* (1u << STV_CT_*) mask of capacity types */
  long search_limit;   /* stv_problem.search_limit */
  double time_limit;   /* optimizer budget, seconds; <= 0: heuristic only */
  const struct stv_spot_policy *spot; /* NULL: stv_spot_policy_default */
  const struct stv_node_pool *pools;  /* none: one default pool, the whole catalogue */
  size_t npools;
  const struct stv_headroom_unit *headroom; /* manual headroom units */
  size_t nheadroom;
  double headroom_percent; /* automatic headroom, % of existing allocatable; 0 = none */
};

/* ---------------------------------------------------------------------- */
/* Headroom (headroom.c)                                                  */

/* The namespace of headroom's virtual pods, named headroom-1, headroom-2, ... */
#define STV_HEADROOM_NAMESPACE "stevedore-headroom"

/* The headroom a snapshot was given. */
struct stv_headroom {
  struct stv_headroom_unit *units; /* in pod order: manual units with count > 0, then the automatic one */
  size_t nunits;
  int automatic; /* the last unit is the automatic one */
  size_t npods;  /* virtual pods added: the sum of the units' counts */
};

/*
 * The automatic headroom unit for percent (% of the allocatable cpu and of
 * the allocatable memory of the nodes of s that are not cordoned, taken to
 * four decimals): pods of 1 cpu and the cluster's mean memory per cpu
 * (rounded up to a whole MiB), as many as cover both shares (each rounded
 * up). count is 0 without nodes, cpu or percent. Returns 0, or STV_ELIMIT
 * beyond 1,000,000 pods.
 */
int stv_headroom_automatic(const struct stv_snapshot *s, double percent, struct stv_headroom_unit *unit,
                           struct stv_err *err);

/*
 * Adds headroom's virtual pods to s, after its last item is read and
 * before stv_snapshot_finish: each manual unit (borrowed) then the automatic
 * one for percent (0 = none), as pending pods of namespace
 * STV_HEADROOM_NAMESPACE with flag STV_POD_HEADROOM, the unit's cpu and
 * memory requests, no labels and no constraints. *out describes them; its
 * units live in s->mem. Returns 0; STV_ECONFLICT when a pod of s is in that
 * namespace already; STV_ELIMIT beyond 1,000,000 virtual pods; STV_ENOMEM.
 */
int stv_headroom_add(struct stv_snapshot *s, const struct stv_headroom_unit *manual, size_t nmanual, double percent,
                     struct stv_headroom *out, struct stv_err *err);

/* ---------------------------------------------------------------------- */
/* recommend                                                              */

/* Seconds on the monotonic clock: the optimizer's stv_problem.clock. */
double stv_monotonic_seconds(void);

/* A recommendation and everything it points into; close with _close. */
struct stv_recommend_result {
  struct stv_snapshot snap;
  struct stv_snapshot_read_stats stats;
  struct stv_catalog catalog;
  struct stv_templates templates;
  struct stv_problem problem;
  struct stv_plan plan;
  struct stv_headroom headroom; /* the virtual pods added to snap */
  int have_snap, have_catalog, have_templates, have_plan;
  double read_ms, catalog_ms, pack_ms; /* wall time of each phase */
};

/*
 * Reads the snapshots, loads the catalogue, builds templates and packs.
 * r is caller-allocated; close it with stv_recommend_result_close whatever
 * the result. Returns 0 or a negative STV_ code with err naming the file,
 * item and field at fault.
 */
int stv_recommend_run(const struct stv_recommend_args *a, struct stv_recommend_result *r,
                      struct stv_err *err);
void stv_recommend_result_close(struct stv_recommend_result *r);

/* The plan as the JSON contract documented in README.md; free with cJSON_free. NULL on ENOMEM. */
char *stv_recommend_render_json(const struct stv_recommend_result *r);

/* `stevedore recommend ARGS`; returns the process exit status. */
int stv_cmd_recommend(int argc, char **argv);

/* `stevedore report ARGS` (controller/report.c); returns the exit status. */
int stv_cmd_report(int argc, char **argv);

#endif
