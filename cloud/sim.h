/*
 * The `sim` cloud provider (cloud/cloud.h): Stevedore's embedded default,
 * for `stevedore simulate` (on the virtual clock) and `stevedore controller
 * --provider sim` (on the wall clock, registering its nodes with an API
 * server). Design and fault injection: docs/cloud.md.
 *
 * One instance group per offering of the catalogue (instance type x zone x
 * capacity type), named "sim-TYPE-ZONE-CAPACITYTYPE"
 * ("sim-m5.large-us-east-1a-spot"), minimum 0, maximum opts.max_per_group.
 * Raising a group's desired size launches instances: each is PENDING for
 * opts.launch_delay seconds, then RUNNING (STV_CLOUD_EV_RUNNING); its
 * provider id is "sim:///ZONE/ID" with ID a decimal number unique in the
 * provider. Faults come from a seed, so that a run is repeated exactly.
 */
#ifndef STV_CLOUD_SIM_H
#define STV_CLOUD_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "cloud.h"
#include "pricing.h"

/*
 * Insufficient capacity for the offerings that match (NULL or a negative
 * capacity type: any): between from and until seconds on the provider's
 * clock, each launch fails with probability rate (1: every launch).
 */
struct stv_sim_ice {
  const char *instance_type; /* NULL: any */
  const char *zone;          /* NULL: any */
  int capacity_type;         /* an enum stv_capacity_type, or -1: any */
  double rate;               /* 0..1 */
  double from, until;        /* until INFINITY: for ever */
};

/*
 * A scripted spot interruption storm: at `at` seconds, count (when > 0),
 * else fraction (0..1, rounded up) of the RUNNING spot instances that
 * match get an interruption notice, chosen at random from the seed.
 */
struct stv_sim_storm {
  double at;
  const char *instance_type; /* NULL: any */
  const char *zone;          /* NULL: any */
  int64_t count;
  double fraction;
};

struct stv_sim_opts {
  const struct stv_catalog *catalog; /* borrowed; must outlive the provider */
  const char *pool;                  /* node pool of every group (borrowed, copied), NULL: default */
  /* With npools > 0, one set of groups per pool (borrowed, copied), named
   * "sim-POOL-TYPE-ZONE-CAPACITYTYPE"; pool is then ignored. */
  const char *const *pools;
  size_t npools;
  unsigned capacity_types;           /* (1u << STV_CT_*) groups to make; 0: every offering */
  int64_t max_per_group;             /* default 100 */
  double launch_delay;               /* launch to RUNNING, seconds; default 30 */
  double launch_fail_delay;          /* launch to LAUNCH_FAILED; default 5 */
  double terminate_delay;            /* delete to TERMINATED; default 0 (next tick) */
  double call_latency;               /* call to callback; default 0 (next tick) */
  uint64_t seed;                     /* of every random choice; default 1 */
  /* Faults. */
  const struct stv_sim_ice *ice;
  size_t nice;
  double throttle_rate;          /* probability that a call is throttled, 0..1 */
  double api_rate, api_burst;    /* token bucket: calls per second and burst; 0: unlimited */
  double throttle_retry_after;   /* retry_after of a throttled call (probability); default 1 s */
  double interruptions_per_hour; /* per running spot instance (a Poisson rate); 0: none */
  const struct stv_sim_storm *storms;
  size_t nstorms;
  double interruption_notice; /* notice to termination; default 120 s (AWS's two minutes) */
  /* Live prices: fetch_prices answers from this JSON file, read at each call ({"source": "...",
   * "quotes": [{"instanceType", "capacityType", "zone", "price", "count", "asOf"}]}: struct
   * stv_price_quote), so that a test changes prices between refreshes. NULL: no fetch_prices. */
  const char *prices_file;
};

/* Fills o with the defaults above (no catalogue, no faults). */
void stv_sim_opts_default(struct stv_sim_opts *o);

/*
 * Makes a sim provider on clock (borrowed; must outlive it) from opts
 * (borrowed: strings and arrays are copied, except the catalogue). Returns
 * 0 with *out set (free with (*out)->ops->close), STV_EINVAL when opts are
 * wrong (err names the field: "sim: ice[1].instance_type: \"m9.huge\" is
 * not in the catalogue aws:us-east-1"), or STV_ENOMEM.
 */
int stv_sim_new(struct stv_cloud **out, struct stv_clock *clock, const struct stv_sim_opts *opts,
                struct stv_err *err);

/* What a sim provider launched, up to now on its clock. */
struct stv_sim_usage {
  /* Billed from RUNNING to TERMINATED (or now), by capacity type. */
  double node_hours[STV_CT_COUNT];
  double cost[STV_CT_COUNT]; /* in the catalogue's currency */
  int64_t launched;          /* launches requested */
  int64_t launch_failed;     /* of which failed for capacity */
  int64_t interrupted;       /* spot interruption notices */
  int64_t terminated;        /* instances gone, any reason */
  int64_t throttled;         /* calls answered STV_ETHROTTLED */
  int64_t running, pending;  /* now */
};

/* Fills u with the usage of c, a sim provider (STV_EINVAL otherwise). */
int stv_sim_usage(struct stv_cloud *c, struct stv_sim_usage *u);

/*
 * Adopts into c, a sim provider, an instance it did not launch but that
 * exists: a Node with a sim provider id that an earlier run registered
 * (this replica before a restart, or the leader before a change of
 * leader), so that its state lives in the cluster, as kwok's does. The
 * instance joins the group of its offering (instance_type, borrowed; the
 * zone of provider_id, borrowed; ct) as RUNNING, billed from now, so that
 * list_instances reports it and the group's desired size counts it; later
 * launches take ids above every adopted one. No event is reported.
 * Returns 0; STV_EINVAL for an id that is not "sim:///ZONE/NUMBER" (NUMBER
 * 1 to 10,000,000); STV_ENOTFOUND when no group has that offering;
 * STV_ECONFLICT when the instance is known already; STV_ENOMEM. err says
 * which.
 */
int stv_sim_adopt(struct stv_cloud *c, const char *provider_id, const char *pool, const char *instance_type,
                  enum stv_capacity_type ct, struct stv_err *err);

/* The node pool of c's group group_id (borrowed; NULL: the default pool, or no such group). */
const char *stv_sim_group_pool(struct stv_cloud *c, const char *group_id);

/* ---------------------------------------------------------------------- */
/* Nodes of sim instances (cloud/sim_node.c)                              */

/*
 * Writes the Node name of the instance with provider id pid (borrowed,
 * "sim:///ZONE/ID") into buf (size bytes): "sim-ZONE-ID", a valid DNS
 * subdomain. Returns 0, or STV_EINVAL when pid is not a sim provider id
 * or the name would not fit.
 */
int stv_sim_node_name(const char *pid, char *buf, size_t size);

/*
 * Returns the template of tv[0..n) (borrowed) that inst (borrowed) was
 * launched from: same instance type, zone, capacity type and pool (NULL:
 * the default pool), or NULL.
 */
const struct stv_template *stv_sim_find_template(const struct stv_template *tv, size_t n,
                                                 const struct stv_cloud_instance *inst, const char *pool);

/*
 * Builds the Node object that a sim instance registers, as kwok would:
 * metadata.name (stv_sim_node_name) and labels (the template's, plus
 * kubernetes.io/hostname), spec.providerID and the template's taints,
 * status.capacity and allocatable from the catalogue's type, nodeInfo
 * (architecture, operatingSystem) and a Ready=True condition dated
 * unix_time (seconds since 1970, UTC). inst, type and tm are borrowed.
 * Returns the new cJSON object (the caller frees it with cJSON_Delete), or
 * NULL with err set: STV_EINVAL for a provider id that is not a sim one,
 * STV_ENOMEM.
 */
cJSON *stv_sim_node_json(const struct stv_cloud_instance *inst, const struct stv_instance_type *type,
                         const struct stv_template *tm, double unix_time, struct stv_err *err);

#endif
