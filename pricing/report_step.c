/*
 * The steps of a cost report (report.h): each node priced (catalogue,
 * overrides, default rates) and split into cpu, ram and gpu parts, each
 * pod allocated max(request, usage) of its node and costed into its group
 * or a shared namespace, idle kept, and per-controller usage kept for
 * right-sizing. Steps are folded into aggregates as they come.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

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
static int price_node_inner(struct stv_report *r, struct nrec *n, const struct stv_cost_node *cn,
                            int *assumed_od, struct stv_err *err) {
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
      return stv_err_set(err, STV_EINVAL,
                         "node %s: capacity type: unknown \"%s\" (use reserved, spot, on-demand)", cn->name,
                         ct);
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
      rc = stv__report_note_once(
          r, key,
          "%s %s has no offering in zone %s in the catalogue: priced at the mean of its %s offerings in "
          "other zones (%.4f/h)",
          type, ct, zone, ct, n->price);
    else
      rc = stv__report_note_once(
          r, key, "%s %s nodes without a zone label: priced at the mean of its %s offerings (%.4f/h)", type,
          ct, ct, n->price);
    return rc ? oom(err) : 0;
  }
}

/* As price_node_inner, counting the nodes priced as on-demand for want of a capacity type. */
static int price_node(struct stv_report *r, struct nrec *n, const struct stv_cost_node *cn,
                      struct stv_err *err) {
  int assumed = 0;
  int rc = price_node_inner(r, n, cn, &assumed, err);
  if (rc == 0 && n->priced && assumed && !n->assumed_on_demand) {
    n->assumed_on_demand = 1;
    r->st->assumed_od++;
  }
  return rc;
}

/*
 * Finds key in map, or adds it with index n, the length of the array *arr
 * (elements of size bytes, capacity *cap), which grows by a zeroed element.
 * Returns 1 when added, 0 when found, or STV_ENOMEM (a failed addition
 * leaves the entry marked UINT32_MAX, so that the map stays consistent).
 */
static int slot_for(struct stv_report *r, struct stv_strmap *map, const char *key, size_t n, void **arr,
                    size_t *cap, size_t size, struct stv_strmap_ent **e) {
  int added;
  if (stv_strmap_upsert(map, &r->pool, key, strlen(key), (uint32_t)n, e, &added) != 0) return STV_ENOMEM;
  if (!added) return (*e)->val == UINT32_MAX ? STV_ENOMEM : 0;
  if (stv_grow(arr, cap, n + 1, size) != 0) {
    (*e)->val = UINT32_MAX;
    return STV_ENOMEM;
  }
  memset((char *)*arr + n * size, 0, size);
  return 1;
}

/* Returns the node record for name, adding it. */
static int node_rec(struct stv_report *r, const char *name, uint32_t *idx) {
  struct stv__report_state *st = r->st;
  struct stv_strmap_ent *e;
  int rc = slot_for(r, &st->nodes_by_name, name, st->nnodes, (void **)&st->nodes, &st->cap_nodes,
                    sizeof(*st->nodes), &e);
  if (rc < 0) return rc;
  if (rc == 1) st->nodes[st->nnodes++].name = e->key;
  *idx = e->val;
  return 0;
}

int stv__report_find_node(const struct stv__report_state *st, const char *name, uint32_t *idx) {
  size_t n = strlen(name);
  struct stv_strmap_ent *e = stv_strmap_find(&st->nodes_by_name, name, n);
  if (e == NULL || e->val == UINT32_MAX) return 0;
  *idx = e->val;
  return 1;
}

static int bad_num(double v) {
  return !isfinite(v) || v < 0;
}

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
    if (cn->name == NULL || *cn->name == '\0')
      return stv_err_set(err, STV_EINVAL, "nodes[%zu]: name: missing", i);
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
    v = p->labels && !stv_label_is_host_port(r->opts.by_key) ? stv_labels_get(p->labels, r->opts.by_key)
                                                             : NULL;
    break;
  case STV_BY_ANNOTATION:
    v = p->annotations ? stv_labels_get(p->annotations, r->opts.by_key) : NULL;
    break;
  case STV_BY_CONTROLLER:
    if (stv_report_controller_of(p->owner_kind, p->owner_name, p->labels, &kind, name, sizeof(name)) == 0 &&
        stv__report_join3(buf, size, p->ns, kind, name, '/') < size) {
      *key = buf;
      return 0;
    }
    break;
  }
  *key = v != NULL ? v : STV_REPORT_UNALLOCATED;
  return 0;
}

/* Returns the row of group key (adding it), in *row. */
int stv__report_row_for(struct stv_report *r, const char *key, uint32_t *row) {
  struct stv__report_state *st = r->st;
  struct stv_strmap_ent *e;
  int rc = slot_for(r, &st->rows_by_group, key, r->nrows, (void **)&r->rows, &st->cap_rows, sizeof(*r->rows), &e);
  if (rc < 0) return rc;
  if (rc == 1) {
    if (stv_grow((void **)&st->rowx, &st->cap_rowx, r->nrows + 1, sizeof(*st->rowx)) != 0) {
      e->val = UINT32_MAX;
      return STV_ENOMEM;
    }
    memset(&st->rowx[r->nrows], 0, sizeof(*st->rowx));
    r->rows[r->nrows++].group = e->key;
  }
  *row = e->val;
  return 0;
}

static int shared_for(struct stv_report *r, const char *ns, uint32_t *idx) {
  struct stv__report_state *st = r->st;
  struct stv_strmap_ent *e;
  int rc = slot_for(r, &st->shared_by_ns, ns, r->nshared_ns, (void **)&r->shared_ns, &st->cap_shared_ns,
                    sizeof(*r->shared_ns), &e);
  if (rc < 0) return rc;
  if (rc == 1) r->shared_ns[r->nshared_ns++].ns = e->key;
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

static double hist_upper(size_t b) {
  return HIST_MIN * pow(HIST_RATIO, (double)b);
}

/* The right-sizing statistics of p's controller (added when new), or NULL for a pod without one. */
static int ctl_for(struct stv_report *r, const struct stv_cost_pod *p, struct ctl **out) {
  struct stv__report_state *st = r->st;
  const char *kind;
  char name[300], key[700];
  struct stv_strmap_ent *e;
  int added;
  size_t n;
  *out = NULL;
  if (stv_report_controller_of(p->owner_kind, p->owner_name, p->labels, &kind, name, sizeof(name)) != 0)
    return 0;
  if ((n = stv__report_join3(key, sizeof(key), p->ns, kind, name, '\x1f')) >= sizeof(key)) return 0;
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
double stv__report_ctl_p95(struct ctl *c) {
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
static int same_group(const struct stv_report *r, const struct stv_cost_pod *p,
                      const struct stv_cost_pod *q) {
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

/* Checks the pods of a step, so that a bad pod leaves the aggregates untouched. */
static int check_pods(const struct stv_cost_step *s, struct stv_err *err) {
  size_t i;
  for (i = 0; i < s->npods; i++) {
    const struct stv_cost_pod *p = &s->pods[i];
    if (p->ns == NULL || *p->ns == '\0' || p->name == NULL || *p->name == '\0')
      return stv_err_set(err, STV_EINVAL, "pods[%zu]: namespace and name: missing", i);
    if (bad_num(p->cpu_req) || bad_num(p->ram_req) || bad_num(p->gpu_req))
      return stv_err_set(err, STV_EINVAL, "pod %s/%s: requests: must be non-negative numbers", p->ns,
                         p->name);
    if (isnan(p->cpu_use) || isnan(p->ram_use) || isinf(p->cpu_use) || isinf(p->ram_use))
      return stv_err_set(err, STV_EINVAL, "pod %s/%s: usage: not a number", p->ns, p->name);
  }
  return 0;
}

/*
 * Pass 1: adds up what each node allocates. Consecutive pods often share
 * strings (the same node, namespace, owner), so look-ups are cached by
 * pointer for the length of this call, while the strings are borrowed.
 */
static void allocate_pods(struct stv_report *r, const struct stv_cost_step *s, size_t step) {
  struct stv__report_state *st = r->st;
  const char *last_node = NULL;
  int last_found = 0;
  uint32_t last_idx = 0;
  size_t i;
  for (i = 0; i < s->npods; i++) {
    const struct stv_cost_pod *p = &s->pods[i];
    struct pscratch *ps = &st->scratch[i];
    struct nrec *n;
    uint32_t idx;
    ps->node = -1;
    if (p->node == NULL || *p->node == '\0') continue;
    if (p->node != last_node) {
      last_node = p->node;
      last_found = stv__report_find_node(st, p->node, &last_idx);
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
}

/* Nodes: scales allocations down where they exceed the node; adds node cost and idle. */
static void cost_nodes(struct stv_report *r, const struct stv_cost_step *s, double h) {
  struct stv__report_state *st = r->st;
  size_t i;
  for (i = 0; i < s->nnodes; i++) {
    struct nrec *n = &st->nodes[st->step_nodes[i]];
    int over = 0;
    double fc, fr, fg, ic, ir, ig, rest;
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
    /* Idle: the part of each resource's cost not allocated. */
    fc = n->cpu_cap > 0 ? n->a_cpu * n->s_cpu / n->cpu_cap : 0;
    fr = n->ram_cap > 0 ? n->a_ram * n->s_ram / n->ram_cap : 0;
    fg = n->gpu_cap > 0 ? n->a_gpu * n->s_gpu / n->gpu_cap : 0;
    ic = n->cpu_part * (1 - fc) * h, ir = n->ram_part * (1 - fr) * h, ig = n->gpu_part * (1 - fg) * h;
    rest = (n->price - n->cpu_part - n->ram_part - n->gpu_part) * h; /* a price with no capacity */
    r->totals.cpu_idle += ic;
    r->totals.ram_idle += ir;
    r->totals.gpu_idle += ig;
    r->totals.idle += ic + ir + ig + rest;
    n->idle += ic + ir + ig + rest;
  }
}

/* Look-ups of pass 2 cached by the pointers of the pods' strings. */
struct step_cache {
  const struct stv_cost_pod *prev_row, *prev_ctl;
  const char *prev_ns;
  uint32_t last_row, last_ctl;
  int last_shared;
  char kbuf[700];
};

/* Usage statistics for right-sizing, for every running pod, priced or not. */
static int rightsize_pod(struct stv_report *r, const struct stv_cost_pod *p, size_t step, double h,
                         struct step_cache *k) {
  struct stv__report_state *st = r->st;
  struct ctl *c;
  if (k->prev_ctl != NULL && same_owner(p, k->prev_ctl)) {
    c = &st->ctls[k->last_ctl];
  } else {
    if (ctl_for(r, p, &c) != 0) return STV_ENOMEM;
    if (c != NULL) {
      k->prev_ctl = p;
      k->last_ctl = (uint32_t)(c - st->ctls);
    } else {
      k->prev_ctl = NULL;
    }
  }
  if (c == NULL) return 0;
  if (p->cpu_req > c->cpu_req) c->cpu_req = p->cpu_req;
  if (p->ram_req > c->ram_req) c->ram_req = p->ram_req;
  c->pod_hours += h;
  if (!c->seen || c->last_step != step) {
    c->hours += h;
    c->seen = 1;
    c->last_step = step;
  }
  if (p->cpu_use >= 0) {
    if (ctl_sample(c, p->cpu_use) != 0) return STV_ENOMEM;
    if (p->cpu_use > c->cpu_max) c->cpu_max = p->cpu_use;
  }
  if (p->ram_use >= 0) {
    c->have_ram = 1;
    if (p->ram_use > c->ram_max) c->ram_max = p->ram_use;
  }
  return 0;
}

/* What one pod costs on its node this step, and the node's rates. */
struct pod_cost {
  double cpu, ram, gpu;      /* cost */
  double cpu_rate, ram_rate; /* per core-hour, per byte-hour */
};

/* Adds pod p's cost q to its group's row. */
static int cost_into_row(struct stv_report *r, const struct stv_cost_pod *p, const struct pod_cost *q,
                         size_t step, double h, struct step_cache *k) {
  struct stv__report_state *st = r->st;
  const char *key;
  uint32_t ri;
  struct stv_report_row *row;
  struct rowx *x;
  if (k->prev_row != NULL && same_group(r, p, k->prev_row)) {
    ri = k->last_row;
  } else {
    group_key(r, p, k->kbuf, sizeof(k->kbuf), &key);
    if (stv__report_row_for(r, key, &ri) != 0) return STV_ENOMEM;
    k->last_row = ri;
    k->prev_row = p;
  }
  row = &r->rows[ri];
  x = &st->rowx[ri];
  row->cpu_cost += q->cpu;
  row->ram_cost += q->ram;
  row->gpu_cost += q->gpu;
  r->totals.allocated += q->cpu + q->ram + q->gpu;
  row->cpu_req_core_h += p->cpu_req * h;
  row->ram_req_gib_h += p->ram_req / 1073741824.0 * h;
  row->gpu_h += p->gpu_req * h;
  if (p->cpu_use >= 0) {
    row->cpu_use_core_h += p->cpu_use * h;
    x->cpu_req_known += p->cpu_req * h;
    x->use_cost += p->cpu_use * q->cpu_rate * h;
    x->req_known_cost += p->cpu_req * q->cpu_rate * h;
  }
  if (p->ram_use >= 0) {
    row->ram_use_gib_h += p->ram_use / 1073741824.0 * h;
    x->ram_req_known += p->ram_req / 1073741824.0 * h;
    x->use_cost += p->ram_use * q->ram_rate * h;
    x->req_known_cost += p->ram_req * q->ram_rate * h;
  }
  x->pod_hours += h;
  if (!x->seen || x->last_step != step) {
    row->hours += h;
    x->seen = 1;
    x->last_step = step;
  }
  return 0;
}

/* Adds pod p's cost q to its shared namespace. */
static int cost_into_shared(struct stv_report *r, const struct stv_cost_pod *p, const struct pod_cost *q,
                            double h) {
  uint32_t si;
  if (shared_for(r, p->ns, &si) != 0) return STV_ENOMEM;
  r->shared_ns[si].cost += q->cpu + q->ram + q->gpu;
  r->shared_ns[si].pod_hours += h;
  r->shared_ns[si].cpu_req_core_h += p->cpu_req * h;
  r->shared_ns[si].ram_req_gib_h += p->ram_req / 1073741824.0 * h;
  r->shared_ns[si].gpu_h += p->gpu_req * h;
  r->totals.shared += q->cpu + q->ram + q->gpu;
  return 0;
}

/* Pass 2: costs each pod into its group. Returns 0 or STV_ENOMEM. */
static int cost_pods(struct stv_report *r, const struct stv_cost_step *s, size_t step, double h) {
  struct stv__report_state *st = r->st;
  struct step_cache k;
  size_t i;
  memset(&k, 0, sizeof(k));
  for (i = 0; i < s->npods; i++) {
    const struct stv_cost_pod *p = &s->pods[i];
    const struct pscratch *ps = &st->scratch[i];
    struct nrec *n;
    struct pod_cost q;
    double gpu_rate;
    if (p->node == NULL || *p->node == '\0') {
      r->pods_pending++;
      continue;
    }
    if (r->opts.rightsize && rightsize_pod(r, p, step, h, &k) != 0) return STV_ENOMEM;
    if (ps->node < 0) {
      uint32_t idx;
      if (stv__report_find_node(st, p->node, &idx) && st->nodes[idx].in_step &&
          st->nodes[idx].last_step == step) {
        r->pods_unpriced++;
        r->unpriced[st->nodes[idx].unpriced - 1].pods++;
      } else {
        r->pods_no_node++;
      }
      continue;
    }
    n = &st->nodes[ps->node];
    q.cpu_rate = n->cpu_cap > 0 ? n->cpu_part / n->cpu_cap : 0; /* per core-hour */
    q.ram_rate = n->ram_cap > 0 ? n->ram_part / n->ram_cap : 0; /* per byte-hour */
    gpu_rate = n->gpu_cap > 0 ? n->gpu_part / n->gpu_cap : 0;   /* per device-hour */
    q.cpu = ps->cpu_a * n->s_cpu * q.cpu_rate * h;
    q.ram = ps->ram_a * n->s_ram * q.ram_rate * h;
    q.gpu = ps->gpu_a * n->s_gpu * gpu_rate * h;
    r->pods_costed++;
    if (k.prev_ns == NULL || p->ns != k.prev_ns) k.last_shared = is_shared(r, p->ns);
    k.prev_ns = p->ns;
    if ((k.last_shared ? cost_into_shared(r, p, &q, h) : cost_into_row(r, p, &q, step, h, &k)) != 0)
      return STV_ENOMEM;
  }
  return 0;
}

int stv_report_add_step(struct stv_report *r, const struct stv_cost_step *s, struct stv_err *err) {
  struct stv__report_state *st = r->st;
  size_t step;
  double h = s->hours;
  int rc;

  if (r->finished) return stv_err_set(err, STV_EINVAL, "report already finished");
  step = ++st->epoch;
  if (!isfinite(h) || h <= 0) return stv_err_set(err, STV_EINVAL, "step: hours must be positive");
  if ((rc = check_pods(s, err)) != 0) return rc;
  if ((rc = step_nodes(r, s, err)) != 0) return rc;
  if (stv_grow((void **)&st->scratch, &st->cap_scratch, s->npods + 1, sizeof(*st->scratch)) != 0)
    return oom(err);
  allocate_pods(r, s, step);
  cost_nodes(r, s, h);
  if (cost_pods(r, s, step, h) != 0) return oom(err);
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
