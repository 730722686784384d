/*
 * The metric families of `stevedore controller` (docs/observability.md,
 * "The controller's metrics"). Histograms are observed when a solve is
 * applied; gauges and the counters fed from statistics are refreshed by
 * the daemon's one-second timer.
 */
#include <string.h>

#include "daemon.h"

/* Seconds: 1 ms to 60 s, for solves and decisions. */
static const double secs_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5,   1,      2.5,   5,    10,    30,   60};

struct family {
  struct stv_metric **out;
  enum stv_metric_type type;
  const char *name, *help;
  const char *const *labels;
};

static const char *const pool_ct[] = {"pool", "capacity_type", NULL};
static const char *const prov_code[] = {"provider", "operation", "code", NULL};
static const char *const outcome[] = {"outcome", NULL};
static const char *const verb_result[] = {"verb", "result", NULL};
static const char *const resource[] = {"resource", NULL};
static const char *const reconciler[] = {"reconciler", NULL};
static const char *const eviction_result[] = {"result", NULL};

int stv__dmetrics_init(struct stv__dmetrics *m, struct stv_err *err) {
  const struct family fams[] = {
      {&m->reconcile, STV_METRIC_HISTOGRAM, "stevedore_reconcile_duration_seconds",
       "Wall time of one pass of a reconciler (provisioning: the solve handed to the worker thread, then the "
       "plan applied: limits, scale requests issued).",
       reconciler},
      {&m->decision, STV_METRIC_HISTOGRAM, "stevedore_decision_duration_seconds",
       "Wall time from the end of a batch window to its last scale request (cache copy, solve, provider "
       "call).",
       NULL},
      {&m->solve, STV_METRIC_HISTOGRAM, "stevedore_solve_duration_seconds",
       "Wall time of the solve alone, on the worker thread.", NULL},
      {&m->pending, STV_METRIC_GAUGE, "stevedore_pending_pods",
       "Pods that kube-scheduler marked unschedulable and that are neither bound nor deleted.", NULL},
      {&m->nodes, STV_METRIC_GAUGE, "stevedore_nodes", "Registered nodes, by node pool and capacity type.",
       pool_ct},
      {&m->cost, STV_METRIC_GAUGE, "stevedore_hourly_cost",
       "Hourly price of the registered nodes from the catalogue, in its currency, by node pool and capacity "
       "type.",
       pool_ct},
      {&m->inflight, STV_METRIC_GAUGE, "stevedore_inflight_nodes",
       "Nodes requested from the provider and not registered yet.", NULL},
      {&m->scale_ups, STV_METRIC_COUNTER, "stevedore_scale_ups_total",
       "Scale requests that raised an instance group.", NULL},
      {&m->nodes_requested, STV_METRIC_COUNTER, "stevedore_nodes_requested_total",
       "Nodes asked for by scale requests.", NULL},
      {&m->nodes_cut, STV_METRIC_COUNTER, "stevedore_nodes_cut_total",
       "Planned nodes that a limit or a group's maximum cut.", NULL},
      {&m->given_up, STV_METRIC_COUNTER, "stevedore_nodes_given_up_total",
       "Requested nodes that did not register within --max-provision-time.", NULL},
      {&m->cloud_calls, STV_METRIC_COUNTER, "stevedore_cloud_calls_total",
       "Answers of the cloud provider, by provider, operation and code (ok or the error's name).", prov_code},
      {&m->cloud_errors, STV_METRIC_COUNTER, "stevedore_cloud_call_errors_total",
       "Provider calls and launches that failed, by provider, operation (launch: a failed launch) and error.",
       prov_code},
      {&m->cache_events, STV_METRIC_COUNTER, "stevedore_cache_events_total",
       "Watch events (and listed objects) applied to the cluster cache.", NULL},
      {&m->cache_errors, STV_METRIC_COUNTER, "stevedore_cache_errors_total",
       "Objects the cluster cache refused (logged with the object and field).", NULL},
      {&m->cache_compactions, STV_METRIC_COUNTER, "stevedore_cache_compactions_total",
       "Compactions of the cluster cache.", NULL},
      {&m->watch_restarts, STV_METRIC_COUNTER, "stevedore_watch_restarts_total",
       "Watches started again after the first (a closed stream, an error, a relist), by resource.", resource},
      {&m->watch_relists, STV_METRIC_COUNTER, "stevedore_watch_relists_total",
       "Full lists after the first (410 Gone, or an error during a list), by resource.", resource},
      {&m->watch_errors, STV_METRIC_COUNTER, "stevedore_watch_errors_total",
       "Failed lists and watches followed by a backoff (the API server down, 5xx, 429), by resource.",
       resource},
      {&m->leader, STV_METRIC_GAUGE, "stevedore_leader", "1 while this replica holds the Lease and acts.",
       NULL},
      {&m->ready, STV_METRIC_GAUGE, "stevedore_ready", "1 once the cluster cache has synced.", NULL},
      {&m->events, STV_METRIC_COUNTER, "stevedore_events_total",
       "Kubernetes Events by what the recorder did: created, updated, deduplicated, rate_limited, "
       "fanned_out.",
       outcome},
      {&m->event_writes_failed, STV_METRIC_COUNTER, "stevedore_event_writes_failed_total",
       "Event writes the API server refused or that failed.", NULL},
      {&m->node_writes, STV_METRIC_COUNTER, "stevedore_sim_node_writes_total",
       "Node objects the sim provider created or deleted, by verb and result.", verb_result},
      {&m->log_dropped, STV_METRIC_COUNTER, "stevedore_log_lines_dropped_total",
       "Log lines that could not be written.", NULL},
      {&m->nodes_drained, STV_METRIC_COUNTER, "stevedore_nodes_drained_total",
       "Nodes drained and removed (their instances deleted through the provider).", NULL},
      {&m->evictions, STV_METRIC_COUNTER, "stevedore_evictions_total",
       "Eviction requests by result: evicted, refused_pdb (429: a PodDisruptionBudget allowed no disruption), "
       "error.",
       eviction_result},
      {&m->drain_failures, STV_METRIC_COUNTER, "stevedore_drain_failures_total",
       "Drains undone (timed out, the taint removed) or that the provider refused.", NULL},
      {&m->draining, STV_METRIC_GAUGE, "stevedore_nodes_draining", "Drains under way.", NULL},
  };
  size_t i;
  int rc;
  memset(m, 0, sizeof(*m));
  if ((rc = stv_registry_new(&m->reg)) != 0) return stv_err_set(err, rc, "metrics: out of memory");
  for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
    const struct family *f = &fams[i];
    int hist = f->type == STV_METRIC_HISTOGRAM;
    rc = stv_registry_register(m->reg, f->type, f->name, f->help, f->labels, hist ? secs_buckets : NULL,
                               hist ? sizeof(secs_buckets) / sizeof(secs_buckets[0]) : 0, f->out, err);
    if (rc != 0) {
      stv__dmetrics_close(m);
      return rc;
    }
  }
  return 0;
}

void stv__dmetrics_close(struct stv__dmetrics *m) {
  stv_registry_free(m->reg);
  m->reg = NULL;
}

void stv__dmetrics_set(struct stv_metric *f, const char *const *values, double v) {
  struct stv_series *s;
  if (stv_metric_series(f, values, &s) == 0) stv_series_set(s, v);
}

void stv__dmetrics_add(struct stv_metric *f, const char *const *values, double v) {
  struct stv_series *s;
  if (stv_metric_series(f, values, &s) == 0) stv_series_add(s, v);
}

void stv__dmetrics_observe(struct stv_metric *f, double v) {
  struct stv_series *s;
  if (stv_metric_series(f, NULL, &s) == 0) stv_series_observe(s, v);
}

void stv__dmetrics_count(struct stv__dmetrics *m, int slot, struct stv_metric *f, const char *const *values,
                         double total) {
  if (total > m->last[slot]) stv__dmetrics_add(f, values, total - m->last[slot]);
  m->last[slot] = total;
}
