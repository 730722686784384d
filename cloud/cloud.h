/*
 * The cloud provider interface: one table of operations that every
 * provider fills (sim here; AWS Auto Scaling groups, GCP managed instance
 * groups and Azure scale sets in their own files), so that the controller's
 * reconcilers never name a cloud.
 *
 * Model. A provider has instance groups. A group belongs to a node pool and
 * has one or more offerings (instance type x zone x capacity type: an AWS
 * Auto Scaling group with a mixed-instances policy has several, a GCP
 * managed instance group one type in one or more zones), a minimum, a
 * maximum and a desired size. Scaling up is raising the desired size (the
 * cloud launches instances); scaling down is deleting named instances,
 * lowering the desired size by as many (never "set desired lower and let
 * the cloud choose": the controller decides which node goes).
 *
 * Calls are asynchronous: each starts the work and returns 0 (the callback
 * will run exactly once) or an STV_ code (the callback will not run). The
 * callback runs on the loop thread that drives the provider's clock,
 * never from inside the call that started it. Pointers handed to a
 * callback are valid only during the callback; copy what is kept.
 *
 * Errors (struct stv_cloud_result.code) say what the caller should do:
 *   0                 done;
 *   STV_ECAPACITY     insufficient capacity for an offering (AWS
 *                     InsufficientInstanceCapacity, GCP ZONE_RESOURCE_POOL_EXHAUSTED,
 *                     Azure SkuNotAvailable / AllocationFailed): try another
 *                     offering, back the group off;
 *   STV_ETHROTTLED    the API throttled the call: retry after retry_after
 *                     seconds (or with backoff when 0);
 *   STV_ENOTFOUND     the group or instance does not exist (any more);
 *   STV_EINVAL        the request was refused as invalid (above the group's
 *                     maximum, a bad id): do not retry as is;
 *   STV_ELIMIT        an account quota or limit was reached;
 *   any other code    transient or unknown failure: retry with backoff.
 */
#ifndef STV_CLOUD_H
#define STV_CLOUD_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "packer.h"

struct stv_cloud;

/* What a group can launch. */
struct stv_cloud_offering {
  const char *instance_type;
  const char *zone;
  enum stv_capacity_type capacity_type;
};

struct stv_cloud_group {
  const char *id;   /* the provider's name (ASG name, MIG self link, VMSS id) */
  const char *pool; /* node pool, NULL: the default pool */
  const struct stv_cloud_offering *offerings;
  size_t noffer;
  int64_t min, max, desired;
};

enum stv_cloud_instance_state {
  STV_INSTANCE_PENDING,     /* requested or booting, not yet running */
  STV_INSTANCE_RUNNING,     /* running (its node may not have registered yet) */
  STV_INSTANCE_TERMINATING, /* being deleted, or interrupted (spot) */
};

struct stv_cloud_instance {
  const char *provider_id; /* as the node's spec.providerID: "aws:///us-east-1a/i-0abc", "sim:///z1/17" */
  const char *group_id;
  const char *instance_type;
  const char *zone;
  enum stv_capacity_type capacity_type;
  enum stv_cloud_instance_state state;
  double launch_time; /* on the provider's clock */
};

struct stv_cloud_result {
  int code;            /* 0 or an STV_ code: see the table above */
  const char *message; /* the provider's words, "" when code is 0; never NULL */
  double retry_after;  /* seconds, for STV_ETHROTTLED; 0: unknown */
};

typedef void (*stv_cloud_done_cb)(void *ctx, const struct stv_cloud_result *r);
struct stv_catalog;
struct stv_price_quote;

/* source names where the figures came from ("DescribeSpotPriceHistory", "Azure Retail Prices API", ...). */
typedef void (*stv_cloud_prices_cb)(void *ctx, const struct stv_cloud_result *r, const char *source,
                                    const struct stv_price_quote *quotes, size_t n);

typedef void (*stv_cloud_groups_cb)(void *ctx, const struct stv_cloud_result *r, const struct stv_cloud_group *groups,
                                    size_t n);
typedef void (*stv_cloud_instances_cb)(void *ctx, const struct stv_cloud_result *r,
                                       const struct stv_cloud_instance *instances, size_t n);

/*
 * What happens to instances without being asked, reported through
 * stv_cloud.on_event (the sim provider reports these itself; a real adapter
 * from its own polling or the cloud's event feed).
 */
enum stv_cloud_event_kind {
  STV_CLOUD_EV_RUNNING,       /* an instance started running: its node should register soon */
  STV_CLOUD_EV_LAUNCH_FAILED, /* a requested instance will not come (insufficient capacity...) */
  STV_CLOUD_EV_INTERRUPTION,  /* spot interruption notice: the instance goes after `deadline` s */
  STV_CLOUD_EV_TERMINATED,    /* the instance is gone */
};

struct stv_cloud_event {
  enum stv_cloud_event_kind kind;
  const struct stv_cloud_instance *instance; /* for LAUNCH_FAILED: the group and offering, no provider_id */
  int code;                                  /* LAUNCH_FAILED: why (STV_ECAPACITY...) */
  const char *message;                       /* never NULL */
  double deadline;                           /* INTERRUPTION: seconds until the instance goes */
};

typedef void (*stv_cloud_event_cb)(void *ctx, const struct stv_cloud_event *ev);

struct stv_cloud_ops {
  /* "sim", "aws", "gcp", "azure": what --provider names. */
  const char *name;

  /* Lists every instance group the provider manages for this cluster,
   * with its offerings and sizes. */
  int (*list_groups)(struct stv_cloud *c, stv_cloud_groups_cb cb, void *ctx);

  /* Lists the instances of every group, with provider ids, lifecycle
   * (capacity type) and state: how the controller rebuilds what is in
   * flight after a restart (desired versus running). */
  int (*list_instances)(struct stv_cloud *c, stv_cloud_instances_cb cb, void *ctx);

  /* Sets the desired size of group_id. A size outside [min, max] is
   * STV_EINVAL, never clamped silently. */
  int (*set_desired)(struct stv_cloud *c, const char *group_id, int64_t desired, stv_cloud_done_cb cb, void *ctx);

  /* Deletes the named instances of group_id (provider ids) and lowers its
   * desired size by as many, so that the cloud does not replace them.
   * An id not in the group fails the whole call with STV_ENOTFOUND and
   * deletes nothing. */
  int (*delete_instances)(struct stv_cloud *c, const char *group_id, const char *const *provider_ids, size_t n,
                          stv_cloud_done_cb cb, void *ctx);

  /* Optional (NULL: the provider publishes no prices). Reads the live
   * prices of base's instance types in the provider's region (spot prices,
   * list prices, reservations held: docs/prices-live.md); cb runs once on
   * the loop thread, the quotes borrowed for the call. */
  int (*fetch_prices)(struct stv_cloud *c, const struct stv_catalog *base, stv_cloud_prices_cb cb, void *ctx);

  /* Frees the provider. Calls still in flight are abandoned: their
   * callbacks do not run. */
  void (*close)(struct stv_cloud *c);
};

struct stv_cloud {
  const struct stv_cloud_ops *ops;
  void *impl;
  struct stv_clock *clock;    /* the clock the provider runs on */
  stv_cloud_event_cb on_event; /* set by the user before the first call; may be NULL */
  void *event_ctx;
};

#endif
