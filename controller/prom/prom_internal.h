/*
 * Internal to the Prometheus client (controller/prom/): the state of one
 * collection, shared by prom.c (the queries, their requests, the chunks of
 * the window) and prom_collect.c (the pivot of the series into per-step
 * tables and the steps handed to the caller).
 */
#ifndef STV_PROM_INTERNAL_H
#define STV_PROM_INTERNAL_H

#include <stdint.h>

#include "io.h"
#include "prom.h"

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

/* Containers of a pod told apart, so that a duplicate series counts once. */
#define PROM_CONTAINERS 12
/* In struct cell's seen: container c of value v (0..4) was added. */
#define SEEN_BIT(v, c) ((uint64_t)1 << ((v)*PROM_CONTAINERS + (c)))
#define SEEN_REQ       (((uint64_t)1 << (3 * PROM_CONTAINERS)) - 1)
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
  const char *ns, *name;                   /* interned: the key */
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
  int preflight;          /* the metric names of the window, not a query */
  struct stv_http_req *h; /* while in flight */
  char *url, *form;       /* the request: a POST of form, or a GET when NULL */
  struct stv_prom_parser *parser;
  int rc; /* the parser's or callback's failure */
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
  char *key;                 /* pod_key()'s buffer */
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

/* Formats unix seconds as "2026-11-19T00:00Z" (seconds shown when not 0). */
const char *prom_fmt_time(int64_t t, char *buf, size_t size);

/* Hands msg to the caller's note callback, if any. */
void prom_note(struct coll *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The series callback of the per-chunk queries: ctx is the struct req. */
int prom_on_series(void *ctx, const struct stv_prom_series *s, struct stv_err *err);

/* Empties the chunk's tables for k steps from t0. */
void prom_chunk_reset(struct coll *c, int64_t t0, size_t k);

/* Hands each step of the chunk that has data to the callback. */
int prom_chunk_emit(struct coll *c, struct stv_err *err);

#endif
