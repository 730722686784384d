/*
 * The answer parser of the Prometheus client (prom.h): an answer is read
 * as it arrives by the push mode of the shared streaming scanner
 * (io/jsonstream.h), which cuts out every element of data.result (of
 * data, for /api/v1/series and label values) as it completes and hands
 * over the other members (status, errorType, error, warnings, infos,
 * data.resultType) parsed on their own. Memory is bounded by the largest
 * series or member, not by the answer. A series is parsed with cJSON,
 * except when it is laid out exactly as Prometheus writes it: its
 * samples are then read by hand, to the same bits, without cJSON's four
 * allocations per sample. This file owns the parser; the queries and the
 * pivot of what they return are in prom.c and prom_collect.c.
 */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonstream.h"

/* How much of an answer's start is kept to quote a non-Prometheus error. */
#define PROM_HEAD_MAX 200

struct stv_prom_parser {
  enum stv_prom_result_type want;
  stv_prom_series_cb cb;
  void *ctx;
  struct stv_json_push *js;

  char head[PROM_HEAD_MAX + 1];
  size_t head_len, total;

  /* A malformed answer, told at the end: it may be an HTTP error page. */
  int scan_rc;
  struct stv_err scan_err;
  /* An error of the series callbacks, returned as it is. */
  int cb_rc;
  struct stv_err cb_err;

  /* The members other than the series. */
  char *status, *error_type, *error, *result_type;
  int data_bad;  /* "data" or "data.result" is not of the expected type */
  int type_bad;  /* data.resultType is not the wanted one */
  int no_series; /* data.resultType is scalar or string: data.result is skipped */

  size_t nseries;
  /* scratch for the series handed to the callback */
  struct stv_prom_label *labels;
  size_t cap_labels;
  int64_t *t_ms;
  double *v;
  size_t cap_samples;

  char **warnings;
  size_t nwarnings;
};

size_t stv_prom_parser_nwarnings(const struct stv_prom_parser *p) {
  return p->nwarnings;
}

const char *stv_prom_parser_warning(const struct stv_prom_parser *p, size_t i) {
  return i < p->nwarnings ? p->warnings[i] : NULL;
}

size_t stv_prom_parser_nseries(const struct stv_prom_parser *p) {
  return p->nseries;
}

/* Reads one sample [t, "v"] into *t_ms and *v. */
static int read_sample(const cJSON *s, int64_t *t_ms, double *v, struct stv_err *err) {
  const cJSON *t, *x;
  double ts;
  if (!cJSON_IsArray(s) || (t = s->child) == NULL || (x = t->next) == NULL || x->next != NULL)
    return stv_err_set(err, STV_EPARSE, "not a [time, \"value\"] pair");
  if (!cJSON_IsNumber(t)) return stv_err_set(err, STV_EPARSE, "time is not a number");
  ts = t->valuedouble;
  if (!(ts > -1e13 && ts < 1e13)) return stv_err_set(err, STV_EPARSE, "time out of range");
  *t_ms = llround(ts * 1000.0);
  if (!cJSON_IsString(x)) return stv_err_set(err, STV_EPARSE, "value is not a string");
  if (stv_prom_parse_value(x->valuestring, v) != 0)
    return stv_err_set(err, STV_EPARSE, "invalid sample value \"%.40s\"", x->valuestring);
  return 0;
}

/* Makes room for n samples in the callback's scratch arrays. */
static int grow_samples(struct stv_prom_parser *p, size_t n) {
  size_t cap_t = p->cap_samples, cap_v = p->cap_samples;
  int rc;
  if (n <= p->cap_samples) return 0;
  if ((rc = stv_grow((void **)&p->t_ms, &cap_t, n, sizeof(int64_t))) != 0) return rc;
  if ((rc = stv_grow((void **)&p->v, &cap_v, n, sizeof(double))) != 0) return rc;
  p->cap_samples = cap_t < cap_v ? cap_t : cap_v;
  return 0;
}

/* Where the series are in the answer, for messages. */
static const char *rpath(const struct stv_prom_parser *p) {
  return p->want == STV_PROM_SERIES || p->want == STV_PROM_VALUES ? "data" : "data.result";
}

/* Points p->labels at the labels of metric (a cJSON object, or NULL). */
static int take_labels(struct stv_prom_parser *p, const cJSON *metric, long idx, size_t *nl,
                       struct stv_err *err) {
  const cJSON *l;
  size_t n = 0;
  int rc;
  if (metric != NULL && !cJSON_IsObject(metric))
    return stv_err_set(err, STV_EPARSE, "%s[%ld]%s: not an object", rpath(p), idx,
                       p->want == STV_PROM_SERIES ? "" : ".metric");
  cJSON_ArrayForEach(l, metric) n++;
  if ((rc = stv_grow((void **)&p->labels, &p->cap_labels, n + 1, sizeof(*p->labels))) != 0)
    return stv_err_set(err, rc, "out of memory");
  n = 0;
  cJSON_ArrayForEach(l, metric) {
    if (!cJSON_IsString(l))
      return stv_err_set(err, STV_EPARSE, "%s[%ld]%s.%s: not a string", rpath(p), idx,
                         p->want == STV_PROM_SERIES ? "" : ".metric", l->string);
    p->labels[n].name = l->string;
    p->labels[n].value = l->valuestring;
    n++;
  }
  *nl = n;
  return 0;
}

/* Hands the series in p's scratch arrays to the callback. */
static int hand_over(struct stv_prom_parser *p, size_t nl, size_t n, struct stv_err *err) {
  struct stv_prom_series ser;
  int rc;
  ser.labels = p->labels;
  ser.nlabels = nl;
  ser.t_ms = p->t_ms;
  ser.v = p->v;
  ser.n = n;
  p->nseries++;
  if (p->cb == NULL) return 0;
  rc = p->cb(p->ctx, &ser, err);
  if (rc > 0) rc = stv_err_set(err, STV_EINVAL, "series callback returned %d", rc);
  return rc;
}

/* Hands one element of data.result (a parsed series) to the callback. */
static int deliver(struct stv_prom_parser *p, long idx, const cJSON *el, struct stv_err *err) {
  const cJSON *metric, *s;
  size_t n = 0, nl = 0;
  int rc;

  if (p->want == STV_PROM_VALUES) { /* a name: the one label __name__ */
    if (!cJSON_IsString(el)) return stv_err_set(err, STV_EPARSE, "data[%ld]: not a string", idx);
    if ((rc = stv_grow((void **)&p->labels, &p->cap_labels, 1, sizeof(*p->labels))) != 0)
      return stv_err_set(err, rc, "out of memory");
    p->labels[0].name = "__name__";
    p->labels[0].value = el->valuestring;
    return hand_over(p, 1, 0, err);
  }
  if (!cJSON_IsObject(el)) return stv_err_set(err, STV_EPARSE, "%s[%ld]: not an object", rpath(p), idx);
  if (p->want == STV_PROM_SERIES) { /* a label set, without samples */
    if ((rc = take_labels(p, el, idx, &nl, err)) != 0) return rc;
    return hand_over(p, nl, 0, err);
  }
  metric = cJSON_GetObjectItemCaseSensitive(el, "metric");
  if ((rc = take_labels(p, metric, idx, &nl, err)) != 0) return rc;

  if (p->want == STV_PROM_MATRIX) {
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(el, "values");
    if (vals == NULL && cJSON_GetObjectItemCaseSensitive(el, "value") != NULL)
      return stv_err_set(err, STV_EPARSE,
                         "data.result[%ld]: a vector sample where a matrix was "
                         "expected",
                         idx);
    if (vals != NULL && !cJSON_IsArray(vals))
      return stv_err_set(err, STV_EPARSE, "data.result[%ld].values: not an array", idx);
    cJSON_ArrayForEach(s, vals) n++;
    if ((rc = grow_samples(p, n)) != 0) return stv_err_set(err, rc, "out of memory");
    n = 0;
    cJSON_ArrayForEach(s, vals) {
      if (read_sample(s, &p->t_ms[n], &p->v[n], err) != 0)
        return stv_err_prefix(err, "data.result[%ld].values[%zu]", idx, n);
      n++;
    }
  } else {
    s = cJSON_GetObjectItemCaseSensitive(el, "value");
    if (s == NULL && cJSON_GetObjectItemCaseSensitive(el, "values") != NULL)
      return stv_err_set(err, STV_EPARSE, "data.result[%ld]: a matrix where a vector was expected", idx);
    if ((rc = grow_samples(p, 1)) != 0) return stv_err_set(err, rc, "out of memory");
    if (s != NULL) {
      if (read_sample(s, &p->t_ms[0], &p->v[0], err) != 0)
        return stv_err_prefix(err, "data.result[%ld].value", idx);
      n = 1;
    }
  }
  return hand_over(p, nl, n, err);
}
/* Powers of ten that doubles hold exactly. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/*
 * Parses the sample value s[0..n) (the text between its quotes). A plain
 * decimal of at most 15 digits is m / 10^d with both exact, which IEEE
 * division rounds correctly, so the result is strtod's; anything else goes
 * through stv_prom_parse_value. Returns 0 or STV_EPARSE.
 */
static int fast_value(const char *s, size_t n, double *v) {
  const char *e = s + n, *q = s;
  uint64_t m = 0;
  unsigned digits = 0, frac = 0;
  int neg = 0, dot = 0;
  char buf[64];
  if (q < e && *q == '-') {
    neg = 1;
    q++;
  }
  for (; q < e; q++) {
    if (*q >= '0' && *q <= '9') {
      m = m * 10 + (uint64_t)(*q - '0');
      digits++;
      frac += (unsigned)dot;
    } else if (*q == '.' && !dot) {
      dot = 1;
    } else {
      break;
    }
  }
  if (q == e && digits > 0 && digits <= 15 && frac <= 22 && !(dot && frac == 0)) {
    *v = (double)m / pow10_exact[frac];
    if (neg) *v = -*v;
    return 0;
  }
  if (n >= sizeof(buf)) return STV_EPARSE;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return stv_prom_parse_value(buf, v);
}

/* Parses a sample time at *q (seconds, up to three decimals) into *t_ms. */
static int fast_time(const char **q, const char *e, int64_t *t_ms) {
  const char *x = *q;
  int64_t sec = 0, ms = 0;
  unsigned digits = 0;
  while (x < e && *x >= '0' && *x <= '9' && digits < 12) sec = sec * 10 + (*x++ - '0'), digits++;
  if (digits == 0) return -1;
  if (x < e && *x == '.') {
    unsigned frac = 0;
    x++;
    while (x < e && *x >= '0' && *x <= '9' && frac < 3) ms = ms * 10 + (*x++ - '0'), frac++;
    if (frac == 0) return -1;
    while (frac < 3) ms *= 10, frac++;
  }
  if (x < e && ((*x >= '0' && *x <= '9') || *x == '.' || *x == 'e' || *x == 'E')) return -1;
  *t_ms = sec * 1000 + ms;
  *q = x;
  return 0;
}

static int eat(const char **q, const char *e, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(e - *q) < n || memcmp(*q, lit, n) != 0) return 0;
  *q += n;
  return 1;
}

/*
 * The fast path for a series laid out as Prometheus writes it, without white
 * space: {"metric":{...},"values":[[1736294700,"0.25"],...]} (or "value":
 * [t,"v"] in a vector). The metric object is parsed with cJSON and the
 * samples by hand, which saves the four allocations cJSON makes per sample.
 * Returns 1 when it handed the series over (its result in *rc), 0 when the
 * text is laid out otherwise or is wrong: the caller then parses it whole
 * with cJSON, which also says what is wrong.
 */
static int fast_series(struct stv_prom_parser *p, long idx, const char *text, size_t len, int *rc,
                       struct stv_err *err) {
  const char *q = text, *e = text + len;
  const char *after = NULL;
  cJSON *metric;
  size_t n = 0, nl = 0;
  int ok = 0;
  if (p->want == STV_PROM_SERIES || p->want == STV_PROM_VALUES || !eat(&q, e, "{\"metric\":")) return 0;
  metric = cJSON_ParseWithLengthOpts(q, (size_t)(e - q), &after, 0);
  if (metric == NULL || !cJSON_IsObject(metric) || after == NULL) goto out;
  q = after;
  if (p->want == STV_PROM_MATRIX) {
    if (!eat(&q, e, ",\"values\":[")) goto out;
    if (!eat(&q, e, "]")) {
      for (;;) {
        const char *vs;
        if (n >= p->cap_samples && grow_samples(p, n + 1) != 0) goto out;
        if (!eat(&q, e, "[") || fast_time(&q, e, &p->t_ms[n]) != 0 || !eat(&q, e, ",\"")) goto out;
        vs = q;
        while (q < e && *q != '"' && *q != '\\') q++;
        if (q >= e || *q != '"' || fast_value(vs, (size_t)(q - vs), &p->v[n]) != 0) goto out;
        q++;
        if (!eat(&q, e, "]")) goto out;
        n++;
        if (eat(&q, e, "]")) break;
        if (!eat(&q, e, ",")) goto out;
      }
    }
  } else {
    const char *vs;
    if (grow_samples(p, 1) != 0 || !eat(&q, e, ",\"value\":[") || fast_time(&q, e, &p->t_ms[0]) != 0 ||
        !eat(&q, e, ",\""))
      goto out;
    vs = q;
    while (q < e && *q != '"' && *q != '\\') q++;
    if (q >= e || *q != '"' || fast_value(vs, (size_t)(q - vs), &p->v[0]) != 0) goto out;
    q++;
    if (!eat(&q, e, "]")) goto out;
    n = 1;
  }
  if (!eat(&q, e, "}") || q != e) goto out;
  ok = 1;
  *rc = take_labels(p, metric, idx, &nl, err);
  if (*rc == 0) *rc = hand_over(p, nl, n, err);
out:
  cJSON_Delete(metric);
  return ok;
}
/* The start of the answer on one line, for messages; returns its length. */
static size_t quote_head(const struct stv_prom_parser *p, char *quote, size_t size) {
  size_t i, n = 0;
  for (i = 0; i < p->head_len && n < size - 1; i++) {
    unsigned char c = (unsigned char)p->head[i];
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c < 0x20 || c == 0x7f) continue;
    if (c == ' ' && (n == 0 || quote[n - 1] == ' ')) continue;
    quote[n++] = (char)c;
  }
  while (n > 0 && quote[n - 1] == ' ') n--;
  quote[n] = '\0';
  return n;
}

static int http_error(struct stv_prom_parser *p, long status, struct stv_err *err) {
  char quote[PROM_HEAD_MAX + 1];
  size_t n = quote_head(p, quote, sizeof(quote));
  if (status == 401 || status == 403)
    return stv_err_set(err, STV_EIO, "HTTP %ld (%s; is a bearer token needed?)%s%s", status,
                       status == 401 ? "unauthorized" : "forbidden", n ? ": " : "", quote);
  if (status == 404)
    return stv_err_set(err, STV_EIO,
                       "HTTP 404 (no Prometheus API at this URL; give the server's base URL)%s%s",
                       n ? ": " : "", quote);
  if (n == 0) return stv_err_set(err, STV_EIO, "HTTP %ld with an empty body", status);
  return stv_err_set(err, STV_EIO, "HTTP %ld: %s%s", status, quote, p->total > p->head_len ? "..." : "");
}

static int keep_warnings(struct stv_prom_parser *p, const cJSON *arr, struct stv_err *err) {
  const cJSON *w;
  if (!cJSON_IsArray(arr)) return 0;
  cJSON_ArrayForEach(w, arr) {
    char **nw;
    if (!cJSON_IsString(w)) continue;
    nw = stv_realloc(p->warnings, (p->nwarnings + 1) * sizeof(*nw));
    if (nw == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
    p->warnings = nw;
    if ((nw[p->nwarnings] = stv_strdup(w->valuestring)) == NULL)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    p->nwarnings++;
  }
  return 0;
}

/* Keeps a copy of the string value v in *dst (NULL when v is no string). */
static int keep_string(char **dst, const cJSON *v, struct stv_err *err) {
  stv_free(*dst);
  *dst = NULL;
  if (!cJSON_IsString(v)) return 0;
  if ((*dst = stv_strdup(v->valuestring)) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  return 0;
}

/* The scanner's member callback: everything but the series. */
static int on_member(void *ctx, const char *name, const cJSON *v, struct stv_err *err) {
  struct stv_prom_parser *p = ctx;
  int matrix = p->want == STV_PROM_MATRIX || p->want == STV_PROM_VECTOR;
  int rc = 0;
  if (strcmp(name, "status") == 0) {
    rc = keep_string(&p->status, v, err);
  } else if (strcmp(name, "errorType") == 0) {
    rc = keep_string(&p->error_type, v, err);
  } else if (strcmp(name, "error") == 0) {
    rc = keep_string(&p->error, v, err);
  } else if (strcmp(name, "warnings") == 0 || strcmp(name, "infos") == 0) {
    rc = keep_warnings(p, v, err);
  } else if (strcmp(name, "data") == 0 || (matrix && strcmp(name, "data.result") == 0)) {
    p->data_bad = 1; /* the series path, of another type than expected */
  } else if (matrix && strcmp(name, "data.resultType") == 0) {
    rc = keep_string(&p->result_type, v, err);
    p->type_bad = p->result_type == NULL ||
                  strcmp(p->result_type, p->want == STV_PROM_MATRIX ? "matrix" : "vector") != 0;
    p->no_series = p->result_type != NULL &&
                   (strcmp(p->result_type, "scalar") == 0 || strcmp(p->result_type, "string") == 0);
  }
  if (rc != 0) {
    p->cb_rc = rc;
    p->cb_err = *err;
  }
  return rc;
}

/* Keeps the error of a series for stv_prom_parser_feed to return. */
static int series_failed(struct stv_prom_parser *p, int rc, struct stv_err *err) {
  if (rc == STV_EPARSE) stv_err_prefix(err, "malformed answer");
  p->cb_rc = rc;
  p->cb_err = *err;
  return rc;
}

/* The scanner's raw hook: series laid out as Prometheus writes them. */
static int on_raw(void *ctx, long idx, const char *text, size_t len, struct stv_err *err) {
  struct stv_prom_parser *p = ctx;
  int rc = 0;
  if (p->no_series) return 1; /* no list of series: told at the end */
  if (!fast_series(p, idx, text, len, &rc, err)) return 0;
  return rc != 0 ? series_failed(p, rc, err) : 1;
}

/* The scanner's item callback: a series parsed by cJSON. */
static int on_item(void *ctx, long idx, const cJSON *el, struct stv_err *err) {
  struct stv_prom_parser *p = ctx;
  int rc = deliver(p, idx, el, err);
  return rc != 0 ? series_failed(p, rc, err) : 0;
}

int stv_prom_parser_new(struct stv_prom_parser **out, enum stv_prom_result_type want, stv_prom_series_cb cb,
                        void *ctx) {
  struct stv_prom_parser *p = stv_calloc(1, sizeof(*p));
  struct stv_json_push_opts o = {0};
  struct stv_err err;
  *out = NULL;
  if (p == NULL) return STV_ENOMEM;
  p->want = want;
  p->cb = cb;
  p->ctx = ctx;
  o.name = "answer";
  o.items = want == STV_PROM_SERIES || want == STV_PROM_VALUES ? "data" : "data.result";
  o.any_items = 1;
  o.item = on_item;
  o.raw = want == STV_PROM_MATRIX || want == STV_PROM_VECTOR ? on_raw : NULL;
  o.member = on_member;
  o.ctx = p;
  if (stv_json_push_new(&p->js, &o, &err) != 0) {
    stv_free(p);
    return STV_ENOMEM;
  }
  *out = p;
  return 0;
}

void stv_prom_parser_free(struct stv_prom_parser *p) {
  size_t i;
  if (p == NULL) return;
  stv_json_push_free(p->js);
  stv_free(p->status);
  stv_free(p->error_type);
  stv_free(p->error);
  stv_free(p->result_type);
  stv_free(p->labels);
  stv_free(p->t_ms);
  stv_free(p->v);
  for (i = 0; i < p->nwarnings; i++) stv_free(p->warnings[i]);
  stv_free(p->warnings);
  stv_free(p);
}

/*
 * The scanner stopped with rc: a series callback's error is returned as
 * it is, a malformed answer is kept for the end (with the HTTP status, it
 * may turn out to be an error page), anything else (a series over 64 MiB,
 * no memory) is returned at once.
 */
static int scan_stopped(struct stv_prom_parser *p, int rc, struct stv_err *err) {
  if (p->cb_rc != 0) {
    *err = p->cb_err;
    return p->cb_rc;
  }
  if (rc == STV_EPARSE) {
    p->scan_rc = rc;
    return 0;
  }
  *err = p->scan_err;
  return rc;
}

int stv_prom_parser_feed(struct stv_prom_parser *p, const char *buf, size_t len, struct stv_err *err) {
  int rc;
  if (p->head_len < PROM_HEAD_MAX) {
    size_t n = len < PROM_HEAD_MAX - p->head_len ? len : PROM_HEAD_MAX - p->head_len;
    memcpy(p->head + p->head_len, buf, n);
    p->head_len += n;
    p->head[p->head_len] = '\0';
  }
  p->total += len;
  if (p->scan_rc != 0) return 0; /* only counted, for the message at the end */
  if (p->cb_rc != 0) {
    *err = p->cb_err;
    return p->cb_rc;
  }
  rc = stv_json_push_feed(p->js, buf, len, &p->scan_err);
  return rc != 0 ? scan_stopped(p, rc, err) : 0;
}

/* The answer is not a whole JSON object: why, for the message. */
static int malformed(struct stv_prom_parser *p, long http_status, int http_ok, struct stv_err *err) {
  char quote[PROM_HEAD_MAX + 1];
  char c;
  if (!http_ok) return http_error(p, http_status, err);
  c = p->head[strspn(p->head, " \t\r\n")];
  if (c == '{') return stv_err_set(err, STV_EPARSE, "malformed %s", p->scan_err.msg);
  if (c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9'))
    return stv_err_set(err, STV_EPARSE, "malformed answer: not a JSON object");
  quote_head(p, quote, sizeof(quote));
  return stv_err_set(err, STV_EPARSE, "not a Prometheus API answer (not JSON): %s%s", quote,
                     p->total > p->head_len ? "..." : "");
}

/* The answer was read whole: what its members say. */
static int judge(struct stv_prom_parser *p, long http_status, int http_ok, struct stv_err *err) {
  int list = p->want == STV_PROM_SERIES || p->want == STV_PROM_VALUES;
  if (p->status != NULL && strcmp(p->status, "error") == 0) {
    const char *t = p->error_type != NULL ? p->error_type : "error";
    return stv_err_set(err, strcmp(t, "timeout") == 0 ? STV_ETIMEDOUT : STV_EIO, "%s: %s", t,
                       p->error != NULL ? p->error : "(no message)");
  }
  if (p->status == NULL || strcmp(p->status, "success") != 0)
    return http_ok ? stv_err_set(err, STV_EPARSE, "not a Prometheus API answer (no \"status\")")
                   : http_error(p, http_status, err);
  if (!http_ok) return http_error(p, http_status, err);
  if (list && (p->data_bad || !stv_json_push_seen_items(p->js)))
    return stv_err_set(err, STV_EPARSE, "malformed answer: data is not a list of %s",
                       p->want == STV_PROM_SERIES ? "series" : "names");
  if (list) return 0;
  if (p->data_bad || p->result_type == NULL || !stv_json_push_seen_items(p->js))
    return stv_err_set(err, STV_EPARSE, "malformed answer: no data.resultType and data.result");
  if (p->type_bad)
    return stv_err_set(err, STV_EPARSE, "unexpected result type \"%s\" (wanted %s)", p->result_type,
                       p->want == STV_PROM_MATRIX ? "matrix" : "vector");
  return 0;
}

int stv_prom_parser_finish(struct stv_prom_parser *p, long http_status, struct stv_err *err) {
  int http_ok = http_status == 0 || (http_status >= 200 && http_status < 300);
  int rc;
  if (p->total == 0) {
    if (!http_ok) return http_error(p, http_status, err);
    return stv_err_set(err, STV_EPARSE, "empty answer");
  }
  if (p->cb_rc != 0) {
    *err = p->cb_err;
    return p->cb_rc;
  }
  if (p->scan_rc == 0 && (rc = stv_json_push_finish(p->js, &p->scan_err)) != 0 &&
      (rc = scan_stopped(p, rc, err)) != 0)
    return rc;
  if (p->scan_rc != 0) return malformed(p, http_status, http_ok, err);
  return judge(p, http_status, http_ok, err);
}
