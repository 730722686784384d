/*
 * The Event recorder (events.h): deduplication keys and per-object token
 * buckets in two string maps over one string pool, compacted when full.
 */
#include "events.h"

#include <stdio.h>
#include <string.h>

#define MESSAGE_MAX 1024 /* the API server refuses longer Event messages */
#define NAME_MAX_LEN 253

struct rec {
  const char *name, *type, *reason, *message;
  const char *kind, *api_version, *namespace, *obj_name, *uid;
  int32_t count;
  double first_time, last_time;
};

struct bucket {
  double tokens;
  double at; /* when tokens was last topped up */
  double last_used;
};

struct stv_events {
  struct stv_clock *clock;
  struct stv_events_config cfg;
  struct stv_strpool pool;
  struct stv_strmap keys; /* dedup key -> recs index */
  struct stv_strmap objs; /* object key -> buckets index */
  struct rec *recs;
  size_t nrecs, caprecs;
  struct bucket *buckets;
  size_t nbuckets, capbuckets;
  struct bucket global;
  uint64_t serial;
  struct stv_events_stats stats;
};

void stv_events_config_default(struct stv_events_config *c) {
  c->similar_window = 600;
  c->burst = 100;
  c->qps = 10;
  c->object_burst = 25;
  c->object_refill = 300;
  c->max_keys = 4096;
  c->max_objects = 10;
}

int stv_events_new(struct stv_events **out, struct stv_clock *clock, const struct stv_events_config *cfg,
                   struct stv_err *err) {
  struct stv_events *e;
  *out = NULL;
  if (!cfg->sink_ops || !cfg->sink_ops->create || !cfg->sink_ops->update)
    return stv_err_set(err, STV_EINVAL, "events: no sink to write Events to");
  if (!(cfg->similar_window > 0 && cfg->burst >= 1 && cfg->qps > 0 && cfg->object_burst >= 1 &&
        cfg->object_refill > 0 && cfg->max_keys >= 16 && cfg->max_objects >= 1))
    return stv_err_set(err, STV_EINVAL,
                       "events: limits must be positive (window %gs, burst %g, qps %g, object burst %g, object "
                       "refill %gs, at least 16 keys, at least 1 object per reason)",
                       cfg->similar_window, cfg->burst, cfg->qps, cfg->object_burst, cfg->object_refill);
  e = stv_calloc(1, sizeof(*e));
  if (!e) return stv_err_set(err, STV_ENOMEM, "events: out of memory");
  e->clock = clock;
  e->cfg = *cfg;
  stv_strpool_init(&e->pool);
  e->global.tokens = cfg->burst;
  e->global.at = stv_clock_now(clock);
  *out = e;
  return 0;
}

static void reset_tables(struct stv_events *e) {
  stv_strmap_close(&e->keys);
  stv_strmap_close(&e->objs);
  memset(&e->keys, 0, sizeof(e->keys));
  memset(&e->objs, 0, sizeof(e->objs));
  stv_strpool_close(&e->pool);
  stv_strpool_init(&e->pool);
  e->nrecs = 0;
  e->nbuckets = 0;
}

void stv_events_free(struct stv_events *e) {
  if (!e) return;
  reset_tables(e);
  stv_strpool_close(&e->pool);
  stv_free(e->recs);
  stv_free(e->buckets);
  stv_free(e);
}

void stv_events_stats(const struct stv_events *e, struct stv_events_stats *out) {
  *out = e->stats;
  out->keys = e->nrecs;
}

static int take(struct bucket *b, double now, double burst, double per_second) {
  b->tokens += (now - b->at) * per_second;
  if (b->tokens > burst) b->tokens = burst;
  b->at = now;
  b->last_used = now;
  if (b->tokens < 1) return 0;
  b->tokens -= 1;
  return 1;
}

/* Appends s and a separator to key: 0x1f (unit separator), which no
 * Kubernetes name, kind, type or reason can hold; the message comes last. */
static void key_add(struct stv_buf *k, const char *s) {
  stv_buf_puts(k, s ? s : "");
  stv_buf_append(k, "\x1f", 1);
}

/*
 * Forgets everything when the tables are full: the recorder's state is a
 * cache (client-go keeps an LRU of 4,096); an Event forgotten is created
 * again next time, which is what the API server would see after a restart
 * of the controller. Buckets of forgotten objects start full again.
 */
static void make_room(struct stv_events *e) {
  if (e->nrecs < e->cfg.max_keys && e->nbuckets < e->cfg.max_keys) return;
  reset_tables(e);
}

static int find_bucket(struct stv_events *e, const struct stv_event_ref *o, struct bucket **out) {
  struct stv_buf k;
  struct stv_strmap_ent *ent;
  int added = 0, rc;
  stv_buf_init(&k);
  key_add(&k, o->kind);
  key_add(&k, o->namespace);
  key_add(&k, o->name);
  key_add(&k, o->uid);
  rc = k.err;
  if (rc == 0) rc = stv_strmap_upsert(&e->objs, &e->pool, k.data, k.len, (uint32_t)e->nbuckets, &ent, &added);
  if (rc == 0 && added) {
    if (e->nbuckets == e->capbuckets) {
      size_t cap = e->capbuckets ? e->capbuckets * 2 : 64;
      struct bucket *nb = stv_realloc(e->buckets, cap * sizeof(*nb));
      if (!nb) {
        rc = STV_ENOMEM;
        goto out;
      }
      e->buckets = nb;
      e->capbuckets = cap;
    }
    e->buckets[e->nbuckets].tokens = e->cfg.object_burst;
    e->buckets[e->nbuckets].at = stv_clock_now(e->clock);
    e->nbuckets++;
  }
  if (rc == 0) *out = &e->buckets[ent->val];
out:
  stv_buf_close(&k);
  return rc;
}

/* Cuts message to the API's limit on a UTF-8 boundary. */
static size_t message_len(const char *m) {
  size_t n = strlen(m);
  if (n <= MESSAGE_MAX) return n;
  return stv_utf8_check(m, MESSAGE_MAX);
}

static const char *pooled(struct stv_events *e, const char *s) { return stv_strpool_get(&e->pool, s ? s : ""); }

static int new_rec(struct stv_events *e, const struct stv_event_ref *o, const char *type, const char *reason,
                   const char *message, size_t mlen, struct rec **out) {
  struct rec *r;
  char name[NAME_MAX_LEN + 1];
  double now = stv_clock_now(e->clock);
  int n;
  if (e->nrecs == e->caprecs) {
    size_t cap = e->caprecs ? e->caprecs * 2 : 64;
    struct rec *nr = stv_realloc(e->recs, cap * sizeof(*nr));
    if (!nr) return STV_ENOMEM;
    e->recs = nr;
    e->caprecs = cap;
  }
  r = &e->recs[e->nrecs];
  memset(r, 0, sizeof(*r));
  /* "<object>.<16 hex>", as client-go names Events; the object's name is
   * cut so that the whole stays a valid name. */
  n = snprintf(name, sizeof(name), "%.*s.%016llx", NAME_MAX_LEN - 17, o->name,
               (unsigned long long)((uint64_t)(now * 1e9) + ++e->serial));
  if (n < 0) return STV_EINVAL;
  r->name = pooled(e, name);
  r->type = pooled(e, type);
  r->reason = pooled(e, reason);
  r->message = stv_strpool_intern(&e->pool, message, mlen);
  r->kind = pooled(e, o->kind);
  r->api_version = pooled(e, o->api_version);
  r->namespace = pooled(e, o->namespace);
  r->obj_name = pooled(e, o->name);
  r->uid = pooled(e, o->uid);
  if (!r->name || !r->type || !r->reason || !r->message || !r->kind || !r->api_version || !r->namespace ||
      !r->obj_name || !r->uid)
    return STV_ENOMEM;
  r->count = 1;
  r->first_time = r->last_time = now;
  e->nrecs++;
  *out = r;
  return 0;
}

static void to_event(const struct rec *r, struct stv_event *ev) {
  ev->obj.kind = r->kind;
  ev->obj.api_version = r->api_version;
  ev->obj.namespace = r->namespace;
  ev->obj.name = r->obj_name;
  ev->obj.uid = r->uid;
  ev->name = r->name;
  ev->type = r->type;
  ev->reason = r->reason;
  ev->message = r->message;
  ev->count = r->count;
  ev->first_time = r->first_time;
  ev->last_time = r->last_time;
}

int stv_events_record(struct stv_events *e, const struct stv_event_ref *o, const char *type, const char *reason,
                      const char *message) {
  struct stv_buf k;
  struct stv_strmap_ent *ent;
  struct bucket *b = NULL;
  struct rec *r = NULL;
  struct stv_event ev;
  double now = stv_clock_now(e->clock);
  size_t mlen = message_len(message);
  int rc;
  make_room(e);
  stv_buf_init(&k);
  key_add(&k, o->kind);
  key_add(&k, o->namespace);
  key_add(&k, o->name);
  key_add(&k, o->uid);
  key_add(&k, type);
  key_add(&k, reason);
  stv_buf_append(&k, message, mlen);
  rc = k.err;
  if (rc) goto out;
  ent = stv_strmap_find(&e->keys, k.data, k.len);
  if (ent && now - e->recs[ent->val].last_time <= e->cfg.similar_window) {
    r = &e->recs[ent->val];
    r->count++;
    r->last_time = now;
    e->stats.deduplicated++;
  }
  rc = find_bucket(e, o, &b);
  if (rc) goto out;
  if (!take(b, now, e->cfg.object_burst, 1.0 / e->cfg.object_refill) ||
      !take(&e->global, now, e->cfg.burst, e->cfg.qps)) {
    e->stats.rate_limited++;
    rc = STV_ELIMIT; /* a folded recording still counts: the next update carries it */
    goto out;
  }
  if (r) {
    to_event(r, &ev);
    e->cfg.sink_ops->update(e->cfg.sink, &ev);
    e->stats.updated++;
    goto out;
  }
  rc = new_rec(e, o, type, reason, message, mlen, &r);
  if (rc == 0) {
    int added;
    rc = stv_strmap_upsert(&e->keys, &e->pool, k.data, k.len, (uint32_t)(r - e->recs), &ent, &added);
    if (rc == 0 && !added) ent->val = (uint32_t)(r - e->recs); /* an expired key: the new Event replaces it */
  }
  if (rc) goto out;
  to_event(r, &ev);
  e->cfg.sink_ops->create(e->cfg.sink, &ev);
  e->stats.created++;
out:
  stv_buf_close(&k);
  return rc;
}

size_t stv_events_record_many(struct stv_events *e, const struct stv_event_ref *objs, size_t n, const char *type,
                              const char *reason, const char *message) {
  size_t i, m = n < e->cfg.max_objects ? n : e->cfg.max_objects, done = 0;
  struct stv_buf msg;
  char kind[64];
  stv_buf_init(&msg);
  if (n > m) {
    size_t j;
    snprintf(kind, sizeof(kind), "%s", objs[0].kind ? objs[0].kind : "object");
    for (j = 0; kind[j]; j++)
      if (kind[j] >= 'A' && kind[j] <= 'Z') kind[j] = (char)(kind[j] - 'A' + 'a');
    stv_buf_printf(&msg, "%s (and %zu more %ss)", message, n - m, kind);
    e->stats.fanned_out += n - m;
  } else {
    stv_buf_puts(&msg, message);
  }
  if (msg.err == 0)
    for (i = 0; i < m; i++)
      if (stv_events_record(e, &objs[i], type, reason, msg.data) == 0) done++;
  stv_buf_close(&msg);
  return done;
}
