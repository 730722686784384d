/*
 * Node templates: a catalogue seen through one snapshot. Each allowed
 * offering of each instance type (per node pool, when pools are given)
 * becomes a struct stv_template whose strings live in the snapshot's pool
 * (or, built owned, in the templates' own, so that they serve later
 * snapshots with the same dimensions) and whose resources use the
 * snapshot's dimensions, which is what the packer compares pods against.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pricing.h"

/* The most labels a template sets itself (see stv_templates_build). */
#define WK_MAX 10

static int oom(struct stv_err *err) {
  return stv_err_set(err, STV_ENOMEM, "out of memory building node templates");
}

static int label_cmp(const void *a, const void *b) {
  return strcmp(((const struct stv_label *)a)->key, ((const struct stv_label *)b)->key);
}

/*
 * Writes the union of a[0..na) and b[0..nb) (both sorted by key, keys
 * unique) into out, sorted; on a shared key a's label wins. Returns the
 * number written.
 */
static uint32_t merge_labels(const struct stv_label *a, uint32_t na, const struct stv_label *b, uint32_t nb,
                             struct stv_label *out) {
  uint32_t i = 0, j = 0, n = 0;
  while (i < na || j < nb) {
    int r;
    if (i == na)
      r = 1;
    else if (j == nb)
      r = -1;
    else
      r = strcmp(a[i].key, b[j].key);
    if (r <= 0) {
      out[n++] = a[i++];
      if (r == 0) j++;
    } else {
      out[n++] = b[j++];
    }
  }
  return n;
}

size_t stv_instance_family(const char *provider, const char *type, const char **size) {
  size_t n;
  if (provider != NULL && strcmp(provider, "aws") == 0)
    n = strcspn(type, ".");
  else if (provider != NULL && strcmp(provider, "gcp") == 0)
    n = strcspn(type, "-");
  else
    n = strcspn(type, ".-");
  if (size != NULL) *size = type[n] != '\0' ? type + n + 1 : type + n;
  return n;
}

/* Whether s[0..n) (n == SIZE_MAX: all of s) is one of list[0..count); an empty list holds anything. */
static int listed(const char *const *list, uint32_t count, const char *s, size_t n) {
  uint32_t i;
  if (count == 0) return 1;
  for (i = 0; i < count; i++) {
    if (n == SIZE_MAX ? strcmp(list[i], s) == 0 : strncmp(list[i], s, n) == 0 && list[i][n] == '\0') return 1;
  }
  return 0;
}

/*
 * Whether pool (NULL: the default pool) admits instance type type of
 * catalogue c. Burstable types only where the pool allows them.
 */
static int type_in_pool(const struct stv_node_pool *pool, const struct stv_catalog *c,
                        const struct stv_instance_type *type) {
  const char *size;
  size_t flen;
  if (type->baseline > 0 && (pool == NULL || pool->burstable == STV_BURST_NONE)) return 0;
  if (pool == NULL) return 1;
  flen = stv_instance_family(c->provider, type->name, &size);
  return listed(pool->families, pool->nfamilies, type->name, flen) &&
         listed(pool->sizes, pool->nsizes, size, SIZE_MAX) &&
         listed(pool->archs, pool->narchs, type->arch, SIZE_MAX);
}

/* Whether pool (NULL: the default pool) admits offering o, given the allowed capacity types. */
static int offering_in_pool(const struct stv_node_pool *pool, unsigned allowed,
                            const struct stv_offering *o) {
  if (!((allowed >> o->capacity_type) & 1u)) return 0;
  if (pool == NULL) return 1;
  if (pool->capacity_types != 0 && !((pool->capacity_types >> o->capacity_type) & 1u)) return 0;
  return listed(pool->zones, pool->nzones, o->zone, SIZE_MAX);
}

const char *stv_burst_mode_name(enum stv_burst_mode m) {
  return m == STV_BURST_STANDARD ? "standard" : m == STV_BURST_UNLIMITED ? "unlimited" : "none";
}

/*
 * A burstable type's cpu as pool uses it (docs/catalog.md): unlimited mode
 * with a surplus price keeps the allocatable cpu and charges credits above
 * vCPUs x baseline (*baseline_m, *surplus set); otherwise the node offers
 * pods only that baseline share (*cpu_alloc lowered to it).
 */
static void burst_cpu(const struct stv_node_pool *pool, const struct stv_instance_type *type, int64_t *cpu_alloc,
                      int64_t *baseline_m, double *surplus) {
  int64_t vcpu_m = stv_resource_get(type->capacity, type->nres, "cpu");
  int64_t base = (int64_t)floor((double)vcpu_m * type->baseline + 0.5);
  *baseline_m = 0;
  *surplus = 0;
  if (type->baseline <= 0 || pool == NULL) return;
  if (pool->burstable == STV_BURST_UNLIMITED && type->surplus_price > 0) {
    *baseline_m = base;
    *surplus = type->surplus_price;
  } else if (*cpu_alloc > base) {
    *cpu_alloc = base;
  }
}

void stv_templates_default_node_cost(struct stv_templates *t, const struct stv_node_pool *pools, size_t npools,
                                     double cost) {
  size_t i, p;
  for (i = 0; i < t->n; i++) {
    struct stv_template *tm = &t->v[i];
    int own = 0;
    for (p = 0; p < npools && tm->pool != NULL; p++)
      if (strcmp(pools[p].name, tm->pool) == 0) own = pools[p].node_cost >= 0;
    if (!own) tm->node_cost = cost;
  }
}

void stv_templates_pool_limits(struct stv_templates *t, const struct stv_node_pool *pools, size_t npools) {
  size_t i, p;
  for (i = 0; i < t->n; i++)
    for (p = 0; p < npools && t->v[i].pool != NULL; p++)
      if (strcmp(pools[p].name, t->v[i].pool) == 0 && pools[p].limits.nodes >= 0) t->v[i].pool_limits = &pools[p].limits;
}

/* A pool's labels and taints, re-interned in the snapshot's pool. */
struct pool_view {
  const char *name; /* interned; NULL for the default pool */
  struct stv_label *labels;
  uint32_t nlabels;
  struct stv_taint *taints;
  uint32_t ntaints;
};

static int view_pool(const struct stv_node_pool *pool, struct stv_templates *t, struct stv_strpool *sp,
                     struct pool_view *v, struct stv_err *err) {
  uint32_t i;
  memset(v, 0, sizeof(*v));
  if (pool == NULL) return 0;
  if ((v->name = stv_strpool_get(sp, pool->name)) == NULL) return oom(err);
  if (pool->labels.n > 0) {
    v->labels = stv_arena_alloc(&t->mem, pool->labels.n * sizeof(*v->labels));
    if (v->labels == NULL) return oom(err);
    for (i = 0; i < pool->labels.n; i++) {
      v->labels[i].key = stv_strpool_get(sp, pool->labels.kv[i].key);
      v->labels[i].value = stv_strpool_get(sp, pool->labels.kv[i].value);
      if (v->labels[i].key == NULL || v->labels[i].value == NULL) return oom(err);
    }
    v->nlabels = pool->labels.n;
    qsort(v->labels, v->nlabels, sizeof(*v->labels), label_cmp);
  }
  if (pool->ntaints > 0) {
    v->taints = stv_arena_alloc(&t->mem, pool->ntaints * sizeof(*v->taints));
    if (v->taints == NULL) return oom(err);
    for (i = 0; i < pool->ntaints; i++) {
      v->taints[i].key = stv_strpool_get(sp, pool->taints[i].key);
      v->taints[i].value = stv_strpool_get(sp, pool->taints[i].value ? pool->taints[i].value : "");
      v->taints[i].effect = pool->taints[i].effect;
      if (v->taints[i].key == NULL || v->taints[i].value == NULL) return oom(err);
    }
    v->ntaints = pool->ntaints;
  }
  return 0;
}

/* Interned constants of one build. */
struct names {
  const char *key_arch, *key_os, *key_type, *key_ct, *key_region, *key_zone;
  const char *key_karpenter, *key_eks, *key_gke_spot, *key_pool;
  const char *linux_, *region, *truth;
  const char *ct[STV_CT_COUNT];  /* reserved, spot, on-demand */
  const char *eks[STV_CT_COUNT]; /* ON_DEMAND, SPOT, ON_DEMAND */
  int aws, gcp;
};

static int intern_names(struct names *nm, const struct stv_catalog *c, struct stv_strpool *sp) {
  static const char *const eks_values[STV_CT_COUNT] = {"ON_DEMAND", "SPOT", "ON_DEMAND"};
  int ct;
  nm->key_arch = stv_strpool_get(sp, "kubernetes.io/arch");
  nm->key_os = stv_strpool_get(sp, "kubernetes.io/os");
  nm->key_type = stv_strpool_get(sp, "node.kubernetes.io/instance-type");
  nm->key_ct = stv_strpool_get(sp, "stevedore.io/capacity-type");
  nm->key_region = stv_strpool_get(sp, "topology.kubernetes.io/region");
  nm->key_zone = stv_strpool_get(sp, "topology.kubernetes.io/zone");
  nm->key_karpenter = stv_strpool_get(sp, "karpenter.sh/capacity-type");
  nm->key_eks = stv_strpool_get(sp, "eks.amazonaws.com/capacityType");
  nm->key_gke_spot = stv_strpool_get(sp, "cloud.google.com/gke-spot");
  nm->key_pool = stv_strpool_get(sp, "stevedore.io/node-pool");
  nm->linux_ = stv_strpool_get(sp, "linux");
  nm->region = stv_strpool_get(sp, c->region);
  nm->truth = stv_strpool_get(sp, "true");
  if (!nm->key_arch || !nm->key_os || !nm->key_type || !nm->key_ct || !nm->key_region || !nm->key_zone ||
      !nm->key_karpenter || !nm->key_eks || !nm->key_gke_spot || !nm->key_pool || !nm->linux_ ||
      !nm->region || !nm->truth)
    return STV_ENOMEM;
  for (ct = 0; ct < STV_CT_COUNT; ct++) {
    nm->ct[ct] = stv_strpool_get(sp, stv_capacity_type_name((enum stv_capacity_type)ct));
    nm->eks[ct] = stv_strpool_get(sp, eks_values[ct]);
    if (nm->ct[ct] == NULL || nm->eks[ct] == NULL) return STV_ENOMEM;
  }
  nm->aws = c->provider != NULL && strcmp(c->provider, "aws") == 0;
  nm->gcp = c->provider != NULL && strcmp(c->provider, "gcp") == 0;
  return 0;
}

/* The labels a new node of this offering gets from Stevedore, sorted by key; returns how many. */
static uint32_t own_labels(const struct names *nm, const char *arch, const char *type, const char *zone,
                           enum stv_capacity_type ct, const char *pool, struct stv_label *wk) {
  uint32_t n = 0;
  wk[n++] = (struct stv_label){nm->key_arch, arch};
  wk[n++] = (struct stv_label){nm->key_os, nm->linux_};
  wk[n++] = (struct stv_label){nm->key_type, type};
  wk[n++] = (struct stv_label){nm->key_ct, nm->ct[ct]};
  wk[n++] = (struct stv_label){nm->key_region, nm->region};
  wk[n++] = (struct stv_label){nm->key_zone, zone};
  wk[n++] = (struct stv_label){nm->key_karpenter, nm->ct[ct]};
  if (nm->aws) wk[n++] = (struct stv_label){nm->key_eks, nm->eks[ct]};
  if (nm->gcp && ct == STV_CT_SPOT) wk[n++] = (struct stv_label){nm->key_gke_spot, nm->truth};
  if (pool != NULL) wk[n++] = (struct stv_label){nm->key_pool, pool};
  qsort(wk, n, sizeof(*wk), label_cmp);
  return n;
}

/* ---------------------------------------------------------------------- */
/* Attach limits of block-storage CSI drivers on new nodes                */

/*
 * AWS instance families on the Xen hypervisor (not Nitro), per the EBS CSI
 * driver's table (kubernetes-sigs/aws-ebs-csi-driver, pkg/cloud: non-Nitro
 * types). Their EBS limit is 39 volumes; on Nitro types the attachments are
 * shared with network interfaces and NVMe instance stores, and 25 is the
 * limit kube-scheduler long applied to them (DefaultMaxEBSNitroVolumeLimit):
 * 28 attachments less the root volume, the primary interface and one more.
 */
static const char *const aws_xen_families[] = {"c1", "c3", "c4", "d2", "g2", "g3", "g3s", "h1",
                                               "i2", "i3", "m1", "m2", "m3", "m4", "p2",  "p3",
                                               "r3", "r4", "t1", "t2", "x1", "x1e"};

static int64_t aws_ebs_limit(const char *type) {
  size_t flen = stv_instance_family("aws", type, NULL), i;
  if (strcmp(type, "i3.metal") == 0) return 25;
  for (i = 0; i < sizeof(aws_xen_families) / sizeof(aws_xen_families[0]); i++)
    if (strlen(aws_xen_families[i]) == flen && strncmp(type, aws_xen_families[i], flen) == 0) return 39;
  return 25;
}

/*
 * GCE persistent disks, as the PD CSI driver reports them (kubernetes-sigs/
 * gcp-compute-persistent-disk-csi-driver, node.go): 15 on the shared-core
 * types, 127 on the others, each the documented limit less the boot disk;
 * the fourth-generation families (C4, C4A, C4D, N4, ...) attach Hyperdisks
 * by core count: 8 up to 2 vCPUs, 16 up to 8, 32 up to 32, 64 up to 144,
 * 128 beyond, again less the boot disk.
 */
static int64_t gcp_pd_limit(const char *type, int64_t vcpu) {
  static const char *const shared_core[] = {"e2-micro", "e2-small", "e2-medium", "f1-micro", "g1-small"};
  static const char *const gen4[] = {"c4", "c4a", "c4d", "n4", "n4a", "n4d", "h4d", "m4"};
  size_t flen = stv_instance_family("gcp", type, NULL), i;
  for (i = 0; i < sizeof(shared_core) / sizeof(shared_core[0]); i++)
    if (strcmp(type, shared_core[i]) == 0) return 15;
  for (i = 0; i < sizeof(gen4) / sizeof(gen4[0]); i++) {
    if (strlen(gen4[i]) != flen || strncmp(type, gen4[i], flen) != 0) continue;
    if (vcpu <= 2) return 7;
    if (vcpu <= 8) return 15;
    if (vcpu <= 32) return 31;
    if (vcpu <= 144) return 63;
    return 127;
  }
  return 127;
}

/*
 * Azure data disks: the catalogue holds no maxDataDiskCount, so a rule
 * that no common size undercuts: two disks per vCPU, at least 2 and at
 * most 32 (D, E and F sizes allow 2 per vCPU up to 32 or 64).
 */
static int64_t azure_disk_limit(int64_t vcpu) {
  int64_t n = 2 * vcpu;
  return n < 2 ? 2 : n > 32 ? 32 : n;
}

/*
 * The attach limit of driver on a new node of type: what existing nodes of
 * the type report in their CSINodes (the largest: a driver fixes its count
 * when it starts, less what is attached then, such as network interfaces,
 * and a new node starts with the fewest), else the driver's per-type rule
 * when the catalogue is its cloud's, else the smallest limit any existing
 * node reports, else none (STV_ATTACH_UNLIMITED).
 */
static int64_t attach_limit(const struct stv_catalog *c, const struct stv_instance_type *type,
                            const struct stv_snapshot *snap, int dim, const char *driver) {
  int64_t same = -1, any = -1, vcpu = 0;
  const char *prov = c->provider != NULL ? c->provider : "";
  size_t i;
  uint32_t j;
  for (i = 0; i < snap->nnodes; i++) {
    const struct stv_node *n = &snap->nodes[i];
    int64_t v = n->alloc[dim];
    if (v >= STV_ATTACH_UNLIMITED) continue;
    if (any < 0 || v < any) any = v;
    if (n->instance_type != NULL && strcmp(n->instance_type, type->name) == 0 && v > same) same = v;
  }
  if (same >= 0) return same;
  for (j = 0; j < type->nres; j++)
    if (strcmp(type->capacity[j].name, "cpu") == 0) vcpu = (type->capacity[j].value + 999) / 1000;
  if (strcmp(prov, "aws") == 0 && strcmp(driver, "ebs.csi.aws.com") == 0) return aws_ebs_limit(type->name);
  if (strcmp(prov, "gcp") == 0 && strcmp(driver, "pd.csi.storage.gke.io") == 0)
    return gcp_pd_limit(type->name, vcpu);
  if (strcmp(prov, "azure") == 0 && strcmp(driver, "disk.csi.azure.com") == 0) return azure_disk_limit(vcpu);
  return any >= 0 ? any : STV_ATTACH_UNLIMITED;
}

/*
 * Adds the snapshot's zone labels (CSI drivers' topology keys that carry
 * the zone; zkeys[0..nz), interned where tm's strings are) to tm's labels
 * with tm's zone, where its labels lack them.
 */
static int add_zone_labels(const char *const *zkeys, uint32_t nz, struct stv_arena *mem, struct stv_template *tm) {
  struct stv_label *extra, *all;
  uint32_t i, n = 0;
  extra = stv_arena_alloc(mem, nz * sizeof(*extra));
  all = stv_arena_alloc(mem, ((size_t)tm->labels.n + nz) * sizeof(*all));
  if (extra == NULL || all == NULL) return STV_ENOMEM;
  for (i = 0; i < nz; i++) {
    uint32_t j;
    for (j = 0; j < n && strcmp(extra[j].key, zkeys[i]) != 0; j++) continue;
    if (j == n) extra[n++] = (struct stv_label){zkeys[i], tm->zone};
  }
  qsort(extra, n, sizeof(*extra), label_cmp);
  tm->labels.n = merge_labels(tm->labels.kv, tm->labels.n, extra, n, all);
  tm->labels.kv = all;
  return 0;
}

/* The dimension of snap named name, or -1. */
static int res_index(const struct stv_resnames *res, const char *name) {
  int i;
  for (i = 0; i < res->n; i++)
    if (strcmp(res->name[i], name) == 0) return i;
  return -1;
}

/* Builds t (memset and its arena initialised by the caller) with strings interned in sp. */
static int build(struct stv_templates *t, const struct stv_catalog *c, const struct stv_snapshot *snap,
                 struct stv_strpool *sp, unsigned allowed, const struct stv_node_pool *pools, size_t npools,
                 struct stv_err *err) {
  struct stv_label wk[WK_MAX], *own = NULL, *mid = NULL;
  size_t cap_own = 0, cap_mid = 0, total = 0, k = 0, i, p, nviews = npools > 0 ? npools : 1;
  struct pool_view *views = NULL;
  const char **zkeys = NULL;
  struct names nm;
  uint32_t z;
  int rc = 0;

  for (p = 0; p < nviews; p++) {
    const struct stv_node_pool *pool = npools > 0 ? &pools[p] : NULL;
    for (i = 0; i < c->ntypes; i++) {
      uint32_t j;
      if (!type_in_pool(pool, c, &c->types[i])) continue;
      for (j = 0; j < c->types[i].noff; j++)
        total += (size_t)offering_in_pool(pool, allowed, &c->types[i].off[j]);
    }
  }
  if (total == 0) return 0;
  t->v = stv_arena_alloc(&t->mem, total * sizeof(*t->v));
  views = stv_arena_alloc(&t->mem, nviews * sizeof(*views));
  if (t->v == NULL || views == NULL) goto nomem;
  if (intern_names(&nm, c, sp) != 0) goto nomem;
  if (snap->nzone_labels > 0 && (zkeys = stv_arena_alloc(&t->mem, snap->nzone_labels * sizeof(*zkeys))) == NULL)
    goto nomem;
  for (z = 0; z < snap->nzone_labels; z++)
    if ((zkeys[z] = stv_strpool_get(sp, snap->zone_labels[z])) == NULL) goto nomem;
  for (p = 0; p < nviews; p++) {
    if ((rc = view_pool(npools > 0 ? &pools[p] : NULL, t, sp, &views[p], err)) != 0) goto out;
  }

  for (p = 0; p < nviews; p++) {
    const struct stv_node_pool *pool = npools > 0 ? &pools[p] : NULL;
    const struct pool_view *pv = &views[p];
    for (i = 0; i < c->ntypes; i++) {
      const struct stv_instance_type *type = &c->types[i];
      int64_t alloc[STV_MAX_RES], baseline_m;
      double surplus;
      const char *arch, *name;
      uint32_t j, nown = type->labels.n;

      if (!type_in_pool(pool, c, type)) continue;
      memset(alloc, 0, sizeof(alloc));
      for (j = 0; j < type->nres; j++) {
        int dim = res_index(&snap->res, type->allocatable[j].name);
        if (dim >= 0) alloc[dim] = type->allocatable[j].value;
      }
      for (j = 0; j < (uint32_t)snap->res.n; j++) {
        const char *rn = snap->res.name[j];
        if (alloc[j] == 0 && strncmp(rn, STV_ATTACH_PREFIX, strlen(STV_ATTACH_PREFIX)) == 0)
          alloc[j] = attach_limit(c, type, snap, (int)j, rn + strlen(STV_ATTACH_PREFIX));
      }
      burst_cpu(pool, type, &alloc[STV_RES_CPU], &baseline_m, &surplus);

      /* The type's labels, re-interned in the snapshot's pool. */
      if (stv_grow((void **)&own, &cap_own, nown ? nown : 1, sizeof(*own)) != 0) goto nomem;
      if (stv_grow((void **)&mid, &cap_mid, WK_MAX + (size_t)pv->nlabels, sizeof(*mid)) != 0) goto nomem;
      for (j = 0; j < nown; j++) {
        own[j].key = stv_strpool_get(sp, type->labels.kv[j].key);
        own[j].value = stv_strpool_get(sp, type->labels.kv[j].value);
        if (own[j].key == NULL || own[j].value == NULL) goto nomem;
      }
      arch = stv_strpool_get(sp, type->arch);
      name = stv_strpool_get(sp, type->name);
      if (arch == NULL || name == NULL) goto nomem;

      for (j = 0; j < type->noff; j++) {
        const struct stv_offering *o = &type->off[j];
        struct stv_template *tm;
        uint32_t nwk, nmid;
        if (!offering_in_pool(pool, allowed, o)) continue;
        tm = &t->v[k++];
        tm->instance_type = name;
        tm->zone = stv_strpool_get(sp, o->zone);
        if (tm->zone == NULL) goto nomem;
        tm->capacity_type = o->capacity_type;
        tm->price = o->price;
        tm->limit = o->capacity_type == STV_CT_RESERVED ? o->count : -1;
        tm->interruption_rate = o->interruption_rate > 0 ? o->interruption_rate : 0;
        tm->pool = pv->name;
        memcpy(tm->alloc, alloc, sizeof(alloc));
        /* Stevedore's own labels win over the pool's, which win over the type's. */
        nwk = own_labels(&nm, arch, name, tm->zone, o->capacity_type, pv->name, wk);
        nmid = merge_labels(wk, nwk, pv->labels, pv->nlabels, mid);
        tm->labels.kv = stv_arena_alloc(&t->mem, ((size_t)nmid + nown) * sizeof(*tm->labels.kv));
        if (tm->labels.kv == NULL) goto nomem;
        tm->labels.n = merge_labels(mid, nmid, own, nown, tm->labels.kv);
        if (snap->nzone_labels > 0 && add_zone_labels(zkeys, snap->nzone_labels, &t->mem, tm) != 0) goto nomem;
        tm->ntaints = pv->ntaints;
        tm->taints = pv->taints;
        tm->node_cost = pool != NULL && pool->node_cost > 0 ? pool->node_cost : 0;
        tm->cpu_baseline = baseline_m;
        tm->surplus_price = surplus;
      }
    }
  }
  t->n = k;
  goto out;

nomem:
  rc = oom(err);
out:
  stv_free(own);
  stv_free(mid);
  return rc;
}

int stv_templates_build_pools(struct stv_templates *t, const struct stv_catalog *c, struct stv_snapshot *snap,
                              unsigned allowed, const struct stv_node_pool *pools, size_t npools,
                              struct stv_err *err) {
  int rc;
  memset(t, 0, sizeof(*t));
  stv_arena_init(&t->mem);
  if ((rc = build(t, c, snap, &snap->pool, allowed, pools, npools, err)) != 0) stv_templates_close(t);
  return rc;
}

int stv_templates_build(struct stv_templates *t, const struct stv_catalog *c, struct stv_snapshot *snap,
                        unsigned allowed, struct stv_err *err) {
  return stv_templates_build_pools(t, c, snap, allowed, NULL, 0, err);
}

int stv_templates_build_owned(struct stv_templates *t, const struct stv_catalog *c,
                              const struct stv_snapshot *snap, unsigned allowed,
                              const struct stv_node_pool *pools, size_t npools, struct stv_err *err) {
  uint32_t i;
  int rc, r;
  memset(t, 0, sizeof(*t));
  stv_arena_init(&t->mem);
  stv_strpool_init(&t->pool);
  t->owned = 1;
  if ((rc = build(t, c, snap, &t->pool, allowed, pools, npools, err)) != 0) goto out;
  /* What of snap the templates depend on, for stv_templates_fit. */
  for (r = 0; r < snap->res.n; r++)
    if ((t->res.name[r] = stv_strpool_get(&t->pool, snap->res.name[r])) == NULL) goto nomem;
  t->res.n = snap->res.n;
  if (snap->nzone_labels > 0 &&
      (t->zone_labels = stv_arena_alloc(&t->mem, snap->nzone_labels * sizeof(*t->zone_labels))) == NULL)
    goto nomem;
  for (i = 0; i < snap->nzone_labels; i++)
    if ((t->zone_labels[i] = stv_strpool_get(&t->pool, snap->zone_labels[i])) == NULL) goto nomem;
  t->nzone_labels = snap->nzone_labels;
  goto out;
nomem:
  rc = oom(err);
out:
  if (rc != 0) stv_templates_close(t);
  return rc;
}

int stv_templates_fit(const struct stv_templates *t, const struct stv_snapshot *snap) {
  uint32_t i;
  int r;
  if (!t->owned || t->res.n != snap->res.n || t->nzone_labels != snap->nzone_labels) return 0;
  for (r = 0; r < snap->res.n; r++)
    if (strcmp(t->res.name[r], snap->res.name[r]) != 0 ||
        strncmp(snap->res.name[r], STV_ATTACH_PREFIX, strlen(STV_ATTACH_PREFIX)) == 0)
      return 0;
  for (i = 0; i < snap->nzone_labels; i++)
    if (strcmp(t->zone_labels[i], snap->zone_labels[i]) != 0) return 0;
  return 1;
}

void stv_templates_close(struct stv_templates *t) {
  stv_arena_reset(&t->mem);
  stv_strpool_close(&t->pool);
  memset(t, 0, sizeof(*t));
}
