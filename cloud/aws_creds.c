/*
 * AWS credentials and region, found in the order botocore and the other
 * SDKs use (docs/cloud-aws.md):
 *
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *      AWS_SESSION_TOKEN;
 *   2. web identity (EKS IRSA): AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE,
 *      exchanged through STS AssumeRoleWithWebIdentity (unsigned), the token
 *      file read again at every refresh (the kubelet rotates it);
 *   3. the shared credentials and config files: AWS_SHARED_CREDENTIALS_FILE
 *      (~/.aws/credentials), AWS_CONFIG_FILE (~/.aws/config), profile
 *      AWS_PROFILE (default "default"), static keys;
 *   4. the container credentials endpoint (EKS Pod Identity, ECS):
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI (or _RELATIVE_URI) with the token of
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (or _TOKEN);
 *   5. the instance role through IMDSv2 (a PUT for a session token, then the
 *      role's credentials); AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the
 *      address, AWS_EC2_METADATA_DISABLED=true skips it.
 *
 * Temporary credentials are refreshed 5 minutes before they expire. The
 * secrets are kept here and handed to libcurl; no message says them.
 */
#include "aws_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#define REFRESH_BEFORE 300.0
#define MAX_FILE       ((size_t)1 << 20)
#define IMDS_DEFAULT   "http://169.254.169.254"
#define CONTAINER_HOST "http://169.254.170.2"

enum source { SRC_ENV, SRC_WEB_IDENTITY, SRC_PROFILE, SRC_CONTAINER, SRC_IMDS };

struct waiter {
  struct waiter *next;
  stv__aws_creds_cb cb;
  void *ctx;
};

struct stv__aws_creds_cache {
  struct stv_cloud_caller *caller; /* borrowed */
  struct stv_clock *clock;         /* borrowed */
  enum source src;
  char source_name[96];
  /* Where to ask (copies of the environment). */
  char *role_arn, *token_file, *session_name, *sts_url;
  char *container_url, *container_token, *container_token_file;
  char *imds_url, *imds_token, *imds_role;
  char *profile, *cred_file, *config_file;
  /* The environment's answers for the adapter. */
  char *region, *autoscaling_url, *ec2_url, *ca_bundle;
  /* What is held. */
  char *userpwd, *session_token;
  double expires; /* on the clock; INFINITY: static */
  int have;
  int refreshing;
  struct waiter *waiters; /* FIFO */
  struct stv_timer deliver;
};

static char *env_dup(const char *name) {
  const char *v = getenv(name);
  return v != NULL && v[0] != '\0' ? stv_strdup(v) : NULL;
}

static void wipe_free(char *s) {
  if (s == NULL) return;
  memset(s, 0, strlen(s));
  stv_free(s);
}

/* Keeps key:secret and the session token (copied); returns 0 or STV_ENOMEM. */
static int hold(struct stv__aws_creds_cache *cc, const char *key, const char *secret, const char *token,
                double expires) {
  size_t n = strlen(key) + strlen(secret) + 2;
  char *up = stv_malloc(n), *tok = token != NULL && token[0] != '\0' ? stv_strdup(token) : NULL;
  if (up == NULL || (token != NULL && token[0] != '\0' && tok == NULL)) {
    stv_free(up);
    stv_free(tok);
    return STV_ENOMEM;
  }
  snprintf(up, n, "%s:%s", key, secret);
  wipe_free(cc->userpwd);
  wipe_free(cc->session_token);
  cc->userpwd = up;
  cc->session_token = tok;
  cc->expires = expires;
  cc->have = 1;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Shared files                                                           */

/* Trims spaces at both ends of s in place; returns s. */
static char *trim(char *s) {
  char *e;
  while (isspace((unsigned char)*s)) s++;
  e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
  return s;
}

/*
 * Reads key from section of an INI file (the AWS shared files' grammar:
 * "[section]", "key = value", '#' and ';' comments). *out is NULL when the
 * file, the section or the key is absent. Returns 0, STV_ENOMEM, or the
 * reader's error for a file that exists but cannot be read.
 */
static int ini_get(const char *file, const char *section, const char *key, char **out, struct stv_err *err) {
  char *text = NULL, *line, *save = NULL;
  size_t len;
  int in = 0, rc;
  *out = NULL;
  if ((rc = stv_read_file(file, MAX_FILE, &text, &len, err)) != 0) return rc == -ENOENT ? 0 : rc;
  for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    char *l = trim(line), *eq;
    if (l[0] == '#' || l[0] == ';' || l[0] == '\0') continue;
    if (l[0] == '[') {
      char *end = strchr(l, ']');
      if (end != NULL) *end = '\0';
      in = strcmp(trim(l + 1), section) == 0;
      continue;
    }
    if (!in || (eq = strchr(l, '=')) == NULL) continue;
    *eq = '\0';
    if (strcmp(trim(l), key) == 0) {
      *out = stv_strdup(trim(eq + 1));
      rc = *out == NULL ? stv_err_set(err, STV_ENOMEM, "out of memory") : 0;
      break;
    }
  }
  if (text != NULL) memset(text, 0, len);
  stv_free(text);
  return rc;
}

/* The config file names profile P "[profile P]" (and the default "[default]"). */
static void config_section(char *buf, size_t n, const char *profile) {
  if (strcmp(profile, "default") == 0)
    snprintf(buf, n, "default");
  else
    snprintf(buf, n, "profile %s", profile);
}

static int default_path(char **out, const char *env, const char *rel) {
  const char *home = getenv("HOME");
  size_t n;
  if ((*out = env_dup(env)) != NULL) return 0;
  if (home == NULL) home = "/";
  n = strlen(home) + strlen(rel) + 2;
  if ((*out = stv_malloc(n)) == NULL) return STV_ENOMEM;
  snprintf(*out, n, "%s/%s", home, rel);
  return 0;
}

/* Reads the profile's static keys: 0 with *found set, or an error naming the file and key. */
static int profile_keys(struct stv__aws_creds_cache *cc, int *found, struct stv_err *err) {
  char sect[160], *key = NULL, *secret = NULL, *token = NULL;
  const char *file = cc->cred_file;
  int rc;
  *found = 0;
  if ((rc = ini_get(file, cc->profile, "aws_access_key_id", &key, err)) != 0) goto out;
  if (key == NULL) {
    file = cc->config_file;
    config_section(sect, sizeof(sect), cc->profile);
    if ((rc = ini_get(file, sect, "aws_access_key_id", &key, err)) != 0) goto out;
    if (key == NULL) goto out;
    rc = ini_get(file, sect, "aws_secret_access_key", &secret, err);
    if (rc == 0) rc = ini_get(file, sect, "aws_session_token", &token, err);
  } else {
    rc = ini_get(file, cc->profile, "aws_secret_access_key", &secret, err);
    if (rc == 0) rc = ini_get(file, cc->profile, "aws_session_token", &token, err);
  }
  if (rc != 0) goto out;
  if (secret == NULL) {
    rc = stv_err_set(err, STV_EINVAL, "%s: profile %s has aws_access_key_id but no aws_secret_access_key",
                     file, cc->profile);
    goto out;
  }
  if ((rc = hold(cc, key, secret, token, INFINITY)) != 0) {
    stv_err_set(err, rc, "out of memory");
    goto out;
  }
  snprintf(cc->source_name, sizeof(cc->source_name), "profile %s (%s)", cc->profile, file);
  *found = 1;
out:
  wipe_free(key);
  wipe_free(secret);
  wipe_free(token);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Choosing the source                                                    */

/* The endpoint: the service's variable, AWS_ENDPOINT_URL, the configuration's (the service's, the general), AWS's. */
static int endpoint(char **out, const char *specific, const char *cfg_specific, const char *cfg_general,
                    const char *service, const char *region) {
  size_t n;
  const char *cfg = cfg_specific != NULL && cfg_specific[0] != '\0' ? cfg_specific : cfg_general;
  if ((*out = env_dup(specific)) != NULL || (*out = env_dup("AWS_ENDPOINT_URL")) != NULL) return 0;
  if (cfg != NULL && cfg[0] != '\0') return (*out = stv_strdup(cfg)) != NULL ? 0 : STV_ENOMEM;
  n = strlen(service) + strlen(region) + 32;
  if ((*out = stv_malloc(n)) == NULL) return STV_ENOMEM;
  snprintf(*out, n, "https://%s.%s.amazonaws.com", service, region);
  return 0;
}

static int find_region(struct stv__aws_creds_cache *cc, struct stv__aws_env *env, struct stv_err *err) {
  char sect[160];
  int rc;
  if ((cc->region = env_dup("AWS_REGION")) != NULL) {
    env->region_source = "AWS_REGION";
    return 0;
  }
  if ((cc->region = env_dup("AWS_DEFAULT_REGION")) != NULL) {
    env->region_source = "AWS_DEFAULT_REGION";
    return 0;
  }
  if (env->cfg_region != NULL && env->cfg_region[0] != '\0') {
    env->region_source = "aws.region of the configuration";
    return (cc->region = stv_strdup(env->cfg_region)) != NULL ? 0 : stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  config_section(sect, sizeof(sect), cc->profile);
  if ((rc = ini_get(cc->config_file, sect, "region", &cc->region, err)) != 0) return rc;
  if (cc->region != NULL && cc->region[0] != '\0') {
    env->region_source = cc->config_file;
    return 0;
  }
  return stv_err_set(err, STV_EINVAL,
                     "aws: no region: set AWS_REGION (or AWS_DEFAULT_REGION), or region in profile %s of %s",
                     cc->profile, cc->config_file);
}

static int choose_source(struct stv__aws_creds_cache *cc, struct stv_err *err) {
  const char *v;
  int found, rc;
  char *key = env_dup("AWS_ACCESS_KEY_ID"), *secret = env_dup("AWS_SECRET_ACCESS_KEY");
  if (key != NULL || secret != NULL) {
    char *tok = env_dup("AWS_SESSION_TOKEN");
    if (key == NULL || secret == NULL)
      rc = stv_err_set(err, STV_EINVAL, "aws: %s is set but %s is not: set both, or neither",
                       key != NULL ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                       key != NULL ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    else if ((rc = hold(cc, key, secret, tok, INFINITY)) != 0)
      stv_err_set(err, rc, "out of memory");
    wipe_free(key);
    wipe_free(secret);
    wipe_free(tok);
    cc->src = SRC_ENV;
    snprintf(cc->source_name, sizeof(cc->source_name), "environment");
    return rc;
  }
  cc->role_arn = env_dup("AWS_ROLE_ARN");
  cc->token_file = env_dup("AWS_WEB_IDENTITY_TOKEN_FILE");
  if (cc->role_arn != NULL || cc->token_file != NULL) {
    if (cc->role_arn == NULL || cc->token_file == NULL)
      return stv_err_set(err, STV_EINVAL,
                         "aws: web identity needs both AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE");
    if ((cc->session_name = env_dup("AWS_ROLE_SESSION_NAME")) == NULL &&
        (cc->session_name = stv_strdup("stevedore")) == NULL)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
    cc->src = SRC_WEB_IDENTITY;
    snprintf(cc->source_name, sizeof(cc->source_name), "web identity");
    return 0;
  }
  if ((rc = profile_keys(cc, &found, err)) != 0 || found) {
    cc->src = SRC_PROFILE;
    return rc;
  }
  if ((cc->container_url = env_dup("AWS_CONTAINER_CREDENTIALS_FULL_URI")) == NULL &&
      (v = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) != NULL && v[0] != '\0') {
    size_t n = strlen(CONTAINER_HOST) + strlen(v) + 1;
    if ((cc->container_url = stv_malloc(n)) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
    snprintf(cc->container_url, n, "%s%s", CONTAINER_HOST, v);
  }
  if (cc->container_url != NULL) {
    cc->container_token_file = env_dup("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    cc->container_token = env_dup("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    cc->src = SRC_CONTAINER;
    snprintf(cc->source_name, sizeof(cc->source_name), "container");
    return 0;
  }
  v = getenv("AWS_EC2_METADATA_DISABLED");
  if (v != NULL && strcasecmp(v, "true") == 0)
    return stv_err_set(err, STV_EINVAL,
                       "aws: no credentials: none in the environment (AWS_ACCESS_KEY_ID), no web identity "
                       "(AWS_ROLE_ARN), no keys in profile %s (%s, %s), no container endpoint "
                       "(AWS_CONTAINER_CREDENTIALS_FULL_URI), and instance metadata is disabled "
                       "(AWS_EC2_METADATA_DISABLED=true)",
                       cc->profile, cc->cred_file, cc->config_file);
  if ((cc->imds_url = env_dup("AWS_EC2_METADATA_SERVICE_ENDPOINT")) == NULL &&
      (cc->imds_url = stv_strdup(IMDS_DEFAULT)) == NULL)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  while (cc->imds_url[0] != '\0' && cc->imds_url[strlen(cc->imds_url) - 1] == '/')
    cc->imds_url[strlen(cc->imds_url) - 1] = '\0';
  cc->src = SRC_IMDS;
  snprintf(cc->source_name, sizeof(cc->source_name), "instance metadata");
  return 0;
}

int stv__aws_creds_new(struct stv__aws_creds_cache **out, struct stv_cloud_caller *caller,
                       struct stv_clock *clock, struct stv__aws_env *env, struct stv_err *err) {
  struct stv__aws_creds_cache *cc = stv_calloc(1, sizeof(*cc));
  int rc;
  struct stv__aws_env in = *env;
  *out = NULL;
  memset(env, 0, sizeof(*env));
  env->cfg_region = in.cfg_region; /* the inputs stay */
  env->cfg_endpoint = in.cfg_endpoint;
  env->cfg_autoscaling = in.cfg_autoscaling;
  env->cfg_ec2 = in.cfg_ec2;
  env->cfg_sts = in.cfg_sts;
  env->cfg_ca = in.cfg_ca;
  if (cc == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  cc->caller = caller;
  cc->clock = clock;
  if ((cc->profile = env_dup("AWS_PROFILE")) == NULL && (cc->profile = stv_strdup("default")) == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  if (default_path(&cc->cred_file, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials") != 0 ||
      default_path(&cc->config_file, "AWS_CONFIG_FILE", ".aws/config") != 0) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = find_region(cc, env, err)) != 0) goto out;
  if (endpoint(&cc->autoscaling_url, "AWS_ENDPOINT_URL_AUTO_SCALING", env->cfg_autoscaling, env->cfg_endpoint,
               "autoscaling", cc->region) != 0 ||
      endpoint(&cc->ec2_url, "AWS_ENDPOINT_URL_EC2", env->cfg_ec2, env->cfg_endpoint, "ec2", cc->region) != 0 ||
      endpoint(&cc->sts_url, "AWS_ENDPOINT_URL_STS", env->cfg_sts, env->cfg_endpoint, "sts", cc->region) != 0) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = choose_source(cc, err)) != 0) goto out;
  env->region = cc->region;
  env->autoscaling_url = cc->autoscaling_url;
  env->ec2_url = cc->ec2_url;
  env->sts_url = cc->sts_url;
  cc->ca_bundle = env_dup("AWS_CA_BUNDLE");
  if (cc->ca_bundle == NULL && env->cfg_ca != NULL && env->cfg_ca[0] != '\0' &&
      (cc->ca_bundle = stv_strdup(env->cfg_ca)) == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  env->ca_bundle = cc->ca_bundle;
  *out = cc;
  cc = NULL;
out:
  stv__aws_creds_free(cc);
  return rc;
}

void stv__aws_creds_free(struct stv__aws_creds_cache *cc) {
  if (cc == NULL) return;
  stv_clock_stop(cc->clock, &cc->deliver);
  while (cc->waiters != NULL) {
    struct waiter *w = cc->waiters;
    cc->waiters = w->next;
    stv_free(w);
  }
  stv_free(cc->role_arn);
  stv_free(cc->token_file);
  stv_free(cc->session_name);
  stv_free(cc->sts_url);
  stv_free(cc->container_url);
  wipe_free(cc->container_token);
  stv_free(cc->container_token_file);
  stv_free(cc->imds_url);
  wipe_free(cc->imds_token);
  stv_free(cc->imds_role);
  stv_free(cc->profile);
  stv_free(cc->cred_file);
  stv_free(cc->config_file);
  stv_free(cc->region);
  stv_free(cc->autoscaling_url);
  stv_free(cc->ec2_url);
  stv_free(cc->ca_bundle);
  wipe_free(cc->userpwd);
  wipe_free(cc->session_token);
  stv_free(cc);
}

const char *stv__aws_creds_source(const struct stv__aws_creds_cache *cc) {
  return cc->source_name;
}

/* ---------------------------------------------------------------------- */
/* Handing out                                                            */

/* Calls every waiter with the outcome; a waiter may ask again from its callback. */
static void deliver_all(struct stv__aws_creds_cache *cc, int code, const char *message) {
  struct waiter *w = cc->waiters;
  struct stv__aws_current cur = {cc->userpwd, cc->session_token};
  cc->waiters = NULL;
  while (w != NULL) {
    struct waiter *next = w->next;
    w->cb(w->ctx, code, message, code == 0 ? &cur : NULL);
    stv_free(w);
    w = next;
  }
}

static void on_deliver(struct stv_timer *t) {
  deliver_all(t->data, 0, "");
}

/* Ends a refresh: keeps the new credentials (code 0) and calls the waiters. */
static void refreshed(struct stv__aws_creds_cache *cc, int code, const char *message) {
  cc->refreshing = 0;
  if (code == 0 && !cc->have) code = STV_EIO;
  deliver_all(cc, code, message);
}

/* Seconds on the clock at which an RFC 3339 expiration falls. */
static int expiry(struct stv__aws_creds_cache *cc, const char *when, double *out, struct stv_err *err) {
  int64_t secs;
  int32_t nanos;
  if (stv_parse_time(when, &secs, &nanos, err) != 0) return stv_err_prefix(err, "Expiration");
  *out = stv_clock_now(cc->clock) + ((double)secs - (double)time(NULL));
  return 0;
}

/* Reads a JSON credentials document (container endpoint, IMDS). */
static int json_creds(struct stv__aws_creds_cache *cc, const char *what, const char *body, size_t len,
                      struct stv_err *err) {
  cJSON *o = cJSON_ParseWithLength(body, len);
  const char *k, *s, *t, *e;
  double exp = INFINITY;
  int rc;
  if (o == NULL || !cJSON_IsObject(o)) {
    cJSON_Delete(o);
    return stv_err_set(err, STV_EPARSE, "%s: the answer is not a JSON object", what);
  }
  k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "AccessKeyId"));
  s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "SecretAccessKey"));
  t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "Token"));
  e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "Expiration"));
  if (k == NULL || s == NULL)
    rc = stv_err_set(err, STV_EPARSE, "%s: the answer lacks AccessKeyId or SecretAccessKey", what);
  else if (e != NULL && (rc = expiry(cc, e, &exp, err)) != 0)
    stv_err_prefix(err, "%s", what);
  else if ((rc = hold(cc, k, s, t, exp)) != 0)
    stv_err_set(err, rc, "out of memory");
  cJSON_Delete(o);
  return rc;
}

static void imds_step(struct stv__aws_creds_cache *cc, int step);

/* Every refresh answer comes here; the step says what it answered. */
struct pending {
  struct stv__aws_creds_cache *cc;
  int step; /* 0 STS, 1 container, 2 IMDS token, 3 IMDS role, 4 IMDS credentials */
};

static void on_answer(void *ctx, const struct stv_cloud_reply *r) {
  struct pending *p = ctx;
  struct stv__aws_creds_cache *cc = p->cc;
  struct stv_err err = {0, ""};
  static const char *const what[] = {"sts AssumeRoleWithWebIdentity", "container credentials endpoint",
                                     "instance metadata token", "instance metadata role",
                                     "instance metadata credentials"};
  int step = p->step, rc = 0;
  stv_free(p);
  if (r->code != 0) {
    refreshed(cc, r->code, r->error);
    return;
  }
  if (r->status < 200 || r->status > 299) {
    char msg[STV_ERR_MSG_MAX];
    if (step == 0)
      rc = stv__aws_map_error("sts", "AssumeRoleWithWebIdentity", r->status, r->body, r->len, msg,
                              sizeof(msg));
    else {
      rc = r->status == 404 ? STV_ENOTFOUND : STV_EIO;
      snprintf(msg, sizeof(msg), "%s: HTTP %ld (%s)", what[step], r->status, cc->source_name);
    }
    refreshed(cc, rc, msg);
    return;
  }
  if (step == 0) {
    struct stv__aws_answer a;
    double exp = 0;
    if ((rc = stv__aws_parse(STV__AWS_STS, "AssumeRoleWithWebIdentity", r->body, r->len, &a, &err)) == 0 &&
        (rc = expiry(cc, a.creds.expiration, &exp, &err)) == 0 &&
        (rc = hold(cc, a.creds.key_id, a.creds.secret, a.creds.token, exp)) != 0)
      stv_err_set(&err, rc, "out of memory");
    stv__aws_answer_close(&a);
  } else if (step == 1 || step == 4) {
    rc = json_creds(cc, what[step], r->body, r->len, &err);
  } else if (step == 2 || step == 3) {
    char **dst = step == 2 ? &cc->imds_token : &cc->imds_role;
    char *v = stv_strndup(r->body, r->len);
    if (v == NULL) {
      rc = stv_err_set(&err, STV_ENOMEM, "out of memory");
    } else {
      v[strcspn(v, "\r\n")] = '\0'; /* the first role listed */
      wipe_free(*dst);
      *dst = v;
      if (v[0] == '\0')
        rc = stv_err_set(&err, STV_ENOTFOUND, "%s: the answer is empty (no instance role?)", what[step]);
      if (rc == 0) {
        imds_step(cc, step + 1);
        return;
      }
    }
  }
  refreshed(cc, rc, err.msg);
}

static int send_step(struct stv__aws_creds_cache *cc, int step, const struct stv_cloud_call_opts *o) {
  struct stv_cloud_call_opts o2;
  struct stv_err err = {0, ""};
  struct pending *p = stv_malloc(sizeof(*p));
  int rc;
  if (p == NULL) return STV_ENOMEM;
  p->cc = cc;
  p->step = step;
  o2 = *o;
  o2.tls.ca_file = cc->ca_bundle;
  if ((rc = stv_cloud_call(cc->caller, &o2, on_answer, p, &err)) != 0) stv_free(p);
  return rc;
}

static void imds_step(struct stv__aws_creds_cache *cc, int step) {
  struct stv_cloud_call_opts o;
  char url[512], tokhdr[256];
  const char *headers[2] = {NULL, NULL};
  int rc;
  memset(&o, 0, sizeof(o));
  o.timeout_ms = 2000;
  o.max_body = 64 * 1024;
  o.headers = headers;
  if (step == 2) {
    snprintf(url, sizeof(url), "%s/latest/api/token", cc->imds_url);
    o.method = "PUT";
    headers[0] = "X-aws-ec2-metadata-token-ttl-seconds: 21600";
    o.what = "instance metadata token";
  } else {
    snprintf(tokhdr, sizeof(tokhdr), "X-aws-ec2-metadata-token: %s", cc->imds_token);
    headers[0] = tokhdr;
    snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", cc->imds_url,
             step == 4 ? cc->imds_role : "");
    o.what = step == 3 ? "instance metadata role" : "instance metadata credentials";
  }
  o.url = url;
  rc = send_step(cc, step, &o);
  memset(tokhdr, 0, sizeof(tokhdr));
  if (rc != 0) refreshed(cc, rc, "instance metadata: the request could not start");
}

/* Reads a token file again (the kubelet rotates it); *out owned by the caller. */
static int read_token(const char *file, char **out, struct stv_err *err) {
  size_t len;
  int rc = stv_read_file(file, 64 * 1024, out, &len, err);
  if (rc != 0) return rc;
  while (len > 0 && isspace((unsigned char)(*out)[len - 1])) (*out)[--len] = '\0';
  if (len == 0) {
    stv_free(*out);
    *out = NULL;
    return stv_err_set(err, STV_EINVAL, "%s: the token file is empty", file);
  }
  return 0;
}

static void refresh(struct stv__aws_creds_cache *cc) {
  struct stv_cloud_call_opts o;
  struct stv_err err = {0, ""};
  struct stv_buf b;
  char *tok = NULL, hdr[8192];
  const char *headers[3] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL, NULL};
  int rc = 0;
  cc->refreshing = 1;
  memset(&o, 0, sizeof(o));
  stv_buf_init(&b);
  hdr[0] = '\0';
  switch (cc->src) {
  case SRC_ENV:
    refreshed(cc, 0, ""); /* static: nothing to refresh */
    return;
  case SRC_PROFILE: {
    int found;
    rc = profile_keys(cc, &found, &err); /* read again: the key may have been rotated */
    refreshed(cc, rc, err.msg);
    return;
  }
  case SRC_IMDS:
    imds_step(cc, 2);
    return;
  case SRC_WEB_IDENTITY:
    if ((rc = read_token(cc->token_file, &tok, &err)) != 0) break;
    stv__aws_form(&b, "Action", "AssumeRoleWithWebIdentity");
    stv__aws_form(&b, "Version", "2011-06-15");
    stv__aws_form(&b, "RoleArn", cc->role_arn);
    stv__aws_form(&b, "RoleSessionName", cc->session_name);
    stv__aws_form(&b, "WebIdentityToken", tok);
    if (b.err != 0) {
      rc = stv_err_set(&err, b.err, "out of memory");
      break;
    }
    o.what = "sts AssumeRoleWithWebIdentity";
    o.url = cc->sts_url;
    o.method = "POST";
    o.body = b.data;
    o.body_len = b.len;
    o.headers = headers;
    rc = send_step(cc, 0, &o);
    if (rc != 0) stv_err_set(&err, rc, "sts AssumeRoleWithWebIdentity: the request could not start");
    break;
  case SRC_CONTAINER:
    if (cc->container_token_file != NULL && (rc = read_token(cc->container_token_file, &tok, &err)) != 0)
      break;
    if (tok != NULL || cc->container_token != NULL) {
      snprintf(hdr, sizeof(hdr), "Authorization: %s", tok != NULL ? tok : cc->container_token);
      headers[0] = hdr;
      headers[1] = NULL;
    } else {
      headers[0] = NULL;
    }
    o.what = "container credentials endpoint";
    o.url = cc->container_url;
    o.headers = headers;
    o.timeout_ms = 5000;
    o.max_body = 64 * 1024;
    rc = send_step(cc, 1, &o);
    if (rc != 0) stv_err_set(&err, rc, "container credentials endpoint: the request could not start");
    break;
  }
  memset(hdr, 0, sizeof(hdr));
  if (b.data != NULL) memset(b.data, 0, b.len);
  stv_buf_close(&b);
  wipe_free(tok);
  if (rc != 0) refreshed(cc, rc, err.msg);
}

static void on_kick(struct stv_timer *t) {
  refresh(t->data);
}

int stv__aws_creds_get(struct stv__aws_creds_cache *cc, int force, stv__aws_creds_cb cb, void *ctx) {
  struct waiter *w = stv_calloc(1, sizeof(*w)), **tail;
  int valid;
  if (w == NULL) return STV_ENOMEM;
  w->cb = cb;
  w->ctx = ctx;
  for (tail = &cc->waiters; *tail != NULL; tail = &(*tail)->next) {
  }
  *tail = w;
  if (cc->refreshing) return 0;
  valid = cc->have && cc->expires - stv_clock_now(cc->clock) > REFRESH_BEFORE;
  /* Both ways end from a timer, never from inside this call. */
  if (!force && valid) {
    if (stv_clock_start(cc->clock, &cc->deliver, 0, on_deliver, cc) == 0) return 0;
  } else {
    stv_clock_stop(cc->clock, &cc->deliver);
    if (stv_clock_start(cc->clock, &cc->deliver, 0, on_kick, cc) == 0) {
      cc->refreshing = 1;
      return 0;
    }
  }
  *tail = NULL;
  stv_free(w);
  return STV_ENOMEM;
}
