/*
 * The metrics registry (base/registry.h). Families and their series are
 * made under one mutex and never move (each series is its own allocation,
 * the family keeps an array of pointers), so a handle stays valid while the
 * array grows. Values are C11 atomics: a double is kept as its 64 bits and
 * added to with a compare-and-swap loop, as client_golang does.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

struct stv_series {
  struct stv_metric *f;
  char **values;            /* f->nlabels copies */
  _Atomic uint64_t val;     /* counter, gauge: the double's bits */
  _Atomic uint64_t sum;     /* histogram: the double's bits */
  _Atomic uint64_t *counts; /* histogram: per bucket, the last for +Inf (not cumulative) */
  _Atomic int hidden;       /* removed: not written */
};

struct stv_metric {
  struct stv_registry *m;
  enum stv_metric_type type;
  char *name, *help;
  char *labels[STV_METRIC_MAX_LABELS];
  size_t nlabels;
  double *buckets;
  size_t nbuckets;
  struct stv_series **series;
  size_t nseries, cap;
};

struct stv_registry {
  pthread_mutex_t lock;
  struct stv_metric **fam;
  size_t nfam, cap;
};

/* ---- atomic doubles ---------------------------------------------------- */

static uint64_t bits_of(double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof(u));
  return u;
}

static double double_of(uint64_t u) {
  double v;
  memcpy(&v, &u, sizeof(v));
  return v;
}

static void atomic_add_double(_Atomic uint64_t *a, double v) {
  uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(a, &old, bits_of(double_of(old) + v), memory_order_relaxed,
                                                memory_order_relaxed))
    continue;
}

/* ---- registration ------------------------------------------------------ */

int stv_registry_new(struct stv_registry **out) {
  struct stv_registry *m = stv_calloc(1, sizeof(*m));
  *out = NULL;
  if (m == NULL) return STV_ENOMEM;
  if (pthread_mutex_init(&m->lock, NULL) != 0) {
    stv_free(m);
    return STV_ENOMEM;
  }
  *out = m;
  return 0;
}

static void series_free(struct stv_series *s, size_t nlabels) {
  size_t i;
  if (s == NULL) return;
  for (i = 0; s->values != NULL && i < nlabels; i++) stv_free(s->values[i]);
  stv_free(s->values);
  stv_free((void *)s->counts);
  stv_free(s);
}

static void family_free(struct stv_metric *f) {
  size_t i;
  if (f == NULL) return;
  for (i = 0; i < f->nseries; i++) series_free(f->series[i], f->nlabels);
  for (i = 0; i < f->nlabels; i++) stv_free(f->labels[i]);
  stv_free(f->series);
  stv_free(f->buckets);
  stv_free(f->name);
  stv_free(f->help);
  stv_free(f);
}

void stv_registry_free(struct stv_registry *m) {
  size_t i;
  if (m == NULL) return;
  for (i = 0; i < m->nfam; i++) family_free(m->fam[i]);
  stv_free(m->fam);
  pthread_mutex_destroy(&m->lock);
  stv_free(m);
}

static int name_char(char c, int first, int colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return 1;
  if (colon && c == ':') return 1;
  return !first && c >= '0' && c <= '9';
}

static int valid_name(const char *s, int colon) {
  size_t i;
  if (s == NULL || s[0] == '\0') return 0;
  for (i = 0; s[i] != '\0'; i++)
    if (!name_char(s[i], i == 0, colon)) return 0;
  return 1;
}

/* Checks everything stv_registry_register is given (m locked). */
static int check_family(struct stv_registry *m, enum stv_metric_type type, const char *name, const char *help,
                        const char *const *labels, const double *buckets, size_t nb, struct stv_err *err) {
  size_t i, j;
  if (!valid_name(name, 1))
    return stv_err_set(err, STV_EINVAL, "metrics: name \"%s\": not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                       name == NULL ? "(null)" : name);
  for (i = 0; i < m->nfam; i++)
    if (strcmp(m->fam[i]->name, name) == 0)
      return stv_err_set(err, STV_EINVAL, "metrics: %s: registered twice", name);
  if (help == NULL || strchr(help, '\n') != NULL)
    return stv_err_set(err, STV_EINVAL, "metrics: %s: help must be one line of text", name);
  for (i = 0; labels != NULL && labels[i] != NULL; i++) {
    if (i == STV_METRIC_MAX_LABELS)
      return stv_err_set(err, STV_EINVAL, "metrics: %s: more than %d labels", name, STV_METRIC_MAX_LABELS);
    if (!valid_name(labels[i], 0) || strncmp(labels[i], "__", 2) == 0 ||
        (type == STV_METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0))
      return stv_err_set(err, STV_EINVAL, "metrics: %s: label %zu \"%s\": not a label name Stevedore may use",
                         name, i, labels[i]);
    for (j = 0; j < i; j++)
      if (strcmp(labels[i], labels[j]) == 0)
        return stv_err_set(err, STV_EINVAL, "metrics: %s: label \"%s\" named twice", name, labels[i]);
  }
  if (type != STV_METRIC_HISTOGRAM) return 0;
  if (nb == 0 || nb > STV_METRIC_MAX_BUCKETS)
    return stv_err_set(err, STV_EINVAL, "metrics: %s: a histogram needs 1 to %d buckets", name,
                       STV_METRIC_MAX_BUCKETS);
  for (i = 0; i < nb; i++)
    if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
      return stv_err_set(err, STV_EINVAL,
                         "metrics: %s: bucket %zu (%g): bounds must be finite and increasing", name, i,
                         buckets[i]);
  return 0;
}

/* Makes the family (m locked, arguments checked). */
static int make_family(struct stv_registry *m, enum stv_metric_type type, const char *name, const char *help,
                       const char *const *labels, const double *buckets, size_t nb, struct stv_metric **out) {
  struct stv_metric *f = stv_calloc(1, sizeof(*f));
  size_t i;
  if (f == NULL) return STV_ENOMEM;
  f->m = m;
  f->type = type;
  f->name = stv_strdup(name);
  f->help = stv_strdup(help);
  if (f->name == NULL || f->help == NULL) goto oom;
  for (i = 0; labels != NULL && labels[i] != NULL; i++) {
    f->labels[i] = stv_strdup(labels[i]);
    f->nlabels = i + 1;
    if (f->labels[i] == NULL) goto oom;
  }
  if (type == STV_METRIC_HISTOGRAM) {
    f->buckets = stv_malloc(nb * sizeof(*f->buckets));
    if (f->buckets == NULL) goto oom;
    memcpy(f->buckets, buckets, nb * sizeof(*f->buckets));
    f->nbuckets = nb;
  }
  if (m->nfam == m->cap && stv_grow((void **)&m->fam, &m->cap, m->nfam + 1, sizeof(*m->fam)) != 0) goto oom;
  m->fam[m->nfam++] = f;
  *out = f;
  return 0;
oom:
  family_free(f);
  return STV_ENOMEM;
}

int stv_registry_register(struct stv_registry *m, enum stv_metric_type type, const char *name, const char *help,
                         const char *const *labels, const double *buckets, size_t nbuckets,
                         struct stv_metric **out, struct stv_err *err) {
  int rc;
  *out = NULL;
  pthread_mutex_lock(&m->lock);
  rc = check_family(m, type, name, help, labels, buckets, nbuckets, err);
  if (rc == 0) {
    rc = make_family(m, type, name, help, labels, buckets, nbuckets, out);
    if (rc != 0) stv_err_set(err, rc, "metrics: %s: out of memory", name);
  }
  pthread_mutex_unlock(&m->lock);
  return rc;
}

/* ---- series ------------------------------------------------------------ */

/* The series of f for values, or NULL (f's registry locked). */
static struct stv_series *find_series(struct stv_metric *f, const char *const *values) {
  size_t i, j;
  for (i = 0; i < f->nseries; i++) {
    struct stv_series *s = f->series[i];
    for (j = 0; j < f->nlabels && strcmp(s->values[j], values[j]) == 0; j++) continue;
    if (j == f->nlabels) return s;
  }
  return NULL;
}

static struct stv_series *make_series(struct stv_metric *f, const char *const *values) {
  struct stv_series *s = stv_calloc(1, sizeof(*s));
  size_t i;
  if (s == NULL) return NULL;
  s->f = f;
  if (f->nlabels > 0) {
    s->values = stv_calloc(f->nlabels, sizeof(*s->values));
    if (s->values == NULL) goto oom;
    for (i = 0; i < f->nlabels; i++)
      if ((s->values[i] = stv_strdup(values[i] == NULL ? "" : values[i])) == NULL) goto oom;
  }
  if (f->type == STV_METRIC_HISTOGRAM) {
    s->counts = stv_calloc(f->nbuckets + 1, sizeof(*s->counts));
    if (s->counts == NULL) goto oom;
  }
  return s;
oom:
  series_free(s, f->nlabels);
  return NULL;
}

static void series_zero(struct stv_series *s) {
  size_t i;
  atomic_store(&s->val, bits_of(0.0));
  atomic_store(&s->sum, bits_of(0.0));
  for (i = 0; s->counts != NULL && i <= s->f->nbuckets; i++) atomic_store(&s->counts[i], 0);
}

int stv_metric_series(struct stv_metric *f, const char *const *values, struct stv_series **out) {
  struct stv_registry *m = f->m;
  struct stv_series *s;
  int rc = 0;
  static const char *const none[1] = {NULL};
  if (values == NULL) values = none;
  pthread_mutex_lock(&m->lock);
  s = find_series(f, values);
  if (s != NULL) {
    atomic_store(&s->hidden, 0);
  } else if (f->nseries >= STV_METRIC_MAX_SERIES) {
    rc = STV_ELIMIT;
  } else if (f->nseries == f->cap &&
             stv_grow((void **)&f->series, &f->cap, f->nseries + 1, sizeof(*f->series)) != 0) {
    rc = STV_ENOMEM;
  } else if ((s = make_series(f, values)) == NULL) {
    rc = STV_ENOMEM;
  } else {
    f->series[f->nseries++] = s;
  }
  pthread_mutex_unlock(&m->lock);
  *out = rc == 0 ? s : NULL;
  return rc;
}

void stv_metric_remove(struct stv_metric *f, const char *const *values) {
  struct stv_series *s;
  static const char *const none[1] = {NULL};
  pthread_mutex_lock(&f->m->lock);
  s = find_series(f, values == NULL ? none : values);
  if (s != NULL) {
    atomic_store(&s->hidden, 1);
    series_zero(s);
  }
  pthread_mutex_unlock(&f->m->lock);
}

void stv_series_add(struct stv_series *s, double v) {
  if (s->f->type == STV_METRIC_COUNTER && !(v >= 0)) return;
  if (s->f->type == STV_METRIC_HISTOGRAM) return;
  atomic_add_double(&s->val, v);
}

void stv_series_set(struct stv_series *s, double v) {
  if (s->f->type != STV_METRIC_GAUGE) return;
  atomic_store_explicit(&s->val, bits_of(v), memory_order_relaxed);
}

void stv_series_observe(struct stv_series *s, double v) {
  const struct stv_metric *f = s->f;
  size_t i = 0;
  if (f->type != STV_METRIC_HISTOGRAM || isnan(v)) return;
  while (i < f->nbuckets && v > f->buckets[i]) i++;
  atomic_fetch_add_explicit(&s->counts[i], 1, memory_order_relaxed);
  atomic_add_double(&s->sum, v);
}

double stv_series_value(const struct stv_series *s) {
  size_t i;
  uint64_t n = 0;
  if (s->f->type != STV_METRIC_HISTOGRAM)
    return double_of(atomic_load_explicit((_Atomic uint64_t *)&s->val, memory_order_relaxed));
  for (i = 0; i <= s->f->nbuckets; i++) n += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
  return (double)n;
}

/* ---- exposition -------------------------------------------------------- */

/* A sample value as Prometheus writes it: NaN, +Inf, -Inf, or the shortest
 * of %.15g and %.17g that reads back the same. */
static const char *fmt_value(double v, char *buf, size_t size) {
  if (isnan(v)) return "NaN";
  if (isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  snprintf(buf, size, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, size, "%.17g", v);
  return buf;
}

/* Appends s[0..) escaped: backslash, newline, and (in label values) the
 * double quote; invalid UTF-8 as U+FFFD. */
static void put_escaped(struct stv_buf *b, const char *s, int quote) {
  size_t n = strlen(s), i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && s[run] != '\\' && s[run] != '\n' && !(quote && s[run] == '"') &&
           (unsigned char)s[run] < 0x80)
      run++;
    if (run > i) stv_buf_append(b, s + i, run - i);
    i = run;
    if (i >= n) break;
    if (s[i] == '\\') {
      stv_buf_puts(b, "\\\\");
      i++;
    } else if (s[i] == '\n') {
      stv_buf_puts(b, "\\n");
      i++;
    } else if (s[i] == '"') {
      stv_buf_puts(b, "\\\"");
      i++;
    } else {
      size_t len = stv_utf8_seq_len((const unsigned char *)s + i, n - i);
      if (len == 0) len = 1;
      stv_buf_utf8(b, s + i, len);
      i += len;
    }
  }
}

/* Appends {a="x",b="y"[,le="..."]} (nothing when there are no labels). */
static void put_labels(struct stv_buf *b, const struct stv_series *s, const char *le) {
  const struct stv_metric *f = s->f;
  size_t i;
  if (f->nlabels == 0 && le == NULL) return;
  stv_buf_puts(b, "{");
  for (i = 0; i < f->nlabels; i++) {
    stv_buf_printf(b, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
    put_escaped(b, s->values[i], 1);
    stv_buf_puts(b, "\"");
  }
  if (le != NULL) stv_buf_printf(b, "%sle=\"%s\"", f->nlabels > 0 ? "," : "", le);
  stv_buf_puts(b, "}");
}

static void put_histogram(struct stv_buf *b, const struct stv_series *s) {
  const struct stv_metric *f = s->f;
  uint64_t total = 0;
  size_t i;
  char v[40];
  /* Cumulative counts from one read of each bucket, so that +Inf and
   * _count agree even while another thread observes. */
  for (i = 0; i <= f->nbuckets; i++) {
    total += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
    stv_buf_printf(b, "%s_bucket", f->name);
    put_labels(b, s, i < f->nbuckets ? fmt_value(f->buckets[i], v, sizeof(v)) : "+Inf");
    stv_buf_printf(b, " %llu\n", (unsigned long long)total);
  }
  stv_buf_printf(b, "%s_sum", f->name);
  put_labels(b, s, NULL);
  stv_buf_printf(b, " %s\n", fmt_value(double_of(atomic_load(&s->sum)), v, sizeof(v)));
  stv_buf_printf(b, "%s_count", f->name);
  put_labels(b, s, NULL);
  stv_buf_printf(b, " %llu\n", (unsigned long long)total);
}

int stv_registry_write(struct stv_registry *m, struct stv_buf *b) {
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  size_t i, j;
  char v[40];
  pthread_mutex_lock(&m->lock);
  for (i = 0; i < m->nfam; i++) {
    const struct stv_metric *f = m->fam[i];
    stv_buf_printf(b, "# HELP %s ", f->name);
    put_escaped(b, f->help, 0);
    stv_buf_printf(b, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    for (j = 0; j < f->nseries; j++) {
      const struct stv_series *s = f->series[j];
      if (atomic_load(&s->hidden)) continue;
      if (f->type == STV_METRIC_HISTOGRAM) {
        put_histogram(b, s);
        continue;
      }
      stv_buf_puts(b, f->name);
      put_labels(b, s, NULL);
      stv_buf_printf(b, " %s\n", fmt_value(stv_series_value(s), v, sizeof(v)));
    }
  }
  pthread_mutex_unlock(&m->lock);
  return b->err;
}
