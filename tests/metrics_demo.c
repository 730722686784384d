/*
 * A small program for tests/test_metrics_endpoint.py: registers the
 * controller's metric families of docs/observability.md with sample
 * values (label values with quotes, backslashes, newlines and non-ASCII
 * text among them), serves them on argv[1] (HOST:PORT, port 0: any), prints
 * "port N", then reads commands from stdin, one a line:
 *   ready    /readyz answers 200 from now on
 *   tick     one more reconcile: counters and a histogram move
 * and stops at the end of its input.
 */
#include <stdio.h>
#include <string.h>

#include "registry.h"
#include "serve.h"

static struct stv_metric *reg(struct stv_registry *m, enum stv_metric_type t, const char *name,
                              const char *help, const char *const *labels, const double *b, size_t nb) {
  struct stv_metric *f = NULL;
  struct stv_err err;
  if (stv_registry_register(m, t, name, help, labels, b, nb, &f, &err) != 0) fprintf(stderr, "%s\n", err.msg);
  return f;
}

static struct stv_series *series(struct stv_metric *f, const char *const *values) {
  struct stv_series *s = NULL;
  if (f == NULL || stv_metric_series(f, values, &s) != 0) fprintf(stderr, "metrics_demo: no series\n");
  return s;
}

int main(int argc, char **argv) {
  static const double secs[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
  static const char *const pool_ct[] = {"pool", "capacity_type", NULL};
  struct stv_registry *m;
  struct stv_serve *srv;
  struct stv_err err;
  struct stv_series *reconcile, *decision, *calls, *restarts;
  char line[64];
  if (argc != 2) {
    fprintf(stderr, "usage: metrics_demo HOST:PORT\n");
    return 2;
  }
  if (stv_registry_new(&m) != 0) return 1;
  reconcile = series(reg(m, STV_METRIC_HISTOGRAM, "stevedore_reconcile_duration_seconds",
                         "Time one reconciler pass took, by reconciler.",
                         (const char *const[]){"reconciler", NULL}, secs, 9),
                     (const char *const[]){"provisioning"});
  decision = series(reg(m, STV_METRIC_HISTOGRAM, "stevedore_decision_duration_seconds",
                        "From the end of a batch window to the scale request.", NULL, secs, 9),
                    NULL);
  stv_series_set(series(reg(m, STV_METRIC_GAUGE, "stevedore_pending_pods",
                            "Pods kube-scheduler marked unschedulable, waiting for capacity.", NULL, NULL, 0),
                        NULL),
                 42);
  {
    struct stv_metric *nodes =
        reg(m, STV_METRIC_GAUGE, "stevedore_nodes", "Nodes by pool and capacity type.", pool_ct, NULL, 0);
    struct stv_metric *cost = reg(
        m, STV_METRIC_GAUGE, "stevedore_hourly_cost",
        "Hourly cost of the nodes by pool and capacity type, in the catalogue's currency.", pool_ct, NULL, 0);
    stv_series_set(series(nodes, (const char *const[]){"default", "spot"}), 12);
    stv_series_set(series(nodes, (const char *const[]){"default", "on-demand"}), 3);
    stv_series_set(series(nodes, (const char *const[]){"gpu \"a\\b\"\nz caf\xc3\xa9", "reserved"}), 1);
    stv_series_set(series(cost, (const char *const[]){"default", "spot"}), 0.456);
    stv_series_set(series(cost, (const char *const[]){"default", "on-demand"}), 0.288);
  }
  calls =
      series(reg(m, STV_METRIC_COUNTER, "stevedore_cloud_calls_total", "Calls to the cloud provider's API.",
                 (const char *const[]){"provider", "operation", "code", NULL}, NULL, 0),
             (const char *const[]){"sim", "set_desired", "ok"});
  stv_series_add(series(reg(m, STV_METRIC_COUNTER, "stevedore_cloud_call_errors_total",
                            "Cloud API calls that failed, by error.",
                            (const char *const[]){"provider", "operation", "code", NULL}, NULL, 0),
                        (const char *const[]){"sim", "set_desired", "STV_ETHROTTLED"}),
                 2);
  restarts = series(reg(m, STV_METRIC_COUNTER, "stevedore_watch_restarts_total",
                        "Watches started again, by resource and reason.",
                        (const char *const[]){"resource", "reason", NULL}, NULL, 0),
                    (const char *const[]){"pods", "gone"});
  stv_series_set(series(reg(m, STV_METRIC_GAUGE, "stevedore_leader", "1 while this replica holds the Lease.",
                            NULL, NULL, 0),
                        NULL),
                 1);
  if (stv_serve_start(&srv, argv[1], m, &err) != 0) {
    fprintf(stderr, "metrics_demo: %s\n", err.msg);
    stv_registry_free(m);
    return 1;
  }
  printf("port %d\n", stv_serve_port(srv));
  fflush(stdout);
  while (fgets(line, sizeof(line), stdin) != NULL) {
    if (strcmp(line, "ready\n") == 0) stv_serve_set_ready(srv, 1);
    if (strcmp(line, "tick\n") == 0) {
      stv_series_observe(reconcile, 0.003);
      stv_series_observe(decision, 0.042);
      stv_series_add(calls, 1);
      stv_series_add(restarts, 1);
    }
    printf("ok\n");
    fflush(stdout);
  }
  stv_serve_stop(srv);
  stv_registry_free(m);
  return 0;
}
