/*
 * The watch-driven cluster cache: a long-lived snapshot kept in step with
 * the API server by reflector events (docs/cache.md).
 */
#include <stdio.h>
#include <string.h>

#include "cache_internal.h"
#include "loop.h"

/* The pod is unschedulable as last reported (pod_unschedulable called). */
#define POD_UNSCHED 0x1

static const struct {
  const char *resource, *path, *kind;
  char letter;
} kinds[STV_CACHE_NKINDS] = {
    [STV_CACHE_NODES] = {"nodes", "/api/v1/nodes", "Node", 'N'},
    [STV_CACHE_PODS] = {"pods", "/api/v1/pods", "Pod", 'P'},
    [STV_CACHE_PDBS] = {"poddisruptionbudgets", "/apis/policy/v1/poddisruptionbudgets", "PodDisruptionBudget",
                        'B'},
    [STV_CACHE_NAMESPACES] = {"namespaces", "/api/v1/namespaces", "Namespace", 'S'},
    [STV_CACHE_PVCS] = {"persistentvolumeclaims", "/api/v1/persistentvolumeclaims", "PersistentVolumeClaim",
                        'C'},
    [STV_CACHE_PVS] = {"persistentvolumes", "/api/v1/persistentvolumes", "PersistentVolume", 'V'},
    [STV_CACHE_STORAGECLASSES] = {"storageclasses", "/apis/storage.k8s.io/v1/storageclasses", "StorageClass",
                                  'K'},
    [STV_CACHE_CSINODES] = {"csinodes", "/apis/storage.k8s.io/v1/csinodes", "CSINode", 'I'},
};

int stv_cache_kind_of(const char *kind, enum stv_cache_kind *out) {
  int k;
  for (k = 0; k < STV_CACHE_NKINDS; k++)
    if (kind != NULL && strcmp(kind, kinds[k].kind) == 0) {
      *out = (enum stv_cache_kind)k;
      return 0;
    }
  return STV_ENOTFOUND;
}

const char *stv_cache_kind_resource(enum stv_cache_kind kind) {
  return (unsigned)kind < STV_CACHE_NKINDS ? kinds[kind].resource : NULL;
}

/* ---------------------------------------------------------------------- */
/* Hooks for the provisioner                                              */

static void prov_unsched(void *ctx, const char *ns, const char *name) {
  stv_provision_pod_unschedulable(ctx, ns, name);
}
static void prov_gone(void *ctx, const char *ns, const char *name) {
  stv_provision_pod_gone(ctx, ns, name);
}
static void prov_registered(void *ctx, const char *name, const char *pid) {
  stv_provision_node_registered(ctx, name, pid);
}
static void prov_deleted(void *ctx, const char *name, const char *pid) {
  stv_provision_node_deleted(ctx, name, pid);
}

void stv_cache_provision_hooks(struct stv_cache_hooks *h, struct stv_provision *p) {
  memset(h, 0, sizeof(*h));
  h->pod_unschedulable = prov_unsched;
  h->pod_gone = prov_gone;
  h->node_registered = prov_registered;
  h->node_deleted = prov_deleted;
  h->ctx = p;
}

/* ---------------------------------------------------------------------- */
/* Life                                                                   */

int stv_cache_new(struct stv_cache **out, const struct stv_cache_hooks *hooks) {
  struct stv_cache *c = stv_calloc(1, sizeof(*c));
  *out = NULL;
  if (c == NULL) return STV_ENOMEM;
  if (stv_snapshot_init(&c->s) != 0) {
    stv_snapshot_close(&c->s);
    stv_free(c);
    return STV_ENOMEM;
  }
  if (hooks != NULL) c->hooks = *hooks;
  *out = c;
  return 0;
}

void stv_cache_free(struct stv_cache *c) {
  int k;
  if (c == NULL) return;
  for (k = 0; k < STV_CACHE_NKINDS; k++) stv_reflector_stop(c->refl[k]);
  stv__cache_compaction_abandon(c); /* takes the store when a worker still reads it */
  stv_snapshot_close(&c->s);
  stv_free(c->pod_state);
  stv_free(c->pod_vols);
  stv_free(c->node_pid);
  stv_free(c);
}

const struct stv_snapshot *stv_cache_store(const struct stv_cache *c) {
  return &c->s;
}

void stv_cache_get_stats(const struct stv_cache *c, struct stv_cache_stats *st) {
  *st = c->st;
}

const char *stv_cache_node_provider_id(const struct stv_cache *c, size_t i) {
  return i < c->s.nnodes ? c->node_pid[i] : NULL;
}

/* ---------------------------------------------------------------------- */
/* Events                                                                 */

static const char *str_at(const cJSON *o, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
  if (b != NULL) v = cJSON_GetObjectItemCaseSensitive(v, b);
  return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

/* Whether kube-scheduler marked the pod unschedulable: PodScheduled False, reason Unschedulable. */
static int unschedulable(const cJSON *obj) {
  const cJSON *conds =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "status"), "conditions");
  const cJSON *cd;
  cJSON_ArrayForEach(cd, conds) {
    const char *type = str_at(cd, "type", NULL), *status = str_at(cd, "status", NULL);
    const char *reason = str_at(cd, "reason", NULL);
    if (type == NULL || strcmp(type, "PodScheduled") != 0) continue;
    return status != NULL && strcmp(status, "False") == 0 && reason != NULL &&
           strcmp(reason, "Unschedulable") == 0;
  }
  return 0;
}

/* Removes object i of kind (k its seen entry), telling the hooks. */
static int remove_at(struct stv_cache *c, enum stv_cache_kind kind, size_t i, long k, const char *ns,
                     const char *name) {
  struct stv_snapshot *s = &c->s;
  int rc = 0;
  if (kind == STV_CACHE_PODS) {
    size_t last = s->npods - 1;
    if ((c->pod_state[i] & POD_UNSCHED) && c->hooks.pod_gone != NULL)
      c->hooks.pod_gone(c->hooks.ctx, s->pods[i].ns, s->pods[i].name);
    rc = stv_snapshot_remove_pod(s, i);
    c->pod_state[i] = c->pod_state[last];
    c->pod_vols[i] = c->pod_vols[last];
  } else if (kind == STV_CACHE_NODES) {
    size_t last = s->nnodes - 1;
    if (c->hooks.node_deleted != NULL) c->hooks.node_deleted(c->hooks.ctx, s->nodes[i].name, c->node_pid[i]);
    rc = stv_snapshot_remove_node(s, i);
    c->node_pid[i] = c->node_pid[last];
  } else if (kind == STV_CACHE_PDBS) {
    rc = stv_snapshot_remove_pdb(s, i);
  } else if (kind == STV_CACHE_NAMESPACES) {
    rc = stv_snapshot_remove_namespace(s, i);
  } else {
    stv__cache_storage_remove(c, kinds[kind].letter, ns, name, k);
  }
  if (rc == 0) {
    c->st.removed++;
    c->st.garbage++;
  }
  return rc;
}

/* The seen entry (index into seen_v) of the live object of kind named ns/name, or -1. */
static long find(const struct stv_cache *c, enum stv_cache_kind kind, const char *ns, const char *name) {
  long k;
  if (kind == STV_CACHE_PODS || kind == STV_CACHE_PDBS || kind == STV_CACHE_PVCS) {
    if (ns == NULL) ns = "default";
  } else {
    ns = NULL; /* cluster-scoped */
  }
  k = stv_snapshot_seen_find(&c->s, kinds[kind].letter, ns, name);
  if (k < 0 || c->s.seen_v[k].index == STV_SEEN_GONE) return -1;
  return k;
}

/* After a pod was read at index i (new or replaced): binding and scheduling hooks. */
static void pod_read(struct stv_cache *c, size_t i, const cJSON *obj) {
  const struct stv_pod *p = &c->s.pods[i];
  if (p->node_name == NULL && unschedulable(obj)) {
    c->pod_state[i] |= POD_UNSCHED;
    if (c->hooks.pod_unschedulable != NULL) c->hooks.pod_unschedulable(c->hooks.ctx, p->ns, p->name);
  } else if (c->pod_state[i] & POD_UNSCHED) {
    c->pod_state[i] &= (uint8_t)~POD_UNSCHED;
    if (p->node_name != NULL && c->hooks.pod_gone != NULL) c->hooks.pod_gone(c->hooks.ctx, p->ns, p->name);
  }
}

/* After a node was read at index i: its provider id, and the hook when it is new. */
static int node_read(struct stv_cache *c, size_t i, int is_new, const cJSON *obj) {
  const char *pid = str_at(cJSON_GetObjectItemCaseSensitive(obj, "spec"), "providerID", NULL);
  c->node_pid[i] = NULL;
  if (pid != NULL && (c->node_pid[i] = stv_strpool_get(&c->s.pool, pid)) == NULL) return STV_ENOMEM;
  if (is_new && c->hooks.node_registered != NULL)
    c->hooks.node_registered(c->hooks.ctx, c->s.nodes[i].name, c->node_pid[i]);
  return 0;
}

/* ADDED or MODIFIED: read through the snapshot reader, in place when known. */
static int upsert(struct stv_cache *c, enum stv_cache_kind kind, const cJSON *obj, struct stv_err *err) {
  struct stv_snapshot_read_stats rs;
  struct stv_snapshot *s = &c->s;
  size_t npods = s->npods, nnodes = s->nnodes;
  int rc;
  if (stv_grow((void **)&c->pod_state, &c->cap_pod_state, s->npods + 1, 1) != 0 ||
      stv_grow((void **)&c->pod_vols, &c->cap_pod_vols, s->npods + 1, sizeof(*c->pod_vols)) != 0 ||
      stv_grow((void **)&c->node_pid, &c->cap_node_pid, s->nnodes + 1, sizeof(*c->node_pid)) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  memset(&rs, 0, sizeof(rs));
  if ((rc = stv_snapshot_add_item_stats(s, obj, &rs, err)) != 0) return rc;
  if (kind == STV_CACHE_PODS && (rs.replaced_pod >= 0 || s->npods > npods)) {
    size_t at = rs.replaced_pod >= 0 ? (size_t)rs.replaced_pod : npods;
    if (rs.replaced_pod < 0) c->pod_state[at] = 0;
    /* A newer version's record (or none) replaces the old one (else the next new pod would take it as
     * its own). */
    stv__cache_take_pod_volumes(c, at);
    pod_read(c, at, obj);
  } else if (kind == STV_CACHE_NODES && (rs.replaced_node >= 0 || s->nnodes > nnodes)) {
    size_t at = rs.replaced_node >= 0 ? (size_t)rs.replaced_node : nnodes;
    if (node_read(c, at, rs.replaced_node < 0, obj) != 0)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  if (rs.dup_replaced > 0) {
    /* A newer version replaced the older in place (or an older one was ignored: rare, counted alike). */
    c->st.replaced++;
    c->st.garbage++;
  } else if (rs.pods + rs.nodes + rs.pdbs + rs.namespaces + rs.pvcs + rs.pvs + rs.storage_classes + rs.csinodes >
             0) {
    c->st.added++;
  } else {
    c->st.unchanged++;
  }
  return 0;
}

int stv_cache_apply(struct stv_cache *c, enum stv_cache_kind kind, enum stv_watch_event type,
                    const cJSON *obj, struct stv_err *err) {
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const char *name = str_at(md, "name", NULL), *ns = str_at(md, "namespace", NULL);
  const char *kind_name = str_at(obj, "kind", NULL), *phase;
  long k;
  int rc = 0;
  if ((unsigned)kind >= STV_CACHE_NKINDS)
    return stv_err_set(err, STV_EINVAL, "cache: unknown kind %d", (int)kind);
  if (name == NULL)
    return stv_err_set(err, STV_EPARSE, "%s: a %s event's object has no metadata.name", kinds[kind].resource,
                       type == STV_WATCH_DELETED ? "DELETED" : "ADDED or MODIFIED");
  c->st.events++;
  if (kind_name != NULL && strcmp(kind_name, kinds[kind].kind) != 0)
    return stv_err_set(err, STV_EINVAL, "%s: object %s%s%s is of kind %s, not %s", kinds[kind].resource,
                       ns ? ns : "", ns ? "/" : "", name, kind_name, kinds[kind].kind);
  phase = kind == STV_CACHE_PODS ? str_at(obj, "status", "phase") : NULL;
  if (type == STV_WATCH_DELETED ||
      (phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))) {
    if ((k = find(c, kind, ns, name)) < 0) {
      c->st.unchanged++;
      return 0;
    }
    if (type != STV_WATCH_DELETED) c->st.finished++;
    rc = remove_at(c, kind, c->s.seen_v[k].index, k, ns, name);
  } else {
    rc = upsert(c, kind, obj, err);
    if (rc != 0) return stv_err_prefix(err, "%s", kinds[kind].resource);
  }
  if (rc == STV_ENOMEM) return stv_err_set(err, rc, "%s: out of memory", kinds[kind].resource);
  /* A compaction on a worker started from the store as it was: it gets this event again. */
  if (c->running != NULL && !c->replaying && stv__cache_log(c, kind, type, obj) != 0)
    return stv_err_set(err, STV_ENOMEM, "%s: out of memory", kinds[kind].resource);
  if (!c->replaying) stv__cache_maybe_compact(c);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Sync and reflectors                                                    */

void stv_cache_list_done(struct stv_cache *c, enum stv_cache_kind kind) {
  unsigned want = c->watched ? c->watched : (1u << STV_CACHE_NKINDS) - 1;
  c->listed |= 1u << kind;
  if (c->synced || (c->listed & want) != want) return;
  c->synced = 1;
  stv__cache_synced(c);
  if (c->hooks.synced != NULL) c->hooks.synced(c->hooks.ctx);
}

int stv_cache_synced(const struct stv_cache *c) {
  return c->synced;
}

static int feed_event(void *ctx, enum stv_watch_event type, const cJSON *obj, const char *rv) {
  struct cache_feed *f = ctx;
  struct stv_cache *c = f->c;
  struct stv_err err = {0};
  int rc;
  (void)rv;
  rc = stv_cache_apply(c, f->kind, type, obj, &err);
  if (rc == STV_ENOMEM) return rc; /* the reflector retries after a backoff */
  if (rc != 0) {
    /* An object the API accepted but the cache cannot model: left out, said, counted. */
    c->st.errors++;
    if (c->hooks.error != NULL) c->hooks.error(c->hooks.ctx, &err);
  }
  return 0;
}

static void feed_error(void *ctx, const struct stv_err *err, double retry_in) {
  struct cache_feed *f = ctx;
  if (f->c->hooks.watch_error != NULL) f->c->hooks.watch_error(f->c->hooks.ctx, err, retry_in);
}

void stv_cache_reflector_stats(const struct stv_cache *c, enum stv_cache_kind kind,
                               struct stv_reflector_stats *st) {
  memset(st, 0, sizeof(*st));
  if ((unsigned)kind < STV_CACHE_NKINDS && c->refl[kind] != NULL) stv_reflector_get_stats(c->refl[kind], st);
}

static void feed_synced(void *ctx, const char *rv) {
  struct cache_feed *f = ctx;
  (void)rv;
  stv_cache_list_done(f->c, f->kind);
}

int stv_cache_start(struct stv_cache *c, struct stv_kube *k, long page_limit, struct stv_err *err) {
  int kind, rc;
  if (c->loop == NULL) c->loop = stv_kube_loop(k);
  for (kind = 0; kind < STV_CACHE_NKINDS; kind++) {
    struct stv_reflector_opts o = {.path = kinds[kind].path, .page_limit = page_limit};
    struct stv_reflector_cbs cbs = {
        .on_event = feed_event, .on_synced = feed_synced, .on_error = feed_error, .ctx = &c->feed[kind]};
    c->feed[kind].c = c;
    c->feed[kind].kind = (enum stv_cache_kind)kind;
    c->watched |= 1u << kind;
    if ((rc = stv_reflector_start(&c->refl[kind], k, &o, &cbs, err)) != 0)
      return stv_err_prefix(err, "watching %s", kinds[kind].resource);
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* The view                                                               */

/* The storage objects and the pods' volumes of the store into the copy s, resolved there into constraints. */
static int view_volumes(struct stv_cache *c, struct stv_snapshot *s, struct stv_err *err) {
  struct cache_storage st;
  int rc;
  if (s->npods != c->s.npods) /* finished pods are never in the store: the copy keeps every pod */
    return stv_err_set(err, STV_EINVAL, "copying the cluster cache: %zu pods copied of %zu", s->npods,
                       c->s.npods);
  if ((rc = stv__cache_storage_gather(&c->s, &st)) == 0) {
    rc = stv__cache_storage_copy(s, &st, c->pod_vols, NULL);
    stv__cache_storage_free(&st);
  }
  if (rc != 0) return stv_err_set(err, rc, "copying the cluster cache's volumes: out of memory");
  /* As `recommend` does for a file: claims to constraints, CSI zone keys for new nodes. */
  return stv_snapshot_resolve_volumes(s, NULL, err);
}

int stv_cache_snapshot(struct stv_cache *c, struct stv_snapshot *s, const char ***node_ids,
                       struct stv_err *err) {
  const char **ids = NULL;
  size_t i;
  int rc;
  *node_ids = NULL;
  if (!c->synced)
    return stv_err_set(err, STV_EINVAL,
                       "the cluster cache has not finished its first list of every kind yet");
  if ((rc = stv_snapshot_copy_live(s, &c->s, 0)) != 0)
    return stv_err_set(err, rc, "copying the cluster cache: %s", stv_strerror(rc));
  if (s->nnodes > 0 && (ids = stv_arena_alloc(&s->mem, s->nnodes * sizeof(*ids))) == NULL)
    return stv_err_set(err, STV_ENOMEM, "copying the cluster cache: out of memory");
  for (i = 0; i < s->nnodes; i++)
    if (c->node_pid[i] != NULL && (ids[i] = stv_strpool_get(&s->pool, c->node_pid[i])) == NULL)
      return stv_err_set(err, STV_ENOMEM, "copying the cluster cache: out of memory");
  if ((rc = view_volumes(c, s, err)) != 0) return rc;
  *node_ids = ids;
  return 0;
}

static int view_snapshot(void *ctx, struct stv_snapshot *s, const char ***node_ids, struct stv_err *err) {
  return stv_cache_snapshot(ctx, s, node_ids, err);
}

int stv_cache_has_pending(const struct stv_cache *c) {
  size_t i;
  for (i = 0; i < c->s.npods; i++)
    if (c->s.pods[i].node_name == NULL) return 1;
  return 0;
}

static int view_has_pending(void *ctx) {
  return stv_cache_has_pending(ctx);
}

void stv_cache_view(struct stv_cache *c, struct stv_cluster_view *v) {
  v->snapshot = view_snapshot;
  v->ctx = c;
  v->has_pending = view_has_pending;
}
