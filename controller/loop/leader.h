/*
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection package does it: two or more replicas of the controller
 * run, the one holding the Lease acts, the others wait and take over when
 * the holder stops renewing it.
 *
 * The elector is a state machine on a struct stv_clock (base/clock.h) and a
 * lease store (below), so the same code runs against the API server (the
 * store is the Kubernetes client: GET, POST and PUT of the Lease with its
 * resourceVersion) and in tests on the virtual clock.
 *
 * Rules (client-go's, with its defaults: lease 15 s, renew deadline 10 s,
 * retry period 2 s):
 * - A candidate tries every retry period plus a random jitter of up to 1.2
 *   retry periods (client-go's JitterFactor), so that replicas do not move
 *   in step. It takes the Lease when none exists,
 *   when it has no holder, or when the holder's record has not changed for
 *   a whole lease duration as seen on the candidate's own clock (the
 *   record's times are never compared across machines: clocks drift).
 *   Taking it is an update with the resourceVersion read, so that of two
 *   candidates only one wins (the other gets a conflict).
 * - The leader renews every retry period. When no renewal has succeeded
 *   for the renew deadline, or a read shows another holder, it stops
 *   leading at once (on_stop runs before anything else happens) and goes
 *   back to being a candidate.
 * - On shutdown the leader releases the Lease (no holder, duration 1 s), so
 *   that a successor takes over within a retry period instead of a lease
 *   duration.
 */
#ifndef STV_LEADER_H
#define STV_LEADER_H

#include <stdint.h>

#include "base.h"
#include "clock.h"

#define STV_LEASE_HOLDER_MAX 254 /* a DNS subdomain: pod names fit */

/* The fields of a Lease the elector reads and writes. */
struct stv_lease {
  char holder[STV_LEASE_HOLDER_MAX + 1]; /* spec.holderIdentity, "" when none */
  int32_t duration_s;                    /* spec.leaseDurationSeconds */
  double acquire_time;                   /* spec.acquireTime, seconds since the epoch; 0: absent */
  double renew_time;                     /* spec.renewTime, likewise */
  int32_t transitions;                   /* spec.leaseTransitions */
  char resource_version[64];             /* metadata.resourceVersion */
};

/* Completion of a store call: code 0 with the Lease as the server returned
 * it (borrowed, for the call only), or STV_ENOTFOUND, STV_ECONFLICT, or
 * another STV_ code with detail in msg. */
typedef void (*stv_lease_cb)(void *ctx, int code, const struct stv_lease *lease, const char *msg);

/*
 * Where the Lease lives. Each call returns 0 (cb will run exactly once, on
 * the clock's thread, not from inside the call) or an STV_ code (cb will
 * not run).
 */
struct stv_lease_store_ops {
  /* Reads the Lease: STV_ENOTFOUND when it does not exist. */
  int (*get)(void *store, stv_lease_cb cb, void *ctx);
  /* Creates it from lease (resource_version ignored): STV_ECONFLICT when
   * it exists already (409 AlreadyExists). */
  int (*create)(void *store, const struct stv_lease *lease, stv_lease_cb cb, void *ctx);
  /* Replaces it when its resourceVersion is still lease->resource_version:
   * STV_ECONFLICT otherwise (409 Conflict). */
  int (*update)(void *store, const struct stv_lease *lease, stv_lease_cb cb, void *ctx);
};

struct stv_leader;

struct stv_leader_config {
  const char *identity;    /* this replica: the pod name, or host name + random suffix */
  double lease_duration;   /* seconds; default 15 */
  double renew_deadline;   /* seconds, < lease_duration; default 10 */
  double retry_period;     /* seconds, < renew_deadline; default 2 */
  double (*wall_time)(void); /* seconds since the epoch for the Lease's times; NULL: the clock's now */
  const struct stv_lease_store_ops *store_ops;
  void *store;
  /* Called when this replica starts and stops leading, and when the
   * holder it sees changes (holder "" when none). Any may be NULL. */
  void (*on_start)(void *ctx);
  void (*on_stop)(void *ctx);
  void (*on_new_leader)(void *ctx, const char *holder);
  void *ctx;
  uint64_t seed; /* for the jitter; 0: from the identity */
};

/* Fills the client-go defaults (15 s, 10 s, 2 s) into a zeroed config. */
void stv_leader_config_default(struct stv_leader_config *c);

/*
 * Creates an elector on clock with a copy of cfg (identity copied) and
 * starts campaigning at once. Returns 0, STV_EINVAL (with detail in err)
 * for durations that break lease > renew deadline > retry period > 0 or
 * an identity that is empty or too long, or STV_ENOMEM.
 */
int stv_leader_new(struct stv_leader **out, struct stv_clock *clock, const struct stv_leader_config *cfg,
                   struct stv_err *err);

/* 1 while this replica leads. */
int stv_leader_is_leader(const struct stv_leader *l);

/* The holder last seen ("" when none or not yet known); borrowed. */
const char *stv_leader_holder(const struct stv_leader *l);

/*
 * Stops campaigning. When leading, on_stop runs at once, then the Lease
 * is released (one update); done(ctx) runs when that has finished or
 * failed, or right away (through a 0-delay timer) when there was nothing
 * to release. The elector may be freed from done or after it.
 */
void stv_leader_stop(struct stv_leader *l, void (*done)(void *ctx), void *ctx);

/* Frees the elector. Only after stop's done has run, or when no store
 * call is in flight. */
void stv_leader_free(struct stv_leader *l);

#endif
