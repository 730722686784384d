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
#include "prom.h"

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
static const char *fmt_time(int64_t t, char *buf, size_t size) {
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

enum qid {
  Q_REQ,         /* per step: requests per container */
  Q_PHASE,       /* per step: pods that have finished */
  Q_CPU,         /* per step: cpu usage per container, a rate over the step */
  Q_MEM,         /* per step: memory working set per container */
  Q_ALLOC,       /* per step: allocatable per node and resource */
  Q_NODE_INFO,   /* per chunk: provider id per node */
  Q_NODE_LABELS, /* per chunk: labels per node */
  Q_POD_INFO,    /* per chunk: node and creator per pod */
  Q_POD_OWNER,   /* per chunk: owner per pod */
  Q_POD_LABELS,  /* per chunk: labels per pod */
  Q_POD_ANN,     /* per chunk: annotations per pod */
  NQ
};

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

/* ---------------------------------------------------------------------- */
/* Pivot tables of one chunk                                              */

/* Marks a request seen on a series without a node: the pod was pending. */
static const char PENDING[] = "";

/* Containers of a pod told apart, so that a duplicate series counts once. */
#define PROM_CONTAINERS 12
/* In struct cell's seen: container c of value v (0..4) was added. */
#define SEEN_BIT(v, c) ((uint64_t)1 << ((v) * PROM_CONTAINERS + (c)))
#define SEEN_REQ (((uint64_t)1 << (3 * PROM_CONTAINERS)) - 1)
/* In struct cell's seen: the pod had finished (Succeeded or Failed). */
#define SEEN_FINISHED ((uint64_t)1 << 63)

/*
 * One pod at one step; NAN where no series said anything. The requests are
 * those of the series naming node, or of the pending ones (node PENDING)
 * when no series names a node.
 */
struct cell {
  double v[5];      /* cpu_req, ram_req, gpu_req, cpu_use, ram_use */
  const char *node; /* from the requests: a node, PENDING, or NULL */
  uint64_t seen;    /* SEEN_BIT per value and container; SEEN_FINISHED */
};

struct pod {
  const char *ns, *name; /* interned: the key */
  const char *containers[PROM_CONTAINERS]; /* interned names, in order seen */
  unsigned ncontainers;
  const char *info_node;
  const char *created_kind, *created_name; /* kube_pod_info */
  const char *owner_kind, *owner_name;     /* kube_pod_owner */
  int owner_rank;                          /* 2 controller, 1 other owner */
  struct stv_labels labels, ann;
};

/* One node at one step. */
struct ncell {
  double cpu, ram, gpu;
};

struct node {
  const char *name;
  const char *instance_type, *zone, *provider_id;
  struct stv_labels labels;
};

/* An HTTP request and the parser its answer streams into. */
struct req {
  struct coll *c;
  enum qid q;
  int preflight; /* the metric names of the window, not a query */
  struct stv_http_req *h; /* while in flight */
  char *url, *form;       /* the request: a POST of form, or a GET when NULL */
  struct stv_prom_parser *parser;
  int rc;            /* the parser's or callback's failure */
  struct stv_err err;
  int res; /* the I/O layer's code */
  enum stv_http_failure failure;
  int connected;
  char errbuf[256]; /* the I/O layer's words */
};

struct coll {
  const struct stv_prom_opts *o;
  struct stv_prom_stats *st;
  stv_prom_step_cb cb;
  void *cb_ctx;
  char *base; /* the URL without trailing slashes */
  long timeout_ms;
  uv_loop_t loop; /* this collection's own loop: the function blocks its caller */
  int loop_up;
  struct stv_http *http;
  const char *headers[3]; /* Accept, and Authorization when a token is set */
  char *auth;
  size_t inflight;         /* requests whose done callback has not come yet */
  struct req *failed;      /* the batch's first failure */
  struct req reqs[NQ + 1]; /* the last for the preflight */
  int have_metric[NQ];
  struct req *batch[NQ + 1]; /* the requests in flight */
  size_t nbatch;
  int hold; /* answers wait (paused) until the tables are ready for them */

  /* the chunk: steps t0, t0 + step, ..., t0 + (k - 1) * step */
  int64_t t0, step;
  size_t k;
  struct stv_strpool pool;
  struct stv_arena mem;
  struct pod *pods;
  size_t npods, cap_pods;
  struct cell *cells; /* row i: pod i's k cells */
  size_t cap_cells;
  struct stv_strmap pod_map; /* pod_key() -> row */
  char *key;                  /* pod_key()'s buffer */
  size_t cap_key;
  struct node *nodes;
  size_t nnodes, cap_nodes;
  struct ncell *ncells;
  size_t cap_ncells;
  struct stv_strmap node_map; /* node name -> row */

  /* one step handed to the callback */
  struct stv_cost_node *out_nodes;
  size_t cap_out_nodes;
  struct stv_cost_pod *out_pods;
  size_t cap_out_pods;

  char **warnings; /* seen already, to tell each once */
  size_t nwarnings;
};

static void note(struct coll *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct coll *c, const char *fmt, ...) {
  char msg[STV_ERR_MSG_MAX];
  va_list ap;
  if (c->o->note == NULL) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  c->o->note(c->o->note_ctx, msg);
}

static const char *series_label(const struct stv_prom_series *s, const char *name) {
  size_t i;
  for (i = 0; i < s->nlabels; i++)
    if (strcmp(s->labels[i].name, name) == 0) return s->labels[i].value;
  return NULL;
}

static const char *intern(struct coll *c, const char *s) { return stv_strpool_get(&c->pool, s); }

/* A label value that names something: not empty and not "<none>". */
static int named(const char *v) { return v != NULL && *v != '\0' && strcmp(v, "<none>") != 0; }

/*
 * Puts the key of pod ns/name in the string map into c->key: the length of
 * ns, ':', ns, name ("7:defaultweb-5"), which no other pair shares.
 */
static int pod_key(struct coll *c, const char *ns, const char *name, size_t *n) {
  size_t a = strlen(ns), need = a + strlen(name) + 24;
  int rc = stv_grow((void **)&c->key, &c->cap_key, need, 1);
  if (rc != 0) return rc;
  *n = (size_t)snprintf(c->key, need, "%zu:%s%s", a, ns, name);
  return 0;
}

/* Finds or adds the pod ns/name (label values, borrowed); *idx its row. */
static int pod_at(struct coll *c, const char *ns_s, const char *name_s, uint32_t *idx) {
  struct stv_strmap_ent *e;
  const char *ns, *name;
  size_t n, i;
  int rc, added;
  if (c->npods >= UINT32_MAX - 1) return STV_ELIMIT;
  if ((rc = pod_key(c, ns_s, name_s, &n)) != 0) return rc;
  if ((rc = stv_strmap_upsert(&c->pod_map, &c->pool, c->key, n, (uint32_t)c->npods, &e, &added)) != 0)
    return rc;
  *idx = e->val;
  if (!added) return 0;
  if ((ns = intern(c, ns_s)) == NULL || (name = intern(c, name_s)) == NULL) return STV_ENOMEM;
  if ((rc = stv_grow((void **)&c->pods, &c->cap_pods, c->npods + 1, sizeof(*c->pods))) != 0) return rc;
  if ((rc = stv_grow((void **)&c->cells, &c->cap_cells, (c->npods + 1) * c->k, sizeof(*c->cells))) != 0)
    return rc;
  memset(&c->pods[c->npods], 0, sizeof(*c->pods));
  c->pods[c->npods].ns = ns;
  c->pods[c->npods].name = name;
  for (i = 0; i < c->k; i++) {
    struct cell *x = &c->cells[c->npods * c->k + i];
    x->v[0] = x->v[1] = x->v[2] = x->v[3] = x->v[4] = NAN;
    x->node = NULL;
    x->seen = 0;
  }
  c->npods++;
  return 0;
}

/* Finds or adds the node called name_s (borrowed); *idx its row. */
static int node_at(struct coll *c, const char *name_s, uint32_t *idx) {
  struct stv_strmap_ent *e;
  size_t i;
  int rc, added;
  if (c->nnodes >= UINT32_MAX - 1) return STV_ELIMIT;
  if ((rc = stv_strmap_upsert(&c->node_map, &c->pool, name_s, strlen(name_s), (uint32_t)c->nnodes, &e,
                              &added)) != 0)
    return rc;
  *idx = e->val;
  if (!added) return 0;
  if ((rc = stv_grow((void **)&c->nodes, &c->cap_nodes, c->nnodes + 1, sizeof(*c->nodes))) != 0) return rc;
  if ((rc = stv_grow((void **)&c->ncells, &c->cap_ncells, (c->nnodes + 1) * c->k, sizeof(*c->ncells))) != 0)
    return rc;
  memset(&c->nodes[c->nnodes], 0, sizeof(*c->nodes));
  c->nodes[c->nnodes].name = e->key; /* interned by the map */
  for (i = 0; i < c->k; i++) {
    struct ncell *x = &c->ncells[c->nnodes * c->k + i];
    x->cpu = x->ram = x->gpu = NAN;
  }
  c->nnodes++;
  return 0;
}

static int label_cmp(const void *a, const void *b) {
  return strcmp(((const struct stv_label *)a)->key, ((const struct stv_label *)b)->key);
}

/*
 * Builds *out from the series' labels whose names start with prefix, with
 * the prefix removed (strip) or kept; sorted, keys unique. When
 * template_hash is set, "pod_template_hash" is also given under its
 * Kubernetes name, "pod-template-hash", which the report engine reads.
 */
static int labels_from(struct coll *c, const struct stv_prom_series *s, const char *prefix, int strip,
                       int template_hash, struct stv_labels *out) {
  size_t plen = strlen(prefix), i, n = 0, m;
  struct stv_label *kv;
  for (i = 0; i < s->nlabels; i++) n += strncmp(s->labels[i].name, prefix, plen) == 0;
  out->n = 0;
  out->kv = NULL;
  if (n == 0) return 0;
  if ((kv = stv_arena_alloc(&c->mem, (n + 1) * sizeof(*kv))) == NULL) return STV_ENOMEM;
  for (i = 0, m = 0; i < s->nlabels; i++) {
    const char *name = s->labels[i].name;
    if (strncmp(name, prefix, plen) != 0 || (strip && name[plen] == '\0')) continue;
    kv[m].key = intern(c, strip ? name + plen : name);
    kv[m].value = intern(c, s->labels[i].value);
    if (kv[m].key == NULL || kv[m].value == NULL) return STV_ENOMEM;
    if (template_hash && strcmp(kv[m].key, "pod_template_hash") == 0) {
      kv[m + 1].key = intern(c, "pod-template-hash");
      kv[m + 1].value = kv[m].value;
      if (kv[m + 1].key == NULL) return STV_ENOMEM;
      m++;
    }
    m++;
  }
  qsort(kv, m, sizeof(*kv), label_cmp);
  for (i = 0, n = 0; i < m; i++) /* keys unique: the first of equal keys stays */
    if (n == 0 || strcmp(kv[n - 1].key, kv[i].key) != 0) kv[n++] = kv[i];
  out->n = (uint32_t)n;
  out->kv = kv;
  return 0;
}

/* The step index of a sample time, or -1 when it is not one of the chunk's. */
static long step_index(const struct coll *c, int64_t t_ms) {
  int64_t d;
  if (t_ms % 1000 != 0) return -1;
  d = t_ms / 1000 - c->t0;
  if (d < 0 || d % c->step != 0 || (uint64_t)(d / c->step) >= c->k) return -1;
  return (long)(d / c->step);
}

/* A sample the cost model can use: finite and not negative. */
static int usable(struct coll *c, double v) {
  if (isfinite(v) && v >= 0) return 1;
  c->st->nonfinite++;
  return 0;
}

/*
 * The index of container name (a label value, borrowed) among pod p's, added
 * when new; -1 when there is no name or no room to tell it apart, -2 when
 * out of memory.
 */
static int container_index(struct coll *c, struct pod *p, const char *name) {
  const char *n;
  unsigned i;
  if (!named(name)) return -1;
  for (i = 0; i < p->ncontainers; i++)
    if (strcmp(p->containers[i], name) == 0) return (int)i;
  if (p->ncontainers == PROM_CONTAINERS) return -1;
  if ((n = intern(c, name)) == NULL) return -2;
  p->containers[p->ncontainers] = n;
  return (int)p->ncontainers++;
}

/* Stores one series of query q into the chunk's tables. */
static int on_series(void *ctx, const struct stv_prom_series *s, struct stv_err *err) {
  struct req *rq = ctx;
  struct coll *c = rq->c;
  const char *ns = series_label(s, "namespace"), *pod = series_label(s, "pod");
  const char *node = series_label(s, "node"), *res = series_label(s, "resource");
  uint32_t idx;
  size_t i;
  int rc = 0;

  c->st->series++;
  switch (rq->q) {
  case Q_REQ:
  case Q_CPU:
  case Q_MEM: {
    const char *nd = NULL;
    uint64_t bit = 0;
    size_t which;
    int ci;
    if (!named(ns) || !named(pod)) return 0;
    if (rq->q == Q_REQ) {
      if (res == NULL) return 0;
      which = strcmp(res, "cpu") == 0 ? 0 : strcmp(res, "memory") == 0 ? 1 : 2;
      if (named(node) && (nd = intern(c, node)) == NULL) goto oom;
      if (nd == NULL) nd = PENDING;
      c->st->req_samples += s->n;
    } else {
      which = rq->q == Q_CPU ? 3 : 4;
      *(rq->q == Q_CPU ? &c->st->cpu_samples : &c->st->mem_samples) += s->n;
    }
    if ((rc = pod_at(c, ns, pod, &idx)) != 0) break;
    if ((ci = container_index(c, &c->pods[idx], series_label(s, "container"))) == -2) goto oom;
    if (ci >= 0) bit = SEEN_BIT(which, (unsigned)ci);
    for (i = 0; i < s->n; i++) {
      long k = step_index(c, s->t_ms[i]);
      struct cell *x;
      if (k < 0 || !usable(c, s->v[i])) continue;
      x = &c->cells[(size_t)idx * c->k + (size_t)k];
      if (which <= 2) {
        /* Series naming a node win over those from while the pod was pending. */
        if (x->node != NULL && x->node != PENDING && x->node != nd) continue;
        if (x->node == PENDING && nd != PENDING) {
          x->v[0] = x->v[1] = x->v[2] = NAN;
          x->seen &= ~SEEN_REQ;
        }
        x->node = nd;
      }
      if (x->seen & bit) continue; /* the same container again: another scrape of it */
      x->seen |= bit;
      x->v[which] = isnan(x->v[which]) ? s->v[i] : x->v[which] + s->v[i];
    }
    break;
  }
  case Q_PHASE:
    if (!named(ns) || !named(pod)) return 0;
    if ((rc = pod_at(c, ns, pod, &idx)) != 0) break;
    for (i = 0; i < s->n; i++) {
      long k = step_index(c, s->t_ms[i]);
      if (k >= 0 && s->v[i] == 1) c->cells[(size_t)idx * c->k + (size_t)k].seen |= SEEN_FINISHED;
    }
    break;
  case Q_ALLOC:
    if (!named(node) || res == NULL) return 0;
    c->st->alloc_samples += s->n;
    if ((rc = node_at(c, node, &idx)) != 0) break;
    for (i = 0; i < s->n; i++) {
      long k = step_index(c, s->t_ms[i]);
      struct ncell *x;
      double *f;
      if (k < 0 || !usable(c, s->v[i])) continue;
      x = &c->ncells[(size_t)idx * c->k + (size_t)k];
      f = strcmp(res, "cpu") == 0 ? &x->cpu : strcmp(res, "memory") == 0 ? &x->ram : &x->gpu;
      if (isnan(*f)) *f = s->v[i]; /* the first scrape of it wins */
    }
    break;
  case Q_NODE_INFO: {
    const char *pid = series_label(s, "provider_id");
    if (!named(node) || !named(pid)) return 0;
    if ((rc = node_at(c, node, &idx)) != 0) break;
    if ((c->nodes[idx].provider_id = intern(c, pid)) == NULL) goto oom;
    break;
  }
  case Q_NODE_LABELS: {
    struct node *n;
    if (!named(node)) return 0;
    if ((rc = node_at(c, node, &idx)) != 0) break;
    n = &c->nodes[idx];
    if ((rc = labels_from(c, s, "label_", 0, 0, &n->labels)) != 0) break;
    n->instance_type = stv_labels_get(&n->labels, "label_node_kubernetes_io_instance_type");
    if (n->instance_type == NULL)
      n->instance_type = stv_labels_get(&n->labels, "label_beta_kubernetes_io_instance_type");
    n->zone = stv_labels_get(&n->labels, "label_topology_kubernetes_io_zone");
    if (n->zone == NULL) n->zone = stv_labels_get(&n->labels, "label_failure_domain_beta_kubernetes_io_zone");
    break;
  }
  case Q_POD_INFO: {
    const char *kind = series_label(s, "created_by_kind"), *cname = series_label(s, "created_by_name");
    struct pod *p;
    if (!named(ns) || !named(pod)) return 0;
    if ((rc = pod_at(c, ns, pod, &idx)) != 0) break;
    p = &c->pods[idx];
    if (named(node) && (p->info_node = intern(c, node)) == NULL) goto oom;
    if (named(kind) && named(cname)) {
      if ((p->created_kind = intern(c, kind)) == NULL || (p->created_name = intern(c, cname)) == NULL)
        goto oom;
    }
    break;
  }
  case Q_POD_OWNER: {
    const char *kind = series_label(s, "owner_kind"), *oname = series_label(s, "owner_name");
    const char *ctl = series_label(s, "owner_is_controller");
    int rank = ctl != NULL && strcmp(ctl, "true") == 0 ? 2 : 1;
    struct pod *p;
    if (!named(ns) || !named(pod) || !named(kind) || !named(oname)) return 0;
    if ((rc = pod_at(c, ns, pod, &idx)) != 0) break;
    p = &c->pods[idx];
    if (rank <= p->owner_rank) return 0;
    if ((p->owner_kind = intern(c, kind)) == NULL || (p->owner_name = intern(c, oname)) == NULL) goto oom;
    p->owner_rank = rank;
    break;
  }
  case Q_POD_LABELS:
  case Q_POD_ANN:
    if (!named(ns) || !named(pod)) return 0;
    if ((rc = pod_at(c, ns, pod, &idx)) != 0) break;
    if (rq->q == Q_POD_LABELS)
      rc = labels_from(c, s, "label_", 1, 1, &c->pods[idx].labels);
    else
      rc = labels_from(c, s, "annotation_", 1, 0, &c->pods[idx].ann);
    break;
  case NQ:
    break;
  }
  if (rc == STV_ENOMEM) goto oom;
  if (rc == STV_ELIMIT) return stv_err_set(err, rc, "more than 2^32 pods or nodes in one chunk");
  return rc;
oom:
  return stv_err_set(err, STV_ENOMEM, "out of memory");
}

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
                          r->preflight ? on_name : on_series, r) != 0)
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
                         fmt_time(c->o->start, a, sizeof(a)), fmt_time(c->o->end, b, sizeof(b)));
  if (!c->have_metric[Q_CPU])
    note(c, "no %s in the window: cpu is costed at its requests", qdefs[Q_CPU].metric);
  if (!c->have_metric[Q_MEM])
    note(c, "no %s in the window: memory is costed at its requests", qdefs[Q_MEM].metric);
  if (!c->have_metric[Q_NODE_LABELS])
    note(c, "no %s in the window: nodes have no instance type and cannot be priced",
         qdefs[Q_NODE_LABELS].metric);
  if (!c->have_metric[Q_POD_INFO] && !c->have_metric[Q_POD_OWNER])
    note(c, "no kube_pod_info or kube_pod_owner in the window: pod owners are unknown");
  return 0;
}

/* Empties the chunk's tables for k steps from t0. */
static void chunk_reset(struct coll *c, int64_t t0, size_t k) {
  c->t0 = t0;
  c->k = k;
  c->npods = c->nnodes = 0;
  stv_strmap_close(&c->pod_map);
  stv_strmap_close(&c->node_map);
  stv_strpool_close(&c->pool);
  stv_strpool_init(&c->pool);
  stv_arena_reset(&c->mem);
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
    note(c, "query %s: warning: %s", qdefs[r->q].metric, w);
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

static double or_zero(double v) { return isnan(v) ? 0 : v; }
static double or_unknown(double v) { return isnan(v) ? -1 : v; }

/* Hands each step of the chunk that has data to the callback. */
static int chunk_emit(struct coll *c, struct stv_err *err) {
  size_t k, i;
  int rc;
  if (stv_grow((void **)&c->out_nodes, &c->cap_out_nodes, c->nnodes + 1, sizeof(*c->out_nodes)) != 0 ||
      stv_grow((void **)&c->out_pods, &c->cap_out_pods, c->npods + 1, sizeof(*c->out_pods)) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  for (k = 0; k < c->k; k++) {
    struct stv_cost_step s;
    size_t nn = 0, np = 0;
    int64_t t = c->t0 + (int64_t)k * c->step;
    for (i = 0; i < c->nnodes; i++) {
      const struct ncell *x = &c->ncells[i * c->k + k];
      const struct node *n = &c->nodes[i];
      struct stv_cost_node *o = &c->out_nodes[nn];
      if (isnan(x->cpu) && isnan(x->ram) && isnan(x->gpu)) continue;
      memset(o, 0, sizeof(*o));
      o->name = n->name;
      o->instance_type = n->instance_type;
      o->zone = n->zone;
      o->provider_id = n->provider_id;
      o->labels = n->labels.n ? &n->labels : NULL;
      o->cpu_cores = or_zero(x->cpu);
      o->ram_bytes = or_zero(x->ram);
      o->gpus = or_zero(x->gpu);
      o->price = -1;
      nn++;
    }
    for (i = 0; i < c->npods; i++) {
      const struct cell *x = &c->cells[i * c->k + k];
      const struct pod *p = &c->pods[i];
      struct stv_cost_pod *o = &c->out_pods[np];
      /* A finished pod's requests hold nothing. */
      int req = !(x->seen & SEEN_FINISHED) && (!isnan(x->v[0]) || !isnan(x->v[1]) || !isnan(x->v[2]));
      if (!req && isnan(x->v[3]) && isnan(x->v[4])) continue;
      memset(o, 0, sizeof(*o));
      o->ns = p->ns;
      o->name = p->name;
      o->node = !req || x->node == NULL ? p->info_node : x->node == PENDING ? NULL : x->node;
      o->labels = p->labels.n ? &p->labels : NULL;
      o->annotations = p->ann.n ? &p->ann : NULL;
      o->owner_kind = p->owner_rank ? p->owner_kind : p->created_kind;
      o->owner_name = p->owner_rank ? p->owner_name : p->created_name;
      o->cpu_req = req ? or_zero(x->v[0]) : 0;
      o->ram_req = req ? or_zero(x->v[1]) : 0;
      o->gpu_req = req ? or_zero(x->v[2]) : 0;
      o->cpu_use = or_unknown(x->v[3]);
      o->ram_use = or_unknown(x->v[4]);
      np++;
    }
    if (nn == 0 && np == 0) continue;
    c->st->data_steps++;
    if (c->st->first_data == 0) c->st->first_data = t;
    c->st->last_data = t;
    if (np > c->st->max_pods) c->st->max_pods = np;
    memset(&s, 0, sizeof(s));
    s.hours = (double)c->step / 3600.0;
    s.t_start = t - c->step;
    s.nodes = c->out_nodes;
    s.nnodes = nn;
    s.pods = c->out_pods;
    s.npods = np;
    if (c->cb != NULL && (rc = c->cb(c->cb_ctx, &s, err)) != 0) {
      char when[32];
      if (rc > 0) stv_err_set(err, STV_EINVAL, "step callback returned %d", rc);
      return stv_err_prefix(err, "step %s", fmt_time(t, when, sizeof(when)));
    }
  }
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
    chunk_reset(&c, t0, k);
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
      if ((rc = chunk_emit(&c, err)) != 0) goto out;
      if (next_k == 0) break;
      chunk_reset(&c, o->start + (int64_t)(done + 1) * o->step, next_k);
      if ((rc = chunk_wait(&c, err)) != 0) goto out;
    }
  }

  fmt_time(o->start, a, sizeof(a));
  fmt_time(o->end, b, sizeof(b));
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
    note(&c, "no %s samples in the window: cpu is costed at its requests", qdefs[Q_CPU].metric);
  if (c.have_metric[Q_MEM] && stats->mem_samples == 0)
    note(&c, "no %s samples in the window: memory is costed at its requests", qdefs[Q_MEM].metric);
  if (stats->nonfinite > 0)
    note(&c, "%zu samples were NaN, infinite or negative and were left out", stats->nonfinite);
  if (stats->data_steps < n_steps) {
    char f[32], l[32];
    note(&c, "%zu of %zu steps between %s and %s had no data (data from %s to %s): the report "
             "covers less than the window",
         n_steps - stats->data_steps, n_steps, a, b, fmt_time(stats->first_data - o->step, f, sizeof(f)),
         fmt_time(stats->last_data, l, sizeof(l)));
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
