/*
 * kubeclient: Stevedore's Kubernetes API client (docs/kube-client.md).
 *
 *   kubeconfig.c  where the API server is and who we are: a kubeconfig
 *                 (one file, or KUBECONFIG's list merged as kubectl merges
 *                 it) or the in-cluster service account; tokens, token
 *                 files re-read when they change, client certificates,
 *                 exec credential plugins (client.authentication.k8s.io/v1
 *                 and v1beta1) cached until they expire;
 *   kubeclient.c  requests over the I/O layer (libcurl on the libuv loop):
 *                 authentication, Status objects turned into errors that
 *                 keep reason and code, Retry-After, get/create/update/
 *                 patch/delete, paginated lists;
 *   reflector.c   list then watch of one resource, events parsed one at a
 *                 time as they arrive, resumed from the last
 *                 resourceVersion, relist on 410, backoff with jitter.
 *
 * Everything runs on the caller's loop thread; callbacks run from uv_run.
 * If a function taking a callback returns an error, the callback is never
 * called.
 */
#ifndef STV_KUBECLIENT_H
#define STV_KUBECLIENT_H

#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "io.h"
#include "jsonstream.h"
#include "snapshot.h"

/* ---------------------------------------------------------------------- */
/* Configuration                                                          */

/* An exec credential plugin's settings and its last answer (kubeconfig.c). */
struct stv_kube_exec;

/*
 * Where the API server is and how to authenticate, resolved from one
 * context. Strings are owned; NULL when unset. Filled by the loaders below,
 * freed with stv_kube_config_free.
 */
struct stv_kube_config {
  char *origin;  /* the file that named the context ("in-cluster" for the service account) */
  char *context; /* context name (NULL in-cluster) */
  char *cluster; /* cluster name, for messages */
  char *user;    /* user name, for messages */
  char *server;  /* "https://host:port", no trailing '/' */
  char *nspace;  /* the context's namespace, or "default" */
  char *ca_file; /* certificate-authority, absolute */
  char *ca_pem;  /* certificate-authority-data, decoded */
  size_t ca_pem_len;
  char *cert_file, *key_file; /* client-certificate, client-key */
  char *cert_pem, *key_pem;   /* client-certificate-data, client-key-data, decoded */
  size_t cert_pem_len, key_pem_len;
  char *token;      /* a bearer token (the kubeconfig's, or the token file's last read) */
  char *token_file; /* tokenFile, or the service account's token: re-read when it changes */
  char *basic;      /* "user:password", for username/password users */
  int insecure;     /* insecure-skip-tls-verify: true */
  struct stv_kube_exec *exec;
  /* The token file as last read: re-read when any of these change. */
  dev_t tf_dev;
  ino_t tf_ino;
  int64_t tf_mtime_ns;
  off_t tf_size;
};

/*
 * Loads the kubeconfig at path (borrowed), or, when path is NULL, the files
 * KUBECONFIG lists (':'-separated, merged as kubectl merges them: the first
 * file to name a cluster, user or context wins, and the first to set
 * current-context), then ~/.kube/config, then the in-cluster
 * configuration. context (borrowed, may be NULL) overrides current-context.
 * *out receives the configuration (free with stv_kube_config_free).
 * Returns 0, -errno (a file that cannot be read), STV_EPARSE (bad YAML or
 * base64, a field of the wrong type), STV_ENOTFOUND (no such context,
 * cluster or user; no configuration at all) or STV_EUNSUPPORTED, with err
 * naming the file, the context, user or cluster and the field.
 */
int stv_kube_config_load(struct stv_kube_config **out, const char *path, const char *context,
                         struct stv_err *err);

/*
 * The in-cluster configuration: KUBERNETES_SERVICE_HOST and _PORT (an IPv6
 * host in brackets), the service account's token and ca.crt and namespace
 * under dir (borrowed; NULL: /var/run/secrets/kubernetes.io/serviceaccount).
 * Returns 0, STV_ENOTFOUND (not in a cluster: the variables are unset) or
 * -errno (the token or CA cannot be read), with err filled.
 */
int stv_kube_config_in_cluster(struct stv_kube_config **out, const char *dir, struct stv_err *err);

/* Frees c and everything it owns; c may be NULL. */
void stv_kube_config_free(struct stv_kube_config *c);

/* Flags of stv_kube_config_refresh. */
#define STV_KUBE_REFRESH_FORCE   1 /* the server refused the credentials: read or run again */
#define STV_KUBE_REFRESH_NO_EXEC 2 /* use the exec plugin's last answer, never run it */

/*
 * Brings the credentials up to date: re-reads the token file when it
 * changed, runs the exec plugin when it has no answer or its answer has
 * expired (refresh STV_KUBE_REFRESH_FORCE: also when the server refused
 * the last one; STV_KUBE_REFRESH_NO_EXEC: never, its last answer is used).
 * Then c->token holds the bearer token to send (or NULL), and
 * stv_kube_config_exec_pem the client certificate an exec plugin gave.
 * The plugin runs to completion before this returns (up to 60 s): the
 * client runs it off the loop, on libuv's thread pool. Returns
 * 0 or an error naming the file, the user and the plugin or token file:
 *   "/home/a/.kube/config: user \"eks\": exec plugin \"aws\" exited with
 *   status 255: <its standard error>".
 */
int stv_kube_config_refresh(struct stv_kube_config *c, int refresh, struct stv_err *err);

/* 1 when stv_kube_config_refresh(c, refresh) would run the exec plugin. */
int stv_kube_config_exec_due(const struct stv_kube_config *c, int refresh);

/*
 * The client certificate and key (PEM) of the exec plugin's last answer,
 * borrowed until the next refresh; both NULL when it gave a token.
 */
void stv_kube_config_exec_pem(const struct stv_kube_config *c, const char **cert, size_t *cert_len,
                              const char **key, size_t *key_len);

/*
 * Decodes standard base64 text (line breaks allowed) through OpenSSL into
 * *out (caller frees with stv_free, NUL-terminated) and *len. Returns 0,
 * STV_EPARSE (not base64) or STV_ENOMEM.
 */
int stv_kube_base64_decode(const char *text, char **out, size_t *len);

/* ---------------------------------------------------------------------- */
/* Client                                                                 */

struct stv_kube;

/*
 * An API error kept whole: the HTTP status, the Status object's reason
 * ("NotFound", "Conflict", "Expired", "Gone", "TooManyRequests",
 * "Unauthorized", "Forbidden", ... or "" when the answer had none) and the
 * Retry-After header in seconds (0 when absent).
 */
struct stv_kube_error {
  long status;
  char reason[48];
  double retry_after;
};

/*
 * Called once per request, on the loop thread: rc 0 with status 2xx and the
 * parsed body (borrowed, NULL for an empty body); or an error: rc an STV_
 * code (STV_ENOTFOUND 404, STV_ECONFLICT 409, STV_ETHROTTLED 429,
 * STV_EINVAL 400/422, -EACCES 401/403, STV_EIO 5xx and transport errors,
 * STV_ETIMEDOUT, STV_EPARSE a body that is not JSON, STV_ELIMIT a body over
 * the cap), ke with the status, reason and Retry-After, err with the whole
 * message: "GET https://h/api/v1/pods: 403 Forbidden: pods is forbidden:
 * ...".
 */
typedef void (*stv_kube_done_cb)(void *ctx, int rc, cJSON *body, const struct stv_kube_error *ke,
                                 const struct stv_err *err);

/*
 * Creates a client on loop (borrowed). Takes ownership of cfg (also on
 * error). Returns 0 or STV_ENOMEM.
 */
int stv_kube_new(struct stv_kube **out, uv_loop_t *loop, struct stv_kube_config *cfg, struct stv_err *err);

/*
 * Ends every request (done callbacks with -ECANCELED) and frees the client
 * once the loop has closed its handles: run the loop until it is empty. k
 * may be NULL. Not from inside one of the client's callbacks. Stop every
 * reflector of k first (stv_reflector_stop).
 */
void stv_kube_free(struct stv_kube *k);

/* The configuration the client uses (borrowed). */
struct stv_kube_config *stv_kube_config_of(struct stv_kube *k);

/* The loop of the client (borrowed). */
uv_loop_t *stv_kube_loop(struct stv_kube *k);

/* The HTTP layer under the client (borrowed), for streams (reflector.c). */
struct stv_http *stv_kube_http(struct stv_kube *k);

/* Largest answer read whole by stv_kube_request: 128 MiB. */
#define STV_KUBE_BODY_MAX ((size_t)128 << 20)

/* One request: path ("/api/v1/pods?limit=500", borrowed) under the server. */
struct stv_kube_call {
  const char *method;       /* GET, POST, PUT, PATCH, DELETE */
  const char *path;         /* starting with '/' */
  const cJSON *body;        /* sent as JSON, or NULL */
  const char *content_type; /* NULL: application/json; patches name theirs */
  long timeout_ms;          /* 0: 60 s */
  size_t max_body;          /* 0: STV_KUBE_BODY_MAX */
};

/*
 * Sends c (borrowed, copied) and calls done once with the answer. A 401 is
 * retried once with fresh credentials (the token file re-read, the exec
 * plugin run again). Returns 0, or an error (credentials, a bad path) with
 * done never called.
 */
int stv_kube_request(struct stv_kube *k, const struct stv_kube_call *c, stv_kube_done_cb done, void *ctx,
                     struct stv_err *err);

/* Content types of the patch helpers. */
#define STV_KUBE_MERGE_PATCH     "application/merge-patch+json"
#define STV_KUBE_STRATEGIC_PATCH "application/strategic-merge-patch+json"

/* The verbs, as stv_kube_request with the method filled in; path is the object's (or the collection's for create). */
int stv_kube_get(struct stv_kube *k, const char *path, stv_kube_done_cb done, void *ctx, struct stv_err *err);
int stv_kube_create(struct stv_kube *k, const char *path, const cJSON *obj, stv_kube_done_cb done, void *ctx,
                    struct stv_err *err);
int stv_kube_update(struct stv_kube *k, const char *path, const cJSON *obj, stv_kube_done_cb done, void *ctx,
                    struct stv_err *err);
int stv_kube_patch(struct stv_kube *k, const char *path, const char *patch_type, const cJSON *patch,
                   stv_kube_done_cb done, void *ctx, struct stv_err *err);
int stv_kube_delete(struct stv_kube *k, const char *path, stv_kube_done_cb done, void *ctx,
                    struct stv_err *err);

/*
 * Calls ready (on the loop thread) once the credentials are ready to use:
 * at once when no exec plugin needs to run; else once the plugin, run on
 * libuv's thread pool, has answered (rc 0) or failed (rc and err). Any
 * number of callers may wait for one run. refresh as for
 * stv_kube_config_refresh. Returns 0 or STV_ENOMEM (ready then never
 * called).
 */
typedef void (*stv_kube_ready_cb)(void *ctx, int rc, const struct stv_err *err);
int stv_kube_when_ready(struct stv_kube *k, int refresh, stv_kube_ready_cb ready, void *ctx,
                        struct stv_err *err);

/*
 * Brings the token file up to date (never runs the exec plugin: see
 * stv_kube_when_ready) and fills the headers every request of k sends (Authorization, Accept,
 * User-Agent, and Content-Type when content_type is not NULL),
 * NULL-terminated, into lines (STV_KUBE_HEADERS_MAX + 1 entries; the
 * strings are borrowed from k until the next call), and tls with the TLS
 * settings. For streams the client does not run itself (watches). Returns
 * 0 or the credentials' error.
 */
#define STV_KUBE_HEADERS_MAX 5
int stv_kube_prepare(struct stv_kube *k, int refresh, const char *content_type, const char **lines,
                     struct stv_http_tls *tls, struct stv_err *err);

/*
 * Turns a finished answer into (rc, ke, err): the HTTP status, a Status
 * object in body (may be NULL, borrowed) and the transport result. what
 * names the request in messages ("GET https://h/api/v1/pods"). Returns rc.
 */
int stv_kube_answer_error(const char *what, const struct stv_http_result *res, long status, const cJSON *body,
                          double retry_after, struct stv_kube_error *ke, struct stv_err *err);

/* Reads a Retry-After header line into *seconds; returns 1 when it was one. */
int stv_kube_retry_after(const char *line, size_t len, double *seconds);

/* ---------------------------------------------------------------------- */
/* Paginated list                                                         */

/*
 * Called for each item of a list as its pages arrive (item borrowed, with
 * its kind filled from the list's). Returns 0 or a negative STV_ code
 * (err filled) to stop.
 */
typedef int (*stv_kube_item_cb)(void *ctx, const cJSON *item, struct stv_err *err);

/*
 * Called once when the list is complete (rc 0, with the list's
 * resourceVersion) or failed (rc, ke and err as for stv_kube_done_cb, or
 * the item callback's code).
 */
typedef void (*stv_kube_list_done_cb)(void *ctx, int rc, const char *resource_version,
                                      const struct stv_kube_error *ke, const struct stv_err *err);

/*
 * Lists path ("/api/v1/pods", borrowed) page by page (limit items each,
 * 0: 500), following metadata.continue. Returns 0 or an error with done
 * never called.
 */
int stv_kube_list(struct stv_kube *k, const char *path, long limit, stv_kube_item_cb on_item,
                  stv_kube_list_done_cb done, void *ctx, struct stv_err *err);

/*
 * The blocking form for commands that run to completion: runs the loop
 * until the list is done. Returns 0 or the error, with ke (may be NULL)
 * and err filled.
 */
int stv_kube_list_sync(struct stv_kube *k, uv_loop_t *loop, const char *path, long limit,
                       stv_kube_item_cb on_item, void *ctx, struct stv_kube_error *ke, struct stv_err *err);

/* ---------------------------------------------------------------------- */
/* Reflector: list then watch                                             */

struct stv_reflector;

enum stv_watch_event { STV_WATCH_ADDED, STV_WATCH_MODIFIED, STV_WATCH_DELETED };

/*
 * What a reflector reports, on the loop thread; every pointer borrowed for
 * the call. on_event gets each object of the lists (as ADDED) and of the
 * watch events; on_synced follows the end of each complete list (first
 * sync and every relist: objects that disappeared in between are then
 * reported DELETED before it, so the caller's state equals the server's);
 * on_error is told of each failure that a retry follows (delay in seconds).
 * on_event returns 0; anything else ends the list or watch under way,
 * which is then retried as after an error.
 */
struct stv_reflector_cbs {
  int (*on_event)(void *ctx, enum stv_watch_event type, const cJSON *obj, const char *resource_version);
  void (*on_synced)(void *ctx, const char *resource_version);
  void (*on_error)(void *ctx, const struct stv_err *err, double retry_in);
  void *ctx;
};

/* Backoff of a reflector: exponential with jitter, as client-go's. */
struct stv_reflector_opts {
  const char *path;     /* the collection, "/api/v1/pods" (borrowed, copied) */
  long page_limit;      /* list page size; 0: 500 */
  long watch_timeout_s; /* timeoutSeconds of each watch; 0: 300 */
  double backoff_min_s; /* first delay after an error; 0: 0.8 */
  double backoff_max_s; /* cap; 0: 30 */
  double jitter;        /* each delay times 1 + jitter * random[0,1); 0: 1.0; negative: none */
  size_t max_event;     /* largest watch event; 0: STV_JSON_VALUE_MAX (16 MiB) */
};

/*
 * Starts listing and watching o->path on k. cbs is copied. *out receives
 * the reflector, stopped with stv_reflector_stop. Returns 0 or an error.
 */
int stv_reflector_start(struct stv_reflector **out, struct stv_kube *k, const struct stv_reflector_opts *o,
                        const struct stv_reflector_cbs *cbs, struct stv_err *err);

/*
 * Stops r: no callback after this returns; its request is cancelled and r
 * freed from the loop. r may be NULL.
 */
void stv_reflector_stop(struct stv_reflector *r);

/* What a reflector did, for tests and metrics. */
struct stv_reflector_stats {
  size_t lists;   /* complete lists (1 + relists) */
  size_t watches; /* watch requests started */
  size_t events;  /* watch events applied (bookmarks excluded) */
  size_t bookmarks;
  size_t gone;         /* 410 answers or ERROR events that made it relist */
  size_t errors;       /* failures followed by a backoff */
  size_t throttled;    /* 429 answers */
  double last_delay_s; /* the last backoff delay */
};
void stv_reflector_get_stats(const struct stv_reflector *r, struct stv_reflector_stats *st);

/* ---------------------------------------------------------------------- */
/* Reading the live cluster (kubelive.c)                                  */

/*
 * Reads the cluster that kubeconfig (borrowed; NULL: KUBECONFIG, then
 * ~/.kube/config, then in-cluster) and context (may be NULL) name: one
 * paginated list of each kind the snapshot reader takes (nodes, pods,
 * poddisruptionbudgets, namespaces, persistentvolumeclaims,
 * persistentvolumes, storageclasses, csinodes), each item handed to cb as
 * the snapshot files' reader hands it (its kind filled in; index counts
 * the items of each list). A kind the server does not serve (404) is left
 * out with a note (note may be NULL); a 403 is an error naming the
 * resource and the verb. Runs a loop of its own until done. Returns 0 or
 * the error, with err naming the kind and the server.
 */
int stv_kube_read_cluster(const char *kubeconfig, const char *context, stv_json_item_cb cb, void *ctx,
                          stv_snapshot_note_fn note, void *note_ctx, struct stv_err *err);

/* An item callback for stv_kube_read_cluster that adds to a snapshot: ctx is a struct stv_kube_snapshot_sink. */
struct stv_kube_snapshot_sink {
  struct stv_snapshot *snap;
  struct stv_snapshot_read_stats *stats; /* may be NULL */
};
int stv_kube_snapshot_item(void *ctx, long index, const cJSON *item, struct stv_err *err);

#endif
