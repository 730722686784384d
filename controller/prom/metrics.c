/*
 * Reading pod usage from the metrics API's PodMetricsList (metrics.h).
 * Items are streamed one at a time (jsonstream.h); only the summed usage
 * of each pod is kept, in a hash table keyed by "namespace/name".
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonstream.h"

struct stv__metrics_use {
  double cpu, ram;
  int matched;
};

void stv_metrics_init(struct stv_metrics *m) {
  memset(m, 0, sizeof(*m));
  stv_strpool_init(&m->pool);
}

void stv_metrics_close(struct stv_metrics *m) {
  stv_strmap_close(&m->map);
  stv_free(m->use);
  stv_strpool_close(&m->pool);
  memset(m, 0, sizeof(*m));
}

static size_t make_key(char *buf, size_t size, const char *ns, const char *name) {
  int n = snprintf(buf, size, "%s\x1f%s", ns, name);
  return n < 0 ? 0 : (size_t)n;
}

int stv_metrics_get(struct stv_metrics *m, const char *ns, const char *name, double *cpu, double *ram) {
  char key[600];
  size_t n = make_key(key, sizeof(key), ns, name);
  const struct stv_strmap_ent *e;
  struct stv__metrics_use *u;
  if (n >= sizeof(key)) return 0;
  if ((e = stv_strmap_find(&m->map, key, n)) == NULL) return 0;
  u = &m->use[e->val];
  *cpu = u->cpu;
  *ram = u->ram;
  if (!u->matched) {
    u->matched = 1;
    m->matched++;
  }
  return 1;
}

/*
 * A quantity as a double, exactly as far as a double goes: validated by
 * stv_quantity_parse (for its messages), then the number times its suffix.
 */
static int qty_double(const char *s, double *out, int64_t *milli, struct stv_err *err) {
  static const struct {
    const char *suffix;
    double mult;
  } suffixes[] = {{"", 1},      {"n", 1e-9},           {"u", 1e-6},           {"m", 1e-3},
                  {"k", 1e3},   {"M", 1e6},            {"G", 1e9},            {"T", 1e12},
                  {"P", 1e15},  {"E", 1e18},           {"Ki", 1024.0},        {"Mi", 1048576.0},
                  {"Gi", 1073741824.0}, {"Ti", 1099511627776.0}, {"Pi", 1125899906842624.0},
                  {"Ei", 1152921504606846976.0}};
  int64_t check;
  char *end;
  double v;
  size_t i;
  int rc = stv_quantity_parse(s, 1, &check, err);
  if (rc != 0) return rc;
  *milli = check;
  v = strtod(s, &end);
  for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
    if (strcmp(end, suffixes[i].suffix) == 0) {
      *out = v * suffixes[i].mult;
      if (*out < 0) return stv_err_set(err, STV_EINVAL, "negative usage \"%s\"", s);
      return 0;
    }
  /* An exponent form strtod took whole ("1e3") leaves nothing; anything else is unexpected. */
  return stv_err_set(err, STV_EINVAL, "invalid quantity \"%s\"", s);
}

/*
 * One usage value (string or number) into *out, and its value in millis
 * (rounded up) into *milli for the checked sums; the caller's prefix names
 * the field. A JSON number is held to the same rule as a string: it is
 * written back as the shortest text that reads as the same double ("1e+30")
 * and that text is parsed as a quantity, so 9223372036854775808 or 1e30 is
 * out of range whichever way it is spelled.
 */
static int usage_value(const cJSON *v, double *out, int64_t *milli, struct stv_err *err) {
  if (cJSON_IsNumber(v)) {
    char text[40];
    if (!isfinite(v->valuedouble) || v->valuedouble < 0)
      return stv_err_set(err, STV_EINVAL, "must be a non-negative quantity");
    snprintf(text, sizeof(text), "%.17g", v->valuedouble);
    return qty_double(text, out, milli, err);
  }
  if (!cJSON_IsString(v) || v->valuestring == NULL) return stv_err_set(err, STV_EPARSE, "not a quantity string");
  return qty_double(v->valuestring, out, milli, err);
}

struct reader {
  struct stv_metrics *m;
};

static const char *str_member(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Adds container ci's usage of res ("cpu" or "memory", read from usage) to
 * *sum, and its thousandths to *milli, refusing a sum that overflows.
 */
static int add_usage(const cJSON *usage, const char *res, const char *ns, const char *name, long ci,
                     double *sum, int64_t *milli, struct stv_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, res);
  double x;
  int64_t xm;
  if (v == NULL)
    return stv_err_set(err, STV_EPARSE, "PodMetrics %s/%s: containers[%ld].usage.%s: missing", ns, name, ci, res);
  if (usage_value(v, &x, &xm, err) != 0)
    return stv_err_prefix(err, "PodMetrics %s/%s: containers[%ld].usage.%s", ns, name, ci, res);
  if (stv_add_i64(*milli, xm, milli) != 0)
    return stv_err_set(err, STV_ERANGE,
                       "PodMetrics %s/%s: containers[%ld].usage.%s: the pod's %s usage summed over its "
                       "containers is too large",
                       ns, name, ci, res, res);
  *sum += x;
  return 0;
}

static int on_item(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct reader *rd = ctx;
  struct stv_metrics *m = rd->m;
  const cJSON *meta, *containers, *c, *kind;
  const char *ns, *name;
  double cpu = 0, ram = 0;
  int64_t cpu_milli = 0, ram_milli = 0;
  char key[600];
  size_t n;
  struct stv_strmap_ent *e;
  long ci = 0;
  int rc, added;

  (void)index;
  if (!cJSON_IsObject(item)) return stv_err_set(err, STV_EPARSE, "not an object");
  kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
  if (kind != NULL && (!cJSON_IsString(kind) || strcmp(kind->valuestring, "PodMetrics") != 0)) {
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "PodMetricsList") == 0)
      return stv_err_set(err, STV_EPARSE, "a PodMetricsList without \"items\"");
    return stv_err_set(err, STV_EPARSE,
                       "kind %s is not PodMetrics (--metrics takes what `kubectl get --raw "
                       "/apis/metrics.k8s.io/v1beta1/pods` prints)",
                       cJSON_IsString(kind) ? kind->valuestring : "(not a string)");
  }
  meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
  if (!cJSON_IsObject(meta)) return stv_err_set(err, STV_EPARSE, "metadata: missing or not an object");
  name = str_member(meta, "name");
  ns = str_member(meta, "namespace");
  if (name == NULL || *name == '\0') return stv_err_set(err, STV_EPARSE, "metadata.name: missing");
  if (ns == NULL || *ns == '\0') ns = "default";
  containers = cJSON_GetObjectItemCaseSensitive(item, "containers");
  if (containers != NULL && !cJSON_IsArray(containers))
    return stv_err_set(err, STV_EPARSE, "PodMetrics %s/%s: containers: not an array", ns, name);
  if (containers == NULL)
    return stv_err_set(err, STV_EPARSE, "PodMetrics %s/%s: containers: missing", ns, name);
  cJSON_ArrayForEach(c, containers) {
    const cJSON *usage;
    if (!cJSON_IsObject(c))
      return stv_err_set(err, STV_EPARSE, "PodMetrics %s/%s: containers[%ld]: not an object", ns, name, ci);
    usage = cJSON_GetObjectItemCaseSensitive(c, "usage");
    if (!cJSON_IsObject(usage))
      return stv_err_set(err, STV_EPARSE, "PodMetrics %s/%s: containers[%ld].usage: missing or not an object", ns,
                         name, ci);
    if ((rc = add_usage(usage, "cpu", ns, name, ci, &cpu, &cpu_milli, err)) != 0 ||
        (rc = add_usage(usage, "memory", ns, name, ci, &ram, &ram_milli, err)) != 0)
      return rc;
    ci++;
  }
  n = make_key(key, sizeof(key), ns, name);
  if (n >= sizeof(key)) return stv_err_set(err, STV_EPARSE, "PodMetrics %s/%s: name too long", ns, name);
  if (m->len >= UINT32_MAX) return stv_err_set(err, STV_ELIMIT, "PodMetrics %s/%s: too many pods", ns, name);
  if (stv_grow((void **)&m->use, &m->cap, m->len + 1, sizeof(*m->use)) != 0 ||
      stv_strmap_upsert(&m->map, &m->pool, key, n, (uint32_t)m->len, &e, &added) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (!added) return stv_err_set(err, STV_ECONFLICT, "PodMetrics %s/%s: the same pod twice", ns, name);
  m->use[m->len].cpu = cpu;
  m->use[m->len].ram = ram;
  m->use[m->len].matched = 0;
  m->len++;
  return 0;
}

/* The error for a metrics file that is YAML, not JSON (kubectl get -o yaml). */
static int yaml_error(const char *name, struct stv_err *err) {
  return stv_err_set(err, STV_EPARSE,
                     "%s: looks like YAML; this file must be JSON (kubectl get --raw "
                     "/apis/metrics.k8s.io/v1beta1/pods > usage.json)",
                     name);
}

/*
 * After a parse error, whether the file at path (not standard input) starts
 * like YAML; reads at most its first 4 KiB.
 */
static int file_looks_like_yaml(const char *path) {
  char head[4096];
  size_t n;
  FILE *f;
  if (strcmp(path, "-") == 0 || (f = fopen(path, "rb")) == NULL) return 0;
  n = fread(head, 1, sizeof(head), f);
  fclose(f);
  return stv_text_looks_like_yaml(head, n);
}

int stv_metrics_read_file(struct stv_metrics *m, const char *path, struct stv_err *err) {
  struct reader rd = {m};
  int rc = stv_json_stream_file(path, on_item, &rd, err);
  if (rc == STV_EPARSE && file_looks_like_yaml(path)) return yaml_error(path, err);
  return rc;
}

int stv_metrics_read_buffer(struct stv_metrics *m, const char *name, const char *buf, size_t len,
                            struct stv_err *err) {
  struct reader rd = {m};
  int rc = stv_json_stream_buffer(name, buf, len, on_item, &rd, err);
  if (rc == STV_EPARSE && stv_text_looks_like_yaml(buf, len)) return yaml_error(name, err);
  return rc;
}
