/*
 * controller: the stevedore command, its subcommands, and the pieces they
 * share (snapshot reading lives in snapshot.h, the streaming reader in
 * jsonstream.h).
 */
#ifndef STV_CONTROLLER_H
#define STV_CONTROLLER_H

#include <stddef.h>

#include <cjson/cJSON.h>

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
  const char *catalog; /* spec for stv_catalog_load; NULL: the nodes' region (stv_catalog_guess) */
  unsigned allowed;    /* (1u << STV_CT_*) mask of capacity types */
  long search_limit;   /* stv_problem.search_limit */
  double time_limit;   /* optimizer budget, seconds; <= 0: heuristic only */
  const struct stv_spot_policy *spot; /* NULL: stv_spot_policy_default */
  const struct stv_node_pool *pools;  /* none: one default pool, the whole catalogue */
  size_t npools;
  const struct stv_headroom_unit *headroom; /* manual headroom units */
  size_t nheadroom;
  double headroom_percent; /* automatic headroom, % of existing allocatable; 0 = none */
  int repack;              /* what-if repack (docs/repack.md) instead of pending pods */
  int repack_system_pods;  /* the repack may move system-critical and kube-system controller pods */
  const char *const *scheduler_names; /* pods of other schedulers are not planned; NULL: default-scheduler */
  size_t nscheduler_names;
  const int32_t *priority_cutoff; /* expendable-pods priority cutoff; NULL: STV_PRIORITY_CUTOFF_DEFAULT */
  const char *kubeconfig;         /* read the live cluster (kubeclient.h) after the snapshots; or NULL */
  const char *context;            /* its context; NULL: current-context */
  double node_cost;               /* per node-hour on every new node whose pool sets none */
  /* The optimizer's stopping rules and decision mode (stv_problem's
   * gap_tolerance, stall_rounds, work_limit; 0: the defaults, no budget). */
  double gap_tolerance;
  int stall_rounds;
  double decision_budget; /* seconds of work on the reference machine; 0 = none */
  /* The churn-aware repack (docs/consolidation.md): with repack, when churn is set. */
  int churn;
  struct stv_cons_options cons;
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
  int64_t cpu;   /* millicores asked by all the virtual pods (checked sum) */
  int64_t memory; /* bytes asked by all the virtual pods (checked sum) */
};

/*
 * The automatic headroom unit for percent (% of the allocatable cpu and of
 * the allocatable memory of the nodes of s that are not cordoned, taken to
 * four decimals): pods of 1 cpu and the cluster's mean memory per cpu
 * (rounded up to a whole MiB), as many as cover both shares (each rounded
 * up). count is 0 without nodes, cpu or percent. Returns 0, or STV_ELIMIT
 * beyond STV_HEADROOM_PODS_MAX (50,000) pods.
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
 * namespace already; STV_ELIMIT beyond STV_HEADROOM_PODS_MAX (50,000)
 * virtual pods in all; STV_ERANGE when their cpu or memory in all would
 * overflow 64 bits; STV_ENOMEM.
 */
int stv_headroom_add(struct stv_snapshot *s, const struct stv_headroom_unit *manual, size_t nmanual, double percent,
                     struct stv_headroom *out, struct stv_err *err);

/* ---------------------------------------------------------------------- */
/* recommend                                                              */

/* Seconds on the monotonic clock: the optimizer's stv_problem.clock. */
double stv_monotonic_seconds(void);

/*
 * The optimizer's diagnostics switches (docs/optimizer.md), read here
 * because the packer reads no environment. stv_solve_diag_setup gives p a
 * trace callback that writes each line to standard error when STV_OPT_TRACE
 * is set. stv_solve_diag_print writes plan's statistics (borrowed) to
 * standard error when STV_OPT_STATS (the optimizer's figures) or
 * STV_PACK_STATS (the heuristic's) is set.
 */
void stv_solve_diag_setup(struct stv_problem *p);
void stv_solve_diag_print(const struct stv_plan *plan);

/* What the what-if repack does with an existing node. */
enum stv_repack_action { STV_REPACK_KEEP = 0, STV_REPACK_REMOVE, STV_REPACK_REPLACE };

/* Why an existing node is kept (STV_REPACK_KEEP). */
enum stv_repack_keep {
  STV_KEEP_NOT = 0,     /* not kept: removed or replaced */
  STV_KEEP_UNMOVABLE,   /* holds a pod that must not move */
  STV_KEEP_UNPRICED,    /* not priced from the catalogue: left as it is */
  STV_KEEP_UNPLACEABLE, /* holds a movable pod that fits nowhere else */
  STV_KEEP_MATCHED      /* the plan wants a node just like it */
};

/* One existing node in the repack, in snapshot order. */
struct stv_repack_node {
  enum stv_repack_action action;
  enum stv_repack_keep keep;
  int priced;
  double hourly; /* when priced */
  char why[240]; /* keep reason, or why it is unpriced */
  uint32_t pods_moved;
  int32_t with; /* STV_REPACK_REPLACE: index into plan.nodes of its new node */
};

/* A movable pod that fits nowhere else; its node is kept. */
struct stv_repack_unplaced {
  uint32_t pod;  /* index into snap.pods */
  uint32_t node; /* index into stv_repack.nodes */
  char reason[200];
};

/* A PodDisruptionBudget that evicting the moved pods at once would break. */
struct stv_repack_pdb {
  uint32_t pdb; /* index into snap.pdbs */
  uint32_t pods, moved;
  int64_t allowed; /* disruptions the budget allows with every pod healthy */
};

/* The what-if repack; arrays owned by it, freed with the result. */
struct stv_repack {
  struct stv_node *nodes;     /* the snapshot's nodes as read (snap.nodes holds the kept ones) */
  struct stv_repack_node *rn; /* one per node */
  size_t nnodes;
  int32_t *add; /* indexes into plan.nodes of new nodes that replace nothing */
  size_t nadd;
  struct stv_repack_unplaced *unplaced;
  size_t nunplaced, cap_unplaced;
  struct stv_repack_pdb *pdb;
  size_t npdb;
  double current_hourly, proposed_hourly, monthly_savings;
  size_t nunpriced;
  size_t pods_moved;
  size_t pods_left_out; /* pending in the snapshot: not part of the what-if */
  size_t rounds;        /* plans made (matching and unplaceable pods re-plan) */
  int system_pods_moved;   /* system pods were movable (--repack-system-pods) */
  size_t system_pods_kept; /* system pods kept where they are (on nodes not kept otherwise too) */
  size_t preferences_kept; /* moved pods whose preferred zone rules were made required */
  /* The churn-aware mode (churn set): the planner's result, in place of the plan. */
  int churn;
  struct stv_cons_options cons_options;
  struct stv_cons_result cons;
};

/* A recommendation and everything it points into; close with _close. */
struct stv_recommend_result {
  struct stv_snapshot snap;
  struct stv_snapshot_read_stats stats;
  struct stv_catalog catalog;
  char catalog_note[600]; /* which catalogue and why, when --catalog was not given; for standard error only */
  struct stv_templates templates;
  struct stv_problem problem;
  struct stv_plan plan;
  struct stv_headroom headroom; /* the virtual pods added to snap */
  struct stv_repack repack;
  int have_snap, have_catalog, have_templates, have_plan, have_repack;
  double read_ms, catalog_ms, pack_ms; /* wall time of each phase */
  char **notes;                        /* about the input (stv_snapshot_notes), owned */
  size_t nnotes, cap_notes;
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

/*
 * The what-if repack (controller/repack.c): with r's snapshot read and its
 * catalogue and templates built, plans the cheapest cluster for the
 * movable pods and fills r->repack and r->plan (have_repack, have_plan).
 * Changes r->snap for good: its nodes become the kept ones, the moved pods
 * pending. a and r are borrowed. Returns 0, STV_ENOMEM, or the packer's
 * error, with err set.
 */
int stv_repack_run(const struct stv_recommend_args *a, struct stv_recommend_result *r, struct stv_err *err);
void stv_repack_close(struct stv_repack *rp);

/* Adds summary.mode and the "repack" object to root (borrowed). Returns 0 or STV_ENOMEM. */
int stv_repack_add_json(const struct stv_recommend_result *r, cJSON *root);

/* The repack as a table for a person, appended to out. Returns 0 or out's error. */
int stv_repack_render_table(const struct stv_recommend_result *r, const char *catalog,
                            const char *capacity_types, struct stv_buf *out);

/* `stevedore recommend ARGS`; returns the process exit status. */
int stv_cmd_recommend(int argc, char **argv);

/* `stevedore report ARGS` (controller/report.c); returns the exit status. */
int stv_cmd_report(int argc, char **argv);

#endif
