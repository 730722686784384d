/*
 * report: cost allocation, after the OpenCost specification. Included
 * through pricing/pricing.h.
 *
 * The engine takes observation intervals ("steps"): the nodes and pods of
 * the cluster as seen at one time, standing for `hours` of running. A
 * point-in-time report (a snapshot) is one step of one hour; a Prometheus
 * window is one step per evaluation timestamp. Steps are folded into
 * per-group, per-node and per-controller aggregates as they arrive and are
 * not kept, so memory follows the number of groups, nodes and controllers,
 * not the number of steps.
 *
 * For each step and node:
 *   - the node's hourly price: an explicit price on the node record, else
 *     an override (by node name, then by instance type and capacity type),
 *     else the catalogue's offering for its instance type, capacity type
 *     and zone (the type's offerings of that capacity type in other zones,
 *     averaged, when the zone has none; a note says so). A node without a
 *     price is listed as unpriced with the reason and left out of every
 *     total; the report is then marked incomplete.
 *   - the price is split into cpu, ram and gpu parts in the fixed ratio
 *     ratio_cpu per core : ratio_ram per GiB : ratio_gpu per device, scaled
 *     so that the parts add up to the node's price (OpenCost Appendix A).
 *   - each pod on the node is allocated max(request, usage) of cpu and ram
 *     (the request alone when usage is unknown) and its gpu request, at the
 *     node's per-unit rates. Should the pods on a node be allocated more of
 *     a resource than it has, their allocations of that resource are scaled
 *     down to the node's amount (a note counts such node-steps).
 *   - idle = the node's cost not allocated to any pod.
 * Pods of the shared namespaces, and the fixed overhead, form the shared
 * cost, spread over the other groups evenly or in proportion to their
 * cost when the report is finished. So every report reconciles:
 *   allocated + shared + idle = node cost + overhead,
 * checked in floating point and made exact in cents by apportioning (see
 * struct stv_report_totals).
 *
 * Usage: stv_report_init, stv_report_add_step once per step (any order),
 * stv_report_finish, then read the public fields or stv_report_render,
 * and stv_report_close.
 */
#ifndef STV_REPORT_H
#define STV_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "packer.h"

struct stv_catalog;

/* Hours in the monthly projection. */
#define STV_HOURS_PER_MONTH 730.0

/*
 * Default price ratios for splitting a node's price, from OpenCost's
 * default pricing (configs/default.json, "based on GCP us-central1"):
 * per vCPU-hour, per GiB-hour of memory, per GPU-hour. Only their ratio
 * matters: the parts are scaled to the node's price.
 */
#define STV_RATIO_CPU 0.031611
#define STV_RATIO_RAM 0.004237
#define STV_RATIO_GPU 0.95
/*
 * OpenCost's default rates for spot nodes (configs/default.json: spotCPU,
 * spotRAM). The on-demand default rates are STV_RATIO_* above.
 */
#define STV_DEFAULT_SPOT_CPU 0.006655
#define STV_DEFAULT_SPOT_RAM 0.000892

/* The group a pod without the grouping key falls into (OpenCost's name). */
#define STV_REPORT_UNALLOCATED "__unallocated__"
/* The row holding shared cost when there is no other group to spread it on. */
#define STV_REPORT_SHARED "__shared__"

/* ---------------------------------------------------------------------- */
/* Options                                                                */

enum stv_report_by {
  STV_BY_NAMESPACE = 0,
  STV_BY_LABEL,      /* by_key: a pod label */
  STV_BY_ANNOTATION, /* by_key: a pod annotation */
  STV_BY_CONTROLLER, /* "namespace/Kind/name" (Deployment, StatefulSet, ...) */
  STV_BY_NODE
};

enum stv_shared_mode {
  STV_SHARED_EVEN = 0,     /* the same amount to every group */
  STV_SHARED_PROPORTIONAL  /* in proportion to each group's own cost */
};

enum stv_report_format {
  STV_REPORT_TABLE = 0,
  STV_REPORT_CSV,
  STV_REPORT_JSON,
  STV_REPORT_HTML
};

/*
 * A price set by the user (negotiated, reserved, savings-plan rates). With
 * node set it applies to that node; otherwise to every node of
 * instance_type, of capacity_type when that is set (NULL = any).
 */
struct stv_price_override {
  const char *node;
  const char *instance_type;
  const char *capacity_type; /* "reserved", "spot", "on-demand" or NULL */
  double price;              /* per hour, >= 0 */
};

/* A node's capacity type known from its provider id (spec.providerID). */
struct stv_provider_capacity {
  const char *provider_id;
  const char *capacity_type; /* "reserved", "spot" or "on-demand" */
};

/*
 * What to report and how. Every pointer is borrowed for the duration of
 * stv_report_init only (strings and arrays are copied), except catalog,
 * which must outlive the last stv_report_add_step.
 */
struct stv_report_opts {
  const struct stv_catalog *catalog; /* may be NULL: explicit prices only */
  enum stv_report_by by;
  const char *by_key; /* label or annotation key for STV_BY_LABEL/ANNOTATION */
  /*
   * Shared namespaces. NULL with nshared 0 means the default, kube-system;
   * a non-NULL array with nshared 0 means none.
   */
  const char *const *shared_namespaces;
  size_t nshared;
  enum stv_shared_mode shared_mode;
  double overhead_hourly; /* fixed overhead per hour (control plane, ...) */
  /* Split ratios; 0 means the STV_RATIO_* default. */
  double ratio_cpu, ratio_ram, ratio_gpu;
  const struct stv_price_override *overrides;
  size_t noverrides;
  const struct stv_provider_capacity *provider_capacity;
  size_t nprovider_capacity;
  int point_in_time; /* headline figures are the monthly projection */
  int rightsize;     /* keep per-controller usage statistics */
  double margin;     /* right-sizing headroom over observed usage, e.g. 0.2 */
  const char *source;   /* what the data is, for the heading: "snapshot x.json" */
  const char *currency; /* NULL: the catalogue's, else "USD" */
  /*
   * Default rates: when set, a node that neither an explicit price, an
   * override nor the catalogue can price is priced at rate x allocatable
   * (per core-hour, per GiB-hour, per GPU-hour; the spot rates for spot
   * nodes) and listed in default_priced instead of unpriced. The rates are
   * taken as given (OpenCost's defaults are STV_RATIO_* and STV_DEFAULT_SPOT_*).
   */
  int default_rates;
  double default_cpu, default_ram, default_gpu, default_spot_cpu, default_spot_ram;
};

/* ---------------------------------------------------------------------- */
/* Steps                                                                  */

/*
 * A node as seen in one step. Strings are borrowed for the call. When
 * capacity_type is NULL it is taken from labels (stevedore.io/capacity-type,
 * karpenter.sh/capacity-type, eks.amazonaws.com/capacityType,
 * cloud.google.com/gke-spot, cloud.google.com/gke-preemptible,
 * kubernetes.azure.com/scalesetpriority, or their kube-state-metrics forms
 * label_karpenter_sh_capacity_type, ...), else from the provider-id table,
 * else the node is taken as on-demand (a note counts such nodes).
 */
struct stv_cost_node {
  const char *name;
  const char *instance_type; /* NULL when unknown */
  const char *zone;          /* NULL when unknown */
  const char *capacity_type; /* "reserved", "spot", "on-demand" or NULL */
  const char *provider_id;   /* spec.providerID or NULL */
  const struct stv_labels *labels; /* may be NULL */
  double cpu_cores;          /* allocatable */
  double ram_bytes;
  double gpus;
  double price;              /* explicit hourly price, or negative: look up */
};

/*
 * A pod as seen in one step. Strings are borrowed for the call. The owner
 * is the controller ownerReference as Kubernetes records it: the engine
 * maps a ReplicaSet to its Deployment (by the pod-template-hash label, or
 * a hash-like last name segment when there are no labels) and a Job to its
 * CronJob (a numeric last name segment of 8 digits or more).
 */
struct stv_cost_pod {
  const char *ns;
  const char *name;
  const char *node; /* NULL when not on a node (pending): not costed */
  const struct stv_labels *labels;      /* may be NULL */
  const struct stv_labels *annotations; /* may be NULL */
  const char *owner_kind; /* NULL when none */
  const char *owner_name;
  double cpu_req; /* cores */
  double ram_req; /* bytes */
  double gpu_req; /* devices */
  double cpu_use; /* cores, mean over the step; negative when unknown */
  double ram_use; /* bytes, working set; negative when unknown */
};

/* One observation interval. */
struct stv_cost_step {
  double hours;    /* the time this observation stands for, > 0 */
  int64_t t_start; /* unix seconds; 0 when unknown */
  const struct stv_cost_node *nodes;
  size_t nnodes;
  const struct stv_cost_pod *pods;
  size_t npods;
};

/* ---------------------------------------------------------------------- */
/* Result                                                                 */

/*
 * One group. Amounts are in the report's currency, summed over the steps
 * (for a point-in-time report: per hour). The *_cents fields are the
 * headline figure (the window's cost, or the monthly projection for a
 * point-in-time report) in whole cents, apportioned so that they add up
 * exactly: cpu + ram + gpu + shared = total, and over rows and idle to the
 * totals.
 */
struct stv_report_row {
  const char *group; /* interned in the report */
  double cpu_cost, ram_cost, gpu_cost; /* own allocation */
  double shared_cost; /* this group's part of the shared cost */
  double total;       /* cpu + ram + gpu + shared */
  /*
   * Idle cost this group would carry if idle were charged back in
   * proportion to own cost (for --by node: that node's own idle). Not in
   * total.
   */
  double idle_share;
  double cpu_req_core_h, cpu_use_core_h; /* usage: pods with usage known */
  double ram_req_gib_h, ram_use_gib_h;
  double gpu_h;
  /* usage / request over pods with usage known; negative when unknown */
  double cpu_efficiency, ram_efficiency;
  double efficiency; /* cost-weighted cpu and ram together */
  double hours;      /* hours in which the group had a costed pod */
  double pods;       /* mean pods over those hours */
  int64_t cpu_cents, ram_cents, gpu_cents, shared_cents, total_cents;
  int64_t idle_share_cents;
};

/*
 * Totals. node_cost + overhead = allocated + shared + idle; difference is
 * what floating point leaves of that (reconciled when below half a cent
 * of the headline figure). In cents the identity is exact.
 */
struct stv_report_totals {
  double node_cost;  /* priced nodes */
  double cpu_cost, ram_cost, gpu_cost; /* node_cost split */
  double overhead;
  double allocated;  /* groups' own allocations (shared namespaces excluded) */
  double shared;     /* shared namespaces' allocations + overhead */
  double idle;
  double cpu_idle, ram_idle, gpu_idle;
  double difference;
  int reconciled;
  int64_t node_cents, overhead_cents, allocated_cents, shared_cents, idle_cents;
  double hours;      /* hours covered by the steps */
  double node_hours; /* priced node-hours */
};

/* A node that could not be priced. */
struct stv_report_unpriced {
  const char *node;          /* interned */
  const char *instance_type; /* interned or NULL */
  char reason[200];
  double hours; /* hours it was seen */
  size_t pods;  /* pod-steps left uncosted on it */
};

/* A node priced at the default rates (stv_report_opts.default_rates). */
struct stv_report_default_priced {
  const char *node;          /* interned */
  const char *instance_type; /* interned or NULL */
  const char *capacity_type; /* "reserved", "spot", "on-demand" (static) */
  char reason[200];          /* why the catalogue and overrides could not price it */
  double hourly;             /* its price at the rates, as last seen */
  double hours;              /* hours it was seen */
  double cost;               /* price x hours, summed over the steps */
};

/* A shared namespace's own allocation, before it is spread. */
struct stv_report_shared_ns {
  const char *ns;
  double cost;
  int64_t cents;
  /* Its costed pods, summed over the steps (x hours), and their mean over the report's hours. */
  double pod_hours, cpu_req_core_h, ram_req_gib_h, gpu_h;
  double pods;
};

/*
 * Right-sizing of one controller. Usage statistics are per pod sample (one
 * per pod and step): cpu p95 from the exact samples while there are at
 * most STV_RIGHTSIZE_EXACT of them, else from a log-scale histogram with
 * buckets 1 % wide from 0.1 millicore to 10,000 cores (the bucket's upper
 * edge, so at most 1 % high); memory is the maximum working set.
 */
#define STV_RIGHTSIZE_EXACT 256
struct stv_rightsize_row {
  const char *ns, *kind, *name; /* interned */
  double replicas;              /* mean pods over the hours seen */
  double cpu_req, ram_req;      /* per pod (cores, bytes): largest seen */
  double cpu_p95, cpu_max, ram_max; /* observed per pod */
  double cpu_suggest, ram_suggest;  /* margin added, rounded up to 1m / 1Mi */
  size_t samples;
  int under_cpu, under_ram; /* usage above request: risk of throttling/eviction */
  /*
   * (current - suggested requests) x replicas x 730 h at the cluster's
   * mean cpu and ram unit prices: an estimate per controller. The
   * re-packed figure for the whole cluster is in stv_report_repack.
   */
  double monthly_saving_est;
};

/*
 * The cluster re-packed (by the caller, with stv_pack) once with the
 * current requests and once with the suggested ones, on new nodes of the
 * same catalogue. Filled by whoever runs the repack; done = 0 otherwise.
 */
struct stv_report_repack {
  int done;
  double current_hourly, suggested_hourly;
  size_t current_nodes, suggested_nodes;
  size_t current_unschedulable, suggested_unschedulable;
  double monthly_saving; /* (current_hourly - suggested_hourly) x 730 */
  char note[256];
};

struct stv__report_state;

struct stv_report {
  struct stv_report_opts opts; /* copies; strings interned in pool */
  const char *by_label;        /* "namespace", "label:team", ... */
  const char *currency;
  struct stv_report_row *rows; /* sorted by total, descending */
  size_t nrows;
  struct stv_report_totals totals;
  struct stv_report_unpriced *unpriced;
  size_t nunpriced;
  struct stv_report_shared_ns *shared_ns;
  size_t nshared_ns;
  struct stv_rightsize_row *rightsize; /* under-requested first, then saving */
  size_t nrightsize;
  struct stv_report_repack repack;
  char **notes; /* one line each */
  size_t nnotes;
  int complete;  /* 0 when nodes were unpriced or data was partial */
  size_t nsteps;
  int64_t window_start, window_end; /* unix seconds; 0 when unknown */
  size_t pods_costed;   /* pod-steps costed (pods, for one step) */
  size_t pods_pending;  /* pod-steps without a node */
  size_t pods_unpriced; /* pod-steps on unpriced nodes */
  size_t pods_no_node;  /* pod-steps on nodes missing from the step */
  int finished;
  struct stv_strpool pool;
  struct stv__report_state *st; /* aggregation state (private) */
  struct stv_report_default_priced *default_priced; /* in the order first seen */
  size_t ndefault_priced;
};

/* ---------------------------------------------------------------------- */
/* Functions                                                              */

/*
 * Initialises r (caller-allocated) for o (borrowed; see stv_report_opts).
 * Returns 0, STV_EINVAL for bad options (by_key missing, negative
 * overhead or ratios, an override without a price, ...) or STV_ENOMEM;
 * err says which option. Close r with stv_report_close whatever the result.
 */
int stv_report_init(struct stv_report *r, const struct stv_report_opts *o,
                    struct stv_err *err);

/*
 * Folds step s (borrowed for the call) into r. Returns 0, STV_EINVAL for a
 * bad value (hours not positive, a negative or non-finite request, a
 * missing name) with err naming the node or pod and the field, or
 * STV_ENOMEM. On error r stays valid but must not be reported (the caller
 * reports the error instead).
 */
int stv_report_add_step(struct stv_report *r, const struct stv_cost_step *s,
                        struct stv_err *err);

/*
 * Adds a note (printf-style) to the report, for what a reader should know
 * ("12 of 2016 steps had no data"). A note that makes the report partial
 * should be followed by stv_report_set_incomplete. Returns 0 or STV_ENOMEM.
 */
int stv_report_note(struct stv_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Marks the report incomplete ("complete": false). */
void stv_report_set_incomplete(struct stv_report *r);

/*
 * Spreads the shared cost, computes efficiencies, idle shares, cents and
 * right-sizing suggestions, and sorts. Call once after the last step.
 * Returns 0, STV_ENOTFOUND when no step was added or no node could be
 * priced at all ("no data"), or STV_ENOMEM.
 */
int stv_report_finish(struct stv_report *r, struct stv_err *err);

/* Frees everything r holds. Safe on a zeroed or failed-init report. */
void stv_report_close(struct stv_report *r);

/*
 * Appends r, finished, to out (caller-owned) in format f. Returns 0,
 * STV_EUNSUPPORTED for html when this program was built without the HTML
 * renderer, or out's error (STV_ENOMEM).
 */
int stv_report_render(const struct stv_report *r, enum stv_report_format f,
                      struct stv_buf *out, struct stv_err *err);

/* The renderers behind stv_report_render; same contract. */
int stv_report_render_table(const struct stv_report *r, struct stv_buf *out,
                            struct stv_err *err);
int stv_report_render_csv(const struct stv_report *r, struct stv_buf *out,
                          struct stv_err *err);
int stv_report_render_json(const struct stv_report *r, struct stv_buf *out,
                           struct stv_err *err);
/* In report_html.c: one self-contained HTML page. */
int stv_report_render_html(const struct stv_report *r, struct stv_buf *out,
                           struct stv_err *err);

/* Parses "table", "csv", "json", "html"; STV_EINVAL otherwise. */
int stv_report_format_parse(const char *s, enum stv_report_format *f);
/*
 * Parses --by: "namespace", "controller", "node", "label:KEY",
 * "annotation:KEY". *key points into s (borrowed). STV_EINVAL otherwise.
 */
int stv_report_by_parse(const char *s, enum stv_report_by *by,
                        const char **key);

/*
 * The controller a pod belongs to, from its owner reference (see
 * stv_cost_pod): writes the kind (static string or owner_kind) to *kind
 * and the name into name (size bytes). Returns 0, or STV_ENOTFOUND when
 * the pod has no owner.
 */
int stv_report_controller_of(const char *owner_kind, const char *owner_name,
                             const struct stv_labels *labels,
                             const char **kind, char *name, size_t size);

/*
 * Normalised capacity type ("reserved", "spot", "on-demand", static) from
 * node labels (Kubernetes keys or their kube-state-metrics label_* forms),
 * or NULL.
 */
const char *stv_report_capacity_type(const struct stv_labels *labels);

/*
 * The right-sizing row of controller ns/kind/name (borrowed), or NULL.
 * Valid after stv_report_finish.
 */
const struct stv_rightsize_row *stv_report_rightsize_find(
    const struct stv_report *r, const char *ns, const char *kind,
    const char *name);

#endif
