/*
 * daemon: `stevedore controller`, the live autoscaler (docs/controller.md).
 * One object owns the libuv loop and everything on it: the wall clock, the
 * Kubernetes client, the watch-driven cache, leader election, the
 * provisioning reconciler and its solve runner, the cloud provider (behind
 * a guard that counts its errors and, with --dry-run, changes nothing),
 * the Event recorder, the metrics registry and its endpoint, and the
 * signals. The command line (controller/cli/controller.c) fills the
 * options; this room runs them.
 *
 *   daemon.c    the object: start, leadership, acting, shutdown
 *   guard.c     the provider guard: error counts, dry run, close at once
 *   simnodes.c  the sim provider's Node objects in the API server (kwok's way)
 *   metrics.c   the controller's metric families
 *
 * Names shared by these files only start with stv__daemon / stv__guard /
 * stv__simnodes / stv__dmetrics; nothing outside the room includes this
 * header except the command line, which uses stv_daemon_* only.
 */
#ifndef STV_DAEMON_H
#define STV_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cloud.h"
#include "controller.h"
#include "kubeclient.h"
#include "registry.h"

/* What --provider names. */
enum stv_daemon_provider { STV_PROVIDER_SIM, STV_PROVIDER_AWS, STV_PROVIDER_GCP, STV_PROVIDER_AZURE };

/* The options of `stevedore controller`; strings borrowed from argv. */
struct stv_daemon_opts {
  const char *kubeconfig; /* NULL: KUBECONFIG, ~/.kube/config, in-cluster */
  const char *context;
  enum stv_daemon_provider provider;
  const char *config;  /* the YAML configuration, or NULL */
  const char *catalog; /* NULL: the nodes' region (stv__daemon_region_catalog) */
  int dry_run;
  const char *metrics_address; /* default 0.0.0.0:8080 */
  double batch_idle, batch_max, decision_budget, max_provision, sim_launch_delay, shutdown_timeout;
  int leader_elect;
  double lease_duration, renew_deadline, retry_period; /* client-go's 15, 10, 2 s */
  double sim_ice_rate;               /* sim: each launch fails for capacity with this probability */
  double sim_throttle_rate;          /* sim: each call is throttled with this probability */
  uint64_t sim_seed;                 /* sim: the seed of those choices; default 1 */
  double sim_interruptions_per_hour; /* sim: per running spot instance; default 0 */
  double sim_interruption_notice;    /* sim: notice to termination; default 120 s */
  const char *sim_prices;            /* sim: the live prices file fetch_prices reads (cloud/sim.h), or NULL */
  const char *lease_name;            /* default stevedore */
  const char *lease_namespace;       /* NULL: POD_NAMESPACE, else the context's namespace */
  const char *identity;              /* NULL: POD_NAME, else host name + random suffix */
  unsigned capacity_types;           /* 0: the configuration's */
  const char *const *instance_types;
  size_t ninstance_types;
  const char *const *zones;
  size_t nzones;
  const char *cluster_name; /* --cluster-name: what the cloud adapters' group discovery matches */
  /* Hidden --test-block-loop: once the cache has synced, the loop thread sleeps this long once, so
   * that a test sees /healthz fail and recover (docs/testing.md); 0: never. */
  double test_block_loop;
  /* Node removal (docs/consolidation.md): --empty-for and --drain-timeout (negative: the configuration's
   * disruption: values), --disruption-budget (NULL: the configuration's). */
  double empty_for, drain_timeout;
  const char *disruption_budget;
  /* Hidden --test-drain-node: once acting, drain this node (with its pods) as a consolidation would
   * (docs/testing.md); NULL: never. */
  const char *test_drain_node;
};

/* `stevedore controller` (controller/cli/controller.c): parses argv, runs, returns the exit status. */
int stv_cmd_controller(int argc, char **argv);

/* Fills o with the defaults above. */
void stv_daemon_opts_default(struct stv_daemon_opts *o);

/*
 * Runs the controller until SIGTERM or SIGINT. Returns 0 after a clean
 * shutdown; STV_EINVAL, STV_ENOTFOUND, STV_EPARSE, STV_EUNSUPPORTED or
 * -errno when the configuration, catalogue, kubeconfig or metrics address
 * is bad at start (err names the file, context or flag and the field);
 * STV_ENOMEM. Failures once running (the API server down, 500s, a
 * provider's errors) are logged and retried, never returned.
 */
int stv_daemon_run(const struct stv_daemon_opts *o, struct stv_err *err);

/* `stevedore prices` (controller/cli/prices.c): parses argv, runs, returns the exit status. */
int stv_cmd_prices(int argc, char **argv);

struct stv_config;
struct stv_catalog;
struct stv_http;
struct stv_price_quote;
struct stv_quote_stats;

/*
 * Opens the provider name ("aws", "gcp", "azure") with the settings of cfg
 * (its azure: and gcp: sections) and cluster_name (may be NULL), on clock
 * and http (borrowed; they must outlive it). As stv_cloud_open.
 */
int stv__daemon_open_cloud(const char *name, const struct stv_config *cfg, const char *cluster_name,
                           struct stv_clock *clock, struct stv_http *http, struct stv_cloud **out,
                           struct stv_err *err);

/* ---------------------------------------------------------------------- */
/* Live prices (prices.c, docs/prices-live.md)                            */

/*
 * A fetch_prices answer (r, source, q[0..n); borrowed) laid over base: on
 * success *out is a new catalogue (stv_catalog_close it, then stv_free) and
 * st (may be NULL) says what the quotes did; quotes for types or zones base
 * lacks are logged (warn). Returns 0, r's code when the fetch failed
 * (err holds its message), or stv_catalog_apply_quotes's error.
 */
int stv__prices_fresh(const struct stv_catalog *base, const struct stv_cloud_result *r, const char *source,
                      const struct stv_price_quote *q, size_t n, struct stv_catalog **out,
                      struct stv_quote_stats *st, struct stv_err *err);

struct stv__prices;

/* Receives each new catalogue (owned by the receiver: stv_catalog_close, stv_free), on the loop thread. */
typedef void (*stv__prices_hand_fn)(void *ctx, struct stv_catalog *fresh);

/* Makes a refresher and registers its metrics on reg. Returns 0 or an error of stv_registry_register. */
int stv__prices_new(struct stv__prices **out, struct stv_registry *reg, struct stv_err *err);

/*
 * Starts reading cloud's live prices over base (both borrowed until
 * stv__prices_stop) now and every refresh seconds (0: never) on clock;
 * cur is the catalogue in use (for the log and the metrics) until the first
 * answer. Each good answer goes to hand; a failed one leaves the prices in
 * use and logs a warning naming the call. A provider without fetch_prices
 * is logged and left alone.
 */
void stv__prices_start(struct stv__prices *r, struct stv_cloud *cloud, struct stv_clock *clock,
                       const struct stv_catalog *base, const struct stv_catalog *cur, double refresh,
                       stv__prices_hand_fn hand, void *ctx);
/* Stops reading (before the provider closes; an answer in flight is ignored). r may be NULL. */
void stv__prices_stop(struct stv__prices *r);
/* Refreshes the gauges (live offerings, age); the daemon's heartbeat calls it. r may be NULL. */
void stv__prices_tick(struct stv__prices *r);
void stv__prices_free(struct stv__prices *r);

/* ---------------------------------------------------------------------- */
/* The cluster's region (region.c)                                        */

/*
 * Reads the cluster kubeconfig and context name (borrowed, either may be
 * NULL) once (stv_kube_read_cluster) and chooses the embedded catalogue of its Nodes'

 * region (stv_catalog_guess): spec[size] receives its name, note[note_size]
 * why, and *from_nodes 1; when the nodes name no single embedded region,
 * spec is STV_CATALOG_DEFAULT, note says why, and *from_nodes is 0. Returns
 * 0, or the kubeconfig's or the list's error (err names it).
 */
int stv__daemon_region_catalog(const char *kubeconfig, const char *context, char *spec, size_t size, char *note,
                               size_t note_size, int *from_nodes, struct stv_err *err);

/*
 * For a cluster whose nodes name no region: the catalogue spec of the
 * region the provider's configuration names (aws: AWS_REGION, then
 * AWS_DEFAULT_REGION; gcp: gcp.region, then CLOUDSDK_COMPUTE_REGION, then
 * the region of CLOUDSDK_COMPUTE_ZONE) into spec and why into note.
 * Returns 1 when one does, else 0.
 */
int stv__daemon_configured_region(enum stv_daemon_provider p, const struct stv_config *cfg, char *spec, size_t size,
                                  char *note, size_t note_size);

/*
 * Else the region of the provider's groups: lists them through c
 * (borrowed) and runs loop until the answer, then the region of the first
 * group's first zone ("us-east1-b" -> gcp:us-east1, "eastus-1" ->
 * azure:eastus, "us-east-1a" -> aws:us-east-1). Returns 1 with spec and
 * note filled, or 0 with note saying why not (a failed listing is not an
 * error here: the default catalogue applies, with a warning).
 */
int stv__daemon_groups_region(struct stv_cloud *c, enum stv_daemon_provider p, uv_loop_t *loop, char *spec,
                              size_t size, char *note, size_t note_size);

/* ---------------------------------------------------------------------- */
/* The provider guard (guard.c)                                           */

struct stv__guard;

/*
 * Wraps inner (takes ownership) into a provider of its own (*out, the
 * stv_cloud handed to the reconciler): every call passes through, each
 * answer counts in calls and each error also in errors (labels provider,
 * operation, code; borrowed, may be NULL); with dry_run, set_desired and delete_instances
 * log what they would do and answer success on the next tick without
 * calling inner. The guard's on_event receives inner's events. Returns 0
 * or STV_ENOMEM (inner closed then).
 */
int stv__guard_new(struct stv__guard **out, struct stv_cloud *inner, int dry_run, struct stv_metric *calls,
                   struct stv_metric *errors);
/* The provider to hand out (borrowed from g). */
struct stv_cloud *stv__guard_cloud(struct stv__guard *g);
/* 1 while a call that changes the cloud (set_desired, delete_instances) awaits its answer. */
int stv__guard_busy(const struct stv__guard *g);
/* The provider inside (borrowed). */
struct stv_cloud *stv__guard_inner(struct stv__guard *g);
/*
 * Closes the provider inside at once (its callbacks never run) and
 * refuses every later call (-ECANCELED, callback not called); g stays
 * valid for whoever still holds the stv_cloud until stv__guard_free.
 */
void stv__guard_shut(struct stv__guard *g);
/* Shuts g (when not yet) and frees it. */
void stv__guard_free(struct stv__guard *g);

/* ---------------------------------------------------------------------- */
/* The drainer's Kubernetes writes (drainkube.c)                          */

/* Taint, evict and delete_node of loop/disrupt.h over the API client: impl is the struct stv_kube (borrowed). */
struct stv_disrupt_kube_ops;
extern const struct stv_disrupt_kube_ops stv__drainkube_ops;

/* ---------------------------------------------------------------------- */
/* The sim provider's nodes in the API server (simnodes.c)                */

struct stv__simnodes;

/*
 * A registrar of sim instances as Node objects through k (borrowed), its
 * retries on clock (borrowed): templates built from cat and pools
 * (borrowed; they outlive it) give the labels and taints, the catalogue the
 * capacity; writes counts in writes (may be NULL). Returns 0, STV_EINVAL
 * (err says why) or STV_ENOMEM.
 */
int stv__simnodes_new(struct stv__simnodes **out, struct stv_kube *k, struct stv_clock *clock,
                      const struct stv_catalog *cat, unsigned capacity_types,
                      const struct stv_node_pool *pools, size_t npools, struct stv_metric *writes,
                      struct stv_err *err);
/* Creates the Node of inst (borrowed; RUNNING, with a sim provider id), trying again until it is done. */
void stv__simnodes_register(struct stv__simnodes *s, const struct stv_cloud_instance *inst, const char *pool);
/* Deletes the Node of provider id pid (borrowed); a Node already gone is done. */
void stv__simnodes_remove(struct stv__simnodes *s, const char *pid);
/* Gives up every write not yet done (the replica stops acting): no retry, no new request. */
void stv__simnodes_stop(struct stv__simnodes *s);
/* Requests in flight (their callbacks still to run). */
size_t stv__simnodes_in_flight(const struct stv__simnodes *s);
/* Frees s (may be NULL). Only once no request is in flight: after stv_kube_free. */
void stv__simnodes_free(struct stv__simnodes *s);

/* ---------------------------------------------------------------------- */
/* The metric families (metrics.c)                                        */

struct stv__dmetrics {
  struct stv_registry *reg;
  struct stv_metric *reconcile, *decision, *solve;      /* histograms, seconds */
  struct stv_metric *pending, *nodes, *cost, *inflight; /* gauges */
  struct stv_metric *scale_ups, *nodes_requested, *nodes_cut, *given_up;
  struct stv_metric *cloud_calls, *cloud_errors; /* counters {provider, operation, code} */
  struct stv_metric *cache_events, *cache_errors, *cache_compactions;
  struct stv_metric *watch_restarts, *watch_relists, *watch_errors; /* counters {resource} */
  struct stv_metric *leader, *ready;
  struct stv_metric *events, *event_writes_failed;
  struct stv_metric *node_writes; /* counter {verb, result} */
  struct stv_metric *log_dropped;
  struct stv_metric *nodes_drained, *evictions, *drain_failures, *draining; /* evictions {result} */
  /* Last values seen of the counters fed from statistics. */
  double last[64];
};

/* Registers the families on a new registry. Returns 0 or STV_ENOMEM / STV_EINVAL with err. */
int stv__dmetrics_init(struct stv__dmetrics *m, struct stv_err *err);
void stv__dmetrics_close(struct stv__dmetrics *m);
/* Sets the series of f for the label values (NULL-terminated count implied by the family) to v. */
void stv__dmetrics_set(struct stv_metric *f, const char *const *values, double v);
/* Adds v to the series of f for values. */
void stv__dmetrics_add(struct stv_metric *f, const char *const *values, double v);
/* Observes v in histogram f (no labels). */
void stv__dmetrics_observe(struct stv_metric *f, double v);
/* Adds to counter f (label values, or NULL) what total grew by since slot's last value (a total that
 * went down, a new reconciler's, starts the slot again). */
void stv__dmetrics_count(struct stv__dmetrics *m, int slot, struct stv_metric *f, const char *const *values,
                         double total);

#endif
