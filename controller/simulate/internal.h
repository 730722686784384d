/*
 * Shared between the simulated cluster's files: cluster.c (pods, nodes,
 * the scheduler, figures) and model.c (the packer's model of it: node
 * templates, predicates, the snapshot the reconciler solves on, and the
 * policies' set-up).
 */
#ifndef STV_SIMULATE_INTERNAL_H
#define STV_SIMULATE_INTERNAL_H

#include "simulate.h"

struct sim;

enum { STV_SIM_POD_PENDING, STV_SIM_POD_RUNNING, STV_SIM_POD_DONE, STV_SIM_POD_DELETED };

struct spod {
  struct sim *sim;
  uint32_t wl, seq;
  double arrive, first_bind, duration;
  double ran, bound_at; /* jobs: seconds run before an eviction, and when bound last */
  int32_t node;
  uint8_t state;
  struct stv_timer end;
};

struct snode {
  struct sim *sim;
  char name[96];
  char *pid, *group;
  uint32_t tmpl;
  int64_t cpu, mem, gpu, max_pods;
  int64_t used_cpu, used_mem, used_gpu;
  uint32_t npods;
  int ready, cordoned, gone, deleting;
  double since, gone_at, empty_since, price;
  struct stv_timer reg;
};

struct swork {
  struct sim *sim;
  uint32_t wl;
  size_t step;
  struct stv_timer t;
};

struct sim {
  const struct stv_scenario *sc;
  const struct stv_catalog *full; /* the scenario's catalogue */
  const struct stv_catalog *cat;  /* narrow: what the scenario allows of it */
  struct stv_catalog *narrow;
  struct stv_catalog narrow_store;
  struct stv_sim_result *r;
  int policy;
  stv_decision_cb on_decision;
  void *decision_ctx;
  struct stv_vclock vc;
  struct stv_clock *clock;
  struct stv_cloud *cloud;
  struct stv_provision *prov;
  struct stv_solve_runner runner;
  struct stv_provision_opts popts;
  struct stv_node_pool pool;
  /* The model: templates of every offering, and which workload may run on which template. */
  struct stv_snapshot base;
  struct stv_templates tmpl;
  int have_tmpl;
  int gpu_dim;
  uint8_t *fit; /* [workload x template] */
  /* Pods and nodes. */
  struct spod **pods;
  size_t npods, cap_pods, npending, first_pending, scheduled;
  struct snode **nodes;
  size_t nnodes, cap_nodes;
  int64_t *wl_alive;
  uint32_t *wl_seq;
  uint8_t *wl_failed;
  struct swork *work;
  struct stv_timer sched, sample, house;
  int sched_pending, nomem;
  size_t cap_samples;
  int64_t peak_cpu; /* the most cpu the pods alive asked for at a sample */
  size_t evictions, interruptions, nodes_launched, nodes_removed;
};

/* Adds a node of template ti (launched at since; registered after delay s, at once when 0). */
int stv__sim_node_add(struct sim *s, int32_t ti, const char *pid, const char *group, double since,
                      double delay);

/* Builds the templates and predicates of s's scenario; 0 or an STV_ code with err set. */
int stv__sim_model_init(struct sim *s, struct stv_err *err);
void stv__sim_model_close(struct sim *s);

/* The cluster view: registered nodes and the pods that are bound or pending (loop.h). */
int stv__sim_snapshot(struct sim *s, struct stv_snapshot *snap, const char ***ids, struct stv_err *err);

/* The static-peak policy: on-demand nodes sized for peak_pods (pods per workload), there from the start. */
int stv__sim_static_nodes(struct sim *s, const int64_t *peak_pods, struct stv_err *err);

/* An autoscaling policy: the sim provider and the provisioning reconciler on s's clock. */
int stv__sim_autoscaler(struct sim *s, enum stv_policy policy, stv_cloud_event_cb on_event,
                        int (*view)(void *, struct stv_snapshot *, const char ***, struct stv_err *),
                        struct stv_err *err);

#endif
