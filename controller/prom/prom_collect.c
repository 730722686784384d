/*
 * The pivot of the Prometheus client (prom_internal.h): the series of one
 * chunk's queries, as they arrive, into a pod x step table and a node x
 * step table (pods and nodes found through base/'s string map), then each
 * step handed to the caller as a struct stv_cost_step.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom_internal.h"

/* Marks a request seen on a series without a node: the pod was pending. */
static const char PENDING[] = "";

void prom_note(struct coll *c, const char *fmt, ...) {
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

static const char *intern(struct coll *c, const char *s) {
  return stv_strpool_get(&c->pool, s);
}

/* A label value that names something: not empty and not "<none>". */
static int named(const char *v) {
  return v != NULL && *v != '\0' && strcmp(v, "<none>") != 0;
}

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
int prom_on_series(void *ctx, const struct stv_prom_series *s, struct stv_err *err) {
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

/* Empties the chunk's tables for k steps from t0. */
void prom_chunk_reset(struct coll *c, int64_t t0, size_t k) {
  c->t0 = t0;
  c->k = k;
  c->npods = c->nnodes = 0;
  stv_strmap_close(&c->pod_map);
  stv_strmap_close(&c->node_map);
  stv_strpool_close(&c->pool);
  stv_strpool_init(&c->pool);
  stv_arena_reset(&c->mem);
}

static double or_zero(double v) {
  return isnan(v) ? 0 : v;
}
static double or_unknown(double v) {
  return isnan(v) ? -1 : v;
}

/* Hands each step of the chunk that has data to the callback. */
int prom_chunk_emit(struct coll *c, struct stv_err *err) {
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
      return stv_err_prefix(err, "step %s", prom_fmt_time(t, when, sizeof(when)));
    }
  }
  return 0;
}
