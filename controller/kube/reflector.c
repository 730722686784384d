/*
 * reflector: list then watch one collection (kubeclient.h,
 * docs/kube-client.md), as client-go's reflector does:
 *
 *   list (paginated) -> watch from the list's resourceVersion with
 *   allowWatchBookmarks -> on a clean end or a dropped connection, watch
 *   again from the last resourceVersion seen (events and bookmarks move it)
 *   -> on 410 Gone / Expired, list again -> on other errors, back off
 *   (0.8 s doubling to 30 s, jitter 1.0) or wait the Retry-After of a 429.
 *
 * The watch body is a stream of JSON objects, one per event; the sequence
 * mode of the streaming JSON scanner (io/jsonstream.h, stv_json_seq_*)
 * takes the bytes as they arrive and hands over each event parsed as soon
 * as it is complete, memory bounded by the largest event. The keys of the
 * objects seen are kept (in the base string map, the value the list
 * generation that last saw the key, 0 once deleted) so that a relist
 * reports what vanished meanwhile as DELETED.
 */
#include "kubeclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "jsonstream.h"

struct stv_reflector {
  struct stv_kube *k;
  char *path;
  struct stv_reflector_opts o;
  struct stv_reflector_cbs cb;
  struct stv_reflector_stats st;
  char *rv; /* last resourceVersion seen; NULL: list first */
  struct stv_http_req *watch;
  int listing; /* a list is in flight */
  int stopped;
  int timer_open;
  uv_timer_t timer;
  unsigned attempt; /* failures in a row, for the backoff */
  uint64_t rng;
  /* The watch stream: its events, or the error document of a non-200 answer. */
  struct stv_json_seq *seq;
  struct stv_buf ev;
  int got_events;      /* this watch delivered something */
  uint64_t started_ms; /* when this watch began (uv_now) */
  double retry_after;
  struct stv_err werr; /* why the current watch stopped itself */
  int wcode;
  int want_relist;
  int refresh;            /* the last watch got 401: fresh credentials for the next */
  int waiting, ready_now; /* for the exec plugin (stv_kube_when_ready) */
  /* Keys seen, for the deletes of a relist. */
  struct stv_strpool pool;
  struct stv_strmap keys;
  uint32_t gen;
};

static void schedule(struct stv_reflector *r, double delay);
static void start_list(struct stv_reflector *r);
static void start_watch(struct stv_reflector *r);

static void maybe_free(struct stv_reflector *r) {
  if (!r->stopped || r->timer_open || r->watch != NULL || r->listing || r->waiting) return;
  stv_free(r->path);
  stv_free(r->rv);
  stv_buf_close(&r->ev);
  stv_json_seq_free(r->seq);
  stv_strmap_close(&r->keys);
  stv_strpool_close(&r->pool);
  stv_free(r);
}

static void timer_closed(uv_handle_t *h) {
  struct stv_reflector *r = h->data;
  r->timer_open = 0;
  maybe_free(r);
}

static double uniform(struct stv_reflector *r) {
  r->rng ^= r->rng << 13;
  r->rng ^= r->rng >> 7;
  r->rng ^= r->rng << 17;
  return (double)(r->rng >> 11) / 9007199254740992.0;
}

/* The next backoff delay: min * 2^attempt capped at max, times 1 + jitter * U[0,1). */
static double backoff(struct stv_reflector *r) {
  double d = r->o.backoff_min_s;
  for (unsigned i = 0; i < r->attempt && d < r->o.backoff_max_s; i++) d *= 2;
  if (d > r->o.backoff_max_s) d = r->o.backoff_max_s;
  if (r->o.jitter > 0) d *= 1 + r->o.jitter * uniform(r);
  r->attempt++;
  return d;
}

/* Tells the caller, then waits delay (or the Retry-After) before going on. */
static void fail_and_retry(struct stv_reflector *r, const struct stv_err *err, double retry_after) {
  double d = retry_after > 0 ? retry_after : backoff(r);
  r->st.errors++;
  r->st.last_delay_s = d;
  if (r->cb.on_error != NULL) r->cb.on_error(r->cb.ctx, err, d);
  schedule(r, d);
}

static void on_timer(uv_timer_t *t) {
  struct stv_reflector *r = t->data;
  if (r->stopped) return;
  if (r->rv == NULL)
    start_list(r);
  else
    start_watch(r);
}

static void schedule(struct stv_reflector *r, double delay) {
  if (r->stopped) return;
  uv_timer_start(&r->timer, on_timer, (uint64_t)(delay * 1000), 0);
}

static int set_rv(struct stv_reflector *r, const char *rv) {
  char *s;
  if (rv == NULL || rv[0] == '\0') return 0;
  if ((s = stv_strdup(rv)) == NULL) return STV_ENOMEM;
  stv_free(r->rv);
  r->rv = s;
  return 0;
}

/* "namespace/name" of obj into buf; returns its length, or 0 when obj has no name. */
static size_t key_of(const cJSON *obj, char *buf, size_t size) {
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const cJSON *ns = cJSON_GetObjectItemCaseSensitive(md, "namespace"),
              *name = cJSON_GetObjectItemCaseSensitive(md, "name");
  int n;
  if (!cJSON_IsString(name)) return 0;
  n = snprintf(buf, size, "%s/%s", cJSON_IsString(ns) ? ns->valuestring : "", name->valuestring);
  return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* Records obj's key as present (gen) or deleted (0); *known receives whether it was present. */
static int track(struct stv_reflector *r, const cJSON *obj, uint32_t gen, int *known) {
  char key[1024];
  size_t n = key_of(obj, key, sizeof(key));
  struct stv_strmap_ent *e;
  int added;
  *known = 0;
  if (n == 0) return 0;
  if (gen == 0) {
    e = stv_strmap_find(&r->keys, key, n);
    if (e != NULL) {
      *known = e->val != 0;
      e->val = 0;
    }
    return 0;
  }
  if (stv_strmap_upsert(&r->keys, &r->pool, key, n, gen, &e, &added) != 0) return STV_ENOMEM;
  *known = !added && e->val != 0;
  e->val = gen;
  return 0;
}

static const char *rv_of(const cJSON *obj) {
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
  const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
  return cJSON_IsString(rv) ? rv->valuestring : "";
}

/* ---------------------------------------------------------------------- */
/* List                                                                   */

static int list_item(void *ctx, const cJSON *item, struct stv_err *err) {
  struct stv_reflector *r = ctx;
  int known, rc;
  if (r->stopped) return STV_EINVAL;
  if (track(r, item, r->gen, &known) != 0) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (r->cb.on_event == NULL) return 0;
  rc = r->cb.on_event(r->cb.ctx, known ? STV_WATCH_MODIFIED : STV_WATCH_ADDED, item, rv_of(item));
  if (rc != 0) return stv_err_set(err, rc < 0 ? rc : STV_EINVAL, "the event callback stopped the list");
  return 0;
}

/* After a relist: every key not seen by it is reported DELETED. */
static int report_vanished(struct stv_reflector *r) {
  for (size_t i = 0; i < r->keys.cap; i++) {
    struct stv_strmap_ent *e = &r->keys.e[i];
    const char *slash;
    cJSON *obj, *md;
    if (e->key == NULL || e->val == 0 || e->val == r->gen) continue;
    e->val = 0;
    if (r->cb.on_event == NULL) continue;
    slash = memchr(e->key, '/', e->len);
    if ((obj = cJSON_CreateObject()) == NULL || (md = cJSON_AddObjectToObject(obj, "metadata")) == NULL) {
      cJSON_Delete(obj);
      return STV_ENOMEM;
    }
    if (slash != e->key) {
      char *ns = stv_strndup(e->key, (size_t)(slash - e->key));
      if (ns == NULL || cJSON_AddStringToObject(md, "namespace", ns) == NULL) {
        stv_free(ns);
        cJSON_Delete(obj);
        return STV_ENOMEM;
      }
      stv_free(ns);
    }
    if (cJSON_AddStringToObject(md, "name", slash + 1) == NULL) {
      cJSON_Delete(obj);
      return STV_ENOMEM;
    }
    r->cb.on_event(r->cb.ctx, STV_WATCH_DELETED, obj, r->rv ? r->rv : "");
    cJSON_Delete(obj);
  }
  return 0;
}

static void list_done(void *ctx, int rc, const char *rv, const struct stv_kube_error *ke,
                      const struct stv_err *err) {
  struct stv_reflector *r = ctx;
  struct stv_err e = {0};
  r->listing = 0;
  if (r->stopped) {
    maybe_free(r);
    return;
  }
  if (rc != 0) {
    if (ke != NULL && ke->status == 429) r->st.throttled++;
    fail_and_retry(r, err, ke != NULL && ke->status == 429 ? ke->retry_after : 0);
    return;
  }
  if (set_rv(r, rv) != 0 || report_vanished(r) != 0 || r->rv == NULL) {
    stv_err_set(&e, r->rv == NULL ? STV_EPARSE : STV_ENOMEM, "%s: %s", r->path,
                r->rv == NULL ? "the list has no metadata.resourceVersion to watch from" : "out of memory");
    fail_and_retry(r, &e, 0);
    return;
  }
  r->st.lists++;
  r->attempt = 0;
  if (r->cb.on_synced != NULL) r->cb.on_synced(r->cb.ctx, r->rv);
  if (!r->stopped) start_watch(r);
}

static void start_list(struct stv_reflector *r) {
  struct stv_err err = {0};
  stv_free(r->rv);
  r->rv = NULL;
  r->gen++;
  if (stv_kube_list(r->k, r->path, r->o.page_limit, list_item, list_done, r, &err) != 0) {
    fail_and_retry(r, &err, 0);
    return;
  }
  r->listing = 1;
}

/* ---------------------------------------------------------------------- */
/* Watch                                                                  */

/*
 * One event of the watch stream (the scanner's callback; n is its number in
 * the stream). Returns 0, or an STV_ code with err filled (the watch is
 * then ended; the scanner puts the stream and the event's number before the
 * message).
 */
static int apply_event(void *ctx, uint64_t n, const cJSON *ev, struct stv_err *err) {
  struct stv_reflector *r = ctx;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
  enum stv_watch_event t;
  int rc, known;
  (void)n;
  if (r->stopped) return stv_err_set(err, STV_EINVAL, "the reflector was stopped");
  if (!cJSON_IsString(type) || !cJSON_IsObject(obj))
    return stv_err_set(err, STV_EPARSE, "not a watch event (no string \"type\" or no object \"object\")");
  if (strcmp(type->valuestring, "ERROR") == 0) {
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code"),
                *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
    int gone = cJSON_IsNumber(code) && (code->valueint == 410);
    r->want_relist = gone;
    if (gone) r->st.gone++;
    return stv_err_set(err, gone ? STV_ENOTFOUND : STV_EIO, "ERROR event %d: %s",
                       cJSON_IsNumber(code) ? code->valueint : 0,
                       cJSON_IsString(msg) ? msg->valuestring : "");
  }
  if (strcmp(type->valuestring, "BOOKMARK") == 0) {
    r->st.bookmarks++;
    return set_rv(r, rv_of(obj)) != 0 ? stv_err_set(err, STV_ENOMEM, "out of memory") : 0;
  }
  if (strcmp(type->valuestring, "ADDED") == 0)
    t = STV_WATCH_ADDED;
  else if (strcmp(type->valuestring, "MODIFIED") == 0)
    t = STV_WATCH_MODIFIED;
  else if (strcmp(type->valuestring, "DELETED") == 0)
    t = STV_WATCH_DELETED;
  else
    return 0; /* a type this client does not know: tolerated */
  if (track(r, obj, t == STV_WATCH_DELETED ? 0 : r->gen, &known) != 0 || set_rv(r, rv_of(obj)) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  r->st.events++;
  r->got_events = 1;
  if (r->cb.on_event != NULL && (rc = r->cb.on_event(r->cb.ctx, t, obj, r->rv)) != 0)
    return stv_err_set(err, rc < 0 ? rc : STV_EINVAL, "the event callback stopped the watch");
  if (r->stopped) return stv_err_set(err, STV_EINVAL, "the reflector was stopped");
  return 0;
}

/* The watch body as it arrives: events to the scanner, an error document kept for the message. */
static int watch_body(void *ctx, struct stv_http_req *req, const char *data, size_t len) {
  struct stv_reflector *r = ctx;
  if (r->stopped) return STV_EINVAL;
  if (stv_http_req_status(req) != 200) { /* an error document (a Status), kept up to the cap */
    stv_buf_append(&r->ev, data, len);
    return 0;
  }
  return stv_json_seq_feed(r->seq, data, len, &r->werr);
}

static int watch_header(void *ctx, struct stv_http_req *req, const char *line, size_t len) {
  struct stv_reflector *r = ctx;
  (void)req;
  stv_kube_retry_after(line, len, &r->retry_after);
  return 0;
}

static void watch_done(void *ctx, struct stv_http_req *req, const struct stv_http_result *res) {
  struct stv_reflector *r = ctx;
  struct stv_kube_error ke;
  struct stv_err err = {0};
  char what[300];
  (void)req;
  r->watch = NULL;
  if (r->stopped) {
    maybe_free(r);
    return;
  }
  snprintf(what, sizeof(what), "watch %s%s", stv_kube_config_of(r->k)->server, r->path);
  if (res->code == 0 && res->status != 200) {
    cJSON *body = r->ev.len ? cJSON_ParseWithLength(r->ev.data, r->ev.len) : NULL;
    stv_kube_answer_error(what, NULL, res->status, body, r->retry_after, &ke, &err);
    cJSON_Delete(body);
    if (res->status == 410) {
      r->st.gone++;
      start_list(r);
      return;
    }
    if (res->status == 429) r->st.throttled++;
    if (res->status == 401) r->refresh = 1;
    fail_and_retry(r, &err, res->status == 429 ? r->retry_after : 0);
    return;
  }
  if (r->want_relist) {
    start_list(r);
    return;
  }
  if (r->wcode != 0) {
    fail_and_retry(r, &r->werr, 0);
    return;
  }
  if (res->code == 0 && stv_json_seq_finish(r->seq, &err) != 0) { /* the stream ended inside an event */
    fail_and_retry(r, &err, 0);
    return;
  }
  if (res->code == 0 && !r->got_events && uv_now(stv_kube_loop(r->k)) - r->started_ms < 1000) {
    /* As client-go: a watch that ends at once without events is an error, or we would spin. */
    stv_err_set(&err, STV_EIO, "%s: very short watch: the server ended it at once with no event", what);
    fail_and_retry(r, &err, 0);
    return;
  }
  if (res->code == 0 || r->got_events) { /* the server ended it (timeoutSeconds) or it broke after events */
    r->attempt = 0;
    start_watch(r);
    return;
  }
  stv_kube_answer_error(what, res, 0, NULL, 0, &ke, &err);
  fail_and_retry(r, &err, 0);
}

/* The body callback's own code: kept so that watch_done can tell it from the transport's. */
static int watch_body_cb(void *ctx, struct stv_http_req *req, const char *data, size_t len) {
  struct stv_reflector *r = ctx;
  int rc = watch_body(ctx, req, data, len);
  if (rc < 0 && !r->stopped) {
    r->wcode = rc;
    if (r->werr.code == 0) stv_err_set(&r->werr, rc, "watch %s: %s", r->path, stv_strerror(rc));
  }
  return rc;
}

static void send_watch(struct stv_reflector *r) {
  const char *lines[STV_KUBE_HEADERS_MAX + 1];
  struct stv_http_opts o = {0};
  struct stv_json_seq_opts so = {
      .what = "event", .max_value = r->o.max_event, .value = apply_event, .ctx = r};
  char name[300];
  struct stv_kube_config *c = stv_kube_config_of(r->k);
  struct stv_buf url;
  struct stv_err err = {0};
  int rc;
  stv_buf_init(&url);
  stv_buf_printf(&url, "%s%s%cwatch=1&allowWatchBookmarks=true&timeoutSeconds=%ld&resourceVersion=%s",
                 c->server, r->path, strchr(r->path, '?') ? '&' : '?', r->o.watch_timeout_s, r->rv);
  r->ev.len = 0;
  r->ev.err = 0;
  r->got_events = 0;
  r->started_ms = uv_now(stv_kube_loop(r->k));
  r->retry_after = 0;
  r->wcode = 0;
  r->want_relist = 0;
  memset(&r->werr, 0, sizeof(r->werr));
  if (url.err != 0) {
    rc = stv_err_set(&err, url.err, "out of memory");
    goto fail;
  }
  snprintf(name, sizeof(name), "watch %s", r->path);
  so.name = name;
  stv_json_seq_free(r->seq);
  r->seq = NULL;
  if ((rc = stv_json_seq_new(&r->seq, &so, &err)) != 0) goto fail;
  if ((rc = stv_kube_prepare(r->k, r->refresh, NULL, lines, &o.tls, &err)) != 0) goto fail;
  r->refresh = 0;
  o.url = url.data;
  o.headers = lines;
  o.timeout_ms = (r->o.watch_timeout_s + 30) * 1000;
  o.on_body = watch_body_cb;
  o.on_header = watch_header;
  o.on_done = watch_done;
  o.ctx = r;
  if ((rc = stv_http_request(stv_kube_http(r->k), &o, &r->watch, &err)) != 0) goto fail;
  r->st.watches++;
  stv_buf_close(&url);
  return;
fail:
  stv_buf_close(&url);
  fail_and_retry(r, &err, 0);
}

/* The credentials are ready (at once, or after the exec plugin ran off the loop). */
static void watch_ready(void *ctx, int rc, const struct stv_err *err) {
  struct stv_reflector *r = ctx;
  if (!r->waiting) {
    r->ready_now = 1;
    return;
  }
  r->waiting = 0;
  if (r->stopped) {
    maybe_free(r);
    return;
  }
  if (rc != 0) {
    fail_and_retry(r, err, 0);
    return;
  }
  send_watch(r);
}

static void start_watch(struct stv_reflector *r) {
  struct stv_err err = {0};
  r->ready_now = 0;
  if (stv_kube_when_ready(r->k, r->refresh, watch_ready, r, &err) != 0) {
    fail_and_retry(r, &err, 0);
    return;
  }
  if (r->ready_now)
    send_watch(r);
  else
    r->waiting = 1;
}

/* ---------------------------------------------------------------------- */

int stv_reflector_start(struct stv_reflector **out, struct stv_kube *k, const struct stv_reflector_opts *o,
                        const struct stv_reflector_cbs *cbs, struct stv_err *err) {
  struct stv_reflector *r;
  *out = NULL;
  if (o->path == NULL || o->path[0] != '/')
    return stv_err_set(err, STV_EINVAL, "reflector: a path starts with '/'");
  if ((r = stv_calloc(1, sizeof(*r))) == NULL || (r->path = stv_strdup(o->path)) == NULL) {
    stv_free(r);
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  r->k = k;
  r->o = *o;
  r->o.path = r->path;
  if (r->o.page_limit <= 0) r->o.page_limit = 500;
  if (r->o.watch_timeout_s <= 0) r->o.watch_timeout_s = 300;
  if (r->o.backoff_min_s <= 0) r->o.backoff_min_s = 0.8;
  if (r->o.backoff_max_s <= 0) r->o.backoff_max_s = 30;
  if (r->o.jitter == 0) r->o.jitter = 1.0;
  if (r->o.max_event == 0) r->o.max_event = STV_JSON_VALUE_MAX;
  r->cb = *cbs;
  stv_buf_init(&r->ev);
  r->ev.max = r->o.max_event;
  stv_strpool_init(&r->pool);
  if (getrandom(&r->rng, sizeof(r->rng), GRND_NONBLOCK) != sizeof(r->rng) || r->rng == 0)
    r->rng = (uint64_t)(uintptr_t)r ^ 0x9e3779b97f4a7c15ULL;
  uv_timer_init(stv_kube_loop(k), &r->timer);
  r->timer.data = r;
  r->timer_open = 1;
  start_list(r);
  *out = r;
  return 0;
}

void stv_reflector_stop(struct stv_reflector *r) {
  if (r == NULL || r->stopped) return;
  r->stopped = 1;
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->timer, timer_closed);
  if (r->watch != NULL) stv_http_cancel(r->watch);
  maybe_free(r);
}

void stv_reflector_get_stats(const struct stv_reflector *r, struct stv_reflector_stats *st) {
  *st = r->st;
}
