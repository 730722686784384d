/*
 * disrupt: safe node removal (docs/consolidation.md, "Draining and
 * emptiness"). Two parts on the loop's clock:
 *
 * - the drainer: one state machine per node. It taints the node
 *   stevedore.io/disrupted:NoSchedule, evicts every pod but DaemonSet and
 *   mirror pods through the Eviction API (a 429, a PodDisruptionBudget
 *   with no disruption left, is retried with backoff; a 404 is a pod
 *   already gone), waits for the evicted pods to go (their grace period
 *   plus a margin), then deletes the instance through the provider
 *   (delete_instances: the group's desired size goes down by one) and the
 *   Node object when the provider has not deleted it. A drain that does
 *   not finish its evictions within the drain timeout is undone: the taint
 *   is removed and the node left alone, with an Event saying why.
 * - the emptiness reconciler: a node without workload pods (DaemonSet and
 *   mirror pods aside) for empty_for seconds is drained, unless it
 *   registered less than empty_for ago, carries a do-not-disrupt
 *   annotation, would take its group below its minimum, or its pool's
 *   disruption budget is spent.
 *
 * Like provision.c it names neither libuv nor the Kubernetes API: the
 * writes go through struct stv_disrupt_kube_ops (the API client's adapter
 * in controller/daemon/drainkube.c; a recording fake in tests), the
 * cluster is read through struct stv_disrupt_view, the instances through
 * struct stv_cloud. Everything runs on the loop thread; no call blocks.
 */
#ifndef STV_DISRUPT_H
#define STV_DISRUPT_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "loop.h"

/* The taint a node being drained carries. */
#define STV_DISRUPT_TAINT_KEY "stevedore.io/disrupted"

/* The answer of one Kubernetes write. */
struct stv_disrupt_result {
  int code;            /* 0, STV_ENOTFOUND (404), STV_ETHROTTLED (429), STV_ECONFLICT, or another STV_ code */
  const char *message; /* the API's words; "" when code is 0; never NULL */
  double retry_after;  /* the Retry-After header, seconds; 0: none */
};

typedef void (*stv_disrupt_done_cb)(void *ctx, const struct stv_disrupt_result *r);

/*
 * The Kubernetes writes of the drainer. Each returns 0 (cb will run once,
 * on the loop thread, never from inside the call) or an STV_ code (cb will
 * not run). Names are borrowed for the call.
 */
struct stv_disrupt_kube_ops {
  /* Adds (add 1) or removes (add 0) the taint STV_DISRUPT_TAINT_KEY:NoSchedule on node, leaving its other
   * taints as they are (a write conditional on the node's resourceVersion, retried on conflict). */
  int (*taint)(void *impl, const char *node, int add, stv_disrupt_done_cb cb, void *ctx);
  /* Creates a policy/v1 Eviction of pod ns/name. */
  int (*evict)(void *impl, const char *ns, const char *name, stv_disrupt_done_cb cb, void *ctx);
  /* Deletes the Node object. */
  int (*delete_node)(void *impl, const char *node, stv_disrupt_done_cb cb, void *ctx);
};

/*
 * The cluster as the drainer reads it, on the loop thread: store returns
 * the live objects (read-only, borrowed for the call: the cache's store,
 * no copy); provider_id the spec.providerID of node i of it, or NULL;
 * busy (may be NULL) 1 while the provisioning reconciler has a batch open,
 * a solve running or nodes in flight: no node is found empty then, since a
 * pending pod may be on its way to it.
 */
struct stv_disrupt_view {
  const struct stv_snapshot *(*store)(void *ctx);
  const char *(*provider_id)(void *ctx, size_t node);
  int (*busy)(void *ctx);
  void *ctx;
};

/* A pool's disruption budget: at most nodes (when >= 0) or percent % of its nodes (at least 1) at once. */
struct stv_disrupt_budget {
  int64_t nodes;  /* -1: use percent */
  double percent; /* 0 to 100 */
};

struct stv_disrupt_opts {
  double empty_for;      /* s a node must be empty (and registered) before it is removed; default 30 */
  double drain_timeout;  /* s a drain may take to evict every pod; then it is undone; default 600 */
  double grace_margin;   /* s past an evicted pod's terminationGracePeriodSeconds before the node goes; 15 */
  double retry_initial;  /* s before retrying a refused eviction (429) or a failed write; default 1 */
  double retry_max;      /* the retry delay doubles up to this; default 30 */
  double node_gone_wait; /* s after the instance is deleted for the provider to delete the Node; default 30 */
  double left_alone;     /* s a node whose drain failed is not tried again; default 3600 */
  double interval;       /* s between looks at the cluster; default 1 */
  struct stv_disrupt_budget budget; /* default 10 % */
  int emptiness;                    /* 1: remove empty nodes (default); 0: drain only what is asked */
  int dry_run;                      /* log and record Events for what would be removed; change nothing */
  stv_decision_cb on_decision;      /* may be NULL: kinds drain, evict, drained, drain_failed, would_remove */
  void *decision_ctx;
};

/* Sets o to the defaults above. */
void stv_disrupt_opts_default(struct stv_disrupt_opts *o);

/* The nodes of a pool of pool_nodes nodes that budget lets be disrupted at once. */
int64_t stv_disrupt_budget_allowed(const struct stv_disrupt_budget *b, size_t pool_nodes);

/* What the drainer did. */
struct stv_disrupt_stats {
  size_t drains_started;
  size_t nodes_drained;     /* instances deleted after a drain */
  size_t drain_failures;    /* drains undone (timeout) or failed (the provider refused the deletion) */
  size_t evictions;         /* pods evicted (201) */
  size_t evictions_refused; /* 429: a PodDisruptionBudget allowed no disruption */
  size_t eviction_errors;   /* other failures of an eviction */
  size_t nodes_deleted;     /* Node objects Stevedore deleted (the provider had not) */
  size_t would_remove;      /* dry run: nodes that would have been drained */
  size_t blocked;           /* empty nodes kept: do-not-disrupt, minimum size, budget */
  size_t draining;          /* drains under way now */
};

struct stv_disrupt;

/*
 * Creates the drainer and emptiness reconciler. Every pointer is borrowed
 * and must outlive it: o (copied), clock, cloud (the provisioning
 * reconciler's; its events are left to the owner), kube (ops and impl),
 * view and events (may be NULL: no Events). Nothing happens until
 * stv_disrupt_start. Returns 0, STV_EINVAL (err names the option) or
 * STV_ENOMEM.
 */
int stv_disrupt_new(struct stv_disrupt **out, const struct stv_disrupt_opts *o, struct stv_clock *clock,
                    struct stv_cloud *cloud, const struct stv_disrupt_kube_ops *kube, void *kube_impl,
                    const struct stv_disrupt_view *view, struct stv_events *events, struct stv_err *err);

/* Starts looking at the cluster every o->interval seconds (the view must have synced). Returns 0 or STV_ENOMEM. */
int stv_disrupt_start(struct stv_disrupt *d);

/* A node registered (its age counts from now); a node was deleted (name borrowed). Neither makes a call:
 * the cache's hooks run inside a watch stream's callback. */
void stv_disrupt_node_registered(struct stv_disrupt *d, const char *name);
void stv_disrupt_node_deleted(struct stv_disrupt *d, const char *name);

/*
 * Starts draining node (borrowed) for why ("empty", ...), as the
 * emptiness reconciler does. Returns 0, STV_ECONFLICT (a drain of it is
 * under way), STV_ENOTFOUND (no such node, or it has no provider id) or
 * STV_ENOMEM. In a dry run it only logs and records what it would do.
 */
int stv_disrupt_drain(struct stv_disrupt *d, const char *node, const char *why);

void stv_disrupt_get_stats(const struct stv_disrupt *d, struct stv_disrupt_stats *st);

/* 1 while a drain is under way or a call awaits its answer. */
int stv_disrupt_busy(const struct stv_disrupt *d);

/*
 * Stops the timers and frees d. Close (or shut) the cloud first: its
 * callbacks must not run after. Kubernetes writes in flight are detached:
 * their callbacks, when they come, free their records and do nothing else.
 */
void stv_disrupt_free(struct stv_disrupt *d);

#endif
