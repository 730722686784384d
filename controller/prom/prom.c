/*
 * Prometheus client for cost reports over a window (see prom.h and
 * docs/prometheus.md): the queries and their requests. Answers are parsed
 * in prom_answer.c.
 *
 * Collecting. The window is read in chunks of time, each small enough
 * that one cell per pod and step fits the cell budget. For each chunk the
 * queries run concurrently through the I/O layer (io/io.h: libcurl's multi
 * socket interface on a libuv loop this collection runs; connections are
 * kept alive between chunks); the series they return are pivoted into a
 * pod x step table and a node x step table; then each step of the chunk is
 * handed to the callback, in time order, while Prometheus already works on
 * the next chunk's queries, whose answers wait (paused) until the tables
 * are reset for them.
 */
#include "prom_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "jsonstream.h"

/* Prometheus refuses range queries of more points per series than this. */
#define PROM_POINTS_MAX 11000
/* Default pod x step cells per chunk (56 bytes each). */
#define PROM_CELLS_DEFAULT ((size_t)1 << 20)
/* Steps in the first chunk, before the number of pods is known. */
#define PROM_FIRST_CHUNK 12
/* Prometheus' default lookback for instant vector selectors, seconds. */
#define PROM_LOOKBACK 300

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

/* Formats unix seconds as "2026-11-19T00:00Z" (seconds shown when not 0). */
const char *prom_fmt_time(int64_t t, char *buf, size_t size) {
  time_t tt = (time_t)t;
  struct tm tm;
  if (gmtime_r(&tt, &tm) == NULL) {
    snprintf(buf, size, "%" PRId64, t);
    return buf;
  }
  if (tm.tm_sec != 0)
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
  else
    strftime(buf, size, "%Y-%m-%dT%H:%MZ", &tm);
  return buf;
}

int stv_prom_parse_value(const char *s, double *v) {
  char *end;
  double x;
  if (s == NULL || *s == '\0') return STV_EPARSE;
  if (strcmp(s, "NaN") == 0) {
    *v = NAN;
    return 0;
  }
  if (strcmp(s, "+Inf") == 0 || strcmp(s, "Inf") == 0) {
    *v = INFINITY;
    return 0;
  }
  if (strcmp(s, "-Inf") == 0) {
    *v = -INFINITY;
    return 0;
  }
  /* Only what Go's strconv.FormatFloat writes: sign, digits, '.', exponent. */
  if (strspn(s, "+-0123456789.eE") != strlen(s)) return STV_EPARSE;
  errno = 0;
  x = strtod(s, &end);
  if (end == s || *end != '\0') return STV_EPARSE;
  *v = x; /* overflow gives +-HUGE_VAL, which is what the text says */
  return 0;
}

int stv_prom_parse_duration(const char *s, int64_t *seconds, struct stv_err *err) {
  double v;
  int rc = stv_parse_duration(s, &v, err);
  if (rc != 0) return rc;
  if (!(v > 0)) return stv_err_set(err, STV_EINVAL, "invalid duration \"%s\": must be positive", s);
  if (v != floor(v))
    return stv_err_set(err, STV_EINVAL, "invalid duration \"%s\": Prometheus counts whole seconds", s);
  *seconds = (int64_t)v;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The queries                                                            */

/* The resources costed, as kube-state-metrics names them. */
#define PROM_RESOURCES "cpu|memory|nvidia_com_gpu|amd_com_gpu"



/*
 * Each query's metric (for messages and the check that the window has it),
 * whether it is a range query over the chunk's steps (else a request for the
 * label sets of the series with data in the chunk, /api/v1/series), and its
 * PromQL or series selector; %s is the rate window.
 *
 * The per-step queries are plain selectors: the sums over containers (and
 * the choices between duplicate series) are made here, as the series
 * arrive. Prometheus 2.42 spends about 2 microseconds per series and step
 * on each aggregation of a range query, five times what the selector
 * costs, and the per-step queries are nearly all of its work. The
 * descriptive series (info, owner, labels) say the same at every step:
 * their label sets, which /api/v1/series reads from the index without
 * touching a sample, are all that is needed.
 */
static const struct qdef {
  const char *metric;
  int range;
  const char *promql;
} qdefs[NQ] = {
    [Q_REQ] = {"kube_pod_container_resource_requests", 1,
               "kube_pod_container_resource_requests{resource=~\"" PROM_RESOURCES "\"}"},
    [Q_PHASE] = {"kube_pod_status_phase", 1, "kube_pod_status_phase{phase=~\"Succeeded|Failed\"} == 1"},
    [Q_CPU] = {"container_cpu_usage_seconds_total", 1,
               "rate(container_cpu_usage_seconds_total{container!=\"\", container!=\"POD\"}[%s])"},
    [Q_MEM] = {"container_memory_working_set_bytes", 1,
               "container_memory_working_set_bytes{container!=\"\", container!=\"POD\"}"},
    [Q_ALLOC] = {"kube_node_status_allocatable", 1,
                 "kube_node_status_allocatable{resource=~\"" PROM_RESOURCES "\"}"},
    [Q_NODE_INFO] = {"kube_node_info", 0, "kube_node_info"},
    [Q_NODE_LABELS] = {"kube_node_labels", 0, "kube_node_labels"},
    [Q_POD_INFO] = {"kube_pod_info", 0, "kube_pod_info"},
    [Q_POD_OWNER] = {"kube_pod_owner", 0, "kube_pod_owner"},
    [Q_POD_LABELS] = {"kube_pod_labels", 0, "kube_pod_labels"},
    [Q_POD_ANN] = {"kube_pod_annotations", 0, "kube_pod_annotations"},
};

/* Notes which of the queries' metrics the window holds (the preflight). */
static int on_name(void *ctx, const struct stv_prom_series *s, struct stv_err *err) {
  struct req *rq = ctx;
  size_t q;
  (void)err;
  for (q = 0; q < NQ && s->nlabels == 1; q++)
    if (strcmp(s->labels[0].value, qdefs[q].metric) == 0) rq->c->have_metric[q] = 1;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                   */

static int on_body(void *ctx, struct stv_http_req *h, const char *ptr, size_t n) {
  struct req *r = ctx;
  (void)h;
  if (r->c->hold) return STV_HTTP_PAUSE; /* the tables are not ready: later */
  r->c->st->bytes += n;
  if (r->rc != 0) return r->rc;
  return r->rc = stv_prom_parser_feed(r->parser, ptr, n, &r->err);
}

/* Prepares r for its next request: a fresh parser each time. */
static int req_prepare(struct coll *c, struct req *r, struct stv_err *err) {
  r->c = c;
  r->rc = 0;
  r->res = 0;
  r->failure = STV_HTTP_OK;
  r->connected = 0;
  r->err.code = 0;
  r->err.msg[0] = '\0';
  r->errbuf[0] = '\0';
  stv_prom_parser_free(r->parser);
  r->parser = NULL;
  if (stv_prom_parser_new(&r->parser,
                          r->preflight       ? STV_PROM_VALUES
                          : qdefs[r->q].range ? STV_PROM_MATRIX
                                              : STV_PROM_SERIES,
                          r->preflight ? on_name : prom_on_series, r) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  return 0;
}

/* Points r at endpoint (under the base URL) with a POST of form (taken over), or a GET. */
static int req_target(struct coll *c, struct req *r, const char *endpoint, char *form, struct stv_err *err) {
  stv_free(r->url);
  stv_free(r->form);
  r->form = form;
  if ((r->url = stv_malloc(strlen(c->base) + strlen(endpoint) + 1)) == NULL)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  strcpy(r->url, c->base);
  strcat(r->url, endpoint);
  return 0;
}

/* The error of a failed request, with the URL or the query named. */
static int req_error(struct coll *c, struct req *r, struct stv_err *err) {
  const char *url = c->o->url;
  char what[96]; /* "query <metric>", or what the preflight asks */
  const char *detail = r->errbuf;
  if (r->preflight)
    snprintf(what, sizeof(what), "listing the metric names");
  else
    snprintf(what, sizeof(what), "query %s", qdefs[r->q].metric);
  if (r->rc != 0) {
    if (r->rc == STV_ENOMEM) return stv_err_set(err, STV_ENOMEM, "prometheus: %s: out of memory", what);
    return stv_err_set(err, r->rc, "prometheus: %s: %s", what, r->err.msg);
  }
  if (r->res == STV_ENOMEM) return stv_err_set(err, STV_ENOMEM, "prometheus: %s: out of memory", what);
  switch (r->failure) {
  case STV_HTTP_CONNECT:
    return stv_err_set(err, r->res, "prometheus %s: cannot connect: %s", url, detail);
  case STV_HTTP_RESOLVE:
    return stv_err_set(err, STV_EIO, "prometheus %s: cannot resolve the host: %s", url, detail);
  case STV_HTTP_TIMEOUT:
    if (!r->connected)
      return stv_err_set(err, STV_ETIMEDOUT, "prometheus %s: cannot connect: no answer within %.3g s", url,
                         (double)c->timeout_ms / 1000.0);
    return stv_err_set(err, STV_ETIMEDOUT,
                       "prometheus %s: %s: timed out: no complete answer within %.3g s", url, what,
                       (double)c->timeout_ms / 1000.0);
  case STV_HTTP_URL:
    return stv_err_set(err, STV_EINVAL, "prometheus %s: invalid URL: %s", url, detail);
  case STV_HTTP_LOST:
    return stv_err_set(err, STV_EIO, "prometheus %s: %s: connection lost: %s", url, what, detail);
  default:
    return stv_err_set(err, r->res < 0 ? r->res : STV_EIO, "prometheus %s: %s: %s", url, what, detail);
  }
}

/* Ends the answer of a request the I/O layer has finished. */
static void req_done(void *ctx, struct stv_http_req *h, const struct stv_http_result *res) {
  struct req *r = ctx;
  struct coll *c = r->c;
  (void)h;
  r->h = NULL;
  r->res = res->code;
  r->failure = res->failure;
  r->connected = res->connected;
  snprintf(r->errbuf, sizeof(r->errbuf), "%s", res->error);
  c->inflight--;
  if (res->failure == STV_HTTP_CANCELED) return;
  c->st->requests++;
  if (res->code == 0 && r->rc == 0) r->rc = stv_prom_parser_finish(r->parser, res->status, &r->err);
  if ((res->code != 0 || r->rc != 0) && c->failed == NULL) c->failed = r;
}

/*
 * Starts the requests reqs[0..n) (borrowed; they stay in c->batch until
 * batch_finish): they are sent at once, so that Prometheus works on them
 * while this side does something else; their answers are read, or wait
 * while c->hold is set, in batch_finish.
 */
static int batch_start(struct coll *c, struct req **reqs, size_t n, struct stv_err *err) {
  size_t i;
  int rc;
  c->failed = NULL;
  for (i = 0; i < n; i++) {
    struct req *r = reqs[i];
    struct stv_http_opts ho;
    memset(&ho, 0, sizeof(ho));
    ho.url = r->url;
    ho.body = r->form;
    ho.body_len = r->form != NULL ? strlen(r->form) : 0;
    ho.headers = c->headers;
    ho.timeout_ms = c->timeout_ms;
    ho.on_body = on_body;
    ho.on_done = req_done;
    ho.ctx = r;
    if ((rc = stv_http_request(c->http, &ho, &r->h, err)) != 0) return rc;
    c->inflight++;
    c->batch[c->nbatch++] = r;
  }
  /* One turn of the loop without waiting: the requests leave now. */
  uv_run(&c->loop, UV_RUN_NOWAIT);
  return 0;
}

/* Ends the requests in flight and waits until the I/O layer has let them go. */
static void batch_drop(struct coll *c) {
  size_t i;
  for (i = 0; i < c->nbatch; i++)
    if (c->batch[i]->h != NULL) stv_http_cancel(c->batch[i]->h);
  while (c->inflight > 0 && uv_run(&c->loop, UV_RUN_ONCE) != 0) {
  }
  c->nbatch = 0;
}

/* Reads every answer of the batch in flight; the first failure is returned. */
static int batch_finish(struct coll *c, struct stv_err *err) {
  size_t i;
  int rc = 0;
  for (i = 0; i < c->nbatch; i++)
    if (c->batch[i]->h != NULL && stv_http_resume(c->batch[i]->h) != 0 && c->failed == NULL)
      rc = stv_err_set(err, STV_EIO, "libcurl: cannot resume a transfer");
  while (rc == 0 && c->inflight > 0 && c->failed == NULL)
    if (uv_run(&c->loop, UV_RUN_ONCE) == 0 && c->inflight > 0)
      rc = stv_err_set(err, STV_EIO, "prometheus: the I/O loop stopped with %zu requests in flight",
                       c->inflight);
  batch_drop(c);
  if (rc == 0 && c->failed != NULL) rc = req_error(c, c->failed, err);
  return rc;
}

/* Runs the requests reqs[0..n) concurrently; the first failure is returned. */
static int run_batch(struct coll *c, struct req **reqs, size_t n, struct stv_err *err) {
  int rc = batch_start(c, reqs, n, err);
  if (rc != 0) {
    batch_drop(c);
    return rc;
  }
  return batch_finish(c, err);
}

/* Form-encodes "<key>=<value>&<rest>" into a new string (stv_free it). */
static char *form(const char *key, const char *value, const char *rest) {
  char *q = curl_easy_escape(NULL, value, 0), *f;
  if (q == NULL) return NULL;
  f = stv_malloc(strlen(key) + strlen(q) + strlen(rest) + 3);
  if (f != NULL) sprintf(f, "%s=%s&%s", key, q, rest);
  curl_free(q);
  return f;
}

/* ---------------------------------------------------------------------- */
/* Collecting                                                             */

/*
 * Asks which metric names the window's blocks hold. A cheap first request:
 * it checks that the server answers before the heavy queries run, turns a
 * window without the required series into a clear error, and leaves out
 * queries for series that are not there. The answer is by storage block,
 * so a name listed may still have no sample in the window.
 */
static int preflight(struct coll *c, struct stv_err *err) {
  struct req *r = &c->reqs[NQ];
  char endpoint[128], a[32], b[32];
  size_t q;
  int rc;

  r->preflight = 1;
  if ((rc = req_prepare(c, r, err)) != 0) return rc;
  snprintf(endpoint, sizeof(endpoint), "/api/v1/label/__name__/values?start=%" PRId64 "&end=%" PRId64,
           c->o->start - PROM_LOOKBACK, c->o->end);
  if ((rc = req_target(c, r, endpoint, NULL, err)) != 0) return rc;
  if ((rc = run_batch(c, &r, 1, err)) != 0) return rc;
  for (q = 0; q < NQ; q++)
    if (!c->have_metric[q] && (q == Q_REQ || q == Q_ALLOC))
      return stv_err_set(err, STV_ENOTFOUND, "prometheus: no data for %s between %s and %s", qdefs[q].metric,
                         prom_fmt_time(c->o->start, a, sizeof(a)), prom_fmt_time(c->o->end, b, sizeof(b)));
  if (!c->have_metric[Q_CPU])
    prom_note(c, "no %s in the window: cpu is costed at its requests", qdefs[Q_CPU].metric);
  if (!c->have_metric[Q_MEM])
    prom_note(c, "no %s in the window: memory is costed at its requests", qdefs[Q_MEM].metric);
  if (!c->have_metric[Q_NODE_LABELS])
    prom_note(c, "no %s in the window: nodes have no instance type and cannot be priced",
         qdefs[Q_NODE_LABELS].metric);
  if (!c->have_metric[Q_POD_INFO] && !c->have_metric[Q_POD_OWNER])
    prom_note(c, "no kube_pod_info or kube_pod_owner in the window: pod owners are unknown");
  return 0;
}

/* Tells each Prometheus warning once. */
static int tell_warnings(struct coll *c, struct req *r) {
  size_t i, j, n = stv_prom_parser_nwarnings(r->parser);
  for (i = 0; i < n; i++) {
    const char *w = stv_prom_parser_warning(r->parser, i);
    char **nw;
    for (j = 0; j < c->nwarnings; j++)
      if (strcmp(c->warnings[j], w) == 0) break;
    if (j < c->nwarnings) continue;
    if ((nw = stv_realloc(c->warnings, (c->nwarnings + 1) * sizeof(*nw))) == NULL) return STV_ENOMEM;
    c->warnings = nw;
    if ((nw[c->nwarnings] = stv_strdup(w)) == NULL) return STV_ENOMEM;
    c->nwarnings++;
    prom_note(c, "query %s: warning: %s", qdefs[r->q].metric, w);
  }
  return 0;
}

/*
 * Sends the queries of the chunk of k steps from t0, with c->hold set: the
 * answers wait until chunk_wait, so that the tables may still hold the
 * chunk before while Prometheus works.
 */
static int chunk_send(struct coll *c, int64_t t0, size_t k, struct stv_err *err) {
  struct req *batch[NQ];
  char range[128], series[128], *f;
  int64_t t_end = t0 + (int64_t)(k - 1) * c->step;
  size_t q, n = 0;
  int rc;

  c->hold = 1;
  snprintf(range, sizeof(range), "start=%" PRId64 "&end=%" PRId64 "&step=%" PRId64, t0, t_end, c->step);
  /* Series with a sample the chunk's first step can see, up to its last. */
  snprintf(series, sizeof(series), "start=%" PRId64 "&end=%" PRId64, t0 - PROM_LOOKBACK, t_end);
  for (q = 0; q < NQ; q++) {
    struct req *r = &c->reqs[q];
    char promql[512], window[32];
    if (!c->have_metric[q]) continue;
    snprintf(window, sizeof(window), "%" PRId64 "s", c->step > PROM_LOOKBACK ? c->step : (int64_t)PROM_LOOKBACK);
    snprintf(promql, sizeof(promql), qdefs[q].promql, window);
    r->q = (enum qid)q;
    if ((rc = req_prepare(c, r, err)) != 0) return rc;
    f = qdefs[q].range ? form("query", promql, range) : form("match[]", promql, series);
    if (f == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
    rc = req_target(c, r, qdefs[q].range ? "/api/v1/query_range" : "/api/v1/series", f, err);
    if (rc != 0) return rc;
    batch[n++] = r;
  }
  return batch_start(c, batch, n, err);
}

/* Reads the answers of the queries sent into the tables, made ready for them. */
static int chunk_wait(struct coll *c, struct stv_err *err) {
  size_t i, n = c->nbatch;
  struct req *batch[NQ + 1];
  int rc;
  memcpy(batch, c->batch, n * sizeof(*batch));
  c->hold = 0;
  if ((rc = batch_finish(c, err)) != 0) return rc;
  for (i = 0; i < n; i++)
    if (tell_warnings(c, batch[i]) != 0) return stv_err_set(err, STV_ENOMEM, "out of memory");
  return 0;
}

static int check_opts(const struct stv_prom_opts *o, struct stv_err *err) {
  if (o->url == NULL || *o->url == '\0') return stv_err_set(err, STV_EINVAL, "prometheus: no URL");
  if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)
    return stv_err_set(err, STV_EINVAL, "prometheus %s: the URL must start with http:// or https://", o->url);
  if (strpbrk(o->url, "?# \t\r\n") != NULL)
    return stv_err_set(err, STV_EINVAL, "prometheus %s: the URL must be the server's base URL, without a "
                                        "query, fragment or spaces", o->url);
  if (o->bearer_token != NULL && strpbrk(o->bearer_token, "\r\n") != NULL)
    return stv_err_set(err, STV_EINVAL, "prometheus: the bearer token must be one line");
  if (o->step <= 0) return stv_err_set(err, STV_EINVAL, "prometheus: the step must be positive");
  if (o->end <= o->start) return stv_err_set(err, STV_EINVAL, "prometheus: the window is empty");
  if ((o->end - o->start) % o->step != 0)
    return stv_err_set(err, STV_EINVAL, "prometheus: the window is not a whole number of steps");
  return 0;
}

int stv_prom_collect_steps(const struct stv_prom_opts *o, stv_prom_step_cb cb, void *ctx,
                           struct stv_prom_stats *stats, struct stv_err *err) {
  struct coll c;
  struct stv_prom_stats local;
  size_t n_steps, done = 0, max_cells, q;
  char a[32], b[32];
  int rc;

  memset(&c, 0, sizeof(c));
  if (stats == NULL) stats = &local;
  memset(stats, 0, sizeof(*stats));
  stv_json_init();
  if ((rc = check_opts(o, err)) != 0) return rc;
  c.o = o;
  c.st = stats;
  c.cb = cb;
  c.cb_ctx = ctx;
  c.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 120000;
  c.step = o->step;
  max_cells = o->max_cells ? o->max_cells : PROM_CELLS_DEFAULT;
  n_steps = (size_t)((o->end - o->start) / o->step);
  stats->steps = n_steps;
  stv_strpool_init(&c.pool);
  stv_arena_init(&c.mem);
  for (q = 0; q <= NQ; q++) c.reqs[q].c = &c;

  if ((c.base = stv_strdup(o->url)) == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  while (strlen(c.base) > 8 && c.base[strlen(c.base) - 1] == '/') c.base[strlen(c.base) - 1] = '\0';
  if ((rc = uv_loop_init(&c.loop)) != 0) {
    rc = stv_err_set(err, rc, "cannot start the event loop: %s", uv_strerror(rc));
    goto out;
  }
  c.loop_up = 1;
  if ((rc = stv_http_new(&c.http, &c.loop, err)) != 0) goto out;
  c.headers[0] = "Accept: application/json";
  if (o->bearer_token != NULL && *o->bearer_token != '\0') {
    if ((c.auth = stv_malloc(strlen(o->bearer_token) + 32)) == NULL) {
      rc = stv_err_set(err, STV_ENOMEM, "out of memory");
      goto out;
    }
    sprintf(c.auth, "Authorization: Bearer %s", o->bearer_token);
    c.headers[1] = c.auth;
  }
  if ((rc = preflight(&c, err)) != 0) goto out;

  /*
   * Chunk after chunk: while the steps of one go to the callback, the queries
   * of the next are already with Prometheus.
   */
  {
    size_t k = n_steps < PROM_FIRST_CHUNK ? n_steps : PROM_FIRST_CHUNK;
    int64_t t0 = o->start + o->step;
    if ((rc = chunk_send(&c, t0, k, err)) != 0) goto out;
    prom_chunk_reset(&c, t0, k);
    if ((rc = chunk_wait(&c, err)) != 0) goto out;
    for (;;) {
      size_t next_k = 0;
      done += c.k;
      if (done < n_steps) {
        next_k = max_cells / (c.npods + c.npods / 4 + 1);
        if (next_k < 1) next_k = 1;
        if (next_k > PROM_POINTS_MAX) next_k = PROM_POINTS_MAX;
        if (next_k > n_steps - done) next_k = n_steps - done;
        if ((rc = chunk_send(&c, o->start + (int64_t)(done + 1) * o->step, next_k, err)) != 0) goto out;
      }
      if (c.npods * c.k > stats->max_cells) stats->max_cells = c.npods * c.k;
      stats->chunks++;
      if ((rc = prom_chunk_emit(&c, err)) != 0) goto out;
      if (next_k == 0) break;
      prom_chunk_reset(&c, o->start + (int64_t)(done + 1) * o->step, next_k);
      if ((rc = chunk_wait(&c, err)) != 0) goto out;
    }
  }

  prom_fmt_time(o->start, a, sizeof(a));
  prom_fmt_time(o->end, b, sizeof(b));
  if (stats->req_samples == 0) {
    rc = stv_err_set(err, STV_ENOTFOUND, "prometheus: no data for %s between %s and %s", qdefs[Q_REQ].metric, a,
                     b);
    goto out;
  }
  if (stats->alloc_samples == 0) {
    rc = stv_err_set(err, STV_ENOTFOUND, "prometheus: no data for %s between %s and %s", qdefs[Q_ALLOC].metric,
                     a, b);
    goto out;
  }
  if (c.have_metric[Q_CPU] && stats->cpu_samples == 0)
    prom_note(&c, "no %s samples in the window: cpu is costed at its requests", qdefs[Q_CPU].metric);
  if (c.have_metric[Q_MEM] && stats->mem_samples == 0)
    prom_note(&c, "no %s samples in the window: memory is costed at its requests", qdefs[Q_MEM].metric);
  if (stats->nonfinite > 0)
    prom_note(&c, "%zu samples were NaN, infinite or negative and were left out", stats->nonfinite);
  if (stats->data_steps < n_steps) {
    char f[32], l[32];
    prom_note(&c, "%zu of %zu steps between %s and %s had no data (data from %s to %s): the report "
             "covers less than the window",
         n_steps - stats->data_steps, n_steps, a, b, prom_fmt_time(stats->first_data - o->step, f, sizeof(f)),
         prom_fmt_time(stats->last_data, l, sizeof(l)));
  }
  rc = 0;
out:
  if (c.http != NULL) batch_drop(&c);
  stv_http_close(c.http);
  if (c.loop_up) {
    while (uv_run(&c.loop, UV_RUN_DEFAULT) != 0) {
    }
    uv_loop_close(&c.loop);
  }
  for (q = 0; q <= NQ; q++) {
    stv_prom_parser_free(c.reqs[q].parser);
    stv_free(c.reqs[q].url);
    stv_free(c.reqs[q].form);
  }
  stv_free(c.auth);
  for (q = 0; q < c.nwarnings; q++) stv_free(c.warnings[q]);
  stv_free(c.warnings);
  stv_free(c.base);
  stv_free(c.pods);
  stv_free(c.cells);
  stv_strmap_close(&c.pod_map);
  stv_free(c.key);
  stv_free(c.nodes);
  stv_free(c.ncells);
  stv_strmap_close(&c.node_map);
  stv_free(c.out_nodes);
  stv_free(c.out_pods);
  stv_strpool_close(&c.pool);
  stv_arena_reset(&c.mem);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Feeding the report                                                     */

struct feed {
  struct stv_report *r;
  int nomem;
};

static void feed_note(void *ctx, const char *msg) {
  struct feed *f = ctx;
  if (stv_report_note(f->r, "prometheus: %s", msg) != 0) f->nomem = 1;
}

static int feed_step(void *ctx, const struct stv_cost_step *s, struct stv_err *err) {
  struct feed *f = ctx;
  return stv_report_add_step(f->r, s, err);
}

int stv_prom_collect(const struct stv_prom_opts *o, struct stv_report *r, struct stv_err *err) {
  struct stv_prom_opts oo = *o;
  struct stv_prom_stats st;
  struct feed f = {r, 0};
  int rc;
  if (oo.note == NULL) {
    oo.note = feed_note;
    oo.note_ctx = &f;
  }
  rc = stv_prom_collect_steps(&oo, feed_step, &f, &st, err);
  if (rc != 0) return rc;
  if (f.nomem) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (st.data_steps < st.steps) stv_report_set_incomplete(r);
  r->window_start = o->start;
  r->window_end = o->end;
  return 0;
}
