/*
 * Compaction of the watch-driven cache (docs/cache.md, "Compaction off the
 * loop"). The store's garbage (strings of deleted objects, classes no pod
 * uses, arena copies of old versions, tombstones) is dropped by copying
 * the live objects into a fresh store. That copy takes tens of
 * milliseconds at 30,000 pods, so with a loop (stv_cache_set_loop, or the
 * Kubernetes client's) it runs on libuv's thread pool:
 *
 *   1. freeze (loop thread, a few ms): the store's arrays are copied
 *      shallowly into a snapshot of the compaction's own; the strings,
 *      classes and labels they point to stay in the store's pool and
 *      arena, which only ever grow: bytes written once are never written
 *      again, so the worker may read them while the loop keeps appending;
 *   2. copy (worker): stv_snapshot_copy_live from the frozen arrays into a
 *      fresh store, plus the storage records, the pods' volumes and the
 *      nodes' provider ids;
 *   3. meanwhile every event is applied to the store as usual (hooks and
 *      all) and kept as text in a log;
 *   4. install (loop thread, after the work): the log is replayed into the
 *      fresh store without hooks (the same events on the same objects in
 *      the same order give the same store), the fresh store replaces the
 *      old one, which is freed.
 *
 * Without a loop (tests, benchmarks) the same three steps run inline.
 */
#include <string.h>

#include "cache_internal.h"

struct cache_compaction {
  uv_work_t req;
  struct stv_cache *c; /* NULL once the cache was freed: then old is the store to free */
  /* Frozen: arrays owned, everything they point to borrowed from the store. */
  struct stv_snapshot frozen;
  struct cache_storage storage;
  struct vol_pod **pod_vols;
  const char **node_pid;
  uint8_t *pod_state;
  /* Built by the worker. */
  struct stv_snapshot fresh;
  struct vol_pod **fresh_vols;
  const char **fresh_pid;
  size_t cap_vols, cap_pid, cap_state; /* of fresh_vols, fresh_pid, pod_state */
  int rc;
  /* The store's memory, kept when the cache is freed while the worker reads it. */
  struct stv_snapshot old;
  int have_old;
};

/* An owned copy of n elements of src (NULL when n is 0), or sets *oom. */
static void *dup_or(const void *src, size_t n, size_t elem, int *oom) {
  void *p;
  if (n == 0) return NULL;
  if ((p = stv_malloc(n * elem)) == NULL) {
    *oom = 1;
    return NULL;
  }
  return memcpy(p, src, n * elem);
}

static void compaction_free(struct cache_compaction *x) {
  struct stv_snapshot *f = &x->frozen;
  stv_free(f->nodes);
  stv_free(f->pods);
  stv_free(f->classes);
  stv_free(f->pdbs);
  stv_free(f->namespaces);
  stv_free(f->seen.e);
  stv_free(f->seen_v);
  stv__cache_storage_free(&x->storage);
  stv_free(x->pod_vols);
  stv_free(x->node_pid);
  stv_free(x->pod_state);
  stv_snapshot_close(&x->fresh);
  stv_free(x->fresh_vols);
  stv_free(x->fresh_pid);
  if (x->have_old) stv_snapshot_close(&x->old);
  stv_free(x);
}

/* Step 1: the store's arrays, shallowly. */
static int freeze(struct stv_cache *c, struct cache_compaction **out) {
  const struct stv_snapshot *s = &c->s;
  struct cache_compaction *x = stv_calloc(1, sizeof(*x));
  struct stv_snapshot *f;
  int oom = 0;
  *out = NULL;
  if (x == NULL) return STV_ENOMEM;
  f = &x->frozen;
  *f = *s; /* scalars, settings, res; every array replaced below */
  f->nodes = dup_or(s->nodes, s->nnodes, sizeof(*s->nodes), &oom);
  f->pods = dup_or(s->pods, s->npods, sizeof(*s->pods), &oom);
  f->classes = dup_or(s->classes, s->nclasses, sizeof(*s->classes), &oom);
  f->pdbs = dup_or(s->pdbs, s->npdbs, sizeof(*s->pdbs), &oom);
  f->namespaces = dup_or(s->namespaces, s->nnamespaces, sizeof(*s->namespaces), &oom);
  f->seen.e = dup_or(s->seen.e, s->seen.cap, sizeof(*s->seen.e), &oom);
  f->seen_v = dup_or(s->seen_v, s->nseen, sizeof(*s->seen_v), &oom);
  f->class_keys = NULL; /* not read by the copy */
  f->class_slots = NULL;
  f->node_slots = NULL;
  f->volumes = NULL;
  x->pod_vols = dup_or(c->pod_vols, s->npods, sizeof(*c->pod_vols), &oom);
  x->node_pid = dup_or(c->node_pid, s->nnodes, sizeof(*c->node_pid), &oom);
  x->pod_state = dup_or(c->pod_state, s->npods, 1, &oom);
  x->cap_state = s->npods;
  if (oom || stv__cache_storage_gather(s, &x->storage) != 0 || stv_snapshot_init(&x->fresh) != 0) {
    compaction_free(x);
    return STV_ENOMEM;
  }
  x->c = c;
  *out = x;
  return 0;
}

/* Step 2: the live objects into the fresh store; reads only what freeze kept and the bytes it points to. */
static void build(struct cache_compaction *x) {
  const struct stv_snapshot *f = &x->frozen;
  struct stv_snapshot *d = &x->fresh;
  size_t i;
  x->rc = stv_snapshot_copy_live(d, f, STV_COPY_SEEN);
  if (x->rc == 0 && d->npods != f->npods) x->rc = STV_EINVAL; /* finished pods are never in the store */
  if (x->rc != 0) return;
  x->fresh_vols = stv_calloc(d->npods + 1, sizeof(*x->fresh_vols));
  x->fresh_pid = stv_calloc(d->nnodes + 1, sizeof(*x->fresh_pid));
  x->cap_vols = d->npods + 1;
  x->cap_pid = d->nnodes + 1;
  if (x->fresh_vols == NULL || x->fresh_pid == NULL) {
    x->rc = STV_ENOMEM;
    return;
  }
  for (i = 0; i < d->nnodes; i++)
    if (x->node_pid[i] != NULL && (x->fresh_pid[i] = stv_strpool_get(&d->pool, x->node_pid[i])) == NULL) {
      x->rc = STV_ENOMEM;
      return;
    }
  x->rc = stv__cache_storage_copy(d, &x->storage, x->pod_vols, x->fresh_vols);
}

/* Replays the log into the store (the fresh one, installed): no hooks, no statistics. */
static int replay(struct stv_cache *c) {
  struct stv_cache_hooks hooks = c->hooks;
  struct stv_cache_stats st = c->st;
  size_t i;
  int rc = 0;
  memset(&c->hooks, 0, sizeof(c->hooks));
  c->replaying = 1;
  for (i = 0; i < c->nlog && rc != STV_ENOMEM; i++) {
    struct stv_err err = {0};
    cJSON *obj = cJSON_Parse(c->log[i].text);
    if (obj == NULL) {
      rc = STV_ENOMEM;
      break;
    }
    /* An object the store refused is refused again alike: the same store, the same error. */
    rc = stv_cache_apply(c, c->log[i].kind, c->log[i].type, obj, &err);
    cJSON_Delete(obj);
  }
  c->replaying = 0;
  c->hooks = hooks;
  c->st = st;
  return rc == STV_ENOMEM ? rc : 0;
}

static void log_clear(struct stv_cache *c) {
  size_t i;
  for (i = 0; i < c->nlog; i++) stv_free(c->log[i].text);
  c->nlog = 0;
}

/* Swaps the store of c (and its parallel arrays) with x's fresh one. */
static void swap_stores(struct stv_cache *c, struct cache_compaction *x) {
#define SWAP(type, a, b) \
  do {                   \
    type t_ = (a);       \
    (a) = (b);           \
    (b) = t_;            \
  } while (0)
  SWAP(struct stv_snapshot, c->s, x->fresh);
  SWAP(struct vol_pod **, c->pod_vols, x->fresh_vols);
  SWAP(size_t, c->cap_pod_vols, x->cap_vols);
  SWAP(const char **, c->node_pid, x->fresh_pid);
  SWAP(size_t, c->cap_node_pid, x->cap_pid);
  SWAP(uint8_t *, c->pod_state, x->pod_state);
  SWAP(size_t, c->cap_pod_state, x->cap_state);
#undef SWAP
}

/* Step 4: the fresh store, brought up to date, replaces the store. */
static int install(struct stv_cache *c, struct cache_compaction *x) {
  int rc = x->rc;
  if (rc == 0) {
    swap_stores(c, x);
    if ((rc = replay(c)) != 0) swap_stores(c, x); /* the old store is whole still: keep it */
  }
  if (rc == 0) {
    c->st.compactions++;
    c->st.garbage = c->nlog; /* at most what the events replayed left */
  }
  log_clear(c);
  compaction_free(x); /* the old store (or the unused fresh one) with it */
  return rc;
}

static void work_cb(uv_work_t *req) {
  build(req->data);
}

static void after_cb(uv_work_t *req, int status) {
  struct cache_compaction *x = req->data;
  struct stv_cache *c = x->c;
  if (c == NULL) {
    compaction_free(x);
    return;
  }
  c->running = NULL;
  if (status != 0 && x->rc == 0) x->rc = STV_EINVAL;
  (void)install(c, x);
}

int stv__cache_log(struct stv_cache *c, enum stv_cache_kind kind, enum stv_watch_event type,
                   const cJSON *obj) {
  char *printed, *text;
  if (stv_grow((void **)&c->log, &c->cap_log, c->nlog + 1, sizeof(*c->log)) != 0) return STV_ENOMEM;
  /* As text: the reflector's objects may live in a per-event arena. */
  if ((printed = cJSON_PrintUnformatted(obj)) == NULL) return STV_ENOMEM;
  text = stv_strdup(printed);
  cJSON_free(printed);
  if (text == NULL) return STV_ENOMEM;
  c->log[c->nlog].kind = kind;
  c->log[c->nlog].type = type;
  c->log[c->nlog].text = text;
  c->nlog++;
  return 0;
}

int stv_cache_compact(struct stv_cache *c) {
  struct cache_compaction *x;
  int rc;
  if (c->running != NULL) return 0; /* one runs on a worker already */
  if ((rc = freeze(c, &x)) != 0) return rc;
  build(x);
  return install(c, x);
}

void stv_cache_set_loop(struct stv_cache *c, uv_loop_t *loop) {
  c->loop = loop;
}

int stv_cache_compacting(const struct stv_cache *c) {
  return c->running != NULL;
}

void stv__cache_maybe_compact(struct stv_cache *c) {
  size_t live = c->s.npods + c->s.nnodes + c->s.npdbs + c->s.nnamespaces;
  struct cache_compaction *x;
  if (c->running != NULL || c->st.garbage <= 4096 || c->st.garbage <= live) return;
  if (c->loop == NULL) {
    (void)stv_cache_compact(c);
    return;
  }
  if (freeze(c, &x) != 0) return; /* out of memory: the next event tries again */
  x->req.data = x;
  if (uv_queue_work(c->loop, &x->req, work_cb, after_cb) != 0) {
    compaction_free(x);
    return;
  }
  c->running = x;
}

void stv__cache_compaction_abandon(struct stv_cache *c) {
  struct cache_compaction *x = c->running;
  log_clear(c);
  stv_free(c->log);
  c->log = NULL;
  c->cap_log = 0;
  if (x == NULL) return;
  /* The worker reads the store's strings and arena: they go with the compaction, freed after it. */
  x->c = NULL;
  x->old = c->s;
  x->have_old = 1;
  memset(&c->s, 0, sizeof(c->s));
  c->running = NULL;
}
