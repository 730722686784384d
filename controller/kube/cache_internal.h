/*
 * cache_internal.h: what the files of the watch-driven cache share (not
 * part of its API, which is cache.h):
 *   cache.c          events, hooks, sync, reflectors, the view
 *   cache_storage.c  the storage kinds: removal, the pods' volumes, copies
 *   cache_compact.c  compaction, inline or on the libuv thread pool
 */
#ifndef STV_CACHE_INTERNAL_H
#define STV_CACHE_INTERNAL_H

#include <uv.h>

#include "cache.h"
#include "snapshot_internal.h"

struct stv_cache;

/* What a reflector's callbacks get: the cache and the kind they feed. */
struct cache_feed {
  struct stv_cache *c;
  enum stv_cache_kind kind;
};

/* The events applied while a compaction runs on a worker, replayed into its result. */
struct cache_log_entry {
  enum stv_cache_kind kind;
  enum stv_watch_event type;
  char *text; /* the object as JSON text, owned */
};

struct cache_compaction; /* cache_compact.c */

struct stv_cache {
  struct stv_snapshot s;
  struct stv_cache_hooks hooks;
  /* Parallel to s.pods and s.nodes, moved with them. */
  uint8_t *pod_state;
  size_t cap_pod_state;
  struct vol_pod **pod_vols; /* the volumes of each pod the storage rules look at, or NULL */
  size_t cap_pod_vols;
  const char **node_pid; /* spec.providerID interned in s.pool, or NULL */
  size_t cap_node_pid;
  unsigned listed;  /* (1u << kind) once kind's first list is done */
  unsigned watched; /* kinds with a reflector; 0: all */
  int synced;
  struct stv_cache_stats st;
  struct stv_reflector *refl[STV_CACHE_NKINDS];
  struct cache_feed feed[STV_CACHE_NKINDS];
  /* Compaction on the thread pool (cache_compact.c): the loop, the one running, the events since. */
  uv_loop_t *loop;
  struct cache_compaction *running;
  struct cache_log_entry *log;
  size_t nlog, cap_log;
  int replaying; /* applying the log: no hooks, no statistics */
};

/* The store's storage objects (claims, volumes, classes, CSINodes) gathered into arrays. */
struct cache_storage {
  const struct vol_pvc **pvcs;
  const struct vol_pv **pvs;
  const struct vol_class **classes;
  const struct vol_csinode **csinodes;
  size_t npvcs, npvs, nclasses, ncsinodes;
};

/* Gathers s's storage lists into st (arrays allocated; free with stv__cache_storage_free). */
int stv__cache_storage_gather(const struct stv_snapshot *s, struct cache_storage *st);
void stv__cache_storage_free(struct cache_storage *st);

/*
 * Copies the storage objects st (of another snapshot) into dst's lists, in
 * their order, strings interned in dst's pool, and the volumes of dst's pods
 * (pod_vols, indexed like dst's pods, NULL entries for none): into
 * out_vols[i] when out_vols is not NULL (the store's parallel array), else
 * linked into dst's list of pods with volumes (a view, resolved next).
 * Returns 0 or STV_ENOMEM.
 */
int stv__cache_storage_copy(struct stv_snapshot *dst, const struct cache_storage *st,
                            struct vol_pod *const *pod_vols, struct vol_pod **out_vols);

/* Takes the volumes of pod at (just read) out of the store's list into c->pod_vols[at]. */
void stv__cache_take_pod_volumes(struct stv_cache *c, size_t at);

/* Removes the storage object of kind letter (C, V, K or I) named ns/name, index k of s.seen_v. */
void stv__cache_storage_remove(struct stv_cache *c, char letter, const char *ns, const char *name, long k);

/* Compaction (cache_compact.c): starts one when the garbage calls for it; the log of events during one. */
void stv__cache_maybe_compact(struct stv_cache *c);
/* The first full sync is done: the store's tables are sized for the churn to come. */
void stv__cache_synced(struct stv_cache *c);
int stv__cache_log(struct stv_cache *c, enum stv_cache_kind kind, enum stv_watch_event type,
                   const cJSON *obj);
void stv__cache_compaction_abandon(struct stv_cache *c);

#endif
