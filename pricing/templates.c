/*
 * Node templates: a catalogue seen through one snapshot. Each allowed
 * offering of each instance type becomes a struct stv_template whose
 * strings live in the snapshot's pool and whose resources use the
 * snapshot's dimensions, which is what the packer compares pods against.
 */
#include <string.h>

#include "pricing.h"

/*
 * The well-known labels of a new node, in strcmp order of their keys, so
 * that merging them with a type's sorted labels keeps the set sorted.
 */
enum {
  WK_ARCH,          /* kubernetes.io/arch */
  WK_OS,            /* kubernetes.io/os */
  WK_INSTANCE_TYPE, /* node.kubernetes.io/instance-type */
  WK_CAPACITY_TYPE, /* stevedore.io/capacity-type */
  WK_REGION,        /* topology.kubernetes.io/region */
  WK_ZONE,          /* topology.kubernetes.io/zone */
  WK_N
};

static const char *const wk_keys[WK_N] = {"kubernetes.io/arch",
                                          "kubernetes.io/os",
                                          "node.kubernetes.io/instance-type",
                                          "stevedore.io/capacity-type",
                                          "topology.kubernetes.io/region",
                                          "topology.kubernetes.io/zone"};

static int oom(struct stv_err *err) {
  return stv_err_set(err, STV_ENOMEM, "out of memory building node templates");
}

/*
 * Writes the union of wk[0..WK_N) and own[0..nown) (both sorted by key)
 * into out, sorted; on a shared key the well-known label wins. Returns the
 * number written.
 */
static uint32_t merge_labels(const struct stv_label *wk,
                             const struct stv_label *own, uint32_t nown,
                             struct stv_label *out) {
  uint32_t i = 0, j = 0, n = 0;
  while (i < WK_N || j < nown) {
    int r;
    if (i == WK_N)
      r = 1;
    else if (j == nown)
      r = -1;
    else
      r = strcmp(wk[i].key, own[j].key);
    if (r <= 0) {
      out[n++] = wk[i++];
      if (r == 0) j++;
    } else {
      out[n++] = own[j++];
    }
  }
  return n;
}

int stv_templates_build(struct stv_templates *t, const struct stv_catalog *c,
                        struct stv_snapshot *snap, unsigned allowed,
                        struct stv_err *err) {
  struct stv_strpool *pool = &snap->pool;
  struct stv_label wk[WK_N];
  struct stv_label *own = NULL;
  size_t cap_own = 0, total = 0, k = 0, i;
  const char *ct_names[STV_CT_COUNT];
  int rc = 0, ct;

  memset(t, 0, sizeof(*t));
  stv_arena_init(&t->mem);

  for (i = 0; i < c->ntypes; i++) {
    uint32_t j;
    for (j = 0; j < c->types[i].noff; j++)
      total += (allowed >> c->types[i].off[j].capacity_type) & 1u;
  }
  if (total == 0) return 0;
  t->v = stv_arena_alloc(&t->mem, total * sizeof(*t->v));
  if (t->v == NULL) goto nomem;

  for (i = 0; i < WK_N; i++) {
    wk[i].key = stv_strpool_get(pool, wk_keys[i]);
    if (wk[i].key == NULL) goto nomem;
  }
  wk[WK_OS].value = stv_strpool_get(pool, "linux");
  wk[WK_REGION].value = stv_strpool_get(pool, c->region);
  if (wk[WK_OS].value == NULL || wk[WK_REGION].value == NULL) goto nomem;
  for (ct = 0; ct < STV_CT_COUNT; ct++) {
    ct_names[ct] = stv_strpool_get(
        pool, stv_capacity_type_name((enum stv_capacity_type)ct));
    if (ct_names[ct] == NULL) goto nomem;
  }

  for (i = 0; i < c->ntypes; i++) {
    const struct stv_instance_type *type = &c->types[i];
    int64_t alloc[STV_MAX_RES];
    uint32_t j;

    memset(alloc, 0, sizeof(alloc));
    for (j = 0; j < type->nres; j++) {
      int dim =
          stv_resnames_index(&snap->res, pool, type->allocatable[j].name, 0);
      if (dim == STV_ENOTFOUND) continue;
      if (dim < 0) {
        rc = stv_err_set(err, dim, "%s: resource %s: %s", type->name,
                         type->allocatable[j].name, stv_strerror(dim));
        goto out;
      }
      alloc[dim] = type->allocatable[j].value;
    }

    /* The type's labels, re-interned in the snapshot's pool. */
    if (stv_grow((void **)&own, &cap_own, type->labels.n ? type->labels.n : 1,
                 sizeof(*own)) != 0)
      goto nomem;
    for (j = 0; j < type->labels.n; j++) {
      own[j].key = stv_strpool_get(pool, type->labels.kv[j].key);
      own[j].value = stv_strpool_get(pool, type->labels.kv[j].value);
      if (own[j].key == NULL || own[j].value == NULL) goto nomem;
    }
    wk[WK_ARCH].value = stv_strpool_get(pool, type->arch);
    wk[WK_INSTANCE_TYPE].value = stv_strpool_get(pool, type->name);
    if (wk[WK_ARCH].value == NULL || wk[WK_INSTANCE_TYPE].value == NULL)
      goto nomem;

    for (j = 0; j < type->noff; j++) {
      const struct stv_offering *o = &type->off[j];
      struct stv_template *tm;
      if (!((allowed >> o->capacity_type) & 1u)) continue;
      tm = &t->v[k++];
      tm->instance_type = wk[WK_INSTANCE_TYPE].value;
      tm->zone = stv_strpool_get(pool, o->zone);
      if (tm->zone == NULL) goto nomem;
      tm->capacity_type = o->capacity_type;
      tm->price = o->price;
      tm->limit = o->capacity_type == STV_CT_RESERVED ? o->count : -1;
      memcpy(tm->alloc, alloc, sizeof(alloc));
      wk[WK_CAPACITY_TYPE].value = ct_names[o->capacity_type];
      wk[WK_ZONE].value = tm->zone;
      tm->labels.kv = stv_arena_alloc(
          &t->mem, (WK_N + (size_t)type->labels.n) * sizeof(*tm->labels.kv));
      if (tm->labels.kv == NULL) goto nomem;
      tm->labels.n = merge_labels(wk, own, type->labels.n, tm->labels.kv);
      tm->ntaints = 0;
      tm->taints = NULL;
    }
  }
  t->n = k;
  goto out;

nomem:
  rc = oom(err);
out:
  stv_free(own);
  if (rc != 0) stv_templates_close(t);
  return rc;
}

void stv_templates_close(struct stv_templates *t) {
  stv_arena_reset(&t->mem);
  memset(t, 0, sizeof(*t));
}
