/*
 * Tests for the metrics registry (base/registry.c) and the endpoint that
 * serves it (io/serve.c), scraped with libcurl on a free loopback port.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STV_TEST_CURL 1
#include "harness.h"
#include "registry.h"
#include "serve.h"

/* Writes the exposition of m into a malloc'd string (NULL on failure). */
static char *expose(struct stv_registry *m) {
  struct stv_buf b;
  char *s;
  stv_buf_init(&b);
  if (stv_registry_write(m, &b) != 0) {
    stv_buf_close(&b);
    return NULL;
  }
  s = strdup(b.data != NULL ? b.data : "");
  stv_buf_close(&b);
  return s;
}

TEST(should_write_counters_gauges_and_histograms_in_the_text_format) {
  struct stv_registry *m;
  struct stv_metric *calls, *nodes, *dur;
  struct stv_series *s1, *s2, *n1, *d;
  struct stv_err err;
  const char *labels[] = {"provider", "operation", NULL};
  const char *pool_ct[] = {"pool", "capacity_type", NULL};
  const double buckets[] = {0.01, 0.1, 1};
  char *text;
  CHECK_EQ_INT(stv_registry_new(&m), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_COUNTER, "stevedore_cloud_calls_total",
                                    "Calls to the cloud provider's API.", labels, NULL, 0, &calls, &err),
               0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_GAUGE, "stevedore_nodes",
                                    "Nodes by pool and capacity type.", pool_ct, NULL, 0, &nodes, &err),
               0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_HISTOGRAM, "stevedore_decision_duration_seconds",
                                    "From the end of a batch window to the scale request.", NULL, buckets, 3,
                                    &dur, &err),
               0);
  CHECK_EQ_INT(stv_metric_series(calls, (const char *[]){"sim", "set_desired"}, &s1), 0);
  CHECK_EQ_INT(stv_metric_series(calls, (const char *[]){"sim", "list_groups"}, &s2), 0);
  CHECK_EQ_INT(stv_metric_series(nodes, (const char *[]){"default", "spot"}, &n1), 0);
  CHECK_EQ_INT(stv_metric_series(dur, NULL, &d), 0);
  stv_series_add(s1, 2);
  stv_series_add(s1, 1);
  stv_series_add(s1, -5); /* a counter never goes down */
  stv_series_add(s2, 1);
  stv_series_set(n1, 12);
  stv_series_add(n1, -2);
  stv_series_observe(d, 0.005);
  stv_series_observe(d, 0.05);
  stv_series_observe(d, 0.05);
  stv_series_observe(d, 7.5);
  CHECK(stv_series_value(s1) == 3.0);
  CHECK(stv_series_value(d) == 4.0);
  text = expose(m);
  CHECK(text != NULL);
  CHECK(strcmp(text, "# HELP stevedore_cloud_calls_total Calls to the cloud provider's API.\n"
                     "# TYPE stevedore_cloud_calls_total counter\n"
                     "stevedore_cloud_calls_total{provider=\"sim\",operation=\"set_desired\"} 3\n"
                     "stevedore_cloud_calls_total{provider=\"sim\",operation=\"list_groups\"} 1\n"
                     "# HELP stevedore_nodes Nodes by pool and capacity type.\n"
                     "# TYPE stevedore_nodes gauge\n"
                     "stevedore_nodes{pool=\"default\",capacity_type=\"spot\"} 10\n"
                     "# HELP stevedore_decision_duration_seconds From the end of a batch window to the scale "
                     "request.\n"
                     "# TYPE stevedore_decision_duration_seconds histogram\n"
                     "stevedore_decision_duration_seconds_bucket{le=\"0.01\"} 1\n"
                     "stevedore_decision_duration_seconds_bucket{le=\"0.1\"} 3\n"
                     "stevedore_decision_duration_seconds_bucket{le=\"1\"} 3\n"
                     "stevedore_decision_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                     "stevedore_decision_duration_seconds_sum 7.605\n"
                     "stevedore_decision_duration_seconds_count 4\n") == 0);
  free(text);
  stv_registry_free(m);
}

TEST(should_escape_label_values_and_help_and_repair_invalid_utf8) {
  struct stv_registry *m;
  struct stv_metric *f;
  struct stv_series *s;
  struct stv_err err;
  const char *labels[] = {"reason", NULL};
  char *text;
  CHECK_EQ_INT(stv_registry_new(&m), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_GAUGE, "stevedore_odd", "A \\ backslash.", labels, NULL, 0,
                                    &f, &err),
               0);
  CHECK_EQ_INT(stv_metric_series(f, (const char *[]){"say \"hi\"\nC:\\ caf\xc3\xa9 \xff!"}, &s), 0);
  stv_series_set(s, 0.1);
  CHECK_EQ_INT(stv_metric_series(f, (const char *[]){"inf"}, &s), 0);
  stv_series_set(s, INFINITY);
  CHECK_EQ_INT(stv_metric_series(f, (const char *[]){"nan"}, &s), 0);
  stv_series_set(s, NAN);
  CHECK_EQ_INT(stv_metric_series(f, (const char *[]){"big"}, &s), 0);
  stv_series_set(s, 1e21);
  text = expose(m);
  CHECK(text != NULL);
  CHECK_STR_CONTAINS(text, "# HELP stevedore_odd A \\\\ backslash.\n");
  CHECK_STR_CONTAINS(text,
                     "stevedore_odd{reason=\"say \\\"hi\\\"\\nC:\\\\ caf\xc3\xa9 \xef\xbf\xbd!\"} 0.1\n");
  CHECK_STR_CONTAINS(text, "stevedore_odd{reason=\"inf\"} +Inf\n");
  CHECK_STR_CONTAINS(text, "stevedore_odd{reason=\"nan\"} NaN\n");
  CHECK_STR_CONTAINS(text, "stevedore_odd{reason=\"big\"} 1e+21\n");
  free(text);
  stv_registry_free(m);
}

TEST(should_refuse_bad_names_labels_and_buckets_naming_them) {
  struct stv_registry *m;
  struct stv_metric *f;
  struct stv_err err;
  const double down[] = {1, 0.5};
  CHECK_EQ_INT(stv_registry_new(&m), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_GAUGE, "9lives", "x", NULL, NULL, 0, &f, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "name \"9lives\": not a metric name");
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_GAUGE, "ok_name", "x", (const char *[]){"__x", NULL}, NULL,
                                    0, &f, &err),
               STV_EINVAL);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_HISTOGRAM, "h_seconds", "x", (const char *[]){"le", NULL},
                                    down, 1, &f, &err),
               STV_EINVAL);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_HISTOGRAM, "h_seconds", "x", NULL, down, 2, &f, &err),
               STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "bounds must be finite and increasing");
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_GAUGE, "ok_name", "two\nlines", NULL, NULL, 0, &f, &err),
               STV_EINVAL);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_GAUGE, "ok_name", "x", NULL, NULL, 0, &f, &err), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_COUNTER, "ok_name", "x", NULL, NULL, 0, &f, &err),
               STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "registered twice");
  stv_registry_free(m);
}

TEST(should_hide_a_removed_series_and_bring_it_back_at_zero) {
  struct stv_registry *m;
  struct stv_metric *f;
  struct stv_series *s, *again;
  struct stv_err err;
  char *text;
  CHECK_EQ_INT(stv_registry_new(&m), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_GAUGE, "stevedore_nodes", "x",
                                    (const char *[]){"pool", NULL}, NULL, 0, &f, &err),
               0);
  CHECK_EQ_INT(stv_metric_series(f, (const char *[]){"gpu"}, &s), 0);
  stv_series_set(s, 4);
  stv_metric_remove(f, (const char *[]){"gpu"});
  stv_metric_remove(f, (const char *[]){"never-made"}); /* a no-op */
  text = expose(m);
  CHECK(text != NULL && strstr(text, "gpu") == NULL);
  free(text);
  CHECK_EQ_INT(stv_metric_series(f, (const char *[]){"gpu"}, &again), 0);
  CHECK(again == s);
  CHECK(stv_series_value(s) == 0);
  text = expose(m);
  CHECK_STR_CONTAINS(text, "stevedore_nodes{pool=\"gpu\"} 0\n");
  free(text);
  stv_registry_free(m);
}

TEST(should_cap_the_series_of_a_family) {
  struct stv_registry *m;
  struct stv_metric *f;
  struct stv_series *s;
  struct stv_err err;
  char v[32];
  int i, rc = 0;
  CHECK_EQ_INT(stv_registry_new(&m), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_COUNTER, "x_total", "x", (const char *[]){"id", NULL}, NULL,
                                    0, &f, &err),
               0);
  for (i = 0; i < STV_METRIC_MAX_SERIES && rc == 0; i++) {
    snprintf(v, sizeof(v), "%d", i);
    rc = stv_metric_series(f, (const char *[]){v}, &s);
  }
  CHECK_EQ_INT(rc, 0);
  CHECK_EQ_INT(stv_metric_series(f, (const char *[]){"one-more"}, &s), STV_ELIMIT);
  CHECK(s == NULL);
  CHECK_EQ_INT(stv_metric_series(f, (const char *[]){"17"}, &s), 0); /* an existing one still comes */
  stv_registry_free(m);
}

TEST(should_return_enomem_cleanly_when_registration_runs_out_of_memory) {
  int n, ok = 0;
  for (n = 0; n < 20; n++) {
    struct stv_registry *m = NULL;
    struct stv_metric *f;
    struct stv_series *s;
    struct stv_err err;
    const double b[] = {1, 2};
    int rc;
    stv_alloc_fail_after(n);
    rc = stv_registry_new(&m);
    if (rc == 0)
      rc = stv_registry_register(m, STV_METRIC_HISTOGRAM, "h_seconds", "x", (const char *[]){"a", NULL}, b, 2,
                                &f, &err);
    if (rc == 0) rc = stv_metric_series(f, (const char *[]){"v"}, &s);
    stv_alloc_fail_after(-1);
    CHECK(rc == 0 || rc == STV_ENOMEM);
    ok += rc == 0;
    stv_registry_free(m);
  }
  CHECK(ok > 0);
}

struct worker {
  struct stv_series *c, *h;
  int n;
};

static void *observe(void *arg) {
  struct worker *w = arg;
  int i;
  for (i = 0; i < w->n; i++) {
    stv_series_add(w->c, 1);
    stv_series_observe(w->h, (double)(i % 10) / 10.0);
  }
  return NULL;
}

TEST(should_count_every_observation_from_worker_threads_while_the_text_is_written) {
  struct stv_registry *m;
  struct stv_metric *c, *h;
  struct worker w;
  pthread_t t[4];
  struct stv_err err;
  const double b[] = {0.25, 0.5};
  int i;
  char *text;
  CHECK_EQ_INT(stv_registry_new(&m), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_COUNTER, "obs_total", "x", NULL, NULL, 0, &c, &err), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_HISTOGRAM, "obs_seconds", "x", NULL, b, 2, &h, &err), 0);
  CHECK_EQ_INT(stv_metric_series(c, NULL, &w.c), 0);
  CHECK_EQ_INT(stv_metric_series(h, NULL, &w.h), 0);
  w.n = 50000;
  for (i = 0; i < 4; i++) CHECK_EQ_INT(pthread_create(&t[i], NULL, observe, &w), 0);
  for (i = 0; i < 20; i++) {
    text = expose(m);
    CHECK(text != NULL);
    free(text);
  }
  for (i = 0; i < 4; i++) pthread_join(t[i], NULL);
  CHECK(stv_series_value(w.c) == 200000.0);
  CHECK(stv_series_value(w.h) == 200000.0);
  text = expose(m);
  /* 0.0, 0.1, 0.2 of each ten go under 0.25; up to 0.5 five; all under +Inf. */
  CHECK_STR_CONTAINS(text, "obs_seconds_bucket{le=\"0.25\"} 60000\n");
  CHECK_STR_CONTAINS(text, "obs_seconds_bucket{le=\"0.5\"} 120000\n");
  CHECK_STR_CONTAINS(text, "obs_seconds_bucket{le=\"+Inf\"} 200000\n");
  CHECK_STR_CONTAINS(text, "obs_seconds_count 200000\n");
  free(text);
  stv_registry_free(m);
}

/* ---- the endpoint ---------------------------------------------------- */

struct got {
  long status;
  char type[128];
  char body[8192];
  size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx) {
  struct got *g = ctx;
  size_t k = size * n;
  if (g->len + k < sizeof(g->body)) {
    memcpy(g->body + g->len, data, k);
    g->len += k;
    g->body[g->len] = '\0';
  }
  return k;
}

static int fetch(int port, const char *path, const char *method, struct got *g) {
  CURL *c = curl_easy_init();
  char url[128];
  char *type = NULL;
  CURLcode rc;
  memset(g, 0, sizeof(*g));
  if (c == NULL) return -1;
  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  if (method != NULL) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  rc = curl_easy_perform(c);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    snprintf(g->type, sizeof(g->type), "%s", type != NULL ? type : "");
  }
  curl_easy_cleanup(c);
  return rc == CURLE_OK ? 0 : -1;
}

TEST(should_serve_metrics_health_and_readiness_on_a_free_port) {
  struct stv_registry *m;
  struct stv_metric *f;
  struct stv_series *s;
  struct stv_serve *srv;
  struct stv_err err;
  struct got g;
  int port;
  CHECK_EQ_INT(stv_registry_new(&m), 0);
  CHECK_EQ_INT(stv_registry_register(m, STV_METRIC_GAUGE, "stevedore_leader", "1 while this replica leads.",
                                    NULL, NULL, 0, &f, &err),
               0);
  CHECK_EQ_INT(stv_metric_series(f, NULL, &s), 0);
  stv_series_set(s, 1);
  CHECK_EQ_INT(stv_serve_start(&srv, "127.0.0.1:0", m, &err), 0);
  port = stv_serve_port(srv);
  CHECK(port > 0);
  CHECK_EQ_INT(fetch(port, "/metrics", NULL, &g), 0);
  CHECK_EQ_INT(g.status, 200);
  CHECK(strcmp(g.type, "text/plain; version=0.0.4; charset=utf-8") == 0);
  CHECK_STR_CONTAINS(g.body, "# TYPE stevedore_leader gauge\nstevedore_leader 1\n");
  stv_series_set(s, 0);
  CHECK_EQ_INT(fetch(port, "/metrics", NULL, &g), 0);
  CHECK_STR_CONTAINS(g.body, "stevedore_leader 0\n");
  CHECK_EQ_INT(fetch(port, "/healthz", NULL, &g), 0);
  CHECK_EQ_INT(g.status, 200);
  CHECK_EQ_INT(fetch(port, "/readyz", NULL, &g), 0);
  CHECK_EQ_INT(g.status, 503);
  CHECK_STR_CONTAINS(g.body, "not ready");
  stv_serve_set_ready(srv, 1);
  CHECK_EQ_INT(fetch(port, "/readyz", NULL, &g), 0);
  CHECK_EQ_INT(g.status, 200);
  CHECK_EQ_INT(fetch(port, "/nothing-here", NULL, &g), 0);
  CHECK_EQ_INT(g.status, 404);
  CHECK_STR_CONTAINS(g.body, "/metrics, /healthz and /readyz");
  CHECK_EQ_INT(fetch(port, "/metrics", "DELETE", &g), 0);
  CHECK_EQ_INT(g.status, 405);
  stv_serve_stop(srv);
  CHECK(fetch(port, "/healthz", NULL, &g) != 0); /* stopped: nobody listens */
  stv_registry_free(m);
}

TEST(should_say_why_it_cannot_listen) {
  struct stv_registry *m;
  struct stv_serve *a, *b = NULL;
  struct stv_err err;
  char addr[64];
  CHECK_EQ_INT(stv_registry_new(&m), 0);
  CHECK_EQ_INT(stv_serve_start(&a, "127.0.0.1:0", m, &err), 0);
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", stv_serve_port(a));
  CHECK_EQ_INT(stv_serve_start(&b, addr, m, &err), -EADDRINUSE);
  CHECK(b == NULL);
  CHECK_STR_CONTAINS(err.msg, "metrics server: address \"127.0.0.1:");
  CHECK_STR_CONTAINS(err.msg, "cannot listen");
  CHECK_STR_CONTAINS(err.msg, "--metrics-address");
  CHECK_EQ_INT(stv_serve_start(&b, "127.0.0.1", m, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "expected HOST:PORT");
  CHECK_EQ_INT(stv_serve_start(&b, "127.0.0.1:99999", m, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "port \"99999\" is not a number from 0 to 65535");
  CHECK_EQ_INT(stv_serve_start(&b, "[::1:0", m, &err), STV_EINVAL);
  CHECK_EQ_INT(stv_serve_start(&b, "no-such-host.invalid:0", m, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "cannot resolve \"no-such-host.invalid\"");
  stv_serve_stop(a);
  stv_serve_stop(NULL);
  stv_registry_free(m);
}
