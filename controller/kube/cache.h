/*
 * cache: the watch-driven cluster cache (docs/cache.md). One long-lived
 * snapshot in the packer's compact model (packer/packer.h), fed one object
 * at a time by reflectors of pods, nodes, PodDisruptionBudgets and
 * namespaces: ADDED and MODIFIED objects go through the snapshot files'
 * item reader (one parse of that object only, a newer version replacing
 * the older in place), DELETED objects and pods that reached Succeeded or
 * Failed are removed. Classes are interned as pods arrive; the garbage of
 * churn (unused classes, strings, tombstones) is dropped by compacting
 * into a fresh snapshot when it outgrows the live part.
 *
 * Everything here runs on the loop thread. A reconciler gets a copy of the
 * live objects (stv_cache_view) that shares nothing with the store, so a
 * worker thread may pack it while events keep changing the store: no
 * locks.
 */
#ifndef STV_CACHE_H
#define STV_CACHE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "kubeclient.h"
#include "packer.h"

struct stv_cluster_view;
struct stv_provision;

/*
 * What the cache watches: the kinds the packer reads, the storage kinds
 * included (their volume rules apply to the view, docs/cache.md).
 */
enum stv_cache_kind {
  STV_CACHE_NODES = 0,
  STV_CACHE_PODS,
  STV_CACHE_PDBS,
  STV_CACHE_NAMESPACES,
  STV_CACHE_PVCS,           /* PersistentVolumeClaims */
  STV_CACHE_PVS,            /* PersistentVolumes */
  STV_CACHE_STORAGECLASSES, /* storage.k8s.io/v1 StorageClasses */
  STV_CACHE_CSINODES,       /* storage.k8s.io/v1 CSINodes */
  STV_CACHE_NKINDS
};

/* The kind whose objects have kind (a "kind" field: "Pod", "CSINode", ...): 0, or STV_ENOTFOUND. */
int stv_cache_kind_of(const char *kind, enum stv_cache_kind *out);

/* The API resource of kind ("pods", "persistentvolumeclaims", ...), or NULL for no kind. */
const char *stv_cache_kind_resource(enum stv_cache_kind kind);

/*
 * What the cache tells its owner, on the loop thread (strings borrowed for
 * the call; any member may be NULL):
 *   pod_unschedulable: a pod without a node whose PodScheduled condition is
 *     False with reason Unschedulable, at each event that says so;
 *   pod_gone: a pod reported unschedulable was bound, deleted or finished;
 *   node_registered: a node appeared (provider_id its spec.providerID, or
 *     NULL); node_deleted: it was deleted;
 *   synced: every reflector finished its first list (called once);
 *   error: an object the cache could not take (err names the kind, the
 *     object and the field); it is left out and counted, the watch goes on.
 */
struct stv_cache_hooks {
  void (*pod_unschedulable)(void *ctx, const char *ns, const char *name);
  void (*pod_gone)(void *ctx, const char *ns, const char *name);
  void (*node_registered)(void *ctx, const char *name, const char *provider_id);
  void (*node_deleted)(void *ctx, const char *name, const char *provider_id);
  void (*synced)(void *ctx);
  void (*error)(void *ctx, const struct stv_err *err);
  void *ctx;
  /* A list or watch of a reflector failed (the API server down, a 500, a
   * 429, a 410); it is retried after retry_in seconds. May be NULL. */
  void (*watch_error)(void *ctx, const struct stv_err *err, double retry_in);
};

/* Fills h with hooks that call the provisioning reconciler p (borrowed); synced and error left NULL. */
void stv_cache_provision_hooks(struct stv_cache_hooks *h, struct stv_provision *p);

/* What the cache did. */
struct stv_cache_stats {
  size_t events;                   /* events applied */
  size_t added, replaced, removed; /* objects added, replaced in place, removed */
  size_t finished;                 /* pods removed for reaching Succeeded or Failed */
  size_t unchanged;                /* events that changed nothing (same or older version) */
  size_t errors;                   /* objects refused (see the error hook) */
  size_t compactions;
  size_t garbage; /* removals and replacements since the last compaction */
};

struct stv_cache;

/* Creates an empty cache; hooks (may be NULL) is copied. Returns 0 or STV_ENOMEM. */
int stv_cache_new(struct stv_cache **out, const struct stv_cache_hooks *hooks);
/* Stops the reflectors (if started) and frees c (may be NULL). */
void stv_cache_free(struct stv_cache *c);

/*
 * Applies one event of kind (obj borrowed). Returns 0 or the reader's STV_
 * code with err naming the object ("pods: Pod team-a/web-5: spec..."); the
 * store is unchanged then.
 */
int stv_cache_apply(struct stv_cache *c, enum stv_cache_kind kind, enum stv_watch_event type,
                    const cJSON *obj, struct stv_err *err);

/* Marks kind's first full list done (the reflector's on_synced). */
void stv_cache_list_done(struct stv_cache *c, enum stv_cache_kind kind);

/* 1 once every kind watched (or, without reflectors, every kind) has been listed. */
int stv_cache_synced(const struct stv_cache *c);

/*
 * Starts a reflector of each kind on k (borrowed, outlives c) feeding c.
 * page_limit 0: the reflector's default. Returns 0 or the error.
 */
int stv_cache_start(struct stv_cache *c, struct stv_kube *k, long page_limit, struct stv_err *err);

/*
 * The cluster view of loop.h: fills s (initialised, empty) with a copy of
 * the live objects and *node_ids with the nodes' provider ids (in s->mem,
 * strings in s->pool). Returns 0, STV_EINVAL before the first sync, or
 * STV_ENOMEM.
 */
int stv_cache_snapshot(struct stv_cache *c, struct stv_snapshot *s, const char ***node_ids,
                       struct stv_err *err);
void stv_cache_view(struct stv_cache *c, struct stv_cluster_view *v);
/*
 * 1 when some pod of the store has no node (pending), else 0: the view's
 * has_pending, a pass over the pods without a copy, so that a poke with
 * nothing pending does not copy the cluster.
 */
int stv_cache_has_pending(const struct stv_cache *c);

/* The store itself (read-only; loop thread only), and the statistics. */
const struct stv_snapshot *stv_cache_store(const struct stv_cache *c);
void stv_cache_get_stats(const struct stv_cache *c, struct stv_cache_stats *st);
/* The statistics of the reflector of kind (zeroes before stv_cache_start). */
void stv_cache_reflector_stats(const struct stv_cache *c, enum stv_cache_kind kind,
                               struct stv_reflector_stats *st);
/* The provider id of node i of the store, or NULL. */
const char *stv_cache_node_provider_id(const struct stv_cache *c, size_t i);

/*
 * Compacts now, inline (tests and benchmarks; the cache compacts by itself
 * when its garbage outgrows the live objects). Returns 0 (also when a
 * compaction runs on a worker already), or STV_ENOMEM.
 */
int stv_cache_compact(struct stv_cache *c);

/*
 * The libuv loop (borrowed, outlives c) whose thread pool runs the cache's
 * compactions, so that they do not stall the loop (docs/cache.md); set by
 * stv_cache_start from the client's loop. Without one, compaction runs
 * inline. With one, a compaction also starts before the string pool or the
 * seen map would have to grow, so that neither rehashes on the loop
 * thread (the first full sync sizes both once). A cache freed while a compaction runs leaves its store to the
 * compaction, freed when the loop runs its completion.
 */
struct uv_loop_s;
void stv_cache_set_loop(struct stv_cache *c, struct uv_loop_s *loop);
/* 1 while a compaction runs (on the thread pool, or catching up with the events since on the loop). */
int stv_cache_compacting(const struct stv_cache *c);

#endif
