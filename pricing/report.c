/*
 * The cost allocation engine of report.h, its entry points: notes, the
 * parsers of --by and --output, capacity types and controllers, report
 * init and close. A step's costs are added in report_step.c and the report
 * is reconciled to the cent in report_finish.c; their shared state is in
 * report_internal.h.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* a, sep, b, sep, c into buf (size bytes); returns the length, or size when it does not fit. */
size_t stv__report_join3(char *buf, size_t size, const char *a, const char *b, const char *c, char sep) {
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

int stv__report_note_once(struct stv_report *r, const char *key, const char *fmt, ...) {
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
