/*
 * metrics: pod usage as the metrics API reports it (what `kubectl get
 * --raw /apis/metrics.k8s.io/v1beta1/pods` prints: a PodMetricsList), for
 * `stevedore report`, and the report command itself.
 *
 * Each pod's usage is the sum over its containers of usage.cpu (cores,
 * kept exactly as a double: "1234567n" is 0.001234567) and usage.memory
 * (the working set, bytes). Error messages name the file, the item and
 * the field:
 *   usage.json: items[3] PodMetrics team-a/web-1: containers[0].usage.cpu:
 *   invalid quantity "12x": unknown suffix "x"
 * Codes: STV_EPARSE for structure (not JSON, a field of the wrong type, a
 * missing name, an item of another kind), STV_EINVAL for a bad quantity,
 * STV_ECONFLICT for the same pod twice, the stream reader's codes
 * (jsonstream.h), -errno when the file cannot be read, STV_ENOMEM.
 */
#ifndef STV_METRICS_H
#define STV_METRICS_H

#include <stddef.h>

#include "packer.h"

struct stv__metrics_use;

/* Usage per pod, keyed by namespace and name. Caller-allocated. */
struct stv_metrics {
  struct stv_strmap map;        /* "ns\x1fname" -> index into use */
  struct stv__metrics_use *use; /* len pods */
  size_t cap, len;
  size_t matched; /* lookups that found a pod (set by stv_metrics_get) */
  struct stv_strpool pool;
};

/* Initialises m, empty. */
void stv_metrics_init(struct stv_metrics *m);
/* Frees what m holds. */
void stv_metrics_close(struct stv_metrics *m);

/*
 * Reads the PodMetricsList (or a single PodMetrics object) at path
 * ("-" = standard input; borrowed) into m, adding to what m holds.
 * Returns 0 or an error (see above) with err (may be NULL) filled; on
 * error m holds what was read before and must still be closed.
 */
int stv_metrics_read_file(struct stv_metrics *m, const char *path, struct stv_err *err);

/* Same over buf[0..len) (borrowed); name stands for the path in messages. */
int stv_metrics_read_buffer(struct stv_metrics *m, const char *name, const char *buf, size_t len,
                            struct stv_err *err);

/*
 * Looks up pod ns/name (borrowed): returns 1 with *cpu (cores) and *ram
 * (bytes) set, or 0 when the metrics do not have it. Counts matches in
 * m->matched (each pod once).
 */
int stv_metrics_get(struct stv_metrics *m, const char *ns, const char *name, double *cpu, double *ram);

#endif
