/*
 * simulate: `stevedore simulate`'s simulated cluster. A scenario (a YAML file,
 * docs/simulate.md) says what runs when; the cluster creates its pods on a
 * virtual clock, binds them to ready nodes with a small scheduler that
 * uses the packer's predicates, reports the rest as unschedulable to the
 * provisioning reconciler (controller/loop/), registers the nodes the sim
 * provider launches, evicts pods from interrupted spot nodes, removes
 * nodes that stay empty, and keeps the figures of the final report.
 */
#ifndef STV_SIMULATE_H
#define STV_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/* ---------------------------------------------------------------------- */
/* Scenarios (scenario.c)                                                 */

struct stv_scn_step {
  double at;
  int64_t replicas;
};

/* A Deployment (replicas on a schedule) or a batch job (pods that run for a duration). */
struct stv_scn_workload {
  const char *name;
  int job;
  int64_t cpu, memory, gpu; /* per pod: millicores, bytes, GPUs */
  uint32_t nselector;       /* nodeSelector */
  const char **sel_keys, **sel_values;
  /* Deployments. */
  struct stv_scn_step *steps;
  size_t nsteps;
  /* Jobs: count pods at `at`, again every `every` s (0: once) until `until`. */
  int64_t count;
  double at, duration, every, until;
  int line; /* where it starts in the file */
};

/* Insufficient capacity for an offering over [from, until). */
struct stv_scn_ice {
  const char *instance_type, *zone; /* NULL: any */
  unsigned capacity_types;          /* mask; 0: any */
  double from, until;
};

/* A spot interruption storm: fraction of the running spot nodes get a notice at `at`. */
struct stv_scn_storm {
  double at, fraction, notice;
};

struct stv_scenario {
  const char *name;
  double duration;
  uint64_t seed;
  const char *catalog;
  unsigned capacity_types;
  const char **instance_types; /* the offerings the sim cloud has groups for; none: see defaults */
  size_t ntypes;
  const char **zones;
  size_t nzones;
  double launch_delay, register_delay, empty_after, sample_every;
  struct stv_limits limits;
  struct stv_headroom_unit headroom;
  double headroom_percent;
  struct stv_scn_workload *workloads;
  size_t nworkloads;
  struct stv_scn_ice *ice;
  size_t nice;
  struct stv_scn_storm *storms;
  size_t nstorms;
  struct stv_strpool strings;
  struct stv_arena mem;
};

/*
 * Reads a scenario from text[0..len) (borrowed); name (borrowed) starts
 * every message, which names the line and the field at fault:
 * "web.yaml:12: jobs[0].cpu: ...". sc is caller-allocated; close it with
 * stv_scenario_close whatever the result. Returns 0, STV_EPARSE (not
 * YAML) or STV_EINVAL (a field the format refuses), STV_ENOMEM.
 */
int stv_scenario_parse(struct stv_scenario *sc, const char *name, const char *text, size_t len,
                       struct stv_err *err);
void stv_scenario_close(struct stv_scenario *sc);

/* The scenario shipped in the binary (controller/simulate/scenarios/default.yaml). */
extern const char stv_default_scenario[];
extern const size_t stv_default_scenario_len;

/* ---------------------------------------------------------------------- */
/* Runs (cluster.c)                                                       */

/* The static on-demand cluster sized for the peak is a fourth policy, with no autoscaler. */
#define STV_SIM_STATIC_PEAK 99

/* One point of the curves, every sample_every virtual seconds. */
struct stv_sim_sample {
  double t;
  uint32_t nodes, pending;
  double cost_per_hour;
};

struct stv_sim_result {
  const char *policy;
  double cost, node_hours;
  double cost_by_ct[STV_CT_COUNT], node_hours_by_ct[STV_CT_COUNT];
  double wait_p50, wait_p99, wait_max;
  size_t pods, scheduled, unscheduled, evictions, scale_ups, nodes_launched, nodes_removed, interruptions;
  size_t launch_failures, given_up, pending_at_end;
  double wall_s;
  struct stv_sim_sample *samples;
  size_t nsamples;
  /* Peak demand: pods of each workload alive when the requested cpu peaked, sampled (for static-peak). */
  int64_t *peak_pods;
  struct stv_provision_stats prov;
};

void stv_sim_result_close(struct stv_sim_result *r);

/*
 * Runs scenario sc (borrowed) under policy (enum stv_policy, or
 * STV_SIM_STATIC_PEAK with peak_pods: pods per workload to size the
 * static cluster for) on catalog (borrowed) with a fresh virtual clock and
 * sim provider; every decision goes to on_decision (may be NULL). r is
 * caller-allocated; close it whatever the result. Returns 0 or an STV_
 * code with err set.
 */
int stv_sim_run(const struct stv_scenario *sc, const struct stv_catalog *catalog, int policy,
                const int64_t *peak_pods, stv_decision_cb on_decision, void *decision_ctx,
                struct stv_sim_result *r, struct stv_err *err);

/*
 * The results r[0..n) as one self-contained HTML page (inline CSS and SVG:
 * the hourly cost and node-count curves of every policy, and the table),
 * appended to out. Returns 0 or out's error.
 */
int stv_sim_render_html(const struct stv_scenario *sc, const char *currency, const struct stv_sim_result *r,
                        size_t n, struct stv_buf *out);

/* `stevedore simulate ARGS` (controller/cli/simulate.c); returns the exit status. */
int stv_cmd_simulate(int argc, char **argv);

#endif
