/*
 * kubeconfig: where the API server is and who we are (kubeclient.h,
 * docs/kube-client.md).
 *
 * A kubeconfig is read with the project's YAML reader (kubeinput.h), one
 * cJSON tree per file. Several files (KUBECONFIG) are not merged into one
 * tree: each lookup walks them in order and the first file that names the
 * cluster, user or context wins, which is kubectl's rule, and relative
 * paths are resolved against the folder of the file the entry came from,
 * as kubectl resolves them before merging.
 */
#include "kubeclient.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kubeinput.h"

extern char **environ;

/* The largest kubeconfig, token file and exec plugin answer read. */
#define KCFG_FILE_MAX   ((size_t)16 << 20)
#define TOKEN_MAX       ((size_t)1 << 20)
#define EXEC_OUT_MAX    ((size_t)1 << 20)
#define EXEC_ERR_MAX    ((size_t)4096)
#define EXEC_TIMEOUT_MS 60000
#define KCFG_FILES_MAX  64

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct stv_kube_exec {
  char *origin; /* the file that defined the user */
  char *api_version;
  char *command;
  char **argv; /* command, args..., NULL */
  char **env;  /* "NAME=value", NULL-terminated */
  char *install_hint;
  int provide_cluster_info;
  /* The last answer. */
  int have;
  int64_t expires; /* unix seconds; 0: none given */
  char *token;
  char *cert_pem, *key_pem;
  size_t cert_pem_len, key_pem_len;
};

/* One kubeconfig file of the list. */
struct kfile {
  char *path;
  char *dir; /* for relative paths */
  cJSON *root;
};

struct kset {
  struct kfile f[KCFG_FILES_MAX];
  size_t n;
};

static void kset_close(struct kset *s) {
  for (size_t i = 0; i < s->n; i++) {
    stv_free(s->f[i].path);
    stv_free(s->f[i].dir);
    cJSON_Delete(s->f[i].root);
  }
  s->n = 0;
}

/* ---------------------------------------------------------------------- */
/* Reading files                                                          */

struct one_doc {
  cJSON *root;
  int count;
};

static int take_doc(void *ctx, long index, const cJSON *item, struct stv_err *err) {
  struct one_doc *d = ctx;
  if (index >= 0 || d->count++ > 0)
    return stv_err_set(err, STV_EPARSE,
                       "a kubeconfig is one mapping (kind: Config), not a list or several documents");
  if ((d->root = cJSON_Duplicate(item, 1)) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  return 0;
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char cwd[PATH_MAX];
  if (slash == path) return stv_strdup("/");
  if (slash != NULL) return stv_strndup(path, (size_t)(slash - path));
  if (getcwd(cwd, sizeof(cwd)) == NULL) return stv_strdup(".");
  return stv_strdup(cwd);
}

/* Reads path into the set; a missing file is skipped when optional (KUBECONFIG's list). */
static int kset_add(struct kset *s, const char *path, int optional, struct stv_err *err) {
  struct one_doc d = {0};
  struct stat st;
  struct kfile *f;
  int rc;
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->f[i].path, path) == 0) return 0; /* listed twice: read once, as kubectl */
  if (s->n == KCFG_FILES_MAX)
    return stv_err_set(err, STV_ELIMIT, "KUBECONFIG: more than %d files", KCFG_FILES_MAX);
  if (stat(path, &st) != 0) {
    if (optional && errno == ENOENT) return 0;
    return stv_err_set(err, -errno, "%s: cannot read kubeconfig: %s", path, stv_strerror(-errno));
  }
  if (S_ISDIR(st.st_mode)) return stv_err_set(err, -EISDIR, "%s: is a directory, not a kubeconfig", path);
  if ((size_t)st.st_size > KCFG_FILE_MAX)
    return stv_err_set(err, STV_ELIMIT, "%s: larger than 16 MiB, too large for a kubeconfig", path);
  if (st.st_size > 0) {
    if ((rc = stv_kube_read(path, take_doc, &d, NULL, err)) != 0) {
      cJSON_Delete(d.root);
      return rc;
    }
    if (d.root != NULL && !cJSON_IsObject(d.root)) {
      cJSON_Delete(d.root);
      return stv_err_set(err, STV_EPARSE, "%s: not a kubeconfig (a mapping with clusters, users, contexts)",
                         path);
    }
  }
  f = &s->f[s->n];
  f->root = d.root;
  f->path = stv_strdup(path);
  f->dir = dir_of(path);
  if (f->path == NULL || f->dir == NULL) {
    s->n++;
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  s->n++;
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Fields                                                                 */

/* Where a field is, for messages: the file and the entry. */
struct where {
  const struct kfile *f;
  const char *what; /* "cluster", "user", "context" */
  const char *name;
};

static int fail(struct stv_err *err, const struct where *w, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(struct stv_err *err, const struct where *w, int code, const char *field, const char *fmt,
                ...) {
  char why[STV_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  if (field != NULL)
    return stv_err_set(err, code, "%s: %s \"%s\": %s: %s", w->f->path, w->what, w->name, field, why);
  return stv_err_set(err, code, "%s: %s \"%s\": %s", w->f->path, w->what, w->name, why);
}

/* A string field of obj: *out NULL when absent or empty; STV_EPARSE when not a string. */
static int str_field(const cJSON *obj, const char *key, const struct where *w, const char **out,
                     struct stv_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  *out = NULL;
  if (v == NULL || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v)) return fail(err, w, STV_EPARSE, key, "not a string");
  if (v->valuestring[0] != '\0') *out = v->valuestring;
  return 0;
}

static int bool_field(const cJSON *obj, const char *key, const struct where *w, int *out,
                      struct stv_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  *out = 0;
  if (v == NULL || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsBool(v)) return fail(err, w, STV_EPARSE, key, "not true or false");
  *out = cJSON_IsTrue(v);
  return 0;
}

/* A path field resolved against the entry's file's folder, as kubectl does. */
static int path_field(const cJSON *obj, const char *key, const struct where *w, char **out,
                      struct stv_err *err) {
  const char *s;
  int rc;
  *out = NULL;
  if ((rc = str_field(obj, key, w, &s, err)) != 0 || s == NULL) return rc;
  if (s[0] == '/') {
    *out = stv_strdup(s);
  } else {
    size_t n = strlen(w->f->dir) + strlen(s) + 2;
    if ((*out = stv_malloc(n)) != NULL) snprintf(*out, n, "%s/%s", w->f->dir, s);
  }
  return *out == NULL ? stv_err_set(err, STV_ENOMEM, "out of memory") : 0;
}

int stv_kube_base64_decode(const char *text, char **out, size_t *len) {
  size_t n = strlen(text), m = 0, pad = 0;
  char *clean = stv_malloc(n + 1), *dec = NULL;
  int got;
  *out = NULL;
  *len = 0;
  if (clean == NULL) return STV_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (text[i] != '\n' && text[i] != '\r') clean[m++] = text[i];
  clean[m] = '\0';
  if (m % 4 != 0) {
    stv_free(clean);
    return STV_EPARSE;
  }
  if ((dec = stv_malloc(m / 4 * 3 + 1)) == NULL) {
    stv_free(clean);
    return STV_ENOMEM;
  }
  got = m == 0 ? 0 : EVP_DecodeBlock((unsigned char *)dec, (const unsigned char *)clean, (int)m);
  if (m >= 1 && clean[m - 1] == '=') pad++;
  if (m >= 2 && clean[m - 2] == '=') pad++;
  stv_free(clean);
  if (got < 0 || (size_t)got < pad) {
    stv_free(dec);
    return STV_EPARSE;
  }
  dec[got - (int)pad] = '\0';
  *out = dec;
  *len = (size_t)got - pad;
  return 0;
}

/* A *-data field: base64 decoded into *out. */
static int data_field(const cJSON *obj, const char *key, const struct where *w, char **out, size_t *len,
                      struct stv_err *err) {
  const char *s;
  int rc;
  *out = NULL;
  *len = 0;
  if ((rc = str_field(obj, key, w, &s, err)) != 0 || s == NULL) return rc;
  rc = stv_kube_base64_decode(s, out, len);
  if (rc == STV_EPARSE) return fail(err, w, rc, key, "not valid base64 (standard alphabet, '=' padding)");
  if (rc != 0) return stv_err_set(err, rc, "out of memory");
  return 0;
}

/* The entry named name in section ("clusters") of the first file that has one, and its body ("cluster"). */
static int find_entry(const struct kset *s, const char *section, const char *body_key, const char *name,
                      struct where *w, const cJSON **body, struct stv_err *err) {
  for (size_t i = 0; i < s->n; i++) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(s->f[i].root, section), *e;
    if (list == NULL || cJSON_IsNull(list)) continue;
    if (!cJSON_IsArray(list))
      return stv_err_set(err, STV_EPARSE, "%s: %s: not a list", s->f[i].path, section);
    cJSON_ArrayForEach(e, list) {
      const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name");
      if (!cJSON_IsString(n) || strcmp(n->valuestring, name) != 0) continue;
      w->f = &s->f[i];
      w->name = n->valuestring;
      *body = cJSON_GetObjectItemCaseSensitive(e, body_key);
      if (*body != NULL && !cJSON_IsObject(*body)) return fail(err, w, STV_EPARSE, body_key, "not a mapping");
      return 0;
    }
  }
  *body = NULL;
  w->f = NULL;
  return STV_ENOTFOUND;
}

/* ---------------------------------------------------------------------- */
/* Resolving one context                                                  */

static int read_cluster(struct stv_kube_config *c, const struct where *w, const cJSON *b,
                        struct stv_err *err) {
  const char *server, *s;
  size_t n;
  int rc;
  if ((rc = str_field(b, "server", w, &server, err)) != 0) return rc;
  if (server == NULL)
    return fail(err, w, STV_EPARSE, "server", "missing (the API server's URL, https://host:port)");
  if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
    return fail(err, w, STV_EPARSE, "server", "\"%s\" is not an http:// or https:// URL", server);
  if ((c->server = stv_strdup(server)) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  n = strlen(c->server);
  while (n > 0 && c->server[n - 1] == '/') c->server[--n] = '\0';
  if ((rc = bool_field(b, "insecure-skip-tls-verify", w, &c->insecure, err)) != 0) return rc;
  if ((rc = data_field(b, "certificate-authority-data", w, &c->ca_pem, &c->ca_pem_len, err)) != 0) return rc;
  if (c->ca_pem == NULL && (rc = path_field(b, "certificate-authority", w, &c->ca_file, err)) != 0) return rc;
  if (c->ca_file != NULL && access(c->ca_file, R_OK) != 0)
    return fail(err, w, -errno, "certificate-authority", "%s: %s", c->ca_file, stv_strerror(-errno));
  if ((rc = str_field(b, "tls-server-name", w, &s, err)) != 0) return rc;
  if (s != NULL) return fail(err, w, STV_EUNSUPPORTED, "tls-server-name", "not supported by stevedore yet");
  if ((rc = str_field(b, "proxy-url", w, &s, err)) != 0) return rc;
  if (s != NULL)
    return fail(err, w, STV_EUNSUPPORTED, "proxy-url",
                "not supported by stevedore yet (HTTPS_PROXY is honoured)");
  return 0;
}

static int strv_push(char ***v, size_t *n, char *s) {
  char **nv;
  if (s == NULL) return STV_ENOMEM;
  if ((nv = stv_realloc(*v, (*n + 2) * sizeof(**v))) == NULL) {
    stv_free(s);
    return STV_ENOMEM;
  }
  nv[(*n)++] = s;
  nv[*n] = NULL;
  *v = nv;
  return 0;
}

static void strv_free(char **v) {
  for (size_t i = 0; v != NULL && v[i] != NULL; i++) stv_free(v[i]);
  stv_free(v);
}

static void exec_free(struct stv_kube_exec *x) {
  if (x == NULL) return;
  stv_free(x->origin);
  stv_free(x->api_version);
  stv_free(x->command);
  strv_free(x->argv);
  strv_free(x->env);
  stv_free(x->install_hint);
  stv_free(x->token);
  stv_free(x->cert_pem);
  stv_free(x->key_pem);
  stv_free(x);
}

/* The exec plugin's arguments and environment. */
static int read_exec_lists(struct stv_kube_exec *x, const struct where *w, const cJSON *b,
                           struct stv_err *err) {
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(b, "args");
  const cJSON *env = cJSON_GetObjectItemCaseSensitive(b, "env"), *e;
  size_t na = 0, ne = 0;
  if (strv_push(&x->argv, &na, stv_strdup(x->command)) != 0)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (args != NULL && !cJSON_IsNull(args) && !cJSON_IsArray(args))
    return fail(err, w, STV_EPARSE, "exec.args", "not a list");
  cJSON_ArrayForEach(e, args) {
    if (!cJSON_IsString(e)) return fail(err, w, STV_EPARSE, "exec.args", "an argument is not a string");
    if (strv_push(&x->argv, &na, stv_strdup(e->valuestring)) != 0)
      return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  if (env != NULL && !cJSON_IsNull(env) && !cJSON_IsArray(env))
    return fail(err, w, STV_EPARSE, "exec.env", "not a list");
  cJSON_ArrayForEach(e, env) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name"),
                *v = cJSON_GetObjectItemCaseSensitive(e, "value");
    size_t len;
    char *s;
    if (!cJSON_IsString(n) || n->valuestring[0] == '\0' || strchr(n->valuestring, '=') != NULL ||
        (v != NULL && !cJSON_IsString(v)))
      return fail(err, w, STV_EPARSE, "exec.env", "each entry needs a name (without '=') and a string value");
    len = strlen(n->valuestring) + (v ? strlen(v->valuestring) : 0) + 2;
    if ((s = stv_malloc(len)) != NULL) snprintf(s, len, "%s=%s", n->valuestring, v ? v->valuestring : "");
    if (strv_push(&x->env, &ne, s) != 0) return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  return 0;
}

static int read_exec(struct stv_kube_config *c, const struct where *w, const cJSON *b, struct stv_err *err) {
  struct stv_kube_exec *x;
  const char *api, *mode, *hint, *cmd;
  int rc;
  if ((x = c->exec = stv_calloc(1, sizeof(*x))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if ((rc = str_field(b, "apiVersion", w, &api, err)) != 0) return rc;
  if (api == NULL || (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
                      strcmp(api, "client.authentication.k8s.io/v1beta1") != 0))
    return fail(err, w, STV_EUNSUPPORTED, "exec.apiVersion",
                "\"%s\": use client.authentication.k8s.io/v1 or v1beta1", api ? api : "");
  if ((rc = str_field(b, "interactiveMode", w, &mode, err)) != 0) return rc;
  if (mode == NULL && strcmp(api, "client.authentication.k8s.io/v1") == 0)
    return fail(err, w, STV_EPARSE, "exec.interactiveMode",
                "missing (required by client.authentication.k8s.io/v1)");
  if (mode != NULL && strcmp(mode, "Always") == 0)
    return fail(err, w, STV_EUNSUPPORTED, "exec.interactiveMode",
                "Always: stevedore runs credential plugins without a terminal (use Never or IfAvailable)");
  if (mode != NULL && strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0)
    return fail(err, w, STV_EPARSE, "exec.interactiveMode", "\"%s\": use Never or IfAvailable", mode);
  if ((rc = str_field(b, "installHint", w, &hint, err)) != 0) return rc;
  if ((rc = bool_field(b, "provideClusterInfo", w, &x->provide_cluster_info, err)) != 0) return rc;
  if ((rc = str_field(b, "command", w, &cmd, err)) != 0) return rc;
  if (cmd == NULL) return fail(err, w, STV_EPARSE, "exec.command", "missing");
  if (strchr(cmd, '/') != NULL) {
    if ((rc = path_field(b, "command", w, &x->command, err)) != 0) return rc;
  } else if ((x->command = stv_strdup(cmd)) == NULL) {
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  }
  x->api_version = stv_strdup(api);
  x->origin = stv_strdup(w->f->path);
  x->install_hint = hint ? stv_strdup(hint) : NULL;
  if (x->api_version == NULL || x->origin == NULL || (hint != NULL && x->install_hint == NULL))
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  return read_exec_lists(x, w, b, err);
}

static int read_user(struct stv_kube_config *c, const struct where *w, const cJSON *b, struct stv_err *err) {
  const char *token, *user, *pass;
  const cJSON *exec = cJSON_GetObjectItemCaseSensitive(b, "exec");
  const cJSON *ap = cJSON_GetObjectItemCaseSensitive(b, "auth-provider");
  int rc, methods = 0;
  if (b == NULL) return 0; /* a user with no fields: no credentials */
  if ((rc = data_field(b, "client-certificate-data", w, &c->cert_pem, &c->cert_pem_len, err)) != 0) return rc;
  if (c->cert_pem == NULL && (rc = path_field(b, "client-certificate", w, &c->cert_file, err)) != 0)
    return rc;
  if ((rc = data_field(b, "client-key-data", w, &c->key_pem, &c->key_pem_len, err)) != 0) return rc;
  if (c->key_pem == NULL && (rc = path_field(b, "client-key", w, &c->key_file, err)) != 0) return rc;
  if (c->cert_file != NULL && access(c->cert_file, R_OK) != 0)
    return fail(err, w, -errno, "client-certificate", "%s: %s", c->cert_file, stv_strerror(-errno));
  if (c->key_file != NULL && access(c->key_file, R_OK) != 0)
    return fail(err, w, -errno, "client-key", "%s: %s", c->key_file, stv_strerror(-errno));
  if ((c->cert_pem || c->cert_file) != (c->key_pem || c->key_file))
    return fail(err, w, STV_EPARSE, NULL, "a client certificate needs its key, and a key its certificate");
  if ((rc = str_field(b, "token", w, &token, err)) != 0) return rc;
  if (token != NULL && (c->token = stv_strdup(token)) == NULL)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (token == NULL && (rc = path_field(b, "tokenFile", w, &c->token_file, err)) != 0) return rc;
  if ((rc = str_field(b, "username", w, &user, err)) != 0 ||
      (rc = str_field(b, "password", w, &pass, err)) != 0)
    return rc;
  if (user != NULL || pass != NULL) {
    size_t n = (user ? strlen(user) : 0) + (pass ? strlen(pass) : 0) + 2;
    if ((c->basic = stv_malloc(n)) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
    snprintf(c->basic, n, "%s:%s", user ? user : "", pass ? pass : "");
  }
  if (ap != NULL && !cJSON_IsNull(ap)) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(ap, "name");
    return fail(err, w, STV_EUNSUPPORTED, "auth-provider",
                "\"%s\" is not supported (kubectl dropped auth providers in 1.26: use its exec plugin)",
                cJSON_IsString(n) ? n->valuestring : "");
  }
  if (exec != NULL && !cJSON_IsNull(exec)) {
    if (!cJSON_IsObject(exec)) return fail(err, w, STV_EPARSE, "exec", "not a mapping");
    if ((rc = read_exec(c, w, exec, err)) != 0) return rc;
  }
  methods = (c->token || c->token_file) + (c->basic != NULL) + (c->exec != NULL);
  if (methods > 1)
    return fail(err, w, STV_EPARSE, NULL,
                "more than one of token/tokenFile, username/password and exec is set; "
                "only one is allowed");
  return 0;
}

/* The context named name (or current-context) of the set into c. */
static int resolve(struct stv_kube_config *c, const struct kset *s, const char *name, struct stv_err *err) {
  struct where wc = {.what = "context"}, wk = {.what = "cluster"}, wu = {.what = "user"};
  const cJSON *ctx, *cl, *us;
  const char *cluster, *user, *ns;
  int rc;
  for (size_t i = 0; name == NULL && i < s->n; i++) {
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(s->f[i].root, "current-context");
    if (cJSON_IsString(cur) && cur->valuestring[0] != '\0') name = cur->valuestring;
  }
  if (name == NULL)
    return stv_err_set(err, STV_ENOTFOUND, "%s: no current-context is set: name one with --context",
                       s->n ? s->f[0].path : "kubeconfig");
  wc.name = name;
  rc = find_entry(s, "contexts", "context", name, &wc, &ctx, err);
  if (rc == STV_ENOTFOUND)
    return stv_err_set(err, rc, "%s: context \"%s\" not found", s->n ? s->f[0].path : "kubeconfig", name);
  if (rc != 0) return rc;
  if ((rc = str_field(ctx, "cluster", &wc, &cluster, err)) != 0 ||
      (rc = str_field(ctx, "user", &wc, &user, err)) != 0 ||
      (rc = str_field(ctx, "namespace", &wc, &ns, err)) != 0)
    return rc;
  if (cluster == NULL) return fail(err, &wc, STV_EPARSE, "cluster", "missing");
  c->origin = stv_strdup(wc.f->path);
  c->context = stv_strdup(name);
  c->cluster = stv_strdup(cluster);
  c->user = stv_strdup(user ? user : "");
  c->nspace = stv_strdup(ns ? ns : "default");
  if (!c->origin || !c->context || !c->cluster || !c->user || !c->nspace)
    return stv_err_set(err, STV_ENOMEM, "out of memory");
  wk.name = cluster;
  if ((rc = find_entry(s, "clusters", "cluster", cluster, &wk, &cl, err)) == STV_ENOTFOUND ||
      (rc == 0 && cl == NULL))
    return stv_err_set(err, STV_ENOTFOUND, "%s: context \"%s\": cluster \"%s\" not found", wc.f->path, name,
                       cluster);
  if (rc != 0 || (rc = read_cluster(c, &wk, cl, err)) != 0) return rc;
  if (user == NULL) return 0;
  wu.name = user;
  if ((rc = find_entry(s, "users", "user", user, &wu, &us, err)) == STV_ENOTFOUND)
    return stv_err_set(err, rc, "%s: context \"%s\": user \"%s\" not found", wc.f->path, name, user);
  if (rc != 0) return rc;
  return read_user(c, &wu, us, err);
}

void stv_kube_config_free(struct stv_kube_config *c) {
  if (c == NULL) return;
  stv_free(c->origin);
  stv_free(c->context);
  stv_free(c->cluster);
  stv_free(c->user);
  stv_free(c->server);
  stv_free(c->nspace);
  stv_free(c->ca_file);
  stv_free(c->ca_pem);
  stv_free(c->cert_file);
  stv_free(c->key_file);
  stv_free(c->cert_pem);
  stv_free(c->key_pem);
  stv_free(c->token);
  stv_free(c->token_file);
  stv_free(c->basic);
  exec_free(c->exec);
  stv_free(c);
}

/* Fills the set from KUBECONFIG's list, or ~/.kube/config. Returns STV_ENOTFOUND when there is neither. */
static int kset_default(struct kset *s, struct stv_err *err) {
  const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
  char path[PATH_MAX];
  int rc;
  if (env != NULL && env[0] != '\0') {
    const char *p = env;
    while (*p != '\0') {
      size_t n = strcspn(p, ":");
      if (n > 0 && n < sizeof(path)) {
        memcpy(path, p, n);
        path[n] = '\0';
        if ((rc = kset_add(s, path, 1, err)) != 0) return stv_err_prefix(err, "KUBECONFIG");
      }
      p += n + (p[n] == ':');
    }
    if (s->n == 0) return stv_err_set(err, STV_ENOTFOUND, "KUBECONFIG=%s: none of its files exists", env);
    return 0;
  }
  if (home == NULL || snprintf(path, sizeof(path), "%s/.kube/config", home) >= (int)sizeof(path))
    return STV_ENOTFOUND;
  if ((rc = kset_add(s, path, 1, err)) != 0) return rc;
  return s->n ? 0 : STV_ENOTFOUND;
}

int stv_kube_config_load(struct stv_kube_config **out, const char *path, const char *context,
                         struct stv_err *err) {
  struct kset s;
  struct stv_kube_config *c = NULL;
  int rc;
  *out = NULL;
  memset(&s, 0, sizeof(s));
  if (path != NULL)
    rc = kset_add(&s, path, 0, err);
  else
    rc = kset_default(&s, err);
  if (rc == STV_ENOTFOUND && path == NULL && context == NULL) {
    kset_close(&s);
    rc = stv_kube_config_in_cluster(out, NULL, err);
    if (rc == STV_ENOTFOUND)
      stv_err_set(err, rc,
                  "no Kubernetes configuration: give --kubeconfig FILE, set KUBECONFIG, write "
                  "~/.kube/config, or run in a cluster");
    return rc;
  }
  if (rc != 0) goto out;
  if ((c = stv_calloc(1, sizeof(*c))) == NULL) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = resolve(c, &s, context, err)) != 0) goto out;
  *out = c;
  c = NULL;
out:
  stv_kube_config_free(c);
  kset_close(&s);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* In-cluster                                                             */

int stv_kube_config_in_cluster(struct stv_kube_config **out, const char *dir, struct stv_err *err) {
  const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
  struct stv_kube_config *c;
  char path[PATH_MAX], *ns = NULL;
  size_t len, n;
  int rc;
  *out = NULL;
  if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
    return stv_err_set(err, STV_ENOTFOUND,
                       "not running in a cluster: KUBERNETES_SERVICE_HOST and "
                       "KUBERNETES_SERVICE_PORT are not set");
  if (dir == NULL) dir = SA_DIR;
  if ((c = stv_calloc(1, sizeof(*c))) == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  n = strlen(host) + strlen(port) + 16;
  c->origin = stv_strdup("in-cluster");
  if ((c->server = stv_malloc(n)) != NULL)
    snprintf(c->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
  snprintf(path, sizeof(path), "%s/token", dir);
  c->token_file = stv_strdup(path);
  snprintf(path, sizeof(path), "%s/ca.crt", dir);
  c->ca_file = stv_strdup(path);
  c->cluster = stv_strdup("in-cluster");
  c->user = stv_strdup("service account");
  if (!c->origin || !c->server || !c->token_file || !c->ca_file || !c->cluster || !c->user) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  if (access(c->ca_file, R_OK) != 0) {
    rc = stv_err_set(err, -errno, "in-cluster: %s: %s", c->ca_file, stv_strerror(-errno));
    goto out;
  }
  snprintf(path, sizeof(path), "%s/namespace", dir);
  if (stv_read_file(path, 4096, &ns, &len, NULL) == 0) {
    while (len > 0 && (ns[len - 1] == '\n' || ns[len - 1] == ' ')) ns[--len] = '\0';
  }
  c->nspace = ns && ns[0] ? ns : stv_strdup("default");
  if (ns && !ns[0]) stv_free(ns);
  if (c->nspace == NULL || (rc = stv_kube_config_refresh(c, 0, err)) != 0) {
    rc = c->nspace == NULL ? stv_err_set(err, STV_ENOMEM, "out of memory") : rc;
    goto out;
  }
  *out = c;
  return 0;
out:
  stv_kube_config_free(c);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Credentials                                                            */

/* Re-reads the token file when it changed (the kubelet rotates it by swapping a symlink). */
static int reread_token_file(struct stv_kube_config *c, struct stv_err *err) {
  struct stat st;
  char *text = NULL;
  size_t len, b = 0;
  int rc;
  if (stat(c->token_file, &st) != 0)
    return stv_err_set(err, -errno, "%s: user \"%s\": tokenFile %s: %s", c->origin, c->user, c->token_file,
                       stv_strerror(-errno));
  if (c->token != NULL && st.st_dev == c->tf_dev && st.st_ino == c->tf_ino && st.st_size == c->tf_size &&
      (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == c->tf_mtime_ns)
    return 0;
  if ((rc = stv_read_file(c->token_file, TOKEN_MAX, &text, &len, err)) != 0)
    return stv_err_prefix(err, "%s: user \"%s\": tokenFile", c->origin, c->user);
  while (b < len && (text[b] == ' ' || text[b] == '\n' || text[b] == '\r' || text[b] == '\t')) b++;
  while (len > b &&
         (text[len - 1] == ' ' || text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == '\t'))
    text[--len] = '\0';
  if (len == b) {
    stv_free(text);
    return stv_err_set(err, STV_EPARSE, "%s: user \"%s\": tokenFile %s is empty", c->origin, c->user,
                       c->token_file);
  }
  memmove(text, text + b, len - b + 1);
  stv_free(c->token);
  c->token = text;
  c->tf_dev = st.st_dev;
  c->tf_ino = st.st_ino;
  c->tf_size = st.st_size;
  c->tf_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  return 0;
}

/* KUBERNETES_EXEC_INFO: the ExecCredential the plugin is given. */
static char *exec_info(const struct stv_kube_config *c) {
  cJSON *o = cJSON_CreateObject(), *spec, *cl;
  char *s = NULL;
  if (o == NULL) return NULL;
  cJSON_AddStringToObject(o, "kind", "ExecCredential");
  cJSON_AddStringToObject(o, "apiVersion", c->exec->api_version);
  spec = cJSON_AddObjectToObject(o, "spec");
  if (spec != NULL) cJSON_AddBoolToObject(spec, "interactive", 0);
  if (spec != NULL && c->exec->provide_cluster_info &&
      (cl = cJSON_AddObjectToObject(spec, "cluster")) != NULL) {
    cJSON_AddStringToObject(cl, "server", c->server);
    if (c->insecure) cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", 1);
    if (c->ca_pem != NULL) {
      int n = 4 * (((int)c->ca_pem_len + 2) / 3);
      char *b64 = stv_malloc((size_t)n + 1);
      if (b64 != NULL) {
        EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)c->ca_pem, (int)c->ca_pem_len);
        cJSON_AddStringToObject(cl, "certificate-authority-data", b64);
        stv_free(b64);
      }
    }
  }
  s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

/* The environment of the plugin: ours, then the kubeconfig's, then KUBERNETES_EXEC_INFO. */
static char **exec_env(const struct stv_kube_config *c) {
  char **v = NULL, *info = exec_info(c), *s;
  size_t n = 0, len;
  if (info == NULL) return NULL;
  for (char **e = environ; *e != NULL; e++) {
    if (strncmp(*e, "KUBERNETES_EXEC_INFO=", 21) == 0) continue;
    if (strv_push(&v, &n, stv_strdup(*e)) != 0) goto fail;
  }
  for (char **e = c->exec->env; e != NULL && *e != NULL; e++)
    if (strv_push(&v, &n, stv_strdup(*e)) != 0) goto fail;
  len = strlen(info) + 32;
  if ((s = stv_malloc(len)) != NULL) snprintf(s, len, "KUBERNETES_EXEC_INFO=%s", info);
  if (strv_push(&v, &n, s) != 0) goto fail;
  cJSON_free(info);
  return v;
fail:
  cJSON_free(info);
  strv_free(v);
  return NULL;
}

struct drain {
  struct stv_buf out, err;
};

/* Reads the plugin's stdout and stderr until both close, for up to EXEC_TIMEOUT_MS. Returns 0 or STV_ETIMEDOUT. */
static int drain_pipes(int fo, int fe, struct drain *d) {
  struct pollfd p[2] = {{.fd = fo, .events = POLLIN}, {.fd = fe, .events = POLLIN}};
  struct timespec t0, t;
  char chunk[4096];
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (p[0].fd >= 0 || p[1].fd >= 0) {
    long left;
    clock_gettime(CLOCK_MONOTONIC, &t);
    left = EXEC_TIMEOUT_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0) return STV_ETIMEDOUT;
    if (poll(p, 2, (int)left) < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (int i = 0; i < 2; i++) {
      ssize_t got;
      if (p[i].fd < 0 || p[i].revents == 0) continue;
      got = read(p[i].fd, chunk, sizeof(chunk));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        p[i].fd = -1;
        continue;
      }
      if (i == 0 || d->err.len + (size_t)got <= EXEC_ERR_MAX)
        stv_buf_append(i == 0 ? &d->out : &d->err, chunk, (size_t)got);
    }
  }
  return 0;
}

static int pipe_cloexec(int fd[2]) {
  if (pipe(fd) != 0) return -1;
  fcntl(fd[0], F_SETFD, FD_CLOEXEC);
  fcntl(fd[1], F_SETFD, FD_CLOEXEC);
  return 0;
}

/* Runs the plugin; *status its exit status. Returns 0 or an error (cannot start, timeout). */
static int exec_run(const struct stv_kube_config *c, struct drain *d, int *status, struct stv_err *err) {
  const struct stv_kube_exec *x = c->exec;
  posix_spawn_file_actions_t fa;
  int po[2] = {-1, -1}, pe[2] = {-1, -1}, rc = 0, fa_ok = 0;
  char **env = exec_env(c);
  pid_t pid = -1;
  if (env == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
  if (pipe_cloexec(po) != 0 || pipe_cloexec(pe) != 0) {
    rc = stv_err_set(err, -errno, "cannot be started: pipe: %s", stv_strerror(-errno));
    goto out;
  }
  fa_ok = posix_spawn_file_actions_init(&fa) == 0;
  if (!fa_ok || posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
      posix_spawn_file_actions_adddup2(&fa, po[1], 1) != 0 ||
      posix_spawn_file_actions_adddup2(&fa, pe[1], 2) != 0) {
    rc = stv_err_set(err, STV_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = posix_spawnp(&pid, x->command, &fa, NULL, x->argv, env)) != 0) {
    rc = stv_err_set(err, -rc, "cannot be run: %s%s%s", stv_strerror(-rc), x->install_hint ? "; " : "",
                     x->install_hint ? x->install_hint : "");
    pid = -1;
    goto out;
  }
  close(po[1]);
  close(pe[1]);
  po[1] = pe[1] = -1;
  if ((rc = drain_pipes(po[0], pe[0], d)) != 0) {
    kill(pid, SIGKILL);
    stv_err_set(err, rc, rc == STV_ETIMEDOUT ? "did not answer within 60 s" : "could not be read: %s",
                stv_strerror(rc));
  }
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
out:
  if (fa_ok) posix_spawn_file_actions_destroy(&fa);
  for (int i = 0; i < 2; i++) {
    if (po[i] >= 0) close(po[i]);
    if (pe[i] >= 0) close(pe[i]);
  }
  strv_free(env);
  return rc;
}

/* Parses the plugin's ExecCredential into x. */
static int exec_parse(struct stv_kube_exec *x, const char *text, size_t len, struct stv_err *err) {
  cJSON *o = cJSON_ParseWithLength(text, len);
  const cJSON *kind, *api, *st, *tok, *cert, *key, *exp;
  int rc = 0;
  if (o == NULL || !cJSON_IsObject(o)) {
    rc = stv_err_set(err, STV_EPARSE, "printed no ExecCredential JSON object on its standard output");
    goto out;
  }
  kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
  api = cJSON_GetObjectItemCaseSensitive(o, "apiVersion");
  st = cJSON_GetObjectItemCaseSensitive(o, "status");
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0) {
    rc = stv_err_set(err, STV_EPARSE, "answered kind \"%s\", not ExecCredential",
                     cJSON_IsString(kind) ? kind->valuestring : "");
    goto out;
  }
  if (!cJSON_IsString(api) || strcmp(api->valuestring, x->api_version) != 0) {
    rc = stv_err_set(err, STV_EPARSE, "answered apiVersion \"%s\", but the kubeconfig asks for %s",
                     cJSON_IsString(api) ? api->valuestring : "", x->api_version);
    goto out;
  }
  if (!cJSON_IsObject(st)) {
    rc = stv_err_set(err, STV_EPARSE, "answered an ExecCredential without status");
    goto out;
  }
  tok = cJSON_GetObjectItemCaseSensitive(st, "token");
  cert = cJSON_GetObjectItemCaseSensitive(st, "clientCertificateData");
  key = cJSON_GetObjectItemCaseSensitive(st, "clientKeyData");
  exp = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
  if (cJSON_IsString(cert) != cJSON_IsString(key)) {
    rc = stv_err_set(err, STV_EPARSE, "answered clientCertificateData without clientKeyData, or the reverse");
    goto out;
  }
  if (!(cJSON_IsString(tok) && tok->valuestring[0]) && !cJSON_IsString(cert)) {
    rc = stv_err_set(err, STV_EPARSE,
                     "answered neither status.token nor status.clientCertificateData/clientKeyData");
    goto out;
  }
  x->expires = 0;
  if (exp != NULL && !cJSON_IsNull(exp)) {
    struct stv_err e2 = {0};
    if (!cJSON_IsString(exp) || stv_parse_time(exp->valuestring, &x->expires, NULL, &e2) != 0) {
      rc = stv_err_set(err, STV_EPARSE, "answered a bad status.expirationTimestamp: %s",
                       e2.msg[0] ? e2.msg : "not a string");
      goto out;
    }
  }
  stv_free(x->token);
  stv_free(x->cert_pem);
  stv_free(x->key_pem);
  x->token = cJSON_IsString(tok) && tok->valuestring[0] ? stv_strdup(tok->valuestring) : NULL;
  x->cert_pem = cJSON_IsString(cert) ? stv_strdup(cert->valuestring) : NULL;
  x->key_pem = cJSON_IsString(key) ? stv_strdup(key->valuestring) : NULL;
  x->cert_pem_len = x->cert_pem ? strlen(x->cert_pem) : 0;
  x->key_pem_len = x->key_pem ? strlen(x->key_pem) : 0;
  x->have = 1;
out:
  cJSON_Delete(o);
  return rc;
}

/* Runs the exec plugin and keeps its answer. */
static int exec_refresh(struct stv_kube_config *c, struct stv_err *err) {
  struct stv_kube_exec *x = c->exec;
  struct drain d;
  int status = 0, rc;
  stv_buf_init(&d.out);
  stv_buf_init(&d.err);
  d.out.max = EXEC_OUT_MAX;
  x->have = 0;
  if ((rc = exec_run(c, &d, &status, err)) != 0) goto out;
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    size_t n = d.err.len;
    while (n > 0 && (d.err.data[n - 1] == '\n' || d.err.data[n - 1] == '\r')) d.err.data[--n] = '\0';
    rc = stv_err_set(err, STV_EIO, "exited with status %d: %s", WEXITSTATUS(status),
                     n ? d.err.data : "(nothing on standard error)");
  } else if (WIFSIGNALED(status)) {
    rc = stv_err_set(err, STV_EIO, "was killed by signal %d", WTERMSIG(status));
  } else if (d.out.err != 0) {
    rc = stv_err_set(err, d.out.err, "printed more than 1 MiB");
  } else {
    rc = exec_parse(x, d.out.data ? d.out.data : "", d.out.len, err);
  }
out:
  if (rc != 0) {
    char why[STV_ERR_MSG_MAX];
    memcpy(why, err->msg, sizeof(why));
    stv_err_set(err, rc, "%s: user \"%s\": exec plugin \"%s\" %s", x->origin, c->user, x->command, why);
  }
  stv_buf_close(&d.out);
  stv_buf_close(&d.err);
  return rc;
}

int stv_kube_config_exec_due(const struct stv_kube_config *c, int refresh) {
  const struct stv_kube_exec *x = c->exec;
  if (x == NULL) return 0;
  return (refresh & STV_KUBE_REFRESH_FORCE) || !x->have ||
         (x->expires != 0 && (int64_t)time(NULL) >= x->expires);
}

int stv_kube_config_refresh(struct stv_kube_config *c, int refresh, struct stv_err *err) {
  if (c->exec != NULL) {
    struct stv_kube_exec *x = c->exec;
    int rc;
    if (refresh & STV_KUBE_REFRESH_NO_EXEC) {
      if (!x->have)
        return stv_err_set(err, STV_EINVAL, "%s: user \"%s\": exec plugin \"%s\" has not run yet", x->origin,
                           c->user, x->command);
    } else if (stv_kube_config_exec_due(c, refresh)) {
      if ((rc = exec_refresh(c, err)) != 0) return rc;
    }
    stv_free(c->token);
    c->token = x->token ? stv_strdup(x->token) : NULL;
    if (x->token != NULL && c->token == NULL) return stv_err_set(err, STV_ENOMEM, "out of memory");
    return 0;
  }
  if (c->token_file != NULL) {
    if (refresh & STV_KUBE_REFRESH_FORCE) c->tf_mtime_ns = -1; /* read it again even if it looks the same */
    return reread_token_file(c, err);
  }
  return 0;
}

void stv_kube_config_exec_pem(const struct stv_kube_config *c, const char **cert, size_t *cert_len,
                              const char **key, size_t *key_len) {
  const struct stv_kube_exec *x = c->exec;
  *cert = x && x->have ? x->cert_pem : NULL;
  *key = x && x->have ? x->key_pem : NULL;
  *cert_len = *cert ? x->cert_pem_len : 0;
  *key_len = *key ? x->key_pem_len : 0;
}
