/*
 * The GCP provider (gcp.h): Compute Engine managed instance groups.
 *
 * Every provider call is a `struct req` walking through API calls: each
 * API call first makes sure of an access token (gcp_token.c), then goes
 * out through the shared cloud caller (call.h: timeout, body cap, retries
 * with backoff on 429 and 5xx); a 401 drops the token and tries once more
 * with a fresh one. Mutations (resize, deleteInstances) carry a requestId
 * (a UUID, the same on every retry of one call, so a retried request is
 * not applied twice) and their operation is waited for (operations.wait)
 * until DONE; its error is the call's result. The callback always runs
 * from a timer of the provider's clock, never from inside the call.
 *
 * Between calls, a poll timer lists the groups' instances and reports what
 * changed as events: RUNNING the first time an instance runs, TERMINATED
 * when one is gone, LAUNCH_FAILED for an instance the MIG cannot create
 * (lastAttempt.errors: a stockout, a quota), which is deleted from the
 * group so that its target size drops by one and the controller plans
 * elsewhere (Cluster Autoscaler does the same with such instances).
 */
#include <math.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "gcp_priv.h"

#define DEFAULT_COMPUTE  "https://compute.googleapis.com/compute/v1"
#define DEFAULT_BILLING  "https://cloudbilling.googleapis.com"
#define DEFAULT_POLL     10.0
#define DEFAULT_MAX_SIZE 1000
#define WAIT_TIMEOUT_MS  130000L /* operations.wait returns within 2 minutes */
#define PAGE             "500"

static void req_free(struct req *r);

/* ---------------------------------------------------------------------- */
/* Requests                                                               */

struct req *stv__gcp_req_new(struct gcp *g, enum req_kind kind, void *cb, void *ctx) {
  struct req *r = stv_calloc(1, sizeof(*r));
  if (r == NULL) return NULL;
  r->g = g;
  r->kind = kind;
  r->cb = cb;
  r->ctx = ctx;
  r->next = g->reqs;
  if (g->reqs != NULL) g->reqs->prev = r;
  g->reqs = r;
  return r;
}

/* Takes r out of its provider's list (close then no longer sees it). */
static void req_unlink(struct req *r) {
  struct gcp *g = r->g;
  if (r->prev != NULL)
    r->prev->next = r->next;
  else if (g->reqs == r)
    g->reqs = r->next;
  if (r->next != NULL) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

/* Frees what r holds; r is out of the list and its timer is not running. Touches nothing of the provider. */
static void req_release(struct req *r) {
  stv__gcp_migs_free(&r->migs);
  stv__gcp_manageds_free(&r->managed);
  stv_free(r->page);
  stv_free(r->body);
  stv_free(r->url);
  stv_free(r->insts);
  stv_free(r->inst_ids);
  stv_free(r->owner);
  stv__gcp_rates_free(&r->rates);
  stv_free(r->ptypes);
  stv_free(r->quotes);
  stv_free(r);
}

static void req_free(struct req *r) {
  req_unlink(r);
  stv_clock_stop(r->g->cloud.clock, &r->timer);
  req_release(r);
}

static void fire(struct stv_timer *t);

/* Ends r with code and a message: its callback runs from a timer, then r is freed. */
void stv__gcp_finish(struct req *r, int code, const char *fmt, ...) {
  va_list ap;
  r->code = code;
  r->msg[0] = '\0';
  if (fmt != NULL) {
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
  }
  if (stv_clock_start(r->g->cloud.clock, &r->timer, 0, fire, r) != 0) {
    /* No timer: the callback cannot run later; drop the call rather than call back inside it. */
    req_free(r);
  }
}

static void deliver_groups(struct req *r);
static void deliver_instances(struct req *r);

/* The timer of a finished request: its callback, which may close the provider (r is out of its list by then,
 * and nothing of the provider is touched after the callback). */
static void fire(struct stv_timer *t) {
  struct req *r = t->data;
  struct stv_cloud_result res = {r->code, r->msg, r->retry_after};
  req_unlink(r);
  switch (r->kind) {
  case REQ_GROUPS:
    if (r->code == 0)
      deliver_groups(r);
    else
      ((stv_cloud_groups_cb)r->cb)(r->ctx, &res, NULL, 0);
    break;
  case REQ_INSTANCES:
    if (r->code == 0)
      deliver_instances(r);
    else
      ((stv_cloud_instances_cb)r->cb)(r->ctx, &res, NULL, 0);
    break;
  case REQ_RESIZE:
  case REQ_DELETE:
    ((stv_cloud_done_cb)r->cb)(r->ctx, &res);
    break;
  case REQ_POLL:
    stv__gcp_poll_done(r);
    break;
  case REQ_REAP:
    stv__gcp_reap_done(r);
    break;
  case REQ_PRICES:
    stv__gcp_prices_deliver(r, &res);
    break;
  }
  req_release(r);
}

/* ---------------------------------------------------------------------- */
/* API calls                                                              */

static void api_send(struct req *r, int code, const char *msg);

const char *stv__gcp_tls_hint(const char *error) {
  if (strstr(error, "SSL") == NULL && strstr(error, "certificate") == NULL) return "";
  return " (does gcp.caFile hold the CA that signed the endpoint's certificate? without it, the system's CAs)";
}

static void on_reply(void *ctx, const struct stv_cloud_reply *rep) {
  struct req *r = ctx;
  char msg[400];
  int code;
  r->on_wire = 0;
  if (rep->code != 0) {
    r->retry_after = rep->retry_after;
    stv__gcp_finish(r, rep->code, "%s (%s)%s", rep->error, r->url, stv__gcp_tls_hint(rep->error));
    return;
  }
  if (rep->status == 401 && !r->reauth) {
    /* The token expired early or was revoked: one fresh token, one more try. */
    r->reauth = 1;
    stv__gcp_token_drop(r->g);
    stv__gcp_with_token(r->g, r, api_send);
    return;
  }
  if (rep->status < 200 || rep->status > 299) {
    code = stv__gcp_read_error(rep->body, rep->len, rep->status, msg, sizeof(msg));
    stv__gcp_finish(r, code, "%s %s: %s", r->what, stv__gcp_rel(r->url) ? stv__gcp_rel(r->url) : r->url, msg);
    return;
  }
  r->step(r, rep->body, rep->len);
}

/* With the token in hand (code 0), or not (code and msg say why): sends r's API call. */
static void api_send(struct req *r, int code, const char *msg) {
  struct gcp *g = r->g;
  struct stv_cloud_call_opts o;
  struct stv_err err = {0, ""};
  char auth[STV__GCP_TOKEN_MAX + 32];
  const char *hdrs[3] = {auth, "Content-Type: application/json", NULL};
  int rc;
  if (code != 0) {
    stv__gcp_finish(r, code, "%s", msg);
    return;
  }
  snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g->token);
  memset(&o, 0, sizeof(o));
  o.what = r->what;
  o.url = r->url;
  o.method = r->method;
  o.body = r->body;
  o.body_len = r->body != NULL ? strlen(r->body) : 0;
  if (r->body == NULL && strcmp(r->method, "POST") == 0)
    o.body = ""; /* POST without a body: Content-Length 0 */
  o.headers = hdrs;
  o.tls.ca_file = g->ca_file;
  o.timeout_ms = r->timeout_ms > 0 ? r->timeout_ms : g->timeout_ms;
  o.max_body = r->max_body;
  if ((rc = stv_cloud_call(g->caller, &o, on_reply, r, &err)) != 0) {
    stv__gcp_finish(r, rc, "%s: %s", r->what, err.msg);
    return;
  }
  r->on_wire = 1;
}

/*
 * Calls url (borrowed; a Google API's full URL, query included) with
 * method and body (borrowed, or NULL) under the provider's access token;
 * step reads a 2xx answer. what names the call in messages ("compute
 * instanceGroupManagers.resize").
 */
void stv__gcp_call(struct req *r, const char *what, const char *method, const char *url, const char *body,
                   void (*step)(struct req *, const char *, size_t)) {
  stv_free(r->url);
  stv_free(r->body);
  r->body = NULL;
  if ((r->url = stv_strdup(url)) == NULL || (body != NULL && (r->body = stv_strdup(body)) == NULL)) {
    stv__gcp_finish(r, STV_ENOMEM, "%s: out of memory", what);
    return;
  }
  snprintf(r->what, sizeof(r->what), "%s", what);
  r->method = method;
  r->step = step;
  r->reauth = 0;
  r->timeout_ms = strstr(url, "/wait") != NULL ? WAIT_TIMEOUT_MS : 0;
  stv__gcp_with_token(r->g, r, api_send);
}

/*
 * Calls the Compute API: method on path (below the endpoint, from
 * "projects/..."; query included) with body (borrowed, or NULL); step reads
 * a 2xx answer. what names the call in messages.
 */
void stv__gcp_api(struct req *r, const char *what, const char *method, const char *path, const char *body,
                  void (*step)(struct req *, const char *, size_t)) {
  struct gcp *g = r->g;
  size_t n = strlen(g->compute) + strlen(path) + 2;
  char *url = stv_malloc(n), label[80];
  if (url == NULL) {
    stv__gcp_finish(r, STV_ENOMEM, "%s: out of memory", what);
    return;
  }
  snprintf(url, n, "%s/%s", g->compute, path);
  snprintf(label, sizeof(label), "compute %s", what);
  stv__gcp_call(r, label, method, url, body, step);
  stv_free(url);
}

/* ---------------------------------------------------------------------- */
/* Operations                                                             */

static void op_step(struct req *r, const char *body, size_t len) {
  struct stv__gcp_op op;
  struct stv_err err = {0, ""};
  char path[600];
  if (stv__gcp_read_operation(body, len, &op, &err) != 0) {
    stv__gcp_finish(r, STV_EIO, "%s: %s", r->what, err.msg);
    return;
  }
  if (!op.done) {
    snprintf(path, sizeof(path), "%s/wait", op.path);
    stv__gcp_api(r, "operations.wait", "POST", path, NULL, op_step);
    return;
  }
  if (op.code[0] != '\0') {
    stv__gcp_finish(r, stv__gcp_op_code(op.code, op.http_status), "%s of %s: operation %s failed: %s: %s",
                    r->verb, r->group, op.name, op.code, op.message);
    return;
  }
  if (r->op_ok != NULL)
    r->op_ok(r);
  else
    stv__gcp_finish(r, 0, NULL);
}

/* A fresh requestId (a version 4 UUID, as the API wants it). */
static int request_id(char *buf, size_t size) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1) return STV_EIO;
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(buf, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
           b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return 0;
}

/* POSTs group_id's verb (resize?size=N, deleteInstances) with a fresh requestId and waits for its operation;
 * op_ok runs when it is DONE without error. */
void stv__gcp_mutate(struct req *r, const char *group_id, const char *what, const char *verb,
                     const char *body, void (*op_ok)(struct req *r)) {
  char path[900], rid[40];
  if (request_id(rid, sizeof(rid)) != 0) {
    stv__gcp_finish(r, STV_EIO, "no random bytes for a requestId (OpenSSL RAND_bytes failed)");
    return;
  }
  r->op_ok = op_ok;
  snprintf(path, sizeof(path), "%s/%s%srequestId=%s", group_id, verb, strchr(verb, '?') ? "&" : "?", rid);
  stv__gcp_api(r, what, "POST", path, body, op_step);
}

/* ---------------------------------------------------------------------- */
/* Groups                                                                 */

struct gcp_group *stv__gcp_group(struct gcp *g, const char *id) {
  size_t i;
  for (i = 0; i < g->ngroups; i++)
    if (strcmp(g->groups[i].id, id) == 0) return &g->groups[i];
  return NULL;
}

static void groups_clear(struct gcp *g) {
  size_t i;
  for (i = 0; i < g->ngroups; i++) {
    stv_free(g->groups[i].id);
    stv_free(g->groups[i].name);
    stv_free(g->groups[i].zones);
    stv_free(g->groups[i].off);
  }
  stv_free(g->groups);
  g->groups = NULL;
  g->ngroups = 0;
}

static struct tmpl_entry *tmpl_find(struct gcp *g, const char *path) {
  size_t i;
  for (i = 0; i < g->ntmpl; i++)
    if (strcmp(g->tmpl[i].path, path) == 0) return &g->tmpl[i];
  return NULL;
}

static void templates_step(struct req *r);

static void template_got(struct req *r, const char *body, size_t len) {
  struct gcp *g = r->g;
  struct stv_err err = {0, ""};
  struct tmpl_entry *v, *e;
  const char *path = r->migs.v[r->i].tmpl;
  if ((v = stv_realloc(g->tmpl, (g->ntmpl + 1) * sizeof(*v))) == NULL) {
    stv__gcp_finish(r, STV_ENOMEM, "out of memory");
    return;
  }
  g->tmpl = v;
  e = &v[g->ntmpl];
  memset(e, 0, sizeof(*e));
  if (stv__gcp_read_template(body, len, &e->t, &err) != 0 || (e->path = stv_strdup(path)) == NULL) {
    stv__gcp_template_free(&e->t);
    stv__gcp_finish(r, err.code == STV_ENOMEM || err.code == 0 ? STV_ENOMEM : STV_EIO, "%s %s: %s", r->what,
                    path, err.code ? err.msg : "out of memory");
    return;
  }
  g->ntmpl++;
  r->i++;
  templates_step(r);
}

/* Fetches the templates of r->migs not known yet, one at a time (they never change: cached for good). */
static void templates_step(struct req *r) {
  for (; r->i < r->migs.n; r->i++)
    if (tmpl_find(r->g, r->migs.v[r->i].tmpl) == NULL) {
      stv__gcp_api(r, "instanceTemplates.get", "GET", r->migs.v[r->i].tmpl, NULL, template_got);
      return;
    }
  if (stv__gcp_groups_adopt(r->g, &r->migs) != 0) {
    stv__gcp_finish(r, STV_ENOMEM, "out of memory keeping the groups");
    return;
  }
  if (r->then_instances) {
    stv__gcp_instances_after_groups(r);
    return;
  }
  stv__gcp_finish(r, 0, NULL);
}

static void migs_page(struct req *r, const char *body, size_t len);

static void migs_next(struct req *r) {
  char path[1200];
  struct gcp *g = r->g;
  if (r->page != NULL)
    snprintf(path, sizeof(path),
             "projects/%s/aggregated/instanceGroupManagers?maxResults=" PAGE "&pageToken=%s", g->project,
             r->page);
  else
    snprintf(path, sizeof(path), "projects/%s/aggregated/instanceGroupManagers?maxResults=" PAGE, g->project);
  stv__gcp_api(r, "instanceGroupManagers.aggregatedList", "GET", path, NULL, migs_page);
}

static void migs_page(struct req *r, const char *body, size_t len) {
  struct stv_err err = {0, ""};
  char *next = NULL;
  stv_free(r->page);
  r->page = NULL;
  if (stv__gcp_read_migs(body, len, 1, r->g->prefix, &r->migs, &next, &err) != 0) {
    stv__gcp_finish(r, err.code == STV_ENOMEM ? STV_ENOMEM : STV_EIO, "%s: %s", r->what, err.msg);
    return;
  }
  if (next != NULL && strlen(next) > 512) {
    stv_free(next);
    stv__gcp_finish(r, STV_EIO, "%s: nextPageToken: longer than 512 bytes", r->what);
    return;
  }
  if ((r->page = next) != NULL) {
    migs_next(r);
    return;
  }
  r->i = 0;
  templates_step(r);
}

/* Lists the groups (and adopts them as the provider's), then finishes r or goes on to the instances. */
void stv__gcp_list_groups(struct req *r) {
  r->i = 0;
  migs_next(r);
}

static void deliver_groups(struct req *r) {
  struct gcp *g = r->g;
  struct stv_cloud_group *v = stv_calloc(g->ngroups + 1, sizeof(*v));
  struct stv_cloud_result res = {0, "", 0};
  size_t i;
  if (v == NULL) {
    res.code = STV_ENOMEM;
    res.message = "out of memory listing the groups";
    ((stv_cloud_groups_cb)r->cb)(r->ctx, &res, NULL, 0);
    return;
  }
  for (i = 0; i < g->ngroups; i++) {
    v[i].id = g->groups[i].id;
    v[i].pool = g->groups[i].pool;
    v[i].offerings = g->groups[i].off;
    v[i].noffer = g->groups[i].noff;
    v[i].min = g->min_size;
    v[i].max = g->max_size;
    v[i].desired = g->groups[i].target;
  }
  ((stv_cloud_groups_cb)r->cb)(r->ctx, &res, v, g->ngroups);
  stv_free(v);
}

int stv__gcp_groups_adopt(struct gcp *g, const struct stv__gcp_migs *m) {
  struct gcp_group *v = stv_calloc(m->n + 1, sizeof(*v));
  size_t i, j;
  if (v == NULL) return STV_ENOMEM;
  for (i = 0; i < m->n; i++) {
    const struct tmpl_entry *t = tmpl_find(g, m->v[i].tmpl);
    struct gcp_group *gr = &v[i];
    gr->id = stv_strdup(m->v[i].path);
    gr->name = stv_strdup(m->v[i].name);
    gr->off = stv_calloc(m->v[i].nzones + 1, sizeof(*gr->off));
    gr->zones = stv_calloc(m->v[i].nzones + 1, sizeof(char *));
    if (gr->id == NULL || gr->name == NULL || gr->off == NULL || gr->zones == NULL || t == NULL) goto fail;
    gr->type = t->t.machine_type;
    gr->ct = t->t.ct;
    gr->pool = t->t.pool;
    gr->target = m->v[i].target_size;
    /* Zone names live in the cache below, owned by the request's migs until copied. */
    for (j = 0; j < m->v[i].nzones; j++) {
      if ((gr->zones[j] = stv__gcp_intern(g, m->v[i].zones[j])) == NULL) goto fail;
      gr->off[j].instance_type = gr->type;
      gr->off[j].zone = gr->zones[j];
      gr->off[j].capacity_type = gr->ct;
    }
    gr->noff = m->v[i].nzones;
  }
  groups_clear(g);
  g->groups = v;
  g->ngroups = m->n;
  g->have_groups = 1;
  return 0;
fail:
  for (i = 0; i < m->n; i++) {
    stv_free(v[i].id);
    stv_free(v[i].name);
    stv_free(v[i].zones);
    stv_free(v[i].off);
  }
  stv_free(v);
  return STV_ENOMEM;
}

static int gcp_list_groups(struct stv_cloud *c, stv_cloud_groups_cb cb, void *ctx) {
  struct req *r = stv__gcp_req_new(c->impl, REQ_GROUPS, (void *)cb, ctx);
  if (r == NULL) return STV_ENOMEM;
  stv__gcp_list_groups(r);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Instances                                                              */

static void managed_page(struct req *r, const char *body, size_t len);

static void managed_next(struct req *r) {
  char path[1200];
  const struct gcp_group *gr;
  if (r->i >= r->g->ngroups) {
    stv__gcp_finish(r, 0, NULL);
    return;
  }
  gr = &r->g->groups[r->i];
  snprintf(path, sizeof(path), "%s/listManagedInstances?maxResults=" PAGE "%s%s", gr->id,
           r->page != NULL ? "&pageToken=" : "", r->page != NULL ? r->page : "");
  stv__gcp_api(r, "instanceGroupManagers.listManagedInstances", "POST", path, NULL, managed_page);
}

static void managed_page(struct req *r, const char *body, size_t len) {
  struct stv_err err = {0, ""};
  char *next = NULL;
  size_t before = r->managed.n, k;
  uint32_t *owner;
  stv_free(r->page);
  r->page = NULL;
  if (stv__gcp_read_managed(body, len, &r->managed, &next, &err) != 0) {
    stv__gcp_finish(r, err.code == STV_ENOMEM ? STV_ENOMEM : STV_EIO, "%s of %s: %s", r->what,
                    r->g->groups[r->i].name, err.msg);
    return;
  }
  if ((owner = stv_realloc(r->owner, (r->managed.n + 1) * sizeof(*owner))) == NULL) {
    stv_free(next);
    stv__gcp_finish(r, STV_ENOMEM, "out of memory");
    return;
  }
  r->owner = owner;
  for (k = before; k < r->managed.n; k++) owner[k] = (uint32_t)r->i;
  if (next != NULL && strlen(next) > 512) {
    stv_free(next);
    stv__gcp_finish(r, STV_EIO, "%s: nextPageToken: longer than 512 bytes", r->what);
    return;
  }
  if ((r->page = next) == NULL) r->i++;
  managed_next(r);
}

void stv__gcp_instances_after_groups(struct req *r) {
  r->i = 0;
  managed_next(r);
}

/* Lists the instances of every group into r->managed (r->owner: the group of each), listing the groups first
 * when none were listed yet. */
void stv__gcp_list_instances(struct req *r) {
  if (!r->g->have_groups) {
    r->then_instances = 1;
    stv__gcp_list_groups(r);
    return;
  }
  stv__gcp_instances_after_groups(r);
}

/* Fills r->insts from r->managed (strings in r->inst_ids); state as the interface wants it. */
int stv__gcp_describe(struct req *r) {
  struct gcp *g = r->g;
  size_t i, idlen = 0, off = 0;
  for (i = 0; i < r->managed.n; i++)
    idlen += strlen(g->project) + strlen(r->managed.v[i].zone) + strlen(r->managed.v[i].name) + 10;
  r->insts = stv_calloc(r->managed.n + 1, sizeof(*r->insts));
  r->inst_ids = stv_malloc(idlen + 1);
  if (r->insts == NULL || r->inst_ids == NULL) return STV_ENOMEM;
  for (i = 0; i < r->managed.n; i++) {
    const struct stv__gcp_managed *m = &r->managed.v[i];
    const struct gcp_group *gr = &g->groups[r->owner[i]];
    struct stv_cloud_instance *in = &r->insts[i];
    int n = snprintf(r->inst_ids + off, idlen + 1 - off, "gce://%s/%s/%s", g->project, m->zone, m->name);
    in->provider_id = r->inst_ids + off;
    off += (size_t)n + 1;
    in->group_id = gr->id;
    in->instance_type = gr->type;
    in->zone = m->zone;
    in->capacity_type = gr->ct;
    if (m->action == GCP_ACT_DELETING || m->stopping)
      in->state = STV_INSTANCE_TERMINATING;
    else if (m->action == GCP_ACT_NONE && m->running)
      in->state = STV_INSTANCE_RUNNING;
    else
      in->state = STV_INSTANCE_PENDING;
    in->launch_time = stv__gcp_first_seen(g, in->provider_id);
  }
  return 0;
}

static void deliver_instances(struct req *r) {
  struct stv_cloud_result res = {0, "", 0};
  int rc = stv__gcp_describe(r);
  if (rc != 0) {
    res.code = rc;
    res.message = "out of memory listing the instances";
    ((stv_cloud_instances_cb)r->cb)(r->ctx, &res, NULL, 0);
    return;
  }
  ((stv_cloud_instances_cb)r->cb)(r->ctx, &res, r->insts, r->managed.n);
}

static int gcp_list_instances(struct stv_cloud *c, stv_cloud_instances_cb cb, void *ctx) {
  struct req *r = stv__gcp_req_new(c->impl, REQ_INSTANCES, (void *)cb, ctx);
  if (r == NULL) return STV_ENOMEM;
  stv__gcp_list_instances(r);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Resize and delete                                                      */

static void resize_ok(struct req *r) {
  struct gcp_group *gr = stv__gcp_group(r->g, r->group);
  if (gr != NULL) gr->target = r->size;
  stv__gcp_finish(r, 0, NULL);
}

static int gcp_set_desired(struct stv_cloud *c, const char *group_id, int64_t desired, stv_cloud_done_cb cb,
                           void *ctx) {
  struct gcp *g = c->impl;
  struct gcp_group *gr = stv__gcp_group(g, group_id);
  struct req *r;
  char verb[64];
  if ((r = stv__gcp_req_new(g, REQ_RESIZE, (void *)cb, ctx)) == NULL) return STV_ENOMEM;
  snprintf(r->group, sizeof(r->group), "%s", group_id);
  snprintf(r->verb, sizeof(r->verb), "resize to %lld", (long long)desired);
  if (gr == NULL) {
    stv__gcp_finish(r, STV_ENOTFOUND,
                    "group %s: not among the managed instance groups listed (prefix \"%s\")", group_id,
                    g->prefix ? g->prefix : "");
    return 0;
  }
  if (desired < g->min_size || desired > g->max_size) {
    stv__gcp_finish(r, STV_EINVAL, "group %s: size %lld outside [%lld, %lld] (gcp.minSize, gcp.maxSize)",
                    gr->name, (long long)desired, (long long)g->min_size, (long long)g->max_size);
    return 0;
  }
  r->size = desired;
  snprintf(verb, sizeof(verb), "resize?size=%lld", (long long)desired);
  stv__gcp_mutate(r, group_id, "instanceGroupManagers.resize", verb, NULL, resize_ok);
  return 0;
}

static void delete_ok(struct req *r) {
  struct gcp_group *gr = stv__gcp_group(r->g, r->group);
  if (gr != NULL) gr->target = gr->target >= r->size ? gr->target - r->size : 0;
  stv__gcp_finish(r, 0, NULL);
}

/* The body of deleteInstances for provider ids gce://PROJECT/ZONE/NAME of group gr; NULL with msg on a bad id. */
char *stv__gcp_delete_body(struct gcp *g, const struct gcp_group *gr, const char *const *ids, size_t n,
                           char *msg, size_t size) {
  struct stv_buf b;
  size_t i, plen = strlen(g->project), j;
  stv_buf_init(&b);
  stv_buf_puts(&b, "{\"instances\": [");
  for (i = 0; i < n; i++) {
    const char *id = ids[i], *zone, *name;
    if (strncmp(id, "gce://", 6) != 0 || strncmp(id + 6, g->project, plen) != 0 || id[6 + plen] != '/') {
      snprintf(msg, size, "instance %.200s: not a gce://%s/ZONE/NAME provider id of this project", id,
               g->project);
      goto fail;
    }
    zone = id + 7 + plen;
    name = strchr(zone, '/');
    if (name == NULL || name == zone || name[1] == '\0' || strchr(name + 1, '/') != NULL) {
      snprintf(msg, size, "instance %.200s: not a gce://PROJECT/ZONE/NAME provider id", id);
      goto fail;
    }
    for (j = 0; j < gr->noff; j++)
      if (strlen(gr->zones[j]) == (size_t)(name - zone) &&
          strncmp(gr->zones[j], zone, (size_t)(name - zone)) == 0)
        break;
    if (j == gr->noff) {
      snprintf(msg, size, "instance %.200s: its zone is not one of group %s's", id, gr->name);
      goto fail;
    }
    stv_buf_printf(&b, "%s\"zones/%.*s/instances/", i ? ", " : "", (int)(name - zone), zone);
    stv_buf_puts(&b, name + 1); /* a name: lower-case letters, digits, '-' (checked below) */
    stv_buf_puts(&b, "\"");
    for (j = 1; name[j] != '\0'; j++)
      if (!((name[j] >= 'a' && name[j] <= 'z') || (name[j] >= '0' && name[j] <= '9') || name[j] == '-')) {
        snprintf(msg, size, "instance %.200s: the name is not a Compute instance name", id);
        goto fail;
      }
  }
  stv_buf_puts(&b, "], \"skipInstancesOnValidationError\": false}");
  if (b.err != 0) {
    snprintf(msg, size, "out of memory");
    goto fail;
  }
  return b.data;
fail:
  stv_buf_close(&b);
  return NULL;
}

static int gcp_delete_instances(struct stv_cloud *c, const char *group_id, const char *const *ids, size_t n,
                                stv_cloud_done_cb cb, void *ctx) {
  struct gcp *g = c->impl;
  struct gcp_group *gr = stv__gcp_group(g, group_id);
  struct req *r;
  char msg[300];
  char *body;
  if ((r = stv__gcp_req_new(g, REQ_DELETE, (void *)cb, ctx)) == NULL) return STV_ENOMEM;
  snprintf(r->group, sizeof(r->group), "%s", group_id);
  snprintf(r->verb, sizeof(r->verb), "deleting %zu instance%s", n, n == 1 ? "" : "s");
  if (gr == NULL) {
    stv__gcp_finish(r, STV_ENOTFOUND, "group %s: not among the managed instance groups listed", group_id);
    return 0;
  }
  if (n == 0 || (body = stv__gcp_delete_body(g, gr, ids, n, msg, sizeof(msg))) == NULL) {
    stv__gcp_finish(r, n == 0 ? STV_EINVAL : STV_ENOTFOUND, "group %s: %s", gr->name,
                    n == 0 ? "no instances named" : msg);
    return 0;
  }
  r->size = (int64_t)n;
  stv__gcp_mutate(r, group_id, "instanceGroupManagers.deleteInstances", "deleteInstances", body, delete_ok);
  stv_free(body);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Life                                                                   */

void stv_gcp_opts_default(struct stv_gcp_opts *o) {
  memset(o, 0, sizeof(*o));
  o->max_size = DEFAULT_MAX_SIZE;
  o->poll_interval = DEFAULT_POLL;
}

static void gcp_close(struct stv_cloud *c);

static const struct stv_cloud_ops gcp_ops = {
    .name = "gcp",
    .list_groups = gcp_list_groups,
    .list_instances = gcp_list_instances,
    .set_desired = gcp_set_desired,
    .delete_instances = gcp_delete_instances,
    .fetch_prices = stv__gcp_fetch_prices,
    .close = gcp_close,
};

static void gcp_close(struct stv_cloud *c) {
  struct gcp *g = c->impl;
  size_t i;
  stv_clock_stop(c->clock, &g->poll);
  stv_cloud_caller_free(g->caller); /* abandons the calls: no callback runs */
  while (g->reqs != NULL) req_free(g->reqs);
  stv__gcp_token_close(g);
  groups_clear(g);
  for (i = 0; i < g->ntmpl; i++) {
    stv_free(g->tmpl[i].path);
    stv__gcp_template_free(&g->tmpl[i].t);
  }
  stv_free(g->tmpl);
  stv__gcp_known_close(g);
  stv_strpool_close(&g->strings);
  stv_free(g->project);
  stv_free(g->compute);
  stv_free(g->billing);
  stv_free(g->prefix);
  stv_free(g->ca_file);
  stv_free(g);
}

static int copy_str(char **dst, const char *s) {
  if (s == NULL) return 0;
  return (*dst = stv_strdup(s)) == NULL ? STV_ENOMEM : 0;
}

/* Trims the trailing slashes of url (the setting key) and checks its scheme. */
static int endpoint(char *url, const char *key, struct stv_err *err) {
  size_t n = strlen(url);
  while (n > 0 && url[n - 1] == '/') url[--n] = '\0';
  if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
    return stv_err_set(err, STV_EINVAL, "%s \"%s\": not an http:// or https:// URL", key, url);
  return 0;
}

static int open_fail(struct gcp *g, int rc) {
  g->cloud.impl = g;
  gcp_close(&g->cloud);
  return rc;
}

int stv_cloud_open_gcp(struct stv_cloud **out, struct stv_http *http, struct stv_clock *clock,
                       const struct stv_gcp_opts *o, struct stv_err *err) {
  struct gcp *g = stv_calloc(1, sizeof(*g));
  const char *compute =
      o->compute_endpoint != NULL && o->compute_endpoint[0] ? o->compute_endpoint : DEFAULT_COMPUTE;
  int rc;
  *out = NULL;
  if (g == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  g->cloud.ops = &gcp_ops;
  g->cloud.impl = g;
  g->cloud.clock = clock;
  g->http = http;
  stv_strpool_init(&g->strings);
  g->min_size = o->min_size;
  g->max_size = o->max_size > 0 ? o->max_size : DEFAULT_MAX_SIZE;
  g->poll_interval = o->poll_interval > 0 ? o->poll_interval : DEFAULT_POLL;
  g->timeout_ms = o->timeout_ms;
  if (g->min_size < 0 || g->min_size > g->max_size) {
    stv_free(g);
    return stv_err_set(err, STV_EINVAL, "gcp.minSize %lld: must be in [0, gcp.maxSize %lld]",
                       (long long)o->min_size, (long long)g->max_size);
  }
  if (http == NULL) {
    stv_free(g);
    return stv_err_set(err, STV_EINVAL, "gcp provider: no HTTP client");
  }
  if (o->name_prefix == NULL || o->name_prefix[0] == '\0') {
    stv_free(g);
    return stv_err_set(
        err, STV_EINVAL,
        "gcp: --cluster-name (the MIGs gke-NAME-*) or gcp.namePrefix is required: without either "
        "every managed instance group of the project would be scaled");
  }
  if (copy_str(&g->compute, compute) != 0 ||
      copy_str(&g->billing, o->billing_endpoint != NULL && o->billing_endpoint[0] ? o->billing_endpoint
                                                                                   : DEFAULT_BILLING) != 0 ||
      copy_str(&g->prefix, o->name_prefix && o->name_prefix[0] ? o->name_prefix : NULL) != 0 ||
      copy_str(&g->ca_file, o->ca_file) != 0 ||
      copy_str(&g->project, o->project && o->project[0] ? o->project : NULL) != 0 ||
      stv_cloud_caller_new(&g->caller, g->http, clock, NULL, 0, err) != 0)
    return open_fail(g, stv_err_set(err, STV_ENOMEM, "out of memory"));
  if ((rc = endpoint(g->compute, "gcp.computeEndpoint", err)) != 0 ||
      (rc = endpoint(g->billing, "gcp.billingEndpoint", err)) != 0)
    return open_fail(g, rc);
  if ((rc = stv__gcp_token_open(g, o, err)) != 0) return open_fail(g, rc);
  if ((rc = stv__gcp_poll_start(g)) != 0)
    return open_fail(g, stv_err_set(err, rc, "cannot start the poll timer"));
  *out = &g->cloud;
  return 0;
}
