/*
 * The AWS adapter's pieces shared between its files (aws.c, aws_xml.c,
 * aws_creds.c) and its tests: the XML readers of the API answers, the
 * error mapping and the credential chain. Not for other folders: they use
 * cloud/aws.h.
 */
#ifndef STV_CLOUD_AWS_INTERNAL_H
#define STV_CLOUD_AWS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "call.h"
#include "cloud.h"

/* The largest answer the adapter reads: bigger is an error, never a partial read. */
#define STV__AWS_MAX_BODY ((size_t)8 << 20)

/* ---------------------------------------------------------------------- */
/* Answers (aws_xml.c). Strings live in the answer's pool.               */

struct stv__aws_error {
  char code[96];     /* "Throttling", "" when the body is no AWS error document */
  char message[384]; /* AWS's words */
};

/*
 * Reads an AWS error document (Query API <ErrorResponse><Error>, EC2
 * <Response><Errors><Error>). Returns 0 when one was found, else STV_EPARSE
 * (e is then empty). Never fails on a hostile body: it is just no error
 * document.
 */
int stv__aws_parse_error(const char *body, size_t len, struct stv__aws_error *e);

/*
 * Maps an answer that is not 2xx to an STV_ code, filling msg (size n) with
 * a sentence naming the action and, for a missing permission, the IAM
 * action to grant: InsufficientInstanceCapacity -> STV_ECAPACITY;
 * Throttling, RequestLimitExceeded, 429, 503 -> STV_ETHROTTLED;
 * ValidationError, InvalidParameter* -> STV_EINVAL; AccessDenied,
 * UnauthorizedOperation -> STV_EUNSUPPORTED; ExpiredToken and friends ->
 * STV_ETIMEDOUT (the caller refreshes credentials); *NotFound ->
 * STV_ENOTFOUND; LimitExceeded / quota -> STV_ELIMIT; other 5xx -> STV_EIO.
 */
int stv__aws_map_error(const char *service, const char *action, long status, const char *body, size_t len,
                       char *msg, size_t n);

struct stv__aws_tag {
  const char *key, *value;
};

struct stv__aws_asg_instance {
  const char *id, *zone, *type, *lifecycle_state;
};

struct stv__aws_asg {
  const char *name;
  int64_t min, max, desired;
  const char **zones;
  size_t nzones;
  const char **types; /* mixed-instances overrides, else empty */
  size_t ntypes;
  int mixed;                                /* has a MixedInstancesPolicy */
  int64_t od_base;                          /* OnDemandBaseCapacity */
  int64_t od_pct;                           /* OnDemandPercentageAboveBaseCapacity, 100 when not mixed */
  const char *spot_strategy;                /* SpotAllocationStrategy, or NULL */
  const char *lt_id, *lt_name, *lt_version; /* its launch template, or NULL */
  const char *lc_name;                      /* its launch configuration (LaunchConfigurationName), or NULL */
  struct stv__aws_tag *tags;
  size_t ntags;
  struct stv__aws_asg_instance *inst;
  size_t ninst;
};

struct stv__aws_ec2_instance {
  const char *id, *type, *zone, *lifecycle, *state, *group, *launch_time;
};

struct stv__aws_spot_price {
  const char *type, *zone, *timestamp;
  double price;
};

struct stv__aws_activity {
  const char *id, *group, *status, *message, *description, *start;
};

struct stv__aws_offering {
  const char *type, *zone;
};

/* A reservation of DescribeReservedInstances (reservedInstancesSet item). */
struct stv__aws_reservation {
  const char *id, *type, *zone, *scope, *state, *product, *tenancy, *offering_class, *offering_type, *start;
  const char *currency;
  int64_t count;            /* instanceCount */
  int64_t duration;         /* seconds */
  double fixed;             /* fixedPrice: the upfront payment */
  double usage;             /* usagePrice: per hour */
  double recurring;         /* the Hourly recurringCharges summed */
};

/* A launch configuration of DescribeLaunchConfigurations. */
struct stv__aws_lc {
  const char *name, *type;
  const char *spot_price; /* SpotPrice: set for a spot group, else NULL */
};

struct stv__aws_creds {
  const char *key_id, *secret, *token, *expiration;
};

/* One parsed answer: the arrays of the kind asked for, the next page's token. */
struct stv__aws_answer {
  struct stv_strpool pool;
  const char *next_token; /* NULL: the last page */
  struct stv__aws_asg *asgs;
  size_t nasgs;
  struct stv__aws_ec2_instance *instances;
  size_t ninstances;
  struct stv__aws_spot_price *prices;
  size_t nprices;
  struct stv__aws_activity *activities;
  size_t nactivities;
  struct stv__aws_offering *offerings;
  size_t nofferings;
  struct stv__aws_reservation *reservations;
  size_t nreservations;
  struct stv__aws_lc *lcs;
  size_t nlcs;
  struct stv__aws_creds creds;
  const char *lt_type; /* DescribeLaunchTemplateVersions: the first version's instanceType, or NULL */
};

enum stv__aws_kind {
  STV__AWS_ASGS,       /* DescribeAutoScalingGroups */
  STV__AWS_INSTANCES,  /* DescribeInstances */
  STV__AWS_SPOT,       /* DescribeSpotPriceHistory */
  STV__AWS_ACTIVITIES, /* DescribeScalingActivities */
  STV__AWS_OFFERINGS,  /* DescribeInstanceTypeOfferings */
  STV__AWS_STS,        /* AssumeRoleWithWebIdentity */
  STV__AWS_LT,         /* DescribeLaunchTemplateVersions */
  STV__AWS_RESERVED,   /* DescribeReservedInstances */
  STV__AWS_LCS,        /* DescribeLaunchConfigurations */
  STV__AWS_EMPTY,      /* SetDesiredCapacity, TerminateInstanceInAutoScalingGroup: the root element only */
};

/*
 * Parses body as the answer to action (for messages) of kind into a
 * (caller-allocated; freed with stv__aws_answer_close even on error).
 * A body over STV__AWS_MAX_BODY, not well-formed, with a DOCTYPE or an
 * entity, nested too deep, or missing an element the answer must have is
 * STV_EPARSE with err naming the action and the element.
 */
int stv__aws_parse(enum stv__aws_kind kind, const char *action, const char *body, size_t len,
                   struct stv__aws_answer *a, struct stv_err *err);
void stv__aws_answer_close(struct stv__aws_answer *a);

/*
 * The effective hourly price of a reservation: the upfront payment spread
 * over its term plus what it charges by the hour (usagePrice and the
 * Hourly recurring charges). Returns 0, or STV_EPARSE with err naming the
 * reservation and the field (no term, a figure that is no price).
 */
int stv__aws_reservation_hourly(const struct stv__aws_reservation *r, double *out, struct stv_err *err);

/* The value of tag key in g, or NULL. */
const char *stv__aws_tag(const struct stv__aws_asg *g, const char *key);

/* ---------------------------------------------------------------------- */
/* Forms (aws.c)                                                         */

/* Appends "&name=value" (or "name=value" first) form-encoded to b. */
int stv__aws_form(struct stv_buf *b, const char *name, const char *value);

/* ---------------------------------------------------------------------- */
/* Credentials (aws_creds.c)                                             */

struct stv__aws_creds_cache;

/* Where the region and the credentials came from, for the log. */
struct stv__aws_env {
  /* In: the configuration's values (NULL: not set), under the environment's. */
  const char *cfg_region, *cfg_endpoint, *cfg_autoscaling, *cfg_ec2, *cfg_sts, *cfg_ca;
  /* Out: what applies. */
  const char *region;
  const char *region_source;
  const char *autoscaling_url, *ec2_url, *sts_url;
  const char *ca_bundle; /* AWS_CA_BUNDLE: the CAs that verify the endpoints, NULL: the system's */
};

/*
 * Reads the environment and the shared files (never the network): the
 * region (AWS_REGION, AWS_DEFAULT_REGION, the profile's region) and which
 * credential source applies, in the SDKs' order. Returns 0 or STV_EINVAL
 * naming what to set.
 */
int stv__aws_creds_new(struct stv__aws_creds_cache **out, struct stv_cloud_caller *caller,
                       struct stv_clock *clock, struct stv__aws_env *env, struct stv_err *err);
void stv__aws_creds_free(struct stv__aws_creds_cache *cc);

/* The current credentials, borrowed until the next refresh. */
struct stv__aws_current {
  const char *userpwd; /* "KEY:SECRET" */
  const char *token;   /* session token or NULL */
};

typedef void (*stv__aws_creds_cb)(void *ctx, int code, const char *message,
                                  const struct stv__aws_current *cur);

/*
 * Hands the credentials to cb: at once (from a zero-delay timer) when the
 * cached ones are valid for more than 5 minutes, else after a refresh from
 * the source. force refreshes even valid ones (the cloud said ExpiredToken).
 * Returns 0 (cb runs once) or an STV_ code.
 */
int stv__aws_creds_get(struct stv__aws_creds_cache *cc, int force, stv__aws_creds_cb cb, void *ctx);

/* The source in use: "environment", "web identity", "container", "profile NAME", "instance metadata". */
const char *stv__aws_creds_source(const struct stv__aws_creds_cache *cc);

#endif
