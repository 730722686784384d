/*
 * The storage kinds in the watch-driven cache (docs/cache.md): claims,
 * volumes, storage classes and CSINodes are kept by the snapshot reader as
 * records in lists (read_storage.c); the cache removes them on DELETED,
 * keeps each pod's volumes beside the pod (they move with it), and copies
 * both into a view, where stv_snapshot_resolve_volumes turns them into
 * constraints as `recommend` does for a file, or into a compacted store.
 */
#include <stddef.h>
#include <string.h>

#include "cache_internal.h"

/* ---------------------------------------------------------------------- */
/* The store                                                              */

void stv__cache_take_pod_volumes(struct stv_cache *c, size_t at) {
  struct stv_snapshot_volumes *vs = c->s.volumes;
  c->pod_vols[at] = NULL;
  if (vs == NULL || vs->pods == NULL) return;
  /* The reader pushed the pod's record just now: the list holds it alone. */
  c->pod_vols[at] = vs->pods;
  vs->pods = NULL;
  vs->npods = 0;
  c->pod_vols[at]->next = NULL;
}

/* Unlinks the first record of the list at head for which cond holds on *pp. */
#define UNLINK(type, head, count, cond)                \
  do {                                                 \
    type **pp;                                         \
    for (pp = &(head); *pp != NULL; pp = &(*pp)->next) \
      if (cond) {                                      \
        *pp = (*pp)->next;                             \
        (count)--;                                     \
        break;                                         \
      }                                                \
  } while (0)

void stv__cache_storage_remove(struct stv_cache *c, char letter, const char *ns, const char *name, long k) {
  struct stv_snapshot_volumes *vs = c->s.volumes;
  c->s.seen_v[k].index = STV_SEEN_GONE;
  if (vs == NULL) return;
  if (ns == NULL) ns = "default";
  if (letter == 'C')
    UNLINK(struct vol_pvc, vs->pvcs, vs->npvcs, strcmp((*pp)->name, name) == 0 && strcmp((*pp)->ns, ns) == 0);
  else if (letter == 'V')
    UNLINK(struct vol_pv, vs->pvs, vs->npvs, strcmp((*pp)->name, name) == 0);
  else if (letter == 'K')
    UNLINK(struct vol_class, vs->classes, vs->nclasses, strcmp((*pp)->name, name) == 0);
  else
    UNLINK(struct vol_csinode, vs->csinodes, vs->ncsinodes, strcmp((*pp)->node, name) == 0);
}
#undef UNLINK

/* Fills the array *out with the n records of a list (linked by next at offset next_off). */
static int gather(const void *head, size_t n, size_t next_off, const void ***out) {
  const void *r;
  size_t i = 0;
  *out = NULL;
  if (n == 0) return 0;
  if ((*out = stv_malloc(n * sizeof(**out))) == NULL) return STV_ENOMEM;
  for (r = head; r != NULL && i < n; r = *(const void *const *)((const char *)r + next_off)) (*out)[i++] = r;
  return 0;
}

int stv__cache_storage_gather(const struct stv_snapshot *s, struct cache_storage *st) {
  const struct stv_snapshot_volumes *vs = s->volumes;
  memset(st, 0, sizeof(*st));
  if (vs == NULL) return 0;
  st->npvcs = vs->npvcs;
  st->npvs = vs->npvs;
  st->nclasses = vs->nclasses;
  st->ncsinodes = vs->ncsinodes;
  if (gather(vs->pvcs, vs->npvcs, offsetof(struct vol_pvc, next), (const void ***)&st->pvcs) != 0 ||
      gather(vs->pvs, vs->npvs, offsetof(struct vol_pv, next), (const void ***)&st->pvs) != 0 ||
      gather(vs->classes, vs->nclasses, offsetof(struct vol_class, next), (const void ***)&st->classes) !=
          0 ||
      gather(vs->csinodes, vs->ncsinodes, offsetof(struct vol_csinode, next),
             (const void ***)&st->csinodes) != 0) {
    stv__cache_storage_free(st);
    return STV_ENOMEM;
  }
  return 0;
}

void stv__cache_storage_free(struct cache_storage *st) {
  stv_free(st->pvcs);
  stv_free(st->pvs);
  stv_free(st->classes);
  stv_free(st->csinodes);
  memset(st, 0, sizeof(*st));
}

/* ---------------------------------------------------------------------- */
/* Copies into another snapshot                                           */

struct scopy {
  struct stv_snapshot *dst;
  int oom;
};

/* str interned in the copy's pool (NULL stays NULL). */
static const char *sc_str(struct scopy *x, const char *str) {
  const char *p;
  if (str == NULL) return NULL;
  if ((p = stv_strpool_get(&x->dst->pool, str)) == NULL) x->oom = 1;
  return p;
}

/* An arena copy of n elements of src, or NULL (n == 0, or out of memory: x->oom). */
static void *sc_dup(struct scopy *x, const void *src, size_t n, size_t elem) {
  void *p;
  if (n == 0 || src == NULL) return NULL;
  if ((p = stv_arena_alloc(&x->dst->mem, n * elem)) == NULL) {
    x->oom = 1;
    return NULL;
  }
  return memcpy(p, src, n * elem);
}

static const char **sc_strs(struct scopy *x, const char *const *v, uint32_t n) {
  const char **d = sc_dup(x, v, n, sizeof(*v));
  uint32_t i;
  for (i = 0; d != NULL && i < n; i++) d[i] = sc_str(x, v[i]);
  return d;
}

static void sc_sel(struct scopy *x, struct stv_selector *sel) {
  uint32_t i;
  sel->reqs = sc_dup(x, sel->reqs, sel->n, sizeof(*sel->reqs));
  for (i = 0; sel->reqs != NULL && i < sel->n; i++) {
    sel->reqs[i].key = sc_str(x, sel->reqs[i].key);
    sel->reqs[i].values = sc_strs(x, sel->reqs[i].values, sel->reqs[i].nvalues);
  }
}

static void sc_aff(struct scopy *x, struct stv_node_affinity *a) {
  uint32_t i;
  a->terms = sc_dup(x, a->terms, a->n, sizeof(*a->terms));
  for (i = 0; a->terms != NULL && i < a->n; i++) {
    sc_sel(x, &a->terms[i].exprs);
    sc_sel(x, &a->terms[i].fields);
  }
}

/* The strings and arrays of one record copied into x's snapshot (the record itself is a copy already). */
typedef void fix_fn(struct scopy *x, void *rec);

static void fix_pvc(struct scopy *x, void *rec) {
  struct vol_pvc *c = rec;
  c->ns = sc_str(x, c->ns);
  c->name = sc_str(x, c->name);
  c->volume = sc_str(x, c->volume);
  c->cls = sc_str(x, c->cls);
}

static void fix_pv(struct scopy *x, void *rec) {
  struct vol_pv *v = rec;
  uint32_t z;
  v->name = sc_str(x, v->name);
  v->cls = sc_str(x, v->cls);
  v->driver = sc_str(x, v->driver);
  v->claim_ns = sc_str(x, v->claim_ns);
  v->claim_name = sc_str(x, v->claim_name);
  sc_aff(x, &v->aff);
  v->zones = sc_dup(x, v->zones, v->nzones, sizeof(*v->zones));
  for (z = 0; v->zones != NULL && z < v->nzones; z++) {
    v->zones[z].key = sc_str(x, v->zones[z].key);
    v->zones[z].values = sc_strs(x, v->zones[z].values, v->zones[z].n);
  }
}

static void fix_class(struct scopy *x, void *rec) {
  struct vol_class *k = rec;
  k->name = sc_str(x, k->name);
  k->provisioner = sc_str(x, k->provisioner);
  k->created = sc_str(x, k->created);
  sc_aff(x, &k->topo);
}

static void fix_csinode(struct scopy *x, void *rec) {
  struct vol_csinode *n = rec;
  n->node = sc_str(x, n->node);
  n->driver = sc_strs(x, n->driver, n->n);
  n->count = sc_dup(x, n->count, n->n, sizeof(*n->count));
  n->keys = sc_strs(x, n->keys, n->nkeys);
}

/* Every vol_* record starts with its next pointer: the lists are copied alike. */
_Static_assert(offsetof(struct vol_pvc, next) == 0 && offsetof(struct vol_pv, next) == 0 &&
                   offsetof(struct vol_class, next) == 0 && offsetof(struct vol_csinode, next) == 0,
               "storage records start with their next pointer");

/* Appends copies of the n records src (elem bytes each) to the list at *head, in their order. */
static void copy_list(struct scopy *x, void *head, size_t *count, const void *const *src, size_t n,
                      size_t elem, fix_fn *fix) {
  void **tail = head;
  size_t i;
  for (i = 0; i < n && !x->oom; i++) {
    void **r = sc_dup(x, src[i], 1, elem);
    if (r == NULL) return;
    fix(x, r);
    *r = NULL;
    *tail = r;
    tail = r;
    (*count)++;
  }
}

/* A copy of the volumes record of pod i. */
static struct vol_pod *copy_pod_vols(struct scopy *x, const struct vol_pod *src, uint32_t i) {
  struct vol_pod *d = sc_dup(x, src, 1, sizeof(*d));
  uint32_t k;
  if (d == NULL) return NULL;
  d->next = NULL;
  d->pod = i;
  d->where = sc_str(x, d->where);
  d->refs = sc_dup(x, d->refs, d->n, sizeof(*d->refs));
  for (k = 0; d->refs != NULL && k < d->n; k++) {
    d->refs[k].claim = sc_str(x, d->refs[k].claim);
    d->refs[k].eph_cls = sc_str(x, d->refs[k].eph_cls);
    d->refs[k].driver = sc_str(x, d->refs[k].driver);
    d->refs[k].handle = sc_str(x, d->refs[k].handle);
  }
  return x->oom ? NULL : d;
}

int stv__cache_storage_copy(struct stv_snapshot *dst, const struct cache_storage *st,
                            struct vol_pod *const *pod_vols, struct vol_pod **out_vols) {
  struct scopy x = {dst, 0};
  struct stv_snapshot_volumes *vs;
  size_t i, any = st->npvcs + st->npvs + st->nclasses + st->ncsinodes;
  for (i = 0; i < dst->npods && any == 0; i++) any += pod_vols[i] != NULL;
  if (any == 0) return 0;
  if ((vs = dst->volumes) == NULL && (vs = dst->volumes = stv_arena_alloc(&dst->mem, sizeof(*vs))) == NULL)
    return STV_ENOMEM;
  copy_list(&x, &vs->pvcs, &vs->npvcs, (const void *const *)st->pvcs, st->npvcs, sizeof(struct vol_pvc),
            fix_pvc);
  copy_list(&x, &vs->pvs, &vs->npvs, (const void *const *)st->pvs, st->npvs, sizeof(struct vol_pv), fix_pv);
  copy_list(&x, &vs->classes, &vs->nclasses, (const void *const *)st->classes, st->nclasses,
            sizeof(struct vol_class), fix_class);
  copy_list(&x, &vs->csinodes, &vs->ncsinodes, (const void *const *)st->csinodes, st->ncsinodes,
            sizeof(struct vol_csinode), fix_csinode);
  /* As the reader pushes them: the last pod first. */
  for (i = 0; i < dst->npods && !x.oom; i++) {
    struct vol_pod *d;
    if (pod_vols[i] == NULL) {
      if (out_vols != NULL) out_vols[i] = NULL;
      continue;
    }
    if ((d = copy_pod_vols(&x, pod_vols[i], (uint32_t)i)) == NULL) break;
    if (out_vols != NULL) {
      out_vols[i] = d;
    } else {
      d->next = vs->pods;
      vs->pods = d;
      vs->npods++;
    }
  }
  return x.oom ? STV_ENOMEM : 0;
}
