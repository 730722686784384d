/*
 * Compaction of the watch-driven cache (docs/cache.md, "Compaction off the
 * loop"). The store's garbage (strings of deleted objects, classes no pod
 * uses, arena copies of old versions, tombstones) is dropped by copying
 * the live objects into a fresh store. That copy takes tens of
 * milliseconds at 30,000 pods, so with a loop (stv_cache_set_loop, or the
 * Kubernetes client's) it runs on libuv's thread pool:
 *
 *   0. prepare (worker): buffers for the store's arrays, a little larger
 *      than they are, allocated and touched, so that the page faults of
 *      fresh memory (expensive in some virtual machines: 19 ms of CPU for
 *      6 MB on the benchmark machine) are not taken on the loop thread;
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
 *   4. catch up (loop thread, after the work): the log is replayed into
 *      the fresh store without hooks (the same events on the same objects
 *      in the same order give the same store), in slices of at most
 *      CATCH_UP_NS of work per turn of the loop (a uv_idle handle) while
 *      new events keep going to the store and the log; once the log is
 *      replayed, the fresh store replaces the old one, which is freed.
 *
 * Without a loop (tests, benchmarks) the same three steps run inline.
 */
#include <string.h>

#include "cache_internal.h"

/* Garbage (removals and replacements) that calls for a compaction once it also exceeds the live objects. */
#define COMPACT_FLOOR 4096

/* The longest slice of replay per turn of the loop. */
#define CATCH_UP_NS 2000000u

/* The arrays frozen: the store's and the cache's parallel ones. */
enum { B_NODES, B_PODS, B_CLASSES, B_PDBS, B_NAMESPACES, B_SEEN_E, B_SEEN_V, B_VOLS, B_PID, B_STATE, B_N };

struct cache_compaction {
  uv_work_t req;
  uv_idle_t idle;      /* the catching up, once the worker is done */
  int idle_open;       /* idle initialised: freed from its close callback */
  int frozen_done;     /* freeze ran: events are logged from then on */
  int worker_done;     /* build ran: only the loop thread touches x now */
  size_t replayed;     /* log entries replayed into fresh so far */
  struct stv_cache *c; /* NULL once the cache was freed: then old is the store to free */
  /* Buffers (prepared), then the frozen arrays in them: everything they point to borrowed from the store. */
  void *buf[B_N];
  size_t cap[B_N], elem[B_N];
  struct stv_snapshot frozen;
  struct cache_storage storage;
  /* Built by the worker. */
  struct stv_snapshot fresh;
  struct vol_pod **fresh_vols;
  const char **fresh_pid;
  uint8_t *pod_state;                  /* the frozen states, then the fresh store's (owned) */
  size_t cap_vols, cap_pid, cap_state; /* of fresh_vols, fresh_pid, pod_state */
  int rc;
  /* The store's memory, kept when the cache is freed while the worker reads it. */
  struct stv_snapshot old;
  int have_old;
};

static void compaction_release(struct cache_compaction *x) {
  int b;
  for (b = 0; b < B_N; b++) stv_free(x->buf[b]);
  stv__cache_storage_free(&x->storage);
  stv_snapshot_close(&x->fresh);
  stv_free(x->fresh_vols);
  stv_free(x->fresh_pid);
  stv_free(x->pod_state);
  if (x->have_old) stv_snapshot_close(&x->old);
  stv_free(x);
}

static void idle_closed(uv_handle_t *h) {
  compaction_release(h->data);
}

static void compaction_free(struct cache_compaction *x) {
  if (!x->idle_open) {
    compaction_release(x);
    return;
  }
  uv_idle_stop(&x->idle);
  uv_close((uv_handle_t *)&x->idle, idle_closed);
}

/* A compaction of c with the sizes of its arrays now (elements), buffers not yet allocated. */
static struct cache_compaction *compaction_new(struct stv_cache *c) {
  const struct stv_snapshot *s = &c->s;
  struct cache_compaction *x = stv_calloc(1, sizeof(*x));
  size_t n[B_N] = {s->nnodes,   s->npods, s->nclasses, s->npdbs,  s->nnamespaces,
                   s->seen.cap, s->nseen, s->npods,    s->nnodes, s->npods};
  size_t e[B_N] = {sizeof(*s->nodes),      sizeof(*s->pods),
                   sizeof(*s->classes),    sizeof(*s->pdbs),
                   sizeof(*s->namespaces), sizeof(*s->seen.e),
                   sizeof(*s->seen_v),     sizeof(*c->pod_vols),
                   sizeof(*c->node_pid),   1};
  int b;
  if (x == NULL) return NULL;
  for (b = 0; b < B_N; b++) {
    x->elem[b] = e[b];
    x->cap[b] = n[b] + n[b] / 4 + 64; /* room for the events until the freeze */
  }
  x->c = c;
  return x;
}

/* Step 0: the buffers, touched (on the worker). Sets x->rc. */
static void prepare(struct cache_compaction *x) {
  int b;
  for (b = 0; b < B_N && x->rc == 0; b++) {
    if ((x->buf[b] = stv_malloc(x->cap[b] * x->elem[b])) == NULL)
      x->rc = STV_ENOMEM;
    else
      memset(x->buf[b], 0, x->cap[b] * x->elem[b]);
  }
}

/* Copies n elements of src into buffer b (grown when the store outgrew it). Returns the buffer or NULL. */
static void *fill(struct cache_compaction *x, int b, const void *src, size_t n) {
  if (n > x->cap[b] && stv_grow(&x->buf[b], &x->cap[b], n, x->elem[b]) != 0) return NULL;
  if (n > 0) memcpy(x->buf[b], src, n * x->elem[b]);
  return x->buf[b];
}

/* Step 1: the store's arrays, shallowly, into the prepared buffers. Returns 0 or STV_ENOMEM. */
static int freeze(struct stv_cache *c, struct cache_compaction *x) {
  const struct stv_snapshot *s = &c->s;
  struct stv_snapshot *f = &x->frozen;
  int ok;
  *f = *s; /* scalars, settings, res; every array replaced below */
  ok = (f->nodes = fill(x, B_NODES, s->nodes, s->nnodes)) != NULL;
  ok &= (f->pods = fill(x, B_PODS, s->pods, s->npods)) != NULL;
  ok &= (f->classes = fill(x, B_CLASSES, s->classes, s->nclasses)) != NULL;
  ok &= (f->pdbs = fill(x, B_PDBS, s->pdbs, s->npdbs)) != NULL;
  ok &= (f->namespaces = fill(x, B_NAMESPACES, s->namespaces, s->nnamespaces)) != NULL;
  ok &= (f->seen.e = fill(x, B_SEEN_E, s->seen.e, s->seen.cap)) != NULL;
  ok &= (f->seen_v = fill(x, B_SEEN_V, s->seen_v, s->nseen)) != NULL;
  ok &= fill(x, B_VOLS, c->pod_vols, s->npods) != NULL;
  ok &= fill(x, B_PID, c->node_pid, s->nnodes) != NULL;
  if ((x->pod_state = fill(x, B_STATE, c->pod_state, s->npods)) != NULL) {
    x->buf[B_STATE] = NULL; /* x->pod_state owns it: it becomes the fresh store's */
    x->cap_state = x->cap[B_STATE];
  } else {
    ok = 0;
  }
  f->class_keys = NULL; /* not read by the copy */
  f->class_slots = NULL;
  f->node_slots = NULL;
  f->volumes = NULL;
  memset(&f->pool, 0, sizeof(f->pool)); /* the copy reads strings, never the store's pool itself */
  memset(&f->mem, 0, sizeof(f->mem));
  if (!ok || stv__cache_storage_gather(s, &x->storage) != 0 || stv_snapshot_init(&x->fresh) != 0)
    return STV_ENOMEM;
  x->frozen_done = 1;
  return 0;
}

static int reserve(struct stv_snapshot *s);

/* Step 2: the live objects into the fresh store; reads only what freeze kept and the bytes it points to. */
static void build(struct cache_compaction *x) {
  const struct stv_snapshot *f = &x->frozen;
  struct stv_snapshot *d = &x->fresh;
  const char **pid = x->buf[B_PID];
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
    if (pid[i] != NULL && (x->fresh_pid[i] = stv_strpool_get(&d->pool, pid[i])) == NULL) {
      x->rc = STV_ENOMEM;
      return;
    }
  if ((x->rc = stv__cache_storage_copy(d, &x->storage, x->buf[B_VOLS], x->fresh_vols)) != 0) return;
  /*
   * Room for the strings and seen entries of the events until the next
   * compaction (a few strings per event: names, "ns/name", seen keys), so
   * that neither table grows on the loop thread meanwhile (a rehash of the
   * pool at 260,000 strings takes 41 ms).
   */
  x->rc = reserve(d);
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

/*
 * Replays log entries into x's fresh store until the log is done or
 * budget_ns have passed (0: no limit): the fresh store swapped in for the
 * time, without hooks or statistics. Returns 0 or STV_ENOMEM.
 */
static int replay(struct stv_cache *c, struct cache_compaction *x, uint64_t budget_ns) {
  struct stv_cache_hooks hooks = c->hooks;
  struct stv_cache_stats st = c->st;
  uint64_t t0 = uv_hrtime();
  int rc = 0;
  swap_stores(c, x);
  memset(&c->hooks, 0, sizeof(c->hooks));
  c->replaying = 1;
  while (x->replayed < c->nlog && rc != STV_ENOMEM && (budget_ns == 0 || uv_hrtime() - t0 < budget_ns)) {
    struct stv_err err = {0};
    cJSON *obj = cJSON_Parse(c->log[x->replayed].text);
    if (obj == NULL) {
      rc = STV_ENOMEM;
      break;
    }
    /* An object the store refused is refused again alike: the same store, the same error. */
    rc = stv_cache_apply(c, c->log[x->replayed].kind, c->log[x->replayed].type, obj, &err);
    cJSON_Delete(obj);
    x->replayed++;
  }
  c->replaying = 0;
  c->hooks = hooks;
  c->st = st;
  swap_stores(c, x);
  return rc == STV_ENOMEM ? rc : 0;
}

/* The end of a compaction: the fresh store (caught up) replaces the store when ok, else is dropped. */
static void finish(struct stv_cache *c, struct cache_compaction *x, int ok) {
  if (ok) {
    swap_stores(c, x); /* x->fresh now holds the old store, freed with x */
    c->st.compactions++;
    c->st.garbage = c->nlog; /* at most what the events replayed left */
  }
  log_clear(c);
  c->running = NULL;
  compaction_free(x);
}

/* One slice of catching up (budget_ns, 0: all); finishes the compaction when the log is replayed. */
static void catch_up(struct stv_cache *c, struct cache_compaction *x, uint64_t budget_ns) {
  if (replay(c, x, budget_ns) != 0) {
    finish(c, x, 0); /* out of memory: the old store is whole still; keep it */
    return;
  }
  if (x->replayed == c->nlog) finish(c, x, 1);
}

static void idle_cb(uv_idle_t *h) {
  struct cache_compaction *x = h->data;
  catch_up(x->c, x, CATCH_UP_NS);
}

static void work_cb(uv_work_t *req) {
  build(req->data);
}

static void prepare_cb(uv_work_t *req) {
  prepare(req->data);
}

static void after_cb(uv_work_t *req, int status);

/* Back from step 0: freeze, then step 2 on the pool. */
static void prepared_cb(uv_work_t *req, int status) {
  struct cache_compaction *x = req->data;
  struct stv_cache *c = x->c;
  if (c == NULL) { /* the cache was freed meanwhile: nothing of it was read */
    compaction_free(x);
    return;
  }
  if (status != 0 || x->rc != 0 || freeze(c, x) != 0 ||
      uv_queue_work(c->loop, &x->req, work_cb, after_cb) != 0) {
    c->running = NULL;
    log_clear(c);
    compaction_free(x);
  }
}

static void after_cb(uv_work_t *req, int status) {
  struct cache_compaction *x = req->data;
  struct stv_cache *c = x->c;
  x->worker_done = 1;
  if (c == NULL) { /* the cache was freed meanwhile */
    compaction_free(x);
    return;
  }
  if (status != 0 || x->rc != 0 || uv_idle_init(c->loop, &x->idle) != 0) {
    finish(c, x, 0);
    return;
  }
  x->idle_open = 1;
  x->idle.data = x;
  uv_idle_start(&x->idle, idle_cb);
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
  size_t before;
  int rc;
  if (c->running != NULL) return 0; /* one runs on a worker already */
  if ((x = compaction_new(c)) == NULL) return STV_ENOMEM;
  prepare(x);
  if (x->rc != 0 || freeze(c, x) != 0) {
    compaction_free(x);
    return STV_ENOMEM;
  }
  build(x);
  if ((rc = x->rc) != 0) {
    compaction_free(x);
    return rc;
  }
  x->worker_done = 1;
  c->running = x;
  before = c->st.compactions;
  catch_up(c, x, 0); /* nothing to replay: no event came in between */
  return c->st.compactions > before ? 0 : STV_ENOMEM;
}

void stv_cache_set_loop(struct stv_cache *c, uv_loop_t *loop) {
  c->loop = loop;
}

int stv_cache_compacting(const struct stv_cache *c) {
  return c->running != NULL;
}

/* Starts a compaction on the loop's thread pool (none running). */
static void start(struct stv_cache *c) {
  struct cache_compaction *x;
  if ((x = compaction_new(c)) == NULL) return; /* out of memory: a later event tries again */
  x->req.data = x;
  if (uv_queue_work(c->loop, &x->req, prepare_cb, prepared_cb) != 0) {
    compaction_free(x);
    return;
  }
  c->running = x;
}

/* Whether a table of cap slots holding len entries is near the point where it grows (len > cap / 2). */
static int near_growth(size_t len, size_t cap) {
  return cap >= 4096 && len * 8 > cap * 3; /* 75% of the way */
}

void stv__cache_maybe_compact(struct stv_cache *c) {
  size_t live = c->s.npods + c->s.nnodes + c->s.npdbs + c->s.nnamespaces;
  if (c->running != NULL) return;
  if (c->st.garbage > COMPACT_FLOOR && c->st.garbage > live) {
    if (c->loop == NULL)
      (void)stv_cache_compact(c);
    else
      start(c);
    return;
  }
  /*
   * With a loop, also before the string pool or the seen map has to grow
   * (a rehash of every entry on the loop thread): the compacted store comes
   * with room to spare.
   */
  if (c->loop != NULL && c->synced &&
      (near_growth(c->s.pool.len, c->s.pool.cap) || near_growth(c->s.seen.len, c->s.seen.cap)))
    start(c);
}

/* Sizes the string pool and the seen map of s for the events until the next compaction; 0 or STV_ENOMEM. */
static int reserve(struct stv_snapshot *s) {
  size_t live = s->npods + s->nnodes + s->npdbs + s->nnamespaces;
  int rc;
  if (live < COMPACT_FLOOR) live = COMPACT_FLOOR;
  /* An event brings a few strings (names, "ns/name", seen keys) and at most one seen entry. */
  if ((rc = stv_strpool_reserve(&s->pool, s->pool.len + 2 * live)) != 0) return rc;
  return stv_strmap_reserve(&s->seen, s->seen.len + live);
}

void stv__cache_synced(struct stv_cache *c) {
  /*
   * The tables grew by doubling while the lists came in, and may be about
   * to grow again: sized now, once, before any reconciler acts, so that
   * they do not grow on the loop thread before the next compaction.
   */
  (void)reserve(&c->s);
}

void stv__cache_compaction_abandon(struct stv_cache *c) {
  struct cache_compaction *x = c->running;
  log_clear(c);
  stv_free(c->log);
  c->log = NULL;
  c->cap_log = 0;
  c->running = NULL;
  if (x == NULL) return;
  if (!x->frozen_done) { /* preparing: the worker uses only x's own buffers; prepared_cb frees it */
    x->c = NULL;
    return;
  }
  if (x->worker_done) { /* catching up: only the loop thread uses x */
    compaction_free(x);
    return;
  }
  /* The worker reads the store's strings and arena: they go with the compaction, freed after it. */
  x->c = NULL;
  x->old = c->s;
  x->have_old = 1;
  memset(&c->s, 0, sizeof(c->s));
}
