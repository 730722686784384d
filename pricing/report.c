/*
 * The cost allocation engine of report.h: prices nodes, splits their
 * price into cpu, ram and gpu parts, allocates them to pods, keeps idle,
 * spreads the shared cost, reconciles to the cent and keeps per-controller
 * usage for right-sizing. Steps are folded into aggregates as they come.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pricing.h"

/* a, sep, b, sep, c into buf (size bytes); returns the length, or size when it does not fit. */
static size_t join3(char *buf, size_t size, const char *a, const char *b, const char *c, char sep) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  if (la + lb + lc + 3 > size) return size;
  memcpy(buf, a, la);
  buf[la] = sep;
  memcpy(buf + la + 1, b, lb);
  buf[la + 1 + lb] = sep;
  memcpy(buf + la + lb + 2, c, lc + 1);
  return la + lb + lc + 2;
}

/* ---------------------------------------------------------------------- */
/* State                                                                  */

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
#define HIST_MIN 1e-4
#define HIST_RATIO 1.01

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
  uint32_t rs;   /* index + 1 of its row in r->rightsize, 0 when none */
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
  size_t epoch;         /* add_step calls so far, failed ones included */
  size_t overcommitted; /* node-steps whose allocations were scaled down */
  size_t assumed_od;    /* nodes taken as on-demand */
  double ratio_cpu, ratio_ram, ratio_gpu;
  char catalog_name[128];
};

static int oom(struct stv_err *err) { return stv_err_set(err, STV_ENOMEM, "out of memory"); }

static const char *pool_get(struct stv_report *r, const char *s) {
  return s != NULL ? stv_strpool_get(&r->pool, s) : NULL;
}

/* ---------------------------------------------------------------------- */
/* Notes                                                                  */

static int vnote(struct stv_report *r, const char *fmt, va_list ap) {
  struct stv__report_state *st = r->st;
  char line[512];
  vsnprintf(line, sizeof(line), fmt, ap);
  if (stv_grow((void **)&r->notes, &st->cap_notes, r->nnotes + 1, sizeof(*r->notes)) != 0)
    return STV_ENOMEM;
  if ((r->notes[r->nnotes] = stv_strdup(line)) == NULL) return STV_ENOMEM;
  r->nnotes++;
  return 0;
}

int stv_report_note(struct stv_report *r, const char *fmt, ...) {
  va_list ap;
  int rc;
  va_start(ap, fmt);
  rc = vnote(r, fmt, ap);
  va_end(ap);
  return rc;
}

/* Adds the note only the first time key is seen. */
static int note_once(struct stv_report *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int note_once(struct stv_report *r, const char *key, const char *fmt, ...) {
  struct stv_strmap_ent *e;
  int added, rc;
  va_list ap;
  if ((rc = stv_strmap_upsert(&r->st->noted, &r->pool, key, strlen(key), 0, &e, &added)) != 0) return rc;
  if (!added) return 0;
  va_start(ap, fmt);
  rc = vnote(r, fmt, ap);
  va_end(ap);
  return rc;
}

void stv_report_set_incomplete(struct stv_report *r) { r->complete = 0; }

/* ---------------------------------------------------------------------- */
/* Parsing helpers                                                        */

int stv_report_format_parse(const char *s, enum stv_report_format *f) {
  static const char *const names[] = {"table", "csv", "json", "html"};
  int i;
  for (i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) {
      *f = (enum stv_report_format)i;
      return 0;
    }
  return STV_EINVAL;
}

int stv_report_by_parse(const char *s, enum stv_report_by *by, const char **key) {
  *key = NULL;
  if (strcmp(s, "namespace") == 0) {
    *by = STV_BY_NAMESPACE;
  } else if (strcmp(s, "controller") == 0) {
    *by = STV_BY_CONTROLLER;
  } else if (strcmp(s, "node") == 0) {
    *by = STV_BY_NODE;
  } else if (strncmp(s, "label:", 6) == 0 && s[6] != '\0') {
    *by = STV_BY_LABEL;
    *key = s + 6;
  } else if (strncmp(s, "annotation:", 11) == 0 && s[11] != '\0') {
    *by = STV_BY_ANNOTATION;
    *key = s + 11;
  } else {
    return STV_EINVAL;
  }
  return 0;
}

const char *stv_report_capacity_type(const struct stv_labels *l) {
  /* Kubernetes label keys and their kube-state-metrics (kube_node_labels) forms. */
  static const char *const direct[] = {"stevedore.io/capacity-type", "label_stevedore_io_capacity_type",
                                       "karpenter.sh/capacity-type", "label_karpenter_sh_capacity_type"};
  static const char *const eks[] = {"eks.amazonaws.com/capacityType", "label_eks_amazonaws_com_capacity_type",
                                    "label_eks_amazonaws_com_capacityType"};
  static const char *const gke[] = {"cloud.google.com/gke-spot", "label_cloud_google_com_gke_spot",
                                    "cloud.google.com/gke-preemptible", "label_cloud_google_com_gke_preemptible"};
  static const char *const azure[] = {"kubernetes.azure.com/scalesetpriority",
                                      "label_kubernetes_azure_com_scalesetpriority"};
  const char *v;
  size_t i;
  if (l == NULL) return NULL;
  for (i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
    v = stv_labels_get(l, direct[i]);
    if (v == NULL) continue;
    if (strcmp(v, "spot") == 0) return "spot";
    if (strcmp(v, "on-demand") == 0) return "on-demand";
    if (strcmp(v, "reserved") == 0) return "reserved";
  }
  for (i = 0; i < sizeof(eks) / sizeof(eks[0]); i++) {
    v = stv_labels_get(l, eks[i]);
    if (v == NULL) continue;
    if (strcmp(v, "SPOT") == 0) return "spot";
    if (strcmp(v, "ON_DEMAND") == 0) return "on-demand";
    if (strcmp(v, "CAPACITY_BLOCK") == 0) return "reserved";
  }
  for (i = 0; i < sizeof(gke) / sizeof(gke[0]); i++) {
    v = stv_labels_get(l, gke[i]);
    if (v != NULL && strcmp(v, "true") == 0) return "spot";
  }
  for (i = 0; i < sizeof(azure) / sizeof(azure[0]); i++) {
    v = stv_labels_get(l, azure[i]);
    if (v != NULL && strcmp(v, "spot") == 0) return "spot";
  }
  return NULL;
}

/* Kubernetes' SafeEncodeString alphabet, used for pod-template-hash. */
static int hash_like(const char *s, size_t n) {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  size_t i;
  if (n < 5 || n > 10) return 0;
  for (i = 0; i < n; i++)
    if (memchr(alphabet, s[i], sizeof(alphabet) - 1) == NULL) return 0;
  return 1;
}

int stv_report_controller_of(const char *owner_kind, const char *owner_name, const struct stv_labels *labels,
                             const char **kind, char *name, size_t size) {
  size_t n;
  const char *dash;
  if (owner_kind == NULL || owner_name == NULL || *owner_kind == '\0' || *owner_name == '\0' || size == 0)
    return STV_ENOTFOUND;
  *kind = owner_kind;
  n = strlen(owner_name);
  if (n >= size) n = size - 1;
  memcpy(name, owner_name, n);
  name[n] = '\0';
  dash = strrchr(name, '-');
  if (dash == NULL || dash == name) return 0;
  if (strcmp(owner_kind, "ReplicaSet") == 0) {
    const char *hash = labels != NULL ? stv_labels_get(labels, "pod-template-hash") : NULL;
    const char *suffix = dash + 1;
    size_t sl = n - (size_t)(suffix - name);
    if ((hash != NULL && strcmp(hash, suffix) == 0) || (hash == NULL && hash_like(suffix, sl))) {
      name[dash - name] = '\0';
      *kind = "Deployment";
    }
  } else if (strcmp(owner_kind, "Job") == 0) {
    const char *p = dash + 1;
    size_t digits = 0;
    while (isdigit((unsigned char)p[digits])) digits++;
    if (digits >= 8 && p[digits] == '\0') {
      name[dash - name] = '\0';
      *kind = "CronJob";
    }
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Init / close                                                           */

static int check_ratio(double v, const char *what, struct stv_err *err) {
  if (!isfinite(v) || v < 0) return stv_err_set(err, STV_EINVAL, "%s: must be a non-negative number", what);
  return 0;
}

int stv_report_init(struct stv_report *r, const struct stv_report_opts *o, struct stv_err *err) {
  struct stv__report_state *st;
  struct stv_price_override *ov = NULL;
  struct stv_provider_capacity *pc = NULL;
  const char *const *shared = o->shared_namespaces;
  static const char *const default_shared[] = {"kube-system"};
  size_t nshared = o->nshared, i;
  int rc;
  char by[300];

  memset(r, 0, sizeof(*r));
  stv_strpool_init(&r->pool);
  r->complete = 1;
  if ((st = stv_calloc(1, sizeof(*st))) == NULL) return oom(err);
  r->st = st;
  r->opts = *o;
  r->opts.shared_namespaces = NULL;
  r->opts.overrides = NULL;
  r->opts.provider_capacity = NULL;

  if ((o->by == STV_BY_LABEL || o->by == STV_BY_ANNOTATION) && (o->by_key == NULL || *o->by_key == '\0'))
    return stv_err_set(err, STV_EINVAL, "--by %s: needs a key (%s:KEY)",
                       o->by == STV_BY_LABEL ? "label" : "annotation",
                       o->by == STV_BY_LABEL ? "label" : "annotation");
  if ((int)o->by < STV_BY_NAMESPACE || o->by > STV_BY_NODE)
    return stv_err_set(err, STV_EINVAL, "--by: unknown grouping");
  if ((rc = check_ratio(o->overhead_hourly, "overhead", err)) != 0) return rc;
  if ((rc = check_ratio(o->ratio_cpu, "ratio cpu", err)) != 0) return rc;
  if ((rc = check_ratio(o->ratio_ram, "ratio ram", err)) != 0) return rc;
  if ((rc = check_ratio(o->ratio_gpu, "ratio gpu", err)) != 0) return rc;
  if (o->default_rates && ((rc = check_ratio(o->default_cpu, "default cpu price", err)) != 0 ||
                           (rc = check_ratio(o->default_ram, "default ram price", err)) != 0 ||
                           (rc = check_ratio(o->default_gpu, "default gpu price", err)) != 0 ||
                           (rc = check_ratio(o->default_spot_cpu, "default spot cpu price", err)) != 0 ||
                           (rc = check_ratio(o->default_spot_ram, "default spot ram price", err)) != 0))
    return rc;
  if (!isfinite(o->margin) || o->margin < 0 || o->margin > 10)
    return stv_err_set(err, STV_EINVAL, "--margin: must be between 0 and 10 (0.2 = 20 %%)");
  st->ratio_cpu = o->ratio_cpu > 0 ? o->ratio_cpu : STV_RATIO_CPU;
  st->ratio_ram = o->ratio_ram > 0 ? o->ratio_ram : STV_RATIO_RAM;
  st->ratio_gpu = o->ratio_gpu > 0 ? o->ratio_gpu : STV_RATIO_GPU;
  r->opts.ratio_cpu = st->ratio_cpu;
  r->opts.ratio_ram = st->ratio_ram;
  r->opts.ratio_gpu = st->ratio_gpu;

  if (o->by_key != NULL && (r->opts.by_key = pool_get(r, o->by_key)) == NULL) return oom(err);
  switch (o->by) {
  case STV_BY_LABEL:
    snprintf(by, sizeof(by), "label:%s", o->by_key);
    break;
  case STV_BY_ANNOTATION:
    snprintf(by, sizeof(by), "annotation:%s", o->by_key);
    break;
  case STV_BY_CONTROLLER:
    snprintf(by, sizeof(by), "controller");
    break;
  case STV_BY_NODE:
    snprintf(by, sizeof(by), "node");
    break;
  default:
    snprintf(by, sizeof(by), "namespace");
  }
  if ((r->by_label = pool_get(r, by)) == NULL) return oom(err);
  if (o->catalog != NULL)
    snprintf(st->catalog_name, sizeof(st->catalog_name), "%s:%s", o->catalog->provider ? o->catalog->provider : "",
             o->catalog->region ? o->catalog->region : "");
  r->currency = pool_get(r, o->currency ? o->currency
                                        : (o->catalog && o->catalog->currency ? o->catalog->currency : "USD"));
  r->opts.currency = r->currency;
  if (r->currency == NULL) return oom(err);
  if (o->source != NULL && (r->opts.source = pool_get(r, o->source)) == NULL) return oom(err);

  if (shared == NULL && nshared == 0) {
    shared = default_shared;
    nshared = 1;
  }
  {
    const char **copy = stv_calloc(nshared + 1, sizeof(*copy));
    if (copy == NULL) return oom(err);
    r->opts.shared_namespaces = copy;
    r->opts.nshared = nshared;
    for (i = 0; i < nshared; i++) {
      struct stv_strmap_ent *e;
      int added;
      if (shared[i] == NULL || *shared[i] == '\0')
        return stv_err_set(err, STV_EINVAL, "--shared-namespaces: empty namespace name");
      if ((copy[i] = pool_get(r, shared[i])) == NULL) return oom(err);
      if (stv_strmap_upsert(&st->shared_set, &r->pool, shared[i], strlen(shared[i]), 0, &e, &added) != 0)
        return oom(err);
    }
  }
  if (o->noverrides > 0) {
    if ((ov = stv_calloc(o->noverrides, sizeof(*ov))) == NULL) return oom(err);
    r->opts.overrides = ov;
    for (i = 0; i < o->noverrides; i++) {
      const struct stv_price_override *x = &o->overrides[i];
      enum stv_capacity_type ct;
      if (!isfinite(x->price) || x->price < 0)
        return stv_err_set(err, STV_EINVAL, "price override %zu: price must be a non-negative number", i);
      if ((x->node == NULL) == (x->instance_type == NULL))
        return stv_err_set(err, STV_EINVAL, "price override %zu: give either a node or an instance type", i);
      if (x->capacity_type != NULL && stv_capacity_type_parse(x->capacity_type, &ct) != 0)
        return stv_err_set(err, STV_EINVAL,
                           "price override %zu: unknown capacity type \"%s\" (use reserved, spot, on-demand)", i,
                           x->capacity_type);
      ov[i].price = x->price;
      if ((x->node && (ov[i].node = pool_get(r, x->node)) == NULL) ||
          (x->instance_type && (ov[i].instance_type = pool_get(r, x->instance_type)) == NULL) ||
          (x->capacity_type && (ov[i].capacity_type = pool_get(r, x->capacity_type)) == NULL))
        return oom(err);
      r->opts.noverrides = i + 1;
    }
  }
  if (o->nprovider_capacity > 0) {
    if ((pc = stv_calloc(o->nprovider_capacity, sizeof(*pc))) == NULL) return oom(err);
    r->opts.provider_capacity = pc;
    for (i = 0; i < o->nprovider_capacity; i++) {
      enum stv_capacity_type ct;
      const struct stv_provider_capacity *x = &o->provider_capacity[i];
      if (x->provider_id == NULL || x->capacity_type == NULL ||
          stv_capacity_type_parse(x->capacity_type, &ct) != 0)
        return stv_err_set(err, STV_EINVAL,
                           "provider capacity %zu: needs a provider id and a capacity type (reserved, spot, "
                           "on-demand)",
                           i);
      if ((pc[i].provider_id = pool_get(r, x->provider_id)) == NULL) return oom(err);
      pc[i].capacity_type = stv_capacity_type_name(ct);
      r->opts.nprovider_capacity = i + 1;
    }
  }
  return 0;
}

void stv_report_close(struct stv_report *r) {
  struct stv__report_state *st = r->st;
  size_t i;
  if (st != NULL) {
    stv_strmap_close(&st->nodes_by_name);
    stv_strmap_close(&st->rows_by_group);
    stv_strmap_close(&st->shared_set);
    stv_strmap_close(&st->shared_by_ns);
    stv_strmap_close(&st->ctl_by_key);
    stv_strmap_close(&st->noted);
    stv_free(st->nodes);
    stv_free(st->rowx);
    for (i = 0; i < st->nctls; i++) {
      stv_free(st->ctls[i].exact);
      stv_free(st->ctls[i].hist);
    }
    stv_free(st->ctls);
    stv_free(st->scratch);
    stv_free(st->step_nodes);
    stv_free(st);
  }
  for (i = 0; i < r->nnotes; i++) stv_free(r->notes[i]);
  stv_free(r->notes);
  stv_free(r->rows);
  stv_free(r->unpriced);
  stv_free(r->default_priced);
  stv_free(r->shared_ns);
  stv_free(r->rightsize);
  stv_free((void *)r->opts.shared_namespaces);
  stv_free((void *)r->opts.overrides);
  stv_free((void *)r->opts.provider_capacity);
  stv_strpool_close(&r->pool);
  memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------------------- */
/* Node pricing                                                           */

static int add_unpriced(struct stv_report *r, struct nrec *n, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int add_unpriced(struct stv_report *r, struct nrec *n, const char *type, const char *fmt, ...) {
  struct stv__report_state *st = r->st;
  struct stv_report_unpriced *u;
  va_list ap;
  if (n->unpriced == 0) {
    if (stv_grow((void **)&r->unpriced, &st->cap_unpriced, r->nunpriced + 1, sizeof(*r->unpriced)) != 0)
      return STV_ENOMEM;
    u = &r->unpriced[r->nunpriced];
    memset(u, 0, sizeof(*u));
    u->node = n->name;
    n->unpriced = (uint32_t)++r->nunpriced;
  }
  u = &r->unpriced[n->unpriced - 1];
  if (type != NULL && (u->instance_type = pool_get(r, type)) == NULL) return STV_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(u->reason, sizeof(u->reason), fmt, ap);
  va_end(ap);
  r->complete = 0;
  return 0;
}

static int same_str(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * A node the explicit price, the overrides and the catalogue cannot price
 * (why says what was missing): with default rates, priced at them and
 * listed in r->default_priced; otherwise listed as unpriced.
 */
static int no_price(struct stv_report *r, struct nrec *n, const char *type, enum stv_capacity_type ct,
                    const char *why, struct stv_err *err) {
  struct stv__report_state *st = r->st;
  struct stv_report_default_priced *d;
  if (!r->opts.default_rates) return add_unpriced(r, n, type, "%s", why) ? oom(err) : 0;
  if (n->defaulted == 0) {
    if (stv_grow((void **)&r->default_priced, &st->cap_default_priced, r->ndefault_priced + 1,
                 sizeof(*r->default_priced)) != 0)
      return oom(err);
    d = &r->default_priced[r->ndefault_priced];
    memset(d, 0, sizeof(*d));
    d->node = n->name;
    n->defaulted = (uint32_t)++r->ndefault_priced;
  }
  d = &r->default_priced[n->defaulted - 1];
  if (type != NULL && (d->instance_type = pool_get(r, type)) == NULL) return oom(err);
  d->capacity_type = stv_capacity_type_name(ct);
  snprintf(d->reason, sizeof(d->reason), "%s", why);
  n->rate_cpu = ct == STV_CT_SPOT ? r->opts.default_spot_cpu : r->opts.default_cpu;
  n->rate_ram = ct == STV_CT_SPOT ? r->opts.default_spot_ram : r->opts.default_ram;
  n->rate_gpu = r->opts.default_gpu;
  n->priced = 1;
  n->by_rate = 1;
  n->price = 0; /* set from the node's allocatable in each step */
  return 0;
}

/* Prices node record n from the inputs of cn; sets n->priced and n->price. */
static int price_node_inner(struct stv_report *r, struct nrec *n, const struct stv_cost_node *cn, int *assumed_od,
                            struct stv_err *err) {
  struct stv__report_state *st = r->st;
  const struct stv_catalog *cat = r->opts.catalog;
  const char *ct = cn->capacity_type, *type = cn->instance_type, *zone = cn->zone;
  enum stv_capacity_type ctv;
  size_t i;
  uint32_t k;
  int rc;
  char key[400], why[512];

  n->priced = 0;
  n->by_rate = 0;
  if (cn->price >= 0) {
    n->priced = 1;
    n->price = cn->price;
    return 0;
  }
  if (ct != NULL) {
    if (stv_capacity_type_parse(ct, &ctv) != 0)
      return stv_err_set(err, STV_EINVAL, "node %s: capacity type: unknown \"%s\" (use reserved, spot, on-demand)",
                         cn->name, ct);
  } else if ((ct = stv_report_capacity_type(cn->labels)) == NULL) {
    for (i = 0; cn->provider_id != NULL && i < r->opts.nprovider_capacity; i++)
      if (strcmp(r->opts.provider_capacity[i].provider_id, cn->provider_id) == 0) {
        ct = r->opts.provider_capacity[i].capacity_type;
        break;
      }
  }
  if (ct == NULL) {
    ct = "on-demand";
    *assumed_od = 1;
  }
  stv_capacity_type_parse(ct, &ctv);
  /* Overrides: by node, then by type and capacity type, then by type. */
  for (i = 0; i < r->opts.noverrides; i++) {
    const struct stv_price_override *o = &r->opts.overrides[i];
    if (o->node != NULL && strcmp(o->node, cn->name) == 0) {
      n->priced = 1;
      n->price = o->price;
      return 0;
    }
  }
  for (k = 0; k < 2; k++)
    for (i = 0; type != NULL && i < r->opts.noverrides; i++) {
      const struct stv_price_override *o = &r->opts.overrides[i];
      if (o->instance_type == NULL || strcmp(o->instance_type, type) != 0) continue;
      if (k == 0 ? (o->capacity_type == NULL || strcmp(o->capacity_type, ct) != 0) : o->capacity_type != NULL)
        continue;
      n->priced = 1;
      n->price = o->price;
      return 0;
    }
  if (type == NULL)
    return no_price(r, n, NULL, ctv,
                    "no instance type (label node.kubernetes.io/instance-type) and no price override", err);
  if (cat == NULL) {
    snprintf(why, sizeof(why), "no catalogue and no price override for %s", type);
    return no_price(r, n, type, ctv, why, err);
  }
  if (stv_catalog_find(cat, type) == NULL) {
    snprintf(why, sizeof(why), "instance type %s is not in the catalogue %s; set its price in the config",
             type, st->catalog_name);
    return no_price(r, n, type, ctv, why, err);
  }
  {
    int zone_mean;
    if (stv_catalog_price(cat, type, ctv, zone, &n->price, &zone_mean, NULL, 0) != 0) {
      snprintf(why, sizeof(why), "the catalogue %s has no %s offering of %s; set its price in the config",
               st->catalog_name, ct, type);
      return no_price(r, n, type, ctv, why, err);
    }
    n->priced = 1;
    if (!zone_mean) return 0;
    snprintf(key, sizeof(key), "zone\x1f%s\x1f%s\x1f%s", type, ct, zone ? zone : "");
    if (zone != NULL)
      rc = note_once(r, key,
                     "%s %s has no offering in zone %s in the catalogue: priced at the mean of its %s offerings in "
                     "other zones (%.4f/h)",
                     type, ct, zone, ct, n->price);
    else
      rc = note_once(r, key, "%s %s nodes without a zone label: priced at the mean of its %s offerings (%.4f/h)",
                     type, ct, ct, n->price);
    return rc ? oom(err) : 0;
  }
}

/* As price_node_inner, counting the nodes priced as on-demand for want of a capacity type. */
static int price_node(struct stv_report *r, struct nrec *n, const struct stv_cost_node *cn, struct stv_err *err) {
  int assumed = 0;
  int rc = price_node_inner(r, n, cn, &assumed, err);
  if (rc == 0 && n->priced && assumed && !n->assumed_on_demand) {
    n->assumed_on_demand = 1;
    r->st->assumed_od++;
  }
  return rc;
}

/* Returns the node record for name, adding it. */
static int node_rec(struct stv_report *r, const char *name, uint32_t *idx) {
  struct stv__report_state *st = r->st;
  struct stv_strmap_ent *e;
  int added;
  if (stv_strmap_upsert(&st->nodes_by_name, &r->pool, name, strlen(name), (uint32_t)st->nnodes, &e, &added) != 0)
    return STV_ENOMEM;
  if (added) {
    struct nrec *n;
    if (stv_grow((void **)&st->nodes, &st->cap_nodes, st->nnodes + 1, sizeof(*st->nodes)) != 0) {
      /* Leave the map consistent: the entry points past the end; remove it. */
      e->val = UINT32_MAX;
      return STV_ENOMEM;
    }
    n = &st->nodes[st->nnodes++];
    memset(n, 0, sizeof(*n));
    n->name = e->key;
  }
  if (e->val == UINT32_MAX) return STV_ENOMEM;
  *idx = e->val;
  return 0;
}

static int find_node(const struct stv__report_state *st, const char *name, uint32_t *idx) {
  size_t n = strlen(name);
  struct stv_strmap_ent *e = stv_strmap_find(&st->nodes_by_name, name, n);
  if (e == NULL || e->val == UINT32_MAX) return 0;
  *idx = e->val;
  return 1;
}

static int bad_num(double v) { return !isfinite(v) || v < 0; }

/* Validates, prices and splits the nodes of a step. */
static int step_nodes(struct stv_report *r, const struct stv_cost_step *s, struct stv_err *err) {
  struct stv__report_state *st = r->st;
  size_t i;
  int rc;
  if (stv_grow((void **)&st->step_nodes, &st->cap_step_nodes, s->nnodes + 1, sizeof(*st->step_nodes)) != 0)
    return oom(err);
  for (i = 0; i < s->nnodes; i++) {
    const struct stv_cost_node *cn = &s->nodes[i];
    struct nrec *n;
    uint32_t idx;
    double wc, wr, wg, w;
    if (cn->name == NULL || *cn->name == '\0') return stv_err_set(err, STV_EINVAL, "nodes[%zu]: name: missing", i);
    if (bad_num(cn->cpu_cores) || bad_num(cn->ram_bytes) || bad_num(cn->gpus))
      return stv_err_set(err, STV_EINVAL, "node %s: allocatable: must be non-negative numbers", cn->name);
    if (isnan(cn->price) || isinf(cn->price))
      return stv_err_set(err, STV_EINVAL, "node %s: price: not a number", cn->name);
    if ((rc = node_rec(r, cn->name, &idx)) != 0) return oom(err);
    n = &st->nodes[idx];
    if (n->in_step && n->last_step == st->epoch)
      return stv_err_set(err, STV_EINVAL, "node %s: listed twice in one step", cn->name);
    if (!n->have_price_key || !same_str(n->k_type, cn->instance_type) || !same_str(n->k_zone, cn->zone) ||
        !same_str(n->k_ct, cn->capacity_type) || !same_str(n->k_pid, cn->provider_id) ||
        n->k_explicit != cn->price) {
      if ((rc = price_node(r, n, cn, err)) != 0) return rc;
      n->k_type = pool_get(r, cn->instance_type);
      n->k_zone = pool_get(r, cn->zone);
      n->k_ct = pool_get(r, cn->capacity_type);
      n->k_pid = pool_get(r, cn->provider_id);
      if ((cn->instance_type && !n->k_type) || (cn->zone && !n->k_zone) || (cn->capacity_type && !n->k_ct) ||
          (cn->provider_id && !n->k_pid))
        return oom(err);
      n->k_explicit = cn->price;
      n->have_price_key = 1;
    }
    n->in_step = 1;
    n->last_step = st->epoch;
    n->cpu_cap = cn->cpu_cores;
    n->ram_cap = cn->ram_bytes;
    n->gpu_cap = cn->gpus;
    n->a_cpu = n->a_ram = n->a_gpu = 0;
    /* Split the price in the fixed ratio, scaled to the price (OpenCost Appendix A). */
    wc = cn->cpu_cores * st->ratio_cpu;
    wr = cn->ram_bytes / 1073741824.0 * st->ratio_ram;
    wg = cn->gpus * st->ratio_gpu;
    w = wc + wr + wg;
    n->cpu_part = n->ram_part = n->gpu_part = 0;
    if (n->by_rate) {
      /* At the default rates the parts are the rates themselves. */
      n->cpu_part = cn->cpu_cores * n->rate_cpu;
      n->ram_part = cn->ram_bytes / 1073741824.0 * n->rate_ram;
      n->gpu_part = cn->gpus * n->rate_gpu;
      n->price = n->cpu_part + n->ram_part + n->gpu_part;
    } else if (n->priced && w > 0) {
      n->cpu_part = n->price * wc / w;
      n->ram_part = n->price * wr / w;
      n->gpu_part = n->price - n->cpu_part - n->ram_part;
      if (wg == 0) {
        n->gpu_part = 0;
        n->ram_part = n->price - n->cpu_part;
      }
    }
    st->step_nodes[i] = idx;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Groups                                                                 */

static int group_key(const struct stv_report *r, const struct stv_cost_pod *p, char *buf, size_t size,
                     const char **key) {
  const char *v = NULL, *kind;
  char name[300];
  switch (r->opts.by) {
  case STV_BY_NAMESPACE:
    *key = p->ns;
    return 0;
  case STV_BY_NODE:
    *key = p->node;
    return 0;
  case STV_BY_LABEL:
    /* The snapshot reader's reserved host-port keys are no pod's labels. */
    v = p->labels && !stv_label_is_host_port(r->opts.by_key) ? stv_labels_get(p->labels, r->opts.by_key) : NULL;
    break;
  case STV_BY_ANNOTATION:
    v = p->annotations ? stv_labels_get(p->annotations, r->opts.by_key) : NULL;
    break;
  case STV_BY_CONTROLLER:
    if (stv_report_controller_of(p->owner_kind, p->owner_name, p->labels, &kind, name, sizeof(name)) == 0 &&
        join3(buf, size, p->ns, kind, name, '/') < size) {
      *key = buf;
      return 0;
    }
    break;
  }
  *key = v != NULL ? v : STV_REPORT_UNALLOCATED;
  return 0;
}

/* Returns the row of group key (adding it), in *row. */
static int row_for(struct stv_report *r, const char *key, uint32_t *row) {
  struct stv__report_state *st = r->st;
  struct stv_strmap_ent *e;
  int added;
  if (stv_strmap_upsert(&st->rows_by_group, &r->pool, key, strlen(key), (uint32_t)r->nrows, &e, &added) != 0)
    return STV_ENOMEM;
  if (added) {
    if (stv_grow((void **)&r->rows, &st->cap_rows, r->nrows + 1, sizeof(*r->rows)) != 0 ||
        stv_grow((void **)&st->rowx, &st->cap_rowx, r->nrows + 1, sizeof(*st->rowx)) != 0) {
      e->val = UINT32_MAX;
      return STV_ENOMEM;
    }
    memset(&r->rows[r->nrows], 0, sizeof(*r->rows));
    memset(&st->rowx[r->nrows], 0, sizeof(*st->rowx));
    r->rows[r->nrows].group = e->key;
    r->nrows++;
  }
  if (e->val == UINT32_MAX) return STV_ENOMEM;
  *row = e->val;
  return 0;
}

static int shared_for(struct stv_report *r, const char *ns, uint32_t *idx) {
  struct stv__report_state *st = r->st;
  struct stv_strmap_ent *e;
  int added;
  if (stv_strmap_upsert(&st->shared_by_ns, &r->pool, ns, strlen(ns), (uint32_t)r->nshared_ns, &e, &added) != 0)
    return STV_ENOMEM;
  if (added) {
    if (stv_grow((void **)&r->shared_ns, &st->cap_shared_ns, r->nshared_ns + 1, sizeof(*r->shared_ns)) != 0) {
      e->val = UINT32_MAX;
      return STV_ENOMEM;
    }
    memset(&r->shared_ns[r->nshared_ns], 0, sizeof(*r->shared_ns));
    r->shared_ns[r->nshared_ns].ns = e->key;
    r->nshared_ns++;
  }
  if (e->val == UINT32_MAX) return STV_ENOMEM;
  *idx = e->val;
  return 0;
}

static int is_shared(const struct stv_report *r, const char *ns) {
  size_t n = strlen(ns);
  return stv_strmap_find(&r->st->shared_set, ns, n) != NULL;
}

/* ---------------------------------------------------------------------- */
/* Right-sizing statistics                                                */

static size_t hist_bucket(double v) {
  double b;
  if (v <= HIST_MIN) return 0;
  b = ceil(log(v / HIST_MIN) / log(HIST_RATIO) - 1e-9);
  if (b < 0) return 0;
  if (b >= HIST_BUCKETS - 1) return HIST_BUCKETS - 1;
  return (size_t)b;
}

static double hist_upper(size_t b) { return HIST_MIN * pow(HIST_RATIO, (double)b); }

/* The right-sizing statistics of p's controller (added when new), or NULL for a pod without one. */
static int ctl_for(struct stv_report *r, const struct stv_cost_pod *p, struct ctl **out) {
  struct stv__report_state *st = r->st;
  const char *kind;
  char name[300], key[700];
  struct stv_strmap_ent *e;
  int added;
  size_t n;
  *out = NULL;
  if (stv_report_controller_of(p->owner_kind, p->owner_name, p->labels, &kind, name, sizeof(name)) != 0) return 0;
  if ((n = join3(key, sizeof(key), p->ns, kind, name, '\x1f')) >= sizeof(key)) return 0;
  if (stv_strmap_upsert(&st->ctl_by_key, &r->pool, key, n, (uint32_t)st->nctls, &e, &added) != 0)
    return STV_ENOMEM;
  if (added) {
    struct ctl *c;
    if (stv_grow((void **)&st->ctls, &st->cap_ctls, st->nctls + 1, sizeof(*st->ctls)) != 0) {
      e->val = UINT32_MAX;
      return STV_ENOMEM;
    }
    c = &st->ctls[st->nctls];
    memset(c, 0, sizeof(*c));
    if ((c->ns = pool_get(r, p->ns)) == NULL || (c->kind = pool_get(r, kind)) == NULL ||
        (c->name = pool_get(r, name)) == NULL) {
      e->val = UINT32_MAX;
      return STV_ENOMEM;
    }
    st->nctls++;
  }
  if (e->val == UINT32_MAX) return STV_ENOMEM;
  *out = &st->ctls[e->val];
  return 0;
}

static int ctl_sample(struct ctl *c, double cpu) {
  if (c->hist == NULL) {
    if (c->exact == NULL && c->n == 0) {
      if ((c->exact = stv_malloc(STV_RIGHTSIZE_EXACT * sizeof(*c->exact))) == NULL) return STV_ENOMEM;
    }
    if (c->n < STV_RIGHTSIZE_EXACT) {
      c->exact[c->n++] = cpu;
      return 0;
    }
    /* Past the exact budget: move the samples into the histogram. */
    if ((c->hist = stv_calloc(HIST_BUCKETS, sizeof(*c->hist))) == NULL) return STV_ENOMEM;
    {
      size_t i;
      for (i = 0; i < c->n; i++) c->hist[hist_bucket(c->exact[i])]++;
    }
    stv_free(c->exact);
    c->exact = NULL;
  }
  c->hist[hist_bucket(cpu)]++;
  c->n++;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* p95 by nearest rank. */
static double ctl_p95(struct ctl *c) {
  size_t rank, i, acc = 0;
  if (c->n == 0) return 0;
  rank = (size_t)ceil(0.95 * (double)c->n - 1e-9);
  if (rank < 1) rank = 1;
  if (c->hist == NULL) {
    qsort(c->exact, c->n, sizeof(*c->exact), cmp_double);
    return c->exact[rank - 1];
  }
  for (i = 0; i < HIST_BUCKETS; i++) {
    acc += c->hist[i];
    if (acc >= rank) return hist_upper(i) < c->cpu_max ? hist_upper(i) : c->cpu_max;
  }
  return c->cpu_max;
}

/* ---------------------------------------------------------------------- */
/* Steps                                                                  */

/* Whether p and q have the same owner by the pointers of their strings. */
static int same_owner(const struct stv_cost_pod *p, const struct stv_cost_pod *q) {
  return p->ns == q->ns && p->owner_kind == q->owner_kind && p->owner_name == q->owner_name &&
         p->labels == q->labels;
}

/* Whether p, not shared, falls in q's group by the pointers of their strings. */
static int same_group(const struct stv_report *r, const struct stv_cost_pod *p, const struct stv_cost_pod *q) {
  switch (r->opts.by) {
  case STV_BY_NAMESPACE:
    return p->ns == q->ns;
  case STV_BY_NODE:
    return p->node == q->node;
  case STV_BY_LABEL:
    return p->labels == q->labels;
  case STV_BY_ANNOTATION:
    return p->annotations == q->annotations;
  case STV_BY_CONTROLLER:
    return same_owner(p, q);
  }
  return 0;
}

int stv_report_add_step(struct stv_report *r, const struct stv_cost_step *s, struct stv_err *err) {
  struct stv__report_state *st = r->st;
  size_t i, step;
  double h = s->hours;
  int rc, last_found, last_shared = 0;
  uint32_t last_idx, last_row = 0, last_ctl = 0;
  const char *last_node;
  const struct stv_cost_pod *prev_row = NULL, *prev_ctl = NULL;
  const char *prev_ns = NULL;
  char kbuf[700];

  if (r->finished) return stv_err_set(err, STV_EINVAL, "report already finished");
  step = ++st->epoch;
  if (!isfinite(h) || h <= 0) return stv_err_set(err, STV_EINVAL, "step: hours must be positive");
  /* Pods first, so that a bad pod leaves the aggregates untouched. */
  for (i = 0; i < s->npods; i++) {
    const struct stv_cost_pod *p = &s->pods[i];
    if (p->ns == NULL || *p->ns == '\0' || p->name == NULL || *p->name == '\0')
      return stv_err_set(err, STV_EINVAL, "pods[%zu]: namespace and name: missing", i);
    if (bad_num(p->cpu_req) || bad_num(p->ram_req) || bad_num(p->gpu_req))
      return stv_err_set(err, STV_EINVAL, "pod %s/%s: requests: must be non-negative numbers", p->ns, p->name);
    if (isnan(p->cpu_use) || isnan(p->ram_use) || isinf(p->cpu_use) || isinf(p->ram_use))
      return stv_err_set(err, STV_EINVAL, "pod %s/%s: usage: not a number", p->ns, p->name);
  }
  if ((rc = step_nodes(r, s, err)) != 0) return rc;
  if (stv_grow((void **)&st->scratch, &st->cap_scratch, s->npods + 1, sizeof(*st->scratch)) != 0) return oom(err);

  /*
   * Pass 1: add up what each node allocates. Consecutive pods often share
   * strings (the same node, namespace, owner), so look-ups are cached by
   * pointer for the length of this call, while the strings are borrowed.
   */
  last_node = NULL;
  last_found = 0;
  last_idx = 0;
  for (i = 0; i < s->npods; i++) {
    const struct stv_cost_pod *p = &s->pods[i];
    struct pscratch *ps = &st->scratch[i];
    struct nrec *n;
    uint32_t idx;
    ps->node = -1;
    if (p->node == NULL || *p->node == '\0') continue;
    if (p->node != last_node) {
      last_node = p->node;
      last_found = find_node(st, p->node, &last_idx);
    }
    if (!last_found) continue;
    idx = last_idx;
    n = &st->nodes[idx];
    if (!n->in_step || n->last_step != step || !n->priced) continue;
    ps->node = (int32_t)idx;
    ps->cpu_a = p->cpu_use >= 0 && p->cpu_use > p->cpu_req ? p->cpu_use : p->cpu_req;
    ps->ram_a = p->ram_use >= 0 && p->ram_use > p->ram_req ? p->ram_use : p->ram_req;
    ps->gpu_a = p->gpu_req;
    n->a_cpu += ps->cpu_a;
    n->a_ram += ps->ram_a;
    n->a_gpu += ps->gpu_a;
  }

  /* Nodes: scale allocations down where they exceed the node; node cost. */
  for (i = 0; i < s->nnodes; i++) {
    struct nrec *n = &st->nodes[st->step_nodes[i]];
    int over = 0;
    n->s_cpu = n->s_ram = n->s_gpu = 1;
    if (!n->priced) {
      r->unpriced[n->unpriced - 1].hours += h;
      continue;
    }
    if (n->a_cpu > n->cpu_cap) n->s_cpu = n->cpu_cap / n->a_cpu, over = 1;
    if (n->a_ram > n->ram_cap) n->s_ram = n->ram_cap / n->a_ram, over = 1;
    if (n->a_gpu > n->gpu_cap) n->s_gpu = n->gpu_cap / n->a_gpu, over = 1;
    st->overcommitted += (size_t)over;
    if (n->by_rate) {
      struct stv_report_default_priced *d = &r->default_priced[n->defaulted - 1];
      d->hourly = n->price;
      d->hours += h;
      d->cost += n->price * h;
    }
    r->totals.node_cost += n->price * h;
    r->totals.cpu_cost += n->cpu_part * h;
    r->totals.ram_cost += n->ram_part * h;
    r->totals.gpu_cost += n->gpu_part * h;
    r->totals.node_hours += h;
    st->cpu_capacity_h += n->cpu_cap * h;
    st->ram_capacity_gib_h += n->ram_cap / 1073741824.0 * h;
    {
      /* Idle: the part of each resource's cost not allocated. */
      double fc = n->cpu_cap > 0 ? n->a_cpu * n->s_cpu / n->cpu_cap : 0;
      double fr = n->ram_cap > 0 ? n->a_ram * n->s_ram / n->ram_cap : 0;
      double fg = n->gpu_cap > 0 ? n->a_gpu * n->s_gpu / n->gpu_cap : 0;
      double ic = n->cpu_part * (1 - fc) * h, ir = n->ram_part * (1 - fr) * h, ig = n->gpu_part * (1 - fg) * h;
      double rest = (n->price - n->cpu_part - n->ram_part - n->gpu_part) * h; /* a price with no capacity */
      r->totals.cpu_idle += ic;
      r->totals.ram_idle += ir;
      r->totals.gpu_idle += ig;
      r->totals.idle += ic + ir + ig + rest;
      n->idle += ic + ir + ig + rest;
    }
  }

  /* Pass 2: cost each pod into its group. */
  for (i = 0; i < s->npods; i++) {
    const struct stv_cost_pod *p = &s->pods[i];
    const struct pscratch *ps = &st->scratch[i];
    struct nrec *n;
    double cpu_rate, ram_rate, gpu_rate, cc, rc_, gc;
    int known_cpu = p->cpu_use >= 0, known_ram = p->ram_use >= 0;
    if (p->node == NULL || *p->node == '\0') {
      r->pods_pending++;
      continue;
    }
    /* Usage statistics for right-sizing, for every running pod, priced or not. */
    if (r->opts.rightsize) {
      struct ctl *c;
      if (prev_ctl != NULL && same_owner(p, prev_ctl)) {
        c = &st->ctls[last_ctl];
      } else {
        if (ctl_for(r, p, &c) != 0) return oom(err);
        if (c != NULL) {
          prev_ctl = p;
          last_ctl = (uint32_t)(c - st->ctls);
        } else {
          prev_ctl = NULL;
        }
      }
      if (c != NULL) {
        if (p->cpu_req > c->cpu_req) c->cpu_req = p->cpu_req;
        if (p->ram_req > c->ram_req) c->ram_req = p->ram_req;
        c->pod_hours += h;
        if (!c->seen || c->last_step != step) {
          c->hours += h;
          c->seen = 1;
          c->last_step = step;
        }
        if (known_cpu) {
          if (ctl_sample(c, p->cpu_use) != 0) return oom(err);
          if (p->cpu_use > c->cpu_max) c->cpu_max = p->cpu_use;
        }
        if (known_ram) {
          c->have_ram = 1;
          if (p->ram_use > c->ram_max) c->ram_max = p->ram_use;
        }
      }
    }
    if (ps->node < 0) {
      uint32_t idx;
      if (find_node(st, p->node, &idx) && st->nodes[idx].in_step && st->nodes[idx].last_step == step) {
        r->pods_unpriced++;
        r->unpriced[st->nodes[idx].unpriced - 1].pods++;
      } else {
        r->pods_no_node++;
      }
      continue;
    }
    n = &st->nodes[ps->node];
    cpu_rate = n->cpu_cap > 0 ? n->cpu_part / n->cpu_cap : 0;       /* per core-hour */
    ram_rate = n->ram_cap > 0 ? n->ram_part / n->ram_cap : 0;       /* per byte-hour */
    gpu_rate = n->gpu_cap > 0 ? n->gpu_part / n->gpu_cap : 0;       /* per device-hour */
    cc = ps->cpu_a * n->s_cpu * cpu_rate * h;
    rc_ = ps->ram_a * n->s_ram * ram_rate * h;
    gc = ps->gpu_a * n->s_gpu * gpu_rate * h;
    r->pods_costed++;
    if (prev_ns == NULL || p->ns != prev_ns) last_shared = is_shared(r, p->ns);
    prev_ns = p->ns;
    if (last_shared) {
      uint32_t si;
      if (shared_for(r, p->ns, &si) != 0) return oom(err);
      r->shared_ns[si].cost += cc + rc_ + gc;
      r->shared_ns[si].pod_hours += h;
      r->shared_ns[si].cpu_req_core_h += p->cpu_req * h;
      r->shared_ns[si].ram_req_gib_h += p->ram_req / 1073741824.0 * h;
      r->shared_ns[si].gpu_h += p->gpu_req * h;
      r->totals.shared += cc + rc_ + gc;
    } else {
      const char *key;
      uint32_t ri;
      struct stv_report_row *row;
      struct rowx *x;
      if (prev_row != NULL && same_group(r, p, prev_row)) {
        ri = last_row;
      } else {
        group_key(r, p, kbuf, sizeof(kbuf), &key);
        if (row_for(r, key, &ri) != 0) return oom(err);
        last_row = ri;
        prev_row = p;
      }
      row = &r->rows[ri];
      x = &st->rowx[ri];
      row->cpu_cost += cc;
      row->ram_cost += rc_;
      row->gpu_cost += gc;
      r->totals.allocated += cc + rc_ + gc;
      row->cpu_req_core_h += p->cpu_req * h;
      row->ram_req_gib_h += p->ram_req / 1073741824.0 * h;
      row->gpu_h += p->gpu_req * h;
      if (known_cpu) {
        row->cpu_use_core_h += p->cpu_use * h;
        x->cpu_req_known += p->cpu_req * h;
        x->use_cost += p->cpu_use * cpu_rate * h;
        x->req_known_cost += p->cpu_req * cpu_rate * h;
      }
      if (known_ram) {
        row->ram_use_gib_h += p->ram_use / 1073741824.0 * h;
        x->ram_req_known += p->ram_req / 1073741824.0 * h;
        x->use_cost += p->ram_use * ram_rate * h;
        x->req_known_cost += p->ram_req * ram_rate * h;
      }
      x->pod_hours += h;
      if (!x->seen || x->last_step != step) {
        row->hours += h;
        x->seen = 1;
        x->last_step = step;
      }
    }
  }
  if (s->t_start != 0) {
    int64_t end = s->t_start + (int64_t)llround(h * 3600.0);
    if (r->window_start == 0 || s->t_start < r->window_start) r->window_start = s->t_start;
    if (end > r->window_end) r->window_end = end;
  }
  r->totals.hours += h;
  r->totals.overhead += r->opts.overhead_hourly * h;
  r->nsteps++;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Finish                                                                 */

struct frac {
  size_t i;
  double f;
};

static int cmp_frac_desc(const void *a, const void *b) {
  const struct frac *x = a, *y = b;
  if (x->f != y->f) return x->f > y->f ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Apportions target cents over values v[0..n) (amounts in currency, times
 * factor), in proportion to the values, largest remainder first, so that
 * the cents add up to target exactly. Writes out[0..n).
 */
static int apportion(const double *v, size_t n, double factor, int64_t target, int64_t *out) {
  struct frac *fr;
  size_t i;
  int64_t sum = 0, rest;
  double total = 0, scale;
  if (n == 0) return 0;
  if ((fr = stv_malloc(n * sizeof(*fr))) == NULL) return STV_ENOMEM;
  for (i = 0; i < n; i++) total += v[i] > 0 ? v[i] * factor * 100.0 : 0;
  scale = total > 0 ? (double)target / total : 0;
  for (i = 0; i < n; i++) {
    double x = v[i] > 0 ? v[i] * factor * 100.0 * scale : 0;
    out[i] = (int64_t)floor(x);
    fr[i].i = i;
    fr[i].f = x - (double)out[i];
    sum += out[i];
  }
  rest = target - sum;
  qsort(fr, n, sizeof(*fr), cmp_frac_desc);
  /* Whole cents left over go to the largest remainders (to the first items when all values are 0). */
  for (i = 0; rest > 0; i = (i + 1) % n, rest--) out[fr[i].i]++;
  /* Float noise may leave the floors above the target: take from the smallest remainders. */
  while (rest < 0) {
    size_t k;
    int took = 0;
    for (k = n; k-- > 0 && rest < 0;)
      if (out[fr[k].i] > 0) {
        out[fr[k].i]--;
        rest++;
        took = 1;
      }
    if (!took) break;
  }
  stv_free(fr);
  return 0;
}

/*
 * Rounds the rows' cpu, ram, gpu and shared amounts to cents so that each
 * row adds up to its total_cents and each column to its own apportioned
 * total (controlled rounding): every cell is its value rounded down or up,
 * and a row's round-ups go to the columns that still need cents most.
 * col receives the column totals actually reached.
 */
static int round_matrix(struct stv_report *r, double factor, int64_t col[4]) {
  size_t i, j, nr = r->nrows;
  int64_t need[4], rows_total = 0;
  double colv[4] = {0, 0, 0, 0};
  double *fracs = NULL;
  int rc = 0;
  if (nr == 0) {
    memset(col, 0, 4 * sizeof(*col));
    return 0;
  }
  fracs = stv_malloc(nr * 4 * sizeof(*fracs));
  if (fracs == NULL) {
    rc = STV_ENOMEM;
    goto out;
  }
  for (i = 0; i < nr; i++) {
    const struct stv_report_row *row = &r->rows[i];
    colv[0] += row->cpu_cost;
    colv[1] += row->ram_cost;
    colv[2] += row->gpu_cost;
    colv[3] += row->shared_cost;
    rows_total += row->total_cents;
  }
  if ((rc = apportion(colv, 4, factor, rows_total, need)) != 0) goto out;
  /* Floors of each row scaled to its total; the cents each row still needs. */
  for (i = 0; i < nr; i++) {
    struct stv_report_row *row = &r->rows[i];
    double v[4] = {row->cpu_cost, row->ram_cost, row->gpu_cost, row->shared_cost};
    int64_t fl[4];
    for (j = 0; j < 4; j++) {
      double x = v[j] > 0 ? v[j] * factor * 100.0 : 0;
      fl[j] = (int64_t)floor(x);
      fracs[i * 4 + j] = x - (double)fl[j];
      need[j] -= fl[j];
    }
    row->cpu_cents = fl[0];
    row->ram_cents = fl[1];
    row->gpu_cents = fl[2];
    row->shared_cents = fl[3];
  }
  for (i = 0; i < nr; i++) {
    struct stv_report_row *row = &r->rows[i];
    int64_t *cell[4] = {&row->cpu_cents, &row->ram_cents, &row->gpu_cents, &row->shared_cents};
    int64_t ups = row->total_cents - (*cell[0] + *cell[1] + *cell[2] + *cell[3]);
    int used[4] = {0, 0, 0, 0};
    while (ups > 0) {
      /* The column with a remainder in this row that needs cents most, then the largest remainder. */
      int best = -1;
      for (j = 0; j < 4; j++) {
        if (used[j]) continue;
        if (best < 0 || (fracs[i * 4 + j] > 0) > (fracs[i * 4 + best] > 0) ||
            ((fracs[i * 4 + j] > 0) == (fracs[i * 4 + best] > 0) &&
             (need[j] > need[best] || (need[j] == need[best] && fracs[i * 4 + j] > fracs[i * 4 + best]))))
          best = (int)j;
      }
      if (best < 0) {
        /* More than one cent per column (float noise): give the rest to the largest cell. */
        int64_t *big = cell[0];
        for (j = 1; j < 4; j++)
          if (*cell[j] > *big) big = cell[j];
        *big += ups;
        break;
      }
      (*cell[best])++;
      need[best]--;
      used[best] = 1;
      ups--;
    }
    while (ups < 0) {
      /* The row's total came out below its floors (float noise): take from the largest cell. */
      int64_t *big = cell[0];
      for (j = 1; j < 4; j++)
        if (*cell[j] > *big) big = cell[j];
      (*big)--;
      ups++;
    }
  }
  memset(col, 0, 4 * sizeof(*col));
  for (i = 0; i < nr; i++) {
    col[0] += r->rows[i].cpu_cents;
    col[1] += r->rows[i].ram_cents;
    col[2] += r->rows[i].gpu_cents;
    col[3] += r->rows[i].shared_cents;
  }
out:
  stv_free(fracs);
  return rc;
}

static int cmp_row(const void *a, const void *b) {
  const struct stv_report_row *x = a, *y = b;
  if (x->total_cents != y->total_cents) return x->total_cents > y->total_cents ? -1 : 1;
  if (x->total != y->total) return x->total > y->total ? -1 : 1;
  return strcmp(x->group, y->group);
}

static int cmp_rightsize(const void *a, const void *b) {
  const struct stv_rightsize_row *x = a, *y = b;
  int ux = x->under_cpu || x->under_ram, uy = y->under_cpu || y->under_ram;
  int c;
  if (ux != uy) return ux ? -1 : 1;
  if (x->monthly_saving_est != y->monthly_saving_est) return x->monthly_saving_est > y->monthly_saving_est ? -1 : 1;
  if ((c = strcmp(x->ns, y->ns)) != 0) return c;
  if ((c = strcmp(x->kind, y->kind)) != 0) return c;
  return strcmp(x->name, y->name);
}

static struct ctl *find_ctl(const struct stv__report_state *st, const char *ns, const char *kind,
                            const char *name) {
  char key[700];
  size_t n = join3(key, sizeof(key), ns, kind, name, '\x1f');
  struct stv_strmap_ent *e;
  if (n >= sizeof(key)) return NULL;
  e = stv_strmap_find(&st->ctl_by_key, key, n);
  return e != NULL && e->val != UINT32_MAX ? &st->ctls[e->val] : NULL;
}

static int finish_rightsize(struct stv_report *r) {
  struct stv__report_state *st = r->st;
  size_t i, k = 0;
  double cpu_price = 0, ram_price = 0;
  if (st->nctls == 0) return 0;
  if ((r->rightsize = stv_calloc(st->nctls, sizeof(*r->rightsize))) == NULL) return STV_ENOMEM;
  /* Mean unit prices: the cpu part of node cost over priced cpu core-hours, likewise memory. */
  if (st->cpu_capacity_h > 0) cpu_price = r->totals.cpu_cost / st->cpu_capacity_h;
  if (st->ram_capacity_gib_h > 0) ram_price = r->totals.ram_cost / st->ram_capacity_gib_h;
  for (i = 0; i < st->nctls; i++) {
    struct ctl *c = &st->ctls[i];
    struct stv_rightsize_row *w = &r->rightsize[k];
    if (c->n == 0 && !c->have_ram) continue;
    w->ns = c->ns;
    w->kind = c->kind;
    w->name = c->name;
    w->replicas = c->hours > 0 ? c->pod_hours / c->hours : 0;
    w->cpu_req = c->cpu_req;
    w->ram_req = c->ram_req;
    w->samples = c->n;
    w->cpu_max = c->cpu_max;
    w->ram_max = c->ram_max;
    if (c->n > 0) {
      w->cpu_p95 = ctl_p95(c);
      w->cpu_suggest = ceil(w->cpu_p95 * (1 + r->opts.margin) * 1000.0 - 1e-6) / 1000.0;
      if (w->cpu_suggest < 0.001) w->cpu_suggest = 0.001;
      w->under_cpu = w->cpu_p95 > w->cpu_req;
    } else {
      w->cpu_p95 = -1;
      w->cpu_suggest = w->cpu_req;
    }
    if (c->have_ram) {
      double mib = 1048576.0;
      w->ram_suggest = ceil(w->ram_max * (1 + r->opts.margin) / mib - 1e-9) * mib;
      if (w->ram_suggest < mib) w->ram_suggest = mib;
      w->under_ram = w->ram_max > w->ram_req;
    } else {
      w->ram_max = -1;
      w->ram_suggest = w->ram_req;
    }
    w->monthly_saving_est = w->replicas *
                            ((w->cpu_req - w->cpu_suggest) * cpu_price +
                             (w->ram_req - w->ram_suggest) / 1073741824.0 * ram_price) *
                            STV_HOURS_PER_MONTH;
    k++;
  }
  r->nrightsize = k;
  if (r->nrightsize > 1) qsort(r->rightsize, r->nrightsize, sizeof(*r->rightsize), cmp_rightsize);
  for (i = 0; i < r->nrightsize; i++) {
    struct ctl *c = find_ctl(st, r->rightsize[i].ns, r->rightsize[i].kind, r->rightsize[i].name);
    if (c != NULL) c->rs = (uint32_t)i + 1;
  }
  return 0;
}

int stv_report_finish(struct stv_report *r, struct stv_err *err) {
  struct stv__report_state *st = r->st;
  struct stv_report_totals *t = &r->totals;
  double shared_total, own_total = 0, factor, *v = NULL;
  int64_t *cents = NULL, total_cents;
  size_t i, n;
  int rc = 0;

  if (r->finished) return 0;
  if (r->nsteps == 0) return stv_err_set(err, STV_ENOTFOUND, "no data: no observation to report on");
  if (t->node_hours == 0 && r->nunpriced == 0) return stv_err_set(err, STV_ENOTFOUND, "no data: no nodes were seen");
  if (t->node_hours == 0)
    return stv_err_set(err, STV_ENOTFOUND, "no node could be priced (%zu unpriced; first: %s: %s)", r->nunpriced,
                       r->unpriced[0].node, r->unpriced[0].reason);
  r->finished = 1;
  shared_total = t->shared + t->overhead;
  t->shared = shared_total;
  for (i = 0; i < r->nrows; i++) own_total += r->rows[i].cpu_cost + r->rows[i].ram_cost + r->rows[i].gpu_cost;
  if (shared_total > 0 && r->nrows == 0) {
    uint32_t ri;
    if (row_for(r, STV_REPORT_SHARED, &ri) != 0) return oom(err);
  }
  /* Spread the shared cost. */
  for (i = 0; i < r->nrows; i++) {
    struct stv_report_row *row = &r->rows[i];
    double own = row->cpu_cost + row->ram_cost + row->gpu_cost;
    if (r->opts.shared_mode == STV_SHARED_PROPORTIONAL && own_total > 0)
      row->shared_cost = shared_total * own / own_total;
    else
      row->shared_cost = shared_total / (double)r->nrows;
    row->total = own + row->shared_cost;
    if (r->opts.by == STV_BY_NODE) {
      uint32_t idx;
      row->idle_share = find_node(st, row->group, &idx) ? st->nodes[idx].idle : 0;
    } else {
      row->idle_share = own_total > 0 ? t->idle * own / own_total : t->idle / (double)r->nrows;
    }
    {
      struct rowx *x = &st->rowx[i];
      row->cpu_efficiency = x->cpu_req_known > 0 ? row->cpu_use_core_h / x->cpu_req_known : -1;
      row->ram_efficiency = x->ram_req_known > 0 ? row->ram_use_gib_h / x->ram_req_known : -1;
      row->efficiency = x->req_known_cost > 0 ? x->use_cost / x->req_known_cost : -1;
      row->pods = row->hours > 0 ? x->pod_hours / row->hours : 0;
    }
  }
  t->difference = (t->node_cost + t->overhead) - (t->allocated + t->shared + t->idle);

  /* Cents of the headline figure, apportioned so that everything adds up. */
  factor = r->opts.point_in_time ? STV_HOURS_PER_MONTH / t->hours : 1.0;
  t->reconciled = fabs(t->difference * factor) < 0.005;
  total_cents = llround((t->node_cost + t->overhead) * factor * 100.0);
  n = r->nrows + 1;
  if ((v = stv_malloc((n + 4) * sizeof(*v))) == NULL || (cents = stv_malloc((n + 4) * sizeof(*cents))) == NULL) {
    rc = oom(err);
    goto out;
  }
  v[0] = t->node_cost;
  v[1] = t->overhead;
  if ((rc = apportion(v, 2, factor, total_cents, cents)) != 0) goto oom;
  t->node_cents = cents[0];
  t->overhead_cents = cents[1];
  for (i = 0; i < r->nrows; i++) v[i] = r->rows[i].total;
  v[r->nrows] = t->idle;
  if ((rc = apportion(v, n, factor, total_cents, cents)) != 0) goto oom;
  t->idle_cents = cents[r->nrows];
  for (i = 0; i < r->nrows; i++) r->rows[i].total_cents = cents[i];
  {
    int64_t col[4];
    if ((rc = round_matrix(r, factor, col)) != 0) goto oom;
    t->allocated_cents = col[0] + col[1] + col[2];
    t->shared_cents = col[3];
  }
  for (i = 0; i < r->nrows; i++) v[i] = r->rows[i].idle_share;
  if (r->opts.by != STV_BY_NODE) {
    if ((rc = apportion(v, r->nrows, factor, t->idle_cents, cents)) != 0) goto oom;
    for (i = 0; i < r->nrows; i++) r->rows[i].idle_share_cents = cents[i];
  } else {
    for (i = 0; i < r->nrows; i++) r->rows[i].idle_share_cents = llround(v[i] * factor * 100.0);
  }
  /* The shared namespaces' own cents, over the shared total's cents. */
  if (r->nshared_ns > 0) {
    double *vs = stv_malloc((r->nshared_ns + 1) * sizeof(*vs));
    int64_t *cs = stv_malloc((r->nshared_ns + 1) * sizeof(*cs));
    if (vs == NULL || cs == NULL) {
      stv_free(vs);
      stv_free(cs);
      goto oom;
    }
    int64_t ns_cents = t->shared_cents - t->overhead_cents;
    for (i = 0; i < r->nshared_ns; i++) vs[i] = r->shared_ns[i].cost;
    rc = apportion(vs, r->nshared_ns, factor, ns_cents > 0 ? ns_cents : 0, cs);
    for (i = 0; rc == 0 && i < r->nshared_ns; i++) r->shared_ns[i].cents = cs[i];
    stv_free(vs);
    stv_free(cs);
    if (rc != 0) goto oom;
  }
  if (r->nrows > 1) qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_row);

  for (i = 0; i < r->nshared_ns; i++)
    r->shared_ns[i].pods = t->hours > 0 ? r->shared_ns[i].pod_hours / t->hours : 0;
  /* The shared row, when there is one, shows the shared namespaces' pods and requests. */
  for (i = 0; i < r->nrows; i++) {
    struct stv_report_row *row = &r->rows[i];
    size_t k;
    if (strcmp(row->group, STV_REPORT_SHARED) != 0) continue;
    row->hours = t->hours;
    for (k = 0; k < r->nshared_ns; k++) {
      row->pods += r->shared_ns[k].pods;
      row->cpu_req_core_h += r->shared_ns[k].cpu_req_core_h;
      row->ram_req_gib_h += r->shared_ns[k].ram_req_gib_h;
      row->gpu_h += r->shared_ns[k].gpu_h;
    }
  }
  if (st->assumed_od > 0 &&
      stv_report_note(r, "%zu node%s without a capacity-type label or provider-id entry: priced as on-demand",
                      st->assumed_od, st->assumed_od == 1 ? "" : "s") != 0)
    goto oom;
  if (st->overcommitted > 0 &&
      stv_report_note(r,
                      "%zu %s%s where max(request, usage) of the pods exceeded the node: their allocations "
                      "were scaled down to the node's capacity",
                      st->overcommitted, r->opts.point_in_time ? "node" : "node sample",
                      st->overcommitted == 1 ? "" : "s") != 0)
    goto oom;
  if (r->ndefault_priced > 0) {
    char names[300];
    size_t len = 0, k;
    names[0] = '\0';
    for (k = 0; k < r->ndefault_priced && k < 5; k++)
      len += (size_t)snprintf(names + len, len < sizeof(names) ? sizeof(names) - len : 0, "%s%s",
                              k ? ", " : "", r->default_priced[k].node);
    if (stv_report_note(
            r,
            "%zu node%s priced at the default rates (per vCPU-hour %g, per GiB-hour %g, per GPU-hour %g; "
            "spot %g and %g) as no override or catalogue offering prices %s: %s%s",
            r->ndefault_priced, r->ndefault_priced == 1 ? "" : "s", r->opts.default_cpu, r->opts.default_ram,
            r->opts.default_gpu, r->opts.default_spot_cpu, r->opts.default_spot_ram,
            r->ndefault_priced == 1 ? "it" : "them", names, r->ndefault_priced > 5 ? ", ..." : "") != 0)
      goto oom;
  }
  if (r->pods_unpriced > 0 &&
      stv_report_note(r, "%zu %s%s on unpriced nodes not costed", r->pods_unpriced,
                      r->opts.point_in_time ? "pod" : "pod sample", r->pods_unpriced == 1 ? "" : "s") != 0)
    goto oom;
  if (r->pods_no_node > 0 &&
      stv_report_note(r, "%zu %s%s on nodes missing from the data not costed", r->pods_no_node,
                      r->opts.point_in_time ? "pod" : "pod sample", r->pods_no_node == 1 ? "" : "s") != 0)
    goto oom;
  if (r->opts.rightsize && (rc = finish_rightsize(r)) != 0) goto oom;
  goto out;
oom:
  rc = oom(err);
out:
  stv_free(v);
  stv_free(cents);
  return rc;
}

const struct stv_rightsize_row *stv_report_rightsize_find(const struct stv_report *r, const char *ns,
                                                          const char *kind, const char *name) {
  const struct ctl *c;
  if (r->st == NULL || (c = find_ctl(r->st, ns, kind, name)) == NULL || c->rs == 0) return NULL;
  return &r->rightsize[c->rs - 1];
}
