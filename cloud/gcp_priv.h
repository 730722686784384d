/*
 * The GCP provider's state, shared by gcp.c (calls), gcp_token.c (access
 * tokens) and gcp_poll.c (instance polling and events). Not an interface.
 */
#ifndef STV_CLOUD_GCP_PRIV_H
#define STV_CLOUD_GCP_PRIV_H

#include <stdarg.h>
#include <stdio.h>

#include "call.h"
#include "gcp.h"
#include "gcp_internal.h"
#include "io.h"
#include "pricing.h"

#define STV__GCP_TOKEN_MAX 4096 /* longest access token accepted */

struct gcp;
struct req;

/* A group as last listed. Offerings point into the group and the string pool. */
struct gcp_group {
  char *id, *name;
  const char *type, *pool; /* the template cache's */
  enum stv_capacity_type ct;
  const char **zones;
  struct stv_cloud_offering *off;
  size_t noff;
  int64_t target;
};

struct tmpl_entry {
  char *path;
  struct stv__gcp_template t;
};

enum req_kind { REQ_GROUPS, REQ_INSTANCES, REQ_RESIZE, REQ_DELETE, REQ_POLL, REQ_REAP, REQ_PRICES };

/* A type of the catalogue fetch_prices prices (name interned in the provider's strings). */
struct price_type {
  const char *name;
  double vcpus, gib;
  int left_out; /* GPUs or local SSDs: priced with SKUs the core and memory figures do not cover */
};

typedef void (*gcp_token_fn)(struct req *r, int code, const char *msg);

/* One provider call in flight (or the provider's own: a poll, a reap). */
struct req {
  struct gcp *g;
  struct req *prev, *next; /* every request, for close */
  enum req_kind kind;
  void *cb, *ctx;
  /* The API call on the wire. */
  char what[80];
  char *url, *body;
  const char *method;
  long timeout_ms;
  size_t max_body; /* 0: the caller's default */
  int reauth, on_wire;
  void (*step)(struct req *r, const char *body, size_t len);
  struct req *token_next; /* waiting for a token */
  gcp_token_fn token_fn;
  /* Listing. */
  size_t i;
  char *page;
  struct stv__gcp_migs migs;
  struct stv__gcp_manageds managed;
  uint32_t *owner; /* the group index of each managed instance */
  int then_instances;
  struct stv_cloud_instance *insts;
  char *inst_ids;
  /* Mutations. */
  char group[600], verb[64];
  int64_t size;
  void (*op_ok)(struct req *r);
  /* Prices: the catalogue's types, the SKUs' rates, the quotes made of them. */
  char region[64];
  struct price_type *ptypes;
  size_t nptypes;
  struct stv__gcp_rates rates;
  struct stv_price_quote *quotes;
  size_t nquotes;
  /* The result, delivered from the timer. */
  int code;
  double retry_after;
  char msg[700];
  struct stv_timer timer;
};

/* An instance seen by the polls. */
struct known {
  const char *pid; /* interned */
  uint32_t gen;    /* the poll that last saw it */
  double first_seen;
  int running, failed;
  struct stv_cloud_instance last; /* strings interned */
};

struct gcp {
  struct stv_cloud cloud;
  struct stv_http *http; /* borrowed */
  struct stv_cloud_caller *caller;
  char *project, *compute, *billing, *prefix, *ca_file;
  int64_t min_size, max_size;
  double poll_interval;
  long timeout_ms;
  struct req *reqs;
  /* Groups and templates. */
  struct gcp_group *groups;
  size_t ngroups;
  int have_groups;
  struct tmpl_entry *tmpl;
  size_t ntmpl;
  struct stv_strpool strings; /* zones, provider ids */
  /* Tokens (gcp_token.c). */
  struct stv__gcp_key key;
  int have_key;
  char *token_uri, *metadata; /* token endpoint; metadata server base URL */
  char *token;
  double token_refresh_at; /* clock time after which a new token is fetched */
  int token_fetching;
  struct req *token_waiters;
  char token_what[64];
  /* Polling (gcp_poll.c). */
  struct stv_timer poll;
  int polling;
  uint32_t gen;
  struct known *known;
  size_t nknown, capknown;
  struct stv_strmap known_map; /* pid -> index + 1 */
};

/* A hint for a transport error that is TLS's ("SSL certificate problem..."): where the CA comes from; else "". */
const char *stv__gcp_tls_hint(const char *error);
struct req *stv__gcp_req_new(struct gcp *g, enum req_kind kind, void *cb, void *ctx);
void stv__gcp_finish(struct req *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void stv__gcp_call(struct req *r, const char *what, const char *method, const char *url, const char *body,
                   void (*step)(struct req *, const char *, size_t));
void stv__gcp_api(struct req *r, const char *what, const char *method, const char *path, const char *body,
                  void (*step)(struct req *, const char *, size_t));
void stv__gcp_list_groups(struct req *r);
void stv__gcp_list_instances(struct req *r);
void stv__gcp_instances_after_groups(struct req *r);
void stv__gcp_mutate(struct req *r, const char *group_id, const char *what, const char *verb,
                     const char *body, void (*op_ok)(struct req *r));
int stv__gcp_groups_adopt(struct gcp *g, const struct stv__gcp_migs *m);
int stv__gcp_describe(struct req *r);
struct gcp_group *stv__gcp_group(struct gcp *g, const char *id);
char *stv__gcp_delete_body(struct gcp *g, const struct gcp_group *gr, const char *const *ids, size_t n,
                           char *msg, size_t size);

/* gcp_prices.c: fetch_prices (the Cloud Billing Catalog API) and its delivery from the request's timer. */
int stv__gcp_fetch_prices(struct stv_cloud *c, const struct stv_catalog *base, stv_cloud_prices_cb cb, void *ctx);
void stv__gcp_prices_deliver(struct req *r, const struct stv_cloud_result *res);

/* gcp_token.c */
int stv__gcp_token_open(struct gcp *g, const struct stv_gcp_opts *o, struct stv_err *err);
void stv__gcp_token_close(struct gcp *g);
/* Calls fn(r, 0, NULL) once a valid token (and the project id) are in hand, or fn(r, code, why); from the loop. */
void stv__gcp_with_token(struct gcp *g, struct req *r, gcp_token_fn fn);
void stv__gcp_token_drop(struct gcp *g);

/* gcp_poll.c */
int stv__gcp_poll_start(struct gcp *g);
void stv__gcp_poll_done(struct req *r);
void stv__gcp_reap_done(struct req *r);
const char *stv__gcp_intern(struct gcp *g, const char *s);
double stv__gcp_first_seen(struct gcp *g, const char *pid);
void stv__gcp_known_close(struct gcp *g);

#endif
