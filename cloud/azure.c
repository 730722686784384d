/*
 * The `azure` provider: cloud/cloud.h over Azure Resource Manager's
 * Microsoft.Compute virtual machine scale sets (azure.h; docs/cloud-azure.md).
 *
 * Every operation is a job: it starts from a zero-delay timer (so that no
 * callback runs inside the call that started it), asks the token cache for
 * a token, sends its requests through the shared cloud caller (timeouts,
 * retries on 429 and 5xx with Retry-After), follows nextLink pages and
 * polls long-running operations through Azure-AsyncOperation, then answers
 * once. A 401 for an expired or revoked token drops the cached token and
 * sends the request once more with a fresh one.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure.h"
#include "azure_internal.h"
#include "log.h"

#define DEFAULT_ENDPOINT  "https://management.azure.com"
#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define DEFAULT_IMDS      "http://169.254.169.254"
#define DEFAULT_API       "2023-09-01"
#define DEFAULT_PRICES    "https://prices.azure.com"
#define MAX_PAGES         1000
#define TAG_ENABLED       "k8s.io_cluster-autoscaler_enabled"
#define TAG_CLUSTER       "k8s.io_cluster-autoscaler_"
#define TAG_POOL          "k8s.io_cluster-autoscaler_node-template_label_stevedore.io_node-pool"

struct az_group {
  char *id, *name, *sub, *rg, *pool, *location, *sku;
  struct stv_cloud_offering *off;
  size_t noff;
  int64_t min, max, desired;
};

struct known {
  char *pid, *group;
  enum stv_cloud_instance_state state;
  int failed;
};

struct az;

enum job_kind { J_GROUPS, J_INSTANCES, J_SET, J_DELETE, J_WATCH, J_CLEANUP };

struct job {
  struct az *az;
  struct job *prev, *next;
  enum job_kind kind;
  union {
    stv_cloud_groups_cb groups;
    stv_cloud_instances_cb instances;
    stv_cloud_done_cb done;
  } cb;
  void *ctx;
  char what[200];
  /* The request in flight. */
  char *method, *url, *body;
  int auth_retried, pages;
  void (*on_reply)(struct job *j, const struct stv_cloud_reply *r);
  char async_url[2048];
  struct stv_timer timer;
  /* Listing groups, then (J_INSTANCES, J_WATCH) instances. */
  struct az_group *groups;
  size_t ngroups, gcap, gi;
  struct stv_arena mem;
  struct stv_cloud_instance *inst;
  int *failed; /* per instance: provisioningState Failed or Canceled */
  size_t ninst, icap;
  /* Operations. */
  char *group_id;
  int64_t desired, ndelete;
  double deadline;
};

struct az {
  struct stv_cloud pub;
  struct stv_http *http; /* borrowed */
  struct stv_cloud_caller *caller;
  struct stv__az_prices *prices; /* the Retail Prices API reader (azure_prices.c) */
  struct stv__az_tokens *tokens;
  enum stv__az_cred cred;
  char *endpoint, *sub, *rg, *cluster, *api, *ca_file;
  double poll_interval, lro_timeout, watch_interval;
  long timeout_ms;
  struct az_group *groups; /* the last listing */
  size_t ngroups;
  struct known *known; /* the last instances seen, for events */
  size_t nknown;
  int have_known;
  struct job *jobs;
  struct stv_timer watch;
  int watching;
};

static void start_request(struct job *j);
static void finish(struct job *j, int code, const char *msg, double retry_after);

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

/* snprintf for messages that may be cut short (the compiler is told that is intended). */
static void say(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *dst, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(dst, size, fmt, ap);
  va_end(ap);
}

static double now(struct az *az) {
  return stv_clock_now(az->pub.clock);
}

static int prefix_ci(const char *s, const char *prefix) {
  return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static void group_free(struct az_group *g) {
  size_t i;
  for (i = 0; i < g->noff; i++) {
    stv_free((char *)g->off[i].instance_type);
    stv_free((char *)g->off[i].zone);
  }
  stv_free(g->off);
  stv_free(g->id);
  stv_free(g->name);
  stv_free(g->sub);
  stv_free(g->rg);
  stv_free(g->pool);
  stv_free(g->location);
  stv_free(g->sku);
  memset(g, 0, sizeof(*g));
}

static void groups_free(struct az_group *v, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) group_free(&v[i]);
  stv_free(v);
}

/*
 * Splits an ARM id "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/NAME"
 * (segment names in any case, as ARM takes them) into its parts (buffers of size bytes). tail, when not NULL,
 * receives what follows NAME ("" or "/virtualMachines/3"). Returns 0 or STV_EINVAL.
 */
static int split_id(const char *id, char *sub, char *rg, char *name, size_t size, const char **tail) {
  static const char *const keys[] = {"subscriptions", "resourceGroups", "providers",
                                     "virtualMachineScaleSets"};
  char *outs[] = {sub, rg, NULL, name};
  const char *p = id;
  size_t k;
  for (k = 0; k < 4; k++) {
    size_t n;
    if (*p != '/' || !prefix_ci(p + 1, keys[k]) || p[1 + strlen(keys[k])] != '/') return STV_EINVAL;
    p += 2 + strlen(keys[k]);
    if (k == 2) { /* providers/Microsoft.Compute */
      if (!prefix_ci(p, "Microsoft.Compute")) return STV_EINVAL;
      p += strlen("Microsoft.Compute");
      continue;
    }
    n = strcspn(p, "/");
    if (n == 0 || n >= size) return STV_EINVAL;
    memcpy(outs[k], p, n);
    outs[k][n] = '\0';
    p += n;
  }
  if (tail != NULL)
    *tail = p;
  else if (*p != '\0')
    return STV_EINVAL;
  return 0;
}

static void lower(char *s) {
  for (; *s != '\0'; s++)
    if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

/* ---------------------------------------------------------------------- */
/* Jobs                                                                   */

static struct job *job_new(struct az *az, enum job_kind kind, void *ctx) {
  struct job *j = stv_calloc(1, sizeof(*j));
  if (j == NULL) return NULL;
  j->az = az;
  j->kind = kind;
  j->ctx = ctx;
  stv_arena_init(&j->mem);
  j->next = az->jobs;
  if (az->jobs != NULL) az->jobs->prev = j;
  az->jobs = j;
  return j;
}

static void job_free(struct job *j) {
  struct az *az = j->az;
  if (j->prev != NULL)
    j->prev->next = j->next;
  else
    az->jobs = j->next;
  if (j->next != NULL) j->next->prev = j->prev;
  stv_clock_stop(az->pub.clock, &j->timer);
  stv__az_token_cancel(az->tokens, j);
  groups_free(j->groups, j->ngroups);
  stv_arena_reset(&j->mem);
  stv_free(j->inst);
  stv_free(j->failed);
  stv_free(j->method);
  stv_free(j->url);
  stv_free(j->body);
  stv_free(j->group_id);
  stv_free(j);
}

/* Sets the next request of j (copies) and sends it. */
static void request(struct job *j, const char *method, const char *url, const char *body,
                    void (*on_reply)(struct job *, const struct stv_cloud_reply *)) {
  char *m = stv_strdup(method), *u = stv_strdup(url), *b = body != NULL ? stv_strdup(body) : NULL;
  stv_free(j->method);
  stv_free(j->url);
  stv_free(j->body);
  j->method = m;
  j->url = u;
  j->body = b;
  j->on_reply = on_reply;
  j->auth_retried = 0;
  j->async_url[0] = '\0';
  if (m == NULL || u == NULL || (body != NULL && b == NULL)) {
    finish(j, STV_ENOMEM, "out of memory", 0);
    return;
  }
  start_request(j);
}

static void on_header(void *ctx, const char *line, size_t len) {
  struct job *j = ctx;
  static const char name[] = "azure-asyncoperation:";
  size_t n = sizeof(name) - 1;
  if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) j->async_url[0] = '\0'; /* a new attempt */
  if (len > n && strncasecmp(line, name, n) == 0) {
    line += n;
    len -= n;
    while (len > 0 && (*line == ' ' || *line == '\t')) line++, len--;
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\r' || line[len - 1] == '\n')) len--;
    if (len < sizeof(j->async_url)) {
      memcpy(j->async_url, line, len);
      j->async_url[len] = '\0';
    }
  }
}

static void reply_cb(void *ctx, const struct stv_cloud_reply *r) {
  struct job *j = ctx;
  char code[96], msg[320];
  if (r->code == 0 && r->status == 401 && !j->auth_retried) {
    /* Expired or revoked (ExpiredAuthenticationToken, InvalidAuthenticationToken): a fresh token, once. */
    (void)stv__az_read_error(r->body, r->len, code, sizeof(code), msg, sizeof(msg));
    stv_log(STV_LOG_INFO, "azure token refused; fetching a new one", STV_LOG_STR("call", j->what),
            STV_LOG_STR("code", code));
    stv__az_token_drop(j->az->tokens);
    j->auth_retried = 1;
    start_request(j);
    return;
  }
  j->on_reply(j, r);
}

static void token_cb(void *ctx, const char *token, int code, const char *msg) {
  struct job *j = ctx;
  struct az *az = j->az;
  struct stv_cloud_call_opts o;
  struct stv_err err = {0, ""};
  char auth[16500];
  const char *headers[] = {auth, "Content-Type: application/json", "Accept: application/json", NULL};
  if (token == NULL) {
    finish(j, code != 0 ? code : STV_EIO, msg, 0);
    return;
  }
  if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) >= sizeof(auth)) {
    finish(j, STV_EINVAL, "the access token is too long", 0);
    return;
  }
  memset(&o, 0, sizeof(o));
  o.what = j->what;
  o.url = j->url;
  o.method = j->method;
  o.body = j->body;
  o.body_len = j->body != NULL ? strlen(j->body) : 0;
  o.headers = headers;
  o.tls.ca_file = az->ca_file;
  o.timeout_ms = az->timeout_ms;
  o.max_body = 32u << 20;
  o.on_header = on_header;
  if (stv_cloud_call(az->caller, &o, reply_cb, j, &err) != 0) finish(j, err.code, err.msg, 0);
  memset(auth, 0, sizeof(auth));
}

static void start_request(struct job *j) {
  if (stv__az_token_get(j->az->tokens, token_cb, j) != 0) finish(j, STV_ENOMEM, "out of memory", 0);
}

/* The code and message of a reply that is not a success: the transport's, or ARM's error document. */
static int reply_error(struct job *j, const struct stv_cloud_reply *r, char *msg, size_t size) {
  char code[96], text[320];
  if (r->code != 0) {
    snprintf(msg, size, "%s", r->error);
    return r->code;
  }
  if (stv__az_read_error(r->body, r->len, code, sizeof(code), text, sizeof(text)) != 0) {
    snprintf(msg, size, "%s: HTTP %ld without an ARM error document", j->what, r->status);
    return stv__az_code(r->status, "", NULL);
  }
  say(msg, size, "%s: HTTP %ld %s: %s", j->what, r->status, code, text);
  return stv__az_code(r->status, code, text);
}

/* Reads the list page of a reply into p (vms: virtual machines, else scale sets); else finishes j and returns -1. */
static int page_of(struct job *j, const struct stv_cloud_reply *r, int vms, struct stv__az_page *p) {
  struct stv_err err = {0, ""};
  char msg[STV_ERR_MSG_MAX];
  int rc;
  if (r->code != 0 || r->status != 200) {
    rc = reply_error(j, r, msg, sizeof(msg));
    finish(j, rc, msg, r->retry_after);
    return -1;
  }
  if ((rc = stv__az_read_page(p, vms, j->what, r->body, r->len, &err)) != 0) {
    stv__az_page_free(p);
    finish(j, rc, err.msg, 0);
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Groups                                                                 */

static int parse_int_tag(const struct stv__az_vmss *s, const char *key, int64_t dflt, int64_t *out) {
  const char *v = stv__az_tag(s, key);
  char *end;
  long long x;
  *out = dflt;
  if (v == NULL) return 0;
  x = strtoll(v, &end, 10);
  if (end == v || *end != '\0' || x < 0 || x > 1000000) return STV_EINVAL;
  *out = x;
  return 0;
}

static int managed(const struct az *az, const struct stv__az_vmss *s) {
  const char *en = stv__az_tag(s, TAG_ENABLED);
  char key[300];
  if (en == NULL || strcasecmp(en, "true") != 0) return 0;
  if (az->cluster == NULL) return 1;
  snprintf(key, sizeof(key), "%s%s", TAG_CLUSTER, az->cluster);
  return stv__az_tag(s, key) != NULL;
}

static int add_offer(struct az_group *g, const char *type, const char *zone, int spot) {
  struct stv_cloud_offering *o = &g->off[g->noff];
  o->instance_type = stv_strdup(type);
  o->zone = stv_strdup(zone);
  o->capacity_type = spot ? STV_CT_SPOT : STV_CT_ON_DEMAND;
  g->noff++;
  return o->instance_type == NULL || o->zone == NULL ? STV_ENOMEM : 0;
}

/* Builds g from a managed scale set; STV_EINVAL (logged) when its tags or id are wrong. */
static int make_group(struct az_group *g, const struct stv__az_vmss *s) {
  char sub[128], rg[128], name[128], zone[160];
  const char *pool = stv__az_tag(s, TAG_POOL);
  size_t i;
  if (split_id(s->id, sub, rg, name, sizeof(sub), NULL) != 0) {
    stv_log(STV_LOG_WARN, "azure scale set not managed: its id is not a scale set resource id",
            STV_LOG_STR("scale_set", s->name), STV_LOG_STR("id", s->id));
    return STV_EINVAL;
  }
  if (parse_int_tag(s, "min", 0, &g->min) != 0 || parse_int_tag(s, "max", 1000, &g->max) != 0 ||
      g->min > g->max) {
    stv_log(STV_LOG_WARN, "azure scale set not managed: tags min and max must be whole numbers, min <= max",
            STV_LOG_STR("scale_set", s->id));
    return STV_EINVAL;
  }
  g->desired = s->capacity;
  if ((g->id = stv_strdup(s->id)) == NULL || (g->name = stv_strdup(name)) == NULL ||
      (g->sub = stv_strdup(sub)) == NULL || (g->rg = stv_strdup(rg)) == NULL ||
      (g->location = stv_strdup(s->location)) == NULL || (g->sku = stv_strdup(s->sku)) == NULL ||
      (pool != NULL && (g->pool = stv_strdup(pool)) == NULL) ||
      (g->off = stv_calloc(s->nzones + 1, sizeof(*g->off))) == NULL)
    return STV_ENOMEM;
  for (i = 0; i < s->nzones; i++) {
    snprintf(zone, sizeof(zone), "%s-%s", s->location, s->zones[i]);
    if (add_offer(g, s->sku, zone, s->spot) != 0) return STV_ENOMEM;
  }
  if (s->nzones == 0 && add_offer(g, s->sku, "0", s->spot) != 0) return STV_ENOMEM;
  return 0;
}

static void list_url(struct az *az, char *buf, size_t size) {
  if (az->rg != NULL)
    snprintf(buf, size,
             "%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets"
             "?api-version=%s",
             az->endpoint, az->sub, az->rg, az->api);
  else
    snprintf(buf, size,
             "%s/subscriptions/%s/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=%s",
             az->endpoint, az->sub, az->api);
}

/* Follows a nextLink: only to the resource manager endpoint, where the token may go. */
static int next_page(struct job *j, const char *link,
                     void (*on_reply)(struct job *, const struct stv_cloud_reply *)) {
  char msg[400];
  if (link == NULL) return 0;
  if (!prefix_ci(link, j->az->endpoint) || ++j->pages > MAX_PAGES) {
    snprintf(msg, sizeof(msg), "%s: nextLink %.120s: %s", j->what, link,
             j->pages > MAX_PAGES ? "over 1000 pages"
                                  : "not on the resource manager endpoint: the token is not sent there");
    finish(j, STV_EPARSE, msg, 0);
    return -1;
  }
  request(j, "GET", link, NULL, on_reply);
  return 1;
}

static void instances_next_group(struct job *j);

static void groups_done(struct job *j) {
  struct az *az = j->az;
  if (j->kind == J_GROUPS) {
    groups_free(az->groups, az->ngroups);
    az->groups = j->groups;
    az->ngroups = j->ngroups;
    j->groups = NULL;
    j->ngroups = 0;
    finish(j, 0, "", 0);
    return;
  }
  /* Listing instances: the job walks its own listing (a concurrent one may replace the provider's). */
  j->gi = 0;
  instances_next_group(j);
}

static void groups_reply(struct job *j, const struct stv_cloud_reply *r) {
  struct az *az = j->az;
  struct stv__az_page p;
  size_t i;
  int rc;
  if (page_of(j, r, 0, &p) != 0) return;
  for (i = 0; i < p.n; i++) {
    struct az_group g;
    if (!managed(az, &p.sets[i])) continue;
    memset(&g, 0, sizeof(g));
    if ((rc = make_group(&g, &p.sets[i])) != 0 ||
        (rc = stv_grow((void **)&j->groups, &j->gcap, j->ngroups + 1, sizeof(*j->groups))) != 0) {
      group_free(&g);
      if (rc == STV_EINVAL) continue; /* logged by make_group */
      stv__az_page_free(&p);
      finish(j, STV_ENOMEM, "out of memory", 0);
      return;
    }
    j->groups[j->ngroups++] = g;
  }
  rc = next_page(j, p.next_link, groups_reply);
  stv__az_page_free(&p);
  if (rc == 0) groups_done(j);
}

static void start_groups(struct job *j) {
  char url[1024];
  list_url(j->az, url, sizeof(url));
  request(j, "GET", url, NULL, groups_reply);
}

/* ---------------------------------------------------------------------- */
/* Instances                                                              */

static enum stv_cloud_instance_state vm_state(const char *s, int *failed) {
  *failed = strcasecmp(s, "Failed") == 0 || strcasecmp(s, "Canceled") == 0;
  if (strcasecmp(s, "Succeeded") == 0) return STV_INSTANCE_RUNNING;
  if (strcasecmp(s, "Deleting") == 0 || *failed) return STV_INSTANCE_TERMINATING;
  return STV_INSTANCE_PENDING; /* Creating, Updating, Migrating, Starting */
}

static const char *arena_printf(struct stv_arena *a, const char *fmt, const char *a1, const char *a2,
                                const char *a3, const char *a4) {
  int n = snprintf(NULL, 0, fmt, a1, a2, a3, a4);
  char *s = n >= 0 ? stv_arena_alloc(a, (size_t)n + 1) : NULL;
  if (s != NULL) snprintf(s, (size_t)n + 1, fmt, a1, a2, a3, a4);
  return s;
}

static int add_instance(struct job *j, const struct az_group *g, const struct stv__az_vm *v) {
  struct stv_cloud_instance *in;
  char rg[128];
  int failed;
  if (stv_grow((void **)&j->inst, &j->icap, j->ninst + 1, sizeof(*j->inst)) != 0) return STV_ENOMEM;
  if ((j->failed = stv_realloc(j->failed, j->icap * sizeof(*j->failed))) == NULL) return STV_ENOMEM;
  in = &j->inst[j->ninst];
  memset(in, 0, sizeof(*in));
  snprintf(rg, sizeof(rg), "%s", g->rg);
  lower(rg); /* as AKS writes it in spec.providerID */
  in->provider_id = arena_printf(&j->mem,
                                 "azure:///subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                                 "virtualMachineScaleSets/%s/virtualMachines/%s",
                                 g->sub, rg, g->name, v->instance_id);
  /* The zone as AKS labels the node: LOCATION-ZONE, or "0" in a regional scale set. */
  in->zone = v->zone != NULL ? arena_printf(&j->mem, "%s-%s%s%s", g->location, v->zone, "", "")
                             : arena_printf(&j->mem, "0%s%s%s%s", "", "", "", "");
  if (in->provider_id == NULL || in->zone == NULL) return STV_ENOMEM;
  in->group_id = g->id;
  in->instance_type = g->sku;
  in->capacity_type = g->noff > 0 ? g->off[0].capacity_type : STV_CT_ON_DEMAND;
  in->state = vm_state(v->state, &failed);
  in->launch_time = now(j->az);
  j->failed[j->ninst] = failed;
  j->ninst++;
  return 0;
}

static void vms_reply(struct job *j, const struct stv_cloud_reply *r) {
  struct stv__az_page p;
  const struct az_group *g = &j->groups[j->gi];
  size_t i;
  int rc;
  if (page_of(j, r, 1, &p) != 0) return;
  for (i = 0; i < p.n; i++) {
    if (add_instance(j, g, &p.vms[i]) != 0) {
      stv__az_page_free(&p);
      finish(j, STV_ENOMEM, "out of memory", 0);
      return;
    }
  }
  rc = next_page(j, p.next_link, vms_reply);
  stv__az_page_free(&p);
  if (rc == 0) {
    j->gi++;
    instances_next_group(j);
  }
}

static void instances_next_group(struct job *j) {
  struct az *az = j->az;
  char url[1200];
  if (j->gi >= j->ngroups) {
    finish(j, 0, "", 0);
    return;
  }
  snprintf(j->what, sizeof(j->what), "azure list virtual machines of %s", j->groups[j->gi].name);
  j->pages = 0;
  snprintf(url, sizeof(url), "%s%s/virtualMachines?api-version=%s", az->endpoint, j->groups[j->gi].id,
           az->api);
  request(j, "GET", url, NULL, vms_reply);
}

static void known_free(struct az *az) {
  size_t i;
  for (i = 0; i < az->nknown; i++) {
    stv_free(az->known[i].pid);
    stv_free(az->known[i].group);
  }
  stv_free(az->known);
  az->known = NULL;
  az->nknown = 0;
}

static const struct known *find_known(const struct az *az, const char *pid) {
  size_t i;
  for (i = 0; i < az->nknown; i++)
    if (strcmp(az->known[i].pid, pid) == 0) return &az->known[i];
  return NULL;
}

static void emit(struct az *az, enum stv_cloud_event_kind kind, const struct stv_cloud_instance *in, int code,
                 const char *msg) {
  struct stv_cloud_event ev;
  if (az->pub.on_event == NULL) return;
  memset(&ev, 0, sizeof(ev));
  ev.kind = kind;
  ev.instance = in;
  ev.code = code;
  ev.message = msg;
  az->pub.on_event(az->pub.event_ctx, &ev);
}

static void cleanup_failed(struct az *az, const struct stv_cloud_instance *in);

/* Compares a listing with the last: events for what changed (not on the first listing), then keeps it. */
static void observe(struct job *j) {
  struct az *az = j->az;
  struct known *next = stv_calloc(j->ninst + 1, sizeof(*next));
  size_t i, k;
  if (next == NULL) return;
  for (i = 0; i < j->ninst; i++) {
    const struct stv_cloud_instance *in = &j->inst[i];
    const struct known *was = find_known(az, in->provider_id);
    next[i].pid = stv_strdup(in->provider_id);
    next[i].group = stv_strdup(in->group_id);
    next[i].state = in->state;
    next[i].failed = j->failed[i];
    if (j->failed[i] && (was == NULL || !was->failed)) {
      emit(az, STV_CLOUD_EV_LAUNCH_FAILED, in, STV_ECAPACITY,
           "the virtual machine's provisioningState is Failed: it is deleted and the scale set's capacity "
           "lowered");
      cleanup_failed(az, in);
    } else if (az->have_known && in->state == STV_INSTANCE_RUNNING &&
               (was == NULL || was->state != in->state)) {
      emit(az, STV_CLOUD_EV_RUNNING, in, 0, "");
    }
  }
  for (k = 0; az->have_known && k < az->nknown; k++) {
    struct stv_cloud_instance gone;
    for (i = 0; i < j->ninst; i++)
      if (strcmp(j->inst[i].provider_id, az->known[k].pid) == 0) break;
    if (i < j->ninst) continue;
    memset(&gone, 0, sizeof(gone));
    gone.provider_id = az->known[k].pid;
    gone.group_id = az->known[k].group;
    gone.state = STV_INSTANCE_TERMINATING;
    emit(az, STV_CLOUD_EV_TERMINATED, &gone, 0, "");
  }
  known_free(az);
  az->known = next;
  az->nknown = j->ninst;
  az->have_known = 1;
}

/* ---------------------------------------------------------------------- */
/* Long-running operations                                                */

static void op_poll_cb(struct stv_timer *t);

static void op_schedule(struct job *j, double retry_after) {
  double delay = retry_after > 0 ? retry_after : j->az->poll_interval;
  if (delay > 60) delay = 60;
  if (now(j->az) + delay > j->deadline) {
    char msg[300];
    snprintf(msg, sizeof(msg), "%s: the operation did not end within %.0f s", j->what, j->az->lro_timeout);
    finish(j, STV_ETIMEDOUT, msg, 0);
    return;
  }
  if (stv_clock_start(j->az->pub.clock, &j->timer, delay, op_poll_cb, j) != 0)
    finish(j, STV_ENOMEM, "out of memory", 0);
}

static void op_reply(struct job *j, const struct stv_cloud_reply *r) {
  struct stv__az_op op;
  struct stv_err err = {0, ""};
  char msg[STV_ERR_MSG_MAX];
  int rc;
  if (r->code != 0 || r->status != 200) {
    rc = reply_error(j, r, msg, sizeof(msg));
    finish(j, rc, msg, r->retry_after);
    return;
  }
  if ((rc = stv__az_read_operation(&op, j->what, r->body, r->len, &err)) != 0) {
    finish(j, rc, err.msg, 0);
    return;
  }
  if (strcasecmp(op.status, "Succeeded") == 0) {
    finish(j, 0, "", 0);
  } else if (strcasecmp(op.status, "Failed") == 0 || strcasecmp(op.status, "Canceled") == 0) {
    say(msg, sizeof(msg), "%s: the operation %s: %s: %s", j->what, op.status,
        op.code[0] ? op.code : "no code", op.message);
    rc = op.code[0] != '\0' ? stv__az_code(200, op.code, op.message) : STV_EIO;
    finish(j, rc == STV_EINVAL || rc == 0 ? STV_EIO : rc, msg, 0);
  } else {
    op_schedule(j, r->retry_after);
  }
}

static void op_poll_cb(struct stv_timer *t) {
  struct job *j = t->data;
  request(j, "GET", j->async_url, NULL, op_reply);
}

/* The answer to a PATCH or POST that starts an operation: poll it to its end. */
static void started_reply(struct job *j, const struct stv_cloud_reply *r) {
  char msg[STV_ERR_MSG_MAX];
  int rc;
  if (r->code != 0 || (r->status != 200 && r->status != 201 && r->status != 202)) {
    rc = reply_error(j, r, msg, sizeof(msg));
    finish(j, rc, msg, r->retry_after);
    return;
  }
  if (j->async_url[0] == '\0') {
    if (r->status == 200) {
      finish(j, 0, "", 0); /* done at once */
      return;
    }
    snprintf(msg, sizeof(msg), "%s: HTTP %ld without an Azure-AsyncOperation header to follow", j->what,
             r->status);
    finish(j, STV_EIO, msg, 0);
    return;
  }
  if (!prefix_ci(j->async_url, j->az->endpoint)) {
    snprintf(msg, sizeof(msg),
             "%s: Azure-AsyncOperation %.120s is not on the resource manager endpoint: the token "
             "is not sent there",
             j->what, j->async_url);
    finish(j, STV_EIO, msg, 0);
    return;
  }
  j->deadline = now(j->az) + j->az->lro_timeout;
  op_schedule(j, r->retry_after);
}

/* ---------------------------------------------------------------------- */
/* Finishing                                                              */

static struct az_group *find_group(struct az *az, const char *id) {
  size_t i;
  for (i = 0; i < az->ngroups; i++)
    if (strcmp(az->groups[i].id, id) == 0) return &az->groups[i];
  return NULL;
}

/*
 * The failed virtual machines of a scale set still being deleted: the
 * capacity counts them until their deletion ends, but they will never
 * become nodes, so the desired size reported leaves them out (else a
 * listing between the failure and the end of the deletion would bring a
 * node that will not come back in flight).
 */
static int64_t cleanups_of(const struct az *az, const char *group_id) {
  const struct job *j;
  int64_t n = 0;
  for (j = az->jobs; j != NULL; j = j->next)
    if (j->kind == J_CLEANUP && j->group_id != NULL && strcmp(j->group_id, group_id) == 0) n += j->ndelete;
  return n;
}

static void finish(struct job *j, int code, const char *msg, double retry_after) {
  struct az *az = j->az;
  struct stv_cloud_result r;
  struct stv_cloud_group *pub = NULL;
  struct az_group *g;
  size_t i;
  r.code = code;
  r.message = msg != NULL ? msg : "";
  r.retry_after = code == STV_ETHROTTLED ? retry_after : 0;
  if (code != 0)
    stv_log(code == STV_ECAPACITY || code == STV_ETHROTTLED ? STV_LOG_WARN : STV_LOG_ERROR,
            "azure call failed", STV_LOG_STR("call", j->what), STV_LOG_STR("code", stv_err_name(code)),
            STV_LOG_STR("error", r.message));
  switch (j->kind) {
  case J_GROUPS:
    if (code == 0 && (pub = stv_calloc(az->ngroups + 1, sizeof(*pub))) == NULL) {
      r.code = STV_ENOMEM;
      r.message = "out of memory";
    }
    for (i = 0; pub != NULL && i < az->ngroups; i++) {
      g = &az->groups[i];
      pub[i] = (struct stv_cloud_group){
          g->id, g->pool, g->off, g->noff, g->min, g->max, g->desired - cleanups_of(az, g->id)};
      if (pub[i].desired < 0) pub[i].desired = 0;
    }
    j->cb.groups(j->ctx, &r, pub, pub != NULL ? az->ngroups : 0);
    stv_free(pub);
    break;
  case J_INSTANCES:
  case J_WATCH:
    if (code == 0) observe(j);
    if (j->kind == J_INSTANCES)
      j->cb.instances(j->ctx, &r, code == 0 ? j->inst : NULL, code == 0 ? j->ninst : 0);
    break;
  case J_SET:
  case J_DELETE:
    if (code == 0 && (g = find_group(az, j->group_id)) != NULL)
      g->desired = j->kind == J_SET ? j->desired : g->desired - j->ndelete;
    j->cb.done(j->ctx, &r);
    break;
  case J_CLEANUP:
    break;
  }
  job_free(j);
}

/* ---------------------------------------------------------------------- */
/* The operations                                                         */

static void begin_cb(struct stv_timer *t) {
  struct job *j = t->data;
  struct az *az = j->az;
  char url[1400];
  switch (j->kind) {
  case J_GROUPS:
  case J_INSTANCES:
  case J_WATCH:
    snprintf(j->what, sizeof(j->what), "azure list scale sets of %s", az->rg != NULL ? az->rg : az->sub);
    start_groups(j);
    return;
  case J_SET:
    snprintf(url, sizeof(url), "%s%s?api-version=%s", az->endpoint, j->group_id, az->api);
    request(j, "PATCH", url, j->body, started_reply);
    return;
  case J_DELETE:
  case J_CLEANUP:
    snprintf(url, sizeof(url), "%s%s/delete?api-version=%s", az->endpoint, j->group_id, az->api);
    request(j, "POST", url, j->body, started_reply);
    return;
  }
}

static int begin(struct job *j) {
  int rc = stv_clock_start(j->az->pub.clock, &j->timer, 0, begin_cb, j);
  if (rc != 0) job_free(j);
  return rc;
}

static int az_list_groups(struct stv_cloud *c, stv_cloud_groups_cb cb, void *ctx) {
  struct job *j = job_new(c->impl, J_GROUPS, ctx);
  if (j == NULL) return STV_ENOMEM;
  j->cb.groups = cb;
  return begin(j);
}

static int az_list_instances(struct stv_cloud *c, stv_cloud_instances_cb cb, void *ctx) {
  struct job *j = job_new(c->impl, J_INSTANCES, ctx);
  if (j == NULL) return STV_ENOMEM;
  j->cb.instances = cb;
  return begin(j);
}

static int az_set_desired(struct stv_cloud *c, const char *group_id, int64_t desired, stv_cloud_done_cb cb,
                          void *ctx) {
  struct az *az = c->impl;
  struct az_group *g = find_group(az, group_id);
  struct job *j;
  char body[64];
  if (g == NULL) return STV_ENOTFOUND;
  if (desired < g->min || desired > g->max) return STV_EINVAL;
  if ((j = job_new(az, J_SET, ctx)) == NULL) return STV_ENOMEM;
  j->cb.done = cb;
  j->desired = desired;
  snprintf(body, sizeof(body), "{\"sku\":{\"capacity\":%" PRId64 "}}", desired);
  snprintf(j->what, sizeof(j->what), "azure set capacity of %s to %" PRId64, g->name, desired);
  if ((j->group_id = stv_strdup(group_id)) == NULL || (j->body = stv_strdup(body)) == NULL) {
    job_free(j);
    return STV_ENOMEM;
  }
  return begin(j);
}

/* The instance id of pid when it names a virtual machine of g, else NULL. */
static const char *instance_of(const struct az_group *g, const char *pid) {
  char sub[128], rg[128], name[128];
  const char *tail;
  if (strncmp(pid, "azure://", 8) != 0 || split_id(pid + 8, sub, rg, name, sizeof(sub), &tail) != 0)
    return NULL;
  if (strcasecmp(sub, g->sub) != 0 || strcasecmp(rg, g->rg) != 0 || strcasecmp(name, g->name) != 0)
    return NULL;
  if (!prefix_ci(tail, "/virtualMachines/")) return NULL;
  tail += strlen("/virtualMachines/");
  return *tail != '\0' && strlen(tail) <= 20 && strspn(tail, "0123456789") == strlen(tail) ? tail : NULL;
}

static int delete_job(struct az *az, enum job_kind kind, const struct az_group *g, const char *const *pids,
                      size_t n, struct job **out) {
  struct stv_buf b;
  struct job *j;
  size_t i;
  *out = NULL;
  for (i = 0; i < n; i++)
    if (instance_of(g, pids[i]) == NULL) return STV_ENOTFOUND;
  stv_buf_init(&b);
  stv_buf_puts(&b, "{\"instanceIds\":[");
  for (i = 0; i < n; i++) stv_buf_printf(&b, "%s\"%s\"", i ? "," : "", instance_of(g, pids[i]));
  stv_buf_puts(&b, "]}");
  if (b.err != 0 || (j = job_new(az, kind, NULL)) == NULL) {
    stv_buf_close(&b);
    return STV_ENOMEM;
  }
  j->body = b.data; /* taken */
  j->ndelete = (int64_t)n;
  snprintf(j->what, sizeof(j->what), "azure delete %zu virtual machine%s of %s", n, n == 1 ? "" : "s",
           g->name);
  if ((j->group_id = stv_strdup(g->id)) == NULL) {
    job_free(j);
    return STV_ENOMEM;
  }
  *out = j;
  return 0;
}

static int az_delete_instances(struct stv_cloud *c, const char *group_id, const char *const *pids, size_t n,
                               stv_cloud_done_cb cb, void *ctx) {
  struct az *az = c->impl;
  struct az_group *g = find_group(az, group_id);
  struct job *j;
  int rc;
  if (g == NULL) return STV_ENOTFOUND;
  if (n == 0) return STV_EINVAL;
  if ((rc = delete_job(az, J_DELETE, g, pids, n, &j)) != 0) return rc;
  j->cb.done = cb;
  j->ctx = ctx;
  return begin(j);
}

/* A virtual machine that failed to provision never becomes a node: delete it, lowering the capacity. */
static void cleanup_failed(struct az *az, const struct stv_cloud_instance *in) {
  struct az_group *g = find_group(az, in->group_id);
  struct job *j;
  const char *pids[1] = {in->provider_id};
  if (g == NULL || delete_job(az, J_CLEANUP, g, pids, 1, &j) != 0 || begin(j) != 0)
    stv_log(STV_LOG_ERROR, "azure: cannot start deleting a failed virtual machine",
            STV_LOG_STR("instance", in->provider_id));
}

static void watch_cb(struct stv_timer *t) {
  struct az *az = t->data;
  struct job *j;
  if (stv_clock_start(az->pub.clock, &az->watch, az->watch_interval, watch_cb, az) != 0) az->watching = 0;
  if (az->ngroups == 0 && !az->have_known) return; /* nothing listed yet */
  if ((j = job_new(az, J_WATCH, NULL)) != NULL) (void)begin(j);
}

static void az_close(struct stv_cloud *c) {
  struct az *az = c->impl;
  stv_clock_stop(c->clock, &az->watch);
  stv_cloud_caller_free(az->caller); /* abandons every call: no reply runs after */
  stv__az_prices_free(az->prices);
  while (az->jobs != NULL) job_free(az->jobs);
  stv__az_tokens_free(az->tokens);
  groups_free(az->groups, az->ngroups);
  known_free(az);
  stv_free(az->endpoint);
  stv_free(az->sub);
  stv_free(az->rg);
  stv_free(az->cluster);
  stv_free(az->api);
  stv_free(az->ca_file);
  stv_free(az);
}

static int az_fetch_prices(struct stv_cloud *c, const struct stv_catalog *base, stv_cloud_prices_cb cb, void *ctx) {
  return stv__az_prices_fetch(((struct az *)c->impl)->prices, base, cb, ctx);
}

static const struct stv_cloud_ops az_ops = {
    .name = "azure",
    .list_groups = az_list_groups,
    .list_instances = az_list_instances,
    .set_desired = az_set_desired,
    .delete_instances = az_delete_instances,
    .fetch_prices = az_fetch_prices,
    .close = az_close,
};

/* ---------------------------------------------------------------------- */
/* Opening                                                                */

static const char *pick(const char *v, const char *env, const char *dflt) {
  const char *e = env != NULL ? getenv(env) : NULL;
  if (v != NULL && *v != '\0') return v;
  if (e != NULL && *e != '\0') return e;
  return dflt;
}

static char *dup_url(const char *s) {
  char *d = stv_strdup(s);
  size_t n;
  if (d == NULL) return NULL;
  n = strlen(d);
  while (n > 0 && d[n - 1] == '/') d[--n] = '\0';
  return d;
}

/* Which credential, from what is set, in the Azure SDKs' order: client secret, workload identity, managed identity. */
static int credentials(const struct stv_azure_config *cfg, struct stv__az_token_config *tc,
                       struct stv_err *err) {
  tc->tenant_id = pick(cfg->tenant_id, "AZURE_TENANT_ID", NULL);
  tc->client_id = pick(cfg->client_id, "AZURE_CLIENT_ID", NULL);
  tc->client_secret = pick(cfg->client_secret, "AZURE_CLIENT_SECRET", NULL);
  tc->federated_token_file = pick(cfg->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE", NULL);
  tc->authority_host = pick(cfg->authority_host, "AZURE_AUTHORITY_HOST", DEFAULT_AUTHORITY);
  tc->imds_endpoint = pick(cfg->imds_endpoint, NULL, DEFAULT_IMDS);
  if (tc->client_secret != NULL)
    tc->kind = STV__AZ_CLIENT_SECRET;
  else if (tc->federated_token_file != NULL)
    tc->kind = STV__AZ_WORKLOAD_IDENTITY;
  else
    tc->kind = STV__AZ_MANAGED_IDENTITY;
  if (tc->kind != STV__AZ_MANAGED_IDENTITY && (tc->tenant_id == NULL || tc->client_id == NULL))
    return stv_err_set(err, STV_EINVAL, "azure: %s needs AZURE_TENANT_ID and AZURE_CLIENT_ID (%s is not set)",
                       stv__az_cred_name(tc->kind),
                       tc->tenant_id == NULL ? "AZURE_TENANT_ID" : "AZURE_CLIENT_ID");
  if (strncmp(tc->authority_host, "https://", 8) != 0 && strncmp(tc->authority_host, "http://", 7) != 0)
    return stv_err_set(err, STV_EINVAL, "azure: authorityHost %s: not an http:// or https:// URL",
                       tc->authority_host);
  return 0;
}

static int open_parts(struct az *az, const struct stv_azure_config *cfg,
                      const struct stv__az_token_config *tc, struct stv_err *err) {
  const char *rg = pick(cfg->resource_group, "AZURE_RESOURCE_GROUP", NULL);
  int rc;
  az->poll_interval = cfg->poll_interval > 0 ? cfg->poll_interval : 1;
  az->lro_timeout = cfg->lro_timeout > 0 ? cfg->lro_timeout : 900;
  az->watch_interval = cfg->watch_interval != 0 ? cfg->watch_interval : 15;
  az->timeout_ms = cfg->call_timeout_ms;
  if ((az->endpoint = dup_url(pick(cfg->resource_manager_endpoint, NULL, DEFAULT_ENDPOINT))) == NULL ||
      (az->sub = stv_strdup(pick(cfg->subscription_id, "AZURE_SUBSCRIPTION_ID", ""))) == NULL ||
      (rg != NULL && (az->rg = stv_strdup(rg)) == NULL) ||
      (cfg->cluster_name != NULL && (az->cluster = stv_strdup(cfg->cluster_name)) == NULL) ||
      (az->api = stv_strdup(pick(cfg->api_version, NULL, DEFAULT_API))) == NULL ||
      (cfg->ca_file != NULL && (az->ca_file = stv_strdup(cfg->ca_file)) == NULL))
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  if ((rc = stv_cloud_caller_new(&az->caller, az->http, az->pub.clock, NULL, 0, err)) != 0) return rc;
  if ((rc = stv__az_prices_new(&az->prices, az->caller, az->pub.clock,
                               pick(cfg->prices_endpoint, NULL, DEFAULT_PRICES), az->ca_file, az->timeout_ms,
                               err)) != 0)
    return rc;
  return stv__az_tokens_new(&az->tokens, az->caller, az->pub.clock, tc, err);
}

static int check_config(const struct stv_azure_config *cfg, struct stv_err *err) {
  const char *sub = pick(cfg->subscription_id, "AZURE_SUBSCRIPTION_ID", NULL);
  const char *ep = pick(cfg->resource_manager_endpoint, NULL, DEFAULT_ENDPOINT);
  if (sub == NULL)
    return stv_err_set(err, STV_EINVAL,
                       "azure: subscriptionId: not set (azure.subscriptionId in the configuration, "
                       "or AZURE_SUBSCRIPTION_ID)");
  if (strlen(sub) > 100 || strpbrk(sub, "/?#&% ") != NULL)
    return stv_err_set(err, STV_EINVAL, "azure: subscriptionId %.100s: not a subscription id", sub);
  if (cfg->resource_group != NULL &&
      (strlen(cfg->resource_group) > 90 || strpbrk(cfg->resource_group, "/?#&% ")))
    return stv_err_set(err, STV_EINVAL, "azure: resourceGroup %.100s: not a resource group name",
                       cfg->resource_group);
  if (strncmp(ep, "https://", 8) != 0 && strncmp(ep, "http://", 7) != 0)
    return stv_err_set(err, STV_EINVAL, "azure: resourceManagerEndpoint %s: not an http:// or https:// URL",
                       ep);
  if (cfg->api_version != NULL && (strlen(cfg->api_version) > 30 || strpbrk(cfg->api_version, "/?#&% ")))
    return stv_err_set(err, STV_EINVAL, "azure: apiVersion %.40s: not an api-version", cfg->api_version);
  return 0;
}

int stv_cloud_open_azure(struct stv_cloud **out, struct stv_http *http, struct stv_clock *clock,
                         const struct stv_azure_config *cfg, struct stv_err *err) {
  struct stv__az_token_config tc;
  struct az *az;
  int rc;
  *out = NULL;
  memset(&tc, 0, sizeof(tc));
  if (http == NULL || clock == NULL) return stv_err_set(err, STV_EINVAL, "azure: no HTTP client or clock");
  if ((rc = check_config(cfg, err)) != 0 || (rc = credentials(cfg, &tc, err)) != 0) return rc;
  tc.ca_file = cfg->ca_file;
  tc.timeout_ms = cfg->call_timeout_ms;
  if ((az = stv_calloc(1, sizeof(*az))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  az->pub.ops = &az_ops;
  az->pub.impl = az;
  az->pub.clock = clock;
  az->http = http;
  az->cred = tc.kind;
  if ((rc = open_parts(az, cfg, &tc, err)) != 0) {
    az_close(&az->pub);
    return rc;
  }
  if (az->watch_interval > 0) {
    if (stv_clock_start(clock, &az->watch, az->watch_interval, watch_cb, az) != 0) {
      az_close(&az->pub);
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    }
    az->watching = 1;
  }
  stv_log(STV_LOG_INFO, "azure provider", STV_LOG_STR("endpoint", az->endpoint),
          STV_LOG_STR("subscription", az->sub),
          STV_LOG_STR("resource_group", az->rg != NULL ? az->rg : "(all)"),
          STV_LOG_STR("credential", stv__az_cred_name(az->cred)), STV_LOG_STR("api_version", az->api));
  *out = &az->pub;
  return 0;
}
