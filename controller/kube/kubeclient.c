/*
 * kubeclient: requests to the API server over the I/O layer (kubeclient.h,
 * docs/kube-client.md): credentials and headers, Status objects turned
 * into errors, the verbs, and paginated lists.
 */
#include "kubeclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "jsonstream.h"

/* STV_VERSION comes from meson (project version). */

#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_PAGE       500

struct stv_kube {
  uv_loop_t *loop;
  struct stv_http *http;
  struct stv_kube_config *cfg;
  char *auth; /* "Authorization: ..." */
  char ctype[128];
  /* The exec plugin, run on the thread pool while requests wait for it. */
  uv_work_t work;
  int exec_running, exec_refresh, exec_rc, closing;
  struct stv_err exec_err;
  struct waiter *waiters, **waiters_tail;
};

/* A caller of stv_kube_when_ready waiting for the exec plugin. */
struct waiter {
  stv_kube_ready_cb ready;
  void *ctx;
  struct waiter *next;
};

int stv_kube_new(struct stv_kube **out, uv_loop_t *loop, struct stv_kube_config *cfg, struct stv_err *err) {
  struct stv_kube *k;
  int rc;
  *out = NULL;
  if ((k = stv_calloc(1, sizeof(*k))) == NULL) {
    stv_kube_config_free(cfg);
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  k->loop = loop;
  k->cfg = cfg;
  if ((rc = stv_http_new(&k->http, loop, err)) != 0) {
    stv_kube_config_free(cfg);
    stv_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

void stv_kube_free(struct stv_kube *k) {
  if (k == NULL) return;
  stv_http_close(k->http);
  k->http = NULL;
  if (k->exec_running) { /* the plugin's thread still uses k->cfg: exec_after frees k */
    k->closing = 1;
    return;
  }
  stv_kube_config_free(k->cfg);
  stv_free(k->auth);
  stv_free(k);
}

/* On the thread pool: the loop thread does not touch k->cfg's credentials meanwhile. */
static void exec_work(uv_work_t *w) {
  struct stv_kube *k = w->data;
  k->exec_rc = stv_kube_config_refresh(k->cfg, k->exec_refresh, &k->exec_err);
}

static void exec_after(uv_work_t *w, int status) {
  struct stv_kube *k = w->data;
  struct waiter *list = k->waiters, *next;
  struct stv_err cancel;
  (void)status;
  k->exec_running = 0;
  k->waiters = NULL;
  k->waiters_tail = &k->waiters;
  stv_err_set(&cancel, -ECANCELED, "the Kubernetes client is closing");
  for (; list != NULL; list = next) {
    next = list->next;
    if (k->closing)
      list->ready(list->ctx, -ECANCELED, &cancel);
    else
      list->ready(list->ctx, k->exec_rc, k->exec_rc ? &k->exec_err : NULL);
    stv_free(list);
  }
  if (k->closing) {
    k->exec_running = 0;
    stv_kube_free(k);
  }
}

int stv_kube_when_ready(struct stv_kube *k, int refresh, stv_kube_ready_cb ready, void *ctx,
                        struct stv_err *err) {
  struct waiter *w;
  if (!k->exec_running && !stv_kube_config_exec_due(k->cfg, refresh)) {
    ready(ctx, 0, NULL);
    return 0;
  }
  if ((w = stv_calloc(1, sizeof(*w))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  w->ready = ready;
  w->ctx = ctx;
  if (k->waiters_tail == NULL) k->waiters_tail = &k->waiters;
  *k->waiters_tail = w;
  k->waiters_tail = &w->next;
  if (!k->exec_running) {
    k->exec_running = 1;
    k->exec_refresh = refresh & ~STV_KUBE_REFRESH_NO_EXEC;
    k->work.data = k;
    if (uv_queue_work(k->loop, &k->work, exec_work, exec_after) !=
        0) { /* cannot happen with valid callbacks */
      k->exec_running = 0;
      k->waiters = NULL;
      k->waiters_tail = &k->waiters;
      stv_free(w);
      return stv_err_set(err, STV_EIO, "cannot run the exec plugin on the thread pool");
    }
  }
  return 0;
}

struct stv_kube_config *stv_kube_config_of(struct stv_kube *k) {
  return k->cfg;
}

struct stv_http *stv_kube_http(struct stv_kube *k) {
  return k->http;
}

uv_loop_t *stv_kube_loop(struct stv_kube *k) {
  return k->loop;
}

/* "Authorization: Bearer ..." or "...: Basic ..." from the configuration as it is now. */
static int make_auth(struct stv_kube *k) {
  const struct stv_kube_config *c = k->cfg;
  char *s = NULL;
  size_t n;
  stv_free(k->auth);
  k->auth = NULL;
  if (c->token != NULL) {
    n = strlen(c->token) + 32;
    if ((s = stv_malloc(n)) == NULL) return STV_ENOMEM;
    snprintf(s, n, "Authorization: Bearer %s", c->token);
  } else if (c->basic != NULL) {
    size_t bl = strlen(c->basic);
    n = 4 * ((bl + 2) / 3) + 32;
    if ((s = stv_malloc(n)) == NULL) return STV_ENOMEM;
    memcpy(s, "Authorization: Basic ", 21);
    EVP_EncodeBlock((unsigned char *)s + 21, (const unsigned char *)c->basic, (int)bl);
  }
  k->auth = s;
  return 0;
}

int stv_kube_prepare(struct stv_kube *k, int refresh, const char *content_type, const char **lines,
                     struct stv_http_tls *tls, struct stv_err *err) {
  const struct stv_kube_config *c = k->cfg;
  size_t i = 0;
  const char *cert, *key;
  size_t cl, kl;
  int rc;
  if ((rc = stv_kube_config_refresh(k->cfg, refresh | STV_KUBE_REFRESH_NO_EXEC, err)) != 0) return rc;
  if ((rc = make_auth(k)) != 0) return stv_err_set(err, rc, "out of memory");
  if (k->auth != NULL) lines[i++] = k->auth;
  lines[i++] = "Accept: application/json";
  lines[i++] = "User-Agent: stevedore/" STV_VERSION;
  if (content_type != NULL) {
    snprintf(k->ctype, sizeof(k->ctype), "Content-Type: %s", content_type);
    lines[i++] = k->ctype;
  }
  lines[i] = NULL;
  memset(tls, 0, sizeof(*tls));
  tls->ca_file = c->ca_file;
  tls->ca_pem = c->ca_pem;
  tls->ca_pem_len = c->ca_pem_len;
  tls->cert_file = c->cert_file;
  tls->key_file = c->key_file;
  tls->cert_pem = c->cert_pem;
  tls->cert_pem_len = c->cert_pem_len;
  tls->key_pem = c->key_pem;
  tls->key_pem_len = c->key_pem_len;
  tls->insecure = c->insecure;
  stv_kube_config_exec_pem(c, &cert, &cl, &key, &kl);
  if (cert != NULL) {
    tls->cert_pem = cert;
    tls->cert_pem_len = cl;
    tls->key_pem = key;
    tls->key_pem_len = kl;
  }
  return 0;
}

int stv_kube_retry_after(const char *line, size_t len, double *seconds) {
  char num[32];
  size_t i = 12, n = 0;
  double v;
  if (len < 12 || strncasecmp(line, "Retry-After:", 12) != 0) return 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  while (i < len && n + 1 < sizeof(num) && line[i] != ' ' && line[i] != '\r') num[n++] = line[i++];
  num[n] = '\0';
  if (stv_parse_number(num, &v, NULL) != 0 || v < 0) return 0; /* an HTTP date: not sent by the API server */
  *seconds = v > 3600 ? 3600 : v;
  return 1;
}

static int code_of_status(long status) {
  switch (status) {
  case 400:
  case 422:
    return STV_EINVAL;
  case 401:
  case 403:
    return -EACCES;
  case 404:
  case 410:
    return STV_ENOTFOUND;
  case 409:
    return STV_ECONFLICT;
  case 429:
    return STV_ETHROTTLED;
  case 504:
    return STV_ETIMEDOUT;
  default:
    return STV_EIO;
  }
}

static const char *what_failed(enum stv_http_failure f) {
  switch (f) {
  case STV_HTTP_CONNECT:
    return "cannot connect to the API server";
  case STV_HTTP_RESOLVE:
    return "the API server's host name does not resolve";
  case STV_HTTP_TIMEOUT:
    return "no answer in time";
  case STV_HTTP_URL:
    return "bad URL";
  case STV_HTTP_LOST:
    return "the connection broke";
  case STV_HTTP_TLS:
    return "TLS failed (check certificate-authority, the client certificate and the server name)";
  case STV_HTTP_TOOBIG:
    return "the answer is too large";
  case STV_HTTP_CANCELED:
    return "cancelled";
  default:
    return "failed";
  }
}

int stv_kube_answer_error(const char *what, const struct stv_http_result *res, long status, const cJSON *body,
                          double retry_after, struct stv_kube_error *ke, struct stv_err *err) {
  const cJSON *reason = NULL, *msg = NULL, *kind = cJSON_GetObjectItemCaseSensitive(body, "kind");
  int rc;
  memset(ke, 0, sizeof(*ke));
  ke->status = status;
  ke->retry_after = retry_after;
  if (res != NULL && res->code != 0)
    return stv_err_set(err, res->code, "%s: %s: %s", what, what_failed(res->failure), res->error);
  if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0) {
    reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
    msg = cJSON_GetObjectItemCaseSensitive(body, "message");
  }
  if (cJSON_IsString(reason)) snprintf(ke->reason, sizeof(ke->reason), "%s", reason->valuestring);
  rc = code_of_status(status);
  if (status == 401)
    return stv_err_set(err, rc, "%s: 401 Unauthorized: the API server refused the credentials%s%s", what,
                       cJSON_IsString(msg) ? ": " : "", cJSON_IsString(msg) ? msg->valuestring : "");
  if (status == 403)
    return stv_err_set(err, rc, "%s: 403 Forbidden (RBAC: the user lacks this verb on this resource)%s%s",
                       what, cJSON_IsString(msg) ? ": " : "", cJSON_IsString(msg) ? msg->valuestring : "");
  return stv_err_set(err, rc, "%s: %ld %s%s%s%s", what, status, ke->reason[0] ? ke->reason : "error",
                     cJSON_IsString(msg) ? ": " : "", cJSON_IsString(msg) ? msg->valuestring : "",
                     status == 429 && retry_after > 0 ? " (Retry-After given)" : "");
}

/* ---------------------------------------------------------------------- */
/* One request                                                            */

struct kreq {
  struct stv_kube *k;
  char *method, *url, *body, *ctype;
  long timeout_ms;
  size_t max_body;
  stv_kube_done_cb done;
  void *ctx;
  struct stv_buf buf;
  double retry_after;
  int retried;
  int refresh, waiting, ready_now; /* kreq_send's state while the credentials get ready */
  char what[300];
};

static void kreq_free(struct kreq *q) {
  stv_free(q->method);
  stv_free(q->url);
  stv_free(q->body);
  stv_free(q->ctype);
  stv_buf_close(&q->buf);
  stv_free(q);
}

static int kreq_body(void *ctx, struct stv_http_req *req, const char *data, size_t len) {
  struct kreq *q = ctx;
  (void)req;
  return stv_buf_append(&q->buf, data, len);
}

static int kreq_header(void *ctx, struct stv_http_req *req, const char *line, size_t len) {
  struct kreq *q = ctx;
  (void)req;
  stv_kube_retry_after(line, len, &q->retry_after);
  return 0;
}

static int kreq_send(struct kreq *q, int refresh, struct stv_err *err);

/* Parses an answer's body; *json NULL for an empty body. Returns 0 or STV_EPARSE / STV_ENOMEM. */
static int parse_body(const struct stv_buf *b, cJSON **json) {
  *json = NULL;
  if (b->len == 0) return 0;
  *json = cJSON_ParseWithLength(b->data, b->len);
  return *json != NULL && cJSON_IsObject(*json) ? 0 : STV_EPARSE;
}

static void kreq_done(void *ctx, struct stv_http_req *req, const struct stv_http_result *res) {
  struct kreq *q = ctx;
  struct stv_kube_error ke = {.status = res->status};
  struct stv_err err = {0};
  cJSON *json = NULL;
  int rc;
  (void)req;
  if (res->code == 0 && res->status == 401 && !q->retried) {
    q->retried = 1;
    stv_buf_close(&q->buf);
    stv_buf_init(&q->buf);
    q->buf.max = q->max_body;
    if ((rc = kreq_send(q, 1, &err)) == 0) return;
    q->done(q->ctx, rc, NULL, &ke, &err);
    kreq_free(q);
    return;
  }
  rc = res->code;
  if (rc == 0) rc = parse_body(&q->buf, &json);
  if (rc == STV_EPARSE && res->status >= 200 && res->status < 300) {
    stv_err_set(&err, rc, "%s: %ld: the answer is not a JSON object (%zu bytes, truncated or not JSON)",
                q->what, res->status, q->buf.len);
  } else if (res->code == 0 && res->status >= 200 && res->status < 300) {
    rc = 0;
  } else {
    rc = stv_kube_answer_error(q->what, res, res->status, rc == 0 ? json : NULL, q->retry_after, &ke, &err);
  }
  q->done(q->ctx, rc, rc == 0 ? json : NULL, &ke, &err);
  cJSON_Delete(json);
  kreq_free(q);
}

/* Sends q now, the credentials being ready. */
static int kreq_start(struct kreq *q, int refresh, struct stv_err *err) {
  struct stv_kube *k = q->k;
  const char *lines[STV_KUBE_HEADERS_MAX + 1];
  struct stv_http_opts o = {0};
  int rc;
  if ((rc = stv_kube_prepare(k, refresh, q->body ? q->ctype : NULL, lines, &o.tls, err)) != 0) return rc;
  o.url = q->url;
  o.method = q->method;
  o.body = q->body;
  o.body_len = q->body ? strlen(q->body) : 0;
  o.headers = lines;
  o.timeout_ms = q->timeout_ms;
  o.max_body = q->max_body;
  o.on_body = kreq_body;
  o.on_header = kreq_header;
  o.on_done = kreq_done;
  o.ctx = q;
  q->retry_after = 0;
  if ((rc = stv_http_request(k->http, &o, NULL, err)) != 0) return stv_err_prefix(err, "%s", q->what);
  return 0;
}

/* The exec plugin has answered (or failed) for a request that waited for it. */
static void kreq_ready(void *ctx, int rc, const struct stv_err *e) {
  struct kreq *q = ctx;
  struct stv_kube_error ke = {0};
  struct stv_err err = {0};
  if (q->waiting) {
    q->waiting = 0;
    if (rc == 0)
      rc = kreq_start(q, q->refresh, &err);
    else
      err = *e;
    if (rc != 0) {
      q->done(q->ctx, rc, NULL, &ke, &err);
      kreq_free(q);
    }
    return;
  }
  q->ready_now = 1; /* at once, inside stv_kube_when_ready: kreq_send goes on */
}

/* Sends q once the credentials are ready (the exec plugin may run first, off the loop). */
static int kreq_send(struct kreq *q, int refresh, struct stv_err *err) {
  int rc;
  q->ready_now = 0;
  q->waiting = 0;
  q->refresh = refresh;
  if ((rc = stv_kube_when_ready(q->k, refresh, kreq_ready, q, err)) != 0) return rc;
  if (q->ready_now) return kreq_start(q, refresh, err);
  q->waiting = 1;
  return 0;
}

int stv_kube_request(struct stv_kube *k, const struct stv_kube_call *c, stv_kube_done_cb done, void *ctx,
                     struct stv_err *err) {
  struct kreq *q;
  size_t n;
  int rc;
  if (c->path == NULL || c->path[0] != '/')
    return stv_err_set(err, STV_EINVAL, "kube: a path starts with '/'");
  if ((q = stv_calloc(1, sizeof(*q))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  q->k = k;
  q->done = done;
  q->ctx = ctx;
  q->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS;
  q->max_body = c->max_body > 0 ? c->max_body : STV_KUBE_BODY_MAX;
  stv_buf_init(&q->buf);
  q->buf.max = q->max_body;
  n = strlen(k->cfg->server) + strlen(c->path) + 1;
  q->method = stv_strdup(c->method ? c->method : "GET");
  q->ctype = stv_strdup(c->content_type ? c->content_type : "application/json");
  if ((q->url = stv_malloc(n)) != NULL) snprintf(q->url, n, "%s%s", k->cfg->server, c->path);
  if (c->body != NULL) {
    char *s = cJSON_PrintUnformatted(c->body);
    if (s != NULL) q->body = stv_strdup(s);
    cJSON_free(s);
  }
  if (q->method == NULL || q->ctype == NULL || q->url == NULL || (c->body != NULL && q->body == NULL)) {
    kreq_free(q);
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  snprintf(q->what, sizeof(q->what), "%s %s", q->method, q->url);
  if ((rc = kreq_send(q, 0, err)) != 0) kreq_free(q);
  return rc;
}

int stv_kube_get(struct stv_kube *k, const char *path, stv_kube_done_cb done, void *ctx,
                 struct stv_err *err) {
  return stv_kube_request(k, &(struct stv_kube_call){.method = "GET", .path = path}, done, ctx, err);
}

int stv_kube_create(struct stv_kube *k, const char *path, const cJSON *obj, stv_kube_done_cb done, void *ctx,
                    struct stv_err *err) {
  return stv_kube_request(k, &(struct stv_kube_call){.method = "POST", .path = path, .body = obj}, done, ctx,
                          err);
}

int stv_kube_update(struct stv_kube *k, const char *path, const cJSON *obj, stv_kube_done_cb done, void *ctx,
                    struct stv_err *err) {
  return stv_kube_request(k, &(struct stv_kube_call){.method = "PUT", .path = path, .body = obj}, done, ctx,
                          err);
}

int stv_kube_patch(struct stv_kube *k, const char *path, const char *patch_type, const cJSON *patch,
                   stv_kube_done_cb done, void *ctx, struct stv_err *err) {
  return stv_kube_request(
      k, &(struct stv_kube_call){.method = "PATCH", .path = path, .body = patch, .content_type = patch_type},
      done, ctx, err);
}

int stv_kube_delete(struct stv_kube *k, const char *path, stv_kube_done_cb done, void *ctx,
                    struct stv_err *err) {
  return stv_kube_request(k, &(struct stv_kube_call){.method = "DELETE", .path = path}, done, ctx, err);
}

/* ---------------------------------------------------------------------- */
/* Paginated list                                                         */

struct klist {
  struct stv_kube *k;
  char *path;
  long limit;
  char *cont; /* metadata.continue of the last page */
  stv_kube_item_cb on_item;
  stv_kube_list_done_cb done;
  void *ctx;
  size_t pages;
};

static void klist_free(struct klist *l) {
  stv_free(l->path);
  stv_free(l->cont);
  stv_free(l);
}

/* Appends s percent-encoded (RFC 3986 unreserved kept) to b. */
static void url_escape(struct stv_buf *b, const char *s) {
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c))
      stv_buf_append(b, (const char *)&c, 1);
    else
      stv_buf_printf(b, "%%%02X", c);
  }
}

static int klist_page(struct klist *l, struct stv_err *err);

/* Hands each item of one page to the caller, with the list's kind. */
static int klist_items(struct klist *l, cJSON *page, struct stv_err *err) {
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(page, "kind");
  cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items"), *it;
  long i = 0;
  int rc;
  if (items != NULL && !cJSON_IsNull(items) && !cJSON_IsArray(items))
    return stv_err_set(err, STV_EPARSE, "\"items\" is not an array");
  cJSON_ArrayForEach(it, items) {
    if (!cJSON_IsObject(it)) return stv_err_set(err, STV_EPARSE, "items[%ld]: not a JSON object", i);
    if (stv_json_fill_item_kind(it, cJSON_IsString(kind) ? kind->valuestring : NULL) != 0)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    if (l->on_item != NULL && (rc = l->on_item(l->ctx, it, err)) != 0) return rc > 0 ? STV_EINVAL : rc;
    i++;
  }
  return 0;
}

static void klist_done(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke,
                       const struct stv_err *e) {
  struct klist *l = ctx;
  struct stv_err err = {0};
  const cJSON *md, *cont, *rv;
  if (rc != 0) {
    l->done(l->ctx, rc, NULL, ke, e);
    klist_free(l);
    return;
  }
  md = cJSON_GetObjectItemCaseSensitive(body, "metadata");
  cont = cJSON_GetObjectItemCaseSensitive(md, "continue");
  rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
  if ((rc = klist_items(l, body, &err)) != 0) {
    stv_err_prefix(&err, "%s%s (page %zu)", l->k->cfg->server, l->path, l->pages + 1);
    l->done(l->ctx, rc, NULL, ke, &err);
    klist_free(l);
    return;
  }
  l->pages++;
  stv_free(l->cont);
  l->cont = NULL;
  if (cJSON_IsString(cont) && cont->valuestring[0] != '\0') {
    if ((l->cont = stv_strdup(cont->valuestring)) == NULL)
      rc = stv_err_set(&err, STV_ENOMEM, "out of memory");
    if (rc == 0 && (rc = klist_page(l, &err)) == 0) return;
    l->done(l->ctx, rc, NULL, ke, &err);
  } else {
    l->done(l->ctx, 0, cJSON_IsString(rv) ? rv->valuestring : "", ke, &err);
  }
  klist_free(l);
}

static int klist_page(struct klist *l, struct stv_err *err) {
  struct stv_buf p;
  int rc;
  stv_buf_init(&p);
  stv_buf_printf(&p, "%s%climit=%ld", l->path, strchr(l->path, '?') ? '&' : '?', l->limit);
  if (l->cont != NULL) {
    stv_buf_puts(&p, "&continue=");
    url_escape(&p, l->cont);
  }
  if (p.err != 0)
    rc = stv_err_set(err, p.err, "out of memory");
  else
    rc = stv_kube_get(l->k, p.data, klist_done, l, err);
  stv_buf_close(&p);
  return rc;
}

int stv_kube_list(struct stv_kube *k, const char *path, long limit, stv_kube_item_cb on_item,
                  stv_kube_list_done_cb done, void *ctx, struct stv_err *err) {
  struct klist *l;
  int rc;
  if ((l = stv_calloc(1, sizeof(*l))) == NULL || (l->path = stv_strdup(path)) == NULL) {
    stv_free(l);
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  l->k = k;
  l->limit = limit > 0 ? limit : DEFAULT_PAGE;
  l->on_item = on_item;
  l->done = done;
  l->ctx = ctx;
  if ((rc = klist_page(l, err)) != 0) klist_free(l);
  return rc;
}

struct sync_list {
  stv_kube_item_cb on_item;
  void *ctx;
  int finished, rc;
  struct stv_kube_error ke;
  struct stv_err err;
};

static void sync_done(void *ctx, int rc, const char *rv, const struct stv_kube_error *ke,
                      const struct stv_err *err) {
  struct sync_list *s = ctx;
  (void)rv;
  s->finished = 1;
  s->rc = rc;
  if (ke != NULL) s->ke = *ke;
  if (rc != 0 && err != NULL) s->err = *err;
}

static int sync_item(void *ctx, const cJSON *item, struct stv_err *err) {
  struct sync_list *s = ctx;
  return s->on_item != NULL ? s->on_item(s->ctx, item, err) : 0;
}

int stv_kube_list_sync(struct stv_kube *k, uv_loop_t *loop, const char *path, long limit,
                       stv_kube_item_cb on_item, void *ctx, struct stv_kube_error *ke, struct stv_err *err) {
  struct sync_list s;
  int rc;
  memset(&s, 0, sizeof(s));
  s.on_item = on_item;
  s.ctx = ctx;
  if ((rc = stv_kube_list(k, path, limit, sync_item, sync_done, &s, err)) != 0) return rc;
  while (!s.finished) uv_run(loop, UV_RUN_ONCE);
  if (ke != NULL) *ke = s.ke;
  if (s.rc != 0 && err != NULL) *err = s.err;
  return s.rc;
}
