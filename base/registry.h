/*
 * A small metrics registry: counters, gauges and histograms with labels,
 * written in the Prometheus text exposition format 0.0.4. It lives in
 * base/ because every layer may count something (the HTTP client its
 * requests, a cloud provider its calls, the reconcilers their decisions)
 * and base/ is the one layer all of them may use; it does no I/O (the
 * endpoint that serves it is io/serve.c). Design: docs/observability.md.
 *
 * Thread safety. Registering families and finding series take the
 * registry's lock; updating a series (inc, set, add, observe) is lock-free
 * (C11 atomics), so worker threads may observe while the loop thread
 * writes the exposition. A series handle stays valid until the registry is
 * freed: look it up once, keep it, update it often.
 */
#ifndef STV_REGISTRY_H
#define STV_REGISTRY_H

#include <stddef.h>

#include "base.h"

enum stv_metric_type { STV_METRIC_COUNTER, STV_METRIC_GAUGE, STV_METRIC_HISTOGRAM };

struct stv_registry; /* the registry */
struct stv_metric;  /* a family: name, help, type, label names */
struct stv_series;  /* one family's values for one set of label values */

#define STV_METRIC_MAX_LABELS  8
#define STV_METRIC_MAX_SERIES  10000 /* per family: a guard against unbounded label values */
#define STV_METRIC_MAX_BUCKETS 64

/* Makes an empty registry. Returns 0 or STV_ENOMEM. */
int stv_registry_new(struct stv_registry **out);
/* Frees m, its families and series (no thread may use them any more). */
void stv_registry_free(struct stv_registry *m);

/*
 * Registers a family. name: [a-zA-Z_:][a-zA-Z0-9_:]* (a counter's should
 * end in _total); help: one line of text; labels: a NULL-terminated list of
 * label names ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", not "le" for
 * a histogram), NULL for none; buckets (histograms only): nbuckets finite
 * upper bounds in increasing order, +Inf is implied. Everything is copied.
 * Returns 0 with *out set (owned by m), STV_EINVAL with err naming the
 * field (a bad or repeated name), or STV_ENOMEM.
 */
int stv_registry_register(struct stv_registry *m, enum stv_metric_type type, const char *name, const char *help,
                         const char *const *labels, const double *buckets, size_t nbuckets,
                         struct stv_metric **out, struct stv_err *err);

/*
 * Finds or makes the series of f for the label values values[0..nlabels)
 * (NULL when f has no labels; copied). Returns 0 with *out set (valid until
 * the registry is freed), STV_ELIMIT when f already has
 * STV_METRIC_MAX_SERIES series, or STV_ENOMEM. A series that was removed
 * comes back at zero.
 */
int stv_metric_series(struct stv_metric *f, const char *const *values, struct stv_series **out);

/*
 * Takes the series of f for values out of the exposition (a node pool that
 * is gone) and sets it to zero; handles to it stay valid (updates to it
 * are not shown until stv_metric_series is called for it again).
 */
void stv_metric_remove(struct stv_metric *f, const char *const *values);

/* Counter: adds v (>= 0; a negative or NaN v is ignored, a counter never
 * goes down). Gauge: adds v. */
void stv_series_add(struct stv_series *s, double v);
/* Gauge: sets the value. */
void stv_series_set(struct stv_series *s, double v);
/* Histogram: counts v in its bucket and adds it to the sum. */
void stv_series_observe(struct stv_series *s, double v);
/* The current value of a counter or gauge, the count of a histogram. */
double stv_series_value(const struct stv_series *s);

/*
 * Appends the exposition of every family, in the order they were
 * registered, to b: "# HELP", "# TYPE", then one line per series (label
 * values escaped: backslash, double quote and newline; invalid UTF-8
 * written as U+FFFD). Returns 0 or b's error.
 */
int stv_registry_write(struct stv_registry *m, struct stv_buf *b);

/* The content type of that text. */
#define STV_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
