/*
 * prom: reads what a cluster ran over a window of time from a Prometheus
 * server's HTTP API (the kube-state-metrics and cAdvisor series OpenCost
 * reads) and turns it into one observation per step for the cost report
 * engine (pricing/report.h). Design and the exact queries:
 * docs/prometheus.md.
 *
 * Three layers, each usable on its own:
 *   - the answer parser (stv_prom_parser_*): the bytes of one
 *     /api/v1/query or /api/v1/query_range answer in, one series at a time
 *     out, so that memory is bounded by the largest series, not the answer;
 *   - the collector (stv_prom_collect_steps): the queries, chunk by chunk of
 *     time, over the I/O layer (io/io.h), pivoted into one struct stv_cost_step per
 *     evaluation time and handed to a callback;
 *   - stv_prom_collect: the collector feeding stv_report_add_step.
 */
#ifndef STV_PROM_H
#define STV_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "pricing.h"

/* ---------------------------------------------------------------------- */
/* Collecting                                                             */

/*
 * Where and what to read; every pointer is borrowed. The window is
 * (start, end], evaluated at start + step, start + 2 * step, ..., end: the
 * observation at t stands for the step (t - step, t]. end - start must be a
 * positive multiple of step.
 */
struct stv_prom_opts {
  const char *url;          /* "http://host:9090", or with a path prefix */
  int64_t start, end;       /* unix seconds */
  int64_t step;             /* seconds, > 0 */
  long timeout_ms;          /* per HTTP request; <= 0 means 120 s */
  const char *bearer_token; /* optional: sent as "Authorization: Bearer ..." */
  /*
   * Optional: called with each note worth telling a person (a Prometheus
   * warning, samples skipped as NaN or Inf, a series family without data,
   * steps without data). msg is borrowed for the call. stv_prom_collect
   * passes notes to the report (stv_report_note) when this is NULL.
   */
  void (*note)(void *ctx, const char *msg);
  void *note_ctx;
  /* Tuning; 0 for the default of 2^20: pod x step cells held at once. */
  size_t max_cells;
};

/*
 * Queries the series over the window, pivots them into one observation per
 * step (nodes with allocatable, instance type, zone, provider id and
 * labels; pods with namespace, node, owner, labels, annotations, requests,
 * cpu usage as a rate over the step and memory working set) and feeds each
 * step that has data to r with stv_report_add_step (hours = step / 3600).
 * r (borrowed) is initialised and not finished. When some steps of the
 * window had no data, a note says so and r is marked incomplete; r's
 * window_start and window_end are set to the window asked for.
 *
 * Returns 0 or a negative STV_ code with err saying what failed, e.g.
 *   "prometheus http://127.0.0.1:9/: cannot connect: Connection refused"
 *   "prometheus: query kube_pod_info: bad_data: ..."
 *   "prometheus: no data for kube_pod_container_resource_requests between
 *    2026-11-19T00:00Z and 2026-11-26T00:00Z"
 * Codes: STV_EINVAL for bad options; -ECONNREFUSED (or another -errno)
 * when the server cannot be reached; STV_ETIMEDOUT when it does not answer
 * in time; STV_EIO for HTTP and Prometheus errors (their words passed
 * through); STV_EPARSE for a malformed answer; STV_ENOTFOUND when the
 * window holds no data; STV_ELIMIT; STV_ENOMEM; or what the report engine
 * returned. Steps may have been fed before an error: the caller then
 * reports the error, not r.
 */
int stv_prom_collect(const struct stv_prom_opts *o, struct stv_report *r, struct stv_err *err);
/*
 * libcurl's global state is the program's: stv_prom_collect and
 * stv_prom_collect_steps do not initialise it. Call
 * curl_global_init(CURL_GLOBAL_DEFAULT) once from main, before any thread
 * starts, and curl_global_cleanup once at the end (controller/main.c does).
 */

/*
 * Parses "7d", "12h", "5m", "30s", "1w", "1y", a sequence such as "1h30m"
 * (largest unit first), or a bare number of seconds into *seconds (> 0).
 * s is borrowed. Returns 0, or STV_EINVAL (STV_ERANGE on overflow) with err
 * saying why: "invalid duration \"7x\": unknown unit \"x\" (use s, m, h, d,
 * w, y)".
 */
int stv_prom_parse_duration(const char *s, int64_t *seconds, struct stv_err *err);

/*
 * Called once per step that has data (a node or a pod), in time order; s
 * is borrowed for the call, with everything it points to. Return 0 to go
 * on, or a negative STV_ code (err filled) to stop the collection.
 */
typedef int (*stv_prom_step_cb)(void *ctx, const struct stv_cost_step *s, struct stv_err *err);

/* What a collection saw. */
struct stv_prom_stats {
  size_t requests;   /* HTTP requests made */
  size_t bytes;      /* answer bytes read */
  size_t series;     /* series received */
  size_t nonfinite;  /* samples skipped: NaN, +-Inf or negative */
  size_t chunks;     /* chunks of time the window was read in */
  size_t steps;      /* steps in the window */
  size_t data_steps; /* steps with data, handed to the callback */
  int64_t first_data, last_data; /* first and last step with data, or 0 */
  size_t max_pods;   /* most pods in one step */
  size_t max_cells;  /* most pod x step cells held at once */
  /* Samples of each series family (0 when Prometheus had none). */
  size_t req_samples, cpu_samples, mem_samples, alloc_samples;
};

/*
 * The collector under stv_prom_collect: runs the queries chunk by chunk and
 * calls cb for each step with data. Notes go to o->note (when set). stats
 * (may be NULL) is filled, also on error. Returns as stv_prom_collect;
 * STV_ENOTFOUND when no step had data, or when the window has pods but no
 * requests or no node allocatable at all.
 */
int stv_prom_collect_steps(const struct stv_prom_opts *o, stv_prom_step_cb cb, void *ctx,
                           struct stv_prom_stats *stats, struct stv_err *err);

/* ---------------------------------------------------------------------- */
/* Parsing one answer                                                     */

struct stv_prom_label {
  const char *name, *value;
};

/*
 * One series of an answer: a vector has one sample, a matrix any number, a
 * label set of /api/v1/series none.
 */
struct stv_prom_series {
  const struct stv_prom_label *labels; /* the "metric" object, in order */
  size_t nlabels;
  const int64_t *t_ms; /* sample times, unix milliseconds */
  const double *v;     /* sample values; NaN and +-Inf as parsed */
  size_t n;
};

/*
 * Called once per series, in answer order; s is borrowed for the call.
 * Return 0 to go on or a negative STV_ code (err filled) to stop.
 */
typedef int (*stv_prom_series_cb)(void *ctx, const struct stv_prom_series *s,
                                  struct stv_err *err);

/*
 * What an answer holds: query_range gives a matrix, query a vector (or
 * another result type, refused here), /api/v1/series a list of label sets
 * (handed over as series without samples), /api/v1/label/<name>/values a
 * list of names (each handed over as a series whose one label is
 * __name__).
 */
enum stv_prom_result_type { STV_PROM_MATRIX, STV_PROM_VECTOR, STV_PROM_SERIES, STV_PROM_VALUES };

struct stv_prom_parser;

/*
 * Creates a parser for one answer. cb (may be NULL) and ctx are borrowed.
 * Returns 0 or STV_ENOMEM. Free it with stv_prom_parser_free.
 */
int stv_prom_parser_new(struct stv_prom_parser **out, enum stv_prom_result_type want,
                        stv_prom_series_cb cb, void *ctx);
void stv_prom_parser_free(struct stv_prom_parser *p);

/*
 * Feeds the next len bytes of the answer (borrowed; any split). Each
 * element of data.result (of data, for series) is parsed as soon as it is
 * complete and handed to the callback: with cJSON, except the samples of a
 * series laid out as Prometheus writes it, read by hand to the same bits. Returns 0, the callback's code, STV_EPARSE
 * (malformed: "malformed answer: data.result[3]: ..."), STV_ELIMIT (one
 * series, or the rest of the answer, over 64 MiB) or STV_ENOMEM.
 */
int stv_prom_parser_feed(struct stv_prom_parser *p, const char *buf, size_t len,
                         struct stv_err *err);

/*
 * Ends the answer, given the HTTP status it came with (0 when unknown).
 * Returns 0 for {"status":"success"} with the wanted result type (a list
 * for series);
 * STV_EIO for {"status":"error"} with err "<errorType>: <error>" (the
 * Prometheus words, passed through; STV_ETIMEDOUT for errorType
 * "timeout"), or for an HTTP error status without a Prometheus answer
 * ("HTTP 502: <start of the body>"); STV_EPARSE for a malformed or
 * truncated answer or another result type; STV_ENOMEM.
 */
int stv_prom_parser_finish(struct stv_prom_parser *p, long http_status, struct stv_err *err);

/* Warnings the answer carried ("warnings" and "infos"), valid until free. */
size_t stv_prom_parser_nwarnings(const struct stv_prom_parser *p);
const char *stv_prom_parser_warning(const struct stv_prom_parser *p, size_t i);
/* Series delivered so far. */
size_t stv_prom_parser_nseries(const struct stv_prom_parser *p);

/*
 * Parses a sample value as Prometheus writes it: a decimal or exponent
 * number, "NaN", "+Inf", "-Inf" (also "Inf"). Returns 0 or STV_EPARSE.
 */
int stv_prom_parse_value(const char *s, double *v);

#endif
