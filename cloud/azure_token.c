/*
 * Access tokens for Azure Resource Manager, the three ways workloads in
 * Azure get them:
 * - client secret: OAuth2 client credentials at
 *   {authority}/{tenant}/oauth2/v2.0/token (AZURE_CLIENT_SECRET);
 * - workload identity (AKS): the same endpoint with the federated token
 *   file as client_assertion, the file read again for every request
 *   (kubelet rotates it);
 * - managed identity: IMDS, GET /metadata/identity/oauth2/token with
 *   header Metadata: true.
 * One token is cached and handed out until five minutes (or half its
 * lifetime, when shorter) before it expires; callers that arrive while a
 * request is out wait for that one. The token and the secrets never reach
 * a log line or an error message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "azure_internal.h"

#define RESOURCE      "https://management.azure.com/"
#define SCOPE         "https://management.azure.com/.default"
#define MAX_ASSERTION (64 * 1024)

struct waiter {
  stv__az_token_cb cb;
  void *ctx;
  struct waiter *next;
};

struct stv__az_tokens {
  struct stv_cloud_caller *caller;
  struct stv_clock *clock;
  struct stv__az_token_config cfg;
  char *token;       /* the cached token, or NULL */
  double refresh_at; /* on the clock: hand it out until then */
  int fetching;
  struct waiter *waiters;
  int delivering, dead; /* freed from inside a waiter's callback: freed when the delivery ends */
};

const char *stv__az_cred_name(enum stv__az_cred kind) {
  switch (kind) {
  case STV__AZ_CLIENT_SECRET:
    return "client secret";
  case STV__AZ_WORKLOAD_IDENTITY:
    return "workload identity";
  default:
    return "managed identity";
  }
}

static void drop_token(struct stv__az_tokens *t) {
  if (t->token != NULL) {
    memset(t->token, 0, strlen(t->token));
    stv_free(t->token);
    t->token = NULL;
  }
}

static char *dup_or_null(const char *s, int *fail) {
  char *d;
  if (s == NULL) return NULL;
  if ((d = stv_strdup(s)) == NULL) *fail = 1;
  return d;
}

int stv__az_tokens_new(struct stv__az_tokens **out, struct stv_cloud_caller *caller, struct stv_clock *clock,
                       const struct stv__az_token_config *cfg, struct stv_err *err) {
  struct stv__az_tokens *t = stv_calloc(1, sizeof(*t));
  int fail = 0;
  *out = NULL;
  if (t == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  t->caller = caller;
  t->clock = clock;
  t->cfg = *cfg;
  t->cfg.authority_host = dup_or_null(cfg->authority_host, &fail);
  t->cfg.tenant_id = dup_or_null(cfg->tenant_id, &fail);
  t->cfg.client_id = dup_or_null(cfg->client_id, &fail);
  t->cfg.client_secret = dup_or_null(cfg->client_secret, &fail);
  t->cfg.federated_token_file = dup_or_null(cfg->federated_token_file, &fail);
  t->cfg.imds_endpoint = dup_or_null(cfg->imds_endpoint, &fail);
  t->cfg.ca_file = dup_or_null(cfg->ca_file, &fail);
  *out = t;
  if (fail) {
    stv__az_tokens_free(t);
    *out = NULL;
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  return 0;
}

void stv__az_tokens_free(struct stv__az_tokens *t) {
  struct waiter *w, *next;
  if (t == NULL) return;
  if (t->delivering) {
    t->dead = 1;
    return;
  }
  for (w = t->waiters; w != NULL; w = next) {
    next = w->next;
    stv_free(w);
  }
  drop_token(t);
  if (t->cfg.client_secret != NULL) memset((char *)t->cfg.client_secret, 0, strlen(t->cfg.client_secret));
  stv_free((char *)t->cfg.authority_host);
  stv_free((char *)t->cfg.tenant_id);
  stv_free((char *)t->cfg.client_id);
  stv_free((char *)t->cfg.client_secret);
  stv_free((char *)t->cfg.federated_token_file);
  stv_free((char *)t->cfg.imds_endpoint);
  stv_free((char *)t->cfg.ca_file);
  stv_free(t);
}

/* Percent-encodes s into b (RFC 3986 unreserved characters kept). */
static void form_value(struct stv_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      stv_buf_append(b, (const char *)&c, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      stv_buf_append(b, e, 3);
    }
  }
}

/* The federated token file's content, trimmed; it changes as kubelet rotates it. */
static int read_assertion(const char *path, char **out, struct stv_err *err) {
  FILE *f = fopen(path, "rb");
  char *buf;
  size_t n;
  *out = NULL;
  if (f == NULL)
    return stv_err_set(err, STV_EIO,
                       "workload identity: cannot read the federated token file %s (%s): check "
                       "AZURE_FEDERATED_TOKEN_FILE and the projected service account token volume",
                       path, strerror(errno));
  if ((buf = stv_malloc(MAX_ASSERTION + 1)) == NULL) {
    fclose(f);
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  n = fread(buf, 1, MAX_ASSERTION + 1, f);
  fclose(f);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
  buf[n < MAX_ASSERTION ? n : MAX_ASSERTION] = '\0';
  if (n == 0 || n > MAX_ASSERTION) {
    stv_free(buf);
    return stv_err_set(err, STV_EINVAL, "workload identity: the federated token file %s is %s", path,
                       n == 0 ? "empty" : "over 64 KiB");
  }
  *out = buf;
  return 0;
}

/* Hands the outcome to each waiter, one at a time (a callback may cancel others or free t). */
static void deliver(struct stv__az_tokens *t, const char *token, int code, const char *msg) {
  struct waiter *w;
  t->delivering = 1;
  while (!t->dead && (w = t->waiters) != NULL) {
    t->waiters = w->next;
    w->cb(w->ctx, token, code, msg);
    stv_free(w);
  }
  t->delivering = 0;
  if (t->dead) stv__az_tokens_free(t);
}

static void token_reply(void *ctx, const struct stv_cloud_reply *r) {
  struct stv__az_tokens *t = ctx;
  struct stv_err err = {0, ""};
  char detail[400];
  double ttl = 0;
  const char *who = stv__az_cred_name(t->cfg.kind);
  t->fetching = 0;
  if (r->code != 0) {
    stv_err_set(&err, r->code, "%s", r->error);
  } else if (r->status != 200) {
    if (stv__az_read_aad_error(r->body, r->len, detail, sizeof(detail)) != 0)
      snprintf(detail, sizeof(detail), "an answer that is not an error document");
    stv_err_set(&err, STV_EIO, "%s token: HTTP %ld: %s", who, r->status, detail);
  } else if (stv__az_read_token("token", r->body, r->len, &t->token, &ttl, &err) == 0) {
    double margin = ttl / 2 < 300 ? ttl / 2 : 300;
    t->refresh_at = stv_clock_now(t->clock) + ttl - margin;
  } else {
    stv_err_prefix(&err, "%s", who);
  }
  deliver(t, t->token, err.code, err.msg);
}

/* Starts the request of the configured kind. */
static int fetch(struct stv__az_tokens *t, struct stv_err *err) {
  struct stv_cloud_call_opts o;
  struct stv_buf url, body;
  const char *hdr_form[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json",
                            NULL};
  const char *hdr_imds[] = {"Metadata: true", "Accept: application/json", NULL};
  char *assertion = NULL;
  int rc;
  memset(&o, 0, sizeof(o));
  stv_buf_init(&url);
  stv_buf_init(&body);
  if (t->cfg.kind == STV__AZ_MANAGED_IDENTITY) {
    stv_buf_printf(
        &url, "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=", t->cfg.imds_endpoint);
    form_value(&url, RESOURCE);
    if (t->cfg.client_id != NULL) {
      stv_buf_puts(&url, "&client_id=");
      form_value(&url, t->cfg.client_id);
    }
    o.what = "azure managed identity token (IMDS)";
    o.headers = hdr_imds;
  } else {
    if (t->cfg.kind == STV__AZ_WORKLOAD_IDENTITY &&
        (rc = read_assertion(t->cfg.federated_token_file, &assertion, err)) != 0)
      goto out;
    stv_buf_printf(&url, "%s/", t->cfg.authority_host);
    form_value(&url, t->cfg.tenant_id);
    stv_buf_puts(&url, "/oauth2/v2.0/token");
    stv_buf_puts(&body, "grant_type=client_credentials&client_id=");
    form_value(&body, t->cfg.client_id);
    stv_buf_puts(&body, "&scope=");
    form_value(&body, SCOPE);
    if (assertion != NULL) {
      stv_buf_puts(&body,
                   "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                   "&client_assertion=");
      form_value(&body, assertion);
    } else {
      stv_buf_puts(&body, "&client_secret=");
      form_value(&body, t->cfg.client_secret);
    }
    o.what = t->cfg.kind == STV__AZ_WORKLOAD_IDENTITY ? "azure workload identity token"
                                                      : "azure client secret token";
    o.method = "POST";
    o.body = body.data;
    o.body_len = body.len;
    o.headers = hdr_form;
  }
  if (url.err != 0 || body.err != 0) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  o.url = url.data;
  o.tls.ca_file = t->cfg.ca_file;
  o.timeout_ms = t->cfg.timeout_ms;
  o.max_body = 1 << 20;
  rc = stv_cloud_call(t->caller, &o, token_reply, t, err);
  if (rc == 0) t->fetching = 1;
out:
  if (assertion != NULL) {
    memset(assertion, 0, strlen(assertion));
    stv_free(assertion);
  }
  if (body.data != NULL) memset(body.data, 0, body.len);
  stv_buf_close(&url);
  stv_buf_close(&body);
  return rc;
}

int stv__az_token_get(struct stv__az_tokens *t, stv__az_token_cb cb, void *ctx) {
  struct waiter *w, **tail;
  struct stv_err err = {0, ""};
  if (t->token != NULL && stv_clock_now(t->clock) < t->refresh_at) {
    cb(ctx, t->token, 0, "");
    return 0;
  }
  drop_token(t);
  if ((w = stv_calloc(1, sizeof(*w))) == NULL) return STV_ENOMEM;
  w->cb = cb;
  w->ctx = ctx;
  for (tail = &t->waiters; *tail != NULL; tail = &(*tail)->next) {
  }
  *tail = w;
  if (!t->fetching && fetch(t, &err) != 0) {
    /* Could not even start: every waiter hears why now (they are inside their own calls' callbacks or starts). */
    deliver(t, NULL, err.code, err.msg);
  }
  return 0;
}

void stv__az_token_drop(struct stv__az_tokens *t) {
  drop_token(t);
}

void stv__az_token_cancel(struct stv__az_tokens *t, void *ctx) {
  struct waiter **p = &t->waiters, *w;
  while ((w = *p) != NULL) {
    if (w->ctx == ctx) {
      *p = w->next;
      stv_free(w);
    } else {
      p = &w->next;
    }
  }
}
