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
