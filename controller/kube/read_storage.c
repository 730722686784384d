/*
 * Storage objects as read: PersistentVolumeClaims, PersistentVolumes,
 * StorageClasses and CSINodes, kept in the snapshot's arena as lists, and
 * the volumes of each pod that the storage rules look at. volumes.c turns
 * them into constraints once everything is read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_internal.h"

/* Puts the record rec at the head of the list head and counts it. */
#define LIST_PUSH(head, count, rec) \
  do {                              \
    (rec)->next = (head);           \
    (head) = (rec);                 \
    (count)++;                      \
  } while (0)

/* ---------------------------------------------------------------------- */
/* Storage: claims, volumes, classes, CSINodes                            */

static struct stv_snapshot_volumes *volumes_of(struct rd *r) {
  if (r->s->volumes == NULL) {
    r->s->volumes = stv_arena_alloc(&r->s->mem, sizeof(*r->s->volumes));
    if (r->s->volumes != NULL) memset(r->s->volumes, 0, sizeof(*r->s->volumes));
  }
  return r->s->volumes;
}

/* An arena copy in the snapshot of n elements of src (n may be 0). */
static void *keep(struct rd *r, const void *src, size_t n, size_t elem) {
  void *p;
  if (n == 0) return NULL;
  if (n > SIZE_MAX / elem) return NULL;
  p = stv_arena_alloc(&r->s->mem, n * elem);
  if (p != NULL && src != NULL) memcpy(p, src, n * elem);
  return p;
}

static int keep_selector(struct rd *r, struct stv_selector *sel) {
  uint32_t i;
  if (sel->n == 0) return 0;
  if ((sel->reqs = keep(r, sel->reqs, sel->n, sizeof(*sel->reqs))) == NULL) return stv__oom(r);
  for (i = 0; i < sel->n; i++) {
    struct stv_requirement *q = &sel->reqs[i];
    if (q->nvalues > 0 && (q->values = keep(r, q->values, q->nvalues, sizeof(*q->values))) == NULL)
      return stv__oom(r);
  }
  return 0;
}

/* Moves a node affinity read into scratch memory over to the snapshot. */
static int keep_affinity(struct rd *r, struct stv_node_affinity *a) {
  uint32_t i;
  int rc;
  if (a->n == 0) return 0;
  if ((a->terms = keep(r, a->terms, a->n, sizeof(*a->terms))) == NULL) return stv__oom(r);
  for (i = 0; i < a->n; i++) {
    if ((rc = keep_selector(r, &a->terms[i].exprs)) != 0) return rc;
    if ((rc = keep_selector(r, &a->terms[i].fields)) != 0) return rc;
  }
  return 0;
}

/* An interned copy of str, or NULL for NULL; sets *rc on out of memory. */
static const char *intern_opt(struct rd *r, const char *str, int *rc) {
  const char *v;
  if (str == NULL) return NULL;
  if ((v = stv__intern(r, str)) == NULL) *rc = stv__oom(r);
  return v;
}

/*
 * The CSI driver that serves an in-tree plugin since CSI migration (GA for
 * these), as kube-scheduler counts them: "kubernetes.io/aws-ebs" is
 * ebs.csi.aws.com. Other names are returned unchanged.
 */
static const char *const migrated_plugins[][2] = {{"kubernetes.io/aws-ebs", "ebs.csi.aws.com"},
                                                  {"kubernetes.io/gce-pd", "pd.csi.storage.gke.io"},
                                                  {"kubernetes.io/azure-disk", "disk.csi.azure.com"},
                                                  {"kubernetes.io/azure-file", "file.csi.azure.com"},
                                                  {"kubernetes.io/cinder", "cinder.csi.openstack.org"},
                                                  {"kubernetes.io/vsphere-volume", "csi.vsphere.vmware.com"},
                                                  {"kubernetes.io/portworx-volume", "pxd.portworx.com"}};

const char *stv__migrated_driver(const char *name) {
  size_t i;
  for (i = 0; i < sizeof(migrated_plugins) / sizeof(migrated_plugins[0]); i++)
    if (strcmp(name, migrated_plugins[i][0]) == 0) return migrated_plugins[i][1];
  return name;
}

/*
 * In-tree volume sources of a pod or a PersistentVolume that are attached
 * through a CSI driver since migration: the source's field, the field that
 * identifies the disk, and the driver.
 */
static const char *const intree_sources[][3] = {{"awsElasticBlockStore", "volumeID", "ebs.csi.aws.com"},
                                                {"gcePersistentDisk", "pdName", "pd.csi.storage.gke.io"},
                                                {"azureDisk", "diskName", "disk.csi.azure.com"},
                                                {"cinder", "volumeID", "cinder.csi.openstack.org"},
                                                {"vsphereVolume", "volumePath", "csi.vsphere.vmware.com"}};

/*
 * The attachable volume source of obj (a PersistentVolume's spec or a pod's
 * volume): csi.driver/volumeHandle (volumeHandle only when need_handle) or
 * an in-tree source. *driver and *handle are NULL when there is none.
 */
static int attachable_source(struct rd *r, const cJSON *obj, const struct jpath *p, int need_handle,
                             const char **driver, const char **handle) {
  struct jpath pc = {p, "csi", 0};
  const cJSON *csi, *src;
  size_t i;
  int rc;
  *driver = *handle = NULL;
  if ((rc = stv__get(r, obj, "csi", p, JT_OBJECT, &csi)) != 0) return rc;
  if (csi != NULL) {
    if ((rc = stv__need_str(r, csi, "driver", &pc, driver)) != 0) return rc;
    if (need_handle) return stv__need_str(r, csi, "volumeHandle", &pc, handle);
    return 0;
  }
  for (i = 0; i < sizeof(intree_sources) / sizeof(intree_sources[0]); i++) {
    struct jpath ps = {p, intree_sources[i][0], 0};
    if ((rc = stv__get(r, obj, intree_sources[i][0], p, JT_OBJECT, &src)) != 0) return rc;
    if (src == NULL) continue;
    if ((rc = stv__need_str(r, src, intree_sources[i][1], &ps, handle)) != 0) return rc;
    *driver = intree_sources[i][2];
    return 0;
  }
  return 0;
}

/* A storage class name: the beta annotation wins over spec.storageClassName, as in the API's helpers. */
static int storage_class_name(struct rd *r, const cJSON *meta, const cJSON *spec, const char **out) {
  struct jpath pann = {&P_METADATA, "annotations", 0};
  const cJSON *ann;
  const char *v;
  int rc;
  *out = NULL;
  if ((rc = stv__get(r, meta, "annotations", &P_METADATA, JT_OBJECT, &ann)) != 0) return rc;
  if ((rc = stv__get_str(r, ann, "volume.beta.kubernetes.io/storage-class", &pann, &v)) != 0) return rc;
  if (v == NULL && (rc = stv__get_str(r, spec, "storageClassName", &P_SPEC, &v)) != 0) return rc;
  *out = v;
  return 0;
}

int stv__read_pvc(struct rd *r, const cJSON *item, const cJSON *meta) {
  struct stv_snapshot_volumes *vs = volumes_of(r);
  const cJSON *spec;
  const char *volume, *cls;
  struct vol_pvc *c;
  int rc = 0;
  if (vs == NULL) return stv__oom(r);
  if ((rc = stv__get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if (spec == NULL) return stv__fail(r, STV_EPARSE, &P_SPEC, "missing");
  if ((rc = stv__get_str(r, spec, "volumeName", &P_SPEC, &volume)) != 0) return rc;
  if ((rc = storage_class_name(r, meta, spec, &cls)) != 0) return rc;
  if ((c = keep(r, NULL, 1, sizeof(*c))) == NULL) return stv__oom(r);
  memset(c, 0, sizeof(*c));
  c->ns = intern_opt(r, r->ns, &rc);
  c->name = intern_opt(r, r->name, &rc);
  c->volume = volume != NULL && *volume != '\0' ? intern_opt(r, volume, &rc) : NULL;
  c->cls = intern_opt(r, cls, &rc);
  c->deleting = stv__member(meta, "deletionTimestamp") != NULL;
  if (rc != 0) return rc;
  LIST_PUSH(vs->pvcs, vs->npvcs, c);
  if (r->stats != NULL) r->stats->pvcs++;
  return 0;
}

static int is_zone_key(const char *k) {
  return strcmp(k, "topology.kubernetes.io/zone") == 0 || strcmp(k, "topology.kubernetes.io/region") == 0 ||
         strcmp(k, "failure-domain.beta.kubernetes.io/zone") == 0 ||
         strcmp(k, "failure-domain.beta.kubernetes.io/region") == 0;
}

/* A zone label value: one zone, or a set written "a__b__c" (volume helpers' LabelZonesToSet). */
static int read_zone_label(struct rd *r, const struct stv_label *l, struct vol_zone *z) {
  const char *v = l->value, *e;
  char *buf;
  uint32_t n = 1, i = 0;
  struct jpath pk = {&P_LABELS, l->key, 0};
  struct qbuf q;
  for (e = strstr(v, "__"); e != NULL; e = strstr(e + 2, "__")) n++;
  z->key = l->key;
  z->n = 0;
  if ((z->values = keep(r, NULL, n, sizeof(*z->values))) == NULL) return stv__oom(r);
  if ((buf = stv__scratch(r, strlen(v) + 1, 1)) == NULL) return stv__oom(r);
  for (;;) {
    size_t len;
    e = strstr(v, "__");
    len = e != NULL ? (size_t)(e - v) : strlen(v);
    memcpy(buf, v, len);
    buf[len] = '\0';
    if (len == 0) return stv__fail(r, STV_EINVAL, &pk, "empty zone in \"%s\"", stv__quote(l->value, &q));
    if ((z->values[i++] = stv__intern(r, buf)) == NULL) return stv__oom(r);
    if (e == NULL) break;
    v = e + 2;
  }
  z->n = i;
  return 0;
}

/* spec.nodeAffinity.required of a PersistentVolume: nodeSelectorTerms, as a pod's. */
static int read_pv_affinity(struct rd *r, const cJSON *spec, struct stv_node_affinity *out, int *nowhere) {
  static const struct jpath pna = {&P_SPEC, "nodeAffinity", 0};
  static const struct jpath preq = {&pna, "required", 0};
  struct jpath pt = {&preq, "nodeSelectorTerms", 0};
  const cJSON *na, *req, *terms;
  int rc;
  out->n = 0;
  out->terms = NULL;
  *nowhere = 0;
  if ((rc = stv__get(r, spec, "nodeAffinity", &P_SPEC, JT_OBJECT, &na)) != 0) return rc;
  if ((rc = stv__get(r, na, "required", &pna, JT_OBJECT, &req)) != 0) return rc;
  if (req == NULL) return 0;
  if ((rc = stv__get(r, req, "nodeSelectorTerms", &preq, JT_ARRAY, &terms)) != 0) return rc;
  if ((rc = stv__read_selector_terms(r, terms, &pt, TERMS_VOLUME, out)) != 0) return rc;
  *nowhere = out->n == 0;
  return keep_affinity(r, out);
}

int stv__read_pv(struct rd *r, const cJSON *item, const cJSON *meta) {
  static const struct jpath pref = {&P_SPEC, "claimRef", 0};
  struct stv_snapshot_volumes *vs = volumes_of(r);
  const cJSON *spec, *labels, *ref, *status;
  const char *cls, *driver, *handle, *cns = NULL, *cname = NULL, *phase;
  struct stv_labels l;
  struct vol_pv *v;
  uint32_t i;
  int rc = 0;
  if (vs == NULL) return stv__oom(r);
  if ((rc = stv__get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if (spec == NULL) return stv__fail(r, STV_EPARSE, &P_SPEC, "missing");
  if ((v = keep(r, NULL, 1, sizeof(*v))) == NULL) return stv__oom(r);
  memset(v, 0, sizeof(*v));
  if ((rc = storage_class_name(r, meta, spec, &cls)) != 0) return rc;
  if ((rc = read_pv_affinity(r, spec, &v->aff, &v->nowhere)) != 0) return rc;
  if ((rc = attachable_source(r, spec, &P_SPEC, 1, &driver, &handle)) != 0) return rc;
  if ((rc = stv__get(r, spec, "claimRef", &P_SPEC, JT_OBJECT, &ref)) != 0) return rc;
  if (ref != NULL) {
    if ((rc = stv__get_str(r, ref, "namespace", &pref, &cns)) != 0) return rc;
    if ((rc = stv__get_str(r, ref, "name", &pref, &cname)) != 0) return rc;
  }
  if ((rc = stv__get(r, item, "status", NULL, JT_OBJECT, &status)) != 0) return rc;
  if ((rc = stv__get_str(r, status, "phase", &P_STATUS, &phase)) != 0) return rc;
  if ((rc = stv__get(r, meta, "labels", &P_METADATA, JT_OBJECT, &labels)) != 0) return rc;
  if ((rc = stv__read_string_map(r, labels, &P_LABELS, &l)) != 0) return rc;
  for (i = 0; i < l.n; i++) v->nzones += (uint32_t)is_zone_key(l.kv[i].key);
  if (v->nzones > 0 && (v->zones = keep(r, NULL, v->nzones, sizeof(*v->zones))) == NULL) return stv__oom(r);
  v->nzones = 0;
  for (i = 0; i < l.n; i++) {
    if (!is_zone_key(l.kv[i].key)) continue;
    if ((rc = read_zone_label(r, &l.kv[i], &v->zones[v->nzones])) != 0) return rc;
    v->nzones++;
  }
  v->name = intern_opt(r, r->name, &rc);
  v->cls = intern_opt(r, cls != NULL ? cls : "", &rc);
  v->driver = intern_opt(r, driver != NULL ? stv__migrated_driver(driver) : NULL, &rc);
  v->claim_ns = intern_opt(r, cname != NULL ? (cns != NULL && *cns ? cns : "default") : NULL, &rc);
  v->claim_name = intern_opt(r, cname, &rc);
  v->available = phase != NULL && strcmp(phase, "Available") == 0;
  if (rc != 0) return rc;
  LIST_PUSH(vs->pvs, vs->npvs, v);
  if (r->stats != NULL) r->stats->pvs++;
  return 0;
}

/* A matchLabelExpressions element of a StorageClass's allowedTopologies (of stv__read_list): key In values. */
static int read_topology_expr(struct rd *r, const cJSON *e, const struct jpath *p, const void *ctx,
                              void *slot) {
  struct jpath pv = {p, "values", 0};
  struct stv_requirement *q = slot;
  const cJSON *vals, *v;
  const char *key;
  int rc;
  (void)ctx;
  if ((rc = stv__need_str(r, e, "key", p, &key)) != 0) return rc;
  if ((rc = stv__get(r, e, "values", p, JT_ARRAY, &vals)) != 0) return rc;
  if (vals == NULL) return stv__fail(r, STV_EPARSE, &pv, "missing");
  if (vals->child == NULL) return stv__fail(r, STV_EINVAL, &pv, "must not be empty");
  if ((rc = stv__check_strings(r, vals, &pv)) != 0) return rc;
  q->key = stv__intern(r, key);
  q->op = STV_OP_IN;
  q->values = stv__scratch(r, stv__array_len(vals), sizeof(*q->values));
  if (q->key == NULL || q->values == NULL) return stv__oom(r);
  cJSON_ArrayForEach(v, vals) {
    if ((q->values[q->nvalues++] = stv__intern(r, v->valuestring)) == NULL) return stv__oom(r);
  }
  return 0;
}

/* An allowedTopologies element (of stv__read_list): a node term of its matchLabelExpressions. */
static int read_topology_term(struct rd *r, const cJSON *t, const struct jpath *p, const void *ctx,
                              void *slot) {
  struct jpath pm = {p, "matchLabelExpressions", 0};
  struct stv_node_term *nt = slot;
  const cJSON *mle;
  int rc;
  (void)ctx;
  if ((rc = stv__get(r, t, "matchLabelExpressions", p, JT_ARRAY, &mle)) != 0) return rc;
  if (mle == NULL || mle->child == NULL) return stv__fail(r, STV_EINVAL, &pm, "must not be empty");
  nt->exprs.reqs =
      stv__read_list(r, mle, &pm, sizeof(*nt->exprs.reqs), read_topology_expr, NULL, &nt->exprs.n, &rc);
  return rc;
}

int stv__read_storage_class(struct rd *r, const cJSON *item, const cJSON *meta) {
  static const struct jpath pat = {NULL, "allowedTopologies", 0};
  struct jpath pann = {&P_METADATA, "annotations", 0};
  struct stv_snapshot_volumes *vs = volumes_of(r);
  const cJSON *ann, *topo;
  const char *prov, *def, *betadef, *created;
  struct vol_class *c;
  int rc = 0, mode;
  if (vs == NULL) return stv__oom(r);
  if ((rc = stv__need_str(r, item, "provisioner", NULL, &prov)) != 0) return rc;
  rc = stv__read_choice(r, item, "volumeBindingMode", NULL, "Immediate", "WaitForFirstConsumer", 0, &mode);
  if (rc != 0) return rc;
  if ((rc = stv__get(r, meta, "annotations", &P_METADATA, JT_OBJECT, &ann)) != 0) return rc;
  if ((rc = stv__get_str(r, ann, "storageclass.kubernetes.io/is-default-class", &pann, &def)) != 0) return rc;
  if ((rc = stv__get_str(r, ann, "storageclass.beta.kubernetes.io/is-default-class", &pann, &betadef)) != 0)
    return rc;
  if ((rc = stv__get_str(r, meta, "creationTimestamp", &P_METADATA, &created)) != 0) return rc;
  if ((rc = stv__get(r, item, "allowedTopologies", NULL, JT_ARRAY, &topo)) != 0) return rc;
  if ((c = keep(r, NULL, 1, sizeof(*c))) == NULL) return stv__oom(r);
  memset(c, 0, sizeof(*c));
  c->topo.terms =
      stv__read_list(r, topo, &pat, sizeof(*c->topo.terms), read_topology_term, NULL, &c->topo.n, &rc);
  if (rc != 0 || (rc = keep_affinity(r, &c->topo)) != 0) return rc;
  c->name = intern_opt(r, r->name, &rc);
  c->provisioner = intern_opt(r, prov, &rc);
  c->created = intern_opt(r, created != NULL ? created : "", &rc);
  if (rc != 0) return rc;
  c->wffc = mode == 1;
  c->is_default =
      (def != NULL && strcmp(def, "true") == 0) || (betadef != NULL && strcmp(betadef, "true") == 0);
  LIST_PUSH(vs->classes, vs->nclasses, c);
  if (r->stats != NULL) r->stats->storage_classes++;
  return 0;
}

/* Adds driver d's topologyKeys to c's keys (once each). */
static int read_topology_keys(struct rd *r, const cJSON *d, const struct jpath *pi, struct vol_csinode *c) {
  struct jpath pk = {pi, "topologyKeys", 0};
  const cJSON *keys, *k;
  const char **all;
  uint32_t i;
  int rc;
  if ((rc = stv__get(r, d, "topologyKeys", pi, JT_ARRAY, &keys)) != 0) return rc;
  if (keys == NULL || keys->child == NULL) return 0;
  if ((rc = stv__check_strings(r, keys, &pk)) != 0) return rc;
  if ((all = keep(r, NULL, (size_t)c->nkeys + stv__array_len(keys), sizeof(*all))) == NULL)
    return stv__oom(r);
  if (c->nkeys > 0) memcpy(all, c->keys, c->nkeys * sizeof(*all));
  c->keys = all;
  cJSON_ArrayForEach(k, keys) {
    const char *key = stv__intern(r, k->valuestring);
    if (key == NULL) return stv__oom(r);
    for (i = 0; i < c->nkeys && c->keys[i] != key; i++) continue;
    if (i == c->nkeys) c->keys[c->nkeys++] = key;
  }
  return 0;
}

int stv__read_csinode(struct rd *r, const cJSON *item) {
  static const struct jpath pd = {&P_SPEC, "drivers", 0};
  struct stv_snapshot_volumes *vs = volumes_of(r);
  const cJSON *spec, *drivers, *d;
  struct vol_csinode *c;
  int rc = 0;
  long i = 0;
  if (vs == NULL) return stv__oom(r);
  if ((rc = stv__get(r, item, "spec", NULL, JT_OBJECT, &spec)) != 0) return rc;
  if (spec == NULL) return stv__fail(r, STV_EPARSE, &P_SPEC, "missing");
  if ((rc = stv__get(r, spec, "drivers", &P_SPEC, JT_ARRAY, &drivers)) != 0) return rc;
  if ((c = keep(r, NULL, 1, sizeof(*c))) == NULL) return stv__oom(r);
  memset(c, 0, sizeof(*c));
  if (drivers != NULL && drivers->child != NULL) {
    c->driver = keep(r, NULL, stv__array_len(drivers), sizeof(*c->driver));
    c->count = keep(r, NULL, stv__array_len(drivers), sizeof(*c->count));
    if (c->driver == NULL || c->count == NULL) return stv__oom(r);
  }
  cJSON_ArrayForEach(d, drivers) {
    struct jpath pi = {&pd, NULL, i++};
    struct jpath pa = {&pi, "allocatable", 0}, pc = {&pa, "count", 0};
    const cJSON *alloc;
    const char *name;
    int32_t count;
    int present;
    if (!cJSON_IsObject(d)) return stv__fail(r, STV_EPARSE, &pi, "not an object");
    if ((rc = stv__need_str(r, d, "name", &pi, &name)) != 0) return rc;
    if ((rc = stv__get(r, d, "allocatable", &pi, JT_OBJECT, &alloc)) != 0) return rc;
    if ((rc = stv__get_int32(r, alloc, "count", &pa, &present, &count)) != 0) return rc;
    if (present && count < 0) return stv__fail(r, STV_EINVAL, &pc, "must not be negative");
    if ((rc = read_topology_keys(r, d, &pi, c)) != 0) return rc;
    if ((c->driver[c->n] = stv__intern(r, name)) == NULL) return stv__oom(r);
    c->count[c->n] = present ? count : -1;
    c->n++;
  }
  if ((c->node = stv__intern(r, r->name)) == NULL) return stv__oom(r);
  LIST_PUSH(vs->csinodes, vs->ncsinodes, c);
  if (r->stats != NULL) r->stats->csinodes++;
  return 0;
}

/*
 * Records the volumes of pod pod_index (its spec.volumes, vols, checked to
 * be objects already) that the storage rules look at: claims, generic
 * ephemeral volumes, and inline volumes of attachable drivers.
 */
int stv__record_pod_volumes(struct rd *r, const cJSON *vols, uint32_t pod_index) {
  static const struct jpath pvol = {&P_SPEC, "volumes", 0};
  struct stv_snapshot_volumes *vs;
  struct vol_ref *refs;
  struct vol_pod *vp;
  const cJSON *v;
  uint32_t n = 0;
  long i = 0;
  int rc = 0;
  if (vols == NULL || vols->child == NULL) return 0;
  if ((refs = stv__scratch(r, stv__array_len(vols), sizeof(*refs))) == NULL) return stv__oom(r);
  cJSON_ArrayForEach(v, vols) {
    struct jpath pv = {&pvol, NULL, i};
    struct jpath pc = {&pv, "persistentVolumeClaim", 0}, pe = {&pv, "ephemeral", 0};
    struct jpath pt = {&pe, "volumeClaimTemplate", 0}, pts = {&pt, "spec", 0};
    const cJSON *claim, *eph, *tmpl, *tspec;
    const char *name, *claim_name, *driver, *handle, *cls;
    struct vol_ref *f = &refs[n];
    memset(f, 0, sizeof(*f));
    f->index = i++;
    if ((rc = stv__get(r, v, "persistentVolumeClaim", &pv, JT_OBJECT, &claim)) != 0) return rc;
    if ((rc = stv__get(r, v, "ephemeral", &pv, JT_OBJECT, &eph)) != 0) return rc;
    if (claim != NULL) {
      if ((rc = stv__need_str(r, claim, "claimName", &pc, &claim_name)) != 0) return rc;
      if ((f->claim = stv__intern(r, claim_name)) == NULL) return stv__oom(r);
      n++;
      continue;
    }
    if (eph != NULL) {
      size_t len;
      char *buf;
      if ((rc = stv__need_str(r, v, "name", &pv, &name)) != 0) return rc;
      if ((rc = stv__get(r, eph, "volumeClaimTemplate", &pe, JT_OBJECT, &tmpl)) != 0) return rc;
      if (tmpl == NULL) return stv__fail(r, STV_EPARSE, &pt, "missing");
      if ((rc = stv__get(r, tmpl, "spec", &pt, JT_OBJECT, &tspec)) != 0) return rc;
      if (tspec == NULL) return stv__fail(r, STV_EPARSE, &pts, "missing");
      if ((rc = stv__get_str(r, tspec, "storageClassName", &pts, &cls)) != 0) return rc;
      len = strlen(r->name) + strlen(name) + 2;
      if ((buf = stv__scratch(r, len, 1)) == NULL) return stv__oom(r);
      snprintf(buf, len, "%s-%s", r->name, name);
      f->ephemeral = 1;
      if ((f->claim = stv__intern(r, buf)) == NULL) return stv__oom(r);
      f->eph_cls = intern_opt(r, cls, &rc);
      if (rc != 0) return rc;
      n++;
      continue;
    }
    if ((rc = attachable_source(r, v, &pv, 0, &driver, &handle)) != 0) return rc;
    if (driver == NULL) continue;
    if (handle == NULL) {
      /* An inline CSI volume: one attachment of its own. */
      size_t len = strlen(r->name) + 64;
      char *buf = stv__scratch(r, len, 1);
      if (buf == NULL) return stv__oom(r);
      snprintf(buf, len, "%s/spec.volumes[%ld]", r->name, f->index);
      handle = buf;
    }
    f->driver = intern_opt(r, stv__migrated_driver(driver), &rc);
    f->handle = intern_opt(r, handle, &rc);
    if (rc != 0) return rc;
    n++;
  }
  if (n == 0) return 0;
  if ((vs = volumes_of(r)) == NULL) return stv__oom(r);
  if ((vp = keep(r, NULL, 1, sizeof(*vp))) == NULL || (vp->refs = keep(r, refs, n, sizeof(*refs))) == NULL)
    return stv__oom(r);
  vp->pod = pod_index;
  vp->n = n;
  vp->where = "";
  if (r->path != NULL) {
    size_t len = strlen(r->path) + 40;
    char *buf = stv__scratch(r, len, 1);
    if (buf == NULL) return stv__oom(r);
    snprintf(buf, len, "%s: items[%ld] ", r->path, r->index);
    if ((vp->where = stv__intern(r, buf)) == NULL) return stv__oom(r);
  }
  LIST_PUSH(vs->pods, vs->npods, vp);
  return 0;
}
