/*
 * Fixture builders for the packer tests. Each builder takes an options
 * struct written with designated initialisers, so a test names only what
 * matters to it and everything else gets a realistic default:
 *
 *   stv_test_pod(&fx->s, &(struct stv_test_pod_opts){
 *       .cpu_m = 500, .mem_mi = 256, .ns = "shop",
 *       .labels = {{"app", "web"}}, .anti_host = 1, .count = 3});
 *
 * Requests and capacities take cpu in millicores and memory in MiB; the
 * builders store memory in bytes, as the model does. Every string handed
 * to the model is interned in the snapshot's pool and every array is
 * copied (scratch arrays come from the snapshot's arena), so two builders
 * called with equal options produce equal classes.
 *
 * Builders return an index (of the first pod, the node, the template) or a
 * negative STV_ code.
 */
#ifndef STV_TEST_BUILDERS_H
#define STV_TEST_BUILDERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "packer.h"

#define STV_TEST_MI (INT64_C(1) << 20)
#define STV_TEST_GI (INT64_C(1) << 30)

#define STV_TEST_HOST_KEY "kubernetes.io/hostname"
#define STV_TEST_ZONE_KEY "topology.kubernetes.io/zone"
#define STV_TEST_TYPE_KEY "node.kubernetes.io/instance-type"
#define STV_TEST_CT_KEY "karpenter.sh/capacity-type"

/* Room in the fixed-size arrays of the options structs. */
#define STV_TEST_MAX_KV 8
#define STV_TEST_MAX_TOL 4
#define STV_TEST_MAX_TAINTS 4
#define STV_TEST_MAX_TERMS 8
#define STV_TEST_MAX_TMPL 96

/* A label or a single-valued nodeSelector entry; a NULL key ends the list. */
struct stv_test_kv {
  const char *key;
  const char *value;
};

struct stv_test_pod_opts {
  const char *ns;   /* default "default" */
  const char *name; /* default "pod-<index>"; "-<i>" is appended when count > 1 */
  int64_t cpu_m;    /* millicores */
  int64_t mem_mi;   /* MiB */
  int64_t eph_mi;   /* ephemeral-storage, MiB */
  const char *res;  /* an extended resource ("nvidia.com/gpu"), or NULL */
  int64_t res_qty;
  struct stv_test_kv labels[STV_TEST_MAX_KV];
  struct stv_test_kv node_selector[STV_TEST_MAX_KV]; /* key In (value) */
  /* Tolerations; an entry counts when it has a key or is an Exists. */
  struct stv_toleration tol[STV_TEST_MAX_TOL];
  const struct stv_node_affinity *affinity; /* borrowed, copied */
  /* Raw required terms and spread constraints (borrowed, copied). */
  const struct stv_pod_term *aff;
  uint32_t naff;
  const struct stv_pod_term *anti;
  uint32_t nanti;
  const struct stv_spread *spread;
  uint32_t nspread;
  /*
   * Shorthands for rules over the pod's own labels (every label, In):
   * required anti-affinity or affinity on the hostname or zone key, and
   * DoNotSchedule topology spread with the given maxSkew (0: none).
   */
  int anti_host, anti_zone, aff_host, aff_zone;
  int32_t spread_host, spread_zone;
  int daemonset;
  const char *owner_uid; /* the DaemonSet's uid */
  const char *node_name; /* spec.nodeName: bound to that node */
  enum stv_phase phase;  /* default Pending */
  uint32_t count;        /* identical pods to add, default 1 */
};

struct stv_test_node_opts {
  const char *name;
  int64_t cpu_m, mem_mi;
  int64_t eph_mi; /* default 100 GiB */
  int64_t pods;   /* default 110 */
  const char *res;
  int64_t res_qty;
  const char *zone;          /* topology.kubernetes.io/zone, or NULL */
  const char *instance_type; /* node.kubernetes.io/instance-type, or NULL */
  const char *capacity_type; /* "on-demand", "spot", "reserved", or NULL */
  struct stv_test_kv labels[STV_TEST_MAX_KV];
  struct stv_taint taints[STV_TEST_MAX_TAINTS]; /* NULL key ends the list */
  int unschedulable;
};

struct stv_test_tmpl_opts {
  const char *instance_type; /* required */
  const char *zone;          /* required */
  const char *capacity_type; /* default "on-demand" */
  double price;              /* per hour */
  int64_t reserved;          /* > 0: a reserved offering of this many nodes */
  int64_t cpu_m, mem_mi;
  int64_t eph_mi; /* default 100 GiB */
  int64_t pods;   /* default 110 */
  const char *res;
  int64_t res_qty;
  struct stv_test_kv labels[STV_TEST_MAX_KV];
  struct stv_taint taints[STV_TEST_MAX_TAINTS];
};

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static inline const char *stv_test_str(struct stv_snapshot *s, const char *v) {
  return v == NULL ? NULL : stv_strpool_get(&s->pool, v);
}

static inline void *stv_test_scratch(struct stv_snapshot *s, size_t n) {
  return stv_arena_alloc(&s->mem, n + 1);
}

static inline int stv_test_cmp_label(const void *a, const void *b) {
  return strcmp(((const struct stv_label *)a)->key, ((const struct stv_label *)b)->key);
}

/* Sorts l by key, as the model requires; the array is l->kv. */
static inline void stv_test_sort_labels(struct stv_labels *l) {
  if (l->n > 1) qsort(l->kv, l->n, sizeof(*l->kv), stv_test_cmp_label);
}

/*
 * Builds an interned label set of the kv list (up to the first NULL key)
 * plus up to three more entries (NULL values skipped), sorted by key. A
 * key given twice keeps the extra entry's value.
 */
static inline int stv_test_labels(struct stv_snapshot *s, struct stv_labels *out,
                                  const struct stv_test_kv *kv, size_t nkv,
                                  const struct stv_test_kv *extra, size_t nextra) {
  size_t i, j;
  struct stv_label *l = stv_test_scratch(s, (nkv + nextra) * sizeof(*l));
  out->n = 0;
  out->kv = l;
  if (l == NULL) return STV_ENOMEM;
  for (i = 0; i < nextra + nkv; i++) {
    const struct stv_test_kv *e = i < nextra ? &extra[i] : &kv[i - nextra];
    const char *k, *v;
    if (i >= nextra && e->key == NULL) break;
    if (e->key == NULL || e->value == NULL) continue;
    k = stv_test_str(s, e->key);
    v = stv_test_str(s, e->value);
    if (k == NULL || v == NULL) return STV_ENOMEM;
    for (j = 0; j < out->n; j++)
      if (l[j].key == k) break;
    if (j < out->n) continue; /* the extra entry wins */
    l[out->n].key = k;
    l[out->n].value = v;
    out->n++;
  }
  stv_test_sort_labels(out);
  return 0;
}

/* Deep copy of sel with every string interned. */
static inline int stv_test_copy_selector(struct stv_snapshot *s, struct stv_selector *dst,
                                         const struct stv_selector *src) {
  uint32_t i, j;
  dst->n = src->n;
  dst->reqs = NULL;
  if (src->n == 0) return 0;
  dst->reqs = stv_test_scratch(s, src->n * sizeof(*dst->reqs));
  if (dst->reqs == NULL) return STV_ENOMEM;
  for (i = 0; i < src->n; i++) {
    const struct stv_requirement *r = &src->reqs[i];
    struct stv_requirement *d = &dst->reqs[i];
    d->key = stv_test_str(s, r->key);
    d->op = r->op;
    d->nvalues = r->nvalues;
    d->values = stv_test_scratch(s, r->nvalues * sizeof(*d->values));
    if (d->key == NULL || d->values == NULL) return STV_ENOMEM;
    for (j = 0; j < r->nvalues; j++)
      if ((d->values[j] = stv_test_str(s, r->values[j])) == NULL) return STV_ENOMEM;
  }
  return 0;
}

/* A selector of key In (value) for every entry of l. */
static inline int stv_test_selector_of_labels(struct stv_snapshot *s, struct stv_selector *dst,
                                              const struct stv_labels *l) {
  uint32_t i;
  dst->n = l->n;
  dst->reqs = stv_test_scratch(s, l->n * sizeof(*dst->reqs));
  if (dst->reqs == NULL) return STV_ENOMEM;
  for (i = 0; i < l->n; i++) {
    struct stv_requirement *r = &dst->reqs[i];
    r->key = l->kv[i].key;
    r->op = STV_OP_IN;
    r->nvalues = 1;
    r->values = stv_test_scratch(s, sizeof(*r->values));
    if (r->values == NULL) return STV_ENOMEM;
    r->values[0] = l->kv[i].value;
  }
  return 0;
}

static inline int stv_test_copy_term(struct stv_snapshot *s, struct stv_pod_term *dst,
                                     const struct stv_pod_term *src) {
  uint32_t i;
  *dst = *src;
  if (src->topology_key == NULL) return STV_EINVAL;
  dst->topology_key = stv_test_str(s, src->topology_key);
  if (dst->topology_key == NULL) return STV_ENOMEM;
  if (stv_test_copy_selector(s, &dst->sel, &src->sel) != 0) return STV_ENOMEM;
  if (stv_test_copy_selector(s, &dst->ns_sel, &src->ns_sel) != 0) return STV_ENOMEM;
  dst->namespaces = stv_test_scratch(s, src->nns * sizeof(*dst->namespaces));
  if (dst->namespaces == NULL) return STV_ENOMEM;
  for (i = 0; i < src->nns; i++)
    if ((dst->namespaces[i] = stv_test_str(s, src->namespaces[i])) == NULL) return STV_ENOMEM;
  return 0;
}

/* Interned copies of a taint list that ends at the first NULL key. */
static inline int stv_test_taints(struct stv_snapshot *s, struct stv_taint **out, uint32_t *n,
                                  const struct stv_taint *t) {
  uint32_t i;
  *n = 0;
  *out = stv_test_scratch(s, STV_TEST_MAX_TAINTS * sizeof(**out));
  if (*out == NULL) return STV_ENOMEM;
  for (i = 0; i < STV_TEST_MAX_TAINTS && t[i].key != NULL; i++) {
    (*out)[i].key = stv_test_str(s, t[i].key);
    (*out)[i].value = stv_test_str(s, t[i].value ? t[i].value : "");
    (*out)[i].effect = t[i].effect;
    if ((*out)[i].key == NULL || (*out)[i].value == NULL) return STV_ENOMEM;
    (*n)++;
  }
  return 0;
}

/* Sets dimension name of req (or alloc) to qty, adding the name when new. */
static inline int stv_test_set_res(struct stv_snapshot *s, int64_t *v, const char *name,
                                   int64_t qty) {
  int d;
  if (name == NULL) return 0;
  d = stv_resnames_index(&s->res, &s->pool, name, 1);
  if (d < 0) return d;
  v[d] = qty;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Pods                                                                   */

/*
 * Interns the class the options describe and appends count pods of it.
 * Returns the index of the first pod or a negative STV_ code.
 */
static inline int stv_test_pod(struct stv_snapshot *s, const struct stv_test_pod_opts *o) {
  struct stv_class c;
  struct stv_toleration tol[STV_TEST_MAX_TOL];
  struct stv_pod_term aff[STV_TEST_MAX_TERMS + 2], anti[STV_TEST_MAX_TERMS + 2];
  struct stv_spread spread[STV_TEST_MAX_TERMS + 2];
  struct stv_selector self;
  struct stv_selector nsel;
  struct stv_requirement nreq[STV_TEST_MAX_KV];
  const char *nval[STV_TEST_MAX_KV];
  const char *ns = o->ns ? o->ns : "default";
  char name[128];
  uint32_t i, count = o->count ? o->count : 1, id;
  int first = (int)s->npods, rc;

  memset(&c, 0, sizeof(c));
  c.ns = stv_test_str(s, ns);
  if (c.ns == NULL) return STV_ENOMEM;
  c.req[STV_RES_CPU] = o->cpu_m;
  c.req[STV_RES_MEMORY] = o->mem_mi * STV_TEST_MI;
  c.req[STV_RES_EPHEMERAL] = o->eph_mi * STV_TEST_MI;
  c.req[STV_RES_PODS] = 1;
  if ((rc = stv_test_set_res(s, c.req, o->res, o->res_qty)) != 0) return rc;
  if ((rc = stv_test_labels(s, &c.labels, o->labels, STV_TEST_MAX_KV, NULL, 0)) != 0) return rc;

  /* nodeSelector: key In (value), in the order given. */
  memset(nreq, 0, sizeof(nreq));
  nsel.n = 0;
  nsel.reqs = nreq;
  for (i = 0; i < STV_TEST_MAX_KV && o->node_selector[i].key != NULL; i++) {
    nval[i] = o->node_selector[i].value;
    nreq[i].key = o->node_selector[i].key;
    nreq[i].op = STV_OP_IN;
    nreq[i].nvalues = 1;
    nreq[i].values = &nval[i];
    nsel.n++;
  }
  if ((rc = stv_test_copy_selector(s, &c.node_selector, &nsel)) != 0) return rc;

  if (o->affinity != NULL && o->affinity->n > 0) {
    c.affinity.n = o->affinity->n;
    c.affinity.terms = stv_test_scratch(s, o->affinity->n * sizeof(*c.affinity.terms));
    if (c.affinity.terms == NULL) return STV_ENOMEM;
    for (i = 0; i < o->affinity->n; i++) {
      if ((rc = stv_test_copy_selector(s, &c.affinity.terms[i].exprs,
                                       &o->affinity->terms[i].exprs)) != 0 ||
          (rc = stv_test_copy_selector(s, &c.affinity.terms[i].fields,
                                       &o->affinity->terms[i].fields)) != 0)
        return rc;
    }
  }

  for (i = 0; i < STV_TEST_MAX_TOL; i++) {
    const struct stv_toleration *t = &o->tol[i];
    if (t->key == NULL && !t->exists) break;
    tol[i] = *t;
    tol[i].key = stv_test_str(s, t->key);
    tol[i].value = stv_test_str(s, t->value);
    c.ntol++;
  }
  c.tol = tol;

  if ((rc = stv_test_selector_of_labels(s, &self, &c.labels)) != 0) return rc;
  if (o->naff > STV_TEST_MAX_TERMS || o->nanti > STV_TEST_MAX_TERMS ||
      o->nspread > STV_TEST_MAX_TERMS)
    return STV_EINVAL;
  for (i = 0; i < o->naff; i++)
    if ((rc = stv_test_copy_term(s, &aff[c.naff++], &o->aff[i])) != 0) return rc;
  for (i = 0; i < o->nanti; i++)
    if ((rc = stv_test_copy_term(s, &anti[c.nanti++], &o->anti[i])) != 0) return rc;
  for (i = 0; i < 2; i++) {
    const char *key = stv_test_str(s, i == 0 ? STV_TEST_HOST_KEY : STV_TEST_ZONE_KEY);
    struct stv_pod_term t;
    if (key == NULL) return STV_ENOMEM;
    memset(&t, 0, sizeof(t));
    t.sel = self;
    t.topology_key = key;
    if (i == 0 ? o->aff_host : o->aff_zone) aff[c.naff++] = t;
    if (i == 0 ? o->anti_host : o->anti_zone) anti[c.nanti++] = t;
  }
  c.aff = aff;
  c.anti = anti;

  for (i = 0; i < o->nspread; i++) {
    if (o->spread[i].topology_key == NULL) return STV_EINVAL;
    spread[c.nspread] = o->spread[i];
    spread[c.nspread].topology_key = stv_test_str(s, o->spread[i].topology_key);
    if (spread[c.nspread].topology_key == NULL) return STV_ENOMEM;
    if ((rc = stv_test_copy_selector(s, &spread[c.nspread].sel, &o->spread[i].sel)) != 0)
      return rc;
    c.nspread++;
  }
  for (i = 0; i < 2; i++) {
    int32_t skew = i == 0 ? o->spread_host : o->spread_zone;
    struct stv_spread *sp;
    if (skew <= 0) continue;
    sp = &spread[c.nspread++];
    memset(sp, 0, sizeof(*sp));
    sp->max_skew = skew;
    sp->topology_key = stv_test_str(s, i == 0 ? STV_TEST_HOST_KEY : STV_TEST_ZONE_KEY);
    if (sp->topology_key == NULL) return STV_ENOMEM;
    sp->do_not_schedule = 1;
    sp->sel = self;
    sp->honor_node_affinity = 1;
  }
  c.spread = spread;

  c.daemonset = o->daemonset;
  c.owner_uid = stv_test_str(s, o->owner_uid);
  snprintf(name, sizeof(name), "%s/%s", ns, o->name ? o->name : "pod");
  if ((c.example = stv_test_str(s, name)) == NULL) return STV_ENOMEM;
  if ((rc = stv_snapshot_intern_class(s, &c, &id)) != 0) return rc;

  for (i = 0; i < count; i++) {
    struct stv_pod p;
    memset(&p, 0, sizeof(p));
    if (o->name == NULL)
      snprintf(name, sizeof(name), "pod-%zu", s->npods);
    else if (count > 1)
      snprintf(name, sizeof(name), "%s-%u", o->name, i);
    else
      snprintf(name, sizeof(name), "%s", o->name);
    p.ns = c.ns;
    p.name = stv_test_str(s, name);
    p.cls = id;
    p.node = -1;
    p.node_name = stv_test_str(s, o->node_name);
    p.phase = (uint8_t)o->phase;
    p.owner_kind = stv_test_str(s, o->daemonset ? "DaemonSet" : "ReplicaSet");
    p.owner_name = stv_test_str(s, o->name ? o->name : "rs");
    if (p.name == NULL || p.owner_kind == NULL || p.owner_name == NULL) return STV_ENOMEM;
    if (o->node_name != NULL && p.node_name == NULL) return STV_ENOMEM;
    if ((rc = stv_snapshot_add_pod(s, &p)) != 0) return rc;
  }
  return first;
}

/* ---------------------------------------------------------------------- */
/* Nodes                                                                  */

/* Appends an existing node; returns its index or a negative STV_ code. */
static inline int stv_test_node(struct stv_snapshot *s, const struct stv_test_node_opts *o) {
  struct stv_node n;
  struct stv_test_kv std[4] = {
      {STV_TEST_HOST_KEY, o->name},
      {STV_TEST_ZONE_KEY, o->zone},
      {STV_TEST_TYPE_KEY, o->instance_type},
      {STV_TEST_CT_KEY, o->capacity_type},
  };
  int rc;
  memset(&n, 0, sizeof(n));
  if (o->name == NULL) return STV_EINVAL;
  n.name = stv_test_str(s, o->name);
  if (n.name == NULL) return STV_ENOMEM;
  if ((rc = stv_test_labels(s, &n.labels, o->labels, STV_TEST_MAX_KV, std, 4)) != 0) return rc;
  if ((rc = stv_test_taints(s, &n.taints, &n.ntaints, o->taints)) != 0) return rc;
  n.alloc[STV_RES_CPU] = o->cpu_m;
  n.alloc[STV_RES_MEMORY] = o->mem_mi * STV_TEST_MI;
  n.alloc[STV_RES_EPHEMERAL] = (o->eph_mi ? o->eph_mi : INT64_C(100) * 1024) * STV_TEST_MI;
  n.alloc[STV_RES_PODS] = o->pods ? o->pods : 110;
  if ((rc = stv_test_set_res(s, n.alloc, o->res, o->res_qty)) != 0) return rc;
  n.unschedulable = o->unschedulable;
  n.instance_type = stv_test_str(s, o->instance_type);
  n.zone = stv_test_str(s, o->zone);
  n.capacity_type = stv_test_str(s, o->capacity_type);
  if ((rc = stv_snapshot_add_node(s, &n)) != 0) return rc;
  return (int)s->nnodes - 1;
}

/* ---------------------------------------------------------------------- */
/* Templates                                                              */

/*
 * Fills *t with a node template whose labels (zone, instance type,
 * capacity type and the extra ones, sorted by key), taints and strings
 * live in s. Returns 0 or a negative STV_ code.
 */
static inline int stv_test_template(struct stv_snapshot *s, struct stv_template *t,
                                    const struct stv_test_tmpl_opts *o) {
  enum stv_capacity_type ct = STV_CT_ON_DEMAND;
  struct stv_test_kv std[3];
  int rc;
  memset(t, 0, sizeof(*t));
  if (o->instance_type == NULL || o->zone == NULL) return STV_EINVAL;
  if (o->reserved > 0) ct = STV_CT_RESERVED;
  if (o->capacity_type != NULL && (rc = stv_capacity_type_parse(o->capacity_type, &ct)) != 0)
    return rc;
  std[0].key = STV_TEST_ZONE_KEY;
  std[0].value = o->zone;
  std[1].key = STV_TEST_TYPE_KEY;
  std[1].value = o->instance_type;
  std[2].key = STV_TEST_CT_KEY;
  std[2].value = stv_capacity_type_name(ct);
  t->instance_type = stv_test_str(s, o->instance_type);
  t->zone = stv_test_str(s, o->zone);
  if (t->instance_type == NULL || t->zone == NULL) return STV_ENOMEM;
  t->capacity_type = ct;
  t->price = o->price;
  t->limit = o->reserved > 0 ? o->reserved : -1;
  t->alloc[STV_RES_CPU] = o->cpu_m;
  t->alloc[STV_RES_MEMORY] = o->mem_mi * STV_TEST_MI;
  t->alloc[STV_RES_EPHEMERAL] = (o->eph_mi ? o->eph_mi : INT64_C(100) * 1024) * STV_TEST_MI;
  t->alloc[STV_RES_PODS] = o->pods ? o->pods : 110;
  if ((rc = stv_test_set_res(s, t->alloc, o->res, o->res_qty)) != 0) return rc;
  if ((rc = stv_test_labels(s, &t->labels, o->labels, STV_TEST_MAX_KV, std, 3)) != 0) return rc;
  return stv_test_taints(s, &t->taints, &t->ntaints, o->taints);
}

/* Adds a Namespace item with the given labels. */
static inline int stv_test_namespace(struct stv_snapshot *s, const char *name,
                                     const struct stv_test_kv *labels, size_t nlabels) {
  struct stv_namespace ns;
  struct stv_test_kv meta = {"kubernetes.io/metadata.name", name};
  int rc;
  memset(&ns, 0, sizeof(ns));
  if ((ns.name = stv_test_str(s, name)) == NULL) return STV_ENOMEM;
  if ((rc = stv_test_labels(s, &ns.labels, labels, nlabels, &meta, 1)) != 0) return rc;
  return stv_snapshot_add_namespace(s, &ns);
}

/* ---------------------------------------------------------------------- */
/* A whole packing fixture                                                */

struct stv_test_fx {
  struct stv_snapshot s;
  struct stv_template tmpl[STV_TEST_MAX_TMPL];
  size_t ntmpl;
  long search_limit; /* stv_problem.search_limit */
  struct stv_plan plan;
  struct stv_err err;
};

static inline int stv_test_fx_init(struct stv_test_fx *fx) {
  memset(fx, 0, sizeof(*fx));
  return stv_snapshot_init(&fx->s);
}

static inline void stv_test_fx_close(struct stv_test_fx *fx) {
  stv_plan_close(&fx->plan);
  stv_snapshot_close(&fx->s);
}

/* Appends a template to fx; returns its index or a negative STV_ code. */
static inline int stv_test_fx_template(struct stv_test_fx *fx, const struct stv_test_tmpl_opts *o) {
  int rc;
  if (fx->ntmpl == STV_TEST_MAX_TMPL) return STV_ELIMIT;
  if ((rc = stv_test_template(&fx->s, &fx->tmpl[fx->ntmpl], o)) != 0) return rc;
  return (int)fx->ntmpl++;
}

static inline struct stv_problem stv_test_fx_problem(const struct stv_test_fx *fx) {
  struct stv_problem p;
  memset(&p, 0, sizeof(p));
  p.snap = &fx->s;
  p.tmpl = fx->tmpl;
  p.ntmpl = fx->ntmpl;
  p.currency = "USD";
  p.search_limit = fx->search_limit;
  return p;
}

/* Finishes the snapshot and packs it into fx->plan (closing an earlier plan). */
static inline int stv_test_fx_solve(struct stv_test_fx *fx) {
  struct stv_problem p;
  int rc;
  stv_plan_close(&fx->plan);
  if ((rc = stv_snapshot_finish(&fx->s, &fx->err)) != 0) return rc;
  p = stv_test_fx_problem(fx);
  return stv_pack(&p, &fx->plan, &fx->err);
}

/*
 * A test with a fixture set up before and closed after its body, also when
 * a CHECK ends the body early: the body sees `fx`.
 */
#define STV_TEST_FX(name)                                                  \
  static void name##__body(struct stv_test_fx *fx, int *stv__failed);     \
  TEST(name) {                                                             \
    struct stv_test_fx fx__;                                               \
    if (stv_test_fx_init(&fx__) != 0) {                                    \
      fprintf(stderr, "  fixture set-up failed\n");                        \
      *stv__failed = 1;                                                    \
    } else {                                                               \
      name##__body(&fx__, stv__failed);                                    \
    }                                                                      \
    stv_test_fx_close(&fx__);                                              \
  }                                                                        \
  static void name##__body(struct stv_test_fx *fx, int *stv__failed)

/* ---------------------------------------------------------------------- */
/* Reading a plan                                                         */

/* Index of the plan node holding pod, or -1. */
static inline long stv_test_node_of(const struct stv_plan *plan, uint32_t pod) {
  size_t i;
  uint32_t q;
  for (i = 0; i < plan->nnodes; i++)
    for (q = 0; q < plan->nodes[i].npods; q++)
      if (plan->nodes[i].pods[q] == pod) return (long)i;
  return -1;
}

/* How many times pod appears in the plan's nodes. */
static inline int stv_test_times_placed(const struct stv_plan *plan, uint32_t pod) {
  size_t i;
  uint32_t q;
  int n = 0;
  for (i = 0; i < plan->nnodes; i++)
    for (q = 0; q < plan->nodes[i].npods; q++) n += plan->nodes[i].pods[q] == pod;
  return n;
}

/* The reason pod is listed as unschedulable, or NULL. */
static inline const char *stv_test_unsched_reason(const struct stv_plan *plan, uint32_t pod) {
  size_t i;
  for (i = 0; i < plan->nunsched; i++)
    if (plan->unsched[i].pod == pod) return plan->unsched[i].reason;
  return NULL;
}

/* New nodes of template t in the plan. */
static inline size_t stv_test_nodes_of_tmpl(const struct stv_plan *plan, int32_t t) {
  size_t i, n = 0;
  for (i = 0; i < plan->nnodes; i++) n += plan->nodes[i].existing < 0 && plan->nodes[i].tmpl == t;
  return n;
}

/* The zone of plan node i (existing or new), or NULL. */
static inline const char *stv_test_plan_zone(const struct stv_test_fx *fx, size_t i) {
  const struct stv_plan_node *pn = &fx->plan.nodes[i];
  if (pn->existing >= 0) return stv_labels_get(&fx->s.nodes[pn->existing].labels, STV_TEST_ZONE_KEY);
  return stv_labels_get(&fx->tmpl[pn->tmpl].labels, STV_TEST_ZONE_KEY);
}

#endif
