/*
 * stv_snapshot_resolve_volumes: once every object is read, each pod's
 * claims, volumes and inline volumes become constraints on its class (the
 * volumes' node affinity and zone labels, the storage class's allowed
 * topologies, CSI attach limits as resource dimensions) or a reason it
 * cannot be placed, as kube-scheduler's VolumeBinding, VolumeZone and
 * NodeVolumeLimits plugins decide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_internal.h"

/* ---------------------------------------------------------------------- */
/* Storage: from claims to constraints                                    */

/* The most OR-terms a pod's node affinity may have once its volumes' are ANDed in. */
#define VOL_TERMS_MAX 64

/* Drivers whose attach limit new nodes have by instance type (pricing/templates.c). */
static const char *const limited_drivers[] = {"ebs.csi.aws.com", "pd.csi.storage.gke.io",
                                              "disk.csi.azure.com"};

/* A pointer pair as a sort key. */
struct vkey {
  const void *a, *b;
  const void *rec;
};

static int vkey_cmp(const void *x, const void *y) {
  const struct vkey *p = x, *q = y;
  if (p->a != q->a) return (uintptr_t)p->a < (uintptr_t)q->a ? -1 : 1;
  if (p->b != q->b) return (uintptr_t)p->b < (uintptr_t)q->b ? -1 : 1;
  return 0;
}

struct vindex {
  struct vkey *v;
  size_t n;
};

static const void *vfind(const struct vindex *x, const void *a, const void *b) {
  struct vkey k = {a, b, NULL};
  const struct vkey *f;
  if (x->n == 0) return NULL;
  f = bsearch(&k, x->v, x->n, sizeof(*x->v), vkey_cmp);
  return f != NULL ? f->rec : NULL;
}

/* What resolving needs at hand. */
struct vres {
  struct stv_snapshot *s;
  struct stv_snapshot_volumes *vs;
  struct stv_snapshot_read_stats *stats;
  struct stv_err *err;
  struct stv_arena tmp; /* per pod */
  struct vindex pvcs, pvs, classes, csinodes;
  const struct vol_class *default_class;
  const char *zone_keys[4]; /* interned volume zone label keys */
  const char *zone_beta, *region_beta, *zone_ga, *region_ga;
  const char *where; /* the pod being resolved: its file and item */
  /* driver_limited's answers so far (drivers are few) */
  const char *known[32];
  int known_limited[32];
  size_t nknown;
};

static int vindex_build(struct vindex *x, size_t n) {
  x->n = 0;
  x->v = n > 0 ? stv_malloc(n * sizeof(*x->v)) : NULL;
  return n > 0 && x->v == NULL ? STV_ENOMEM : 0;
}

static void vindex_sort(struct vindex *x) {
  if (x->n > 1) qsort(x->v, x->n, sizeof(*x->v), vkey_cmp);
}

/*
 * Whether driver (interned) has an attach limit anywhere: a CSINode count,
 * or a per-type limit on new nodes.
 */
static int driver_limited(struct vres *x, const char *driver) {
  const struct vol_csinode *c;
  size_t i;
  int limited = 0;
  for (i = 0; i < x->nknown; i++)
    if (x->known[i] == driver) return x->known_limited[i];
  for (i = 0; i < sizeof(limited_drivers) / sizeof(limited_drivers[0]); i++)
    if (strcmp(driver, limited_drivers[i]) == 0) limited = 1;
  for (c = x->vs->csinodes; c != NULL && !limited; c = c->next)
    for (i = 0; i < c->n; i++)
      if (c->driver[i] == driver && c->count[i] >= 0) limited = 1;
  if (x->nknown < sizeof(x->known) / sizeof(x->known[0])) {
    x->known[x->nknown] = driver;
    x->known_limited[x->nknown++] = limited;
  }
  return limited;
}

/*
 * The resource dimension counting driver's attachments, created when new:
 * each existing node's allocatable is its CSINode count for the driver,
 * unlimited when its CSINode does not report one or when it has none (as
 * kube-scheduler's NodeVolumeLimits plugin does).
 */
static int driver_dim(struct vres *x, const char *driver, const struct stv_pod *p, int *dim) {
  char name[320];
  int k, existed;
  size_t i;
  uint32_t j;
  snprintf(name, sizeof(name), "%s%s", STV_ATTACH_PREFIX, driver);
  existed = stv_resnames_index(&x->s->res, &x->s->pool, name, 0) >= 0;
  k = stv_resnames_index(&x->s->res, &x->s->pool, name, 1);
  if (k == STV_ELIMIT)
    return stv_err_set(x->err, STV_ELIMIT,
                       "%sPod %s/%s: the attach limit of CSI driver %s needs a resource dimension, and %d "
                       "are in use already (too many distinct resource names and CSI drivers)",
                       x->where != NULL ? x->where : "", p->ns, p->name, driver, STV_MAX_RES);
  if (k < 0) return stv_err_set(x->err, STV_ENOMEM, "out of memory resolving volumes");
  *dim = k;
  if (existed) return 0;
  for (i = 0; i < x->s->nnodes; i++) {
    struct stv_node *n = &x->s->nodes[i];
    const struct vol_csinode *c = vfind(&x->csinodes, n->name, NULL);
    n->alloc[k] = STV_ATTACH_UNLIMITED;
    for (j = 0; c != NULL && j < c->n; j++)
      if (c->driver[j] == driver && c->count[j] >= 0) n->alloc[k] = c->count[j];
  }
  if (x->stats != NULL) x->stats->attach_drivers++;
  return 0;
}

/* One attachment of a pod: its driver's dimension and the volume's identity. */
struct vattach {
  int dim;
  const char *key;
};

/* a AND b as OR-terms: their cross product, in x->tmp. */
static int and_terms(struct vres *x, const struct stv_pod *p, const char *what, struct stv_node_affinity *a,
                     const struct stv_node_affinity *b) {
  const char *at = x->where != NULL ? x->where : "";
  struct stv_node_term *t;
  uint32_t i, j, n = 0;
  if (b->n == 0) return 0;
  if (a->n == 0) {
    *a = *b;
    return 0;
  }
  if ((uint64_t)a->n * b->n > VOL_TERMS_MAX)
    return stv_err_set(x->err, STV_ELIMIT,
                       "%sPod %s/%s: %s: its node affinity ANDed with the volume's has %llu terms, more than "
                       "the %d the planner handles (simplify the pod's or the volume's nodeSelectorTerms)",
                       at, p->ns, p->name, what, (unsigned long long)a->n * b->n, VOL_TERMS_MAX);
  t = stv_arena_alloc(&x->tmp, (size_t)a->n * b->n * sizeof(*t));
  if (t == NULL) return STV_ENOMEM;
  for (i = 0; i < a->n; i++) {
    for (j = 0; j < b->n; j++, n++) {
      const struct stv_node_term *u = &a->terms[i], *v = &b->terms[j];
      struct stv_selector *e = &t[n].exprs, *f = &t[n].fields;
      e->n = u->exprs.n + v->exprs.n;
      f->n = u->fields.n + v->fields.n;
      e->reqs = stv_arena_alloc(&x->tmp, (e->n + 1) * sizeof(*e->reqs));
      f->reqs = stv_arena_alloc(&x->tmp, (f->n + 1) * sizeof(*f->reqs));
      if (e->reqs == NULL || f->reqs == NULL) return STV_ENOMEM;
      if (u->exprs.n) memcpy(e->reqs, u->exprs.reqs, u->exprs.n * sizeof(*e->reqs));
      if (v->exprs.n) memcpy(e->reqs + u->exprs.n, v->exprs.reqs, v->exprs.n * sizeof(*e->reqs));
      if (u->fields.n) memcpy(f->reqs, u->fields.reqs, u->fields.n * sizeof(*f->reqs));
      if (v->fields.n) memcpy(f->reqs + u->fields.n, v->fields.reqs, v->fields.n * sizeof(*f->reqs));
    }
  }
  a->n = n;
  a->terms = t;
  return 0;
}

/*
 * The VolumeZone rule for one zone or region label of a volume, as terms:
 * a node that has none of the four zone and region labels passes; else the
 * node's label of the same key must be in the set, and for a beta key a
 * node without it may match with the GA key instead.
 */
static int zone_terms(struct vres *x, const struct vol_zone *z, struct stv_node_affinity *out) {
  struct stv_node_term *t = stv_arena_alloc(&x->tmp, 3 * sizeof(*t));
  struct stv_requirement *q = stv_arena_alloc(&x->tmp, 7 * sizeof(*q));
  const char *ga = NULL;
  int i;
  if (t == NULL || q == NULL) return STV_ENOMEM;
  memset(t, 0, 3 * sizeof(*t));
  memset(q, 0, 7 * sizeof(*q));
  if (z->key == x->zone_beta) ga = x->zone_ga;
  if (z->key == x->region_beta) ga = x->region_ga;
  /* none of the four labels */
  for (i = 0; i < 4; i++) {
    q[i].key = x->zone_keys[i];
    q[i].op = STV_OP_DOES_NOT_EXIST;
  }
  t[0].exprs.n = 4;
  t[0].exprs.reqs = q;
  q[4] = (struct stv_requirement){z->key, STV_OP_IN, z->n, z->values};
  t[1].exprs.n = 1;
  t[1].exprs.reqs = &q[4];
  out->n = 2;
  out->terms = t;
  if (ga != NULL) {
    q[5] = (struct stv_requirement){z->key, STV_OP_DOES_NOT_EXIST, 0, NULL};
    q[6] = (struct stv_requirement){ga, STV_OP_IN, z->n, z->values};
    t[2].exprs.n = 2;
    t[2].exprs.reqs = &q[5];
    out->n = 3;
  }
  return 0;
}

/*
 * For an unbound claim of a class without a provisioner (local volumes):
 * the nodes of the class's available volumes that the claim could bind,
 * as OR-terms; *none is set when there is no such volume, *anywhere when
 * one has no node affinity.
 */
static int static_volume_terms(struct vres *x, const struct vol_class *sc, const struct stv_pod *p,
                               const char *claim, struct stv_node_affinity *out, int *none) {
  const struct vol_pv *v;
  uint32_t n = 0;
  *none = 1;
  out->n = 0;
  out->terms = NULL;
  for (v = x->vs->pvs; v != NULL; v = v->next) {
    int mine = v->claim_name != NULL && v->claim_name == claim && v->claim_ns == p->ns;
    if (v->cls != sc->name || v->nowhere || !(mine || (v->available && v->claim_name == NULL))) continue;
    *none = 0;
    if (v->aff.n == 0) {
      out->n = 0;
      return 0;
    }
    n += v->aff.n;
  }
  if (*none) return 0;
  out->terms = stv_arena_alloc(&x->tmp, (size_t)n * sizeof(*out->terms));
  if (out->terms == NULL) return STV_ENOMEM;
  for (v = x->vs->pvs; v != NULL; v = v->next) {
    int mine = v->claim_name != NULL && v->claim_name == claim && v->claim_ns == p->ns;
    if (v->cls != sc->name || v->nowhere || !(mine || (v->available && v->claim_name == NULL))) continue;
    memcpy(out->terms + out->n, v->aff.terms, v->aff.n * sizeof(*out->terms));
    out->n += v->aff.n;
  }
  return 0;
}

static int add_attach(struct vres *x, const struct stv_pod *p, const char *driver, const char *key,
                      struct vattach *seen, uint32_t *nseen) {
  uint32_t i;
  int dim, rc;
  if (driver == NULL || !driver_limited(x, driver)) return 0;
  if ((rc = driver_dim(x, driver, p, &dim)) != 0) return rc;
  for (i = 0; i < *nseen; i++)
    if (seen[i].dim == dim && seen[i].key == key) return 0;
  seen[*nseen].dim = dim;
  seen[*nseen].key = key;
  (*nseen)++;
  return 0;
}

/* The first reason a pod cannot be placed wins. */
#define SET_WHY(...)                                             \
  do {                                                           \
    if (why[0] == '\0') snprintf(why, sizeof(why), __VA_ARGS__); \
  } while (0)

/* Resolves one pod's volumes into a class of its own when they constrain it. */
static int resolve_pod(struct vres *x, const struct vol_pod *vp) {
  struct stv_pod *p = &x->s->pods[vp->pod];
  const struct stv_class *c = x->s->classes[p->cls];
  struct stv_class nc;
  struct vattach *seen;
  uint32_t nseen = 0, i;
  char why[200], what[300];
  int unchecked = 0, changed = 0, rc;

  why[0] = '\0';
  if (c->daemonset) {
    if (x->stats != NULL) x->stats->vol_daemonset_pods++;
    return 0;
  }
  nc = *c;
  seen = stv_arena_alloc(&x->tmp, (vp->n + 1) * sizeof(*seen));
  if (seen == NULL) return STV_ENOMEM;
  for (i = 0; i < vp->n; i++) {
    const struct vol_ref *f = &vp->refs[i];
    const struct vol_pvc *pvc;
    const struct vol_pv *pv;
    const struct vol_class *sc;
    const char *cls;
    uint32_t z;
    if (f->claim == NULL) {
      if ((rc = add_attach(x, p, f->driver, f->handle, seen, &nseen)) != 0) return rc;
      continue;
    }
    snprintf(what, sizeof(what), "spec.volumes[%ld]: claim %s", f->index, f->claim);
    pvc = vfind(&x->pvcs, p->ns, f->claim);
    if (pvc == NULL && !f->ephemeral) {
      if (x->vs->npvcs == 0) {
        unchecked = 1;
        continue;
      }
      SET_WHY("persistentvolumeclaim \"%s\" not found", f->claim);
      continue;
    }
    if (pvc != NULL && pvc->deleting) {
      SET_WHY("persistentvolumeclaim \"%s\" is being deleted", f->claim);
      continue;
    }
    if (pvc != NULL && pvc->volume != NULL) {
      pv = vfind(&x->pvs, pvc->volume, NULL);
      if (pv == NULL) {
        if (x->vs->npvs == 0) {
          unchecked = 1;
          continue;
        }
        SET_WHY(
            "persistentvolumeclaim \"%s\" is bound to PersistentVolume \"%s\", which is not in the snapshot",
            f->claim, pvc->volume);
        continue;
      }
      if (pv->nowhere) {
        SET_WHY(
            "node(s) had volume node affinity conflict (PersistentVolume \"%s\" of claim %s selects nodes "
            "by matchFields only, which volume binding never matches)",
            pv->name, f->claim);
        continue;
      }
      if ((rc = and_terms(x, p, what, &nc.affinity, &pv->aff)) != 0) return rc;
      for (z = 0; z < pv->nzones; z++) {
        struct stv_node_affinity zt;
        if ((rc = zone_terms(x, &pv->zones[z], &zt)) != 0) return rc;
        if ((rc = and_terms(x, p, what, &nc.affinity, &zt)) != 0) return rc;
      }
      changed |= pv->aff.n > 0 || pv->nzones > 0;
      if ((rc = add_attach(x, p, pv->driver, pv->name, seen, &nseen)) != 0) return rc;
      continue;
    }
    /* Unbound: the claim's class, else the default class, as admission and retroactive assignment set it. */
    cls = pvc != NULL ? pvc->cls : f->eph_cls;
    if (cls == NULL) cls = x->default_class != NULL ? x->default_class->name : NULL;
    if (cls == NULL && x->vs->nclasses == 0) {
      unchecked = 1;
      continue;
    }
    sc = cls != NULL && *cls != '\0' ? vfind(&x->classes, cls, NULL) : NULL;
    if (sc == NULL && cls != NULL && *cls != '\0' && x->vs->nclasses == 0) {
      unchecked = 1;
      continue;
    }
    if (sc == NULL || !sc->wffc) {
      SET_WHY("pod has unbound immediate PersistentVolumeClaims (claim %s, storage class %s%s%s: no node can "
              "take the pod until the claim is bound)",
              f->claim, cls != NULL && *cls ? "\"" : "", cls != NULL && *cls ? cls : "none",
              cls != NULL && *cls ? "\"" : "");
      continue;
    }
    if (strcmp(sc->provisioner, "kubernetes.io/no-provisioner") == 0) {
      struct stv_node_affinity st;
      int none;
      if ((rc = static_volume_terms(x, sc, p, f->claim, &st, &none)) != 0) return rc;
      if (none) {
        SET_WHY(
            "node(s) didn't find available persistent volumes to bind (claim %s: storage class \"%s\" has "
            "no provisioner and no available volume)",
            f->claim, sc->name);
        continue;
      }
      if ((rc = and_terms(x, p, what, &nc.affinity, &st)) != 0) return rc;
      changed |= st.n > 0;
    } else {
      if ((rc = and_terms(x, p, what, &nc.affinity, &sc->topo)) != 0) return rc;
      changed |= sc->topo.n > 0;
      const char *driver = stv_strpool_get(&x->s->pool, stv__migrated_driver(sc->provisioner));
      if (driver == NULL) return STV_ENOMEM;
      if ((rc = add_attach(x, p, driver, f->claim, seen, &nseen)) != 0) return rc;
    }
  }
  if (unchecked && x->stats != NULL) {
    x->stats->vol_unchecked_pods++;
    if (p->node < 0 && p->node_name == NULL) x->stats->vol_unchecked_pending++;
  }
  if (why[0] != '\0') {
    /* Bound pods run already: only pending ones are held back. */
    if (p->node_name != NULL) return 0;
    if ((nc.blocked = stv_strpool_get(&x->s->pool, why)) == NULL) return STV_ENOMEM;
    if (x->stats != NULL) x->stats->vol_blocked_pods++;
    changed = 1;
  }
  for (i = 0; i < nseen; i++) {
    nc.req[seen[i].dim]++;
    changed = 1;
  }
  if (!changed) return 0;
  rc = stv_snapshot_intern_class(x->s, &nc, &p->cls);
  if (rc == STV_ENOMEM) return rc;
  if (rc != 0) return stv_err_set(x->err, rc, "Pod %s/%s: %s", p->ns, p->name, stv_strerror(rc));
  return 0;
}

/*
 * The CSI drivers' topology keys that carry the zone: some node has the
 * label, and every node that has it has it equal to its zone. New nodes get
 * them (kubelet labels a node with a driver's topology when it registers),
 * so that allowedTopologies on them (topology.ebs.csi.aws.com/zone,
 * topology.gke.io/zone) can match new nodes.
 */
static int zone_alias(struct vres *x, const char *key);

static int zone_aliases(struct vres *x) {
  /* The block-storage drivers' keys count even when CSINodes were not dumped. */
  static const char *const well_known[] = {"topology.ebs.csi.aws.com/zone", "topology.gke.io/zone",
                                           "topology.disk.csi.azure.com/zone"};
  const struct vol_csinode *c;
  uint32_t i;
  int rc;
  for (i = 0; i < sizeof(well_known) / sizeof(well_known[0]); i++) {
    const char *key = stv_strpool_get(&x->s->pool, well_known[i]);
    if (key == NULL) return STV_ENOMEM;
    if ((rc = zone_alias(x, key)) != 0) return rc;
  }
  for (c = x->vs->csinodes; c != NULL; c = c->next)
    for (i = 0; i < c->nkeys; i++)
      if ((rc = zone_alias(x, c->keys[i])) != 0) return rc;
  return 0;
}

/* Adds key (interned) to the snapshot's zone labels when it is one. */
static int zone_alias(struct vres *x, const char *key) {
  struct stv_snapshot *s = x->s;
  const char **grown;
  int seen = 0, alias = 1;
  uint32_t j;
  size_t n;
  if (key == x->zone_ga || key == x->zone_beta || key == x->region_ga || key == x->region_beta) return 0;
  for (j = 0; j < s->nzone_labels; j++)
    if (s->zone_labels[j] == key) return 0;
  for (n = 0; n < s->nnodes && alias; n++) {
    const char *v = stv_labels_get(&s->nodes[n].labels, key);
    if (v == NULL) continue;
    seen = 1;
    alias = s->nodes[n].zone != NULL && strcmp(v, s->nodes[n].zone) == 0;
  }
  if (!seen || !alias) return 0;
  grown = stv_arena_alloc(&s->mem, ((size_t)s->nzone_labels + 1) * sizeof(*grown));
  if (grown == NULL) return STV_ENOMEM;
  if (s->nzone_labels > 0) memcpy(grown, s->zone_labels, s->nzone_labels * sizeof(*grown));
  grown[s->nzone_labels++] = key;
  s->zone_labels = grown;
  return 0;
}

int stv_snapshot_resolve_volumes(struct stv_snapshot *s, struct stv_snapshot_read_stats *stats,
                                 struct stv_err *err) {
  struct stv_snapshot_volumes *vs = s->volumes;
  struct vres x;
  const struct vol_pvc *c;
  const struct vol_pv *v;
  const struct vol_class *k;
  const struct vol_csinode *n;
  const struct vol_pod *vp;
  int rc = 0;

  if (vs != NULL && vs->resolved) return 0;
  memset(&x, 0, sizeof(x));
  x.s = s;
  x.vs = vs;
  x.stats = stats;
  x.err = err;
  stv_arena_init(&x.tmp);
  x.zone_ga = x.zone_keys[0] = stv_strpool_get(&s->pool, "topology.kubernetes.io/zone");
  x.region_ga = x.zone_keys[1] = stv_strpool_get(&s->pool, "topology.kubernetes.io/region");
  x.zone_beta = x.zone_keys[2] = stv_strpool_get(&s->pool, "failure-domain.beta.kubernetes.io/zone");
  x.region_beta = x.zone_keys[3] = stv_strpool_get(&s->pool, "failure-domain.beta.kubernetes.io/region");
  if (x.zone_ga == NULL || x.region_ga == NULL || x.zone_beta == NULL || x.region_beta == NULL) goto nomem;
  if (vs == NULL) { /* no storage objects: only the zone labels new nodes carry */
    struct stv_snapshot_volumes none;
    memset(&none, 0, sizeof(none));
    x.vs = &none;
    return zone_aliases(&x) != 0 ? stv_err_set(err, STV_ENOMEM, "out of memory resolving volumes") : 0;
  }
  if (vindex_build(&x.pvcs, vs->npvcs) || vindex_build(&x.pvs, vs->npvs) ||
      vindex_build(&x.classes, vs->nclasses) || vindex_build(&x.csinodes, vs->ncsinodes))
    goto nomem;
  for (c = vs->pvcs; c != NULL; c = c->next) x.pvcs.v[x.pvcs.n++] = (struct vkey){c->ns, c->name, c};
  for (v = vs->pvs; v != NULL; v = v->next) x.pvs.v[x.pvs.n++] = (struct vkey){v->name, NULL, v};
  for (k = vs->classes; k != NULL; k = k->next) {
    x.classes.v[x.classes.n++] = (struct vkey){k->name, NULL, k};
    /* Several default classes: the newest wins, as the API server picks it; then the first name. */
    if (k->is_default) {
      const struct vol_class *d = x.default_class;
      int cmp = d != NULL ? strcmp(k->created, d->created) : 1;
      if (d == NULL || cmp > 0 || (cmp == 0 && strcmp(k->name, d->name) < 0)) x.default_class = k;
    }
  }
  for (n = vs->csinodes; n != NULL; n = n->next)
    x.csinodes.v[x.csinodes.n++] = (struct vkey){n->node, NULL, n};
  vindex_sort(&x.pvcs);
  vindex_sort(&x.pvs);
  vindex_sort(&x.classes);
  vindex_sort(&x.csinodes);
  /* Duplicates would make the lookups ambiguous. */
  {
    static const char *const kinds[] = {"PersistentVolumeClaim", "PersistentVolume", "StorageClass",
                                        "CSINode"};
    const struct vindex *ix[] = {&x.pvcs, &x.pvs, &x.classes, &x.csinodes};
    size_t a, b;
    for (a = 0; a < 4; a++)
      for (b = 1; b < ix[a]->n; b++)
        if (vkey_cmp(&ix[a]->v[b - 1], &ix[a]->v[b]) == 0) {
          const char *first = ix[a]->v[b].a, *second = ix[a]->v[b].b;
          rc = stv_err_set(err, STV_ECONFLICT, "%s %s%s%s: appears twice in the snapshot", kinds[a], first,
                           second != NULL ? "/" : "", second != NULL ? second : "");
          goto out;
        }
  }
  if (zone_aliases(&x) != 0) goto nomem;
  for (vp = vs->pods; vp != NULL; vp = vp->next) {
    x.where = vp->where;
    rc = resolve_pod(&x, vp);
    stv_arena_reset(&x.tmp);
    if (rc == STV_ENOMEM) goto nomem;
    if (rc != 0) goto out;
  }
  if (stats != NULL && stats->attach_drivers > 0 && vs->ncsinodes == 0) stats->vol_no_csinodes = 1;
  vs->resolved = 1;
  goto out;
nomem:
  rc = stv_err_set(err, STV_ENOMEM, "out of memory resolving volumes");
out:
  stv_arena_reset(&x.tmp);
  stv_free(x.pvcs.v);
  stv_free(x.pvs.v);
  stv_free(x.classes.v);
  stv_free(x.csinodes.v);
  return rc;
}
