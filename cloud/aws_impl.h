/*
 * The aws provider's own state, shared between aws.c (groups, instances,
 * scaling, polling) and aws_prices.c (spot prices, reservations): the
 * provider struct, the request chain and the operations' bookkeeping. Not
 * for tests or other folders: they use aws_internal.h or aws.h.
 */
#ifndef STV_CLOUD_AWS_IMPL_H
#define STV_CLOUD_AWS_IMPL_H

#include "aws.h"
#include "aws_internal.h"

#define ASG_VERSION        "2011-01-01"
#define EC2_VERSION        "2016-11-15"
#define FILTER_VALUES      200 /* EC2's most values in one filter */
#define TAG_ENABLED        "k8s.io/cluster-autoscaler/enabled"
#define TAG_CA_PREFIX      "k8s.io/cluster-autoscaler/"
#define TAG_STV_PREFIX     "stevedore.io/cluster/"
#define TAG_TEMPLATE_LABEL "k8s.io/cluster-autoscaler/node-template/label/"

struct known { /* a group as last listed */
  char *name;
  int64_t min, max;
  int spot_only;
  char **types; /* the instance types it launches */
  size_t ntypes;
};

struct unavail {
  char *type, *zone;
  double until;
};

struct offered {
  char *type, *zone;
};

struct lt_entry { /* a launch template version's (or launch configuration's) instance type, as last read */
  char *key;      /* "ID|NAME|VERSION" */
  char *type;     /* NULL: it has none, or it could not be read */
  int spot;       /* a launch configuration with a SpotPrice: the group launches spot */
  double until;
};

struct req;
struct aws;

/* Every operation in flight starts with this, so that closing the provider frees it. */
struct ophead {
  struct ophead *prev, *next;
  struct aws *a;
  void (*free)(void *op);
};
typedef void (*req_done)(struct req *r, int code, const char *msg, struct stv__aws_answer *ans);

struct req {
  struct aws *a;
  struct req *prev, *next;
  int ec2; /* else autoscaling */
  const char *action;
  enum stv__aws_kind kind;
  struct stv_buf form;
  int creds_retried;
  int sent; /* the cloud call is on its way (else waiting for credentials) */
  req_done done;
  void *op;
};

struct aws {
  struct stv_cloud cloud;
  struct stv_aws_opts o;
  char *cluster;
  char tag_ca[300], tag_stv[300];
  struct stv_cloud_caller *caller;
  struct stv__aws_creds_cache *cc;
  struct stv__aws_env env;
  char sig_asg[160], sig_ec2[160];
  struct req *reqs;
  struct ophead *ops;
  struct known *known;
  size_t nknown;
  int listed; /* the groups were listed at least once */
  struct unavail *unav;
  size_t nunav, capunav;
  struct lt_entry *lts;
  size_t nlts, caplts;
  /* Zone availability (DescribeInstanceTypeOfferings, aws_offers.c). */
  struct offered *offered; /* (type, zone) pairs offered */
  size_t noffered;
  char **offer_types; /* the types asked about: the others are not narrowed */
  size_t noffer_types;
  double offer_until; /* fresh until then */
  int offer_unknown;  /* the last read failed: nothing narrowed */
  /* Polling. */
  struct stv_timer poll;
  int poll_running, baseline;
  char **seen_acts; /* failed activity ids already reported or there at the first look */
  size_t nseen;
  char **running; /* provider ids RUNNING at the last poll */
  size_t nrunning;
  char **alive;       /* provider ids not terminating at the last poll */
  char **alive_group; /* and their groups */
  size_t nalive;
};

/* One listing of the groups, page after page; then the continuation. */
struct groups_op {
  struct ophead h;
  struct aws *a;
  struct stv__aws_answer *pages;
  size_t npages, cap;
  const char *only; /* one group by name (AutoScalingGroupNames), or NULL: discovery by tag */
  void (*then)(struct groups_op *op, int code, const char *msg);
  void *ctx; /* the continuation's */
  stv_cloud_groups_cb cb;
  /* Zone availability read during the listing (aws_offers.c). */
  char **otypes;
  size_t notypes, ocap, ochunk;
  struct offered *got;
  size_t ngot, capgot;
};

/* Appends "&NAME=value" with NAME from fmt. */
int stv__aws_formf(struct stv_buf *b, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A request of action to EC2 (ec2 1) or Auto Scaling, ended through done; its form has Action and Version. */
struct req *stv__aws_req_new(struct aws *a, int ec2, const char *action, enum stv__aws_kind kind,
                             req_done done, void *op);
/* Sends r or ends it with the failure. */
void stv__aws_req_go(struct req *r);

void stv__aws_op_link_(struct aws *a, struct ophead *h, void (*fn)(void *));
#define stv__aws_op_link(a, h, fn) stv__aws_op_link_((a), (h), (void (*)(void *))(fn))
void stv__aws_op_unlink(struct ophead *h);

/* Keeps a page of answers (takes ans over) and sets *token to the next page's; returns code or STV_ENOMEM. */
int stv__aws_keep_page(struct stv__aws_answer **pages, size_t *n, size_t *cap, int code, const char **msg,
                       struct stv__aws_answer *ans, const char **token);
void stv__aws_free_pages(struct stv__aws_answer *pages, size_t n);

/* Lists the groups (only one by name, or discovery), then calls then; cb is for listed_groups. */
int stv__aws_groups_op_start(struct aws *a, const char *only,
                             void (*then)(struct groups_op *, int, const char *), void *ctx,
                             stv_cloud_groups_cb cb);
void stv__aws_groups_op_free(struct groups_op *op);
/* Builds the provider's view of the groups of op's pages and remembers them (a->known). */
int stv__aws_groups_remember(struct groups_op *op);

/* Whether g carries the cluster's discovery tags. */
int stv__aws_ours(struct aws *a, const struct stv__aws_asg *g);
/* The instance types g launches: *types is g's overrides or plain (max entries), filled. */
size_t stv__aws_group_types(struct aws *a, const struct stv__aws_asg *g, const char **plain, size_t max,
                            const char *const **types);

/* Zone availability (aws_offers.c): reads it when the groups' types are not all known fresh, then op->then. */
void stv__aws_offers_next(struct groups_op *op);
/* 0 when DescribeInstanceTypeOfferings said type is not offered in zone; 1 otherwise (or not known). */
int stv__aws_offered(struct aws *a, const char *type, const char *zone);
void stv__aws_offered_free(struct offered *v, size_t n);

const struct known *stv__aws_find_known(struct aws *a, const char *name);

/* fetch_prices (aws_prices.c). */
int stv__aws_fetch_prices(struct stv_cloud *c, const struct stv_catalog *base, stv_cloud_prices_cb cb,
                          void *ctx);

#endif
