/*
 * The `aws` provider (aws.h): the provider interface over the Auto Scaling
 * and EC2 Query APIs.
 *
 * Every API request goes the same way (struct req): the credentials from
 * the cache (aws_creds.c), a form body signed by libcurl with SigV4, one
 * cloud call with retries on throttling (call.c), the answer parsed
 * (aws_xml.c) or mapped to an STV_ code; an ExpiredToken answer refreshes
 * the credentials once and sends again. Operations chain requests: pages
 * through NextToken, a group described before its instances are
 * terminated, one instance at a time.
 *
 * A poll timer looks at the groups' scaling activities (launches that
 * failed, reported as STV_CLOUD_EV_LAUNCH_FAILED and the offering left out
 * for unavailable_ttl, as Karpenter's unavailable-offerings cache does),
 * the instances' states (RUNNING and TERMINATED events) and the spot prices
 * of the groups' types.
 */
#include "aws.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws_impl.h"
#include "log.h"


static struct aws *impl(struct stv_cloud *c) {
  return c->impl;
}
static void poll_cb(struct stv_timer *t);

/* ---------------------------------------------------------------------- */
/* Forms                                                                  */

int stv__aws_form(struct stv_buf *b, const char *name, const char *value) {
  static const char hex[] = "0123456789ABCDEF";
  const char *s;
  if (b->len > 0) stv_buf_append(b, "&", 1);
  stv_buf_puts(b, name);
  stv_buf_append(b, "=", 1);
  /* RFC 3986 unreserved characters as they are, everything else %XX: what SigV4 canonicalises to. */
  for (s = value; *s != '\0'; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
        ch == '_' || ch == '.' || ch == '~') {
      stv_buf_append(b, s, 1);
    } else {
      char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      stv_buf_append(b, e, 3);
    }
  }
  return b->err;
}

int stv__aws_formf(struct stv_buf *b, const char *value, const char *fmt, ...) {
  char name[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof(name), fmt, ap);
  va_end(ap);
  return stv__aws_form(b, name, value);
}

/* ---------------------------------------------------------------------- */
/* Requests                                                               */

struct req *stv__aws_req_new(struct aws *a, int ec2, const char *action, enum stv__aws_kind kind, req_done done,
                           void *op) {
  struct req *r = stv_calloc(1, sizeof(*r));
  if (r == NULL) return NULL;
  r->a = a;
  r->ec2 = ec2;
  r->action = action;
  r->kind = kind;
  r->done = done;
  r->op = op;
  stv_buf_init(&r->form);
  stv__aws_form(&r->form, "Action", action);
  stv__aws_form(&r->form, "Version", ec2 ? EC2_VERSION : ASG_VERSION);
  r->next = a->reqs;
  if (a->reqs != NULL) a->reqs->prev = r;
  a->reqs = r;
  return r;
}

static void req_free(struct req *r) {
  struct aws *a = r->a;
  if (r->prev != NULL)
    r->prev->next = r->next;
  else
    a->reqs = r->next;
  if (r->next != NULL) r->next->prev = r->prev;
  stv_buf_close(&r->form);
  stv_free(r);
}

/* Ends r: calls its op's continuation, then frees it. */
static void req_end(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  r->done(r, code, msg, ans);
  req_free(r);
}

static int classify(void *ctx, long status, const char *body, size_t len) {
  struct stv__aws_error e;
  (void)ctx;
  if (status >= 200 && status <= 299) return 0;
  if (status == 429) return STV_ETHROTTLED;
  if (stv__aws_parse_error(body, len, &e) == 0) {
    if (strcmp(e.code, "Throttling") == 0 || strcmp(e.code, "ThrottlingException") == 0 ||
        strcmp(e.code, "RequestLimitExceeded") == 0 || strcmp(e.code, "TooManyRequestsException") == 0)
      return STV_ETHROTTLED;
    if (strcmp(e.code, "InternalFailure") == 0 || strcmp(e.code, "InternalError") == 0 ||
        strcmp(e.code, "ServiceUnavailable") == 0 || strcmp(e.code, "Unavailable") == 0)
      return STV_EIO;
    return status >= 500 ? STV_EIO : 0;
  }
  if (status == 503) return STV_ETHROTTLED;
  return status >= 500 ? STV_EIO : 0;
}

static int req_send(struct req *r);

static void on_reply(void *ctx, const struct stv_cloud_reply *rep) {
  struct req *r = ctx;
  struct stv__aws_answer ans;
  struct stv_err err = {0, ""};
  char msg[STV_ERR_MSG_MAX];
  const char *svc = r->ec2 ? "ec2" : "autoscaling";
  int code;
  if (rep->code != 0) {
    req_end(r, rep->code, rep->error, NULL);
    return;
  }
  if (rep->status < 200 || rep->status > 299) {
    code = stv__aws_map_error(svc, r->action, rep->status, rep->body, rep->len, msg, sizeof(msg));
    if (code == STV_ETIMEDOUT && !r->creds_retried) {
      /* The credentials expired: refresh them once and send again. */
      r->creds_retried = 1;
      stv_log(STV_LOG_INFO, "aws: credentials refused as expired; refreshing",
              STV_LOG_STR("action", r->action), STV_LOG_STR("source", stv__aws_creds_source(r->a->cc)));
      if ((code = req_send(r)) == 0) return;
      snprintf(msg, sizeof(msg), "%s %s: cannot refresh the credentials: %s", svc, r->action,
               stv_strerror(code));
    } else if (code == STV_ETIMEDOUT) {
      size_t k = strlen(msg);
      snprintf(msg + k, sizeof(msg) - k, " (credentials from %s, refreshed once)",
               stv__aws_creds_source(r->a->cc));
      code = STV_EUNSUPPORTED;
    }
    req_end(r, code, msg, NULL);
    return;
  }
  code = stv__aws_parse(r->kind, r->action, rep->body, rep->len, &ans, &err);
  req_end(r, code, code == 0 ? "" : err.msg, code == 0 ? &ans : NULL);
  stv__aws_answer_close(&ans);
}

static void on_creds(void *ctx, int code, const char *message, const struct stv__aws_current *cur) {
  struct req *r = ctx;
  struct aws *a = r->a;
  struct stv_cloud_call_opts o;
  struct stv_err err = {0, ""};
  char tok[4096];
  const char *headers[3] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL, NULL};
  int rc;
  if (code != 0) {
    char msg[STV_ERR_MSG_MAX];
    snprintf(msg, sizeof(msg), "aws credentials (%s): %s", stv__aws_creds_source(a->cc), message);
    req_end(r, code, msg, NULL);
    return;
  }
  if (r->form.err != 0) {
    req_end(r, r->form.err, "out of memory building the request", NULL);
    return;
  }
  memset(&o, 0, sizeof(o));
  o.what = r->action;
  o.url = r->ec2 ? a->env.ec2_url : a->env.autoscaling_url;
  o.method = "POST";
  o.body = r->form.data;
  o.body_len = r->form.len;
  o.aws_sigv4 = r->ec2 ? a->sig_ec2 : a->sig_asg;
  o.userpwd = cur->userpwd;
  if (cur->token != NULL) {
    snprintf(tok, sizeof(tok), "X-Amz-Security-Token: %s", cur->token);
    headers[1] = tok;
  }
  o.headers = headers;
  o.tls.ca_file = a->env.ca_bundle;
  o.timeout_ms = a->o.timeout_ms;
  o.max_body = STV__AWS_MAX_BODY;
  o.classify = classify;
  rc = stv_cloud_call(a->caller, &o, on_reply, r, &err);
  memset(tok, 0, sizeof(tok));
  if (rc != 0) req_end(r, rc, err.msg, NULL);
}

/* Sends r (again, after an expired token); returns 0 or an STV_ code (r not ended then). */
static int req_send(struct req *r) {
  return stv__aws_creds_get(r->a->cc, r->creds_retried, on_creds, r);
}

/* Sends r or ends it with the failure; for callers that carry on through r's continuation. */
void stv__aws_req_go(struct req *r) {
  int rc = req_send(r);
  if (rc != 0) req_end(r, rc, "cannot ask for the credentials", NULL);
}

/* ---------------------------------------------------------------------- */
/* Operations                                                             */

void stv__aws_op_link_(struct aws *a, struct ophead *h, void (*fn)(void *)) {
  h->a = a;
  h->free = fn;
  h->prev = NULL;
  h->next = a->ops;
  if (a->ops != NULL) a->ops->prev = h;
  a->ops = h;
}

void stv__aws_op_unlink(struct ophead *h) {
  struct aws *a = h->a;
  if (h->prev != NULL)
    h->prev->next = h->next;
  else
    a->ops = h->next;
  if (h->next != NULL) h->next->prev = h->prev;
}

/* ---------------------------------------------------------------------- */
/* Groups                                                                 */

/* Whether g carries the discovery tags of this cluster. */
int stv__aws_ours(struct aws *a, const struct stv__aws_asg *g) {
  if (stv__aws_tag(g, a->tag_stv) != NULL) return 1;
  return stv__aws_tag(g, TAG_ENABLED) != NULL && stv__aws_tag(g, a->tag_ca) != NULL;
}

static const char *template_label(const struct stv__aws_asg *g, const char *label) {
  char key[300];
  snprintf(key, sizeof(key), "%s%s", TAG_TEMPLATE_LABEL, label);
  return stv__aws_tag(g, key);
}

static int unavailable(struct aws *a, const char *type, const char *zone) {
  double now = stv_clock_now(a->cloud.clock);
  size_t i;
  for (i = 0; i < a->nunav; i++)
    if (a->unav[i].until > now && strcmp(a->unav[i].type, type) == 0 && strcmp(a->unav[i].zone, zone) == 0)
      return 1;
  return 0;
}

static void mark_unavailable(struct aws *a, const char *type, const char *zone) {
  double now = stv_clock_now(a->cloud.clock);
  size_t i;
  for (i = 0; i < a->nunav; i++)
    if (strcmp(a->unav[i].type, type) == 0 && strcmp(a->unav[i].zone, zone) == 0) {
      a->unav[i].until = now + a->o.unavailable_ttl;
      return;
    }
  if (stv_grow((void **)&a->unav, &a->capunav, a->nunav + 1, sizeof(*a->unav)) != 0) return;
  a->unav[a->nunav].type = stv_strdup(type);
  a->unav[a->nunav].zone = stv_strdup(zone);
  if (a->unav[a->nunav].type == NULL || a->unav[a->nunav].zone == NULL) {
    stv_free(a->unav[a->nunav].type);
    stv_free(a->unav[a->nunav].zone);
    return;
  }
  a->unav[a->nunav++].until = now + a->o.unavailable_ttl;
}

#define LT_TTL 300.0

/* "ID|NAME|VERSION" of g's launch template, or "lc|NAME" of its launch configuration. */
static void lt_key(char *buf, size_t n, const struct stv__aws_asg *g) {
  if (g->lt_id == NULL && g->lt_name == NULL && g->lc_name != NULL) {
    snprintf(buf, n, "lc|%s", g->lc_name);
    return;
  }
  snprintf(buf, n, "%s|%s|%s", g->lt_id != NULL ? g->lt_id : "", g->lt_name != NULL ? g->lt_name : "",
           g->lt_version != NULL ? g->lt_version : "$Default");
}

/* The cache entry of g's launch template (fresh or not), or NULL. */
static struct lt_entry *lt_find(struct aws *a, const struct stv__aws_asg *g) {
  char key[600];
  size_t i;
  lt_key(key, sizeof(key), g);
  for (i = 0; i < a->nlts; i++)
    if (strcmp(a->lts[i].key, key) == 0) return &a->lts[i];
  return NULL;
}

/* The capacity types a group launches: 1 on-demand, 2 spot, 3 both. */
static int group_cts(struct aws *a, const struct stv__aws_asg *g) {
  const char *ct = template_label(g, "karpenter.sh/capacity-type");
  const char *eks = template_label(g, "eks.amazonaws.com/capacityType");
  if (!g->mixed) {
    const struct lt_entry *e = g->lt_id == NULL && g->lt_name == NULL ? lt_find(a, g) : NULL;
    if (e != NULL && e->spot) return 2;
    if ((ct != NULL && strcmp(ct, "spot") == 0) || (eks != NULL && strcmp(eks, "SPOT") == 0)) return 2;
    return 1;
  }
  if (g->od_pct >= 100) return 1;
  if (g->od_pct <= 0 && g->od_base <= 0) return 2;
  return 3;
}

struct listing { /* what one listing of the groups builds */
  struct stv_cloud_group *groups;
  size_t n;
  struct stv_cloud_offering *offers;
  size_t noffers;
};

/* Appends the offerings of g (types x zones x capacity types, minus those out of capacity). */
static int add_offers(struct aws *a, const struct stv__aws_asg *g, const char *const *types, size_t ntypes,
                      struct listing *l, size_t *cap) {
  int cts = group_cts(a, g);
  size_t t, z;
  int ct;
  for (t = 0; t < ntypes; t++)
    for (z = 0; z < g->nzones; z++)
      for (ct = 0; ct < 2; ct++) {
        if (!(cts & (1 << ct)) || unavailable(a, types[t], g->zones[z]) ||
            !stv__aws_offered(a, types[t], g->zones[z]))
          continue;
        if (stv_grow((void **)&l->offers, cap, l->noffers + 1, sizeof(*l->offers)) != 0) return STV_ENOMEM;
        l->offers[l->noffers].instance_type = types[t];
        l->offers[l->noffers].zone = g->zones[z];
        l->offers[l->noffers].capacity_type = ct == 0 ? STV_CT_ON_DEMAND : STV_CT_SPOT;
        l->noffers++;
      }
  return 0;
}

/* The instance types of a group without overrides: the node-template label, its launch template's, its instances'. */
static size_t plain_types(struct aws *a, const struct stv__aws_asg *g, const char **out, size_t max) {
  const char *t = template_label(g, "node.kubernetes.io/instance-type");
  const struct lt_entry *e = lt_find(a, g);
  size_t n = 0, i, j;
  if (t == NULL && e != NULL) t = e->type;
  if (t != NULL) {
    out[0] = t;
    return 1;
  }
  for (i = 0; i < g->ninst && n < max; i++) {
    if (g->inst[i].type == NULL) continue;
    for (j = 0; j < n && strcmp(out[j], g->inst[i].type) != 0; j++) {
    }
    if (j == n) out[n++] = g->inst[i].type;
  }
  return n;
}

static void known_free(struct known *k, size_t n) {
  size_t i, t;
  for (i = 0; i < n; i++) {
    stv_free(k[i].name);
    for (t = 0; t < k[i].ntypes; t++) stv_free(k[i].types[t]);
    stv_free(k[i].types);
  }
  stv_free(k);
}

size_t stv__aws_group_types(struct aws *a, const struct stv__aws_asg *g, const char **plain, size_t max,
                            const char *const **types) {
  if (g->ntypes > 0) {
    *types = g->types;
    return g->ntypes;
  }
  *types = plain;
  return plain_types(a, g, plain, max);
}

/* Builds the provider's view of the discovered groups of the pages, and remembers them. */
static int build_groups(struct aws *a, struct stv__aws_answer *pages, size_t npages, struct listing *l) {
  size_t p, i, t, capg = 0, capf = 0, capo = 0, nk = 0;
  struct known *known = NULL;
  size_t *first = NULL; /* offers index of each group */
  int rc = 0;
  for (p = 0; p < npages; p++)
    for (i = 0; i < pages[p].nasgs; i++) {
      const struct stv__aws_asg *g = &pages[p].asgs[i];
      const char *plain[16];
      const char *const *types;
      size_t ntypes;
      if (!stv__aws_ours(a, g)) continue;
      ntypes = stv__aws_group_types(a, g, plain, 16, &types);
      if (ntypes == 0) {
        stv_log(STV_LOG_WARN,
                "aws: group left out: its instance type is unknown (no mixed-instances overrides, none in "
                "its launch "
                "template, no instances); "
                "tag it k8s.io/cluster-autoscaler/node-template/label/node.kubernetes.io/instance-type=TYPE",
                STV_LOG_STR("group", g->name));
        continue;
      }
      if (stv_grow((void **)&l->groups, &capg, l->n + 1, sizeof(*l->groups)) != 0 ||
          stv_grow((void **)&first, &capf, l->n + 1, sizeof(*first)) != 0 ||
          (known = stv_realloc(known, (nk + 1) * sizeof(*known))) == NULL) {
        rc = STV_ENOMEM;
        goto out;
      }
      memset(&known[nk], 0, sizeof(known[nk]));
      first[l->n] = l->noffers;
      if ((rc = add_offers(a, g, types, ntypes, l, &capo)) != 0) goto out;
      memset(&l->groups[l->n], 0, sizeof(l->groups[l->n]));
      l->groups[l->n].id = g->name;
      l->groups[l->n].pool = stv__aws_tag(g, "stevedore.io/node-pool");
      if (l->groups[l->n].pool == NULL) l->groups[l->n].pool = template_label(g, "stevedore.io/node-pool");
      l->groups[l->n].min = g->min;
      l->groups[l->n].max = g->max;
      l->groups[l->n].desired = g->desired;
      l->groups[l->n].noffer = l->noffers - first[l->n];
      /* Every offering out of capacity: the group cannot grow until one is back. */
      if (l->groups[l->n].noffer == 0) l->groups[l->n].max = g->desired > g->min ? g->desired : g->min;
      known[nk].name = stv_strdup(g->name);
      known[nk].min = g->min;
      known[nk].max = g->max;
      known[nk].spot_only = group_cts(a, g) == 2;
      known[nk].types = stv_calloc(ntypes, sizeof(char *));
      for (t = 0; known[nk].types != NULL && t < ntypes; t++)
        if ((known[nk].types[known[nk].ntypes] = stv_strdup(types[t])) != NULL) known[nk].ntypes++;
      if (known[nk++].name == NULL || known[nk - 1].ntypes < ntypes) {
        rc = STV_ENOMEM;
        goto out;
      }
      l->n++;
    }
  for (i = 0; i < l->n; i++) l->groups[i].offerings = l->offers + first[i];
  /* The first look of the poll right after the first listing, so that what changes from now on is reported. */
  if (!a->listed && !a->poll_running) (void)stv_clock_start(a->cloud.clock, &a->poll, 0, poll_cb, a);
  known_free(a->known, a->nknown);
  a->known = known;
  a->nknown = nk;
  a->listed = 1;
  known = NULL;
  nk = 0;
out:
  known_free(known, nk);
  stv_free(first);
  return rc;
}

/*
 * Keeps a page of answers when code is 0 (takes ans over, leaving it empty) and sets *token to the next page's
 * token (NULL: the last). Returns code, or STV_ENOMEM with *msg set.
 */
int stv__aws_keep_page(struct stv__aws_answer **pages, size_t *n, size_t *cap, int code, const char **msg,
                     struct stv__aws_answer *ans, const char **token) {
  *token = NULL;
  if (code != 0) return code;
  if (stv_grow((void **)pages, cap, *n + 1, sizeof(**pages)) != 0) {
    *msg = "out of memory";
    return STV_ENOMEM;
  }
  (*pages)[(*n)++] = *ans;
  memset(ans, 0, sizeof(*ans));
  stv_strpool_init(&ans->pool);
  *token = (*pages)[*n - 1].next_token;
  return 0;
}

void stv__aws_free_pages(struct stv__aws_answer *pages, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) stv__aws_answer_close(&pages[i]);
  stv_free(pages);
}

void stv__aws_groups_op_free(struct groups_op *op) {
  size_t i;
  stv__aws_op_unlink(&op->h);
  for (i = 0; i < op->notypes; i++) stv_free(op->otypes[i]);
  stv_free(op->otypes);
  stv__aws_offered_free(op->got, op->ngot);
  stv__aws_free_pages(op->pages, op->npages);
  stv_free(op);
}

static int groups_page(struct groups_op *op, const char *token);
static void lt_next(struct groups_op *op);

static void on_groups_page(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct groups_op *op = r->op;
  const char *token;
  if ((code = stv__aws_keep_page(&op->pages, &op->npages, &op->cap, code, &msg, ans, &token)) != 0) {
    op->then(op, code, msg);
    return;
  }
  if (token != NULL) {
    if ((code = groups_page(op, token)) != 0) op->then(op, code, "out of memory");
    return;
  }
  lt_next(op);
}

/* A group of ours whose instance type only its launch template can tell, not read lately; or NULL. */
static const struct stv__aws_asg *lt_wanted(struct groups_op *op) {
  double now = stv_clock_now(op->a->cloud.clock);
  size_t p, i;
  for (p = 0; p < op->npages; p++)
    for (i = 0; i < op->pages[p].nasgs; i++) {
      const struct stv__aws_asg *g = &op->pages[p].asgs[i];
      const struct lt_entry *e;
      if (!stv__aws_ours(op->a, g) || g->ntypes > 0 || (g->lt_id == NULL && g->lt_name == NULL && g->lc_name == NULL) ||
          template_label(g, "node.kubernetes.io/instance-type") != NULL)
        continue;
      if ((e = lt_find(op->a, g)) == NULL || e->until <= now) return g;
    }
  return NULL;
}

static void on_lt(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct groups_op *op = r->op;
  struct aws *a = op->a;
  const struct stv__aws_asg *g = lt_wanted(op);
  struct lt_entry *e;
  char key[600];
  if (g == NULL) { /* cannot be: the same pages as when asked */
    op->then(op, 0, "");
    return;
  }
  if (code == 0 && r->kind == STV__AWS_LCS && ans->nlcs == 0) {
    code = STV_ENOTFOUND;
    msg = "no such launch configuration";
  }
  if (code != 0)
    stv_log(STV_LOG_WARN,
            r->kind == STV__AWS_LCS
                ? "aws: cannot read the group's launch configuration; its instance type is unknown"
                : "aws: cannot read the group's launch template; its instance type is unknown",
            STV_LOG_STR("group", g->name),
            STV_LOG_STR("template", g->lt_id != NULL ? g->lt_id : g->lt_name != NULL ? g->lt_name : g->lc_name),
            STV_LOG_STR("error", msg));
  if ((e = lt_find(a, g)) == NULL) {
    lt_key(key, sizeof(key), g);
    if (stv_grow((void **)&a->lts, &a->caplts, a->nlts + 1, sizeof(*a->lts)) != 0 ||
        (a->lts[a->nlts].key = stv_strdup(key)) == NULL) {
      op->then(op, STV_ENOMEM, "out of memory");
      return;
    }
    e = &a->lts[a->nlts++];
    e->type = NULL;
  }
  stv_free(e->type);
  e->type = NULL;
  e->spot = 0;
  if (code == 0 && r->kind == STV__AWS_LT && ans->lt_type != NULL) e->type = stv_strdup(ans->lt_type);
  if (code == 0 && r->kind == STV__AWS_LCS) {
    e->type = stv_strdup(ans->lcs[0].type);
    e->spot = ans->lcs[0].spot_price != NULL;
  }
  e->until = stv_clock_now(a->cloud.clock) + LT_TTL;
  lt_next(op);
}

/* Reads the launch templates the groups need, one at a time, then goes on. */
static void lt_next(struct groups_op *op) {
  const struct stv__aws_asg *g = op->only == NULL ? lt_wanted(op) : NULL;
  struct req *r;
  if (g == NULL) {
    stv__aws_offers_next(op);
    return;
  }
  if (g->lt_id == NULL && g->lt_name == NULL)
    r = stv__aws_req_new(op->a, 0, "DescribeLaunchConfigurations", STV__AWS_LCS, on_lt, op);
  else
    r = stv__aws_req_new(op->a, 1, "DescribeLaunchTemplateVersions", STV__AWS_LT, on_lt, op);
  if (r == NULL) {
    op->then(op, STV_ENOMEM, "out of memory");
    return;
  }
  if (r->kind == STV__AWS_LCS) {
    stv__aws_form(&r->form, "LaunchConfigurationNames.member.1", g->lc_name);
    stv__aws_req_go(r);
    return;
  }
  if (g->lt_id != NULL)
    stv__aws_form(&r->form, "LaunchTemplateId", g->lt_id);
  else
    stv__aws_form(&r->form, "LaunchTemplateName", g->lt_name);
  stv__aws_form(&r->form, "LaunchTemplateVersion.1", g->lt_version != NULL ? g->lt_version : "$Default");
  stv__aws_req_go(r);
}

static int groups_page(struct groups_op *op, const char *token) {
  struct req *r = stv__aws_req_new(op->a, 0, "DescribeAutoScalingGroups", STV__AWS_ASGS, on_groups_page, op);
  if (r == NULL) return STV_ENOMEM;
  if (op->only != NULL) {
    stv__aws_form(&r->form, "AutoScalingGroupNames.member.1", op->only);
  } else {
    stv__aws_form(&r->form, "Filters.member.1.Name", "tag-key");
    stv__aws_form(&r->form, "Filters.member.1.Values.member.1", op->a->tag_ca);
    stv__aws_form(&r->form, "Filters.member.1.Values.member.2", op->a->tag_stv);
  }
  stv__aws_form(&r->form, "MaxRecords", "100");
  if (token != NULL) stv__aws_form(&r->form, "NextToken", token);
  stv__aws_req_go(r);
  return 0;
}

int stv__aws_groups_op_start(struct aws *a, const char *only,
                           void (*then)(struct groups_op *, int, const char *), void *ctx,
                           stv_cloud_groups_cb cb) {
  struct groups_op *op = stv_calloc(1, sizeof(*op));
  int rc;
  if (op == NULL) return STV_ENOMEM;
  stv__aws_op_link(a, &op->h, stv__aws_groups_op_free);
  op->a = a;
  op->only = only;
  op->then = then;
  op->ctx = ctx;
  op->cb = cb;
  if ((rc = groups_page(op, NULL)) != 0) stv__aws_groups_op_free(op);
  return rc;
}

static void listed_groups(struct groups_op *op, int code, const char *msg) {
  struct stv_cloud_result res = {code, msg, 0};
  struct listing l;
  memset(&l, 0, sizeof(l));
  if (code == 0 && (code = build_groups(op->a, op->pages, op->npages, &l)) != 0) {
    res.code = code;
    res.message = "out of memory building the groups";
  }
  if (res.code == STV_ETHROTTLED) res.retry_after = 0;
  op->cb(op->ctx, &res, res.code == 0 ? l.groups : NULL, res.code == 0 ? l.n : 0);
  stv_free(l.groups);
  stv_free(l.offers);
  stv__aws_groups_op_free(op);
}

static int aws_list_groups(struct stv_cloud *c, stv_cloud_groups_cb cb, void *ctx) {
  return stv__aws_groups_op_start(impl(c), NULL, listed_groups, ctx, cb);
}

/* ---------------------------------------------------------------------- */
/* Instances                                                              */

struct inst_op {
  struct ophead h;
  struct aws *a;
  struct stv_timer empty;
  struct stv__aws_answer *pages;
  size_t npages, cap;
  size_t chunk; /* first known group of the current filter */
  void (*then)(struct inst_op *op, int code, const char *msg);
  void *ctx;
  stv_cloud_instances_cb cb;
};

static void inst_op_free(struct inst_op *op) {
  stv__aws_op_unlink(&op->h);
  stv_clock_stop(op->a->cloud.clock, &op->empty);
  stv__aws_free_pages(op->pages, op->npages);
  stv_free(op);
}

static int inst_page(struct inst_op *op, const char *token);

static void on_inst_page(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct inst_op *op = r->op;
  const char *token;
  if ((code = stv__aws_keep_page(&op->pages, &op->npages, &op->cap, code, &msg, ans, &token)) != 0) {
    op->then(op, code, msg);
    return;
  }
  if (token == NULL) {
    op->chunk += FILTER_VALUES;
    if (op->chunk >= op->a->nknown) {
      op->then(op, 0, "");
      return;
    }
  }
  if ((code = inst_page(op, token)) != 0) op->then(op, code, "out of memory");
}

static int inst_page(struct inst_op *op, const char *token) {
  struct aws *a = op->a;
  struct req *r = stv__aws_req_new(a, 1, "DescribeInstances", STV__AWS_INSTANCES, on_inst_page, op);
  size_t i;
  if (r == NULL) return STV_ENOMEM;
  stv__aws_form(&r->form, "Filter.1.Name", "tag:aws:autoscaling:groupName");
  for (i = op->chunk; i < a->nknown && i < op->chunk + FILTER_VALUES; i++)
    stv__aws_formf(&r->form, a->known[i].name, "Filter.1.Value.%zu", i - op->chunk + 1);
  stv__aws_form(&r->form, "MaxResults", "1000");
  if (token != NULL) stv__aws_form(&r->form, "NextToken", token);
  stv__aws_req_go(r);
  return 0;
}

static void inst_after_groups(struct groups_op *gop, int code, const char *msg);

static void inst_empty(struct stv_timer *t) {
  struct inst_op *op = t->data;
  op->then(op, 0, "");
}

/* Lists the instances of the known groups; lists the groups first when never listed. */
static int inst_op_start(struct aws *a, void (*then)(struct inst_op *, int, const char *), void *ctx,
                         stv_cloud_instances_cb cb) {
  struct inst_op *op = stv_calloc(1, sizeof(*op));
  int rc;
  if (op == NULL) return STV_ENOMEM;
  stv__aws_op_link(a, &op->h, inst_op_free);
  op->a = a;
  op->then = then;
  op->ctx = ctx;
  op->cb = cb;
  if (!a->listed)
    rc = stv__aws_groups_op_start(a, NULL, inst_after_groups, op, NULL);
  else if (a->nknown == 0) /* nothing to ask: answer from the loop */
    rc = stv_clock_start(a->cloud.clock, &op->empty, 0, inst_empty, op) == 0 ? 0 : STV_ENOMEM;
  else
    rc = inst_page(op, NULL);
  if (rc != 0) inst_op_free(op);
  return rc;
}

int stv__aws_groups_remember(struct groups_op *op) {
  struct listing l;
  int rc;
  memset(&l, 0, sizeof(l));
  rc = build_groups(op->a, op->pages, op->npages, &l);
  stv_free(l.groups);
  stv_free(l.offers);
  return rc;
}

static void inst_after_groups(struct groups_op *gop, int code, const char *msg) {
  struct inst_op *op = gop->ctx;
  if (code == 0 && (code = stv__aws_groups_remember(gop)) != 0) msg = "out of memory";
  stv__aws_groups_op_free(gop);
  if (code == 0 && op->a->nknown == 0) {
    op->then(op, 0, "");
    return;
  }
  if (code == 0 && (code = inst_page(op, NULL)) != 0) msg = "out of memory";
  if (code != 0) op->then(op, code, msg);
}

/* Seconds on the provider's clock of an RFC 3339 time (now when unreadable). */
static double clock_time(struct aws *a, const char *when) {
  double now = stv_clock_now(a->cloud.clock);
  int64_t secs;
  int32_t nanos;
  struct stv_err err = {0, ""};
  if (when == NULL || stv_parse_time(when, &secs, &nanos, &err) != 0) return now;
  return now - ((double)time(NULL) - (double)secs);
}

static enum stv_cloud_instance_state inst_state(const char *s) {
  if (strcmp(s, "pending") == 0) return STV_INSTANCE_PENDING;
  if (strcmp(s, "running") == 0) return STV_INSTANCE_RUNNING;
  return STV_INSTANCE_TERMINATING;
}

/* The instances of the pages (terminated ones left out), their provider ids in ids (size n * 128). */
static int build_instances(struct inst_op *op, struct stv_cloud_instance **out, char **ids, size_t *n) {
  size_t p, i, k = 0, total = 0;
  for (p = 0; p < op->npages; p++) total += op->pages[p].ninstances;
  *out = NULL;
  *ids = NULL;
  *n = 0;
  if (total == 0) return 0;
  if ((*out = stv_calloc(total, sizeof(**out))) == NULL || (*ids = stv_malloc(total * 128)) == NULL) {
    stv_free(*out);
    *out = NULL;
    return STV_ENOMEM;
  }
  for (p = 0; p < op->npages; p++)
    for (i = 0; i < op->pages[p].ninstances; i++) {
      const struct stv__aws_ec2_instance *e = &op->pages[p].instances[i];
      struct stv_cloud_instance *in = &(*out)[k];
      if (strcmp(e->state, "terminated") == 0 || e->group == NULL) continue;
      snprintf(*ids + k * 128, 128, "aws:///%s/%s", e->zone, e->id);
      in->provider_id = *ids + k * 128;
      in->group_id = e->group;
      in->instance_type = e->type;
      in->zone = e->zone;
      in->capacity_type =
          e->lifecycle != NULL && strcmp(e->lifecycle, "spot") == 0 ? STV_CT_SPOT : STV_CT_ON_DEMAND;
      in->state = inst_state(e->state);
      in->launch_time = clock_time(op->a, e->launch_time);
      k++;
    }
  *n = k;
  return 0;
}

static void listed_instances(struct inst_op *op, int code, const char *msg) {
  struct stv_cloud_result res = {code, msg, 0};
  struct stv_cloud_instance *v = NULL;
  char *ids = NULL;
  size_t n = 0;
  if (code == 0 && (res.code = build_instances(op, &v, &ids, &n)) != 0) res.message = "out of memory";
  op->cb(op->ctx, &res, v, n);
  stv_free(v);
  stv_free(ids);
  inst_op_free(op);
}

static int aws_list_instances(struct stv_cloud *c, stv_cloud_instances_cb cb, void *ctx) {
  return inst_op_start(impl(c), listed_instances, ctx, cb);
}

/* ---------------------------------------------------------------------- */
/* Scaling                                                                */

struct done_op {
  struct ophead h;
  struct stv_timer t; /* answers from the loop when refused before asking */
  stv_cloud_done_cb cb;
  void *ctx;
  char group[256];
  int64_t desired;
  char **ids; /* instance ids to terminate */
  size_t n, done;
  int code;
  char msg[STV_ERR_MSG_MAX];
};

static void done_op_free(struct done_op *op) {
  size_t i;
  stv__aws_op_unlink(&op->h);
  stv_clock_stop(op->h.a->cloud.clock, &op->t);
  for (i = 0; i < op->n; i++) stv_free(op->ids[i]);
  stv_free(op->ids);
  stv_free(op);
}

static void done_op_end(struct done_op *op, int code, const char *msg) {
  struct stv_cloud_result r = {code, msg, 0};
  op->cb(op->ctx, &r);
  done_op_free(op);
}

static void done_op_late(struct stv_timer *t) {
  struct done_op *op = t->data;
  done_op_end(op, op->code, op->msg);
}

static struct done_op *done_op_new(struct aws *a, const char *group, stv_cloud_done_cb cb, void *ctx) {
  struct done_op *op = stv_calloc(1, sizeof(*op));
  if (op == NULL) return NULL;
  stv__aws_op_link(a, &op->h, done_op_free);
  op->cb = cb;
  op->ctx = ctx;
  snprintf(op->group, sizeof(op->group), "%s", group);
  return op;
}

/* Refuses op from the loop (the callback never runs inside the call). */
static int done_op_refuse(struct done_op *op, int code, const char *msg) {
  op->code = code;
  snprintf(op->msg, sizeof(op->msg), "%s", msg);
  if (stv_clock_start(op->h.a->cloud.clock, &op->t, 0, done_op_late, op) != 0) {
    done_op_free(op);
    return STV_ENOMEM;
  }
  return 0;
}

static void on_set_desired(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct done_op *op = r->op;
  (void)ans;
  if (code == 0)
    stv_log(STV_LOG_INFO, "aws: desired capacity set", STV_LOG_STR("group", op->group),
            STV_LOG_INT("desired", op->desired));
  done_op_end(op, code, msg);
}

const struct known *stv__aws_find_known(struct aws *a, const char *name) {
  size_t i;
  for (i = 0; i < a->nknown; i++)
    if (strcmp(a->known[i].name, name) == 0) return &a->known[i];
  return NULL;
}

static int aws_set_desired(struct stv_cloud *c, const char *group_id, int64_t desired, stv_cloud_done_cb cb,
                           void *ctx) {
  struct aws *a = impl(c);
  const struct known *k = stv__aws_find_known(a, group_id);
  struct done_op *op = done_op_new(a, group_id, cb, ctx);
  struct req *r;
  char num[32], msg[STV_ERR_MSG_MAX];
  if (op == NULL) return STV_ENOMEM;
  op->desired = desired;
  if (k != NULL && (desired < k->min || desired > k->max)) {
    snprintf(msg, sizeof(msg), "group %s: desired %lld is outside its size [%lld, %lld]", group_id,
             (long long)desired, (long long)k->min, (long long)k->max);
    return done_op_refuse(op, STV_EINVAL, msg);
  }
  if ((r = stv__aws_req_new(a, 0, "SetDesiredCapacity", STV__AWS_EMPTY, on_set_desired, op)) == NULL) {
    done_op_free(op);
    return STV_ENOMEM;
  }
  snprintf(num, sizeof(num), "%lld", (long long)desired);
  stv__aws_form(&r->form, "AutoScalingGroupName", group_id);
  stv__aws_form(&r->form, "DesiredCapacity", num);
  stv__aws_form(&r->form, "HonorCooldown", "false");
  stv__aws_req_go(r);
  return 0;
}

static int terminate_next(struct done_op *op);

static void on_terminated(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct done_op *op = r->op;
  char full[STV_ERR_MSG_MAX];
  size_t i, k;
  (void)ans;
  if (code != 0) {
    /* Say which went, so that the caller knows what the group lost. */
    k = (size_t)snprintf(full, sizeof(full), "group %s: %zu of %zu instances terminated (", op->group,
                         op->done, op->n);
    for (i = 0; i < op->done && k < sizeof(full); i++)
      k += (size_t)snprintf(full + k, sizeof(full) - k, "%s%s", i ? " " : "", op->ids[i]);
    if (k < sizeof(full)) snprintf(full + k, sizeof(full) - k, "); %s failed: %s", op->ids[op->done], msg);
    done_op_end(op, code, full);
    return;
  }
  stv_log(STV_LOG_INFO, "aws: instance terminated", STV_LOG_STR("group", op->group),
          STV_LOG_STR("instance", op->ids[op->done]));
  if (++op->done == op->n) {
    done_op_end(op, 0, "");
    return;
  }
  if ((code = terminate_next(op)) != 0) done_op_end(op, code, "out of memory");
}

static int terminate_next(struct done_op *op) {
  struct req *r =
      stv__aws_req_new(op->h.a, 0, "TerminateInstanceInAutoScalingGroup", STV__AWS_EMPTY, on_terminated, op);
  if (r == NULL) return STV_ENOMEM;
  stv__aws_form(&r->form, "InstanceId", op->ids[op->done]);
  stv__aws_form(&r->form, "ShouldDecrementDesiredCapacity", "true");
  stv__aws_req_go(r);
  return 0;
}

/* The group described: every instance must be in it before any goes. */
static void delete_checked(struct groups_op *gop, int code, const char *msg) {
  struct done_op *op = gop->ctx;
  const struct stv__aws_asg *g = NULL;
  char m[STV_ERR_MSG_MAX];
  size_t p, i, j;
  for (p = 0; code == 0 && p < gop->npages && g == NULL; p++)
    for (i = 0; i < gop->pages[p].nasgs; i++)
      if (strcmp(gop->pages[p].asgs[i].name, op->group) == 0) g = &gop->pages[p].asgs[i];
  if (code == 0 && g == NULL) {
    snprintf(m, sizeof(m), "group %s does not exist (any more)", op->group);
    code = STV_ENOTFOUND;
    msg = m;
  }
  for (j = 0; code == 0 && j < op->n; j++) {
    for (i = 0; i < g->ninst && strcmp(g->inst[i].id, op->ids[j]) != 0; i++) {
    }
    if (i == g->ninst) {
      snprintf(m, sizeof(m), "group %s has no instance %s; nothing deleted", op->group, op->ids[j]);
      code = STV_ENOTFOUND;
      msg = m;
    }
  }
  stv__aws_groups_op_free(gop);
  if (code == 0 && (code = terminate_next(op)) != 0) msg = "out of memory";
  if (code != 0) done_op_end(op, code, msg);
}

/* The instance id of "aws:///ZONE/i-..." (a pointer into pid), or NULL. */
static const char *instance_id(const char *pid) {
  const char *slash;
  if (strncmp(pid, "aws:///", 7) != 0) return NULL;
  slash = strrchr(pid + 7, '/');
  if (slash == NULL || slash == pid + 7 || strncmp(slash + 1, "i-", 2) != 0 || slash[3] == '\0') return NULL;
  return slash + 1;
}

static int aws_delete_instances(struct stv_cloud *c, const char *group_id, const char *const *pids, size_t n,
                                stv_cloud_done_cb cb, void *ctx) {
  struct aws *a = impl(c);
  struct done_op *op = done_op_new(a, group_id, cb, ctx);
  char msg[STV_ERR_MSG_MAX];
  size_t i;
  int rc;
  if (op == NULL) return STV_ENOMEM;
  if ((op->ids = stv_calloc(n + 1, sizeof(*op->ids))) == NULL) {
    done_op_free(op);
    return STV_ENOMEM;
  }
  for (i = 0; i < n; i++) {
    const char *id = instance_id(pids[i]);
    if (id == NULL) {
      snprintf(msg, sizeof(msg), "group %s: \"%.200s\" is not an AWS provider id (aws:///ZONE/i-...)",
               group_id, pids[i]);
      return done_op_refuse(op, STV_EINVAL, msg);
    }
    if ((op->ids[op->n++] = stv_strdup(id)) == NULL) {
      done_op_free(op);
      return STV_ENOMEM;
    }
  }
  if (n == 0) return done_op_refuse(op, 0, "");
  if ((rc = stv__aws_groups_op_start(a, op->group, delete_checked, op, NULL)) != 0) done_op_free(op);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Polling: failed launches, instance states, spot prices                 */

struct poll_op {
  struct ophead h;
  size_t group; /* 0: the activities next, 1: the instances */
  int baseline; /* the first look: remember what is there, report nothing */
};

static void poll_op_free(struct poll_op *op) {
  stv__aws_op_unlink(&op->h);
  stv_free(op);
}

static int seen(struct aws *a, const char *id) {
  size_t i;
  for (i = 0; i < a->nseen; i++)
    if (strcmp(a->seen_acts[i], id) == 0) return 1;
  return 0;
}

/* Reads "sufficient TYPE capacity in the Availability Zone you requested (ZONE)" from AWS's status message. */
static void failed_offering(const char *msg, char *type, size_t tn, char *zone, size_t zn) {
  const char *s = msg != NULL ? strstr(msg, "sufficient ") : NULL, *e;
  type[0] = zone[0] = '\0';
  if (s != NULL && (e = strstr(s += 11, " capacity")) != NULL && (size_t)(e - s) < tn &&
      memchr(s, ' ', e - s) == NULL)
    snprintf(type, tn, "%.*s", (int)(e - s), s);
  s = msg != NULL ? strstr(msg, "Availability Zone") : NULL;
  if (s != NULL && (s = strchr(s, '(')) != NULL && (e = strchr(++s, ')')) != NULL && (size_t)(e - s) < zn)
    snprintf(zone, zn, "%.*s", (int)(e - s), s);
}

static int launch_code(const char *msg) {
  if (msg == NULL) return STV_EIO;
  if (strstr(msg, "InsufficientInstanceCapacity") != NULL || strstr(msg, "sufficient capacity") != NULL ||
      strstr(msg, "do not have sufficient") != NULL)
    return STV_ECAPACITY;
  if (strstr(msg, "LimitExceeded") != NULL || strstr(msg, "quota") != NULL) return STV_ELIMIT;
  return STV_EIO;
}

static void report_failure(struct aws *a, const struct known *k, const struct stv__aws_activity *act) {
  struct stv_cloud_instance in;
  struct stv_cloud_event ev;
  char type[64], zone[64];
  const char *why = act->message != NULL ? act->message : (act->description != NULL ? act->description : "");
  failed_offering(why, type, sizeof(type), zone, sizeof(zone));
  memset(&in, 0, sizeof(in));
  in.group_id = k->name;
  in.instance_type = type;
  in.zone = zone;
  in.capacity_type = k->spot_only ? STV_CT_SPOT : STV_CT_ON_DEMAND;
  in.state = STV_INSTANCE_TERMINATING;
  memset(&ev, 0, sizeof(ev));
  ev.kind = STV_CLOUD_EV_LAUNCH_FAILED;
  ev.instance = &in;
  ev.code = launch_code(why);
  ev.message = why;
  if (ev.code == STV_ECAPACITY && type[0] != '\0' && zone[0] != '\0') mark_unavailable(a, type, zone);
  stv_log(STV_LOG_WARN, "aws: a launch failed", STV_LOG_STR("group", k->name),
          STV_LOG_STR("activity", act->id), STV_LOG_STR("code", stv_err_name(ev.code)),
          STV_LOG_STR("message", why));
  if (a->cloud.on_event != NULL) a->cloud.on_event(a->cloud.event_ctx, &ev);
}

static void poll_next(struct poll_op *op);
static void free_list(char **v, size_t n);

static void on_activities(struct req *r, int code, const char *msg, struct stv__aws_answer *ans) {
  struct poll_op *op = r->op;
  struct aws *a = op->h.a;
  size_t i;
  if (code != 0) {
    stv_log(STV_LOG_WARN, "aws: cannot read the scaling activities; trying at the next poll",
            STV_LOG_STR("error", msg));
  } else {
    /* The failures in this answer become the list seen: older ones are past the newest 100 for good. */
    char **now_seen = stv_calloc(ans->nactivities + 1, sizeof(*now_seen));
    size_t n = 0;
    for (i = 0; now_seen != NULL && i < ans->nactivities; i++) {
      const struct stv__aws_activity *act = &ans->activities[i];
      const struct known *k = act->group != NULL ? stv__aws_find_known(a, act->group) : NULL;
      if (k == NULL || strcmp(act->status, "Failed") != 0) continue;
      if ((now_seen[n] = stv_strdup(act->id)) == NULL) break;
      n++;
      if (!op->baseline && !seen(a, act->id)) report_failure(a, k, act);
    }
    if (now_seen != NULL && i == ans->nactivities) {
      free_list(a->seen_acts, a->nseen);
      a->seen_acts = now_seen;
      a->nseen = n;
    } else {
      free_list(now_seen, n);
    }
  }
  op->group = 1;
  poll_next(op);
}

static void polled_instances(struct inst_op *iop, int code, const char *msg);

static void poll_done(struct aws *a, struct poll_op *op) {
  a->poll_running = 0;
  a->baseline = 1;
  poll_op_free(op);
  (void)stv_clock_start(a->cloud.clock, &a->poll, a->o.poll_interval, poll_cb, a);
}

/* Asks for the latest scaling activities of the account's groups (one call, newest first), then the instances. */
static void poll_next(struct poll_op *op) {
  struct aws *a = op->h.a;
  struct req *r;
  if (op->group == 0) {
    if ((r = stv__aws_req_new(a, 0, "DescribeScalingActivities", STV__AWS_ACTIVITIES, on_activities, op)) == NULL) {
      poll_done(a, op);
      return;
    }
    stv__aws_form(&r->form, "MaxRecords", "100");
    stv__aws_req_go(r);
    return;
  }
  if (inst_op_start(a, polled_instances, op, NULL) != 0) poll_done(a, op);
}

static int in_list(char **v, size_t n, const char *s) {
  size_t i;
  for (i = 0; i < n; i++)
    if (strcmp(v[i], s) == 0) return 1;
  return 0;
}

static void free_list(char **v, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) stv_free(v[i]);
  stv_free(v);
}

static void emit(struct aws *a, enum stv_cloud_event_kind kind, const struct stv_cloud_instance *in) {
  struct stv_cloud_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.kind = kind;
  ev.instance = in;
  ev.message = "";
  if (a->cloud.on_event != NULL) a->cloud.on_event(a->cloud.event_ctx, &ev);
}

/* Compares the instances with the last poll's: RUNNING for new running ones, TERMINATED for those gone. */
static void diff_instances(struct aws *a, struct poll_op *op, const struct stv_cloud_instance *v, size_t n) {
  char **running = stv_calloc(n + 1, sizeof(*running)), **alive = stv_calloc(n + 1, sizeof(*alive));
  char **alive_group = stv_calloc(n + 1, sizeof(*alive_group));
  size_t i, nr = 0, na = 0;
  if (running == NULL || alive == NULL || alive_group == NULL) goto fail;
  for (i = 0; i < n; i++) {
    if (v[i].state == STV_INSTANCE_TERMINATING) continue;
    alive[na] = stv_strdup(v[i].provider_id);
    alive_group[na] = stv_strdup(v[i].group_id);
    if (alive[na] == NULL || alive_group[na] == NULL) {
      na++;
      goto fail;
    }
    na++;
    if (v[i].state != STV_INSTANCE_RUNNING) continue;
    if ((running[nr] = stv_strdup(v[i].provider_id)) == NULL) goto fail;
    nr++;
    if (!op->baseline && !in_list(a->running, a->nrunning, v[i].provider_id))
      emit(a, STV_CLOUD_EV_RUNNING, &v[i]);
  }
  for (i = 0; !op->baseline && i < a->nalive; i++) {
    struct stv_cloud_instance gone;
    if (in_list(alive, na, a->alive[i])) continue;
    memset(&gone, 0, sizeof(gone));
    gone.provider_id = a->alive[i];
    gone.group_id = a->alive_group[i];
    gone.instance_type = "";
    gone.zone = "";
    gone.state = STV_INSTANCE_TERMINATING;
    emit(a, STV_CLOUD_EV_TERMINATED, &gone);
  }
  free_list(a->running, a->nrunning);
  free_list(a->alive, a->nalive);
  free_list(a->alive_group, a->nalive);
  a->running = running;
  a->nrunning = nr;
  a->alive = alive;
  a->alive_group = alive_group;
  a->nalive = na;
  return;
fail:
  free_list(running, nr);
  free_list(alive, na);
  free_list(alive_group, na);
}

static void polled_instances(struct inst_op *iop, int code, const char *msg) {
  struct poll_op *op = iop->ctx;
  struct aws *a = iop->a;
  struct stv_cloud_instance *v = NULL;
  char *ids = NULL;
  size_t n = 0;
  if (code == 0 && build_instances(iop, &v, &ids, &n) == 0)
    diff_instances(a, op, v, n);
  else if (code != 0)
    stv_log(STV_LOG_WARN, "aws: cannot read the instances; trying at the next poll",
            STV_LOG_STR("error", msg));
  stv_free(v);
  stv_free(ids);
  inst_op_free(iop);
  poll_done(a, op);
}

static void poll_cb(struct stv_timer *t) {
  struct aws *a = t->data;
  struct poll_op *op;
  if (a->poll_running || !a->listed || (op = stv_calloc(1, sizeof(*op))) == NULL) {
    (void)stv_clock_start(a->cloud.clock, &a->poll, a->o.poll_interval, poll_cb, a);
    return;
  }
  stv__aws_op_link(a, &op->h, poll_op_free);
  op->baseline = !a->baseline;
  a->poll_running = 1;
  poll_next(op);
}

/* ---------------------------------------------------------------------- */
/* Life                                                                   */

static void aws_close(struct stv_cloud *c) {
  struct aws *a;
  size_t i;
  if (c == NULL) return;
  a = impl(c);
  stv_clock_stop(c->clock, &a->poll);
  stv_cloud_caller_free(a->caller); /* calls in flight abandoned: their callbacks never run */
  stv__aws_creds_free(a->cc);
  while (a->reqs != NULL) req_free(a->reqs);
  while (a->ops != NULL) a->ops->free(a->ops);
  known_free(a->known, a->nknown);
  for (i = 0; i < a->nunav; i++) {
    stv_free(a->unav[i].type);
    stv_free(a->unav[i].zone);
  }
  stv_free(a->unav);
  for (i = 0; i < a->nlts; i++) {
    stv_free(a->lts[i].key);
    stv_free(a->lts[i].type);
  }
  stv_free(a->lts);
  stv__aws_offered_free(a->offered, a->noffered);
  for (i = 0; i < a->noffer_types; i++) stv_free(a->offer_types[i]);
  stv_free(a->offer_types);
  free_list(a->seen_acts, a->nseen);
  free_list(a->running, a->nrunning);
  free_list(a->alive, a->nalive);
  free_list(a->alive_group, a->nalive);
  stv_free(a->cluster);
  stv_free(a);
}

static const struct stv_cloud_ops aws_ops = {
    .name = "aws",
    .list_groups = aws_list_groups,
    .list_instances = aws_list_instances,
    .set_desired = aws_set_desired,
    .delete_instances = aws_delete_instances,
    .fetch_prices = stv__aws_fetch_prices,
    .close = aws_close,
};

void stv_aws_opts_default(struct stv_aws_opts *o) {
  memset(o, 0, sizeof(*o));
  o->poll_interval = 15;
  o->unavailable_ttl = 180;
  o->timeout_ms = 30000;
  o->spot_prices = 1;
  o->reservations = 1;
}

/* A cluster name as tag keys take it: what EKS allows (letters, digits, '-', '_'), at most 100 bytes. */
static int check_cluster(const char *name, struct stv_err *err) {
  const char *s;
  if (name == NULL || name[0] == '\0')
    return stv_err_set(err, STV_EINVAL,
                       "aws: --cluster-name is required: group discovery matches the tags "
                       "k8s.io/cluster-autoscaler/NAME and stevedore.io/cluster/NAME");
  if (strlen(name) > 100) return stv_err_set(err, STV_EINVAL, "aws: --cluster-name is longer than 100 bytes");
  for (s = name; *s != '\0'; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
          *s == '_' || *s == '.'))
      return stv_err_set(err, STV_EINVAL,
                         "aws: --cluster-name \"%s\": only letters, digits, '-', '_' and '.'", name);
  return 0;
}

int stv_aws_new(struct stv_cloud **out, struct stv_clock *clock, const struct stv_aws_opts *o,
                struct stv_err *err) {
  struct aws *a;
  int rc;
  *out = NULL;
  if ((rc = check_cluster(o->cluster_name, err)) != 0) return rc;
  if (o->http == NULL) return stv_err_set(err, STV_EINVAL, "aws: no HTTP client");
  if ((a = stv_calloc(1, sizeof(*a))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  a->o = *o;
  if (!(a->o.poll_interval > 0)) a->o.poll_interval = 15;
  if (!(a->o.unavailable_ttl > 0)) a->o.unavailable_ttl = 180;
  if (a->o.timeout_ms <= 0) a->o.timeout_ms = 30000;
  a->cloud.ops = &aws_ops;
  a->cloud.impl = a;
  a->cloud.clock = clock;
  if ((a->cluster = stv_strdup(o->cluster_name)) == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  a->o.cluster_name = a->cluster;
  snprintf(a->tag_ca, sizeof(a->tag_ca), "%s%s", TAG_CA_PREFIX, a->cluster);
  snprintf(a->tag_stv, sizeof(a->tag_stv), "%s%s", TAG_STV_PREFIX, a->cluster);
  if ((rc = stv_cloud_caller_new(&a->caller, o->http, clock, o->retry, o->seed, err)) != 0) goto out;
  a->env.cfg_region = o->region;
  a->env.cfg_endpoint = o->endpoint;
  a->env.cfg_autoscaling = o->autoscaling_endpoint;
  a->env.cfg_ec2 = o->ec2_endpoint;
  a->env.cfg_sts = o->sts_endpoint;
  a->env.cfg_ca = o->ca_file;
  if ((rc = stv__aws_creds_new(&a->cc, a->caller, clock, &a->env, err)) != 0) goto out;
  snprintf(a->sig_asg, sizeof(a->sig_asg), "aws:amz:%s:autoscaling", a->env.region);
  snprintf(a->sig_ec2, sizeof(a->sig_ec2), "aws:amz:%s:ec2", a->env.region);
  if (stv_clock_start(clock, &a->poll, a->o.poll_interval, poll_cb, a) != 0) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  stv_log(STV_LOG_INFO, "aws provider", STV_LOG_STR("cluster", a->cluster),
          STV_LOG_STR("region", a->env.region), STV_LOG_STR("region_from", a->env.region_source),
          STV_LOG_STR("credentials", stv__aws_creds_source(a->cc)),
          STV_LOG_STR("autoscaling", a->env.autoscaling_url), STV_LOG_STR("ec2", a->env.ec2_url));
  *out = &a->cloud;
  a = NULL;
out:
  if (a != NULL) aws_close(&a->cloud);
  return rc;
}
