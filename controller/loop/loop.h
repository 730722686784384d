/*
 * loop: the controller's reconcilers, written against two interfaces only
 * (struct stv_clock, base/clock.h, and struct stv_cloud, cloud/cloud.h) and
 * a view of the cluster, so that `stevedore controller` (wall clock,
 * watch-driven cache, a real provider) and `stevedore simulate` (virtual
 * clock, simulated cluster, the sim provider) run the very same code.
 * Nothing here names libuv or the Kubernetes API; docs/controller.md has
 * the design.
 *
 * Everything here runs on the loop thread that drives the clock, except
 * the solve itself, which a solve runner may hand to a worker thread.
 */
#ifndef STV_LOOP_H
#define STV_LOOP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "cloud.h"
#include "controller.h"

/* ---------------------------------------------------------------------- */
/* Solving off the loop                                                   */

/* Which planner turns pending pods into new nodes. */
enum stv_policy {
  STV_POLICY_STEVEDORE = 0, /* the heuristic, then the GLPK optimizer (stv_optimize) */
  STV_POLICY_KARPENTER,     /* stv_peers_karpenter (packer/peers.h) */
  STV_POLICY_CA             /* stv_peers_ca */
};

/* Returns "stevedore", "karpenter-like" or "cluster-autoscaler-like". */
const char *stv_policy_name(enum stv_policy p);

/*
 * One solve. The submitter fills problem (which borrows a snapshot and
 * templates the submitter keeps alive until done runs), policy, done and
 * data; the runner fills plan (always closed by the submitter with
 * stv_plan_close), rc, err and solve_s (wall seconds the solve took).
 */
struct stv_solve_job {
  struct stv_problem problem;
  enum stv_policy policy;
  struct stv_plan plan;
  int rc;
  struct stv_err err;
  double solve_s;
  /* Called once, on the loop thread, never from inside submit. */
  void (*done)(struct stv_solve_job *job);
  void *data; /* the submitter's */
  /* Private to the runner. */
  struct stv_timer timer;
  void *impl;
};

/*
 * Runs job's solve on the calling thread: the plan of job->policy for
 * job->problem, timed into solve_s. Returns job->rc. Thread-safe (the
 * packer is pure); what the runners below call.
 */
int stv_solve_job_run(struct stv_solve_job *job);

struct stv_solve_runner;

struct stv_solve_runner_ops {
  /* Starts job; returns 0 (job->done will run once on the loop thread) or
   * an STV_ code (it will not run). job is borrowed until done. */
  int (*submit)(struct stv_solve_runner *r, struct stv_solve_job *job);
};

struct stv_solve_runner {
  const struct stv_solve_runner_ops *ops;
  void *impl;
};

/*
 * The inline runner: solves inside submit and runs done from a timer of
 * delay 0 on clock (borrowed), after the current callback returns. On the
 * virtual clock the solve takes no virtual time: `stevedore simulate`.
 */
void stv_solve_runner_inline_init(struct stv_solve_runner *r, struct stv_clock *clock);

/*
 * The worker-thread runner (runner_uv.c): submit hands the solve to
 * libuv's thread pool (uv_queue_work on loop, borrowed) and runs done in
 * the after-work callback on the loop thread, so the loop never waits for
 * a solve. The pool thread frees GLPK's per-thread state after each solve.
 */
struct uv_loop_s;
void stv_solve_runner_uv_init(struct stv_solve_runner *r, struct uv_loop_s *loop);

/* ---------------------------------------------------------------------- */
/* The cluster as a reconciler sees it                                    */

/*
 * Where a reconciler gets the cluster's state when it decides: a
 * simulated cluster (controller/simulate/) or the watch-driven cache. snapshot
 * fills s (initialised by the caller, empty) with the nodes that have
 * registered and the pods that are bound or pending, without calling
 * stv_snapshot_finish; nodes carry their provider id in node_ids (s's
 * index order, strings interned in s->pool; NULL entries for nodes without
 * one), an array allocated in s->mem. Returns 0 or an STV_ code with err
 * set.
 */
struct stv_cluster_view {
  int (*snapshot)(void *ctx, struct stv_snapshot *s, const char ***node_ids, struct stv_err *err);
  void *ctx;
  /* May be NULL. Returns 0 when no pod is pending (none without a node), 1
   * when some may be: cheaply, without a copy. A decision asked for by a
   * poke (start, a node gone, a launch failed) without headroom kept skips
   * the snapshot when it returns 0. */
  int (*has_pending)(void *ctx);
};

/* ---------------------------------------------------------------------- */
/* Decisions                                                              */

/*
 * One decision, as a line on the timeline: at (clock seconds), kind (a
 * word: batch, solve, scale_up, limit, pending, give_up, backoff,
 * launch_failed, throttled, retry, rebuild, scale_down, error) and text (a
 * sentence). Both strings are valid for the call only.
 */
struct stv_decision {
  double at;
  const char *kind;
  const char *text;
};

typedef void (*stv_decision_cb)(void *ctx, const struct stv_decision *d);

/* Formats a decision (at most 511 bytes of text) and hands it to cb (a no-op when cb is NULL). */
void stv_decision_vemit(stv_decision_cb cb, void *ctx, double at, const char *kind, const char *fmt,
                        va_list ap) __attribute__((format(printf, 5, 0)));
void stv_decision_emit(stv_decision_cb cb, void *ctx, double at, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---------------------------------------------------------------------- */
/* Provisioning                                                           */

/* struct stv_limits and stv_limits_none are in packer.h (a node pool carries its limits). */

struct stv_pool_limits {
  const char *pool; /* the node pool's name (borrowed) */
  struct stv_limits limits;
};

struct stv_provision_opts {
  double batch_idle;      /* s without a new unschedulable pod that ends a batch; default 1 */
  double batch_max;       /* s a batch may last at most; default 10 */
  double decision_budget; /* the optimizer's budget per solve, s of work (decision mode); default 1 */
  double max_provision;   /* s a requested node has to register before it is given up; default 900 */
  double backoff_initial; /* s a failing group is backed off first; default 300 */
  double backoff_max;     /* the backoff doubles up to this; default 1800 */
  double throttle_retry;  /* s before retrying a throttled call that gave no retry-after; default 1 */
  double housekeeping;    /* s between checks for overdue nodes and headroom; default 10 */
  double group_refresh;   /* s a listing of the provider's groups serves decisions; default 60 (an
                           * error or an event of the provider makes the next decision list again) */
  enum stv_policy policy;
  unsigned capacity_types;           /* (1u << STV_CT_*); default all */
  const struct stv_node_pool *pools; /* borrowed; none: the default pool */
  size_t npools;
  const char *const *instance_types; /* offerings allowed (borrowed); none: any */
  size_t ninstance_types;
  const char *const *zones; /* borrowed; none: any */
  size_t nzones;
  const struct stv_headroom_unit *headroom; /* manual headroom units, borrowed */
  size_t nheadroom;
  double headroom_percent; /* automatic headroom, % of registered allocatable */
  struct stv_limits cluster;
  const struct stv_pool_limits *pool_limits; /* borrowed */
  size_t npool_limits;
  struct stv_spot_policy spot;
  double node_cost;     /* per node-hour on every new node whose pool sets none (nodeCost); default 0 */
  double gap_tolerance; /* the optimizer's stopping gap, a fraction (struct stv_problem's); default 0 */
  stv_decision_cb on_decision; /* may be NULL */
  void *decision_ctx;
};

/* Sets o to the defaults above (no limits, no headroom, stevedore's policy). */
void stv_provision_opts_default(struct stv_provision_opts *o);

/* A pending pod the last solve left pending, and why (for Events). */
struct stv_pending_reason {
  const char *ns, *name; /* owned by the reconciler */
  const char *reason;
};

/* What the reconciler did so far. */
struct stv_provision_stats {
  size_t batches, solves;
  size_t scale_ups;       /* set_desired calls that raised a group */
  size_t nodes_requested; /* nodes those calls asked for */
  size_t nodes_cut;       /* planned nodes a limit cut */
  size_t given_up;        /* requested nodes that never registered in time */
  size_t launch_failures; /* STV_ECAPACITY and launch failures */
  size_t throttled;       /* calls the provider throttled */
  size_t inflight;        /* nodes requested and not registered, now */
  double last_decision_s; /* wall s from the end of the last batch to its scale requests */
  double max_decision_s;
  size_t template_builds; /* node templates built: once, then again only when a decision's snapshot has other
                           * resource names or zone labels, or attach limits (stv_templates_fit) */
};

struct stv_provision;

/*
 * Creates the provisioning reconciler. Every pointer is borrowed and must
 * outlive it: o (copied, but its arrays borrowed), clock, cloud (its
 * on_event is left to the owner, who forwards events with
 * stv_provision_cloud_event), catalog (prices and shapes of the groups'
 * offerings), view and runner. It does nothing until stv_provision_start.
 * Returns 0, STV_EINVAL (err says which option) or STV_ENOMEM.
 */
int stv_provision_new(struct stv_provision **out, const struct stv_provision_opts *o, struct stv_clock *clock,
                      struct stv_cloud *cloud, const struct stv_catalog *catalog,
                      const struct stv_cluster_view *view, struct stv_solve_runner *runner,
                      struct stv_err *err);

/*
 * Starts the reconciler once the cluster view has synced (every node that
 * exists has been reported with stv_provision_node_registered): lists the
 * provider's groups and instances, rebuilds what is in flight (a group's
 * desired size minus its registered nodes), and from then on acts on the
 * calls below. Returns 0 or the provider's STV_ code.

 *
 * Decisions reuse the groups' listing: a decision lists them again only
 * when the last listing is older than group_refresh, or an event of the
 * provider, a refused or failed call or a node given up or deleted may have
 * changed them. A decision asked for by a poke (start, a node gone, a
 * launch failed) when the view's has_pending says no pod is pending and no
 * headroom is kept builds nothing: it does not copy the cluster view.
 */
int stv_provision_start(struct stv_provision *p);

/* kube-scheduler marked ns/name (borrowed) unschedulable: it joins the batch. */
void stv_provision_pod_unschedulable(struct stv_provision *p, const char *ns, const char *name);
/* ns/name was bound to a node or deleted: it leaves the batch. */
void stv_provision_pod_gone(struct stv_provision *p, const char *ns, const char *name);
/* A node registered (provider_id as its spec.providerID, borrowed; may be NULL). */
void stv_provision_node_registered(struct stv_provision *p, const char *name, const char *provider_id);
/* A node was deleted. */
void stv_provision_node_deleted(struct stv_provision *p, const char *name, const char *provider_id);
/* An event of the provider (forwarded by whoever owns cloud->on_event). */
void stv_provision_cloud_event(struct stv_provision *p, const struct stv_cloud_event *ev);

/* Asks for a solve at the next turn of the loop (a node went away, headroom changed). */
void stv_provision_poke(struct stv_provision *p, const char *why);

/* The pods the last solve left pending, with reasons; valid until the next solve. */
size_t stv_provision_pending(const struct stv_provision *p, const struct stv_pending_reason **out);

void stv_provision_get_stats(const struct stv_provision *p, struct stv_provision_stats *st);

/* 1 while a batch is open, a solve runs or a scale request is in flight. */
int stv_provision_busy(const struct stv_provision *p);

/* Receives a catalogue the reconciler no longer uses, on the loop thread. */
typedef void (*stv_provision_release_fn)(void *ctx, const struct stv_catalog *old);

/*
 * Makes catalog (borrowed; it must outlive its use) the one the next
 * decisions read (live prices: docs/prices-live.md), on the loop thread.
 * The templates built from the old one are dropped (a solve in flight keeps
 * its own). The catalogue it replaces goes to release(ctx, old) once no
 * solve in flight borrows it: at once, or when that solve is done (or
 * stv_provision_free runs). release may be NULL (the caller keeps old).
 */
void stv_provision_set_catalog(struct stv_provision *p, const struct stv_catalog *catalog,
                               stv_provision_release_fn release, void *ctx);

/* Stops the timers and frees p; calls in flight are abandoned (their callbacks must not run after: close
 * the cloud first). */
void stv_provision_free(struct stv_provision *p);

#endif
