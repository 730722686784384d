/*
 * Tests for the Prometheus answer parser and the small parsers of
 * controller/prom/prom.h, over answers recorded from Prometheus 2.42 under
 * tests/data/prom/ (see its README). Every document is fed in chunks of 1,
 * 2, 3, 7 and 64 bytes and whole, and each run must agree. The push mode
 * of the streaming scanner (io/jsonstream.h), which the parser is built on,
 * is tested here too: items at a path, members, the raw hook, errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STV_TEST_CURL 1 /* harness.h: libcurl set up once by main */
#include "harness.h"
#include "jsonstream.h"
#include "prom.h"

#define DATA STV_SOURCE_ROOT "/tests/data/prom/"

static const size_t chunks[] = {1, 2, 3, 7, 64, 0};
#define NCHUNKS (sizeof(chunks) / sizeof(chunks[0]))

/* Reads a data file into a new NUL-terminated buffer; NULL on failure. */
static char *slurp(const char *name, size_t *len) {
  char path[512];
  FILE *f;
  char *buf;
  long n;
  snprintf(path, sizeof(path), DATA "%s", name);
  if ((f = fopen(path, "rb")) == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf != NULL) {
    buf[n] = '\0';
    *len = (size_t)n;
  }
  return buf;
}

/* What the callback saw: a digest of every series, and some counts. */
struct rec {
  size_t nseries, nsamples;
  char text[8192]; /* "{k=v,...} t:v t:v|" per series, truncated */
  size_t stop_at;  /* return stop_code at this series (1-based), or 0 */
  int stop_code;
  double first_v[8];
  int64_t first_t[8];
};

static int record(void *ctx, const struct stv_prom_series *s, struct stv_err *err) {
  struct rec *r = ctx;
  size_t i, used = strlen(r->text);
  if (r->nseries < 8 && s->n > 0) {
    r->first_v[r->nseries] = s->v[0];
    r->first_t[r->nseries] = s->t_ms[0];
  }
  r->nseries++;
  r->nsamples += s->n;
  used += (size_t)snprintf(r->text + used, used < sizeof(r->text) ? sizeof(r->text) - used : 0, "{");
  for (i = 0; i < s->nlabels && used < sizeof(r->text); i++)
    used += (size_t)snprintf(r->text + used, sizeof(r->text) - used, "%s%s=%s", i ? "," : "",
                             s->labels[i].name, s->labels[i].value);
  for (i = 0; i < s->n && used < sizeof(r->text); i++)
    used += (size_t)snprintf(r->text + used, sizeof(r->text) - used, "%s%lld:%g", i ? " " : "} ",
                             (long long)s->t_ms[i], s->v[i]);
  if (used < sizeof(r->text)) snprintf(r->text + used, sizeof(r->text) - used, "|");
  if (r->stop_at != 0 && r->nseries == r->stop_at) {
    stv_err_set(err, r->stop_code, "stopped at series %zu", r->nseries);
    return r->stop_code;
  }
  return 0;
}

/*
 * Parses doc[0..len) fed in pieces of chunk bytes (0: whole) as an answer
 * with HTTP status; fills rec, err and *nwarn. Returns the first error.
 */
static int parse_doc(const char *doc, size_t len, size_t chunk, long status,
                     enum stv_prom_result_type want, struct rec *rec, struct stv_err *err,
                     size_t *nwarn, char *warn0, size_t warn0_size) {
  struct stv_prom_parser *p = NULL;
  size_t off = 0;
  int rc = stv_prom_parser_new(&p, want, record, rec);
  if (rc != 0) return rc;
  err->code = 0;
  err->msg[0] = '\0';
  while (rc == 0 && off < len) {
    size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;
    rc = stv_prom_parser_feed(p, doc + off, n, err);
    off += n;
  }
  if (rc == 0) rc = stv_prom_parser_finish(p, status, err);
  if (nwarn != NULL) *nwarn = stv_prom_parser_nwarnings(p);
  if (warn0 != NULL && stv_prom_parser_nwarnings(p) > 0)
    snprintf(warn0, warn0_size, "%s", stv_prom_parser_warning(p, 0));
  stv_prom_parser_free(p);
  return rc;
}

/*
 * Parses doc in every chunking; each run must return the same code, message
 * and digest, which are left in *rec and *err. Returns the code, or 12345
 * when the runs disagree.
 */
static int parse_all(const char *doc, size_t len, long status, enum stv_prom_result_type want,
                     struct rec *rec, struct stv_err *err) {
  size_t i;
  int first = 0;
  struct rec r0;
  struct stv_err e0;
  memset(&r0, 0, sizeof(r0));
  memset(&e0, 0, sizeof(e0));
  for (i = 0; i < NCHUNKS; i++) {
    struct rec r;
    struct stv_err e;
    int rc;
    memset(&r, 0, sizeof(r));
    r.stop_at = rec->stop_at;
    r.stop_code = rec->stop_code;
    rc = parse_doc(doc, len, chunks[i], status, want, &r, &e, NULL, NULL, 0);
    if (i == 0) {
      first = rc;
      r0 = r;
      e0 = e;
    } else if (rc != first || strcmp(r.text, r0.text) != 0 || (rc != 0 && strcmp(e.msg, e0.msg) != 0)) {
      fprintf(stderr, "  chunk %zu disagrees: rc %d vs %d, \"%s\" vs \"%s\"\n", chunks[i], rc, first,
              rc ? e.msg : r.text, first ? e0.msg : r0.text);
      return 12345;
    }
  }
  *rec = r0;
  *err = e0;
  return first;
}

static int parse_file(const char *name, long status, enum stv_prom_result_type want, struct rec *rec,
                      struct stv_err *err) {
  size_t len;
  char *doc = slurp(name, &len);
  int rc;
  if (doc == NULL) {
    fprintf(stderr, "  cannot read %s\n", name);
    return 54321;
  }
  rc = parse_all(doc, len, status, want, rec, err);
  free(doc);
  return rc;
}

static int parse_str(const char *doc, long status, enum stv_prom_result_type want, struct rec *rec,
                     struct stv_err *err) {
  return parse_all(doc, strlen(doc), status, want, rec, err);
}

/* ---------------------------------------------------------------------- */
/* Success                                                                */

TEST(should_deliver_every_series_of_a_matrix_with_its_labels_and_samples) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("matrix.json", 200, STV_PROM_MATRIX, &r, &err), 0);
  CHECK_EQ_INT(r.nseries, 6); /* three web pods x cpu, memory */
  CHECK_EQ_INT(r.nsamples, 6 * 7);
  CHECK_STR_CONTAINS(r.text, "{namespace=shop,node=node-a,pod=web-6d4cf56db6-2xk9p,resource=cpu} "
                             "1736208000000:0.6 1736208300000:0.6");
  CHECK_STR_CONTAINS(r.text, "resource=memory} 1736208000000:6.71089e+08");
  CHECK(r.first_t[0] == 1736208000000LL);
  CHECK(r.first_v[0] == 0.6);
  CHECK(r.first_v[1] == 671088640.0); /* 512Mi + 128Mi, exactly */
}

TEST(should_deliver_one_sample_per_series_of_a_vector) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("vector.json", 200, STV_PROM_VECTOR, &r, &err), 0);
  CHECK_EQ_INT(r.nseries, 6); /* node-a, node-b x cpu, memory, pods (node-c comes later) */
  CHECK_EQ_INT(r.nsamples, 6);
  CHECK_STR_CONTAINS(r.text, "{node=node-a,resource=cpu} 1736208000000:3.92|");
  CHECK(r.first_v[1] == 14849933312.0);
}

TEST(should_deliver_each_label_set_of_a_series_answer) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("series.json", 200, STV_PROM_SERIES, &r, &err), 0);
  CHECK_EQ_INT(r.nseries, 3);
  CHECK_EQ_INT(r.nsamples, 0);
  CHECK_STR_CONTAINS(r.text, "{__name__=kube_pod_owner,instance=10.0.0.5:8080,job=kube-state-metrics,"
                             "namespace=analytics,owner_is_controller=true,owner_kind=StatefulSet,"
                             "owner_name=etl,pod=etl-0,");
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("matrix.json", 200, STV_PROM_SERIES, &r, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "malformed answer: data is not a list of series");
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_str("{\"status\":\"success\",\"data\":[{\"a\":\"1\"},{\"b\":2}]}", 200, STV_PROM_SERIES,
                         &r, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "malformed answer: data[1].b: not a string");
}

TEST(should_read_the_names_of_a_label_values_answer) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("label_values.json", 200, STV_PROM_VALUES, &r, &err), 0);
  CHECK_EQ_INT(r.nseries, 10);
  CHECK_STR_CONTAINS(r.text, "{__name__=container_cpu_usage_seconds_total|{__name__=container_memory_");
  CHECK_STR_CONTAINS(r.text, "{__name__=kube_pod_status_phase|");
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_str("{\"status\":\"success\",\"data\":[\"a\",1]}", 200, STV_PROM_VALUES, &r, &err),
               STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "malformed answer: data[1]: not a string");
  CHECK_EQ_INT(parse_file("vector.json", 200, STV_PROM_VALUES, &r, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "malformed answer: data is not a list of names");
}

TEST(should_accept_an_empty_result) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("empty.json", 200, STV_PROM_MATRIX, &r, &err), 0);
  CHECK_EQ_INT(r.nseries, 0);
}

TEST(should_parse_nan_and_infinities_in_sample_strings) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("nan_inf.json", 200, STV_PROM_MATRIX, &r, &err), 0);
  CHECK_EQ_INT(r.nseries, 4);
  CHECK(isinf(r.first_v[0]) && r.first_v[0] > 0); /* "+Inf" */
  CHECK(isnan(r.first_v[1]));                      /* "NaN" */
  CHECK(isinf(r.first_v[2]) && r.first_v[2] < 0); /* "-Inf" */
  CHECK(r.first_v[3] == 1.5e-7);                   /* "1.5e-07" */
}

TEST(should_keep_the_warnings_of_an_answer) {
  size_t len, n = 0;
  char *doc = slurp("warnings.json", &len), w0[256] = "";
  struct rec r;
  struct stv_err err;
  CHECK(doc != NULL);
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_doc(doc, len, 5, 200, STV_PROM_MATRIX, &r, &err, &n, w0, sizeof(w0)), 0);
  free(doc);
  CHECK_EQ_INT(r.nseries, 1);
  CHECK_EQ_INT(n, 2);
  CHECK_STR_CONTAINS(w0, "remote read: partial response from store eu-1");
}

TEST(should_follow_labels_holding_brackets_quotes_and_escapes) {
  static const char doc[] =
      "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[ \n"
      "{\"metric\":{\"a\":\"}]\\\"{[\",\"b\":\"\\\\\",\"c\":\"\\u00e9t\\u00e9\"},\"value\":[1.5,\"2\"]} ,\n"
      "{\"metric\":{},\"value\":[1736208000.123,\"-0\"]},\n"
      "{\"metric\":{\"d\":\"x\\n\\\"]}\\t\"},\"value\":[2,\"3\"]}\n"
      "]}}";
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_str(doc, 200, STV_PROM_VECTOR, &r, &err), 0);
  CHECK_EQ_INT(r.nseries, 3);
  CHECK_STR_CONTAINS(r.text, "{a=}]\"{[,b=\\,c=\xc3\xa9t\xc3\xa9} 1500:2|");
  CHECK_STR_CONTAINS(r.text, "{d=x\n\"]}\t} 2000:3|");
  CHECK(r.first_t[1] == 1736208000123LL);
}

TEST(should_read_series_laid_out_in_ways_the_scanner_does_not_follow) {
  /* "data" spelt with an escape: the series come from the whole document. */
  static const char doc[] =
      "{\"status\":\"success\",\"d\\u0061ta\":{\"resultType\":\"matrix\",\"result\":"
      "[{\"metric\":{\"x\":\"1\"},\"values\":[[10,\"1\"],[20,\"2\"]]}]}}";
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_str(doc, 200, STV_PROM_MATRIX, &r, &err), 0);
  CHECK_EQ_INT(r.nseries, 1);
  CHECK_EQ_INT(r.nsamples, 2);
}

/* Keeps every sample of every series, for exact comparisons. */
struct samples {
  size_t n;
  int64_t t[4096];
  double v[4096];
};

static int keep_samples(void *ctx, const struct stv_prom_series *s, struct stv_err *err) {
  struct samples *k = ctx;
  size_t i;
  (void)err;
  for (i = 0; i < s->n && k->n < 4096; i++, k->n++) {
    k->t[k->n] = s->t_ms[i];
    k->v[k->n] = s->v[i];
  }
  return 0;
}

static int parse_samples(const char *doc, struct samples *k) {
  struct stv_prom_parser *p = NULL;
  struct stv_err err;
  int rc = stv_prom_parser_new(&p, STV_PROM_MATRIX, keep_samples, k);
  if (rc == 0) rc = stv_prom_parser_feed(p, doc, strlen(doc), &err);
  if (rc == 0) rc = stv_prom_parser_finish(p, 200, &err);
  if (rc != 0) fprintf(stderr, "  rc %d: %s\n", rc, err.msg);
  stv_prom_parser_free(p);
  return rc;
}

TEST(should_read_samples_exactly_as_strtod_does_on_the_fast_path_and_off_it) {
  /* The same samples as Prometheus lays them out (read by hand) and with a
   * space after each comma (read by cJSON and strtod): equal to the bit. */
  static char fast[200000], slow[220000];
  static struct samples a, b;
  unsigned seed = 12345;
  size_t nf = 0, ns = 0, i;
  nf += (size_t)sprintf(fast + nf, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":"
                                   "[{\"metric\":{\"s\":\"1\"},\"values\":[");
  ns += (size_t)sprintf(slow + ns, "%s", fast);
  for (i = 0; i < 3000; i++) {
    char v[64], t[32];
    unsigned r;
    seed = seed * 1103515245u + 12345u;
    r = seed >> 8;
    switch (i % 9) {
    case 0: snprintf(v, sizeof(v), "%u", r); break;
    case 1: snprintf(v, sizeof(v), "%.17g", (double)r / 7919.0); break;
    case 2: snprintf(v, sizeof(v), "%.15g", (double)r / 1e9); break;
    case 3: snprintf(v, sizeof(v), "-%.6f", (double)r / 3.0); break;
    case 4: snprintf(v, sizeof(v), "%ue-%u", r % 1000, r % 30); break;
    case 5: snprintf(v, sizeof(v), "%s", r % 3 == 0 ? "NaN" : r % 3 == 1 ? "+Inf" : "-Inf"); break;
    case 6: snprintf(v, sizeof(v), "%u%u%u", r, r, r % 1000); break; /* 19 to 21 digits */
    case 7: snprintf(v, sizeof(v), "0.%06u%09u", r % 1000000, r); break;
    default: snprintf(v, sizeof(v), "%.3f", (double)r / 1000.0); break;
    }
    snprintf(t, sizeof(t), i % 4 == 0 ? "%u.%u" : "%u", 1736208000u + (unsigned)i * 300u, r % 1000u);
    nf += (size_t)sprintf(fast + nf, "%s[%s,\"%s\"]", i ? "," : "", t, v);
    ns += (size_t)sprintf(slow + ns, "%s[%s, \"%s\"]", i ? ", " : "", t, v);
  }
  sprintf(fast + nf, "]}]}}");
  sprintf(slow + ns, "]}]}}");
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  CHECK_EQ_INT(parse_samples(fast, &a), 0);
  CHECK_EQ_INT(parse_samples(slow, &b), 0);
  CHECK_EQ_INT(a.n, 3000);
  CHECK_EQ_INT(b.n, 3000);
  for (i = 0; i < a.n; i++) {
    if (a.t[i] != b.t[i] || memcmp(&a.v[i], &b.v[i], sizeof(double)) != 0) {
      fprintf(stderr, "  sample %zu: %lld %.17g vs %lld %.17g\n", i, (long long)a.t[i], a.v[i],
              (long long)b.t[i], b.v[i]);
      CHECK(0);
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Prometheus and HTTP errors                                             */

TEST(should_pass_the_error_type_and_message_of_a_bad_query_through) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("error_bad_data.json", 400, STV_PROM_MATRIX, &r, &err), STV_EIO);
  CHECK_STR_CONTAINS(err.msg, "bad_data: 1:19: parse error: unexpected \"(\" in grouping opts");
  CHECK(strncmp(err.msg, "bad_data: ", 10) == 0);
}

TEST(should_pass_execution_errors_through) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("error_execution.json", 422, STV_PROM_VECTOR, &r, &err), STV_EIO);
  CHECK_STR_CONTAINS(err.msg, "execution: found duplicate series for the match group");
}

TEST(should_pass_the_resolution_limit_through) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("error_too_many_points.json", 400, STV_PROM_MATRIX, &r, &err), STV_EIO);
  CHECK_STR_CONTAINS(err.msg, "bad_data: exceeded maximum resolution of 11,000 points per timeseries");
}

TEST(should_report_a_prometheus_timeout_as_timed_out) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("error_timeout.json", 503, STV_PROM_MATRIX, &r, &err), STV_ETIMEDOUT);
  CHECK_STR_CONTAINS(err.msg, "timeout: query timed out in expression evaluation");
}

TEST(should_quote_the_start_of_an_error_page_that_is_not_prometheus) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("bad_gateway.html", 502, STV_PROM_MATRIX, &r, &err), STV_EIO);
  CHECK_STR_CONTAINS(err.msg, "HTTP 502: <html> <head><title>502 Bad Gateway</title></head> <body>");
}

TEST(should_say_that_a_404_means_the_url_is_not_the_api) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("not_found.txt", 404, STV_PROM_MATRIX, &r, &err), STV_EIO);
  CHECK_STR_CONTAINS(err.msg, "HTTP 404 (no Prometheus API at this URL; give the server's base URL): 404 page "
                              "not found");
}

TEST(should_ask_for_a_token_on_401) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_str("Unauthorized\n", 401, STV_PROM_MATRIX, &r, &err), STV_EIO);
  CHECK_STR_CONTAINS(err.msg, "HTTP 401 (unauthorized; is a bearer token needed?): Unauthorized");
  CHECK_EQ_INT(parse_str("", 503, STV_PROM_MATRIX, &r, &err), STV_EIO);
  CHECK_STR_CONTAINS(err.msg, "HTTP 503 with an empty body");
}

/* ---------------------------------------------------------------------- */
/* Malformed answers                                                      */

TEST(should_reject_every_truncation_of_an_answer) {
  size_t len, cut;
  char *doc = slurp("matrix.json", &len);
  CHECK(doc != NULL);
  for (cut = 0; cut < len; cut++) {
    struct rec r;
    struct stv_err err;
    int rc;
    memset(&r, 0, sizeof(r));
    rc = parse_doc(doc, cut, 3, 200, STV_PROM_MATRIX, &r, &err, NULL, NULL, 0);
    if (rc != STV_EPARSE) {
      fprintf(stderr, "  cut at %zu: rc %d (%s)\n", cut, rc, err.msg);
      free(doc);
      CHECK(0);
    }
  }
  free(doc);
}

TEST(should_reject_malformed_series_naming_where) {
  static const struct {
    const char *doc, *msg;
  } cases[] = {
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
       "\"values\":[[1,\"abc\"]]}]}}",
       "malformed answer: data.result[0].values[0]: invalid sample value \"abc\""},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
       "\"values\":[[1,2]]}]}}",
       "data.result[0].values[0]: value is not a string"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
       "\"values\":[[1,\"1\"],[2]]}]}}",
       "data.result[0].values[1]: not a [time, \"value\"] pair"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
       "\"values\":[[\"1\",\"1\"]]}]}}",
       "data.result[0].values[0]: time is not a number"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":[],"
       "\"values\":[]}]}}",
       "data.result[0].metric: not an object"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"a\":1},"
       "\"values\":[]}]}}",
       "data.result[0].metric.a: not a string"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{}},"
       "{\"metric\":{} \"values\":[]}]}}",
       "malformed answer: data.result[1]: malformed JSON at line 1, column 88: expected ',' or '}'"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{}},]}}",
       "malformed answer: data.result[1]: malformed JSON at line 1, column 75: expected a value"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{}}{}]}}",
       "malformed answer: malformed JSON at line 1, column 74: expected ',' or ']'"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[1]}}",
       "malformed answer: data.result[0]: not an object"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]},}",
       "malformed answer: malformed JSON at line 1, column 64: expected '\"'"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}} x",
       "malformed answer: trailing garbage after the document at line 1, column 65"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{}}]}} x",
       "malformed answer: trailing garbage after the document at line 1, column 78"},
      {"[]", "malformed answer: not a JSON object"},
      {"{\"data\":{}}", "not a Prometheus API answer (no \"status\")"},
      {"{\"status\":\"success\",\"data\":{}}", "malformed answer: no data.resultType and data.result"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"1\"]}}",
       "unexpected result type \"scalar\" (wanted matrix)"},
      {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},"
       "\"value\":[1,\"1\"]}]}}",
       "data.result[0]: a vector sample where a matrix was expected"},
      {"", "empty answer"},
      {"<html>\n<body>hello</body>", "not a Prometheus API answer (not JSON): <html> <body>hello</body>"},
  };
  size_t i;
  int nfail = 0;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct rec r;
    struct stv_err err;
    int rc;
    memset(&r, 0, sizeof(r));
    rc = parse_str(cases[i].doc, 200, STV_PROM_MATRIX, &r, &err);
    if (rc != STV_EPARSE || strstr(err.msg, cases[i].msg) == NULL) {
      fprintf(stderr, "  case %zu: rc %d, \"%s\"; expected \"%s\"\n", i, rc, err.msg, cases[i].msg);
      nfail++;
    }
  }
  CHECK_EQ_INT(nfail, 0);
}

TEST(should_reject_a_matrix_where_a_vector_was_expected) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  CHECK_EQ_INT(parse_file("matrix.json", 200, STV_PROM_VECTOR, &r, &err), STV_EPARSE);
  CHECK_STR_CONTAINS(err.msg, "data.result[0]: a matrix where a vector was expected");
}

/* ---------------------------------------------------------------------- */
/* Callbacks and allocation                                               */

TEST(should_stop_with_the_callbacks_error) {
  struct rec r;
  struct stv_err err;
  memset(&r, 0, sizeof(r));
  r.stop_at = 2;
  r.stop_code = STV_ECONFLICT;
  CHECK_EQ_INT(parse_file("matrix.json", 200, STV_PROM_MATRIX, &r, &err), STV_ECONFLICT);
  CHECK_EQ_INT(r.nseries, 2);
  CHECK_STR_CONTAINS(err.msg, "stopped at series 2");
}

TEST(should_fail_cleanly_when_any_allocation_fails) {
  size_t len;
  char *doc = slurp("warnings.json", &len), *doc2 = slurp("matrix.json", &len);
  long n;
  CHECK(doc != NULL && doc2 != NULL);
  for (n = 0; n < 400; n++) {
    const char *d = n % 2 ? doc : doc2;
    struct rec r;
    struct stv_err err;
    int rc;
    memset(&r, 0, sizeof(r));
    stv_alloc_fail_after(n / 2);
    rc = parse_doc(d, strlen(d), 16, 200, STV_PROM_MATRIX, &r, &err, NULL, NULL, 0);
    stv_alloc_fail_after(-1);
    if (rc != 0 && rc != STV_ENOMEM) {
      fprintf(stderr, "  failing allocation %ld: rc %d (%s)\n", n / 2, rc, err.msg);
      free(doc);
      free(doc2);
      CHECK(0);
    }
  }
  free(doc);
  free(doc2);
}

/* ---------------------------------------------------------------------- */
/* Values and durations                                                   */

TEST(should_parse_sample_values_as_prometheus_writes_them) {
  double v;
  CHECK_EQ_INT(stv_prom_parse_value("0.25", &v), 0);
  CHECK(v == 0.25);
  CHECK_EQ_INT(stv_prom_parse_value("-2.5e3", &v), 0);
  CHECK(v == -2500);
  CHECK_EQ_INT(stv_prom_parse_value("14849933312", &v), 0);
  CHECK(v == 14849933312.0);
  CHECK_EQ_INT(stv_prom_parse_value("NaN", &v), 0);
  CHECK(isnan(v));
  CHECK_EQ_INT(stv_prom_parse_value("+Inf", &v), 0);
  CHECK(isinf(v) && v > 0);
  CHECK_EQ_INT(stv_prom_parse_value("Inf", &v), 0);
  CHECK(isinf(v) && v > 0);
  CHECK_EQ_INT(stv_prom_parse_value("-Inf", &v), 0);
  CHECK(isinf(v) && v < 0);
  CHECK_EQ_INT(stv_prom_parse_value("", &v), STV_EPARSE);
  CHECK_EQ_INT(stv_prom_parse_value("abc", &v), STV_EPARSE);
  CHECK_EQ_INT(stv_prom_parse_value(" 1", &v), STV_EPARSE);
  CHECK_EQ_INT(stv_prom_parse_value("0x10", &v), STV_EPARSE);
  CHECK_EQ_INT(stv_prom_parse_value("1.5.5", &v), STV_EPARSE);
  CHECK_EQ_INT(stv_prom_parse_value("nan", &v), STV_EPARSE);
}

TEST(should_parse_durations) {
  static const struct {
    const char *s;
    int64_t secs;
  } ok[] = {{"7d", 604800}, {"12h", 43200}, {"5m", 300},     {"30s", 30},
            {"1w", 604800}, {"1y", 31536000}, {"1h30m", 5400}, {"300", 300},
            {"1d12h", 129600}, {"90m", 5400}, {"1.5h", 5400}, {"2000ms", 2}};
  size_t i;
  for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    int64_t v = 0;
    struct stv_err err;
    int rc = stv_prom_parse_duration(ok[i].s, &v, &err);
    if (rc != 0 || v != ok[i].secs) {
      fprintf(stderr, "  \"%s\": rc %d, %lld\n", ok[i].s, rc, (long long)v);
      CHECK(0);
    }
  }
}

TEST(should_reject_bad_durations_saying_why) {
  static const struct {
    const char *s;
    int code;
    const char *msg;
  } bad[] = {
      {"7x", STV_EINVAL, "invalid duration \"7x\": unknown unit \"x\" (use ms, s, m, h, d, w, y)"},
      {"", STV_EINVAL, "empty duration"},
      {"0s", STV_EINVAL, "must be positive"},
      {"0", STV_EINVAL, "must be positive"},
      {"m", STV_EINVAL, "expected a number before \"m\""},
      {"1m1h", STV_EINVAL, "units must go from largest to smallest"},
      {"1h1h", STV_EINVAL, "units must go from largest to smallest"},
      {"5ms", STV_EINVAL, "invalid duration \"5ms\": Prometheus counts whole seconds"},
      {"1m500ms", STV_EINVAL, "Prometheus counts whole seconds"},
      {"-5m", STV_EINVAL, "invalid duration \"-5m\": must be positive"},
      {"1.5.5h", STV_EINVAL, "unknown unit \".\""},
      {"99999999999999999999d", STV_ERANGE, "is too long"},
      {"300000000000y", STV_ERANGE, "is too long"},
  };
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t v = -1;
    struct stv_err err;
    int rc = stv_prom_parse_duration(bad[i].s, &v, &err);
    if (rc != bad[i].code || strstr(err.msg, bad[i].msg) == NULL) {
      fprintf(stderr, "  \"%s\": rc %d, \"%s\"\n", bad[i].s, rc, err.msg);
      CHECK(0);
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Options                                                                */

TEST(should_refuse_bad_options_before_any_request) {
  static const struct {
    struct stv_prom_opts o;
    const char *msg;
  } cases[] = {
      {{.url = NULL, .start = 0, .end = 300, .step = 300}, "prometheus: no URL"},
      {{.url = "localhost:9090", .start = 0, .end = 300, .step = 300}, "must start with http:// or https://"},
      {{.url = "http://h:9090/?x=1", .start = 0, .end = 300, .step = 300}, "without a query"},
      {{.url = "http://h:9090", .start = 0, .end = 300, .step = 0}, "the step must be positive"},
      {{.url = "http://h:9090", .start = 300, .end = 300, .step = 300}, "the window is empty"},
      {{.url = "http://h:9090", .start = 0, .end = 400, .step = 300}, "not a whole number of steps"},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct stv_err err;
    struct stv_prom_stats st;
    int rc = stv_prom_collect_steps(&cases[i].o, NULL, NULL, &st, &err);
    if (rc != STV_EINVAL || strstr(err.msg, cases[i].msg) == NULL || st.requests != 0) {
      fprintf(stderr, "  case %zu: rc %d, \"%s\"\n", i, rc, err.msg);
      CHECK(0);
    }
  }
}

/* ---------------------------------------------------------------------- */
/* The push mode of the streaming scanner (io/jsonstream.h) under the parser */

/* What the push callbacks saw, as text: "m:<name>=<json>;" and "i<index>:<json>;". */
struct pushed {
  char text[2048];
  size_t len;
  int take_raw;  /* the raw hook takes items whose bytes start with this, if not 0 */
  int fail_item; /* the item callback fails at this index + 1, if not 0 */
};

static void pushed_add(struct pushed *w, const char *fmt, const char *a, const cJSON *v) {
  char *j = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
  int n = snprintf(w->text + w->len, sizeof(w->text) - w->len, fmt, a, j != NULL ? j : "");
  if (n > 0) w->len += (size_t)n < sizeof(w->text) - w->len ? (size_t)n : sizeof(w->text) - w->len - 1;
  cJSON_free(j);
}

static int push_member(void *ctx, const char *name, const cJSON *v, struct stv_err *err) {
  (void)err;
  pushed_add(ctx, "m:%s=%s;", name, v);
  return 0;
}

static int push_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct pushed *w = ctx;
  char idx[24];
  if (w->fail_item != 0 && index + 1 == w->fail_item) return stv_err_set(err, STV_EINVAL, "refused on purpose");
  snprintf(idx, sizeof(idx), "i%ld", index);
  pushed_add(w, "%s:%s;", idx, item);
  return 0;
}

static int push_raw(void *ctx, long index, const char *text, size_t len, struct stv_err *err) {
  struct pushed *w = ctx;
  char idx[24];
  (void)err;
  if (w->take_raw == 0 || len == 0 || text[0] != w->take_raw) return 0;
  snprintf(idx, sizeof(idx), "r%ld", index);
  pushed_add(w, "%s:%s;", idx, NULL);
  return 1;
}

/* Pushes doc in pieces of piece bytes (0: whole) at items; the result code, with w and err filled. */
static int push_doc(const char *doc, const char *items, size_t piece, struct pushed *w, struct stv_err *err,
                    int *seen) {
  struct stv_json_push_opts o = {0};
  struct stv_json_push *p = NULL;
  size_t len = strlen(doc), off = 0;
  int rc, take = w->take_raw, fail = w->fail_item;
  memset(w, 0, sizeof(*w));
  w->take_raw = take;
  w->fail_item = fail;
  o.name = "doc";
  o.items = items;
  o.any_items = 1;
  o.item = push_item;
  o.raw = push_raw;
  o.member = push_member;
  o.ctx = w;
  if ((rc = stv_json_push_new(&p, &o, err)) != 0) return rc;
  if (piece == 0) piece = len > 0 ? len : 1;
  for (rc = 0; rc == 0 && off < len; off += piece)
    rc = stv_json_push_feed(p, doc + off, len - off < piece ? len - off : piece, err);
  if (rc == 0) rc = stv_json_push_finish(p, err);
  if (seen != NULL) *seen = stv_json_push_seen_items(p);
  stv_json_push_free(p);
  return rc;
}

TEST(should_push_items_at_a_two_level_path_and_hand_over_the_other_members) {
  static const char doc[] = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
                            "[{\"a\":1}, \"s\", 2.5e1, [true,null], {\"b\":{\"c\":[]}}],\"x\":7},"
                            "\"warnings\":[\"w\"]}";
  static const char want[] = "m:status=\"success\";m:data.resultType=\"vector\";i0:{\"a\":1};i1:\"s\";i2:25;"
                             "i3:[true,null];i4:{\"b\":{\"c\":[]}};m:data.x=7;m:warnings=[\"w\"];";
  size_t c;
  for (c = 0; c < NCHUNKS; c++) {
    struct pushed w = {0};
    struct stv_err err = {0, ""};
    int seen = 0;
    CHECK_EQ_INT(push_doc(doc, "data.result", chunks[c], &w, &err, &seen), 0);
    if (strcmp(w.text, want) != 0) fprintf(stderr, "  piece %zu: %s\n", chunks[c], w.text);
    CHECK(strcmp(w.text, want) == 0);
    CHECK_EQ_INT(seen, 1);
  }
}

TEST(should_push_a_kubernetes_list_as_the_pull_mode_reads_it) {
  static const char doc[] = "\xEF\xBB\xBF{\"apiVersion\":\"v1\",\"items\":[{\"kind\":\"Pod\"},{\"kind\":\"Node\"}],"
                            "\"kind\":\"List\"}";
  struct pushed w = {0};
  struct stv_err err = {0, ""};
  CHECK_EQ_INT(push_doc(doc, NULL, 3, &w, &err, NULL), 0);
  CHECK(strcmp(w.text, "m:apiVersion=\"v1\";i0:{\"kind\":\"Pod\"};i1:{\"kind\":\"Node\"};m:kind=\"List\";") == 0);
}

TEST(should_let_the_raw_hook_take_items_and_leave_the_others_to_cjson) {
  struct pushed w = {0};
  struct stv_err err = {0, ""};
  w.take_raw = '{';
  CHECK_EQ_INT(push_doc("{\"data\":[{\"a\":1},\"b\",{\"c\":2}]}", "data", 2, &w, &err, NULL), 0);
  CHECK(strcmp(w.text, "r0:;i1:\"b\";r2:;") == 0);
}

TEST(should_hand_over_a_path_member_of_another_type_and_tell_whether_items_began) {
  struct pushed w = {0};
  struct stv_err err = {0, ""};
  int seen = 1;
  CHECK_EQ_INT(push_doc("{\"data\":[1,2],\"status\":\"error\"}", "data.result", 1, &w, &err, &seen), 0);
  CHECK(strcmp(w.text, "m:data=[1,2];m:status=\"error\";") == 0);
  CHECK_EQ_INT(seen, 0);
  CHECK_EQ_INT(push_doc("{\"data\":{\"result\":{}}}", "data.result", 0, &w, &err, &seen), 0);
  CHECK(strcmp(w.text, "m:data.result={};") == 0);
  CHECK_EQ_INT(seen, 0);
  CHECK_EQ_INT(push_doc("{\"data\":{\"result\":[]}}", "data.result", 0, &w, &err, &seen), 0);
  CHECK(strcmp(w.text, "") == 0);
  CHECK_EQ_INT(seen, 1);
}

TEST(should_name_the_item_path_in_push_errors_and_repeat_the_first_error) {
  static const struct {
    const char *doc, *msg;
    int code;
  } cases[] = {
      {"{\"data\":{\"result\":[{\"a\":1},{\"a\":}]}}", "doc: data.result[1]: malformed JSON at line 1, column 33: expected a value",
       STV_EPARSE},
      {"{\"data\":{\"result\":[{\"a\":1},", "doc: truncated after data.result[0]", STV_EPARSE},
      {"{\"data\":{\"result\":[1 2]}}", "doc: malformed JSON at line 1, column 22: expected ',' or ']'",
       STV_EPARSE},
      {"{\"data\":{\"result\":[1]}} {", "doc: trailing garbage after the document at line 1, column 25",
       STV_EPARSE},
      {"[1]", "doc: top level is not a JSON object", STV_EPARSE},
      {"", "doc: empty file", STV_EPARSE},
  };
  size_t i, c;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    for (c = 0; c < NCHUNKS; c++) {
      struct pushed w = {0};
      struct stv_err err = {0, ""};
      int rc = push_doc(cases[i].doc, "data.result", chunks[c], &w, &err, NULL);
      if (rc != cases[i].code || strstr(err.msg, cases[i].msg) == NULL)
        fprintf(stderr, "  case %zu, piece %zu: rc %d \"%s\"\n", i, chunks[c], rc, err.msg);
      CHECK_EQ_INT(rc, cases[i].code);
      CHECK_STR_CONTAINS(err.msg, cases[i].msg);
    }
}

TEST(should_stop_at_a_callback_error_and_return_it_on_every_later_call) {
  struct stv_json_push_opts o = {0};
  struct stv_json_push *p = NULL;
  struct pushed w = {0};
  struct stv_err err = {0, ""};
  static const char doc[] = "{\"items\":[{\"a\":1},{\"a\":2},{\"a\":3}]}";
  w.fail_item = 2;
  o.item = push_item;
  o.ctx = &w;
  CHECK_EQ_INT(stv_json_push_new(&p, &o, &err), 0);
  CHECK_EQ_INT(stv_json_push_feed(p, doc, sizeof(doc) - 1, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "<stream>: items[1] refused on purpose");
  CHECK(strcmp(w.text, "i0:{\"a\":1};") == 0);
  memset(&err, 0, sizeof(err));
  CHECK_EQ_INT(stv_json_push_feed(p, "}", 1, &err), STV_EINVAL);
  CHECK_STR_CONTAINS(err.msg, "refused on purpose");
  CHECK_EQ_INT(stv_json_push_finish(p, &err), STV_EINVAL);
  stv_json_push_free(p);
}

TEST(should_refuse_a_bad_items_path) {
  static const char *bad[] = {"", "a.b.c", ".a", "a.", "a..b"};
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct stv_json_push_opts o = {0};
    struct stv_json_push *p = (struct stv_json_push *)&o;
    struct stv_err err = {0, ""};
    o.items = bad[i];
    CHECK_EQ_INT(stv_json_push_new(&p, &o, &err), STV_EINVAL);
    CHECK(p == NULL);
    CHECK_STR_CONTAINS(err.msg, "items path");
  }
}
