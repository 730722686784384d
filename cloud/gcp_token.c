/*
 * Access tokens of the GCP provider, in the order Google's client
 * libraries look for credentials: a service-account key file (the
 * configuration's credentialsFile, else $GOOGLE_APPLICATION_CREDENTIALS),
 * exchanged at its token_uri (or the configuration's tokenEndpoint) with
 * the JWT bearer grant; else the metadata server ($GCE_METADATA_HOST, or
 * $GCE_METADATA_ROOT as older libraries call it, else
 * metadata.google.internal), which is how GKE workload identity and a
 * VM's service account hand tokens out. The project id, when not
 * configured, comes from the key file or the metadata server.
 *
 * One token is cached and shared by every call; it is fetched again once
 * most of its life is over (5 minutes before it expires, or half-way for
 * short ones), or at once when the API answers 401. Calls that need a
 * token while one is being fetched wait in a queue. Tokens and keys never
 * appear in messages.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcp_priv.h"
#include "log.h"

#define SCOPE         "https://www.googleapis.com/auth/compute https://www.googleapis.com/auth/cloud-billing.readonly"
#define METADATA_HOST "metadata.google.internal"
#define KEY_FILE_MAX  (64 * 1024)

int stv__gcp_token_open(struct gcp *g, const struct stv_gcp_opts *o, struct stv_err *err) {
  const char *file = o->credentials_file != NULL && o->credentials_file[0]
                         ? o->credentials_file
                         : getenv("GOOGLE_APPLICATION_CREDENTIALS");
  const char *host =
      o->metadata_host != NULL && o->metadata_host[0] ? o->metadata_host : getenv("GCE_METADATA_HOST");
  char *text = NULL;
  size_t len = 0, n;
  int rc;
  if (file != NULL && file[0] != '\0') {
    if ((rc = stv_read_file(file, KEY_FILE_MAX, &text, &len, err)) != 0)
      return stv_err_prefix(err, "gcp credentials");
    rc = stv__gcp_read_key(text, len, &g->key, err);
    stv_free(text);
    if (rc != 0) return stv_err_prefix(err, "%s", file);
    g->have_key = 1;
    g->token_uri =
        stv_strdup(o->token_endpoint != NULL && o->token_endpoint[0] ? o->token_endpoint : g->key.token_uri);
    if (g->token_uri == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
    if (g->project == NULL && g->key.project_id != NULL &&
        (g->project = stv_strdup(g->key.project_id)) == NULL)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    snprintf(g->token_what, sizeof(g->token_what), "token endpoint");
    return 0;
  }
  if (host == NULL || host[0] == '\0') host = getenv("GCE_METADATA_ROOT"); /* the older libraries' name */
  if (host == NULL || host[0] == '\0') host = METADATA_HOST;
  n = strlen(host) + 8;
  if ((g->metadata = stv_malloc(n)) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  snprintf(g->metadata, n, "%s%s", strncmp(host, "http://", 7) == 0 ? "" : "http://", host);
  if (o->token_endpoint != NULL && o->token_endpoint[0]) {
    /* Without a key file the token endpoint takes no assertion: the metadata server's token is the token. */
    stv_log(STV_LOG_WARN, "gcp.tokenEndpoint is set but no key file is: tokens come from the metadata server",
            STV_LOG_STR("metadata", g->metadata));
  }
  snprintf(g->token_what, sizeof(g->token_what), "metadata server");
  return 0;
}

void stv__gcp_token_close(struct gcp *g) {
  stv__gcp_key_free(&g->key);
  stv_free(g->token_uri);
  stv_free(g->metadata);
  if (g->token != NULL) memset(g->token, 0, strlen(g->token));
  stv_free(g->token);
  g->token = g->token_uri = g->metadata = NULL;
}

void stv__gcp_token_drop(struct gcp *g) {
  g->token_refresh_at = 0;
}

/* Runs every waiting request, in the order they came, with code and msg. */
static void run_waiters(struct gcp *g, int code, const char *msg) {
  struct req *list = g->token_waiters, *rev = NULL, *r;
  g->token_waiters = NULL;
  g->token_fetching = 0;
  while (list != NULL) {
    r = list->token_next;
    list->token_next = rev;
    rev = list;
    list = r;
  }
  while (rev != NULL) {
    r = rev;
    rev = r->token_next;
    r->token_next = NULL;
    r->token_fn(r, code, msg);
  }
}

static int valid(struct gcp *g) {
  return g->token != NULL && g->project != NULL && stv_clock_now(g->cloud.clock) < g->token_refresh_at;
}

static void fetch_token(struct gcp *g);

/* The project id from the metadata server (text/plain). */
static void on_project(void *ctx, const struct stv_cloud_reply *rep) {
  struct gcp *g = ctx;
  char msg[400];
  size_t i;
  if (rep->code != 0) {
    snprintf(msg, sizeof(msg), "the project id from the metadata server %s: %s (set gcp.project)",
             g->metadata, rep->error);
    run_waiters(g, rep->code, msg);
    return;
  }
  for (i = 0; i < rep->len && i < 100; i++) {
    char c = rep->body[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == ':' || c == '.')) break;
  }
  if (rep->status != 200 || i == 0 || i != rep->len) {
    snprintf(msg, sizeof(msg),
             "the metadata server %s answered HTTP %ld without a project id (%zu bytes); set gcp.project",
             g->metadata, rep->status, rep->len);
    run_waiters(g, STV_EIO, msg);
    return;
  }
  if ((g->project = stv_strndup(rep->body, i)) == NULL) {
    run_waiters(g, STV_ENOMEM, "out of memory");
    return;
  }
  stv_log(STV_LOG_INFO, "gcp project from the metadata server", STV_LOG_STR("project", g->project));
  run_waiters(g, 0, NULL);
}

static void fetch_project(struct gcp *g) {
  struct stv_cloud_call_opts o;
  struct stv_err err = {0, ""};
  const char *hdrs[] = {"Metadata-Flavor: Google", NULL};
  char url[600];
  int rc;
  if (g->metadata == NULL) {
    run_waiters(g, STV_EINVAL, "no project: set gcp.project (the key file has no project_id)");
    return;
  }
  snprintf(url, sizeof(url), "%s/computeMetadata/v1/project/project-id", g->metadata);
  memset(&o, 0, sizeof(o));
  o.what = "metadata project-id";
  o.url = url;
  o.headers = hdrs;
  o.timeout_ms = g->timeout_ms;
  o.max_body = 4096;
  if ((rc = stv_cloud_call(g->caller, &o, on_project, g, &err)) != 0) run_waiters(g, rc, err.msg);
}

static void on_token(void *ctx, const struct stv_cloud_reply *rep) {
  struct gcp *g = ctx;
  struct stv_err err = {0, ""};
  const char *where = g->have_key ? g->token_uri : g->metadata;
  char msg[600], detail[400];
  char *tok = NULL;
  double ttl = 0, now = stv_clock_now(g->cloud.clock);
  if (rep->code != 0) {
    snprintf(msg, sizeof(msg), "an access token from the %s %s: %.300s%s", g->token_what, where, rep->error,
             stv__gcp_tls_hint(rep->error));
    run_waiters(g, rep->code, msg);
    return;
  }
  if (rep->status != 200) {
    int code = stv__gcp_read_error(rep->body, rep->len, rep->status, detail, sizeof(detail));
    snprintf(msg, sizeof(msg), "an access token from the %s %s: %s%s", g->token_what, where, detail,
             g->have_key ? " (check the key file: is the service account or its key deleted or disabled?)"
                         : " (is a service account attached to the node pool, or workload identity set up?)");
    run_waiters(g, code == STV_ENOTFOUND ? STV_EINVAL : code, msg);
    return;
  }
  if (stv__gcp_read_token(rep->body, rep->len, &tok, &ttl, &err) != 0 || strlen(tok) > STV__GCP_TOKEN_MAX) {
    snprintf(msg, sizeof(msg), "an access token from the %s %s: %.400s", g->token_what, where,
             tok != NULL ? "access_token longer than 4096 bytes" : err.msg);
    stv_free(tok);
    run_waiters(g, STV_EIO, msg);
    return;
  }
  if (g->token != NULL) memset(g->token, 0, strlen(g->token));
  stv_free(g->token);
  g->token = tok;
  g->token_refresh_at = now + ttl - (ttl > 600 ? 300 : ttl / 2);
  stv_log(STV_LOG_DEBUG, "gcp access token", STV_LOG_STR("from", g->token_what),
          STV_LOG_INT("expires_in", (int64_t)ttl));
  if (g->project == NULL) {
    fetch_project(g);
    return;
  }
  run_waiters(g, 0, NULL);
}

static void fetch_token(struct gcp *g) {
  struct stv_cloud_call_opts o;
  struct stv_err err = {0, ""};
  const char *meta_hdrs[] = {"Metadata-Flavor: Google", NULL};
  const char *form_hdrs[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
  struct stv_buf body;
  char url[700], *jwt = NULL;
  int rc;
  g->token_fetching = 1;
  memset(&o, 0, sizeof(o));
  o.timeout_ms = g->timeout_ms;
  o.max_body = 64 * 1024;
  stv_buf_init(&body);
  if (g->have_key) {
    if ((rc = stv__gcp_jwt(&g->key, SCOPE, g->token_uri, (int64_t)time(NULL), &jwt, &err)) != 0) {
      run_waiters(g, rc, err.msg);
      return;
    }
    stv_buf_puts(&body, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=");
    stv_buf_puts(&body, jwt); /* base64url and dots: nothing to escape */
    stv_free(jwt);
    if (body.err != 0) {
      run_waiters(g, STV_ENOMEM, "out of memory");
      return;
    }
    o.what = "oauth2 token";
    o.url = g->token_uri;
    o.method = "POST";
    o.body = body.data;
    o.body_len = body.len;
    o.headers = form_hdrs;
    o.tls.ca_file = g->ca_file;
  } else {
    snprintf(url, sizeof(url), "%s/computeMetadata/v1/instance/service-accounts/default/token", g->metadata);
    o.what = "metadata token";
    o.url = url;
    o.headers = meta_hdrs;
  }
  rc = stv_cloud_call(g->caller, &o, on_token, g, &err);
  stv_buf_close(&body);
  if (rc != 0) run_waiters(g, rc, err.msg);
}

void stv__gcp_with_token(struct gcp *g, struct req *r, gcp_token_fn fn) {
  if (valid(g)) {
    fn(r, 0, NULL);
    return;
  }
  r->token_fn = fn;
  r->token_next = g->token_waiters;
  g->token_waiters = r;
  if (g->token_fetching) return;
  if (g->token != NULL && stv_clock_now(g->cloud.clock) < g->token_refresh_at) {
    g->token_fetching = 1;
    fetch_project(g);
    return;
  }
  fetch_token(g);
}
