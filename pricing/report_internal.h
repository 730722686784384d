/*
 * Internal to the cost report engine (pricing/report.c, report_step.c,
 * report_finish.c): the state behind struct stv_report and the helpers
 * the three files share. Not part of the public API (report.h).
 */
#ifndef STV_REPORT_INTERNAL_H
#define STV_REPORT_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "pricing.h"

/* A node seen in some step, with its price cached for its current inputs. */
struct nrec {
  const char *name;
  /* inputs the cached price was computed from */
  const char *k_type, *k_zone, *k_ct, *k_pid;
  double k_explicit;
  int have_price_key;
  int priced;
  double price;
  uint32_t unpriced; /* index + 1 into r->unpriced, 0 when none */
  int assumed_on_demand;
  /* current step */
  size_t last_step;
  int in_step;
  double cpu_cap, ram_cap, gpu_cap;
  double cpu_part, ram_part, gpu_part; /* hourly parts of the price */
  double a_cpu, a_ram, a_gpu;          /* allocated amounts this step */
  double s_cpu, s_ram, s_gpu;          /* scale of allocations (<= 1) */
  double idle;                         /* accumulated */
  /* priced at the default rates: index + 1 into r->default_priced, and the rates */
  uint32_t defaulted;
  int by_rate; /* priced at the rates for its current inputs */
  double rate_cpu, rate_ram, rate_gpu;
};

/* What the public row does not carry. */
struct rowx {
  size_t last_step;
  int seen;
  double pod_hours;
  double cpu_req_known, ram_req_known; /* requests of pod-steps with usage known */
  double use_cost, req_known_cost;     /* cost-weighted usage and request */
};

/* Per-controller usage statistics for right-sizing. */
#define HIST_BUCKETS 1853
#define HIST_MIN     1e-4
#define HIST_RATIO   1.01

struct ctl {
  const char *ns, *kind, *name;
  double cpu_req, ram_req;
  double pod_hours, hours;
  size_t last_step;
  int seen;
  double cpu_max, ram_max;
  int have_ram;
  size_t n;      /* cpu samples */
  double *exact; /* up to STV_RIGHTSIZE_EXACT samples, then NULL */
  uint32_t *hist;
  uint32_t rs; /* index + 1 of its row in r->rightsize, 0 when none */
};

/* Per pod of the current step. */
struct pscratch {
  int32_t node; /* index into nodes, -1 when not costed */
  double cpu_a, ram_a, gpu_a;
};

struct stv__report_state {
  struct stv_strmap nodes_by_name;
  struct nrec *nodes;
  size_t nnodes, cap_nodes;
  struct stv_strmap rows_by_group;
  size_t cap_rows;
  struct rowx *rowx;
  size_t cap_rowx;
  struct stv_strmap shared_set; /* shared namespace names */
  struct stv_strmap shared_by_ns;
  size_t cap_shared_ns;
  struct stv_strmap ctl_by_key;
  struct ctl *ctls;
  size_t nctls, cap_ctls;
  struct stv_strmap noted; /* notes made once */
  size_t cap_notes, cap_unpriced;
  size_t cap_default_priced;
  struct pscratch *scratch;
  size_t cap_scratch;
  uint32_t *step_nodes; /* nrec index of each node of the current step */
  size_t cap_step_nodes;
  double cpu_capacity_h, ram_capacity_gib_h; /* priced node capacity x hours */
  size_t epoch;                              /* add_step calls so far, failed ones included */
  size_t overcommitted;                      /* node-steps whose allocations were scaled down */
  size_t assumed_od;                         /* nodes taken as on-demand */
  double ratio_cpu, ratio_ram, ratio_gpu;
  char catalog_name[128];
};

static inline int oom(struct stv_err *err) {
  return stv_err_set(err, STV_ENOMEM, "out of memory");
}

static inline const char *pool_get(struct stv_report *r, const char *s) {
  return s != NULL ? stv_strpool_get(&r->pool, s) : NULL;
}

/* a, sep, b, sep, c into buf (size bytes); returns the length, or size when it does not fit. */
size_t stv__report_join3(char *buf, size_t size, const char *a, const char *b, const char *c, char sep);

/* Adds the note only the first time key is seen. Returns 0 or STV_ENOMEM. */
int stv__report_note_once(struct stv_report *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets *idx to the record of node name; returns 1 when found, else 0. */
int stv__report_find_node(const struct stv__report_state *st, const char *name, uint32_t *idx);

/* Returns the row of group key (adding it), in *row. */
int stv__report_row_for(struct stv_report *r, const char *key, uint32_t *row);

/* The 95th percentile of a controller's cpu samples. */
double stv__report_ctl_p95(struct ctl *c);

#endif
